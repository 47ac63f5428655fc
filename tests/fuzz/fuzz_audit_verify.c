/* fuzz_audit_verify.c - libFuzzer target: audit_verify over a hostile log
 * file (the auditor's tool reads whatever it is handed): it must report,
 * never crash, leak or read out of bounds. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ignore(void *arg, const struct audit_finding *f)
{
	(void)arg;
	(void)f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	if (!path[0]) {
		snprintf(path, sizeof(path), "/tmp/fuzz-audit-verify.%ld.log", (long)getpid());
	}
	FILE *fp = fopen(path, "wb");
	if (!fp)
		return 0;
	if (size)
		fwrite(data, 1, size, fp);
	fclose(fp);
	unsigned char pub[AUDIT_SIGN_PUB_LEN] = { 0 };
	char *files[1] = { path };
	struct audit_verify_result res;
	char err[256];
	(void)audit_verify(files, 1, pub, ignore, NULL, &res, err, sizeof(err));
	unlink(path);
	return 0;
}
