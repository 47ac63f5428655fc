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
#define MAX_DEPTH 32u     /* 4 KiB pages, keys <= 511 B: far beyond any real tree */

enum tree { T_MAIN, T_SUB, T_FREE };

struct walk_item {
	uint64_t pgno;
	uint16_t depth;       /* 1 for a root */
	uint16_t want_depth;  /* the tree's md_depth: where its leaves are */
	uint8_t tree;
};

struct pc {
	const unsigned char *map;
	size_t psize;
	uint64_t last_pg;
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
 * already used (a cycle, a page shared by two parents, a live page freed) */
static int mark(struct pc *c, uint64_t pgno, uint64_t from, const char *what)
{
	if (pgno < NUM_METAS || pgno > c->last_pg)
		return fail(c, from, "%s page %llu is outside the file's pages (2..%llu)", what,
		            (unsigned long long)pgno, (unsigned long long)c->last_pg);
	unsigned char bit = (unsigned char)(1u << (pgno & 7));
	if (c->seen[pgno >> 3] & bit)
		return fail(c, from, "%s page %llu is used twice", what, (unsigned long long)pgno);
	c->seen[pgno >> 3] |= bit;
	return 0;
}

static int push(struct pc *c, uint64_t pgno, uint16_t depth, uint16_t want, uint8_t tree, uint64_t from)
{
	if (mark(c, pgno, from, tree == T_FREE ? "free-list tree" : "tree"))
		return -1;
	if (c->n == c->cap) {
		size_t ncap = c->cap ? 2 * c->cap : 256;
		struct walk_item *nv = realloc(c->stack, ncap * sizeof(*nv));
		if (!nv)
			return fail(c, from, "out of memory");
		c->stack = nv;
		c->cap = ncap;
	}
	c->stack[c->n++] = (struct walk_item){ pgno, depth, want, tree };
	return 0;
}

/* a tree's root from an MDB_db record at d */
static int push_db(struct pc *c, const unsigned char *d, uint8_t tree, uint64_t from, const char *what)
{
	uint16_t flags = rd16(d + 4), depth = rd16(d + 6);
	uint64_t root = rd64(d + 40);
	if (flags & (DB_DUPSORT | DB_DUPFIXED))
		return fail(c, from, "%s is duplicate-sorted (flags 0x%x): not written by this engine", what, flags);
	if (root == P_INVALID)
		return depth == 0 ? 0 : fail(c, from, "%s is empty but has depth %u", what, depth);
	if (depth == 0 || depth > MAX_DEPTH)
		return fail(c, from, "%s has depth %u", what, depth);
	return push(c, root, 1, depth, tree, from);
}

/* overflow - the run holding a big value of dsize bytes, from the leaf at
 * pgno; *ret_data its first byte */
static int overflow(struct pc *c, uint64_t pgno, const unsigned char *node_data, uint64_t dsize,
                    const unsigned char **ret_data)
{
	uint64_t opg = rd64(node_data);
	if (opg < NUM_METAS || opg > c->last_pg)
		return fail(c, pgno, "a value's overflow page %llu is outside the file's pages",
		            (unsigned long long)opg);
	const unsigned char *op = page(c, opg);
	uint32_t npages = rd32(op + 12);
	if (rd64(op) != opg || rd16(op + 10) != P_OVERFLOW)
		return fail(c, opg, "not the overflow page the value at page %llu points to",
		            (unsigned long long)pgno);
	if (npages == 0 || npages - 1 > c->last_pg - opg)
		return fail(c, opg, "overflow run of %u pages runs past the file's pages", npages);
	if ((uint64_t)npages * c->psize - PAGEHDRSZ < dsize)
		return fail(c, opg, "overflow run of %u pages is too short for a %llu-byte value", npages,
		            (unsigned long long)dsize);
	for (uint32_t i = 0; i < npages; i++)
		if (mark(c, opg + i, pgno, "overflow"))
			return -1;
	*ret_data = op + PAGEHDRSZ;
	return 0;
}

/* free_ids - a free-list record: u64 count, then that many page numbers,
 * none of them live or listed before */
static int free_ids(struct pc *c, uint64_t pgno, const unsigned char *d, uint64_t dsize)
{
	if (dsize < 8 || dsize % 8 != 0 || rd64(d) != dsize / 8 - 1)
		return fail(c, pgno, "malformed free-list record (%llu bytes)", (unsigned long long)dsize);
	for (uint64_t i = 1; i < dsize / 8; i++)
		if (mark(c, rd64(d + 8 * i), pgno, "free"))
			return -1;
	return 0;
}

static int check_page(struct pc *c, const struct walk_item *it)
{
	uint64_t pgno = it->pgno;
	const unsigned char *p = page(c, pgno);
	uint16_t flags = rd16(p + 10), lower = rd16(p + 12), upper = rd16(p + 14);
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
	/* LMDB's own invariants on a committed tree, which its searches assume
	 * (a branch of one child fails an assertion outside the free list; a
	 * leaf without keys is only ever an emptied root, written as none) */
	size_t nkeys = (lower - PAGEHDRSZ) / 2;
	if (!leaf && nkeys < (it->tree == T_FREE ? 1u : 2u))
		return fail(c, pgno, "a branch page with %zu children", nkeys);
	if (leaf && nkeys == 0)
		return fail(c, pgno, "a leaf page without keys");
	for (size_t i = 0; i < nkeys; i++) {
		size_t off = rd16(p + PAGEHDRSZ + 2 * i);
		if (off < upper || off % 2 != 0 || off > c->psize - NODESZ)
			return fail(c, pgno, "node %zu at offset %zu, outside %u..%zu", i, off, upper, c->psize - NODESZ);
		const unsigned char *n = p + off;
		uint16_t lo = rd16(n), hi = rd16(n + 2), nflags = rd16(n + 4), ksize = rd16(n + 6);
		if (ksize > MAX_KEY || off + NODESZ + ksize > c->psize)
			return fail(c, pgno, "node %zu: a %u-byte key does not fit", i, ksize);
		if (!leaf) {
			uint64_t child = (uint64_t)lo | (uint64_t)hi << 16 | (uint64_t)nflags << 32;
			if (push(c, child, (uint16_t)(it->depth + 1), it->want_depth, it->tree, pgno))
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
		} else if (it->tree == T_FREE) {
			if (ksize != 8)
				return fail(c, pgno, "node %zu: a free-list key of %u bytes", i, ksize);
			if (free_ids(c, pgno, d, dsize))
				return -1;
		}
	}
	return 0;
}

/* the meta page of txnid (0: the newer valid one) */
static const unsigned char *pick_meta(const unsigned char *map, size_t psize, uint64_t txnid)
{
	const unsigned char *best = NULL;
	for (unsigned i = 0; i < NUM_METAS; i++) {
		const unsigned char *m = map + (size_t)i * psize;
		if (rd32(m + PAGEHDRSZ) != META_MAGIC || rd32(m + PAGEHDRSZ + 4) != META_VERSION)
			continue;
		uint64_t t = rd64(m + META_TXNID);
		if (txnid ? t == txnid : (!best || t > rd64(best + META_TXNID)))
			best = m;
	}
	return best;
}

int pagecheck_image(const unsigned char *map, size_t size, size_t psize, uint64_t txnid, char *err, size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	if (psize < 512 || psize > 65536 || (psize & (psize - 1)) || size < NUM_METAS * psize) {
		snprintf(err, errlen, "no meta pages (page size %zu, %zu bytes)", psize, size);
		return -1;
	}
	const unsigned char *mp = pick_meta(map, psize, txnid);
	if (!mp) {
		snprintf(err, errlen, "no valid meta page for transaction %llu", (unsigned long long)txnid);
		return -2;
	}
	/* a copy: another process may commit twice during the walk and so
	 * rewrite this meta page (the snapshot's pages stay while the caller
	 * holds a read transaction on it) */
	unsigned char meta[META_TXNID + 8];
	memcpy(meta, mp, sizeof(meta));
	uint64_t meta_pg = mp == map ? 0 : 1;
	if (txnid && rd64(meta + META_TXNID) != txnid) {
		snprintf(err, errlen, "meta page %llu was rewritten while read", (unsigned long long)meta_pg);
		return -2;
	}
	struct pc c = { .map = map, .psize = psize, .last_pg = rd64(meta + META_LAST_PG), .err = err,
		        .errlen = errlen };
	if (c.last_pg < NUM_METAS - 1 || c.last_pg >= size / psize) {
		snprintf(err, errlen, "meta page %llu: last page %llu, but the file has %zu pages",
		         (unsigned long long)meta_pg, (unsigned long long)c.last_pg, size / psize);
		return -1;
	}
	c.seen = calloc((size_t)(c.last_pg / 8 + 1), 1);
	if (!c.seen) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* the live trees first, then the free list: a listed page must be in
	 * none of them */
	int rc = push_db(&c, meta + META_MAIN, T_MAIN, meta_pg, "the main database");
	for (int pass = 0; rc == 0 && pass < 2; pass++) {
		while (rc == 0 && c.n > 0) {
			struct walk_item it = c.stack[--c.n];
			rc = check_page(&c, &it);
		}
		if (rc == 0 && pass == 0)
			rc = push_db(&c, meta + META_FREE, T_FREE, meta_pg, "the free list");
	}
	free(c.seen);
	free(c.stack);
	return rc;
}

int pagecheck_file(const char *path, size_t psize, uint64_t txnid, char *err, size_t errlen)
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
	int rc = pagecheck_image(map, size, psize, txnid, err, errlen);
	munmap(map, size);
	return rc;
}
