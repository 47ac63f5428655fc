/*
 * engine_int.h - the engine's own structs, shared by the engine's .c files only.
 *
 * On-disk layout (documented byte by byte in docs/storage.md):
 *
 *   LMDB env <dir>/data.mdb with two named databases:
 *     "meta"  key-management records, no user data: the header (format,
 *             database id, password-KDF parameters), the key-check value,
 *             the wrapped PRF key, the wrapped data keys with their
 *             encryption counts, the active data-key id, rekey progress.
 *     "data"  every user-visible thing, each value sealed, each key built
 *             from a one-byte tag, numeric ids and keyed hashes only:
 *               'N' prf(name)            -> u32 table id        (catalog index)
 *               'C' u32 table id         -> schema              (catalog)
 *               'R' u32 table id prf(pk) -> row
 *               'K' prf(keyspace name)   -> u32 id, name        (keyspace index)
 *               'V' u32 keyspace id prf(key) -> value, key, u32 klen
 *               'S' u8 what [u32 id]     -> u64 counter         (internal state)
 *
 *   A sealed value: u8 version (1), u32 data-key id, 12-byte nonce,
 *   ciphertext, 16-byte tag; the GCM associated data is
 *   database id || the 5 header bytes || the LMDB key, so a value copied
 *   anywhere else fails authentication.  In plaintext mode a value is
 *   u8 0 || payload and the "keyed hash" is the identity (or SHA-256 of
 *   inputs longer than ENGINE_MAX_PLAIN_KEY).
 *
 * Invariants:
 *  1. Every data call goes through a session; a session has at most one
 *     LMDB transaction, s->txn.
 *  2. Encryption counts are updated in the same write transaction as the
 *     seals they count; a data key created by that transaction becomes
 *     visible to other sessions only after it commits.
 *  3. Nothing in this module prints or logs; errors go to s->errmsg.
 */
#ifndef HDB_ENGINE_INT_H
#define HDB_ENGINE_INT_H

#include <pthread.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdint.h>

#include <lmdb.h>

#include "audit.h"
#include "config.h"
#include "crypto.h"
#include "heliosdb.h"
#include "keys.h"
#include "row.h"
#include "secret.h"
#include "util.h"

#define ENGINE_FORMAT 1
#define ENGINE_MAGIC "HDBN"
#define ENGINE_ID_LEN 16
#define ENGINE_SEAL_VERSION 1
#define ENGINE_PLAIN_VERSION 0
#define ENGINE_SEAL_HDR 5                      /* version + key id */
#define ENGINE_SEAL_OVERHEAD (ENGINE_SEAL_HDR + CRYPTO_NONCE_LEN + CRYPTO_TAG_LEN)
#define ENGINE_MAX_PLAIN_KEY 256
#define ENGINE_MAX_LMDB_KEY 300
#define ENGINE_MAP_SIZE ((size_t)64 << 30)
#define ENGINE_GROW_CHUNK ((uint64_t)1 << 20) /* zeros kept ahead of LMDB's last page (db_grow) */

/* an MDB_val naming a fixed "meta" record */
#define META_KEY(lit) ((MDB_val){ sizeof(lit) - 1, (void *)(lit) })

enum {
	TAG_NAME = 'N',
	TAG_CATALOG = 'C',
	TAG_ROW = 'R',
	TAG_KSNAME = 'K',
	TAG_KV = 'V',
	TAG_STATE = 'S',
};
enum { STATE_NEXT_ID = 1, STATE_NEXT_ROWID = 2 };

/* header record in "meta" */
#define HDR_LEN 63
_Static_assert(HDR_LEN == 4 + 1 + 1 + ENGINE_ID_LEN + 1 + 4 * 4 + KEYS_SALT_LEN + 8,
               "header layout");

/* data-key record in "meta": u8 state, u64 created, u64 count, wrapped key */
#define DEK_REC_LEN (1 + 8 + 8 + CRYPTO_WRAPPED_LEN)
enum { DEK_USABLE = 1, DEK_RETIRED = 2 };

struct engine_dek {
	uint32_t id;
	struct hdb_secret *key;          /* 32 bytes; NULL once retired */
};

/* Seal counts are reserved in blocks: a data key's record holds an upper
 * bound of the seals made under it; a process takes [next, end) from it in
 * one write and counts locally, so a commit writes no counter.  A crash
 * wastes at most one block per process and key. */
#define ENGINE_COUNT_BLOCK 65536
/* in the database directory, beside data.mdb and lock.mdb: an empty file
 * the audit pipeline flocks to know whether it is alone (trail.c) */
#define ENGINE_OPEN_LOCK "audit.lock"
struct engine_res {
	uint32_t key;                    /* data key the range belongs to (0: none) */
	uint64_t next, end;
};

/* The audit pipeline of one open database (engine/trail.c). */
struct qev;
struct engine_audit {
	bool on;
	struct audit_ctx ctx;
	char *log_file, *pub_file;
	struct audit_file *file;
	int durability, journald;
	bool block;
	uint32_t window_ms, checkpoint_every, retention_days;
	bool log_reads, log_writes, log_deletes, log_ddl, log_keys;
	struct hdb_secret *sign;          /* Ed25519 seed, wrapped in meta "audit_sign" */
	struct hdb_secret *token_key;     /* keyed-hash tokens for KV keys */
	char *principal_user;             /* the OS user, for engine-level events */
	struct hdb_session *sess;         /* the shipper's own session */
	pthread_t thr;
	bool thr_started, sync_init;
	pthread_t ret_thr;                /* retention after a rotation (engine/trail.c) */
	bool ret_started;                 /* guarded by mu */
	bool ret_done;                    /* the last run finished: ret_thr may be joined */
	bool ret_closed;                  /* closing: no new run (guarded by mu) */
	pthread_mutex_t mu;               /* guards everything below */
	pthread_cond_t wake, progress;
	struct qev **q;
	size_t nq, capq;
	uint64_t next_ticket, done_ticket;
	uint64_t want_seq;                /* highest committed outbox seq known */
	uint64_t file_seq;                /* last record in the log file */
	bool log_starts_empty;            /* continuing a chain into an empty log (file_seq is not in it) */
	uint64_t trimmed_seq;             /* outbox entries up to here are deleted */
	int64_t trim_us;                  /* when the last trim committed (CLOCK_MONOTONIC) */
	int open_fd;                      /* ENGINE_OPEN_LOCK, flock(LOCK_SH) while open (valid if open_locked) */
	bool open_locked;
	unsigned char file_hash[32];
	bool stop;
	bool failed;
	char failmsg[512];
	int64_t fail_since_us;
	uint64_t fail_blocked, dropped, journal_failures;
	/* lines of committed outbox records, kept in memory so the shipper
	 * need not read them back (engine/trail.c, struct trail_block) */
	struct trail_block **mem;
	size_t nmem, capmem, mem_bytes;
	unsigned writers;                 /* durability sync: sessions in or entering a write txn */
	struct trail_journal *jd;         /* the journald sender (engine/trail.c); NULL: journald off */
};

/* A restore in progress (engine/restore.c): the open that follows the
 * swap may find the audit log past the restored database's head, and then
 * continues the log's chain (trail_open), after checking that the log
 * holds the database's last record. */
struct engine_restore {
	/* in: for the restore_run record */
	const char *source, *source_sha256, *sha256, *replaced;
	const char *earlier;             /* other data.mdb.replaced-* files in the directory ("" none) */
	int64_t replaced_head;           /* the replaced file's audit head; -1: none or unreadable */
	uint64_t bytes, values, backup_seq;
	/* out */
	bool done;                       /* the restore txn committed (audit on) */
	bool adopted;                    /* the log went past the backup; its head was adopted */
	uint64_t log_seq;                /* the log's last record at the open */
	uint64_t record_seq;             /* restore_run's seq */
	uint32_t data_key;               /* the fresh active data key (0: not encrypted) */
};

struct hdb_db {
	char errmsg[512];
	char *path;
	char *tmpdir;                    /* in-memory database: removed at close */
	MDB_env *env;
	MDB_dbi meta, data;
	bool encrypted;
	bool rdonly;
	bool nolock;                     /* a backup's copy: opened MDB_NOLOCK (db_open_copy) */
	bool created_dir, created_files;  /* by this open: removed if it fails */
	unsigned char id[ENGINE_ID_LEN];
	char id_hex[2 * ENGINE_ID_LEN + 1];
	uint64_t max_encryptions;
	struct crypto_lib *lib;
	struct hdb_secret *master;       /* kept to wrap data keys created later */
	struct hdb_secret *prf_key;
	struct keys_kdf kdf;

	struct engine_res res;           /* only touched inside write txns (LMDB's writer lock) */
	bool grow;                       /* db_grow is on: synced writes to a file on disk */
	unsigned psize;                  /* LMDB's page size */

	struct engine_audit audit;

	pthread_mutex_t lock;            /* guards deks */
	struct engine_dek *deks;
	size_t ndeks;

	struct engine_restore *restore;  /* set while hdb_restore opens the restored file */
	int lmdb_lock_fd;                /* hdb_restore's descriptor of lock.mdb, kept until the env is closed */
	bool lmdb_lock_held;             /* (closing it would drop this process's LMDB locks) */

	struct profile_set *profiles;    /* compliance profiles in force (engine/profiles.c) */
	bool refused;                    /* start refused by a profile: no session may open */
	bool refuse_pending;             /* refused before open; opened only to record it */
};

struct sess_aead {
	uint32_t id;
	bool pending;                    /* created by the open write txn */
	struct crypto_aead *aead;
};

/* One cached catalog name (engine/names.c). */
struct sess_name {
	char *name;
	unsigned char tag;               /* TAG_NAME (tables) or TAG_KSNAME (keyspaces) */
	unsigned char nkey[1 + ENGINE_MAX_PLAIN_KEY + 32];
	size_t nkeylen;
	struct buf nraw;                 /* the sealed index value it was read from */
	size_t txnid;                    /* LMDB snapshot it was last checked in */
	uint32_t id;
	struct hdb_schema *sc;           /* tables: the schema, loaded on first use */
};

#define SESS_CACHE 16

struct hdb_session {
	struct hdb_db *db;
	char *user, *source_addr, *application;
	char session_id[33];
	bool internal;                   /* the audit shipper's own session */
	char errmsg[512];

	/* audit state of the open write txn (engine/trail.c) */
	struct audit_head ahead;
	bool ahead_loaded, ahead_dirty;
	struct qev **txn_events;
	size_t ntxn_events, captxn_events;
	struct buf txn_lines;            /* the lines this txn put in the outbox */
	uint64_t txn_lines_first;        /* seq of the first of them (0: none) */
	bool txn_lines_bad;              /* one could not be kept: ship from the outbox */
	bool trail_writer;               /* counted in db->audit.writers */

	MDB_txn *txn;                    /* current transaction, or NULL */
	bool explicit_txn;               /* opened by hdb_begin() */
	bool write;
	bool poisoned;
	MDB_txn *rtxn_idle;              /* reset read transaction kept for reuse */

	/* write-transaction key state */
	uint32_t active_id;
	struct crypto_aead *active_aead;
	struct engine_res res_saved;     /* db->res at begin, restored on abort */
	struct engine_dek *pending;      /* data keys created by this txn */
	size_t npending;

	struct sess_aead *aeads;         /* one AEAD per data key used */
	size_t naeads;
	struct crypto_prf *prf;
	struct crypto_prf *token_prf;    /* audit tokens of KV keys (lazily) */

	struct buf kbuf, vbuf, pbuf;     /* scratch */

	/* Writes of the open write txn not yet in LMDB (engine/session.c,
	 * sess_buffer_put): applied in LMDB key order by sess_flush_writes */
	struct buf wb;                   /* LMDB key || payload, back to back */
	struct sess_wbent *wbent;
	size_t nwb;
	size_t wb_ents_rw;               /* bytes of entries (and scratch) writable (engine/session.c, wb_room) */
	bool wb_refused;                 /* the buffer could not have room: puts go straight through */
	enum { APPEND_UNKNOWN, APPEND_ON, APPEND_OFF } append; /* this write txn: puts sort past the tree's end (MDB_APPEND)? */

	struct sess_name names[SESS_CACHE];
	size_t nnames;
};

struct hdb_cursor {
	struct hdb_session *s;
	bool own_txn;
	MDB_txn *txn;
	MDB_cursor *cur;
	struct hdb_schema *sc;
	unsigned char prefix[5];
	bool started;
	bool ahead;                      /* nk/nv/nrc hold the next entry (own read txn) */
	MDB_val nk, nv;
	int nrc;
	struct hdb_row *row;
	char table[HDB_MAX_NAME_LEN + 1];
	int64_t rows;                    /* rows returned: the read's record at close */
	int err;                         /* first failure of hdb_cursor_next */
	char errmsg[256];
};

/* One data call, as the audit sees it. */
struct op {
	bool auto_txn;
	bool buffered;                   /* the call may leave writes in s->wb */
	enum audit_event_type type;
	const char *table;
	char object[160];
	int64_t rows;
};
#define OP_INIT(t, tbl) { .type = (t), .table = (tbl), .rows = -1 }

/* Stored values are read from LMDB's map, usually cold: a decrypt would
 * stall on each cache line in turn.  Asking for the first lines (and the
 * tag at the end) at once overlaps the misses with each other and with the
 * work done before the cipher reads them.  A hint: never faults. */
#define ENGINE_PREFETCH_MAX 2048
static inline void value_prefetch(const MDB_val *v)
{
	const char *p = v->mv_data;
	size_t n = v->mv_size < ENGINE_PREFETCH_MAX ? v->mv_size : ENGINE_PREFETCH_MAX;
	for (size_t off = 0; off < n; off += 64) {
		__builtin_prefetch(p + off);
		/* GCC counts prefetches as free of side effects and deletes a
		 * bounded loop of them (and calls to a function that does only
		 * that); this empty asm keeps them */
		__asm__ volatile("" : : "r"(p + off));
	}
	if (v->mv_size)
		__builtin_prefetch(p + v->mv_size - 1);
}

/* op_object - the record's object: "<kind>:<name>" ("table:patients"). */
static inline void op_object(struct op *op, const char *kind, const char *name)
{
	snprintf(op->object, sizeof(op->object), "%s:%.63s", kind, name ? name : "?");
}

/* ---- engine/trail.c */
int trail_open(struct hdb_db *db, const struct hdb_config *cfg);
void trail_close(struct hdb_db *db);
/* trail_default_log_file - "<dbpath>.audit/audit.log", malloc'd (NULL: OOM). */
char *trail_default_log_file(const char *dbpath);
/* trail_head_get - the audit head stored in the database (genesis when
 * none). */
int trail_head_get(struct hdb_db *db, MDB_txn *txn, struct audit_head *ret);
/* trail_restore_check - whether the log log_file holds record h->seq with
 * hash h->hash (h->seq 0: its first record anchors to h->hash), i.e. the
 * database whose head is h is this log's, at an earlier point of its
 * chain.  HDB_OK, or HDB_EINVAL / HDB_ECORRUPT / HDB_EIO with db->errmsg. */
int trail_restore_check(struct hdb_db *db, const char *log_file, const struct audit_head *h);
int trail_record(struct hdb_session *s, struct audit_event *ev);
int trail_txn_precommit(struct hdb_session *s);
int trail_txn_end(struct hdb_session *s, bool committed);
int trail_check(struct hdb_session *s);
/* a write txn is about to begin / has ended (durability sync: the shipper
 * waits for txns in flight so that one log fdatasync covers them all) */
void trail_writer_enter(struct hdb_session *s);
void trail_writer_leave(struct hdb_session *s);
void trail_security(struct hdb_db *db, enum audit_event_type type, enum audit_outcome outcome, const char *error,
                    const char *object, const char *detail_json);
/* "keyspace:<name> key:<token>" for a KV key; "" when no record of type
 * will be made (audit off or the type not logged): no keyed hash then */
/* engine/profiles.c: compliance profiles at open and at CREATE TABLE */
int profiles_before_open(struct hdb_db *db, const struct hdb_config *cfg, const char *path);
/* profiles_check - evaluates the profiles for an open of path that is yet
 * to come (hdb_restore, before it replaces anything): HDB_ECOMPLIANCE,
 * with every rule delivered to cfg's rule callback, when one refuses. */
int profiles_check(struct hdb_db *db, const struct hdb_config *cfg, const char *path);
int profiles_after_open(struct hdb_db *db, const struct hdb_config *cfg);
int profiles_open_failed(struct hdb_db *db, const struct hdb_config *cfg, const char *path, int rc);
void profiles_free(struct hdb_db *db);
int profiles_check_columns(struct hdb_session *s, const char *table, const struct hdb_column_def *cols,
                           size_t ncols);
/* profiles_config_detail - the config_loaded detail: {"file", "sha256",
 * "config"} of the effective configuration (no secrets); malloc'd. */
char *profiles_config_detail(const struct hdb_config *cfg);

void trail_kv_object(struct hdb_session *s, enum audit_event_type type, const char *keyspace, const void *key,
                     size_t klen, char *out, size_t outlen);

/* ---- engine/session.c */
int sess_open_internal(struct hdb_db *db, struct hdb_session **ret_s);
/* sess_fresh_key - a fresh data key becomes the active one, in s's write
 * txn, or in one of its own when s has none ("data_key_switch" recorded);
 * its id in *ret_id. */
int sess_fresh_key(struct hdb_session *s, uint32_t *ret_id);
int sess_err(struct hdb_session *s, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int db_err(struct hdb_db *db, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int mdb_to_hdb(int mrc);
/* op_begin - a transaction for one data call: the open one, or a new
 * autocommit one (*auto_txn = true).  Refuses a write in a read-only txn. */
int op_begin(struct hdb_session *s, bool write, struct op *op);
/* op_end - commits (rc == HDB_OK) or aborts an autocommit txn; in an
 * explicit write txn, a failure poisons it.  Returns the final rc. */
int op_end(struct hdb_session *s, struct op *op, int rc);
/* op_fail - an entry point that fails before op_begin: still one record. */
int op_fail(struct hdb_session *s, struct op *op, int rc);
int txn_begin(struct hdb_session *s, bool write);
int txn_commit(struct hdb_session *s);
void txn_abort(struct hdb_session *s);

/* keyed hash of (a || b) into out; returns its length */
int sess_hash(struct hdb_session *s, const void *a, size_t alen, const void *b, size_t blen,
              unsigned char *out, size_t *ret_len);
/* sess_buffer_put - a put into the data db that may wait in s->wb until
 * the next call that is not a buffered put, or the commit, and is then
 * applied with the others in LMDB key order (encrypted databases only:
 * their keyed-hash keys arrive in random order).  The payload is given in
 * up to three parts; writes straight through when buffering does not pay:
 * plaintext mode, large values, or !many (one put in an autocommit txn). */
int sess_buffer_put(struct hdb_session *s, bool many, const unsigned char *k, size_t klen, const void *p1,
                    size_t n1, const void *p2, size_t n2, const void *p3, size_t n3);
/* applies (HDB_OK) or, on failure, drops the buffered writes */
int sess_flush_writes(struct hdb_session *s);
void sess_drop_writes(struct hdb_session *s);
/* seal payload into the data db under key k (MDB_RESERVE, in place) */
int sess_put_sealed(struct hdb_session *s, const unsigned char *k, size_t klen,
                    const void *payload, size_t n, unsigned flags);
/* open a sealed value read at key k into s->vbuf (payload) */
int sess_open_value(struct hdb_session *s, const unsigned char *k, size_t klen,
                    const MDB_val *v, struct buf *out);
/* the payload of v without a copy where possible: in plaintext mode a
 * pointer into LMDB's page (valid while the txn lives), else opened into
 * scratch */
int sess_view_value(struct hdb_session *s, const unsigned char *k, size_t klen, const MDB_val *v,
                    struct buf *scratch, const unsigned char **ret_p, size_t *ret_n);
/* get + open; HDB_ENOTFOUND when absent */
int sess_get(struct hdb_session *s, const unsigned char *k, size_t klen, struct buf *out);
int sess_next_counter(struct hdb_session *s, uint8_t what, uint32_t id, uint64_t *ret);
uint32_t sealed_key_id(const MDB_val *v);

/* ---- engine/db.c */
/* db_grow - inside a write txn, before its commit: keeps up to
 * ENGINE_GROW_CHUNK of written zeros past LMDB's last page, so that a
 * synced commit rarely grows the file (docs/storage.md, "File growth"). */
void db_grow(struct hdb_db *db);
int db_get_dek(struct hdb_db *db, MDB_txn *txn, uint32_t id, struct hdb_secret **ret_copy);
int db_new_dek(struct hdb_db *db, MDB_txn *txn, struct engine_dek *ret);
void db_publish_dek(struct hdb_db *db, struct engine_dek *d);
int db_make_aead(struct hdb_db *db, MDB_txn *txn, uint32_t id, struct crypto_aead **ret);
int db_kcv(struct hdb_db *db, const struct hdb_secret *master, unsigned char out[32]);
int db_wrap_all(struct hdb_db *db, MDB_txn *txn, const struct hdb_secret *master);
/* the AEAD for data key id in this session (cached) */
int sess_aead(struct hdb_session *s, uint32_t id, struct crypto_aead **ret);
/* Backups (engine/backup.c) read their copy back as a restore would.
 * db_open_copy - opens the database copy in dir read-only through the open
 * path every open takes (header, key check, keyed-hash and active data
 * keys; the structure check is the caller's), with src's master key and no
 * audit; ECORRUPT also when
 * it is not src's (id, password parameters).  *ret is set even on failure
 * (hdb_errmsg, then hdb_close). */
int db_open_copy(struct hdb_db *src, const char *dir, struct hdb_db **ret);
void db_rm_tree(const char *dir);
/* db_handle - a closed handle for cfg (errors, then db_open_at). */
struct hdb_db *db_handle(const struct hdb_config *cfg, unsigned flags);
/* db_open_at - opens db (from db_handle) at path as hdb_open does. */
int db_open_at(struct hdb_db *db, const char *path, const struct hdb_config *cfg, unsigned flags);
/* db_open_staged - opens the database in dir read-only with cfg's key,
 * without audit, profiles or LMDB's lock file (a file nobody else uses:
 * a backup being restored, or, under the restore's locks, the database it
 * replaces); the structure check at open as cfg says when check. */
int db_open_staged(const struct hdb_config *cfg, const char *dir, bool check, struct hdb_db **ret);
/* db_copy_check_keys - the copy's key records that open does not read: the
 * audit signing key unwraps, every usable data key unwraps, and the next
 * data key id lies within the database's in txns before and after the
 * copy, above every key's.  A record that fails with the same bytes in the
 * database before the copy is the database's own damage: not an error,
 * said in r->same_keys (and r->same_ids for data keys). */
/* db_copy_opens_like - whether the records an open reads (header, key
 * check, keyed-hash key, active data key) are in the copy at file what the
 * database held in before: then a copy that does not open is the
 * database's own damage (it would not open again either). */
bool db_copy_opens_like(struct hdb_db *src, MDB_txn *before, const char *file);
struct readback;
int db_copy_check_keys(struct hdb_db *copy, MDB_txn *ctxn, struct hdb_db *src, MDB_txn *before, MDB_txn *after,
                       struct readback *r);
/* maint_readback - authenticates every value of the copy (session c, in
 * its read txn) with the copy's own data keys; counts them, those that
 * fail, and of those, the ones that are not the same damage in the
 * database: unlike the value at that key in session s's read txn (taken
 * before the copy), or failing where that one authenticates.  first and
 * first_differ name the first of each ("keyspace 'x' (LMDB key ...): why"). */
struct readback {
	uint64_t values, bad, differ;
	char first[1024], first_differ[1024];
	char same_keys[128];  /* a key record damaged in the database too (db_copy_check_keys) */
	uint32_t same_ids[8]; /* data keys whose records are: their values count as the database's damage */
	size_t nsame;
};
int maint_readback(struct hdb_session *c, struct hdb_session *s, struct readback *r,
                   void (*tick)(void *arg, uint64_t done), void *arg);
int meta_get_u32(struct hdb_db *db, MDB_txn *txn, const char *name, uint32_t *ret);
int meta_put(struct hdb_db *db, MDB_txn *txn, const void *k, size_t klen, const void *v, size_t vlen);
int meta_dek_get(struct hdb_db *db, MDB_txn *txn, uint32_t id, unsigned char rec[DEK_REC_LEN]);
void dek_meta_key(uint32_t id, unsigned char out[7]);

/* ---- engine/names.c */
int name_key(struct hdb_session *s, unsigned char tag, const char *name, unsigned char *out, size_t *ret_len);
int name_find(struct hdb_session *s, unsigned char tag, const char *name, struct sess_name **ret);
int name_create(struct hdb_session *s, unsigned char tag, const char *name, uint32_t id);
/* Drops the catalog cache: on DDL by this session and on a write abort,
 * since entries checked in a snapshot are trusted for the rest of it. */
void sess_cache_clear(struct hdb_session *s);

/* ---- engine/table.c */
int table_lookup(struct hdb_session *s, const char *name, struct hdb_schema **ret_sc);

/* ---- engine/kv.c */
int keyspace_lookup(struct hdb_session *s, const char *name, bool create, uint32_t *ret_id);

/* trail_test_point - called at named points of the engine; a no-op here
 * (weak), replaced by test programs that define their own to make a race
 * or a fault happen on purpose (tests/cli/close_race.c, test_engine.c). */
enum {
	TRAIL_TP_CLOSE_CHECKPOINTED = 1,  /* trail_close: checkpoint committed, not shipped */
	TRAIL_TP_BACKUP_WRITTEN = 2,      /* hdb_backup: the copy synced, not yet read back */
	TRAIL_TP_RESTORE_ASIDE = 3,       /* hdb_restore: data.mdb renamed aside, the copy not yet named */
	TRAIL_TP_RESTORE_PLACED = 4,      /* hdb_restore: the copy named data.mdb and synced, not yet opened */
};
void trail_test_point(int point);

#endif
