#!/usr/bin/env bats
# The operator guide's troubleshooting section documents every error message
# the CLI and the configuration/TOML/profile loaders print
# (tests/tools/error_messages.py), and docs/configuration.md's
# profile-requirements table follows profiles/*.toml.
#
# Matching rule (details in the tool's docstring): each message's format
# string (cli/*.c: errx_, verr, rerr, fprintf(stderr); policy/*.c: errf,
# fail, perr, perr_at, vfail) is split at its printf conversions; every
# literal phrase of two or more words (else its longest word of 4+ letters)
# must occur in docs/operator-guide.md between "## Troubleshooting" and the
# next "## " heading, white space collapsed and backquotes ignored.  So a
# message may be documented with placeholders (`cannot read config 'FILE':
# REASON`), and changing argument order or value formats does not break the
# test; changing the words a user would search for does.  Pure "%s"
# pass-throughs and progress lines are not messages of their own.

setup() {
	cd "$BATS_TEST_DIRNAME/../.."
}

@test "every user-facing error message of cli/ and policy/ is in the operator guide's troubleshooting" {
	run python3 tests/tools/error_messages.py --check
	[ "$status" -eq 0 ] || { echo "$output"; false; }
}

@test "the message extractor is not vacuous" {
	run python3 tests/tools/error_messages.py --list cli policy
	[ "$status" -eq 0 ]
	n=$(grep -vc 'phrases=None' <<<"$output")
	[ "$n" -ge 150 ] || { echo "only $n messages found"; false; }
	# messages we know exist, from each reporter
	grep -q "unknown key source" <<<"$output"            # errx_
	grep -q "no audit log at" <<<"$output"               # verr
	grep -q "bad --business-hours" <<<"$output"          # rerr
	grep -q "unknown verb" <<<"$output"                  # fprintf(stderr
	grep -q "unknown key '%s%s%s'" <<<"$output"          # policy fail
	grep -q "compliance profile '%s' not found" <<<"$output"   # policy errf
	grep -q "duplicate key" <<<"$output"                 # toml perr_at
}

@test "the check fails when a message is not documented" {
	tmp="$BATS_TEST_TMPDIR/copy"
	mkdir -p "$tmp/tests/tools" "$tmp/docs" "$tmp/cli" "$tmp/policy"
	cp tests/tools/error_messages.py "$tmp/tests/tools/"
	cp docs/operator-guide.md "$tmp/docs/"
	cp cli/*.c "$tmp/cli/"; cp policy/*.c "$tmp/policy/"
	printf 'void f(void) { errx_("frobnicated the %%s beyond repair", "x"); }\n' >"$tmp/cli/zz_new.c"
	run python3 "$tmp/tests/tools/error_messages.py" --check
	[ "$status" -eq 1 ]
	[[ "$output" == *"cli/zz_new.c:1:"*"frobnicated the"* ]] || { echo "$output"; false; }
}

@test "docs/configuration.md's profile-requirements table drifts when a profile changes" {
	tmp="$BATS_TEST_TMPDIR/copy2"
	mkdir -p "$tmp/tests/tools" "$tmp/docs" "$tmp/profiles" "$tmp/policy"
	cp tests/tools/compliance_doc.py "$tmp/tests/tools/"
	cp docs/compliance.md docs/configuration.md "$tmp/docs/"
	cp profiles/*.toml "$tmp/profiles/"
	cp policy/config_keys.def "$tmp/policy/"
	run python3 "$tmp/tests/tools/compliance_doc.py" --check
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	sed -i 's/^max = 1000$/max = 500/' "$tmp/profiles/hipaa.toml"
	sed -i 's/^max = 1000$/max = 500/' "$tmp/profiles/pci-dss.toml"
	# keep compliance.md in step, so only configuration.md can drift
	python3 - "$tmp" <<'PY'
import sys, importlib.util, pathlib
spec = importlib.util.spec_from_file_location("cd", pathlib.Path(sys.argv[1]) / "tests/tools/compliance_doc.py")
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
m.DOC.write_text(m.render(m.DOC.read_text()))
PY
	run python3 "$tmp/tests/tools/compliance_doc.py" --check
	[ "$status" -eq 1 ]
	[[ "$output" == *"docs/configuration.md differs"* ]] || { echo "$output"; false; }
	[[ "$output" == *'<= 500 (refuse, `HIPAA-164.312(c)(2)`)'* ]] || { echo "$output"; false; }
}
