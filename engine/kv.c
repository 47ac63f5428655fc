/*
 * kv.c - the key-value API: named keyspaces of opaque keys and values.
 *
 *   'K' prf("ks" 0 name)           -> sealed u32 keyspace id || name
 *   'V' u32 id || prf(u32 id || key) -> sealed value || key || u32 klen
 *
 * The user key is inside the sealed value, so a get can confirm that the
 * entry found is the key asked for (a PRF collision cannot return the wrong
 * value) and a scan can hand keys back.  The value comes first so that a
 * get decrypts straight into the buffer it returns: one pass, no copy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

static int check_name(struct hdb_session *s, const char *what, const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > HDB_MAX_NAME_LEN)
		return sess_err(s, HDB_EINVAL, "%s name must be 1 to %d bytes", what, HDB_MAX_NAME_LEN);
	return HDB_OK;
}

int keyspace_lookup(struct hdb_session *s, const char *name, bool create, uint32_t *ret_id)
{
	int rc = check_name(s, "keyspace", name);
	if (rc)
		return rc;
	struct sess_name *e;
	rc = name_find(s, TAG_KSNAME, name, &e);
	if (rc == HDB_OK) {
		*ret_id = e->id;
		return HDB_OK;
	}
	if (rc != HDB_ENOTFOUND)
		return rc;
	if (!create)
		return sess_err(s, HDB_ENOTFOUND, "no keyspace '%s'", name);
	uint64_t id;
	rc = sess_next_counter(s, STATE_NEXT_ID, 0, &id);
	if (rc)
		return rc;
	if (id > UINT32_MAX)
		return sess_err(s, HDB_EFULL, "object ids exhausted");
	rc = name_create(s, TAG_KSNAME, name, (uint32_t)id);
	if (rc)
		return rc;
	*ret_id = (uint32_t)id;
	return HDB_OK;
}

/* 'V' || u32 id || prf(u32 id || key) */
static int kv_key(struct hdb_session *s, uint32_t ks, const void *key, size_t klen,
                  unsigned char *out, size_t *ret_len)
{
	out[0] = TAG_KV;
	put_u32be(out + 1, ks);
	size_t hl;
	int rc = sess_hash(s, out + 1, 4, key, klen, out + 5, &hl);
	if (rc)
		return rc;
	*ret_len = 5 + hl;
	return HDB_OK;
}

static int check_key(struct hdb_session *s, const void *key, size_t klen)
{
	if (!key || klen == 0 || klen > HDB_MAX_KEY_LEN)
		return sess_err(s, HDB_EINVAL, "key must be 1 to %d bytes", HDB_MAX_KEY_LEN);
	return HDB_OK;
}

/* kv_put_one - one put (val == NULL: a delete); many: part of a batch or
 * of an explicit txn, so it may wait in the session's write buffer. */
static int kv_put_one(struct hdb_session *s, bool many, uint32_t ks, const void *key, size_t klen,
                      const void *val, size_t vlen)
{
	unsigned char k[ENGINE_MAX_LMDB_KEY];
	size_t kl;
	int rc = kv_key(s, ks, key, klen, k, &kl);
	if (rc)
		return rc;
	if (!val) {
		rc = sess_flush_writes(s);
		if (rc)
			return rc;
		MDB_val mk = { kl, k };
		int mrc = mdb_del(s->txn, s->db->data, &mk, NULL);
		if (mrc == MDB_NOTFOUND)
			return HDB_OK;
		if (mrc)
			return sess_err(s, mdb_to_hdb(mrc), "cannot delete: %s", mdb_strerror(mrc));
		return HDB_OK;
	}
	unsigned char kl4[4];
	put_u32be(kl4, (uint32_t)klen);
	return sess_buffer_put(s, many, k, kl, val, vlen, key, klen, kl4, sizeof(kl4));
}

int hdb_kv_put(struct hdb_session *s, const char *keyspace, const void *key, size_t klen, const void *val,
               size_t vlen)
{
	struct op op = OP_INIT(AUDIT_EV_WRITE, NULL);
	if (!s)
		return HDB_EINVAL;
	trail_kv_object(s, op.type, keyspace, key, klen, op.object, sizeof(op.object));
	op.rows = 1;
	op.buffered = true;
	if (!val && vlen)
		return sess_err(s, HDB_EINVAL, "value is NULL");
	int rc = check_key(s, key, klen);
	if (rc)
		return op_fail(s, &op, rc);
	rc = op_begin(s, true, &op);
	if (rc)
		return op_fail(s, &op, rc);
	uint32_t ks;
	rc = keyspace_lookup(s, keyspace, true, &ks);
	if (!rc)
		rc = kv_put_one(s, s->explicit_txn, ks, key, klen, val ? val : "", vlen);
	return op_end(s, &op, rc);
}

int hdb_kv_write_batch(struct hdb_session *s, const char *keyspace, const struct hdb_kv_op *ops, size_t n)
{
	struct op op = OP_INIT(AUDIT_EV_WRITE, NULL);
	if (!s || (!ops && n))
		return HDB_EINVAL;
	op_object(&op, "keyspace", keyspace);
	op.rows = (int64_t)n;
	op.buffered = true;
	for (size_t i = 0; i < n; i++) {
		int rc = check_key(s, ops[i].key, ops[i].klen);
		if (rc)
			return op_fail(s, &op, rc);
	}
	int rc = op_begin(s, true, &op);
	if (rc)
		return op_fail(s, &op, rc);
	uint32_t ks;
	rc = keyspace_lookup(s, keyspace, true, &ks);
	for (size_t i = 0; rc == HDB_OK && i < n; i++)
		rc = kv_put_one(s, n > 1 || s->explicit_txn, ks, ops[i].key, ops[i].klen, ops[i].val, ops[i].vlen);
	return op_end(s, &op, rc);
}

/* Splits an opened 'V' payload p[0..n); checks the key when want != NULL. */
static int kv_split(struct hdb_session *s, const unsigned char *p, size_t n, const void *want, size_t wantlen,
                    const unsigned char **ret_key, size_t *ret_klen, size_t *ret_vlen)
{
	if (n < 4)
		return sess_err(s, HDB_ECORRUPT, "key-value entry is malformed");
	size_t kl = get_u32be(p + n - 4);
	if (kl > n - 4)
		return sess_err(s, HDB_ECORRUPT, "key-value entry is malformed");
	size_t vl = n - 4 - kl;
	if (want && (kl != wantlen || memcmp(p + vl, want, kl) != 0))
		return HDB_ENOTFOUND;
	*ret_key = p + vl;
	*ret_klen = kl;
	*ret_vlen = vl;
	return HDB_OK;
}

int hdb_kv_get(struct hdb_session *s, const char *keyspace, const void *key, size_t klen, void **ret_val,
               size_t *ret_len)
{
	struct op op = OP_INIT(AUDIT_EV_READ, NULL);
	if (!s || !ret_val || !ret_len)
		return HDB_EINVAL;
	trail_kv_object(s, op.type, keyspace, key, klen, op.object, sizeof(op.object));
	op.rows = 0;
	int rc = check_key(s, key, klen);
	if (rc)
		return op_fail(s, &op, rc);
	rc = op_begin(s, false, &op);
	if (rc)
		return op_fail(s, &op, rc);
	uint32_t ks;
	unsigned char k[ENGINE_MAX_LMDB_KEY];
	size_t kl;
	rc = keyspace_lookup(s, keyspace, false, &ks);
	if (!rc)
		rc = kv_key(s, ks, key, klen, k, &kl);
	struct buf b = { 0 };   /* decrypted in place; handed to the caller */
	if (!rc)
		rc = sess_get(s, k, kl, &b);
	if (!rc) {
		const unsigned char *kp;
		size_t kpl, vpl;
		rc = kv_split(s, b.p, b.len, key, klen, &kp, &kpl, &vpl);
		if (!rc) {
			memset(b.p + vpl, 0, b.len - vpl); /* only the value leaves */
			op.rows = 1;
			*ret_val = b.p;
			*ret_len = vpl;
			b.p = NULL;
		}
	}
	buf_free_wipe(&b);
	if (rc == HDB_ENOTFOUND && !s->errmsg[0])
		sess_err(s, HDB_ENOTFOUND, "key not found");
	return op_end(s, &op, rc);
}

int hdb_kv_delete(struct hdb_session *s, const char *keyspace, const void *key, size_t klen)
{
	struct op op = OP_INIT(AUDIT_EV_DELETE, NULL);
	if (!s)
		return HDB_EINVAL;
	trail_kv_object(s, op.type, keyspace, key, klen, op.object, sizeof(op.object));
	op.rows = 0;
	int rc = check_key(s, key, klen);
	if (rc)
		return op_fail(s, &op, rc);
	rc = op_begin(s, true, &op);
	if (rc)
		return op_fail(s, &op, rc);
	uint32_t ks;
	unsigned char k[ENGINE_MAX_LMDB_KEY];
	size_t kl;
	rc = keyspace_lookup(s, keyspace, false, &ks);
	if (!rc)
		rc = kv_key(s, ks, key, klen, k, &kl);
	if (!rc) {
		MDB_val mk = { kl, k };
		int mrc = mdb_del(s->txn, s->db->data, &mk, NULL);
		if (mrc == MDB_NOTFOUND)
			rc = sess_err(s, HDB_ENOTFOUND, "key not found");
		else if (mrc)
			rc = sess_err(s, mdb_to_hdb(mrc), "cannot delete: %s", mdb_strerror(mrc));
		else
			op.rows = 1;
	}
	return op_end(s, &op, rc);
}

int hdb_kv_scan(struct hdb_session *s, const char *keyspace, hdb_kv_scan_fn fn, void *arg)
{
	struct op op = OP_INIT(AUDIT_EV_READ, NULL);
	if (!s || !fn)
		return HDB_EINVAL;
	op_object(&op, "keyspace", keyspace);
	op.rows = 0;
	int rc = op_begin(s, false, &op);
	if (rc)
		return op_fail(s, &op, rc);
	uint32_t ks;
	MDB_cursor *c = NULL;
	struct buf b = { 0 };
	int stop = 0;
	rc = keyspace_lookup(s, keyspace, false, &ks);
	if (rc)
		goto out;
	int mrc = mdb_cursor_open(s->txn, s->db->data, &c);
	if (mrc) {
		rc = sess_err(s, mdb_to_hdb(mrc), "cannot open cursor: %s", mdb_strerror(mrc));
		goto out;
	}
	unsigned char prefix[5] = { TAG_KV };
	put_u32be(prefix + 1, ks);
	MDB_val mk = { sizeof(prefix), prefix }, mv, nk = { 0, NULL }, nv = { 0, NULL };
	/* In a read txn of the scan's own the snapshot's pages stay put while
	 * fn runs, so the cursor steps one entry ahead and the next value is
	 * fetched into the cache while this one is decrypted.  Not in a write
	 * txn (fn may write, which can move pages), nor in the caller's
	 * explicit txn (fn may end it); nor in plaintext mode (nothing to
	 * decrypt). */
	const bool ahead = op.auto_txn && !s->write && s->db->encrypted;
	mrc = mdb_cursor_get(c, &mk, &mv, MDB_SET_RANGE);
	while (mrc == MDB_SUCCESS) {
		if (mk.mv_size < sizeof(prefix) || memcmp(mk.mv_data, prefix, sizeof(prefix)) != 0)
			break;
		int nrc = MDB_NOTFOUND;
		if (ahead) {
			nrc = mdb_cursor_get(c, &nk, &nv, MDB_NEXT);
			if (nrc == MDB_SUCCESS)
				value_prefetch(&nv);
		}
		const unsigned char *p, *kp;
		size_t n, kpl, vpl;
		rc = sess_view_value(s, mk.mv_data, mk.mv_size, &mv, &b, &p, &n);
		if (rc)
			goto out;
		rc = kv_split(s, p, n, NULL, 0, &kp, &kpl, &vpl);
		if (rc)
			goto out;
		op.rows++;
		stop = fn(arg, kp, kpl, p, vpl);
		if (stop)
			goto out;
		if (ahead) {
			mrc = nrc;
			mk = nk;
			mv = nv;
		} else {
			mrc = mdb_cursor_get(c, &mk, &mv, MDB_NEXT);
		}
	}
	if (mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
		rc = sess_err(s, mdb_to_hdb(mrc), "cannot read: %s", mdb_strerror(mrc));
out:
	if (c)
		mdb_cursor_close(c);
	buf_free_wipe(&b);
	rc = op_end(s, &op, rc);
	return rc ? rc : stop;
}
