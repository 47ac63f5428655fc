/*
 * test_profile.c - compliance profiles (policy/profile.c, engine/profiles.c):
 * whole-word matching of sensitive column names, strict loading with exact
 * FILE:LINE:COL errors for every kind of malformed rule, the shipped profiles,
 * the PCI DSS 3.3.1 column rule through the public table API (denied, audited,
 * and refusing a later open), and the rule callback.
 *
 * The API tests use the real profiles/ directory ($HDB_ROOT/profiles, else
 * ./profiles: the suite runs from the repository root) and a key file outside
 * the database directory, so every refuse-level rule of pci-dss and gdpr
 * passes unless a test breaks one.
 */
#include "testutil.h"

#include <errno.h>
#include <limits.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "heliosdb.h"
#include "profile.h"

/* ------------------------------------------------------------ words */

struct word_case {
	const char *name, *term;
	bool want;
};

static void test_name_has_word(void **state)
{
	(void)state;
	static const struct word_case cases[] = {
		/* whole words, any separator, any case */
		{ "cvv", "cvv", true },
		{ "card_cvv", "cvv", true },
		{ "CARD_CVV", "cvv", true },
		{ "card-cvv", "cvv", true },
		{ "card cvv", "cvv", true },
		{ "card.cvv", "cvv", true },
		{ "cvv_hash", "cvv", true },
		/* camelCase humps split words: a capital after a lower-case letter */
		{ "cardCvv", "cvv", true },
		{ "cardCVV", "cvv", true },
		{ "CardCvvValue", "cvv", true },
		{ "securityCode", "security_code", true },
		{ "pinBlock", "pin_block", true },
		{ "pinBlock", "pin", true },
		{ "pin_block", "pin_block", true },
		{ "pin_block", "pin", true },
		{ "pinblock", "pinblock", true },
		{ "PIN", "pin", true },
		{ "user_pin", "pin", true },
		{ "track1", "track1", true },
		{ "track1Data", "track1", true },   /* a capital after a digit starts a word */
		{ "cvv2Code", "cvv2", true },
		{ "raw_track_data", "track_data", true },
		{ "customer_cid", "cid", true },
		/* not whole words: substrings never match */
		{ "shipping", "pin", false },
		{ "spinner", "pin", false },
		{ "pinned", "pin", false },
		{ "opinion", "pin", false },
		{ "cvvx", "cvv", false },
		{ "acid", "cid", false },
		{ "security_codes", "security_code", false },
		{ "code_security", "security_code", false },
		{ "pinblocks", "pinblock", false },
		/* digits belong to the word: "cvv2" is its own term, not "cvv" */
		{ "cvv2", "cvv", false },
		{ "cvv2", "cvv2", true },
		/* documented limits of the splitting (not rules of PCI DSS):
		 * "track_1" is the words track, 1 - not the term "track1"; a run of
		 * capitals followed by a word is one word ("CVVCode" = cvvcode) */
		{ "track_1", "track1", false },
		{ "CVVCode", "cvv", false },
		/* degenerate input */
		{ "", "cvv", false },
		{ "___", "cvv", false },
		{ "cvv", "", false },
		{ "cvv", "_", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool got = profile_name_has_word(cases[i].name, cases[i].term);
		if (got != cases[i].want)
			fail_msg("profile_name_has_word(\"%s\", \"%s\") = %d, want %d", cases[i].name, cases[i].term, got,
			         cases[i].want);
	}
}

static void test_name_has_word_long(void **state)
{
	(void)state;
	/* more words than the splitter keeps, and one very long word: no overflow,
	 * whole-word semantics for the words it sees */
	char name[4096];
	size_t n = 0;
	for (int i = 0; i < 200; i++)
		n += (size_t)snprintf(name + n, sizeof(name) - n, "w%d_", i);
	snprintf(name + n, sizeof(name) - n, "cvv");
	(void)profile_name_has_word(name, "cvv");   /* beyond the word limit: either answer, no crash */
	assert_true(profile_name_has_word("cvv_w1_w2", "cvv"));
	char longw[300];
	memset(longw, 'a', sizeof(longw) - 1);
	longw[sizeof(longw) - 1] = '\0';
	assert_false(profile_name_has_word(longw, "cvv"));
	assert_false(profile_name_has_word("cvv", longw));
}

/* ------------------------------------------------------------ parsing */

/* A valid one-rule profile; the line numbers matter to the tests below. */
#define L1 "[profile]\n"
#define L2 "name = \"t\"\n"
#define L3 "title = \"T\"\n"
#define L4 "\n"
#define L5 "[[rule]]\n"
#define L6 "id = \"R-1\"\n"
#define L7 "citation = \"c\"\n"
#define L8 "area = \"audit\"\n"
#define L9 "statement = \"s\"\n"
#define L10 "severity = \"refuse\"\n"
#define L11 "fix = \"f\"\n"
#define L12 "key = \"audit.enabled\"\n"
#define L13 "equals = true\n"
#define HEAD L1 L2 L3 L4 L5 L6 L7 L8 L9 L10 L11

static int parse(const char *text, const char *name, struct profile_set **ps, char *err, size_t errlen)
{
	err[0] = '\0';
	return profile_set_parse(text, strlen(text), "t.toml", name, ps, err, errlen);
}

static void test_parse_valid(void **state)
{
	(void)state;
	char err[1024];
	struct profile_set *ps = NULL;
	assert_int_equal(parse(HEAD L12 L13, "t", &ps, err, sizeof(err)), HDB_OK);
	assert_int_equal(profile_set_count(ps), 1);
	assert_string_equal(profile_set_name(ps, 0), "t");
	assert_int_equal(profile_set_rules(ps), 1);
	assert_null(profile_set_name(ps, 1));
	profile_set_free(ps);
	profile_set_free(NULL);
	/* every kind of check, with its optional fields */
	static const char *const kinds[] = {
		"key = \"audit.retention.days\"\nmin = 365\n",
		"key = \"audit.checkpoint_every\"\nmax = 1000\n",
		"key = \"audit.on_failure\"\none_of = [\"block\"]\n",
		"key = \"encryption.key_source\"\nnot_one_of = [\"Environment\"]\n",
		"key = \"audit.retention_justification\"\nis_set = true\n",
		"key = \"audit.retention.days\"\nmax = 365\nunless_set = \"audit.retention_justification\"\n",
		"key = \"server.ssl_enabled\"\nequals = true\nwhen = \"server.enabled\"\n",
		"check = \"not_root\"\n",
		"check = \"key_age\"\n",
		"check = \"key_age\"\ngrace_days = 30\n",
		"check = \"tls_certificate_expiry\"\ndays = 0\nwhen = \"server.enabled\"\n",
		"check = \"sensitive_columns\"\nwords = [\"cvv\"]\n",
	};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		char text[2048];
		snprintf(text, sizeof(text), "%s%s", HEAD, kinds[i]);
		int rc = parse(text, NULL, &ps, err, sizeof(err));
		if (rc != HDB_OK)
			fail_msg("kind %zu: %s", i, err);
		profile_set_free(ps);
	}
}

struct bad_case {
	const char *text;
	const char *want;   /* the exact message */
};

static void test_parse_errors(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		/* an unknown key in a rule: at that key */
		{ HEAD L12 "equal = true\n",
		  "t.toml:13:1: unknown key 'equal' in a rule (known: id, citation, area, statement, severity, fix, key, "
		  "equals, min, max, one_of, not_one_of, is_set, unless_set, when, check, words, grace_days, days)" },
		/* a bad severity, a bad area: at their keys */
		{ L1 L2 L3 L4 L5 L6 L7 L8 L9 "severity = \"fatal\"\n" L11 L12 L13,
		  "t.toml:10:1: rule 'R-1': severity must be \"refuse\" or \"warn\", got \"fatal\"" },
		{ L1 L2 L3 L4 L5 L6 L7 "area = \"network\"\n" L9 L10 L11 L12 L13,
		  "t.toml:8:1: rule 'R-1': area must be one of encryption, audit, keys, storage, host, tls, schema, got "
		  "\"network\"" },
		/* an unknown configuration key */
		{ HEAD "key = \"audit.enabeld\"\n" L13, "t.toml:12:1: rule 'R-1': unknown configuration key 'audit.enabeld'" },
		/* a missing required field: at the [[rule]] header */
		{ L1 L2 L3 L4 L5 L7 L8 L9 L10 L11 L12 L13, "t.toml:5:3: rule has no 'id'" },
		{ L1 L2 L3 L4 L5 L6 L7 L8 L9 L10 L12 L13, "t.toml:5:3: rule 'R-1' has no 'fix'" },
		/* a field of the wrong type or shape */
		{ L1 L2 L3 L4 L5 "id = 7\n" L7 L8 L9 L10 L11 L12 L13, "t.toml:6:1: id must be a string" },
		{ L1 L2 L3 L4 L5 "id = \"\"\n" L7 L8 L9 L10 L11 L12 L13,
		  "t.toml:6:1: id must be one line of 1 to 400 characters" },
		{ L1 L2 L3 L4 L5 L6 L7 L8 "statement = \"two\\nlines\"\n" L10 L11 L12 L13,
		  "t.toml:9:1: statement must be one line of 1 to 400 characters" },
		/* neither or both of key and check */
		{ HEAD L13, "t.toml:5:3: rule 'R-1' needs exactly one of 'key' (a configuration key) or 'check' (a named "
		            "check)" },
		{ HEAD L12 L13 "check = \"not_root\"\n",
		  "t.toml:5:3: rule 'R-1' needs exactly one of 'key' (a configuration key) or 'check' (a named check)" },
		/* key checks: exactly one comparison, of the key's type */
		{ HEAD L12, "t.toml:12:1: rule 'R-1' needs exactly one of equals, min, max, one_of, not_one_of, is_set for "
		            "key 'audit.enabled'" },
		{ HEAD L12 L13 "min = 1\n", "t.toml:12:1: rule 'R-1' needs exactly one of equals, min, max, one_of, "
		                           "not_one_of, is_set for key 'audit.enabled'" },
		{ HEAD L12 "equals = \"yes\"\n", "t.toml:13:1: rule 'R-1': equals must be a boolean like the key "
		                                 "'audit.enabled'" },
		{ HEAD "key = \"audit.retention.days\"\nequals = true\n",
		  "t.toml:13:1: rule 'R-1': equals must be a integer like the key 'audit.retention.days'" },
		{ HEAD L12 "min = 1\n", "t.toml:13:1: rule 'R-1': min needs an integer value and an integer key "
		                        "('audit.enabled' is not)" },
		{ HEAD "key = \"audit.retention.days\"\nmax = \"365\"\n",
		  "t.toml:13:1: rule 'R-1': max needs an integer value and an integer key ('audit.retention.days' is not)" },
		{ HEAD "key = \"audit.on_failure\"\none_of = []\n", "t.toml:13:1: rule 'R-1': one_of must be a non-empty array" },
		{ HEAD "key = \"audit.on_failure\"\nnot_one_of = \"off\"\n",
		  "t.toml:13:1: rule 'R-1': not_one_of must be a non-empty array" },
		{ HEAD "key = \"audit.on_failure\"\none_of = [\"block\", 1]\n",
		  "t.toml:13:20: rule 'R-1': element 1 has the wrong type for key 'audit.on_failure'" },
		{ HEAD "key = \"audit.retention_justification\"\nis_set = false\n",
		  "t.toml:13:1: rule 'R-1': is_set must be true" },
		{ HEAD L12 L13 "unless_set = \"audit.nope\"\n",
		  "t.toml:14:1: rule 'R-1': unless_set must name a configuration key, got 'audit.nope'" },
		{ HEAD L12 L13 "when = \"audit.on_failure\"\n",
		  "t.toml:14:1: rule 'R-1': when must name a boolean configuration key, got 'audit.on_failure'" },
		{ HEAD L12 L13 "words = [\"cvv\"]\n",
		  "t.toml:14:1: rule 'R-1': 'words' belongs to a named check, not to a key check" },
		/* named checks: known, with exactly their parameter */
		{ HEAD "check = \"no_such_check\"\n",
		  "t.toml:12:1: rule 'R-1': unknown check 'no_such_check' (known: key_file_location, key_file_filesystem, "
		  "key_file_permissions, key_age, data_dir_permissions, not_root, core_dumps, clock_synchronized, "
		  "audit_log_permissions, tls_files, tls_certificate_expiry, sensitive_columns, fips_provider)" },
		{ HEAD "check = \"not_root\"\nequals = true\n", "t.toml:13:1: rule 'R-1': 'equals' needs 'key', not 'check'" },
		{ HEAD "check = \"not_root\"\nunless_set = \"audit.retention_justification\"\n",
		  "t.toml:13:1: rule 'R-1': unless_set needs 'key'" },
		{ HEAD "check = \"not_root\"\nwhen = \"audit.retention.days\"\n",
		  "t.toml:13:1: rule 'R-1': when must name a boolean configuration key, got 'audit.retention.days'" },
		{ HEAD "check = \"not_root\"\ndays = 3\n", "t.toml:13:1: rule 'R-1': check 'not_root' takes no 'days'" },
		{ HEAD "check = \"tls_certificate_expiry\"\n",
		  "t.toml:5:3: rule 'R-1': check 'tls_certificate_expiry' needs 'days'" },
		{ HEAD "check = \"sensitive_columns\"\n", "t.toml:5:3: rule 'R-1': check 'sensitive_columns' needs 'words'" },
		{ HEAD "check = \"sensitive_columns\"\nwords = []\n",
		  "t.toml:13:1: rule 'R-1': words must be an array of 1 to 256 strings" },
		{ HEAD "check = \"sensitive_columns\"\nwords = [\"cvv\", 2]\n", "t.toml:13:17: each of words must be a string" },
		{ HEAD "check = \"key_age\"\ngrace_days = -1\n",
		  "t.toml:13:1: rule 'R-1': grace_days must be an integer from 0 to 3650" },
		{ HEAD "check = \"tls_certificate_expiry\"\ndays = 3651\n",
		  "t.toml:13:1: rule 'R-1': days must be an integer from 0 to 3650" },
		/* the profile around the rules */
		{ HEAD L12 L13 "\n" L5 L6 L7 L8 L9 L10 L11 L12 L13, "t.toml:15:3: rule id 'R-1' is used twice" },
		{ L2 L3 L5 L6 L7 L8 L9 L10 L11 L12 L13, "t.toml:1:1: unknown key 'name' (a profile has [profile] and [[rule]] "
		                                        "tables)" },
		{ L5 L6 L7 L8 L9 L10 L11 L12 L13, "t.toml:1:1: missing [profile] table (name, title)" },
		{ L1 L2 L3, "t.toml:1:1: a profile needs at least one [[rule]]" },
		{ L1 L2 "author = \"me\"\n" L3 L5 L6 L7 L8 L9 L10 L11 L12 L13,
		  "t.toml:3:1: unknown key 'profile.author' (known: name, title, description, version)" },
		{ L1 L2 L5 L6 L7 L8 L9 L10 L11 L12 L13, "t.toml:1:2: [profile] needs name and title" },
		{ "[profile]\nname = \"other\"\ntitle = \"T\"\n" L5 L6 L7 L8 L9 L10 L11 L12 L13,
		  "t.toml:1:2: profile.name is \"other\" but the file is for \"t\"" },
		{ "rule = 1\n" L1 L2 L3, "t.toml:1:1: a profile needs at least one [[rule]]" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[2048];
		struct profile_set *ps = (struct profile_set *)&err;   /* must not be touched on failure */
		int rc = parse(cases[i].text, "t", &ps, err, sizeof(err));
		if (rc == HDB_OK)
			fail_msg("case %zu parsed; want \"%s\"", i, cases[i].want);
		if (rc != HDB_ECONFIG)
			fail_msg("case %zu: rc %d (%s), want HDB_ECONFIG; err \"%s\"", i, rc, hdb_strerror(rc), err);
		if (strcmp(err, cases[i].want) != 0)
			fail_msg("case %zu:\n got  \"%s\"\n want \"%s\"", i, err, cases[i].want);
		assert_ptr_equal(ps, (struct profile_set *)&err);
	}
}

static void test_parse_toml_syntax(void **state)
{
	(void)state;
	char err[1024];
	struct profile_set *ps = NULL;
	/* a TOML syntax error also names FILE:LINE:COL */
	int rc = parse(HEAD L12 "equals = tru\n", "t", &ps, err, sizeof(err));
	assert_int_not_equal(rc, HDB_OK);
	assert_null(ps);
	assert_true(strncmp(err, "t.toml:13:", 10) == 0);
	/* a NUL inside the text and a truncated table: errors, never crashes */
	static const char nul[] = "[profile]\nname = \"t\0\"\n";
	rc = profile_set_parse(nul, sizeof(nul) - 1, "t.toml", NULL, &ps, err, sizeof(err));
	assert_int_not_equal(rc, HDB_OK);
	rc = parse("[[rule]", NULL, &ps, err, sizeof(err));
	assert_int_not_equal(rc, HDB_OK);
	assert_true(strncmp(err, "t.toml:1:", 9) == 0);
	/* a tiny error buffer is still terminated */
	char small[8];
	memset(small, 'x', sizeof(small));
	rc = profile_set_parse("x = 1\n", 6, "t.toml", NULL, &ps, small, sizeof(small));
	assert_int_not_equal(rc, HDB_OK);
	assert_non_null(memchr(small, '\0', sizeof(small)));
	/* the default file name */
	rc = profile_set_parse("x = 1\n", 6, NULL, NULL, &ps, err, sizeof(err));
	assert_int_equal(rc, HDB_ECONFIG);
	assert_string_equal(err, "<profile>:1:1: unknown key 'x' (a profile has [profile] and [[rule]] tables)");
}

/* ------------------------------------------------------------ the shipped profiles */

static char profdir[PATH_MAX];

static const char *profiles_dir(void)
{
	if (!profdir[0]) {
		const char *root = getenv("HDB_ROOT");
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/profiles", root && *root ? root : ".");
		if (!realpath(p, profdir))
			fail_msg("cannot find the profiles directory '%s' (run from the repository root or set HDB_ROOT)", p);
	}
	return profdir;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *b = malloc(1 << 20);
	size_t n = b ? fread(b, 1, (1 << 20) - 1, f) : 0;
	fclose(f);
	if (b)
		b[n] = '\0';
	*len = n;
	return b;
}

static size_t count_str(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void test_shipped_profiles_parse(void **state)
{
	(void)state;
	static const char *const names[] = { "hipaa", "pci-dss", "gdpr", "development" };
	for (size_t i = 0; i < 4; i++) {
		char path[PATH_MAX + 64], err[1024];
		size_t len;
		snprintf(path, sizeof(path), "%s/%s.toml", profiles_dir(), names[i]);
		char *text = slurp(path, &len);
		assert_non_null(text);
		struct profile_set *ps = NULL;
		int rc = profile_set_parse(text, len, path, names[i], &ps, err, sizeof(err));
		if (rc)
			fail_msg("%s: %s", path, err);
		assert_int_equal(profile_set_rules(ps), count_str(text, "\n[[rule]]\n"));
		profile_set_free(ps);
		/* the file is for its own name only */
		rc = profile_set_parse(text, len, path, "other", &ps, err, sizeof(err));
		assert_int_equal(rc, HDB_ECONFIG);
		assert_non_null(strstr(err, "but the file is for \"other\""));
		free(text);
	}
}

/* ------------------------------------------------------------ through the API */

struct fx {
	char *dir;
	char path[600];
	char key[600];
	char log[700];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->dir = tu_mkdtemp();
	assert_non_null(f->dir);
	snprintf(f->path, sizeof(f->path), "%s/db", f->dir);
	snprintf(f->key, sizeof(f->key), "%s/master.key", f->dir);
	snprintf(f->log, sizeof(f->log), "%s/db.audit/audit.log", f->dir);
	FILE *k = fopen(f->key, "w");
	assert_non_null(k);
	fprintf(k, "%s\n", TEST_KEY_HEX);
	fclose(k);
	assert_int_equal(chmod(f->key, 0400), 0);
	unsetenv("HELIOSDB_PROFILE_DIR");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	tu_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* a configuration passing pci-dss and gdpr (when `profiles` names them) */
static struct hdb_config *mkcfg(const struct fx *f, const char *profiles, const char *extra)
{
	struct hdb_config *cfg = NULL;
	assert_int_equal(hdb_config_new(&cfg), HDB_OK);
	assert_int_equal(hdb_config_set_key_source(cfg, HDB_KEY_FILE, f->key), HDB_OK);
	char text[PATH_MAX + 4096];
	snprintf(text, sizeof(text),
	         "storage.secure_delete = true\nstorage.overwrite_deleted_data = true\n"
	         "compliance.profile_dir = \"%s\"\n%s%s%s\n%s\n",
	         profiles_dir(), profiles ? "compliance.profiles = [" : "", profiles ? profiles : "", profiles ? "]" : "",
	         extra ? extra : "");
	int rc = hdb_config_apply(cfg, text);
	if (rc)
		fail_msg("hdb_config_apply: %s", hdb_config_errmsg(cfg));
	return cfg;
}

static struct hdb_session *open_s(const char *path, struct hdb_config *cfg, unsigned flags, struct hdb_db **db)
{
	int rc = hdb_open(path, cfg, flags, db);
	if (rc)
		fail_msg("open: %s", hdb_errmsg(*db));
	struct hdb_principal who = { "tester", "127.0.0.1", "test_profile" };
	struct hdb_session *s = NULL;
	assert_int_equal(hdb_session_open(*db, &who, &s), HDB_OK);
	return s;
}

/* the audit records of one event type (a json array; caller puts it) */
static struct json_object *audit_records(const char *log, const char *type)
{
	struct json_object *arr = json_object_new_array();
	FILE *fp = fopen(log, "r");
	assert_non_null(fp);
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, fp) > 0) {
		struct json_object *r = json_tokener_parse(line), *t;
		if (!r)
			fail_msg("unparsable audit line: %.200s", line);
		if (json_object_object_get_ex(r, "event_type", &t) && strcmp(json_object_get_string(t), type) == 0)
			json_object_array_add(arr, r);
		else
			json_object_put(r);
	}
	free(line);
	fclose(fp);
	return arr;
}

static const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *v;
	return json_object_object_get_ex(o, k, &v) && v ? json_object_get_string(v) : NULL;
}

static const struct hdb_column_def card_cols[] = {
	{ "id", HDB_T_INT4, true, 1 },
	{ "card_cvv", HDB_T_TEXT, false, 0 },
};
static const struct hdb_column_def ship_cols[] = {
	{ "id", HDB_T_INT4, true, 1 },
	{ "shipping", HDB_T_TEXT, false, 0 },
	{ "spinner", HDB_T_TEXT, false, 0 },
};

static void test_pci_column_denied(void **state)
{
	struct fx *f = *state;
	struct hdb_config *cfg = mkcfg(f, "\"pci-dss\"", NULL);
	struct hdb_db *db = NULL;
	struct hdb_session *s = open_s(f->path, cfg, HDB_OPEN_CREATE, &db);

	assert_int_equal(hdb_table_create(s, "cards", card_cols, 2), HDB_ECOMPLIANCE);
	const char *m = hdb_session_errmsg(s);
	assert_non_null(strstr(m, "PCI-3.3.1 (PCI DSS v4.0.1 3.3.1): "));
	assert_non_null(strstr(m, "'card_cvv'"));
	assert_non_null(strstr(m, "\"cvv\""));
	assert_non_null(strstr(m, "drop the column"));
	/* nothing was created */
	struct hdb_schema *sc = NULL;
	assert_int_not_equal(hdb_table_schema(s, "cards", &sc), HDB_OK);
	hdb_schema_free(sc);
	/* camelCase is caught too; whole words only */
	static const struct hdb_column_def camel[] = { { "id", HDB_T_INT4, true, 1 }, { "cardCvv", HDB_T_TEXT, false, 0 } };
	assert_int_equal(hdb_table_create(s, "cards2", camel, 2), HDB_ECOMPLIANCE);
	assert_int_equal(hdb_table_create(s, "orders", ship_cols, 3), HDB_OK);
	hdb_session_close(s);
	hdb_close(db);
	hdb_config_free(cfg);

	/* the denied DDL is in the audit log with the rule's message */
	struct json_object *ddl = audit_records(f->log, "ddl");
	size_t denied = 0, ok = 0;
	for (size_t i = 0; i < json_object_array_length(ddl); i++) {
		struct json_object *r = json_object_array_get_idx(ddl, i);
		const char *outcome = jstr(r, "outcome"), *table = jstr(r, "table"), *error = jstr(r, "error");
		if (strcmp(outcome, "denied") == 0) {
			denied++;
			assert_true(strcmp(table, "cards") == 0 || strcmp(table, "cards2") == 0);
			assert_non_null(error);
			assert_non_null(strstr(error, "PCI-3.3.1 (PCI DSS v4.0.1 3.3.1)"));
		} else if (strcmp(outcome, "success") == 0) {
			ok++;
			assert_string_equal(table, "orders");
		}
	}
	json_object_put(ddl);
	assert_int_equal(denied, 2);
	assert_int_equal(ok, 1);
}

static void test_pci_column_allowed_without_profile(void **state)
{
	struct fx *f = *state;
	struct hdb_config *cfg = mkcfg(f, "\"gdpr\"", NULL);
	struct hdb_db *db = NULL;
	struct hdb_session *s = open_s(f->path, cfg, HDB_OPEN_CREATE, &db);
	assert_int_equal(hdb_table_create(s, "cards", card_cols, 2), HDB_OK);
	hdb_session_close(s);
	hdb_close(db);
	hdb_config_free(cfg);
}

/* the rule callback: every rule of every profile exactly once per open */
struct seen {
	char *id[256];
	char *status[256];
	unsigned n;
	bool dup;
};

static void seen_fn(void *arg, const struct hdb_rule_result *r)
{
	struct seen *sn = arg;
	for (unsigned i = 0; i < sn->n; i++)
		if (strcmp(sn->id[i], r->id) == 0)
			sn->dup = true;
	assert_true(sn->n < 256);
	assert_non_null(r->profile);
	assert_non_null(r->citation);
	assert_non_null(r->severity);
	assert_non_null(r->required);
	assert_non_null(r->actual);
	assert_non_null(r->problem);
	assert_non_null(r->fix);
	assert_true(strcmp(r->status, "pass") == 0 || strcmp(r->status, "warn") == 0 ||
	            strcmp(r->status, "fail") == 0 || strcmp(r->status, "skip") == 0);
	/* failing rules say what is wrong, passing ones do not */
	assert_int_equal(strcmp(r->status, "pass") != 0 && strcmp(r->status, "skip") != 0, r->problem[0] != '\0');
	sn->id[sn->n] = strdup(r->id);
	sn->status[sn->n] = strdup(r->status);
	sn->n++;
}

static void seen_clear(struct seen *sn)
{
	for (unsigned i = 0; i < sn->n; i++) {
		free(sn->id[i]);
		free(sn->status[i]);
	}
	memset(sn, 0, sizeof(*sn));
}

static const char *seen_status(const struct seen *sn, const char *id)
{
	for (unsigned i = 0; i < sn->n; i++)
		if (strcmp(sn->id[i], id) == 0)
			return sn->status[i];
	return NULL;
}

static size_t shipped_rules(const char *name)
{
	char path[PATH_MAX + 64], err[1024];
	size_t len;
	snprintf(path, sizeof(path), "%s/%s.toml", profiles_dir(), name);
	char *text = slurp(path, &len);
	assert_non_null(text);
	struct profile_set *ps = NULL;
	assert_int_equal(profile_set_parse(text, len, path, name, &ps, err, sizeof(err)), HDB_OK);
	size_t n = profile_set_rules(ps);
	profile_set_free(ps);
	free(text);
	return n;
}

static void test_rule_callback_every_rule_once(void **state)
{
	struct fx *f = *state;
	size_t want = shipped_rules("pci-dss") + shipped_rules("gdpr");
	struct seen sn = { 0 };
	struct hdb_config *cfg = mkcfg(f, "\"pci-dss\", \"gdpr\"", NULL);
	assert_int_equal(hdb_config_set_rule_callback(cfg, seen_fn, &sn), HDB_OK);

	/* a new database that passes: every rule once, none skipped */
	struct hdb_db *db = NULL;
	struct hdb_session *s = open_s(f->path, cfg, HDB_OPEN_CREATE, &db);
	assert_int_equal(sn.n, want);
	assert_false(sn.dup);
	for (unsigned i = 0; i < sn.n; i++)
		assert_string_not_equal(sn.status[i], "skip");
	assert_string_equal(seen_status(&sn, "PCI-3.3.1"), "pass");
	assert_string_equal(seen_status(&sn, "PCI-3.6.1-KEYENV"), "pass");
	seen_clear(&sn);
	/* a table under pci-dss: the column check does not call it again */
	assert_int_equal(hdb_table_create(s, "cards", card_cols, 2), HDB_ECOMPLIANCE);
	assert_int_equal(sn.n, 0);
	hdb_session_close(s);
	hdb_close(db);

	/* an existing database refused (retention 300 < PCI's 365): still once each */
	hdb_config_free(cfg);
	cfg = mkcfg(f, "\"pci-dss\", \"gdpr\"", "audit.retention.days = 300");
	assert_int_equal(hdb_config_set_rule_callback(cfg, seen_fn, &sn), HDB_OK);
	db = NULL;
	assert_int_equal(hdb_open(f->path, cfg, 0, &db), HDB_ECOMPLIANCE);
	assert_non_null(strstr(hdb_errmsg(db), "PCI-10.5.1 (PCI DSS v4.0.1 10.5.1)"));
	hdb_close(db);
	assert_int_equal(sn.n, want);
	assert_false(sn.dup);
	assert_string_equal(seen_status(&sn, "PCI-10.5.1"), "fail");
	seen_clear(&sn);

	/* a database that does not exist, refused: once each, nothing created */
	char newpath[700];
	snprintf(newpath, sizeof(newpath), "%s/new", f->dir);
	db = NULL;
	assert_int_equal(hdb_open(newpath, cfg, HDB_OPEN_CREATE, &db), HDB_ECOMPLIANCE);
	hdb_close(db);
	assert_int_equal(sn.n, want);
	assert_false(sn.dup);
	assert_string_equal(seen_status(&sn, "PCI-10.5.1"), "fail");
	/* the rules that need the open database could not run */
	assert_string_equal(seen_status(&sn, "PCI-3.3.1"), "skip");
	assert_string_equal(seen_status(&sn, "PCI-3.7.4"), "skip");
	struct stat st;
	assert_int_equal(stat(newpath, &st), -1);
	assert_int_equal(errno, ENOENT);
	char newlog[720];
	snprintf(newlog, sizeof(newlog), "%s.audit", newpath);
	assert_int_equal(stat(newlog, &st), -1);
	seen_clear(&sn);
	hdb_config_free(cfg);
}

static void test_existing_cvv_column_refuses_open(void **state)
{
	struct fx *f = *state;
	/* created without the profile */
	struct hdb_config *cfg = mkcfg(f, NULL, NULL);
	struct hdb_db *db = NULL;
	struct hdb_session *s = open_s(f->path, cfg, HDB_OPEN_CREATE, &db);
	assert_int_equal(hdb_table_create(s, "cards", card_cols, 2), HDB_OK);
	assert_int_equal(hdb_table_create(s, "orders", ship_cols, 3), HDB_OK);
	hdb_session_close(s);
	hdb_close(db);
	hdb_config_free(cfg);

	/* opened with pci-dss: refused, naming the rule and the column */
	struct seen sn = { 0 };
	cfg = mkcfg(f, "\"pci-dss\"", NULL);
	assert_int_equal(hdb_config_set_rule_callback(cfg, seen_fn, &sn), HDB_OK);
	db = NULL;
	assert_int_equal(hdb_open(f->path, cfg, 0, &db), HDB_ECOMPLIANCE);
	const char *m = hdb_errmsg(db);
	assert_non_null(strstr(m, "PCI-3.3.1 (PCI DSS v4.0.1 3.3.1): "));
	assert_non_null(strstr(m, "cards.card_cvv"));
	/* no session on a refused database */
	struct hdb_principal who = { "tester", "127.0.0.1", "test_profile" };
	struct hdb_session *s2 = NULL;
	assert_int_not_equal(hdb_session_open(db, &who, &s2), HDB_OK);
	hdb_session_close(s2);
	hdb_close(db);
	assert_string_equal(seen_status(&sn, "PCI-3.3.1"), "fail");
	seen_clear(&sn);
	hdb_config_free(cfg);

	/* the refusal is in the audit log */
	struct json_object *pe = audit_records(f->log, "profile_evaluated");
	size_t n = json_object_array_length(pe);
	assert_true(n >= 1);
	struct json_object *last = json_object_array_get_idx(pe, n - 1), *detail, *started;
	assert_string_equal(jstr(last, "outcome"), "denied");
	assert_non_null(strstr(jstr(last, "error"), "PCI-3.3.1"));
	assert_true(json_object_object_get_ex(last, "detail", &detail));
	assert_true(json_object_object_get_ex(detail, "started", &started));
	assert_false(json_object_get_boolean(started));
	json_object_put(pe);

	/* without the profile it opens; the data is intact */
	cfg = mkcfg(f, NULL, NULL);
	db = NULL;
	s = open_s(f->path, cfg, 0, &db);
	struct hdb_schema *sc = NULL;
	assert_int_equal(hdb_table_schema(s, "cards", &sc), HDB_OK);
	assert_int_equal(hdb_schema_ncolumns(sc), 2);
	hdb_schema_free(sc);
	hdb_session_close(s);
	hdb_close(db);
	hdb_config_free(cfg);
}

static void test_column_check_direct(void **state)
{
	(void)state;
	char err[1024];
	struct profile_set *ps = NULL;
	/* a warn-level sensitive_columns rule does not deny */
	const char *warn = L1 L2 L3 L5 L6 L7 "area = \"schema\"\n" L9 "severity = \"warn\"\n" L11
	                   "check = \"sensitive_columns\"\nwords = [\"cvv\"]\n";
	assert_int_equal(parse(warn, "t", &ps, err, sizeof(err)), HDB_OK);
	assert_int_equal(profile_column_check(ps, "t", "card_cvv", err, sizeof(err)), HDB_OK);
	profile_set_free(ps);
	const char *refuse = L1 L2 L3 L5 L6 L7 "area = \"schema\"\n" L9 L10 L11
	                     "check = \"sensitive_columns\"\nwords = [\"pin_block\", \"cvv\"]\n";
	assert_int_equal(parse(refuse, "t", &ps, err, sizeof(err)), HDB_OK);
	assert_int_equal(profile_column_check(ps, "t", "shipping", err, sizeof(err)), HDB_OK);
	assert_int_equal(profile_column_check(ps, "t", "pinBlock", err, sizeof(err)), HDB_ECOMPLIANCE);
	assert_string_equal(err, "R-1 (c): table 't' column 'pinBlock' is sensitive authentication data (\"pin_block\"); f");
	profile_set_free(ps);
	/* no profiles: everything is allowed */
	assert_int_equal(profile_column_check(NULL, "t", "cvv", err, sizeof(err)), HDB_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_has_word),
		cmocka_unit_test(test_name_has_word_long),
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_toml_syntax),
		cmocka_unit_test(test_shipped_profiles_parse),
		cmocka_unit_test(test_column_check_direct),
		cmocka_unit_test_setup_teardown(test_pci_column_denied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pci_column_allowed_without_profile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rule_callback_every_rule_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_existing_cvv_column_refuses_open, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
