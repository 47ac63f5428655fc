/*
 * profiles.c - the engine's side of compliance profiles (policy/profile.c
 * holds the rules and their checks).
 *
 *   hdb_open ── profiles_before_open: load the profiles named by the config,
 *            │  evaluate what needs no database (config, files, host).  A
 *            │  refusal for a database that does not exist yet stops here:
 *            │  nothing is created.
 *            ├─ open_common (keys, audit pipeline; no user data is read)
 *            └─ profiles_after_open: evaluate everything again with the
 *               facts only the database knows (key ages, every column), record
 *               one "profile_evaluated" event (outcome denied on refusal) and,
 *               on refusal, shut the database down before any session exists.
 *
 *   hdb_table_create ── profiles_check_columns: a column named as sensitive
 *               authentication data is refused (PCI DSS 3.3.1), recorded as a
 *               denied DDL event by the caller.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "engine_int.h"
#include "profile.h"
#include "row.h"

struct collect {
	const struct hdb_config *cfg;
	struct json_object *rules;       /* the results, for the audit record */
	bool deliver;                    /* pass each result on to the caller's callback */
};

static void add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

static void collect_fn(void *arg, const struct hdb_rule_result *r)
{
	struct collect *c = arg;
	if (c->rules) {
		struct json_object *o = json_object_new_object();
		if (o) {
			add_str(o, "profile", r->profile);
			add_str(o, "id", r->id);
			add_str(o, "citation", r->citation);
			add_str(o, "area", r->area);
			add_str(o, "statement", r->statement);
			add_str(o, "severity", r->severity);
			add_str(o, "status", r->status);
			add_str(o, "required", r->required);
			add_str(o, "actual", r->actual);
			if (*r->problem)
				add_str(o, "problem", r->problem);
			add_str(o, "fix", r->fix);
			if (json_object_array_add(c->rules, o))
				json_object_put(o);
		}
	}
	if (c->deliver && c->cfg->rule_fn)
		c->cfg->rule_fn(c->cfg->rule_arg, r);
}

static char *log_file_of(const struct hdb_config *cfg, const char *path)
{
	if (!cfg->audit_enabled)
		return NULL;
	if (cfg->audit_log_file)
		return strdup(cfg->audit_log_file);
	return path ? trail_default_log_file(path) : NULL;
}

int profiles_before_open(struct hdb_db *db, const struct hdb_config *cfg, const char *path)
{
	char err[1400] = "";
	int rc = profile_set_load(cfg, &db->profiles, err, sizeof(err));
	if (rc)
		return db_err(db, rc == HDB_ENOTFOUND ? HDB_ECONFIG : rc, "%s", err);
	if (profile_set_count(db->profiles) == 0)
		return HDB_OK;
	char *log = log_file_of(cfg, path);
	if (cfg->audit_enabled && path && !log)
		return db_err(db, HDB_ENOMEM, "out of memory");
	struct collect c = { cfg, NULL, false };
	rc = profile_evaluate(db->profiles, cfg, path, log, NULL, collect_fn, &c, NULL, err, sizeof(err));
	if (rc == HDB_ECOMPLIANCE) {
		char dm[4200];
		struct stat st;
		snprintf(dm, sizeof(dm), "%s/data.mdb", path ? path : "");
		if (path && stat(dm, &st) == 0) {
			/* it exists: open it to record the refusal, then refuse (or,
			 * if the open fails, profiles_open_failed reports the rules) */
			db->refuse_pending = true;
			rc = HDB_OK;
		} else {
			c.deliver = true;
			(void)profile_evaluate(db->profiles, cfg, path, log, NULL, collect_fn, &c, NULL, err, sizeof(err));
			rc = db_err(db, HDB_ECOMPLIANCE, "%s", err);
		}
	} else if (rc) {
		rc = db_err(db, rc, "%s", err);
	}
	free(log);
	return rc;
}

int profiles_check(struct hdb_db *db, const struct hdb_config *cfg, const char *path)
{
	char err[1400] = "";
	struct profile_set *ps = NULL;
	int rc = profile_set_load(cfg, &ps, err, sizeof(err));
	if (rc) {
		profile_set_free(ps);
		return db_err(db, rc == HDB_ENOTFOUND ? HDB_ECONFIG : rc, "%s", err);
	}
	if (profile_set_count(ps) == 0) {
		profile_set_free(ps);
		return HDB_OK;
	}
	char *log = log_file_of(cfg, path);
	struct collect c = { cfg, NULL, false };
	if (cfg->audit_enabled && !log)
		rc = db_err(db, HDB_ENOMEM, "out of memory");
	else
		rc = profile_evaluate(ps, cfg, path, log, NULL, collect_fn, &c, NULL, err, sizeof(err));
	if (rc == HDB_ECOMPLIANCE) {
		c.deliver = true;
		(void)profile_evaluate(ps, cfg, path, log, NULL, collect_fn, &c, NULL, err, sizeof(err));
		rc = db_err(db, HDB_ECOMPLIANCE, "%s", err);
	} else if (rc && rc != HDB_ENOMEM) {
		rc = db_err(db, rc, "%s", err);
	}
	free(log);
	profile_set_free(ps);
	return rc;
}

/* profiles_open_failed - the open failed after profiles_before_open let
 * it go ahead only to record a refusal: the refusal is the answer, with
 * every rule reported to the caller (the open's own error is kept too). */
int profiles_open_failed(struct hdb_db *db, const struct hdb_config *cfg, const char *path, int rc)
{
	if (!db->refuse_pending)
		return rc;
	char err[1400] = "", why[sizeof(db->errmsg)];
	memcpy(why, db->errmsg, sizeof(why));
	char *log = log_file_of(cfg, path);
	struct collect c = { cfg, NULL, true };
	(void)profile_evaluate(db->profiles, cfg, path, log, NULL, collect_fn, &c, NULL, err, sizeof(err));
	free(log);
	return db_err(db, HDB_ECOMPLIANCE, "%s (and the database could not be opened: %s)", err, why);
}

/* The facts only the open database knows: key ages and every column. */
static int gather_facts(struct hdb_db *db, struct profile_facts *f)
{
	struct hdb_session *s = NULL;
	struct buf b = { 0 };
	MDB_cursor *cur = NULL;
	int rc = sess_open_internal(db, &s);
	if (rc)
		return rc;
	rc = txn_begin(s, false);
	if (rc)
		goto out;
	MDB_val k = { 10, (void *)"master_set" }, v;
	if (mdb_get(s->txn, db->meta, &k, &v) == MDB_SUCCESS && v.mv_size == 8) {
		f->master_key_set = (int64_t)get_u64be(v.mv_data);
	} else {
		k = (MDB_val){ 6, (void *)"header" };
		if (mdb_get(s->txn, db->meta, &k, &v) == MDB_SUCCESS && v.mv_size == HDR_LEN)
			f->master_key_set = (int64_t)get_u64be((unsigned char *)v.mv_data + 55);
	}
	uint32_t next = 0;
	if (db->encrypted && meta_get_u32(db, s->txn, "nextkey", &next) == HDB_OK) {
		for (uint32_t id = 1; id < next; id++) {
			unsigned char rec[DEK_REC_LEN];
			if (meta_dek_get(db, s->txn, id, rec) != HDB_OK || rec[0] == DEK_RETIRED)
				continue;
			int64_t created = (int64_t)get_u64be(rec + 1);
			if (!f->oldest_key || created < f->oldest_key) {
				f->oldest_key = created;
				f->oldest_key_id = id;
			}
		}
	}
	int mrc = mdb_cursor_open(s->txn, db->data, &cur);
	if (mrc) {
		rc = db_err(db, mdb_to_hdb(mrc), "cannot read the catalog: %s", mdb_strerror(mrc));
		goto out;
	}
	unsigned char tag = TAG_CATALOG;
	MDB_val mk = { 1, &tag }, mv;
	for (mrc = mdb_cursor_get(cur, &mk, &mv, MDB_SET_RANGE); mrc == MDB_SUCCESS;
	     mrc = mdb_cursor_get(cur, &mk, &mv, MDB_NEXT)) {
		if (((unsigned char *)mk.mv_data)[0] != TAG_CATALOG)
			break;
		struct hdb_schema *sc = NULL;
		rc = sess_open_value(s, mk.mv_data, mk.mv_size, &mv, &b);
		if (!rc)
			rc = schema_decode(b.p, b.len, &sc);
		if (rc) {
			rc = db_err(db, rc, "the catalog entry of a table cannot be read: %s", hdb_session_errmsg(s));
			goto out;
		}
		for (size_t i = 0; i < sc->ncols && !rc; i++) {
			char **nv = realloc(f->columns, (f->ncolumns + 1) * sizeof(*nv));
			struct buf nb = { 0 };
			if (!nv || buf_printf(&nb, "%s.%s", sc->table, sc->cols[i].name) || buf_putc(&nb, 0)) {
				if (nv)
					f->columns = nv;
				buf_free(&nb);
				rc = db_err(db, HDB_ENOMEM, "out of memory");
				break;
			}
			f->columns = nv;
			f->columns[f->ncolumns++] = (char *)nb.p;
		}
		hdb_schema_free(sc);
		if (rc)
			goto out;
	}
out:
	if (cur)
		mdb_cursor_close(cur);
	if (s && s->txn)
		txn_abort(s);
	buf_free(&b);
	hdb_session_close(s);
	return rc;
}

static void facts_clear(struct profile_facts *f)
{
	for (size_t i = 0; i < f->ncolumns; i++)
		free(f->columns[i]);
	free(f->columns);
}

int profiles_after_open(struct hdb_db *db, const struct hdb_config *cfg)
{
	if (profile_set_count(db->profiles) == 0)
		return HDB_OK;
	struct profile_facts f = { 0 };
	struct profile_summary sum = { 0 };
	char err[1400] = "";
	struct collect c = { cfg, json_object_new_array(), true };
	struct json_object *d = json_object_new_object(), *names = json_object_new_array();
	int rc = c.rules && d && names ? gather_facts(db, &f) : db_err(db, HDB_ENOMEM, "out of memory");
	if (rc)
		goto out;
	rc = profile_evaluate(db->profiles, cfg, db->tmpdir ? NULL : db->path, db->audit.on ? db->audit.log_file : NULL,
	                      &f, collect_fn, &c, &sum, err, sizeof(err));
	if (rc && rc != HDB_ECOMPLIANCE) {
		rc = db_err(db, rc, "%s", err);
		goto out;
	}
	for (size_t i = 0; i < profile_set_count(db->profiles); i++)
		json_object_array_add(names, json_object_new_string(profile_set_name(db->profiles, i)));
	json_object_object_add(d, "profiles", json_object_get(names));
	json_object_object_add(d, "passed", json_object_new_int64(sum.passed));
	json_object_object_add(d, "warnings", json_object_new_int64(sum.warnings));
	json_object_object_add(d, "refusals", json_object_new_int64(sum.refusals));
	json_object_object_add(d, "skipped", json_object_new_int64(sum.skipped));
	json_object_object_add(d, "started", json_object_new_boolean(rc == HDB_OK));
	json_object_object_add(d, "rules", json_object_get(c.rules));
	trail_security(db, AUDIT_EV_PROFILE_EVALUATED, rc ? AUDIT_DENIED : AUDIT_SUCCESS, rc ? err : NULL, NULL,
	               json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	if (rc) {
		db->refused = true;
		rc = db_err(db, HDB_ECOMPLIANCE, "%s", err);
	}
out:
	facts_clear(&f);
	json_object_put(c.rules);
	json_object_put(names);
	json_object_put(d);
	return rc;
}

void profiles_free(struct hdb_db *db)
{
	profile_set_free(db->profiles);
	db->profiles = NULL;
}

int profiles_check_columns(struct hdb_session *s, const char *table, const struct hdb_column_def *cols,
                           size_t ncols)
{
	char err[1200];
	for (size_t i = 0; i < ncols; i++) {
		if (!cols[i].name)
			continue;
		int rc = profile_column_check(s->db->profiles, table, cols[i].name, err, sizeof(err));
		if (rc)
			return sess_err(s, rc, "%s", err);
	}
	return HDB_OK;
}

char *profiles_config_detail(const struct hdb_config *cfg)
{
	struct json_object *eff = config_effective_json(cfg), *d = json_object_new_object();
	char *out = NULL;
	if (!eff || !d)
		goto out;
	const char *text = json_object_to_json_string_ext(eff, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	unsigned char md[32];
	char hex[65];
	unsigned int mdl = 0;
	if (!text || !EVP_Digest(text, strlen(text), md, &mdl, EVP_sha256(), NULL) || mdl != 32)
		goto out;
	hex_encode(md, 32, hex);
	add_str(d, "file", cfg->source_file ? cfg->source_file : "(built-in defaults)");
	add_str(d, "sha256", hex);
	json_object_object_add(d, "config", json_object_get(eff));
	const char *t = json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	out = t ? strdup(t) : NULL;
out:
	json_object_put(eff);
	json_object_put(d);
	return out;
}
