/*
 * keys.h - where the master key comes from (engine/keys.c).
 *
 * Sources: Environment (64 hex chars in a variable), File (64 hex chars;
 * refused when group/others can write it or others can read it, opened with
 * O_NOFOLLOW), Password (Argon2id, or PBKDF2 in FIPS mode, with salt and
 * parameters kept in the database header) and Credential (a systemd
 * credential file $CREDENTIALS_DIRECTORY/<name>, holding 64 hex chars or 32
 * raw bytes).  Key bytes only ever live in a struct hdb_secret; nothing here
 * prints or logs them.  Error messages follow the tutorial word for word.
 */
#ifndef HDB_KEYS_H
#define HDB_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heliosdb.h"
#include "secret.h"

struct crypto_lib;
struct hdb_config;

#define KEYS_SALT_LEN 16

/* Password-KDF parameters as stored in the database header. */
struct keys_kdf {
	uint8_t alg;                 /* KEYS_KDF_NONE, KEYS_KDF_ARGON2ID, KEYS_KDF_PBKDF2 */
	uint32_t m_kib, t, p;        /* Argon2id */
	uint32_t iterations;         /* PBKDF2 */
	unsigned char salt[KEYS_SALT_LEN];
};
#define KEYS_KDF_NONE 0
#define KEYS_KDF_ARGON2ID 1
#define KEYS_KDF_PBKDF2 2

/* keys_new_kdf - fresh parameters for a new password database from cfg
 * (random salt; PBKDF2 when cfg->fips).  Returns HDB_OK, or HDB_EINVAL when
 * cfg's Argon2 parameters are below the floor (err says which). */
int keys_new_kdf(struct crypto_lib *lib, const struct hdb_config *cfg, struct keys_kdf *ret,
                 char *err, size_t errlen);

/* keys_load_master - loads the 32-byte master key from cfg's key source.
 * kdf: the stored parameters (password source only; ignored otherwise).
 * Errors (HDB_EKEYSRC, HDB_EPERM, HDB_EINVAL, HDB_ENOMEM) with err set to
 * the tutorial's messages, e.g.
 *   "Environment variable 'HELIOSDB_ENCRYPTION_KEY' not found"
 *   "Hex key must be 64 characters (32 bytes), got 12"
 *   "Failed to read key file: Permission denied"
 *   "key file '/k' is readable by others (mode 0644); run: chmod 400 /k"
 * Disables core dumps on success. */
int keys_load_master(struct crypto_lib *lib, const struct hdb_config *cfg,
                     const struct keys_kdf *kdf, struct hdb_secret **ret_key,
                     char *err, size_t errlen);

/* keys_source_name - "Environment", "File", "Password", "Credential". */
const char *keys_source_name(enum hdb_key_source_kind kind);

/* keys_write_keyfile - creates path with O_EXCL|O_NOFOLLOW, mode 0400,
 * holding 64 hex chars and a newline of a fresh CSPRNG key.  HDB_EEXIST if
 * the file exists. */
int keys_write_keyfile(const char *path, char *err, size_t errlen);

#endif
