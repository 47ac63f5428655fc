/*
 * record.c - the audit record: the event table, one JSON line per event,
 * the hash chain, detail builders, JSON string escaping and keyed tokens.
 * audit.h is the specification; docs/audit-log.md documents the format for
 * auditors, byte by byte.
 *
 * Invariants:
 *  1. Members are written in the fixed order of audit.h, with no
 *     whitespace, so the canonical text of a record is the line itself and
 *     any verifier can recompute hash(r) from the line alone.
 *  2. Every string member is valid UTF-8 JSON: quotes, backslashes and
 *     control characters are escaped, invalid UTF-8 bytes become U+FFFD.
 *     A line therefore never contains a raw newline or NUL.
 *  3. audit_record_encode either appends one complete line and advances
 *     the head, or leaves both untouched.
 *
 * Speed: the encoder runs on the path of every operation.  It measures all
 * members first, reserves the worst case once, and then writes through a
 * plain pointer: no allocation, no printf, no per-member bounds checks.
 * Timestamps come from integer arithmetic (no gmtime, no locale), event ids
 * from a per-thread pool of RAND_bytes output (refilled after fork), and
 * SHA-256 from a per-thread reused EVP_MD_CTX with a digest fetched once.
 */
#include "audit.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

/* ------------------------------------------------------------ event table */

static const char *const ev_names[] = {
#define AUDIT_EVENT(id, name, msgid, category, priority, doc) name,
#include "events.def"
#undef AUDIT_EVENT
};
static const char *const ev_msgids[] = {
#define AUDIT_EVENT(id, name, msgid, category, priority, doc) msgid,
#include "events.def"
#undef AUDIT_EVENT
};
static const char *const ev_categories[] = {
#define AUDIT_EVENT(id, name, msgid, category, priority, doc) category,
#include "events.def"
#undef AUDIT_EVENT
};
static const int ev_priorities[] = {
#define AUDIT_EVENT(id, name, msgid, category, priority, doc) priority,
#include "events.def"
#undef AUDIT_EVENT
};
_Static_assert(sizeof(ev_names) / sizeof(ev_names[0]) == AUDIT_EV__COUNT, "event table");

static bool ev_valid(enum audit_event_type t)
{
	return (unsigned)t < (unsigned)AUDIT_EV__COUNT;
}

const char *audit_event_name(enum audit_event_type t)
{
	return ev_valid(t) ? ev_names[t] : NULL;
}

const char *audit_event_message_id(enum audit_event_type t)
{
	return ev_valid(t) ? ev_msgids[t] : NULL;
}

const char *audit_event_category(enum audit_event_type t)
{
	return ev_valid(t) ? ev_categories[t] : NULL;
}

int audit_event_priority(enum audit_event_type t)
{
	return ev_valid(t) ? ev_priorities[t] : 3;
}

int audit_event_lookup(const char *name)
{
	if (!name)
		return -1;
	for (int i = 0; i < AUDIT_EV__COUNT; i++)
		if (strcmp(ev_names[i], name) == 0)
			return i;
	return -1;
}

static const char *const outcome_names[] = { "success", "failure", "denied" };

const char *audit_outcome_name(enum audit_outcome o)
{
	return (unsigned)o < ARRAY_SIZE(outcome_names) ? outcome_names[o] : NULL;
}

/* ------------------------------------------------- per-thread crypto state */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t mdctx_key;
static EVP_MD *sha256_md;              /* fetched once; NULL if unavailable */
static volatile unsigned fork_generation;

static void mdctx_destroy(void *p)
{
	EVP_MD_CTX_free(p);
}

static void after_fork_child(void)
{
	fork_generation++;
}

static void init_once(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	(void)pthread_key_create(&mdctx_key, mdctx_destroy);
	(void)pthread_atfork(NULL, NULL, after_fork_child);
}

/* sha256_3 - SHA-256(a || b || c) with this thread's reused context. */
static int sha256_3(const void *a, size_t an, const void *b, size_t bn, const void *c, size_t cn,
                    unsigned char out[32])
{
	pthread_once(&once, init_once);
	if (!sha256_md)
		return HDB_ECRYPTO;
	EVP_MD_CTX *ctx = pthread_getspecific(mdctx_key);
	if (!ctx) {
		ctx = EVP_MD_CTX_new();
		if (!ctx)
			return HDB_ENOMEM;
		if (pthread_setspecific(mdctx_key, ctx) != 0) {
			EVP_MD_CTX_free(ctx);
			return HDB_ENOMEM;
		}
	}
	unsigned int outlen = 0;
	if (EVP_DigestInit_ex2(ctx, sha256_md, NULL) != 1 || EVP_DigestUpdate(ctx, a, an) != 1 ||
	    EVP_DigestUpdate(ctx, b, bn) != 1 || (cn && EVP_DigestUpdate(ctx, c, cn) != 1) ||
	    EVP_DigestFinal_ex(ctx, out, &outlen) != 1 || outlen != 32)
		return HDB_ECRYPTO;
	return HDB_OK;
}

/* A per-thread pool of public random bytes for event ids: one RAND_bytes
 * call per 64 records instead of one per record.  A forked child starts a
 * fresh pool, so parent and child never hand out the same id. */
static _Thread_local struct {
	unsigned char bytes[1024];
	size_t avail;
	unsigned generation;
} rpool;

static int random_id(unsigned char out[16])
{
	pthread_once(&once, init_once);
	if (rpool.avail < 16 || rpool.generation != fork_generation) {
		if (RAND_bytes(rpool.bytes, sizeof(rpool.bytes)) != 1)
			return HDB_ECRYPTO;
		rpool.avail = sizeof(rpool.bytes);
		rpool.generation = fork_generation;
	}
	rpool.avail -= 16;
	memcpy(out, rpool.bytes + rpool.avail, 16);
	OPENSSL_cleanse(rpool.bytes + rpool.avail, 16);
	return HDB_OK;
}

/* ------------------------------------------------------------------- time */

#define MAX_TIME_US INT64_C(253402300799999999) /* 9999-12-31T23:59:59.999999Z */

static char *put_digits(char *p, unsigned v, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + width;
}

/* civil date from days since 1970-01-01 (H. Hinnant's algorithm), days >= 0 */
static void civil_from_days(int64_t z, unsigned *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = z / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (unsigned)(yoe + era * 400) + (*m <= 2);
}

static int64_t days_from_civil(unsigned y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = y / 400;
	unsigned yoe = y - (unsigned)era * 400;
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* writes exactly AUDIT_TIME_LEN characters; time_us already range-checked */
static char *put_time(char *p, int64_t time_us)
{
	int64_t secs = time_us / 1000000;
	unsigned us = (unsigned)(time_us % 1000000);
	unsigned y, mo, d;
	civil_from_days(secs / 86400, &y, &mo, &d);
	unsigned sod = (unsigned)(secs % 86400);
	p = put_digits(p, y, 4);
	*p++ = '-';
	p = put_digits(p, mo, 2);
	*p++ = '-';
	p = put_digits(p, d, 2);
	*p++ = 'T';
	p = put_digits(p, sod / 3600, 2);
	*p++ = ':';
	p = put_digits(p, sod / 60 % 60, 2);
	*p++ = ':';
	p = put_digits(p, sod % 60, 2);
	*p++ = '.';
	p = put_digits(p, us, 6);
	*p++ = 'Z';
	return p;
}

int audit_format_time(int64_t time_us, char out[AUDIT_TIME_LEN + 1])
{
	if (time_us < 0 || time_us > MAX_TIME_US)
		return HDB_EINVAL;
	*put_time(out, time_us) = '\0';
	return HDB_OK;
}

static bool get_digits(const char *s, int width, unsigned *ret)
{
	unsigned v = 0;
	for (int i = 0; i < width; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*ret = v;
	return true;
}

int audit_parse_time(const char *s, size_t n, int64_t *ret_us)
{
	unsigned y, mo, d, h, mi, se, us;
	if (!s || n != AUDIT_TIME_LEN || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || s[19] != '.' || s[26] != 'Z')
		return HDB_ECORRUPT;
	if (!get_digits(s, 4, &y) || !get_digits(s + 5, 2, &mo) || !get_digits(s + 8, 2, &d) ||
	    !get_digits(s + 11, 2, &h) || !get_digits(s + 14, 2, &mi) || !get_digits(s + 17, 2, &se) ||
	    !get_digits(s + 20, 6, &us))
		return HDB_ECORRUPT;
	static const unsigned char mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 59)
		return HDB_ECORRUPT;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (mo == 2 && d == 29 && !leap)
		return HDB_ECORRUPT;
	int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
	*ret_us = secs * 1000000 + us;
	return HDB_OK;
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ------------------------------------------------------------ JSON strings */

/* 0: copy as is; 1: escape; 2: start of a multi-byte UTF-8 sequence */
static const unsigned char cls[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

/* Worst case of esc(): every byte becomes "\u00XX" (6 bytes); U+FFFD for an
 * invalid byte is 3 bytes; plus the two quotes. */
#define ESC_MAX(n) (6 * (n) + 2)

/* utf8_len - length of the well-formed UTF-8 sequence at s (RFC 3629:
 * no overlongs, no surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	if (c >= 0xC2 && c <= 0xDF)
		return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		if (n < 3 || (s[2] & 0xC0) != 0x80)
			return 0;
		unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
		return s[1] >= lo && s[1] <= hi ? 3 : 0;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		if (n < 4 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
			return 0;
		unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
		return s[1] >= lo && s[1] <= hi ? 4 : 0;
	}
	return 0;
}

/* esc - writes s[0..n) as a quoted JSON string at p (room for ESC_MAX(n)). */
static char *esc(char *p, const char *str, size_t n)
{
	static const char hexd[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	*p++ = '"';
	size_t i = 0;
	while (i < n) {
		size_t run = i;
		while (run < n && cls[s[run]] == 0)
			run++;
		if (run > i) {
			memcpy(p, s + i, run - i);
			p += run - i;
			i = run;
			if (i == n)
				break;
		}
		unsigned char c = s[i];
		if (cls[c] == 1) {
			*p++ = '\\';
			switch (c) {
			case '"': *p++ = '"'; break;
			case '\\': *p++ = '\\'; break;
			case '\b': *p++ = 'b'; break;
			case '\f': *p++ = 'f'; break;
			case '\n': *p++ = 'n'; break;
			case '\r': *p++ = 'r'; break;
			case '\t': *p++ = 't'; break;
			default:
				*p++ = 'u';
				*p++ = '0';
				*p++ = '0';
				*p++ = hexd[c >> 4];
				*p++ = hexd[c & 15];
			}
			i++;
		} else {
			size_t k = utf8_len(s + i, n - i);
			if (k) {
				memcpy(p, s + i, k);
				p += k;
				i += k;
			} else {
				*p++ = (char)0xEF; /* U+FFFD REPLACEMENT CHARACTER */
				*p++ = (char)0xBF;
				*p++ = (char)0xBD;
				i++;
			}
		}
	}
	*p++ = '"';
	return p;
}

int audit_json_string(struct buf *b, const char *s, size_t n)
{
	if (!s)
		return buf_append(b, "null", 4);
	if (n > (SIZE_MAX - 8) / 6)
		return HDB_ENOMEM;
	int rc = buf_reserve(b, ESC_MAX(n));
	if (rc)
		return rc;
	char *start = (char *)b->p + b->len;
	b->len += (size_t)(esc(start, s, n) - start);
	return HDB_OK;
}

/* ----------------------------------------------------------------- record */

static char *put_lit(char *p, const char *lit, size_t n)
{
	memcpy(p, lit, n);
	return p + n;
}
#define PUT(p, lit) put_lit((p), (lit), sizeof(lit) - 1)

static char *put_u64(char *p, uint64_t v)
{
	char t[20];
	int i = 20;
	do {
		t[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	memcpy(p, t + i, (size_t)(20 - i));
	return p + (20 - i);
}

static char *put_i64(char *p, int64_t v)
{
	if (v < 0) {
		*p++ = '-';
		return put_u64(p, (uint64_t)0 - (uint64_t)v);
	}
	return put_u64(p, (uint64_t)v);
}

static char *put_hex(char *p, const unsigned char *in, size_t n)
{
	static const char hexd[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		*p++ = hexd[in[i] >> 4];
		*p++ = hexd[in[i] & 15];
	}
	return p;
}

/* a string member's value: escaped string or null */
static char *put_str(char *p, const char *s, size_t n)
{
	return s ? esc(p, s, n) : PUT(p, "null");
}

/* digit values of lowercase hex; 0x80 marks every other byte */
#define HX(c) ((c) >= '0' && (c) <= '9' ? (c) - '0' : (c) >= 'a' && (c) <= 'f' ? (c) - 'a' + 10 : 0x80)
#define HX4(b) HX(b), HX((b) + 1), HX((b) + 2), HX((b) + 3)
#define HX16(b) HX4(b), HX4((b) + 4), HX4((b) + 8), HX4((b) + 12)
#define HX64(b) HX16(b), HX16((b) + 16), HX16((b) + 32), HX16((b) + 48)
static const unsigned char hexv[256] = { HX64(0), HX64(64), HX64(128), HX64(192) };

bool audit_hex32(const char *h, unsigned char out[32])
{
	unsigned bad = 0;
	for (int i = 0; i < 32; i++) {
		unsigned hi = hexv[(unsigned char)h[2 * i]], lo = hexv[(unsigned char)h[2 * i + 1]];
		bad |= hi | lo;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return (bad & 0x80) == 0;
}

static bool is_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

void audit_genesis(const char *db_id, struct audit_head *ret)
{
	static const char prefix[] = "heliosdb-audit-genesis:";
	size_t n = db_id ? strlen(db_id) : 0;
	ret->seq = 0;
	if (sha256_3(prefix, sizeof(prefix) - 1, db_id ? db_id : "", n, NULL, 0, ret->hash) != HDB_OK)
		memset(ret->hash, 0, sizeof(ret->hash)); /* no SHA-256: encode fails too */
}

enum { S_ERROR, S_USER, S_SOURCE_IP, S_APPLICATION, S_SESSION, S_TABLE, S_OBJECT, S_QUERY, S_HOST, S__N };

/* the fixed part of a line: member names, punctuation, numbers, ids */
#define LINE_FIXED 640
/* ',"hash":"' + 64 hex + '"}': what follows the canonical text's body */
#define HASH_MEMBER (9 + 64 + 2)

int audit_record_encode(const struct audit_ctx *ctx, const struct audit_event *ev, struct audit_head *head,
                        struct buf *out)
{
	return audit_record_encode_ex(ctx, ev, head, out, NULL);
}

int audit_record_encode_ex(const struct audit_ctx *ctx, const struct audit_event *ev, struct audit_head *head,
                           struct buf *out, struct audit_record_info *ret_info)
{
	if (!ctx || !ev || !head || !out || !ev_valid(ev->type) || !audit_outcome_name(ev->outcome) ||
	    head->seq == UINT64_MAX)
		return HDB_EINVAL;
	if (strnlen(ctx->db_id, sizeof(ctx->db_id)) != 32 || !is_lower_hex(ctx->db_id, 32))
		return HDB_EINVAL;
	int64_t t = ev->time_us ? ev->time_us : now_us();
	if (t < 0 || t > MAX_TIME_US)
		return HDB_EINVAL;

	const char *sv[S__N] = { ev->error, ev->user, ev->source_ip, ev->application, ev->session_id,
				 ev->table, ev->object, ev->query, ctx->host };
	size_t sl[S__N];
	size_t need = LINE_FIXED;
	for (int i = 0; i < S__N; i++) {
		sl[i] = sv[i] ? (i == S_HOST ? strnlen(sv[i], sizeof(ctx->host)) : strlen(sv[i])) : 0;
		if (sl[i] > (SIZE_MAX / 16) / S__N)
			return HDB_ENOMEM;
		need += ESC_MAX(sl[i]);
	}
	size_t dl = 0;
	if (ev->detail_json) {
		dl = strlen(ev->detail_json);
		/* trusted (built with audit_detail_*), but a line must stay a line */
		if (dl < 2 || ev->detail_json[0] != '{' || ev->detail_json[dl - 1] != '}' ||
		    memchr(ev->detail_json, '\n', dl))
			return HDB_EINVAL;
		if (dl > SIZE_MAX / 4)
			return HDB_ENOMEM;
		need += dl;
	}
	unsigned char id[16];
	int rc = random_id(id);
	if (rc)
		return rc;
	rc = buf_reserve(out, need);
	if (rc)
		return rc;

	uint64_t seq = head->seq + 1;
	char *const start = (char *)out->p + out->len;
	char *p = start;
	p = PUT(p, "{\"seq\":");
	p = put_u64(p, seq);
	p = PUT(p, ",\"timestamp\":\"");
	p = put_time(p, t);
	p = PUT(p, "\",\"event_type\":\"");
	p = put_lit(p, ev_names[ev->type], strlen(ev_names[ev->type]));
	p = PUT(p, "\",\"outcome\":\"");
	p = put_lit(p, outcome_names[ev->outcome], strlen(outcome_names[ev->outcome]));
	p = PUT(p, "\",\"error\":");
	p = put_str(p, sv[S_ERROR], sl[S_ERROR]);
	p = PUT(p, ",\"user\":");
	p = put_str(p, sv[S_USER], sl[S_USER]);
	p = PUT(p, ",\"source_ip\":");
	p = put_str(p, sv[S_SOURCE_IP], sl[S_SOURCE_IP]);
	p = PUT(p, ",\"application\":");
	p = put_str(p, sv[S_APPLICATION], sl[S_APPLICATION]);
	p = PUT(p, ",\"session_id\":");
	p = put_str(p, sv[S_SESSION], sl[S_SESSION]);
	p = PUT(p, ",\"table\":");
	p = put_str(p, sv[S_TABLE], sl[S_TABLE]);
	p = PUT(p, ",\"object\":");
	p = put_str(p, sv[S_OBJECT], sl[S_OBJECT]);
	p = PUT(p, ",\"query\":");
	p = put_str(p, sv[S_QUERY], sl[S_QUERY]);
	p = PUT(p, ",\"rows_affected\":");
	p = ev->rows_affected >= 0 ? put_i64(p, ev->rows_affected) : PUT(p, "null");
	p = ev->encryption_enabled ? PUT(p, ",\"encryption_enabled\":true,\"event_id\":\"")
				   : PUT(p, ",\"encryption_enabled\":false,\"event_id\":\"");
	p = put_hex(p, id, 16);
	p = PUT(p, "\",\"db_id\":\"");
	p = put_lit(p, ctx->db_id, 32);
	p = PUT(p, "\",\"host\":");
	p = ctx->host[0] ? esc(p, ctx->host, sl[S_HOST]) : PUT(p, "null");
	p = PUT(p, ",\"pid\":");
	p = put_i64(p, ctx->pid);
	p = PUT(p, ",\"detail\":");
	p = ev->detail_json ? put_lit(p, ev->detail_json, dl) : PUT(p, "null");
	p = PUT(p, ",\"prev_hash\":\"");
	p = put_hex(p, head->hash, 32);
	p = PUT(p, "\"}");

	unsigned char h[32];
	rc = sha256_3(head->hash, 32, start, (size_t)(p - start), NULL, 0, h);
	if (rc)
		return rc; /* out->len untouched: nothing was appended */
	p--;           /* replace the canonical text's closing brace */
	p = PUT(p, ",\"hash\":\"");
	p = put_hex(p, h, 32);
	p = PUT(p, "\"}\n");
	out->len += (size_t)(p - start);
	if (ret_info) {
		ret_info->seq = seq;
		ret_info->time_us = t;
		memcpy(ret_info->event_id, id, 16);
		memcpy(ret_info->prev_hash, head->hash, 32);
		memcpy(ret_info->hash, h, 32);
	}
	head->seq = seq;
	memcpy(head->hash, h, 32);
	return HDB_OK;
}

int audit_utf8_clean(struct buf *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	while (i < n && u[i] < 0x80)
		i++;
	if (i == n)
		return buf_append(b, s, n);
	if (n > (SIZE_MAX - 8) / 3)
		return HDB_ENOMEM;
	int rc = buf_reserve(b, 3 * n);
	if (rc)
		return rc;
	char *p = (char *)b->p + b->len;
	memcpy(p, s, i);
	p += i;
	while (i < n) {
		size_t k = u[i] < 0x80 ? 1 : utf8_len(u + i, n - i);
		if (k) {
			memcpy(p, u + i, k);
			p += k;
			i += k;
		} else {
			*p++ = (char)0xEF; /* U+FFFD, as esc() writes it */
			*p++ = (char)0xBF;
			*p++ = (char)0xBD;
			i++;
		}
	}
	b->len = (size_t)(p - (char *)b->p);
	return HDB_OK;
}

int audit_line_hash(const unsigned char prev[32], const char *line, size_t len, unsigned char ret_hash[32],
                    unsigned char ret_claimed[32])
{
	if (!prev || !line)
		return HDB_EINVAL;
	if (len && line[len - 1] == '\n')
		len--;
	static const char key[] = ",\"hash\":\"";
	if (len < 1 + HASH_MEMBER || line[0] != '{')
		return HDB_ECORRUPT;
	const char *tail = line + len - HASH_MEMBER;
	unsigned char claimed[32];
	if (memcmp(tail, key, sizeof(key) - 1) != 0 || tail[9 + 64] != '"' || tail[9 + 64 + 1] != '}' ||
	    !audit_hex32(tail + 9, claimed))
		return HDB_ECORRUPT;
	/* canonical = the line up to the hash member, then the closing brace */
	unsigned char h[32];
	int rc = sha256_3(prev, 32, line, (size_t)(tail - line), "}", 1, h);
	if (rc)
		return rc;
	memcpy(ret_hash, h, 32);
	if (ret_claimed)
		memcpy(ret_claimed, claimed, 32);
	return HDB_OK;
}

/* ---------------------------------------------------------- detail objects
 *
 * The builder keeps no state beyond the buffer: an object in progress is
 * b->p[0] == '{' with b->len > 0.  A failed append empties the buffer, every
 * later call then does nothing, and audit_detail_end reports HDB_ENOMEM.
 * audit_detail_end leaves a NUL after the object (not counted in len), so
 * (const char *)b->p can be passed as audit_event.detail_json.
 */

void audit_detail_begin(struct buf *b)
{
	buf_reset(b);
	(void)buf_putc(b, '{');
}

static bool detail_key(struct buf *b, const char *key)
{
	if (b->len == 0 || b->p[0] != '{' || !key)
		return false;
	if (b->len > 1 && buf_putc(b, ',') != HDB_OK)
		goto out_poison;
	if (audit_json_string(b, key, strlen(key)) != HDB_OK || buf_putc(b, ':') != HDB_OK)
		goto out_poison;
	return true;
out_poison:
	b->len = 0;
	return false;
}

void audit_detail_str(struct buf *b, const char *key, const char *val)
{
	if (detail_key(b, key) && audit_json_string(b, val, val ? strlen(val) : 0) != HDB_OK)
		b->len = 0;
}

void audit_detail_int(struct buf *b, const char *key, int64_t val)
{
	if (!detail_key(b, key))
		return;
	if (buf_reserve(b, 21) != HDB_OK) {
		b->len = 0;
		return;
	}
	char *s = (char *)b->p + b->len;
	b->len += (size_t)(put_i64(s, val) - s);
}

void audit_detail_bool(struct buf *b, const char *key, bool val)
{
	if (detail_key(b, key) && buf_append(b, val ? "true" : "false", val ? 4 : 5) != HDB_OK)
		b->len = 0;
}

int audit_detail_end(struct buf *b)
{
	if (b->len == 0 || b->p[0] != '{' || buf_reserve(b, 2) != HDB_OK) {
		b->len = 0;
		return HDB_ENOMEM;
	}
	b->p[b->len++] = '}';
	b->p[b->len] = '\0';
	return HDB_OK;
}

/* ------------------------------------------------------------------ tokens */

int audit_token(const unsigned char key[32], const char *prefix, const void *data, size_t n, char *out,
                size_t outlen)
{
	if (!key || !out || (!data && n))
		return HDB_EINVAL;
	size_t pl = prefix ? strlen(prefix) : 0;
	if (outlen < pl + 17)
		return HDB_EINVAL;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	static const unsigned char empty[1];
	if (!HMAC(EVP_sha256(), key, 32, data ? data : empty, n, mac, &maclen) || maclen != 32)
		return HDB_ECRYPTO;
	memcpy(out, prefix ? prefix : "", pl);
	hex_encode(mac, 8, out + pl);
	OPENSSL_cleanse(mac, sizeof(mac));
	return HDB_OK;
}
