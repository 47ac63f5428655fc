/* test_util.c - shared helpers: hex (exhaustively), buffers, secrets, error names. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "secret.h"
#include "util.h"

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* every pair of bytes: accepted exactly when both are hex digits, right value */
static void test_hex_exhaustive(void **state)
{
	(void)state;
	for (int a = 0; a < 256; a++) {
		for (int b = 0; b < 256; b++) {
			char in[2] = { (char)a, (char)b };
			unsigned char out[1];
			int rc = hex_decode(in, 2, out, 1);
			bool ok = hexval(a) >= 0 && hexval(b) >= 0;
			assert_int_equal(rc == HDB_OK, ok);
			if (ok)
				assert_int_equal(out[0], hexval(a) * 16 + hexval(b));
		}
	}
	unsigned char out[2];
	assert_int_equal(hex_decode("abc", 3, out, 2), HDB_EINVAL);
	char enc[5];
	hex_encode("\x01\xfe", 2, enc);
	assert_string_equal(enc, "01fe");
}

static void put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static bool file_is(const char *path, const char *text)
{
	char got[64] = "";
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t n = fread(got, 1, sizeof(got) - 1, f);
	fclose(f);
	got[n] = '\0';
	return strcmp(got, text) == 0;
}

/* rename_noreplace: never over a file, never through a symlink */
static void test_rename_noreplace(void **state)
{
	(void)state;
	char *d = tu_mkdtemp();
	char a[600], b[600], l[600], t[600];
	snprintf(a, sizeof(a), "%s/a", d);
	snprintf(b, sizeof(b), "%s/b", d);
	snprintf(l, sizeof(l), "%s/l", d);
	snprintf(t, sizeof(t), "%s/target", d);
	put_file(a, "new");
	put_file(b, "old");
	assert_int_equal(rename_noreplace(AT_FDCWD, a, AT_FDCWD, b), -1);
	assert_int_equal(errno, EEXIST);
	assert_true(file_is(a, "new") && file_is(b, "old"));
	assert_int_equal(symlink(t, l), 0); /* dangling: renaming through it would create target */
	assert_int_equal(rename_noreplace(AT_FDCWD, a, AT_FDCWD, l), -1);
	assert_int_equal(errno, EEXIST);
	struct stat sb;
	assert_int_equal(stat(t, &sb), -1);
	assert_int_equal(unlink(b), 0);
	assert_int_equal(rename_noreplace(AT_FDCWD, a, AT_FDCWD, b), 0);
	assert_true(file_is(b, "new"));
	assert_int_equal(stat(a, &sb), -1);
	tu_rmrf(d);
	free(d);
}

static void test_buf(void **state)
{
	(void)state;
	struct buf b = { 0 };
	for (int i = 0; i < 1000; i++)
		assert_int_equal(buf_printf(&b, "%d,", i), HDB_OK);
	assert_int_equal(strncmp((char *)b.p, "0,1,2,", 6), 0);
	assert_int_equal(buf_put_u32be(&b, 0x01020304), HDB_OK);
	assert_int_equal(get_u32be(b.p + b.len - 4), 0x01020304);
	assert_int_equal(buf_put_u64be(&b, UINT64_C(0x0102030405060708)), HDB_OK);
	assert_true(get_u64be(b.p + b.len - 8) == UINT64_C(0x0102030405060708));
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	buf_free_wipe(&b);
	assert_null(b.p);
}

static void test_secret(void **state)
{
	(void)state;
	struct hdb_secret *s;
	assert_int_equal(secret_from("key bytes", 9, &s), HDB_OK);
	assert_int_equal(s->len, 9);
	assert_memory_equal(s->buf, "key bytes", 9);
	assert_true(s->cap >= 9);
	secret_free(s);
	secret_free(NULL);
}

static void test_strerror(void **state)
{
	(void)state;
	assert_string_equal(hdb_strerror(HDB_EKEY), "wrong encryption key");
	assert_string_equal(hdb_strerror(12345), "unknown error");
	for (int rc = HDB_OK; rc >= HDB_EAUDIT; rc--)
		assert_string_not_equal(hdb_strerror(rc), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex_exhaustive),
		cmocka_unit_test(test_buf),
		cmocka_unit_test(test_rename_noreplace),
		cmocka_unit_test(test_secret),
		cmocka_unit_test(test_strerror),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
