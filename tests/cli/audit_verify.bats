#!/usr/bin/env bats
# audit_verify.bats - `heliosdb-nano audit-verify` end to end (DESIGN
# promise 5): a signed log from tests/cli/audit_gen.c verifies; each kind of
# tampering done with sed/head/awk is reported at the right FILE:LINE with
# exit 1; a bad public key file exits 3 and usage errors exit 2.
#
# audit_gen writes 36 lines: line 1 audit_start, records with checkpoints at
# lines 11, 21 and 31 (signing seq 10, 20, 30), line 35 audit_stop and line
# 36 its checkpoint; with --segments 3, lines 1-12, 13-24 and 25-36.

load helpers

setup() {
	hdb_setup
	if ! "$HDB_BIN" audit-verify --help >/dev/null 2>&1; then
		skip "audit-verify verb not wired yet"
	fi
	G=$(build_helper audit_gen) || { echo "cannot build tests/cli/audit_gen.c"; return 1; }
	mkdir -p "$T/log"
	"$G" "$T/log" >/dev/null
	LOG="$T/log/audit.log"
	PUB="$T/log/audit.pub"
}
teardown() { hdb_teardown; }

verify() { hdbx audit-verify --input "${1:-$LOG}" --pubkey "${2:-$PUB}"; }

@test "audit-verify: a clean signed log verifies" {
	verify
	expect_status 0
	expect_out_contains "records:     36 (seq 1..36)"
	expect_out_contains "checkpoints: 4 (last signed seq 35)"
	expect_out_contains "verdict:     chain verified"
}

@test "audit-verify: a modified record is found at its line" {
	sed -i '5s/doctor_smith/doctor_jones/' "$LOG"
	verify
	expect_status 1
	expect_out_contains "$LOG:5: seq 5: modified record"
	expect_out_contains "TAMPERED/INCOMPLETE"
}

@test "audit-verify: a deleted record is found where it was" {
	sed -i '5d' "$LOG"
	verify
	expect_status 1
	expect_out_contains "$LOG:5: seq 6: records missing (seq gap): seq 6 follows seq 4: record 5 is missing"
}

@test "audit-verify: an inserted record is found at its line" {
	awk 'NR==3 {keep=$0} {print} NR==7 {print keep}' "$LOG" >"$T/x" && mv "$T/x" "$LOG"
	verify
	expect_status 1
	expect_out_contains "$LOG:8: seq 3: record inserted or reordered"
}

@test "audit-verify: reordered records are found" {
	awk 'NR==5 {held=$0; next} {print} NR==6 {print held}' "$LOG" >"$T/x" && mv "$T/x" "$LOG"
	verify
	expect_status 1
	expect_out_contains "$LOG:5: seq 6: records missing"
	expect_out_contains "$LOG:6: seq 5: record inserted or reordered"
}

@test "audit-verify: a tail truncated back to a checkpoint is found" {
	head -n 21 "$LOG" >"$T/x" && mv "$T/x" "$LOG"
	verify
	expect_status 1
	expect_out_contains "$LOG:21: seq 21: unsigned tail"
	expect_out_contains "not at a clean stop"
}

@test "audit-verify: a tail truncated between checkpoints is found" {
	head -n 27 "$LOG" >"$T/x" && mv "$T/x" "$LOG"
	verify
	expect_status 1
	expect_out_contains "$LOG:22: seq 22: unsigned tail (truncated or incomplete): records after seq 20 are not covered by a signature"
}

@test "audit-verify: segments verify; a removed middle segment is found" {
	rm -rf "$T/log"/*
	"$G" "$T/log" --segments 3 >/dev/null
	verify
	expect_status 0
	expect_out_contains "(3 segments)"
	expect_out_contains "chain verified"
	rm "$T/log"/audit.log.20260102T000000Z.*
	verify
	expect_status 1
	expect_out_contains "$LOG:1: seq 25: missing segment: does not continue '$T/log/audit.log.20260101T000000Z.00000000000000000001'"
}

@test "audit-verify: a directory input verifies every log in it" {
	verify "$T/log"
	expect_status 0
	expect_out_contains "audit log: $T/log/audit.log (1 segment)"
	expect_out_contains "chain verified"
}

@test "audit-verify: a garbage line is found at its line" {
	sed -i '9i this is not a record' "$LOG"
	verify
	expect_status 1
	expect_out_contains "$LOG:9: seq 0: malformed record"
	expect_out_contains "(1 finding)"
}

@test "audit-verify: the wrong public key fails every checkpoint" {
	mkdir -p "$T/other"
	"$G" "$T/other" >/dev/null
	verify "$LOG" "$T/other/audit.pub"
	expect_status 1
	expect_out_contains "$LOG:11: seq 11: bad checkpoint signature"
	expect_out_contains "wrong public key?"
}

@test "audit-verify: a bad public key file exits 3, usage errors exit 2" {
	echo "not a key" >"$T/bad.pub"
	verify "$LOG" "$T/bad.pub"
	expect_status 3
	verify "$LOG" "$T/missing.pub"
	expect_status 3
	hdbx audit-verify --input "$LOG"
	expect_status 2
	hdbx audit-verify --pubkey "$PUB" --bogus
	expect_status 2
	hdbx audit-verify --input "$T/nothing-here.log" --pubkey "$PUB"
	expect_status 1
	no_crash
}

@test "audit-verify --config records the reading (audit_access) before it verifies the database's own log" {
	printf '[storage]\npath = "%s"\n' "$T/db" >"$T/c.toml"
	hdbx init --config "$T/c.toml"
	expect_status 0
	local before
	before=$(grep -c '"event_type":"audit_access"' "$T/db.audit/audit.log" || true)
	[ "$before" -eq 0 ]
	hdbx audit-verify --config "$T/c.toml"
	expect_status 0
	expect_out_contains "chain verified"
	run jq -c 'select(.event_type == "audit_access") | [.application, .object, .detail.tool, .detail.input, .outcome]' \
		"$T/db.audit/audit.log"
	[ "$output" = "[\"audit-verify\",\"audit_log\",\"audit-verify\",\"$T/db.audit/audit.log\",\"success\"]" ]
	# without a database (an auditor's copy) nothing can be recorded, and --input/--pubkey are needed
	hdbx audit-verify --pubkey "$T/db.audit/audit.log.pub"
	expect_status 2
	expect_err_contains "--input and --pubkey are required, or --config"
}

@test "audit-verify: a progress bar on a terminal, ending at 100%; none when stderr is not a terminal" {
	command -v script >/dev/null || skip "script (util-linux) is not installed"
	sed -i '5s/doctor_smith/doctor_jones/' "$LOG"
	run script -q -e -c "'$HDB_BIN' audit-verify --input '$LOG' --pubkey '$PUB'" /dev/null
	[ "$status" -eq 1 ] || { echo "$output"; false; }
	tr '\r' '\n' <<<"$output" | grep -Eq '^verifying \[#{40}\] 100%' || { echo "$output" | od -c | head -20; false; }
	grep -q "$LOG:5: seq 5: modified record" <<<"$output"
	verify
	expect_status 1
	[[ "$err" != *verifying* ]] || { show; false; }
}
