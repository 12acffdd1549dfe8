"""The worker processes that fit the bins of Tables 1 and 2 concurrently.

Bins run in processes rather than threads: the kernel releases the GIL, but
emcee's own Python holds it for about half of each fit and threads convoy on
it, so two bins in threads are slower than one at a time, two in processes
faster (``bench/benchmarks/bench_fitting.py``'s ``Tables`` times the latter).  The processes come
from a forkserver (never fork: a child forked after OpenMP has run can hang
in the OpenMP runtime), exit the moment their parent is gone however it ended,
and never re-run the caller's ``__main__``.  ``docs/method.md`` section 5.
"""

from __future__ import annotations

import contextlib
import numbers
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING

import numpy as np

from .._threads import effective_n_threads
from .._validation import as_count
from ..errors import InputError, WorkerError, signal_words
from .likelihood import min_work_for
from .mcmc import SamplingError, sample_posterior

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .binned import BinPlan


__all__ = [
    "run_plans",
    "start_worker_server",
    "worker_pool",
    "succeeded",
    "stop_workers",
    "MIN_WORK_PROCESSES",
]

#: what the forkserver imports once, so that every worker it forks starts with
#: it loaded: fastgrad, emcee (``fastgrad.fitting.sampler``: emcee imports
#: scipy.stats, ~0.7 s) and matplotlib (``fastgrad.plots`` and the Agg canvas
#: the figures are saved with, ~0.5 s), which each worker would import again
PRELOAD = [
    "fastgrad.fitting",
    "fastgrad.fitting.sampler",
    "fastgrad.plots",
    "matplotlib.backends.backend_agg",
]

#: below this many star-evaluations in all (stars x walkers x steps summed over
#: the bins) ``n_jobs=-1`` fits the bins one after the other: starting worker
#: processes would cost more than it saves
MIN_WORK_PROCESSES = 500_000_000


def _fit_job(model, kw, seed, threads_per_fit, min_work, label=""):
    """One bin's fit; module-level so that a worker process can run it."""
    model.set_threading(threads_per_fit, min_work)
    try:
        return sample_posterior(
            model,
            n_walkers=kw.get("n_walkers", 10),
            n_steps=kw.get("n_steps", 1000),
            burn=kw.get("burn"),
            seed=seed,
            progress=kw.get("progress", False),
            backend=None,
        )
    except (InputError, SamplingError) as exc:
        raise type(exc)(f"{label}: {exc}" if label else str(exc)) from None


def _fit_shared_job(
    refs, units, lo, hi, scatter, priors, kw, seed, threads_per_fit, min_work, label=""
):
    """One bin's fit in a worker process, from the plan's columns in shared
    memory (:mod:`fastgrad.fitting.shared`): the worker selects the bin's
    rows and makes its model itself, the arrays a model made by
    :meth:`BinPlan.model` would hold, so the same numbers."""
    from .binned import bin_model
    from .data import LineData
    from .shared import attach

    with attach(list(refs.values())) as views:
        c = dict(zip(refs, views))
        data = LineData(
            c["x"], c["y"], c["x_err"], c["y_err"], c.get("xy_cov"), {"by": c["by"]}, 0, *units
        )
        model = bin_model(data, lo, hi, scatter, priors)  # copies: the views may go
        del data, c, views
    fit = _fit_job(model, kw, seed, threads_per_fit, min_work, label)
    # the sampler goes back to the caller without its log-probability (the
    # model, i.e. the bin's arrays: 220 MB for 7e6 stars, every bin's at once)
    fit.sampler.log_prob_fn = _ModelLeftInWorker(label, model.n_stars)
    return fit


class _ModelLeftInWorker:
    """The log-probability of a sampler that ran in a worker process: its data
    stayed there (the chain, log-probabilities and acceptances came back)."""

    def __init__(self, label, n_stars):
        self.label, self.n_stars = label, n_stars

    def __call__(self, *args, **kwargs):
        raise RuntimeError(
            f"{self.label}: this sampler ran in a worker process and its model (the "
            f"{self.n_stars} stars' arrays) stayed there; to sample further, fit with "
            "n_jobs=None, or run emcee on LineModel(...) of the bin's stars"
        )


def _plan_columns(plan):
    """The columns of a plan's data that a worker needs to make its models."""
    d = plan.data
    out = {"x": d.x, "y": d.y, "x_err": d.x_err, "y_err": d.y_err, "by": d.extra["by"]}
    if d.xy_cov is not None:
        out["xy_cov"] = d.xy_cov
    return out


def _memory(array):
    """Where an array's numbers are (two views of one column are one)."""
    return (array.__array_interface__["data"][0], array.strides, array.shape)


def start_worker_server() -> None:
    """Start the forkserver that the bins' worker processes come from, so that
    its imports (numpy, astropy, emcee) overlap other work; a no-op where
    there is none (Windows)."""
    import multiprocessing as mp

    if "forkserver" in mp.get_all_start_methods():
        mp.get_context("forkserver").set_forkserver_preload(PRELOAD)
        from multiprocessing import forkserver

        forkserver.ensure_running()


def _watch_parent():
    """A worker's initializer: exit the moment the process that started the
    pool is gone, however it ended (SIGKILL included).

    multiprocessing gives every child a sentinel, the read end of a pipe whose
    only writer is the parent: it turns readable when the parent exits.  Without
    this watch the workers (blocked on their task queue, whose write end they
    hold themselves), the forkserver and the resource tracker (each kept alive
    by the workers' copies of its pipe) would outlive the parent indefinitely,
    holding its stderr open."""
    import multiprocessing as mp
    import os
    import threading

    parent = mp.parent_process()
    if parent is None:  # pragma: no cover - not started by multiprocessing
        return

    def watch():
        parent.join()  # waits on the sentinel only (it is not a child of ours)
        os._exit(1)

    threading.Thread(target=watch, name="fastgrad-parent-watch", daemon=True).start()


def _no_main_popen_class():
    """popen_forkserver.Popen whose preparation data leave out the main module
    (made on first use: the import of the forkserver machinery waits until a
    pool is needed)."""
    global _NoMainPopen
    if _NoMainPopen is None:
        import io
        import os
        from multiprocessing import context, forkserver, popen_forkserver, reduction, spawn, util

        class _Popen(popen_forkserver.Popen):
            # popen_forkserver.Popen._launch of CPython 3.10-3.14, the
            # preparation data minus the main module
            def _launch(self, process_obj):
                prep_data = spawn.get_preparation_data(process_obj._name)
                prep_data.pop("init_main_from_path", None)
                prep_data.pop("init_main_from_name", None)
                buf = io.BytesIO()
                context.set_spawning_popen(self)
                try:
                    reduction.dump(prep_data, buf)
                    reduction.dump(process_obj, buf)
                finally:
                    context.set_spawning_popen(None)
                self.sentinel, w = forkserver.connect_to_new_process(self._fds)
                # the duplicate of the write end is the child's parent sentinel
                _parent_w = os.dup(w)
                self.finalizer = util.Finalize(self, util.close_fds, (_parent_w, self.sentinel))
                with open(w, "wb", closefd=True) as f:
                    f.write(buf.getbuffer())
                self.pid = forkserver.read_signed(self.sentinel)

        _NoMainPopen = _Popen
    return _NoMainPopen


_NoMainPopen = None
if sys.platform != "win32":
    from multiprocessing.context import ForkServerContext, ForkServerProcess

    class _NoMainProcess(ForkServerProcess):
        """A forkserver Process that does not re-run the parent's ``__main__``
        (module-level: the worker unpickles it)."""

        @staticmethod
        def _Popen(process_obj):
            return _no_main_popen_class()(process_obj)

    class _NoMainContext(ForkServerContext):
        Process = _NoMainProcess


_POOL_CONTEXT = None


def _pool_context():
    """The multiprocessing context of the bins' worker processes.

    forkserver (preloaded with fastgrad), never fork: a child forked after
    OpenMP has run in the parent can hang in the OpenMP runtime.  Its workers
    do not re-run the caller's ``__main__`` (multiprocessing's default): the
    jobs are fastgrad functions and LineModels, which never need it, and a
    script without the ``if __name__ == "__main__":`` guard would otherwise
    start its own fits again in every worker and break the pool.  Where there
    is no forkserver (Windows), spawn, which does re-run ``__main__``."""
    global _POOL_CONTEXT
    if _POOL_CONTEXT is None:
        import multiprocessing as mp

        if "forkserver" in mp.get_all_start_methods():
            ctx = _NoMainContext()
            # the server imports fastgrad (numpy, astropy, emcee) once; the
            # workers it forks start with it loaded
            ctx.set_forkserver_preload(PRELOAD)
        else:  # pragma: no cover - Windows
            ctx = mp.get_context("spawn")
        _POOL_CONTEXT = ctx
    return _POOL_CONTEXT


def _process_pool(n_workers):
    return ProcessPoolExecutor(
        max_workers=n_workers, mp_context=_pool_context(), initializer=_watch_parent
    )


def worker_pool(n_workers: int) -> ProcessPoolExecutor:
    """A pool of ``n_workers`` processes like the bins' (from the forkserver,
    never fork; they exit with this process however it ends and do not
    re-run ``__main__``): other single-core steps of a run go there too
    (:mod:`fastgrad.pipeline.overlap`).  Stop it with :func:`stop_workers`
    on an error or an interrupt."""
    return _process_pool(n_workers)


def stop_workers(pool: ProcessPoolExecutor) -> None:
    """Kill a pool's workers now, mid-job, and shut it down (an error, Ctrl-C)."""
    _kill_workers(pool)
    pool.shutdown(wait=True, cancel_futures=True)


def succeeded(future) -> bool:
    """Whether a pool's ``future`` is done with a result (not running,
    cancelled or failed); never waits."""
    return future.done() and not future.cancelled() and future.exception() is None


def _kill_workers(pool):
    """Stop a pool's workers now, mid-fit (Ctrl-C, SIGTERM handled as an
    exception, a failed bin): shutdown() alone would wait for every queued fit."""
    if hasattr(pool, "kill_workers"):  # Python >= 3.14
        pool.kill_workers()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            process.kill()
        except (OSError, ValueError):  # already gone or closed
            pass


def _check_n_jobs(n_jobs):
    """None, -1 or a positive int (a float, even 2.0, is an error)."""
    if n_jobs is None:
        return None
    if (
        isinstance(n_jobs, numbers.Integral)
        and not isinstance(n_jobs, (bool, np.bool_))
        and n_jobs == -1
    ):
        return -1
    try:
        return as_count("n_jobs", n_jobs, minimum=1)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{exc}; n_jobs must be a positive int, -1 or None") from None


def run_plans(plans: Sequence[BinPlan], n_jobs: int | None, n_threads: int | None) -> None:
    """Fit the jobs of all plans: one after the other, or in worker processes.

    ``plans`` are :class:`fastgrad.fitting.binned.BinPlan`: their ``jobs``
    (bin, seed) are fitted and the LineFits stored in their
    ``results`` by bin; their ``extra_jobs`` (:meth:`BinPlan.add_fit`) run in
    the same pool, their LineFits stored in ``extra_results`` by key.  Bins
    run concurrently in processes (each fit on
    ``cpus // n_jobs`` OpenMP threads), which exit with this process however
    it ends and never re-run a script's ``__main__`` (see ``_pool_context``).
    ``n_jobs=None``: one bin at a time in this process; ``n_jobs=-1``: one
    process per CPU when the bins' total work exceeds ``MIN_WORK_PROCESSES``,
    else one at a time.  Each bin has its own seed: the results are the same
    numbers whatever ``n_jobs``.  An error of a bin is raised before one of
    an extra fit (the bins are what the caller asked for first).
    """
    n_jobs = _check_n_jobs(n_jobs)
    # (plan, key, seed, lo, hi, n_stars, extra)
    jobs = [
        (plan, k, seed, float(plan.edges[k]), float(plan.edges[k + 1]), plan.n_stars[k], False)
        for plan in plans
        for (k, seed) in plan.jobs
    ]
    jobs += [
        (plan, key, seed, lo, hi, n, True)
        for plan in plans
        for (key, lo, hi, seed, n) in getattr(plan, "extra_jobs", ())
    ]
    if not jobs:
        return
    n_cpu = effective_n_threads(n_threads)
    if n_jobs is None:
        n_jobs = 1
    elif n_jobs == -1:
        work = sum(
            n * plan.fit_kwargs.get("n_walkers", 10) * plan.fit_kwargs.get("n_steps", 1000)
            for plan, _, _, _, _, n, _ in jobs
        )
        n_jobs = n_cpu if work >= MIN_WORK_PROCESSES else 1
    n_jobs = min(n_jobs, len(jobs))
    threads_per_fit = n_cpu if n_jobs == 1 else max(1, n_cpu // n_jobs)
    min_work = min_work_for(n_threads)
    # the biggest fits first, so the long fits do not finish last
    jobs.sort(key=lambda job: -job[5])

    def label(job):
        plan, _, _, lo, hi, _, extra = job
        # an extra fit's messages are fit_line's own (the caller's fit)
        return "" if extra else f"{plan.label}bin [{lo:g}, {hi:g})"

    # the bins' fits are collected (and their errors raised) before the extras'
    order = [i for i, job in enumerate(jobs) if not job[6]]
    order += [i for i, job in enumerate(jobs) if job[6]]
    fits = [None] * len(jobs)
    stack = contextlib.ExitStack()  # the shared columns' block, if any
    if n_jobs > 1:
        from .shared import share

        # the workers read the plans' columns from shared memory and make
        # their bins' models themselves: nothing per star is pickled, and
        # this process never holds the models (fastgrad.fitting.shared)
        columns = {id(plan): _plan_columns(plan) for plan in plans}
        # one copy of a column two plans share (feh, feh_err; R is Table 1's
        # x and Table 2's binning variable)
        unique = {_memory(a): a for cols in columns.values() for a in cols.values()}
        try:
            shared = stack.enter_context(share(unique))
        except OSError as exc:  # no room in /dev/shm: the same fits, here
            warnings.warn(
                f"the fits run in this process, one bin at a time on {n_cpu} thread(s), "
                f"not in {n_jobs} worker processes: {exc}",
                RuntimeWarning,
                stacklevel=3,
            )
            n_jobs, threads_per_fit = 1, n_cpu
    if n_jobs == 1:
        # each bin's model made when it is fitted: one bin's arrays at a time
        for i in order:
            plan, key, seed, lo, hi, _, extra = job = jobs[i]
            model = plan.range_model(lo, hi) if extra else plan.model(key)
            fits[i] = _fit_job(model, plan.fit_kwargs, seed, threads_per_fit, min_work, label(job))
            del model
    else:
        with stack:
            refs = {
                key: {name: shared[_memory(a)] for name, a in cols.items()}
                for key, cols in columns.items()
            }
            pool = _process_pool(n_jobs)
            processes = []
            try:
                futures = [
                    pool.submit(
                        _fit_shared_job,
                        refs[id(job[0])],
                        (job[0].data.x_unit, job[0].data.y_unit),
                        job[3],
                        job[4],
                        job[0].scatter,
                        job[0].fit_kwargs.get("priors"),
                        job[0].fit_kwargs,
                        job[2],
                        threads_per_fit,
                        min_work,
                        label(job),
                    )
                    for job in jobs
                ]
                # (the pool starts its workers at the first submits)
                processes = list((getattr(pool, "_processes", None) or {}).values())
                for i in order:
                    fits[i] = futures[i].result()
            except BrokenProcessPool as exc:
                _kill_workers(pool)
                unfinished = sum(not succeeded(f) for f in futures)
                how = signal_words([p.exitcode for p in processes])
                raise WorkerError(
                    f"a worker process of the fits died ({how}) with {unfinished} of "
                    f"{len(jobs)} fits unfinished; with less memory in use it would not: "
                    f"fewer worker processes (n_jobs; fastgrad run --n-threads) or "
                    f"a machine with more memory"
                ) from exc
            except BaseException:
                _kill_workers(pool)
                raise
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
    for (plan, key, _, _, _, _, extra), fit in zip(jobs, fits):
        if extra:
            plan.extra_results[key] = fit
        else:
            plan.results[key] = fit
