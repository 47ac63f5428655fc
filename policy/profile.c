/*
 * profile.c - compliance profiles: strict loading of profiles/<name>.toml
 * and evaluation of their rules (see profile.h for the file format and
 * docs/compliance.md for every check).
 *
 * Invariants:
 *  1. A profile file is trusted less than code: every key is known, every
 *     field typed, every config key and named check exists, or loading
 *     fails with FILE:LINE:COL.  A profile that loads can be evaluated.
 *  2. Evaluation never changes anything: it reads the configuration, stats
 *     files, asks the kernel (adjtimex, getrlimit) and reads what the
 *     engine passes in (struct profile_facts).
 *  3. Combined profiles: every rule of every profile is evaluated on its
 *     own, so a setting passes only if it satisfies all of them - the
 *     strictest requirement wins, and the worst severity with it.
 */
#include "profile.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/sysmacros.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include "toml.h"
#include "util.h"

#ifndef HDB_PROFILE_DIR
#define HDB_PROFILE_DIR "/usr/local/share/heliosdb/profiles"
#endif

#define MAX_PROFILE_BYTES (1024u * 1024u)
#define MAX_RULES 1024u

enum ck { CK_EQUALS, CK_MIN, CK_MAX, CK_ONE_OF, CK_NOT_ONE_OF, CK_IS_SET, CK_ENV };
enum vst { V_PASS, V_FAIL, V_SKIP };

struct verdict {
	enum vst st;
	char actual[512];
	char problem[768];
};

struct ectx {
	const struct hdb_config *cfg;
	struct json_object *eff;
	const char *db_path, *log_file;
	const struct profile_facts *facts;
	time_t now;
};

struct rule;
struct env_check {
	const char *name;
	const char *params;      /* the one parameter it takes: "words", "grace_days", "days" or "" */
	const char *required;    /* the requirement, as shown in checklists */
	void (*fn)(const struct ectx *c, const struct rule *r, struct verdict *v);
};

struct rule {
	char *id, *citation, *area, *statement, *fix;
	bool refuse;
	enum ck kind;
	char *key, *unless_set, *when;
	struct json_object *arg;       /* equals: a value; one_of/not_one_of: an array */
	int64_t num;                   /* min, max */
	const struct env_check *env;
	char **words;
	size_t nwords;
	int64_t grace_days, days;
};

struct profile {
	char *name, *title;
	struct rule *rules;
	size_t nrules;
};

struct profile_set {
	struct profile *v;
	size_t n;
};

/* ------------------------------------------------------------ helpers */

static void vfail(struct verdict *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void vfail(struct verdict *v, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v->problem, sizeof(v->problem), fmt, ap);
	va_end(ap);
	v->st = V_FAIL;
}

static void vact(struct verdict *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void vact(struct verdict *v, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v->actual, sizeof(v->actual), fmt, ap);
	va_end(ap);
}

/* The data directory as an absolute path, resolved even when it does not
 * exist yet: its nearest existing ancestor is resolved and the rest
 * appended ("." and ".." in the rest are taken literally, which can only
 * make a key look outside when it is not inside an existing directory). */
static bool resolve_dir(const char *path, char out[PATH_MAX])
{
	char head[PATH_MAX], rp[PATH_MAX];
	if (realpath(path, out))
		return true;
	if (snprintf(head, sizeof(head), "%s", path) >= (int)sizeof(head))
		return false;
	size_t n = strlen(head);
	while (n > 1 && head[n - 1] == '/')
		head[--n] = '\0';
	for (;;) {
		char *slash = strrchr(head, '/');
		const char *tail = path + (slash ? (size_t)(slash - head) + 1 : 0);
		if (slash == head)
			snprintf(rp, sizeof(rp), "/");
		else if (slash)
			*slash = '\0';
		if (!slash ? realpath(".", rp) != NULL : (slash == head || realpath(head, rp) != NULL))
			return snprintf(out, PATH_MAX, "%s/%s", strcmp(rp, "/") == 0 ? "" : rp, tail) < PATH_MAX;
		if (!slash || slash == head)
			return false;
	}
}

/* stat of path, or of its nearest existing ancestor. */
static int stat_existing(const char *path, struct stat *st)
{
	char p[PATH_MAX];
	if (snprintf(p, sizeof(p), "%s", path) >= (int)sizeof(p))
		return -1;
	for (;;) {
		if (stat(p, st) == 0)
			return 0;
		char *slash = strrchr(p, '/');
		if (!slash)
			return stat(".", st);
		if (slash == p)
			return stat("/", st);
		*slash = '\0';
	}
}

static void fmt_date(time_t t, char out[32])
{
	struct tm tm;
	if (!gmtime_r(&t, &tm) || !strftime(out, 32, "%Y-%m-%d", &tm))
		snprintf(out, 32, "?");
}

/* ------------------------------------------------------------ named checks */

static void ck_key_file_location(const struct ectx *c, const struct rule *r, struct verdict *v)
{
	(void)r;
	if (c->cfg->key_kind != HDB_KEY_FILE) {
		vact(v, "no key file (key source is not File)");
		return;
	}
	if (!c->db_path) {
		vact(v, "temporary database");
		return;
	}
	char k[PATH_MAX], d[PATH_MAX];
	if (!realpath(c->cfg->key_arg, k)) {
		vact(v, "key file '%s' cannot be resolved: %s", c->cfg->key_arg, strerror(errno));
		vfail(v, "the key file '%s' cannot be resolved: %s", c->cfg->key_arg, strerror(errno));
		return;
	}
	if (!resolve_dir(c->db_path, d)) {
		vact(v, "data directory '%s' cannot be resolved", c->db_path);
		vfail(v, "the data directory '%s' cannot be resolved: %s", c->db_path, strerror(errno));
		return;
	}
	size_t dl = strlen(d);
	vact(v, "key file %s, data directory %s", k, d);
	if (strncmp(k, d, dl) == 0 && (k[dl] == '/' || k[dl] == '\0'))
		vfail(v, "the key file %s is inside the data directory %s", k, d);
}

static void ck_key_file_filesystem(const struct ectx *c, const struct rule *r, struct verdict *v)
{
	(void)r;
	if (c->cfg->key_kind != HDB_KEY_FILE || !c->db_path) {
		vact(v, c->db_path ? "no key file (key source is not File)" : "temporary database");
		return;
	}
	struct stat ks, ds;
	if (stat(c->cfg->key_arg, &ks) != 0) {
		vact(v, "key file '%s': %s", c->cfg->key_arg, strerror(errno));
		vfail(v, "the key file '%s' cannot be read: %s", c->cfg->key_arg, strerror(errno));
		return;
	}
	if (stat_existing(c->db_path, &ds) != 0) {
		vact(v, "data directory '%s': %s", c->db_path, strerror(errno));
		vfail(v, "the data directory '%s' cannot be read: %s", c->db_path, strerror(errno));
		return;
	}
	vact(v, "key file on device %u:%u, data directory on device %u:%u", major(ks.st_dev), minor(ks.st_dev),
	     major(ds.st_dev), minor(ds.st_dev));
	if (ks.st_dev == ds.st_dev)
		vfail(v, "the key file '%s' is on the same filesystem as the data directory '%s' (device %u:%u)",
		      c->cfg->key_arg, c->db_path, major(ks.st_dev), minor(ks.st_dev));
}

static void ck_key_file_permissions(const struct ectx *c, const struct rule *r, struct verdict *v)
{
	(void)r;
	if (c->cfg->key_kind != HDB_KEY_FILE) {
		vact(v, "no key file (key source is not File)");
		return;
	}
	struct stat st;
	if (lstat(c->cfg->key_arg, &st) != 0) {
		vact(v, "key file '%s': %s", c->cfg->key_arg, strerror(errno));
		vfail(v, "the key file '%s' cannot be read: %s", c->cfg->key_arg, strerror(errno));
		return;
	}
	unsigned mode = st.st_mode & 07777;
	vact(v, "mode %04o, owner uid %u", mode, (unsigned)st.st_uid);
	if (S_ISLNK(st.st_mode))
		vfail(v, "the key file '%s' is a symbolic link", c->cfg->key_arg);
	else if (mode != 0400 && mode != 0440)
		vfail(v, "the key file '%s' has mode %04o", c->cfg->key_arg, mode);
	else if (st.st_uid != 0 && st.st_uid != geteuid())
		vfail(v, "the key file '%s' is owned by uid %u, neither root nor this process (uid %u)",
		      c->cfg->key_arg, (unsigned)st.st_uid, (unsigned)geteuid());
}

static void ck_key_age(const struct ectx *c, const struct rule *r, struct verdict *v)
{
	if (!c->cfg->enc_enabled) {
		vact(v, "encryption disabled: no keys");
		return;
	}
	if (!c->facts) {
		v->st = V_SKIP;
		vact(v, "checked when the database is opened");
		return;
	}
	int64_t limit_days = (int64_t)c->cfg->rotation_interval_days + (r->grace_days > 0 ? r->grace_days : 0);
	int64_t mage = c->facts->master_key_set ? ((int64_t)c->now - c->facts->master_key_set) / 86400 : -1;
	int64_t dage = c->facts->oldest_key ? ((int64_t)c->now - c->facts->oldest_key) / 86400 : -1;
	char md[32], dd[32];
	fmt_date((time_t)c->facts->master_key_set, md);
	fmt_date((time_t)c->facts->oldest_key, dd);
	vact(v, "master key set %s (%" PRId64 " days ago); oldest data key %" PRIu32 " created %s (%" PRId64
	        " days ago); limit %" PRId64 " days", md, mage, c->facts->oldest_key_id, dd, dage, limit_days);
	if (mage > limit_days)
		vfail(v, "the master key was set on %s, %" PRId64 " days ago, more than %" PRId64
		         " days (encryption.key_rotation.interval_days = %" PRIu32 "%s)", md, mage, limit_days,
		      c->cfg->rotation_interval_days, r->grace_days > 0 ? " plus the grace period" : "");
	else if (dage > limit_days)
		vfail(v, "data key %" PRIu32 " was created on %s, %" PRId64 " days ago, more than %" PRId64
		         " days (encryption.key_rotation.interval_days = %" PRIu32 "%s)", c->facts->oldest_key_id, dd,
		      dage, limit_days, c->cfg->rotation_interval_days, r->grace_days > 0 ? " plus the grace period" : "");
}

static void ck_data_dir_permissions(const struct ectx *c, const struct rule *r, struct verdict *v)
{
	(void)r;
	if (!c->db_path) {
		vact(v, "temporary database (private directory, mode 0700)");
		return;
	}
	struct stat st;
	if (stat(c->db_path, &st) != 0) {
		if (errno == ENOENT) {
			vact(v, "%s will be created with mode 0700", c->db_path);
			return;
		}
		vact(v, "%s: %s", c->db_path, strerror(errno));
		vfail(v, "the data directory '%s' cannot be read: %s", c->db_path, strerror(errno));
		return;
	}
	unsigned mode = st.st_mode & 07777;
	vact(v, "%s mode %04o", c->db_path, mode);
	if (mode & 077)
		vfail(v, "the data directory '%s' has mode %04o (group or others have access)", c->db_path, mode);
}

static void ck_not_root(const struct ectx *c, const struct rule *r, struct verdict *v)
{
	(void)c;
	(void)r;
	uid_t u = geteuid();
	vact(v, "effective uid %u", (unsigned)u);
	if (u == 0)
		vfail(v, "the process runs as root (uid 0)");
}

static void ck_core_dumps(const struct ectx *c, const struct rule *r, struct verdict *v)
{
	(void)c;
	(void)r;
	struct rlimit rl;
	int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	if (getrlimit(RLIMIT_CORE, &rl) != 0) {
		vfail(v, "cannot read RLIMIT_CORE: %s", strerror(errno));
		return;
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		vact(v, "RLIMIT_CORE unlimited, dumpable %d", dumpable);
	else
		vact(v, "RLIMIT_CORE %llu, dumpable %d", (unsigned long long)rl.rlim_cur, dumpable);
	if (rl.rlim_cur != 0 && dumpable != 0)
		vfail(v, "core dumps are enabled (%s)", v->actual);
}

static void ck_clock_synchronized(const struct ectx *c, const struct rule *r, struct verdict *v)
{
	(void)c;
	(void)r;
	struct timex tx;
	memset(&tx, 0, sizeof(tx));
	int st = adjtimex(&tx);
	if (st < 0) {
		vact(v, "adjtimex failed: %s", strerror(errno));
		vfail(v, "the clock's synchronisation state cannot be read: %s", strerror(errno));
		return;
	}
	bool unsync = st == TIME_ERROR || (tx.status & STA_UNSYNC);
	vact(v, "adjtimex state %d, status 0x%x%s, maxerror %ld us", st, (unsigned)tx.status,
	     (tx.status & STA_UNSYNC) ? " (STA_UNSYNC)" : "", (long)tx.maxerror);
	if (unsync)
		vfail(v, "the system clock is not synchronised to a time source (adjtimex reports STA_UNSYNC)");
}

static bool is_log_file_name(const char *name, const char *base)
{
	size_t bl = strlen(base);
	if (strncmp(name, base, bl) != 0)
		return false;
	if (name[bl] == '\0')
		return true;
	size_t nl = strlen(name);
	return name[bl] == '.' && !(nl >= 4 && strcmp(name + nl - 4, ".pub") == 0);
}

static void ck_audit_log_permissions(const struct ectx *c, const struct rule *r, struct verdict *v)
{
	(void)r;
	if (!c->log_file) {
		vact(v, "audit disabled: no log");
		return;
	}
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", c->log_file);
	char *slash = strrchr(dir, '/');
	const char *base = slash ? slash + 1 : c->log_file;
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	struct stat st;
	if (stat(dir, &st) != 0) {
		if (errno == ENOENT) {
			vact(v, "%s will be created with mode 0700", dir);
			return;
		}
		vfail(v, "the audit log directory '%s' cannot be read: %s", dir, strerror(errno));
		return;
	}
	unsigned mode = st.st_mode & 07777;
	if ((mode & 002) && !(mode & 01000)) {
		vact(v, "%s mode %04o", dir, mode);
		vfail(v, "the audit log directory '%s' is writable by others (mode %04o)", dir, mode);
		return;
	}
	DIR *d = opendir(dir);
	unsigned files = 0;
	if (!d) {
		vfail(v, "the audit log directory '%s' cannot be listed: %s", dir, strerror(errno));
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!is_log_file_name(de->d_name, base))
			continue;
		char p[PATH_MAX + 256];
		struct stat fs;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (lstat(p, &fs) != 0 || !S_ISREG(fs.st_mode))
			continue;
		files++;
		if (fs.st_mode & 004) {
			vact(v, "%s mode %04o", p, (unsigned)(fs.st_mode & 07777));
			vfail(v, "the audit log file '%s' is readable by everyone (mode %04o)", p,
			      (unsigned)(fs.st_mode & 07777));
			break;
		}
	}
	closedir(d);
	if (v->st == V_PASS)
		vact(v, "%s mode %04o; %u log file(s), none world-readable", dir, mode, files);
}

static void ck_tls_files(const struct ectx *c, const struct rule *r, struct verdict *v)
{
	(void)r;
	const char *cert = c->cfg->ssl_cert_file, *key = c->cfg->ssl_key_file;
	if (!cert || !key) {
		vact(v, "cert_file %s, key_file %s", cert ? cert : "unset", key ? key : "unset");
		vfail(v, "server.ssl.%s is not set", !cert ? "cert_file" : "key_file");
		return;
	}
	struct stat st;
	if (access(cert, R_OK) != 0) {
		vact(v, "certificate %s: %s", cert, strerror(errno));
		vfail(v, "the certificate '%s' cannot be read: %s", cert, strerror(errno));
		return;
	}
	if (access(key, R_OK) != 0 || stat(key, &st) != 0) {
		vact(v, "private key %s: %s", key, strerror(errno));
		vfail(v, "the private key '%s' cannot be read: %s", key, strerror(errno));
		return;
	}
	vact(v, "certificate %s readable; private key %s mode %04o", cert, key, (unsigned)(st.st_mode & 07777));
	if (st.st_mode & 004)
		vfail(v, "the private key '%s' is readable by everyone (mode %04o)", key, (unsigned)(st.st_mode & 07777));
}

static void ck_tls_certificate_expiry(const struct ectx *c, const struct rule *r, struct verdict *v)
{
	const char *cert = c->cfg->ssl_cert_file;
	if (!cert) {
		vact(v, "server.ssl.cert_file unset");
		vfail(v, "server.ssl.cert_file is not set");
		return;
	}
	FILE *f = fopen(cert, "r");
	if (!f) {
		vact(v, "certificate %s: %s", cert, strerror(errno));
		vfail(v, "the certificate '%s' cannot be read: %s", cert, strerror(errno));
		return;
	}
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!x) {
		vact(v, "certificate %s: not a PEM certificate", cert);
		vfail(v, "'%s' is not a PEM certificate", cert);
		return;
	}
	int day = 0, sec = 0;
	const ASN1_TIME *na = X509_get0_notAfter(x);
	char until[64] = "?";
	BIO *b = BIO_new(BIO_s_mem());
	if (b && ASN1_TIME_print(b, na)) {
		int n = BIO_read(b, until, sizeof(until) - 1);
		until[n > 0 ? n : 0] = '\0';
	}
	BIO_free(b);
	if (!ASN1_TIME_diff(&day, &sec, NULL, na)) {
		vfail(v, "the certificate '%s' has an unreadable expiry date", cert);
		X509_free(x);
		return;
	}
	X509_free(x);
	vact(v, "certificate %s valid until %s (%d days)", cert, until, day);
	if (day < 0 || (day == 0 && sec <= 0))
		vfail(v, "the certificate '%s' expired on %s", cert, until);
	else if (day < r->days)
		vfail(v, "the certificate '%s' expires in %d days (%s), within %" PRId64 " days", cert, day, until, r->days);
}

static const char *column_word(const struct rule *r, const char *column)
{
	for (size_t i = 0; i < r->nwords; i++)
		if (profile_name_has_word(column, r->words[i]))
			return r->words[i];
	return NULL;
}

static void ck_sensitive_columns(const struct ectx *c, const struct rule *r, struct verdict *v)
{
	if (!c->facts) {
		v->st = V_SKIP;
		vact(v, "checked when the database is opened");
		return;
	}
	unsigned bad = 0;
	for (size_t i = 0; i < c->facts->ncolumns; i++) {
		const char *tc = c->facts->columns[i];
		const char *dot = strchr(tc, '.');
		const char *w = column_word(r, dot ? dot + 1 : tc);
		if (!w)
			continue;
		if (bad++ == 0)
			vfail(v, "column %s is sensitive authentication data (\"%s\")", tc, w);
	}
	if (bad > 1) {
		size_t n = strlen(v->problem);
		snprintf(v->problem + n, sizeof(v->problem) - n, ", and %u more column(s)", bad - 1);
	}
	vact(v, "%zu column(s) checked, %u forbidden", c->facts->ncolumns, bad);
}

static void ck_fips_provider(const struct ectx *c, const struct rule *r, struct verdict *v)
{
	(void)r;
	if (!c->cfg->fips) {
		vact(v, "encryption.fips = false (FIPS mode not requested)");
		return;
	}
	OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();
	OSSL_PROVIDER *p = ctx ? OSSL_PROVIDER_load(ctx, "fips") : NULL;
	if (p) {
		vact(v, "the OpenSSL FIPS provider loads");
		OSSL_PROVIDER_unload(p);
	} else {
		vact(v, "the OpenSSL FIPS provider is not available");
		vfail(v, "encryption.fips = true but the OpenSSL FIPS provider cannot be loaded");
	}
	OSSL_LIB_CTX_free(ctx);
}

static const struct env_check checks[] = {
	{ "key_file_location", "", "key file outside the data directory", ck_key_file_location },
	{ "key_file_filesystem", "", "key file on another filesystem than the data", ck_key_file_filesystem },
	{ "key_file_permissions", "", "key file mode 0400 or 0440, owned by root or the service user",
	  ck_key_file_permissions },
	{ "key_age", "grace_days", "keys younger than encryption.key_rotation.interval_days (+ grace)", ck_key_age },
	{ "data_dir_permissions", "", "data directory mode 0700", ck_data_dir_permissions },
	{ "not_root", "", "not running as root", ck_not_root },
	{ "core_dumps", "", "core dumps disabled (RLIMIT_CORE 0 or not dumpable)", ck_core_dumps },
	{ "clock_synchronized", "", "system clock synchronised (adjtimex)", ck_clock_synchronized },
	{ "audit_log_permissions", "", "audit log directory not writable by others, files not world-readable",
	  ck_audit_log_permissions },
	{ "tls_files", "", "certificate and key readable, key not world-readable", ck_tls_files },
	{ "tls_certificate_expiry", "days", "certificate valid for more than `days` days", ck_tls_certificate_expiry },
	{ "sensitive_columns", "words", "no column named as sensitive authentication data", ck_sensitive_columns },
	{ "fips_provider", "", "FIPS provider loads when encryption.fips = true", ck_fips_provider },
};

static const struct env_check *find_check(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(checks); i++)
		if (strcmp(checks[i].name, name) == 0)
			return &checks[i];
	return NULL;
}

/* ------------------------------------------------------------ words */

/* next_word - the next word of s at *pos, lower-cased into out. */
static bool next_word(const char *s, size_t *pos, char *out, size_t outlen)
{
	size_t i = *pos, n = 0;
	while (s[i] && !((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
		i++;
	if (!s[i])
		return false;
	for (;;) {
		char ch = s[i];
		bool lower = ch >= 'a' && ch <= 'z', upper = ch >= 'A' && ch <= 'Z', digit = ch >= '0' && ch <= '9';
		if (!lower && !upper && !digit)
			break;
		/* camelCase: a capital after a lower-case letter or a digit starts a word ("track1Data") */
		if (n > 0 && upper && i > 0 && ((s[i - 1] >= 'a' && s[i - 1] <= 'z') || (s[i - 1] >= '0' && s[i - 1] <= '9')))
			break;
		if (n + 1 < outlen)
			out[n++] = upper ? (char)(ch - 'A' + 'a') : ch;
		i++;
	}
	out[n] = '\0';
	*pos = i;
	return true;
}

#define MAX_WORDS 32
static size_t split_words(const char *s, char words[MAX_WORDS][64])
{
	size_t n = 0, pos = 0;
	while (n < MAX_WORDS && next_word(s, &pos, words[n], sizeof(words[n])))
		n++;
	return n;
}

bool profile_name_has_word(const char *name, const char *term)
{
	char nw[MAX_WORDS][64], tw[MAX_WORDS][64];
	size_t nn = split_words(name, nw), tn = split_words(term, tw);
	if (tn == 0 || tn > nn)
		return false;
	for (size_t i = 0; i + tn <= nn; i++) {
		size_t j = 0;
		while (j < tn && strcmp(nw[i + j], tw[j]) == 0)
			j++;
		if (j == tn)
			return true;
	}
	return false;
}

/* ------------------------------------------------------------ loading */

static void rule_clear(struct rule *r)
{
	free(r->id);
	free(r->citation);
	free(r->area);
	free(r->statement);
	free(r->fix);
	free(r->key);
	free(r->unless_set);
	free(r->when);
	json_object_put(r->arg);
	for (size_t i = 0; i < r->nwords; i++)
		free(r->words[i]);
	free(r->words);
}

static void profile_clear(struct profile *p)
{
	for (size_t i = 0; i < p->nrules; i++)
		rule_clear(&p->rules[i]);
	free(p->rules);
	free(p->name);
	free(p->title);
}

void profile_set_free(struct profile_set *ps)
{
	if (!ps)
		return;
	for (size_t i = 0; i < ps->n; i++)
		profile_clear(&ps->v[i]);
	free(ps->v);
	free(ps);
}

size_t profile_set_count(const struct profile_set *ps)
{
	return ps ? ps->n : 0;
}

const char *profile_set_name(const struct profile_set *ps, size_t i)
{
	return ps && i < ps->n ? ps->v[i].name : NULL;
}

size_t profile_set_rules(const struct profile_set *ps)
{
	size_t n = 0;
	for (size_t i = 0; ps && i < ps->n; i++)
		n += ps->v[i].nrules;
	return n;
}

struct ploader {
	const char *file;
	char *err;
	size_t errlen;
	struct json_object *defaults;   /* effective config of the defaults: the known keys and their types */
};

static int perr(struct ploader *ld, unsigned line, unsigned col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int perr(struct ploader *ld, unsigned line, unsigned col, const char *fmt, ...)
{
	char msg[384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	errf(ld->err, ld->errlen, "%s:%u:%u: %s", ld->file, line, col, msg);
	return HDB_ECONFIG;
}

/* A string field: printable, one line, at most 400 bytes. */
static int get_str(struct ploader *ld, const struct toml_value *v, const char *what, unsigned line, unsigned col,
                   char **out)
{
	size_t len;
	const char *s = toml_type(v) == TOML_STRING ? toml_string(v, &len) : NULL;
	if (!s)
		return perr(ld, line, col, "%s must be a string", what);
	if (len == 0 || len > 400 || strlen(s) != len || strchr(s, '\n'))
		return perr(ld, line, col, "%s must be one line of 1 to 400 characters", what);
	if (!(*out = xstrndup(s, len)))
		return HDB_ENOMEM;
	return HDB_OK;
}

static struct json_object *toml_to_json_scalar(const struct toml_value *v)
{
	size_t len;
	switch (toml_type(v)) {
	case TOML_BOOL: return json_object_new_boolean(toml_bool(v));
	case TOML_INTEGER: return json_object_new_int64(toml_int(v));
	case TOML_STRING: {
		const char *s = toml_string(v, &len);
		return s && strlen(s) == len ? json_object_new_string_len(s, (int)len) : NULL;
	}
	default: return NULL;
	}
}

/* the type a config key holds (from the defaults; null: a string key) */
static enum json_type key_type(struct ploader *ld, const char *key, bool *known)
{
	struct json_object *v;
	*known = json_object_object_get_ex(ld->defaults, key, &v);
	if (!*known)
		return json_type_null;
	return v ? json_object_get_type(v) : json_type_string;
}

static bool type_fits(enum json_type key, enum json_type val)
{
	if (key == val)
		return true;
	return key == json_type_array && val == json_type_string;   /* one profile name */
}

static const char *const rule_fields[] = {
	"id", "citation", "area", "statement", "severity", "fix", "key", "equals", "min", "max", "one_of",
	"not_one_of", "is_set", "unless_set", "when", "check", "words", "grace_days", "days",
};
static const char *const areas = "encryption|audit|keys|storage|host|tls|schema";

static bool word_in(const char *list, const char *w)
{
	size_t wl = strlen(w);
	for (const char *p = list; *p;) {
		const char *bar = strchr(p, '|');
		size_t n = bar ? (size_t)(bar - p) : strlen(p);
		if (n == wl && memcmp(p, w, n) == 0)
			return true;
		if (!bar)
			break;
		p = bar + 1;
	}
	return false;
}

static int parse_rule(struct ploader *ld, const struct toml_value *t, struct rule *r)
{
	unsigned tl = toml_line(t), tc = toml_col(t);
	const struct toml_value *f[ARRAY_SIZE(rule_fields)] = { 0 };
	unsigned fl[ARRAY_SIZE(rule_fields)] = { 0 }, fc[ARRAY_SIZE(rule_fields)] = { 0 };
	char *sev = NULL, *check = NULL;
	int rc;
	r->grace_days = r->days = -1;
	for (size_t i = 0; i < toml_table_len(t); i++) {
		const char *k = toml_table_key(t, i);
		size_t j = 0;
		while (j < ARRAY_SIZE(rule_fields) && strcmp(rule_fields[j], k) != 0)
			j++;
		if (j == ARRAY_SIZE(rule_fields))
			return perr(ld, toml_table_key_line(t, i), toml_table_key_col(t, i),
			            "unknown key '%.40s' in a rule (known: id, citation, area, statement, severity, fix, "
			            "key, equals, min, max, one_of, not_one_of, is_set, unless_set, when, check, words, "
			            "grace_days, days)", k);
		f[j] = toml_table_at(t, i);
		fl[j] = toml_table_key_line(t, i);
		fc[j] = toml_table_key_col(t, i);
	}
	/* required strings */
	static const char *const req[] = { "id", "citation", "area", "statement", "severity", "fix" };
	char **dst[] = { &r->id, &r->citation, &r->area, &r->statement, &sev, &r->fix };
	for (size_t i = 0; i < ARRAY_SIZE(req); i++) {
		size_t j = 0;
		while (strcmp(rule_fields[j], req[i]) != 0)
			j++;
		if (!f[j]) {
			rc = perr(ld, tl, tc, "rule%s%s%s has no '%s'", r->id ? " '" : "", r->id ? r->id : "",
			          r->id ? "'" : "", req[i]);
			goto out;
		}
		rc = get_str(ld, f[j], req[i], fl[j], fc[j], dst[i]);
		if (rc)
			goto out;
	}
	if (!word_in(areas, r->area)) {
		rc = perr(ld, fl[2], fc[2], "rule '%s': area must be one of encryption, audit, keys, storage, host, "
		                            "tls, schema, got \"%.40s\"", r->id, r->area);
		goto out;
	}
	if (strcmp(sev, "refuse") != 0 && strcmp(sev, "warn") != 0) {
		rc = perr(ld, fl[4], fc[4], "rule '%s': severity must be \"refuse\" or \"warn\", got \"%.40s\"", r->id, sev);
		goto out;
	}
	r->refuse = strcmp(sev, "refuse") == 0;
	/* the check: key + one comparison, or a named check */
	enum { IX_KEY = 6, IX_EQ, IX_MIN, IX_MAX, IX_ONE, IX_NOTONE, IX_SET, IX_UNLESS, IX_WHEN, IX_CHECK, IX_WORDS,
	       IX_GRACE, IX_DAYS };
	if (!!f[IX_KEY] == !!f[IX_CHECK]) {
		rc = perr(ld, tl, tc, "rule '%s' needs exactly one of 'key' (a configuration key) or 'check' (a named "
		                      "check)", r->id);
		goto out;
	}
	if (f[IX_KEY]) {
		bool known;
		rc = get_str(ld, f[IX_KEY], "key", fl[IX_KEY], fc[IX_KEY], &r->key);
		if (rc)
			goto out;
		enum json_type kt = key_type(ld, r->key, &known);
		if (!known) {
			rc = perr(ld, fl[IX_KEY], fc[IX_KEY], "rule '%s': unknown configuration key '%.60s'", r->id, r->key);
			goto out;
		}
		int ncmp = 0, which = -1;
		for (int j = IX_EQ; j <= IX_SET; j++)
			if (f[j]) {
				ncmp++;
				which = j;
			}
		if (ncmp != 1) {
			rc = perr(ld, fl[IX_KEY], fc[IX_KEY], "rule '%s' needs exactly one of equals, min, max, one_of, "
			                                      "not_one_of, is_set for key '%s'", r->id, r->key);
			goto out;
		}
		const struct toml_value *a = f[which];
		unsigned al = fl[which], ac = fc[which];
		switch (which) {
		case IX_EQ:
			r->kind = CK_EQUALS;
			r->arg = toml_to_json_scalar(a);
			if (!r->arg || !type_fits(kt, json_object_get_type(r->arg))) {
				rc = perr(ld, al, ac, "rule '%s': equals must be a %s like the key '%s'", r->id,
				          kt == json_type_boolean ? "boolean" : kt == json_type_int ? "integer" : "string",
				          r->key);
				goto out;
			}
			break;
		case IX_MIN:
		case IX_MAX:
			r->kind = which == IX_MIN ? CK_MIN : CK_MAX;
			if (toml_type(a) != TOML_INTEGER || kt != json_type_int) {
				rc = perr(ld, al, ac, "rule '%s': %s needs an integer value and an integer key ('%s' is not)",
				          r->id, which == IX_MIN ? "min" : "max", r->key);
				goto out;
			}
			r->num = toml_int(a);
			break;
		case IX_ONE:
		case IX_NOTONE:
			r->kind = which == IX_ONE ? CK_ONE_OF : CK_NOT_ONE_OF;
			if (toml_type(a) != TOML_ARRAY || toml_array_len(a) == 0) {
				rc = perr(ld, al, ac, "rule '%s': %s must be a non-empty array", r->id,
				          which == IX_ONE ? "one_of" : "not_one_of");
				goto out;
			}
			if (!(r->arg = json_object_new_array())) {
				rc = HDB_ENOMEM;
				goto out;
			}
			for (size_t i = 0; i < toml_array_len(a); i++) {
				struct json_object *e = toml_to_json_scalar(toml_array_at(a, i));
				if (!e || !type_fits(kt, json_object_get_type(e))) {
					json_object_put(e);
					rc = perr(ld, toml_line(toml_array_at(a, i)), toml_col(toml_array_at(a, i)),
					          "rule '%s': element %zu has the wrong type for key '%s'", r->id, i, r->key);
					goto out;
				}
				json_object_array_add(r->arg, e);
			}
			break;
		default:
			r->kind = CK_IS_SET;
			if (toml_type(a) != TOML_BOOL || !toml_bool(a)) {
				rc = perr(ld, al, ac, "rule '%s': is_set must be true", r->id);
				goto out;
			}
			break;
		}
		static const int opt[] = { IX_UNLESS, IX_WHEN };
		for (size_t i = 0; i < 2; i++) {
			int j = opt[i];
			if (!f[j])
				continue;
			char **o = j == IX_UNLESS ? &r->unless_set : &r->when;
			rc = get_str(ld, f[j], rule_fields[j], fl[j], fc[j], o);
			if (rc)
				goto out;
			enum json_type ot = key_type(ld, *o, &known);
			if (!known || (j == IX_WHEN && ot != json_type_boolean)) {
				rc = perr(ld, fl[j], fc[j], "rule '%s': %s must name a%s configuration key, got '%.60s'", r->id,
				          rule_fields[j], j == IX_WHEN ? " boolean" : "", *o);
				goto out;
			}
		}
		for (int j = IX_WORDS; j <= IX_DAYS; j++)
			if (f[j]) {
				rc = perr(ld, fl[j], fc[j], "rule '%s': '%s' belongs to a named check, not to a key check",
				          r->id, rule_fields[j]);
				goto out;
			}
	} else {
		r->kind = CK_ENV;
		rc = get_str(ld, f[IX_CHECK], "check", fl[IX_CHECK], fc[IX_CHECK], &check);
		if (rc)
			goto out;
		if (!(r->env = find_check(check))) {
			char known[512] = "";
			for (size_t i = 0; i < ARRAY_SIZE(checks); i++)
				snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s", i ? ", " : "",
				         checks[i].name);
			rc = perr(ld, fl[IX_CHECK], fc[IX_CHECK], "rule '%s': unknown check '%.40s' (known: %s)", r->id, check,
			          known);
			goto out;
		}
		for (int j = IX_EQ; j <= IX_SET; j++)
			if (f[j]) {
				rc = perr(ld, fl[j], fc[j], "rule '%s': '%s' needs 'key', not 'check'", r->id, rule_fields[j]);
				goto out;
			}
		if (f[IX_UNLESS]) {
			rc = perr(ld, fl[IX_UNLESS], fc[IX_UNLESS], "rule '%s': unless_set needs 'key'", r->id);
			goto out;
		}
		if (f[IX_WHEN]) {
			bool known;
			rc = get_str(ld, f[IX_WHEN], "when", fl[IX_WHEN], fc[IX_WHEN], &r->when);
			if (rc)
				goto out;
			if (key_type(ld, r->when, &known) != json_type_boolean || !known) {
				rc = perr(ld, fl[IX_WHEN], fc[IX_WHEN], "rule '%s': when must name a boolean configuration key, "
				                                        "got '%.60s'", r->id, r->when);
				goto out;
			}
		}
		for (int j = IX_WORDS; j <= IX_DAYS; j++) {
			bool takes = strcmp(r->env->params, rule_fields[j]) == 0;
			if (f[j] && !takes) {
				rc = perr(ld, fl[j], fc[j], "rule '%s': check '%s' takes no '%s'", r->id, r->env->name,
				          rule_fields[j]);
				goto out;
			}
			if (!f[j] && takes && j != IX_GRACE) {
				rc = perr(ld, tl, tc, "rule '%s': check '%s' needs '%s'", r->id, r->env->name, rule_fields[j]);
				goto out;
			}
		}
		if (f[IX_WORDS]) {
			const struct toml_value *a = f[IX_WORDS];
			size_t n = toml_type(a) == TOML_ARRAY ? toml_array_len(a) : 0;
			if (n == 0 || n > 256) {
				rc = perr(ld, fl[IX_WORDS], fc[IX_WORDS], "rule '%s': words must be an array of 1 to 256 strings",
				          r->id);
				goto out;
			}
			if (!(r->words = calloc(n, sizeof(*r->words)))) {
				rc = HDB_ENOMEM;
				goto out;
			}
			for (size_t i = 0; i < n; i++) {
				const struct toml_value *e = toml_array_at(a, i);
				rc = get_str(ld, e, "each of words", toml_line(e), toml_col(e), &r->words[i]);
				if (rc)
					goto out;
				r->nwords = i + 1;
			}
		}
		static const int nums[] = { IX_GRACE, IX_DAYS };
		for (size_t i = 0; i < 2; i++) {
			int j = nums[i];
			if (!f[j])
				continue;
			if (toml_type(f[j]) != TOML_INTEGER || toml_int(f[j]) < 0 || toml_int(f[j]) > 3650) {
				rc = perr(ld, fl[j], fc[j], "rule '%s': %s must be an integer from 0 to 3650", r->id,
				          rule_fields[j]);
				goto out;
			}
			*(j == IX_GRACE ? &r->grace_days : &r->days) = toml_int(f[j]);
		}
	}
	rc = HDB_OK;
out:
	free(sev);
	free(check);
	return rc;
}

static int parse_profile(struct ploader *ld, const char *text, size_t len, const char *name, struct profile *p)
{
	struct toml_value *root = NULL;
	int rc = toml_parse(text, len, ld->file, &root, ld->err, ld->errlen);
	if (rc)
		return rc;
	const struct toml_value *meta = NULL, *rules = NULL;
	for (size_t i = 0; i < toml_table_len(root); i++) {
		const char *k = toml_table_key(root, i);
		if (strcmp(k, "profile") == 0)
			meta = toml_table_at(root, i);
		else if (strcmp(k, "rule") == 0)
			rules = toml_table_at(root, i);
		else {
			rc = perr(ld, toml_table_key_line(root, i), toml_table_key_col(root, i),
			          "unknown key '%.40s' (a profile has [profile] and [[rule]] tables)", k);
			goto out;
		}
	}
	if (!meta || toml_type(meta) != TOML_TABLE) {
		rc = perr(ld, 1, 1, "missing [profile] table (name, title)");
		goto out;
	}
	for (size_t i = 0; i < toml_table_len(meta); i++) {
		const char *k = toml_table_key(meta, i);
		unsigned l = toml_table_key_line(meta, i), c = toml_table_key_col(meta, i);
		const struct toml_value *v = toml_table_at(meta, i);
		char *tmp = NULL;
		if (strcmp(k, "name") == 0)
			rc = get_str(ld, v, "profile.name", l, c, &p->name);
		else if (strcmp(k, "title") == 0)
			rc = get_str(ld, v, "profile.title", l, c, &p->title);
		else if (strcmp(k, "description") == 0 || strcmp(k, "version") == 0) {
			rc = get_str(ld, v, k, l, c, &tmp);
			free(tmp);
		} else
			rc = perr(ld, l, c, "unknown key 'profile.%.40s' (known: name, title, description, version)", k);
		if (rc)
			goto out;
	}
	if (!p->name || !p->title) {
		rc = perr(ld, toml_line(meta), toml_col(meta), "[profile] needs name and title");
		goto out;
	}
	if (name && strcmp(p->name, name) != 0) {
		rc = perr(ld, toml_line(meta), toml_col(meta), "profile.name is \"%.40s\" but the file is for \"%s\"",
		          p->name, name);
		goto out;
	}
	if (!rules || toml_type(rules) != TOML_ARRAY || toml_array_len(rules) == 0) {
		rc = perr(ld, 1, 1, "a profile needs at least one [[rule]]");
		goto out;
	}
	size_t n = toml_array_len(rules);
	if (n > MAX_RULES) {
		rc = perr(ld, 1, 1, "more than %u rules", MAX_RULES);
		goto out;
	}
	if (!(p->rules = calloc(n, sizeof(*p->rules)))) {
		rc = HDB_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct toml_value *t = toml_array_at(rules, i);
		if (toml_type(t) != TOML_TABLE) {
			rc = perr(ld, toml_line(t), toml_col(t), "rule must be a table");
			goto out;
		}
		p->nrules = i + 1;
		rc = parse_rule(ld, t, &p->rules[i]);
		if (rc)
			goto out;
		for (size_t j = 0; j < i; j++)
			if (strcmp(p->rules[j].id, p->rules[i].id) == 0) {
				rc = perr(ld, toml_line(t), toml_col(t), "rule id '%s' is used twice", p->rules[i].id);
				goto out;
			}
	}
	rc = HDB_OK;
out:
	toml_free(root);
	return rc;
}

static int set_add(struct profile_set *ps, struct ploader *ld, const char *text, size_t len, const char *name)
{
	struct profile *v = realloc(ps->v, (ps->n + 1) * sizeof(*v));
	if (!v)
		return HDB_ENOMEM;
	ps->v = v;
	memset(&v[ps->n], 0, sizeof(v[ps->n]));
	int rc = parse_profile(ld, text, len, name, &v[ps->n]);
	if (rc) {
		profile_clear(&v[ps->n]);
		return rc;
	}
	ps->n++;
	return HDB_OK;
}

static struct json_object *default_keys(void)
{
	struct hdb_config d;
	memset(&d, 0, sizeof(d));
	if (config_defaults(&d) != HDB_OK)
		return NULL;
	struct json_object *o = config_effective_json(&d);
	config_clear(&d);
	return o;
}

int profile_set_parse(const char *text, size_t len, const char *filename, const char *name,
                      struct profile_set **ret, char *err, size_t errlen)
{
	struct ploader ld = { filename ? filename : "<profile>", err, errlen, default_keys() };
	struct profile_set *ps = calloc(1, sizeof(*ps));
	int rc = ps && ld.defaults ? set_add(ps, &ld, text, len, name) : HDB_ENOMEM;
	json_object_put(ld.defaults);
	if (rc) {
		if (rc == HDB_ENOMEM)
			errf(err, errlen, "out of memory");
		profile_set_free(ps);
		return rc;
	}
	*ret = ps;
	return HDB_OK;
}

const char *profile_dir(const struct hdb_config *cfg)
{
	if (cfg && cfg->profile_dir)
		return cfg->profile_dir;
	const char *e = getenv("HELIOSDB_PROFILE_DIR");
	if (e && *e)
		return e;
	struct stat st;
	if (stat(HDB_PROFILE_DIR, &st) == 0 && S_ISDIR(st.st_mode))
		return HDB_PROFILE_DIR;
	return "profiles";
}

static int read_profile(const char *path, char **ret, size_t *ret_len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		errf(err, errlen, "cannot read profile '%s': %s", path, strerror(errno));
		return errno == ENOENT ? HDB_ENOTFOUND : HDB_EIO;
	}
	char *t = malloc(MAX_PROFILE_BYTES + 1);
	size_t n = t ? fread(t, 1, MAX_PROFILE_BYTES + 1, f) : 0;
	int bad = ferror(f);
	fclose(f);
	if (!t) {
		errf(err, errlen, "out of memory");
		return HDB_ENOMEM;
	}
	if (bad || n > MAX_PROFILE_BYTES) {
		errf(err, errlen, "cannot read profile '%s': %s", path, bad ? "read error" : "larger than 1 MiB");
		free(t);
		return bad ? HDB_EIO : HDB_ECONFIG;
	}
	*ret = t;
	*ret_len = n;
	return HDB_OK;
}

int profile_set_load(const struct hdb_config *cfg, struct profile_set **ret, char *err, size_t errlen)
{
	struct profile_set *ps = calloc(1, sizeof(*ps));
	if (!ps) {
		errf(err, errlen, "out of memory");
		return HDB_ENOMEM;
	}
	if (cfg->nprofiles == 0) {
		*ret = ps;
		return HDB_OK;
	}
	const char *dir = profile_dir(cfg);
	struct ploader ld = { NULL, err, errlen, default_keys() };
	int rc = ld.defaults ? HDB_OK : HDB_ENOMEM;
	for (size_t i = 0; !rc && i < cfg->nprofiles; i++) {
		char path[PATH_MAX];
		char *text = NULL;
		size_t len = 0;
		if (snprintf(path, sizeof(path), "%s/%s.toml", dir, cfg->profiles[i]) >= (int)sizeof(path)) {
			errf(err, errlen, "profile directory '%s' is too long", dir);
			rc = HDB_ECONFIG;
			break;
		}
		rc = read_profile(path, &text, &len, err, errlen);
		if (rc == HDB_ENOTFOUND)
			errf(err, errlen, "compliance profile '%s' not found: no file %s (set compliance.profile_dir or "
			                  "HELIOSDB_PROFILE_DIR)", cfg->profiles[i], path);
		if (rc)
			break;
		ld.file = path;
		rc = set_add(ps, &ld, text, len, cfg->profiles[i]);
		free(text);
	}
	json_object_put(ld.defaults);
	if (rc) {
		profile_set_free(ps);
		return rc;
	}
	*ret = ps;
	return HDB_OK;
}

/* ------------------------------------------------------------ evaluation */

static bool value_set(struct json_object *v)
{
	if (!v)
		return false;
	if (json_object_is_type(v, json_type_string))
		return json_object_get_string_len(v) > 0;
	if (json_object_is_type(v, json_type_array))
		return json_object_array_length(v) > 0;
	return true;
}

static bool value_in(struct json_object *v, struct json_object *arr)
{
	for (size_t i = 0; i < json_object_array_length(arr); i++)
		if (json_object_equal(v, json_object_array_get_idx(arr, i)))
			return true;
	return false;
}

static const char *jtext(struct json_object *v)
{
	return v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
	         : "unset";
}

static void required_text(const struct rule *r, char *out, size_t n)
{
	const char *arg = r->arg ? jtext(r->arg) : "";
	switch (r->kind) {
	case CK_EQUALS: snprintf(out, n, "= %s", arg); break;
	case CK_MIN: snprintf(out, n, ">= %" PRId64, r->num); break;
	case CK_MAX: snprintf(out, n, "<= %" PRId64, r->num); break;
	case CK_ONE_OF: snprintf(out, n, "one of %s", arg); break;
	case CK_NOT_ONE_OF: snprintf(out, n, "none of %s", arg); break;
	case CK_IS_SET: snprintf(out, n, "set"); break;
	case CK_ENV:
		if (r->env->fn == ck_tls_certificate_expiry)
			snprintf(out, n, "certificate valid for more than %" PRId64 " days", r->days);
		else if (r->env->fn == ck_key_age && r->grace_days > 0)
			snprintf(out, n, "keys younger than encryption.key_rotation.interval_days + %" PRId64 " days",
			         r->grace_days);
		else
			snprintf(out, n, "%s", r->env->required);
		return;
	}
	if (r->unless_set) {
		size_t l = strlen(out);
		snprintf(out + l, n - l, " (or %s set)", r->unless_set);
	}
}

static bool key_bool(const struct ectx *c, const char *key)
{
	struct json_object *v;
	return json_object_object_get_ex(c->eff, key, &v) && v && json_object_get_boolean(v);
}

static void eval_rule(const struct ectx *c, const struct rule *r, const char *required, struct verdict *v)
{
	memset(v, 0, sizeof(*v));
	if (r->when && !key_bool(c, r->when)) {
		vact(v, "not applicable: %s = false", r->when);
		return;
	}
	if (r->kind == CK_ENV) {
		r->env->fn(c, r, v);
		return;
	}
	struct json_object *val = NULL;
	json_object_object_get_ex(c->eff, r->key, &val);
	vact(v, "%s = %s", r->key, jtext(val));
	bool ok;
	switch (r->kind) {
	case CK_EQUALS:
		ok = val && (json_object_is_type(val, json_type_array) ? value_in(r->arg, val) : json_object_equal(val, r->arg));
		break;
	case CK_MIN:
	case CK_MAX: {
		int64_t x = val && json_object_is_type(val, json_type_int) ? json_object_get_int64(val) : 0;
		ok = val && (r->kind == CK_MIN ? x >= r->num : x <= r->num);
		break;
	}
	case CK_ONE_OF: ok = val && value_in(val, r->arg); break;
	case CK_NOT_ONE_OF: ok = !val || !value_in(val, r->arg); break;
	default: ok = value_set(val); break;
	}
	if (!ok && r->unless_set) {
		struct json_object *u = NULL;
		if (json_object_object_get_ex(c->eff, r->unless_set, &u) && value_set(u)) {
			size_t l = strlen(v->actual);
			snprintf(v->actual + l, sizeof(v->actual) - l, "; %s = %s", r->unless_set, jtext(u));
			return;
		}
	}
	if (!ok)
		vfail(v, "%s is %s, required %s", r->key, jtext(val), required);
}

int profile_evaluate(const struct profile_set *ps, const struct hdb_config *cfg, const char *db_path,
                     const char *log_file, const struct profile_facts *facts, hdb_rule_fn fn, void *arg,
                     struct profile_summary *sum, char *err, size_t errlen)
{
	struct profile_summary s = { 0 };
	struct ectx c = { cfg, config_effective_json(cfg), db_path, log_file, facts, time(NULL) };
	if (!c.eff) {
		errf(err, errlen, "out of memory");
		return HDB_ENOMEM;
	}
	char first[1200] = "";
	for (size_t i = 0; ps && i < ps->n; i++) {
		const struct profile *p = &ps->v[i];
		for (size_t j = 0; j < p->nrules; j++) {
			const struct rule *r = &p->rules[j];
			char required[512];
			struct verdict v;
			required_text(r, required, sizeof(required));
			eval_rule(&c, r, required, &v);
			const char *status = v.st == V_SKIP ? "skip" : v.st == V_PASS ? "pass" : r->refuse ? "fail" : "warn";
			if (v.st == V_SKIP)
				s.skipped++;
			else if (v.st == V_PASS)
				s.passed++;
			else if (r->refuse) {
				if (s.refusals++ == 0)
					snprintf(first, sizeof(first), "%s (%s): %s; %s", r->id, r->citation, v.problem, r->fix);
			} else
				s.warnings++;
			if (fn) {
				struct hdb_rule_result res = { p->name, r->id, r->citation, r->area, r->statement,
					                       r->refuse ? "refuse" : "warn", status, required, v.actual,
					                       v.st == V_FAIL ? v.problem : "", r->fix };
				fn(arg, &res);
			}
		}
	}
	json_object_put(c.eff);
	if (sum)
		*sum = s;
	if (s.refusals) {
		if (s.refusals == 1)
			errf(err, errlen, "compliance: %s", first);
		else
			errf(err, errlen, "compliance: %s (and %u more refusals; 'heliosdb-nano verify --check profile' "
			                  "lists them)", first, s.refusals - 1);
		return HDB_ECOMPLIANCE;
	}
	return HDB_OK;
}

int profile_column_check(const struct profile_set *ps, const char *table, const char *column, char *err,
                         size_t errlen)
{
	for (size_t i = 0; ps && i < ps->n; i++)
		for (size_t j = 0; j < ps->v[i].nrules; j++) {
			const struct rule *r = &ps->v[i].rules[j];
			if (r->kind != CK_ENV || r->env->fn != ck_sensitive_columns || !r->refuse)
				continue;
			const char *w = column_word(r, column);
			if (w) {
				errf(err, errlen, "%s (%s): table '%s' column '%s' is sensitive authentication data (\"%s\"); %s",
				     r->id, r->citation, table, column, w, r->fix);
				return HDB_ECOMPLIANCE;
			}
		}
	return HDB_OK;
}
