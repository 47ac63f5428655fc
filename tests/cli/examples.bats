#!/usr/bin/env bats
# examples/config/*.toml: complete configurations that start under their
# profile with no refusal, wherever the tree is (paths are relative to the
# file).

setup() {
	ROOT="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
	BIN="$ROOT/heliosdb-nano"
	T="$BATS_TEST_TMPDIR/tree"
	mkdir -p "$T/examples/config" "$T/demo/keys"
	chmod 700 "$T/demo" "$T/demo/keys"
	cp "$ROOT"/examples/config/*.toml "$T/examples/config/"
	"$BIN" keygen --output "$T/demo/keys/dev.key" 2>/dev/null
	export HELIOSDB_PROFILE_DIR="$ROOT/profiles"
}

start_clean() {
	local p=$1
	run "$BIN" init --config "$T/examples/config/$p.toml"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	run "$BIN" verify --config "$T/examples/config/$p.toml" --check all --format json
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	echo "$output" | jq -e --arg p "$p" '.started and .summary.refusals == 0 and .summary.passed > 10
		and (.profiles == [$p]) and ([.checks[] | select(.status == "fail")] | length == 0)' >/dev/null
	# the data went where the file says, relative to the file
	[ -f "$T/demo/$2/data.mdb" ]
}

@test "examples/config/hipaa.toml starts under HIPAA with no refusal" {
	start_clean hipaa data
}

@test "examples/config/pci-dss.toml starts under PCI DSS with no refusal" {
	start_clean pci-dss pci-dss-data
}

@test "examples/config/gdpr.toml starts under GDPR with no refusal" {
	start_clean gdpr gdpr-data
}

@test "an example with a broken rule is refused with the rule's id and citation" {
	sed -i 's/^days = 365 /days = 90 /' "$T/examples/config/pci-dss.toml"
	grep -q '^days = 90 ' "$T/examples/config/pci-dss.toml"
	run "$BIN" init --config "$T/examples/config/pci-dss.toml"
	[ "$status" -eq 4 ]
	[[ "$output" == *"PCI-10.5.1 (PCI DSS v4.0.1 10.5.1): audit.retention.days is 90, required >= 365"* ]]
	[ ! -e "$T/demo/pci-dss-data" ] && [ ! -e "$T/demo/pci-dss-data.audit" ]
}
