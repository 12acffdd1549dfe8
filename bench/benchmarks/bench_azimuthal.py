"""asv benchmarks: fastgrad.annulus_mean against the obvious alternatives.

* numpy: argsort + cumsum + searchsorted (O(N log N), uncompensated sums);
* naive: the O(N^2) definition, one vectorised row per star, only at small N
  (extrapolate as N^2: ~3,000 s at 1e6 stars).

Run with asv, or as a script for one-run ratios:
    python bench/benchmarks/bench_azimuthal.py
"""
import time

import numpy as np

import fastgrad

HALF_WIDTH = 0.1


def make_stars(n, seed=0):
    rng = np.random.default_rng(seed)
    R = np.sqrt(rng.uniform(6.0**2, 13.0**2, n))          # uniform surface density
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
    print(f"N={n_naive:>9,}: naive O(N^2) {t_naive:8.3f} s, fastgrad {t_fg_small * 1e3:8.2f} ms, "
          f"ratio {t_naive / t_fg_small:,.0f}x")
    for n in (100_000, 1_000_000):
        R, feh = make_stars(n)
        w = np.random.default_rng(1).uniform(0.5, 2.0, n)
        t_np = _best(lambda: numpy_annulus_mean(R, feh, HALF_WIDTH), 7)
        t_fg = _best(lambda: fastgrad.annulus_mean(R, feh, HALF_WIDTH), 15)
        t_fg1 = _best(lambda: fastgrad.annulus_mean(R, feh, HALF_WIDTH, n_threads=1), 15)
        t_fgw = _best(lambda: fastgrad.annulus_mean(R, feh, HALF_WIDTH, weights=w), 15)
        t_naive_n = t_naive * (n / n_naive) ** 2
        print(f"N={n:>9,}: numpy sort+cumsum {t_np * 1e3:7.1f} ms | fastgrad {t_fg * 1e3:6.1f} ms "
              f"(1 thread {t_fg1 * 1e3:6.1f} ms, weighted {t_fgw * 1e3:6.1f} ms) | "
              f"numpy/fastgrad {t_np / t_fg:4.1f}x (1 thread {t_np / t_fg1:4.1f}x) | "
              f"naive (extrapolated {t_naive_n:,.0f} s)/fastgrad {t_naive_n / t_fg:,.0f}x")


if __name__ == "__main__":
    main()
