/*
 * report_pdf.c - the report as a PDF (libharu): A4 portrait, the standard
 * Helvetica and Courier fonts (nothing to embed: the pass/fail marks are
 * drawn as vector paths), one outline entry (bookmark) per section, a
 * running header and footer with "Page i of N" on every page, document
 * metadata, and three vector charts readable in grey print.
 *
 * Layout is a cursor (p->y) running down the page; need(h) starts a new
 * page when h points do not fit.  Tables repeat their header row after a
 * page break.  Headers and footers are drawn after the last page exists,
 * since N is only known then (libharu keeps every page's content stream
 * open until the document is saved).
 *
 * Text is WinAnsi (Windows-1252), the encoding of the standard fonts: the
 * log's UTF-8 is converted, so Western European names ("José Müller",
 * "Søren", "Œuvre") print as written; a character outside Windows-1252
 * ("Łukasz") prints as '?', and the JSON output has every name exactly.
 * (Embedding a Unicode TrueType font was tried: libharu 2.3.0 then writes
 * an invalid ToUnicode CMap, which PDF readers warn about.)
 *
 * Text from the log is untrusted: every string is reduced to printable
 * Windows-1252 (control characters become spaces, invalid UTF-8 '?') and
 * truncated to its cell; nothing from the log reaches the PDF other than
 * as text operands.
 *
 * libharu reports errors through a handler (on_error) which only records
 * the first one: every call after an error is harmless, and the writer
 * checks p->herr once at the end.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hpdf.h>
#include <json-c/json.h>

#include "report_int.h"

#define PAGE_W 595.276f
#define PAGE_H 841.89f
#define LEFT 50.0f
#define RIGHT (PAGE_W - 50.0f)
#define WIDTH (RIGHT - LEFT)
#define TOP (PAGE_H - 70.0f)
#define BOTTOM 60.0f

struct pdf {
	HPDF_Doc doc;
	HPDF_Font f, fb, fm;
	HPDF_Page *pages;
	size_t npages, cap;
	HPDF_Page page;
	float y;
	HPDF_Outline root;
	const struct report *r;
	HPDF_STATUS herr, hdetail;
	bool oom;
};

static void on_error(HPDF_STATUS e, HPDF_STATUS detail, void *user)
{
	struct pdf *p = user;
	if (!p->herr) {
		p->herr = e;
		p->hdetail = detail;
	}
}

/* utf8_len - the length of the valid UTF-8 character at s, or 0. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
	if (n == 0 || (n == 2 && s[0] < 0xC2) || (n == 4 && s[0] > 0xF4))
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	if ((n == 3 && s[0] == 0xE0 && s[1] < 0xA0) || (n == 3 && s[0] == 0xED && s[1] >= 0xA0) ||
	    (n == 4 && s[0] == 0xF0 && s[1] < 0x90) || (n == 4 && s[0] == 0xF4 && s[1] >= 0x90))
		return 0;   /* overlong, surrogate, beyond U+10FFFF */
	return n;
}

/* cp1252 - the Windows-1252 byte of code point u, or 0. */
static unsigned char cp1252(unsigned u)
{
	static const unsigned short hi[32] = {   /* 0x80..0x9F */
		0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0,
		0x017D, 0, 0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A,
		0x0153, 0, 0x017E, 0x0178,
	};
	if (u >= 0x20 && u < 0x7f)
		return (unsigned char)u;
	if (u >= 0xA0 && u <= 0xFF)
		return (unsigned char)u;
	for (unsigned i = 0; i < 32; i++)
		if (hi[i] && hi[i] == u)
			return (unsigned char)(0x80 + i);
	return 0;
}

/* clean - printable Windows-1252 from UTF-8, at most cap - 1 bytes. */
static void clean(const char *in, char *out, size_t cap)
{
	const unsigned char *s = (const unsigned char *)(in ? in : "");
	size_t o = 0;
	while (*s && o + 1 < cap) {
		size_t n = utf8_len(s);
		unsigned u = n == 1 ? s[0] : n == 2 ? (s[0] & 0x1Fu) << 6 | (s[1] & 0x3Fu)
		           : n == 3 ? (s[0] & 0x0Fu) << 12 | (s[1] & 0x3Fu) << 6 | (s[2] & 0x3Fu)
		           : n == 4 ? (s[0] & 0x07u) << 18 | (s[1] & 0x3Fu) << 12 | (s[2] & 0x3Fu) << 6 | (s[3] & 0x3Fu)
		                    : 0xFFFD;
		unsigned char c = u < 0x20 || u == 0x7f || (u >= 0x80 && u < 0xA0) ? ' ' : cp1252(u);
		out[o++] = (char)(c ? c : '?');
		s += n ? n : 1;
	}
	out[o] = '\0';
}

static float tw(HPDF_Font font, float size, const char *s)
{
	HPDF_TextWidth w = HPDF_Font_TextWidth(font, (const HPDF_BYTE *)s, (HPDF_UINT)strlen(s));
	return (float)w.width * size / 1000.0f;
}

/* fit - s cleaned and cut with "..." to fit width points. */
static void fit(HPDF_Font font, float size, const char *s, float width, char *out, size_t cap)
{
	clean(s, out, cap);
	if (tw(font, size, out) <= width)
		return;
	size_t n = strlen(out);
	while (n > 0) {
		n--;
		out[n] = '\0';
		char t[1024];
		snprintf(t, sizeof(t), "%s...", out);
		if (tw(font, size, t) <= width) {
			snprintf(out, cap, "%s", t);
			return;
		}
	}
}

/* text_out - text already made Windows-1252 by clean() (cleaning twice
 * would turn its accented letters into '?'). */
static void text_out(struct pdf *p, HPDF_Font font, float size, float x, float y, const char *c)
{
	HPDF_Page_BeginText(p->page);
	HPDF_Page_SetFontAndSize(p->page, font, size);
	HPDF_Page_TextOut(p->page, x, y, c);
	HPDF_Page_EndText(p->page);
}

/* text_at - UTF-8 text from anywhere */
static void text_at(struct pdf *p, HPDF_Font font, float size, float x, float y, const char *s)
{
	char c[1024];
	clean(s, c, sizeof(c));
	text_out(p, font, size, x, y, c);
}

static void text_right_out(struct pdf *p, HPDF_Font font, float size, float xr, float y, const char *c)
{
	text_out(p, font, size, xr - tw(font, size, c), y, c);
}

static void text_right(struct pdf *p, HPDF_Font font, float size, float xr, float y, const char *s)
{
	char c[1024];
	clean(s, c, sizeof(c));
	text_right_out(p, font, size, xr, y, c);
}

static void new_page(struct pdf *p)
{
	if (p->npages == p->cap) {
		size_t nc = p->cap ? 2 * p->cap : 16;
		HPDF_Page *nv = realloc(p->pages, nc * sizeof(*nv));
		if (!nv) {
			p->oom = true;
			return;
		}
		p->pages = nv;
		p->cap = nc;
	}
	p->page = HPDF_AddPage(p->doc);
	HPDF_Page_SetSize(p->page, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT);
	p->pages[p->npages++] = p->page;
	p->y = TOP;
}

static void need(struct pdf *p, float h)
{
	if (p->y - h < BOTTOM)
		new_page(p);
}

static void rgb(struct pdf *p, float r, float g, float b)
{
	HPDF_Page_SetRGBFill(p->page, r, g, b);
}

/* para - wrapped text at x, width w; advances y. */
static void para_at(struct pdf *p, HPDF_Font font, float size, float x, float w, const char *s)
{
	char buf[4096];
	clean(s, buf, sizeof(buf));
	const char *t = buf;
	float lh = size * 1.35f;
	while (*t) {
		HPDF_REAL rw;
		HPDF_UINT n = HPDF_Font_MeasureText(font, (const HPDF_BYTE *)t, (HPDF_UINT)strlen(t), w, size, 0, 0,
		                                    HPDF_TRUE, &rw);
		if (n == 0)   /* one word longer than the line: cut it */
			n = HPDF_Font_MeasureText(font, (const HPDF_BYTE *)t, (HPDF_UINT)strlen(t), w, size, 0, 0,
			                          HPDF_FALSE, &rw);
		if (n == 0)
			n = 1;
		char line[1024];
		size_t k = n < sizeof(line) - 1 ? n : sizeof(line) - 1;
		memcpy(line, t, k);
		line[k] = '\0';
		need(p, lh);
		text_out(p, font, size, x, p->y - size, line);
		p->y -= lh;
		t += n;
		while (*t == ' ')
			t++;
	}
}

static void para(struct pdf *p, const char *s)
{
	para_at(p, p->f, 9.5f, LEFT, WIDTH, s);
	p->y -= 4;
}

static void paraf(struct pdf *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void paraf(struct pdf *p, const char *fmt, ...)
{
	char b[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b, sizeof(b), fmt, ap);
	va_end(ap);
	para(p, b);
}

static void outline(struct pdf *p, const char *title)
{
	HPDF_Outline o = HPDF_CreateOutline(p->doc, p->root, title, NULL);
	HPDF_Destination d = HPDF_Page_CreateDestination(p->page);
	HPDF_Destination_SetXYZ(d, 0, p->y + 30, 1);
	HPDF_Outline_SetDestination(o, d);
}

/* section - a numbered section on a new page, with its bookmark. */
static void section(struct pdf *p, const char *title)
{
	new_page(p);
	outline(p, title);
	rgb(p, 0.1f, 0.2f, 0.4f);
	text_at(p, p->fb, 16, LEFT, p->y - 16, title);
	rgb(p, 0, 0, 0);
	p->y -= 30;
}

static void sub(struct pdf *p, const char *title)
{
	need(p, 40);
	p->y -= 6;
	text_at(p, p->fb, 11.5f, LEFT, p->y - 11.5f, title);
	p->y -= 18;
}

static void kv(struct pdf *p, const char *k, const char *v)
{
	float lh = 9.5f * 1.35f;
	need(p, lh);
	text_at(p, p->fb, 9.5f, LEFT, p->y - 9.5f, k);
	para_at(p, p->f, 9.5f, LEFT + 170, WIDTH - 170, v && *v ? v : "-");
}

static void kvf(struct pdf *p, const char *k, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void kvf(struct pdf *p, const char *k, const char *fmt, ...)
{
	char b[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b, sizeof(b), fmt, ap);
	va_end(ap);
	kv(p, k, b);
}

/* ------------------------------------------------------------ marks */

static void mark(struct pdf *p, float x, float y, int kind)
{
	/* kind 0: pass (check, dark green), 1: warn (triangle with !, dark
	 * amber), 2: fail (cross, red); the shapes differ in grey print */
	HPDF_Page_GSave(p->page);
	HPDF_Page_SetLineWidth(p->page, 1.6f);
	HPDF_Page_SetLineCap(p->page, HPDF_ROUND_END);
	if (kind == 0) {
		HPDF_Page_SetRGBStroke(p->page, 0.0f, 0.45f, 0.15f);
		HPDF_Page_MoveTo(p->page, x, y + 4);
		HPDF_Page_LineTo(p->page, x + 3, y + 1);
		HPDF_Page_LineTo(p->page, x + 8, y + 8);
		HPDF_Page_Stroke(p->page);
	} else if (kind == 1) {
		HPDF_Page_SetRGBStroke(p->page, 0.6f, 0.4f, 0.0f);
		HPDF_Page_SetLineWidth(p->page, 1.0f);
		HPDF_Page_MoveTo(p->page, x, y);
		HPDF_Page_LineTo(p->page, x + 8, y);
		HPDF_Page_LineTo(p->page, x + 4, y + 8);
		HPDF_Page_ClosePathStroke(p->page);
		HPDF_Page_MoveTo(p->page, x + 4, y + 5.5f);
		HPDF_Page_LineTo(p->page, x + 4, y + 3);
		HPDF_Page_Stroke(p->page);
	} else {
		HPDF_Page_SetRGBStroke(p->page, 0.75f, 0.0f, 0.0f);
		HPDF_Page_MoveTo(p->page, x, y);
		HPDF_Page_LineTo(p->page, x + 8, y + 8);
		HPDF_Page_MoveTo(p->page, x, y + 8);
		HPDF_Page_LineTo(p->page, x + 8, y);
		HPDF_Page_Stroke(p->page);
	}
	HPDF_Page_GRestore(p->page);
}

/* ------------------------------------------------------------ tables */

struct col {
	const char *head;
	float w;
	bool right;
	bool mono;
};

#define ROW_H 13.0f
#define CELL_SIZE 8.0f

static void table_head(struct pdf *p, const struct col *c, size_t n)
{
	need(p, ROW_H * 2);
	HPDF_Page_SetGrayFill(p->page, 0.82f);
	HPDF_Page_Rectangle(p->page, LEFT, p->y - ROW_H, WIDTH, ROW_H);
	HPDF_Page_Fill(p->page);
	HPDF_Page_SetGrayFill(p->page, 0);
	float x = LEFT;
	for (size_t i = 0; i < n; i++) {
		char t[256];
		fit(p->fb, CELL_SIZE, c[i].head, c[i].w - 6, t, sizeof(t));
		if (c[i].right)
			text_right_out(p, p->fb, CELL_SIZE, x + c[i].w - 3, p->y - ROW_H + 4, t);
		else
			text_out(p, p->fb, CELL_SIZE, x + 3, p->y - ROW_H + 4, t);
		x += c[i].w;
	}
	p->y -= ROW_H;
}

/* table_row - one row; a cell starting with "\x01P", "\x01W" or "\x01F" is
 * drawn as a pass/warn/fail mark followed by the rest of the text. */
static void table_row(struct pdf *p, const struct col *c, size_t n, const char *const *cells, size_t rowno)
{
	if (p->y - ROW_H < BOTTOM) {
		new_page(p);
		table_head(p, c, n);
	}
	if (rowno % 2) {
		HPDF_Page_SetGrayFill(p->page, 0.95f);
		HPDF_Page_Rectangle(p->page, LEFT, p->y - ROW_H, WIDTH, ROW_H);
		HPDF_Page_Fill(p->page);
		HPDF_Page_SetGrayFill(p->page, 0);
	}
	float x = LEFT;
	for (size_t i = 0; i < n; i++) {
		const char *s = cells[i] ? cells[i] : "";
		float off = 0;
		if (s[0] == '\x01' && s[1]) {
			mark(p, x + 3, p->y - ROW_H + 3, s[1] == 'P' ? 0 : s[1] == 'W' ? 1 : 2);
			s += 2;
			off = 12;
		}
		HPDF_Font font = c[i].mono ? p->fm : p->f;
		float size = c[i].mono ? 6.5f : CELL_SIZE;
		char t[512];
		fit(font, size, s, c[i].w - 6 - off, t, sizeof(t));
		if (c[i].right)
			text_right_out(p, font, size, x + c[i].w - 3, p->y - ROW_H + 4, t);
		else
			text_out(p, font, size, x + 3 + off, p->y - ROW_H + 4, t);
		x += c[i].w;
	}
	p->y -= ROW_H;
}

static void fmt_u(uint64_t v, char out[32])
{
	snprintf(out, 32, "%llu", (unsigned long long)v);
}

/* list_table - an evidence list: seq, time, type, outcome, user, table, text. */
static void list_table(struct pdf *p, const struct report_list *l, const char *what)
{
	if (l->total == 0) {
		paraf(p, "None in the period: no %s.", what);
		return;
	}
	static const struct col c[] = {
		{ "seq", 42, true, false }, { "time (UTC)", 92, false, false }, { "event", 62, false, false },
		{ "outcome", 42, false, false }, { "user", 60, false, false }, { "table", 55, false, false },
		{ "detail", 142, false, false },
	};
	table_head(p, c, 7);
	for (size_t i = 0; i < l->n; i++) {
		const struct report_item *it = &l->v[i];
		char seq[32], t[32];
		fmt_u(it->seq, seq);
		report_fmt_time(it->us, t);
		const char *cells[] = { seq, t, it->type, it->outcome, it->user, it->table, it->text };
		table_row(p, c, 7, cells, i);
	}
	p->y -= 4;
	if (l->total > l->n)
		paraf(p, "... and %llu others (the first %zu are listed; the JSON report and the log hold all).",
		      (unsigned long long)(l->total - l->n), l->n);
	else
		paraf(p, "%llu in all.", (unsigned long long)l->total);
}

/* ------------------------------------------------------------ charts */

static const float series_grey[RS__COUNT] = { 0.15f, 0.40f, 0.62f, 0.80f, 0.95f };

static double nice_max(double v)
{
	if (v <= 0)
		return 1;
	double e = pow(10, floor(log10(v))), f = v / e;
	double n = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
	return n * e;
}

/* axes - frame, y ticks and labels; returns the y scale (points per unit). */
static float axes(struct pdf *p, float x, float y, float w, float h, double ymax, const char *ylabel)
{
	HPDF_Page_SetGrayFill(p->page, 0);
	HPDF_Page_SetLineWidth(p->page, 0.6f);
	HPDF_Page_SetGrayStroke(p->page, 0);
	HPDF_Page_MoveTo(p->page, x, y + h);
	HPDF_Page_LineTo(p->page, x, y);
	HPDF_Page_LineTo(p->page, x + w, y);
	HPDF_Page_Stroke(p->page);
	for (int i = 0; i <= 5; i++) {
		float ty = y + h * (float)i / 5;
		char lab[32];
		double v = ymax * i / 5;
		if (ymax >= 5 || i == 0 || i == 5)
			snprintf(lab, sizeof(lab), "%.0f", v);
		else
			snprintf(lab, sizeof(lab), "%.1f", v);
		HPDF_Page_SetGrayStroke(p->page, 0.85f);
		HPDF_Page_SetLineWidth(p->page, 0.3f);
		if (i) {
			HPDF_Page_MoveTo(p->page, x, ty);
			HPDF_Page_LineTo(p->page, x + w, ty);
			HPDF_Page_Stroke(p->page);
		}
		HPDF_Page_SetGrayStroke(p->page, 0);
		text_right(p, p->f, 7, x - 3, ty - 2.5f, lab);
	}
	HPDF_Page_BeginText(p->page);
	HPDF_Page_SetFontAndSize(p->page, p->f, 7.5f);
	HPDF_Page_SetTextMatrix(p->page, 0, 1, -1, 0, x - 34, y + h / 2 - tw(p->f, 7.5f, ylabel) / 2);
	HPDF_Page_ShowText(p->page, ylabel);
	HPDF_Page_EndText(p->page);
	return (float)(h / ymax);
}

static void box(struct pdf *p, float x, float y, float w, float h, float grey)
{
	HPDF_Page_SetGrayFill(p->page, grey);
	HPDF_Page_SetGrayStroke(p->page, 0);
	HPDF_Page_SetLineWidth(p->page, 0.4f);
	HPDF_Page_Rectangle(p->page, x, y, w, h);
	HPDF_Page_FillStroke(p->page);
	HPDF_Page_SetGrayFill(p->page, 0);
}

static void legend(struct pdf *p, float x, float y, const char *const *names, const float *greys, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		box(p, x, y, 8, 8, greys[i]);
		text_at(p, p->f, 7.5f, x + 11, y + 1, names[i]);
		x += 20 + tw(p->f, 7.5f, names[i]);
	}
}

/* Day buckets for the two per-day charts: at most 60 bars. */
struct buckets {
	int64_t first, last;   /* days */
	int64_t per;           /* days per bar */
	size_t n;
};

static void day_buckets(const struct report *r, struct buckets *b)
{
	b->first = r->ndays ? r->days[0].day : 0;
	b->last = r->ndays ? r->days[r->ndays - 1].day : 0;
	int64_t span = b->last - b->first + 1;
	b->per = span <= 60 ? 1 : (span + 59) / 60;
	b->n = (size_t)((span + b->per - 1) / b->per);
}

static void x_labels(struct pdf *p, const struct buckets *b, float x, float y, float bw)
{
	size_t step = b->n <= 8 ? 1 : (b->n + 7) / 8;
	for (size_t i = 0; i < b->n; i += step) {
		char d[16];
		report_fmt_day(b->first + (int64_t)i * b->per, d);
		const char *lab = b->n > 1 ? d + 5 : d;   /* "MM-DD" */
		float cx = x + bw * ((float)i + 0.5f);
		text_at(p, p->f, 6.5f, cx - tw(p->f, 6.5f, lab) / 2, y - 9, lab);
	}
}

static void chart_title(struct pdf *p, const char *t, const char *note)
{
	need(p, 230);
	text_at(p, p->fb, 10, LEFT, p->y - 10, t);
	if (note)
		text_at(p, p->f, 7.5f, LEFT, p->y - 21, note);
	p->y -= note ? 30 : 18;
}

static void chart_per_day(struct pdf *p)
{
	const struct report *r = p->r;
	struct buckets b;
	day_buckets(r, &b);
	char note[256], d1[16], d2[16];
	report_fmt_day(b.first, d1);
	report_fmt_day(b.last, d2);
	snprintf(note, sizeof(note), "%s .. %s (UTC), %lld day%s per bar; series: the event types' categories",
	         r->ndays ? d1 : "-", r->ndays ? d2 : "-", (long long)b.per, b.per == 1 ? "" : "s");
	chart_title(p, "Figure 1. Events per day, stacked by type", note);
	float x = LEFT + 45, w = WIDTH - 55, h = 150, y = p->y - h;
	/* sums per bucket */
	uint64_t *sum = calloc(b.n ? b.n : 1, sizeof(*sum) * RS__COUNT);
	if (!sum) {
		p->oom = true;
		return;
	}
	double mx = 0;
	for (size_t i = 0; i < r->ndays; i++) {
		size_t k = (size_t)((r->days[i].day - b.first) / b.per);
		double tot = 0;
		for (int s = 0; s < RS__COUNT; s++) {
			sum[k * RS__COUNT + s] += r->days[i].series[s];
			(void)tot;
		}
	}
	for (size_t k = 0; k < b.n; k++) {
		double tot = 0;
		for (int s = 0; s < RS__COUNT; s++)
			tot += (double)sum[k * RS__COUNT + s];
		if (tot > mx)
			mx = tot;
	}
	double ymax = nice_max(mx);
	float sc = axes(p, x, y, w, h, ymax, "events");
	float bw = w / (float)(b.n ? b.n : 1);
	for (size_t k = 0; r->ndays && k < b.n; k++) {
		float yy = y;
		for (int s = 0; s < RS__COUNT; s++) {
			float bh = (float)sum[k * RS__COUNT + s] * sc;
			if (bh > 0) {
				box(p, x + bw * (float)k + bw * 0.12f, yy, bw * 0.76f, bh, series_grey[s]);
				yy += bh;
			}
		}
	}
	free(sum);
	x_labels(p, &b, x, y, bw);
	legend(p, x, y - 26, report_series_names, series_grey, RS__COUNT);
	p->y = y - 44;
	if (!r->ndays)
		para(p, "No records in the period: the chart is empty.");
}

static void chart_by_hour(struct pdf *p)
{
	const struct report *r = p->r;
	char note[160];
	snprintf(note, sizeof(note), "every record in the period by its hour (UTC); shaded: business hours %02d-%02d",
	         r->o.bh_start, r->o.bh_end);
	chart_title(p, "Figure 2. Activity by hour of day", note);
	float x = LEFT + 45, w = WIDTH - 55, h = 130, y = p->y - h;
	double mx = 0;
	for (int i = 0; i < 24; i++)
		if ((double)r->by_hour[i] > mx)
			mx = (double)r->by_hour[i];
	float bw = w / 24;
	HPDF_Page_SetGrayFill(p->page, 0.93f);
	HPDF_Page_Rectangle(p->page, x + bw * (float)r->o.bh_start, y, bw * (float)(r->o.bh_end - r->o.bh_start), h);
	HPDF_Page_Fill(p->page);
	HPDF_Page_SetGrayFill(p->page, 0);
	float sc = axes(p, x, y, w, h, nice_max(mx), "events");
	for (int i = 0; i < 24; i++) {
		float bh = (float)r->by_hour[i] * sc;
		bool in = i >= r->o.bh_start && i < r->o.bh_end;
		if (bh > 0)
			box(p, x + bw * (float)i + bw * 0.15f, y, bw * 0.7f, bh, in ? 0.35f : 0.75f);
		char lab[8];
		snprintf(lab, sizeof(lab), "%02d", i);
		text_at(p, p->f, 6.5f, x + bw * ((float)i + 0.5f) - tw(p->f, 6.5f, lab) / 2, y - 9, lab);
	}
	static const char *const names[] = { "within business hours", "outside business hours" };
	static const float greys[] = { 0.35f, 0.75f };
	legend(p, x, y - 26, names, greys, 2);
	p->y = y - 44;
}

static void chart_denied(struct pdf *p)
{
	const struct report *r = p->r;
	struct buckets b;
	day_buckets(r, &b);
	chart_title(p, "Figure 3. Denied and failed operations per day", "outcome \"denied\" (refused by policy) and "
	            "\"failure\" (attempted, failed), stacked");
	float x = LEFT + 45, w = WIDTH - 55, h = 120, y = p->y - h;
	uint64_t *sum = calloc(b.n ? b.n * 2 : 2, sizeof(*sum));
	if (!sum) {
		p->oom = true;
		return;
	}
	for (size_t i = 0; i < r->ndays; i++) {
		size_t k = (size_t)((r->days[i].day - b.first) / b.per);
		sum[2 * k] += r->days[i].denied;
		sum[2 * k + 1] += r->days[i].failed;
	}
	double mx = 0;
	for (size_t k = 0; k < b.n; k++)
		if ((double)(sum[2 * k] + sum[2 * k + 1]) > mx)
			mx = (double)(sum[2 * k] + sum[2 * k + 1]);
	float sc = axes(p, x, y, w, h, nice_max(mx), "operations");
	float bw = w / (float)(b.n ? b.n : 1);
	static const float greys[] = { 0.2f, 0.7f };
	for (size_t k = 0; r->ndays && k < b.n; k++) {
		float h1 = (float)sum[2 * k] * sc, h2 = (float)sum[2 * k + 1] * sc;
		if (h1 > 0)
			box(p, x + bw * (float)k + bw * 0.12f, y, bw * 0.76f, h1, greys[0]);
		if (h2 > 0)
			box(p, x + bw * (float)k + bw * 0.12f, y + h1, bw * 0.76f, h2, greys[1]);
	}
	free(sum);
	x_labels(p, &b, x, y, bw);
	static const char *const names[] = { "denied", "failed" };
	legend(p, x, y - 26, names, greys, 2);
	p->y = y - 44;
	if (mx == 0)
		para(p, "No denied or failed operation in the period.");
}

/* ------------------------------------------------------------ sections */

static const char *verdict_line(const struct report *r, char *buf, size_t cap)
{
	const char *w = report_verdict_word(r);
	if (strcmp(w, "verified") == 0)
		snprintf(buf, cap, "Audit integrity: VERIFIED - hash chain and %llu signed checkpoints verified "
		         "(records up to seq %llu signed)", (unsigned long long)r->vres.checkpoints,
		         (unsigned long long)r->vres.last_signed_seq);
	else if (strcmp(w, "tampered") == 0) {
		if (r->findings.n)
			snprintf(buf, cap, "Audit integrity: TAMPERED/INCOMPLETE - first bad record %s:%llu (seq %llu): %s",
			         r->findings.v[0].table, (unsigned long long)r->findings.v[0].us,
			         (unsigned long long)r->findings.v[0].seq, r->findings.v[0].type);
		else
			snprintf(buf, cap, "Audit integrity: TAMPERED/INCOMPLETE");
	} else
		snprintf(buf, cap, "Audit integrity: NOT VERIFIED - %s", r->vwhy[0] ? r->vwhy : "no verification ran");
	return buf;
}

static void period_text(const struct report *r, char *out, size_t cap)
{
	char a[32], b[32];
	report_fmt_time(r->o.from_us, a);
	report_fmt_time(r->o.to_us, b);
	if (r->o.from_us == INT64_MIN && r->o.to_us == INT64_MAX)
		snprintf(out, cap, "all records (no --from or --to)");
	else
		snprintf(out, cap, "%s to %s (from inclusive, to exclusive)",
		         r->o.from_us == INT64_MIN ? "the first record" : a, r->o.to_us == INT64_MAX ? "the last record" : b);
}

static void cover_page(struct pdf *p)
{
	const struct report *r = p->r;
	char b[1024], t[32];
	new_page(p);
	outline(p, "Cover");
	p->y -= 20;
	rgb(p, 0.1f, 0.2f, 0.4f);
	text_at(p, p->fb, 22, LEFT, p->y - 22, report_types[r->o.type].title);
	rgb(p, 0, 0, 0);
	p->y -= 36;
	text_at(p, p->f, 11, LEFT, p->y - 11, "HeliosDB Nano audit report, generated from the audit log");
	p->y -= 30;
	/* the verdict box */
	const char *w = report_verdict_word(r);
	verdict_line(r, b, sizeof(b));
	float bh = 46;
	if (strcmp(w, "tampered") == 0)
		HPDF_Page_SetRGBFill(p->page, 0.85f, 0.05f, 0.05f);
	else if (strcmp(w, "verified") == 0)
		HPDF_Page_SetRGBFill(p->page, 0.0f, 0.42f, 0.18f);
	else
		HPDF_Page_SetRGBFill(p->page, 0.55f, 0.40f, 0.0f);
	HPDF_Page_Rectangle(p->page, LEFT, p->y - bh, WIDTH, bh);
	HPDF_Page_Fill(p->page);
	HPDF_Page_SetRGBFill(p->page, 1, 1, 1);
	float save = p->y;
	p->y -= 8;
	para_at(p, p->fb, 10.5f, LEFT + 10, WIDTH - 20, b);
	p->y = save - bh - 16;
	rgb(p, 0, 0, 0);
	if (strcmp(w, "tampered") == 0) {
		rgb(p, 0.75f, 0, 0);
		para(p, "The audit chain does NOT verify: the figures below come from a log that was altered or is "
		        "incomplete. They are reported as read, and are not evidence until the finding is explained.");
		rgb(p, 0, 0, 0);
	} else if (strcmp(w, "not_verified") == 0)
		para(p, "The audit chain was NOT verified: the figures below are unverified data.");
	char dbids[200] = "";
	for (size_t i = 0; i < r->ndb_ids; i++)
		snprintf(dbids + strlen(dbids), sizeof(dbids) - strlen(dbids), "%s%s", i ? ", " : "", r->db_ids[i]);
	kv(p, "Database id", dbids[0] ? dbids : (r->crypto.db_id ? r->crypto.db_id : "(no record names one)"));
	char hosts[400] = "";
	for (size_t i = 0; i < r->nhosts; i++)
		snprintf(hosts + strlen(hosts), sizeof(hosts) - strlen(hosts), "%s%s", i ? ", " : "", r->hosts[i]);
	kv(p, "Host", hosts);
	char profs[200] = "";
	for (size_t i = 0; i < r->nprofiles_seen; i++)
		snprintf(profs + strlen(profs), sizeof(profs) - strlen(profs), "%s%s", i ? ", " : "", r->profiles_seen[i]);
	kv(p, "Profile(s)", profs[0] ? profs : r->crypto.profiles ? r->crypto.profiles
	                                                          : "(no profile evaluation in the period)");
	kv(p, "Report type", report_types[r->o.type].name);
	period_text(r, b, sizeof(b));
	kv(p, "Reporting period", b);
	report_fmt_time(r->generated_us, t);
	kv(p, "Generated at", t);
	kv(p, "Product", "HeliosDB Nano " HDB_VERSION_STRING " (heliosdb-nano audit-report)");
	kvf(p, "Records in period", "%llu", (unsigned long long)r->in_period);
	p->y -= 6;
	sub(p, "Input files");
	static const struct col c[] = {
		{ "file", 142, false, false }, { "lines", 38, true, false }, { "SHA-256", 315, false, true },
	};
	table_head(p, c, 3);
	for (size_t i = 0; i < r->nin; i++) {
		char ln[32];
		fmt_u(r->in[i].lines, ln);
		const char *cells[] = { r->in[i].path, ln, r->in[i].sha256 };
		table_row(p, c, 3, cells, i);
	}
	p->y -= 14;
	need(p, 120);
	rgb(p, 0.1f, 0.1f, 0.1f);
	text_at(p, p->fb, 10, LEFT, p->y - 10, "Generated by software - requires reviewer sign-off.");
	p->y -= 16;
	para(p, "This report states what the audit log records. A qualified reviewer must check it against the "
	        "system and its procedures before it is used as evidence (see the appendix: limits).");
	p->y -= 10;
	const char *fields[] = { "Reviewer name:", "Role:", "Signature:", "Date:" };
	for (size_t i = 0; i < 4; i++) {
		text_at(p, p->f, 10, LEFT, p->y - 12, fields[i]);
		HPDF_Page_SetLineWidth(p->page, 0.5f);
		HPDF_Page_MoveTo(p->page, LEFT + 90, p->y - 13);
		HPDF_Page_LineTo(p->page, LEFT + 330, p->y - 13);
		HPDF_Page_Stroke(p->page);
		p->y -= 24;
	}
}

static void summary_section(struct pdf *p)
{
	const struct report *r = p->r;
	char b[1024];
	section(p, "1. Executive summary");
	const char *w = report_verdict_word(r);
	if (strcmp(w, "tampered") == 0)
		rgb(p, 0.75f, 0, 0);
	para_at(p, p->fb, 10, LEFT, WIDTH, verdict_line(r, b, sizeof(b)));
	rgb(p, 0, 0, 0);
	p->y -= 6;
	sub(p, "Headline counts");
	char s1[32], s2[32];
	kvf(p, "Records in period", "%llu", (unsigned long long)r->in_period);
	if (r->in_period)
		kvf(p, "Seq range in period", "%llu..%llu", (unsigned long long)r->p_first_seq,
		    (unsigned long long)r->p_last_seq);
	else
		kv(p, "Seq range in period", "-");
	report_fmt_time(r->in_period ? r->p_first_us : INT64_MIN, s1);
	report_fmt_time(r->in_period ? r->p_last_us : INT64_MIN, s2);
	kvf(p, "First / last record", "%s / %s", s1, s2);
	kvf(p, "Successful operations", "%llu", (unsigned long long)r->by_outcome[RO_SUCCESS]);
	kvf(p, "Denied operations", "%llu", (unsigned long long)r->by_outcome[RO_DENIED]);
	kvf(p, "Failed operations", "%llu", (unsigned long long)r->by_outcome[RO_FAILURE]);
	uint64_t ou = report_estimate_distinct(r->users_other_bits, sizeof(r->users_other_bits));
	uint64_t ot = report_estimate_distinct(r->tables_other_bits, sizeof(r->tables_other_bits));
	kvf(p, "Distinct users", "%llu%s", (unsigned long long)(r->umap.n + ou), ou ? " (estimated beyond 1000)" : "");
	kvf(p, "Distinct tables", "%llu%s", (unsigned long long)(r->tmap.n + ot), ot ? " (estimated beyond 1000)" : "");
	kvf(p, "Outside business hours", "%llu", (unsigned long long)r->after_hours);
	kvf(p, "DDL, key and config changes", "%llu", (unsigned long long)r->changes.total);
	kvf(p, "Records in the whole log", "%llu", (unsigned long long)r->records);
	if (r->unencrypted)
		kvf(p, "Records without encryption", "%llu", (unsigned long long)r->unencrypted);
	if (r->malformed)
		kvf(p, "Unreadable lines", "%llu (first: %s)", (unsigned long long)r->malformed, r->first_malformed);
	sub(p, "Compliance profiles (last evaluation)");
	struct report_profile_count pc[16];
	int n = report_profile_counts(r, pc, 16);
	if (n < 0) {
		para(p, "No profile evaluation is recorded in or before the period: the configuration's compliance "
		        "could not be attested from the log.");
		return;
	}
	static const struct col c[] = {
		{ "profile", 155, false, false }, { "rules passed", 110, true, false },
		{ "warnings", 110, true, false }, { "failures", 120, true, false },
	};
	table_head(p, c, 4);
	for (int i = 0; i < n; i++) {
		char a[32], bb[32], cc[32], nm[40];
		fmt_u(pc[i].passed, a);
		fmt_u(pc[i].warnings, bb);
		fmt_u(pc[i].failures, cc);
		snprintf(nm, sizeof(nm), "\x01%c%.23s", pc[i].failures ? 'F' : pc[i].warnings ? 'W' : 'P', pc[i].profile);
		const char *cells[] = { nm, a, bb, cc };
		table_row(p, c, 4, cells, (size_t)i);
	}
}

static const char *jget(struct json_object *o, const char *k)
{
	struct json_object *v;
	if (o && json_object_object_get_ex(o, k, &v) && !json_object_is_type(v, json_type_null))
		return json_object_is_type(v, json_type_string) ? json_object_get_string(v)
		                                                : json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
	return "";
}

static void attest_section(struct pdf *p)
{
	const struct report *r = p->r;
	section(p, "2. Configuration attestation");
	const struct report_blob *b = report_eval(r);
	const char *filter = report_types[r->o.type].profile;
	char t[32];
	if (!b) {
		para(p, "No \"profile_evaluated\" record is in the log up to the end of the period: no attestation of the "
		        "configuration against a compliance profile can be made from this log.");
	} else {
		report_fmt_time(b->us, t);
		paraf(p, "From the profile evaluation recorded at seq %llu (%s), %s; outcome %s.",
		      (unsigned long long)b->seq, t, b->in_period ? "the last one in the period"
		                                                 : "the last one BEFORE the period (none in it)",
		      b->outcome);
		struct json_object *d = json_tokener_parse(b->json), *rules;
		size_t shown = 0, row = 0;
		if (filter)
			paraf(p, "Rules of the %s profile:", filter);
		static const struct col c[] = {
			{ "status", 46, false, false },  { "rule", 95, false, false },    { "citation", 90, false, false },
			{ "required", 170, false, false }, { "actual", 94, false, false },
		};
		if (d && json_object_object_get_ex(d, "rules", &rules) && json_object_is_type(rules, json_type_array)) {
			table_head(p, c, 5);
			for (size_t i = 0; i < json_object_array_length(rules); i++) {
				struct json_object *ru = json_object_array_get_idx(rules, i);
				if (filter && strcmp(report_rule_profile(jget(ru, "id")), filter) != 0)
					continue;
				const char *st = jget(ru, "status");
				char sc[24];
				snprintf(sc, sizeof(sc), "\x01%c%s", strcmp(st, "pass") == 0 ? 'P' : strcmp(st, "warn") == 0 ? 'W' : 'F',
				         st);
				const char *cells[] = { sc, jget(ru, "id"), jget(ru, "citation"), jget(ru, "required"),
					                jget(ru, "actual") };
				table_row(p, c, 5, cells, row++);
				shown++;
			}
			p->y -= 4;
			if (!shown)
				para(p, "No rule of this profile is in the evaluation.");
			/* the fixes, for what did not pass */
			bool head = false;
			for (size_t i = 0; i < json_object_array_length(rules); i++) {
				struct json_object *ru = json_object_array_get_idx(rules, i);
				if (filter && strcmp(report_rule_profile(jget(ru, "id")), filter) != 0)
					continue;
				if (strcmp(jget(ru, "status"), "pass") == 0)
					continue;
				if (!head) {
					sub(p, "Findings and fixes");
					head = true;
				}
				paraf(p, "%s (%s) %s: %s. Fix: %s", jget(ru, "id"), jget(ru, "citation"), jget(ru, "status"),
				      jget(ru, "statement"), jget(ru, "fix"));
			}
		} else
			para(p, "The evaluation record carries no rules.");
		json_object_put(d);
	}
	sub(p, "Configuration at each start");
	if (!r->configs.total)
		para(p, "No \"config_loaded\" record in the period.");
	else {
		static const struct col c[] = {
			{ "seq", 40, true, false }, { "time (UTC)", 92, false, false }, { "file", 103, false, false },
			{ "SHA-256 of the effective configuration", 260, false, true },
		};
		table_head(p, c, 4);
		for (size_t i = 0; i < r->configs.n; i++) {
			const struct report_item *it = &r->configs.v[i];
			char seq[32], file[REPORT_TEXT_LEN];
			fmt_u(it->seq, seq);
			report_fmt_time(it->us, t);
			snprintf(file, sizeof(file), "%s", it->text);
			char *bar = strchr(file, '|');
			const char *sha = bar ? bar + 1 : "";
			if (bar)
				*bar = '\0';
			const char *cells[] = { seq, t, file, *sha ? sha : "(not recorded)" };
			table_row(p, c, 4, cells, i);
		}
		p->y -= 4;
		if (r->configs.total > r->configs.n)
			paraf(p, "... and %llu others.", (unsigned long long)(r->configs.total - r->configs.n));
	}
	sub(p, "Profile evaluations in the period");
	list_table(p, &r->evals, "profile evaluation");
}

static void crypto_section(struct pdf *p)
{
	const struct report *r = p->r;
	const struct report_crypto *c = &r->crypto;
	char b[512], v[128];
	section(p, "3. Cryptography");
	kv(p, "Algorithm", c->have_config && c->algorithm ? c->algorithm : "AES-256-GCM (the only one supported)");
	b[0] = '\0';
	if (c->have_config && c->key_source)
		snprintf(b, sizeof(b), "%s (configuration)", c->key_source);
	for (size_t i = 0; i < r->nkey_sources; i++)
		snprintf(b + strlen(b), sizeof(b) - strlen(b), "%s%s (key_loaded records)", b[0] ? "; " : "",
		         r->key_sources[i]);
	kv(p, "Master key source kind", b[0] ? b : "(not recorded)");
	if (c->have_config)
		kv(p, "FIPS mode", c->fips ? "required (encryption.fips = true)" : "not required");
	else
		kv(p, "FIPS mode", report_config_value(r, "encryption.fips", v, sizeof(v)) ? v : "(not recorded)");
	if (c->have_config) {
		kvf(p, "Encryption limit per key", "%llu (NIST SP 800-38D: random nonces, below 2^32)",
		    (unsigned long long)c->max_encryptions);
		kvf(p, "Cryptoperiod", "%u days (key rotation %s)", c->cryptoperiod_days,
		    c->rotation_enabled ? "scheduled" : "not scheduled");
	}
	if (r->unencrypted)
		kvf(p, "Records without encryption", "%llu records state encryption_enabled = false",
		    (unsigned long long)r->unencrypted);
	sub(p, "Data keys");
	if (r->keys_unavailable || !r->nkeys) {
		paraf(p, "Key inventory not available: %s.", r->keys_unavailable ? r->keys_why : "no data key listed");
	} else {
		static const struct col cc[] = {
			{ "key id", 50, true, false },       { "created (UTC)", 95, false, false },
			{ "age (days)", 70, true, false },   { "vs cryptoperiod", 80, false, false },
			{ "encryptions", 80, true, false },  { "of limit", 55, true, false }, { "status", 65, false, false },
		};
		table_head(p, cc, 7);
		for (size_t i = 0; i < r->nkeys; i++) {
			const struct report_key *k = &r->keys[i];
			char id[32], cr[32], age[32], per[40], enc[32], lim[32];
			int64_t a = (r->generated_us / 1000000 - k->created) / 86400;
			snprintf(id, sizeof(id), "%u", k->key_id);
			report_fmt_time(k->created * 1000000, cr);
			snprintf(age, sizeof(age), "%lld", (long long)(a < 0 ? 0 : a));
			bool over = c->cryptoperiod_days && !k->retired && a > (int64_t)c->cryptoperiod_days;
			snprintf(per, sizeof(per), "\x01%c%s", over ? 'W' : 'P', over ? "older" : "within");
			fmt_u(k->encryptions, enc);
			snprintf(lim, sizeof(lim), "%.4f%%",
			         c->max_encryptions ? 100.0 * (double)k->encryptions / (double)c->max_encryptions : 0.0);
			const char *cells[] = { id, cr, age, per, enc, lim, k->active ? "active" : k->retired ? "retired" : "readable" };
			table_row(p, cc, 7, cells, i);
		}
		p->y -= 6;
	}
	sub(p, "Key events: loads, wrong keys, rotations, rekeys, data-key switches");
	list_table(p, &r->crypto_ev, "key event");
}

static void integrity_section(struct pdf *p, const char *num)
{
	const struct report *r = p->r;
	char b[1024], t1[32], t2[32];
	snprintf(b, sizeof(b), "%s. Audit integrity", num);
	section(p, b);
	const char *w = report_verdict_word(r);
	if (strcmp(w, "tampered") == 0)
		rgb(p, 0.75f, 0, 0);
	para_at(p, p->fb, 10, LEFT, WIDTH, verdict_line(r, b, sizeof(b)));
	rgb(p, 0, 0, 0);
	p->y -= 6;
	kvf(p, "Records in the log", "%llu", (unsigned long long)r->records);
	if (r->records)
		kvf(p, "Seq range", "%llu..%llu", (unsigned long long)r->first_seq, (unsigned long long)r->last_seq);
	else
		kv(p, "Seq range", "-");
	kvf(p, "Segments", "%zu", r->nin);
	if (strcmp(w, "not_verified") != 0) {
		kvf(p, "Checkpoints verified", "%llu (last signed seq %llu)", (unsigned long long)r->vres.checkpoints,
		    (unsigned long long)r->vres.last_signed_seq);
		kvf(p, "Findings", "%llu", (unsigned long long)r->vres.findings);
		kvf(p, "Gaps (seq or segment)", "%llu",
		    (unsigned long long)(r->findings_by[AUDIT_SEQ_GAP] + r->findings_by[AUDIT_MISSING_SEGMENT]));
	} else
		kv(p, "Chain and checkpoints", "not verified");
	kvf(p, "Unreadable lines", "%llu%s%s", (unsigned long long)r->malformed, r->malformed ? "; first: " : "",
	    r->first_malformed);
	report_fmt_time(r->records ? r->oldest_us : INT64_MIN, t1);
	report_fmt_time(r->records ? r->newest_us : INT64_MIN, t2);
	kvf(p, "Oldest / newest record", "%s / %s", t1, t2);
	int64_t days = r->records ? (r->generated_us - r->oldest_us) / INT64_C(86400000000) : 0;
	kvf(p, "History available", "%lld days on disk", (long long)(days < 0 ? 0 : days));
	para(p, days >= 365 ? "Retention: the log holds more than 12 months of records, all of them immediately "
	                      "available in the segments read (PCI DSS 10.5.1: 12 months kept, 3 immediately available)."
	                    : "Retention: the log holds less than 12 months of records. PCI DSS 10.5.1 asks for 12 months "
	                      "kept and 3 immediately available; this proves only what is on disk now (a younger database "
	                      "cannot have more; retention deletions are listed below).");
	if (r->findings.n) {
		sub(p, "Findings (audit_verify)");
		static const struct col c[] = {
			{ "file:line", 170, false, false }, { "seq", 45, true, false }, { "problem", 110, false, false },
			{ "detail", 170, false, false },
		};
		table_head(p, c, 4);
		for (size_t i = 0; i < r->findings.n; i++) {
			const struct report_item *it = &r->findings.v[i];
			char fl[400], seq[32];
			const char *base = strrchr(it->table, '/');
			snprintf(fl, sizeof(fl), "%s:%llu", base ? base + 1 : it->table, (unsigned long long)it->us);
			fmt_u(it->seq, seq);
			const char *cells[] = { fl, seq, it->type, it->text };
			table_row(p, c, 4, cells, i);
		}
		p->y -= 4;
		if (r->findings.total > r->findings.n)
			paraf(p, "... and %llu other findings.", (unsigned long long)(r->findings.total - r->findings.n));
	}
	sub(p, "Audit failure windows (operations blocked while the log could not be written)");
	list_table(p, &r->failures, "audit failure window");
	sub(p, "Retention deletions and their anchors");
	list_table(p, &r->deletions, "retention deletion");
	sub(p, "Access to the audit log (PCI DSS 10.2.1.3)");
	list_table(p, &r->access, "access to the audit log through our tools");
}

static void access_section(struct pdf *p, const char *num)
{
	const struct report *r = p->r;
	char b[256];
	snprintf(b, sizeof(b), "%s. Access review", num);
	section(p, b);
	para(p, "HIPAA 164.308(a)(1)(ii)(D) information system activity review; PCI DSS 10.4.1 daily review of "
	        "security events. Every figure counts records of the period; seq numbers locate them in the log.");
	sub(p, "Activity by event type");
	{
		static const struct col c[] = {
			{ "event type", 200, false, false }, { "records", 100, true, false }, { "", 195, false, false },
		};
		table_head(p, c, 3);
		size_t row = 0;
		for (int t = 0; t <= AUDIT_EV__COUNT; t++) {
			if (!r->by_type[t])
				continue;
			char n[32];
			fmt_u(r->by_type[t], n);
			const char *cells[] = { t < AUDIT_EV__COUNT ? audit_event_name((enum audit_event_type)t) : "(unknown type)",
				                n, "" };
			table_row(p, c, 3, cells, row++);
		}
		if (!row)
			para(p, "No records in the period.");
		p->y -= 4;
	}
	sub(p, "Activity by user");
	size_t *us = report_sorted_users(r), *ts = report_sorted_tables(r);
	if (!us || !ts) {
		p->oom = true;
		free(us);
		free(ts);
		return;
	}
	if (!r->umap.n)
		para(p, "No record with a user in the period.");
	else {
		static const struct col c[] = {
			{ "user", 115, false, false }, { "records", 50, true, false }, { "reads", 45, true, false },
			{ "writes", 45, true, false }, { "deletes", 45, true, false }, { "ddl", 35, true, false },
			{ "denied", 45, true, false }, { "failed", 45, true, false }, { "off-hours", 70, true, false },
		};
		table_head(p, c, 9);
		for (size_t i = 0; i < r->umap.n; i++) {
			const struct report_user *u = &r->users[us[i]];
			char v[8][32];
			fmt_u(u->total, v[0]);
			fmt_u(u->reads, v[1]);
			fmt_u(u->writes, v[2]);
			fmt_u(u->deletes, v[3]);
			fmt_u(u->ddl, v[4]);
			fmt_u(u->denied, v[5]);
			fmt_u(u->failed, v[6]);
			fmt_u(u->after_hours, v[7]);
			const char *cells[] = { u->name ? u->name : "", v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7] };
			table_row(p, c, 9, cells, i);
		}
		p->y -= 4;
		if (r->users_other_records)
			paraf(p, "... and about %llu other users (%llu records), beyond the %d users tracked one by one.",
			      (unsigned long long)report_estimate_distinct(r->users_other_bits, sizeof(r->users_other_bits)),
			      (unsigned long long)r->users_other_records, REPORT_MAX_USERS);
	}
	sub(p, "Activity by table, with its top readers");
	if (!r->tmap.n)
		para(p, "No record names a table in the period.");
	else {
		static const struct col c[] = {
			{ "table", 95, false, false },     { "reads", 45, true, false },  { "rows read", 55, true, false },
			{ "writes", 45, true, false },     { "deletes", 45, true, false }, { "denied", 40, true, false },
			{ "top readers (reads)", 170, false, false },
		};
		table_head(p, c, 7);
		for (size_t i = 0; i < r->tmap.n; i++) {
			const struct report_table *t = &r->tables[ts[i]];
			char v[5][32], top[256] = "";
			fmt_u(t->reads, v[0]);
			fmt_u(t->rows_read, v[1]);
			fmt_u(t->writes, v[2]);
			fmt_u(t->deletes, v[3]);
			fmt_u(t->denied, v[4]);
			const struct report_pair *tp[3];
			size_t n = report_top_readers(r, (uint32_t)ts[i], tp, 3);
			for (size_t k = 0; k < n; k++)
				snprintf(top + strlen(top), sizeof(top) - strlen(top), "%s%s (%llu)", k ? ", " : "",
				         r->users[tp[k]->user].name ? r->users[tp[k]->user].name : "",
				         (unsigned long long)tp[k]->reads);
			const char *cells[] = { t->name ? t->name : "", v[0], v[1], v[2], v[3], v[4], n ? top : "-" };
			table_row(p, c, 7, cells, i);
		}
		p->y -= 4;
		if (r->tables_other_records)
			paraf(p, "... and about %llu other tables (%llu records).",
			      (unsigned long long)report_estimate_distinct(r->tables_other_bits, sizeof(r->tables_other_bits)),
			      (unsigned long long)r->tables_other_records);
	}
	free(us);
	free(ts);
	sub(p, "Denied and failed operations");
	list_table(p, &r->denied, "denied or failed operation");
	snprintf(b, sizeof(b), "Activity outside business hours (%02d:00-%02d:00 UTC, Monday-Friday)", r->o.bh_start,
	         r->o.bh_end);
	sub(p, b);
	list_table(p, &r->after, "activity outside business hours");
	sub(p, "DDL, key and configuration changes");
	list_table(p, &r->changes, "change");
}

static void charts_section(struct pdf *p, const char *num)
{
	char b[64];
	snprintf(b, sizeof(b), "%s. Activity charts", num);
	section(p, b);
	chart_per_day(p);
	chart_by_hour(p);
	chart_denied(p);
}

static void appendix(struct pdf *p, const char *num)
{
	const struct report *r = p->r;
	char b[256];
	snprintf(b, sizeof(b), "%s. Appendix: method, definitions, limits", num);
	section(p, b);
	sub(p, "Method");
	para(p, "The reporter reads the audit log files listed on the cover (rotated segments oldest first, then the "
	        "active file) once, in order, and computes the SHA-256 of each as read. Each line is parsed as one JSON "
	        "record (docs/audit-log.md); a line that is not a record is counted as unreadable. Independently, the "
	        "hash chain, seq continuity and every signed checkpoint are verified with the audit public key "
	        "(the same check as heliosdb-nano audit-verify). Records count towards the period when "
	        "from <= timestamp < to (UTC).");
	sub(p, "Definitions");
	para(p, "Records in period: records whose timestamp is in the period. Seq range: the smallest and largest seq "
	        "of those records. Denied: outcome \"denied\" (refused by policy); failed: outcome \"failure\". "
	        "Distinct users / tables: distinct non-null user / table values (beyond 1000 each, estimated by linear "
	        "counting). Outside business hours: records with a user whose timestamp falls on a Saturday or Sunday "
	        "or outside the configured hours (UTC). Changes: ddl, config_loaded, profile_evaluated, rotate_key_*, "
	        "rekey_*, data_key_switch and restore_run records. Top readers: users with the most read records of a table. "
	        "Figure 1 stacks records per day by category: read; write (write, delete); ddl (ddl, txn_*); security; "
	        "audit (audit pipeline events and unknown types). History available: days from the oldest record to "
	        "the generation time.");
	sub(p, "Limits of what software can attest");
	para(p, "The chain proves that the log files were not altered after they were written, up to the last signed "
	        "checkpoint, provided the signing key stayed secret; records after the last checkpoint and a log cut "
	        "back at a checkpoint are reported as incomplete. It cannot prove that the system logged every "
	        "operation, that the clock was right, that user names identify people, or that the configuration "
	        "attested is what ran between two starts. Profile rules check configuration values, not procedures. "
	        "Lists in this PDF are capped; the JSON report (--format json) holds the same figures.");
	if (r->days_dropped || r->pairs_dropped)
		paraf(p, "Bounded memory: %llu records fell on days beyond the %d kept and %llu reads beyond the %d "
		      "(table, user) pairs kept; they are counted in every total but not in the charts / top readers.",
		      (unsigned long long)r->days_dropped, REPORT_MAX_DAYS, (unsigned long long)r->pairs_dropped,
		      REPORT_MAX_PAIRS);
}

static void header_footer(struct pdf *p)
{
	const struct report *r = p->r;
	char head[256], foot[256], pg[64], t[32];
	report_fmt_time(r->generated_us, t);
	snprintf(head, sizeof(head), "HeliosDB Nano - %s", report_types[r->o.type].title);
	snprintf(foot, sizeof(foot), "Generated %s by heliosdb-nano %s - generated by software, requires reviewer "
	         "sign-off", t, HDB_VERSION_STRING);
	for (size_t i = 0; i < p->npages; i++) {
		p->page = p->pages[i];
		HPDF_Page_SetGrayFill(p->page, 0.3f);
		HPDF_Page_SetGrayStroke(p->page, 0.6f);
		HPDF_Page_SetLineWidth(p->page, 0.5f);
		text_at(p, p->f, 8, LEFT, PAGE_H - 40, head);
		char db[64];
		snprintf(db, sizeof(db), "db %s", r->ndb_ids ? r->db_ids[0] : "-");
		text_right(p, p->f, 8, RIGHT, PAGE_H - 40, db);
		HPDF_Page_MoveTo(p->page, LEFT, PAGE_H - 45);
		HPDF_Page_LineTo(p->page, RIGHT, PAGE_H - 45);
		HPDF_Page_MoveTo(p->page, LEFT, 45);
		HPDF_Page_LineTo(p->page, RIGHT, 45);
		HPDF_Page_Stroke(p->page);
		text_at(p, p->f, 7, LEFT, 33, foot);
		snprintf(pg, sizeof(pg), "Page %zu of %zu", i + 1, p->npages);
		text_right(p, p->f, 8, RIGHT, 33, pg);
		HPDF_Page_SetGrayFill(p->page, 0);
	}
}

static void set_meta(struct pdf *p)
{
	const struct report *r = p->r;
	char subj[256], per[160];
	period_text(r, per, sizeof(per));
	snprintf(subj, sizeof(subj), "%s report, %s", report_types[r->o.type].name, per);
	HPDF_SetInfoAttr(p->doc, HPDF_INFO_TITLE, report_types[r->o.type].title);
	HPDF_SetInfoAttr(p->doc, HPDF_INFO_AUTHOR, "heliosdb-nano audit-report");
	HPDF_SetInfoAttr(p->doc, HPDF_INFO_CREATOR, "HeliosDB Nano " HDB_VERSION_STRING);
	HPDF_SetInfoAttr(p->doc, HPDF_INFO_SUBJECT, subj);
	HPDF_SetInfoAttr(p->doc, HPDF_INFO_KEYWORDS, "audit, compliance, HIPAA, PCI DSS, GDPR");
	time_t s = (time_t)(r->generated_us / 1000000);
	struct tm tm;
	if (gmtime_r(&s, &tm)) {
		HPDF_Date d = { tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, 'Z', 0, 0 };
		HPDF_SetInfoDateAttr(p->doc, HPDF_INFO_CREATION_DATE, d);
		HPDF_SetInfoDateAttr(p->doc, HPDF_INFO_MOD_DATE, d);
	}
}

int report_write_pdf(const struct report *r, FILE *f, int *ret_pages, char *err, size_t errlen)
{
	struct pdf p = { .r = r };
	int rc = HDB_OK;
	p.doc = HPDF_New(on_error, &p);
	if (!p.doc) {
		errf(err, errlen, "cannot create the PDF document (libharu)");
		return HDB_ENOMEM;
	}
	HPDF_SetCompressionMode(p.doc, HPDF_COMP_ALL);
	HPDF_SetPageMode(p.doc, HPDF_PAGE_MODE_USE_OUTLINE);
	p.f = HPDF_GetFont(p.doc, "Helvetica", "WinAnsiEncoding");
	p.fb = HPDF_GetFont(p.doc, "Helvetica-Bold", "WinAnsiEncoding");
	p.fm = HPDF_GetFont(p.doc, "Courier", "WinAnsiEncoding");
	p.root = HPDF_CreateOutline(p.doc, NULL, report_types[r->o.type].title, NULL);
	HPDF_Outline_SetOpened(p.root, HPDF_TRUE);
	set_meta(&p);
	unsigned s = report_types[r->o.type].sections;
	int n = 2;
	char num[8];
	cover_page(&p);
	summary_section(&p);
	if (s & REPORT_S_ATTEST) {
		attest_section(&p);
		n = 3;
	}
	if (s & REPORT_S_CRYPTO) {
		crypto_section(&p);
		n = 4;
	}
	/* numbering continues from what was shown */
	if (s & REPORT_S_INTEGRITY) {
		snprintf(num, sizeof(num), "%d", n++);
		integrity_section(&p, num);
	}
	if (s & REPORT_S_ACCESS) {
		snprintf(num, sizeof(num), "%d", n++);
		access_section(&p, num);
	}
	if (s & REPORT_S_CHARTS) {
		snprintf(num, sizeof(num), "%d", n++);
		charts_section(&p, num);
	}
	snprintf(num, sizeof(num), "%d", n);
	appendix(&p, num);
	header_footer(&p);
	if (p.oom || p.herr) {
		errf(err, errlen, p.oom ? "out of memory" : "cannot build the PDF (libharu error 0x%04X, detail %u)",
		     (unsigned)p.herr, (unsigned)p.hdetail);
		rc = p.oom ? HDB_ENOMEM : HDB_ERROR;
		goto out;
	}
	if (HPDF_SaveToStream(p.doc) != HPDF_OK) {
		errf(err, errlen, "cannot serialise the PDF (libharu error 0x%04X)", (unsigned)p.herr);
		rc = HDB_ERROR;
		goto out;
	}
	HPDF_ResetStream(p.doc);
	for (;;) {
		HPDF_BYTE buf[65536];
		HPDF_UINT32 len = sizeof(buf);
		HPDF_STATUS st = HPDF_ReadFromStream(p.doc, buf, &len);
		if (len && fwrite(buf, 1, len, f) != len) {
			errf(err, errlen, "cannot write the PDF");
			rc = HDB_EIO;
			goto out;
		}
		if (st == HPDF_STREAM_EOF || len == 0)
			break;
		if (st != HPDF_OK) {
			errf(err, errlen, "cannot read the PDF back from libharu (error 0x%04X)", (unsigned)st);
			rc = HDB_ERROR;
			goto out;
		}
	}
	if (ret_pages)
		*ret_pages = (int)p.npages;
out:
	HPDF_Free(p.doc);
	free(p.pages);
	return rc;
}
