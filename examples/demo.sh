#!/usr/bin/env bash
# demo.sh - `make demo`: the product's main job on an embedded default.
#   1. a development key in demo/keys/dev.key (mode 0400, outside the data dir)
#   2. an encrypted database in demo/data, under the HIPAA profile
#      (examples/config/hipaa.toml: the start is refused if a rule fails)
#   3. examples/quickstart: the tutorial's patient records through the C API
#   4. heliosdb-nano verify --check all: the HIPAA checklist and every value
#      authenticated
#   5. audit-report: the HIPAA report and the access review of this run (PDF)
# Re-running reuses the key and the database.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=./heliosdb-nano
DEMO=demo
KEY=$DEMO/keys/dev.key
DATA=$DEMO/data
CONF=examples/config/hipaa.toml   # paths in it are relative to it: ../../demo/...

mkdir -p "$DEMO/keys"
chmod 700 "$DEMO" "$DEMO/keys"
if [ ! -f "$KEY" ]; then
	echo "==> generating a development key: $KEY (mode 0400)"
	$BIN keygen --output "$KEY"
else
	echo "==> reusing the development key: $KEY"
fi

if [ ! -f "$DATA/data.mdb" ]; then
	echo "==> initialising an encrypted database: $DATA"
	$BIN init --config "$CONF"
else
	echo "==> reusing the database: $DATA"
fi

echo "==> running examples/quickstart (create table, insert patients, read them back)"
./examples/quickstart --config "$CONF"

echo "==> verifying: the HIPAA checklist (✓ passed, ✗ failed or warning) and every stored value"
echo "    (as root, on a shared disk and a container clock, three rules warn: that is expected here)"
$BIN verify --config "$CONF" --check all

echo "==> checking that no patient data is readable on disk"
if grep -a -q -e "John Doe" -e "123-45-6789" -e "patient_records" "$DATA"/*.mdb; then
	echo "FAIL: plaintext found on disk" >&2
	exit 1
fi
echo "    no plaintext names, keys or values in $DATA/data.mdb"

LOG=$DATA.audit/audit.log
echo "==> the audit trail of this run (last records, values never logged):"
if command -v jq >/dev/null; then
	tail -n 8 "$LOG" | jq -c '{seq, event_type, outcome, user, table, rows_affected}'
else
	tail -n 8 "$LOG"
fi
echo "==> verifying the audit chain and its signed checkpoints"
$BIN audit-verify --input "$LOG" --pubkey "$LOG.pub"

echo "==> compliance reports for this run (the reading is itself recorded: audit_access)"
$BIN audit-report --config "$CONF" --type hipaa --output "$DEMO/hipaa-report.pdf"
$BIN audit-report --config "$CONF" --type access-review --output "$DEMO/access-review.pdf"

cat <<MSG

Done. Files:
  key:           $KEY   (keep it apart from the data; back it up separately)
  configuration: $CONF
  database:      $DATA/data.mdb (AES-256-GCM; names and keys hashed, values sealed)
  audit log:     $LOG (JSON lines, hash-chained, Ed25519 checkpoints)
  public key:    $LOG.pub (give it to your auditor: it verifies the checkpoints)
  HIPAA report:  $DEMO/hipaa-report.pdf
  access review: $DEMO/access-review.pdf
Try:
  ./heliosdb-nano stats --config $CONF
  ./heliosdb-nano audit-verify --input $LOG --pubkey $LOG.pub
  ./heliosdb-nano rekey --config $CONF
  ./heliosdb-nano backup --config $CONF --output $DEMO/backup.tar.gz
MSG
