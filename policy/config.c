/*
 * config.c - loads struct hdb_config from TOML, strictly, and implements the
 * public hdb_config_* API.
 *
 * Every key lives in one declarative table, policy/config_keys.def: its
 * dotted name, kind (boolean, bounded integer, byte size, string, word from
 * a fixed set, profile list, key source, alias), the struct member it fills,
 * its range or allowed words, its default and a one-line doc.  Defaults,
 * parsing, freeing, copying and "did you mean" hints are all driven by that
 * table; docs/configuration.md mirrors it and a unit test keeps the two in
 * step.
 *
 * Invariants:
 *  1. A config file is hostile input.  Whatever TOML it holds, loading
 *     either succeeds or returns HDB_EPARSE/HDB_ECONFIG with one line in
 *     cfg->errmsg: "FILE:LINE:COL: <full.dotted.key> <what is wrong>".
 *     Text quoted from the file is escaped and truncated, so a message is
 *     always one printable line.
 *  2. Unknown keys are errors (a typo in a compliance setting must never
 *     pass silently); the hint names the closest key of the same table by
 *     Damerau (optimal string alignment) distance, or the same key in
 *     another table, and is omitted when nothing is close.
 *  3. Loading is all or nothing: config_load_text() applies the file to a
 *     private deep copy and swaps it in only on success, so a failed load
 *     leaves every field as it was (only errmsg changes).
 *  4. A key and its alias (the tutorial's spellings) may not both be set:
 *     which one would win is exactly the kind of doubt a compliance
 *     setting must not leave.
 *  5. encryption.key_source names exactly one source, in either the
 *     [encryption.key_source] or the inline { File = "..." } spelling.
 *  6. The password secret is only ever set programmatically, and is wiped
 *     with the config (secret_free) on every path.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "toml.h"
#include "util.h"

#define MAX_FILE_BYTES (1024u * 1024u)  /* a config file larger than this is refused */
#define MAX_STRING_BYTES 4096u          /* longest string value (PATH_MAX) */
#define MAX_KEY_BYTES 64u               /* longest key component we compare */
#define QUOTE_MAX 60u                   /* bytes of user text quoted in a message */

/* ------------------------------------------------------------ the table */

enum kind { K_TABLE, K_BOOL, K_UINT, K_SIZE, K_STRING, K_ENUM, K_PROFILES, K_KEYSRC, K_ALIAS };
enum ftype { F_NONE, F_BOOL, F_U32, F_U64, F_STR, F_STRV };

struct key_spec {
	const char *name;      /* full dotted name */
	enum kind kind;
	size_t off;            /* offsetof(struct hdb_config, field) */
	enum ftype ftype;      /* C type of that field */
	uint64_t min, max;     /* K_UINT, K_SIZE */
	const char *allowed;   /* K_ENUM, K_PROFILES: "a|b|c" */
	const char *dflt;      /* default as text, NULL: unset */
	const char *target;    /* K_ALIAS */
	int srckind;           /* K_KEYSRC: enum hdb_key_source_kind */
	const char *doc;
};

#define FTYPE_OF(field) _Generic(((struct hdb_config *)0)->field, \
	bool: F_BOOL, uint32_t: F_U32, uint64_t: F_U64, char *: F_STR, char **: F_STRV, default: F_NONE)

static const struct key_spec keys[] = {
#define CFG_TABLE(n, d) { .name = n, .kind = K_TABLE, .doc = d },
#define CFG_KEY(n, k, f, lo, hi, al, df, d) \
	{ .name = n, .kind = K_##k, .off = offsetof(struct hdb_config, f), .ftype = FTYPE_OF(f), \
	  .min = (lo), .max = (hi), .allowed = al, .dflt = df, .doc = d },
#define CFG_KEYSRC(n, sk, d) \
	{ .name = n, .kind = K_KEYSRC, .off = offsetof(struct hdb_config, key_arg), .ftype = F_STR, \
	  .srckind = sk, .doc = d },
#define CFG_ALIAS(n, t, d) { .name = n, .kind = K_ALIAS, .target = t, .doc = d },
#include "config_keys.def"
#undef CFG_TABLE
#undef CFG_KEY
#undef CFG_KEYSRC
#undef CFG_ALIAS
};
#define NKEYS ARRAY_SIZE(keys)

/* Compile-time check that each key's kind matches its field's C type and
 * that its range fits the field. */
#define KIND_OK_BOOL(ft) ((ft) == F_BOOL)
#define KIND_OK_UINT(ft) ((ft) == F_U32 || (ft) == F_U64)
#define KIND_OK_SIZE(ft) ((ft) == F_U64)
#define KIND_OK_STRING(ft) ((ft) == F_STR)
#define KIND_OK_ENUM(ft) ((ft) == F_STR)
#define KIND_OK_PROFILES(ft) ((ft) == F_STRV)
#define CFG_TABLE(n, d)
#define CFG_KEYSRC(n, sk, d)
#define CFG_ALIAS(n, t, d)
#define RANGE_OK_BOOL(ft, lo, hi) 1
#define RANGE_OK_UINT(ft, lo, hi) \
	((ft) != F_U32 || (uint64_t)(hi) <= UINT32_MAX) && (uint64_t)(lo) <= (uint64_t)(hi)
#define RANGE_OK_SIZE(ft, lo, hi) RANGE_OK_UINT(ft, lo, hi)
#define RANGE_OK_STRING(ft, lo, hi) 1
#define RANGE_OK_ENUM(ft, lo, hi) 1
#define RANGE_OK_PROFILES(ft, lo, hi) 1
#define CFG_KEY(n, k, f, lo, hi, al, df, d) \
	_Static_assert(KIND_OK_##k(FTYPE_OF(f)), "config_keys.def: " n ": kind does not match the field's type"); \
	_Static_assert(RANGE_OK_##k(FTYPE_OF(f), lo, hi), "config_keys.def: " n ": bad range for its field");
#include "config_keys.def"
#undef CFG_TABLE
#undef CFG_KEY
#undef CFG_KEYSRC
#undef CFG_ALIAS

static const struct key_spec *find_key(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* The key's last component ("log_reads" for "audit.log_reads"). */
static const char *leaf(const char *name)
{
	const char *dot = strrchr(name, '.');
	return dot ? dot + 1 : name;
}

/* true when `name` sits directly in the table `prefix` ("" for the root). */
static bool in_table(const char *name, const char *prefix)
{
	const char *dot = strrchr(name, '.');
	size_t plen = strlen(prefix);
	if (!dot)
		return plen == 0;
	return (size_t)(dot - name) == plen && strncmp(name, prefix, plen) == 0;
}

static void *field_ptr(struct hdb_config *cfg, const struct key_spec *ks)
{
	return (char *)cfg + ks->off;
}

static const void *cfield_ptr(const struct hdb_config *cfg, const struct key_spec *ks)
{
	return (const char *)cfg + ks->off;
}

static uint64_t ftype_max(enum ftype ft)
{
	return ft == F_U32 ? UINT32_MAX : UINT64_MAX;
}

/* -------------------------------------------------------- small helpers */

static char *dupstr(const char *s)
{
	return s ? xstrndup(s, strlen(s)) : NULL;
}

/* quote - copies s[0..len) into out as printable text for a one-line
 * message: control bytes, DEL, quotes and backslashes become \xNN, and more
 * than QUOTE_MAX bytes are cut with "...".  Bytes >= 0x80 (UTF-8) pass. */
static const char *quote(char *out, size_t outlen, const char *s, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (i >= QUOTE_MAX || o + 8 >= outlen) {
			if (o + 4 <= outlen)
				memcpy(out + o, "...", 3), o += 3;
			break;
		}
		if (c < 0x20 || c == 0x7f || c == '\'' || c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

/* A key component we can look up: [A-Za-z0-9_-]{1,MAX_KEY_BYTES}. */
static bool plain_key(const char *k)
{
	size_t n = strlen(k);
	if (n == 0 || n > MAX_KEY_BYTES)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)k[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* osa_distance - Damerau-Levenshtein distance (optimal string alignment:
 * insertions, deletions, substitutions and adjacent transpositions cost 1).
 * Both strings are at most MAX_KEY_BYTES long. */
static unsigned osa_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d[MAX_KEY_BYTES + 1][MAX_KEY_BYTES + 1];
	if (la > MAX_KEY_BYTES || lb > MAX_KEY_BYTES)
		return UINT32_MAX;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (unsigned char)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (unsigned char)j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			unsigned cost = a[i - 1] != b[j - 1];
			unsigned v = d[i - 1][j] + 1u;
			if (d[i][j - 1] + 1u < v)
				v = d[i][j - 1] + 1u;
			if (d[i - 1][j - 1] + cost < v)
				v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1u < v)
				v = d[i - 2][j - 2] + 1u;
			d[i][j] = (unsigned char)v;
		}
	}
	return d[la][lb];
}

/* How far a typo may be from a known key of length n and still be
 * suggested: 1 for short keys, up to 3 for long ones. */
static unsigned close_enough(size_t n)
{
	return n <= 4 ? 1 : n <= 8 ? 2 : 3;
}

/* suggest - the closest known key for an unknown `k` in table `prefix`:
 * the nearest key of that table (shown as its last component), else the
 * only other table that has exactly this key (shown in full); NULL when
 * nothing is close. */
static const char *suggest(const char *prefix, const char *k)
{
	const char *best = NULL;
	unsigned bestd = UINT32_MAX;
	if (strlen(k) > MAX_KEY_BYTES)
		return NULL;
	for (size_t i = 0; i < NKEYS; i++) {
		if (!in_table(keys[i].name, prefix))
			continue;
		const char *cand = leaf(keys[i].name);
		unsigned d = osa_distance(k, cand);
		if (d <= close_enough(strlen(cand)) && d < bestd) {
			best = cand;
			bestd = d;
		}
	}
	if (best)
		return best;
	for (size_t i = 0; i < NKEYS; i++) {
		if (keys[i].kind == K_TABLE || strcmp(leaf(keys[i].name), k) != 0)
			continue;
		if (best)
			return NULL;  /* in several tables: no single good hint */
		best = keys[i].name;
	}
	return best;
}

/* --------------------------------------------------------------- loader */

struct loader {
	struct hdb_config *cfg;     /* the private working copy */
	const char *file;
	char err[sizeof(((struct hdb_config *)0)->errmsg)];
	unsigned set_line[NKEYS];   /* line where each key was set (0: not yet) */
	const char *set_as[NKEYS];  /* ... and under which name (aliases) */
	unsigned nsrc;              /* key sources seen in encryption.key_source */
	const char *first_src;
};

static int fail(struct loader *ld, int rc, unsigned line, unsigned col, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int fail(struct loader *ld, int rc, unsigned line, unsigned col, const char *fmt, ...)
{
	char body[sizeof(ld->err) - 96];  /* room for "FILE:LINE:COL: " */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	int n = snprintf(ld->err, sizeof(ld->err), "%s:%u:%u: %s", ld->file, line, col, body);
	(void)n;  /* a very long file name truncates the message, safely */
	return rc;
}

static const char *type_name(const struct toml_value *v)
{
	switch (toml_type(v)) {
	case TOML_STRING: return "string";
	case TOML_INTEGER: return "integer";
	case TOML_FLOAT: return "float";
	case TOML_BOOL: return "boolean";
	case TOML_DATETIME: return "datetime";
	case TOML_DATETIME_LOCAL: return "local datetime";
	case TOML_DATE_LOCAL: return "date";
	case TOML_TIME_LOCAL: return "time";
	case TOML_ARRAY: return "array";
	case TOML_TABLE: return "table";
	}
	return "unknown value";
}

/* Position of a value, falling back to its key's. */
struct pos {
	unsigned line, col;
};

static struct pos value_pos(const struct toml_value *v, struct pos keypos)
{
	struct pos p = { toml_line(v), toml_col(v) };
	return p.line ? p : keypos;
}

static int type_error(struct loader *ld, const char *name, const struct toml_value *v,
                      struct pos p, const char *expected)
{
	return fail(ld, HDB_ECONFIG, p.line, p.col, "%s must be %s, got %s", name, expected,
	            type_name(v));
}

/* range_text - "NAME must be between A and B" / "NAME must be at least A". */
static void range_text(char *out, size_t outlen, const struct key_spec *ks, const char *name)
{
	if (ks->max >= ftype_max(ks->ftype))
		snprintf(out, outlen, "%s must be at least %" PRIu64, name, ks->min);
	else
		snprintf(out, outlen, "%s must be between %" PRIu64 " and %" PRIu64, name, ks->min,
		         ks->max);
}

/* allowed_text - "\"a\", \"b\" or \"c\"" from "a|b|c". */
static void allowed_text(char *out, size_t outlen, const char *allowed)
{
	size_t o = 0;
	const char *p = allowed;
	out[0] = '\0';
	while (*p && o < outlen) {
		const char *bar = strchr(p, '|');
		size_t n = bar ? (size_t)(bar - p) : strlen(p);
		const char *sep = p == allowed ? "" : bar ? ", " : " or ";
		int w = snprintf(out + o, outlen - o, "%s\"%.*s\"", sep, (int)n, p);
		if (w < 0)
			break;
		o += (size_t)w;
		p += n + (bar ? 1 : 0);
	}
}

static bool word_allowed(const char *allowed, const char *s, size_t len)
{
	const char *p = allowed;
	while (*p) {
		const char *bar = strchr(p, '|');
		size_t n = bar ? (size_t)(bar - p) : strlen(p);
		if (n == len && memcmp(p, s, n) == 0)
			return true;
		if (!bar)
			break;
		p = bar + 1;
	}
	return false;
}

/* parse_size - "1048576", "512MiB", "512MB", "512 M", "1GiB", "2t": bytes.
 * Units are 1024-based whatever their spelling (as PostgreSQL reads
 * "MB"), case-insensitive.  Returns false on anything else or overflow. */
static bool parse_size(const char *s, size_t len, uint64_t *ret)
{
	static const struct {
		const char *unit;
		unsigned shift;
	} units[] = {
		{ "", 0 }, { "b", 0 },
		{ "k", 10 }, { "kb", 10 }, { "kib", 10 },
		{ "m", 20 }, { "mb", 20 }, { "mib", 20 },
		{ "g", 30 }, { "gb", 30 }, { "gib", 30 },
		{ "t", 40 }, { "tb", 40 }, { "tib", 40 },
	};
	size_t i = 0;
	uint64_t n = 0;
	if (len == 0 || s[0] < '0' || s[0] > '9')
		return false;
	while (i < len && s[i] >= '0' && s[i] <= '9') {
		unsigned dgt = (unsigned)(s[i] - '0');
		if (n > (UINT64_MAX - dgt) / 10)
			return false;
		n = n * 10 + dgt;
		i++;
	}
	if (i < len && s[i] == ' ')
		i++;
	size_t ulen = len - i;
	if (ulen > 3)
		return false;
	char u[4] = { 0 };
	for (size_t j = 0; j < ulen; j++) {
		char c = s[i + j];
		u[j] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	if (ulen == 0 && i != len)
		return false;
	if (ulen == 0 && s[len - 1] == ' ')
		return false;
	for (size_t k = 0; k < ARRAY_SIZE(units); k++) {
		if (strcmp(u, units[k].unit) != 0 || strlen(units[k].unit) != ulen)
			continue;
		if (units[k].shift && n > (UINT64_MAX >> units[k].shift))
			return false;
		*ret = n << units[k].shift;
		return true;
	}
	return false;
}

/* Environment variable names as shells and systemd accept them. */
static bool env_name_ok(const char *s)
{
	if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	for (const char *p = s + 1; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

static bool looks_like_hex_key(const char *s)
{
	size_t n = strlen(s);
	if (n != 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return false;
	}
	return true;
}

/* key_arg_problem - why `arg` is not a valid argument for a key source of
 * this kind, or NULL.  The text follows "NAME ".  A string that looks like
 * a key is refused without being echoed: it must not end up in a log. */
static const char *key_arg_problem(int kind, const char *arg, char *buf, size_t buflen)
{
	char q[QUOTE_MAX * 4 + 8];
	if (looks_like_hex_key(arg))
		return "looks like a key itself; name where the key is, never put it in the configuration";
	switch (kind) {
	case HDB_KEY_ENVIRONMENT:
	case HDB_KEY_PASSWORD:
		if (!env_name_ok(arg)) {
			snprintf(buf, buflen, "must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*), got \"%s\"",
			         quote(q, sizeof(q), arg, strlen(arg)));
			return buf;
		}
		return NULL;
	case HDB_KEY_CREDENTIAL:
		if (strchr(arg, '/') || strcmp(arg, ".") == 0 || strcmp(arg, "..") == 0 ||
		    strlen(arg) > 255) {
			snprintf(buf, buflen, "must be a credential name (no '/', not '.' or '..', at most 255 bytes), got \"%s\"",
			         quote(q, sizeof(q), arg, strlen(arg)));
			return buf;
		}
		return NULL;
	case HDB_KEY_FILE:
		return NULL;
	}
	return "is not a known key source";
}

/* string_value - the value as a C string for key `name`: must be a string,
 * non-empty, without NUL and not longer than MAX_STRING_BYTES. */
static int string_value(struct loader *ld, const char *name, const struct toml_value *v,
                        struct pos p, const char **ret, size_t *ret_len)
{
	size_t len = 0;
	if (toml_type(v) != TOML_STRING)
		return type_error(ld, name, v, p, "a string");
	const char *s = toml_string(v, &len);
	if (!s)
		return fail(ld, HDB_ECONFIG, p.line, p.col, "%s must be a string", name);
	if (len == 0)
		return fail(ld, HDB_ECONFIG, p.line, p.col, "%s must not be empty", name);
	if (memchr(s, '\0', len))
		return fail(ld, HDB_ECONFIG, p.line, p.col, "%s must not contain NUL characters", name);
	if (len > MAX_STRING_BYTES)
		return fail(ld, HDB_ECONFIG, p.line, p.col, "%s is too long (at most %u bytes)", name,
		            MAX_STRING_BYTES);
	*ret = s;
	*ret_len = len;
	return HDB_OK;
}

static int set_string(struct loader *ld, char **field, const char *s, size_t len)
{
	char *copy = xstrndup(s, len);
	if (!copy) {
		snprintf(ld->err, sizeof(ld->err), "out of memory");
		return HDB_ENOMEM;
	}
	free(*field);
	*field = copy;
	return HDB_OK;
}

static int apply_profiles(struct loader *ld, const struct key_spec *ks, const char *name,
                          const struct toml_value *v, struct pos p)
{
	char q[QUOTE_MAX * 4 + 8], allowed[256];
	if (toml_type(v) != TOML_ARRAY)
		return type_error(ld, name, v, p, "an array of strings");
	size_t n = toml_array_len(v);
	char **list = calloc(n ? n : 1, sizeof(*list));
	size_t got = 0;
	int rc = HDB_OK;
	if (!list) {
		snprintf(ld->err, sizeof(ld->err), "out of memory");
		return HDB_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const struct toml_value *e = toml_array_at(v, i);
		struct pos ep = value_pos(e, p);
		char ename[3 * MAX_KEY_BYTES + 48];
		const char *s;
		size_t len;
		snprintf(ename, sizeof(ename), "%s[%zu]", name, i);
		if (toml_type(e) != TOML_STRING) {
			rc = type_error(ld, ename, e, ep, "a string");
			goto out_free_list;
		}
		s = toml_string(e, &len);
		if (ks->allowed ? (!s || !word_allowed(ks->allowed, s, len)) : (!s || !config_profile_name_ok(s, len))) {
			if (ks->allowed)
				allowed_text(allowed, sizeof(allowed), ks->allowed);
			else
				snprintf(allowed, sizeof(allowed), "a profile name (1 to 32 of a-z, 0-9, '-', '_')");
			rc = fail(ld, HDB_ECONFIG, ep.line, ep.col, "%s must be %s%s, got \"%s\"", ename,
			          ks->allowed ? "one of " : "", allowed, quote(q, sizeof(q), s ? s : "", s ? len : 0));
			goto out_free_list;
		}
		for (size_t j = 0; j < got; j++) {
			if (strcmp(list[j], s) == 0) {
				rc = fail(ld, HDB_ECONFIG, ep.line, ep.col, "%s lists \"%s\" twice", name, s);
				goto out_free_list;
			}
		}
		list[got] = xstrndup(s, len);
		if (!list[got]) {
			snprintf(ld->err, sizeof(ld->err), "out of memory");
			rc = HDB_ENOMEM;
			goto out_free_list;
		}
		got++;
	}
	char ***fieldp = field_ptr(ld->cfg, ks);
	for (size_t i = 0; i < ld->cfg->nprofiles; i++)
		free((*fieldp)[i]);
	free(*fieldp);
	*fieldp = list;
	ld->cfg->nprofiles = got;
	return HDB_OK;

out_free_list:
	for (size_t i = 0; i < got; i++)
		free(list[i]);
	free(list);
	return rc;
}

static int walk_table(struct loader *ld, const struct toml_value *t, const char *prefix);

/* apply - stores value v of the key written as `name` (spec ks, already
 * resolved from an alias) into the working config. */
static int apply(struct loader *ld, const struct key_spec *ks, const char *name,
                 const struct toml_value *v, struct pos keypos)
{
	struct pos p = value_pos(v, keypos);
	char q[QUOTE_MAX * 4 + 8], msg[256];
	const char *s;
	size_t len;
	uint64_t x = 0;
	int rc;

	switch (ks->kind) {
	case K_TABLE: {
		if (toml_type(v) != TOML_TABLE)
			return type_error(ld, name, v, p, "a table");
		bool is_src = strcmp(ks->name, "encryption.key_source") == 0;
		if (is_src) {
			ld->nsrc = 0;
			ld->first_src = NULL;
		}
		rc = walk_table(ld, v, ks->name);
		if (rc || !is_src || ld->nsrc == 1)
			return rc;
		char list[128] = "";
		for (size_t i = 0; i < NKEYS; i++) {
			if (keys[i].kind != K_KEYSRC)
				continue;
			size_t o = strlen(list);
			snprintf(list + o, sizeof(list) - o, "%s%s", o ? ", " : "", leaf(keys[i].name));
		}
		return fail(ld, HDB_ECONFIG, keypos.line, keypos.col,
		            "%s must name exactly one of %s", name, list);
	}
	case K_BOOL:
		if (toml_type(v) != TOML_BOOL)
			return type_error(ld, name, v, p, "a boolean");
		*(bool *)field_ptr(ld->cfg, ks) = toml_bool(v);
		return HDB_OK;
	case K_SIZE:
		if (toml_type(v) == TOML_STRING) {
			s = toml_string(v, &len);
			if (!s || memchr(s, '\0', len) || !parse_size(s, len, &x))
				return fail(ld, HDB_ECONFIG, p.line, p.col,
				            "%s must be a byte count or a size such as \"512MiB\" or \"1GB\", got \"%s\"",
				            name, quote(q, sizeof(q), s ? s : "", s ? len : 0));
			if (x < ks->min || x > ks->max) {
				range_text(msg, sizeof(msg), ks, name);
				return fail(ld, HDB_ECONFIG, p.line, p.col, "%s bytes, got \"%s\" (%" PRIu64 ")",
				            msg, quote(q, sizeof(q), s, len), x);
			}
			*(uint64_t *)field_ptr(ld->cfg, ks) = x;
			return HDB_OK;
		}
		if (toml_type(v) != TOML_INTEGER)
			return type_error(ld, name, v, p, "an integer or a string such as \"512MiB\"");
		/* an integer byte count: */
		/* fall through */
	case K_UINT: {
		if (toml_type(v) != TOML_INTEGER)
			return type_error(ld, name, v, p, "an integer");
		int64_t iv = toml_int(v);
		if (iv < 0 || (uint64_t)iv < ks->min || (uint64_t)iv > ks->max) {
			range_text(msg, sizeof(msg), ks, name);
			return fail(ld, HDB_ECONFIG, p.line, p.col, "%s, got %" PRId64, msg, iv);
		}
		if (ks->ftype == F_U32)
			*(uint32_t *)field_ptr(ld->cfg, ks) = (uint32_t)iv;
		else
			*(uint64_t *)field_ptr(ld->cfg, ks) = (uint64_t)iv;
		return HDB_OK;
	}
	case K_STRING:
		rc = string_value(ld, name, v, p, &s, &len);
		if (rc)
			return rc;
		return set_string(ld, field_ptr(ld->cfg, ks), s, len);
	case K_ENUM: {
		if (toml_type(v) != TOML_STRING)
			return type_error(ld, name, v, p, "a string");
		s = toml_string(v, &len);
		if (!s || !word_allowed(ks->allowed, s, len)) {
			char allowed[256];
			allowed_text(allowed, sizeof(allowed), ks->allowed);
			return fail(ld, HDB_ECONFIG, p.line, p.col, "%s must be %s%s, got \"%s\"", name,
			            strchr(ks->allowed, '|') ? "one of " : "", allowed,
			            quote(q, sizeof(q), s ? s : "", s ? len : 0));
		}
		return set_string(ld, field_ptr(ld->cfg, ks), s, len);
	}
	case K_PROFILES:
		return apply_profiles(ld, ks, name, v, p);
	case K_KEYSRC: {
		rc = string_value(ld, name, v, p, &s, &len);
		if (rc)
			return rc;
		const char *problem = key_arg_problem(ks->srckind, s, msg, sizeof(msg));
		if (problem)
			return fail(ld, HDB_ECONFIG, p.line, p.col, "%s %s", name, problem);
		if (++ld->nsrc > 1)
			return fail(ld, HDB_ECONFIG, keypos.line, keypos.col,
			            "encryption.key_source has both %s and %s; give exactly one",
			            ld->first_src, leaf(ks->name));
		ld->first_src = leaf(ks->name);
		rc = set_string(ld, &ld->cfg->key_arg, s, len);
		if (rc)
			return rc;
		ld->cfg->key_kind = (enum hdb_key_source_kind)ks->srckind;
		return HDB_OK;
	}
	case K_ALIAS:
		break;  /* resolved by the caller */
	}
	snprintf(ld->err, sizeof(ld->err), "%s: internal error: bad key table entry", name);
	return HDB_ERROR;
}

static int unknown_key(struct loader *ld, const char *prefix, const char *k, struct pos p)
{
	char q[QUOTE_MAX * 4 + 8];
	const char *hint = plain_key(k) ? suggest(prefix, k) : NULL;
	quote(q, sizeof(q), k, strlen(k));
	if (hint)
		return fail(ld, HDB_ECONFIG, p.line, p.col, "unknown key '%s%s%s'; did you mean '%s'?",
		            prefix, *prefix ? "." : "", q, hint);
	return fail(ld, HDB_ECONFIG, p.line, p.col, "unknown key '%s%s%s'", prefix,
	            *prefix ? "." : "", q);
}

/* walk_table - applies every key of table t, whose dotted path is prefix
 * ("" for the root), in definition order; stops at the first error. */
static int walk_table(struct loader *ld, const struct toml_value *t, const char *prefix)
{
	size_t n = toml_table_len(t);
	for (size_t i = 0; i < n; i++) {
		const char *k = toml_table_key(t, i);
		const struct toml_value *v = toml_table_at(t, i);
		struct pos kp = { toml_table_key_line(t, i), toml_table_key_col(t, i) };
		const struct key_spec *ks = NULL;
		char name[3 * MAX_KEY_BYTES + 8];
		int rc;

		if (!k || !v)
			return fail(ld, HDB_ECONFIG, kp.line, kp.col, "malformed table '%s'", prefix);
		if (plain_key(k)) {
			int w = snprintf(name, sizeof(name), "%s%s%s", prefix, *prefix ? "." : "", k);
			if (w > 0 && (size_t)w < sizeof(name))
				ks = find_key(name);
		}
		if (!ks)
			return unknown_key(ld, prefix, k, kp);

		const struct key_spec *target = ks;
		if (ks->kind == K_ALIAS) {
			target = find_key(ks->target);
			if (!target || target->kind == K_ALIAS || target->kind == K_TABLE) {
				snprintf(ld->err, sizeof(ld->err), "%s: internal error: bad alias", name);
				return HDB_ERROR;
			}
		}
		size_t idx = (size_t)(target - keys);
		if (target->kind != K_TABLE && target->kind != K_KEYSRC && ld->set_line[idx])
			return fail(ld, HDB_ECONFIG, kp.line, kp.col, "%s is already set at line %u (as %s)",
			            name, ld->set_line[idx], ld->set_as[idx]);
		rc = apply(ld, target, name, v, kp);
		if (rc)
			return rc;
		ld->set_line[idx] = kp.line ? kp.line : 1;
		ld->set_as[idx] = ks->name;
	}
	return HDB_OK;
}

/* ------------------------------------------------ defaults, clear, copy */

static int set_default(struct hdb_config *cfg, const struct key_spec *ks)
{
	void *f = field_ptr(cfg, ks);
	switch (ks->kind) {
	case K_BOOL:
		*(bool *)f = strcmp(ks->dflt, "true") == 0;
		return HDB_OK;
	case K_UINT:
	case K_SIZE: {
		uint64_t x = strtoull(ks->dflt, NULL, 10);
		if (ks->ftype == F_U32)
			*(uint32_t *)f = (uint32_t)x;
		else
			*(uint64_t *)f = x;
		return HDB_OK;
	}
	case K_STRING:
	case K_ENUM: {
		char *copy = dupstr(ks->dflt);
		if (!copy)
			return HDB_ENOMEM;
		free(*(char **)f);
		*(char **)f = copy;
		return HDB_OK;
	}
	default:
		return HDB_OK;  /* tables, aliases and key sources have no default here */
	}
}

int config_defaults(struct hdb_config *cfg)
{
	if (!cfg)
		return HDB_EINVAL;
	for (size_t i = 0; i < NKEYS; i++) {
		if (!keys[i].dflt)
			continue;
		if (set_default(cfg, &keys[i]) != HDB_OK)
			goto out_nomem;
	}
	cfg->key_kind = HDB_KEY_ENVIRONMENT;
	free(cfg->key_arg);
	cfg->key_arg = dupstr(CONFIG_DEFAULT_KEY_ENV);
	if (!cfg->key_arg)
		goto out_nomem;
	return HDB_OK;

out_nomem:
	config_clear(cfg);
	return HDB_ENOMEM;
}

void config_clear(struct hdb_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key_spec *ks = &keys[i];
		if (ks->kind == K_KEYSRC)
			continue;  /* key_arg, freed once below */
		if (ks->ftype == F_STR) {
			free(*(char **)field_ptr(cfg, ks));
		} else if (ks->ftype == F_STRV) {
			char **list = *(char ***)field_ptr(cfg, ks);
			for (size_t j = 0; list && j < cfg->nprofiles; j++)
				free(list[j]);
			free(list);
		}
	}
	free(cfg->key_arg);
	free(cfg->source_file);
	secret_free(cfg->password);
	memset(cfg, 0, sizeof(*cfg));
}

/* copy_into - deep copy of src into dst (uninitialised).  On failure dst
 * holds nothing to free. */
static int copy_into(struct hdb_config *dst, const struct hdb_config *src)
{
	*dst = *src;
	/* First detach every pointer, so that a failure below frees only ours. */
	for (size_t i = 0; i < NKEYS; i++) {
		if (keys[i].ftype == F_STR)
			*(char **)field_ptr(dst, &keys[i]) = NULL;
		else if (keys[i].ftype == F_STRV)
			*(char ***)field_ptr(dst, &keys[i]) = NULL;
	}
	dst->key_arg = NULL;
	dst->source_file = NULL;
	dst->password = NULL;
	dst->nprofiles = 0;

	for (size_t i = 0; i < NKEYS; i++) {
		const struct key_spec *ks = &keys[i];
		if (ks->kind == K_KEYSRC)
			continue;
		if (ks->ftype == F_STR) {
			const char *s = *(char *const *)cfield_ptr(src, ks);
			if (s && !(*(char **)field_ptr(dst, ks) = dupstr(s)))
				goto out_nomem;
		} else if (ks->ftype == F_STRV) {
			char *const *from = *(char **const *)cfield_ptr(src, ks);
			if (!from || src->nprofiles == 0)
				continue;
			char **to = calloc(src->nprofiles, sizeof(*to));
			if (!to)
				goto out_nomem;
			*(char ***)field_ptr(dst, ks) = to;
			for (size_t j = 0; j < src->nprofiles; j++) {
				if (!(to[j] = dupstr(from[j])))
					goto out_nomem;
				dst->nprofiles = j + 1;
			}
		}
	}
	if (src->key_arg && !(dst->key_arg = dupstr(src->key_arg)))
		goto out_nomem;
	if (src->source_file && !(dst->source_file = dupstr(src->source_file)))
		goto out_nomem;
	if (src->password && secret_from(src->password->buf, src->password->len, &dst->password))
		goto out_nomem;
	return HDB_OK;

out_nomem:
	/* nprofiles counts the entries copied so far, as config_clear expects. */
	config_clear(dst);
	return HDB_ENOMEM;
}

int config_dup(const struct hdb_config *src, struct hdb_config **ret)
{
	if (!src || !ret)
		return HDB_EINVAL;
	struct hdb_config *c = malloc(sizeof(*c));
	if (!c)
		return HDB_ENOMEM;
	int rc = copy_into(c, src);
	if (rc) {
		free(c);
		return rc;
	}
	*ret = c;
	return HDB_OK;
}

int config_load_text(struct hdb_config *cfg, const char *text, size_t len, const char *filename)
{
	struct toml_value *root = NULL;
	struct hdb_config work;
	const char *file = filename ? filename : "<config>";
	int rc;

	if (!cfg)
		return HDB_EINVAL;
	if (!text && len) {
		snprintf(cfg->errmsg, sizeof(cfg->errmsg), "%s: no text given", file);
		return HDB_EINVAL;
	}
	cfg->errmsg[0] = '\0';
	rc = toml_parse(text ? text : "", len, file, &root, cfg->errmsg, sizeof(cfg->errmsg));
	if (rc) {
		if (!cfg->errmsg[0])
			snprintf(cfg->errmsg, sizeof(cfg->errmsg), "%s: %s", file, hdb_strerror(rc));
		return rc;
	}
	if (!root || toml_type(root) != TOML_TABLE) {
		snprintf(cfg->errmsg, sizeof(cfg->errmsg), "%s: internal error: no root table", file);
		rc = HDB_ERROR;
		goto out_free_root;
	}
	rc = copy_into(&work, cfg);
	if (rc) {
		snprintf(cfg->errmsg, sizeof(cfg->errmsg), "out of memory");
		goto out_free_root;
	}

	struct loader *ld = calloc(1, sizeof(*ld));
	if (!ld) {
		snprintf(cfg->errmsg, sizeof(cfg->errmsg), "out of memory");
		rc = HDB_ENOMEM;
		goto out_clear_work;
	}
	ld->cfg = &work;
	ld->file = file;
	rc = walk_table(ld, root, "");
	if (rc) {
		memcpy(cfg->errmsg, ld->err, sizeof(cfg->errmsg));
		cfg->errmsg[sizeof(cfg->errmsg) - 1] = '\0';
		free(ld);
		goto out_clear_work;
	}
	free(ld);
	/* Success: the working copy becomes the config. */
	config_clear(cfg);
	*cfg = work;
	cfg->errmsg[0] = '\0';
	goto out_free_root;

out_clear_work:
	config_clear(&work);
out_free_root:
	toml_free(root);
	return rc;
}

/* ------------------------------------------------------------ public API */

int hdb_config_new(struct hdb_config **ret_cfg)
{
	if (!ret_cfg)
		return HDB_EINVAL;
	struct hdb_config *cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return HDB_ENOMEM;
	int rc = config_defaults(cfg);
	if (rc) {
		free(cfg);
		return rc;
	}
	*ret_cfg = cfg;
	return HDB_OK;
}

/* read_config_file - the whole file into a malloc'd buffer (at most
 * MAX_FILE_BYTES).  Errors go to err as "cannot read config 'X': why". */
static int read_config_file(const char *path, char **ret_text, size_t *ret_len, char *err,
                            size_t errlen)
{
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	int rc = HDB_EIO;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		errf(err, errlen, "cannot read config '%s': %s", path, strerror(errno));
		return HDB_EIO;
	}
	if (fstat(fd, &st) != 0) {
		errf(err, errlen, "cannot read config '%s': %s", path, strerror(errno));
		goto out_close;
	}
	if (S_ISDIR(st.st_mode)) {
		errf(err, errlen, "cannot read config '%s': %s", path, strerror(EISDIR));
		goto out_close;
	}
	text = malloc(MAX_FILE_BYTES + 1);
	if (!text) {
		errf(err, errlen, "out of memory");
		rc = HDB_ENOMEM;
		goto out_close;
	}
	for (;;) {
		ssize_t n = read(fd, text + len, MAX_FILE_BYTES + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			errf(err, errlen, "cannot read config '%s': %s", path, strerror(errno));
			goto out_free_text;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > MAX_FILE_BYTES) {
			errf(err, errlen, "cannot read config '%s': larger than %u bytes", path,
			     MAX_FILE_BYTES);
			rc = HDB_ECONFIG;
			goto out_free_text;
		}
	}
	close(fd);
	*ret_text = text;
	*ret_len = len;
	return HDB_OK;

out_free_text:
	free(text);
out_close:
	close(fd);
	return rc;
}

/* resolve_paths - a relative path in a configuration file is relative to
 * the file's directory, so a configuration can travel with what it names
 * (examples/config/, /etc/heliosdb/).  Absolute paths are kept. */
static int resolve_one(char **field, const char *file)
{
	if (!*field || (*field)[0] == '/' || (*field)[0] == '\0')
		return HDB_OK;
	const char *slash = strrchr(file, '/');
	if (!slash)
		return HDB_OK;   /* the file is in the working directory: relative stays relative */
	size_t dl = (size_t)(slash - file) + 1;
	const char *rel = *field;
	while (rel[0] == '.' && rel[1] == '/')
		rel += 2;
	size_t fl = strlen(rel);
	char *p = malloc(dl + fl + 1);
	if (!p)
		return HDB_ENOMEM;
	memcpy(p, file, dl);
	memcpy(p + dl, rel, fl + 1);
	free(*field);
	*field = p;
	return HDB_OK;
}

static int resolve_paths(struct hdb_config *cfg, const char *file)
{
	char **fields[] = { &cfg->storage_path, &cfg->audit_log_file, &cfg->profile_dir, &cfg->ssl_cert_file,
		            &cfg->ssl_key_file, &cfg->ssl_ca_file };
	int rc = HDB_OK;
	for (size_t i = 0; !rc && i < ARRAY_SIZE(fields); i++)
		rc = resolve_one(fields[i], file);
	if (!rc && cfg->key_kind == HDB_KEY_FILE)
		rc = resolve_one(&cfg->key_arg, file);
	if (rc)
		snprintf(cfg->errmsg, sizeof(cfg->errmsg), "out of memory");
	return rc;
}

int hdb_config_load(const char *path, struct hdb_config **ret_cfg)
{
	struct hdb_config *cfg;
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (!ret_cfg)
		return HDB_EINVAL;
	rc = hdb_config_new(&cfg);
	if (rc)
		return rc;
	*ret_cfg = cfg;
	if (!path || !*path) {
		snprintf(cfg->errmsg, sizeof(cfg->errmsg), "no configuration file given");
		return HDB_EINVAL;
	}
	rc = read_config_file(path, &text, &len, cfg->errmsg, sizeof(cfg->errmsg));
	if (rc)
		return rc;
	rc = config_load_text(cfg, text, len, path);
	free(text);
	if (rc == HDB_OK)
		rc = resolve_paths(cfg, path);
	if (rc == HDB_OK) {
		cfg->source_file = dupstr(path);
		if (!cfg->source_file) {
			snprintf(cfg->errmsg, sizeof(cfg->errmsg), "out of memory");
			return HDB_ENOMEM;
		}
	}
	return rc;
}

const char *hdb_config_errmsg(const struct hdb_config *cfg)
{
	if (!cfg)
		return "out of memory (no configuration)";
	return cfg->errmsg;
}

void hdb_config_free(struct hdb_config *cfg)
{
	if (!cfg)
		return;
	config_clear(cfg);
	free(cfg);
}

int hdb_config_set_path(struct hdb_config *cfg, const char *path)
{
	if (!cfg)
		return HDB_EINVAL;
	if (path && !*path) {
		snprintf(cfg->errmsg, sizeof(cfg->errmsg), "storage.path must not be empty");
		return HDB_EINVAL;
	}
	char *copy = NULL;
	if (path && !(copy = dupstr(path))) {
		snprintf(cfg->errmsg, sizeof(cfg->errmsg), "out of memory");
		return HDB_ENOMEM;
	}
	free(cfg->storage_path);
	cfg->storage_path = copy;
	return HDB_OK;
}

int hdb_config_set_encryption(struct hdb_config *cfg, bool enabled)
{
	if (!cfg)
		return HDB_EINVAL;
	cfg->enc_enabled = enabled;
	return HDB_OK;
}

int hdb_config_set_key_source(struct hdb_config *cfg, enum hdb_key_source_kind kind,
                              const char *arg)
{
	char msg[256];
	if (!cfg)
		return HDB_EINVAL;
	switch (kind) {
	case HDB_KEY_NONE:
		if (arg) {
			snprintf(cfg->errmsg, sizeof(cfg->errmsg), "key source none takes no argument");
			return HDB_EINVAL;
		}
		break;
	case HDB_KEY_ENVIRONMENT:
		if (!arg)
			arg = CONFIG_DEFAULT_KEY_ENV;
		break;
	case HDB_KEY_PASSWORD:   /* NULL: the password comes from hdb_config_set_password() */
		break;
	case HDB_KEY_FILE:
	case HDB_KEY_CREDENTIAL:
		if (!arg) {
			snprintf(cfg->errmsg, sizeof(cfg->errmsg), "key source %s needs an argument",
			         kind == HDB_KEY_FILE ? "File" : "Credential");
			return HDB_EINVAL;
		}
		break;
	default:
		snprintf(cfg->errmsg, sizeof(cfg->errmsg), "unknown key source kind %d", (int)kind);
		return HDB_EINVAL;
	}
	if (arg) {
		const char *problem = !*arg ? "must not be empty"
		                    : strlen(arg) > MAX_STRING_BYTES ? "is too long"
		                    : key_arg_problem(kind, arg, msg, sizeof(msg));
		if (problem) {
			snprintf(cfg->errmsg, sizeof(cfg->errmsg), "key source argument %s", problem);
			return HDB_EINVAL;
		}
	}
	char *copy = NULL;
	if (arg && !(copy = dupstr(arg))) {
		snprintf(cfg->errmsg, sizeof(cfg->errmsg), "out of memory");
		return HDB_ENOMEM;
	}
	free(cfg->key_arg);
	cfg->key_arg = copy;
	cfg->key_kind = kind;
	return HDB_OK;
}

int hdb_config_set_password(struct hdb_config *cfg, const char *pw, size_t len)
{
	struct hdb_secret *s;
	if (!cfg)
		return HDB_EINVAL;
	if (!pw || len == 0) {
		snprintf(cfg->errmsg, sizeof(cfg->errmsg), "password must not be empty");
		return HDB_EINVAL;
	}
	if (secret_from(pw, len, &s) != HDB_OK) {
		snprintf(cfg->errmsg, sizeof(cfg->errmsg), "out of memory");
		return HDB_ENOMEM;
	}
	secret_free(cfg->password);
	cfg->password = s;
	/* A password only means something to a password key source. */
	if (cfg->key_kind != HDB_KEY_PASSWORD) {
		free(cfg->key_arg);
		cfg->key_arg = NULL;
		cfg->key_kind = HDB_KEY_PASSWORD;
	}
	return HDB_OK;
}

/* check_u64 - whether x is in the table range of key `name`; if not, the
 * message goes to cfg->errmsg. */
static bool check_u64(struct hdb_config *cfg, const char *name, uint64_t x)
{
	const struct key_spec *ks = find_key(name);
	char msg[256];
	if (!ks)
		return false;
	if (x >= ks->min && x <= ks->max)
		return true;
	range_text(msg, sizeof(msg), ks, name);
	snprintf(cfg->errmsg, sizeof(cfg->errmsg), "%s, got %" PRIu64, msg, x);
	return false;
}

int hdb_config_set_max_encryptions(struct hdb_config *cfg, uint64_t n)
{
	if (!cfg)
		return HDB_EINVAL;
	if (!check_u64(cfg, "encryption.max_encryptions_per_key", n) || n > CONFIG_HARD_MAX_ENCRYPTIONS)
		return HDB_EINVAL;
	cfg->max_encryptions = n;
	return HDB_OK;
}

int hdb_config_set_fips(struct hdb_config *cfg, bool fips)
{
	if (!cfg)
		return HDB_EINVAL;
	cfg->fips = fips;
	return HDB_OK;
}

int hdb_config_set_kdf(struct hdb_config *cfg, uint32_t m_kib, uint32_t t, uint32_t p)
{
	if (!cfg)
		return HDB_EINVAL;
	if (!check_u64(cfg, "encryption.kdf.memory_kib", m_kib) ||
	    !check_u64(cfg, "encryption.kdf.time_cost", t) ||
	    !check_u64(cfg, "encryption.kdf.parallelism", p))
		return HDB_EINVAL;
	cfg->kdf_m_kib = m_kib;
	cfg->kdf_t = t;
	cfg->kdf_p = p;
	return HDB_OK;
}

const char *hdb_config_path(const struct hdb_config *cfg)
{
	return cfg ? cfg->storage_path : NULL;
}

int hdb_config_apply(struct hdb_config *cfg, const char *toml_text)
{
	if (!cfg || !toml_text)
		return HDB_EINVAL;
	return config_load_text(cfg, toml_text, strlen(toml_text), "<hdb_config_apply>");
}

/* ------------------------------------------------------------ profiles */

bool config_profile_name_ok(const char *s, size_t len)
{
	if (!s || len == 0 || len > 32)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

int hdb_config_set_rule_callback(struct hdb_config *cfg, hdb_rule_fn fn, void *arg)
{
	if (!cfg)
		return HDB_EINVAL;
	cfg->rule_fn = fn;
	cfg->rule_arg = arg;
	return HDB_OK;
}

int hdb_config_add_profile(struct hdb_config *cfg, const char *name)
{
	if (!cfg || !name)
		return HDB_EINVAL;
	if (!config_profile_name_ok(name, strlen(name))) {
		snprintf(cfg->errmsg, sizeof(cfg->errmsg),
		         "profile name '%.40s' is not valid: use 1 to 32 of a-z, 0-9, '-', '_'", name);
		return HDB_ECONFIG;
	}
	for (size_t i = 0; i < cfg->nprofiles; i++)
		if (strcmp(cfg->profiles[i], name) == 0)
			return HDB_OK;
	char **v = realloc(cfg->profiles, (cfg->nprofiles + 1) * sizeof(*v));
	if (!v)
		return HDB_ENOMEM;
	cfg->profiles = v;
	if (!(v[cfg->nprofiles] = dupstr(name)))
		return HDB_ENOMEM;
	cfg->nprofiles++;
	return HDB_OK;
}

static const char *source_kind_name(enum hdb_key_source_kind k)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].kind == K_KEYSRC && keys[i].srckind == (int)k)
			return leaf(keys[i].name);
	return NULL;
}

struct json_object *config_effective_json(const struct hdb_config *cfg)
{
	struct json_object *o = json_object_new_object();
	if (!o || !cfg)
		goto fail;
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key_spec *ks = &keys[i];
		struct json_object *v = NULL;
		const void *f = ks->kind == K_TABLE || ks->kind == K_ALIAS || ks->kind == K_KEYSRC ? NULL
		                                                                               : cfield_ptr(cfg, ks);
		if (!f)
			continue;
		switch (ks->ftype) {
		case F_BOOL: v = json_object_new_boolean(*(const bool *)f); break;
		case F_U32: v = json_object_new_int64(*(const uint32_t *)f); break;
		case F_U64: v = json_object_new_uint64(*(const uint64_t *)f); break;
		case F_STR: {
			const char *str = *(char *const *)f;
			v = str ? json_object_new_string(str) : NULL;
			if (str && !v)
				goto fail;
			break;
		}
		case F_STRV: {
			char *const *list = *(char **const *)f;
			if (!(v = json_object_new_array()))
				goto fail;
			for (size_t j = 0; list && j < cfg->nprofiles; j++) {
				struct json_object *e = json_object_new_string(list[j]);
				if (!e || json_object_array_add(v, e)) {
					json_object_put(e);
					json_object_put(v);
					goto fail;
				}
			}
			break;
		}
		case F_NONE: continue;
		}
		if ((ks->ftype != F_STR && !v) || json_object_object_add(o, ks->name, v)) {
			json_object_put(v);
			goto fail;
		}
	}
	const char *kind = source_kind_name(cfg->key_kind);
	if (kind) {
		char name[64];
		snprintf(name, sizeof(name), "encryption.key_source.%s", kind);
		struct json_object *k = json_object_new_string(kind);
		if (!k || json_object_object_add(o, "encryption.key_source", k))
			goto fail;
		struct json_object *a = cfg->key_arg ? json_object_new_string(cfg->key_arg) : NULL;
		if (json_object_object_add(o, name, a))
			goto fail;
	}
	return o;
fail:
	json_object_put(o);
	return NULL;
}
