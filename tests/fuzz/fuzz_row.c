/*
 * fuzz_row.c - libFuzzer target for the schema and row decoders
 * (engine/row.c).
 *
 * Input: u16 big-endian L, then L bytes of schema encoding, then the rest
 * is a row encoding for that schema.  Checks, aborting on a violation:
 *  - a schema that decodes encodes back to exactly its L bytes;
 *  - a row that decodes encodes back to exactly the rest of the input,
 *    passes row_check, has a key encoding (row_encode_pk_of_row equal to
 *    row_encode_pk of its key values), formats every value, and survives
 *    a deep copy (row_new) that encodes the same.
 * The Makefile links this against every library source, so only
 * LLVMFuzzerTestOneInput is non-static here.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "row.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_or_abort(const struct buf *b, const uint8_t *p, size_t n)
{
	if (b->len != n || (n && memcmp(b->p, p, n) != 0))
		abort();
}

static void check_row(const struct hdb_schema *sc, const struct hdb_row *r,
                      const uint8_t *p, size_t n)
{
	struct buf b = {0}, k1 = {0}, k2 = {0};
	struct hdb_value pk[ROW_MAX_PK_COLUMNS];
	struct hdb_row *copy = NULL;

	if (row_encode(sc, r->vals, &b) != HDB_OK)
		abort();
	same_or_abort(&b, p, n);
	if (row_check(sc, r->vals, r->ncols, NULL, 0) != HDB_OK)
		abort();

	if (row_encode_pk_of_row(sc, r->vals, &k1) != HDB_OK)
		abort();
	for (size_t k = 0; k < sc->npk; k++)
		pk[k] = r->vals[sc->pk_cols[k]];
	if (row_check_pk(sc, pk, sc->npk, NULL, 0) != HDB_OK ||
	    row_encode_pk(sc, pk, sc->npk, &k2) != HDB_OK)
		abort();
	same_or_abort(&k2, k1.p, k1.len);

	buf_reset(&k1);
	for (size_t i = 0; i < r->ncols; i++)
		if (row_format_value(&r->vals[i], &k1) != HDB_OK)
			abort();

	int rc = row_new(r->vals, r->ncols, &copy);
	if (rc == HDB_OK) {
		buf_reset(&k2);
		if (row_encode(sc, copy->vals, &k2) != HDB_OK)
			abort();
		same_or_abort(&k2, p, n);
	} else if (rc != HDB_ENOMEM) {
		abort();
	}
	hdb_row_free(copy);
	buf_free(&b);
	buf_free(&k1);
	buf_free(&k2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t slen = (size_t)data[0] << 8 | data[1];
	if (slen > size - 2)
		return 0;
	const uint8_t *sp = data + 2;
	const uint8_t *rp = sp + slen;
	size_t rlen = size - 2 - slen;

	struct hdb_schema *sc = NULL;
	int rc = schema_decode(sp, slen, &sc);
	if (rc != HDB_OK) {
		if (sc || (rc != HDB_ECORRUPT && rc != HDB_ENOMEM))
			abort();
		return 0;
	}
	struct buf b = {0};
	if (schema_encode(sc, &b) != HDB_OK)
		abort();
	same_or_abort(&b, sp, slen);
	buf_free(&b);

	struct hdb_schema *dup = NULL;
	if (schema_dup(sc, &dup) == HDB_OK) {
		if (schema_encode(dup, &b) != HDB_OK)
			abort();
		same_or_abort(&b, sp, slen);
		buf_free(&b);
		hdb_schema_free(dup);
	}

	struct hdb_row *r = NULL;
	rc = row_decode(sc, rp, rlen, &r);
	if (rc == HDB_OK)
		check_row(sc, r, rp, rlen);
	else if (r || (rc != HDB_ECORRUPT && rc != HDB_ENOMEM))
		abort();
	hdb_row_free(r);
	hdb_schema_free(sc);
	return 0;
}
