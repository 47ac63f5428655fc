#!/usr/bin/env bats
# report.bats - `heliosdb-nano audit-report` end to end (issue 5): real
# binary, real log files, real PDF tools.
#
# Logs come from tests/cli/report_gen.c (signed, several users, tables,
# denials, failures, DDL, config_loaded and profile_evaluated records;
# built on demand like audit_gen), from tests/cli/audit_gen.c, and from a
# real engine run (init + examples/quickstart).  Every count the tests
# expect is computed here with jq from the same log, never copied from
# the reporter's output.

load helpers

setup() {
	hdb_setup
	if ! "$HDB_BIN" audit-report --help >/dev/null 2>&1; then
		skip "audit-report verb not wired yet"
	fi
	G=$(build_helper report_gen) || { echo "cannot build tests/cli/report_gen.c"; return 1; }
	mkdir -p "$T/log"
	"$G" "$T/log" --records 400 --days 7 --profiles hipaa,pci-dss >/dev/null
	LOG="$T/log/audit.log"
	PUB="$T/log/audit.pub"
	SCHEMA="$HDB_ROOT/docs/report.schema.json"
}
teardown() { hdb_teardown; }

# txt PDF - the PDF's text, layout kept (one table row per line)
txt() { pdftotext -layout "$1" -; }

# has_line TEXT REGEX - a line of TEXT matches the extended REGEX
has_line() {
	if ! grep -qE -- "$2" <<<"$1"; then
		echo "no line matches: $2"
		printf '%s\n' "$1" | head -n 80
		return 1
	fi
}

# valid_json FILE - validates against docs/report.schema.json
valid_json() {
	python3 - "$SCHEMA" "$1" <<'PY'
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
errs = list(jsonschema.Draft202012Validator(schema).iter_errors(json.load(open(sys.argv[2]))))
for e in errs[:5]:
    print("/".join(map(str, e.path)), e.message)
sys.exit(1 if errs else 0)
PY
}

# pdf_ok PDF - qpdf --check, and pdftoppm renders every page pdfinfo counts
pdf_ok() {
	qpdf --check "$1" >"$T/qpdf.out" 2>&1 || { cat "$T/qpdf.out"; return 1; }
	local pages
	pages=$(pdfinfo "$1" | awk '/^Pages:/ {print $2}')
	[ "${pages:-0}" -ge 1 ]
	rm -rf "$T/png" && mkdir -p "$T/png"
	pdftoppm -r 30 -png "$1" "$T/png/p" 2>"$T/ppm.err" || { cat "$T/ppm.err"; return 1; }
	[ "$(find "$T/png" -name '*.png' | wc -l)" -eq "$pages" ]
	[ ! -s "$T/ppm.err" ] || { cat "$T/ppm.err"; return 1; }
}

AFTER_HOURS='select(.user != null) | (.timestamp[0:19] + "Z" | strptime("%Y-%m-%dT%H:%M:%SZ") | mktime | gmtime) as $t
	| select($t[6] == 0 or $t[6] == 6 or $t[3] < 8 or $t[3] >= 18)'

@test "audit-report: a PDF that passes qpdf, has its metadata and pages, and shows the counts jq computes" {
	hdbx audit-report --input "$LOG" --pubkey "$PUB" --type hipaa --output "$T/r.pdf"
	expect_status 0
	expect_out_contains "integrity: chain verified"
	pdf_ok "$T/r.pdf"
	info=$(pdfinfo "$T/r.pdf")
	has_line "$info" '^Title: +HIPAA Security Rule Compliance Report$'
	has_line "$info" '^Author: +heliosdb-nano audit-report$'
	has_line "$info" '^Creator: +HeliosDB Nano [0-9.]+$'
	has_line "$info" "^CreationDate: +.*$(date -u +%Y)"
	pages=$(awk '/^Pages:/ {print $2}' <<<"$info")
	expect_out_contains "(pdf, $pages pages)" # the command reports the pages pdfinfo counts
	t=$(txt "$T/r.pdf")
	n=$(jq -s length "$LOG")
	denied=$(jq -s 'map(select(.outcome == "denied")) | length' "$LOG")
	failed=$(jq -s 'map(select(.outcome == "failure")) | length' "$LOG")
	users=$(jq -r 'select(.user != null) | .user' "$LOG" | sort -u | wc -l)
	after=$(jq -c "$AFTER_HOURS" "$LOG" | wc -l)
	changes=$(jq -s 'map(select(.event_type | IN("ddl","config_loaded","profile_evaluated","rotate_key_start","rotate_key_finish","rekey_start","rekey_finish","data_key_switch","restore_run"))) | length' "$LOG")
	[ "$denied" -gt 0 ] && [ "$failed" -gt 0 ] && [ "$after" -gt 0 ]
	has_line "$t" "^Records in period +$n\$"
	has_line "$t" "^Seq range in period +1\\.\\.$n\$"
	has_line "$t" "^Denied operations +$denied\$"
	has_line "$t" "^Failed operations +$failed\$"
	has_line "$t" "^Distinct users +$users\$"
	has_line "$t" "^Outside business hours +$after\$"
	has_line "$t" "^DDL, key and config changes +$changes\$"
	has_line "$t" "Audit integrity: VERIFIED"
	# per user: the row of mallory (records, reads, ..., denied)
	mal=$(jq -s 'map(select(.user == "mallory")) | length' "$LOG")
	mal_denied=$(jq -s 'map(select(.user == "mallory" and .outcome == "denied")) | length' "$LOG")
	has_line "$t" "^ *mallory +$mal +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +$mal_denied "
	# per table reads, and the input file's SHA-256
	reads=$(jq -s 'map(select(.event_type == "read" and .table == "patients")) | length' "$LOG")
	has_line "$t" "^ *patients +$reads "
	has_line "$t" "$(sha256sum "$LOG" | cut -c1-64)"
	# every section has its bookmark, every page its number
	for s in "Executive summary" "Configuration attestation" "Cryptography" "Audit integrity" "Access review" \
		"Activity charts" "Appendix"; do
		has_line "$t" "^[0-9]\\. $s"
	done
	has_line "$t" "Page $pages of $pages"
	has_line "$t" "requires reviewer sign-off"
	has_line "$t" "Figure 1\\. Events per day, stacked by type"
	has_line "$t" "Figure 3\\. Denied and failed operations per day"
	# outlines: one per section plus the cover
	qpdf --json "$T/r.pdf" 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
titles = [o["title"] for o in d.get("outlines", [])]
kids = [k["title"] for o in d.get("outlines", []) for k in o.get("kids", [])]
assert len(kids) >= 8, (titles, kids)
' || { echo "outline missing"; return 1; }
}

@test "audit-report: the JSON validates against docs/report.schema.json and matches the PDF and jq" {
	hdbx audit-report --input "$LOG" --pubkey "$PUB" --type access-review --format json --output "$T/r.json"
	expect_status 0
	valid_json "$T/r.json"
	hdbx audit-report --input "$LOG" --pubkey "$PUB" --type access-review --output "$T/r.pdf"
	expect_status 0
	t=$(txt "$T/r.pdf")
	J="$T/r.json"
	[ "$(jq -r .integrity.verdict "$J")" = verified ]
	[ "$(jq -r .summary.records_in_period "$J")" = "$(jq -s length "$LOG")" ]
	[ "$(jq -r .summary.by_outcome.denied "$J")" = "$(jq -s 'map(select(.outcome=="denied"))|length' "$LOG")" ]
	[ "$(jq -r .summary.after_hours "$J")" = "$(jq -c "$AFTER_HOURS" "$LOG" | wc -l)" ]
	# by event type, as jq counts them
	diff <(jq -S .access.by_event_type "$J") <(jq -sS 'group_by(.event_type) | map({(.[0].event_type): length}) | add' "$LOG")
	# per day sums equal the record count; by hour too
	[ "$(jq '[.charts.per_day[] | .read + .write + .ddl + .security + .audit] | add' "$J")" = "$(jq -s length "$LOG")" ]
	[ "$(jq '.charts.by_hour | add' "$J")" = "$(jq -s length "$LOG")" ]
	# the PDF shows the same figures
	for k in records_in_period after_hours changes; do
		v=$(jq -r ".summary.$k" "$J")
		case $k in
		records_in_period) has_line "$t" "^Records in period +$v\$" ;;
		after_hours) has_line "$t" "^Outside business hours +$v\$" ;;
		changes) has_line "$t" "^DDL, key and config changes +$v\$" ;;
		esac
	done
	has_line "$t" "^Denied operations +$(jq -r .summary.by_outcome.denied "$J")\$"
	has_line "$t" "^Failed operations +$(jq -r .summary.by_outcome.failure "$J")\$"
	while IFS=$'\t' read -r u n; do
		has_line "$t" "^ *$u +$n "
	done < <(jq -r '.access.by_user[] | [.user, .records] | @tsv' "$J")
}

@test "audit-report: a tampered log gets the red verdict naming the first bad FILE:LINE and seq" {
	sed -i '57s/"doctor_smith"/"doctor_jones"/; 57s/"nurse_jones"/"nurse_smith"/; 57s/"mallory"/"mallor0"/; 57s/"admin_root"/"admin_r00t"/; 57s/"billing_app"/"billing_ap0"/' "$LOG"
	seq57=$(sed -n 57p "$LOG" | jq .seq)
	hdbx audit-verify --input "$LOG" --pubkey "$PUB"
	expect_status 1
	expect_out_contains "$LOG:57: seq $seq57"
	hdbx audit-report --input "$LOG" --pubkey "$PUB" --type integrity --output "$T/r.pdf"
	expect_status 0
	expect_out_contains "integrity: TAMPERED/INCOMPLETE"
	pdf_ok "$T/r.pdf"
	t=$(txt "$T/r.pdf" | head -n 30 | tr -s ' \n' '  ')   # the cover, as one line
	has_line "$t" "TAMPERED/INCOMPLETE - first bad record $LOG:57 \\(seq $seq57\\)"
	has_line "$t" "does NOT verify"
	# and it is red: the cover's verdict box is filled with 0.85 0.05 0.05
	qpdf --qdf --object-streams=disable "$T/r.pdf" "$T/q.pdf"
	grep -aqE '^0\.85[0-9]* 0\.05[0-9]* 0\.05[0-9]* rg' "$T/q.pdf"
	hdbx audit-report --input "$LOG" --pubkey "$PUB" --type integrity --format json --output "$T/r.json"
	valid_json "$T/r.json"
	[ "$(jq -r .integrity.verdict "$T/r.json")" = tampered ]
	[ "$(jq -r .integrity.first_bad.line "$T/r.json")" = 57 ]
	[ "$(jq -r .integrity.first_bad.seq "$T/r.json")" = "$seq57" ]
	[ "$(jq -r .integrity.first_bad.file "$T/r.json")" = "$LOG" ]
}

@test "audit-report: a deleted record and a removed segment are named too" {
	rm -rf "$T/log2" && mkdir -p "$T/log2"
	"$G" "$T/log2" --records 300 --segments 3 >/dev/null
	segs=("$T"/log2/audit.log.2026*)
	[ "${#segs[@]}" -eq 2 ]
	rm -f "${segs[1]}"
	hdbx audit-report --input "$T/log2/audit.log" --pubkey "$T/log2/audit.pub" --type integrity --format json --output "$T/r.json"
	expect_status 0
	[ "$(jq -r .integrity.verdict "$T/r.json")" = tampered ]
	[ "$(jq -r .integrity.first_bad.problem "$T/r.json")" = "$(jq -r .integrity.finding_list[0].problem "$T/r.json")" ]
	[ "$(jq -r .integrity.first_bad.file "$T/r.json")" = "$T/log2/audit.log" ]
	[ "$(jq -r .integrity.gaps "$T/r.json")" -ge 1 ]
}

@test "audit-report: without --pubkey the report says the log was not verified" {
	hdbx audit-report --input "$LOG" --type hipaa --output "$T/r.pdf"
	expect_status 0
	expect_out_contains "integrity: not verified"
	t=$(txt "$T/r.pdf")
	has_line "$t" "NOT VERIFIED - no public key"
	! grep -q "VERIFIED - hash chain" <<<"$t"
	has_line "$t" "Key inventory not available: no --config given"
	hdbx audit-report --input "$LOG" --type hipaa --format json --output "$T/r.json"
	[ "$(jq -r .integrity.verdict "$T/r.json")" = not_verified ]
	[ "$(jq -r .integrity.reason "$T/r.json")" = "no public key" ]
}

@test "audit-report: an empty period, a period of one event" {
	hdbx audit-report --input "$LOG" --pubkey "$PUB" --type hipaa --from 2030-01-01 --output "$T/empty.pdf"
	expect_status 0
	expect_out_contains "0 records in the period"
	pdf_ok "$T/empty.pdf"
	has_line "$(txt "$T/empty.pdf")" "^Records in period +0$"
	hdbx audit-report --input "$LOG" --pubkey "$PUB" --type hipaa --from 2030-01-01 --format json --output "$T/empty.json"
	valid_json "$T/empty.json"
	[ "$(jq -r .summary.first_seq "$T/empty.json")" = null ]
	# one event: from its exact timestamp to the next one's (exclusive)
	# a record whose neighbours have other timestamps
	i=$(jq -s '. as $a | [range(50; length - 1) | select($a[.].timestamp != $a[. + 1].timestamp and
		$a[.].timestamp != $a[. - 1].timestamp)][0]' "$LOG")
	s1=$((i + 1))
	from=$(jq -r "select(.seq == $s1) | .timestamp" "$LOG")
	to=$(jq -r "select(.seq == $s1 + 1) | .timestamp" "$LOG")
	hdbx audit-report --input "$LOG" --pubkey "$PUB" --type access-review --from "$from" --to "$to" --output "$T/one.pdf"
	expect_status 0
	expect_out_contains "1 records in the period"
	pdf_ok "$T/one.pdf"
	has_line "$(txt "$T/one.pdf")" "^Seq range in period +$s1\\.\\.$s1$"
	hdbx audit-report --input "$LOG" --pubkey "$PUB" --type access-review --from "$from" --to "$to" --format json --output "$T/one.json"
	valid_json "$T/one.json"
	[ "$(jq -r .summary.records_in_period "$T/one.json")" = 1 ]
	# a whole day: --to DATE includes that day
	n=$(jq -s 'map(select(.timestamp | startswith("2026-01-06"))) | length' "$LOG")
	hdbx audit-report --input "$LOG" --type integrity --from 2026-01-06 --to 2026-01-06 --format json --output "$T/day.json"
	[ "$(jq -r .summary.records_in_period "$T/day.json")" = "$n" ]
}

@test "audit-report: several profiles, each with its counts; --type gdpr shows the GDPR rules only" {
	rm -rf "$T/p3" && mkdir -p "$T/p3"
	"$G" "$T/p3" --records 50 --profiles hipaa,pci-dss,gdpr --refused >/dev/null
	L3="$T/p3/audit.log"
	hdbx audit-report --input "$L3" --pubkey "$T/p3/audit.pub" --type hipaa --format json --output "$T/r.json"
	expect_status 0
	valid_json "$T/r.json"
	ev='select(.event_type == "profile_evaluated") | .detail.rules[]'
	for p in HIPAA:hipaa PCI:pci-dss GDPR:gdpr; do
		pre=${p%%:*} name=${p#*:}
		for st in pass:passed warn:warnings fail:failures; do
			want=$(jq -c "$ev | select(.id | startswith(\"$pre\")) | select(.status == \"${st%%:*}\")" "$L3" | wc -l)
			got=$(jq -r ".summary.profiles[] | select(.profile == \"$name\") | .${st#*:}" "$T/r.json")
			[ "$got" = "$want" ] || { echo "$name ${st#*:}: $got, want $want"; return 1; }
		done
	done
	[ "$(jq -r .attestation.started "$T/r.json")" = false ]
	[ "$(jq -r '.attestation.rules | length' "$T/r.json")" = "$(jq -c "$ev | select(.id | startswith(\"HIPAA\"))" "$L3" | wc -l)" ]
	[ "$(jq -r '.database.profiles | join(",")' "$T/r.json")" = "hipaa,pci-dss,gdpr" ]
	hdbx audit-report --input "$L3" --pubkey "$T/p3/audit.pub" --type gdpr --output "$T/g.pdf"
	expect_status 0
	pdf_ok "$T/g.pdf"
	t=$(txt "$T/g.pdf")
	has_line "$t" "GDPR-32\\(1\\)\\(a\\)"
	! grep -q "HIPAA-164" <<<"$(sed -n '/Configuration attestation/,/Configuration at each start/p' <<<"$t")"
	has_line "$t" "^ *gdpr +1 +1 +0$"
	has_line "$t" "^ *pci-dss +2 +0 +1$"
	has_line "$t" "5d41402abc4b2a76b9719d911017c592aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
}

@test "audit-report: rotated segments and DIR input: every file with its SHA-256" {
	rm -rf "$T/s" && mkdir -p "$T/s"
	"$G" "$T/s" --records 300 --segments 3 >/dev/null
	hdbx audit-report --input "$T/s" --pubkey "$T/s/audit.pub" --type integrity --format json --output "$T/r.json"
	expect_status 0
	[ "$(jq -r .integrity.verdict "$T/r.json")" = verified ]
	[ "$(jq -r '.inputs | length' "$T/r.json")" = 3 ]
	while IFS=$'\t' read -r path sha; do
		[ "$(sha256sum "$path" | cut -c1-64)" = "$sha" ]
	done < <(jq -r '.inputs[] | [.path, .sha256] | @tsv' "$T/r.json")
	[ "$(jq -r .integrity.records "$T/r.json")" = "$(cat "$T"/s/audit.log* | wc -l)" ]
}

@test "audit-report: --business-hours changes what counts as outside them" {
	hdbx audit-report --input "$LOG" --type access-review --business-hours 00-24 --format json --output "$T/r.json"
	expect_status 0
	weekend=$(jq -c 'select(.user != null) | (.timestamp[0:19] + "Z" | strptime("%Y-%m-%dT%H:%M:%SZ") | mktime | gmtime) as $t | select($t[6] == 0 or $t[6] == 6)' "$LOG" | wc -l)
	[ "$(jq -r .summary.after_hours "$T/r.json")" = "$weekend" ]
}

@test "audit-report: a real engine log, with --config: key inventory and the access recorded first" {
	hdbx init --path "$T/db"
	expect_status 0
	run "$(quickstart_bin)" "$T/db"
	[ "$status" -eq 0 ]
	printf '[storage]\npath = "%s"\n' "$T/db" >"$T/c.toml"
	hdbx audit-report --config "$T/c.toml" --type encryption-compliance --format json --output "$T/r.json"
	expect_status 0
	valid_json "$T/r.json"
	ELOG="$T/db.audit/audit.log"
	# the access was recorded, by this user, and the db closed, before the log was read
	[ "$(jq -r .integrity.verdict "$T/r.json")" = verified ]
	[ "$(jq -r .integrity.audit_access.total "$T/r.json")" = 1 ]
	[ "$(jq -r .integrity.audit_access.items[0].text "$T/r.json")" = "audit-report read $ELOG" ]
	[ "$(jq -r 'select(.event_type=="audit_access") | .detail.tool' "$ELOG")" = audit-report ]
	# it read the log up to the end of its own access session: the export
	# record's session (config_loaded onwards) came after the report
	acc=$(jq -r 'select(.event_type=="audit_access") | .seq' "$ELOG")
	next=$(jq -r --argjson a "$acc" 'select(.event_type=="config_loaded" and .seq > $a) | .seq' "$ELOG" | head -n 1)
	[ "$(jq -r .integrity.last_seq "$T/r.json")" = "$((next - 1))" ]
	[ "$(jq -r .cryptography.key_inventory.available "$T/r.json")" = true ]
	[ "$(jq -r '.cryptography.key_inventory.keys | length' "$T/r.json")" -ge 1 ]
	[ "$(jq -r '.cryptography.key_inventory.keys[0].encryptions' "$T/r.json")" -ge 1 ]
	# the quickstart's writes, by doctor_smith
	w=$(jq -s 'map(select(.event_type=="write" and .user=="doctor_smith")) | length' "$ELOG")
	[ "$(jq -r '.access.by_user[] | select(.user=="doctor_smith") | .writes' "$T/r.json")" = "$w" ]
	# a PDF of the same database: a second access is recorded
	hdbx audit-report --config "$T/c.toml" --type hipaa --output "$T/r.pdf"
	expect_status 0
	pdf_ok "$T/r.pdf"
	t=$(txt "$T/r.pdf")
	has_line "$t" "Audit integrity: VERIFIED"
	who=$(jq -r 'select(.event_type=="audit_access") | .user' "$ELOG" | head -n 1)
	[ -n "$who" ] && [ "$who" != null ]
	has_line "$t" "audit_access +success +$who +audit-report read"
	[ "$(jq -s 'map(select(.event_type=="audit_access")) | length' "$ELOG")" = 2 ]
	# the audit_gen log too (one user, checkpoints every 10)
	A=$(build_helper audit_gen)
	mkdir -p "$T/ag" && "$A" "$T/ag" >/dev/null
	hdbx audit-report --input "$T/ag/audit.log" --pubkey "$T/ag/audit.pub" --type access-review --output "$T/ag.pdf"
	expect_status 0
	has_line "$(txt "$T/ag.pdf")" "^ *doctor_smith +$(jq -s 'map(select(.user=="doctor_smith"))|length' "$T/ag/audit.log") "
}

@test "audit-report: hand-written profile records (the profiles feature's formats), unverified" {
	cat >"$T/h.log" <<-'EOF'
	{"seq":1,"timestamp":"2026-03-02T09:00:00.000000Z","event_type":"config_loaded","outcome":"success","error":null,"user":null,"source_ip":null,"application":null,"session_id":null,"table":null,"object":null,"query":null,"rows_affected":null,"encryption_enabled":true,"event_id":"00000000000000000000000000000001","db_id":"0123456789abcdef0123456789abcdef","host":"h","pid":1,"detail":{"file":"/etc/h.toml","sha256":"abababababababababababababababababababababababababababababababab","config":{"encryption.fips":true}},"prev_hash":"00","hash":"00"}
	{"seq":2,"timestamp":"2026-03-02T09:00:01.000000Z","event_type":"profile_evaluated","outcome":"denied","error":null,"user":null,"source_ip":null,"application":null,"session_id":null,"table":null,"object":null,"query":null,"rows_affected":null,"encryption_enabled":true,"event_id":"00000000000000000000000000000002","db_id":"0123456789abcdef0123456789abcdef","host":"h","pid":1,"detail":{"profiles":["pci-dss"],"passed":0,"warnings":0,"refusals":1,"started":false,"rules":[{"id":"PCI-10.5.1","citation":"PCI DSS 10.5.1","statement":"Keep 12 months","severity":"refuse","status":"fail","required":"audit.retention.days >= 365","actual":"90","fix":"set audit.retention.days = 365"}]},"prev_hash":"00","hash":"00"}
	not json at all
	EOF
	hdbx audit-report --input "$T/h.log" --type pci-dss --format json --output "$T/h.json"
	expect_status 0
	valid_json "$T/h.json"
	[ "$(jq -r .cryptography.fips "$T/h.json")" = true ]
	[ "$(jq -r .attestation.rules[0].status "$T/h.json")" = fail ]
	[ "$(jq -r .attestation.config_loads[0].sha256 "$T/h.json")" = abababababababababababababababababababababababababababababababab ]
	[ "$(jq -r .integrity.malformed_lines "$T/h.json")" = 1 ]
	[ "$(jq -r .integrity.first_malformed "$T/h.json")" = "$T/h.log:3: not a JSON object" ]
	hdbx audit-report --input "$T/h.log" --type pci-dss --output "$T/h.pdf"
	expect_status 0
	pdf_ok "$T/h.pdf"
	t=$(txt "$T/h.pdf")
	has_line "$t" "PCI-10.5.1 +PCI DSS 10.5.1"
	has_line "$t" "Fix: set audit.retention.days = 365"
}

@test "audit-report: lines are read as strict JSON: escapes decoded; a member twice, trailing text, escaped names, raw control characters are malformed" {
	cat >"$T/s.log" <<-'EOF'
	{"seq":1,"timestamp":"2026-03-02T10:00:01.000000Z","event_type":"read","outcome":"success","error":null,"user":"dr \"quoted\" \u00e9","source_ip":null,"application":null,"session_id":null,"table":"t\u0041","object":null,"query":null,"rows_affected":3,"encryption_enabled":true,"event_id":"00000000000000000000000000000001","db_id":"0123456789abcdef0123456789abcdef","host":"h","pid":1,"detail":null,"prev_hash":"00","hash":"00"}
	{"seq":2,"timestamp":"2026-03-02T10:00:02.000000Z","event_type":"read","outcome":"success","error":null,"user":"dr \"quoted\" \u00e9","source_ip":null,"application":null,"session_id":null,"table":"tA","object":null,"query":null,"rows_affected":3,"encryption_enabled":false,"event_id":"00000000000000000000000000000001","db_id":"0123456789abcdef0123456789abcdef","host":"h","pid":1,"detail":null,"prev_hash":"00","hash":"00"}
	{"seq":3,"timestamp":"2026-03-02T10:00:03.000000Z","event_type":"read","outcome":"success","error":null,"user":"nurse","source_ip":null,"application":null,"session_id":null,"table":"tA","object":null,"query":null,"rows_affected":3,"encryption_enabled":true,"event_id":"00000000000000000000000000000001","db_id":"0123456789abcdef0123456789abcdef","host":"h","pid":1,"detail":null,"user":"mallory","prev_hash":"00","hash":"00"}
	{"seq":4,"timestamp":"2026-03-02T10:00:04.000000Z","event_type":"read","outcome":"success","error":null,"user":"nurse","source_ip":null,"application":null,"session_id":null,"table":"tA","object":null,"query":null,"rows_affected":3,"encryption_enabled":true,"event_id":"00000000000000000000000000000001","db_id":"0123456789abcdef0123456789abcdef","host":"h","pid":1,"detail":null,"prev_hash":"00","hash":"00"} trailing
	{"s\u0065q":5,"timestamp":"2026-03-02T10:00:05.000000Z","event_type":"read","outcome":"success","error":null,"user":"nurse","source_ip":null,"application":null,"session_id":null,"table":"tA","object":null,"query":null,"rows_affected":3,"encryption_enabled":true,"event_id":"00000000000000000000000000000001","db_id":"0123456789abcdef0123456789abcdef","host":"h","pid":1,"detail":null,"prev_hash":"00","hash":"00"}
	{"seq":6,"timestamp":"2026-03-02T10:00:06.000000Z","event_type":"read","outcome":"success","error":null,"user":"nurse@CTRL@","source_ip":null,"application":null,"session_id":null,"table":"tA","object":null,"query":null,"rows_affected":3,"encryption_enabled":true,"event_id":"00000000000000000000000000000001","db_id":"0123456789abcdef0123456789abcdef","host":"h","pid":1,"detail":null,"prev_hash":"00","hash":"00"}
	{"seq":7e0,"timestamp":"2026-03-02T10:00:07.000000Z","event_type":"read","outcome":"success","error":null,"user":"nurse","source_ip":null,"application":null,"session_id":null,"table":"tA","object":null,"query":null,"rows_affected":3.0,"encryption_enabled":true,"event_id":"00000000000000000000000000000001","db_id":"0123456789abcdef0123456789abcdef","host":"h","pid":1,"detail":null,"prev_hash":"00","hash":"00"}
	EOF
	sed -i "s/@CTRL@/$(printf '\001')/" "$T/s.log"   # a raw control character in line 6
	hdbx audit-report --input "$T/s.log" --type hipaa --format json --output "$T/s.json"
	expect_status 0
	valid_json "$T/s.json"
	# lines 1 and 2: one user and one table, whether escaped or not
	[ "$(jq -r '.access.by_user | length' "$T/s.json")" = 1 ]
	[ "$(jq -r '.access.by_user[0].user' "$T/s.json")" = 'dr "quoted" é' ]
	[ "$(jq -r '.access.by_user[0].records' "$T/s.json")" = 2 ]
	[ "$(jq -r '.access.by_table[0].table' "$T/s.json")" = tA ]
	[ "$(jq -r '.access.by_table[0].rows_read' "$T/s.json")" = 6 ]
	[ "$(jq -r .summary.unencrypted_records "$T/s.json")" = 1 ]
	# lines 3 to 7: malformed, the first named
	[ "$(jq -r .integrity.malformed_lines "$T/s.json")" = 5 ]
	[ "$(jq -r .integrity.first_malformed "$T/s.json")" = "$T/s.log:3: a member twice" ]
	for n in 4 5 6 7; do
		sed -n "${n}p" "$T/s.log" >"$T/one.log"
		hdbx audit-report --input "$T/one.log" --type hipaa --format json --output "$T/one.json"
		expect_status 0
		case $n in
		4) want="text after the JSON object" ;;
		5) want="not a JSON object" ;;
		6) want="not a JSON object" ;;
		7) want="no valid seq" ;;
		esac
		[ "$(jq -r .integrity.first_malformed "$T/one.json")" = "$T/one.log:1: $want" ]
	done
}

@test "audit-report: usage and failure errors: one line, right exit code, no partial output" {
	echo "previous" >"$T/keep.pdf"
	hdbx audit-report --input "$T/nope.log" --type hipaa --output "$T/keep.pdf"
	expect_status 1
	expect_err_contains "heliosdb-nano: audit-report: no audit log at '$T/nope.log'"
	[ "$(cat "$T/keep.pdf")" = previous ]
	[ "$(wc -l <<<"$err")" -eq 1 ]
	hdbx audit-report --input "$LOG" --type sox --output "$T/x.pdf"
	expect_status 2
	expect_err_contains "heliosdb-nano: audit-report: unknown --type 'sox'"
	hdbx audit-report --input "$LOG" --type hipaa --from 2026-02-30 --output "$T/x.pdf"
	expect_status 2
	expect_err_contains "bad --from '2026-02-30'"
	hdbx audit-report --input "$LOG" --type hipaa --to yesterday --output "$T/x.pdf"
	expect_status 2
	expect_err_contains "bad --to 'yesterday'"
	hdbx audit-report --input "$LOG" --type hipaa --from 2026-02-01 --to 2026-01-01 --output "$T/x.pdf"
	expect_status 2
	hdbx audit-report --input "$LOG" --type hipaa --format docx --output "$T/x.pdf"
	expect_status 2
	hdbx audit-report --input "$LOG" --type hipaa --business-hours 18-08 --output "$T/x.pdf"
	expect_status 2
	expect_err_contains "bad --business-hours '18-08'"
	hdbx audit-report --type hipaa --output "$T/x.pdf"
	expect_status 2
	hdbx audit-report --input "$LOG" --type hipaa --output "$T/no/such/dir/x.pdf"
	expect_status 1
	expect_err_contains "cannot create output '$T/no/such/dir/x.pdf'"
	mkdir -p "$T/ro" && chmod 555 "$T/ro"
	if [ "$(id -u)" -ne 0 ]; then
		hdbx audit-report --input "$LOG" --type hipaa --output "$T/ro/x.pdf"
		expect_status 1
		expect_err_contains "cannot create output"
	fi
	hdbx audit-report --input "$LOG" --type hipaa --output "$T/ro"
	expect_status 1
	expect_err_contains "is a directory"
	hdbx audit-report --input "$LOG" --pubkey "$T/nope.pub" --type hipaa --output "$T/x.pdf"
	expect_status 1
	expect_err_contains "--pubkey"
	[ ! -e "$T/x.pdf" ]
	# no temporary file is left behind by any of these
	[ -z "$(find "$T" -name '*.tmp.*')" ]
}

@test "audit-report: names outside ASCII: Windows-1252 ones print in the PDF, the JSON keeps every one exactly" {
	hdbx init --path "$T/db"
	expect_status 0
	USER="José Müller" "$HDB_BIN" stats --path "$T/db" >/dev/null
	USER="Łukasz Żółć" "$HDB_BIN" stats --path "$T/db" >/dev/null
	printf '[storage]\npath = "%s"\n' "$T/db" >"$T/c.toml"
	hdbx audit-report --config "$T/c.toml" --type access-review --output "$T/r.pdf"
	expect_status 0
	pdf_ok "$T/r.pdf"
	t=$(txt "$T/r.pdf")
	grep -q "José Müller" <<<"$t" || { echo "$t" | grep -i "jos"; false; }
	# Ł and Ż are not in Windows-1252 (the standard fonts' encoding): '?'; ó is
	grep -q "?ukasz ?ó??" <<<"$t"
	hdbx audit-report --config "$T/c.toml" --type access-review --format json --output "$T/r.json"
	expect_status 0
	[ "$(jq -r '[.access.by_user[].user] | map(select(. == "Łukasz Żółć" or . == "José Müller")) | length' "$T/r.json")" = 2 ]
}

@test "audit-report --config: the report's SHA-256 is recorded in the signed log (export_run) after it is written" {
	hdbx init --path "$T/db"
	expect_status 0
	printf '[storage]\npath = "%s"\n' "$T/db" >"$T/c.toml"
	hdbx audit-report --config "$T/c.toml" --type integrity --output "$T/r.pdf"
	expect_status 0
	sum=$(sha256sum "$T/r.pdf" | cut -d' ' -f1)
	expect_out_contains "sha256 $sum (recorded in the audit log: export_run)"
	ELOG="$T/db.audit/audit.log"
	run jq -c 'select(.event_type == "export_run") | [.detail.tool, .detail.output, .detail.sha256, .detail.what, .outcome]' "$ELOG"
	[ "$output" = "[\"audit-report\",\"$T/r.pdf\",\"$sum\",\"integrity\",\"success\"]" ]
	# the access came first, the export after it
	a=$(jq -r 'select(.event_type == "audit_access") | .seq' "$ELOG")
	e=$(jq -r 'select(.event_type == "export_run") | .seq' "$ELOG")
	[ "$a" -lt "$e" ]
	hdbx audit-verify --config "$T/c.toml"
	expect_status 0
	# without a database (an auditor's copy) only the hash is printed
	hdbx audit-report --input "$ELOG" --type integrity --output "$T/r2.pdf"
	expect_status 0
	expect_out_contains "sha256 $(sha256sum "$T/r2.pdf" | cut -d' ' -f1)"
	[[ "$out" != *"recorded in the audit log"* ]]
}
