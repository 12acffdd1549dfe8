/* OpenMP shim: the package builds (and runs on one thread) without OpenMP. */
#ifndef FASTGRAD_OPENMP_SHIM_H
#define FASTGRAD_OPENMP_SHIM_H

#ifdef _OPENMP
#include <omp.h>
#define FG_OPENMP_ENABLED 1
#else
#define FG_OPENMP_ENABLED 0
static inline int omp_get_max_threads(void) { return 1; }
static inline int omp_get_thread_num(void) { return 0; }
static inline int omp_get_num_procs(void) { return 1; }
#endif

#endif
