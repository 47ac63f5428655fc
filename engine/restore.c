/*
 * restore.c - putting a backup back.
 *
 * The manual way (stop, move the data file aside, unpack, start) meets
 * three traps: a backup that does not read back is found out after the
 * working file is gone; the audit log, which went on after the backup, is
 * ahead of the restored file, and the open rightly refuses that (it looks
 * like a rollback); and the restored data keys' seal counts predate
 * every seal made after the backup, so with random nonces the count that
 * keeps a key below NIST's limit understates.  hdb_restore does it in an
 * order that avoids all three:
 *
 *  1. the database's audit.lock, taken exclusively: no audited process has
 *     the database open, and none opens it until the swap is done;
 *  2. the backup is copied (or, a scratch copy, moved) into a private
 *     directory next to the database, synced, dropped from the page cache
 *     and read back from the disk: page structure, the open with the
 *     configured key, every value's tag;
 *  3. with a log that goes past the backup, the log must hold the backup's
 *     last audit record, same seq and same hash: the backup is this
 *     database, at an earlier point of the chain the log proves;
 *  4. data.mdb is renamed data.mdb.replaced-<UTC time> (kept: it may be
 *     evidence, or hold what the backup lacks), the checked copy renamed
 *     data.mdb, and the directory synced;
 *  5. the open's first write txn (trail.c, restore_commit) continues the
 *     log's chain from its last record (the records after the backup's
 *     stay, verifiable; what they describe was undone, which "restore_run"
 *     states), makes a fresh data key active and puts "restore_run" in the
 *     outbox: one commit, so the restored file never takes its place in
 *     the chain without its record.
 *
 * Nothing is changed before step 4.  A crash in step 4 leaves either the
 * old data.mdb, or the replaced file and the new one, or the replaced file
 * alone (between the two renames: put it back, or run the restore again);
 * a crash in step 5 leaves the restored file, which the next restore or
 * a plain open (log ahead: refused, as for any older file) handles.
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

#include <openssl/evp.h>

#include "engine_int.h"
#include "pagecheck.h"

#define COPY_CHUNK (1u << 20)

static void tell(const struct hdb_restore_opts *o, enum hdb_restore_phase ph, uint64_t done, uint64_t total)
{
	if (o->progress)
		o->progress(o->arg, ph, done, total);
}

/* Copies from/data.mdb to fd (created empty), reporting bytes. */
static int copy_file(struct hdb_db *db, const char *from, int fd, const struct hdb_restore_opts *o, uint64_t *ret)
{
	char f[4300];
	snprintf(f, sizeof(f), "%s/data.mdb", from);
	int in = open(f, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (in < 0)
		return db_err(db, errno == ENOENT ? HDB_ENOTFOUND : errno == EACCES ? HDB_EPERM : HDB_EIO,
		              "cannot read the backup '%s': %s", f, strerror(errno));
	struct stat sb;
	int rc = HDB_OK;
	char *b = malloc(COPY_CHUNK);
	if (!b) {
		rc = db_err(db, HDB_ENOMEM, "out of memory");
		goto out;
	}
	if (fstat(in, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		rc = db_err(db, HDB_EINVAL, "the backup '%s' is not a regular file", f);
		goto out;
	}
	uint64_t done = 0, total = (uint64_t)sb.st_size;
	for (;;) {
		ssize_t n = read(in, b, COPY_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = db_err(db, HDB_EIO, "cannot read the backup '%s': %s", f, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, b + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				rc = db_err(db, errno == ENOSPC ? HDB_EFULL : HDB_EIO, "cannot copy the backup next to the "
				            "database: %s", w < 0 ? strerror(errno) : "short write");
				goto out;
			}
			off += w;
		}
		done += (uint64_t)n;
		tell(o, HDB_RESTORE_COPY, done < total ? done : total, total);
	}
	*ret = done;
out:
	free(b);
	close(in);
	return rc;
}

/* SHA-256 of what the disk holds in fd, as hex. */
static int file_sha256(struct hdb_db *db, int fd, char out[65])
{
	unsigned char *b = malloc(COPY_CHUNK), md[32];
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	EVP_MD *sha = EVP_MD_fetch(NULL, "SHA2-256", NULL);
	int rc = HDB_OK;
	if (!b || !c || !sha || EVP_DigestInit_ex(c, sha, NULL) != 1) {
		rc = db_err(db, HDB_ENOMEM, "cannot hash the restored file: out of memory");
		goto out;
	}
	for (off_t at = 0;;) {
		ssize_t n = pread(fd, b, COPY_CHUNK, at);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = db_err(db, HDB_EIO, "cannot read the restored file back: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (EVP_DigestUpdate(c, b, (size_t)n) != 1) {
			rc = db_err(db, HDB_ECRYPTO, "SHA-256 failed");
			goto out;
		}
		at += n;
	}
	unsigned mdlen = 0;
	if (EVP_DigestFinal_ex(c, md, &mdlen) != 1 || mdlen != 32) {
		rc = db_err(db, HDB_ECRYPTO, "SHA-256 failed");
		goto out;
	}
	hex_encode(md, 32, out);
out:
	EVP_MD_free(sha);
	EVP_MD_CTX_free(c);
	free(b);
	return rc;
}

struct check_tick {
	const struct hdb_restore_opts *o;
	uint64_t values;
};

static void check_tick(void *p, uint64_t done, uint64_t total)
{
	struct check_tick *t = p;
	t->values = done;
	tell(t->o, HDB_RESTORE_CHECK, done, total);
}

/* msg with the private directory sub named as the operator named the
 * backup (an open's errors name the directory it opened). */
static const char *named(char *out, size_t cap, const char *msg, const char *sub, const char *name)
{
	size_t n = strlen(sub), o = 0;
	for (const char *p = msg; *p && o + 1 < cap;) {
		if (strncmp(p, sub, n) == 0) {
			o += (size_t)snprintf(out + o, cap - o, "%s", name);
			if (o >= cap)
				o = cap - 1;
			p += n;
		} else {
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
	return out;
}

/* Step 2's read-back of the staged copy in sub: pages, open, values; and
 * its audit head.  Nothing has been changed yet: every error says so. */
static int check_staged(struct hdb_db *db, const struct hdb_config *cfg, const char *from, const char *sub,
                        struct hdb_restore_info *fig, struct audit_head *head, char id[33],
                        const struct hdb_restore_opts *o)
{
	char f[4300], err[256];
	size_t psize;
	struct hdb_db *copy = NULL;
	struct hdb_session *cs = NULL;
	int rc;
	snprintf(f, sizeof(f), "%s/data.mdb", sub);
	if (pagecheck_metas(f, &psize, err, sizeof(err)) != 0 ||
	    pagecheck_file(f, psize, PAGECHECK_NEWEST, ENGINE_MAP_SIZE / psize, err, sizeof(err)) != 0) {
		rc = db_err(db, HDB_ECORRUPT, "the backup '%s' fails its check: its page structure is damaged (%s); "
		            "nothing was changed", from, err);
		goto out;
	}
	fig->pages = fig->bytes / psize;
	rc = db_open_staged(cfg, sub, false, &copy);
	char why[600];
	if (rc)
		named(why, sizeof(why), copy ? hdb_errmsg(copy) : hdb_strerror(rc), sub, from);
	if (rc == HDB_EKEY) {
		rc = db_err(db, rc, "the backup '%s' does not open with this key: %s; nothing was changed", from, why);
		goto out;
	}
	if (rc == HDB_EKEYSRC || rc == HDB_EPERM) { /* the key could not be loaded: as any open says it */
		rc = db_err(db, rc, "%s; nothing was changed", why);
		goto out;
	}
	if (rc) {
		rc = db_err(db, rc == HDB_ENOMEM || rc == HDB_EIO ? rc : HDB_ECORRUPT,
		            "the backup '%s' fails its check: %s; nothing was changed", from, why);
		goto out;
	}
	if ((rc = sess_open_internal(copy, &cs)) != HDB_OK) {
		rc = db_err(db, rc, "cannot read the backup: %s", hdb_errmsg(copy));
		goto out;
	}
	struct check_tick tk = { o, 0 };
	rc = hdb_verify_progress(cs, HDB_VERIFY_ENCRYPTION | HDB_VERIFY_INTEGRITY, NULL, NULL, check_tick, &tk);
	fig->values = tk.values;
	if (rc) {
		rc = db_err(db, rc == HDB_ENOMEM || rc == HDB_EIO ? rc : HDB_ECORRUPT,
		            "the backup '%s' fails its check: %s; nothing was changed", from, hdb_session_errmsg(cs));
		goto out;
	}
	if ((rc = txn_begin(cs, false)) != HDB_OK) {
		rc = db_err(db, rc, "cannot read the backup: %s", hdb_session_errmsg(cs));
		goto out;
	}
	rc = trail_head_get(copy, cs->txn, head);
	txn_abort(cs);
	memcpy(id, copy->id_hex, 33);
	if (rc)
		rc = db_err(db, rc, "the backup '%s' fails its check: %s; nothing was changed", from, hdb_errmsg(copy));
out:
	hdb_session_close(cs);
	hdb_close(copy);
	return rc;
}

/* Step 3 ahead of the swap, deciding as trail_open will (its check is the
 * gate; this one keeps "nothing was changed" true), and without changing
 * the log (a torn tail stays for the open to cut and record): the log's
 * last record must name the backup's database, and a log that reaches or
 * passes the backup's last record must hold it.  *fh: the log's last
 * record (seq 0: no log). */
static int check_log(struct hdb_db *db, const struct hdb_config *cfg, const struct audit_head *bh,
                     const char *bid, struct audit_head *fh)
{
	memset(fh, 0, sizeof(*fh));
	char *lf = cfg->audit_log_file ? strdup(cfg->audit_log_file) : trail_default_log_file(db->path);
	if (!lf)
		return db_err(db, HDB_ENOMEM, "out of memory");
	char err[512], lid[33] = "";
	int rc = audit_log_last(lf, fh, lid, err, sizeof(err));
	if (rc == HDB_ENOTFOUND || (rc == HDB_OK && fh->seq == 0)) {
		rc = HDB_OK; /* no log yet: the open starts one where the backup's chain ends */
		fh->seq = 0;
		goto out;
	}
	if (rc) {
		rc = db_err(db, rc == HDB_ENOMEM ? rc : HDB_EAUDIT, "%s; nothing was changed", err);
		goto out;
	}
	/* another database's log is refused whichever of the two chains is
	 * longer, and with audit off too: the next audited open would meet it */
	if (strcmp(lid, bid) != 0) {
		rc = db_err(db, HDB_EINVAL, "the audit log '%s' is another database's (id %s; the backup's is %s): "
		            "nothing was changed", lf, lid, bid);
		goto out;
	}
	if (cfg->audit_enabled && fh->seq >= bh->seq && (rc = trail_restore_check(db, lf, bh)) != HDB_OK) {
		char why[sizeof(db->errmsg)];
		memcpy(why, db->errmsg, sizeof(why));
		rc = db_err(db, rc, "%s; nothing was changed", why);
	}
out:
	free(lf);
	return rc;
}

/* The audit head of the database being replaced (-1: none, or it does not
 * open: damaged, another key).  Opened without LMDB's lock file, which the
 * restore holds locked. */
static int64_t replaced_head(const struct hdb_config *cfg, const char *path)
{
	struct hdb_db *cur = NULL;
	struct hdb_session *cs = NULL;
	struct audit_head h;
	int64_t ret = -1;
	if (db_open_staged(cfg, path, true, &cur) == HDB_OK && sess_open_internal(cur, &cs) == HDB_OK &&
	    txn_begin(cs, false) == HDB_OK) {
		if (trail_head_get(cur, cs->txn, &h) == HDB_OK)
			ret = (int64_t)h.seq;
		txn_abort(cs);
	}
	hdb_session_close(cs);
	hdb_close(cur);
	return ret;
}

/* Removes the scratch directories of restores killed midway (each holds
 * a copy of a backup).  Under the exclusive lock: no other restore runs. */
static void remove_stale(const char *path, const char *from)
{
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *de;
	char p[4400], rp[PATH_MAX], rfrom[PATH_MAX];
	if (!realpath(from, rfrom))
		rfrom[0] = '\0';
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "restore-partial-", 16) != 0 && strncmp(de->d_name, "restore-archive-", 16) != 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
		if (realpath(p, rp) && strcmp(rp, rfrom) == 0)
			continue; /* the scratch copy this restore is made from */
		db_rm_tree(p);
	}
	closedir(d);
}

/* The data.mdb.replaced-* names in dfd, space-separated, into out. */
static void earlier_replaced(int dfd, char *out, size_t cap)
{
	out[0] = '\0';
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	struct dirent *de;
	size_t o = 0;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "data.mdb.replaced-", 18) != 0)
			continue;
		int n = snprintf(out + o, cap - o, "%s%s", o ? " " : "", de->d_name);
		if (n < 0 || (size_t)n >= cap - o) {
			out[o] = '\0';
			break;
		}
		o += (size_t)n;
	}
	closedir(d);
}

/* A name for the replaced file that nothing holds yet. */
static int replaced_name(int dfd, char *out, size_t cap)
{
	time_t now = time(NULL);
	struct tm tm;
	char stamp[32];
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	struct stat sb;
	for (int i = 1; i < 1000; i++) {
		if (i == 1)
			snprintf(out, cap, "data.mdb.replaced-%s", stamp);
		else
			snprintf(out, cap, "data.mdb.replaced-%s-%d", stamp, i);
		if (fstatat(dfd, out, &sb, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT)
			return 0;
	}
	return -1;
}

int hdb_restore(const char *path, const struct hdb_config *cfg, const char *from,
                const struct hdb_restore_opts *opts, struct hdb_restore_info *info, struct hdb_db **ret_db)
{
	static const struct hdb_restore_opts none;
	const struct hdb_restore_opts *o = opts ? opts : &none;
	struct hdb_restore_info fig;
	memset(&fig, 0, sizeof(fig));
	if (info)
		*info = fig;
	if (!ret_db)
		return HDB_EINVAL;
	*ret_db = NULL;
	if (!cfg || !from)
		return HDB_EINVAL;
	struct hdb_db *db = db_handle(cfg, 0);
	if (!db)
		return HDB_ENOMEM;
	*ret_db = db;
	if (!path)
		path = cfg->storage_path;
	const char *name = o->source ? o->source : from; /* the backup, as the operator named it */
	char sub[4200], staged[4300], lock[4200], sf[4300], mlock[4200], apath[PATH_MAX], earlier[1024];
	int lfd = -1, mfd = -1, dfd = -1, fd = -1, rc = HDB_OK;
	bool made_dir = false, made_sub = false;
	struct stat sb, fsb;
	if (!path || !*path)
		return db_err(db, HDB_EINVAL, "no database path given (set storage.path or pass --path)");
	if (!(db->path = strdup(path)))
		return db_err(db, HDB_ENOMEM, "out of memory");
	if (snprintf(sub, sizeof(sub), "%s/restore-partial-XXXXXX", path) >= (int)sizeof(sub) ||
	    snprintf(sf, sizeof(sf), "%s/data.mdb", from) >= (int)sizeof(sf))
		return db_err(db, HDB_EINVAL, "path too long");
	snprintf(lock, sizeof(lock), "%s/" ENGINE_OPEN_LOCK, path);
	snprintf(mlock, sizeof(mlock), "%s/lock.mdb", path);
	if (stat(sf, &fsb) != 0)
		return db_err(db, errno == ENOENT ? HDB_ENOTFOUND : HDB_EIO, "no backup at '%s' (%s: %s)", name, sf,
		              strerror(errno));
	if (!S_ISREG(fsb.st_mode))
		return db_err(db, HDB_EINVAL, "the backup '%s' is not a regular file (its data.mdb); nothing was changed",
		              name);
	if (cfg->audit_enabled && cfg->audit_journald && strcmp(cfg->audit_journald, "required") == 0 &&
	    !audit_journal_available())
		return db_err(db, HDB_EAUDIT, "audit.journald = \"required\" but journald is not running "
		              "(/run/systemd/journal/socket is missing): the restored database could not open; nothing "
		              "was changed");

	/* 1. nobody else has it open, nor opens it until the swap is done */
	if (mkdir(path, 0700) == 0)
		made_dir = true;
	else if (errno != EEXIST) {
		rc = db_err(db, errno == EACCES ? HDB_EPERM : HDB_EIO, "cannot create directory '%s': %s", path,
		            strerror(errno));
		goto out;
	}
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = db_err(db, errno == EACCES ? HDB_EPERM : HDB_EIO, "cannot open directory '%s': %s", path,
		            strerror(errno));
		goto out;
	}
	if (fstatat(dfd, "data.mdb", &sb, 0) == 0 && sb.st_dev == fsb.st_dev && sb.st_ino == fsb.st_ino) {
		rc = db_err(db, HDB_EINVAL, "'%s' is the database itself, not a backup of it", from);
		goto out;
	}
	lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0600);
	if (lfd < 0) {
		rc = db_err(db, errno == EACCES ? HDB_EPERM : HDB_EIO, "cannot open '%s': %s", lock, strerror(errno));
		goto out;
	}
	int r;
	while ((r = flock(lfd, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR)
		;
	if (r != 0) {
		rc = db_err(db, HDB_EBUSY, "the database in '%s' is open in another process: stop it before restoring "
		            "(nothing was changed)", path);
		goto out;
	}
	/* LMDB's own lock: a process with the environment open, audited or
	 * not, holds a read lock on byte 0 of lock.mdb, and an opener waits
	 * for a write lock there to go (mdb_env_excl_lock).  Held across the
	 * swap, it keeps every process off the file being replaced: a late
	 * opener opens the restored one.  (fcntl locks are the process's:
	 * nothing here opens lock.mdb but this descriptor.) */
	mfd = open(mlock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0600);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	if (mfd < 0) {
		rc = db_err(db, errno == EACCES ? HDB_EPERM : HDB_EIO, "cannot open '%s': %s", mlock, strerror(errno));
		goto out;
	}
	if (fcntl(mfd, F_SETLK, &fl) != 0) {
		struct flock q = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
		char pid[32] = "";
		if (fcntl(mfd, F_GETLK, &q) == 0 && q.l_type != F_UNLCK && q.l_pid > 0)
			snprintf(pid, sizeof(pid), " (pid %ld)", (long)q.l_pid);
		rc = db_err(db, HDB_EBUSY, "the database in '%s' is open in another process%s: stop it before "
		            "restoring (nothing was changed)", path, pid);
		goto out;
	}
	if (!realpath(path, apath))
		snprintf(apath, sizeof(apath), "%s", path);

	/* what a restore killed midway left: no restore runs but this one */
	remove_stale(path, from);

	/* 2. the copy next to the database, synced, read back from the disk */
	if (!mkdtemp(sub)) {
		rc = db_err(db, errno == EACCES ? HDB_EPERM : HDB_EIO, "cannot create a directory in '%s': %s", path,
		            strerror(errno));
		goto out;
	}
	made_sub = true;
	snprintf(staged, sizeof(staged), "%s/data.mdb", sub);
	bool moved = (o->flags & HDB_RESTORE_MOVE) && rename(sf, staged) == 0;
	fd = open(staged, (moved ? O_RDONLY : O_RDWR | O_CREAT | O_EXCL) | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
	if (fd < 0 && moved) {
		rc = db_err(db, HDB_EINVAL, "the backup '%s' is not a regular file (its data.mdb: %s); nothing was changed",
		            name, strerror(errno));
		goto out;
	}
	if (fd < 0) {
		rc = db_err(db, errno == EACCES ? HDB_EPERM : HDB_EIO, "cannot create '%s': %s", staged, strerror(errno));
		goto out;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		rc = db_err(db, HDB_EINVAL, "the backup '%s' is not a regular file (its data.mdb); nothing was changed",
		            name);
		goto out;
	}
	(void)fchmod(fd, 0600); /* an archive member keeps the mode it was packed with */
	if (!moved && (rc = copy_file(db, from, fd, o, &fig.bytes)) != HDB_OK) {
		char why[sizeof(db->errmsg)];
		memcpy(why, db->errmsg, sizeof(why));
		rc = db_err(db, rc, "%s; nothing was changed", why);
		goto out;
	}
	if (fsync(fd) != 0 || fstat(fd, &sb) != 0) {
		rc = db_err(db, errno == ENOSPC ? HDB_EFULL : HDB_EIO, "cannot sync the copy of the backup: %s; nothing "
		            "was changed", strerror(errno));
		goto out;
	}
	fig.bytes = (uint64_t)sb.st_size;
	tell(o, HDB_RESTORE_COPY, fig.bytes, fig.bytes);
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	if ((rc = file_sha256(db, fd, fig.sha256)) != HDB_OK)
		goto out;
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
	fd = -1;
	struct audit_head bh;
	char bid[33];
	if ((rc = check_staged(db, cfg, name, sub, &fig, &bh, bid, o)) != HDB_OK)
		goto out;
	fig.backup_seq = bh.seq;

	/* 3. the backup is this log's database, the database it replaces is
	 * not ahead of the log, and the profiles let it open */
	struct audit_head fh;
	if ((rc = check_log(db, cfg, &bh, bid, &fh)) != HDB_OK)
		goto out;
	bool had = fstatat(dfd, "data.mdb", &sb, AT_SYMLINK_NOFOLLOW) == 0;
	int64_t rhead = had ? replaced_head(cfg, path) : -1;
	if (cfg->audit_enabled && fh.seq > 0 && rhead > (int64_t)fh.seq) {
		/* records were cut from the log: continuing the chain from its end
		 * would reuse their seqs and hide the cut */
		rc = db_err(db, HDB_ECORRUPT, "the database's audit head is record %lld but its audit log ends at %llu: "
		            "records are missing from the log (cut short?), and a restore would hide that; nothing was "
		            "changed (keep the log and the database as evidence; audit-verify the log)", (long long)rhead,
		            (unsigned long long)fh.seq);
		goto out;
	}
	if ((rc = profiles_check(db, cfg, path)) != HDB_OK) {
		char why[sizeof(db->errmsg)];
		memcpy(why, db->errmsg, sizeof(why));
		rc = db_err(db, rc, "%s; nothing was changed", why);
		goto out;
	}

	/* 4. the swap; the replaced file is kept */
	char rel[128];
	snprintf(rel, sizeof(rel), "%s/data.mdb", strrchr(sub, '/') + 1);
	earlier_replaced(dfd, earlier, sizeof(earlier));
	char rname[96] = "";
	if (had) {
		if (replaced_name(dfd, rname, sizeof(rname)) != 0 ||
		    rename_noreplace(dfd, "data.mdb", dfd, rname) != 0) {
			rc = db_err(db, HDB_EIO, "cannot move '%s/data.mdb' aside: %s; nothing was changed", path,
			            strerror(errno));
			goto out;
		}
		snprintf(fig.replaced, sizeof(fig.replaced), "%s/%s", apath, rname);
		trail_test_point(TRAIL_TP_RESTORE_ASIDE);
	}
	if (rename_noreplace(dfd, rel, dfd, "data.mdb") != 0) {
		int e = errno;
		if (had && rename_noreplace(dfd, rname, dfd, "data.mdb") == 0) {
			fig.replaced[0] = '\0';
			rc = db_err(db, HDB_EIO, "cannot put the backup in place: %s; nothing was changed", strerror(e));
		} else {
			rc = db_err(db, HDB_EIO, "cannot put the backup in place: %s; the database's file is '%s'",
			            strerror(e), fig.replaced);
		}
		goto out;
	}
	fig.in_place = true;
	if (fsync(dfd) != 0) {
		rc = db_err(db, HDB_EIO, "the backup is in place as '%s/data.mdb' but its directory cannot be synced: %s",
		            path, strerror(errno));
		goto out;
	}
	db_rm_tree(sub);
	made_sub = false;
	trail_test_point(TRAIL_TP_RESTORE_PLACED);

	/* 5. open it: the chain goes on, a fresh data key, the record.  The
	 * open takes LMDB's lock over from mfd (fcntl locks are the process's:
	 * its write lock is granted, so it finds itself alone and initialises
	 * lock.mdb for the new file, then shares it): processes waiting for it
	 * never see the replaced file's lock state.  mfd stays open until the
	 * environment is closed, since closing any descriptor of lock.mdb
	 * drops the process's locks on it. */
	db->lmdb_lock_fd = mfd;
	db->lmdb_lock_held = true;
	mfd = -1;
	while ((r = flock(lfd, LOCK_SH)) != 0 && errno == EINTR)
		;
	struct engine_restore rs = { .source = name, .source_sha256 = o->source_sha256, .sha256 = fig.sha256,
		                     .replaced = fig.replaced, .earlier = earlier, .replaced_head = rhead,
		                     .bytes = fig.bytes, .values = fig.values, .backup_seq = fig.backup_seq };
	db->restore = &rs;
	rc = db_open_at(db, path, cfg, 0);
	db->restore = NULL;
	fig.log_seq = rs.log_seq;
	fig.record_seq = rs.record_seq;
	fig.data_key = rs.data_key;
	if (rc) {
		char why[sizeof(db->errmsg)];
		memcpy(why, db->errmsg, sizeof(why));
		rc = db_err(db, rc, "the backup is in place as '%s/data.mdb'%s%s%s, but it does not open: %s", path,
		            had ? " (the replaced file is '" : "", had ? fig.replaced : "", had ? "')" : "", why);
		goto out;
	}
	if (!rs.done && db->encrypted) {
		/* audit off: the fresh key in a txn of its own */
		struct hdb_session *ks = NULL;
		rc = sess_open_internal(db, &ks);
		if (!rc)
			rc = sess_fresh_key(ks, &fig.data_key);
		if (rc)
			rc = db_err(db, rc, "the backup is restored, but a fresh data key could not be made active: %s "
			            "(run heliosdb-nano rekey)", ks ? hdb_session_errmsg(ks) : hdb_strerror(rc));
		hdb_session_close(ks);
	}
out:
	if (fd >= 0)
		close(fd);
	if (made_sub) {
		/* a moved scratch copy goes back where it came from */
		struct stat ss;
		if ((o->flags & HDB_RESTORE_MOVE) && stat(staged, &ss) == 0 && stat(sf, &ss) != 0)
			(void)rename(staged, sf);
		db_rm_tree(sub);
	}
	if (dfd >= 0)
		close(dfd);
	if (mfd >= 0)
		close(mfd); /* releases the fcntl lock */
	if (lfd >= 0)
		close(lfd); /* releases the flock */
	if (made_dir && !fig.in_place) {
		(void)unlink(lock);
		(void)unlink(mlock);
		(void)rmdir(path);
	}
	if (info)
		*info = fig;
	return rc;
}
