#!/usr/bin/env bats
# keys.bats - master keys through the CLI (DESIGN promise 3): keygen, the
# env/file/password key sources, the tutorial's error messages word for
# word, key-file permission checks (as ssh does), and that no command ever
# prints key material (keygen without --output excepted: that is its job).

load helpers

setup() { hdb_setup; }
teardown() { hdb_teardown; }

# ------------------------------------------------------------------ keygen

@test "keys: keygen prints exactly 64 lowercase hex characters and a newline" {
	"$HDB_BIN" keygen >"$T/k.out" 2>"$T/k.err"
	[ "$(wc -c <"$T/k.out")" -eq 65 ]
	grep -Eqx '[0-9a-f]{64}' "$T/k.out"
	[ "$(wc -l <"$T/k.out")" -eq 1 ]
	[ "$(tail -c 1 "$T/k.out" | od -An -tx1 | tr -d ' ')" = "0a" ]
	[ ! -s "$T/k.err" ]
}

@test "keys: keygen gives a different key every run" {
	a=$("$HDB_BIN" keygen)
	b=$("$HDB_BIN" keygen)
	c=$("$HDB_BIN" keygen)
	[ ${#a} -eq 64 ]
	[ ${#b} -eq 64 ]
	[ ${#c} -eq 64 ]
	[ "$a" != "$b" ]
	[ "$b" != "$c" ]
	[ "$a" != "$c" ]
}

@test "keys: keygen output is accepted as a key" {
	k=$("$HDB_BIN" keygen)
	HELIOSDB_ENCRYPTION_KEY=$k hdbx init --path "$T/db"
	expect_status 0
	HELIOSDB_ENCRYPTION_KEY=$k hdbx verify --path "$T/db"
	expect_status 0
	refute_in "$k" "$ALL_OUT"
}

@test "keys: keygen --output creates the file with mode 0400 and prints no key" {
	hdbx keygen --output "$T/new.key"
	expect_status 0
	[ -f "$T/new.key" ]
	[ "$(stat -c %a "$T/new.key")" = "400" ]
	hex=$(tr -d '\n' <"$T/new.key")
	[[ "$hex" =~ ^[0-9a-f]{64}$ ]]
	refute_in_text "$hex" "$output"
	expect_err_contains "$T/new.key"
}

@test "keys: keygen --output refuses to overwrite an existing file, which stays unchanged" {
	printf 'precious\n' >"$T/existing"
	chmod 640 "$T/existing"
	before=$(sha256sum <"$T/existing")
	hdbx keygen --output "$T/existing"
	[ "$status" -ne 0 ]
	no_crash
	expect_err_contains "already exists"
	[ "$(sha256sum <"$T/existing")" = "$before" ]
	[ "$(stat -c %a "$T/existing")" = "640" ]
	# a second keygen onto its own key file is refused too
	hdbx keygen --output "$T/k1"
	expect_status 0
	before=$(sha256sum <"$T/k1")
	hdbx keygen --output "$T/k1"
	[ "$status" -ne 0 ]
	[ "$(sha256sum <"$T/k1")" = "$before" ]
}

@test "keys: keygen --output does not follow a dangling symlink" {
	ln -s "$T/target" "$T/link"
	hdbx keygen --output "$T/link"
	[ "$status" -ne 0 ]
	no_crash
	[ ! -e "$T/target" ]
}

@test "keys: keygen --help exits 0; an unknown option exits 2" {
	hdbx keygen --help
	expect_status 0
	expect_out_contains "keygen"
	hdbx keygen --bogus
	expect_status 2
}

# ----------------------------------------------- the tutorial's error texts

@test "keys: missing environment variable gives the tutorial's message, exit 3 (init and verify)" {
	hdbx init --path "$T/db"
	expect_status 0
	unset HELIOSDB_ENCRYPTION_KEY
	hdbx verify --path "$T/db"
	expect_status 3
	expect_err_contains "Environment variable 'HELIOSDB_ENCRYPTION_KEY' not found"
	hdbx init --path "$T/db2"
	expect_status 3
	expect_err_contains "Environment variable 'HELIOSDB_ENCRYPTION_KEY' not found"
	# another variable named by env:VAR is reported by its name
	hdbx verify --path "$T/db" --key-source env:MY_DB_KEY
	expect_status 3
	expect_err_contains "Environment variable 'MY_DB_KEY' not found"
}

@test "keys: a short hex key gives the tutorial's message, exit 3 (init and verify)" {
	hdbx init --path "$T/db"
	expect_status 0
	HELIOSDB_ENCRYPTION_KEY=abc hdbx verify --path "$T/db"
	expect_status 3
	expect_err_contains "Hex key must be 64 characters (32 bytes), got 3"
	HELIOSDB_ENCRYPTION_KEY=abc hdbx init --path "$T/db2"
	expect_status 3
	expect_err_contains "Hex key must be 64 characters (32 bytes), got 3"
	HELIOSDB_ENCRYPTION_KEY="${TEST_KEY}00" hdbx verify --path "$T/db"
	expect_status 3
	expect_err_contains "Hex key must be 64 characters (32 bytes), got 66"
}

@test "keys: a 64-character key with a non-hex digit is refused without echoing it" {
	hdbx init --path "$T/db"
	expect_status 0
	bad="${TEST_KEY:0:62}zq"
	HELIOSDB_ENCRYPTION_KEY=$bad hdbx verify --path "$T/db"
	expect_status 3
	refute_in_text "${bad:0:16}" "$output"
}

# BUG: a failed init (key source missing or malformed) leaves an empty LMDB
# environment (data.mdb of 8 KiB, no header) behind; the next init with the
# right key then fails with "a database already exists" and verify calls
# the directory "not a HeliosDB database".  engine/db.c open_env() creates
# the environment before open_keys() loads the master key.
#   unset HELIOSDB_ENCRYPTION_KEY; heliosdb-nano init --path /tmp/x   # exit 3
#   export HELIOSDB_ENCRYPTION_KEY=$(heliosdb-nano keygen)
#   heliosdb-nano init --path /tmp/x    # exit 1: a database already exists
@test "keys: init with a bad key source leaves nothing behind; init with the right key then works" {
	unset HELIOSDB_ENCRYPTION_KEY
	hdbx init --path "$T/db"
	expect_status 3
	export HELIOSDB_ENCRYPTION_KEY=abc
	hdbx init --path "$T/db2"
	expect_status 3
	export HELIOSDB_ENCRYPTION_KEY=$TEST_KEY
	[ ! -e "$T/db/data.mdb" ] || { echo "failed init left $(ls -l "$T/db")"; false; }
	[ ! -e "$T/db2/data.mdb" ] || { echo "failed init left $(ls -l "$T/db2")"; false; }
	hdbx init --path "$T/db"
	expect_status 0
	hdbx verify --path "$T/db"
	expect_status 0
}

# ---------------------------------------------------------------- key files

@test "keys: --key-source file:PATH happy path (init, verify, stats); same hex via env opens it" {
	keyfile "$T/db.key"
	[ "$(stat -c %a "$T/db.key")" = "400" ]
	hdbx init --path "$T/db" --key-source "file:$T/db.key"
	expect_status 0
	expect_out_contains "key source: File"
	hdbx verify --path "$T/db" --key-source "file:$T/db.key"
	expect_status 0
	expect_out_contains "Enabled: AES-256-GCM"
	hdbx stats --path "$T/db" --key-source "file:$T/db.key"
	expect_status 0
	HELIOSDB_ENCRYPTION_KEY=$(tr -d '\n' <"$T/db.key") hdbx verify --path "$T/db"
	expect_status 0
	# and the env test key is not that key
	hdbx verify --path "$T/db"
	expect_status 3
	expect_err_contains "wrong encryption key"
	hex=$(tr -d '\n' <"$T/db.key")
	refute_in "$hex" "$ALL_OUT"
}

@test "keys: a key file mode 0600 is accepted" {
	keyfile "$T/db.key" "$TEST_KEY"
	chmod 600 "$T/db.key"
	hdbx init --path "$T/db" --key-source "file:$T/db.key"
	expect_status 0
}

@test "keys: a key file readable by others (0644) is refused, naming the file and the chmod fix" {
	hdbx init --path "$T/db"
	expect_status 0
	keyfile "$T/loose.key" "$TEST_KEY"
	chmod 644 "$T/loose.key"
	hdbx verify --path "$T/db" --key-source "file:$T/loose.key"
	expect_status 3
	expect_err_contains "$T/loose.key"
	expect_err_contains "chmod"
	expect_err_contains "insecure permissions"
	# refused on init as well, and nothing is created
	hdbx init --path "$T/db2" --key-source "file:$T/loose.key"
	expect_status 3
	expect_err_contains "chmod"
}

@test "keys: key files writable by group or others are refused (0620, 0602, 0606)" {
	hdbx init --path "$T/db"
	expect_status 0
	for m in 620 602 606 666; do
		keyfile "$T/k$m" "$TEST_KEY"
		chmod "$m" "$T/k$m"
		hdbx verify --path "$T/db" --key-source "file:$T/k$m"
		[ "$status" -eq 3 ] || { echo "mode $m accepted"; show; false; }
		expect_err_contains "$T/k$m"
	done
}

@test "keys: a key file that is a symlink is refused, naming it" {
	hdbx init --path "$T/db"
	expect_status 0
	keyfile "$T/real.key" "$TEST_KEY"
	ln -s "$T/real.key" "$T/link.key"
	hdbx verify --path "$T/db" --key-source "file:$T/link.key"
	expect_status 3
	expect_err_contains "$T/link.key"
	expect_err_contains "symbolic link"
	# the file itself works
	hdbx verify --path "$T/db" --key-source "file:$T/real.key"
	expect_status 0
}

@test "keys: a missing key file is a key error naming the file" {
	hdbx init --path "$T/db"
	expect_status 0
	hdbx verify --path "$T/db" --key-source "file:$T/nope.key"
	expect_status 3
	expect_err_contains "$T/nope.key"
	expect_err_contains "Failed to read key file"
}

@test "keys: a key file of the wrong length gives the tutorial's message and names the file" {
	hdbx init --path "$T/db"
	expect_status 0
	keyfile "$T/short.key" "abc"
	hdbx verify --path "$T/db" --key-source "file:$T/short.key"
	expect_status 3
	expect_err_contains "Hex key must be 64 characters (32 bytes), got 3"
	expect_err_contains "$T/short.key"
}

@test "keys: a key file that is a directory is refused" {
	hdbx init --path "$T/db"
	expect_status 0
	mkdir -m 700 "$T/keydir"
	hdbx verify --path "$T/db" --key-source "file:$T/keydir"
	expect_status 3
	expect_err_contains "$T/keydir"
}

@test "keys: malformed key source specs are usage errors (exit 2)" {
	hdbx init --path "$T/db"
	expect_status 0
	hdbx verify --path "$T/db" --key-source bogus:x
	expect_status 2
	expect_err_contains "unknown key source"
	hdbx verify --path "$T/db" --key-source file
	expect_status 2
	expect_err_contains "needs an argument"
}

# ---------------------------------------------------------------- passwords

@test "keys: password key source from an environment variable; wrong password is exit 3" {
	export MYPW='correct horse battery staple'
	hdbx init --path "$T/db" --key-source password:MYPW
	expect_status 0
	expect_out_contains "key source: Password"
	hdbx verify --path "$T/db" --key-source password:MYPW
	expect_status 0
	MYPW='Correct horse battery staple' hdbx verify --path "$T/db" --key-source password:MYPW
	expect_status 3
	expect_err_contains "wrong encryption key"
	# the env key cannot open a password database, and says why
	hdbx verify --path "$T/db"
	expect_status 3
	expect_err_contains "password"
	# a missing password variable (stdin is not a terminal: no prompt)
	unset MYPW
	hdbx verify --path "$T/db" --key-source password:MYPW </dev/null
	expect_status 3
	expect_err_contains "Environment variable 'MYPW' not found"
	refute_in "horse battery" "$ALL_OUT"
}

@test "keys: password key source defaults to HELIOSDB_PASSWORD" {
	export HELIOSDB_PASSWORD='s3cret-pw-for-tests'
	hdbx init --path "$T/db" --key-source password
	expect_status 0
	hdbx verify --path "$T/db" --key-source password:HELIOSDB_PASSWORD
	expect_status 0
	refute_in "s3cret-pw-for-tests" "$ALL_OUT"
}

# ---------------------------------------------------- no key in any output

@test "keys: no command prints key material, on success or failure" {
	keyfile "$T/a.key"
	keyfile "$T/b.key"
	A=$(tr -d '\n' <"$T/a.key")
	Bk=$(tr -d '\n' <"$T/b.key")
	fa="file:$T/a.key"
	fb="file:$T/b.key"
	hdbx init --path "$T/db" --key-source "$fa"
	expect_status 0
	HELIOSDB_ENCRYPTION_KEY=$A "$(quickstart_bin)" "$T/db" >>"$ALL_OUT" 2>&1
	hdbx verify --path "$T/db" --key-source "$fa"
	expect_status 0
	hdbx verify --path "$T/db" --key-source "$fa" --check encryption
	expect_status 0
	hdbx stats --path "$T/db" --key-source "$fa"
	expect_status 0
	hdbx checkpoint --path "$T/db" --key-source "$fa"
	expect_status 0
	hdbx backup --path "$T/db" --key-source "$fa" --output "$T/bk"
	expect_status 0
	hdbx backup --path "$T/db" --key-source "$fa" --output "$T/bk.tar.gz"
	expect_status 0
	hdbx rekey --path "$T/db" --key-source "$fa" --batch 2
	expect_status 0
	hdbx rotate-key --path "$T/db" --key-source "$fa" --new-key-source "$fb"
	expect_status 0
	# failures: wrong key, env key that is the old key, bad modes
	hdbx verify --path "$T/db" --key-source "$fa"
	expect_status 3
	HELIOSDB_ENCRYPTION_KEY=$A hdbx verify --path "$T/db"
	expect_status 3
	HELIOSDB_ENCRYPTION_KEY="${A:0:63}" hdbx verify --path "$T/db"
	expect_status 3
	HELIOSDB_ENCRYPTION_KEY="${A:0:63}g" hdbx verify --path "$T/db"
	expect_status 3
	HELIOSDB_ENCRYPTION_KEY="${A}0" hdbx verify --path "$T/db"
	expect_status 3
	chmod 644 "$T/b.key"
	hdbx verify --path "$T/db" --key-source "$fb"
	expect_status 3
	chmod 400 "$T/b.key"
	hdbx rotate-key --path "$T/db" --key-source "$fa" --new-key-source "$fb"
	expect_status 3
	hdbx verify --path "$T/db" --key-source "$fb"
	expect_status 0
	[ -s "$ALL_OUT" ]
	for k in "$A" "$Bk"; do
		for piece in "$k" "${k:0:32}" "${k:32:32}" "${k:0:16}" "${k:48:16}"; do
			refute_in "$piece" "$ALL_OUT"
		done
	done
}
