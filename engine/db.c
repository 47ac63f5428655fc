/*
 * db.c - opening, creating and closing a database; the key hierarchy.
 *
 * Key hierarchy (envelope encryption):
 *   master key (from the configured source; never stored)
 *     ├─ key-check value  HMAC-SHA-256(master, "heliosdb kcv v1" || db id)
 *     ├─ PRF key          wrapped under master, AAD = db id || "prf"
 *     └─ data keys 1..n   wrapped under master, AAD = db id || "dek" || u32 id
 *
 * Open sequence: header -> master key -> key check -> unwrap.  A key-check
 * mismatch is the wrong key (HDB_EKEY); a matching check with a failing
 * unwrap is corruption (HDB_ECORRUPT).  No data is read before both pass.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "engine_int.h"
#include "pagecheck.h"

static const char KCV_LABEL[] = "heliosdb kcv v1";

int db_err(struct hdb_db *db, int rc, const char *fmt, ...)
{
	if (db) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(db->errmsg, sizeof(db->errmsg), fmt, ap);
		va_end(ap);
	}
	return rc;
}

int mdb_to_hdb(int mrc)
{
	switch (mrc) {
	case MDB_SUCCESS: return HDB_OK;
	case MDB_NOTFOUND: return HDB_ENOTFOUND;
	case MDB_KEYEXIST: return HDB_EEXIST;
	case MDB_MAP_FULL: return HDB_EFULL;
	case MDB_CORRUPTED: case MDB_PAGE_NOTFOUND: case MDB_INVALID: return HDB_ECORRUPT;
	case MDB_VERSION_MISMATCH: return HDB_EUNSUPPORTED;
	case MDB_READERS_FULL: case MDB_TXN_FULL: case MDB_CURSOR_FULL: case MDB_DBS_FULL:
		return HDB_EBUSY;
	case MDB_BAD_TXN: case MDB_BAD_RSLOT: return HDB_ETXN;
	case ENOMEM: return HDB_ENOMEM;
	case EACCES: case EPERM: return HDB_EPERM;
	case ENOENT: return HDB_ENOTFOUND;
	case EAGAIN: case EBUSY: return HDB_EBUSY;
	case ENOSPC: return HDB_EFULL;
	default: return mrc > 0 ? HDB_EIO : HDB_ERROR;
	}
}

void dek_meta_key(uint32_t id, unsigned char out[7])
{
	memcpy(out, "dek", 3);
	put_u32be(out + 3, id);
}

int meta_put(struct hdb_db *db, MDB_txn *txn, const void *k, size_t klen, const void *v, size_t vlen)
{
	MDB_val mk = { klen, (void *)k }, mv = { vlen, (void *)v };
	int mrc = mdb_put(txn, db->meta, &mk, &mv, 0);
	if (mrc)
		return db_err(db, mdb_to_hdb(mrc), "cannot write key record: %s", mdb_strerror(mrc));
	return HDB_OK;
}

int meta_get_u32(struct hdb_db *db, MDB_txn *txn, const char *name, uint32_t *ret)
{
	MDB_val mk = { strlen(name), (void *)name }, mv;
	int mrc = mdb_get(txn, db->meta, &mk, &mv);
	if (mrc == MDB_NOTFOUND)
		return db_err(db, HDB_ECORRUPT, "key record '%s' is missing", name);
	if (mrc)
		return db_err(db, mdb_to_hdb(mrc), "cannot read key record '%s': %s", name, mdb_strerror(mrc));
	if (mv.mv_size != 4)
		return db_err(db, HDB_ECORRUPT, "key record '%s' is malformed", name);
	*ret = get_u32be(mv.mv_data);
	return HDB_OK;
}

int meta_dek_get(struct hdb_db *db, MDB_txn *txn, uint32_t id, unsigned char rec[DEK_REC_LEN])
{
	unsigned char k[7];
	dek_meta_key(id, k);
	MDB_val mk = { sizeof(k), k }, mv;
	int mrc = mdb_get(txn, db->meta, &mk, &mv);
	if (mrc == MDB_NOTFOUND)
		return db_err(db, HDB_ECORRUPT, "data key %u is missing", id);
	if (mrc)
		return db_err(db, mdb_to_hdb(mrc), "cannot read data key %u: %s", id, mdb_strerror(mrc));
	if (mv.mv_size != DEK_REC_LEN)
		return db_err(db, HDB_ECORRUPT, "data key record %u is malformed", id);
	memcpy(rec, mv.mv_data, DEK_REC_LEN);
	return HDB_OK;
}

static void wrap_aad(const struct hdb_db *db, const char *what, uint32_t id, unsigned char *aad,
                     size_t *ret_len)
{
	size_t n = 0;
	memcpy(aad, db->id, ENGINE_ID_LEN);
	n += ENGINE_ID_LEN;
	size_t wl = strlen(what);
	memcpy(aad + n, what, wl);
	n += wl;
	put_u32be(aad + n, id);
	n += 4;
	*ret_len = n;
}

/* Unwraps data key `id` from its record; HDB_ENOTFOUND when retired. */
static int dek_unwrap(struct hdb_db *db, uint32_t id, const unsigned char rec[DEK_REC_LEN],
                      struct hdb_secret **ret)
{
	if (rec[0] == DEK_RETIRED)
		return db_err(db, HDB_ENOTFOUND, "data key %u is retired", id);
	if (rec[0] != DEK_USABLE)
		return db_err(db, HDB_ECORRUPT, "data key record %u is malformed", id);
	struct hdb_secret *k;
	int rc = secret_new(CRYPTO_KEY_LEN, &k);
	if (rc)
		return db_err(db, rc, "out of memory");
	unsigned char aad[64];
	size_t aadlen;
	wrap_aad(db, "dek", id, aad, &aadlen);
	rc = crypto_unwrap_key(db->lib, db->master->buf, aad, aadlen, rec + 17, k->buf);
	if (rc) {
		secret_free(k);
		return db_err(db, HDB_ECORRUPT, "data key %u failed authentication (key records corrupt)", id);
	}
	k->len = CRYPTO_KEY_LEN;
	*ret = k;
	return HDB_OK;
}

static int dek_add(struct hdb_db *db, uint32_t id, struct hdb_secret *key)
{
	struct engine_dek *nd = realloc(db->deks, (db->ndeks + 1) * sizeof(*nd));
	if (!nd)
		return HDB_ENOMEM;
	db->deks = nd;
	db->deks[db->ndeks].id = id;
	db->deks[db->ndeks].key = key;
	db->ndeks++;
	return HDB_OK;
}

/* db_make_aead - an AEAD object for data key `id`, unwrapping the key from
 * txn's "meta" if this process has not seen it yet (another process may
 * have created it). */
int db_make_aead(struct hdb_db *db, MDB_txn *txn, uint32_t id, struct crypto_aead **ret)
{
	int rc = HDB_OK;
	pthread_mutex_lock(&db->lock);
	struct hdb_secret *key = NULL;
	for (size_t i = 0; i < db->ndeks; i++)
		if (db->deks[i].id == id)
			key = db->deks[i].key;
	if (!key) {
		unsigned char rec[DEK_REC_LEN];
		rc = meta_dek_get(db, txn, id, rec);
		if (rc)
			goto out_unlock;
		rc = dek_unwrap(db, id, rec, &key);
		if (rc)
			goto out_unlock;
		rc = dek_add(db, id, key);
		if (rc) {
			secret_free(key);
			goto out_unlock;
		}
	}
	rc = crypto_aead_new(db->lib, key->buf, ret);
out_unlock:
	pthread_mutex_unlock(&db->lock);
	return rc;
}

/* db_new_dek - creates data key (next id), wraps it, stores its record and
 * makes it the active key, all in txn.  The key is published in memory by
 * db_publish_dek() after the txn commits. */
int db_new_dek(struct hdb_db *db, MDB_txn *txn, struct engine_dek *ret)
{
	uint32_t id;
	int rc = meta_get_u32(db, txn, "nextkey", &id);
	if (rc)
		return rc;
	if (id == 0 || id == UINT32_MAX)
		return db_err(db, HDB_ECORRUPT, "data key counter is exhausted");
	struct hdb_secret *k;
	rc = secret_new(CRYPTO_KEY_LEN, &k);
	if (rc)
		return rc;
	rc = crypto_random(db->lib, k->buf, CRYPTO_KEY_LEN);
	if (rc)
		goto out_free;
	k->len = CRYPTO_KEY_LEN;
	unsigned char rec[DEK_REC_LEN], aad[64], mk[7], nb[4];
	size_t aadlen;
	rec[0] = DEK_USABLE;
	put_u64be(rec + 1, (uint64_t)time(NULL));
	put_u64be(rec + 9, 0);
	wrap_aad(db, "dek", id, aad, &aadlen);
	rc = crypto_wrap_key(db->lib, db->master->buf, aad, aadlen, k->buf, rec + 17);
	if (rc)
		goto out_free;
	dek_meta_key(id, mk);
	rc = meta_put(db, txn, mk, sizeof(mk), rec, sizeof(rec));
	if (rc)
		goto out_free;
	put_u32be(nb, id);
	rc = meta_put(db, txn, "active", 6, nb, 4);
	if (rc)
		goto out_free;
	put_u32be(nb, id + 1);
	rc = meta_put(db, txn, "nextkey", 7, nb, 4);
	if (rc)
		goto out_free;
	ret->id = id;
	ret->key = k;
	return HDB_OK;
out_free:
	secret_free(k);
	return rc;
}

void db_publish_dek(struct hdb_db *db, struct engine_dek *d)
{
	pthread_mutex_lock(&db->lock);
	bool have = false;
	for (size_t i = 0; i < db->ndeks; i++)
		have |= db->deks[i].id == d->id;
	if (have || dek_add(db, d->id, d->key) != HDB_OK)
		secret_free(d->key);
	pthread_mutex_unlock(&db->lock);
	d->key = NULL;
	d->id = 0;
}

static void header_encode(const struct hdb_db *db, uint64_t created, unsigned char h[HDR_LEN])
{
	memcpy(h, ENGINE_MAGIC, 4);
	h[4] = ENGINE_FORMAT;
	h[5] = db->encrypted ? 1 : 0;
	memcpy(h + 6, db->id, ENGINE_ID_LEN);
	h[22] = db->kdf.alg;
	put_u32be(h + 23, db->kdf.m_kib);
	put_u32be(h + 27, db->kdf.t);
	put_u32be(h + 31, db->kdf.p);
	put_u32be(h + 35, db->kdf.iterations);
	memcpy(h + 39, db->kdf.salt, KEYS_SALT_LEN);
	put_u64be(h + 55, created);
}

static int header_decode(struct hdb_db *db, const MDB_val *v)
{
	const unsigned char *h = v->mv_data;
	if (v->mv_size != HDR_LEN || memcmp(h, ENGINE_MAGIC, 4) != 0)
		return db_err(db, HDB_ECORRUPT, "'%s' is not a HeliosDB database (bad header)", db->path);
	if (h[4] != ENGINE_FORMAT)
		return db_err(db, HDB_EUNSUPPORTED, "database format %u is not supported (this build reads %u)",
		              h[4], ENGINE_FORMAT);
	if (h[5] > 1)
		return db_err(db, HDB_ECORRUPT, "database header is malformed");
	db->encrypted = h[5] == 1;
	memcpy(db->id, h + 6, ENGINE_ID_LEN);
	db->kdf.alg = h[22];
	db->kdf.m_kib = get_u32be(h + 23);
	db->kdf.t = get_u32be(h + 27);
	db->kdf.p = get_u32be(h + 31);
	db->kdf.iterations = get_u32be(h + 35);
	memcpy(db->kdf.salt, h + 39, KEYS_SALT_LEN);
	if (db->kdf.alg > KEYS_KDF_PBKDF2)
		return db_err(db, HDB_ECORRUPT, "database header names an unknown key derivation");
	return HDB_OK;
}

int db_kcv(struct hdb_db *db, const struct hdb_secret *master, unsigned char out[32])
{
	unsigned char msg[sizeof(KCV_LABEL) - 1 + ENGINE_ID_LEN];
	memcpy(msg, KCV_LABEL, sizeof(KCV_LABEL) - 1);
	memcpy(msg + sizeof(KCV_LABEL) - 1, db->id, ENGINE_ID_LEN);
	return crypto_hmac_sha256(db->lib, master->buf, CRYPTO_KEY_LEN, msg, sizeof(msg), out);
}

/* db_wrap_all - (re)writes key check, wrapped PRF key and every usable data
 * key under `master`, in txn.  Used at creation and by rotate-key. */
int db_wrap_all(struct hdb_db *db, MDB_txn *txn, const struct hdb_secret *master)
{
	unsigned char kcv[32], w[CRYPTO_WRAPPED_LEN], aad[64];
	size_t aadlen;
	int rc = db_kcv(db, master, kcv);
	if (rc)
		return rc;
	rc = meta_put(db, txn, "kcv", 3, kcv, sizeof(kcv));
	if (rc)
		return rc;
	/* when this master key was set: the cryptoperiod check (PCI DSS 3.7.4) */
	unsigned char when[8];
	put_u64be(when, (uint64_t)time(NULL));
	rc = meta_put(db, txn, "master_set", 10, when, sizeof(when));
	if (rc)
		return rc;
	wrap_aad(db, "prf", 0, aad, &aadlen);
	rc = crypto_wrap_key(db->lib, master->buf, aad, aadlen, db->prf_key->buf, w);
	if (rc)
		return rc;
	rc = meta_put(db, txn, "prf", 3, w, sizeof(w));
	if (rc)
		return rc;
	/* the audit signing key is wrapped like a data key */
	MDB_val ak = META_KEY("audit_sign"), av;
	if (mdb_get(txn, db->meta, &ak, &av) == MDB_SUCCESS && av.mv_size == CRYPTO_WRAPPED_LEN && db->master) {
		unsigned char sk[CRYPTO_KEY_LEN], saad[ENGINE_ID_LEN + 4];
		memcpy(saad, db->id, ENGINE_ID_LEN);
		memcpy(saad + ENGINE_ID_LEN, "asig", 4);
		if (crypto_unwrap_key(db->lib, db->master->buf, saad, sizeof(saad), av.mv_data, sk) != HDB_OK)
			return db_err(db, HDB_ECORRUPT, "the audit signing key record is corrupt");
		rc = crypto_wrap_key(db->lib, master->buf, saad, sizeof(saad), sk, w);
		OPENSSL_cleanse(sk, sizeof(sk));
		if (!rc)
			rc = meta_put(db, txn, "audit_sign", 10, w, sizeof(w));
		if (rc)
			return rc;
	}
	uint32_t next;
	rc = meta_get_u32(db, txn, "nextkey", &next);
	if (rc)
		return rc;
	for (uint32_t id = 1; id < next; id++) {
		unsigned char rec[DEK_REC_LEN], mk[7];
		rc = meta_dek_get(db, txn, id, rec);
		if (rc == HDB_ECORRUPT && strstr(db->errmsg, "missing"))
			continue;
		if (rc)
			return rc;
		if (rec[0] != DEK_USABLE)
			continue;
		struct hdb_secret *k;
		rc = dek_unwrap(db, id, rec, &k);
		if (rc)
			return rc;
		wrap_aad(db, "dek", id, aad, &aadlen);
		rc = crypto_wrap_key(db->lib, master->buf, aad, aadlen, k->buf, rec + 17);
		secret_free(k);
		if (rc)
			return rc;
		dek_meta_key(id, mk);
		rc = meta_put(db, txn, mk, sizeof(mk), rec, sizeof(rec));
		if (rc)
			return rc;
	}
	return HDB_OK;
}

static int create_keys(struct hdb_db *db, MDB_txn *txn, const struct hdb_config *cfg)
{
	char err[512] = "";
	int rc;
	if (cfg->key_kind == HDB_KEY_PASSWORD) {
		rc = keys_new_kdf(db->lib, cfg, &db->kdf, err, sizeof(err));
		if (rc)
			return db_err(db, rc, "%s", err);
	}
	rc = keys_load_master(db->lib, cfg, &db->kdf, &db->master, err, sizeof(err));
	if (rc)
		return db_err(db, rc, "%s", err);
	rc = secret_new(CRYPTO_KEY_LEN, &db->prf_key);
	if (rc)
		return rc;
	rc = crypto_random(db->lib, db->prf_key->buf, CRYPTO_KEY_LEN);
	if (rc)
		return db_err(db, rc, "cannot draw random bytes");
	db->prf_key->len = CRYPTO_KEY_LEN;
	unsigned char nb[4];
	put_u32be(nb, 1);
	rc = meta_put(db, txn, "nextkey", 7, nb, 4);
	if (rc)
		return rc;
	struct engine_dek d;
	rc = db_new_dek(db, txn, &d);
	if (rc)
		return rc;
	rc = dek_add(db, d.id, d.key);
	if (rc) {
		secret_free(d.key);
		return rc;
	}
	/* db_new_dek wrapped the data key; now the key check and PRF key */
	return db_wrap_all(db, txn, db->master);
}

static int load_keys(struct hdb_db *db, MDB_txn *txn, const struct hdb_config *cfg)
{
	char err[512] = "";
	int rc;
	if (!db->master) { /* else given by db_open_copy */
		if (db->kdf.alg != KEYS_KDF_NONE && cfg->key_kind != HDB_KEY_PASSWORD)
			return db_err(db, HDB_EKEYSRC,
			              "database '%s' was created with a password key; configure key_source Password",
			              db->path);
		if (db->kdf.alg == KEYS_KDF_NONE && cfg->key_kind == HDB_KEY_PASSWORD)
			return db_err(db, HDB_EKEYSRC,
			              "database '%s' was not created with a password key; configure its key source",
			              db->path);
		rc = keys_load_master(db->lib, cfg, &db->kdf, &db->master, err, sizeof(err));
		if (rc)
			return db_err(db, rc, "%s", err);
	}
	MDB_val k = META_KEY("kcv"), v;
	int mrc = mdb_get(txn, db->meta, &k, &v);
	if (mrc || v.mv_size != 32)
		return db_err(db, HDB_ECORRUPT, "database '%s': key-check record missing or malformed", db->path);
	unsigned char kcv[32];
	rc = db_kcv(db, db->master, kcv);
	if (rc)
		return db_err(db, rc, "cannot compute key check");
	if (CRYPTO_memcmp(kcv, v.mv_data, 32) != 0)
		return db_err(db, HDB_EKEY, "wrong encryption key for database '%s' (key check failed; no data was read)",
		              db->path);
	k = META_KEY("prf");
	mrc = mdb_get(txn, db->meta, &k, &v);
	if (mrc || v.mv_size != CRYPTO_WRAPPED_LEN)
		return db_err(db, HDB_ECORRUPT, "database '%s': PRF key record missing or malformed", db->path);
	rc = secret_new(CRYPTO_KEY_LEN, &db->prf_key);
	if (rc)
		return rc;
	unsigned char aad[64];
	size_t aadlen;
	wrap_aad(db, "prf", 0, aad, &aadlen);
	if (crypto_unwrap_key(db->lib, db->master->buf, aad, aadlen, v.mv_data, db->prf_key->buf) != HDB_OK)
		return db_err(db, HDB_ECORRUPT, "database '%s': PRF key failed authentication (key records corrupt)",
		              db->path);
	db->prf_key->len = CRYPTO_KEY_LEN;
	uint32_t active;
	rc = meta_get_u32(db, txn, "active", &active);
	if (rc)
		return rc;
	unsigned char rec[DEK_REC_LEN];
	rc = meta_dek_get(db, txn, active, rec);
	if (rc)
		return rc;
	struct hdb_secret *dk;
	rc = dek_unwrap(db, active, rec, &dk);
	if (rc)
		return rc;
	rc = dek_add(db, active, dk);
	if (rc)
		secret_free(dk);
	return rc;
}

/* LMDB trusts its pages (a damaged one can fault a reader or overflow a
 * writer's copy of it): walk the snapshot this open will start from before
 * LMDB reads any of it (engine/pagecheck.c).  A read txn pins the snapshot
 * against writers in other processes; if one commits twice before the meta
 * page is read, take the newer snapshot. */
static int check_pages(struct hdb_db *db, size_t psize)
{
	char f[4096], err[256];
	snprintf(f, sizeof(f), "%s/data.mdb", db->path);
	for (int attempt = 0;; attempt++) {
		MDB_txn *txn;
		int mrc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn);
		if (mrc)
			return db_err(db, mdb_to_hdb(mrc), "cannot begin transaction: %s", mdb_strerror(mrc));
		uint64_t id = mdb_txn_id(txn);
		int r = pagecheck_file(f, psize, id, ENGINE_MAP_SIZE / psize, err, sizeof(err));
		mdb_txn_abort(txn);
		if (r == 0)
			return HDB_OK;
		if (r != -2 || attempt == 3)
			return db_err(db, HDB_ECORRUPT,
			              "data file '%s' is corrupt (%s); nothing was read or written: restore data.mdb "
			              "from a backup", f, err);
	}
}

static int open_env(struct hdb_db *db, const struct hdb_config *cfg, unsigned flags)
{
	int rc;
	char f[4096];
	struct stat sb;
	bool create = flags & HDB_OPEN_CREATE;
	if (snprintf(f, sizeof(f), "%s/data.mdb", db->path) >= (int)sizeof(f))
		return db_err(db, HDB_EINVAL, "path too long");
	bool exists = stat(f, &sb) == 0;
	if (exists && (flags & HDB_OPEN_EXCL))
		return db_err(db, HDB_EEXIST, "a database already exists at '%s'", db->path);
	if (!exists && !create)
		return db_err(db, HDB_ENOTFOUND, "no database at '%s' (create one with: heliosdb-nano init --path %s)",
		              db->path, db->path);
	if (exists && sb.st_size < 2 * 4096)
		return db_err(db, HDB_ECORRUPT, "data file '%s' is truncated (%lld bytes)", f, (long long)sb.st_size);
	if (!exists) {
		if (mkdir(db->path, 0700) == 0)
			db->created_dir = true;
		else if (errno != EEXIST)
			return db_err(db, errno == EACCES ? HDB_EPERM : HDB_EIO, "cannot create directory '%s': %s",
			              db->path, strerror(errno));
		db->created_files = true;
	}
	if (stat(db->path, &sb) != 0 || !S_ISDIR(sb.st_mode))
		return db_err(db, HDB_EINVAL, "'%s' is not a directory", db->path);

	char err[512] = "";
	rc = crypto_lib_new(cfg->fips, &db->lib, err, sizeof(err));
	if (rc)
		return db_err(db, rc, "%s", err);
	if (exists && cfg->check_structure) {
		/* LMDB divides by the meta pages' page size as it opens */
		size_t psize;
		if (pagecheck_metas(f, &psize, err, sizeof(err)) != 0)
			return db_err(db, HDB_ECORRUPT,
			              "data file '%s' is corrupt (%s); nothing was read or written: restore data.mdb "
			              "from a backup", f, err);
	}
	int mrc = mdb_env_create(&db->env);
	if (!mrc)
		mrc = mdb_env_set_maxdbs(db->env, 4);
	if (!mrc)
		mrc = mdb_env_set_mapsize(db->env, ENGINE_MAP_SIZE);
	if (!mrc)
		mrc = mdb_env_set_maxreaders(db->env, 510);
	if (mrc)
		return db_err(db, mdb_to_hdb(mrc), "cannot create LMDB environment: %s", mdb_strerror(mrc));
	unsigned eflags = MDB_NOTLS | (db->rdonly ? MDB_RDONLY : 0) | (db->nolock ? MDB_NOLOCK : 0);
	if (getenv("HELIOSDB_NOSYNC"))
		eflags |= MDB_NOSYNC;
	mrc = mdb_env_open(db->env, db->path, eflags, 0600);
	if (mrc)
		return db_err(db, mdb_to_hdb(mrc), "cannot open database '%s': %s", db->path, mdb_strerror(mrc));
	MDB_stat st;
	mrc = mdb_env_stat(db->env, &st);
	if (mrc)
		return db_err(db, mdb_to_hdb(mrc), "cannot read database info: %s", mdb_strerror(mrc));
	db->psize = st.ms_psize;
	if (exists && cfg->check_structure) {
		rc = check_pages(db, st.ms_psize);
		if (rc)
			return rc;
	}
	db->grow = !db->rdonly && !db->tmpdir && !(eflags & MDB_NOSYNC);
	return HDB_OK;
}

/* meta "audit_pending": 16-byte entries (u64 time in us, u32 uid, u32 pid)
 * of wrong keys presented, at most AUDIT_PENDING_MAX (later ones only bump
 * the last entry's time, so the flood is still visible). */
#define AUDIT_PENDING_MAX 4096
static void pending_wrong_key(struct hdb_db *db, MDB_txn *txn)
{
	MDB_val k = META_KEY("audit_pending"), v;
	struct buf b = { 0 };
	if (mdb_get(txn, db->meta, &k, &v) == MDB_SUCCESS && v.mv_size % 16 == 0)
		(void)buf_append(&b, v.mv_data, v.mv_size);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	unsigned char e[16];
	put_u64be(e, (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
	put_u32be(e + 8, (uint32_t)getuid());
	put_u32be(e + 12, (uint32_t)getpid());
	if (b.len / 16 >= AUDIT_PENDING_MAX)
		b.len -= 16;
	if (buf_append(&b, e, sizeof(e)) == HDB_OK)
		(void)meta_put(db, txn, "audit_pending", 13, b.p, b.len);
	buf_free(&b);
}

/* wrong_key_notice - tells journald at once (unless the audit or its
 * journald sink is off): the record itself waits for the right key. */
static void wrong_key_notice(const struct hdb_db *db, const struct hdb_config *cfg, bool pending)
{
	if (!cfg->audit_enabled || (cfg->audit_journald && strcmp(cfg->audit_journald, "off") == 0) ||
	    !audit_journal_available())
		return;
	char id[2 * ENGINE_ID_LEN + 1], err[256];
	hex_encode(db->id, ENGINE_ID_LEN, id);
	struct passwd *pw = getpwuid(getuid());
	(void)audit_journal_wrong_key_notice(id, pw && pw->pw_name ? pw->pw_name : "unknown", (unsigned)getuid(),
	                                     (unsigned)getpid(), pending, err, sizeof(err));
}

static int open_keys(struct hdb_db *db, const struct hdb_config *cfg, unsigned flags)
{
	MDB_txn *txn;
	int rc;
	int mrc = mdb_txn_begin(db->env, NULL, db->rdonly ? MDB_RDONLY : 0, &txn);
	if (mrc)
		return db_err(db, mdb_to_hdb(mrc), "cannot begin transaction: %s", mdb_strerror(mrc));
	unsigned dflags = db->rdonly ? 0 : MDB_CREATE;
	mrc = mdb_dbi_open(txn, "meta", dflags, &db->meta);
	if (!mrc)
		mrc = mdb_dbi_open(txn, "data", dflags, &db->data);
	if (mrc) {
		rc = mrc == MDB_NOTFOUND
		         ? db_err(db, HDB_ECORRUPT, "'%s' is not a HeliosDB database", db->path)
		         : db_err(db, mdb_to_hdb(mrc), "cannot open database '%s': %s", db->path, mdb_strerror(mrc));
		goto out_abort;
	}
	MDB_val hk = META_KEY("header"), hv;
	mrc = mdb_get(txn, db->meta, &hk, &hv);
	if (mrc == MDB_NOTFOUND) {
		/* A new database is an environment nothing was ever committed to.
		 * One with committed transactions but no header is another
		 * program's LMDB file, or ours with the page that holds the header
		 * damaged: creating a header (and new keys) in it would bury what
		 * is there, so it is refused like any corrupt file. */
		MDB_envinfo ei;
		if (mdb_env_info(db->env, &ei) != MDB_SUCCESS || ei.me_last_txnid != 0) {
			rc = db_err(db, HDB_ECORRUPT,
			            "'%s' holds data but no HeliosDB header: not a HeliosDB database, or its data file is "
			            "damaged; nothing was written (restore data.mdb from a backup)", db->path);
			goto out_abort;
		}
		if (!(flags & HDB_OPEN_CREATE) || db->rdonly) {
			rc = db_err(db, HDB_ECORRUPT, "'%s' is not a HeliosDB database (no header)", db->path);
			goto out_abort;
		}
		db->encrypted = cfg->enc_enabled;
		rc = crypto_random(db->lib, db->id, ENGINE_ID_LEN);
		if (rc) {
			db_err(db, rc, "cannot draw random bytes");
			goto out_abort;
		}
		if (db->encrypted) {
			rc = create_keys(db, txn, cfg);
			if (rc)
				goto out_abort;
		}
		unsigned char h[HDR_LEN];
		header_encode(db, (uint64_t)time(NULL), h);
		rc = meta_put(db, txn, "header", 6, h, sizeof(h));
		if (rc)
			goto out_abort;
		mrc = mdb_txn_commit(txn);
		if (mrc)
			return db_err(db, mdb_to_hdb(mrc), "cannot create database '%s': %s", db->path,
			              mdb_strerror(mrc));
		return HDB_OK;
	}
	if (mrc) {
		rc = db_err(db, mdb_to_hdb(mrc), "cannot read database header: %s", mdb_strerror(mrc));
		goto out_abort;
	}
	rc = header_decode(db, &hv);
	if (rc)
		goto out_abort;
	if (db->encrypted && !cfg->enc_enabled) {
		rc = db_err(db, HDB_ECONFIG,
		            "database '%s' is encrypted but encryption.enabled is false in the configuration", db->path);
		goto out_abort;
	}
	if (!db->encrypted && cfg->enc_enabled) {
		rc = db_err(db, HDB_ECONFIG,
		            "database '%s' is not encrypted but encryption.enabled is true in the configuration",
		            db->path);
		goto out_abort;
	}
	if (db->encrypted) {
		rc = load_keys(db, txn, cfg);
		if (rc == HDB_EKEY && !db->rdonly) {
			/* a security event, recorded although the key is wrong: kept
			 * in "meta" (no key needed) and turned into "wrong_key" audit
			 * records by the next open with the right key */
			pending_wrong_key(db, txn);
			(void)mdb_txn_commit(txn);
			wrong_key_notice(db, cfg, true);
			return rc;
		}
		if (rc == HDB_EKEY)
			wrong_key_notice(db, cfg, false);   /* read-only: nothing can be kept */
		if (rc)
			goto out_abort;
	}
	/* commit, not abort: DBI handles opened by an aborted txn are closed */
	mrc = mdb_txn_commit(txn);
	if (mrc)
		return db_err(db, mdb_to_hdb(mrc), "cannot open database '%s': %s", db->path, mdb_strerror(mrc));
	return HDB_OK;
out_abort:
	mdb_txn_abort(txn);
	return rc;
}

static void rm_created(struct hdb_db *db)
{
	char f[4200];
	if (db->env) {
		mdb_env_close(db->env);
		db->env = NULL;
	}
	if (db->created_files) {
		snprintf(f, sizeof(f), "%s/data.mdb", db->path);
		(void)unlink(f);
		snprintf(f, sizeof(f), "%s/lock.mdb", db->path);
		(void)unlink(f);
		snprintf(f, sizeof(f), "%s/" ENGINE_OPEN_LOCK, db->path);
		(void)unlink(f);
	}
	if (db->created_dir)
		(void)rmdir(db->path);
}

static void db_release(struct hdb_db *db);

static int open_common(struct hdb_db *db, const struct hdb_config *cfg, unsigned flags)
{
	int rc = open_env(db, cfg, flags);
	if (!rc)
		rc = open_keys(db, cfg, flags);
	if (!rc) {
		hex_encode(db->id, ENGINE_ID_LEN, db->id_hex);
		rc = trail_open(db, cfg);
		if (rc)
			trail_close(db);
	}
	if (rc) {
		/* a failed create leaves nothing behind: init can simply be rerun */
		rm_created(db);
		return rc;
	}
	struct buf d = { 0 };
	audit_detail_begin(&d);
	audit_detail_str(&d, "path", db->path);
	audit_detail_str(&d, "mode", db->rdonly ? "read-only" : "read-write");
	audit_detail_bool(&d, "created", db->created_files);
	audit_detail_str(&d, "encryption", hdb_encryption_info(db));
	if (audit_detail_end(&d) == HDB_OK && buf_putc(&d, 0) == HDB_OK)
		trail_security(db, AUDIT_EV_DB_OPEN, AUDIT_SUCCESS, NULL, NULL, (const char *)d.p);
	if (db->encrypted) {
		buf_reset(&d);
		audit_detail_begin(&d);
		audit_detail_str(&d, "key_source", keys_source_name(cfg->key_kind));
		audit_detail_bool(&d, "fips", crypto_lib_fips(db->lib));
		if (audit_detail_end(&d) == HDB_OK && buf_putc(&d, 0) == HDB_OK)
			trail_security(db, AUDIT_EV_KEY_LOADED, AUDIT_SUCCESS, NULL, NULL, (const char *)d.p);
	}
	buf_reset(&d);
	audit_detail_begin(&d);
	audit_detail_str(&d, "log_file", db->audit.log_file ? db->audit.log_file : "");
	audit_detail_str(&d, "durability", cfg->audit_durability ? cfg->audit_durability : "batch");
	audit_detail_str(&d, "journald", db->audit.journald ? "on" : "off");
	if (audit_detail_end(&d) == HDB_OK && buf_putc(&d, 0) == HDB_OK)
		trail_security(db, AUDIT_EV_AUDIT_START, AUDIT_SUCCESS, NULL, NULL, (const char *)d.p);
	buf_free(&d);
	rc = profiles_after_open(db, cfg);
	if (rc) {
		/* refused: recorded; shut down before any session can exist */
		char keep[sizeof(db->errmsg)];
		memcpy(keep, db->errmsg, sizeof(keep));
		db_release(db);
		memcpy(db->errmsg, keep, sizeof(keep));
		return rc;
	}
	return HDB_OK;
}

static struct hdb_db *db_alloc(const struct hdb_config *cfg, unsigned flags)
{
	struct hdb_db *db = calloc(1, sizeof(*db));
	if (!db)
		return NULL;
	pthread_mutex_init(&db->lock, NULL);
	db->rdonly = flags & HDB_OPEN_RDONLY;
	db->max_encryptions = cfg->max_encryptions ? cfg->max_encryptions : CONFIG_DEFAULT_MAX_ENCRYPTIONS;
	return db;
}

/* A temporary database: a private directory under /dev/shm (or $TMPDIR),
 * holding its audit log too unless one is configured; removed at close. */
static int open_temp(struct hdb_db *db, const struct hdb_config *cfg)
{
	struct stat sb;
	const char *base = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) && access("/dev/shm", W_OK) == 0
	                       ? "/dev/shm" : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	int prc = profiles_before_open(db, cfg, NULL);
	if (prc)
		return prc;
	char tmpl[4096];
	snprintf(tmpl, sizeof(tmpl), "%s/heliosdb-mem.XXXXXX", base);
	if (!mkdtemp(tmpl))
		return db_err(db, HDB_EIO, "cannot create a temporary directory under '%s': %s", base, strerror(errno));
	db->tmpdir = strdup(tmpl);
	db->path = strdup(tmpl);
	if (!db->tmpdir || !db->path)
		return db_err(db, HDB_ENOMEM, "out of memory");
	if (!cfg->audit_enabled || cfg->audit_log_file)
		return open_common(db, cfg, HDB_OPEN_CREATE);
	struct hdb_config *tc = NULL;
	char lf[4200];
	snprintf(lf, sizeof(lf), "%s/audit/audit.log", tmpl);
	int rc = config_dup(cfg, &tc);
	if (!rc) {
		free(tc->audit_log_file);
		tc->audit_log_file = strdup(lf);
		rc = tc->audit_log_file ? open_common(db, tc, HDB_OPEN_CREATE) : HDB_ENOMEM;
	}
	hdb_config_free(tc);
	return rc;
}

struct hdb_db *db_handle(const struct hdb_config *cfg, unsigned flags)
{
	return db_alloc(cfg, flags);
}

int db_open_at(struct hdb_db *db, const char *path, const struct hdb_config *cfg, unsigned flags)
{
	if (!path)
		path = cfg->storage_path;
	if (!path || !*path)
		return db_err(db, HDB_EINVAL, "no database path given (set storage.path or pass --path)");
	if (!db->path && !(db->path = strdup(path)))
		return db_err(db, HDB_ENOMEM, "out of memory");
	int rc = profiles_before_open(db, cfg, db->path);
	if (!rc) {
		rc = open_common(db, cfg, flags);
		if (rc && rc != HDB_ECOMPLIANCE)
			rc = profiles_open_failed(db, cfg, db->path, rc);
	}
	return rc;
}

int db_open_staged(const struct hdb_config *cfg, const char *dir, bool check, struct hdb_db **ret)
{
	struct hdb_config *c = NULL;
	*ret = NULL;
	int rc = config_dup(cfg, &c);
	if (rc)
		return rc;
	c->audit_enabled = false;
	if (!check)
		c->check_structure = false; /* the caller checked it, to say so in its words */
	for (size_t i = 0; i < c->nprofiles; i++)
		free(c->profiles[i]);
	c->nprofiles = 0;
	rc = HDB_ENOMEM;
	struct hdb_db *db = db_alloc(c, HDB_OPEN_RDONLY);
	if (!db)
		goto out;
	*ret = db;
	if (!(db->path = strdup(dir)))
		goto out;
	db->nolock = true;
	rc = open_common(db, c, HDB_OPEN_RDONLY);
out:
	hdb_config_free(c);
	return rc;
}

/* open_any - hdb_open and hdb_open_in_memory (path NULL and temp). */
static int open_any(const char *path, bool temp, const struct hdb_config *cfg, unsigned flags,
                    struct hdb_db **ret_db)
{
	struct hdb_config defcfg;
	bool own_cfg = false;
	if (!ret_db)
		return HDB_EINVAL;
	if (!cfg) {
		memset(&defcfg, 0, sizeof(defcfg));
		if (config_defaults(&defcfg) != HDB_OK)
			return HDB_ENOMEM;
		cfg = &defcfg;
		own_cfg = true;
	}
	int rc;
	struct hdb_db *db = db_alloc(cfg, temp ? HDB_OPEN_CREATE : flags);
	if (!db) {
		rc = HDB_ENOMEM;
		goto out;
	}
	*ret_db = db;
	if (temp) {
		rc = open_temp(db, cfg);
		goto out;
	}
	rc = db_open_at(db, path, cfg, flags);
out:
	if (own_cfg)
		config_clear(&defcfg);
	return rc;
}

int hdb_open(const char *path, const struct hdb_config *cfg, unsigned flags, struct hdb_db **ret_db)
{
	return open_any(path, false, cfg, flags, ret_db);
}

int hdb_open_in_memory(const struct hdb_config *cfg, struct hdb_db **ret_db)
{
	return open_any(NULL, true, cfg, HDB_OPEN_CREATE, ret_db);
}

static bool kdf_equal(const struct keys_kdf *a, const struct keys_kdf *b)
{
	return a->alg == b->alg && a->m_kib == b->m_kib && a->t == b->t && a->p == b->p &&
	       a->iterations == b->iterations && memcmp(a->salt, b->salt, KEYS_SALT_LEN) == 0;
}

int db_open_copy(struct hdb_db *src, const char *dir, struct hdb_db **ret)
{
	struct hdb_config c;
	memset(&c, 0, sizeof(c));
	*ret = NULL;
	if (config_defaults(&c) != HDB_OK)
		return HDB_ENOMEM;
	c.audit_enabled = false;
	c.enc_enabled = src->encrypted;
	c.check_structure = false; /* the caller checked it, to say so in its words */
	c.fips = src->lib && crypto_lib_fips(src->lib);
	int rc = HDB_ENOMEM;
	struct hdb_db *db = db_alloc(&c, HDB_OPEN_RDONLY);
	if (!db)
		goto out;
	*ret = db;
	if (!(db->path = strdup(dir)))
		goto out;
	/* nobody else uses the copy; a lock file would need room the copy's
	 * disk may not have (LMDB faults on a lock page it cannot write) */
	db->nolock = true;
	if (src->encrypted) {
		if ((rc = secret_new(CRYPTO_KEY_LEN, &db->master)) != HDB_OK)
			goto out;
		memcpy(db->master->buf, src->master->buf, CRYPTO_KEY_LEN);
		db->master->len = CRYPTO_KEY_LEN;
	}
	rc = open_common(db, &c, HDB_OPEN_RDONLY);
	if (!rc && (memcmp(db->id, src->id, ENGINE_ID_LEN) != 0 || !kdf_equal(&db->kdf, &src->kdf)))
		rc = db_err(db, HDB_ECORRUPT, "its header is not this database's");
out:
	config_clear(&c);
	return rc;
}

/* The copy's meta record name (7 bytes for data keys), or NULL. */
static const unsigned char *copy_get(MDB_txn *txn, MDB_dbi meta, const void *name, size_t namelen, size_t *ret_n)
{
	MDB_val k = { namelen, (void *)name }, v;
	if (mdb_get(txn, meta, &k, &v) != MDB_SUCCESS)
		return NULL;
	*ret_n = v.mv_size;
	return v.mv_data;
}

/* Whether the database held the record name's bytes v[0..n) in txn (a key
 * record's use count, bytes 9..16 of a data key's, may differ). */
static bool copy_same(struct hdb_db *src, MDB_txn *txn, const void *name, size_t namelen, const unsigned char *v,
                      size_t n)
{
	size_t sn;
	const unsigned char *sv = copy_get(txn, src->meta, name, namelen, &sn);
	if (!sv || sn != n)
		return false;
	if (namelen == 7 && n == DEK_REC_LEN)
		return memcmp(sv, v, 9) == 0 && memcmp(sv + 17, v + 17, n - 17) == 0;
	return memcmp(sv, v, n) == 0;
}

bool db_copy_opens_like(struct hdb_db *src, MDB_txn *before, const char *file)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi meta;
	bool same = false;
	int mrc = mdb_env_create(&env);
	if (!mrc)
		mrc = mdb_env_set_maxdbs(env, 4);
	if (!mrc)
		mrc = mdb_env_set_mapsize(env, ENGINE_MAP_SIZE);
	if (!mrc)
		mrc = mdb_env_open(env, file, MDB_RDONLY | MDB_NOSUBDIR | MDB_NOLOCK | MDB_NOTLS, 0600);
	if (!mrc)
		mrc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	if (!mrc)
		mrc = mdb_dbi_open(txn, "meta", 0, &meta);
	if (mrc)
		goto out;
	static const char *const names[] = { "header", "kcv", "prf", "active" };
	same = true;
	for (size_t i = 0; same && i < sizeof(names) / sizeof(names[0]); i++) {
		size_t n;
		const unsigned char *v = copy_get(txn, meta, names[i], strlen(names[i]), &n);
		same = v ? copy_same(src, before, names[i], strlen(names[i]), v, n)
		         : !copy_get(before, src->meta, names[i], strlen(names[i]), &n);
	}
	size_t n;
	const unsigned char *a = copy_get(txn, meta, "active", 6, &n);
	if (same && a && n == 4) {
		unsigned char dk[7];
		dek_meta_key(get_u32be(a), dk);
		const unsigned char *v = copy_get(txn, meta, dk, sizeof(dk), &n);
		same = v && copy_same(src, before, dk, sizeof(dk), v, n);
	}
out:
	if (txn)
		mdb_txn_abort(txn);
	if (env)
		mdb_env_close(env);
	return same;
}

int db_copy_check_keys(struct hdb_db *copy, MDB_txn *ctxn, struct hdb_db *src, MDB_txn *before, MDB_txn *after,
                       struct readback *r)
{
	if (!copy->encrypted)
		return HDB_OK;
	size_t n;
	const unsigned char *w = copy_get(ctxn, copy->meta, "audit_sign", 10, &n);
	if (w) {
		unsigned char aad[ENGINE_ID_LEN + 4], sk[CRYPTO_KEY_LEN];
		memcpy(aad, copy->id, ENGINE_ID_LEN);
		memcpy(aad + ENGINE_ID_LEN, "asig", 4);
		int rc = n == CRYPTO_WRAPPED_LEN ? crypto_unwrap_key(copy->lib, copy->master->buf, aad, sizeof(aad), w, sk)
		                                 : HDB_ECORRUPT;
		OPENSSL_cleanse(sk, sizeof(sk));
		if (rc && copy_same(src, before, "audit_sign", 10, w, n))
			snprintf(r->same_keys, sizeof(r->same_keys), "the audit signing key record fails authentication");
		else if (rc)
			return db_err(copy, HDB_ECORRUPT, "its audit signing key record fails authentication");
	}
	/* the next data key's id: a new key must never take an existing id */
	uint32_t next, lo, hi;
	if (meta_get_u32(copy, ctxn, "nextkey", &next) != HDB_OK)
		return HDB_ECORRUPT;
	if (meta_get_u32(src, before, "nextkey", &lo) != HDB_OK || meta_get_u32(src, after, "nextkey", &hi) != HDB_OK)
		return db_err(copy, HDB_ECORRUPT, "cannot read the database's key records: %s", src->errmsg);
	if (next < lo || next > hi)
		return db_err(copy, HDB_ECORRUPT, "its next data key id is %u, the database's was %u..%u meanwhile", next,
		              lo, hi);
	MDB_cursor *c;
	if (mdb_cursor_open(ctxn, copy->meta, &c) != MDB_SUCCESS)
		return db_err(copy, HDB_EIO, "cannot read its key records");
	unsigned char k0[7];
	dek_meta_key(0, k0);
	MDB_val mk = { sizeof(k0), k0 }, mv;
	int rc = HDB_OK;
	for (int mrc = mdb_cursor_get(c, &mk, &mv, MDB_SET_RANGE); mrc == MDB_SUCCESS;
	     mrc = mdb_cursor_get(c, &mk, &mv, MDB_NEXT)) {
		if (mk.mv_size != 7 || memcmp(mk.mv_data, "dek", 3) != 0)
			break;
		uint32_t id = get_u32be((const unsigned char *)mk.mv_data + 3);
		if (id == 0 || id >= next || mv.mv_size != DEK_REC_LEN) {
			rc = db_err(copy, HDB_ECORRUPT, "its data key record %u is malformed or beyond the next id %u", id,
			            next);
			break;
		}
		/* a usable key unwraps (a retired one is checked by the values) */
		const unsigned char *rec = mv.mv_data;
		if (rec[0] == DEK_RETIRED)
			continue;
		struct hdb_secret *key;
		if ((rc = dek_unwrap(copy, id, rec, &key)) != HDB_OK &&
		    copy_same(src, before, mk.mv_data, mk.mv_size, rec, mv.mv_size)) {
			/* the database's own damage: its values fail there too (on
			 * disk; a process that unwrapped the key before still has it) */
			if (r->nsame == sizeof(r->same_ids) / sizeof(r->same_ids[0]))
				break; /* rc: so many damaged keys are not one fault */
			r->same_ids[r->nsame++] = id;
			if (!r->same_keys[0])
				snprintf(r->same_keys, sizeof(r->same_keys), "the record of data key %u fails authentication",
				         id);
			rc = HDB_OK;
			continue;
		}
		if (rc) {
			char why[sizeof(copy->errmsg)];
			memcpy(why, copy->errmsg, sizeof(why));
			rc = db_err(copy, rc, "its %s", why);
			break;
		}
		secret_free(key);
	}
	mdb_cursor_close(c);
	return rc;
}

static int rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (type == FTW_DP)
		(void)rmdir(path);
	else
		(void)unlink(path);
	return 0;
}

/* a private directory of ours and everything in it: the in-memory
 * database's with its audit log, a backup's partial copy */
void db_rm_tree(const char *dir)
{
	(void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------------ file growth
 *
 * LMDB grows data.mdb a page or a few at a time, by writing past its end.
 * On ext4 and XFS an fdatasync after the file grew must also commit the
 * file system's journal (the new size and blocks), one more flush to the
 * device; a database taking small synced commits grows every few commits
 * and pays that often.  So before a write txn commits, db_grow writes zeros
 * past the end of the file until ENGINE_GROW_CHUNK lies beyond LMDB's last
 * page (written zeros: preallocated, unwritten extents would need the same
 * journal commit at their first write).  The commit that writes them pays
 * once; the next LMDB pages overwrite blocks that already exist.
 *
 * Safe because it runs only inside a write txn: LMDB's writer lock keeps
 * every other writer, in any process, out, and every page LMDB has written
 * (committed or spilled by this txn) lies below the file's current size,
 * which is where the zeros start.  Readers never look past the last
 * committed page.  The last process to close the database cuts the zeros
 * off again (db_grow_trim), so a closed database is as long as its pages;
 * after a crash they stay, harmless, until then.  Off for read-only and
 * in-memory databases and when syncing is off (HELIOSDB_NOSYNC): nothing
 * to save. */

/* grow_state - LMDB's end of data (its last committed page), data.mdb's fd
 * and its size now (fstat every time: another process may have cut the
 * zeros at its close). */
static bool grow_state(struct hdb_db *db, uint64_t *end, int *fd, uint64_t *size)
{
	MDB_envinfo info;
	struct stat sb;
	if (mdb_env_info(db->env, &info) != MDB_SUCCESS || mdb_env_get_fd(db->env, fd) != MDB_SUCCESS ||
	    fstat(*fd, &sb) != 0)
		return false;
	*end = ((uint64_t)info.me_last_pgno + 1) * db->psize;
	*size = (uint64_t)sb.st_size;
	return true;
}

void db_grow(struct hdb_db *db)
{
	uint64_t end, size;
	int fd;
	if (!db->grow || !grow_state(db, &end, &fd, &size) || size >= end + ENGINE_GROW_CHUNK / 2)
		return;
	uint64_t to = end + ENGINE_GROW_CHUNK;
	if (to > ENGINE_MAP_SIZE)
		to = ENGINE_MAP_SIZE;
	static const unsigned char zero[64 << 10];
	while (size < to) {
		uint64_t n = to - size;
		ssize_t w = pwrite(fd, zero, n < sizeof(zero) ? (size_t)n : sizeof(zero), (off_t)size);
		if (w <= 0)
			return; /* disk full or an I/O error: LMDB's own write will say so */
		size += (uint64_t)w;
	}
}

/* db_grow_trim - at close: cuts the zeros past the last page, but only
 * when no other process has the database open (flock LOCK_EX|LOCK_NB on
 * ENGINE_OPEN_LOCK, which every audited open holds shared: trail.c,
 * open_lock), so that a close neither waits for another process's write
 * txn nor takes away zeros another writer is about to use.  Inside a write
 * txn (no other writer meanwhile).  Without the audit there is no such
 * lock: the zeros (at most ENGINE_GROW_CHUNK) stay, harmless. */
static void db_grow_trim(struct hdb_db *db, bool audited)
{
	if (!db->grow || !audited)
		return;
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof(path), "%s/" ENGINE_OPEN_LOCK, db->path) >= sizeof(path))
		return;
	int lfd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (lfd < 0)
		return;
	int r;
	while ((r = flock(lfd, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR)
		;
	MDB_txn *txn;
	if (r == 0 && mdb_txn_begin(db->env, NULL, 0, &txn) == MDB_SUCCESS) {
		uint64_t end, size;
		int fd;
		if (grow_state(db, &end, &fd, &size) && size > end && ftruncate(fd, (off_t)end) != 0) {
			/* the zeros stay, harmless; the next last close tries again */
		}
		mdb_txn_abort(txn);
	}
	close(lfd); /* releases the flock */
}

/* db_release - everything hdb_close does but freeing the handle: the
 * handle stays readable (hdb_errmsg) and refuses sessions. */
static void db_release(struct hdb_db *db)
{
	bool audited = db->audit.on;
	if (audited)
		trail_security(db, AUDIT_EV_DB_CLOSE, AUDIT_SUCCESS, NULL, NULL, NULL);
	trail_close(db); /* releases this process's shared lock on ENGINE_OPEN_LOCK */
	if (db->env)
		db_grow_trim(db, audited);
	if (db->env)
		mdb_env_close(db->env);
	db->env = NULL;
	if (db->lmdb_lock_held)
		close(db->lmdb_lock_fd);
	db->lmdb_lock_held = false;
	for (size_t i = 0; i < db->ndeks; i++)
		secret_free(db->deks[i].key);
	free(db->deks);
	db->deks = NULL;
	db->ndeks = 0;
	secret_free(db->master);
	secret_free(db->prf_key);
	db->master = db->prf_key = NULL;
	crypto_lib_free(db->lib);
	db->lib = NULL;
	if (db->tmpdir) {
		db_rm_tree(db->tmpdir);
		free(db->tmpdir);
		db->tmpdir = NULL;
	}
	profiles_free(db);
}

void hdb_close(struct hdb_db *db)
{
	if (!db)
		return;
	db_release(db);
	free(db->path);
	pthread_mutex_destroy(&db->lock);
	OPENSSL_cleanse(db, sizeof(*db));
	free(db);
}

const char *hdb_errmsg(const struct hdb_db *db)
{
	if (!db)
		return "out of memory";
	return db->errmsg[0] ? db->errmsg : "no error";
}

bool hdb_is_encrypted(const struct hdb_db *db)
{
	return db && db->encrypted;
}

const char *hdb_encryption_info(const struct hdb_db *db)
{
	if (!db || !db->encrypted)
		return "Disabled";
	return crypto_lib_fips(db->lib) ? "Enabled: AES-256-GCM (FIPS)" : "Enabled: AES-256-GCM";
}

const char *hdb_db_id(const struct hdb_db *db)
{
	return db ? db->id_hex : "";
}

int hdb_checkpoint(struct hdb_db *db)
{
	if (!db)
		return HDB_EINVAL;
	int mrc = mdb_env_sync(db->env, 1);
	if (mrc)
		return db_err(db, mdb_to_hdb(mrc), "cannot sync '%s': %s", db->path, mdb_strerror(mrc));
	return HDB_OK;
}

