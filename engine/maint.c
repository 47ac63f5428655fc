/*
 * maint.c - whole-database work: stats, verify, key listing, master-key
 * rotation and online rekey.
 *
 * Rekey protocol (resumable, online):
 *   1. one write txn: create data key T, make it active, record
 *      meta "rekey" = T || "" (the position);
 *   2. repeated write txns of at most `batch` values: re-seal each value
 *      sealed under a key older than T (ids only grow), and record the last
 *      LMDB key done as the position, in the same txn;
 *   3. one write txn: retire every key older than T (its wrapped bytes are
 *      erased), delete "rekey".
 * A crash anywhere leaves a consistent state; calling hdb_rekey() again
 * continues from the recorded position.  Writers meanwhile seal under T (or
 * newer), readers read either.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "engine_int.h"

struct obj {
	char kind[16];
	uint32_t id;
	char name[HDB_MAX_NAME_LEN + 1];
	uint64_t entries, bytes, bad;
};

struct objs {
	struct obj *v;
	size_t n;
};

static struct obj *obj_get(struct objs *o, const char *kind, uint32_t id)
{
	for (size_t i = 0; i < o->n; i++)
		if (o->v[i].id == id && strcmp(o->v[i].kind, kind) == 0)
			return &o->v[i];
	struct obj *nv = realloc(o->v, (o->n + 1) * sizeof(*nv));
	if (!nv)
		return NULL;
	o->v = nv;
	struct obj *e = &o->v[o->n++];
	memset(e, 0, sizeof(*e));
	snprintf(e->kind, sizeof(e->kind), "%s", kind);
	e->id = id;
	if (strcmp(kind, "table") == 0 || strcmp(kind, "keyspace") == 0)
		snprintf(e->name, sizeof(e->name), "#%u", id);
	else
		snprintf(e->name, sizeof(e->name), "%s", kind);
	return e;
}

/* Names tables and keyspaces from the catalog (best effort: an entry that
 * fails authentication keeps its "#id" name and is counted as bad later). */
static void name_objects(struct hdb_session *s, MDB_cursor *c, struct objs *o)
{
	MDB_val mk, mv;
	struct buf b = { 0 };
	for (int mrc = mdb_cursor_get(c, &mk, &mv, MDB_FIRST); mrc == MDB_SUCCESS;
	     mrc = mdb_cursor_get(c, &mk, &mv, MDB_NEXT)) {
		unsigned char tag = ((unsigned char *)mk.mv_data)[0];
		if (tag != TAG_NAME && tag != TAG_KSNAME)
			continue;
		if (sess_open_value(s, mk.mv_data, mk.mv_size, &mv, &b) != HDB_OK || b.len < 5 ||
		    b.len - 4 > HDB_MAX_NAME_LEN)
			continue;
		struct obj *e = obj_get(o, tag == TAG_NAME ? "table" : "keyspace", get_u32be(b.p));
		if (e)
			snprintf(e->name, sizeof(e->name), "%.*s", (int)(b.len - 4), (char *)b.p + 4);
	}
	buf_free_wipe(&b);
	s->errmsg[0] = '\0';
}

static struct obj *classify(struct objs *o, const MDB_val *mk)
{
	const unsigned char *k = mk->mv_data;
	if (mk->mv_size >= 5 && k[0] == TAG_ROW)
		return obj_get(o, "table", get_u32be(k + 1));
	if (mk->mv_size >= 5 && k[0] == TAG_KV)
		return obj_get(o, "keyspace", get_u32be(k + 1));
	if (k[0] == TAG_NAME || k[0] == TAG_CATALOG || k[0] == TAG_KSNAME)
		return obj_get(o, "catalog", 0);
	if (k[0] == 'A')
		return obj_get(o, "audit", 0); /* the audit outbox: records not yet in the log */
	return obj_get(o, "internal", 0);
}

static void describe_key(const MDB_val *mk, char *out, size_t outlen)
{
	size_t n = mk->mv_size > 21 ? 21 : mk->mv_size;
	char hex[64];
	hex_encode(mk->mv_data, n, hex);
	snprintf(out, outlen, "%s%s", hex, mk->mv_size > n ? "..." : "");
}

/* entry_name - "table 'patients'" for the entry at LMDB key mk, read from
 * the catalog in s->txn (the table or keyspace id when its name cannot be
 * read), for an error message; s->errmsg is kept. */
static void entry_name(struct hdb_session *s, const MDB_val *mk, char *out, size_t outlen)
{
	char keep[sizeof(s->errmsg)];
	memcpy(keep, s->errmsg, sizeof(keep));
	struct objs o = { 0 };
	MDB_cursor *c;
	if (mdb_cursor_open(s->txn, s->db->data, &c) == MDB_SUCCESS) {
		name_objects(s, c, &o);
		mdb_cursor_close(c);
	}
	struct obj *e = classify(&o, mk);
	char kd[80];
	describe_key(mk, kd, sizeof(kd));
	if (e)
		snprintf(out, outlen, "%s '%s' (LMDB key %s)", e->kind, e->name, kd);
	else
		snprintf(out, outlen, "LMDB key %s", kd);
	free(o.v);
	memcpy(s->errmsg, keep, sizeof(keep));
}

/* Whether the copy's failing value mv at mk is the database's own damage:
 * the same bytes at mk in s's snapshot, failing there too, or sealed
 * under a data key whose record is damaged in the database as well. */
static bool same_damage(struct hdb_session *s, const struct readback *r, const MDB_val *mk, const MDB_val *mv,
                        struct buf *scratch)
{
	MDB_val sv;
	if (mdb_get(s->txn, s->db->data, (MDB_val *)mk, &sv) != MDB_SUCCESS || sv.mv_size != mv->mv_size ||
	    memcmp(sv.mv_data, mv->mv_data, mv->mv_size) != 0)
		return false;
	if (s->db->encrypted && mv->mv_size >= ENGINE_SEAL_OVERHEAD) {
		uint32_t id = sealed_key_id(mv);
		for (size_t i = 0; i < r->nsame; i++)
			if (r->same_ids[i] == id)
				return true;
	}
	return sess_open_value(s, mk->mv_data, mk->mv_size, &sv, scratch) != HDB_OK;
}

static void name_entry(struct objs *o, const MDB_val *mk, const char *why, char *out, size_t outlen)
{
	struct obj *e = classify(o, mk);
	char kd[80];
	describe_key(mk, kd, sizeof(kd));
	snprintf(out, outlen, "%s '%s' (LMDB key %s): %.300s", e ? e->kind : "entry", e ? e->name : "?", kd, why);
}

int maint_readback(struct hdb_session *c, struct hdb_session *s, struct readback *r,
                   void (*tick)(void *arg, uint64_t done), void *arg)
{
	struct objs o = { 0 };
	struct buf b = { 0 };
	MDB_cursor *cur;
	MDB_val mk, mv;
	int rc = HDB_OK;
	int mrc = mdb_cursor_open(c->txn, c->db->data, &cur);
	if (mrc)
		return sess_err(c, mdb_to_hdb(mrc), "cannot open cursor: %s", mdb_strerror(mrc));
	name_objects(c, cur, &o);
	for (mrc = mdb_cursor_get(cur, &mk, &mv, MDB_FIRST); mrc == MDB_SUCCESS;
	     mrc = mdb_cursor_get(cur, &mk, &mv, MDB_NEXT)) {
		if (++r->values % 4096 == 0 && tick)
			tick(arg, r->values);
		if (sess_open_value(c, mk.mv_data, mk.mv_size, &mv, &b) == HDB_OK)
			continue;
		char why[sizeof(c->errmsg)];
		memcpy(why, c->errmsg, sizeof(why));
		if (r->bad++ == 0)
			name_entry(&o, &mk, why, r->first, sizeof(r->first));
		if (!same_damage(s, r, &mk, &mv, &b) && r->differ++ == 0)
			name_entry(&o, &mk, why, r->first_differ, sizeof(r->first_differ));
	}
	if (mrc != MDB_NOTFOUND)
		rc = sess_err(c, mdb_to_hdb(mrc), "cannot read it: %s", mdb_strerror(mrc));
	mdb_cursor_close(cur);
	buf_free_wipe(&b);
	free(o.v);
	return rc;
}

int hdb_stats(struct hdb_session *s, hdb_stat_fn fn, void *arg)
{
	struct op op = OP_INIT(AUDIT_EV_READ, NULL);
	if (!s || !fn)
		return HDB_EINVAL;
	int rc = op_begin(s, false, &op);
	if (rc)
		return op_fail(s, &op, rc);
	struct objs o = { 0 };
	MDB_cursor *c;
	int stop = 0;
	int mrc = mdb_cursor_open(s->txn, s->db->data, &c);
	if (mrc) {
		rc = sess_err(s, mdb_to_hdb(mrc), "cannot open cursor: %s", mdb_strerror(mrc));
		goto out;
	}
	name_objects(s, c, &o);
	MDB_val mk, mv;
	for (mrc = mdb_cursor_get(c, &mk, &mv, MDB_FIRST); mrc == MDB_SUCCESS;
	     mrc = mdb_cursor_get(c, &mk, &mv, MDB_NEXT)) {
		struct obj *e = classify(&o, &mk);
		if (!e) {
			rc = sess_err(s, HDB_ENOMEM, "out of memory");
			break;
		}
		e->entries++;
		e->bytes += mk.mv_size + mv.mv_size;
	}
	mdb_cursor_close(c);
	for (size_t i = 0; rc == HDB_OK && i < o.n && !stop; i++) {
		struct hdb_stat st;
		memset(&st, 0, sizeof(st));
		snprintf(st.kind, sizeof(st.kind), "%s", o.v[i].kind);
		snprintf(st.name, sizeof(st.name), "%s", o.v[i].name);
		st.entries = o.v[i].entries;
		st.bytes = o.v[i].bytes;
		stop = fn(arg, &st);
	}
out:
	free(o.v);
	rc = op_end(s, &op, rc);
	return rc ? rc : stop;
}

int hdb_key_list(struct hdb_session *s, hdb_key_fn fn, void *arg)
{
	struct op op = OP_INIT(AUDIT_EV_READ, NULL);
	if (!s || !fn)
		return HDB_EINVAL;
	if (!s->db->encrypted)
		return HDB_OK;
	int rc = op_begin(s, false, &op);
	if (rc)
		return op_fail(s, &op, rc);
	uint32_t next, active;
	int stop = 0;
	rc = meta_get_u32(s->db, s->txn, "nextkey", &next);
	if (!rc)
		rc = meta_get_u32(s->db, s->txn, "active", &active);
	if (rc) {
		sess_err(s, rc, "%s", s->db->errmsg);
		goto out;
	}
	for (uint32_t id = 1; id < next && !stop; id++) {
		unsigned char rec[DEK_REC_LEN];
		rc = meta_dek_get(s->db, s->txn, id, rec);
		if (rc) {
			sess_err(s, rc, "%s", s->db->errmsg);
			goto out;
		}
		struct hdb_key_info ki = {
			.key_id = id,
			.created = (int64_t)get_u64be(rec + 1),
			.encryptions = get_u64be(rec + 9),
			.active = id == active,
			.retired = rec[0] == DEK_RETIRED,
		};
		stop = fn(arg, &ki);
	}
out:
	rc = op_end(s, &op, rc);
	return rc ? rc : stop;
}

struct keycount {
	uint32_t id;
	uint64_t n;
};

int hdb_verify(struct hdb_session *s, unsigned what, hdb_verify_fn fn, void *arg)
{
	return hdb_verify_progress(s, what, fn, arg, NULL, NULL);
}

int hdb_verify_progress(struct hdb_session *s, unsigned what, hdb_verify_fn fn, void *arg, hdb_progress_fn progress,
                        void *parg)
{
	struct op op = OP_INIT(AUDIT_EV_VERIFY_RUN, NULL);
	if (!s)
		return HDB_EINVAL;
	(void)what; /* both checks authenticate every value: GCM is integrity */
	int rc = op_begin(s, false, &op);
	if (rc)
		return op_fail(s, &op, rc);
	struct objs o = { 0 };
	struct keycount *kc = NULL;
	size_t nkc = 0;
	uint64_t nbad = 0;
	char first[1024] = "";
	struct buf b = { 0 };
	MDB_cursor *c;
	int mrc = mdb_cursor_open(s->txn, s->db->data, &c);
	if (mrc) {
		rc = sess_err(s, mdb_to_hdb(mrc), "cannot open cursor: %s", mdb_strerror(mrc));
		goto out;
	}
	name_objects(s, c, &o);
	MDB_val mk, mv;
	MDB_stat st;
	uint64_t total = progress && mdb_stat(s->txn, s->db->data, &st) == MDB_SUCCESS ? st.ms_entries : 0, done = 0;
	for (mrc = mdb_cursor_get(c, &mk, &mv, MDB_FIRST); mrc == MDB_SUCCESS;
	     mrc = mdb_cursor_get(c, &mk, &mv, MDB_NEXT)) {
		if (progress && ++done % 4096 == 0)
			progress(parg, done < total ? done : total, total);
		struct obj *e = classify(&o, &mk);
		if (!e) {
			rc = sess_err(s, HDB_ENOMEM, "out of memory");
			break;
		}
		e->entries++;
		int orc = sess_open_value(s, mk.mv_data, mk.mv_size, &mv, &b);
		if (orc) {
			e->bad++;
			if (nbad++ == 0) {
				char kd[80];
				describe_key(&mk, kd, sizeof(kd));
				snprintf(first, sizeof(first), "%s '%s': value %llu (LMDB key %s): %.300s", e->kind, e->name,
				         (unsigned long long)e->entries, kd, s->errmsg);
			}
			continue;
		}
		if (strcmp(e->kind, "audit") == 0)
			continue; /* authenticated above; churns with the shipper, so not counted per key */
		uint32_t id = sealed_key_id(&mv);
		size_t i;
		for (i = 0; i < nkc && kc[i].id != id; i++)
			;
		if (i == nkc) {
			struct keycount *nk = realloc(kc, (nkc + 1) * sizeof(*nk));
			if (!nk) {
				rc = sess_err(s, HDB_ENOMEM, "out of memory");
				break;
			}
			kc = nk;
			kc[nkc].id = id;
			kc[nkc].n = 0;
			nkc++;
		}
		kc[i].n++;
	}
	if (progress && rc == HDB_OK && mrc == MDB_NOTFOUND)
		progress(parg, done, done);
	if (mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND && rc == HDB_OK)
		rc = sess_err(s, mdb_to_hdb(mrc), "cannot read database: %s", mdb_strerror(mrc));
	mdb_cursor_close(c);
	if (rc)
		goto out;
	for (size_t i = 0; fn && i < o.n; i++) {
		if (strcmp(o.v[i].kind, "audit") == 0 && !o.v[i].bad)
			continue;
		char detail[64] = "";
		struct hdb_verify_item it = { o.v[i].kind, o.v[i].name, o.v[i].entries, o.v[i].bad, detail };
		if (o.v[i].bad)
			snprintf(detail, sizeof(detail), "%llu value(s) failed authentication",
			         (unsigned long long)o.v[i].bad);
		fn(arg, &it);
	}
	for (size_t i = 0; fn && i < nkc; i++) {
		char name[32];
		snprintf(name, sizeof(name), "%u", kc[i].id);
		struct hdb_verify_item it = { s->db->encrypted ? "data-key" : "plaintext", name, kc[i].n, 0, "" };
		fn(arg, &it);
	}
	if (nbad)
		rc = sess_err(s, HDB_ECORRUPT, "%llu value(s) failed verification; first: %s",
		              (unsigned long long)nbad, first);
out:
	free(o.v);
	free(kc);
	buf_free_wipe(&b);
	return op_end(s, &op, rc);
}

/* ------------------------------------------------------------ rotate-key */

static int rotate(struct hdb_session *s, const struct hdb_config *new_cfg);

int hdb_rotate_master_key(struct hdb_session *s, const struct hdb_config *new_cfg)
{
	if (!s || !new_cfg)
		return HDB_EINVAL;
	struct audit_event ev = { .type = AUDIT_EV_ROTATE_KEY_START, .outcome = AUDIT_SUCCESS, .rows_affected = -1,
		                  .object = keys_source_name(new_cfg->key_kind) };
	(void)trail_record(s, &ev);
	int rc = rotate(s, new_cfg);
	char err[sizeof(s->errmsg)];
	snprintf(err, sizeof(err), "%s", s->errmsg);
	ev.type = AUDIT_EV_ROTATE_KEY_FINISH;
	ev.outcome = rc ? AUDIT_FAILURE : AUDIT_SUCCESS;
	ev.error = rc ? err : NULL;
	ev.time_us = 0;
	(void)trail_record(s, &ev);
	snprintf(s->errmsg, sizeof(s->errmsg), "%s", err);
	return rc;
}

static int rotate(struct hdb_session *s, const struct hdb_config *new_cfg)
{
	struct hdb_db *db = s->db;
	if (!db->encrypted)
		return sess_err(s, HDB_EINVAL, "database '%s' is not encrypted", db->path);
	if (s->txn)
		return sess_err(s, HDB_ETXN, "rotate-key cannot run inside a transaction");
	char err[512] = "";
	struct keys_kdf kdf;
	memset(&kdf, 0, sizeof(kdf));
	struct hdb_secret *nm = NULL;
	int rc;
	if (new_cfg->key_kind == HDB_KEY_PASSWORD) {
		rc = keys_new_kdf(db->lib, new_cfg, &kdf, err, sizeof(err));
		if (rc)
			return sess_err(s, rc, "new key: %s", err);
	}
	rc = keys_load_master(db->lib, new_cfg, &kdf, &nm, err, sizeof(err));
	if (rc)
		return sess_err(s, rc, "new key: %s", err);
	unsigned char kcv[32];
	rc = db_kcv(db, nm, kcv);
	if (rc)
		goto out;
	rc = txn_begin(s, true);
	if (rc)
		goto out;
	MDB_val k = META_KEY("kcv"), v;
	if (mdb_get(s->txn, db->meta, &k, &v) == MDB_SUCCESS && v.mv_size == 32 &&
	    CRYPTO_memcmp(v.mv_data, kcv, 32) == 0 && kdf.alg == db->kdf.alg &&
	    memcmp(kdf.salt, db->kdf.salt, KEYS_SALT_LEN) == 0) {
		txn_abort(s);
		rc = sess_err(s, HDB_EINVAL, "the new master key is the same as the current one");
		goto out;
	}
	rc = db_wrap_all(db, s->txn, nm);
	if (rc) {
		sess_err(s, rc, "%s", db->errmsg);
		txn_abort(s);
		goto out;
	}
	MDB_val hk = META_KEY("header");
	if (mdb_get(s->txn, db->meta, &hk, &v) != MDB_SUCCESS || v.mv_size != HDR_LEN) {
		txn_abort(s);
		rc = sess_err(s, HDB_ECORRUPT, "database header is missing");
		goto out;
	}
	unsigned char h[HDR_LEN];
	memcpy(h, v.mv_data, HDR_LEN);
	h[22] = kdf.alg;
	put_u32be(h + 23, kdf.m_kib);
	put_u32be(h + 27, kdf.t);
	put_u32be(h + 31, kdf.p);
	put_u32be(h + 35, kdf.iterations);
	memcpy(h + 39, kdf.salt, KEYS_SALT_LEN);
	rc = meta_put(db, s->txn, "header", 6, h, HDR_LEN);
	if (rc) {
		sess_err(s, rc, "%s", db->errmsg);
		txn_abort(s);
		goto out;
	}
	rc = txn_commit(s);
	if (rc)
		goto out;
	pthread_mutex_lock(&db->lock);
	secret_free(db->master);
	db->master = nm;
	db->kdf = kdf;
	pthread_mutex_unlock(&db->lock);
	nm = NULL;
out:
	secret_free(nm);
	OPENSSL_cleanse(&kdf, sizeof(kdf));
	return rc;
}

/* ------------------------------------------------------------------ rekey */

/* meta "rekey" = u32 target key || u64 values visited || last LMDB key done */
static int rekey_state(struct hdb_session *s, uint32_t *target, uint64_t *done, struct buf *pos)
{
	MDB_val k = META_KEY("rekey"), v;
	int mrc = mdb_get(s->txn, s->db->meta, &k, &v);
	if (mrc == MDB_NOTFOUND)
		return HDB_ENOTFOUND;
	if (mrc)
		return sess_err(s, mdb_to_hdb(mrc), "cannot read rekey state: %s", mdb_strerror(mrc));
	if (v.mv_size < 12 || v.mv_size > 12 + ENGINE_MAX_LMDB_KEY)
		return sess_err(s, HDB_ECORRUPT, "rekey state is malformed");
	*target = get_u32be(v.mv_data);
	*done = get_u64be((unsigned char *)v.mv_data + 4);
	buf_reset(pos);
	return buf_append(pos, (unsigned char *)v.mv_data + 12, v.mv_size - 12);
}

static int rekey_save(struct hdb_session *s, uint32_t target, uint64_t done, const void *pos, size_t n)
{
	unsigned char v[12 + ENGINE_MAX_LMDB_KEY];
	put_u32be(v, target);
	put_u64be(v + 4, done);
	memcpy(v + 12, pos, n);
	int rc = meta_put(s->db, s->txn, "rekey", 5, v, 12 + n);
	return rc ? sess_err(s, rc, "%s", s->db->errmsg) : HDB_OK;
}

/* Starts a rekey (or finds the one in progress): *target is the new key. */
static int rekey_start(struct hdb_session *s, uint32_t *target, uint64_t *done, struct buf *pos)
{
	int rc = txn_begin(s, true);
	if (rc)
		return rc;
	*done = 0;
	rc = rekey_state(s, target, done, pos);
	if (rc == HDB_ENOTFOUND) {
		struct engine_dek *np = realloc(s->pending, (s->npending + 1) * sizeof(*np));
		if (!np) {
			txn_abort(s);
			return sess_err(s, HDB_ENOMEM, "out of memory");
		}
		s->pending = np;
		rc = db_new_dek(s->db, s->txn, &s->pending[s->npending]);
		if (rc) {
			sess_err(s, rc, "%s", s->db->errmsg);
			txn_abort(s);
			return rc;
		}
		*target = s->pending[s->npending].id;
		s->npending++;
		buf_reset(pos);
		rc = rekey_save(s, *target, 0, "", 0);
	}
	if (rc) {
		txn_abort(s);
		return rc;
	}
	return txn_commit(s);
}

static int rekey_batch(struct hdb_session *s, uint32_t target, uint64_t done_before, struct buf *pos,
                       size_t batch, size_t *ret_done, bool *ret_end)
{
	struct hdb_db *db = s->db;
	struct buf keys = { 0 };
	*ret_done = 0;
	*ret_end = false;
	int rc = txn_begin(s, true);
	if (rc)
		return rc;
	MDB_cursor *c;
	int mrc = mdb_cursor_open(s->txn, db->data, &c);
	if (mrc) {
		rc = sess_err(s, mdb_to_hdb(mrc), "cannot open cursor: %s", mdb_strerror(mrc));
		goto out_abort;
	}
	MDB_val mk = { pos->len, pos->p }, mv;
	if (pos->len) {
		mrc = mdb_cursor_get(c, &mk, &mv, MDB_SET_RANGE);
		if (mrc == MDB_SUCCESS && mk.mv_size == pos->len && memcmp(mk.mv_data, pos->p, pos->len) == 0)
			mrc = mdb_cursor_get(c, &mk, &mv, MDB_NEXT);
	} else {
		mrc = mdb_cursor_get(c, &mk, &mv, MDB_FIRST);
	}
	/* collect up to `batch` keys: u16 length || key */
	size_t visited = 0;
	for (; mrc == MDB_SUCCESS && visited < batch; mrc = mdb_cursor_get(c, &mk, &mv, MDB_NEXT)) {
		visited++;
		uint32_t id = sealed_key_id(&mv);
		if (id != 0 && id < target) {
			unsigned char l[2] = { (unsigned char)(mk.mv_size >> 8), (unsigned char)mk.mv_size };
			if (buf_append(&keys, l, 2) || buf_append(&keys, mk.mv_data, mk.mv_size)) {
				mdb_cursor_close(c);
				rc = sess_err(s, HDB_ENOMEM, "out of memory");
				goto out_abort;
			}
		}
		buf_reset(pos);
		if (buf_append(pos, mk.mv_data, mk.mv_size)) {
			mdb_cursor_close(c);
			rc = sess_err(s, HDB_ENOMEM, "out of memory");
			goto out_abort;
		}
	}
	mdb_cursor_close(c);
	if (mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND) {
		rc = sess_err(s, mdb_to_hdb(mrc), "cannot read: %s", mdb_strerror(mrc));
		goto out_abort;
	}
	*ret_end = mrc == MDB_NOTFOUND;
	struct buf val = { 0 };
	for (size_t off = 0; off < keys.len;) {
		size_t kl = (size_t)keys.p[off] << 8 | keys.p[off + 1];
		const unsigned char *k = keys.p + off + 2;
		off += 2 + kl;
		rc = sess_get(s, k, kl, &val);
		if (rc == HDB_ECORRUPT) {
			/* a value that does not authenticate cannot be re-encrypted:
			 * stop before it (nothing of this batch is kept) and say
			 * which one, so that it can be restored or deleted */
			char what[HDB_MAX_NAME_LEN + 160], why[sizeof(s->errmsg)];
			MDB_val bad = { kl, (void *)k };
			memcpy(why, s->errmsg, sizeof(why));
			entry_name(s, &bad, what, sizeof(what));
			sess_err(s, rc, "%s: %.200s; rekey stopped before it (run verify to list every damaged value; "
			         "rekey resumes here once it is restored or deleted)", what, why);
		}
		if (!rc)
			rc = sess_put_sealed(s, k, kl, val.p, val.len, 0);
		if (rc) {
			buf_free_wipe(&val);
			goto out_abort;
		}
	}
	buf_free_wipe(&val);
	rc = rekey_save(s, target, done_before + visited, pos->p, pos->len);
	if (rc)
		goto out_abort;
	buf_free(&keys);
	*ret_done = visited;
	return txn_commit(s);
out_abort:
	buf_free(&keys);
	txn_abort(s);
	return rc;
}

static int rekey_finish(struct hdb_session *s, uint32_t target)
{
	int rc = txn_begin(s, true);
	if (rc)
		return rc;
	for (uint32_t id = 1; id < target; id++) {
		unsigned char rec[DEK_REC_LEN], mk[7];
		rc = meta_dek_get(s->db, s->txn, id, rec);
		if (rc) {
			sess_err(s, rc, "%s", s->db->errmsg);
			goto out_abort;
		}
		if (rec[0] == DEK_RETIRED)
			continue;
		rec[0] = DEK_RETIRED;
		memset(rec + 17, 0, CRYPTO_WRAPPED_LEN);
		dek_meta_key(id, mk);
		rc = meta_put(s->db, s->txn, mk, sizeof(mk), rec, sizeof(rec));
		if (rc)
			goto out_abort;
	}
	MDB_val k = META_KEY("rekey");
	int mrc = mdb_del(s->txn, s->db->meta, &k, NULL);
	if (mrc) {
		rc = sess_err(s, mdb_to_hdb(mrc), "cannot finish rekey: %s", mdb_strerror(mrc));
		goto out_abort;
	}
	return txn_commit(s);
out_abort:
	txn_abort(s);
	return rc;
}

static int rekey(struct hdb_session *s, size_t batch, hdb_progress_fn progress, void *arg);

int hdb_rekey(struct hdb_session *s, size_t batch, hdb_progress_fn progress, void *arg)
{
	if (!s)
		return HDB_EINVAL;
	struct audit_event ev = { .type = AUDIT_EV_REKEY_START, .outcome = AUDIT_SUCCESS, .rows_affected = -1 };
	(void)trail_record(s, &ev);
	int rc = rekey(s, batch, progress, arg);
	char err[sizeof(s->errmsg)];
	snprintf(err, sizeof(err), "%s", s->errmsg);
	ev.type = AUDIT_EV_REKEY_FINISH;
	ev.outcome = rc ? AUDIT_FAILURE : AUDIT_SUCCESS;
	ev.error = rc ? err : NULL;
	ev.time_us = 0;
	(void)trail_record(s, &ev);
	snprintf(s->errmsg, sizeof(s->errmsg), "%s", err);
	return rc;
}

static int rekey(struct hdb_session *s, size_t batch, hdb_progress_fn progress, void *arg)
{
	if (!s->db->encrypted)
		return sess_err(s, HDB_EINVAL, "database '%s' is not encrypted", s->db->path);
	if (s->txn)
		return sess_err(s, HDB_ETXN, "rekey cannot run inside a transaction");
	if (batch == 0)
		batch = 1000;
	struct buf pos = { 0 };
	uint32_t target = 0;
	uint64_t done = 0;
	int rc = rekey_start(s, &target, &done, &pos);
	if (rc)
		goto out;
	MDB_stat st;
	uint64_t total = 0;
	MDB_txn *t;
	if (mdb_txn_begin(s->db->env, NULL, MDB_RDONLY, &t) == MDB_SUCCESS) {
		if (mdb_stat(t, s->db->data, &st) == MDB_SUCCESS)
			total = st.ms_entries;
		mdb_txn_abort(t);
	}
	bool end = false;
	while (!end) {
		size_t n;
		rc = rekey_batch(s, target, done, &pos, batch, &n, &end);
		if (rc)
			goto out;
		done += n;
		if (progress)
			progress(arg, done > total ? total : done, total);
	}
	rc = rekey_finish(s, target);
	if (rc == HDB_OK && progress)
		progress(arg, total, total); /* the count moved meanwhile (audit outbox): say "done" plainly */
out:
	buf_free(&pos);
	return rc;
}
