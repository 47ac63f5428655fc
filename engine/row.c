/*
 * row.c - schemas and rows: validation, the byte encodings the engine seals,
 * and formatting of values for humans.  See row.h; the encodings are
 * documented byte by byte in docs/storage.md ("Row and schema encodings").
 *
 * Invariants:
 *  1. A struct hdb_schema only ever exists validated: schema_new() and
 *     schema_decode() both finish through schema_validate(), so every
 *     schema has 1..ROW_MAX_COLUMNS columns with unique, well-formed names,
 *     known types, key positions 1..npk each used once, and key columns
 *     NOT NULL.
 *  2. Encodings are canonical: for every byte string that schema_decode()
 *     or row_decode() accepts, encoding the result gives the same bytes
 *     back (no unused bitmap bits, BOOL is 0 or 1, flags have no unknown
 *     bits, key columns carry the not_null flag, no trailing bytes).
 *     tests/fuzz/fuzz_row.c checks this.
 *  3. A decoded row satisfies row_check() against its schema; anything
 *     else is HDB_ECORRUPT, because the engine only stores rows that did.
 *  4. The key encoding is injective over values that pass row_check_pk():
 *     every part carries its type and, for variable-length types, its
 *     length; NUMERIC is normalised and FLOAT8 -0.0/NaN are canonicalised
 *     first, so values equal as numbers are equal as keys.
 *  5. Decoders never read past n and never trust a length before checking
 *     it against the bytes that remain.
 *
 * Nothing here allocates on the encode paths except through struct buf;
 * on failure an encoder restores out->len to what it was on entry.
 */
#include "row.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROW_FORMAT_VERSION 1
#define SCHEMA_FORMAT_VERSION 1
#define SCHEMA_FLAG_NOT_NULL 0x01u

_Static_assert(ROW_MAX_COLUMNS <= UINT16_MAX, "ncols is a u16 on disk");
_Static_assert(ROW_MAX_PK_COLUMNS <= UINT8_MAX, "pk_position is a u8 on disk");
_Static_assert(HDB_MAX_NAME_LEN <= UINT8_MAX, "name lengths are a u8 on disk");
_Static_assert(ROW_MAX_VALUE_LEN <= UINT32_MAX, "value lengths are a u32 on disk");
_Static_assert(sizeof(double) == 8, "FLOAT8 is stored as 8 IEEE-754 bytes");

/* The canonical NaN for key encodings (the quiet NaN that 0.0/0.0 gives). */
#define CANONICAL_NAN_BITS UINT64_C(0x7ff8000000000000)

/* ------------------------------------------------------------ types */

static const char *const type_names[] = {
	[HDB_T_INT2] = "INT2",
	[HDB_T_INT4] = "INT4",
	[HDB_T_INT8] = "INT8",
	[HDB_T_FLOAT8] = "FLOAT8",
	[HDB_T_NUMERIC] = "NUMERIC",
	[HDB_T_TEXT] = "TEXT",
	[HDB_T_BOOL] = "BOOL",
	[HDB_T_BYTEA] = "BYTEA",
	[HDB_T_DATE] = "DATE",
	[HDB_T_TIMESTAMP] = "TIMESTAMP",
};

static bool type_valid(unsigned t)
{
	return t >= HDB_T_INT2 && t <= HDB_T_TIMESTAMP;
}

const char *hdb_type_name(enum hdb_type t)
{
	return type_valid((unsigned)t) ? type_names[t] : NULL;
}

static bool type_is_varlen(enum hdb_type t)
{
	return t == HDB_T_TEXT || t == HDB_T_NUMERIC || t == HDB_T_BYTEA;
}

/* Width on disk of a fixed-width type; 0 for variable-length ones. */
static size_t type_width(enum hdb_type t)
{
	switch (t) {
	case HDB_T_INT2: return 2;
	case HDB_T_INT4: return 4;
	case HDB_T_DATE: return 4;
	case HDB_T_INT8: return 8;
	case HDB_T_TIMESTAMP: return 8;
	case HDB_T_FLOAT8: return 8;
	case HDB_T_BOOL: return 1;
	default: return 0;
	}
}

/* ------------------------------------------------------ constructors */

struct hdb_value hdb_null(enum hdb_type t)
{
	struct hdb_value v;
	memset(&v, 0, sizeof(v));
	v.type = t;
	v.is_null = true;
	return v;
}

static struct hdb_value value_of(enum hdb_type t)
{
	struct hdb_value v;
	memset(&v, 0, sizeof(v));
	v.type = t;
	return v;
}

struct hdb_value hdb_int2(int16_t x)
{
	struct hdb_value v = value_of(HDB_T_INT2);
	v.u.i16 = x;
	return v;
}

struct hdb_value hdb_int4(int32_t x)
{
	struct hdb_value v = value_of(HDB_T_INT4);
	v.u.i32 = x;
	return v;
}

struct hdb_value hdb_int8(int64_t x)
{
	struct hdb_value v = value_of(HDB_T_INT8);
	v.u.i64 = x;
	return v;
}

struct hdb_value hdb_float8(double x)
{
	struct hdb_value v = value_of(HDB_T_FLOAT8);
	v.u.f64 = x;
	return v;
}

struct hdb_value hdb_bool(bool x)
{
	struct hdb_value v = value_of(HDB_T_BOOL);
	v.u.b = x;
	return v;
}

/* hdb_text(NULL) is a NULL TEXT rather than a crash. */
struct hdb_value hdb_text(const char *s)
{
	return s ? hdb_textn(s, strlen(s)) : hdb_null(HDB_T_TEXT);
}

struct hdb_value hdb_textn(const char *p, size_t len)
{
	struct hdb_value v = value_of(HDB_T_TEXT);
	v.u.s.ptr = p;
	v.u.s.len = len;
	return v;
}

struct hdb_value hdb_bytea(const void *p, size_t len)
{
	struct hdb_value v = value_of(HDB_T_BYTEA);
	v.u.s.ptr = p;
	v.u.s.len = len;
	return v;
}

struct hdb_value hdb_numeric(const char *s)
{
	if (!s)
		return hdb_null(HDB_T_NUMERIC);
	struct hdb_value v = value_of(HDB_T_NUMERIC);
	v.u.s.ptr = s;
	v.u.s.len = strlen(s);
	return v;
}

struct hdb_value hdb_date(int32_t days)
{
	struct hdb_value v = value_of(HDB_T_DATE);
	v.u.i32 = days;
	return v;
}

struct hdb_value hdb_timestamp(int64_t usec)
{
	struct hdb_value v = value_of(HDB_T_TIMESTAMP);
	v.u.i64 = usec;
	return v;
}

/* ---------------------------------------------------- text validation */

/* utf8_valid - strict UTF-8 (RFC 3629): no overlong forms, no surrogates
 * (U+D800..U+DFFF), nothing above U+10FFFF. */
static bool utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t need;
		unsigned lo = 0x80, hi = 0xbf;     /* range of the second byte */
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			if (c == 0xe0)
				lo = 0xa0;             /* overlong */
			else if (c == 0xed)
				hi = 0x9f;             /* surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			if (c == 0xf0)
				lo = 0x90;             /* overlong */
			else if (c == 0xf4)
				hi = 0x8f;             /* above U+10FFFF */
		} else {
			return false;                  /* 80..C1, F5..FF */
		}
		if (n - i - 1 < need)
			return false;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t k = 2; k <= need; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return false;
		i += need + 1;
	}
	return true;
}

/* name_problem - NULL when a table or column name is acceptable (1..63
 * bytes of UTF-8 without control characters), else what is wrong. */
static const char *name_problem(const char *s, size_t len)
{
	if (len == 0 || len > HDB_MAX_NAME_LEN)
		return "name must be 1..63 bytes";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return "name contains a control character";
	}
	if (!utf8_valid((const unsigned char *)s, len))
		return "name is not valid UTF-8";
	return NULL;
}

/* ----------------------------------------------------------- NUMERIC */

/* The pieces of a well-formed NUMERIC text. */
struct numeric_parts {
	bool neg;
	const char *ip;   /* integer digits */
	size_t ilen;
	const char *fp;   /* fraction digits (after '.') */
	size_t flen;
};

static int numeric_parse(const char *p, size_t n, struct numeric_parts *np)
{
	size_t i = 0;
	if (!p && n)
		return HDB_EINVAL;
	memset(np, 0, sizeof(*np));
	if (i < n && (p[i] == '+' || p[i] == '-')) {
		np->neg = p[i] == '-';
		i++;
	}
	np->ip = p + i;
	while (i < n && p[i] >= '0' && p[i] <= '9')
		i++;
	np->ilen = (size_t)(p + i - np->ip);
	if (i < n && p[i] == '.') {
		i++;
		np->fp = p + i;
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
		np->flen = (size_t)(p + i - np->fp);
		if (np->flen == 0)
			return HDB_EINVAL;     /* "1." and "." */
	}
	if (i != n || np->ilen + np->flen == 0)
		return HDB_EINVAL;
	if (np->ilen + np->flen > ROW_NUMERIC_MAX_DIGITS)
		return HDB_EINVAL;
	return HDB_OK;
}

int numeric_check(const char *p, size_t n)
{
	struct numeric_parts np;
	return numeric_parse(p, n, &np);
}

/* numeric_normalise - strips what does not change the number: '+', leading
 * integer zeros, trailing fraction zeros, the sign of zero. */
static void numeric_normalise(struct numeric_parts *np)
{
	while (np->ilen > 0 && np->ip[0] == '0') {
		np->ip++;
		np->ilen--;
	}
	while (np->flen > 0 && np->fp[np->flen - 1] == '0')
		np->flen--;
	if (np->ilen == 0 && np->flen == 0)
		np->neg = false;
}

/* --------------------------------------------------------- schemas */

void hdb_schema_free(struct hdb_schema *sc)
{
	if (!sc)
		return;
	if (sc->cols)
		for (size_t i = 0; i < sc->ncols; i++)
			free((char *)sc->cols[i].name);
	free(sc->cols);
	free(sc->pk_cols);
	free(sc->table);
	free(sc);
}

size_t hdb_schema_ncolumns(const struct hdb_schema *sc)
{
	return sc ? sc->ncols : 0;
}

const struct hdb_column_def *hdb_schema_column(const struct hdb_schema *sc, size_t i)
{
	return sc && i < sc->ncols ? &sc->cols[i] : NULL;
}

const char *hdb_schema_table(const struct hdb_schema *sc)
{
	return sc ? sc->table : NULL;
}

/* An empty schema with room for ncols columns (names NULL). */
static struct hdb_schema *schema_alloc(size_t ncols)
{
	struct hdb_schema *sc = calloc(1, sizeof(*sc));
	if (!sc)
		return NULL;
	sc->cols = calloc(ncols ? ncols : 1, sizeof(*sc->cols));
	if (!sc->cols) {
		free(sc);
		return NULL;
	}
	sc->ncols = ncols;
	return sc;
}

static int cmp_name_ptr(const void *a, const void *b)
{
	const char *const *x = a, *const *y = b;
	return strcmp(*x, *y);
}

/* schema_validate - checks a built schema (invariant 1) and fills pk_cols
 * and npk.  HDB_EINVAL with err set, or HDB_ENOMEM. */
static int schema_validate(struct hdb_schema *sc, char *err, size_t errlen)
{
	const char *why = name_problem(sc->table, strlen(sc->table));
	if (why) {
		errf(err, errlen, "table %s", why);
		return HDB_EINVAL;
	}
	if (sc->ncols < 1 || sc->ncols > ROW_MAX_COLUMNS) {
		errf(err, errlen, "a table must have 1..%d columns", ROW_MAX_COLUMNS);
		return HDB_EINVAL;
	}
	size_t npk = 0;
	for (size_t i = 0; i < sc->ncols; i++) {
		const struct hdb_column_def *c = &sc->cols[i];
		why = name_problem(c->name, strlen(c->name));
		if (why) {
			/* The name itself may be unprintable: name the column by number. */
			errf(err, errlen, "column %zu: %s", i + 1, why);
			return HDB_EINVAL;
		}
		if (!type_valid((unsigned)c->type)) {
			errf(err, errlen, "column '%s': unknown type %d", c->name, (int)c->type);
			return HDB_EINVAL;
		}
		if (c->pk_position > 0)
			npk++;
	}

	/* Unique names: sort pointers and compare neighbours. */
	const char **names = malloc(sc->ncols * sizeof(*names));
	if (!names)
		return HDB_ENOMEM;
	for (size_t i = 0; i < sc->ncols; i++)
		names[i] = sc->cols[i].name;
	qsort(names, sc->ncols, sizeof(*names), cmp_name_ptr);
	for (size_t i = 1; i < sc->ncols; i++) {
		if (strcmp(names[i - 1], names[i]) == 0) {
			errf(err, errlen, "column '%s': duplicate column name", names[i]);
			free(names);
			return HDB_EINVAL;
		}
	}
	free(names);

	if (npk > ROW_MAX_PK_COLUMNS) {
		errf(err, errlen, "primary key may have at most %d columns, got %zu",
		     ROW_MAX_PK_COLUMNS, npk);
		return HDB_EINVAL;
	}
	size_t *pk = calloc(npk ? npk : 1, sizeof(*pk));
	if (!pk)
		return HDB_ENOMEM;
	bool seen[ROW_MAX_PK_COLUMNS] = {false};
	for (size_t i = 0; i < sc->ncols; i++) {
		unsigned pos = sc->cols[i].pk_position;
		if (pos == 0)
			continue;
		if (pos > npk || seen[pos - 1]) {
			errf(err, errlen, "primary key positions must be 1..%zu without gaps", npk);
			free(pk);
			return HDB_EINVAL;
		}
		seen[pos - 1] = true;
		pk[pos - 1] = i;
	}
	free(sc->pk_cols);
	sc->pk_cols = pk;
	sc->npk = npk;
	return HDB_OK;
}

/* schema_new - see row.h.  Key columns are made NOT NULL. */
int schema_new(const char *table, uint32_t table_id, const struct hdb_column_def *cols,
               size_t ncols, struct hdb_schema **ret, char *err, size_t errlen)
{
	if (!ret) {
		errf(err, errlen, "no result pointer");
		return HDB_EINVAL;
	}
	if (!table) {
		errf(err, errlen, "table name missing");
		return HDB_EINVAL;
	}
	if (ncols < 1 || ncols > ROW_MAX_COLUMNS || !cols) {
		errf(err, errlen, "a table must have 1..%d columns", ROW_MAX_COLUMNS);
		return HDB_EINVAL;
	}
	for (size_t i = 0; i < ncols; i++) {
		if (!cols[i].name) {
			errf(err, errlen, "column %zu: name missing", i + 1);
			return HDB_EINVAL;
		}
	}
	/* Copy at most one byte past the limit: enough to reject, without
	 * walking an unterminated or huge string. */
	struct hdb_schema *sc = schema_alloc(ncols);
	if (!sc)
		goto out_nomem;
	sc->table = xstrndup(table, strnlen(table, HDB_MAX_NAME_LEN + 1));
	if (!sc->table)
		goto out_nomem;
	sc->table_id = table_id;
	for (size_t i = 0; i < ncols; i++) {
		char *name = xstrndup(cols[i].name, strnlen(cols[i].name, HDB_MAX_NAME_LEN + 1));
		if (!name)
			goto out_nomem;
		sc->cols[i].name = name;
		sc->cols[i].type = cols[i].type;
		sc->cols[i].pk_position = cols[i].pk_position;
		sc->cols[i].not_null = cols[i].not_null || cols[i].pk_position > 0;
	}
	int rc = schema_validate(sc, err, errlen);
	if (rc) {
		if (rc == HDB_ENOMEM)
			errf(err, errlen, "out of memory");
		hdb_schema_free(sc);
		return rc;
	}
	*ret = sc;
	return HDB_OK;

out_nomem:
	hdb_schema_free(sc);
	errf(err, errlen, "out of memory");
	return HDB_ENOMEM;
}

int schema_dup(const struct hdb_schema *sc, struct hdb_schema **ret)
{
	if (!sc || !ret)
		return HDB_EINVAL;
	struct hdb_schema *d = schema_alloc(sc->ncols);
	if (!d)
		return HDB_ENOMEM;
	d->table_id = sc->table_id;
	d->npk = sc->npk;
	d->table = xstrndup(sc->table, strlen(sc->table));
	d->pk_cols = malloc((sc->npk ? sc->npk : 1) * sizeof(*d->pk_cols));
	if (!d->table || !d->pk_cols)
		goto out_free;
	if (sc->npk)
		memcpy(d->pk_cols, sc->pk_cols, sc->npk * sizeof(*d->pk_cols));
	for (size_t i = 0; i < sc->ncols; i++) {
		d->cols[i] = sc->cols[i];
		d->cols[i].name = xstrndup(sc->cols[i].name, strlen(sc->cols[i].name));
		if (!d->cols[i].name)
			goto out_free;
	}
	*ret = d;
	return HDB_OK;

out_free:
	hdb_schema_free(d);
	return HDB_ENOMEM;
}

/* schema_encode - appends the schema encoding to out (row.h, docs/storage.md). */
int schema_encode(const struct hdb_schema *sc, struct buf *out)
{
	if (!sc || !out || sc->ncols < 1 || sc->ncols > ROW_MAX_COLUMNS)
		return HDB_EINVAL;
	size_t start = out->len;
	size_t tlen = strlen(sc->table);
	int rc = HDB_EINVAL;
	if (tlen < 1 || tlen > HDB_MAX_NAME_LEN)
		goto out_undo;
	if ((rc = buf_putc(out, SCHEMA_FORMAT_VERSION)) ||
	    (rc = buf_put_u32be(out, sc->table_id)) ||
	    (rc = buf_putc(out, (unsigned char)tlen)) ||
	    (rc = buf_append(out, sc->table, tlen)) ||
	    (rc = buf_putc(out, (unsigned char)(sc->ncols >> 8))) ||
	    (rc = buf_putc(out, (unsigned char)sc->ncols)))
		goto out_undo;
	for (size_t i = 0; i < sc->ncols; i++) {
		const struct hdb_column_def *c = &sc->cols[i];
		size_t nlen = strlen(c->name);
		rc = HDB_EINVAL;
		if (nlen < 1 || nlen > HDB_MAX_NAME_LEN || !type_valid((unsigned)c->type) ||
		    c->pk_position > ROW_MAX_PK_COLUMNS)
			goto out_undo;
		if ((rc = buf_putc(out, (unsigned char)nlen)) ||
		    (rc = buf_append(out, c->name, nlen)) ||
		    (rc = buf_putc(out, (unsigned char)c->type)) ||
		    (rc = buf_putc(out, c->not_null ? SCHEMA_FLAG_NOT_NULL : 0)) ||
		    (rc = buf_putc(out, (unsigned char)c->pk_position)))
			goto out_undo;
	}
	return HDB_OK;

out_undo:
	out->len = start;
	return rc;
}

/* A bounds-checked reader over hostile bytes. */
struct reader {
	const unsigned char *p;
	size_t n;
	size_t off;
};

static bool rd_need(const struct reader *r, size_t k)
{
	return r->n - r->off >= k;
}

static bool rd_u8(struct reader *r, unsigned *v)
{
	if (!rd_need(r, 1))
		return false;
	*v = r->p[r->off++];
	return true;
}

static bool rd_u16(struct reader *r, unsigned *v)
{
	if (!rd_need(r, 2))
		return false;
	*v = (unsigned)r->p[r->off] << 8 | r->p[r->off + 1];
	r->off += 2;
	return true;
}

static bool rd_u32(struct reader *r, uint32_t *v)
{
	if (!rd_need(r, 4))
		return false;
	*v = get_u32be(r->p + r->off);
	r->off += 4;
	return true;
}

/* rd_bytes - k bytes in place. */
static bool rd_bytes(struct reader *r, size_t k, const unsigned char **v)
{
	if (!rd_need(r, k))
		return false;
	*v = r->p + r->off;
	r->off += k;
	return true;
}

/* rd_name - u8 length + 1..63 bytes without NUL, copied to a new string. */
static int rd_name(struct reader *r, char **ret)
{
	unsigned len;
	const unsigned char *s;
	if (!rd_u8(r, &len) || len < 1 || len > HDB_MAX_NAME_LEN || !rd_bytes(r, len, &s))
		return HDB_ECORRUPT;
	if (memchr(s, 0, len))
		return HDB_ECORRUPT;
	char *name = xstrndup((const char *)s, len);
	if (!name)
		return HDB_ENOMEM;
	*ret = name;
	return HDB_OK;
}

/* schema_decode - the inverse of schema_encode over hostile bytes: the
 * whole of p[0..n) must be one schema.  HDB_ECORRUPT on anything that
 * schema_new() would refuse or that would not encode back identically. */
int schema_decode(const unsigned char *p, size_t n, struct hdb_schema **ret)
{
	if ((!p && n) || !ret)
		return HDB_EINVAL;
	struct reader r = { p, n, 0 };
	struct hdb_schema *sc = NULL;
	unsigned version, ncols;
	uint32_t table_id;
	char *table = NULL;
	int rc = HDB_ECORRUPT;

	if (!rd_u8(&r, &version) || version != SCHEMA_FORMAT_VERSION || !rd_u32(&r, &table_id))
		return HDB_ECORRUPT;
	if ((rc = rd_name(&r, &table)))
		return rc;
	if (!rd_u16(&r, &ncols) || ncols < 1 || ncols > ROW_MAX_COLUMNS) {
		free(table);
		return HDB_ECORRUPT;
	}
	/* Each column takes at least 4 bytes: refuse before allocating. */
	if (!rd_need(&r, (size_t)ncols * 4)) {
		free(table);
		return HDB_ECORRUPT;
	}
	sc = schema_alloc(ncols);
	if (!sc) {
		free(table);
		return HDB_ENOMEM;
	}
	sc->table = table;
	sc->table_id = table_id;
	for (size_t i = 0; i < ncols; i++) {
		struct hdb_column_def *c = &sc->cols[i];
		char *name = NULL;
		unsigned type, flags, pos;
		if ((rc = rd_name(&r, &name)))
			goto out_free;
		c->name = name;
		rc = HDB_ECORRUPT;
		if (!rd_u8(&r, &type) || !rd_u8(&r, &flags) || !rd_u8(&r, &pos))
			goto out_free;
		if (!type_valid(type) || (flags & ~SCHEMA_FLAG_NOT_NULL))
			goto out_free;
		c->type = (enum hdb_type)type;
		c->not_null = flags & SCHEMA_FLAG_NOT_NULL;
		c->pk_position = pos;
		if (pos > 0 && !c->not_null)
			goto out_free;   /* schema_new() always sets it for key columns */
	}
	rc = HDB_ECORRUPT;
	if (r.off != r.n)
		goto out_free;
	rc = schema_validate(sc, NULL, 0);
	if (rc) {
		if (rc != HDB_ENOMEM)
			rc = HDB_ECORRUPT;
		goto out_free;
	}
	*ret = sc;
	return HDB_OK;

out_free:
	hdb_schema_free(sc);
	return rc;
}

/* ------------------------------------------------------------ rows */

static int check_value(const struct hdb_column_def *c, const struct hdb_value *v,
                       bool is_key, char *err, size_t errlen)
{
	if (!type_valid((unsigned)v->type)) {
		errf(err, errlen, "column '%s' is %s, got type %d", c->name,
		     hdb_type_name(c->type), (int)v->type);
		return HDB_ECONSTRAINT;
	}
	if (v->type != c->type) {
		errf(err, errlen, "column '%s' is %s, got %s", c->name,
		     hdb_type_name(c->type), hdb_type_name(v->type));
		return HDB_ECONSTRAINT;
	}
	if (v->is_null) {
		if (is_key) {
			errf(err, errlen, "column '%s' is part of the primary key and cannot be NULL",
			     c->name);
			return HDB_ECONSTRAINT;
		}
		if (c->not_null) {
			errf(err, errlen, "column '%s' is NOT NULL", c->name);
			return HDB_ECONSTRAINT;
		}
		return HDB_OK;
	}
	if (!type_is_varlen(v->type))
		return HDB_OK;
	if (v->u.s.len > ROW_MAX_VALUE_LEN) {
		errf(err, errlen, "column '%s': value of %zu bytes exceeds the limit of %u bytes",
		     c->name, v->u.s.len, (unsigned)ROW_MAX_VALUE_LEN);
		return HDB_ECONSTRAINT;
	}
	if (!v->u.s.ptr && v->u.s.len) {
		errf(err, errlen, "column '%s': value pointer is NULL", c->name);
		return HDB_EINVAL;
	}
	if (v->type == HDB_T_NUMERIC && numeric_check(v->u.s.ptr, v->u.s.len)) {
		errf(err, errlen, "column '%s': invalid NUMERIC value", c->name);
		return HDB_ECONSTRAINT;
	}
	if (v->type == HDB_T_TEXT &&
	    !utf8_valid((const unsigned char *)v->u.s.ptr, v->u.s.len)) {
		errf(err, errlen, "column '%s': invalid UTF-8 in TEXT value", c->name);
		return HDB_ECONSTRAINT;
	}
	return HDB_OK;
}

int row_check(const struct hdb_schema *sc, const struct hdb_value *vals, size_t n,
              char *err, size_t errlen)
{
	if (!sc || (!vals && n)) {
		errf(err, errlen, "no schema or values");
		return HDB_EINVAL;
	}
	if (n != sc->ncols) {
		errf(err, errlen, "expected %zu values (one per column), got %zu", sc->ncols, n);
		return HDB_EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		int rc = check_value(&sc->cols[i], &vals[i], false, err, errlen);
		if (rc)
			return rc;
	}
	return HDB_OK;
}

int row_check_pk(const struct hdb_schema *sc, const struct hdb_value *pk, size_t npk,
                 char *err, size_t errlen)
{
	if (!sc || (!pk && npk)) {
		errf(err, errlen, "no schema or key values");
		return HDB_EINVAL;
	}
	if (npk != sc->npk) {
		errf(err, errlen, "expected %zu primary key values, got %zu", sc->npk, npk);
		return HDB_EINVAL;
	}
	for (size_t k = 0; k < npk; k++) {
		int rc = check_value(&sc->cols[sc->pk_cols[k]], &pk[k], true, err, errlen);
		if (rc)
			return rc;
	}
	return HDB_OK;
}

/* put_fixed - the big-endian bytes of a non-null fixed-width value. */
static int put_fixed(struct buf *out, const struct hdb_value *v, uint64_t f64bits)
{
	unsigned char t[8];
	switch (v->type) {
	case HDB_T_INT2:
		t[0] = (unsigned char)((uint16_t)v->u.i16 >> 8);
		t[1] = (unsigned char)(uint16_t)v->u.i16;
		return buf_append(out, t, 2);
	case HDB_T_INT4:
	case HDB_T_DATE:
		return buf_put_u32be(out, (uint32_t)v->u.i32);
	case HDB_T_INT8:
	case HDB_T_TIMESTAMP:
		return buf_put_u64be(out, (uint64_t)v->u.i64);
	case HDB_T_FLOAT8:
		return buf_put_u64be(out, f64bits);
	case HDB_T_BOOL:
		return buf_putc(out, v->u.b ? 1 : 0);
	default:
		return HDB_EINVAL;
	}
}

static int put_varlen(struct buf *out, const void *p, size_t len)
{
	if (len > ROW_MAX_VALUE_LEN || (!p && len))
		return HDB_EINVAL;
	int rc = buf_put_u32be(out, (uint32_t)len);
	return rc ? rc : buf_append(out, p, len);
}

static uint64_t f64_bits(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof(u));
	return u;
}

/* row_encode - appends the row encoding of vals[0..sc->ncols) to out.
 * Checks only what the encoding needs (types and lengths): call
 * row_check() first for the full constraints.  HDB_EINVAL, HDB_ENOMEM. */
int row_encode(const struct hdb_schema *sc, const struct hdb_value *vals, struct buf *out)
{
	if (!sc || !vals || !out || sc->ncols < 1 || sc->ncols > ROW_MAX_COLUMNS)
		return HDB_EINVAL;
	size_t start = out->len;
	size_t nb = (sc->ncols + 7) / 8;
	int rc;
	if ((rc = buf_putc(out, ROW_FORMAT_VERSION)) ||
	    (rc = buf_putc(out, (unsigned char)(sc->ncols >> 8))) ||
	    (rc = buf_putc(out, (unsigned char)sc->ncols)) ||
	    (rc = buf_reserve(out, nb)))
		goto out_undo;
	size_t bm = out->len;
	memset(out->p + bm, 0, nb);
	out->len += nb;
	for (size_t i = 0; i < sc->ncols; i++) {
		const struct hdb_value *v = &vals[i];
		rc = HDB_EINVAL;
		if (v->type != sc->cols[i].type)
			goto out_undo;
		if (v->is_null) {
			out->p[bm + i / 8] |= (unsigned char)(1u << (i % 8));
			continue;
		}
		if (type_is_varlen(v->type))
			rc = put_varlen(out, v->u.s.ptr, v->u.s.len);
		else
			rc = put_fixed(out, v, v->type == HDB_T_FLOAT8 ? f64_bits(v->u.f64) : 0);
		if (rc)
			goto out_undo;
	}
	return HDB_OK;

out_undo:
	out->len = start;
	return rc;
}

/* One key part: u8 type, then the value as in a row after normalising
 * NUMERIC text and FLOAT8 zero/NaN (invariant 4). */
static int put_key_part(struct buf *out, const struct hdb_column_def *c,
                        const struct hdb_value *v)
{
	if (v->type != c->type || v->is_null || !type_valid((unsigned)v->type))
		return HDB_EINVAL;
	int rc = buf_putc(out, (unsigned char)v->type);
	if (rc)
		return rc;
	if (v->type == HDB_T_NUMERIC) {
		struct numeric_parts np;
		if (numeric_parse(v->u.s.ptr, v->u.s.len, &np))
			return HDB_EINVAL;
		numeric_normalise(&np);
		size_t ilen = np.ilen ? np.ilen : 1;     /* "0" for an empty integer part */
		size_t len = (np.neg ? 1 : 0) + ilen + (np.flen ? 1 + np.flen : 0);
		if ((rc = buf_put_u32be(out, (uint32_t)len)) ||
		    (np.neg && (rc = buf_putc(out, '-'))) ||
		    (rc = np.ilen ? buf_append(out, np.ip, np.ilen) : buf_putc(out, '0')))
			return rc;
		if (np.flen && ((rc = buf_putc(out, '.')) || (rc = buf_append(out, np.fp, np.flen))))
			return rc;
		return HDB_OK;
	}
	if (type_is_varlen(v->type))
		return put_varlen(out, v->u.s.ptr, v->u.s.len);
	uint64_t bits = 0;
	if (v->type == HDB_T_FLOAT8) {
		double d = v->u.f64;
		if (isnan(d))
			bits = CANONICAL_NAN_BITS;
		else if (d == 0.0)
			bits = 0;               /* -0.0 and 0.0 */
		else
			bits = f64_bits(d);
	}
	return put_fixed(out, v, bits);
}

int row_encode_pk_of_row(const struct hdb_schema *sc, const struct hdb_value *vals,
                         struct buf *out)
{
	if (!sc || !vals || !out)
		return HDB_EINVAL;
	size_t start = out->len;
	for (size_t k = 0; k < sc->npk; k++) {
		size_t ci = sc->pk_cols[k];
		int rc = put_key_part(out, &sc->cols[ci], &vals[ci]);
		if (rc) {
			out->len = start;
			return rc;
		}
	}
	return HDB_OK;
}

int row_encode_pk(const struct hdb_schema *sc, const struct hdb_value *pk, size_t npk,
                  struct buf *out)
{
	if (!sc || (!pk && npk) || !out || npk != sc->npk)
		return HDB_EINVAL;
	size_t start = out->len;
	for (size_t k = 0; k < npk; k++) {
		int rc = put_key_part(out, &sc->cols[sc->pk_cols[k]], &pk[k]);
		if (rc) {
			out->len = start;
			return rc;
		}
	}
	return HDB_OK;
}

void hdb_row_free(struct hdb_row *r)
{
	if (!r)
		return;
	free(r->vals);
	free(r->data);
	free(r);
}

size_t hdb_row_ncolumns(const struct hdb_row *r)
{
	return r ? r->ncols : 0;
}

const struct hdb_value *hdb_row_value(const struct hdb_row *r, size_t i)
{
	return r && i < r->ncols ? &r->vals[i] : NULL;
}

/* row_adopt - builds a row from vals[0..n) whose variable-length payloads
 * may point anywhere: takes ownership of the vals array, copies each
 * payload into one new data block (each followed by a NUL) and repoints. */
static int row_adopt(struct hdb_value *vals, size_t n, struct hdb_row **ret)
{
	size_t total = 1;
	for (size_t i = 0; i < n; i++) {
		if (vals[i].is_null || !type_is_varlen(vals[i].type))
			continue;
		if (vals[i].u.s.len > ROW_MAX_VALUE_LEN || (!vals[i].u.s.ptr && vals[i].u.s.len))
			goto out_inval;
		total += vals[i].u.s.len + 1;   /* at most 1600 * (64 MiB + 1): no overflow */
	}
	struct hdb_row *r = calloc(1, sizeof(*r));
	unsigned char *data = malloc(total);
	if (!r || !data) {
		free(r);
		free(data);
		free(vals);
		return HDB_ENOMEM;
	}
	size_t off = 0;
	for (size_t i = 0; i < n; i++) {
		if (vals[i].is_null || !type_is_varlen(vals[i].type))
			continue;
		size_t len = vals[i].u.s.len;
		if (len)
			memcpy(data + off, vals[i].u.s.ptr, len);
		data[off + len] = '\0';
		vals[i].u.s.ptr = (const char *)data + off;
		off += len + 1;
	}
	data[off] = '\0';
	r->ncols = n;
	r->vals = vals;
	r->data = data;
	r->datalen = off;
	*ret = r;
	return HDB_OK;

out_inval:
	free(vals);
	return HDB_EINVAL;
}

int row_new(const struct hdb_value *vals, size_t n, struct hdb_row **ret)
{
	if ((!vals && n) || !ret || n > ROW_MAX_COLUMNS)
		return HDB_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!type_valid((unsigned)vals[i].type))
			return HDB_EINVAL;
	struct hdb_value *copy = malloc((n ? n : 1) * sizeof(*copy));
	if (!copy)
		return HDB_ENOMEM;
	if (n)
		memcpy(copy, vals, n * sizeof(*copy));
	return row_adopt(copy, n, ret);
}

/* row_decode - see row.h and invariants 2, 3 and 5. */
int row_decode(const struct hdb_schema *sc, const unsigned char *p, size_t n,
               struct hdb_row **ret)
{
	if (!sc || (!p && n) || !ret || sc->ncols < 1 || sc->ncols > ROW_MAX_COLUMNS)
		return HDB_EINVAL;
	struct reader r = { p, n, 0 };
	unsigned version, ncols;
	const unsigned char *bm;
	if (!rd_u8(&r, &version) || version != ROW_FORMAT_VERSION || !rd_u16(&r, &ncols) ||
	    ncols != sc->ncols || !rd_bytes(&r, (ncols + 7) / 8, &bm))
		return HDB_ECORRUPT;
	if (ncols % 8 && (bm[ncols / 8] >> (ncols % 8)))
		return HDB_ECORRUPT;    /* bits past the last column must be zero */

	struct hdb_value *vals = calloc(ncols, sizeof(*vals));
	if (!vals)
		return HDB_ENOMEM;
	for (size_t i = 0; i < ncols; i++) {
		struct hdb_value *v = &vals[i];
		const unsigned char *b;
		v->type = sc->cols[i].type;
		if (bm[i / 8] & (1u << (i % 8))) {
			v->is_null = true;
			continue;
		}
		if (type_is_varlen(v->type)) {
			uint32_t len;
			if (!rd_u32(&r, &len) || len > ROW_MAX_VALUE_LEN || !rd_bytes(&r, len, &b))
				goto out_corrupt;
			v->u.s.ptr = (const char *)b;
			v->u.s.len = len;
			continue;
		}
		if (!rd_bytes(&r, type_width(v->type), &b))
			goto out_corrupt;
		switch (v->type) {
		case HDB_T_INT2:
			v->u.i16 = (int16_t)(uint16_t)((unsigned)b[0] << 8 | b[1]);
			break;
		case HDB_T_INT4:
		case HDB_T_DATE:
			v->u.i32 = (int32_t)get_u32be(b);
			break;
		case HDB_T_INT8:
		case HDB_T_TIMESTAMP:
			v->u.i64 = (int64_t)get_u64be(b);
			break;
		case HDB_T_FLOAT8: {
			uint64_t bits = get_u64be(b);
			memcpy(&v->u.f64, &bits, sizeof(bits));
			break;
		}
		case HDB_T_BOOL:
			if (b[0] > 1)
				goto out_corrupt;
			v->u.b = b[0] == 1;
			break;
		default:
			goto out_corrupt;   /* unreachable: schemas hold valid types */
		}
	}
	if (r.off != r.n)
		goto out_corrupt;
	if (row_check(sc, vals, ncols, NULL, 0))
		goto out_corrupt;
	return row_adopt(vals, ncols, ret);   /* frees vals on failure */

out_corrupt:
	free(vals);
	return HDB_ECORRUPT;
}

/* ------------------------------------------------------- formatting */

/* civil_from_days - the proleptic Gregorian date of a day number (days
 * since 1970-01-01, any sign), after Howard Hinnant's algorithm: shift to
 * eras of 400 years starting on 0000-03-01 so leap days fall at the end. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);                         /* [0, 146096] */
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);              /* [0, 365] */
	unsigned mp = (5 * doy + 2) / 153;                                   /* [0, 11] */
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int format_date(struct buf *out, int64_t days)
{
	int64_t y;
	unsigned m, d;
	civil_from_days(days, &y, &m, &d);
	if (y < 0)
		return buf_printf(out, "-%04lld-%02u-%02u", (long long)-y, m, d);
	return buf_printf(out, "%04lld-%02u-%02u", (long long)y, m, d);
}

#define USEC_PER_DAY INT64_C(86400000000)

static int format_timestamp(struct buf *out, int64_t us)
{
	int64_t days = us / USEC_PER_DAY;
	int64_t rem = us % USEC_PER_DAY;
	if (rem < 0) {
		rem += USEC_PER_DAY;
		days--;
	}
	int rc = format_date(out, days);
	if (rc)
		return rc;
	int64_t secs = rem / 1000000, frac = rem % 1000000;
	rc = buf_printf(out, " %02d:%02d:%02d", (int)(secs / 3600), (int)(secs / 60 % 60),
	                (int)(secs % 60));
	if (rc == HDB_OK && frac)
		rc = buf_printf(out, ".%06d", (int)frac);
	return rc;
}

/* row_format_value - appends the text of v to out (no NUL).  HDB_EINVAL
 * for an unknown type, HDB_ENOMEM. */
int row_format_value(const struct hdb_value *v, struct buf *out)
{
	if (!v || !out || !type_valid((unsigned)v->type))
		return HDB_EINVAL;
	if (v->is_null)
		return buf_append(out, "NULL", 4);
	switch (v->type) {
	case HDB_T_INT2: return buf_printf(out, "%d", (int)v->u.i16);
	case HDB_T_INT4: return buf_printf(out, "%ld", (long)v->u.i32);
	case HDB_T_INT8: return buf_printf(out, "%lld", (long long)v->u.i64);
	case HDB_T_FLOAT8: return buf_printf(out, "%.17g", v->u.f64);
	case HDB_T_BOOL: return buf_putc(out, v->u.b ? 't' : 'f');
	case HDB_T_DATE: return format_date(out, v->u.i32);
	case HDB_T_TIMESTAMP: return format_timestamp(out, v->u.i64);
	case HDB_T_NUMERIC:
	case HDB_T_TEXT:
		if (!v->u.s.ptr && v->u.s.len)
			return HDB_EINVAL;
		return buf_append(out, v->u.s.ptr, v->u.s.len);
	case HDB_T_BYTEA: {
		static const char digits[] = "0123456789abcdef";
		const unsigned char *s = (const unsigned char *)v->u.s.ptr;
		if ((!s && v->u.s.len) || v->u.s.len > (SIZE_MAX - 2) / 2)
			return HDB_EINVAL;
		int rc = buf_reserve(out, 2 + 2 * v->u.s.len);
		if (rc)
			return rc;
		out->p[out->len++] = '\\';
		out->p[out->len++] = 'x';
		for (size_t i = 0; i < v->u.s.len; i++) {
			out->p[out->len++] = (unsigned char)digits[s[i] >> 4];
			out->p[out->len++] = (unsigned char)digits[s[i] & 15];
		}
		return HDB_OK;
	}
	}
	return HDB_EINVAL;
}
