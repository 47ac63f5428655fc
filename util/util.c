/* util.c - buffers, hex, error names.  See util.h. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

int buf_reserve(struct buf *b, size_t extra)
{
	if (b->cap - b->len >= extra)
		return HDB_OK;
	if (extra > SIZE_MAX / 2 - b->len)
		return HDB_ENOMEM;
	size_t ncap = b->cap ? b->cap : 64;
	while (ncap - b->len < extra)
		ncap *= 2;
	/* not realloc: it may leave the old bytes (plaintext values, records)
	 * in freed memory; growth doubles, so the copy is amortised.  Data, not
	 * keys (those live in struct hdb_secret): explicit_bzero, a memset the
	 * compiler may not drop, about five times faster than OPENSSL_cleanse
	 * on large buffers */
	unsigned char *np = malloc(ncap);
	if (!np)
		return HDB_ENOMEM;
	if (b->p) {
		memcpy(np, b->p, b->len);
		explicit_bzero(b->p, b->cap);
		free(b->p);
	}
	b->p = np;
	b->cap = ncap;
	return HDB_OK;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return HDB_OK;
	int rc = buf_reserve(b, n);
	if (rc)
		return rc;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return HDB_OK;
}

int buf_putc(struct buf *b, unsigned char c)
{
	return buf_append(b, &c, 1);
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return HDB_ERROR;
	int rc = buf_reserve(b, (size_t)n + 1);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return HDB_OK;
}

int buf_put_u32be(struct buf *b, uint32_t v)
{
	unsigned char t[4];
	put_u32be(t, v);
	return buf_append(b, t, 4);
}

int buf_put_u64be(struct buf *b, uint64_t v)
{
	unsigned char t[8];
	put_u64be(t, v);
	return buf_append(b, t, 8);
}

void buf_reset(struct buf *b)
{
	b->len = 0;
}

void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void buf_free_wipe(struct buf *b)
{
	if (b->p)
		explicit_bzero(b->p, b->cap);
	buf_free(b);
}

void hex_encode(const void *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = in;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Branch-free nibble decode: returns 0..15, or a value with bit 8 set.
 * x < k for 32-bit unsigned x, k small: ((x - k) & ~x) >> 31 (the "& ~x"
 * rejects x that wrapped below zero). */
static unsigned nibble(unsigned char c)
{
	uint32_t d = (uint32_t)c - '0';
	uint32_t l = ((uint32_t)c | 0x20) - 'a';
	uint32_t is_d = ((d - 10u) & ~d) >> 31;
	uint32_t is_l = ((l - 6u) & ~l) >> 31;
	return (unsigned)((d & (0u - is_d)) | ((l + 10) & (0u - is_l)) | ((1u - (is_d | is_l)) << 8));
}

int hex_decode(const char *in, size_t inlen, unsigned char *out, size_t n)
{
	if (inlen != 2 * n)
		return HDB_EINVAL;
	unsigned bad = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned hi = nibble((unsigned char)in[2 * i]);
		unsigned lo = nibble((unsigned char)in[2 * i + 1]);
		bad |= (hi | lo) & 0x100;
		out[i] = (unsigned char)((hi << 4) | (lo & 15));
	}
	if (bad) {
		OPENSSL_cleanse(out, n);
		return HDB_EINVAL;
	}
	return HDB_OK;
}

void errf(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

char *xstrndup(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

const char *hdb_strerror(int rc)
{
	switch (rc) {
	case HDB_OK: return "success";
	case HDB_ERROR: return "internal error";
	case HDB_EINVAL: return "invalid argument";
	case HDB_ENOMEM: return "out of memory";
	case HDB_EIO: return "I/O error";
	case HDB_ECORRUPT: return "data corrupt or failed authentication";
	case HDB_EPARSE: return "parse error";
	case HDB_ECONFIG: return "invalid configuration";
	case HDB_ENOTFOUND: return "not found";
	case HDB_EEXIST: return "already exists";
	case HDB_EKEY: return "wrong encryption key";
	case HDB_EKEYSRC: return "encryption key unavailable";
	case HDB_EPERM: return "permission denied";
	case HDB_ECONSTRAINT: return "constraint violated";
	case HDB_ETXN: return "transaction state error";
	case HDB_EFULL: return "database full";
	case HDB_ECRYPTO: return "cryptographic provider error";
	case HDB_EUNSUPPORTED: return "unsupported";
	case HDB_EBUSY: return "busy";
	case HDB_EAUDIT: return "audit trail unavailable";
	case HDB_ECOMPLIANCE: return "refused by compliance profile";
	default: return "unknown error";
	}
}

void hdb_free(void *p)
{
	free(p);
}

int rename_noreplace(int fromdir, const char *from, int todir, const char *to)
{
	if (renameat2(fromdir, from, todir, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
		return -1;
	if (linkat(fromdir, from, todir, to, 0) != 0)
		return -1;
	(void)unlinkat(fromdir, from, 0);
	return 0;
}
