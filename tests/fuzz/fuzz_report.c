/* fuzz_report.c - libFuzzer target: the reporter's record parser and
 * aggregation (report_feed_line) over hostile log lines, then both writers
 * over whatever was aggregated.  An audit log handed to the auditor's tool
 * can hold anything: the reporter must count it as malformed or aggregate
 * it, never crash, leak or read out of bounds.
 *
 * The input is split at newlines like a log file; every 64th run also
 * writes the JSON and the PDF to /dev/null (the writers parse the kept
 * profile and configuration details again). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned runs;
	struct report_opts o = { .type = (enum report_type)(size % REPORT__TYPE_COUNT), .from_us = INT64_MIN,
		                 .to_us = INT64_MAX, .bh_start = 8, .bh_end = 18, .now_us = INT64_C(1767225600000000) };
	if (size && data[0] == 'P') {   /* a bounded period too */
		o.from_us = INT64_C(1767225600000000);
		o.to_us = INT64_C(1767312000000000);
	}
	struct report *r = NULL;
	if (report_new(&o, &r) != HDB_OK)
		return 0;
	const char *p = (const char *)data, *end = p + size;
	uint64_t ln = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		(void)report_feed_line(r, p, n, 0, ++ln);
		p += n + (nl != NULL);
	}
	if ((++runs & 63) == 0) {
		FILE *f = fopen("/dev/null", "w");
		char err[256];
		int pages;
		if (f) {
			(void)report_write_json(r, f, err, sizeof(err));
			(void)report_write_pdf(r, f, &pages, err, sizeof(err));
			fclose(f);
		}
	}
	report_free(r);
	return 0;
}
