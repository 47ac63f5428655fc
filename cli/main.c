/*
 * main.c - the heliosdb-nano command-line tool.
 *
 * One function per verb, all reached from the table `verbs`.  Exit codes
 * (docs/cli.md): 0 success, 1 the operation failed (I/O, corruption, a
 * failed verification), 2 usage or configuration error, 3 key error
 * (wrong key, key source missing, malformed or insecure).
 *
 * The tool prints what it did on stdout and errors, one line each, on
 * stderr as "heliosdb-nano: <verb>: <message>".  It never prints key
 * material, except `keygen` without --output, whose whole job that is.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "access.h"
#include "audit_report.h"
#include "audit_verify.h"
#include "progress.h"
#include "config.h"
#include "heliosdb.h"
#include "keys.h"
#include "toml.h"
#include "util.h"

extern char **environ;

enum { EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_KEY = 3, EXIT_REFUSED = 4 };

static const char *verb_name = "";

/* LMDB trusts its page structure: a corrupt page can make it fault.  The
 * tool turns that into a clear one-line error and exit 1 instead of a
 * crash (core dumps are off anyway once a key is loaded). */
static void on_fault(int sig)
{
	static const char a[] = "heliosdb-nano: ";
	static const char b[] = ": the data file is corrupt (LMDB page structure damaged; reading it faulted); "
	                        "no data was changed: restore data.mdb from a backup\n";
	(void)sig;
	ssize_t w = write(STDERR_FILENO, a, sizeof(a) - 1);
	w = write(STDERR_FILENO, verb_name, strlen(verb_name));
	w = write(STDERR_FILENO, b, sizeof(b) - 1);
	(void)w;
	_exit(1);
}

static void install_fault_handler(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fault;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
}

static void errx_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void errx_(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "heliosdb-nano: %s%s", verb_name, *verb_name ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int exit_for(int rc)
{
	switch (rc) {
	case HDB_OK: return 0;
	case HDB_EKEY: case HDB_EKEYSRC: case HDB_EPERM: return EXIT_KEY;
	case HDB_EPARSE: case HDB_ECONFIG: case HDB_EINVAL: return EXIT_USAGE;
	case HDB_ECOMPLIANCE: return EXIT_REFUSED;
	default: return EXIT_FAIL;
	}
}

/* ------------------------------------------------------------ options */

struct opts {
	const char *config;
	const char *path;
	const char *key_source;
	const char *new_key_source;
	const char *output;
	const char *from;
	const char *check;
	const char *format;
	const char *profiles[16];
	size_t nprofiles;
	bool plaintext;
	bool encrypted;
	bool dry_run;
	size_t batch;
	bool help;
};

static const struct option long_opts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "path", required_argument, NULL, 'p' },
	{ "input", required_argument, NULL, 'p' },
	{ "key-source", required_argument, NULL, 'k' },
	{ "new-key-source", required_argument, NULL, 'n' },
	{ "output", required_argument, NULL, 'o' },
	{ "from", required_argument, NULL, 'f' },
	{ "check", required_argument, NULL, 'C' },
	{ "format", required_argument, NULL, 'F' },
	{ "profile", required_argument, NULL, 'R' },
	{ "encrypted", no_argument, NULL, 'E' },
	{ "plaintext", no_argument, NULL, 'P' },
	{ "dry-run", no_argument, NULL, 'D' },
	{ "batch", required_argument, NULL, 'b' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "c:p:k:n:o:h", long_opts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case 'p': o->path = optarg; break;
		case 'k': o->key_source = optarg; break;
		case 'n': o->new_key_source = optarg; break;
		case 'o': o->output = optarg; break;
		case 'f': o->from = optarg; break;
		case 'C': o->check = optarg; break;
		case 'F': o->format = optarg; break;
		case 'R':
			if (o->nprofiles == sizeof(o->profiles) / sizeof(o->profiles[0])) {
				errx_("too many --profile options");
				return EXIT_USAGE;
			}
			o->profiles[o->nprofiles++] = optarg;
			break;
		case 'E': o->encrypted = true; break;
		case 'P': o->plaintext = true; break;
		case 'D': o->dry_run = true; break;
		case 'b': {
			char *end;
			errno = 0;
			unsigned long v = strtoul(optarg, &end, 10);
			if (errno || *end || v == 0 || v > 1000000) {
				errx_("--batch must be a number from 1 to 1000000, got '%s'", optarg);
				return EXIT_USAGE;
			}
			o->batch = v;
			break;
		}
		case 'h': o->help = true; break;
		default:
			if (optopt)
				errx_("unknown or incomplete option '-%c' (see --help)", optopt);
			else
				errx_("unknown option '%s' (see --help)", argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		errx_("unexpected argument '%s' (see --help)", argv[optind]);
		return EXIT_USAGE;
	}
	return 0;
}

/* "env[:VAR]", "file:PATH", "password[:VAR]", "credential:NAME" */
static int apply_key_source(struct hdb_config *cfg, const char *spec)
{
	static const struct {
		const char *name;
		enum hdb_key_source_kind kind;
		const char *dflt;
	} kinds[] = {
		{ "env", HDB_KEY_ENVIRONMENT, CONFIG_DEFAULT_KEY_ENV },
		{ "file", HDB_KEY_FILE, NULL },
		{ "password", HDB_KEY_PASSWORD, "HELIOSDB_PASSWORD" },
		{ "credential", HDB_KEY_CREDENTIAL, NULL },
	};
	const char *colon = strchr(spec, ':');
	size_t nl = colon ? (size_t)(colon - spec) : strlen(spec);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strlen(kinds[i].name) != nl || strncmp(spec, kinds[i].name, nl) != 0)
			continue;
		const char *arg = colon && colon[1] ? colon + 1 : kinds[i].dflt;
		if (!arg) {
			errx_("key source '%s' needs an argument, e.g. %s:/etc/heliosdb/encryption.key", spec,
			      kinds[i].name);
			return EXIT_USAGE;
		}
		int rc = hdb_config_set_key_source(cfg, kinds[i].kind, arg);
		if (rc) {
			errx_("bad key source '%s': %s", spec, hdb_strerror(rc));
			return EXIT_USAGE;
		}
		return 0;
	}
	errx_("unknown key source '%s' (use env[:VAR], file:PATH, password[:VAR] or credential:NAME)", spec);
	return EXIT_USAGE;
}

/* Reads a password from the terminal without echo. */
static int prompt_password(struct hdb_config *cfg, const char *what)
{
	FILE *tty = fopen("/dev/tty", "r+");
	if (!tty)
		return -1;
	struct termios old, quiet;
	int fd = fileno(tty);
	if (tcgetattr(fd, &old) != 0) {
		fclose(tty);
		return -1;
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	fprintf(tty, "%s: ", what);
	fflush(tty);
	tcsetattr(fd, TCSAFLUSH, &quiet);
	char pw[1024];
	char *got = fgets(pw, sizeof(pw), tty);
	tcsetattr(fd, TCSAFLUSH, &old);
	fputc('\n', tty);
	fclose(tty);
	int rc = -1;
	if (got) {
		size_t n = strcspn(pw, "\r\n");
		rc = hdb_config_set_password(cfg, pw, n) == HDB_OK ? 0 : -1;
	}
	OPENSSL_cleanse(pw, sizeof(pw));
	return rc;
}

static int maybe_prompt(struct hdb_config *cfg, const char *what)
{
	if (cfg->key_kind != HDB_KEY_PASSWORD || cfg->password)
		return 0;
	if (cfg->key_arg && getenv(cfg->key_arg))
		return 0;
	if (!isatty(STDIN_FILENO))
		return 0; /* keys.c reports the missing variable */
	return prompt_password(cfg, what) == 0 ? 0 : EXIT_KEY;
}

/* Compliance rules at open: every verb prints what fails (refusals and
 * warnings) on stderr; verify collects them all for its checklist. */
struct rule_tally {
	unsigned refusals, warnings;
};
static struct rule_tally tally;

static void print_rule(void *arg, const struct hdb_rule_result *r)
{
	struct rule_tally *t = arg;
	bool refuse = strcmp(r->status, "fail") == 0;
	if (!refuse && strcmp(r->status, "warn") != 0)
		return;
	if (refuse)
		t->refusals++;
	else
		t->warnings++;
	fprintf(stderr, "heliosdb-nano: %s%s (%s): %s; %s\n", refuse ? "" : "warning: ", r->id, r->citation, r->problem,
	        r->fix);
}

static hdb_rule_fn rule_cb = print_rule;
static void *rule_cb_arg = &tally;

static int load_config(const struct opts *o, struct hdb_config **ret)
{
	struct hdb_config *cfg = NULL;
	int rc = o->config ? hdb_config_load(o->config, &cfg) : hdb_config_new(&cfg);
	if (rc) {
		errx_("%s", cfg ? hdb_config_errmsg(cfg) : hdb_strerror(rc));
		hdb_config_free(cfg);
		return EXIT_USAGE;
	}
	if (o->path && hdb_config_set_path(cfg, o->path) != HDB_OK) {
		hdb_config_free(cfg);
		return EXIT_FAIL;
	}
	if (o->plaintext)
		hdb_config_set_encryption(cfg, false);
	for (size_t i = 0; i < o->nprofiles; i++) {
		rc = hdb_config_add_profile(cfg, o->profiles[i]);
		if (rc) {
			errx_("--profile %s: %s", o->profiles[i], rc == HDB_ECONFIG ? hdb_config_errmsg(cfg) : hdb_strerror(rc));
			hdb_config_free(cfg);
			return EXIT_USAGE;
		}
	}
	hdb_config_set_rule_callback(cfg, rule_cb, rule_cb_arg);
	if (o->key_source) {
		int x = apply_key_source(cfg, o->key_source);
		if (x) {
			hdb_config_free(cfg);
			return x;
		}
	}
	if (!cfg->storage_path) {
		errx_("no database path: pass --path DIR or set storage.path in --config");
		hdb_config_free(cfg);
		return EXIT_USAGE;
	}
	int x = maybe_prompt(cfg, "Encryption password");
	if (x) {
		errx_("cannot read the password from the terminal");
		hdb_config_free(cfg);
		return x;
	}
	*ret = cfg;
	return 0;
}

/* Opens the database and a session for the CLI user. */
static int open_db(const struct opts *o, unsigned flags, struct hdb_config **ret_cfg, struct hdb_db **ret_db,
                   struct hdb_session **ret_s)
{
	struct hdb_config *cfg;
	int x = load_config(o, &cfg);
	if (x)
		return x;
	struct hdb_db *db = NULL;
	/* with audit on, the trail is written through the database: even the
	 * read-only verbs open it read-write (they change no data) */
	if (cfg->audit_enabled)
		flags &= ~HDB_OPEN_RDONLY;
	int rc = hdb_open(NULL, cfg, flags, &db);
	if (rc == HDB_ECOMPLIANCE && rule_cb == print_rule) {
		errx_("refused to start: %u compliance rule(s) failed (listed above); no user data was read or written "
		      "(an existing database records the refusal in its audit log)", tally.refusals);
		hdb_close(db);
		hdb_config_free(cfg);
		return EXIT_REFUSED;
	}
	if (rc) {
		errx_("%s", hdb_errmsg(db));
		hdb_close(db);
		hdb_config_free(cfg);
		return exit_for(rc);
	}
	struct hdb_principal who = { cli_whoami(), "local", "heliosdb-nano" };
	struct hdb_session *s;
	rc = hdb_session_open(db, &who, &s);
	if (rc) {
		errx_("cannot open a session: %s", hdb_errmsg(db));
		hdb_close(db);
		hdb_config_free(cfg);
		return exit_for(rc);
	}
	*ret_cfg = cfg;
	*ret_db = db;
	*ret_s = s;
	return 0;
}

static void close_db(struct hdb_config *cfg, struct hdb_db *db, struct hdb_session *s)
{
	hdb_session_close(s);
	hdb_close(db);
	hdb_config_free(cfg);
}

/* --------------------------------------------------------------- verbs */

static int cmd_keygen(const struct opts *o)
{
	if (o->output) {
		char err[512] = "";
		int rc = keys_write_keyfile(o->output, err, sizeof(err));
		if (rc) {
			errx_("%s", err);
			return exit_for(rc);
		}
		fprintf(stderr, "wrote a new 256-bit key to '%s' (mode 0400); back it up separately from the data\n",
		        o->output);
		return 0;
	}
	char hex[65];
	int rc = hdb_keygen_hex(hex);
	if (rc) {
		errx_("cannot generate a key: %s", hdb_strerror(rc));
		return EXIT_FAIL;
	}
	puts(hex);
	OPENSSL_cleanse(hex, sizeof(hex));
	return 0;
}

static int cmd_init(const struct opts *o)
{
	struct hdb_config *cfg;
	struct hdb_db *db;
	struct hdb_session *s;
	if (o->plaintext && o->encrypted) {
		errx_("--encrypted and --plaintext contradict each other");
		return EXIT_USAGE;
	}
	int x = open_db(o, HDB_OPEN_CREATE | HDB_OPEN_EXCL, &cfg, &db, &s);
	if (x)
		return x;
	printf("Initialized database at %s\n", cfg->storage_path);
	printf("  id:         %s\n", hdb_db_id(db));
	printf("  encryption: %s\n", hdb_encryption_info(db));
	if (hdb_is_encrypted(db))
		printf("  key source: %s\n", keys_source_name(cfg->key_kind));
	close_db(cfg, db, s);
	return 0;
}

struct verify_ctx {
	uint64_t bad;
	bool quiet;          /* --format json: the per-table lines are for people */
};

static int print_verify(void *arg, const struct hdb_verify_item *it)
{
	struct verify_ctx *vc = arg;
	vc->bad += it->bad;
	if (vc->quiet)
		return 0;
	if (strcmp(it->kind, "data-key") == 0)
		printf("  data key %-10s %10llu values\n", it->name, (unsigned long long)it->values);
	else
		printf("  %-9s %-24s %10llu values %s%s\n", it->kind, it->name, (unsigned long long)it->values,
		       it->bad ? "  BAD: " : "  ok", it->bad ? it->detail : "");
	return 0;
}

/* verify's checklist: every rule result, copied as it arrives */
struct checklist {
	struct hdb_rule_result *v;
	size_t n;
	bool oom;
};

static void collect_rule(void *arg, const struct hdb_rule_result *r)
{
	struct checklist *cl = arg;
	struct hdb_rule_result *nv = realloc(cl->v, (cl->n + 1) * sizeof(*nv));
	if (!nv) {
		cl->oom = true;
		return;
	}
	cl->v = nv;
	struct hdb_rule_result *c = &nv[cl->n++];
	const char *const *from = &r->profile;
	const char **to = &c->profile;
	for (size_t i = 0; i < sizeof(*r) / sizeof(char *); i++)
		if (!(to[i] = strdup(from[i] ? from[i] : "")))
			cl->oom = true;
}

static void checklist_free(struct checklist *cl)
{
	for (size_t i = 0; i < cl->n; i++) {
		const char **f = &cl->v[i].profile;
		for (size_t j = 0; j < sizeof(cl->v[i]) / sizeof(char *); j++)
			free((char *)f[j]);
	}
	free(cl->v);
}

/* which rules --check shows: its area, or all for profile/all */
static bool check_shows(const char *check, const char *area)
{
	if (!check || strcmp(check, "all") == 0 || strcmp(check, "profile") == 0)
		return true;
	if (strcmp(check, "keys") == 0)
		return strcmp(area, "keys") == 0;
	if (strcmp(check, "encryption") == 0)
		return strcmp(area, "encryption") == 0 || strcmp(area, "keys") == 0;
	if (strcmp(check, "audit") == 0)
		return strcmp(area, "audit") == 0;
	return false;
}

static const char *mark_of(const char *status)
{
	if (strcmp(status, "pass") == 0)
		return "✓";
	if (strcmp(status, "skip") == 0)
		return "-";
	return "✗";
}

static void json_field(FILE *f, const char *k, const char *v, bool last)
{
	fprintf(f, "\"%s\":\"", k);
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fprintf(f, "\"%s", last ? "" : ",");
}

struct verify_summary {
	unsigned passed, warnings, refusals, skipped;
};

static void checklist_print(const struct checklist *cl, const char *check, bool json, struct verify_summary *sum)
{
	memset(sum, 0, sizeof(*sum));
	bool first = true;
	const char *cur = "";
	if (json)
		printf("\"checks\":[");
	for (size_t i = 0; i < cl->n; i++) {
		const struct hdb_rule_result *r = &cl->v[i];
		if (!check_shows(check, r->area))
			continue;
		if (strcmp(r->status, "pass") == 0)
			sum->passed++;
		else if (strcmp(r->status, "warn") == 0)
			sum->warnings++;
		else if (strcmp(r->status, "fail") == 0)
			sum->refusals++;
		else
			sum->skipped++;
		if (json) {
			printf("%s{", first ? "" : ",");
			json_field(stdout, "profile", r->profile, false);
			json_field(stdout, "id", r->id, false);
			json_field(stdout, "citation", r->citation, false);
			json_field(stdout, "area", r->area, false);
			json_field(stdout, "statement", r->statement, false);
			json_field(stdout, "severity", r->severity, false);
			json_field(stdout, "status", r->status, false);
			json_field(stdout, "required", r->required, false);
			json_field(stdout, "evidence", r->actual, false);
			json_field(stdout, "problem", r->problem, false);
			json_field(stdout, "fix", r->fix, true);
			printf("}");
		} else {
			if (strcmp(cur, r->profile) != 0) {
				printf("\nProfile %s\n", r->profile);
				cur = r->profile;
			}
			printf("  %s %s (%s) %s: %s", mark_of(r->status), r->id, r->citation, r->statement, r->actual);
			if (*r->problem)
				printf(" -- %s%s; fix: %s", strcmp(r->status, "warn") == 0 ? "WARNING: " : "", r->problem,
				       r->fix);
			printf("\n");
		}
		first = false;
	}
	if (json)
		printf("],");
}

static void progress(void *arg, uint64_t done, uint64_t total)
{
	cli_progress(arg, done, total);
}

static int cmd_verify(const struct opts *o)
{
	static const char *const checks[] = { "encryption", "integrity", "audit", "keys", "profile", "all" };
	bool known = !o->check;
	for (size_t i = 0; !known && i < sizeof(checks) / sizeof(checks[0]); i++)
		known = strcmp(o->check, checks[i]) == 0;
	if (!known) {
		errx_("--check must be encryption, integrity, audit, keys, profile or all, got '%s'", o->check);
		return EXIT_USAGE;
	}
	bool json = false;
	if (o->format && !(json = strcmp(o->format, "json") == 0) && strcmp(o->format, "text") != 0) {
		errx_("--format must be text or json, got '%s'", o->format);
		return EXIT_USAGE;
	}
	const char *check = o->check ? o->check : "all";
	bool values = strcmp(check, "all") == 0 || strcmp(check, "encryption") == 0 || strcmp(check, "integrity") == 0;
	bool rules = strcmp(check, "integrity") != 0;
	struct checklist cl = { 0 };
	rule_cb = collect_rule;
	rule_cb_arg = &cl;
	struct hdb_config *cfg = NULL;
	struct hdb_db *db = NULL;
	struct hdb_session *s = NULL;
	int x = load_config(o, &cfg);
	if (x) {
		checklist_free(&cl);
		return x;
	}
	unsigned flags = cfg->audit_enabled ? 0 : HDB_OPEN_RDONLY;
	int rc = hdb_open(NULL, cfg, flags, &db);
	bool refused = rc == HDB_ECOMPLIANCE;
	if (rc && !refused) {
		errx_("%s", hdb_errmsg(db));
		hdb_close(db);
		hdb_config_free(cfg);
		checklist_free(&cl);
		return exit_for(rc);
	}
	if (!refused) {
		struct hdb_principal who = { cli_whoami(), "local", "heliosdb-nano" };
		rc = hdb_session_open(db, &who, &s);
		if (rc) {
			errx_("cannot open a session: %s", hdb_errmsg(db));
			close_db(cfg, db, NULL);
			checklist_free(&cl);
			return exit_for(rc);
		}
	}
	struct verify_summary sum;
	if (json) {
		printf("{");
		json_field(stdout, "database", cfg->storage_path, false);
		json_field(stdout, "check", check, false);
		json_field(stdout, "encryption", refused ? "unknown (start refused)" : hdb_encryption_info(db), false);
		printf("\"profiles\":[");
		for (size_t i = 0; i < cfg->nprofiles; i++)
			printf("%s\"%s\"", i ? "," : "", cfg->profiles[i]);
		printf("],");
	} else {
		printf("Database %s\n", cfg->storage_path);
		if (!refused)
			printf("  id:         %s\n  encryption: %s\n", hdb_db_id(db), hdb_encryption_info(db));
		if (rules && cfg->nprofiles == 0)
			printf("  compliance: no profile selected (set compliance.profiles or pass --profile)\n");
	}
	if (rules)
		checklist_print(&cl, check, json, &sum);
	else
		memset(&sum, 0, sizeof(sum));
	int exit_code = refused || sum.refusals ? EXIT_REFUSED : 0;
	struct verify_ctx vc = { 0 };
	const char *integrity = "not checked";
	if (values && !refused) {
		if (!json)
			printf("\nStored values\n");
		vc.quiet = json;
		struct cli_progress pg;
		cli_progress_late(&pg, "verify", "values");
		rc = hdb_verify_progress(s, HDB_VERIFY_ENCRYPTION | HDB_VERIFY_INTEGRITY, print_verify, &vc, progress,
		                         &pg);
		if (rc) {
			integrity = "FAILED";
			if (!json)
				errx_("%s", hdb_session_errmsg(s));
			exit_code = EXIT_FAIL;
		} else {
			integrity = hdb_is_encrypted(db) ? "every value authenticated" : "plaintext database: nothing to authenticate";
			if (!json)
				printf("  ✓ every value authenticated (AES-256-GCM tag verified)%s\n",
				       hdb_is_encrypted(db) ? "" : " [plaintext database: nothing to authenticate]");
		}
		if (strcmp(check, "encryption") == 0 && !hdb_is_encrypted(db)) {
			if (!json)
				errx_("database '%s' is NOT encrypted", cfg->storage_path);
			exit_code = EXIT_FAIL;
		}
	} else if (values && refused) {
		integrity = "not checked (start refused)";
	}
	if (json) {
		json_field(stdout, "integrity", integrity, false);
		printf("\"summary\":{\"passed\":%u,\"warnings\":%u,\"refusals\":%u,\"skipped\":%u},\"started\":%s,"
		       "\"exit\":%d}\n", sum.passed, sum.warnings, sum.refusals, sum.skipped, refused ? "false" : "true",
		       exit_code);
	} else {
		if (rules && cfg->nprofiles)
			printf("\nSummary: %u passed, %u warnings, %u refusals%s: %s\n", sum.passed, sum.warnings,
			       sum.refusals, sum.skipped ? " (some rules need the open database)" : "",
			       refused ? "START REFUSED" : sum.refusals ? "REFUSED" : "start allowed");
		if (refused)
			printf("  (the refusal is recorded in the audit log; stored values were not checked)\n");
	}
	checklist_free(&cl);
	if (cl.oom)
		errx_("out of memory while collecting the checklist");
	close_db(cfg, db, s);
	return cl.oom ? EXIT_FAIL : exit_code;
}

static int cmd_checkpoint(const struct opts *o)
{
	struct hdb_config *cfg;
	struct hdb_db *db;
	struct hdb_session *s;
	int x = open_db(o, 0, &cfg, &db, &s);
	if (x)
		return x;
	int rc = hdb_checkpoint(db);
	if (rc)
		errx_("%s", hdb_errmsg(db));
	else
		printf("Checkpoint complete: %s is durable on disk\n", cfg->storage_path);
	close_db(cfg, db, s);
	return exit_for(rc);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Runs argv, its stdout discarded (and its stderr too when silent: the
 * caller says what failed in one line of its own); 0 when it exits 0. */
static int run_cmd(char *const argv[], bool silent)
{
	posix_spawn_file_actions_t fa;
	if (posix_spawn_file_actions_init(&fa) != 0)
		return -1;
	(void)posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	if (silent)
		(void)posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
	pid_t pid;
	int r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		return -1;
	int st;
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -1;
	return 0;
}

static int run_quiet(char *const argv[])
{
	return run_cmd(argv, false);
}

/* The archive of the checked copy in dir: written as dir/backup.tar.gz,
 * synced, read back from the disk (gzip's checksum, tar's headers), then
 * named `archive` unless that exists (never through a symlink) and its
 * directory synced.  0; 1 when it is in place but its directory could not
 * be synced (a write-only drop directory), with why; -1 with the reason in
 * why and nothing left. */
static int make_archive(const char *archive, const char *dir, char *why, size_t whylen)
{
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s/backup.tar.gz", dir);
	/* --force-local: a colon in the name is not a remote host */
	char *tar_c[] = { (char *)"tar", (char *)"--force-local", (char *)"-czf", tmp, (char *)"-C", (char *)dir,
		          (char *)"data.mdb", NULL };
	char *tar_t[] = { (char *)"tar", (char *)"--force-local", (char *)"-tzf", tmp, NULL };
	if (run_quiet(tar_c) != 0) {
		snprintf(why, whylen, "tar failed to write it");
		goto fail;
	}
	int fd = open(tmp, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0) {
		snprintf(why, whylen, "cannot sync it: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
	if (run_quiet(tar_t) != 0) {
		snprintf(why, whylen, "it does not read back (tar -tzf fails: check the disk)");
		goto fail;
	}
	if (rename_noreplace(AT_FDCWD, tmp, AT_FDCWD, archive) != 0) {
		snprintf(why, whylen, "cannot name it: %s", strerror(errno));
		goto fail;
	}
	char parent[4096];
	snprintf(parent, sizeof(parent), "%s", archive);
	char *slash = strrchr(parent, '/');
	if (slash == parent)
		parent[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		snprintf(parent, sizeof(parent), ".");
	int dfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0) {
		snprintf(why, whylen, "its directory cannot be synced (%s): the archive's name may not survive a power loss",
		         strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return 1;
	}
	close(dfd);
	return 0;
fail:
	(void)unlink(tmp);
	return -1;
}

/* The backup file's SHA-256 goes into the signed log (export_run), so a
 * backup can later be proven to be the one taken, and when.  No backup is
 * left without its record (fail closed, like audit-report): 0, or an exit
 * code after removing `where`. */
static int backup_record(struct hdb_session *s, const char *where, char sha[65])
{
	if (cli_file_sha256(where, sha) != 0) {
		errx_("cannot read back '%s' to hash it: %s; it was removed", where, strerror(errno));
		(void)unlink(where);
		return EXIT_FAIL;
	}
	int rc = hdb_audit_export(s, "backup", where, sha, "backup");
	if (rc) {
		errx_("cannot record the backup in the audit log: %s; '%s' was removed", hdb_session_errmsg(s), where);
		(void)unlink(where);
		return exit_for(rc);
	}
	return 0;
}

static void backup_summary(const char *where, const struct hdb_backup_info *bi, struct hdb_db *db, const char *sha)
{
	if (hdb_is_encrypted(db))
		printf("Backup written to %s (compacted, still encrypted: %s)\n", where, hdb_encryption_info(db));
	else
		printf("Backup written to %s (compacted; the database is not encrypted, nor is its backup)\n", where);
	printf("  read back from the disk: %llu pages checked, %llu values %s (%llu bytes)\n",
	       (unsigned long long)bi->pages, (unsigned long long)bi->values,
	       hdb_is_encrypted(db) ? "authenticated" : "read", (unsigned long long)bi->bytes);
	printf("  sha256 %s%s\n", sha, hdb_audit_log_path(db) ? " (recorded in the audit log: export_run)" : "");
}

/* Progress of a backup: shown once it has taken a second (a small one
 * prints nothing), a bar on a terminal, else a line every 10 %. */
struct backup_progress {
	struct cli_progress copy, readback;
};

static void backup_progress(void *arg, enum hdb_backup_phase phase, uint64_t done, uint64_t total)
{
	struct backup_progress *b = arg;
	cli_progress(phase == HDB_BACKUP_COPY ? &b->copy : &b->readback, done, total);
}

static int cmd_backup(const struct opts *o)
{
	if (!o->output) {
		errx_("--output DIR or --output FILE.tar.gz is required");
		return EXIT_USAGE;
	}
	struct hdb_config *cfg;
	struct hdb_db *db;
	struct hdb_session *s;
	int x = open_db(o, HDB_OPEN_RDONLY, &cfg, &db, &s);
	if (x)
		return x;
	int ret = 0;
	struct hdb_backup_info bi;
	struct backup_progress bp;
	cli_progress_late(&bp.copy, "backup: copying", NULL);
	cli_progress_late(&bp.readback, "backup: reading back", "values");
	bool tgz = ends_with(o->output, ".tar.gz") || ends_with(o->output, ".tgz");
	if (!tgz) {
		int rc = hdb_backup(db, o->output, backup_progress, &bp, &bi);
		char where[4200], sha[65];
		snprintf(where, sizeof(where), "%s/data.mdb", o->output);
		if (bi.kept && (ret = backup_record(s, where, sha)) != 0)
			goto out;
		if (rc && bi.kept)
			errx_("backup written to %s, but %s", where, hdb_errmsg(db));
		else if (rc)
			errx_("%s", hdb_errmsg(db));
		else
			backup_summary(where, &bi, db, sha);
		ret = exit_for(rc);
		goto out;
	}
	struct stat sb;
	if (lstat(o->output, &sb) == 0) {
		errx_("'%s' already exists; refusing to overwrite it", o->output);
		ret = EXIT_FAIL;
		goto out;
	}
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", o->output);
	if (!mkdtemp(tmp)) {
		errx_("cannot create a temporary directory next to '%s': %s", o->output, strerror(errno));
		ret = EXIT_FAIL;
		goto out;
	}
	(void)umask(077);
	int rc = hdb_backup(db, tmp, backup_progress, &bp, &bi);
	char why[512], sha[65];
	int ar = 0;
	if (rc && !bi.kept) {
		errx_("%s", hdb_errmsg(db));
		ret = exit_for(rc);
	} else if ((ar = make_archive(o->output, tmp, why, sizeof(why))) < 0) {
		errx_("the archive '%s' was not written: %s", o->output, why);
		(void)hdb_audit_export_failed(s, "backup", o->output, "backup", why);
		ret = EXIT_FAIL;
	} else if ((ret = backup_record(s, o->output, sha)) != 0) {
		/* said and removed */
	} else if (rc) {
		errx_("backup written to %s, but %s", o->output, hdb_errmsg(db));
		ret = exit_for(rc);
	} else {
		backup_summary(o->output, &bi, db, sha);
	}
	if (ar == 1 && ret == 0)
		fprintf(stderr, "heliosdb-nano: backup: warning: %s\n", why);
	char f[4200];
	snprintf(f, sizeof(f), "%s/data.mdb", tmp);
	(void)unlink(f);
	(void)rmdir(tmp);
out:
	close_db(cfg, db, s);
	return ret;
}

static int rm_one(const char *p, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	(void)(type == FTW_DP ? rmdir(p) : unlink(p)); /* what stays, stays: the caller says nothing of it */
	return 0;
}

/* rm_tree - removes dir and what it holds (an unpacked archive: a member
 * may be anything), never following a link. */
static void rm_tree(const char *dir)
{
	(void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Progress of a restore: the copy (bytes), then the check (values). */
struct restore_progress {
	struct cli_progress copy, check;
};

static void restore_progress(void *arg, enum hdb_restore_phase phase, uint64_t done, uint64_t total)
{
	struct restore_progress *p = arg;
	cli_progress(phase == HDB_RESTORE_COPY ? &p->copy : &p->check, done, total);
}

static void restore_summary(const char *path, const char *from, const struct hdb_restore_info *ri,
                            struct hdb_db *db)
{
	printf("Restored %s/data.mdb from %s\n", path, from);
	printf("  checked before anything was replaced: %llu pages, %llu values %s (%llu bytes), sha256 %s\n",
	       (unsigned long long)ri->pages, (unsigned long long)ri->values,
	       hdb_is_encrypted(db) ? "authenticated" : "read", (unsigned long long)ri->bytes, ri->sha256);
	if (ri->replaced[0])
		printf("  the replaced data file is kept as %s (remove it once it is no longer needed)\n", ri->replaced);
	if (!hdb_audit_log_path(db))
		printf("  audit is off: the restore is in no log\n");
	else if (ri->log_seq > ri->backup_seq)
		printf("  audit: the backup ends at record %llu, the log at %llu: what records %llu..%llu describe was "
		       "undone; the chain goes on with restore_run, record %llu\n",
		       (unsigned long long)ri->backup_seq, (unsigned long long)ri->log_seq,
		       (unsigned long long)ri->backup_seq + 1, (unsigned long long)ri->log_seq,
		       (unsigned long long)ri->record_seq);
	else
		printf("  audit: the backup ends at record %llu; the chain goes on with restore_run, record %llu\n",
		       (unsigned long long)ri->backup_seq, (unsigned long long)ri->record_seq);
	if (ri->data_key)
		printf("  data key %u is now active (the restored keys' seal counts predate the backup)\n", ri->data_key);
}

static int cmd_restore(const struct opts *o)
{
	if (!o->from) {
		errx_("--from DIR or --from FILE.tar.gz (a backup) is required");
		return EXIT_USAGE;
	}
	struct hdb_config *cfg;
	int x = load_config(o, &cfg);
	if (x)
		return x;
	const char *path = cfg->storage_path;
	int ret = 0;
	char tmp[4200] = "", sha[65] = "", f[4300];
	const char *from = o->from;
	bool made_dir = false;
	struct hdb_db *db = NULL;
	struct hdb_restore_info ri;
	memset(&ri, 0, sizeof(ri));
	struct stat sb;
	if (stat(o->from, &sb) != 0) {
		errx_("no backup at '%s': %s", o->from, strerror(errno));
		ret = EXIT_FAIL;
		goto out;
	}
	(void)umask(077);
	char src[PATH_MAX];
	struct hdb_restore_opts ro = { 0, realpath(o->from, src) ? src : o->from, NULL, restore_progress, NULL };
	if (S_ISREG(sb.st_mode)) {
		/* an archive: unpacked next to the database (its file system),
		 * only its data.mdb, then moved into place by the restore */
		if (cli_file_sha256(o->from, sha) != 0) {
			errx_("cannot read '%s': %s", o->from, strerror(errno));
			ret = EXIT_FAIL;
			goto out;
		}
		if (mkdir(path, 0700) == 0)
			made_dir = true;
		else if (errno != EEXIST) {
			errx_("cannot create directory '%s': %s", path, strerror(errno));
			ret = EXIT_FAIL;
			goto out;
		}
		snprintf(tmp, sizeof(tmp), "%s/restore-archive-XXXXXX", path);
		if (!mkdtemp(tmp)) {
			errx_("cannot create a directory in '%s': %s", path, strerror(errno));
			tmp[0] = '\0';
			ret = EXIT_FAIL;
			goto out;
		}
		char *tar_x[] = { (char *)"tar", (char *)"--force-local", (char *)"--no-same-owner",
			          (char *)"--no-same-permissions", (char *)"-xzf", (char *)o->from, (char *)"-C", tmp,
			          (char *)"data.mdb", NULL };
		if (run_cmd(tar_x, true) != 0) {
			errx_("'%s' is not a backup archive, or '%s' has no room to unpack it (tar cannot extract its "
			      "data.mdb); nothing was changed", o->from, path);
			ret = EXIT_FAIL;
			goto out;
		}
		from = tmp;
		ro.flags = HDB_RESTORE_MOVE;
		ro.source_sha256 = sha;
	} else if (!S_ISDIR(sb.st_mode)) {
		errx_("'%s' is neither a backup directory nor a .tar.gz archive", o->from);
		ret = EXIT_USAGE;
		goto out;
	}
	struct restore_progress rp;
	cli_progress_late(&rp.copy, "restore: copying", NULL);
	cli_progress_late(&rp.check, "restore: checking", "values");
	ro.arg = &rp;
	int rc = hdb_restore(NULL, cfg, from, &ro, &ri, &db);
	if (rc == HDB_ECOMPLIANCE && rule_cb == print_rule)
		errx_("refused: %u compliance rule(s) failed (listed above): %s", tally.refusals, hdb_errmsg(db));
	else if (rc)
		errx_("%s", db ? hdb_errmsg(db) : hdb_strerror(rc));
	else
		restore_summary(path, o->from, &ri, db);
	ret = exit_for(rc);
out:
	hdb_close(db);
	if (tmp[0])
		rm_tree(tmp);
	if (made_dir && !ri.in_place) {
		snprintf(f, sizeof(f), "%s/audit.lock", path);
		(void)unlink(f);
		snprintf(f, sizeof(f), "%s/lock.mdb", path);
		(void)unlink(f);
		(void)rmdir(path);
	}
	hdb_config_free(cfg);
	return ret;
}

static int cmd_rotate_key(const struct opts *o)
{
	if (!o->new_key_source) {
		errx_("--new-key-source is required (env[:VAR], file:PATH, password[:VAR] or credential:NAME)");
		return EXIT_USAGE;
	}
	struct hdb_config *cfg;
	struct hdb_db *db;
	struct hdb_session *s;
	int x = open_db(o, 0, &cfg, &db, &s);
	if (x)
		return x;
	struct hdb_config *ncfg = NULL;
	int ret = 0;
	if (config_dup(cfg, &ncfg) != HDB_OK) {
		errx_("out of memory");
		ret = EXIT_FAIL;
		goto out;
	}
	secret_free(ncfg->password);
	ncfg->password = NULL;
	x = apply_key_source(ncfg, o->new_key_source);
	if (!x)
		x = maybe_prompt(ncfg, "New encryption password");
	if (x) {
		ret = x;
		goto out;
	}
	int rc = hdb_rotate_master_key(s, ncfg);
	if (rc) {
		errx_("%s", hdb_session_errmsg(s));
		ret = exit_for(rc);
		goto out;
	}
	printf("Master key rotated: every data key is now wrapped by the new %s key.\n",
	       keys_source_name(ncfg->key_kind));
	printf("Update the configuration's key_source, and keep the old key until your backups made with it expire.\n");
out:
	hdb_config_free(ncfg);
	close_db(cfg, db, s);
	return ret;
}


static int cmd_rekey(const struct opts *o)
{
	struct hdb_config *cfg;
	struct hdb_db *db;
	struct hdb_session *s;
	int x = open_db(o, 0, &cfg, &db, &s);
	if (x)
		return x;
	struct cli_progress pg;
	cli_progress_init(&pg, "rekey", "values", true);
	int rc = hdb_rekey(s, o->batch ? o->batch : 1000, progress, &pg);
	if (rc)
		errx_("%s", hdb_session_errmsg(s));
	else
		printf("Rekey complete: every value is sealed under a fresh data key; older data keys are retired.\n");
	close_db(cfg, db, s);
	return exit_for(rc);
}

struct ret_ctx {
	unsigned deleted, kept, would;
};

static int print_retention(void *arg, const struct hdb_retention_item *it)
{
	struct ret_ctx *rc = arg;
	if (it->deleted)
		rc->deleted++;
	else if (strcmp(it->reason, "would delete") == 0)
		rc->would++;
	else
		rc->kept++;
	printf("  %-8s %s (seq %llu..%llu)%s%s\n", it->deleted ? "deleted" : strcmp(it->reason, "would delete") == 0 ? "delete?" : "kept",
	       it->segment, (unsigned long long)it->first_seq, (unsigned long long)it->last_seq,
	       it->deleted ? "" : ": ", it->deleted ? "" : it->reason);
	fflush(stdout);
	return 0;
}

static int cmd_audit_retention(const struct opts *o)
{
	struct hdb_config *cfg;
	struct hdb_db *db;
	struct hdb_session *s;
	int x = open_db(o, 0, &cfg, &db, &s);
	if (x)
		return x;
	printf("Audit retention for %s: keep %u days%s\n", hdb_audit_log_path(db) ? hdb_audit_log_path(db) : "(none)",
	       cfg->retention_days, o->dry_run ? " (dry run: nothing is deleted)" : "");
	struct ret_ctx rc_ = { 0 };
	int rc = hdb_audit_retention(s, o->dry_run, print_retention, &rc_);
	if (rc)
		errx_("%s", hdb_session_errmsg(s));
	else if (o->dry_run)
		printf("%u segment(s) would be deleted, %u kept\n", rc_.would, rc_.kept);
	else
		printf("%u segment(s) deleted (each after its anchor record reached the log), %u kept\n", rc_.deleted,
		       rc_.kept);
	close_db(cfg, db, s);
	return exit_for(rc);
}

static int print_stat(void *arg, const struct hdb_stat *st)
{
	(void)arg;
	printf("  %-9s %-24s %10llu entries %12llu bytes\n", st->kind, st->name, (unsigned long long)st->entries,
	       (unsigned long long)st->bytes);
	return 0;
}

static int print_key(void *arg, const struct hdb_key_info *ki)
{
	(void)arg;
	char when[32] = "?";
	time_t t = (time_t)ki->created;
	struct tm tm;
	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("  data key %-6u created %s  %12llu encryptions  %s\n", ki->key_id, when,
	       (unsigned long long)ki->encryptions, ki->retired ? "retired" : ki->active ? "active" : "usable");
	return 0;
}

static int cmd_stats(const struct opts *o)
{
	struct hdb_config *cfg;
	struct hdb_db *db;
	struct hdb_session *s;
	int x = open_db(o, HDB_OPEN_RDONLY, &cfg, &db, &s);
	if (x)
		return x;
	printf("Database %s (id %s)\n", cfg->storage_path, hdb_db_id(db));
	printf("  encryption: %s\n", hdb_encryption_info(db));
	int rc = hdb_stats(s, print_stat, NULL);
	if (!rc)
		rc = hdb_key_list(s, print_key, NULL);
	if (rc)
		errx_("%s", hdb_session_errmsg(s));
	close_db(cfg, db, s);
	return exit_for(rc);
}

static int read_all(FILE *f, char **ret, size_t *ret_len)
{
	size_t cap = 4096, n = 0;
	char *p = malloc(cap);
	if (!p)
		return -1;
	for (;;) {
		if (n == cap) {
			if (cap > ((size_t)64 << 20)) {
				free(p);
				return -2;
			}
			char *np = realloc(p, cap * 2);
			if (!np) {
				free(p);
				return -1;
			}
			p = np;
			cap *= 2;
		}
		size_t got = fread(p + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		free(p);
		return -1;
	}
	*ret = p;
	*ret_len = n;
	return 0;
}

static int cmd_config(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		printf("usage: heliosdb-nano config toml-json < FILE.toml\n"
		       "       heliosdb-nano config check --config FILE\n"
		       "  toml-json  print a TOML document as the TOML test suite's tagged JSON\n"
		       "  check      load a configuration and report the first error (file:line)\n");
		return argc < 2 ? EXIT_USAGE : 0;
	}
	if (strcmp(argv[1], "toml-json") == 0) {
		verb_name = "config toml-json";
		char *text;
		size_t n;
		if (read_all(stdin, &text, &n) != 0) {
			errx_("cannot read standard input");
			return EXIT_FAIL;
		}
		char err[512] = "";
		struct toml_value *root = NULL;
		int rc = toml_parse(text, n, "<stdin>", &root, err, sizeof(err));
		free(text);
		if (rc) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		rc = toml_to_tagged_json(root, stdout);
		toml_free(root);
		if (rc || fflush(stdout) != 0) {
			errx_("cannot write standard output");
			return EXIT_FAIL;
		}
		return 0;
	}
	if (strcmp(argv[1], "check") == 0) {
		verb_name = "config check";
		struct opts o = { 0 };
		int x = parse_opts(argc - 1, argv + 1, &o);
		if (x)
			return x;
		if (!o.config) {
			errx_("--config FILE is required");
			return EXIT_USAGE;
		}
		struct hdb_config *cfg = NULL;
		int rc = hdb_config_load(o.config, &cfg);
		if (rc) {
			errx_("%s", cfg ? hdb_config_errmsg(cfg) : hdb_strerror(rc));
			hdb_config_free(cfg);
			return EXIT_USAGE;
		}
		printf("%s: configuration is valid\n", o.config);
		hdb_config_free(cfg);
		return 0;
	}
	verb_name = "config";
	errx_("unknown subcommand '%s' (toml-json or check)", argv[1]);
	return EXIT_USAGE;
}

/* ------------------------------------------------------------ dispatch */

struct verb {
	const char *name;
	int (*fn)(const struct opts *o);
	const char *usage;
	const char *help;
};

static const struct verb verbs[] = {
	{ "keygen", cmd_keygen, "keygen [--output FILE]",
	  "print a new 256-bit key as 64 hex characters, or write it to FILE (created, mode 0400)" },
	{ "init", cmd_init, "init --path DIR | --config FILE [--encrypted | --plaintext] [--key-source SPEC]",
	  "create a new database (encrypted unless --plaintext)" },
	{ "verify", cmd_verify,
	  "verify --path DIR | --config FILE [--check encryption|integrity|audit|keys|profile|all] [--profile NAME]... "
	  "[--format text|json]",
	  "compliance checklist (one line per profile rule) and authentication of every stored value" },
	{ "checkpoint", cmd_checkpoint, "checkpoint --path DIR | --config FILE",
	  "force a durable sync of the data file" },
	{ "backup", cmd_backup, "backup --path DIR | --config FILE --output DIR|FILE.tar.gz",
	  "consistent, compacted hot copy, still encrypted" },
	{ "restore", cmd_restore, "restore --path DIR | --config FILE --from DIR|FILE.tar.gz",
	  "put a backup back: checked first, the replaced file kept, the audit chain continued" },
	{ "rotate-key", cmd_rotate_key, "rotate-key --path DIR | --config FILE --new-key-source SPEC",
	  "rewrap every data key under a new master key, atomically" },
	{ "rekey", cmd_rekey, "rekey --path DIR | --config FILE [--batch N]",
	  "re-encrypt every value under a fresh data key, online and resumable" },
	{ "stats", cmd_stats, "stats --path DIR | --config FILE", "entries and bytes per table and keyspace; data keys" },
	{ "audit-retention", cmd_audit_retention, "audit-retention --config FILE [--dry-run]",
	  "delete audit segments older than audit.retention.days, each after its anchor record" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: heliosdb-nano VERB [OPTIONS]\n\nverbs:\n");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(f, "  %-15s %s\n", verbs[i].name, verbs[i].help);
	fprintf(f, "  %-15s %s\n", "config", "toml-json < FILE | check --config FILE");
	fprintf(f, "  %-15s %s\n", "audit-verify", "--input FILE|DIR --pubkey FILE [--journal]: check the audit chain");
	fprintf(f, "  %-15s %s\n", "audit-report", "--input FILE|DIR --type TYPE --output FILE: PDF or JSON compliance report");
	fprintf(f, "\nkey sources (SPEC): env[:VAR] (default HELIOSDB_ENCRYPTION_KEY), file:PATH,\n"
	           "  password[:VAR] (Argon2id; prompts on a terminal), credential:NAME (systemd)\n"
	           "every verb that opens data takes --profile NAME (adds a compliance profile)\n"
	           "exit codes: 0 ok, 1 failed, 2 usage or configuration error, 3 key error,\n"
	           "  4 refused by a compliance profile\n"
	           "run 'heliosdb-nano VERB --help' for a verb's options; docs/cli.md has the details.\n");
}

int main(int argc, char **argv)
{
	install_fault_handler();
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *v = argv[1];
	if (strcmp(v, "--help") == 0 || strcmp(v, "-h") == 0 || strcmp(v, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(v, "--version") == 0 || strcmp(v, "version") == 0) {
		printf("heliosdb-nano %s\n", HDB_VERSION_STRING);
		return 0;
	}
	if (strcmp(v, "config") == 0)
		return cmd_config(argc - 1, argv + 1);
	if (strcmp(v, "audit-verify") == 0) {
		verb_name = "audit-verify";
		return cmd_audit_verify(argc - 1, argv + 1);
	}
	if (strcmp(v, "audit-report") == 0) {
		verb_name = "audit-report";
		return cmd_audit_report(argc - 1, argv + 1);
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strcmp(v, verbs[i].name) != 0)
			continue;
		verb_name = verbs[i].name;
		struct opts o = { 0 };
		int x = parse_opts(argc - 1, argv + 1, &o);
		if (x)
			return x;
		if (o.help) {
			printf("usage: heliosdb-nano %s\n  %s\n", verbs[i].usage, verbs[i].help);
			return 0;
		}
		return verbs[i].fn(&o);
	}
	fprintf(stderr, "heliosdb-nano: unknown verb '%s' (see heliosdb-nano --help)\n", v);
	return EXIT_USAGE;
}
