/*
 * jscan.c - a strict RFC 8259 scanner for one record line.
 *
 * audit-verify and the reporter read every line of a log that can hold
 * millions: building a json-c object per line (an allocation per member)
 * costs more than the line's SHA-256.  This scanner validates the line as
 * one JSON object and points at the values of the members the caller asks
 * for, in place: no allocation, no recursion deeper than SCAN_MAX_DEPTH.
 * Only what needs decoding (a string with escapes, a detail object) goes
 * to json-c, by the caller.
 *
 * Each scan_* returns the position after what it scanned, or NULL.
 */
#include <stdint.h>
#include <string.h>

#include "audit.h"

#define SCAN_MAX_DEPTH 64

/* 1 for bytes that may appear unescaped in a string and are not '"' or '\\' */
#define PL(c) ((c) >= 0x20 && (c) != '"' && (c) != '\\')
#define PL4(b) PL(b), PL((b) + 1), PL((b) + 2), PL((b) + 3)
#define PL16(b) PL4(b), PL4((b) + 4), PL4((b) + 8), PL4((b) + 12)
#define PL64(b) PL16(b), PL16((b) + 16), PL16((b) + 32), PL16((b) + 48)
static const unsigned char plain[256] = { PL64(0), PL64(64), PL64(128), PL64(192) };

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p;
}

static bool is_hexc(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* stop8 - nonzero when one of the 8 bytes in w is '"', '\\' or below 0x20
 * (a byte whose high bit is set never counts): the high bit of each such
 * byte.  A borrow only runs on from a byte that itself matched, so the
 * lowest bit set marks the first of them exactly. */
static inline uint64_t stop8(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
	uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
	return ((w - ones * 0x20) | (q - ones) | (b - ones)) & ~w & high;
}

/* scan_string - p at the opening quote; *esc set when it has escapes. */
static const char *scan_string(const char *p, const char *end, bool *esc)
{
	p++;
	for (;;) {
		/* to the next byte that is not plain: eight at a time while eight
		 * remain (on a little-endian machine the first byte is the low
		 * one), then byte by byte */
		for (;;) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			if (end - p >= 8) {
				uint64_t w, m;
				memcpy(&w, p, 8);
				if (!(m = stop8(w))) {
					p += 8;
					continue;
				}
				p += __builtin_ctzll(m) >> 3;
				break;
			}
#endif
			while (p < end && plain[(unsigned char)*p])
				p++;
			if (p >= end)
				return NULL;
			break;
		}
		if (*p == '"')
			return p + 1;
		if (*p != '\\')
			return NULL; /* a control character */
		*esc = true;
		if (++p >= end)
			return NULL;
		switch (*p) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
			p++;
			break;
		case 'u':
			if (end - p < 5 || !is_hexc(p[1]) || !is_hexc(p[2]) || !is_hexc(p[3]) || !is_hexc(p[4]))
				return NULL;
			p += 5;
			break;
		default:
			return NULL;
		}
	}
}

static const char *scan_digits(const char *p, const char *end)
{
	const char *s = p;
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	return p == s ? NULL : p;
}

static const char *scan_number(const char *p, const char *end)
{
	if (*p == '-')
		p++;
	if (p >= end)
		return NULL;
	if (*p == '0')
		p++;
	else if (!(p = scan_digits(p, end)))
		return NULL;
	if (p < end && *p == '.' && !(p = scan_digits(p + 1, end)))
		return NULL;
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (!(p = scan_digits(p, end)))
			return NULL;
	}
	return p;
}

static const char *scan_lit(const char *p, const char *end, const char *lit, size_t n)
{
	return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0 ? p + n : NULL;
}

static const char *scan_value(const char *p, const char *end, int depth, char *ret_type, bool *esc);

static const char *scan_container(const char *p, const char *end, int depth)
{
	bool obj = *p == '{', e;
	char t;
	if (depth >= SCAN_MAX_DEPTH)
		return NULL;
	p = skip_ws(p + 1, end);
	if (p < end && *p == (obj ? '}' : ']'))
		return p + 1;
	for (;;) {
		if (obj) {
			if (p >= end || *p != '"' || !(p = scan_string(p, end, &e)))
				return NULL;
			p = skip_ws(p, end);
			if (p >= end || *p != ':')
				return NULL;
			p = skip_ws(p + 1, end);
		}
		if (!(p = scan_value(p, end, depth + 1, &t, &e)))
			return NULL;
		p = skip_ws(p, end);
		if (p >= end)
			return NULL;
		if (*p == (obj ? '}' : ']'))
			return p + 1;
		if (*p != ',')
			return NULL;
		p = skip_ws(p + 1, end);
	}
}

static const char *scan_value(const char *p, const char *end, int depth, char *ret_type, bool *esc)
{
	if (p >= end)
		return NULL;
	*ret_type = *p;
	switch (*p) {
	case '"': return scan_string(p, end, esc);
	case '{': case '[': return scan_container(p, end, depth);
	case 't': return scan_lit(p, end, "true", 4);
	case 'f': return scan_lit(p, end, "false", 5);
	case 'n': return scan_lit(p, end, "null", 4);
	default:
		*ret_type = '0';
		return (*p == '-' || (*p >= '0' && *p <= '9')) ? scan_number(p, end) : NULL;
	}
}

const char *audit_jscan(const char *line, size_t len, audit_jindex_fn want, struct audit_jval *m, size_t nm,
                        size_t *ret_col)
{
	const char *p = line, *end = line + len, *why = NULL;
	memset(m, 0, sizeof(*m) * nm);
	p = skip_ws(p, end);
	if (p >= end || *p != '{') {
		why = "not a JSON object";
		goto out;
	}
	p = skip_ws(p + 1, end);
	if (p < end && *p == '}') {
		why = "an empty object";
		goto out;
	}
	for (;;) {
		bool kesc = false, vesc = false;
		char t;
		if (p >= end || *p != '"') {
			why = "expected a member name";
			goto out;
		}
		const char *k = p + 1, *kend = scan_string(p, end, &kesc);
		if (!kend) {
			why = "bad string";
			goto out;
		}
		if (kesc) {
			/* records never escape a name; one that does could decode
			 * to a wanted name and hide it from this scan */
			why = "escaped member name";
			goto out;
		}
		int idx = want(k, (size_t)(kend - 1 - k));
		if (idx >= (int)nm)
			idx = -1;
		p = skip_ws(kend, end);
		if (p >= end || *p != ':') {
			why = "expected ':'";
			goto out;
		}
		p = skip_ws(p + 1, end);
		const char *v = p;
		if (!(p = scan_value(p, end, 1, &t, &vesc))) {
			why = "bad value";
			p = v;
			goto out;
		}
		if (idx >= 0) {
			if (m[idx].v) {
				why = "duplicate member";
				goto out;
			}
			m[idx].v = v;
			m[idx].len = (size_t)(p - v);
			m[idx].type = t;
			m[idx].esc = vesc;
		}
		p = skip_ws(p, end);
		if (p < end && *p == '}') {
			p = skip_ws(p + 1, end);
			if (p != end)
				why = "text after the object";
			goto out;
		}
		if (p >= end || *p != ',') {
			why = "expected ',' or '}'";
			goto out;
		}
		p = skip_ws(p + 1, end);
	}
out:
	*ret_col = (size_t)(p - line) + 1;
	return why;
}


bool audit_jint(const struct audit_jval *m, int64_t *ret)
{
	if (!m->v || m->type != '0' || m->len == 0 || m->len > 20)
		return false;
	const char *p = m->v, *end = m->v + m->len;
	bool neg = *p == '-';
	if (neg)
		p++;
	if (p == end)
		return false;
	uint64_t v = 0, max = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9')
			return false;   /* a fraction or an exponent */
		unsigned d = (unsigned)(*p - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*ret = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}
