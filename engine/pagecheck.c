/*
 * pagecheck.c - the structure of an LMDB data file, checked before LMDB
 * reads it (see pagecheck.h for what and why).
 *
 * The on-disk layout read here is LMDB 0.9's on a 64-bit machine (mdb.c):
 *
 *   page    u64 pgno | u16 pad | u16 flags | u16 lower | u16 upper, then
 *           u16 node offsets; an overflow page has u32 pages at 12
 *   meta    after the page header: u32 magic 0xBEEFC0DE | u32 version 1 |
 *           u64 address | u64 mapsize | MDB_db free | MDB_db main |
 *           u64 last_pg | u64 txnid
 *   MDB_db  u32 pad | u16 flags | u16 depth | u64 branch, leaf, overflow
 *           pages | u64 entries | u64 root (all ones: empty)
 *   node    u16 lo | u16 hi | u16 flags | u16 ksize | key | data; a leaf's
 *           data size is lo | hi << 16, a branch's child lo | hi << 16 |
 *           flags << 32
 *
 * Fields are read with memcpy (host order, as LMDB writes them), every
 * offset is checked against the page before it is used, and nothing here
 * trusts one page more than another.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pagecheck.h"

#define PAGEHDRSZ 16u
#define NODESZ 8u
#define NUM_METAS 2u
#define META_MAGIC 0xBEEFC0DEu
#define META_VERSION 1u
#define DB_SIZE 48u
#define META_FREE (PAGEHDRSZ + 24u)
#define META_MAIN (META_FREE + DB_SIZE)
#define META_LAST_PG (META_MAIN + DB_SIZE)
#define META_TXNID (META_LAST_PG + 8u)
#define P_INVALID UINT64_MAX

#define P_BRANCH 0x01u
#define P_LEAF 0x02u
#define P_OVERFLOW 0x04u
#define F_BIGDATA 0x01u
#define F_SUBDATA 0x02u
#define F_DUPDATA 0x04u
#define DB_DUPSORT 0x04u
#define DB_DUPFIXED 0x10u
#define MAX_KEY 511u
#define P_META 0x08u
#define DB_INTEGERKEY 0x08u
/* LMDB's cursor holds 32 pages; a root split at that depth writes past its
 * stack (mdb_page_split), so leave room: real trees stay under 20 */
#define MAX_DEPTH 24u

enum tree { T_MAIN, T_SUB, T_FREE };

struct walk_item {
	uint64_t pgno;
	uint64_t lo, hi;      /* the free list: its keys (txnids) lie in [lo, hi) */
	uint16_t depth;       /* 1 for a root */
	uint16_t want_depth;  /* the tree's md_depth: where its leaves are */
	uint8_t tree;
};

struct pc {
	const unsigned char *map;
	size_t psize;
	uint64_t last_pg;         /* the meta's: free-listed pages may lie past the file */
	uint64_t file_pages;      /* pages the image holds: every reachable one is below */
	uint64_t txnid;
	unsigned char *seen;      /* one bit a page: live, or listed free */
	struct walk_item *stack;
	size_t n, cap;
	char *err;
	size_t errlen;
};

static uint16_t rd16(const unsigned char *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t rd32(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t rd64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static int fail(struct pc *c, uint64_t pgno, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct pc *c, uint64_t pgno, const char *fmt, ...)
{
	int n = snprintf(c->err, c->errlen, "page %llu: ", (unsigned long long)pgno);
	if (n >= 0 && (size_t)n < c->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static const unsigned char *page(const struct pc *c, uint64_t pgno)
{
	return c->map + pgno * c->psize;
}

/* mark - claims page pgno for one use: false if it is out of range or
 * already used (a cycle, a page shared by two parents, a live page freed).
 * A page that is read (in_file) must lie in the file; a free-listed one only
 * below the meta's last page: LMDB never writes free pages, so the file may
 * end before them. */
static int mark(struct pc *c, uint64_t pgno, uint64_t from, const char *what, bool in_file)
{
	if (pgno < NUM_METAS || pgno > c->last_pg)
		return fail(c, from, "%s page %llu is outside the file's pages (2..%llu)", what,
		            (unsigned long long)pgno, (unsigned long long)c->last_pg);
	if (in_file && pgno >= c->file_pages)
		return fail(c, from, "%s page %llu lies past the end of the file (%llu pages): truncated", what,
		            (unsigned long long)pgno, (unsigned long long)c->file_pages);
	unsigned char bit = (unsigned char)(1u << (pgno & 7));
	if (c->seen[pgno >> 3] & bit)
		return fail(c, from, "%s page %llu is used twice", what, (unsigned long long)pgno);
	c->seen[pgno >> 3] |= bit;
	return 0;
}

static int push(struct pc *c, const struct walk_item *it, uint64_t from)
{
	if (mark(c, it->pgno, from, it->tree == T_FREE ? "free-list tree" : "tree", true))
		return -1;
	if (c->n == c->cap) {
		size_t ncap = c->cap ? 2 * c->cap : 256;
		struct walk_item *nv = realloc(c->stack, ncap * sizeof(*nv));
		if (!nv)
			return fail(c, from, "out of memory");
		c->stack = nv;
		c->cap = ncap;
	}
	c->stack[c->n++] = *it;
	return 0;
}

/* a tree's root from an MDB_db record at d: LMDB takes the flags (key
 * comparison, duplicates) from the file, so they must be the ones this
 * engine writes: none, and MDB_INTEGERKEY for the free list */
static int push_db(struct pc *c, const unsigned char *d, uint8_t tree, uint64_t from, const char *what)
{
	uint16_t flags = rd16(d + 4), depth = rd16(d + 6);
	uint64_t root = rd64(d + 40);
	unsigned want = tree == T_FREE ? DB_INTEGERKEY : 0;
	if (flags != want)
		return fail(c, from, "%s has flags 0x%x (this engine writes 0x%x)", what, flags, want);
	if (root == P_INVALID)
		return depth == 0 ? 0 : fail(c, from, "%s is empty but has depth %u", what, depth);
	if (depth == 0 || depth > MAX_DEPTH)
		return fail(c, from, "%s has depth %u", what, depth);
	struct walk_item it = { root, 1, c->txnid + 1, 1, depth, tree };
	return push(c, &it, from);
}

/* overflow - the run holding a big value of dsize bytes, from the leaf at
 * pgno; *ret_data its first byte */
static int overflow(struct pc *c, uint64_t pgno, const unsigned char *node_data, uint64_t dsize,
                    const unsigned char **ret_data)
{
	uint64_t opg = rd64(node_data);
	if (opg < NUM_METAS || opg >= c->file_pages)
		return fail(c, pgno, "a value's overflow page %llu is outside the file's pages",
		            (unsigned long long)opg);
	const unsigned char *op = page(c, opg);
	uint32_t npages = rd32(op + 12);
	if (rd64(op) != opg || rd16(op + 10) != P_OVERFLOW)
		return fail(c, opg, "not the overflow page the value at page %llu points to",
		            (unsigned long long)pgno);
	if (npages == 0 || npages > c->file_pages - opg)
		return fail(c, opg, "overflow run of %u pages runs past the file's pages", npages);
	if ((uint64_t)npages * c->psize - PAGEHDRSZ < dsize)
		return fail(c, opg, "overflow run of %u pages is too short for a %llu-byte value", npages,
		            (unsigned long long)dsize);
	for (uint32_t i = 0; i < npages; i++)
		if (mark(c, opg + i, pgno, "overflow", true))
			return -1;
	*ret_data = op + PAGEHDRSZ;
	return 0;
}

/* free_ids - a free-list record: u64 count, then at least that many page
 * numbers (LMDB may leave unused room at the end), none of them live or
 * listed before */
static int free_ids(struct pc *c, uint64_t pgno, const unsigned char *d, uint64_t dsize)
{
	if (dsize < 8 || dsize % 8 != 0 || rd64(d) > dsize / 8 - 1)
		return fail(c, pgno, "malformed free-list record (%llu bytes)", (unsigned long long)dsize);
	uint64_t n = rd64(d);
	for (uint64_t i = 1; i <= n; i++)
		if (mark(c, rd64(d + 8 * i), pgno, "free", false))
			return -1;
	return 0;
}

/* node_size - what a node takes in its page, as LMDB lays it out: header,
 * key, then the data or an overflow page number, rounded up to even */
static size_t node_size(const unsigned char *n, bool leaf)
{
	size_t sz = NODESZ + rd16(n + 6);
	if (leaf)
		sz += (rd16(n + 4) & F_BIGDATA) ? 8 : ((size_t)rd16(n) | (size_t)rd16(n + 2) << 16);
	return (sz + 1) & ~(size_t)1;
}

static int check_page(struct pc *c, const struct walk_item *it)
{
	uint64_t pgno = it->pgno;
	const unsigned char *p = page(c, pgno);
	uint16_t flags = rd16(p + 10), lower = rd16(p + 12), upper = rd16(p + 14);
	bool freelist = it->tree == T_FREE;
	if (rd64(p) != pgno)
		return fail(c, pgno, "header names page %llu", (unsigned long long)rd64(p));
	if (flags != P_BRANCH && flags != P_LEAF)
		return fail(c, pgno, "flags 0x%x where a branch or leaf page belongs", flags);
	bool leaf = flags == P_LEAF;
	if (leaf != (it->depth == it->want_depth))
		return fail(c, pgno, "a %s page at depth %u of a tree %u deep", leaf ? "leaf" : "branch", it->depth,
		            it->want_depth);
	if (lower < PAGEHDRSZ || lower % 2 != 0 || lower > upper || upper > c->psize)
		return fail(c, pgno, "bounds lower %u, upper %u in a page of %zu bytes", lower, upper, c->psize);
	/* LMDB's own invariants on a committed tree, which its searches and its
	 * rebalancing assert (only the free list's root branch may have one
	 * child); a leaf without keys is only ever an emptied root, which LMDB
	 * writes as no root at all */
	size_t nkeys = (lower - PAGEHDRSZ) / 2;
	if (!leaf && nkeys < (freelist && it->depth == 1 ? 1u : 2u))
		return fail(c, pgno, "a branch page with %zu children", nkeys);
	if (leaf && nkeys == 0)
		return fail(c, pgno, "a leaf page without keys");
	uint64_t prev = it->lo;   /* the free list: keys ascend within [lo, hi) */
	for (size_t i = 0; i < nkeys; i++) {
		size_t off = rd16(p + PAGEHDRSZ + 2 * i);
		if (off < upper || off % 2 != 0 || off > c->psize - NODESZ)
			return fail(c, pgno, "node %zu at offset %zu, outside %u..%zu", i, off, upper, c->psize - NODESZ);
		const unsigned char *n = p + off;
		uint16_t lo = rd16(n), hi = rd16(n + 2), nflags = rd16(n + 4), ksize = rd16(n + 6);
		if (ksize > MAX_KEY || off + NODESZ + ksize > c->psize)
			return fail(c, pgno, "node %zu: a %u-byte key does not fit", i, ksize);
		uint64_t key = 0;
		if (freelist && (leaf || i > 0)) {
			/* txnids, ascending: LMDB's page allocator walks them in order
			 * and asserts when one comes back */
			if (ksize != 8)
				return fail(c, pgno, "node %zu: a free-list key of %u bytes", i, ksize);
			key = rd64(n + NODESZ);
			if (key < prev || key >= it->hi || (leaf && i > 0 && key == prev))
				return fail(c, pgno, "node %zu: free-list key %llu out of order", i, (unsigned long long)key);
			prev = key;
		}
		if (!leaf) {
			/* child i covers [key i, key i+1) of the free list */
			uint64_t clo = i > 0 ? key : it->lo, chi = it->hi;
			if (freelist && i + 1 < nkeys) {
				size_t noff = rd16(p + PAGEHDRSZ + 2 * (i + 1));
				if (noff <= c->psize - NODESZ - 8 && rd16(p + noff + 6) == 8)
					chi = rd64(p + noff + NODESZ);
			}
			struct walk_item child = { (uint64_t)lo | (uint64_t)hi << 16 | (uint64_t)nflags << 32, clo, chi,
				                   (uint16_t)(it->depth + 1), it->want_depth, it->tree };
			if (push(c, &child, pgno))
				return -1;
			continue;
		}
		uint64_t dsize = (uint64_t)lo | (uint64_t)hi << 16;
		const unsigned char *d = n + NODESZ + ksize;
		size_t room = c->psize - off - NODESZ - ksize;
		if (nflags & ~(unsigned)(F_BIGDATA | F_SUBDATA) || (nflags & F_DUPDATA))
			return fail(c, pgno, "node %zu: flags 0x%x (duplicate data is not written by this engine)", i,
			            nflags);
		if (nflags & F_BIGDATA) {
			if ((nflags & F_SUBDATA) || room < 8)
				return fail(c, pgno, "node %zu: a big value without room for its page number", i);
			if (overflow(c, pgno, d, dsize, &d))
				return -1;
		} else if (dsize > room) {
			return fail(c, pgno, "node %zu: a %llu-byte value does not fit", i, (unsigned long long)dsize);
		}
		if (nflags & F_SUBDATA) {
			if (it->tree != T_MAIN || dsize != DB_SIZE)
				return fail(c, pgno, "node %zu: a named database where none can be", i);
			if (push_db(c, d, T_SUB, pgno, "a named database"))
				return -1;
		} else if (freelist) {
			if (free_ids(c, pgno, d, dsize))
				return -1;
		}
	}
	/* the nodes tile upper..psize exactly, as LMDB lays them out: two that
	 * overlap would make its deletes and updates move bytes past the page.
	 * Mark where each node starts, then step from upper node by node. */
	unsigned char starts[65536 / 16];
	memset(starts, 0, c->psize / 16);
	for (size_t i = 0; i < nkeys; i++) {
		size_t off = rd16(p + PAGEHDRSZ + 2 * i);
		starts[off >> 4] |= (unsigned char)(1u << ((off >> 1) & 7));
	}
	size_t pos = upper, count = 0;
	while (pos < c->psize && (starts[pos >> 4] & (1u << ((pos >> 1) & 7)))) {
		pos += node_size(p + pos, leaf);
		count++;
	}
	if (pos != c->psize || count != nkeys)
		return fail(c, pgno, "nodes overlap or leave gaps (at offset %zu)", pos);
	return 0;
}

/* meta_bad - meta page i of the image: what LMDB checks, and what it would
 * divide by or index with */
static const char *meta_bad(const unsigned char *m, unsigned i, size_t psize)
{
	if (rd64(m) != i || rd16(m + 10) != P_META)
		return "not a meta page";
	if (rd32(m + PAGEHDRSZ) != META_MAGIC || rd32(m + PAGEHDRSZ + 4) != META_VERSION)
		return "bad magic or version";
	if (rd32(m + META_FREE) != psize)
		return "page size differs";
	uint64_t t = rd64(m + META_TXNID);
	if (t != 0 && (t & 1) != i)
		return "transaction id on the wrong meta page";
	if (rd64(m + META_LAST_PG) < NUM_METAS - 1)
		return "last page below the meta pages";
	return NULL;
}

int pagecheck_metas(const char *path, size_t *ret_psize, char *err, size_t errlen)
{
	unsigned char m[2][META_TXNID + 8];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open: %s", strerror(errno));
		return -1;
	}
	ssize_t got = pread(fd, m[0], sizeof(m[0]), 0);
	size_t psize = got == (ssize_t)sizeof(m[0]) ? rd32(m[0] + META_FREE) : 0;
	const char *why = NULL;
	unsigned bad = 0;
	if (psize < 512 || psize > 65536 || (psize & (psize - 1)))
		why = "no page size LMDB can use";
	else if (!(why = meta_bad(m[0], 0, psize))) {
		bad = 1;
		if (pread(fd, m[1], sizeof(m[1]), (off_t)psize) != (ssize_t)sizeof(m[1]))
			why = "missing";
		else
			why = meta_bad(m[1], 1, psize);
	}
	close(fd);
	if (why) {
		snprintf(err, errlen, "meta page %u: %s", bad, why);
		return -1;
	}
	*ret_psize = psize;
	return 0;
}

int pagecheck_image(const unsigned char *map, size_t size, size_t psize, uint64_t txnid, uint64_t max_pages,
                    char *err, size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	if (psize < 512 || psize > 65536 || (psize & (psize - 1)) || size < NUM_METAS * psize) {
		snprintf(err, errlen, "no meta pages (page size %zu, %zu bytes)", psize, size);
		return -1;
	}
	for (unsigned i = 0; i < NUM_METAS; i++) {
		const char *why = meta_bad(map + (size_t)i * psize, i, psize);
		if (why) {
			snprintf(err, errlen, "meta page %u: %s", i, why);
			return -1;
		}
	}
	if (txnid == PAGECHECK_NEWEST) {
		uint64_t t0 = rd64(map + META_TXNID), t1 = rd64(map + psize + META_TXNID);
		txnid = t0 > t1 ? t0 : t1;
	}
	/* the page LMDB reads for this snapshot: me_metas[txnid & 1] */
	unsigned mi = (unsigned)(txnid & 1);
	unsigned char meta[META_TXNID + 8];   /* a copy: another process may rewrite it */
	memcpy(meta, map + (size_t)mi * psize, sizeof(meta));
	if (rd64(meta + META_TXNID) != txnid) {
		snprintf(err, errlen, "meta page %u does not hold transaction %llu", mi, (unsigned long long)txnid);
		return -2;
	}
	struct pc c = { .map = map, .psize = psize, .last_pg = rd64(meta + META_LAST_PG),
		        .file_pages = size / psize, .txnid = txnid, .err = err, .errlen = errlen };
	if (c.last_pg >= max_pages) {
		snprintf(err, errlen, "meta page %u: last page %llu, beyond the largest database (%llu pages)", mi,
		         (unsigned long long)c.last_pg, (unsigned long long)max_pages);
		return -1;
	}
	c.seen = calloc((size_t)(c.last_pg / 8 + 1), 1);
	if (!c.seen) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* the live trees first, then the free list: a listed page must be in
	 * none of them */
	int rc = push_db(&c, meta + META_MAIN, T_MAIN, mi, "the main database");
	for (int pass = 0; rc == 0 && pass < 2; pass++) {
		while (rc == 0 && c.n > 0) {
			struct walk_item it = c.stack[--c.n];
			rc = check_page(&c, &it);
		}
		if (rc == 0 && pass == 0)
			rc = push_db(&c, meta + META_FREE, T_FREE, mi, "the free list");
	}
	free(c.seen);
	free(c.stack);
	return rc;
}

int pagecheck_file(const char *path, size_t psize, uint64_t txnid, uint64_t max_pages, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open: %s", strerror(errno));
		return -1;
	}
	struct stat sb;
	if (fstat(fd, &sb) != 0 || sb.st_size < 0) {
		snprintf(err, errlen, "cannot stat: %s", strerror(errno));
		close(fd);
		return -1;
	}
	size_t size = (size_t)sb.st_size;
	if (size < NUM_METAS * psize) {
		snprintf(err, errlen, "%zu bytes: no meta pages", size);
		close(fd);
		return -1;
	}
	void *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		snprintf(err, errlen, "cannot map: %s", strerror(errno));
		return -1;
	}
	int rc = pagecheck_image(map, size, psize, txnid, max_pages, err, errlen);
	munmap(map, size);
	return rc;
}
