#!/usr/bin/env bats
# toml.bats - runs the TOML conformance set in tests/toml (toml-test layout)
# through "heliosdb-nano config toml-json".
#   valid/NAME.toml    must exit 0 and print JSON equal to valid/NAME.json
#                      (compared after jq -S; float values are compared as
#                      numbers, since any text that round-trips is correct)
#   invalid/NAME.toml  must exit 1 with exactly one line on stderr of the
#                      form "<stdin>:LINE:COL: message"
# Each test loops over the whole set and names every failing case, so one
# broken case does not hide the others.

setup() {
	: "${HDB_BIN:?HDB_BIN must point at the heliosdb-nano binary}"
	: "${HDB_ROOT:?HDB_ROOT must point at the repository root}"
	CASES="$HDB_ROOT/tests/toml"
	# numbers, not text, for finite floats; inf and nan stay strings
	NORM='walk(if type == "object" and .type == "float" and (.value | type) == "string"
	            and (.value | test("^[-+]?[0-9]")) then .value |= tonumber else . end)'
}

@test "toml: the conformance set is present" {
	nvalid=$(ls "$CASES"/valid/*.toml | wc -l)
	ninvalid=$(ls "$CASES"/invalid/*.toml | wc -l)
	[ "$nvalid" -ge 40 ]
	[ "$ninvalid" -ge 60 ]
	for t in "$CASES"/valid/*.toml; do
		[ -f "${t%.toml}.json" ] || { echo "missing ${t%.toml}.json"; return 1; }
	done
}

@test "toml: every valid case encodes to the expected tagged JSON" {
	failed=()
	for t in "$CASES"/valid/*.toml; do
		name=$(basename "$t" .toml)
		if ! got=$("$HDB_BIN" config toml-json < "$t" 2>"$BATS_TEST_TMPDIR/err"); then
			failed+=("$name (exit non-zero: $(head -c 300 "$BATS_TEST_TMPDIR/err"))")
			continue
		fi
		if ! g=$(printf '%s' "$got" | jq -S "$NORM" 2>&1); then
			failed+=("$name (output is not JSON: $g)")
			continue
		fi
		w=$(jq -S "$NORM" "${t%.toml}.json")
		if [ "$g" != "$w" ]; then
			failed+=("$name")
			diff <(printf '%s\n' "$w") <(printf '%s\n' "$g") | head -n 20
		fi
	done
	if [ "${#failed[@]}" -ne 0 ]; then
		printf 'failed: %s\n' "${failed[@]}"
		return 1
	fi
}

@test "toml: every invalid case exits 1 with one FILE:LINE:COL line" {
	failed=()
	for t in "$CASES"/invalid/*.toml; do
		name=$(basename "$t")
		status=0
		"$HDB_BIN" config toml-json < "$t" >/dev/null 2>"$BATS_TEST_TMPDIR/err" || status=$?
		err=$(cat "$BATS_TEST_TMPDIR/err")
		lines=$(wc -l < "$BATS_TEST_TMPDIR/err")
		if [ "$status" -ne 1 ]; then
			failed+=("$name: exit $status, want 1")
		elif [ "$lines" -ne 1 ]; then
			failed+=("$name: $lines lines on stderr, want 1: $err")
		elif ! [[ "$err" =~ :[0-9]+:[0-9]+:\ [^[:space:]] ]]; then
			failed+=("$name: no ':LINE:COL: ' in: $err")
		fi
	done
	if [ "${#failed[@]}" -ne 0 ]; then
		printf 'failed: %s\n' "${failed[@]}"
		return 1
	fi
}

@test "toml: error positions point at the defect" {
	# spot checks that LINE:COL is the defect's position, not just any numbers
	check() { # file expected-prefix
		run "$HDB_BIN" config toml-json < "$CASES/invalid/$1"
		[ "$status" -eq 1 ] || { echo "$1: exit $status"; return 1; }
		[[ "$output" == *"$2"* ]] || { echo "$1: want '$2' in: $output"; return 1; }
	}
	check key-no-equals.toml '<stdin>:2:9: '
	check duplicate-key.toml '<stdin>:2:1: '
	check table-redefine.toml '<stdin>:3:1: '
	check string-bad-escape.toml '<stdin>:1:6: '
	check date-feb-29-non-leap.toml '<stdin>:1:5: '
	check inline-table-trailing-comma.toml '<stdin>:1:12: '
	check dotted-into-defined.toml '<stdin>:4:3: '
	check utf8-surrogate.toml '<stdin>:1:3: '
}
