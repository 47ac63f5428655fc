/*
 * table.c - the catalog and the table API (the layer a SQL front end sits on).
 *
 *   'N' prf("tbl" 0 name)          -> sealed u32 table id || name
 *   'C' u32 table id               -> sealed schema (engine/row.h encoding)
 *   'R' u32 id || prf(u32 id || pk) -> sealed row
 *   'S' 2 u32 id                   -> sealed next hidden row id (tables without a key)
 *
 * Rows of one table are contiguous in LMDB (the prefix is the table id), in
 * keyed-hash order: a full scan is a range scan of the prefix; a primary
 * key lookup is one B-tree descent; a key range scan is a full scan plus a
 * filter (the price of not storing keys in plaintext; docs/storage.md).
 *
 * Each session caches schemas by name together with the sealed bytes of
 * the 'N' entry they came from; a lookup re-reads that entry (one B-tree
 * descent, no decryption) and trusts the cache only if the bytes are
 * unchanged, so DDL by another session or process is always seen.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

static int check_table_name(struct hdb_session *s, const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > HDB_MAX_NAME_LEN)
		return sess_err(s, HDB_EINVAL, "table name must be 1 to %d bytes", HDB_MAX_NAME_LEN);
	return HDB_OK;
}

/* table_lookup - the schema of `name` (owned by the session cache: valid
 * until the next catalog change in this session). */
int table_lookup(struct hdb_session *s, const char *name, struct hdb_schema **ret_sc)
{
	int rc = check_table_name(s, name);
	if (rc)
		return rc;
	struct sess_name *e;
	rc = name_find(s, TAG_NAME, name, &e);
	if (rc == HDB_ENOTFOUND)
		return sess_err(s, HDB_ENOTFOUND, "table '%s' does not exist", name);
	if (rc)
		return rc;
	if (e->sc) {
		*ret_sc = e->sc;
		return HDB_OK;
	}
	struct buf b = { 0 };
	unsigned char ck[5] = { TAG_CATALOG };
	put_u32be(ck + 1, e->id);
	rc = sess_get(s, ck, sizeof(ck), &b);
	if (rc == HDB_ENOTFOUND)
		rc = sess_err(s, HDB_ECORRUPT, "catalog entry of table '%s' is missing", name);
	if (rc)
		goto out;
	struct hdb_schema *sc;
	rc = schema_decode(b.p, b.len, &sc);
	if (rc) {
		rc = sess_err(s, HDB_ECORRUPT, "catalog entry of table '%s' is malformed", name);
		goto out;
	}
	if (sc->table_id != e->id || strcmp(sc->table, name) != 0) {
		hdb_schema_free(sc);
		rc = sess_err(s, HDB_ECORRUPT, "catalog entry of table '%s' does not match its index", name);
		goto out;
	}
	e->sc = sc;
	*ret_sc = sc;
out:
	buf_free(&b);
	return rc;
}

int hdb_table_create(struct hdb_session *s, const char *name, const struct hdb_column_def *cols, size_t ncols)
{
	struct op op = OP_INIT(AUDIT_EV_DDL, name);
	char err[512] = "";
	struct hdb_schema *sc = NULL;
	struct buf b = { 0 };
	if (!s)
		return HDB_EINVAL;
	int rc = check_table_name(s, name);
	if (rc)
		return op_fail(s, &op, rc);
	op_object(&op, "create table", name);
	rc = schema_new(name, 0, cols, ncols, &sc, err, sizeof(err));
	if (rc)
		return op_fail(s, &op, sess_err(s, rc, "table '%s': %s", name, err));
	rc = profiles_check_columns(s, name, cols, ncols);
	if (rc) {
		hdb_schema_free(sc);
		return op_fail(s, &op, rc);
	}
	rc = op_begin(s, true, &op);
	if (rc) {
		rc = op_fail(s, &op, rc);
		goto out;
	}
	sess_cache_clear(s);
	struct sess_name *e;
	rc = name_find(s, TAG_NAME, name, &e);
	if (rc == HDB_OK) {
		rc = sess_err(s, HDB_EEXIST, "table '%s' already exists", name);
		goto out_end;
	}
	if (rc != HDB_ENOTFOUND)
		goto out_end;
	uint64_t id;
	rc = sess_next_counter(s, STATE_NEXT_ID, 0, &id);
	if (rc)
		goto out_end;
	if (id > UINT32_MAX) {
		rc = sess_err(s, HDB_EFULL, "object ids exhausted");
		goto out_end;
	}
	sc->table_id = (uint32_t)id;
	rc = schema_encode(sc, &b);
	if (rc)
		goto out_end;
	unsigned char ck[5] = { TAG_CATALOG };
	put_u32be(ck + 1, sc->table_id);
	rc = sess_put_sealed(s, ck, sizeof(ck), b.p, b.len, MDB_NOOVERWRITE);
	if (rc)
		goto out_end;
	rc = name_create(s, TAG_NAME, name, sc->table_id);
out_end:
	rc = op_end(s, &op, rc);
out:
	buf_free(&b);
	hdb_schema_free(sc);
	return rc;
}

/* Deletes every key starting with prefix. */
static int del_prefix(struct hdb_session *s, const unsigned char *prefix, size_t plen)
{
	MDB_cursor *c;
	int mrc = mdb_cursor_open(s->txn, s->db->data, &c);
	if (mrc)
		return sess_err(s, mdb_to_hdb(mrc), "cannot open cursor: %s", mdb_strerror(mrc));
	MDB_val mk, mv;
	for (;;) { /* re-seek after each delete (see trail.c outbox_trim) */
		mk.mv_size = plen;
		mk.mv_data = (void *)prefix;
		mrc = mdb_cursor_get(c, &mk, &mv, MDB_SET_RANGE);
		if (mrc)
			break;
		if (mk.mv_size < plen || memcmp(mk.mv_data, prefix, plen) != 0)
			break;
		mrc = mdb_cursor_del(c, 0);
		if (mrc)
			break;
	}
	mdb_cursor_close(c);
	if (mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
		return sess_err(s, mdb_to_hdb(mrc), "cannot delete: %s", mdb_strerror(mrc));
	return HDB_OK;
}

int hdb_table_drop(struct hdb_session *s, const char *name)
{
	struct op op = OP_INIT(AUDIT_EV_DDL, name);
	if (!s)
		return HDB_EINVAL;
	op_object(&op, "drop table", name);
	int rc = op_begin(s, true, &op);
	if (rc)
		return op_fail(s, &op, rc);
	struct hdb_schema *sc;
	rc = table_lookup(s, name, &sc);
	if (rc)
		goto out;
	uint32_t id = sc->table_id;
	sess_cache_clear(s); /* sc is freed here: id is all we need */
	unsigned char nkey[sizeof(((struct sess_name *)0)->nkey)], k[6];
	size_t nkl;
	rc = name_key(s, TAG_NAME, name, nkey, &nkl);
	if (rc)
		goto out;
	MDB_val mk = { nkl, nkey };
	int mrc = mdb_del(s->txn, s->db->data, &mk, NULL);
	k[0] = TAG_CATALOG;
	put_u32be(k + 1, id);
	mk.mv_size = 5;
	mk.mv_data = k;
	if (!mrc)
		mrc = mdb_del(s->txn, s->db->data, &mk, NULL);
	if (mrc) {
		rc = sess_err(s, mdb_to_hdb(mrc), "cannot drop table '%s': %s", name, mdb_strerror(mrc));
		goto out;
	}
	k[0] = TAG_STATE;
	k[1] = STATE_NEXT_ROWID;
	put_u32be(k + 2, id);
	mk.mv_size = 6;
	mrc = mdb_del(s->txn, s->db->data, &mk, NULL);
	if (mrc && mrc != MDB_NOTFOUND) {
		rc = sess_err(s, mdb_to_hdb(mrc), "cannot drop table '%s': %s", name, mdb_strerror(mrc));
		goto out;
	}
	k[0] = TAG_ROW;
	put_u32be(k + 1, id);
	rc = del_prefix(s, k, 5);
out:
	return op_end(s, &op, rc);
}

int hdb_table_schema(struct hdb_session *s, const char *name, struct hdb_schema **ret_sc)
{
	struct op op = OP_INIT(AUDIT_EV_READ, name);
	if (!s || !ret_sc)
		return HDB_EINVAL;
	int rc = op_begin(s, false, &op);
	if (rc)
		return op_fail(s, &op, rc);
	struct hdb_schema *sc;
	rc = table_lookup(s, name, &sc);
	if (!rc)
		rc = schema_dup(sc, ret_sc);
	return op_end(s, &op, rc);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void hdb_free_names(char **names, size_t n)
{
	if (!names)
		return;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int hdb_table_list(struct hdb_session *s, char ***ret_names, size_t *ret_n)
{
	struct op op = OP_INIT(AUDIT_EV_READ, NULL);
	if (!s || !ret_names || !ret_n)
		return HDB_EINVAL;
	int rc = op_begin(s, false, &op);
	if (rc)
		return op_fail(s, &op, rc);
	char **names = NULL;
	size_t n = 0;
	struct buf b = { 0 };
	MDB_cursor *c = NULL;
	int mrc = mdb_cursor_open(s->txn, s->db->data, &c);
	if (mrc) {
		rc = sess_err(s, mdb_to_hdb(mrc), "cannot open cursor: %s", mdb_strerror(mrc));
		goto out;
	}
	unsigned char tag = TAG_NAME;
	MDB_val mk = { 1, &tag }, mv;
	for (mrc = mdb_cursor_get(c, &mk, &mv, MDB_SET_RANGE); mrc == MDB_SUCCESS;
	     mrc = mdb_cursor_get(c, &mk, &mv, MDB_NEXT)) {
		if (((unsigned char *)mk.mv_data)[0] != TAG_NAME)
			break;
		rc = sess_open_value(s, mk.mv_data, mk.mv_size, &mv, &b);
		if (rc)
			goto out;
		if (b.len < 5) {
			rc = sess_err(s, HDB_ECORRUPT, "catalog index entry is malformed");
			goto out;
		}
		char **nn = realloc(names, (n + 1) * sizeof(*nn));
		if (!nn || !(nn[n] = xstrndup((char *)b.p + 4, b.len - 4))) {
			if (nn)
				names = nn;
			rc = sess_err(s, HDB_ENOMEM, "out of memory");
			goto out;
		}
		names = nn;
		n++;
	}
	if (mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
		rc = sess_err(s, mdb_to_hdb(mrc), "cannot read catalog: %s", mdb_strerror(mrc));
out:
	if (c)
		mdb_cursor_close(c);
	buf_free(&b);
	rc = op_end(s, &op, rc);
	if (rc) {
		hdb_free_names(names, n);
		return rc;
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_names);
	*ret_names = names;
	*ret_n = n;
	return HDB_OK;
}

/* ------------------------------------------------------------------- rows */

/* 'R' || u32 id || prf(u32 id || key encoding) */
static int row_key(struct hdb_session *s, const struct hdb_schema *sc, const struct buf *pk, unsigned char *out,
                   size_t *ret_len)
{
	out[0] = TAG_ROW;
	put_u32be(out + 1, sc->table_id);
	size_t hl;
	int rc = sess_hash(s, out + 1, 4, pk->p, pk->len, out + 5, &hl);
	*ret_len = 5 + hl;
	return rc;
}

static int insert_one(struct hdb_session *s, const struct hdb_schema *sc, const struct hdb_value *vals,
                      size_t ncols)
{
	char err[512] = "";
	int rc = row_check(sc, vals, ncols, err, sizeof(err));
	if (rc)
		return sess_err(s, rc, "table '%s': %s", sc->table, err);
	buf_reset(&s->kbuf);
	if (sc->npk) {
		rc = row_encode_pk_of_row(sc, vals, &s->kbuf);
	} else {
		uint64_t rowid;
		rc = sess_next_counter(s, STATE_NEXT_ROWID, sc->table_id, &rowid);
		if (!rc)
			rc = buf_putc(&s->kbuf, 0xff);
		if (!rc)
			rc = buf_put_u64be(&s->kbuf, rowid);
	}
	if (rc)
		return rc < 0 && !s->errmsg[0] ? sess_err(s, rc, "cannot encode row") : rc;
	unsigned char k[ENGINE_MAX_LMDB_KEY];
	size_t kl;
	rc = row_key(s, sc, &s->kbuf, k, &kl);
	if (rc)
		return rc;
	buf_reset(&s->pbuf);
	rc = row_encode(sc, vals, &s->pbuf);
	if (rc)
		return sess_err(s, rc, "table '%s': cannot encode row", sc->table);
	rc = sess_put_sealed(s, k, kl, s->pbuf.p, s->pbuf.len, MDB_NOOVERWRITE);
	if (rc == HDB_EEXIST)
		return sess_err(s, HDB_EEXIST, "duplicate key value violates the primary key of table '%s'", sc->table);
	return rc;
}

int hdb_insert(struct hdb_session *s, const char *table, const struct hdb_value *vals, size_t ncols)
{
	return hdb_insert_batch(s, table, vals, 1, ncols);
}

int hdb_insert_batch(struct hdb_session *s, const char *table, const struct hdb_value *vals, size_t nrows,
                     size_t ncols)
{
	struct op op = OP_INIT(AUDIT_EV_WRITE, table);
	if (!s || (!vals && nrows))
		return HDB_EINVAL;
	op_object(&op, "table", table);
	op.rows = (int64_t)nrows;
	int rc = op_begin(s, true, &op);
	if (rc)
		return op_fail(s, &op, rc);
	struct hdb_schema *sc;
	rc = table_lookup(s, table, &sc);
	for (size_t i = 0; rc == HDB_OK && i < nrows; i++)
		rc = insert_one(s, sc, vals + i * ncols, ncols);
	return op_end(s, &op, rc);
}

/* Key of the row whose primary key is pk[0..npk). */
static int pk_lookup_key(struct hdb_session *s, const struct hdb_schema *sc, const struct hdb_value *pk,
                         size_t npk, unsigned char *k, size_t *kl)
{
	char err[512] = "";
	if (sc->npk == 0)
		return sess_err(s, HDB_EINVAL, "table '%s' has no primary key", sc->table);
	int rc = row_check_pk(sc, pk, npk, err, sizeof(err));
	if (rc)
		return sess_err(s, rc, "table '%s': %s", sc->table, err);
	buf_reset(&s->kbuf);
	rc = row_encode_pk(sc, pk, npk, &s->kbuf);
	if (rc)
		return sess_err(s, rc, "table '%s': cannot encode key", sc->table);
	return row_key(s, sc, &s->kbuf, k, kl);
}

/* Opens and decodes the row at k; checks it really has key s->kbuf. */
static int read_row(struct hdb_session *s, const struct hdb_schema *sc, const unsigned char *k, size_t kl,
                    const MDB_val *mv, bool check_pk, struct hdb_row **ret)
{
	const unsigned char *p;
	size_t n;
	int rc = sess_view_value(s, k, kl, mv, &s->vbuf, &p, &n);
	if (rc) {
		char why[sizeof(s->errmsg)];
		snprintf(why, sizeof(why), "%s", s->errmsg);
		return sess_err(s, rc, "table '%s': %s", sc->table, why);
	}
	struct hdb_row *r;
	rc = row_decode(sc, p, n, &r);
	if (rc)
		return sess_err(s, HDB_ECORRUPT, "table '%s': stored row is malformed", sc->table);
	if (check_pk) {
		buf_reset(&s->pbuf);
		rc = row_encode_pk_of_row(sc, r->vals, &s->pbuf);
		if (rc || s->pbuf.len != s->kbuf.len || memcmp(s->pbuf.p, s->kbuf.p, s->kbuf.len) != 0) {
			hdb_row_free(r);
			return rc ? rc : HDB_ENOTFOUND;
		}
	}
	*ret = r;
	return HDB_OK;
}

int hdb_get(struct hdb_session *s, const char *table, const struct hdb_value *pk, size_t npk,
            struct hdb_row **ret_row)
{
	struct op op = OP_INIT(AUDIT_EV_READ, table);
	if (!s || !ret_row)
		return HDB_EINVAL;
	op_object(&op, "table", table);
	op.rows = 0;
	int rc = op_begin(s, false, &op);
	if (rc)
		return op_fail(s, &op, rc);
	struct hdb_schema *sc;
	unsigned char k[ENGINE_MAX_LMDB_KEY];
	size_t kl;
	rc = table_lookup(s, table, &sc);
	if (!rc)
		rc = pk_lookup_key(s, sc, pk, npk, k, &kl);
	if (!rc) {
		MDB_val mk = { kl, k }, mv;
		int mrc = mdb_get(s->txn, s->db->data, &mk, &mv);
		if (mrc == MDB_NOTFOUND)
			rc = HDB_ENOTFOUND;
		else if (mrc)
			rc = sess_err(s, mdb_to_hdb(mrc), "cannot read: %s", mdb_strerror(mrc));
		else
			rc = read_row(s, sc, k, kl, &mv, true, ret_row);
		if (rc == HDB_OK)
			op.rows = 1;
		if (rc == HDB_ENOTFOUND)
			sess_err(s, rc, "no row with that key in table '%s'", table);
	}
	return op_end(s, &op, rc);
}

int hdb_delete(struct hdb_session *s, const char *table, const struct hdb_value *pk, size_t npk)
{
	struct op op = OP_INIT(AUDIT_EV_DELETE, table);
	if (!s)
		return HDB_EINVAL;
	op_object(&op, "table", table);
	op.rows = 0;
	int rc = op_begin(s, true, &op);
	if (rc)
		return op_fail(s, &op, rc);
	struct hdb_schema *sc;
	unsigned char k[ENGINE_MAX_LMDB_KEY];
	size_t kl;
	rc = table_lookup(s, table, &sc);
	if (!rc)
		rc = pk_lookup_key(s, sc, pk, npk, k, &kl);
	if (!rc) {
		MDB_val mk = { kl, k };
		int mrc = mdb_del(s->txn, s->db->data, &mk, NULL);
		if (mrc == MDB_NOTFOUND)
			rc = sess_err(s, HDB_ENOTFOUND, "no row with that key in table '%s'", table);
		else if (mrc)
			rc = sess_err(s, mdb_to_hdb(mrc), "cannot delete: %s", mdb_strerror(mrc));
		else
			op.rows = 1;
	}
	return op_end(s, &op, rc);
}

int hdb_update(struct hdb_session *s, const char *table, const struct hdb_value *pk, size_t npk,
               const struct hdb_value *vals, size_t ncols)
{
	struct op op = OP_INIT(AUDIT_EV_WRITE, table);
	char err[512] = "";
	if (!s)
		return HDB_EINVAL;
	op_object(&op, "table", table);
	op.rows = 0;
	int rc = op_begin(s, true, &op);
	if (rc)
		return op_fail(s, &op, rc);
	struct hdb_schema *sc;
	unsigned char k[ENGINE_MAX_LMDB_KEY];
	size_t kl;
	rc = table_lookup(s, table, &sc);
	if (!rc)
		rc = row_check(sc, vals, ncols, err, sizeof(err));
	if (rc == HDB_ECONSTRAINT || rc == HDB_EINVAL)
		rc = sess_err(s, rc, "table '%s': %s", table, err);
	if (!rc)
		rc = pk_lookup_key(s, sc, pk, npk, k, &kl);
	if (rc)
		goto out;
	MDB_val mk = { kl, k }, mv;
	int mrc = mdb_get(s->txn, s->db->data, &mk, &mv);
	if (mrc == MDB_NOTFOUND) {
		rc = sess_err(s, HDB_ENOTFOUND, "no row with that key in table '%s'", table);
		goto out;
	}
	if (mrc) {
		rc = sess_err(s, mdb_to_hdb(mrc), "cannot read: %s", mdb_strerror(mrc));
		goto out;
	}
	/* the new key: same as the old one -> overwrite in place */
	buf_reset(&s->pbuf);
	rc = row_encode_pk_of_row(sc, vals, &s->pbuf);
	if (rc)
		goto out;
	if (s->pbuf.len == s->kbuf.len && memcmp(s->pbuf.p, s->kbuf.p, s->kbuf.len) == 0) {
		buf_reset(&s->pbuf);
		rc = row_encode(sc, vals, &s->pbuf);
		if (!rc)
			rc = sess_put_sealed(s, k, kl, s->pbuf.p, s->pbuf.len, 0);
		goto out;
	}
	mrc = mdb_del(s->txn, s->db->data, &mk, NULL);
	if (mrc) {
		rc = sess_err(s, mdb_to_hdb(mrc), "cannot update: %s", mdb_strerror(mrc));
		goto out;
	}
	rc = insert_one(s, sc, vals, ncols);
out:
	if (rc == HDB_OK)
		op.rows = 1;
	return op_end(s, &op, rc);
}

/* ---------------------------------------------------------------- cursors */

int hdb_cursor_open(struct hdb_session *s, const char *table, struct hdb_cursor **ret_c)
{
	if (!s || !ret_c)
		return HDB_EINVAL;
	struct op op = OP_INIT(AUDIT_EV_READ, table);
	op_object(&op, "table", table);
	op.rows = 0;
	s->errmsg[0] = '\0';
	int rc = trail_check(s);
	if (rc)
		return op_fail(s, &op, rc);
	struct hdb_cursor *c = calloc(1, sizeof(*c));
	if (!c)
		return op_fail(s, &op, sess_err(s, HDB_ENOMEM, "out of memory"));
	c->s = s;
	if (s->txn) {
		if (s->poisoned) {
			free(c);
			return op_fail(s, &op, sess_err(s, HDB_ETXN, "the transaction failed earlier; abort it with hdb_abort()"));
		}
		c->txn = s->txn;
	} else {
		int mrc = mdb_txn_begin(s->db->env, NULL, MDB_RDONLY, &c->txn);
		if (mrc) {
			free(c);
			return op_fail(s, &op, sess_err(s, mdb_to_hdb(mrc), "cannot begin transaction: %s", mdb_strerror(mrc)));
		}
		c->own_txn = true;
	}
	/* table_lookup reads through s->txn: lend it the cursor's txn */
	MDB_txn *saved = s->txn;
	s->txn = c->txn;
	struct hdb_schema *sc;
	rc = table_lookup(s, table, &sc);
	if (!rc)
		rc = schema_dup(sc, &c->sc);
	s->txn = saved;
	if (rc)
		goto out_fail;
	int mrc = mdb_cursor_open(c->txn, s->db->data, &c->cur);
	if (mrc) {
		rc = sess_err(s, mdb_to_hdb(mrc), "cannot open cursor: %s", mdb_strerror(mrc));
		goto out_fail;
	}
	c->prefix[0] = TAG_ROW;
	put_u32be(c->prefix + 1, c->sc->table_id);
	/* look-ahead (hdb_cursor_next) only in the cursor's own read txn: a
	 * borrowed one may write, or end while the cursor is open */
	c->ahead = s->db->encrypted && c->own_txn;
	snprintf(c->table, sizeof(c->table), "%s", table);
	*ret_c = c;
	return HDB_OK;
out_fail:
	c->s = NULL; /* no record from close: the failure is recorded here */
	hdb_cursor_close(c);
	return op_fail(s, &op, rc);
}

static int cursor_fail(struct hdb_cursor *c, int rc)
{
	if (!c->err) {
		c->err = rc;
		snprintf(c->errmsg, sizeof(c->errmsg), "%.255s", c->s->errmsg);
	}
	return rc;
}

int hdb_cursor_next(struct hdb_cursor *c, const struct hdb_row **ret_row)
{
	if (!c || !ret_row)
		return HDB_EINVAL;
	struct hdb_session *s = c->s;
	hdb_row_free(c->row);
	c->row = NULL;
	MDB_val mk, mv;
	int mrc;
	if (!c->started) {
		mk.mv_size = sizeof(c->prefix);
		mk.mv_data = c->prefix;
		mrc = mdb_cursor_get(c->cur, &mk, &mv, MDB_SET_RANGE);
		c->started = true;
	} else if (c->ahead) {
		mrc = c->nrc;
		mk = c->nk;
		mv = c->nv;
	} else {
		mrc = mdb_cursor_get(c->cur, &mk, &mv, MDB_NEXT);
	}
	if (mrc == MDB_NOTFOUND)
		return HDB_ENOTFOUND;
	if (mrc)
		return cursor_fail(c, sess_err(s, mdb_to_hdb(mrc), "cannot read: %s", mdb_strerror(mrc)));
	if (mk.mv_size < sizeof(c->prefix) || memcmp(mk.mv_data, c->prefix, sizeof(c->prefix)) != 0)
		return HDB_ENOTFOUND;
	if (c->ahead) {
		/* a read snapshot: mk/mv stay valid while the cursor moves on and
		 * the next row's value is fetched into the cache during this one */
		c->nrc = mdb_cursor_get(c->cur, &c->nk, &c->nv, MDB_NEXT);
		if (c->nrc == MDB_SUCCESS)
			value_prefetch(&c->nv);
	}
	MDB_txn *saved = s->txn;
	s->txn = c->txn;
	int rc = read_row(s, c->sc, mk.mv_data, mk.mv_size, &mv, false, &c->row);
	s->txn = saved;
	if (rc)
		return cursor_fail(c, rc);
	c->rows++;
	*ret_row = c->row;
	return HDB_OK;
}

void hdb_cursor_close(struct hdb_cursor *c)
{
	if (!c)
		return;
	hdb_row_free(c->row);
	if (c->cur)
		mdb_cursor_close(c->cur);
	if (c->own_txn)
		mdb_txn_abort(c->txn);
	hdb_schema_free(c->sc);
	if (c->s) {
		/* the read's one record: how many rows it returned */
		struct audit_event ev = { .type = AUDIT_EV_READ, .outcome = c->err ? AUDIT_FAILURE : AUDIT_SUCCESS,
			                  .error = c->err ? c->errmsg : NULL, .table = c->table,
			                  .rows_affected = c->rows };
		char obj[96];
		snprintf(obj, sizeof(obj), "table:%s", c->table);
		ev.object = obj;
		(void)trail_record(c->s, &ev);
	}
	free(c);
}

int hdb_scan(struct hdb_session *s, const char *table, hdb_scan_fn fn, void *arg)
{
	if (!s || !fn)
		return HDB_EINVAL;
	struct hdb_cursor *c;
	int rc = hdb_cursor_open(s, table, &c);
	if (rc)
		return rc;
	const struct hdb_row *r;
	int stop = 0;
	while ((rc = hdb_cursor_next(c, &r)) == HDB_OK) {
		stop = fn(arg, r);
		if (stop)
			break;
	}
	hdb_cursor_close(c);
	if (rc == HDB_ENOTFOUND || stop)
		rc = HDB_OK;
	return rc ? rc : stop;
}
