/*
 * session.c - sessions, transactions, and the seal/open of stored values.
 *
 * Transaction state machine of a session:
 *
 *   NONE --hdb_begin / op_begin(auto)--> OPEN --commit/abort--> NONE
 *                                        OPEN --failed write--> POISONED
 *   POISONED --hdb_abort--> NONE   (every other call: HDB_ETXN)
 *
 * Read transactions are reset, not freed, and renewed for the next read, so
 * an autocommit point read costs no allocation.
 *
 * Sealing writes straight into LMDB's page (MDB_RESERVE): one copy less.
 * Before each seal the active data key's count is checked against the
 * configured maximum; at the maximum a fresh data key is created inside the
 * same transaction (NIST SP 800-38D 8.3: random nonces, at most 2^32
 * invocations per key).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "engine_int.h"

static void wb_release(struct hdb_session *s);

int sess_err(struct hdb_session *s, int rc, const char *fmt, ...)
{
	if (s) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
		va_end(ap);
	}
	return rc;
}

static char *dup_or(const char *p, const char *dflt)
{
	return strdup(p && *p ? p : dflt);
}

static int session_open(struct hdb_db *db, const struct hdb_principal *who, bool internal,
                        struct hdb_session **ret_s);

int hdb_session_open(struct hdb_db *db, const struct hdb_principal *who, struct hdb_session **ret_s)
{
	return session_open(db, who, false, ret_s);
}

/* sess_open_internal - the audit shipper's own session: its operations are
 * the pipeline's, so they are not recorded again. */
int sess_open_internal(struct hdb_db *db, struct hdb_session **ret_s)
{
	struct hdb_principal who = { "heliosdb", "local", "heliosdb-audit" };
	return session_open(db, &who, true, ret_s);
}

static int session_open(struct hdb_db *db, const struct hdb_principal *who, bool internal,
                        struct hdb_session **ret_s)
{
	if (db && db->refused)
		return HDB_ECOMPLIANCE;   /* db->errmsg still says which rule */
	if (!db || !ret_s || !db->env)
		return HDB_EINVAL;
	if (!who || !who->user || !*who->user)
		return db_err(db, HDB_EINVAL, "a session needs a user");
	struct hdb_session *s = calloc(1, sizeof(*s));
	if (!s)
		return HDB_ENOMEM;
	s->db = db;
	s->user = dup_or(who->user, "");
	s->source_addr = dup_or(who->source_addr, "local");
	s->application = dup_or(who->application, "libheliosdb");
	int rc = HDB_ENOMEM;
	if (!s->user || !s->source_addr || !s->application)
		goto out_free;
	if (db->encrypted) {
		rc = crypto_prf_new(db->lib, db->prf_key->buf, &s->prf);
		if (rc)
			goto out_free;
	}
	unsigned char sid[16];
	if (crypto_random(db->lib, sid, sizeof(sid)) != HDB_OK) {
		rc = HDB_ECRYPTO;
		goto out_free;
	}
	hex_encode(sid, sizeof(sid), s->session_id);
	s->internal = internal;
	*ret_s = s;
	if (!s->internal) {
		struct audit_event ev = { .type = AUDIT_EV_LOGIN, .outcome = AUDIT_SUCCESS, .rows_affected = -1 };
		(void)trail_record(s, &ev);
	}
	return HDB_OK;
out_free:
	hdb_session_close(s);
	return rc;
}

static void drop_pending(struct hdb_session *s)
{
	for (size_t i = 0; i < s->npending; i++)
		secret_free(s->pending[i].key);
	s->npending = 0;
	size_t j = 0;
	for (size_t i = 0; i < s->naeads; i++) {
		if (s->aeads[i].pending)
			crypto_aead_free(s->aeads[i].aead);
		else
			s->aeads[j++] = s->aeads[i];
	}
	s->naeads = j;
}

void hdb_session_close(struct hdb_session *s)
{
	if (!s)
		return;
	if (s->txn)
		txn_abort(s);
	trail_writer_leave(s);
	if (!s->internal && s->session_id[0]) {
		struct audit_event ev = { .type = AUDIT_EV_LOGOUT, .outcome = AUDIT_SUCCESS, .rows_affected = -1 };
		(void)trail_record(s, &ev);
	}
	free(s->txn_events);
	buf_free(&s->txn_lines);
	if (s->rtxn_idle)
		mdb_txn_abort(s->rtxn_idle);
	drop_pending(s);
	free(s->pending);
	for (size_t i = 0; i < s->naeads; i++)
		crypto_aead_free(s->aeads[i].aead);
	free(s->aeads);
	crypto_prf_free(s->prf);
	crypto_prf_free(s->token_prf);
	sess_cache_clear(s);
	buf_free_wipe(&s->kbuf);
	buf_free_wipe(&s->vbuf);
	buf_free_wipe(&s->pbuf);
	wb_release(s);
	free(s->user);
	free(s->source_addr);
	free(s->application);
	free(s);
}

const char *hdb_session_errmsg(const struct hdb_session *s)
{
	if (!s)
		return "no session";
	return s->errmsg[0] ? s->errmsg : "no error";
}

static int aead_cache_add(struct hdb_session *s, uint32_t id, bool pending, struct crypto_aead *a)
{
	struct sess_aead *na = realloc(s->aeads, (s->naeads + 1) * sizeof(*na));
	if (!na)
		return HDB_ENOMEM;
	s->aeads = na;
	s->aeads[s->naeads].id = id;
	s->aeads[s->naeads].pending = pending;
	s->aeads[s->naeads].aead = a;
	s->naeads++;
	return HDB_OK;
}

int sess_aead(struct hdb_session *s, uint32_t id, struct crypto_aead **ret)
{
	for (size_t i = 0; i < s->naeads; i++) {
		if (s->aeads[i].id == id) {
			*ret = s->aeads[i].aead;
			return HDB_OK;
		}
	}
	struct crypto_aead *a;
	int rc = db_make_aead(s->db, s->txn, id, &a);
	if (rc)
		return sess_err(s, rc, "%s", s->db->errmsg);
	rc = aead_cache_add(s, id, false, a);
	if (rc) {
		crypto_aead_free(a);
		return rc;
	}
	*ret = a;
	return HDB_OK;
}

/* ------------------------------------------------------------ transactions */

static int load_active(struct hdb_session *s)
{
	struct hdb_db *db = s->db;
	uint32_t id;
	int rc = meta_get_u32(db, s->txn, "active", &id);
	if (rc)
		return sess_err(s, rc, "%s", db->errmsg);
	s->active_id = id;
	s->res_saved = db->res;
	return sess_aead(s, id, &s->active_aead);
}

/* The plaintext of the payloads put (s->pbuf) is not kept past their
 * write txn: wiped at commit and abort, the whole buffer (a shorter last
 * payload leaves the tail of a longer earlier one behind it).  Data, not
 * key material: explicit_bzero (a memset the compiler may not drop, five
 * times faster than OPENSSL_cleanse's byte loop on 16 KiB here). */
static void wipe_payload(struct hdb_session *s)
{
	if (s->db->encrypted && s->pbuf.cap)
		explicit_bzero(s->pbuf.p, s->pbuf.cap);
	buf_reset(&s->pbuf);
}

int txn_begin(struct hdb_session *s, bool write)
{
	struct hdb_db *db = s->db;
	int mrc;
	if (write && db->rdonly)
		return sess_err(s, HDB_EPERM, "database '%s' is open read-only", db->path);
	if (!write && s->rtxn_idle) {
		mrc = mdb_txn_renew(s->rtxn_idle);
		if (mrc == MDB_SUCCESS) {
			s->txn = s->rtxn_idle;
			s->rtxn_idle = NULL;
			s->write = false;
			return HDB_OK;
		}
		mdb_txn_abort(s->rtxn_idle);
		s->rtxn_idle = NULL;
	}
	if (write)
		trail_writer_enter(s);
	mrc = mdb_txn_begin(db->env, NULL, write ? 0 : MDB_RDONLY, &s->txn);
	if (mrc) {
		s->txn = NULL;
		trail_writer_leave(s);
		return sess_err(s, mdb_to_hdb(mrc), "cannot begin transaction: %s", mdb_strerror(mrc));
	}
	s->write = write;
	s->poisoned = false;
	s->append = APPEND_UNKNOWN;
	if (write && db->encrypted) {
		int rc = load_active(s);
		if (rc) {
			mdb_txn_abort(s->txn);
			s->txn = NULL;
			trail_writer_leave(s);
			return rc;
		}
	}
	return HDB_OK;
}

int txn_commit(struct hdb_session *s)
{
	int rc = HDB_OK;
	if (!s->txn)
		return sess_err(s, HDB_ETXN, "no transaction is open");
	if (!s->write) {
		mdb_txn_reset(s->txn);
		if (s->rtxn_idle)
			mdb_txn_abort(s->rtxn_idle);
		s->rtxn_idle = s->txn;
		s->txn = NULL;
		return HDB_OK;
	}
	rc = sess_flush_writes(s);
	if (!rc)
		rc = trail_txn_precommit(s);
	if (rc) {
		txn_abort(s);
		return rc;
	}
	db_grow(s->db);
	int mrc = mdb_txn_commit(s->txn);
	s->txn = NULL;
	s->poisoned = false;
	wipe_payload(s);
	if (mrc) {
		s->db->res = s->res_saved;
		drop_pending(s);
		if (!s->internal)
			(void)trail_txn_end(s, false);
		return sess_err(s, mdb_to_hdb(mrc), "commit failed: %s", mdb_strerror(mrc));
	}
	for (size_t i = 0; i < s->npending; i++)
		db_publish_dek(s->db, &s->pending[i]);
	s->npending = 0;
	for (size_t i = 0; i < s->naeads; i++)
		s->aeads[i].pending = false;
	if (!s->internal)
		rc = trail_txn_end(s, true);
	return rc;
}

void txn_abort(struct hdb_session *s)
{
	if (!s->txn)
		return;
	if (!s->write) {
		mdb_txn_reset(s->txn);
		if (s->rtxn_idle)
			mdb_txn_abort(s->rtxn_idle);
		s->rtxn_idle = s->txn;
	} else {
		sess_drop_writes(s);
		wipe_payload(s);
		mdb_txn_abort(s->txn);
		if (s->db->encrypted)
			s->db->res = s->res_saved;
		drop_pending(s);
		/* schemas read in this txn may describe tables it created */
		sess_cache_clear(s);
	}
	MDB_txn *was = s->txn;
	s->txn = NULL;
	s->poisoned = false;
	if (was && s->write && !s->internal)
		(void)trail_txn_end(s, false);
}

int op_begin(struct hdb_session *s, bool write, struct op *op)
{
	if (!s)
		return HDB_EINVAL;
	s->errmsg[0] = '\0';
	op->auto_txn = false;
	int rc = trail_check(s);
	if (rc)
		return rc;
	if (s->poisoned)
		return sess_err(s, HDB_ETXN, "the transaction failed earlier; abort it with hdb_abort()");
	if (s->txn) {
		if (write && !s->write)
			return sess_err(s, HDB_ETXN, "cannot write in a read-only transaction");
		/* everything but another buffered put sees the buffered ones */
		if (s->nwb && !op->buffered) {
			rc = sess_flush_writes(s);
			if (rc) {
				s->poisoned = true;
				return rc;
			}
		}
		return HDB_OK;
	}
	rc = txn_begin(s, write);
	if (rc == HDB_OK)
		op->auto_txn = true;
	return rc;
}

static enum audit_outcome outcome_of(int rc)
{
	if (rc == HDB_OK)
		return AUDIT_SUCCESS;
	return rc == HDB_EPERM || rc == HDB_EAUDIT || rc == HDB_ECOMPLIANCE ? AUDIT_DENIED : AUDIT_FAILURE;
}

static void op_event(struct hdb_session *s, const struct op *op, int rc, char *errcopy, size_t errlen,
                     struct audit_event *ev)
{
	if (rc)
		snprintf(errcopy, errlen, "%s", s->errmsg[0] ? s->errmsg : hdb_strerror(rc));
	*ev = (struct audit_event){ .type = op->type, .outcome = outcome_of(rc), .error = rc ? errcopy : NULL,
		                    .table = op->table, .object = op->object[0] ? op->object : NULL,
		                    .rows_affected = op->rows };
}

/* op_end - ends one data call: its record (to the txn's outbox when the
 * call wrote, else queued), then the autocommit commit or rollback.  A
 * write is never committed when its record could not be written. */
int op_end(struct hdb_session *s, struct op *op, int rc)
{
	char err[sizeof(s->errmsg)];
	struct audit_event ev;
	if (op->auto_txn) {
		op->auto_txn = false;
		if (rc == HDB_OK && s->write) {
			op_event(s, op, rc, err, sizeof(err), &ev);
			rc = trail_record(s, &ev);
			if (rc) {
				txn_abort(s);
				return rc;
			}
			return txn_commit(s);
		}
		if (rc == HDB_OK)
			rc = txn_commit(s);
		else
			txn_abort(s);
		op_event(s, op, rc, err, sizeof(err), &ev);
		int trc = trail_record(s, &ev);
		if (rc == HDB_OK && trc)
			rc = trc;
		else if (rc)
			snprintf(s->errmsg, sizeof(s->errmsg), "%s", err);
		return rc;
	}
	if (!s->txn)
		return op_fail(s, op, rc);
	if (rc != HDB_OK && s->write && rc != HDB_ENOTFOUND && rc != HDB_EINVAL && rc != HDB_ECONSTRAINT &&
	    rc != HDB_EEXIST)
		s->poisoned = true;
	op_event(s, op, rc, err, sizeof(err), &ev);
	int trc = trail_record(s, &ev);
	if (rc)
		snprintf(s->errmsg, sizeof(s->errmsg), "%s", err);
	return rc ? rc : trc;
}

int op_fail(struct hdb_session *s, struct op *op, int rc)
{
	if (!s)
		return rc;
	char err[sizeof(s->errmsg)];
	struct audit_event ev;
	op_event(s, op, rc, err, sizeof(err), &ev);
	(void)trail_record(s, &ev);
	snprintf(s->errmsg, sizeof(s->errmsg), "%s", err);
	return rc;
}

int hdb_begin(struct hdb_session *s, unsigned flags)
{
	if (!s)
		return HDB_EINVAL;
	struct op op = OP_INIT(AUDIT_EV_TXN_BEGIN, NULL);
	s->errmsg[0] = '\0';
	if (s->txn)
		return op_fail(s, &op, sess_err(s, HDB_ETXN, "a transaction is already open in this session"));
	int rc = trail_check(s);
	if (!rc)
		rc = txn_begin(s, !(flags & HDB_TXN_RDONLY));
	if (rc)
		return op_fail(s, &op, rc);
	s->explicit_txn = true;
	snprintf(op.object, sizeof(op.object), "%s", flags & HDB_TXN_RDONLY ? "read-only" : "read-write");
	return op_end(s, &op, HDB_OK);
}

int hdb_commit(struct hdb_session *s)
{
	if (!s)
		return HDB_EINVAL;
	struct op op = OP_INIT(AUDIT_EV_TXN_COMMIT, NULL);
	s->errmsg[0] = '\0';
	if (!s->txn || !s->explicit_txn)
		return op_fail(s, &op, sess_err(s, HDB_ETXN, "no transaction is open"));
	s->explicit_txn = false;
	if (s->poisoned) {
		txn_abort(s);
		return op_fail(s, &op, sess_err(s, HDB_ETXN, "the transaction failed earlier and was rolled back"));
	}
	struct audit_event ev = { .type = AUDIT_EV_TXN_COMMIT, .outcome = AUDIT_SUCCESS, .rows_affected = -1 };
	if (s->write) {
		/* the commit's record rides the commit itself; should the commit
		 * fail, trail_txn_end() records it again as a failure */
		int rc = trail_record(s, &ev);
		if (rc) {
			txn_abort(s);
			return rc;
		}
		return txn_commit(s);
	}
	int rc = txn_commit(s);
	(void)trail_record(s, &ev);
	return rc;
}

int hdb_abort(struct hdb_session *s)
{
	if (!s)
		return HDB_EINVAL;
	struct op op = OP_INIT(AUDIT_EV_TXN_ABORT, NULL);
	s->errmsg[0] = '\0';
	if (!s->txn || !s->explicit_txn)
		return op_fail(s, &op, sess_err(s, HDB_ETXN, "no transaction is open"));
	s->explicit_txn = false;
	txn_abort(s);
	struct audit_event ev = { .type = AUDIT_EV_TXN_ABORT, .outcome = AUDIT_SUCCESS, .rows_affected = -1 };
	(void)trail_record(s, &ev);
	return HDB_OK;
}

/* ------------------------------------------------------------ seal / open */

int sess_hash(struct hdb_session *s, const void *a, size_t alen, const void *b, size_t blen,
              unsigned char *out, size_t *ret_len)
{
	if (s->db->encrypted) {
		int rc = crypto_prf(s->prf, a, alen, b, blen, out);
		if (rc)
			return sess_err(s, rc, "keyed hash failed");
		*ret_len = CRYPTO_PRF_LEN;
		return HDB_OK;
	}
	if (alen + blen <= ENGINE_MAX_PLAIN_KEY) {
		memcpy(out, a, alen);
		if (blen)
			memcpy(out + alen, b, blen);
		*ret_len = alen + blen;
		return HDB_OK;
	}
	/* plaintext mode, long input: an unkeyed digest (nothing is secret here) */
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int n = 0;
	int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) && EVP_DigestUpdate(c, a, alen) &&
	         EVP_DigestUpdate(c, b, blen) && EVP_DigestFinal_ex(c, out, &n);
	EVP_MD_CTX_free(c);
	if (!ok)
		return sess_err(s, HDB_ECRYPTO, "digest failed");
	*ret_len = n;
	return HDB_OK;
}

/* Creates a fresh data key in this txn and makes it the active one. */
static int switch_key(struct hdb_session *s)
{
	struct hdb_db *db = s->db;
	struct engine_dek *np = realloc(s->pending, (s->npending + 1) * sizeof(*np));
	if (!np)
		return sess_err(s, HDB_ENOMEM, "out of memory");
	s->pending = np;
	struct engine_dek d;
	int rc = db_new_dek(db, s->txn, &d);
	if (rc)
		return sess_err(s, rc, "cannot create a data key: %s", db->errmsg);
	struct crypto_aead *a;
	rc = crypto_aead_new(db->lib, d.key->buf, &a);
	if (!rc) {
		rc = aead_cache_add(s, d.id, true, a);
		if (rc)
			crypto_aead_free(a);
	}
	if (rc) {
		secret_free(d.key);
		return sess_err(s, rc, "cannot set up data key");
	}
	s->pending[s->npending++] = d;
	s->active_id = d.id;
	s->active_aead = a;
	char obj[32];
	snprintf(obj, sizeof(obj), "data-key:%u", d.id);
	trail_security(db, AUDIT_EV_DATA_KEY_SWITCH, AUDIT_SUCCESS, NULL, obj, NULL);
	return HDB_OK;
}

int sess_fresh_key(struct hdb_session *s, uint32_t *ret_id)
{
	bool own = !s->txn;
	int rc = own ? txn_begin(s, true) : s->write ? HDB_OK : sess_err(s, HDB_ETXN, "a read-only transaction is open");
	if (rc)
		return rc;
	rc = switch_key(s);
	if (rc) {
		if (own)
			txn_abort(s);
		return rc;
	}
	*ret_id = s->active_id;
	return own ? txn_commit(s) : HDB_OK;
}

/* reserve - takes the next block of seal counts of the active data key,
 * switching to a fresh key when the active one has reached the maximum
 * (NIST SP 800-38D 8.3).  In the current write txn. */
static int reserve(struct hdb_session *s)
{
	struct hdb_db *db = s->db;
	unsigned char rec[DEK_REC_LEN], mk[7];
	int rc = meta_dek_get(db, s->txn, s->active_id, rec);
	if (rc)
		return sess_err(s, rc, "%s", db->errmsg);
	uint64_t r = get_u64be(rec + 9);
	if (r >= db->max_encryptions) {
		rc = switch_key(s);
		if (rc)
			return rc;
		rc = meta_dek_get(db, s->txn, s->active_id, rec);
		if (rc)
			return sess_err(s, rc, "%s", db->errmsg);
		r = get_u64be(rec + 9);
	}
	uint64_t end = db->max_encryptions - r > ENGINE_COUNT_BLOCK ? r + ENGINE_COUNT_BLOCK : db->max_encryptions;
	put_u64be(rec + 9, end);
	dek_meta_key(s->active_id, mk);
	rc = meta_put(db, s->txn, mk, sizeof(mk), rec, sizeof(rec));
	if (rc)
		return sess_err(s, rc, "%s", db->errmsg);
	db->res.key = s->active_id;
	db->res.next = r;
	db->res.end = end;
	return HDB_OK;
}

static size_t build_aad(const struct hdb_db *db, const unsigned char *hdr, const unsigned char *k,
                        size_t klen, unsigned char *aad)
{
	memcpy(aad, db->id, ENGINE_ID_LEN);
	memcpy(aad + ENGINE_ID_LEN, hdr, ENGINE_SEAL_HDR);
	memcpy(aad + ENGINE_ID_LEN + ENGINE_SEAL_HDR, k, klen);
	return ENGINE_ID_LEN + ENGINE_SEAL_HDR + klen;
}

/* seal_ready - a seal count of the active data key is reserved for the next
 * seal_into (taking a new block, or switching keys, in this txn).  Called
 * before mdb_put(MDB_RESERVE): reserve() writes to LMDB too. */
static int seal_ready(struct hdb_session *s)
{
	struct hdb_db *db = s->db;
	if (db->res.key != s->active_id || db->res.next >= db->res.end)
		return reserve(s);
	return HDB_OK;
}

/* seal_into - version, key id, nonce, ciphertext and tag of the payload
 * (the concatenation of parts, n bytes in all), bound to LMDB key k, into o
 * (ENGINE_SEAL_OVERHEAD + n bytes).  After seal_ready. */
static int seal_into(struct hdb_session *s, const unsigned char *k, size_t klen, const struct crypto_part *parts,
                     size_t nparts, size_t n, unsigned char *o)
{
	struct hdb_db *db = s->db;
	o[0] = ENGINE_SEAL_VERSION;
	put_u32be(o + 1, s->active_id);
	int rc = crypto_nonce(db->lib, o + ENGINE_SEAL_HDR);
	if (rc)
		return sess_err(s, rc, "cannot draw a nonce");
	unsigned char aad[ENGINE_ID_LEN + ENGINE_SEAL_HDR + ENGINE_MAX_LMDB_KEY];
	size_t aadlen = build_aad(db, o, k, klen, aad);
	unsigned char *ct = o + ENGINE_SEAL_HDR + CRYPTO_NONCE_LEN;
	rc = crypto_aead_seal_parts(s->active_aead, o + ENGINE_SEAL_HDR, aad, aadlen, parts, nparts, ct, ct + n);
	if (rc)
		return sess_err(s, rc, "encryption failed");
	db->res.next++;
	return HDB_OK;
}

/* past_end - whether key k sorts after every key of the data tree, and
 * the tree's end is sound enough to append at (MDB_APPEND).  LMDB trusts
 * its page headers: a damaged last leaf can report a last key that is not
 * there, and appending into that page would lose writes.  So the last key
 * must be one a search finds; if not, the caller uses ordinary puts, which
 * meet the damage as they always did.  No value is read (data NULL), and
 * the first probe is an ordinary search for k, whose path a put of k walks
 * anyway.  HDB_OK with *ret (true: append; the tree's last key is then
 * in last, *ret_lastlen bytes, 0 for an empty tree), or an LMDB error (the
 * txn is then unusable, as LMDB marks it). */
static int past_end(struct hdb_session *s, MDB_cursor *c, const unsigned char *k, size_t klen, bool *ret,
                    unsigned char last[ENGINE_MAX_LMDB_KEY], size_t *ret_lastlen)
{
	unsigned char q[ENGINE_MAX_LMDB_KEY];
	*ret = false;
	*ret_lastlen = 0;
	if (klen == 0 || klen > sizeof(q))
		return HDB_OK;
	memcpy(q, k, klen);
	MDB_val mk = { klen, q };
	int mrc = mdb_cursor_get(c, &mk, NULL, MDB_SET_RANGE);
	if (mrc == MDB_SUCCESS)
		return HDB_OK; /* a key at or after k exists */
	if (mrc != MDB_NOTFOUND)
		return sess_err(s, mdb_to_hdb(mrc), "cannot write: %s", mdb_strerror(mrc));
	mrc = mdb_cursor_get(c, &mk, NULL, MDB_LAST);
	if (mrc == MDB_NOTFOUND) {
		*ret = true; /* an empty tree */
		return HDB_OK;
	}
	if (mrc)
		return sess_err(s, mdb_to_hdb(mrc), "cannot write: %s", mdb_strerror(mrc));
	if (mk.mv_size == 0 || mk.mv_size > sizeof(q))
		return HDB_OK;
	memcpy(q, mk.mv_data, mk.mv_size);
	mk.mv_data = q;
	const MDB_val want = { klen, (void *)k };
	if (mdb_cmp(s->txn, s->db->data, &want, &mk) <= 0)
		return HDB_OK;
	mrc = mdb_cursor_get(c, &mk, NULL, MDB_SET);
	if (mrc == MDB_SUCCESS) {
		*ret = true;
		memcpy(last, q, mk.mv_size);
		*ret_lastlen = mk.mv_size;
	} else if (mrc != MDB_NOTFOUND)
		return sess_err(s, mdb_to_hdb(mrc), "cannot write: %s", mdb_strerror(mrc));
	return HDB_OK;
}

/* sess_put_parts - sess_put_sealed of the concatenation of parts (n bytes),
 * sealed or copied straight into LMDB's page.  PUT_TRY_APPEND: the put is
 * one of many in a txn; while their keys keep sorting past the tree's end
 * (a keyspace loaded in key order) they are appended, MDB_APPEND skipping
 * the search; the first that does not ends the try for the txn. */
#define PUT_TRY_APPEND 0x80000000u
_Static_assert((PUT_TRY_APPEND & (MDB_NOOVERWRITE | MDB_NODUPDATA | MDB_CURRENT | MDB_RESERVE | MDB_APPEND |
                                  MDB_APPENDDUP | MDB_MULTIPLE)) == 0,
               "PUT_TRY_APPEND must not be an LMDB put flag");
static int sess_put_parts(struct hdb_session *s, const unsigned char *k, size_t klen,
                          const struct crypto_part *parts, size_t nparts, size_t n, unsigned flags)
{
	struct hdb_db *db = s->db;
	int rc;
	if (klen > ENGINE_MAX_LMDB_KEY)
		return sess_err(s, HDB_EINVAL, "internal key too long");
	if (n > ((size_t)1 << 31))
		return sess_err(s, HDB_EINVAL, "value too large (%zu bytes)", n);
	if (db->encrypted && (rc = seal_ready(s)) != HDB_OK)
		return rc;
	MDB_val mk = { klen, (void *)k };
	MDB_val mv = { db->encrypted ? ENGINE_SEAL_OVERHEAD + n : 1 + n, NULL };
	bool try_append = (flags & PUT_TRY_APPEND) && s->append != APPEND_OFF;
	flags &= ~PUT_TRY_APPEND;
	if (try_append && s->append == APPEND_UNKNOWN) {
		/* the txn's first try: is the tree's end there, and sound? */
		MDB_cursor *c;
		bool yes = false;
		unsigned char last[ENGINE_MAX_LMDB_KEY];
		size_t lastlen;
		int mrc = mdb_cursor_open(s->txn, db->data, &c);
		if (mrc)
			return sess_err(s, mdb_to_hdb(mrc), "cannot open cursor: %s", mdb_strerror(mrc));
		rc = past_end(s, c, k, klen, &yes, last, &lastlen);
		mdb_cursor_close(c);
		if (rc)
			return rc;
		s->append = yes ? APPEND_ON : APPEND_OFF;
		try_append = yes;
	}
	int mrc = try_append ? mdb_put(s->txn, db->data, &mk, &mv, flags | MDB_APPEND | MDB_RESERVE) : MDB_KEYEXIST;
	if (mrc == MDB_KEYEXIST) {
		if (try_append)
			s->append = APPEND_OFF;
		mrc = mdb_put(s->txn, db->data, &mk, &mv, flags | MDB_RESERVE);
	}
	if (mrc == MDB_KEYEXIST)
		return sess_err(s, HDB_EEXIST, "already exists");
	if (mrc)
		return sess_err(s, mdb_to_hdb(mrc), "cannot write: %s", mdb_strerror(mrc));
	unsigned char *o = mv.mv_data;
	if (!db->encrypted) {
		o[0] = ENGINE_PLAIN_VERSION;
		o++;
		for (size_t i = 0; i < nparts; i++) {
			if (parts[i].n)
				memcpy(o, parts[i].p, parts[i].n);
			o += parts[i].n;
		}
		return HDB_OK;
	}
	return seal_into(s, k, klen, parts, nparts, n, o);
}

int sess_put_sealed(struct hdb_session *s, const unsigned char *k, size_t klen, const void *payload,
                    size_t n, unsigned flags)
{
	const struct crypto_part one = { payload, n };
	return sess_put_parts(s, k, klen, &one, 1, n, flags);
}

/* ------------------------------------------------------- buffered writes
 *
 * Why.  In an encrypted database an LMDB key is a tag, an id and a keyed
 * hash, so however ordered the caller's keys are, they reach LMDB in random
 * order: each insert lands on a random leaf, splits it in the middle and
 * touches a cold page, and the tree ends up half-filled and scattered in
 * memory, which every later get and scan pays for too (docs/performance.md,
 * cause 1).  So the small puts of a write txn wait in s->wb and are applied
 * sorted by LMDB key: an append-like pass over the tree.
 *
 * Invariants:
 *  1. A call sees every write made before it in its txn: op_begin flushes
 *     before any call that is not a buffered put, txn_commit before the
 *     commit, and a put that goes straight through flushes first.
 *  2. Equal keys keep their order (the sort is stable): the last put wins.
 *  3. A value is sealed when it is put, while the caller's bytes are still
 *     in the cache, and the buffer holds only sealed values (the bytes that
 *     go to disk anyway): nothing in it to wipe.  The flush copies them in.
 *  4. A failed flush poisons an explicit txn (its writes are lost) and
 *     makes the commit fail (the txn is rolled back, and audited so).
 */
struct sess_wbent {
	uint64_t sk;                     /* the LMDB key's first 8 bytes, big-endian */
	size_t off;                      /* of the LMDB key in s->wb; the sealed value follows */
	uint32_t klen, plen;             /* plen: of the sealed value */
};
#define WB_MAX_BYTES ((size_t)32 << 20)
#define WB_MAX_VALUE 4096                /* larger values live on overflow pages anyway */
#define WB_PREFETCH 6                    /* entries fetched ahead while applying */
#define WB_MAX_ENTRIES ((size_t)1 << 18)
#define WB_APPEND_MIN 16                 /* smaller flushes do not look for the tree's end */
/* The buffer lives in one range of address space reserved (PROT_NONE: no
 * memory, no commit charge) at the first buffered put and kept until the
 * session closes: the bytes, the entries, and the sort's scratch entries,
 * each part at its largest size with an inaccessible gap after it.  A part
 * is made writable as it fills (64 KiB steps up to 2 MiB, then 2 MiB
 * steps) and stays so; only pages touched cost memory.  Nothing is copied
 * as the buffer fills (a doubling buffer copied up to 32 MiB) and the sort
 * allocates nothing.  Past the first 2 MiB of a part the kernel may use
 * huge pages (one fault per 2 MiB instead of 512).  Where the reservation
 * or a step is refused (RLIMIT_AS, vm.overcommit_memory = 2), what is
 * buffered is applied and the session's later puts go straight to LMDB. */
#define WB_HUGE ((size_t)2 << 20)
#define WB_ROUND(n, to) (((n) + (to) - 1) & ~((to) - 1))
#define WB_STEP(n) ((n) <= WB_HUGE ? WB_ROUND(n, (size_t)64 << 10) : WB_ROUND(n, WB_HUGE))
#define WB_BYTES_LEN WB_ROUND(WB_MAX_BYTES + ENGINE_MAX_LMDB_KEY + ENGINE_SEAL_OVERHEAD + WB_MAX_VALUE, WB_HUGE)
#define WB_ENTS_LEN WB_ROUND(WB_MAX_ENTRIES * sizeof(struct sess_wbent), WB_HUGE)
#define WB_ENTS_OFF (WB_BYTES_LEN + WB_HUGE)
#define WB_TMP_OFF (WB_ENTS_OFF + WB_ENTS_LEN + WB_HUGE)
#define WB_MAP_LEN (WB_TMP_OFF + WB_ENTS_LEN + WB_HUGE)

static int wb_cmp(const struct hdb_session *s, const struct sess_wbent *a, const struct sess_wbent *b)
{
	if (a->sk != b->sk)
		return a->sk < b->sk ? -1 : 1;
	size_t m = a->klen < b->klen ? a->klen : b->klen;
	int c = memcmp(s->wb.p + a->off, s->wb.p + b->off, m);
	if (c)
		return c;
	return (a->klen > b->klen) - (a->klen < b->klen);
}

/* LSD radix sort on sk (stable; digits shared by every entry are skipped:
 * the tag and keyspace id), then equal sk put in full key order. */
static void wb_sort(struct hdb_session *s)
{
	size_t n = s->nwb;
	if (n < 2)
		return;
	struct sess_wbent *tmp = (struct sess_wbent *)(s->wb.p + WB_TMP_OFF);
	struct sess_wbent *src = s->wbent, *dst = tmp;
	for (int shift = 0; shift < 64; shift += 8) {
		size_t cnt[256] = { 0 };
		for (size_t i = 0; i < n; i++)
			cnt[(src[i].sk >> shift) & 0xff]++;
		if (cnt[(src[0].sk >> shift) & 0xff] == n)
			continue;
		size_t sum = 0;
		for (int d = 0; d < 256; d++) {
			size_t c = cnt[d];
			cnt[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			dst[cnt[(src[i].sk >> shift) & 0xff]++] = src[i];
		struct sess_wbent *t = src;
		src = dst;
		dst = t;
	}
	if (src != s->wbent)
		memcpy(s->wbent, src, n * sizeof(*src));
	for (size_t i = 1; i < n; i++) {
		for (size_t j = i; j > 0 && s->wbent[j - 1].sk == s->wbent[j].sk &&
		                   wb_cmp(s, &s->wbent[j - 1], &s->wbent[j]) > 0; j--) {
			struct sess_wbent t = s->wbent[j];
			s->wbent[j] = s->wbent[j - 1];
			s->wbent[j - 1] = t;
		}
	}
}

/* wb_room - makes the buffer writable up to byte `bytes` and entry
 * `ents`, reserving it first; HDB_ENOMEM (and s->wb_refused) if refused. */
static int wb_room(struct hdb_session *s, size_t bytes, size_t ents)
{
	if (s->wb_refused)
		return HDB_ENOMEM;
	if (!s->wb.p) {
		unsigned char *m = mmap(NULL, WB_MAP_LEN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (m == MAP_FAILED)
			goto refused;
		(void)madvise(m + WB_HUGE, WB_BYTES_LEN - WB_HUGE, MADV_HUGEPAGE); /* advice only */
		(void)madvise(m + WB_ENTS_OFF + WB_HUGE, WB_ENTS_LEN - WB_HUGE, MADV_HUGEPAGE);
		(void)madvise(m + WB_TMP_OFF + WB_HUGE, WB_ENTS_LEN - WB_HUGE, MADV_HUGEPAGE);
		s->wb = (struct buf){ .p = m, .len = 0, .cap = 0 };
		s->wbent = (struct sess_wbent *)(m + WB_ENTS_OFF);
		s->wb_ents_rw = 0;
		s->nwb = 0;
	}
	if (bytes > s->wb.cap) {
		size_t to = WB_STEP(bytes);
		if (to > WB_BYTES_LEN || mprotect(s->wb.p + s->wb.cap, to - s->wb.cap, PROT_READ | PROT_WRITE) != 0)
			goto refused;
		s->wb.cap = to;
	}
	if (ents * sizeof(struct sess_wbent) > s->wb_ents_rw) {
		size_t have = s->wb_ents_rw, to = WB_STEP(ents * sizeof(struct sess_wbent));
		if (to > WB_ENTS_LEN ||
		    mprotect(s->wb.p + WB_ENTS_OFF + have, to - have, PROT_READ | PROT_WRITE) != 0 ||
		    mprotect(s->wb.p + WB_TMP_OFF + have, to - have, PROT_READ | PROT_WRITE) != 0)
			goto refused;
		s->wb_ents_rw = to;
	}
	return HDB_OK;
refused:
	/* the buffer is only an optimisation: no retry per put */
	s->wb_refused = true;
	return HDB_ENOMEM;
}

static void wb_release(struct hdb_session *s)
{
	if (s->wb.p)
		munmap(s->wb.p, WB_MAP_LEN);
	s->wb = (struct buf){ 0 };
	s->wbent = NULL;
	s->nwb = s->wb_ents_rw = 0;
}

void sess_drop_writes(struct hdb_session *s)
{
	buf_reset(&s->wb);   /* sealed values only (invariant 3) */
	s->nwb = 0;
}

int sess_flush_writes(struct hdb_session *s)
{
	if (!s->nwb)
		return HDB_OK;
	int rc = HDB_OK;
	wb_sort(s);
	/* Sorted, the entries past the tree's last key are appended (a new
	 * keyspace filled in one txn, keys that ascend across flushes):
	 * MDB_APPEND skips the search.  The first of them is found by binary
	 * search; equal keys (the last put wins) are overwritten in place.
	 * Small flushes (a txn mixing gets and puts flushes at every get) and
	 * txns where the end was missed once do not probe. */
	size_t from = s->nwb; /* the first entry to append */
	if (s->nwb >= WB_APPEND_MIN && s->append != APPEND_OFF) {
		const struct sess_wbent *z = &s->wbent[s->nwb - 1];
		MDB_cursor *c;
		bool yes = false;
		unsigned char last[ENGINE_MAX_LMDB_KEY];
		size_t lastlen = 0;
		int mrc = mdb_cursor_open(s->txn, s->db->data, &c);
		if (mrc)
			rc = sess_err(s, mdb_to_hdb(mrc), "cannot open cursor: %s", mdb_strerror(mrc));
		else
			rc = past_end(s, c, s->wb.p + z->off, z->klen, &yes, last, &lastlen);
		if (!rc && yes) {
			/* the entries after the tree's last key append */
			const MDB_val lk = { lastlen, last };
			size_t lo = 0, hi = s->nwb - 1;
			if (lastlen) {
				while (lo < hi) {
					size_t mid = lo + (hi - lo) / 2;
					const MDB_val e = { s->wbent[mid].klen, s->wb.p + s->wbent[mid].off };
					if (mdb_cmp(s->txn, s->db->data, &e, &lk) > 0)
						hi = mid;
					else
						lo = mid + 1;
				}
			}
			from = lo;
		}
		if (!mrc)
			mdb_cursor_close(c);
		s->append = yes ? APPEND_ON : APPEND_OFF;
	}
	for (size_t i = 0; rc == HDB_OK && i < s->nwb; i++) {
		/* sorted, the entries are read in random order from the buffer:
		 * fetch a few ahead, or every one costs a cache and a TLB miss */
		if (i + WB_PREFETCH < s->nwb) {
			const struct sess_wbent *f = &s->wbent[i + WB_PREFETCH];
			MDB_val q = { f->klen + f->plen, s->wb.p + f->off };
			value_prefetch(&q);
		}
		const struct sess_wbent *e = &s->wbent[i];
		MDB_val mk = { e->klen, s->wb.p + e->off };
		MDB_val mv = { e->plen, s->wb.p + e->off + e->klen };
		/* mdb_put, not one cursor for all: a cursor left on a damaged
		 * page (no keys) would insert there whatever the key */
		int mrc = i >= from ? mdb_put(s->txn, s->db->data, &mk, &mv, MDB_APPEND) : MDB_KEYEXIST;
		if (mrc == MDB_KEYEXIST)
			mrc = mdb_put(s->txn, s->db->data, &mk, &mv, 0);
		if (mrc)
			rc = sess_err(s, mdb_to_hdb(mrc), "cannot write: %s", mdb_strerror(mrc));
	}
	sess_drop_writes(s);
	if (rc && s->explicit_txn)
		s->poisoned = true;
	return rc;
}

/* Payloads up to this size are put together in s->pbuf and sealed in one
 * update; a larger one, in an encrypted database, is sealed straight from
 * the caller's pieces: no plaintext copy to make and wipe (for 16 KiB
 * values that copy and its wipe cost more than a third of the cipher), for
 * one or two more cipher updates, which only small values would notice.
 * (Those pieces are never LMDB's memory there: encrypted values reach
 * callers only as decrypted copies.) */
#define PBUF_MAX 512

int sess_buffer_put(struct hdb_session *s, bool many, const unsigned char *k, size_t klen, const void *p1,
                    size_t n1, const void *p2, size_t n2, const void *p3, size_t n3)
{
	size_t n = n1 + n2 + n3;
	struct crypto_part parts[3] = { { p1, n1 }, { p2, n2 }, { p3, n3 } }, one;
	const struct crypto_part *pp = parts;
	size_t np = 3;
	int rc;
	/* plaintext mode: the pieces may point into LMDB's pages (a scan hands
	 * those out and its callback may put them), which the flush or the
	 * MDB_RESERVE put below can move or free: copy them first (and there
	 * is nothing to wipe) */
	if (n <= PBUF_MAX || !s->db->encrypted) {
		/* the payload in one piece, while the caller's bytes are hot */
		buf_reset(&s->pbuf);
		rc = buf_append(&s->pbuf, p1, n1);
		if (!rc)
			rc = buf_append(&s->pbuf, p2, n2);
		if (!rc)
			rc = buf_append(&s->pbuf, p3, n3);
		if (rc)
			return sess_err(s, rc, "out of memory");
		one = (struct crypto_part){ s->pbuf.p, n };
		pp = &one;
		np = 1;
	}
	size_t sn = ENGINE_SEAL_OVERHEAD + n;
	if (!s->db->encrypted || !many || n > WB_MAX_VALUE || klen > ENGINE_MAX_LMDB_KEY ||
	    wb_room(s, s->wb.len + klen + sn, s->nwb + 1) != HDB_OK) {
		/* what waits is applied first: the puts stay in order */
		rc = sess_flush_writes(s);
		if (rc)
			return rc;
		return sess_put_parts(s, k, klen, pp, np, n, many ? PUT_TRY_APPEND : 0);
	}
	size_t off = s->wb.len;
	rc = seal_ready(s);
	if (rc)
		return rc;
	unsigned char *o = s->wb.p + off;
	memcpy(o, k, klen);
	rc = seal_into(s, k, klen, pp, np, n, o + klen);
	if (rc)
		return rc;
	s->wb.len += klen + sn;
	uint64_t sk = 0;
	for (size_t i = 0; i < 8; i++)
		sk = sk << 8 | (i < klen ? k[i] : 0);
	s->wbent[s->nwb++] = (struct sess_wbent){ sk, off, (uint32_t)klen, (uint32_t)sn };
	if (s->wb.len >= WB_MAX_BYTES || s->nwb == WB_MAX_ENTRIES)
		return sess_flush_writes(s);
	return HDB_OK;
}

uint32_t sealed_key_id(const MDB_val *v)
{
	if (v->mv_size < ENGINE_SEAL_OVERHEAD || ((const unsigned char *)v->mv_data)[0] != ENGINE_SEAL_VERSION)
		return 0;
	return get_u32be((const unsigned char *)v->mv_data + 1);
}

int sess_open_value(struct hdb_session *s, const unsigned char *k, size_t klen, const MDB_val *v,
                    struct buf *out)
{
	struct hdb_db *db = s->db;
	const unsigned char *p = v->mv_data;
	buf_reset(out);
	if (!db->encrypted) {
		if (v->mv_size < 1 || p[0] != ENGINE_PLAIN_VERSION)
			return sess_err(s, HDB_ECORRUPT, "stored value is malformed");
		return buf_append(out, p + 1, v->mv_size - 1);
	}
	if (v->mv_size < ENGINE_SEAL_OVERHEAD || klen > ENGINE_MAX_LMDB_KEY)
		return sess_err(s, HDB_ECORRUPT, "Decryption failed: stored value is truncated");
	value_prefetch(v);
	if (p[0] != ENGINE_SEAL_VERSION)
		return sess_err(s, HDB_ECORRUPT, "Decryption failed: unknown value format %u", p[0]);
	uint32_t id = get_u32be(p + 1);
	struct crypto_aead *a;
	int rc = sess_aead(s, id, &a);
	if (rc)
		return sess_err(s, rc == HDB_ENOTFOUND ? HDB_ECORRUPT : rc,
		                "Decryption failed: data key %u is not available (%s)", id, s->db->errmsg);
	size_t n = v->mv_size - ENGINE_SEAL_OVERHEAD;
	rc = buf_reserve(out, n + 1);
	if (rc)
		return sess_err(s, rc, "out of memory");
	unsigned char aad[ENGINE_ID_LEN + ENGINE_SEAL_HDR + ENGINE_MAX_LMDB_KEY];
	size_t aadlen = build_aad(db, p, k, klen, aad);
	const unsigned char *ct = p + ENGINE_SEAL_HDR + CRYPTO_NONCE_LEN;
	rc = crypto_aead_open(a, p + ENGINE_SEAL_HDR, aad, aadlen, ct, n, ct + n, out->p);
	if (rc)
		return sess_err(s, HDB_ECORRUPT, "Decryption failed: Authentication tag verification failed");
	out->len = n;
	return HDB_OK;
}

int sess_view_value(struct hdb_session *s, const unsigned char *k, size_t klen, const MDB_val *v,
                    struct buf *scratch, const unsigned char **ret_p, size_t *ret_n)
{
	if (!s->db->encrypted) {
		const unsigned char *p = v->mv_data;
		if (v->mv_size < 1 || p[0] != ENGINE_PLAIN_VERSION)
			return sess_err(s, HDB_ECORRUPT, "stored value is malformed");
		*ret_p = p + 1;
		*ret_n = v->mv_size - 1;
		return HDB_OK;
	}
	int rc = sess_open_value(s, k, klen, v, scratch);
	if (rc)
		return rc;
	*ret_p = scratch->p;
	*ret_n = scratch->len;
	return HDB_OK;
}

int sess_get(struct hdb_session *s, const unsigned char *k, size_t klen, struct buf *out)
{
	MDB_val mk = { klen, (void *)k }, mv;
	int mrc = mdb_get(s->txn, s->db->data, &mk, &mv);
	if (mrc == MDB_NOTFOUND)
		return HDB_ENOTFOUND;
	if (mrc)
		return sess_err(s, mdb_to_hdb(mrc), "cannot read: %s", mdb_strerror(mrc));
	return sess_open_value(s, k, klen, &mv, out);
}

int sess_next_counter(struct hdb_session *s, uint8_t what, uint32_t id, uint64_t *ret)
{
	unsigned char k[6] = { TAG_STATE, what };
	put_u32be(k + 2, id);
	struct buf b = { 0 };
	uint64_t v = 1;
	int rc = sess_get(s, k, sizeof(k), &b);
	if (rc == HDB_OK) {
		if (b.len != 8) {
			buf_free(&b);
			return sess_err(s, HDB_ECORRUPT, "internal counter is malformed");
		}
		v = get_u64be(b.p);
	} else if (rc != HDB_ENOTFOUND) {
		buf_free(&b);
		return rc;
	}
	buf_free(&b);
	unsigned char nv[8];
	put_u64be(nv, v + 1);
	rc = sess_put_sealed(s, k, sizeof(k), nv, sizeof(nv), 0);
	if (rc)
		return rc;
	*ret = v;
	return HDB_OK;
}
