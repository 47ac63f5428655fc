/*
 * progress.c - see progress.h.  On a terminal: "\r<label> [#####   ]  42%"
 * (with " done/total" when there is a unit), redrawn when the percentage
 * changes (at every call when it shows counts) and ended with a newline at
 * 100 %.  Otherwise, when asked for,
 * "<label>: 40% (done of total <unit>)" each time a multiple of 10 % is
 * passed and at the end, so a log file gets a few lines rather than a
 * stream of carriage returns.
 */
#include <stdio.h>
#include <unistd.h>

#include "progress.h"

void cli_progress_init(struct cli_progress *p, const char *label, const char *unit, bool lines)
{
	p->label = label;
	p->unit = unit;
	p->tty = isatty(STDERR_FILENO) == 1;
	p->lines = lines;
	p->last = -1;
	p->delay_ms = 0;
	clock_gettime(CLOCK_MONOTONIC, &p->start);
}

void cli_progress_late(struct cli_progress *p, const char *label, const char *unit)
{
	cli_progress_init(p, label, unit, true);
	p->delay_ms = 1000;
}

void cli_progress(struct cli_progress *p, uint64_t done, uint64_t total)
{
	if (p->delay_ms && p->last < 0) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long ms = (long)(now.tv_sec - p->start.tv_sec) * 1000 + (now.tv_nsec - p->start.tv_nsec) / 1000000;
		if (ms < (long)p->delay_ms)
			return;
	}
	if (done > total)
		done = total;
	if (p->delay_ms && p->last < 0 && !p->tty && done < total) {
		/* late lines start at the next multiple of 10 %, not at 69 % */
		p->last = total ? (int)(done * 100 / total) : 100;
		return;
	}
	int pct = total ? (int)(done * 100 / total) : 100;
	/* the same percentage again: redrawn only when it shows counts */
	if (pct == p->last && !(p->tty && p->unit && pct < 100))
		return;
	if (p->tty) {
		static const char hashes[] = "########################################";
		int w = (int)sizeof(hashes) - 1, fill = pct * w / 100;
		fprintf(stderr, "\r%s [%.*s%*s] %3d%%", p->label, fill, hashes, w - fill, "", pct);
		if (p->unit)
			fprintf(stderr, " %llu/%llu", (unsigned long long)done, (unsigned long long)total);
		if (pct == 100)
			fputc('\n', stderr);
		fflush(stderr);
	} else if (p->lines && (pct / 10 != p->last / 10 || pct == 100)) {
		fprintf(stderr, "%s: %d%% (%llu of %llu%s%s)\n", p->label, pct, (unsigned long long)done,
		        (unsigned long long)total, p->unit ? " " : "", p->unit ? p->unit : "");
	}
	p->last = pct;
}
