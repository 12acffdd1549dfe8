"""The kernel builds side by side: AVX2 against AVX-512 (or any two of
``fastgrad._kernels.variants()``), alternating in one process.

    python bench/kernel_variants.py [--builds avx2,avx512] [--rounds 7]
        [--what likelihood,mc,nominal,annulus,permutation]
        [--sizes 30000,1000000,9300000]

Likelihood: ``LineModel(x, y, x_err, y_err, scatter="vertical").log_prob``
with 5 walkers (theta of shape (5, 3)) at each N, and one theta at
N = 30,000, on 1 and 2 threads: star-evaluations per second.  Monte Carlo:
``mc_galactocentric`` of 20,000 stars x 1000 draws on 1 and 2 threads:
draws per second.  The nominal transform of 10^6 stars, the annulus means of
2x10^6 and the permutation test of 10^6 stars (200 permutations, 180 bins)
on 2 threads: stars per second.  Each round times every build once, in turn, so that a
burst of load on a shared machine hits all of them; the medians (and best)
of the rounds are printed with the load average.
"""

import argparse
import importlib
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from benchmarks.bench_fitting import _stars as _line_stars  # noqa: E402
from benchmarks.bench_transform import _stars as _mc_stars  # noqa: E402

import fastgrad  # noqa: E402
from fastgrad import _kernels, azimuthal, significance, transform  # noqa: E402
from fastgrad.fitting import likelihood  # noqa: E402


def _loadavg():
    try:
        return open("/proc/loadavg").read().split()[:3]
    except OSError:
        return ["?"] * 3


def _per_call(fn, min_time=0.2):
    """Seconds per call of fn, over >= min_time of calls."""
    fn()
    number, t = 1, 0.0
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        t = time.perf_counter() - t0
        if t >= min_time:
            return t / number
        number *= 2 if t < min_time / 4 else 1 + int(min_time / max(t, 1e-9))


def _report(label, unit, rates, builds):
    med = {b: float(np.median(rates[b])) for b in builds}
    best = {b: float(np.max(rates[b])) for b in builds}
    cols = "  ".join(f"{b} {med[b]:.3g} (best {best[b]:.3g})" for b in builds)
    ratio = med[builds[-1]] / med[builds[0]]
    print(f"{label:<34} {unit}: {cols}  ratio {ratio:.3f}", flush=True)
    return ratio


def likelihood_cases(builds, mods, sizes, rounds):
    for n in sizes:
        x, y, ex, ey = _line_stars(n)
        models = {}
        for b in builds:
            likelihood._core = mods[b]  # the module LineModel builds its kernel from
            models[b] = {
                nt: likelihood.LineModel(x, y, ex, ey, scatter="vertical", n_threads=nt)
                for nt in (1, 2)
            }
        likelihood._core = _kernels.core
        thetas = [
            ("5 walkers", np.array([[-0.07, 0.45, 0.3]]) * (1 + 1e-3 * np.arange(5))[:, None])
        ]
        if n <= 30_000:
            thetas.append(("1 theta", np.array([-0.07, 0.45, 0.3])))
        for name, theta in thetas:
            k = 1 if theta.ndim == 1 else len(theta)
            ref = {b: models[b][1].log_prob(theta) for b in builds}
            same = all(np.array_equal(ref[b], ref[builds[0]]) for b in builds)
            for nt in (1, 2):
                rates = {b: [] for b in builds}
                for _ in range(rounds):
                    for b in builds:
                        m = models[b][nt]
                        rates[b].append(n * k / _per_call(lambda m=m: m.log_prob(theta)))
                _report(
                    f"N={n:,} {name} {nt}t{' (same bits)' if same else ' (DIFFER)'}",
                    "evals/s",
                    rates,
                    builds,
                )


def mc_cases(builds, mods, rounds, n=20_000, k=1000):
    s, e = _mc_stars(n)
    for nt in (1, 2):
        rates = {b: [] for b in builds}
        cpu = {b: [] for b in builds}
        for _ in range(rounds):
            for b in builds:
                transform._core = mods[b]
                t0, c0 = time.perf_counter(), time.process_time()
                fastgrad.mc_galactocentric(**s, **e, n_samples=k, seed=1, n_threads=nt)
                rates[b].append(n * k / (time.perf_counter() - t0))
                cpu[b].append(n * k / (time.process_time() - c0))
        transform._core = _kernels.core
        _report(f"Monte Carlo {n:,} x {k} {nt}t", "draws/s", rates, builds)
        _report(f"Monte Carlo {n:,} x {k} {nt}t", "draws/CPU-s", cpu, builds)


def _swap(module, mods, builds, fn):
    """fn run with module._core set to each build in turn: {build: seconds}."""
    out = {}
    for b in builds:
        module._core = mods[b]
        try:
            out[b] = _per_call(fn)
        finally:
            module._core = _kernels.core
    return out


def other_cases(builds, mods, rounds, what):
    rng = np.random.default_rng(3)
    cases = []
    if "nominal" in what:
        s, _ = _mc_stars(1_000_000)
        cases.append(
            ("nominal transform 10^6 2t", transform, 1_000_000,
             lambda: fastgrad.galactocentric(**s, n_threads=2))
        )  # fmt: skip
    if "annulus" in what:
        R, v = rng.uniform(4, 16, 2_000_000), rng.normal(-0.2, 0.2, 2_000_000)
        cases.append(
            ("annulus means 2x10^6 2t", azimuthal, 2_000_000,
             lambda: fastgrad.annulus_mean(R, v, 0.1, n_threads=2))
        )  # fmt: skip
    if "permutation" in what:
        lab, d = rng.integers(0, 180, 1_000_000), rng.normal(0, 0.1, 1_000_000)
        cases.append(
            ("permutation test 10^6 x 200 2t", significance, 1_000_000,
             lambda: significance.permutation_test(
                 lab, d, 180, n_permutations=200, seed=1, n_threads=2))
        )  # fmt: skip
    for label, module, n, fn in cases:
        rates = {b: [] for b in builds}
        for _ in range(rounds):
            for b, t in _swap(module, mods, builds, fn).items():
                rates[b].append(n / t)
        _report(label, "stars/s", rates, builds)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--builds", default="avx2,avx512")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--what", default="likelihood,mc,nominal,annulus,permutation")
    p.add_argument("--sizes", default="30000,1000000,9300000")
    a = p.parse_args()
    found = _kernels.variants()
    for b in a.builds.split(","):
        if b not in found:  # another build of the same source (an experiment)
            try:
                found[b] = importlib.import_module(f"fastgrad._core_{b}")
            except ImportError:
                pass
    builds = [b for b in a.builds.split(",") if b in found]
    if len(builds) < 2:
        sys.exit(f"need two of {a.builds} built and runnable here; have {list(found)}")
    print(f"builds {builds}, load average before {' '.join(_loadavg())}", flush=True)
    what = a.what.split(",")
    if "likelihood" in what:
        sizes = [int(float(v)) for v in a.sizes.split(",")]
        likelihood_cases(builds, found, sizes, a.rounds)
    if "mc" in what:
        mc_cases(builds, found, a.rounds)
    other_cases(builds, found, a.rounds, what)
    print(f"load average after {' '.join(_loadavg())}", flush=True)


if __name__ == "__main__":
    main()
