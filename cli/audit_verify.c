/*
 * audit_verify.c - the `heliosdb-nano audit-verify` verb: proves that an
 * audit log was not altered, from the log files and the public key alone
 * (no database, no master key: an auditor can run it on a copy).
 *
 *   heliosdb-nano audit-verify --input FILE|DIR --pubkey FILE [--journal]
 *
 * --input FILE   the log_file: FILE and its rotated segments
 *                (FILE.<YYYYMMDDTHHMMSSZ>.<seq>), in order (audit_segments)
 * --input DIR    every log in DIR: each name ending in ".log", and each base
 *                name whose rotated segments are there even if the active
 *                file is gone; each log is verified as its own chain
 * --pubkey FILE  the checkpoint public key (audit_pubkey_read)
 * --journal      also checks that journald holds every record with the same
 *                hash (audit_journal_seqs); journald drops entries past its
 *                rate limit silently, so this is how an auditor finds out
 *
 * Output (stdout): one line per finding, "FILE:LINE: seq N: <problem>:
 * <detail>", then per log a summary: records, seq range, checkpoints,
 * segments and the verdict "chain verified" or "TAMPERED/INCOMPLETE".
 * Exit: 0 clean, 1 findings (or a log that cannot be read), 2 usage,
 * 3 the public key file is missing or malformed.
 */
#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audit.h"
#include "access.h"
#include "audit_verify.h"
#include "progress.h"

enum { EXIT_CLEAN = 0, EXIT_FINDINGS = 1, EXIT_USAGE = 2, EXIT_PUBKEY = 3 };

static void verr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void verr(const char *fmt, ...)
{
	va_list ap;
	fputs("heliosdb-nano: audit-verify: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: heliosdb-nano audit-verify --input FILE|DIR --pubkey FILE [--journal]\n"
	           "       heliosdb-nano audit-verify --config FILE [--journal]\n"
	           "  Checks the audit log's hash chain, sequence numbers, segments and signed\n"
	           "  checkpoints, and reports the first bad FILE:LINE of each kind of tampering.\n"
	           "  --input FILE   the log file and its rotated segments\n"
	           "  --input DIR    every *.log in DIR (each with its rotated segments)\n"
	           "  --pubkey FILE  the audit public key exported at init\n"
	           "  --journal      also check that journald holds every record\n"
	           "  --config FILE  the database's own log and key; the reading is recorded in it\n"
	           "                 first as an audit_access event (PCI DSS 10.2.1.3)\n"
	           "exit codes: 0 verified, 1 findings, 2 usage error, 3 bad public key file\n");
}

/* arg: the progress bar on stderr (or NULL): on a terminal its line is
 * cleared first and redrawn by the next update. */
static void print_finding(void *arg, const struct audit_finding *f)
{
	struct cli_progress *pg = arg;
	if (pg && pg->tty && pg->last >= 0 && pg->last < 100) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		pg->last = -1;
	}
	printf("%s:%" PRIu64 ": seq %" PRIu64 ": %s: %s\n", f->file, f->line, f->seq, audit_problem_name(f->problem),
	       f->detail);
}

static void progress(void *arg, uint64_t done, uint64_t total)
{
	cli_progress(arg, done, total);
}

/* ------------------------------------------------------------ --journal */

struct jent {
	uint64_t seq;
	unsigned char hash[32];
};

struct jset {
	struct jent *v;
	size_t n, cap;
	bool oom;
};

static void jcollect(void *arg, uint64_t seq, const char *hash_hex)
{
	struct jset *j = arg;
	if (j->oom)
		return;
	if (j->n == j->cap) {
		size_t ncap = j->cap ? 2 * j->cap : 1024;
		struct jent *nv = realloc(j->v, ncap * sizeof(*nv));
		if (!nv) {
			j->oom = true;
			return;
		}
		j->v = nv;
		j->cap = ncap;
	}
	if (hex_decode(hash_hex, strlen(hash_hex), j->v[j->n].hash, 32) == HDB_OK)
		j->v[j->n++].seq = seq;
}

static int jcmp(const void *a, const void *b)
{
	const struct jent *x = a, *y = b;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return memcmp(x->hash, y->hash, 32);
}

/* jhas - 1: present with this hash, 0: absent, -1: only with other hashes */
static int jhas(const struct jset *j, uint64_t seq, const unsigned char hash[32])
{
	size_t lo = 0, hi = j->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (j->v[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	int r = 0;
	for (; lo < j->n && j->v[lo].seq == seq; lo++) {
		if (memcmp(j->v[lo].hash, hash, 32) == 0)
			return 1;
		r = -1;
	}
	return r;
}

/* line_seq_hash - seq (from the fixed prefix {"seq":N,) and hash (from the
 * final member) of a record line; false for anything else (audit_verify
 * reports those). */
static bool line_seq_hash(const char *l, size_t n, uint64_t *ret_seq, unsigned char hash[32], char *db_id)
{
	static const char pre[] = "{\"seq\":", hm[] = ",\"hash\":\"", dm[] = "\"db_id\":\"";
	size_t i = sizeof(pre) - 1;
	uint64_t seq = 0;
	if (n < i + 80 || memcmp(l, pre, i) != 0)
		return false;
	for (; i < n && l[i] >= '0' && l[i] <= '9' && seq < UINT64_MAX / 10 - 9; i++)
		seq = seq * 10 + (uint64_t)(l[i] - '0');
	const char *t = l + n - (sizeof(hm) - 1) - 64 - 2;
	if (seq == 0 || memcmp(t, hm, sizeof(hm) - 1) != 0 ||
	    hex_decode(t + sizeof(hm) - 1, 64, hash, 32) != HDB_OK)
		return false;
	if (db_id && !db_id[0]) {
		const char *d = memmem(l, n, dm, sizeof(dm) - 1);
		if (d && (size_t)(l + n - d) > sizeof(dm) - 1 + 33 && d[sizeof(dm) - 1 + 32] == '"') {
			memcpy(db_id, d + sizeof(dm) - 1, 32);
			db_id[32] = '\0';
		}
	}
	*ret_seq = seq;
	return true;
}

/* A run of consecutive records missing from the journal: one finding. */
struct run {
	bool open, other;
	uint64_t first, last, line;
	char file[4096];
};

static void flush_run(struct run *r, long *found)
{
	if (!r->open)
		return;
	char d[256];
	if (r->other)
		snprintf(d, sizeof(d), "journald's entry for this seq has a different hash");
	else if (r->first == r->last)
		snprintf(d, sizeof(d), "journald has no entry with this seq (dropped by its rate limit, or deleted)");
	else
		snprintf(d, sizeof(d), "journald has no entries for seq %" PRIu64 "..%" PRIu64 " (%" PRIu64
		         " records: dropped by its rate limit, or deleted)", r->first, r->last, r->last - r->first + 1);
	struct audit_finding fd = {
		.problem = AUDIT_JOURNAL_MISSING, .file = r->file, .line = r->line, .seq = r->first, .detail = d,
	};
	print_finding(NULL, &fd);
	(*found)++;
	r->open = false;
}

/* check_journal - one finding per record journald lacks (or holds with
 * another hash); returns the number of findings, or -1 on error. */
static long check_journal(char *const *segs, size_t n)
{
	char db_id[33] = "", err[512] = "";
	char *line = NULL;
	size_t cap = 0;
	long found = 0;
	struct jset j = { 0 };
	/* the database id, from the first record */
	for (size_t i = 0; i < n && !db_id[0]; i++) {
		FILE *f = fopen(segs[i], "r");
		if (!f)
			continue;
		ssize_t len;
		uint64_t seq;
		unsigned char h[32];
		while (!db_id[0] && (len = getline(&line, &cap, f)) > 0)
			line_seq_hash(line, (size_t)len - (line[len - 1] == '\n'), &seq, h, db_id);
		fclose(f);
	}
	if (!db_id[0]) {
		verr("--journal: no record in the log names its database");
		free(line);
		return -1;
	}
	if (audit_journal_seqs(db_id, 0, jcollect, &j, err, sizeof(err)) != HDB_OK || j.oom) {
		verr("--journal: %s", j.oom ? "out of memory" : err);
		free(j.v);
		free(line);
		return -1;
	}
	qsort(j.v, j.n, sizeof(*j.v), jcmp);
	size_t distinct = 0;
	for (size_t i = 0; i < j.n; i++)
		if (i == 0 || jcmp(&j.v[i - 1], &j.v[i]) != 0)
			distinct++;
	uint64_t records = 0, present = 0;
	struct run run = { 0 };
	for (size_t i = 0; i < n; i++) {
		FILE *f = fopen(segs[i], "r");
		if (!f) {
			verr("cannot open audit log '%s': %s", segs[i], strerror(errno));
			found = -1;
			break;
		}
		ssize_t len;
		uint64_t ln = 0, seq;
		unsigned char h[32];
		while ((len = getline(&line, &cap, f)) > 0) {
			ln++;
			if (!line_seq_hash(line, (size_t)len - (line[len - 1] == '\n'), &seq, h, NULL))
				continue;
			int r = jhas(&j, seq, h);
			records++;
			if (r == 1) {
				present++;
				flush_run(&run, &found);
				continue;
			}
			if (r == 0 && run.open && !run.other && seq == run.last + 1) {
				run.last = seq;   /* one finding per run of missing records */
				continue;
			}
			flush_run(&run, &found);
			run.open = true;
			run.other = r != 0;
			run.first = run.last = seq;
			run.line = ln;
			snprintf(run.file, sizeof(run.file), "%s", segs[i]);
		}
		fclose(f);
	}
	flush_run(&run, &found);
	uint64_t other = distinct > present ? (uint64_t)distinct - present : 0;
	/* entries beyond the records: sent again after a crash (at least
	 * once, docs/journald.md), or of records in other files (segments
	 * retention deleted) */
	printf("journal: %zu entries of database %s: %" PRIu64 " of the log's %" PRIu64 " records found; "
	       "%zu duplicate entr%s (sent again after a crash); %" PRIu64 " entr%s of records not in these files\n",
	       j.n, db_id, present, records, j.n - distinct, j.n - distinct == 1 ? "y" : "ies",
	       other, other == 1 ? "y" : "ies");
	free(j.v);
	free(line);
	return found;
}

/* ------------------------------------------------------------ one log */

/* verify_log - verifies log_file and its segments; returns the exit code. */
static int verify_log(const char *log_file, const unsigned char pub[AUDIT_SIGN_PUB_LEN], bool journal)
{
	char err[512] = "";
	char **segs = NULL;
	size_t n = 0;
	int rc = audit_segments(log_file, &segs, &n, err, sizeof(err));
	if (rc) {
		verr("%s", err);
		return EXIT_FINDINGS;
	}
	if (n == 0) {
		verr("no audit log at '%s' (neither the file nor rotated segments of it)", log_file);
		hdb_free_names(segs, n);
		return EXIT_FINDINGS;
	}
	printf("audit log: %s (%zu segment%s)\n", log_file, n, n == 1 ? "" : "s");
	struct audit_verify_result res;
	struct cli_progress pg;
	cli_progress_init(&pg, "verifying", NULL, false);   /* a bar on a terminal only */
	struct audit_verify_opts vo = { .progress = progress, .progress_arg = &pg };
	rc = audit_verify_ex(segs, n, pub, &vo, print_finding, &pg, &res, err, sizeof(err));
	if (pg.tty && pg.last >= 0 && pg.last < 100)
		fputc('\n', stderr);   /* stopped short of the end: end the bar's line */
	if (rc != HDB_OK && rc != HDB_ECORRUPT) {
		verr("%s", err);
		hdb_free_names(segs, n);
		return EXIT_FINDINGS;
	}
	uint64_t findings = res.findings;
	if (rc == HDB_ECORRUPT && res.findings >= 1000)
		printf("(%s)\n", err);
	if (journal) {
		long jf = check_journal(segs, n);
		if (jf < 0) {
			hdb_free_names(segs, n);
			return EXIT_FINDINGS;
		}
		findings += (uint64_t)jf;
	}
	printf("  records:     %" PRIu64 " (seq %" PRIu64 "..%" PRIu64 ")\n", res.records, res.first_seq,
	       res.last_seq);
	printf("  checkpoints: %" PRIu64 " (last signed seq %" PRIu64 ")\n", res.checkpoints, res.last_signed_seq);
	printf("  segments:    %" PRIu64 "\n", res.segments);
	if (findings == 0)
		printf("  verdict:     chain verified\n");
	else
		printf("  verdict:     TAMPERED/INCOMPLETE (%" PRIu64 " finding%s)\n", findings,
		       findings == 1 ? "" : "s");
	hdb_free_names(segs, n);
	return findings ? EXIT_FINDINGS : EXIT_CLEAN;
}

/* ------------------------------------------------------------ DIR */

/* dir_logs - the base names of the logs in dir (see the file comment). */
static int dir_logs(const char *dir, char ***ret, size_t *ret_n)
{
	char err[512] = "";
	if (audit_dir_logs(dir, ret, ret_n, err, sizeof(err)) != HDB_OK) {
		verr("%s", err);
		return EXIT_FINDINGS;
	}
	return EXIT_CLEAN;
}

static int verify_input(const char *input, const char *pubkey, bool journal);

int cmd_audit_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "input", required_argument, NULL, 'i' }, { "pubkey", required_argument, NULL, 'k' },
		{ "journal", no_argument, NULL, 'j' },     { "help", no_argument, NULL, 'h' },
		{ "config", required_argument, NULL, 'c' }, { NULL, 0, NULL, 0 },
	};
	const char *input = NULL, *pubkey = NULL, *config = NULL;
	char *own_log = NULL, *own_pub = NULL;
	bool journal = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "i:k:c:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'i': input = optarg; break;
		case 'k': pubkey = optarg; break;
		case 'j': journal = true; break;
		case 'h': usage(stdout); return EXIT_CLEAN;
		default:
			verr("unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		verr("unexpected argument '%s' (see --help)", argv[optind]);
		return EXIT_USAGE;
	}
	if (config) {
		/* the database's own log: the reading is recorded first (PCI DSS 10.2.1.3) */
		int x = cli_record_access(config, "audit-verify", input, &own_log, &own_pub);
		if (x)
			return x;
		if (!input)
			input = own_log;
		if (!pubkey)
			pubkey = own_pub;
	}
	if (!input || !pubkey) {
		verr("--input and --pubkey are required, or --config (see --help)");
		free(own_log);
		free(own_pub);
		return EXIT_USAGE;
	}
	int ret = verify_input(input, pubkey, journal);
	free(own_log);
	free(own_pub);
	return ret;
}

static int verify_input(const char *input, const char *pubkey, bool journal)
{
	unsigned char pub[AUDIT_SIGN_PUB_LEN];
	char err[512] = "";
	if (audit_pubkey_read(pubkey, pub, err, sizeof(err)) != HDB_OK) {
		verr("%s", err);
		return EXIT_PUBKEY;
	}
	struct stat st;
	if (stat(input, &st) == 0 && S_ISDIR(st.st_mode)) {
		char **logs = NULL;
		size_t n = 0;
		int rc = dir_logs(input, &logs, &n);
		if (rc)
			return rc;
		if (n == 0) {
			verr("no audit log (*.log) in directory '%s'", input);
			return EXIT_FINDINGS;
		}
		int worst = EXIT_CLEAN;
		for (size_t i = 0; i < n; i++) {
			rc = verify_log(logs[i], pub, journal);
			if (rc > worst)
				worst = rc;
		}
		hdb_free_names(logs, n);
		return worst;
	}
	return verify_log(input, pub, journal);
}
