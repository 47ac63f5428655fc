#!/usr/bin/env bash
# run.sh - the benchmarks of `make bench`, one after the other.  Extra
# arguments for the engine benchmark come from BENCH_ARGS, e.g.
#   make bench BENCH_ARGS=--quick   or   BENCH_ARGS="--rows 20000"
# The audit pipeline benchmark takes only --quick and --strict from them.
# Its journald cells need a journald: the running one, or one this script
# starts through tests/journald.sh (as `make test` does) and stops at the end.
# Exits non-zero when a benchmark fails to run (a missed target is reported,
# not fatal, unless BENCH_ARGS has --strict).
set -u
cd "$(dirname "$0")/../.." || exit 1
status=0
for bin in build/bench/bench_engine build/bench/bench_audit_verify build/bench/bench_audit; do
	if [ ! -x "$bin" ]; then
		echo "run.sh: $bin is not built (run: make bench)" >&2
		exit 1
	fi
done
echo "== engine: raw LMDB, plaintext, encrypted, primitives"
# shellcheck disable=SC2086 # BENCH_ARGS is a word list on purpose
build/bench/bench_engine ${BENCH_ARGS:-} || status=1
echo
echo "== audit-verify over 1M records"
build/bench/bench_audit_verify || status=1
echo
echo "== audit pipeline: audited vs unaudited, sinks, durability, sessions"
# 3>&-: journald must not hold our stdout's descriptors open after we exit
if ./tests/journald.sh start 3>&-; then
	trap './tests/journald.sh stop' EXIT
else
	echo "run.sh: no journald: the file+journald cells and their targets are skipped" >&2
fi
audit_args=()
for a in ${BENCH_ARGS:-}; do
	case "$a" in --quick | --strict) audit_args+=("$a") ;; esac
done
build/bench/bench_audit "${audit_args[@]}" || status=1

# --- reporter (issue 5): audit-report over 1M records, time and peak memory
echo
echo "== audit-report over 1M records (target <= 10 s, <= 64 MiB)"
report_args=()
for a in ${BENCH_ARGS:-}; do
	case "$a" in --quick | --strict) report_args+=("$a") ;; esac
done
tests/bench/bench_report.sh "${report_args[@]}" || status=1
# --- end reporter
exit $status
