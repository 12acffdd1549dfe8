"""One likelihood call, one theta: fastgrad against the numpy formula, side by side.

Times ``fastgrad.line_loglike`` (n_threads None, 1 and 2), ``LineModel.loglike``
and ``LineModel.log_prob`` against the numpy likelihood (and log-probability)
of ``benchmarks/bench_fitting.py``, interleaved in one process so that a burst
of load on a shared machine hits both sides, and prints each ratio (numpy's
time over fastgrad's; best and median of the rounds).

    python bench/likelihood_call.py [--n 30000] [--rounds 21]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from benchmarks.bench_fitting import (  # noqa: E402
    THETA,
    _stars,
    numpy_log_prob,
    numpy_loglike,
)

import fastgrad  # noqa: E402
from fastgrad.fitting import LineModel  # noqa: E402


def _per_call(fn, number):
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=30_000, help="stars")
    p.add_argument("--rounds", type=int, default=21)
    a = p.parse_args()
    data = _stars(a.n)
    model = LineModel(*data)
    theta = THETA.copy()
    number = max(1, 300_000 // a.n)
    cases = {
        "line_loglike, n_threads=None": (
            lambda: fastgrad.line_loglike(theta, *data),
            lambda: numpy_loglike(theta, *data),
        ),
        "line_loglike, n_threads=1": (
            lambda: fastgrad.line_loglike(theta, *data, n_threads=1),
            lambda: numpy_loglike(theta, *data),
        ),
        "line_loglike, n_threads=2": (
            lambda: fastgrad.line_loglike(theta, *data, n_threads=2),
            lambda: numpy_loglike(theta, *data),
        ),
        "LineModel.loglike": (
            lambda: model.loglike(theta),
            lambda: numpy_loglike(theta, *data),
        ),
        "LineModel.log_prob": (
            lambda: model.log_prob(theta),
            lambda: numpy_log_prob(theta, *data),
        ),
    }
    print(f"N = {a.n}, one theta per call, {a.rounds} interleaved rounds")
    print(f"{'call':32s} {'fastgrad us':>12s} {'numpy us':>10s} {'best x':>7s} {'median x':>9s}")
    for name, (fast, slow) in cases.items():
        fast(), slow()
        tf, ts = [], []
        for _ in range(a.rounds):
            tf.append(_per_call(fast, number))
            ts.append(_per_call(slow, max(1, number // 4)))
        tf, ts = np.array(tf), np.array(ts)
        print(
            f"{name:32s} {tf.min() * 1e6:12.1f} {ts.min() * 1e6:10.1f} "
            f"{ts.min() / tf.min():7.1f} {np.median(ts) / np.median(tf):9.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
