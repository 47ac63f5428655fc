/*
 * fuzz_pagecheck.c - libFuzzer target for the structure check of LMDB data
 * files (engine/pagecheck.c), which reads files LMDB would otherwise trust.
 *
 * Input: one byte choosing the page size (512 << (b & 3): 512 to 4096, so
 * that small inputs hold several pages), then the file image.  The check
 * must return 0, -1 or -2 without reading outside the image (ASan), and
 * give a message exactly when it refuses.  Seeds: tests/fuzz/corpus/pagecheck
 * (a 512-byte-page image: two meta pages, a main database holding a named
 * database, a branch, two leaves, an overflow value, a free-list record).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pagecheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t psize = (size_t)512 << (data[0] & 3);
	char err[256];
	memset(err, 'x', sizeof(err));
	int r = pagecheck_image(data + 1, size - 1, psize, PAGECHECK_NEWEST, 1u << 20, err, sizeof(err));
	if (r != 0 && r != -1 && r != -2)
		abort();
	if (memchr(err, '\0', sizeof(err)) == NULL)
		abort();
	if ((r == 0) != (err[0] == '\0'))
		abort();
	return 0;
}
