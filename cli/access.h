/*
 * access.h - recording that one of our tools read the audit log (PCI DSS
 * 10.2.1.3), for the verbs that read logs (audit-verify, audit-report).
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

#endif
