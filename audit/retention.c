/*
 * retention.c - which audit segments may be deleted, and deleting them.
 *
 * Invariants (audit.h states them for callers; docs/retention.md for
 * operators):
 *   1. Only rotated segments are ever deleted; the active one never.
 *   2. A segment goes only when both its newest record and its mtime are
 *      strictly older than now - days.  The newest record, not the last:
 *      after a clock step backwards the last record can be the older one.
 *      The mtime too, because a line's timestamp is text anyone with write
 *      access could have edited, and a wrong mtime only delays deletion.
 *   3. days < AUDIT_RETENTION_MIN_DAYS is refused and now is clamped to the
 *      real clock: no argument makes a young segment old.
 *   4. A legal-hold file in the log directory stops all deletion; it is
 *      checked when planning and again before each unlink.
 *   5. Deletions are a prefix of the rotated segments in log order: the
 *      first one kept keeps all later ones, so the remaining log is one
 *      chain continuing from the last deleted segment's (last_seq,
 *      last_hash), which the engine records as the anchor first.
 *   6. Segment bytes are hostile: a segment that does not parse is kept
 *      and reported with the line at fault, never deleted, never a crash.
 *
 * Reading a segment streams it once: each line's timestamp is taken from
 * the fixed record prefix {"seq":N,"timestamp":"..." (audit_parse_time,
 * the record's own strict parser) without a JSON parser (retention of a large log must not cost a json-c parse per
 * record), and only the last line is parsed in full with json-c for its
 * seq and hash.  Memory is bounded by the longest line (AUDIT_LINE_MAX).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json.h>

#include "audit.h"

#define US_PER_DAY INT64_C(86400000000)
#define LINE_MAX_BYTES (16u << 20) /* a longer line is not one of ours */
#define READ_CHUNK 65536

/* line_time - the timestamp of a record line from its fixed prefix
 * {"seq":<digits>,"timestamp":"<RFC 3339>", and its seq. */
static bool line_time(const char *l, size_t n, uint64_t *ret_seq, int64_t *ret_us)
{
	static const char p1[] = "{\"seq\":", p2[] = ",\"timestamp\":\"";
	size_t i = sizeof(p1) - 1;
	uint64_t seq = 0;

	if (n < i || memcmp(l, p1, i))
		return false;
	if (i >= n || l[i] < '1' || l[i] > '9')
		return false;
	for (; i < n && l[i] >= '0' && l[i] <= '9'; i++) {
		unsigned dg = (unsigned)(l[i] - '0');
		if (seq > (UINT64_MAX - dg) / 10)
			return false;
		seq = seq * 10 + dg;
	}
	if (n - i < sizeof(p2) - 1 || memcmp(l + i, p2, sizeof(p2) - 1))
		return false;
	i += sizeof(p2) - 1;
	if (n - i <= AUDIT_TIME_LEN || l[i + AUDIT_TIME_LEN] != '"' ||
	    audit_parse_time(l + i, AUDIT_TIME_LEN, ret_us) != HDB_OK)
		return false;
	*ret_seq = seq;
	return true;
}

/* parse_last - seq and hash of the last line, parsed in full. */
static bool parse_last(const char *l, size_t n, uint64_t *ret_seq, char ret_hash[65])
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *rec = NULL, *v;
	bool ok = false;
	const char *h;

	if (!tok || n > INT32_MAX)
		goto out;
	rec = json_tokener_parse_ex(tok, l, (int)n);
	if (!rec || json_tokener_get_error(tok) != json_tokener_success || json_tokener_get_parse_end(tok) != n ||
	    !json_object_is_type(rec, json_type_object))
		goto out;
	if (!json_object_object_get_ex(rec, "seq", &v) || !json_object_is_type(v, json_type_int))
		goto out;
	errno = 0;
	*ret_seq = json_object_get_uint64(v);
	if (errno || *ret_seq == 0)
		goto out;
	if (!json_object_object_get_ex(rec, "hash", &v) || !json_object_is_type(v, json_type_string) ||
	    json_object_get_string_len(v) != 64)
		goto out;
	h = json_object_get_string(v);
	if (strspn(h, "0123456789abcdef") != 64)
		goto out;
	memcpy(ret_hash, h, 64);
	ret_hash[64] = '\0';
	ok = true;
out:
	json_object_put(rec);
	if (tok)
		json_tokener_free(tok);
	return ok;
}

/* ------------------------------------------------------------ scanning */

/* scan_segment - fills seg from the file at seg->path.  HDB_OK with
 * seg->reason "" when the segment is well formed; HDB_OK with the reason
 * set when it must be kept as it is (unreadable, empty, malformed);
 * HDB_ENOMEM only for memory. */
static int scan_segment(struct audit_retention_segment *seg)
{
	struct buf line = { 0 }, last = { 0 };
	unsigned char *chunk = NULL;
	struct stat st;
	uint64_t lineno = 0, seq;
	int64_t t;
	int fd, rc = HDB_OK;
	ssize_t got;

	fd = open(seg->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		snprintf(seg->reason, sizeof(seg->reason), "cannot open: %s", strerror(errno));
		return HDB_OK;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(seg->reason, sizeof(seg->reason), "not a regular file");
		goto out;
	}
	seg->size = (uint64_t)st.st_size;
	seg->mtime_us = (int64_t)st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000;
	if (st.st_size == 0) {
		snprintf(seg->reason, sizeof(seg->reason), "empty segment");
		goto out;
	}
	chunk = malloc(READ_CHUNK);
	if (!chunk) {
		rc = HDB_ENOMEM;
		goto out;
	}
	while ((got = read(fd, chunk, READ_CHUNK)) != 0) {
		if (got < 0) {
			if (errno == EINTR)
				continue;
			snprintf(seg->reason, sizeof(seg->reason), "cannot read: %s", strerror(errno));
			goto out;
		}
		for (size_t i = 0; i < (size_t)got;) {
			unsigned char *nl = memchr(chunk + i, '\n', (size_t)got - i);
			size_t take = (nl ? (size_t)(nl - chunk) : (size_t)got) - i;
			if (line.len + take > LINE_MAX_BYTES) {
				snprintf(seg->reason, sizeof(seg->reason), "malformed: line %llu is too long",
				         (unsigned long long)lineno + 1);
				goto out;
			}
			if (buf_append(&line, chunk + i, take) != HDB_OK) {
				rc = HDB_ENOMEM;
				goto out;
			}
			i += take;
			if (!nl)
				break;
			i++; /* the newline */
			lineno++;
			if (!line_time((const char *)line.p, line.len, &seq, &t)) {
				snprintf(seg->reason, sizeof(seg->reason), "malformed: line %llu is not a record",
				         (unsigned long long)lineno);
				goto out;
			}
			if (lineno == 1)
				seg->first_seq = seq;
			if (t > seg->newest_us)
				seg->newest_us = t;
			seg->records++;
			struct buf tmp = last; /* keep the last complete line */
			last = line;
			line = tmp;
			buf_reset(&line);
		}
	}
	if (line.len > 0) {
		snprintf(seg->reason, sizeof(seg->reason), "malformed: torn last line %llu (no newline)",
		         (unsigned long long)lineno + 1);
		goto out;
	}
	if (!parse_last((const char *)last.p, last.len, &seq, seg->last_hash)) {
		seg->last_hash[0] = '\0';
		snprintf(seg->reason, sizeof(seg->reason), "malformed: last line %llu is not a record",
		         (unsigned long long)lineno);
		goto out;
	}
	seg->last_seq = seq;
	if (seg->last_seq < seg->first_seq) {
		snprintf(seg->reason, sizeof(seg->reason), "malformed: last seq %llu is before first seq %llu",
		         (unsigned long long)seg->last_seq, (unsigned long long)seg->first_seq);
		goto out;
	}
out:
	if (seg->reason[0]) {
		/* a kept segment reports nothing half-read as fact */
		seg->first_seq = seg->last_seq = 0;
		seg->last_hash[0] = '\0';
		seg->newest_us = 0;
	}
	free(chunk);
	buf_free(&line);
	buf_free(&last);
	close(fd);
	return rc;
}

/* ------------------------------------------------------------ helpers */

/* dir_of - the directory part of path ("." when none), malloc'd. */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return xstrndup(".", 1);
	if (slash == path)
		return xstrndup("/", 1);
	return xstrndup(path, (size_t)(slash - path));
}

/* legal_hold - 1 if dir holds AUDIT_LEGAL_HOLD_FILE, 0 if not, HDB_EIO
 * when that cannot be told (then nothing may be deleted). */
static int legal_hold(const char *dir, char *err, size_t errlen)
{
	char p[4096];
	struct stat st;

	if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, AUDIT_LEGAL_HOLD_FILE) >= sizeof(p)) {
		errf(err, errlen, "cannot check for a legal hold in '%s': path too long", dir);
		return HDB_EIO;
	}
	if (lstat(p, &st) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	errf(err, errlen, "cannot check for a legal hold '%s': %s", p, strerror(errno));
	return HDB_EIO;
}

/* is_rotated_name - base name is "<log>.<YYYYMMDDTHHMMSSZ>.<20 digits>". */
static bool is_rotated_name(const char *path)
{
	const char *base = strrchr(path, '/');
	size_t n;

	base = base ? base + 1 : path;
	n = strlen(base);
	if (n < 1 + 1 + 16 + 1 + 20)
		return false;
	const char *p = base + n - (1 + 16 + 1 + 20);
	if (p[0] != '.' || p[9] != 'T' || p[16] != 'Z' || p[17] != '.')
		return false;
	for (size_t i = 1; i < 17; i++)
		if (i != 9 && i != 16 && (p[i] < '0' || p[i] > '9'))
			return false;
	for (size_t i = 18; i < 38; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

static int64_t real_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* free_names - what hdb_free_names() does, without linking audit to the
 * engine (audit must not depend on a higher layer). */
static void free_names(char **names, size_t n)
{
	if (!names)
		return;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static void segment_free(struct audit_retention_segment *s)
{
	free(s->path);
}

void audit_retention_plan_free(struct audit_retention_plan *plan)
{
	if (!plan)
		return;
	for (size_t i = 0; i < plan->ndel; i++)
		segment_free(&plan->del[i]);
	for (size_t i = 0; i < plan->nkeep; i++)
		segment_free(&plan->keep[i]);
	free(plan->del);
	free(plan->keep);
	free(plan);
}

/* ------------------------------------------------------------ planning */

int audit_retention_plan(const char *log_file, int64_t now_us, uint32_t days, struct audit_retention_plan **ret,
                         char *err, size_t errlen)
{
	struct audit_retention_plan *plan = NULL;
	char **names = NULL, *dir = NULL;
	size_t n = 0;
	int64_t real = real_now_us();
	bool stop = false;
	int hold, rc;

	if (!log_file || !*log_file || !ret) {
		errf(err, errlen, "audit retention: no log file given");
		return HDB_EINVAL;
	}
	if (days < AUDIT_RETENTION_MIN_DAYS) {
		errf(err, errlen, "audit retention: retention.days is %u, must be at least %d", days,
		     AUDIT_RETENTION_MIN_DAYS);
		return HDB_EINVAL;
	}
	plan = calloc(1, sizeof(*plan));
	dir = dir_of(log_file);
	if (!plan || !dir) {
		rc = HDB_ENOMEM;
		errf(err, errlen, "audit retention: out of memory");
		goto out_free;
	}
	plan->now_us = now_us <= 0 || now_us > real ? real : now_us;
	/* cutoff = now - days, and nothing is old enough before the epoch */
	if ((int64_t)days > plan->now_us / US_PER_DAY)
		plan->cutoff_us = INT64_MIN;
	else
		plan->cutoff_us = plan->now_us - (int64_t)days * US_PER_DAY;

	hold = legal_hold(dir, err, errlen);
	if (hold < 0) {
		rc = hold;
		goto out_free;
	}
	plan->legal_hold = hold == 1;

	rc = audit_segments(log_file, &names, &n, err, errlen);
	if (rc != HDB_OK)
		goto out_free;
	plan->del = calloc(n ? n : 1, sizeof(*plan->del));
	plan->keep = calloc(n ? n : 1, sizeof(*plan->keep));
	if (!plan->del || !plan->keep) {
		rc = HDB_ENOMEM;
		errf(err, errlen, "audit retention: out of memory");
		goto out_free;
	}
	for (size_t i = 0; i < n; i++) {
		struct audit_retention_segment s = { 0 };
		const char *base = strrchr(names[i], '/');
		base = base ? base + 1 : names[i];

		/* audit_segments gives paths; tolerate bare names */
		if (strchr(names[i], '/') || !strchr(log_file, '/')) {
			s.path = xstrndup(names[i], strlen(names[i]));
		} else {
			struct buf b = { 0 };
			if (buf_printf(&b, "%s/%s", dir, names[i]) == HDB_OK && buf_putc(&b, 0) == HDB_OK)
				s.path = (char *)b.p;
			else
				buf_free(&b);
		}
		if (!s.path) {
			rc = HDB_ENOMEM;
			errf(err, errlen, "audit retention: out of memory");
			goto out_free;
		}
		const char *lbase = strrchr(log_file, '/');
		lbase = lbase ? lbase + 1 : log_file;
		bool active = !strcmp(base, lbase);

		rc = scan_segment(&s);
		if (rc != HDB_OK) {
			segment_free(&s);
			errf(err, errlen, "audit retention: out of memory");
			goto out_free;
		}
		if (active)
			snprintf(s.reason, sizeof(s.reason), "active segment");
		else if (!is_rotated_name(s.path))
			snprintf(s.reason, sizeof(s.reason), "not a rotated segment name");
		else if (plan->legal_hold)
			snprintf(s.reason, sizeof(s.reason), "legal hold");
		else if (s.reason[0])
			; /* unreadable, empty or malformed: scan_segment said why */
		else if (stop)
			snprintf(s.reason, sizeof(s.reason), "follows a kept segment");
		else if (s.newest_us >= plan->cutoff_us || s.mtime_us >= plan->cutoff_us)
			snprintf(s.reason, sizeof(s.reason), "younger than %u days", days);

		if (s.reason[0]) {
			stop = true;
			plan->keep[plan->nkeep++] = s;
		} else {
			plan->del[plan->ndel++] = s;
		}
	}
	*ret = plan;
	plan = NULL;
	rc = HDB_OK;
out_free:
	free_names(names, n);
	free(dir);
	audit_retention_plan_free(plan);
	return rc;
}

/* ------------------------------------------------------------ deleting */

int audit_retention_delete_one(const struct audit_retention_segment *seg, char *err, size_t errlen)
{
	struct audit_retention_segment now = { 0 };
	char *dir = NULL;
	int dfd = -1, rc;

	if (!seg || !seg->path || !is_rotated_name(seg->path) || !seg->last_hash[0]) {
		errf(err, errlen, "audit retention: '%s' is not a rotated audit segment",
		     seg && seg->path ? seg->path : "(null)");
		return HDB_EINVAL;
	}
	dir = dir_of(seg->path);
	if (!dir) {
		errf(err, errlen, "audit retention: out of memory");
		return HDB_ENOMEM;
	}
	rc = legal_hold(dir, err, errlen);
	if (rc != 0) {
		if (rc == 1) {
			errf(err, errlen, "audit retention: not deleting '%s': legal hold (%s/%s exists)", seg->path, dir,
			     AUDIT_LEGAL_HOLD_FILE);
			rc = HDB_EPERM;
		}
		goto out_free;
	}
	/* The anchor the engine recorded must be this file's last record. */
	now.path = seg->path;
	rc = scan_segment(&now);
	if (rc != HDB_OK) {
		errf(err, errlen, "audit retention: out of memory");
		goto out_free;
	}
	if (now.reason[0] || now.last_seq != seg->last_seq || strcmp(now.last_hash, seg->last_hash)) {
		errf(err, errlen, "audit retention: not deleting '%s': it changed since it was planned%s%s", seg->path,
		     now.reason[0] ? ": " : "", now.reason);
		rc = HDB_ECORRUPT;
		goto out_free;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		errf(err, errlen, "audit retention: cannot open directory '%s': %s", dir, strerror(errno));
		rc = HDB_EIO;
		goto out_free;
	}
	if (unlink(seg->path) < 0) {
		errf(err, errlen, "audit retention: cannot delete '%s': %s", seg->path, strerror(errno));
		rc = HDB_EIO;
		goto out_close;
	}
	if (fsync(dfd) < 0) {
		errf(err, errlen, "audit retention: cannot sync directory '%s' after deleting '%s': %s", dir, seg->path,
		     strerror(errno));
		rc = HDB_EIO;
		goto out_close;
	}
	rc = HDB_OK;
out_close:
	close(dfd);
out_free:
	free(dir);
	return rc;
}
