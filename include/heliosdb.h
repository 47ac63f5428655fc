/*
 * heliosdb.h - the one public header of HeliosDB Nano.
 *
 * HeliosDB Nano is an embedded, encrypted, audited store on LMDB.  Everything
 * it writes is sealed with AES-256-GCM under random data keys, which are in
 * turn wrapped by a master key taken from an environment variable, a key
 * file, a password (Argon2id) or a systemd credential.
 *
 * Conventions (after LMDB and libtls):
 *  - Every function that can fail returns an int: HDB_OK (0) or a negative
 *    enum hdb_err code.  hdb_strerror() names the code; the precise message
 *    (which file, which key, which table) is kept on the handle and read back
 *    with hdb_errmsg(), hdb_session_errmsg() or hdb_config_errmsg().
 *  - Handles are opaque.  Destructors accept NULL.
 *  - Output parameters are named ret_*, come last and are not touched on
 *    failure, except for hdb_open()/hdb_config_load() which, like
 *    sqlite3_open(), hand back a handle even on failure (when memory allowed)
 *    so that its error message can be read; the caller frees it.
 *  - The only way to data is a session (struct hdb_session), which carries the
 *    principal (user, source address, application).  Sessions are not
 *    thread-safe; use one per thread.  A database handle is thread-safe.
 *  - Values returned in malloc'd memory are freed with hdb_free().
 *
 * Threading: LMDB's model.  Any number of concurrent read transactions, one
 * write transaction at a time (other writers block in hdb_begin()).
 */
#ifndef HELIOSDB_H
#define HELIOSDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HDB_VERSION_STRING "0.1.0"

/* ---------------------------------------------------------------- errors */

enum hdb_err {
	HDB_OK = 0,
	HDB_ERROR = -1,        /* internal error (a bug or an unexpected library failure) */
	HDB_EINVAL = -2,       /* invalid argument from the caller */
	HDB_ENOMEM = -3,       /* out of memory */
	HDB_EIO = -4,          /* operating system I/O error */
	HDB_ECORRUPT = -5,     /* stored bytes fail authentication or do not parse */
	HDB_EPARSE = -6,       /* configuration text is not valid TOML */
	HDB_ECONFIG = -7,      /* configuration is valid TOML but a key or value is wrong */
	HDB_ENOTFOUND = -8,    /* no such key, row, table, keyspace or database */
	HDB_EEXIST = -9,       /* already exists (table, primary key, database, file) */
	HDB_EKEY = -10,        /* wrong encryption key */
	HDB_EKEYSRC = -11,     /* the key source is missing or malformed */
	HDB_EPERM = -12,       /* permission denied or insecure permissions */
	HDB_ECONSTRAINT = -13, /* NOT NULL, type or primary-key constraint violated */
	HDB_ETXN = -14,        /* transaction misuse (none open, already open, poisoned) */
	HDB_EFULL = -15,       /* the database map is full */
	HDB_ECRYPTO = -16,     /* the cryptographic provider failed or is unavailable */
	HDB_EUNSUPPORTED = -17,/* format version or feature not supported */
	HDB_EBUSY = -18,       /* resource busy (locked by another process) */
	HDB_EAUDIT = -19,      /* the audit trail cannot be written: operation refused (fail closed) */
	HDB_ECOMPLIANCE = -20, /* refused by a compliance profile rule (start, or e.g. a forbidden column) */
};

/* hdb_strerror - a static, human-readable name for an hdb_err code. */
const char *hdb_strerror(int rc);

/* hdb_free - frees memory this library handed to the caller (NULL is fine). */
void hdb_free(void *p);

/* ---------------------------------------------------------- configuration */

struct hdb_config;

enum hdb_key_source_kind {
	HDB_KEY_NONE = 0,
	HDB_KEY_ENVIRONMENT,   /* arg: variable name (default HELIOSDB_ENCRYPTION_KEY) */
	HDB_KEY_FILE,          /* arg: path of a file holding 64 hex characters */
	HDB_KEY_PASSWORD,      /* arg: name of an environment variable holding the password */
	HDB_KEY_CREDENTIAL,    /* arg: systemd credential name ($CREDENTIALS_DIRECTORY/<name>) */
};

/* hdb_config_new - a configuration with safe defaults (encryption on, key
 * from HELIOSDB_ENCRYPTION_KEY).  Returns HDB_OK or HDB_ENOMEM. */
int hdb_config_new(struct hdb_config **ret_cfg);

/* hdb_config_load - reads a TOML configuration file.  On failure *ret_cfg is
 * still set when memory allowed; hdb_config_errmsg() then names file:line
 * and the problem.  Returns HDB_OK, HDB_EIO, HDB_EPARSE, HDB_ECONFIG or
 * HDB_ENOMEM. */
int hdb_config_load(const char *path, struct hdb_config **ret_cfg);

/* hdb_config_errmsg - the last error message for this configuration. */
const char *hdb_config_errmsg(const struct hdb_config *cfg);

void hdb_config_free(struct hdb_config *cfg);

int hdb_config_set_path(struct hdb_config *cfg, const char *path);
int hdb_config_set_encryption(struct hdb_config *cfg, bool enabled);
int hdb_config_set_key_source(struct hdb_config *cfg, enum hdb_key_source_kind kind,
                              const char *arg);
/* hdb_config_set_password - the password for HDB_KEY_PASSWORD, copied into
 * locked memory (the caller wipes its own copy). */
int hdb_config_set_password(struct hdb_config *cfg, const char *pw, size_t len);
/* hdb_config_set_max_encryptions - encryptions per data key before the engine
 * switches to a fresh one (default 2^30, hard limit 2^32 - 1). */
int hdb_config_set_max_encryptions(struct hdb_config *cfg, uint64_t n);
/* hdb_config_set_fips - require the OpenSSL FIPS provider. */
int hdb_config_set_fips(struct hdb_config *cfg, bool fips);
/* hdb_config_set_kdf - Argon2id parameters for new password databases
 * (memory in KiB, passes, lanes).  Values below m=19456 t=2 are refused. */
int hdb_config_set_kdf(struct hdb_config *cfg, uint32_t m_kib, uint32_t t, uint32_t p);

const char *hdb_config_path(const struct hdb_config *cfg);

/* hdb_config_apply - applies TOML text (e.g. "audit.durability = \"sync\"")
 * over cfg with every check a configuration file gets; all or nothing. */
int hdb_config_apply(struct hdb_config *cfg, const char *toml_text);

/* Compliance profiles.  compliance.profiles names them; hdb_config_add_profile
 * adds one more (the CLI's --profile).  hdb_open() evaluates every rule of
 * every profile before it touches data: a rule of severity "refuse" that
 * fails makes it return HDB_ECOMPLIANCE (the refusal is recorded in the
 * audit log when the database already exists); "warn" rules start and are
 * recorded.  The callback sees every rule evaluated, in profile order. */
struct hdb_rule_result {
	const char *profile;      /* "hipaa" */
	const char *id;           /* "HIPAA-164.312(b)" */
	const char *citation;     /* "45 CFR 164.312(b)" */
	const char *area;         /* encryption | audit | keys | storage | host | tls | schema */
	const char *statement;    /* what the rule requires, one line */
	const char *severity;     /* "refuse" | "warn" */
	const char *status;       /* "pass" | "warn" | "fail" | "skip" (needs the open database) */
	const char *required;     /* the requirement, e.g. ">= 2192" */
	const char *actual;       /* the evidence: the actual value or fact */
	const char *problem;      /* what is wrong ("" when it passes) */
	const char *fix;          /* how to fix it */
};
typedef void (*hdb_rule_fn)(void *arg, const struct hdb_rule_result *r);
int hdb_config_set_rule_callback(struct hdb_config *cfg, hdb_rule_fn fn, void *arg);
int hdb_config_add_profile(struct hdb_config *cfg, const char *name);

/* --------------------------------------------------------------- database */

struct hdb_db;
struct hdb_session;

#define HDB_OPEN_CREATE   0x1u  /* create the database if it does not exist */
#define HDB_OPEN_EXCL     0x2u  /* with CREATE: fail with HDB_EEXIST if it exists */
#define HDB_OPEN_RDONLY   0x4u  /* read-only (verify, stats, export) */

/* hdb_open - opens (or with HDB_OPEN_CREATE creates) the database in the
 * directory `path` (NULL: storage.path of cfg).  The master key is loaded
 * from cfg's key source and checked before any data is read: the wrong key
 * gives HDB_EKEY ("wrong encryption key").  *ret_db is set even on failure
 * when memory allowed, so hdb_errmsg() can be read; close it. */
int hdb_open(const char *path, const struct hdb_config *cfg, unsigned flags,
             struct hdb_db **ret_db);

/* hdb_open_in_memory - a temporary database in a private directory under
 * /dev/shm (or $TMPDIR), removed at hdb_close(). */
int hdb_open_in_memory(const struct hdb_config *cfg, struct hdb_db **ret_db);

/* hdb_close - closes the database, wipes its keys; NULL is fine.  All
 * sessions must be closed first. */
void hdb_close(struct hdb_db *db);

const char *hdb_errmsg(const struct hdb_db *db);

bool hdb_is_encrypted(const struct hdb_db *db);
/* "Enabled: AES-256-GCM" or "Disabled" (static string). */
const char *hdb_encryption_info(const struct hdb_db *db);
/* The database's random 128-bit id as 32 hex characters (static per db). */
const char *hdb_db_id(const struct hdb_db *db);

/* The audit log's active file and the public key that verifies its
 * checkpoints (NULL when audit is disabled). */
const char *hdb_audit_log_path(const struct hdb_db *db);
const char *hdb_audit_pubkey_path(const struct hdb_db *db);

/* Audit retention: deletes rotated log segments older than
 * audit.retention.days (never the active one, never a younger one, nothing
 * while a LEGAL_HOLD file is in the log directory), each after an
 * "audit_segment_deleted" record carrying the segment's last seq and hash
 * (the anchor the rest of the log verifies from) has reached the log.
 * fn sees every segment: deleted, or kept and why.  dry_run deletes
 * nothing. */
struct hdb_retention_item {
	const char *segment;
	uint64_t first_seq, last_seq;
	bool deleted;
	const char *reason;       /* why it is kept, or "deleted" / "would delete" */
};
typedef int (*hdb_retention_fn)(void *arg, const struct hdb_retention_item *it);
int hdb_audit_retention(struct hdb_session *s, bool dry_run, hdb_retention_fn fn, void *arg);

/* hdb_audit_access - records that `tool` ("audit-verify", "audit-report")
 * is reading the audit log `input` (PCI DSS 10.2.1.3): one "audit_access"
 * event, on disk before this returns.  HDB_OK when audit is disabled. */
int hdb_audit_access(struct hdb_session *s, const char *tool, const char *input);
/* hdb_audit_export - records that `tool` wrote `output` (e.g. a report of
 * type `what`) whose SHA-256 is sha256_hex: one "export_run" event, on disk
 * before this returns, so the output can be proven against the signed log.
 * HDB_OK when audit is disabled. */
int hdb_audit_export(struct hdb_session *s, const char *tool, const char *output, const char *sha256_hex,
                     const char *what);
/* hdb_audit_export_failed - records that `tool` failed to write `output`
 * (nothing of it was left): one "export_run" record with outcome failure
 * and the error, on disk before this returns.  HDB_OK when audit is off. */
int hdb_audit_export_failed(struct hdb_session *s, const char *tool, const char *output, const char *what,
                            const char *error);

/* hdb_checkpoint - forces a durable sync of the data file. */
int hdb_checkpoint(struct hdb_db *db);

/* hdb_backup - a consistent, compacted, still-encrypted hot copy into the
 * directory `dir` (created 0700 if missing; must not hold a database).  The
 * copy is written under a temporary name, synced, and read back from the
 * disk before it is named `dir`/data.mdb: its page structure, its header
 * and key records under the master key, and every value's authentication
 * tag under the copy's own data keys (docs/cli.md, "backup").
 *   HDB_OK       the backup is in place, synced, and every check passed;
 *   HDB_ECORRUPT with info->kept: it is in place, but info->bad values in
 *                it fail authentication as copied from a damaged database
 *                (hdb_errmsg names the first);
 *   other        nothing was kept (hdb_errmsg says why).
 * progress (may be NULL) is called about every 100 ms while the copy is
 * written (from another thread; bytes written of the database's used
 * bytes, an upper bound: the copy is compacted) and every 4096 values read
 * back (values of the copy's), and once at the end of each phase with
 * done == total.  info may be NULL. */
enum hdb_backup_phase { HDB_BACKUP_COPY = 1, HDB_BACKUP_READBACK = 2 };
typedef void (*hdb_backup_progress_fn)(void *arg, enum hdb_backup_phase phase, uint64_t done, uint64_t total);
struct hdb_backup_info {
	uint64_t bytes;   /* size of the copy */
	uint64_t pages;   /* its pages, each checked */
	uint64_t values;  /* values read back (authenticated when encrypted) */
	uint64_t bad;     /* of them, failing authentication */
	bool kept;        /* `dir`/data.mdb holds the copy */
};
int hdb_backup(struct hdb_db *db, const char *dir, hdb_backup_progress_fn progress, void *arg,
               struct hdb_backup_info *info);

/* hdb_restore - replaces the database in the directory `path` (NULL:
 * storage.path of cfg) by the backup in the directory `from` (its data.mdb, as hdb_backup wrote it), and opens
 * it: *ret_db is the restored database, open (set even on failure when
 * memory allowed, for hdb_errmsg; close it).  In order, and nothing is
 * changed until every check has passed:
 *   1. no other process has the database open (audited opens lock it), and
 *      none can open it until the restore is in place;
 *   2. the backup is copied next to the database (renamed there with
 *      HDB_RESTORE_MOVE when `from` is a scratch copy on the same file
 *      system), synced, and read back from the disk: page structure, the
 *      open with cfg's key, every value's authentication tag;
 *   3. with audit on and a log that goes past the backup, the log must hold
 *      the backup's last audit record (same seq, same hash): the backup is
 *      this log's database, at an earlier point of its chain;
 *   4. the database's data.mdb, if any, is kept as
 *      data.mdb.replaced-YYYYMMDDTHHMMSSZ, and the checked copy becomes
 *      data.mdb (the directory synced);
 *   5. the open continues the log's chain from its last record (the restore
 *      undid what records after the backup's describe; they stay, and
 *      verify), and in the same commit records "restore_run" and makes a
 *      fresh data key active (the restored keys' seal counts predate the
 *      seals made after the backup).
 * HDB_EBUSY (open elsewhere), HDB_EKEY (wrong key: the backup does not open
 * with cfg's key), HDB_ECORRUPT (the backup fails a check; nothing
 * changed), HDB_EINVAL (not this log's database; nothing changed), others.
 * After step 4 a failure says where both files are. */
#define HDB_RESTORE_MOVE 0x1u
enum hdb_restore_phase { HDB_RESTORE_COPY = 1, HDB_RESTORE_CHECK = 2 };
typedef void (*hdb_restore_progress_fn)(void *arg, enum hdb_restore_phase phase, uint64_t done, uint64_t total);
struct hdb_restore_opts {
	unsigned flags;               /* HDB_RESTORE_MOVE */
	const char *source;           /* what the operator named (an archive, a directory): for the record */
	const char *source_sha256;    /* hex SHA-256 of source when it is a file (an archive), or NULL */
	hdb_restore_progress_fn progress;
	void *arg;
};
struct hdb_restore_info {
	uint64_t bytes;               /* size of the restored data.mdb */
	uint64_t pages;               /* its pages, each checked */
	uint64_t values;              /* values authenticated (read, when not encrypted) */
	char sha256[65];              /* of the restored data.mdb */
	uint64_t backup_seq;          /* the backup's last audit record */
	uint64_t log_seq;             /* the log's last record before the restore (0: no log) */
	uint64_t record_seq;          /* the restore_run record (0: audit off) */
	uint32_t data_key;            /* the fresh active data key (0: not encrypted) */
	char replaced[4200];          /* where the replaced data.mdb is now ("": there was none) */
	bool in_place;                /* step 4 was done */
};
int hdb_restore(const char *path, const struct hdb_config *cfg, const char *from,
                const struct hdb_restore_opts *opts, struct hdb_restore_info *info, struct hdb_db **ret_db);

/* ---------------------------------------------------------------- sessions */

struct hdb_principal {
	const char *user;         /* who (required) */
	const char *source_addr;  /* from where ("local" for in-process) */
	const char *application;  /* which program */
};

int hdb_session_open(struct hdb_db *db, const struct hdb_principal *who,
                     struct hdb_session **ret_s);
/* Aborts an open transaction; NULL is fine. */
void hdb_session_close(struct hdb_session *s);
const char *hdb_session_errmsg(const struct hdb_session *s);

/* ------------------------------------------------------------ transactions
 *
 * A session has at most one open transaction.  Data calls made while one is
 * open run inside it; made without one, each call is its own transaction
 * (autocommit).  After a failed call inside a write transaction the
 * transaction is poisoned: only hdb_abort() is accepted (as in LMDB).
 */
#define HDB_TXN_RDONLY 0x1u

int hdb_begin(struct hdb_session *s, unsigned flags);
int hdb_commit(struct hdb_session *s);
int hdb_abort(struct hdb_session *s);

/* -------------------------------------------------------------- key-value
 *
 * Named keyspaces of opaque keys (1..HDB_MAX_KEY_LEN bytes) and values.  A
 * keyspace is created by its first put.  Keys are stored only as keyed
 * hashes; values sealed.
 */
#define HDB_MAX_KEY_LEN 400
#define HDB_MAX_NAME_LEN 63

int hdb_kv_put(struct hdb_session *s, const char *keyspace,
               const void *key, size_t klen, const void *val, size_t vlen);
/* On HDB_OK *ret_val is a malloc'd copy (free with hdb_free()); may be
 * HDB_ENOTFOUND. */
int hdb_kv_get(struct hdb_session *s, const char *keyspace,
               const void *key, size_t klen, void **ret_val, size_t *ret_len);
int hdb_kv_delete(struct hdb_session *s, const char *keyspace,
                  const void *key, size_t klen);

struct hdb_kv_op {
	const void *key;
	size_t klen;
	const void *val;   /* NULL: delete the key */
	size_t vlen;
};
/* hdb_kv_write_batch - all ops in one transaction (the open one, or a new
 * one committed at the end). */
int hdb_kv_write_batch(struct hdb_session *s, const char *keyspace,
                       const struct hdb_kv_op *ops, size_t n);

/* Iterates every key of a keyspace (in no defined order).  fn returns 0 to
 * go on, non-zero to stop (that value is returned).  key and val are valid
 * until fn returns, or until fn writes through the session (in a plaintext
 * database they point into the database's pages, which a write may move):
 * fn may pass them to a put, which copies them first. */
typedef int (*hdb_kv_scan_fn)(void *arg, const void *key, size_t klen,
                              const void *val, size_t vlen);
int hdb_kv_scan(struct hdb_session *s, const char *keyspace, hdb_kv_scan_fn fn, void *arg);

/* ------------------------------------------------------------------ tables */

enum hdb_type {
	HDB_T_INT2 = 1,
	HDB_T_INT4,
	HDB_T_INT8,
	HDB_T_FLOAT8,
	HDB_T_NUMERIC,    /* exact decimal, as canonical text: -?digits(.digits)? */
	HDB_T_TEXT,       /* UTF-8 */
	HDB_T_BOOL,
	HDB_T_BYTEA,
	HDB_T_DATE,       /* days since 1970-01-01 */
	HDB_T_TIMESTAMP,  /* microseconds since 1970-01-01 00:00:00 UTC */
};

const char *hdb_type_name(enum hdb_type t);  /* "INT4", ... or NULL */

struct hdb_column_def {
	const char *name;
	enum hdb_type type;
	bool not_null;        /* primary-key columns are NOT NULL implicitly */
	unsigned pk_position; /* 0: not in the key; 1..n: position in the primary key */
};

struct hdb_value {
	enum hdb_type type;
	bool is_null;
	union {
		int16_t i16;
		int32_t i32;      /* INT4, DATE */
		int64_t i64;      /* INT8, TIMESTAMP */
		double f64;
		bool b;
		struct {
			const char *ptr;  /* TEXT, NUMERIC, BYTEA: not NUL-terminated */
			size_t len;
		} s;
	} u;
};

/* Convenience constructors. */
struct hdb_value hdb_null(enum hdb_type t);
struct hdb_value hdb_int2(int16_t v);
struct hdb_value hdb_int4(int32_t v);
struct hdb_value hdb_int8(int64_t v);
struct hdb_value hdb_float8(double v);
struct hdb_value hdb_bool(bool v);
struct hdb_value hdb_text(const char *nul_terminated);
struct hdb_value hdb_textn(const char *p, size_t len);
struct hdb_value hdb_bytea(const void *p, size_t len);
struct hdb_value hdb_numeric(const char *decimal_text);
struct hdb_value hdb_date(int32_t days);
struct hdb_value hdb_timestamp(int64_t usec);

/* A schema read from the catalog. */
struct hdb_schema;
size_t hdb_schema_ncolumns(const struct hdb_schema *sc);
const struct hdb_column_def *hdb_schema_column(const struct hdb_schema *sc, size_t i);
const char *hdb_schema_table(const struct hdb_schema *sc);
void hdb_schema_free(struct hdb_schema *sc);

/* A row read from a table; owns its values. */
struct hdb_row;
size_t hdb_row_ncolumns(const struct hdb_row *r);
const struct hdb_value *hdb_row_value(const struct hdb_row *r, size_t i);
void hdb_row_free(struct hdb_row *r);

/* DDL.  A table without primary-key columns gets a hidden row id. */
int hdb_table_create(struct hdb_session *s, const char *name,
                     const struct hdb_column_def *cols, size_t ncols);
int hdb_table_drop(struct hdb_session *s, const char *name);
int hdb_table_schema(struct hdb_session *s, const char *name, struct hdb_schema **ret_sc);
/* The table names, malloc'd array of malloc'd strings; free with
 * hdb_free_names(). */
int hdb_table_list(struct hdb_session *s, char ***ret_names, size_t *ret_n);
void hdb_free_names(char **names, size_t n);

/* DML.  Values are given for every column in schema order. */
int hdb_insert(struct hdb_session *s, const char *table,
               const struct hdb_value *vals, size_t ncols);
/* nrows rows of ncols values each, row-major, in one transaction. */
int hdb_insert_batch(struct hdb_session *s, const char *table,
                     const struct hdb_value *vals, size_t nrows, size_t ncols);
/* pk: the primary-key values in key order. */
int hdb_get(struct hdb_session *s, const char *table,
            const struct hdb_value *pk, size_t npk, struct hdb_row **ret_row);
/* Replaces the row whose key is pk with vals (which may change the key). */
int hdb_update(struct hdb_session *s, const char *table,
               const struct hdb_value *pk, size_t npk,
               const struct hdb_value *vals, size_t ncols);
int hdb_delete(struct hdb_session *s, const char *table,
               const struct hdb_value *pk, size_t npk);

/* Full scan in no defined order (keys are keyed hashes; see docs/storage.md).
 * fn returns 0 to go on, non-zero to stop (that value is returned). */
typedef int (*hdb_scan_fn)(void *arg, const struct hdb_row *row);
int hdb_scan(struct hdb_session *s, const char *table, hdb_scan_fn fn, void *arg);

/* Cursor over a table.  Uses the session's open transaction, or a private
 * read transaction held until hdb_cursor_close(). */
struct hdb_cursor;
int hdb_cursor_open(struct hdb_session *s, const char *table, struct hdb_cursor **ret_c);
/* HDB_OK with *ret_row valid until the next call, or HDB_ENOTFOUND at the end. */
int hdb_cursor_next(struct hdb_cursor *c, const struct hdb_row **ret_row);
void hdb_cursor_close(struct hdb_cursor *c);

/* ----------------------------------------------------------- maintenance */

struct hdb_stat {
	char kind[16];        /* "table", "keyspace", "catalog", "keys" */
	char name[HDB_MAX_NAME_LEN + 1];
	uint64_t entries;
	uint64_t bytes;       /* stored bytes (keys + sealed values) */
};
typedef int (*hdb_stat_fn)(void *arg, const struct hdb_stat *st);
int hdb_stats(struct hdb_session *s, hdb_stat_fn fn, void *arg);

struct hdb_key_info {
	uint32_t key_id;
	int64_t created;          /* unix seconds */
	uint64_t encryptions;     /* seals performed under this key */
	uint64_t values;          /* values currently sealed under it (verify only) */
	bool active;
	bool retired;
};
typedef int (*hdb_key_fn)(void *arg, const struct hdb_key_info *ki);
int hdb_key_list(struct hdb_session *s, hdb_key_fn fn, void *arg);

#define HDB_VERIFY_ENCRYPTION 0x1u
#define HDB_VERIFY_INTEGRITY  0x2u

/* Verification report, streamed.  kind is "table"/"keyspace"/"catalog";
 * for a bad record, bad != 0 and detail names it. */
struct hdb_verify_item {
	const char *kind;
	const char *name;
	uint64_t values;
	uint64_t bad;
	const char *detail;
};
typedef int (*hdb_verify_fn)(void *arg, const struct hdb_verify_item *it);
/* Authenticates every stored value.  Returns HDB_OK when all are good,
 * HDB_ECORRUPT when any is not (the first is in hdb_session_errmsg()). */
int hdb_verify(struct hdb_session *s, unsigned what, hdb_verify_fn fn, void *arg);
/* Progress of long work: done of total so far. */
typedef void (*hdb_progress_fn)(void *arg, uint64_t done, uint64_t total);
/* hdb_verify_progress - hdb_verify, calling progress(parg, done, total)
 * every 4096 values and once at the end (total: the entries the data file
 * holds). */
int hdb_verify_progress(struct hdb_session *s, unsigned what, hdb_verify_fn fn, void *arg, hdb_progress_fn progress,
                        void *parg);

/* hdb_rotate_master_key - rewraps every data key under the master key of
 * new_cfg in one transaction.  Killed at any instant, the database opens
 * with exactly one of the two keys. */
int hdb_rotate_master_key(struct hdb_session *s, const struct hdb_config *new_cfg);

/* hdb_rekey - creates a fresh data key and re-seals every value in batches
 * of `batch` values per write transaction, so readers and writers go on.
 * Resumable: a rekey interrupted by a crash continues where it stopped.
 * progress(arg, done, total) is called after each batch. */
int hdb_rekey(struct hdb_session *s, size_t batch, hdb_progress_fn progress, void *arg);

/* hdb_keygen_hex - 64 hex characters from the CSPRNG plus NUL into out[65]. */
int hdb_keygen_hex(char out[65]);

#ifdef __cplusplus
}
#endif
#endif /* HELIOSDB_H */
