/*
 * test_audit_file.c - the audit file sink (audit/file.c): append and last,
 * a torn tail cut off, rotation by size and by age with names that sort in
 * chain order, 0640/0440/0750 modes whatever the umask, symbolic links
 * refused, ENOSPC leaves no torn line (on a 64 KiB tmpfs when mounting is
 * permitted), and two processes sharing one log through rotations.
 */
#include "testutil.h"

#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "audit.h"

#define DB_ID "00112233445566778899aabbccddeeff"

static struct audit_ctx ctx = { .db_id = DB_ID, .host = "h", .pid = 1 };

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* records - n encoded lines into b, advancing head, at time t_us (0: now) */
static void records(struct audit_head *head, int n, int64_t t_us, struct buf *b)
{
	for (int i = 0; i < n; i++) {
		struct audit_event ev = { .type = AUDIT_EV_WRITE, .user = "u", .rows_affected = 1, .time_us = t_us };
		assert_int_equal(audit_record_encode(&ctx, &ev, head, b), HDB_OK);
	}
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static off_t file_size(const char *p)
{
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	return st.st_size;
}

static mode_t file_mode(const char *p)
{
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	return st.st_mode & 07777;
}

static size_t count_lines(const char *p)
{
	FILE *f = fopen(p, "r");
	assert_non_null(f);
	size_t n = 0;
	int c, last = '\n';
	while ((c = fgetc(f)) != EOF) {
		if (c == '\n')
			n++;
		last = c;
	}
	fclose(f);
	assert_int_equal(last, '\n');
	return n;
}

static void test_append_last_modes(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char path[600], err[512];
	snprintf(path, sizeof(path), "%s/sub/logs/audit.log", dir);
	mode_t old = umask(0);   /* the modes must not depend on the umask */
	struct audit_file *f;
	struct audit_file_opts o = { .path = path };
	assert_int_equal(audit_file_open(&o, &f, err, sizeof(err)), HDB_OK);
	umask(old);
	assert_int_equal(file_mode(path), 0640);
	char sub[600];
	snprintf(sub, sizeof(sub), "%s/sub/logs", dir);
	assert_int_equal(file_mode(sub), 0750);

	struct audit_head h, last;
	bool torn = true;
	assert_int_equal(audit_file_last(f, &last, &torn, err, sizeof(err)), HDB_OK);
	assert_int_equal(last.seq, 0);
	assert_false(torn);

	audit_genesis(DB_ID, &h);
	struct buf b = { 0 };
	records(&h, 5, 0, &b);
	char rot[600];
	assert_int_equal(audit_file_append(f, (const char *)b.p, b.len, rot, sizeof(rot), err, sizeof(err)), HDB_OK);
	assert_string_equal(rot, "");
	assert_int_equal(file_size(path), (off_t)b.len);
	assert_int_equal(audit_file_last(f, &last, &torn, err, sizeof(err)), HDB_OK);
	assert_int_equal(last.seq, 5);
	assert_memory_equal(last.hash, h.hash, 32);
	assert_false(torn);
	/* not a complete line: refused */
	assert_int_equal(audit_file_append(f, "{\"x\":1}", 7, NULL, 0, err, sizeof(err)), HDB_EINVAL);
	audit_file_close(f);

	/* umask 077 too */
	old = umask(077);
	snprintf(path, sizeof(path), "%s/other.log", dir);
	o.path = path;
	assert_int_equal(audit_file_open(&o, &f, err, sizeof(err)), HDB_OK);
	umask(old);
	assert_int_equal(file_mode(path), 0640);
	audit_file_close(f);
	audit_file_close(NULL);
	buf_free(&b);
	tu_rmrf(dir);
	free(dir);
}

static void test_torn_tail_cut(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char path[600], err[512];
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	struct audit_head h;
	audit_genesis(DB_ID, &h);
	struct buf b = { 0 };
	records(&h, 3, 0, &b);
	struct audit_head want = h;
	size_t good = b.len;
	records(&h, 1, 0, &b);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fwrite(b.p, 1, good + 40, fp);   /* 3 records and 40 bytes of a fourth */
	fclose(fp);
	struct audit_file *f;
	struct audit_file_opts o = { .path = path };
	assert_int_equal(audit_file_open(&o, &f, err, sizeof(err)), HDB_OK);
	struct audit_head last;
	bool torn = false;
	assert_int_equal(audit_file_last(f, &last, &torn, err, sizeof(err)), HDB_OK);
	assert_true(torn);
	assert_int_equal(last.seq, 3);
	assert_memory_equal(last.hash, want.hash, 32);
	assert_int_equal(file_size(path), (off_t)good);
	assert_int_equal(audit_file_last(f, &last, &torn, err, sizeof(err)), HDB_OK);
	assert_false(torn);
	audit_file_close(f);

	/* a last line that is not a record is an error, not a guess */
	fp = fopen(path, "a");
	fputs("garbage\n", fp);
	fclose(fp);
	assert_int_equal(audit_file_open(&o, &f, err, sizeof(err)), HDB_OK);
	assert_int_equal(audit_file_last(f, &last, &torn, err, sizeof(err)), HDB_ECORRUPT);
	assert_non_null(strstr(err, path));
	audit_file_close(f);
	buf_free(&b);
	tu_rmrf(dir);
	free(dir);
}

static bool is_segment_name(const char *p, const char *base, uint64_t first_seq)
{
	size_t bl = strlen(base);
	if (strncmp(p, base, bl) != 0 || strlen(p) != bl + 38)
		return false;
	char want[32];
	snprintf(want, sizeof(want), ".%020llu", (unsigned long long)first_seq);
	return p[bl] == '.' && p[bl + 9] == 'T' && p[bl + 16] == 'Z' && strcmp(p + bl + 17, want) == 0;
}

static void test_rotation_by_size(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char path[600], err[512], rot[700];
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	struct audit_head h;
	audit_genesis(DB_ID, &h);
	struct buf one = { 0 };
	records(&h, 1, 0, &one);
	size_t rec = one.len;
	audit_genesis(DB_ID, &h);
	struct audit_file *f;
	/* room for 3 records of this size per segment */
	struct audit_file_opts o = { .path = path, .rotate_size = 3 * rec + rec / 2 };
	assert_int_equal(audit_file_open(&o, &f, err, sizeof(err)), HDB_OK);
	int rotations = 0;
	for (int i = 0; i < 10; i++) {
		struct buf b = { 0 };
		records(&h, 1, 0, &b);
		assert_int_equal(audit_file_append(f, (const char *)b.p, b.len, rot, sizeof(rot), err, sizeof(err)),
		                 HDB_OK);
		if (rot[0]) {
			rotations++;
			assert_true(is_segment_name(rot, path, h.seq - 3));
			assert_int_equal(file_mode(rot), 0440);
			assert_int_equal(count_lines(rot), 3);
		}
		buf_free(&b);
	}
	assert_int_equal(rotations, 3);
	char **segs;
	size_t n;
	assert_int_equal(audit_segments(path, &segs, &n, err, sizeof(err)), HDB_OK);
	assert_int_equal(n, 4);
	assert_string_equal(segs[3], path);
	for (size_t i = 0; i < 3; i++)
		assert_true(is_segment_name(segs[i], path, 1 + 3 * i));
	free_names(segs, n);
	/* a batch larger than rotate_size still goes into one (empty) segment */
	struct buf big = { 0 };
	records(&h, 8, 0, &big);
	assert_int_equal(audit_file_append(f, (const char *)big.p, big.len, rot, sizeof(rot), err, sizeof(err)),
	                 HDB_OK);
	assert_true(rot[0]);
	assert_int_equal(count_lines(path), 8);
	buf_free(&big);

	/* explicit rotation; then last comes from the newest rotated segment */
	assert_int_equal(audit_file_rotate(f, rot, sizeof(rot), err, sizeof(err)), HDB_OK);
	assert_true(rot[0]);
	assert_int_equal(file_size(path), 0);
	assert_int_equal(audit_file_rotate(f, rot, sizeof(rot), err, sizeof(err)), HDB_OK);
	assert_string_equal(rot, "");   /* nothing to rotate */
	struct audit_head last;
	bool torn;
	assert_int_equal(audit_file_last(f, &last, &torn, err, sizeof(err)), HDB_OK);
	assert_int_equal(last.seq, 18);
	assert_memory_equal(last.hash, h.hash, 32);
	audit_file_close(f);
	buf_free(&one);
	tu_rmrf(dir);
	free(dir);
}

/* audit_log_record finds any record in whichever segment holds it (the
 * active one, a rotated one, past an empty active one), with its hash,
 * prev_hash and db_id; a seq no segment holds is HDB_ENOTFOUND. */
static void test_log_record_lookup(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char path[600], err[512], rot[700], id[33];
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	struct audit_head h, at[13];
	audit_genesis(DB_ID, &h);
	at[0] = h;
	struct buf one = { 0 };
	records(&h, 1, 0, &one);
	audit_genesis(DB_ID, &h);
	struct audit_file *f;
	struct audit_file_opts o = { .path = path, .rotate_size = 3 * one.len + one.len / 2 };
	assert_int_equal(audit_file_open(&o, &f, err, sizeof(err)), HDB_OK);
	for (int i = 1; i <= 12; i++) {
		struct buf b = { 0 };
		records(&h, 1, 0, &b);
		at[i] = h;
		assert_int_equal(audit_file_append(f, (const char *)b.p, b.len, rot, sizeof(rot), err, sizeof(err)),
		                 HDB_OK);
		buf_free(&b);
	}
	unsigned char hash[32], prev[32];
	for (int i = 1; i <= 12; i++) {
		assert_int_equal(audit_log_record(path, (uint64_t)i, hash, prev, id, err, sizeof(err)), HDB_OK);
		assert_memory_equal(hash, at[i].hash, 32);
		assert_memory_equal(prev, at[i - 1].hash, 32);
		assert_string_equal(id, DB_ID);
	}
	assert_int_equal(audit_log_record(path, 13, hash, prev, NULL, err, sizeof(err)), HDB_ENOTFOUND);
	/* an empty active segment after a rotation: the rotated ones still answer */
	assert_int_equal(audit_file_rotate(f, rot, sizeof(rot), err, sizeof(err)), HDB_OK);
	assert_int_equal(audit_log_record(path, 12, hash, prev, NULL, err, sizeof(err)), HDB_OK);
	assert_memory_equal(hash, at[12].hash, 32);
	/* a deleted segment's records are gone: not found, not another's */
	char **segs;
	size_t n;
	assert_int_equal(audit_segments(path, &segs, &n, err, sizeof(err)), HDB_OK);
	assert_true(n >= 3);
	assert_int_equal(unlink(segs[0]), 0);
	free_names(segs, n);
	assert_int_equal(audit_log_record(path, 1, hash, prev, NULL, err, sizeof(err)), HDB_ENOTFOUND);
	assert_int_equal(audit_log_record(path, 5, hash, prev, NULL, err, sizeof(err)), HDB_OK);
	assert_memory_equal(hash, at[5].hash, 32);
	audit_file_close(f);
	buf_free(&one);
	tu_rmrf(dir);
	free(dir);
}

static void test_rotation_by_interval(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char path[600], err[512], rot[700];
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	struct audit_head h;
	audit_genesis(DB_ID, &h);
	struct audit_file *f;
	struct audit_file_opts o = { .path = path, .rotate_interval_s = 3600 };
	assert_int_equal(audit_file_open(&o, &f, err, sizeof(err)), HDB_OK);
	/* a first record from two hours ago: the segment is due at the next append */
	struct buf b = { 0 };
	records(&h, 2, now_us() - INT64_C(7200) * 1000000, &b);
	assert_int_equal(audit_file_append(f, (const char *)b.p, b.len, rot, sizeof(rot), err, sizeof(err)), HDB_OK);
	assert_string_equal(rot, "");
	assert_true(audit_file_rotate_due(f, 10));
	buf_reset(&b);
	records(&h, 1, 0, &b);
	assert_int_equal(audit_file_append(f, (const char *)b.p, b.len, rot, sizeof(rot), err, sizeof(err)), HDB_OK);
	assert_true(is_segment_name(rot, path, 1));
	/* the fresh segment's first record is from now: not due */
	buf_reset(&b);
	records(&h, 1, 0, &b);
	assert_int_equal(audit_file_append(f, (const char *)b.p, b.len, rot, sizeof(rot), err, sizeof(err)), HDB_OK);
	assert_string_equal(rot, "");
	assert_false(audit_file_rotate_due(f, 10));
	assert_int_equal(count_lines(path), 2);
	audit_file_close(f);

	/* a new process: the age comes from the file's first record */
	o.rotate_interval_s = 1;
	assert_int_equal(audit_file_open(&o, &f, err, sizeof(err)), HDB_OK);
	sleep(2);
	buf_reset(&b);
	records(&h, 1, 0, &b);
	assert_int_equal(audit_file_append(f, (const char *)b.p, b.len, rot, sizeof(rot), err, sizeof(err)), HDB_OK);
	assert_true(is_segment_name(rot, path, 3));
	audit_file_close(f);
	buf_free(&b);
	tu_rmrf(dir);
	free(dir);
}

static void test_segments_listing(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char p[700], err[512];
	static const char *const names[] = {
		"audit.log.20260102T000000Z.00000000000000000050", "audit.log.20260101T000000Z.00000000000000000001",
		"audit.log.20260102T000000Z.00000000000000000020", "audit.log", "audit.log.bak",
		"audit.log.20260101T000000Z.1", "audit.logx.20260101T000000Z.00000000000000000001", "other.log",
	};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		FILE *f = fopen(p, "w");
		fclose(f);
	}
	char **segs;
	size_t n;
	snprintf(p, sizeof(p), "%s/audit.log", dir);
	assert_int_equal(audit_segments(p, &segs, &n, err, sizeof(err)), HDB_OK);
	assert_int_equal(n, 4);
	assert_non_null(strstr(segs[0], "20260101T000000Z.00000000000000000001"));
	assert_non_null(strstr(segs[1], "20260102T000000Z.00000000000000000020"));
	assert_non_null(strstr(segs[2], "20260102T000000Z.00000000000000000050"));
	assert_string_equal(segs[3], p);
	free_names(segs, n);
	snprintf(p, sizeof(p), "%s/none/audit.log", dir);
	assert_int_equal(audit_segments(p, &segs, &n, err, sizeof(err)), HDB_ENOTFOUND);
	tu_rmrf(dir);
	free(dir);
}

static void test_symlink_refused(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char path[600], target[600], err[512];
	snprintf(target, sizeof(target), "%s/elsewhere", dir);
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	FILE *fp = fopen(target, "w");
	fclose(fp);
	assert_int_equal(symlink(target, path), 0);
	struct audit_file *f = NULL;
	struct audit_file_opts o = { .path = path };
	assert_int_equal(audit_file_open(&o, &f, err, sizeof(err)), HDB_EPERM);
	assert_null(f);
	assert_non_null(strstr(err, "symbolic link"));
	assert_non_null(strstr(err, path));
	/* a dangling link too (O_CREAT would otherwise follow it) */
	unlink(target);
	assert_int_equal(audit_file_open(&o, &f, err, sizeof(err)), HDB_EPERM);
	assert_int_equal(access(target, F_OK), -1);
	tu_rmrf(dir);
	free(dir);
}

static void test_enospc_leaves_no_torn_line(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	if (geteuid() != 0 || mount("tmpfs", dir, "tmpfs", 0, "size=64k") != 0) {
		print_message("[ SKIPPED  ] ENOSPC test: cannot mount a 64 KiB tmpfs here (%s)\n",
		              geteuid() != 0 ? "not root" : strerror(errno));
		tu_rmrf(dir);
		free(dir);
		skip();
	}
	char path[600], err[512];
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	struct audit_file *f;
	struct audit_file_opts o = { .path = path };
	assert_int_equal(audit_file_open(&o, &f, err, sizeof(err)), HDB_OK);
	struct audit_head h;
	audit_genesis(DB_ID, &h);
	int rc = HDB_OK;
	off_t before = 0;
	uint64_t ok_seq = 0;
	for (int i = 0; i < 1000 && rc == HDB_OK; i++) {
		struct buf b = { 0 };
		struct audit_head h2 = h;
		records(&h2, 7, 0, &b);   /* batches of ~2.5 KiB: the last one fails part-way */
		before = file_size(path);
		rc = audit_file_append(f, (const char *)b.p, b.len, NULL, 0, err, sizeof(err));
		if (rc == HDB_OK) {
			h = h2;
			ok_seq = h.seq;
		}
		buf_free(&b);
	}
	assert_int_equal(rc, HDB_EIO);
	print_message("  error: %s\n", err);
	assert_non_null(strstr(err, "cannot write audit log '"));
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "No space left on device"));
	assert_int_equal(file_size(path), before);   /* cut back: no torn line */
	struct audit_head last;
	bool torn = true;
	assert_int_equal(audit_file_last(f, &last, &torn, err, sizeof(err)), HDB_OK);
	assert_false(torn);
	assert_int_equal(last.seq, ok_seq);
	assert_memory_equal(last.hash, h.hash, 32);
	audit_file_close(f);
	assert_int_equal(umount(dir), 0);
	tu_rmrf(dir);
	free(dir);
}

/* two processes append through rotations: every line arrives whole */
static void test_two_processes_share_log(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char path[600], err[512];
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	enum { PER = 300, BATCH = 3 };
	pid_t kids[2];
	for (int k = 0; k < 2; k++) {
		kids[k] = fork();
		assert_true(kids[k] >= 0);
		if (kids[k] == 0) {
			struct audit_file *f;
			struct audit_file_opts o = { .path = path, .rotate_size = 20000 };
			if (audit_file_open(&o, &f, err, sizeof(err)) != HDB_OK)
				_exit(1);
			struct audit_head h;
			audit_genesis(DB_ID, &h);
			/* distinct seq ranges, as two processes of one database get
			 * (segment names carry the first seq, so equal ones would clash) */
			h.seq = (uint64_t)k * 1000000;
			for (int i = 0; i < PER / BATCH; i++) {
				struct buf b = { 0 };
				records(&h, BATCH, 0, &b);
				if (audit_file_append(f, (const char *)b.p, b.len, NULL, 0, err, sizeof(err)) != HDB_OK)
					_exit(2);
				buf_free(&b);
			}
			audit_file_close(f);
			_exit(0);
		}
	}
	for (int k = 0; k < 2; k++) {
		int st;
		assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	char **segs;
	size_t n, total = 0;
	assert_int_equal(audit_segments(path, &segs, &n, err, sizeof(err)), HDB_OK);
	assert_true(n > 2);
	for (size_t i = 0; i < n; i++) {
		FILE *fp = fopen(segs[i], "r");
		assert_non_null(fp);
		char *line = NULL;
		size_t cap = 0;
		ssize_t len;
		while ((len = getline(&line, &cap, fp)) > 0) {
			unsigned char hh[32], claimed[32], prev[32];
			const char *ph = strstr(line, "\"prev_hash\":\"");
			assert_non_null(ph);
			assert_int_equal(hex_decode(ph + 13, 64, prev, 32), HDB_OK);
			assert_int_equal(audit_line_hash(prev, line, (size_t)len, hh, claimed), HDB_OK);
			assert_memory_equal(hh, claimed, 32);   /* whole, not interleaved */
			total++;
		}
		free(line);
		fclose(fp);
		if (i + 1 < n)
			assert_int_equal(file_mode(segs[i]), 0440);
	}
	assert_int_equal(total, 2 * PER);
	free_names(segs, n);
	tu_rmrf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_last_modes),
		cmocka_unit_test(test_torn_tail_cut),
		cmocka_unit_test(test_rotation_by_size),
		cmocka_unit_test(test_log_record_lookup),
		cmocka_unit_test(test_rotation_by_interval),
		cmocka_unit_test(test_segments_listing),
		cmocka_unit_test(test_symlink_refused),
		cmocka_unit_test(test_enospc_leaves_no_torn_line),
		cmocka_unit_test(test_two_processes_share_log),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
