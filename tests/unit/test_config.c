/*
 * test_config.c - the configuration loader (policy/config.c) and the public
 * hdb_config_* API: defaults, the tutorial's examples, every error class
 * with its exact file:line:col message, aliases, key sources, setters,
 * deep copies, hostile input, and docs/configuration.md against the key
 * table (policy/config_keys.def).
 */
#include "testutil.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "config.h"
#include "heliosdb.h"

#define FILE_NAME "t.toml"

/* load - a fresh config with `text` applied; returns the loader's rc.  The
 * config is returned either way (free it). */
static int load(struct hdb_config **ret, const char *text)
{
	struct hdb_config *cfg = NULL;
	assert_int_equal(hdb_config_new(&cfg), HDB_OK);
	*ret = cfg;
	return config_load_text(cfg, text, strlen(text), FILE_NAME);
}

/* expect_error - text must fail with rc and exactly message msg. */
static void expect_error(const char *text, int rc, const char *msg)
{
	struct hdb_config *cfg;
	char got_msg[sizeof(cfg->errmsg)];
	int got = load(&cfg, text);
	snprintf(got_msg, sizeof(got_msg), "%s", hdb_config_errmsg(cfg));
	hdb_config_free(cfg);
	if (got != rc || strcmp(got_msg, msg) != 0)
		fail_msg("for:\n%s\nexpected rc %d \"%s\"\ngot      rc %d \"%s\"", text, rc, msg, got,
		         got_msg);
}

static void expect_config_error(const char *text, const char *msg)
{
	expect_error(text, HDB_ECONFIG, msg);
}

/* ---------------------------------------------------------------- defaults */

static void test_defaults(void **state)
{
	(void)state;
	struct hdb_config *cfg;
	assert_int_equal(hdb_config_new(&cfg), HDB_OK);
	assert_null(cfg->storage_path);
	assert_null(hdb_config_path(cfg));
	assert_int_equal(cfg->cache_size, UINT64_C(1) << 30);
	assert_false(cfg->secure_delete);
	assert_false(cfg->overwrite_deleted_data);
	assert_true(cfg->enc_enabled);
	assert_string_equal(cfg->algorithm, "Aes256Gcm");
	assert_int_equal(cfg->key_kind, HDB_KEY_ENVIRONMENT);
	assert_string_equal(cfg->key_arg, "HELIOSDB_ENCRYPTION_KEY");
	assert_false(cfg->fips);
	assert_false(cfg->rotation_enabled);
	assert_int_equal(cfg->rotation_interval_days, 90);
	assert_int_equal(cfg->max_encryptions, CONFIG_DEFAULT_MAX_ENCRYPTIONS);
	assert_int_equal(cfg->kdf_m_kib, 65536);
	assert_int_equal(cfg->kdf_t, 3);
	assert_int_equal(cfg->kdf_p, 4);
	assert_int_equal(cfg->pbkdf2_iterations, 600000);
	assert_null(cfg->password);
	assert_true(cfg->audit_enabled);
	assert_null(cfg->audit_log_file);
	assert_string_equal(cfg->audit_log_format, "Json");
	assert_true(cfg->log_reads && cfg->log_writes && cfg->log_deletes &&
	            cfg->log_schema_changes && cfg->log_encryption_events);
	assert_int_equal(cfg->retention_days, 365);
	assert_null(cfg->retention_justification);
	assert_string_equal(cfg->audit_durability, "batch");
	assert_int_equal(cfg->audit_batch_window_ms, 10);
	assert_string_equal(cfg->audit_on_failure, "block");
	assert_string_equal(cfg->audit_journald, "best_effort");
	assert_string_equal(cfg->audit_redact, "literals");
	assert_int_equal(cfg->audit_rotate_size_mb, 64);
	assert_string_equal(cfg->audit_rotate_interval, "daily");
	assert_int_equal(cfg->audit_checkpoint_every, 1000);
	assert_false(cfg->server_enabled);
	assert_string_equal(cfg->server_host, "127.0.0.1");
	assert_int_equal(cfg->server_port, 5432);
	assert_false(cfg->ssl_enabled);
	assert_null(cfg->ssl_cert_file);
	assert_string_equal(cfg->ssl_min_tls_version, "1.2");
	assert_null(cfg->profiles);
	assert_int_equal(cfg->nprofiles, 0);
	assert_string_equal(hdb_config_errmsg(cfg), "");
	hdb_config_free(cfg);
}

static void test_empty_text_keeps_defaults(void **state)
{
	(void)state;
	struct hdb_config *cfg;
	assert_int_equal(load(&cfg, "# nothing but a comment\n\n"), HDB_OK);
	assert_true(cfg->enc_enabled);
	assert_int_equal(cfg->key_kind, HDB_KEY_ENVIRONMENT);
	assert_string_equal(cfg->key_arg, CONFIG_DEFAULT_KEY_ENV);
	hdb_config_free(cfg);
}

/* --------------------------------------------------- the tutorial's files */

/* Method 2, step 3: rotation_interval_days lands in encryption.key_source. */
static const char tutorial_file_example[] =
	"[storage]\n"
	"path = \"/var/lib/heliosdb/data\"\n"
	"\n"
	"[encryption]\n"
	"enabled = true\n"
	"algorithm = \"Aes256Gcm\"\n"
	"\n"
	"[encryption.key_source]\n"
	"File = \"/etc/heliosdb/encryption.key\"\n"
	"\n"
	"# Optional: Key rotation settings (future feature)\n"
	"rotation_interval_days = 45\n";

static void test_tutorial_file_example(void **state)
{
	(void)state;
	struct hdb_config *cfg;
	assert_int_equal(load(&cfg, tutorial_file_example), HDB_OK);
	assert_string_equal(hdb_config_path(cfg), "/var/lib/heliosdb/data");
	assert_true(cfg->enc_enabled);
	assert_int_equal(cfg->key_kind, HDB_KEY_FILE);
	assert_string_equal(cfg->key_arg, "/etc/heliosdb/encryption.key");
	assert_int_equal(cfg->rotation_interval_days, 45);
	hdb_config_free(cfg);
}

static const char hipaa_example[] =
	"[encryption]\n"
	"enabled = true\n"
	"algorithm = \"Aes256Gcm\"\n"
	"\n"
	"[encryption.key_source]\n"
	"File = \"/secure/hipaa/encryption.key\"\n"
	"\n"
	"[server]\n"
	"ssl_enabled = true\n"
	"\n"
	"[server.ssl]\n"
	"cert_file = \"/etc/heliosdb/hipaa_server.crt\"\n"
	"key_file = \"/etc/heliosdb/hipaa_server.key\"\n"
	"min_tls_version = \"1.3\" # HIPAA requires TLS 1.2+ (1.3 here, to see it parsed)\n"
	"\n"
	"[audit]\n"
	"enabled = true\n"
	"log_file = \"/var/log/heliosdb/hipaa_audit.log\"\n"
	"log_format = \"Json\"\n"
	"log_reads = true\n"
	"log_writes = true\n"
	"log_deletes = true\n"
	"log_schema_changes = true\n"
	"\n"
	"[audit.retention]\n"
	"days = 2555 # 7 years (HIPAA requirement)\n";

static void test_tutorial_hipaa(void **state)
{
	(void)state;
	struct hdb_config *cfg;
	assert_int_equal(load(&cfg, hipaa_example), HDB_OK);
	assert_true(cfg->enc_enabled);
	assert_string_equal(cfg->algorithm, "Aes256Gcm");
	assert_int_equal(cfg->key_kind, HDB_KEY_FILE);
	assert_string_equal(cfg->key_arg, "/secure/hipaa/encryption.key");
	assert_true(cfg->ssl_enabled);
	assert_string_equal(cfg->ssl_cert_file, "/etc/heliosdb/hipaa_server.crt");
	assert_string_equal(cfg->ssl_key_file, "/etc/heliosdb/hipaa_server.key");
	assert_null(cfg->ssl_ca_file);
	assert_string_equal(cfg->ssl_min_tls_version, "1.3");
	assert_true(cfg->audit_enabled);
	assert_string_equal(cfg->audit_log_file, "/var/log/heliosdb/hipaa_audit.log");
	assert_string_equal(cfg->audit_log_format, "Json");
	assert_true(cfg->log_reads && cfg->log_writes && cfg->log_deletes && cfg->log_schema_changes);
	assert_int_equal(cfg->retention_days, 2555);
	hdb_config_free(cfg);
}

static const char gdpr_example[] =
	"[encryption]\n"
	"enabled = true\n"
	"algorithm = \"Aes256Gcm\"\n"
	"key_source = { File = \"/etc/heliosdb/gdpr_key\" }\n"
	"\n"
	"[audit]\n"
	"enabled = true\n"
	"log_file = \"/var/log/heliosdb/gdpr_audit.log\"\n"
	"log_format = \"Json\"\n"
	"\n"
	"# Log personal data access (GDPR Article 15)\n"
	"log_reads = true\n"
	"log_writes = false\n"
	"log_deletes = true\n"
	"\n"
	"# Retention policy (GDPR Article 17)\n"
	"[audit.retention]\n"
	"days = 730 # 2 years minimum\n"
	"\n"
	"[storage]\n"
	"# Enable secure deletion (GDPR \"Right to Erasure\")\n"
	"secure_delete = true\n"
	"overwrite_deleted_data = true\n";

static void test_tutorial_gdpr_inline_key_source(void **state)
{
	(void)state;
	struct hdb_config *cfg;
	assert_int_equal(load(&cfg, gdpr_example), HDB_OK);
	assert_int_equal(cfg->key_kind, HDB_KEY_FILE);
	assert_string_equal(cfg->key_arg, "/etc/heliosdb/gdpr_key");
	assert_string_equal(cfg->audit_log_file, "/var/log/heliosdb/gdpr_audit.log");
	assert_true(cfg->log_reads);
	assert_false(cfg->log_writes);
	assert_int_equal(cfg->retention_days, 730);
	assert_true(cfg->secure_delete);
	assert_true(cfg->overwrite_deleted_data);
	hdb_config_free(cfg);
}

static const char pci_example[] =
	"[encryption]\n"
	"enabled = true # Requirement 3.4: Render PAN unreadable\n"
	"algorithm = \"Aes256Gcm\" # Strong cryptography (Requirement 3.5)\n"
	"\n"
	"[encryption.key_source]\n"
	"File = \"/secure/pci/encryption.key\"\n"
	"\n"
	"[encryption.key_rotation]\n"
	"enabled = true\n"
	"interval_days = 60 # Key rotation (Requirement 3.6.4)\n"
	"\n"
	"[audit]\n"
	"enabled = true # Requirement 10: Track and monitor access\n"
	"log_file = \"/var/log/heliosdb/pci_audit.log\"\n"
	"\n"
	"# Log all access to cardholder data\n"
	"log_reads = true\n"
	"log_writes = true\n"
	"log_deletes = true\n"
	"log_schema_changes = true\n"
	"\n"
	"[audit.retention]\n"
	"days = 400 # Minimum 1 year (Requirement 10.7)\n"
	"\n"
	"[server.ssl]\n"
	"enabled = true # Requirement 4: Encrypt in transit\n"
	"min_tls_version = \"1.2\"\n";

static void test_tutorial_pci(void **state)
{
	(void)state;
	struct hdb_config *cfg;
	assert_int_equal(load(&cfg, pci_example), HDB_OK);
	assert_int_equal(cfg->key_kind, HDB_KEY_FILE);
	assert_string_equal(cfg->key_arg, "/secure/pci/encryption.key");
	assert_true(cfg->rotation_enabled);
	assert_int_equal(cfg->rotation_interval_days, 60);
	assert_string_equal(cfg->audit_log_file, "/var/log/heliosdb/pci_audit.log");
	assert_int_equal(cfg->retention_days, 400);
	assert_true(cfg->ssl_enabled);   /* through the alias server.ssl.enabled */
	assert_false(cfg->server_enabled);
	assert_string_equal(cfg->ssl_min_tls_version, "1.2");
	hdb_config_free(cfg);
}

static void test_all_our_keys(void **state)
{
	(void)state;
	struct hdb_config *cfg;
	const char *text =
		"[storage]\ncache_size = 2097152\n"
		"[encryption]\nfips = true\nmax_encryptions_per_key = 4294967295\n"
		"[encryption.kdf]\nmemory_kib = 19456\ntime_cost = 2\nparallelism = 255\n"
		"pbkdf2_iterations = 700000\n"
		"[audit]\nlog_encryption_events = false\nretention_justification = \"legal hold\"\n"
		"durability = \"sync\"\nbatch_window_ms = 1000\non_failure = \"continue\"\n"
		"journald = \"required\"\nredact = \"hmac\"\nrotate_size_mb = 65536\n"
		"rotate_interval = \"none\"\ncheckpoint_every = 10000000\n"
		"[server]\nenabled = true\nhost = \"0.0.0.0\"\nport = 65535\n"
		"[server.ssl]\nca_file = \"/ca.pem\"\n"
		"[compliance]\nprofiles = [\"hipaa\", \"pci-dss\", \"gdpr\"]\n";
	assert_int_equal(load(&cfg, text), HDB_OK);
	assert_int_equal(cfg->cache_size, 2097152);
	assert_true(cfg->fips);
	assert_int_equal(cfg->max_encryptions, UINT64_C(4294967295));
	assert_int_equal(cfg->kdf_m_kib, 19456);
	assert_int_equal(cfg->kdf_t, 2);
	assert_int_equal(cfg->kdf_p, 255);
	assert_int_equal(cfg->pbkdf2_iterations, 700000);
	assert_false(cfg->log_encryption_events);
	assert_string_equal(cfg->retention_justification, "legal hold");
	assert_string_equal(cfg->audit_durability, "sync");
	assert_int_equal(cfg->audit_batch_window_ms, 1000);
	assert_string_equal(cfg->audit_on_failure, "continue");
	assert_string_equal(cfg->audit_journald, "required");
	assert_string_equal(cfg->audit_redact, "hmac");
	assert_int_equal(cfg->audit_rotate_size_mb, 65536);
	assert_string_equal(cfg->audit_rotate_interval, "none");
	assert_int_equal(cfg->audit_checkpoint_every, 10000000);
	assert_true(cfg->server_enabled);
	assert_string_equal(cfg->server_host, "0.0.0.0");
	assert_int_equal(cfg->server_port, 65535);
	assert_string_equal(cfg->ssl_ca_file, "/ca.pem");
	assert_int_equal(cfg->nprofiles, 3);
	assert_string_equal(cfg->profiles[0], "hipaa");
	assert_string_equal(cfg->profiles[1], "pci-dss");
	assert_string_equal(cfg->profiles[2], "gdpr");
	hdb_config_free(cfg);
}

/* ------------------------------------------------------------ key sources */

static void test_key_source_kinds(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		enum hdb_key_source_kind kind;
		const char *arg;
	} cases[] = {
		{ "[encryption.key_source]\nEnvironment = \"MY_KEY\"\n", HDB_KEY_ENVIRONMENT, "MY_KEY" },
		{ "[encryption.key_source]\nPassword = \"DB_PASSWORD\"\n", HDB_KEY_PASSWORD, "DB_PASSWORD" },
		{ "[encryption.key_source]\nCredential = \"heliosdb.key\"\n", HDB_KEY_CREDENTIAL, "heliosdb.key" },
		{ "[encryption.key_source]\nFile = \"k.hex\"\n", HDB_KEY_FILE, "k.hex" },
		{ "[encryption]\nkey_source = { Credential = \"c1\" }\n", HDB_KEY_CREDENTIAL, "c1" },
		{ "encryption.key_source.Password = \"PW\"\n", HDB_KEY_PASSWORD, "PW" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hdb_config *cfg;
		assert_int_equal(load(&cfg, cases[i].text), HDB_OK);
		assert_int_equal(cfg->key_kind, cases[i].kind);
		assert_string_equal(cfg->key_arg, cases[i].arg);
		hdb_config_free(cfg);
	}
}

static void test_key_source_zero_or_two(void **state)
{
	(void)state;
	expect_config_error("[encryption]\nenabled = true\n\n[encryption.key_source]\n"
	                    "rotation_interval_days = 30\n",
	                    FILE_NAME ":4:13: encryption.key_source must name exactly one of File, "
	                    "Environment, Password, Credential");
	expect_config_error("[encryption]\nkey_source = {}\n",
	                    FILE_NAME ":2:1: encryption.key_source must name exactly one of File, "
	                    "Environment, Password, Credential");
	expect_config_error("[encryption.key_source]\nFile = \"/k\"\nEnvironment = \"K\"\n",
	                    FILE_NAME ":3:1: encryption.key_source has both File and Environment; "
	                    "give exactly one");
	expect_config_error("[encryption]\nkey_source = { Password = \"P\", Credential = \"c\" }\n",
	                    FILE_NAME ":2:32: encryption.key_source has both Password and Credential; "
	                    "give exactly one");
	expect_config_error("[encryption]\nkey_source = \"File\"\n",
	                    FILE_NAME ":2:14: encryption.key_source must be a table, got string");
	expect_config_error("[encryption.key_source]\nKms = \"aws\"\n",
	                    FILE_NAME ":2:1: unknown key 'encryption.key_source.Kms'");
	expect_config_error("[encryption.key_source]\nfile = \"/k\"\n",
	                    FILE_NAME ":2:1: unknown key 'encryption.key_source.file'; did you mean 'File'?");
}

static void test_key_source_arguments_checked(void **state)
{
	(void)state;
	expect_config_error("[encryption.key_source]\nCredential = \"../../etc/shadow\"\n",
	                    FILE_NAME ":2:14: encryption.key_source.Credential must be a credential name "
	                    "(no '/', not '.' or '..', at most 255 bytes), got \"../../etc/shadow\"");
	expect_config_error("[encryption.key_source]\nEnvironment = \"MY KEY\"\n",
	                    FILE_NAME ":2:15: encryption.key_source.Environment must be an environment "
	                    "variable name ([A-Za-z_][A-Za-z0-9_]*), got \"MY KEY\"");
	expect_config_error("[encryption.key_source]\nFile = \"\"\n",
	                    FILE_NAME ":2:8: encryption.key_source.File must not be empty");
	/* A key pasted where its location belongs is refused and never echoed. */
	struct hdb_config *cfg;
	char text[256];
	snprintf(text, sizeof(text), "[encryption.key_source]\nEnvironment = \"%s\"\n", TEST_KEY_HEX);
	assert_int_equal(load(&cfg, text), HDB_ECONFIG);
	assert_null(strstr(hdb_config_errmsg(cfg), TEST_KEY_HEX));
	assert_non_null(strstr(hdb_config_errmsg(cfg), "looks like a key itself"));
	assert_int_equal(cfg->key_kind, HDB_KEY_ENVIRONMENT);   /* unchanged */
	hdb_config_free(cfg);
}

/* ---------------------------------------------------------------- aliases */

static void test_aliases(void **state)
{
	(void)state;
	struct hdb_config *cfg;
	assert_int_equal(load(&cfg, "[encryption]\nrotation_interval_days = 7\n"), HDB_OK);
	assert_int_equal(cfg->rotation_interval_days, 7);
	hdb_config_free(cfg);

	assert_int_equal(load(&cfg, "[encryption.key_source]\nEnvironment = \"K\"\n"
	                            "rotation_interval_days = 8\n"), HDB_OK);
	assert_int_equal(cfg->rotation_interval_days, 8);
	hdb_config_free(cfg);

	assert_int_equal(load(&cfg, "[audit.retention]\ndays = 3650\njustification = \"SOX\"\n"), HDB_OK);
	assert_string_equal(cfg->retention_justification, "SOX");
	hdb_config_free(cfg);

	assert_int_equal(load(&cfg, "[server.ssl]\nenabled = true\n"), HDB_OK);
	assert_true(cfg->ssl_enabled);
	hdb_config_free(cfg);

	/* An alias is checked under the name it was written with. */
	expect_config_error("[encryption]\nrotation_interval_days = 0\n",
	                    FILE_NAME ":2:26: encryption.rotation_interval_days must be between 1 and 730, got 0");
	expect_config_error("[server.ssl]\nenabled = \"yes\"\n",
	                    FILE_NAME ":2:11: server.ssl.enabled must be a boolean, got string");
}

static void test_alias_and_key_both_set(void **state)
{
	(void)state;
	expect_config_error("[server]\nssl_enabled = true\n[server.ssl]\nenabled = true\n",
	                    FILE_NAME ":4:1: server.ssl.enabled is already set at line 2 (as server.ssl_enabled)");
	expect_config_error("[encryption]\nrotation_interval_days = 30\n"
	                    "[encryption.key_rotation]\ninterval_days = 30\n",
	                    FILE_NAME ":4:1: encryption.key_rotation.interval_days is already set at line 2 "
	                    "(as encryption.rotation_interval_days)");
}

/* ---------------------------------------------------------- unknown keys */

static void test_unknown_key_hint(void **state)
{
	(void)state;
	expect_config_error("[audit]\nenabled = true\nlog_read = true\n",
	                    FILE_NAME ":3:1: unknown key 'audit.log_read'; did you mean 'log_reads'?");
	/* transposition */
	expect_config_error("[server]\nprot = 1\n",
	                    FILE_NAME ":2:1: unknown key 'server.prot'; did you mean 'port'?");
	expect_config_error("[encyption]\nenabled = true\n",
	                    FILE_NAME ":1:2: unknown key 'encyption'; did you mean 'encryption'?");
	expect_config_error("[audit.retention]\nday = 30\n",
	                    FILE_NAME ":2:1: unknown key 'audit.retention.day'; did you mean 'days'?");
	/* the right key in the wrong table */
	expect_config_error("path = \"/data\"\n",
	                    FILE_NAME ":1:1: unknown key 'path'; did you mean 'storage.path'?");
	expect_config_error("[storage]\n\n\nmin_tls_version = \"1.2\"\n",
	                    FILE_NAME ":4:1: unknown key 'storage.min_tls_version'; did you mean "
	                    "'server.ssl.min_tls_version'?");
}

static void test_unknown_key_no_hint(void **state)
{
	(void)state;
	expect_config_error("[audit]\nxyzzy = 1\n", FILE_NAME ":2:1: unknown key 'audit.xyzzy'");
	expect_config_error("[kms]\nprovider = \"aws\"\n", FILE_NAME ":1:2: unknown key 'kms'");
	/* "enabled" exists in several tables: no single hint */
	expect_config_error("enabled = true\n", FILE_NAME ":1:1: unknown key 'enabled'");
	/* dotted or odd keys never match a nested key */
	expect_config_error("[audit]\n\"retention.days\" = 30\n",
	                    FILE_NAME ":2:1: unknown key 'audit.retention.days'");
	/* the message stays on one line whatever the key holds */
	expect_config_error("[audit]\n\"a\\nb'c\" = 1\n",
	                    FILE_NAME ":2:1: unknown key 'audit.a\\x0ab\\x27c'");
	expect_config_error("[[audit]]\nenabled = true\n",
	                    FILE_NAME ":1:3: audit must be a table, got array");
}

/* ------------------------------------------------------------ wrong types */

static void test_wrong_types(void **state)
{
	(void)state;
	expect_config_error("[encryption]\nenabled = \"true\"\n",
	                    FILE_NAME ":2:11: encryption.enabled must be a boolean, got string");
	expect_config_error("[audit.retention]\ndays = 1.5\n",
	                    FILE_NAME ":2:8: audit.retention.days must be an integer, got float");
	expect_config_error("[server]\nport = \"5432\"\n",
	                    FILE_NAME ":2:8: server.port must be an integer, got string");
	expect_config_error("[storage]\npath = 42\n",
	                    FILE_NAME ":2:8: storage.path must be a string, got integer");
	expect_config_error("storage = 5\n", FILE_NAME ":1:11: storage must be a table, got integer");
	expect_config_error("[compliance]\nprofiles = \"hipaa\"\n",
	                    FILE_NAME ":2:12: compliance.profiles must be an array of strings, got string");
	expect_config_error("[compliance]\nprofiles = [\"hipaa\", 3]\n",
	                    FILE_NAME ":2:22: compliance.profiles[1] must be a string, got integer");
	expect_config_error("[server.ssl]\nmin_tls_version = 1.2\n",
	                    FILE_NAME ":2:19: server.ssl.min_tls_version must be a string, got float");
	expect_config_error("[audit]\nlog_file = 1979-05-27\n",
	                    FILE_NAME ":2:12: audit.log_file must be a string, got date");
	expect_config_error("[storage]\ncache_size = true\n",
	                    FILE_NAME ":2:14: storage.cache_size must be an integer or a string such as "
	                    "\"512MiB\", got boolean");
	expect_config_error("[audit]\nlog_reads = { a = 1 }\n",
	                    FILE_NAME ":2:13: audit.log_reads must be a boolean, got table");
}

/* ----------------------------------------------------------------- ranges */

static void test_ranges(void **state)
{
	(void)state;
	expect_config_error("[audit.retention]\ndays = 0\n",
	                    FILE_NAME ":2:8: audit.retention.days must be between 1 and 36500, got 0");
	expect_config_error("[audit.retention]\ndays = 36501\n",
	                    FILE_NAME ":2:8: audit.retention.days must be between 1 and 36500, got 36501");
	expect_config_error("[server]\nport = -1\n",
	                    FILE_NAME ":2:8: server.port must be between 1 and 65535, got -1");
	expect_config_error("[server]\nport = 65536\n",
	                    FILE_NAME ":2:8: server.port must be between 1 and 65535, got 65536");
	expect_config_error("[encryption]\nmax_encryptions_per_key = 4294967296\n",
	                    FILE_NAME ":2:27: encryption.max_encryptions_per_key must be between 1 and "
	                    "4294967295, got 4294967296");
	expect_config_error("[encryption.kdf]\nmemory_kib = 19455\n",
	                    FILE_NAME ":2:14: encryption.kdf.memory_kib must be between 19456 and 4194304, got 19455");
	expect_config_error("[encryption.kdf]\ntime_cost = 1\n",
	                    FILE_NAME ":2:13: encryption.kdf.time_cost must be between 2 and 1000, got 1");
	expect_config_error("[encryption.kdf]\nparallelism = 0\n",
	                    FILE_NAME ":2:15: encryption.kdf.parallelism must be between 1 and 255, got 0");
	expect_config_error("[encryption.kdf]\npbkdf2_iterations = 599999\n",
	                    FILE_NAME ":2:21: encryption.kdf.pbkdf2_iterations must be at least 600000, got 599999");
	expect_config_error("[encryption.kdf]\npbkdf2_iterations = 4294967296\n",
	                    FILE_NAME ":2:21: encryption.kdf.pbkdf2_iterations must be at least 600000, got 4294967296");
	expect_config_error("[encryption.key_rotation]\ninterval_days = 731\n",
	                    FILE_NAME ":2:17: encryption.key_rotation.interval_days must be between 1 and 730, got 731");
	expect_config_error("[audit]\nbatch_window_ms = 1001\n",
	                    FILE_NAME ":2:19: audit.batch_window_ms must be between 1 and 1000, got 1001");
	expect_config_error("[audit]\nrotate_size_mb = 0\n",
	                    FILE_NAME ":2:18: audit.rotate_size_mb must be between 1 and 65536, got 0");
	expect_config_error("[audit]\ncheckpoint_every = 10000001\n",
	                    FILE_NAME ":2:20: audit.checkpoint_every must be between 1 and 10000000, got 10000001");
	expect_config_error("[storage]\ncache_size = 1048575\n",
	                    FILE_NAME ":2:14: storage.cache_size must be at least 1048576, got 1048575");
	expect_config_error("[storage]\ncache_size = -9223372036854775808\n",
	                    FILE_NAME ":2:14: storage.cache_size must be at least 1048576, got -9223372036854775808");
}

static void test_allowed_words(void **state)
{
	(void)state;
	expect_config_error("[encryption]\nalgorithm = \"Aes128Gcm\"\n",
	                    FILE_NAME ":2:13: encryption.algorithm must be \"Aes256Gcm\", got \"Aes128Gcm\"");
	expect_config_error("[audit]\nlog_format = \"json\"\n",
	                    FILE_NAME ":2:14: audit.log_format must be \"Json\", got \"json\"");
	expect_config_error("[audit]\ndurability = \"fast\"\n",
	                    FILE_NAME ":2:14: audit.durability must be one of \"sync\", \"batch\" or \"async\", got \"fast\"");
	expect_config_error("[audit]\non_failure = \"ignore\"\n",
	                    FILE_NAME ":2:14: audit.on_failure must be one of \"block\" or \"continue\", got \"ignore\"");
	expect_config_error("[audit]\njournald = \"\"\n",
	                    FILE_NAME ":2:12: audit.journald must be one of \"required\", \"best_effort\" or \"off\", got \"\"");
	expect_config_error("[audit]\nredact = \"none\"\n",
	                    FILE_NAME ":2:10: audit.redact must be one of \"literals\" or \"hmac\", got \"none\"");
	expect_config_error("[audit]\nrotate_interval = \"monthly\"\n",
	                    FILE_NAME ":2:19: audit.rotate_interval must be one of \"hourly\", \"daily\", \"weekly\" or \"none\", got \"monthly\"");
	expect_config_error("[server.ssl]\nmin_tls_version = \"1.4\"\n",
	                    FILE_NAME ":2:19: server.ssl.min_tls_version must be one of \"1.0\", \"1.1\", \"1.2\" or "
	                    "\"1.3\", got \"1.4\"");
	/* a profile name is a file name in the profile directory, never a path */
	expect_config_error("[compliance]\nprofiles = [\"hipaa\", \"../etc/x\"]\n",
	                    FILE_NAME ":2:22: compliance.profiles[1] must be a profile name (1 to 32 of a-z, 0-9, '-', "
	                    "'_'), got \"../etc/x\"");
	expect_config_error("[compliance]\nprofiles = [\"gdpr\", \"gdpr\"]\n",
	                    FILE_NAME ":2:21: compliance.profiles lists \"gdpr\" twice");
	/* quoted user text is escaped */
	expect_config_error("[audit]\nredact = \"a\\u0000b\\\"\"\n",
	                    FILE_NAME ":2:10: audit.redact must be one of \"literals\" or \"hmac\", got \"a\\x00b\\x22\"");
}

static void test_strings_checked(void **state)
{
	(void)state;
	expect_config_error("[storage]\npath = \"a\\u0000b\"\n",
	                    FILE_NAME ":2:8: storage.path must not contain NUL characters");
	expect_config_error("[server]\nhost = \"\"\n", FILE_NAME ":2:8: server.host must not be empty");
	char *text = malloc(6000);
	assert_non_null(text);
	strcpy(text, "[audit]\nlog_file = \"");
	memset(text + strlen(text), 'x', 4097);
	strcpy(text + 20 + 4097, "\"\n");
	expect_config_error(text, FILE_NAME ":2:12: audit.log_file is too long (at most 4096 bytes)");
	free(text);
}

static void test_cache_size_strings(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		uint64_t bytes;
	} ok[] = {
		{ "512MiB", UINT64_C(512) << 20 }, { "512MB", UINT64_C(512) << 20 },
		{ "1GiB", UINT64_C(1) << 30 }, { "2 GB", UINT64_C(2) << 30 }, { "3g", UINT64_C(3) << 30 },
		{ "1T", UINT64_C(1) << 40 }, { "2048k", UINT64_C(2048) << 10 }, { "1048576", 1048576 },
		{ "1048576B", 1048576 },
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char text[128];
		struct hdb_config *cfg;
		snprintf(text, sizeof(text), "[storage]\ncache_size = \"%s\"\n", ok[i].s);
		if (load(&cfg, text) != HDB_OK)
			fail_msg("%s: %s", ok[i].s, hdb_config_errmsg(cfg));
		assert_int_equal(cfg->cache_size, ok[i].bytes);
		hdb_config_free(cfg);
	}
	static const char *const bad[] = { "", "MiB", "12XB", "-5MiB", "1.5GiB", "12 ", " 12", "1  GiB",
	                                   "99999999999999999999", "20000000TiB", "1GiBs" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[128], msg[256];
		snprintf(text, sizeof(text), "[storage]\ncache_size = \"%s\"\n", bad[i]);
		snprintf(msg, sizeof(msg), FILE_NAME ":2:14: storage.cache_size must be a byte count or a "
		         "size such as \"512MiB\" or \"1GB\", got \"%s\"", bad[i]);
		expect_config_error(text, msg);
	}
	expect_config_error("[storage]\ncache_size = \"512KiB\"\n",
	                    FILE_NAME ":2:14: storage.cache_size must be at least 1048576 bytes, got "
	                    "\"512KiB\" (524288)");
}

/* ---------------------------------------------------- positions, syntax */

static void test_error_line_in_long_file(void **state)
{
	(void)state;
	char text[4096];
	snprintf(text, sizeof(text), "%s\n[compliance]\nprofiles = [\n  \"hipaa\",\n  \"gdpr\",\n  \"SOC 2\",\n]\n",
	         hipaa_example);
	/* hipaa_example has 26 lines; the bad element is on line 32. */
	expect_config_error(text, FILE_NAME ":32:3: compliance.profiles[2] must be a profile name (1 to 32 of a-z, "
	                    "0-9, '-', '_'), got \"SOC 2\"");
}

static void test_toml_syntax_error(void **state)
{
	(void)state;
	struct hdb_config *cfg;
	assert_int_equal(load(&cfg, "[storage]\npath = \"/x\"\ncache_size = \n"), HDB_EPARSE);
	assert_true(strncmp(hdb_config_errmsg(cfg), FILE_NAME ":3:", strlen(FILE_NAME ":3:")) == 0);
	assert_null(strchr(hdb_config_errmsg(cfg), '\n'));
	assert_null(cfg->storage_path);   /* nothing applied */
	hdb_config_free(cfg);
}

static void test_failed_load_changes_nothing(void **state)
{
	(void)state;
	struct hdb_config *cfg;
	assert_int_equal(load(&cfg, pci_example), HDB_OK);
	/* Valid keys before the bad one must not be applied either. */
	const char *second =
		"[storage]\npath = \"/other\"\n[encryption.key_source]\nEnvironment = \"X\"\n"
		"[compliance]\nprofiles = [\"gdpr\"]\n[audit.retention]\ndays = 0\n";
	int rc = config_load_text(cfg, second, strlen(second), "second.toml");
	assert_int_equal(rc, HDB_ECONFIG);
	assert_string_equal(hdb_config_errmsg(cfg),
	                    "second.toml:8:8: audit.retention.days must be between 1 and 36500, got 0");
	assert_null(cfg->storage_path);
	assert_int_equal(cfg->key_kind, HDB_KEY_FILE);
	assert_string_equal(cfg->key_arg, "/secure/pci/encryption.key");
	assert_int_equal(cfg->nprofiles, 0);
	assert_int_equal(cfg->retention_days, 400);
	/* A later good load applies over the existing values and clears errmsg. */
	assert_int_equal(config_load_text(cfg, "[audit.retention]\ndays = 500\n", 29, NULL), HDB_OK);
	assert_int_equal(cfg->retention_days, 500);
	assert_true(cfg->rotation_enabled);
	assert_string_equal(hdb_config_errmsg(cfg), "");
	/* Without a file name, messages say <config>. */
	assert_int_equal(config_load_text(cfg, "x = 1\n", 6, NULL), HDB_ECONFIG);
	assert_string_equal(hdb_config_errmsg(cfg), "<config>:1:1: unknown key 'x'");
	hdb_config_free(cfg);
}

/* ------------------------------------------------------------- file load */

static void test_load_missing_file(void **state)
{
	(void)state;
	struct hdb_config *cfg = NULL;
	assert_int_equal(hdb_config_load("/nonexistent/heliosdb.toml", &cfg), HDB_EIO);
	assert_non_null(cfg);
	assert_string_equal(hdb_config_errmsg(cfg),
	                    "cannot read config '/nonexistent/heliosdb.toml': No such file or directory");
	hdb_config_free(cfg);

	cfg = NULL;
	assert_int_equal(hdb_config_load("/", &cfg), HDB_EIO);
	assert_string_equal(hdb_config_errmsg(cfg), "cannot read config '/': Is a directory");
	hdb_config_free(cfg);
}

static void write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void test_load_file(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp();
	char path[600];
	struct hdb_config *cfg = NULL;
	assert_non_null(dir);

	snprintf(path, sizeof(path), "%s/gdpr.toml", dir);
	write_file(path, gdpr_example, strlen(gdpr_example));
	assert_int_equal(hdb_config_load(path, &cfg), HDB_OK);
	assert_string_equal(cfg->source_file, path);
	assert_string_equal(cfg->key_arg, "/etc/heliosdb/gdpr_key");
	assert_int_equal(cfg->retention_days, 730);
	hdb_config_free(cfg);

	/* errors name the file as given */
	snprintf(path, sizeof(path), "%s/bad.toml", dir);
	write_file(path, "[audit]\nlog_read = true\n", 24);
	cfg = NULL;
	assert_int_equal(hdb_config_load(path, &cfg), HDB_ECONFIG);
	char want[700];
	snprintf(want, sizeof(want), "%s:2:1: unknown key 'audit.log_read'; did you mean 'log_reads'?", path);
	assert_string_equal(hdb_config_errmsg(cfg), want);
	hdb_config_free(cfg);

	/* too large */
	size_t big = 1024 * 1024 + 1;
	char *text = malloc(big);
	assert_non_null(text);
	memset(text, '#', big);
	snprintf(path, sizeof(path), "%s/big.toml", dir);
	write_file(path, text, big);
	free(text);
	cfg = NULL;
	assert_int_equal(hdb_config_load(path, &cfg), HDB_ECONFIG);
	assert_non_null(strstr(hdb_config_errmsg(cfg), "larger than 1048576 bytes"));
	hdb_config_free(cfg);

	assert_int_equal(hdb_config_load(NULL, &cfg), HDB_EINVAL);
	assert_string_equal(hdb_config_errmsg(cfg), "no configuration file given");
	hdb_config_free(cfg);
	assert_int_equal(hdb_config_load(path, NULL), HDB_EINVAL);

	tu_rmrf(dir);
	free(dir);
}

/* --------------------------------------------------------------- setters */

static void test_setters(void **state)
{
	(void)state;
	struct hdb_config *cfg;
	assert_int_equal(hdb_config_new(&cfg), HDB_OK);

	assert_int_equal(hdb_config_set_path(cfg, "/data/db"), HDB_OK);
	assert_string_equal(hdb_config_path(cfg), "/data/db");
	assert_int_equal(hdb_config_set_path(cfg, ""), HDB_EINVAL);
	assert_string_equal(hdb_config_path(cfg), "/data/db");
	assert_int_equal(hdb_config_set_path(cfg, NULL), HDB_OK);
	assert_null(hdb_config_path(cfg));

	assert_int_equal(hdb_config_set_encryption(cfg, false), HDB_OK);
	assert_false(cfg->enc_enabled);
	assert_int_equal(hdb_config_set_fips(cfg, true), HDB_OK);
	assert_true(cfg->fips);

	assert_int_equal(hdb_config_set_max_encryptions(cfg, 0), HDB_EINVAL);
	assert_string_equal(hdb_config_errmsg(cfg),
	                    "encryption.max_encryptions_per_key must be between 1 and 4294967295, got 0");
	assert_int_equal(hdb_config_set_max_encryptions(cfg, CONFIG_HARD_MAX_ENCRYPTIONS + 1), HDB_EINVAL);
	assert_int_equal(hdb_config_set_max_encryptions(cfg, UINT64_MAX), HDB_EINVAL);
	assert_int_equal(cfg->max_encryptions, CONFIG_DEFAULT_MAX_ENCRYPTIONS);
	assert_int_equal(hdb_config_set_max_encryptions(cfg, CONFIG_HARD_MAX_ENCRYPTIONS), HDB_OK);
	assert_int_equal(cfg->max_encryptions, CONFIG_HARD_MAX_ENCRYPTIONS);
	assert_int_equal(hdb_config_set_max_encryptions(cfg, 1), HDB_OK);
	assert_int_equal(cfg->max_encryptions, 1);

	assert_int_equal(hdb_config_set_kdf(cfg, 19455, 3, 1), HDB_EINVAL);
	assert_string_equal(hdb_config_errmsg(cfg),
	                    "encryption.kdf.memory_kib must be between 19456 and 4194304, got 19455");
	assert_int_equal(hdb_config_set_kdf(cfg, 19456, 1, 1), HDB_EINVAL);
	assert_int_equal(hdb_config_set_kdf(cfg, 19456, 2, 0), HDB_EINVAL);
	assert_int_equal(cfg->kdf_m_kib, 65536);
	assert_int_equal(cfg->kdf_t, 3);
	assert_int_equal(cfg->kdf_p, 4);
	assert_int_equal(hdb_config_set_kdf(cfg, 19456, 2, 1), HDB_OK);
	assert_int_equal(cfg->kdf_m_kib, 19456);
	assert_int_equal(cfg->kdf_t, 2);
	assert_int_equal(cfg->kdf_p, 1);

	assert_int_equal(hdb_config_set_key_source(cfg, HDB_KEY_FILE, "/k.hex"), HDB_OK);
	assert_int_equal(cfg->key_kind, HDB_KEY_FILE);
	assert_string_equal(cfg->key_arg, "/k.hex");
	assert_int_equal(hdb_config_set_key_source(cfg, HDB_KEY_FILE, NULL), HDB_EINVAL);
	assert_int_equal(hdb_config_set_key_source(cfg, HDB_KEY_FILE, ""), HDB_EINVAL);
	assert_int_equal(hdb_config_set_key_source(cfg, HDB_KEY_CREDENTIAL, "a/b"), HDB_EINVAL);
	assert_int_equal(hdb_config_set_key_source(cfg, HDB_KEY_ENVIRONMENT, "BAD=NAME"), HDB_EINVAL);
	assert_int_equal(hdb_config_set_key_source(cfg, HDB_KEY_ENVIRONMENT, TEST_KEY_HEX), HDB_EINVAL);
	assert_null(strstr(hdb_config_errmsg(cfg), TEST_KEY_HEX));
	assert_int_equal(hdb_config_set_key_source(cfg, (enum hdb_key_source_kind)99, "x"), HDB_EINVAL);
	assert_int_equal(cfg->key_kind, HDB_KEY_FILE);   /* failures changed nothing */
	assert_string_equal(cfg->key_arg, "/k.hex");
	assert_int_equal(hdb_config_set_key_source(cfg, HDB_KEY_ENVIRONMENT, NULL), HDB_OK);
	assert_string_equal(cfg->key_arg, CONFIG_DEFAULT_KEY_ENV);
	assert_int_equal(hdb_config_set_key_source(cfg, HDB_KEY_CREDENTIAL, "db.key"), HDB_OK);
	assert_int_equal(cfg->key_kind, HDB_KEY_CREDENTIAL);
	assert_int_equal(hdb_config_set_key_source(cfg, HDB_KEY_NONE, NULL), HDB_OK);
	assert_null(cfg->key_arg);

	assert_int_equal(hdb_config_set_password(cfg, NULL, 3), HDB_EINVAL);
	assert_int_equal(hdb_config_set_password(cfg, "pw", 0), HDB_EINVAL);
	assert_null(cfg->password);
	assert_int_equal(hdb_config_set_password(cfg, "correct horse", 13), HDB_OK);
	assert_non_null(cfg->password);
	assert_int_equal(cfg->password->len, 13);
	assert_memory_equal(cfg->password->buf, "correct horse", 13);
	assert_int_equal(cfg->key_kind, HDB_KEY_PASSWORD);
	assert_int_equal(hdb_config_set_password(cfg, "battery", 7), HDB_OK);  /* replaces */
	assert_int_equal(cfg->password->len, 7);

	/* NULL handles */
	assert_int_equal(hdb_config_set_path(NULL, "/x"), HDB_EINVAL);
	assert_int_equal(hdb_config_set_encryption(NULL, true), HDB_EINVAL);
	assert_int_equal(hdb_config_set_key_source(NULL, HDB_KEY_FILE, "/x"), HDB_EINVAL);
	assert_int_equal(hdb_config_set_password(NULL, "x", 1), HDB_EINVAL);
	assert_int_equal(hdb_config_set_max_encryptions(NULL, 5), HDB_EINVAL);
	assert_int_equal(hdb_config_set_fips(NULL, true), HDB_EINVAL);
	assert_int_equal(hdb_config_set_kdf(NULL, 65536, 3, 4), HDB_EINVAL);
	assert_null(hdb_config_path(NULL));
	assert_non_null(hdb_config_errmsg(NULL));
	assert_int_equal(hdb_config_new(NULL), HDB_EINVAL);
	hdb_config_free(NULL);
	hdb_config_free(cfg);
}

/* ------------------------------------------------------------------- dup */

static void test_dup_is_deep(void **state)
{
	(void)state;
	struct hdb_config *cfg, *copy = NULL;
	assert_int_equal(load(&cfg, hipaa_example), HDB_OK);
	const char *more = "[compliance]\nprofiles = [\"hipaa\", \"gdpr\"]\n[storage]\npath = \"/d\"\n";
	assert_int_equal(config_load_text(cfg, more, strlen(more), NULL), HDB_OK);
	assert_int_equal(hdb_config_set_password(cfg, "s3cret", 6), HDB_OK);
	assert_int_equal(config_dup(cfg, &copy), HDB_OK);
	assert_non_null(copy);

	assert_string_equal(copy->storage_path, "/d");
	assert_ptr_not_equal(copy->storage_path, cfg->storage_path);
	assert_string_equal(copy->ssl_cert_file, cfg->ssl_cert_file);
	assert_ptr_not_equal(copy->ssl_cert_file, cfg->ssl_cert_file);
	assert_string_equal(copy->audit_durability, "batch");
	assert_ptr_not_equal(copy->audit_durability, cfg->audit_durability);
	assert_int_equal(copy->nprofiles, 2);
	assert_ptr_not_equal(copy->profiles, cfg->profiles);
	assert_ptr_not_equal(copy->profiles[1], cfg->profiles[1]);
	assert_string_equal(copy->profiles[1], "gdpr");
	assert_int_equal(copy->retention_days, 2555);
	assert_non_null(copy->password);
	assert_ptr_not_equal(copy->password, cfg->password);
	assert_ptr_not_equal(copy->password->buf, cfg->password->buf);
	assert_int_equal(copy->password->len, 6);
	assert_memory_equal(copy->password->buf, "s3cret", 6);
	assert_int_equal(copy->key_kind, HDB_KEY_PASSWORD);

	/* Freeing the original leaves the copy whole (ASan would catch a use after free). */
	hdb_config_free(cfg);
	assert_string_equal(copy->ssl_key_file, "/etc/heliosdb/hipaa_server.key");
	assert_string_equal(copy->profiles[0], "hipaa");
	assert_memory_equal(copy->password->buf, "s3cret", 6);
	assert_int_equal(config_dup(NULL, &cfg), HDB_EINVAL);
	hdb_config_free(copy);
}

/* ------------------------------------------------- the table and the docs */

struct entry {
	const char *name;
	const char *kind;    /* "table", "key", "keysrc", "alias" */
	const char *target;  /* alias */
	const char *dflt;
	const char *allowed;
};

static const struct entry entries[] = {
#define CFG_TABLE(n, d) { n, "table", NULL, NULL, NULL },
#define CFG_KEY(n, k, f, lo, hi, al, df, d) { n, "key", NULL, df, al },
#define CFG_KEYSRC(n, sk, d) { n, "keysrc", NULL, NULL, NULL },
#define CFG_ALIAS(n, t, d) { n, "alias", t, NULL, NULL },
#include "config_keys.def"
#undef CFG_TABLE
#undef CFG_KEY
#undef CFG_KEYSRC
#undef CFG_ALIAS
};
#define NENTRIES (sizeof(entries) / sizeof(entries[0]))

static const struct entry *find_entry(const char *name, size_t before)
{
	for (size_t i = 0; i < before; i++)
		if (strcmp(entries[i].name, name) == 0)
			return &entries[i];
	return NULL;
}

static void test_key_table_is_consistent(void **state)
{
	(void)state;
	assert_true(NENTRIES > 50);
	for (size_t i = 0; i < NENTRIES; i++) {
		const struct entry *e = &entries[i];
		/* unique */
		if (find_entry(e->name, i))
			fail_msg("%s listed twice", e->name);
		/* its table is listed before it */
		const char *dot = strrchr(e->name, '.');
		if (dot) {
			char parent[128];
			snprintf(parent, sizeof(parent), "%.*s", (int)(dot - e->name), e->name);
			const struct entry *p = find_entry(parent, i);
			if (!p || strcmp(p->kind, "table") != 0)
				fail_msg("%s: table %s is not listed before it", e->name, parent);
		}
		/* aliases point at a real key */
		if (strcmp(e->kind, "alias") == 0) {
			const struct entry *t = find_entry(e->target, NENTRIES);
			if (!t || strcmp(t->kind, "key") != 0)
				fail_msg("alias %s: target %s is not a key", e->name, e->target);
		}
		/* a default from a fixed set is in the set */
		if (e->dflt && e->allowed) {
			char set[128];
			snprintf(set, sizeof(set), "|%s|", e->allowed);
			char want[64];
			snprintf(want, sizeof(want), "|%s|", e->dflt);
			if (!strstr(set, want))
				fail_msg("%s: default %s is not allowed", e->name, e->dflt);
		}
	}
}

/* Every key of the table has a row in docs/configuration.md starting
 * "| `name` |" that shows its default (when it has one); every table has a
 * paragraph starting "`name`: ". */
static void test_docs_cover_every_key(void **state)
{
	(void)state;
	const char *root = getenv("HDB_ROOT");
	char path[1024];
	snprintf(path, sizeof(path), "%s/docs/configuration.md", root && *root ? root : ".");
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s: %s (set HDB_ROOT to the repository root)", path, strerror(errno));
	static char doc[256 * 1024];
	size_t n = fread(doc, 1, sizeof(doc) - 1, f);
	fclose(f);
	doc[n] = '\0';

	int missing = 0;
	for (size_t i = 0; i < NENTRIES; i++) {
		char want[160];
		/* tables open their section with "`name`: ..."; keys have a row */
		if (strcmp(entries[i].kind, "table") == 0)
			snprintf(want, sizeof(want), "\n`%s`: ", entries[i].name);
		else
			snprintf(want, sizeof(want), "\n| `%s` |", entries[i].name);
		const char *at = strstr(doc, want);
		if (!at) {
			print_error("docs/configuration.md does not document `%s`\n", entries[i].name);
			missing++;
			continue;
		}
		if (!entries[i].dflt)
			continue;
		at++;
		const char *eol = strchr(at, '\n');
		size_t linelen = eol ? (size_t)(eol - at) : strlen(at);
		char line[1024];
		snprintf(line, sizeof(line), "%.*s", (int)linelen, at);
		char dflt[96];
		snprintf(dflt, sizeof(dflt), "`%s`", entries[i].dflt);
		if (!strstr(line, dflt)) {
			print_error("docs/configuration.md: the row of `%s` does not show its default %s\n",
			            entries[i].name, dflt);
			missing++;
		}
	}
	assert_int_equal(missing, 0);
}

/* --------------------------------------------------------- hostile input */

/* xorshift: deterministic, so a failure reproduces. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void check_one(const char *text, size_t len)
{
	struct hdb_config *cfg;
	assert_int_equal(hdb_config_new(&cfg), HDB_OK);
	int rc = config_load_text(cfg, text, len, FILE_NAME);
	const char *msg = hdb_config_errmsg(cfg);
	if (rc == HDB_OK) {
		assert_string_equal(msg, "");
		/* key source invariant */
		assert_true(cfg->key_kind >= HDB_KEY_ENVIRONMENT && cfg->key_kind <= HDB_KEY_CREDENTIAL);
		assert_non_null(cfg->key_arg);
	} else {
		assert_true(rc == HDB_EPARSE || rc == HDB_ECONFIG);
		assert_true(strncmp(msg, FILE_NAME ":", strlen(FILE_NAME ":")) == 0);
		assert_null(strchr(msg, '\n'));
	}
	hdb_config_free(cfg);
}

static void test_hostile_input_never_crashes(void **state)
{
	(void)state;
	static const char *const seeds[] = { hipaa_example, gdpr_example, pci_example,
	                                     tutorial_file_example };
	static const char *const splice[] = { "=", "[", "]", "{", "}", "\"", "'", ",", "\n", ".",
	                                      "[[", "]]", "= {", "= [", "\\u0000", "true", "-1",
	                                      "9223372036854775807", "1.5", "1979-05-27", "key_source",
	                                      "File", "enabled", "\"\"\"", "#", "\xff", "audit" };
	char buf[4096];
	for (int iter = 0; iter < 3000; iter++) {
		const char *seed = seeds[rnd() % 4];
		size_t len = strlen(seed);
		memcpy(buf, seed, len);
		int edits = 1 + (int)(rnd() % 4);
		for (int e = 0; e < edits && len > 0; e++) {
			size_t at = rnd() % len;
			switch (rnd() % 4) {
			case 0: /* flip a byte */
				buf[at] = (char)(rnd() & 0xff);
				break;
			case 1: /* truncate */
				len = at;
				break;
			case 2: { /* delete a run */
				size_t n = 1 + rnd() % 16;
				if (at + n > len)
					n = len - at;
				memmove(buf + at, buf + at + n, len - at - n);
				len -= n;
				break;
			}
			default: { /* splice in a token */
				const char *tok = splice[rnd() % (sizeof(splice) / sizeof(splice[0]))];
				size_t tl = strlen(tok);
				if (len + tl >= sizeof(buf))
					break;
				memmove(buf + at + tl, buf + at, len - at);
				memcpy(buf + at, tok, tl);
				len += tl;
				break;
			}
			}
		}
		check_one(buf, len);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_empty_text_keeps_defaults),
		cmocka_unit_test(test_tutorial_file_example),
		cmocka_unit_test(test_tutorial_hipaa),
		cmocka_unit_test(test_tutorial_gdpr_inline_key_source),
		cmocka_unit_test(test_tutorial_pci),
		cmocka_unit_test(test_all_our_keys),
		cmocka_unit_test(test_key_source_kinds),
		cmocka_unit_test(test_key_source_zero_or_two),
		cmocka_unit_test(test_key_source_arguments_checked),
		cmocka_unit_test(test_aliases),
		cmocka_unit_test(test_alias_and_key_both_set),
		cmocka_unit_test(test_unknown_key_hint),
		cmocka_unit_test(test_unknown_key_no_hint),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_allowed_words),
		cmocka_unit_test(test_strings_checked),
		cmocka_unit_test(test_cache_size_strings),
		cmocka_unit_test(test_error_line_in_long_file),
		cmocka_unit_test(test_toml_syntax_error),
		cmocka_unit_test(test_failed_load_changes_nothing),
		cmocka_unit_test(test_load_missing_file),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_setters),
		cmocka_unit_test(test_dup_is_deep),
		cmocka_unit_test(test_key_table_is_consistent),
		cmocka_unit_test(test_docs_cover_every_key),
		cmocka_unit_test(test_hostile_input_never_crashes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
