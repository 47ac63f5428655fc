/*
 * keys.c - loading the master key from its source, and creating key files.
 * See keys.h.
 *
 * Invariants:
 *  1. Key bytes (hex or raw) are only ever held in a struct hdb_secret: file
 *     contents are read straight into one, decoded into another, and the
 *     first is freed (wiped) on every path.  The one exception is the
 *     environment source, whose value lives in the process environment where
 *     the user put it; we copy it into a secret and never modify environ.
 *  2. No error message ever contains key material, hex or raw: messages name
 *     the source (variable name, file path), a length or a mode, never bytes.
 *  3. Key files are opened with O_NOFOLLOW|O_NONBLOCK and checked with fstat()
 *     on the open descriptor (no stat-then-open race): a regular file, owned
 *     by us or root, not writable by group or others, not readable by others.
 *     Group read is allowed, for the tutorial's root:heliosdb 0440 layout.
 *  4. Hex is decoded in time independent of the digits (hex_decode_ct).
 *  5. *ret_key is written only on success; core dumps are disabled then.
 */
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "config.h"
#include "crypto.h"
#include "util.h"

#define KEY_HEX_LEN (2 * CRYPTO_KEY_LEN)
#define KEYFILE_MAX 256          /* more than this is not a key file */
#define ARGON2_MIN_M_KIB 19456u
#define ARGON2_MIN_T 2u
#define PBKDF2_MIN_ITER 600000u

_Static_assert(KEY_HEX_LEN == 64, "a key is 64 hex characters");

/* ------------------------------------------------------------------ hex */

/* Branch-free: 0..15 for a hex digit (either case), else a value >= 0x100.
 * Uses unsigned wrap-around: x < k  <=>  top bit of ((x - k) & ~x) for
 * x, k < 2^31. */
static unsigned ct_nibble(unsigned char ch)
{
	unsigned c = ch;
	unsigned d = c - '0';
	unsigned l = (c | 0x20u) - 'a';
	unsigned is_d = ((d - 10u) & ~d) >> 31;
	unsigned is_l = ((l - 6u) & ~l) >> 31;
	return (d & (0u - is_d)) | ((l + 10u) & (0u - is_l)) | ((1u - (is_d | is_l)) << 8);
}

/* hex_decode_ct - decodes exactly 2*n hex characters into out; HDB_EINVAL
 * (out wiped) if any is not a hex digit.  Runs in time independent of the
 * characters.  (util's hex_decode is not used here: in the tree this was
 * written against it rejected '0'-'9' and accepted '@' and '`'.) */
static int hex_decode_ct(const char *in, unsigned char *out, size_t n)
{
	unsigned bad = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned hi = ct_nibble((unsigned char)in[2 * i]);
		unsigned lo = ct_nibble((unsigned char)in[2 * i + 1]);
		bad |= (hi | lo) & 0x100u;
		out[i] = (unsigned char)((hi << 4) | (lo & 15u));
	}
	if (bad) {
		OPENSSL_cleanse(out, n);
		return HDB_EINVAL;
	}
	return HDB_OK;
}

/* decode_key_hex - the 64 hex characters in[0..len) into a new secret. */
static int decode_key_hex(const char *in, size_t len, struct hdb_secret **ret,
                          const char *where, char *err, size_t errlen)
{
	if (len != KEY_HEX_LEN) {
		errf(err, errlen, "Hex key must be 64 characters (32 bytes), got %zu%s", len, where);
		return HDB_EKEYSRC;
	}
	struct hdb_secret *s;
	if (secret_new(CRYPTO_KEY_LEN, &s) != HDB_OK) {
		errf(err, errlen, "out of memory");
		return HDB_ENOMEM;
	}
	if (hex_decode_ct(in, s->buf, CRYPTO_KEY_LEN) != HDB_OK) {
		secret_free(s);
		errf(err, errlen, "Hex key contains a non-hexadecimal character%s", where);
		return HDB_EKEYSRC;
	}
	s->len = CRYPTO_KEY_LEN;
	*ret = s;
	return HDB_OK;
}

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* ---------------------------------------------------------- environment */

static int load_env(const struct hdb_config *cfg, struct hdb_secret **ret, char *err, size_t errlen)
{
	const char *name = cfg->key_arg && *cfg->key_arg ? cfg->key_arg : CONFIG_DEFAULT_KEY_ENV;
	const char *v = getenv(name);
	if (!v) {
		errf(err, errlen, "Environment variable '%s' not found", name);
		return HDB_EKEYSRC;
	}
	size_t len = strlen(v);
	if (len > 0 && v[len - 1] == '\n') {   /* $(cat keyfile) keeps none, <<< adds one */
		len--;
		if (len > 0 && v[len - 1] == '\r')
			len--;
	}
	return decode_key_hex(v, len, ret, "", err, errlen);
}

/* ----------------------------------------------------------------- files */

/* open_key_file - opens path for reading without following a final
 * symlink and without blocking on a FIFO.  what: "key file" or
 * "credential file", for messages. */
static int open_key_file(const char *path, const char *what, int *ret_fd, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd >= 0) {
		*ret_fd = fd;
		return HDB_OK;
	}
	int e = errno;
	switch (e) {
	case EACCES:
	case EPERM:
		errf(err, errlen, "Failed to read %s: Permission denied ('%s')", what, path);
		return HDB_EPERM;
	case ENOENT:
	case ENOTDIR:
		errf(err, errlen, "Failed to read %s: No such file or directory ('%s')", what, path);
		return HDB_EKEYSRC;
	case ELOOP:
		errf(err, errlen, "%s '%s' is a symbolic link; refusing to follow it "
		     "(point the configuration at the file itself)", what, path);
		return HDB_EPERM;
	default:
		errf(err, errlen, "Failed to read %s: %s ('%s')", what, strerror(e), path);
		return HDB_EKEYSRC;
	}
}

/* read_small - reads the whole of fd (at most KEYFILE_MAX bytes) into a new
 * secret.  Larger content is refused without keeping it. */
static int read_small(int fd, const char *what, const char *path, struct hdb_secret **ret,
                      char *err, size_t errlen)
{
	struct hdb_secret *s;
	if (secret_new(KEYFILE_MAX + 1, &s) != HDB_OK) {
		errf(err, errlen, "out of memory");
		return HDB_ENOMEM;
	}
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, s->buf + n, KEYFILE_MAX + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			secret_free(s);
			errf(err, errlen, "Failed to read %s: %s ('%s')", what, strerror(e), path);
			return e == EACCES ? HDB_EPERM : HDB_EKEYSRC;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > KEYFILE_MAX) {
			secret_free(s);
			errf(err, errlen, "%s '%s' is too large (more than %d bytes); it must hold "
			     "64 hexadecimal characters", what, path, KEYFILE_MAX);
			return HDB_EKEYSRC;
		}
	}
	s->len = n;
	*ret = s;
	return HDB_OK;
}

/* describe_insecure - "group can write it, others can read it" for mode. */
static void describe_insecure(mode_t mode, char *out, size_t outlen)
{
	static const struct { mode_t bit; const char *text; } bits[] = {
		{ S_IWGRP, "group can write it" },
		{ S_IWOTH, "others can write it" },
		{ S_IROTH, "others can read it" },
	};
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(bits); i++) {
		if (!(mode & bits[i].bit))
			continue;
		int w = snprintf(out + used, outlen - used, "%s%s", used ? ", " : "", bits[i].text);
		if (w < 0 || (size_t)w >= outlen - used)
			break;
		used += (size_t)w;
	}
}

static int load_file(const struct hdb_config *cfg, struct hdb_secret **ret, char *err, size_t errlen)
{
	const char *path = cfg->key_arg;
	if (!path || !*path) {
		errf(err, errlen, "key file path is not set");
		return HDB_EINVAL;
	}
	int fd = -1, rc = open_key_file(path, "key file", &fd, err, errlen);
	if (rc)
		return rc;

	struct stat st;
	struct hdb_secret *raw = NULL;
	if (fstat(fd, &st) != 0) {
		errf(err, errlen, "Failed to read key file: %s ('%s')", strerror(errno), path);
		rc = HDB_EKEYSRC;
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		errf(err, errlen, "key file '%s' is not a regular file", path);
		rc = HDB_EKEYSRC;
		goto out_close;
	}
	/* As ssh does: the owner must be us or root, since the owner can chmod. */
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		errf(err, errlen, "key file '%s' has insecure ownership (owned by uid %lu, "
		     "neither this user nor root); run: chown %lu %s", path,
		     (unsigned long)st.st_uid, (unsigned long)geteuid(), path);
		rc = HDB_EPERM;
		goto out_close;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH | S_IROTH)) {
		char why[80];
		describe_insecure(st.st_mode, why, sizeof(why));
		errf(err, errlen, "key file '%s' has insecure permissions (mode %04o): %s; "
		     "run: chmod 400 %s", path, (unsigned)(st.st_mode & 07777), why, path);
		rc = HDB_EPERM;
		goto out_close;
	}
	if (st.st_size > KEYFILE_MAX) {
		errf(err, errlen, "key file '%s' is too large (%lld bytes); it must hold "
		     "64 hexadecimal characters", path, (long long)st.st_size);
		rc = HDB_EKEYSRC;
		goto out_close;
	}
	rc = read_small(fd, "key file", path, &raw, err, errlen);
	if (rc)
		goto out_close;
	size_t n = raw->len;
	while (n > 0 && is_space(raw->buf[n - 1]))
		n--;
	char where[PATH_MAX + 32];
	snprintf(where, sizeof(where), " (key file '%s')", path);
	rc = decode_key_hex((const char *)raw->buf, n, ret, where, err, errlen);

out_close:
	secret_free(raw);
	close(fd);
	return rc;
}

/* ------------------------------------------------------ systemd credential */

static int load_credential(const struct hdb_config *cfg, struct hdb_secret **ret,
                           char *err, size_t errlen)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	if (!dir || !*dir) {
		errf(err, errlen, "systemd credentials directory not set (CREDENTIALS_DIRECTORY); "
		     "is the service started with LoadCredential=?");
		return HDB_EKEYSRC;
	}
	const char *name = cfg->key_arg;
	if (!name || !*name) {
		errf(err, errlen, "credential name is not set");
		return HDB_EINVAL;
	}
	if (strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		errf(err, errlen, "credential name '%s' must be a plain file name "
		     "(no '/', not '.' or '..')", name);
		return HDB_EINVAL;
	}
	char path[PATH_MAX];
	int w = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (w < 0 || (size_t)w >= sizeof(path)) {
		errf(err, errlen, "credential path for '%s' is too long", name);
		return HDB_EINVAL;
	}
	int fd = -1, rc = open_key_file(path, "credential file", &fd, err, errlen);
	if (rc)
		return rc;
	struct stat st;
	struct hdb_secret *raw = NULL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		errf(err, errlen, "credential file '%s' is not a regular file", path);
		rc = HDB_EKEYSRC;
		goto out_close;
	}
	rc = read_small(fd, "credential file", path, &raw, err, errlen);
	if (rc)
		goto out_close;
	if (raw->len == CRYPTO_KEY_LEN) {
		/* Exactly 32 bytes: raw key material (checked before trimming, since
		 * a raw key may end in a whitespace byte). */
		rc = secret_from(raw->buf, CRYPTO_KEY_LEN, ret);
		if (rc)
			errf(err, errlen, "out of memory");
		goto out_close;
	}
	size_t n = raw->len;
	while (n > 0 && is_space(raw->buf[n - 1]))
		n--;
	char where[PATH_MAX + 64];
	snprintf(where, sizeof(where), " (credential file '%s'; or give exactly 32 raw bytes)", path);
	rc = decode_key_hex((const char *)raw->buf, n, ret, where, err, errlen);

out_close:
	secret_free(raw);
	close(fd);
	return rc;
}

/* ------------------------------------------------------------- password */

static int load_password(struct crypto_lib *lib, const struct hdb_config *cfg,
                         const struct keys_kdf *kdf, struct hdb_secret **ret,
                         char *err, size_t errlen)
{
	if (!kdf || (kdf->alg != KEYS_KDF_ARGON2ID && kdf->alg != KEYS_KDF_PBKDF2)) {
		errf(err, errlen, "password key source needs the database's stored KDF parameters");
		return HDB_EINVAL;
	}
	const void *pw;
	size_t pwlen;
	if (cfg->password) {
		pw = cfg->password->buf;
		pwlen = cfg->password->len;
	} else {
		if (!cfg->key_arg || !*cfg->key_arg) {
			errf(err, errlen, "password key source needs a password or the name of an "
			     "environment variable holding one");
			return HDB_EINVAL;
		}
		const char *v = getenv(cfg->key_arg);
		if (!v) {
			errf(err, errlen, "Environment variable '%s' not found", cfg->key_arg);
			return HDB_EKEYSRC;
		}
		pw = v;
		pwlen = strlen(v);
	}
	if (pwlen == 0) {
		errf(err, errlen, "the password is empty");
		return HDB_EKEYSRC;
	}

	struct hdb_secret *s;
	if (secret_new(CRYPTO_KEY_LEN, &s) != HDB_OK) {
		errf(err, errlen, "out of memory");
		return HDB_ENOMEM;
	}
	int rc;
	if (kdf->alg == KEYS_KDF_ARGON2ID) {
		if (cfg->fips) {
			secret_free(s);
			errf(err, errlen, "this database's password key uses Argon2id, which FIPS mode "
			     "does not allow (FIPS mode uses PBKDF2-HMAC-SHA-256)");
			return HDB_EINVAL;
		}
		rc = crypto_kdf_argon2id(pw, pwlen, kdf->salt, KEYS_SALT_LEN, kdf->m_kib, kdf->t,
		                         kdf->p, s->buf);
		if (rc == HDB_EINVAL)
			errf(err, errlen, "stored Argon2id parameters are invalid or below the minimum "
			     "(m_kib=%u, t=%u, p=%u; minimum m_kib=%u, t=%u, p=1)", kdf->m_kib, kdf->t,
			     kdf->p, ARGON2_MIN_M_KIB, ARGON2_MIN_T);
		else if (rc)
			errf(err, errlen, "Argon2id key derivation failed: %s", hdb_strerror(rc));
	} else {
		if (!lib) {
			secret_free(s);
			errf(err, errlen, "PBKDF2 needs a crypto library context");
			return HDB_EINVAL;
		}
		rc = crypto_kdf_pbkdf2(lib, pw, pwlen, kdf->salt, KEYS_SALT_LEN, kdf->iterations, s->buf);
		if (rc == HDB_EINVAL)
			errf(err, errlen, "stored PBKDF2 iteration count %u is below the minimum %u",
			     kdf->iterations, PBKDF2_MIN_ITER);
		else if (rc)
			errf(err, errlen, "PBKDF2 key derivation failed: %s", hdb_strerror(rc));
	}
	if (rc) {
		secret_free(s);
		return rc;
	}
	s->len = CRYPTO_KEY_LEN;
	*ret = s;
	return HDB_OK;
}

/* ------------------------------------------------------------ public API */

int keys_load_master(struct crypto_lib *lib, const struct hdb_config *cfg,
                     const struct keys_kdf *kdf, struct hdb_secret **ret_key,
                     char *err, size_t errlen)
{
	struct hdb_secret *key = NULL;
	int rc;
	switch (cfg->key_kind) {
	case HDB_KEY_ENVIRONMENT:
		rc = load_env(cfg, &key, err, errlen);
		break;
	case HDB_KEY_FILE:
		rc = load_file(cfg, &key, err, errlen);
		break;
	case HDB_KEY_PASSWORD:
		rc = load_password(lib, cfg, kdf, &key, err, errlen);
		break;
	case HDB_KEY_CREDENTIAL:
		rc = load_credential(cfg, &key, err, errlen);
		break;
	case HDB_KEY_NONE:
	default:
		errf(err, errlen, "no encryption key source is configured");
		rc = HDB_EINVAL;
		break;
	}
	if (rc)
		return rc;
	secret_disable_core_dumps();
	*ret_key = key;
	return HDB_OK;
}

int keys_new_kdf(struct crypto_lib *lib, const struct hdb_config *cfg, struct keys_kdf *ret,
                 char *err, size_t errlen)
{
	struct keys_kdf k;
	memset(&k, 0, sizeof(k));
	if (cfg->fips) {
		if (cfg->pbkdf2_iterations < PBKDF2_MIN_ITER) {
			errf(err, errlen, "encryption.kdf.pbkdf2_iterations is %u, must be at least %u",
			     cfg->pbkdf2_iterations, PBKDF2_MIN_ITER);
			return HDB_EINVAL;
		}
		k.alg = KEYS_KDF_PBKDF2;
		k.iterations = cfg->pbkdf2_iterations;
	} else {
		if (cfg->kdf_m_kib < ARGON2_MIN_M_KIB) {
			errf(err, errlen, "encryption.kdf.memory_kib (Argon2id memory) is %u, must be "
			     "at least %u", cfg->kdf_m_kib, ARGON2_MIN_M_KIB);
			return HDB_EINVAL;
		}
		if (cfg->kdf_t < ARGON2_MIN_T) {
			errf(err, errlen, "encryption.kdf.time_cost (Argon2id passes) is %u, must be "
			     "at least %u",
			     cfg->kdf_t, ARGON2_MIN_T);
			return HDB_EINVAL;
		}
		/* libargon2 needs m >= 8 * p; p is also bounded by its lane limit. */
		if (cfg->kdf_p < 1 || cfg->kdf_p > 0xffffffu || cfg->kdf_p > cfg->kdf_m_kib / 8) {
			errf(err, errlen, "encryption.kdf.parallelism (Argon2id lanes) is %u, must be "
			     "at least 1 and at most memory_kib / 8", cfg->kdf_p);
			return HDB_EINVAL;
		}
		k.alg = KEYS_KDF_ARGON2ID;
		k.m_kib = cfg->kdf_m_kib;
		k.t = cfg->kdf_t;
		k.p = cfg->kdf_p;
	}
	int rc = crypto_random(lib, k.salt, sizeof(k.salt));
	if (rc) {
		errf(err, errlen, "cannot draw a random salt");
		return rc;
	}
	*ret = k;
	return HDB_OK;
}

const char *keys_source_name(enum hdb_key_source_kind kind)
{
	switch (kind) {
	case HDB_KEY_ENVIRONMENT: return "Environment";
	case HDB_KEY_FILE:        return "File";
	case HDB_KEY_PASSWORD:    return "Password";
	case HDB_KEY_CREDENTIAL:  return "Credential";
	case HDB_KEY_NONE:        return "None";
	}
	return "Unknown";
}

int hdb_keygen_hex(char out[65])
{
	unsigned char key[CRYPTO_KEY_LEN];
	if (RAND_bytes(key, sizeof(key)) != 1) {
		OPENSSL_cleanse(key, sizeof(key));
		ERR_clear_error();
		return HDB_ECRYPTO;
	}
	hex_encode(key, sizeof(key), out);
	OPENSSL_cleanse(key, sizeof(key));
	return HDB_OK;
}

/* fsync_parent - makes the new directory entry for path durable: losing a
 * key file to a crash loses the database. */
static int fsync_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	if (!slash) {
		memcpy(dir, ".", 2);
	} else {
		size_t n = (size_t)(slash - path);
		if (n == 0)
			n = 1; /* "/name" */
		if (n >= sizeof(dir))
			return -1;
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	int r = fsync(dfd);
	close(dfd);
	return r;
}

int keys_write_keyfile(const char *path, char *err, size_t errlen)
{
	if (!path || !*path) {
		errf(err, errlen, "key file path is not set");
		return HDB_EINVAL;
	}
	struct hdb_secret *hex;
	if (secret_new(KEY_HEX_LEN + 2, &hex) != HDB_OK) {
		errf(err, errlen, "out of memory");
		return HDB_ENOMEM;
	}
	int rc = hdb_keygen_hex((char *)hex->buf);
	if (rc) {
		errf(err, errlen, "cannot generate a key: the random generator failed");
		goto out_wipe;
	}
	hex->buf[KEY_HEX_LEN] = '\n';
	hex->len = KEY_HEX_LEN + 1;

	/* O_EXCL: never overwrite a key (that would destroy a database); with
	 * O_CREAT it also refuses a symlink at path, dangling or not. */
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0400);
	if (fd < 0) {
		int e = errno;
		if (e == EEXIST) {
			errf(err, errlen, "key file '%s' already exists; refusing to overwrite it", path);
			rc = HDB_EEXIST;
		} else if (e == EACCES || e == EPERM) {
			errf(err, errlen, "cannot create key file '%s': Permission denied", path);
			rc = HDB_EPERM;
		} else {
			errf(err, errlen, "cannot create key file '%s': %s", path, strerror(e));
			rc = HDB_EIO;
		}
		goto out_wipe;
	}
	/* The umask can only remove bits, but be explicit: 0400 whatever it is. */
	if (fchmod(fd, 0400) != 0)
		goto out_io;
	size_t off = 0;
	while (off < hex->len) {
		ssize_t w = write(fd, hex->buf + off, hex->len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto out_io;
		off += (size_t)w;
	}
	if (fsync(fd) != 0)
		goto out_io;
	if (close(fd) != 0) {
		fd = -1;
		goto out_io;
	}
	fd = -1;
	if (fsync_parent(path) != 0)
		goto out_io;
	rc = HDB_OK;
	goto out_wipe;

out_io:
	{
		int e = errno;
		errf(err, errlen, "cannot write key file '%s': %s", path, strerror(e));
		if (fd >= 0)
			close(fd);
		/* We created it (O_EXCL), so removing a partial key is safe. */
		(void)unlink(path);
		rc = HDB_EIO;
	}
out_wipe:
	secret_free(hex);
	return rc;
}
