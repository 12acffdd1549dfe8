"""asv benchmarks: fastgrad.annulus_mean against the obvious alternatives.

* numpy: argsort + cumsum + searchsorted (O(N log N), uncompensated sums);
* naive: the O(N^2) definition, one vectorised row per star, only at small N
  (extrapolate as N^2: ~3,000 s at 1e6 stars).

And the permutation tests (fastgrad.significance) against the numpy loop the
first version ran: one ``Generator.shuffle`` and one ``bincount`` per
permutation.

Run with asv, or as a script for one-run ratios:
    python bench/benchmarks/bench_azimuthal.py
"""

import time

import numpy as np

import fastgrad
from fastgrad._kernels import core
from fastgrad.significance import permutation_test

HALF_WIDTH = 0.1
#: permutations per blocked-shuffle benchmark (seconds each at 9.3e6 stars)
BLOCKED_PERMUTATIONS = 20


def make_stars(n, seed=0):
    rng = np.random.default_rng(seed)
    R = np.sqrt(rng.uniform(6.0**2, 13.0**2, n))  # uniform surface density
    feh = 0.45 - 0.07 * R + rng.normal(0.0, 0.15, n)
    return R, feh


def numpy_annulus_mean(R, values, h):
    order = np.argsort(R)
    Rs = R[order]
    csum = np.concatenate(([0.0], np.cumsum(values[order])))
    lo = np.searchsorted(Rs, Rs - h, side="left")
    hi = np.searchsorted(Rs, Rs + h, side="right")
    out = np.empty_like(values)
    out[order] = (csum[hi] - csum[lo]) / (hi - lo)
    return out


def naive_annulus_mean(R, values, h):
    out = np.empty_like(values)
    for i in range(R.size):
        out[i] = values[np.abs(R - R[i]) <= h].mean()
    return out


class AnnulusMean:
    params = [10_000, 100_000, 1_000_000]
    param_names = ["n_stars"]
    timeout = 300

    def setup(self, n):
        self.R, self.feh = make_stars(n)
        self.w = np.random.default_rng(1).uniform(0.5, 2.0, n)

    def time_fastgrad(self, n):
        fastgrad.annulus_mean(self.R, self.feh, HALF_WIDTH)

    def time_fastgrad_one_thread(self, n):
        fastgrad.annulus_mean(self.R, self.feh, HALF_WIDTH, n_threads=1)

    def time_fastgrad_weighted(self, n):
        fastgrad.annulus_mean(self.R, self.feh, HALF_WIDTH, weights=self.w)

    def time_numpy_sort_cumsum(self, n):
        numpy_annulus_mean(self.R, self.feh, HALF_WIDTH)


class AnnulusMeanNaive:
    """The O(N^2) loop, at a size it finishes."""

    params = [20_000]
    param_names = ["n_stars"]
    timeout = 300

    def setup(self, n):
        self.R, self.feh = make_stars(n)

    def time_naive(self, n):
        naive_annulus_mean(self.R, self.feh, HALF_WIDTH)

    def time_fastgrad(self, n):
        fastgrad.annulus_mean(self.R, self.feh, HALF_WIDTH)


class AzimuthalProfile:
    def setup(self):
        rng = np.random.default_rng(2)
        n = 1_000_000
        self.R, self.feh = make_stars(n)
        self.phi = rng.uniform(-np.pi, np.pi, n)
        self.delta = fastgrad.azimuthal_deviation(self.R, self.feh)

    def time_profiles(self):
        fastgrad.azimuthal_profiles(self.R, self.phi, self.delta)


N_PERMUTATIONS = 1000
N_PHI_BINS = 180  # 2-degree bins, as the default run


def make_ring(n, seed=3):
    """Bin labels (2-degree azimuth bins) and deviations of n stars."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, N_PHI_BINS, n), rng.normal(0.0, 0.15, n)


def numpy_permutation_statistics(labels, values, n_bins, n_permutations, seed=1):
    """The numpy loop: T_k = sum_b S_b^2 / n_b - S^2 / N per permutation."""
    rng = np.random.default_rng(seed)
    counts = np.bincount(labels, minlength=n_bins)
    d = values - values.mean()
    total = d.sum()
    out = np.empty(n_permutations)
    for k in range(n_permutations):
        rng.shuffle(d)
        s = np.bincount(labels, weights=d, minlength=n_bins)
        out[k] = np.sum(s * s / counts) - total * total / d.size
    return out


class PermutationTest:
    """1000 permutations of N stars in 180 bins: the ring's test, the
    per-bin test of the maps (2500 cells), and the numpy loop."""

    params = [100_000, 1_000_000]
    param_names = ["n_stars"]
    timeout = 300

    def setup(self, n):
        self.labels, self.values = make_ring(n)
        self.cells = np.random.default_rng(4).integers(0, 2500, n)

    def time_fastgrad(self, n):
        permutation_test(
            self.labels, self.values, N_PHI_BINS, n_permutations=N_PERMUTATIONS, seed=1
        )

    def time_fastgrad_one_thread(self, n):
        permutation_test(
            self.labels, self.values, N_PHI_BINS, n_permutations=N_PERMUTATIONS, seed=1, n_threads=1
        )

    def time_fastgrad_map_cells(self, n):
        permutation_test(
            self.cells, self.values, 2500, n_permutations=N_PERMUTATIONS, seed=1, per_bin=True
        )

    def time_numpy_loop(self, n):
        numpy_permutation_statistics(self.labels, self.values, N_PHI_BINS, N_PERMUTATIONS)


class BlockedShuffle:
    """Permutations of survey-scale samples (9.3 million stars, the 2x10^7
    run's map): the cache-blocked shuffle fastgrad takes above 2**21 stars
    against the one-pass Fisher-Yates shuffle it takes below (the kernel's
    ``min_blocked`` argument), 20 permutations, 2500 cells, per-cell test."""

    params = [[3_000_000, 9_300_000], [1, 2]]
    param_names = ["n_stars", "n_threads"]
    timeout = 300

    def setup(self, n, n_threads):
        self.args = blocked_shuffle_args(n)

    def time_blocked(self, n, n_threads):
        run_kernel_permutations(self.args, n_threads, blocked=True)

    def time_one_pass(self, n, n_threads):
        run_kernel_permutations(self.args, n_threads, blocked=False)


def blocked_shuffle_args(n, n_cells=2500):
    """The kernel's arguments for a per-cell test of n stars in ``n_cells``."""
    rng = np.random.default_rng(5)
    labels = rng.integers(0, n_cells, n).astype(np.uint16)
    d = rng.normal(0.0, 0.1, n)
    d -= d.mean()
    counts = np.bincount(labels, minlength=n_cells).astype(np.float64)
    return labels, d, counts, np.full(n_cells, 1e-3), np.full(n_cells, 10.0)


def run_kernel_permutations(args, n_threads, blocked, k=BLOCKED_PERMUTATIONS):
    labels, d, counts, thresholds, inv_sd = args
    core.permutation_test(
        labels,
        d,
        counts,
        d.sum(),
        np.uint64(1),
        np.empty(k),
        thresholds,
        inv_sd,
        np.zeros(counts.size, np.int64),
        np.empty(k),
        n_threads,
        core.PERMUTATION_BLOCK,
        0 if blocked else 2**62,
    )


def _best(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    print(f"fastgrad {fastgrad.__version__}, threads: {fastgrad.effective_n_threads()}")
    n_naive = 20_000
    R, feh = make_stars(n_naive)
    t_naive = _best(lambda: naive_annulus_mean(R, feh, HALF_WIDTH), 2)
    t_fg_small = _best(lambda: fastgrad.annulus_mean(R, feh, HALF_WIDTH), 20)
    print(
        f"N={n_naive:>9,}: naive O(N^2) {t_naive:8.3f} s, fastgrad {t_fg_small * 1e3:8.2f} ms, "
        f"ratio {t_naive / t_fg_small:,.0f}x"
    )
    for n in (100_000, 1_000_000):
        R, feh = make_stars(n)
        w = np.random.default_rng(1).uniform(0.5, 2.0, n)
        t_np = _best(lambda: numpy_annulus_mean(R, feh, HALF_WIDTH), 7)
        t_fg = _best(lambda: fastgrad.annulus_mean(R, feh, HALF_WIDTH), 15)
        t_fg1 = _best(lambda: fastgrad.annulus_mean(R, feh, HALF_WIDTH, n_threads=1), 15)
        t_fgw = _best(lambda: fastgrad.annulus_mean(R, feh, HALF_WIDTH, weights=w), 15)
        t_naive_n = t_naive * (n / n_naive) ** 2
        print(
            f"N={n:>9,}: numpy sort+cumsum {t_np * 1e3:7.1f} ms | fastgrad {t_fg * 1e3:6.1f} ms "
            f"(1 thread {t_fg1 * 1e3:6.1f} ms, weighted {t_fgw * 1e3:6.1f} ms) | "
            f"numpy/fastgrad {t_np / t_fg:4.1f}x (1 thread {t_np / t_fg1:4.1f}x) | "
            f"naive (extrapolated {t_naive_n:,.0f} s)/fastgrad {t_naive_n / t_fg:,.0f}x"
        )
    for n in (100_000, 1_000_000):
        labels, values = make_ring(n)
        cells = np.random.default_rng(4).integers(0, 2500, n)
        k = N_PERMUTATIONS
        t_np = _best(lambda: numpy_permutation_statistics(labels, values, N_PHI_BINS, k), 1)
        t_fg = _best(lambda: permutation_test(labels, values, N_PHI_BINS, n_permutations=k), 3)
        t_fg1 = _best(
            lambda: permutation_test(labels, values, N_PHI_BINS, n_permutations=k, n_threads=1), 2
        )
        t_map = _best(
            lambda: permutation_test(cells, values, 2500, n_permutations=k, per_bin=True), 2
        )
        print(
            f"N={n:>9,}, {k} permutations: numpy loop {t_np:6.2f} s | fastgrad {t_fg:5.2f} s "
            f"(1 thread {t_fg1:5.2f} s; 2500 cells, per-cell test {t_map:5.2f} s) | "
            f"numpy/fastgrad {t_np / t_fg:4.1f}x"
        )
    k = BLOCKED_PERMUTATIONS
    for n in (3_000_000, 9_300_000):
        args = blocked_shuffle_args(n)
        for threads in (1, 2):
            t_one = _best(lambda: run_kernel_permutations(args, threads, blocked=False), 3)
            t_blk = _best(lambda: run_kernel_permutations(args, threads, blocked=True), 3)
            print(
                f"N={n:>9,}, {k} permutations, {threads} thread(s), 2500 cells: one pass "
                f"{t_one:5.2f} s ({t_one / (k * n) * 1e9:4.1f} ns a star), blocked {t_blk:5.2f} s "
                f"({t_blk / (k * n) * 1e9:4.1f} ns) | one pass/blocked {t_one / t_blk:4.1f}x"
            )


if __name__ == "__main__":
    main()
