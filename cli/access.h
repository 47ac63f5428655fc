/*
 * access.h - the audit records of the verbs that read logs (audit-verify,
 * audit-report): that the log was read (PCI DSS 10.2.1.3), and what they
 * wrote, with its SHA-256.
 */
#ifndef HDB_CLI_ACCESS_H
#define HDB_CLI_ACCESS_H

/* cli_record_access - loads the configuration `config`, opens its database
 * (compliance profiles apply, as for every start), records one
 * "audit_access" event for `tool` reading `input` (NULL: the database's
 * own log) and closes it again.  *ret_log and *ret_pub (malloc'd; may be
 * NULL pointers to skip) receive the database's log and public key paths.
 * Returns 0, or an exit code (2 configuration, 3 key, 4 refused, 1 other)
 * after printing one line "heliosdb-nano: TOOL: message" on stderr. */
int cli_record_access(const char *config, const char *tool, const char *input, char **ret_log, char **ret_pub);

/* cli_record_export - opens the configuration's database again and records
 * one "export_run" event: `tool` wrote `output` (of kind `what`) whose
 * SHA-256 is sha256_hex.  0 or an exit code, as cli_record_access. */
int cli_record_export(const char *config, const char *tool, const char *output, const char *sha256_hex,
                      const char *what);

/* cli_whoami - the principal of the CLI's sessions: $USER, else the
 * account of the real uid, else "unknown". */
const char *cli_whoami(void);

/* cli_file_sha256 - the SHA-256 of a file as 64 hex characters; 0 or -1. */
int cli_file_sha256(const char *path, char hex[65]);

#endif
