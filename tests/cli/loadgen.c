/*
 * loadgen.c - a small driver of the C API for the crash tests in
 * tests/cli/crash.bats and the corruption tests in tests/cli/engine.bats.
 *
 *   loadgen write DBDIR [N [START]]
 *                                  autocommit puts of kSTART, kSTART+1, ...
 *                                  (N of them, 0 = forever; START default
 *                                  0) into keyspace "load"; prints
 *                                  each key on stdout, flushed, only AFTER
 *                                  hdb_kv_put() returned HDB_OK: a printed
 *                                  key is an acknowledged write.
 *   loadgen fill DBDIR N [BATCH]   writes k0..k(N-1) in batches of BATCH
 *                                  (default 1000) per transaction.
 *   loadgen check DBDIR            reads key names from stdin, one a line;
 *                                  every one must be present with its
 *                                  expected value.  Names each missing or
 *                                  wrong key on stderr; exits 1 if any.
 *   loadgen count DBDIR            prints the number of keys in "load" after
 *                                  checking that each holds its expected
 *                                  value (exit 1 if one does not).
 *   loadgen put DBDIR KS KEY SIZE  one value of SIZE bytes ('Q' * SIZE).
 *   loadgen putv DBDIR KS KEY VAL  one value, the text VAL.
 *   loadgen del DBDIR KS KEY       deletes a key.
 *   loadgen flip FILE OFFSET [XOR] XORs the byte at OFFSET (default 0xff).
 *   loadgen pages FILE FLAGS       prints the page numbers (4 KiB pages)
 *                                  whose LMDB page flags equal FLAGS
 *                                  (e.g. 4 = overflow, 2 = leaf).
 *
 * LOADGEN_CONFIG=FILE opens with that configuration, LOADGEN_RDONLY=1
 * read-only.  The master key comes from the default configuration: the environment
 * variable HELIOSDB_ENCRYPTION_KEY.  Exit codes: 0 ok, 1 a check failed,
 * 2 usage, 3 an API call failed (its message on stderr).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "heliosdb.h"

#define KS "load"

struct conn {
	struct hdb_config *cfg;
	struct hdb_db *db;
	struct hdb_session *s;
};

static void conn_close(struct conn *c)
{
	hdb_session_close(c->s);
	hdb_close(c->db);
	hdb_config_free(c->cfg);
}

static int conn_open(struct conn *c, const char *dir, unsigned flags)
{
	memset(c, 0, sizeof(*c));
	/* LOADGEN_RDONLY=1: open read-only (with audit on, only a wrong key
	 * gets that far: the engine refuses a read-only audited open later) */
	if (getenv("LOADGEN_RDONLY"))
		flags |= HDB_OPEN_RDONLY;
	/* LOADGEN_CONFIG: a configuration file to open with (else defaults) */
	const char *cf = getenv("LOADGEN_CONFIG");
	int rc = cf ? hdb_config_load(cf, &c->cfg) : hdb_config_new(&c->cfg);
	if (rc) {
		fprintf(stderr, "loadgen: config: %s\n", c->cfg ? hdb_config_errmsg(c->cfg) : hdb_strerror(rc));
		hdb_config_free(c->cfg);
		c->cfg = NULL;
		return rc;
	}
	rc = hdb_open(dir, c->cfg, flags, &c->db);
	if (rc) {
		fprintf(stderr, "loadgen: open '%s': %s\n", dir, c->db ? hdb_errmsg(c->db) : hdb_strerror(rc));
		conn_close(c);
		return rc;
	}
	struct hdb_principal who = { "loadgen", "local", "loadgen" };
	rc = hdb_session_open(c->db, &who, &c->s);
	if (rc) {
		fprintf(stderr, "loadgen: session: %s\n", hdb_errmsg(c->db));
		conn_close(c);
	}
	return rc;
}

/* The value of key number i: recognisable, and varying in length. */
static size_t value_of(unsigned long i, char *out, size_t cap)
{
	int n = snprintf(out, cap, "value-%lu-", i);
	size_t len = (size_t)n + (i % 97);
	if (len > cap)
		len = cap;
	for (size_t j = (size_t)n; j < len; j++)
		out[j] = (char)('a' + (i + j) % 26);
	return len;
}

static int cmd_write(const char *dir, unsigned long n, unsigned long start)
{
	struct conn c;
	if (conn_open(&c, dir, HDB_OPEN_CREATE))
		return 3;
	char key[32], val[256];
	int ret = 0;
	for (unsigned long i = start; n == 0 || i < start + n; i++) {
		int kl = snprintf(key, sizeof(key), "k%lu", i);
		size_t vl = value_of(i, val, sizeof(val));
		int rc = hdb_kv_put(c.s, KS, key, (size_t)kl, val, vl);
		if (rc) {
			fprintf(stderr, "loadgen: put %s: %s\n", key, hdb_session_errmsg(c.s));
			ret = 3;
			break;
		}
		/* acknowledged: only now may the key be reported */
		if (printf("%s\n", key) < 0 || fflush(stdout) != 0) {
			ret = 3;
			break;
		}
	}
	conn_close(&c);
	return ret;
}

static int cmd_fill(const char *dir, unsigned long n, unsigned long batch)
{
	struct conn c;
	if (conn_open(&c, dir, HDB_OPEN_CREATE))
		return 3;
	struct hdb_kv_op *ops = calloc(batch, sizeof(*ops));
	char (*keys)[32] = calloc(batch, 32);
	char (*vals)[256] = calloc(batch, 256);
	int ret = 0;
	if (!ops || !keys || !vals) {
		fprintf(stderr, "loadgen: out of memory\n");
		ret = 3;
		goto out;
	}
	for (unsigned long i = 0; i < n; i += batch) {
		size_t m = 0;
		for (unsigned long j = i; j < n && j < i + batch; j++, m++) {
			int kl = snprintf(keys[m], 32, "k%lu", j);
			ops[m].key = keys[m];
			ops[m].klen = (size_t)kl;
			ops[m].vlen = value_of(j, vals[m], 256);
			ops[m].val = vals[m];
		}
		int rc = hdb_kv_write_batch(c.s, KS, ops, m);
		if (rc) {
			fprintf(stderr, "loadgen: write batch at k%lu: %s\n", i, hdb_session_errmsg(c.s));
			ret = 3;
			goto out;
		}
	}
out:
	free(ops);
	free(keys);
	free(vals);
	conn_close(&c);
	return ret;
}

/* 1 when the key is present with its expected value, 0 when not (reported). */
static int check_one(struct hdb_session *s, const char *key)
{
	char *end;
	if (key[0] != 'k' || !key[1]) {
		fprintf(stderr, "loadgen: bad key name '%s' on input\n", key);
		return 0;
	}
	unsigned long i = strtoul(key + 1, &end, 10);
	if (*end) {
		fprintf(stderr, "loadgen: bad key name '%s' on input\n", key);
		return 0;
	}
	void *v = NULL;
	size_t vl = 0;
	int rc = hdb_kv_get(s, KS, key, strlen(key), &v, &vl);
	if (rc) {
		fprintf(stderr, "loadgen: MISSING %s: %s\n", key, hdb_session_errmsg(s));
		return 0;
	}
	char want[256];
	size_t wl = value_of(i, want, sizeof(want));
	int ok = vl == wl && memcmp(v, want, wl) == 0;
	if (!ok)
		fprintf(stderr, "loadgen: WRONG VALUE for %s (%zu bytes)\n", key, vl);
	hdb_free(v);
	return ok;
}

static int cmd_check(const char *dir)
{
	struct conn c;
	if (conn_open(&c, dir, 0)) /* read-write: the audit trail is written through the database */
		return 3;
	char line[128];
	unsigned long seen = 0, bad = 0;
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0])
			continue;
		seen++;
		if (!check_one(c.s, line))
			bad++;
	}
	conn_close(&c);
	printf("checked %lu keys, %lu missing or wrong\n", seen, bad);
	return bad ? 1 : 0;
}

struct count_ctx {
	unsigned long n, bad;
};

static int count_fn(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct count_ctx *cc = arg;
	char k[64], want[256];
	cc->n++;
	if (klen < 2 || klen >= sizeof(k)) {
		cc->bad++;
		return 0;
	}
	memcpy(k, key, klen);
	k[klen] = '\0';
	size_t wl = value_of(strtoul(k + 1, NULL, 10), want, sizeof(want));
	if (vlen != wl || memcmp(val, want, wl) != 0) {
		if (cc->bad++ == 0)
			fprintf(stderr, "loadgen: WRONG VALUE for %s\n", k);
	}
	return 0;
}

static int cmd_count(const char *dir)
{
	struct conn c;
	if (conn_open(&c, dir, 0)) /* read-write: the audit trail is written through the database */
		return 3;
	struct count_ctx cc = { 0, 0 };
	int rc = hdb_kv_scan(c.s, KS, count_fn, &cc);
	if (rc) {
		fprintf(stderr, "loadgen: scan: %s\n", hdb_session_errmsg(c.s));
		conn_close(&c);
		return 3;
	}
	conn_close(&c);
	printf("%lu\n", cc.n);
	return cc.bad ? 1 : 0;
}

static int cmd_put(const char *dir, const char *ks, const char *key, unsigned long size)
{
	struct conn c;
	if (conn_open(&c, dir, HDB_OPEN_CREATE))
		return 3;
	char *v = malloc(size ? size : 1);
	if (!v) {
		conn_close(&c);
		return 3;
	}
	memset(v, 'Q', size);
	int rc = hdb_kv_put(c.s, ks, key, strlen(key), v, size);
	if (rc)
		fprintf(stderr, "loadgen: put: %s\n", hdb_session_errmsg(c.s));
	free(v);
	conn_close(&c);
	return rc ? 3 : 0;
}

static int cmd_putv(const char *dir, const char *ks, const char *key, const char *val)
{
	struct conn c;
	if (conn_open(&c, dir, HDB_OPEN_CREATE))
		return 3;
	int rc = hdb_kv_put(c.s, ks, key, strlen(key), val, strlen(val));
	if (rc)
		fprintf(stderr, "loadgen: put: %s\n", hdb_session_errmsg(c.s));
	conn_close(&c);
	return rc ? 3 : 0;
}

static int cmd_del(const char *dir, const char *ks, const char *key)
{
	struct conn c;
	if (conn_open(&c, dir, 0))
		return 3;
	int rc = hdb_kv_delete(c.s, ks, key, strlen(key));
	if (rc)
		fprintf(stderr, "loadgen: delete: %s\n", hdb_session_errmsg(c.s));
	conn_close(&c);
	return rc ? 3 : 0;
}

static int cmd_flip(const char *file, long long off, unsigned x)
{
	int fd = open(file, O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "loadgen: open '%s': %s\n", file, strerror(errno));
		return 3;
	}
	unsigned char b;
	int ret = 0;
	if (pread(fd, &b, 1, off) != 1) {
		fprintf(stderr, "loadgen: offset %lld is past the end of '%s'\n", off, file);
		ret = 3;
	} else {
		b ^= (unsigned char)x;
		if (pwrite(fd, &b, 1, off) != 1) {
			fprintf(stderr, "loadgen: write '%s': %s\n", file, strerror(errno));
			ret = 3;
		}
	}
	close(fd);
	return ret;
}

/* LMDB page header: pgno u64, pad u16, flags u16 (little-endian here). */
static int cmd_pages(const char *file, unsigned flags)
{
	FILE *f = fopen(file, "rb");
	if (!f) {
		fprintf(stderr, "loadgen: open '%s': %s\n", file, strerror(errno));
		return 3;
	}
	unsigned char pg[4096];
	unsigned long n = 0;
	while (fread(pg, 1, sizeof(pg), f) == sizeof(pg)) {
		unsigned fl = (unsigned)pg[10] | ((unsigned)pg[11] << 8);
		if (n >= 2 && fl == flags)
			printf("%lu\n", n);
		n++;
	}
	fclose(f);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: loadgen write DBDIR [N [START]] | fill DBDIR N [BATCH] | check DBDIR | count DBDIR\n"
	                "       loadgen put DBDIR KS KEY SIZE | putv DBDIR KS KEY VAL | del DBDIR KS KEY\n"
	                "       loadgen flip FILE OFFSET [XOR] | pages FILE FLAGS\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return usage();
	const char *m = argv[1];
	if (strcmp(m, "write") == 0 && argc <= 5)
		return cmd_write(argv[2], argc >= 4 ? strtoul(argv[3], NULL, 10) : 0,
		                 argc == 5 ? strtoul(argv[4], NULL, 10) : 0);
	if (strcmp(m, "fill") == 0 && (argc == 4 || argc == 5)) {
		unsigned long batch = argc == 5 ? strtoul(argv[4], NULL, 10) : 1000;
		return cmd_fill(argv[2], strtoul(argv[3], NULL, 10), batch ? batch : 1000);
	}
	if (strcmp(m, "check") == 0 && argc == 3)
		return cmd_check(argv[2]);
	if (strcmp(m, "count") == 0 && argc == 3)
		return cmd_count(argv[2]);
	if (strcmp(m, "put") == 0 && argc == 6)
		return cmd_put(argv[2], argv[3], argv[4], strtoul(argv[5], NULL, 10));
	if (strcmp(m, "putv") == 0 && argc == 6)
		return cmd_putv(argv[2], argv[3], argv[4], argv[5]);
	if (strcmp(m, "del") == 0 && argc == 5)
		return cmd_del(argv[2], argv[3], argv[4]);
	if (strcmp(m, "flip") == 0 && (argc == 4 || argc == 5))
		return cmd_flip(argv[2], strtoll(argv[3], NULL, 10),
		                argc == 5 ? (unsigned)strtoul(argv[4], NULL, 0) : 0xffu);
	if (strcmp(m, "pages") == 0 && argc == 4)
		return cmd_pages(argv[2], (unsigned)strtoul(argv[3], NULL, 0));
	return usage();
}
