/*
 * test_audit_journal.c - the journald sink against a real journald.
 *
 * Needs a journald on /run/systemd/journal/socket: tests/run.sh starts one
 * with tests/journald.sh when the machine has none.  Without it every test
 * fails with a message saying so (a missing journald must not pass
 * silently); HDB_NO_JOURNALD=1 skips them instead (for runs where no
 * journald can exist).  Each run uses a fresh random db_id, so entries of
 * earlier runs and of other processes never match.  About 150 entries per
 * run: far below journald's default burst of 10,000 per 30 s.
 */
#include "testutil.h"

#include <errno.h>
#include <time.h>

#include <json.h>
#include <openssl/rand.h>
#include <systemd/sd-journal.h>

#include "audit.h"

#define WAIT_MS 10000

static struct audit_ctx ctx;
static struct audit_head head;

static bool no_journald(void)
{
	const char *v = getenv("HDB_NO_JOURNALD");
	return v && !strcmp(v, "1");
}

/* need_journald - skip (HDB_NO_JOURNALD=1) or fail clearly without one. */
#define NEED_JOURNALD()                                                                                      \
	do {                                                                                                 \
		if (no_journald())                                                                           \
			skip();                                                                              \
		if (!audit_journal_available())                                                              \
			fail_msg("no journald at /run/systemd/journal/socket: run `tests/journald.sh start` " \
			         "(or set HDB_NO_JOURNALD=1 to skip these tests)");                          \
	} while (0)

static int setup(void **state)
{
	unsigned char r[16];

	(void)state;
	if (RAND_bytes(r, sizeof(r)) != 1)
		return -1;
	hex_encode(r, sizeof(r), ctx.db_id);
	snprintf(ctx.host, sizeof(ctx.host), "testhost");
	ctx.pid = (long)getpid();
	audit_genesis(ctx.db_id, &head);
	return 0;
}

/* encode - one record line for ev on the test database (newline kept). */
static void encode(const struct audit_event *ev, struct buf *line)
{
	buf_reset(line);
	assert_int_equal(audit_record_encode(&ctx, ev, &head, line), HDB_OK);
	assert_true(line->len > 0 && line->p[line->len - 1] == '\n');
}

static void send_line(const struct buf *line)
{
	char err[256] = "";
	int rc = audit_journal_send((const char *)line->p, line->len, err, sizeof(err));
	if (rc != HDB_OK)
		fail_msg("audit_journal_send: %s (%s)", err, hdb_strerror(rc));
}

/* ---------------------------------------------------------- reading back */

/* One entry, its fields as NUL-terminated copies (NULL when absent). */
struct entry {
	char *f[32];
};

static const char *const names[] = {
	"MESSAGE",           "MESSAGE_ID",          "PRIORITY",         "SYSLOG_IDENTIFIER",
	"HELIOSDB_EVENT_TYPE", "HELIOSDB_OUTCOME",  "HELIOSDB_ERROR",   "HELIOSDB_USER",
	"HELIOSDB_SOURCE_IP", "HELIOSDB_APPLICATION", "HELIOSDB_SESSION", "HELIOSDB_TABLE",
	"HELIOSDB_OBJECT",   "HELIOSDB_ROWS_AFFECTED", "HELIOSDB_SEQ",   "HELIOSDB_TIMESTAMP",
	"HELIOSDB_EVENT_ID", "HELIOSDB_DB_ID",      "HELIOSDB_PREV_HASH", "HELIOSDB_HASH",
	"HELIOSDB_RECORD",
};

static const char *field(const struct entry *e, const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcmp(names[i], name))
			return e->f[i];
	fail_msg("test bug: unknown field %s", name);
	return NULL;
}

static void entries_free(struct entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < ARRAY_SIZE(names); k++)
			free(v[i].f[k]);
	free(v);
}

/* read_once - every entry of this run's db_id, oldest first. */
static struct entry *read_once(size_t *ret_n)
{
	sd_journal *j;
	char match[64];
	struct entry *v = NULL;
	size_t n = 0;

	assert_int_equal(sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY), 0);
	snprintf(match, sizeof(match), "HELIOSDB_DB_ID=%s", ctx.db_id);
	assert_int_equal(sd_journal_add_match(j, match, 0), 0);
	assert_int_equal(sd_journal_seek_head(j), 0);
	while (sd_journal_next(j) > 0) {
		v = realloc(v, (n + 1) * sizeof(*v));
		assert_non_null(v);
		memset(&v[n], 0, sizeof(v[n]));
		for (size_t k = 0; k < ARRAY_SIZE(names); k++) {
			const void *d;
			size_t len, nl = strlen(names[k]);
			if (sd_journal_get_data(j, names[k], &d, &len) >= 0) {
				assert_true(len > nl && ((const char *)d)[nl] == '=');
				v[n].f[k] = strndup((const char *)d + nl + 1, len - nl - 1);
				/* a value with a NUL byte would be cut: our values have none */
				assert_non_null(v[n].f[k]);
			}
		}
		n++;
	}
	sd_journal_close(j);
	*ret_n = n;
	return v;
}

/* read_back - waits (journald ingests asynchronously) until at least want
 * entries of this db_id are readable, then returns them. */
static struct entry *read_back(size_t want, size_t *ret_n)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	for (int waited = 0;; waited += 20) {
		struct entry *v = read_once(ret_n);
		if (*ret_n >= want || waited >= WAIT_MS)
			return v;
		entries_free(v, *ret_n);
		nanosleep(&ts, NULL);
	}
}

/* find - the entry with HELIOSDB_SEQ == seq. */
static const struct entry *find(const struct entry *v, size_t n, uint64_t seq)
{
	char s[24];

	snprintf(s, sizeof(s), "%llu", (unsigned long long)seq);
	for (size_t i = 0; i < n; i++)
		if (field(&v[i], "HELIOSDB_SEQ") && !strcmp(field(&v[i], "HELIOSDB_SEQ"), s))
			return &v[i];
	fail_msg("seq %s is not in the journal", s);
	return NULL;
}

/* check_entry - every field of e against the record line it came from. */
static void check_entry(const struct entry *e, const struct buf *line, const char *want_prio)
{
	static const struct {
		const char *member, *field;
	} map[] = {
		{ "event_type", "HELIOSDB_EVENT_TYPE" },  { "outcome", "HELIOSDB_OUTCOME" },
		{ "error", "HELIOSDB_ERROR" },            { "user", "HELIOSDB_USER" },
		{ "source_ip", "HELIOSDB_SOURCE_IP" },    { "application", "HELIOSDB_APPLICATION" },
		{ "session_id", "HELIOSDB_SESSION" },     { "table", "HELIOSDB_TABLE" },
		{ "object", "HELIOSDB_OBJECT" },          { "rows_affected", "HELIOSDB_ROWS_AFFECTED" },
		{ "seq", "HELIOSDB_SEQ" },                { "timestamp", "HELIOSDB_TIMESTAMP" },
		{ "event_id", "HELIOSDB_EVENT_ID" },      { "db_id", "HELIOSDB_DB_ID" },
		{ "prev_hash", "HELIOSDB_PREV_HASH" },    { "hash", "HELIOSDB_HASH" },
	};
	size_t n = line->len - 1; /* without the newline */
	struct json_object *rec = json_tokener_parse(strndupa((const char *)line->p, n));
	struct json_object *v;

	assert_non_null(rec);
	assert_non_null(json_object_object_get_ex(rec, "event_type", &v) ? v : NULL);
	int ev = audit_event_lookup(json_object_get_string(v));
	assert_true(ev >= 0);
	assert_string_equal(field(e, "MESSAGE_ID"), audit_event_message_id((enum audit_event_type)ev));
	assert_string_equal(field(e, "PRIORITY"), want_prio);
	assert_string_equal(field(e, "SYSLOG_IDENTIFIER"), "heliosdb");
	assert_non_null(field(e, "HELIOSDB_RECORD"));
	assert_int_equal(strlen(field(e, "HELIOSDB_RECORD")), n);
	assert_memory_equal(field(e, "HELIOSDB_RECORD"), line->p, n);
	assert_non_null(field(e, "MESSAGE"));
	assert_null(strchr(field(e, "MESSAGE"), '\n'));
	assert_true(!strncmp(field(e, "MESSAGE"), "heliosdb: ", 10));
	for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
		const char *got = field(e, map[i].field);
		if (!json_object_object_get_ex(rec, map[i].member, &v) || !v) {
			if (got)
				fail_msg("%s is null in the record but %s=%s was sent", map[i].member, map[i].field, got);
			continue;
		}
		if (!got)
			fail_msg("%s is in the record but %s is missing", map[i].member, map[i].field);
		assert_string_equal(got, json_object_get_string(v));
	}
	json_object_put(rec);
}

/* ------------------------------------------------------------------ tests */

static void test_fields_and_priority(void **state)
{
	(void)state;
	NEED_JOURNALD();
	struct buf l1 = { 0 }, l2 = { 0 }, l3 = { 0 }, l4 = { 0 };
	struct audit_event read_ev = {
		.type = AUDIT_EV_READ, .outcome = AUDIT_SUCCESS, .user = "doctor_smith", .source_ip = "10.0.0.5",
		.application = "psql", .session_id = "sess-1", .table = "patients", .object = "table:patients",
		.query = "SELECT * FROM patients WHERE id = ?", .rows_affected = 1, .encryption_enabled = true,
	};
	struct audit_event write_fail = {
		.type = AUDIT_EV_WRITE, .outcome = AUDIT_FAILURE, .error = "disk full", .user = "nurse_jones",
		.table = "patients", .rows_affected = -1, .encryption_enabled = true,
	};
	struct audit_event denied = {
		.type = AUDIT_EV_ACCESS_DENIED, .outcome = AUDIT_DENIED, .user = "intern", .source_ip = "10.0.0.9",
		.table = "billing", .rows_affected = -1,
	};
	struct audit_event open_ev = {
		.type = AUDIT_EV_DB_OPEN, .outcome = AUDIT_SUCCESS, .rows_affected = -1,
		.detail_json = "{\"mode\":\"rw\"}",
	};
	encode(&read_ev, &l1);
	encode(&write_fail, &l2);
	encode(&denied, &l3);
	encode(&open_ev, &l4);
	uint64_t s1 = head.seq - 3;
	send_line(&l1);
	send_line(&l2);
	send_line(&l3);
	send_line(&l4);

	size_t n;
	struct entry *v = read_back(4, &n);
	assert_true(n >= 4);
	const struct entry *e1 = find(v, n, s1), *e2 = find(v, n, s1 + 1), *e3 = find(v, n, s1 + 2),
	                   *e4 = find(v, n, s1 + 3);
	char prio[4];

	snprintf(prio, sizeof(prio), "%d", audit_event_priority(AUDIT_EV_READ));
	check_entry(e1, &l1, prio);
	check_entry(e2, &l2, "3");
	check_entry(e3, &l3, "4");
	snprintf(prio, sizeof(prio), "%d", audit_event_priority(AUDIT_EV_DB_OPEN));
	check_entry(e4, &l4, prio);

	char want[256];
	snprintf(want, sizeof(want), "heliosdb: read on patients by doctor_smith from 10.0.0.5: success (seq %llu)",
	         (unsigned long long)s1);
	assert_string_equal(field(e1, "MESSAGE"), want);
	snprintf(want, sizeof(want), "heliosdb: write on patients by nurse_jones: failure: disk full (seq %llu)",
	         (unsigned long long)s1 + 1);
	assert_string_equal(field(e2, "MESSAGE"), want);
	snprintf(want, sizeof(want), "heliosdb: db_open: success (seq %llu)", (unsigned long long)s1 + 3);
	assert_string_equal(field(e4, "MESSAGE"), want);
	/* null members are left out, not sent empty */
	assert_null(field(e4, "HELIOSDB_USER"));
	assert_null(field(e4, "HELIOSDB_TABLE"));
	assert_null(field(e4, "HELIOSDB_ROWS_AFFECTED"));
	assert_null(field(e1, "HELIOSDB_ERROR"));
	assert_string_equal(field(e1, "HELIOSDB_ROWS_AFFECTED"), "1");
	assert_string_equal(field(e1, "HELIOSDB_DB_ID"), ctx.db_id);

	entries_free(v, n);
	buf_free(&l1);
	buf_free(&l2);
	buf_free(&l3);
	buf_free(&l4);
}

/* A value with a newline stays intact in its field, but MESSAGE stays one
 * line. */
static void test_message_one_line(void **state)
{
	(void)state;
	NEED_JOURNALD();
	struct buf l = { 0 };
	struct audit_event ev = {
		.type = AUDIT_EV_LOGIN, .outcome = AUDIT_SUCCESS, .user = "eve\nheliosdb: forged line\r\t",
		.rows_affected = -1,
	};
	encode(&ev, &l);
	uint64_t seq = head.seq;
	send_line(&l);

	size_t n;
	struct entry *v = read_back(1, &n);
	const struct entry *e = NULL;
	char s[24];
	snprintf(s, sizeof(s), "%llu", (unsigned long long)seq);
	/* read_back returns once any entry is there: wait for this one */
	for (int tries = 0; tries < 500; tries++) {
		for (size_t i = 0; i < n && !e; i++)
			if (!strcmp(field(&v[i], "HELIOSDB_SEQ"), s))
				e = &v[i];
		if (e)
			break;
		entries_free(v, n);
		usleep(20000);
		v = read_once(&n);
	}
	assert_non_null(e);
	assert_string_equal(field(e, "HELIOSDB_USER"), "eve\nheliosdb: forged line\r\t");
	assert_null(strchr(field(e, "MESSAGE"), '\n'));
	assert_null(strchr(field(e, "MESSAGE"), '\r'));
	assert_non_null(strstr(field(e, "MESSAGE"), "by eve heliosdb: forged line  "));
	entries_free(v, n);
	buf_free(&l);
}

struct seqs {
	uint64_t seq[256];
	char hash[256][65];
	size_t n;
};

static void collect(void *arg, uint64_t seq, const char *hash_hex)
{
	struct seqs *s = arg;
	if (s->n < ARRAY_SIZE(s->seq)) {
		s->seq[s->n] = seq;
		snprintf(s->hash[s->n], sizeof(s->hash[0]), "%s", hash_hex);
	}
	s->n++;
}

/* audit_journal_seqs gives back every seq with its hash, in order. */
static void test_seqs(void **state)
{
	(void)state;
	NEED_JOURNALD();
	enum { N = 100 };
	static char hashes[N][65];
	uint64_t first = head.seq + 1;
	struct buf l = { 0 };
	char err[256] = "";

	for (int i = 0; i < N; i++) {
		struct audit_event ev = { .type = AUDIT_EV_WRITE, .outcome = AUDIT_SUCCESS, .user = "loader",
		                          .table = "t", .rows_affected = 1 };
		encode(&ev, &l);
		hex_encode(head.hash, 32, hashes[i]);
		send_line(&l);
	}
	/* wait until the last one is readable */
	size_t n;
	struct entry *v = read_back((size_t)head.seq, &n);
	entries_free(v, n);

	struct seqs *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	assert_int_equal(audit_journal_seqs(ctx.db_id, 0, collect, s, err, sizeof(err)), HDB_OK);
	assert_int_equal(s->n, head.seq); /* every record of this run, earlier tests' too */
	size_t at = 0;
	while (at < s->n && s->seq[at] != first)
		at++;
	assert_true(at + N <= s->n);
	for (int i = 0; i < N; i++) {
		assert_int_equal(s->seq[at + (size_t)i], first + (uint64_t)i);
		assert_string_equal(s->hash[at + (size_t)i], hashes[i]);
	}

	/* since_us in the future: nothing */
	memset(s, 0, sizeof(*s));
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t later = ((int64_t)ts.tv_sec + 3600) * 1000000;
	assert_int_equal(audit_journal_seqs(ctx.db_id, later, collect, s, err, sizeof(err)), HDB_OK);
	assert_int_equal(s->n, 0);

	/* another database id: nothing */
	memset(s, 0, sizeof(*s));
	assert_int_equal(audit_journal_seqs("00000000000000000000000000000000", 0, collect, s, err, sizeof(err)),
	                 HDB_OK);
	assert_int_equal(s->n, 0);

	assert_int_equal(audit_journal_seqs("", 0, collect, s, err, sizeof(err)), HDB_EINVAL);
	assert_int_equal(audit_journal_seqs("a b", 0, collect, s, err, sizeof(err)), HDB_EINVAL);
	assert_int_equal(audit_journal_seqs(ctx.db_id, 0, NULL, s, err, sizeof(err)), HDB_EINVAL);
	free(s);
	buf_free(&l);
}

/* Lines that are not records are refused before anything is sent. */
static void test_bad_lines(void **state)
{
	(void)state;
	NEED_JOURNALD();
	static const char *const bad[] = {
		"",
		"\n",
		"not json\n",
		"[1,2,3]\n",
		"{\"seq\":1,\"event_type\":\"read\"}\n",                                     /* no outcome */
		"{\"seq\":1,\"event_type\":\"no_such_event\",\"outcome\":\"success\"}\n",
		"{\"seq\":1,\"event_type\":\"read\",\"outcome\":\"maybe\"}\n",
		"{\"seq\":1,\"event_type\":\"read\",\"outcome\":\"success\"} trailing\n",
		"{\"seq\":1,\"event_type\":\"read\",\"outcome\":\"success\"",              /* cut */
		"{\"event_type\":\"read\",\"outcome\":\"success\"}\n",                      /* no seq */
	};
	char err[256];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		err[0] = '\0';
		assert_int_equal(audit_journal_send(bad[i], strlen(bad[i]), err, sizeof(err)), HDB_EINVAL);
		assert_true(err[0] != '\0');
	}
	/* an event name with a NUL inside is not "read" */
	static const char nul[] = "{\"seq\":1,\"event_type\":\"read\\u0000x\",\"outcome\":\"success\"}";
	assert_int_equal(audit_journal_send(nul, sizeof(nul) - 1, err, sizeof(err)), HDB_EINVAL);
	assert_int_equal(audit_journal_send(NULL, 0, err, sizeof(err)), HDB_EINVAL);
}

/* Every MESSAGE_ID and event name of events.def is documented in
 * docs/journald.md. */
static void test_docs_list_message_ids(void **state)
{
	(void)state;
	const char *root = getenv("HDB_ROOT");
	char path[4096];
	FILE *f;
	struct buf doc = { 0 };
	char chunk[4096];
	size_t got;

	snprintf(path, sizeof(path), "%s/docs/journald.md", root && *root ? root : ".");
	f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s: %s (run from the repository root or set HDB_ROOT)", path, strerror(errno));
	while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
		assert_int_equal(buf_append(&doc, chunk, got), HDB_OK);
	fclose(f);
	assert_int_equal(buf_putc(&doc, 0), HDB_OK);
	for (int t = 0; t < AUDIT_EV__COUNT; t++) {
		const char *id = audit_event_message_id((enum audit_event_type)t);
		char name[80];
		if (!strstr((const char *)doc.p, id))
			fail_msg("docs/journald.md does not list MESSAGE_ID %s (%s)", id,
			         audit_event_name((enum audit_event_type)t));
		snprintf(name, sizeof(name), "`%s`", audit_event_name((enum audit_event_type)t));
		if (!strstr((const char *)doc.p, name))
			fail_msg("docs/journald.md does not list event %s", name);
	}
	buf_free(&doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields_and_priority),
		cmocka_unit_test(test_message_one_line),
		cmocka_unit_test(test_seqs),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_docs_list_message_ids),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
