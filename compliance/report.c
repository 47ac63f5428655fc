/*
 * report.c - the reporter's ingestion and aggregation: report types, the
 * bounded tables, the streaming pass over the log files (SHA-256 of each
 * file, every line scanned in place with audit_jscan and folded into
 * counters; json-c only for detail objects and escaped strings), and the
 * small helpers the JSON and PDF writers share.
 *
 * Invariants (see report.h):
 *   - one pass, lines read with read() into a buffer of at most
 *     REPORT_LINE_MAX bytes: a longer line is counted as malformed and
 *     skipped to its newline, so a file without newlines cannot exhaust
 *     memory;
 *   - after the pass, memory held is bounded by the caps of report.h,
 *     whatever the number of records;
 *   - a record is "in the period" when from_us <= timestamp < to_us;
 *     whole-log figures (seq range, oldest record, malformed lines) ignore
 *     the period.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "report_int.h"

const struct report_type_info report_types[REPORT__TYPE_COUNT] = {
#define REPORT_TYPE(id, name, title, sections, profile) { name, title, sections, profile },
#include "report_types.def"
#undef REPORT_TYPE
};

const char *const report_series_names[RS__COUNT] = { "read", "write", "ddl", "security", "audit" };

int report_type_lookup(const char *name)
{
	for (int i = 0; name && i < REPORT__TYPE_COUNT; i++)
		if (strcmp(report_types[i].name, name) == 0)
			return i;
	return -1;
}

const char *report_type_name(enum report_type t)
{
	return (unsigned)t < REPORT__TYPE_COUNT ? report_types[t].name : "?";
}

const char *report_type_names(void)
{
	static char names[256];
	if (!names[0]) {
		size_t o = 0;
		for (int i = 0; i < REPORT__TYPE_COUNT && o < sizeof(names); i++)
			o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s", i ? ", " : "", report_types[i].name);
	}
	return names;
}

/* ------------------------------------------------------------ helpers */

static void copy_str(char *dst, size_t cap, const char *s, size_t n)
{
	if (!s) {
		dst[0] = '\0';
		return;
	}
	if (n < cap) {
		memcpy(dst, s, n);
		dst[n] = '\0';
		return;
	}
	memcpy(dst, s, cap - 4);
	memcpy(dst + cap - 4, "...", 4);
}

void report_fmt_time(int64_t us, char out[32])
{
	char t[AUDIT_TIME_LEN + 1];
	if (us == INT64_MIN || us == INT64_MAX || audit_format_time(us, t) != HDB_OK) {
		strcpy(out, "-");
		return;
	}
	/* "2026-01-01T00:00:00.000000Z" -> "2026-01-01 00:00:00Z" */
	memcpy(out, t, 19);
	out[10] = ' ';
	out[19] = 'Z';
	out[20] = '\0';
}

void report_fmt_day(int64_t day, char out[16])
{
	time_t t = (time_t)(day * 86400);
	struct tm tm;
	if (!gmtime_r(&t, &tm) || strftime(out, 16, "%Y-%m-%d", &tm) == 0)
		strcpy(out, "?");
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static uint64_t fnv1a(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

uint64_t report_estimate_distinct(const unsigned char *bits, size_t nbytes)
{
	/* linear counting: n = -m ln(zero fraction) */
	size_t m = nbytes * 8, zero = 0;
	for (size_t i = 0; i < nbytes; i++)
		zero += 8u - (size_t)__builtin_popcount(bits[i]);
	if (zero == m)
		return 0;
	if (zero == 0)
		zero = 1;
	double v = (double)zero / (double)m;
	return (uint64_t)(-(double)m * log(v) + 0.5);
}

static void bits_add(unsigned char *bits, size_t nbytes, const char *s, size_t n)
{
	uint64_t h = fnv1a(s, n) % (nbytes * 8);
	bits[h / 8] |= (unsigned char)(1u << (h % 8));
}

/* ------------------------------------------------------------ name tables */

static int map_init(struct report_map *m, size_t max)
{
	size_t ns = 16;
	while (ns < 2 * max)
		ns *= 2;
	m->slot = calloc(ns, sizeof(*m->slot));
	if (!m->slot)
		return HDB_ENOMEM;
	m->nslot = ns;
	m->max = max;
	m->n = 0;
	return HDB_OK;
}

/* map_find - the index of name in names (via m); when absent and the table
 * is not full, adds it (*added = true) with names[idx] to be filled by the
 * caller; -1 when full. */
static long map_find(struct report_map *m, char *const *names, size_t stride, const char *s, size_t n,
                     bool *added)
{
	size_t i = (size_t)fnv1a(s, n) & (m->nslot - 1);
	*added = false;
	for (;;) {
		uint32_t v = m->slot[i];
		if (v == 0)
			break;
		const char *nm = *(char *const *)((const char *)names + (v - 1) * stride);
		if (nm && strncmp(nm, s, n) == 0 && nm[n] == '\0')
			return (long)(v - 1);
		i = (i + 1) & (m->nslot - 1);
	}
	if (m->n >= m->max)
		return -1;
	m->slot[i] = (uint32_t)(m->n + 1);
	*added = true;
	return (long)m->n++;
}

static long user_idx(struct report *r, const char *s, size_t n)
{
	bool added;
	long i = map_find(&r->umap, (char *const *)&r->users[0].name, sizeof(r->users[0]), s, n, &added);
	if (i < 0) {
		r->users_other_records++;
		bits_add(r->users_other_bits, sizeof(r->users_other_bits), s, n);
		return -1;
	}
	if (added) {
		struct report_user *u = &r->users[i];
		memset(u, 0, sizeof(*u));
		u->name = xstrndup(s, n);
		if (!u->name)
			return -2;   /* the slot stays with a NULL name, never matched */
		u->first_us = INT64_MAX;
		u->last_us = INT64_MIN;
	}
	return i;
}

static long table_idx(struct report *r, const char *s, size_t n)
{
	bool added;
	long i = map_find(&r->tmap, (char *const *)&r->tables[0].name, sizeof(r->tables[0]), s, n, &added);
	if (i < 0) {
		r->tables_other_records++;
		bits_add(r->tables_other_bits, sizeof(r->tables_other_bits), s, n);
		return -1;
	}
	if (added) {
		struct report_table *t = &r->tables[i];
		memset(t, 0, sizeof(*t));
		t->name = xstrndup(s, n);
		if (!t->name)
			return -2;
	}
	return i;
}

static int pair_add(struct report *r, uint32_t t, uint32_t u, uint64_t rows)
{
	size_t i = (size_t)(((uint64_t)t * 2654435761u) ^ ((uint64_t)u * 40503u)) & (r->npair_slot - 1);
	for (;;) {
		size_t v = r->pair_slot[i];
		if (v == 0)
			break;
		struct report_pair *p = &r->pairs[v - 1];
		if (p->table == t && p->user == u) {
			p->reads++;
			p->rows += rows;
			return HDB_OK;
		}
		i = (i + 1) & (r->npair_slot - 1);
	}
	if (r->npairs >= REPORT_MAX_PAIRS) {
		r->pairs_dropped++;
		return HDB_OK;
	}
	struct report_pair *p = &r->pairs[r->npairs++];
	p->table = t;
	p->user = u;
	p->reads = 1;
	p->rows = rows;
	r->pair_slot[i] = r->npairs;
	return HDB_OK;
}

static struct report_day *day_get(struct report *r, int64_t day)
{
	if (r->ndays && r->days[r->last_day].day == day)
		return &r->days[r->last_day];
	size_t lo = 0, hi = r->ndays;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->days[mid].day < day)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < r->ndays && r->days[lo].day == day) {
		r->last_day = lo;
		return &r->days[lo];
	}
	if (r->ndays >= REPORT_MAX_DAYS)
		return NULL;
	memmove(&r->days[lo + 1], &r->days[lo], (r->ndays - lo) * sizeof(*r->days));
	memset(&r->days[lo], 0, sizeof(*r->days));
	r->days[lo].day = day;
	r->ndays++;
	r->last_day = lo;
	return &r->days[lo];
}

/* ------------------------------------------------------------ lists */

static struct report_item *list_add(struct report_list *l, size_t cap)
{
	l->total++;
	if (l->n >= cap)
		return NULL;
	if (!l->v) {
		l->v = calloc(cap, sizeof(*l->v));
		if (!l->v)
			return NULL;
		l->cap = cap;
	}
	struct report_item *it = &l->v[l->n++];
	memset(it, 0, sizeof(*it));
	return it;
}

bool report_item_is_denied(const struct report_item *it)
{
	return strcmp(it->outcome, "denied") == 0;
}

/* ------------------------------------------------------------ lifecycle */

int report_new(const struct report_opts *o, struct report **ret)
{
	if (!o || !ret || (unsigned)o->type >= REPORT__TYPE_COUNT || o->bh_start < 0 || o->bh_end > 24 ||
	    o->bh_start >= o->bh_end || o->from_us > o->to_us)
		return HDB_EINVAL;
	struct report *r = calloc(1, sizeof(*r));
	if (!r)
		return HDB_ENOMEM;
	r->o = *o;
	if (o->now_us)
		r->generated_us = o->now_us;
	else {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		r->generated_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	}
	r->oldest_us = r->p_first_us = INT64_MAX;
	r->newest_us = r->p_last_us = INT64_MIN;
	r->npair_slot = 65536;   /* >= 2 * REPORT_MAX_PAIRS, power of two */
	r->users = calloc(REPORT_MAX_USERS, sizeof(*r->users));
	r->tables = calloc(REPORT_MAX_TABLES, sizeof(*r->tables));
	r->pairs = calloc(REPORT_MAX_PAIRS, sizeof(*r->pairs));
	r->pair_slot = calloc(r->npair_slot, sizeof(*r->pair_slot));
	r->days = calloc(REPORT_MAX_DAYS, sizeof(*r->days));
	r->tok = json_tokener_new();
	if (!r->users || !r->tables || !r->pairs || !r->pair_slot || !r->days || !r->tok ||
	    map_init(&r->umap, REPORT_MAX_USERS) || map_init(&r->tmap, REPORT_MAX_TABLES)) {
		report_free(r);
		return HDB_ENOMEM;
	}
	*ret = r;
	return HDB_OK;
}

static void blob_free(struct report_blob *b)
{
	free(b->json);
	memset(b, 0, sizeof(*b));
}

void report_free(struct report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nin; i++)
		free(r->in[i].path);
	free(r->in);
	if (r->users)
		for (size_t i = 0; i < r->umap.n; i++)
			free(r->users[i].name);
	if (r->tables)
		for (size_t i = 0; i < r->tmap.n; i++)
			free(r->tables[i].name);
	free(r->users);
	free(r->tables);
	free(r->umap.slot);
	free(r->tmap.slot);
	free(r->pairs);
	free(r->pair_slot);
	free(r->days);
	struct report_list *lists[] = { &r->denied, &r->after, &r->changes, &r->crypto_ev, &r->access,
		                        &r->failures, &r->deletions, &r->configs, &r->evals, &r->findings };
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		free(lists[i]->v);
	blob_free(&r->eval_last);
	blob_free(&r->eval_before);
	blob_free(&r->config_last);
	blob_free(&r->config_before);
	for (size_t i = 0; i < sizeof(r->crypto_strs) / sizeof(r->crypto_strs[0]); i++)
		free(r->crypto_strs[i]);
	free(r->keys);
	if (r->tok)
		json_tokener_free(r->tok);
	free(r->scratch);
	free(r);
}

int report_add_input(struct report *r, const char *path)
{
	struct report_input *nv = realloc(r->in, (r->nin + 1) * sizeof(*nv));
	if (!nv)
		return HDB_ENOMEM;
	r->in = nv;
	memset(&r->in[r->nin], 0, sizeof(*r->in));
	r->in[r->nin].path = strdup(path);
	if (!r->in[r->nin].path)
		return HDB_ENOMEM;
	r->nin++;
	return HDB_OK;
}

/* ------------------------------------------------------------ one record */

/* The members a record is read for, found by audit_jscan in place: json-c
 * builds no object per line (it parses a detail object, and decodes a string
 * with escapes, when a line has one). */
enum { J_SEQ, J_TIMESTAMP, J_EVENT_TYPE, J_OUTCOME, J_USER, J_TABLE, J_ERROR, J_OBJECT, J_DB_ID, J_HOST,
       J_ROWS, J_DETAIL, J_ENCRYPTED, J__N };

static int jmember(const char *k, size_t n)
{
	static const char *const names[J__N] = {
		"seq", "timestamp", "event_type", "outcome", "user", "table", "error", "object", "db_id", "host",
		"rows_affected", "detail", "encryption_enabled",
	};
	int a, b = -1;
	switch (n) {   /* by length first: this runs for every member of every line */
	case 3: a = J_SEQ; break;
	case 4: a = J_USER; b = J_HOST; break;
	case 5: a = J_TABLE; b = k[0] == 'e' ? J_ERROR : J_DB_ID; break;
	case 6: a = J_OBJECT; b = J_DETAIL; break;
	case 7: a = J_OUTCOME; break;
	case 9: a = J_TIMESTAMP; break;
	case 10: a = J_EVENT_TYPE; break;
	case 13: a = J_ROWS; break;
	case 18: a = J_ENCRYPTED; break;
	default: return -1;
	}
	if (memcmp(names[a], k, n) == 0)
		return a;
	return b >= 0 && memcmp(names[b], k, n) == 0 ? b : -1;
}

/* jstr - a string member, decoded and NUL-terminated in r->scratch at *at;
 * NULL when absent or null, and *bad set when it is something else. */
static const char *jstr(struct report *r, const struct audit_jval *m, size_t *at, size_t *ret_n, bool *bad)
{
	*ret_n = 0;
	if (!m->v || m->type == 'n')
		return NULL;
	if (m->type != '"') {
		*bad = true;
		return NULL;
	}
	char *out = r->scratch + *at;   /* room: the line's length + one NUL per member */
	size_t n = m->len - 2;
	if (!m->esc) {
		memcpy(out, m->v + 1, n);
	} else {
		/* decoding never lengthens a JSON string */
		json_tokener_reset(r->tok);
		struct json_object *o = json_tokener_parse_ex(r->tok, m->v, (int)m->len);
		if (!o || !json_object_is_type(o, json_type_string) || (size_t)json_object_get_string_len(o) > n) {
			json_object_put(o);
			*bad = true;
			return NULL;
		}
		n = (size_t)json_object_get_string_len(o);
		memcpy(out, json_object_get_string(o), n);
		json_object_put(o);
	}
	out[n] = '\0';
	*at += n + 1;
	*ret_n = n;
	return out;
}

static void malformed(struct report *r, size_t file_idx, uint64_t lineno, const char *why)
{
	if (r->malformed++ == 0)
		snprintf(r->first_malformed, sizeof(r->first_malformed), "%s:%llu: %s",
		         file_idx < r->nin ? r->in[file_idx].path : "(input)", (unsigned long long)lineno, why);
}

static void item_fill(struct report_item *it, uint64_t seq, int64_t us, const char *type, const char *outcome,
                      const char *user, size_t un, const char *table, size_t tn, const char *text)
{
	if (!it)
		return;
	it->seq = seq;
	it->us = us;
	copy_str(it->type, sizeof(it->type), type, strlen(type));
	copy_str(it->outcome, sizeof(it->outcome), outcome, strlen(outcome));
	copy_str(it->user, sizeof(it->user), user, un);
	copy_str(it->table, sizeof(it->table), table, tn);
	if (text)
		copy_str(it->text, sizeof(it->text), text, strlen(text));
}

static int blob_set(struct report_blob *b, bool in_period, uint64_t seq, int64_t us, const char *outcome,
                    struct json_object *detail)
{
	const char *s = detail ? json_object_to_json_string_ext(detail, JSON_C_TO_STRING_PLAIN) : "null";
	size_t n = strlen(s);
	if (n > (4u << 20))
		return HDB_OK;   /* an absurd detail is not kept (bounded memory) */
	char *c = xstrndup(s, n);
	if (!c)
		return HDB_ENOMEM;
	free(b->json);
	b->json = c;
	b->have = true;
	b->in_period = in_period;
	b->seq = seq;
	b->us = us;
	copy_str(b->outcome, sizeof(b->outcome), outcome, strlen(outcome));
	return HDB_OK;
}

static const char *dstr(struct json_object *detail, const char *key)
{
	struct json_object *v;
	if (detail && json_object_object_get_ex(detail, key, &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

static int64_t dint(struct json_object *detail, const char *key, int64_t def)
{
	struct json_object *v;
	if (detail && json_object_object_get_ex(detail, key, &v) && json_object_is_type(v, json_type_int))
		return json_object_get_int64(v);
	return def;
}

static void detail_text(struct json_object *detail, char *out, size_t cap)
{
	const char *s = detail ? json_object_to_json_string_ext(detail, JSON_C_TO_STRING_PLAIN) : "";
	copy_str(out, cap, s, strlen(s));
}

static bool is_change(int t)
{
	switch (t) {
	case AUDIT_EV_DDL: case AUDIT_EV_CONFIG_LOADED: case AUDIT_EV_ROTATE_KEY_START:
	case AUDIT_EV_ROTATE_KEY_FINISH: case AUDIT_EV_REKEY_START: case AUDIT_EV_REKEY_FINISH:
	case AUDIT_EV_DATA_KEY_SWITCH: case AUDIT_EV_PROFILE_EVALUATED: case AUDIT_EV_RESTORE_RUN:
		return true;
	default:
		return false;
	}
}

static bool is_crypto(int t)
{
	switch (t) {
	case AUDIT_EV_KEY_LOADED: case AUDIT_EV_WRONG_KEY: case AUDIT_EV_ROTATE_KEY_START:
	case AUDIT_EV_ROTATE_KEY_FINISH: case AUDIT_EV_REKEY_START: case AUDIT_EV_REKEY_FINISH:
	case AUDIT_EV_DATA_KEY_SWITCH:
		return true;
	default:
		return false;
	}
}

static enum report_series series_of(int t)
{
	if (t < 0)
		return RS_AUDIT;
	const char *cat = audit_event_category((enum audit_event_type)t);
	if (t == AUDIT_EV_READ)
		return RS_READ;
	if (strcmp(cat, "data") == 0)
		return RS_WRITE;
	if (strcmp(cat, "ddl") == 0 || strcmp(cat, "txn") == 0)
		return RS_DDL;
	if (strcmp(cat, "security") == 0)
		return RS_SECURITY;
	return RS_AUDIT;
}

/* eval_text - the one-line summary of a profile_evaluated detail, and the
 * profiles it names into r->profiles_seen. */
static void eval_text(struct report *r, struct json_object *detail, char *out, size_t cap, bool in_period)
{
	char prof[128] = "";
	size_t o = 0;
	struct json_object *ps, *v;
	if (detail && json_object_object_get_ex(detail, "profiles", &ps) && json_object_is_type(ps, json_type_array)) {
		size_t n = json_object_array_length(ps);
		for (size_t i = 0; i < n && i < 16; i++) {
			v = json_object_array_get_idx(ps, i);
			if (!json_object_is_type(v, json_type_string))
				continue;
			const char *p = json_object_get_string(v);
			if (o < sizeof(prof))
				o += (size_t)snprintf(prof + o, sizeof(prof) - o, "%s%s", o ? ", " : "", p);
			bool seen = false;
			for (size_t k = 0; k < r->nprofiles_seen; k++)
				seen |= strcmp(r->profiles_seen[k], p) == 0;
			if (!seen && in_period && r->nprofiles_seen < 8 && strlen(p) < 24)
				strcpy(r->profiles_seen[r->nprofiles_seen++], p);
		}
	}
	bool started = false;
	if (detail && json_object_object_get_ex(detail, "started", &v) && json_object_is_type(v, json_type_boolean))
		started = json_object_get_boolean(v);
	snprintf(out, cap, "profiles %s: %lld passed, %lld warnings, %lld refusals; %s", prof[0] ? prof : "(none)",
	         (long long)dint(detail, "passed", 0), (long long)dint(detail, "warnings", 0),
	         (long long)dint(detail, "refusals", 0), started ? "started" : "refused to start");
}

int report_feed_line(struct report *r, const char *line, size_t len, size_t file_idx, uint64_t lineno)
{
	struct json_object *o = NULL;   /* the detail object, when the record has one */
	int rc = HDB_EPARSE;
	r->lines++;
	if (len == 0) {
		malformed(r, file_idx, lineno, "empty line");
		return HDB_EPARSE;
	}
	if (len > REPORT_LINE_MAX) {
		malformed(r, file_idx, lineno, "line too long");
		return HDB_EPARSE;
	}
	struct audit_jval m[J__N];
	size_t col;
	const char *why = audit_jscan(line, len, jmember, m, J__N, &col);
	if (why) {
		malformed(r, file_idx, lineno,
		          strcmp(why, "text after the object") == 0 ? "text after the JSON object"
		          : strcmp(why, "duplicate member") == 0 ? "a member twice"
		          : "not a JSON object");
		goto out;
	}
	if (r->scratch_cap < len + J__N) {
		char *ns = realloc(r->scratch, len + J__N);
		if (!ns) {
			rc = HDB_ENOMEM;
			goto out;
		}
		r->scratch = ns;
		r->scratch_cap = len + J__N;
	}
	int64_t seq, us, rows = -1;
	bool bad = false;
	size_t at = 0, tsn, etn, ocn, un, tn, en, on, dn, hn;
	const char *ts = jstr(r, &m[J_TIMESTAMP], &at, &tsn, &bad);
	const char *et = jstr(r, &m[J_EVENT_TYPE], &at, &etn, &bad);
	const char *oc = jstr(r, &m[J_OUTCOME], &at, &ocn, &bad);
	const char *user = jstr(r, &m[J_USER], &at, &un, &bad);
	const char *table = jstr(r, &m[J_TABLE], &at, &tn, &bad);
	const char *error = jstr(r, &m[J_ERROR], &at, &en, &bad);
	const char *object = jstr(r, &m[J_OBJECT], &at, &on, &bad);
	const char *dbid = jstr(r, &m[J_DB_ID], &at, &dn, &bad);
	const char *host = jstr(r, &m[J_HOST], &at, &hn, &bad);
	if (!audit_jint(&m[J_SEQ], &seq) || seq <= 0) {
		malformed(r, file_idx, lineno, "no valid seq");
		goto out;
	}
	if (bad || !ts || !et || !oc) {
		malformed(r, file_idx, lineno, "timestamp, event_type or outcome missing or not strings");
		goto out;
	}
	if (audit_parse_time(ts, tsn, &us) != HDB_OK) {
		malformed(r, file_idx, lineno, "bad timestamp");
		goto out;
	}
	enum report_outcome oi;
	if (strcmp(oc, "success") == 0)
		oi = RO_SUCCESS;
	else if (strcmp(oc, "failure") == 0)
		oi = RO_FAILURE;
	else if (strcmp(oc, "denied") == 0)
		oi = RO_DENIED;
	else {
		malformed(r, file_idx, lineno, "unknown outcome");
		goto out;
	}
	(void)audit_jint(&m[J_ROWS], &rows);
	if (rows < 0)
		rows = 0;
	struct json_object *detail = NULL;
	if (m[J_DETAIL].v && m[J_DETAIL].type == '{') {
		json_tokener_reset(r->tok);
		o = json_tokener_parse_ex(r->tok, m[J_DETAIL].v, (int)m[J_DETAIL].len);
		if (o && json_object_is_type(o, json_type_object))
			detail = o;
	}
	int t = audit_event_lookup(et);
	rc = HDB_OK;

	/* ---- whole log */
	r->records++;
	if (r->records == 1 || (uint64_t)seq < r->first_seq)
		r->first_seq = (uint64_t)seq;
	if ((uint64_t)seq > r->last_seq)
		r->last_seq = (uint64_t)seq;
	if (us < r->oldest_us)
		r->oldest_us = us;
	if (us > r->newest_us)
		r->newest_us = us;
	if (dbid && dn == 32) {
		bool seen = false;
		for (size_t i = 0; i < r->ndb_ids; i++)
			seen |= memcmp(r->db_ids[i], dbid, 32) == 0;
		if (!seen && r->ndb_ids < 4)
			copy_str(r->db_ids[r->ndb_ids++], 33, dbid, 32);
		else if (!seen)
			r->db_ids_other++;
	}
	if (host) {
		bool seen = false;
		for (size_t i = 0; i < r->nhosts; i++)
			seen |= strncmp(r->hosts[i], host, REPORT_NAME_LEN - 4) == 0 && hn < REPORT_NAME_LEN &&
			        r->hosts[i][hn] == '\0';
		if (!seen && r->nhosts < 4)
			copy_str(r->hosts[r->nhosts++], REPORT_NAME_LEN, host, hn);
		else if (!seen)
			r->hosts_other++;
	}
	if (us < r->o.from_us || us >= r->o.to_us) {
		/* what was in force when the period began */
		if (us < r->o.from_us && t == AUDIT_EV_PROFILE_EVALUATED &&
		    (!r->eval_before.have || (uint64_t)seq > r->eval_before.seq))
			rc = blob_set(&r->eval_before, false, (uint64_t)seq, us, oc, detail);
		else if (us < r->o.from_us && t == AUDIT_EV_CONFIG_LOADED &&
		         (!r->config_before.have || (uint64_t)seq > r->config_before.seq))
			rc = blob_set(&r->config_before, false, (uint64_t)seq, us, oc, detail);
		goto out;
	}

	/* ---- the period */
	r->in_period++;
	if (r->in_period == 1 || (uint64_t)seq < r->p_first_seq)
		r->p_first_seq = (uint64_t)seq;
	if ((uint64_t)seq > r->p_last_seq)
		r->p_last_seq = (uint64_t)seq;
	if (us < r->p_first_us)
		r->p_first_us = us;
	if (us > r->p_last_us)
		r->p_last_us = us;
	r->by_type[t < 0 ? AUDIT_EV__COUNT : t]++;
	r->by_outcome[oi]++;
	int64_t day = floor_div(us, INT64_C(86400000000));
	int hour = (int)(floor_div(us, INT64_C(3600000000)) - day * 24);
	int wday = (int)(((day % 7) + 7 + 3) % 7);   /* 1970-01-01 was a Thursday; 0 = Monday */
	r->by_hour[hour]++;
	r->by_weekday[wday]++;
	if (m[J_ENCRYPTED].type == 'f')
		r->unencrypted++;
	if (t == AUDIT_EV_CHECKPOINT)
		r->checkpoints++;
	struct report_day *d = day_get(r, day);
	if (d) {
		d->series[series_of(t)]++;
		if (oi == RO_DENIED)
			d->denied++;
		else if (oi == RO_FAILURE)
			d->failed++;
	} else
		r->days_dropped++;

	bool after = user && (wday >= 5 || hour < r->o.bh_start || hour >= r->o.bh_end);
	r->after_hours += after;
	long ui = -1, ti = -1;
	if (user) {
		ui = user_idx(r, user, un);
		if (ui == -2) {
			rc = HDB_ENOMEM;
			goto out;
		}
	}
	if (table) {
		ti = table_idx(r, table, tn);
		if (ti == -2) {
			rc = HDB_ENOMEM;
			goto out;
		}
	}
	if (ui >= 0) {
		struct report_user *u = &r->users[ui];
		u->total++;
		u->reads += t == AUDIT_EV_READ;
		u->writes += t == AUDIT_EV_WRITE;
		u->deletes += t == AUDIT_EV_DELETE;
		u->ddl += t == AUDIT_EV_DDL;
		u->denied += oi == RO_DENIED;
		u->failed += oi == RO_FAILURE;
		u->after_hours += after;
		if (us < u->first_us)
			u->first_us = us;
		if (us > u->last_us)
			u->last_us = us;
	}
	if (ti >= 0) {
		struct report_table *tb = &r->tables[ti];
		tb->reads += t == AUDIT_EV_READ;
		tb->writes += t == AUDIT_EV_WRITE;
		tb->deletes += t == AUDIT_EV_DELETE;
		tb->ddl += t == AUDIT_EV_DDL;
		tb->denied += oi == RO_DENIED;
		tb->failed += oi == RO_FAILURE;
		if (t == AUDIT_EV_READ && oi == RO_SUCCESS)
			tb->rows_read += (uint64_t)rows;
		if ((t == AUDIT_EV_WRITE || t == AUDIT_EV_DELETE) && oi == RO_SUCCESS)
			tb->rows_written += (uint64_t)rows;
		if (t == AUDIT_EV_READ && ui >= 0)
			pair_add(r, (uint32_t)ti, (uint32_t)ui, (uint64_t)rows);
	}

	char text[REPORT_TEXT_LEN];
	text[0] = '\0';
	if (oi != RO_SUCCESS) {
		snprintf(text, sizeof(text), "%.*s", (int)(error ? en : 0), error ? error : "");
		item_fill(list_add(&r->denied, REPORT_LIST_MAX), (uint64_t)seq, us, et, oc, user, un, table, tn,
		          text[0] ? text : "(no error text)");
	}
	if (after) {
		snprintf(text, sizeof(text), "%.*s", (int)(object ? on : 0), object ? object : "");
		item_fill(list_add(&r->after, REPORT_LIST_MAX), (uint64_t)seq, us, et, oc, user, un, table, tn, text);
	}
	if (t >= 0 && is_change(t)) {
		if (t == AUDIT_EV_DDL) {
			const char *op = dstr(detail, "op");
			snprintf(text, sizeof(text), "%s%s%.*s", op ? op : "", op ? " " : "", (int)(object ? on : 0),
			         object ? object : "");
		} else if (t == AUDIT_EV_PROFILE_EVALUATED)
			eval_text(r, detail, text, sizeof(text), true);
		else if (t == AUDIT_EV_CONFIG_LOADED) {
			const char *f = dstr(detail, "file"), *h = dstr(detail, "sha256");
			snprintf(text, sizeof(text), "%s%s%s", f ? f : "(no file)", h ? " sha256 " : "", h ? h : "");
		} else
			detail_text(detail, text, sizeof(text));
		item_fill(list_add(&r->changes, 1000), (uint64_t)seq, us, et, oc, user, un, table, tn, text);
	}
	if (t >= 0 && is_crypto(t)) {
		if (t == AUDIT_EV_KEY_LOADED) {
			const char *ks = dstr(detail, "key_source");
			bool seen = false;
			for (size_t i = 0; ks && i < r->nkey_sources; i++)
				seen |= strcmp(r->key_sources[i], ks) == 0;
			if (ks && !seen && r->nkey_sources < 4 && strlen(ks) < 24)
				strcpy(r->key_sources[r->nkey_sources++], ks);
		}
		if (oi != RO_SUCCESS && error)
			snprintf(text, sizeof(text), "%.*s", (int)en, error);
		else
			detail_text(detail, text, sizeof(text));
		item_fill(list_add(&r->crypto_ev, REPORT_LIST_MAX), (uint64_t)seq, us, et, oc, user, un, table, tn,
		          text);
	}
	switch (t) {
	case AUDIT_EV_AUDIT_ACCESS: {
		const char *tool = dstr(detail, "tool"), *in = dstr(detail, "input");
		snprintf(text, sizeof(text), "%s%s%s", tool ? tool : "(tool?)", in ? " read " : "", in ? in : "");
		item_fill(list_add(&r->access, REPORT_LIST_MAX), (uint64_t)seq, us, et, oc, user, un, table, tn, text);
		break;
	}
	case AUDIT_EV_AUDIT_FAILURE: {
		char a[32], b[32];
		report_fmt_time(dint(detail, "since_us", INT64_MIN), a);
		report_fmt_time(dint(detail, "until_us", INT64_MIN), b);
		const char *e2 = dstr(detail, "error");
		snprintf(text, sizeof(text), "%s .. %s: %lld operations refused; %.*s", a, b,
		         (long long)dint(detail, "refused_operations", 0), (int)(e2 ? strlen(e2) : en),
		         e2 ? e2 : error ? error : "");
		item_fill(list_add(&r->failures, 100), (uint64_t)seq, us, et, oc, user, un, table, tn, text);
		break;
	}
	case AUDIT_EV_AUDIT_SEGMENT_DELETED: {
		const char *seg = dstr(detail, "segment"), *lh = dstr(detail, "last_hash");
		snprintf(text, sizeof(text), "%s; anchor: last_seq %lld, last_hash %.16s", seg ? seg : "(segment?)",
		         (long long)dint(detail, "last_seq", 0), lh ? lh : "?");
		item_fill(list_add(&r->deletions, 100), (uint64_t)seq, us, et, oc, user, un, table, tn, text);
		break;
	}
	case AUDIT_EV_CONFIG_LOADED: {
		const char *f = dstr(detail, "file"), *h = dstr(detail, "sha256");
		snprintf(text, sizeof(text), "%s|%s", f ? f : "", h ? h : "");
		item_fill(list_add(&r->configs, 100), (uint64_t)seq, us, et, oc, user, un, table, tn, text);
		if (!r->config_last.have || (uint64_t)seq > r->config_last.seq)
			rc = blob_set(&r->config_last, true, (uint64_t)seq, us, oc, detail);
		break;
	}
	case AUDIT_EV_PROFILE_EVALUATED:
		eval_text(r, detail, text, sizeof(text), true);
		item_fill(list_add(&r->evals, 100), (uint64_t)seq, us, et, oc, user, un, table, tn, text);
		if (!r->eval_last.have || (uint64_t)seq > r->eval_last.seq)
			rc = blob_set(&r->eval_last, true, (uint64_t)seq, us, oc, detail);
		break;
	default:
		break;
	}
out:
	if (o)
		json_object_put(o);
	return rc;
}

/* ------------------------------------------------------------ the pass */

int report_ingest(struct report *r, report_progress_fn fn, void *arg, char *err, size_t errlen)
{
	uint64_t total = 0, done = 0, last_tick = 0;
	for (size_t i = 0; i < r->nin; i++) {
		struct stat st;
		if (stat(r->in[i].path, &st) == 0)
			total += (uint64_t)st.st_size;
	}
	size_t cap = 1u << 20;
	char *buf = malloc(cap + REPORT_LINE_MAX + 1);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int rc = HDB_OK;
	if (!buf || !md) {
		errf(err, errlen, "out of memory");
		rc = HDB_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < r->nin && !rc; i++) {
		struct report_input *in = &r->in[i];
		int fd = open(in->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			errf(err, errlen, "cannot open audit log '%s': %s", in->path, strerror(errno));
			rc = HDB_EIO;
			break;
		}
		if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
			close(fd);
			errf(err, errlen, "SHA-256 is not available");
			rc = HDB_ECRYPTO;
			break;
		}
		size_t have = 0;       /* bytes of the current line in buf */
		bool skipping = false; /* inside an over-long line */
		uint64_t lineno = 0;
		for (;;) {
			ssize_t n = read(fd, buf + have, cap);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				errf(err, errlen, "cannot read audit log '%s': %s", in->path, strerror(errno));
				rc = HDB_EIO;
				break;
			}
			if (n == 0)
				break;
			EVP_DigestUpdate(md, buf + have, (size_t)n);
			in->bytes += (uint64_t)n;
			done += (uint64_t)n;
			size_t end = have + (size_t)n, start = 0;
			char *p = buf;
			for (;;) {
				char *nl = memchr(p + start, '\n', end - start);
				if (!nl)
					break;
				size_t ll = (size_t)(nl - (p + start));
				lineno++;
				if (skipping) {
					r->lines++;
					malformed(r, i, lineno, "line too long");
					skipping = false;
				} else {
					int x = report_feed_line(r, p + start, ll, i, lineno);
					if (x == HDB_ENOMEM) {
						errf(err, errlen, "out of memory");
						rc = x;
						break;
					}
				}
				start += ll + 1;
			}
			if (rc)
				break;
			have = end - start;
			if (skipping)
				have = 0;
			else if (have > REPORT_LINE_MAX) {
				skipping = true;
				have = 0;
			} else if (have && start)
				memmove(buf, buf + start, have);
			if (fn && done - last_tick > (4u << 20)) {
				fn(arg, done, total);
				last_tick = done;
			}
		}
		if (!rc && (have || skipping)) {   /* a last line without newline: a torn write */
			lineno++;
			if (skipping) {
				r->lines++;
				malformed(r, i, lineno, "line too long");
			} else if (report_feed_line(r, buf, have, i, lineno) == HDB_ENOMEM) {
				errf(err, errlen, "out of memory");
				rc = HDB_ENOMEM;
			}
		}
		in->lines = lineno;
		close(fd);
		unsigned char h[32];
		unsigned int hl = 0;
		if (!rc && EVP_DigestFinal_ex(md, h, &hl) == 1 && hl == 32)
			hex_encode(h, 32, in->sha256);
	}
	if (fn && !rc)
		fn(arg, total, total);
out:
	EVP_MD_CTX_free(md);
	free(buf);
	return rc;
}

/* ------------------------------------------------------------ from the caller */

int report_set_verify(struct report *r, enum report_verify_state st, const struct audit_verify_result *res,
                      const char *why)
{
	if (st == REPORT_TAMPERED)
		r->vstate = REPORT_TAMPERED;
	else if (st == REPORT_NOT_VERIFIED && r->vstate != REPORT_TAMPERED)
		r->vstate = REPORT_NOT_VERIFIED;
	else if (!r->vran)
		r->vstate = st;
	if (why && !r->vwhy[0])
		snprintf(r->vwhy, sizeof(r->vwhy), "%s", why);
	if (res) {
		r->vres.records += res->records;
		r->vres.checkpoints += res->checkpoints;
		r->vres.segments += res->segments;
		r->vres.findings += res->findings;
		if (!r->vran || res->first_seq < r->vres.first_seq)
			r->vres.first_seq = res->first_seq;
		if (res->last_seq > r->vres.last_seq)
			r->vres.last_seq = res->last_seq;
		if (res->last_signed_seq > r->vres.last_signed_seq)
			r->vres.last_signed_seq = res->last_signed_seq;
	}
	r->vran = true;
	return HDB_OK;
}

int report_add_finding(struct report *r, const struct audit_finding *f)
{
	if ((unsigned)f->problem < 16)
		r->findings_by[f->problem]++;
	struct report_item *it = list_add(&r->findings, 50);
	if (!it)
		return HDB_OK;
	it->seq = f->seq;
	it->us = (int64_t)f->line;
	copy_str(it->type, sizeof(it->type), audit_problem_name(f->problem), strlen(audit_problem_name(f->problem)));
	copy_str(it->table, sizeof(it->table), f->file ? f->file : "", f->file ? strlen(f->file) : 0);
	copy_str(it->text, sizeof(it->text), f->detail ? f->detail : "", f->detail ? strlen(f->detail) : 0);
	snprintf(it->outcome, sizeof(it->outcome), "%d", (int)f->problem);
	return HDB_OK;
}

int report_set_crypto(struct report *r, const struct report_crypto *c)
{
	r->crypto = *c;
	const char **s[] = { &r->crypto.config_file, &r->crypto.algorithm, &r->crypto.key_source,
		             &r->crypto.retention_justification, &r->crypto.db_id, &r->crypto.profiles };
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		free(r->crypto_strs[i]);
		r->crypto_strs[i] = NULL;
		if (*s[i]) {
			r->crypto_strs[i] = strdup(*s[i]);
			if (!r->crypto_strs[i])
				return HDB_ENOMEM;
			*s[i] = r->crypto_strs[i];
		}
	}
	return HDB_OK;
}

int report_add_key(struct report *r, const struct report_key *k)
{
	if (r->nkeys >= 4096)
		return HDB_OK;
	struct report_key *nv = realloc(r->keys, (r->nkeys + 1) * sizeof(*nv));
	if (!nv)
		return HDB_ENOMEM;
	r->keys = nv;
	r->keys[r->nkeys++] = *k;
	return HDB_OK;
}

int report_set_keys_unavailable(struct report *r, const char *why)
{
	r->keys_unavailable = true;
	snprintf(r->keys_why, sizeof(r->keys_why), "%s", why ? why : "not available");
	return HDB_OK;
}

/* ------------------------------------------------------------ shared views */

const char *report_verdict_word(const struct report *r)
{
	if (r->vstate == REPORT_TAMPERED)
		return "tampered";
	if (r->vstate == REPORT_VERIFIED)
		return "verified";
	return "not_verified";
}

const char *report_verdict_text(const struct report *r)
{
	const char *w = report_verdict_word(r);
	if (strcmp(w, "verified") == 0)
		return "chain verified";
	if (strcmp(w, "tampered") == 0)
		return "TAMPERED/INCOMPLETE";
	return "not verified";
}

uint64_t report_records_in_period(const struct report *r)
{
	return r->in_period;
}

const struct report_blob *report_eval(const struct report *r)
{
	if (r->eval_last.have)
		return &r->eval_last;
	if (r->eval_before.have)
		return &r->eval_before;
	return NULL;
}

const struct report_blob *report_config(const struct report *r)
{
	if (r->config_last.have)
		return &r->config_last;
	if (r->config_before.have)
		return &r->config_before;
	return NULL;
}

const char *report_rule_profile(const char *id)
{
	if (!id)
		return "other";
	if (strncasecmp(id, "HIPAA", 5) == 0)
		return "hipaa";
	if (strncasecmp(id, "PCI", 3) == 0)
		return "pci-dss";
	if (strncasecmp(id, "GDPR", 4) == 0)
		return "gdpr";
	if (strncasecmp(id, "DEV", 3) == 0)
		return "development";
	return "other";
}

int report_profile_counts(const struct report *r, struct report_profile_count *out, int max)
{
	const struct report_blob *b = report_eval(r);
	if (!b || !b->json)
		return -1;
	struct json_object *d = json_tokener_parse(b->json), *rules, *ps;
	int n = 0;
	if (!d)
		return -1;
	/* every profile evaluated has a row, even without a rule of its own */
	if (json_object_object_get_ex(d, "profiles", &ps) && json_object_is_type(ps, json_type_array))
		for (size_t i = 0; i < json_object_array_length(ps) && n < max; i++) {
			struct json_object *p = json_object_array_get_idx(ps, i);
			if (!json_object_is_type(p, json_type_string) || strlen(json_object_get_string(p)) >= 24)
				continue;
			memset(&out[n], 0, sizeof(out[n]));
			strcpy(out[n++].profile, json_object_get_string(p));
		}
	if (json_object_object_get_ex(d, "rules", &rules) && json_object_is_type(rules, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(rules); i++) {
			struct json_object *ru = json_object_array_get_idx(rules, i);
			const char *id = dstr(ru, "id"), *st = dstr(ru, "status");
			const char *p = report_rule_profile(id);
			int k;
			for (k = 0; k < n; k++)
				if (strcmp(out[k].profile, p) == 0)
					break;
			if (k == n) {
				if (n >= max)
					continue;
				memset(&out[n], 0, sizeof(out[n]));
				strcpy(out[n++].profile, p);
			}
			if (st && strcmp(st, "pass") == 0)
				out[k].passed++;
			else if (st && strcmp(st, "warn") == 0)
				out[k].warnings++;
			else
				out[k].failures++;
		}
	}
	json_object_put(d);
	return n;
}

bool report_config_value(const struct report *r, const char *key, char *out, size_t outlen)
{
	const struct report_blob *b = report_config(r);
	if (!b || !b->json)
		return false;
	struct json_object *d = json_tokener_parse(b->json), *c, *v;
	bool ok = false;
	if (d && json_object_object_get_ex(d, "config", &c) && json_object_is_type(c, json_type_object) &&
	    json_object_object_get_ex(c, key, &v)) {
		const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v)
		                                                         : json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
		snprintf(out, outlen, "%s", s);
		ok = true;
	}
	json_object_put(d);
	return ok;
}

static const struct report *sort_r;

static int cmp_user(const void *a, const void *b)
{
	const struct report_user *x = &sort_r->users[*(const size_t *)a], *y = &sort_r->users[*(const size_t *)b];
	if (x->total != y->total)
		return x->total < y->total ? 1 : -1;
	return strcmp(x->name, y->name);
}

static uint64_t tact(const struct report_table *t)
{
	return t->reads + t->writes + t->deletes + t->ddl + t->denied + t->failed;
}

static int cmp_table(const void *a, const void *b)
{
	const struct report_table *x = &sort_r->tables[*(const size_t *)a], *y = &sort_r->tables[*(const size_t *)b];
	if (tact(x) != tact(y))
		return tact(x) < tact(y) ? 1 : -1;
	return strcmp(x->name, y->name);
}

size_t *report_sorted_users(const struct report *r)
{
	size_t *v = malloc((r->umap.n + 1) * sizeof(*v));
	if (!v)
		return NULL;
	for (size_t i = 0; i < r->umap.n; i++)
		v[i] = i;
	sort_r = r;
	qsort(v, r->umap.n, sizeof(*v), cmp_user);
	return v;
}

size_t *report_sorted_tables(const struct report *r)
{
	size_t *v = malloc((r->tmap.n + 1) * sizeof(*v));
	if (!v)
		return NULL;
	for (size_t i = 0; i < r->tmap.n; i++)
		v[i] = i;
	sort_r = r;
	qsort(v, r->tmap.n, sizeof(*v), cmp_table);
	return v;
}

size_t report_top_readers(const struct report *r, uint32_t t, const struct report_pair **out, size_t k)
{
	size_t n = 0;
	for (size_t i = 0; i < r->npairs; i++) {
		const struct report_pair *p = &r->pairs[i];
		if (p->table != t)
			continue;
		/* insertion into the top k, most reads first, then name */
		size_t j = n < k ? n++ : k;
		while (j > 0 && (out[j - 1]->reads < p->reads ||
		                 (out[j - 1]->reads == p->reads &&
		                  strcmp(r->users[out[j - 1]->user].name, r->users[p->user].name) > 0))) {
			if (j < k)
				out[j] = out[j - 1];
			j--;
		}
		if (j < k)
			out[j] = p;
	}
	return n;
}
