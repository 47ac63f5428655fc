#!/usr/bin/env bats
# audit_schema.bats - every record the encoder emits validates against the
# published JSON Schema (docs/audit-record.schema.json), and its chain
# recomputes with Python's hashlib (an implementation independent of ours),
# following docs/audit-log.md.
#
# The records come from tests/cli/audit_emit.c, a tiny driver that encodes
# every event type and outcome with awkward strings.  It is built here if
# missing or older than its inputs.  Installs nothing: without the Python
# jsonschema module (Debian: python3-jsonschema) the validation test is
# skipped with the reason.

setup_file() {
	export HDB_ROOT="${HDB_ROOT:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}"
}

setup() {
	cd "$HDB_ROOT" || return 1
	EMIT="$HDB_ROOT/build/audit_emit"
	build_emit
}

build_emit() {
	local src=tests/cli/audit_emit.c
	if [ -x "$EMIT" ] && [ "$EMIT" -nt "$src" ] && { [ ! -e libheliosdb.a ] || [ "$EMIT" -nt libheliosdb.a ]; }; then
		return 0
	fi
	mkdir -p build
	local inc="-Iinclude -Iutil -Ipolicy -Iaudit -Iengine"
	if [ -e libheliosdb.a ] &&
		gcc -std=c11 -D_GNU_SOURCE -O1 $inc "$src" libheliosdb.a -o "$EMIT" \
			-llmdb -lcrypto -largon2 -ljson-c -lsystemd -lpthread 2>"$BATS_TEST_TMPDIR/build.err"; then
		return 0
	fi
	# the library may be mid-rebuild: the driver needs only these sources
	gcc -std=c11 -D_GNU_SOURCE -O1 $inc "$src" util/*.c audit/record.c audit/redact.c audit/sign.c \
		-o "$EMIT" -lcrypto -lpthread
}

have_jsonschema() {
	python3 -c 'import jsonschema' 2>/dev/null
}

@test "audit schema: the schema itself is valid draft 2020-12" {
	have_jsonschema || skip "python3 module jsonschema is missing (Debian package python3-jsonschema)"
	python3 -c '
import json, sys, jsonschema
s = json.load(open(sys.argv[1]))
assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
jsonschema.Draft202012Validator.check_schema(s)
' docs/audit-record.schema.json
}

@test "audit schema: every emitted record validates against docs/audit-record.schema.json" {
	have_jsonschema || skip "python3 module jsonschema is missing (Debian package python3-jsonschema)"
	"$EMIT" 5 >"$BATS_TEST_TMPDIR/records.jsonl"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/records.jsonl")" -ge 100 ]
	run python3 -c '
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
v = jsonschema.Draft202012Validator(schema)
types, bad, n = set(), 0, 0
for i, raw in enumerate(open(sys.argv[2], "rb"), 1):
    n += 1
    rec = json.loads(raw.decode("utf-8"))   # strict UTF-8: no raw invalid bytes
    types.add(rec["event_type"])
    for e in v.iter_errors(rec):
        bad += 1
        print("line %d: %s" % (i, e.message))
want = set(schema["properties"]["event_type"]["enum"])
if types != want:
    print("event types not emitted:", sorted(want - types)); bad += 1
print("%d records, %d errors" % (n, bad))
sys.exit(1 if bad else 0)
' docs/audit-record.schema.json "$BATS_TEST_TMPDIR/records.jsonl"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "audit schema: a record missing a member or with a bad hash is rejected" {
	have_jsonschema || skip "python3 module jsonschema is missing (Debian package python3-jsonschema)"
	"$EMIT" 1 | head -n 1 >"$BATS_TEST_TMPDIR/one.jsonl"
	run python3 -c '
import json, sys, jsonschema
v = jsonschema.Draft202012Validator(json.load(open(sys.argv[1])))
rec = json.loads(open(sys.argv[2]).read())
assert v.is_valid(rec)
for mutate in (lambda r: r.pop("seq"), lambda r: r.update(hash="ABC"), lambda r: r.update(extra=1),
               lambda r: r.update(timestamp="2026-11-28 09:30:45"), lambda r: r.update(event_type="nope"),
               lambda r: r.update(outcome="ok"), lambda r: r.update(rows_affected=-1)):
    r = dict(rec); mutate(r)
    assert not v.is_valid(r), r
' docs/audit-record.schema.json "$BATS_TEST_TMPDIR/one.jsonl"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "audit schema: the chain of emitted records recomputes with python3 hashlib" {
	"$EMIT" 3 >"$BATS_TEST_TMPDIR/records.jsonl"
	run python3 -c '
import hashlib, json, sys
prev, seq = None, 0
for i, line in enumerate(open(sys.argv[1], "rb"), 1):
    line = line.rstrip(b"\n"); r = json.loads(line)
    if prev is None:
        prev = hashlib.sha256(b"heliosdb-audit-genesis:" + r["db_id"].encode()).digest()
    seq += 1
    h = hashlib.sha256(prev + line[:-75] + b"}").hexdigest()
    if r["seq"] != seq or r["prev_hash"] != prev.hex() or r["hash"] != h:
        print("line %d breaks the chain" % i); sys.exit(1)
    prev = bytes.fromhex(h)
print(seq, "records chain")
' "$BATS_TEST_TMPDIR/records.jsonl"
	echo "$output"
	[ "$status" -eq 0 ]
}
