/*
 * fuzz_toml.c - libFuzzer target for the TOML parser and the tagged-JSON
 * encoder.  Any input must either parse or fail with HDB_EPARSE; a parsed
 * tree must encode and free cleanly.  ASan/UBSan catch the rest.
 *
 * The Makefile links every library source into each fuzzer, so this file
 * defines only LLVMFuzzerTestOneInput.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "heliosdb.h"
#include "toml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	if (!devnull) {
		devnull = fopen("/dev/null", "w");
		if (!devnull)
			abort();
	}
	struct toml_value *root = NULL;
	char err[256];
	int rc = toml_parse((const char *)data, size, "fuzz.toml", &root, err, sizeof(err));
	if (rc == HDB_OK) {
		if (toml_to_tagged_json(root, devnull) != HDB_OK)
			abort();
		toml_free(root);
	} else if (rc != HDB_EPARSE && rc != HDB_ENOMEM) {
		abort();   /* the parser promises only these codes */
	} else if (err[0] == '\0') {
		abort();   /* every failure carries a message */
	}
	return 0;
}
