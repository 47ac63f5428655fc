#!/usr/bin/env bash
# run.sh - runs every tier of the test suite and ends with one line
# "N passed, N failed".  Exits non-zero if anything failed.
#   1. cmocka unit tests            build/tests/test_*
#   2. bats tests of the binary     tests/cli/*.bats
#   3. unit tests under ASan/UBSan  build/tests-asan/test_*
#   4. fuzz smoke runs (clang)      build/fuzz/fuzz_*, 60 s in all
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
export HDB_BIN="$ROOT/heliosdb-nano"
export HDB_ROOT="$ROOT"
passed=0
failed=0
failures=()
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
# a real journald for the journald tests: the running one, or one we start
if ./tests/journald.sh start; then
	trap 'rm -rf "$log"; ./tests/journald.sh stop' EXIT
else
	echo "journald: not available; the journald unit tests will fail" >&2
fi

run_cmocka() { # tier binary
	local tier=$1 bin=$2 name out p f
	name=$(basename "$bin")
	out="$log/$tier-$name.out"
	CMOCKA_MESSAGE_OUTPUT=stdout "$bin" >"$out" 2>&1
	local rc=$?
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
	p=${p:-0}; f=${f:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi   # crashed or sanitizer abort
	passed=$((passed + p)); failed=$((failed + f))
	printf '%-6s %-28s %4d passed %4d failed\n' "$tier" "$name" "$p" "$f"
	if [ "$f" -ne 0 ]; then failures+=("$tier/$name"); tail -n 40 "$out"; fi
}

for t in build/tests/test_*; do [ -x "$t" ] && run_cmocka unit "$t"; done

if ls tests/cli/*.bats >/dev/null 2>&1; then
	out="$log/bats.out"
	bats --tap tests/cli >"$out" 2>&1
	p=$(grep -c '^ok ' "$out")
	f=$(grep -c '^not ok ' "$out")
	passed=$((passed + p)); failed=$((failed + f))
	printf '%-6s %-28s %4d passed %4d failed\n' cli bats "$p" "$f"
	if [ "$f" -ne 0 ]; then failures+=("cli"); grep -A 25 '^not ok ' "$out" | head -n 150; fi
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then failed=$((failed + 1)); failures+=("cli: no test ran"); cat "$out"; fi
fi

for t in build/tests-asan/test_*; do [ -x "$t" ] && run_cmocka asan "$t"; done

fuzzers=(build/fuzz/fuzz_*)
if [ -x "${fuzzers[0]:-}" ]; then
	per=$((60 / ${#fuzzers[@]}))
	[ "$per" -lt 10 ] && per=10
	for fz in "${fuzzers[@]}"; do
		name=$(basename "$fz")
		corpus="tests/fuzz/corpus/${name#fuzz_}"
		work="$log/corpus-$name"; mkdir -p "$work"
		[ -d "$corpus" ] && cp -r "$corpus"/. "$work"/ 2>/dev/null
		if "$fz" -max_total_time="$per" -max_len=4096 "$work" >"$log/$name.out" 2>&1; then
			passed=$((passed + 1)); printf '%-6s %-28s %4d passed %4d failed\n' fuzz "$name" 1 0
		else
			failed=$((failed + 1)); failures+=("fuzz/$name")
			printf '%-6s %-28s %4d passed %4d failed\n' fuzz "$name" 0 1
			tail -n 40 "$log/$name.out"
		fi
	done
fi

[ ${#failures[@]} -gt 0 ] && printf 'failed: %s\n' "${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
