/* OpenMP shim for the kernels (_runtime.pxi): the package builds, and runs
 * on one thread, without OpenMP. */
#ifndef FASTGRAD_FG_OPENMP_H
#define FASTGRAD_FG_OPENMP_H

#include <limits.h>

#ifdef _OPENMP
#include <omp.h>
#define FG_OPENMP_ENABLED 1
#else
#define FG_OPENMP_ENABLED 0
static inline int omp_get_max_threads(void) { return 1; }
static inline int omp_get_thread_num(void) { return 0; }
static inline int omp_get_num_procs(void) { return 1; }
static inline int omp_get_thread_limit(void) { return INT_MAX; }
#endif

/* A flag one thread raises and the others poll (the interrupt checks of the
 * kernels): relaxed atomics, so the compiler neither hoists the load out of
 * a loop nor tears it; no ordering is needed, the flag only says "stop". */
#if defined(__GNUC__) || defined(__clang__)
static inline int fg_flag_get(const int *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void fg_flag_raise(int *p) { __atomic_store_n(p, 1, __ATOMIC_RELAXED); }
#else
static inline int fg_flag_get(const int *p) { return *(const volatile int *)p; }
static inline void fg_flag_raise(int *p) { *(volatile int *)p = 1; }
#endif

#endif
