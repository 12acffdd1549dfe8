"""Thread-count resolution for the OpenMP kernels (scikit-learn's semantics).

Resolved at call time from the OpenMP runtime, so ``OMP_NUM_THREADS`` and
``threadpoolctl.threadpool_limits(n, user_api="openmp")`` both cap it.
"""
import os

from ._kernels import core as _core

__all__ = ["effective_n_threads"]


def _cpu_count():
    try:  # CPUs this process may run on (cgroups/affinity aware on Linux)
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def effective_n_threads(n_threads=None):
    """Number of OpenMP threads a kernel call will use.

    Parameters
    ----------
    n_threads : int or None
        ``None``: the OpenMP runtime's maximum (``OMP_NUM_THREADS`` if set,
        else the CPUs available to this process). A positive int: that many.
        A negative int: ``cpu_count + 1 + n_threads`` (``-1`` = all CPUs).

    Returns
    -------
    int, >= 1
    """
    if n_threads is not None:
        if isinstance(n_threads, bool) or int(n_threads) != n_threads:
            raise ValueError(f"n_threads must be an int or None, got {n_threads!r}")
        n_threads = int(n_threads)
        if n_threads == 0:
            raise ValueError("n_threads=0 is not allowed: use None, a positive int, "
                             "or a negative int (-1 = all CPUs)")
    if not _core.openmp_enabled():
        return 1
    max_threads = _core.openmp_max_threads()
    if os.environ.get("OMP_NUM_THREADS") is None:
        max_threads = min(max_threads, _cpu_count())
    if n_threads is None:
        return max(1, max_threads)
    if n_threads < 0:
        return max(1, _cpu_count() + 1 + n_threads)
    return n_threads
