/*
 * testutil.h - shared helpers for the cmocka unit tests: a private temporary
 * directory per test, and a fixed development key in the environment.
 */
#ifndef HDB_TESTUTIL_H
#define HDB_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A test key (not a secret: used only by tests). */
#define TEST_KEY_HEX "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define TEST_KEY2_HEX "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

/* tu_mkdtemp - a fresh directory under $TMPDIR (or /tmp); caller frees the
 * string and removes the tree with tu_rmrf(). */
static inline char *tu_mkdtemp(void)
{
	const char *base = getenv("TMPDIR");
	char tmpl[512];
	snprintf(tmpl, sizeof(tmpl), "%s/hdbtest.XXXXXX", base && *base ? base : "/tmp");
	char *d = mkdtemp(tmpl);
	return d ? strdup(d) : NULL;
}

static inline void tu_rmrf(const char *dir)
{
	if (!dir || !*dir)
		return;
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: could not remove %s\n", dir);
}

#endif
