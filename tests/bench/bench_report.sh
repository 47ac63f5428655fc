#!/usr/bin/env bash
# bench_report.sh - `heliosdb-nano audit-report` over 1M records (issue 5,
# section 3): wall time and peak memory (the child's ru_maxrss, from
# getrusage via python3) against the targets <= 10 s and <= 64 MiB.
#
#   tests/bench/bench_report.sh [--records N] [--quick] [--strict]
#
# The log is written by tests/cli/report_gen.c (built on demand into
# build/report_gen): N records (default 1,000,000; --quick 100,000) over 90
# days in 3 segments, signed, so the run includes the chain verification.
# Both outputs are timed: the HIPAA PDF (every section and chart) and the
# JSON.  Exit 0 when it ran (a miss is reported, not fatal, unless
# --strict), 1 on an error.
set -u
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
records=1000000
strict=0
while [ $# -gt 0 ]; do
	case "$1" in
	--records) records=$2; shift ;;
	--quick) records=100000 ;;
	--strict) strict=1 ;;
	*) echo "bench_report.sh: unknown argument '$1'" >&2; exit 1 ;;
	esac
	shift
done
BIN="$ROOT/heliosdb-nano"
GEN="$ROOT/build/report_gen"
[ -x "$BIN" ] || { echo "bench_report.sh: $BIN is not built (run: make)" >&2; exit 1; }
if [ ! -x "$GEN" ] || [ tests/cli/report_gen.c -nt "$GEN" ] || [ libheliosdb.a -nt "$GEN" ]; then
	mkdir -p build
	gcc -std=c11 -D_GNU_SOURCE -O2 -Iinclude -Iutil -Ipolicy -Iaudit -Iengine tests/cli/report_gen.c \
		libheliosdb.a -o "$GEN.$$" -llmdb -lcrypto -largon2 -ljson-c -lsystemd -lpthread &&
		mv -f "$GEN.$$" "$GEN" || { echo "bench_report.sh: cannot build report_gen" >&2; exit 1; }
fi
dir=$(mktemp -d /tmp/hdb-bench-report.XXXXXX)
trap 'rm -rf "$dir"' EXIT
"$GEN" "$dir" --records "$records" --days 90 --segments 3 --profiles hipaa,pci-dss >/dev/null ||
	{ echo "bench_report.sh: report_gen failed" >&2; exit 1; }
size=$(du -sm "$dir" | cut -f1)
echo "log: $records records + start/checkpoints, ${size} MiB in 3 segments"
status=0
# run FORMAT - prints "wall_s maxrss_kib" of one report run
run() {
	python3 - "$BIN" "$dir" "$1" <<'PY'
import os, resource, subprocess, sys, time
binp, d, fmt = sys.argv[1:4]
out = os.path.join(d, "report." + fmt)
t0 = time.monotonic()
p = subprocess.run([binp, "audit-report", "--input", os.path.join(d, "audit.log"), "--pubkey",
                    os.path.join(d, "audit.pub"), "--type", "hipaa", "--format", fmt, "--output", out],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
wall = time.monotonic() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
if p.returncode != 0:
    sys.stderr.write(p.stderr)
    sys.exit(1)
print("%.2f %d %s" % (wall, ru.ru_maxrss, p.stdout.strip().replace(" ", "_")))
PY
}
printf '%-6s %10s %12s   %s\n' format "time (s)" "peak (MiB)" "target: <= 10 s, <= 64 MiB"
for fmt in pdf json; do
	r=$(run "$fmt") || { echo "bench_report.sh: the $fmt report failed" >&2; status=1; continue; }
	read -r wall kib line <<<"$r"
	mib=$(awk -v k="$kib" 'BEGIN { printf "%.1f", k / 1024 }')
	verdict=$(awk -v w="$wall" -v m="$mib" 'BEGIN { print (w <= 10 && m <= 64) ? "PASS" : "MISS" }')
	printf '%-6s %10s %12s   %s\n' "$fmt" "$wall" "$mib" "$verdict"
	echo "       ${line//_/ }"
	if [ "$verdict" = MISS ] && [ "$strict" -eq 1 ]; then status=1; fi
done
exit $status
