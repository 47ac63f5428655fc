/*
 * config.h - the configuration, as the engine sees it (internal).
 *
 * The public API (include/heliosdb.h) treats struct hdb_config as opaque;
 * modules below the CLI read its fields directly through this header.
 * policy/config.c loads it from TOML with a strict key table: an unknown key
 * is an error naming file:line and the closest known key.
 */
#ifndef HDB_POLICY_CONFIG_H
#define HDB_POLICY_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "heliosdb.h"
#include "secret.h"

#define CONFIG_DEFAULT_KEY_ENV "HELIOSDB_ENCRYPTION_KEY"
#define CONFIG_DEFAULT_MAX_ENCRYPTIONS (UINT64_C(1) << 30)
#define CONFIG_HARD_MAX_ENCRYPTIONS (UINT64_C(0xffffffff))

struct hdb_config {
	char *source_file;            /* file it was loaded from, or NULL */
	char errmsg[512];

	/* [storage] */
	char *storage_path;
	uint64_t cache_size;          /* bytes: LMDB map size hint (default 1 GiB) */
	bool secure_delete;
	bool check_structure;         /* walk data.mdb's pages at open (engine/pagecheck.c) */
	bool overwrite_deleted_data;

	/* [encryption] */
	bool enc_enabled;             /* default true */
	char *algorithm;              /* only "Aes256Gcm" */
	enum hdb_key_source_kind key_kind;
	char *key_arg;                /* env var / file path / password env var / credential name */
	bool fips;
	bool rotation_enabled;
	uint32_t rotation_interval_days;   /* default 90, 1..730 */
	uint64_t max_encryptions;          /* per data key, 1..CONFIG_HARD_MAX_ENCRYPTIONS */
	uint32_t kdf_m_kib, kdf_t, kdf_p;  /* Argon2id: default 65536, 3, 4 */
	uint32_t pbkdf2_iterations;        /* FIPS mode password KDF: default 600000 */
	struct hdb_secret *password;       /* set programmatically only */

	/* [audit] - parsed and kept for the audit pipeline */
	bool audit_enabled;
	char *audit_log_file;
	char *audit_log_format;            /* "Json" */
	bool log_reads, log_writes, log_deletes, log_schema_changes, log_encryption_events;
	uint32_t retention_days;
	char *retention_justification;
	char *audit_durability;            /* "sync" | "batch" | "async" */
	uint32_t audit_batch_window_ms;
	char *audit_on_failure;            /* "block" | "continue" */
	char *audit_journald;              /* "required" | "best_effort" | "off" */
	char *audit_redact;                /* "literals" | "hmac" */
	uint32_t audit_rotate_size_mb;
	char *audit_rotate_interval;       /* "daily" | "hourly" | "weekly" | "none" */
	uint32_t audit_checkpoint_every;

	/* [server], [server.ssl] - parsed and kept for the server */
	bool server_enabled;
	char *server_host;
	uint32_t server_port;
	bool ssl_enabled;
	char *ssl_cert_file, *ssl_key_file, *ssl_ca_file;
	char *ssl_min_tls_version;

	/* [compliance] */
	char **profiles;
	size_t nprofiles;
	char *profile_dir;

	/* set programmatically: sees every compliance rule evaluated at open */
	hdb_rule_fn rule_fn;
	void *rule_arg;
};

/* config_profile_name_ok - a profile name: 1..32 of [a-z0-9_-]. */
bool config_profile_name_ok(const char *s, size_t len);
/* config_effective_json - the effective configuration as one JSON object
 * {"dotted.key": value, ...} in key-table order (so its text is canonical):
 * every key of config_keys.def, plus "encryption.key_source" (the source
 * kind: File, Environment, Password, Credential) and its argument under
 * "encryption.key_source.<Kind>".  Holds no secret: the password is never
 * included.  Returns a json-c object (json_object_put it) or NULL. */
struct json_object *config_effective_json(const struct hdb_config *cfg);

/* config_defaults - fills a zeroed struct with defaults.  HDB_OK/HDB_ENOMEM. */
int config_defaults(struct hdb_config *cfg);
/* config_clear - frees every member (not the struct itself). */
void config_clear(struct hdb_config *cfg);
/* config_load_text - applies TOML text over the defaults already in cfg.
 * Errors go into cfg->errmsg as "FILE:LINE:COL: ..." (one line; filename
 * NULL gives "<config>").  All or nothing: on failure no field of cfg
 * changes, only errmsg.  Returns HDB_OK, HDB_EPARSE (not TOML),
 * HDB_ECONFIG (unknown key, wrong type, out of range) or HDB_ENOMEM.
 * Keys, ranges and defaults: policy/config_keys.def, docs/configuration.md. */
int config_load_text(struct hdb_config *cfg, const char *text, size_t len, const char *filename);
/* config_dup - a deep copy (the password secret is copied too). */
int config_dup(const struct hdb_config *src, struct hdb_config **ret);

#endif
