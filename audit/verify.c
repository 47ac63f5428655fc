/*
 * verify.c - audit_verify: proves from the log files and a public key alone
 * that no record was changed, removed, inserted or reordered, and finds the
 * first one that was (DESIGN promise 5).
 *
 * What is checked, record by record, in file order (the caller passes the
 * segments oldest first, as audit_segments lists them):
 *   1. the line is one strict JSON object with the members the chain needs
 *      (seq, event_type, db_id, detail, prev_hash, hash last)  AUDIT_BAD_JSON
 *   2. hash = SHA-256(prev_hash || canonical line)              AUDIT_BAD_HASH
 *   3. prev_hash = the hash of the record before it             AUDIT_BAD_LINK
 *   4. seq = the seq before it + 1: more is a gap (records deleted:
 *      AUDIT_SEQ_GAP), less or equal is an insertion or a reordering
 *      (AUDIT_SEQ_BACK)
 *   5. a checkpoint signs exactly the record before it, with the given key
 *                                                          AUDIT_BAD_SIGNATURE
 *   6. at a file boundary, 3 and 4 become AUDIT_MISSING_SEGMENT, naming both
 *      files
 *   7. at the end, every record is covered by a valid checkpoint and the log
 *      ends with a clean stop ("audit_stop", then its checkpoint), or
 *      AUDIT_TRUNCATED: a log cut back to a periodic checkpoint ends without
 *      the stop, so it is caught too.  (A live or crashed log is reported
 *      the same way: nothing can tell those apart from a cut.)
 *
 * Where the chain may start.  seq 1 with prev_hash = genesis(db_id), or at a
 * retention anchor.  THE ANCHOR RULE: when retention deletes a segment it
 * first records an "audit_segment_deleted" event whose detail carries the
 * deleted segment's last_seq and last_hash, in the active segment, i.e.
 * after every deleted one.  Retention deletes a prefix of the segments, so
 * the oldest remaining record is the one right after the newest deleted
 * segment.  A log whose first record has seq N > 1 is accepted only if some
 * later audit_segment_deleted record in the same chain has last_seq = N - 1
 * and last_hash = that first record's prev_hash; otherwise the first finding
 * is AUDIT_MISSING_SEGMENT at the first record.  The anchor is itself a
 * chained record covered by later checkpoints, so it cannot be forged
 * without breaking a signature, and it outlives the segments it names: the
 * segment holding it can only be deleted by a later retention run, which
 * writes a newer anchor for the new oldest segment.
 *
 * Resynchronisation, so one tampering yields one finding rather than a
 * cascade: after a record with a bad hash, a gap or a broken link, checking
 * continues from that record's own seq and claimed hash.  A record whose seq
 * goes back is reported and set aside (the chain stays where it was); if the
 * next record continues from the set-aside one instead, the chain follows it
 * silently (a writer that restarted its numbering is one finding, not
 * thousands).  An unparseable line is reported and skipped.  Checking stops
 * after AUDIT_MAX_FINDINGS findings.
 *
 * Speed.  A full json-c parse builds ~21 objects per record and runs at
 * ~300k records/s here, below the 500k/s target.  So each line is validated
 * by a strict, allocation-free RFC 8259 scanner (audit_jscan, jscan.c:
 * strings eight bytes at a time) that also locates the top-level members;
 * json-c (one reused json_tokener) decodes only what
 * needs decoding: the detail objects of checkpoints and anchors, and any
 * needed string that contains escapes.  Every other byte is covered by the
 * hash anyway.  Lines are read with read() into one buffer (bounded: a line
 * longer than AUDIT_LINE_MAX is reported and skipped), not getline, so
 * memory stays bounded even against a log with no newline at all.
 *
 * Parallel pre-pass.  Everything a record needs that does not depend on the
 * records before it (the scan, seq, prev_hash, and the SHA-256 of the line
 * with its own prev_hash) is computed for a batch of up to BATCH_LINES
 * lines by the calling thread and up to VERIFY_MAX_THREADS - 1 workers,
 * each taking a contiguous slice (pre_record, struct pre).  The chain, the
 * checkpoints and every finding are then worked out by the calling thread
 * alone, line by line in file order, so findings and their order do not
 * depend on the thread count (tests/unit/test_audit_verify.c compares).
 * The SHA-256 is most of the work, so on n CPUs this runs close to n times
 * as fast; memory stays bounded (one read buffer, one batch).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "audit.h"

#define AUDIT_MAX_FINDINGS 1000
#define AUDIT_LINE_MAX (16u << 20)
#define READ_CHUNK (1u << 20)
#define BATCH_LINES 4096        /* lines precomputed at once */
#define VERIFY_MAX_THREADS 8
#define MIN_SLICE 64            /* fewer lines per thread are not worth a wakeup */

const char *audit_problem_name(enum audit_problem p)
{
	switch (p) {
	case AUDIT_OK: return "ok";
	case AUDIT_BAD_JSON: return "malformed record";
	case AUDIT_BAD_HASH: return "modified record (hash mismatch)";
	case AUDIT_BAD_LINK: return "broken chain (prev_hash mismatch)";
	case AUDIT_SEQ_GAP: return "records missing (seq gap)";
	case AUDIT_SEQ_BACK: return "record inserted or reordered (seq goes back)";
	case AUDIT_BAD_SIGNATURE: return "bad checkpoint signature";
	case AUDIT_TRUNCATED: return "unsigned tail (truncated or incomplete)";
	case AUDIT_MISSING_SEGMENT: return "missing segment";
	case AUDIT_JOURNAL_MISSING: return "missing from journal";
	}
	return "unknown problem";
}

/* The members verification needs. */
enum { M_SEQ, M_EVENT_TYPE, M_DB_ID, M_DETAIL, M_PREV_HASH, M_HASH, M__N };
static const char *const member_names[M__N] = { "seq", "event_type", "db_id", "detail", "prev_hash", "hash" };

static int member_index(const char *k, size_t n)
{
	int i;
	switch (n) {   /* by length first: this runs for every member of every line */
	case 3: i = M_SEQ; break;
	case 4: i = M_HASH; break;
	case 5: i = M_DB_ID; break;
	case 6: i = M_DETAIL; break;
	case 9: i = M_PREV_HASH; break;
	case 10: i = M_EVENT_TYPE; break;
	default: return -1;
	}
	return memcmp(member_names[i], k, n) == 0 ? i : -1;
}

/* ------------------------------------------------------------ state */

struct where {
	size_t file;
	uint64_t line;
	uint64_t seq;
};

struct vstate {
	char *const *files;
	const unsigned char *pub;
	char pub_key_id[17];
	audit_finding_fn fn;
	void *arg;
	struct audit_verify_result *res;
	json_tokener *tok;
	char detail[1024];
	bool stopped;                 /* AUDIT_MAX_FINDINGS reached */

	/* the chain */
	bool have_head;
	uint64_t seq;
	unsigned char hash[32];
	bool head_is_stop;            /* the head record is an audit_stop */
	bool have_alt;                /* a set-aside record (seq went back) */
	uint64_t alt_seq;
	unsigned char alt_hash[32];
	char db_id[256];
	struct where head_at;         /* where the head record is */
	size_t head_file;

	/* the start: pending until an anchor names it (seq > 1) */
	bool start_pending;
	unsigned char start_prev[32];
	struct where start_at;

	/* signature coverage */
	bool have_unsigned;           /* records after the last good checkpoint */
	struct where unsigned_at;     /* the first of them */
	uint64_t unsigned_count;
	bool last_is_good_cp;
	bool last_cp_after_stop;
	struct where last_at;
};

static void report(struct vstate *s, enum audit_problem p, const struct where *w, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void report(struct vstate *s, enum audit_problem p, const struct where *w, const char *fmt, ...)
{
	if (s->stopped)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->detail, sizeof(s->detail), fmt, ap);
	va_end(ap);
	struct audit_finding f = {
		.problem = p, .file = s->files[w->file], .line = w->line, .seq = w->seq, .detail = s->detail,
	};
	s->res->findings++;
	if (s->fn)
		s->fn(s->arg, &f);
	if (s->res->findings >= AUDIT_MAX_FINDINGS)
		s->stopped = true;
}

/* get_str - a string member's value, decoded, into out (NUL-terminated).
 * false when absent, not a string, or longer than outlen - 1. */
static bool get_str(struct vstate *s, const struct audit_jval *m, char *out, size_t outlen)
{
	if (!m->v || m->type != '"')
		return false;
	if (!m->esc) {
		if (m->len - 2 >= outlen)
			return false;
		memcpy(out, m->v + 1, m->len - 2);
		out[m->len - 2] = '\0';
		return true;
	}
	json_tokener_reset(s->tok);
	json_object *o = json_tokener_parse_ex(s->tok, m->v, (int)m->len);
	bool ok = false;
	if (o && json_object_is_type(o, json_type_string) && (size_t)json_object_get_string_len(o) < outlen &&
	    strlen(json_object_get_string(o)) == (size_t)json_object_get_string_len(o)) {
		memcpy(out, json_object_get_string(o), (size_t)json_object_get_string_len(o) + 1);
		ok = true;
	}
	json_object_put(o);
	return ok;
}

/* get_seq - a positive integer without sign, fraction or exponent. */
static bool get_seq(const struct audit_jval *m, uint64_t *ret)
{
	if (!m->v || m->type != '0' || m->len == 0 || m->len > 20 || m->v[0] < '1' || m->v[0] > '9')
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < m->len; i++) {
		if (m->v[i] < '0' || m->v[i] > '9')
			return false;
		unsigned d = (unsigned)(m->v[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*ret = v;
	return true;
}

/* hash_plain - a 64-hex string member without escapes: 1, 0 if it is not
 * one, -1 if it has escapes (get_hash decodes those).  Thread-safe. */
static int hash_plain(const struct audit_jval *m, unsigned char out[32])
{
	if (!m->v || m->type != '"')
		return 0;
	if (m->esc)
		return -1;
	return m->len == 66 && audit_hex32(m->v + 1, out);
}

/* get_hash - a 64-hex string member, escapes decoded. */
static bool get_hash(struct vstate *s, const struct audit_jval *m, unsigned char out[32])
{
	int r = hash_plain(m, out);
	if (r >= 0)
		return r == 1;
	char hex[65];
	return get_str(s, m, hex, sizeof(hex)) && strlen(hex) == 64 && audit_hex32(hex, out);
}

/* parse_detail - the detail object with json-c (NULL if not an object). */
static json_object *parse_detail(struct vstate *s, const struct audit_jval *m)
{
	if (!m->v || m->type != '{' || m->len > INT32_MAX)
		return NULL;
	json_tokener_reset(s->tok);
	json_object *o = json_tokener_parse_ex(s->tok, m->v, (int)m->len);
	if (o && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

static const char *dstr(json_object *d, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(d, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static bool dseq(json_object *d, const char *key, uint64_t *ret)
{
	json_object *v;
	if (!json_object_object_get_ex(d, key, &v) || !json_object_is_type(v, json_type_int))
		return false;
	int64_t x = json_object_get_int64(v);
	if (x < 0)
		return false;
	*ret = (uint64_t)x;
	return true;
}

/* check_checkpoint - item 5: true when the checkpoint is good. */
static bool check_checkpoint(struct vstate *s, const struct audit_jval *m, const char *db_id, const struct where *w)
{
	json_object *d = parse_detail(s, &m[M_DETAIL]);
	bool good = false;
	uint64_t sseq;
	const char *shash, *at, *sig, *kid;
	if (!d || !dseq(d, "signed_seq", &sseq) || !(shash = dstr(d, "signed_hash")) ||
	    !(at = dstr(d, "signed_at")) || !(sig = dstr(d, "signature"))) {
		report(s, AUDIT_BAD_SIGNATURE, w, "checkpoint detail is missing signed_seq, signed_hash, signed_at "
		                                  "or signature");
		goto out;
	}
	kid = dstr(d, "key_id");
	char want[65];
	hex_encode(s->hash, 32, want);
	if (!s->have_head || sseq != s->seq || strcmp(shash, want) != 0) {
		report(s, AUDIT_BAD_SIGNATURE, w,
		       "checkpoint signs seq %" PRIu64 " but the record before it is seq %" PRIu64
		       "%s: the records it covers were changed",
		       sseq, s->have_head ? s->seq : 0,
		       s->have_head && sseq == s->seq ? " with a different hash" : "");
		goto out;
	}
	if (audit_checkpoint_check(s->pub, db_id, sseq, shash, at, sig) != HDB_OK) {
		if (kid && strcmp(kid, s->pub_key_id) != 0)
			report(s, AUDIT_BAD_SIGNATURE, w,
			       "signature does not verify: signed by key %.16s, the public key given is %s "
			       "(wrong public key?)", kid, s->pub_key_id);
		else
			report(s, AUDIT_BAD_SIGNATURE, w, "signature over seq %" PRIu64 " does not verify", sseq);
		goto out;
	}
	good = true;
	s->res->checkpoints++;
	s->res->last_signed_seq = sseq;
out:
	json_object_put(d);
	return good;
}

/* check_anchor - an audit_segment_deleted record: does it anchor the start? */
static void check_anchor(struct vstate *s, const struct audit_jval *m)
{
	if (!s->start_pending)
		return;
	json_object *d = parse_detail(s, &m[M_DETAIL]);
	uint64_t last_seq;
	const char *lh;
	unsigned char h[32];
	if (d && dseq(d, "last_seq", &last_seq) && (lh = dstr(d, "last_hash")) && strlen(lh) == 64 &&
	    hex_decode(lh, 64, h, 32) == HDB_OK && last_seq + 1 == s->start_at.seq &&
	    CRYPTO_memcmp(h, s->start_prev, 32) == 0)
		s->start_pending = false;
	json_object_put(d);
}

/* what next_line found */
enum { LINE_OK, LINE_TORN, LINE_TOO_LONG, LINE_EOF, LINE_ERR, LINE_NEED };

/* What one line yields on its own, without the records before it
 * (pre_record, run in parallel); one_record does the rest in file order. */
struct pre {
	const char *line;       /* into the reader's buffer, valid for the batch */
	size_t len;
	uint64_t ln;
	int kind;               /* LINE_OK, LINE_TORN or LINE_TOO_LONG */
	const char *why;        /* audit_jscan's reason, NULL when the line scanned */
	size_t col;
	bool seq_ok;
	int prev_ok;            /* hash_plain of prev_hash: 1, 0, -1 (has escapes) */
	int hash_rc;            /* audit_line_hash, valid when prev_ok == 1 */
	uint64_t seq;
	struct audit_jval m[M__N];
	unsigned char prev[32], calc[32], claimed[32];
};

/* pre_record - the thread-safe part of checking one line. */
static void pre_record(struct pre *p)
{
	if (p->kind != LINE_OK || p->len == 0)
		return;
	p->why = audit_jscan(p->line, p->len, member_index, p->m, M__N, &p->col);
	if (p->why)
		return;
	p->seq_ok = get_seq(&p->m[M_SEQ], &p->seq);
	p->prev_ok = hash_plain(&p->m[M_PREV_HASH], p->prev);
	if (p->prev_ok == 1)
		p->hash_rc = audit_line_hash(p->prev, p->line, p->len, p->calc, p->claimed);
}

/* one_record - items 1 to 6 for one line, after pre_record, in file order. */
static void one_record(struct vstate *s, size_t fi, bool file_first, struct pre *p)
{
	struct where w = { fi, p->ln, 0 };
	if (p->why) {
		report(s, AUDIT_BAD_JSON, &w, "not a record: %s at column %zu", p->why, p->col);
		return;
	}
	char type[256], db_id[256];
	if (!p->seq_ok) {
		report(s, AUDIT_BAD_JSON, &w, "not a record: member 'seq' is missing or not a positive integer");
		return;
	}
	uint64_t seq = p->seq;
	w.seq = seq;
	if (p->prev_ok < 0 && get_hash(s, &p->m[M_PREV_HASH], p->prev)) {
		p->prev_ok = 1;
		p->hash_rc = audit_line_hash(p->prev, p->line, p->len, p->calc, p->claimed);
	}
	if (p->prev_ok != 1 || !p->m[M_HASH].v) {
		report(s, AUDIT_BAD_JSON, &w, "not a record: member 'prev_hash' or 'hash' is missing or malformed");
		return;
	}
	if (!get_str(s, &p->m[M_EVENT_TYPE], type, sizeof(type)) || !get_str(s, &p->m[M_DB_ID], db_id, sizeof(db_id))) {
		report(s, AUDIT_BAD_JSON, &w, "not a record: member 'event_type' or 'db_id' is missing or malformed");
		return;
	}
	if (p->hash_rc != HDB_OK) {
		report(s, AUDIT_BAD_JSON, &w, "not a record: it does not end with the hash member");
		return;
	}
	const unsigned char *prev = p->prev, *calc = p->calc, *claimed = p->claimed;
	const struct audit_jval *m = p->m;
	s->res->records++;
	if (CRYPTO_memcmp(calc, claimed, 32) != 0)
		report(s, AUDIT_BAD_HASH, &w, "the hash does not match the record's content: the record was modified");
	if (!s->db_id[0])
		memcpy(s->db_id, db_id, sizeof(db_id));
	else if (strcmp(s->db_id, db_id) != 0)
		report(s, AUDIT_BAD_LINK, &w, "db_id %s differs from the log's %s: a record of another database", db_id,
		       s->db_id);

	bool at_boundary = file_first && s->have_head && s->head_file != fi;
	if (!s->have_head) {
		/* the start: genesis, or pending an anchor (see the anchor rule) */
		if (seq == 1) {
			struct audit_head g;
			audit_genesis(db_id, &g);
			if (CRYPTO_memcmp(g.hash, prev, 32) != 0)
				report(s, AUDIT_BAD_LINK, &w, "the first record's prev_hash is not the genesis of "
				                              "database %s", db_id);
		} else {
			s->start_pending = true;
			memcpy(s->start_prev, prev, 32);
			s->start_at = w;
		}
		s->res->first_seq = seq;
	} else {
		uint64_t expect = s->seq + 1;
		bool follows = seq == expect && CRYPTO_memcmp(prev, s->hash, 32) == 0;
		if (!follows && s->have_alt && seq == s->alt_seq + 1 && CRYPTO_memcmp(prev, s->alt_hash, 32) == 0) {
			/* continues the set-aside record: follow it (already reported) */
			s->seq = s->alt_seq;
			memcpy(s->hash, s->alt_hash, 32);
			follows = true;
		}
		s->have_alt = false;
		if (follows) {
			/* fine */
		} else if (seq < expect) {
			report(s, AUDIT_SEQ_BACK, &w,
			       "seq %" PRIu64 " after seq %" PRIu64 "%s: a record was inserted or records were "
			       "reordered", seq, s->seq, at_boundary ? " at a segment boundary" : "");
			s->have_alt = true;
			s->alt_seq = seq;
			memcpy(s->alt_hash, claimed, 32);
			return;   /* set aside: the chain stays where it was */
		} else if (at_boundary) {
			report(s, AUDIT_MISSING_SEGMENT, &w,
			       "does not continue '%s' (which ends at seq %" PRIu64 " line %" PRIu64 ")%s: a segment "
			       "between them is missing", s->files[s->head_file], s->seq, s->head_at.line,
			       seq > expect ? "" : " (prev_hash differs)");
		} else if (seq > expect) {
			if (seq - expect == 1)
				report(s, AUDIT_SEQ_GAP, &w, "seq %" PRIu64 " follows seq %" PRIu64 ": record %" PRIu64
				       " is missing (deleted)", seq, s->seq, expect);
			else
				report(s, AUDIT_SEQ_GAP, &w, "seq %" PRIu64 " follows seq %" PRIu64 ": records %" PRIu64
				       "..%" PRIu64 " are missing (deleted)", seq, s->seq, expect, seq - 1);
		} else {
			report(s, AUDIT_BAD_LINK, &w, "prev_hash does not match the hash of the record before it "
			       "(seq %" PRIu64 ", %s line %" PRIu64 ")", s->seq, s->files[s->head_file], s->head_at.line);
		}
	}

	/* the record is now the head */
	bool is_cp = strcmp(type, "checkpoint") == 0;
	bool good_cp = is_cp && check_checkpoint(s, m, db_id, &w);
	if (good_cp) {
		s->have_unsigned = false;
		s->unsigned_count = 0;
		s->last_cp_after_stop = s->head_is_stop;
	} else {
		if (!s->have_unsigned) {
			s->have_unsigned = true;
			s->unsigned_at = w;
		}
		s->unsigned_count++;
	}
	s->last_is_good_cp = good_cp;
	if (!is_cp && strcmp(type, "audit_segment_deleted") == 0)
		check_anchor(s, m);
	s->have_head = true;
	s->seq = seq;
	memcpy(s->hash, claimed, 32);
	s->head_is_stop = strcmp(type, "audit_stop") == 0;
	s->head_at = w;
	s->head_file = fi;
	s->last_at = w;
}

/* ------------------------------------------------------------ reading */

struct reader {
	int fd;
	char *buf;
	size_t cap, start, end;
	bool eof;
	bool skipping;        /* inside an over-long line */
	uint64_t nread;       /* bytes read from every file so far */
};


/* next_line - the next line (without its newline) as *ret_p/ret_len, valid
 * until the next call that reads (may_fill).  LINE_TORN: the file's last
 * bytes, without newline.  LINE_NEED: no whole line is left in the buffer
 * and may_fill is false. */
static int next_line(struct reader *r, bool may_fill, const char **ret_p, size_t *ret_len)
{
	for (;;) {
		char *nl = r->end > r->start ? memchr(r->buf + r->start, '\n', r->end - r->start) : NULL;
		if (nl) {
			size_t ls = r->start;
			r->start = (size_t)(nl - r->buf) + 1;
			if (r->skipping) {
				r->skipping = false;
				continue;
			}
			*ret_p = r->buf + ls;
			*ret_len = (size_t)(nl - r->buf) - ls;
			return LINE_OK;
		}
		if (r->eof) {
			if (r->start == r->end)
				return LINE_EOF;
			*ret_p = r->buf + r->start;
			*ret_len = r->end - r->start;
			r->start = r->end;
			if (r->skipping)
				return LINE_EOF;
			return LINE_TORN;
		}
		if (!may_fill)
			return LINE_NEED;
		if (r->end - r->start > AUDIT_LINE_MAX) {
			bool was = r->skipping;
			r->skipping = true;
			r->start = r->end = 0;
			if (!was)
				return LINE_TOO_LONG;
		}
		if (r->start > 0) {
			memmove(r->buf, r->buf + r->start, r->end - r->start);
			r->end -= r->start;
			r->start = 0;
		}
		if (r->cap - r->end < READ_CHUNK) {
			size_t ncap = r->cap ? r->cap * 2 : 2 * READ_CHUNK;
			char *nb = realloc(r->buf, ncap);
			if (!nb) {
				errno = ENOMEM;
				return LINE_ERR;
			}
			r->buf = nb;
			r->cap = ncap;
		}
		ssize_t got = read(r->fd, r->buf + r->end, r->cap - r->end);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return LINE_ERR;
		}
		if (got == 0)
			r->eof = true;
		r->end += (size_t)got;
		r->nread += (uint64_t)got;
	}
}

/* ------------------------------------------------------------ the workers
 *
 * Fork-join per batch: the caller publishes the batch (gen++), takes slice
 * 0 itself and waits until every worker has acknowledged the generation.
 * Workers only ever write their own slice of the batch.
 */

struct pool;
struct worker {
	struct pool *pl;
	unsigned idx;           /* its slice: 1 .. nth */
	pthread_t th;
};

struct pool {
	pthread_mutex_t mu;
	pthread_cond_t go, done;
	struct worker wk[VERIFY_MAX_THREADS - 1];
	unsigned want;          /* threads to use, the caller included */
	unsigned nth;           /* workers running */
	bool started, quit;
	uint64_t gen;
	unsigned pending;       /* workers yet to finish this generation */
	struct pre *batch;
	size_t n;
	unsigned parts;         /* slices of this batch, the caller's included */
};

static void run_slice(struct pre *b, size_t n, unsigned parts, unsigned i)
{
	size_t lo = n * i / parts, hi = n * (i + 1) / parts;
	for (size_t k = lo; k < hi; k++)
		pre_record(&b[k]);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct pool *pl = w->pl;
	uint64_t seen = 0;
	pthread_mutex_lock(&pl->mu);
	for (;;) {
		while (pl->gen == seen && !pl->quit)
			pthread_cond_wait(&pl->go, &pl->mu);
		if (pl->quit)
			break;
		seen = pl->gen;
		struct pre *b = pl->batch;
		size_t n = pl->n;
		unsigned parts = pl->parts;
		pthread_mutex_unlock(&pl->mu);
		if (w->idx < parts)
			run_slice(b, n, parts, w->idx);
		pthread_mutex_lock(&pl->mu);
		if (--pl->pending == 0)
			pthread_cond_signal(&pl->done);
	}
	pthread_mutex_unlock(&pl->mu);
	return NULL;
}

/* pool_start - the workers, with every signal blocked (the caller's thread
 * handles them).  Fewer than asked if threads cannot be created: the work
 * is the same, only slower. */
static void pool_start(struct pool *pl)
{
	pl->started = true;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 0; i + 1 < pl->want; i++) {
		pl->wk[i].pl = pl;
		pl->wk[i].idx = i + 1;
		if (pthread_create(&pl->wk[i].th, NULL, worker_main, &pl->wk[i]) != 0)
			break;
		pl->nth++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void pool_stop(struct pool *pl)
{
	pthread_mutex_lock(&pl->mu);
	pl->quit = true;
	pthread_cond_broadcast(&pl->go);
	pthread_mutex_unlock(&pl->mu);
	for (unsigned i = 0; i < pl->nth; i++)
		pthread_join(pl->wk[i].th, NULL);
	pl->nth = 0;
}

/* pool_run - pre_record over b[0..n), in parallel when it is worth it. */
static void pool_run(struct pool *pl, struct pre *b, size_t n, size_t min_slice)
{
	unsigned parts = pl->want;
	if (n / min_slice < parts)
		parts = (unsigned)(n / min_slice);
	if (parts > 1 && !pl->started)
		pool_start(pl);
	if (parts > pl->nth + 1)
		parts = pl->nth + 1;
	if (parts <= 1) {
		run_slice(b, n, 1, 0);
		return;
	}
	pthread_mutex_lock(&pl->mu);
	pl->batch = b;
	pl->n = n;
	pl->parts = parts;
	pl->pending = pl->nth;
	pl->gen++;
	pthread_cond_broadcast(&pl->go);
	pthread_mutex_unlock(&pl->mu);
	run_slice(b, n, parts, 0);
	pthread_mutex_lock(&pl->mu);
	while (pl->pending)
		pthread_cond_wait(&pl->done, &pl->mu);
	pthread_mutex_unlock(&pl->mu);
}

/* online_cpus - the CPUs this thread may run on, at least 1. */
static unsigned online_cpus(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

/* ------------------------------------------------------------ the files */

struct batcher {
	struct pool pool;
	struct pre *b;
	size_t cap;             /* lines per batch */
	size_t min_slice;
	void (*progress)(void *arg, uint64_t done, uint64_t total);
	void *progress_arg;
	uint64_t total;         /* bytes in all the files, at the start */
};

static int verify_file(struct vstate *s, struct batcher *bt, size_t fi, struct reader *r, char *err,
                       size_t errlen)
{
	const char *path = s->files[fi];
	r->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (r->fd < 0) {
		errf(err, errlen, "cannot open audit log '%s': %s", path, strerror(errno));
		return HDB_EIO;
	}
	r->start = r->end = 0;
	r->eof = r->skipping = false;
	uint64_t ln = 0;
	bool first = true, eof = false;
	int rc = HDB_OK;
	while (!s->stopped && !eof) {
		/* a batch: the whole lines in the buffer; it is refilled only
		 * while the batch is empty, so the lines stay where they are */
		size_t n = 0;
		while (n < bt->cap) {
			const char *p = NULL;
			size_t len = 0;
			int k = next_line(r, n == 0, &p, &len);
			if (k == LINE_NEED)
				break;
			if (k == LINE_EOF) {
				eof = true;
				break;
			}
			if (k == LINE_ERR) {   /* only when reading, so n == 0 */
				errf(err, errlen, "cannot read audit log '%s': %s", path, strerror(errno));
				rc = errno == ENOMEM ? HDB_ENOMEM : HDB_EIO;
				goto out;
			}
			struct pre *e = &bt->b[n++];
			memset(e, 0, offsetof(struct pre, m));
			e->line = p;
			e->len = len;
			e->ln = ++ln;
			e->kind = k;
		}
		pool_run(&bt->pool, bt->b, n, bt->min_slice);
		for (size_t i = 0; i < n && !s->stopped; i++) {
			struct pre *e = &bt->b[i];
			struct where w = { fi, e->ln, 0 };
			if (e->kind == LINE_TOO_LONG) {
				report(s, AUDIT_BAD_JSON, &w, "not a record: a line longer than %u bytes", AUDIT_LINE_MAX);
				continue;
			}
			if (e->kind == LINE_TORN) {
				report(s, AUDIT_BAD_JSON, &w, "torn last line (%zu bytes, no newline): a write was cut short",
				       e->len);
				continue;
			}
			if (e->len == 0) {
				report(s, AUDIT_BAD_JSON, &w, "empty line");
				continue;
			}
			one_record(s, fi, first, e);
			first = false;
		}
		if (bt->progress)
			bt->progress(bt->progress_arg, r->nread - (r->end - r->start), bt->total);
	}
out:
	close(r->fd);
	r->fd = -1;
	return rc;
}

int audit_verify(char *const *files, size_t nfiles, const unsigned char pub[AUDIT_SIGN_PUB_LEN],
                 audit_finding_fn fn, void *arg, struct audit_verify_result *ret, char *err, size_t errlen)
{
	return audit_verify_ex(files, nfiles, pub, NULL, fn, arg, ret, err, errlen);
}

int audit_verify_ex(char *const *files, size_t nfiles, const unsigned char pub[AUDIT_SIGN_PUB_LEN],
                    const struct audit_verify_opts *o, audit_finding_fn fn, void *arg,
                    struct audit_verify_result *ret, char *err, size_t errlen)
{
	if ((!files && nfiles) || !pub || !ret) {
		errf(err, errlen, "invalid argument");
		return HDB_EINVAL;
	}
	memset(ret, 0, sizeof(*ret));
	struct vstate *s = calloc(1, sizeof(*s));
	struct reader r = { .fd = -1 };
	struct batcher bt = {
		.pool = { .mu = PTHREAD_MUTEX_INITIALIZER, .go = PTHREAD_COND_INITIALIZER,
		          .done = PTHREAD_COND_INITIALIZER },
		.cap = o && o->batch_lines ? o->batch_lines : BATCH_LINES,
		.min_slice = o && o->min_slice ? o->min_slice : MIN_SLICE,
		.progress = o ? o->progress : NULL,
		.progress_arg = o ? o->progress_arg : NULL,
	};
	for (size_t i = 0; bt.progress && i < nfiles; i++) {
		struct stat st;
		if (stat(files[i], &st) == 0 && st.st_size > 0)
			bt.total += (uint64_t)st.st_size;
	}
	unsigned want = o && o->threads ? o->threads : online_cpus();
	bt.pool.want = want > VERIFY_MAX_THREADS ? VERIFY_MAX_THREADS : want;
	int rc = HDB_OK;
	if (!s || !(s->tok = json_tokener_new()) || !(bt.b = calloc(bt.cap, sizeof(*bt.b)))) {
		errf(err, errlen, "out of memory");
		rc = HDB_ENOMEM;
		goto out;
	}
	s->files = files;
	s->pub = pub;
	s->fn = fn;
	s->arg = arg;
	s->res = ret;
	unsigned char kh[32];
	unsigned int khl = 0;
	if (EVP_Digest(pub, AUDIT_SIGN_PUB_LEN, kh, &khl, EVP_sha256(), NULL) != 1) {
		errf(err, errlen, "SHA-256 is unavailable");
		rc = HDB_ECRYPTO;
		goto out;
	}
	hex_encode(kh, 8, s->pub_key_id);

	for (size_t i = 0; i < nfiles && !s->stopped; i++) {
		ret->segments++;
		rc = verify_file(s, &bt, i, &r, err, errlen);
		if (rc)
			goto out;
	}
	ret->last_seq = s->have_head ? s->seq : 0;
	if (s->stopped) {
		errf(err, errlen, "stopped after %d findings", AUDIT_MAX_FINDINGS);
		rc = HDB_ECORRUPT;
		goto out;
	}
	if (nfiles == 0 || !s->have_head) {
		struct where w = { 0, 0, 0 };
		if (nfiles) {
			report(s, AUDIT_TRUNCATED, &w, "the log holds no record");
		} else {
			errf(err, errlen, "no audit log files to verify");
			rc = HDB_ENOTFOUND;
			goto out;
		}
	}
	if (s->start_pending)
		report(s, AUDIT_MISSING_SEGMENT, &s->start_at,
		       "the log starts at seq %" PRIu64 ", and no audit_segment_deleted record anchors it (none names "
		       "last_seq %" PRIu64 " with this record's prev_hash): the segments before '%s' are missing",
		       s->start_at.seq, s->start_at.seq - 1, files[s->start_at.file]);
	if (s->have_unsigned) {
		/* FILE:LINE: seq N names the first unsigned record itself */
		struct where w = s->unsigned_at;
		report(s, AUDIT_TRUNCATED, &w,
		       "records after seq %" PRIu64 " are not covered by a signature: the tail may have been "
		       "truncated or the process crashed (%" PRIu64 " unsigned record%s, seq %" PRIu64 "..%" PRIu64 ")",
		       ret->last_signed_seq, s->unsigned_count, s->unsigned_count == 1 ? "" : "s",
		       s->unsigned_at.seq, s->seq);
	} else if (s->have_head && !s->last_cp_after_stop) {
		struct where w = s->last_at;
		report(s, AUDIT_TRUNCATED, &w,
		       "the log ends at a periodic checkpoint (signing seq %" PRIu64 "), not at a clean stop "
		       "(audit_stop, then a checkpoint): records after it may have been truncated, or the process "
		       "crashed or is still running", ret->last_signed_seq);
	}
	if (ret->findings)
		rc = HDB_ECORRUPT;
	if (rc == HDB_ECORRUPT)
		errf(err, errlen, "%" PRIu64 " finding%s", ret->findings, ret->findings == 1 ? "" : "s");
out:
	pool_stop(&bt.pool);
	free(bt.b);
	free(r.buf);
	if (s)
		json_tokener_free(s->tok);
	free(s);
	return rc;
}
