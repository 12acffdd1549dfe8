"""The pipeline's progress lines on stderr: one per step, with the elapsed time
(quiet when ``verbose=False``), and a bar for the long per-star steps."""
import sys
import time

import numpy as np

__all__ = ["Progress"]


class Progress:
    """One line per step on stderr, with elapsed time (quiet when verbose=False)."""

    def __init__(self, verbose):
        self.verbose = verbose
        self.t0 = time.perf_counter()
        self.timings = {}

    def step(self, name):
        return _Step(self, name)

    def note(self, text):
        """One line on stderr (when verbose)."""
        if self.verbose:
            print(f"[fastgrad {time.perf_counter() - self.t0:6.1f}s] {text}", file=sys.stderr,
                  flush=True)

    def chunks(self, n, label, n_chunks=25, min_rows=100_000):
        """(lo, hi) row ranges; a progress bar on stderr while they are consumed
        (one range, no bar, for small inputs, when quiet or not on a terminal)."""
        if not self.verbose or n < min_rows or not sys.stderr.isatty():
            yield 0, n
            return
        edges = np.linspace(0, n, n_chunks + 1).astype(int)
        for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
            yield lo, hi
            done = (i + 1) / n_chunks
            bar = "#" * int(30 * done)
            end = "\n" if i + 1 == n_chunks else ""
            print(f"\r    {label} [{bar:<30}] {100 * done:3.0f}%", end=end, file=sys.stderr,
                  flush=True)


class _Step:
    def __init__(self, progress, name):
        self.p, self.name = progress, name

    def __enter__(self):
        self.t = time.perf_counter()
        if self.p.verbose:
            print(f"[fastgrad {time.perf_counter() - self.p.t0:6.1f}s] {self.name} ...",
                  file=sys.stderr, flush=True)
        return self

    def __exit__(self, *exc):
        self.p.timings[self.name] = time.perf_counter() - self.t
        return False
