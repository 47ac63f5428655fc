/*
 * toml.c - a strict TOML 1.0 parser.  See toml.h for the API.
 *
 * The input is untrusted (config files, fuzzers), so the parser is written
 * around a few invariants:
 *
 *  1. Every byte is read through peek()/adv() with an explicit bounds check;
 *     the text need not be NUL-terminated and a NUL byte is simply an error.
 *  2. Before parsing, one pass (check_encoding) rejects invalid UTF-8 and
 *     every control character except tab, LF and CR-LF.  TOML forbids the
 *     others everywhere (in strings, comments and between tokens), so the
 *     lexer afterwards may assume that a CR is always followed by an LF.
 *  3. Recursion (arrays, inline tables) and tree depth (headers, dotted keys)
 *     are bounded by MAX_DEPTH, so a hostile file cannot exhaust the stack
 *     here, in toml_free() or in the JSON encoder.
 *  4. Tables remember how they came to exist, because TOML's rules for
 *     re-opening a table depend on it:
 *        implicit  created as a parent by a [a.b] header: may later be
 *                  defined once by its own [a] header;
 *        defined   named by a [header] (or [[header]] element): never again;
 *        dotted    created by a dotted key (a.b = 1): a [header] may not
 *                  name it, but headers may name tables below it;
 *        braces    written inline ({ ... }): sealed, nothing may add to it.
 *     Dotted keys may descend into implicit and dotted tables only.
 *  5. On any error the partially built tree is freed; *ret_root is set only
 *     on success.
 *
 * Columns count Unicode scalar values (not bytes) from 1; a tab counts 1.
 */
#include "toml.h"
#include "util.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Deep enough for any real config, shallow enough that recursion in the
 * parser, toml_free() and the encoder stays a few tens of KiB of stack. */
#define MAX_DEPTH 128

struct tkv {
	char *key;           /* NUL-terminated; may contain NUL (from \u0000) */
	size_t klen;
	unsigned line, col;  /* where the key was written */
	struct toml_value *val;
};

struct toml_value {
	enum toml_type type;
	unsigned line, col;
	unsigned depth;      /* root is 0; bounded by MAX_DEPTH */
	bool defined;        /* table: named by a [header] */
	bool dotted;         /* table: created by a dotted key */
	bool braces;         /* table: written as { ... } (sealed) */
	bool in_inline;      /* table: written as, or inside, { ... } */
	bool aot;            /* array: created by [[header]] */
	union {
		struct { char *s; size_t len; } str;   /* strings and date-times */
		int64_t i;
		double f;
		bool b;
		struct { struct toml_value **v; size_t len, cap; } arr;
		struct {
			struct tkv *kv;
			size_t len, cap;
			uint32_t *idx;   /* open-addressing index (kv index + 1), or NULL */
			size_t icap;     /* power of two */
		} tab;
	} u;
};

struct parser {
	const unsigned char *p;
	size_t len, pos;
	unsigned line, col;
	const char *filename;
	char *err;
	size_t errlen;
	bool failed;         /* an error message has been written */
	int in_inline;       /* > 0 while inside { ... } */
	struct toml_value *root;
	struct toml_value *cur;  /* table that key/values go into */
};

struct keypart {
	char *s;
	size_t len;
	unsigned line, col;
};

struct key {
	struct keypart *parts;
	size_t n, cap;
};

/* ---- errors ------------------------------------------------------------ */

static int perr_at(struct parser *ps, unsigned line, unsigned col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* perr_at - records the first error as "FILE:LINE:COL: message" and returns
 * HDB_EPARSE.  Later errors (while unwinding) do not overwrite it. */
static int perr_at(struct parser *ps, unsigned line, unsigned col, const char *fmt, ...)
{
	if (ps->failed)
		return HDB_EPARSE;
	ps->failed = true;
	if (!ps->err || ps->errlen == 0)
		return HDB_EPARSE;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	errf(ps->err, ps->errlen, "%s:%u:%u: %s", ps->filename, line, col, msg);
	return HDB_EPARSE;
}

static int enomem(struct parser *ps)
{
	if (!ps->failed) {
		ps->failed = true;
		errf(ps->err, ps->errlen, "%s:%u:%u: out of memory", ps->filename, ps->line, ps->col);
	}
	return HDB_ENOMEM;
}

/* ---- low-level reading ------------------------------------------------- */

static int peek(const struct parser *ps)
{
	return ps->pos < ps->len ? ps->p[ps->pos] : -1;
}

static int peek_at(const struct parser *ps, size_t off)
{
	return off < ps->len - ps->pos ? ps->p[ps->pos + off] : -1;
}

static bool at_eof(const struct parser *ps)
{
	return ps->pos >= ps->len;
}

/* adv - consumes one byte, keeping line and column (in code points). */
static void adv(struct parser *ps)
{
	if (ps->pos >= ps->len)
		return;
	unsigned char c = ps->p[ps->pos++];
	if (c == '\n') {
		ps->line++;
		ps->col = 1;
	} else if ((c & 0xC0) != 0x80) {
		ps->col++;
	}
}

static void adv_n(struct parser *ps, size_t n)
{
	while (n--)
		adv(ps);
}

static bool is_newline(int c)
{
	/* a CR is always followed by LF (check_encoding guarantees it) */
	return c == '\n' || c == '\r';
}

static void skip_newline(struct parser *ps)
{
	if (peek(ps) == '\r')
		adv(ps);
	if (peek(ps) == '\n')
		adv(ps);
}

static void skip_ws(struct parser *ps)
{
	while (peek(ps) == ' ' || peek(ps) == '\t')
		adv(ps);
}

static void skip_comment(struct parser *ps)
{
	while (!at_eof(ps) && !is_newline(peek(ps)))
		adv(ps);
}

/* skip_ws_nl - whitespace, newlines and comments (inside arrays). */
static void skip_ws_nl(struct parser *ps)
{
	for (;;) {
		skip_ws(ps);
		int c = peek(ps);
		if (c == '#')
			skip_comment(ps);
		else if (is_newline(c))
			skip_newline(ps);
		else
			return;
	}
}

/* decode_utf8 - decodes one already-validated sequence; returns its length. */
static size_t decode_utf8(const unsigned char *s, size_t n, uint32_t *ret_cp)
{
	unsigned char c = s[0];
	size_t need = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
	if (need > n) {
		*ret_cp = 0xFFFD;
		return 1;
	}
	uint32_t cp = need == 1 ? c : need == 2 ? (c & 0x1Fu) : need == 3 ? (c & 0x0Fu) : (c & 0x07u);
	for (size_t i = 1; i < need; i++)
		cp = (cp << 6) | (s[i] & 0x3Fu);
	*ret_cp = cp;
	return need;
}

/* describe - names the character at the cursor for "found ..." messages. */
static const char *describe(const struct parser *ps, char *out, size_t n)
{
	int c = peek(ps);
	if (c < 0)
		return "end of file";
	if (is_newline(c))
		return "end of line";
	if (c == ' ')
		return "a space";
	if (c == '\t')
		return "a tab";
	if (c == '\'')
		return "\"'\"";
	if (c >= 0x21 && c < 0x7F) {
		snprintf(out, n, "'%c'", c);
		return out;
	}
	uint32_t cp;
	decode_utf8(ps->p + ps->pos, ps->len - ps->pos, &cp);
	snprintf(out, n, "U+%04X", (unsigned)cp);
	return out;
}

/* printable - copies s into out for a one-line message: printable ASCII and
 * UTF-8 pass, control bytes become \xNN, long text is cut with "...". */
static void printable(const char *s, size_t n, char *out, size_t outlen)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (o + 8 >= outlen) {
			/* do not cut a UTF-8 sequence in half */
			while (o > 0 && ((unsigned char)out[o - 1] & 0xC0) == 0x80)
				o--;
			if (o > 0 && (unsigned char)out[o - 1] >= 0xC0)
				o--;
			if (o + 4 <= outlen) {
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (c < 0x20 || c == 0x7F || c == '\\') {
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02X", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}

/* keypath - "a.b.c" for parts [0, n) of a key, for messages. */
static void keypath(const struct key *k, size_t n, char *out, size_t outlen)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n && o + 1 < outlen; i++) {
		if (i > 0)
			out[o++] = '.';
		printable(k->parts[i].s, k->parts[i].len, out + o, outlen - o);
		o += strlen(out + o);
	}
	out[o < outlen ? o : outlen - 1] = '\0';
}

/* ---- encoding pre-pass ------------------------------------------------- */

/* check_encoding - rejects invalid UTF-8 (overlong forms, surrogates, code
 * points above U+10FFFF, truncated sequences), NUL and every control
 * character except tab, LF and CR followed by LF. */
static int check_encoding(struct parser *ps)
{
	const unsigned char *s = ps->p;
	size_t n = ps->len;
	unsigned line = 1, col = 1;
	size_t i = 0;
	while (i < n) {
		unsigned char c = s[i];
		if (c < 0x80) {
			if (c == '\n') {
				line++;
				col = 1;
				i++;
				continue;
			}
			if (c == '\r' && (i + 1 >= n || s[i + 1] != '\n'))
				return perr_at(ps, line, col, "carriage return not followed by line feed");
			if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7F)
				return perr_at(ps, line, col, "control character U+%04X is not allowed", c);
			i++;
			col++;
			continue;
		}
		size_t need;
		unsigned char lo = 0x80, hi = 0xBF;   /* allowed range of the 2nd byte */
		if (c >= 0xC2 && c <= 0xDF) {
			need = 2;
		} else if (c >= 0xE0 && c <= 0xEF) {
			need = 3;
			if (c == 0xE0)
				lo = 0xA0;              /* overlong */
			else if (c == 0xED)
				hi = 0x9F;              /* surrogates */
		} else if (c >= 0xF0 && c <= 0xF4) {
			need = 4;
			if (c == 0xF0)
				lo = 0x90;              /* overlong */
			else if (c == 0xF4)
				hi = 0x8F;              /* above U+10FFFF */
		} else {
			return perr_at(ps, line, col, "invalid UTF-8 byte 0x%02X", c);
		}
		if (n - i < need)
			return perr_at(ps, line, col, "truncated UTF-8 sequence");
		if (s[i + 1] < lo || s[i + 1] > hi)
			return perr_at(ps, line, col, "invalid UTF-8 sequence");
		for (size_t j = 2; j < need; j++)
			if ((s[i + j] & 0xC0) != 0x80)
				return perr_at(ps, line, col, "invalid UTF-8 sequence");
		i += need;
		col++;
	}
	return HDB_OK;
}

/* ---- tree -------------------------------------------------------------- */

static struct toml_value *new_value(enum toml_type type, unsigned line, unsigned col, unsigned depth)
{
	struct toml_value *v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->type = type;
	v->line = line;
	v->col = col;
	v->depth = depth;
	return v;
}

void toml_free(struct toml_value *v)
{
	if (!v)
		return;
	switch (v->type) {
	case TOML_STRING:
	case TOML_DATETIME:
	case TOML_DATETIME_LOCAL:
	case TOML_DATE_LOCAL:
	case TOML_TIME_LOCAL:
		free(v->u.str.s);
		break;
	case TOML_ARRAY:
		for (size_t i = 0; i < v->u.arr.len; i++)
			toml_free(v->u.arr.v[i]);
		free(v->u.arr.v);
		break;
	case TOML_TABLE:
		for (size_t i = 0; i < v->u.tab.len; i++) {
			free(v->u.tab.kv[i].key);
			toml_free(v->u.tab.kv[i].val);
		}
		free(v->u.tab.kv);
		free(v->u.tab.idx);
		break;
	default:
		break;
	}
	free(v);
}

static uint64_t hash_key(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;   /* FNV-1a */
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

#define NOT_FOUND SIZE_MAX

static size_t tab_find(const struct toml_value *t, const char *k, size_t n)
{
	const struct tkv *kv = t->u.tab.kv;
	if (t->u.tab.idx) {
		size_t mask = t->u.tab.icap - 1;
		for (size_t h = (size_t)hash_key(k, n) & mask; t->u.tab.idx[h]; h = (h + 1) & mask) {
			size_t i = t->u.tab.idx[h] - 1;
			if (kv[i].klen == n && memcmp(kv[i].key, k, n) == 0)
				return i;
		}
		return NOT_FOUND;
	}
	for (size_t i = 0; i < t->u.tab.len; i++)
		if (kv[i].klen == n && memcmp(kv[i].key, k, n) == 0)
			return i;
	return NOT_FOUND;
}

static void idx_put(struct toml_value *t, size_t i)
{
	size_t mask = t->u.tab.icap - 1;
	size_t h = (size_t)hash_key(t->u.tab.kv[i].key, t->u.tab.kv[i].klen) & mask;
	while (t->u.tab.idx[h])
		h = (h + 1) & mask;
	t->u.tab.idx[h] = (uint32_t)(i + 1);
}

/* Linear search is fine for small tables; a hash index keeps a table with
 * many keys from making the parse quadratic. */
#define INDEX_MIN 16

/* tab_insert - appends key -> val.  Takes ownership of key and val, freeing
 * them on failure.  The caller has checked that key is not present. */
static int tab_insert(struct toml_value *t, char *key, size_t klen, unsigned line, unsigned col,
                      struct toml_value *val)
{
	if (t->u.tab.len >= UINT32_MAX - 1)
		goto out_nomem;
	if (t->u.tab.len == t->u.tab.cap) {
		size_t ncap = t->u.tab.cap ? t->u.tab.cap * 2 : 4;
		struct tkv *nkv = reallocarray(t->u.tab.kv, ncap, sizeof(*nkv));
		if (!nkv)
			goto out_nomem;
		t->u.tab.kv = nkv;
		t->u.tab.cap = ncap;
	}
	size_t i = t->u.tab.len;
	if (i + 1 >= INDEX_MIN && (i + 1) * 2 > t->u.tab.icap) {
		size_t ncap = t->u.tab.icap ? t->u.tab.icap * 2 : 64;
		while ((i + 1) * 2 > ncap)
			ncap *= 2;
		uint32_t *nidx = calloc(ncap, sizeof(*nidx));
		if (!nidx)
			goto out_nomem;
		free(t->u.tab.idx);
		t->u.tab.idx = nidx;
		t->u.tab.icap = ncap;
		for (size_t j = 0; j < i; j++)
			idx_put(t, j);
	}
	t->u.tab.kv[i] = (struct tkv){ .key = key, .klen = klen, .line = line, .col = col, .val = val };
	t->u.tab.len++;
	if (t->u.tab.idx)
		idx_put(t, i);
	return HDB_OK;

out_nomem:
	free(key);
	toml_free(val);
	return HDB_ENOMEM;
}

static int arr_push(struct toml_value *a, struct toml_value *v)
{
	if (a->u.arr.len == a->u.arr.cap) {
		size_t ncap = a->u.arr.cap ? a->u.arr.cap * 2 : 4;
		struct toml_value **nv = reallocarray(a->u.arr.v, ncap, sizeof(*nv));
		if (!nv) {
			toml_free(v);
			return HDB_ENOMEM;
		}
		a->u.arr.v = nv;
		a->u.arr.cap = ncap;
	}
	a->u.arr.v[a->u.arr.len++] = v;
	return HDB_OK;
}

static const char *type_name(enum toml_type t)
{
	switch (t) {
	case TOML_STRING: return "a string";
	case TOML_INTEGER: return "an integer";
	case TOML_FLOAT: return "a float";
	case TOML_BOOL: return "a boolean";
	case TOML_DATETIME:
	case TOML_DATETIME_LOCAL:
	case TOML_DATE_LOCAL:
	case TOML_TIME_LOCAL: return "a date-time";
	case TOML_ARRAY: return "an array";
	case TOML_TABLE: return "a table";
	}
	return "a value";
}

/* ---- strings ----------------------------------------------------------- */

static bool is_hex(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static unsigned hex_val(int c)
{
	return c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
}

static int put_utf8(struct buf *b, uint32_t cp)
{
	unsigned char t[4];
	size_t n;
	if (cp < 0x80) {
		t[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		t[0] = (unsigned char)(0xC0 | (cp >> 6));
		t[1] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		t[0] = (unsigned char)(0xE0 | (cp >> 12));
		t[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		t[2] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		t[0] = (unsigned char)(0xF0 | (cp >> 18));
		t[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
		t[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		t[3] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	return buf_append(b, t, n);
}

/* parse_escape - the cursor is on a backslash inside a basic string. */
static int parse_escape(struct parser *ps, struct buf *b, bool ml)
{
	unsigned line = ps->line, col = ps->col;
	adv(ps);   /* the backslash */
	int c = peek(ps);
	unsigned char out;
	switch (c) {
	case 'b': out = '\b'; break;
	case 't': out = '\t'; break;
	case 'n': out = '\n'; break;
	case 'f': out = '\f'; break;
	case 'r': out = '\r'; break;
	case '"': out = '"'; break;
	case '\\': out = '\\'; break;
	case 'u':
	case 'U': {
		size_t ndig = c == 'u' ? 4 : 8;
		adv(ps);
		uint32_t cp = 0;
		for (size_t i = 0; i < ndig; i++) {
			if (!is_hex(peek(ps))) {
				char d[16];
				return perr_at(ps, ps->line, ps->col,
				               "expected %zu hex digits after '\\%c', found %s",
				               ndig, c, describe(ps, d, sizeof(d)));
			}
			cp = (cp << 4) | hex_val(peek(ps));
			adv(ps);
		}
		if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return perr_at(ps, line, col, "escape '\\%c' names U+%04X, which is not a Unicode scalar value",
			               c, (unsigned)cp);
		return put_utf8(b, cp) ? enomem(ps) : HDB_OK;
	}
	default:
		if (ml && (c == ' ' || c == '\t' || is_newline(c))) {
			/* line-ending backslash: only whitespace may follow it on its line;
			 * then all whitespace and newlines up to the next text vanish */
			while (peek(ps) == ' ' || peek(ps) == '\t')
				adv(ps);
			if (!is_newline(peek(ps)))
				return perr_at(ps, line, col, "a line-ending backslash must be followed only by whitespace");
			while (peek(ps) == ' ' || peek(ps) == '\t' || is_newline(peek(ps)))
				adv(ps);
			return HDB_OK;
		}
		if (c < 0 || is_newline(c))
			return perr_at(ps, line, col, "unterminated escape sequence");
		{
			char d[16];
			return perr_at(ps, line, col, "invalid escape sequence '\\' followed by %s",
			               describe(ps, d, sizeof(d)));
		}
	}
	adv(ps);
	return buf_putc(b, out) ? enomem(ps) : HDB_OK;
}

/* parse_string - the cursor is on ' or ".  Decodes a basic or literal,
 * single- or multi-line string into b (which the caller frees). */
static int parse_string(struct parser *ps, struct buf *b, bool allow_ml)
{
	unsigned line = ps->line, col = ps->col;
	int q = peek(ps);
	bool ml = peek_at(ps, 1) == q && peek_at(ps, 2) == q;
	bool basic = q == '"';
	if (ml && !allow_ml)
		return perr_at(ps, line, col, "a multi-line string cannot be used as a key");
	adv_n(ps, ml ? 3 : 1);
	if (ml && is_newline(peek(ps)))
		skip_newline(ps);   /* a newline right after the opening quotes is trimmed */
	for (;;) {
		int c = peek(ps);
		if (c < 0)
			return perr_at(ps, line, col, "unterminated string");
		if (c == q) {
			if (!ml) {
				adv(ps);
				return HDB_OK;
			}
			size_t run = 0;
			while (peek_at(ps, run) == q)
				run++;
			if (run >= 3) {
				/* up to two quotes may sit right before the closing three */
				if (run > 5)
					return perr_at(ps, ps->line, ps->col + 5,
					               "too many quotes at the end of a multi-line string");
				if (buf_append(b, ps->p + ps->pos, run - 3))
					return enomem(ps);
				adv_n(ps, run);
				return HDB_OK;
			}
			if (buf_append(b, ps->p + ps->pos, run))
				return enomem(ps);
			adv_n(ps, run);
			continue;
		}
		if (basic && c == '\\') {
			int rc = parse_escape(ps, b, ml);
			if (rc)
				return rc;
			continue;
		}
		if (is_newline(c)) {
			if (!ml)
				return perr_at(ps, line, col, "unterminated string (newline before the closing quote)");
			/* the spec lets parsers normalise newlines; CR-LF becomes LF so
			 * a value does not depend on how the file was saved */
			skip_newline(ps);
			if (buf_putc(b, '\n'))
				return enomem(ps);
			continue;
		}
		/* check_encoding already rejected other control characters */
		if (buf_putc(b, (unsigned char)c))
			return enomem(ps);
		adv(ps);
	}
}

/* ---- keys -------------------------------------------------------------- */

static bool is_bare(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

static void key_free(struct key *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->parts[i].s);
	free(k->parts);
	k->parts = NULL;
	k->n = k->cap = 0;
}

/* parse_key - simple-key *( ws '.' ws simple-key ).  Leaves the cursor after
 * the last part (no trailing whitespace consumed). */
static int parse_key(struct parser *ps, struct key *k)
{
	for (;;) {
		struct keypart kp = { .line = ps->line, .col = ps->col };
		int c = peek(ps);
		if (k->n >= MAX_DEPTH)
			return perr_at(ps, ps->line, ps->col, "key has more than %d parts", MAX_DEPTH);
		if (is_bare(c)) {
			size_t start = ps->pos;
			while (is_bare(peek(ps)))
				adv(ps);
			kp.s = xstrndup((const char *)ps->p + start, ps->pos - start);
			if (!kp.s)
				return enomem(ps);
			kp.len = ps->pos - start;
		} else if (c == '"' || c == '\'') {
			struct buf b = { 0 };
			int rc = parse_string(ps, &b, false);
			if (rc == HDB_OK && buf_putc(&b, 0))
				rc = enomem(ps);
			if (rc) {
				buf_free(&b);
				return rc;
			}
			kp.s = (char *)b.p;
			kp.len = b.len - 1;
		} else {
			char d[16];
			return perr_at(ps, ps->line, ps->col, "expected a key, found %s",
			               describe(ps, d, sizeof(d)));
		}
		if (k->n == k->cap) {
			size_t ncap = k->cap ? k->cap * 2 : 4;
			struct keypart *np = reallocarray(k->parts, ncap, sizeof(*np));
			if (!np) {
				free(kp.s);
				return enomem(ps);
			}
			k->parts = np;
			k->cap = ncap;
		}
		k->parts[k->n++] = kp;
		/* a dot may be surrounded by whitespace; whitespace alone ends the key */
		size_t save_pos = ps->pos;
		unsigned save_line = ps->line, save_col = ps->col;
		skip_ws(ps);
		if (peek(ps) != '.') {
			ps->pos = save_pos;
			ps->line = save_line;
			ps->col = save_col;
			return HDB_OK;
		}
		adv(ps);
		skip_ws(ps);
	}
}

/* ---- numbers and date-times -------------------------------------------- */

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* digits_ok - s[0..n) is one or more digits of the given base, with single
 * underscores allowed only between two digits. */
static bool digits_ok(const char *s, size_t n, unsigned base)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '_') {
			if (i == 0 || i + 1 == n || s[i + 1] == '_')
				return false;
			continue;
		}
		if (!is_hex(c) || hex_val(c) >= base)
			return false;
	}
	return true;
}

/* to_int - converts validated digits (underscores skipped); false if the
 * magnitude exceeds limit. */
static bool to_int(const char *s, size_t n, unsigned base, uint64_t limit, uint64_t *ret)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '_')
			continue;
		uint64_t d = hex_val((unsigned char)s[i]);
		if (v > (limit - d) / base)
			return false;
		v = v * base + d;
	}
	*ret = v;
	return true;
}

static bool is_num_char(int c)
{
	return is_bare(c) || c == '.' || c == '+';
}

/* parse_number - integers (decimal, 0x, 0o, 0b) and floats (incl. inf/nan). */
static int parse_number(struct parser *ps, unsigned depth, struct toml_value **ret)
{
	unsigned line = ps->line, col = ps->col;
	size_t start = ps->pos;
	while (is_num_char(peek(ps)))
		adv(ps);
	const char *tok = (const char *)ps->p + start;
	size_t n = ps->pos - start;
	char shown[64];
	printable(tok, n, shown, sizeof(shown));

	const char *s = tok;
	size_t sn = n;
	bool neg = false, sign = false;
	if (sn > 0 && (s[0] == '+' || s[0] == '-')) {
		sign = true;
		neg = s[0] == '-';
		s++;
		sn--;
	}

	if (sn == 3 && (memcmp(s, "inf", 3) == 0 || memcmp(s, "nan", 3) == 0)) {
		struct toml_value *v = new_value(TOML_FLOAT, line, col, depth);
		if (!v)
			return enomem(ps);
		v->u.f = s[0] == 'i' ? (neg ? -INFINITY : INFINITY) : (neg ? -NAN : NAN);
		*ret = v;
		return HDB_OK;
	}

	if (sn > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o' || s[1] == 'b')) {
		unsigned base = s[1] == 'x' ? 16 : s[1] == 'o' ? 8 : 2;
		if (sign)
			return perr_at(ps, line, col, "a sign is not allowed on a %s integer '%s'",
			               base == 16 ? "hexadecimal" : base == 8 ? "octal" : "binary", shown);
		if (!digits_ok(s + 2, sn - 2, base))
			return perr_at(ps, line, col, "invalid %s integer '%s'",
			               base == 16 ? "hexadecimal" : base == 8 ? "octal" : "binary", shown);
		uint64_t u;
		if (!to_int(s + 2, sn - 2, base, INT64_MAX, &u))
			return perr_at(ps, line, col, "integer '%s' does not fit in 64 bits", shown);
		struct toml_value *v = new_value(TOML_INTEGER, line, col, depth);
		if (!v)
			return enomem(ps);
		v->u.i = (int64_t)u;
		*ret = v;
		return HDB_OK;
	}

	if (sn == 0 || !is_digit((unsigned char)s[0]))
		return perr_at(ps, line, col, "invalid value '%s'", shown);

	/* decimal: split into integer part, optional fraction, optional exponent */
	size_t ip = 0;
	while (ip < sn && s[ip] != '.' && s[ip] != 'e' && s[ip] != 'E')
		ip++;
	if (!digits_ok(s, ip, 10))
		return perr_at(ps, line, col, "invalid number '%s'", shown);
	if (ip > 1 && s[0] == '0')
		return perr_at(ps, line, col, "leading zeros are not allowed in '%s'", shown);
	if (ip == sn) {
		uint64_t u;
		uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
		if (!to_int(s, sn, 10, limit, &u))
			return perr_at(ps, line, col, "integer '%s' does not fit in 64 bits", shown);
		struct toml_value *v = new_value(TOML_INTEGER, line, col, depth);
		if (!v)
			return enomem(ps);
		/* -2^63 cannot be negated as int64; go through unsigned arithmetic */
		v->u.i = neg ? (int64_t)(0 - u) : (int64_t)u;
		*ret = v;
		return HDB_OK;
	}
	size_t i = ip;
	if (s[i] == '.') {
		size_t fs = ++i;
		while (i < sn && s[i] != 'e' && s[i] != 'E')
			i++;
		if (!digits_ok(s + fs, i - fs, 10))
			return perr_at(ps, line, col, "invalid float '%s' (a fraction needs digits after '.')", shown);
	}
	if (i < sn) {   /* s[i] is e or E */
		size_t es = ++i;
		if (es < sn && (s[es] == '+' || s[es] == '-'))
			es++;
		if (!digits_ok(s + es, sn - es, 10))
			return perr_at(ps, line, col, "invalid float exponent in '%s'", shown);
	}

	/* strtod wants no underscores and the locale's decimal point */
	char *clean = malloc(n + 8);
	if (!clean)
		return enomem(ps);
	const char *dp = localeconv()->decimal_point;
	size_t dpl = dp && *dp ? strlen(dp) : 1;
	if (dpl > 4)
		dpl = 1;
	size_t o = 0;
	size_t cap = n + 8;
	for (size_t j = 0; j < n && o + 5 < cap; j++) {
		if (tok[j] == '_')
			continue;
		if (tok[j] == '.' && dp && *dp) {
			memcpy(clean + o, dp, dpl);
			o += dpl;
		} else {
			clean[o++] = tok[j];
		}
	}
	clean[o] = '\0';
	errno = 0;
	char *end;
	double d = strtod(clean, &end);
	bool bad = *end != '\0';
	free(clean);
	if (bad)
		return perr_at(ps, line, col, "invalid float '%s'", shown);
	if (isinf(d))
		return perr_at(ps, line, col, "float '%s' is out of range", shown);
	struct toml_value *v = new_value(TOML_FLOAT, line, col, depth);
	if (!v)
		return enomem(ps);
	v->u.f = d;
	*ret = v;
	return HDB_OK;
}

/* read_fixed - exactly n decimal digits. */
static bool read_fixed(struct parser *ps, size_t n, unsigned *ret)
{
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(peek_at(ps, i)))
			return false;
		v = v * 10 + (unsigned)(peek_at(ps, i) - '0');
	}
	adv_n(ps, n);
	*ret = v;
	return true;
}

static bool looks_like_date(const struct parser *ps)
{
	return is_digit(peek_at(ps, 0)) && is_digit(peek_at(ps, 1)) && is_digit(peek_at(ps, 2)) &&
	       is_digit(peek_at(ps, 3)) && peek_at(ps, 4) == '-';
}

static bool looks_like_time(const struct parser *ps)
{
	return is_digit(peek_at(ps, 0)) && is_digit(peek_at(ps, 1)) && peek_at(ps, 2) == ':';
}

static unsigned days_in_month(unsigned y, unsigned m)
{
	static const unsigned char dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
		return 29;
	return dim[m - 1];
}

/* parse_time - HH:MM:SS[.frac]; appends the canonical text to b. */
static int parse_time(struct parser *ps, struct buf *b)
{
	unsigned line = ps->line, col = ps->col;
	unsigned h, m, s;
	if (!read_fixed(ps, 2, &h) || peek(ps) != ':')
		return perr_at(ps, line, col, "invalid time: expected HH:MM:SS");
	adv(ps);
	if (!read_fixed(ps, 2, &m) || peek(ps) != ':')
		return perr_at(ps, line, col, "invalid time: expected HH:MM:SS (seconds are required)");
	adv(ps);
	if (!read_fixed(ps, 2, &s))
		return perr_at(ps, line, col, "invalid time: expected HH:MM:SS");
	if (h > 23 || m > 59 || s > 60)
		return perr_at(ps, line, col, "time %02u:%02u:%02u is out of range", h, m, s);
	if (buf_printf(b, "%02u:%02u:%02u", h, m, s))
		return enomem(ps);
	if (peek(ps) == '.') {
		adv(ps);
		if (!is_digit(peek(ps)))
			return perr_at(ps, ps->line, ps->col, "expected digits after '.' in fractional seconds");
		if (buf_putc(b, '.'))
			return enomem(ps);
		while (is_digit(peek(ps))) {
			if (buf_putc(b, (unsigned char)peek(ps)))
				return enomem(ps);
			adv(ps);
		}
	}
	return HDB_OK;
}

/* parse_datetime - offset/local date-time, local date or local time. */
static int parse_datetime(struct parser *ps, unsigned depth, struct toml_value **ret)
{
	unsigned line = ps->line, col = ps->col;
	struct buf b = { 0 };
	enum toml_type type;
	int rc;

	if (looks_like_time(ps)) {
		type = TOML_TIME_LOCAL;
		rc = parse_time(ps, &b);
		if (rc)
			goto out_free;
	} else {
		unsigned y, mo, d;
		if (!read_fixed(ps, 4, &y) || peek(ps) != '-')
			goto out_bad_date;
		adv(ps);
		if (!read_fixed(ps, 2, &mo) || peek(ps) != '-')
			goto out_bad_date;
		adv(ps);
		if (!read_fixed(ps, 2, &d))
			goto out_bad_date;
		if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo)) {
			rc = perr_at(ps, line, col, "date %04u-%02u-%02u does not exist", y, mo, d);
			goto out_free;
		}
		if (buf_printf(&b, "%04u-%02u-%02u", y, mo, d)) {
			rc = enomem(ps);
			goto out_free;
		}
		type = TOML_DATE_LOCAL;
		int c = peek(ps);
		if (c == 'T' || c == 't' || (c == ' ' && is_digit(peek_at(ps, 1)))) {
			adv(ps);
			if (buf_putc(&b, 'T')) {
				rc = enomem(ps);
				goto out_free;
			}
			rc = parse_time(ps, &b);
			if (rc)
				goto out_free;
			type = TOML_DATETIME_LOCAL;
			c = peek(ps);
			if (c == 'Z' || c == 'z') {
				adv(ps);
				type = TOML_DATETIME;
				if (buf_putc(&b, 'Z')) {
					rc = enomem(ps);
					goto out_free;
				}
			} else if (c == '+' || c == '-') {
				unsigned ol = ps->line, oc = ps->col;
				unsigned oh, om;
				adv(ps);
				if (!read_fixed(ps, 2, &oh) || peek(ps) != ':' || (adv(ps), !read_fixed(ps, 2, &om))) {
					rc = perr_at(ps, ol, oc, "invalid time offset: expected +HH:MM or -HH:MM");
					goto out_free;
				}
				if (oh > 23 || om > 59) {
					rc = perr_at(ps, ol, oc, "time offset %c%02u:%02u is out of range", c, oh, om);
					goto out_free;
				}
				type = TOML_DATETIME;
				if (buf_printf(&b, "%c%02u:%02u", c, oh, om)) {
					rc = enomem(ps);
					goto out_free;
				}
			}
		}
	}
	if (buf_putc(&b, 0)) {
		rc = enomem(ps);
		goto out_free;
	}
	struct toml_value *v = new_value(type, line, col, depth);
	if (!v) {
		rc = enomem(ps);
		goto out_free;
	}
	v->u.str.s = (char *)b.p;
	v->u.str.len = b.len - 1;
	*ret = v;
	return HDB_OK;

out_bad_date:
	rc = perr_at(ps, line, col, "invalid date: expected YYYY-MM-DD");
out_free:
	buf_free(&b);
	return rc;
}

/* ---- values ------------------------------------------------------------ */

static int parse_value(struct parser *ps, unsigned depth, struct toml_value **ret);
static int parse_keyval(struct parser *ps, struct toml_value *tab);

static int parse_array(struct parser *ps, unsigned depth, struct toml_value **ret)
{
	unsigned line = ps->line, col = ps->col;
	struct toml_value *a = new_value(TOML_ARRAY, line, col, depth);
	if (!a)
		return enomem(ps);
	int rc;
	adv(ps);   /* [ */
	for (;;) {
		skip_ws_nl(ps);
		if (peek(ps) == ']')
			break;
		struct toml_value *v = NULL;
		rc = parse_value(ps, depth + 1, &v);
		if (rc)
			goto out_free;
		if (arr_push(a, v)) {
			rc = enomem(ps);
			goto out_free;
		}
		skip_ws_nl(ps);
		if (peek(ps) == ',') {
			adv(ps);
			continue;
		}
		if (peek(ps) == ']')
			break;
		char d[16];
		rc = perr_at(ps, ps->line, ps->col, "expected ',' or ']' in array, found %s",
		             describe(ps, d, sizeof(d)));
		goto out_free;
	}
	adv(ps);   /* ] */
	*ret = a;
	return HDB_OK;

out_free:
	toml_free(a);
	return rc;
}

static int parse_inline_table(struct parser *ps, unsigned depth, struct toml_value **ret)
{
	unsigned line = ps->line, col = ps->col;
	struct toml_value *t = new_value(TOML_TABLE, line, col, depth);
	if (!t)
		return enomem(ps);
	t->braces = true;
	t->in_inline = true;
	int rc;
	char d[16];
	adv(ps);   /* { */
	ps->in_inline++;
	skip_ws(ps);
	if (peek(ps) != '}') {
		for (;;) {
			rc = parse_keyval(ps, t);
			if (rc)
				goto out_free;
			skip_ws(ps);
			if (peek(ps) == '}')
				break;
			if (peek(ps) != ',') {
				rc = perr_at(ps, ps->line, ps->col, "expected ',' or '}' in inline table, found %s",
				             describe(ps, d, sizeof(d)));
				goto out_free;
			}
			adv(ps);
			skip_ws(ps);
			if (peek(ps) == '}') {
				rc = perr_at(ps, ps->line, ps->col, "trailing comma is not allowed in an inline table");
				goto out_free;
			}
		}
	}
	adv(ps);   /* } */
	ps->in_inline--;
	*ret = t;
	return HDB_OK;

out_free:
	ps->in_inline--;
	toml_free(t);
	return rc;
}

static bool match_word(const struct parser *ps, const char *w)
{
	size_t n = strlen(w);
	return ps->len - ps->pos >= n && memcmp(ps->p + ps->pos, w, n) == 0;
}

/* parse_value - any value; depth is the depth the new value will have. */
static int parse_value(struct parser *ps, unsigned depth, struct toml_value **ret)
{
	unsigned line = ps->line, col = ps->col;
	int c = peek(ps);
	char d[16];

	if (depth > MAX_DEPTH && (c == '[' || c == '{'))
		return perr_at(ps, line, col, "arrays and tables nest deeper than %d levels", MAX_DEPTH);
	switch (c) {
	case '"':
	case '\'': {
		struct buf b = { 0 };
		int rc = parse_string(ps, &b, true);
		if (rc == HDB_OK && buf_putc(&b, 0))
			rc = enomem(ps);
		struct toml_value *v = rc ? NULL : new_value(TOML_STRING, line, col, depth);
		if (rc == HDB_OK && !v)
			rc = enomem(ps);
		if (rc) {
			buf_free(&b);
			return rc;
		}
		v->u.str.s = (char *)b.p;
		v->u.str.len = b.len - 1;
		*ret = v;
		return HDB_OK;
	}
	case '[':
		return parse_array(ps, depth, ret);
	case '{':
		return parse_inline_table(ps, depth, ret);
	case 't':
	case 'f': {
		bool t = c == 't';
		if (!match_word(ps, t ? "true" : "false"))
			break;
		adv_n(ps, t ? 4 : 5);
		struct toml_value *v = new_value(TOML_BOOL, line, col, depth);
		if (!v)
			return enomem(ps);
		v->u.b = t;
		*ret = v;
		return HDB_OK;
	}
	case 'i':
	case 'n':
	case '+':
	case '-':
		return parse_number(ps, depth, ret);
	default:
		if (!is_digit(c))
			break;
		if (looks_like_date(ps) || looks_like_time(ps))
			return parse_datetime(ps, depth, ret);
		return parse_number(ps, depth, ret);
	}
	return perr_at(ps, line, col, "expected a value, found %s", describe(ps, d, sizeof(d)));
}

/* ---- key/value pairs and headers ---------------------------------------- */

/* new_table_kv - creates an empty table under tab at key part kp.  Returns the new table or NULL with the error recorded. */
static struct toml_value *new_table_kv(struct parser *ps, struct toml_value *tab, struct keypart *kp,
                                       int *rc)
{
	if (tab->depth + 1 > MAX_DEPTH) {
		*rc = perr_at(ps, kp->line, kp->col, "tables nest deeper than %d levels", MAX_DEPTH);
		return NULL;
	}
	struct toml_value *t = new_value(TOML_TABLE, kp->line, kp->col, tab->depth + 1);
	if (!t) {
		*rc = enomem(ps);
		return NULL;
	}
	t->in_inline = ps->in_inline > 0;
	/* copied, not taken: the key parts are still needed for messages */
	char *key = malloc(kp->len + 1);
	if (!key) {
		toml_free(t);
		*rc = enomem(ps);
		return NULL;
	}
	memcpy(key, kp->s, kp->len + 1);
	if (tab_insert(tab, key, kp->len, kp->line, kp->col, t)) {
		*rc = enomem(ps);
		return NULL;
	}
	return t;
}

/* parse_keyval - key ws '=' ws value, into table tab. */
static int parse_keyval(struct parser *ps, struct toml_value *tab)
{
	struct key k = { 0 };
	char path[256], d[16];
	int rc = parse_key(ps, &k);
	if (rc)
		goto out_key;
	skip_ws(ps);
	if (peek(ps) != '=') {
		keypath(&k, k.n, path, sizeof(path));
		rc = perr_at(ps, ps->line, ps->col, "expected '=' after key '%s', found %s", path,
		             describe(ps, d, sizeof(d)));
		goto out_key;
	}
	adv(ps);
	skip_ws(ps);

	/* walk or create the dotted tables */
	struct toml_value *t = tab;
	for (size_t i = 0; i + 1 < k.n; i++) {
		struct keypart *kp = &k.parts[i];
		size_t j = tab_find(t, kp->s, kp->len);
		if (j == NOT_FOUND) {
			t = new_table_kv(ps, t, kp, &rc);
			if (!t)
				goto out_key;
			t->dotted = true;
			continue;
		}
		struct toml_value *v = t->u.tab.kv[j].val;
		keypath(&k, i + 1, path, sizeof(path));
		if (v->type != TOML_TABLE) {
			rc = perr_at(ps, kp->line, kp->col, "cannot add keys to '%s': it is %s", path,
			             type_name(v->type));
			goto out_key;
		}
		if (v->braces) {
			rc = perr_at(ps, kp->line, kp->col, "cannot add keys to inline table '%s'", path);
			goto out_key;
		}
		if (v->defined) {
			rc = perr_at(ps, kp->line, kp->col,
			             "dotted key '%s' cannot extend a table defined by a [header]", path);
			goto out_key;
		}
		v->dotted = true;
		t = v;
	}

	struct keypart *last = &k.parts[k.n - 1];
	if (tab_find(t, last->s, last->len) != NOT_FOUND) {
		keypath(&k, k.n, path, sizeof(path));
		rc = perr_at(ps, k.parts[0].line, k.parts[0].col, "duplicate key '%s'", path);
		goto out_key;
	}
	struct toml_value *val = NULL;
	rc = parse_value(ps, t->depth + 1, &val);
	if (rc)
		goto out_key;
	char *key = last->s;
	last->s = NULL;
	if (tab_insert(t, key, last->len, last->line, last->col, val))
		rc = enomem(ps);

out_key:
	key_free(&k);
	return rc;
}

/* parse_header - [a.b] or [[a.b]]; sets ps->cur. */
static int parse_header(struct parser *ps)
{
	unsigned line = ps->line, col = ps->col;
	bool aot = peek_at(ps, 1) == '[';
	struct key k = { 0 };
	char path[256], d[16];
	int rc;

	adv_n(ps, aot ? 2 : 1);
	skip_ws(ps);
	rc = parse_key(ps, &k);
	if (rc)
		goto out_key;
	skip_ws(ps);
	if (peek(ps) != ']' || (aot && peek_at(ps, 1) != ']')) {
		if (peek(ps) == ']')
			adv(ps);   /* point at what follows the lone ']' */
		keypath(&k, k.n, path, sizeof(path));
		rc = perr_at(ps, ps->line, ps->col, "expected '%s' after table name '%s', found %s",
		             aot ? "]]" : "]", path, describe(ps, d, sizeof(d)));
		goto out_key;
	}
	adv_n(ps, aot ? 2 : 1);

	/* walk or create the parent tables */
	struct toml_value *t = ps->root;
	for (size_t i = 0; i + 1 < k.n; i++) {
		struct keypart *kp = &k.parts[i];
		size_t j = tab_find(t, kp->s, kp->len);
		if (j == NOT_FOUND) {
			t = new_table_kv(ps, t, kp, &rc);
			if (!t)
				goto out_key;
			continue;   /* implicit: may be defined by its own header later */
		}
		struct toml_value *v = t->u.tab.kv[j].val;
		keypath(&k, i + 1, path, sizeof(path));
		if (v->type == TOML_ARRAY && v->aot) {
			v = v->u.arr.v[v->u.arr.len - 1];   /* the latest [[path]] element */
		} else if (v->type == TOML_ARRAY) {
			rc = perr_at(ps, kp->line, kp->col, "cannot add a table to static array '%s'", path);
			goto out_key;
		} else if (v->type != TOML_TABLE) {
			rc = perr_at(ps, kp->line, kp->col, "cannot add a table to '%s': it is %s", path,
			             type_name(v->type));
			goto out_key;
		}
		if (v->braces) {
			rc = perr_at(ps, kp->line, kp->col, "cannot add a table to inline table '%s'", path);
			goto out_key;
		}
		t = v;
	}

	struct keypart *last = &k.parts[k.n - 1];
	size_t j = tab_find(t, last->s, last->len);
	keypath(&k, k.n, path, sizeof(path));
	if (!aot) {
		if (j == NOT_FOUND) {
			struct toml_value *nt = new_table_kv(ps, t, last, &rc);
			if (!nt)
				goto out_key;
			nt->defined = true;
			ps->cur = nt;
			goto out_key;
		}
		struct tkv *kv = &t->u.tab.kv[j];
		struct toml_value *v = kv->val;
		if (v->type != TOML_TABLE) {
			rc = perr_at(ps, line, col, "cannot define table '%s': it is already %s", path,
			             type_name(v->type));
			goto out_key;
		}
		if (v->braces) {
			rc = perr_at(ps, line, col, "cannot redefine inline table '%s'", path);
			goto out_key;
		}
		if (v->defined || v->dotted) {
			rc = perr_at(ps, line, col, "table '%s' is already defined", path);
			goto out_key;
		}
		/* an implicit table now gets its own header: remember where */
		v->defined = true;
		v->line = kv->line = last->line;
		v->col = kv->col = last->col;
		ps->cur = v;
		goto out_key;
	}

	struct toml_value *arr;
	if (j == NOT_FOUND) {
		if (t->depth + 2 > MAX_DEPTH) {
			rc = perr_at(ps, last->line, last->col, "tables nest deeper than %d levels", MAX_DEPTH);
			goto out_key;
		}
		arr = new_value(TOML_ARRAY, last->line, last->col, t->depth + 1);
		if (!arr) {
			rc = enomem(ps);
			goto out_key;
		}
		arr->aot = true;
		char *key = last->s;
		last->s = NULL;
		if (tab_insert(t, key, last->len, last->line, last->col, arr)) {
			rc = enomem(ps);
			goto out_key;
		}
	} else {
		arr = t->u.tab.kv[j].val;
		if (arr->type != TOML_ARRAY) {
			rc = perr_at(ps, line, col, "cannot define array of tables '%s': it is already %s", path,
			             type_name(arr->type));
			goto out_key;
		}
		if (!arr->aot) {
			rc = perr_at(ps, line, col, "cannot append to static array '%s' with [[%s]]", path, path);
			goto out_key;
		}
	}
	struct toml_value *elem = new_value(TOML_TABLE, last->line, last->col, arr->depth + 1);
	if (!elem) {
		rc = enomem(ps);
		goto out_key;
	}
	elem->defined = true;
	if (arr_push(arr, elem)) {
		rc = enomem(ps);
		goto out_key;
	}
	ps->cur = elem;

out_key:
	key_free(&k);
	return rc;
}

static int parse_document(struct parser *ps)
{
	/* a UTF-8 byte order mark is not text; skip it */
	if (match_word(ps, "\xEF\xBB\xBF"))
		ps->pos = 3;
	for (;;) {
		skip_ws(ps);
		if (at_eof(ps))
			return HDB_OK;
		int c = peek(ps);
		bool header = false;
		int rc;
		if (c == '#') {
			skip_comment(ps);
		} else if (is_newline(c)) {
			skip_newline(ps);
			continue;
		} else if (c == '[') {
			header = true;
			rc = parse_header(ps);
			if (rc)
				return rc;
		} else {
			rc = parse_keyval(ps, ps->cur);
			if (rc)
				return rc;
		}
		skip_ws(ps);
		if (peek(ps) == '#')
			skip_comment(ps);
		if (at_eof(ps))
			return HDB_OK;
		if (!is_newline(peek(ps))) {
			char d[16];
			return perr_at(ps, ps->line, ps->col, "expected end of line after %s, found %s",
			               header ? "table header" : "value", describe(ps, d, sizeof(d)));
		}
		skip_newline(ps);
	}
}

int toml_parse(const char *text, size_t len, const char *filename,
               struct toml_value **ret_root, char *err, size_t errlen)
{
	struct parser ps = {
		.p = (const unsigned char *)(text ? text : ""),
		.len = text ? len : 0,
		.line = 1,
		.col = 1,
		.filename = filename ? filename : "<input>",
		.err = err,
		.errlen = errlen,
	};
	if (err && errlen)
		err[0] = '\0';
	if (!ret_root)
		return HDB_EINVAL;
	int rc = check_encoding(&ps);
	if (rc)
		return rc;
	ps.root = new_value(TOML_TABLE, 1, 1, 0);
	if (!ps.root)
		return enomem(&ps);
	ps.cur = ps.root;
	rc = parse_document(&ps);
	if (rc) {
		toml_free(ps.root);
		return rc;
	}
	*ret_root = ps.root;
	return HDB_OK;
}

/* ---- accessors --------------------------------------------------------- */

enum toml_type toml_type(const struct toml_value *v)
{
	return v ? v->type : 0;
}

unsigned toml_line(const struct toml_value *v)
{
	return v ? v->line : 0;
}

unsigned toml_col(const struct toml_value *v)
{
	return v ? v->col : 0;
}

static bool is_table(const struct toml_value *v)
{
	return v && v->type == TOML_TABLE;
}

size_t toml_table_len(const struct toml_value *t)
{
	return is_table(t) ? t->u.tab.len : 0;
}

const char *toml_table_key(const struct toml_value *t, size_t i)
{
	return is_table(t) && i < t->u.tab.len ? t->u.tab.kv[i].key : NULL;
}

size_t toml_table_key_len(const struct toml_value *t, size_t i)
{
	return is_table(t) && i < t->u.tab.len ? t->u.tab.kv[i].klen : 0;
}

const struct toml_value *toml_table_at(const struct toml_value *t, size_t i)
{
	return is_table(t) && i < t->u.tab.len ? t->u.tab.kv[i].val : NULL;
}

const struct toml_value *toml_table_get(const struct toml_value *t, const char *key)
{
	if (!is_table(t) || !key)
		return NULL;
	size_t i = tab_find(t, key, strlen(key));
	return i == NOT_FOUND ? NULL : t->u.tab.kv[i].val;
}

unsigned toml_table_key_line(const struct toml_value *t, size_t i)
{
	return is_table(t) && i < t->u.tab.len ? t->u.tab.kv[i].line : 0;
}

unsigned toml_table_key_col(const struct toml_value *t, size_t i)
{
	return is_table(t) && i < t->u.tab.len ? t->u.tab.kv[i].col : 0;
}

bool toml_table_is_inline(const struct toml_value *t)
{
	return is_table(t) && t->in_inline;
}

size_t toml_array_len(const struct toml_value *a)
{
	return a && a->type == TOML_ARRAY ? a->u.arr.len : 0;
}

const struct toml_value *toml_array_at(const struct toml_value *a, size_t i)
{
	return a && a->type == TOML_ARRAY && i < a->u.arr.len ? a->u.arr.v[i] : NULL;
}

const char *toml_string(const struct toml_value *v, size_t *ret_len)
{
	if (!v || v->type != TOML_STRING)
		return NULL;
	if (ret_len)
		*ret_len = v->u.str.len;
	return v->u.str.s;
}

int64_t toml_int(const struct toml_value *v)
{
	return v && v->type == TOML_INTEGER ? v->u.i : 0;
}

double toml_float(const struct toml_value *v)
{
	return v && v->type == TOML_FLOAT ? v->u.f : 0.0;
}

bool toml_bool(const struct toml_value *v)
{
	return v && v->type == TOML_BOOL ? v->u.b : false;
}

const char *toml_datetime(const struct toml_value *v)
{
	if (!v || v->type < TOML_DATETIME || v->type > TOML_TIME_LOCAL)
		return NULL;
	return v->u.str.s;
}
