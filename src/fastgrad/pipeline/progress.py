"""The pipeline's progress: one log record per step on the ``fastgrad`` logger,
with the elapsed time, and a tqdm bar for the long per-star steps.

fastgrad logs through :mod:`logging` (logger ``"fastgrad"``) and never
configures logging for a library user: records go wherever the application
sends them. A run with ``verbose=True`` whose ``fastgrad`` INFO records
the user's logging does not show gets a handler on stderr for its duration (what the
``fastgrad`` command shows; ``--quiet`` keeps warnings only, ``--verbose``
adds debug records).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import TypeVar

    _T = TypeVar("_T")


__all__ = ["Progress", "logger", "log_to_stderr"]

#: fastgrad's logger; ``logging.getLogger("fastgrad").setLevel(...)`` steers it
logger = logging.getLogger("fastgrad")


class _Elapsed(logging.Formatter):
    """``[fastgrad   12.3s] message``: seconds since the run began."""

    def __init__(self, t0):
        super().__init__()
        self.t0 = t0

    def format(self, record):
        prefix = f"[fastgrad {record.created - self.t0:6.1f}s]"
        if record.levelno >= logging.WARNING:
            prefix += f" {record.levelname.lower()}:"
        return f"{prefix} {record.getMessage()}"


class log_to_stderr:
    """Send the ``fastgrad`` logger's records of ``level`` and above to stderr
    (what the command line does), as a context manager: the handler and the
    logger's level are restored on exit.

    Examples
    --------
    The records' format, ``[fastgrad <seconds since t0>s]``, and the logger
    restored on exit:

    >>> import logging
    >>> from fastgrad.pipeline.progress import log_to_stderr, logger
    >>> before = logger.level
    >>> with log_to_stderr(logging.INFO, t0=1000.0) as handler:
    ...     record = logging.makeLogRecord({"msg": "2 rows without RV", "levelno": logging.WARNING,
    ...                                     "levelname": "WARNING", "created": 1012.3})
    ...     print(handler.format(record))
    ...     print(logging.getLevelName(logger.getEffectiveLevel()))
    [fastgrad   12.3s] warning: 2 rows without RV
    INFO
    >>> handler in logger.handlers, logger.level == before
    (False, True)
    """

    def __init__(self, level: int = logging.INFO, t0: float | None = None) -> None:
        self.level, self.t0 = level, time.time() if t0 is None else t0

    def __enter__(self):
        self.handler = logging.StreamHandler(sys.stderr)
        self.handler.setFormatter(_Elapsed(self.t0))
        self.handler.setLevel(self.level)
        self.previous = logger.level
        logger.addHandler(self.handler)
        if logger.getEffectiveLevel() > self.level:
            logger.setLevel(self.level)
        return self.handler

    def __exit__(self, *exc):
        logger.removeHandler(self.handler)
        logger.setLevel(self.previous)
        return False


def _shown(level):
    """Whether the user's logging configuration already shows records of
    ``level`` from the ``fastgrad`` logger (a handler on it or above it, and
    a level that lets them through)."""
    return logger.hasHandlers() and logger.getEffectiveLevel() <= level


class Progress:
    """One log record per step with its elapsed time; per-step timings (s).

    ``verbose``: a run's progress is shown (on stderr, unless the user's
    logging configuration already shows the ``fastgrad`` logger's INFO
    records: then only there) and the per-star
    steps get a tqdm bar on a terminal. Use as a context manager around the
    run, so that a temporary handler is removed again.

    Examples
    --------
    Quiet (``verbose=False``): steps are timed, a large input is one chunk and
    no bar is drawn:

    >>> import time
    >>> from fastgrad.pipeline.progress import Progress
    >>> with Progress(verbose=False) as progress:
    ...     with progress.step("quality cuts"):
    ...         time.sleep(0.01)
    ...     chunks = list(progress.chunks(1_000_000, "Monte Carlo"))
    ...     total = sum(progress.bar(range(5), total=5, label="realisations"))
    >>> list(progress.timings), progress.timings["quality cuts"] >= 0.01
    (['quality cuts'], True)
    >>> chunks, total
    ([(0, 1000000)], 10)
    """

    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self.t0 = time.perf_counter()
        self._wall0 = time.time()
        self.timings = {}
        self._handler = None

    def __enter__(self):
        if self.verbose and not _shown(logging.INFO):
            self._handler = log_to_stderr(logging.INFO, t0=self._wall0)
            self._handler.__enter__()
        return self

    def __exit__(self, *exc):
        if self._handler is not None:
            self._handler.__exit__(*exc)
            self._handler = None
        return False

    def step(self, name: str) -> _Step:
        return _Step(self, name)

    def note(self, text: str, level: int = logging.INFO) -> None:
        """One record (INFO by default; shown when verbose)."""
        if self.verbose or level >= logging.WARNING:
            logger.log(level, text)

    def bar(
        self, iterable: Iterable[_T], total: int | None, label: str, unit: str = "it"
    ) -> Iterator[_T]:
        """``iterable`` with a tqdm bar on stderr (verbose and on a terminal
        only): long loops such as the realisations of ``fastgrad calibrate``."""
        if not self.verbose or not sys.stderr.isatty():
            yield from iterable
            return
        from tqdm.auto import tqdm

        yield from tqdm(
            iterable, total=total, desc=f"    {label}", unit=unit, leave=False, file=sys.stderr
        )

    def chunks(
        self, n: int, label: str, n_chunks: int = 25, min_rows: int = 100_000
    ) -> Iterator[tuple[int, int]]:
        """(lo, hi) row ranges; a tqdm bar on stderr while they are consumed
        (one range, no bar, for small inputs, when quiet or not on a terminal)."""
        if not self.verbose or n < min_rows or not sys.stderr.isatty():
            yield 0, n
            return
        from tqdm.auto import tqdm

        edges = [n * i // n_chunks for i in range(n_chunks + 1)]
        with tqdm(
            total=n, desc=f"    {label}", unit="star", unit_scale=True, leave=False, file=sys.stderr
        ) as bar:
            for lo, hi in zip(edges[:-1], edges[1:]):
                yield lo, hi
                bar.update(hi - lo)


class _Step:
    def __init__(self, progress, name):
        self.p, self.name = progress, name

    def __enter__(self):
        self.t = time.perf_counter()
        self.p.note(f"{self.name} ...")
        return self

    def __exit__(self, *exc):
        self.p.timings[self.name] = time.perf_counter() - self.t
        logger.debug("%s: %.2f s", self.name, self.p.timings[self.name])
        return False
