/* Helpers of the cache-blocked shuffle of the permutation tests
 * (_permutation.pxi).
 *
 * The scatter pass writes each bucket's labels through a one-line (64-byte)
 * buffer that stays in L1, and writes a full line out at a time.  Written as
 * ordinary stores, each line of the 2**b destination streams would first be
 * read from memory (read for ownership), one miss per 32 labels that the
 * store buffer waits on; non-temporal stores write the line without reading
 * it.  The lines are read back by the same thread (the shuffle of the bucket),
 * which sees its own stores; the fence orders them for anyone else.
 */
#ifndef FASTGRAD_FG_SHUFFLE_H
#define FASTGRAD_FG_SHUFFLE_H

#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define FG_LINE_BYTES 64

/* Copy one 64-byte line; non-temporal where dst is 64-byte aligned. */
static inline void fg_line_copy(void *dst, const void *src)
{
#if defined(__SSE2__)
    if (((uintptr_t)dst & (FG_LINE_BYTES - 1)) == 0) {
        const __m128i *s = (const __m128i *)src;
        __m128i *d = (__m128i *)dst;
        __m128i a = _mm_loadu_si128(s), b = _mm_loadu_si128(s + 1);
        __m128i c = _mm_loadu_si128(s + 2), e = _mm_loadu_si128(s + 3);
        _mm_stream_si128(d, a);
        _mm_stream_si128(d + 1, b);
        _mm_stream_si128(d + 2, c);
        _mm_stream_si128(d + 3, e);
        return;
    }
#endif
    memcpy(dst, src, FG_LINE_BYTES);
}

/* Make the non-temporal stores visible before anything that follows. */
static inline void fg_store_fence(void)
{
#if defined(__SSE2__)
    _mm_sfence();
#endif
}

#endif  /* FASTGRAD_FG_SHUFFLE_H */
