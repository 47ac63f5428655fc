/*
 * access.c - the audit_access record of the log-reading verbs.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "heliosdb.h"

static int code_for(int rc)
{
	switch (rc) {
	case HDB_EKEY: case HDB_EKEYSRC: case HDB_EPERM: return 3;
	case HDB_EPARSE: case HDB_ECONFIG: case HDB_EINVAL: return 2;
	case HDB_ECOMPLIANCE: return 4;
	default: return 1;
	}
}

int cli_record_access(const char *config, const char *tool, const char *input, char **ret_log, char **ret_pub)
{
	struct hdb_config *cfg = NULL;
	struct hdb_db *db = NULL;
	struct hdb_session *s = NULL;
	char *log = NULL, *pub = NULL;
	int rc = hdb_config_load(config, &cfg);
	if (rc) {
		fprintf(stderr, "heliosdb-nano: %s: %s\n", tool, cfg ? hdb_config_errmsg(cfg) : hdb_strerror(rc));
		goto out;
	}
	rc = hdb_open(NULL, cfg, 0, &db);
	if (rc) {
		fprintf(stderr, "heliosdb-nano: %s: %s\n", tool, hdb_errmsg(db));
		goto out;
	}
	const char *user = getenv("USER");
	struct passwd *pw = user && *user ? NULL : getpwuid(getuid());
	struct hdb_principal who = { user && *user ? user : pw ? pw->pw_name : "unknown", "local", tool };
	rc = hdb_session_open(db, &who, &s);
	if (!rc && !hdb_audit_log_path(db)) {
		fprintf(stderr, "heliosdb-nano: %s: audit is disabled in '%s': there is no log to read\n", tool, config);
		rc = HDB_EINVAL;
		goto out;
	}
	if (!rc)
		rc = hdb_audit_access(s, tool, input ? input : hdb_audit_log_path(db));
	if (rc) {
		fprintf(stderr, "heliosdb-nano: %s: cannot record the access to the audit log: %s\n", tool,
		        s ? hdb_session_errmsg(s) : hdb_errmsg(db));
		goto out;
	}
	log = strdup(hdb_audit_log_path(db));
	pub = strdup(hdb_audit_pubkey_path(db));
	if (!log || !pub) {
		fprintf(stderr, "heliosdb-nano: %s: out of memory\n", tool);
		rc = HDB_ENOMEM;
	}
out:
	hdb_session_close(s);
	hdb_close(db);   /* the access record, db_close and the closing checkpoint reach the log first */
	hdb_config_free(cfg);
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
