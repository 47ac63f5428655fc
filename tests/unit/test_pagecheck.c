/*
 * test_pagecheck.c - the structure check at open (engine/pagecheck.c): a
 * real database passes, and so does one whose file ends before the meta's
 * last page (LMDB never writes free pages); each kind of damage LMDB would
 * follow out of bounds or assert on (headers, nodes, overlapping nodes, a
 * named database's flags, meta pages) is refused with the page it is on;
 * hdb_open refuses such a file, a page size of 0 before LMDB divides by it,
 * and storage.check_structure_on_open = false leaves the walk out.
 *
 * The database is built through the engine (one 12000-byte value for an
 * overflow run, enough rows for branch pages), read into memory and damaged
 * there, one copy per case.
 */
#include "testutil.h"
#include <sys/stat.h>
#include "heliosdb.h"
#include "pagecheck.h"

#define PS 4096u
#define MAXPG (UINT64_C(1) << 24)

struct img {
	char *dir, path[600], file[700];
	unsigned char *b;
	size_t n;
};

static void build(struct img *im, bool audit)
{
	memset(im, 0, sizeof(*im));
	im->dir = tu_mkdtemp();
	assert_non_null(im->dir);
	snprintf(im->path, sizeof(im->path), "%s/db", im->dir);
	snprintf(im->file, sizeof(im->file), "%s/data.mdb", im->path);
	setenv("HELIOSDB_ENCRYPTION_KEY", TEST_KEY_HEX, 1);
	struct hdb_config *cfg;
	assert_int_equal(hdb_config_new(&cfg), HDB_OK);
	if (!audit)
		assert_int_equal(hdb_config_apply(cfg, "audit.enabled = false"), HDB_OK);
	struct hdb_db *db;
	assert_int_equal(hdb_open(im->path, cfg, HDB_OPEN_CREATE, &db), HDB_OK);
	const struct hdb_principal who = { "test", "local", "test_pagecheck" };
	struct hdb_session *s;
	assert_int_equal(hdb_session_open(db, &who, &s), HDB_OK);
	static char big[12000];
	memset(big, 'Q', sizeof(big));
	assert_int_equal(hdb_kv_put(s, "bigks", "big", 3, big, sizeof(big)), HDB_OK);
	assert_int_equal(hdb_begin(s, 0), HDB_OK);
	for (int i = 0; i < 3000; i++) {
		char k[16];
		snprintf(k, sizeof(k), "k%05d", i);
		assert_int_equal(hdb_kv_put(s, "ks", k, strlen(k), "a value of some length", 22), HDB_OK);
	}
	assert_int_equal(hdb_commit(s), HDB_OK);
	/* deletes in later transactions: the free list gets entries */
	for (int i = 0; i < 3000; i += 7) {
		char k[16];
		snprintf(k, sizeof(k), "k%05d", i);
		assert_int_equal(hdb_kv_delete(s, "ks", k, strlen(k)), HDB_OK);
	}
	hdb_session_close(s);
	hdb_close(db);
	hdb_config_free(cfg);
	FILE *fp = fopen(im->file, "rb");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	im->n = (size_t)ftell(fp);
	fseek(fp, 0, SEEK_SET);
	im->b = malloc(im->n);
	assert_non_null(im->b);
	assert_int_equal(fread(im->b, 1, im->n, fp), im->n);
	fclose(fp);
}

static void img_free(struct img *im)
{
	free(im->b);
	tu_rmrf(im->dir);
	free(im->dir);
}

static uint16_t flags_of(const unsigned char *b, size_t pg)
{
	uint16_t f;
	memcpy(&f, b + pg * PS + 10, 2);
	return f;
}

/* the first page of kind flags that the current snapshot uses (its number
 * is in its header: a free page keeps an old one, so skip those that fail) */
static size_t find_page(const struct img *im, uint16_t flags, size_t after)
{
	for (size_t pg = after + 1; pg < im->n / PS; pg++) {
		if (flags_of(im->b, pg) != flags)
			continue;
		unsigned char *c = malloc(im->n);
		memcpy(c, im->b, im->n);
		c[pg * PS + 12] = 0xff;   /* lower far out: only a used page fails */
		c[pg * PS + 13] = 0xff;
		char err[256];
		int r = pagecheck_image(c, im->n, PS, PAGECHECK_NEWEST, MAXPG, err, sizeof(err));
		free(c);
		if (r == -1)
			return pg;
	}
	fail_msg("no used page with flags 0x%x", flags);
	return 0;
}

/* damage - copy, apply, check: expect -1 and both substrings in the error */
static void damage(const struct img *im, size_t off, const void *bytes, size_t len, const char *want1,
                   const char *want2)
{
	unsigned char *c = malloc(im->n);
	assert_non_null(c);
	memcpy(c, im->b, im->n);
	memcpy(c + off, bytes, len);
	char err[256] = "";
	int r = pagecheck_image(c, im->n, PS, PAGECHECK_NEWEST, MAXPG, err, sizeof(err));
	print_message("  damage at %zu: %s\n", off, err);
	assert_int_equal(r, -1);
	assert_non_null(strstr(err, want1));
	assert_non_null(strstr(err, want2));
	free(c);
}

static void test_sound_file_passes(void **state)
{
	(void)state;
	for (int audit = 0; audit < 2; audit++) {
		struct img im;
		build(&im, audit);
		char err[256] = "x";
		assert_int_equal(pagecheck_image(im.b, im.n, PS, PAGECHECK_NEWEST, MAXPG, err, sizeof(err)), 0);
		assert_string_equal(err, "");
		assert_int_equal(pagecheck_file(im.file, PS, PAGECHECK_NEWEST, MAXPG, err, sizeof(err)), 0);
		/* an image cut before its last page, or without meta pages */
		assert_int_equal(pagecheck_image(im.b, 2 * PS, PS, PAGECHECK_NEWEST, MAXPG, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "lies past the end of the file (2 pages): truncated"));
		assert_int_equal(pagecheck_image(im.b, PS, PS, PAGECHECK_NEWEST, MAXPG, err, sizeof(err)), -1);
		img_free(&im);
	}
}

static void test_each_damage_is_named(void **state)
{
	(void)state;
	struct img im;
	build(&im, false);
	char want[64];
	size_t leaf = find_page(&im, 0x02, 1), branch = find_page(&im, 0x01, 1), ovf = find_page(&im, 0x04, 1);
	uint16_t v16;
	uint64_t v64;

	/* a leaf whose lower runs past the page: a writer's copy would overflow */
	snprintf(want, sizeof(want), "page %zu: bounds lower", leaf);
	v16 = 0x5555;
	damage(&im, leaf * PS + 12, &v16, 2, want, "in a page of 4096 bytes");
	/* upper past the page */
	v16 = 5000;
	damage(&im, leaf * PS + 14, &v16, 2, want, "upper 5000");
	/* LMDB's invariants: no empty leaf, no branch of one child */
	v16 = 16;
	damage(&im, leaf * PS + 12, &v16, 2, "a leaf page without keys", "");
	v16 = 18;
	snprintf(want, sizeof(want), "page %zu: a branch page with 1 children", branch);
	damage(&im, branch * PS + 12, &v16, 2, want, "");
	/* the page's own number */
	snprintf(want, sizeof(want), "page %zu: header names page", leaf);
	v64 = leaf + 1;
	damage(&im, leaf * PS, &v64, 8, want, "");
	/* a leaf where a branch belongs, and the reverse */
	v16 = 0x01;
	damage(&im, leaf * PS + 10, &v16, 2, "a branch page at depth", "");
	v16 = 0x08;
	damage(&im, leaf * PS + 10, &v16, 2, "flags 0x8", "");
	/* a node offset below upper and one past the page */
	uint16_t upper;
	memcpy(&upper, im.b + leaf * PS + 14, 2);
	v16 = (uint16_t)(upper - 2);
	snprintf(want, sizeof(want), "page %zu: node 0 at offset", leaf);
	damage(&im, leaf * PS + 16, &v16, 2, want, "outside");
	v16 = PS - 4;
	damage(&im, leaf * PS + 16, &v16, 2, want, "outside");
	/* a key size that runs past the page */
	uint16_t off0;
	memcpy(&off0, im.b + leaf * PS + 16, 2);
	v16 = 500;
	damage(&im, leaf * PS + off0 + 6, &v16, 2, "-byte key does not fit", "");
	/* a branch's first child out of the file, and onto the branch itself */
	uint16_t boff;
	memcpy(&boff, im.b + branch * PS + 16, 2);
	v16 = 0xffff;
	snprintf(want, sizeof(want), "page %zu: tree page", branch);
	damage(&im, branch * PS + boff + 2, &v16, 2, want, "outside the file's pages");
	uint16_t self[2] = { (uint16_t)(branch & 0xffff), (uint16_t)(branch >> 16) };
	damage(&im, branch * PS + boff, self, 4, want, "is used twice");
	/* an overflow run that claims more pages than the file has, or too few */
	uint32_t pages = 100000;
	snprintf(want, sizeof(want), "page %zu: overflow run", ovf);
	damage(&im, ovf * PS + 12, &pages, 4, want, "runs past the file's pages");
	pages = 1;
	damage(&im, ovf * PS + 12, &pages, 4, want, "too short for a 12");
	/* two node offsets the same: nodes must tile the page */
	memcpy(&v16, im.b + leaf * PS + 16, 2);
	snprintf(want, sizeof(want), "page %zu: nodes ", leaf);   /* overlap, or take less room than the page says */
	damage(&im, leaf * PS + 18, &v16, 2, want, "");
	/* a named database's flags (LMDB would compare its keys as integers) */
	uint64_t t0, t1, root;
	memcpy(&t0, im.b + 144, 8);
	memcpy(&t1, im.b + PS + 144, 8);
	size_t mp = t0 > t1 ? 0 : 1;
	memcpy(&root, im.b + mp * PS + 88 + 40, 8);   /* the main database's root: a leaf */
	uint16_t noff, ks;
	memcpy(&noff, im.b + root * PS + 16, 2);
	memcpy(&ks, im.b + root * PS + noff + 6, 2);
	v16 = 0x08;
	damage(&im, root * PS + noff + 8 + ks + 4, &v16, 2, "a named database has flags 0x8", "");
	/* the meta pages: a transaction id on the wrong page, a page size */
	uint64_t odd = 7;
	damage(&im, 144, &odd, 8, "meta page 0: transaction id on the wrong meta page", "");
	uint32_t ps0 = 0;
	damage(&im, PS + 40, &ps0, 4, "meta page 1: page size differs", "");
	/* the overflow page's kind */
	v16 = 0x02;
	damage(&im, ovf * PS + 10, &v16, 2, "not the overflow page the value at page", "");
	img_free(&im);
}

/* One byte at a time over every page header and the first node offsets,
 * each changed four ways: whatever the byte, the check returns (ASan would
 * catch a read out of the image), and some changes are refused, not all. */
static void test_every_header_byte(void **state)
{
	(void)state;
	struct img im;
	build(&im, true);
	static const unsigned char flips[] = { 0x01, 0x80, 0x55, 0xff };
	size_t refused = 0, total = 0;
	for (size_t pg = 0; pg < im.n / PS; pg++) {
		for (size_t o = 0; o < 48; o++) {
			for (size_t f = 0; f < sizeof(flips); f++) {
				im.b[pg * PS + o] ^= flips[f];
				char err[256];
				int r = pagecheck_image(im.b, im.n, PS, PAGECHECK_NEWEST, MAXPG, err, sizeof(err));
				im.b[pg * PS + o] ^= flips[f];
				assert_true(r == 0 || r == -1 || r == -2);
				refused += r != 0;
				total++;
			}
		}
	}
	print_message("  %zu of %zu one-byte changes refused\n", refused, total);
	assert_true(refused > 0 && refused < total);
	img_free(&im);
}

/* hdb_open refuses a file the check refuses, read-write and read-only; with
 * the check off it opens (the damage, a value's overflow run too short, is
 * in a value the open does not read). */
static void test_open_refuses_and_knob(void **state)
{
	(void)state;
	struct img im;
	build(&im, false);
	size_t ovf = find_page(&im, 0x04, 1);
	FILE *fp = fopen(im.file, "r+b");
	assert_non_null(fp);
	uint32_t one = 1;
	fseek(fp, (long)(ovf * PS + 12), SEEK_SET);
	assert_int_equal(fwrite(&one, 4, 1, fp), 1);
	fclose(fp);
	struct hdb_config *cfg;
	assert_int_equal(hdb_config_new(&cfg), HDB_OK);
	assert_int_equal(hdb_config_apply(cfg, "audit.enabled = false"), HDB_OK);
	struct hdb_db *db = NULL;
	char want[64];
	snprintf(want, sizeof(want), "is corrupt (page %zu: overflow run of 1 pages", ovf);
	for (int ro = 0; ro < 2; ro++) {
		assert_int_equal(hdb_open(im.path, cfg, ro ? HDB_OPEN_RDONLY : HDB_OPEN_CREATE, &db), HDB_ECORRUPT);
		print_message("  %s\n", hdb_errmsg(db));
		assert_non_null(strstr(hdb_errmsg(db), want));
		assert_non_null(strstr(hdb_errmsg(db), "nothing was read or written"));
		hdb_close(db);
		db = NULL;
	}
	assert_int_equal(hdb_config_apply(cfg, "storage.check_structure_on_open = false"), HDB_OK);
	assert_int_equal(hdb_open(im.path, cfg, HDB_OPEN_RDONLY, &db), HDB_OK);
	hdb_close(db);
	/* a page size of 0 in a meta page: LMDB 0.9.24 divides by it as it
	 * opens (SIGFPE), so it is checked before LMDB sees the file */
	assert_int_equal(hdb_config_apply(cfg, "storage.check_structure_on_open = true"), HDB_OK);
	fp = fopen(im.file, "r+b");
	assert_non_null(fp);
	uint32_t zero = 0;
	fseek(fp, 40, SEEK_SET);
	assert_int_equal(fwrite(&zero, 4, 1, fp), 1);
	fclose(fp);
	db = NULL;
	assert_int_equal(hdb_open(im.path, cfg, HDB_OPEN_RDONLY, &db), HDB_ECORRUPT);
	assert_non_null(strstr(hdb_errmsg(db), "(meta page 0: no page size LMDB can use)"));
	hdb_close(db);
	hdb_config_free(cfg);
	img_free(&im);
}

/* A file may end before the meta's last page: LMDB lists the final pages
 * free and never writes them (a large value put and deleted in one
 * transaction).  It opens, and so does every later open. */
static void test_file_shorter_than_last_page(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char path[600], file[700];
	snprintf(path, sizeof(path), "%s/db", dir);
	snprintf(file, sizeof(file), "%s/data.mdb", path);
	struct hdb_config *cfg;
	assert_int_equal(hdb_config_new(&cfg), HDB_OK);
	assert_int_equal(hdb_config_apply(cfg, "audit.enabled = false"), HDB_OK);
	struct hdb_db *db;
	assert_int_equal(hdb_open(path, cfg, HDB_OPEN_CREATE, &db), HDB_OK);
	const struct hdb_principal who = { "test", "local", "test_pagecheck" };
	struct hdb_session *s;
	assert_int_equal(hdb_session_open(db, &who, &s), HDB_OK);
	char k[16];
	assert_int_equal(hdb_begin(s, 0), HDB_OK);
	for (int i = 0; i < 3000; i++) {
		snprintf(k, sizeof(k), "k%05d", i);
		assert_int_equal(hdb_kv_put(s, "ks", k, strlen(k), "some value of a length", 22), HDB_OK);
	}
	assert_int_equal(hdb_commit(s), HDB_OK);
	for (int r = 0; r < 3; r++) {
		assert_int_equal(hdb_begin(s, 0), HDB_OK);
		for (int i = r; i < 3000; i += 5) {
			snprintf(k, sizeof(k), "k%05d", i);
			assert_int_equal(hdb_kv_delete(s, "ks", k, strlen(k)), HDB_OK);
		}
		assert_int_equal(hdb_commit(s), HDB_OK);
	}
	static char big[1 << 20];
	memset(big, 'B', sizeof(big));
	assert_int_equal(hdb_begin(s, 0), HDB_OK);
	assert_int_equal(hdb_kv_put(s, "ks", "big", 3, big, sizeof(big)), HDB_OK);
	assert_int_equal(hdb_kv_delete(s, "ks", "big", 3), HDB_OK);
	assert_int_equal(hdb_commit(s), HDB_OK);
	hdb_session_close(s);
	hdb_close(db);
	/* the case at hand: the newer meta's last page lies past the file */
	FILE *fp = fopen(file, "rb");
	assert_non_null(fp);
	unsigned char m[2][152];
	assert_int_equal(fread(m[0], 1, 152, fp), 152);
	fseek(fp, PS, SEEK_SET);
	assert_int_equal(fread(m[1], 1, 152, fp), 152);
	fseek(fp, 0, SEEK_END);
	long size = ftell(fp);
	fclose(fp);
	uint64_t t0, t1, last;
	memcpy(&t0, m[0] + 144, 8);
	memcpy(&t1, m[1] + 144, 8);
	memcpy(&last, m[t0 > t1 ? 0 : 1] + 136, 8);
	print_message("  last page %llu, file %ld pages\n", (unsigned long long)last, size / (long)PS);
	assert_true((last + 1) * PS > (uint64_t)size);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(hdb_open(path, cfg, 0, &db), HDB_OK);
		hdb_close(db);
	}
	hdb_config_free(cfg);
	tu_rmrf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sound_file_passes),
		cmocka_unit_test(test_each_damage_is_named),
		cmocka_unit_test(test_every_header_byte),
		cmocka_unit_test(test_open_refuses_and_knob),
		cmocka_unit_test(test_file_shorter_than_last_page),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
