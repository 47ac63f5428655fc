/*
 * report.h - the compliance reporter (compliance/): turns audit log files
 * into the figures of a compliance report, and writes them as JSON or as a
 * PDF (libharu).  docs/report.md defines every section and figure;
 * docs/report.schema.json is the JSON document's schema.
 *
 * The reporter never needs the database or its keys: it works from the log
 * files, the audit public key (verification is done by the caller with
 * audit_verify and handed over with report_set_verify/report_add_finding)
 * and, when the caller has it, the key inventory (report_add_key).
 *
 * Life of a report:
 *   report_new(opts)                          the type, the period, business hours
 *   report_add_input(path) ...                the segment files, oldest first
 *   report_ingest(progress)                   streams every file once: SHA-256
 *                                             of each file, every line parsed
 *                                             (report_feed_line) and aggregated
 *   report_set_verify / report_add_finding    the chain verification result
 *   report_set_crypto / report_add_key        what the caller knows of the keys
 *   report_write_json(FILE) / report_write_pdf(FILE)
 *   report_free
 *
 * Invariants:
 *   - memory is bounded whatever the input: counters are per day (at most
 *     REPORT_MAX_DAYS), per hour, per user and table (at most
 *     REPORT_MAX_USERS / REPORT_MAX_TABLES distinct names kept, the rest
 *     counted as "others"), and every list keeps its first REPORT_LIST_MAX
 *     (or its own cap) items plus the total;
 *   - a line that is not a record is counted (with the first FILE:LINE),
 *     never fatal, never a crash: the parser is fuzzed
 *     (tests/fuzz/fuzz_report.c);
 *   - the integrity verdict is "verified" only when the caller reported a
 *     verification without findings AND every line parsed; without a
 *     verification it is "not_verified", whatever the data look like.
 *
 * Every function returns HDB_OK or a negative hdb_err; err gets a one-line
 * message where there is one.
 */
#ifndef HDB_REPORT_H
#define HDB_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "audit.h"
#include "heliosdb.h"

#define REPORT_MAX_DAYS   3700     /* ~10 years of per-day counters */
#define REPORT_MAX_USERS  1000     /* distinct users with their own row */
#define REPORT_MAX_TABLES 1000
#define REPORT_MAX_PAIRS  20000    /* (table, user) read counters for "top readers" */
#define REPORT_LIST_MAX   200      /* items kept per evidence list */
#define REPORT_LINE_MAX   (1u << 20) /* longer lines are malformed (and skipped) */

enum report_type {
#define REPORT_TYPE(id, name, title, sections, profile) REPORT_##id,
#include "report_types.def"
#undef REPORT_TYPE
	REPORT__TYPE_COUNT
};

/* report_type_lookup - by name ("hipaa", ...); -1 if unknown. */
int report_type_lookup(const char *name);
const char *report_type_name(enum report_type t);
/* report_type_names - "encryption-compliance, access-review, ..." (static). */
const char *report_type_names(void);

struct report_opts {
	enum report_type type;
	int64_t from_us;           /* inclusive; INT64_MIN: no lower bound */
	int64_t to_us;             /* exclusive; INT64_MAX: no upper bound */
	int bh_start, bh_end;      /* business hours [start, end), UTC, Mon-Fri; 0 <= start < end <= 24 */
	int64_t now_us;            /* "generated at"; 0: the real clock */
};

struct report;

int report_new(const struct report_opts *o, struct report **ret);
void report_free(struct report *r);

/* report_add_input - a file to read (copied); files are read in the order
 * added, so add each log's segments oldest first (audit_segments). */
int report_add_input(struct report *r, const char *path);

typedef void (*report_progress_fn)(void *arg, uint64_t done_bytes, uint64_t total_bytes);

/* report_ingest - reads every input once, in order.  HDB_EIO (err names
 * the file) when a file cannot be opened or read, HDB_ENOMEM. */
int report_ingest(struct report *r, report_progress_fn fn, void *arg, char *err, size_t errlen);

/* report_feed_line - parses one line (without its newline) of input file
 * number file_idx (its 1-based line number lineno) and aggregates it.
 * HDB_OK, HDB_EPARSE (the line is not a record: counted, first one kept)
 * or HDB_ENOMEM.  The fuzz target drives this directly. */
int report_feed_line(struct report *r, const char *line, size_t len, size_t file_idx, uint64_t lineno);

/* Verification, as the caller ran it (audit_verify over each log). */
enum report_verify_state { REPORT_NOT_VERIFIED = 0, REPORT_VERIFIED, REPORT_TAMPERED };
/* report_set_verify - state and, when a verification ran, its totals
 * (summed over the logs: call once per log); why: for NOT_VERIFIED, the
 * reason shown ("no public key"). */
int report_set_verify(struct report *r, enum report_verify_state st, const struct audit_verify_result *res,
                      const char *why);
/* report_add_finding - one finding of audit_verify (the first is the
 * "first bad record" named on the cover). */
int report_add_finding(struct report *r, const struct audit_finding *f);

/* Cryptography as the caller knows it (from --config and the database). */
struct report_crypto {
	bool have_config;          /* false: nothing below is set */
	const char *config_file;
	const char *algorithm;     /* "AES-256-GCM" */
	const char *key_source;    /* "environment", "file", "password", "credential" */
	bool fips;
	uint64_t max_encryptions;  /* per data key */
	uint32_t cryptoperiod_days;
	bool rotation_enabled;
	uint32_t retention_days;
	const char *retention_justification;
	const char *db_id;
	const char *profiles;      /* "hipaa, pci-dss" or NULL */
};
int report_set_crypto(struct report *r, const struct report_crypto *c);

struct report_key {
	uint32_t key_id;
	int64_t created;           /* unix seconds */
	uint64_t encryptions;
	bool active, retired;
};
/* report_add_key - one data key (hdb_key_list); without any call the
 * report says the key inventory was not available, with why (report_set_
 * keys_unavailable). */
int report_add_key(struct report *r, const struct report_key *k);
int report_set_keys_unavailable(struct report *r, const char *why);

/* Outputs.  Both write to an open stream (the caller makes it a temporary
 * file and renames it into place) and read the same figures. */
int report_write_json(const struct report *r, FILE *f, char *err, size_t errlen);
int report_write_pdf(const struct report *r, FILE *f, int *ret_pages, char *err, size_t errlen);

/* A one-line verdict for the command's stdout ("chain verified", ...). */
const char *report_verdict_text(const struct report *r);
uint64_t report_records_in_period(const struct report *r);

#endif
