/*
 * secret.h - the secret type: bytes that must never reach swap, a core dump,
 * a log or freed memory.
 *
 * A secret lives in its own anonymous mapping, locked with mlock() (best
 * effort: a failing mlock under RLIMIT_MEMLOCK is tolerated, since the
 * process also disables core dumps) and marked MADV_DONTDUMP.  It is wiped
 * with OPENSSL_cleanse() when freed.  secret_free(NULL) is fine.
 */
#ifndef HDB_SECRET_H
#define HDB_SECRET_H

#include <stddef.h>

struct hdb_secret {
	unsigned char *buf;   /* cap bytes, page-aligned mapping */
	size_t len;           /* bytes in use */
	size_t cap;
};

/* secret_new - a zeroed secret of capacity cap (len = 0).  HDB_OK/HDB_ENOMEM. */
int secret_new(size_t cap, struct hdb_secret **ret);
/* secret_from - a secret holding a copy of p[0..n). */
int secret_from(const void *p, size_t n, struct hdb_secret **ret);
void secret_free(struct hdb_secret *s);

/* secret_disable_core_dumps - RLIMIT_CORE = 0 and PR_SET_DUMPABLE 0 while any
 * key is loaded.  Idempotent. */
void secret_disable_core_dumps(void);

#endif
