/*
 * test_audit_record.c - the audit record, chain, redaction and checkpoint
 * signatures (audit/record.c, audit/redact.c, audit/sign.c).
 *
 * Known-answer vectors (genesis, one record's hash, a token, an Ed25519
 * checkpoint signature) were computed independently with python3 hashlib,
 * hmac and cryptography when this test was written, so the definitions in
 * audit.h cannot drift silently.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include <json.h>
#include <openssl/evp.h>

#include "audit.h"

#define DB_ID "0123456789abcdef0123456789abcdef"

static const char *const member_order[] = {
	"seq", "timestamp", "event_type", "outcome", "error", "user", "source_ip",
	"application", "session_id", "table", "object", "query", "rows_affected",
	"encryption_enabled", "event_id", "db_id", "host", "pid", "detail", "prev_hash", "hash",
};

static void test_ctx(struct audit_ctx *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->db_id, DB_ID);
	strcpy(c->host, "db1");
	c->pid = 4242;
}

static bool is_hex(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static void hex32(const unsigned char h[32], char out[65])
{
	hex_encode(h, 32, out);
}

/* parses one line (without its newline) and checks the member order */
static json_object *parse_line(const char *line, size_t len)
{
	assert_true(len > 0);
	char *copy = strndup(line, len);
	assert_non_null(copy);
	json_tokener *tok = json_tokener_new();
	json_object *o = json_tokener_parse_ex(tok, copy, (int)len);
	assert_int_equal(json_tokener_get_error(tok), json_tokener_success);
	assert_int_equal(json_tokener_get_parse_end(tok), len); /* nothing after the object */
	json_tokener_free(tok);
	free(copy);
	assert_non_null(o);
	assert_true(json_object_is_type(o, json_type_object));
	size_t i = 0;
	json_object_object_foreach(o, k, v) {
		(void)v;
		assert_true(i < ARRAY_SIZE(member_order));
		assert_string_equal(k, member_order[i]);
		i++;
	}
	assert_int_equal(i, ARRAY_SIZE(member_order));
	return o;
}

static json_object *member(json_object *o, const char *k)
{
	json_object *v = NULL;
	assert_true(json_object_object_get_ex(o, k, &v));
	return v;
}

static void assert_str_member(json_object *o, const char *k, const char *want)
{
	json_object *v = member(o, k);
	if (!want) {
		assert_null(v);
		return;
	}
	assert_true(json_object_is_type(v, json_type_string));
	assert_string_equal(json_object_get_string(v), want);
}

/* encode one event into a fresh buffer; returns the line (caller frees) */
static char *encode1(const struct audit_event *ev, struct audit_head *h, size_t *ret_len)
{
	struct audit_ctx c;
	test_ctx(&c);
	struct buf b = { 0 };
	assert_int_equal(audit_record_encode(&c, ev, h, &b), HDB_OK);
	assert_true(b.len > 0);
	assert_int_equal(b.p[b.len - 1], '\n');
	assert_null(memchr(b.p, '\n', b.len - 1));
	assert_null(memchr(b.p, '\0', b.len));
	char *s = strndup((char *)b.p, b.len);
	*ret_len = b.len;
	buf_free(&b);
	return s;
}

/* ------------------------------------------------------------ event table */

static void event_table(void **state)
{
	(void)state;
	static const char *const cats[] = { "data", "ddl", "txn", "security", "audit" };
	for (int i = 0; i < AUDIT_EV__COUNT; i++) {
		const char *name = audit_event_name((enum audit_event_type)i);
		assert_non_null(name);
		assert_int_equal(audit_event_lookup(name), i);
		const char *id = audit_event_message_id((enum audit_event_type)i);
		assert_true(is_hex(id, 32));
		for (int j = 0; j < i; j++) {
			assert_string_not_equal(id, audit_event_message_id((enum audit_event_type)j));
			assert_string_not_equal(name, audit_event_name((enum audit_event_type)j));
		}
		const char *cat = audit_event_category((enum audit_event_type)i);
		bool known = false;
		for (size_t k = 0; k < ARRAY_SIZE(cats); k++)
			known |= strcmp(cat, cats[k]) == 0;
		assert_true(known);
		int pr = audit_event_priority((enum audit_event_type)i);
		assert_true(pr >= 0 && pr <= 7);
	}
	assert_int_equal(audit_event_lookup("no_such_event"), -1);
	assert_int_equal(audit_event_lookup(""), -1);
	assert_int_equal(audit_event_lookup(NULL), -1);
	assert_null(audit_event_name(AUDIT_EV__COUNT));
	assert_null(audit_event_message_id((enum audit_event_type)-1));
	assert_string_equal(audit_event_name(AUDIT_EV_READ), "read");
	assert_string_equal(audit_event_message_id(AUDIT_EV_READ), "5f7e64d3e9b859588cdc50cdd4704f65");
	assert_string_equal(audit_outcome_name(AUDIT_SUCCESS), "success");
	assert_string_equal(audit_outcome_name(AUDIT_FAILURE), "failure");
	assert_string_equal(audit_outcome_name(AUDIT_DENIED), "denied");
	assert_null(audit_outcome_name((enum audit_outcome)3));
}

/* ------------------------------------------------------------- the record */

static void genesis_kat(void **state)
{
	(void)state;
	struct audit_head h = { .seq = 99 };
	audit_genesis(DB_ID, &h);
	char hx[65];
	hex32(h.hash, hx);
	assert_int_equal(h.seq, 0);
	/* python3 -c 'import hashlib; print(hashlib.sha256(b"heliosdb-audit-genesis:0123456789abcdef0123456789abcdef").hexdigest())' */
	assert_string_equal(hx, "9c289ee76628a9f0e7130f69c805bf92d3e91b741b89164985771265064f1b8e");
	struct audit_head h2;
	audit_genesis("fedcba9876543210fedcba9876543210", &h2);
	assert_memory_not_equal(h.hash, h2.hash, 32);
}

/* One record line and its hash, computed with python3 hashlib:
 *   g = sha256(b"heliosdb-audit-genesis:" + DB_ID)
 *   hash = sha256(g + line[:line.rindex(b',"hash":"')] + b"}") */
static const char kat_line[] =
	"{\"seq\":1,\"timestamp\":\"2026-11-28T09:30:45.123456Z\",\"event_type\":\"write\",\"outcome\":\"success\","
	"\"error\":null,\"user\":\"alice\",\"source_ip\":\"10.0.0.7\",\"application\":\"billing\","
	"\"session_id\":\"s-1\",\"table\":\"patients\",\"object\":\"table:patients\","
	"\"query\":\"INSERT INTO patients VALUES (?, ?)\",\"rows_affected\":1,\"encryption_enabled\":true,"
	"\"event_id\":\"c87036de261efc05e10bcad78aace898\",\"db_id\":\"0123456789abcdef0123456789abcdef\","
	"\"host\":\"db1\",\"pid\":4242,\"detail\":null,"
	"\"prev_hash\":\"9c289ee76628a9f0e7130f69c805bf92d3e91b741b89164985771265064f1b8e\","
	"\"hash\":\"9e78312a4e1db724e32172b7328ec92a47d462f6aac38d63b726a2802bba56c8\"}\n";

static const struct audit_event kat_event = {
	.type = AUDIT_EV_WRITE, .outcome = AUDIT_SUCCESS, .user = "alice", .source_ip = "10.0.0.7",
	.application = "billing", .session_id = "s-1", .table = "patients", .object = "table:patients",
	.query = "INSERT INTO patients VALUES (?, ?)", .rows_affected = 1, .encryption_enabled = true,
	.time_us = INT64_C(1795858245123456),
};

static void chain_kat(void **state)
{
	(void)state;
	struct audit_head g;
	audit_genesis(DB_ID, &g);
	unsigned char h[32], claimed[32];
	assert_int_equal(audit_line_hash(g.hash, kat_line, strlen(kat_line), h, claimed), HDB_OK);
	char hx[65];
	hex32(h, hx);
	assert_string_equal(hx, "9e78312a4e1db724e32172b7328ec92a47d462f6aac38d63b726a2802bba56c8");
	assert_memory_equal(h, claimed, 32);
	/* without the newline too */
	assert_int_equal(audit_line_hash(g.hash, kat_line, strlen(kat_line) - 1, h, NULL), HDB_OK);
	assert_string_equal(hx, "9e78312a4e1db724e32172b7328ec92a47d462f6aac38d63b726a2802bba56c8");

	/* the encoder produces exactly that line, except the random event_id */
	struct audit_head head = g;
	size_t len;
	char *line = encode1(&kat_event, &head, &len);
	assert_int_equal(len, strlen(kat_line));
	const char *id = strstr(kat_line, "c87036de261efc05e10bcad78aace898");
	size_t at = (size_t)(id - kat_line);
	assert_memory_equal(line, kat_line, at);
	/* after the event id, everything up to the hash member is equal */
	size_t tail = len - 75 - 1;
	assert_memory_equal(line + at + 32, kat_line + at + 32, tail - at - 32);
	unsigned char h2[32];
	assert_int_equal(audit_line_hash(g.hash, line, len, h2, claimed), HDB_OK);
	assert_memory_equal(h2, claimed, 32);
	assert_memory_equal(head.hash, h2, 32);
	assert_int_equal(head.seq, 1);
	free(line);
}

static void fields_parse_back(void **state)
{
	(void)state;
	struct audit_head h;
	audit_genesis(DB_ID, &h);
	struct buf d = { 0 };
	audit_detail_begin(&d);
	audit_detail_str(&d, "op", "create");
	audit_detail_int(&d, "n", -42);
	audit_detail_bool(&d, "ok", true);
	assert_int_equal(audit_detail_end(&d), HDB_OK);
	struct audit_event ev = {
		.type = AUDIT_EV_DDL, .outcome = AUDIT_FAILURE, .error = "table exists", .user = "bob",
		.source_ip = "::1", .application = "psql", .session_id = "sess-9", .table = "t1",
		.object = "table:t1", .query = "CREATE TABLE t1 (a int)", .rows_affected = -1,
		.encryption_enabled = false, .detail_json = (const char *)d.p, .time_us = 1,
	};
	size_t len;
	char *line = encode1(&ev, &h, &len);
	json_object *o = parse_line(line, len - 1);
	assert_int_equal(json_object_get_int64(member(o, "seq")), 1);
	assert_str_member(o, "timestamp", "1970-01-01T00:00:00.000001Z");
	assert_str_member(o, "event_type", "ddl");
	assert_str_member(o, "outcome", "failure");
	assert_str_member(o, "error", "table exists");
	assert_str_member(o, "user", "bob");
	assert_str_member(o, "source_ip", "::1");
	assert_str_member(o, "application", "psql");
	assert_str_member(o, "session_id", "sess-9");
	assert_str_member(o, "table", "t1");
	assert_str_member(o, "object", "table:t1");
	assert_str_member(o, "query", "CREATE TABLE t1 (a int)");
	assert_null(member(o, "rows_affected"));
	assert_true(json_object_is_type(member(o, "encryption_enabled"), json_type_boolean));
	assert_false(json_object_get_boolean(member(o, "encryption_enabled")));
	assert_true(is_hex(json_object_get_string(member(o, "event_id")), 32));
	assert_str_member(o, "db_id", DB_ID);
	assert_str_member(o, "host", "db1");
	assert_int_equal(json_object_get_int64(member(o, "pid")), 4242);
	json_object *det = member(o, "detail");
	assert_true(json_object_is_type(det, json_type_object));
	assert_string_equal(json_object_get_string(member(det, "op")), "create");
	assert_int_equal(json_object_get_int64(member(det, "n")), -42);
	assert_true(json_object_get_boolean(member(det, "ok")));
	assert_true(is_hex(json_object_get_string(member(o, "prev_hash")), 64));
	assert_true(is_hex(json_object_get_string(member(o, "hash")), 64));
	char hx[65];
	hex32(h.hash, hx);
	assert_str_member(o, "hash", hx);
	json_object_put(o);
	free(line);

	/* everything absent: nulls; rows_affected 0 is a number */
	struct audit_event e2 = { .type = AUDIT_EV_TXN_BEGIN, .rows_affected = 0 };
	line = encode1(&e2, &h, &len);
	o = parse_line(line, len - 1);
	assert_int_equal(json_object_get_int64(member(o, "seq")), 2);
	static const char *const nulls[] = { "error", "user", "source_ip", "application", "session_id",
					     "table", "object", "query", "detail" };
	for (size_t i = 0; i < ARRAY_SIZE(nulls); i++)
		assert_null(member(o, nulls[i]));
	assert_true(json_object_is_type(member(o, "rows_affected"), json_type_int));
	assert_int_equal(json_object_get_int64(member(o, "rows_affected")), 0);
	assert_str_member(o, "outcome", "success");
	/* time 0 means now */
	int64_t t;
	const char *ts = json_object_get_string(member(o, "timestamp"));
	assert_int_equal(audit_parse_time(ts, strlen(ts), &t), HDB_OK);
	assert_true(llabs(t / 1000000 - (int64_t)time(NULL)) < 5);
	json_object_put(o);
	free(line);

	struct audit_event e3 = { .type = AUDIT_EV_WRITE, .rows_affected = INT64_MAX, .time_us = 5 };
	line = encode1(&e3, &h, &len);
	o = parse_line(line, len - 1);
	assert_int_equal(json_object_get_int64(member(o, "rows_affected")), INT64_MAX);
	json_object_put(o);
	free(line);
	buf_free(&d);
}

static void every_event_type_parses(void **state)
{
	(void)state;
	struct audit_head h;
	audit_genesis(DB_ID, &h);
	for (int t = 0; t < AUDIT_EV__COUNT; t++) {
		for (int oc = 0; oc < 3; oc++) {
			struct audit_event ev = { .type = (enum audit_event_type)t, .outcome = (enum audit_outcome)oc,
						  .user = "u", .rows_affected = t, .time_us = 1000 * t + 1 };
			size_t len;
			char *line = encode1(&ev, &h, &len);
			json_object *o = parse_line(line, len - 1);
			assert_str_member(o, "event_type", audit_event_name((enum audit_event_type)t));
			assert_str_member(o, "outcome", audit_outcome_name((enum audit_outcome)oc));
			json_object_put(o);
			free(line);
		}
	}
	assert_int_equal(h.seq, 3 * AUDIT_EV__COUNT);
}

static void bad_arguments(void **state)
{
	(void)state;
	struct audit_ctx c;
	test_ctx(&c);
	struct audit_head h, before;
	audit_genesis(DB_ID, &h);
	before = h;
	struct buf b = { 0 };
	struct audit_event ev = { .type = AUDIT_EV__COUNT };
	assert_int_equal(audit_record_encode(&c, &ev, &h, &b), HDB_EINVAL);
	ev.type = AUDIT_EV_READ;
	ev.outcome = (enum audit_outcome)7;
	assert_int_equal(audit_record_encode(&c, &ev, &h, &b), HDB_EINVAL);
	ev.outcome = AUDIT_SUCCESS;
	ev.detail_json = "not an object";
	assert_int_equal(audit_record_encode(&c, &ev, &h, &b), HDB_EINVAL);
	ev.detail_json = "{\"a\":\n1}";
	assert_int_equal(audit_record_encode(&c, &ev, &h, &b), HDB_EINVAL);
	ev.detail_json = NULL;
	ev.time_us = -5;
	assert_int_equal(audit_record_encode(&c, &ev, &h, &b), HDB_EINVAL);
	ev.time_us = 0;
	strcpy(c.db_id, "0123456789ABCDEF0123456789abcdef");
	assert_int_equal(audit_record_encode(&c, &ev, &h, &b), HDB_EINVAL);
	strcpy(c.db_id, "short");
	assert_int_equal(audit_record_encode(&c, &ev, &h, &b), HDB_EINVAL);
	test_ctx(&c);
	struct audit_head last = { .seq = UINT64_MAX };
	assert_int_equal(audit_record_encode(&c, &ev, &last, &b), HDB_EINVAL);
	assert_int_equal(b.len, 0);
	assert_int_equal(h.seq, before.seq);
	assert_memory_equal(h.hash, before.hash, 32);
	buf_free(&b);
}

static void line_hash_detects_every_byte(void **state)
{
	(void)state;
	struct audit_head g, h;
	audit_genesis(DB_ID, &g);
	h = g;
	struct buf d = { 0 };
	audit_detail_begin(&d);
	audit_detail_str(&d, "segment", "audit.log.1");
	assert_int_equal(audit_detail_end(&d), HDB_OK);
	struct audit_event ev = kat_event;
	ev.detail_json = (const char *)d.p;
	ev.error = "e";
	size_t len;
	char *line = encode1(&ev, &h, &len);
	unsigned char hh[32], claimed[32];
	assert_int_equal(audit_line_hash(g.hash, line, len, hh, claimed), HDB_OK);
	assert_memory_equal(hh, claimed, 32);
	size_t canon_body = len - 1 - 75;
	for (size_t i = 0; i < canon_body; i++) {
		for (int bit = 0; bit < 8; bit += 7) {
			line[i] ^= (char)(1 << bit);
			int rc = audit_line_hash(g.hash, line, len, hh, claimed);
			if (rc == HDB_OK)
				assert_memory_not_equal(hh, claimed, 32);
			else
				assert_int_equal(rc, HDB_ECORRUPT);
			line[i] ^= (char)(1 << bit);
		}
	}
	/* a changed claimed hash: parses, but no longer matches */
	line[len - 5] = line[len - 5] == '0' ? '1' : '0';
	assert_int_equal(audit_line_hash(g.hash, line, len, hh, claimed), HDB_OK);
	assert_memory_not_equal(hh, claimed, 32);
	/* a different prev gives a different hash */
	line[len - 5] = line[len - 5] == '0' ? '1' : '0';
	unsigned char prev2[32];
	memcpy(prev2, g.hash, 32);
	prev2[31] ^= 1;
	assert_int_equal(audit_line_hash(prev2, line, len, hh, claimed), HDB_OK);
	assert_memory_not_equal(hh, claimed, 32);
	/* malformed tails */
	line[len - 3] = 'X';
	assert_int_equal(audit_line_hash(g.hash, line, len, hh, claimed), HDB_ECORRUPT);
	line[len - 3] = 'A';   /* uppercase hex is not the canonical form */
	assert_int_equal(audit_line_hash(g.hash, line, len, hh, claimed), HDB_ECORRUPT);
	assert_int_equal(audit_line_hash(g.hash, "{}", 2, hh, claimed), HDB_ECORRUPT);
	assert_int_equal(audit_line_hash(g.hash, "", 0, hh, claimed), HDB_ECORRUPT);
	assert_int_equal(audit_line_hash(g.hash, line + 1, len - 1, hh, claimed), HDB_ECORRUPT);
	free(line);
	buf_free(&d);
}

static void chain_of_1000(void **state)
{
	(void)state;
	struct audit_ctx c;
	test_ctx(&c);
	struct audit_head h;
	audit_genesis(DB_ID, &h);
	unsigned char prev[32];
	memcpy(prev, h.hash, 32);
	struct buf b = { 0 };
	for (int i = 0; i < 1000; i++) {
		char user[32];
		snprintf(user, sizeof(user), "user%d", i % 7);
		struct audit_event ev = { .type = (enum audit_event_type)(i % AUDIT_EV__COUNT),
					  .outcome = (enum audit_outcome)(i % 3), .user = user,
					  .rows_affected = i % 5 - 1, .time_us = INT64_C(1795858245000000) + i };
		assert_int_equal(audit_record_encode(&c, &ev, &h, &b), HDB_OK);
	}
	assert_int_equal(h.seq, 1000);
	const char *p = (const char *)b.p, *end = p + b.len;
	uint64_t seq = 0;
	char ids[1000][33];
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		assert_non_null(nl);
		unsigned char hh[32], claimed[32];
		assert_int_equal(audit_line_hash(prev, p, (size_t)(nl - p + 1), hh, claimed), HDB_OK);
		assert_memory_equal(hh, claimed, 32);
		json_object *o = parse_line(p, (size_t)(nl - p));
		assert_int_equal((uint64_t)json_object_get_int64(member(o, "seq")), ++seq);
		char hx[65];
		hex32(prev, hx);
		assert_str_member(o, "prev_hash", hx);
		hex32(hh, hx);
		assert_str_member(o, "hash", hx);
		snprintf(ids[seq - 1], 33, "%s", json_object_get_string(member(o, "event_id")));
		for (uint64_t j = seq - 1 >= 20 ? seq - 21 : 0; j + 1 < seq; j++)
			assert_string_not_equal(ids[j], ids[seq - 1]);
		json_object_put(o);
		memcpy(prev, hh, 32);
		p = nl + 1;
	}
	assert_int_equal(seq, 1000);
	assert_memory_equal(prev, h.hash, 32);
	buf_free(&b);
}

/* ------------------------------------------------------------- escaping */

static void escaping(void **state)
{
	(void)state;
	/* quotes, backslash, every control character, DEL, valid multi-byte
	 * UTF-8, and invalid UTF-8: a lone continuation byte, an overlong
	 * encoding, a surrogate, a truncated sequence, 0xFF */
	static const char in[] = "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f é€😀 \x80 \xc0\xaf \xed\xa0\x80 \xe2\x82 \xff!";
	static const char want[] = "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f é€😀 \xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd "
				   "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd!";
	struct audit_head h;
	audit_genesis(DB_ID, &h);
	struct audit_event ev = { .type = AUDIT_EV_READ, .user = in, .query = in, .table = "t\"", .time_us = 7 };
	size_t len;
	char *line = encode1(&ev, &h, &len);
	for (size_t i = 0; i + 1 < len; i++)
		assert_true((unsigned char)line[i] >= 0x20);
	assert_non_null(strstr(line, "\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f"));
	json_object *o = parse_line(line, len - 1);
	assert_str_member(o, "user", want);
	assert_str_member(o, "query", want);
	assert_str_member(o, "table", "t\"");
	json_object_put(o);
	free(line);

	/* audit_json_string with an embedded NUL and with NULL */
	struct buf b = { 0 };
	assert_int_equal(audit_json_string(&b, "a\0b", 3), HDB_OK);
	assert_int_equal(b.len, 10);
	assert_memory_equal(b.p, "\"a\\u0000b\"", 10);
	buf_reset(&b);
	assert_int_equal(audit_json_string(&b, NULL, 0), HDB_OK);
	assert_memory_equal(b.p, "null", 4);
	buf_reset(&b);
	assert_int_equal(audit_json_string(&b, "", 0), HDB_OK);
	assert_memory_equal(b.p, "\"\"", 2);
	/* a 4-byte sequence above U+10FFFF and a truncated one at the very end */
	buf_reset(&b);
	assert_int_equal(audit_json_string(&b, "\xf4\x90\x80\x80\xf0\x9f", 6), HDB_OK);
	assert_int_equal(b.len, 2 + 6 * 3);
	buf_free(&b);

	/* detail keys and values are escaped too */
	struct buf d = { 0 };
	audit_detail_begin(&d);
	audit_detail_str(&d, "k\"", "v\n\xff");
	audit_detail_str(&d, "nul", NULL);
	audit_detail_int(&d, "min", INT64_MIN);
	audit_detail_bool(&d, "f", false);
	assert_int_equal(audit_detail_end(&d), HDB_OK);
	assert_int_equal(strlen((const char *)d.p), d.len);
	json_object *det = json_tokener_parse((const char *)d.p);
	assert_non_null(det);
	assert_string_equal(json_object_get_string(member(det, "k\"")), "v\n\xef\xbf\xbd");
	assert_null(member(det, "nul"));
	assert_int_equal(json_object_get_int64(member(det, "min")), INT64_MIN);
	assert_false(json_object_get_boolean(member(det, "f")));
	json_object_put(det);
	/* an empty object; a builder used without begin reports an error */
	audit_detail_begin(&d);
	assert_int_equal(audit_detail_end(&d), HDB_OK);
	assert_string_equal((const char *)d.p, "{}");
	buf_reset(&d);
	audit_detail_str(&d, "a", "b");
	assert_int_equal(audit_detail_end(&d), HDB_ENOMEM);
	buf_free(&d);
}

/* ------------------------------------------------------------------ time */

static void timestamps(void **state)
{
	(void)state;
	char t[AUDIT_TIME_LEN + 1];
	assert_int_equal(audit_format_time(0, t), HDB_OK);
	assert_string_equal(t, "1970-01-01T00:00:00.000000Z");
	assert_int_equal(audit_format_time(INT64_C(1795858245123456), t), HDB_OK);
	assert_string_equal(t, "2026-11-28T09:30:45.123456Z");
	assert_int_equal(audit_format_time(INT64_C(951782400000000), t), HDB_OK);
	assert_string_equal(t, "2000-02-29T00:00:00.000000Z");
	assert_int_equal(audit_format_time(INT64_C(253402300799999999), t), HDB_OK);
	assert_string_equal(t, "9999-12-31T23:59:59.999999Z");
	assert_int_equal(audit_format_time(INT64_C(253402300800000000), t), HDB_EINVAL);
	assert_int_equal(audit_format_time(-1, t), HDB_EINVAL);
	/* against gmtime over many values, and round trips */
	uint64_t x = 88172645463325252ull;
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int64_t us = (int64_t)(x % (uint64_t)INT64_C(4102444800000000)); /* < 2100 */
		assert_int_equal(audit_format_time(us, t), HDB_OK);
		time_t secs = (time_t)(us / 1000000);
		struct tm tm;
		gmtime_r(&secs, &tm);
		char want[96];
		snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1,
			 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(us % 1000000));
		assert_string_equal(t, want);
		int64_t back;
		assert_int_equal(audit_parse_time(t, strlen(t), &back), HDB_OK);
		assert_int_equal(back, us);
	}
	static const char *const bad[] = {
		"2026-11-28T09:30:45.123456", "2026-11-28 09:30:45.123456Z", "2026-11-28T09:30:45Z",
		"2026-13-28T09:30:45.123456Z", "2026-02-29T09:30:45.123456Z", "2026-04-31T09:30:45.123456Z",
		"2026-11-28T24:00:00.000000Z", "2026-11-28T09:60:45.123456Z", "2026-11-28T09:30:60.123456Z",
		"1969-12-31T23:59:59.999999Z", "2026-11-28T09:30:45.12345xZ", "2026-11-28t09:30:45.123456Z",
		"+026-11-28T09:30:45.123456Z", "2026-00-10T09:30:45.123456Z", "2026-11-00T09:30:45.123456Z",
	};
	int64_t v;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(audit_parse_time(bad[i], strlen(bad[i]), &v), HDB_ECORRUPT);
	assert_int_equal(audit_parse_time("2024-02-29T00:00:00.000000Z", 27, &v), HDB_OK);
	assert_int_equal(audit_parse_time("2000-02-29T00:00:00.000000Z", 27, &v), HDB_OK);
	assert_int_equal(audit_parse_time("2100-02-29T00:00:00.000000Z", 27, &v), HDB_ECORRUPT);
}

/* ------------------------------------------------------------- redaction */

struct redact_case {
	const char *in;
	const char *want;
};

static const struct redact_case redact_cases[] = {
	{ "SELECT * FROM t WHERE a = 'x'", "SELECT * FROM t WHERE a = ?" },
	{ "SELECT 'it''s'", "SELECT ?" },
	{ "SELECT '''', ''", "SELECT ?, ?" },
	{ "SELECT 'a\\'", "SELECT ?" },                       /* backslash is ordinary in '' */
	{ "SELECT E'it\\'s' , 1", "SELECT ? , ?" },
	{ "SELECT e'a\\\\', 'b'", "SELECT ?, ?" },
	{ "SELECT E'x''y\\n'", "SELECT ?" },
	{ "SELECT $$secret$$", "SELECT ?" },
	{ "SELECT $$a'b$$ || 'c'", "SELECT ? || ?" },
	{ "SELECT $tag$ $$ inner $$ $tag$, 2", "SELECT ?, ?" },
	{ "SELECT $a$x$b$y$a$", "SELECT ?" },
	{ "SELECT * FROM t WHERE id = $1 AND b = $2", "SELECT * FROM t WHERE id = $1 AND b = $2" },
	{ "SELECT 42, 3.14, .5, 1.5e10, 1e-5, 2E+3, 7.", "SELECT ?, ?, ?, ?, ?, ?, ?" },
	{ "SELECT 0x1F, 0o17, 0b101, 1_000_000", "SELECT ?, ?, ?, ?" },
	{ "SELECT -5, +6, a-7, a - -8", "SELECT -?, +?, a-?, a - -?" },
	{ "SELECT 123abc", "SELECT ?" },                       /* trailing junk goes with the number */
	{ "SELECT col1, t2.c3, _x9 FROM tab_1", "SELECT col1, t2.c3, _x9 FROM tab_1" },
	{ "SELECT \"quoted id\", \"it's\", \"a\"\"b\" FROM \"T 1\"", "SELECT \"quoted id\", \"it's\", \"a\"\"b\" FROM \"T 1\"" },
	{ "SELECT U&\"d\\0061t\" FROM t", "SELECT U&\"d\\0061t\" FROM t" },
	{ "SELECT X'1F', B'1010', x'ab'", "SELECT ?, ?, ?" },
	{ "SELECT N'nat', U&'d\\0061ta'", "SELECT ?, ?" },
	{ "SELECT 1 -- the secret is 42\nFROM t", "SELECT ? \nFROM t" },
	{ "SELECT /* 'x' */ a FROM t", "SELECT  a FROM t" },
	{ "SELECT/*c*/a", "SELECT a" },
	{ "SELECT /* a /* nested 'v' */ still comment */ b", "SELECT  b" },
	{ "SELECT 'unterminated", "SELECT ?" },
	{ "SELECT E'unterminated\\'", "SELECT ?" },
	{ "SELECT $$unterminated", "SELECT ?" },
	{ "SELECT \"unterminated", "SELECT \"unterminated" },
	{ "SELECT 1 /* unterminated 'x'", "SELECT ? " },
	{ "INSERT INTO p VALUES (1, 'Ann', 3.5, NULL, true)", "INSERT INTO p VALUES (?, ?, ?, NULL, true)" },
	{ "UPDATE t SET a=a+1 WHERE b<>'z'", "UPDATE t SET a=a+? WHERE b<>?" },
	{ "SELECT DATE '2024-01-01', INTERVAL '1 day'", "SELECT DATE ?, INTERVAL ?" },
	{ "SELECT a::int, b::text FROM t", "SELECT a::int, b::text FROM t" },
	{ "SELECT 1..10", "SELECT ?.?" },           /* "1" then ".10" */
	{ "SELECT foo$bar, $ 1", "SELECT foo$bar, $ ?" },
	{ "SELECT namE'x'", "SELECT namE?" },
	{ "SELECT 'a'\n'b'", "SELECT ?\n?" },
	{ "SELECT 'é€😀', 'ünï'", "SELECT ?, ?" },
	{ "", "" },
	{ "--only a comment", "" },
	{ "SELECT '\xff\xfe'", "SELECT ?" },
};

static void redact_literals(void **state)
{
	(void)state;
	assert_true(ARRAY_SIZE(redact_cases) >= 30);
	struct buf b = { 0 };
	for (size_t i = 0; i < ARRAY_SIZE(redact_cases); i++) {
		buf_reset(&b);
		const struct redact_case *c = &redact_cases[i];
		assert_int_equal(audit_redact_query(c->in, strlen(c->in), AUDIT_REDACT_LITERALS, NULL, &b), HDB_OK);
		if (b.len != strlen(c->want) || memcmp(b.p, c->want, b.len) != 0)
			fail_msg("case %zu: redact(%s) = '%.*s', want '%s'", i, c->in, (int)b.len, (char *)b.p, c->want);
	}
	/* appends: earlier content stays */
	buf_reset(&b);
	assert_int_equal(buf_append(&b, "Q:", 2), HDB_OK);
	assert_int_equal(audit_redact_query("x=1", 3, AUDIT_REDACT_LITERALS, NULL, &b), HDB_OK);
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.p, "Q:x=?", 5);
	/* an embedded NUL is just a byte */
	buf_reset(&b);
	assert_int_equal(audit_redact_query("a'\0'b", 5, AUDIT_REDACT_LITERALS, NULL, &b), HDB_OK);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.p, "a?b", 3);
	assert_int_equal(audit_redact_query("x", 1, AUDIT_REDACT_HMAC, NULL, &b), HDB_EINVAL);
	assert_int_equal(audit_redact_query(NULL, 0, AUDIT_REDACT_LITERALS, NULL, &b), HDB_OK);
	buf_free(&b);
}

static bool hex16_token_at(const unsigned char *p, size_t avail)
{
	if (avail < 17 || p[0] != '?')
		return false;
	for (int i = 1; i <= 16; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return true;
}

static char *redact_hmac(const unsigned char key[32], const char *q)
{
	struct buf b = { 0 };
	assert_int_equal(audit_redact_query(q, strlen(q), AUDIT_REDACT_HMAC, key, &b), HDB_OK);
	char *s = strndup((char *)b.p, b.len);
	buf_free(&b);
	return s;
}

static void redact_hmac_mode(void **state)
{
	(void)state;
	unsigned char key[32], key2[32];
	assert_int_equal(hex_decode(TEST_KEY_HEX, 64, key, 32), HDB_OK);
	assert_int_equal(hex_decode(TEST_KEY2_HEX, 64, key2, 32), HDB_OK);
	/* known answer: python3 hmac.new(key, b"it's", sha256).hexdigest()[:16], and b"42" */
	char *s = redact_hmac(key, "SELECT * FROM t WHERE a = 'it''s' AND b = 42");
	assert_string_equal(s, "SELECT * FROM t WHERE a = ?d04716845c66e1a9 AND b = ?640c7eb4e2c857cb");
	free(s);
	/* the same value written four ways correlates */
	static const char *const same[] = { "SELECT 'it''s'", "SELECT E'it\\'s'", "SELECT $$it's$$",
					    "SELECT $q$it's$q$", "SELECT E'it\\x27s'", "SELECT e'\\151t''s'" };
	for (size_t i = 0; i < ARRAY_SIZE(same); i++) {
		s = redact_hmac(key, same[i]);
		assert_string_equal(s, "SELECT ?d04716845c66e1a9");
		free(s);
	}
	/* equal literals, equal tokens; different literals, different tokens */
	s = redact_hmac(key, "a='Alice' OR b='Alice' OR c='Bob' OR d=7 OR e=7 OR f=8");
	const unsigned char *p = (const unsigned char *)s;
	char toks[6][18];
	int nt = 0;
	for (size_t i = 0; s[i]; i++)
		if (hex16_token_at(p + i, strlen(s) - i)) {
			assert_true(nt < 6);
			memcpy(toks[nt], s + i, 17);
			toks[nt++][17] = '\0';
			i += 16;
		}
	assert_int_equal(nt, 6);
	assert_string_equal(toks[0], toks[1]);
	assert_string_not_equal(toks[0], toks[2]);
	assert_string_equal(toks[3], toks[4]);
	assert_string_not_equal(toks[3], toks[5]);
	assert_null(strstr(s, "Alice"));
	assert_null(strstr(s, "Bob"));
	free(s);
	/* another key, other tokens */
	s = redact_hmac(key2, "SELECT 'it''s'");
	assert_string_not_equal(s, "SELECT ?d04716845c66e1a9");
	assert_true(hex16_token_at((const unsigned char *)s + 7, strlen(s) - 7));
	free(s);
	/* empty literal still gets a token; comments still dropped */
	s = redact_hmac(key, "SELECT '' -- x");
	assert_int_equal(strlen(s), 7 + 17 + 1);
	free(s);
}

static void redact_never_leaks(void **state)
{
	(void)state;
	static const char *const canaries[] = {
		"SELECT * FROM p WHERE ssn = 'CANARY-123-45-6789'",
		"INSERT INTO p VALUES (E'CANARY\\'x', $$CANARY$$, $t$CANARY$t$, 4111111111111111)",
		"SELECT 'a' || 'CANARY' /* CANARY */ -- CANARY",
		"SELECT X'CAFE', B'0101'",
	};
	unsigned char key[32];
	assert_int_equal(hex_decode(TEST_KEY_HEX, 64, key, 32), HDB_OK);
	for (size_t i = 0; i < ARRAY_SIZE(canaries); i++) {
		for (int mode = 0; mode < 2; mode++) {
			struct buf b = { 0 };
			assert_int_equal(audit_redact_query(canaries[i], strlen(canaries[i]), (enum audit_redact)mode,
							    key, &b), HDB_OK);
			assert_int_equal(buf_putc(&b, 0), HDB_OK);
			const char *o = (const char *)b.p;
			assert_null(strstr(o, "CANARY"));
			assert_null(strstr(o, "4111"));
			assert_null(strstr(o, "CAFE"));
			assert_null(strstr(o, "0101"));
			buf_free(&b);
		}
	}
}

static void token(void **state)
{
	(void)state;
	unsigned char key[32];
	assert_int_equal(hex_decode(TEST_KEY_HEX, 64, key, 32), HDB_OK);
	char out[64];
	/* python3: hmac.new(key, b"k1", hashlib.sha256).hexdigest()[:16] */
	assert_int_equal(audit_token(key, "key:", "k1", 2, out, sizeof(out)), HDB_OK);
	assert_string_equal(out, "key:3ee96b197e2145be");
	assert_int_equal(audit_token(key, NULL, "k1", 2, out, 17), HDB_OK);
	assert_string_equal(out, "3ee96b197e2145be");
	assert_int_equal(audit_token(key, "key:", "k1", 2, out, 20), HDB_EINVAL);
	assert_int_equal(audit_token(NULL, "key:", "k1", 2, out, sizeof(out)), HDB_EINVAL);
	assert_int_equal(audit_token(key, "", "", 0, out, sizeof(out)), HDB_OK);
	assert_int_equal(strlen(out), 16);
}

/* ----------------------------------------------------------- checkpoints */

static const unsigned char kat_seed[32] = { 1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
					    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };

static void checkpoint_kat(void **state)
{
	(void)state;
	/* python3 cryptography: Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))) */
	struct hdb_secret *priv;
	assert_int_equal(secret_from(kat_seed, 32, &priv), HDB_OK);
	unsigned char pub[AUDIT_SIGN_PUB_LEN];
	assert_int_equal(audit_sign_public(priv, pub), HDB_OK);
	char hx[65];
	hex32(pub, hx);
	assert_string_equal(hx, "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664");
	struct audit_head head = { .seq = 1000 };
	/* sha256(b"x") */
	assert_int_equal(hex_decode("2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881", 64,
				    head.hash, 32), HDB_OK);
	struct buf d = { 0 };
	assert_int_equal(audit_checkpoint_detail(priv, DB_ID, &head, INT64_C(1795858245123456), &d), HDB_OK);
	static const char want[] =
		"{\"signed_seq\":1000,"
		"\"signed_hash\":\"2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881\","
		"\"signed_at\":\"2026-11-28T09:30:45.123456Z\",\"key_id\":\"65b60673d6ed884b\","
		"\"signature\":\"8dc5b5482d6c6f8a9a3c1c95a436fa57c845beff1aec2f5398bcc75b4cf2f36d"
		"b0b4143d0372cc3c61bcf25a41907595a8e74ee358626471653adde502a0e70a\"}";
	assert_int_equal(d.len, strlen(want));
	assert_string_equal((const char *)d.p, want);
	secret_free(priv);
	buf_free(&d);
}

static void checkpoint_round_trip(void **state)
{
	(void)state;
	struct hdb_secret *priv;
	unsigned char pub[AUDIT_SIGN_PUB_LEN], pub2[AUDIT_SIGN_PUB_LEN];
	assert_int_equal(audit_sign_keygen(&priv, pub), HDB_OK);
	assert_int_equal(priv->len, 32);
	assert_int_equal(audit_sign_public(priv, pub2), HDB_OK);
	assert_memory_equal(pub, pub2, 32);

	struct audit_head head;
	audit_genesis(DB_ID, &head);
	head.seq = 77;
	struct buf d = { 0 };
	assert_int_equal(audit_checkpoint_detail(priv, DB_ID, &head, INT64_C(1795858245000001), &d), HDB_OK);
	json_object *o = json_tokener_parse((const char *)d.p);
	assert_non_null(o);
	static const char *const order[] = { "signed_seq", "signed_hash", "signed_at", "key_id", "signature" };
	size_t i = 0;
	json_object_object_foreach(o, k, v) {
		(void)v;
		assert_true(i < ARRAY_SIZE(order));
		assert_string_equal(k, order[i++]);
	}
	assert_int_equal(i, ARRAY_SIZE(order));
	uint64_t seq = (uint64_t)json_object_get_int64(member(o, "signed_seq"));
	const char *hash = json_object_get_string(member(o, "signed_hash"));
	const char *at = json_object_get_string(member(o, "signed_at"));
	const char *sig = json_object_get_string(member(o, "signature"));
	const char *kid = json_object_get_string(member(o, "key_id"));
	assert_int_equal(seq, 77);
	assert_string_equal(at, "2026-11-28T09:30:45.000001Z");
	unsigned char kh[32];
	unsigned int khl;
	assert_int_equal(EVP_Digest(pub, 32, kh, &khl, EVP_sha256(), NULL), 1);
	char khx[65];
	hex32(kh, khx);
	khx[16] = '\0';
	assert_string_equal(kid, khx);
	assert_int_equal(audit_checkpoint_check(pub, DB_ID, seq, hash, at, sig), HDB_OK);

	/* tampering: signature, seq, hash, time, database, key */
	char bad[160];
	snprintf(bad, sizeof(bad), "%s", sig);
	bad[10] = bad[10] == '0' ? '1' : '0';
	assert_int_equal(audit_checkpoint_check(pub, DB_ID, seq, hash, at, bad), HDB_ECORRUPT);
	assert_int_equal(audit_checkpoint_check(pub, DB_ID, seq + 1, hash, at, sig), HDB_ECORRUPT);
	assert_int_equal(audit_checkpoint_check(pub, DB_ID, seq - 1, hash, at, sig), HDB_ECORRUPT);
	snprintf(bad, sizeof(bad), "%s", hash);
	bad[63] = bad[63] == 'a' ? 'b' : 'a';
	assert_int_equal(audit_checkpoint_check(pub, DB_ID, seq, bad, at, sig), HDB_ECORRUPT);
	assert_int_equal(audit_checkpoint_check(pub, DB_ID, seq, hash, "2026-11-28T09:30:45.000002Z", sig),
			 HDB_ECORRUPT);
	assert_int_equal(audit_checkpoint_check(pub, "fedcba9876543210fedcba9876543210", seq, hash, at, sig),
			 HDB_ECORRUPT);
	pub2[0] ^= 1;
	assert_int_equal(audit_checkpoint_check(pub2, DB_ID, seq, hash, at, sig), HDB_ECORRUPT);
	/* malformed values */
	snprintf(bad, sizeof(bad), "%s", sig);
	bad[5] = 'g';
	assert_int_equal(audit_checkpoint_check(pub, DB_ID, seq, hash, at, bad), HDB_ECORRUPT);
	bad[127] = '\0';
	assert_int_equal(audit_checkpoint_check(pub, DB_ID, seq, hash, at, bad), HDB_ECORRUPT);
	snprintf(bad, sizeof(bad), "%sa", sig);
	assert_int_equal(audit_checkpoint_check(pub, DB_ID, seq, hash, at, bad), HDB_ECORRUPT);
	assert_int_equal(audit_checkpoint_check(pub, DB_ID, seq, hash, "2026-11-28T09:30:45Z", sig), HDB_ECORRUPT);
	assert_int_equal(audit_checkpoint_check(pub, DB_ID, seq, "abc", at, sig), HDB_ECORRUPT);
	assert_int_equal(audit_checkpoint_check(pub, "X", seq, hash, at, sig), HDB_ECORRUPT);
	assert_int_equal(audit_checkpoint_check(pub, NULL, seq, NULL, NULL, NULL), HDB_ECORRUPT);
	char sigc[2 * AUDIT_SIGN_SIG_LEN + 1];
	snprintf(sigc, sizeof(sigc), "%s", sig);
	json_object_put(o);

	/* the detail is a valid record detail: a checkpoint record carries it */
	struct audit_event ev = { .type = AUDIT_EV_CHECKPOINT, .detail_json = (const char *)d.p, .time_us = 9,
				  .rows_affected = -1 };
	size_t len;
	char *line = encode1(&ev, &head, &len);
	o = parse_line(line, len - 1);
	json_object *det = member(o, "detail");
	assert_string_equal(json_object_get_string(member(det, "signature")), sigc);
	json_object_put(o);
	free(line);

	/* bad arguments */
	assert_int_equal(audit_checkpoint_detail(priv, "nothex", &head, 1, &d), HDB_EINVAL);
	assert_int_equal(audit_checkpoint_detail(priv, DB_ID, &head, -1, &d), HDB_EINVAL);
	struct hdb_secret *shortkey;
	assert_int_equal(secret_from("abc", 3, &shortkey), HDB_OK);
	assert_int_equal(audit_checkpoint_detail(shortkey, DB_ID, &head, 1, &d), HDB_EINVAL);
	assert_int_equal(audit_sign_public(shortkey, pub2), HDB_EINVAL);
	secret_free(shortkey);
	secret_free(priv);
	buf_free(&d);
}

static void write_file(const char *path, const char *s, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(s, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static void pubkey_files(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	assert_non_null(dir);
	char path[600], err[512];
	snprintf(path, sizeof(path), "%s/audit.pub", dir);
	unsigned char pub[32], got[32];
	for (int i = 0; i < 32; i++)
		pub[i] = (unsigned char)(i * 7 + 1);
	assert_int_equal(audit_pubkey_write(path, pub, err, sizeof(err)), HDB_OK);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(st.st_size, 88);
	FILE *f = fopen(path, "r");
	char line[128];
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	assert_string_equal(line, "heliosdb-audit-ed25519 "
				  "01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3da\n");
	assert_int_equal(audit_pubkey_read(path, got, err, sizeof(err)), HDB_OK);
	assert_memory_equal(got, pub, 32);
	/* overwrite */
	pub[0] ^= 0xff;
	assert_int_equal(audit_pubkey_write(path, pub, err, sizeof(err)), HDB_OK);
	assert_int_equal(audit_pubkey_read(path, got, err, sizeof(err)), HDB_OK);
	assert_memory_equal(got, pub, 32);

	/* malformed files: each an error naming the file; pub untouched */
	static const struct {
		const char *text;
		int rc;
	} bad[] = {
		{ "", HDB_ECORRUPT },
		{ "heliosdb-audit-ed25519\n", HDB_ECORRUPT },
		{ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE\n", HDB_ECORRUPT },
		{ "heliosdb-audit-ed25519 01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3da", HDB_ECORRUPT },
		{ "heliosdb-audit-ed25519 01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3d\n", HDB_ECORRUPT },
		{ "heliosdb-audit-ed25519 01080F161D242B323940474E555C636A71787F868D949BA2A9B0B7BEC5CCD3DA\n", HDB_ECORRUPT },
		{ "heliosdb-audit-ed25519 01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3zz\n", HDB_ECORRUPT },
		{ "heliosdb-audit-ed25519 01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3da\nextra\n", HDB_ECORRUPT },
		{ "heliosdb-audit-ed25519  01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3d\n", HDB_ECORRUPT },
		{ "heliosdb-audit-ed25519 01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3da\r\n", HDB_ECORRUPT },
	};
	char bpath[700];
	snprintf(bpath, sizeof(bpath), "%s/bad.pub", dir);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		write_file(bpath, bad[i].text, strlen(bad[i].text));
		memcpy(got, pub, 32);
		err[0] = '\0';
		assert_int_equal(audit_pubkey_read(bpath, got, err, sizeof(err)), bad[i].rc);
		assert_memory_equal(got, pub, 32);
		if (!strstr(err, bpath))
			fail_msg("case %zu: error '%s' does not name the file", i, err);
	}
	snprintf(bpath, sizeof(bpath), "%s/missing.pub", dir);
	assert_int_equal(audit_pubkey_read(bpath, got, err, sizeof(err)), HDB_ENOTFOUND);
	assert_non_null(strstr(err, bpath));
	assert_int_equal(audit_pubkey_read(dir, got, err, sizeof(err)), HDB_ECORRUPT);
	assert_non_null(strstr(err, dir));
	snprintf(bpath, sizeof(bpath), "%s/no/such/dir/k.pub", dir);
	assert_int_equal(audit_pubkey_write(bpath, pub, err, sizeof(err)), HDB_EIO);
	assert_non_null(strstr(err, bpath));
	tu_rmrf(dir);
	free(dir);
}

/* ------------------------------------------- docs and schema list every event */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct buf b = { 0 };
	char tmp[4096];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		assert_int_equal(buf_append(&b, tmp, n), HDB_OK);
	fclose(f);
	assert_int_equal(buf_putc(&b, 0), HDB_OK);
	return (char *)b.p;
}

static void docs_list_every_event(void **state)
{
	(void)state;
	const char *root = getenv("HDB_ROOT");
	if (!root || !*root)
		root = ".";
	char path[1024];
	snprintf(path, sizeof(path), "%s/docs/audit-log.md", root);
	char *doc = slurp(path);
	if (!doc)
		fail_msg("cannot read %s (set HDB_ROOT to the repository root)", path);
	snprintf(path, sizeof(path), "%s/docs/audit-record.schema.json", root);
	json_object *schema = json_object_from_file(path);
	if (!schema)
		fail_msg("cannot parse %s", path);
	json_object *props = member(schema, "properties");
	json_object *et = member(props, "event_type");
	json_object *en = member(et, "enum");
	assert_true(json_object_is_type(en, json_type_array));
	assert_int_equal(json_object_array_length(en), AUDIT_EV__COUNT);
	for (int i = 0; i < AUDIT_EV__COUNT; i++) {
		const char *name = audit_event_name((enum audit_event_type)i);
		const char *id = audit_event_message_id((enum audit_event_type)i);
		/* each event has a row of the table: | `name` | `MESSAGE_ID` | */
		char row[128];
		snprintf(row, sizeof(row), "| `%s` | `%s` |", name, id);
		if (!strstr(doc, row))
			fail_msg("docs/audit-log.md has no table row starting '%s'", row);
		bool found = false;
		for (size_t k = 0; k < json_object_array_length(en); k++)
			found |= strcmp(json_object_get_string(json_object_array_get_idx(en, k)), name) == 0;
		if (!found)
			fail_msg("docs/audit-record.schema.json: event_type enum lacks '%s'", name);
	}
	/* every member of the record is documented and in the schema */
	json_object *req = member(schema, "required");
	assert_int_equal(json_object_array_length(req), ARRAY_SIZE(member_order));
	for (size_t i = 0; i < ARRAY_SIZE(member_order); i++) {
		assert_string_equal(json_object_get_string(json_object_array_get_idx(req, i)), member_order[i]);
		char h[64];
		snprintf(h, sizeof(h), "### `%s`", member_order[i]);
		if (!strstr(doc, h))
			fail_msg("docs/audit-log.md lacks a section '%s'", h);
	}
	json_object_put(schema);
	free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(event_table),
		cmocka_unit_test(genesis_kat),
		cmocka_unit_test(chain_kat),
		cmocka_unit_test(fields_parse_back),
		cmocka_unit_test(every_event_type_parses),
		cmocka_unit_test(bad_arguments),
		cmocka_unit_test(line_hash_detects_every_byte),
		cmocka_unit_test(chain_of_1000),
		cmocka_unit_test(escaping),
		cmocka_unit_test(timestamps),
		cmocka_unit_test(redact_literals),
		cmocka_unit_test(redact_hmac_mode),
		cmocka_unit_test(redact_never_leaks),
		cmocka_unit_test(token),
		cmocka_unit_test(checkpoint_kat),
		cmocka_unit_test(checkpoint_round_trip),
		cmocka_unit_test(pubkey_files),
		cmocka_unit_test(docs_list_every_event),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
