/* Runtime helpers of the Cython drivers (_runtime.pxi): which build of the
 * kernels this CPU can run, and the glue that hands a signal handler's
 * exception back to Python after an interrupted kernel.
 */
#ifndef FASTGRAD_FG_RUNTIME_H
#define FASTGRAD_FG_RUNTIME_H

/* 1 when the CPU and OS can run the AVX2 + FMA build (_core_avx2). */
static inline int fg_cpu_has_avx2_fma(void)
{
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

/* 1 when the CPU and OS can run the AVX-512 build (_core_avx512): AVX-512
 * F, DQ, VL and BW, AVX2 and FMA in CPUID, and the OS saving the whole
 * vector state (XCR0 through XGETBV, itself allowed by OSXSAVE): the SSE,
 * AVX, opmask, ZMM_Hi256 and Hi16_ZMM components, bits 1, 2, 5, 6 and 7. */
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#endif
static inline int fg_cpu_has_avx512(void)
{
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
    unsigned int a, b, c, d;
    if (__get_cpuid_max(0, (unsigned int *)0) < 7)
        return 0;
    __cpuid(1, a, b, c, d);
    const unsigned int osxsave = 1u << 27, fma = 1u << 12;
    if ((c & (osxsave | fma)) != (osxsave | fma))
        return 0;
    unsigned int xcr0_lo, xcr0_hi;
    /* xgetbv with ecx = 0 (as bytes: assemblers without AVX know no name) */
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    (void)xcr0_hi;
    const unsigned int zmm_state = 0xE6u;   /* bits 1, 2, 5, 6, 7 */
    if ((xcr0_lo & zmm_state) != zmm_state)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    const unsigned int need = (1u << 5)     /* AVX2 */
                            | (1u << 16)    /* AVX512F */
                            | (1u << 17)    /* AVX512DQ */
                            | (1u << 30)    /* AVX512BW */
                            | (1u << 31);   /* AVX512VL */
    return (b & need) == need;
#else
    return 0;
#endif
}

/* The caller's exception is already set (PyErr_CheckSignals raised it):
 * returning -1 from a function Cython declares `except -1` makes Cython
 * propagate it. */
static inline int fg_propagate_error(void) { return -1; }

#endif  /* FASTGRAD_FG_RUNTIME_H */
