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

/* 1 when the CPU and OS can run the AVX-512 build (_core_avx512): F, DQ, VL
 * and BW (libgcc checks that the OS saves the ZMM and mask registers). */
static inline int fg_cpu_has_avx512(void)
{
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    return fg_cpu_has_avx2_fma() && __builtin_cpu_supports("avx512f")
           && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")
           && __builtin_cpu_supports("avx512bw");
#else
    return 0;
#endif
}

/* The caller's exception is already set (PyErr_CheckSignals raised it):
 * returning -1 from a function Cython declares `except -1` makes Cython
 * propagate it. */
static inline int fg_propagate_error(void) { return -1; }

#endif  /* FASTGRAD_FG_RUNTIME_H */
