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
 * The engine prepares each record's entry when it encodes the record
 * (audit_journal_entry: the fields come from the struct audit_event and
 * what audit_record_encode_ex reports, seq, hash and event_id, so nothing
 * is parsed) and a thread of its own sends it later
 * (audit_journal_entry_send, iovecs pointing into the entry).  A record
 * read back from storage has only its line: audit_journal_entry_from_line
 * parses it with json-c and gives the same bytes (tests/unit/
 * test_audit_jentry.c holds the two to that).  Fields are sent with
 * sd_journal_sendv, which is binary-safe: a value may hold newlines and
 * still arrives intact.  MESSAGE alone is cleaned of control characters so
 * that it stays one line.
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

/* An entry is built at the end of a caller's buffer (layout in audit.h):
 * a 16-byte header (u32 size, u32 field count, u64 seq), then each field
 * as u32 length and "NAME=value".  oom latches any failed append; the
 * entry is then taken back out of the buffer. */
#define ENTRY_HDR 16
struct entry {
	struct buf *b;
	size_t start, fstart;
	uint32_t n;
	bool oom;
};

static void put(struct entry *e, const void *p, size_t n)
{
	if (!e->oom && buf_append(e->b, p, n) != HDB_OK)
		e->oom = true;
}

static void entry_begin(struct entry *e, struct buf *b)
{
	static const unsigned char zero[ENTRY_HDR];
	e->b = b;
	e->start = b->len;
	e->n = 0;
	e->oom = false;
	put(e, zero, sizeof(zero));
}

static int entry_end(struct entry *e, uint64_t seq)
{
	if (e->oom || e->n > MAX_FIELDS || e->b->len - e->start > UINT32_MAX) {
		e->b->len = e->start;
		return HDB_ENOMEM;
	}
	uint32_t size = (uint32_t)(e->b->len - e->start);
	unsigned char *h = e->b->p + e->start;
	memcpy(h, &size, 4);
	memcpy(h + 4, &e->n, 4);
	memcpy(h + 8, &seq, 8);
	return HDB_OK;
}

/* put_clean - appends s with control characters turned into spaces and at
 * most MESSAGE_PART_MAX bytes (then "..."), so that no value can break
 * MESSAGE into several lines. */
static void put_clean(struct entry *e, const char *s, size_t n)
{
	size_t m = n > MESSAGE_PART_MAX ? MESSAGE_PART_MAX : n;

	if (e->oom || buf_reserve(e->b, m + 3) != HDB_OK) {
		e->oom = true;
		return;
	}
	for (size_t i = 0; i < m; i++) {
		unsigned char c = (unsigned char)s[i];
		e->b->p[e->b->len++] = c < 0x20 || c == 0x7f ? ' ' : c;
	}
	if (m < n)
		put(e, "...", 3);
}

static void field_begin(struct entry *e, const char *field)
{
	static const unsigned char zero[4];
	e->fstart = e->b->len;
	put(e, zero, 4);
	put(e, field, strlen(field));
	put(e, "=", 1);
}

static void field_end(struct entry *e)
{
	if (e->oom)
		return;
	size_t len = e->b->len - e->fstart - 4;
	if (len > UINT32_MAX) {
		e->oom = true;
		return;
	}
	uint32_t l = (uint32_t)len;
	memcpy(e->b->p + e->fstart, &l, 4);
	e->n++;
}

static void field_add(struct entry *e, const char *field, const char *val, size_t n)
{
	field_begin(e, field);
	put(e, val, n);
	field_end(e);
}

/* The values an entry is made of, whichever way they were found: each a
 * member's value as a JSON parser reads it from the record (NULL: absent
 * or null). */
enum { V_EVENT_TYPE, V_OUTCOME, V_ERROR, V_USER, V_SOURCE_IP, V_APPLICATION, V_SESSION, V_TABLE, V_OBJECT,
       V_ROWS, V_SEQ, V_TIMESTAMP, V_EVENT_ID, V_DB_ID, V_PREV_HASH, V_HASH, V__N };
_Static_assert(V__N == sizeof(fields) / sizeof(fields[0]), "one value per HELIOSDB_* field");

struct values {
	const char *v[V__N];
	size_t n[V__N];
};

/* build - the entry of one record from its values, prio and line. */
static int build(struct buf *out, const struct values *x, enum audit_event_type ev, int prio, uint64_t seq,
                 const char *line, size_t n)
{
	struct entry e;

	entry_begin(&e, out);
	/* MESSAGE="heliosdb: <type>[ on <table or object>][ by <user>][ from
	 * <source_ip>]: <outcome>[: <error>] (seq N)" */
	field_begin(&e, "MESSAGE");
	put(&e, "heliosdb: ", 10);
	put_clean(&e, x->v[V_EVENT_TYPE], x->n[V_EVENT_TYPE]);
	int on = x->v[V_TABLE] ? V_TABLE : x->v[V_OBJECT] ? V_OBJECT : -1;
	if (on >= 0) {
		put(&e, " on ", 4);
		put_clean(&e, x->v[on], x->n[on]);
	}
	if (x->v[V_USER]) {
		put(&e, " by ", 4);
		put_clean(&e, x->v[V_USER], x->n[V_USER]);
	}
	if (x->v[V_SOURCE_IP]) {
		put(&e, " from ", 6);
		put_clean(&e, x->v[V_SOURCE_IP], x->n[V_SOURCE_IP]);
	}
	put(&e, ": ", 2);
	put_clean(&e, x->v[V_OUTCOME], x->n[V_OUTCOME]);
	if (x->v[V_ERROR]) {
		put(&e, ": ", 2);
		put_clean(&e, x->v[V_ERROR], x->n[V_ERROR]);
	}
	put(&e, " (seq ", 6);
	put_clean(&e, x->v[V_SEQ], x->n[V_SEQ]);
	put(&e, ")", 1);
	field_end(&e);
	field_add(&e, "MESSAGE_ID", audit_event_message_id(ev), 32);
	{
		char p[4];
		int pl = snprintf(p, sizeof(p), "%d", prio < 0 || prio > 7 ? 6 : prio);
		field_add(&e, "PRIORITY", p, (size_t)pl);
	}
	field_add(&e, "SYSLOG_IDENTIFIER", "heliosdb", 8);
	for (size_t i = 0; i < V__N; i++)
		if (x->v[i])
			field_add(&e, fields[i].field, x->v[i], x->n[i]);
	field_add(&e, "HELIOSDB_RECORD", line, n);
	return entry_end(&e, seq);
}

static int priority(enum audit_event_type ev, enum audit_outcome o)
{
	return o == AUDIT_SUCCESS ? audit_event_priority(ev) : o == AUDIT_FAILURE ? 3 /* LOG_ERR */ : 4 /* LOG_WARNING */;
}

int audit_journal_entry(const struct audit_ctx *ctx, const struct audit_event *ev,
                        const struct audit_record_info *info, const char *line, size_t n, struct buf *out)
{
	/* the strings as a parser reads them back: invalid UTF-8 became
	 * U+FFFD in the record (audit_utf8_clean); only such strings are
	 * copied, into one scratch buffer whose offsets are fixed up below */
	struct buf scratch = { 0 };
	struct values x = { { 0 }, { 0 } };
	size_t off[V__N];
	bool in_scratch[V__N] = { false };
	const char *sv[V__N] = { [V_ERROR] = ev->error, [V_USER] = ev->user, [V_SOURCE_IP] = ev->source_ip,
		                 [V_APPLICATION] = ev->application, [V_SESSION] = ev->session_id,
		                 [V_TABLE] = ev->table, [V_OBJECT] = ev->object };
	char rows[24], seq[24], ts[AUDIT_TIME_LEN + 1], id[33], prev[65], hash[65];
	int rc = HDB_OK;

	if (!ctx || !ev || !info || !line || !out)
		return HDB_EINVAL;
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	for (int i = 0; i < V__N && !rc; i++) {
		if (!sv[i])
			continue;
		size_t len = strlen(sv[i]), j = 0;
		while (j < len && (unsigned char)sv[i][j] < 0x80)
			j++;
		if (j == len) {
			x.v[i] = sv[i];
			x.n[i] = len;
			continue;
		}
		off[i] = scratch.len;
		rc = audit_utf8_clean(&scratch, sv[i], len);
		x.n[i] = scratch.len - off[i];
		in_scratch[i] = true;
	}
	for (int i = 0; i < V__N && !rc; i++)
		if (in_scratch[i])
			x.v[i] = scratch.p ? (const char *)scratch.p + off[i] : "";
	if (rc)
		goto out;
	x.v[V_EVENT_TYPE] = audit_event_name(ev->type);
	x.v[V_OUTCOME] = audit_outcome_name(ev->outcome);
	if (!x.v[V_EVENT_TYPE] || !x.v[V_OUTCOME] || audit_format_time(info->time_us, ts) != HDB_OK) {
		rc = HDB_EINVAL;
		goto out;
	}
	x.n[V_EVENT_TYPE] = strlen(x.v[V_EVENT_TYPE]);
	x.n[V_OUTCOME] = strlen(x.v[V_OUTCOME]);
	if (ev->rows_affected >= 0) {
		x.v[V_ROWS] = rows;
		x.n[V_ROWS] = (size_t)snprintf(rows, sizeof(rows), "%lld", (long long)ev->rows_affected);
	}
	x.v[V_SEQ] = seq;
	x.n[V_SEQ] = (size_t)snprintf(seq, sizeof(seq), "%llu", (unsigned long long)info->seq);
	x.v[V_TIMESTAMP] = ts;
	x.n[V_TIMESTAMP] = AUDIT_TIME_LEN;
	hex_encode(info->event_id, 16, id);
	hex_encode(info->prev_hash, 32, prev);
	hex_encode(info->hash, 32, hash);
	x.v[V_EVENT_ID] = id;
	x.n[V_EVENT_ID] = 32;
	x.v[V_DB_ID] = ctx->db_id;
	x.n[V_DB_ID] = strnlen(ctx->db_id, sizeof(ctx->db_id));
	x.v[V_PREV_HASH] = prev;
	x.n[V_PREV_HASH] = 64;
	x.v[V_HASH] = hash;
	x.n[V_HASH] = 64;
	rc = build(out, &x, ev->type, priority(ev->type, ev->outcome), info->seq, line, n);
out:
	buf_free(&scratch);
	return rc;
}

int audit_journal_entry_from_line(const char *line, size_t n, struct buf *out, char *err, size_t errlen)
{
	struct json_tokener *tok = NULL;
	struct json_object *rec = NULL;
	struct values x = { { 0 }, { 0 } };
	char name[64];
	uint64_t seqv = 0;
	int ev, prio, rc = HDB_EINVAL;

	if (!line || !out) {
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
	for (size_t i = 0; i < V__N; i++)
		x.v[i] = member(rec, fields[i].member, &x.n[i]);

	const char *type = x.v[V_EVENT_TYPE], *outcome = x.v[V_OUTCOME], *seq = x.v[V_SEQ];
	size_t type_len = x.n[V_EVENT_TYPE], seq_len = x.n[V_SEQ];
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
		prio = priority((enum audit_event_type)ev, AUDIT_SUCCESS);
	else if (!strcmp(outcome, "failure"))
		prio = priority((enum audit_event_type)ev, AUDIT_FAILURE);
	else if (!strcmp(outcome, "denied"))
		prio = priority((enum audit_event_type)ev, AUDIT_DENIED);
	else {
		errf(err, errlen, "cannot send audit record seq %.*s to journald: unknown outcome '%.20s'",
		     (int)(seq_len > 20 ? 20 : seq_len), seq, outcome);
		goto out_free;
	}
	for (size_t i = 0; i < seq_len && i < 20 && seq[i] >= '0' && seq[i] <= '9'; i++)
		seqv = seqv * 10 + (uint64_t)(seq[i] - '0');
	rc = build(out, &x, (enum audit_event_type)ev, prio, seqv, line, n);
	if (rc)
		errf(err, errlen, "cannot send audit record to journald: out of memory");
out_free:
	json_object_put(rec);
	json_tokener_free(tok);
	return rc;
}

size_t audit_journal_entry_size(const void *p, size_t avail, uint64_t *ret_seq)
{
	uint32_t size;

	if (avail < ENTRY_HDR)
		return 0;
	memcpy(&size, p, 4);
	if (size < ENTRY_HDR || size > avail)
		return 0;
	if (ret_seq)
		memcpy(ret_seq, (const unsigned char *)p + 8, 8);
	return size;
}

int audit_journal_entry_send(const void *p, size_t size, char *err, size_t errlen)
{
	struct iovec iov[MAX_FIELDS];
	const unsigned char *q = p, *end = q + size;
	uint32_t nf, l;
	uint64_t seq;
	int r;

	if (audit_journal_entry_size(p, size, &seq) != size) {
		errf(err, errlen, "cannot send audit record to journald: malformed entry");
		return HDB_EINVAL;
	}
	memcpy(&nf, q + 4, 4);
	if (nf > MAX_FIELDS) {
		errf(err, errlen, "cannot send audit record to journald: malformed entry");
		return HDB_EINVAL;
	}
	q += ENTRY_HDR;
	for (uint32_t i = 0; i < nf; i++) {
		if ((size_t)(end - q) < 4)
			goto bad;
		memcpy(&l, q, 4);
		q += 4;
		if ((size_t)(end - q) < l)
			goto bad;
		iov[i].iov_base = (void *)(uintptr_t)q;
		iov[i].iov_len = l;
		q += l;
	}
	r = sd_journal_sendv(iov, (int)nf);
	if (r < 0) {
		errf(err, errlen, "cannot send audit record seq %llu to journald: %s%s", (unsigned long long)seq,
		     strerror(-r), r == -ENOENT || r == -ECONNREFUSED ? " (is systemd-journald running?)" : "");
		return HDB_EIO;
	}
	return HDB_OK;
bad:
	errf(err, errlen, "cannot send audit record to journald: malformed entry");
	return HDB_EINVAL;
}

int audit_journal_send(const char *line, size_t n, char *err, size_t errlen)
{
	struct buf b = { 0 };
	int rc = audit_journal_entry_from_line(line, n, &b, err, errlen);
	if (!rc)
		rc = audit_journal_entry_send(b.p, b.len, err, errlen);
	buf_free(&b);
	return rc;
}

int audit_journal_wrong_key_notice(const char *db_id, const char *user, unsigned uid, unsigned pid, bool pending,
                                   char *err, size_t errlen)
{
	char msg[512];
	snprintf(msg, sizeof(msg),
	         "MESSAGE=heliosdb: wrong_key on database %s by %s (uid %u, pid %u): denied: wrong encryption key "
	         "(key check failed; no data was read); %s",
	         db_id, user, uid, pid,
	         pending ? "it enters the audit chain at the next open with the right key"
	                 : "a read-only open: this notice is its only record");
	for (char *c = msg; *c; c++)   /* one line, whatever the user name holds */
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = ' ';
	int r = sd_journal_send("%s", msg, "MESSAGE_ID=%s", audit_event_message_id(AUDIT_EV_WRONG_KEY), "PRIORITY=4",
	                        "SYSLOG_IDENTIFIER=heliosdb", "HELIOSDB_EVENT_TYPE=wrong_key", "HELIOSDB_OUTCOME=denied",
	                        "HELIOSDB_DB_ID=%s", db_id, "HELIOSDB_USER=%s", user, "HELIOSDB_UID=%u", uid,
	                        "HELIOSDB_PID=%u", pid, "HELIOSDB_PENDING=%d", pending ? 1 : 0, NULL);
	if (r < 0) {
		errf(err, errlen, "cannot send the wrong-key notice to journald: %s", strerror(-r));
		return HDB_EIO;
	}
	return HDB_OK;
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
