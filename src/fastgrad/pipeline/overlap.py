"""The single-core steps of ``fastgrad run`` that run beside others, in worker
processes: the wall time of a run on a few cores, never a number.

- :class:`Prefetch`: the synthetic catalogues of the run's later samples are
  made in a worker process while the first sample is analysed (making the
  giants' mock is ~5 s on one core, while the LAMOST sample's steps leave a
  core idle);
- :class:`FigureDrawing`: figures drawn and saved by worker processes, one
  figure a job (~11 s on one core for the eight at the paper's scale):
  Figures 1-7 by one worker as soon as the run's first sample is done, while
  the next samples run (:func:`fastgrad.pipeline.report.start_first_figures`);
  at the end, those left (Figure 8 in the run's own process, or a one-sample
  run's figures on all the CPUs) while the tables are written.

The workers come from the fits' forkserver (:func:`fastgrad.fitting.workers.worker_pool`:
never fork after OpenMP has run; they exit with the run however it ends).
What they make is what the run would make itself: the catalogues are those
of :func:`synthetic_survey` (the same seed, size and truth, bit for bit), the
figures the same PNG bytes.  A catalogue comes back in shared memory
(:class:`SharedTables`), not pickled through the pool's pipe.
"""

from __future__ import annotations

from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING

from .._threads import effective_n_threads

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from astropy.table import Table

__all__ = [
    "Prefetch",
    "SharedTables",
    "FigureDrawing",
    "synthetic_survey",
    "make_figure",
    "draw_figure",
    "MIN_PREFETCH_STARS",
    "FIGURE_DPI",
]

#: a sample's synthetic catalogue is made ahead in a worker process from this
#: many stars (the paper's scale is 330,000 and 1,000,000): a smaller one is
#: made in less time than a worker takes to start and to send it back
MIN_PREFETCH_STARS = 100_000


def synthetic_survey(cfg: Mapping[str, Any], name: str) -> dict[str, Table]:
    """The synthetic survey tables of sample ``name`` of a run
    (:func:`fastgrad.mock.make_survey` with the run's ``[synthetic]`` size,
    seed and truth), what the sample reads when it names no input file.

    Examples
    --------
    >>> from fastgrad.pipeline.config import load_config
    >>> from fastgrad.pipeline.overlap import synthetic_survey
    >>> survey = synthetic_survey(load_config({"synthetic": {"n_giants": 500}}), "giants")
    >>> sorted(survey), len(survey["gaia"])
    (['bailer_jones', 'gaia'], 500)
    """
    from ..mock import make_survey
    from .config import _MOCK_SEED_OFFSET, MOCK_SIZE_KEY, sample_plan

    kind = sample_plan(cfg, name).spec.mock
    syn = cfg["synthetic"]
    return make_survey(
        kind,
        syn[MOCK_SIZE_KEY[kind]],
        seed=syn["seed"] + _MOCK_SEED_OFFSET[kind],
        truth=syn["truth"].get(name),
    )


def _prefetch_job(cfg: Mapping[str, Any], name: str) -> SharedTables | dict[str, Table]:
    """A worker's job of :class:`Prefetch`: sample ``name``'s synthetic survey
    in shared memory, or pickled when shared memory has no room for it."""
    tables = synthetic_survey(cfg, name)
    try:
        return SharedTables(tables)
    except OSError as exc:
        from .progress import logger

        logger.debug("%s: the catalogue comes back pickled (%s)", name, exc)
        return tables


class SharedTables:
    """Astropy Tables sent to another process through shared memory.

    Made where the tables are (a worker process), pickled to the process
    that wants them, which calls :meth:`tables` once.  The plain numeric
    columns (an :class:`~astropy.table.Column` of a number dtype) are copied
    into one block of shared memory (:func:`fastgrad.fitting.shared.new_block`)
    and only their places travel; anything else (names, units, descriptions,
    formats, each column's and table's ``meta``, other columns) is pickled.
    :meth:`tables` gives the same tables (the same dtypes, values, units and
    meta) whose numeric columns are views of that block: nothing is copied
    there, where a pickled catalogue of 10^6 Gaia rows (~230 MB) was written
    into the pool's pipe, read into a fresh buffer and unpickled into fresh
    arrays.  The block is unlinked when :meth:`tables` (or :meth:`discard`)
    runs; its memory goes with the last column viewing it.

    Raises OSError (made here) when shared memory has no room for the
    columns (:func:`~fastgrad.fitting.shared.new_block`).

    Examples
    --------
    >>> from astropy.table import Table
    >>> from fastgrad.pipeline.overlap import SharedTables
    >>> t = Table({"source_id": [7, 8], "ra": [10.5, 11.0]}, meta={"survey": "mock"})
    >>> t["ra"].unit = "deg"
    >>> got = SharedTables({"gaia": t}).tables()["gaia"]  # (one process here)
    >>> got["source_id"].tolist(), got["ra"].unit, got.meta["survey"]
    ([7, 8], Unit("deg"), 'mock')
    """

    #: each column starts at a multiple of this many bytes (a cache line)
    ALIGN = 64

    def __init__(self, tables: Mapping[str, Table]) -> None:
        from astropy.table import Column

        from ..fitting.shared import _release, new_block

        plan, size = {}, 0
        for tname, t in tables.items():
            cols = []
            for col in t.itercols():
                if type(col) is Column and col.dtype.kind in "biuf":
                    attrs = {
                        "name": col.info.name,
                        "unit": col.info.unit,
                        "description": col.info.description,
                        "format": col.info.format,
                        "meta": col.info.meta,
                    }
                    cols.append((size, col.dtype.str, col.shape, attrs))
                    size += -(-col.nbytes // self.ALIGN) * self.ALIGN
                else:
                    cols.append((None, None, None, col))
            plan[tname] = (type(t), t.meta, cols)
        self._plan, self._name = plan, None
        if size == 0:
            return
        shm = new_block(size)
        try:
            for tname, t in tables.items():
                for offset, dtype, shape, attrs in plan[tname][2]:
                    if offset is not None:
                        view = _block_view(shm, offset, dtype, shape)
                        view[...] = t[attrs["name"]]
                        del view
        except BaseException:
            _release(shm)
            shm.unlink()
            raise
        self._name = shm.name
        # the block stays (this process's mapping goes): the receiver
        # unlinks it.  (No numpy view of it is left here, so close() is safe.)
        shm.close()

    def tables(self) -> dict[str, Table]:
        """The tables, their numeric columns on the shared block (which is
        unlinked now: call once)."""
        from astropy.table import Column

        from ..fitting.shared import _open_owned, _release

        shm = None if self._name is None else _open_owned(self._name)
        try:
            out = {}
            for tname, (cls, meta, cols) in self._plan.items():
                columns = [
                    col
                    if offset is None
                    else Column(_block_view(shm, offset, dtype, shape), copy=False, **col)
                    for offset, dtype, shape, col in cols
                ]
                out[tname] = cls(columns, meta=meta, copy=False)
            return out
        finally:
            if shm is not None:
                _release(shm)
                shm.unlink()
            self._name = None

    def discard(self) -> None:
        """Free the block without reading it (nobody takes the tables)."""
        if self._name is not None:
            from ..fitting.shared import _open_owned

            shm = _open_owned(self._name)
            shm.close()
            shm.unlink()
            self._name = None


def _block_view(shm, offset, dtype, shape):
    """The array of ``dtype`` and ``shape`` at byte ``offset`` of a shared block
    (a view that keeps the mapping alive)."""
    import numpy as np

    from ..fitting.shared import _view

    return _view(shm, offset, int(np.prod(shape, dtype=np.int64)), np.dtype(dtype)).reshape(shape)


def _prefetched_samples(cfg):
    """The run's samples after its first whose synthetic catalogue is worth
    making ahead (read whole, at least MIN_PREFETCH_STARS stars)."""
    from ..mock.truth import check_n
    from .config import MOCK_SIZE_KEY, sample_plan
    from .partitioned import partitioned_input

    names = []
    for name in cfg["run"][1:]:
        try:
            plan = sample_plan(cfg, name)
            if not plan.synthetic or partitioned_input(cfg, plan) is not None:
                continue
            n = check_n(plan.spec.mock, cfg["synthetic"][MOCK_SIZE_KEY[plan.spec.mock]])
        except Exception:  # noqa: BLE001 - the sample's own turn reports it
            continue
        if n >= MIN_PREFETCH_STARS:
            names.append(name)
    return names


def _close_pool(pool, abort):
    """Stop a worker pool of this module: kill its workers now (``abort``:
    an error, Ctrl-C, or work nobody will collect), else once they are idle."""
    if abort:
        from ..fitting.workers import stop_workers

        stop_workers(pool)
    else:
        pool.shutdown(wait=True)


class Prefetch:
    """The synthetic catalogues of a run's later samples, made in one worker
    process while the earlier samples are analysed.

    ``Prefetch.start(cfg, n_threads)`` submits them (nothing with one CPU, or
    when no later sample reads a large synthetic catalogue);
    :meth:`survey` gives a sample's catalogue when its turn comes (waiting
    for it), the tables :func:`synthetic_survey` makes; :meth:`close` stops
    the worker (mid-job on an error or Ctrl-C).  A context manager.

    Examples
    --------
    >>> from fastgrad.pipeline.config import load_config
    >>> from fastgrad.pipeline.overlap import Prefetch
    >>> cfg = load_config({"synthetic": {"n_lamost": 500, "n_giants": 500}})
    >>> with Prefetch.start(cfg, n_threads=2) as ahead:  # too small to be worth a worker
    ...     ahead.samples, ahead.survey("giants")
    ([], None)
    """

    def __init__(self) -> None:
        self._pool = None
        self._futures = {}
        self._names = []
        self._submitting = None

    @classmethod
    def start(
        cls, cfg: Mapping[str, Any], n_threads: int | None, names: list[str] | None = None
    ) -> Prefetch:
        """Start making the catalogues of ``names`` (default: the run's
        samples after its first with a synthetic catalogue of at least
        :data:`MIN_PREFETCH_STARS` stars) in a worker process."""
        self = cls()
        if effective_n_threads(n_threads) < 2:
            return self  # one CPU: nothing to overlap
        names = _prefetched_samples(cfg) if names is None else list(names)
        if not names:
            return self
        import threading

        from ..fitting.workers import worker_pool

        self._pool = worker_pool(1)
        self._names = list(names)
        # the first submit waits until the forkserver has made its imports
        # (fastgrad, emcee: ~1 s) and forked the worker: a thread waits for
        # it, the run goes on with its first sample
        self._submitting = threading.Thread(
            target=self._submit, args=(cfg, names), name="fastgrad-prefetch", daemon=True
        )
        self._submitting.start()
        return self

    def _submit(self, cfg, names):
        """Submit the catalogues (in a thread); a failed submit leaves the
        sample to the caller, which then makes its catalogue itself."""
        futures = {}
        try:
            for name in names:
                futures[name] = self._pool.submit(_prefetch_job, cfg, name)
        except Exception as exc:  # noqa: BLE001 - the sample's own turn makes it
            from .progress import logger

            logger.debug("catalogues not made ahead (%s): each sample makes its own", exc)
        self._futures.update(futures)

    def _submitted(self):
        """Wait until the catalogues are submitted."""
        if self._submitting is not None:
            self._submitting.join()
            self._submitting = None

    @property
    def samples(self) -> list[str]:
        """The samples whose catalogue is being made ahead (not yet taken)."""
        self._submitted()
        return list(self._futures)

    def survey(self, name: str) -> dict[str, Table] | None:
        """Sample ``name``'s synthetic survey (waiting for it), or None when
        it is not made ahead (then the caller makes it).  An error of
        :func:`synthetic_survey` is raised here, as the caller's own would be."""
        if name not in self._names:
            return None  # (without waiting for the submits of the others)
        self._names.remove(name)
        self._submitted()
        future = self._futures.pop(name, None)
        if future is None:
            return None
        try:
            made = future.result()
        except BrokenProcessPool:  # the worker died (e.g. killed for memory)
            return None  # the caller makes the catalogue itself
        return made.tables() if isinstance(made, SharedTables) else made

    def close(self, abort: bool = False) -> None:
        """Stop the worker: now (``abort``, or a catalogue nobody took), or
        once it is idle."""
        if self._pool is None:
            return
        self._submitted()
        pool, self._pool = self._pool, None
        pending, self._futures = self._futures, {}
        _close_pool(pool, abort or bool(pending))
        from ..fitting.workers import succeeded

        for future in pending.values():
            # a catalogue made but never taken: its shared block goes too
            if succeeded(future):
                made = future.result()
                if isinstance(made, SharedTables):
                    made.discard()

    def __enter__(self) -> Prefetch:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(abort=exc_type is not None)


#: Figures 1-8 are saved at this resolution (dots per inch)
FIGURE_DPI = 110


def make_figure(name: str, args: tuple, kwargs: Mapping[str, Any]) -> Any:
    """Figure ``name`` of :mod:`fastgrad.plots` drawn on ``args``, ``kwargs``."""
    from .. import plots

    return getattr(plots, name)(*args, **kwargs)


def draw_figure(name: str, args: tuple, kwargs: Mapping[str, Any], path: str) -> None:
    """Draw a figure (:func:`make_figure`) and save it as ``path`` (PNG,
    :data:`FIGURE_DPI`): one job of :class:`FigureDrawing`, module-level so
    that a worker process can run it."""
    make_figure(name, args, kwargs).savefig(path, dpi=FIGURE_DPI)


class FigureDrawing:
    """Figures drawn and saved while the caller does other work: in
    ``n_workers`` worker processes or, when :meth:`wait` is called, here
    (``here``; default: with one CPU).

    ``jobs`` are ``(number, plot function, args, kwargs)`` (the report's
    Figures 1-8), saved as ``folder / f"fig{number}.png"``: the same bytes
    either way.  :meth:`wait` returns the numbers drawn, raising the error
    of the first figure that failed (in the jobs' order); the workers are
    stopped at once on an error or Ctrl-C (:meth:`close`).
    """

    def __init__(self, jobs, folder, n_workers: int, here: bool | None = None) -> None:
        self._jobs = [
            (i, name, args, kwargs, str(folder / f"fig{i}.png")) for i, name, args, kwargs in jobs
        ]
        self._pool, self._futures = None, []
        if here is None:
            # workers when there are CPUs: even one figure, which a worker
            # draws while the caller writes the tables, without importing
            # matplotlib (the forkserver has: fitting.workers.PRELOAD)
            here = n_workers < 2
        if not here and self._jobs:
            from ..fitting.workers import worker_pool

            self._pool = worker_pool(min(n_workers, len(self._jobs)))
            try:
                self._futures = [
                    self._pool.submit(draw_figure, name, args, kwargs, path)
                    for _, name, args, kwargs, path in self._jobs
                ]
            except BaseException:
                self.close(abort=True)
                raise

    @property
    def numbers(self) -> list[int]:
        """The numbers of the figures drawn (or to be), in the jobs' order."""
        return [i for i, *_ in self._jobs]

    def wait(self) -> list[int]:
        """Wait for (or draw) every figure; their numbers, in order.  A worker
        that died (killed for memory, say) leaves its figures to be drawn
        here (a RuntimeWarning says so)."""
        if self._pool is None:
            for _, name, args, kwargs, path in self._jobs:
                draw_figure(name, args, kwargs, path)
        else:
            try:
                for future in self._futures:
                    future.result()
            except BrokenProcessPool:
                self.close(abort=True)
                self._draw_unfinished()
            except BaseException:
                self.close(abort=True)
                raise
            self.close()
        return self.numbers

    def _draw_unfinished(self):
        import warnings

        from ..fitting.workers import succeeded

        left = [job for job, future in zip(self._jobs, self._futures) if not succeeded(future)]
        warnings.warn(
            f"a worker process drawing the figures died: Figure(s) "
            f"{', '.join(str(job[0]) for job in left)} drawn here instead",
            RuntimeWarning,
            stacklevel=3,
        )
        for _, name, args, kwargs, path in left:
            draw_figure(name, args, kwargs, path)

    def close(self, abort: bool = False) -> None:
        """Stop the workers: now (``abort``) or once idle."""
        pool, self._pool = self._pool, None
        if pool is not None:
            _close_pool(pool, abort)

    def __enter__(self) -> FigureDrawing:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(abort=exc_type is not None)
