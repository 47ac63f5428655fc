/*
 * progress.h - the one progress display of the long verbs (rekey,
 * audit-report, audit-verify), on stderr (cli/progress.c).
 */
#ifndef HDB_CLI_PROGRESS_H
#define HDB_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct cli_progress {
	const char *label;      /* "rekey", "reading audit log", ... */
	const char *unit;       /* "values": counts are shown; NULL: only the percentage */
	bool tty;               /* stderr is a terminal: a bar redrawn in place */
	bool lines;             /* not a terminal: a line every 10 % (else nothing) */
	int last;               /* the last percentage shown, -1 before the first */
	unsigned delay_ms;      /* nothing is shown before this much time has passed since init */
	struct timespec start;
};

/* cli_progress_init - label and unit as above; lines: whether to print
 * "<label>: N% (done of total <unit>)" lines when stderr is no terminal. */
void cli_progress_init(struct cli_progress *p, const char *label, const char *unit, bool lines);
/* cli_progress_late - the same, showing nothing until a second has passed:
 * work that is usually short prints nothing when it is. */
void cli_progress_late(struct cli_progress *p, const char *label, const char *unit);

/* cli_progress - done of total so far; ends the bar's line at done >= total. */
void cli_progress(struct cli_progress *p, uint64_t done, uint64_t total);

#endif
