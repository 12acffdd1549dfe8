# Runtime helpers of the kernels (included by _core.pyx): OpenMP and CPU
# introspection, and the interrupt checks every long kernel makes.
import threading as _threading

cdef extern from "fg_openmp.h" nogil:
    int FG_OPENMP_ENABLED
    int omp_get_max_threads()
    int omp_get_num_procs()
    int omp_get_thread_num()
    int omp_get_thread_limit()
    int fg_flag_get(const int *p)
    void fg_flag_raise(int *p)


# --------------------------------------------------------------------------
# OpenMP and CPU introspection (used by _kernels.py, _threads.py, show_config)
# --------------------------------------------------------------------------
cdef extern from "fg_runtime.h" nogil:
    int fg_cpu_has_avx2_fma()
    int fg_cpu_has_avx512()


def cpu_has_avx2_fma():
    """True when this CPU (and OS) can run the AVX2+FMA build of the kernels."""
    return bool(fg_cpu_has_avx2_fma())


def cpu_has_avx512():
    """True when this CPU (and OS) can run the AVX-512 (F, DQ, VL, BW) build."""
    return bool(fg_cpu_has_avx512())


def openmp_enabled():
    """True when the kernels were compiled with OpenMP."""
    return bool(FG_OPENMP_ENABLED)


def openmp_max_threads():
    """omp_get_max_threads(): follows OMP_NUM_THREADS and threadpoolctl limits."""
    return omp_get_max_threads()


def openmp_thread_limit():
    """omp_get_thread_limit(): OMP_THREAD_LIMIT, the most threads the OpenMP
    runtime runs at once (INT_MAX when unset or without OpenMP)."""
    return omp_get_thread_limit()


# --------------------------------------------------------------------------
# Ctrl-C inside the kernels
# --------------------------------------------------------------------------
# Python runs its signal handlers (SIGINT -> KeyboardInterrupt) only between
# bytecodes, so a kernel that keeps the GIL released for seconds would hold
# Ctrl-C back until it returns.  Inside their OpenMP loops the long kernels
# call _interrupted(&it, work) once per work item: OpenMP's thread 0, which is
# the calling Python thread, takes the GIL and runs PyErr_CheckSignals() each
# time it has done ``it.every`` units of work (see POLL_* below),
# and raises ``it.stop`` when a handler raised; every thread skips its
# remaining items once ``stop`` is up, and the kernel, back under the GIL,
# returns the handler's exception.  Which items run, and on which thread,
# does not depend on the checks, so the numbers of a run that is not
# interrupted are unchanged.  Only the main thread runs signal handlers: on
# other threads (Dask workers) the checks never take the GIL.
cdef extern from "Python.h":
    int fg_check_signals "PyErr_CheckSignals" ()

cdef extern from "fg_runtime.h":
    int fg_propagate_error() except -1

cdef struct Interrupt:
    int stop             # raised by thread 0, read by every thread
    int enabled          # the caller is Python's main thread
    char pad[120]        # keeps ``work`` (written by thread 0) off stop's cache line
    Py_ssize_t work      # thread 0's work since its last check
    Py_ssize_t every     # check after this much work


cdef void _interrupt_init(Interrupt *it, Py_ssize_t every):
    """Called with the GIL, before the kernel releases it."""
    it.stop = 0
    it.enabled = _threading.current_thread() is _threading.main_thread()
    it.work = 0
    it.every = every // _poll_divisor if every >= _poll_divisor else 1


cdef int _signals_raised() noexcept with gil:
    # a raising handler leaves its exception set on this (the caller's) thread
    return fg_check_signals() != 0


cdef inline int _interrupted(Interrupt *it, Py_ssize_t work) noexcept nogil:
    """True when the loop should stop (a signal handler raised)."""
    if fg_flag_get(&it.stop):
        return 1
    if it.enabled and omp_get_thread_num() == 0:
        it.work = it.work + work
        if it.work >= it.every:
            it.work = 0
            if _signals_raised():
                fg_flag_raise(&it.stop)
                return 1
    return 0


cdef int _raise_if_interrupted(Interrupt *it) except -1:
    """With the GIL, after the loop: the handler's exception, if it raised."""
    if it.stop:
        return fg_propagate_error()
    return 0


cdef Py_ssize_t _poll_divisor = 1


def _set_interrupt_checks(Py_ssize_t divisor):
    """Check for signals ``divisor`` times as often (1: the default; a huge
    value: at every work item).  For the tests, which show that the checks
    change no number; returns the previous divisor."""
    global _poll_divisor
    if divisor < 1:
        raise ValueError("divisor must be >= 1")
    old = _poll_divisor
    _poll_divisor = divisor
    return old


# Work between two checks: draws (Monte-Carlo transform), stars (nominal
# transform, annulus means, sort passes), stars x thetas (line likelihood).
# Each is far more computing than one check (which takes the GIL) costs, yet
# little enough that Ctrl-C still answers at once.
cdef Py_ssize_t POLL_DRAWS = 1 << 20
cdef Py_ssize_t POLL_STARS = 1 << 20
cdef Py_ssize_t POLL_LL = 1 << 25
