"""Monte-Carlo draws per second, builds side by side.

    python bench/mc_rate.py [--stars 100000] [--draws 1000] [--rounds 5]
        [--threads 1 2] [--run LABEL=PYTHON ...]

Each ``--run`` is a Python interpreter with fastgrad installed (another
checkout's virtual environment: before/after a change); default: this one.
Each round runs every variant, every thread count, in a fresh process (ABAB...,
so that both builds see the same machine: on a shared machine the absolute
rates drift, their ratio much less); a process times ``mc_galactocentric`` as
users call it, best of 3 calls after a warm-up.  Printed per variant and thread
count: best and median draws/s over the rounds, and each variant's ratio to
the first one, of the bests and of the medians; and the load average.
"""

import argparse
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

CHILD = """
import sys, time
sys.path.insert(0, {bench!r})
from benchmarks.bench_transform import _stars
import fastgrad
s, e = _stars({n})
fastgrad.mc_galactocentric(**s, **e, n_samples=50, seed=1, n_threads={threads})
best = float("inf")
for _ in range(3):
    t0 = time.perf_counter()
    fastgrad.mc_galactocentric(**s, **e, n_samples={k}, seed=1, n_threads={threads})
    best = min(best, time.perf_counter() - t0)
print({n} * {k} / best)
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stars", type=int, default=100_000)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--run", action="append", default=[], metavar="LABEL=PYTHON")
    args = ap.parse_args()
    runs = [r.split("=", 1) for r in args.run] or [["this", sys.executable]]
    rates = {(label, t): [] for label, _ in runs for t in args.threads}
    loads = []
    for _ in range(args.rounds):
        loads.append(os.getloadavg()[0])
        for t in args.threads:
            for label, python in runs:
                code = CHILD.format(bench=HERE, n=args.stars, k=args.draws, threads=t)
                env = dict(os.environ, OMP_NUM_THREADS=str(t))
                out = subprocess.run(
                    [python, "-c", code], env=env, capture_output=True, text=True, check=True
                )
                rates[label, t].append(float(out.stdout.split()[-1]))
    print(
        f"{args.stars:,} stars x {args.draws} draws, {args.rounds} rounds; "
        f"load average {min(loads):.1f}-{max(loads):.1f}"
    )
    print(
        f"{'build':>10} {'threads':>7} {'best':>10} {'median':>10} {'ratio best':>10} "
        f"{'(median)':>9}"
    )
    for t in args.threads:
        first = rates[runs[0][0], t]
        for label, _ in runs:
            r = rates[label, t]
            ratio = max(r) / max(first)
            ratio_med = statistics.median(r) / statistics.median(first)
            print(
                f"{label:>10} {t:>7} {max(r):10.3e} {statistics.median(r):10.3e} "
                f"{ratio:10.2f} {ratio_med:9.2f}"
            )


if __name__ == "__main__":
    main()
