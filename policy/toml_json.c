/*
 * toml_json.c - encodes a parsed TOML tree in the "tagged JSON" format of
 * the toml-test conformance suite: every scalar becomes
 * {"type": T, "value": "text"}, tables become objects (keys in definition
 * order) and arrays become arrays.  See toml.h.
 *
 * The tree's depth is bounded by the parser (MAX_DEPTH in toml.c), so the
 * recursion here is bounded too.  Output is written with stdio; any write
 * error is reported once at the end through ferror().
 */
#include "toml.h"
#include "util.h"

#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* put_json_string - a JSON string literal.  The parser guarantees valid
 * UTF-8, so bytes >= 0x80 pass through; every control character (which a
 * string can hold through escapes like \u0001) is escaped. */
static void put_json_string(const char *s, size_t n, FILE *out)
{
	putc('"', out);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"': fputs("\\\"", out); break;
		case '\\': fputs("\\\\", out); break;
		case '\b': fputs("\\b", out); break;
		case '\f': fputs("\\f", out); break;
		case '\n': fputs("\\n", out); break;
		case '\r': fputs("\\r", out); break;
		case '\t': fputs("\\t", out); break;
		default:
			if (c < 0x20 || c == 0x7F)
				fprintf(out, "\\u%04x", c);
			else
				putc(c, out);
		}
	}
	putc('"', out);
}

static void put_tagged(const char *type, const char *text, size_t n, FILE *out)
{
	fprintf(out, "{\"type\":\"%s\",\"value\":", type);
	put_json_string(text, n, out);
	putc('}', out);
}

/* format_float - shortest-enough text that reads back to the same double
 * (%.17g), with the locale's decimal point turned back into '.'. */
static void format_float(double d, char *out, size_t outlen)
{
	if (isnan(d)) {
		snprintf(out, outlen, "nan");
		return;
	}
	if (isinf(d)) {
		snprintf(out, outlen, "%s", d < 0 ? "-inf" : "inf");
		return;
	}
	/* prefer the shortest precision that round-trips, for readable output */
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(out, outlen, "%.*g", prec, d);
		if (strtod(out, NULL) == d)
			break;
	}
	const char *dp = localeconv()->decimal_point;
	if (dp && *dp && strcmp(dp, ".") != 0) {
		char *p = strstr(out, dp);
		if (p) {
			size_t dl = strlen(dp);
			*p = '.';
			memmove(p + 1, p + dl, strlen(p + dl) + 1);
		}
	}
}

static void put_value(const struct toml_value *v, FILE *out)
{
	char tmp[64];
	switch (toml_type(v)) {
	case TOML_STRING: {
		size_t n = 0;
		const char *s = toml_string(v, &n);
		put_tagged("string", s, n, out);
		break;
	}
	case TOML_INTEGER:
		snprintf(tmp, sizeof(tmp), "%" PRId64, toml_int(v));
		put_tagged("integer", tmp, strlen(tmp), out);
		break;
	case TOML_FLOAT:
		format_float(toml_float(v), tmp, sizeof(tmp));
		put_tagged("float", tmp, strlen(tmp), out);
		break;
	case TOML_BOOL:
		put_tagged("bool", toml_bool(v) ? "true" : "false", toml_bool(v) ? 4 : 5, out);
		break;
	case TOML_DATETIME:
	case TOML_DATETIME_LOCAL:
	case TOML_DATE_LOCAL:
	case TOML_TIME_LOCAL: {
		static const char *const names[] = {
			[TOML_DATETIME] = "datetime",
			[TOML_DATETIME_LOCAL] = "datetime-local",
			[TOML_DATE_LOCAL] = "date-local",
			[TOML_TIME_LOCAL] = "time-local",
		};
		const char *s = toml_datetime(v);
		put_tagged(names[toml_type(v)], s, strlen(s), out);
		break;
	}
	case TOML_ARRAY:
		putc('[', out);
		for (size_t i = 0; i < toml_array_len(v); i++) {
			if (i)
				putc(',', out);
			put_value(toml_array_at(v, i), out);
		}
		putc(']', out);
		break;
	case TOML_TABLE:
		putc('{', out);
		for (size_t i = 0; i < toml_table_len(v); i++) {
			if (i)
				putc(',', out);
			put_json_string(toml_table_key(v, i), toml_table_key_len(v, i), out);
			putc(':', out);
			put_value(toml_table_at(v, i), out);
		}
		putc('}', out);
		break;
	default:
		fputs("null", out);   /* unreachable for a parsed tree */
		break;
	}
}

int toml_to_tagged_json(const struct toml_value *root, FILE *out)
{
	if (!root || !out)
		return HDB_EINVAL;
	put_value(root, out);
	putc('\n', out);
	if (fflush(out) != 0 || ferror(out))
		return HDB_EIO;
	return HDB_OK;
}
