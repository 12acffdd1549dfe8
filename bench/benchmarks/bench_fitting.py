"""Line likelihood and emcee gradient fits: fastgrad against numpy + emcee, in one run.

The alternative in each class is the obvious one: the likelihood of docs/method.md
section 5 written in numpy, and emcee driving a numpy log-probability one
walker at a time.  ``track_speedup_*`` report the ratios of one run.
"""

import time
import warnings

import emcee
import numpy as np

import fastgrad
from fastgrad.fitting import AutocorrWarning, LineModel

THETA = np.array([-0.07, 0.45, 0.3])
PRIORS = ((-2.0, 2.0), (-10.0, 10.0), (0.0, 5.0))


def _stars(n, seed=0):
    """[Fe/H] against R with errors in both, like one |Z| bin of Table 1."""
    rng = np.random.default_rng(seed)
    R_true = rng.normal(9.3, 1.15, n)
    R_err = rng.uniform(0.05, 0.5, n)
    feh_err = rng.uniform(0.03, 0.15, n)
    feh = -0.07 * R_true + 0.45 + rng.normal(0, 0.3, n) + rng.normal(0, feh_err)
    return R_true + rng.normal(0, R_err), feh, R_err, feh_err


def _survey(n=129_148, seed=1):
    """A LAMOST-like sample for Tables 1 and 2 (~129k stars, docs/method.md section 5)."""
    rng = np.random.default_rng(seed)
    R = np.clip(rng.normal(9.3, 1.15, n), 6.8, 14.5)
    z = rng.laplace(0, 0.22, n)
    feh = 0.45 - 0.07 * R - 0.15 * np.abs(z) + rng.normal(0, 0.3, n)
    return dict(
        R=R,
        z=z,
        feh=feh,
        R_err=rng.uniform(0.05, 0.5, n),
        z_err=rng.uniform(0.01, 0.1, n),
        feh_err=rng.uniform(0.03, 0.15, n),
    )


def numpy_loglike(theta, x, y, sx, sy):
    m, b, lam = theta
    var = m * m * sx**2 + sy**2 + lam**2 * (1 + m * m)
    delta = y - (m * x + b)
    return -0.5 * np.sum(delta**2 / var + np.log(2 * np.pi * var))


def numpy_log_prob(theta, x, y, sx, sy):
    if not all(lo <= t <= hi for t, (lo, hi) in zip(theta, PRIORS)):
        return -np.inf
    return numpy_loglike(theta, x, y, sx, sy)


def _best(fn, repeat=5, number=1):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def interleaved(fast, slow, number_fast, number_slow, repeat=15):
    """Seconds per call of ``fast`` and ``slow``, timed in alternation in one
    process (the machine is shared: a burst of load hits both sides):
    ``{"fast": (best, median), "slow": (best, median)}`` over ``repeat``
    rounds of ``number_*`` calls each."""
    times = {"fast": [], "slow": []}
    for _ in range(repeat):
        for key, fn, number in (("fast", fast, number_fast), ("slow", slow, number_slow)):
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            times[key].append((time.perf_counter() - t0) / number)
    return {k: (min(v), float(np.median(v))) for k, v in times.items()}


class LineLogLike:
    """One likelihood call: fastgrad (checks included, and a pre-checked
    LineModel) against the numpy formula; and the 5 walkers emcee evaluates
    per call with 10 walkers."""

    params = [1_000, 30_000, 1_000_000]
    param_names = ["n_stars"]

    def setup(self, n):
        self.data = _stars(n)
        self.model = LineModel(*self.data)
        self.walkers = THETA + 1e-3 * np.random.default_rng(0).standard_normal((5, 3))
        self.number = max(1, 300_000 // n)

    def time_fastgrad_line_loglike(self, n):
        fastgrad.line_loglike(THETA, *self.data)

    def time_fastgrad_model(self, n):
        self.model.loglike(THETA)

    def time_fastgrad_model_log_prob(self, n):
        self.model.log_prob(THETA)

    def time_numpy(self, n):
        numpy_loglike(THETA, *self.data)

    def time_fastgrad_5_walkers(self, n):
        self.model.log_prob(self.walkers)

    def time_numpy_5_walkers(self, n):
        for theta in self.walkers:
            numpy_log_prob(theta, *self.data)

    def _ratio(self, fast, slow):
        """numpy's time over fastgrad's, best of 15 interleaved rounds."""
        t = interleaved(fast, slow, self.number, max(1, self.number // 10))
        return t["slow"][0] / t["fast"][0]

    def track_speedup_line_loglike(self, n):
        return self._ratio(
            lambda: fastgrad.line_loglike(THETA, *self.data),
            lambda: numpy_loglike(THETA, *self.data),
        )

    track_speedup_line_loglike.unit = "x"

    def track_speedup_line_loglike_1_thread(self, n):
        return self._ratio(
            lambda: fastgrad.line_loglike(THETA, *self.data, n_threads=1),
            lambda: numpy_loglike(THETA, *self.data),
        )

    track_speedup_line_loglike_1_thread.unit = "x"

    def track_speedup_model(self, n):
        return self._ratio(
            lambda: self.model.loglike(THETA), lambda: numpy_loglike(THETA, *self.data)
        )

    track_speedup_model.unit = "x"

    def track_speedup_model_log_prob(self, n):
        """LineModel.log_prob (likelihood + priors) against the numpy
        log-probability, one theta per call (emcee without vectorize)."""
        return self._ratio(
            lambda: self.model.log_prob(THETA), lambda: numpy_log_prob(THETA, *self.data)
        )

    track_speedup_model_log_prob.unit = "x"

    def track_speedup_5_walkers(self, n):
        return self._ratio(
            lambda: self.model.log_prob(self.walkers),
            lambda: [numpy_log_prob(t, *self.data) for t in self.walkers],
        )

    track_speedup_5_walkers.unit = "x"


class FitLine:
    """The paper's fit: 30,000 stars, 10 walkers x 1000 steps."""

    timeout = 600
    N = 30_000

    def setup(self):
        self.data = _stars(self.N)
        self.p0 = LineModel(*self.data).initial_guess()[0] + 1e-3 * np.random.default_rng(
            1
        ).standard_normal((10, 3)) * np.array([0.002, 0.02, 0.002])

    def _fastgrad(self, n_threads=None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AutocorrWarning)
            fastgrad.fit_line(*self.data, seed=1, n_threads=n_threads)

    def _emcee_numpy(self):
        sampler = emcee.EnsembleSampler(10, 3, numpy_log_prob, args=self.data)
        sampler.run_mcmc(self.p0, 1000)

    def _emcee_floor(self):
        sampler = emcee.EnsembleSampler(
            10, 3, lambda t: -0.5 * np.sum(t * t, axis=1), vectorize=True
        )
        sampler.run_mcmc(self.p0, 1000)

    def time_fastgrad_fit_line(self):
        self._fastgrad()

    def time_fastgrad_fit_line_2_threads(self):
        self._fastgrad(2)

    def time_emcee_numpy(self):
        self._emcee_numpy()

    def time_emcee_trivial_log_prob(self):
        """emcee's own cost: the floor of any emcee-driven fit."""
        self._emcee_floor()

    def track_speedup_fit_line(self):
        return _best(self._emcee_numpy, 3) / _best(self._fastgrad, 3)

    track_speedup_fit_line.unit = "x"


class Tables:
    """Tables 1 and 2 of the paper (10 x 1000 per bin) on a LAMOST-sized
    synthetic sample (12 bins with >= 500 stars): one bin at a time (the
    default), on one or two OpenMP threads, against two bins at a time in
    worker processes (fastgrad.fitting.workers)."""

    timeout = 900

    def setup(self):
        self.s = _survey()

    def _tables(self, n_jobs, n_threads=None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AutocorrWarning)
            fastgrad.fit_tables(**self.s, seed=1, n_jobs=n_jobs, n_threads=n_threads)

    def time_tables_default(self):
        self._tables(None)

    def time_tables_one_bin_at_a_time_1_thread(self):
        self._tables(1, 1)

    def time_tables_one_bin_at_a_time_2_threads(self):
        self._tables(1, 2)

    def time_tables_two_bins_at_a_time(self):
        self._tables(2, 1)
