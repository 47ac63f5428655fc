/*
 * report_json.c - the report as a JSON document (`--format json`),
 * "heliosdb-audit-report-v1": every figure the PDF shows, from the same
 * struct report, so the two always agree.  docs/report.md describes each
 * member and docs/report.schema.json is its schema; a bats test validates
 * the output against it and compares the figures with the PDF's text.
 *
 * The document is built with json-c (its size is bounded by the report's
 * caps) and written pretty-printed.
 */
#include <inttypes.h>
#include <string.h>

#include <json-c/json.h>

#include "report_int.h"

#define ADD(o, k, v) json_object_object_add((o), (k), (v))

static struct json_object *jstr_or_null(const char *s)
{
	return s && *s ? json_object_new_string(s) : NULL;
}

static struct json_object *jtime(int64_t us)
{
	char t[AUDIT_TIME_LEN + 1];
	if (us == INT64_MIN || us == INT64_MAX || audit_format_time(us, t) != HDB_OK)
		return NULL;
	return json_object_new_string(t);
}

static struct json_object *ju64(uint64_t v)
{
	return json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

static struct json_object *jitem(const struct report_item *it)
{
	struct json_object *o = json_object_new_object();
	ADD(o, "seq", ju64(it->seq));
	ADD(o, "timestamp", jtime(it->us));
	ADD(o, "event_type", json_object_new_string(it->type));
	ADD(o, "outcome", json_object_new_string(it->outcome));
	ADD(o, "user", jstr_or_null(it->user));
	ADD(o, "table", jstr_or_null(it->table));
	ADD(o, "text", json_object_new_string(it->text));
	return o;
}

static struct json_object *jlist(const struct report_list *l)
{
	struct json_object *o = json_object_new_object(), *a = json_object_new_array();
	ADD(o, "total", ju64(l->total));
	for (size_t i = 0; i < l->n; i++)
		json_object_array_add(a, jitem(&l->v[i]));
	ADD(o, "items", a);
	ADD(o, "omitted", ju64(l->total - l->n));
	return o;
}

static struct json_object *jblob_ref(const struct report_blob *b)
{
	if (!b)
		return NULL;
	struct json_object *o = json_object_new_object();
	ADD(o, "seq", ju64(b->seq));
	ADD(o, "timestamp", jtime(b->us));
	ADD(o, "in_period", json_object_new_boolean(b->in_period));
	ADD(o, "outcome", json_object_new_string(b->outcome));
	return o;
}

static struct json_object *cover(const struct report *r)
{
	struct json_object *o = json_object_new_object(), *a;
	a = json_object_new_array();
	for (size_t i = 0; i < r->ndb_ids; i++)
		json_object_array_add(a, json_object_new_string(r->db_ids[i]));
	ADD(o, "db_ids", a);
	a = json_object_new_array();
	for (size_t i = 0; i < r->nhosts; i++)
		json_object_array_add(a, json_object_new_string(r->hosts[i]));
	ADD(o, "hosts", a);
	a = json_object_new_array();
	for (size_t i = 0; i < r->nprofiles_seen; i++)
		json_object_array_add(a, json_object_new_string(r->profiles_seen[i]));
	ADD(o, "profiles", a);
	return o;
}

static struct json_object *integrity(const struct report *r)
{
	struct json_object *o = json_object_new_object(), *a;
	ADD(o, "verdict", json_object_new_string(report_verdict_word(r)));
	ADD(o, "reason", jstr_or_null(r->vwhy));
	ADD(o, "verification_ran", json_object_new_boolean(r->vran && r->vstate != REPORT_NOT_VERIFIED));
	ADD(o, "records", ju64(r->records));
	ADD(o, "lines", ju64(r->lines));
	ADD(o, "first_seq", r->records ? ju64(r->first_seq) : NULL);
	ADD(o, "last_seq", r->records ? ju64(r->last_seq) : NULL);
	ADD(o, "checkpoints_verified", ju64(r->vres.checkpoints));
	ADD(o, "last_signed_seq", r->vres.last_signed_seq ? ju64(r->vres.last_signed_seq) : NULL);
	ADD(o, "segments", ju64(r->nin));
	ADD(o, "findings", ju64(r->vres.findings));
	struct json_object *fb = NULL;
	if (r->findings.n) {
		const struct report_item *f = &r->findings.v[0];
		fb = json_object_new_object();
		ADD(fb, "file", json_object_new_string(f->table));
		ADD(fb, "line", ju64((uint64_t)f->us));
		ADD(fb, "seq", ju64(f->seq));
		ADD(fb, "problem", json_object_new_string(f->type));
		ADD(fb, "detail", json_object_new_string(f->text));
	}
	ADD(o, "first_bad", fb);
	a = json_object_new_array();
	for (size_t i = 0; i < r->findings.n; i++) {
		const struct report_item *f = &r->findings.v[i];
		struct json_object *x = json_object_new_object();
		ADD(x, "file", json_object_new_string(f->table));
		ADD(x, "line", ju64((uint64_t)f->us));
		ADD(x, "seq", ju64(f->seq));
		ADD(x, "problem", json_object_new_string(f->type));
		ADD(x, "detail", json_object_new_string(f->text));
		json_object_array_add(a, x);
	}
	ADD(o, "finding_list", a);
	ADD(o, "gaps", ju64(r->findings_by[AUDIT_SEQ_GAP] + r->findings_by[AUDIT_MISSING_SEGMENT]));
	ADD(o, "malformed_lines", ju64(r->malformed));
	ADD(o, "first_malformed", jstr_or_null(r->first_malformed));
	ADD(o, "oldest_record", jtime(r->records ? r->oldest_us : INT64_MIN));
	ADD(o, "newest_record", jtime(r->records ? r->newest_us : INT64_MIN));
	int64_t days = r->records ? (r->generated_us - r->oldest_us) / INT64_C(86400000000) : 0;
	ADD(o, "history_days", json_object_new_int64(days < 0 ? 0 : days));
	ADD(o, "failure_windows", jlist(&r->failures));
	ADD(o, "retention_deletions", jlist(&r->deletions));
	ADD(o, "audit_access", jlist(&r->access));
	return o;
}

static struct json_object *summary(const struct report *r)
{
	struct json_object *o = json_object_new_object(), *x;
	ADD(o, "records_in_period", ju64(r->in_period));
	ADD(o, "first_seq", r->in_period ? ju64(r->p_first_seq) : NULL);
	ADD(o, "last_seq", r->in_period ? ju64(r->p_last_seq) : NULL);
	ADD(o, "first_timestamp", jtime(r->in_period ? r->p_first_us : INT64_MIN));
	ADD(o, "last_timestamp", jtime(r->in_period ? r->p_last_us : INT64_MIN));
	x = json_object_new_object();
	ADD(x, "success", ju64(r->by_outcome[RO_SUCCESS]));
	ADD(x, "failure", ju64(r->by_outcome[RO_FAILURE]));
	ADD(x, "denied", ju64(r->by_outcome[RO_DENIED]));
	ADD(o, "by_outcome", x);
	ADD(o, "users", ju64(r->umap.n + report_estimate_distinct(r->users_other_bits, sizeof(r->users_other_bits))));
	ADD(o, "tables", ju64(r->tmap.n + report_estimate_distinct(r->tables_other_bits, sizeof(r->tables_other_bits))));
	ADD(o, "after_hours", ju64(r->after_hours));
	ADD(o, "changes", ju64(r->changes.total));
	ADD(o, "unencrypted_records", ju64(r->unencrypted));
	struct report_profile_count pc[16];
	int n = report_profile_counts(r, pc, 16);
	struct json_object *a = json_object_new_array();
	for (int i = 0; i < n; i++) {
		x = json_object_new_object();
		ADD(x, "profile", json_object_new_string(pc[i].profile));
		ADD(x, "passed", ju64(pc[i].passed));
		ADD(x, "warnings", ju64(pc[i].warnings));
		ADD(x, "failures", ju64(pc[i].failures));
		json_object_array_add(a, x);
	}
	ADD(o, "profiles", a);
	return o;
}

static struct json_object *attestation(const struct report *r)
{
	struct json_object *o = json_object_new_object();
	const struct report_blob *b = report_eval(r);
	const char *filter = report_types[r->o.type].profile;
	ADD(o, "available", json_object_new_boolean(b != NULL));
	ADD(o, "profile_filter", jstr_or_null(filter));
	ADD(o, "source", jblob_ref(b));
	struct json_object *d = b && b->json ? json_tokener_parse(b->json) : NULL, *v;
	const char *keys[] = { "profiles", "passed", "warnings", "refusals", "started" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		ADD(o, keys[i], d && json_object_object_get_ex(d, keys[i], &v) ? json_object_get(v) : NULL);
	struct json_object *rules = json_object_new_array(), *src;
	if (d && json_object_object_get_ex(d, "rules", &src) && json_object_is_type(src, json_type_array))
		for (size_t i = 0; i < json_object_array_length(src); i++) {
			struct json_object *ru = json_object_array_get_idx(src, i), *id;
			const char *ids = ru && json_object_object_get_ex(ru, "id", &id) &&
			                  json_object_is_type(id, json_type_string) ? json_object_get_string(id) : NULL;
			if (filter && strcmp(report_rule_profile(ids), filter) != 0)
				continue;
			json_object_array_add(rules, json_object_get(ru));
		}
	ADD(o, "rules", rules);
	json_object_put(d);
	struct json_object *loads = json_object_new_array();
	for (size_t i = 0; i < r->configs.n; i++) {
		const struct report_item *it = &r->configs.v[i];
		struct json_object *x = json_object_new_object();
		const char *bar = strchr(it->text, '|');
		ADD(x, "seq", ju64(it->seq));
		ADD(x, "timestamp", jtime(it->us));
		ADD(x, "file", bar ? json_object_new_string_len(it->text, (int)(bar - it->text)) : NULL);
		ADD(x, "sha256", bar && bar[1] ? json_object_new_string(bar + 1) : NULL);
		json_object_array_add(loads, x);
	}
	ADD(o, "config_loads", loads);
	ADD(o, "config_loads_total", ju64(r->configs.total));
	ADD(o, "evaluations", jlist(&r->evals));
	const struct report_blob *c = report_config(r);
	ADD(o, "configuration_source", jblob_ref(c));
	struct json_object *cd = c && c->json ? json_tokener_parse(c->json) : NULL, *cfg = NULL;
	if (cd && json_object_object_get_ex(cd, "config", &cfg) && json_object_is_type(cfg, json_type_object))
		ADD(o, "configuration", json_object_get(cfg));
	else
		ADD(o, "configuration", NULL);
	json_object_put(cd);
	return o;
}

static struct json_object *cryptography(const struct report *r)
{
	struct json_object *o = json_object_new_object(), *a;
	const struct report_crypto *c = &r->crypto;
	char v[128];
	ADD(o, "config_file", c->have_config ? jstr_or_null(c->config_file) : NULL);
	ADD(o, "algorithm", json_object_new_string(c->have_config && c->algorithm ? c->algorithm : "AES-256-GCM"));
	a = json_object_new_array();
	if (c->have_config && c->key_source)
		json_object_array_add(a, json_object_new_string(c->key_source));
	for (size_t i = 0; i < r->nkey_sources; i++)
		if (!(c->have_config && c->key_source && strcmp(c->key_source, r->key_sources[i]) == 0))
			json_object_array_add(a, json_object_new_string(r->key_sources[i]));
	ADD(o, "key_sources", a);
	if (c->have_config)
		ADD(o, "fips", json_object_new_boolean(c->fips));
	else if (report_config_value(r, "encryption.fips", v, sizeof(v)))
		ADD(o, "fips", json_object_new_boolean(strcmp(v, "true") == 0));
	else
		ADD(o, "fips", NULL);
	ADD(o, "max_encryptions_per_key", c->have_config ? ju64(c->max_encryptions) : NULL);
	ADD(o, "cryptoperiod_days", c->have_config ? ju64(c->cryptoperiod_days) : NULL);
	struct json_object *inv = json_object_new_object(), *keys = json_object_new_array();
	bool avail = !r->keys_unavailable;
	ADD(inv, "available", json_object_new_boolean(avail));
	ADD(inv, "reason", avail ? NULL : json_object_new_string(r->keys_why));
	for (size_t i = 0; i < r->nkeys; i++) {
		const struct report_key *k = &r->keys[i];
		struct json_object *x = json_object_new_object();
		int64_t age = (r->generated_us / 1000000 - k->created) / 86400;
		ADD(x, "key_id", json_object_new_int64(k->key_id));
		ADD(x, "created", jtime(k->created * 1000000));
		ADD(x, "age_days", json_object_new_int64(age < 0 ? 0 : age));
		ADD(x, "over_cryptoperiod",
		    json_object_new_boolean(c->cryptoperiod_days && !k->retired && age > (int64_t)c->cryptoperiod_days));
		ADD(x, "encryptions", ju64(k->encryptions));
		ADD(x, "encryption_limit_fraction",
		    json_object_new_double(c->max_encryptions ? (double)k->encryptions / (double)c->max_encryptions : 0));
		ADD(x, "active", json_object_new_boolean(k->active));
		ADD(x, "retired", json_object_new_boolean(k->retired));
		json_object_array_add(keys, x);
	}
	ADD(inv, "keys", keys);
	ADD(o, "key_inventory", inv);
	ADD(o, "events", jlist(&r->crypto_ev));
	ADD(o, "unencrypted_records", ju64(r->unencrypted));
	return o;
}

static struct json_object *access_review(const struct report *r)
{
	struct json_object *o = json_object_new_object(), *x, *a;
	x = json_object_new_object();
	for (int t = 0; t <= AUDIT_EV__COUNT; t++)
		if (r->by_type[t])
			ADD(x, t < AUDIT_EV__COUNT ? audit_event_name((enum audit_event_type)t) : "(unknown)",
			    ju64(r->by_type[t]));
	ADD(o, "by_event_type", x);
	size_t *us = report_sorted_users(r), *ts = report_sorted_tables(r);
	a = json_object_new_array();
	for (size_t i = 0; us && i < r->umap.n; i++) {
		const struct report_user *u = &r->users[us[i]];
		x = json_object_new_object();
		ADD(x, "user", json_object_new_string(u->name ? u->name : ""));
		ADD(x, "records", ju64(u->total));
		ADD(x, "reads", ju64(u->reads));
		ADD(x, "writes", ju64(u->writes));
		ADD(x, "deletes", ju64(u->deletes));
		ADD(x, "ddl", ju64(u->ddl));
		ADD(x, "denied", ju64(u->denied));
		ADD(x, "failed", ju64(u->failed));
		ADD(x, "after_hours", ju64(u->after_hours));
		ADD(x, "first", jtime(u->first_us));
		ADD(x, "last", jtime(u->last_us));
		json_object_array_add(a, x);
	}
	ADD(o, "by_user", a);
	x = json_object_new_object();
	ADD(x, "records", ju64(r->users_other_records));
	ADD(x, "distinct_estimate", ju64(report_estimate_distinct(r->users_other_bits, sizeof(r->users_other_bits))));
	ADD(o, "users_other", x);
	a = json_object_new_array();
	for (size_t i = 0; ts && i < r->tmap.n; i++) {
		const struct report_table *t = &r->tables[ts[i]];
		x = json_object_new_object();
		ADD(x, "table", json_object_new_string(t->name ? t->name : ""));
		ADD(x, "reads", ju64(t->reads));
		ADD(x, "writes", ju64(t->writes));
		ADD(x, "deletes", ju64(t->deletes));
		ADD(x, "ddl", ju64(t->ddl));
		ADD(x, "denied", ju64(t->denied));
		ADD(x, "failed", ju64(t->failed));
		ADD(x, "rows_read", ju64(t->rows_read));
		ADD(x, "rows_written", ju64(t->rows_written));
		const struct report_pair *top[5];
		size_t n = report_top_readers(r, (uint32_t)ts[i], top, 5);
		struct json_object *tr = json_object_new_array();
		for (size_t k = 0; k < n; k++) {
			struct json_object *y = json_object_new_object();
			ADD(y, "user", json_object_new_string(r->users[top[k]->user].name ? r->users[top[k]->user].name : ""));
			ADD(y, "reads", ju64(top[k]->reads));
			ADD(y, "rows", ju64(top[k]->rows));
			json_object_array_add(tr, y);
		}
		ADD(x, "top_readers", tr);
		json_object_array_add(a, x);
	}
	free(us);
	free(ts);
	ADD(o, "by_table", a);
	x = json_object_new_object();
	ADD(x, "records", ju64(r->tables_other_records));
	ADD(x, "distinct_estimate", ju64(report_estimate_distinct(r->tables_other_bits, sizeof(r->tables_other_bits))));
	ADD(o, "tables_other", x);
	ADD(o, "denied_failed", jlist(&r->denied));
	ADD(o, "after_hours", jlist(&r->after));
	ADD(o, "changes", jlist(&r->changes));
	return o;
}

static struct json_object *charts(const struct report *r)
{
	struct json_object *o = json_object_new_object(), *a = json_object_new_array(), *x;
	for (size_t i = 0; i < r->ndays; i++) {
		const struct report_day *d = &r->days[i];
		char day[16];
		report_fmt_day(d->day, day);
		x = json_object_new_object();
		ADD(x, "date", json_object_new_string(day));
		for (int s = 0; s < RS__COUNT; s++)
			ADD(x, report_series_names[s], ju64(d->series[s]));
		ADD(x, "denied", ju64(d->denied));
		ADD(x, "failed", ju64(d->failed));
		json_object_array_add(a, x);
	}
	ADD(o, "per_day", a);
	ADD(o, "days_dropped_records", ju64(r->days_dropped));
	a = json_object_new_array();
	for (int h = 0; h < 24; h++)
		json_object_array_add(a, ju64(r->by_hour[h]));
	ADD(o, "by_hour", a);
	a = json_object_new_array();
	for (int d = 0; d < 7; d++)
		json_object_array_add(a, ju64(r->by_weekday[d]));
	ADD(o, "by_weekday", a);
	return o;
}

int report_write_json(const struct report *r, FILE *f, char *err, size_t errlen)
{
	struct json_object *doc = json_object_new_object(), *x;
	char now[AUDIT_TIME_LEN + 1] = "";
	audit_format_time(r->generated_us, now);
	ADD(doc, "format", json_object_new_string("heliosdb-audit-report-v1"));
	ADD(doc, "type", json_object_new_string(report_types[r->o.type].name));
	ADD(doc, "title", json_object_new_string(report_types[r->o.type].title));
	ADD(doc, "generated_at", json_object_new_string(now));
	x = json_object_new_object();
	ADD(x, "name", json_object_new_string("HeliosDB Nano"));
	ADD(x, "version", json_object_new_string(HDB_VERSION_STRING));
	ADD(doc, "product", x);
	struct json_object *sec = json_object_new_array();
	const char *names[] = { "cover", "summary", "attestation", "cryptography", "integrity", "access", "charts",
		                "appendix" };
	unsigned bits[] = { ~0u, ~0u, REPORT_S_ATTEST, REPORT_S_CRYPTO, REPORT_S_INTEGRITY, REPORT_S_ACCESS,
		            REPORT_S_CHARTS, ~0u };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (bits[i] & report_types[r->o.type].sections)
			json_object_array_add(sec, json_object_new_string(names[i]));
	ADD(doc, "pdf_sections", sec);
	ADD(doc, "database", cover(r));
	x = json_object_new_object();
	ADD(x, "from", jtime(r->o.from_us));
	ADD(x, "to", jtime(r->o.to_us));
	struct json_object *bh = json_object_new_object();
	ADD(bh, "start_hour", json_object_new_int(r->o.bh_start));
	ADD(bh, "end_hour", json_object_new_int(r->o.bh_end));
	ADD(bh, "days", json_object_new_string("Mon-Fri"));
	ADD(bh, "timezone", json_object_new_string("UTC"));
	ADD(x, "business_hours", bh);
	ADD(doc, "period", x);
	struct json_object *ins = json_object_new_array();
	for (size_t i = 0; i < r->nin; i++) {
		x = json_object_new_object();
		ADD(x, "path", json_object_new_string(r->in[i].path));
		ADD(x, "bytes", ju64(r->in[i].bytes));
		ADD(x, "lines", ju64(r->in[i].lines));
		ADD(x, "sha256", json_object_new_string(r->in[i].sha256));
		json_object_array_add(ins, x);
	}
	ADD(doc, "inputs", ins);
	ADD(doc, "summary", summary(r));
	ADD(doc, "integrity", integrity(r));
	ADD(doc, "attestation", attestation(r));
	ADD(doc, "cryptography", cryptography(r));
	ADD(doc, "access", access_review(r));
	ADD(doc, "charts", charts(r));
	const char *s = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
	int rc = HDB_OK;
	if (!s || fputs(s, f) == EOF || fputc('\n', f) == EOF) {
		errf(err, errlen, "cannot write the JSON report");
		rc = HDB_EIO;
	}
	json_object_put(doc);
	return rc;
}
