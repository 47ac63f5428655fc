#!/usr/bin/env bats
# profiles.bats - compliance profiles through the real binary (issue 4,
# section 7): for every rule of profiles/{hipaa,pci-dss,gdpr,development}.toml
# one case that starts from a configuration passing that rule, breaks exactly
# that rule and sees it fail (refuse) or warn with its id and citation, in
# `verify --format json` and on the stderr of a data verb (`stats`: exit 4 for
# a refusal).  Then: combined profiles (the strictest wins), --profile, a
# profile file with a typo (FILE:LINE:COL), an unknown profile, and a refused
# start that writes no data but is recorded in the audit log.
#
# Table: each rule test is one line `rule_case PROFILE RULE-ID PREP BREAK
# [ALSO...]`: PREP adjusts the baseline before the database is created (the
# rule must pass there), BREAK changes one thing, and the set of rules whose
# status changed must be exactly RULE-ID plus the ALSO ids (rules that by
# definition test the same fact, e.g. an expired certificate is also one
# expiring within 30 days).  The test "every rule of every profile has a
# case" keeps the table complete when a rule is added.
#
# The key file lives under /dev/shm (tmpfs) and the data under
# $BATS_TEST_TMPDIR, so the "another filesystem" rules can pass; when both
# are on one filesystem those cases skip and say so.

load helpers

ROOT_DIR=$(cd "$BATS_TEST_DIRNAME/../.." && pwd -P)
export HDB_BIN=${HDB_BIN:-$ROOT_DIR/heliosdb-nano}
export HDB_ROOT=${HDB_ROOT:-$ROOT_DIR}
PDIR="$ROOT_DIR/profiles"

setup_file() {
	local root
	root=$(cd "$BATS_TEST_DIRNAME/../.." && pwd -P)
	# id <TAB> profile <TAB> severity <TAB> citation, from the profile files
	python3 - "$root/profiles" >"$BATS_FILE_TMPDIR/rules.tsv" <<'PY'
import sys, tomllib, pathlib
for p in sorted(pathlib.Path(sys.argv[1]).glob("*.toml")):
    d = tomllib.loads(p.read_text())
    for r in d["rule"]:
        print("\t".join([r["id"], d["profile"]["name"], r["severity"], r["citation"]]))
PY
	# TLS material: valid for a year, expiring in 10 days, expired
	local tls="$BATS_FILE_TMPDIR/tls" name days
	mkdir -p "$tls"
	mkcert() { # NAME DAYS [PREFIX...]
		name=$1 days=$2
		shift 2
		"$@" openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
			-days "$days" -keyout "$tls/$name.key" -out "$tls/$name.pem" >/dev/null 2>&1
		chmod 600 "$tls/$name.key"
	}
	mkcert valid 365
	mkcert soon 10
	mkcert expired 30 faketime '-400 days'
}

setup() {
	hdb_setup
	ulimit -S -c 0   # deterministic: the core-dump rules pass unless a test raises it
	RULES="$BATS_FILE_TMPDIR/rules.tsv"
	TLS="$BATS_FILE_TMPDIR/tls"
	KD=$(mktemp -d /dev/shm/hdbprof.XXXXXX)
	DB="$T/db"
	KEY="$KD/master.key"
	PLAIN=
	FAKE=
	declare -gA CFG=()
}

teardown() {
	[ -n "${KD:-}" ] && rm -rf "$KD"
	hdb_teardown
}

# ------------------------------------------------------------------ helpers

rule_sev() { awk -F'\t' -v id="$1" '$1 == id { print $3; exit }' "$RULES"; }
rule_cit() { awk -F'\t' -v id="$1" '$1 == id { print $4; exit }' "$RULES"; }

# baseline PROFILE... - a configuration passing every rule the machine allows
baseline() {
	local p profs=""
	for p in "$@"; do profs="$profs${profs:+, }\"$p\""; done
	keyfile "$KEY"
	CFG=(
		[storage.path]="\"$DB\""
		[storage.secure_delete]=true
		[storage.overwrite_deleted_data]=true
		[encryption.enabled]=true
		[encryption.key_source.File]="\"$KEY\""
		[audit.enabled]=true
		[audit.checkpoint_every]=1000
		[audit.on_failure]='"block"'
		[audit.journald]='"best_effort"'
		[audit.retention.days]=2192
		[audit.retention_justification]='"HIPAA 45 CFR 164.316(b)(2)(i): six years"'
		[compliance.profile_dir]="\"$PDIR\""
		[compliance.profiles]="[$profs]"
	)
}

# write_cfg [FILE [SKIP-KEY]] - CFG as TOML (dotted keys, sorted)
write_cfg() {
	local f=${1:-$T/c.toml} skip=${2:-} k
	: >"$f"
	for k in $(printf '%s\n' "${!CFG[@]}" | sort); do
		[ "$k" = "$skip" ] && continue
		printf '%s = %s\n' "$k" "${CFG[$k]}" >>"$f"
	done
}

# mkdb - creates the database of CFG (without profiles: init itself would be
# refused for PREPs that fail other rules); honours PLAIN and FAKE.
mkdb() {
	write_cfg "$T/init.toml" compliance.profiles
	local args=(init --config "$T/init.toml")
	[ -n "$PLAIN" ] && args+=(--plaintext)
	if [ -n "$FAKE" ]; then
		faketime "$FAKE" "$HDB_BIN" "${args[@]}" >>"$ALL_OUT" 2>&1 || { echo "init under faketime failed"; return 1; }
	else
		hdbx "${args[@]}"
		expect_status 0
	fi
	write_cfg
}

# vjson OUT [ARGS...] - verify --check profile --format json into OUT, and
# OUT.tsv (id, status, severity, citation, evidence, problem: one jq run, so
# lookups are cheap); checks the exit code (4 exactly when a refuse-level
# rule fails, in the process status and in the JSON)
vjson() {
	local o=$1
	shift
	hdbx verify --config "$T/c.toml" --check profile --format json "$@"
	printf '%s\n' "$out" >"$o"
	tsv_of "$o" || { echo "verify printed no JSON"; show; return 1; }
	local ex nf want=0
	IFS=$'\t' read -r _ ex nf <"$o.tsv"
	[ "$nf" -gt 0 ] && want=4
	expect_status "$want"
	[ "$ex" = "$want" ] || { echo "JSON exit $ex, want $want"; return 1; }
}

tsv_of() {
	jq -r '"#\t\(.exit)\t\([.checks[] | select(.status == "fail")] | length)",
		(.checks[] | [.id, .status, .severity, .citation, .evidence, .problem] | @tsv)' "$1" >"$1.tsv"
}

# rfield OUT ID FIELD - one field of one rule (from OUT.tsv)
rfield() {
	awk -F'\t' -v id="$2" -v f="$3" 'BEGIN { split("id status severity citation evidence problem", n, " ");
		for (i in n) c[n[i]] = i } $1 == id { print $c[f]; exit }' "$1.tsv"
}
rstatus() { rfield "$1" "$2" status; }

# changed A B - ids whose status differs between two verify outputs
changed() {
	awk -F'\t' 'NR == FNR { if ($1 != "#") s[$1] = $2; next } $1 != "#" && s[$1] != $2 { print $1 }' \
		"$1.tsv" "$2.tsv" | sort | tr '\n' ' '
}
nfail() { awk -F'\t' 'NR == 1 { print $3 }' "$1.tsv"; }

nonpass() { awk -F'\t' '$1 != "#" && $2 != "pass" { print $1, $2, $5 }' "$1.tsv"; }

# rule_case PROFILE ID PREP BREAK [ALSO...]
rule_case() {
	local prof=$1 id=$2 prep=$3 brk=$4
	shift 4
	local sev cit want got
	sev=$(rule_sev "$id")
	cit=$(rule_cit "$id")
	[ -n "$sev" ] || { echo "no rule $id in $PDIR"; return 1; }
	want=warn
	[ "$sev" = refuse ] && want=fail
	baseline "$prof"
	"$prep"
	mkdb
	vjson "$T/a.json"
	got=$(rstatus "$T/a.json" "$id")
	[ "$got" = pass ] || { echo "baseline: $id is '$got', not pass"; nonpass "$T/a.json"; return 1; }
	[ "$(rfield "$T/a.json" "$id" citation)" = "$cit" ]
	[ "$(rfield "$T/a.json" "$id" severity)" = "$sev" ]
	"$brk"
	write_cfg
	vjson "$T/b.json"
	got=$(rstatus "$T/b.json" "$id")
	[ "$got" = "$want" ] || { echo "broken: $id is '$got', want $want"; nonpass "$T/b.json"; return 1; }
	[ -n "$(rfield "$T/b.json" "$id" problem)" ] || { echo "$id failed without a problem text"; return 1; }
	# exactly this rule broke (and the ALSO ids, which test the same fact)
	local ch ex
	ch=$(changed "$T/a.json" "$T/b.json")
	# (an ALSO id that did not pass in the baseline, e.g. KEYFS when key and
	# data share a filesystem, cannot change)
	local a alsos=("$id")
	for a in "$@"; do
		[ "$(rstatus "$T/a.json" "$a")" = pass ] && alsos+=("$a")
	done
	ex=$(printf '%s\n' "${alsos[@]}" | sort | tr '\n' ' ')
	[ "$ch" = "$ex" ] || { echo "changed: [$ch], expected [$ex]"; nonpass "$T/b.json"; return 1; }
	# a data verb: refused with the rule's line, or started with the warning
	hdbx stats --config "$T/c.toml"
	if [ "$want" = fail ]; then
		expect_status 4
		expect_err_contains "heliosdb-nano: $id ($cit): "
		expect_err_contains "refused to start"
	else
		local st=0
		[ "$(nfail "$T/b.json")" -gt 0 ] && st=4
		expect_status "$st"
		expect_err_contains "heliosdb-nano: warning: $id ($cit): "
	fi
}

same_fs() { [ "$(stat -c %d "$KD")" = "$(stat -c %d "$T")" ]; }

# ---- PREPs (before the database is created)
noop() { :; }
plaintext() {
	PLAIN=1
	CFG[encryption.enabled]=false
}
aged() { FAKE='-40 days'; }   # keys set 40 days ago; default interval 90 passes
tls_on() {
	CFG[server.enabled]=true
	CFG[server.ssl_enabled]=true
	CFG[server.ssl.cert_file]="\"$TLS/valid.pem\""
	CFG[server.ssl.key_file]="\"$TLS/valid.key\""
	CFG[server.ssl.min_tls_version]='"1.2"'
}
needs_other_fs() {
	same_fs && skip "the key dir $KD and the data dir $T are on one filesystem (st_dev $(stat -c %d "$T")): the baseline cannot pass this rule"
	return 0
}

# ---- BREAKs (one change each)
enc_off() {
	# an encrypted database cannot be opened with encryption off: a plaintext one
	DB="$T/plain"
	CFG[storage.path]="\"$DB\""
	CFG[encryption.enabled]=false
	PLAIN=1
	mkdb
}
audit_off() { CFG[audit.enabled]=false; }
no_reads() { CFG[audit.log_reads]=false; }
no_writes() { CFG[audit.log_writes]=false; }
no_deletes() { CFG[audit.log_deletes]=false; }
no_schema() { CFG[audit.log_schema_changes]=false; }
no_keyevents() { CFG[audit.log_encryption_events]=false; }
continue_on_failure() { CFG[audit.on_failure]='"continue"'; }
retention_400() { CFG[audit.retention.days]=400; }
retention_300() { CFG[audit.retention.days]=300; }
retention_400_unjustified() {
	CFG[audit.retention.days]=400
	unset 'CFG[audit.retention_justification]'
}
checkpoint_1001() { CFG[audit.checkpoint_every]=1001; }
log_world_readable() { chmod 0644 "$DB.audit/audit.log"; }
journald_off() { CFG[audit.journald]='"off"'; }
key_in_datadir() {
	cp "$KEY" "$DB/master.key"
	chmod 0400 "$DB/master.key"
	CFG[encryption.key_source.File]="\"$DB/master.key\""
}
key_same_fs() {
	needs_other_fs
	cp "$KEY" "$T/master.key"
	chmod 0400 "$T/master.key"
	CFG[encryption.key_source.File]="\"$T/master.key\""
}
key_0600() { chmod 0600 "$KEY"; }
key_from_env() {
	unset 'CFG[encryption.key_source.File]'
	CFG[encryption.key_source.Environment]='"HDB_PROFILES_TEST_KEY"'
	HDB_PROFILES_TEST_KEY=$(cat "$KEY")
	export HDB_PROFILES_TEST_KEY
}
interval_20() { CFG[encryption.key_rotation.interval_days]=20; }  # 40 > 20 (warn), 40 < 20 + 30 (grace)
interval_1() { CFG[encryption.key_rotation.interval_days]=1; }    # 40 > 1 + 30: past the grace period
datadir_0750() { chmod 0750 "$DB"; }
core_on() {
	local hard
	hard=$(ulimit -H -c)
	[ "$hard" != 0 ] || skip "the hard RLIMIT_CORE is 0: core dumps cannot be enabled to break this rule"
	ulimit -S -c "$hard"
}
no_secure_delete() { CFG[storage.secure_delete]=false; }
no_overwrite() { CFG[storage.overwrite_deleted_data]=false; }
tls_off() { CFG[server.ssl_enabled]=false; }
tls_11() { CFG[server.ssl.min_tls_version]='"1.1"'; }
tls_key_world() {
	cp "$TLS/valid.key" "$T/world.key"
	chmod 0644 "$T/world.key"
	CFG[server.ssl.key_file]="\"$T/world.key\""
}
tls_expired() {
	CFG[server.ssl.cert_file]="\"$TLS/expired.pem\""
	CFG[server.ssl.key_file]="\"$TLS/expired.key\""
}
tls_soon() {
	CFG[server.ssl.cert_file]="\"$TLS/soon.pem\""
	CFG[server.ssl.key_file]="\"$TLS/soon.key\""
}

# ---- environment-dependent rules

# not_root: root breaks it; uid 65534 (setpriv) on its own database passes
root_case() {
	local prof=$1 id=$2 cit
	cit=$(rule_cit "$id")
	baseline "$prof"
	mkdb
	vjson "$T/a.json"
	if [ "$(id -u)" != 0 ]; then
		[ "$(rstatus "$T/a.json" "$id")" = pass ]
		skip "not running as root: the break case (run as root) cannot be made"
	fi
	[ "$(rstatus "$T/a.json" "$id")" = warn ]
	[ "$(rfield "$T/a.json" "$id" evidence)" = "effective uid 0" ]
	hdbx stats --config "$T/c.toml"
	expect_status 0
	expect_err_contains "heliosdb-nano: warning: $id ($cit): "
	# the passing case, as nobody on a database and key nobody owns
	command -v setpriv >/dev/null || skip "setpriv is not installed: cannot run as another user"
	local n="$KD/nobody" as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	chmod 0711 "$KD"
	mkdir -m 0700 "$n"
	chown 65534:65534 "$n"
	"${as[@]}" "$HDB_BIN" keygen --output "$n/master.key" 2>/dev/null ||
		skip "uid 65534 cannot run $HDB_BIN (a parent directory is not searchable)"
	DB="$n/db" KEY="$n/master.key"
	CFG[storage.path]="\"$DB\""
	CFG[encryption.key_source.File]="\"$KEY\""
	write_cfg "$n/c.toml"
	chmod 0644 "$n/c.toml"
	"${as[@]}" "$HDB_BIN" init --config "$n/c.toml" >>"$ALL_OUT" 2>&1
	"${as[@]}" "$HDB_BIN" verify --config "$n/c.toml" --check profile --format json >"$T/n.json" 2>>"$ALL_OUT" || true
	tsv_of "$T/n.json"
	[ "$(rstatus "$T/n.json" "$id")" = pass ] || { cat "$T/n.json"; return 1; }
	[ "$(rfield "$T/n.json" "$id" evidence)" = "effective uid 65534" ]
	"${as[@]}" "$HDB_BIN" stats --config "$n/c.toml" >/dev/null 2>"$T/n.err" || true
	refute_in "$id" "$T/n.err"
}

# clock_synchronized: cannot be forced either way; the expected state comes
# from adjtimex(2) itself (STA_UNSYNC 0x40, TIME_ERROR 5)
clock_case() {
	local prof=$1 id=$2 cit want
	cit=$(rule_cit "$id")
	want=$(python3 - <<'PY'
import ctypes
class Timex(ctypes.Structure):
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("rest", ctypes.c_char * 256)]
libc = ctypes.CDLL(None, use_errno=True)
tx = Timex()   # modes = 0: read only
st = libc.adjtimex(ctypes.byref(tx))
print("warn" if st < 0 or st == 5 or (tx.status & 0x40) else "pass")
PY
)
	baseline "$prof"
	mkdb
	vjson "$T/a.json"
	[ "$(rstatus "$T/a.json" "$id")" = "$want" ] || { echo "adjtimex says $want"; rfield "$T/a.json" "$id" evidence; return 1; }
	rfield "$T/a.json" "$id" evidence | grep -q '^adjtimex state '
	hdbx stats --config "$T/c.toml"
	expect_status 0
	if [ "$want" = warn ]; then
		expect_err_contains "heliosdb-nano: warning: $id ($cit): the system clock is not synchronised"
	else
		refute_in_text "$id" "$err"
	fi
}

# fips_provider: the rule fails when encryption.fips = true and no FIPS
# provider loads (Debian 12 ships none).  The engine also refuses FIPS mode
# when it loads the key, so the rule is seen for a database not yet created.
fips_case() {
	local prof=$1 id=$2 cit
	cit=$(rule_cit "$id")
	baseline "$prof"
	mkdb
	vjson "$T/a.json"
	[ "$(rstatus "$T/a.json" "$id")" = pass ]
	CFG[encryption.fips]=true
	write_cfg
	if openssl list -providers -provider fips >/dev/null 2>&1; then
		skip "an OpenSSL FIPS provider is installed: the rule cannot be broken here"
	fi
	# the existing database: not started (the key load refuses FIPS mode too)
	hdbx stats --config "$T/c.toml"
	[ "$status" -ne 0 ] || { show; return 1; }
	grep -q FIPS <<<"$err" || { show; return 1; }
	# a new one: the rule refuses before anything is created
	CFG[storage.path]="\"$T/new\""
	write_cfg
	vjson "$T/b.json"
	[ "$(rstatus "$T/b.json" "$id")" = fail ]
	[ "$(rfield "$T/b.json" "$id" evidence)" = "the OpenSSL FIPS provider is not available" ]
	hdbx init --config "$T/c.toml"
	expect_status 4
	expect_err_contains "heliosdb-nano: $id ($cit): encryption.fips = true but the OpenSSL FIPS provider cannot be loaded"
	[ ! -e "$T/new" ] && [ ! -e "$T/new.audit" ]
}

# ------------------------------------------------------------ HIPAA

@test "HIPAA-164.312(a)(2)(iv): encryption off" { rule_case hipaa 'HIPAA-164.312(a)(2)(iv)' noop enc_off; }
@test "HIPAA-164.312(b): audit off" { rule_case hipaa 'HIPAA-164.312(b)' noop audit_off; }
@test "HIPAA-164.312(b)-READS: reads not logged" { rule_case hipaa 'HIPAA-164.312(b)-READS' noop no_reads; }
@test "HIPAA-164.312(b)-WRITES: writes not logged" { rule_case hipaa 'HIPAA-164.312(b)-WRITES' noop no_writes; }
@test "HIPAA-164.312(b)-DELETES: deletes not logged" { rule_case hipaa 'HIPAA-164.312(b)-DELETES' noop no_deletes; }
@test "HIPAA-164.312(b)-SCHEMA: DDL not logged" { rule_case hipaa 'HIPAA-164.312(b)-SCHEMA' noop no_schema; }
@test "HIPAA-164.312(b)-KEYS: key events not logged" { rule_case hipaa 'HIPAA-164.312(b)-KEYS' noop no_keyevents; }
@test "HIPAA-164.312(b)-BLOCK: on_failure continue" { rule_case hipaa 'HIPAA-164.312(b)-BLOCK' noop continue_on_failure; }
@test "HIPAA-164.316(b)(2)(i): retention 400 days" { rule_case hipaa 'HIPAA-164.316(b)(2)(i)' noop retention_400; }
@test "HIPAA-164.312(c)(2): checkpoint every 1001" { rule_case hipaa 'HIPAA-164.312(c)(2)' noop checkpoint_1001; }
@test "HIPAA-164.312(c)(1): world-readable audit log" { rule_case hipaa 'HIPAA-164.312(c)(1)' noop log_world_readable; }
@test "HIPAA-164.312(b)-CLOCK: matches adjtimex" { clock_case hipaa 'HIPAA-164.312(b)-CLOCK'; }
@test "HIPAA-164.312(a)(2)(iv)-KEYLOC: key inside the data dir" { rule_case hipaa 'HIPAA-164.312(a)(2)(iv)-KEYLOC' noop key_in_datadir 'HIPAA-164.312(a)(2)(iv)-KEYFS'; }
@test "HIPAA-164.312(a)(2)(iv)-KEYFS: key on the data's filesystem" { rule_case hipaa 'HIPAA-164.312(a)(2)(iv)-KEYFS' needs_other_fs key_same_fs; }
@test "HIPAA-164.312(a)(2)(iv)-KEYPERM: key mode 0600" { rule_case hipaa 'HIPAA-164.312(a)(2)(iv)-KEYPERM' noop key_0600; }
@test "HIPAA-164.312(a)(2)(iv)-KEYENV: Environment key source" { rule_case hipaa 'HIPAA-164.312(a)(2)(iv)-KEYENV' noop key_from_env; }
@test "HIPAA-164.312(a)(2)(iv)-KEYAGE: key older than the interval" { rule_case hipaa 'HIPAA-164.312(a)(2)(iv)-KEYAGE' aged interval_20; }
@test "HIPAA-164.312(a)(1): data dir 0750" { rule_case hipaa 'HIPAA-164.312(a)(1)' noop datadir_0750; }
@test "HIPAA-164.308(a)(3)-ROOT: root warns, uid 65534 passes" { root_case hipaa 'HIPAA-164.308(a)(3)-ROOT'; }
@test "HIPAA-164.312(a)(1)-CORE: core dumps on (plaintext db)" { rule_case hipaa 'HIPAA-164.312(a)(1)-CORE' plaintext core_on; }
@test "HIPAA-164.312(a)(2)(iv)-FIPS: no FIPS provider" { fips_case hipaa 'HIPAA-164.312(a)(2)(iv)-FIPS'; }
@test "HIPAA-164.312(e)(1): server without TLS" { rule_case hipaa 'HIPAA-164.312(e)(1)' tls_on tls_off; }
@test "HIPAA-164.312(e)(1)-VERSION: TLS 1.1" { rule_case hipaa 'HIPAA-164.312(e)(1)-VERSION' tls_on tls_11; }
@test "HIPAA-164.312(e)(1)-FILES: world-readable TLS key" { rule_case hipaa 'HIPAA-164.312(e)(1)-FILES' tls_on tls_key_world; }
@test "HIPAA-164.312(e)(1)-EXPIRED: expired certificate" { rule_case hipaa 'HIPAA-164.312(e)(1)-EXPIRED' tls_on tls_expired 'HIPAA-164.312(e)(1)-EXPIRY'; }
@test "HIPAA-164.312(e)(1)-EXPIRY: certificate expires in 10 days" { rule_case hipaa 'HIPAA-164.312(e)(1)-EXPIRY' tls_on tls_soon; }

# ------------------------------------------------------------ PCI DSS

@test "PCI-3.5.1: encryption off" { rule_case pci-dss 'PCI-3.5.1' noop enc_off; }
@test "PCI-3.3.1: passes without sensitive columns (break: tests/unit/test_profile.c)" {
	baseline pci-dss
	mkdb
	vjson "$T/a.json"
	[ "$(rstatus "$T/a.json" PCI-3.3.1)" = pass ]
	[ "$(rfield "$T/a.json" PCI-3.3.1 evidence)" = "0 column(s) checked, 0 forbidden" ]
	# the quickstart's table (patient_id, name, ssn, ...) has no such column
	run "$(quickstart_bin)" --config "$T/c.toml"
	[ "$status" -eq 0 ]
	vjson "$T/b.json"
	[ "$(rstatus "$T/b.json" PCI-3.3.1)" = pass ]
	[ "$(rfield "$T/b.json" PCI-3.3.1 evidence)" = "6 column(s) checked, 0 forbidden" ]
}
@test "PCI-10.2.1: audit off" { rule_case pci-dss 'PCI-10.2.1' noop audit_off; }
@test "PCI-10.2.1.1: reads not logged" { rule_case pci-dss 'PCI-10.2.1.1' noop no_reads; }
@test "PCI-10.2.1-WRITES: writes not logged" { rule_case pci-dss 'PCI-10.2.1-WRITES' noop no_writes; }
@test "PCI-10.2.1-DELETES: deletes not logged" { rule_case pci-dss 'PCI-10.2.1-DELETES' noop no_deletes; }
@test "PCI-10.2.1.2: DDL not logged" { rule_case pci-dss 'PCI-10.2.1.2' noop no_schema; }
@test "PCI-10.2.1.5: key events not logged" { rule_case pci-dss 'PCI-10.2.1.5' noop no_keyevents; }
@test "PCI-10.3.1: world-readable audit log" { rule_case pci-dss 'PCI-10.3.1' noop log_world_readable; }
@test "PCI-10.3.3: journald off" { rule_case pci-dss 'PCI-10.3.3' noop journald_off; }
@test "PCI-10.3.4: checkpoint every 1001" { rule_case pci-dss 'PCI-10.3.4' noop checkpoint_1001; }
@test "PCI-10.5.1: retention 300 days" { rule_case pci-dss 'PCI-10.5.1' noop retention_300; }
@test "PCI-10.6.1: matches adjtimex" { clock_case pci-dss 'PCI-10.6.1'; }
@test "PCI-10.7.2: on_failure continue" { rule_case pci-dss 'PCI-10.7.2' noop continue_on_failure; }
@test "PCI-3.6.1: key inside the data dir" { rule_case pci-dss 'PCI-3.6.1' noop key_in_datadir 'PCI-3.6.1-KEYFS'; }
@test "PCI-3.6.1-KEYFS: key on the data's filesystem" { rule_case pci-dss 'PCI-3.6.1-KEYFS' needs_other_fs key_same_fs; }
@test "PCI-3.6.1-KEYPERM: key mode 0600" { rule_case pci-dss 'PCI-3.6.1-KEYPERM' noop key_0600; }
@test "PCI-3.6.1-KEYENV: Environment key source refused" { rule_case pci-dss 'PCI-3.6.1-KEYENV' noop key_from_env; }
@test "PCI-3.7.4: key 40 days old, interval 20" { rule_case pci-dss 'PCI-3.7.4' aged interval_20; }
@test "PCI-3.7.4-GRACE: key 40 days old, interval 1 + grace 30" { rule_case pci-dss 'PCI-3.7.4-GRACE' aged interval_1 'PCI-3.7.4'; }
@test "PCI-3.6.1-CORE: core dumps on (plaintext db)" { rule_case pci-dss 'PCI-3.6.1-CORE' plaintext core_on; }
@test "PCI-3.5.1-FIPS: no FIPS provider" { fips_case pci-dss 'PCI-3.5.1-FIPS'; }
@test "PCI-7.2.1: data dir 0750" { rule_case pci-dss 'PCI-7.2.1' noop datadir_0750; }
@test "PCI-7.2.5: root warns, uid 65534 passes" { root_case pci-dss 'PCI-7.2.5'; }
@test "PCI-4.2.1: server without TLS" { rule_case pci-dss 'PCI-4.2.1' tls_on tls_off; }
@test "PCI-4.2.1-VERSION: TLS 1.1" { rule_case pci-dss 'PCI-4.2.1-VERSION' tls_on tls_11; }
@test "PCI-4.2.1-FILES: world-readable TLS key" { rule_case pci-dss 'PCI-4.2.1-FILES' tls_on tls_key_world; }
@test "PCI-4.2.1-EXPIRED: expired certificate" { rule_case pci-dss 'PCI-4.2.1-EXPIRED' tls_on tls_expired 'PCI-4.2.1-EXPIRY'; }
@test "PCI-4.2.1-EXPIRY: certificate expires in 10 days" { rule_case pci-dss 'PCI-4.2.1-EXPIRY' tls_on tls_soon; }

# ------------------------------------------------------------ GDPR

@test "GDPR-32(1)(a): encryption off" { rule_case gdpr 'GDPR-32(1)(a)' noop enc_off; }
@test "GDPR-5(2): audit off" { rule_case gdpr 'GDPR-5(2)' noop audit_off; }
@test "GDPR-5(1)(e): retention 400 without justification" { rule_case gdpr 'GDPR-5(1)(e)' noop retention_400_unjustified; }
@test "GDPR-17: secure_delete off" { rule_case gdpr 'GDPR-17' noop no_secure_delete; }
@test "GDPR-17-OVERWRITE: overwrite_deleted_data off" { rule_case gdpr 'GDPR-17-OVERWRITE' noop no_overwrite; }
@test "GDPR-32-KEYLOC: key inside the data dir" { rule_case gdpr 'GDPR-32-KEYLOC' noop key_in_datadir; }
@test "GDPR-32-KEYPERM: key mode 0600" { rule_case gdpr 'GDPR-32-KEYPERM' noop key_0600; }
@test "GDPR-32-KEYENV: Environment key source warns" { rule_case gdpr 'GDPR-32-KEYENV' noop key_from_env; }
@test "GDPR-32-FIPS: no FIPS provider" { fips_case gdpr 'GDPR-32-FIPS'; }
@test "GDPR-32(1)(b): data dir 0750" { rule_case gdpr 'GDPR-32(1)(b)' noop datadir_0750; }
@test "GDPR-25-ROOT: root warns, uid 65534 passes" { root_case gdpr 'GDPR-25-ROOT'; }
@test "GDPR-32-CORE: core dumps on (plaintext db)" { rule_case gdpr 'GDPR-32-CORE' plaintext core_on; }
@test "GDPR-32-TLS: server without TLS" { rule_case gdpr 'GDPR-32-TLS' tls_on tls_off; }
@test "GDPR-32-TLSVERSION: TLS 1.1" { rule_case gdpr 'GDPR-32-TLSVERSION' tls_on tls_11; }

# ------------------------------------------------------------ development

@test "DEV-ENCRYPTION: encryption off only warns" { rule_case development 'DEV-ENCRYPTION' noop enc_off; }
@test "DEV-AUDIT: audit off only warns" { rule_case development 'DEV-AUDIT' noop audit_off; }
@test "DEV-KEYLOC: key inside the data dir only warns" { rule_case development 'DEV-KEYLOC' noop key_in_datadir; }

# ------------------------------------------------------------ the table itself

@test "profiles: every rule of every profile has a case above, named by its id" {
	local id missing=0
	[ "$(wc -l <"$RULES")" -ge 70 ]
	while IFS=$'\t' read -r id _; do
		if ! grep -qF "@test \"$id: " "$BATS_TEST_FILENAME"; then
			echo "no test for rule $id"
			missing=$((missing + 1))
		fi
	done <"$RULES"
	[ "$missing" -eq 0 ]
}

@test "profiles: the baseline passes every rule but the host's, and the TLS rules say 'not applicable'" {
	baseline hipaa pci-dss gdpr development
	mkdb
	vjson "$T/a.json"
	# only not_root and clock_synchronized may differ from pass on this host
	local bad
	bad=$(jq -r '.checks[] | select(.status != "pass") | .id' "$T/a.json" |
		grep -v -e '-ROOT$' -e '^PCI-7.2.5$' -e '-CLOCK$' -e '^PCI-10.6.1$' || true)
	same_fs && bad=$(grep -v -e 'KEYFS$' <<<"$bad" || true)
	[ -z "$bad" ] || { echo "baseline failures: $bad"; nonpass "$T/a.json"; false; }
	[ "$(jq '.checks | length' "$T/a.json")" -eq "$(wc -l <"$RULES")" ]
	[ "$(jq -c .profiles "$T/a.json")" = '["hipaa","pci-dss","gdpr","development"]' ]
	[ "$(jq -r '[.checks[] | select(.area == "tls") | .evidence] | unique | .[]' "$T/a.json")" = \
		"not applicable: server.enabled = false" ]
	[ "$(jq '[.checks[] | select(.area == "tls")] | length' "$T/a.json")" -eq 12 ]
	# with the server on and valid TLS settings they pass for real
	tls_on
	write_cfg
	vjson "$T/b.json"
	[ "$(jq -r '[.checks[] | select(.area == "tls") | .status] | unique | .[]' "$T/b.json")" = pass ]
	jq -e '[.checks[] | select(.area == "tls") | .evidence | select(startswith("not applicable"))] | length == 0' "$T/b.json"
	# stats starts (warnings only)
	hdbx stats --config "$T/c.toml"
	expect_status 0
}

@test "profiles: GDPR-5(1)(e) passes at 365 days without justification and at 400 with one" {
	baseline gdpr
	unset 'CFG[audit.retention_justification]'
	CFG[audit.retention.days]=365
	mkdb
	vjson "$T/a.json"
	[ "$(rstatus "$T/a.json" 'GDPR-5(1)(e)')" = pass ]
	CFG[audit.retention.days]=400
	CFG[audit.retention_justification]='"German tax law (AO 147) requires ten years"'
	write_cfg
	vjson "$T/b.json"
	[ "$(rstatus "$T/b.json" 'GDPR-5(1)(e)')" = pass ]
	rfield "$T/b.json" 'GDPR-5(1)(e)' evidence | grep -qF 'audit.retention_justification = "German tax law'
}

@test "profiles: a fresh key passes key_age at interval_days = 1; a 40-day-old one at 90 passes too" {
	baseline pci-dss hipaa
	CFG[encryption.key_rotation.interval_days]=1
	mkdb
	vjson "$T/a.json"
	[ "$(rstatus "$T/a.json" PCI-3.7.4)" = pass ]
	[ "$(rstatus "$T/a.json" PCI-3.7.4-GRACE)" = pass ]
	[ "$(rstatus "$T/a.json" 'HIPAA-164.312(a)(2)(iv)-KEYAGE')" = pass ]
	rfield "$T/a.json" PCI-3.7.4-GRACE evidence | grep -q 'limit 31 days'
}

# ------------------------------------------------------------ combined

@test "combined: retention 400 passes PCI-10.5.1 and GDPR but HIPAA refuses (strictest wins)" {
	baseline hipaa pci-dss gdpr
	mkdb
	CFG[audit.retention.days]=400
	write_cfg
	vjson "$T/b.json"
	[ "$(rstatus "$T/b.json" 'HIPAA-164.316(b)(2)(i)')" = fail ]
	[ "$(rstatus "$T/b.json" PCI-10.5.1)" = pass ]
	[ "$(rstatus "$T/b.json" 'GDPR-5(1)(e)')" = pass ]
	hdbx stats --config "$T/c.toml"
	expect_status 4
	expect_err_contains "heliosdb-nano: HIPAA-164.316(b)(2)(i) (45 CFR 164.316(b)(2)(i)): audit.retention.days is 400, required >= 2192"
	refute_in_text "PCI-10.5.1" "$err"
	# without HIPAA the same configuration starts
	CFG[compliance.profiles]='["pci-dss", "gdpr"]'
	write_cfg
	hdbx stats --config "$T/c.toml"
	expect_status 0
}

@test "combined: an Environment key is refused by PCI although HIPAA and GDPR only warn" {
	baseline hipaa pci-dss gdpr
	mkdb
	key_from_env
	write_cfg
	vjson "$T/b.json"
	[ "$(rstatus "$T/b.json" PCI-3.6.1-KEYENV)" = fail ]
	[ "$(rstatus "$T/b.json" 'HIPAA-164.312(a)(2)(iv)-KEYENV')" = warn ]
	[ "$(rstatus "$T/b.json" GDPR-32-KEYENV)" = warn ]
	[ "$(jq .started "$T/b.json")" = false ]
	hdbx stats --config "$T/c.toml"
	expect_status 4
	expect_err_contains "heliosdb-nano: PCI-3.6.1-KEYENV (PCI DSS v4.0.1 3.6.1): "
	expect_err_contains "heliosdb-nano: warning: HIPAA-164.312(a)(2)(iv)-KEYENV (45 CFR 164.312(a)(2)(iv)): "
	expect_err_contains "heliosdb-nano: warning: GDPR-32-KEYENV (GDPR Art. 32(1)(a)): "
	# HIPAA and GDPR alone: it starts, with the warnings
	CFG[compliance.profiles]='["hipaa", "gdpr"]'
	write_cfg
	hdbx stats --config "$T/c.toml"
	expect_status 0
	expect_err_contains "heliosdb-nano: warning: HIPAA-164.312(a)(2)(iv)-KEYENV"
}

@test "--profile adds a profile to the configuration's" {
	baseline gdpr
	CFG[audit.retention.days]=365
	unset 'CFG[audit.retention_justification]'
	mkdb
	vjson "$T/a.json"
	[ "$(jq -c '[.checks[].profile] | unique' "$T/a.json")" = '["gdpr"]' ]
	vjson "$T/b.json" --profile pci-dss
	[ "$(jq -c .profiles "$T/b.json")" = '["gdpr","pci-dss"]' ]
	[ "$(jq -c '[.checks[].profile] | unique' "$T/b.json")" = '["gdpr","pci-dss"]' ]
	[ "$(jq '[.checks[] | select(.profile == "pci-dss")] | length' "$T/b.json")" -eq "$(grep -c $'\tpci-dss\t' "$RULES")" ]
	# the configuration passes GDPR; --profile hipaa makes the start refused
	hdbx stats --config "$T/c.toml"
	expect_status 0
	hdbx stats --config "$T/c.toml" --profile hipaa
	expect_status 4
	expect_err_contains "heliosdb-nano: HIPAA-164.316(b)(2)(i) (45 CFR 164.316(b)(2)(i)): audit.retention.days is 365"
	# naming a profile the config already has evaluates it once
	hdbx verify --config "$T/c.toml" --check profile --format json --profile gdpr
	expect_status 0
	[ "$(jq -c .profiles <<<"$out")" = '["gdpr"]' ]
	[ "$(jq '.checks | length' <<<"$out")" -eq "$(grep -c $'\tgdpr\t' "$RULES")" ]
}

# ------------------------------------------------------------ bad profiles

# typo_case SED-ADDRESS-PATTERN SED-COMMAND MESSAGE - copies hipaa.toml into a
# private profile directory, applies the sed command at the first line
# matching the pattern after the second [[rule]], and expects exit 2 with
# FILE:LINE:COL: naming LINE (or the [[rule]] header, for a missing field).
typo_setup() {
	PD="$T/profiles"
	mkdir -p "$PD"
	cp "$PDIR/hipaa.toml" "$PD/hipaa.toml"
	baseline hipaa
	mkdb
	CFG[compliance.profile_dir]="\"$PD\""
	write_cfg
	# the second rule: HIPAA-164.312(b)
	HDR=$(grep -n '^\[\[rule\]\]' "$PD/hipaa.toml" | sed -n 2p | cut -d: -f1)
}
line_of() { awk -v from="$HDR" -v re="$1" 'NR > from && $0 ~ re { print NR; exit }' "$PD/hipaa.toml"; }
typo_expect() { # LINE MESSAGE
	hdbx stats --config "$T/c.toml"
	expect_status 2
	expect_err_contains "$PD/hipaa.toml:$1:"
	expect_err_contains "$2"
	grep -qE "$PD/hipaa.toml:$1:[0-9]+: " <<<"$err" || { show; false; }
	# verify reports the same, and nothing ran
	hdbx verify --config "$T/c.toml" --check profile
	expect_status 2
	expect_err_contains "$PD/hipaa.toml:$1:"
}

@test "bad profile: an unknown rule key is an error at its line" {
	typo_setup
	local l
	l=$(line_of '^equals = true')
	sed -i "${l}s/^equals/equal/" "$PD/hipaa.toml"
	typo_expect "$l" "unknown key 'equal' in a rule"
}

@test "bad profile: a bad severity is an error at its line" {
	typo_setup
	local l
	l=$(line_of '^severity = ')
	sed -i "${l}s/\"refuse\"/\"fatal\"/" "$PD/hipaa.toml"
	typo_expect "$l" "severity must be \"refuse\" or \"warn\", got \"fatal\""
}

@test "bad profile: an unknown configuration key is an error at its line" {
	typo_setup
	local l
	l=$(line_of '^key = ')
	sed -i "${l}s/audit.enabled/audit.enabeld/" "$PD/hipaa.toml"
	typo_expect "$l" "unknown configuration key 'audit.enabeld'"
}

@test "bad profile: a rule without an id is an error at its [[rule]] line" {
	typo_setup
	local l
	l=$(line_of '^id = ')
	sed -i "${l}d" "$PD/hipaa.toml"
	typo_expect "$HDR" "rule has no 'id'"
}

@test "bad profile: a value of the wrong type and an unknown check name their lines" {
	typo_setup
	local l
	l=$(line_of '^equals = true')
	sed -i "${l}s/true/\"yes\"/" "$PD/hipaa.toml"
	typo_expect "$l" "equals must be a boolean"
	cp "$PDIR/hipaa.toml" "$PD/hipaa.toml"
	l=$(grep -n '^check = "key_file_location"' "$PD/hipaa.toml" | cut -d: -f1)
	sed -i "${l}s/key_file_location/key_file_locaton/" "$PD/hipaa.toml"
	typo_expect "$l" "unknown check 'key_file_locaton'"
}

@test "bad profile: an unknown profile name is a clear error (config and --profile)" {
	baseline gdpr
	mkdb
	CFG[compliance.profiles]='["gdpr", "sox"]'
	write_cfg
	hdbx stats --config "$T/c.toml"
	expect_status 2
	expect_err_contains "compliance profile 'sox' not found: no file $PDIR/sox.toml"
	CFG[compliance.profiles]='["gdpr"]'
	write_cfg
	hdbx stats --config "$T/c.toml" --profile nosuch
	expect_status 2
	expect_err_contains "nosuch"
	expect_err_contains "not found"
	# a name that could escape the profile directory is refused too
	hdbx stats --config "$T/c.toml" --profile ../gdpr
	expect_status 2
	expect_err_contains "profile name '../gdpr' is not valid"
}

# ------------------------------------------------------------ refused starts

@test "a refused start writes no data and is recorded in the audit log, which still verifies" {
	baseline hipaa pci-dss gdpr
	mkdb
	run "$(quickstart_bin)" --config "$T/c.toml"
	[ "$status" -eq 0 ]
	hdbx stats --config "$T/c.toml"
	expect_status 0
	local before log="$DB.audit/audit.log" n0
	before=$(grep -E '^  (table|catalog|internal|keyspace) ' <<<"$out")
	[ -n "$before" ]
	grep -q 'patient_records *3 entries' <<<"$before"
	n0=$(wc -l <"$log")
	cp "$T/c.toml" "$T/good.toml"
	# refused: HIPAA needs 2192 days
	CFG[audit.retention.days]=400
	write_cfg "$T/bad.toml"
	hdbx stats --config "$T/bad.toml"
	expect_status 4
	expect_err_contains "heliosdb-nano: HIPAA-164.316(b)(2)(i) (45 CFR 164.316(b)(2)(i)): "
	hdbx checkpoint --config "$T/bad.toml"
	expect_status 4
	# the data is unchanged
	hdbx stats --config "$T/good.toml"
	expect_status 0
	[ "$(grep -E '^  (table|catalog|internal|keyspace) ' <<<"$out")" = "$before" ]
	# the refusals are in the log: profile_evaluated, outcome denied, naming the rule
	tail -n +"$((n0 + 1))" "$log" >"$T/new.log"
	[ "$(jq -c 'select(.event_type == "profile_evaluated" and .outcome == "denied")' "$T/new.log" | wc -l)" -eq 2 ]
	jq -e -s '[.[] | select(.event_type == "profile_evaluated" and .outcome == "denied")][0] |
		(.error | contains("HIPAA-164.316(b)(2)(i) (45 CFR 164.316(b)(2)(i))"))
		and .detail.started == false and .detail.refusals == 1
		and ([.detail.rules[] | select(.id == "HIPAA-164.316(b)(2)(i)") | .status] == ["fail"])
		and ([.detail.rules[] | select(.id == "PCI-10.5.1") | .status] == ["pass"])' "$T/new.log"
	# the good start after it was recorded as allowed
	[ "$(jq -r 'select(.event_type == "profile_evaluated") | .outcome' "$T/new.log" | tail -n 1)" = success ]
	# config_loaded: the effective configuration and its sha256, for each start
	python3 - "$T/new.log" <<'PY'
import hashlib, json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
cl = [r for r in recs if r["event_type"] == "config_loaded"]
assert len(cl) >= 3, len(cl)
by_file = {}
for r in cl:
    d = r["detail"]
    text = json.dumps(d["config"], separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(text.encode()).hexdigest() == d["sha256"], (d["file"], d["sha256"])
    by_file.setdefault(d["file"].rsplit("/", 1)[-1], set()).add(d["sha256"])
assert set(by_file) == {"bad.toml", "good.toml"}, by_file
assert len(by_file["bad.toml"]) == 1 and len(by_file["good.toml"]) == 1, by_file
assert by_file["bad.toml"] != by_file["good.toml"]
bad = [r for r in cl if r["detail"]["file"].endswith("bad.toml")][0]["detail"]["config"]
assert bad["audit.retention.days"] == 400, bad["audit.retention.days"]
PY
	# the log, refusals included, still verifies
	hdbx audit-verify --input "$log" --pubkey "$log.pub"
	expect_status 0
	expect_out_contains "chain verified"
}

@test "an init refused by a profile creates nothing: no directory, no audit log" {
	baseline hipaa
	CFG[audit.retention.days]=365
	write_cfg
	hdbx init --config "$T/c.toml"
	expect_status 4
	expect_err_contains "heliosdb-nano: HIPAA-164.316(b)(2)(i) (45 CFR 164.316(b)(2)(i)): "
	expect_err_contains "refused to start"
	[ ! -e "$DB" ]
	[ ! -e "$DB.audit" ]
	[ -z "$(ls -A "$T" | grep -v -e '^c.toml$' -e '^all-output.log$' || true)" ] || { ls -la "$T"; false; }
	# verify on it: the checklist, exit 4, still nothing created
	vjson "$KD/v.json"
	[ "$(jq .started "$KD/v.json")" = false ]
	[ ! -e "$DB" ] && [ ! -e "$DB.audit" ]
}
