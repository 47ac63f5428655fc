/*
 * audit_emit.c - a tiny driver for tests/cli/audit_schema.bats: encodes N
 * records of every event type and outcome with awkward strings (quotes,
 * backslashes, control characters, invalid UTF-8, emoji, empty, absent,
 * long) through audit_record_encode, checkpoints signed with a fresh key,
 * and prints the lines on stdout.  The bats test validates each against
 * docs/audit-record.schema.json.
 *
 *   audit_emit [N]      (default 3)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"

static const char *const awkward[] = {
	"alice",
	"quote\" back\\slash /slash",
	"ctl\x01\x02\x1f\t\n\r\b\f end",
	"bad utf-8 \xff\xfe \xc0\xaf \xed\xa0\x80 \xe2\x82",
	"é€😀 ünïcödé",
	"",
	NULL,
	"\x7f del",
};

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 3;
	if (n < 1 || n > 100000) {
		fprintf(stderr, "usage: audit_emit [N]\n");
		return 2;
	}
	struct audit_ctx ctx = { .pid = 4242 };
	snprintf(ctx.db_id, sizeof(ctx.db_id), "%s", "0123456789abcdef0123456789abcdef");
	snprintf(ctx.host, sizeof(ctx.host), "%s", "host \"with\" quotes");
	struct audit_head head;
	audit_genesis(ctx.db_id, &head);
	struct hdb_secret *priv = NULL;
	unsigned char pub[AUDIT_SIGN_PUB_LEN];
	if (audit_sign_keygen(&priv, pub) != HDB_OK) {
		fprintf(stderr, "audit_emit: cannot generate a signing key\n");
		return 1;
	}
	char longq[5000];
	memset(longq, 'x', sizeof(longq) - 1);
	longq[sizeof(longq) - 1] = '\0';
	struct buf out = { 0 }, detail = { 0 }, q = { 0 };
	int rc = HDB_OK;
	size_t k = 0;
	for (long i = 0; i < n && rc == HDB_OK; i++) {
		for (int t = 0; t < AUDIT_EV__COUNT && rc == HDB_OK; t++, k++) {
			const char *s = awkward[k % (sizeof(awkward) / sizeof(awkward[0]))];
			const char *s2 = awkward[(k + 3) % (sizeof(awkward) / sizeof(awkward[0]))];
			buf_reset(&q);
			const char *sql = "SELECT * FROM \"T\" WHERE a = 'secret' AND b = 42 -- c";
			rc = audit_redact_query(sql, strlen(sql), AUDIT_REDACT_LITERALS, NULL, &q);
			if (rc == HDB_OK)
				rc = buf_putc(&q, 0);
			if (rc != HDB_OK)
				break;
			struct audit_event ev = {
				.type = (enum audit_event_type)t,
				.outcome = (enum audit_outcome)(k % 3),
				.error = k % 3 ? s2 : NULL,
				.user = s,
				.source_ip = k % 2 ? "10.0.0.7" : "2001:db8::1",
				.application = s2,
				.session_id = "s-1",
				.table = s,
				.object = k % 5 == 0 ? "keyspace:ks key:3ee96b197e2145be" : "table:patients",
				.query = k % 7 == 0 ? longq : (const char *)q.p,
				.rows_affected = k % 4 == 0 ? -1 : (int64_t)(k * 1000003 % 97),
				.encryption_enabled = k % 2 == 0,
				.time_us = k % 6 == 0 ? 0 : (int64_t)(1795858245123456 + k),
			};
			if (t == AUDIT_EV_CHECKPOINT) {
				buf_reset(&detail);
				rc = audit_checkpoint_detail(priv, ctx.db_id, &head, 1795858245123456 + (int64_t)k,
							     &detail);
				ev.detail_json = (const char *)detail.p;
			} else if (k % 2) {
				audit_detail_begin(&detail);
				audit_detail_str(&detail, s2 ? s2 : "k", s);
				audit_detail_int(&detail, "n", (int64_t)k - 50);
				audit_detail_bool(&detail, "flag", k % 4 == 1);
				rc = audit_detail_end(&detail);
				ev.detail_json = (const char *)detail.p;
			}
			if (rc == HDB_OK)
				rc = audit_record_encode(&ctx, &ev, &head, &out);
		}
		if (rc == HDB_OK && fwrite(out.p, 1, out.len, stdout) != out.len)
			rc = HDB_EIO;
		buf_reset(&out);
	}
	secret_free(priv);
	buf_free(&out);
	buf_free(&detail);
	buf_free(&q);
	if (rc != HDB_OK) {
		fprintf(stderr, "audit_emit: %s\n", hdb_strerror(rc));
		return 1;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
