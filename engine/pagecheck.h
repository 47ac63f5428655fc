/*
 * pagecheck.h - the structure of an LMDB data file, checked before LMDB
 * reads it.
 *
 * LMDB 0.9 trusts its pages: a damaged or forged page header or node can
 * make a reader fault and a writer copy past a heap buffer (a write into a
 * page whose mp_lower exceeds the page size overflows the copy LMDB makes of
 * it).  So every open walks the snapshot it is about to use, from its meta
 * page down, and refuses a file on which LMDB could go out of bounds:
 *
 *   - each page reached is what its parent says: its own number, branch or
 *     leaf (overflow where a value points), mp_lower/mp_upper within the
 *     page and in order, every node inside the page, leaves all at the
 *     tree's depth, no page reached twice, no leaf empty, no branch with
 *     one child outside the free list (LMDB asserts on that);
 *   - a branch's children, a value's overflow run and every page number in
 *     the free list lie within the file's used pages, and a free page is no
 *     live one (a writer would overwrite it);
 *   - nodes tile the page as LMDB lays them out (overlapping ones would
 *     make its deletes move bytes past the page);
 *   - named databases (the main database's F_SUBDATA records) are walked
 *     the same way, with the flags this engine writes (LMDB takes key
 *     comparison and duplicates from the file); the free list's keys
 *     ascend and none is newer than the snapshot (LMDB's allocator asserts
 *     otherwise);
 *   - before LMDB opens the file at all, both meta pages hold one page size
 *     it can use (it divides by it) and their ids on the right page.
 *
 * Key order is not checked outside the free list: a misordered page gives
 * wrong answers (caught by authentication in encrypted databases), never an
 * access out of bounds.  The file may end before the meta's last page when
 * the free list names the final pages (LMDB never writes free pages).  The walk reads every page header and node table once:
 * O(pages), the figures are in docs/storage.md.
 */
#ifndef HDB_PAGECHECK_H
#define HDB_PAGECHECK_H

#include <stddef.h>
#include <stdint.h>

#define PAGECHECK_NEWEST UINT64_MAX   /* txnid: the snapshot of the newer meta page */

/* pagecheck_metas - before LMDB opens the file: both meta pages are meta
 * pages of one page size LMDB can use (it divides by it as it opens), with
 * their transaction ids on the right page.  0 and *ret_psize, or -1 with
 * the problem in err. */
int pagecheck_metas(const char *path, size_t *ret_psize, char *err, size_t errlen);

/* pagecheck_image - checks the snapshot of transaction txnid (the one LMDB
 * reads from meta page txnid & 1) in the file image map[0..size) of pages of
 * psize bytes; max_pages bounds the meta's last page (and the memory the
 * walk takes).  0 when sound; otherwise -1 with the first problem in err
 * ("page N: ..."), or -2 when that meta page no longer holds txnid (a
 * writer moved on: try again). */
int pagecheck_image(const unsigned char *map, size_t size, size_t psize, uint64_t txnid, uint64_t max_pages,
                    char *err, size_t errlen);

/* pagecheck_file - the same over the file at path, mapped read-only. -1 with
 * err also when the file cannot be read. */
int pagecheck_file(const char *path, size_t psize, uint64_t txnid, uint64_t max_pages, char *err, size_t errlen);

#endif
