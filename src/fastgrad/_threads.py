"""Thread-count resolution for the OpenMP kernels (scikit-learn's semantics).

Resolved at call time from the OpenMP runtime, so ``OMP_NUM_THREADS`` and
``threadpoolctl.threadpool_limits(n, user_api="openmp")`` both cap it.
"""

import numbers
import os

import numpy as np

from ._kernels import core as _core

__all__ = ["effective_n_threads", "threads_for", "SERIAL_BELOW", "MAX_THREADS_PER_CPU"]

#: The one thread policy of the kernels: a call whose work is below its
#: kernel's threshold runs on one thread, because OpenMP's fork/join would cost
#: more than the work it splits (``bench/`` measures each). Units of work:
#: rows for the transforms, stars for the annulus means, star-evaluations
#: (stars x thetas) for the likelihood. ``likelihood_auto`` is the higher bar
#: of a fit whose threads fastgrad chooses: a fit makes ~2 n_steps calls, each
#: an OpenMP barrier, and on a shared machine one preempted thread stalls each
#: of them (the binned fits get their parallelism from concurrent bins instead).
#: The permutation tests count star-permutations (stars x permutations).
SERIAL_BELOW = {
    "transform": 256,
    "annulus": 30_000,
    "likelihood": 16_384,
    "likelihood_auto": 262_144,
    "permutation": 1_000_000,
}


def _cpu_count():
    try:  # CPUs this process may run on (cgroups/affinity aware on Linux)
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


#: An explicit ``n_threads`` may oversubscribe the CPUs (as scikit-learn allows)
#: up to this many threads per CPU; beyond, threads only compete, and
#: creating thousands of them can fail, which libgomp answers by ending the
#: process (no Python exception).
MAX_THREADS_PER_CPU = 4


def _max_allowed():
    """The largest explicit n_threads: the OpenMP thread limit
    (OMP_THREAD_LIMIT) and MAX_THREADS_PER_CPU x the machine's CPUs."""
    return min(_core.openmp_thread_limit(), MAX_THREADS_PER_CPU * (os.cpu_count() or 1))


def effective_n_threads(n_threads=None):
    """Number of OpenMP threads a kernel call will use.

    Parameters
    ----------
    n_threads : int or None
        ``None``: the OpenMP runtime's maximum (``OMP_NUM_THREADS`` if set,
        else the CPUs available to this process). A positive int: that many,
        at most the OpenMP thread limit (``OMP_THREAD_LIMIT``) and at most
        ``MAX_THREADS_PER_CPU`` (4) x the machine's CPUs: more is a
        ``ValueError`` (the OpenMP runtime would silently run fewer, or end
        the process when it cannot create them). A negative int:
        ``cpu_count + 1 + n_threads`` (``-1`` = all CPUs), at least 1.
        ``None`` and negative ints are capped at the thread limit.

    Returns
    -------
    int, >= 1

    Raises
    ------
    TypeError
        ``n_threads`` is not an int (a float, even 2.0, or a bool).
    ValueError
        ``n_threads`` is 0 or above the maximum.

    Examples
    --------
    >>> from fastgrad import effective_n_threads
    >>> effective_n_threads(1)
    1
    >>> effective_n_threads(-1) >= 1  # all CPUs
    True
    >>> effective_n_threads(2.0)
    Traceback (most recent call last):
    ...
    TypeError: ...
    """
    if n_threads is not None:
        if isinstance(n_threads, (bool, np.bool_)) or not isinstance(n_threads, numbers.Integral):
            raise TypeError(f"n_threads: expected an int or None, got {n_threads!r}")
        n_threads = int(n_threads)
        if n_threads == 0:
            raise ValueError(
                "n_threads=0 is not allowed: use None, a positive int, "
                "or a negative int (-1 = all CPUs)"
            )
    if not _core.openmp_enabled():
        return 1
    limit = _core.openmp_thread_limit()
    if n_threads is not None and n_threads > 0:
        allowed = _max_allowed()
        if n_threads > allowed:
            why = (
                f"the OpenMP thread limit (OMP_THREAD_LIMIT={limit})"
                if allowed == limit
                else f"{MAX_THREADS_PER_CPU} x the {os.cpu_count()} CPUs of this machine"
            )
            raise ValueError(
                f"n_threads: {n_threads} is more than {why}; use at most "
                f"{allowed}, or None for all CPUs"
            )
        return n_threads
    max_threads = _core.openmp_max_threads()
    if os.environ.get("OMP_NUM_THREADS") is None:
        max_threads = min(max_threads, _cpu_count())
    if n_threads is None:
        return max(1, min(max_threads, limit))
    return max(1, min(_cpu_count() + 1 + n_threads, limit))


def threads_for(kernel, work, n_threads=None):
    """Threads for one call of ``kernel`` doing ``work`` units (see
    :data:`SERIAL_BELOW`): 1 below its threshold, else
    :func:`effective_n_threads`. ``n_threads`` is validated either way
    (without the OpenMP runtime's calls on the common, valid small calls)."""
    if work < SERIAL_BELOW[kernel] or (n_threads == 1 and type(n_threads) is int):
        # (one thread is always allowed: no OpenMP runtime queries, which cost
        # microseconds, a sizeable part of a likelihood call)
        if n_threads is not None and (type(n_threads) is not int or n_threads == 0):
            effective_n_threads(n_threads)  # raises for an invalid value
        return 1
    return effective_n_threads(n_threads)
