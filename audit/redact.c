/*
 * redact.c - literal redaction of SQL text for audit records (DESIGN
 * promise 6): values never reach a log, the shape of the statement does.
 *
 * A single forward pass of a small lexer with PostgreSQL's rules:
 *   '...'            standard string, '' is a quote; backslash is ordinary
 *   E'...'           escape string: backslash escapes anything, '' too
 *   N'...'  U&'...'  national / Unicode-escape strings (like '...')
 *   X'...'  B'...'   bit strings
 *   $$...$$ $t$...$t$ dollar quoting (a tag is an identifier without '$')
 *   123 1.5 .5 1e10 1.5E-3 0x1F 0o17 0b101 1_000   numbers, and any
 *                    identifier characters glued to them ("trailing junk",
 *                    an error in PostgreSQL 15+), so no digit of a value
 *                    is left behind
 *   -- ...           line comment: dropped (the newline stays)
 *   / * ... * /      block comment, nesting as PostgreSQL does: dropped,
 *                    replaced by one space so tokens do not fuse
 *   "..."            quoted identifier ("" inside): kept verbatim
 *   $1               positional parameter: kept
 *   identifiers, keywords, operators, whitespace: kept byte for byte
 * Operators are never merged into literals: "-5" becomes "-?".
 *
 * Every literal becomes "?", or with AUDIT_REDACT_HMAC "?<16 hex>" where
 * the hex is the start of HMAC-SHA-256(key, value) (audit_token): value is the
 * string's decoded value ('' and the escapes of E'' undone, dollar bodies
 * as they are), the number's text as written, or the bit string's digits.
 * So equal values correlate even when written differently ('it''s',
 * E'it\'s' and $$it's$$ give one token), and different values do not.
 *
 * Never fails on malformed text: an unterminated literal or comment runs to
 * the end of the text and is redacted or dropped whole.  Linear time: each
 * byte is looked at a bounded number of times (dollar-quote ends are found
 * with memmem, which is linear in glibc).
 */
#include "audit.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

static bool ident_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static bool ident_cont(unsigned char c)
{
	return ident_start(c) || (c >= '0' && c <= '9') || c == '$';
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* The state of one redaction: where output goes, and for HMAC mode the
 * key and a scratch buffer that collects the current literal's value. */
struct redactor {
	struct buf *out;
	const unsigned char *key;   /* NULL: plain "?" */
	struct buf val;
	int rc;                     /* first allocation failure */
};

static void out_bytes(struct redactor *r, const char *p, size_t n)
{
	if (r->rc == HDB_OK)
		r->rc = buf_append(r->out, p, n);
}

static void val_bytes(struct redactor *r, const char *p, size_t n)
{
	if (r->key && r->rc == HDB_OK)
		r->rc = buf_append(&r->val, p, n);
}

/* emit - writes the redacted literal whose value is in r->val */
static void emit(struct redactor *r)
{
	if (r->rc != HDB_OK)
		return;
	if (!r->key) {
		out_bytes(r, "?", 1);
		return;
	}
	char tok[18];
	r->rc = audit_token(r->key, "?", r->val.p, r->val.len, tok, sizeof(tok));
	if (r->rc == HDB_OK)
		out_bytes(r, tok, 17);
	OPENSSL_cleanse(r->val.p, r->val.len);
	buf_reset(&r->val);
}

/* std_string - '...' with '' for a quote, from the byte after the opening
 * quote; returns the index after the closing quote (or n). */
static size_t std_string(struct redactor *r, const char *q, size_t i, size_t n)
{
	while (i < n) {
		const char *e = memchr(q + i, '\'', n - i);
		size_t stop = e ? (size_t)(e - q) : n;
		val_bytes(r, q + i, stop - i);
		if (!e)
			return n;
		if (stop + 1 < n && q[stop + 1] == '\'') {
			val_bytes(r, "'", 1);
			i = stop + 2;
			continue;
		}
		return stop + 1;
	}
	return n;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void val_utf8(struct redactor *r, uint32_t cp)
{
	char u[4];
	size_t k;
	if (cp < 0x80) {
		u[0] = (char)cp;
		k = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3F));
		k = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | cp >> 12);
		u[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		k = 3;
	} else {
		u[0] = (char)(0xF0 | cp >> 18);
		u[1] = (char)(0x80 | (cp >> 12 & 0x3F));
		u[2] = (char)(0x80 | (cp >> 6 & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		k = 4;
	}
	val_bytes(r, u, k);
}

/* esc_string - E'...': backslash escapes as PostgreSQL decodes them
 * (\b \f \n \r \t, octal \o..\ooo, \xh \xhh, \uXXXX, \UXXXXXXXX, anything
 * else stands for itself), '' for a quote too. */
static size_t esc_string(struct redactor *r, const char *q, size_t i, size_t n)
{
	const unsigned char *s = (const unsigned char *)q;
	while (i < n) {
		unsigned char c = s[i];
		if (c == '\'') {
			if (i + 1 < n && s[i + 1] == '\'') {
				val_bytes(r, "'", 1);
				i += 2;
				continue;
			}
			return i + 1;
		}
		if (c != '\\') {
			val_bytes(r, q + i, 1);
			i++;
			continue;
		}
		if (++i >= n)
			return n;   /* a lone backslash at the end: unterminated */
		c = s[i++];
		char ch;
		switch (c) {
		case 'b': ch = '\b'; break;
		case 'f': ch = '\f'; break;
		case 'n': ch = '\n'; break;
		case 'r': ch = '\r'; break;
		case 't': ch = '\t'; break;
		case 'x':
			if (i < n && hexval(s[i]) >= 0) {
				int v = hexval(s[i++]);
				if (i < n && hexval(s[i]) >= 0)
					v = v * 16 + hexval(s[i++]);
				ch = (char)v;
			} else {
				ch = 'x';
			}
			break;
		case 'u':
		case 'U': {
			size_t want = c == 'u' ? 4 : 8, k = 0;
			uint32_t cp = 0;
			while (k < want && i + k < n && hexval(s[i + k]) >= 0)
				cp = cp * 16 + (uint32_t)hexval(s[i + k++]);
			if (k == want && cp <= 0x10FFFF) {
				i += k;
				val_utf8(r, cp);
				continue;
			}
			ch = (char)c;
			break;
		}
		default:
			if (c >= '0' && c <= '7') {
				int v = c - '0';
				for (int k = 0; k < 2 && i < n && s[i] >= '0' && s[i] <= '7'; k++)
					v = v * 8 + (s[i++] - '0');
				ch = (char)v;
			} else {
				ch = (char)c;
			}
		}
		val_bytes(r, &ch, 1);
	}
	return n;
}

/* number - from a digit or a '.' before a digit; returns the end */
static size_t number(const char *q, size_t i, size_t n)
{
	const unsigned char *s = (const unsigned char *)q;
	size_t j = i;
	if (s[j] == '0' && j + 1 < n && strchr("xXoObB", s[j + 1]) && s[j + 1] != '\0') {
		j += 2;
	} else {
		while (j < n && (is_digit(s[j]) || s[j] == '_'))
			j++;
		if (j < n && s[j] == '.' && !(j + 1 < n && s[j + 1] == '.')) {
			j++;
			while (j < n && (is_digit(s[j]) || s[j] == '_'))
				j++;
		}
		if (j < n && (s[j] == 'e' || s[j] == 'E')) {
			if (j + 1 < n && is_digit(s[j + 1]))
				j += 1;
			else if (j + 2 < n && (s[j + 1] == '+' || s[j + 1] == '-') && is_digit(s[j + 2]))
				j += 2;
			while (j < n && is_digit(s[j]))
				j++;
		}
	}
	/* hex/octal/binary digits, and trailing junk such as "123abc" */
	while (j < n && ident_cont(s[j]))
		j++;
	return j;
}

/* dollar_tag - if a dollar-quote opener "$tag$" starts at i, its length */
static size_t dollar_tag(const char *q, size_t i, size_t n)
{
	const unsigned char *s = (const unsigned char *)q;
	size_t j = i + 1;
	if (j < n && s[j] != '$') {
		if (!ident_start(s[j]))
			return 0;
		while (j < n && ident_cont(s[j]) && s[j] != '$')
			j++;
	}
	return j < n && s[j] == '$' ? j + 1 - i : 0;
}

int audit_redact_query(const char *q, size_t n, enum audit_redact mode, const unsigned char key[32],
                       struct buf *out)
{
	if ((!q && n) || !out || (mode != AUDIT_REDACT_LITERALS && mode != AUDIT_REDACT_HMAC) ||
	    (mode == AUDIT_REDACT_HMAC && !key))
		return HDB_EINVAL;
	struct redactor r = { .out = out, .key = mode == AUDIT_REDACT_HMAC ? key : NULL, .rc = HDB_OK };
	size_t start_len = out->len;
	int rc = buf_reserve(out, n + 1);
	if (rc)
		return rc;
	const unsigned char *s = (const unsigned char *)q;
	size_t i = 0;
	while (i < n && r.rc == HDB_OK) {
		unsigned char c = s[i];
		unsigned char c1 = i + 1 < n ? s[i + 1] : 0;
		unsigned char c2 = i + 2 < n ? s[i + 2] : 0;
		unsigned char lc = c | 0x20;
		if (c == '\'' || ((lc == 'n') && c1 == '\'')) {          /* '...', N'...' */
			i = std_string(&r, q, i + (c == '\'' ? 1 : 2), n);
			emit(&r);
		} else if (lc == 'e' && c1 == '\'') {                    /* E'...' */
			i = esc_string(&r, q, i + 2, n);
			emit(&r);
		} else if (lc == 'u' && c1 == '&' && c2 == '\'') {       /* U&'...' */
			i = std_string(&r, q, i + 3, n);
			emit(&r);
		} else if ((lc == 'x' || lc == 'b') && c1 == '\'') {     /* X'..', B'..' */
			const char *e = memchr(q + i + 2, '\'', n - i - 2);
			size_t stop = e ? (size_t)(e - q) : n;
			val_bytes(&r, q + i + 2, stop - i - 2);
			i = e ? stop + 1 : n;
			emit(&r);
		} else if (c == '"' || (lc == 'u' && c1 == '&' && c2 == '"')) { /* "ident" */
			size_t j = i + (c == '"' ? 1 : 3);
			for (;;) {
				const char *e = memchr(q + j, '"', n - j);
				if (!e) {
					j = n;
					break;
				}
				j = (size_t)(e - q) + 1;
				if (j < n && s[j] == '"') {
					j++;
					continue;
				}
				break;
			}
			out_bytes(&r, q + i, j - i);
			i = j;
		} else if (ident_start(c)) {                             /* keyword, name */
			size_t j = i + 1;
			while (j < n && ident_cont(s[j]))
				j++;
			out_bytes(&r, q + i, j - i);
			i = j;
		} else if (is_digit(c) || (c == '.' && is_digit(c1))) {  /* number */
			size_t j = number(q, i, n);
			val_bytes(&r, q + i, j - i);
			emit(&r);
			i = j;
		} else if (c == '$' && is_digit(c1)) {                   /* $1 */
			size_t j = i + 1;
			while (j < n && is_digit(s[j]))
				j++;
			out_bytes(&r, q + i, j - i);
			i = j;
		} else if (c == '$' && dollar_tag(q, i, n)) {            /* $tag$...$tag$ */
			size_t tl = dollar_tag(q, i, n);
			const char *e = memmem(q + i + tl, n - i - tl, q + i, tl);
			size_t stop = e ? (size_t)(e - q) : n;
			val_bytes(&r, q + i + tl, stop - i - tl);
			emit(&r);
			i = e ? stop + tl : n;
		} else if (c == '-' && c1 == '-') {                      /* -- comment */
			const char *e = memchr(q + i, '\n', n - i);
			i = e ? (size_t)(e - q) : n;
		} else if (c == '/' && c1 == '*') {                      /* nested block comment */
			size_t depth = 1, j = i + 2;
			while (j < n && depth) {
				if (s[j] == '/' && j + 1 < n && s[j + 1] == '*') {
					depth++;
					j += 2;
				} else if (s[j] == '*' && j + 1 < n && s[j + 1] == '/') {
					depth--;
					j += 2;
				} else {
					j++;
				}
			}
			if (out->len > start_len && !is_space(out->p[out->len - 1]) && j < n && !is_space(s[j]))
				out_bytes(&r, " ", 1);
			i = j;
		} else {                                                 /* operator, space */
			out_bytes(&r, q + i, 1);
			i++;
		}
	}
	buf_free_wipe(&r.val);
	if (r.rc != HDB_OK)
		out->len = start_len;
	return r.rc;
}
