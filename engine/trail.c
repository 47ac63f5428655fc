/*
 * trail.c - the engine's side of the audit pipeline: every operation's
 * record, the outbox, and the shipper that moves records to the sinks.
 *
 * Why an outbox.  A committed write must never exist without its record,
 * even if the process is killed at any instant.  So a write's record is
 * sealed into the database itself, in the same LMDB transaction as the
 * data, under 'A' || u64 seq; the chain head (seq, hash) is kept in
 * "meta" in that transaction too.  Commit makes both durable with one
 * fsync.  After the commit a shipper thread appends outbox records, in seq
 * order, to the JSON log (one write, one fdatasync per batch), hands their
 * journald entries (prepared when each record was encoded) to a sender
 * thread of its own (struct trail_journal), and later deletes what the log
 * holds.  At open, anything the
 * log lacks is shipped first; so a crash anywhere loses no record of a
 * committed write.
 *
 * Records of operations outside a write transaction (reads, failures,
 * security events) are queued in memory; the shipper gives them their seq
 * in a write transaction of its own (one commit for many records) and
 * ships them.  With audit.durability = "sync" the caller waits until its
 * record is in the log file, so no read is returned unaudited either; with
 * "batch" and "async" a read's record may be lost if the process dies in
 * the window between the read and the shipper's next commit.
 *
 * Records made inside a write transaction that is rolled back are queued
 * again (writes as outcome "failure", error "transaction rolled back"):
 * the attempt is still evidence.
 *
 * Fail closed.  When the log file cannot be written (disk full, I/O error)
 * or journald refuses an entry with audit.journald = "required" (the
 * sender retries that entry every second, the shipper appends nothing
 * more meanwhile; with durability "sync" a call also waits for journald
 * to take its record), the pipeline is
 * failed: with audit.on_failure = "block" every operation is refused with
 * HDB_EAUDIT until the shipper, retrying every second, succeeds again; then
 * an "audit_failure" record states the window and the refused operations.
 * Nothing is dropped: unshipped records wait in the outbox.
 *
 * Invariants:
 *  1. seq is gapless: it is only assigned inside write transactions, from
 *     the head stored in the same transaction.
 *  2. The log file never holds a record the outbox did not commit first.
 *  2a. The outbox keeps a record until the log is synced and, with journald
 *     on, journald was handed its entry (trim_limit): after a crash the
 *     next process to open the database alone sends those entries again
 *     (jd_resend), so the journal misses nothing the log holds.
 *  3. Records never hold user values: keys of the key-value API appear as
 *     keyed-hash tokens, queries as redacted text.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <pwd.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "audit.h"
#include "engine_int.h"

enum { DUR_SYNC, DUR_BATCH, DUR_ASYNC };
enum { JD_OFF, JD_BEST, JD_REQUIRED };

#define OUTBOX_TAG 'A'
#define SHIP_MAX_BYTES ((size_t)4 << 20)
#define AUDIT_QUEUE_MAX 65536   /* queued records before readers wait for the shipper */
#define SYNC_GROUP_US 2000      /* durability sync: longest wait for write txns in flight */

/* A queued event: the event with its strings copied into one block. */
struct qev {
	struct audit_event ev;
	uint64_t ticket;
	char strs[];
};

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static size_t slen(const char *p)
{
	return p ? strlen(p) + 1 : 0;
}

static const char *scopy(char **dst, const char *p)
{
	if (!p)
		return NULL;
	size_t n = strlen(p) + 1;
	memcpy(*dst, p, n);
	const char *r = *dst;
	*dst += n;
	return r;
}

static struct qev *qev_new(const struct audit_event *ev)
{
	size_t n = slen(ev->error) + slen(ev->user) + slen(ev->source_ip) + slen(ev->application) +
	           slen(ev->session_id) + slen(ev->table) + slen(ev->object) + slen(ev->query) +
	           slen(ev->detail_json);
	struct qev *q = malloc(sizeof(*q) + n + 1);
	if (!q)
		return NULL;
	char *p = q->strs;
	q->ev = *ev;
	q->ev.error = scopy(&p, ev->error);
	q->ev.user = scopy(&p, ev->user);
	q->ev.source_ip = scopy(&p, ev->source_ip);
	q->ev.application = scopy(&p, ev->application);
	q->ev.session_id = scopy(&p, ev->session_id);
	q->ev.table = scopy(&p, ev->table);
	q->ev.object = scopy(&p, ev->object);
	q->ev.query = scopy(&p, ev->query);
	q->ev.detail_json = scopy(&p, ev->detail_json);
	if (!q->ev.time_us)
		q->ev.time_us = now_us();
	q->ticket = 0;
	return q;
}

/* The lines of outbox records [first, last] that one committed write txn
 * put in the outbox, kept so that the shipper writes them from memory
 * instead of reading, decrypting and re-hashing them (invariant 2 still
 * holds: a block is handed over only after its txn committed).  hash is
 * record last's.  The outbox stays the source of truth: a block that
 * could not be kept, or a gap between blocks, makes the shipper read the
 * outbox as before. */
struct trail_block {
	uint64_t first, last;
	unsigned char hash[32];
	size_t len;             /* bytes of lines */
	size_t jlen;            /* then this many bytes of journald entries (0: none kept) */
	char lines[];
};
#define MEM_MAX_BYTES ((size_t)64 << 20)

/* The journald sender (journald = "required" or "best_effort").  Entries
 * are prepared when their record is encoded (audit_journal_entry: the
 * fields come from the event, no JSON is parsed), travel with the lines,
 * and once the lines are in the log the shipper queues them here, in seq
 * order, as one chunk per append.  A thread of its own sends them, so the
 * log append never waits for journald, except that "required" gives the
 * shipper backpressure when JD_QUEUE_MAX records wait.  All fields are
 * guarded by the audit mutex (a->mu). */
#define JD_QUEUE_MAX 16384      /* records waiting for journald */
struct jd_chunk {
	struct jd_chunk *next;
	size_t len, pos;        /* bytes of entries; the next one to send */
	uint64_t last;          /* seq of the last entry */
	size_t count;           /* entries */
	unsigned char data[];
};
struct trail_journal {
	pthread_t thr;
	bool started;
	bool stop;              /* set by trail_close once the shipper has stopped */
	bool down;              /* required: the last send failed; retried every second */
	pthread_cond_t cv;      /* wakes the sender */
	pthread_cond_t space;   /* wakes a shipper waiting for room */
	struct jd_chunk *head, *tail;
	size_t queued;          /* entries in the queue */
	uint64_t sent_seq;      /* every record up to here was handed to journald (or counted as failed) */
	char err[256];
};

/* Keeps a record the session's open write txn just sealed into the
 * outbox: its line, and with journald on its prepared entry (then each
 * record is kept as u32 line length, line, entry). */
static void txn_line_keep(struct hdb_session *s, const char *line, size_t n, const struct buf *jent, uint64_t seq)
{
	if (s->txn_lines_bad)
		return;
	if (!s->txn_lines_first)
		s->txn_lines_first = seq;
	int rc = HDB_OK;
	if (jent) {
		uint32_t l = (uint32_t)n;
		rc = buf_append(&s->txn_lines, &l, 4);
	}
	if (!rc)
		rc = buf_append(&s->txn_lines, line, n);
	if (!rc && jent)
		rc = buf_append(&s->txn_lines, jent->p, jent->len);
	if (rc != HDB_OK) {
		s->txn_lines_bad = true;
		buf_free(&s->txn_lines);
	}
}

static void txn_lines_drop(struct hdb_session *s)
{
	buf_free(&s->txn_lines);
	s->txn_lines_first = 0;
	s->txn_lines_bad = false;
}

/* After s's write txn committed: its lines become a block for the shipper.
 * Call with a->mu held. */
static void mem_push_locked(struct engine_audit *a, struct hdb_session *s)
{
	if (!s->txn_lines_first || s->txn_lines_bad || s->txn_lines.len == 0 ||
	    a->mem_bytes + s->txn_lines.len > MEM_MAX_BYTES)
		return;
	if (a->nmem == a->capmem) {
		size_t nc = a->capmem ? a->capmem * 2 : 64;
		struct trail_block **nv = realloc(a->mem, nc * sizeof(*nv));
		if (!nv)
			return;
		a->mem = nv;
		a->capmem = nc;
	}
	struct trail_block *b = malloc(sizeof(*b) + s->txn_lines.len);
	if (!b)
		return;
	b->first = s->txn_lines_first;
	b->last = s->ahead.seq;
	memcpy(b->hash, s->ahead.hash, 32);
	if (a->jd) {
		/* split u32 len | line | entry ... into lines, then entries */
		const unsigned char *p = s->txn_lines.p, *end = p + s->txn_lines.len;
		size_t ll = 0, el = 0;
		char *lines = b->lines;
		for (; end - p >= 4;) {
			uint32_t n;
			memcpy(&n, p, 4);
			p += 4 + n;
			size_t es = p <= end ? audit_journal_entry_size(p, (size_t)(end - p), NULL) : 0;
			if (!es)
				break;
			memcpy(lines + ll, p - n, n);
			ll += n;
			p += es;
		}
		if (p != end) {
			free(b);
			return;
		}
		p = s->txn_lines.p;
		for (; p < end;) {
			uint32_t n;
			memcpy(&n, p, 4);
			p += 4 + n;
			size_t es = audit_journal_entry_size(p, (size_t)(end - p), NULL);
			memcpy(lines + ll + el, p, es);
			el += es;
			p += es;
		}
		b->len = ll;
		b->jlen = el;
	} else {
		b->len = s->txn_lines.len;
		b->jlen = 0;
		memcpy(b->lines, s->txn_lines.p, b->len);
	}
	a->mem[a->nmem++] = b;
	a->mem_bytes += b->len + b->jlen;
}

static void mem_free_all(struct engine_audit *a)
{
	for (size_t i = 0; i < a->nmem; i++)
		free(a->mem[i]);
	free(a->mem);
	a->mem = NULL;
	a->nmem = a->capmem = a->mem_bytes = 0;
}

/* ------------------------------------------------------------- the head */

static int head_load(struct hdb_db *db, MDB_txn *txn, struct audit_head *h)
{
	MDB_val k = META_KEY("audit_head"), v;
	int mrc = mdb_get(txn, db->meta, &k, &v);
	if (mrc == MDB_NOTFOUND) {
		audit_genesis(db->id_hex, h);
		return HDB_OK;
	}
	if (mrc)
		return db_err(db, mdb_to_hdb(mrc), "cannot read the audit head: %s", mdb_strerror(mrc));
	if (v.mv_size != 40)
		return db_err(db, HDB_ECORRUPT, "the audit head record is malformed");
	h->seq = get_u64be(v.mv_data);
	memcpy(h->hash, (unsigned char *)v.mv_data + 8, 32);
	return HDB_OK;
}

int trail_head_get(struct hdb_db *db, MDB_txn *txn, struct audit_head *ret)
{
	return head_load(db, txn, ret);
}

int trail_restore_check(struct hdb_db *db, const char *log_file, const struct audit_head *h)
{
	unsigned char hash[32], prev[32];
	char err[512];
	uint64_t at = h->seq ? h->seq : 1;
	int rc = audit_log_record(log_file, at, hash, prev, NULL, err, sizeof(err));
	if (rc == HDB_ENOTFOUND)
		return db_err(db, HDB_EINVAL,
		              "the backup's last audit record (seq %llu) is not in the audit log '%s' (retention deleted "
		              "its segment, or the log is another database's): the backup cannot be placed in the log's "
		              "chain", (unsigned long long)h->seq, log_file);
	if (rc)
		return db_err(db, rc == HDB_ENOMEM || rc == HDB_ECORRUPT ? rc : HDB_EIO, "%s", err);
	if (CRYPTO_memcmp(h->seq ? hash : prev, h->hash, 32) != 0)
		return db_err(db, HDB_EINVAL,
		              "record %llu of the audit log '%s' is not the backup's: the backup is not of this log's "
		              "database, or not of its history", (unsigned long long)at, log_file);
	return HDB_OK;
}

static int head_store(struct hdb_db *db, MDB_txn *txn, const struct audit_head *h)
{
	unsigned char v[40];
	put_u64be(v, h->seq);
	memcpy(v + 8, h->hash, 32);
	return meta_put(db, txn, "audit_head", 10, v, sizeof(v));
}

/* Keeps the record just sealed (line) for the shipper, with its journald
 * entry when journald is on. */
static void keep_record(struct hdb_session *s, const struct audit_event *ev, const struct audit_record_info *info,
                        const struct buf *line, struct buf *jent)
{
	struct engine_audit *a = &s->db->audit;
	if (!a->jd) {
		txn_line_keep(s, (const char *)line->p, line->len, NULL, s->ahead.seq);
		return;
	}
	buf_reset(jent);
	if (audit_journal_entry(&a->ctx, ev, info, (const char *)line->p, line->len, jent) != HDB_OK) {
		/* the shipper reads this txn's records back from the outbox */
		s->txn_lines_bad = true;
		buf_free(&s->txn_lines);
		return;
	}
	txn_line_keep(s, (const char *)line->p, line->len, jent, s->ahead.seq);
}

/* Seals one record line into the outbox of s's write txn, advancing the
 * session's head, then a checkpoint record when one is due. */
static int outbox_put(struct hdb_session *s, const struct audit_event *ev)
{
	struct hdb_db *db = s->db;
	struct engine_audit *a = &db->audit;
	int rc;
	if (!s->ahead_loaded) {
		txn_lines_drop(s); /* a new txn's first record */
		rc = head_load(db, s->txn, &s->ahead);
		if (rc)
			return sess_err(s, rc, "%s", db->errmsg);
		s->ahead_loaded = true;
	}
	struct buf line = { 0 }, detail = { 0 }, jent = { 0 };
	struct audit_record_info info;
	unsigned char k[9] = { OUTBOX_TAG };
	rc = audit_record_encode_ex(&a->ctx, ev, &s->ahead, &line, a->jd ? &info : NULL);
	if (rc)
		goto out;
	put_u64be(k + 1, s->ahead.seq);
	rc = sess_put_sealed(s, k, sizeof(k), line.p, line.len, MDB_NOOVERWRITE);
	if (rc)
		goto out;
	keep_record(s, ev, &info, &line, &jent);
	s->ahead_dirty = true;
	/* a signed checkpoint every checkpoint_every records, and right after
	 * the record of a rotation (the new segment opens signed) */
	if (a->sign && ev->type != AUDIT_EV_CHECKPOINT &&
	    ((a->checkpoint_every && s->ahead.seq % a->checkpoint_every == 0) || ev->type == AUDIT_EV_AUDIT_ROTATE)) {
		int64_t t = now_us();
		rc = audit_checkpoint_detail(a->sign, db->id_hex, &s->ahead, t, &detail);
		if (rc)
			goto out;
		buf_putc(&detail, 0);
		struct audit_event cp = { .type = AUDIT_EV_CHECKPOINT, .outcome = AUDIT_SUCCESS,
			                  .user = "heliosdb", .application = "heliosdb-audit",
			                  .rows_affected = -1, .encryption_enabled = db->encrypted,
			                  .detail_json = (const char *)detail.p, .time_us = t };
		buf_reset(&line);
		rc = audit_record_encode_ex(&a->ctx, &cp, &s->ahead, &line, a->jd ? &info : NULL);
		if (rc)
			goto out;
		put_u64be(k + 1, s->ahead.seq);
		rc = sess_put_sealed(s, k, sizeof(k), line.p, line.len, MDB_NOOVERWRITE);
		if (!rc)
			keep_record(s, &cp, &info, &line, &jent);
	}
out:
	buf_free(&line);
	buf_free(&detail);
	buf_free(&jent);
	if (rc) {
		/* the txn's lines no longer match its outbox: ship from there */
		buf_free(&s->txn_lines);
		s->txn_lines_bad = true;
	}
	if (rc && !s->errmsg[0])
		sess_err(s, rc, "cannot write the audit record: %s", hdb_strerror(rc));
	return rc;
}

/* trail_txn_precommit - stores the head advanced by this txn's records. */
int trail_txn_precommit(struct hdb_session *s)
{
	if (!s->ahead_dirty)
		return HDB_OK;
	int rc = head_store(s->db, s->txn, &s->ahead);
	if (rc)
		return sess_err(s, rc, "%s", s->db->errmsg);
	return HDB_OK;
}

/* --------------------------------------------------------------- queue */

static int enqueue(struct engine_audit *a, struct qev *q, uint64_t *ret_ticket)
{
	pthread_mutex_lock(&a->mu);
	if (a->nq == a->capq) {
		size_t nc = a->capq ? a->capq * 2 : 64;
		struct qev **nqv = realloc(a->q, nc * sizeof(*nqv));
		if (!nqv) {
			a->dropped++;
			pthread_mutex_unlock(&a->mu);
			free(q);
			return HDB_ENOMEM;
		}
		a->q = nqv;
		a->capq = nc;
	}
	q->ticket = ++a->next_ticket;
	a->q[a->nq++] = q;
	if (ret_ticket)
		*ret_ticket = q->ticket;
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->mu);
	return HDB_OK;
}

static bool jd_ack(const struct engine_audit *a);
static void jd_mark(struct engine_audit *a, uint64_t last);
static int jd_wait_locked(struct engine_audit *a, uint64_t seq);

/* Waits until the shipper has written ticket (queued) or seq (outbox) to
 * the log; HDB_EAUDIT when the pipeline fails meanwhile and blocks. */
static int wait_shipped(struct engine_audit *a, uint64_t ticket, uint64_t seq)
{
	int rc = HDB_OK;
	pthread_mutex_lock(&a->mu);
	if (seq)
		a->want_seq = a->want_seq > seq ? a->want_seq : seq;
	pthread_cond_signal(&a->wake);
	while ((ticket && a->done_ticket < ticket) || (seq && a->file_seq < seq)) {
		if (a->failed && a->block) {
			rc = HDB_EAUDIT;
			break;
		}
		if (a->stop)
			break;
		pthread_cond_wait(&a->progress, &a->mu);
	}
	if (!rc && seq && jd_ack(a))
		rc = jd_wait_locked(a, seq);
	pthread_mutex_unlock(&a->mu);
	return rc;
}

static bool wanted(const struct engine_audit *a, enum audit_event_type t)
{
	switch (t) {
	case AUDIT_EV_READ: return a->log_reads;
	case AUDIT_EV_WRITE: return a->log_writes;
	case AUDIT_EV_DELETE: return a->log_deletes;
	case AUDIT_EV_DDL: return a->log_ddl;
	case AUDIT_EV_KEY_LOADED: case AUDIT_EV_WRONG_KEY: case AUDIT_EV_ROTATE_KEY_START:
	case AUDIT_EV_ROTATE_KEY_FINISH: case AUDIT_EV_REKEY_START: case AUDIT_EV_REKEY_FINISH:
	case AUDIT_EV_DATA_KEY_SWITCH:
		return a->log_keys;
	default: return true;
	}
}

/* trail_record - the one way an event enters the pipeline.  Inside a write
 * txn it goes to that txn's outbox (and a copy is kept in case the txn is
 * rolled back); otherwise it is queued, and with durability "sync" the
 * caller waits for it to reach the log. */
int trail_record(struct hdb_session *s, struct audit_event *ev)
{
	struct hdb_db *db = s->db;
	struct engine_audit *a = &db->audit;
	if (!a->on || !wanted(a, ev->type))
		return HDB_OK;
	ev->user = ev->user ? ev->user : s->user;
	ev->source_ip = ev->source_ip ? ev->source_ip : s->source_addr;
	ev->application = ev->application ? ev->application : s->application;
	ev->session_id = ev->session_id ? ev->session_id : s->session_id;
	ev->encryption_enabled = db->encrypted;
	if (!ev->time_us)
		ev->time_us = now_us();
	if (s->txn && s->write && !s->poisoned) {
		char why[sizeof(s->errmsg)];
		snprintf(why, sizeof(why), "%s", s->errmsg);
		int rc = outbox_put(s, ev);
		if (rc)
			return rc;
		snprintf(s->errmsg, sizeof(s->errmsg), "%s", why);
		struct qev *q = qev_new(ev);
		if (q && s->ntxn_events == s->captxn_events) {
			/* doubling: one realloc per event made a txn of n writes
			 * copy O(n^2) pointers (minutes for 600k under ASan) */
			size_t nc = s->captxn_events ? 2 * s->captxn_events : 64;
			struct qev **nv = realloc(s->txn_events, nc * sizeof(*nv));
			if (nv) {
				s->txn_events = nv;
				s->captxn_events = nc;
			}
		}
		if (!q || s->ntxn_events == s->captxn_events) {
			free(q);
			return sess_err(s, HDB_ENOMEM, "out of memory");
		}
		s->txn_events[s->ntxn_events++] = q;
		return HDB_OK;
	}
	struct qev *q = qev_new(ev);
	if (!q)
		return sess_err(s, HDB_ENOMEM, "out of memory for the audit record");
	/* backpressure: a read load faster than the shipper would grow the
	 * queue without bound; callers that hold no write txn (the shipper
	 * needs the writer lock to drain) wait until it is half empty */
	if (!(s->txn && s->write)) {
		pthread_mutex_lock(&a->mu);
		while (a->nq >= AUDIT_QUEUE_MAX && !a->stop && !a->failed && a->thr_started) {
			pthread_cond_signal(&a->wake);
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&a->progress, &a->mu, &ts);
			if (a->nq < AUDIT_QUEUE_MAX / 2)
				break;
		}
		pthread_mutex_unlock(&a->mu);
	}
	uint64_t ticket;
	int rc = enqueue(a, q, &ticket);
	if (rc)
		return sess_err(s, rc, "cannot queue the audit record");
	if (a->durability == DUR_SYNC && !s->txn) {
		rc = wait_shipped(a, ticket, 0);
		if (rc)
			return sess_err(s, rc, "audit log unavailable (%s); operation refused (audit.on_failure = block)",
			                a->failmsg);
	}
	return HDB_OK;
}

void trail_writer_enter(struct hdb_session *s)
{
	struct engine_audit *a = &s->db->audit;
	if (!a->on || s->internal || a->durability != DUR_SYNC || s->trail_writer)
		return;
	pthread_mutex_lock(&a->mu);
	a->writers++;
	pthread_mutex_unlock(&a->mu);
	s->trail_writer = true;
}

void trail_writer_leave(struct hdb_session *s)
{
	struct engine_audit *a = &s->db->audit;
	if (!s->trail_writer)
		return;
	s->trail_writer = false;
	pthread_mutex_lock(&a->mu);
	a->writers--;
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->mu);
}

/* After a write txn: on commit, wake the shipper (and wait in sync mode);
 * on rollback, queue the txn's records again. */
int trail_txn_end(struct hdb_session *s, bool committed)
{
	struct engine_audit *a = &s->db->audit;
	int rc = HDB_OK;
	trail_writer_leave(s);
	uint64_t seq = s->ahead.seq;
	bool had = s->ahead_dirty;
	for (size_t i = 0; i < s->ntxn_events; i++) {
		struct qev *q = s->txn_events[i];
		if (committed) {
			free(q);
			continue;
		}
		if (q->ev.type == AUDIT_EV_WRITE || q->ev.type == AUDIT_EV_DELETE || q->ev.type == AUDIT_EV_DDL ||
		    q->ev.type == AUDIT_EV_TXN_COMMIT) {
			q->ev.outcome = AUDIT_FAILURE;
			q->ev.error = "transaction rolled back";
		}
		(void)enqueue(a, q, NULL);
	}
	s->ntxn_events = 0;
	if (s->captxn_events > 65536) {
		/* after a large txn: do not keep its list for the session's life */
		free(s->txn_events);
		s->txn_events = NULL;
		s->captxn_events = 0;
	}
	s->ahead_loaded = false;
	s->ahead_dirty = false;
	if (!a->on || !committed || !had) {
		txn_lines_drop(s);
		return HDB_OK;
	}
	pthread_mutex_lock(&a->mu);
	mem_push_locked(a, s);
	a->want_seq = a->want_seq > seq ? a->want_seq : seq;
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->mu);
	txn_lines_drop(s);
	if (a->durability == DUR_SYNC) {
		rc = wait_shipped(a, 0, seq);
		if (rc)
			return sess_err(s, rc, "the write committed, but its audit record could not reach the log (%s)",
			                a->failmsg);
	}
	return rc;
}

/* trail_check - before an operation: refuse it while the pipeline is
 * failed and blocking. */
int trail_check(struct hdb_session *s)
{
	struct engine_audit *a = &s->db->audit;
	if (!a->on)
		return HDB_OK;
	pthread_mutex_lock(&a->mu);
	bool blocked = a->failed && a->block;
	if (blocked)
		a->fail_blocked++;
	pthread_mutex_unlock(&a->mu);
	if (blocked)
		return sess_err(s, HDB_EAUDIT, "audit log unavailable (%s); operation refused (audit.on_failure = block)",
		                a->failmsg);
	return HDB_OK;
}

/* ------------------------------------------------------------- shipper */

/* Deletes outbox entries the log already holds (seq <= upto), in s's txn. */
static int outbox_trim(struct hdb_session *s, uint64_t upto)
{
	MDB_cursor *c;
	int mrc = mdb_cursor_open(s->txn, s->db->data, &c);
	if (mrc)
		return sess_err(s, mdb_to_hdb(mrc), "cannot open cursor: %s", mdb_strerror(mrc));
	unsigned char k0[9] = { OUTBOX_TAG };
	MDB_val mk, mv;
	/* re-seek after each delete: a cursor left past the end of a page by
	 * mdb_cursor_del is not positioned for MDB_GET_CURRENT */
	for (;;) {
		mk.mv_size = sizeof(k0);
		mk.mv_data = k0;
		mrc = mdb_cursor_get(c, &mk, &mv, MDB_SET_RANGE);
		if (mrc)
			break;
		const unsigned char *kp = mk.mv_data;
		if (mk.mv_size != 9 || kp[0] != OUTBOX_TAG || get_u64be(kp + 1) > upto)
			break;
		mrc = mdb_cursor_del(c, 0);
		if (mrc)
			break;
	}
	mdb_cursor_close(c);
	if (mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
		return sess_err(s, mdb_to_hdb(mrc), "cannot trim the audit outbox: %s", mdb_strerror(mrc));
	return HDB_OK;
}

/* trim_limit - how far the outbox may be trimmed: what the log holds and,
 * with journald on, what journald was handed too (the outbox is what
 * trail_open re-sends to journald after a crash, see jd_resend). */
static uint64_t trim_limit(struct engine_audit *a)
{
	uint64_t lim = a->file_seq;
	if (a->jd) {
		pthread_mutex_lock(&a->mu);
		if (a->jd->sent_seq < lim)
			lim = a->jd->sent_seq;
		pthread_mutex_unlock(&a->mu);
	}
	return lim > a->trimmed_seq ? lim : a->trimmed_seq;
}

/* When shipped outbox entries are deleted: once TRIM_EVERY of them wait,
 * or TRIM_SOON once TRIM_PERIOD_US passed since the last trim.  Every
 * audited commit writes the outbox's last leaf and the branch pages above
 * it; a backlog of thousands of ~650-byte records is a subtree of its own
 * that each commit walks and copies, while a trim costs one log
 * fdatasync and one small write txn, a few per second at most. */
#define TRIM_EVERY 4096
#define TRIM_SOON 64
#define TRIM_PERIOD_US 100000
static bool trim_due(const struct engine_audit *a, uint64_t lim)
{
	uint64_t backlog = lim - a->trimmed_seq;
	return backlog >= TRIM_EVERY || (backlog >= TRIM_SOON && mono_us() - a->trim_us >= TRIM_PERIOD_US);
}

/* outbox_commit - ends the pipeline session's write txn that put records
 * in the outbox (rc: how it went so far): committed, its lines handed to
 * the shipper from memory; or rolled back. */
static int outbox_commit(struct engine_audit *a, int rc)
{
	struct hdb_session *s = a->sess;
	if (!rc)
		rc = trail_txn_precommit(s);
	if (rc) {
		txn_abort(s);
		s->ahead_loaded = s->ahead_dirty = false;
		txn_lines_drop(s);
		return rc;
	}
	rc = txn_commit(s);
	s->ahead_loaded = s->ahead_dirty = false;
	if (rc == HDB_OK) {
		pthread_mutex_lock(&a->mu);
		mem_push_locked(a, s);
		pthread_mutex_unlock(&a->mu);
	}
	txn_lines_drop(s);
	return rc;
}

/* One write txn: give queued events their seq, and delete shipped outbox
 * entries when a trim is due (n == 0: only that).  With durability
 * batch/async the log is appended without fdatasync
 * (audit_file_defer_sync): the outbox keeps every record until the log
 * is synced, which happens here, once per trim, not once per batch. */
#define ASSIGN_MAX 4096
static int assign_queued(struct engine_audit *a, struct qev **v, size_t n)
{
	struct hdb_session *s = a->sess;
	uint64_t trim_to = a->trimmed_seq, lim = trim_limit(a);
	if (n == 0 || trim_due(a, lim)) {
		char err[512];
		if (audit_file_sync(a->file, err, sizeof(err)) != HDB_OK) {
			snprintf(a->failmsg, sizeof(a->failmsg), "%s", err);
			return sess_err(s, HDB_EIO, "%s", err);
		}
		trim_to = lim;
	}
	int rc = txn_begin(s, true);
	if (rc)
		return rc;
	txn_lines_drop(s); /* only this txn's lines may become a block */
	if (trim_to > a->trimmed_seq)
		rc = outbox_trim(s, trim_to);
	if (rc) {
		txn_abort(s);
		return rc;
	}
	for (size_t i = 0; i < n && rc == HDB_OK; i++)
		rc = outbox_put(s, &v[i]->ev);
	rc = outbox_commit(a, rc);
	if (rc == HDB_OK) {
		if (trim_to > a->trimmed_seq)
			a->trim_us = mono_us();
		a->trimmed_seq = trim_to;
	}
	return rc;
}

/* Re-reads the log's last record; true when it moved past file_seq
 * (another process sharing the database appended). */
static bool refresh_file_head(struct engine_audit *a)
{
	struct audit_head h;
	char err[512];
	if (audit_file_last(a->file, &h, NULL, err, sizeof(err)) != HDB_OK || h.seq <= a->file_seq)
		return false;
	pthread_mutex_lock(&a->mu);
	a->file_seq = h.seq;
	memcpy(a->file_hash, h.hash, 32);
	pthread_mutex_unlock(&a->mu);
	jd_mark(a, h.seq);
	a->log_starts_empty = false;
	return true;
}

/* check_complete - every record the database's head names is in the log
 * or in the outbox.  One snapshot S: its head, then the log's end F read
 * after S began; an outbox entry in (F, head] missing from S cannot have
 * been trimmed (only what the log holds is), so it is a real gap. */
static int check_complete(struct engine_audit *a, uint64_t *ret_missing, uint64_t *ret_head, uint64_t *ret_file)
{
	struct hdb_session *s = a->sess;
	int rc = txn_begin(s, false);
	if (rc)
		return rc;
	struct audit_head head, f;
	char err[512];
	rc = head_load(s->db, s->txn, &head);
	if (!rc)
		rc = audit_file_last(a->file, &f, NULL, err, sizeof(err));
	*ret_missing = 0;
	*ret_head = head.seq;
	*ret_file = f.seq;
	if (!rc && a->log_starts_empty && f.seq == 0)
		f.seq = a->file_seq;
	if (!rc && head.seq > f.seq) {
		MDB_cursor *c;
		if (mdb_cursor_open(s->txn, s->db->data, &c) == MDB_SUCCESS) {
			unsigned char k0[9] = { OUTBOX_TAG };
			put_u64be(k0 + 1, f.seq + 1);
			MDB_val mk = { sizeof(k0), k0 }, mv;
			uint64_t want = f.seq + 1;
			for (int mrc = mdb_cursor_get(c, &mk, &mv, MDB_SET_RANGE); mrc == MDB_SUCCESS && want <= head.seq;
			     mrc = mdb_cursor_get(c, &mk, &mv, MDB_NEXT)) {
				const unsigned char *kp = mk.mv_data;
				if (mk.mv_size != 9 || kp[0] != OUTBOX_TAG || get_u64be(kp + 1) != want)
					break;
				want++;
			}
			mdb_cursor_close(c);
			if (want <= head.seq)
				*ret_missing = want;
		} else {
			rc = HDB_EIO;
		}
	}
	txn_abort(s);
	return rc;
}

static int block_cmp(const void *x, const void *y)
{
	const struct trail_block *a = *(const struct trail_block *const *)x, *b = *(const struct trail_block *const *)y;
	return a->first < b->first ? -1 : a->first > b->first;
}

/* from_memory - the lines right after the log's last record, from the
 * blocks committed txns left (struct trail_block): HDB_OK with *lines,
 * *ret_last and ret_hash set, or HDB_ENOTFOUND when no block starts there
 * (the caller then reads the outbox).  Blocks the log already holds are
 * freed on the way. */
static int from_memory(struct engine_audit *a, struct buf *lines, struct buf *jents, uint64_t *ret_last,
                       unsigned char ret_hash[32], bool *ret_more)
{
	int rc = HDB_ENOTFOUND;
	pthread_mutex_lock(&a->mu);
	uint64_t next = a->file_seq + 1;
	size_t j = 0;
	for (size_t i = 0; i < a->nmem; i++) {
		if (a->mem[i]->last < next) {
			a->mem_bytes -= a->mem[i]->len + a->mem[i]->jlen;
			free(a->mem[i]);
		} else {
			a->mem[j++] = a->mem[i];
		}
	}
	a->nmem = j;
	if (a->nmem > 1)
		qsort(a->mem, a->nmem, sizeof(*a->mem), block_cmp);
	size_t used = 0;
	while (used < a->nmem && a->mem[used]->first <= next && lines->len < SHIP_MAX_BYTES) {
		struct trail_block *b = a->mem[used];
		const char *p = b->lines, *end = b->lines + b->len;
		if (a->jd && !b->jlen)
			break; /* no entries kept: the outbox path builds them */
		/* skip the records of the block the log already holds */
		for (uint64_t q = b->first; q < next && p < end; q++) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			p = nl ? nl + 1 : end;
		}
		size_t mark = lines->len;
		if (p == end || buf_append(lines, p, (size_t)(end - p)) != HDB_OK)
			break;
		if (a->jd) {
			const unsigned char *e = (const unsigned char *)end, *eend = e + b->jlen;
			uint64_t eseq = 0;
			size_t es;
			while ((es = audit_journal_entry_size(e, (size_t)(eend - e), &eseq)) && eseq < next)
				e += es;
			if (buf_append(jents, e, (size_t)(eend - e)) != HDB_OK) {
				lines->len = mark;
				break;
			}
		}
		*ret_last = b->last;
		memcpy(ret_hash, b->hash, 32);
		next = b->last + 1;
		used++;
		rc = HDB_OK;
	}
	for (size_t i = 0; i < used; i++) {
		a->mem_bytes -= a->mem[i]->len + a->mem[i]->jlen;
		free(a->mem[i]);
	}
	if (used) {
		memmove(a->mem, a->mem + used, (a->nmem - used) * sizeof(*a->mem));
		a->nmem -= used;
	}
	*ret_more = rc == HDB_OK && a->nmem > 0 && a->mem[0]->first == next;
	pthread_mutex_unlock(&a->mu);
	return rc;
}

/* Retention at rotation: the running engine applies audit.retention.days
 * as audit-retention does, in a worker thread (it waits for its anchor
 * records to be shipped, which the shipper cannot do for itself).  A
 * failure is left for the next rotation or the audit-retention verb: the
 * anchors already shipped keep the log verifiable either way. */
static void *retention_worker(void *arg)
{
	struct hdb_db *db = arg;
	struct engine_audit *a = &db->audit;
	struct hdb_session *s = NULL;
	if (sess_open_internal(db, &s) == HDB_OK)
		(void)hdb_audit_retention(s, false, NULL, NULL);
	hdb_session_close(s);
	pthread_mutex_lock(&a->mu);
	a->ret_done = true;
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

static void retention_kick(struct hdb_db *db)
{
	struct engine_audit *a = &db->audit;
	pthread_mutex_lock(&a->mu);
	if (!(a->ret_started && !a->ret_done) && !a->stop && !a->ret_closed) {
		if (a->ret_started)
			pthread_join(a->ret_thr, NULL);   /* finished: it no longer needs mu */
		a->ret_started = a->ret_done = false;
		if (pthread_create(&a->ret_thr, NULL, retention_worker, db) == 0)
			a->ret_started = true;
	}
	pthread_mutex_unlock(&a->mu);
}

/* ------------------------------------------------------------ journald */

/* jd_push - queues the prepared entries of records the log now holds
 * (last: the seq of the last of them).  "required": waits while
 * JD_QUEUE_MAX records wait already (journald is then the pipeline's
 * limit), never while journald is down (the caller fails closed next);
 * "best_effort": a full queue never holds the log back, the entries are
 * counted in journal_failures instead.  HDB_EIO when a required entry
 * cannot be queued. */
static int jd_push(struct engine_audit *a, const struct buf *jents, uint64_t last)
{
	struct trail_journal *j = a->jd;
	size_t count = 0, es;
	for (size_t off = 0; off < jents->len && (es = audit_journal_entry_size(jents->p + off, jents->len - off, NULL));
	     off += es)
		count++;
	if (!count)
		return HDB_OK;
	bool required = a->journald == JD_REQUIRED;
	pthread_mutex_lock(&a->mu);
	if (required)
		while (j->queued >= JD_QUEUE_MAX && !j->down && !j->stop)
			pthread_cond_wait(&j->space, &a->mu);
	bool drop = !required && j->queued > 0 && j->queued + count > JD_QUEUE_MAX;
	pthread_mutex_unlock(&a->mu);
	struct jd_chunk *c = malloc(sizeof(*c) + (drop ? 0 : jents->len));
	pthread_mutex_lock(&a->mu);
	int rc = HDB_OK;
	if (!c || drop) {
		/* a marker keeps sent_seq in order behind the chunks queued */
		a->journal_failures += count;
		if (!c && required) {
			snprintf(a->failmsg, sizeof(a->failmsg), "journald: out of memory for the send queue");
			rc = HDB_EIO;
		}
	}
	if (c) {
		c->next = NULL;
		c->len = drop ? 0 : jents->len;
		c->pos = 0;
		c->last = last;
		c->count = drop ? 0 : count;
		if (!drop)
			memcpy(c->data, jents->p, jents->len);
		if (j->tail)
			j->tail->next = c;
		else
			j->head = c;
		j->tail = c;
		j->queued += c->count;
		pthread_cond_signal(&j->cv);
	}
	pthread_mutex_unlock(&a->mu);
	return rc;
}

/* jd_mark - the log now ends at last because another process sharing the
 * database shipped records (it hands their entries to journald itself):
 * sent_seq moves past them, in order behind what this process queued, so
 * that neither waits for journald (jd_drain, jd_wait_locked) nor trims
 * (trim_limit) stall on entries this process will never send. */
static void jd_mark(struct engine_audit *a, uint64_t last)
{
	struct trail_journal *j = a->jd;
	if (!j)
		return;
	struct jd_chunk *c = calloc(1, sizeof(*c));
	pthread_mutex_lock(&a->mu);
	if (!j->head) {
		/* nothing queued: every entry this process pushed was handed */
		if (j->sent_seq < last)
			j->sent_seq = last;
		pthread_cond_broadcast(&a->progress);
	} else if (c) {
		c->last = last;
		j->tail->next = c;
		j->tail = c;
		c = NULL;
		pthread_cond_signal(&j->cv);
	}
	pthread_mutex_unlock(&a->mu);
	free(c);
}

/* jd_sender - the journald thread: sends queued entries in order, one
 * sd_journal_sendv each.  "best_effort": a failed send is counted and the
 * next entry goes.  "required": the pipeline is failed (the shipper sees
 * jd->down and operations are refused) and the same entry is retried
 * every second until journald takes it, so nothing is skipped; when
 * closing it is counted instead. */
static void *jd_sender(void *arg)
{
	struct engine_audit *a = arg;
	struct trail_journal *j = a->jd;
	char err[256];
	pthread_mutex_lock(&a->mu);
	for (;;) {
		while (!j->head && !j->stop)
			pthread_cond_wait(&j->cv, &a->mu);
		if (!j->head)
			break;
		struct jd_chunk *c = j->head;
		bool stopping = j->stop, down = j->down;
		pthread_mutex_unlock(&a->mu);
		uint64_t failures = 0;
		while (c->pos < c->len) {
			size_t es = audit_journal_entry_size(c->data + c->pos, c->len - c->pos, NULL);
			if (!es) {
				failures++; /* cannot happen: entries are built by us */
				break;
			}
			if (audit_journal_entry_send(c->data + c->pos, es, err, sizeof(err)) == HDB_OK) {
				c->pos += es;
				if (down) {
					pthread_mutex_lock(&a->mu);
					j->down = down = false;
					pthread_cond_signal(&a->wake);
					pthread_mutex_unlock(&a->mu);
				}
				continue;
			}
			if (a->journald != JD_REQUIRED || stopping) {
				failures++;
				c->pos += es;
				continue;
			}
			pthread_mutex_lock(&a->mu);
			if (!j->down) {
				j->down = down = true;
				snprintf(j->err, sizeof(j->err), "%s", err);
				pthread_cond_signal(&a->wake);
				pthread_cond_broadcast(&a->progress);
				pthread_cond_broadcast(&j->space);
			}
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			if (!j->stop)
				pthread_cond_timedwait(&j->cv, &a->mu, &ts);
			stopping = j->stop;
			pthread_mutex_unlock(&a->mu);
		}
		pthread_mutex_lock(&a->mu);
		a->journal_failures += failures;
		j->head = c->next;
		if (!j->head)
			j->tail = NULL;
		j->queued -= c->count;
		if (c->last > j->sent_seq)
			j->sent_seq = c->last;
		free(c);
		pthread_cond_broadcast(&j->space);
		pthread_cond_broadcast(&a->progress);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

static int jd_start(struct engine_audit *a)
{
	struct trail_journal *j = calloc(1, sizeof(*j));
	if (!j)
		return HDB_ENOMEM;
	pthread_cond_init(&j->cv, NULL);
	pthread_cond_init(&j->space, NULL);
	j->sent_seq = a->file_seq;
	a->jd = j;
	if (pthread_create(&j->thr, NULL, jd_sender, a) != 0) {
		pthread_cond_destroy(&j->cv);
		pthread_cond_destroy(&j->space);
		free(j);
		a->jd = NULL;
		return HDB_ERROR;
	}
	j->started = true;
	return HDB_OK;
}

/* jd_stop - sends what is queued (a failure now is counted, not retried)
 * and ends the thread. */
static void jd_stop(struct engine_audit *a)
{
	struct trail_journal *j = a->jd;
	if (!j)
		return;
	pthread_mutex_lock(&a->mu);
	j->stop = true;
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&a->mu);
	if (j->started)
		pthread_join(j->thr, NULL);
	while (j->head) {
		struct jd_chunk *c = j->head;
		j->head = c->next;
		free(c);
	}
	pthread_cond_destroy(&j->cv);
	pthread_cond_destroy(&j->space);
	free(j);
	a->jd = NULL;
}

/* jd_drain - waits until journald was handed every record the log holds,
 * or journald is down: before the last trim of a clean close. */
static void jd_drain(struct engine_audit *a)
{
	struct trail_journal *j = a->jd;
	if (!j)
		return;
	pthread_mutex_lock(&a->mu);
	while (j->sent_seq < a->file_seq && j->head && !j->down && !j->stop)
		pthread_cond_wait(&a->progress, &a->mu);
	pthread_mutex_unlock(&a->mu);
}

/* Whether callers must wait for journald too: durability "sync" with
 * journald "required" acknowledges a record once the log and journald
 * have it. */
static bool jd_ack(const struct engine_audit *a)
{
	return a->jd && a->journald == JD_REQUIRED && a->durability == DUR_SYNC;
}

/* Waits (a->mu held) until journald was handed every record up to seq;
 * HDB_EAUDIT when journald is required and down. */
static int jd_wait_locked(struct engine_audit *a, uint64_t seq)
{
	struct trail_journal *j = a->jd;
	while (j && j->sent_seq < seq && !j->stop && !a->stop) {
		if (j->down && a->journald == JD_REQUIRED)
			return HDB_EAUDIT;
		pthread_cond_wait(&a->progress, &a->mu);
	}
	return HDB_OK;
}

/* Ships outbox records after the log's last one; returns HDB_OK with
 * *ret_more when a batch limit stopped it early. */
static int ship(struct engine_audit *a, bool *ret_more)
{
	struct hdb_session *s = a->sess;
	*ret_more = false;
	if (a->jd && a->journald == JD_REQUIRED) {
		/* fail closed: nothing more reaches the log while journald, which
		 * is required, does not take what the log already has */
		pthread_mutex_lock(&a->mu);
		bool down = a->jd->down;
		if (down)
			snprintf(a->failmsg, sizeof(a->failmsg), "journald: %.480s", a->jd->err);
		pthread_mutex_unlock(&a->mu);
		if (down)
			return HDB_EIO;
	}
	struct buf lines = { 0 }, val = { 0 }, jents = { 0 };
	uint64_t last = a->file_seq;
	unsigned char last_hash[32];
	memcpy(last_hash, a->file_hash, 32);
	int rc = from_memory(a, &lines, &jents, &last, last_hash, ret_more);
	if (rc == HDB_OK)
		goto append;
	buf_free(&lines);
	buf_free(&jents);
	rc = txn_begin(s, false);
	if (rc)
		return rc;
	MDB_cursor *c;
	int mrc = mdb_cursor_open(s->txn, s->db->data, &c);
	if (mrc) {
		txn_abort(s);
		return HDB_EIO;
	}
	unsigned char k0[9] = { OUTBOX_TAG };
	put_u64be(k0 + 1, a->file_seq + 1);
	MDB_val mk = { sizeof(k0), k0 }, mv;
	for (mrc = mdb_cursor_get(c, &mk, &mv, MDB_SET_RANGE); mrc == MDB_SUCCESS;
	     mrc = mdb_cursor_get(c, &mk, &mv, MDB_NEXT)) {
		const unsigned char *kp = mk.mv_data;
		if (mk.mv_size != 9 || kp[0] != OUTBOX_TAG)
			break;
		uint64_t seq = get_u64be(kp + 1);
		if (seq != last + 1) {
			if (last == a->file_seq && refresh_file_head(a)) {
				/* another process shipped (and trimmed) these: start over */
				*ret_more = true;
				break;
			}
			snprintf(a->failmsg, sizeof(a->failmsg), "audit outbox has a gap after seq %llu",
			         (unsigned long long)last);
			rc = HDB_ECORRUPT;
			break;
		}
		rc = sess_open_value(s, kp, mk.mv_size, &mv, &val);
		if (rc)
			break;
		unsigned char h[32], claimed[32];
		if (audit_line_hash(last_hash, (const char *)val.p, val.len, h, claimed) != HDB_OK ||
		    CRYPTO_memcmp(h, claimed, 32) != 0) {
			snprintf(a->failmsg, sizeof(a->failmsg), "audit outbox record %llu does not chain",
			         (unsigned long long)seq);
			rc = HDB_ECORRUPT;
			break;
		}
		if (buf_append(&lines, val.p, val.len)) {
			rc = HDB_ENOMEM;
			break;
		}
		if (a->jd) {
			/* read back from storage: the entry comes from the line */
			char jerr[256];
			if (audit_journal_entry_from_line((const char *)val.p, val.len, &jents, jerr, sizeof(jerr)) != HDB_OK) {
				snprintf(a->failmsg, sizeof(a->failmsg), "audit outbox record %llu: %s",
				         (unsigned long long)seq, jerr);
				rc = HDB_ECORRUPT;
				break;
			}
		}
		last = seq;
		memcpy(last_hash, h, 32);
		if (lines.len >= SHIP_MAX_BYTES) {
			*ret_more = true;
			break;
		}
	}
	mdb_cursor_close(c);
	txn_abort(s);
	buf_free_wipe(&val);
append:
	if (rc || lines.len == 0)
		goto out;
	char err[512] = "", rotated[4200] = "";
	/* append only if the log still ends where we think: another process
	 * sharing this database may have shipped these records already */
	struct audit_head expect = { .seq = a->file_seq }, actual;
	memcpy(expect.hash, a->file_hash, 32);
	if (a->log_starts_empty)
		memset(&expect, 0, sizeof(expect));
	rc = audit_file_append_after(a->file, (const char *)lines.p, lines.len, &expect, &actual, rotated,
	                             sizeof(rotated), err, sizeof(err));
	if (rc == HDB_EBUSY) {
		pthread_mutex_lock(&a->mu);
		a->file_seq = actual.seq;
		memcpy(a->file_hash, actual.hash, 32);
		pthread_mutex_unlock(&a->mu);
		jd_mark(a, actual.seq);
		a->log_starts_empty = false;
		*ret_more = true; /* ship again from where the log really ends */
		rc = HDB_OK;
		goto out;
	}
	if (rc) {
		snprintf(a->failmsg, sizeof(a->failmsg), "%s", err);
		goto out;
	}
	a->log_starts_empty = false;
	pthread_mutex_lock(&a->mu);
	a->file_seq = last;
	memcpy(a->file_hash, last_hash, 32);
	pthread_mutex_unlock(&a->mu);
	if (rotated[0]) {
		/* the rotation is evidence too: its record, then a checkpoint */
		struct buf d = { 0 };
		const char *base = strrchr(rotated, '/');
		audit_detail_begin(&d);
		audit_detail_str(&d, "segment", base ? base + 1 : rotated);
		if (audit_detail_end(&d) == HDB_OK && buf_putc(&d, 0) == HDB_OK) {
			struct audit_event ev = { .type = AUDIT_EV_AUDIT_ROTATE, .outcome = AUDIT_SUCCESS,
				                  .user = "heliosdb", .source_ip = "local",
				                  .application = "heliosdb-audit", .rows_affected = -1,
				                  .encryption_enabled = s->db->encrypted, .detail_json = (const char *)d.p };
			struct qev *q = qev_new(&ev);
			if (q)
				(void)enqueue(a, q, NULL);
		}
		buf_free(&d);
		retention_kick(s->db);
	}
	if (a->jd)
		rc = jd_push(a, &jents, last);
out:
	buf_free_wipe(&lines);
	buf_free_wipe(&jents);
	return rc;
}

static void set_failed(struct engine_audit *a, bool failed)
{
	pthread_mutex_lock(&a->mu);
	if (failed && !a->failed) {
		a->failed = true;
		a->fail_since_us = now_us();
		a->fail_blocked = 0;
	}
	bool recovered = !failed && a->failed;
	int64_t since = a->fail_since_us;
	uint64_t blocked = a->fail_blocked;
	char msg[sizeof(a->failmsg)];
	snprintf(msg, sizeof(msg), "%s", a->failmsg);
	if (recovered)
		a->failed = false;
	pthread_cond_broadcast(&a->progress);
	pthread_mutex_unlock(&a->mu);
	if (recovered) {
		struct buf d = { 0 };
		audit_detail_begin(&d);
		audit_detail_int(&d, "since_us", since);
		audit_detail_int(&d, "until_us", now_us());
		audit_detail_int(&d, "refused_operations", (int64_t)blocked);
		audit_detail_str(&d, "error", msg);
		if (audit_detail_end(&d) == HDB_OK && buf_putc(&d, 0) == HDB_OK) {
			struct audit_event ev = { .type = AUDIT_EV_AUDIT_FAILURE, .outcome = AUDIT_FAILURE,
				                  .error = msg, .user = "heliosdb", .application = "heliosdb-audit",
				                  .rows_affected = -1, .detail_json = (const char *)d.p };
			struct qev *q = qev_new(&ev);
			if (q)
				(void)enqueue(a, q, NULL);
		}
		buf_free(&d);
	}
}

static void *shipper(void *arg)
{
	struct hdb_db *db = arg;
	struct engine_audit *a = &db->audit;
	/* batch/async: a record is durable in the outbox before it is shipped,
	 * so the log needs no fdatasync per batch, only before a trim; sync:
	 * callers wait for the log itself, so every append is synced */
	audit_file_defer_sync(a->file, a->durability != DUR_SYNC);
	pthread_mutex_lock(&a->mu);
	for (;;) {
		bool jd_down = a->jd && a->jd->down && a->journald == JD_REQUIRED;
		bool work = a->nq > 0 || a->want_seq > a->file_seq || a->failed || jd_down;
		if (!work && a->stop)
			break;
		if (!work) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&a->wake, &a->mu, &ts);
			if (a->nq == 0 && a->want_seq <= a->file_seq && !a->failed && !a->stop &&
			    !(a->jd && a->jd->down && a->journald == JD_REQUIRED))
				continue;
		}
		if (a->failed && !a->stop) {
			/* retry once a second */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&a->wake, &a->mu, &ts);
		}
		if (a->durability == DUR_SYNC && a->writers > 0 && !a->stop && !a->failed) {
			/* group commit in sync mode: write txns in flight commit
			 * within about one fsync; waiting for them (bounded) lets
			 * one log fdatasync cover them too, instead of one each */
			struct timespec dl;
			clock_gettime(CLOCK_REALTIME, &dl);
			dl.tv_nsec += SYNC_GROUP_US * 1000L;
			if (dl.tv_nsec >= 1000000000L) {
				dl.tv_sec++;
				dl.tv_nsec -= 1000000000L;
			}
			while (a->writers > 0 && !a->stop && !a->failed)
				if (pthread_cond_timedwait(&a->wake, &a->mu, &dl) != 0)
					break;
		}
		if (a->durability != DUR_SYNC && (a->nq > 0 || a->want_seq > a->file_seq) && a->window_ms &&
		    a->nq < ASSIGN_MAX && !a->stop && !a->failed) {
			/* group commit: the records committed (or queued) during one
			 * window share one log write and one fdatasync; a write's
			 * record is durable in the outbox meanwhile */
			/* group: let a batch window's worth of records gather
			 * (not when a full slice already waits: nothing to gain) */
			pthread_mutex_unlock(&a->mu);
			struct timespec d = { 0, (long)a->window_ms * 1000000L };
			nanosleep(&d, NULL);
			pthread_mutex_lock(&a->mu);
		}
		struct qev **v = a->q;
		size_t n = a->nq;
		a->q = NULL;
		a->nq = a->capq = 0;
		uint64_t top = n ? v[n - 1]->ticket : 0;
		pthread_mutex_unlock(&a->mu);

		/* at most ASSIGN_MAX records per txn: LMDB keeps a txn's dirty
		 * pages in a sorted list (insertion is linear), so one huge txn
		 * costs more per record than a few smaller ones; each slice is
		 * shipped right after its commit */
		int rc = HDB_OK;
		size_t done = 0;
		bool assign_failed = false;
		while (done < n && rc == HDB_OK) {
			size_t k = n - done > ASSIGN_MAX ? ASSIGN_MAX : n - done;
			rc = assign_queued(a, v + done, k);
			if (rc) {
				assign_failed = true;
				break;
			}
			done += k;
			bool more = done < n;
			while (rc == HDB_OK && more && done < n)
				rc = ship(a, &more);
		}
		if (rc && done) {
			/* the committed slices are in the outbox: only the rest goes back */
			for (size_t i = 0; i < done; i++)
				free(v[i]);
			memmove(v, v + done, (n - done) * sizeof(*v));
			n -= done;
		}
		if (rc) {
			/* could not commit them: put them back in front, keep order */
			pthread_mutex_lock(&a->mu);
			struct qev **nv = realloc(v, (n + a->nq) * sizeof(*nv));
			if (nv) {
				memcpy(nv + n, a->q, a->nq * sizeof(*nv));
				free(a->q);
				a->q = nv;
				a->nq += n;
				a->capq = a->nq;
			} else {
				a->dropped += n;
				for (size_t i = 0; i < n; i++)
					free(v[i]);
				free(v);
			}
			if (assign_failed)
				snprintf(a->failmsg, sizeof(a->failmsg), "cannot commit audit records: %.400s",
				         a->sess->errmsg[0] ? a->sess->errmsg : hdb_strerror(rc));
			pthread_mutex_unlock(&a->mu);
			set_failed(a, true);
			pthread_mutex_lock(&a->mu);
			if (a->stop)
				break; /* closing: the queue cannot be committed; counted below */
			continue;
		}
		for (size_t i = 0; i < n; i++)
			free(v[i]);
		free(v);
		bool more = true;
		while (rc == HDB_OK && more)
			rc = ship(a, &more);
		if (rc == HDB_OK && jd_ack(a)) {
			/* sync + required: a queued record is acknowledged once
			 * journald has it too */
			pthread_mutex_lock(&a->mu);
			if (jd_wait_locked(a, a->file_seq) != HDB_OK) {
				snprintf(a->failmsg, sizeof(a->failmsg), "journald: %.480s", a->jd->err);
				rc = HDB_EIO;
			}
			pthread_mutex_unlock(&a->mu);
		}
		/* under a write-only load nothing else trims the outbox: keep the
		 * second copy of the log in the data file small */
		if (rc == HDB_OK && trim_due(a, trim_limit(a)))
			rc = assign_queued(a, NULL, 0);
		set_failed(a, rc != HDB_OK);
		pthread_mutex_lock(&a->mu);
		if (rc == HDB_OK && top > a->done_ticket)
			a->done_ticket = top;
		pthread_cond_broadcast(&a->progress);
		if (a->stop && rc != HDB_OK)
			break; /* closing with a failed sink: the outbox keeps the records */
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

/* ------------------------------------------------------------ open/close */

static int sign_key_load(struct hdb_db *db, MDB_txn *txn, struct engine_audit *a)
{
	MDB_val k = META_KEY("audit_sign"), v;
	unsigned char aad[ENGINE_ID_LEN + 4];
	memcpy(aad, db->id, ENGINE_ID_LEN);
	memcpy(aad + ENGINE_ID_LEN, "asig", 4);
	int mrc = mdb_get(txn, db->meta, &k, &v);
	int rc;
	if (mrc == MDB_SUCCESS) {
		rc = secret_new(32, &a->sign);
		if (rc)
			return rc;
		if (db->encrypted) {
			if (v.mv_size != CRYPTO_WRAPPED_LEN ||
			    crypto_unwrap_key(db->lib, db->master->buf, aad, sizeof(aad), v.mv_data, a->sign->buf) != HDB_OK)
				return db_err(db, HDB_ECORRUPT, "the audit signing key record is corrupt");
		} else {
			if (v.mv_size != 32)
				return db_err(db, HDB_ECORRUPT, "the audit signing key record is malformed");
			memcpy(a->sign->buf, v.mv_data, 32);
		}
		a->sign->len = 32;
		return HDB_OK;
	}
	if (mrc != MDB_NOTFOUND)
		return db_err(db, mdb_to_hdb(mrc), "cannot read the audit signing key: %s", mdb_strerror(mrc));
	unsigned char pub[AUDIT_SIGN_PUB_LEN];
	rc = audit_sign_keygen(&a->sign, pub);
	if (rc)
		return db_err(db, rc, "cannot create the audit signing key");
	unsigned char w[CRYPTO_WRAPPED_LEN];
	if (db->encrypted) {
		rc = crypto_wrap_key(db->lib, db->master->buf, aad, sizeof(aad), a->sign->buf, w);
		if (rc)
			return db_err(db, rc, "cannot wrap the audit signing key");
		return meta_put(db, txn, "audit_sign", 10, w, sizeof(w));
	}
	return meta_put(db, txn, "audit_sign", 10, a->sign->buf, 32);
}

char *trail_default_log_file(const char *dbpath)
{
	struct buf b = { 0 };
	size_t n = strlen(dbpath);
	while (n > 1 && dbpath[n - 1] == '/')
		n--;
	if (buf_append(&b, dbpath, n) || buf_printf(&b, ".audit/audit.log") || buf_putc(&b, 0)) {
		buf_free(&b);
		return NULL;
	}
	return (char *)b.p;
}

static int mkdir_parent(const char *file)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", file);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0750) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

static int64_t interval_s(const char *v)
{
	if (!v || strcmp(v, "none") == 0)
		return 0;
	if (strcmp(v, "hourly") == 0)
		return 3600;
	if (strcmp(v, "weekly") == 0)
		return 7 * 86400;
	return 86400;
}

/* Wrong keys presented while the key was not available to seal records
 * (engine/db.c pending_wrong_key) become "wrong_key" records now, in one
 * write txn that also clears them: none lost, none recorded twice. */
static int pending_to_records(struct engine_audit *a)
{
	struct hdb_session *s = a->sess;
	struct hdb_db *db = s->db;
	int rc = txn_begin(s, true);
	if (rc)
		return rc;
	MDB_val k = META_KEY("audit_pending"), v;
	int mrc = mdb_get(s->txn, db->meta, &k, &v);
	if (mrc == MDB_NOTFOUND) {
		txn_abort(s);
		return HDB_OK;
	}
	struct buf copy = { 0 };
	if (mrc || v.mv_size % 16 || buf_append(&copy, v.mv_data, v.mv_size)) {
		txn_abort(s);
		return sess_err(s, HDB_ECORRUPT, "the pending audit record list is malformed");
	}
	for (size_t off = 0; rc == HDB_OK && off < copy.len; off += 16) {
		uint64_t t = get_u64be(copy.p + off);
		uint32_t uid = get_u32be(copy.p + off + 8), pid = get_u32be(copy.p + off + 12);
		struct passwd *pw = getpwuid((uid_t)uid);
		char user[64], detail[96];
		snprintf(user, sizeof(user), "%s", pw && pw->pw_name ? pw->pw_name : "unknown");
		snprintf(detail, sizeof(detail), "{\"uid\":%u,\"pid\":%u}", uid, pid);
		struct audit_event ev = { .type = AUDIT_EV_WRONG_KEY, .outcome = AUDIT_DENIED,
			                  .error = "wrong encryption key (key check failed; no data was read)",
			                  .user = user, .source_ip = "local", .application = "heliosdb",
			                  .rows_affected = -1, .encryption_enabled = db->encrypted,
			                  .detail_json = detail, .time_us = (int64_t)t };
		rc = outbox_put(s, &ev);
	}
	buf_free(&copy);
	if (!rc && mdb_del(s->txn, db->meta, &k, NULL) != MDB_SUCCESS)
		rc = HDB_EIO;
	if (!rc)
		rc = trail_txn_precommit(s);
	if (rc) {
		txn_abort(s);
		s->ahead_loaded = s->ahead_dirty = false;
		return rc;
	}
	rc = txn_commit(s);
	s->ahead_loaded = s->ahead_dirty = false;
	return rc;
}

/* The first outbox record's seq - 1 and its prev_hash: where a new log
 * must start.  HDB_ENOTFOUND when the outbox is empty. */
static int outbox_first(struct engine_audit *a, uint64_t *ret_seq, unsigned char ret_hash[32])
{
	struct hdb_session *s = a->sess;
	int rc = txn_begin(s, false);
	if (rc)
		return rc;
	struct buf val = { 0 };
	MDB_cursor *c;
	int mrc = mdb_cursor_open(s->txn, s->db->data, &c);
	if (mrc) {
		txn_abort(s);
		return HDB_EIO;
	}
	unsigned char k0[9] = { OUTBOX_TAG };
	MDB_val mk = { sizeof(k0), k0 }, mv;
	rc = HDB_ENOTFOUND;
	mrc = mdb_cursor_get(c, &mk, &mv, MDB_SET_RANGE);
	if (mrc == MDB_SUCCESS && mk.mv_size == 9 && ((unsigned char *)mk.mv_data)[0] == OUTBOX_TAG) {
		uint64_t seq = get_u64be((unsigned char *)mk.mv_data + 1);
		rc = sess_open_value(s, mk.mv_data, mk.mv_size, &mv, &val);
		if (!rc && buf_putc(&val, 0) == HDB_OK) {
			const char *p = strstr((const char *)val.p, "\"prev_hash\":\"");
			if (p && seq > 0 && hex_decode(p + 13, 64, ret_hash, 32) == HDB_OK) {
				*ret_seq = seq - 1;
			} else {
				snprintf(a->failmsg, sizeof(a->failmsg), "outbox record %llu is malformed",
				         (unsigned long long)seq);
				rc = HDB_ECORRUPT;
			}
		}
	}
	mdb_cursor_close(c);
	txn_abort(s);
	buf_free_wipe(&val);
	return rc;
}

/* jd_resend - the journald entries of the outbox records the log already
 * holds (seq <= upto), queued again.  Why: the sender's queue is in memory,
 * so a process killed after a log append but before journald took the
 * entries leaves records in the log that the journal lacks.  The outbox is
 * only trimmed up to what journald was handed (trim_limit), so those
 * records are still in it.  trail_open calls this only when no other
 * process has the database open (a live one may still be sending them),
 * and never after a clean close (which leaves the outbox empty).  At least
 * once: entries journald did get before the crash arrive twice;
 * audit-verify --journal counts them as duplicates, not as findings. */
static int jd_resend(struct engine_audit *a, uint64_t upto)
{
	struct hdb_session *s = a->sess;
	uint64_t next = 0;
	bool first = true;
	struct buf val = { 0 }, jents = { 0 };
	int rc = HDB_OK;
	for (;;) {
		rc = txn_begin(s, false);
		if (rc)
			break;
		MDB_cursor *c;
		int mrc = mdb_cursor_open(s->txn, s->db->data, &c);
		if (mrc) {
			txn_abort(s);
			rc = HDB_EIO;
			break;
		}
		unsigned char k0[9] = { OUTBOX_TAG };
		put_u64be(k0 + 1, next);
		MDB_val mk = { sizeof(k0), k0 }, mv;
		uint64_t last = 0;
		buf_reset(&jents);
		for (mrc = mdb_cursor_get(c, &mk, &mv, MDB_SET_RANGE); mrc == MDB_SUCCESS && jents.len < SHIP_MAX_BYTES;
		     mrc = mdb_cursor_get(c, &mk, &mv, MDB_NEXT)) {
			const unsigned char *kp = mk.mv_data;
			if (mk.mv_size != 9 || kp[0] != OUTBOX_TAG || get_u64be(kp + 1) > upto)
				break;
			uint64_t seq = get_u64be(kp + 1);
			if (first) {
				/* trims wait until journald has been handed these again */
				pthread_mutex_lock(&a->mu);
				if (a->jd->sent_seq > seq - 1)
					a->jd->sent_seq = seq - 1;
				pthread_mutex_unlock(&a->mu);
				first = false;
			}
			char jerr[256];
			rc = sess_open_value(s, kp, mk.mv_size, &mv, &val);
			if (!rc && audit_journal_entry_from_line((const char *)val.p, val.len, &jents, jerr,
			                                         sizeof(jerr)) != HDB_OK) {
				snprintf(a->failmsg, sizeof(a->failmsg), "audit outbox record %llu: %s",
				         (unsigned long long)seq, jerr);
				rc = HDB_ECORRUPT;
			}
			if (rc)
				break;
			last = seq;
		}
		mdb_cursor_close(c);
		txn_abort(s);
		if (rc || last == 0)
			break;
		rc = jd_push(a, &jents, last);
		if (rc || last == upto)
			break;
		next = last + 1;
	}
	buf_free_wipe(&val);
	buf_free(&jents);
	return rc;
}

/* restore_commit - the restored database's first write txn (hdb_restore):
 * the chain continued from the log's last record `adopt` (NULL: the log
 * does not go past the backup), the outbox trimmed of what the log holds,
 * a fresh data key made active, and the "restore_run" record, all in one
 * commit: a restored file that has taken its place in the chain has its
 * record (in the outbox, which the log receives), and vice versa.  The
 * records after the backup's stay in the log (what they describe was
 * undone; restore_run says so). */
static int restore_commit(struct hdb_db *db, const struct audit_head *adopt)
{
	struct engine_audit *a = &db->audit;
	struct engine_restore *r = db->restore;
	struct hdb_session *s = a->sess;
	struct buf d = { 0 };
	int rc = txn_begin(s, true);
	if (rc)
		return rc;
	txn_lines_drop(s);
	if (adopt && (rc = head_store(db, s->txn, adopt)) != HDB_OK)
		(void)sess_err(s, rc, "%s", db->errmsg);
	if (!rc)
		rc = outbox_trim(s, adopt ? adopt->seq : a->file_seq);
	if (!rc && db->encrypted)
		rc = sess_fresh_key(s, &r->data_key);
	if (!rc) {
		audit_detail_begin(&d);
		audit_detail_str(&d, "source", r->source ? r->source : "");
		if (r->source_sha256)
			audit_detail_str(&d, "source_sha256", r->source_sha256);
		audit_detail_str(&d, "sha256", r->sha256 ? r->sha256 : "");
		audit_detail_int(&d, "bytes", (int64_t)r->bytes);
		audit_detail_int(&d, "values_checked", (int64_t)r->values);
		audit_detail_int(&d, "backup_last_seq", (int64_t)r->backup_seq);
		audit_detail_int(&d, "log_last_seq", (int64_t)r->log_seq);
		audit_detail_int(&d, "records_undone",
		                 r->log_seq > r->backup_seq ? (int64_t)(r->log_seq - r->backup_seq) : 0);
		audit_detail_str(&d, "replaced", r->replaced ? r->replaced : "");
		if (r->replaced_head >= 0)
			audit_detail_int(&d, "replaced_audit_head", r->replaced_head);
		if (r->earlier && *r->earlier)
			audit_detail_str(&d, "earlier_replaced_files", r->earlier);
		if (r->data_key)
			audit_detail_int(&d, "data_key", r->data_key);
		rc = audit_detail_end(&d);
		if (!rc)
			rc = buf_putc(&d, 0);
		if (rc)
			rc = sess_err(s, HDB_ENOMEM, "out of memory");
	}
	if (!rc) {
		struct audit_event ev = { .type = AUDIT_EV_RESTORE_RUN, .outcome = AUDIT_SUCCESS, .object = db->path,
			                  .rows_affected = -1, .detail_json = (const char *)d.p,
			                  .encryption_enabled = db->encrypted, .time_us = now_us(),
			                  .user = a->principal_user ? a->principal_user : "heliosdb",
			                  .source_ip = "local", .application = "heliosdb" };
		rc = outbox_put(s, &ev);
		r->record_seq = s->ahead.seq;
	}
	buf_free(&d);
	rc = outbox_commit(a, rc);
	if (rc == HDB_OK) {
		r->done = true;
		r->adopted = adopt != NULL;
	}
	return rc;
}

/* open_lock - flock(LOCK_SH) on the database's audit.lock for as long as
 * the pipeline runs; true when this process is the only one with the
 * database open (it got LOCK_EX first).  A file of the engine's own, which
 * nothing else locks, so the blocking LOCK_SH only ever waits for another
 * opener's LOCK_EX → LOCK_SH conversion (flock converts by unlocking
 * first, so two openers can both think they are alone for that instant:
 * then journald gets some entries twice, never fewer).  Not LMDB's files:
 * its own locks are fcntl locks on lock.mdb. */
static bool open_lock(struct hdb_db *db)
{
	struct engine_audit *a = &db->audit;
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof(path), "%s/" ENGINE_OPEN_LOCK, db->path) >= sizeof(path))
		return false;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0600);
	if (fd < 0)
		return false;
	int r;
	while ((r = flock(fd, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR)
		;
	bool solo = r == 0;
	while ((r = flock(fd, LOCK_SH)) != 0 && errno == EINTR)
		;
	if (r != 0) {
		close(fd);
		return false;
	}
	a->open_fd = fd;
	a->open_locked = true;
	return solo;
}

/* trail_open - starts the pipeline for db (after its keys are loaded):
 * the log file, the signing key and public-key file, recovery of what the
 * outbox holds beyond the log, and the shipper thread. */
int trail_open(struct hdb_db *db, const struct hdb_config *cfg)
{
	struct engine_audit *a = &db->audit;
	if (!cfg->audit_enabled)
		return HDB_OK;
	if (db->rdonly)
		return db_err(db, HDB_EINVAL,
		              "audit is enabled, and its trail is written through the database: open it read-write "
		              "(or set audit.enabled = false)");
	a->log_file = cfg->audit_log_file ? strdup(cfg->audit_log_file) : trail_default_log_file(db->path);
	if (!a->log_file)
		return db_err(db, HDB_ENOMEM, "out of memory");
	size_t n = strlen(a->log_file);
	a->pub_file = malloc(n + 8);
	if (!a->pub_file)
		return db_err(db, HDB_ENOMEM, "out of memory");
	snprintf(a->pub_file, n + 8, "%s.pub", a->log_file);
	const char *dur = cfg->audit_durability ? cfg->audit_durability : "batch";
	a->durability = strcmp(dur, "sync") == 0 ? DUR_SYNC : strcmp(dur, "async") == 0 ? DUR_ASYNC : DUR_BATCH;
	a->window_ms = a->durability == DUR_ASYNC ? 1000 : cfg->audit_batch_window_ms;
	a->block = !cfg->audit_on_failure || strcmp(cfg->audit_on_failure, "continue") != 0;
	const char *jd = cfg->audit_journald ? cfg->audit_journald : "best_effort";
	a->journald = strcmp(jd, "off") == 0 ? JD_OFF : strcmp(jd, "required") == 0 ? JD_REQUIRED : JD_BEST;
	if (a->journald == JD_BEST && !audit_journal_available())
		a->journald = JD_OFF;
	a->checkpoint_every = cfg->audit_checkpoint_every;
	a->retention_days = cfg->retention_days;
	a->log_reads = cfg->log_reads;
	a->log_writes = cfg->log_writes;
	a->log_deletes = cfg->log_deletes;
	a->log_ddl = cfg->log_schema_changes;
	a->log_keys = cfg->log_encryption_events;
	snprintf(a->ctx.db_id, sizeof(a->ctx.db_id), "%s", db->id_hex);
	struct passwd *pw = getpwuid(geteuid());
	a->principal_user = strdup(pw && pw->pw_name ? pw->pw_name : "unknown");
	if (!a->principal_user)
		return db_err(db, HDB_ENOMEM, "out of memory");
	/* tokens for KV keys: a key of its own, derived from the PRF key (so
	 * equal keys correlate across restarts but tokens reveal nothing) */
	int trc = secret_new(32, &a->token_key);
	if (trc)
		return db_err(db, trc, "out of memory");
	static const char label[] = "heliosdb-audit-token-v1";
	if (db->encrypted)
		trc = crypto_hmac_sha256(db->lib, db->prf_key->buf, CRYPTO_KEY_LEN, label, sizeof(label) - 1,
		                         a->token_key->buf);
	else
		trc = crypto_hmac_sha256(db->lib, db->id, ENGINE_ID_LEN, label, sizeof(label) - 1, a->token_key->buf);
	if (trc)
		return db_err(db, trc, "cannot derive the audit token key");
	a->token_key->len = 32;
	if (gethostname(a->ctx.host, sizeof(a->ctx.host) - 1) != 0)
		snprintf(a->ctx.host, sizeof(a->ctx.host), "unknown");
	a->ctx.pid = (long)getpid();
	if (a->journald == JD_REQUIRED && !audit_journal_available())
		return db_err(db, HDB_EAUDIT, "audit.journald = \"required\" but journald is not running "
		                              "(/run/systemd/journal/socket is missing)");

	if (mkdir_parent(a->log_file) != 0)
		return db_err(db, HDB_EIO, "cannot create the audit log directory for '%s': %s", a->log_file,
		              strerror(errno));
	char err[512] = "";
	struct audit_file_opts fo = { a->log_file, (uint64_t)cfg->audit_rotate_size_mb << 20,
		                      interval_s(cfg->audit_rotate_interval) };
	int rc = audit_file_open(&fo, &a->file, err, sizeof(err));
	if (rc)
		return db_err(db, rc == HDB_ENOMEM ? rc : HDB_EAUDIT, "%s", err);
	struct audit_head fh;
	bool torn = false;
	rc = audit_file_last(a->file, &fh, &torn, err, sizeof(err));
	if (rc)
		return db_err(db, HDB_EAUDIT, "%s", err);

	MDB_txn *txn;
	int mrc = mdb_txn_begin(db->env, NULL, 0, &txn);
	if (mrc)
		return db_err(db, mdb_to_hdb(mrc), "cannot begin transaction: %s", mdb_strerror(mrc));
	struct audit_head dh;
	rc = head_load(db, txn, &dh);
	if (!rc)
		rc = sign_key_load(db, txn, a);
	if (rc) {
		mdb_txn_abort(txn);
		return rc;
	}
	mrc = mdb_txn_commit(txn);
	if (mrc)
		return db_err(db, mdb_to_hdb(mrc), "cannot store the audit signing key: %s", mdb_strerror(mrc));
	unsigned char pub[AUDIT_SIGN_PUB_LEN];
	if (audit_sign_public(a->sign, pub) == HDB_OK)
		(void)audit_pubkey_write(a->pub_file, pub, err, sizeof(err));

	/* the log may not be ahead of the database: that is a data file
	 * restored from an older copy (or a log from another database),
	 * unless hdb_restore put it there and the log holds its head */
	bool adopt = false;
	if (db->restore)
		db->restore->log_seq = fh.seq;
	if (db->restore && fh.seq > 0 && fh.seq >= dh.seq) {
		if ((rc = trail_restore_check(db, a->log_file, &dh)) != HDB_OK)
			return rc;
		adopt = fh.seq > dh.seq;
	}
	if (fh.seq > dh.seq && !adopt)
		return db_err(db, HDB_ECORRUPT,
		              "audit log '%s' ends at seq %llu but the database's audit head is %llu: the data file "
		              "is older than its audit log (restored from an older copy?)",
		              a->log_file, (unsigned long long)fh.seq, (unsigned long long)dh.seq);
	if (fh.seq == 0)
		audit_genesis(db->id_hex, &fh);
	a->file_seq = fh.seq;
	memcpy(a->file_hash, fh.hash, 32);

	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->wake, NULL);
	pthread_cond_init(&a->progress, NULL);
	a->sync_init = true;
	bool solo = open_lock(db);
	if (a->journald != JD_OFF && (rc = jd_start(a)) != HDB_OK)
		return db_err(db, rc, "cannot start the journald sender thread");
	a->on = true;
	rc = sess_open_internal(db, &a->sess);
	if (rc) {
		a->on = false;
		return rc;
	}
	rc = pending_to_records(a);
	if (rc) {
		a->on = false;
		return db_err(db, rc, "cannot record earlier wrong-key attempts: %s", a->sess->errmsg);
	}
	/* A new, empty log for a database whose chain began elsewhere (a
	 * restored backup, a log moved or lost): the log starts where the
	 * outbox does, and an anchor record says so.  It is evidence of a gap,
	 * stated in the chain, never hidden: the earlier records are in the
	 * other log. */
	bool continued = false;
	uint64_t cont_seq = 0;
	unsigned char cont_hash[32];
	if (fh.seq == 0 && dh.seq > 0) {
		rc = outbox_first(a, &cont_seq, cont_hash);
		if (rc == HDB_ENOTFOUND) {
			cont_seq = dh.seq;
			memcpy(cont_hash, dh.hash, 32);
			rc = HDB_OK;
		}
		if (rc) {
			a->on = false;
			return db_err(db, rc, "audit outbox: %s", a->failmsg);
		}
		a->file_seq = cont_seq;
		memcpy(a->file_hash, cont_hash, 32);
		a->log_starts_empty = true;
		continued = true;
	}
	if (db->restore && (rc = restore_commit(db, adopt ? &fh : NULL)) != HDB_OK) {
		a->on = false;
		return db_err(db, rc, "cannot record the restore: %s", a->sess->errmsg);
	}
	/* recovery: journald entries a crash may have lost, then what the
	 * outbox holds beyond the log */
	if (a->jd && solo && !continued && (rc = jd_resend(a, a->file_seq)) != HDB_OK) {
		a->on = false;
		return db_err(db, rc, "audit outbox: cannot re-send journald entries: %s", a->failmsg);
	}
	bool more = true;
	while (rc == HDB_OK && more)
		rc = ship(a, &more);
	if (rc) {
		a->on = false;
		return db_err(db, rc == HDB_ECORRUPT ? rc : HDB_EAUDIT, "audit log '%s': %s", a->log_file, a->failmsg);
	}
	uint64_t missing, hseq, fseq;
	rc = check_complete(a, &missing, &hseq, &fseq);
	if (rc) {
		a->on = false;
		return db_err(db, rc, "cannot check the audit log '%s' against the database", a->log_file);
	}
	if (missing) {
		a->on = false;
		return db_err(db, HDB_ECORRUPT,
		              "audit log '%s' ends at seq %llu and record %llu (of the database's %llu) is in neither "
		              "the log nor the outbox: records are missing (log cut short?)",
		              a->log_file, (unsigned long long)fseq, (unsigned long long)missing,
		              (unsigned long long)hseq);
	}
	if (pthread_create(&a->thr, NULL, shipper, db) != 0) {
		a->on = false;
		return db_err(db, HDB_ERROR, "cannot start the audit shipper thread");
	}
	a->thr_started = true;
	if (continued) {
		struct buf d = { 0 };
		char hex[65];
		hex_encode(cont_hash, 32, hex);
		audit_detail_begin(&d);
		audit_detail_str(&d, "segment", "(records up to last_seq are in another log)");
		audit_detail_int(&d, "last_seq", (int64_t)cont_seq);
		audit_detail_str(&d, "last_hash", hex);
		audit_detail_str(&d, "reason", "new log for a database whose audit chain began elsewhere "
		                               "(restored backup or moved log)");
		if (audit_detail_end(&d) == HDB_OK && buf_putc(&d, 0) == HDB_OK)
			trail_security(db, AUDIT_EV_AUDIT_SEGMENT_DELETED, AUDIT_SUCCESS, NULL, NULL, (const char *)d.p);
		buf_free(&d);
	}
	{
		/* the effective configuration, its hash and content (no secrets) */
		char *d = profiles_config_detail(cfg);
		trail_security(db, AUDIT_EV_CONFIG_LOADED, AUDIT_SUCCESS, d ? NULL : "out of memory", NULL, d);
		free(d);
	}
	if (torn)
		trail_security(db, AUDIT_EV_AUDIT_FAILURE, AUDIT_FAILURE,
		               "the log's last line was torn (crash mid-write); it was cut off and re-shipped", NULL, NULL);
	return HDB_OK;
}

/* trail_security - records an engine-level event (open, key loaded, ...)
 * through the pipeline's own session. */
void trail_security(struct hdb_db *db, enum audit_event_type type, enum audit_outcome outcome, const char *error,
                    const char *object, const char *detail_json)
{
	struct engine_audit *a = &db->audit;
	if (!a->on || !wanted(a, type))
		return;
	struct audit_event ev = { .type = type, .outcome = outcome, .error = error, .object = object,
		                  .rows_affected = -1, .detail_json = detail_json,
		                  .encryption_enabled = db->encrypted, .time_us = now_us(),
		                  .user = a->principal_user, .source_ip = "local",
		                  .application = "heliosdb" };
	if (!ev.user)
		ev.user = "heliosdb";
	struct qev *q = qev_new(&ev);
	if (q)
		(void)enqueue(a, q, NULL);
}

__attribute__((weak)) void trail_test_point(int point)
{
	(void)point;
}

/* trail_close - records the stop, a final signed checkpoint, drains the
 * queue and the outbox into the log, and stops the shipper. */
void trail_close(struct hdb_db *db)
{
	struct engine_audit *a = &db->audit;
	/* a retention run in progress needs the shipper: it ends first, and
	 * no rotation starts another one */
	bool join = false;
	if (a->on && a->thr_started) {
		/* ship what is committed while the shipper runs, so that a
		 * rotation it causes gets its retention run too */
		pthread_mutex_lock(&a->mu);
		uint64_t want = a->want_seq;
		pthread_mutex_unlock(&a->mu);
		if (want)
			(void)wait_shipped(a, 0, want);
	}
	if (a->sync_init) {
		pthread_mutex_lock(&a->mu);
		a->ret_closed = true;
		join = a->ret_started;
		a->ret_started = false;
		pthread_mutex_unlock(&a->mu);
	}
	if (join)
		pthread_join(a->ret_thr, NULL);
	if (a->on && a->thr_started) {
		struct buf d = { 0 };
		audit_detail_begin(&d);
		audit_detail_int(&d, "journal_failures", (int64_t)a->journal_failures);
		audit_detail_int(&d, "dropped", (int64_t)a->dropped);
		if (audit_detail_end(&d) == HDB_OK && buf_putc(&d, 0) == HDB_OK)
			trail_security(db, AUDIT_EV_AUDIT_STOP, AUDIT_SUCCESS, NULL, NULL, (const char *)d.p);
		buf_free(&d);
		/* the closing checkpoint: seq assigned by the shipper right after */
		pthread_mutex_lock(&a->mu);
		a->stop = true;
		pthread_cond_signal(&a->wake);
		pthread_mutex_unlock(&a->mu);
		pthread_join(a->thr, NULL);
		/* sign the chain's end */
		if (a->sign && !a->failed) {
			int rc = txn_begin(a->sess, true);
			if (!rc) {
				rc = head_load(db, a->sess->txn, &a->sess->ahead);
				a->sess->ahead_loaded = rc == HDB_OK;
				struct buf cd = { 0 };
				int64_t t = now_us();
				if (!rc)
					rc = audit_checkpoint_detail(a->sign, db->id_hex, &a->sess->ahead, t, &cd);
				if (!rc)
					rc = buf_putc(&cd, 0);
				if (!rc) {
					struct audit_event cp = { .type = AUDIT_EV_CHECKPOINT, .outcome = AUDIT_SUCCESS,
						                  .user = "heliosdb", .application = "heliosdb-audit",
						                  .rows_affected = -1, .encryption_enabled = db->encrypted,
						                  .detail_json = (const char *)cd.p, .time_us = t };
					rc = outbox_put(a->sess, &cp);
				}
				if (!rc)
					rc = trail_txn_precommit(a->sess);
				if (!rc)
					rc = txn_commit(a->sess);
				else
					txn_abort(a->sess);
				a->sess->ahead_loaded = a->sess->ahead_dirty = false;
				buf_free(&cd);
				if (rc == HDB_OK)
					trail_test_point(TRAIL_TP_CLOSE_CHECKPOINTED);
				bool more = true;
				while (rc == HDB_OK && more)
					rc = ship(a, &more);
				/* a clean close leaves an empty outbox (unless journald
				 * is down), and a synced log */
				char serr[512];
				if (rc == HDB_OK)
					rc = audit_file_sync(a->file, serr, sizeof(serr));
				jd_drain(a);
				if (rc == HDB_OK && txn_begin(a->sess, true) == HDB_OK) {
					if (outbox_trim(a->sess, trim_limit(a)) == HDB_OK)
						(void)txn_commit(a->sess);
					else
						txn_abort(a->sess);
				}
			}
		}
	}
	if (a->sync_init)
		jd_stop(a);
	a->on = false;
	if (a->sess) {
		hdb_session_close(a->sess);
		a->sess = NULL;
	}
	for (size_t i = 0; i < a->nq; i++)
		free(a->q[i]);
	free(a->q);
	a->q = NULL;
	a->nq = 0;
	mem_free_all(a);
	audit_file_close(a->file);
	a->file = NULL;
	if (a->open_locked) {
		close(a->open_fd);   /* releases the flock */
		a->open_locked = false;
	}
	secret_free(a->sign);
	a->sign = NULL;
	secret_free(a->token_key);
	a->token_key = NULL;
	free(a->principal_user);
	a->principal_user = NULL;
	free(a->log_file);
	free(a->pub_file);
	a->log_file = a->pub_file = NULL;
	if (a->sync_init) {
		pthread_mutex_destroy(&a->mu);
		pthread_cond_destroy(&a->wake);
		pthread_cond_destroy(&a->progress);
		a->sync_init = false;
	}
}

void trail_kv_object(struct hdb_session *s, enum audit_event_type type, const char *keyspace, const void *key,
                     size_t klen, char *out, size_t outlen)
{
	struct engine_audit *a = &s->db->audit;
	char tok[64] = "?";
	if (!a->on || !wanted(a, type)) {
		/* no record will be made (trail_record drops it): no keyed hash,
		 * no formatting on the data path */
		if (outlen)
			out[0] = '\0';
		return;
	}
	/* the same value as audit_token() (HMAC-SHA-256, first 8 bytes), from
	 * a per-session keyed context: no key schedule per call */
	if (a->on && key && klen && !s->token_prf)
		(void)crypto_prf_new(s->db->lib, a->token_key->buf, &s->token_prf);
	unsigned char t[CRYPTO_PRF_LEN];
	if (s->token_prf && crypto_prf(s->token_prf, key, klen, NULL, 0, t) == HDB_OK)
		hex_encode(t, 8, tok);
	snprintf(out, outlen, "keyspace:%.63s key:%s", keyspace ? keyspace : "?", tok);
}

/* The anchor must be in the log before its segment goes: record, then wait
 * for the shipper whatever the durability mode. */
static int record_and_wait(struct hdb_session *s, struct audit_event *ev)
{
	struct engine_audit *a = &s->db->audit;
	ev->user = s->user;
	ev->source_ip = s->source_addr;
	ev->application = s->application;
	ev->session_id = s->session_id;
	ev->encryption_enabled = s->db->encrypted;
	struct qev *q = qev_new(ev);
	if (!q)
		return sess_err(s, HDB_ENOMEM, "out of memory");
	uint64_t ticket;
	int rc = enqueue(a, q, &ticket);
	if (!rc)
		rc = wait_shipped(a, ticket, 0);
	if (!rc && a->jd) {
		/* as before journald had a thread of its own: the record is
		 * handed to journald too (audit-verify --journal reads both) */
		pthread_mutex_lock(&a->mu);
		rc = jd_wait_locked(a, a->file_seq);
		pthread_mutex_unlock(&a->mu);
	}
	if (!rc && a->failed)
		rc = HDB_EAUDIT;
	if (rc)
		return sess_err(s, rc, "the %s record could not reach the audit log (%s)", audit_event_name(ev->type), a->failmsg);
	return HDB_OK;
}

int hdb_audit_retention(struct hdb_session *s, bool dry_run, hdb_retention_fn fn, void *arg)
{
	if (!s)
		return HDB_EINVAL;
	struct engine_audit *a = &s->db->audit;
	if (!a->on)
		return sess_err(s, HDB_EINVAL, "audit is disabled: there is no log to apply retention to");
	if (s->txn)
		return sess_err(s, HDB_ETXN, "retention cannot run inside a transaction");
	char err[512] = "";
	struct audit_retention_plan *plan = NULL;
	int rc = audit_retention_plan(a->log_file, 0, a->retention_days, &plan, err, sizeof(err));
	if (rc)
		return sess_err(s, rc, "%s", err);
	for (size_t i = 0; i < plan->nkeep; i++) {
		struct hdb_retention_item it = { plan->keep[i].path, plan->keep[i].first_seq, plan->keep[i].last_seq,
			                         false, plan->keep[i].reason };
		if (fn)
			fn(arg, &it);
	}
	for (size_t i = 0; i < plan->ndel && rc == HDB_OK; i++) {
		struct audit_retention_segment *g = &plan->del[i];
		struct hdb_retention_item it = { g->path, g->first_seq, g->last_seq, false, "would delete" };
		if (dry_run) {
			if (fn)
				fn(arg, &it);
			continue;
		}
		struct buf d = { 0 };
		const char *base = strrchr(g->path, '/');
		audit_detail_begin(&d);
		audit_detail_str(&d, "segment", base ? base + 1 : g->path);
		audit_detail_int(&d, "first_seq", (int64_t)g->first_seq);
		audit_detail_int(&d, "last_seq", (int64_t)g->last_seq);
		audit_detail_str(&d, "last_hash", g->last_hash);
		audit_detail_int(&d, "records", (int64_t)g->records);
		audit_detail_int(&d, "retention_days", (int64_t)a->retention_days);
		rc = audit_detail_end(&d);
		if (!rc)
			rc = buf_putc(&d, 0);
		if (!rc) {
			struct audit_event ev = { .type = AUDIT_EV_AUDIT_SEGMENT_DELETED, .outcome = AUDIT_SUCCESS,
				                  .rows_affected = -1, .detail_json = (const char *)d.p };
			rc = record_and_wait(s, &ev);
		}
		buf_free(&d);
		if (!rc) {
			rc = audit_retention_delete_one(g, err, sizeof(err));
			if (rc)
				sess_err(s, rc, "%s", err);
		}
		if (!rc) {
			it.deleted = true;
			it.reason = "deleted";
			if (fn)
				fn(arg, &it);
		}
	}
	audit_retention_plan_free(plan);
	return rc;
}

const char *hdb_audit_log_path(const struct hdb_db *db)
{
	return db && db->audit.log_file ? db->audit.log_file : NULL;
}

const char *hdb_audit_pubkey_path(const struct hdb_db *db)
{
	return db && db->audit.pub_file ? db->audit.pub_file : NULL;
}

/* Finishes detail d (begun by the caller), records one successful event
 * of a tool with it and waits until the record is on disk; frees d. */
static int record_tool_event_as(struct hdb_session *s, enum audit_event_type type, enum audit_outcome outcome,
                                const char *error, const char *object, struct buf *d)
{
	int rc = audit_detail_end(d);
	if (!rc)
		rc = buf_putc(d, 0);
	if (rc) {
		buf_free(d);
		return sess_err(s, HDB_ENOMEM, "out of memory");
	}
	struct audit_event ev = { .type = type, .outcome = outcome, .error = error, .rows_affected = -1,
		                  .object = object, .detail_json = (const char *)d->p, .time_us = now_us() };
	rc = record_and_wait(s, &ev);
	buf_free(d);
	return rc;
}

static int record_tool_event(struct hdb_session *s, enum audit_event_type type, const char *object,
                             struct buf *d)
{
	return record_tool_event_as(s, type, AUDIT_SUCCESS, NULL, object, d);
}

/* hdb_audit_access - one "audit_access" record (PCI DSS 10.2.1.3: access to
 * the audit trail), shipped before the tool reads the log, so that the
 * reading is itself on record. */
int hdb_audit_access(struct hdb_session *s, const char *tool, const char *input)
{
	if (!s || !tool)
		return HDB_EINVAL;
	if (!s->db->audit.on)
		return HDB_OK;
	struct buf d = { 0 };
	audit_detail_begin(&d);
	audit_detail_str(&d, "tool", tool);
	if (input)
		audit_detail_str(&d, "input", input);
	return record_tool_event(s, AUDIT_EV_AUDIT_ACCESS, "audit_log", &d);
}

/* hdb_audit_export - one "export_run" record: what a tool wrote from the
 * database or its log, with the output's SHA-256, on disk before this
 * returns.  The hash then sits in the hash-chained, signed log, so anyone
 * with the public key can prove a report is the one generated, and when. */
/* One export_run record: sha256_hex for a written output, error for one
 * that failed (nothing of it left). */
static int export_record(struct hdb_session *s, const char *tool, const char *output, const char *sha256_hex,
                         const char *what, const char *error)
{
	if (!s || !tool || !output || !(sha256_hex || error))
		return HDB_EINVAL;
	if (!s->db->audit.on)
		return HDB_OK;
	struct buf d = { 0 };
	audit_detail_begin(&d);
	audit_detail_str(&d, "tool", tool);
	audit_detail_str(&d, "output", output);
	if (sha256_hex)
		audit_detail_str(&d, "sha256", sha256_hex);
	if (what)
		audit_detail_str(&d, "what", what);
	return record_tool_event_as(s, AUDIT_EV_EXPORT_RUN, error ? AUDIT_FAILURE : AUDIT_SUCCESS, error, output, &d);
}

int hdb_audit_export(struct hdb_session *s, const char *tool, const char *output, const char *sha256_hex,
                     const char *what)
{
	return sha256_hex ? export_record(s, tool, output, sha256_hex, what, NULL) : HDB_EINVAL;
}

int hdb_audit_export_failed(struct hdb_session *s, const char *tool, const char *output, const char *what,
                            const char *error)
{
	return error ? export_record(s, tool, output, NULL, what, error) : HDB_EINVAL;
}
