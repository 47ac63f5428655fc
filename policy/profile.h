/*
 * profile.h - compliance profiles: rules as data (profiles/<name>.toml),
 * loaded strictly and evaluated against a configuration, the host and
 * (once it is open) the database.
 *
 * A profile file is
 *
 *   [profile]
 *   name = "hipaa"                 # must match the file name
 *   title = "..."                  # shown in checklists and reports
 *   description = "..."            # optional
 *
 *   [[rule]]
 *   id = "HIPAA-164.312(b)"        # unique in the profile
 *   citation = "45 CFR 164.312(b)"
 *   area = "audit"                 # encryption|audit|keys|storage|host|tls|schema
 *   statement = "..."              # one line: what the rule requires
 *   severity = "refuse"            # refuse: will not start; warn: starts, recorded
 *   fix = "..."                    # one line: how to comply
 *   # the check: a configuration key ...
 *   key = "audit.enabled"          #   with exactly one of
 *   equals = true                  #   equals / min / max / one_of / not_one_of / is_set
 *   unless_set = "audit.retention_justification"   # optional: passes when that key is set
 *   when = "server.enabled"        # optional: applies only when that boolean key is true
 *   # ... or a named check of the environment or the database
 *   check = "key_file_location"    # see docs/compliance.md; parameters:
 *   words = ["cvv", ...]           #   sensitive_columns
 *   grace_days = 30                #   key_age
 *   days = 30                      #   tls_certificate_expiry
 *
 * Any other key, a missing field, a wrong type or an unknown config key or
 * check is an error "FILE:LINE:COL: ...".  Adding a rule of an existing kind
 * is a data change only.
 */
#ifndef HDB_POLICY_PROFILE_H
#define HDB_POLICY_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct profile_set;

/* What only the open database can tell. */
struct profile_facts {
	int64_t master_key_set;       /* unix seconds the master key was set (init, rotate-key); 0 unknown */
	int64_t oldest_key;           /* creation of the oldest data key not retired; 0 none */
	uint32_t oldest_key_id;
	char **columns;               /* "table.column" of every table */
	size_t ncolumns;
};

struct profile_summary {
	unsigned passed, warnings, refusals, skipped;
};

/* profile_dir - where profiles are looked up: compliance.profile_dir,
 * $HELIOSDB_PROFILE_DIR, HDB_PROFILE_DIR (the installed share directory)
 * when it exists, else "profiles" (relative to the working directory). */
const char *profile_dir(const struct hdb_config *cfg);

/* profile_set_load - loads every profile the configuration names, from
 * profile_dir().  No profile: an empty set (not an error).  Errors:
 * HDB_ECONFIG/HDB_EPARSE with "FILE:LINE:COL: ..." in err, HDB_ENOTFOUND
 * (no such profile file), HDB_ENOMEM. */
int profile_set_load(const struct hdb_config *cfg, struct profile_set **ret, char *err, size_t errlen);
/* profile_set_parse - one profile from text (for tests and the fuzzer);
 * `name` is what the [profile] name must be (NULL: any). */
int profile_set_parse(const char *text, size_t len, const char *filename, const char *name,
                      struct profile_set **ret, char *err, size_t errlen);
void profile_set_free(struct profile_set *ps);
size_t profile_set_count(const struct profile_set *ps);
const char *profile_set_name(const struct profile_set *ps, size_t i);
size_t profile_set_rules(const struct profile_set *ps);

/* profile_evaluate - evaluates every rule.  db_path: the database directory
 * (NULL for a temporary one); log_file: the audit log (NULL: audit off);
 * facts NULL before the database is open (rules that need it are
 * "skip").  fn (may be NULL) sees each result.  Returns HDB_OK, or
 * HDB_ECOMPLIANCE when a refuse-level rule failed, with "RULE-ID
 * (citation): problem; fix" of the first and a count in err. */
int profile_evaluate(const struct profile_set *ps, const struct hdb_config *cfg, const char *db_path,
                     const char *log_file, const struct profile_facts *facts, hdb_rule_fn fn, void *arg,
                     struct profile_summary *sum, char *err, size_t errlen);

/* profile_column_check - the sensitive_columns rules against one column of
 * a new table.  HDB_OK, or HDB_ECOMPLIANCE with the rule's message in err. */
int profile_column_check(const struct profile_set *ps, const char *table, const char *column, char *err,
                         size_t errlen);

/* profile_name_has_word - whether `name`, split into words (at '_', '-',
 * spaces, other non-alphanumerics and camelCase humps), contains the word
 * sequence of `term` ("pin_block" = pin, block).  Whole words only. */
bool profile_name_has_word(const char *name, const char *term);

#endif
