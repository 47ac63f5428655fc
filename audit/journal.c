/*
 * journal.c - the journald sink, and the reader audit-verify --journal uses
 * to prove that journald holds every record.
 *
 * One record line becomes one journal entry:
 *   MESSAGE_ID         the event type's fixed id (events.def)
 *   PRIORITY           success: the type's priority; failure: 3; denied: 4
 *   SYSLOG_IDENTIFIER  heliosdb
 *   MESSAGE            one human line, e.g.
 *                      "heliosdb: read on patients by doctor_smith from
 *                       10.0.0.5: success (seq 42)"
 *   HELIOSDB_*         the record's members an auditor filters on (a null
 *                      member is left out, never sent as an empty field)
 *   HELIOSDB_RECORD    the whole line without its newline, so the chain can
 *                      be recomputed from the journal alone
 * docs/journald.md lists the MESSAGE_IDs and fields and shows the queries.
 *
 * Why parse the line instead of taking the struct audit_event: the line is
 * the evidence (it carries seq, hash and event_id, which the event does
 * not), and a sink fed from a queue of lines needs nothing else.  Fields
 * are sent with sd_journal_sendv, which is binary-safe: a value may hold
 * newlines or NUL bytes and still arrives intact.  MESSAGE alone is cleaned
 * of control characters so that it stays one line.
 *
 * journald drops entries past its rate limit without telling the sender;
 * audit_journal_seqs() is how audit-verify --journal finds out.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <json.h>
/* no CODE_FILE/CODE_LINE/CODE_FUNC: noise in an evidence record */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "audit.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"
#define MAX_FIELDS 24
#define MESSAGE_PART_MAX 160 /* bytes of one value quoted in MESSAGE */

/* The record members sent as HELIOSDB_* fields, in the order sent. */
static const struct {
	const char *member;
	const char *field;
} fields[] = {
	{ "event_type", "HELIOSDB_EVENT_TYPE" },
	{ "outcome", "HELIOSDB_OUTCOME" },
	{ "error", "HELIOSDB_ERROR" },
	{ "user", "HELIOSDB_USER" },
	{ "source_ip", "HELIOSDB_SOURCE_IP" },
	{ "application", "HELIOSDB_APPLICATION" },
	{ "session_id", "HELIOSDB_SESSION" },
	{ "table", "HELIOSDB_TABLE" },
	{ "object", "HELIOSDB_OBJECT" },
	{ "rows_affected", "HELIOSDB_ROWS_AFFECTED" },
	{ "seq", "HELIOSDB_SEQ" },
	{ "timestamp", "HELIOSDB_TIMESTAMP" },
	{ "event_id", "HELIOSDB_EVENT_ID" },
	{ "db_id", "HELIOSDB_DB_ID" },
	{ "prev_hash", "HELIOSDB_PREV_HASH" },
	{ "hash", "HELIOSDB_HASH" },
};

/* member - the value of a non-null scalar member, or NULL when it is absent
 * or null.  *ret_len gets its length (strings may hold NUL bytes).  For a
 * number or boolean this is its JSON text ("42", "true"). */
static const char *member(struct json_object *rec, const char *name, size_t *ret_len)
{
	struct json_object *v;

	if (!json_object_object_get_ex(rec, name, &v) || !v)
		return NULL;
	switch (json_object_get_type(v)) {
	case json_type_string:
		*ret_len = (size_t)json_object_get_string_len(v);
		return json_object_get_string(v);
	case json_type_int:
	case json_type_boolean:
	case json_type_double: {
		const char *s = json_object_get_string(v);
		*ret_len = strlen(s);
		return s;
	}
	default:
		return NULL;
	}
}

/* The entry is built in one buffer; offs[i]/lens[i] locate field i in it
 * (offsets, because the buffer moves while it grows).  oom latches any
 * failed append, checked once before sending. */
struct entry {
	struct buf b;
	size_t offs[MAX_FIELDS], lens[MAX_FIELDS];
	size_t n;
	bool oom;
};

static void put(struct entry *e, const void *p, size_t n)
{
	if (buf_append(&e->b, p, n) != HDB_OK)
		e->oom = true;
}

/* put_clean - appends s with control characters turned into spaces and at
 * most MESSAGE_PART_MAX bytes (then "..."), so that no value can break
 * MESSAGE into several lines. */
static void put_clean(struct entry *e, const char *s, size_t n)
{
	size_t m = n > MESSAGE_PART_MAX ? MESSAGE_PART_MAX : n;

	if (buf_reserve(&e->b, m + 3) != HDB_OK) {
		e->oom = true;
		return;
	}
	for (size_t i = 0; i < m; i++) {
		unsigned char c = (unsigned char)s[i];
		e->b.p[e->b.len++] = c < 0x20 || c == 0x7f ? ' ' : c;
	}
	if (m < n)
		put(e, "...", 3);
}

static void field_begin(struct entry *e, const char *field)
{
	e->offs[e->n] = e->b.len;
	put(e, field, strlen(field));
	put(e, "=", 1);
}

static void field_end(struct entry *e)
{
	e->lens[e->n] = e->b.len - e->offs[e->n];
	e->n++;
}

static void field_add(struct entry *e, const char *field, const char *val, size_t n)
{
	field_begin(e, field);
	put(e, val, n);
	field_end(e);
}

/* add_message - MESSAGE="heliosdb: <type>[ on <table or object>][ by
 * <user>][ from <source_ip>]: <outcome>[: <error>] (seq N)". */
static void add_message(struct entry *e, struct json_object *rec)
{
	const char *v;
	size_t n = 0;

	field_begin(e, "MESSAGE");
	put(e, "heliosdb: ", 10);
	if ((v = member(rec, "event_type", &n)))
		put_clean(e, v, n);
	if ((v = member(rec, "table", &n)) || (v = member(rec, "object", &n))) {
		put(e, " on ", 4);
		put_clean(e, v, n);
	}
	if ((v = member(rec, "user", &n))) {
		put(e, " by ", 4);
		put_clean(e, v, n);
	}
	if ((v = member(rec, "source_ip", &n))) {
		put(e, " from ", 6);
		put_clean(e, v, n);
	}
	put(e, ": ", 2);
	if ((v = member(rec, "outcome", &n)))
		put_clean(e, v, n);
	if ((v = member(rec, "error", &n))) {
		put(e, ": ", 2);
		put_clean(e, v, n);
	}
	if ((v = member(rec, "seq", &n))) {
		put(e, " (seq ", 6);
		put_clean(e, v, n);
		put(e, ")", 1);
	}
	field_end(e);
}

int audit_journal_send(const char *line, size_t n, char *err, size_t errlen)
{
	struct json_tokener *tok = NULL;
	struct json_object *rec = NULL;
	struct entry e = { 0 };
	struct iovec iov[MAX_FIELDS];
	const char *type, *outcome, *seq = NULL;
	size_t type_len = 0, outcome_len = 0, seq_len = 0;
	char name[64];
	int ev, prio, r, rc = HDB_EINVAL;

	if (!line) {
		errf(err, errlen, "no audit record to send to journald");
		return HDB_EINVAL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	if (n == 0 || n > INT32_MAX) {
		errf(err, errlen, "cannot send audit record to journald: empty or oversized line");
		return HDB_EINVAL;
	}

	tok = json_tokener_new();
	if (!tok) {
		errf(err, errlen, "cannot send audit record to journald: out of memory");
		return HDB_ENOMEM;
	}
	rec = json_tokener_parse_ex(tok, line, (int)n);
	if (!rec || json_tokener_get_error(tok) != json_tokener_success || json_tokener_get_parse_end(tok) != n ||
	    !json_object_is_type(rec, json_type_object)) {
		errf(err, errlen, "cannot send audit record to journald: the line is not a JSON object");
		goto out_free;
	}

	type = member(rec, "event_type", &type_len);
	outcome = member(rec, "outcome", &outcome_len);
	seq = member(rec, "seq", &seq_len);
	if (!type || !outcome || !seq || type_len >= sizeof(name)) {
		errf(err, errlen, "cannot send audit record to journald: event_type, outcome or seq missing");
		goto out_free;
	}
	memcpy(name, type, type_len);
	name[type_len] = '\0';
	ev = strlen(name) == type_len ? audit_event_lookup(name) : -1;
	if (ev < 0) {
		errf(err, errlen, "cannot send audit record seq %.*s to journald: unknown event type '%.40s'",
		     (int)(seq_len > 20 ? 20 : seq_len), seq, name);
		goto out_free;
	}
	if (!strcmp(outcome, "success"))
		prio = audit_event_priority((enum audit_event_type)ev);
	else if (!strcmp(outcome, "failure"))
		prio = 3; /* LOG_ERR */
	else if (!strcmp(outcome, "denied"))
		prio = 4; /* LOG_WARNING */
	else {
		errf(err, errlen, "cannot send audit record seq %.*s to journald: unknown outcome '%.20s'",
		     (int)(seq_len > 20 ? 20 : seq_len), seq, outcome);
		goto out_free;
	}

	add_message(&e, rec);
	field_add(&e, "MESSAGE_ID", audit_event_message_id((enum audit_event_type)ev), 32);
	{
		char p[4];
		int pl = snprintf(p, sizeof(p), "%d", prio < 0 || prio > 7 ? 6 : prio);
		field_add(&e, "PRIORITY", p, (size_t)pl);
	}
	field_add(&e, "SYSLOG_IDENTIFIER", "heliosdb", 8);
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		size_t vl = 0;
		const char *v = member(rec, fields[i].member, &vl);
		if (v)
			field_add(&e, fields[i].field, v, vl);
	}
	field_add(&e, "HELIOSDB_RECORD", line, n);
	if (e.oom) {
		rc = HDB_ENOMEM;
		errf(err, errlen, "cannot send audit record to journald: out of memory");
		goto out_free;
	}
	for (size_t i = 0; i < e.n; i++) {
		iov[i].iov_base = e.b.p + e.offs[i];
		iov[i].iov_len = e.lens[i];
	}
	r = sd_journal_sendv(iov, (int)e.n);
	if (r < 0) {
		rc = HDB_EIO;
		errf(err, errlen, "cannot send audit record seq %.*s to journald: %s%s",
		     (int)(seq_len > 20 ? 20 : seq_len), seq, strerror(-r),
		     r == -ENOENT || r == -ECONNREFUSED ? " (is systemd-journald running?)" : "");
		goto out_free;
	}
	rc = HDB_OK;
out_free:
	buf_free(&e.b);
	json_object_put(rec);
	json_tokener_free(tok);
	return rc;
}

bool audit_journal_available(void)
{
	return access(JOURNAL_SOCKET, W_OK) == 0;
}

/* get_field - the value of field (with its "NAME=" prefix stripped) of the
 * current entry, or NULL; *ret_len its length.  Not NUL-terminated. */
static const char *get_field(sd_journal *j, const char *field, size_t *ret_len)
{
	const void *d;
	size_t len, fl = strlen(field);

	if (sd_journal_get_data(j, field, &d, &len) < 0 || len <= fl || memcmp(d, field, fl) || ((const char *)d)[fl] != '=')
		return NULL;
	*ret_len = len - fl - 1;
	return (const char *)d + fl + 1;
}

/* parse_seq - a decimal seq of 1..20 digits without sign or leading zero. */
static bool parse_seq(const char *s, size_t n, uint64_t *ret)
{
	uint64_t v = 0;

	if (n == 0 || n > 20 || (s[0] == '0' && n > 1))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*ret = v;
	return true;
}

int audit_journal_seqs(const char *db_id, int64_t since_us,
                       void (*fn)(void *arg, uint64_t seq, const char *hash_hex), void *arg, char *err,
                       size_t errlen)
{
	sd_journal *j = NULL;
	char match[16 + 64 + 1];
	int r, rc = HDB_EIO;
	size_t idlen;

	if (!db_id || !fn || (idlen = strlen(db_id)) == 0 || idlen > 64) {
		errf(err, errlen, "audit_journal_seqs: invalid database id");
		return HDB_EINVAL;
	}
	for (size_t i = 0; i < idlen; i++) {
		unsigned char c = (unsigned char)db_id[i];
		if (c <= 0x20 || c >= 0x7f) {
			errf(err, errlen, "audit_journal_seqs: invalid database id");
			return HDB_EINVAL;
		}
	}
	snprintf(match, sizeof(match), "HELIOSDB_DB_ID=%s", db_id);

	/* Not SD_JOURNAL_SYSTEM: with persistent storage journald puts the
	 * entries of an unprivileged engine into user-UID.journal. */
	r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY);
	if (r < 0) {
		errf(err, errlen, "cannot open the journal: %s", strerror(-r));
		return HDB_EIO;
	}
	if (sd_journal_has_runtime_files(j) <= 0 && sd_journal_has_persistent_files(j) <= 0) {
		errf(err, errlen, "cannot read the journal: no journal files are readable "
		                  "(is journald running; is this user in group systemd-journal or adm?)");
		goto out_close;
	}
	r = sd_journal_add_match(j, match, 0);
	if (r < 0) {
		errf(err, errlen, "cannot read the journal: bad match '%s': %s", match, strerror(-r));
		goto out_close;
	}
	r = since_us > 0 ? sd_journal_seek_realtime_usec(j, (uint64_t)since_us) : sd_journal_seek_head(j);
	if (r < 0) {
		errf(err, errlen, "cannot read the journal: cannot seek: %s", strerror(-r));
		goto out_close;
	}
	for (;;) {
		const char *s, *h;
		size_t sl = 0, hl = 0;
		uint64_t seq;
		char hex[65];

		r = sd_journal_next(j);
		if (r < 0) {
			errf(err, errlen, "cannot read the journal: %s", strerror(-r));
			goto out_close;
		}
		if (r == 0)
			break;
		/* Entries are hostile input: anything malformed is skipped, and
		 * so counts as missing to the caller. */
		s = get_field(j, "HELIOSDB_SEQ", &sl);
		if (!s || !parse_seq(s, sl, &seq))
			continue;
		h = get_field(j, "HELIOSDB_HASH", &hl);
		if (!h || hl != 64)
			continue;
		memcpy(hex, h, 64);
		hex[64] = '\0';
		if (strspn(hex, "0123456789abcdef") != 64)
			continue;
		fn(arg, seq, hex);
	}
	rc = HDB_OK;
out_close:
	sd_journal_close(j);
	return rc;
}
