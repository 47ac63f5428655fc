# helpers.bash - shared setup for tests/cli/{keys,engine,crash}.bats.
#
# Each test gets its own directory $T (under BATS_TEST_TMPDIR, removed by
# bats after the test), a fixed test master key in HELIOSDB_ENCRYPTION_KEY
# and nothing else from the caller's environment that could change a key
# source.  HDB_BIN is the binary under test, HDB_ROOT the repository root.

# A fixed key used only by these tests.  It must never appear in any output
# (keys.bats greps every output of every command for it).
TEST_KEY=6b1f0c2e9a7d45e3b8c0f1d2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6
OTHER_KEY=0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0

hdb_setup() {
	: "${HDB_BIN:?HDB_BIN must point at the heliosdb-nano binary}"
	: "${HDB_ROOT:?HDB_ROOT must point at the repository root}"
	[ -x "$HDB_BIN" ] || { echo "HDB_BIN '$HDB_BIN' is not executable" >&2; return 1; }
	T="${BATS_TEST_TMPDIR:-}"
	if [ -z "$T" ]; then
		T=$(mktemp -d)
		HDB_OWN_TMP=$T
	fi
	T=$(cd "$T" && pwd -P)
	export HELIOSDB_ENCRYPTION_KEY=$TEST_KEY
	unset HELIOSDB_PASSWORD CREDENTIALS_DIRECTORY HELIOSDB_NOSYNC
	# every command's stdout+stderr is also appended here (see hdbx), so a
	# test can scan all output for key material
	ALL_OUT="$T/all-output.log"
	: >"$ALL_OUT"
}

hdb_teardown() {
	# promise 3: no command printed the test keys (keygen's own output is
	# random, so it never matches)
	if [ -n "${ALL_OUT:-}" ] && [ -f "$ALL_OUT" ] &&
		grep -qiF -e "$TEST_KEY" -e "$OTHER_KEY" "$ALL_OUT"; then
		echo "a test key appeared in the output of a command:" >&2
		grep -niF -e "$TEST_KEY" -e "$OTHER_KEY" "$ALL_OUT" >&2
		_hdb_cleanup
		return 1
	fi
	_hdb_cleanup
}

_hdb_cleanup() {
	# kill anything a crash test left running (only our own children)
	local p
	for p in ${HDB_BG_PIDS:-}; do
		kill -9 "$p" 2>/dev/null || true
	done
	if [ -n "${HDB_OWN_TMP:-}" ]; then
		chmod -R u+w "$HDB_OWN_TMP" 2>/dev/null
		rm -rf "$HDB_OWN_TMP"
	fi
}

# hdbx ARGS... - runs the binary, setting $status, $out, $err and $output
# (= out then err).  Works on every bats version.
hdbx() {
	local o="$T/.out.$$" e="$T/.err.$$"
	"$HDB_BIN" "$@" >"$o" 2>"$e" && status=0 || status=$?
	out=$(cat "$o")
	err=$(cat "$e")
	output="$out${out:+${err:+$'\n'}}$err"
	{ printf '$ heliosdb-nano %s\n' "$*"; cat "$o" "$e"; } >>"$ALL_OUT"
	rm -f "$o" "$e"
	return 0
}

# show - what a failing assertion prints (bats shows it on failure only).
show() {
	printf 'status=%s\n--- stdout\n%s\n--- stderr\n%s\n' "$status" "$out" "$err"
}

# expect_status N - asserts the last hdbx status, printing the output if not.
expect_status() {
	if [ "$status" -ne "$1" ]; then
		echo "expected exit $1, got $status"
		show
		return 1
	fi
}

# expect_err_contains TEXT - fixed-string match on stderr.
expect_err_contains() {
	if ! grep -qF -- "$1" <<<"$err"; then
		echo "stderr does not contain: $1"
		show
		return 1
	fi
}

expect_out_contains() {
	if ! grep -qF -- "$1" <<<"$out"; then
		echo "stdout does not contain: $1"
		show
		return 1
	fi
}

# no_crash - the last command was not killed by a signal (exit >= 128).
no_crash() {
	if [ "$status" -ge 128 ]; then
		echo "command died with exit $status (signal $((status - 128)))"
		show
		return 1
	fi
}

# loadgen_bin - path of the load generator, built on demand from
# tests/cli/loadgen.c into build/loadgen (the Makefile also has a rule).
loadgen_bin() {
	local bin="$HDB_ROOT/build/loadgen"
	local src="$HDB_ROOT/tests/cli/loadgen.c"
	if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ] || [ "$HDB_ROOT/libheliosdb.a" -nt "$bin" ]; then
		mkdir -p "$HDB_ROOT/build"
		# build to a private name, then rename: parallel test files may race
		local tmp="$bin.$$"
		(cd "$HDB_ROOT" && gcc -std=c11 -D_GNU_SOURCE -O2 -Iinclude -Iutil -Ipolicy -Iengine \
			tests/cli/loadgen.c libheliosdb.a -o "$tmp" -llmdb -lcrypto -largon2 -ljson-c -lpthread) >&2 ||
			return 1
		mv -f "$tmp" "$bin"
	fi
	echo "$bin"
}

# quickstart_bin - examples/quickstart, built on demand.
quickstart_bin() {
	local bin="$HDB_ROOT/examples/quickstart"
	if [ ! -x "$bin" ] || [ "$HDB_ROOT/examples/quickstart.c" -nt "$bin" ] ||
		[ "$HDB_ROOT/libheliosdb.a" -nt "$bin" ]; then
		(cd "$HDB_ROOT" && make --no-print-directory examples/quickstart) >&2 || return 1
	fi
	echo "$bin"
}

# keyfile PATH [HEX] - writes a key file with mode 0400 (HEX defaults to a
# fresh key from keygen).
keyfile() {
	local path=$1 hex=${2:-}
	if [ -z "$hex" ]; then
		"$HDB_BIN" keygen --output "$path" 2>/dev/null
	else
		(umask 077 && printf '%s\n' "$hex" >"$path")
		chmod 400 "$path"
	fi
}

# rand_ms LO HI - a random integer in [LO, HI].
rand_ms() {
	echo $(($1 + RANDOM % ($2 - $1 + 1)))
}

# sleep_ms N
sleep_ms() {
	sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"
}
