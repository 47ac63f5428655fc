/*
 * quickstart.c - the tutorial's patient-records example through the C API.
 *
 *   HELIOSDB_ENCRYPTION_KEY=$(heliosdb-nano keygen) ./examples/quickstart ./demo/db
 *   ./examples/quickstart --config heliosdb.toml
 *
 * Opens (creating if needed) an encrypted database, creates the table
 * patient_records, inserts three patients in one transaction, reads one
 * back by primary key and scans them all.  Re-running it is fine: the table
 * and rows are replaced.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heliosdb.h"

static int print_row(void *arg, const struct hdb_row *r)
{
	(void)arg;
	const struct hdb_value *id = hdb_row_value(r, 0), *name = hdb_row_value(r, 1),
	                       *diag = hdb_row_value(r, 3);
	printf("  patient %d: %.*s, %.*s\n", id->u.i32, (int)name->u.s.len, name->u.s.ptr, (int)diag->u.s.len,
	       diag->u.s.ptr);
	return 0;
}

int main(int argc, char **argv)
{
	struct hdb_config *cfg = NULL;
	struct hdb_db *db = NULL;
	struct hdb_session *s = NULL;
	struct hdb_row *row = NULL;
	const char *path = NULL;
	int rc;

	if (argc == 3 && strcmp(argv[1], "--config") == 0) {
		rc = hdb_config_load(argv[2], &cfg);
	} else if (argc == 2) {
		rc = hdb_config_new(&cfg);
		path = argv[1];
	} else {
		fprintf(stderr, "usage: quickstart DBDIR | quickstart --config FILE\n");
		return 2;
	}
	if (rc) {
		fprintf(stderr, "quickstart: %s\n", cfg ? hdb_config_errmsg(cfg) : hdb_strerror(rc));
		goto out;
	}
	rc = hdb_open(path, cfg, HDB_OPEN_CREATE, &db);
	if (rc) {
		fprintf(stderr, "quickstart: %s\n", hdb_errmsg(db));
		goto out;
	}
	printf("✓ Encrypted database opened (id %s)\n", hdb_db_id(db));
	printf("✓ Encryption: %s\n", hdb_encryption_info(db));

	struct hdb_principal who = { "doctor_smith", "local", "quickstart" };
	rc = hdb_session_open(db, &who, &s);
	if (rc) {
		fprintf(stderr, "quickstart: %s\n", hdb_errmsg(db));
		goto out;
	}

	/* Schema definition: metadata is encrypted too. */
	const struct hdb_column_def cols[] = {
		{ "patient_id", HDB_T_INT4, true, 1 },
		{ "name", HDB_T_TEXT, true, 0 },
		{ "ssn", HDB_T_TEXT, false, 0 },
		{ "diagnosis", HDB_T_TEXT, false, 0 },
		{ "medications", HDB_T_TEXT, false, 0 },
		{ "created_at", HDB_T_TIMESTAMP, false, 0 },
	};
	hdb_table_drop(s, "patient_records"); /* re-runnable: start afresh */
	rc = hdb_table_create(s, "patient_records", cols, sizeof(cols) / sizeof(cols[0]));
	if (rc) {
		fprintf(stderr, "quickstart: create table: %s\n", hdb_session_errmsg(s));
		goto out;
	}
	printf("✓ Created table patient_records (6 columns, primary key patient_id)\n");

	/* Insert in one transaction: one commit, one fsync. */
	const int64_t now = 1764585045000000; /* 2025-12-01T10:30:45Z */
	const struct hdb_value rows[][6] = {
		{ hdb_int4(1), hdb_text("John Doe"), hdb_text("123-45-6789"), hdb_text("Type 2 Diabetes"),
		  hdb_text("Metformin 500mg"), hdb_timestamp(now) },
		{ hdb_int4(2), hdb_text("Jane Roe"), hdb_text("987-65-4321"), hdb_text("Hypertension"),
		  hdb_text("Lisinopril 10mg"), hdb_timestamp(now) },
		{ hdb_int4(3), hdb_text("Alex Poe"), hdb_null(HDB_T_TEXT), hdb_text("Asthma"),
		  hdb_text("Albuterol"), hdb_timestamp(now) },
	};
	rc = hdb_begin(s, 0);
	if (!rc)
		rc = hdb_insert_batch(s, "patient_records", &rows[0][0], 3, 6);
	if (!rc)
		rc = hdb_commit(s);
	if (rc) {
		fprintf(stderr, "quickstart: insert: %s\n", hdb_session_errmsg(s));
		hdb_abort(s);
		goto out;
	}
	printf("✓ Inserted 3 patients (sealed with AES-256-GCM before they reached the disk)\n");

	struct hdb_value key = hdb_int4(1);
	rc = hdb_get(s, "patient_records", &key, 1, &row);
	if (rc) {
		fprintf(stderr, "quickstart: get: %s\n", hdb_session_errmsg(s));
		goto out;
	}
	const struct hdb_value *name = hdb_row_value(row, 1);
	printf("✓ Read back patient 1 by primary key: %.*s\n", (int)name->u.s.len, name->u.s.ptr);

	printf("✓ Full scan (transparently decrypted):\n");
	rc = hdb_scan(s, "patient_records", print_row, NULL);
	if (rc)
		fprintf(stderr, "quickstart: scan: %s\n", hdb_session_errmsg(s));
out:
	hdb_row_free(row);
	hdb_session_close(s);
	hdb_close(db);
	hdb_config_free(cfg);
	return rc ? 1 : 0;
}
