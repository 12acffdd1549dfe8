"""Sampling the line's posterior with emcee: :func:`fit_line` and its result.

``docs/method.md`` section 5: emcee's affine-invariant ensemble sampler on the
log-posterior of :class:`~fastgrad.fitting.likelihood.LineModel` (uniform
priors), the paper's 10 walkers x 1000 steps by default, the walkers started
around an iteratively reweighted least-squares estimate.  emcee itself is
imported at the first fit (:mod:`fastgrad.fitting.sampler`), so that
``import fastgrad`` does not load it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .._seeds import seed_sequence
from .._validation import as_count
from ..errors import InputError
from .data import N_PARAMS, PARAM_NAMES
from .likelihood import LineModel

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    import astropy.units as u
    import numpy.typing as npt


__all__ = [
    "fit_line",
    "LineFit",
    "SamplingError",
    "AutocorrWarning",
    "sample_posterior",
    "check_counts",
]


class SamplingError(RuntimeError):
    """emcee's chain never moved (acceptance fraction 0): there is no
    posterior to summarise, and the start point would pass for a fit with
    absurdly small errors.

    Examples
    --------
    >>> from fastgrad.fitting.mcmc import SamplingError
    >>> issubclass(SamplingError, RuntimeError)
    True
    """


class AutocorrWarning(UserWarning):
    """emcee could not estimate the autocorrelation time reliably.

    The chains of the paper's set-up (10 walkers x 1000 steps, half burned)
    are shorter than emcee's rule of 50 autocorrelation times: the estimate
    is kept and reported, with this warning, and the fit is not failed.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from fastgrad.fitting.mcmc import AutocorrWarning, fit_line
    >>> rng = np.random.default_rng(1)
    >>> x = rng.uniform(0.0, 1.0, 500)
    >>> y = 2.0 * x + rng.normal(0.0, 0.1, 500)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     fit = fit_line(x, y, np.full(500, 0.01), np.full(500, 0.1), n_walkers=8, n_steps=50, seed=1)
    >>> [w.category.__name__ for w in caught]  # 50 steps: too short for a reliable tau
    ['AutocorrWarning']
    >>> fit.autocorr_warning is not None
    True
    """


class _CompactStateRandom(np.random.RandomState):
    """A RandomState whose get_state() is cheap.

    emcee stores ``sampler.random_state`` at every step; for the default
    MT19937 that copies 2.5 kB of state, a large part of emcee's own cost per
    step here.  Backed by PCG64 the state is a small dict.
    """

    def get_state(self, legacy=False):
        return super().get_state(legacy=False)

    def choice(self, a, size=None, replace=True, p=None):
        # emcee picks its move with choice(moves, p=weights) at every step:
        # with one move, RandomState.choice draws one uniform (random_sample())
        # and returns that move, after ~8 us of checks on p (~7 % of a small
        # fit).  The same draw here, so the same stream.
        if size is None and replace and p is not None and len(a) == 1 and len(p) == 1 and p[0] == 1:
            self.random_sample()
            return a[0]
        return super().choice(a, size, replace, p)

    def __reduce__(self):
        return (_CompactStateRandom, (np.random.PCG64(),), self.get_state())


@dataclass(repr=False)
class LineFit:
    """Result of :func:`fit_line`: posterior summaries and the emcee sampler.

    Medians and standard deviations are over the chain after burn-in (all
    walkers pooled).  Units: those of y/x for the slope, of y for the
    intercept and the scatter.

    Examples
    --------
    >>> import warnings
    >>> import astropy.units as u
    >>> import numpy as np
    >>> from fastgrad.fitting.mcmc import fit_line
    >>> rng = np.random.default_rng(2)
    >>> R = rng.uniform(6.0, 12.0, 2000) * u.kpc
    >>> feh = (0.5 - 0.06 * R.value + rng.normal(0.0, 0.1, R.size)) * u.dex
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # AutocorrWarning: a short chain
    ...     fit = fit_line(R, feh, 0.3 * np.ones(R.size) * u.kpc, 0.05 * np.ones(R.size) * u.dex, n_walkers=8, n_steps=200, seed=1)
    >>> print(f"{fit.slope:.4f} +- {fit.slope_err:.4f}")  # injected -0.06
    -0.0604 +- 0.0012
    >>> fit.quantities["slope"]
    <Quantity -0.060367 dex / kpc>
    >>> fit.samples.shape  # 8 walkers x 100 steps after burn-in
    (800, 3)
    """

    slope: float
    slope_err: float
    intercept: float
    intercept_err: float
    scatter: float
    scatter_err: float
    #: {name: array([16th, 50th, 84th percentile])}
    percentiles: dict
    #: mean acceptance fraction of the walkers
    acceptance_fraction: float
    #: emcee's integrated autocorrelation time per parameter (steps)
    autocorr_time: np.ndarray
    #: emcee's message when the chain is too short for a reliable tau, else None
    autocorr_warning: object
    #: (n_walkers * (n_steps - burn), 3) posterior samples
    samples: np.ndarray
    sampler: object  # the emcee.EnsembleSampler (emcee is imported at the first fit)
    scatter_model: str = "perpendicular"
    n_stars: int = 0
    n_omitted: int = 0
    burn: int = 0
    #: where the walkers started: the least-squares estimate
    initial: np.ndarray = field(default=None)
    priors: dict = field(default=None)
    #: the units of x and y when the data carried them (Quantities, Columns), else None
    x_unit: object = None
    y_unit: object = None

    @property
    def quantities(self) -> dict[str, u.Quantity]:
        """The posterior summaries as astropy Quantities: slope and its error
        in y/x units (dex/kpc for a gradient), intercept and scatter in y's;
        dimensionless when the data had no units (``x_unit``, ``y_unit``)."""
        import astropy.units as u

        x_unit, y_unit = self.x_unit or u.one, self.y_unit or u.one
        units = {"slope": y_unit / x_unit, "intercept": y_unit, "scatter": y_unit}
        return {
            f"{name}{suffix}": getattr(self, f"{name}{suffix}") * unit
            for name, unit in units.items()
            for suffix in ("", "_err")
        }

    def _repr_html_(self):
        rows = "".join(
            f"<tr><td>{name}</td><td>{q.value:.5g}</td><td>{q_err.value:.2g}</td>"
            f"<td>{q.unit.to_string() if q.unit != 1 else ''}</td></tr>"
            for name in ("slope", "intercept", "scatter")
            for q, q_err in [(self.quantities[name], self.quantities[f"{name}_err"])]
        )
        tau = ", ".join(f"{t:.1f}" for t in np.asarray(self.autocorr_time))
        return (
            "<table><caption>LineFit (posterior median ± std; "
            f"{self.n_stars:,} stars, scatter {self.scatter_model})</caption>"
            "<tr><th></th><th>value</th><th>±</th><th>unit</th></tr>"
            f"{rows}</table><p>acceptance {self.acceptance_fraction:.2f}, "
            f"autocorrelation times ({tau}) steps</p>"
        )

    @property
    def n_effective(self) -> np.ndarray:
        """Effective number of independent samples per parameter,
        len(samples) / autocorr_time."""
        return len(self.samples) / np.asarray(self.autocorr_time)

    def as_dict(self) -> dict[str, Any]:
        """The scalar results as a plain dict."""
        return {
            name: getattr(self, name)
            for name in (
                "slope",
                "slope_err",
                "intercept",
                "intercept_err",
                "scatter",
                "scatter_err",
                "acceptance_fraction",
                "n_stars",
                "n_omitted",
                "burn",
                "scatter_model",
            )
        }

    def __repr__(self):
        return (
            f"LineFit(slope={self.slope:.5g} ± {self.slope_err:.2g}, "
            f"intercept={self.intercept:.5g} ± {self.intercept_err:.2g}, "
            f"scatter={self.scatter:.5g} ± {self.scatter_err:.2g}, "
            f"n_stars={self.n_stars}, acceptance={self.acceptance_fraction:.2f}, "
            f"tau={np.round(self.autocorr_time, 1).tolist()})"
        )


def _mul_lower(z, chol):
    """``z @ chol.T`` for a lower-triangular 3x3 ``chol``, written out so that
    no BLAS kernel (whose blocking may depend on its threads) is involved."""
    out = np.empty_like(z)
    out[:, 0] = z[:, 0] * chol[0, 0]
    out[:, 1] = z[:, 0] * chol[1, 0] + z[:, 1] * chol[1, 1]
    out[:, 2] = z[:, 0] * chol[2, 0] + z[:, 1] * chol[2, 1] + z[:, 2] * chol[2, 2]
    return out


def _initial_walkers(model, n_walkers, rng):
    """Walkers drawn around the least-squares estimate, from its covariance,
    each with a finite log-probability (else ValueError)."""
    theta0, cov0 = model.initial_guess()
    scale = np.sqrt(np.diag(cov0))
    floor = 1e-8 * np.maximum(1.0, np.abs(theta0))
    cov0 = cov0 + np.diag(np.maximum(floor, 0) ** 2)
    try:
        chol = np.tril(np.linalg.cholesky(cov0))
    except np.linalg.LinAlgError:
        chol = np.diag(np.maximum(scale, floor))
    p0 = theta0 + _mul_lower(rng.standard_normal((n_walkers, N_PARAMS)), chol)
    p0[:, 2] = np.abs(p0[:, 2])
    for _ in range(100):
        bad = ~np.isfinite(model.log_prob(p0))
        if not bad.any():
            break
        p0[bad] = theta0 + _mul_lower(rng.standard_normal((bad.sum(), N_PARAMS)), chol) * 0.5
        p0[bad, 2] = np.abs(p0[bad, 2])
    else:
        bad = ~np.isfinite(model.log_prob(p0))
        if bad.any():
            p0[bad] = theta0 * (1 + 1e-6 * rng.standard_normal((bad.sum(), N_PARAMS)))
    bad = ~np.isfinite(model.log_prob(p0))
    if bad.any():
        # emcee would keep these walkers where they are forever (every move
        # from -inf is refused) and report a chain that looks very precise
        raise InputError(
            f"{bad.sum()} of the {n_walkers} starting walkers have a log-probability of "
            f"-inf, even at the least-squares estimate (slope, intercept, scatter) = "
            f"({theta0[0]:.4g}, {theta0[1]:.4g}, {theta0[2]:.4g}): the priors "
            f"{model.priors} exclude it, or the data's variances overflow"
        )
    return theta0, p0


def check_counts(n_walkers: int, n_steps: int, burn: int | None) -> tuple[int, int, int]:
    """(n_walkers, n_steps, burn) as ints, checked (ValueError, TypeError): a
    float is an error, never truncated; ``burn`` None is n_steps // 2.

    Examples
    --------
    >>> from fastgrad.fitting.mcmc import check_counts
    >>> check_counts(10, 1000, None)  # burn defaults to half the chain
    (10, 1000, 500)
    >>> check_counts(4, 1000, None)
    Traceback (most recent call last):
      ...
    ValueError: n_walkers must be >= 6 (twice the parameters), got 4
    """
    n_walkers = as_count("n_walkers", n_walkers, minimum=0)
    n_steps = as_count("n_steps", n_steps, minimum=0)
    if n_walkers < 2 * N_PARAMS:
        raise ValueError(
            f"n_walkers must be >= {2 * N_PARAMS} (twice the parameters), got {n_walkers}"
        )
    if n_steps < 2:
        raise ValueError(f"n_steps must be >= 2, got {n_steps}")
    burn = n_steps // 2 if burn is None else as_count("burn", burn, minimum=0)
    if not 0 <= burn < n_steps:
        raise ValueError(f"burn must be in [0, n_steps), got {burn} with n_steps={n_steps}")
    return n_walkers, n_steps, burn


def sample_posterior(
    model: LineModel,
    *,
    n_walkers: int,
    n_steps: int,
    burn: int | None,
    seed: int | np.random.SeedSequence | np.random.Generator | None,
    progress: bool,
    backend: Any,
) -> LineFit:
    """Run emcee on a :class:`LineModel`; returns a :class:`LineFit`.

    The chain of :func:`fit_line` (its arguments, all given; ``burn`` None is
    n_steps // 2), with the autocorrelation warning left to the caller (in
    ``LineFit.autocorr_warning``): the binned fits collect them per bin.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.fitting.likelihood import LineModel
    >>> from fastgrad.fitting.mcmc import sample_posterior
    >>> rng = np.random.default_rng(3)
    >>> x = rng.uniform(0.0, 1.0, 1000)
    >>> y = 1.0 - 0.5 * x + rng.normal(0.0, 0.1, x.size)
    >>> model = LineModel(x, y, np.full(x.size, 0.01), np.full(x.size, 0.1))
    >>> fit = sample_posterior(model, n_walkers=8, n_steps=200, burn=100, seed=1, progress=False, backend=None)
    >>> print(f"slope {fit.slope:.3f} +- {fit.slope_err:.3f}, intercept {fit.intercept:.3f} +- {fit.intercept_err:.3f}")
    slope -0.516 +- 0.010, intercept 1.010 +- 0.006
    """
    n_walkers, n_steps, burn = check_counts(n_walkers, n_steps, burn)
    init_seed, emcee_seed = seed_sequence(seed).spawn(2)
    theta0, p0 = _initial_walkers(model, n_walkers, np.random.default_rng(init_seed))
    if backend is not None:
        backend.reset(n_walkers, N_PARAMS)
    # emcee (and the scipy.stats it imports) loads on the first fit, not with fastgrad
    from .sampler import Sampler, StretchMove

    sampler = Sampler(
        n_walkers, N_PARAMS, model.log_prob, vectorize=True, moves=StretchMove(), backend=backend
    )
    sampler._random = _CompactStateRandom(np.random.PCG64(emcee_seed))
    sampler.run_mcmc(p0, n_steps, progress=progress)

    acceptance = float(np.mean(sampler.acceptance_fraction))
    if not acceptance > 0:
        raise SamplingError(
            f"emcee: no walker moved in {n_steps} steps (acceptance fraction 0): the chain is "
            f"its starting point, not a posterior; every proposal had a log-probability of "
            f"-inf or far below the start (check the priors {model.priors} and the data's "
            f"errors)"
        )
    samples = sampler.get_chain(discard=burn, flat=True)
    median = np.median(samples, axis=0)
    std = samples.std(axis=0, ddof=1) if len(samples) > 1 else np.full(3, np.nan)
    pct = np.percentile(samples, [16, 50, 84], axis=0)
    from emcee.autocorr import AutocorrError

    try:
        tau = sampler.get_autocorr_time(discard=burn, quiet=False)
        message = None
    except AutocorrError as err:
        tau = np.asarray(err.tau)
        message = (
            f"emcee: {err} (fit kept: the posterior summaries stand, the "
            f"autocorrelation times are rough)"
        ).replace("\n", " ")
    return LineFit(
        slope=float(median[0]),
        slope_err=float(std[0]),
        intercept=float(median[1]),
        intercept_err=float(std[1]),
        scatter=float(median[2]),
        scatter_err=float(std[2]),
        percentiles={name: pct[:, i] for i, name in enumerate(PARAM_NAMES)},
        acceptance_fraction=acceptance,
        autocorr_time=np.asarray(tau, dtype=float),
        autocorr_warning=message,
        samples=samples,
        sampler=sampler,
        scatter_model=model.scatter,
        n_stars=model.n_stars,
        n_omitted=model.n_omitted,
        burn=burn,
        initial=theta0,
        priors=dict(model.priors),
        x_unit=getattr(model, "x_unit", None),
        y_unit=getattr(model, "y_unit", None),
    )


def fit_line(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    x_err: npt.ArrayLike,
    y_err: npt.ArrayLike,
    xy_cov: npt.ArrayLike | None = None,
    *,
    scatter: str = "perpendicular",
    priors: Mapping[str, tuple[float, float]] | Sequence[tuple[float, float]] | None = None,
    n_walkers: int = 10,
    n_steps: int = 1000,
    burn: int | None = None,
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
    n_threads: int | None = None,
    progress: bool = False,
    backend: Any = None,
    nan_policy: str = "raise",
) -> LineFit:
    """Fit y = m x + b with intrinsic scatter by MCMC (emcee), errors in x and y.

    The likelihood of docs/method.md section 5 (see :func:`line_loglike`) with
    uniform priors, sampled with emcee's affine-invariant ensemble sampler,
    all walkers evaluated in one compiled call.  The walkers start from an
    iteratively reweighted least-squares estimate (:meth:`LineModel.initial_guess`),
    spread by its covariance.

    Parameters
    ----------
    x, y, x_err, y_err, xy_cov, scatter, nan_policy
        As :func:`line_loglike`.
    priors : dict or None
        Uniform priors, see :class:`LineModel`.
    n_walkers, n_steps : int
        emcee's ensemble; the paper's 10 x 1000 by default.
    burn : int or None
        Steps discarded from the start of every walker (default: n_steps // 2).
    seed : int, SeedSequence, Generator or None
        Same seed, same chain (initial walkers and emcee's moves).
    n_threads : int or None
        OpenMP threads of the likelihood.
    progress : bool
        emcee's progress bar.
    backend : emcee backend or None
        Where emcee stores the chain (e.g. ``emcee.backends.HDFBackend``);
        it is reset first.

    Returns
    -------
    LineFit
        Posterior medians and standard deviations (``slope, slope_err,
        intercept, intercept_err, scatter, scatter_err``), 16/50/84
        percentiles, the acceptance fraction, emcee's autocorrelation times,
        the samples and the sampler.

    Raises
    ------
    ValueError
        Bad data (see :func:`line_loglike`), and values whose squares
        overflow (|x|, |y|, errors > 1.3e154), naming the argument and rows;
        :class:`fastgrad.errors.InputError` when the starting walkers cannot
        all get a finite log-probability (the priors exclude the least-squares
        estimate).  TypeError for a float ``n_walkers``, ``n_steps`` or
        ``burn`` (a count is never truncated).
    SamplingError
        When no walker moved during the whole chain (acceptance fraction 0):
        its start point would pass for a fit with absurdly small errors.

    Warns
    -----
    AutocorrWarning
        When emcee finds the chain too short for a reliable autocorrelation
        time (usual with 10 x 1000): the estimate is still reported.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from fastgrad.fitting.mcmc import fit_line
    >>> rng = np.random.default_rng(4)
    >>> R = rng.uniform(6.0, 12.0, 3000)  # kpc
    >>> feh = 0.45 - 0.055 * R + rng.normal(0.0, 0.08, R.size)  # dex, intrinsic scatter 0.08
    >>> feh_err = np.full(R.size, 0.05)
    >>> feh = feh + rng.normal(0.0, 0.05, R.size)  # measurement errors
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # AutocorrWarning: 200 steps is a short chain
    ...     fit = fit_line(R, feh, np.full(R.size, 0.1), feh_err, n_walkers=8, n_steps=200, seed=1)
    >>> print(f"slope {fit.slope:.4f} +- {fit.slope_err:.4f} dex/kpc, scatter {fit.scatter:.3f} dex")
    slope -0.0551 +- 0.0010 dex/kpc, scatter 0.080 dex
    """
    model = LineModel(
        x,
        y,
        x_err,
        y_err,
        xy_cov,
        scatter=scatter,
        priors=priors,
        nan_policy=nan_policy,
        n_threads=n_threads,
    )
    fit = sample_posterior(
        model,
        n_walkers=n_walkers,
        n_steps=n_steps,
        burn=burn,
        seed=seed,
        progress=progress,
        backend=backend,
    )
    if fit.autocorr_warning:
        warnings.warn(fit.autocorr_warning, AutocorrWarning, stacklevel=2)
    return fit
