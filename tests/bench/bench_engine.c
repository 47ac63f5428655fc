/*
 * bench_engine.c - the cost of the engine and of its encryption, side by
 * side, in one run.
 *
 * For value sizes of 64 B, 1 KiB and 16 KiB it measures four things over the
 * same keys ("key-%08d") and values:
 *
 *   raw    LMDB alone: mdb_put/mdb_get on the main database of an env of
 *          its own, no engine, no crypto (the floor);
 *   plain  the engine with encryption off (hdb_config_set_encryption false),
 *          through the key-value API on one keyspace;
 *   enc    the engine encrypted, the key from HELIOSDB_ENCRYPTION_KEY, which
 *          this program sets to a fixed test value;
 *   prim   the bare primitives on this thread, with one reused context and
 *          the shapes the engine uses (engine/kv.c, engine/session.c):
 *            nonce  crypto_nonce
 *            seal   crypto_aead_seal of the stored payload, i.e.
 *                   u32 klen || key || value (16 + size bytes), with the
 *                   engine's 42 bytes of associated data
 *            open   crypto_aead_open of the same
 *            prf    crypto_prf over the 4-byte keyspace id and the 12-byte key
 *          prim for a put = nonce + seal + prf, for a get = open + prf, for a
 *          scan row = open.
 *
 * Operations, each timed as a whole loop with CLOCK_MONOTONIC, divided by its
 * row count; every measurement is repeated (3 times by default), the three
 * stores taking turns in each round, and the best (minimum) is kept:
 *
 *   get         point get of every row in one random order, one autocommit
 *               read transaction each (raw: a reset/renewed read txn, the
 *               fastest LMDB idiom, reading the value in place);
 *   put-batch   every row in one write transaction (hdb_begin, hdb_kv_put
 *               ..., hdb_commit; raw: one txn), into a fresh store;
 *   scan        every row (hdb_kv_scan; raw: a cursor, MDB_NEXT);
 *   put-nosync  one row per transaction into a fresh store, MDB_NOSYNC
 *               (engine: HELIOSDB_NOSYNC set before hdb_open);
 *   put-sync    one row per transaction, each commit durable (fsync).
 *
 * Within a repetition the stores take turns in small slices, who goes first
 * rotating, so that they see the same machine state (on this kind of shared
 * VM a whole-loop cell drifts by 20-50 % between neighbours): get in slices
 * of 1000 rows, put-nosync of 500, put-sync row by row (fsync latency drifts
 * faster still).  put-batch (one transaction) and scan (one pass) run whole.
 *
 * Placement: get, put-batch and scan run in a directory under /dev/shm, so
 * they measure CPU and memory, not the disk (fsync on tmpfs is a no-op).
 * Both single-put operations run under /tmp on the real disk, so the
 * difference between them is the cost of durability.  Raw and engine always
 * share the placement.  Every directory is removed at the end.
 *
 * Targets (printed with PASS/MISS):
 *   crypto cost  (enc - plain) / prim <= 1.25   get, put-batch, put-nosync, scan
 *   durable put  enc / plain         <= 1.05   put-sync
 *   engine cost  plain / raw         <= 1.3    get, put-batch
 *
 * Usage: bench_engine [--quick] [--rows N] [--big-rows N] [--sync-rows N]
 *                     [--nosync-rows N] [--reps N] [--size 64|1024|16384]
 *                     [--shuffle] [--strict]
 * The exit status is 0 when every measurement ran (misses included; with
 * --strict a miss gives 2), 1 on an error.
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>
#include <openssl/crypto.h>

#include "crypto.h"
#include "heliosdb.h"

#define KEYSPACE "bench"
#define KEY_LEN 12                     /* strlen("key-%08d") */
#define DEFAULT_ROWS 100000
#define QUICK_ROWS 10000
#define DEFAULT_BIG_ROWS 25000         /* 16 KiB values: 25k rows = 400 MiB a store */
#define DEFAULT_SYNC_ROWS 2000
#define DEFAULT_NOSYNC_ROWS 10000
#define DEFAULT_REPS 3
#define GET_CHUNK 1000                 /* get: rows a store reads before the next one's turn */
#define NOSYNC_CHUNK 500               /* put-nosync: likewise */
#define PRIM_MIN_CALLS 50000           /* per primitive and repetition */
#define PRIM_MIN_REPS 3
#define SYNC_BUDGET_NS (60ull * 1000000000u) /* per size; later reps skipped past it */
#define BIG_VALUE 16384
#define MAP_SIZE ((size_t)64 << 30)
#define TEST_KEY_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
/* the engine's associated data: database id (16) || seal header (5) ||
 * LMDB key ('V' || u32 keyspace id || 16-byte PRF) */
#define ENGINE_AAD_LEN (16 + 5 + 1 + 4 + CRYPTO_PRF_LEN)
#define PAYLOAD_OVERHEAD (4 + KEY_LEN)  /* u32 klen || key, before the value */

#define LIMIT_CRYPTO 1.25
#define LIMIT_DURABLE 1.05
#define LIMIT_ENGINE 1.3

enum store_kind { RAW, PLAIN, ENC, NKINDS };
static const char *const kind_name[NKINDS] = { "raw", "plain", "enc" };

enum op { OP_GET, OP_PUT_BATCH, OP_SCAN, OP_PUT_NOSYNC, OP_PUT_SYNC, NOPS };
static const char *const op_name[NOPS] = { "get", "put-batch", "scan", "put-nosync", "put-sync" };

struct options {
	size_t rows, big_rows, sync_rows, nosync_rows;
	size_t only_size;                  /* 0: every size */
	int reps;
	bool shuffle;
	bool strict;
};

/* One store under test: raw LMDB or an engine database with a session. */
struct store {
	enum store_kind kind;
	char dir[PATH_MAX];
	MDB_env *env;                      /* raw */
	MDB_dbi dbi;
	MDB_txn *rtxn;                     /* raw: reset read txn, renewed per get */
	struct hdb_db *db;                 /* plain, enc */
	struct hdb_session *s;
};

/* Everything measured for one value size, in ns per row; -1: not measured. */
struct result {
	size_t vsize;
	size_t rows[NOPS];
	double ns[NOPS][NKINDS];
	double nonce, seal, open, prf;
	int reps, sync_reps;               /* repetitions asked for; put-sync ones done */
};

static char (*keys)[32];                /* keys[i] = "key-%08d", KEY_LEN bytes used */
static size_t nkeys;
static char shm_root[PATH_MAX], disk_root[PATH_MAX];
static unsigned dir_seq;
static volatile uint64_t sink;          /* keeps reads from being optimised away */

/* ------------------------------------------------------------------ utils */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng_next(void)
{
	/* xorshift64*: a fixed sequence, so every run and store sees the same order */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1du;
}

static void shuffle(size_t *a, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(rng_next() % i);
		size_t t = a[i - 1];
		a[i - 1] = a[j];
		a[j] = t;
	}
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	if (remove(path) != 0)
		fprintf(stderr, "bench_engine: cannot remove '%s': %s\n", path, strerror(errno));
	return 0;
}

static void rm_tree(const char *path)
{
	if (path[0])
		nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void cleanup_roots(void)
{
	rm_tree(shm_root);
	rm_tree(disk_root);
}

static int make_root(const char *base, char *out, size_t outlen)
{
	if ((size_t)snprintf(out, outlen, "%s/hdb-bench-XXXXXX", base) >= outlen)
		return -1;
	if (!mkdtemp(out)) {
		fprintf(stderr, "bench_engine: cannot create a directory under '%s': %s\n", base,
		        strerror(errno));
		out[0] = '\0';
		return -1;
	}
	return 0;
}

/* ----------------------------------------------------------------- stores */

static int store_open(struct store *st, enum store_kind kind, bool on_disk, bool nosync)
{
	memset(st, 0, sizeof(*st));
	st->kind = kind;
	if ((size_t)snprintf(st->dir, sizeof(st->dir), "%s/%s-%u", on_disk ? disk_root : shm_root,
	                     kind_name[kind], dir_seq++) >= sizeof(st->dir)) {
		fprintf(stderr, "bench_engine: temporary path too long\n");
		st->dir[0] = '\0';
		return -1;
	}
	if (kind == RAW) {
		int mrc;
		if (mkdir(st->dir, 0700) != 0) {
			fprintf(stderr, "bench_engine: cannot create '%s': %s\n", st->dir, strerror(errno));
			return -1;
		}
		MDB_txn *txn = NULL;
		/* the engine's flags: MDB_NOTLS, same map size; the main database */
		mrc = mdb_env_create(&st->env);
		if (!mrc)
			mrc = mdb_env_set_mapsize(st->env, MAP_SIZE);
		if (!mrc)
			mrc = mdb_env_open(st->env, st->dir, MDB_NOTLS | (nosync ? MDB_NOSYNC : 0), 0600);
		if (!mrc)
			mrc = mdb_txn_begin(st->env, NULL, 0, &txn);
		if (!mrc)
			mrc = mdb_dbi_open(txn, NULL, 0, &st->dbi);
		if (!mrc) {
			mrc = mdb_txn_commit(txn);
			txn = NULL;
		}
		if (txn)
			mdb_txn_abort(txn);
		if (mrc) {
			fprintf(stderr, "bench_engine: cannot open LMDB in '%s': %s\n", st->dir, mdb_strerror(mrc));
			return -1;
		}
		return 0;
	}

	struct hdb_config *cfg = NULL;
	int rc = hdb_config_new(&cfg);
	if (!rc)
		rc = hdb_config_set_encryption(cfg, kind == ENC);
	/* this benchmark isolates the storage and crypto costs: the audit
	 * pipeline is measured by bench_audit */
	if (!rc)
		rc = hdb_config_apply(cfg, "audit.enabled = false");
	if (rc) {
		fprintf(stderr, "bench_engine: cannot configure: %s\n", hdb_strerror(rc));
		hdb_config_free(cfg);
		return -1;
	}
	if (nosync)
		setenv("HELIOSDB_NOSYNC", "1", 1);
	rc = hdb_open(st->dir, cfg, HDB_OPEN_CREATE | HDB_OPEN_EXCL, &st->db);
	unsetenv("HELIOSDB_NOSYNC");
	hdb_config_free(cfg);
	if (rc) {
		fprintf(stderr, "bench_engine: cannot open '%s': %s: %s\n", st->dir, hdb_strerror(rc),
		        st->db ? hdb_errmsg(st->db) : "");
		return -1;
	}
	const struct hdb_principal who = { "bench", "local", "bench_engine" };
	rc = hdb_session_open(st->db, &who, &st->s);
	if (rc) {
		fprintf(stderr, "bench_engine: cannot open a session: %s\n", hdb_strerror(rc));
		return -1;
	}
	return 0;
}

static void store_close(struct store *st)
{
	if (st->rtxn)
		mdb_txn_abort(st->rtxn);
	if (st->env)
		mdb_env_close(st->env);
	hdb_session_close(st->s);
	hdb_close(st->db);
	rm_tree(st->dir);
	memset(st, 0, sizeof(*st));
}

static void fill_value(unsigned char *v, size_t vsize, size_t i)
{
	memcpy(v, &i, vsize < sizeof(i) ? vsize : sizeof(i));
}

/* Writes rows [0, n) in the given order: one transaction for all of them
 * (batch) or one each.  Returns ns per row, or -1 on error. */
static double store_put(struct store *st, const size_t *order, size_t n, unsigned char *val,
                        size_t vsize, bool batch)
{
	uint64_t t0 = now_ns();
	if (st->kind == RAW) {
		MDB_txn *txn = NULL;
		int mrc = 0;
		for (size_t j = 0; j < n && !mrc; j++) {
			size_t i = order[j];
			if (!txn)
				mrc = mdb_txn_begin(st->env, NULL, 0, &txn);
			if (mrc)
				break;
			fill_value(val, vsize, i);
			MDB_val k = { KEY_LEN, keys[i] }, v = { vsize, val };
			mrc = mdb_put(txn, st->dbi, &k, &v, 0);
			if (!mrc && !batch) {
				mrc = mdb_txn_commit(txn);
				txn = NULL;
			}
		}
		if (!mrc && txn) {
			mrc = mdb_txn_commit(txn);
			txn = NULL;
		}
		if (txn)
			mdb_txn_abort(txn);
		if (mrc) {
			fprintf(stderr, "bench_engine: raw put: %s\n", mdb_strerror(mrc));
			return -1;
		}
	} else {
		int rc = batch ? hdb_begin(st->s, 0) : HDB_OK;
		for (size_t j = 0; j < n && !rc; j++) {
			size_t i = order[j];
			fill_value(val, vsize, i);
			rc = hdb_kv_put(st->s, KEYSPACE, keys[i], KEY_LEN, val, vsize);
		}
		if (batch)
			rc = rc ? (hdb_abort(st->s), rc) : hdb_commit(st->s);
		if (rc) {
			fprintf(stderr, "bench_engine: %s put: %s: %s\n", kind_name[st->kind], hdb_strerror(rc),
			        hdb_session_errmsg(st->s));
			return -1;
		}
	}
	return (double)(now_ns() - t0) / (double)n;
}

/* Reads rows in `order`, one autocommit read each; checks every length. */
static double store_get(struct store *st, const size_t *order, size_t n, size_t vsize)
{
	uint64_t acc = 0;
	/* raw LMDB's pointer dies with its read txn: an application that gets a
	 * value copies it out, as the engine does; so does the baseline */
	unsigned char *copy = st->kind == RAW ? malloc(vsize) : NULL;
	if (st->kind == RAW && !copy)
		return -1;
	uint64_t t0 = now_ns();
	if (st->kind == RAW) {
		int mrc = 0;
		if (!st->rtxn) {
			mrc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &st->rtxn);
			if (mrc) {
				fprintf(stderr, "bench_engine: raw read txn: %s\n", mdb_strerror(mrc));
				return -1;
			}
			mdb_txn_reset(st->rtxn);
		}
		for (size_t j = 0; j < n; j++) {
			MDB_val k = { KEY_LEN, keys[order[j]] }, v;
			mrc = mdb_txn_renew(st->rtxn);
			if (!mrc)
				mrc = mdb_get(st->rtxn, st->dbi, &k, &v);
			if (!mrc && v.mv_size != vsize)
				mrc = MDB_CORRUPTED;
			if (!mrc) {
				memcpy(copy, v.mv_data, vsize);
				acc += copy[vsize - 1];
			}
			mdb_txn_reset(st->rtxn);
			if (mrc) {
				fprintf(stderr, "bench_engine: raw get: %s\n", mdb_strerror(mrc));
				return -1;
			}
		}
	} else {
		for (size_t j = 0; j < n; j++) {
			void *v = NULL;
			size_t vl = 0;
			int rc = hdb_kv_get(st->s, KEYSPACE, keys[order[j]], KEY_LEN, &v, &vl);
			if (!rc && vl != vsize)
				rc = HDB_ECORRUPT;
			if (rc) {
				fprintf(stderr, "bench_engine: %s get: %s: %s\n", kind_name[st->kind],
				        hdb_strerror(rc), hdb_session_errmsg(st->s));
				hdb_free(v);
				return -1;
			}
			acc += ((const unsigned char *)v)[vsize - 1];
			hdb_free(v);
		}
	}
	double ns = (double)(now_ns() - t0) / (double)n;
	free(copy);
	sink += acc;
	return ns;
}

struct scan_acc {
	size_t rows;
	uint64_t acc;
};

static int scan_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct scan_acc *a = arg;
	(void)key;
	(void)klen;
	a->rows++;
	if (vlen)
		a->acc += ((const unsigned char *)val)[vlen - 1];
	return 0;
}

static double store_scan(struct store *st, size_t n)
{
	struct scan_acc a = { 0, 0 };
	uint64_t t0 = now_ns();
	if (st->kind == RAW) {
		MDB_txn *txn = NULL;
		MDB_cursor *c = NULL;
		MDB_val k, v;
		int mrc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
		if (!mrc)
			mrc = mdb_cursor_open(txn, st->dbi, &c);
		if (!mrc) {
			for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == MDB_SUCCESS;
			     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
				scan_cb(&a, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
			if (mrc == MDB_NOTFOUND)
				mrc = 0;
		}
		if (c)
			mdb_cursor_close(c);
		if (txn)
			mdb_txn_abort(txn);
		if (mrc) {
			fprintf(stderr, "bench_engine: raw scan: %s\n", mdb_strerror(mrc));
			return -1;
		}
	} else {
		int rc = hdb_kv_scan(st->s, KEYSPACE, scan_cb, &a);
		if (rc) {
			fprintf(stderr, "bench_engine: %s scan: %s: %s\n", kind_name[st->kind], hdb_strerror(rc),
			        hdb_session_errmsg(st->s));
			return -1;
		}
	}
	double ns = (double)(now_ns() - t0) / (double)n;
	if (a.rows != n) {
		fprintf(stderr, "bench_engine: %s scan saw %zu rows, expected %zu\n", kind_name[st->kind],
		        a.rows, n);
		return -1;
	}
	sink += a.acc;
	return ns;
}

static void keep_min(double *best, double v)
{
	if (*best < 0 || v < *best)
		*best = v;
}

/* ------------------------------------------------------------- primitives */

static int bench_primitives(const struct options *o, size_t n, struct result *r)
{
	struct crypto_lib *lib = NULL;
	struct crypto_aead *aead = NULL;
	struct crypto_prf *prf = NULL;
	unsigned char key[CRYPTO_KEY_LEN], nonce[CRYPTO_NONCE_LEN], tag[CRYPTO_TAG_LEN];
	unsigned char aad[ENGINE_AAD_LEN], out[CRYPTO_PRF_LEN], prefix[4] = { 0, 0, 0, 2 };
	size_t plen = PAYLOAD_OVERHEAD + r->vsize;
	unsigned char *pt = calloc(1, plen), *ct = calloc(1, plen), *back = calloc(1, plen);
	char err[256] = "";
	int ret = -1;

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (unsigned char)i;
	memset(aad, 0xa5, sizeof(aad));
	if (!pt || !ct || !back)
		goto out;
	if (crypto_lib_new(false, &lib, err, sizeof(err)) != HDB_OK ||
	    crypto_aead_new(lib, key, &aead) != HDB_OK || crypto_prf_new(lib, key, &prf) != HDB_OK) {
		fprintf(stderr, "bench_engine: cannot set up the primitives: %s\n", err[0] ? err : "crypto error");
		goto out;
	}
	/* cheap, so repeated more often than the store operations; called at
	 * several points of a size's run, keeping the minimum over all of them */
	for (int rep = 0; rep < (o->reps > PRIM_MIN_REPS ? o->reps : PRIM_MIN_REPS); rep++) {
		uint64_t t0 = now_ns();
		for (size_t i = 0; i < n; i++)
			if (crypto_nonce(lib, nonce) != HDB_OK)
				goto out_fail;
		uint64_t t1 = now_ns();
		for (size_t i = 0; i < n; i++) {
			pt[0] = (unsigned char)i;
			if (crypto_aead_seal(aead, nonce, aad, sizeof(aad), pt, plen, ct, tag) != HDB_OK)
				goto out_fail;
		}
		uint64_t t2 = now_ns();
		for (size_t i = 0; i < n; i++)
			if (crypto_aead_open(aead, nonce, aad, sizeof(aad), ct, plen, tag, back) != HDB_OK)
				goto out_fail;
		uint64_t t3 = now_ns();
		for (size_t i = 0; i < n; i++)
			if (crypto_prf(prf, prefix, sizeof(prefix), keys[i % nkeys], KEY_LEN, out) != HDB_OK)
				goto out_fail;
		uint64_t t4 = now_ns();
		keep_min(&r->nonce, (double)(t1 - t0) / (double)n);
		keep_min(&r->seal, (double)(t2 - t1) / (double)n);
		keep_min(&r->open, (double)(t3 - t2) / (double)n);
		keep_min(&r->prf, (double)(t4 - t3) / (double)n);
		sink += back[0] + out[0];
	}
	ret = 0;
	goto out;
out_fail:
	fprintf(stderr, "bench_engine: a primitive failed\n");
out:
	crypto_prf_free(prf);
	crypto_aead_free(aead);
	crypto_lib_free(lib);
	OPENSSL_cleanse(key, sizeof(key));
	free(pt);
	free(ct);
	free(back);
	return ret;
}

/* ------------------------------------------------------------- one size */

static int bench_size(const struct options *o, size_t vsize, struct result *r)
{
	size_t rows = vsize >= BIG_VALUE ? o->big_rows : o->rows;
	size_t nsync = o->sync_rows < rows ? o->sync_rows : rows;
	size_t nnosync = o->nosync_rows < rows ? o->nosync_rows : rows;
	struct store st[NKINDS];
	unsigned char *val = calloc(1, vsize);
	size_t *ins = malloc(rows * sizeof(*ins)), *rnd = malloc(rows * sizeof(*rnd));
	int ret = -1;

	memset(st, 0, sizeof(st));
	memset(r, 0, sizeof(*r));
	r->vsize = vsize;
	for (int op = 0; op < NOPS; op++)
		for (int k = 0; k < NKINDS; k++)
			r->ns[op][k] = -1;
	r->rows[OP_GET] = r->rows[OP_PUT_BATCH] = r->rows[OP_SCAN] = rows;
	r->rows[OP_PUT_NOSYNC] = nnosync;
	r->rows[OP_PUT_SYNC] = nsync;
	if (!val || !ins || !rnd)
		goto out;
	for (size_t i = 0; i < vsize; i++)
		val[i] = (unsigned char)rng_next();
	for (size_t i = 0; i < rows; i++)
		ins[i] = rnd[i] = i;
	shuffle(rnd, rows);
	if (o->shuffle)
		shuffle(ins, rows);

	size_t nprim = rows > PRIM_MIN_CALLS ? rows : PRIM_MIN_CALLS;
	r->nonce = r->seal = r->open = r->prf = -1;
	fprintf(stderr, "  %zu B: primitives\n", vsize);
	if (bench_primitives(o, nprim, r))
		goto out;

	/* put-batch into fresh stores; the last round's stores stay for get and scan */
	fprintf(stderr, "  %zu B: put-batch, %zu rows\n", vsize, rows);
	for (int rep = 0; rep < o->reps; rep++) {
		for (int k = 0; k < NKINDS; k++) {
			store_close(&st[k]);
			if (store_open(&st[k], (enum store_kind)k, false, false))
				goto out;
			double ns = store_put(&st[k], ins, rows, val, vsize, true);
			if (ns < 0)
				goto out;
			keep_min(&r->ns[OP_PUT_BATCH][k], ns);
		}
	}
	fprintf(stderr, "  %zu B: get\n", vsize);
	for (int rep = 0; rep < o->reps; rep++) {
		double sum[NKINDS] = { 0 };
		for (size_t j = 0, c = 0; j < rows; j += GET_CHUNK, c++) {
			size_t m = rows - j < GET_CHUNK ? rows - j : GET_CHUNK;
			for (int t = 0; t < NKINDS; t++) {
				int k = (int)((c + (size_t)t) % NKINDS);
				double ns = store_get(&st[k], rnd + j, m, vsize);
				if (ns < 0)
					goto out;
				sum[k] += ns * (double)m;
			}
		}
		for (int k = 0; k < NKINDS; k++)
			keep_min(&r->ns[OP_GET][k], sum[k] / (double)rows);
	}
	if (bench_primitives(o, nprim, r))
		goto out;
	fprintf(stderr, "  %zu B: scan\n", vsize);
	for (int rep = 0; rep < o->reps; rep++) {
		for (int k = 0; k < NKINDS; k++) {
			double ns = store_scan(&st[k], rows);
			if (ns < 0)
				goto out;
			keep_min(&r->ns[OP_SCAN][k], ns);
		}
	}
	for (int k = 0; k < NKINDS; k++)
		store_close(&st[k]);
	if (bench_primitives(o, nprim, r))
		goto out;

	/* single puts on the disk without durability: each store on its own */
	fprintf(stderr, "  %zu B: %s, %zu rows\n", vsize, op_name[OP_PUT_NOSYNC], nnosync);
	for (int rep = 0; rep < o->reps; rep++) {
		double sum[NKINDS] = { 0 };
		for (int k = 0; k < NKINDS; k++)
			if (store_open(&st[k], (enum store_kind)k, true, true))
				goto out;
		for (size_t j = 0, c = 0; j < nnosync; j += NOSYNC_CHUNK, c++) {
			size_t m = nnosync - j < NOSYNC_CHUNK ? nnosync - j : NOSYNC_CHUNK;
			for (int t = 0; t < NKINDS; t++) {
				int k = (int)((c + (size_t)t) % NKINDS);
				double ns = store_put(&st[k], ins + j, m, val, vsize, false);
				if (ns < 0)
					goto out;
				sum[k] += ns * (double)m;
			}
		}
		for (int k = 0; k < NKINDS; k++) {
			store_close(&st[k]);
			keep_min(&r->ns[OP_PUT_NOSYNC][k], sum[k] / (double)nnosync);
		}
	}
	/* durable single puts: fsync latency on a shared disk drifts by 2x within
	 * seconds, so the three stores take turns row by row (rotating who goes
	 * first) and see the same disk */
	fprintf(stderr, "  %zu B: %s, %zu rows\n", vsize, op_name[OP_PUT_SYNC], nsync);
	uint64_t sync_t0 = now_ns();
	r->reps = o->reps;
	r->sync_reps = 0;
	for (int rep = 0; rep < o->reps; rep++) {
		if (rep > 0 && now_ns() - sync_t0 > SYNC_BUDGET_NS) {
			fprintf(stderr, "  %zu B: %s: disk is slow, stopping after %d repetitions\n", vsize,
			        op_name[OP_PUT_SYNC], rep);
			break;
		}
		r->sync_reps++;
		double sum[NKINDS] = { 0 };
		for (int k = 0; k < NKINDS; k++)
			if (store_open(&st[k], (enum store_kind)k, true, false))
				goto out;
		for (size_t j = 0; j < nsync; j++) {
			for (int t = 0; t < NKINDS; t++) {
				int k = (int)((j + (size_t)t) % NKINDS);
				double ns = store_put(&st[k], ins + j, 1, val, vsize, false);
				if (ns < 0)
					goto out;
				sum[k] += ns;
			}
		}
		for (int k = 0; k < NKINDS; k++) {
			store_close(&st[k]);
			keep_min(&r->ns[OP_PUT_SYNC][k], sum[k] / (double)nsync);
		}
	}
	ret = 0;
out:
	for (int k = 0; k < NKINDS; k++)
		store_close(&st[k]);
	free(val);
	free(ins);
	free(rnd);
	return ret;
}

/* ---------------------------------------------------------------- report */

static double prim_for(const struct result *r, enum op op)
{
	switch (op) {
	case OP_GET:
		return r->open + r->prf;
	case OP_SCAN:
		return r->open;
	case OP_PUT_BATCH:
	case OP_PUT_NOSYNC:
	case OP_PUT_SYNC:
		return r->nonce + r->seal + r->prf;
	case NOPS:
		break;
	}
	return -1;
}

static const char *size_label(size_t vsize, char *buf, size_t len)
{
	if (vsize >= 1024 && vsize % 1024 == 0)
		snprintf(buf, len, "%zu KiB", vsize / 1024);
	else
		snprintf(buf, len, "%zu B", vsize);
	return buf;
}

static void print_machine(const struct options *o)
{
	struct utsname u;
	char model[256] = "unknown";
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (f) {
		char line[512];
		while (fgets(line, sizeof(line), f)) {
			if (strncmp(line, "model name", 10) == 0) {
				const char *p = strchr(line, ':');
				if (p) {
					snprintf(model, sizeof(model), "%s", p + 2);
					model[strcspn(model, "\n")] = '\0';
				}
				break;
			}
		}
		fclose(f);
	}
	printf("HeliosDB Nano engine benchmark\n");
	if (uname(&u) == 0)
		printf("  machine   %s, %ld CPUs, %s %s\n", model, sysconf(_SC_NPROCESSORS_ONLN), u.sysname,
		       u.release);
	printf("  libraries %s, %s\n", mdb_version(NULL, NULL, NULL), OpenSSL_version(OPENSSL_VERSION));
	printf("  rows      %zu (16 KiB values: %zu%s), put-nosync %zu, put-sync %zu; best of %d%s\n",
	       o->rows, o->big_rows, o->big_rows < o->rows ? ", reduced to bound memory and time" : "",
	       o->nosync_rows, o->sync_rows, o->reps, o->shuffle ? "; puts in random key order" : "");
	printf("  placement get/put-batch/scan in %s (tmpfs); put-nosync/put-sync in %s\n", shm_root,
	       disk_root);
}

static void print_table(const struct result *res, size_t nres)
{
	char sz[32];
	printf("\n%-10s %7s %7s %9s %9s %9s %9s %9s %8s %8s\n", "op", "size", "rows", "raw", "plain",
	       "enc", "prim", "enc-plain", "plain/raw", "enc/plain");
	printf("%-10s %7s %7s %9s %9s %9s %9s %9s %8s %8s\n", "", "", "", "ns/op", "ns/op", "ns/op",
	       "ns/op", "ns/op", "", "");
	for (int op = 0; op < NOPS; op++) {
		for (size_t i = 0; i < nres; i++) {
			const struct result *r = &res[i];
			const double *v = r->ns[op];
			printf("%-10s %7s %7zu %9.0f %9.0f %9.0f %9.0f %9.0f %8.2f %8.2f\n", op_name[op],
			       size_label(r->vsize, sz, sizeof(sz)), r->rows[op], v[RAW], v[PLAIN], v[ENC],
			       prim_for(r, (enum op)op), v[ENC] - v[PLAIN], v[PLAIN] / v[RAW], v[ENC] / v[PLAIN]);
		}
	}
	for (size_t i = 0; i < nres; i++)
		if (res[i].sync_reps < res[i].reps)
			printf("note: put-sync %s: best of %d (the disk was slow; time budget reached)\n",
			       size_label(res[i].vsize, sz, sizeof(sz)), res[i].sync_reps);
	printf("\nprimitives, ns/call (payload = 16 + size bytes, 42 bytes AAD):\n");
	printf("%7s %9s %9s %9s %9s\n", "size", "nonce", "seal", "open", "prf");
	for (size_t i = 0; i < nres; i++)
		printf("%7s %9.0f %9.0f %9.0f %9.0f\n", size_label(res[i].vsize, sz, sizeof(sz)), res[i].nonce,
		       res[i].seal, res[i].open, res[i].prf);
}

static int print_targets(const struct result *res, size_t nres)
{
	static const enum op crypto_ops[] = { OP_GET, OP_PUT_BATCH, OP_PUT_NOSYNC, OP_SCAN };
	static const enum op engine_ops[] = { OP_GET, OP_PUT_BATCH };
	char sz[32];
	int misses = 0;

	printf("\n%-44s %-10s %7s %8s %7s  %s\n", "target", "op", "size", "value", "limit", "result");
	for (size_t j = 0; j < sizeof(crypto_ops) / sizeof(crypto_ops[0]); j++) {
		for (size_t i = 0; i < nres; i++) {
			const struct result *r = &res[i];
			enum op op = crypto_ops[j];
			double v = (r->ns[op][ENC] - r->ns[op][PLAIN]) / prim_for(r, op);
			bool pass = v <= LIMIT_CRYPTO;
			misses += !pass;
			printf("%-44s %-10s %7s %8.2f %7.2f  %s\n", "crypto cost (enc - plain) / prim", op_name[op],
			       size_label(r->vsize, sz, sizeof(sz)), v, LIMIT_CRYPTO, pass ? "PASS" : "MISS");
		}
	}
	for (size_t i = 0; i < nres; i++) {
		const struct result *r = &res[i];
		double v = r->ns[OP_PUT_SYNC][ENC] / r->ns[OP_PUT_SYNC][PLAIN];
		bool pass = v <= LIMIT_DURABLE;
		misses += !pass;
		printf("%-44s %-10s %7s %8.2f %7.2f  %s\n", "durable single put enc / plain", op_name[OP_PUT_SYNC],
		       size_label(r->vsize, sz, sizeof(sz)), v, LIMIT_DURABLE, pass ? "PASS" : "MISS");
	}
	for (size_t j = 0; j < sizeof(engine_ops) / sizeof(engine_ops[0]); j++) {
		for (size_t i = 0; i < nres; i++) {
			const struct result *r = &res[i];
			enum op op = engine_ops[j];
			double v = r->ns[op][PLAIN] / r->ns[op][RAW];
			bool pass = v <= LIMIT_ENGINE;
			misses += !pass;
			printf("%-44s %-10s %7s %8.2f %7.2f  %s\n", "engine cost plain / raw", op_name[op],
			       size_label(r->vsize, sz, sizeof(sz)), v, LIMIT_ENGINE, pass ? "PASS" : "MISS");
		}
	}
	return misses;
}

/* ------------------------------------------------------------------ main */

static void usage(void)
{
	fprintf(stderr,
	        "usage: bench_engine [--quick] [--rows N] [--big-rows N] [--sync-rows N]\n"
	        "                    [--nosync-rows N] [--reps N] [--size 64|1024|16384]\n"
	        "                    [--shuffle] [--strict]\n"
	        "  --quick         %d rows (16 KiB: %d), put-nosync %d, put-sync %d\n"
	        "  --rows N        rows for 64 B and 1 KiB values (default %d)\n"
	        "  --big-rows N    rows for 16 KiB values (default %d, at most --rows)\n"
	        "  --sync-rows N   single puts with fsync (default %d)\n"
	        "  --nosync-rows N single puts without fsync (default %d)\n"
	        "  --reps N        repetitions, the best is kept (default %d)\n"
	        "  --size N        only values of N bytes (64, 1024 or 16384)\n"
	        "  --shuffle       put keys in random order instead of ascending\n"
	        "  --strict        exit 2 if any target is missed\n",
	        QUICK_ROWS, QUICK_ROWS / 4, QUICK_ROWS / 5, DEFAULT_SYNC_ROWS / 4, DEFAULT_ROWS, DEFAULT_BIG_ROWS,
	        DEFAULT_SYNC_ROWS, DEFAULT_NOSYNC_ROWS, DEFAULT_REPS);
}

static int parse_size(const char *s, size_t *ret)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > 99999999ull)
		return -1;
	*ret = (size_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = { DEFAULT_ROWS, DEFAULT_BIG_ROWS, DEFAULT_SYNC_ROWS, DEFAULT_NOSYNC_ROWS, 0,
	                     DEFAULT_REPS, false, false };
	bool big_set = false, sync_set = false, nosync_set = false;
	static const size_t sizes[] = { 64, 1024, BIG_VALUE };
	struct result res[sizeof(sizes) / sizeof(sizes[0])];
	int ret = 1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		size_t v = 0;
		bool has_arg = i + 1 < argc;
		if (strcmp(a, "--quick") == 0) {
			o.rows = QUICK_ROWS;
			if (!big_set)
				o.big_rows = QUICK_ROWS / 4;
			if (!nosync_set)
				o.nosync_rows = QUICK_ROWS / 5;
			if (!sync_set)
				o.sync_rows = DEFAULT_SYNC_ROWS / 4;
		} else if (strcmp(a, "--shuffle") == 0) {
			o.shuffle = true;
		} else if (strcmp(a, "--strict") == 0) {
			o.strict = true;
		} else if (has_arg && strcmp(a, "--rows") == 0 && parse_size(argv[i + 1], &v) == 0) {
			o.rows = v;
			i++;
		} else if (has_arg && strcmp(a, "--big-rows") == 0 && parse_size(argv[i + 1], &v) == 0) {
			o.big_rows = v;
			big_set = true;
			i++;
		} else if (has_arg && strcmp(a, "--sync-rows") == 0 && parse_size(argv[i + 1], &v) == 0) {
			o.sync_rows = v;
			sync_set = true;
			i++;
		} else if (has_arg && strcmp(a, "--nosync-rows") == 0 && parse_size(argv[i + 1], &v) == 0) {
			o.nosync_rows = v;
			nosync_set = true;
			i++;
		} else if (has_arg && strcmp(a, "--size") == 0 && parse_size(argv[i + 1], &v) == 0 &&
		           (v == 64 || v == 1024 || v == BIG_VALUE)) {
			o.only_size = v;
			i++;
		} else if (has_arg && strcmp(a, "--reps") == 0 && parse_size(argv[i + 1], &v) == 0 && v <= 100) {
			o.reps = (int)v;
			i++;
		} else {
			usage();
			return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 ? 0 : 1;
		}
	}
	if (o.big_rows > o.rows)
		o.big_rows = o.rows;
	if (o.sync_rows > o.rows)
		o.sync_rows = o.rows;
	if (o.nosync_rows > o.rows)
		o.nosync_rows = o.rows;

	if (setenv("HELIOSDB_ENCRYPTION_KEY", TEST_KEY_HEX, 1) != 0) {
		fprintf(stderr, "bench_engine: cannot set HELIOSDB_ENCRYPTION_KEY\n");
		return 1;
	}
	unsetenv("HELIOSDB_NOSYNC");
	nkeys = o.rows;
	keys = malloc(nkeys * sizeof(*keys));
	if (!keys) {
		fprintf(stderr, "bench_engine: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < nkeys; i++)
		snprintf(keys[i], sizeof(keys[i]), "key-%08zu", i);

	const char *tmp = getenv("TMPDIR");
	if (make_root(access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (tmp && *tmp ? tmp : "/tmp"), shm_root,
	              sizeof(shm_root)) ||
	    make_root(tmp && *tmp ? tmp : "/tmp", disk_root, sizeof(disk_root)))
		goto out;

	print_machine(&o);
	fflush(stdout);
	uint64_t t0 = now_ns();
	size_t nres = 0;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		if (o.only_size && sizes[i] != o.only_size)
			continue;
		if (bench_size(&o, sizes[i], &res[nres++]))
			goto out;
	}
	print_table(res, nres);
	int misses = print_targets(res, nres);
	printf("\n%d target%s missed; %.0f s in all\n", misses, misses == 1 ? "" : "s",
	       (double)(now_ns() - t0) / 1e9);
	ret = misses && o.strict ? 2 : 0;
out:
	cleanup_roots();
	free(keys);
	return ret;
}
