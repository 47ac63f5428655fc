/*
 * row.h - schemas and rows: validation and the byte encodings that the
 * engine seals (engine/row.c).  Pure functions of memory: no LMDB, no
 * crypto.  Decoders treat their input as hostile (they run on bytes that
 * passed GCM authentication, but a bug or an old format must still give
 * HDB_ECORRUPT, never a crash).
 *
 * Encodings (all integers big-endian) are documented in docs/storage.md:
 *  schema: u8 version=1, u32 table_id, u8 namelen, name, u16 ncols,
 *          per column: u8 namelen, name, u8 type, u8 flags(bit0 not_null),
 *          u8 pk_position
 *  row:    u8 version=1, u16 ncols, null bitmap ((ncols+7)/8 bytes),
 *          then each non-null value: fixed-width for INT2/4/8, FLOAT8
 *          (IEEE bits), BOOL (1 byte), DATE (4), TIMESTAMP (8);
 *          u32 length + bytes for TEXT, NUMERIC, BYTEA
 *  pk:     for each key column in key order: u8 type, then the value as in
 *          a row (lengths included), so that equal keys encode equally and
 *          different keys differently (injective).
 */
#ifndef HDB_ROW_H
#define HDB_ROW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heliosdb.h"
#include "util.h"

#define ROW_MAX_COLUMNS 1600             /* columns per table */
#define ROW_MAX_PK_COLUMNS 32            /* key columns (pk_position is a u8 on disk) */
#define ROW_MAX_VALUE_LEN (64u << 20)    /* bytes of one TEXT, NUMERIC or BYTEA value */
#define ROW_NUMERIC_MAX_DIGITS 1000

struct hdb_schema {
	char *table;                    /* NUL-terminated */
	uint32_t table_id;
	size_t ncols;
	struct hdb_column_def *cols;    /* names owned by the schema */
	size_t npk;
	size_t *pk_cols;                /* column index of each key part, in key order */
};

struct hdb_row {
	size_t ncols;
	struct hdb_value *vals;         /* string payloads point into data */
	unsigned char *data;            /* owned copy of variable-length payloads */
	size_t datalen;
};

/* schema_new - validates definitions (names 1..63 bytes, unique, no NUL;
 * known types; pk positions 1..k each used once) and builds a schema.
 * HDB_EINVAL with err naming the column on a bad definition. */
int schema_new(const char *table, uint32_t table_id, const struct hdb_column_def *cols,
               size_t ncols, struct hdb_schema **ret, char *err, size_t errlen);
int schema_encode(const struct hdb_schema *sc, struct buf *out);
int schema_decode(const unsigned char *p, size_t n, struct hdb_schema **ret);
int schema_dup(const struct hdb_schema *sc, struct hdb_schema **ret);
/* hdb_schema_free() (public) frees. */

/* row_check - vals[0..n) fits sc: n == ncols, each value's type equals its
 * column's, NOT NULL and key columns non-null, NUMERIC text well formed,
 * TEXT valid UTF-8.  HDB_ECONSTRAINT (or HDB_EINVAL for n) with err naming
 * the column. */
int row_check(const struct hdb_schema *sc, const struct hdb_value *vals, size_t n,
              char *err, size_t errlen);
/* row_check_pk - the npk key values match the key columns' types. */
int row_check_pk(const struct hdb_schema *sc, const struct hdb_value *pk, size_t npk,
                 char *err, size_t errlen);
int row_encode(const struct hdb_schema *sc, const struct hdb_value *vals, struct buf *out);
/* Encodes the key of a full row (vals in column order). */
int row_encode_pk_of_row(const struct hdb_schema *sc, const struct hdb_value *vals, struct buf *out);
/* Encodes key values given in key order. */
int row_encode_pk(const struct hdb_schema *sc, const struct hdb_value *pk, size_t npk, struct buf *out);
/* row_decode - into a new row owning its memory; HDB_ECORRUPT on bad bytes
 * or a column count/type mismatch with sc. */
int row_decode(const struct hdb_schema *sc, const unsigned char *p, size_t n, struct hdb_row **ret);
/* hdb_row_free() (public) frees. */

/* row_new - a row owning deep copies of vals[0..n) (cursors, hdb_get).
 * Checks only types and pointers, not a schema; variable-length payloads
 * are copied into row->data, each followed by a NUL (also true of rows from
 * row_decode).  HDB_EINVAL, HDB_ENOMEM. */
int row_new(const struct hdb_value *vals, size_t n, struct hdb_row **ret);

/* Encoders (schema_encode, row_encode, row_encode_pk*) append to out and on
 * failure leave out->len as it was. */

/* numeric_check - "[+-]?digits[.digits]" or "[+-]?.digits", at most 1000
 * digits: HDB_OK or HDB_EINVAL.  Rows keep the text as given (its scale is
 * significant); key encodings normalise it (no '+', no leading integer
 * zeros, no trailing fraction zeros, "-0" is "0"), so 1.0 and 1.00 are the
 * same key. */
int numeric_check(const char *p, size_t n);

/* row_format_value - the value as text for humans and exports: integers in
 * decimal, FLOAT8 with %.17g, BOOL t/f, DATE YYYY-MM-DD, TIMESTAMP
 * YYYY-MM-DD HH:MM:SS[.ffffff], BYTEA \x hex, NULL as NULL. */
int row_format_value(const struct hdb_value *v, struct buf *out);

#endif
