/*
 * names.c - the sealed name indexes of the catalog and the per-session
 * cache in front of them.
 *
 *   'N' prf("tbl" 0 name) -> sealed u32 table id || name      (tables)
 *   'K' prf("ks" 0 name)  -> sealed u32 keyspace id || name   (keyspaces)
 *
 * A session caches each name it resolved with the sealed bytes of the
 * index entry it came from.  A lookup trusts the cache without any read
 * when the entry was checked in the same LMDB snapshot (same txn id);
 * otherwise it re-reads the entry (one B-tree descent, no decryption) and
 * trusts the cache only if the bytes are unchanged.  Since every rewrite
 * seals with a fresh nonce, DDL by another session or process is always
 * seen.  DDL by this session, and a rolled-back write txn, clear the cache
 * (sess_cache_clear), because an entry checked in a snapshot is trusted
 * for the rest of it.
 */
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

static const char *domain_of(unsigned char tag, size_t *ret_len)
{
	static const char tbl[] = "tbl", ks[] = "ks";  /* with their NULs */
	if (tag == TAG_KSNAME) {
		*ret_len = sizeof(ks);
		return ks;
	}
	*ret_len = sizeof(tbl);
	return tbl;
}

int name_key(struct hdb_session *s, unsigned char tag, const char *name, unsigned char *out, size_t *ret_len)
{
	size_t dl, hl;
	const char *d = domain_of(tag, &dl);
	out[0] = tag;
	int rc = sess_hash(s, d, dl, name, strlen(name), out + 1, &hl);
	*ret_len = 1 + hl;
	return rc;
}

static void slot_clear(struct sess_name *e)
{
	free(e->name);
	buf_free(&e->nraw);
	hdb_schema_free(e->sc);
	memset(e, 0, sizeof(*e));
}

void sess_cache_clear(struct hdb_session *s)
{
	for (size_t i = 0; i < s->nnames; i++)
		slot_clear(&s->names[i]);
	s->nnames = 0;
}

static struct sess_name *slot_new(struct hdb_session *s, uint32_t id)
{
	struct sess_name *e;
	if (s->nnames < SESS_CACHE)
		e = &s->names[s->nnames++];
	else
		e = &s->names[id % SESS_CACHE];
	slot_clear(e);
	return e;
}

/* name_find - resolves `name` in the index `tag`: HDB_OK with *ret the
 * cache slot (its id; sc still NULL for a table until the caller loads
 * it), HDB_ENOTFOUND with s->errmsg unset, or an error. */
int name_find(struct hdb_session *s, unsigned char tag, const char *name, struct sess_name **ret)
{
	struct hdb_db *db = s->db;
	MDB_val mk, mv;
	size_t txnid = mdb_txn_id(s->txn);
	for (size_t i = 0; i < s->nnames; i++) {
		struct sess_name *e = &s->names[i];
		if (!e->name || e->tag != tag || strcmp(e->name, name) != 0)
			continue;
		mk.mv_size = e->nkeylen;
		mk.mv_data = e->nkey;
		if (e->txnid == txnid ||
		    (mdb_get(s->txn, db->data, &mk, &mv) == MDB_SUCCESS && mv.mv_size == e->nraw.len &&
		     memcmp(mv.mv_data, e->nraw.p, mv.mv_size) == 0)) {
			e->txnid = txnid;
			*ret = e;
			return HDB_OK;
		}
		slot_clear(e); /* stale: the name was dropped or recreated */
		break;
	}
	unsigned char nkey[sizeof(((struct sess_name *)0)->nkey)];
	size_t nkl, nlen = strlen(name);
	int rc = name_key(s, tag, name, nkey, &nkl);
	if (rc)
		return rc;
	mk.mv_size = nkl;
	mk.mv_data = nkey;
	int mrc = mdb_get(s->txn, db->data, &mk, &mv);
	if (mrc == MDB_NOTFOUND)
		return HDB_ENOTFOUND;
	if (mrc)
		return sess_err(s, mdb_to_hdb(mrc), "cannot read the catalog: %s", mdb_strerror(mrc));
	struct buf b = { 0 };
	rc = sess_open_value(s, nkey, nkl, &mv, &b);
	if (rc == HDB_OK && (b.len != 4 + nlen || memcmp(b.p + 4, name, nlen) != 0))
		rc = sess_err(s, HDB_ECORRUPT, "catalog index entry of '%s' does not match its name", name);
	if (rc) {
		buf_free(&b);
		return rc;
	}
	uint32_t id = get_u32be(b.p);
	buf_free(&b);
	struct sess_name *e = slot_new(s, id);
	e->name = strdup(name);
	if (!e->name || buf_append(&e->nraw, mv.mv_data, mv.mv_size) != HDB_OK) {
		slot_clear(e);
		return sess_err(s, HDB_ENOMEM, "out of memory");
	}
	e->tag = tag;
	memcpy(e->nkey, nkey, nkl);
	e->nkeylen = nkl;
	e->txnid = txnid;
	e->id = id;
	*ret = e;
	return HDB_OK;
}

/* name_create - writes the index entry of a new name (HDB_EEXIST if the
 * name is taken). */
int name_create(struct hdb_session *s, unsigned char tag, const char *name, uint32_t id)
{
	unsigned char nkey[sizeof(((struct sess_name *)0)->nkey)];
	size_t nkl;
	int rc = name_key(s, tag, name, nkey, &nkl);
	if (rc)
		return rc;
	sess_cache_clear(s);
	struct buf b = { 0 };
	rc = buf_put_u32be(&b, id);
	if (!rc)
		rc = buf_append(&b, name, strlen(name));
	if (!rc)
		rc = sess_put_sealed(s, nkey, nkl, b.p, b.len, MDB_NOOVERWRITE);
	buf_free(&b);
	return rc;
}
