/*
 * test_engine.c - the engine through its public API, on real LMDB files.
 * Where a test needs to tamper with what is on disk it closes the database
 * and opens the LMDB file directly (LMDB forbids two opens in one process).
 */
#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <pthread.h>
#include <lmdb.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "heliosdb.h"
#include "engine_int.h"   /* test_payload_wiped looks at the session's scratch */
#include "audit.h"        /* the restore tests verify the log */

struct fx {
	char *dir;
	char path[600];
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
	struct hdb_principal who = { "tester", "127.0.0.1", "test_engine" };
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
	setenv("HELIOSDB_ENCRYPTION_KEY", TEST_KEY_HEX, 1);
	assert_int_equal(hdb_config_new(&f->cfg), HDB_OK);
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

/* fx_recreate - closes the fixture's database and removes it and its audit
 * log (a log never serves two databases); fx_open(f, HDB_OPEN_CREATE) makes
 * a fresh one. */
static void fx_recreate(struct fx *f)
{
	char alog[700];
	fx_close(f);
	tu_rmrf(f->path);
	snprintf(alog, sizeof(alog), "%s.audit", f->path);
	tu_rmrf(alog);
}

/* ---- helpers to look at and tamper with the raw file */

/* read_whole - the file's bytes (malloc'd) and their count, or NULL */
static unsigned char *read_whole(const char *path, size_t *ret_n)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	fseek(fp, 0, SEEK_END);
	long sz = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	unsigned char *b = malloc((size_t)sz + 1);
	*ret_n = b ? fread(b, 1, (size_t)sz, fp) : 0;
	fclose(fp);
	return b;
}

/* overflow_middle - the offset of the middle of the first page of an
 * overflow run of 3 pages or more (a large value's ciphertext), or -1 */
static long overflow_middle(const char *path)
{
	size_t n;
	unsigned char *img = read_whole(path, &n);
	long off = -1;
	for (size_t pg = 2; img && off < 0 && (pg + 1) * 4096 <= n; pg++) {
		uint16_t flags;
		uint32_t run;
		memcpy(&flags, img + pg * 4096 + 10, 2);
		memcpy(&run, img + pg * 4096 + 12, 4);
		if ((flags & 0x04) && run >= 3)
			off = (long)(pg * 4096 + 2048);
	}
	free(img);
	return off;
}

static void flip_byte(const char *path, long off, unsigned char x)
{
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	unsigned char c;
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= x;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

/* find_bytes - the offset of the first needle[0..m) in p[0..n), or -1 */
static long find_bytes(const unsigned char *p, size_t n, const void *needle, size_t m)
{
	for (size_t i = 0; i + m <= n; i++)
		if (memcmp(p + i, needle, m) == 0)
			return (long)i;
	return -1;
}

static bool file_contains(const char *path, const void *needle, size_t n)
{
	size_t got;
	unsigned char *b = read_whole(path, &got);
	bool found = b && find_bytes(b, got, needle, n) >= 0;
	free(b);
	return found;
}

static void raw_open(const char *path, MDB_env **env, MDB_txn **txn, MDB_dbi *data, MDB_dbi *meta)
{
	assert_int_equal(mdb_env_create(env), 0);
	mdb_env_set_maxdbs(*env, 4);
	mdb_env_set_mapsize(*env, (size_t)64 << 30);
	assert_int_equal(mdb_env_open(*env, path, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(*env, NULL, 0, txn), 0);
	assert_int_equal(mdb_dbi_open(*txn, "data", 0, data), 0);
	if (meta)
		assert_int_equal(mdb_dbi_open(*txn, "meta", 0, meta), 0);
}

static int count_rows(void *arg, const struct hdb_row *r)
{
	(void)r;
	(*(int *)arg)++;
	return 0;
}

/* ---- tests */

static void test_open_info(void **state)
{
	struct fx *f = *state;
	assert_true(hdb_is_encrypted(f->db));
	assert_string_equal(hdb_encryption_info(f->db), "Enabled: AES-256-GCM");
	assert_int_equal(strlen(hdb_db_id(f->db)), 32);
	/* a second create with EXCL refuses */
	struct hdb_db *db2 = NULL;
	fx_close(f);
	assert_int_equal(hdb_open(f->path, f->cfg, HDB_OPEN_CREATE | HDB_OPEN_EXCL, &db2), HDB_EEXIST);
	hdb_close(db2);
	fx_open(f, 0);
}

static void test_missing_db(void **state)
{
	struct fx *f = *state;
	char p[700];
	snprintf(p, sizeof(p), "%s/nothing", f->dir);
	struct hdb_db *db = NULL;
	assert_int_equal(hdb_open(p, f->cfg, 0, &db), HDB_ENOTFOUND);
	assert_non_null(strstr(hdb_errmsg(db), "no database at"));
	hdb_close(db);
}

static void test_kv_roundtrip(void **state)
{
	struct fx *f = *state;
	assert_int_equal(hdb_kv_put(f->s, "default", "users:1", 7, "John Doe", 8), HDB_OK);
	void *v;
	size_t n;
	assert_int_equal(hdb_kv_get(f->s, "default", "users:1", 7, &v, &n), HDB_OK);
	assert_int_equal(n, 8);
	assert_memory_equal(v, "John Doe", 8);
	hdb_free(v);
	/* overwrite, empty value, other keyspace isolation */
	assert_int_equal(hdb_kv_put(f->s, "default", "users:1", 7, "", 0), HDB_OK);
	assert_int_equal(hdb_kv_get(f->s, "default", "users:1", 7, &v, &n), HDB_OK);
	assert_int_equal(n, 0);
	hdb_free(v);
	assert_int_equal(hdb_kv_get(f->s, "other", "users:1", 7, &v, &n), HDB_ENOTFOUND);
	assert_int_equal(hdb_kv_delete(f->s, "default", "users:1", 7), HDB_OK);
	assert_int_equal(hdb_kv_get(f->s, "default", "users:1", 7, &v, &n), HDB_ENOTFOUND);
	assert_int_equal(hdb_kv_delete(f->s, "default", "users:1", 7), HDB_ENOTFOUND);
	/* bad arguments */
	assert_int_equal(hdb_kv_put(f->s, "default", "", 0, "x", 1), HDB_EINVAL);
	assert_int_equal(hdb_kv_put(f->s, "", "k", 1, "x", 1), HDB_EINVAL);
	char big[HDB_MAX_KEY_LEN + 1];
	memset(big, 'a', sizeof(big));
	assert_int_equal(hdb_kv_put(f->s, "default", big, sizeof(big), "x", 1), HDB_EINVAL);
}

struct scanacc {
	int n;
	size_t bytes;
};

static int kv_count(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)k;
	(void)v;
	struct scanacc *a = arg;
	a->n++;
	a->bytes += kl + vl;
	return 0;
}

static void test_kv_batch_and_scan(void **state)
{
	struct fx *f = *state;
	struct hdb_kv_op ops[100];
	char keys[100][16];
	for (int i = 0; i < 100; i++) {
		snprintf(keys[i], sizeof(keys[i]), "key-%03d", i);
		ops[i] = (struct hdb_kv_op){ keys[i], strlen(keys[i]), "value", 5 };
	}
	assert_int_equal(hdb_kv_write_batch(f->s, "batch", ops, 100), HDB_OK);
	struct scanacc a = { 0 };
	assert_int_equal(hdb_kv_scan(f->s, "batch", kv_count, &a), HDB_OK);
	assert_int_equal(a.n, 100);
	ops[5].val = NULL; /* delete one in a batch */
	assert_int_equal(hdb_kv_write_batch(f->s, "batch", &ops[5], 1), HDB_OK);
	a.n = 0;
	assert_int_equal(hdb_kv_scan(f->s, "batch", kv_count, &a), HDB_OK);
	assert_int_equal(a.n, 99);
}

static void test_txn_commit_abort(void **state)
{
	struct fx *f = *state;
	void *v;
	size_t n;
	assert_int_equal(hdb_begin(f->s, 0), HDB_OK);
	assert_int_equal(hdb_begin(f->s, 0), HDB_ETXN);
	assert_int_equal(hdb_kv_put(f->s, "t", "a", 1, "1", 1), HDB_OK);
	/* visible inside the transaction */
	assert_int_equal(hdb_kv_get(f->s, "t", "a", 1, &v, &n), HDB_OK);
	hdb_free(v);
	assert_int_equal(hdb_abort(f->s), HDB_OK);
	assert_int_equal(hdb_kv_get(f->s, "t", "a", 1, &v, &n), HDB_ENOTFOUND);
	assert_int_equal(hdb_begin(f->s, 0), HDB_OK);
	assert_int_equal(hdb_kv_put(f->s, "t", "a", 1, "1", 1), HDB_OK);
	assert_int_equal(hdb_commit(f->s), HDB_OK);
	assert_int_equal(hdb_kv_get(f->s, "t", "a", 1, &v, &n), HDB_OK);
	hdb_free(v);
	assert_int_equal(hdb_commit(f->s), HDB_ETXN);
	/* a read-only transaction refuses writes */
	assert_int_equal(hdb_begin(f->s, HDB_TXN_RDONLY), HDB_OK);
	assert_int_equal(hdb_kv_put(f->s, "t", "b", 1, "1", 1), HDB_ETXN);
	assert_int_equal(hdb_commit(f->s), HDB_OK);
}

/* puts of a write txn wait in a buffer and are applied in LMDB key order
 * (engine/session.c): every later call in the txn sees them, the last put
 * of a key wins, a delete after a put deletes, an abort drops them */
static void test_buffered_writes(void **state)
{
	struct fx *f = *state;
	void *v;
	size_t n;
	char k[16], val[16];
	assert_int_equal(hdb_begin(f->s, 0), HDB_OK);
	for (int i = 0; i < 300; i++) {
		snprintf(k, sizeof(k), "k%03d", i % 200);
		snprintf(val, sizeof(val), "v%d", i);
		assert_int_equal(hdb_kv_put(f->s, "wb", k, strlen(k), val, strlen(val)), HDB_OK);
	}
	struct hdb_kv_op del = { "k007", 4, NULL, 0 };
	assert_int_equal(hdb_kv_write_batch(f->s, "wb", &del, 1), HDB_OK);
	assert_int_equal(hdb_kv_get(f->s, "wb", "k007", 4, &v, &n), HDB_ENOTFOUND);
	assert_int_equal(hdb_kv_get(f->s, "wb", "k050", 4, &v, &n), HDB_OK);
	assert_int_equal(n, 4);
	assert_memory_equal(v, "v250", 4);
	hdb_free(v);
	assert_int_equal(hdb_kv_put(f->s, "wb", "k050", 4, "last", 4), HDB_OK);
	struct scanacc a = { 0 };
	assert_int_equal(hdb_kv_scan(f->s, "wb", kv_count, &a), HDB_OK);
	assert_int_equal(a.n, 199);
	assert_int_equal(hdb_kv_put(f->s, "wb", "k199", 4, "gone", 4), HDB_OK);
	assert_int_equal(hdb_commit(f->s), HDB_OK);
	assert_int_equal(hdb_kv_get(f->s, "wb", "k050", 4, &v, &n), HDB_OK);
	assert_memory_equal(v, "last", 4);
	hdb_free(v);
	assert_int_equal(hdb_kv_get(f->s, "wb", "k199", 4, &v, &n), HDB_OK);
	assert_memory_equal(v, "gone", 4);
	hdb_free(v);
	/* an aborted txn's buffered puts never reach the store */
	assert_int_equal(hdb_begin(f->s, 0), HDB_OK);
	assert_int_equal(hdb_kv_put(f->s, "wb", "knew", 4, "x", 1), HDB_OK);
	assert_int_equal(hdb_kv_put(f->s, "wb", "k050", 4, "y", 1), HDB_OK);
	assert_int_equal(hdb_abort(f->s), HDB_OK);
	assert_int_equal(hdb_kv_get(f->s, "wb", "knew", 4, &v, &n), HDB_ENOTFOUND);
	assert_int_equal(hdb_kv_get(f->s, "wb", "k050", 4, &v, &n), HDB_OK);
	assert_memory_equal(v, "last", 4);
	hdb_free(v);
	assert_int_equal(hdb_verify(f->s, HDB_VERIFY_INTEGRITY, NULL, NULL), HDB_OK);
}

/* A txn larger than the write buffer: the buffer is applied when it holds
 * 2^18 entries (engine/session.c, WB_MAX_ENTRIES) or 32 MiB, and again at
 * commit.  Puts of one key before and after such a flush keep their order
 * (the last wins), a get in the txn sees what was flushed and what waits,
 * and an abort drops both. */
#define BIG_TXN_SMALL 600000 /* > WB_MAX_ENTRIES */
#define WB_TEST_BYTES_LEN ((size_t)34 << 20) /* WB_BYTES_LEN, all writable once 32 MiB were buffered */
#define BIG_TXN_LARGE 9000   /* x 4000 bytes > 32 MiB */
static void test_buffered_writes_overflow(void **state)
{
	struct fx *f = *state;
	char k[24];
	void *v;
	size_t n;
	/* the buffer, not the audit trail, is under test: 600k records would
	 * only make the test slow */
	fx_close(f);
	assert_int_equal(hdb_config_apply(f->cfg, "audit.enabled = false"), HDB_OK);
	fx_open(f, 0);
	assert_int_equal(hdb_begin(f->s, 0), HDB_OK);
	for (uint32_t i = 0; i < BIG_TXN_SMALL; i++) {
		snprintf(k, sizeof(k), "s%07u", i % 400000);
		uint32_t val = i;
		assert_int_equal(hdb_kv_put(f->s, "big", k, strlen(k), &val, sizeof(val)), HDB_OK);
	}
	/* s0000007 was put at i = 7 and 400007 (after the first flush) */
	assert_int_equal(hdb_kv_get(f->s, "big", "s0000007", 8, &v, &n), HDB_OK);
	assert_int_equal(n, 4);
	uint32_t got;
	memcpy(&got, v, 4);
	assert_int_equal(got, 400007);
	hdb_free(v);
	static unsigned char large[4000];
	for (uint32_t i = 0; i < BIG_TXN_LARGE; i++) {
		snprintf(k, sizeof(k), "l%05u", i % 8500);
		memset(large, (int)(i & 0xff), sizeof(large));
		memcpy(large, &i, sizeof(i));
		assert_int_equal(hdb_kv_put(f->s, "big", k, strlen(k), large, sizeof(large)), HDB_OK);
	}
	/* it went through the buffer (a refused buffer falls back silently) */
	assert_false(f->s->wb_refused);
	assert_int_equal(f->s->wb.cap, WB_TEST_BYTES_LEN);
	assert_int_equal(hdb_commit(f->s), HDB_OK);
	for (uint32_t j = 0; j < 400000; j += 997) {
		snprintf(k, sizeof(k), "s%07u", j);
		assert_int_equal(hdb_kv_get(f->s, "big", k, strlen(k), &v, &n), HDB_OK);
		memcpy(&got, v, 4);
		assert_int_equal(got, j < BIG_TXN_SMALL - 400000 ? j + 400000 : j);
		hdb_free(v);
	}
	for (uint32_t j = 0; j < 8500; j += 7) {
		snprintf(k, sizeof(k), "l%05u", j);
		assert_int_equal(hdb_kv_get(f->s, "big", k, strlen(k), &v, &n), HDB_OK);
		assert_int_equal(n, sizeof(large));
		uint32_t want = j < BIG_TXN_LARGE - 8500 ? j + 8500 : j;
		memcpy(&got, v, 4);
		assert_int_equal(got, want);
		assert_int_equal(((unsigned char *)v)[3999], want & 0xff);
		hdb_free(v);
	}
	/* an aborted txn that overflowed the buffer leaves nothing behind */
	assert_int_equal(hdb_begin(f->s, 0), HDB_OK);
	uint32_t x = 0xdeadbeef;
	assert_int_equal(hdb_kv_put(f->s, "big", "s0000007", 8, &x, sizeof(x)), HDB_OK);
	memset(large, 0xee, sizeof(large));
	for (uint32_t i = 0; i < BIG_TXN_LARGE; i++) {
		snprintf(k, sizeof(k), "a%05u", i);
		assert_int_equal(hdb_kv_put(f->s, "big", k, strlen(k), large, sizeof(large)), HDB_OK);
	}
	assert_int_equal(hdb_abort(f->s), HDB_OK);
	assert_int_equal(hdb_kv_get(f->s, "big", "a00000", 6, &v, &n), HDB_ENOTFOUND);
	assert_int_equal(hdb_kv_get(f->s, "big", "a08999", 6, &v, &n), HDB_ENOTFOUND);
	assert_int_equal(hdb_kv_get(f->s, "big", "s0000007", 8, &v, &n), HDB_OK);
	memcpy(&got, v, 4);
	assert_int_equal(got, 400007);
	hdb_free(v);
}

/* Where the write buffer cannot have its room (a tight RLIMIT_AS, or
 * vm.overcommit_memory = 2), a txn's puts go straight to LMDB: they still
 * work, in a forked child whose address space has 32 MiB to spare (the
 * buffer reserves 52). */
static int buffer_unmapped_child(struct fx *f)
{
	/* an LMDB environment must not be used across fork: a database of its
	 * own; no audit, whose lazily allocated queues (8 MiB for journald)
	 * would compete with the buffer for the little address space left */
	if (hdb_config_apply(f->cfg, "audit.enabled = false") != HDB_OK)
		return 12;
	struct hdb_db *db = NULL;
	struct hdb_principal who = { "tester", "127.0.0.1", "test_engine" };
	struct hdb_session *s = NULL;
	if (hdb_open(f->path, f->cfg, 0, &db) != HDB_OK || hdb_session_open(db, &who, &s) != HDB_OK)
		return 10;
	long pages = 0;
	FILE *fp = fopen("/proc/self/statm", "r");
	if (!fp || fscanf(fp, "%ld", &pages) != 1)
		return 2;
	fclose(fp);
	struct rlimit rl = { 0 };
	rl.rlim_cur = rl.rlim_max = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)32 << 20);
	if (setrlimit(RLIMIT_AS, &rl) != 0)
		return 3;
	char k[16], val[100];
	if (hdb_begin(s, 0) != HDB_OK)
		return 5;
	for (int i = 0; i < 3000; i++) {
		snprintf(k, sizeof(k), "u%05d", i % 2000);
		memset(val, 'a' + i % 26, sizeof(val));
		if (hdb_kv_put(s, "unmapped", k, strlen(k), val, sizeof(val)) != HDB_OK)
			return 6;
	}
	if (!s->wb_refused || s->wb.cap != 0)
		return 11; /* the limit left room for the buffer: nothing tested */
	if (hdb_commit(s) != HDB_OK)
		return 7;
	for (int j = 0; j < 2000; j++) {
		void *v;
		size_t n;
		snprintf(k, sizeof(k), "u%05d", j);
		int last = j < 1000 ? j + 2000 : j;
		if (hdb_kv_get(s, "unmapped", k, strlen(k), &v, &n) != HDB_OK)
			return 8;
		int ok = n == sizeof(val) && ((char *)v)[0] == 'a' + last % 26;
		hdb_free(v);
		if (!ok)
			return 9;
	}
	hdb_session_close(s);
	hdb_close(db);
	return 0;
}

/* Puts of a txn whose keys sort past the end of the tree (a new keyspace
 * filled in one txn) are appended (MDB_APPEND, engine/session.c): sorted
 * in the write buffer when encrypted, as they come in plaintext mode.  Equal
 * keys (the last put wins) and a later txn whose keys land between existing
 * ones go through ordinary puts.  Every value must come back as put last. */
static void append_paths(struct hdb_session *s)
{
	char k[16];
	uint32_t val;
	void *v;
	size_t n;
	assert_int_equal(hdb_begin(s, 0), HDB_OK);
	for (uint32_t i = 0; i < 5000; i++) {
		snprintf(k, sizeof(k), "r%06u", i * 2);
		val = i * 2;
		assert_int_equal(hdb_kv_put(s, "app", k, strlen(k), &val, sizeof(val)), HDB_OK);
		if (i % 100 == 7) {
			val += 1000000; /* the same key again, in the same flush */
			assert_int_equal(hdb_kv_put(s, "app", k, strlen(k), &val, sizeof(val)), HDB_OK);
		}
	}
	assert_int_equal(hdb_commit(s), HDB_OK);
	/* odd keys between the even ones and past the end, and even ones again */
	assert_int_equal(hdb_begin(s, 0), HDB_OK);
	for (uint32_t i = 0; i < 6000; i++) {
		snprintf(k, sizeof(k), "r%06u", i * 2 + 1);
		val = i * 2 + 1;
		assert_int_equal(hdb_kv_put(s, "app", k, strlen(k), &val, sizeof(val)), HDB_OK);
	}
	snprintf(k, sizeof(k), "r%06u", 40);
	val = 7;
	assert_int_equal(hdb_kv_put(s, "app", k, strlen(k), &val, sizeof(val)), HDB_OK);
	assert_int_equal(hdb_commit(s), HDB_OK);
	for (uint32_t i = 0; i < 12000; i++) {
		snprintf(k, sizeof(k), "r%06u", i);
		int rc = hdb_kv_get(s, "app", k, strlen(k), &v, &n);
		if (i % 2 == 0 && i >= 10000) {
			assert_int_equal(rc, HDB_ENOTFOUND);
			continue;
		}
		assert_int_equal(rc, HDB_OK);
		assert_int_equal(n, sizeof(val));
		memcpy(&val, v, sizeof(val));
		hdb_free(v);
		uint32_t want = i == 40 ? 7 : i % 2 == 0 && (i / 2) % 100 == 7 ? i + 1000000 : i;
		assert_int_equal(val, want);
	}
	assert_int_equal(hdb_verify(s, HDB_VERIFY_INTEGRITY, NULL, NULL), HDB_OK);
}

static void test_flush_append_paths(void **state)
{
	struct fx *f = *state;
	append_paths(f->s); /* encrypted: through the write buffer */
	struct hdb_config *cfg = NULL;
	struct hdb_db *db = NULL;
	struct hdb_session *s = NULL;
	const struct hdb_principal who = { "t", "local", "test_engine" };
	assert_int_equal(hdb_config_new(&cfg), HDB_OK);
	assert_int_equal(hdb_config_set_encryption(cfg, false), HDB_OK);
	assert_int_equal(hdb_config_apply(cfg, "audit.enabled = false"), HDB_OK);
	assert_int_equal(hdb_open_in_memory(cfg, &db), HDB_OK);
	assert_int_equal(hdb_session_open(db, &who, &s), HDB_OK);
	append_paths(s); /* plaintext: straight to LMDB */
	hdb_session_close(s);
	hdb_close(db);
	hdb_config_free(cfg);
}

/* LMDB trusts its page headers: a last leaf whose header claims no keys
 * makes the tree's last key read as garbage.  Appending past such an end
 * put the new keys into the damaged page, where most were lost although
 * the commit succeeded (found by a review).  The end must be one a search
 * finds; otherwise the puts are ordinary, and then every committed key
 * reads back (or the commit fails): never a silent loss. */
static void test_append_damaged_end(void **state)
{
	struct fx *f = *state;
	char k[32];
	static char big[3000];
	fx_close(f);
	assert_int_equal(hdb_config_apply(f->cfg, "audit.enabled = false"), HDB_OK);
	fx_open(f, 0);
	for (int i = 0; i < 200; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		assert_int_equal(hdb_kv_put(f->s, "a", k, strlen(k), "v", 1), HDB_OK);
	}
	memset(big, 'x', sizeof(big));
	assert_int_equal(hdb_kv_put(f->s, "z", "last", 4, big, sizeof(big)), HDB_OK);
	fx_close(f);
	/* the page of the tree's last key: its header (mp_pgno first) starts
	 * at the page boundary below the key in the map */
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi data;
	raw_open(f->path, &env, &txn, &data, NULL);
	MDB_stat st;
	assert_int_equal(mdb_env_stat(env, &st), 0);
	MDB_cursor *c;
	MDB_val mk, mv;
	assert_int_equal(mdb_cursor_open(txn, data, &c), 0);
	assert_int_equal(mdb_cursor_get(c, &mk, &mv, MDB_LAST), 0);
	uintptr_t base = (uintptr_t)mk.mv_data & ~(uintptr_t)(st.ms_psize - 1);
	uint64_t pgno;
	memcpy(&pgno, (const void *)base, sizeof(pgno));
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	/* mp_lower (offset 12) = the header's size: "no keys"; and zeros after
	 * the file's end, as a crash leaves them (engine/db.c, file growth) */
	char dm[700];
	snprintf(dm, sizeof(dm), "%s/data.mdb", f->path);
	int fd = open(dm, O_RDWR);
	assert_true(fd >= 0);
	const uint16_t lower = 16;
	assert_int_equal(pwrite(fd, &lower, sizeof(lower), (off_t)(pgno * st.ms_psize + 12)), (ssize_t)sizeof(lower));
	struct stat sb;
	assert_int_equal(fstat(fd, &sb), 0);
	assert_int_equal(ftruncate(fd, sb.st_size + ((off_t)1 << 20)), 0);
	close(fd);
	/* the structure check at open refuses such a file; without it, the
	 * write path itself must not lose writes on it */
	struct hdb_db *db = NULL;
	assert_int_equal(hdb_open(f->path, f->cfg, 0, &db), HDB_ECORRUPT);
	assert_non_null(strstr(hdb_errmsg(db), "a leaf page without keys"));
	hdb_close(db);
	assert_int_equal(hdb_config_apply(f->cfg, "storage.check_structure_on_open = false"), HDB_OK);
	fx_open(f, 0);
	int rc = hdb_begin(f->s, 0);
	for (int i = 0; rc == HDB_OK && i < 20; i++) {
		snprintf(k, sizeof(k), "new%d", i);
		rc = hdb_kv_put(f->s, "a", k, strlen(k), "v", 1);
	}
	if (rc == HDB_OK)
		rc = hdb_commit(f->s);
	else
		(void)hdb_abort(f->s);
	if (rc == HDB_OK) {
		int back = 0;
		for (int i = 0; i < 20; i++) {
			void *v;
			size_t n;
			snprintf(k, sizeof(k), "new%d", i);
			if (hdb_kv_get(f->s, "a", k, strlen(k), &v, &n) == HDB_OK) {
				back++;
				hdb_free(v);
			}
		}
		print_message("committed; %d of 20 read back\n", back);
		assert_int_equal(back, 20);
	} else {
		print_message("refused: %s\n", hdb_session_errmsg(f->s));
	}
}

static void test_buffer_unmapped(void **state)
{
	struct fx *f = *state;
	fx_close(f); /* no shipper thread (and its locks) across the fork */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(60);
		_exit(buffer_unmapped_child(f));
	}
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	fx_open(f, 0);
}

static const struct hdb_column_def employee_cols[] = {
	{ "id", HDB_T_INT4, true, 1 },
	{ "ssn", HDB_T_TEXT, false, 0 },
	{ "credit_card", HDB_T_TEXT, false, 0 },
	{ "salary", HDB_T_FLOAT8, false, 0 },
	{ "amount", HDB_T_NUMERIC, false, 0 },
	{ "hired", HDB_T_DATE, false, 0 },
	{ "active", HDB_T_BOOL, false, 0 },
	{ "photo", HDB_T_BYTEA, false, 0 },
	{ "grade", HDB_T_INT2, false, 0 },
	{ "badge", HDB_T_INT8, false, 0 },
	{ "seen", HDB_T_TIMESTAMP, false, 0 },
};
#define NEMP (sizeof(employee_cols) / sizeof(employee_cols[0]))

static void emp_row(struct hdb_value *v, int id, const char *ssn)
{
	v[0] = hdb_int4(id);
	v[1] = hdb_text(ssn);
	v[2] = hdb_text("4111-1111-1111-1111");
	v[3] = hdb_float8(125000.5);
	v[4] = hdb_numeric("12.50");
	v[5] = hdb_date(19000);
	v[6] = hdb_bool(true);
	v[7] = hdb_bytea("\x00\x01\x02", 3);
	v[8] = hdb_int2(7);
	v[9] = hdb_int8(INT64_MIN);
	v[10] = hdb_timestamp(-1);
}

static void test_table_crud(void **state)
{
	struct fx *f = *state;
	assert_int_equal(hdb_table_create(f->s, "employees", employee_cols, NEMP), HDB_OK);
	assert_int_equal(hdb_table_create(f->s, "employees", employee_cols, NEMP), HDB_EEXIST);
	struct hdb_value v[NEMP];
	emp_row(v, 1, "123-45-6789");
	assert_int_equal(hdb_insert(f->s, "employees", v, NEMP), HDB_OK);
	assert_int_equal(hdb_insert(f->s, "employees", v, NEMP), HDB_EEXIST);
	assert_non_null(strstr(hdb_session_errmsg(f->s), "primary key"));
	emp_row(v, 2, "987-65-4321");
	assert_int_equal(hdb_insert(f->s, "employees", v, NEMP), HDB_OK);

	struct hdb_value k = hdb_int4(1);
	struct hdb_row *r;
	assert_int_equal(hdb_get(f->s, "employees", &k, 1, &r), HDB_OK);
	assert_int_equal(hdb_row_ncolumns(r), NEMP);
	assert_int_equal(hdb_row_value(r, 0)->u.i32, 1);
	assert_memory_equal(hdb_row_value(r, 1)->u.s.ptr, "123-45-6789", 11);
	assert_true(hdb_row_value(r, 3)->u.f64 == 125000.5);
	assert_memory_equal(hdb_row_value(r, 4)->u.s.ptr, "12.50", 5);
	assert_int_equal(hdb_row_value(r, 9)->u.i64, INT64_MIN);
	assert_int_equal(hdb_row_value(r, 7)->u.s.len, 3);
	hdb_row_free(r);

	/* update in place, then change the key */
	emp_row(v, 1, "000-00-0000");
	v[1] = hdb_null(HDB_T_TEXT);
	assert_int_equal(hdb_update(f->s, "employees", &k, 1, v, NEMP), HDB_OK);
	assert_int_equal(hdb_get(f->s, "employees", &k, 1, &r), HDB_OK);
	assert_true(hdb_row_value(r, 1)->is_null);
	hdb_row_free(r);
	emp_row(v, 10, "111-11-1111");
	assert_int_equal(hdb_update(f->s, "employees", &k, 1, v, NEMP), HDB_OK);
	assert_int_equal(hdb_get(f->s, "employees", &k, 1, &r), HDB_ENOTFOUND);
	k = hdb_int4(10);
	assert_int_equal(hdb_get(f->s, "employees", &k, 1, &r), HDB_OK);
	hdb_row_free(r);

	int n = 0;
	assert_int_equal(hdb_scan(f->s, "employees", count_rows, &n), HDB_OK);
	assert_int_equal(n, 2);
	assert_int_equal(hdb_delete(f->s, "employees", &k, 1), HDB_OK);
	assert_int_equal(hdb_delete(f->s, "employees", &k, 1), HDB_ENOTFOUND);
	n = 0;
	assert_int_equal(hdb_scan(f->s, "employees", count_rows, &n), HDB_OK);
	assert_int_equal(n, 1);

	/* constraint errors name the column */
	emp_row(v, 3, "x");
	v[3] = hdb_text("not a float");
	assert_int_equal(hdb_insert(f->s, "employees", v, NEMP), HDB_ECONSTRAINT);
	assert_non_null(strstr(hdb_session_errmsg(f->s), "salary"));
	emp_row(v, 3, "x");
	v[0] = hdb_null(HDB_T_INT4);
	assert_int_equal(hdb_insert(f->s, "employees", v, NEMP), HDB_ECONSTRAINT);
	assert_int_equal(hdb_insert(f->s, "nope", v, NEMP), HDB_ENOTFOUND);
	assert_non_null(strstr(hdb_session_errmsg(f->s), "'nope' does not exist"));

	/* schema and listing come from the (encrypted) catalog */
	struct hdb_schema *sc;
	assert_int_equal(hdb_table_schema(f->s, "employees", &sc), HDB_OK);
	assert_int_equal(hdb_schema_ncolumns(sc), NEMP);
	assert_string_equal(hdb_schema_column(sc, 2)->name, "credit_card");
	assert_int_equal(hdb_schema_column(sc, 0)->pk_position, 1);
	hdb_schema_free(sc);
	char **names;
	size_t nn;
	assert_int_equal(hdb_table_create(f->s, "a_first", employee_cols, 1), HDB_OK);
	assert_int_equal(hdb_table_list(f->s, &names, &nn), HDB_OK);
	assert_int_equal(nn, 2);
	assert_string_equal(names[0], "a_first");
	assert_string_equal(names[1], "employees");
	hdb_free_names(names, nn);

	assert_int_equal(hdb_table_drop(f->s, "employees"), HDB_OK);
	assert_int_equal(hdb_get(f->s, "employees", &k, 1, &r), HDB_ENOTFOUND);
	assert_int_equal(hdb_table_drop(f->s, "employees"), HDB_ENOTFOUND);
	/* recreated empty */
	assert_int_equal(hdb_table_create(f->s, "employees", employee_cols, NEMP), HDB_OK);
	n = 0;
	assert_int_equal(hdb_scan(f->s, "employees", count_rows, &n), HDB_OK);
	assert_int_equal(n, 0);
}

static void test_composite_and_nopk(void **state)
{
	struct fx *f = *state;
	const struct hdb_column_def cols[] = {
		{ "a", HDB_T_TEXT, true, 1 }, { "b", HDB_T_TEXT, true, 2 }, { "v", HDB_T_INT8, false, 0 } };
	assert_int_equal(hdb_table_create(f->s, "comp", cols, 3), HDB_OK);
	struct hdb_value r1[3] = { hdb_text("ab"), hdb_text("c"), hdb_int8(1) };
	struct hdb_value r2[3] = { hdb_text("a"), hdb_text("bc"), hdb_int8(2) };
	assert_int_equal(hdb_insert(f->s, "comp", r1, 3), HDB_OK);
	assert_int_equal(hdb_insert(f->s, "comp", r2, 3), HDB_OK);
	struct hdb_row *r;
	assert_int_equal(hdb_get(f->s, "comp", r2, 2, &r), HDB_OK);
	assert_int_equal(hdb_row_value(r, 2)->u.i64, 2);
	hdb_row_free(r);
	assert_int_equal(hdb_get(f->s, "comp", r2, 1, &r), HDB_EINVAL);

	const struct hdb_column_def hist[] = { { "tid", HDB_T_INT4, false, 0 }, { "delta", HDB_T_INT4, false, 0 } };
	assert_int_equal(hdb_table_create(f->s, "history", hist, 2), HDB_OK);
	struct hdb_value h[2] = { hdb_int4(1), hdb_int4(5) };
	for (int i = 0; i < 5; i++)
		assert_int_equal(hdb_insert(f->s, "history", h, 2), HDB_OK);
	int n = 0;
	assert_int_equal(hdb_scan(f->s, "history", count_rows, &n), HDB_OK);
	assert_int_equal(n, 5);
	assert_int_equal(hdb_get(f->s, "history", h, 1, &r), HDB_EINVAL);
}

static void test_cursor(void **state)
{
	struct fx *f = *state;
	const struct hdb_column_def cols[] = { { "id", HDB_T_INT8, true, 1 }, { "t", HDB_T_TEXT, false, 0 } };
	assert_int_equal(hdb_table_create(f->s, "cur", cols, 2), HDB_OK);
	struct hdb_value rows[50][2];
	for (int i = 0; i < 50; i++) {
		rows[i][0] = hdb_int8(i);
		rows[i][1] = hdb_text("row");
	}
	assert_int_equal(hdb_insert_batch(f->s, "cur", &rows[0][0], 50, 2), HDB_OK);
	struct hdb_cursor *c;
	assert_int_equal(hdb_cursor_open(f->s, "cur", &c), HDB_OK);
	const struct hdb_row *r;
	int n = 0;
	int64_t sum = 0;
	while (hdb_cursor_next(c, &r) == HDB_OK) {
		n++;
		sum += hdb_row_value(r, 0)->u.i64;
	}
	hdb_cursor_close(c);
	assert_int_equal(n, 50);
	assert_int_equal(sum, 49 * 50 / 2);
}

/* Scans in a read txn of their own step the cursor one entry ahead (and
 * prefetch its value) while the current one is decrypted; in the caller's
 * txn (which may write, or end) they do not.
 * Either way every entry comes exactly once with its own value, and a stop
 * leaves the session usable.  Values from 1 byte to overflow pages. */
#define LA_N 400
struct la_acc {
	int seen[LA_N];
	int n, stop_at;
};

static size_t la_len(int i)
{
	return (size_t)1 + (size_t)(i * 37) % 5000;
}

static void la_check(struct la_acc *a, int i, const unsigned char *v, size_t vl)
{
	assert_true(i >= 0 && i < LA_N);
	assert_int_equal(vl, la_len(i));
	for (size_t j = 0; j < vl; j++)
		assert_int_equal(v[j], (unsigned char)(i + (int)j));
	a->seen[i]++;
	a->n++;
}

static int la_kv(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct la_acc *a = arg;
	char key[16];
	assert_true(kl < sizeof(key));
	memcpy(key, k, kl);
	key[kl] = '\0';
	la_check(a, atoi(key + 2), v, vl);
	return a->stop_at && a->n == a->stop_at ? 7 : 0;
}

struct la_end {
	struct hdb_session *s;
	int n;
};

static int la_end_txn(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)k;
	(void)kl;
	(void)v;
	(void)vl;
	struct la_end *e = arg;
	if (++e->n == 3)
		assert_int_equal(hdb_commit(e->s), HDB_OK);
	return 0;
}

static void la_fill(unsigned char *v, int i)
{
	for (size_t j = 0; j < la_len(i); j++)
		v[j] = (unsigned char)(i + (int)j);
}

/* The plaintext scratch a payload is assembled in (s->pbuf) holds no byte
 * of any value once the write txn ends, not even the tail of a longer
 * value put before a shorter one. */
/* No plaintext outlives its write txn in the session's scratch: a table row
 * is encoded there (a long one, then a short one that leaves the long one's
 * tail behind it) and must be wiped at commit and at abort; a large
 * key-value value is sealed straight from the caller's buffer and never
 * copied there at all. */
static void test_payload_wiped(void **state)
{
	struct fx *f = *state;
	static const struct hdb_column_def cols[] = { { "id", HDB_T_INT4, true, 1 }, { "note", HDB_T_TEXT, false, 0 } };
	assert_int_equal(hdb_table_create(f->s, "wipe", cols, 2), HDB_OK);
	char big[3000];
	memset(big, 'Z', sizeof(big));
	for (int end = 0; end < 2; end++) {
		struct hdb_value v[2];
		assert_int_equal(hdb_begin(f->s, 0), HDB_OK);
		v[0] = hdb_int4(2 * end);
		v[1] = hdb_textn(big, sizeof(big));
		assert_int_equal(hdb_insert(f->s, "wipe", v, 2), HDB_OK);
		v[0] = hdb_int4(2 * end + 1);
		v[1] = hdb_text("tiny");
		assert_int_equal(hdb_insert(f->s, "wipe", v, 2), HDB_OK);
		if (end == 0)
			assert_int_equal(hdb_commit(f->s), HDB_OK);
		else
			hdb_abort(f->s);
		assert_true(f->s->pbuf.cap >= sizeof(big));
		size_t z = 0;
		for (size_t i = 0; i < f->s->pbuf.cap; i++)
			z += f->s->pbuf.p[i] == 'Z';
		assert_int_equal(z, 0);
	}
	/* key-value: 64 KiB and 4000 bytes of 'Y' (unbuffered and buffered
	 * puts), looked for before the commit could wipe anything */
	static unsigned char kv[65536];
	memset(kv, 'Y', sizeof(kv));
	assert_int_equal(hdb_begin(f->s, 0), HDB_OK);
	assert_int_equal(hdb_kv_put(f->s, "wipe", "long", 4, kv, sizeof(kv)), HDB_OK);
	assert_int_equal(hdb_kv_put(f->s, "wipe", "long2", 5, kv, 4000), HDB_OK);
	for (size_t i = 0; i < f->s->pbuf.cap; i++)
		assert_int_not_equal(f->s->pbuf.p[i], 'Y');
	assert_int_equal(hdb_commit(f->s), HDB_OK);
	void *got = NULL;
	size_t gl = 0;
	assert_int_equal(hdb_kv_get(f->s, "wipe", "long", 4, &got, &gl), HDB_OK);
	assert_int_equal(gl, sizeof(kv));
	assert_memory_equal(got, kv, sizeof(kv));
	hdb_free(got);
}

static uint64_t file_size(const char *path)
{
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	return (uint64_t)sb.st_size;
}

/* the same, read from the closed database's file with LMDB itself */
static uint64_t raw_end(const char *path)
{
	MDB_env *env;
	MDB_envinfo info;
	MDB_stat st;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_open(env, path, MDB_RDONLY, 0600), 0);
	assert_int_equal(mdb_env_info(env, &info), 0);
	assert_int_equal(mdb_env_stat(env, &st), 0);
	mdb_env_close(env);
	return ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
}

/* LMDB's end of data: everything up to the last committed page */
static uint64_t pages_end(struct hdb_db *db)
{
	MDB_envinfo info;
	assert_int_equal(mdb_env_info(db->env, &info), 0);
	return ((uint64_t)info.me_last_pgno + 1) * db->psize;
}

/* db_grow: synced commits find written zeros past the last page (so the
 * file system need not commit its journal for a grown file); a clean close
 * cuts them off; an unclean end leaves them, and the next open is fine. */
static void test_file_growth(void **state)
{
	struct fx *f = *state;
	char file[700], copy[800];
	snprintf(file, sizeof(file), "%s/data.mdb", f->path);
	unsigned char v[3000];
	memset(v, 'g', sizeof(v));
	char k[16];
	for (int i = 0; i < 200; i++) {
		snprintf(k, sizeof(k), "g%d", i);
		assert_int_equal(hdb_kv_put(f->s, "grow", k, strlen(k), v, sizeof(v)), HDB_OK);
		/* before every commit at least half a chunk of zeros lies ahead; the
		 * commit itself then used a page or two of them */
		uint64_t end = pages_end(f->db), size = file_size(file);
		assert_true(size + (64 << 10) >= end + ENGINE_GROW_CHUNK / 2);
		assert_true(size <= end + ENGINE_GROW_CHUNK + (64 << 10));
	}
	uint64_t end = pages_end(f->db);
	assert_true(end > ENGINE_GROW_CHUNK / 2); /* 200 x 3000 bytes: the file moved past its first chunk */

	/* what a crash leaves: the file with its zeros (copied while quiet) */
	char dir2[700];
	snprintf(dir2, sizeof(dir2), "%s/crashed", f->dir);
	assert_int_equal(mkdir(dir2, 0700), 0);
	snprintf(copy, sizeof(copy), "%s/data.mdb", dir2);
	char cmd[1600];
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", file, copy);
	assert_int_equal(system(cmd), 0);
	uint64_t crashed = file_size(copy);
	assert_true(crashed > end);

	fx_close(f);
	/* clean close: exactly the pages (the close's own audit records may
	 * have been committed on a page past `end`: CI saw it) */
	uint64_t closed_end = raw_end(f->path);
	assert_true(closed_end >= end);
	assert_int_equal(file_size(file), closed_end);

	/* the copy with its zeros opens, reads, verifies; its close trims it only
	 * if that process grew it (a read here does not) */
	struct hdb_config *c2 = NULL;
	assert_int_equal(hdb_config_new(&c2), HDB_OK);
	assert_int_equal(hdb_config_apply(c2, "audit.enabled = false"), HDB_OK);
	struct hdb_db *db2 = NULL;
	struct hdb_session *s2 = NULL;
	struct hdb_principal who = { "tester", "127.0.0.1", "test_engine" };
	assert_int_equal(hdb_open(dir2, c2, 0, &db2), HDB_OK);
	assert_int_equal(hdb_session_open(db2, &who, &s2), HDB_OK);
	void *got = NULL;
	size_t gl = 0;
	assert_int_equal(hdb_kv_get(s2, "grow", "g199", 4, &got, &gl), HDB_OK);
	assert_int_equal(gl, sizeof(v));
	assert_memory_equal(got, v, sizeof(v));
	hdb_free(got);
	assert_int_equal(hdb_verify(s2, HDB_VERIFY_ENCRYPTION | HDB_VERIFY_INTEGRITY, NULL, NULL), HDB_OK);
	hdb_session_close(s2);
	hdb_close(db2);
	assert_int_equal(file_size(copy), crashed);
	hdb_config_free(c2);

	/* without syncing there is nothing to save: no zeros */
	setenv("HELIOSDB_NOSYNC", "1", 1);
	fx_open(f, 0);
	unsetenv("HELIOSDB_NOSYNC");
	assert_int_equal(hdb_kv_put(f->s, "grow", "more", 4, v, sizeof(v)), HDB_OK);
	assert_true(file_size(file) <= pages_end(f->db));
	fx_close(f);

	/* another process has it open: a close leaves the zeros (it neither
	 * waits for that process's writes nor takes the zeros from it); the
	 * last one out cuts them */
	int go[2], ready[2];
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(ready), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(30); /* never outlive a parent that failed an assertion */
		struct hdb_db *cdb = NULL;
		char c = hdb_open(f->path, f->cfg, 0, &cdb) == HDB_OK ? 'y' : 'n';
		if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(2);
		hdb_close(cdb);
		_exit(0);
	}
	char c = 0;
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(c, 'y');
	fx_open(f, 0);
	for (int i = 0; i < 20; i++) {
		snprintf(k, sizeof(k), "s%d", i);
		assert_int_equal(hdb_kv_put(f->s, "grow", k, strlen(k), v, sizeof(v)), HDB_OK);
	}
	fx_close(f);
	assert_true(file_size(file) >= raw_end(f->path) + ENGINE_GROW_CHUNK / 4); /* not alone: kept */
	assert_int_equal(write(go[1], "g", 1), 1);
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(file_size(file), raw_end(f->path)); /* the child closed last, alone */
	close(go[0]);
	close(go[1]);
	close(ready[0]);
	close(ready[1]);
	fx_open(f, 0);
}

/* A scan in a plaintext database hands its callback pointers into LMDB's
 * pages; a callback that puts them (large values included) must store
 * what it was given, although the put moves pages under those pointers. */
struct copy_arg {
	struct hdb_session *s;
	int n, rc;
};

static int copy_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct copy_arg *a = arg;
	char k2[64];
	/* "<key>_" sorts right after <key>: the put lands on the very page
	 * that holds val, and splits it */
	if (klen > 40 || ((const char *)key)[klen - 1] == '_')
		return 0;
	memcpy(k2, key, klen);
	k2[klen] = '_';
	int rc = hdb_kv_put(a->s, "copy", k2, klen + 1, val, vlen);
	if (rc && !a->rc)
		a->rc = rc;
	a->n++;
	return 0;
}

static void copy_value(unsigned char *v, size_t n, int i)
{
	for (size_t j = 0; j < n; j++)
		v[j] = (unsigned char)(i * 131 + (int)j * 7);
}

static void test_plain_scan_put_copies(void **state)
{
	struct fx *f = *state;
	fx_recreate(f);
	assert_int_equal(hdb_config_set_encryption(f->cfg, false), HDB_OK);
	fx_open(f, HDB_OPEN_CREATE);
	static const size_t sizes[] = { 400, 600, 1000, 1500 };
	static unsigned char v[1500], *got;
	char k[32];
	for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
		size_t n = sizes[z];
		assert_int_equal(hdb_begin(f->s, 0), HDB_OK);
		for (int i = 0; i < 300; i++) {
			snprintf(k, sizeof(k), "c%zu-%d", n, i);
			copy_value(v, n, i);
			assert_int_equal(hdb_kv_put(f->s, "copy", k, strlen(k), v, n), HDB_OK);
		}
		struct copy_arg a = { f->s, 0, 0 };
		assert_int_equal(hdb_kv_scan(f->s, "copy", copy_cb, &a), HDB_OK);
		assert_int_equal(a.rc, HDB_OK);
		assert_true(a.n >= 300);
		assert_int_equal(hdb_commit(f->s), HDB_OK);
		for (int i = 0; i < 300; i++) {
			snprintf(k, sizeof(k), "c%zu-%d_", n, i);
			size_t gl = 0;
			assert_int_equal(hdb_kv_get(f->s, "copy", k, strlen(k), (void **)&got, &gl), HDB_OK);
			copy_value(v, n, i);
			assert_int_equal(gl, n);
			assert_memory_equal(got, v, n);
			hdb_free(got);
		}
	}
	fx_recreate(f);
	assert_int_equal(hdb_config_set_encryption(f->cfg, true), HDB_OK);
	fx_open(f, HDB_OPEN_CREATE);
}

static void test_scan_lookahead(void **state)
{
	struct fx *f = *state;
	static unsigned char v[5001];
	char k[16];
	assert_int_equal(hdb_begin(f->s, 0), HDB_OK);
	for (int i = 0; i < LA_N; i++) {
		snprintf(k, sizeof(k), "la%d", i);
		la_fill(v, i);
		assert_int_equal(hdb_kv_put(f->s, "la", k, strlen(k), v, la_len(i)), HDB_OK);
	}
	assert_int_equal(hdb_commit(f->s), HDB_OK);

	struct la_acc a = { { 0 }, 0, 0 };
	assert_int_equal(hdb_kv_scan(f->s, "la", la_kv, &a), HDB_OK);     /* autocommit: read txn */
	assert_int_equal(a.n, LA_N);
	for (int i = 0; i < LA_N; i++)
		assert_int_equal(a.seen[i], 1);
	memset(&a, 0, sizeof(a));
	a.stop_at = 123;
	assert_int_equal(hdb_kv_scan(f->s, "la", la_kv, &a), 7);
	assert_int_equal(a.n, 123);
	memset(&a, 0, sizeof(a));
	assert_int_equal(hdb_begin(f->s, HDB_TXN_RDONLY), HDB_OK);  /* explicit read txn */
	assert_int_equal(hdb_kv_scan(f->s, "la", la_kv, &a), HDB_OK);
	assert_int_equal(hdb_commit(f->s), HDB_OK);
	assert_int_equal(a.n, LA_N);
	memset(&a, 0, sizeof(a));
	assert_int_equal(hdb_begin(f->s, 0), HDB_OK);                /* write txn: no look-ahead */
	assert_int_equal(hdb_kv_put(f->s, "la", "la0", 3, "x", 1), HDB_OK);
	assert_int_equal(hdb_kv_delete(f->s, "la", "la1", 3), HDB_OK);
	struct scanacc c = { 0 };
	assert_int_equal(hdb_kv_scan(f->s, "la", kv_count, &c), HDB_OK);
	assert_int_equal(c.n, LA_N - 1);
	assert_int_equal(hdb_abort(f->s), HDB_OK);

	/* a callback that ends the caller's read txn mid-scan: the scan stops
	 * with an error, it does not go on reading a released snapshot */
	struct la_end end = { f->s, 0 };
	assert_int_equal(hdb_begin(f->s, HDB_TXN_RDONLY), HDB_OK);
	int erc = hdb_kv_scan(f->s, "la", la_end_txn, &end);
	assert_true(erc < 0);
	assert_int_equal(end.n, 3);

	/* table cursors: own read txn, borrowed read txn, borrowed write txn */
	const struct hdb_column_def cols[] = { { "id", HDB_T_INT4, true, 1 }, { "b", HDB_T_BYTEA, false, 0 } };
	assert_int_equal(hdb_table_create(f->s, "la", cols, 2), HDB_OK);
	assert_int_equal(hdb_begin(f->s, 0), HDB_OK);
	for (int i = 0; i < LA_N; i++) {
		la_fill(v, i);
		struct hdb_value row[2] = { hdb_int4(i), hdb_bytea(v, la_len(i)) };
		assert_int_equal(hdb_insert(f->s, "la", row, 2), HDB_OK);
	}
	assert_int_equal(hdb_commit(f->s), HDB_OK);
	for (int mode = 0; mode < 3; mode++) {
		if (mode)
			assert_int_equal(hdb_begin(f->s, mode == 1 ? HDB_TXN_RDONLY : 0), HDB_OK);
		memset(&a, 0, sizeof(a));
		struct hdb_cursor *cur;
		const struct hdb_row *r;
		assert_int_equal(hdb_cursor_open(f->s, "la", &cur), HDB_OK);
		while (hdb_cursor_next(cur, &r) == HDB_OK) {
			const struct hdb_value *b = hdb_row_value(r, 1);
			la_check(&a, (int)hdb_row_value(r, 0)->u.i32, (const unsigned char *)b->u.s.ptr, b->u.s.len);
		}
		hdb_cursor_close(cur);
		assert_int_equal(a.n, LA_N);
		if (mode)
			assert_int_equal(hdb_commit(f->s), HDB_OK);
	}
	/* a borrowed read txn that ends while the cursor is open: the next
	 * call fails, it does not hand out a row of the released snapshot */
	{
		struct hdb_cursor *bc;
		const struct hdb_row *br;
		assert_int_equal(hdb_begin(f->s, HDB_TXN_RDONLY), HDB_OK);
		assert_int_equal(hdb_cursor_open(f->s, "la", &bc), HDB_OK);
		assert_int_equal(hdb_cursor_next(bc, &br), HDB_OK);
		assert_int_equal(hdb_commit(f->s), HDB_OK);
		assert_int_not_equal(hdb_cursor_next(bc, &br), HDB_OK);
		hdb_cursor_close(bc);
	}
	/* closed early, with the next entry already fetched */
	struct hdb_cursor *cur;
	const struct hdb_row *r;
	assert_int_equal(hdb_cursor_open(f->s, "la", &cur), HDB_OK);
	assert_int_equal(hdb_cursor_next(cur, &r), HDB_OK);
	hdb_cursor_close(cur);
	void *got;
	size_t gl;
	assert_int_equal(hdb_kv_get(f->s, "la", "la2", 3, &got, &gl), HDB_OK);
	assert_int_equal(gl, la_len(2));
	hdb_free(got);
}

/* DESIGN promise 1: nothing readable at rest, not even names. */
static void test_canaries_not_on_disk(void **state)
{
	struct fx *f = *state;
	const struct hdb_column_def cols[] = { { "CanaryColumnQ7", HDB_T_TEXT, true, 1 },
		                               { "v", HDB_T_TEXT, false, 0 } };
	assert_int_equal(hdb_table_create(f->s, "CanaryTableZ9", cols, 2), HDB_OK);
	struct hdb_value v[2] = { hdb_text("CanaryPrimaryKeyX1"), hdb_text("CanaryValueW3") };
	assert_int_equal(hdb_insert(f->s, "CanaryTableZ9", v, 2), HDB_OK);
	struct hdb_value d[2] = { hdb_text("CanaryDeletedK5"), hdb_text("CanaryDeletedValueK6") };
	assert_int_equal(hdb_insert(f->s, "CanaryTableZ9", d, 2), HDB_OK);
	assert_int_equal(hdb_delete(f->s, "CanaryTableZ9", d, 1), HDB_OK);
	assert_int_equal(hdb_kv_put(f->s, "CanaryKeyspaceV2", "CanaryKvKeyU4", 13, "CanaryKvValT8", 13), HDB_OK);
	fx_close(f);
	char file[700];
	snprintf(file, sizeof(file), "%s/data.mdb", f->path);
	const char *canaries[] = { "CanaryColumnQ7", "CanaryTableZ9", "CanaryPrimaryKeyX1", "CanaryValueW3",
		                   "CanaryDeletedK5", "CanaryDeletedValueK6", "CanaryKeyspaceV2",
		                   "CanaryKvKeyU4", "CanaryKvValT8", "Canary" };
	for (size_t i = 0; i < sizeof(canaries) / sizeof(canaries[0]); i++)
		assert_false(file_contains(file, canaries[i], strlen(canaries[i])));
	fx_open(f, 0);
}

static void test_plaintext_mode_is_readable(void **state)
{
	/* the control for the test above: in plaintext mode the canary IS there */
	struct fx *f = *state;
	char p[700], file[800];
	snprintf(p, sizeof(p), "%s/plain", f->dir);
	struct hdb_config *cfg;
	assert_int_equal(hdb_config_new(&cfg), HDB_OK);
	assert_int_equal(hdb_config_set_encryption(cfg, false), HDB_OK);
	struct hdb_db *db = NULL;
	assert_int_equal(hdb_open(p, cfg, HDB_OPEN_CREATE, &db), HDB_OK);
	assert_false(hdb_is_encrypted(db));
	assert_string_equal(hdb_encryption_info(db), "Disabled");
	struct hdb_principal who = { "t", NULL, NULL };
	struct hdb_session *s;
	assert_int_equal(hdb_session_open(db, &who, &s), HDB_OK);
	assert_int_equal(hdb_kv_put(s, "ks", "k", 1, "PlainCanaryR2", 13), HDB_OK);
	hdb_session_close(s);
	hdb_close(db);
	snprintf(file, sizeof(file), "%s/data.mdb", p);
	assert_true(file_contains(file, "PlainCanaryR2", 13));
	/* an encrypted configuration refuses the plaintext database */
	assert_int_equal(hdb_open(p, f->cfg, 0, &db), HDB_ECONFIG);
	hdb_close(db);
	hdb_config_free(cfg);
}

static void test_wrong_key(void **state)
{
	struct fx *f = *state;
	assert_int_equal(hdb_kv_put(f->s, "ks", "k", 1, "v", 1), HDB_OK);
	fx_close(f);
	setenv("HELIOSDB_ENCRYPTION_KEY", TEST_KEY2_HEX, 1);
	struct hdb_db *db = NULL;
	assert_int_equal(hdb_open(f->path, f->cfg, 0, &db), HDB_EKEY);
	assert_non_null(strstr(hdb_errmsg(db), "wrong encryption key"));
	hdb_close(db);
	unsetenv("HELIOSDB_ENCRYPTION_KEY");
	db = NULL;
	assert_int_equal(hdb_open(f->path, f->cfg, 0, &db), HDB_EKEYSRC);
	assert_string_equal(hdb_errmsg(db), "Environment variable 'HELIOSDB_ENCRYPTION_KEY' not found");
	hdb_close(db);
	setenv("HELIOSDB_ENCRYPTION_KEY", "abc", 1);
	db = NULL;
	assert_int_equal(hdb_open(f->path, f->cfg, 0, &db), HDB_EKEYSRC);
	assert_string_equal(hdb_errmsg(db), "Hex key must be 64 characters (32 bytes), got 3");
	hdb_close(db);
	setenv("HELIOSDB_ENCRYPTION_KEY", TEST_KEY_HEX, 1);
	fx_open(f, 0);
}

/* DESIGN promise 2: a ciphertext copied to another row fails authentication. */
static void test_cut_and_paste(void **state)
{
	struct fx *f = *state;
	assert_int_equal(hdb_kv_put(f->s, "ks", "alice", 5, "balance=10", 10), HDB_OK);
	assert_int_equal(hdb_kv_put(f->s, "ks", "mallory", 7, "balance=0", 9), HDB_OK);
	fx_close(f);
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi data;
	raw_open(f->path, &env, &txn, &data, NULL);
	/* copy the longer value (alice's) over every 'V' entry of its size class */
	MDB_cursor *c;
	assert_int_equal(mdb_cursor_open(txn, data, &c), 0);
	MDB_val k, v, ks[4], vs[4];
	int n = 0;
	for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (((unsigned char *)k.mv_data)[0] != 'V')
			continue;
		ks[n].mv_size = k.mv_size;
		ks[n].mv_data = malloc(k.mv_size);
		memcpy(ks[n].mv_data, k.mv_data, k.mv_size);
		vs[n].mv_size = v.mv_size;
		vs[n].mv_data = malloc(v.mv_size);
		memcpy(vs[n].mv_data, v.mv_data, v.mv_size);
		n++;
	}
	mdb_cursor_close(c);
	assert_int_equal(n, 2);
	/* swap the two sealed values */
	assert_int_equal(mdb_put(txn, data, &ks[0], &vs[1], 0), 0);
	assert_int_equal(mdb_put(txn, data, &ks[1], &vs[0], 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	for (int i = 0; i < n; i++) {
		free(ks[i].mv_data);
		free(vs[i].mv_data);
	}
	fx_open(f, 0);
	void *val;
	size_t vl;
	assert_int_equal(hdb_kv_get(f->s, "ks", "alice", 5, &val, &vl), HDB_ECORRUPT);
	assert_non_null(strstr(hdb_session_errmsg(f->s), "Authentication tag verification failed"));
	assert_int_equal(hdb_kv_get(f->s, "ks", "mallory", 7, &val, &vl), HDB_ECORRUPT);
	assert_int_equal(hdb_verify(f->s, HDB_VERIFY_INTEGRITY, NULL, NULL), HDB_ECORRUPT);
	assert_non_null(strstr(hdb_session_errmsg(f->s), "keyspace 'ks'"));
}

static int key_count(void *arg, const struct hdb_key_info *ki)
{
	int *a = arg;
	a[0]++;
	if (ki->active)
		a[1] = (int)ki->key_id;
	if (ki->retired)
		a[2]++;
	return 0;
}

struct vprogress {
	unsigned calls, bad;
	uint64_t done, total;
};

static void vprogress_fn(void *arg, uint64_t done, uint64_t total)
{
	struct vprogress *p = arg;
	if (done < p->done || done > total || (p->calls && total != p->total))
		p->bad++;
	p->calls++;
	p->done = done;
	p->total = total;
}

/* verify tells its progress every 4096 values, ending at done == total ==
 * the entries it walked */
static void test_verify_progress(void **state)
{
	struct fx *f = *state;
	struct hdb_kv_op ops[1000];
	char keys[1000][32];
	for (int round = 0; round < 10; round++) {
		for (int i = 0; i < 1000; i++) {
			snprintf(keys[i], sizeof(keys[i]), "p%d-%d", round, i);
			ops[i] = (struct hdb_kv_op){ keys[i], strlen(keys[i]), "v", 1 };
		}
		assert_int_equal(hdb_kv_write_batch(f->s, "prog", ops, 1000), HDB_OK);
	}
	struct vprogress p = { 0 };
	assert_int_equal(hdb_verify_progress(f->s, HDB_VERIFY_INTEGRITY, NULL, NULL, vprogress_fn, &p), HDB_OK);
	assert_int_equal(p.bad, 0);
	assert_true(p.calls >= 3); /* 4096, 8192, the end */
	assert_true(p.total >= 10000);
	assert_int_equal(p.done, p.total);
}

/* NIST SP 800-38D 8.3: switch data keys at the configured count. */
static void test_data_key_switch(void **state)
{
	struct fx *f = *state;
	fx_close(f);
	assert_int_equal(hdb_config_set_max_encryptions(f->cfg, 10), HDB_OK);
	fx_open(f, 0);
	int before[3] = { 0 };
	assert_int_equal(hdb_key_list(f->s, key_count, before), HDB_OK);
	struct hdb_kv_op ops[25];
	char keys[25][16];
	for (int i = 0; i < 25; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%d", i);
		ops[i] = (struct hdb_kv_op){ keys[i], strlen(keys[i]), "v", 1 };
	}
	assert_int_equal(hdb_kv_write_batch(f->s, "sw", ops, 25), HDB_OK);
	int after[3] = { 0 };
	assert_int_equal(hdb_key_list(f->s, key_count, after), HDB_OK);
	assert_true(after[0] >= before[0] + 2);
	assert_true(after[1] > before[1]);
	/* every value still readable, also after reopening */
	fx_close(f);
	fx_open(f, 0);
	struct scanacc a = { 0 };
	assert_int_equal(hdb_kv_scan(f->s, "sw", kv_count, &a), HDB_OK);
	assert_int_equal(a.n, 25);
	assert_int_equal(hdb_verify(f->s, HDB_VERIFY_INTEGRITY, NULL, NULL), HDB_OK);
	/* an aborted switch leaves no trace */
	assert_int_equal(hdb_begin(f->s, 0), HDB_OK);
	assert_int_equal(hdb_kv_write_batch(f->s, "sw", ops, 25), HDB_OK);
	assert_int_equal(hdb_abort(f->s), HDB_OK);
	assert_int_equal(hdb_kv_write_batch(f->s, "sw", ops, 25), HDB_OK);
	a.n = 0;
	assert_int_equal(hdb_kv_scan(f->s, "sw", kv_count, &a), HDB_OK);
	assert_int_equal(a.n, 25);
	assert_int_equal(hdb_config_set_max_encryptions(f->cfg, UINT64_C(1) << 30), HDB_OK);
}

static void test_rotate_master_key(void **state)
{
	struct fx *f = *state;
	assert_int_equal(hdb_kv_put(f->s, "ks", "k", 1, "secret", 6), HDB_OK);
	struct hdb_config *ncfg;
	assert_int_equal(hdb_config_new(&ncfg), HDB_OK);
	assert_int_equal(hdb_config_set_key_source(ncfg, HDB_KEY_ENVIRONMENT, "NEW_KEY"), HDB_OK);
	setenv("NEW_KEY", TEST_KEY2_HEX, 1);
	assert_int_equal(hdb_rotate_master_key(f->s, ncfg), HDB_OK);
	/* same key again is refused */
	assert_int_equal(hdb_rotate_master_key(f->s, ncfg), HDB_EINVAL);
	fx_close(f);
	struct hdb_db *db = NULL;
	assert_int_equal(hdb_open(f->path, f->cfg, 0, &db), HDB_EKEY); /* old key no longer opens it */
	hdb_close(db);
	db = NULL;
	assert_int_equal(hdb_open(f->path, ncfg, 0, &db), HDB_OK);
	struct hdb_principal who = { "t", NULL, NULL };
	struct hdb_session *s;
	assert_int_equal(hdb_session_open(db, &who, &s), HDB_OK);
	void *v;
	size_t n;
	assert_int_equal(hdb_kv_get(s, "ks", "k", 1, &v, &n), HDB_OK);
	assert_memory_equal(v, "secret", 6);
	hdb_free(v);
	/* and back again, so the fixture reopens */
	assert_int_equal(hdb_rotate_master_key(s, f->cfg), HDB_OK);
	hdb_session_close(s);
	hdb_close(db);
	hdb_config_free(ncfg);
	fx_open(f, 0);
}

struct vacc {
	int keys[8];
	unsigned long long vals[8];
	int n;
};

static int vcount(void *arg, const struct hdb_verify_item *it)
{
	struct vacc *a = arg;
	if (strcmp(it->kind, "data-key") == 0 && a->n < 8) {
		a->keys[a->n] = atoi(it->name);
		a->vals[a->n++] = it->values;
	}
	return 0;
}

static void test_rekey(void **state)
{
	struct fx *f = *state;
	const struct hdb_column_def cols[] = { { "id", HDB_T_INT4, true, 1 }, { "t", HDB_T_TEXT, false, 0 } };
	assert_int_equal(hdb_table_create(f->s, "rk", cols, 2), HDB_OK);
	for (int i = 0; i < 200; i++) {
		struct hdb_value v[2] = { hdb_int4(i), hdb_text("payload") };
		assert_int_equal(hdb_insert(f->s, "rk", v, 2), HDB_OK);
	}
	struct vacc before = { 0 };
	assert_int_equal(hdb_verify(f->s, HDB_VERIFY_ENCRYPTION, vcount, &before), HDB_OK);
	assert_int_equal(before.n, 1);
	assert_int_equal(hdb_rekey(f->s, 17, NULL, NULL), HDB_OK);
	struct vacc after = { 0 };
	assert_int_equal(hdb_verify(f->s, HDB_VERIFY_ENCRYPTION, vcount, &after), HDB_OK);
	assert_int_equal(after.n, 1);
	assert_true(after.keys[0] > before.keys[0]);
	assert_true(after.vals[0] >= 200); /* the rows, plus catalog and audit outbox entries */
	int kc[3] = { 0 };
	assert_int_equal(hdb_key_list(f->s, key_count, kc), HDB_OK);
	assert_int_equal(kc[1], after.keys[0]);
	assert_int_equal(kc[2], kc[0] - 1); /* every older key retired */
	int n = 0;
	assert_int_equal(hdb_scan(f->s, "rk", count_rows, &n), HDB_OK);
	assert_int_equal(n, 200);
	/* survives a reopen (retired keys are not needed) */
	fx_close(f);
	fx_open(f, 0);
	n = 0;
	assert_int_equal(hdb_scan(f->s, "rk", count_rows, &n), HDB_OK);
	assert_int_equal(n, 200);
}

static void test_flipped_byte(void **state)
{
	struct fx *f = *state;
	assert_int_equal(hdb_kv_put(f->s, "ks", "victim", 6, "0123456789abcdef", 16), HDB_OK);
	fx_close(f);
	/* read the sealed value through LMDB, then find those bytes in the file */
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi data;
	raw_open(f->path, &env, &txn, &data, NULL);
	MDB_cursor *c;
	MDB_val k, v;
	unsigned char sealed[32];
	bool got = false;
	assert_int_equal(mdb_cursor_open(txn, data, &c), 0);
	for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
		if (((unsigned char *)k.mv_data)[0] == 'V' && v.mv_size >= sizeof(sealed)) {
			memcpy(sealed, v.mv_data, sizeof(sealed));
			got = true;
		}
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	assert_true(got);
	char file[700];
	snprintf(file, sizeof(file), "%s/data.mdb", f->path);
	int fd = open(file, O_RDWR);
	struct stat sb;
	assert_int_equal(fstat(fd, &sb), 0);
	unsigned char *all = malloc((size_t)sb.st_size);
	assert_int_equal(pread(fd, all, (size_t)sb.st_size, 0), sb.st_size);
	/* LMDB copies pages on write, so stale copies of the value may sit in
	 * free pages too: flip every copy */
	long off = -1;
	for (long i = 0; i + (long)sizeof(sealed) <= sb.st_size; i++) {
		if (memcmp(all + i, sealed, sizeof(sealed)) != 0)
			continue;
		off = i + 20; /* inside the ciphertext */
		unsigned char x = all[off] ^ 0x01;
		assert_int_equal(pwrite(fd, &x, 1, off), 1);
	}
	free(all);
	assert_true(off > 0);
	close(fd);

	fx_open(f, 0);
	assert_int_equal(hdb_verify(f->s, HDB_VERIFY_INTEGRITY, NULL, NULL), HDB_ECORRUPT);
	assert_non_null(strstr(hdb_session_errmsg(f->s), "keyspace 'ks'"));
	void *val;
	size_t vl;
	assert_int_equal(hdb_kv_get(f->s, "ks", "victim", 6, &val, &vl), HDB_ECORRUPT);
}

static void test_truncated_file(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i < 300; i++) {
		char key[16];
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(hdb_kv_put(f->s, "ks", key, strlen(key), "some value to fill pages", 24), HDB_OK);
	}
	fx_close(f);
	char file[700];
	snprintf(file, sizeof(file), "%s/data.mdb", f->path);
	struct stat sb;
	assert_int_equal(stat(file, &sb), 0);
	assert_int_equal(truncate(file, sb.st_size / 2), 0);
	struct hdb_db *db = NULL;
	assert_int_equal(hdb_open(f->path, f->cfg, 0, &db), HDB_ECORRUPT);
	assert_non_null(strstr(hdb_errmsg(db), "truncated"));
	hdb_close(db);
	assert_int_equal(truncate(file, 100), 0);
	db = NULL;
	assert_int_equal(hdb_open(f->path, f->cfg, 0, &db), HDB_ECORRUPT);
	hdb_close(db);
	fx_recreate(f);   /* a fresh database for teardown */
	fx_open(f, HDB_OPEN_CREATE);
}

/* Opening with HDB_OPEN_CREATE creates a database only in an environment
 * nothing was committed to: a HeliosDB file whose header cannot be found
 * (its page damaged, here the key deleted) and another program's LMDB file
 * are refused, and neither gets a header, keys or named databases. */
static void test_create_never_over_data(void **state)
{
	struct fx *f = *state;
	assert_int_equal(hdb_kv_put(f->s, "ks", "k", 1, "value", 5), HDB_OK);
	fx_close(f);
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi data, meta;
	raw_open(f->path, &env, &txn, &data, &meta);
	char hname[] = "header";
	MDB_val hk = { 6, hname };
	assert_int_equal(mdb_del(txn, meta, &hk, NULL), 0);
	MDB_stat before;
	assert_int_equal(mdb_stat(txn, data, &before), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	struct hdb_db *db = NULL;
	assert_int_equal(hdb_open(f->path, f->cfg, HDB_OPEN_CREATE, &db), HDB_ECORRUPT);
	assert_non_null(strstr(hdb_errmsg(db), "holds data but no HeliosDB header"));
	hdb_close(db);
	raw_open(f->path, &env, &txn, &data, &meta);
	MDB_val hv;
	assert_int_equal(mdb_get(txn, meta, &hk, &hv), MDB_NOTFOUND);   /* no new header */
	MDB_stat after;
	assert_int_equal(mdb_stat(txn, data, &after), 0);
	assert_int_equal(after.ms_entries, before.ms_entries);
	mdb_txn_abort(txn);
	mdb_env_close(env);

	/* another program's LMDB file: one key in the main database */
	char other[700];
	snprintf(other, sizeof(other), "%s/other", f->dir);
	assert_int_equal(mkdir(other, 0700), 0);
	MDB_dbi main;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_open(env, other, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, NULL, 0, &main), 0);
	char kb[] = "mine", vb[] = "hello";
	MDB_val ok = { 4, kb }, ov = { 5, vb };
	assert_int_equal(mdb_put(txn, main, &ok, &ov, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	db = NULL;
	assert_int_equal(hdb_open(other, f->cfg, HDB_OPEN_CREATE, &db), HDB_ECORRUPT);
	hdb_close(db);
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_open(env, other, MDB_RDONLY, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, NULL, 0, &main), 0);
	MDB_stat ms;
	assert_int_equal(mdb_stat(txn, main, &ms), 0);
	assert_int_equal(ms.ms_entries, 1);   /* no "meta" or "data" added */
	mdb_txn_abort(txn);
	mdb_env_close(env);

	fx_recreate(f);   /* a fresh database for teardown */
	fx_open(f, HDB_OPEN_CREATE);
}

static void test_in_memory(void **state)
{
	struct fx *f = *state;
	struct hdb_db *db = NULL;
	int before = system("test $(ls -d /dev/shm/heliosdb-mem.* 2>/dev/null | wc -l) -eq 0");
	assert_int_equal(hdb_open_in_memory(f->cfg, &db), HDB_OK);
	struct hdb_principal who = { "t", NULL, NULL };
	struct hdb_session *s;
	assert_int_equal(hdb_session_open(db, &who, &s), HDB_OK);
	assert_int_equal(hdb_kv_put(s, "ks", "k", 1, "v", 1), HDB_OK);
	hdb_session_close(s);
	hdb_close(db);
	/* nothing left behind (when nothing was there before) */
	if (before == 0)
		assert_int_equal(system("ls -d /dev/shm/heliosdb-mem.* >/dev/null 2>&1"), 256 * 2);
}

/* A fault between the backup's write and its read-back: the engine's test
 * point (weak no-op in the library) damages the synced copy the way a bad
 * disk under the destination would. */
enum { BF_NONE, BF_PAGE, BF_VALUE, BF_KEYREC, BF_ACTIVE, BF_RETIRED, BF_NEXTKEY, BF_REWRITE };
static struct {
	char dir[700];
	int what;
	int done;
	struct hdb_session *writer; /* BF_REWRITE: rewrites big/k in the database meanwhile */
} bfault;

/* the offset of the value of meta record `name` (LMDB puts a node's data
 * right after its key) plus skip, in the file at path; -1 if absent */
static long meta_value_at(const char *path, const void *name, size_t namelen, long skip)
{
	size_t n;
	unsigned char *img = read_whole(path, &n);
	assert_non_null(img);
	long off = find_bytes(img, n, name, namelen);
	free(img);
	return off < 0 ? -1 : off + (long)namelen + skip;
}

/* a test point at which the process dies, as in a power loss (0: none) */
static int die_at;
/* a database a process starts to open (audit off) while hdb_restore holds
 * its locks, at TRAIL_TP_RESTORE_PLACED; "" none */
static char late_path[700];
static pid_t late_pid;

static void late_opener(void)
{
	late_pid = fork();
	assert_true(late_pid >= 0);
	if (late_pid > 0) {
		usleep(300 * 1000); /* let it reach LMDB's lock */
		return;
	}
	struct hdb_config *c = NULL;
	struct hdb_db *db = NULL;
	struct hdb_session *s = NULL;
	struct hdb_principal who = { "late", NULL, NULL };
	int ok = hdb_config_new(&c) == HDB_OK && hdb_config_apply(c, "audit.enabled = false") == HDB_OK &&
	         hdb_open(late_path, c, 0, &db) == HDB_OK && hdb_session_open(db, &who, &s) == HDB_OK &&
	         hdb_kv_put(s, "ks", "late", 4, "L", 1) == HDB_OK;
	if (!ok)
		fprintf(stderr, "late opener: %s / %s\n", hdb_errmsg(db), s ? hdb_session_errmsg(s) : "");
	hdb_session_close(s);
	hdb_close(db);
	_exit(ok ? 0 : 1);
}

void trail_test_point(int point)
{
	if (die_at && point == die_at)
		_exit(77);
	if (point == TRAIL_TP_RESTORE_PLACED && late_path[0]) {
		late_opener();
		return;
	}
	if (point != TRAIL_TP_BACKUP_WRITTEN || bfault.what == BF_NONE)
		return;
	char cmd[800], path[900] = "";
	snprintf(cmd, sizeof(cmd), "ls %s/backup-partial-*/data.mdb 2>/dev/null", bfault.dir);
	FILE *ls = popen(cmd, "r");
	assert_non_null(ls);
	if (!fgets(path, sizeof(path), ls))
		path[0] = '\0';
	pclose(ls);
	path[strcspn(path, "\n")] = '\0';
	assert_true(path[0] != '\0');
	long off = -1;
	switch (bfault.what) {
	case BF_PAGE: /* the page number in page 2's header */
		off = 2 * 4096;
		break;
	case BF_VALUE:
		off = overflow_middle(path);
		break;
	case BF_KEYREC: /* inside the wrapped audit signing key */
		off = meta_value_at(path, "audit_sign", 10, 20);
		break;
	case BF_ACTIVE: /* the active data key's id: 1 -> 65 */
		off = meta_value_at(path, "active", 6, 3);
		break;
	case BF_RETIRED: /* data key 1's state: usable (1) -> retired (2) */
		off = meta_value_at(path, "dek\0\0\0\1", 7, 0);
		break;
	case BF_NEXTKEY: /* the next data key id, high byte */
		off = meta_value_at(path, "nextkey", 7, 0);
		break;
	case BF_REWRITE: { /* a writer replaces big/k after the copy was taken */
		char v[12000];
		memset(v, 'w', sizeof(v));
		assert_int_equal(hdb_kv_put(bfault.writer, "big", "k", 1, v, sizeof(v)), HDB_OK);
		bfault.done++;
		return;
	}
	}
	assert_true(off >= 0);
	flip_byte(path, off, bfault.what == BF_RETIRED ? 0x03 : 0x40);
	bfault.done++;
}

/* keyspace "big": one 12000-byte value (an overflow run of 3 pages);
 * keyspace "ks": one small one */
static void put_big_and_small(struct fx *f)
{
	char big[12000];
	memset(big, 'b', sizeof(big));
	assert_int_equal(hdb_kv_put(f->s, "big", "k", 1, big, sizeof(big)), HDB_OK);
	assert_int_equal(hdb_kv_put(f->s, "ks", "k", 1, "v", 1), HDB_OK);
}

struct bk_progress {
	unsigned calls[2];
	uint64_t last[2];
	bool ended[2];
	unsigned bad; /* calls out of order: a phase after the read-back ended, done backwards, past total */
};

static void bk_progress(void *arg, enum hdb_backup_phase phase, uint64_t done, uint64_t total)
{
	struct bk_progress *p = arg;
	int i = phase == HDB_BACKUP_COPY ? 0 : 1;
	if (p->ended[i] || done > total || done < p->last[i] || (i == 0 && p->calls[1]))
		p->bad++;
	p->calls[i]++;
	p->last[i] = done;
	p->ended[i] = done == total;
}

/* A copy damaged between its write and its read-back is never kept: not
 * its pages, not its key records (the audit signing key, the active key's
 * id, a data key marked retired, the next key id), not a value that
 * differs from the database's.  Without the read-back each of these
 * backups was "written"; with the first read-back (a review found) the
 * active id, the retired mark and the next id passed or were blamed on the
 * database. */
static void test_backup_damaged_copy_not_kept(void **state)
{
	struct fx *f = *state;
	put_big_and_small(f);
	static const struct {
		int what;
		const char *says;
	} cases[] = {
		{ BF_PAGE, "page structure is damaged" },
		{ BF_VALUE, "where the database's do not (first: keyspace 'big'" },
		{ BF_KEYREC, "audit signing key record fails authentication" },
		{ BF_ACTIVE, "data key 65 is missing" },
		{ BF_RETIRED, "data key 1 is retired" },
		{ BF_NEXTKEY, "its next data key id is " },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(bfault.dir, sizeof(bfault.dir), "%s/bk%zu", f->dir, i);
		bfault.what = cases[i].what;
		bfault.done = 0;
		struct hdb_backup_info bi;
		int rc = hdb_backup(f->db, bfault.dir, NULL, NULL, &bi);
		bfault.what = BF_NONE;
		assert_int_equal(bfault.done, 1);
		if (rc != HDB_ECORRUPT || !strstr(hdb_errmsg(f->db), cases[i].says))
			fail_msg("case %zu: rc %d: %s", i, rc, hdb_errmsg(f->db));
		assert_non_null(strstr(hdb_errmsg(f->db), "nothing was kept (check the disk under"));
		assert_false(bi.kept);
		/* nothing left, not even the directory it created */
		struct stat sb;
		assert_int_equal(stat(bfault.dir, &sb), -1);
	}
	/* undamaged, the same backup is kept, every value read back */
	snprintf(bfault.dir, sizeof(bfault.dir), "%s/bk-good", f->dir);
	struct hdb_backup_info bi;
	struct bk_progress pr = { 0 };
	assert_int_equal(hdb_backup(f->db, bfault.dir, bk_progress, &pr, &bi), HDB_OK);
	assert_true(bi.kept);
	/* each phase reported, ending at done == total; the read-back counts values */
	assert_int_equal(pr.bad, 0);
	assert_true(pr.calls[0] >= 1 && pr.calls[1] >= 1);
	assert_true(pr.ended[0] && pr.ended[1]);
	assert_int_equal(pr.last[0], bi.bytes);
	assert_int_equal(pr.last[1], bi.values);
	assert_true(bi.pages >= 5 && bi.bytes == bi.pages * 4096);
	assert_true(bi.values >= 3);
	assert_int_equal(bi.bad, 0);
}

/* put_big_and_small, then one bit of big/k's ciphertext flipped in the
 * database's file (LMDB maps it: the open database reads the damage) */
static void damaged_big_value(struct fx *f)
{
	put_big_and_small(f);
	char file[800];
	snprintf(file, sizeof(file), "%s/data.mdb", f->path);
	long off = overflow_middle(file);
	assert_true(off >= 0);
	flip_byte(file, off, 0x01);
}

/* A value damaged in the database itself is copied as it is: the backup is
 * kept (the rest of it is the best copy there is), and named as damaged. */
static void test_backup_of_damaged_database_kept_and_named(void **state)
{
	struct fx *f = *state;
	damaged_big_value(f);
	char dir[700];
	snprintf(dir, sizeof(dir), "%s/bk", f->dir);
	struct hdb_backup_info bi;
	assert_int_equal(hdb_backup(f->db, dir, NULL, NULL, &bi), HDB_ECORRUPT);
	assert_true(bi.kept);
	assert_int_equal(bi.bad, 1);
	assert_non_null(strstr(hdb_errmsg(f->db), "1 of its"));
	assert_non_null(strstr(hdb_errmsg(f->db), "as copied from the database"));
	assert_non_null(strstr(hdb_errmsg(f->db), "first: keyspace 'big'"));
	char file[800];
	snprintf(file, sizeof(file), "%s/data.mdb", dir);
	struct stat sb;
	assert_int_equal(stat(file, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
}

/* A writer that replaces the database's damaged value while the backup
 * runs does not make that damage look like the copy's: failing values are
 * compared with the database as it was before the copy (the first version
 * compared with it after, and deleted this backup). */
static void test_backup_damage_rewritten_meanwhile(void **state)
{
	struct fx *f = *state;
	damaged_big_value(f);
	snprintf(bfault.dir, sizeof(bfault.dir), "%s/bk", f->dir);
	bfault.what = BF_REWRITE;
	bfault.done = 0;
	bfault.writer = f->s;
	struct hdb_backup_info bi;
	int rc = hdb_backup(f->db, bfault.dir, NULL, NULL, &bi);
	bfault.what = BF_NONE;
	assert_int_equal(bfault.done, 1);
	if (rc != HDB_ECORRUPT || !strstr(hdb_errmsg(f->db), "as copied from the database"))
		fail_msg("rc %d: %s", rc, hdb_errmsg(f->db));
	assert_true(bi.kept);
	assert_int_equal(bi.bad, 1);
}

/* flips the byte at skip into the value of meta record name, the one LMDB
 * reads now, in the database at dir while this process holds it open: a
 * child process (LMDB allows one open per process) finds the value's place
 * in the map.  Flipping it again restores it, if no commit moved the
 * record in between (key records move when they change). */
static void flip_live_meta(const char *dir, const void *name, size_t namelen, long skip)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		MDB_env *env;
		MDB_txn *txn;
		MDB_dbi meta;
		MDB_val k = { namelen, (void *)name }, v;
		long off = -1;
		if (mdb_env_create(&env) == 0 && mdb_env_set_maxdbs(env, 4) == 0 &&
		    mdb_env_set_mapsize(env, (size_t)64 << 30) == 0 && mdb_env_open(env, dir, MDB_RDONLY, 0600) == 0 &&
		    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0 && mdb_dbi_open(txn, "meta", 0, &meta) == 0 &&
		    mdb_get(txn, meta, &k, &v) == 0 && (long)v.mv_size > skip) {
			/* the map is page-aligned and a page starts with its number */
			uintptr_t at = (uintptr_t)v.mv_data, page = at & ~(uintptr_t)4095;
			uint64_t pgno;
			memcpy(&pgno, (const void *)page, sizeof(pgno));
			off = (long)(pgno * 4096 + (at - page)) + skip;
		}
		_exit(write(fds[1], &off, sizeof(off)) == sizeof(off) ? 0 : 1);
	}
	close(fds[1]);
	long off = -1;
	assert_int_equal(read(fds[0], &off, sizeof(off)), sizeof(off));
	close(fds[0]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(off > 0);
	char file[800];
	snprintf(file, sizeof(file), "%s/data.mdb", dir);
	flip_byte(file, off, 0x40);
}

/* Key records damaged in the database itself are the database's damage,
 * not the copy's: the backup is kept and says so (the first read-back
 * sent the operator to the backup's disk and kept nothing).  The active
 * data key's record: this process unwrapped it at open and still reads
 * its values; on disk, and in any restore, they fail. */
static void test_backup_of_damaged_key_records_kept(void **state)
{
	struct fx *f = *state;
	/* no audit: no commit of the shipper's may move a record between its
	 * lookup and its flip */
	fx_close(f);
	assert_int_equal(hdb_config_apply(f->cfg, "audit.enabled = false"), HDB_OK);
	fx_open(f, 0);
	assert_int_equal(hdb_kv_put(f->s, "ks", "k", 1, "v", 1), HDB_OK);
	char dir[700];
	flip_live_meta(f->path, "audit_sign", 10, 20);
	snprintf(dir, sizeof(dir), "%s/bk1", f->dir);
	struct hdb_backup_info bi;
	int rc = hdb_backup(f->db, dir, NULL, NULL, &bi);
	if (rc != HDB_ECORRUPT || !strstr(hdb_errmsg(f->db), "in the database the audit signing key record fails"))
		fail_msg("rc %d: %s", rc, hdb_errmsg(f->db));
	assert_true(bi.kept);
	assert_int_equal(bi.bad, 0);
	flip_live_meta(f->path, "audit_sign", 10, 20);
	/* the active data key's wrapped bytes: the database would not open
	 * again, and neither would the backup (not kept; not the disk's fault) */
	flip_live_meta(f->path, "dek\0\0\0\1", 7, 30);
	snprintf(dir, sizeof(dir), "%s/bk2", f->dir);
	rc = hdb_backup(f->db, dir, NULL, NULL, &bi);
	if (rc != HDB_ECORRUPT || !strstr(hdb_errmsg(f->db), "in the database's own key records as in the copy") ||
	    strstr(hdb_errmsg(f->db), "check the disk"))
		fail_msg("rc %d: %s", rc, hdb_errmsg(f->db));
	assert_false(bi.kept);
	flip_live_meta(f->path, "dek\0\0\0\1", 7, 30);
	/* an older data key's record (values sealed under it fail on disk as in
	 * the copy): kept, every one of them named as the database's */
	fx_close(f);
	assert_int_equal(hdb_config_set_max_encryptions(f->cfg, 10), HDB_OK);
	fx_open(f, 0);
	for (int i = 0; i < 25; i++) {
		char k[16];
		int kl = snprintf(k, sizeof(k), "k%d", i);
		assert_int_equal(hdb_kv_put(f->s, "sw", k, (size_t)kl, "v", 1), HDB_OK);
	}
	flip_live_meta(f->path, "dek\0\0\0\1", 7, 30);
	snprintf(dir, sizeof(dir), "%s/bk3", f->dir);
	rc = hdb_backup(f->db, dir, NULL, NULL, &bi);
	if (rc != HDB_ECORRUPT || !strstr(hdb_errmsg(f->db), "also the record of data key 1 fails authentication"))
		fail_msg("rc %d: %s", rc, hdb_errmsg(f->db));
	assert_true(bi.kept);
	assert_true(bi.bad >= 1 && bi.bad < bi.values);
	flip_live_meta(f->path, "dek\0\0\0\1", 7, 30);
	assert_int_equal(hdb_config_set_max_encryptions(f->cfg, UINT64_C(1) << 30), HDB_OK);
	assert_int_equal(hdb_config_apply(f->cfg, "audit.enabled = true"), HDB_OK);
}

/* Another process rotates the master key: this process's backups are
 * refused as such, not as damage to the backup's disk. */
static void test_backup_after_rotation_elsewhere(void **state)
{
	struct fx *f = *state;
	/* a fresh process (exec): a fork of this one, whose audit threads may
	 * hold the allocator's locks at that instant, could deadlock in malloc */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/proc/self/exe", "test_engine", "--rotate-child", f->path, (char *)NULL);
		_exit(127);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	char dir[700];
	snprintf(dir, sizeof(dir), "%s/bk", f->dir);
	struct hdb_backup_info bi;
	int rc = hdb_backup(f->db, dir, NULL, NULL, &bi);
	if (rc != HDB_EKEY || !strstr(hdb_errmsg(f->db), "master key was changed (rotate-key)") ||
	    strstr(hdb_errmsg(f->db), "check the disk"))
		fail_msg("rc %d: %s", rc, hdb_errmsg(f->db));
	assert_false(bi.kept);
	/* the fixture reopens with the new key */
	fx_close(f);
	setenv("HELIOSDB_ENCRYPTION_KEY", TEST_KEY2_HEX, 1);
	fx_open(f, 0);
}

/* ---- restore */

/* backup_copy - copies dir from's data.mdb into a new
 * directory to (0 on success). */
static int backup_copy(const char *from, const char *to)
{
	char cmd[2400];
	snprintf(cmd, sizeof(cmd), "mkdir -m 700 '%s' && cp '%s/data.mdb' '%s/data.mdb'", to, from, to);
	return system(cmd) == 0 ? 0 : -1;
}

/* Verifies the fixture's audit log with its public key: the chain, seq
 * continuity and every checkpoint; the records it holds in *ret_n. */
static void log_verifies(struct fx *f, uint64_t *ret_n)
{
	char lf[700], pf[720], err[256];
	snprintf(lf, sizeof(lf), "%s.audit/audit.log", f->path);
	snprintf(pf, sizeof(pf), "%s.pub", lf);
	unsigned char pub[AUDIT_SIGN_PUB_LEN];
	assert_int_equal(audit_pubkey_read(pf, pub, err, sizeof(err)), HDB_OK);
	char **names;
	size_t n;
	assert_int_equal(audit_segments(lf, &names, &n, err, sizeof(err)), HDB_OK);
	struct audit_verify_result vr;
	int rc = audit_verify(names, n, pub, NULL, NULL, &vr, err, sizeof(err));
	hdb_free_names(names, n);
	if (rc != HDB_OK || vr.findings)
		fail_msg("audit log does not verify (%llu findings): %s", (unsigned long long)vr.findings, err);
	if (ret_n)
		*ret_n = vr.records;
}

/* db_holds - keyspace "ks" of db holds key with value want (NULL: not at all). */
static void db_holds(struct hdb_db *db, const char *key, const char *want)
{
	struct hdb_principal who = { "t", NULL, NULL };
	struct hdb_session *s;
	assert_int_equal(hdb_session_open(db, &who, &s), HDB_OK);
	void *v = NULL;
	size_t vl = 0;
	int rc = hdb_kv_get(s, "ks", key, strlen(key), &v, &vl);
	if (!want)
		assert_int_equal(rc, HDB_ENOTFOUND);
	else if (rc != HDB_OK || vl != strlen(want) || memcmp(v, want, vl) != 0)
		fail_msg("ks/%s: rc %d, %zu bytes, want '%s'", key, rc, vl, want);
	free(v);
	hdb_session_close(s);
}

/* The names in dir, one string ("a b c"), sorted: what a refused restore
 * must leave as it found. */
static void dir_names(const char *dir, char *out, size_t cap)
{
	struct dirent **nl;
	int n = scandir(dir, &nl, NULL, alphasort);
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (nl[i]->d_name[0] != '.') {
			strncat(out, nl[i]->d_name, cap - strlen(out) - 2);
			strcat(out, " ");
		}
		free(nl[i]);
	}
	free(nl);
}

/* A backup put back over a database that went on: the backup's data, the
 * replaced file kept, the log's chain continued (it verifies whole, and
 * the plain open that would refuse an older file now works), restore_run
 * on record, a fresh data key active. */
static void test_restore_continues_chain(void **state)
{
	struct fx *f = *state;
	char bk[700], df[700], lf[700];
	snprintf(bk, sizeof(bk), "%s/bk", f->dir);
	snprintf(df, sizeof(df), "%s/data.mdb", f->path);
	snprintf(lf, sizeof(lf), "%s.audit/audit.log", f->path);
	assert_int_equal(hdb_kv_put(f->s, "ks", "a", 1, "before", 6), HDB_OK);
	assert_int_equal(hdb_backup(f->db, bk, NULL, NULL, NULL), HDB_OK);
	assert_int_equal(hdb_kv_put(f->s, "ks", "a", 1, "after!", 6), HDB_OK);
	assert_int_equal(hdb_kv_put(f->s, "ks", "b", 1, "new", 3), HDB_OK);
	fx_close(f);
	/* the manual way is refused: the log is ahead of the older file */
	size_t n0;
	unsigned char *old = read_whole(df, &n0);
	struct hdb_db *db = NULL;
	struct hdb_restore_info ri;
	struct hdb_restore_opts ro = { 0, "bk", NULL, NULL, NULL };
	int rc = hdb_restore(f->path, f->cfg, bk, &ro, &ri, &db);
	if (rc)
		fail_msg("restore: %s", hdb_errmsg(db));
	assert_true(ri.in_place);
	assert_true(ri.log_seq > ri.backup_seq && ri.backup_seq > 0);
	/* the first record after the log's last one says what happened */
	assert_int_equal(ri.record_seq, ri.log_seq + 1);
	assert_true(ri.values >= 3);
	assert_int_equal(strlen(ri.sha256), 64);
	assert_int_equal(ri.data_key, 2);
	assert_non_null(strstr(ri.replaced, "/data.mdb.replaced-"));
	/* the replaced file is the database as it was, byte for byte */
	size_t n1;
	unsigned char *kept = read_whole(ri.replaced, &n1);
	assert_true(kept && old && n1 == n0 && memcmp(kept, old, n0) == 0);
	free(kept);
	free(old);
	db_holds(db, "a", "before");
	db_holds(db, "b", NULL);
	/* new writes are sealed under the fresh key */
	struct hdb_principal who = { "t", NULL, NULL };
	struct hdb_session *s;
	assert_int_equal(hdb_session_open(db, &who, &s), HDB_OK);
	assert_int_equal(hdb_kv_put(s, "ks", "c", 1, "x", 1), HDB_OK);
	hdb_session_close(s);
	hdb_close(db);
	/* no scratch left; a plain open works (it refused before) */
	char names[512];
	dir_names(f->path, names, sizeof(names));
	assert_null(strstr(names, "restore-partial"));
	fx_open(f, 0);
	fx_close(f);
	uint64_t records;
	log_verifies(f, &records);
	assert_true(records > ri.log_seq);
	/* restore_run carries the facts */
	size_t ln;
	unsigned char *log = read_whole(lf, &ln);
	assert_non_null(log);
	log[ln] = '\0';
	char want[200];
	snprintf(want, sizeof(want), "\"backup_last_seq\":%llu,\"log_last_seq\":%llu,\"records_undone\":%llu",
	         (unsigned long long)ri.backup_seq, (unsigned long long)ri.log_seq,
	         (unsigned long long)(ri.log_seq - ri.backup_seq));
	const char *rr = strstr((const char *)log, "\"event_type\":\"restore_run\"");
	if (!rr || !strstr((const char *)log, want) || !strstr((const char *)log, ri.sha256))
		fail_msg("no restore_run record with %s", want);
	assert_non_null(strstr((const char *)log, "\"object\":\"data-key:2\""));
	free(log);
	fx_open(f, 0);
}

/* Every refusal leaves the database, its directory and its log as they
 * were: a damaged backup, the wrong key, another database's backup, the
 * database open in a process, the database itself given as the backup. */
static void test_restore_refusals_change_nothing(void **state)
{
	struct fx *f = *state;
	char bk[700], df[700], lf[700], other[700], obk[700], bf[720];
	snprintf(bk, sizeof(bk), "%s/bk", f->dir);
	snprintf(bf, sizeof(bf), "%s/data.mdb", bk);
	snprintf(df, sizeof(df), "%s/data.mdb", f->path);
	snprintf(lf, sizeof(lf), "%s.audit/audit.log", f->path);
	snprintf(other, sizeof(other), "%s/other", f->dir);
	snprintf(obk, sizeof(obk), "%s/obk", f->dir);
	assert_int_equal(hdb_kv_put(f->s, "ks", "a", 1, "RestoreCanary1", 14), HDB_OK);
	assert_int_equal(hdb_backup(f->db, bk, NULL, NULL, NULL), HDB_OK);
	/* another database, its own log, as many records (or more) */
	struct hdb_db *odb = NULL;
	assert_int_equal(hdb_open(other, f->cfg, HDB_OPEN_CREATE, &odb), HDB_OK);
	assert_int_equal(hdb_backup(odb, obk, NULL, NULL, NULL), HDB_OK);
	hdb_close(odb);
	/* the log goes well past the backup */
	for (int i = 0; i < 20; i++)
		assert_int_equal(hdb_kv_put(f->s, "ks", "b", 1, "later", 5), HDB_OK);

	struct hdb_db *db = NULL;
	struct hdb_restore_info ri;
	/* open in this process: refused before anything is read */
	int rc = hdb_restore(f->path, f->cfg, bk, NULL, &ri, &db);
	if (rc != HDB_EBUSY || !strstr(hdb_errmsg(db), "open in another process"))
		fail_msg("rc %d: %s", rc, hdb_errmsg(db));
	hdb_close(db);
	fx_close(f);

	/* a torn last line (a crash mid-write): a refused restore leaves it for
	 * the open to cut and record */
	FILE *tf = fopen(lf, "ab");
	assert_non_null(tf);
	fputs("{\"seq\":99999,\"timest", tf);
	fclose(tf);
	size_t n0, l0;
	unsigned char *before = read_whole(df, &n0), *logb = read_whole(lf, &l0);
	char names0[512];
	dir_names(f->path, names0, sizeof(names0));

	/* the database itself */
	rc = hdb_restore(f->path, f->cfg, f->path, NULL, &ri, &db);
	if (rc != HDB_EINVAL || !strstr(hdb_errmsg(db), "is the database itself"))
		fail_msg("rc %d: %s", rc, hdb_errmsg(db));
	hdb_close(db);
	/* another database's backup: its last record is not this log's */
	rc = hdb_restore(f->path, f->cfg, obk, NULL, &ri, &db);
	if (rc != HDB_EINVAL || !strstr(hdb_errmsg(db), "nothing was changed"))
		fail_msg("rc %d: %s", rc, hdb_errmsg(db));
	assert_false(ri.in_place);
	hdb_close(db);
	/* this database's backup, but run elsewhere with a log of its own
	 * (a fork): its last record is not this log's record of that seq */
	{
		char fk[700], flog[720];
		snprintf(fk, sizeof(fk), "%s/fork", f->dir);
		snprintf(flog, sizeof(flog), "audit.log_file = \"%s/fork.log\"", f->dir);
		assert_int_equal(backup_copy(bk, fk), 0);
		struct hdb_config *fc;
		assert_int_equal(hdb_config_new(&fc), HDB_OK);
		assert_int_equal(hdb_config_apply(fc, flog), HDB_OK);
		struct hdb_db *fdb = NULL;
		struct hdb_session *fs;
		struct hdb_principal who = { "t", NULL, NULL };
		assert_int_equal(hdb_open(fk, fc, 0, &fdb), HDB_OK);
		assert_int_equal(hdb_session_open(fdb, &who, &fs), HDB_OK);
		assert_int_equal(hdb_kv_put(fs, "ks", "f", 1, "fork", 4), HDB_OK);
		hdb_session_close(fs);
		hdb_close(fdb);
		hdb_config_free(fc);
		rc = hdb_restore(f->path, f->cfg, fk, NULL, &ri, &db);
		if (rc != HDB_EINVAL || !strstr(hdb_errmsg(db), "is not the backup's") ||
		    !strstr(hdb_errmsg(db), "nothing was changed"))
			fail_msg("rc %d: %s", rc, hdb_errmsg(db));
		hdb_close(db);
	}
	/* the wrong key */
	setenv("HELIOSDB_ENCRYPTION_KEY", TEST_KEY2_HEX, 1);
	rc = hdb_restore(f->path, f->cfg, bk, NULL, &ri, &db);
	setenv("HELIOSDB_ENCRYPTION_KEY", TEST_KEY_HEX, 1);
	if (rc != HDB_EKEY || !strstr(hdb_errmsg(db), "does not open with this key"))
		fail_msg("rc %d: %s", rc, hdb_errmsg(db));
	hdb_close(db);
	/* a value of the backup damaged: a sealed value found through LMDB,
	 * then its bytes in the file, one flipped */
	{
		struct hdb_db *vdb = NULL;
		struct hdb_config *ro;
		assert_int_equal(hdb_config_new(&ro), HDB_OK);
		assert_int_equal(hdb_config_apply(ro, "audit.enabled = false"), HDB_OK);
		assert_int_equal(hdb_open(bk, ro, HDB_OPEN_RDONLY, &vdb), HDB_OK);
		MDB_txn *t;
		MDB_cursor *c;
		MDB_val k, v;
		unsigned char sealed[64];
		size_t sl = 0;
		assert_int_equal(mdb_txn_begin(vdb->env, NULL, MDB_RDONLY, &t), 0);
		assert_int_equal(mdb_cursor_open(t, vdb->data, &c), 0);
		for (int op = MDB_FIRST; !sl && mdb_cursor_get(c, &k, &v, op) == 0; op = MDB_NEXT)
			if (v.mv_size >= 40 && v.mv_size <= sizeof(sealed))
				memcpy(sealed, v.mv_data, sl = v.mv_size);
		mdb_cursor_close(c);
		mdb_txn_abort(t);
		hdb_close(vdb);
		hdb_config_free(ro);
		assert_true(sl >= 40);
		size_t bn;
		unsigned char *img = read_whole(bf, &bn);
		long at = find_bytes(img, bn, sealed, sl);
		free(img);
		assert_true(at > 0);
		flip_byte(bf, at + (long)sl - 3, 0x40);
	}
	rc = hdb_restore(f->path, f->cfg, bk, NULL, &ri, &db);
	if (rc != HDB_ECORRUPT || !strstr(hdb_errmsg(db), "fails its check") ||
	    !strstr(hdb_errmsg(db), "nothing was changed"))
		fail_msg("rc %d: %s", rc, hdb_errmsg(db));
	hdb_close(db);

	/* nothing changed: the file, the log, the directory */
	size_t n1, l1;
	unsigned char *after = read_whole(df, &n1), *loga = read_whole(lf, &l1);
	assert_true(before && after && n0 == n1 && memcmp(before, after, n0) == 0);
	assert_true(logb && loga && l0 == l1 && memcmp(logb, loga, l0) == 0);
	free(before);
	free(after);
	free(logb);
	free(loga);
	char names1[512];
	dir_names(f->path, names1, sizeof(names1));
	assert_string_equal(names0, names1);
	fx_open(f, 0);
	void *v;
	size_t vl;
	assert_int_equal(hdb_kv_get(f->s, "ks", "b", 1, &v, &vl), HDB_OK);
	free(v);
}

/* Killed in the middle of a restore (between the two renames; after the
 * swap, before the open): what is left is handled by running the restore
 * again, and nothing the old file held is lost (it is kept aside). */
static void test_restore_killed_midway(void **state)
{
	struct fx *f = *state;
	char bk[700], df[700];
	snprintf(bk, sizeof(bk), "%s/bk", f->dir);
	snprintf(df, sizeof(df), "%s/data.mdb", f->path);
	assert_int_equal(hdb_kv_put(f->s, "ks", "a", 1, "1", 1), HDB_OK);
	assert_int_equal(hdb_backup(f->db, bk, NULL, NULL, NULL), HDB_OK);
	assert_int_equal(hdb_kv_put(f->s, "ks", "b", 1, "2", 1), HDB_OK);
	fx_close(f);
	static const int points[] = { TRAIL_TP_RESTORE_ASIDE, TRAIL_TP_RESTORE_PLACED };
	for (size_t i = 0; i < 2; i++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			die_at = points[i];
			struct hdb_db *db = NULL;
			(void)hdb_restore(f->path, f->cfg, bk, NULL, NULL, &db);
			_exit(0);
		}
		int st;
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 77);
		struct hdb_db *db = NULL;
		int rc = hdb_open(f->path, f->cfg, 0, &db);
		if (points[i] == TRAIL_TP_RESTORE_ASIDE && (rc != HDB_ENOTFOUND || access(df, F_OK) == 0))
			fail_msg("after a kill between the renames: rc %d: %s", rc, hdb_errmsg(db));
		if (points[i] == TRAIL_TP_RESTORE_PLACED && (rc != HDB_ECORRUPT ||
		                                              !strstr(hdb_errmsg(db), "older than its audit log")))
			fail_msg("after a kill before the open: rc %d: %s", rc, hdb_errmsg(db));
		hdb_close(db);
	}
	/* run again: in place, the chain continued, every file kept */
	struct hdb_db *db = NULL;
	struct hdb_restore_info ri;
	int rc = hdb_restore(f->path, f->cfg, bk, NULL, &ri, &db);
	if (rc)
		fail_msg("restore after the kills: %s", hdb_errmsg(db));
	hdb_close(db);
	char names[1024];
	dir_names(f->path, names, sizeof(names));
	int kept = 0;
	for (const char *p = names; (p = strstr(p, "data.mdb.replaced-")) != NULL; p++)
		kept++;
	if (kept != 2 || strstr(names, "restore-partial"))
		fail_msg("left: %s", names);
	fx_open(f, 0);
	void *v;
	size_t vl;
	assert_int_equal(hdb_kv_get(f->s, "ks", "a", 1, &v, &vl), HDB_OK);
	free(v);
	assert_int_equal(hdb_kv_get(f->s, "ks", "b", 1, &v, &vl), HDB_ENOTFOUND);
	fx_close(f);
	log_verifies(f, NULL);
	fx_open(f, 0);
}

/* Processes that have the database open, audited or not, make a restore
 * refuse; one that starts to open it while the restore runs waits, and
 * then works on the restored file, never on the replaced one. */
static void test_restore_keeps_other_processes_off(void **state)
{
	struct fx *f = *state;
	char bk[700];
	snprintf(bk, sizeof(bk), "%s/bk", f->dir);
	assert_int_equal(hdb_kv_put(f->s, "ks", "a", 1, "1", 1), HDB_OK);
	assert_int_equal(hdb_backup(f->db, bk, NULL, NULL, NULL), HDB_OK);
	fx_close(f);
	/* an unaudited process holds it open */
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct hdb_config *c = NULL;
		struct hdb_db *db = NULL;
		int ok = hdb_config_new(&c) == HDB_OK && hdb_config_apply(c, "audit.enabled = false") == HDB_OK &&
		         hdb_open(f->path, c, 0, &db) == HDB_OK;
		char b = ok ? 'y' : 'n';
		(void)!write(p[1], &b, 1);
		sleep(60); /* killed by the parent */
		_exit(0);
	}
	close(p[1]);
	char b;
	assert_int_equal(read(p[0], &b, 1), 1);
	assert_int_equal(b, 'y');
	struct hdb_db *db = NULL;
	struct hdb_restore_info ri;
	int rc = hdb_restore(f->path, f->cfg, bk, NULL, &ri, &db);
	char want[64];
	snprintf(want, sizeof(want), "open in another process (pid %ld)", (long)pid);
	if (rc != HDB_EBUSY || !strstr(hdb_errmsg(db), want))
		fail_msg("rc %d: %s", rc, hdb_errmsg(db));
	assert_false(ri.in_place);
	hdb_close(db);
	kill(pid, SIGKILL);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	close(p[0]);
	/* a process starts to open it during the swap: it gets the restored file */
	snprintf(late_path, sizeof(late_path), "%s", f->path);
	rc = hdb_restore(f->path, f->cfg, bk, NULL, &ri, &db);
	late_path[0] = '\0';
	if (rc)
		fail_msg("restore: %s", hdb_errmsg(db));
	hdb_close(db);
	assert_int_equal(waitpid(late_pid, &st, 0), late_pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	fx_open(f, 0);
	void *v;
	size_t vl;
	if (hdb_kv_get(f->s, "ks", "late", 4, &v, &vl) != HDB_OK)
		fail_msg("the late writer's put is not in the restored database");
	free(v);
}

/* A database ahead of its log (records cut from the log) is not restored
 * over: continuing the chain from the log's end would reuse the cut
 * records' seqs and hide the cut. */
static void test_restore_refuses_over_a_cut_log(void **state)
{
	struct fx *f = *state;
	char bk[700], lf[700], df[700];
	snprintf(bk, sizeof(bk), "%s/bk", f->dir);
	snprintf(lf, sizeof(lf), "%s.audit/audit.log", f->path);
	snprintf(df, sizeof(df), "%s/data.mdb", f->path);
	assert_int_equal(hdb_kv_put(f->s, "ks", "a", 1, "1", 1), HDB_OK);
	assert_int_equal(hdb_backup(f->db, bk, NULL, NULL, NULL), HDB_OK);
	for (int i = 0; i < 10; i++)
		assert_int_equal(hdb_kv_put(f->s, "ks", "b", 1, "2", 1), HDB_OK);
	fx_close(f);
	/* the last five records cut off */
	size_t n;
	unsigned char *log = read_whole(lf, &n);
	assert_non_null(log);
	size_t end = n;
	for (int cut = 0; cut < 6 && end > 0; end--)
		if (log[end - 1] == '\n' && ++cut == 6)
			break;
	FILE *fp = fopen(lf, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(log, 1, end, fp), end);
	fclose(fp);
	free(log);
	size_t n0;
	unsigned char *before = read_whole(df, &n0);
	struct hdb_db *db = NULL;
	struct hdb_restore_info ri;
	int rc = hdb_restore(f->path, f->cfg, bk, NULL, &ri, &db);
	if (rc != HDB_ECORRUPT || !strstr(hdb_errmsg(db), "records are missing from the log") ||
	    !strstr(hdb_errmsg(db), "nothing was changed"))
		fail_msg("rc %d: %s", rc, hdb_errmsg(db));
	hdb_close(db);
	size_t n1;
	unsigned char *after = read_whole(df, &n1);
	assert_true(before && after && n0 == n1 && memcmp(before, after, n0) == 0);
	free(before);
	free(after);
	/* the fixture's teardown needs an open database: a fresh one */
	fx_recreate(f);
	fx_open(f, HDB_OPEN_CREATE);
}

/* Into an empty place (the disk was lost), from a scratch copy that is
 * moved rather than copied: the restored database opens, starts a log
 * where the backup's chain ends, and the scratch copy is gone. */
static void test_restore_into_empty_place(void **state)
{
	struct fx *f = *state;
	char bk[700], scratch[720], place[700];
	snprintf(bk, sizeof(bk), "%s/bk", f->dir);
	snprintf(place, sizeof(place), "%s/new", f->dir);
	assert_int_equal(hdb_kv_put(f->s, "ks", "a", 1, "kept", 4), HDB_OK);
	assert_int_equal(hdb_backup(f->db, bk, NULL, NULL, NULL), HDB_OK);
	snprintf(scratch, sizeof(scratch), "%s/data.mdb", bk);
	struct hdb_config *c;
	assert_int_equal(hdb_config_new(&c), HDB_OK);
	assert_int_equal(hdb_config_set_path(c, place), HDB_OK);
	struct hdb_db *db = NULL;
	struct hdb_restore_info ri;
	struct hdb_restore_opts ro = { HDB_RESTORE_MOVE, "scratch", NULL, NULL, NULL };
	int rc = hdb_restore(NULL, c, bk, &ro, &ri, &db);
	if (rc)
		fail_msg("restore: %s", hdb_errmsg(db));
	assert_true(ri.in_place);
	assert_string_equal(ri.replaced, "");
	assert_int_equal(ri.log_seq, 0);
	assert_int_equal(access(scratch, F_OK), -1); /* moved, not copied */
	db_holds(db, "a", "kept");
	hdb_close(db);
	db = NULL;
	assert_int_equal(hdb_open(place, c, 0, &db), HDB_OK);
	hdb_close(db);
	hdb_config_free(c);
}

static void test_backup_verifies(void **state)
{
	struct fx *f = *state;
	assert_int_equal(hdb_kv_put(f->s, "ks", "k", 1, "BackupCanaryP0", 14), HDB_OK);
	char dir[700], file[800];
	snprintf(dir, sizeof(dir), "%s/backup", f->dir);
	assert_int_equal(hdb_backup(f->db, dir, NULL, NULL, NULL), HDB_OK);
	assert_int_equal(hdb_backup(f->db, dir, NULL, NULL, NULL), HDB_EEXIST);
	snprintf(file, sizeof(file), "%s/data.mdb", dir);
	assert_false(file_contains(file, "BackupCanaryP0", 14));
	struct hdb_db *db = NULL;
	/* read-only opens need audit off: the trail is written through the database */
	assert_int_equal(hdb_open(dir, f->cfg, HDB_OPEN_RDONLY, &db), HDB_EINVAL);
	hdb_close(db);
	db = NULL;
	struct hdb_config *ro;
	assert_int_equal(hdb_config_new(&ro), HDB_OK);
	assert_int_equal(hdb_config_apply(ro, "audit.enabled = false"), HDB_OK);
	assert_int_equal(hdb_open(dir, ro, HDB_OPEN_RDONLY, &db), HDB_OK);
	hdb_config_free(ro);
	struct hdb_principal who = { "t", NULL, NULL };
	struct hdb_session *s;
	assert_int_equal(hdb_session_open(db, &who, &s), HDB_OK);
	assert_int_equal(hdb_verify(s, HDB_VERIFY_INTEGRITY, NULL, NULL), HDB_OK);
	void *v;
	size_t n;
	assert_int_equal(hdb_kv_get(s, "ks", "k", 1, &v, &n), HDB_OK);
	hdb_free(v);
	assert_int_equal(hdb_kv_put(s, "ks", "k", 1, "x", 1), HDB_EPERM);
	hdb_session_close(s);
	hdb_close(db);
}

static void test_poisoned_txn(void **state)
{
	struct fx *f = *state;
	const struct hdb_column_def cols[] = { { "id", HDB_T_INT4, true, 1 } };
	assert_int_equal(hdb_table_create(f->s, "p", cols, 1), HDB_OK);
	struct hdb_value v = hdb_int4(1);
	assert_int_equal(hdb_begin(f->s, 0), HDB_OK);
	assert_int_equal(hdb_insert(f->s, "p", &v, 1), HDB_OK);
	/* a constraint error does not poison: the txn goes on */
	assert_int_equal(hdb_insert(f->s, "p", &v, 1), HDB_EEXIST);
	struct hdb_value w = hdb_int4(2);
	assert_int_equal(hdb_insert(f->s, "p", &w, 1), HDB_OK);
	assert_int_equal(hdb_commit(f->s), HDB_OK);
	int n = 0;
	assert_int_equal(hdb_scan(f->s, "p", count_rows, &n), HDB_OK);
	assert_int_equal(n, 2);
}

/* LMDB's model across threads: readers never block, writers serialise. */
struct thr {
	struct hdb_db *db;
	int id;
	int errors;
};

static void *reader(void *arg)
{
	struct thr *t = arg;
	struct hdb_principal who = { "reader", NULL, NULL };
	struct hdb_session *s;
	if (hdb_session_open(t->db, &who, &s) != HDB_OK) {
		t->errors++;
		return NULL;
	}
	for (int i = 0; i < 2000; i++) {
		char k[16];
		snprintf(k, sizeof(k), "seed%d", i % 100);
		void *v;
		size_t n;
		if (hdb_kv_get(s, "mt", k, strlen(k), &v, &n) != HDB_OK || n != 4 || memcmp(v, "seed", 4) != 0)
			t->errors++;
		else
			hdb_free(v);
	}
	hdb_session_close(s);
	return NULL;
}

static void *writer(void *arg)
{
	struct thr *t = arg;
	struct hdb_principal who = { "writer", NULL, NULL };
	struct hdb_session *s;
	if (hdb_session_open(t->db, &who, &s) != HDB_OK) {
		t->errors++;
		return NULL;
	}
	for (int i = 0; i < 200; i++) {
		char k[32];
		snprintf(k, sizeof(k), "w%d-%d", t->id, i);
		if (hdb_kv_put(s, "mt", k, strlen(k), "x", 1) != HDB_OK)
			t->errors++;
	}
	hdb_session_close(s);
	return NULL;
}

static void test_threads(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i < 100; i++) {
		char k[16];
		snprintf(k, sizeof(k), "seed%d", i);
		assert_int_equal(hdb_kv_put(f->s, "mt", k, strlen(k), "seed", 4), HDB_OK);
	}
	pthread_t th[6];
	struct thr t[6];
	for (int i = 0; i < 6; i++) {
		t[i] = (struct thr){ f->db, i, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, i < 4 ? reader : writer, &t[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(t[i].errors, 0);
	}
	struct scanacc a = { 0 };
	assert_int_equal(hdb_kv_scan(f->s, "mt", kv_count, &a), HDB_OK);
	assert_int_equal(a.n, 100 + 2 * 200);
}

/* Debian 12 ships no FIPS provider: asking for FIPS must refuse to open. */
static void test_fips_refused(void **state)
{
	struct fx *f = *state;
	struct hdb_config *cfg;
	char p[700];
	snprintf(p, sizeof(p), "%s/fips", f->dir);
	assert_int_equal(hdb_config_new(&cfg), HDB_OK);
	assert_int_equal(hdb_config_set_fips(cfg, true), HDB_OK);
	struct hdb_db *db = NULL;
	assert_int_equal(hdb_open(p, cfg, HDB_OPEN_CREATE, &db), HDB_ECRYPTO);
	assert_non_null(strstr(hdb_errmsg(db), "FIPS"));
	hdb_close(db);
	hdb_config_free(cfg);
}

/* test_backup_after_rotation_elsewhere's other process: rotates the
 * master key of the database at path to TEST_KEY2. */
static int rotate_child(const char *path)
{
	struct hdb_db *db = NULL;
	struct hdb_session *s = NULL;
	struct hdb_config *cfg = NULL, *ncfg = NULL;
	struct hdb_principal who = { "rotator", NULL, NULL };
	setenv("NEW_KEY", TEST_KEY2_HEX, 1);
	int ok = hdb_config_new(&cfg) == HDB_OK && hdb_open(path, cfg, 0, &db) == HDB_OK &&
	         hdb_session_open(db, &who, &s) == HDB_OK && hdb_config_new(&ncfg) == HDB_OK &&
	         hdb_config_set_key_source(ncfg, HDB_KEY_ENVIRONMENT, "NEW_KEY") == HDB_OK &&
	         hdb_rotate_master_key(s, ncfg) == HDB_OK;
	hdb_session_close(s);
	hdb_close(db);
	hdb_config_free(cfg);
	hdb_config_free(ncfg);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--rotate-child") == 0)
		return rotate_child(argv[2]);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_info, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_db, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kv_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kv_batch_and_scan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_txn_commit_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_buffered_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_buffered_writes_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_append_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_damaged_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_buffer_unmapped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_crud, setup, teardown),
		cmocka_unit_test_setup_teardown(test_composite_and_nopk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cursor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_payload_wiped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_growth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_scan_put_copies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_lookahead, setup, teardown),
		cmocka_unit_test_setup_teardown(test_canaries_not_on_disk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plaintext_mode_is_readable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cut_and_paste, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_key_switch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_progress, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotate_master_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rekey, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flipped_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_in_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backup_verifies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_continues_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_refusals_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_into_empty_place, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_killed_midway, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_keeps_other_processes_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_refuses_over_a_cut_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backup_damaged_copy_not_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backup_of_damaged_database_kept_and_named, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backup_damage_rewritten_meanwhile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backup_of_damaged_key_records_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backup_after_rotation_elsewhere, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_never_over_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_poisoned_txn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fips_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
