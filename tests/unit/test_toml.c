/*
 * test_toml.c - unit tests for the TOML parser (policy/toml.c) and the
 * tagged-JSON encoder (policy/toml_json.c).
 *
 * Error tests are table-driven: each input is valid TOML except for exactly
 * one defect, and the test checks the full "FILE:LINE:COL: message" prefix,
 * so removing the check that catches the defect makes the test fail (the
 * input would parse, or fail elsewhere with a different position/message).
 */
#include "testutil.h"

#include <math.h>

#include "heliosdb.h"
#include "toml.h"
#include "util.h"

/* parse_ok - parses a NUL-terminated document that must be valid. */
static struct toml_value *parse_ok(const char *text)
{
	struct toml_value *root = NULL;
	char err[512];
	int rc = toml_parse(text, strlen(text), "t.toml", &root, err, sizeof(err));
	if (rc != HDB_OK)
		fail_msg("unexpected parse error: %s\n--- input:\n%s", err, text);
	return root;
}

/* parse_err - parses text that must fail; returns the message. */
static const char *parse_err_n(const char *text, size_t len, char *err, size_t errlen)
{
	struct toml_value *root = (struct toml_value *)0x1;
	int rc = toml_parse(text, len, "t.toml", &root, err, errlen);
	assert_int_equal(rc, HDB_EPARSE);
	assert_ptr_equal(root, (struct toml_value *)0x1);   /* untouched on failure */
	assert_null(strchr(err, '\n'));
	return err;
}

static const struct toml_value *get_path(const struct toml_value *t, const char *a, const char *b)
{
	const struct toml_value *v = toml_table_get(t, a);
	if (v && b)
		v = toml_table_get(v, b);
	assert_non_null(v);
	return v;
}

static char *to_json(const struct toml_value *root)
{
	char *s = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&s, &n);
	assert_non_null(f);
	assert_int_equal(toml_to_tagged_json(root, f), HDB_OK);
	fclose(f);
	return s;
}

/* ---- scalars ----------------------------------------------------------- */

static void test_basic_strings(void **state)
{
	(void)state;
	struct toml_value *r = parse_ok(
		"a = \"plain\"\n"
		"b = \"tab\\there \\\"q\\\" \\\\ \\b\\f\\n\\r\"\n"
		"c = \"\\u00e9\\U0001F600\"\n"
		"d = \"\"\n"
		"e = \"with\ttab and # not a comment\"\n"
		"f = \"nul\\u0000inside\"\n");
	size_t n;
	assert_string_equal(toml_string(get_path(r, "a", NULL), &n), "plain");
	assert_int_equal(n, 5);
	assert_string_equal(toml_string(get_path(r, "b", NULL), NULL), "tab\there \"q\" \\ \b\f\n\r");
	assert_string_equal(toml_string(get_path(r, "c", NULL), NULL), "\xC3\xA9\xF0\x9F\x98\x80");
	assert_string_equal(toml_string(get_path(r, "d", NULL), &n), "");
	assert_int_equal(n, 0);
	assert_string_equal(toml_string(get_path(r, "e", NULL), NULL), "with\ttab and # not a comment");
	const char *s = toml_string(get_path(r, "f", NULL), &n);
	assert_int_equal(n, 10);
	assert_memory_equal(s, "nul\0inside", 10);
	toml_free(r);
}

static void test_multiline_strings(void **state)
{
	(void)state;
	struct toml_value *r = parse_ok(
		"a = \"\"\"\nfirst\nsecond\"\"\"\n"
		"b = \"\"\"one \\\n     two \\   \n\n   three\"\"\"\n"
		"c = \"\"\"\"quoted\" \"\"x\"\"\"\"\"\n"
		"d = '''\nraw \\n text\n'''\n"
		"e = ''''two' ''x'''''\n"
		"f = 'lit \\ \"x\"'\n"
		"g = \"\"\"crlf\r\nnormalised\"\"\"\n");
	assert_string_equal(toml_string(get_path(r, "a", NULL), NULL), "first\nsecond");
	assert_string_equal(toml_string(get_path(r, "b", NULL), NULL), "one two three");
	assert_string_equal(toml_string(get_path(r, "c", NULL), NULL), "\"quoted\" \"\"x\"\"");
	assert_string_equal(toml_string(get_path(r, "d", NULL), NULL), "raw \\n text\n");
	assert_string_equal(toml_string(get_path(r, "e", NULL), NULL), "'two' ''x''");
	assert_string_equal(toml_string(get_path(r, "f", NULL), NULL), "lit \\ \"x\"");
	assert_string_equal(toml_string(get_path(r, "g", NULL), NULL), "crlf\nnormalised");
	toml_free(r);
}

static void test_integers(void **state)
{
	(void)state;
	struct toml_value *r = parse_ok(
		"a = 42\nb = +17\nc = -5\nd = 0\ne = -0\nf = 1_000_000\n"
		"g = 0xDEAD_beef\nh = 0o755\ni = 0b1101_0110\n"
		"max = 9223372036854775807\nmin = -9223372036854775808\n"
		"hmax = 0x7FFFFFFFFFFFFFFF\n");
	assert_int_equal(toml_type(get_path(r, "a", NULL)), TOML_INTEGER);
	assert_int_equal(toml_int(get_path(r, "a", NULL)), 42);
	assert_int_equal(toml_int(get_path(r, "b", NULL)), 17);
	assert_int_equal(toml_int(get_path(r, "c", NULL)), -5);
	assert_int_equal(toml_int(get_path(r, "d", NULL)), 0);
	assert_int_equal(toml_int(get_path(r, "e", NULL)), 0);
	assert_int_equal(toml_int(get_path(r, "f", NULL)), 1000000);
	assert_int_equal(toml_int(get_path(r, "g", NULL)), 0xDEADBEEF);
	assert_int_equal(toml_int(get_path(r, "h", NULL)), 0755);
	assert_int_equal(toml_int(get_path(r, "i", NULL)), 0xD6);
	assert_true(toml_int(get_path(r, "max", NULL)) == INT64_MAX);
	assert_true(toml_int(get_path(r, "min", NULL)) == INT64_MIN);
	assert_true(toml_int(get_path(r, "hmax", NULL)) == INT64_MAX);
	toml_free(r);
}

static void test_floats(void **state)
{
	(void)state;
	struct toml_value *r = parse_ok(
		"a = 1.5\nb = -0.25\nc = 5e+22\nd = 1e06\ne = -2E-2\nf = 6.626e-34\n"
		"g = 224_617.445_991\nh = inf\ni = +inf\nj = -inf\nk = nan\nl = -nan\nm = +nan\n"
		"n = 0.0\no = -0.0\np = 0e0\n");
	assert_int_equal(toml_type(get_path(r, "a", NULL)), TOML_FLOAT);
	assert_true(toml_float(get_path(r, "a", NULL)) == 1.5);
	assert_true(toml_float(get_path(r, "b", NULL)) == -0.25);
	assert_true(toml_float(get_path(r, "c", NULL)) == 5e22);
	assert_true(toml_float(get_path(r, "d", NULL)) == 1e6);
	assert_true(toml_float(get_path(r, "e", NULL)) == -2e-2);
	assert_true(toml_float(get_path(r, "f", NULL)) == 6.626e-34);
	assert_true(toml_float(get_path(r, "g", NULL)) == 224617.445991);
	assert_true(isinf(toml_float(get_path(r, "h", NULL))) && toml_float(get_path(r, "h", NULL)) > 0);
	assert_true(isinf(toml_float(get_path(r, "i", NULL))) && toml_float(get_path(r, "i", NULL)) > 0);
	assert_true(isinf(toml_float(get_path(r, "j", NULL))) && toml_float(get_path(r, "j", NULL)) < 0);
	assert_true(isnan(toml_float(get_path(r, "k", NULL))));
	assert_true(isnan(toml_float(get_path(r, "l", NULL))));
	assert_true(isnan(toml_float(get_path(r, "m", NULL))));
	assert_true(toml_float(get_path(r, "n", NULL)) == 0.0);
	assert_true(signbit(toml_float(get_path(r, "o", NULL))));
	assert_int_equal(toml_type(get_path(r, "p", NULL)), TOML_FLOAT);
	toml_free(r);
}

static void test_booleans(void **state)
{
	(void)state;
	struct toml_value *r = parse_ok("t = true\nf = false\n");
	assert_int_equal(toml_type(get_path(r, "t", NULL)), TOML_BOOL);
	assert_true(toml_bool(get_path(r, "t", NULL)));
	assert_false(toml_bool(get_path(r, "f", NULL)));
	toml_free(r);
}

static void test_datetimes(void **state)
{
	(void)state;
	struct toml_value *r = parse_ok(
		"odt1 = 1979-05-27T07:32:00Z\n"
		"odt2 = 1979-05-27T00:32:00-07:00\n"
		"odt3 = 1979-05-27t00:32:00.999999+05:30\n"
		"odt4 = 1979-05-27 07:32:00z\n"
		"ldt = 1979-05-27T07:32:00.5\n"
		"ld = 2000-02-29\n"
		"lt = 23:59:60.123\n"
		"leap = 2024-02-29T00:00:00\n"
		"dc = 1979-05-27 # a date then a comment\n");
	const struct toml_value *v = get_path(r, "odt1", NULL);
	assert_int_equal(toml_type(v), TOML_DATETIME);
	assert_string_equal(toml_datetime(v), "1979-05-27T07:32:00Z");
	assert_string_equal(toml_datetime(get_path(r, "odt2", NULL)), "1979-05-27T00:32:00-07:00");
	assert_string_equal(toml_datetime(get_path(r, "odt3", NULL)), "1979-05-27T00:32:00.999999+05:30");
	assert_string_equal(toml_datetime(get_path(r, "odt4", NULL)), "1979-05-27T07:32:00Z");
	v = get_path(r, "ldt", NULL);
	assert_int_equal(toml_type(v), TOML_DATETIME_LOCAL);
	assert_string_equal(toml_datetime(v), "1979-05-27T07:32:00.5");
	v = get_path(r, "ld", NULL);
	assert_int_equal(toml_type(v), TOML_DATE_LOCAL);
	assert_string_equal(toml_datetime(v), "2000-02-29");
	v = get_path(r, "lt", NULL);
	assert_int_equal(toml_type(v), TOML_TIME_LOCAL);
	assert_string_equal(toml_datetime(v), "23:59:60.123");
	assert_int_equal(toml_type(get_path(r, "leap", NULL)), TOML_DATETIME_LOCAL);
	assert_int_equal(toml_type(get_path(r, "dc", NULL)), TOML_DATE_LOCAL);
	toml_free(r);
}

/* ---- structure --------------------------------------------------------- */

static void test_arrays(void **state)
{
	(void)state;
	struct toml_value *r = parse_ok(
		"a = []\n"
		"b = [1, 2, 3,]\n"
		"c = [ # comment\n  1, # one\n\n  \"two\", 3.0, [true], {x = 1}, # mixed\n]\n"
		"d = [[1, 2], [\"a\"]]\n");
	const struct toml_value *a = get_path(r, "a", NULL);
	assert_int_equal(toml_type(a), TOML_ARRAY);
	assert_int_equal(toml_array_len(a), 0);
	assert_int_equal(toml_array_len(get_path(r, "b", NULL)), 3);
	const struct toml_value *c = get_path(r, "c", NULL);
	assert_int_equal(toml_array_len(c), 5);
	assert_int_equal(toml_type(toml_array_at(c, 0)), TOML_INTEGER);
	assert_int_equal(toml_type(toml_array_at(c, 1)), TOML_STRING);
	assert_int_equal(toml_type(toml_array_at(c, 2)), TOML_FLOAT);
	assert_int_equal(toml_type(toml_array_at(c, 3)), TOML_ARRAY);
	assert_int_equal(toml_type(toml_array_at(c, 4)), TOML_TABLE);
	assert_true(toml_table_is_inline(toml_array_at(c, 4)));
	assert_int_equal(toml_line(toml_array_at(c, 1)), 6);
	assert_int_equal(toml_col(toml_array_at(c, 1)), 3);
	assert_null(toml_array_at(c, 5));
	const struct toml_value *d = get_path(r, "d", NULL);
	assert_int_equal(toml_int(toml_array_at(toml_array_at(d, 0), 1)), 2);
	toml_free(r);
}

static void test_tables_and_order(void **state)
{
	(void)state;
	struct toml_value *r = parse_ok(
		"zeta = 1\n"
		"alpha = 2\n"
		"[server]\n"
		"  port = 8080\n"
		"  host = \"h\"\n"
		"[server.tls]\n"
		"  on = true\n"
		"[ \"quoted key\" . 'lit.key' ]\n"
		"x = 1\n");
	assert_int_equal(toml_table_len(r), 4);
	assert_string_equal(toml_table_key(r, 0), "zeta");
	assert_string_equal(toml_table_key(r, 1), "alpha");
	assert_string_equal(toml_table_key(r, 2), "server");
	assert_string_equal(toml_table_key(r, 3), "quoted key");
	assert_int_equal(toml_table_key_line(r, 2), 3);
	assert_int_equal(toml_table_key_col(r, 2), 2);
	const struct toml_value *s = get_path(r, "server", NULL);
	assert_false(toml_table_is_inline(s));
	assert_string_equal(toml_table_key(s, 0), "port");
	assert_string_equal(toml_table_key(s, 1), "host");
	assert_string_equal(toml_table_key(s, 2), "tls");
	assert_int_equal(toml_table_key_line(s, 1), 5);
	assert_int_equal(toml_table_key_col(s, 1), 3);
	assert_int_equal(toml_line(get_path(s, "port", NULL)), 4);
	assert_int_equal(toml_col(get_path(s, "port", NULL)), 10);
	assert_true(toml_bool(get_path(s, "tls", "on")));
	assert_int_equal(toml_int(get_path(get_path(r, "quoted key", NULL), "lit.key", "x")), 1);
	assert_null(toml_table_get(r, "missing"));
	assert_null(toml_table_key(r, 99));
	toml_free(r);
}

static void test_implicit_then_defined(void **state)
{
	(void)state;
	/* [a.b] creates a implicitly; [a] may then define it once */
	struct toml_value *r = parse_ok("[a.b]\nx = 1\n\n[a]\ny = 2\n[a.c.d]\n");
	const struct toml_value *a = get_path(r, "a", NULL);
	assert_int_equal(toml_table_len(a), 3);
	assert_int_equal(toml_table_key_line(r, 0), 4);   /* moved to its own header */
	assert_int_equal(toml_int(get_path(a, "b", "x")), 1);
	assert_int_equal(toml_int(get_path(a, "y", NULL)), 2);
	toml_free(r);
}

static void test_dotted_keys(void **state)
{
	(void)state;
	struct toml_value *r = parse_ok(
		"fruit.apple.color = \"red\"\n"
		"fruit . apple . taste.sweet = true\n"
		"3.14159 = \"pi\"\n"
		"\"a.b\".c = 1\n"
		"[fruit.apple.texture]\n"
		"smooth = true\n"
		"[site]\n"
		"\"google.com\" = true\n");
	const struct toml_value *apple = get_path(r, "fruit", "apple");
	assert_string_equal(toml_string(get_path(apple, "color", NULL), NULL), "red");
	assert_true(toml_bool(get_path(get_path(apple, "taste", NULL), "sweet", NULL)));
	assert_true(toml_bool(get_path(get_path(apple, "texture", NULL), "smooth", NULL)));
	assert_string_equal(toml_string(get_path(r, "3", "14159"), NULL), "pi");
	assert_int_equal(toml_int(get_path(r, "a.b", "c")), 1);
	assert_true(toml_bool(get_path(r, "site", "google.com")));
	assert_int_equal(toml_table_key_line(apple, 1), 2);
	assert_int_equal(toml_table_key_col(apple, 1), 17);
	toml_free(r);
}

static void test_array_of_tables(void **state)
{
	(void)state;
	struct toml_value *r = parse_ok(
		"[[products]]\nname = \"Hammer\"\n"
		"[[products]]\n"
		"[[products]]\nname = \"Nail\"\n"
		"[products.dims]\nw = 1\n"
		"[[products.variants]]\nc = \"red\"\n"
		"[[fruit]]\n[fruit.physical]\ncolor = \"red\"\n[[fruit.variety]]\nname = \"x\"\n");
	const struct toml_value *p = get_path(r, "products", NULL);
	assert_int_equal(toml_type(p), TOML_ARRAY);
	assert_int_equal(toml_array_len(p), 3);
	assert_int_equal(toml_table_len(toml_array_at(p, 1)), 0);
	assert_int_equal(toml_line(toml_array_at(p, 1)), 3);
	const struct toml_value *last = toml_array_at(p, 2);
	assert_int_equal(toml_int(get_path(last, "dims", "w")), 1);
	assert_int_equal(toml_array_len(get_path(last, "variants", NULL)), 1);
	const struct toml_value *f0 = toml_array_at(get_path(r, "fruit", NULL), 0);
	assert_string_equal(toml_string(get_path(f0, "physical", "color"), NULL), "red");
	toml_free(r);
}

static void test_inline_tables(void **state)
{
	(void)state;
	struct toml_value *r = parse_ok(
		"name = { first = \"Tom\", last = \"P\" }\n"
		"point = {x=1,y=2}\n"
		"empty = {}\n"
		"nested = { a.b = 1, a.c = [1,\n 2], d = { e = 'f' } }\n");
	const struct toml_value *n = get_path(r, "name", NULL);
	assert_true(toml_table_is_inline(n));
	assert_string_equal(toml_table_key(n, 0), "first");
	assert_string_equal(toml_table_key(n, 1), "last");
	assert_int_equal(toml_table_key_col(n, 1), 25);
	assert_int_equal(toml_table_len(get_path(r, "empty", NULL)), 0);
	const struct toml_value *a = get_path(r, "nested", "a");
	assert_int_equal(toml_int(get_path(a, "b", NULL)), 1);
	assert_int_equal(toml_array_len(get_path(a, "c", NULL)), 2);
	assert_string_equal(toml_string(get_path(get_path(r, "nested", "d"), "e", NULL), NULL), "f");
	toml_free(r);
}

static void test_whitespace_comments_crlf_bom(void **state)
{
	(void)state;
	struct toml_value *r = parse_ok(
		"\xEF\xBB\xBF# leading comment \xC3\xA9 \t with tab\r\n"
		"\t a\t=\t1\t# trailing\r\n"
		"\r\n"
		"[ t ] # header comment\r\n"
		"b = 2");   /* no final newline */
	assert_int_equal(toml_int(get_path(r, "a", NULL)), 1);
	assert_int_equal(toml_int(get_path(r, "t", "b")), 2);
	assert_int_equal(toml_line(get_path(r, "t", "b")), 5);
	toml_free(r);

	r = parse_ok("");
	assert_int_equal(toml_table_len(r), 0);
	assert_int_equal(toml_type(r), TOML_TABLE);
	toml_free(r);
}

static void test_columns_count_code_points(void **state)
{
	(void)state;
	/* "é" is two bytes but one column */
	struct toml_value *r = parse_ok("\"\xC3\xA9\xC3\xA9\" = 1\n");
	assert_int_equal(toml_col(get_path(r, "\xC3\xA9\xC3\xA9", NULL)), 8);
	toml_free(r);
	char err[256];
	parse_err_n("\"\xC3\xA9\" = @\n", 9, err, sizeof(err));
	assert_string_equal(err, "t.toml:1:7: expected a value, found '@'");
}

static void test_many_keys_index(void **state)
{
	(void)state;
	/* past INDEX_MIN the table switches to a hash index: lookups and
	 * duplicate detection must still work, in order */
	char *doc = malloc(64 * 2000);
	assert_non_null(doc);
	size_t o = 0;
	for (int i = 0; i < 2000; i++)
		o += (size_t)sprintf(doc + o, "k%d = %d\n", i, i);
	struct toml_value *r = parse_ok(doc);
	assert_int_equal(toml_table_len(r), 2000);
	assert_int_equal(toml_int(toml_table_get(r, "k1234")), 1234);
	assert_string_equal(toml_table_key(r, 1999), "k1999");
	toml_free(r);
	o += (size_t)sprintf(doc + o, "k777 = 1\n");
	char err[256];
	parse_err_n(doc, o, err, sizeof(err));
	assert_string_equal(err, "t.toml:2001:1: duplicate key 'k777'");
	free(doc);
}

static void test_depth_limit(void **state)
{
	(void)state;
	char doc[1024];
	char err[256];
	/* 128 levels parse; 129 do not */
	size_t o = (size_t)sprintf(doc, "a = ");
	for (int i = 0; i < 127; i++)
		doc[o++] = '[';
	for (int i = 0; i < 127; i++)
		doc[o++] = ']';
	doc[o] = '\0';
	struct toml_value *r = parse_ok(doc);
	toml_free(r);

	o = (size_t)sprintf(doc, "a = ");
	for (int i = 0; i < 200; i++)
		doc[o++] = '[';
	doc[o] = '\0';
	parse_err_n(doc, o, err, sizeof(err));
	assert_string_equal(err, "t.toml:1:133: arrays and tables nest deeper than 128 levels");

	o = (size_t)sprintf(doc, "a = ");
	for (int i = 0; i < 200; i++)
		o += (size_t)sprintf(doc + o, "{b=");
	doc[o] = '\0';
	parse_err_n(doc, o, err, sizeof(err));
	assert_non_null(strstr(err, "nest deeper than 128 levels"));

	/* dotted keys and headers are bounded too */
	o = 0;
	doc[o++] = '[';
	for (int i = 0; i < 200; i++) {
		doc[o++] = 'x';
		doc[o++] = '.';
	}
	doc[o++] = 'x';
	doc[o++] = ']';
	doc[o] = '\0';
	parse_err_n(doc, o, err, sizeof(err));
	assert_string_equal(err, "t.toml:1:258: key has more than 128 parts");
}

/* Every prefix of a rich document must parse or fail cleanly (ASan checks
 * that nothing reads past the given length or leaks). */
static void test_all_prefixes(void **state)
{
	(void)state;
	static const char doc[] =
		"# c\nk = \"s\\u00e9\\U0001F600\"\nl = '''x\n'''\nm = \"\"\"a\\\n b\"\"\"\n"
		"[t.u]\nv = [1, 2.5e3, 0x1F, 1979-05-27T07:32:00.5-07:00, 07:32:00, {a.b = 1}]\n"
		"[[arr]]\nw = true\n'q' = -inf\n";
	char err[256];
	for (size_t n = 0; n <= sizeof(doc) - 1; n++) {
		char *copy = malloc(n ? n : 1);   /* exact size: ASan catches overreads */
		assert_non_null(copy);
		memcpy(copy, doc, n);
		struct toml_value *r = NULL;
		int rc = toml_parse(copy, n, "p.toml", &r, err, sizeof(err));
		assert_true(rc == HDB_OK || rc == HDB_EPARSE);
		if (rc == HDB_OK) {
			FILE *f = fopen("/dev/null", "w");
			assert_non_null(f);
			assert_int_equal(toml_to_tagged_json(r, f), HDB_OK);
			fclose(f);
			toml_free(r);
		} else {
			assert_non_null(strstr(err, "p.toml:"));
		}
		free(copy);
	}
}

/* ---- errors ------------------------------------------------------------ */

struct err_case {
	const char *name;
	const char *text;
	const char *want;   /* the whole message */
};

static const struct err_case err_cases[] = {
	/* syntax */
	{ "missing equals", "a = 1\nenabled true\n", "t.toml:2:9: expected '=' after key 'enabled', found 't'" },
	{ "missing value", "a =\n", "t.toml:1:4: expected a value, found end of line" },
	{ "missing value eof", "a = ", "t.toml:1:5: expected a value, found end of file" },
	{ "two values", "a = 1 2\n", "t.toml:1:7: expected end of line after value, found '2'" },
	{ "junk after header", "[a] b = 1\n", "t.toml:1:5: expected end of line after table header, found 'b'" },
	{ "unclosed header", "[a\n", "t.toml:1:3: expected ']' after table name 'a', found end of line" },
	{ "unclosed aot", "[[a]\n", "t.toml:1:5: expected ']]' after table name 'a', found end of line" },
	{ "spaced aot", "[[a] ]\n", "t.toml:1:5: expected ']]' after table name 'a', found a space" },
	{ "empty header", "[]\n", "t.toml:1:2: expected a key, found ']'" },
	{ "empty bare key", "= 1\n", "t.toml:1:1: expected a key, found '='" },
	{ "trailing dot key", "a. = 1\n", "t.toml:1:4: expected a key, found '='" },
	{ "multiline key", "\"\"\"k\"\"\" = 1\n", "t.toml:1:1: a multi-line string cannot be used as a key" },
	{ "bad bare key char", "a$b = 1\n", "t.toml:1:2: expected '=' after key 'a', found '$'" },
	{ "key newline", "a\n= 1\n", "t.toml:1:2: expected '=' after key 'a', found end of line" },
	{ "array missing comma", "a = [1 2]\n", "t.toml:1:8: expected ',' or ']' in array, found '2'" },
	{ "array leading comma", "a = [,1]\n", "t.toml:1:6: expected a value, found ','" },
	{ "array double comma", "a = [1,,2]\n", "t.toml:1:8: expected a value, found ','" },
	{ "unclosed array", "a = [1,\n", "t.toml:2:1: expected a value, found end of file" },
	{ "inline newline", "a = {x = 1,\ny = 2}\n", "t.toml:1:12: expected a key, found end of line" },
	{ "inline trailing comma", "a = {x = 1,}\n", "t.toml:1:12: trailing comma is not allowed in an inline table" },
	{ "inline missing comma", "a = {x = 1 y = 2}\n", "t.toml:1:12: expected ',' or '}' in inline table, found 'y'" },
	{ "bad bool", "a = tru\n", "t.toml:1:5: expected a value, found 't'" },
	{ "bare word", "a = hello\n", "t.toml:1:5: expected a value, found 'h'" },
	/* strings */
	{ "unterminated", "a = \"abc\n", "t.toml:1:5: unterminated string (newline before the closing quote)" },
	{ "unterminated eof", "a = \"abc", "t.toml:1:5: unterminated string" },
	{ "unterminated ml", "a = \"\"\"abc\n", "t.toml:1:5: unterminated string" },
	{ "unterminated literal", "a = 'abc\n", "t.toml:1:5: unterminated string (newline before the closing quote)" },
	{ "bad escape", "a = \"x\\qy\"\n", "t.toml:1:7: invalid escape sequence '\\' followed by 'q'" },
	{ "escape e is 1.1", "a = \"\\e\"\n", "t.toml:1:6: invalid escape sequence '\\' followed by 'e'" },
	{ "escape x is 1.1", "a = \"\\x41\"\n", "t.toml:1:6: invalid escape sequence '\\' followed by 'x'" },
	{ "short u", "a = \"\\u12\"\n", "t.toml:1:10: expected 4 hex digits after '\\u', found '\"'" },
	{ "short U", "a = \"\\U0001F60\"\n", "t.toml:1:15: expected 8 hex digits after '\\U', found '\"'" },
	{ "surrogate", "a = \"\\uD800\"\n", "t.toml:1:6: escape '\\u' names U+D800, which is not a Unicode scalar value" },
	{ "too big U", "a = \"\\U00110000\"\n", "t.toml:1:6: escape '\\U' names U+110000, which is not a Unicode scalar value" },
	{ "backslash space single", "a = \"x\\ \"\n", "t.toml:1:7: invalid escape sequence '\\' followed by a space" },
	{ "backslash ws not eol", "a = \"\"\"x\\  y\"\"\"\n", "t.toml:1:9: a line-ending backslash must be followed only by whitespace" },
	{ "too many quotes", "a = \"\"\"x\"\"\"\"\"\"\n", "t.toml:1:14: too many quotes at the end of a multi-line string" },
	{ "literal too many quotes", "a = '''x''''''\n", "t.toml:1:14: too many quotes at the end of a multi-line string" },
	/* encoding and control characters */
	{ "control in string", "a = \"x\x01y\"\n", "t.toml:1:7: control character U+0001 is not allowed" },
	{ "del in literal", "a = 'x\x7Fy'\n", "t.toml:1:7: control character U+007F is not allowed" },
	{ "control in comment", "a = 1 # x\x1F\n", "t.toml:1:10: control character U+001F is not allowed" },
	{ "bare cr", "a = 1\rb = 2\n", "t.toml:1:6: carriage return not followed by line feed" },
	{ "cr in ml string", "a = \"\"\"x\ry\"\"\"\n", "t.toml:1:9: carriage return not followed by line feed" },
	{ "bad utf8 lead", "a = \"\xFF\"\n", "t.toml:1:6: invalid UTF-8 byte 0xFF" },
	{ "overlong", "a = \"\xC0\xAF\"\n", "t.toml:1:6: invalid UTF-8 byte 0xC0" },
	{ "overlong 3", "a = \"\xE0\x80\xAF\"\n", "t.toml:1:6: invalid UTF-8 sequence" },
	{ "utf8 surrogate", "# \xED\xA0\x80\n", "t.toml:1:3: invalid UTF-8 sequence" },
	{ "above 10ffff", "# \xF4\x90\x80\x80\n", "t.toml:1:3: invalid UTF-8 sequence" },
	{ "truncated utf8", "# \xE2\x82", "t.toml:1:3: truncated UTF-8 sequence" },
	{ "bad continuation", "# \xE2\x28\xA1\n", "t.toml:1:3: invalid UTF-8 sequence" },
	/* integers */
	{ "leading zero", "a = 012\n", "t.toml:1:5: leading zeros are not allowed in '012'" },
	{ "leading zero neg", "a = -01\n", "t.toml:1:5: leading zeros are not allowed in '-01'" },
	{ "double underscore", "a = 1__0\n", "t.toml:1:5: invalid number '1__0'" },
	{ "trailing underscore", "a = 10_\n", "t.toml:1:5: invalid number '10_'" },
	{ "leading underscore", "a = _1\n", "t.toml:1:5: expected a value, found '_'" },
	{ "underscore after prefix", "a = 0x_1\n", "t.toml:1:5: invalid hexadecimal integer '0x_1'" },
	{ "signed hex", "a = +0x1\n", "t.toml:1:5: a sign is not allowed on a hexadecimal integer '+0x1'" },
	{ "bad octal digit", "a = 0o8\n", "t.toml:1:5: invalid octal integer '0o8'" },
	{ "bad binary digit", "a = 0b102\n", "t.toml:1:5: invalid binary integer '0b102'" },
	{ "uppercase prefix", "a = 0X1\n", "t.toml:1:5: invalid number '0X1'" },
	{ "overflow", "a = 9223372036854775808\n", "t.toml:1:5: integer '9223372036854775808' does not fit in 64 bits" },
	{ "underflow", "a = -9223372036854775809\n", "t.toml:1:5: integer '-9223372036854775809' does not fit in 64 bits" },
	{ "hex overflow", "a = 0x8000000000000000\n", "t.toml:1:5: integer '0x8000000000000000' does not fit in 64 bits" },
	/* floats */
	{ "no frac digits", "a = 1.\n", "t.toml:1:5: invalid float '1.' (a fraction needs digits after '.')" },
	{ "no int digits", "a = .5\n", "t.toml:1:5: expected a value, found '.'" },
	{ "exp no digits", "a = 1e\n", "t.toml:1:5: invalid float exponent in '1e'" },
	{ "frac then exp dot", "a = 1e2.5\n", "t.toml:1:5: invalid float exponent in '1e2.5'" },
	{ "float leading zero", "a = 03.14\n", "t.toml:1:5: leading zeros are not allowed in '03.14'" },
	{ "underscore before dot", "a = 1_.5\n", "t.toml:1:5: invalid number '1_.5'" },
	{ "underscore after dot", "a = 1._5\n", "t.toml:1:5: invalid float '1._5' (a fraction needs digits after '.')" },
	{ "float overflow", "a = 1e400\n", "t.toml:1:5: float '1e400' is out of range" },
	{ "capital inf", "a = Inf\n", "t.toml:1:5: expected a value, found 'I'" },
	{ "infinity", "a = infinity\n", "t.toml:1:5: invalid value 'infinity'" },
	/* date-times */
	{ "month 13", "a = 2023-13-01\n", "t.toml:1:5: date 2023-13-01 does not exist" },
	{ "month 0", "a = 2023-00-01\n", "t.toml:1:5: date 2023-00-01 does not exist" },
	{ "feb 29 non-leap", "a = 2023-02-29\n", "t.toml:1:5: date 2023-02-29 does not exist" },
	{ "feb 29 1900", "a = 1900-02-29\n", "t.toml:1:5: date 1900-02-29 does not exist" },
	{ "april 31", "a = 2023-04-31\n", "t.toml:1:5: date 2023-04-31 does not exist" },
	{ "day 0", "a = 2023-01-00\n", "t.toml:1:5: date 2023-01-00 does not exist" },
	{ "hour 24", "a = 24:00:00\n", "t.toml:1:5: time 24:00:00 is out of range" },
	{ "minute 60", "a = 2023-01-01T10:60:00\n", "t.toml:1:16: time 10:60:00 is out of range" },
	{ "second 61", "a = 10:00:61\n", "t.toml:1:5: time 10:00:61 is out of range" },
	{ "no seconds", "a = 10:00\n", "t.toml:1:5: invalid time: expected HH:MM:SS (seconds are required)" },
	{ "one digit month", "a = 2023-1-01\n", "t.toml:1:5: invalid date: expected YYYY-MM-DD" },
	{ "bad offset", "a = 2023-01-01T10:00:00+5:00\n", "t.toml:1:24: invalid time offset: expected +HH:MM or -HH:MM" },
	{ "offset range", "a = 2023-01-01T10:00:00+24:00\n", "t.toml:1:24: time offset +24:00 is out of range" },
	{ "frac no digits", "a = 10:00:00.\n", "t.toml:1:14: expected digits after '.' in fractional seconds" },
	{ "offset on time", "a = 10:00:00Z\n", "t.toml:1:13: expected end of line after value, found 'Z'" },
	{ "T without time", "a = 2023-01-01T\n", "t.toml:1:16: invalid time: expected HH:MM:SS" },
	/* keys and tables */
	{ "duplicate key", "a = 1\nb = 2\na = 3\n", "t.toml:3:1: duplicate key 'a'" },
	{ "duplicate quoted key", "a = 1\n\"a\" = 2\n", "t.toml:2:1: duplicate key 'a'" },
	{ "duplicate literal key", "'a b' = 1\n\"a b\" = 2\n", "t.toml:2:1: duplicate key 'a b'" },
	{ "duplicate dotted", "a.b = 1\na.b = 2\n", "t.toml:2:1: duplicate key 'a.b'" },
	{ "dotted over value", "a = 1\na.b = 2\n", "t.toml:2:1: cannot add keys to 'a': it is an integer" },
	{ "dotted over array", "a = [1]\na.b = 2\n", "t.toml:2:1: cannot add keys to 'a': it is an array" },
	{ "key over table", "[a.b]\n[a]\nb = 1\n", "t.toml:3:1: duplicate key 'b'" },
	{ "redefine table", "[a]\nx = 1\n[b]\n[a]\n", "t.toml:4:1: table 'a' is already defined" },
	{ "redefine subtable", "[a.b]\n[a.b]\n", "t.toml:2:1: table 'a.b' is already defined" },
	{ "redefine implicit twice", "[a.b]\n[a]\n[a]\n", "t.toml:3:1: table 'a' is already defined" },
	{ "header over dotted", "[fruit]\napple.color = 'red'\n[fruit.apple]\n",
	  "t.toml:3:1: table 'fruit.apple' is already defined" },
	{ "header over deep dotted", "fruit.apple.taste.sweet = true\n[fruit.apple.taste]\n",
	  "t.toml:2:1: table 'fruit.apple.taste' is already defined" },
	{ "header over root dotted", "a.b = 1\n[a]\n", "t.toml:2:1: table 'a' is already defined" },
	{ "dotted into defined", "[a.b.c]\nz = 9\n[a]\nb.c.t = 1\n",
	  "t.toml:4:3: dotted key 'b.c' cannot extend a table defined by a [header]" },
	{ "header over value", "a = 1\n[a]\n", "t.toml:2:1: cannot define table 'a': it is already an integer" },
	{ "header through value", "a = 1\n[a.b]\n", "t.toml:2:2: cannot add a table to 'a': it is an integer" },
	{ "header over inline", "a = {x = 1}\n[a]\n", "t.toml:2:1: cannot redefine inline table 'a'" },
	{ "extend inline by header", "a = {x = 1}\n[a.b]\n", "t.toml:2:2: cannot add a table to inline table 'a'" },
	{ "extend inline by dotted", "a = {x = 1}\na.y = 2\n", "t.toml:2:1: cannot add keys to inline table 'a'" },
	{ "extend inline in inline", "a = {x = {y = 1}, x.z = 2}\n", "t.toml:1:19: cannot add keys to inline table 'x'" },
	{ "duplicate in inline", "a = {x = 1, x = 2}\n", "t.toml:1:13: duplicate key 'x'" },
	{ "extend nested inline", "a = {b = {c = 1}}\n[a.b.d]\n", "t.toml:2:2: cannot add a table to inline table 'a'" },
	{ "aot over static", "a = []\n[[a]]\n", "t.toml:2:1: cannot append to static array 'a' with [[a]]" },
	{ "aot over static tables", "a = [{b = 1}]\n[[a]]\n", "t.toml:2:1: cannot append to static array 'a' with [[a]]" },
	{ "table through static", "a = [{b = 1}]\n[a.c]\n", "t.toml:2:2: cannot add a table to static array 'a'" },
	{ "aot over table", "[a]\n[[a]]\n", "t.toml:2:1: cannot define array of tables 'a': it is already a table" },
	{ "table over aot", "[[a]]\n[a]\n", "t.toml:2:1: cannot define table 'a': it is already an array" },
	{ "aot reopened later", "[[a]]\n[b]\n[c]\n[[a]]\nx = 1\n[d]\n", NULL },   /* valid */
	{ "key over aot", "[[a.b]]\n[a]\nb = 1\n", "t.toml:3:1: duplicate key 'b'" },
	/* NUL */
	{ "nul in value", "a = \"x\0y\"\n", "t.toml:1:7: control character U+0000 is not allowed" },
};

static void test_errors(void **state)
{
	(void)state;
	int bad = 0;
	for (size_t i = 0; i < ARRAY_SIZE(err_cases); i++) {
		const struct err_case *c = &err_cases[i];
		/* inputs holding a NUL are measured up to the final newline */
		size_t len = strlen(c->text);
		if (strcmp(c->name, "nul in value") == 0)
			len = 10;
		struct toml_value *r = NULL;
		char err[512] = "";
		int rc = toml_parse(c->text, len, "t.toml", &r, err, sizeof(err));
		if (!c->want) {
			if (rc != HDB_OK)
				fail_msg("case '%s': expected success, got: %s", c->name, err);
			toml_free(r);
			continue;
		}
		if (rc != HDB_EPARSE)
			fail_msg("case '%s': expected HDB_EPARSE, got %d", c->name, rc);
		if (strcmp(err, c->want) != 0) {
			print_error("case '%s':\n  want: %s\n  got:  %s\n", c->name, c->want, err);
			bad++;
		}
		assert_null(r);
	}
	assert_int_equal(bad, 0);
}

static void test_error_buffer_edge_cases(void **state)
{
	(void)state;
	struct toml_value *r = NULL;
	char small[12];
	/* a tiny buffer truncates but stays NUL-terminated */
	assert_int_equal(toml_parse("a = ", 4, "file.toml", &r, small, sizeof(small)), HDB_EPARSE);
	assert_string_equal(small, "file.toml:1");
	/* no buffer at all is fine */
	assert_int_equal(toml_parse("a = ", 4, "f", &r, NULL, 0), HDB_EPARSE);
	/* length is honoured: the text after len is never looked at */
	assert_int_equal(toml_parse("a = 1\n@@@", 6, "f", &r, NULL, 0), HDB_OK);
	assert_int_equal(toml_table_len(r), 1);
	toml_free(r);
	toml_free(NULL);
	/* long hostile keys are cut in messages and stay on one line */
	char doc[600];
	memset(doc, 'k', 500);
	memcpy(doc + 500, " x\n", 4);
	char err[512];
	parse_err_n(doc, 503, err, sizeof(err));
	assert_true(strlen(err) < 400);
	assert_non_null(strstr(err, "...', found 'x'"));
	parse_err_n("\"a\\nb\\u0001\" x\n", 15, err, sizeof(err));
	assert_string_equal(err, "t.toml:1:14: expected '=' after key 'a\\x0Ab\\x01', found 'x'");
}

/* ---- accessors on the wrong type ------------------------------------------ */

static void test_wrong_type_accessors(void **state)
{
	(void)state;
	struct toml_value *r = parse_ok("i = 1\ns = 's'\n");
	const struct toml_value *i = get_path(r, "i", NULL);
	const struct toml_value *s = get_path(r, "s", NULL);
	assert_null(toml_string(i, NULL));
	assert_int_equal(toml_int(s), 0);
	assert_null(toml_datetime(i));
	assert_int_equal(toml_table_len(i), 0);
	assert_int_equal(toml_array_len(s), 0);
	assert_null(toml_table_get(i, "x"));
	assert_false(toml_table_is_inline(r));
	assert_int_equal(toml_line(r), 1);
	toml_free(r);
}

/* ---- tagged JSON ---------------------------------------------------------- */

static void test_json_encoding(void **state)
{
	(void)state;
	struct toml_value *r = parse_ok(
		"s = \"q\\\"b\\\\ \\u0001\\u001f\\t\\n \xC3\xA9\\u007f\"\n"
		"i = -42\nf = 0.1\ng = -inf\nh = nan\nb = false\n"
		"dt = 1979-05-27 07:32:00+01:00\nldt = 1979-05-27t07:32:00\nld = 1979-05-27\nlt = 07:32:00.25\n"
		"a = [1, 'x']\n[t]\n\"k\\u0000\" = {}\n");
	char *j = to_json(r);
	assert_string_equal(j,
		"{\"s\":{\"type\":\"string\",\"value\":\"q\\\"b\\\\ \\u0001\\u001f\\t\\n \xC3\xA9\\u007f\"},"
		"\"i\":{\"type\":\"integer\",\"value\":\"-42\"},"
		"\"f\":{\"type\":\"float\",\"value\":\"0.1\"},"
		"\"g\":{\"type\":\"float\",\"value\":\"-inf\"},"
		"\"h\":{\"type\":\"float\",\"value\":\"nan\"},"
		"\"b\":{\"type\":\"bool\",\"value\":\"false\"},"
		"\"dt\":{\"type\":\"datetime\",\"value\":\"1979-05-27T07:32:00+01:00\"},"
		"\"ldt\":{\"type\":\"datetime-local\",\"value\":\"1979-05-27T07:32:00\"},"
		"\"ld\":{\"type\":\"date-local\",\"value\":\"1979-05-27\"},"
		"\"lt\":{\"type\":\"time-local\",\"value\":\"07:32:00.25\"},"
		"\"a\":[{\"type\":\"integer\",\"value\":\"1\"},{\"type\":\"string\",\"value\":\"x\"}],"
		"\"t\":{\"k\\u0000\":{}}}\n");
	free(j);
	toml_free(r);
}

static void test_json_float_round_trip(void **state)
{
	(void)state;
	struct toml_value *r = parse_ok("a = 3.141592653589793\nb = 1e-300\nc = 123456789012345680.0\n");
	char *j = to_json(r);
	assert_non_null(strstr(j, "\"3.141592653589793\""));
	assert_non_null(strstr(j, "\"1e-300\""));
	assert_non_null(strstr(j, "\"1.2345678901234568e+17\""));
	free(j);
	toml_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic_strings),
		cmocka_unit_test(test_multiline_strings),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_floats),
		cmocka_unit_test(test_booleans),
		cmocka_unit_test(test_datetimes),
		cmocka_unit_test(test_arrays),
		cmocka_unit_test(test_tables_and_order),
		cmocka_unit_test(test_implicit_then_defined),
		cmocka_unit_test(test_dotted_keys),
		cmocka_unit_test(test_array_of_tables),
		cmocka_unit_test(test_inline_tables),
		cmocka_unit_test(test_whitespace_comments_crlf_bom),
		cmocka_unit_test(test_columns_count_code_points),
		cmocka_unit_test(test_many_keys_index),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_all_prefixes),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_error_buffer_edge_cases),
		cmocka_unit_test(test_wrong_type_accessors),
		cmocka_unit_test(test_json_encoding),
		cmocka_unit_test(test_json_float_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
