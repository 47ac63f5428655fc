/*
 * bench_audit.c - what the audit pipeline costs: audited against unaudited,
 * side by side in one run (issue 3, section 9).
 *
 * Workloads, on an encrypted database (key from HELIOSDB_ENCRYPTION_KEY,
 * which this program sets to a fixed test value), 64-byte values:
 *
 *   get        autocommit hdb_kv_get of a random key among 10 000 written
 *              beforehand (with audit off, so no backlog precedes the cell);
 *              in a directory under /dev/shm: fsync is not the point;
 *   put-sync   autocommit hdb_kv_put of a new key, each commit durable
 *              (LMDB's fsync); under /tmp, on the real disk;
 *   put-batch  hdb_begin, 1000 x hdb_kv_put, hdb_commit; under /dev/shm.
 *
 * Each runs at 1, 4 and 16 concurrent sessions (one pthread and one session
 * each, all on one struct hdb_db), unaudited (audit.enabled = false) and
 * audited with audit.durability = sync, batch and async, with the file sink
 * alone (audit.journald = "off") and with file + journald
 * (audit.journald = "required") when a journald listens on
 * /run/systemd/journal/socket.  The audit log is the default one, next to
 * the database, so it shares the database's placement.
 *
 * A cell is a fresh database; its threads start together and run for a
 * fixed time (--seconds).  Then the sessions and the database are closed,
 * and hdb_close() is timed too ("drain"): it ships whatever the shipper
 * still had queued, so a pipeline that falls behind cannot look fast.
 * Rates are sustained: operations / (run + drain).  An event is one audit
 * record: one per get or single put; 1002 per batch of 1000 puts (begin,
 * puts, commit).  The audit log is counted after close (records per
 * operation, as a check that every operation was recorded).
 *
 * Unaudited cells run twice per (workload, sessions) group, before and after
 * its audited cells; the table's ratio uses their mean.  Both are printed.
 *
 * The targets are judged on pairs, not on that table: fsync latency on a
 * shared disk drifts by 20 % between cells a few seconds apart, more than
 * the margins measured.  So each target cell runs again PAIRS times (quick:
 * QUICK_PAIRS), alternating with its reference (the unaudited cell, or for
 * journald the ceiling), the order swapped every pair (ABBA); the target is
 * the median of the pairs' ratios, printed with their range.
 *
 * Ceilings, in the same run:
 *   file      ~600-byte JSON lines appended to a file under /tmp, one
 *             write() per line, one fdatasync per batch of 1, 64 and 1024
 *             lines;
 *   journald  sd_journal_sendv of an entry shaped like the pipeline's (the
 *             same fields, HELIOSDB_RECORD of ~600 bytes), one thread,
 *             synchronous; measured at the start and at the end, the higher
 *             is the ceiling.
 *
 * Targets (PASS/MISS):
 *   put-sync  file, batch          audited/unaudited >= 0.9  at 1, 4, 16 sessions
 *   put-sync  file, sync           audited/unaudited >= 0.7  at 16 sessions
 *   get       file, batch          audited/unaudited >= 0.3  at 1 session
 *   get       file+journald, batch audited >= 0.9 x min(journald ceiling,
 *                                  unaudited) at 1, 4, 16 sessions
 *
 * Usage: bench_audit [--quick] [--seconds S] [--only get|put-sync|put-batch]
 *                    [--sessions 1|4|16] [--durability sync|batch|async]
 *                    [--no-journald] [--strict]
 * (--only, --sessions and --durability narrow the run for profiling.)
 * Exit 0 when every cell ran (misses included; with --strict a miss gives
 * 2), 1 on an error.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "heliosdb.h"

#define KEYSPACE "bench"
#define VALUE_LEN 64
#define READ_KEYS 10000
#define BATCH_PUTS 1000
#define MAX_SESSIONS 16
#define DEFAULT_SECONDS 1.2
#define QUICK_SECONDS 0.3
#define CEIL_SECONDS_MIN 0.5
#define JOURNAL_SOCKET "/run/systemd/journal/socket"
#define TEST_KEY_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

#define PAIRS 5
#define QUICK_PAIRS 3
#define LIMIT_PUT_BATCH 0.9
#define LIMIT_PUT_SYNC16 0.7
#define LIMIT_GET 0.3
#define LIMIT_JOURNAL 0.9

enum workload { W_GET, W_PUT, W_BATCH, NWORK };
static const char *const work_name[NWORK] = { "get", "put-sync", "put-batch" };

enum dur { D_SYNC, D_BATCH, D_ASYNC, NDUR };
static const char *const dur_name[NDUR] = { "sync", "batch", "async" };

enum sink { SINK_FILE, SINK_JOURNAL, NSINK };
static const char *const sink_name[NSINK] = { "file", "file+jd" };

static const unsigned nsess_of[] = { 1, 4, 16 };
#define NSESS (sizeof(nsess_of) / sizeof(nsess_of[0]))

static const unsigned ceil_batches[] = { 1, 64, 1024 };
#define NCEIL (sizeof(ceil_batches) / sizeof(ceil_batches[0]))

struct options {
	double seconds;
	int only;                          /* -1: every workload */
	int only_dur;                      /* -1: every durability */
	unsigned only_sessions;            /* 0: 1, 4 and 16 */
	bool journald;                     /* false: --no-journald */
	bool strict;
	int pairs;
};

/* A target measured in alternating pairs: the median ratio and the range. */
struct paired {
	bool done;
	int n;
	double med, lo, hi;
};

/* One cell's measurement. */
struct measure {
	bool done;
	uint64_t ops;
	double run_s;                      /* start signal until every thread stopped */
	double drain_s;                    /* hdb_close() */
	uint64_t lines, bytes;             /* audit log after close */
};

struct results {
	struct measure base[NWORK][NSESS][2];        /* unaudited, before and after */
	struct measure aud[NWORK][NSESS][NSINK][NDUR];
	double file_ceil[NCEIL];                     /* lines/s */
	double jd_ceil[2];                           /* lines/s, start and end; -1: none */
	double jd_ceil_const;                        /* the same with all but SEQ constant (reference) */
	bool have_journald;
	struct paired put_batch[NSESS];              /* put-sync, file, batch */
	struct paired put_sync16;                    /* put-sync, file, sync, 16 sessions */
	struct paired get1;                          /* get, file, batch, 1 session */
	struct paired get_jd[NSESS];                 /* get, file+jd, batch, over the ceiling */
};

/* One session's thread. */
struct worker {
	pthread_t thr;
	struct hdb_session *s;
	enum workload w;
	unsigned id;
	uint64_t ops;
	uint64_t cap;                      /* stop after this many operations; 0: none */
	uint64_t rng;
	int rc;
	char err[300];
};

static char shm_root[PATH_MAX], disk_root[PATH_MAX];
static unsigned cell_seq;
static atomic_bool stop_flag;
static atomic_uint nfinished;
static pthread_barrier_t start_barrier;
static volatile uint64_t sink_acc;      /* keeps reads from being optimised away */

/* A record as the pipeline writes it (about 600 bytes), for the ceilings. */
static const char sample_line[] =
	"{\"seq\":123456,\"event_id\":\"6f1c2a9e4b7d4e0f8a3b5c6d7e8f9012\",\"timestamp\":\"2024-05-01T12:34:56.789012Z\","
	"\"event_type\":\"read\",\"outcome\":\"success\",\"error\":null,\"user\":\"bench\",\"source_ip\":\"local\","
	"\"application\":\"bench_audit\",\"session_id\":\"0a1b2c3d4e5f60718293a4b5c6d7e8f9\",\"table\":null,"
	"\"object\":\"keyspace:bench key:hk1:3f2a9c0e1d7b6a5948372615a4b3c2d1\",\"query\":null,\"rows_affected\":1,"
	"\"encryption_enabled\":true,\"db_id\":\"00112233445566778899aabbccddeeff\",\"host\":\"bench-host\","
	"\"pid\":4242,\"prev_hash\":\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\","
	"\"hash\":\"60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752\"}\n";

/* ------------------------------------------------------------------ utils */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_next(uint64_t *st)
{
	/* xorshift64* */
	*st ^= *st >> 12;
	*st ^= *st << 25;
	*st ^= *st >> 27;
	return *st * 0x2545f4914f6cdd1du;
}

static void sleep_s(double s)
{
	struct timespec d = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
	while (nanosleep(&d, &d) != 0 && errno == EINTR)
		;
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	if (remove(path) != 0)
		fprintf(stderr, "bench_audit: cannot remove '%s': %s\n", path, strerror(errno));
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
	if ((size_t)snprintf(out, outlen, "%s/hdb-bench-audit-XXXXXX", base) >= outlen)
		return -1;
	if (!mkdtemp(out)) {
		fprintf(stderr, "bench_audit: cannot create a directory under '%s': %s\n", base, strerror(errno));
		out[0] = '\0';
		return -1;
	}
	return 0;
}

/* Counts the lines and bytes of every log segment in dir (not the .pub). */
static void count_log(const char *dir, uint64_t *ret_lines, uint64_t *ret_bytes)
{
	uint64_t lines = 0, bytes = 0;
	DIR *d = opendir(dir);
	static char buf[1 << 20];
	if (!d) {
		*ret_lines = *ret_bytes = 0;
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (e->d_name[0] == '.' || (n > 4 && strcmp(e->d_name + n - 4, ".pub") == 0))
			continue;
		char path[PATH_MAX];
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path))
			continue;
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t r;
		while ((r = read(fd, buf, sizeof(buf))) > 0) {
			bytes += (uint64_t)r;
			for (const char *p = buf, *end = buf + r; (p = memchr(p, '\n', (size_t)(end - p))); p++)
				lines++;
		}
		close(fd);
	}
	closedir(d);
	*ret_lines = lines;
	*ret_bytes = bytes;
}

static bool journald_running(void)
{
	if (access(JOURNAL_SOCKET, W_OK) != 0)
		return false;
	/* a stale socket left by a journald that died refuses the datagram */
	return sd_journal_send("MESSAGE=bench_audit: probe", "PRIORITY=7", "SYSLOG_IDENTIFIER=bench_audit", NULL) >= 0;
}

/* -------------------------------------------------------------- databases */

static struct hdb_config *make_config(bool audited, enum dur d, enum sink sk)
{
	struct hdb_config *cfg = NULL;
	char text[256];
	int rc = hdb_config_new(&cfg);
	if (!rc)
		rc = hdb_config_set_encryption(cfg, true);
	if (!rc)
		rc = hdb_config_set_key_source(cfg, HDB_KEY_ENVIRONMENT, "HELIOSDB_ENCRYPTION_KEY");
	if (audited)
		snprintf(text, sizeof(text), "audit.enabled = true\naudit.durability = \"%s\"\naudit.journald = \"%s\"\n",
		         dur_name[d], sk == SINK_JOURNAL ? "required" : "off");
	else
		snprintf(text, sizeof(text), "audit.enabled = false\n");
	if (!rc)
		rc = hdb_config_apply(cfg, text);
	if (rc) {
		fprintf(stderr, "bench_audit: cannot configure: %s: %s\n", hdb_strerror(rc),
		        cfg ? hdb_config_errmsg(cfg) : "");
		hdb_config_free(cfg);
		return NULL;
	}
	return cfg;
}

/* Writes the READ_KEYS keys of the get workload, audit off. */
static int prefill(const char *path)
{
	struct hdb_config *cfg = make_config(false, D_BATCH, SINK_FILE);
	struct hdb_db *db = NULL;
	struct hdb_session *s = NULL;
	const struct hdb_principal who = { "bench", "local", "bench_audit" };
	unsigned char val[VALUE_LEN];
	char key[32];
	int rc = cfg ? hdb_open(path, cfg, HDB_OPEN_CREATE | HDB_OPEN_EXCL, &db) : HDB_ENOMEM;
	if (!rc)
		rc = hdb_session_open(db, &who, &s);
	for (size_t i = 0; i < READ_KEYS && !rc; i++) {
		if (i % BATCH_PUTS == 0)
			rc = hdb_begin(s, 0);
		memset(val, (int)(i & 0xff), sizeof(val));
		int n = snprintf(key, sizeof(key), "key-%08zu", i);
		if (!rc)
			rc = hdb_kv_put(s, KEYSPACE, key, (size_t)n, val, sizeof(val));
		if (!rc && (i % BATCH_PUTS == BATCH_PUTS - 1 || i == READ_KEYS - 1))
			rc = hdb_commit(s);
	}
	if (rc)
		fprintf(stderr, "bench_audit: cannot prefill '%s': %s: %s\n", path, hdb_strerror(rc),
		        s ? hdb_session_errmsg(s) : db ? hdb_errmsg(db) : "");
	hdb_session_close(s);
	hdb_close(db);
	hdb_config_free(cfg);
	return rc ? -1 : 0;
}

/* ----------------------------------------------------------------- workers */

static int do_get(struct worker *wk)
{
	char key[32];
	void *v = NULL;
	size_t vl = 0;
	int n = snprintf(key, sizeof(key), "key-%08zu", (size_t)(rng_next(&wk->rng) % READ_KEYS));
	int rc = hdb_kv_get(wk->s, KEYSPACE, key, (size_t)n, &v, &vl);
	if (!rc && vl != VALUE_LEN)
		rc = HDB_ECORRUPT;
	if (!rc) {
		sink_acc += ((const unsigned char *)v)[VALUE_LEN - 1];
		wk->ops++;
	}
	hdb_free(v);
	return rc;
}

static int do_put(struct worker *wk, const unsigned char *val)
{
	char key[32];
	int n = snprintf(key, sizeof(key), "w%02u-%010llu", wk->id, (unsigned long long)wk->ops);
	int rc = hdb_kv_put(wk->s, KEYSPACE, key, (size_t)n, val, VALUE_LEN);
	if (!rc)
		wk->ops++;
	return rc;
}

static int do_batch(struct worker *wk, const unsigned char *val)
{
	char key[32];
	int rc = hdb_begin(wk->s, 0);
	for (uint64_t i = 0; i < BATCH_PUTS && !rc; i++) {
		int n = snprintf(key, sizeof(key), "w%02u-%010llu", wk->id, (unsigned long long)(wk->ops + i));
		rc = hdb_kv_put(wk->s, KEYSPACE, key, (size_t)n, val, VALUE_LEN);
	}
	if (rc) {
		(void)hdb_abort(wk->s);
		return rc;
	}
	rc = hdb_commit(wk->s);
	if (!rc)
		wk->ops += BATCH_PUTS;
	return rc;
}

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	unsigned char val[VALUE_LEN];
	memset(val, 0xa5 ^ (int)wk->id, sizeof(val));
	pthread_barrier_wait(&start_barrier);
	while (!atomic_load_explicit(&stop_flag, memory_order_relaxed) && !(wk->cap && wk->ops >= wk->cap)) {
		int rc = wk->w == W_GET ? do_get(wk) : wk->w == W_PUT ? do_put(wk, val) : do_batch(wk, val);
		if (rc) {
			wk->rc = rc;
			snprintf(wk->err, sizeof(wk->err), "%s: %s", hdb_strerror(rc), hdb_session_errmsg(wk->s));
			break;
		}
	}
	atomic_fetch_add(&nfinished, 1);
	return NULL;
}

/* --------------------------------------------------------------- one cell */

static int run_cell(const struct options *o, enum workload w, unsigned nsess, bool audited, enum dur d,
                    enum sink sk, uint64_t cap, struct measure *m)
{
	char cell[PATH_MAX], dbpath[PATH_MAX], logdir[PATH_MAX];
	struct worker wk[MAX_SESSIONS];
	struct hdb_config *cfg = NULL;
	struct hdb_db *db = NULL;
	unsigned nstarted = 0;
	bool barrier = false;
	int ret = -1;

	memset(wk, 0, sizeof(wk));
	memset(m, 0, sizeof(*m));
	if ((size_t)snprintf(cell, sizeof(cell), "%s/cell-%u", w == W_PUT ? disk_root : shm_root, cell_seq++) >=
	            sizeof(cell) - 16 ||
	    mkdir(cell, 0700) != 0) {
		fprintf(stderr, "bench_audit: cannot create a cell directory under '%s'\n",
		        w == W_PUT ? disk_root : shm_root);
		return -1;
	}
	/* the default log_file is "<db>.audit/audit.log", next to the database */
	if ((size_t)snprintf(dbpath, sizeof(dbpath), "%s/db", cell) >= sizeof(dbpath) ||
	    (size_t)snprintf(logdir, sizeof(logdir), "%s/db.audit", cell) >= sizeof(logdir))
		goto out;
	if (w == W_GET && prefill(dbpath))
		goto out;
	cfg = make_config(audited, d, sk);
	if (!cfg)
		goto out;
	int rc = hdb_open(dbpath, cfg, HDB_OPEN_CREATE, &db);
	if (rc) {
		fprintf(stderr, "bench_audit: cannot open '%s': %s: %s\n", dbpath, hdb_strerror(rc),
		        db ? hdb_errmsg(db) : "");
		goto out;
	}
	const struct hdb_principal who = { "bench", "local", "bench_audit" };
	for (unsigned i = 0; i < nsess; i++) {
		wk[i].w = w;
		wk[i].id = i;
		wk[i].cap = cap ? (cap + nsess - 1) / nsess : 0;
		wk[i].rng = 0x9e3779b97f4a7c15u ^ ((uint64_t)(i + 1) * 0x100000001b3u);
		rc = hdb_session_open(db, &who, &wk[i].s);
		if (rc) {
			fprintf(stderr, "bench_audit: cannot open a session: %s: %s\n", hdb_strerror(rc), hdb_errmsg(db));
			goto out;
		}
	}
	atomic_store(&stop_flag, false);
	atomic_store(&nfinished, 0);
	if (pthread_barrier_init(&start_barrier, NULL, nsess + 1) != 0)
		goto out;
	barrier = true;
	for (; nstarted < nsess; nstarted++)
		if (pthread_create(&wk[nstarted].thr, NULL, worker_main, &wk[nstarted]) != 0) {
			fprintf(stderr, "bench_audit: cannot start a thread\n");
			break;
		}
	if (nstarted < nsess)
		goto out;
	pthread_barrier_wait(&start_barrier);
	uint64_t t0 = now_ns(), limit = (uint64_t)(o->seconds * 1e9);
	while (now_ns() - t0 < limit && atomic_load(&nfinished) < nsess)
		sleep_s(0.005);
	atomic_store(&stop_flag, true);
	for (unsigned i = 0; i < nstarted; i++)
		pthread_join(wk[i].thr, NULL);
	uint64_t t1 = now_ns();
	nstarted = 0;
	for (unsigned i = 0; i < nsess; i++) {
		m->ops += wk[i].ops;
		if (wk[i].rc) {
			fprintf(stderr, "bench_audit: %s, %u sessions, %s: %s\n", work_name[w], nsess,
			        audited ? dur_name[d] : "unaudited", wk[i].err);
			goto out;
		}
	}
	for (unsigned i = 0; i < nsess; i++) {
		hdb_session_close(wk[i].s);
		wk[i].s = NULL;
	}
	uint64_t t2 = now_ns();
	hdb_close(db);
	db = NULL;
	uint64_t t3 = now_ns();
	m->run_s = (double)(t1 - t0) / 1e9;
	m->drain_s = (double)(t3 - t2) / 1e9;
	if (audited)
		count_log(logdir, &m->lines, &m->bytes);
	m->done = true;
	ret = 0;
out:
	if (nstarted) {
		/* a thread failed to start: the barrier, sized for all of them,
		 * never opens, and the ones started wait in it for good */
		fprintf(stderr, "bench_audit: giving up\n");
		cleanup_roots();
		_exit(1);
	}
	if (barrier)
		pthread_barrier_destroy(&start_barrier);
	for (unsigned i = 0; i < nsess; i++)
		hdb_session_close(wk[i].s);
	hdb_close(db);
	hdb_config_free(cfg);
	rm_tree(cell);
	return ret;
}

/* -------------------------------------------------------------- ceilings */

/* Lines/s appending sample_line to a file under the disk root, one write()
 * per line, one fdatasync per `batch` lines. */
static double file_ceiling(double seconds, unsigned batch)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof(path), "%s/ceiling-%u.log", disk_root, batch) >= sizeof(path))
		return -1;
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0) {
		fprintf(stderr, "bench_audit: cannot create '%s': %s\n", path, strerror(errno));
		return -1;
	}
	size_t len = sizeof(sample_line) - 1;
	uint64_t n = 0, t0 = now_ns(), limit = (uint64_t)(seconds * 1e9);
	double ret = -1;
	for (;;) {
		for (unsigned i = 0; i < batch; i++, n++)
			if (write(fd, sample_line, len) != (ssize_t)len)
				goto out;
		if (fdatasync(fd) != 0)
			goto out;
		if (now_ns() - t0 >= limit)
			break;
	}
	ret = (double)n / ((double)(now_ns() - t0) / 1e9);
out:
	if (ret < 0)
		fprintf(stderr, "bench_audit: cannot append to '%s': %s\n", path, strerror(errno));
	close(fd);
	unlink(path);
	return ret;
}

/* Lines/s of synchronous sd_journal_sendv, entries shaped like the
 * pipeline's (audit/journal.c): MESSAGE, MESSAGE_ID, PRIORITY,
 * SYSLOG_IDENTIFIER, 16 HELIOSDB_* fields, HELIOSDB_RECORD.
 *
 * With vary, every value that differs between two of the pipeline's
 * entries differs here too: MESSAGE (it ends in the seq), SEQ, TIMESTAMP,
 * EVENT_ID, PREV_HASH, HASH and RECORD.  journald stores each distinct
 * field value once (a data object found by hash), so entries that repeat
 * all but one value cost it less than real ones: without vary (the
 * figure earlier versions of this program reported) only SEQ changes. */
static double journald_ceiling_vary(double seconds, bool vary);
static double journald_ceiling(double seconds)
{
	return journald_ceiling_vary(seconds, true);
}

static double journald_ceiling_vary(double seconds, bool vary)
{
	static const char *const fixed[] = {
		"MESSAGE=heliosdb: read on keyspace:bench key:hk1:3f2a9c0e1d7b6a59 by bench from local: success (seq 123456)",
		"MESSAGE_ID=5d3b1f0e8a9c4b7d9e2f6a1c3b5d7e90",
		"PRIORITY=6",
		"SYSLOG_IDENTIFIER=heliosdb",
		"HELIOSDB_EVENT_TYPE=read",
		"HELIOSDB_OUTCOME=success",
		"HELIOSDB_USER=bench",
		"HELIOSDB_SOURCE_IP=local",
		"HELIOSDB_APPLICATION=bench_audit",
		"HELIOSDB_SESSION=0a1b2c3d4e5f60718293a4b5c6d7e8f9",
		"HELIOSDB_OBJECT=keyspace:bench key:hk1:3f2a9c0e1d7b6a5948372615a4b3c2d1",
		"HELIOSDB_ROWS_AFFECTED=1",
		"HELIOSDB_TIMESTAMP=2024-05-01T12:34:56.789012Z",
		"HELIOSDB_EVENT_ID=6f1c2a9e4b7d4e0f8a3b5c6d7e8f9012",
		"HELIOSDB_DB_ID=00112233445566778899aabbccddeeff",
		"HELIOSDB_PREV_HASH=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		"HELIOSDB_HASH=60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752",
	};
	enum { NFIXED = sizeof(fixed) / sizeof(fixed[0]) };
	struct iovec iov[NFIXED + 2];
	char seq[48], record[sizeof(sample_line) + 32];
	for (size_t i = 0; i < NFIXED; i++) {
		iov[i].iov_base = (void *)(uintptr_t)fixed[i];
		iov[i].iov_len = strlen(fixed[i]);
	}
	int rl = snprintf(record, sizeof(record), "HELIOSDB_RECORD=%.*s", (int)sizeof(sample_line) - 2, sample_line);
	iov[NFIXED + 1].iov_base = record;
	iov[NFIXED + 1].iov_len = (size_t)rl;
	uint64_t n = 0, t0 = now_ns(), limit = (uint64_t)(seconds * 1e9);
	/* the varying values, rewritten in place: same lengths as fixed[] */
	char msg[160], ts[64], eid[64], prev[96], hash[96];
	static const char hexd[] = "0123456789abcdef";
	uint64_t rng = 0x2545f4914f6cdd1du ^ (uint64_t)now_ns();
	for (;;) {
		for (unsigned i = 0; i < 64; i++, n++) {
			int sl = snprintf(seq, sizeof(seq), "HELIOSDB_SEQ=%llu", (unsigned long long)n);
			iov[NFIXED].iov_base = seq;
			iov[NFIXED].iov_len = (size_t)sl;
			if (vary) {
				int ml = snprintf(msg, sizeof(msg), "MESSAGE=heliosdb: read on keyspace:bench key:hk1:3f2a9c0e1d7b6a59 "
				                  "by bench from local: success (seq %llu)", (unsigned long long)n);
				iov[0].iov_base = msg;
				iov[0].iov_len = (size_t)ml;
				snprintf(ts, sizeof(ts), "HELIOSDB_TIMESTAMP=2024-05-01T12:34:56.%06uZ", (unsigned)(n % 1000000));
				iov[12].iov_base = ts;
				snprintf(eid, sizeof(eid), "%s", fixed[13]);
				snprintf(prev, sizeof(prev), "%s", fixed[15]);
				snprintf(hash, sizeof(hash), "%s", fixed[16]);
				for (char *p = eid + 18; *p; p++)
					*p = hexd[rng_next(&rng) & 15];
				for (char *p = prev + 19; *p; p++)
					*p = hexd[rng_next(&rng) & 15];
				for (char *p = hash + 14; *p; p++)
					*p = hexd[rng_next(&rng) & 15];
				iov[13].iov_base = eid;
				iov[15].iov_base = prev;
				iov[16].iov_base = hash;
				/* the record holds seq, event_id and both hashes */
				memcpy(record + 16 + 7, seq + 13, (size_t)sl - 13 < 6 ? (size_t)sl - 13 : 6);
				memcpy(record + rl - 66, hash + 14, 64);
			}
			int r = sd_journal_sendv(iov, NFIXED + 2);
			if (r < 0) {
				fprintf(stderr, "bench_audit: sd_journal_sendv: %s\n", strerror(-r));
				return -1;
			}
		}
		if (now_ns() - t0 >= limit)
			break;
	}
	return (double)n / ((double)(now_ns() - t0) / 1e9);
}

/* ----------------------------------------------------------------- report */

static double events_per_op(enum workload w)
{
	return w == W_BATCH ? (BATCH_PUTS + 2.0) / BATCH_PUTS : 1.0;
}

/* Sustained events/s: operations over run + drain. */
static double ev_rate(const struct measure *m, enum workload w)
{
	if (!m->done || m->run_s + m->drain_s <= 0)
		return -1;
	return (double)m->ops * events_per_op(w) / (m->run_s + m->drain_s);
}

static double client_rate(const struct measure *m, enum workload w)
{
	if (!m->done || m->run_s <= 0)
		return -1;
	return (double)m->ops * events_per_op(w) / m->run_s;
}

static double base_rate(const struct results *r, enum workload w, size_t si)
{
	double a = ev_rate(&r->base[w][si][0], w), b = ev_rate(&r->base[w][si][1], w);
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return (a + b) / 2;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

/* Runs the audited cell (w, nsess, d, sk) and its reference o->pairs times,
 * alternately (ABBA), into pr: the median of aud/ref.  The reference is the
 * unaudited cell, or with journald the ceiling (or the unaudited cell's rate
 * when that is lower, as in the table's targets). */
static int run_pairs(const struct options *o, enum workload w, size_t si, enum dur d, enum sink sk,
                     uint64_t cap, struct paired *pr)
{
	double ratio[16];
	int n = o->pairs < 16 ? o->pairs : 16;
	unsigned nsess = nsess_of[si];
	fprintf(stderr, "  pairs: %s, %u session%s, %s %s\n", work_name[w], nsess, nsess == 1 ? "" : "s",
	        sink_name[sk], dur_name[d]);
	for (int p = 0; p < n; p++) {
		struct measure ref, aud;
		double ref_rate = -1, aud_rate = -1;
		for (int k = 0; k < 2; k++) {
			bool audited_now = (k == 0) == (p % 2 == 1);
			if (audited_now) {
				if (run_cell(o, w, nsess, true, d, sk, cap, &aud))
					return -1;
				aud_rate = ev_rate(&aud, w);
			} else if (sk == SINK_JOURNAL) {
				double cs = o->seconds > CEIL_SECONDS_MIN ? o->seconds : CEIL_SECONDS_MIN;
				if ((ref_rate = journald_ceiling(cs)) < 0)
					return -1;
			} else {
				if (run_cell(o, w, nsess, false, D_BATCH, SINK_FILE, 0, &ref))
					return -1;
				ref_rate = ev_rate(&ref, w);
			}
		}
		if (ref_rate <= 0 || aud_rate < 0)
			return -1;
		ratio[p] = aud_rate / ref_rate;
	}
	qsort(ratio, (size_t)n, sizeof(ratio[0]), cmp_double);
	pr->n = n;
	pr->lo = ratio[0];
	pr->hi = ratio[n - 1];
	pr->med = n % 2 ? ratio[n / 2] : (ratio[n / 2 - 1] + ratio[n / 2]) / 2;
	pr->done = true;
	return 0;
}

static void print_machine(const struct options *o, bool jd)
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
	printf("HeliosDB Nano audit pipeline benchmark\n");
	if (uname(&u) == 0)
		printf("  machine   %s, %ld CPUs, %s %s\n", model, sysconf(_SC_NPROCESSORS_ONLN), u.sysname, u.release);
	printf("  cells     %.2f s each, then hdb_close() (drain) timed; encrypted, %d-byte values;\n"
	       "            audit.batch_window_ms default, checkpoint_every default\n",
	       o->seconds, VALUE_LEN);
	printf("  placement get/put-batch in %s (tmpfs); put-sync and the file ceiling in %s\n", shm_root, disk_root);
	printf("  journald  %s\n", jd ? "running: file+journald cells use audit.journald = \"required\""
	                              : o->journald ? "not running, skipped" : "skipped (--no-journald)");
}

static void print_row(const char *work, unsigned nsess, const char *what, double client, double sus,
                      double base, double drain_ms, double rec_per_op)
{
	printf("%-9s %4u  %-19s %10.0f %10.0f", work, nsess, what, client, sus);
	if (base > 0)
		printf(" %10.0f %6.2f", base, sus / base);
	else
		printf(" %10s %6s", "", "");
	printf(" %8.1f", drain_ms);
	if (rec_per_op >= 0)
		printf(" %7.3f", rec_per_op);
	printf("\n");
}

static void print_table(const struct results *r, const struct options *o)
{
	printf("\n%-9s %4s  %-19s %10s %10s %10s %6s %8s %7s\n", "workload", "sess", "audit", "client", "events/s",
	       "unaudited", "ratio", "drain", "rec/op");
	printf("%-9s %4s  %-19s %10s %10s %10s %6s %8s %7s\n", "", "", "", "ev/s", "sustained", "ev/s (mean)", "",
	       "ms", "");
	for (int w = 0; w < NWORK; w++) {
		if (o->only >= 0 && o->only != w)
			continue;
		for (size_t si = 0; si < NSESS; si++) {
			double base = base_rate(r, (enum workload)w, si);
			for (int k = 0; k < 2; k++) {
				const struct measure *m = &r->base[w][si][k];
				if (!m->done)
					continue;
				print_row(work_name[w], nsess_of[si], k ? "off (after)" : "off (before)",
				          client_rate(m, (enum workload)w), ev_rate(m, (enum workload)w), -1,
				          m->drain_s * 1e3, -1);
			}
			for (int sk = 0; sk < NSINK; sk++) {
				for (int d = 0; d < NDUR; d++) {
					const struct measure *m = &r->aud[w][si][sk][d];
					char what[40];
					if (!m->done)
						continue;
					snprintf(what, sizeof(what), "%s %s", sink_name[sk], dur_name[d]);
					print_row(work_name[w], nsess_of[si], what, client_rate(m, (enum workload)w),
					          ev_rate(m, (enum workload)w), base, m->drain_s * 1e3,
					          m->ops ? (double)m->lines / (double)m->ops : 0);
				}
			}
		}
	}
	printf("\nceilings (same run):\n");
	for (size_t i = 0; i < NCEIL; i++)
		printf("  file, %4u lines per fdatasync (/tmp) %10.0f lines/s\n", ceil_batches[i], r->file_ceil[i]);
	if (r->have_journald)
		printf("  sd_journal_sendv alone, 1 thread     %10.0f lines/s (start), %.0f (end)\n", r->jd_ceil[0],
		       r->jd_ceil[1]);
	if (r->have_journald)
		printf("  (entries repeating all but SEQ       %10.0f lines/s: not the ceiling, see journald_ceiling)\n",
		       r->jd_ceil_const);
	else
		printf("  journald: not running, skipped\n");
}

static int target(const char *name, const struct paired *p, double limit, bool have)
{
	if (!have || !p->done) {
		printf("%-58s %8s %7.2f  %s\n", name, "-", limit, "not measured");
		return 0;
	}
	bool pass = p->med >= limit;
	printf("%-58s %8.2f %7.2f  %s   (%d pairs, %.2f-%.2f)\n", name, p->med, limit, pass ? "PASS" : "MISS", p->n,
	       p->lo, p->hi);
	return !pass;
}

static int print_targets(const struct results *r, const struct options *o)
{
	int misses = 0;
	char name[128];
	printf("\n%-58s %8s %7s  %s\n", "target (median ratio of alternating pairs)", "value", "limit", "result");
	if (o->only < 0 || o->only == W_PUT) {
		for (size_t si = 0; si < NSESS; si++) {
			snprintf(name, sizeof(name), "put-sync, file, batch, %2u sess: audited/unaudited", nsess_of[si]);
			misses += target(name, &r->put_batch[si], LIMIT_PUT_BATCH, true);
		}
		snprintf(name, sizeof(name), "put-sync, file, sync,  %2u sess: audited/unaudited", nsess_of[NSESS - 1]);
		misses += target(name, &r->put_sync16, LIMIT_PUT_SYNC16, true);
	}
	if (o->only < 0 || o->only == W_GET) {
		misses += target("get, file, batch, 1 sess: audited/unaudited", &r->get1, LIMIT_GET, true);
		for (size_t si = 0; si < NSESS; si++) {
			snprintf(name, sizeof(name), "get, file+jd, batch, %2u sess: audited/journald ceiling", nsess_of[si]);
			misses += target(name, &r->get_jd[si], LIMIT_JOURNAL, r->have_journald);
		}
	}
	return misses;
}

/* ------------------------------------------------------------------- main */

static void usage(void)
{
	fprintf(stderr,
	        "usage: bench_audit [--quick] [--seconds S] [--only get|put-sync|put-batch]\n"
	        "                   [--sessions 1|4|16] [--durability sync|batch|async]\n"
	        "                   [--no-journald] [--strict]\n"
	        "  --quick          %.1f s per cell (about a minute in all)\n"
	        "  --seconds S      seconds per cell (default %.1f, about 3-4 minutes in all)\n"
	        "  --only W         one workload only (for profiling)\n"
	        "  --sessions N     one session count only (for profiling)\n"
	        "  --durability D   audited cells with one durability only (for profiling)\n"
	        "  --no-journald    skip the file+journald cells even if a journald runs\n"
	        "  --strict         exit 2 if any target is missed\n",
	        QUICK_SECONDS, DEFAULT_SECONDS);
}

int main(int argc, char **argv)
{
	struct options o = { DEFAULT_SECONDS, -1, -1, 0, true, false, PAIRS };
	static struct results r;
	int ret = 1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has_arg = i + 1 < argc;
		if (strcmp(a, "--quick") == 0) {
			o.seconds = QUICK_SECONDS;
			o.pairs = QUICK_PAIRS;
		} else if (strcmp(a, "--strict") == 0) {
			o.strict = true;
		} else if (strcmp(a, "--no-journald") == 0) {
			o.journald = false;
		} else if (has_arg && strcmp(a, "--seconds") == 0) {
			char *end;
			double v = strtod(argv[i + 1], &end);
			if (end == argv[i + 1] || *end || !(v >= 0.05 && v <= 60)) {
				usage();
				return 1;
			}
			o.seconds = v;
			i++;
		} else if (has_arg && strcmp(a, "--sessions") == 0) {
			o.only_sessions = (unsigned)strtoul(argv[i + 1], NULL, 10);
			if (o.only_sessions != 1 && o.only_sessions != 4 && o.only_sessions != 16) {
				usage();
				return 1;
			}
			i++;
		} else if (has_arg && strcmp(a, "--durability") == 0) {
			o.only_dur = -1;
			for (int d = 0; d < NDUR; d++)
				if (strcmp(argv[i + 1], dur_name[d]) == 0)
					o.only_dur = d;
			if (o.only_dur < 0) {
				usage();
				return 1;
			}
			i++;
		} else if (has_arg && strcmp(a, "--only") == 0) {
			o.only = -1;
			for (int w = 0; w < NWORK; w++)
				if (strcmp(argv[i + 1], work_name[w]) == 0)
					o.only = w;
			if (o.only < 0) {
				usage();
				return 1;
			}
			i++;
		} else {
			usage();
			return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 ? 0 : 1;
		}
	}
	if (setenv("HELIOSDB_ENCRYPTION_KEY", TEST_KEY_HEX, 1) != 0) {
		fprintf(stderr, "bench_audit: cannot set HELIOSDB_ENCRYPTION_KEY\n");
		return 1;
	}
	unsetenv("HELIOSDB_NOSYNC");
	const char *tmp = getenv("TMPDIR");
	if (make_root(access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (tmp && *tmp ? tmp : "/tmp"), shm_root,
	              sizeof(shm_root)) ||
	    make_root(tmp && *tmp ? tmp : "/tmp", disk_root, sizeof(disk_root)))
		goto out;

	r.have_journald = o.journald && journald_running();
	r.jd_ceil[0] = r.jd_ceil[1] = -1;
	print_machine(&o, r.have_journald);
	fflush(stdout);
	uint64_t t_all = now_ns();
	double cs = o.seconds > CEIL_SECONDS_MIN ? o.seconds : CEIL_SECONDS_MIN;

	fprintf(stderr, "  ceilings\n");
	for (size_t i = 0; i < NCEIL; i++)
		if ((r.file_ceil[i] = file_ceiling(cs, ceil_batches[i])) < 0)
			goto out;
	if (r.have_journald && (r.jd_ceil[0] = journald_ceiling(cs)) < 0)
		goto out;

	/* journald cells stop after the events journald could take in a cell's
	 * time (with a margin), so their drain stays bounded */
	uint64_t jd_cap = r.have_journald ? (uint64_t)(r.jd_ceil[0] * o.seconds * 1.2) + 1 : 0;
	for (int w = 0; w < NWORK; w++) {
		if (o.only >= 0 && o.only != w)
			continue;
		struct measure warm;
		fprintf(stderr, "  %s: warm-up\n", work_name[w]);
		if (run_cell(&o, (enum workload)w, 1, false, D_BATCH, SINK_FILE, 0, &warm))
			goto out;
		for (size_t si = 0; si < NSESS; si++) {
			unsigned n = nsess_of[si];
			if (o.only_sessions && o.only_sessions != n)
				continue;
			fprintf(stderr, "  %s, %u session%s\n", work_name[w], n, n == 1 ? "" : "s");
			if (run_cell(&o, (enum workload)w, n, false, D_BATCH, SINK_FILE, 0, &r.base[w][si][0]))
				goto out;
			for (int sk = 0; sk < NSINK; sk++) {
				if (sk == SINK_JOURNAL && !r.have_journald)
					continue;
				for (int d = 0; d < NDUR; d++)
					if ((o.only_dur < 0 || o.only_dur == d) && run_cell(&o, (enum workload)w, n, true, (enum dur)d, (enum sink)sk,
					             sk == SINK_JOURNAL ? jd_cap : 0, &r.aud[w][si][sk][d]))
						goto out;
			}
			if (run_cell(&o, (enum workload)w, n, false, D_BATCH, SINK_FILE, 0, &r.base[w][si][1]))
				goto out;
		}
	}
	/* the targets, in alternating pairs (see the top of this file) */
	for (size_t si = 0; si < NSESS && (o.only < 0 || o.only == W_PUT); si++) {
		if (o.only_sessions && o.only_sessions != nsess_of[si])
			continue;
		if ((o.only_dur < 0 || o.only_dur == D_BATCH) &&
		    run_pairs(&o, W_PUT, si, D_BATCH, SINK_FILE, 0, &r.put_batch[si]))
			goto out;
		if (si == NSESS - 1 && (o.only_dur < 0 || o.only_dur == D_SYNC) &&
		    run_pairs(&o, W_PUT, si, D_SYNC, SINK_FILE, 0, &r.put_sync16))
			goto out;
	}
	for (size_t si = 0; si < NSESS && (o.only < 0 || o.only == W_GET); si++) {
		if ((o.only_sessions && o.only_sessions != nsess_of[si]) || (o.only_dur >= 0 && o.only_dur != D_BATCH))
			continue;
		if (si == 0 && run_pairs(&o, W_GET, si, D_BATCH, SINK_FILE, 0, &r.get1))
			goto out;
		if (r.have_journald && run_pairs(&o, W_GET, si, D_BATCH, SINK_JOURNAL, jd_cap, &r.get_jd[si]))
			goto out;
	}
	if (r.have_journald && (r.jd_ceil_const = journald_ceiling_vary(cs, false)) < 0)
		return 1;
	if (r.have_journald && (r.jd_ceil[1] = journald_ceiling(cs)) < 0)
		goto out;

	print_table(&r, &o);
	int misses = print_targets(&r, &o);
	if (!r.have_journald)
		printf("journald: not running, skipped\n");
	printf("\n%d target%s missed; %.0f s in all\n", misses, misses == 1 ? "" : "s",
	       (double)(now_ns() - t_all) / 1e9);
	ret = misses && o.strict ? 2 : 0;
out:
	cleanup_roots();
	return ret;
}
