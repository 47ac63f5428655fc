#!/usr/bin/env bats
# docs/tutorial.md cannot rot: every ```sh runnable block is executed, in
# order, each in its own `bash -euo pipefail`, all in one fresh temporary
# directory, with the built heliosdb-nano and examples/quickstart first on
# PATH and HELIOSDB_PROFILE_DIR=profiles/ (tests/tools/tutorial_blocks.py).
# A failing block fails the test and names its line in docs/tutorial.md.

# The tutorial has 30 runnable blocks; the floor guards against a renamed
# info string making the test vacuous (raise it when blocks are added).
MIN_BLOCKS=25

setup() {
	cd "$BATS_TEST_DIRNAME/../.."
	TOOL=tests/tools/tutorial_blocks.py
}

@test "the extractor finds at least $MIN_BLOCKS runnable blocks in docs/tutorial.md" {
	run python3 "$TOOL" --count
	[ "$status" -eq 0 ]
	[ "$output" -ge "$MIN_BLOCKS" ] || { echo "only $output runnable blocks (want >= $MIN_BLOCKS)"; false; }
}

@test "no fence in docs/tutorial.md looks runnable without being run" {
	run python3 "$TOOL" --lint
	[ "$status" -eq 0 ] || { echo "$output"; false; }
}

@test "a failing block fails the run and names its line" {
	doc="$BATS_TEST_TMPDIR/doc.md"
	printf '# t\n\n```sh runnable\ntrue\n```\n\n```sh\nfalse\n```\n\n```sh runnable\necho here > f\nfalse\necho never\n```\n' >"$doc"
	run python3 "$TOOL" --run "$doc" --dir "$BATS_TEST_TMPDIR/w"
	[ "$status" -eq 1 ]
	[[ "$output" == *"doc.md:11 (block 2 of 2): exit 1"* ]] || { echo "$output"; false; }
	! grep -qx never <<<"$output"        # the run stopped at the failure
	[ -f "$BATS_TEST_TMPDIR/w/f" ]           # blocks run in the one directory
}

@test "every runnable block of docs/tutorial.md succeeds, in order, in one fresh directory" {
	[ -x ./heliosdb-nano ] || { echo "build first: make build"; false; }
	[ -x ./examples/quickstart ] || { echo "build first: make examples/quickstart"; false; }
	run python3 "$TOOL" --run --dir "$BATS_TEST_TMPDIR/tutorial"
	[ "$status" -eq 0 ] || { echo "$output" | tail -n 60; false; }
	[[ "$output" == *"runnable blocks of docs/tutorial.md passed"* ]]
}
