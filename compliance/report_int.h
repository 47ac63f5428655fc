/*
 * report_int.h - the reporter's own structures, shared by report.c (types,
 * ingestion, aggregation), report_json.c and report_pdf.c.  Nothing outside
 * compliance/ includes this.
 *
 * Everything here has a fixed bound (see report.h): fixed-size evidence
 * items, capped name tables, a capped day array.  Strings copied from the
 * log are truncated to their field size (REPORT_NAME_LEN ...) and marked
 * with "..." when cut.
 */
#ifndef HDB_REPORT_INT_H
#define HDB_REPORT_INT_H

#include "report.h"

/* Sections (bit flags of report_types.def). */
#define REPORT_S_ATTEST    0x01u
#define REPORT_S_CRYPTO    0x02u
#define REPORT_S_INTEGRITY 0x04u
#define REPORT_S_ACCESS    0x08u
#define REPORT_S_CHARTS    0x10u

struct report_type_info {
	const char *name, *title;
	unsigned sections;
	const char *profile;
};
extern const struct report_type_info report_types[REPORT__TYPE_COUNT];

/* The series of the "events per day" chart. */
enum report_series { RS_READ = 0, RS_WRITE, RS_DDL, RS_SECURITY, RS_AUDIT, RS__COUNT };
extern const char *const report_series_names[RS__COUNT];

enum report_outcome { RO_SUCCESS = 0, RO_FAILURE, RO_DENIED, RO__COUNT };

#define REPORT_NAME_LEN 96
#define REPORT_TEXT_LEN 240

/* One record, as an evidence list shows it. */
struct report_item {
	uint64_t seq;
	int64_t us;
	char type[48];
	char outcome[12];
	char user[REPORT_NAME_LEN];
	char table[REPORT_NAME_LEN];
	char text[REPORT_TEXT_LEN];
};

struct report_list {
	struct report_item *v;      /* at most cap, allocated on first use */
	size_t n, cap;
	uint64_t total;             /* every matching record, kept or not */
};

struct report_user {
	char *name;
	uint64_t total, reads, writes, deletes, ddl, denied, failed, after_hours;
	int64_t first_us, last_us;
};

struct report_table {
	char *name;
	uint64_t reads, writes, deletes, ddl, denied, failed, rows_read, rows_written;
};

struct report_pair {          /* reads of one table by one user */
	uint32_t table, user;
	uint64_t reads, rows;
};

struct report_day {
	int64_t day;                /* days since the epoch */
	uint64_t series[RS__COUNT];
	uint64_t denied, failed;
};

/* A string -> index table with a fixed capacity (open addressing). */
struct report_map {
	uint32_t *slot;             /* index + 1; 0 = empty */
	size_t nslot;               /* power of two, >= 2 * max */
	size_t n, max;
};

struct report_input {
	char *path;
	uint64_t bytes, lines;
	char sha256[65];
};

/* A profile_evaluated or config_loaded record worth keeping whole. */
struct report_blob {
	bool have;
	bool in_period;
	uint64_t seq;
	int64_t us;
	char outcome[12];
	char *json;                 /* the detail object as JSON text (owned) */
};

struct report {
	struct report_opts o;
	int64_t generated_us;

	struct report_input *in;
	size_t nin;

	/* the whole log, whatever the period */
	uint64_t lines, records, malformed;
	uint64_t first_seq, last_seq;
	int64_t oldest_us, newest_us;
	char first_malformed[256];   /* "FILE:LINE: reason" */
	char db_ids[4][33];
	size_t ndb_ids;
	uint64_t db_ids_other;
	char hosts[4][REPORT_NAME_LEN];
	size_t nhosts;
	uint64_t hosts_other;

	/* the period */
	uint64_t in_period;
	uint64_t p_first_seq, p_last_seq;
	int64_t p_first_us, p_last_us;
	uint64_t by_type[AUDIT_EV__COUNT + 1];   /* [AUDIT_EV__COUNT]: unknown types */
	uint64_t by_outcome[RO__COUNT];
	uint64_t by_hour[24];
	uint64_t by_weekday[7];                  /* 0 = Monday */
	uint64_t after_hours;
	uint64_t unencrypted;                    /* encryption_enabled false */
	uint64_t checkpoints;

	struct report_day *days;
	size_t ndays, last_day;
	uint64_t days_dropped;                   /* records of days beyond REPORT_MAX_DAYS */

	struct report_user *users;
	struct report_map umap;
	uint64_t users_other_records;
	unsigned char users_other_bits[8192];    /* linear counting of the others */
	struct report_table *tables;
	struct report_map tmap;
	uint64_t tables_other_records;
	unsigned char tables_other_bits[8192];
	struct report_pair *pairs;
	size_t npairs;
	size_t *pair_slot;                       /* open addressing over pairs */
	size_t npair_slot;
	uint64_t pairs_dropped;

	struct report_list denied;       /* outcome denied or failure */
	struct report_list after;        /* user activity outside business hours */
	struct report_list changes;      /* ddl, configuration and key changes */
	struct report_list crypto_ev;    /* key loads, wrong keys, rotations, rekeys, data-key switches */
	struct report_list access;       /* audit_access: who read the audit log */
	struct report_list failures;     /* audit_failure windows */
	struct report_list deletions;    /* audit_segment_deleted anchors */
	struct report_list configs;      /* config_loaded: file and sha256 per start */
	struct report_list evals;        /* profile_evaluated, one line each */
	char key_sources[4][24];
	size_t nkey_sources;

	struct report_blob eval_last, eval_before;     /* profile_evaluated in / before the period */
	struct report_blob config_last, config_before; /* config_loaded's detail */
	char profiles_seen[8][24];
	size_t nprofiles_seen;

	/* verification (from the caller) */
	enum report_verify_state vstate;
	bool vran;
	char vwhy[256];
	struct audit_verify_result vres;
	struct report_list findings;     /* text: "problem: detail"; table: file; seq; us = line */
	uint64_t findings_by[16];

	/* cryptography (from the caller) */
	struct report_crypto crypto;
	char *crypto_strs[7];            /* owned copies of crypto's strings */
	struct report_key *keys;
	size_t nkeys;
	bool keys_unavailable;
	char keys_why[256];

	void *tok;                       /* struct json_tokener *, reused */
	char *scratch;                   /* one line's strings, NUL-terminated */
	size_t scratch_cap;
};

/* Helpers shared by the writers. */
void report_fmt_time(int64_t us, char out[32]);         /* "2026-01-01 00:00:00Z" or "-" */
void report_fmt_day(int64_t day, char out[16]);         /* "2026-01-01" */
uint64_t report_estimate_distinct(const unsigned char *bits, size_t nbytes);
bool report_item_is_denied(const struct report_item *it);
/* rules of the attestation: iterate the last evaluation's rules (parsed on
 * demand by the writers with json-c). */
const struct report_blob *report_eval(const struct report *r);
const struct report_blob *report_config(const struct report *r);
/* report_rule_profile - "hipaa", "pci-dss", "gdpr" or "other" from a rule
 * id such as "HIPAA-164.312(b)". */
const char *report_rule_profile(const char *id);
/* report_sorted_users / _tables - index arrays sorted by activity (caller
 * frees); NULL on OOM. */
size_t *report_sorted_users(const struct report *r);
size_t *report_sorted_tables(const struct report *r);
/* report_top_readers - up to k pairs of table t, most reads first; returns
 * how many were written to out. */
size_t report_top_readers(const struct report *r, uint32_t t, const struct report_pair **out, size_t k);
/* Per-profile counts from the attestation's rules. */
struct report_profile_count {
	char profile[24];
	uint64_t passed, warnings, failures;
};
/* report_profile_counts - parses the evaluation's rules; returns the number
 * of profiles written (at most max), -1 when there is no evaluation. */
int report_profile_counts(const struct report *r, struct report_profile_count *out, int max);
const char *report_verdict_word(const struct report *r);  /* "verified" | "tampered" | "not_verified" */
/* report_config_value - a value of the configuration recorded in the log
 * ("encryption.fips"), as JSON text into out; false when absent. */
bool report_config_value(const struct report *r, const char *key, char *out, size_t outlen);

#endif
