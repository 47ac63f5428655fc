/*
 * crypto.h - the engine's cryptographic primitives, on OpenSSL 3 EVP in a
 * library context of the engine's own (engine/crypto.c).
 *
 * Invariants:
 *  - A keyed AEAD object does its key schedule once, at crypto_aead_new();
 *    seal/open only set the IV.  An object is used by one thread at a time
 *    (the engine pools them).
 *  - Nonces are 96 random bits (NIST SP 800-38D 8.2.2) drawn from a
 *    per-thread buffer of RAND_bytes output that is refilled every 4 KiB and
 *    discarded in a forked child, so a nonce never costs one RAND_bytes call
 *    and no two processes share buffered bytes.
 *  - The PRF (the keyed hash of LMDB keys) is HMAC-SHA-256 truncated to 16
 *    bytes, with the inner and outer pad states precomputed at creation.
 *  - Every function returns HDB_OK or a negative hdb_err; authentication
 *    failures are HDB_ECORRUPT, provider failures HDB_ECRYPTO.
 */
#ifndef HDB_CRYPTO_H
#define HDB_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRYPTO_KEY_LEN 32
#define CRYPTO_NONCE_LEN 12
#define CRYPTO_TAG_LEN 16
#define CRYPTO_PRF_LEN 16
#define CRYPTO_WRAPPED_LEN (CRYPTO_NONCE_LEN + CRYPTO_KEY_LEN + CRYPTO_TAG_LEN)

struct crypto_lib;    /* OSSL_LIB_CTX + fetched algorithms; thread-safe */
struct crypto_aead;   /* AES-256-GCM under one key; one thread at a time */
struct crypto_prf;    /* keyed PRF; one thread at a time */

/* crypto_lib_new - a private OSSL_LIB_CTX with the default provider, or with
 * fips = true the "fips" provider and the "fips=yes" property; when the FIPS
 * provider is not installed this fails with HDB_ECRYPTO and err says so. */
int crypto_lib_new(bool fips, struct crypto_lib **ret, char *err, size_t errlen);
void crypto_lib_free(struct crypto_lib *lib);
bool crypto_lib_fips(const struct crypto_lib *lib);

/* crypto_random - n bytes from the library context's CSPRNG (for keys). */
int crypto_random(struct crypto_lib *lib, void *out, size_t n);
/* crypto_nonce - 12 fresh random bytes from the per-thread buffer. */
int crypto_nonce(struct crypto_lib *lib, unsigned char out[CRYPTO_NONCE_LEN]);

int crypto_aead_new(struct crypto_lib *lib, const unsigned char key[CRYPTO_KEY_LEN],
                    struct crypto_aead **ret);
void crypto_aead_free(struct crypto_aead *a);
/* Seals n bytes of pt into ct (n bytes; may equal pt) and writes the tag. */
int crypto_aead_seal(struct crypto_aead *a, const unsigned char nonce[CRYPTO_NONCE_LEN],
                     const unsigned char *aad, size_t aadlen,
                     const unsigned char *pt, size_t n, unsigned char *ct,
                     unsigned char tag[CRYPTO_TAG_LEN]);
/* One piece of a plaintext. */
struct crypto_part {
	const void *p;
	size_t n;
};
/* crypto_aead_seal of the concatenation of parts, without concatenating
 * them: ct receives their total length. */
int crypto_aead_seal_parts(struct crypto_aead *a, const unsigned char nonce[CRYPTO_NONCE_LEN],
                           const unsigned char *aad, size_t aadlen, const struct crypto_part *parts,
                           size_t nparts, unsigned char *ct, unsigned char tag[CRYPTO_TAG_LEN]);
/* Opens n bytes of ct into pt; HDB_ECORRUPT if the tag does not verify (pt
 * is then wiped). */
int crypto_aead_open(struct crypto_aead *a, const unsigned char nonce[CRYPTO_NONCE_LEN],
                     const unsigned char *aad, size_t aadlen,
                     const unsigned char *ct, size_t n,
                     const unsigned char tag[CRYPTO_TAG_LEN], unsigned char *pt)
	__attribute__((warn_unused_result));

int crypto_prf_new(struct crypto_lib *lib, const unsigned char key[CRYPTO_KEY_LEN],
                   struct crypto_prf **ret);
void crypto_prf_free(struct crypto_prf *p);
/* out = first 16 bytes of HMAC-SHA-256(key, a || b). */
int crypto_prf(struct crypto_prf *p, const void *a, size_t alen, const void *b, size_t blen,
               unsigned char out[CRYPTO_PRF_LEN]);

/* One-shot HMAC-SHA-256 (32-byte output), e.g. for key-check values. */
int crypto_hmac_sha256(struct crypto_lib *lib, const unsigned char *key, size_t keylen,
                       const void *msg, size_t msglen, unsigned char out[32]);

/* Key wrapping: AES-256-GCM of a 32-byte key under kek with a random nonce,
 * out = nonce || ct || tag (CRYPTO_WRAPPED_LEN bytes); aad binds it to its
 * place (database id, key id).  unwrap gives HDB_ECORRUPT on a bad tag. */
int crypto_wrap_key(struct crypto_lib *lib, const unsigned char kek[CRYPTO_KEY_LEN],
                    const unsigned char *aad, size_t aadlen,
                    const unsigned char key[CRYPTO_KEY_LEN], unsigned char out[CRYPTO_WRAPPED_LEN]);
int crypto_unwrap_key(struct crypto_lib *lib, const unsigned char kek[CRYPTO_KEY_LEN],
                      const unsigned char *aad, size_t aadlen,
                      const unsigned char in[CRYPTO_WRAPPED_LEN], unsigned char key[CRYPTO_KEY_LEN])
	__attribute__((warn_unused_result));

/* Password KDFs into a 32-byte key.  Argon2id (libargon2) refuses
 * m_kib < 19456 or t < 2 with HDB_EINVAL; PBKDF2-HMAC-SHA-256 (OpenSSL, for
 * FIPS mode) refuses fewer than 600000 iterations. */
int crypto_kdf_argon2id(const void *pw, size_t pwlen, const unsigned char *salt, size_t saltlen,
                        uint32_t m_kib, uint32_t t, uint32_t p, unsigned char out[CRYPTO_KEY_LEN]);
int crypto_kdf_pbkdf2(struct crypto_lib *lib, const void *pw, size_t pwlen,
                      const unsigned char *salt, size_t saltlen, uint32_t iterations,
                      unsigned char out[CRYPTO_KEY_LEN]);

#endif
