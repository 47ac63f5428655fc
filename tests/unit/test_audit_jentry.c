/*
 * test_audit_jentry.c - a journald entry prepared from the event when its
 * record is encoded (audit_journal_entry) is byte for byte the entry
 * built by parsing the record line back (audit_journal_entry_from_line,
 * which audit_journal_send uses): the engine's fast path sends exactly
 * the fields docs/journald.md describes.  No journald needed.
 */
#include "testutil.h"

#include <openssl/rand.h>

#include "audit.h"

static void same_entry(const struct audit_event *ev)
{
	struct audit_ctx ctx = { .pid = 4242 };
	struct audit_head head;
	struct audit_record_info info;
	struct buf line = { 0 }, a = { 0 }, b = { 0 };
	char err[256];
	unsigned char r[16];

	assert_int_equal(RAND_bytes(r, sizeof(r)), 1);
	hex_encode(r, sizeof(r), ctx.db_id);
	snprintf(ctx.host, sizeof(ctx.host), "testhost");
	audit_genesis(ctx.db_id, &head);
	head.seq = 41;
	assert_int_equal(audit_record_encode_ex(&ctx, ev, &head, &line, &info), HDB_OK);
	assert_int_equal(info.seq, 42);
	assert_int_equal(audit_journal_entry(&ctx, ev, &info, (const char *)line.p, line.len, &a), HDB_OK);
	assert_int_equal(audit_journal_entry_from_line((const char *)line.p, line.len, &b, err, sizeof(err)), HDB_OK);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.p, b.p, a.len);
	uint64_t seq = 0;
	assert_int_equal(audit_journal_entry_size(a.p, a.len, &seq), a.len);
	assert_int_equal(seq, 42);
	buf_free(&line);
	buf_free(&a);
	buf_free(&b);
}

static void test_plain(void **state)
{
	(void)state;
	struct audit_event ev = { .type = AUDIT_EV_READ, .outcome = AUDIT_SUCCESS, .user = "doctor_smith",
		                  .source_ip = "10.0.0.5", .application = "psql", .session_id = "sess-1",
		                  .table = "patients", .object = "table:patients", .rows_affected = 1,
		                  .encryption_enabled = true, .time_us = 1795859352762286 };
	same_entry(&ev);
}

static void test_nulls_and_failure(void **state)
{
	(void)state;
	struct audit_event ev = { .type = AUDIT_EV_WRITE, .outcome = AUDIT_FAILURE, .error = "transaction rolled back",
		                  .object = "keyspace:ks key:3fa2", .rows_affected = -1,
		                  .detail_json = "{\"op\":\"x\"}", .time_us = 1 };
	same_entry(&ev);
	ev.outcome = AUDIT_DENIED;
	ev.type = AUDIT_EV_ACCESS_DENIED;
	ev.user = "";
	same_entry(&ev);
}

static void test_hostile_strings(void **state)
{
	(void)state;
	char longerr[600];
	memset(longerr, 'e', sizeof(longerr) - 1);
	longerr[sizeof(longerr) - 1] = '\0';
	longerr[10] = '\n';
	struct audit_event ev = { .type = AUDIT_EV_LOGIN, .outcome = AUDIT_DENIED, .error = longerr,
		                  .user = "m\xc3\xa4llory\xff\xfe bad \xe2\x82", .source_ip = "a\"b\\c\td\x01",
		                  .application = "\xf0\x9f\x98\x80 ok", .table = "t\x7f", .rows_affected = 0,
		                  .time_us = 1795859352762286 };
	same_entry(&ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_nulls_and_failure),
		cmocka_unit_test(test_hostile_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
