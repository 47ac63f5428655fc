/*
 * report_gen.c - writes a signed, realistic audit log for tests/cli/report.bats
 * and tests/bench/bench_report.sh (the compliance reporter's inputs).
 *
 *   report_gen DIR [--records N] [--days D] [--profiles P[,P...]] [--segments K]
 *                  [--refused] [--start YYYY-MM-DD]
 *
 * DIR/audit.pub  the public key
 * DIR/audit.log  (and with --segments K, K-1 rotated segments before it)
 *
 * The log: one "start" (audit_start, config_loaded with a config object and
 * sha256, profile_evaluated for --profiles with a few rules each, key_loaded,
 * db_open), then N operations spread evenly over D days from --start
 * (default 2026-01-05, a Monday), so some fall outside business hours and on
 * the weekend: reads, writes, deletes, DDL, access_denied (denied) and failed
 * writes by five users on four tables, deterministic (a fixed LCG); a signed
 * checkpoint every 100 records; db_close, audit_stop and a final checkpoint.
 * --refused: the profile evaluation failed (outcome denied, started false).
 * Records are streamed to the file: memory is constant whatever N.
 * Exit 0, or 1 with a message on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"

#define DB_ID "fedcba9876543210fedcba9876543210"

static struct audit_ctx ctx = { .db_id = DB_ID, .host = "report-gen", .pid = 4321 };
static struct audit_head head;
static struct buf line;
static FILE *out;
static struct hdb_secret *priv;
static int64_t now_us;
static unsigned long nseg = 1, per_seg = 0, in_seg = 0, seg_no = 0;
static const char *dir;
static uint64_t seg_first[10];

static int open_segment(void)
{
	char path[4096];
	if (out && fclose(out) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/audit.log.tmp%lu", dir, seg_no);
	out = fopen(path, "w");
	in_seg = 0;
	seg_first[seg_no] = head.seq + 1;
	return out ? 0 : -1;
}

static int emit(enum audit_event_type t, enum audit_outcome oc, const char *user, const char *table,
                const char *error, int64_t rows, const char *detail)
{
	char obj[128];
	snprintf(obj, sizeof(obj), "table:%s", table ? table : "");
	struct audit_event ev = {
		.type = t, .outcome = oc, .error = error, .user = user, .source_ip = user ? "10.1.2.3" : NULL,
		.application = user ? "report_gen" : NULL, .session_id = user ? "s-1" : NULL, .table = table,
		.object = table ? obj : NULL, .query = t == AUDIT_EV_READ ? "SELECT * FROM t WHERE id = ?" : NULL,
		.rows_affected = rows, .encryption_enabled = true, .detail_json = detail, .time_us = now_us,
	};
	buf_reset(&line);
	if (audit_record_encode(&ctx, &ev, &head, &line) != HDB_OK)
		return -1;
	if (fwrite(line.p, 1, line.len, out) != line.len)
		return -1;
	in_seg++;
	return 0;
}

static bool final_cp;

static int checkpoint(void)
{
	struct buf d = { 0 };
	int rc = audit_checkpoint_detail(priv, DB_ID, &head, now_us, &d) == HDB_OK && buf_putc(&d, 0) == HDB_OK
	                 ? emit(AUDIT_EV_CHECKPOINT, AUDIT_SUCCESS, NULL, NULL, NULL, -1, (const char *)d.p)
	                 : -1;
	buf_free(&d);
	/* rotate after a checkpoint, as the engine does */
	if (!rc && !final_cp && nseg > 1 && seg_no + 1 < nseg && in_seg >= per_seg) {
		seg_no++;
		rc = open_segment();
	}
	return rc;
}

static unsigned long long lcg_state = 42;
static unsigned rnd(unsigned n)
{
	lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)((lcg_state >> 33) % n);
}

static void rules_for(struct buf *b, const char *p, int *passed, int *warns, int *fails, bool refused, bool *first)
{
	struct {
		const char *prof, *id, *cit, *stmt, *sev, *st, *req, *act;
	} rules[] = {
		{ "hipaa", "HIPAA-164.312(a)(2)(iv)", "45 CFR 164.312(a)(2)(iv)", "Encrypt ePHI at rest", "refuse", "pass",
		  "encryption.enabled = true", "true" },
		{ "hipaa", "HIPAA-164.312(b)", "45 CFR 164.312(b)", "Record activity in systems with ePHI", "refuse",
		  "pass", "audit.enabled = true", "true" },
		{ "hipaa", "HIPAA-164.316(b)(2)", "45 CFR 164.316(b)(2)(i)", "Keep documentation 6 years", "warn", "warn",
		  "audit.retention.days >= 2190", "365" },
		{ "pci-dss", "PCI-3.6.4", "PCI DSS 3.6.4", "Cryptoperiod for keys", "refuse", "pass",
		  "encryption.key_rotation.interval_days <= 365", "90" },
		{ "pci-dss", "PCI-10.5.1", "PCI DSS 10.5.1", "Retain audit logs 12 months", "refuse", "pass",
		  "audit.retention.days >= 365", "365" },
		{ "pci-dss", "PCI-8.3.1", "PCI DSS 8.3.1", "TLS for remote access", "refuse", "fail",
		  "server.ssl_enabled = true", "false" },
		{ "gdpr", "GDPR-32(1)(a)", "GDPR Art. 32(1)(a)", "Encryption of personal data", "refuse", "pass",
		  "encryption.enabled = true", "true" },
		{ "gdpr", "GDPR-17", "GDPR Art. 17", "Erasure overwrites data", "warn", "warn",
		  "storage.secure_delete = true", "false" },
	};
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		if (strcmp(rules[i].prof, p) != 0)
			continue;
		const char *st = rules[i].st;
		if (strcmp(st, "fail") == 0 && !refused)
			st = "pass";   /* only --refused keeps the failing rule */
		buf_printf(b, "%s{\"id\":\"%s\",\"citation\":\"%s\",\"statement\":\"%s\",\"severity\":\"%s\","
		           "\"status\":\"%s\",\"required\":\"%s\",\"actual\":\"%s\",\"fix\":\"set %s\"}",
		           *first ? "" : ",", rules[i].id, rules[i].cit, rules[i].stmt, rules[i].sev, st, rules[i].req,
		           rules[i].act, rules[i].req);
		*first = false;
		if (strcmp(st, "pass") == 0)
			(*passed)++;
		else if (strcmp(st, "warn") == 0)
			(*warns)++;
		else
			(*fails)++;
	}
}

static int start_records(const char *profiles, bool refused)
{
	if (emit(AUDIT_EV_AUDIT_START, AUDIT_SUCCESS, NULL, NULL, NULL, -1, "{\"sinks\":\"file\"}"))
		return -1;
	now_us += 1000;
	char cfgd[1024];
	snprintf(cfgd, sizeof(cfgd), "{\"file\":\"/etc/heliosdb/nano.toml\",\"sha256\":"
	         "\"5d41402abc4b2a76b9719d911017c592aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"config\":{"
	         "\"encryption.enabled\":true,\"encryption.fips\":false,\"audit.retention.days\":365,"
	         "\"compliance.profiles\":\"%s\"}}", profiles ? profiles : "");
	if (emit(AUDIT_EV_CONFIG_LOADED, AUDIT_SUCCESS, NULL, NULL, NULL, -1, cfgd))
		return -1;
	now_us += 1000;
	if (profiles && *profiles) {
		struct buf b = { 0 }, rl = { 0 };
		int passed = 0, warns = 0, fails = 0;
		bool first = true;
		char tmp[256];
		snprintf(tmp, sizeof(tmp), "%s", profiles);
		buf_printf(&b, "{\"profiles\":[");
		int k = 0;
		for (char *save = NULL, *p = strtok_r(tmp, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
			buf_printf(&b, "%s\"%s\"", k++ ? "," : "", p);
			rules_for(&rl, p, &passed, &warns, &fails, refused, &first);
		}
		buf_putc(&rl, 0);
		buf_printf(&b, "],\"passed\":%d,\"warnings\":%d,\"refusals\":%d,\"started\":%s,\"rules\":[%s]}", passed,
		           warns, fails, fails ? "false" : "true", (const char *)rl.p);
		buf_putc(&b, 0);
		int rc = emit(AUDIT_EV_PROFILE_EVALUATED, fails ? AUDIT_DENIED : AUDIT_SUCCESS, NULL, NULL, NULL, -1,
		              (const char *)b.p);
		buf_free(&b);
		buf_free(&rl);
		if (rc)
			return -1;
		now_us += 1000;
	}
	if (emit(AUDIT_EV_KEY_LOADED, AUDIT_SUCCESS, NULL, NULL, NULL, -1, "{\"key_source\":\"File\",\"fips\":false}"))
		return -1;
	now_us += 1000;
	return emit(AUDIT_EV_DB_OPEN, AUDIT_SUCCESS, "admin_root", NULL, NULL, -1, NULL);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: report_gen DIR [--records N] [--days D] [--profiles P,...] [--segments K] "
		                "[--refused] [--start YYYY-MM-DD]\n");
		return 1;
	}
	dir = argv[1];
	unsigned long nrec = 200, days = 7;
	const char *profiles = NULL, *start = "2026-01-05";
	bool refused = false;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--records") == 0 && i + 1 < argc)
			nrec = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--days") == 0 && i + 1 < argc)
			days = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--profiles") == 0 && i + 1 < argc)
			profiles = argv[++i];
		else if (strcmp(argv[i], "--segments") == 0 && i + 1 < argc)
			nseg = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--start") == 0 && i + 1 < argc)
			start = argv[++i];
		else if (strcmp(argv[i], "--refused") == 0)
			refused = true;
		else {
			fprintf(stderr, "report_gen: unknown argument '%s'\n", argv[i]);
			return 1;
		}
	}
	struct tm tm = { 0 };
	if (days < 1 || nseg < 1 || nseg > 9 || sscanf(start, "%d-%d-%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3) {
		fprintf(stderr, "report_gen: bad --days, --segments or --start\n");
		return 1;
	}
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	now_us = (int64_t)timegm(&tm) * 1000000;
	int64_t step = (int64_t)days * 86400 * 1000000 / (int64_t)(nrec + 1);
	unsigned char pub[AUDIT_SIGN_PUB_LEN];
	char err[512], path[4096], path2[4096];
	if (audit_sign_keygen(&priv, pub) != HDB_OK) {
		fprintf(stderr, "report_gen: keygen failed\n");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/audit.pub", dir);
	if (audit_pubkey_write(path, pub, err, sizeof(err)) != HDB_OK) {
		fprintf(stderr, "report_gen: %s\n", err);
		return 1;
	}
	per_seg = (nrec + 10) * 3 / (4 * nseg) + 1;   /* rotation waits for a checkpoint */
	audit_genesis(DB_ID, &head);
	if (open_segment() || start_records(profiles, refused)) {
		fprintf(stderr, "report_gen: cannot write the log\n");
		return 1;
	}
	static const char *users[] = { "doctor_smith", "nurse_jones", "admin_root", "billing_app", "mallory" };
	static const char *tables[] = { "patients", "prescriptions", "billing", "staff" };
	int rc = 0;
	for (unsigned long i = 0; i < nrec && !rc; i++) {
		now_us += step;
		unsigned k = rnd(100), u = rnd(5), t = rnd(4);
		if (k < 60)
			rc = emit(AUDIT_EV_READ, AUDIT_SUCCESS, users[u], tables[t], NULL, 1 + rnd(20), NULL);
		else if (k < 80)
			rc = emit(AUDIT_EV_WRITE, AUDIT_SUCCESS, users[u], tables[t], NULL, 1, NULL);
		else if (k < 85)
			rc = emit(AUDIT_EV_DELETE, AUDIT_SUCCESS, users[u], tables[t], NULL, 1, NULL);
		else if (k < 87)
			rc = emit(AUDIT_EV_DDL, AUDIT_SUCCESS, "admin_root", tables[t], NULL, -1, "{\"op\":\"create_index\"}");
		else if (k < 93)
			rc = emit(AUDIT_EV_ACCESS_DENIED, AUDIT_DENIED, "mallory", tables[t], NULL, -1, NULL);
		else if (k < 96)
			rc = emit(AUDIT_EV_WRITE, AUDIT_FAILURE, users[u], tables[t], "constraint violated", -1, NULL);
		else
			rc = emit(AUDIT_EV_LOGIN, AUDIT_SUCCESS, users[u], NULL, NULL, -1, NULL);
		if (!rc && head.seq % 100 == 0)
			rc = checkpoint();
	}
	if (!rc)
		rc = emit(AUDIT_EV_DB_CLOSE, AUDIT_SUCCESS, "admin_root", NULL, NULL, -1, NULL);
	if (!rc)
		rc = emit(AUDIT_EV_AUDIT_STOP, AUDIT_SUCCESS, NULL, NULL, NULL, -1, NULL);
	final_cp = true;
	if (!rc)
		rc = checkpoint();
	if (rc || fclose(out) != 0) {
		fprintf(stderr, "report_gen: cannot write the log\n");
		return 1;
	}
	/* name the segments: audit.log.<date>T000000Z.<first seq> for all but the last */
	for (unsigned long s = 0; s <= seg_no; s++) {
		snprintf(path, sizeof(path), "%s/audit.log.tmp%lu", dir, s);
		if (s == seg_no)
			snprintf(path2, sizeof(path2), "%s/audit.log", dir);
		else
			snprintf(path2, sizeof(path2), "%s/audit.log.2026010%luT000000Z.%020llu", dir, s + 1,
			         (unsigned long long)seg_first[s]);
		if (rename(path, path2) != 0) {
			perror(path2);
			return 1;
		}
	}
	secret_free(priv);
	buf_free(&line);
	printf("%llu records in %lu segment%s\n", (unsigned long long)head.seq, seg_no + 1, seg_no ? "s" : "");
	return 0;
}
