/*
 * crypto.c - AES-256-GCM, nonces, the keyed PRF, key wrapping and password
 * KDFs, on OpenSSL 3 EVP in a library context of our own.  See crypto.h.
 *
 * Invariants (numbered so the code can point at them):
 *  1. Algorithms are fetched once, in crypto_lib_new(), from our private
 *     OSSL_LIB_CTX with the property query "fips=yes" in FIPS mode; nothing
 *     here uses the default library context or the legacy low-level API, so
 *     in FIPS mode every primitive comes from the FIPS provider.
 *  2. An AEAD object does its AES key schedule once: seal/open re-initialise
 *     their EVP_CIPHER_CTX with a NULL cipher and a NULL key, i.e. the IV only.
 *  3. Nonce bytes come from a per-thread buffer of RAND_bytes_ex output.  Each
 *     byte is handed out at most once and wiped as it is consumed.  A fork
 *     bumps a process-wide generation counter (pthread_atfork child handler);
 *     a buffer filled under an older generation, or by another crypto_lib, is
 *     wiped and refilled, so a child never reuses its parent's bytes.  (A
 *     raw clone(2) that skips the atfork handlers is not supported.)  (We do
 *     not call getpid() per nonce: it is a system call costing ~140 ns here.)
 *  4. The PRF keeps SHA-256 states after absorbing key^ipad and key^opad and
 *     copies them per call (EVP_MD_CTX_copy_ex), which measured fastest of the
 *     provider-based constructions (see crypto_prf_new).
 *  5. Every temporary holding key material is wiped with OPENSSL_cleanse on
 *     every path; tags are compared by OpenSSL's GCM final (constant time).
 *  6. Library functions never log.  On failure the OpenSSL error queue is
 *     cleared so a later caller does not see stale errors.
 */
#include "crypto.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <argon2.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include "heliosdb.h"
#include "util.h"

#define SHA256_BLOCK 64
#define SHA256_LEN 32
#define NONCE_BUF_LEN 4096
#define ARGON2_MIN_M_KIB 19456u
#define ARGON2_MIN_T 2u
#define PBKDF2_MIN_ITER 600000u

_Static_assert(CRYPTO_WRAPPED_LEN == 60, "wrapped key layout: nonce(12) ct(32) tag(16)");
_Static_assert(CRYPTO_PRF_LEN <= SHA256_LEN, "PRF output is a truncation of SHA-256");

struct crypto_lib {
	OSSL_LIB_CTX *libctx;
	OSSL_PROVIDER *prov;   /* "default" or "fips" */
	OSSL_PROVIDER *base;   /* "base" (encoders etc.) in FIPS mode */
	const char *propq;     /* NULL or "fips=yes" */
	EVP_CIPHER *gcm;
	EVP_MD *sha256;
	EVP_MAC *hmac;
	EVP_KDF *pbkdf2;
	unsigned long serial;  /* unique per library object, for the nonce buffer */
	bool fips;
};

static atomic_ulong lib_serial;

struct crypto_aead {
	EVP_CIPHER_CTX *enc;   /* keyed once, for sealing */
	EVP_CIPHER_CTX *dec;   /* keyed once, for opening */
};

struct crypto_prf {
	EVP_MD_CTX *inner;     /* SHA-256 after (key ^ ipad) */
	EVP_MD_CTX *outer;     /* SHA-256 after (key ^ opad) */
	EVP_MD_CTX *work;
};

/* ------------------------------------------------------------- library */

static void fail_clear(void)
{
	ERR_clear_error();
}

int crypto_lib_new(bool fips, struct crypto_lib **ret, char *err, size_t errlen)
{
	struct crypto_lib *lib = calloc(1, sizeof(*lib));
	if (!lib) {
		errf(err, errlen, "out of memory");
		return HDB_ENOMEM;
	}
	lib->fips = fips;
	lib->serial = atomic_fetch_add(&lib_serial, 1) + 1;
	lib->libctx = OSSL_LIB_CTX_new();
	if (!lib->libctx) {
		errf(err, errlen, "cannot create an OpenSSL library context");
		goto out_free;
	}
	if (fips) {
		lib->prov = OSSL_PROVIDER_load(lib->libctx, "fips");
		if (!lib->prov) {
			errf(err, errlen, "FIPS mode requested but the OpenSSL FIPS provider is not "
			     "installed (fips.so in %s) or not configured",
			     OPENSSL_info(OPENSSL_INFO_MODULES_DIR) ? OPENSSL_info(OPENSSL_INFO_MODULES_DIR)
			                                            : "the OpenSSL modules directory");
			goto out_free;
		}
		lib->base = OSSL_PROVIDER_load(lib->libctx, "base");
		if (!lib->base) {
			errf(err, errlen, "FIPS mode: cannot load the OpenSSL base provider");
			goto out_free;
		}
		lib->propq = "fips=yes";
	} else {
		lib->prov = OSSL_PROVIDER_load(lib->libctx, "default");
		if (!lib->prov) {
			errf(err, errlen, "cannot load the OpenSSL default provider");
			goto out_free;
		}
	}
	lib->gcm = EVP_CIPHER_fetch(lib->libctx, "AES-256-GCM", lib->propq);
	lib->sha256 = EVP_MD_fetch(lib->libctx, "SHA256", lib->propq);
	lib->hmac = EVP_MAC_fetch(lib->libctx, "HMAC", lib->propq);
	lib->pbkdf2 = EVP_KDF_fetch(lib->libctx, "PBKDF2", lib->propq);
	if (!lib->gcm || !lib->sha256 || !lib->hmac || !lib->pbkdf2) {
		errf(err, errlen, "the OpenSSL %sprovider lacks %s", fips ? "FIPS " : "",
		     !lib->gcm ? "AES-256-GCM" : !lib->sha256 ? "SHA256"
		     : !lib->hmac ? "HMAC" : "PBKDF2");
		goto out_free;
	}
	*ret = lib;
	return HDB_OK;

out_free:
	fail_clear();
	crypto_lib_free(lib);
	return HDB_ECRYPTO;
}

void crypto_lib_free(struct crypto_lib *lib)
{
	if (!lib)
		return;
	EVP_KDF_free(lib->pbkdf2);
	EVP_MAC_free(lib->hmac);
	EVP_MD_free(lib->sha256);
	EVP_CIPHER_free(lib->gcm);
	if (lib->base)
		OSSL_PROVIDER_unload(lib->base);
	if (lib->prov)
		OSSL_PROVIDER_unload(lib->prov);
	OSSL_LIB_CTX_free(lib->libctx);
	free(lib);
}

bool crypto_lib_fips(const struct crypto_lib *lib)
{
	return lib && lib->fips;
}

int crypto_random(struct crypto_lib *lib, void *out, size_t n)
{
	if (n == 0)
		return HDB_OK;
	if (RAND_bytes_ex(lib->libctx, out, n, 0) != 1) {
		OPENSSL_cleanse(out, n);
		fail_clear();
		return HDB_ECRYPTO;
	}
	return HDB_OK;
}

/* --------------------------------------------------------------- nonces */

static atomic_uint fork_generation;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static int atfork_rc;

static void on_fork_child(void)
{
	atomic_fetch_add_explicit(&fork_generation, 1, memory_order_relaxed);
}

static void register_atfork(void)
{
	atfork_rc = pthread_atfork(NULL, NULL, on_fork_child);
}

/* The thread's buffer: bytes [pos, NONCE_BUF_LEN) are unused; [0, pos) are
 * already wiped.  owner/generation say who filled it and when. */
static _Thread_local struct {
	unsigned char bytes[NONCE_BUF_LEN];
	size_t pos;
	unsigned long owner;   /* serial of the crypto_lib that filled it; 0: none */
	unsigned generation;
} nonce_buf = { .pos = NONCE_BUF_LEN };

int crypto_nonce(struct crypto_lib *lib, unsigned char out[CRYPTO_NONCE_LEN])
{
	/* Registration must precede the first fill, or a fork between the two
	 * would go unnoticed; pthread_once makes that cheap after the first call. */
	if (pthread_once(&atfork_once, register_atfork) != 0 || atfork_rc != 0)
		return HDB_ECRYPTO;
	unsigned gen = atomic_load_explicit(&fork_generation, memory_order_relaxed);
	if (nonce_buf.owner != lib->serial || nonce_buf.generation != gen ||
	    NONCE_BUF_LEN - nonce_buf.pos < CRYPTO_NONCE_LEN) {
		/* Discard whatever is left (another process's or library's bytes). */
		OPENSSL_cleanse(nonce_buf.bytes, sizeof(nonce_buf.bytes));
		nonce_buf.pos = NONCE_BUF_LEN;
		nonce_buf.owner = 0;
		if (RAND_bytes_ex(lib->libctx, nonce_buf.bytes, sizeof(nonce_buf.bytes), 0) != 1) {
			OPENSSL_cleanse(nonce_buf.bytes, sizeof(nonce_buf.bytes));
			fail_clear();
			return HDB_ECRYPTO;
		}
		nonce_buf.pos = 0;
		nonce_buf.owner = lib->serial;
		nonce_buf.generation = gen;
	}
	memcpy(out, nonce_buf.bytes + nonce_buf.pos, CRYPTO_NONCE_LEN);
	OPENSSL_cleanse(nonce_buf.bytes + nonce_buf.pos, CRYPTO_NONCE_LEN);
	nonce_buf.pos += CRYPTO_NONCE_LEN;
	return HDB_OK;
}

/* ----------------------------------------------------------------- AEAD */

int crypto_aead_new(struct crypto_lib *lib, const unsigned char key[CRYPTO_KEY_LEN],
                    struct crypto_aead **ret)
{
	struct crypto_aead *a = calloc(1, sizeof(*a));
	if (!a)
		return HDB_ENOMEM;
	a->enc = EVP_CIPHER_CTX_new();
	a->dec = EVP_CIPHER_CTX_new();
	if (!a->enc || !a->dec) {
		crypto_aead_free(a);
		return HDB_ENOMEM;
	}
	/* Key now, IV per operation (invariant 2).  The default IV length of
	 * AES-GCM in OpenSSL is 12 bytes = CRYPTO_NONCE_LEN. */
	if (EVP_EncryptInit_ex(a->enc, lib->gcm, NULL, key, NULL) != 1 ||
	    EVP_DecryptInit_ex(a->dec, lib->gcm, NULL, key, NULL) != 1 ||
	    EVP_CIPHER_CTX_get_iv_length(a->enc) != CRYPTO_NONCE_LEN) {
		fail_clear();
		crypto_aead_free(a);
		return HDB_ECRYPTO;
	}
	*ret = a;
	return HDB_OK;
}

void crypto_aead_free(struct crypto_aead *a)
{
	if (!a)
		return;
	/* The provider wipes its key schedule when the context is freed. */
	EVP_CIPHER_CTX_free(a->enc);
	EVP_CIPHER_CTX_free(a->dec);
	free(a);
}

/* EVP_*Update take int lengths; feed larger inputs in chunks. */
#define UPDATE_CHUNK ((size_t)1 << 30)

static int enc_update(EVP_CIPHER_CTX *c, unsigned char *out, const unsigned char *in, size_t n)
{
	while (n > 0) {
		int len = (int)(n < UPDATE_CHUNK ? n : UPDATE_CHUNK), outl;
		if (EVP_EncryptUpdate(c, out, &outl, in, len) != 1 || (out && outl != len))
			return HDB_ECRYPTO;
		in += len;
		if (out)
			out += len;
		n -= (size_t)len;
	}
	return HDB_OK;
}

static int dec_update(EVP_CIPHER_CTX *c, unsigned char *out, const unsigned char *in, size_t n)
{
	while (n > 0) {
		int len = (int)(n < UPDATE_CHUNK ? n : UPDATE_CHUNK), outl;
		if (EVP_DecryptUpdate(c, out, &outl, in, len) != 1 || (out && outl != len))
			return HDB_ECRYPTO;
		in += len;
		if (out)
			out += len;
		n -= (size_t)len;
	}
	return HDB_OK;
}

int crypto_aead_seal(struct crypto_aead *a, const unsigned char nonce[CRYPTO_NONCE_LEN],
                     const unsigned char *aad, size_t aadlen,
                     const unsigned char *pt, size_t n, unsigned char *ct,
                     unsigned char tag[CRYPTO_TAG_LEN])
{
	const struct crypto_part one = { pt, n };
	return crypto_aead_seal_parts(a, nonce, aad, aadlen, &one, 1, ct, tag);
}

int crypto_aead_seal_parts(struct crypto_aead *a, const unsigned char nonce[CRYPTO_NONCE_LEN],
                           const unsigned char *aad, size_t aadlen, const struct crypto_part *parts,
                           size_t nparts, unsigned char *ct, unsigned char tag[CRYPTO_TAG_LEN])
{
	unsigned char end[CRYPTO_TAG_LEN]; /* GCM's final writes no bytes */
	int outl;
	if (EVP_EncryptInit_ex(a->enc, NULL, NULL, NULL, nonce) != 1)
		goto out_fail;
	if (aadlen && enc_update(a->enc, NULL, aad, aadlen) != HDB_OK)
		goto out_fail;
	/* GCM is a stream mode: an update of any length gives as many bytes */
	for (size_t i = 0; i < nparts; i++) {
		if (parts[i].n && enc_update(a->enc, ct, parts[i].p, parts[i].n) != HDB_OK)
			goto out_fail;
		ct += parts[i].n;
	}
	if (EVP_EncryptFinal_ex(a->enc, end, &outl) != 1 || outl != 0)
		goto out_fail;
	if (EVP_CIPHER_CTX_ctrl(a->enc, EVP_CTRL_GCM_GET_TAG, CRYPTO_TAG_LEN, tag) != 1)
		goto out_fail;
	return HDB_OK;

out_fail:
	fail_clear();
	return HDB_ECRYPTO;
}

int crypto_aead_open(struct crypto_aead *a, const unsigned char nonce[CRYPTO_NONCE_LEN],
                     const unsigned char *aad, size_t aadlen,
                     const unsigned char *ct, size_t n,
                     const unsigned char tag[CRYPTO_TAG_LEN], unsigned char *pt)
{
	unsigned char t[CRYPTO_TAG_LEN];
	unsigned char end[CRYPTO_TAG_LEN]; /* GCM's final writes no bytes */
	int outl, rc = HDB_ECRYPTO;

	memcpy(t, tag, sizeof(t)); /* the ctrl wants a mutable pointer */
	if (EVP_DecryptInit_ex(a->dec, NULL, NULL, NULL, nonce) != 1)
		goto out_wipe;
	if (EVP_CIPHER_CTX_ctrl(a->dec, EVP_CTRL_GCM_SET_TAG, CRYPTO_TAG_LEN, t) != 1)
		goto out_wipe;
	if (aadlen && dec_update(a->dec, NULL, aad, aadlen) != HDB_OK)
		goto out_wipe;
	if (n && dec_update(a->dec, pt, ct, n) != HDB_OK)
		goto out_wipe;
	/* GCM's final compares the tag in constant time. */
	if (EVP_DecryptFinal_ex(a->dec, end, &outl) != 1 || outl != 0) {
		rc = HDB_ECORRUPT;
		goto out_wipe;
	}
	return HDB_OK;

out_wipe:
	if (n)
		OPENSSL_cleanse(pt, n);
	fail_clear();
	return rc;
}

/* ------------------------------------------------------------------ PRF */

/*
 * Construction choice (measured on this machine, 24-byte input, -O2,
 * OpenSSL 3.0.19; ns per call):
 *   precomputed pad states + EVP_MD_CTX_copy_ex into a work ctx   157
 *   EVP_MAC_init(ctx, NULL, 0, NULL) on a keyed HMAC ctx           213
 *   full HMAC recompute in a reused EVP_MD_CTX                     247
 *   EVP_MAC_CTX_dup of a keyed template per call                   476
 *   EVP_Q_mac one-shot                                            1022
 * (the deprecated SHA256_CTX struct copy does 105 but bypasses providers,
 * so it is not FIPS-clean; we do not use it.)
 */
static int md_pad_state(const struct crypto_lib *lib, const unsigned char *key, size_t keylen,
                        unsigned char padbyte, EVP_MD_CTX **ret)
{
	unsigned char pad[SHA256_BLOCK];
	memset(pad, padbyte, sizeof(pad));
	for (size_t i = 0; i < keylen; i++)
		pad[i] ^= key[i];
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c && EVP_DigestInit_ex(c, lib->sha256, NULL) == 1 &&
	         EVP_DigestUpdate(c, pad, sizeof(pad)) == 1;
	OPENSSL_cleanse(pad, sizeof(pad));
	if (!ok) {
		EVP_MD_CTX_free(c);
		return c ? HDB_ECRYPTO : HDB_ENOMEM;
	}
	*ret = c;
	return HDB_OK;
}

int crypto_prf_new(struct crypto_lib *lib, const unsigned char key[CRYPTO_KEY_LEN],
                   struct crypto_prf **ret)
{
	_Static_assert(CRYPTO_KEY_LEN <= SHA256_BLOCK, "HMAC key fits one block unhashed");
	struct crypto_prf *p = calloc(1, sizeof(*p));
	if (!p)
		return HDB_ENOMEM;
	int rc = md_pad_state(lib, key, CRYPTO_KEY_LEN, 0x36, &p->inner);
	if (rc == HDB_OK)
		rc = md_pad_state(lib, key, CRYPTO_KEY_LEN, 0x5c, &p->outer);
	if (rc == HDB_OK && !(p->work = EVP_MD_CTX_new()))
		rc = HDB_ENOMEM;
	if (rc != HDB_OK) {
		fail_clear();
		crypto_prf_free(p);
		return rc;
	}
	*ret = p;
	return HDB_OK;
}

void crypto_prf_free(struct crypto_prf *p)
{
	if (!p)
		return;
	/* EVP_MD_CTX_free wipes the provider's SHA-256 state. */
	EVP_MD_CTX_free(p->inner);
	EVP_MD_CTX_free(p->outer);
	EVP_MD_CTX_free(p->work);
	free(p);
}

int crypto_prf(struct crypto_prf *p, const void *a, size_t alen, const void *b, size_t blen,
               unsigned char out[CRYPTO_PRF_LEN])
{
	unsigned char ih[SHA256_LEN], oh[SHA256_LEN];
	int rc = HDB_ECRYPTO;
	if (EVP_MD_CTX_copy_ex(p->work, p->inner) != 1 ||
	    (alen && EVP_DigestUpdate(p->work, a, alen) != 1) ||
	    (blen && EVP_DigestUpdate(p->work, b, blen) != 1) ||
	    EVP_DigestFinal_ex(p->work, ih, NULL) != 1 ||
	    EVP_MD_CTX_copy_ex(p->work, p->outer) != 1 ||
	    EVP_DigestUpdate(p->work, ih, sizeof(ih)) != 1 ||
	    EVP_DigestFinal_ex(p->work, oh, NULL) != 1) {
		fail_clear();
		goto out_wipe;
	}
	memcpy(out, oh, CRYPTO_PRF_LEN);
	rc = HDB_OK;
out_wipe:
	OPENSSL_cleanse(ih, sizeof(ih));
	OPENSSL_cleanse(oh, sizeof(oh));
	return rc;
}

/* --------------------------------------------------------- one-shot HMAC */

int crypto_hmac_sha256(struct crypto_lib *lib, const unsigned char *key, size_t keylen,
                       const void *msg, size_t msglen, unsigned char out[32])
{
	static const unsigned char nokey[1];
	OSSL_PARAM params[3];
	size_t n = 0;
	int rc = HDB_ECRYPTO;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = lib->propq
		? OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_PROPERTIES, (char *)lib->propq, 0)
		: OSSL_PARAM_construct_end();
	params[2] = OSSL_PARAM_construct_end();

	EVP_MAC_CTX *c = EVP_MAC_CTX_new(lib->hmac);
	if (!c)
		return HDB_ENOMEM;
	if (EVP_MAC_init(c, keylen ? key : nokey, keylen, params) != 1 ||
	    (msglen && EVP_MAC_update(c, msg, msglen) != 1) ||
	    EVP_MAC_final(c, out, &n, SHA256_LEN) != 1 || n != SHA256_LEN) {
		OPENSSL_cleanse(out, SHA256_LEN);
		fail_clear();
		goto out_free;
	}
	rc = HDB_OK;
out_free:
	EVP_MAC_CTX_free(c); /* wipes the keyed state */
	return rc;
}

/* --------------------------------------------------------- key wrapping */

int crypto_wrap_key(struct crypto_lib *lib, const unsigned char kek[CRYPTO_KEY_LEN],
                    const unsigned char *aad, size_t aadlen,
                    const unsigned char key[CRYPTO_KEY_LEN], unsigned char out[CRYPTO_WRAPPED_LEN])
{
	struct crypto_aead *a;
	int rc = crypto_aead_new(lib, kek, &a);
	if (rc)
		return rc;
	rc = crypto_random(lib, out, CRYPTO_NONCE_LEN);
	if (rc == HDB_OK)
		rc = crypto_aead_seal(a, out, aad, aadlen, key, CRYPTO_KEY_LEN,
		                      out + CRYPTO_NONCE_LEN, out + CRYPTO_NONCE_LEN + CRYPTO_KEY_LEN);
	crypto_aead_free(a);
	if (rc)
		OPENSSL_cleanse(out, CRYPTO_WRAPPED_LEN);
	return rc;
}

int crypto_unwrap_key(struct crypto_lib *lib, const unsigned char kek[CRYPTO_KEY_LEN],
                      const unsigned char *aad, size_t aadlen,
                      const unsigned char in[CRYPTO_WRAPPED_LEN], unsigned char key[CRYPTO_KEY_LEN])
{
	struct crypto_aead *a;
	int rc = crypto_aead_new(lib, kek, &a);
	if (rc)
		return rc;
	rc = crypto_aead_open(a, in, aad, aadlen, in + CRYPTO_NONCE_LEN, CRYPTO_KEY_LEN,
	                      in + CRYPTO_NONCE_LEN + CRYPTO_KEY_LEN, key);
	crypto_aead_free(a);
	return rc; /* open wiped key on failure */
}

/* ----------------------------------------------------------------- KDFs */

int crypto_kdf_argon2id(const void *pw, size_t pwlen, const unsigned char *salt, size_t saltlen,
                        uint32_t m_kib, uint32_t t, uint32_t p, unsigned char out[CRYPTO_KEY_LEN])
{
	if (m_kib < ARGON2_MIN_M_KIB || t < ARGON2_MIN_T || p < 1)
		return HDB_EINVAL;
	if (pwlen > UINT32_MAX || saltlen > UINT32_MAX)
		return HDB_EINVAL;
	/* libargon2 wipes its own memory blocks (FLAG_clear_internal_memory). */
	int arc = argon2id_hash_raw(t, m_kib, p, pw, pwlen, salt, saltlen, out, CRYPTO_KEY_LEN);
	if (arc == ARGON2_OK)
		return HDB_OK;
	OPENSSL_cleanse(out, CRYPTO_KEY_LEN);
	switch (arc) {
	case ARGON2_MEMORY_ALLOCATION_ERROR:
		return HDB_ENOMEM;
	case ARGON2_THREAD_FAIL:
		return HDB_ERROR;
	default:   /* salt too short, too many lanes, memory below 8 * lanes, ... */
		return HDB_EINVAL;
	}
}

int crypto_kdf_pbkdf2(struct crypto_lib *lib, const void *pw, size_t pwlen,
                      const unsigned char *salt, size_t saltlen, uint32_t iterations,
                      unsigned char out[CRYPTO_KEY_LEN])
{
	if (iterations < PBKDF2_MIN_ITER)
		return HDB_EINVAL;
	static const unsigned char empty[1];
	uint64_t iter = iterations;
	OSSL_PARAM params[6], *q = params;
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
	                                         (void *)(pwlen ? pw : empty), pwlen);
	*q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
	                                         (void *)(saltlen ? salt : empty), saltlen);
	*q++ = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_ITER, &iter);
	*q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	if (lib->propq)
		*q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_PROPERTIES,
		                                        (char *)lib->propq, 0);
	*q = OSSL_PARAM_construct_end();

	EVP_KDF_CTX *c = EVP_KDF_CTX_new(lib->pbkdf2);
	if (!c)
		return HDB_ENOMEM;
	int rc = HDB_OK;
	if (EVP_KDF_derive(c, out, CRYPTO_KEY_LEN, params) != 1) {
		OPENSSL_cleanse(out, CRYPTO_KEY_LEN);
		fail_clear();
		/* The FIPS provider refuses short passwords and salts. */
		rc = HDB_ECRYPTO;
	}
	EVP_KDF_CTX_free(c); /* wipes its copy of the password */
	return rc;
}
