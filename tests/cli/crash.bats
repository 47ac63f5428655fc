#!/usr/bin/env bats
# crash.bats - kill -9 at random instants (DESIGN: no acknowledged write is
# lost; a master key rotation is atomic; an interrupted rekey resumes).
#
#   1. during a loop of autocommit puts: every key the writer printed (it
#      prints only after hdb_kv_put() returned HDB_OK) is there afterwards
#   2. during rotate-key: exactly one of the two keys opens the database,
#      and every value is readable with it
#   3. during rekey --batch 50 of ~20k values: the database stays readable,
#      a final rekey completes, no value is lost, older keys are retired
#
# build/loadgen (tests/cli/loadgen.c) is the writer and the checker.

load helpers

setup() {
	hdb_setup
	L=$(loadgen_bin)
}
teardown() { hdb_teardown; }

# start_bg OUT ERR CMD... - starts CMD in the background (stdout to OUT,
# stderr to ERR, bats' fd 3 closed so bats does not wait for it); sets BG.
start_bg() {
	local o=$1 e=$2
	shift 2
	"$@" >"$o" 2>"$e" 3>&- &
	BG=$!
	HDB_BG_PIDS="${HDB_BG_PIDS:-} $BG"
}

# kill_bg - kill -9 $BG and reap it; sets BG_RC to its exit status.
kill_bg() {
	kill -9 "$BG" 2>/dev/null || true
	BG_RC=0
	wait "$BG" || BG_RC=$?
	# reaped: its pid may now be reused, so teardown must not kill it
	HDB_BG_PIDS=$(tr ' ' '\n' <<<"${HDB_BG_PIDS:-}" | grep -vx "$BG" | tr '\n' ' ' || true)
}

@test "crash: kill -9 during autocommit writes loses no acknowledged write (5 rounds)" {
	hdbx init --path "$T/db"
	expect_status 0
	: >"$T/acked"
	start=0
	for round in 1 2 3 4 5; do
		start_bg "$T/keys.$round" "$T/err.$round" "$L" write "$T/db" 0 "$start"
		sleep_ms "$(rand_ms 200 1000)"
		kill_bg
		# killed, not exited on its own (an error would make this vacuous)
		[ "$BG_RC" -eq 137 ] || { echo "round $round: writer exit $BG_RC"; cat "$T/err.$round"; false; }
		# a key is acknowledged once its whole line is out
		if [ -s "$T/keys.$round" ] && [ "$(tail -c 1 "$T/keys.$round" | od -An -tx1 | tr -d ' ')" != "0a" ]; then
			sed -i '$ d' "$T/keys.$round"
		fi
		n=$(wc -l <"$T/keys.$round")
		echo "round $round: $n acknowledged writes from k$start"
		[ "$n" -gt 0 ] || { echo "round $round: no write acknowledged"; cat "$T/err.$round"; false; }
		cat "$T/keys.$round" >>"$T/acked"
		# every key acknowledged in this and all earlier rounds is there
		run "$L" check "$T/db" <"$T/acked"
		echo "$output"
		[ "$status" -eq 0 ]
		[ "$output" = "checked $(wc -l <"$T/acked") keys, 0 missing or wrong" ]
		hdbx verify --path "$T/db"
		expect_status 0
		start=$((start + n + 1000))
	done
}

@test "crash: kill -9 during rotate-key leaves exactly one working key (16 rounds)" {
	keyfile "$T/a.key" "$TEST_KEY"
	keyfile "$T/b.key" "$OTHER_KEY"
	hdbx init --path "$T/db" --key-source "file:$T/a.key"
	expect_status 0
	"$L" fill "$T/db" 3000 500
	cur=a
	completed=0
	interrupted=0
	for round in $(seq 1 16); do
		if [ "$cur" = a ]; then new=b; else new=a; fi
		start_bg "$T/rot.out" "$T/rot.err" "$HDB_BIN" rotate-key --path "$T/db" \
			--key-source "file:$T/$cur.key" --new-key-source "file:$T/$new.key"
		# a whole rotate-key takes a few ms: aim half the kills at that
		if [ $((round % 2)) -eq 1 ]; then
			sleep_ms "$(rand_ms 0 8)"
		else
			sleep_ms "$(rand_ms 0 50)"
		fi
		kill_bg
		[ "$BG_RC" -eq 0 ] || [ "$BG_RC" -eq 137 ] || {
			echo "round $round: rotate-key exit $BG_RC"
			cat "$T/rot.err"
			false
		}
		hdbx verify --path "$T/db" --key-source "file:$T/a.key"
		ra=$status
		no_crash
		hdbx verify --path "$T/db" --key-source "file:$T/b.key"
		rb=$status
		no_crash
		echo "round $round: rotate $cur->$new exit $BG_RC; verify a=$ra b=$rb"
		if [ "$ra" -eq 0 ] && [ "$rb" -eq 3 ]; then
			now=a
		elif [ "$ra" -eq 3 ] && [ "$rb" -eq 0 ]; then
			now=b
		else
			echo "round $round: expected exactly one key to open the database"
			hdbx verify --path "$T/db" --key-source "file:$T/a.key"
			show
			hdbx verify --path "$T/db" --key-source "file:$T/b.key"
			show
			false
		fi
		# a rotation that reported success must have taken effect
		if [ "$BG_RC" -eq 0 ]; then
			[ "$now" = "$new" ] || { echo "rotate-key said done but the old key still opens"; false; }
		fi
		if [ "$now" = "$new" ]; then completed=$((completed + 1)); else interrupted=$((interrupted + 1)); fi
		cur=$now
		run env HELIOSDB_ENCRYPTION_KEY="$(tr -d '\n' <"$T/$cur.key")" "$L" count "$T/db"
		[ "$status" -eq 0 ] || { echo "$output"; false; }
		[ "$output" = "3000" ]
	done
	echo "rotations completed: $completed, interrupted: $interrupted"
}

# wait_progress FILE - waits (up to 20 s) until the background rekey has
# printed a progress line to FILE, or has exited.
wait_progress() {
	local i
	for ((i = 0; i < 4000; i++)); do
		grep -q '^rekey: ' "$1" 2>/dev/null && return 0
		kill -0 "$BG" 2>/dev/null || return 0
		sleep 0.005
	done
}

@test "crash: kill -9 during rekey --batch 50, then a full rekey: nothing lost, old keys retired" {
	hdbx init --path "$T/db"
	expect_status 0
	"$L" fill "$T/db" 20000 2000
	hdbx verify --path "$T/db"
	expect_status 0
	kills=0
	for round in 1 2 3 4 5 6; do
		start_bg "$T/rk.out" "$T/rk.err" "$HDB_BIN" rekey --path "$T/db" --batch 50
		if [ "$round" -eq 1 ]; then
			# surely mid-rekey: right after its first progress report
			wait_progress "$T/rk.err"
		else
			sleep_ms "$(rand_ms 0 300)"
		fi
		kill_bg
		[ "$BG_RC" -eq 0 ] || [ "$BG_RC" -eq 137 ] || { echo "rekey exit $BG_RC"; cat "$T/rk.err"; false; }
		if [ "$BG_RC" -eq 137 ]; then kills=$((kills + 1)); fi
		echo "round $round: rekey exit $BG_RC after: $(tail -n 1 "$T/rk.err")"
		# readable in between, with every value intact
		hdbx verify --path "$T/db"
		expect_status 0
		run "$L" count "$T/db"
		[ "$status" -eq 0 ] || { echo "$output"; false; }
		[ "$output" = "20000" ]
	done
	[ "$kills" -gt 0 ] || { echo "no rekey was interrupted; the test proved nothing"; false; }
	hdbx rekey --path "$T/db" --batch 50
	expect_status 0
	expect_out_contains "Rekey complete"
	hdbx verify --path "$T/db"
	expect_status 0
	grep -Eq 'keyspace +load +20000 values +ok' <<<"$out" || { show; false; }
	# all values sit under one data key
	[ "$(grep -c '^  data key ' <<<"$out")" -eq 1 ] || { show; false; }
	holder=$(sed -n 's/^  data key \([0-9]*\) .*/\1/p' <<<"$out")
	run "$L" count "$T/db"
	[ "$status" -eq 0 ]
	[ "$output" = "20000" ]
	hdbx stats --path "$T/db"
	expect_status 0
	keys=$(grep '^  data key ' <<<"$out")
	echo "$keys"
	[ "$(grep -c . <<<"$keys")" -ge 2 ]
	[ "$(grep -c 'active$' <<<"$keys")" -eq 1 ]
	[ "$(grep -cv 'retired$' <<<"$keys")" -eq 1 ]
	# the key holding the values is the active one
	grep -Eq "^  data key $holder .* active$" <<<"$keys" || { show; false; }
}

# BUG: a resumed rekey reports progress counted from where it resumed but
# against the full total, so it never reaches 100%: hdb_rekey() in
# engine/maint.c starts `done` at 0 even when rekey_start() found a saved
# position.  After a rekey killed at ~50%, `heliosdb-nano rekey` prints
# "rekey: 10% (2000 of 20002 values)" ... and then "Rekey complete" with no
# 100% line (the CLI prints a line per 10% and at done >= total).
#   loadgen fill DB 20000; heliosdb-nano rekey --path DB --batch 1 & sleep 1;
#   kill -9 %1; heliosdb-nano rekey --path DB     # no "rekey: 100%" line
@test "crash: a rekey resumed after kill -9 reports progress up to 100% of the values" {
	hdbx init --path "$T/db"
	expect_status 0
	"$L" fill "$T/db" 20000 2000
	# batch 1: thousands of commits, so the kill surely lands mid-rekey
	start_bg "$T/rk.out" "$T/rk.err" "$HDB_BIN" rekey --path "$T/db" --batch 1
	wait_progress "$T/rk.err"
	kill_bg
	[ "$BG_RC" -eq 137 ] || { echo "rekey was not interrupted (exit $BG_RC)"; cat "$T/rk.err"; false; }
	hdbx rekey --path "$T/db" --batch 1000
	expect_status 0
	expect_out_contains "Rekey complete"
	last=$(tail -n 1 <<<"$err")
	[[ "$last" =~ ^rekey:\ 100%\ \(([0-9]+)\ of\ ([0-9]+)\ values\)$ ]] || { show; false; }
	[ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ]
	[ "${BASH_REMATCH[2]}" -ge 20000 ]
}
