/*
 * backup.c - hot backups that are checked before they are kept.
 *
 * A backup nobody can restore is found out on the day it is needed.  So
 * hdb_backup writes LMDB's compacting copy under a temporary name in the
 * destination, syncs it, drops it from the page cache, and reads it back
 * from the disk as a restore would: the page structure (engine/pagecheck.c),
 * the header and key records under the master key this process holds, and
 * every value's authentication tag under the copy's own data keys.  Only
 * then is it named data.mdb (never over an existing one) and the directory
 * synced.  Power lost at any instant leaves either no data.mdb or a
 * complete, synced one; a temporary file left behind is named
 * data.mdb.partial-XXXXXX and holds nothing but ciphertext.
 *
 * A copy whose structure or key records fail is deleted: the fault is in
 * the writing (the disk under the destination), since the source was
 * checked at open; so is one with a value that fails authentication where
 * the database's value at that key does not (or differs).  A copy whose
 * failing values are byte for byte the database's is kept and reported:
 * they were copied from a damaged database, and the rest of the copy is
 * the best backup there is.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine_int.h"
#include "pagecheck.h"

/* Progress of the copy, which LMDB writes without a hook: a thread looks
 * at the file's size every 100 ms.  done stays below total until the copy
 * is complete (total is the database's used bytes; the copy is compacted,
 * so usually smaller), and only the final call reaches it. */
struct watch {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	int fd;
	uint64_t total;
	hdb_backup_progress_fn fn;
	void *arg;
};

static void *watch_copy(void *p)
{
	struct watch *w = p;
	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000 * 1000;
		if (ts.tv_nsec >= 1000 * 1000 * 1000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000 * 1000 * 1000;
		}
		(void)pthread_cond_timedwait(&w->cv, &w->mu, &ts);
		struct stat sb;
		if (!w->stop && fstat(w->fd, &sb) == 0 && w->total > 1)
			w->fn(w->arg, HDB_BACKUP_COPY, (uint64_t)sb.st_size < w->total ? (uint64_t)sb.st_size : w->total - 1,
			      w->total);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* The copy itself, with the watcher when there is someone to tell. */
static int copy_watched(struct hdb_db *db, int fd, hdb_backup_progress_fn fn, void *arg)
{
	struct watch w = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .fd = fd, .fn = fn,
		           .arg = arg };
	MDB_envinfo ei;
	pthread_t t;
	bool watching = false;
	if (fn && mdb_env_info(db->env, &ei) == MDB_SUCCESS) {
		w.total = ((uint64_t)ei.me_last_pgno + 1) * db->psize;
		watching = pthread_create(&t, NULL, watch_copy, &w) == 0;
	}
	int mrc = mdb_env_copyfd2(db->env, fd, MDB_CP_COMPACT);
	if (watching) {
		pthread_mutex_lock(&w.mu);
		w.stop = true;
		pthread_cond_signal(&w.cv);
		pthread_mutex_unlock(&w.mu);
		pthread_join(t, NULL);
	}
	return mrc;
}

struct tick {
	hdb_backup_progress_fn fn;
	void *arg;
	uint64_t total;
};

static void readback_tick(void *p, uint64_t done)
{
	struct tick *t = p;
	t->fn(t->arg, HDB_BACKUP_READBACK, done < t->total ? done : t->total, t->total);
}

/* Reads the copy at path back: structure, keys, values.  HDB_OK, or the
 * error in db->errmsg; fig->bad > 0 with HDB_ECORRUPT when only values
 * fail (first names the first of them). */
static int readback(struct hdb_db *db, const char *path, struct hdb_backup_info *fig, uint64_t *differ,
                    char *first, size_t firstlen, hdb_backup_progress_fn fn, void *arg)
{
	char err[256];
	size_t psize;
	if (pagecheck_metas(path, &psize, err, sizeof(err)) != 0 ||
	    pagecheck_file(path, psize, PAGECHECK_NEWEST, ENGINE_MAP_SIZE / psize, err, sizeof(err)) != 0)
		return db_err(db, HDB_ECORRUPT, "its page structure is damaged (%s)", err);
	fig->pages = fig->bytes / psize;
	MDB_env *env = NULL;
	MDB_txn *txn = NULL, *src = NULL;
	struct hdb_session *s = NULL;
	MDB_dbi meta, data;
	int rc;
	int mrc = mdb_env_create(&env);
	if (!mrc)
		mrc = mdb_env_set_maxdbs(env, 4);
	if (!mrc)
		mrc = mdb_env_set_mapsize(env, ENGINE_MAP_SIZE);
	if (!mrc)
		mrc = mdb_env_open(env, path, MDB_RDONLY | MDB_NOSUBDIR | MDB_NOLOCK | MDB_NOTLS, 0600);
	if (!mrc)
		mrc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	if (!mrc)
		mrc = mdb_dbi_open(txn, "meta", 0, &meta);
	if (!mrc)
		mrc = mdb_dbi_open(txn, "data", 0, &data);
	if (mrc == MDB_SUCCESS && (mrc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &src)) != MDB_SUCCESS) {
		rc = db_err(db, mdb_to_hdb(mrc), "cannot begin transaction: %s", mdb_strerror(mrc));
		goto out;
	}
	if (mrc) {
		rc = db_err(db, mrc == MDB_NOTFOUND ? HDB_ECORRUPT : mdb_to_hdb(mrc), "LMDB cannot read it: %s",
		            mdb_strerror(mrc));
		goto out;
	}
	rc = sess_open_internal(db, &s);
	if (rc)
		goto out;
	rc = db_copy_keys(db, txn, meta, s);
	if (rc)
		goto out;
	MDB_stat st;
	struct tick tk = { fn, arg, mdb_stat(txn, data, &st) == MDB_SUCCESS ? st.ms_entries : 0 };
	rc = maint_readback(s, txn, data, src, &fig->values, &fig->bad, differ, first, firstlen,
	                    fn ? readback_tick : NULL, &tk);
	if (fn && !rc)
		fn(arg, HDB_BACKUP_READBACK, fig->values, fig->values);
	if (rc)
		db_err(db, rc, "%s", hdb_session_errmsg(s));
	else if (*differ)
		rc = db_err(db, HDB_ECORRUPT, "%llu value(s) fail authentication where the database's do not "
		            "(first: %s)", (unsigned long long)*differ, first);
	else if (fig->bad)
		rc = HDB_ECORRUPT;
out:
	hdb_session_close(s);
	if (src)
		mdb_txn_abort(src);
	if (txn)
		mdb_txn_abort(txn);
	if (env)
		mdb_env_close(env);
	return rc;
}

/* Names the synced copy `from` data.mdb in dfd unless one exists; a file
 * system without RENAME_NOREPLACE gets link + unlink, equally exclusive. */
static int place(int dfd, const char *from)
{
	if (renameat2(dfd, from, dfd, "data.mdb", RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
		return -1;
	if (linkat(dfd, from, dfd, "data.mdb", 0) != 0)
		return -1;
	(void)unlinkat(dfd, from, 0);
	return 0;
}

static void backup_audit(struct hdb_db *db, const char *dir, const struct hdb_backup_info *fig, int rc)
{
	struct buf d = { 0 };
	audit_detail_begin(&d);
	audit_detail_str(&d, "destination", dir);
	audit_detail_int(&d, "bytes", (int64_t)fig->bytes);
	audit_detail_int(&d, "pages", (int64_t)fig->pages);
	audit_detail_int(&d, "values_read_back", (int64_t)fig->values);
	audit_detail_int(&d, "values_failed", (int64_t)fig->bad);
	audit_detail_bool(&d, "kept", fig->kept);
	if (audit_detail_end(&d) == HDB_OK && buf_putc(&d, 0) == HDB_OK)
		trail_security(db, AUDIT_EV_BACKUP_RUN, rc ? AUDIT_FAILURE : AUDIT_SUCCESS, rc ? db->errmsg : NULL, NULL,
		               (const char *)d.p);
	buf_free(&d);
}

int hdb_backup(struct hdb_db *db, const char *dir, hdb_backup_progress_fn progress, void *arg,
               struct hdb_backup_info *info)
{
	struct hdb_backup_info fig;
	memset(&fig, 0, sizeof(fig));
	if (info)
		*info = fig;
	if (!db || !dir || !db->env)
		return HDB_EINVAL;
	char part[4200], first[1024] = "";
	int fd = -1, rc = HDB_OK;
	bool made = false;
	if (snprintf(part, sizeof(part), "%s/data.mdb.partial-XXXXXX", dir) >= (int)sizeof(part))
		return db_err(db, HDB_EINVAL, "backup directory name too long");
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return db_err(db, errno == EACCES ? HDB_EPERM : HDB_EIO, "cannot create backup directory '%s': %s", dir,
		              strerror(errno));
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return db_err(db, HDB_EIO, "cannot open backup directory '%s': %s", dir, strerror(errno));
	struct stat sb;
	if (fstatat(dfd, "data.mdb", &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		rc = db_err(db, HDB_EEXIST, "backup directory '%s' already holds a database", dir);
		goto out;
	}
	fd = mkostemp(part, O_CLOEXEC);
	if (fd < 0) {
		rc = db_err(db, errno == EACCES ? HDB_EPERM : HDB_EIO, "cannot create a file in '%s': %s", dir,
		            strerror(errno));
		goto out;
	}
	made = true;
	int mrc = copy_watched(db, fd, progress, arg);
	if (mrc) {
		rc = db_err(db, mdb_to_hdb(mrc), "cannot back up to '%s': %s; nothing was kept", dir, mdb_strerror(mrc));
		goto out;
	}
	if (fsync(fd) != 0 || fstat(fd, &sb) != 0) {
		rc = db_err(db, errno == ENOSPC ? HDB_EFULL : HDB_EIO, "cannot sync the backup in '%s': %s; nothing was kept",
		            dir, strerror(errno));
		goto out;
	}
	fig.bytes = (uint64_t)sb.st_size;
	if (progress)
		progress(arg, HDB_BACKUP_COPY, fig.bytes, fig.bytes);
	/* read back what the disk holds, not what the page cache kept */
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
	fd = -1;
	trail_test_point(TRAIL_TP_BACKUP_WRITTEN);
	uint64_t differ = 0;
	rc = readback(db, part, &fig, &differ, first, sizeof(first), progress, arg);
	if (rc && (!fig.bad || differ)) {
		char why[sizeof(db->errmsg)];
		memcpy(why, db->errmsg, sizeof(why));
		rc = db_err(db, rc, "the backup read back from '%s' fails its check: %s; nothing was kept (check the "
		            "disk under '%s'; the database itself was checked when it was opened)", dir, why, dir);
		goto out;
	}
	if (place(dfd, strrchr(part, '/') + 1) != 0) {
		rc = db_err(db, errno == EEXIST ? HDB_EEXIST : HDB_EIO, "cannot name the backup '%s/data.mdb': %s", dir,
		            strerror(errno));
		goto out;
	}
	made = false;
	fig.kept = true;
	if (fsync(dfd) != 0) {
		rc = db_err(db, HDB_EIO, "cannot sync backup directory '%s': %s", dir, strerror(errno));
		goto out;
	}
	if (fig.bad)
		rc = db_err(db, HDB_ECORRUPT,
		            "%llu of its %llu values fail authentication as copied from the database (the backup is "
		            "kept: the rest of it is the best copy there is); first: %s; `verify` on the database "
		            "lists them (restore them from an older backup)", (unsigned long long)fig.bad,
		            (unsigned long long)fig.values, first);
out:
	if (fd >= 0)
		close(fd);
	if (made)
		(void)unlink(part);
	close(dfd);
	backup_audit(db, dir, &fig, rc);
	if (info)
		*info = fig;
	return rc;
}
