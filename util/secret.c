/*
 * secret.c - locked, undumpable, wiped-on-free memory for key material.
 */
#include "secret.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "heliosdb.h"

int secret_new(size_t cap, struct hdb_secret **ret)
{
	if (cap == 0)
		cap = 1;
	struct hdb_secret *s = calloc(1, sizeof(*s));
	if (!s)
		return HDB_ENOMEM;
	long pg = sysconf(_SC_PAGESIZE);
	size_t page = pg > 0 ? (size_t)pg : 4096;
	size_t sz = (cap + page - 1) / page * page;
	void *m = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		free(s);
		return HDB_ENOMEM;
	}
	(void)madvise(m, sz, MADV_DONTDUMP);
	(void)mlock(m, sz); /* best effort; core dumps are disabled anyway */
	s->buf = m;
	s->cap = sz;
	s->len = 0;
	*ret = s;
	return HDB_OK;
}

int secret_from(const void *p, size_t n, struct hdb_secret **ret)
{
	struct hdb_secret *s;
	int rc = secret_new(n, &s);
	if (rc)
		return rc;
	memcpy(s->buf, p, n);
	s->len = n;
	*ret = s;
	return HDB_OK;
}

void secret_free(struct hdb_secret *s)
{
	if (!s)
		return;
	OPENSSL_cleanse(s->buf, s->cap);
	(void)munlock(s->buf, s->cap);
	(void)munmap(s->buf, s->cap);
	free(s);
}

void secret_disable_core_dumps(void)
{
	struct rlimit rl = { 0, 0 };
	(void)setrlimit(RLIMIT_CORE, &rl);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}
