/*
 * test_trail.c - the audit pipeline through the engine's public API, on
 * real LMDB files and real log files: one record per call, no value in any
 * record, fail closed on a full disk, and the cross-checks at open.
 */
#include "testutil.h"

#include <json-c/json.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>

#include "heliosdb.h"

struct fx {
	char *dir;
	char path[600];
	char log[700];
	struct hdb_config *cfg;
	struct hdb_db *db;
	struct hdb_session *s;
};

static void fx_open(struct fx *f, unsigned flags)
{
	int rc = hdb_open(f->path, f->cfg, flags, &f->db);
	if (rc)
		fprintf(stderr, "open: %s\n", hdb_errmsg(f->db));
	assert_int_equal(rc, HDB_OK);
	struct hdb_principal who = { "auditor_test", "10.1.2.3", "test_trail" };
	assert_int_equal(hdb_session_open(f->db, &who, &f->s), HDB_OK);
}

static void fx_close(struct fx *f)
{
	hdb_session_close(f->s);
	hdb_close(f->db);
	f->s = NULL;
	f->db = NULL;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->dir = tu_mkdtemp();
	snprintf(f->path, sizeof(f->path), "%s/db", f->dir);
	snprintf(f->log, sizeof(f->log), "%s/log/audit.log", f->dir);
	setenv("HELIOSDB_ENCRYPTION_KEY", TEST_KEY_HEX, 1);
	assert_int_equal(hdb_config_new(&f->cfg), HDB_OK);
	char t[900];
	snprintf(t, sizeof(t), "[audit]\nlog_file = \"%s\"\ndurability = \"sync\"\njournald = \"off\"\n", f->log);
	assert_int_equal(hdb_config_apply(f->cfg, t), HDB_OK);
	fx_open(f, HDB_OPEN_CREATE);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	fx_close(f);
	hdb_config_free(f->cfg);
	tu_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static long count_lines(const char *path)
{
	FILE *fp = fopen(path, "r");
	if (!fp)
		return 0;
	long n = 0;
	int c;
	while ((c = fgetc(fp)) != EOF)
		n += c == '\n';
	fclose(fp);
	return n;
}

static char *slurp(const char *path, size_t *ret_n)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	fseek(fp, 0, SEEK_END);
	long sz = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	char *b = malloc((size_t)sz + 1);
	size_t got = fread(b, 1, (size_t)sz, fp);
	b[got] = '\0';
	fclose(fp);
	*ret_n = got;
	return b;
}

/* How many times needle occurs in the log at path. */
static int count_in_log(const char *path, const char *needle)
{
	size_t len;
	char *log = slurp(path, &len);
	assert_non_null(log);
	int n = 0;
	for (char *p = log; (p = strstr(p, needle)); p++)
		n++;
	free(log);
	return n;
}

/* the last record of the log, parsed */
static json_object *last_record(const char *path)
{
	size_t n;
	char *b = slurp(path, &n);
	assert_non_null(b);
	assert_true(n > 1);
	b[n - 1] = '\0';
	char *nl = strrchr(b, '\n');
	json_object *o = json_tokener_parse(nl ? nl + 1 : b);
	free(b);
	assert_non_null(o);
	return o;
}

static const char *jstr(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
	           ? json_object_get_string(v)
	           : NULL;
}

/* ---- one record per call: a table of every public data function */

static int noop_row(void *arg, const struct hdb_row *r)
{
	(void)arg;
	(void)r;
	return 0;
}
static int noop_kv(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)arg, (void)k, (void)kl, (void)v, (void)vl;
	return 0;
}
static int noop_stat(void *arg, const struct hdb_stat *st)
{
	(void)arg, (void)st;
	return 0;
}
static int noop_key(void *arg, const struct hdb_key_info *ki)
{
	(void)arg, (void)ki;
	return 0;
}
static int noop_verify(void *arg, const struct hdb_verify_item *it)
{
	(void)arg, (void)it;
	return 0;
}

static const struct hdb_column_def cols[] = { { "id", HDB_T_INT4, true, 1 }, { "v", HDB_T_TEXT, false, 0 } };

static void c_kv_put(struct hdb_session *s) { hdb_kv_put(s, "ks", "k1", 2, "v", 1); }
static void c_kv_get(struct hdb_session *s)
{
	void *v = NULL;
	size_t n;
	if (hdb_kv_get(s, "ks", "k1", 2, &v, &n) == HDB_OK)
		hdb_free(v);
}
static void c_kv_get_missing(struct hdb_session *s)
{
	void *v = NULL;
	size_t n;
	assert_int_equal(hdb_kv_get(s, "ks", "nope", 4, &v, &n), HDB_ENOTFOUND);
}
static void c_kv_batch(struct hdb_session *s)
{
	struct hdb_kv_op ops[3] = { { "a", 1, "1", 1 }, { "b", 1, "2", 1 }, { "c", 1, NULL, 0 } };
	hdb_kv_write_batch(s, "ks", ops, 3);
}
static void c_kv_scan(struct hdb_session *s) { hdb_kv_scan(s, "ks", noop_kv, NULL); }
static void c_kv_delete(struct hdb_session *s) { hdb_kv_delete(s, "ks", "k1", 2); }
static void c_create(struct hdb_session *s) { hdb_table_create(s, "t", cols, 2); }
static void c_create_dup(struct hdb_session *s) { assert_int_equal(hdb_table_create(s, "t", cols, 2), HDB_EEXIST); }
static void c_schema(struct hdb_session *s)
{
	struct hdb_schema *sc = NULL;
	hdb_table_schema(s, "t", &sc);
	hdb_schema_free(sc);
}
static void c_list(struct hdb_session *s)
{
	char **n = NULL;
	size_t nn = 0;
	if (hdb_table_list(s, &n, &nn) == HDB_OK)
		hdb_free_names(n, nn);
}
static void c_insert(struct hdb_session *s)
{
	struct hdb_value v[2] = { hdb_int4(1), hdb_text("x") };
	hdb_insert(s, "t", v, 2);
}
static void c_insert_batch(struct hdb_session *s)
{
	struct hdb_value v[2][2] = { { hdb_int4(2), hdb_text("y") }, { hdb_int4(3), hdb_text("z") } };
	hdb_insert_batch(s, "t", &v[0][0], 2, 2);
}
static void c_insert_bad(struct hdb_session *s)
{
	struct hdb_value v[2] = { hdb_text("not an int"), hdb_text("x") };
	assert_int_equal(hdb_insert(s, "t", v, 2), HDB_ECONSTRAINT);
}
static void c_get(struct hdb_session *s)
{
	struct hdb_value k = hdb_int4(1);
	struct hdb_row *r = NULL;
	hdb_get(s, "t", &k, 1, &r);
	hdb_row_free(r);
}
static void c_update(struct hdb_session *s)
{
	struct hdb_value k = hdb_int4(1), v[2] = { hdb_int4(1), hdb_text("x2") };
	hdb_update(s, "t", &k, 1, v, 2);
}
static void c_delete(struct hdb_session *s)
{
	struct hdb_value k = hdb_int4(2);
	hdb_delete(s, "t", &k, 1);
}
static void c_scan(struct hdb_session *s) { hdb_scan(s, "t", noop_row, NULL); }
static void c_cursor(struct hdb_session *s)
{
	struct hdb_cursor *c;
	const struct hdb_row *r;
	if (hdb_cursor_open(s, "t", &c) == HDB_OK) {
		while (hdb_cursor_next(c, &r) == HDB_OK)
			;
		hdb_cursor_close(c);
	}
}
static void c_get_no_table(struct hdb_session *s)
{
	struct hdb_value k = hdb_int4(1);
	struct hdb_row *r = NULL;
	assert_int_equal(hdb_get(s, "missing", &k, 1, &r), HDB_ENOTFOUND);
}
static void c_stats(struct hdb_session *s) { hdb_stats(s, noop_stat, NULL); }
static void c_keys(struct hdb_session *s) { hdb_key_list(s, noop_key, NULL); }
static void c_verify(struct hdb_session *s) { hdb_verify(s, HDB_VERIFY_ENCRYPTION, noop_verify, NULL); }
static void c_drop(struct hdb_session *s) { hdb_table_drop(s, "t"); }
static void c_txn_ro(struct hdb_session *s)
{
	/* begin (read-only) + one read + commit: three records */
	hdb_begin(s, HDB_TXN_RDONLY);
	c_kv_get(s);
	hdb_commit(s);
}
static void c_txn_rw(struct hdb_session *s)
{
	hdb_begin(s, 0);
	c_kv_put(s);
	hdb_commit(s);
}
static void c_txn_abort(struct hdb_session *s)
{
	/* begin + put + abort: begin and put are re-queued when rolled back, then the abort */
	hdb_begin(s, 0);
	c_kv_put(s);
	hdb_abort(s);
}

struct call {
	const char *name;
	void (*fn)(struct hdb_session *s);
	long records;
	const char *last_type;
};

static const struct call calls[] = {
	{ "kv_put", c_kv_put, 1, "write" },
	{ "kv_get", c_kv_get, 1, "read" },
	{ "kv_get missing", c_kv_get_missing, 1, "read" },
	{ "kv_write_batch", c_kv_batch, 1, "write" },
	{ "kv_scan", c_kv_scan, 1, "read" },
	{ "kv_delete", c_kv_delete, 1, "delete" },
	{ "table_create", c_create, 1, "ddl" },
	{ "table_create dup", c_create_dup, 1, "ddl" },
	{ "table_schema", c_schema, 1, "read" },
	{ "table_list", c_list, 1, "read" },
	{ "insert", c_insert, 1, "write" },
	{ "insert_batch", c_insert_batch, 1, "write" },
	{ "insert bad type", c_insert_bad, 1, "write" },
	{ "get", c_get, 1, "read" },
	{ "update", c_update, 1, "write" },
	{ "delete", c_delete, 1, "delete" },
	{ "scan", c_scan, 1, "read" },
	{ "cursor", c_cursor, 1, "read" },
	{ "get on a missing table", c_get_no_table, 1, "read" },
	{ "stats", c_stats, 1, "read" },
	{ "key_list", c_keys, 1, "read" },
	{ "verify", c_verify, 1, "verify_run" },
	{ "txn read-only", c_txn_ro, 3, "txn_commit" },
	{ "txn read-write", c_txn_rw, 3, "txn_commit" },
	{ "txn rolled back", c_txn_abort, 3, "txn_abort" },
	{ "table_drop", c_drop, 1, "ddl" },
};

static void test_one_record_per_call(void **state)
{
	struct fx *f = *state;
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		long before = count_lines(f->log);
		calls[i].fn(f->s);
		long after = count_lines(f->log);
		if (after - before != calls[i].records)
			fail_msg("%s: %ld records, expected %ld", calls[i].name, after - before, calls[i].records);
		json_object *o = last_record(f->log);
		if (strcmp(jstr(o, "event_type"), calls[i].last_type) != 0)
			fail_msg("%s: last record is '%s', expected '%s'", calls[i].name, jstr(o, "event_type"),
			         calls[i].last_type);
		assert_string_equal(jstr(o, "user"), "auditor_test");
		assert_string_equal(jstr(o, "source_ip"), "10.1.2.3");
		assert_string_equal(jstr(o, "application"), "test_trail");
		json_object_put(o);
	}
}

static void test_record_fields(void **state)
{
	struct fx *f = *state;
	assert_int_equal(hdb_table_create(f->s, "patients", cols, 2), HDB_OK);
	struct hdb_value v[2] = { hdb_int4(123), hdb_text("x") };
	assert_int_equal(hdb_insert(f->s, "patients", v, 2), HDB_OK);
	json_object *o = last_record(f->log);
	assert_string_equal(jstr(o, "event_type"), "write");
	assert_string_equal(jstr(o, "outcome"), "success");
	assert_string_equal(jstr(o, "table"), "patients");
	assert_string_equal(jstr(o, "db_id"), hdb_db_id(f->db));
	json_object *ra, *enc;
	assert_true(json_object_object_get_ex(o, "rows_affected", &ra));
	assert_int_equal(json_object_get_int64(ra), 1);
	assert_true(json_object_object_get_ex(o, "encryption_enabled", &enc));
	assert_true(json_object_get_boolean(enc));
	json_object_put(o);
	/* a failure records outcome and error */
	assert_int_equal(hdb_insert(f->s, "patients", v, 2), HDB_EEXIST);
	o = last_record(f->log);
	assert_string_equal(jstr(o, "outcome"), "failure");
	assert_non_null(strstr(jstr(o, "error"), "primary key"));
	json_object_put(o);
}

/* DESIGN promise 6: values and keys never reach a record. */
static void test_no_values_in_records(void **state)
{
	struct fx *f = *state;
	assert_int_equal(hdb_kv_put(f->s, "ks", "CanaryKeyA7", 11, "CanaryValueB8", 13), HDB_OK);
	void *out;
	size_t n;
	assert_int_equal(hdb_kv_get(f->s, "ks", "CanaryKeyA7", 11, &out, &n), HDB_OK);
	hdb_free(out);
	assert_int_equal(hdb_table_create(f->s, "t", cols, 2), HDB_OK);
	struct hdb_value v[2] = { hdb_int4(918273645), hdb_text("CanaryRowC9") };
	assert_int_equal(hdb_insert(f->s, "t", v, 2), HDB_OK);
	assert_int_equal(hdb_insert(f->s, "t", v, 2), HDB_EEXIST);
	assert_int_equal(hdb_kv_delete(f->s, "ks", "CanaryKeyA7", 11), HDB_OK);
	fx_close(f);
	size_t len;
	char *log = slurp(f->log, &len);
	assert_non_null(log);
	assert_null(strstr(log, "Canary"));
	assert_null(strstr(log, "918273645"));
	/* the same key gives the same token, so accesses still correlate */
	char *first = strstr(log, "key:");
	assert_non_null(first);
	char tok[24];
	memcpy(tok, first, 20);
	tok[20] = '\0';
	assert_non_null(strstr(first + 1, tok));
	free(log);
	fx_open(f, 0);
}

/* A data file older than its log is detected at open. */
static void test_restored_older_copy(void **state)
{
	struct fx *f = *state;
	assert_int_equal(hdb_kv_put(f->s, "ks", "a", 1, "1", 1), HDB_OK);
	fx_close(f);
	char cmd[4000];
	snprintf(cmd, sizeof(cmd), "cp '%s/data.mdb' '%s/old.mdb'", f->path, f->dir);
	assert_int_equal(system(cmd), 0);
	fx_open(f, 0);
	assert_int_equal(hdb_kv_put(f->s, "ks", "b", 1, "2", 1), HDB_OK);
	fx_close(f);
	snprintf(cmd, sizeof(cmd), "cp '%s/old.mdb' '%s/data.mdb'", f->dir, f->path);
	assert_int_equal(system(cmd), 0);
	struct hdb_db *db = NULL;
	assert_int_equal(hdb_open(f->path, f->cfg, 0, &db), HDB_ECORRUPT);
	assert_non_null(strstr(hdb_errmsg(db), "older than its audit log"));
	hdb_close(db);
	/* put the newer log aside: the database opens again, its log continuing from an anchor */
	snprintf(cmd, sizeof(cmd), "mv '%s' '%s.aside'", f->log, f->log);
	assert_int_equal(system(cmd), 0);
	fx_open(f, 0);
}

/* A log cut short (records removed from its end) is detected at open. */
static void test_log_cut_short(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i < 5; i++)
		assert_int_equal(hdb_kv_put(f->s, "ks", "a", 1, "1", 1), HDB_OK);
	fx_close(f);
	long n = count_lines(f->log);
	char cmd[4000];
	snprintf(cmd, sizeof(cmd), "head -n %ld '%s' > '%s.cut' && mv '%s.cut' '%s'", n - 3, f->log, f->log, f->log,
	         f->log);
	assert_int_equal(system(cmd), 0);
	struct hdb_db *db = NULL;
	assert_int_equal(hdb_open(f->path, f->cfg, 0, &db), HDB_ECORRUPT);
	assert_non_null(strstr(hdb_errmsg(db), "missing"));
	hdb_close(db);
	snprintf(cmd, sizeof(cmd), "mv '%s' '%s.cut'", f->log, f->log);
	assert_int_equal(system(cmd), 0);
	fx_open(f, 0);
}

/* Fail closed: a full disk under the log refuses operations, then recovers
 * and records the window. */
static void test_fail_closed_disk_full(void **state)
{
	struct fx *f = *state;
	if (geteuid() != 0)
		skip();
	char mnt[700];
	snprintf(mnt, sizeof(mnt), "%s/small", f->dir);
	assert_int_equal(mkdir(mnt, 0700), 0);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=256k") != 0) {
		fprintf(stderr, "test_fail_closed_disk_full: cannot mount a tmpfs here; skipped\n");
		skip();
	}
	fx_close(f);
	char t[1200], filler[800];
	snprintf(t, sizeof(t), "audit.log_file = \"%s/audit.log\"\n", mnt);
	assert_int_equal(hdb_config_apply(f->cfg, t), HDB_OK);
	assert_int_equal(hdb_config_apply(f->cfg, "audit.on_failure = \"block\""), HDB_OK);
	fx_open(f, 0);
	/* fill the disk */
	snprintf(filler, sizeof(filler), "%s/filler", mnt);
	char cmd[4000];
	snprintf(cmd, sizeof(cmd), "dd if=/dev/zero of='%s' bs=4k 2>/dev/null; true", filler);
	assert_int_equal(system(cmd), 0);
	int rc = HDB_OK;
	for (int i = 0; i < 2000 && rc == HDB_OK; i++)
		rc = hdb_kv_put(f->s, "ks", "k", 1, "v", 1);
	assert_int_equal(rc, HDB_EAUDIT);
	assert_non_null(strstr(hdb_session_errmsg(f->s), "audit"));
	/* every further operation is refused, reads too */
	void *out;
	size_t n;
	assert_int_equal(hdb_kv_get(f->s, "ks", "k", 1, &out, &n), HDB_EAUDIT);
	/* free space: the shipper retries, operations resume */
	assert_int_equal(unlink(filler), 0);
	rc = HDB_EAUDIT;
	for (int i = 0; i < 60 && rc == HDB_EAUDIT; i++) {
		struct timespec d = { 0, 100000000 };
		nanosleep(&d, NULL);
		rc = hdb_kv_put(f->s, "ks", "k", 1, "v", 1);
	}
	if (rc)
		fprintf(stderr, "still failing: %s\n", hdb_session_errmsg(f->s));
	assert_int_equal(rc, HDB_OK);
	fx_close(f);
	char logp[800];
	snprintf(logp, sizeof(logp), "%s/audit.log", mnt);
	size_t len;
	char *log = slurp(logp, &len);
	assert_non_null(log);
	assert_non_null(strstr(log, "\"event_type\":\"audit_failure\""));
	assert_non_null(strstr(log, "refused_operations"));
	free(log);
	/* the chain is intact */
	snprintf(cmd, sizeof(cmd), "'%s/heliosdb-nano' audit-verify --input '%s' --pubkey '%s.pub' >/dev/null",
	         getenv("HDB_ROOT") ? getenv("HDB_ROOT") : ".", logp, logp);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(umount(mnt), 0);
	snprintf(t, sizeof(t), "audit.log_file = \"%s\"\n", f->log);
	/* back to the fixture's log: it is behind the database now, so start a new one */
	snprintf(cmd, sizeof(cmd), "rm -f '%s'", f->log);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(hdb_config_apply(f->cfg, t), HDB_OK);
	fx_open(f, 0);
}

/* A wrong key is a security event: recorded at the next open with the right key. */
static void test_wrong_key_recorded(void **state)
{
	struct fx *f = *state;
	fx_close(f);
	setenv("HELIOSDB_ENCRYPTION_KEY", TEST_KEY2_HEX, 1);
	struct hdb_db *db = NULL;
	assert_int_equal(hdb_open(f->path, f->cfg, 0, &db), HDB_EKEY);
	hdb_close(db);
	db = NULL;
	assert_int_equal(hdb_open(f->path, f->cfg, 0, &db), HDB_EKEY);
	hdb_close(db);
	setenv("HELIOSDB_ENCRYPTION_KEY", TEST_KEY_HEX, 1);
	fx_open(f, 0);
	fx_close(f);
	assert_int_equal(count_in_log(f->log, "\"event_type\":\"wrong_key\""), 2);
	assert_true(count_in_log(f->log, "\"outcome\":\"denied\"") > 0);
	/* and only once */
	fx_open(f, 0);
	fx_close(f);
	assert_int_equal(count_in_log(f->log, "\"event_type\":\"wrong_key\""), 2);
	fx_open(f, 0);
}

static int audit_entries_fn(void *arg, const struct hdb_stat *st)
{
	if (strcmp(st->kind, "audit") == 0)
		*(uint64_t *)arg += st->entries;
	return 0;
}

static uint64_t outbox_entries(struct hdb_session *s)
{
	uint64_t n = 0;
	assert_int_equal(hdb_stats(s, audit_entries_fn, &n), HDB_OK);
	return n;
}

/* With durability batch the outbox keeps each record until the log is
 * synced; under a steady write load it must still be trimmed within a
 * fraction of a second, not after thousands of records (every audited
 * commit writes the outbox's pages: a large backlog costs every commit). */
static void test_outbox_trimmed_under_load(void **state)
{
	struct fx *f = *state;
	fx_close(f);
	char t[900];
	snprintf(t, sizeof(t), "[audit]\nlog_file = \"%s\"\ndurability = \"batch\"\njournald = \"off\"\n", f->log);
	assert_int_equal(hdb_config_apply(f->cfg, t), HDB_OK);
	fx_open(f, 0);
	unsigned char v[64] = { 7 };
	char k[32];
	for (int i = 0; i < 300; i++) {
		int n = snprintf(k, sizeof(k), "k%04d", i);
		assert_int_equal(hdb_kv_put(f->s, "ks", k, (size_t)n, v, sizeof(v)), HDB_OK);
	}
	int puts = 300;
	uint64_t left = outbox_entries(f->s);
	for (int tries = 0; left >= 64 && tries < 100; tries++, puts++) {
		const struct timespec d = { 0, 50 * 1000000L };
		nanosleep(&d, NULL);
		/* each put's record wakes the shipper, which then trims */
		assert_int_equal(hdb_kv_put(f->s, "ks", "again", 5, v, sizeof(v)), HDB_OK);
		left = outbox_entries(f->s);
	}
	assert_true(left < 64);
	/* nothing trimmed before the log had it: every put is in the log */
	fx_close(f);
	assert_int_equal(count_in_log(f->log, "\"event_type\":\"write\""), puts);
	fx_open(f, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_one_record_per_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_values_in_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restored_older_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_cut_short, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fail_closed_disk_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_key_recorded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_trimmed_under_load, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
