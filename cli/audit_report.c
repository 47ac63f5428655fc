/*
 * audit_report.c - the `heliosdb-nano audit-report` verb: a compliance
 * report (PDF or JSON) from the audit log, with the chain verified when the
 * public key is given.  docs/report.md describes the report; docs/cli.md
 * the options.
 *
 *   heliosdb-nano audit-report --input FILE|DIR --type TYPE --output FILE
 *       [--from DATE] [--to DATE] [--config FILE] [--pubkey FILE]
 *       [--format pdf|json] [--business-hours HH-HH]
 *
 * Order of work, and why:
 *   1. options are checked (exit 2 on any mistake) and the output's
 *      temporary file is created next to it (so an unwritable output fails
 *      before anything is read, and the final rename is atomic);
 *   2. with --config, the database is opened for the key inventory and the
 *      access is recorded (hdb_audit_access: PCI DSS 10.2.1.3) BEFORE the
 *      log is read; the database is closed again, so the access record and
 *      the db_close are in the log the report reads;
 *   3. the log is read once (report_ingest) while audit_verify checks the
 *      chain of the same files in a second thread;
 *   4. the report is written to the temporary file, synced, and renamed
 *      over the output.  Any failure removes the temporary file: there is
 *      never a partial output.
 * Exit: 0 written (whatever the verdict: it is in the report and on
 * stdout), 1 failure, 2 usage.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "access.h"
#include "audit_report.h"
#include "config.h"
#include "heliosdb.h"
#include "progress.h"
#include "report.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

static void rerr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void rerr(const char *fmt, ...)
{
	va_list ap;
	fputs("heliosdb-nano: audit-report: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: heliosdb-nano audit-report --input FILE|DIR --type TYPE --output FILE\n"
	           "           [--from DATE] [--to DATE] [--config FILE] [--pubkey FILE]\n"
	           "           [--format pdf|json] [--business-hours HH-HH]\n"
	           "  Writes a compliance report (PDF, or JSON with --format json) from the audit log.\n"
	           "  --type TYPE        %s\n"
	           "  --input FILE|DIR   the audit log (with its rotated segments), or every *.log in DIR;\n"
	           "                     default with --config: the database's audit.log_file\n"
	           "  --pubkey FILE      the audit public key: verifies the chain and checkpoints\n"
	           "                     (default with --config: the database's; without one the report\n"
	           "                     says the log was not verified)\n"
	           "  --config FILE      the database's configuration: adds the key inventory and records\n"
	           "                     the access to the audit log (PCI DSS 10.2.1.3)\n"
	           "  --from DATE        YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC), inclusive\n"
	           "  --to DATE          YYYY-MM-DD (that whole day included) or YYYY-MM-DDTHH:MM:SSZ (exclusive)\n"
	           "  --business-hours   HH-HH, UTC, Monday to Friday (default 08-18)\n"
	           "exit codes: 0 report written, 1 failure, 2 usage error\n",
	           report_type_names());
}

/* ------------------------------------------------------------ options */

/* parse_date - YYYY-MM-DD (date_only set) or YYYY-MM-DDTHH:MM:SS[.ffffff]Z. */
static bool parse_date(const char *s, int64_t *ret_us, bool *date_only)
{
	int y, mo, d, h = 0, mi = 0, se = 0, n = 0;
	size_t len = strlen(s);
	struct tm tm = { 0 };
	if (len == 10 && sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) == 3 && n == 10 && s[4] == '-' && s[7] == '-')
		*date_only = true;
	else if (len == 20 && sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &se, &n) == 6 && n == 20)
		*date_only = false;
	else if (len == AUDIT_TIME_LEN) {
		*date_only = false;
		return audit_parse_time(s, len, ret_us) == HDB_OK;
	} else
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] == ' ' || s[i] == '+')
			return false;
	if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59 || h < 0 ||
	    mi < 0 || se < 0)
		return false;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	time_t t = timegm(&tm);
	struct tm back;
	if (t == (time_t)-1 || !gmtime_r(&t, &back) || back.tm_mday != d || back.tm_mon != mo - 1)
		return false;   /* 2026-02-30 */
	*ret_us = (int64_t)t * 1000000;
	return true;
}

static bool parse_hours(const char *s, int *a, int *b)
{
	int n = 0;
	if (sscanf(s, "%2d-%2d%n", a, b, &n) != 2 || (size_t)n != strlen(s) || strlen(s) != 5)
		return false;
	return *a >= 0 && *a < *b && *b <= 24;
}

/* ------------------------------------------------------------ inputs */

/* dir_logs - the logs of a directory, as audit-verify finds them
 * (audit_dir_logs). */
static int dir_logs(const char *dir, char ***ret, size_t *ret_n)
{
	char err[512] = "";
	if (audit_dir_logs(dir, ret, ret_n, err, sizeof(err)) != HDB_OK) {
		rerr("%s", err);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

/* One log (a chain) = its segments, oldest first. */
struct log {
	char *name;
	char **segs;
	size_t nsegs;
};

static void free_logs(struct log *l, size_t n)
{
	for (size_t i = 0; l && i < n; i++) {
		free(l[i].name);
		hdb_free_names(l[i].segs, l[i].nsegs);
	}
	free(l);
}

static int find_logs(const char *input, struct log **ret, size_t *ret_n)
{
	char **names = NULL;
	size_t nn = 0;
	struct stat st;
	char err[512] = "";
	if (stat(input, &st) == 0 && S_ISDIR(st.st_mode)) {
		int x = dir_logs(input, &names, &nn);
		if (x)
			return x;
		if (nn == 0) {
			rerr("no audit log (*.log) in directory '%s'", input);
			return EXIT_FAIL;
		}
	} else {
		names = malloc(sizeof(*names));
		if (!names || !(names[0] = strdup(input))) {
			free(names);
			rerr("out of memory");
			return EXIT_FAIL;
		}
		nn = 1;
	}
	struct log *logs = calloc(nn, sizeof(*logs));
	if (!logs) {
		hdb_free_names(names, nn);
		rerr("out of memory");
		return EXIT_FAIL;
	}
	for (size_t i = 0; i < nn; i++) {
		logs[i].name = names[i];
		names[i] = NULL;
		int rc = audit_segments(logs[i].name, &logs[i].segs, &logs[i].nsegs, err, sizeof(err));
		if (rc || logs[i].nsegs == 0) {
			if (rc)
				rerr("%s", err);
			else
				rerr("no audit log at '%s' (neither the file nor rotated segments of it)", logs[i].name);
			hdb_free_names(names, nn);
			free_logs(logs, nn);
			return EXIT_FAIL;
		}
	}
	hdb_free_names(names, nn);
	*ret = logs;
	*ret_n = nn;
	return EXIT_OK;
}

/* ------------------------------------------------------------ verification thread */

#define KEEP_FINDINGS 50

struct kept_finding {
	struct audit_finding f;
	char *file, *detail;
};

struct vjob {
	const struct log *logs;
	size_t nlogs;
	unsigned char pub[AUDIT_SIGN_PUB_LEN];
	struct audit_verify_result res[64];   /* per log (at most 64 logs verified) */
	int rc[64];
	struct kept_finding kept[KEEP_FINDINGS];
	size_t nkept;
	uint64_t total;
	char err[512];
	int fatal;
};

static void collect(void *arg, const struct audit_finding *f)
{
	struct vjob *j = arg;
	j->total++;
	if (j->nkept >= KEEP_FINDINGS)
		return;
	struct kept_finding *k = &j->kept[j->nkept];
	k->f = *f;
	k->file = strdup(f->file ? f->file : "");
	k->detail = strdup(f->detail ? f->detail : "");
	if (!k->file || !k->detail) {
		free(k->file);
		free(k->detail);
		return;
	}
	k->f.file = k->file;
	k->f.detail = k->detail;
	j->nkept++;
}

static void *verify_thread(void *arg)
{
	struct vjob *j = arg;
	for (size_t i = 0; i < j->nlogs && i < 64; i++) {
		j->rc[i] = audit_verify(j->logs[i].segs, j->logs[i].nsegs, j->pub, collect, j, &j->res[i], j->err,
		                        sizeof(j->err));
		if (j->rc[i] != HDB_OK && j->rc[i] != HDB_ECORRUPT) {
			j->fatal = j->rc[i];
			break;
		}
	}
	return NULL;
}

/* ------------------------------------------------------------ progress */

static void progress(void *arg, uint64_t done, uint64_t total)
{
	cli_progress(arg, done, total);
}

/* ------------------------------------------------------------ the database */

static const char *key_kind_name(enum hdb_key_source_kind k)
{
	switch (k) {
	case HDB_KEY_ENVIRONMENT: return "environment";
	case HDB_KEY_FILE: return "file";
	case HDB_KEY_PASSWORD: return "password";
	case HDB_KEY_CREDENTIAL: return "credential";
	default: return "none";
	}
}

struct keyctx {
	struct report *r;
	int rc;
};

static int on_key(void *arg, const struct hdb_key_info *ki)
{
	struct keyctx *k = arg;
	struct report_key rk = { ki->key_id, ki->created, ki->encryptions, ki->active, ki->retired };
	k->rc = report_add_key(k->r, &rk);
	return k->rc ? HDB_ENOMEM : 0;
}

/* with_database - the --config part (see the file comment, step 2): fills
 * r's cryptography, sets *ret_input / *ret_pubkey to the database's paths
 * (malloc'd) when the caller gave none. */
static int with_database(const char *config, const char *input, struct report *r, char **ret_input,
                         char **ret_pubkey)
{
	struct hdb_config *cfg = NULL;
	struct hdb_db *db = NULL;
	struct hdb_session *s = NULL;
	int x = EXIT_FAIL;
	int rc = hdb_config_load(config, &cfg);
	if (rc) {
		rerr("%s", cfg ? hdb_config_errmsg(cfg) : hdb_strerror(rc));
		x = EXIT_USAGE;
		goto out;
	}
	rc = hdb_open(NULL, cfg, 0, &db);
	if (rc) {
		rerr("cannot open the database of '%s': %s", config, db ? hdb_errmsg(db) : hdb_strerror(rc));
		if (rc == HDB_ECOMPLIANCE)
			x = 4;   /* refused by a compliance profile, as every verb */
		goto out;
	}
	struct hdb_principal who = { cli_whoami(), "local", "audit-report" };
	rc = hdb_session_open(db, &who, &s);
	if (rc) {
		rerr("cannot open a session: %s", hdb_errmsg(db));
		goto out;
	}
	const char *lp = hdb_audit_log_path(db), *pp = hdb_audit_pubkey_path(db);
	if (!input && !lp) {
		rerr("the database of '%s' has no audit log (audit disabled): pass --input", config);
		x = EXIT_USAGE;
		goto out;
	}
	*ret_input = strdup(input ? input : lp);
	*ret_pubkey = pp ? strdup(pp) : NULL;
	if (!*ret_input || (pp && !*ret_pubkey)) {
		rerr("out of memory");
		goto out;
	}
	/* PCI DSS 10.2.1.3: the access is on disk before the log is read */
	rc = hdb_audit_access(s, "audit-report", *ret_input);
	if (rc) {
		rerr("cannot record the access to the audit log: %s", hdb_session_errmsg(s));
		goto out;
	}
	struct keyctx kc = { r, 0 };
	rc = hdb_key_list(s, on_key, &kc);
	if (rc || kc.rc) {
		char why[256];
		snprintf(why, sizeof(why), "the key list could not be read (%s)", hdb_session_errmsg(s));
		report_set_keys_unavailable(r, why);
	}
	char profs[256] = "";
	for (size_t i = 0; i < cfg->nprofiles; i++)
		snprintf(profs + strlen(profs), sizeof(profs) - strlen(profs), "%s%s", i ? ", " : "", cfg->profiles[i]);
	struct report_crypto c = {
		.have_config = true,
		.config_file = config,
		.algorithm = cfg->enc_enabled ? "AES-256-GCM" : "none (encryption disabled)",
		.key_source = key_kind_name(cfg->key_kind),
		.fips = cfg->fips,
		.max_encryptions = cfg->max_encryptions,
		.cryptoperiod_days = cfg->rotation_interval_days,
		.rotation_enabled = cfg->rotation_enabled,
		.retention_days = cfg->retention_days,
		.retention_justification = cfg->retention_justification,
		.db_id = hdb_db_id(db),
		.profiles = profs[0] ? profs : NULL,
	};
	if (report_set_crypto(r, &c)) {
		rerr("out of memory");
		goto out;
	}
	x = EXIT_OK;
out:
	hdb_session_close(s);
	hdb_close(db);   /* before reading: the db_close record is in the log read */
	hdb_config_free(cfg);
	return x;
}

/* ------------------------------------------------------------ output */

struct out {
	char *path, *tmp;
	FILE *f;
};

static int out_open(struct out *o, const char *path)
{
	o->path = strdup(path);
	size_t n = strlen(path) + 16;
	o->tmp = malloc(n);
	if (!o->path || !o->tmp) {
		rerr("out of memory");
		return EXIT_FAIL;
	}
	snprintf(o->tmp, n, "%s.tmp.XXXXXX", path);
	struct stat st;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		rerr("--output '%s' is a directory", path);
		return EXIT_FAIL;
	}
	int fd = mkstemp(o->tmp);
	if (fd < 0) {
		rerr("cannot create output '%s': %s", path, strerror(errno));
		free(o->tmp);
		o->tmp = NULL;
		return EXIT_FAIL;
	}
	mode_t um = umask(0);
	umask(um);
	/* 0640 at most: a report names users and addresses (group: heliosdb-audit) */
	if (fchmod(fd, 0640 & ~um) != 0) {
		/* keep 0600: not an error */
	}
	o->f = fdopen(fd, "wb");
	if (!o->f) {
		close(fd);
		rerr("cannot create output '%s': %s", path, strerror(errno));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

/* out_abort - removes the temporary file: never a partial output. */
static void out_abort(struct out *o)
{
	if (o->f)
		fclose(o->f);
	if (o->tmp)
		unlink(o->tmp);
	free(o->tmp);
	free(o->path);
	memset(o, 0, sizeof(*o));
}

static int out_commit(struct out *o)
{
	int x = EXIT_OK;
	if (fflush(o->f) != 0 || fsync(fileno(o->f)) != 0) {
		rerr("cannot write output '%s': %s", o->path, strerror(errno));
		x = EXIT_FAIL;
	}
	if (fclose(o->f) != 0 && !x) {
		rerr("cannot write output '%s': %s", o->path, strerror(errno));
		x = EXIT_FAIL;
	}
	o->f = NULL;
	if (!x && rename(o->tmp, o->path) != 0) {
		rerr("cannot rename '%s' to '%s': %s", o->tmp, o->path, strerror(errno));
		x = EXIT_FAIL;
	}
	if (x)
		unlink(o->tmp);
	free(o->tmp);
	free(o->path);
	memset(o, 0, sizeof(*o));
	return x;
}

/* ------------------------------------------------------------ the verb */

int cmd_audit_report(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "input", required_argument, NULL, 'i' },  { "type", required_argument, NULL, 't' },
		{ "output", required_argument, NULL, 'o' }, { "from", required_argument, NULL, 'F' },
		{ "to", required_argument, NULL, 'T' },     { "config", required_argument, NULL, 'c' },
		{ "pubkey", required_argument, NULL, 'k' }, { "format", required_argument, NULL, 'f' },
		{ "business-hours", required_argument, NULL, 'b' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *input = NULL, *type = NULL, *output = NULL, *from = NULL, *to = NULL, *config = NULL,
	           *pubkey = NULL, *format = "pdf", *hours = "08-18";
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "i:t:o:F:T:c:k:f:b:h", opts, NULL)) != -1) {
		switch (c) {
		case 'i': input = optarg; break;
		case 't': type = optarg; break;
		case 'o': output = optarg; break;
		case 'F': from = optarg; break;
		case 'T': to = optarg; break;
		case 'c': config = optarg; break;
		case 'k': pubkey = optarg; break;
		case 'f': format = optarg; break;
		case 'b': hours = optarg; break;
		case 'h': usage(stdout); return EXIT_OK;
		default:
			rerr("unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		rerr("unexpected argument '%s' (see --help)", argv[optind]);
		return EXIT_USAGE;
	}
	if (!type || !output || (!input && !config)) {
		rerr("--type, --output and --input (or --config) are required (see --help)");
		return EXIT_USAGE;
	}
	struct report_opts ro = { .from_us = INT64_MIN, .to_us = INT64_MAX };
	int t = report_type_lookup(type);
	if (t < 0) {
		rerr("unknown --type '%s' (one of: %s)", type, report_type_names());
		return EXIT_USAGE;
	}
	ro.type = (enum report_type)t;
	bool json = strcmp(format, "json") == 0;
	if (!json && strcmp(format, "pdf") != 0) {
		rerr("unknown --format '%s' (pdf or json)", format);
		return EXIT_USAGE;
	}
	bool date_only;
	if (from && !parse_date(from, &ro.from_us, &date_only)) {
		rerr("bad --from '%s' (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC)", from);
		return EXIT_USAGE;
	}
	if (to) {
		if (!parse_date(to, &ro.to_us, &date_only)) {
			rerr("bad --to '%s' (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC)", to);
			return EXIT_USAGE;
		}
		if (date_only)
			ro.to_us += INT64_C(86400000000);   /* the whole day */
	}
	if (ro.from_us > ro.to_us || (from && to && ro.from_us == ro.to_us)) {
		rerr("--from '%s' is not before --to '%s'", from, to);
		return EXIT_USAGE;
	}
	if (!parse_hours(hours, &ro.bh_start, &ro.bh_end)) {
		rerr("bad --business-hours '%s' (HH-HH, 00-24, start before end, e.g. 08-18)", hours);
		return EXIT_USAGE;
	}

	struct report *r = NULL;
	struct out out = { 0 };
	struct log *logs = NULL;
	size_t nlogs = 0;
	char *db_input = NULL, *db_pubkey = NULL, err[512] = "";
	struct vjob *job = NULL;
	bool thread = false;
	pthread_t th;
	int x = EXIT_FAIL;
	if (report_new(&ro, &r) != HDB_OK) {
		rerr("out of memory");
		goto out;
	}
	/* 1. the output first: an unwritable one fails before anything is read */
	x = out_open(&out, output);
	if (x)
		goto out;
	x = EXIT_FAIL;
	/* 2. the database, when given */
	if (config) {
		x = with_database(config, input, r, &db_input, &db_pubkey);
		if (x)
			goto out;
		x = EXIT_FAIL;
		input = db_input;
		if (!pubkey)
			pubkey = db_pubkey;
	} else
		report_set_keys_unavailable(r, "no --config given: the report was made from the log files alone");
	/* 3. the log */
	if (find_logs(input, &logs, &nlogs))
		goto out;
	for (size_t i = 0; i < nlogs; i++)
		for (size_t k = 0; k < logs[i].nsegs; k++)
			if (report_add_input(r, logs[i].segs[k])) {
				rerr("out of memory");
				goto out;
			}
	if (pubkey) {
		job = calloc(1, sizeof(*job));
		if (!job) {
			rerr("out of memory");
			goto out;
		}
		if (audit_pubkey_read(pubkey, job->pub, err, sizeof(err)) != HDB_OK) {
			rerr("--pubkey: %s", err);
			goto out;
		}
		job->logs = logs;
		job->nlogs = nlogs;
		if (nlogs > 64) {
			rerr("--input '%s' holds %zu logs; at most 64 can be verified in one report", input, nlogs);
			goto out;
		}
		if (pthread_create(&th, NULL, verify_thread, job) != 0) {
			rerr("cannot start the verification thread");
			goto out;
		}
		thread = true;
	}
	struct cli_progress pg;
	cli_progress_init(&pg, "reading audit log", NULL, false);
	int rc = report_ingest(r, progress, &pg, err, sizeof(err));
	if (thread) {
		pthread_join(th, NULL);
		thread = false;
	}
	if (rc) {
		rerr("%s", err);
		goto out;
	}
	if (job) {
		if (job->fatal) {
			rerr("cannot verify the audit log: %s", job->err);
			goto out;
		}
		for (size_t i = 0; i < nlogs; i++)
			report_set_verify(r, job->rc[i] == HDB_OK ? REPORT_VERIFIED : REPORT_TAMPERED, &job->res[i], NULL);
		for (size_t i = 0; i < job->nkept; i++)
			report_add_finding(r, &job->kept[i].f);
	} else
		report_set_verify(r, REPORT_NOT_VERIFIED, NULL, "no public key");
	/* 4. the output */
	int pages = 0;
	rc = json ? report_write_json(r, out.f, err, sizeof(err)) : report_write_pdf(r, out.f, &pages, err, sizeof(err));
	if (rc) {
		rerr("cannot write '%s': %s", output, err);
		goto out;
	}
	x = out_commit(&out);
	if (x)
		goto out;
	/* 5. with a database, the report's SHA-256 goes into its signed log
	 * (export_run): the report can then be proven to be the one generated.
	 * No report leaves without its record (fail closed). */
	char sha[65] = "";
	if (cli_file_sha256(output, sha) != 0) {
		rerr("cannot read back '%s' to hash it: %s", output, strerror(errno));
		unlink(output);
		x = EXIT_FAIL;
		goto out;
	}
	if (config) {
		x = cli_record_export(config, "audit-report", output, sha, type);
		if (x) {
			unlink(output);
			goto out;
		}
	}
	printf("audit-report: wrote %s (%s", output, json ? "json" : "pdf");
	if (!json)
		printf(", %d page%s", pages, pages == 1 ? "" : "s");
	printf("): %s, %" PRIu64 " records in the period, integrity: %s\n", type, report_records_in_period(r),
	       report_verdict_text(r));
	printf("  sha256 %s%s\n", sha, config ? " (recorded in the audit log: export_run)" : "");
out:
	if (thread)
		pthread_join(th, NULL);
	if (out.tmp || out.path)
		out_abort(&out);
	if (job)
		for (size_t i = 0; i < job->nkept; i++) {
			free(job->kept[i].file);
			free(job->kept[i].detail);
		}
	free(job);
	free_logs(logs, nlogs);
	free(db_input);
	free(db_pubkey);
	report_free(r);
	return x;
}
