/*
 * test_crypto.c - known-answer and property tests for engine/crypto.c.
 *
 * Vectors: AES-256-GCM test cases 13 and 16 of McGrew & Viega, "The GCM Mode
 * of Operation" (the NIST submission); HMAC-SHA-256 RFC 4231 cases 1-4;
 * Argon2id from libargon2's own src/test.c (v=0x13, m=65536, t=2, p=1,
 * "password"/"somesalt"; RFC 9106 5.3 needs secret/ad that the simple API
 * lacks); PBKDF2-HMAC-SHA-256 with 600000 iterations computed with
 * `openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt pass:password
 *  -kdfopt salt:saltsaltsaltsalt -kdfopt iter:600000 PBKDF2` and checked
 * against Python's hashlib.pbkdf2_hmac.
 */
#include "testutil.h"

#include <stdbool.h>
#include <sys/wait.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "crypto.h"
#include "heliosdb.h"
#include "util.h"

static struct crypto_lib *lib;

static int setup(void **state)
{
	(void)state;
	char err[256] = "";
	int rc = crypto_lib_new(false, &lib, err, sizeof(err));
	if (rc != HDB_OK)
		fprintf(stderr, "crypto_lib_new: %s\n", err);
	return rc == HDB_OK ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	crypto_lib_free(lib);
	lib = NULL;
	return 0;
}

/* Decodes a hex literal into a malloc'd buffer (test helper; deliberately
 * independent of util's hex_decode). */
static unsigned char *unhex(const char *h, size_t *n)
{
	size_t len = strlen(h) / 2;
	unsigned char *p = malloc(len ? len : 1);
	assert_non_null(p);
	for (size_t i = 0; i < len; i++) {
		unsigned v;
		assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
		p[i] = (unsigned char)v;
	}
	*n = len;
	return p;
}

/* ------------------------------------------------------------- library */

static void test_lib_default(void **state)
{
	(void)state;
	assert_false(crypto_lib_fips(lib));
	assert_false(crypto_lib_fips(NULL));
	crypto_lib_free(NULL);
}

static void test_fips_refused_without_provider(void **state)
{
	(void)state;
	struct crypto_lib *f = (struct crypto_lib *)0x1;
	char err[256] = "";
	int rc = crypto_lib_new(true, &f, err, sizeof(err));
	if (rc == HDB_OK) {
		/* A system with a FIPS provider: then it must really be FIPS. */
		assert_true(crypto_lib_fips(f));
		crypto_lib_free(f);
		skip();
	}
	assert_int_equal(rc, HDB_ECRYPTO);
	assert_ptr_equal(f, (struct crypto_lib *)0x1); /* untouched on failure */
	assert_non_null(strstr(err, "FIPS mode requested but the OpenSSL FIPS provider is not installed"));
	assert_non_null(strstr(err, "fips.so"));
	assert_int_equal(ERR_peek_error(), 0); /* error queue left clean */
}

static void test_random(void **state)
{
	(void)state;
	unsigned char a[32] = { 0 }, b[32] = { 0 }, z[32] = { 0 };
	assert_int_equal(crypto_random(lib, a, sizeof(a)), HDB_OK);
	assert_int_equal(crypto_random(lib, b, sizeof(b)), HDB_OK);
	assert_memory_not_equal(a, z, sizeof(a));
	assert_memory_not_equal(a, b, sizeof(a));
	assert_int_equal(crypto_random(lib, a, 0), HDB_OK);
}

/* ----------------------------------------------------------------- GCM */

#define TC16_KEY "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"
#define TC16_IV "cafebabefacedbaddecaf888"
#define TC16_AAD "feedfacedeadbeeffeedfacedeadbeefabaddad2"
#define TC16_PT "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" \
                "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
#define TC16_CT "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa" \
                "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
#define TC16_TAG "76fc6ece0f4e1768cddf8853bb2d551b"

struct tc16 {
	unsigned char *key, *iv, *aad, *pt, *ct, *tag;
	size_t keylen, ivlen, aadlen, ptlen, ctlen, taglen;
};

static void tc16_load(struct tc16 *v)
{
	v->key = unhex(TC16_KEY, &v->keylen);
	v->iv = unhex(TC16_IV, &v->ivlen);
	v->aad = unhex(TC16_AAD, &v->aadlen);
	v->pt = unhex(TC16_PT, &v->ptlen);
	v->ct = unhex(TC16_CT, &v->ctlen);
	v->tag = unhex(TC16_TAG, &v->taglen);
	assert_int_equal(v->keylen, CRYPTO_KEY_LEN);
	assert_int_equal(v->ivlen, CRYPTO_NONCE_LEN);
	assert_int_equal(v->ptlen, 60);
	assert_int_equal(v->aadlen, 20);
}

static void tc16_free(struct tc16 *v)
{
	free(v->key); free(v->iv); free(v->aad); free(v->pt); free(v->ct); free(v->tag);
}

static void test_gcm_kat_tc16(void **state)
{
	(void)state;
	struct tc16 v;
	tc16_load(&v);
	struct crypto_aead *a;
	assert_int_equal(crypto_aead_new(lib, v.key, &a), HDB_OK);

	unsigned char ct[60], tag[16], pt[60];
	assert_int_equal(crypto_aead_seal(a, v.iv, v.aad, v.aadlen, v.pt, 60, ct, tag), HDB_OK);
	assert_memory_equal(ct, v.ct, 60);
	assert_memory_equal(tag, v.tag, 16);
	assert_int_equal(crypto_aead_open(a, v.iv, v.aad, v.aadlen, ct, 60, tag, pt), HDB_OK);
	assert_memory_equal(pt, v.pt, 60);

	/* Again on the same object (key schedule kept, IV reset), and in place. */
	unsigned char buf[60];
	memcpy(buf, v.pt, 60);
	assert_int_equal(crypto_aead_seal(a, v.iv, v.aad, v.aadlen, buf, 60, buf, tag), HDB_OK);
	assert_memory_equal(buf, v.ct, 60);
	assert_memory_equal(tag, v.tag, 16);
	assert_int_equal(crypto_aead_open(a, v.iv, v.aad, v.aadlen, buf, 60, tag, buf), HDB_OK);
	assert_memory_equal(buf, v.pt, 60);

	crypto_aead_free(a);
	crypto_aead_free(NULL);
	tc16_free(&v);
}

static void test_gcm_kat_tc13_empty(void **state)
{
	(void)state;
	/* Test case 13: zero key, zero IV, no plaintext, no AAD. */
	unsigned char key[32] = { 0 }, iv[12] = { 0 }, tag[16];
	size_t n;
	unsigned char *want = unhex("530f8afbc74536b9a963b4f1c4cb738b", &n);
	struct crypto_aead *a;
	assert_int_equal(crypto_aead_new(lib, key, &a), HDB_OK);
	assert_int_equal(crypto_aead_seal(a, iv, NULL, 0, NULL, 0, NULL, tag), HDB_OK);
	assert_memory_equal(tag, want, 16);
	assert_int_equal(crypto_aead_open(a, iv, NULL, 0, NULL, 0, tag, NULL), HDB_OK);
	tag[15] ^= 1;
	assert_int_equal(crypto_aead_open(a, iv, NULL, 0, NULL, 0, tag, NULL), HDB_ECORRUPT);
	crypto_aead_free(a);
	free(want);
}

/* Reference: a fresh EVP context keyed per call, independent of our object. */
static void ref_gcm_seal(const unsigned char *key, const unsigned char *iv, const unsigned char *aad,
                         size_t aadlen, const unsigned char *pt, size_t n, unsigned char *ct,
                         unsigned char *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l;
	assert_non_null(c);
	assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv), 1);
	if (aadlen)
		assert_int_equal(EVP_EncryptUpdate(c, NULL, &l, aad, (int)aadlen), 1);
	if (n)
		assert_int_equal(EVP_EncryptUpdate(c, ct, &l, pt, (int)n), 1);
	assert_int_equal(EVP_EncryptFinal_ex(c, ct + n, &l), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag), 1);
	EVP_CIPHER_CTX_free(c);
}

static void test_gcm_matches_reference_many_nonces(void **state)
{
	(void)state;
	unsigned char key[32], iv[12], aad[40], pt[300], ct[300], tag[16], rct[300], rtag[16], back[300];
	assert_int_equal(RAND_bytes(key, sizeof(key)), 1);
	struct crypto_aead *a;
	assert_int_equal(crypto_aead_new(lib, key, &a), HDB_OK);
	for (int i = 0; i < 200; i++) {
		size_t n = (size_t)(i * 7) % sizeof(pt), alen = (size_t)i % sizeof(aad);
		assert_int_equal(crypto_nonce(lib, iv), HDB_OK);
		assert_int_equal(RAND_bytes(aad, sizeof(aad)), 1);
		assert_int_equal(RAND_bytes(pt, sizeof(pt)), 1);
		assert_int_equal(crypto_aead_seal(a, iv, aad, alen, pt, n, ct, tag), HDB_OK);
		ref_gcm_seal(key, iv, aad, alen, pt, n, rct, rtag);
		if (n)
			assert_memory_equal(ct, rct, n);
		assert_memory_equal(tag, rtag, 16);
		assert_int_equal(crypto_aead_open(a, iv, aad, alen, ct, n, tag, back), HDB_OK);
		if (n)
			assert_memory_equal(back, pt, n);
	}
	crypto_aead_free(a);
}

/* seal_parts: any split of a plaintext (empty pieces, odd lengths, pieces
 * across GCM's 16-byte blocks) seals to what the reference seals whole. */
static void test_gcm_parts_match_whole(void **state)
{
	(void)state;
	unsigned char key[32], iv[12], aad[42], pt[5000], ct[5000], tag[16], rct[5000], rtag[16];
	assert_int_equal(RAND_bytes(key, sizeof(key)), 1);
	assert_int_equal(RAND_bytes(aad, sizeof(aad)), 1);
	struct crypto_aead *a;
	assert_int_equal(crypto_aead_new(lib, key, &a), HDB_OK);
	for (int i = 0; i < 300; i++) {
		size_t n = (size_t)(i * 37) % sizeof(pt);
		size_t c1 = n ? (size_t)(i * 13) % (n + 1) : 0, c2 = c1 + (n - c1 ? (size_t)(i * 5) % (n - c1 + 1) : 0);
		assert_int_equal(crypto_nonce(lib, iv), HDB_OK);
		assert_int_equal(RAND_bytes(pt, sizeof(pt)), 1);
		struct crypto_part parts[4] = { { pt, c1 }, { pt + c1, 0 }, { pt + c1, c2 - c1 }, { pt + c2, n - c2 } };
		memset(ct, 0, sizeof(ct));
		assert_int_equal(crypto_aead_seal_parts(a, iv, aad, sizeof(aad), parts, 4, ct, tag), HDB_OK);
		ref_gcm_seal(key, iv, aad, sizeof(aad), pt, n, rct, rtag);
		if (n)
			assert_memory_equal(ct, rct, n);
		assert_memory_equal(tag, rtag, 16);
		assert_int_equal(ct[n], 0); /* nothing written past the total */
	}
	crypto_aead_free(a);
}

static void expect_corrupt_and_wiped(struct crypto_aead *a, const unsigned char *iv,
                                     const unsigned char *aad, size_t aadlen,
                                     const unsigned char *ct, size_t n, const unsigned char *tag)
{
	unsigned char pt[64], zero[64] = { 0 };
	memset(pt, 0xa5, sizeof(pt));
	assert_int_equal(crypto_aead_open(a, iv, aad, aadlen, ct, n, tag, pt), HDB_ECORRUPT);
	assert_memory_equal(pt, zero, n); /* no unauthenticated plaintext escapes */
	assert_int_equal(pt[n], 0xa5);    /* and nothing beyond n was touched */
}

static void test_gcm_tamper(void **state)
{
	(void)state;
	struct tc16 v;
	tc16_load(&v);
	struct crypto_aead *a;
	assert_int_equal(crypto_aead_new(lib, v.key, &a), HDB_OK);
	unsigned char ct[60], tag[16], iv[12], aad[20], pt[60];

	memcpy(tag, v.tag, 16); tag[0] ^= 0x80;
	expect_corrupt_and_wiped(a, v.iv, v.aad, 20, v.ct, 60, tag);

	memcpy(ct, v.ct, 60); ct[59] ^= 0x01;
	expect_corrupt_and_wiped(a, v.iv, v.aad, 20, ct, 60, v.tag);

	memcpy(aad, v.aad, 20); aad[3] ^= 0x10; /* another row's place */
	expect_corrupt_and_wiped(a, v.iv, aad, 20, v.ct, 60, v.tag);
	expect_corrupt_and_wiped(a, v.iv, v.aad, 19, v.ct, 60, v.tag);   /* truncated aad */
	expect_corrupt_and_wiped(a, v.iv, NULL, 0, v.ct, 60, v.tag);     /* aad dropped */
	expect_corrupt_and_wiped(a, v.iv, v.aad, 20, v.ct, 59, v.tag);   /* truncated ct */

	memcpy(iv, v.iv, 12); iv[11] ^= 0x01;
	expect_corrupt_and_wiped(a, iv, v.aad, 20, v.ct, 60, v.tag);

	/* A failed open leaves the object usable. */
	assert_int_equal(crypto_aead_open(a, v.iv, v.aad, 20, v.ct, 60, v.tag, pt), HDB_OK);
	assert_memory_equal(pt, v.pt, 60);

	/* The wrong key fails too. */
	struct crypto_aead *b;
	unsigned char k2[32];
	memcpy(k2, v.key, 32); k2[31] ^= 1;
	assert_int_equal(crypto_aead_new(lib, k2, &b), HDB_OK);
	expect_corrupt_and_wiped(b, v.iv, v.aad, 20, v.ct, 60, v.tag);
	crypto_aead_free(b);
	crypto_aead_free(a);
	tc16_free(&v);
}

/* ---------------------------------------------------------------- HMAC */

struct rfc4231 {
	const char *key, *data, *mac;
};

/* RFC 4231 section 4.2-4.5: test cases 1-4 (HMAC-SHA-256 column). */
static const struct rfc4231 rfc4231[] = {
	{ "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "4869205468657265",
	  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
	{ "4a656665", "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
	  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	  "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
	  "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
	{ "0102030405060708090a0b0c0d0e0f10111213141516171819",
	  "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
	  "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },
};

static void test_hmac_rfc4231(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(rfc4231); i++) {
		size_t kl, dl, ml;
		unsigned char *k = unhex(rfc4231[i].key, &kl);
		unsigned char *d = unhex(rfc4231[i].data, &dl);
		unsigned char *m = unhex(rfc4231[i].mac, &ml);
		unsigned char out[32];
		assert_int_equal(crypto_hmac_sha256(lib, k, kl, d, dl, out), HDB_OK);
		assert_memory_equal(out, m, 32);
		free(k); free(d); free(m);
	}
}

/* The PRF takes 32-byte keys.  HMAC zero-pads keys shorter than a block, so
 * an RFC 4231 key zero-padded to 32 bytes is the same HMAC key: every case
 * 1-4 applies, truncated to 16 bytes, with the data split at every point. */
static void test_prf_rfc4231_truncated(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(rfc4231); i++) {
		size_t kl, dl, ml;
		unsigned char *k = unhex(rfc4231[i].key, &kl);
		unsigned char *d = unhex(rfc4231[i].data, &dl);
		unsigned char *m = unhex(rfc4231[i].mac, &ml);
		unsigned char key[32] = { 0 }, out[CRYPTO_PRF_LEN];
		assert_true(kl <= 32);
		memcpy(key, k, kl);
		struct crypto_prf *p;
		assert_int_equal(crypto_prf_new(lib, key, &p), HDB_OK);
		for (size_t cut = 0; cut <= dl; cut++) {
			memset(out, 0, sizeof(out));
			assert_int_equal(crypto_prf(p, d, cut, d + cut, dl - cut, out), HDB_OK);
			assert_memory_equal(out, m, CRYPTO_PRF_LEN);
		}
		crypto_prf_free(p);
		free(k); free(d); free(m);
	}
	crypto_prf_free(NULL);
}

static void ref_hmac(const unsigned char *key, const unsigned char *msg, size_t n, unsigned char out[32])
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *c = EVP_MAC_CTX_new(mac);
	OSSL_PARAM p[2] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
	                    OSSL_PARAM_construct_end() };
	size_t ol;
	assert_int_equal(EVP_MAC_init(c, key, 32, p), 1);
	assert_int_equal(EVP_MAC_update(c, msg, n), 1);
	assert_int_equal(EVP_MAC_final(c, out, &ol, 32), 1);
	assert_int_equal(ol, 32);
	EVP_MAC_CTX_free(c);
	EVP_MAC_free(mac);
}

static void test_prf_equals_evp_mac_random(void **state)
{
	(void)state;
	unsigned char key[32], msg[300], want[32], got[CRYPTO_PRF_LEN];
	struct crypto_prf *p = NULL;
	for (int i = 0; i < 1000; i++) {
		if (i % 100 == 0) {
			crypto_prf_free(p);
			assert_int_equal(RAND_bytes(key, 32), 1);
			assert_int_equal(crypto_prf_new(lib, key, &p), HDB_OK);
		}
		unsigned char r[2];
		assert_int_equal(RAND_bytes(r, 2), 1);
		size_t n = (size_t)(r[0] | r[1] << 8) % sizeof(msg);  /* 0..299: spans blocks */
		size_t cut = n ? (size_t)r[0] % (n + 1) : 0;
		assert_int_equal(RAND_bytes(msg, sizeof(msg)), 1);
		ref_hmac(key, msg, n, want);
		assert_int_equal(crypto_prf(p, msg, cut, msg + cut, n - cut, got), HDB_OK);
		assert_memory_equal(got, want, CRYPTO_PRF_LEN);
		/* and crypto_hmac_sha256 agrees in full */
		unsigned char full[32];
		assert_int_equal(crypto_hmac_sha256(lib, key, 32, msg, n, full), HDB_OK);
		assert_memory_equal(full, want, 32);
	}
	/* NULL halves with zero length are the empty message. */
	ref_hmac(key, msg, 0, want);
	assert_int_equal(crypto_prf(p, NULL, 0, NULL, 0, got), HDB_OK);
	assert_memory_equal(got, want, CRYPTO_PRF_LEN);
	crypto_prf_free(p);
}

/* --------------------------------------------------------- key wrapping */

static void test_wrap_unwrap(void **state)
{
	(void)state;
	unsigned char kek[32], key[32], w1[CRYPTO_WRAPPED_LEN], w2[CRYPTO_WRAPPED_LEN], back[32], zero[32] = { 0 };
	const unsigned char aad[] = "db:1234/key:7";
	assert_int_equal(RAND_bytes(kek, 32), 1);
	assert_int_equal(RAND_bytes(key, 32), 1);
	assert_int_equal(crypto_wrap_key(lib, kek, aad, sizeof(aad), key, w1), HDB_OK);
	assert_int_equal(crypto_wrap_key(lib, kek, aad, sizeof(aad), key, w2), HDB_OK);
	assert_memory_not_equal(w1, w2, CRYPTO_NONCE_LEN);            /* fresh nonce each time */
	assert_memory_not_equal(w1 + CRYPTO_NONCE_LEN, key, 32);      /* not the key in clear */
	assert_int_equal(crypto_unwrap_key(lib, kek, aad, sizeof(aad), w1, back), HDB_OK);
	assert_memory_equal(back, key, 32);
	assert_int_equal(crypto_unwrap_key(lib, kek, aad, sizeof(aad), w2, back), HDB_OK);
	assert_memory_equal(back, key, 32);

	/* The layout is nonce || ct || tag: open it by hand. */
	struct crypto_aead *a;
	assert_int_equal(crypto_aead_new(lib, kek, &a), HDB_OK);
	assert_int_equal(crypto_aead_open(a, w1, aad, sizeof(aad), w1 + 12, 32, w1 + 44, back), HDB_OK);
	assert_memory_equal(back, key, 32);
	crypto_aead_free(a);

	/* Wrong kek. */
	unsigned char kek2[32];
	memcpy(kek2, kek, 32); kek2[0] ^= 1;
	memset(back, 0x5a, 32);
	assert_int_equal(crypto_unwrap_key(lib, kek2, aad, sizeof(aad), w1, back), HDB_ECORRUPT);
	assert_memory_equal(back, zero, 32);
	/* Wrong place. */
	const unsigned char aad2[] = "db:1234/key:8";
	assert_int_equal(crypto_unwrap_key(lib, kek, aad2, sizeof(aad2), w1, back), HDB_ECORRUPT);
	/* Tampered. */
	for (size_t i = 0; i < CRYPTO_WRAPPED_LEN; i += 7) {
		unsigned char t[CRYPTO_WRAPPED_LEN];
		memcpy(t, w1, sizeof(t));
		t[i] ^= 0x40;
		assert_int_equal(crypto_unwrap_key(lib, kek, aad, sizeof(aad), t, back), HDB_ECORRUPT);
	}
}

/* ----------------------------------------------------------------- KDFs */

static void test_argon2id_reference_vector(void **state)
{
	(void)state;
	size_t n;
	unsigned char *want = unhex("09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7", &n);
	unsigned char out[32];
	assert_int_equal(crypto_kdf_argon2id("password", 8, (const unsigned char *)"somesalt", 8,
	                                     65536, 2, 1, out), HDB_OK);
	assert_memory_equal(out, want, 32);
	free(want);
}

static void test_argon2id_floor_and_determinism(void **state)
{
	(void)state;
	const unsigned char salt[16] = "0123456789abcdef", salt2[16] = "0123456789abcdeF";
	unsigned char a[32], b[32], c[32], z[32] = { 0 };
	assert_int_equal(crypto_kdf_argon2id("pw", 2, salt, 16, 19456, 2, 1, a), HDB_OK);
	assert_int_equal(crypto_kdf_argon2id("pw", 2, salt, 16, 19456, 2, 1, b), HDB_OK);
	assert_memory_equal(a, b, 32);
	assert_int_equal(crypto_kdf_argon2id("pw", 2, salt2, 16, 19456, 2, 1, c), HDB_OK);
	assert_memory_not_equal(a, c, 32);
	assert_int_equal(crypto_kdf_argon2id("pX", 2, salt, 16, 19456, 2, 1, c), HDB_OK);
	assert_memory_not_equal(a, c, 32);
	assert_int_equal(crypto_kdf_argon2id("pw", 2, salt, 16, 19456, 3, 1, c), HDB_OK);
	assert_memory_not_equal(a, c, 32);

	assert_int_equal(crypto_kdf_argon2id("pw", 2, salt, 16, 19455, 2, 1, c), HDB_EINVAL);
	assert_int_equal(crypto_kdf_argon2id("pw", 2, salt, 16, 19456, 1, 1, c), HDB_EINVAL);
	assert_int_equal(crypto_kdf_argon2id("pw", 2, salt, 16, 19456, 2, 0, c), HDB_EINVAL);
	assert_int_equal(crypto_kdf_argon2id("pw", 2, salt, 16, 0, 0, 0, c), HDB_EINVAL);
	/* libargon2's own refusals (salt shorter than 8 bytes) map to EINVAL, out wiped. */
	memset(c, 0x77, 32);
	assert_int_equal(crypto_kdf_argon2id("pw", 2, salt, 4, 19456, 2, 1, c), HDB_EINVAL);
	assert_memory_equal(c, z, 32);
}

static void test_pbkdf2_vector_and_floor(void **state)
{
	(void)state;
	size_t n;
	unsigned char *want = unhex("3257cf76e56a9cc4e3afa561c3fd4daa6952b61e91c4e365955121042cfb94a2", &n);
	unsigned char out[32];
	assert_int_equal(crypto_kdf_pbkdf2(lib, "password", 8, (const unsigned char *)"saltsaltsaltsalt",
	                                   16, 600000, out), HDB_OK);
	assert_memory_equal(out, want, 32);
	assert_int_equal(crypto_kdf_pbkdf2(lib, "password", 8, (const unsigned char *)"saltsaltsaltsalt",
	                                   16, 599999, out), HDB_EINVAL);
	assert_int_equal(crypto_kdf_pbkdf2(lib, "password", 8, (const unsigned char *)"saltsaltsaltsalt",
	                                   16, 1, out), HDB_EINVAL);
	free(want);
}

/* --------------------------------------------------------------- nonces */

static int cmp12(const void *a, const void *b)
{
	return memcmp(a, b, CRYPTO_NONCE_LEN);
}

static void test_nonces_unique(void **state)
{
	(void)state;
	enum { N = 100000 };
	unsigned char (*v)[CRYPTO_NONCE_LEN] = calloc(N, CRYPTO_NONCE_LEN);
	assert_non_null(v);
	for (size_t i = 0; i < N; i++)
		assert_int_equal(crypto_nonce(lib, v[i]), HDB_OK);
	/* Consecutive draws are not overlapping windows of one stream. */
	assert_memory_not_equal(v[0] + 1, v[1], CRYPTO_NONCE_LEN - 1);
	qsort(v, N, CRYPTO_NONCE_LEN, cmp12);
	for (size_t i = 1; i < N; i++)
		assert_memory_not_equal(v[i - 1], v[i], CRYPTO_NONCE_LEN);
	free(v);
}

static void test_nonces_differ_after_fork(void **state)
{
	(void)state;
	unsigned char first[12], child[12], parent[12];
	/* Fill this thread's buffer, so plenty of buffered bytes remain. */
	assert_int_equal(crypto_nonce(lib, first), HDB_OK);
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		unsigned char n[12];
		int ok = crypto_nonce(lib, n) == HDB_OK && write(fds[1], n, 12) == 12;
		_exit(ok ? 0 : 1);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], child, 12), 12);
	close(fds[0]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(crypto_nonce(lib, parent), HDB_OK);
	/* Without fork detection the child's first nonce is the parent's next. */
	assert_memory_not_equal(child, parent, 12);
	assert_memory_not_equal(child, first, 12);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lib_default),
		cmocka_unit_test(test_fips_refused_without_provider),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_gcm_kat_tc16),
		cmocka_unit_test(test_gcm_kat_tc13_empty),
		cmocka_unit_test(test_gcm_matches_reference_many_nonces),
		cmocka_unit_test(test_gcm_parts_match_whole),
		cmocka_unit_test(test_gcm_tamper),
		cmocka_unit_test(test_hmac_rfc4231),
		cmocka_unit_test(test_prf_rfc4231_truncated),
		cmocka_unit_test(test_prf_equals_evp_mac_random),
		cmocka_unit_test(test_wrap_unwrap),
		cmocka_unit_test(test_argon2id_reference_vector),
		cmocka_unit_test(test_argon2id_floor_and_determinism),
		cmocka_unit_test(test_pbkdf2_vector_and_floor),
		cmocka_unit_test(test_nonces_unique),
		cmocka_unit_test(test_nonces_differ_after_fork),
	};
	return cmocka_run_group_tests_name("crypto", tests, setup, teardown);
}
