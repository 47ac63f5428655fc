/*
 * sign.c - signed checkpoints over the audit chain: Ed25519 (RFC 8032)
 * through OpenSSL's EVP_PKEY, and the public-key file auditors keep.
 *
 * The private key is the 32-byte Ed25519 seed, held only in a struct
 * hdb_secret; OpenSSL gets a copy for the length of one signature and
 * frees it (EVP_PKEY_free wipes key material).  The signed message, the
 * checkpoint detail and the key file are specified in audit.h and
 * documented byte by byte in docs/audit-log.md.
 */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define SEED_LEN 32
#define PUBKEY_TAG "heliosdb-audit-ed25519 "
#define PUBKEY_FILE_LEN (sizeof(PUBKEY_TAG) - 1 + 2 * AUDIT_SIGN_PUB_LEN + 1)
/* "heliosdb-checkpoint-v1|" + db_id(32) + "|" + seq(<=20) + "|" + 64 + "|" + time */
#define MSG_MAX 192

static bool lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool valid_db_id(const char *db_id)
{
	return db_id && strnlen(db_id, 33) == 32 && lower_hex(db_id, 32);
}

static EVP_PKEY *pkey_from_secret(const struct hdb_secret *priv)
{
	if (!priv || priv->len != SEED_LEN)
		return NULL;
	return EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv->buf, SEED_LEN);
}

int audit_sign_public(const struct hdb_secret *priv, unsigned char pub[AUDIT_SIGN_PUB_LEN])
{
	if (!priv || priv->len != SEED_LEN || !pub)
		return HDB_EINVAL;
	EVP_PKEY *pk = pkey_from_secret(priv);
	if (!pk)
		return HDB_ECRYPTO;
	size_t len = AUDIT_SIGN_PUB_LEN;
	int ok = EVP_PKEY_get_raw_public_key(pk, pub, &len) == 1 && len == AUDIT_SIGN_PUB_LEN;
	EVP_PKEY_free(pk);
	return ok ? HDB_OK : HDB_ECRYPTO;
}

int audit_sign_keygen(struct hdb_secret **ret_priv, unsigned char pub[AUDIT_SIGN_PUB_LEN])
{
	if (!ret_priv || !pub)
		return HDB_EINVAL;
	struct hdb_secret *s;
	int rc = secret_new(SEED_LEN, &s);
	if (rc)
		return rc;
	/* the seed goes straight into locked memory */
	if (RAND_priv_bytes(s->buf, SEED_LEN) != 1) {
		rc = HDB_ECRYPTO;
		goto out_free;
	}
	s->len = SEED_LEN;
	unsigned char p[AUDIT_SIGN_PUB_LEN];
	rc = audit_sign_public(s, p);
	if (rc)
		goto out_free;
	memcpy(pub, p, AUDIT_SIGN_PUB_LEN);
	*ret_priv = s;
	return HDB_OK;
out_free:
	secret_free(s);
	return rc;
}

/* message - the signed text; returns its length or 0 */
static size_t message(char *m, size_t cap, const char *db_id, uint64_t seq, const char *hash_hex,
                      const char *signed_at)
{
	int k = snprintf(m, cap, "heliosdb-checkpoint-v1|%s|%llu|%.64s|%.*s", db_id, (unsigned long long)seq,
	                 hash_hex, AUDIT_TIME_LEN, signed_at);
	return k > 0 && (size_t)k < cap ? (size_t)k : 0;
}

static int key_id(const unsigned char pub[AUDIT_SIGN_PUB_LEN], char out[17])
{
	unsigned char h[32];
	unsigned int hl = 0;
	if (EVP_Digest(pub, AUDIT_SIGN_PUB_LEN, h, &hl, EVP_sha256(), NULL) != 1 || hl != 32)
		return HDB_ECRYPTO;
	hex_encode(h, 8, out);
	return HDB_OK;
}

int audit_checkpoint_detail(const struct hdb_secret *priv, const char *db_id, const struct audit_head *head,
                            int64_t signed_at_us, struct buf *out)
{
	if (!priv || !valid_db_id(db_id) || !head || !out)
		return HDB_EINVAL;
	char at[AUDIT_TIME_LEN + 1];
	int rc = audit_format_time(signed_at_us, at);
	if (rc)
		return rc;
	char hash_hex[65];
	hex_encode(head->hash, 32, hash_hex);
	char msg[MSG_MAX];
	size_t mlen = message(msg, sizeof(msg), db_id, head->seq, hash_hex, at);
	if (!mlen)
		return HDB_ERROR;

	EVP_PKEY *pk = pkey_from_secret(priv);
	if (!pk)
		return priv->len != SEED_LEN ? HDB_EINVAL : HDB_ECRYPTO;
	unsigned char pub[AUDIT_SIGN_PUB_LEN], sig[AUDIT_SIGN_SIG_LEN];
	size_t publen = sizeof(pub), siglen = sizeof(sig);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = md && EVP_PKEY_get_raw_public_key(pk, pub, &publen) == 1 && publen == sizeof(pub) &&
		 EVP_DigestSignInit(md, NULL, NULL, NULL, pk) == 1 &&
		 EVP_DigestSign(md, sig, &siglen, (const unsigned char *)msg, mlen) == 1 && siglen == sizeof(sig);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pk);
	if (!ok)
		return HDB_ECRYPTO;
	char kid[17], sig_hex[2 * AUDIT_SIGN_SIG_LEN + 1];
	rc = key_id(pub, kid);
	if (rc)
		return rc;
	hex_encode(sig, sizeof(sig), sig_hex);

	size_t start = out->len;
	rc = buf_printf(out,
	                "{\"signed_seq\":%llu,\"signed_hash\":\"%s\",\"signed_at\":\"%s\","
	                "\"key_id\":\"%s\",\"signature\":\"%s\"}",
	                (unsigned long long)head->seq, hash_hex, at, kid, sig_hex);
	if (rc) {
		out->len = start;
		return rc;
	}
	/* buf_printf leaves a NUL after the text: usable as detail_json */
	return HDB_OK;
}

int audit_checkpoint_check(const unsigned char pub[AUDIT_SIGN_PUB_LEN], const char *db_id, uint64_t signed_seq,
                           const char *signed_hash_hex, const char *signed_at, const char *signature_hex)
{
	if (!pub)
		return HDB_EINVAL;
	int64_t at_us;
	if (!valid_db_id(db_id) || !signed_hash_hex || strnlen(signed_hash_hex, 65) != 64 ||
	    !lower_hex(signed_hash_hex, 64) || !signed_at ||
	    audit_parse_time(signed_at, strnlen(signed_at, AUDIT_TIME_LEN + 1), &at_us) != HDB_OK ||
	    !signature_hex || strnlen(signature_hex, 2 * AUDIT_SIGN_SIG_LEN + 1) != 2 * AUDIT_SIGN_SIG_LEN)
		return HDB_ECORRUPT;
	unsigned char sig[AUDIT_SIGN_SIG_LEN];
	if (hex_decode(signature_hex, 2 * AUDIT_SIGN_SIG_LEN, sig, sizeof(sig)) != HDB_OK)
		return HDB_ECORRUPT;
	char msg[MSG_MAX];
	size_t mlen = message(msg, sizeof(msg), db_id, signed_seq, signed_hash_hex, signed_at);
	if (!mlen)
		return HDB_ECORRUPT;
	EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, AUDIT_SIGN_PUB_LEN);
	if (!pk)
		return HDB_ECRYPTO;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int rc = HDB_ECRYPTO;
	if (md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pk) == 1)
		rc = EVP_DigestVerify(md, sig, sizeof(sig), (const unsigned char *)msg, mlen) == 1 ? HDB_OK
												  : HDB_ECORRUPT;
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pk);
	return rc;
}

/* ------------------------------------------------------- public-key files */

int audit_pubkey_write(const char *path, const unsigned char pub[AUDIT_SIGN_PUB_LEN], char *err, size_t errlen)
{
	if (!path || !*path || !pub) {
		errf(err, errlen, "no public key file name given");
		return HDB_EINVAL;
	}
	char line[PUBKEY_FILE_LEN + 1];
	memcpy(line, PUBKEY_TAG, sizeof(PUBKEY_TAG) - 1);
	hex_encode(pub, AUDIT_SIGN_PUB_LEN, line + sizeof(PUBKEY_TAG) - 1);
	line[PUBKEY_FILE_LEN - 1] = '\n';

	/* write a temporary file next to it, then rename: readers never see a
	 * half-written key, and an existing file is replaced atomically */
	char tmp[PATH_MAX];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= sizeof(tmp)) {
		errf(err, errlen, "public key file name '%s' is too long", path);
		return HDB_EINVAL;
	}
	int fd = mkstemp(tmp);
	if (fd < 0) {
		errf(err, errlen, "cannot create public key file '%s': %s", path, strerror(errno));
		return HDB_EIO;
	}
	const char *what = "write";
	size_t off = 0;
	while (off < PUBKEY_FILE_LEN) {
		ssize_t w = write(fd, line + off, PUBKEY_FILE_LEN - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto out_fail;
		off += (size_t)w;
	}
	what = "set permissions of";
	if (fchmod(fd, 0644) != 0)
		goto out_fail;
	what = "sync";
	if (fsync(fd) != 0)
		goto out_fail;
	what = "close";
	int cfd = fd;
	fd = -1;
	if (close(cfd) != 0)
		goto out_fail;
	what = "rename into place";
	if (rename(tmp, path) != 0)
		goto out_fail;
	return HDB_OK;
out_fail:;
	int e = errno ? errno : EIO;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errf(err, errlen, "cannot %s public key file '%s': %s", what, path, strerror(e));
	return HDB_EIO;
}

int audit_pubkey_read(const char *path, unsigned char pub[AUDIT_SIGN_PUB_LEN], char *err, size_t errlen)
{
	if (!path || !*path || !pub) {
		errf(err, errlen, "no public key file name given");
		return HDB_EINVAL;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int e = errno;
		errf(err, errlen, "cannot open public key file '%s': %s", path, strerror(e));
		return e == ENOENT ? HDB_ENOTFOUND : e == EACCES ? HDB_EPERM : HDB_EIO;
	}
	char line[PUBKEY_FILE_LEN + 1];
	unsigned char key[AUDIT_SIGN_PUB_LEN];
	size_t got = 0;
	int rc = HDB_OK;
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		errf(err, errlen, "public key file '%s' is not a regular file", path);
		rc = HDB_ECORRUPT;
		goto out_close;
	}
	while (got < sizeof(line)) {
		ssize_t r = read(fd, line + got, sizeof(line) - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			errf(err, errlen, "cannot read public key file '%s': %s", path, strerror(errno));
			rc = HDB_EIO;
			goto out_close;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	const size_t tag = sizeof(PUBKEY_TAG) - 1;
	if (got < tag || memcmp(line, PUBKEY_TAG, tag) != 0) {
		errf(err, errlen, "public key file '%s' does not start with '%.*s'", path, (int)tag - 1, PUBKEY_TAG);
		rc = HDB_ECORRUPT;
	} else if (got != PUBKEY_FILE_LEN || line[PUBKEY_FILE_LEN - 1] != '\n') {
		errf(err, errlen, "public key file '%s' must be one line: '%.*s' and 64 hex characters", path,
		     (int)tag - 1, PUBKEY_TAG);
		rc = HDB_ECORRUPT;
	} else if (!lower_hex(line + tag, 2 * AUDIT_SIGN_PUB_LEN) ||
		   hex_decode(line + tag, 2 * AUDIT_SIGN_PUB_LEN, key, AUDIT_SIGN_PUB_LEN) != HDB_OK) {
		errf(err, errlen, "public key file '%s': the key is not 64 lowercase hex characters", path);
		rc = HDB_ECORRUPT;
	} else {
		memcpy(pub, key, AUDIT_SIGN_PUB_LEN);
	}
out_close:
	close(fd);
	return rc;
}
