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
	# kill what a crash test left running: only our own children that were
	# never reaped (kill_bg removes reaped ones, whose pids may be reused)
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

# build_helper NAME - path of build/NAME, a test helper built on demand from
# tests/cli/NAME.c against libheliosdb.a (rebuilt when either is newer).
build_helper() {
	local bin="$HDB_ROOT/build/$1" src="$HDB_ROOT/tests/cli/$1.c"
	if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ] || [ "$HDB_ROOT/libheliosdb.a" -nt "$bin" ]; then
		mkdir -p "$HDB_ROOT/build"
		# build to a private name, then rename: parallel test files may race
		local tmp="$bin.$$"
		if (cd "$HDB_ROOT" && gcc -std=c11 -D_GNU_SOURCE -O2 -Iinclude -Iutil -Ipolicy -Iaudit -Iengine \
			"tests/cli/$1.c" libheliosdb.a -o "$tmp" -llmdb -lcrypto -largon2 -ljson-c -lsystemd \
			-lpthread) >&2; then
			mv -f "$tmp" "$bin"
		else
			rm -f "$tmp"
			[ -x "$bin" ] || return 1   # keep using the previous build
		fi
	fi
	echo "$bin"
}

# loadgen_bin - the load generator (tests/cli/loadgen.c; the Makefile also has a rule).
loadgen_bin() { build_helper loadgen; }

# quickstart_bin - examples/quickstart ("make test" builds it first; built
# here only when missing, so a test run never rebuilds the library while
# someone else's source file is half-edited).
quickstart_bin() {
	local bin="$HDB_ROOT/examples/quickstart"
	if [ ! -x "$bin" ]; then
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

# refute_in NEEDLE FILE - fails (printing the matching lines) when FILE
# contains NEEDLE, case-insensitively.  Use instead of `! grep`, which
# bash's errexit ignores.
refute_in() {
	if grep -qiF -- "$1" "$2"; then
		echo "'$1' found in $2:"
		grep -niF -- "$1" "$2" | head -n 5
		return 1
	fi
}

# refute_in_text NEEDLE TEXT - the same for a string.
refute_in_text() {
	if grep -qiF -- "$1" <<<"$2"; then
		echo "'$1' found in:"
		printf '%s\n' "$2"
		return 1
	fi
}

# canary_scan PATH... -- STRING... - scans every byte of every regular file
# under the PATHs for each STRING as raw UTF-8, UTF-16LE (via iconv),
# UTF-16BE, and as lowercase and uppercase hex text.  Prints one line per
# hit ("file: form 'string' xN") and the total as the last line
# ("hits: N").  Always exits 0; callers compare the total.
canary_scan() {
	local paths=() s f form needle n total=0
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do
		paths+=("$1")
		shift
	done
	shift
	local forms="$T/.canary-forms"
	rm -rf "$forms"
	mkdir -p "$forms"
	local i=0
	for s in "$@"; do
		printf '%s' "$s" >"$forms/$i.raw"
		printf '%s' "$s" | iconv -f UTF-8 -t UTF-16LE >"$forms/$i.utf16le"
		printf '%s' "$s" | iconv -f UTF-8 -t UTF-16BE >"$forms/$i.utf16be"
		printf '%s' "$s" | od -An -v -tx1 | tr -d ' \n' >"$forms/$i.hex"
		tr 'a-f' 'A-F' <"$forms/$i.hex" >"$forms/$i.HEX"
		printf '%s\n' "$s" >"$forms/$i.name"
		i=$((i + 1))
	done
	# one pass over every byte of every file; needles are read from files,
	# so the NUL bytes of the UTF-16 forms are matched exactly
	find "${paths[@]}" -type f -print0 | python3 -c '
import os, sys
forms = sys.argv[1]
needles = []
for fn in sorted(os.listdir(forms)):
    base, form = fn.rsplit(".", 1)
    if form == "name":
        continue
    with open(os.path.join(forms, fn), "rb") as f:
        n = f.read()
    with open(os.path.join(forms, base + ".name")) as f:
        name = f.read().strip()
    if n:
        needles.append((form, name, n))
total = 0
files = [p for p in sys.stdin.buffer.read().split(b"\0") if p]
for p in files:
    with open(p, "rb") as f:
        h = f.read()
    for form, name, n in needles:
        c = h.count(n)
        if c:
            print("%s: %s %r x%d" % (p.decode(errors="replace"), form, name, c))
            total += c
print("files scanned: %d" % len(files))
print("hits: %d" % total)
' "$forms"
}
