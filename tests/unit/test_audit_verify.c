/*
 * test_audit_verify.c - audit_verify (audit/verify.c): a clean signed log
 * passes; each kind of tampering is reported at the right first file:line
 * with the right problem; a log whose first segments were deleted by
 * retention still verifies from its anchor; hostile bytes never crash.
 *
 * Logs are built in memory (one string per line) with audit_record_encode
 * and audit_checkpoint_detail, tampered with as arrays of lines, and
 * written to real files in a private temporary directory.
 */
#include "testutil.h"

#include <sys/stat.h>

#include "audit.h"

#define DB_ID "00112233445566778899aabbccddeeff"

struct log {
	char **lines;
	size_t n, cap;
	struct audit_ctx ctx;
	struct audit_head head;
	struct hdb_secret *priv;
	unsigned char pub[AUDIT_SIGN_PUB_LEN];
	int64_t t;
};

static void log_init(struct log *l)
{
	memset(l, 0, sizeof(*l));
	snprintf(l->ctx.db_id, sizeof(l->ctx.db_id), "%s", DB_ID);
	snprintf(l->ctx.host, sizeof(l->ctx.host), "test-host");
	l->ctx.pid = 77;
	audit_genesis(DB_ID, &l->head);
	assert_int_equal(audit_sign_keygen(&l->priv, l->pub), HDB_OK);
	l->t = INT64_C(1767225600000000);
}

static void log_free(struct log *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->lines[i]);
	free(l->lines);
	secret_free(l->priv);
}

static void log_push(struct log *l, char *line)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->lines = realloc(l->lines, l->cap * sizeof(*l->lines));
		assert_non_null(l->lines);
	}
	l->lines[l->n++] = line;
}

/* log_event - appends one record of type t with detail (or NULL). */
static void log_event(struct log *l, enum audit_event_type t, const char *detail, const char *user)
{
	struct audit_event ev = {
		.type = t, .user = user ? user : "doctor_smith", .source_ip = "10.0.0.5", .table = "patients",
		.object = "table:patients", .query = "SELECT * FROM patients WHERE id = ?", .rows_affected = 1,
		.encryption_enabled = true, .detail_json = detail, .time_us = (l->t += 1000),
	};
	struct buf b = { 0 };
	assert_int_equal(audit_record_encode(&l->ctx, &ev, &l->head, &b), HDB_OK);
	assert_true(b.len > 0 && b.p[b.len - 1] == '\n');
	char *s = xstrndup((const char *)b.p, b.len - 1);
	assert_non_null(s);
	buf_free(&b);
	log_push(l, s);
}

/* log_checkpoint - a checkpoint over the current head; bad = 1 flips a
 * signature digit, bad = 2 signs a different hash. */
static void log_checkpoint(struct log *l, int bad)
{
	struct buf d = { 0 };
	struct audit_head h = l->head;
	if (bad == 2)
		h.hash[0] ^= 1;
	assert_int_equal(audit_checkpoint_detail(l->priv, DB_ID, &h, l->t + 500, &d), HDB_OK);
	if (bad == 1) {
		char *sig = strstr((char *)d.p, "\"signature\":\"");
		assert_non_null(sig);
		sig += 13;
		*sig = *sig == '0' ? '1' : '0';
	}
	log_event(l, AUDIT_EV_CHECKPOINT, (const char *)d.p, NULL);
	buf_free(&d);
}

/* log_records - n data records with a checkpoint after every 10th. */
static void log_records(struct log *l, int n)
{
	for (int i = 0; i < n; i++) {
		log_event(l, i % 3 ? AUDIT_EV_READ : AUDIT_EV_WRITE, NULL, NULL);
		if (l->head.seq % 10 == 0)
			log_checkpoint(l, 0);
	}
}

static void log_stop(struct log *l)
{
	log_event(l, AUDIT_EV_AUDIT_STOP, NULL, NULL);
	log_checkpoint(l, 0);
}

/* a standard clean log: start, 30 records (3 checkpoints), stop */
static void log_standard(struct log *l)
{
	log_init(l);
	log_event(l, AUDIT_EV_AUDIT_START, NULL, NULL);
	log_records(l, 30);
	log_stop(l);
}

static void write_lines(const char *path, char *const *lines, size_t from, size_t to)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	for (size_t i = from; i < to; i++)
		fprintf(f, "%s\n", lines[i]);
	assert_int_equal(fclose(f), 0);
}

/* 1-based line i of l, removed */
static void log_delete(struct log *l, size_t i)
{
	free(l->lines[i - 1]);
	memmove(l->lines + i - 1, l->lines + i, (l->n - i) * sizeof(*l->lines));
	l->n--;
}

/* s inserted so that it becomes 1-based line i */
static void log_insert(struct log *l, size_t i, const char *s)
{
	log_push(l, NULL);
	memmove(l->lines + i, l->lines + i - 1, (l->n - i) * sizeof(*l->lines));
	l->lines[i - 1] = strdup(s);
}

/* ------------------------------------------------------------ findings */

struct found {
	enum audit_problem p;
	char file[512];
	uint64_t line, seq;
	char detail[1024];
};

struct findings {
	struct found f[2000];
	size_t n;
};

static void collect(void *arg, const struct audit_finding *f)
{
	struct findings *fs = arg;
	if (fs->n < ARRAY_SIZE(fs->f)) {
		struct found *x = &fs->f[fs->n];
		x->p = f->problem;
		const char *b = strrchr(f->file, '/');
		snprintf(x->file, sizeof(x->file), "%s", b ? b + 1 : f->file);
		x->line = f->line;
		x->seq = f->seq;
		snprintf(x->detail, sizeof(x->detail), "%s", f->detail);
	}
	fs->n++;
}

/* same_findings - the parallel pre-pass changes nothing: the same result,
 * the same findings in the same order, whatever the threads and batches. */
static void same_findings(const struct findings *a, const struct findings *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n && i < ARRAY_SIZE(a->f); i++) {
		assert_int_equal(a->f[i].p, b->f[i].p);
		assert_string_equal(a->f[i].file, b->f[i].file);
		assert_int_equal(a->f[i].line, b->f[i].line);
		assert_int_equal(a->f[i].seq, b->f[i].seq);
		assert_string_equal(a->f[i].detail, b->f[i].detail);
	}
}

static int run_verify(char *const *files, size_t n, const unsigned char *pub, struct findings *fs,
                      struct audit_verify_result *res)
{
	char err[256] = "";
	memset(fs, 0, sizeof(*fs));
	int rc = audit_verify(files, n, pub, collect, fs, res, err, sizeof(err));
	/* again on worker threads with tiny batches (every line its own batch,
	 * and batches that end mid-file), and with one thread */
	static const struct audit_verify_opts variants[] = {
		{ .threads = 3, .batch_lines = 5, .min_slice = 1 },
		{ .threads = 2, .batch_lines = 1, .min_slice = 1 },
		{ .threads = 1 },
	};
	struct findings *again = malloc(sizeof(*again));
	assert_non_null(again);
	for (size_t v = 0; v < ARRAY_SIZE(variants); v++) {
		struct audit_verify_result r2;
		char err2[256] = "";
		memset(again, 0, sizeof(*again));
		assert_int_equal(audit_verify_ex(files, n, pub, &variants[v], collect, again, &r2, err2, sizeof(err2)), rc);
		assert_string_equal(err2, err);
		assert_memory_equal(&r2, res, sizeof(r2));
		same_findings(fs, again);
	}
	free(again);
	for (size_t i = 0; i < fs->n && i < 8; i++)
		print_message("  finding: %s:%llu: seq %llu: %s: %s\n", fs->f[i].file,
		              (unsigned long long)fs->f[i].line, (unsigned long long)fs->f[i].seq,
		              audit_problem_name(fs->f[i].p), fs->f[i].detail);
	return rc;
}

static bool has(const struct findings *fs, enum audit_problem p, const char *file, uint64_t line)
{
	for (size_t i = 0; i < fs->n && i < ARRAY_SIZE(fs->f); i++)
		if (fs->f[i].p == p && fs->f[i].line == line && (!file || strcmp(fs->f[i].file, file) == 0))
			return true;
	return false;
}

static void expect_first(const struct findings *fs, enum audit_problem p, const char *file, uint64_t line)
{
	assert_true(fs->n >= 1);
	assert_int_equal(fs->f[0].p, p);
	assert_string_equal(fs->f[0].file, file);
	assert_int_equal(fs->f[0].line, line);
}

/* verify_one - writes l into dir/audit.log and verifies it */
static int verify_one(const char *dir, struct log *l, const unsigned char *pub, struct findings *fs,
                      struct audit_verify_result *res)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	write_lines(path, l->lines, 0, l->n);
	char *files[] = { path };
	return run_verify(files, 1, pub ? pub : l->pub, fs, res);
}

static struct findings fs;   /* large: not on the stack */

/* ------------------------------------------------------------ the tests */

static void test_clean_log_verifies(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	struct log l;
	log_standard(&l);
	struct audit_verify_result res;
	assert_int_equal(verify_one(dir, &l, NULL, &fs, &res), HDB_OK);
	assert_int_equal(fs.n, 0);
	assert_int_equal(res.records, l.n);
	assert_int_equal(res.first_seq, 1);
	assert_int_equal(res.last_seq, l.n);
	assert_int_equal(res.checkpoints, 4);
	assert_int_equal(res.last_signed_seq, l.n - 1);
	assert_int_equal(res.segments, 1);
	log_free(&l);
	tu_rmrf(dir);
	free(dir);
}

static void test_modified_record(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	struct log l;
	log_standard(&l);
	char *u = strstr(l.lines[4], "doctor_smith");
	assert_non_null(u);
	memcpy(u, "doctor_jones", 12);
	struct audit_verify_result res;
	assert_int_equal(verify_one(dir, &l, NULL, &fs, &res), HDB_ECORRUPT);
	expect_first(&fs, AUDIT_BAD_HASH, "audit.log", 5);
	assert_int_equal(fs.f[0].seq, 5);
	assert_int_equal(fs.n, 1);   /* resync: one change, one finding */
	log_free(&l);
	tu_rmrf(dir);
	free(dir);
}

/* The string scanner reads eight bytes at a time: a control character, a
 * raw quote or a backslash at every offset within a word is found, and bytes
 * with the high bit set (UTF-8) are plain text.  Record 5's user is long
 * and non-ASCII; each case changes one or two bytes of it, at offset k. */
static void test_string_scanner_every_offset(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	static const char user[] = "dr_m\xc3\xbcller_\xc3\x9f_\xc3\xa9_0123456789abcdefghijklmnopqrstuvwxyz";
	struct log clean;
	log_init(&clean);
	log_event(&clean, AUDIT_EV_AUDIT_START, NULL, NULL);
	for (int i = 0; i < 6; i++)
		log_event(&clean, AUDIT_EV_READ, NULL, user);
	log_stop(&clean);
	struct audit_verify_result res;
	assert_int_equal(verify_one(dir, &clean, NULL, &fs, &res), HDB_OK);
	assert_int_equal(fs.n, 0);
	/* what each change must produce */
	static const struct {
		const char *put;       /* replaces the bytes at the offset */
		enum audit_problem p;
	} cases[] = {
		{ "\x01", AUDIT_BAD_JSON },   /* a raw control character */
		{ "\x1f", AUDIT_BAD_JSON },
		{ "\"", AUDIT_BAD_JSON },     /* a raw quote ends the string early */
		{ "\\q", AUDIT_BAD_JSON },    /* no such escape */
		{ "\\n", AUDIT_BAD_HASH },    /* a valid escape: well-formed, but modified */
		{ "\x7f", AUDIT_BAD_HASH },   /* DEL is allowed in a JSON string */
		{ "\xff", AUDIT_BAD_HASH },   /* a high byte is plain to the scanner */
	};
	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		for (size_t k = 0; k < 17; k++) {
			struct log l = clean;
			l.lines = calloc(clean.n, sizeof(*l.lines));
			assert_non_null(l.lines);
			for (size_t i = 0; i < clean.n; i++)
				l.lines[i] = strdup(clean.lines[i]);
			char *u = strstr(l.lines[4], "\"user\":\"dr_m");
			assert_non_null(u);
			memcpy(u + 8 + k, cases[c].put, strlen(cases[c].put));
			assert_int_equal(verify_one(dir, &l, NULL, &fs, &res), HDB_ECORRUPT);
			expect_first(&fs, cases[c].p, "audit.log", 5);
			for (size_t i = 0; i < l.n; i++)
				free(l.lines[i]);
			free(l.lines);
		}
	}
	log_free(&clean);
	tu_rmrf(dir);
	free(dir);
}

static void test_deleted_record(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	struct log l;
	log_standard(&l);
	log_delete(&l, 5);
	struct audit_verify_result res;
	assert_int_equal(verify_one(dir, &l, NULL, &fs, &res), HDB_ECORRUPT);
	expect_first(&fs, AUDIT_SEQ_GAP, "audit.log", 5);
	assert_int_equal(fs.f[0].seq, 6);
	assert_non_null(strstr(fs.f[0].detail, "record 5 is missing"));
	assert_int_equal(fs.n, 1);
	log_free(&l);
	tu_rmrf(dir);
	free(dir);
}

static void test_deleted_record_before_checkpoint(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	struct log l;
	log_standard(&l);
	/* line 11 is the checkpoint over record 10: delete record 10 */
	assert_non_null(strstr(l.lines[10], "\"checkpoint\""));
	log_delete(&l, 10);
	struct audit_verify_result res;
	assert_int_equal(verify_one(dir, &l, NULL, &fs, &res), HDB_ECORRUPT);
	expect_first(&fs, AUDIT_SEQ_GAP, "audit.log", 10);
	assert_true(has(&fs, AUDIT_BAD_SIGNATURE, "audit.log", 10));
	log_free(&l);
	tu_rmrf(dir);
	free(dir);
}

static void test_inserted_record(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	struct log l;
	log_standard(&l);
	log_insert(&l, 8, l.lines[2]);    /* a copy of record 3 as line 8 */
	struct audit_verify_result res;
	assert_int_equal(verify_one(dir, &l, NULL, &fs, &res), HDB_ECORRUPT);
	expect_first(&fs, AUDIT_SEQ_BACK, "audit.log", 8);
	assert_int_equal(fs.f[0].seq, 3);
	assert_int_equal(fs.n, 1);
	log_free(&l);
	tu_rmrf(dir);
	free(dir);
}

static void test_inserted_forged_record(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	struct log l;
	log_standard(&l);
	/* a well-formed record with a fresh seq and a valid own hash, claiming
	 * to follow record 4: it breaks the link of the record after it */
	struct log f;
	log_init(&f);
	for (int i = 0; i < 4; i++)
		log_event(&f, AUDIT_EV_READ, NULL, "intruder");
	/* splice: f's record 5 does not link to l's record 4 */
	log_event(&f, AUDIT_EV_READ, NULL, "intruder");
	log_insert(&l, 5, f.lines[4]);
	struct audit_verify_result res;
	assert_int_equal(verify_one(dir, &l, NULL, &fs, &res), HDB_ECORRUPT);
	expect_first(&fs, AUDIT_BAD_LINK, "audit.log", 5);
	assert_true(has(&fs, AUDIT_SEQ_BACK, "audit.log", 6));
	log_free(&f);
	log_free(&l);
	tu_rmrf(dir);
	free(dir);
}

static void test_reordered_records(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	struct log l;
	log_standard(&l);
	char *t = l.lines[4];
	l.lines[4] = l.lines[5];
	l.lines[5] = t;
	struct audit_verify_result res;
	assert_int_equal(verify_one(dir, &l, NULL, &fs, &res), HDB_ECORRUPT);
	/* line 5 now holds seq 6: a gap; line 6 holds seq 5: back */
	expect_first(&fs, AUDIT_SEQ_GAP, "audit.log", 5);
	assert_true(has(&fs, AUDIT_SEQ_BACK, "audit.log", 6));
	assert_int_equal(fs.n, 2);
	log_free(&l);
	tu_rmrf(dir);
	free(dir);
}

static void test_truncated_to_checkpoint(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	struct log l;
	log_standard(&l);
	/* cut right after the second periodic checkpoint (line 21) */
	assert_non_null(strstr(l.lines[20], "\"checkpoint\""));
	while (l.n > 21)
		log_delete(&l, l.n);
	struct audit_verify_result res;
	assert_int_equal(verify_one(dir, &l, NULL, &fs, &res), HDB_ECORRUPT);
	expect_first(&fs, AUDIT_TRUNCATED, "audit.log", 21);
	assert_int_equal(fs.f[0].seq, 21);   /* the checkpoint record itself */
	assert_int_equal(res.last_signed_seq, 20);
	assert_int_equal(fs.n, 1);
	log_free(&l);
	tu_rmrf(dir);
	free(dir);
}

static void test_truncated_mid_tail(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	struct log l;
	log_standard(&l);
	while (l.n > 27)
		log_delete(&l, l.n);
	struct audit_verify_result res;
	assert_int_equal(verify_one(dir, &l, NULL, &fs, &res), HDB_ECORRUPT);
	/* records 22..27 follow the checkpoint at line 21 (signing seq 20) */
	expect_first(&fs, AUDIT_TRUNCATED, "audit.log", 22);
	assert_int_equal(fs.f[0].seq, 22);   /* the line's own record */
	assert_non_null(strstr(fs.f[0].detail, "records after seq 20 are not covered by a signature"));
	log_free(&l);
	tu_rmrf(dir);
	free(dir);
}

static void test_torn_last_line(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	struct log l;
	log_standard(&l);
	char path[600];
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	write_lines(path, l.lines, 0, l.n);
	FILE *f = fopen(path, "a");
	assert_non_null(f);
	fputs("{\"seq\":37,\"timestamp\":\"2026", f);
	fclose(f);
	char *files[] = { path };
	struct audit_verify_result res;
	assert_int_equal(run_verify(files, 1, l.pub, &fs, &res), HDB_ECORRUPT);
	expect_first(&fs, AUDIT_BAD_JSON, "audit.log", l.n + 1);
	assert_non_null(strstr(fs.f[0].detail, "torn"));
	log_free(&l);
	tu_rmrf(dir);
	free(dir);
}

/* three segments: lines [0,12), [12,24), [24,n) */
static void write_segments(const char *dir, struct log *l, char paths[3][600])
{
	snprintf(paths[0], 600, "%s/audit.log.20260101T000000Z.00000000000000000001", dir);
	snprintf(paths[1], 600, "%s/audit.log.20260102T000000Z.00000000000000000013", dir);
	snprintf(paths[2], 600, "%s/audit.log", dir);
	write_lines(paths[0], l->lines, 0, 12);
	write_lines(paths[1], l->lines, 12, 24);
	write_lines(paths[2], l->lines, 24, l->n);
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static int verify_dir_log(const char *dir, const unsigned char *pub, struct audit_verify_result *res)
{
	char base[600], err[256];
	char **segs;
	size_t n;
	snprintf(base, sizeof(base), "%s/audit.log", dir);
	assert_int_equal(audit_segments(base, &segs, &n, err, sizeof(err)), HDB_OK);
	int rc = run_verify(segs, n, pub, &fs, res);
	free_names(segs, n);
	return rc;
}

static void test_segments_verify(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	struct log l;
	log_standard(&l);
	char paths[3][600];
	write_segments(dir, &l, paths);
	struct audit_verify_result res;
	assert_int_equal(verify_dir_log(dir, l.pub, &res), HDB_OK);
	assert_int_equal(res.segments, 3);
	assert_int_equal(res.records, l.n);
	log_free(&l);
	tu_rmrf(dir);
	free(dir);
}

static void test_removed_middle_segment(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	struct log l;
	log_standard(&l);
	char paths[3][600];
	write_segments(dir, &l, paths);
	assert_int_equal(unlink(paths[1]), 0);
	struct audit_verify_result res;
	assert_int_equal(verify_dir_log(dir, l.pub, &res), HDB_ECORRUPT);
	expect_first(&fs, AUDIT_MISSING_SEGMENT, "audit.log", 1);
	assert_non_null(strstr(fs.f[0].detail, "audit.log.20260101T000000Z.00000000000000000001"));
	assert_int_equal(fs.n, 1);
	log_free(&l);
	tu_rmrf(dir);
	free(dir);
}

static void test_removed_first_segment_without_anchor(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	struct log l;
	log_standard(&l);
	char paths[3][600];
	write_segments(dir, &l, paths);
	assert_int_equal(unlink(paths[0]), 0);
	struct audit_verify_result res;
	assert_int_equal(verify_dir_log(dir, l.pub, &res), HDB_ECORRUPT);
	expect_first(&fs, AUDIT_MISSING_SEGMENT, "audit.log.20260102T000000Z.00000000000000000013", 1);
	assert_int_equal(fs.f[0].seq, 13);
	assert_int_equal(fs.n, 1);
	log_free(&l);
	tu_rmrf(dir);
	free(dir);
}

/* retention: the first segment deleted, its anchor recorded later */
static void test_retention_anchor(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	struct log l;
	log_init(&l);
	log_event(&l, AUDIT_EV_AUDIT_START, NULL, NULL);
	log_records(&l, 30);   /* lines 1..34 */
	/* segment 1 = lines 1..12: its last record */
	uint64_t last_seq = 12;
	char last_hash[65];
	const char *h = strstr(l.lines[11], "\"hash\":\"");
	assert_non_null(h);
	memcpy(last_hash, h + 8, 64);
	last_hash[64] = '\0';
	struct buf d = { 0 };
	audit_detail_begin(&d);
	audit_detail_str(&d, "segment", "audit.log.20260101T000000Z.00000000000000000001");
	audit_detail_int(&d, "last_seq", (int64_t)last_seq);
	audit_detail_str(&d, "last_hash", last_hash);
	assert_int_equal(audit_detail_end(&d), HDB_OK);
	log_event(&l, AUDIT_EV_AUDIT_SEGMENT_DELETED, (const char *)d.p, NULL);
	buf_free(&d);
	log_records(&l, 5);
	log_stop(&l);
	char paths[3][600];
	write_segments(dir, &l, paths);
	assert_int_equal(unlink(paths[0]), 0);
	struct audit_verify_result res;
	assert_int_equal(verify_dir_log(dir, l.pub, &res), HDB_OK);
	assert_int_equal(res.first_seq, 13);
	assert_int_equal(res.segments, 2);

	/* an anchor naming another seq does not anchor */
	log_free(&l);
	tu_rmrf(dir);
	free(dir);
}

static void test_wrong_anchor_rejected(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	struct log l;
	log_init(&l);
	log_event(&l, AUDIT_EV_AUDIT_START, NULL, NULL);
	log_records(&l, 30);
	struct buf d = { 0 };
	audit_detail_begin(&d);
	audit_detail_str(&d, "segment", "whatever");
	audit_detail_int(&d, "last_seq", 12);
	audit_detail_str(&d, "last_hash", "00000000000000000000000000000000000000000000000000000000000000ff");
	assert_int_equal(audit_detail_end(&d), HDB_OK);
	log_event(&l, AUDIT_EV_AUDIT_SEGMENT_DELETED, (const char *)d.p, NULL);
	buf_free(&d);
	log_stop(&l);
	char paths[3][600];
	write_segments(dir, &l, paths);
	assert_int_equal(unlink(paths[0]), 0);
	struct audit_verify_result res;
	assert_int_equal(verify_dir_log(dir, l.pub, &res), HDB_ECORRUPT);
	expect_first(&fs, AUDIT_MISSING_SEGMENT, "audit.log.20260102T000000Z.00000000000000000013", 1);
	log_free(&l);
	tu_rmrf(dir);
	free(dir);
}

static void test_bad_signature(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	struct log l;
	log_init(&l);
	log_event(&l, AUDIT_EV_AUDIT_START, NULL, NULL);
	log_records(&l, 8);
	log_checkpoint(&l, 1);   /* line 10: a flipped signature digit */
	log_records(&l, 10);
	log_stop(&l);
	struct audit_verify_result res;
	assert_int_equal(verify_one(dir, &l, NULL, &fs, &res), HDB_ECORRUPT);
	expect_first(&fs, AUDIT_BAD_SIGNATURE, "audit.log", 10);
	assert_int_equal(fs.n, 1);
	log_free(&l);
	tu_rmrf(dir);
	free(dir);
}

static void test_checkpoint_of_other_hash(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	struct log l;
	log_init(&l);
	log_event(&l, AUDIT_EV_AUDIT_START, NULL, NULL);
	log_records(&l, 8);
	log_checkpoint(&l, 2);   /* a valid signature over a chain that is not this one */
	log_stop(&l);
	struct audit_verify_result res;
	assert_int_equal(verify_one(dir, &l, NULL, &fs, &res), HDB_ECORRUPT);
	expect_first(&fs, AUDIT_BAD_SIGNATURE, "audit.log", 10);
	assert_non_null(strstr(fs.f[0].detail, "different hash"));
	log_free(&l);
	tu_rmrf(dir);
	free(dir);
}

static void test_wrong_pubkey(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	struct log l;
	log_standard(&l);
	struct hdb_secret *other;
	unsigned char pub2[AUDIT_SIGN_PUB_LEN];
	assert_int_equal(audit_sign_keygen(&other, pub2), HDB_OK);
	struct audit_verify_result res;
	assert_int_equal(verify_one(dir, &l, pub2, &fs, &res), HDB_ECORRUPT);
	expect_first(&fs, AUDIT_BAD_SIGNATURE, "audit.log", 11);
	assert_non_null(strstr(fs.f[0].detail, "wrong public key"));
	assert_int_equal(res.checkpoints, 0);
	secret_free(other);
	log_free(&l);
	tu_rmrf(dir);
	free(dir);
}

static void test_garbage_line(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	struct log l;
	log_standard(&l);
	log_insert(&l, 7, "this is not json at all");
	struct audit_verify_result res;
	assert_int_equal(verify_one(dir, &l, NULL, &fs, &res), HDB_ECORRUPT);
	expect_first(&fs, AUDIT_BAD_JSON, "audit.log", 7);
	assert_int_equal(fs.f[0].seq, 0);
	assert_int_equal(fs.n, 1);   /* the chain continues around it */
	log_free(&l);
	tu_rmrf(dir);
	free(dir);
}

static void test_replaced_by_garbage(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	struct log l;
	log_standard(&l);
	free(l.lines[6]);
	l.lines[6] = strdup("{\"seq\":7,\"truncated");
	struct audit_verify_result res;
	assert_int_equal(verify_one(dir, &l, NULL, &fs, &res), HDB_ECORRUPT);
	expect_first(&fs, AUDIT_BAD_JSON, "audit.log", 7);
	assert_true(has(&fs, AUDIT_SEQ_GAP, "audit.log", 8));
	log_free(&l);
	tu_rmrf(dir);
	free(dir);
}

static void test_wrong_genesis(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	struct log l;
	log_init(&l);
	l.head.hash[3] ^= 0x40;   /* a chain that does not start at this database's genesis */
	log_event(&l, AUDIT_EV_AUDIT_START, NULL, NULL);
	log_records(&l, 3);
	log_stop(&l);
	struct audit_verify_result res;
	assert_int_equal(verify_one(dir, &l, NULL, &fs, &res), HDB_ECORRUPT);
	expect_first(&fs, AUDIT_BAD_LINK, "audit.log", 1);
	log_free(&l);
	tu_rmrf(dir);
	free(dir);
}

static void test_hostile_lines_and_finding_cap(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char path[600];
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	static const char *const bad[] = {
		"", "{", "}", "[]", "{}", "null", "{\"seq\":1}", "{\"seq\":-1,\"hash\":\"x\"}",
		"{\"seq\":1e3}", "{\"seq\":\"1\"}", "{\"seq\":1,\"seq\":2}", "{\"a\":\"\\x\"}", "{\"a\":\"\x01\"}",
		"{\"seq\":99999999999999999999999}", "{\"a\":[1,2,{\"b\":[[[[]]]]}]} x", "\xff\xfe\x00",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		fprintf(f, "%s\n", bad[i]);
	for (int i = 0; i < 200; i++)
		fputc('[', f);
	fputc('\n', f);
	for (int i = 0; i < 1500; i++)
		fprintf(f, "garbage %d\n", i);
	fclose(f);
	char *files[] = { path };
	struct audit_verify_result res;
	char err[256];
	memset(&fs, 0, sizeof(fs));
	assert_int_equal(audit_verify(files, 1, (const unsigned char *)"01234567890123456789012345678901", collect,
	                              &fs, &res, err, sizeof(err)),
	                 HDB_ECORRUPT);
	assert_int_equal(res.findings, 1000);
	assert_int_equal(fs.n, 1000);
	assert_non_null(strstr(err, "1000"));
	for (size_t i = 0; i < 17; i++)
		assert_int_equal(fs.f[i].p, AUDIT_BAD_JSON);
	tu_rmrf(dir);
	free(dir);
}

static void test_missing_file_is_an_error(void **state)
{
	(void)state;
	char *files[] = { (char *)"/nonexistent/hdb/audit.log" };
	struct audit_verify_result res;
	char err[256] = "";
	unsigned char pub[AUDIT_SIGN_PUB_LEN] = { 0 };
	assert_int_equal(audit_verify(files, 1, pub, NULL, NULL, &res, err, sizeof(err)), HDB_EIO);
	assert_non_null(strstr(err, "/nonexistent/hdb/audit.log"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean_log_verifies),
		cmocka_unit_test(test_modified_record),
		cmocka_unit_test(test_string_scanner_every_offset),
		cmocka_unit_test(test_deleted_record),
		cmocka_unit_test(test_deleted_record_before_checkpoint),
		cmocka_unit_test(test_inserted_record),
		cmocka_unit_test(test_inserted_forged_record),
		cmocka_unit_test(test_reordered_records),
		cmocka_unit_test(test_truncated_to_checkpoint),
		cmocka_unit_test(test_truncated_mid_tail),
		cmocka_unit_test(test_torn_last_line),
		cmocka_unit_test(test_segments_verify),
		cmocka_unit_test(test_removed_middle_segment),
		cmocka_unit_test(test_removed_first_segment_without_anchor),
		cmocka_unit_test(test_retention_anchor),
		cmocka_unit_test(test_wrong_anchor_rejected),
		cmocka_unit_test(test_bad_signature),
		cmocka_unit_test(test_checkpoint_of_other_hash),
		cmocka_unit_test(test_wrong_pubkey),
		cmocka_unit_test(test_garbage_line),
		cmocka_unit_test(test_replaced_by_garbage),
		cmocka_unit_test(test_wrong_genesis),
		cmocka_unit_test(test_hostile_lines_and_finding_cap),
		cmocka_unit_test(test_missing_file_is_an_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
