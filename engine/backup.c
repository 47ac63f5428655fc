/*
 * backup.c - hot backups that are checked before they are kept.
 *
 * A backup nobody can restore is found out on the day it is needed.  So
 * hdb_backup writes LMDB's compacting copy into a private directory in the
 * destination (backup-partial-XXXXXX), syncs it, drops it from the page
 * cache, and reads it back from the disk as a restore would: the page
 * structure (engine/pagecheck.c), an open through the engine's own open
 * path with the master key this process holds, the key records that open
 * does not read, and every value's authentication tag under the copy's own
 * data keys.  Only then is it named data.mdb (never over an existing one)
 * and the directory synced.  Power lost at any instant leaves either no
 * data.mdb or a complete, synced one; a crash can leave backup-partial-*
 * with a copy of the database (encrypted as the database is).
 *
 * What fails in the copy is compared with the database as it was before
 * the copy was taken (a read txn held across it, so that a writer
 * meanwhile cannot change the verdict): a value or key record with the
 * same bytes there, failing there too, is the database's own damage, and
 * the copy is kept and reported (the rest of it is the best backup there
 * is).  Anything else is damage done in the writing (the disk under the
 * destination): the copy is deleted.  The cost of the held read txn: a
 * busy writer cannot reuse pages freed during the backup, as with any
 * long reader (docs/cli.md).
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

#include <openssl/crypto.h>

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

/* Whether the master key this process holds is still the database's (a
 * rotate-key elsewhere replaces the key check). */
static bool master_current(struct hdb_db *db, MDB_txn *txn)
{
	MDB_val k = META_KEY("kcv"), v;
	unsigned char want[32];
	return mdb_get(txn, db->meta, &k, &v) == MDB_SUCCESS && v.mv_size == 32 &&
	       db_kcv(db, db->master, want) == HDB_OK && CRYPTO_memcmp(want, v.mv_data, 32) == 0;
}

/* Reads the copy in sub back as a restore would: open (header, keys), the
 * key records open does not read, every value.  s is an internal session
 * on db whose read txn was taken before the copy.  HDB_OK: the copy is
 * sound, or holds only the database's own damage (r->bad, r->same_keys).
 * Otherwise db->errmsg says why, and *damage whether it is damage to the
 * copy (else: out of memory, I/O, the master key changed meanwhile). */
static int readback(struct hdb_db *db, struct hdb_session *s, const char *sub, struct hdb_backup_info *fig,
                    struct readback *r, bool *damage, hdb_backup_progress_fn fn, void *arg)
{
	struct hdb_db *copy = NULL;
	struct hdb_session *c = NULL;
	MDB_txn *after = NULL;
	char f[4300], err[256];
	size_t psize;
	*damage = false;
	snprintf(f, sizeof(f), "%s/data.mdb", sub);
	int rc;
	int mrc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &after);
	if (mrc)
		return db_err(db, mdb_to_hdb(mrc), "cannot begin transaction: %s", mdb_strerror(mrc));
	if (pagecheck_metas(f, &psize, err, sizeof(err)) != 0 ||
	    pagecheck_file(f, psize, PAGECHECK_NEWEST, ENGINE_MAP_SIZE / psize, err, sizeof(err)) != 0) {
		*damage = true;
		rc = db_err(db, HDB_ECORRUPT, "its page structure is damaged (%s)", err);
		goto out;
	}
	rc = db_open_copy(db, sub, &copy);
	if (rc == HDB_EKEY && db->encrypted && !master_current(db, after)) {
		rc = db_err(db, HDB_EKEY, "the database's master key was changed (rotate-key) after this process opened "
		            "it: open it again and take the backup again");
		goto out;
	}
	if (rc && rc != HDB_ENOMEM && rc != HDB_EIO && rc != HDB_EFULL && db_copy_opens_like(db, s->txn, f)) {
		rc = db_err(db, rc, "%s, in the database's own key records as in the copy: the database will not open "
		            "again (this process still holds its keys); restore it from an older backup",
		            hdb_errmsg(copy));
		goto out;
	}
	if (rc) {
		*damage = rc != HDB_ENOMEM && rc != HDB_EIO && rc != HDB_EFULL;
		rc = db_err(db, rc, "%s", copy ? hdb_errmsg(copy) : "out of memory");
		goto out;
	}
	fig->pages = fig->bytes / copy->psize;
	if ((rc = sess_open_internal(copy, &c)) != HDB_OK || (rc = txn_begin(c, false)) != HDB_OK) {
		rc = db_err(db, rc, "cannot read it: %s", c ? hdb_session_errmsg(c) : hdb_errmsg(copy));
		goto out;
	}
	rc = db_copy_check_keys(copy, c->txn, db, s->txn, after, r);
	if (rc) {
		*damage = rc != HDB_ENOMEM && rc != HDB_EIO;
		rc = db_err(db, rc, "%s", hdb_errmsg(copy));
		goto out;
	}
	MDB_stat st;
	struct tick tk = { fn, arg, mdb_stat(c->txn, copy->data, &st) == MDB_SUCCESS ? st.ms_entries : 0 };
	rc = maint_readback(c, s, r, fn ? readback_tick : NULL, &tk);
	fig->values = r->values;
	fig->bad = r->bad;
	if (rc)
		db_err(db, rc, "%s", hdb_session_errmsg(c));
	else if (r->differ) {
		*damage = true;
		rc = db_err(db, HDB_ECORRUPT, "%llu value(s) fail authentication where the database's do not (first: %s)",
		            (unsigned long long)r->differ, r->first_differ);
	} else if (fn)
		fn(arg, HDB_BACKUP_READBACK, r->values, r->values);
out:
	if (after)
		mdb_txn_abort(after);
	hdb_session_close(c);
	hdb_close(copy);
	return rc;
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
	char sub[4200], copyf[4300], from[4300];
	struct readback *r = NULL;
	struct hdb_session *s = NULL;
	int fd = -1, dfd = -1, rc = HDB_OK;
	bool made_dir = false, made_sub = false;
	if (snprintf(sub, sizeof(sub), "%s/backup-partial-XXXXXX", dir) >= (int)sizeof(sub))
		return db_err(db, HDB_EINVAL, "backup directory name too long");
	if (mkdir(dir, 0700) == 0)
		made_dir = true;
	else if (errno != EEXIST) {
		rc = db_err(db, errno == EACCES ? HDB_EPERM : HDB_EIO, "cannot create backup directory '%s': %s", dir,
		            strerror(errno));
		goto out;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = db_err(db, errno == EACCES ? HDB_EPERM : HDB_EIO, "cannot open backup directory '%s': %s", dir,
		            strerror(errno));
		goto out;
	}
	struct stat sb;
	if (fstatat(dfd, "data.mdb", &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		rc = db_err(db, HDB_EEXIST, "backup directory '%s' already holds a database", dir);
		goto out;
	}
	if (!mkdtemp(sub)) {
		rc = db_err(db, errno == EACCES ? HDB_EPERM : HDB_EIO, "cannot create a directory in '%s': %s", dir,
		            strerror(errno));
		goto out;
	}
	made_sub = true;
	snprintf(copyf, sizeof(copyf), "%s/data.mdb", sub);
	snprintf(from, sizeof(from), "%s/data.mdb", strrchr(sub, '/') + 1);
	/* the snapshot the read-back compares failing values with: taken before
	 * the copy's, so a writer meanwhile cannot make the database's damage
	 * look like the copy's */
	r = calloc(1, sizeof(*r));
	if (!r || (rc = sess_open_internal(db, &s)) != HDB_OK || (rc = txn_begin(s, false)) != HDB_OK) {
		rc = db_err(db, r ? rc : HDB_ENOMEM, "cannot begin the backup: %s",
		            s ? hdb_session_errmsg(s) : hdb_strerror(r ? rc : HDB_ENOMEM));
		goto out;
	}
	fd = open(copyf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = db_err(db, errno == EACCES ? HDB_EPERM : HDB_EIO, "cannot create '%s': %s", copyf, strerror(errno));
		goto out;
	}
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
	bool damage;
	rc = readback(db, s, sub, &fig, r, &damage, progress, arg);
	if (rc) {
		char why[sizeof(db->errmsg)];
		memcpy(why, db->errmsg, sizeof(why));
		if (!damage)
			rc = db_err(db, rc, "cannot read the backup back: %s; nothing was kept", why);
		else
			rc = db_err(db, HDB_ECORRUPT, "the backup read back from '%s' fails its check: %s; nothing was kept "
			            "(check the disk under '%s')", dir, why, dir);
		goto out;
	}
	if (rename_noreplace(dfd, from, dfd, "data.mdb") != 0) {
		rc = db_err(db, errno == EEXIST ? HDB_EEXIST : HDB_EIO, "cannot name the backup '%s/data.mdb': %s", dir,
		            strerror(errno));
		goto out;
	}
	fig.kept = true;
	if (fsync(dfd) != 0) {
		rc = db_err(db, HDB_EIO, "the backup '%s/data.mdb' is written but its directory cannot be synced: %s", dir,
		            strerror(errno));
		goto out;
	}
	if (fig.bad)
		rc = db_err(db, HDB_ECORRUPT,
		            "%llu of its %llu values fail authentication as copied from the database (the backup is "
		            "kept: the rest of it is the best copy there is); first: %s%s%s; `verify` on the database "
		            "lists them (restore them from an older backup)", (unsigned long long)fig.bad,
		            (unsigned long long)fig.values, r->first, r->same_keys[0] ? "; also " : "", r->same_keys);
	else if (r->same_keys[0])
		rc = db_err(db, HDB_ECORRUPT,
		            "in the database %s, and so in the backup (kept: it is as good as the database); `verify` "
		            "on the database checks the rest", r->same_keys);
out:
	if (fd >= 0)
		close(fd);
	hdb_session_close(s);
	if (made_sub)
		db_rm_tree(sub); /* with the copy, unless it was named */
	if (dfd >= 0)
		close(dfd);
	if (made_dir && !fig.kept)
		(void)rmdir(dir);
	free(r);
	backup_audit(db, dir, &fig, rc);
	if (info)
		*info = fig;
	return rc;
}
