/*
 * test_row.c - schemas, rows and their encodings (engine/row.c): schema
 * validation messages, round trips for every type, canonical and injective
 * key encodings, hostile decoder input, and value formatting.
 */
#include "testutil.h"

#include <math.h>

#include "row.h"

/* ------------------------------------------------------------ helpers */

/* A table with one column of every type; "id" is the key. */
static const struct hdb_column_def all_cols[] = {
	{ "id", HDB_T_INT4, false, 1 },
	{ "i2", HDB_T_INT2, false, 0 },
	{ "i8", HDB_T_INT8, false, 0 },
	{ "f8", HDB_T_FLOAT8, false, 0 },
	{ "num", HDB_T_NUMERIC, false, 0 },
	{ "txt", HDB_T_TEXT, false, 0 },
	{ "flag", HDB_T_BOOL, false, 0 },
	{ "blob", HDB_T_BYTEA, false, 0 },
	{ "day", HDB_T_DATE, false, 0 },
	{ "ts", HDB_T_TIMESTAMP, true, 0 },
};
#define NALL ARRAY_SIZE(all_cols)

static struct hdb_schema *mk_schema(const struct hdb_column_def *cols, size_t n)
{
	struct hdb_schema *sc = NULL;
	char err[256] = "";
	int rc = schema_new("t", 7, cols, n, &sc, err, sizeof(err));
	if (rc)
		fail_msg("schema_new: %s", err);
	return sc;
}

static struct hdb_schema *all_schema(void)
{
	return mk_schema(all_cols, NALL);
}

/* expect_schema_err - schema_new fails with HDB_EINVAL and exactly msg. */
static void expect_schema_err(const char *table, const struct hdb_column_def *cols, size_t n,
                              const char *msg)
{
	struct hdb_schema *sc = NULL;
	char err[256] = "";
	assert_int_equal(schema_new(table, 1, cols, n, &sc, err, sizeof(err)), HDB_EINVAL);
	assert_null(sc);
	assert_string_equal(err, msg);
}

static bool value_eq(const struct hdb_value *a, const struct hdb_value *b)
{
	if (a->type != b->type || a->is_null != b->is_null)
		return false;
	if (a->is_null)
		return true;
	switch (a->type) {
	case HDB_T_INT2: return a->u.i16 == b->u.i16;
	case HDB_T_INT4: case HDB_T_DATE: return a->u.i32 == b->u.i32;
	case HDB_T_INT8: case HDB_T_TIMESTAMP: return a->u.i64 == b->u.i64;
	case HDB_T_FLOAT8: return memcmp(&a->u.f64, &b->u.f64, sizeof(double)) == 0;
	case HDB_T_BOOL: return a->u.b == b->u.b;
	default:
		return a->u.s.len == b->u.s.len &&
		       (a->u.s.len == 0 || memcmp(a->u.s.ptr, b->u.s.ptr, a->u.s.len) == 0);
	}
}

/* roundtrip - encodes, decodes, compares value by value and re-encodes. */
static void roundtrip(const struct hdb_schema *sc, const struct hdb_value *vals)
{
	struct buf b = {0}, b2 = {0};
	char err[256] = "";
	if (row_check(sc, vals, sc->ncols, err, sizeof(err)))
		fail_msg("row_check: %s", err);
	assert_int_equal(row_encode(sc, vals, &b), HDB_OK);
	struct hdb_row *r = NULL;
	assert_int_equal(row_decode(sc, b.p, b.len, &r), HDB_OK);
	assert_int_equal(hdb_row_ncolumns(r), sc->ncols);
	for (size_t i = 0; i < sc->ncols; i++) {
		const struct hdb_value *v = hdb_row_value(r, i);
		assert_non_null(v);
		assert_true(value_eq(v, &vals[i]));
		if (!v->is_null && (v->type == HDB_T_TEXT || v->type == HDB_T_BYTEA ||
		                    v->type == HDB_T_NUMERIC)) {
			/* payloads live inside the row's own data */
			assert_true((const unsigned char *)v->u.s.ptr >= r->data);
			assert_true((const unsigned char *)v->u.s.ptr + v->u.s.len <=
			            r->data + r->datalen);
			assert_int_equal(v->u.s.ptr[v->u.s.len], '\0');
		}
	}
	assert_null(hdb_row_value(r, sc->ncols));
	assert_int_equal(row_encode(sc, r->vals, &b2), HDB_OK);
	assert_int_equal(b.len, b2.len);
	assert_memory_equal(b.p, b2.p, b.len);
	hdb_row_free(r);
	buf_free(&b);
	buf_free(&b2);
}

static void fmt_is(const struct hdb_value *v, const char *want)
{
	struct buf b = {0};
	assert_int_equal(row_format_value(v, &b), HDB_OK);
	assert_int_equal(buf_putc(&b, 0), HDB_OK);
	assert_string_equal((const char *)b.p, want);
	buf_free(&b);
}

/* pk bytes of a one-column-key table of type t */
static void pk1(enum hdb_type t, struct hdb_value v, struct buf *out)
{
	struct hdb_column_def c[] = { { "k", t, false, 1 } };
	struct hdb_schema *sc = mk_schema(c, 1);
	char err[256] = "";
	if (row_check_pk(sc, &v, 1, err, sizeof(err)))
		fail_msg("row_check_pk: %s", err);
	assert_int_equal(row_encode_pk(sc, &v, 1, out), HDB_OK);
	hdb_schema_free(sc);
}

static bool pk_same(enum hdb_type t, struct hdb_value a, struct hdb_value b)
{
	struct buf x = {0}, y = {0};
	pk1(t, a, &x);
	pk1(t, b, &y);
	bool same = x.len == y.len && memcmp(x.p, y.p, x.len) == 0;
	buf_free(&x);
	buf_free(&y);
	return same;
}

/* ------------------------------------------------------------- tests */

static void test_type_names(void **state)
{
	(void)state;
	assert_string_equal(hdb_type_name(HDB_T_INT2), "INT2");
	assert_string_equal(hdb_type_name(HDB_T_INT4), "INT4");
	assert_string_equal(hdb_type_name(HDB_T_INT8), "INT8");
	assert_string_equal(hdb_type_name(HDB_T_FLOAT8), "FLOAT8");
	assert_string_equal(hdb_type_name(HDB_T_NUMERIC), "NUMERIC");
	assert_string_equal(hdb_type_name(HDB_T_TEXT), "TEXT");
	assert_string_equal(hdb_type_name(HDB_T_BOOL), "BOOL");
	assert_string_equal(hdb_type_name(HDB_T_BYTEA), "BYTEA");
	assert_string_equal(hdb_type_name(HDB_T_DATE), "DATE");
	assert_string_equal(hdb_type_name(HDB_T_TIMESTAMP), "TIMESTAMP");
	assert_null(hdb_type_name((enum hdb_type)0));
	assert_null(hdb_type_name((enum hdb_type)11));
	assert_null(hdb_type_name((enum hdb_type)-1));
}

static void test_constructors(void **state)
{
	(void)state;
	struct hdb_value v = hdb_null(HDB_T_TEXT);
	assert_true(v.is_null);
	assert_int_equal(v.type, HDB_T_TEXT);
	v = hdb_int2(-32768);
	assert_int_equal(v.type, HDB_T_INT2);
	assert_false(v.is_null);
	assert_int_equal(v.u.i16, -32768);
	v = hdb_int4(INT32_MIN);
	assert_int_equal(v.u.i32, INT32_MIN);
	v = hdb_int8(INT64_MAX);
	assert_true(v.u.i64 == INT64_MAX);
	v = hdb_float8(1.5);
	assert_true(v.u.f64 == 1.5);
	v = hdb_bool(true);
	assert_true(v.u.b);
	v = hdb_text("héllo");
	assert_int_equal(v.type, HDB_T_TEXT);
	assert_int_equal(v.u.s.len, 6);
	v = hdb_textn("abc", 2);
	assert_int_equal(v.u.s.len, 2);
	v = hdb_bytea("\0\1", 2);
	assert_int_equal(v.type, HDB_T_BYTEA);
	assert_int_equal(v.u.s.len, 2);
	v = hdb_numeric("-12.50");
	assert_int_equal(v.type, HDB_T_NUMERIC);
	assert_int_equal(v.u.s.len, 6);
	v = hdb_date(-1);
	assert_int_equal(v.type, HDB_T_DATE);
	assert_int_equal(v.u.i32, -1);
	v = hdb_timestamp(-5);
	assert_int_equal(v.type, HDB_T_TIMESTAMP);
	assert_true(v.u.i64 == -5);
	v = hdb_text(NULL);
	assert_true(v.is_null);
	assert_int_equal(v.type, HDB_T_TEXT);
	v = hdb_numeric(NULL);
	assert_true(v.is_null);
}

static void test_schema_new_ok(void **state)
{
	(void)state;
	struct hdb_column_def cols[] = {
		{ "b", HDB_T_TEXT, false, 2 },
		{ "x", HDB_T_INT8, false, 0 },
		{ "a", HDB_T_INT4, false, 1 },
		{ "X", HDB_T_BOOL, true, 0 },      /* names are case-sensitive */
	};
	struct hdb_schema *sc = mk_schema(cols, 4);
	assert_string_equal(hdb_schema_table(sc), "t");
	assert_int_equal(hdb_schema_ncolumns(sc), 4);
	assert_int_equal(sc->table_id, 7);
	assert_int_equal(sc->npk, 2);
	assert_int_equal(sc->pk_cols[0], 2);
	assert_int_equal(sc->pk_cols[1], 0);
	assert_true(hdb_schema_column(sc, 0)->not_null);   /* forced for key columns */
	assert_true(hdb_schema_column(sc, 2)->not_null);
	assert_false(hdb_schema_column(sc, 1)->not_null);
	assert_true(hdb_schema_column(sc, 3)->not_null);
	assert_string_equal(hdb_schema_column(sc, 1)->name, "x");
	assert_ptr_not_equal(hdb_schema_column(sc, 1)->name, cols[1].name);  /* copied */
	assert_null(hdb_schema_column(sc, 4));
	assert_int_equal(hdb_schema_ncolumns(NULL), 0);
	assert_null(hdb_schema_column(NULL, 0));
	assert_null(hdb_schema_table(NULL));
	hdb_schema_free(sc);
	hdb_schema_free(NULL);

	/* no key at all is fine; 63-byte names are fine */
	char n63[64];
	memset(n63, 'n', 63);
	n63[63] = '\0';
	struct hdb_column_def c2[] = { { n63, HDB_T_TEXT, false, 0 } };
	struct hdb_schema *s2 = NULL;
	char err[256];
	assert_int_equal(schema_new(n63, 1, c2, 1, &s2, err, sizeof(err)), HDB_OK);
	assert_int_equal(s2->npk, 0);
	assert_string_equal(s2->table, n63);
	hdb_schema_free(s2);

	/* UTF-8 names are fine */
	struct hdb_column_def c3[] = { { "prénom", HDB_T_TEXT, false, 1 } };
	sc = mk_schema(c3, 1);
	hdb_schema_free(sc);
}

static void test_schema_new_errors(void **state)
{
	(void)state;
	char n64[65];
	memset(n64, 'n', 64);
	n64[64] = '\0';
	struct hdb_column_def one[] = { { "a", HDB_T_INT4, false, 0 } };

	expect_schema_err("", one, 1, "table name must be 1..63 bytes");
	expect_schema_err(n64, one, 1, "table name must be 1..63 bytes");
	expect_schema_err("a\tb", one, 1, "table name contains a control character");
	expect_schema_err("a\x7f", one, 1, "table name contains a control character");
	expect_schema_err("a\xff", one, 1, "table name is not valid UTF-8");
	expect_schema_err("t", one, 0, "a table must have 1..1600 columns");

	struct hdb_column_def dup[] = {
		{ "id", HDB_T_INT4, false, 1 },
		{ "ssn", HDB_T_TEXT, false, 0 },
		{ "name", HDB_T_TEXT, false, 0 },
		{ "ssn", HDB_T_TEXT, false, 0 },
	};
	expect_schema_err("t", dup, 4, "column 'ssn': duplicate column name");

	struct hdb_column_def empty[] = { { "a", HDB_T_INT4, false, 0 }, { "", HDB_T_INT4, false, 0 } };
	expect_schema_err("t", empty, 2, "column 2: name must be 1..63 bytes");
	struct hdb_column_def lng[] = { { n64, HDB_T_INT4, false, 0 } };
	expect_schema_err("t", lng, 1, "column 1: name must be 1..63 bytes");
	struct hdb_column_def ctl[] = { { "a\nb", HDB_T_INT4, false, 0 } };
	expect_schema_err("t", ctl, 1, "column 1: name contains a control character");
	struct hdb_column_def nul[] = { { NULL, HDB_T_INT4, false, 0 } };
	expect_schema_err("t", nul, 1, "column 1: name missing");
	struct hdb_column_def badt[] = { { "a", (enum hdb_type)0, false, 0 } };
	expect_schema_err("t", badt, 1, "column 'a': unknown type 0");
	struct hdb_column_def badt2[] = { { "a", (enum hdb_type)11, false, 0 } };
	expect_schema_err("t", badt2, 1, "column 'a': unknown type 11");

	struct hdb_column_def gap[] = { { "a", HDB_T_INT4, false, 1 }, { "b", HDB_T_INT4, false, 3 } };
	expect_schema_err("t", gap, 2, "primary key positions must be 1..2 without gaps");
	struct hdb_column_def twice[] = { { "a", HDB_T_INT4, false, 1 }, { "b", HDB_T_INT4, false, 1 } };
	expect_schema_err("t", twice, 2, "primary key positions must be 1..2 without gaps");
	struct hdb_column_def from2[] = { { "a", HDB_T_INT4, false, 2 }, { "b", HDB_T_INT4, false, 0 } };
	expect_schema_err("t", from2, 2, "primary key positions must be 1..1 without gaps");

	/* column count limits */
	struct hdb_column_def *many = calloc(1601, sizeof(*many));
	char (*names)[8] = calloc(1601, sizeof(*names));
	assert_non_null(many);
	assert_non_null(names);
	for (size_t i = 0; i < 1601; i++) {
		snprintf(names[i], sizeof(names[i]), "c%zu", i);
		many[i].name = names[i];
		many[i].type = HDB_T_INT2;
	}
	expect_schema_err("t", many, 1601, "a table must have 1..1600 columns");
	struct hdb_schema *sc = NULL;
	char err[256];
	assert_int_equal(schema_new("t", 1, many, 1600, &sc, err, sizeof(err)), HDB_OK);
	assert_int_equal(sc->ncols, 1600);
	hdb_schema_free(sc);
	/* key column limit */
	for (size_t i = 0; i < 33; i++)
		many[i].pk_position = (unsigned)i + 1;
	expect_schema_err("t", many, 40, "primary key may have at most 32 columns, got 33");
	many[32].pk_position = 0;
	sc = NULL;
	assert_int_equal(schema_new("t", 1, many, 40, &sc, err, sizeof(err)), HDB_OK);
	assert_int_equal(sc->npk, 32);
	hdb_schema_free(sc);
	free(many);
	free(names);

	/* NULL arguments */
	assert_int_equal(schema_new(NULL, 1, one, 1, &sc, err, sizeof(err)), HDB_EINVAL);
	assert_int_equal(schema_new("t", 1, NULL, 1, &sc, err, sizeof(err)), HDB_EINVAL);
	/* err may be NULL */
	assert_int_equal(schema_new("", 1, one, 1, &sc, NULL, 0), HDB_EINVAL);
}

static void test_schema_encoding_exact(void **state)
{
	(void)state;
	struct hdb_column_def cols[] = {
		{ "id", HDB_T_INT4, false, 1 },
		{ "nm", HDB_T_TEXT, true, 0 },
		{ "x", HDB_T_BYTEA, false, 0 },
	};
	struct hdb_schema *sc = NULL;
	char err[256];
	assert_int_equal(schema_new("tb", 0x01020304, cols, 3, &sc, err, sizeof(err)), HDB_OK);
	static const unsigned char want[] = {
		1, 1, 2, 3, 4, 2, 't', 'b', 0, 3,
		2, 'i', 'd', HDB_T_INT4, 1, 1,
		2, 'n', 'm', HDB_T_TEXT, 1, 0,
		1, 'x', HDB_T_BYTEA, 0, 0,
	};
	struct buf b = {0};
	assert_int_equal(buf_putc(&b, 0xee), HDB_OK);   /* encoders append */
	assert_int_equal(schema_encode(sc, &b), HDB_OK);
	assert_int_equal(b.len, 1 + sizeof(want));
	assert_memory_equal(b.p + 1, want, sizeof(want));

	struct hdb_schema *d = NULL;
	assert_int_equal(schema_decode(want, sizeof(want), &d), HDB_OK);
	assert_string_equal(d->table, "tb");
	assert_int_equal(d->table_id, 0x01020304);
	assert_int_equal(d->ncols, 3);
	assert_int_equal(d->npk, 1);
	assert_int_equal(d->pk_cols[0], 0);
	assert_string_equal(d->cols[1].name, "nm");
	assert_int_equal(d->cols[2].type, HDB_T_BYTEA);
	assert_true(d->cols[1].not_null);
	assert_false(d->cols[2].not_null);

	struct hdb_schema *dd = NULL;
	assert_int_equal(schema_dup(d, &dd), HDB_OK);
	buf_reset(&b);
	assert_int_equal(schema_encode(dd, &b), HDB_OK);
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.p, want, sizeof(want));
	hdb_schema_free(dd);
	hdb_schema_free(d);
	hdb_schema_free(sc);
	buf_free(&b);
}

static void test_schema_decode_hostile(void **state)
{
	(void)state;
	struct hdb_schema *sc = all_schema();
	struct buf b = {0};
	assert_int_equal(schema_encode(sc, &b), HDB_OK);
	struct hdb_schema *d = NULL;
	assert_int_equal(schema_decode(b.p, b.len, &d), HDB_OK);
	hdb_schema_free(d);

	/* every truncation, from a heap copy so ASan sees over-reads */
	for (size_t n = 0; n < b.len; n++) {
		unsigned char *t = malloc(n ? n : 1);
		assert_non_null(t);
		memcpy(t, b.p, n);
		d = NULL;
		assert_int_equal(schema_decode(t, n, &d), HDB_ECORRUPT);
		assert_null(d);
		free(t);
	}
	/* trailing garbage */
	unsigned char *g = malloc(b.len + 1);
	memcpy(g, b.p, b.len);
	g[b.len] = 0;
	assert_int_equal(schema_decode(g, b.len + 1, &d), HDB_ECORRUPT);
	free(g);

	static const unsigned char base[] = {
		1, 0, 0, 0, 1, 1, 't', 0, 2,
		1, 'a', HDB_T_INT4, 1, 1,
		1, 'b', HDB_T_TEXT, 0, 0,
	};
	unsigned char m[sizeof(base)];
	assert_int_equal(schema_decode(base, sizeof(base), &d), HDB_OK);
	hdb_schema_free(d);
#define MUTATE(off, val)                                                        \
	do {                                                                    \
		memcpy(m, base, sizeof(base));                                  \
		m[off] = (val);                                                 \
		d = NULL;                                                       \
		assert_int_equal(schema_decode(m, sizeof(m), &d), HDB_ECORRUPT); \
		assert_null(d);                                                 \
	} while (0)
	MUTATE(0, 2);            /* version */
	MUTATE(0, 0);
	MUTATE(5, 0);            /* empty table name */
	MUTATE(5, 64);           /* table name length past the end */
	MUTATE(6, 0);            /* NUL in table name */
	MUTATE(6, '\n');         /* control character */
	MUTATE(6, 0xc3);         /* broken UTF-8 */
	MUTATE(8, 0);            /* zero columns */
	MUTATE(8, 3);            /* more columns than bytes */
	MUTATE(7, 0x07);         /* 1794 columns */
	MUTATE(10, 'b');         /* duplicate name */
	MUTATE(11, 0);           /* unknown type */
	MUTATE(11, 11);
	MUTATE(12, 0);           /* key column without not_null */
	MUTATE(12, 3);           /* unknown flag bit */
	MUTATE(17, 0x80);
	MUTATE(13, 2);           /* key position 2 of 1 */
	MUTATE(18, 1);           /* two columns at position 1 */
	MUTATE(9, 0);            /* empty column name */
	MUTATE(9, 200);          /* column name length past the end */
#undef MUTATE
	assert_int_equal(schema_decode(NULL, 0, &d), HDB_ECORRUPT);
	hdb_schema_free(sc);
	buf_free(&b);
}

static void test_row_roundtrip_all_types(void **state)
{
	(void)state;
	struct hdb_schema *sc = all_schema();
	static const unsigned char blob[] = { 0, 1, 2, 0xff, 0 };
	struct hdb_value v[NALL] = {
		hdb_int4(42), hdb_int2(-7), hdb_int8(1234567890123LL), hdb_float8(-2.5),
		hdb_numeric("-12.340"), hdb_text("héllo wörld ✓ 😀"), hdb_bool(true),
		hdb_bytea(blob, sizeof(blob)), hdb_date(11016), hdb_timestamp(-1),
	};
	roundtrip(sc, v);

	/* extremes */
	struct hdb_value mx[NALL] = {
		hdb_int4(INT32_MAX), hdb_int2(INT16_MAX), hdb_int8(INT64_MAX), hdb_float8(HUGE_VAL),
		hdb_numeric("0"), hdb_text(""), hdb_bool(false),
		hdb_bytea(NULL, 0), hdb_date(INT32_MAX), hdb_timestamp(INT64_MAX),
	};
	roundtrip(sc, mx);
	struct hdb_value mn[NALL] = {
		hdb_int4(INT32_MIN), hdb_int2(INT16_MIN), hdb_int8(INT64_MIN), hdb_float8(-0.0),
		hdb_numeric(".5"), hdb_textn("a\0b", 3), hdb_bool(true),
		hdb_bytea("", 0), hdb_date(INT32_MIN), hdb_timestamp(INT64_MIN),
	};
	roundtrip(sc, mn);
	struct hdb_value nan[NALL] = {
		hdb_int4(0), hdb_int2(0), hdb_int8(0), hdb_float8(NAN),
		hdb_numeric("+0.000"), hdb_text("x"), hdb_bool(false),
		hdb_bytea("x", 1), hdb_date(0), hdb_timestamp(0),
	};
	roundtrip(sc, nan);

	/* all nullable columns NULL */
	struct hdb_value nul[NALL];
	for (size_t i = 0; i < NALL; i++)
		nul[i] = hdb_null(all_cols[i].type);
	nul[0] = hdb_int4(1);
	nul[9] = hdb_timestamp(1);
	roundtrip(sc, nul);
	hdb_schema_free(sc);
}

static void test_row_encoding_exact(void **state)
{
	(void)state;
	struct hdb_column_def cols[] = {
		{ "a", HDB_T_INT2, false, 1 },
		{ "b", HDB_T_TEXT, false, 0 },
		{ "c", HDB_T_BOOL, false, 0 },
		{ "d", HDB_T_INT8, false, 0 },
	};
	struct hdb_schema *sc = mk_schema(cols, 4);
	struct hdb_value v[] = { hdb_int2(-2), hdb_text("hi"), hdb_null(HDB_T_BOOL), hdb_int8(258) };
	static const unsigned char want[] = {
		1, 0, 4, 0x04,
		0xff, 0xfe,
		0, 0, 0, 2, 'h', 'i',
		0, 0, 0, 0, 0, 0, 1, 2,
	};
	struct buf b = {0};
	assert_int_equal(row_encode(sc, v, &b), HDB_OK);
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.p, want, sizeof(want));

	/* the key: type byte, then the value as in a row */
	static const unsigned char wantpk[] = { HDB_T_INT2, 0xff, 0xfe };
	buf_reset(&b);
	assert_int_equal(row_encode_pk_of_row(sc, v, &b), HDB_OK);
	assert_int_equal(b.len, sizeof(wantpk));
	assert_memory_equal(b.p, wantpk, sizeof(wantpk));
	buf_reset(&b);
	assert_int_equal(row_encode_pk(sc, v, 1, &b), HDB_OK);
	assert_memory_equal(b.p, wantpk, sizeof(wantpk));

	/* type mismatch: nothing appended */
	buf_reset(&b);
	struct hdb_value bad[] = { hdb_int4(1), hdb_text("hi"), hdb_bool(1), hdb_int8(1) };
	assert_int_equal(row_encode(sc, bad, &b), HDB_EINVAL);
	assert_int_equal(b.len, 0);
	assert_int_equal(row_encode_pk(sc, bad, 1, &b), HDB_EINVAL);
	assert_int_equal(row_encode_pk(sc, v, 2, &b), HDB_EINVAL);
	struct hdb_value nk = hdb_null(HDB_T_INT2);
	assert_int_equal(row_encode_pk(sc, &nk, 1, &b), HDB_EINVAL);
	assert_int_equal(b.len, 0);
	buf_free(&b);
	hdb_schema_free(sc);
}

static void test_row_large_values(void **state)
{
	(void)state;
	struct hdb_column_def cols[] = {
		{ "t", HDB_T_TEXT, false, 0 },
		{ "b", HDB_T_BYTEA, false, 0 },
	};
	struct hdb_schema *sc = mk_schema(cols, 2);
	size_t n = 3u << 20;
	char *big = malloc(n);
	assert_non_null(big);
	memset(big, 'z', n);
	struct hdb_value v[] = { hdb_textn(big, n), hdb_bytea(big, n) };
	roundtrip(sc, v);

	/* over the limit: refused without reading the bytes */
	char err[256];
	struct hdb_value over[] = { hdb_textn(big, ROW_MAX_VALUE_LEN + 1), hdb_bytea("", 0) };
	assert_int_equal(row_check(sc, over, 2, err, sizeof(err)), HDB_ECONSTRAINT);
	assert_string_equal(err, "column 't': value of 67108865 bytes exceeds the limit of 67108864 bytes");
	struct buf b = {0};
	assert_int_equal(row_encode(sc, over, &b), HDB_EINVAL);
	assert_int_equal(b.len, 0);
	buf_free(&b);
	free(big);
	hdb_schema_free(sc);
}

static void test_row_decode_hostile(void **state)
{
	(void)state;
	struct hdb_schema *sc = all_schema();
	struct hdb_value v[NALL] = {
		hdb_int4(42), hdb_int2(-7), hdb_null(HDB_T_INT8), hdb_float8(3.25),
		hdb_numeric("1.5"), hdb_text("abc"), hdb_bool(true),
		hdb_bytea("\x01\x02", 2), hdb_null(HDB_T_DATE), hdb_timestamp(5),
	};
	struct buf b = {0};
	assert_int_equal(row_encode(sc, v, &b), HDB_OK);
	struct hdb_row *r = NULL;
	for (size_t n = 0; n < b.len; n++) {
		unsigned char *t = malloc(n ? n : 1);
		assert_non_null(t);
		memcpy(t, b.p, n);
		r = NULL;
		assert_int_equal(row_decode(sc, t, n, &r), HDB_ECORRUPT);
		assert_null(r);
		free(t);
	}
	unsigned char *m = malloc(b.len + 1);
	assert_non_null(m);
	memcpy(m, b.p, b.len);
	m[b.len] = 0;
	assert_int_equal(row_decode(sc, m, b.len + 1, &r), HDB_ECORRUPT);  /* trailing byte */
	assert_int_equal(row_decode(sc, m, b.len, &r), HDB_OK);
	hdb_row_free(r);
	r = NULL;

	/* layout: 0 version, 1-2 ncols, 3-4 bitmap, 5-8 id, 9-10 i2, 11-18 f8,
	 * 19-22 numlen, 23-25 "1.5", 26-29 txtlen, 30-32 "abc", 33 bool, ... */
	assert_int_equal(b.p[3], 0x04);
	assert_int_equal(b.p[4], 0x01);
	assert_int_equal(b.p[33], 1);
#define MUTATE(off, val)                                                            \
	do {                                                                        \
		memcpy(m, b.p, b.len);                                              \
		m[off] = (unsigned char)(val);                                      \
		r = NULL;                                                           \
		assert_int_equal(row_decode(sc, m, b.len, &r), HDB_ECORRUPT);       \
		assert_null(r);                                                     \
	} while (0)
	MUTATE(0, 2);              /* version */
	MUTATE(2, 9);              /* column count differs from the schema */
	MUTATE(1, 1);
	MUTATE(4, 0x05);           /* padding bit past the last column */
	MUTATE(4, 0x03);           /* ts (NOT NULL) marked NULL */
	MUTATE(3, 0x05);           /* id (key) marked NULL */
	MUTATE(3, 0x00);           /* i8 not null: the bytes no longer line up */
	MUTATE(22, 2);             /* numeric length */
	MUTATE(19, 0x80);          /* numeric length past the end and over the limit */
	MUTATE(24, 'x');           /* NUMERIC syntax */
	MUTATE(31, 0xc0);          /* TEXT not UTF-8 */
	MUTATE(33, 2);             /* BOOL not 0/1 */
	MUTATE(33, 0xff);
#undef MUTATE
	/* a column count/type mismatch with the schema */
	struct hdb_column_def other[] = { { "id", HDB_T_INT4, false, 1 } };
	struct hdb_schema *sc2 = mk_schema(other, 1);
	assert_int_equal(row_decode(sc2, b.p, b.len, &r), HDB_ECORRUPT);
	hdb_schema_free(sc2);
	assert_int_equal(row_decode(sc, NULL, 0, &r), HDB_ECORRUPT);
	free(m);
	buf_free(&b);
	hdb_schema_free(sc);
}

static void test_row_check_messages(void **state)
{
	(void)state;
	struct hdb_column_def cols[] = {
		{ "id", HDB_T_INT4, false, 1 },
		{ "name", HDB_T_TEXT, true, 0 },
		{ "amt", HDB_T_NUMERIC, false, 0 },
		{ "note", HDB_T_TEXT, false, 0 },
	};
	struct hdb_schema *sc = mk_schema(cols, 4);
	char err[256];
	struct hdb_value ok[] = { hdb_int4(1), hdb_text("a"), hdb_numeric("-1.50"), hdb_null(HDB_T_TEXT) };
	assert_int_equal(row_check(sc, ok, 4, err, sizeof(err)), HDB_OK);

	assert_int_equal(row_check(sc, ok, 3, err, sizeof(err)), HDB_EINVAL);
	assert_string_equal(err, "expected 4 values (one per column), got 3");

	struct hdb_value v[4];
	memcpy(v, ok, sizeof(v));
	v[0] = hdb_text("1");
	assert_int_equal(row_check(sc, v, 4, err, sizeof(err)), HDB_ECONSTRAINT);
	assert_string_equal(err, "column 'id' is INT4, got TEXT");
	v[0] = hdb_int8(1);
	assert_int_equal(row_check(sc, v, 4, err, sizeof(err)), HDB_ECONSTRAINT);
	assert_string_equal(err, "column 'id' is INT4, got INT8");
	v[0] = hdb_null(HDB_T_INT4);
	assert_int_equal(row_check(sc, v, 4, err, sizeof(err)), HDB_ECONSTRAINT);
	assert_string_equal(err, "column 'id' is NOT NULL");
	v[0] = ok[0];
	v[0].type = (enum hdb_type)99;
	assert_int_equal(row_check(sc, v, 4, err, sizeof(err)), HDB_ECONSTRAINT);
	assert_string_equal(err, "column 'id' is INT4, got type 99");
	v[0] = ok[0];

	v[1] = hdb_null(HDB_T_TEXT);
	assert_int_equal(row_check(sc, v, 4, err, sizeof(err)), HDB_ECONSTRAINT);
	assert_string_equal(err, "column 'name' is NOT NULL");
	v[1] = hdb_null(HDB_T_INT4);   /* the type is checked first */
	assert_int_equal(row_check(sc, v, 4, err, sizeof(err)), HDB_ECONSTRAINT);
	assert_string_equal(err, "column 'name' is TEXT, got INT4");
	v[1] = hdb_textn("\xed\xa0\x80", 3);
	assert_int_equal(row_check(sc, v, 4, err, sizeof(err)), HDB_ECONSTRAINT);
	assert_string_equal(err, "column 'name': invalid UTF-8 in TEXT value");
	v[1] = hdb_textn(NULL, 3);
	assert_int_equal(row_check(sc, v, 4, err, sizeof(err)), HDB_EINVAL);
	assert_string_equal(err, "column 'name': value pointer is NULL");
	v[1] = ok[1];

	v[2] = hdb_numeric("1,5");
	assert_int_equal(row_check(sc, v, 4, err, sizeof(err)), HDB_ECONSTRAINT);
	assert_string_equal(err, "column 'amt': invalid NUMERIC value");
	v[2] = hdb_null(HDB_T_NUMERIC);
	assert_int_equal(row_check(sc, v, 4, err, sizeof(err)), HDB_OK);

	/* row_check_pk */
	struct hdb_value k = hdb_int4(5);
	assert_int_equal(row_check_pk(sc, &k, 1, err, sizeof(err)), HDB_OK);
	assert_int_equal(row_check_pk(sc, &k, 2, err, sizeof(err)), HDB_EINVAL);
	assert_string_equal(err, "expected 1 primary key values, got 2");
	k = hdb_text("5");
	assert_int_equal(row_check_pk(sc, &k, 1, err, sizeof(err)), HDB_ECONSTRAINT);
	assert_string_equal(err, "column 'id' is INT4, got TEXT");
	k = hdb_null(HDB_T_INT4);
	assert_int_equal(row_check_pk(sc, &k, 1, err, sizeof(err)), HDB_ECONSTRAINT);
	assert_string_equal(err, "column 'id' is part of the primary key and cannot be NULL");
	hdb_schema_free(sc);
}

static void test_utf8(void **state)
{
	(void)state;
	struct hdb_column_def cols[] = { { "s", HDB_T_TEXT, false, 0 } };
	struct hdb_schema *sc = mk_schema(cols, 1);
	static const struct { const char *s; size_t n; bool ok; } cases[] = {
		{ "plain", 5, true },
		{ "\xc2\x80", 2, true },              /* U+0080 */
		{ "\xdf\xbf", 2, true },              /* U+07FF */
		{ "\xe0\xa0\x80", 3, true },          /* U+0800 */
		{ "\xef\xbf\xbf", 3, true },          /* U+FFFF */
		{ "\xed\x9f\xbf", 3, true },          /* U+D7FF */
		{ "\xf0\x90\x80\x80", 4, true },      /* U+10000 */
		{ "\xf4\x8f\xbf\xbf", 4, true },      /* U+10FFFF */
		{ "\xc0\x80", 2, false },             /* overlong NUL */
		{ "\xc1\xbf", 2, false },             /* overlong */
		{ "\xe0\x80\x80", 3, false },         /* overlong */
		{ "\xe0\x9f\xbf", 3, false },         /* overlong */
		{ "\xf0\x80\x80\x80", 4, false },     /* overlong */
		{ "\xf0\x8f\xbf\xbf", 4, false },     /* overlong */
		{ "\xed\xa0\x80", 3, false },         /* U+D800 */
		{ "\xed\xbf\xbf", 3, false },         /* U+DFFF */
		{ "\xf4\x90\x80\x80", 4, false },     /* U+110000 */
		{ "\xf5\x80\x80\x80", 4, false },
		{ "\xff", 1, false },
		{ "\x80", 1, false },                 /* lone continuation */
		{ "\xc3", 1, false },                 /* truncated */
		{ "\xe2\x82", 2, false },             /* truncated */
		{ "\xe2\x28\xa1", 3, false },         /* bad continuation */
		{ "a\xf0\x9f\x98", 4, false },        /* truncated at the end */
	};
	char err[256];
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct hdb_value v = hdb_textn(cases[i].s, cases[i].n);
		int rc = row_check(sc, &v, 1, err, sizeof(err));
		if ((rc == HDB_OK) != cases[i].ok)
			fail_msg("utf8 case %zu: got %d", i, rc);
	}
	hdb_schema_free(sc);
}

static void test_numeric_check(void **state)
{
	(void)state;
	static const char *const good[] = {
		"0", "1", "-1", "+1", "1.5", "-0.5", ".5", "-.5", "+.5", "007", "1.000", "-0",
	};
	static const char *const bad[] = {
		"", "+", "-", ".", "1.", "-1.", "1e5", "1.2.3", " 1", "1 ", "--1", "+-1", "0x10",
		"1,5", "NaN", "inf", "1..2", ".", "+.", "1.-2",
	};
	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		if (numeric_check(good[i], strlen(good[i])) != HDB_OK)
			fail_msg("'%s' refused", good[i]);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		if (numeric_check(bad[i], strlen(bad[i])) != HDB_EINVAL)
			fail_msg("'%s' accepted", bad[i]);
	assert_int_equal(numeric_check("1\0", 2), HDB_EINVAL);
	assert_int_equal(numeric_check(NULL, 0), HDB_EINVAL);

	char digits[1003];
	memset(digits, '9', sizeof(digits));
	assert_int_equal(numeric_check(digits, 1000), HDB_OK);
	assert_int_equal(numeric_check(digits, 1001), HDB_EINVAL);
	digits[0] = '-';
	digits[500] = '.';
	assert_int_equal(numeric_check(digits, 1002), HDB_OK);   /* 1000 digits */
	assert_int_equal(numeric_check(digits, 1003), HDB_EINVAL);
}

static void test_pk_injective(void **state)
{
	(void)state;
	/* composite text keys: lengths keep ("ab","c") and ("a","bc") apart */
	struct hdb_column_def cols[] = {
		{ "x", HDB_T_TEXT, false, 1 },
		{ "y", HDB_T_TEXT, false, 2 },
	};
	struct hdb_schema *sc = mk_schema(cols, 2);
	struct hdb_value k1[] = { hdb_text("ab"), hdb_text("c") };
	struct hdb_value k2[] = { hdb_text("a"), hdb_text("bc") };
	struct hdb_value k3[] = { hdb_text("ab"), hdb_text("c") };
	struct buf a = {0}, b = {0}, c = {0};
	assert_int_equal(row_encode_pk(sc, k1, 2, &a), HDB_OK);
	assert_int_equal(row_encode_pk(sc, k2, 2, &b), HDB_OK);
	assert_int_equal(row_encode_pk(sc, k3, 2, &c), HDB_OK);
	assert_int_equal(a.len, b.len);
	assert_memory_not_equal(a.p, b.p, a.len);
	assert_int_equal(a.len, c.len);
	assert_memory_equal(a.p, c.p, a.len);   /* deterministic */
	/* key order is pk_position order, not column order */
	struct hdb_column_def rev[] = {
		{ "x", HDB_T_TEXT, false, 2 },
		{ "y", HDB_T_TEXT, false, 1 },
	};
	struct hdb_schema *sr = mk_schema(rev, 2);
	struct hdb_value row[] = { hdb_text("c"), hdb_text("ab") };
	buf_reset(&b);
	assert_int_equal(row_encode_pk_of_row(sr, row, &b), HDB_OK);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.p, b.p, a.len);
	hdb_schema_free(sr);
	buf_free(&a);
	buf_free(&b);
	buf_free(&c);
	hdb_schema_free(sc);

	/* NUMERIC: the same number is the same key */
	assert_true(pk_same(HDB_T_NUMERIC, hdb_numeric("1.0"), hdb_numeric("1.00")));
	assert_true(pk_same(HDB_T_NUMERIC, hdb_numeric("1.0"), hdb_numeric("+1")));
	assert_true(pk_same(HDB_T_NUMERIC, hdb_numeric("1"), hdb_numeric("0001.000")));
	assert_true(pk_same(HDB_T_NUMERIC, hdb_numeric("-0"), hdb_numeric("0")));
	assert_true(pk_same(HDB_T_NUMERIC, hdb_numeric("-0.000"), hdb_numeric("+.0")));
	assert_true(pk_same(HDB_T_NUMERIC, hdb_numeric(".5"), hdb_numeric("0.50")));
	assert_true(pk_same(HDB_T_NUMERIC, hdb_numeric("-.5"), hdb_numeric("-0.5")));
	assert_false(pk_same(HDB_T_NUMERIC, hdb_numeric("1"), hdb_numeric("10")));
	assert_false(pk_same(HDB_T_NUMERIC, hdb_numeric("1"), hdb_numeric("-1")));
	assert_false(pk_same(HDB_T_NUMERIC, hdb_numeric("1.01"), hdb_numeric("1.1")));
	assert_false(pk_same(HDB_T_NUMERIC, hdb_numeric("100"), hdb_numeric("1")));
	assert_false(pk_same(HDB_T_NUMERIC, hdb_numeric("0.1"), hdb_numeric("1")));
	/* the normalised form is what is stored */
	struct buf k = {0};
	pk1(HDB_T_NUMERIC, hdb_numeric("-007.2500"), &k);
	static const unsigned char wantn[] = { HDB_T_NUMERIC, 0, 0, 0, 5, '-', '7', '.', '2', '5' };
	assert_int_equal(k.len, sizeof(wantn));
	assert_memory_equal(k.p, wantn, sizeof(wantn));
	buf_reset(&k);
	pk1(HDB_T_NUMERIC, hdb_numeric("-.000"), &k);
	static const unsigned char wantz[] = { HDB_T_NUMERIC, 0, 0, 0, 1, '0' };
	assert_int_equal(k.len, sizeof(wantz));
	assert_memory_equal(k.p, wantz, sizeof(wantz));
	buf_free(&k);

	/* FLOAT8: -0.0 is 0.0, every NaN is one NaN */
	assert_true(pk_same(HDB_T_FLOAT8, hdb_float8(0.0), hdb_float8(-0.0)));
	uint64_t bits = UINT64_C(0xfff0000000000123);   /* negative NaN with a payload */
	double odd_nan;
	memcpy(&odd_nan, &bits, sizeof(odd_nan));
	assert_true(isnan(odd_nan));
	assert_true(pk_same(HDB_T_FLOAT8, hdb_float8(NAN), hdb_float8(odd_nan)));
	assert_true(pk_same(HDB_T_FLOAT8, hdb_float8(-NAN), hdb_float8(NAN)));
	assert_false(pk_same(HDB_T_FLOAT8, hdb_float8(1.0), hdb_float8(-1.0)));
	assert_false(pk_same(HDB_T_FLOAT8, hdb_float8(NAN), hdb_float8(HUGE_VAL)));
	/* but rows keep the bits as given */
	struct hdb_column_def fc[] = { { "f", HDB_T_FLOAT8, false, 0 } };
	struct hdb_schema *fs = mk_schema(fc, 1);
	struct hdb_value fv = hdb_float8(-0.0);
	roundtrip(fs, &fv);
	fv = hdb_float8(odd_nan);
	roundtrip(fs, &fv);
	hdb_schema_free(fs);

	/* different types never collide: the type byte */
	struct buf x = {0}, y = {0};
	pk1(HDB_T_INT4, hdb_int4(5), &x);
	pk1(HDB_T_DATE, hdb_date(5), &y);
	assert_int_equal(x.len, y.len);
	assert_memory_not_equal(x.p, y.p, x.len);
	buf_free(&x);
	buf_free(&y);

	/* other types are distinct when the values are */
	assert_false(pk_same(HDB_T_INT8, hdb_int8(INT64_MIN), hdb_int8(INT64_MAX)));
	assert_false(pk_same(HDB_T_BOOL, hdb_bool(false), hdb_bool(true)));
	assert_false(pk_same(HDB_T_BYTEA, hdb_bytea("", 0), hdb_bytea("\0", 1)));
	assert_true(pk_same(HDB_T_TEXT, hdb_text(""), hdb_textn("x", 0)));
	assert_false(pk_same(HDB_T_TIMESTAMP, hdb_timestamp(-1), hdb_timestamp(1)));

	/* a table without a key encodes an empty key */
	struct hdb_column_def nk[] = { { "a", HDB_T_INT4, false, 0 } };
	struct hdb_schema *ns = mk_schema(nk, 1);
	struct hdb_value nv = hdb_int4(1);
	assert_int_equal(row_encode_pk_of_row(ns, &nv, &x), HDB_OK);
	assert_int_equal(row_encode_pk(ns, NULL, 0, &x), HDB_OK);
	assert_int_equal(x.len, 0);
	hdb_schema_free(ns);
	buf_free(&x);
}

static void test_format(void **state)
{
	(void)state;
	struct hdb_value v;
	fmt_is(&(struct hdb_value){ .type = HDB_T_INT4, .is_null = true }, "NULL");
	v = hdb_int2(INT16_MIN);
	fmt_is(&v, "-32768");
	v = hdb_int4(INT32_MIN);
	fmt_is(&v, "-2147483648");
	v = hdb_int8(INT64_MIN);
	fmt_is(&v, "-9223372036854775808");
	v = hdb_int8(INT64_MAX);
	fmt_is(&v, "9223372036854775807");
	v = hdb_float8(0.1);
	fmt_is(&v, "0.10000000000000001");
	v = hdb_float8(-2.5);
	fmt_is(&v, "-2.5");
	v = hdb_bool(true);
	fmt_is(&v, "t");
	v = hdb_bool(false);
	fmt_is(&v, "f");
	v = hdb_numeric("+01.50");
	fmt_is(&v, "+01.50");              /* rows keep NUMERIC text as given */
	v = hdb_text("héllo");
	fmt_is(&v, "héllo");
	v = hdb_bytea("\x00\xab\xff", 3);
	fmt_is(&v, "\\x00abff");
	v = hdb_bytea(NULL, 0);
	fmt_is(&v, "\\x");

	v = hdb_date(0);
	fmt_is(&v, "1970-01-01");
	v = hdb_date(11016);
	fmt_is(&v, "2000-02-29");
	v = hdb_date(-1);
	fmt_is(&v, "1969-12-31");
	v = hdb_date(-719162);
	fmt_is(&v, "0001-01-01");
	v = hdb_date(-719163);
	fmt_is(&v, "0000-12-31");
	v = hdb_date(-719529);
	fmt_is(&v, "-0001-12-31");
	v = hdb_date(2932896);
	fmt_is(&v, "9999-12-31");
	v = hdb_date(-141427);             /* Gregorian reform */
	fmt_is(&v, "1582-10-15");
	v = hdb_date(59);                  /* 1970 is not a leap year */
	fmt_is(&v, "1970-03-01");
	v = hdb_date(10957 + 59);          /* 2000 is */
	fmt_is(&v, "2000-02-29");
	v = hdb_date(-25508);              /* 1900 is not */
	fmt_is(&v, "1900-03-01");
	v = hdb_date(INT32_MAX);
	fmt_is(&v, "5881580-07-11");
	v = hdb_date(INT32_MIN);
	fmt_is(&v, "-5877641-06-23");

	v = hdb_timestamp(0);
	fmt_is(&v, "1970-01-01 00:00:00");
	v = hdb_timestamp(-1);
	fmt_is(&v, "1969-12-31 23:59:59.999999");
	v = hdb_timestamp(-1000000);
	fmt_is(&v, "1969-12-31 23:59:59");
	v = hdb_timestamp(-86400000000LL);
	fmt_is(&v, "1969-12-31 00:00:00");
	v = hdb_timestamp(-86400000001LL);
	fmt_is(&v, "1969-12-30 23:59:59.999999");
	v = hdb_timestamp(951782400000000LL + 45296789000LL);   /* 2000-02-29 12:34:56.789 */
	fmt_is(&v, "2000-02-29 12:34:56.789000");
	v = hdb_timestamp(1700000000123456LL);
	fmt_is(&v, "2023-11-14 22:13:20.123456");
	v = hdb_timestamp(INT64_MAX);
	fmt_is(&v, "294247-01-10 04:00:54.775807");
	v = hdb_timestamp(INT64_MIN);
	fmt_is(&v, "-290308-12-21 19:59:05.224192");

	struct buf b = {0};
	v.type = (enum hdb_type)0;
	assert_int_equal(row_format_value(&v, &b), HDB_EINVAL);
	buf_free(&b);
}

static void test_row_new(void **state)
{
	(void)state;
	char text[] = "mutable";
	struct hdb_value v[] = { hdb_text(text), hdb_int4(3), hdb_null(HDB_T_BYTEA),
	                         hdb_bytea(NULL, 0) };
	struct hdb_row *r = NULL;
	assert_int_equal(row_new(v, 4, &r), HDB_OK);
	text[0] = 'X';   /* the row has its own copy */
	const struct hdb_value *t = hdb_row_value(r, 0);
	assert_int_equal(t->u.s.len, 7);
	assert_memory_equal(t->u.s.ptr, "mutable", 7);
	assert_string_equal(t->u.s.ptr, "mutable");      /* NUL-terminated copy */
	assert_int_equal(hdb_row_value(r, 1)->u.i32, 3);
	assert_true(hdb_row_value(r, 2)->is_null);
	assert_non_null(hdb_row_value(r, 3)->u.s.ptr);    /* empty but not NULL */
	assert_int_equal(hdb_row_value(r, 3)->u.s.len, 0);
	assert_int_equal(hdb_row_ncolumns(r), 4);
	hdb_row_free(r);
	hdb_row_free(NULL);
	assert_int_equal(hdb_row_ncolumns(NULL), 0);
	assert_null(hdb_row_value(NULL, 0));

	struct hdb_value bad = hdb_textn(NULL, 2);
	r = NULL;
	assert_int_equal(row_new(&bad, 1, &r), HDB_EINVAL);
	assert_null(r);
	bad.type = (enum hdb_type)42;
	assert_int_equal(row_new(&bad, 1, &r), HDB_EINVAL);
}

/* Many columns: the bitmap spans several bytes. */
static void test_row_wide(void **state)
{
	(void)state;
	enum { N = 1600 };
	struct hdb_column_def *cols = calloc(N, sizeof(*cols));
	char (*names)[8] = calloc(N, sizeof(*names));
	struct hdb_value *v = calloc(N, sizeof(*v));
	assert_non_null(cols);
	assert_non_null(names);
	assert_non_null(v);
	for (size_t i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "c%zu", i);
		cols[i].name = names[i];
		cols[i].type = i % 2 ? HDB_T_TEXT : HDB_T_INT8;
		cols[i].pk_position = i == 1599 ? 1 : 0;
		if (i % 3 == 0 && i != 1599)
			v[i] = hdb_null(cols[i].type);
		else if (i % 2)
			v[i] = hdb_text(names[i]);
		else
			v[i] = hdb_int8((int64_t)i * -1000003);
	}
	struct hdb_schema *sc = mk_schema(cols, N);
	roundtrip(sc, v);
	struct buf b = {0};
	assert_int_equal(schema_encode(sc, &b), HDB_OK);
	struct hdb_schema *d = NULL;
	assert_int_equal(schema_decode(b.p, b.len, &d), HDB_OK);
	assert_int_equal(d->ncols, N);
	assert_int_equal(d->pk_cols[0], 1599);
	hdb_schema_free(d);
	buf_free(&b);
	hdb_schema_free(sc);
	free(cols);
	free(names);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_constructors),
		cmocka_unit_test(test_schema_new_ok),
		cmocka_unit_test(test_schema_new_errors),
		cmocka_unit_test(test_schema_encoding_exact),
		cmocka_unit_test(test_schema_decode_hostile),
		cmocka_unit_test(test_row_roundtrip_all_types),
		cmocka_unit_test(test_row_encoding_exact),
		cmocka_unit_test(test_row_large_values),
		cmocka_unit_test(test_row_decode_hostile),
		cmocka_unit_test(test_row_check_messages),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_numeric_check),
		cmocka_unit_test(test_pk_injective),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_row_new),
		cmocka_unit_test(test_row_wide),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
