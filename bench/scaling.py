"""OpenMP thread scaling of the kernels: a markdown table for bench/README.md.

    python bench/scaling.py [--threads 1,2,4,8,16] [--repeat 5]

Each kernel runs on the same data at each thread count (best of --repeat);
speed-up is relative to one thread.  Run it on an idle machine.
"""

import argparse
import os
import platform
import sys

import numpy as np

import fastgrad

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchmarks.bench_transform import _best, _stars  # noqa: E402  (the benchmark's helpers)


def mc_transform_case(n=40_000):
    s, e = _stars(n)
    label = f"mc_galactocentric, {n:,} stars x 1000 draws"
    return label, lambda k: fastgrad.mc_galactocentric(
        **s, **e, n_samples=1000, seed=1, n_threads=k
    )


CASES = [mc_transform_case]


def extra_cases():
    """Kernels of other modules, when present in this build."""
    out = []
    if hasattr(fastgrad, "line_loglike"):

        def loglike_case(n=1_000_000):
            rng = np.random.default_rng(0)
            x = rng.uniform(6, 12, n)
            y = -0.07 * x + 0.4 + rng.normal(0, 0.3, n)
            xe, ye = np.full(n, 0.1), np.full(n, 0.08)
            theta = np.column_stack([np.full(10, -0.07), np.full(10, 0.4), np.full(10, 0.3)])
            return (
                f"line_loglike, {n:,} stars x 10 walkers",
                lambda k: fastgrad.line_loglike(theta, x, y, xe, ye, n_threads=k),
            )

        out.append(loglike_case)
    if hasattr(fastgrad, "annulus_mean"):

        def annulus_case(n=2_000_000):
            rng = np.random.default_rng(0)
            R = rng.uniform(5, 14, n)
            v = rng.normal(size=n)
            return (
                f"annulus_mean, {n:,} stars",
                lambda k: fastgrad.annulus_mean(R, v, n_threads=k),
            )

        out.append(annulus_case)
    return out


def main():
    ap = argparse.ArgumentParser()
    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    default = [k for k in (1, 2, 4, 8, 16, 32) if k <= ncpu]
    ap.add_argument("--threads", default=",".join(map(str, default)))
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    threads = [int(k) for k in args.threads.split(",")]
    cfg = fastgrad.build_config()
    print(
        f"machine: {platform.processor() or platform.machine()}, {ncpu} CPUs; "
        f"fastgrad {cfg['fastgrad']}, kernels {cfg['kernels']}, openmp {cfg['openmp']}\n"
    )
    print("| kernel | " + " | ".join(f"{k} thr" for k in threads) + " |")
    print("|---|" + "---|" * len(threads))
    for case in CASES + extra_cases():
        label, fn = case()
        fn(1)  # warm-up
        times = [_best(lambda: fn(k), args.repeat) for k in threads]
        cells = [f"{t * 1e3:.1f} ms ({times[0] / t:.2f}x)" for t in times]
        print(f"| {label} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
