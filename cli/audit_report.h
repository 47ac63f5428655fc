/*
 * audit_report.h - the `heliosdb-nano audit-report` verb (cli/audit_report.c).
 */
#ifndef HDB_CLI_AUDIT_REPORT_H
#define HDB_CLI_AUDIT_REPORT_H

/* cmd_audit_report - argv[0] is "audit-report"; returns the exit code. */
int cmd_audit_report(int argc, char **argv);

#endif
