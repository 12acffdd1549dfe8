/* Large scratch buffers for the radix sort and the annulus kernel
 * (_radix.pxi, _annulus.pxi).
 *
 * A 1e6-star call needs ~60 MB of scratch; glibc serves such blocks with
 * fresh mmap()s, so every call pays a page fault per 4 KiB page, a sizeable
 * part of the call (bench/ has the numbers).  On Linux, 2 MiB-aligned blocks
 * advised as huge pages fault 512 times less often.  Elsewhere (or when the
 * advice is refused) this is plain aligned allocation.
 */
#ifndef FASTGRAD_FG_BIGALLOC_H
#define FASTGRAD_FG_BIGALLOC_H

#include <stdlib.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#define FG_HUGE_PAGE ((size_t)2 << 20)

static inline void *fg_big_alloc(size_t nbytes)
{
    void *p = NULL;
    if (nbytes < 2 * FG_HUGE_PAGE)
        return malloc(nbytes > 0 ? nbytes : 1);
    nbytes = (nbytes + FG_HUGE_PAGE - 1) & ~(FG_HUGE_PAGE - 1);
    if (posix_memalign(&p, FG_HUGE_PAGE, nbytes) != 0)
        return NULL;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    (void)madvise(p, nbytes, MADV_HUGEPAGE);   /* advice only: failure is harmless */
#endif
    return p;
}

static inline void fg_big_free(void *p)
{
    free(p);
}

#endif
