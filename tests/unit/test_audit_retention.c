/*
 * test_audit_retention.c - which segments retention deletes, and which it
 * keeps and why: ages, the exact days boundary, newest record vs last,
 * mtime, legal hold, the active segment, malformed and empty segments,
 * and the checks audit_retention_delete_one makes again.
 *
 * Segments are written here with records from audit_record_encode whose
 * times (ev.time_us) and file mtimes the test sets, named as rotation
 * names them.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "audit.h"

#define DAY INT64_C(86400000000)
#define HOUR INT64_C(3600000000)

struct fx {
	char *dir;
	char log[4096];
	struct audit_ctx ctx;
	struct audit_head head;
	int64_t now; /* an hour before the real clock: a legal "now" */
};

static int64_t real_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f || !(f->dir = tu_mkdtemp()))
		return -1;
	snprintf(f->log, sizeof(f->log), "%s/audit.log", f->dir);
	snprintf(f->ctx.db_id, sizeof(f->ctx.db_id), "0123456789abcdef0123456789abcdef");
	snprintf(f->ctx.host, sizeof(f->ctx.host), "testhost");
	f->ctx.pid = 1;
	audit_genesis(f->ctx.db_id, &f->head);
	f->now = real_now() - HOUR;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	tu_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static void set_mtime(const char *path, int64_t us)
{
	struct timespec ts[2];
	ts[0].tv_sec = ts[1].tv_sec = (time_t)(us / 1000000);
	ts[0].tv_nsec = ts[1].tv_nsec = (long)(us % 1000000) * 1000;
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

/* records - appends one record per time in times[] to out, chained. */
static void records(struct fx *f, const int64_t *times, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n; i++) {
		struct audit_event ev = { .type = AUDIT_EV_WRITE, .outcome = AUDIT_SUCCESS, .user = "u",
		                          .table = "t", .rows_affected = 1, .time_us = times[i] };
		assert_int_equal(audit_record_encode(&f->ctx, &ev, &f->head, out), HDB_OK);
	}
}

static void write_file(const char *path, const void *p, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
}

/* segment - a rotated segment holding records at times[] (mtime: the
 * newest of them, as a real one has), named after its first record; its
 * path into ret_path.  Returns the seq of its last record. */
static uint64_t segment_named(struct fx *f, const char *name_stamp, const int64_t *times, size_t n, char *ret_path,
                              size_t pathlen)
{
	struct buf b = { 0 };
	uint64_t first = f->head.seq + 1;
	int64_t newest = 0;
	char stamp[32];
	time_t t = (time_t)(times[0] / 1000000);
	struct tm tm;

	records(f, times, n, &b);
	for (size_t i = 0; i < n; i++)
		if (times[i] > newest)
			newest = times[i];
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	if (name_stamp)
		snprintf(stamp, sizeof(stamp), "%s", name_stamp);
	snprintf(ret_path, pathlen, "%s.%s.%020llu", f->log, stamp, (unsigned long long)first);
	write_file(ret_path, b.p, b.len, 0440);
	set_mtime(ret_path, newest);
	buf_free(&b);
	return f->head.seq;
}

static uint64_t segment(struct fx *f, const int64_t *times, size_t n, char *ret_path, size_t pathlen)
{
	return segment_named(f, NULL, times, n, ret_path, pathlen);
}

static void active(struct fx *f, int64_t t)
{
	struct buf b = { 0 };
	records(f, &t, 1, &b);
	write_file(f->log, b.p, b.len, 0640);
	set_mtime(f->log, t);
	buf_free(&b);
}

static struct audit_retention_plan *plan(struct fx *f, int64_t now, uint32_t days)
{
	struct audit_retention_plan *p = NULL;
	char err[256] = "";
	int rc = audit_retention_plan(f->log, now, days, &p, err, sizeof(err));
	if (rc != HDB_OK)
		fail_msg("audit_retention_plan: %s (%s)", err, hdb_strerror(rc));
	assert_non_null(p);
	return p;
}

/* ------------------------------------------------------------------ tests */

static void test_ages(void **state)
{
	struct fx *f = *state;
	char a[4200], b[4200], c[4200], hash[65];
	int64_t ta[] = { f->now - 101 * DAY, f->now - 100 * DAY };
	int64_t tb[] = { f->now - 41 * DAY, f->now - 40 * DAY, f->now - 40 * DAY + 5 };
	int64_t tc[] = { f->now - 10 * DAY };

	uint64_t la = segment(f, ta, 2, a, sizeof(a));
	uint64_t lb = segment(f, tb, 3, b, sizeof(b));
	hex_encode(f->head.hash, 32, hash);
	segment(f, tc, 1, c, sizeof(c));
	active(f, f->now - DAY);

	struct audit_retention_plan *p = plan(f, f->now, 30);
	assert_false(p->legal_hold);
	assert_int_equal(p->now_us, f->now);
	assert_int_equal(p->cutoff_us, f->now - 30 * DAY);
	assert_int_equal(p->ndel, 2);
	assert_string_equal(p->del[0].path, a);
	assert_int_equal(p->del[0].first_seq, 1);
	assert_int_equal(p->del[0].last_seq, la);
	assert_int_equal(p->del[0].records, 2);
	assert_int_equal(p->del[0].newest_us, f->now - 100 * DAY);
	assert_string_equal(p->del[0].reason, "");
	assert_string_equal(p->del[1].path, b);
	assert_int_equal(p->del[1].first_seq, la + 1);
	assert_int_equal(p->del[1].last_seq, lb);
	assert_string_equal(p->del[1].last_hash, hash); /* the anchor */
	assert_int_equal(p->del[1].newest_us, f->now - 40 * DAY + 5);
	assert_int_equal(p->nkeep, 2);
	assert_string_equal(p->keep[0].path, c);
	assert_string_equal(p->keep[0].reason, "younger than 30 days");
	assert_string_equal(p->keep[1].path, f->log);
	assert_string_equal(p->keep[1].reason, "active segment");
	audit_retention_plan_free(p);

	/* a longer retention keeps more */
	p = plan(f, f->now, 365);
	assert_int_equal(p->ndel, 0);
	assert_int_equal(p->nkeep, 4);
	audit_retention_plan_free(p);
	p = plan(f, f->now, 41);
	assert_int_equal(p->ndel, 1);
	audit_retention_plan_free(p);
}

/* Exactly `days` old stays; one microsecond older goes. */
static void test_days_boundary(void **state)
{
	struct fx *f = *state;
	char a[4200], b[4200];
	int64_t cutoff = f->now - 7 * DAY;
	int64_t ta[] = { cutoff - 1 };
	int64_t tb[] = { cutoff };

	/* the records' times decide (mtimes well past the cutoff) */
	segment(f, ta, 1, a, sizeof(a));
	segment(f, tb, 1, b, sizeof(b));
	set_mtime(a, cutoff - DAY);
	set_mtime(b, cutoff - DAY);
	struct audit_retention_plan *p = plan(f, f->now, 7);
	assert_int_equal(p->ndel, 1);
	assert_string_equal(p->del[0].path, a);
	assert_int_equal(p->nkeep, 1);
	assert_string_equal(p->keep[0].path, b);
	assert_string_equal(p->keep[0].reason, "younger than 7 days");
	audit_retention_plan_free(p);

	/* the mtime, to the microsecond */
	set_mtime(a, cutoff);
	p = plan(f, f->now, 7);
	assert_int_equal(p->ndel, 0);
	assert_string_equal(p->keep[0].reason, "younger than 7 days");
	audit_retention_plan_free(p);
	set_mtime(a, cutoff - 1);
	p = plan(f, f->now, 7);
	assert_int_equal(p->ndel, 1);
	audit_retention_plan_free(p);
}

/* The newest record decides, not the last (a clock stepped back), and a
 * fresh mtime keeps a segment whatever its lines say. */
static void test_newest_and_mtime(void **state)
{
	struct fx *f = *state;
	char a[4200], b[4200];
	int64_t ta[] = { f->now - 50 * DAY, f->now - 5 * DAY, f->now - 50 * DAY + 1 };
	int64_t tb[] = { f->now - 50 * DAY };

	segment(f, ta, 3, a, sizeof(a));
	set_mtime(a, f->now - 50 * DAY); /* only the middle line is young */
	struct audit_retention_plan *p = plan(f, f->now, 30);
	assert_int_equal(p->ndel, 0);
	assert_string_equal(p->keep[0].reason, "younger than 30 days");
	assert_int_equal(p->keep[0].newest_us, f->now - 5 * DAY);
	audit_retention_plan_free(p);

	/* a second directory: old lines, young mtime */
	tu_rmrf(f->dir);
	assert_int_equal(mkdir(f->dir, 0700), 0);
	segment(f, tb, 1, b, sizeof(b));
	set_mtime(b, f->now - DAY);
	p = plan(f, f->now, 30);
	assert_int_equal(p->ndel, 0);
	assert_string_equal(p->keep[0].reason, "younger than 30 days");
	audit_retention_plan_free(p);
}

/* No argument makes a young segment deletable. */
static void test_arguments_cannot_force(void **state)
{
	struct fx *f = *state;
	char a[4200];
	struct audit_retention_plan *p = NULL;
	char err[256];
	int64_t ta[] = { f->now - 2 * DAY };

	segment(f, ta, 1, a, sizeof(a));
	assert_int_equal(audit_retention_plan(f->log, f->now, 0, &p, err, sizeof(err)), HDB_EINVAL);
	assert_null(p);
	assert_non_null(strstr(err, "at least"));
	/* a "now" in the future is the real clock */
	p = plan(f, f->now + 1000 * DAY, 1);
	assert_true(p->now_us <= real_now());
	assert_int_equal(p->ndel, 1); /* 2 days old, 1 day retention: goes */
	audit_retention_plan_free(p);
	p = plan(f, f->now + 1000 * DAY, 3);
	assert_int_equal(p->ndel, 0);
	audit_retention_plan_free(p);
	/* huge days: nothing, no overflow */
	p = plan(f, f->now, UINT32_MAX);
	assert_int_equal(p->ndel, 0);
	audit_retention_plan_free(p);
	/* now 0: the real clock */
	p = plan(f, 0, 1);
	assert_int_equal(p->ndel, 1);
	audit_retention_plan_free(p);
}

static void test_never_active(void **state)
{
	struct fx *f = *state;
	active(f, f->now - 1000 * DAY);
	set_mtime(f->log, f->now - 1000 * DAY);
	struct audit_retention_plan *p = plan(f, f->now, 1);
	assert_int_equal(p->ndel, 0);
	assert_int_equal(p->nkeep, 1);
	assert_string_equal(p->keep[0].path, f->log);
	assert_string_equal(p->keep[0].reason, "active segment");
	audit_retention_plan_free(p);

	struct audit_retention_segment s = { 0 };
	char err[256];
	s.path = f->log;
	snprintf(s.last_hash, sizeof(s.last_hash), "%064d", 0);
	assert_int_equal(audit_retention_delete_one(&s, err, sizeof(err)), HDB_EINVAL);
	assert_int_equal(access(f->log, F_OK), 0);
}

static void test_legal_hold(void **state)
{
	struct fx *f = *state;
	char a[4200], b[4200], hold[4200], err[256];
	int64_t ta[] = { f->now - 400 * DAY };
	int64_t tb[] = { f->now - 300 * DAY };

	segment(f, ta, 1, a, sizeof(a));
	segment(f, tb, 1, b, sizeof(b));
	active(f, f->now);
	struct audit_retention_plan *before = plan(f, f->now, 30);
	assert_int_equal(before->ndel, 2);

	snprintf(hold, sizeof(hold), "%s/LEGAL_HOLD", f->dir);
	write_file(hold, "case 2024-117\n", 14, 0644);
	struct audit_retention_plan *p = plan(f, f->now, 30);
	assert_true(p->legal_hold);
	assert_int_equal(p->ndel, 0);
	assert_int_equal(p->nkeep, 3);
	assert_string_equal(p->keep[0].reason, "legal hold");
	assert_string_equal(p->keep[1].reason, "legal hold");
	assert_string_equal(p->keep[2].reason, "active segment");
	assert_int_equal(p->keep[0].first_seq, 1); /* still described */
	audit_retention_plan_free(p);

	/* a hold placed after planning still stops the deletion */
	assert_int_equal(audit_retention_delete_one(&before->del[0], err, sizeof(err)), HDB_EPERM);
	assert_non_null(strstr(err, "legal hold"));
	assert_int_equal(access(a, F_OK), 0);

	/* an empty file or a directory is a hold too */
	assert_int_equal(unlink(hold), 0);
	assert_int_equal(mkdir(hold, 0700), 0);
	p = plan(f, f->now, 30);
	assert_true(p->legal_hold);
	assert_int_equal(p->ndel, 0);
	audit_retention_plan_free(p);
	assert_int_equal(rmdir(hold), 0);

	/* lifted: deletion proceeds */
	assert_int_equal(audit_retention_delete_one(&before->del[0], err, sizeof(err)), HDB_OK);
	assert_int_equal(access(a, F_OK), -1);
	audit_retention_plan_free(before);
}

/* Empty and malformed segments are reported and kept, and so is every
 * segment after them (deletion is a prefix of the log). */
static void test_malformed_and_empty(void **state)
{
	struct fx *f = *state;
	char a[4200], bad[4200], empty[4200], torn[4200], late[4200];
	int64_t old = f->now - 200 * DAY;
	int64_t ta[] = { old };
	struct buf b = { 0 };

	segment_named(f, "20191231T000000Z", ta, 1, a, sizeof(a));
	/* a record, then garbage */
	records(f, &old, 1, &b);
	buf_append(&b, "not a record\n", 13);
	snprintf(bad, sizeof(bad), "%s.20200101T000000Z.%020d", f->log, 2);
	write_file(bad, b.p, b.len, 0440);
	set_mtime(bad, old);
	snprintf(empty, sizeof(empty), "%s.20200101T000001Z.%020d", f->log, 3);
	write_file(empty, "", 0, 0440);
	set_mtime(empty, old);
	buf_reset(&b);
	records(f, &old, 1, &b);
	b.len--; /* no newline */
	snprintf(torn, sizeof(torn), "%s.20200101T000002Z.%020d", f->log, 4);
	write_file(torn, b.p, b.len, 0440);
	set_mtime(torn, old);
	segment(f, ta, 1, late, sizeof(late)); /* old and fine, but after them */
	buf_free(&b);

	struct audit_retention_plan *p = plan(f, f->now, 30);
	/* in name order: a (2019), bad, empty, torn (2020), late (now) */
	assert_int_equal(p->ndel, 1);
	assert_string_equal(p->del[0].path, a);
	assert_int_equal(p->nkeep, 4);
	assert_string_equal(p->keep[0].path, bad);
	assert_string_equal(p->keep[0].reason, "malformed: line 2 is not a record");
	assert_int_equal(p->keep[0].last_seq, 0);
	assert_string_equal(p->keep[0].last_hash, "");
	assert_string_equal(p->keep[1].path, empty);
	assert_string_equal(p->keep[1].reason, "empty segment");
	assert_string_equal(p->keep[2].path, torn);
	assert_string_equal(p->keep[2].reason, "malformed: torn last line 1 (no newline)");
	assert_string_equal(p->keep[3].path, late);
	assert_string_equal(p->keep[3].reason, "follows a kept segment");
	audit_retention_plan_free(p);
}

/* A segment whose last line cannot be parsed in full is kept. */
static void test_bad_last_line(void **state)
{
	struct fx *f = *state;
	char a[4200];
	int64_t old = f->now - 200 * DAY;
	struct buf b = { 0 };
	char ts[AUDIT_TIME_LEN + 1];

	assert_int_equal(audit_format_time(old, ts), HDB_OK);
	records(f, &old, 1, &b);
	/* the prefix is right, the rest is not JSON */
	buf_printf(&b, "{\"seq\":2,\"timestamp\":\"%s\",\"hash\":\"zz\n", ts);
	snprintf(a, sizeof(a), "%s.20200101T000000Z.%020d", f->log, 1);
	write_file(a, b.p, b.len, 0440);
	set_mtime(a, old);
	buf_free(&b);
	struct audit_retention_plan *p = plan(f, f->now, 30);
	assert_int_equal(p->ndel, 0);
	assert_string_equal(p->keep[0].reason, "malformed: last line 2 is not a record");
	audit_retention_plan_free(p);
}

static void test_delete_one(void **state)
{
	struct fx *f = *state;
	char a[4200], b[4200], err[256];
	int64_t ta[] = { f->now - 100 * DAY };
	int64_t tb[] = { f->now - 90 * DAY };

	segment(f, ta, 1, a, sizeof(a));
	segment(f, tb, 1, b, sizeof(b));
	active(f, f->now);
	struct audit_retention_plan *p = plan(f, f->now, 30);
	assert_int_equal(p->ndel, 2);

	assert_int_equal(audit_retention_delete_one(&p->del[0], err, sizeof(err)), HDB_OK);
	assert_int_equal(access(a, F_OK), -1);
	assert_int_equal(errno, ENOENT);
	/* deleting it again: it is gone, not silently fine */
	assert_int_equal(audit_retention_delete_one(&p->del[0], err, sizeof(err)), HDB_ECORRUPT);

	/* a segment that changed since the plan is not deleted */
	assert_int_equal(chmod(b, 0640), 0);
	int fd = open(b, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	struct buf extra = { 0 };
	records(f, &tb[0], 1, &extra);
	assert_int_equal(write(fd, extra.p, extra.len), (ssize_t)extra.len);
	close(fd);
	buf_free(&extra);
	set_mtime(b, tb[0]);
	assert_int_equal(audit_retention_delete_one(&p->del[1], err, sizeof(err)), HDB_ECORRUPT);
	assert_non_null(strstr(err, "changed since"));
	assert_int_equal(access(b, F_OK), 0);
	audit_retention_plan_free(p);

	/* a fresh plan sees it as it is now, and deletes it */
	p = plan(f, f->now, 30);
	assert_int_equal(p->ndel, 1);
	assert_int_equal(p->del[0].records, 2);
	assert_int_equal(audit_retention_delete_one(&p->del[0], err, sizeof(err)), HDB_OK);
	audit_retention_plan_free(p);

	p = plan(f, f->now, 30);
	assert_int_equal(p->ndel, 0);
	assert_int_equal(p->nkeep, 1);
	audit_retention_plan_free(p);

	assert_int_equal(audit_retention_delete_one(NULL, err, sizeof(err)), HDB_EINVAL);
}

static void test_nothing_there(void **state)
{
	struct fx *f = *state;
	struct audit_retention_plan *p = plan(f, f->now, 30);
	assert_int_equal(p->ndel, 0);
	assert_int_equal(p->nkeep, 0);
	audit_retention_plan_free(p);
	audit_retention_plan_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_days_boundary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newest_and_mtime, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arguments_cannot_force, setup, teardown),
		cmocka_unit_test_setup_teardown(test_never_active, setup, teardown),
		cmocka_unit_test_setup_teardown(test_legal_hold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_and_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_last_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_one, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nothing_there, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
