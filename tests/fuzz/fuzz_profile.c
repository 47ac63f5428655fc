/* fuzz_profile.c - libFuzzer target: profile text through the strict profile
 * loader (TOML parse, rule fields, config-key and check tables), then - when
 * it loads - the column rule and an evaluation against the default
 * configuration (read-only by design: profile.c invariant 2), and the word
 * splitter on the raw bytes.  Must never crash or leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[1400];
	struct profile_set *ps = NULL;
	if (profile_set_parse((const char *)data, size, "fuzz.toml", NULL, &ps, err, sizeof(err)) == HDB_OK) {
		static const char *const cols[] = { "card_cvv", "cardCvv", "shipping", "pin_block", "track1Data", "" };
		for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
			(void)profile_column_check(ps, "t", cols[i], err, sizeof(err));
		(void)profile_set_name(ps, 0);
		(void)profile_set_rules(ps);
		struct hdb_config cfg;
		memset(&cfg, 0, sizeof(cfg));
		if (config_defaults(&cfg) == HDB_OK) {
			struct profile_summary sum;
			struct profile_facts facts;
			char *columns[] = { (char *)"t.card_cvv", (char *)"t.id" };
			memset(&facts, 0, sizeof(facts));
			facts.columns = columns;
			facts.ncolumns = 2;
			(void)profile_evaluate(ps, &cfg, NULL, NULL, NULL, NULL, NULL, &sum, err, sizeof(err));
			(void)profile_evaluate(ps, &cfg, NULL, NULL, &facts, NULL, NULL, &sum, err, sizeof(err));
		}
		config_clear(&cfg);
		profile_set_free(ps);
	}
	/* the word splitter: the first half is the name, the rest the term */
	char *s = malloc(size + 2);
	if (!s)
		return 0;
	size_t h = size / 2;
	memcpy(s, data, h);
	s[h] = '\0';
	memcpy(s + h + 1, data + h, size - h);
	s[size + 1] = '\0';
	(void)profile_name_has_word(s, s + h + 1);
	free(s);
	return 0;
}
