/*
 * test_keys.c - every key source and every error message of engine/keys.c,
 * key file creation and hdb_keygen_hex.
 *
 * Each failure test also checks that the message never contains the key (or
 * the malformed value) that was offered.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "config.h"
#include "crypto.h"
#include "heliosdb.h"
#include "keys.h"
#include "secret.h"
#include "util.h"

static struct crypto_lib *lib;
static char *dir;
static struct hdb_config cfg;
static char err[1024];

static const unsigned char test_key[32] = {
	0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
	0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
};

static int setup(void **state)
{
	(void)state;
	char e[256];
	if (crypto_lib_new(false, &lib, e, sizeof(e)) != HDB_OK)
		return -1;
	dir = tu_mkdtemp();
	if (!dir)
		return -1;
	memset(&cfg, 0, sizeof(cfg));
	memset(err, 0, sizeof(err));
	unsetenv("HELIOSDB_ENCRYPTION_KEY");
	unsetenv("HDB_TEST_KEY");
	unsetenv("HDB_TEST_PW");
	unsetenv("CREDENTIALS_DIRECTORY");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	secret_free(cfg.password);
	memset(&cfg, 0, sizeof(cfg));
	tu_rmrf(dir);
	free(dir);
	dir = NULL;
	crypto_lib_free(lib);
	lib = NULL;
	unsetenv("HELIOSDB_ENCRYPTION_KEY");
	unsetenv("HDB_TEST_KEY");
	unsetenv("HDB_TEST_PW");
	unsetenv("CREDENTIALS_DIRECTORY");
	return 0;
}

/* path_in - dir/name in a static buffer (one at a time). */
static const char *path_in(const char *name)
{
	static char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

static const char *write_file(const char *name, const void *data, size_t n, mode_t mode)
{
	const char *p = path_in(name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	assert_int_equal(close(fd), 0);
	assert_int_equal(chmod(p, mode), 0);
	return p;
}

/* load - keys_load_master with the global cfg; on success checks the key
 * and frees it; on failure checks the key source's content is not echoed. */
static int load(const unsigned char *want)
{
	struct hdb_secret *key = (struct hdb_secret *)0x1;
	memset(err, 0, sizeof(err));
	int rc = keys_load_master(lib, &cfg, NULL, &key, err, sizeof(err));
	if (rc == HDB_OK) {
		assert_non_null(key);
		assert_int_equal(key->len, 32);
		if (want)
			assert_memory_equal(key->buf, want, 32);
		secret_free(key);
	} else {
		assert_ptr_equal(key, (struct hdb_secret *)0x1); /* untouched */
		assert_true(err[0] != '\0');
		assert_null(strstr(err, TEST_KEY_HEX));
		assert_null(strstr(err, "00112233445566778899"));
	}
	return rc;
}

/* ---------------------------------------------------------- environment */

static void test_env_default_variable(void **state)
{
	(void)state;
	cfg.key_kind = HDB_KEY_ENVIRONMENT;
	assert_int_equal(load(NULL), HDB_EKEYSRC);
	assert_string_equal(err, "Environment variable 'HELIOSDB_ENCRYPTION_KEY' not found");

	setenv("HELIOSDB_ENCRYPTION_KEY", TEST_KEY_HEX, 1);
	assert_int_equal(load(test_key), HDB_OK);
	/* Upper case is hex too. */
	setenv("HELIOSDB_ENCRYPTION_KEY",
	       "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF", 1);
	assert_int_equal(load(test_key), HDB_OK);
	/* One trailing newline (as from `<<<` or a .env file) is dropped. */
	setenv("HELIOSDB_ENCRYPTION_KEY", TEST_KEY_HEX "\n", 1);
	assert_int_equal(load(test_key), HDB_OK);
	setenv("HELIOSDB_ENCRYPTION_KEY", TEST_KEY_HEX "\r\n", 1);
	assert_int_equal(load(test_key), HDB_OK);
	/* ... but only one. */
	setenv("HELIOSDB_ENCRYPTION_KEY", TEST_KEY_HEX "\n\n", 1);
	assert_int_equal(load(NULL), HDB_EKEYSRC);
	assert_string_equal(err, "Hex key must be 64 characters (32 bytes), got 65");
}

static void test_env_named_variable(void **state)
{
	(void)state;
	cfg.key_kind = HDB_KEY_ENVIRONMENT;
	cfg.key_arg = (char *)"HDB_TEST_KEY";
	setenv("HELIOSDB_ENCRYPTION_KEY", TEST_KEY_HEX, 1); /* must not be used */
	assert_int_equal(load(NULL), HDB_EKEYSRC);
	assert_string_equal(err, "Environment variable 'HDB_TEST_KEY' not found");
	setenv("HDB_TEST_KEY", TEST_KEY2_HEX, 1);
	unsigned char k2[32];
	for (int i = 0; i < 32; i++)
		k2[i] = (unsigned char)(0xff - test_key[i]);
	assert_int_equal(load(k2), HDB_OK);
}

static void test_env_wrong_length(void **state)
{
	(void)state;
	cfg.key_kind = HDB_KEY_ENVIRONMENT;
	setenv("HELIOSDB_ENCRYPTION_KEY", "deadbeefcafe", 1);
	assert_int_equal(load(NULL), HDB_EKEYSRC);
	assert_string_equal(err, "Hex key must be 64 characters (32 bytes), got 12");
	assert_null(strstr(err, "deadbeef"));

	setenv("HELIOSDB_ENCRYPTION_KEY", "", 1);
	assert_int_equal(load(NULL), HDB_EKEYSRC);
	assert_string_equal(err, "Hex key must be 64 characters (32 bytes), got 0");

	setenv("HELIOSDB_ENCRYPTION_KEY", TEST_KEY_HEX "0", 1);
	assert_int_equal(load(NULL), HDB_EKEYSRC);
	assert_string_equal(err, "Hex key must be 64 characters (32 bytes), got 65");

	setenv("HELIOSDB_ENCRYPTION_KEY", TEST_KEY_HEX + 1, 1);
	assert_int_equal(load(NULL), HDB_EKEYSRC);
	assert_string_equal(err, "Hex key must be 64 characters (32 bytes), got 63");
}

static void test_env_non_hex(void **state)
{
	(void)state;
	cfg.key_kind = HDB_KEY_ENVIRONMENT;
	/* Each character just outside a hex range, in each position class. */
	const char bad[] = { 'g', 'G', '@', '`', '/', ':', ' ', 'z', '\x80', '\xff', '-', 'x' };
	for (size_t i = 0; i < sizeof(bad); i++) {
		char v[65];
		memcpy(v, TEST_KEY_HEX, 65);
		v[(i * 11) % 64] = bad[i];
		setenv("HELIOSDB_ENCRYPTION_KEY", v, 1);
		assert_int_equal(load(NULL), HDB_EKEYSRC);
		assert_string_equal(err, "Hex key contains a non-hexadecimal character");
	}
	/* Every hex digit decodes to its value (catches a broken decoder). */
	setenv("HELIOSDB_ENCRYPTION_KEY",
	       "0123456789abcdefABCDEF0123456789abcdef0123456789abcdef0123456789", 1);
	const unsigned char want[32] = {
		0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89,
		0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89,
	};
	assert_int_equal(load(want), HDB_OK);
}

static void test_no_source(void **state)
{
	(void)state;
	cfg.key_kind = HDB_KEY_NONE;
	assert_int_equal(load(NULL), HDB_EINVAL);
	assert_non_null(strstr(err, "no encryption key source"));
}

/* ----------------------------------------------------------------- file */

static void test_file_ok(void **state)
{
	(void)state;
	cfg.key_kind = HDB_KEY_FILE;
	cfg.key_arg = (char *)write_file("k", TEST_KEY_HEX "\n", 65, 0400);
	assert_int_equal(load(test_key), HDB_OK);
	/* 0600 and the tutorial's root:heliosdb 0440 layout are fine. */
	assert_int_equal(chmod(cfg.key_arg, 0600), 0);
	assert_int_equal(load(test_key), HDB_OK);
	assert_int_equal(chmod(cfg.key_arg, 0440), 0);
	assert_int_equal(load(test_key), HDB_OK);
	/* No newline, or trailing whitespace of any kind. */
	cfg.key_arg = (char *)write_file("k2", TEST_KEY_HEX, 64, 0400);
	assert_int_equal(load(test_key), HDB_OK);
	cfg.key_arg = (char *)write_file("k3", TEST_KEY_HEX " \t\r\n\n", 69, 0400);
	assert_int_equal(load(test_key), HDB_OK);
}

static void test_file_missing(void **state)
{
	(void)state;
	cfg.key_kind = HDB_KEY_FILE;
	cfg.key_arg = (char *)path_in("nope.key");
	assert_int_equal(load(NULL), HDB_EKEYSRC);
	char want[PATH_MAX + 80];
	snprintf(want, sizeof(want), "Failed to read key file: No such file or directory ('%s')",
	         cfg.key_arg);
	assert_string_equal(err, want);

	cfg.key_arg = NULL;
	assert_int_equal(load(NULL), HDB_EINVAL);
}

static void expect_insecure(mode_t mode, const char *which)
{
	cfg.key_kind = HDB_KEY_FILE;
	cfg.key_arg = (char *)write_file("insecure.key", TEST_KEY_HEX "\n", 65, mode);
	assert_int_equal(load(NULL), HDB_EPERM);
	char modestr[16];
	snprintf(modestr, sizeof(modestr), "(mode %04o)", (unsigned)mode);
	char fix[PATH_MAX + 20];
	snprintf(fix, sizeof(fix), "run: chmod 400 %s", cfg.key_arg);
	assert_non_null(strstr(err, "insecure permissions"));
	assert_non_null(strstr(err, cfg.key_arg));
	assert_non_null(strstr(err, modestr));
	assert_non_null(strstr(err, which));
	assert_non_null(strstr(err, fix));
}

static void test_file_insecure_permissions(void **state)
{
	(void)state;
	expect_insecure(0644, "others can read it");
	assert_null(strstr(err, "write"));
	expect_insecure(0604, "others can read it");
	expect_insecure(0620, "group can write it");
	assert_null(strstr(err, "others"));
	expect_insecure(0602, "others can write it");
	expect_insecure(0666, "group can write it, others can write it, others can read it");
	expect_insecure(0460, "group can write it");
	expect_insecure(0404, "others can read it");
	/* The exact shape for the common case. */
	expect_insecure(0644, "");
	char want[2 * PATH_MAX + 128];
	snprintf(want, sizeof(want), "key file '%s' has insecure permissions (mode 0644): "
	         "others can read it; run: chmod 400 %s", cfg.key_arg, cfg.key_arg);
	assert_string_equal(err, want);
}

static void test_file_symlink_refused(void **state)
{
	(void)state;
	const char *target = write_file("real.key", TEST_KEY_HEX "\n", 65, 0400);
	char t[PATH_MAX];
	snprintf(t, sizeof(t), "%s", target);
	const char *link = path_in("link.key");
	assert_int_equal(symlink(t, link), 0);
	cfg.key_kind = HDB_KEY_FILE;
	cfg.key_arg = (char *)link;
	assert_int_equal(load(NULL), HDB_EPERM);
	assert_non_null(strstr(err, "symbolic link"));
	assert_non_null(strstr(err, link));
	/* the real file itself loads */
	cfg.key_arg = t;
	assert_int_equal(load(test_key), HDB_OK);
}

static void test_file_not_regular(void **state)
{
	(void)state;
	cfg.key_kind = HDB_KEY_FILE;
	cfg.key_arg = (char *)path_in("");  /* the directory */
	assert_int_equal(load(NULL), HDB_EKEYSRC);
	assert_non_null(strstr(err, "not a regular file"));
	/* A FIFO is refused, and opening it does not block. */
	const char *fifo = path_in("fifo");
	assert_int_equal(mkfifo(fifo, 0600), 0);
	cfg.key_arg = (char *)fifo;
	assert_int_equal(load(NULL), HDB_EKEYSRC);
	assert_non_null(strstr(err, "not a regular file"));
}

static void test_file_bad_contents(void **state)
{
	(void)state;
	cfg.key_kind = HDB_KEY_FILE;
	cfg.key_arg = (char *)write_file("short.key", "abcdef\n", 7, 0400);
	assert_int_equal(load(NULL), HDB_EKEYSRC);
	assert_non_null(strstr(err, "Hex key must be 64 characters (32 bytes), got 6"));
	assert_non_null(strstr(err, cfg.key_arg));

	char v[66];
	memcpy(v, TEST_KEY_HEX, 64);
	v[10] = 'q';
	v[64] = '\n';
	cfg.key_arg = (char *)write_file("nonhex.key", v, 65, 0400);
	assert_int_equal(load(NULL), HDB_EKEYSRC);
	assert_non_null(strstr(err, "Hex key contains a non-hexadecimal character"));

	/* Leading whitespace is not trimmed: a key file holds the key. */
	char lead[66] = " ";
	memcpy(lead + 1, TEST_KEY_HEX, 64);
	cfg.key_arg = (char *)write_file("lead.key", lead, 65, 0400);
	assert_int_equal(load(NULL), HDB_EKEYSRC);

	/* Too large: refused whatever it holds (here: the key then junk). */
	char big[300];
	memset(big, 'a', sizeof(big));
	memcpy(big, TEST_KEY_HEX, 64);
	cfg.key_arg = (char *)write_file("big.key", big, sizeof(big), 0400);
	assert_int_equal(load(NULL), HDB_EKEYSRC);
	assert_non_null(strstr(err, "too large"));
	/* 256 bytes of trailing whitespace is still accepted; 257 is not. */
	char ws[257];
	memset(ws, '\n', sizeof(ws));
	memcpy(ws, TEST_KEY_HEX, 64);
	cfg.key_arg = (char *)write_file("ws.key", ws, 256, 0400);
	assert_int_equal(load(test_key), HDB_OK);
	cfg.key_arg = (char *)write_file("ws2.key", ws, 257, 0400);
	assert_int_equal(load(NULL), HDB_EKEYSRC);
	assert_non_null(strstr(err, "too large"));

	/* Empty file. */
	cfg.key_arg = (char *)write_file("empty.key", "", 0, 0400);
	assert_int_equal(load(NULL), HDB_EKEYSRC);
	assert_non_null(strstr(err, "got 0"));
}

/* Permission denied needs a user the file's mode applies to.  As root (who
 * bypasses modes) a forked child drops to nobody (65534) to try. */
static void test_file_permission_denied(void **state)
{
	(void)state;
	cfg.key_kind = HDB_KEY_FILE;
	cfg.key_arg = (char *)write_file("noaccess.key", TEST_KEY_HEX "\n", 65, 0000);
	char want[PATH_MAX + 80];
	snprintf(want, sizeof(want), "Failed to read key file: Permission denied ('%s')", cfg.key_arg);
	if (geteuid() != 0) {
		assert_int_equal(load(NULL), HDB_EPERM);
		assert_string_equal(err, want);
		return;
	}
	/* Let nobody reach the file: the test dir is 0700 root. */
	assert_int_equal(chmod(dir, 0711), 0);
	assert_int_equal(chown(cfg.key_arg, 65534, 65534), 0); /* owned by nobody, mode 0000 */
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(2);
		struct hdb_secret *k = NULL;
		char e[1024] = "";
		int rc = keys_load_master(lib, &cfg, NULL, &k, e, sizeof(e));
		ssize_t w1 = write(fds[1], &rc, sizeof(rc));
		ssize_t w2 = write(fds[1], e, sizeof(e));
		_exit(w1 == sizeof(rc) && w2 == sizeof(e) ? 0 : 3);
	}
	close(fds[1]);
	int rc = 0, st;
	char e[1024] = "";
	ssize_t r1 = read(fds[0], &rc, sizeof(rc));
	ssize_t r2 = read(fds[0], e, sizeof(e));
	close(fds[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) == 2) {
		fprintf(stderr, "cannot drop to uid 65534; skipping permission-denied case\n");
		skip();
	}
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(r1, (ssize_t)sizeof(rc));
	assert_true(r2 > 0);
	assert_int_equal(rc, HDB_EPERM);
	assert_string_equal(e, want);
}

static void test_file_foreign_owner(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		fprintf(stderr, "not root: cannot chown to another user; skipping\n");
		skip();
	}
	cfg.key_kind = HDB_KEY_FILE;
	cfg.key_arg = (char *)write_file("theirs.key", TEST_KEY_HEX "\n", 65, 0400);
	assert_int_equal(chown(cfg.key_arg, 12345, 0), 0);
	assert_int_equal(load(NULL), HDB_EPERM);
	assert_non_null(strstr(err, "insecure ownership"));
	assert_non_null(strstr(err, "12345"));
	/* Owned by root (us, here) is fine. */
	assert_int_equal(chown(cfg.key_arg, 0, 12345), 0);
	assert_int_equal(load(test_key), HDB_OK);
}

/* ------------------------------------------------------------- password */

static void set_password(const char *pw)
{
	secret_free(cfg.password);
	cfg.password = NULL;
	assert_int_equal(secret_from(pw, strlen(pw), &cfg.password), HDB_OK);
}

static int load_pw(const struct keys_kdf *kdf, unsigned char out[32])
{
	struct hdb_secret *key = NULL;
	memset(err, 0, sizeof(err));
	int rc = keys_load_master(lib, &cfg, kdf, &key, err, sizeof(err));
	if (rc == HDB_OK) {
		assert_int_equal(key->len, 32);
		memcpy(out, key->buf, 32);
		secret_free(key);
	} else {
		assert_null(key);
		assert_null(strstr(err, "correct horse"));
	}
	return rc;
}

static void test_password_argon2id(void **state)
{
	(void)state;
	cfg.key_kind = HDB_KEY_PASSWORD;
	cfg.kdf_m_kib = 19456;
	cfg.kdf_t = 2;
	cfg.kdf_p = 1;
	struct keys_kdf kdf;
	assert_int_equal(keys_new_kdf(lib, &cfg, &kdf, err, sizeof(err)), HDB_OK);
	assert_int_equal(kdf.alg, KEYS_KDF_ARGON2ID);

	unsigned char k1[32], k2[32], k3[32], want[32];
	set_password("correct horse battery staple");
	assert_int_equal(load_pw(&kdf, k1), HDB_OK);
	assert_int_equal(crypto_kdf_argon2id("correct horse battery staple", 28, kdf.salt, 16,
	                                     19456, 2, 1, want), HDB_OK);
	assert_memory_equal(k1, want, 32);

	/* Same password from the environment gives the same key. */
	secret_free(cfg.password);
	cfg.password = NULL;
	cfg.key_arg = (char *)"HDB_TEST_PW";
	assert_int_equal(load_pw(&kdf, k2), HDB_EKEYSRC);
	assert_string_equal(err, "Environment variable 'HDB_TEST_PW' not found");
	setenv("HDB_TEST_PW", "correct horse battery staple", 1);
	assert_int_equal(load_pw(&kdf, k2), HDB_OK);
	assert_memory_equal(k1, k2, 32);

	/* Another password, or another salt, another key. */
	setenv("HDB_TEST_PW", "correct horse battery stapler", 1);
	assert_int_equal(load_pw(&kdf, k3), HDB_OK);
	assert_memory_not_equal(k1, k3, 32);
	setenv("HDB_TEST_PW", "correct horse battery staple", 1);
	kdf.salt[0] ^= 1;
	assert_int_equal(load_pw(&kdf, k3), HDB_OK);
	assert_memory_not_equal(k1, k3, 32);

	/* cfg->password wins over the environment. */
	set_password("other");
	assert_int_equal(load_pw(&kdf, k3), HDB_OK);
	kdf.salt[0] ^= 1;
	assert_int_equal(load_pw(&kdf, k3), HDB_OK);
	assert_memory_not_equal(k1, k3, 32);
}

static void test_password_errors(void **state)
{
	(void)state;
	cfg.key_kind = HDB_KEY_PASSWORD;
	unsigned char k[32];
	struct keys_kdf kdf;
	memset(&kdf, 0, sizeof(kdf));
	set_password("correct horse");
	/* No stored parameters. */
	assert_int_equal(load_pw(NULL, k), HDB_EINVAL);
	assert_non_null(strstr(err, "KDF parameters"));
	kdf.alg = KEYS_KDF_NONE;
	assert_int_equal(load_pw(&kdf, k), HDB_EINVAL);
	/* Stored parameters below the floor (a tampered header) are refused. */
	kdf.alg = KEYS_KDF_ARGON2ID;
	kdf.m_kib = 1024; kdf.t = 2; kdf.p = 1;
	assert_int_equal(load_pw(&kdf, k), HDB_EINVAL);
	assert_non_null(strstr(err, "m_kib=1024"));
	kdf.alg = KEYS_KDF_PBKDF2;
	kdf.iterations = 1000;
	assert_int_equal(load_pw(&kdf, k), HDB_EINVAL);
	assert_non_null(strstr(err, "1000"));
	/* Empty password, from either place. */
	kdf.alg = KEYS_KDF_ARGON2ID;
	kdf.m_kib = 19456; kdf.t = 2; kdf.p = 1;
	set_password("");
	assert_int_equal(load_pw(&kdf, k), HDB_EKEYSRC);
	assert_string_equal(err, "the password is empty");
	secret_free(cfg.password);
	cfg.password = NULL;
	cfg.key_arg = (char *)"HDB_TEST_PW";
	setenv("HDB_TEST_PW", "", 1);
	assert_int_equal(load_pw(&kdf, k), HDB_EKEYSRC);
	assert_string_equal(err, "the password is empty");
	/* Neither a password nor a variable name. */
	cfg.key_arg = NULL;
	assert_int_equal(load_pw(&kdf, k), HDB_EINVAL);
	/* FIPS mode does not use Argon2id. */
	set_password("correct horse");
	cfg.fips = true;
	assert_int_equal(load_pw(&kdf, k), HDB_EINVAL);
	assert_non_null(strstr(err, "FIPS"));
}

static void test_password_pbkdf2(void **state)
{
	(void)state;
	cfg.key_kind = HDB_KEY_PASSWORD;
	cfg.fips = true;
	cfg.pbkdf2_iterations = 600000;
	struct keys_kdf kdf;
	assert_int_equal(keys_new_kdf(lib, &cfg, &kdf, err, sizeof(err)), HDB_OK);
	assert_int_equal(kdf.alg, KEYS_KDF_PBKDF2);
	assert_int_equal(kdf.iterations, 600000);
	set_password("correct horse battery staple");
	unsigned char k[32], want[32];
	assert_int_equal(load_pw(&kdf, k), HDB_OK);
	assert_int_equal(crypto_kdf_pbkdf2(lib, "correct horse battery staple", 28, kdf.salt, 16,
	                                   600000, want), HDB_OK);
	assert_memory_equal(k, want, 32);
}

static void test_new_kdf(void **state)
{
	(void)state;
	struct keys_kdf a, b, untouched;
	memset(&untouched, 0x5a, sizeof(untouched));
	cfg.kdf_m_kib = 65536; cfg.kdf_t = 3; cfg.kdf_p = 4;
	assert_int_equal(keys_new_kdf(lib, &cfg, &a, err, sizeof(err)), HDB_OK);
	assert_int_equal(keys_new_kdf(lib, &cfg, &b, err, sizeof(err)), HDB_OK);
	assert_int_equal(a.alg, KEYS_KDF_ARGON2ID);
	assert_int_equal(a.m_kib, 65536);
	assert_int_equal(a.t, 3);
	assert_int_equal(a.p, 4);
	assert_memory_not_equal(a.salt, b.salt, KEYS_SALT_LEN);

	struct keys_kdf c = untouched;
	cfg.kdf_m_kib = 19455;
	assert_int_equal(keys_new_kdf(lib, &cfg, &c, err, sizeof(err)), HDB_EINVAL);
	assert_non_null(strstr(err, "encryption.kdf.memory_kib"));
	assert_non_null(strstr(err, "19455"));
	assert_memory_equal(&c, &untouched, sizeof(c));
	cfg.kdf_m_kib = 19456; cfg.kdf_t = 1;
	assert_int_equal(keys_new_kdf(lib, &cfg, &c, err, sizeof(err)), HDB_EINVAL);
	assert_non_null(strstr(err, "encryption.kdf.time_cost"));
	cfg.kdf_t = 2; cfg.kdf_p = 0;
	assert_int_equal(keys_new_kdf(lib, &cfg, &c, err, sizeof(err)), HDB_EINVAL);
	assert_non_null(strstr(err, "encryption.kdf.parallelism"));
	cfg.kdf_p = 1;
	assert_int_equal(keys_new_kdf(lib, &cfg, &c, err, sizeof(err)), HDB_OK);

	cfg.fips = true;
	cfg.pbkdf2_iterations = 599999;
	c = untouched;
	assert_int_equal(keys_new_kdf(lib, &cfg, &c, err, sizeof(err)), HDB_EINVAL);
	assert_non_null(strstr(err, "encryption.kdf.pbkdf2_iterations"));
	assert_memory_equal(&c, &untouched, sizeof(c));
	cfg.pbkdf2_iterations = 1000000;
	assert_int_equal(keys_new_kdf(lib, &cfg, &c, err, sizeof(err)), HDB_OK);
	assert_int_equal(c.alg, KEYS_KDF_PBKDF2);
	assert_int_equal(c.iterations, 1000000);
}

/* ------------------------------------------------------------ credential */

static void test_credential(void **state)
{
	(void)state;
	cfg.key_kind = HDB_KEY_CREDENTIAL;
	cfg.key_arg = (char *)"heliosdb.key";
	assert_int_equal(load(NULL), HDB_EKEYSRC);
	assert_string_equal(err, "systemd credentials directory not set (CREDENTIALS_DIRECTORY); "
	                    "is the service started with LoadCredential=?");
	setenv("CREDENTIALS_DIRECTORY", dir, 1);

	/* Missing credential. */
	assert_int_equal(load(NULL), HDB_EKEYSRC);
	assert_non_null(strstr(err, "No such file or directory"));
	assert_non_null(strstr(err, "heliosdb.key"));

	/* Hex with newline; permissions are systemd's business (0444 is fine). */
	write_file("heliosdb.key", TEST_KEY_HEX "\n", 65, 0444);
	assert_int_equal(load(test_key), HDB_OK);
	/* Exactly 32 raw bytes, even ending in a newline byte. */
	unsigned char raw[32];
	memcpy(raw, test_key, 32);
	raw[31] = '\n';
	write_file("raw.key", raw, 32, 0400);
	cfg.key_arg = (char *)"raw.key";
	assert_int_equal(load(raw), HDB_OK);
	/* 31 or 33 raw bytes are neither. */
	write_file("raw31.key", test_key, 31, 0400);
	cfg.key_arg = (char *)"raw31.key";
	assert_int_equal(load(NULL), HDB_EKEYSRC);
	assert_non_null(strstr(err, "Hex key must be 64 characters"));
	/* Credential files get no fstat size check: the read itself is capped. */
	char big[300];
	memset(big, 'a', sizeof(big));
	write_file("big.key", big, sizeof(big), 0400);
	cfg.key_arg = (char *)"big.key";
	assert_int_equal(load(NULL), HDB_EKEYSRC);
	assert_non_null(strstr(err, "too large"));
	/* Non-hex of hex length. */
	char v[65];
	memcpy(v, TEST_KEY_HEX, 65);
	v[0] = 'Z';
	write_file("bad.key", v, 64, 0400);
	cfg.key_arg = (char *)"bad.key";
	assert_int_equal(load(NULL), HDB_EKEYSRC);
	assert_non_null(strstr(err, "non-hexadecimal"));
	/* Names that would leave the directory. */
	const char *bad_names[] = { "../heliosdb.key", "a/b", "..", ".", "/etc/passwd", "" };
	for (size_t i = 0; i < ARRAY_SIZE(bad_names); i++) {
		cfg.key_arg = (char *)bad_names[i];
		assert_int_equal(load(NULL), HDB_EINVAL);
	}
	/* A symlink in the credentials directory is not followed. */
	char target[PATH_MAX];
	snprintf(target, sizeof(target), "%s", path_in("heliosdb.key"));
	assert_int_equal(symlink(target, path_in("link.key")), 0);
	cfg.key_arg = (char *)"link.key";
	assert_int_equal(load(NULL), HDB_EPERM);
	assert_non_null(strstr(err, "symbolic link"));
}

/* ------------------------------------------------------------- key files */

static void test_write_keyfile(void **state)
{
	(void)state;
	mode_t old = umask(0777); /* 0400 must not depend on the umask */
	const char *p = path_in("new.key");
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s", p);
	assert_int_equal(keys_write_keyfile(path, err, sizeof(err)), HDB_OK);
	umask(old);
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0400);
	assert_int_equal(st.st_size, 65);
	char buf[100] = "";
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fread(buf, 1, sizeof(buf), f), 65);
	fclose(f);
	assert_int_equal(buf[64], '\n');
	for (int i = 0; i < 64; i++)
		assert_non_null(strchr("0123456789abcdef", buf[i]));
	/* It loads as a File source. */
	cfg.key_kind = HDB_KEY_FILE;
	cfg.key_arg = path;
	assert_int_equal(load(NULL), HDB_OK);

	/* Never overwritten. */
	assert_int_equal(keys_write_keyfile(path, err, sizeof(err)), HDB_EEXIST);
	char want[PATH_MAX + 64];
	snprintf(want, sizeof(want), "key file '%s' already exists; refusing to overwrite it", path);
	assert_string_equal(err, want);
	char again[100] = "";
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fread(again, 1, sizeof(again), f), 65);
	fclose(f);
	assert_memory_equal(again, buf, 65);

	/* Two key files differ. */
	char p2[PATH_MAX];
	snprintf(p2, sizeof(p2), "%s", path_in("new2.key"));
	assert_int_equal(keys_write_keyfile(p2, err, sizeof(err)), HDB_OK);
	f = fopen(p2, "r");
	assert_non_null(f);
	assert_int_equal(fread(again, 1, sizeof(again), f), 65);
	fclose(f);
	assert_memory_not_equal(again, buf, 64);
}

static void test_write_keyfile_refuses_symlink(void **state)
{
	(void)state;
	char target[PATH_MAX], link[PATH_MAX];
	snprintf(target, sizeof(target), "%s", path_in("victim"));
	snprintf(link, sizeof(link), "%s", path_in("link.key"));
	/* Dangling: O_EXCL must not create the target through it. */
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(keys_write_keyfile(link, err, sizeof(err)), HDB_EEXIST);
	assert_int_equal(access(target, F_OK), -1);
	/* A missing directory is an I/O error naming the path. */
	char deep[PATH_MAX];
	snprintf(deep, sizeof(deep), "%s", path_in("no/such/dir.key"));
	assert_int_equal(keys_write_keyfile(deep, err, sizeof(err)), HDB_EIO);
	assert_non_null(strstr(err, deep));
	assert_int_equal(keys_write_keyfile("", err, sizeof(err)), HDB_EINVAL);
}

static void test_keygen_hex(void **state)
{
	(void)state;
	char a[65], b[65];
	memset(a, 'X', sizeof(a));
	assert_int_equal(hdb_keygen_hex(a), HDB_OK);
	assert_int_equal(hdb_keygen_hex(b), HDB_OK);
	assert_int_equal(a[64], '\0');
	assert_int_equal(strlen(a), 64);
	assert_int_equal(strspn(a, "0123456789abcdef"), 64);
	assert_string_not_equal(a, b);
	/* It is a valid Environment key. */
	setenv("HELIOSDB_ENCRYPTION_KEY", a, 1);
	cfg.key_kind = HDB_KEY_ENVIRONMENT;
	assert_int_equal(load(NULL), HDB_OK);
}

static void test_core_dumps_disabled_on_success(void **state)
{
	(void)state;
	assert_int_equal(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), 0);
	cfg.key_kind = HDB_KEY_ENVIRONMENT;
	setenv("HELIOSDB_ENCRYPTION_KEY", TEST_KEY_HEX, 1);
	assert_int_equal(load(test_key), HDB_OK);
	assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
	struct rlimit rl;
	assert_int_equal(getrlimit(RLIMIT_CORE, &rl), 0);
	assert_int_equal(rl.rlim_cur, 0);
}

static void test_source_names(void **state)
{
	(void)state;
	assert_string_equal(keys_source_name(HDB_KEY_ENVIRONMENT), "Environment");
	assert_string_equal(keys_source_name(HDB_KEY_FILE), "File");
	assert_string_equal(keys_source_name(HDB_KEY_PASSWORD), "Password");
	assert_string_equal(keys_source_name(HDB_KEY_CREDENTIAL), "Credential");
	assert_string_equal(keys_source_name(HDB_KEY_NONE), "None");
	assert_string_equal(keys_source_name((enum hdb_key_source_kind)99), "Unknown");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_env_default_variable),
		T(test_env_named_variable),
		T(test_env_wrong_length),
		T(test_env_non_hex),
		T(test_no_source),
		T(test_file_ok),
		T(test_file_missing),
		T(test_file_insecure_permissions),
		T(test_file_symlink_refused),
		T(test_file_not_regular),
		T(test_file_bad_contents),
		T(test_file_permission_denied),
		T(test_file_foreign_owner),
		T(test_password_argon2id),
		T(test_password_errors),
		T(test_password_pbkdf2),
		T(test_new_kdf),
		T(test_credential),
		T(test_write_keyfile),
		T(test_write_keyfile_refuses_symlink),
		T(test_keygen_hex),
		T(test_core_dumps_disabled_on_success),
		T(test_source_names),
	};
	return cmocka_run_group_tests_name("keys", tests, NULL, NULL);
}
