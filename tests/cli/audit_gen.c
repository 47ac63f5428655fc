/*
 * audit_gen.c - writes a signed audit log for tests/cli/audit_verify.bats.
 *
 *   audit_gen DIR [--records N] [--segments K]
 *
 * DIR/audit.pub  the public key (audit_pubkey_write)
 * DIR/audit.log  line 1 audit_start; then N records (default 30) with a
 *                checkpoint after every record whose seq is a multiple of
 *                10; then audit_stop and its checkpoint.  With the default
 *                N = 30: 36 lines, checkpoints at lines 11, 21, 31 and 36.
 *                Record lines mention user "doctor_smith".
 * With --segments K (2..9) the lines are split into K nearly equal parts:
 * the first K-1 as rotated segments audit.log.2026010<i>T000000Z.<first
 * seq, 20 digits>, the last as audit.log.
 * Exit 0, or 1 with a message on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"

#define DB_ID "0123456789abcdef0123456789abcdef"

static struct buf all;
static size_t nlines;
static struct audit_ctx ctx = { .db_id = DB_ID, .host = "gen-host", .pid = 1234 };
static struct audit_head head;
static int64_t t_us = INT64_C(1767225600000000);

static int event(enum audit_event_type t, const char *detail)
{
	struct audit_event ev = {
		.type = t, .user = "doctor_smith", .source_ip = "10.0.0.5", .application = "audit_gen",
		.table = "patients", .object = "table:patients", .query = "SELECT * FROM patients WHERE id = ?",
		.rows_affected = 1, .encryption_enabled = true, .detail_json = detail, .time_us = (t_us += 1000),
	};
	nlines++;
	return audit_record_encode(&ctx, &ev, &head, &all);
}

static int checkpoint(const struct hdb_secret *priv)
{
	struct buf d = { 0 };
	int rc = audit_checkpoint_detail(priv, DB_ID, &head, t_us + 1, &d);
	if (!rc)
		rc = event(AUDIT_EV_CHECKPOINT, (const char *)d.p);
	buf_free(&d);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: audit_gen DIR [--records N] [--segments K]\n");
		return 1;
	}
	const char *dir = argv[1];
	long nrec = 30, nseg = 1;
	for (int i = 2; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--records") == 0)
			nrec = strtol(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--segments") == 0)
			nseg = strtol(argv[i + 1], NULL, 10);
	}
	if (nrec < 1 || nseg < 1 || nseg > 9) {
		fprintf(stderr, "audit_gen: bad --records or --segments\n");
		return 1;
	}
	struct hdb_secret *priv = NULL;
	unsigned char pub[AUDIT_SIGN_PUB_LEN];
	char err[512], path[4096];
	if (audit_sign_keygen(&priv, pub) != HDB_OK) {
		fprintf(stderr, "audit_gen: keygen failed\n");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/audit.pub", dir);
	if (audit_pubkey_write(path, pub, err, sizeof(err)) != HDB_OK) {
		fprintf(stderr, "audit_gen: %s\n", err);
		return 1;
	}
	audit_genesis(DB_ID, &head);
	int rc = event(AUDIT_EV_AUDIT_START, NULL);
	for (long i = 0; !rc && i < nrec; i++) {
		rc = event(i % 3 ? AUDIT_EV_READ : AUDIT_EV_WRITE, NULL);
		if (!rc && head.seq % 10 == 0)
			rc = checkpoint(priv);
	}
	if (!rc)
		rc = event(AUDIT_EV_AUDIT_STOP, NULL);
	if (!rc)
		rc = checkpoint(priv);
	secret_free(priv);
	if (rc) {
		fprintf(stderr, "audit_gen: cannot encode records: %s\n", hdb_strerror(rc));
		return 1;
	}
	/* split into segments of per lines each */
	size_t per = (nlines + (size_t)nseg - 1) / (size_t)nseg, line = 0, seq = 1;
	const char *p = (const char *)all.p, *end = p + all.len;
	for (long s = 0; s < nseg; s++) {
		if (s == nseg - 1)
			snprintf(path, sizeof(path), "%s/audit.log", dir);
		else
			snprintf(path, sizeof(path), "%s/audit.log.2026010%ldT000000Z.%020zu", dir, s + 1, seq);
		FILE *f = fopen(path, "w");
		if (!f) {
			perror(path);
			return 1;
		}
		size_t k = 0;
		while (p < end && (s == nseg - 1 || k < per)) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			fwrite(p, 1, (size_t)(nl - p) + 1, f);
			p = nl + 1;
			k++;
			line++;
			seq++;
		}
		if (fclose(f) != 0) {
			perror(path);
			return 1;
		}
	}
	buf_free(&all);
	printf("%zu records in %ld segment%s\n", line, nseg, nseg == 1 ? "" : "s");
	return 0;
}
