/*
 * file.c - the audit file sink: JSON Lines segments on disk (see audit.h).
 *
 * Layout.  The active segment is the configured log_file.  Rotation renames
 * it to "<log_file>.<YYYYMMDDTHHMMSSZ>.<first seq, 20 digits>" where the
 * time is the moment of rotation (UTC), so no record in a rotated segment is
 * newer than its name says: retention may judge a segment's age by its name
 * alone and never deletes one holding a record younger than the minimum.
 * Names sort by time, then by first seq, which is the chain order.
 *
 * Invariants (each one is what a function below maintains):
 *  1. The active segment only ever holds complete lines after a successful
 *     audit_file_append: a write that fails part-way (ENOSPC, EIO) or whose
 *     fdatasync fails is cut back to the previous size before returning, so
 *     a failed batch leaves no torn line and no record the caller was told
 *     failed.  A torn line can only come from a crash mid-write; the next
 *     audit_file_last cuts it off and says so.
 *  2. Every append and rotation runs under flock(LOCK_EX) on the active
 *     segment, taken by lock_active(), which also notices that another
 *     process rotated the file under us (our fd no longer names log_file)
 *     and reopens.  So several processes may share one log.
 *  3. A rotated segment is read-only (0440) and never written again; the
 *     rename is made durable by an fsync of the directory, as is the
 *     creation of a new active segment.
 *  4. Files are created 0640 and the directory 0750, whatever the umask
 *     (fchmod/chmod after creation).  log_file must not be a symbolic link
 *     (O_NOFOLLOW): a link planted by someone else could redirect evidence.
 *
 * Rotation is decided just before an append: by size when the append would
 * take a non-empty segment past rotate_size, by time when the segment's
 * first record (its "timestamp", or failing that the time this process
 * created the file) is rotate_interval_s old or more.
 *
 * Threads: one struct audit_file is used by one thread at a time (the
 * pipeline's writer); processes are serialised by the flock.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "audit.h"

#define TAIL_CHUNK (64 * 1024)
#define MAX_LINE (16u * 1024 * 1024)      /* a longer "line" is not a record */
#define HEAD_READ (64 * 1024)             /* how much of a first line we parse */
#define SEG_TS_LEN 16                     /* YYYYMMDDTHHMMSSZ */
#define SEG_SEQ_LEN 20

struct audit_file {
	char *path;                /* log_file */
	char *dir;                 /* its directory ("." when path has none) */
	int fd;                    /* active segment (O_RDWR|O_APPEND), -1 when closed */
	int dirfd;                 /* the directory, for fsync after create/rename */
	dev_t dev;                 /* identity of the segment fd refers to */
	ino_t ino;
	uint64_t rotate_size;
	int64_t rotate_interval_s;
	/* facts about the active segment, valid while dev/ino are unchanged */
	bool facts_known;
	int64_t seg_start_s;       /* first record's time, or creation time */
	uint64_t seg_first_seq;    /* 0: not known */
	dev_t facts_dev;
	ino_t facts_ino;
	bool deferred_sync;        /* appends leave fdatasync to audit_file_sync */
	bool dirty;                /* written since the last fdatasync */
};

/* free_names - hdb_free_names() without depending on engine/ */
static void free_names(char **names, size_t n)
{
	if (!names)
		return;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static int64_t now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

/* mkdir_p - creates dir and missing parents with mode 0750 (chmod'ed, so
 * the umask does not weaken or widen it). */
static int mkdir_p(const char *dir, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	size_t n = strlen(dir);
	if (n == 0 || n >= sizeof(tmp)) {
		errf(err, errlen, "audit log directory name '%s' is empty or too long", dir);
		return HDB_EINVAL;
	}
	memcpy(tmp, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		char c = tmp[i];
		tmp[i] = '\0';
		if (mkdir(tmp, 0750) == 0) {
			if (chmod(tmp, 0750) != 0) {
				errf(err, errlen, "cannot set mode of audit log directory '%s': %s", tmp,
				     strerror(errno));
				return HDB_EIO;
			}
		} else if (errno != EEXIST) {
			errf(err, errlen, "cannot create audit log directory '%s': %s", tmp, strerror(errno));
			return errno == EACCES ? HDB_EPERM : HDB_EIO;
		}
		tmp[i] = c;
	}
	return HDB_OK;
}

/* open_segment - opens (creating 0640 when missing) log_file as the active
 * segment into *ret_fd and records its identity. */
static int open_segment(struct audit_file *f, int *ret_fd, bool *ret_created, char *err, size_t errlen)
{
	const int flags = O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY;
	bool created = false;
	int fd = -1;
	for (int tries = 0; fd < 0 && tries < 10; tries++) {
		fd = open(f->path, flags);
		if (fd >= 0 || errno != ENOENT)
			break;
		fd = open(f->path, flags | O_CREAT | O_EXCL, 0640);
		if (fd >= 0)
			created = true;
		else if (errno != EEXIST)
			break;
	}
	if (fd < 0) {
		int e = errno;
		if (e == ELOOP) {
			errf(err, errlen, "audit log '%s' is a symbolic link: refusing to follow it", f->path);
			return HDB_EPERM;
		}
		errf(err, errlen, "cannot open audit log '%s': %s", f->path, strerror(e));
		return e == EACCES || e == EPERM ? HDB_EPERM : HDB_EIO;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		errf(err, errlen, "cannot stat audit log '%s': %s", f->path, strerror(errno));
		close(fd);
		return HDB_EIO;
	}
	if (!S_ISREG(st.st_mode)) {
		errf(err, errlen, "audit log '%s' is not a regular file", f->path);
		close(fd);
		return HDB_EPERM;
	}
	if (created) {
		if (fchmod(fd, 0640) != 0 || fsync(f->dirfd) != 0) {
			errf(err, errlen, "cannot create audit log '%s': %s", f->path, strerror(errno));
			close(fd);
			return HDB_EIO;
		}
	}
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	*ret_fd = fd;
	if (ret_created)
		*ret_created = created;
	return HDB_OK;
}

/* lock_active - flock(LOCK_EX) on the active segment, reopening when the
 * fd no longer names log_file (another process rotated it). */
static int lock_active(struct audit_file *f, char *err, size_t errlen)
{
	for (int tries = 0; tries < 100; tries++) {
		if (f->fd < 0) {
			bool created;
			int rc = open_segment(f, &f->fd, &created, err, errlen);
			if (rc)
				return rc;
			if (created) {
				f->facts_known = true;
				f->facts_dev = f->dev;
				f->facts_ino = f->ino;
				f->seg_start_s = now_s();
				f->seg_first_seq = 0;
			}
		}
		while (flock(f->fd, LOCK_EX) != 0) {
			if (errno != EINTR) {
				errf(err, errlen, "cannot lock audit log '%s': %s", f->path, strerror(errno));
				return HDB_EIO;
			}
		}
		struct stat st;
		if (lstat(f->path, &st) == 0 && st.st_dev == f->dev && st.st_ino == f->ino)
			return HDB_OK;
		/* rotated (or removed) while we were not holding the lock */
		flock(f->fd, LOCK_UN);
		if (f->dirty && fdatasync(f->fd) != 0) {
			errf(err, errlen, "cannot sync audit log '%s': %s", f->path, strerror(errno));
			return HDB_EIO;
		}
		f->dirty = false;
		close(f->fd);
		f->fd = -1;
	}
	errf(err, errlen, "cannot lock audit log '%s': it keeps being replaced", f->path);
	return HDB_EBUSY;
}

static void unlock_active(struct audit_file *f)
{
	if (f->fd >= 0)
		flock(f->fd, LOCK_UN);
}

int audit_file_open(const struct audit_file_opts *o, struct audit_file **ret, char *err, size_t errlen)
{
	if (!o || !o->path || !*o->path || !ret || o->path[strlen(o->path) - 1] == '/') {
		errf(err, errlen, "audit log file name is missing or names a directory");
		return HDB_EINVAL;
	}
	if (o->rotate_interval_s < 0) {
		errf(err, errlen, "audit log rotation interval is negative");
		return HDB_EINVAL;
	}
	struct audit_file *f = calloc(1, sizeof(*f));
	if (!f) {
		errf(err, errlen, "out of memory");
		return HDB_ENOMEM;
	}
	f->fd = -1;
	f->dirfd = -1;
	f->rotate_size = o->rotate_size;
	f->rotate_interval_s = o->rotate_interval_s;
	f->path = strdup(o->path);
	const char *slash = strrchr(o->path, '/');
	f->dir = slash ? xstrndup(o->path, slash == o->path ? 1 : (size_t)(slash - o->path)) : strdup(".");
	int rc;
	if (!f->path || !f->dir) {
		errf(err, errlen, "out of memory");
		rc = HDB_ENOMEM;
		goto out_free;
	}
	rc = mkdir_p(f->dir, err, errlen);
	if (rc)
		goto out_free;
	f->dirfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->dirfd < 0) {
		errf(err, errlen, "cannot open audit log directory '%s': %s", f->dir, strerror(errno));
		rc = HDB_EIO;
		goto out_free;
	}
	rc = lock_active(f, err, errlen);
	if (rc)
		goto out_free;
	unlock_active(f);
	*ret = f;
	return HDB_OK;
out_free:
	audit_file_close(f);
	return rc;
}

void audit_file_close(struct audit_file *f)
{
	if (!f)
		return;
	if (f->fd >= 0) {
		if (f->dirty)
			(void)fdatasync(f->fd);
		close(f->fd);
	}
	if (f->dirfd >= 0)
		close(f->dirfd);
	free(f->path);
	free(f->dir);
	free(f);
}

/* ------------------------------------------------------------ reading */

/* parse_record - seq, hash and (optionally) timestamp of one record line
 * (without its newline), with json-c.  false when it is not a record. */
static bool parse_record(const char *line, size_t len, uint64_t *ret_seq, unsigned char ret_hash[32],
                         int64_t *ret_time)
{
	if (len > INT_MAX)
		return false;
	bool ok = false;
	json_tokener *tok = json_tokener_new();
	if (!tok)
		return false;
	json_object *o = json_tokener_parse_ex(tok, line, (int)len);
	json_object *v;
	if (!o || json_tokener_get_error(tok) != json_tokener_success || !json_object_is_type(o, json_type_object))
		goto out;
	if ((size_t)json_tokener_get_parse_end(tok) != len)
		goto out;
	if (!json_object_object_get_ex(o, "seq", &v) || !json_object_is_type(v, json_type_int))
		goto out;
	int64_t seq = json_object_get_int64(v);
	if (seq <= 0)
		goto out;
	*ret_seq = (uint64_t)seq;
	if (ret_hash) {
		if (!json_object_object_get_ex(o, "hash", &v) || !json_object_is_type(v, json_type_string))
			goto out;
		if (hex_decode(json_object_get_string(v), (size_t)json_object_get_string_len(v), ret_hash, 32))
			goto out;
	}
	if (ret_time) {
		int64_t us;
		if (!json_object_object_get_ex(o, "timestamp", &v) || !json_object_is_type(v, json_type_string) ||
		    audit_parse_time(json_object_get_string(v), (size_t)json_object_get_string_len(v), &us) != HDB_OK)
			goto out;
		*ret_time = us / 1000000;
	}
	ok = true;
out:
	json_object_put(o);
	json_tokener_free(tok);
	return ok;
}

/* prev_newline - position of the last '\n' in [0, before), or -1; reads
 * backwards in chunks, so it costs what lies between, not the file size. */
static int prev_newline(int fd, off_t before, off_t *ret, char *chunk)
{
	off_t end = before;
	while (end > 0) {
		off_t start = end > TAIL_CHUNK ? end - TAIL_CHUNK : 0;
		size_t want = (size_t)(end - start);
		ssize_t got = pread(fd, chunk, want, start);
		if (got < 0 && errno == EINTR)
			continue;
		if (got != (ssize_t)want)
			return HDB_EIO;
		const char *nl = memrchr(chunk, '\n', want);
		if (nl) {
			*ret = start + (nl - chunk);
			return HDB_OK;
		}
		end = start;
	}
	*ret = -1;
	return HDB_OK;
}

/* read_last - the last complete line of the first size bytes of fd into
 * line (without its newline).  *ret_complete is where complete lines end
 * (size unless the tail is torn); line->len == 0 when there is none. */
static int read_last(int fd, off_t size, struct buf *line, off_t *ret_complete, const char *name, char *err,
                     size_t errlen)
{
	char *chunk = malloc(TAIL_CHUNK);
	if (!chunk) {
		errf(err, errlen, "out of memory");
		return HDB_ENOMEM;
	}
	int rc;
	off_t nl, start;
	buf_reset(line);
	*ret_complete = 0;
	rc = prev_newline(fd, size, &nl, chunk);
	if (rc || nl < 0)
		goto out;
	*ret_complete = nl + 1;
	rc = prev_newline(fd, nl, &start, chunk);
	if (rc)
		goto out;
	start++;
	if ((uint64_t)(nl - start) > MAX_LINE) {
		errf(err, errlen, "the last line of audit log '%s' is longer than %u bytes: not a record", name,
		     MAX_LINE);
		rc = HDB_ECORRUPT;
		goto out;
	}
	size_t n = (size_t)(nl - start);
	rc = buf_reserve(line, n + 1);
	if (rc) {
		errf(err, errlen, "out of memory");
		goto out;
	}
	if (pread(fd, line->p, n, start) != (ssize_t)n) {
		rc = HDB_EIO;
		goto out;
	}
	line->len = n;
	line->p[n] = '\0';
out:
	if (rc == HDB_EIO)
		errf(err, errlen, "cannot read audit log '%s': %s", name, strerror(errno ? errno : EIO));
	free(chunk);
	return rc;
}

/* read_first - seq and time of the first record of fd (false if it has no
 * parseable first line). */
static bool read_first(int fd, uint64_t *ret_seq, int64_t *ret_time)
{
	char *b = malloc(HEAD_READ);
	if (!b)
		return false;
	bool ok = false;
	ssize_t got = pread(fd, b, HEAD_READ, 0);
	if (got > 0) {
		const char *nl = memchr(b, '\n', (size_t)got);
		if (nl)
			ok = parse_record(b, (size_t)(nl - b), ret_seq, NULL, ret_time);
	}
	free(b);
	return ok;
}

/* segment_facts - first seq and start time of the active segment, cached
 * per inode. */
static void segment_facts(struct audit_file *f)
{
	if (f->facts_known && f->facts_dev == f->dev && f->facts_ino == f->ino && f->seg_first_seq)
		return;
	uint64_t seq;
	int64_t t;
	if (read_first(f->fd, &seq, &t)) {
		f->seg_first_seq = seq;
		f->seg_start_s = t;
	} else {
		f->seg_first_seq = 0;
		if (!(f->facts_known && f->facts_dev == f->dev && f->facts_ino == f->ino))
			f->seg_start_s = now_s();     /* unknown: count from now */
	}
	f->facts_known = true;
	f->facts_dev = f->dev;
	f->facts_ino = f->ino;
}

/* last_locked - audit_file_last's work, with the active segment locked. */
static int last_locked(struct audit_file *f, struct audit_head *ret, bool *ret_torn, char *err, size_t errlen)
{
	if (!f || !ret) {
		errf(err, errlen, "invalid argument");
		return HDB_EINVAL;
	}
	struct buf line = { 0 };
	char **segs = NULL;
	size_t nsegs = 0;
	bool torn = false;
	off_t complete;
	int rc = HDB_OK;
	struct stat st;
	if (fstat(f->fd, &st) != 0) {
		errf(err, errlen, "cannot stat audit log '%s': %s", f->path, strerror(errno));
		rc = HDB_EIO;
		goto out;
	}
	rc = read_last(f->fd, st.st_size, &line, &complete, f->path, err, errlen);
	if (rc)
		goto out;
	if (complete != st.st_size) {
		/* a crash mid-write: cut the torn line off (invariant 1) */
		if (ftruncate(f->fd, complete) != 0 || fdatasync(f->fd) != 0) {
			errf(err, errlen, "cannot cut the torn last line of audit log '%s': %s", f->path,
			     strerror(errno));
			rc = HDB_EIO;
			goto out;
		}
		torn = true;
	}
	const char *from = f->path;
	if (line.len == 0) {
		/* the active segment is empty: the newest non-empty rotated one */
		rc = audit_segments(f->path, &segs, &nsegs, err, errlen);
		if (rc)
			goto out;
		for (size_t i = nsegs; i-- > 0 && line.len == 0;) {
			if (strcmp(segs[i], f->path) == 0)
				continue;
			int fd = open(segs[i], O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
			if (fd < 0 || fstat(fd, &st) != 0) {
				errf(err, errlen, "cannot open audit log segment '%s': %s", segs[i], strerror(errno));
				if (fd >= 0)
					close(fd);
				rc = HDB_EIO;
				goto out;
			}
			/* a rotated segment is evidence: never cut, only read */
			rc = read_last(fd, st.st_size, &line, &complete, segs[i], err, errlen);
			close(fd);
			if (rc)
				goto out;
			from = segs[i];
		}
	}
	memset(ret, 0, sizeof(*ret));
	if (line.len > 0 && !parse_record((const char *)line.p, line.len, &ret->seq, ret->hash, NULL)) {
		errf(err, errlen, "the last record of audit log '%s' does not parse: the log is corrupt", from);
		rc = HDB_ECORRUPT;
		goto out;
	}
	if (ret_torn)
		*ret_torn = torn;
out:
	free_names(segs, nsegs);
	buf_free(&line);
	return rc;
}

int audit_file_last(struct audit_file *f, struct audit_head *ret, bool *ret_torn, char *err, size_t errlen)
{
	if (!f || !ret) {
		errf(err, errlen, "invalid argument");
		return HDB_EINVAL;
	}
	int rc = lock_active(f, err, errlen);
	if (rc)
		return rc;
	rc = last_locked(f, ret, ret_torn, err, errlen);
	unlock_active(f);
	return rc;
}

/* ------------------------------------------------------------ writing */

/* rotate_locked - renames the (locked, non-empty) active segment to its
 * segment name, makes it 0440, creates and locks a fresh active segment. */
static int rotate_locked(struct audit_file *f, char *ret_rotated, size_t rotlen, char *err, size_t errlen)
{
	segment_facts(f);
	char ts[SEG_TS_LEN + 1];
	time_t now = (time_t)now_s();
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
	struct buf name = { 0 };
	if (buf_printf(&name, "%s.%s.%020llu", f->path, ts, (unsigned long long)f->seg_first_seq) ||
	    buf_putc(&name, '\0')) {
		errf(err, errlen, "out of memory");
		buf_free(&name);
		return HDB_ENOMEM;
	}
	const char *seg = (const char *)name.p;
	int rc = HDB_OK;
	/* a rotated segment is final: its bytes are on disk before it is
	 * renamed (whoever appended them: another process may defer too) */
	if (fdatasync(f->fd) != 0) {
		errf(err, errlen, "cannot sync audit log '%s': %s", f->path, strerror(errno));
		buf_free(&name);
		return HDB_EIO;
	}
	f->dirty = false;
	if (renameat2(AT_FDCWD, f->path, AT_FDCWD, seg, RENAME_NOREPLACE) != 0) {
		int e = errno;
		if (e == EINVAL || e == ENOSYS) {
			/* filesystem without RENAME_NOREPLACE: link keeps it no-clobber */
			if (link(f->path, seg) == 0 && unlink(f->path) == 0)
				e = 0;
			else
				e = errno;
		}
		if (e) {
			errf(err, errlen, "cannot rotate audit log '%s' to '%s': %s", f->path, seg, strerror(e));
			rc = HDB_EIO;
			goto out;
		}
	}
	if (fchmod(f->fd, 0440) != 0) {
		errf(err, errlen, "cannot make audit log segment '%s' read-only: %s", seg, strerror(errno));
		rc = HDB_EIO;
		goto out;
	}
	int oldfd = f->fd;
	dev_t odev = f->dev;
	ino_t oino = f->ino;
	int nfd;
	rc = open_segment(f, &nfd, NULL, err, errlen);      /* fsyncs the directory too */
	if (rc) {
		f->dev = odev;
		f->ino = oino;
		goto out;
	}
	while (flock(nfd, LOCK_EX) != 0 && errno == EINTR)
		;
	flock(oldfd, LOCK_UN);
	close(oldfd);
	f->fd = nfd;
	f->facts_known = true;
	f->facts_dev = f->dev;
	f->facts_ino = f->ino;
	f->seg_start_s = now_s();
	f->seg_first_seq = 0;
	if (ret_rotated)
		snprintf(ret_rotated, rotlen, "%s", seg);
out:
	buf_free(&name);
	return rc;
}

/* rotation_due - with the lock held and size the segment's size. */
static bool rotation_due(struct audit_file *f, uint64_t size, size_t n)
{
	if (size == 0)
		return false;
	if (f->rotate_size && size + n > f->rotate_size)
		return true;
	if (f->rotate_interval_s > 0) {
		segment_facts(f);
		if (now_s() - f->seg_start_s >= f->rotate_interval_s)
			return true;
	}
	return false;
}

static int write_error(struct audit_file *f, int e, off_t old_size, const char *what, char *err, size_t errlen)
{
	/* invariant 1: no torn line, no record the caller thinks failed */
	if (ftruncate(f->fd, old_size) == 0)
		(void)fdatasync(f->fd);
	errf(err, errlen, "cannot %s audit log '%s': %s", what, f->path, strerror(e));
	return HDB_EIO;
}

/* append_locked - audit_file_append's work, with the active segment locked. */
static int append_locked(struct audit_file *f, const char *lines, size_t n, char *ret_rotated, size_t rotlen,
                         char *err, size_t errlen)
{
	int rc = HDB_OK;
	struct stat st;
	if (fstat(f->fd, &st) != 0) {
		errf(err, errlen, "cannot stat audit log '%s': %s", f->path, strerror(errno));
		rc = HDB_EIO;
		goto out;
	}
	if (rotation_due(f, (uint64_t)st.st_size, n)) {
		rc = rotate_locked(f, ret_rotated, rotlen, err, errlen);
		if (rc)
			goto out;
		st.st_size = 0;
	}
	off_t old_size = st.st_size;
	size_t done = 0;
	while (done < n) {
		ssize_t w = write(f->fd, lines + done, n - done);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			rc = write_error(f, errno, old_size, "write", err, errlen);
			goto out;
		}
		if (w == 0) {
			rc = write_error(f, ENOSPC, old_size, "write", err, errlen);
			goto out;
		}
		done += (size_t)w;
	}
	if (f->deferred_sync) {
		f->dirty = true;
	} else if (fdatasync(f->fd) != 0) {
		rc = write_error(f, errno, old_size, "sync", err, errlen);
		goto out;
	}
	if (old_size == 0) {
		/* a fresh segment: remember its first record for naming and age */
		uint64_t seq;
		int64_t t;
		const char *nl = memchr(lines, '\n', n);
		if (parse_record(lines, (size_t)(nl - lines), &seq, NULL, &t)) {
			f->facts_known = true;
			f->facts_dev = f->dev;
			f->facts_ino = f->ino;
			f->seg_first_seq = seq;
			f->seg_start_s = t;
		}
	}
out:
	return rc;
}

static int append_args(const char *lines, size_t n, char *ret_rotated, size_t rotlen, char *err, size_t errlen)
{
	if (ret_rotated && rotlen)
		ret_rotated[0] = '\0';
	if (!lines && n) {
		errf(err, errlen, "invalid argument");
		return HDB_EINVAL;
	}
	if (n && lines[n - 1] != '\n') {
		errf(err, errlen, "audit records must be complete lines");
		return HDB_EINVAL;
	}
	return HDB_OK;
}

int audit_file_append(struct audit_file *f, const char *lines, size_t n, char *ret_rotated, size_t rotlen,
                      char *err, size_t errlen)
{
	int rc = f ? append_args(lines, n, ret_rotated, rotlen, err, errlen) : HDB_EINVAL;
	if (rc || n == 0)
		return rc;
	rc = lock_active(f, err, errlen);
	if (rc)
		return rc;
	rc = append_locked(f, lines, n, ret_rotated, rotlen, err, errlen);
	unlock_active(f);
	return rc;
}

int audit_file_append_after(struct audit_file *f, const char *lines, size_t n, const struct audit_head *expect,
                            struct audit_head *ret_last, char *ret_rotated, size_t rotlen, char *err,
                            size_t errlen)
{
	int rc = f && expect && ret_last ? append_args(lines, n, ret_rotated, rotlen, err, errlen) : HDB_EINVAL;
	if (rc)
		return rc;
	rc = lock_active(f, err, errlen);
	if (rc)
		return rc;
	rc = last_locked(f, ret_last, NULL, err, errlen);
	if (rc == HDB_OK && (ret_last->seq != expect->seq ||
	                     (expect->seq && memcmp(ret_last->hash, expect->hash, 32) != 0))) {
		errf(err, errlen, "audit log '%s' moved on (another process appended)", f->path);
		rc = HDB_EBUSY;
	}
	if (rc == HDB_OK && n)
		rc = append_locked(f, lines, n, ret_rotated, rotlen, err, errlen);
	unlock_active(f);
	return rc;
}

void audit_file_defer_sync(struct audit_file *f, bool on)
{
	if (f)
		f->deferred_sync = on;
}

int audit_file_sync(struct audit_file *f, char *err, size_t errlen)
{
	if (!f)
		return HDB_EINVAL;
	int rc = lock_active(f, err, errlen);
	if (rc)
		return rc;
	/* always, not only after this process's own appends: another process
	 * sharing the database may have appended with its sync deferred too,
	 * and the caller is about to delete outbox records the log holds */
	if (fdatasync(f->fd) != 0) {
		errf(err, errlen, "cannot sync audit log '%s': %s", f->path, strerror(errno));
		rc = HDB_EIO;
	} else {
		f->dirty = false;
	}
	unlock_active(f);
	return rc;
}

int audit_file_rotate(struct audit_file *f, char *ret_rotated, size_t rotlen, char *err, size_t errlen)
{
	if (ret_rotated && rotlen)
		ret_rotated[0] = '\0';
	if (!f) {
		errf(err, errlen, "invalid argument");
		return HDB_EINVAL;
	}
	int rc = lock_active(f, err, errlen);
	if (rc)
		return rc;
	struct stat st;
	if (fstat(f->fd, &st) != 0) {
		errf(err, errlen, "cannot stat audit log '%s': %s", f->path, strerror(errno));
		rc = HDB_EIO;
	} else if (st.st_size > 0) {
		rc = rotate_locked(f, ret_rotated, rotlen, err, errlen);
	}
	unlock_active(f);
	return rc;
}

bool audit_file_rotate_due(struct audit_file *f, size_t n)
{
	struct stat st;
	if (!f || f->fd < 0 || fstat(f->fd, &st) != 0)
		return false;
	return rotation_due(f, (uint64_t)st.st_size, n);
}

/* ------------------------------------------------------------ segments */

/* is_segment_suffix - ".YYYYMMDDTHHMMSSZ.<20 digits>" exactly. */
static bool is_segment_suffix(const char *s)
{
	static const char pat[] = ".dddddddd" "Tdddddd" "Z.dddddddddddddddddddd";
	if (strlen(s) != sizeof(pat) - 1)
		return false;
	for (size_t i = 0; pat[i]; i++) {
		if (pat[i] == 'd') {
			if (s[i] < '0' || s[i] > '9')
				return false;
		} else if (s[i] != pat[i]) {
			return false;
		}
	}
	return true;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int audit_segments(const char *log_file, char ***ret, size_t *ret_n, char *err, size_t errlen)
{
	if (!log_file || !*log_file || !ret || !ret_n) {
		errf(err, errlen, "invalid argument");
		return HDB_EINVAL;
	}
	const char *slash = strrchr(log_file, '/');
	const char *base = slash ? slash + 1 : log_file;
	size_t prefix = (size_t)(base - log_file), blen = strlen(base);
	char *dir = slash ? xstrndup(log_file, slash == log_file ? 1 : (size_t)(slash - log_file)) : strdup(".");
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = HDB_OK;
	DIR *d = NULL;
	if (!dir) {
		rc = HDB_ENOMEM;
		goto out;
	}
	d = opendir(dir);
	if (!d) {
		errf(err, errlen, "cannot open audit log directory '%s': %s", dir, strerror(errno));
		rc = errno == ENOENT ? HDB_ENOTFOUND : HDB_EIO;
		goto out;
	}
	bool active = false;
	struct dirent *de;
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, base, blen) != 0)
			continue;
		if (de->d_name[blen] == '\0') {
			active = true;
			continue;
		}
		if (!is_segment_suffix(de->d_name + blen))
			continue;
		if (n == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			char **nn = realloc(names, ncap * sizeof(*nn));
			if (!nn) {
				rc = HDB_ENOMEM;
				goto out;
			}
			names = nn;
			cap = ncap;
		}
		size_t nl = strlen(de->d_name);
		char *p = malloc(prefix + nl + 1);
		if (!p) {
			rc = HDB_ENOMEM;
			goto out;
		}
		memcpy(p, log_file, prefix);
		memcpy(p + prefix, de->d_name, nl + 1);
		names[n++] = p;
	}
	if (errno) {
		errf(err, errlen, "cannot read audit log directory '%s': %s", dir, strerror(errno));
		rc = HDB_EIO;
		goto out;
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_str);
	if (active) {
		char **nn = realloc(names, (n + 1) * sizeof(*nn));
		if (!nn || !(nn[n] = strdup(log_file))) {
			if (nn)
				names = nn;
			rc = HDB_ENOMEM;
			goto out;
		}
		names = nn;
		n++;
	}
out:
	if (rc == HDB_ENOMEM)
		errf(err, errlen, "out of memory");
	if (d)
		closedir(d);
	free(dir);
	if (rc) {
		free_names(names, n);
		return rc;
	}
	*ret = names;
	*ret_n = n;
	return HDB_OK;
}

/* audit_log_record - the hash, prev_hash and db_id of record `seq` of the log
 * log_file, whichever segment holds it.  Segments are searched newest
 * first by their first record, then the one that may hold seq is read
 * line by line (a whole-line parse only of the line with that seq).
 * HDB_ENOTFOUND when no segment holds it (retention deleted it, or it was
 * never written), HDB_ECORRUPT when the line with that seq is not a
 * record, HDB_EIO, HDB_ENOMEM. */
int audit_log_record(const char *log_file, uint64_t seq, unsigned char ret_hash[32], unsigned char ret_prev[32],
                     char ret_db_id[33], char *err, size_t errlen)
{
	char **names = NULL;
	size_t n = 0;
	int rc = audit_segments(log_file, &names, &n, err, errlen);
	if (rc)
		return rc;
	rc = HDB_ENOTFOUND;
	errf(err, errlen, "record %llu is not in the audit log '%s'", (unsigned long long)seq, log_file);
	for (size_t i = n; i-- > 0;) {
		int fd = open(names[i], O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
		if (fd < 0) {
			errf(err, errlen, "cannot open audit log segment '%s': %s", names[i], strerror(errno));
			rc = HDB_EIO;
			break;
		}
		uint64_t first = 0;
		int64_t t;
		if (!read_first(fd, &first, &t) || first > seq) {
			close(fd);
			continue; /* empty, or it begins after seq: an older one may hold it */
		}
		FILE *fp = fdopen(fd, "r");
		if (!fp) {
			close(fd);
			rc = HDB_ENOMEM;
			errf(err, errlen, "out of memory");
			break;
		}
		char *line = NULL;
		size_t cap = 0;
		ssize_t len;
		static const char pre[] = "{\"seq\":";
		while ((len = getline(&line, &cap, fp)) > 0) {
			if (line[len - 1] == '\n')
				line[--len] = '\0';
			if ((size_t)len < sizeof(pre) || memcmp(line, pre, sizeof(pre) - 1) != 0)
				continue;
			char *end;
			errno = 0;
			unsigned long long v = strtoull(line + sizeof(pre) - 1, &end, 10);
			if (errno || *end != ',' || v < seq)
				continue;
			if (v > seq)
				break;
			json_object *o = json_tokener_parse(line), *h, *p, *id;
			if (o && json_object_object_get_ex(o, "hash", &h) && json_object_object_get_ex(o, "prev_hash", &p) &&
			    json_object_object_get_ex(o, "db_id", &id) && json_object_is_type(id, json_type_string) &&
			    json_object_get_string_len(id) == 32 &&
			    json_object_is_type(h, json_type_string) && json_object_is_type(p, json_type_string) &&
			    hex_decode(json_object_get_string(h), (size_t)json_object_get_string_len(h), ret_hash, 32) == 0 &&
			    hex_decode(json_object_get_string(p), (size_t)json_object_get_string_len(p), ret_prev, 32) == 0) {
				if (ret_db_id)
					memcpy(ret_db_id, json_object_get_string(id), 33);
				rc = HDB_OK;
			} else {
				rc = HDB_ECORRUPT;
				errf(err, errlen, "record %llu of the audit log ('%s') is malformed", (unsigned long long)seq,
				     names[i]);
			}
			json_object_put(o);
			break;
		}
		free(line);
		fclose(fp);
		break; /* the only segment that can hold it */
	}
	free_names(names, n);
	return rc;
}

/* audit_log_last - the last complete record of log_file's segments, read
 * only (a torn tail is left as it is, for the pipeline's own open to cut
 * and record): its seq and hash, and db_id (may be NULL).  ret->seq 0 when
 * no segment holds a record. */
int audit_log_last(const char *log_file, struct audit_head *ret, char ret_db_id[33], char *err, size_t errlen)
{
	char **names = NULL;
	size_t n = 0;
	struct buf line = { 0 };
	memset(ret, 0, sizeof(*ret));
	int rc = audit_segments(log_file, &names, &n, err, errlen);
	if (rc)
		return rc;
	for (size_t i = n; i-- > 0 && line.len == 0;) {
		struct stat st;
		off_t complete;
		int fd = open(names[i], O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
		if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
			errf(err, errlen, "cannot read audit log segment '%s': %s", names[i],
			     fd < 0 || errno ? strerror(errno) : "not a regular file");
			if (fd >= 0)
				close(fd);
			rc = HDB_EIO;
			goto out;
		}
		rc = read_last(fd, st.st_size, &line, &complete, names[i], err, errlen);
		close(fd);
		if (rc)
			goto out;
		if (line.len == 0)
			continue;
		json_object *o = json_tokener_parse((const char *)line.p), *id;
		if (!o || !parse_record((const char *)line.p, line.len, &ret->seq, ret->hash, NULL) ||
		    !json_object_object_get_ex(o, "db_id", &id) || !json_object_is_type(id, json_type_string) ||
		    json_object_get_string_len(id) != 32) {
			errf(err, errlen, "the last record of audit log segment '%s' does not parse: the log is corrupt",
			     names[i]);
			rc = HDB_ECORRUPT;
		} else if (ret_db_id) {
			memcpy(ret_db_id, json_object_get_string(id), 33);
		}
		json_object_put(o);
	}
out:
	buf_free(&line);
	free_names(names, n);
	return rc;
}

/* audit_dir_logs - the logs held in dir, as base paths "DIR/NAME.log":
 * each name ending in ".log", and the base of every rotated segment
 * ("NAME.log.<stamp>.<seq>") even when the active file is gone; sorted,
 * each once.  Free with hdb_free_names(). */
int audit_dir_logs(const char *dir, char ***ret, size_t *ret_n, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	if (!d) {
		errf(err, errlen, "cannot open directory '%s': %s", dir, strerror(errno));
		return HDB_EIO;
	}
	char **v = NULL;
	size_t n = 0;
	int rc = HDB_OK;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name), base;
		const char *dot = strstr(de->d_name, ".log");
		if (l > 4 && strcmp(de->d_name + l - 4, ".log") == 0)
			base = l;
		else if (dot && dot != de->d_name && is_segment_suffix(dot + 4))
			base = (size_t)(dot - de->d_name) + 4;
		else
			continue;
		size_t plen = strlen(dir) + base + 2;
		char *p = malloc(plen);
		char **nv = p ? realloc(v, (n + 1) * sizeof(*v)) : NULL;
		if (!nv) {
			free(p);
			errf(err, errlen, "out of memory");
			rc = HDB_ENOMEM;
			break;
		}
		v = nv;
		snprintf(p, plen, "%s/%.*s", dir, (int)base, de->d_name);
		v[n++] = p;
	}
	closedir(d);
	if (rc) {
		free_names(v, n);
		return rc;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_str);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (k && strcmp(v[k - 1], v[i]) == 0)
			free(v[i]);
		else
			v[k++] = v[i];
	}
	*ret = v;
	*ret_n = k;
	return HDB_OK;
}
