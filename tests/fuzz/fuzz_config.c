/* fuzz_config.c - libFuzzer target: configuration text through the strict
 * loader (TOML parse + key table + ranges).  Must never crash or leak. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hdb_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	if (config_defaults(&cfg) != HDB_OK)
		return 0;
	(void)config_load_text(&cfg, (const char *)data, size, "fuzz.toml");
	config_clear(&cfg);
	return 0;
}
