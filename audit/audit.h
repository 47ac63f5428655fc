/*
 * audit.h - the audit pipeline's building blocks (audit/).  Nothing here
 * knows about LMDB, tables or keys: the engine describes an operation as a
 * struct audit_event and the pipeline turns it into evidence.
 *
 * The record (docs/audit-log.md documents every field):
 *   one JSON object per line, members in this fixed order:
 *     seq, timestamp, event_type, outcome, error, user, source_ip,
 *     application, session_id, table, object, query, rows_affected,
 *     encryption_enabled, event_id, db_id, host, pid, detail, prev_hash, hash
 *   absent values are JSON null; detail is an object (or null).
 *
 * The chain:
 *   canonical(r) = the line's bytes without its newline and without the
 *                  final member ,"hash":"<64 hex>" (so it ends with the
 *                  prev_hash member and a closing brace)
 *   hash(r)      = SHA-256(prev_hash bytes (32) || canonical(r))
 *   prev_hash of the first record = SHA-256("heliosdb-audit-genesis:" || db_id hex)
 * so any verifier can recompute a record's hash from the line alone.
 *
 * Checkpoints: every audit.checkpoint_every records, at rotation and at a
 * clean close, a record of type "checkpoint" whose detail holds
 *   {"signed_seq":N,"signed_hash":"<hex>","signed_at":"<RFC 3339>",
 *    "key_id":"<first 16 hex of SHA-256(public key)>","signature":"<128 hex>"}
 * an Ed25519 signature over the ASCII message
 *   "heliosdb-checkpoint-v1|<db_id>|<N>|<hash hex>|<signed_at>"
 * where N and hash are those of the record just before the checkpoint.
 *
 * Every function returns HDB_OK or a negative hdb_err; errors carry a
 * one-line message in err.  Secrets (the signing key) live in struct
 * hdb_secret and are never printed.
 */
#ifndef HDB_AUDIT_H
#define HDB_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heliosdb.h"
#include "secret.h"
#include "util.h"

/* ------------------------------------------------------------ event types */

enum audit_event_type {
#define AUDIT_EVENT(id, name, msgid, category, priority, doc) AUDIT_EV_##id,
#include "events.def"
#undef AUDIT_EVENT
	AUDIT_EV__COUNT
};

const char *audit_event_name(enum audit_event_type t);        /* "read", ... */
const char *audit_event_message_id(enum audit_event_type t);  /* 32 hex: journald MESSAGE_ID */
const char *audit_event_category(enum audit_event_type t);    /* "data", "ddl", "txn", "security", "audit" */
int audit_event_priority(enum audit_event_type t);            /* syslog priority on success */
/* audit_event_lookup - by name; -1 if unknown. */
int audit_event_lookup(const char *name);

enum audit_outcome { AUDIT_SUCCESS = 0, AUDIT_FAILURE, AUDIT_DENIED };
const char *audit_outcome_name(enum audit_outcome o);

/* One operation, as the engine saw it.  Strings are borrowed; any may be
 * NULL (written as null).  None may contain user values or key material:
 * the engine passes keyed-hash tokens instead (see audit_token). */
struct audit_event {
	enum audit_event_type type;
	enum audit_outcome outcome;
	const char *error;          /* failure text, or NULL */
	const char *user;
	const char *source_ip;
	const char *application;
	const char *session_id;
	const char *table;
	const char *object;         /* "table:patients", "keyspace:ks key:3fa2...", "data-key:3", ... */
	const char *query;          /* already redacted (audit_redact_query) */
	int64_t rows_affected;      /* -1: not applicable (null) */
	bool encryption_enabled;
	const char *detail_json;    /* a JSON object built by the caller with audit_detail_*, or NULL */
	int64_t time_us;            /* microseconds since the epoch; 0: now */
};

/* What is the same for every record of one database in one process. */
struct audit_ctx {
	char db_id[33];             /* 32 hex */
	char host[256];
	long pid;
};

/* The chain position: the last record written. */
struct audit_head {
	uint64_t seq;               /* 0: nothing yet */
	unsigned char hash[32];
};

/* Timestamps in records and checkpoints: RFC 3339, UTC, microseconds,
 * always exactly AUDIT_TIME_LEN characters: "2026-11-28T09:30:45.123456Z". */
#define AUDIT_TIME_LEN 27
/* audit_format_time - formats time_us (microseconds since the epoch, years
 * 1970..9999) into out, NUL-terminated.  HDB_EINVAL when out of range. */
int audit_format_time(int64_t time_us, char out[AUDIT_TIME_LEN + 1]);
/* audit_parse_time - the inverse, strict: exactly that form with a valid
 * date and time (no leap second).  HDB_OK or HDB_ECORRUPT. */
int audit_parse_time(const char *s, size_t n, int64_t *ret_us);

/* audit_genesis - the head before the first record of database db_id. */
void audit_genesis(const char *db_id, struct audit_head *ret);

/* audit_record_encode - appends one record line (ending in '\n') to out,
 * with seq = head->seq + 1 and a fresh random event_id, and advances
 * *head to it.  The line is written by hand (no allocation per member);
 * tests parse every line back with json-c. */
int audit_record_encode(const struct audit_ctx *ctx, const struct audit_event *ev, struct audit_head *head,
                        struct buf *out);

/* What audit_record_encode_ex reports about the record it wrote: the
 * members journald needs that the event does not hold. */
struct audit_record_info {
	uint64_t seq;
	int64_t time_us;            /* the timestamp member's time */
	unsigned char event_id[16];
	unsigned char prev_hash[32];
	unsigned char hash[32];
};
/* audit_record_encode_ex - audit_record_encode, and *ret_info (may be
 * NULL) describes the record.  The line's bytes are the same. */
int audit_record_encode_ex(const struct audit_ctx *ctx, const struct audit_event *ev, struct audit_head *head,
                           struct buf *out, struct audit_record_info *ret_info);
/* audit_utf8_clean - appends s[0..n) with every byte that is not part of
 * well-formed UTF-8 replaced by U+FFFD: a string member's value as a JSON
 * parser reads it back from the record. */
int audit_utf8_clean(struct buf *b, const char *s, size_t n);

/* ---------------------------------------------------------------- jscan
 * Reading record lines fast (audit/jscan.c): audit_jscan checks that a line
 * is one strict RFC 8259 JSON object and points at the values of the
 * members the caller wants, in place, without allocating.  Member names with
 * escapes, and a wanted member twice, make the line malformed. */
struct audit_jval {
	const char *v;   /* the value's text, a string with its quotes; NULL: absent */
	size_t len;
	char type;       /* '"' string, '0' number, '{' object, '[' array, 't', 'f', 'n' */
	bool esc;        /* a string with escapes (decode it, e.g. with json-c) */
};
/* the slot out[i] for member name k[0..n), or -1 when it is not wanted */
typedef int (*audit_jindex_fn)(const char *k, size_t n);
/* NULL when line[0..len) is one JSON object (whitespace around it allowed),
 * out[0..nout) filled; else why not, *ret_col its 1-based column. */
const char *audit_jscan(const char *line, size_t len, audit_jindex_fn want, struct audit_jval *out, size_t nout,
                        size_t *ret_col);
/* audit_jint - a number value without fraction or exponent that fits int64 */
bool audit_jint(const struct audit_jval *v, int64_t *ret);

/* audit_hex32 - decodes 64 lowercase hex digits into 32 bytes; false if any
 * is not one.  For public values (hashes): not constant-time. */
bool audit_hex32(const char *h, unsigned char out[32]);

/* audit_line_hash - recomputes a line's hash from prev (32 bytes) and the
 * line (with or without its newline).  HDB_ECORRUPT if the line does not
 * end in a well-formed hash member.  ret_claimed gets the hash the line
 * states. */
int audit_line_hash(const unsigned char prev[32], const char *line, size_t len, unsigned char ret_hash[32],
                    unsigned char ret_claimed[32]);

/* Small builders for detail objects: audit_detail_begin(b) then any number
 * of _str/_int/_bool, then audit_detail_end(b).  Strings are escaped. */
void audit_detail_begin(struct buf *b);
void audit_detail_str(struct buf *b, const char *key, const char *val);
void audit_detail_int(struct buf *b, const char *key, int64_t val);
void audit_detail_bool(struct buf *b, const char *key, bool val);
int audit_detail_end(struct buf *b);           /* HDB_ENOMEM if any append failed */

/* audit_json_string - appends s as a JSON string (quoted, escaped; invalid
 * UTF-8 bytes become U+FFFD). */
int audit_json_string(struct buf *b, const char *s, size_t n);

/* ------------------------------------------------------------- redaction */

enum audit_redact { AUDIT_REDACT_LITERALS = 0, AUDIT_REDACT_HMAC };

/* audit_redact_query - replaces every literal of SQL text q (string
 * literals '...', E'...', dollar-quoted $$...$$ / $tag$...$tag$, numbers,
 * and x'..'/b'..' bit strings) by "?" or, with AUDIT_REDACT_HMAC, by
 * "?<first 16 hex of HMAC-SHA-256(key, literal)>", so equal values still
 * correlate.  Comments are dropped.  Identifiers and keywords are kept.
 * Never fails on malformed text: an unterminated literal is redacted to the
 * end.  key may be NULL with AUDIT_REDACT_LITERALS. */
int audit_redact_query(const char *q, size_t n, enum audit_redact mode, const unsigned char key[32],
                       struct buf *out);

/* audit_token - "<prefix><first 16 hex of HMAC-SHA-256(key, data)>": how
 * keys of the key-value API appear in records. */
int audit_token(const unsigned char key[32], const char *prefix, const void *data, size_t n, char *out,
                size_t outlen);

/* ---------------------------------------------------------- checkpoints */

#define AUDIT_SIGN_PUB_LEN 32
#define AUDIT_SIGN_SIG_LEN 64

/* audit_sign_keygen - a fresh Ed25519 key pair: the 32-byte private seed
 * into a secret, the public key into pub. */
int audit_sign_keygen(struct hdb_secret **ret_priv, unsigned char pub[AUDIT_SIGN_PUB_LEN]);
int audit_sign_public(const struct hdb_secret *priv, unsigned char pub[AUDIT_SIGN_PUB_LEN]);
/* audit_checkpoint_detail - the detail object of a checkpoint record that
 * signs (head, signed_at) for db_id, into out (a JSON object). */
int audit_checkpoint_detail(const struct hdb_secret *priv, const char *db_id, const struct audit_head *head,
                            int64_t signed_at_us, struct buf *out);
/* audit_checkpoint_check - verifies a checkpoint's detail values against
 * pub: HDB_OK, or HDB_ECORRUPT (bad signature / malformed). */
int audit_checkpoint_check(const unsigned char pub[AUDIT_SIGN_PUB_LEN], const char *db_id, uint64_t signed_seq,
                           const char *signed_hash_hex, const char *signed_at, const char *signature_hex);
/* Public-key files: one line "heliosdb-audit-ed25519 <64 hex>\n", mode 0644. */
int audit_pubkey_write(const char *path, const unsigned char pub[AUDIT_SIGN_PUB_LEN], char *err, size_t errlen);
int audit_pubkey_read(const char *path, unsigned char pub[AUDIT_SIGN_PUB_LEN], char *err, size_t errlen);

/* --------------------------------------------------------------- file sink
 *
 * The active segment is the configured log_file; rotation renames it to
 * "<log_file>.<YYYYMMDDTHHMMSSZ>.<first seq, 20 digits>" (names sort by
 * time, then seq) and makes it read-only (0440).  Appends are O_APPEND,
 * files are created 0640, and one fdatasync covers a whole batch.
 */
struct audit_file;

struct audit_file_opts {
	const char *path;            /* log_file */
	uint64_t rotate_size;        /* bytes; 0 = never by size */
	int64_t rotate_interval_s;   /* 0 = never by time */
};

int audit_file_open(const struct audit_file_opts *o, struct audit_file **ret, char *err, size_t errlen);
void audit_file_close(struct audit_file *f);
/* audit_file_last - seq and hash of the last complete record across the
 * segments (0 and zeroed hash if none); a torn last line (no newline, from
 * a crash mid-write) is cut off and reported in *ret_torn. */
int audit_file_last(struct audit_file *f, struct audit_head *ret, bool *ret_torn, char *err, size_t errlen);
/* audit_file_append - writes n bytes of complete lines and fdatasyncs;
 * rotates first when due (returns the rotated segment's name in
 * ret_rotated when it did, else ""). */
int audit_file_append(struct audit_file *f, const char *lines, size_t n, char *ret_rotated, size_t rotlen,
                      char *err, size_t errlen);
/* audit_file_rotate - rotates the active segment now if it is non-empty
 * (ret_rotated as for append; "" when there was nothing to rotate), so the
 * pipeline can end a segment with a checkpoint of its own choosing. */
int audit_file_rotate(struct audit_file *f, char *ret_rotated, size_t rotlen, char *err, size_t errlen);
/* audit_file_rotate_due - whether an append of n bytes would rotate first
 * (by size or age); a hint, without the lock, for writing a checkpoint
 * before audit_file_rotate. */
bool audit_file_rotate_due(struct audit_file *f, size_t n);
/* audit_file_append_after - audit_file_append, but only if the log's last
 * record is still *expect (seq 0: the log is empty); otherwise nothing is
 * written, *ret_last is the log's actual last record and the result is
 * HDB_EBUSY.  Checked and written under one lock, so processes sharing a
 * log never append a record twice. */
int audit_file_append_after(struct audit_file *f, const char *lines, size_t n, const struct audit_head *expect,
                            struct audit_head *ret_last, char *ret_rotated, size_t rotlen, char *err,
                            size_t errlen);
/* audit_file_defer_sync - with on, appends write without fdatasync and
 * the caller makes them durable with audit_file_sync (the engine does so
 * before deleting the outbox copies of what it appended); a rotation
 * and audit_file_close still sync first.  Off by default. */
void audit_file_defer_sync(struct audit_file *f, bool on);
/* audit_file_sync - fdatasync of the log, whoever appended to it (this
 * process or another one sharing the database). */
int audit_file_sync(struct audit_file *f, char *err, size_t errlen);
/* audit_segments - the segment files of log_file in order (rotated ones
 * by name, then the active one); free with hdb_free_names(). */
int audit_segments(const char *log_file, char ***ret, size_t *ret_n, char *err, size_t errlen);
/* audit_log_record - hash, prev_hash and db_id (hex; ret_db_id may be
 * NULL) of the record with that seq in log_file's segments; HDB_ENOTFOUND
 * when none holds it. */
int audit_log_record(const char *log_file, uint64_t seq, unsigned char ret_hash[32], unsigned char ret_prev[32],
                     char ret_db_id[33], char *err, size_t errlen);
/* audit_log_last - the last complete record of log_file (seq, hash,
 * db_id), without changing the log (ret->seq 0: none). */
int audit_log_last(const char *log_file, struct audit_head *ret, char ret_db_id[33], char *err, size_t errlen);
/* audit_dir_logs - the logs in directory dir ("DIR/NAME.log" for every
 * *.log and every base of rotated segments), sorted, each once; free with
 * hdb_free_names().  HDB_EIO (unreadable directory) or HDB_ENOMEM. */
int audit_dir_logs(const char *dir, char ***ret, size_t *ret_n, char *err, size_t errlen);

/* ------------------------------------------------------------ journald sink */

/* audit_journal_send - sends one record line to journald with MESSAGE_ID
 * of its event type, the fields HELIOSDB_EVENT_TYPE, HELIOSDB_OUTCOME,
 * HELIOSDB_USER, HELIOSDB_TABLE, HELIOSDB_OBJECT, HELIOSDB_SEQ,
 * HELIOSDB_HASH, HELIOSDB_PREV_HASH, HELIOSDB_DB_ID, HELIOSDB_SESSION,
 * HELIOSDB_SOURCE_IP, HELIOSDB_RECORD (the whole line), a one-line MESSAGE
 * and PRIORITY by outcome (success: the type's priority; failure: err (3);
 * denied: warning (4)).  HDB_EIO when journald refuses or is absent. */
int audit_journal_send(const char *line, size_t n, char *err, size_t errlen);
/* audit_journal_wrong_key_notice - an immediate journald entry for a wrong
 * key presented at open (MESSAGE_ID of wrong_key, PRIORITY warning,
 * HELIOSDB_EVENT_TYPE=wrong_key, HELIOSDB_OUTCOME=denied, HELIOSDB_DB_ID,
 * HELIOSDB_USER, HELIOSDB_UID, HELIOSDB_PID, HELIOSDB_PENDING).  Not a
 * record: no seq, no hash (the chain needs the key).  pending: the attempt
 * was kept and its "wrong_key" record follows at the next open with the
 * right key (1); a read-only open keeps nothing (0).  So a SIEM can alert
 * now. */
int audit_journal_wrong_key_notice(const char *db_id, const char *user, unsigned uid, unsigned pid, bool pending,
                                   char *err, size_t errlen);
/* Prepared journald entries.  An entry is built once, when its record is
 * encoded (audit_journal_entry, from the event: no JSON is parsed), or
 * from a record line (audit_journal_entry_from_line, json-c: for records
 * read back from storage), and sent with audit_journal_entry_send (one
 * sd_journal_sendv, iovecs pointing into the entry).  Both builders give
 * the same bytes for the same record: the fields audit_journal_send
 * sends.  Entries are appended to a buffer back to back; the layout is
 * private to journal.c: u32 size of the whole entry, u32 field count,
 * u64 seq, then per field u32 length and "NAME=value". */
int audit_journal_entry(const struct audit_ctx *ctx, const struct audit_event *ev,
                        const struct audit_record_info *info, const char *line, size_t n, struct buf *out);
int audit_journal_entry_from_line(const char *line, size_t n, struct buf *out, char *err, size_t errlen);
/* audit_journal_entry_size - the size of the entry at p (avail bytes
 * there), and its seq; 0 when p does not hold a whole entry. */
size_t audit_journal_entry_size(const void *p, size_t avail, uint64_t *ret_seq);
/* audit_journal_entry_send - sends the entry at p (as sized above).
 * HDB_EIO when journald refuses or is absent. */
int audit_journal_entry_send(const void *p, size_t size, char *err, size_t errlen);
/* audit_journal_available - whether a journald socket is there. */
bool audit_journal_available(void);
/* Beyond those listed above, audit_journal_send also sends HELIOSDB_ERROR,
 * HELIOSDB_APPLICATION, HELIOSDB_ROWS_AFFECTED, HELIOSDB_TIMESTAMP and
 * HELIOSDB_EVENT_ID, and SYSLOG_IDENTIFIER=heliosdb; a null member is left
 * out.  docs/journald.md lists them all. */
/* audit_journal_seqs - calls fn(arg, seq, hash hex) for every journal entry
 * of database db_id (HELIOSDB_DB_ID) logged at or after since_us (0: from
 * the start), oldest first, as read from the local journal files
 * (sd_journal_open, SD_JOURNAL_LOCAL_ONLY).  Entries without a well-formed
 * HELIOSDB_SEQ and HELIOSDB_HASH are skipped, so to the caller they are
 * missing; a seq may come more than once.  hash_hex is valid during the call
 * only.  HDB_EIO when the journal cannot be opened or no journal file is
 * readable by this user (reading the system journal needs root or group
 * systemd-journal), HDB_EINVAL for a bad db_id.  Entries still queued in
 * journald's socket are not seen: run `journalctl --sync` first. */
int audit_journal_seqs(const char *db_id, int64_t since_us,
                       void (*fn)(void *arg, uint64_t seq, const char *hash_hex), void *arg, char *err,
                       size_t errlen);

/* ------------------------------------------------------------ retention
 *
 * Retention deletes the oldest rotated segments of a log, never anything
 * else (docs/retention.md):
 *   - a segment may go only when its newest record AND its file mtime are
 *     older than now - days (strictly: exactly `days` old is kept);
 *   - days below AUDIT_RETENTION_MIN_DAYS is refused, and now is never
 *     later than the real clock, so no argument makes a young segment old;
 *   - the active segment (log_file itself) is never deleted;
 *   - a file named AUDIT_LEGAL_HOLD_FILE in the log's directory stops all
 *     deletion (checked again by audit_retention_delete_one);
 *   - deletion takes a prefix of the rotated segments in order: the first
 *     segment that must stay (young, empty, malformed, unreadable) keeps
 *     every later one too, so what remains is one unbroken chain that starts
 *     where the last deleted segment ended (its last_seq and last_hash, the
 *     anchor the engine records as "audit_segment_deleted" before deleting).
 */
#define AUDIT_RETENTION_MIN_DAYS 1
#define AUDIT_LEGAL_HOLD_FILE "LEGAL_HOLD"

struct audit_retention_segment {
	char *path;               /* as audit_segments() gave it */
	uint64_t first_seq;       /* 0 when unknown (empty or malformed) */
	uint64_t last_seq;        /* 0 when unknown */
	char last_hash[65];       /* hex of the last record's hash; "" when unknown */
	int64_t newest_us;        /* newest record time (us since the epoch); 0 when unknown */
	int64_t mtime_us;         /* the file's modification time */
	uint64_t records;         /* complete lines read */
	uint64_t size;            /* bytes */
	char reason[128];         /* kept: why ("active segment", "legal hold", "younger than 365 days", ...); "" for deletions */
};

struct audit_retention_plan {
	bool legal_hold;          /* AUDIT_LEGAL_HOLD_FILE exists: nothing deleted */
	int64_t now_us;           /* the time used (the real clock when the argument was later or 0) */
	int64_t cutoff_us;        /* segments whose newest time is strictly before this may go */
	struct audit_retention_segment *del;  /* oldest first */
	size_t ndel;
	struct audit_retention_segment *keep; /* in log order, active segment last */
	size_t nkeep;
};

/* audit_retention_plan - which segments of log_file retention of `days`
 * would delete at now_us (0: now), and why the others stay.  Reads every
 * rotated segment (the timestamp of each line, the last line in full) but
 * changes nothing.  *ret is set only on success; free it with
 * audit_retention_plan_free().  HDB_EINVAL (days too small), HDB_EIO (the
 * directory or legal-hold check failed), HDB_ENOMEM.  A segment that
 * cannot be read or parsed is not an error: it is kept, with the reason. */
int audit_retention_plan(const char *log_file, int64_t now_us, uint32_t days, struct audit_retention_plan **ret,
                         char *err, size_t errlen);
/* audit_retention_delete_one - deletes one segment of a plan's del list:
 * checks again that no legal hold is in its directory (HDB_EPERM), that its
 * name is a rotated segment's (HDB_EINVAL) and that its last record still
 * has last_seq and last_hash (HDB_ECORRUPT: it changed since the plan),
 * then unlinks it and fsyncs the directory (HDB_EIO). */
int audit_retention_delete_one(const struct audit_retention_segment *seg, char *err, size_t errlen);
void audit_retention_plan_free(struct audit_retention_plan *plan);

/* ------------------------------------------------------------ verification */

enum audit_problem {
	AUDIT_OK = 0,
	AUDIT_BAD_JSON,          /* a line that is not a record */
	AUDIT_BAD_HASH,          /* a record whose hash does not match its content: modified */
	AUDIT_BAD_LINK,          /* prev_hash does not match the previous record's hash */
	AUDIT_SEQ_GAP,           /* seq jumps forward: records deleted */
	AUDIT_SEQ_BACK,          /* seq repeats or goes back: inserted or reordered */
	AUDIT_BAD_SIGNATURE,     /* a checkpoint whose signature does not verify */
	AUDIT_TRUNCATED,         /* records after the last checkpoint, no closing checkpoint */
	AUDIT_MISSING_SEGMENT,   /* the first record of a segment does not follow the previous one */
	AUDIT_JOURNAL_MISSING,   /* --journal: a record journald does not have */
};
const char *audit_problem_name(enum audit_problem p);

struct audit_finding {
	enum audit_problem problem;
	const char *file;
	uint64_t line;           /* 1-based */
	uint64_t seq;
	const char *detail;
};
typedef void (*audit_finding_fn)(void *arg, const struct audit_finding *f);

struct audit_verify_result {
	uint64_t records, checkpoints, segments;
	uint64_t first_seq, last_seq;
	uint64_t last_signed_seq;
	uint64_t findings;
};

/* audit_verify - checks the files (in the order given: use audit_segments)
 * against pub: JSON, hashes, links, seq continuity, checkpoint signatures,
 * and reports every finding (the first of each kind at least) through fn.
 * A chain may start after a retention anchor: a "retention" record carries
 * the deleted segments' last seq and hash, and the next segment continues
 * from there.  Streams: memory is bounded whatever the size.
 * Returns HDB_OK when there is no finding, HDB_ECORRUPT otherwise. */
int audit_verify(char *const *files, size_t nfiles, const unsigned char pub[AUDIT_SIGN_PUB_LEN],
                 audit_finding_fn fn, void *arg, struct audit_verify_result *ret, char *err, size_t errlen);

/* Tuning of audit_verify_ex; 0 in a field means the default.  The result
 * and the findings (and their order) do not depend on it. */
struct audit_verify_opts {
	unsigned threads;       /* threads, the caller's included (default: its CPUs, at most 8) */
	unsigned batch_lines;   /* lines prepared at once (default 4096) */
	unsigned min_slice;     /* fewest lines worth handing a thread (default 64) */
	/* called after each batch of lines with the bytes checked so far and
	 * the size of all the files (taken at the start: a file that grows
	 * meanwhile can take done past total) */
	void (*progress)(void *arg, uint64_t done, uint64_t total);
	void *progress_arg;
};

/* audit_verify_ex - audit_verify with tuning (o may be NULL). */
int audit_verify_ex(char *const *files, size_t nfiles, const unsigned char pub[AUDIT_SIGN_PUB_LEN],
                    const struct audit_verify_opts *o, audit_finding_fn fn, void *arg,
                    struct audit_verify_result *ret, char *err, size_t errlen);

#endif
