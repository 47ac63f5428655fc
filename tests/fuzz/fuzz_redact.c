/*
 * fuzz_redact.c - libFuzzer target for audit_redact_query (audit/redact.c).
 *
 * Any input is redacted in both modes (literals, and HMAC under a fixed
 * test key) and must succeed (the redactor never fails on malformed SQL),
 * produce output no longer than a small multiple of the input, and -- the
 * property that matters -- leak no literal: when the input is exactly
 * "SELECT '<body>'" with a terminated body that has no quote, the output
 * must not contain the body (for bodies of 4 bytes or more, so that the
 * output's own text cannot match by chance).  ASan/UBSan catch the rest.
 *
 * The Makefile links every library source into each fuzzer, so this file
 * defines only LLVMFuzzerTestOneInput.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char fuzz_key[32] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa,
					    0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55,
					    0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };

/* has - memmem that tolerates empty haystacks */
static int has(const struct buf *b, const void *needle, size_t n)
{
	return b->len >= n && memmem(b->p, b->len, needle, n) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *q = (const char *)data;
	for (int mode = 0; mode < 2; mode++) {
		struct buf out = { 0 };
		int rc = audit_redact_query(q, size, (enum audit_redact)mode, fuzz_key, &out);
		if (rc == HDB_ENOMEM) {
			buf_free(&out);
			return 0;
		}
		if (rc != HDB_OK)
			abort(); /* never fails on text */
		/* every byte of output comes from input, or a token per literal */
		if (out.len > 18 * size + 1)
			abort();
		/* a single terminated standard string literal must vanish: the
		 * output is exactly the keyword and one placeholder */
		static const char pre[] = "SELECT '";
		const size_t pl = sizeof(pre) - 1;
		if (size >= pl + 1 && memcmp(q, pre, pl) == 0 && q[size - 1] == '\'') {
			const char *body = q + pl;
			size_t bl = size - pl - 1;
			if (!memchr(body, '\'', bl)) {
				size_t want = mode == 0 ? 8 : 8 + 16;
				if (out.len != want || memcmp(out.p, "SELECT ?", 8) != 0)
					abort();
			}
		}
		buf_free(&out);
	}
	return 0;
}
