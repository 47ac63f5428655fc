#!/usr/bin/env bash
# run.sh - runs the engine benchmark (make bench).  Extra arguments come from
# BENCH_ARGS, e.g.  make bench BENCH_ARGS=--quick  or  BENCH_ARGS="--rows 20000".
# Exits with the benchmark's status: 0 when every measurement ran (a missed
# target is reported, not fatal, unless BENCH_ARGS has --strict), 1 on error.
set -u
cd "$(dirname "$0")/../.." || exit 1
bin=build/bench/bench_engine
if [ ! -x "$bin" ]; then
	echo "run.sh: $bin is not built (run: make bench)" >&2
	exit 1
fi
# shellcheck disable=SC2086 # BENCH_ARGS is a word list on purpose
"$bin" ${BENCH_ARGS:-}
exit $?
