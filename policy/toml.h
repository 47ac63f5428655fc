/*
 * toml.h - a strict TOML 1.0 parser (policy/toml.c) and the tagged-JSON
 * encoder used by the public conformance suite (policy/toml_json.c).
 *
 * The parser builds an immutable tree.  Every node remembers the line and
 * column where it was defined, so that the config loader can name
 * file:line:col in its own errors.  Tables keep their keys in definition
 * order.  Errors are one line: "FILE:LINE:COL: what was expected".
 */
#ifndef HDB_TOML_H
#define HDB_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum toml_type {
	TOML_STRING = 1,
	TOML_INTEGER,
	TOML_FLOAT,
	TOML_BOOL,
	TOML_DATETIME,        /* offset date-time: 1979-05-27T07:32:00Z */
	TOML_DATETIME_LOCAL,  /* 1979-05-27T07:32:00 */
	TOML_DATE_LOCAL,      /* 1979-05-27 */
	TOML_TIME_LOCAL,      /* 07:32:00 */
	TOML_ARRAY,
	TOML_TABLE,
};

struct toml_value;

/* toml_parse - parses len bytes of text (need not be NUL-terminated; must be
 * UTF-8).  filename is used only in error messages.  On success *ret_root
 * is the root table (free with toml_free()).  On failure writes
 * "FILE:LINE:COL: message" into err and returns HDB_EPARSE (or HDB_ENOMEM). */
int toml_parse(const char *text, size_t len, const char *filename,
               struct toml_value **ret_root, char *err, size_t errlen);
void toml_free(struct toml_value *v);

enum toml_type toml_type(const struct toml_value *v);
unsigned toml_line(const struct toml_value *v);   /* 1-based */
unsigned toml_col(const struct toml_value *v);    /* 1-based */

/* Tables: keys in definition order. */
size_t toml_table_len(const struct toml_value *t);
const char *toml_table_key(const struct toml_value *t, size_t i);   /* NUL-terminated */
/* Length of key i: a quoted key may contain NUL ("\u0000"). */
size_t toml_table_key_len(const struct toml_value *t, size_t i);
const struct toml_value *toml_table_at(const struct toml_value *t, size_t i);
const struct toml_value *toml_table_get(const struct toml_value *t, const char *key);
/* Line/column of the key itself (where "key =" or "[key]" was written). */
unsigned toml_table_key_line(const struct toml_value *t, size_t i);
unsigned toml_table_key_col(const struct toml_value *t, size_t i);
/* true for a table written inline ({ ... }). */
bool toml_table_is_inline(const struct toml_value *t);

/* Arrays. */
size_t toml_array_len(const struct toml_value *a);
const struct toml_value *toml_array_at(const struct toml_value *a, size_t i);

/* Scalars. */
const char *toml_string(const struct toml_value *v, size_t *ret_len); /* NUL-terminated, may contain NUL */
int64_t toml_int(const struct toml_value *v);
double toml_float(const struct toml_value *v);
bool toml_bool(const struct toml_value *v);
/* Date/time values as canonical RFC 3339 text ("T" separator, "Z" kept). */
const char *toml_datetime(const struct toml_value *v);

/* toml_to_tagged_json - writes the document in the toml-test encoding:
 * {"type": "integer", "value": "42"} for each scalar, objects for tables,
 * arrays for arrays.  Returns HDB_OK or HDB_EIO. */
int toml_to_tagged_json(const struct toml_value *root, FILE *out);

#endif
