/*
 * audit_verify.h - the `heliosdb-nano audit-verify` verb (cli/audit_verify.c).
 */
#ifndef HDB_CLI_AUDIT_VERIFY_H
#define HDB_CLI_AUDIT_VERIFY_H

/* cmd_audit_verify - argv[0] is "audit-verify"; returns the exit code:
 * 0 the log verified, 1 findings (or a log that cannot be read), 2 usage,
 * 3 the public key file is missing or malformed.  Prints the findings and
 * a summary on stdout, errors on stderr. */
int cmd_audit_verify(int argc, char **argv);

#endif
