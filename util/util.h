/*
 * util.h - small shared helpers every module may use: growable byte
 * buffers, hex, bounded formatting, error naming.  Nothing here knows about
 * databases, configs or audit.
 */
#ifndef HDB_UTIL_H
#define HDB_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "heliosdb.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* A growable byte buffer.  Zero-initialise to start ({0}). */
struct buf {
	unsigned char *p;
	size_t len;
	size_t cap;
};

int buf_reserve(struct buf *b, size_t extra);            /* HDB_OK / HDB_ENOMEM; growth wipes the old block */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_putc(struct buf *b, unsigned char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_put_u32be(struct buf *b, uint32_t v);
int buf_put_u64be(struct buf *b, uint64_t v);
void buf_reset(struct buf *b);                            /* len = 0, keeps memory */
void buf_free(struct buf *b);                             /* frees, zeroes the struct */
void buf_free_wipe(struct buf *b);                        /* wipes, then frees */

static inline uint32_t get_u32be(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t get_u64be(const unsigned char *p)
{
	return (uint64_t)get_u32be(p) << 32 | get_u32be(p + 4);
}
static inline void put_u32be(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8); p[3] = (unsigned char)v;
}
static inline void put_u64be(unsigned char *p, uint64_t v)
{
	put_u32be(p, (uint32_t)(v >> 32));
	put_u32be(p + 4, (uint32_t)v);
}

/* hex_encode - writes 2*n lowercase hex characters and a NUL into out. */
void hex_encode(const void *in, size_t n, char *out);
/* hex_decode - decodes exactly 2*n hex characters (either case) into out.
 * Returns HDB_OK or HDB_EINVAL; runs in time independent of the digits. */
int hex_decode(const char *in, size_t inlen, unsigned char *out, size_t n);

/* errf - formats into a caller's error buffer (truncating safely). */
void errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* xstrdup/xstrndup - strdup that returns NULL on OOM (no abort). */
char *xstrndup(const char *s, size_t n);

/* rename_noreplace - renameat(from, to) unless `to` exists (then -1 with
 * errno EEXIST, never through a symlink at `to`); a file system without
 * RENAME_NOREPLACE gets link + unlink, equally exclusive.  0 or -1/errno. */
int rename_noreplace(int fromdir, const char *from, int todir, const char *to);

#endif
