/*
 * access.c - the audit records of the log-reading verbs: the reading itself
 * (audit_access) and what they wrote (export_run).
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "access.h"
#include "heliosdb.h"

const char *cli_whoami(void)
{
	const char *u = getenv("USER");
	if (u && *u)
		return u;
	struct passwd *pw = getpwuid(getuid());
	return pw ? pw->pw_name : "unknown";
}

static int code_for(int rc)
{
	switch (rc) {
	case HDB_EKEY: case HDB_EKEYSRC: case HDB_EPERM: return 3;
	case HDB_EPARSE: case HDB_ECONFIG: case HDB_EINVAL: return 2;
	case HDB_ECOMPLIANCE: return 4;
	default: return 1;
	}
}

struct conn {
	struct hdb_config *cfg;
	struct hdb_db *db;
	struct hdb_session *s;
};

/* conn_open - the configuration's database and a session of this user. */
static int conn_open(struct conn *c, const char *config, const char *tool)
{
	memset(c, 0, sizeof(*c));
	int rc = hdb_config_load(config, &c->cfg);
	if (rc) {
		fprintf(stderr, "heliosdb-nano: %s: %s\n", tool, c->cfg ? hdb_config_errmsg(c->cfg) : hdb_strerror(rc));
		return rc;
	}
	rc = hdb_open(NULL, c->cfg, 0, &c->db);
	if (rc) {
		fprintf(stderr, "heliosdb-nano: %s: %s\n", tool, hdb_errmsg(c->db));
		return rc;
	}
	struct hdb_principal who = { cli_whoami(), "local", tool };
	rc = hdb_session_open(c->db, &who, &c->s);
	if (rc) {
		fprintf(stderr, "heliosdb-nano: %s: cannot open a session: %s\n", tool, hdb_errmsg(c->db));
		return rc;
	}
	if (!hdb_audit_log_path(c->db)) {
		fprintf(stderr, "heliosdb-nano: %s: audit is disabled in '%s': there is no log\n", tool, config);
		return HDB_EINVAL;
	}
	return HDB_OK;
}

/* conn_close - closes: the records, db_close and the closing checkpoint
 * reach the log first. */
static void conn_close(struct conn *c)
{
	hdb_session_close(c->s);
	hdb_close(c->db);
	hdb_config_free(c->cfg);
	memset(c, 0, sizeof(*c));
}

int cli_record_access(const char *config, const char *tool, const char *input, char **ret_log, char **ret_pub)
{
	struct conn c;
	char *log = NULL, *pub = NULL;
	int rc = conn_open(&c, config, tool);
	if (!rc) {
		rc = hdb_audit_access(c.s, tool, input ? input : hdb_audit_log_path(c.db));
		if (rc)
			fprintf(stderr, "heliosdb-nano: %s: cannot record the access to the audit log: %s\n", tool,
			        hdb_session_errmsg(c.s));
	}
	if (!rc) {
		log = strdup(hdb_audit_log_path(c.db));
		pub = strdup(hdb_audit_pubkey_path(c.db));
		if (!log || !pub) {
			fprintf(stderr, "heliosdb-nano: %s: out of memory\n", tool);
			rc = HDB_ENOMEM;
		}
	}
	conn_close(&c);
	if (!rc && ret_log) {
		*ret_log = log;
		log = NULL;
	}
	if (!rc && ret_pub) {
		*ret_pub = pub;
		pub = NULL;
	}
	free(log);
	free(pub);
	return rc ? code_for(rc) : 0;
}

int cli_file_sha256(const char *path, char hex[65])
{
	unsigned char buf[65536], md[32];
	unsigned int mdl = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ok = ok && n == 0;
			break;
		}
		ok = ok && EVP_DigestUpdate(ctx, buf, (size_t)n);
	}
	close(fd);
	ok = ok && EVP_DigestFinal_ex(ctx, md, &mdl) && mdl == 32;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -1;
	for (size_t i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

int cli_record_export(const char *config, const char *tool, const char *output, const char *sha256_hex,
                      const char *what)
{
	struct conn c;
	int rc = conn_open(&c, config, tool);
	if (!rc) {
		rc = hdb_audit_export(c.s, tool, output, sha256_hex, what);
		if (rc)
			fprintf(stderr, "heliosdb-nano: %s: cannot record the export in the audit log: %s\n", tool,
			        hdb_session_errmsg(c.s));
	}
	conn_close(&c);
	return rc ? code_for(rc) : 0;
}
