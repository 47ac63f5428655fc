#!/usr/bin/env bats
# docs/compliance.md's rule tables are generated from profiles/*.toml: this
# fails when either changes without the other.

setup() {
	cd "$BATS_TEST_DIRNAME/../.."
}

@test "docs/compliance.md lists exactly the rules of profiles/*.toml" {
	run python3 tests/tools/compliance_doc.py --check
	[ "$status" -eq 0 ] || { echo "$output"; false; }
}

@test "the drift check fails when a rule changes" {
	tmp="$BATS_TEST_TMPDIR/copy"
	mkdir -p "$tmp/tests/tools" "$tmp/docs" "$tmp/profiles"
	cp tests/tools/compliance_doc.py "$tmp/tests/tools/"
	cp docs/compliance.md "$tmp/docs/"
	cp profiles/*.toml "$tmp/profiles/"
	sed -i 's/^min = 365$/min = 366/' "$tmp/profiles/pci-dss.toml"
	run python3 "$tmp/tests/tools/compliance_doc.py" --check
	[ "$status" -eq 1 ]
	[[ "$output" == *'audit.retention.days` >= 366'* ]]
}

@test "every profile id in the docs is unique and cites its source" {
	run python3 - <<'PY'
import tomllib, pathlib
for p in sorted(pathlib.Path("profiles").glob("*.toml")):
    d = tomllib.loads(p.read_text())
    assert d["profile"]["name"] == p.stem, p
    ids = [r["id"] for r in d["rule"]]
    assert len(ids) == len(set(ids)), p
    for r in d["rule"]:
        assert r["citation"].strip(), r["id"]
PY
	[ "$status" -eq 0 ] || { echo "$output"; false; }
}
