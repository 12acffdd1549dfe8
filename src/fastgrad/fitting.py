"""Straight-line fits with intrinsic scatter and errors in both coordinates.

METHOD.md section 5 (the paper's Eq. 4, after Hogg, Bovy & Lang 2010 and
Foreman-Mackey's correction): the model is y = m x + b with intrinsic scatter
lambda, and the likelihood marginalised over the true positions is

    ln L = -1/2 sum_i [Delta_i^2 / Sigma_i^2 + ln(2 pi Sigma_i^2)],
    Delta_i = y_i - (m x_i + b),   Sigma_i^2 = v^T (S_i + Lambda) v,

with v = (-m, 1) **not normalised** and S_i = [[sx^2, sxy], [sxy, sy^2]].
The scatter is perpendicular to the line by default, v^T Lambda v =
lambda^2 (1 + m^2), or vertical (``scatter="vertical"``), v^T Lambda v =
lambda^2.  The two are exact reparametrisations of each other:
lambda_y^2 = lambda_perp^2 (1 + m^2).

The likelihood runs in a compiled kernel (``_core.line_loglike_batch``) that
evaluates all of emcee's walkers in one call, with the GIL released;
``fit_binned`` and ``fit_tables`` fit the bins of the paper's Tables 1 and 2.

Bad input (every public function): NaN or inf anywhere, negative errors, a
star with both errors zero (its total variance vanishes at lambda = 0),
|xy_cov| > x_err y_err, mismatched lengths and fewer points than parameters
raise ValueError naming the argument, the number of rows and the first of
them.  ``nan_policy="omit"`` drops the rows with NaN or inf instead and
reports how many (``n_omitted``).
"""
import numbers
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import astropy.units as u
from astropy.table import MaskedColumn, Table


from ._kernels import core as _core
from ._seeds import seed_sequence
from . import paper
from ._threads import effective_n_threads
from .errors import InputError
from ._validation import as_count, as_float_array, check_lengths, raise_bad_rows

__all__ = [
    "line_loglike",
    "LineModel",
    "LineFit",
    "fit_line",
    "fit_binned",
    "fit_tables",
    "AutocorrWarning",
    "SamplingError",
    "DEFAULT_PRIORS",
    "PARAM_NAMES",
    "SCATTER_MODELS",
    "RADIAL_BIN_EDGES",
    "VERTICAL_BIN_EDGES",
]

#: names of the parameters, in the order of theta
PARAM_NAMES = ("slope", "intercept", "scatter")
#: the two models of the intrinsic scatter
SCATTER_MODELS = ("perpendicular", "vertical")
#: uniform priors (lo, hi) of METHOD.md section 5: m in dex/kpc, b and lambda
#: in dex (the paper's sentence is corrupted after "m between -2 and")
DEFAULT_PRIORS = {"slope": (-2.0, 2.0), "intercept": (-10.0, 10.0), "scatter": (0.0, 5.0)}
#: Table 1 (radial gradient): |Z| bins of 0.2 kpc, [0, 0.2) ... [1.2, 1.4) (METHOD.md section 5)
RADIAL_BIN_EDGES = paper.TABLE1_EDGES
#: Table 2 (vertical gradient): R bins of 1 kpc, [7, 8) ... [13, 14)
VERTICAL_BIN_EDGES = paper.TABLE2_EDGES

_NAN_POLICIES = ("raise", "omit")
_N_PARAMS = 3
# Calls with fewer star-evaluations (stars x thetas) than this run on one
# thread: OpenMP's fork/join (~0.5-1 us) outweighs ~6 us of work below it.
_MIN_WORK_PER_THREAD = 16384
# A fit makes ~2 n_steps calls, each an OpenMP barrier: on a machine shared
# with other work one preempted thread stalls a call by a scheduler quantum
# (ms), which turned 0.5 s fits into 2-4 s on this 2-core machine.  Unless
# n_threads is given, a LineModel threads only calls with at least this much
# work (~90 us on one thread); the binned fits get their parallelism from
# fitting bins concurrently instead.
_MIN_WORK_AUTO_FIT = 262144
_COV_RTOL = _core.LINE_COV_RTOL
# the largest |value| whose square is a finite float64
_MAX_SQUARABLE = float(np.sqrt(np.finfo(np.float64).max))


class SamplingError(RuntimeError):
    """emcee's chain never moved (acceptance fraction 0): there is no
    posterior to summarise, and the start point would pass for a fit with
    absurdly small errors."""


class AutocorrWarning(UserWarning):
    """emcee could not estimate the autocorrelation time reliably.

    The chains of the paper's set-up (10 walkers x 1000 steps, half burned)
    are shorter than emcee's rule of 50 autocorrelation times: the estimate
    is kept and reported, with this warning, and the fit is not failed.
    """


# --------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------
class _LineData:
    """Validated data of a line fit: float64 arrays, their units and the
    count of rows dropped by nan_policy='omit'."""

    __slots__ = ("x", "y", "x_err", "y_err", "xy_cov", "extra", "n_omitted",
                 "x_unit", "y_unit")

    def subset(self, rows):
        new = _LineData()
        for name in ("x", "y", "x_err", "y_err"):
            setattr(new, name, getattr(self, name)[rows])
        new.xy_cov = None if self.xy_cov is None else self.xy_cov[rows]
        new.extra = {k: v[rows] for k, v in self.extra.items()}
        new.n_omitted = 0
        new.x_unit, new.y_unit = self.x_unit, self.y_unit
        return new

    def __len__(self):
        return len(self.x)


def _unit_of(value):
    unit = getattr(value, "unit", None)
    return unit if isinstance(unit, u.UnitBase) else None


def _check_policy(nan_policy):
    if nan_policy not in _NAN_POLICIES:
        raise ValueError(f"nan_policy must be one of {_NAN_POLICIES}, got {nan_policy!r}")


def _check_scatter(scatter):
    if scatter not in SCATTER_MODELS:
        raise ValueError(f"scatter must be one of {SCATTER_MODELS}, got {scatter!r}")
    return scatter == "perpendicular"


def _broadcast(arr, n):
    """Errors may be given as one number for all stars."""
    if len(arr) == 1 and n != 1:
        return np.full(n, arr[0])
    return arr


def _prepare(x, y, x_err, y_err, xy_cov=None, *, nan_policy="raise", extra=None,
             min_points=_N_PARAMS, names=None, units=None):
    """Convert and check the inputs of a fit (see "Bad input" in the module
    docstring); ``extra`` = {name: (value, unit)} are checked for NaN/inf and
    subset along.  ``names`` maps "x", "y", "x_err", ... to the caller's
    argument names, which every message uses (fit_tables' ``R``, ``z``);
    ``units`` = (x_unit, y_unit) replaces those read from x and y."""
    _check_policy(nan_policy)
    names = {key: key for key in ("x", "y", "x_err", "y_err", "xy_cov",
                                  *(extra or {}))} | dict(names or {})
    x_unit, y_unit = units if units is not None else (_unit_of(x), _unit_of(y))
    xa = as_float_array(names["x"], x, x_unit)
    ya = as_float_array(names["y"], y, y_unit)
    xe = as_float_array(names["x_err"], x_err, x_unit)
    ye = as_float_array(names["y_err"], y_err, y_unit)
    cov_unit = None if x_unit is None or y_unit is None else x_unit * y_unit
    cov = None if xy_cov is None else as_float_array(names["xy_cov"], xy_cov, cov_unit)
    extra_arrays = {}
    for name, (value, unit) in (extra or {}).items():
        extra_arrays[name] = as_float_array(names[name], value, unit)
    n = len(xa)
    xe, ye = _broadcast(xe, n), _broadcast(ye, n)
    if cov is not None:
        cov = _broadcast(cov, n)
    arrays = {"x": xa, "y": ya, "x_err": xe, "y_err": ye}
    if cov is not None:
        arrays["xy_cov"] = cov
    arrays.update(extra_arrays)
    check_lengths(**{names[k]: v for k, v in arrays.items()})

    n_omitted = 0
    if nan_policy == "raise":
        for name, arr in arrays.items():
            raise_bad_rows(names[name], ~np.isfinite(arr), "are NaN or infinite",
                           "pass nan_policy='omit' to drop them")
    else:
        keep = np.ones(n, dtype=bool)
        for arr in arrays.values():
            keep &= np.isfinite(arr)
        n_omitted = int(n - keep.sum())
        if n_omitted:
            arrays = {k: v[keep] for k, v in arrays.items()}
    # the likelihood squares x, y and the errors: a square that overflows to
    # inf makes ln L -inf for every theta, and emcee would return its start
    # point as a "fit" (not NaN, so nan_policy does not apply: always raised)
    for name in ("x", "y", "x_err", "y_err"):
        with np.errstate(over="ignore"):
            raise_bad_rows(names[name], ~np.isfinite(arrays[name] * arrays[name]),
                           f"overflow when squared (|value| > {_MAX_SQUARABLE:.3g})",
                           "check the units and the missing-value markers of that column")
    xe, ye, cov = arrays["x_err"], arrays["y_err"], arrays.get("xy_cov")
    raise_bad_rows(names["x_err"], xe < 0, "are negative")
    raise_bad_rows(names["y_err"], ye < 0, "are negative")
    raise_bad_rows(f"{names['x_err']}, {names['y_err']}", (xe == 0) & (ye == 0),
                   f"have zero total variance ({names['x_err']} = {names['y_err']} = 0)",
                   "the likelihood is degenerate at scatter = 0; give them a non-zero error")
    if cov is not None:
        raise_bad_rows(names["xy_cov"], cov * cov > (xe * xe) * (ye * ye) * (1 + _COV_RTOL),
                       f"exceed {names['x_err']} * {names['y_err']} in absolute value "
                       f"(not a covariance)")
    n_kept = len(arrays["x"])
    if n_kept < min_points:
        after = f" after omitting {n_omitted} row(s) with NaN or inf" if n_omitted else ""
        why = (f" (a line with scatter has {_N_PARAMS} parameters)"
               if min_points >= _N_PARAMS else "")
        raise ValueError(f"{names['x']}, {names['y']}: need at least {min_points} "
                         f"point(s){why}; got {n_kept}{after}")
    data = _LineData()
    data.x, data.y, data.x_err, data.y_err, data.xy_cov = (
        arrays["x"], arrays["y"], xe, ye, cov)
    data.extra = {k: arrays[k] for k in extra_arrays}
    data.n_omitted = n_omitted
    data.x_unit, data.y_unit = x_unit, y_unit
    return data


def _fast_array(value):
    """A 1-D contiguous float64 ndarray passes untouched (the hot path of
    line_loglike); None otherwise."""
    if type(value) is np.ndarray and value.dtype == np.float64 and value.ndim == 1 \
            and value.flags.c_contiguous:
        return value
    return None


def _n_threads_for(work, n_threads):
    if work < _MIN_WORK_PER_THREAD:
        if n_threads is not None and (type(n_threads) is not int or n_threads == 0):
            effective_n_threads(n_threads)  # validates (raises) without the OS calls
        return 1
    return effective_n_threads(n_threads)


def _as_theta(theta):
    th = np.asarray(theta, dtype=np.float64)
    scalar = th.ndim == 1
    if th.shape[-1:] != (_N_PARAMS,) or th.ndim > 2:
        raise ValueError(f"theta must have shape (3,) or (n, 3) = (slope, intercept, "
                         f"scatter), got {th.shape}")
    return np.ascontiguousarray(th.reshape(-1, _N_PARAMS)), scalar


# --------------------------------------------------------------------------
# the likelihood
# --------------------------------------------------------------------------
def line_loglike(theta, x, y, x_err, y_err, xy_cov=None, *, scatter="perpendicular",
                 n_threads=None, nan_policy="raise"):
    """Log-likelihood of a straight line with intrinsic scatter (no prior).

    METHOD.md section 5: ``ln L = -1/2 sum_i [Delta_i^2 / Sigma_i^2 +
    ln(2 pi Sigma_i^2)]`` with ``Delta_i = y_i - (m x_i + b)`` and
    ``Sigma_i^2 = v^T (S_i + Lambda) v``, ``v = (-m, 1)`` not normalised.

    Parameters
    ----------
    theta : array_like, shape (3,) or (n, 3)
        (slope m [y/x], intercept b [y], scatter lambda [y]).
    x, y : array_like, shape (N,)
        Coordinates (e.g. R in kpc and [Fe/H] in dex). Quantities are
        accepted; errors are then converted to their units.
    x_err, y_err : array_like, shape (N,) or scalar
        Standard deviations of x and y (same units as x and y), >= 0 and not
        both zero for a star.
    xy_cov : array_like, shape (N,) or scalar, optional
        Covariance of the x and y errors (x units times y units);
        |xy_cov| <= x_err * y_err.  Default: none.
    scatter : {"perpendicular", "vertical"}
        Intrinsic scatter perpendicular to the line (the paper's; v^T Lambda
        v = lambda^2 (1 + m^2)) or along y (lambda^2).
    n_threads : int or None
        OpenMP threads (see :func:`fastgrad.effective_n_threads`); small
        calls run on one thread whatever this says.
    nan_policy : {"raise", "omit"}
        Rows with NaN or inf in any input: raise ValueError, or leave them out.

    Returns
    -------
    float or ndarray of shape (n,)
        ln L; ``-inf`` where lambda < 0, where theta is not finite and where
        the likelihood is degenerate (a total variance of zero).

    Raises
    ------
    ValueError
        NaN/inf inputs (nan_policy="raise"), negative errors, stars with both
        errors zero, |xy_cov| > x_err y_err, mismatched lengths; the message
        names the argument, the number of rows and the first of them.

    Notes
    -----
    The result equals the plain numpy formula to ~1e-15 relative (the
    kernel sums per-lane products of variances and takes one log per lane,
    see ``_core.pyx``), and is bit-identical for any number of threads.
    """
    perpendicular = _check_scatter(scatter)
    th, scalar = _as_theta(theta)
    # hot path: contiguous float64 arrays go to the kernel as they are, and
    # the kernel's own scan checks the errors (NaN/inf show up as -inf)
    xa, ya, xe, ye = (_fast_array(v) for v in (x, y, x_err, y_err))
    cov = np.empty(0) if xy_cov is None else _fast_array(xy_cov)
    n = len(xa) if xa is not None else 0
    fast = (nan_policy == "raise" and n > 0 and cov is not None
            and all(a is not None and len(a) == n for a in (xa, ya, xe, ye))
            and (xy_cov is None or len(cov) == n))
    if not fast:
        data = _prepare(x, y, x_err, y_err, xy_cov, nan_policy=nan_policy, min_points=1)
        xa, ya, xe, ye = data.x, data.y, data.x_err, data.y_err
        cov = np.empty(0) if data.xy_cov is None else data.xy_cov
    out = np.empty(len(th))
    nt = _n_threads_for(len(xa) * len(th), n_threads)
    status = _core.line_loglike_batch(th, xa, ya, xe, ye, cov, None, None, False,
                                      perpendicular, out, nt)
    if status != 0:
        # the kernel's scan found bad errors (-1), or some value is -inf,
        # which NaN/inf data also give: the full checks say which, and raise
        _prepare(xa, ya, xe, ye, None if len(cov) == 0 else cov, nan_policy="raise",
                 min_points=1)
        if status < 0:  # (not expected: the checks above agree with the scan's)
            bounds = np.array([np.min(xe) ** 2, np.max(xe) ** 2,
                               np.min(ye) ** 2, np.max(ye) ** 2])
            _core.line_loglike_batch(th, xa, ya, xe, ye, cov, bounds, None, False,
                                     perpendicular, out, nt)
    return float(out[0]) if scalar else out


def _priors_box(priors):
    """Uniform priors -> (lo_m, hi_m, lo_b, hi_b, lo_lambda, hi_lambda)."""
    if priors is None:
        priors = {}
    if isinstance(priors, dict):
        unknown = set(priors) - set(PARAM_NAMES)
        if unknown:
            raise ValueError(f"priors: unknown parameter(s) {sorted(unknown)}; "
                             f"use {PARAM_NAMES}")
        pairs = [priors.get(name) or DEFAULT_PRIORS[name] for name in PARAM_NAMES]
    else:
        pairs = list(priors)
        if len(pairs) != _N_PARAMS:
            raise ValueError("priors: give a dict {name: (lo, hi)} or three (lo, hi) pairs")
    box = np.asarray(pairs, dtype=np.float64)
    if box.shape != (_N_PARAMS, 2) or np.isnan(box).any() or not (box[:, 0] < box[:, 1]).all():
        raise ValueError(f"priors: each must be (lo, hi) with lo < hi, got {pairs}")
    if box[2, 0] < 0:
        raise ValueError("priors: the scatter's lower bound must be >= 0")
    return np.ascontiguousarray(box.ravel())


class LineModel:
    """Log-posterior of a straight line with scatter, for emcee.

    ``log_prob(theta)`` = ln L + ln(prior) up to a constant, with uniform
    priors; vectorised over walkers (``emcee.EnsembleSampler(...,
    vectorize=True)``) and picklable (for multiprocessing pools).  The data
    are checked once, here.

    Parameters
    ----------
    x, y, x_err, y_err, xy_cov, scatter, nan_policy
        As :func:`line_loglike`.
    priors : dict or None
        ``{"slope": (lo, hi), "intercept": (lo, hi), "scatter": (lo, hi)}``;
        missing entries take :data:`DEFAULT_PRIORS` (m in [-2, 2], b in
        [-10, 10], lambda in [0, 5]; METHOD.md section 5).  Closed intervals.
    n_threads : int or None
        OpenMP threads, resolved now (see :func:`fastgrad.effective_n_threads`).
        None: all CPUs, but only for calls of >= 262,144 star-evaluations
        (stars x walkers); a given number: for calls of >= 16,384.  (Many
        short parallel calls stall whenever the machine is busy.)

    Attributes
    ----------
    n_stars, n_omitted : int
        Stars used, and rows dropped by ``nan_policy="omit"``.
    scatter : str
    priors : dict
    """

    def __init__(self, x, y, x_err, y_err, xy_cov=None, *, scatter="perpendicular",
                 priors=None, nan_policy="raise", n_threads=None):
        data = _prepare(x, y, x_err, y_err, xy_cov, nan_policy=nan_policy)
        self._init(data, scatter, priors, n_threads)

    @classmethod
    def _from_data(cls, data, scatter, priors, n_threads):
        self = cls.__new__(cls)
        self._init(data, scatter, priors, n_threads)
        return self

    def _init(self, data, scatter, priors, n_threads):
        self._perpendicular = _check_scatter(scatter)
        self.scatter = scatter
        self._box = _priors_box(priors)
        self.priors = {name: (self._box[2 * i], self._box[2 * i + 1])
                       for i, name in enumerate(PARAM_NAMES)}
        self._x, self._y = data.x, data.y
        # the kernel takes variances: squared once here, not at every call
        self._x_var = data.x_err ** 2
        self._y_var = data.y_err ** 2
        self._cov = np.empty(0) if data.xy_cov is None else data.xy_cov
        self._bounds = np.array([self._x_var.min(), self._x_var.max(),
                                 self._y_var.min(), self._y_var.max()])
        self._n_threads = effective_n_threads(n_threads)
        self._min_work = _MIN_WORK_AUTO_FIT if n_threads is None else _MIN_WORK_PER_THREAD
        self.n_stars = len(data.x)
        self.n_omitted = data.n_omitted
        self.x_unit, self.y_unit = data.x_unit, data.y_unit

    def _evaluate(self, theta, box):
        th, scalar = _as_theta(theta)
        out = np.empty(len(th))
        nt = 1 if self.n_stars * len(th) < self._min_work else self._n_threads
        _core.line_loglike_batch(th, self._x, self._y, self._x_var, self._y_var, self._cov,
                                 self._bounds, box, True, self._perpendicular, out, nt)
        return float(out[0]) if scalar else out

    def log_prob(self, theta):
        """ln L + ln prior (up to a constant); -inf outside the priors.

        theta : (3,) -> float, or (n, 3) -> ndarray (n,).
        """
        return self._evaluate(theta, self._box)

    __call__ = log_prob

    def loglike(self, theta):
        """ln L alone (no prior); -inf for lambda < 0 or non-finite theta."""
        return self._evaluate(theta, None)

    def initial_guess(self):
        """A cheap estimate of (m, b, lambda) and of its covariance.

        Iteratively reweighted least squares: weights 1/Sigma_i^2 from the
        current line, with lambda from the robust spread of the residuals
        (1.4826 MAD) less the median measurement variance.  The covariance
        is that of the weighted fit for (m, b) and the Fisher information
        for lambda.  Used to start the walkers.

        Returns
        -------
        theta0 : ndarray (3,)
        cov0 : ndarray (3, 3)
        """
        x, y, vx, vy = self._x, self._y, self._x_var, self._y_var
        cxy = self._cov if len(self._cov) else 0.0
        # every sum below is numpy's pairwise np.sum of element-wise products,
        # never ``@``: BLAS dot products change their summation order with the
        # BLAS thread count, and so would the start point and the whole chain
        dot = _dot
        dx = x - x.mean()
        sxx = dot(dx, dx)
        if not sxx > 0:
            raise ValueError("x: all values are equal, the slope is undefined")
        m = dot(dx, y - y.mean()) / sxx
        b = y.mean() - m * x.mean()
        for _ in range(4):
            r = y - (m * x + b)
            meas = m * m * vx + vy - 2 * m * cxy
            spread2 = (1.4826 * np.median(np.abs(r - np.median(r)))) ** 2
            if not spread2 > 0:
                spread2 = np.mean(r * r) + np.median(meas) + 1e-12
            lam_y2 = max(spread2 - np.median(meas), 2.5e-3 * spread2)  # >= (0.05 spread)^2
            w = 1.0 / (meas + lam_y2)
            sw = w.sum()
            xw, yw = dot(w, x) / sw, dot(w, y) / sw
            dx = x - xw
            sxx = dot(w, dx * dx)
            m = dot(w * dx, y - yw) / sxx
            b = yw - m * xw
        cov = np.zeros((3, 3))
        cov[0, 0] = 1 / sxx
        cov[0, 1] = cov[1, 0] = -xw / sxx
        cov[1, 1] = 1 / sw + xw * xw / sxx
        cov[2, 2] = 1 / (2 * lam_y2 * dot(w, w))
        lam = np.sqrt(lam_y2)
        if self._perpendicular:  # lambda_y^2 = lambda_perp^2 (1 + m^2)
            lam /= np.sqrt(1 + m * m)
            cov[2, 2] /= 1 + m * m
        theta0 = np.array([m, b, lam])
        # inside the priors
        lo, hi = self._box[0::2], self._box[1::2]
        width = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
        theta0 = np.clip(theta0, lo + 1e-3 * width, hi - 1e-3 * width)
        return theta0, cov

    def __repr__(self):
        return (f"LineModel(n_stars={self.n_stars}, scatter={self.scatter!r}, "
                f"priors={self.priors})")


# --------------------------------------------------------------------------
# sampling
# --------------------------------------------------------------------------
class _CompactStateRandom(np.random.RandomState):
    """A RandomState whose get_state() is cheap.

    emcee stores ``sampler.random_state`` at every step; for the default
    MT19937 that copies 2.5 kB of state (~60 us, 20-30 % of emcee's own cost
    per step here).  Backed by PCG64 the state is a small dict (~1.5 us).
    """

    def get_state(self, legacy=False):
        return super().get_state(legacy=False)

    def __reduce__(self):
        return (_CompactStateRandom, (np.random.PCG64(),), self.get_state())


@dataclass(repr=False)
class LineFit:
    """Result of :func:`fit_line`: posterior summaries and the emcee sampler.

    Medians and standard deviations are over the chain after burn-in (all
    walkers pooled).  Units: those of y/x for the slope, of y for the
    intercept and the scatter.
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

    @property
    def n_effective(self):
        """Effective number of independent samples per parameter,
        len(samples) / autocorr_time."""
        return len(self.samples) / np.asarray(self.autocorr_time)

    def as_dict(self):
        """The scalar results as a plain dict."""
        return {name: getattr(self, name) for name in (
            "slope", "slope_err", "intercept", "intercept_err", "scatter", "scatter_err",
            "acceptance_fraction", "n_stars", "n_omitted", "burn", "scatter_model")}

    def __repr__(self):
        return (f"LineFit(slope={self.slope:.5g} ± {self.slope_err:.2g}, "
                f"intercept={self.intercept:.5g} ± {self.intercept_err:.2g}, "
                f"scatter={self.scatter:.5g} ± {self.scatter_err:.2g}, "
                f"n_stars={self.n_stars}, acceptance={self.acceptance_fraction:.2f}, "
                f"tau={np.round(self.autocorr_time, 1).tolist()})")


def _dot(a, b):
    """sum(a * b) by numpy's pairwise summation: the same bits whatever the
    BLAS thread count (a BLAS ``a @ b`` splits the sum by thread)."""
    return float(np.sum(a * b))


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
    p0 = theta0 + _mul_lower(rng.standard_normal((n_walkers, _N_PARAMS)), chol)
    p0[:, 2] = np.abs(p0[:, 2])
    for _ in range(100):
        bad = ~np.isfinite(model.log_prob(p0))
        if not bad.any():
            break
        p0[bad] = theta0 + _mul_lower(rng.standard_normal((bad.sum(), _N_PARAMS)), chol) * 0.5
        p0[bad, 2] = np.abs(p0[bad, 2])
    else:
        bad = ~np.isfinite(model.log_prob(p0))
        if bad.any():
            p0[bad] = theta0 * (1 + 1e-6 * rng.standard_normal((bad.sum(), _N_PARAMS)))
    bad = ~np.isfinite(model.log_prob(p0))
    if bad.any():
        # emcee would keep these walkers where they are forever (every move
        # from -inf is refused) and report a chain that looks very precise
        raise InputError(
            f"{bad.sum()} of the {n_walkers} starting walkers have a log-probability of "
            f"-inf, even at the least-squares estimate (slope, intercept, scatter) = "
            f"({theta0[0]:.4g}, {theta0[1]:.4g}, {theta0[2]:.4g}): the priors "
            f"{model.priors} exclude it, or the data's variances overflow")
    return theta0, p0


def _check_counts(n_walkers, n_steps, burn):
    """(n_walkers, n_steps, burn) as ints; a float is an error, never truncated."""
    n_walkers = as_count("n_walkers", n_walkers, minimum=0)
    n_steps = as_count("n_steps", n_steps, minimum=0)
    if n_walkers < 2 * _N_PARAMS:
        raise ValueError(f"n_walkers must be >= {2 * _N_PARAMS} (twice the parameters), "
                         f"got {n_walkers}")
    if n_steps < 2:
        raise ValueError(f"n_steps must be >= 2, got {n_steps}")
    burn = n_steps // 2 if burn is None else as_count("burn", burn, minimum=0)
    if not 0 <= burn < n_steps:
        raise ValueError(f"burn must be in [0, n_steps), got {burn} with n_steps={n_steps}")
    return n_walkers, n_steps, burn


def _sample(model, *, n_walkers, n_steps, burn, seed, progress, backend):
    """Run emcee on ``model``; returns a LineFit (warnings left to the caller)."""
    n_walkers, n_steps, burn = _check_counts(n_walkers, n_steps, burn)
    init_seed, emcee_seed = seed_sequence(seed).spawn(2)
    theta0, p0 = _initial_walkers(model, n_walkers, np.random.default_rng(init_seed))
    if backend is not None:
        backend.reset(n_walkers, _N_PARAMS)
    # emcee (and the scipy.stats it imports, ~0.6 s) loads on the first fit
    from ._sampling import _Sampler, _StretchMove
    sampler = _Sampler(n_walkers, _N_PARAMS, model.log_prob, vectorize=True,
                       moves=_StretchMove(), backend=backend)
    sampler._random = _CompactStateRandom(np.random.PCG64(emcee_seed))
    sampler.run_mcmc(p0, n_steps, progress=progress)

    acceptance = float(np.mean(sampler.acceptance_fraction))
    if not acceptance > 0:
        raise SamplingError(
            f"emcee: no walker moved in {n_steps} steps (acceptance fraction 0): the chain is "
            f"its starting point, not a posterior; every proposal had a log-probability of "
            f"-inf or far below the start (check the priors {model.priors} and the data's "
            f"errors)")
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
        message = (f"emcee: {err} (fit kept: the posterior summaries stand, the "
                   f"autocorrelation times are rough)").replace("\n", " ")
    return LineFit(
        slope=float(median[0]), slope_err=float(std[0]),
        intercept=float(median[1]), intercept_err=float(std[1]),
        scatter=float(median[2]), scatter_err=float(std[2]),
        percentiles={name: pct[:, i] for i, name in enumerate(PARAM_NAMES)},
        acceptance_fraction=acceptance,
        autocorr_time=np.asarray(tau, dtype=float), autocorr_warning=message,
        samples=samples, sampler=sampler, scatter_model=model.scatter,
        n_stars=model.n_stars, n_omitted=model.n_omitted, burn=burn,
        initial=theta0, priors=dict(model.priors))


def fit_line(x, y, x_err, y_err, xy_cov=None, *, scatter="perpendicular", priors=None,
             n_walkers=10, n_steps=1000, burn=None, seed=None, n_threads=None,
             progress=False, backend=None, nan_policy="raise"):
    """Fit y = m x + b with intrinsic scatter by MCMC (emcee), errors in x and y.

    The likelihood of METHOD.md section 5 (see :func:`line_loglike`) with
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
    """
    model = LineModel(x, y, x_err, y_err, xy_cov, scatter=scatter, priors=priors,
                      nan_policy=nan_policy, n_threads=n_threads)
    fit = _sample(model, n_walkers=n_walkers, n_steps=n_steps, burn=burn, seed=seed,
                  progress=progress, backend=backend)
    if fit.autocorr_warning:
        warnings.warn(fit.autocorr_warning, AutocorrWarning, stacklevel=2)
    return fit


# --------------------------------------------------------------------------
# binned fits: Tables 1 and 2
# --------------------------------------------------------------------------
_FIT_KEYS = ("scatter", "priors", "n_walkers", "n_steps", "burn", "seed", "n_threads",
             "progress")
#: fit_tables' binning arguments and the unit their plain numbers are read in
_PLAIN_UNIT_HINT = {"R": "kpc", "z": "kpc"}


class _BinnedPlan:
    """The bins of one table: which rows, which are fitted, and the settings.

    ``names`` maps "x", "y", "x_err", "y_err", "by", "edges" to the caller's
    argument names (for the messages); ``units`` = (x_unit, y_unit, by_unit)
    are those of arrays already converted by the caller (fit_tables)."""

    def __init__(self, x, y, x_err, y_err, by, edges, *, min_stars, xy_cov, nan_policy,
                 fit_kwargs, names=None, units=None):
        unknown = set(fit_kwargs) - set(_FIT_KEYS)
        if unknown:
            raise TypeError(f"unexpected keyword argument(s) {sorted(unknown)}; "
                            f"fit options are {_FIT_KEYS}")
        names = {"by": "by", "edges": "edges"} | dict(names or {})
        self.fit_kwargs = dict(fit_kwargs)
        # checked before any star is binned: a float count is an error, not truncated
        _check_counts(fit_kwargs.get("n_walkers", 10), fit_kwargs.get("n_steps", 1000),
                      fit_kwargs.get("burn"))
        min_stars = as_count("min_stars", min_stars, minimum=0)
        if units is None:
            self.by_unit = _unit_of(by)
            xy_units = None
            edges_unit = _unit_of(edges)
            if edges_unit is not None and self.by_unit is None:
                raise u.UnitTypeError(
                    f"{names['edges']}: a Quantity in {edges_unit}, but {names['by']} has no "
                    f"unit; give both with units or both as plain numbers")
            if edges_unit is None and self.by_unit is not None:
                # as astropy refuses q_in_pc < 5: a plain number next to a
                # Quantity has no unit that could be assumed safely
                raise u.UnitTypeError(
                    f"{names['edges']}: plain numbers, but {names['by']} is a Quantity in "
                    f"{self.by_unit}; give the edges with a unit too (e.g. "
                    f"[0, 0.2] * u.{self.by_unit})")
        else:
            xy_units, self.by_unit = units[:2], units[2]
        data = _prepare(x, y, x_err, y_err, xy_cov, nan_policy=nan_policy,
                        extra={"by": (by, self.by_unit)}, min_points=0, names=names,
                        units=xy_units)
        edges = as_float_array(names["edges"], edges, self.by_unit)
        if len(edges) < 2 or not np.isfinite(edges).all() or not (np.diff(edges) > 0).all():
            raise ValueError(f"{names['edges']}: need >= 2 finite, strictly increasing values")
        self.data, self.edges = data, edges
        self.min_stars = max(min_stars, _N_PARAMS)
        self.scatter = fit_kwargs.get("scatter", "perpendicular")
        _check_scatter(self.scatter)
        # half-open bins [lo, hi)
        by_v = data.extra["by"]
        index = np.searchsorted(edges, by_v, side="right") - 1
        n_bins = len(edges) - 1
        self.rows = [np.flatnonzero(index == k) for k in range(n_bins)]
        self.n_stars = np.array([len(r) for r in self.rows])
        if self.n_stars.sum() == 0:
            unit = f" {self.by_unit}" if self.by_unit is not None else ""
            span = (f"; {names['by']} spans [{by_v.min():g}, {by_v.max():g}]{unit}"
                    if len(by_v) else "")
            hint = (f"plain numbers are {_PLAIN_UNIT_HINT[names['by']]}"
                    if names["by"] in _PLAIN_UNIT_HINT else
                    f"{names['edges']} must be in the unit of {names['by']}")
            raise InputError(
                f"{names['by']}: none of the {len(data)} stars falls in a bin of "
                f"{names['edges']} [{edges[0]:g}, {edges[-1]:g}){unit}{span}. Is the unit "
                f"right? ({hint}; pass an astropy Quantity to have it converted)")
        seeds = seed_sequence(fit_kwargs.get("seed")).spawn(n_bins)
        self.jobs = []  # (bin, model, seed)
        for k in range(n_bins):
            if self.n_stars[k] >= self.min_stars:
                model = LineModel._from_data(data.subset(self.rows[k]), self.scatter,
                                             fit_kwargs.get("priors"), 1)
                self.jobs.append((k, model, seeds[k]))
        self.results = {}
        self.label = ""

    def table(self):
        data, edges, n_bins = self.data, self.edges, len(self.edges) - 1
        lo, hi = edges[:-1], edges[1:]
        fitted = np.array([k in self.results for k in range(n_bins)])

        def column(name, values, unit=None, description=None, dtype=float):
            values = np.asarray(values, dtype=dtype)
            mask = np.broadcast_to(~fitted.reshape((-1,) + (1,) * (values.ndim - 1)),
                                   values.shape)
            return MaskedColumn(values, name=name, mask=mask.copy(), unit=unit,
                                description=description)

        def values(attr):
            return [getattr(self.results[k], attr) if k in self.results else np.nan
                    for k in range(n_bins)]

        x_unit, y_unit, by_unit = data.x_unit, data.y_unit, self.by_unit
        slope_unit = None
        if x_unit is not None or y_unit is not None:
            try:
                slope_unit = (y_unit or u.one) / (x_unit or u.one)
            except (u.UnitsError, TypeError):  # e.g. function units such as dex
                slope_unit = None
        tau = [self.results[k].autocorr_time if k in self.results else np.full(3, np.nan)
               for k in range(n_bins)]
        t = Table([
            MaskedColumn(lo, name="bin_lo", unit=by_unit, description="lower bin edge (inclusive)"),
            MaskedColumn(hi, name="bin_hi", unit=by_unit, description="upper bin edge (exclusive)"),
            MaskedColumn(0.5 * (lo + hi), name="bin_center", unit=by_unit,
                         description="bin centre"),
            MaskedColumn(self.n_stars, name="n_stars", dtype=np.int64,
                         description="stars in the bin"),
            column("slope", values("slope"), slope_unit, "posterior median of m"),
            column("slope_err", values("slope_err"), slope_unit, "posterior std of m"),
            column("intercept", values("intercept"), y_unit, "posterior median of b"),
            column("intercept_err", values("intercept_err"), y_unit, "posterior std of b"),
            column("scatter", values("scatter"), y_unit,
                   f"posterior median of lambda ({self.scatter} scatter)"),
            column("scatter_err", values("scatter_err"), y_unit, "posterior std of lambda"),
            column("acceptance_fraction", values("acceptance_fraction"), None,
                   "mean acceptance fraction of the walkers"),
            column("autocorr_time", tau, None,
                   "emcee integrated autocorrelation time of (m, b, lambda), steps"),
        ])
        kw = self.fit_kwargs
        n_steps = int(kw.get("n_steps", 1000))
        t.meta.update({
            "method": ("straight line with intrinsic scatter, errors in x and y; marginalised "
                       "likelihood of Hogg, Bovy & Lang (2010) with v = (-m, 1) unnormalised "
                       "(Hawkins 2023 Eq. 4); emcee"),
            "scatter_model": self.scatter,
            "priors": {name: list(v) for name, v in
                       zip(PARAM_NAMES, _priors_box(kw.get("priors")).reshape(3, 2).tolist())},
            "n_walkers": int(kw.get("n_walkers", 10)),
            "n_steps": n_steps,
            "burn": int(kw["burn"]) if kw.get("burn") is not None else n_steps // 2,
            "seed": kw.get("seed") if isinstance(kw.get("seed"), (int, np.integer)) else None,
            "min_stars": self.min_stars,
            "bins": "half-open [bin_lo, bin_hi)",
            "n_omitted": data.n_omitted,
            "n_outside_bins": int(len(data) - self.n_stars.sum()),
            "autocorr_warnings": {f"[{lo[k]:g}, {hi[k]:g})": r.autocorr_warning
                                  for k, r in sorted(self.results.items())
                                  if r.autocorr_warning},
        })
        return t


#: below this many star-evaluations in all (stars x walkers x steps summed over
#: the bins) ``n_jobs=None`` fits the bins one after the other: starting worker
#: processes (~1 s) would cost more than it saves
_MIN_WORK_PROCESSES = 500_000_000


def _fit_job(model, kw, seed, threads_per_fit, min_work, label=""):
    """One bin's fit; module-level so that a worker process can run it."""
    model._n_threads = threads_per_fit
    model._min_work = min_work
    try:
        return _sample(model, n_walkers=kw.get("n_walkers", 10),
                       n_steps=kw.get("n_steps", 1000), burn=kw.get("burn"), seed=seed,
                       progress=kw.get("progress", False), backend=None)
    except (InputError, SamplingError) as exc:
        raise type(exc)(f"{label}: {exc}" if label else str(exc)) from None


def start_worker_server():
    """Start the forkserver that the bins' worker processes come from, so that
    its imports (~1 s) overlap other work; a no-op where there is none."""
    import multiprocessing as mp
    if "forkserver" in mp.get_all_start_methods():
        mp.get_context("forkserver").set_forkserver_preload(["fastgrad.fitting"])
        from multiprocessing import forkserver
        forkserver.ensure_running()


def _watch_parent():
    """A worker's initializer: exit the moment the process that started the
    pool is gone, however it ended (SIGKILL included).

    multiprocessing gives every child a sentinel, the read end of a pipe whose
    only writer is the parent: it turns readable when the parent exits.  Without
    this watch the workers (blocked on their task queue, whose write end they
    hold themselves), the forkserver and the resource tracker (each kept alive
    by the workers' copies of its pipe) would outlive the parent indefinitely,
    holding its stderr open."""
    import multiprocessing as mp
    import os
    import threading
    parent = mp.parent_process()
    if parent is None:  # pragma: no cover - not started by multiprocessing
        return

    def watch():
        parent.join()  # waits on the sentinel only (it is not a child of ours)
        os._exit(1)

    threading.Thread(target=watch, name="fastgrad-parent-watch", daemon=True).start()


def _no_main_popen_class():
    """popen_forkserver.Popen whose preparation data leave out the main module
    (made on first use: the import of the forkserver machinery waits until a
    pool is needed)."""
    global _NoMainPopen
    if _NoMainPopen is None:
        import io
        import os
        from multiprocessing import context, forkserver, popen_forkserver, reduction, spawn
        from multiprocessing import util

        class _Popen(popen_forkserver.Popen):
            # popen_forkserver.Popen._launch of CPython 3.10-3.14, the
            # preparation data minus the main module
            def _launch(self, process_obj):
                prep_data = spawn.get_preparation_data(process_obj._name)
                prep_data.pop("init_main_from_path", None)
                prep_data.pop("init_main_from_name", None)
                buf = io.BytesIO()
                context.set_spawning_popen(self)
                try:
                    reduction.dump(prep_data, buf)
                    reduction.dump(process_obj, buf)
                finally:
                    context.set_spawning_popen(None)
                self.sentinel, w = forkserver.connect_to_new_process(self._fds)
                # the duplicate of the write end is the child's parent sentinel
                _parent_w = os.dup(w)
                self.finalizer = util.Finalize(self, util.close_fds,
                                               (_parent_w, self.sentinel))
                with open(w, "wb", closefd=True) as f:
                    f.write(buf.getbuffer())
                self.pid = forkserver.read_signed(self.sentinel)

        _NoMainPopen = _Popen
    return _NoMainPopen


_NoMainPopen = None
if sys.platform != "win32":
    from multiprocessing.context import ForkServerContext, ForkServerProcess

    class _NoMainProcess(ForkServerProcess):
        """A forkserver Process that does not re-run the parent's ``__main__``
        (module-level: the worker unpickles it)."""

        @staticmethod
        def _Popen(process_obj):
            return _no_main_popen_class()(process_obj)

    class _NoMainContext(ForkServerContext):
        Process = _NoMainProcess


_POOL_CONTEXT = None


def _pool_context():
    """The multiprocessing context of the bins' worker processes.

    forkserver (preloaded with fastgrad), never fork: a child forked after
    OpenMP has run in the parent can hang in the OpenMP runtime.  Its workers
    do not re-run the caller's ``__main__`` (multiprocessing's default): the
    jobs are fastgrad functions and LineModels, which never need it, and a
    script without the ``if __name__ == "__main__":`` guard would otherwise
    start its own fits again in every worker and break the pool.  Where there
    is no forkserver (Windows), spawn, which does re-run ``__main__``."""
    global _POOL_CONTEXT
    if _POOL_CONTEXT is None:
        import multiprocessing as mp
        if "forkserver" in mp.get_all_start_methods():
            ctx = _NoMainContext()
            # the server imports fastgrad (numpy, astropy, emcee) once; the
            # workers it forks start with it loaded
            ctx.set_forkserver_preload(["fastgrad.fitting"])
        else:  # pragma: no cover - Windows
            ctx = mp.get_context("spawn")
        _POOL_CONTEXT = ctx
    return _POOL_CONTEXT


def _process_pool(n_workers):
    return ProcessPoolExecutor(max_workers=n_workers, mp_context=_pool_context(),
                               initializer=_watch_parent)


def _kill_workers(pool):
    """Stop a pool's workers now, mid-fit (Ctrl-C, SIGTERM handled as an
    exception, a failed bin): shutdown() alone would wait for every queued fit."""
    if hasattr(pool, "kill_workers"):  # Python >= 3.14
        pool.kill_workers()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            process.kill()
        except (OSError, ValueError):  # already gone or closed
            pass


def _check_n_jobs(n_jobs):
    """None, -1 or a positive int (a float, even 2.0, is an error)."""
    if n_jobs is None:
        return None
    if isinstance(n_jobs, numbers.Integral) and not isinstance(n_jobs, (bool, np.bool_)) \
            and n_jobs == -1:
        return -1
    try:
        return as_count("n_jobs", n_jobs, minimum=1)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{exc}; n_jobs must be a positive int, -1 or None") from None


def _run_plans(plans, n_jobs, n_threads):
    """Fit the jobs of all plans: one after the other, or in worker processes.

    Measured on the 2-core machine (Tables 1 and 2, 12 fits of 10 x 1000 on
    129k synthetic stars): one bin at a time 2.4 s; two bins at a time in
    threads 3.1 s (the kernel releases the GIL, but emcee's own Python, half
    of a fit's time, holds it and two threads convoy on it); two worker
    processes 1.7 s.  So bins run concurrently in processes (each fit on
    ``cpus // n_jobs`` OpenMP threads), which exit with this process however
    it ends and never re-run a script's ``__main__`` (see ``_pool_context``).
    ``n_jobs=None``: one bin at a time in this process; ``n_jobs=-1``: one
    process per CPU when the bins' total work exceeds ``_MIN_WORK_PROCESSES``,
    else one at a time.  Each bin has its own seed: the results are the same
    numbers whatever ``n_jobs``.
    """
    n_jobs = _check_n_jobs(n_jobs)
    jobs = [(plan, k, model, seed) for plan in plans for (k, model, seed) in plan.jobs]
    if not jobs:
        return
    n_cpu = effective_n_threads(n_threads)
    if n_jobs is None:
        n_jobs = 1
    elif n_jobs == -1:
        work = sum(model.n_stars * plan.fit_kwargs.get("n_walkers", 10)
                   * plan.fit_kwargs.get("n_steps", 1000) for plan, _, model, _ in jobs)
        n_jobs = n_cpu if work >= _MIN_WORK_PROCESSES else 1
    n_jobs = min(n_jobs, len(jobs))
    threads_per_fit = n_cpu if n_jobs == 1 else max(1, n_cpu // n_jobs)
    min_work = _MIN_WORK_AUTO_FIT if n_threads is None else _MIN_WORK_PER_THREAD
    # the biggest bins first, so the long fits do not finish last
    jobs.sort(key=lambda job: -job[2].n_stars)

    def label(plan, k):
        return (f"{plan.label}bin [{plan.edges[k]:g}, {plan.edges[k + 1]:g})")

    if n_jobs == 1:
        fits = [_fit_job(model, plan.fit_kwargs, seed, threads_per_fit, min_work,
                         label(plan, k))
                for plan, k, model, seed in jobs]
    else:
        pool = _process_pool(n_jobs)
        try:
            futures = [pool.submit(_fit_job, model, plan.fit_kwargs, seed, threads_per_fit,
                                   min_work, label(plan, k)) for plan, k, model, seed in jobs]
            fits = [f.result() for f in futures]
        except BaseException:
            _kill_workers(pool)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    for (plan, k, _, _), fit in zip(jobs, fits):
        plan.results[k] = fit


def _warn_autocorr(tables, stacklevel=3):
    short = []
    for name, t in tables:
        short += [f"{name}{b}" for b in t.meta["autocorr_warnings"]]
    if short:
        warnings.warn(f"emcee: the chains of {len(short)} bin(s) ({', '.join(short)}) are "
                      f"shorter than 50 autocorrelation times; the fits are kept and the "
                      f"rough estimates are in the autocorr_time column (messages in "
                      f"meta['autocorr_warnings'])", AutocorrWarning, stacklevel=stacklevel)


def fit_binned(x, y, x_err, y_err, by, edges, *, min_stars=500, n_jobs=None, xy_cov=None,
               nan_policy="raise", **fit_kwargs):
    """Fit a line with scatter in each bin of ``by`` (the paper's Tables 1 and 2).

    Parameters
    ----------
    x, y, x_err, y_err, xy_cov, nan_policy
        As :func:`fit_line` (rows with NaN or inf in ``by`` count too).
    by : array_like or Quantity, shape (N,)
        The binning variable (|Z| for Table 1, R for Table 2).
    edges : array_like or Quantity
        Strictly increasing bin edges; bins are half-open [lo, hi), stars
        outside [edges[0], edges[-1]) are in no bin.  A Quantity when ``by``
        is one (converted to ``by``'s unit), plain numbers when ``by`` is
        plain (mixing the two raises ``astropy.units.UnitTypeError``, as
        comparing a Quantity with a plain number does in astropy).
    min_stars : int
        Bins with fewer stars are not fitted; they stay in the table with
        their ``n_stars`` and masked fit values (METHOD.md: 500).
    n_jobs : int, -1 or None
        Bins fitted at once, in worker processes (forkserver), each on
        ``cpus // n_jobs`` OpenMP threads (threads would convoy on the GIL that
        emcee's Python holds for half of each fit; see ``_run_plans``).  None:
        one bin at a time in this process; -1: one process per CPU when the
        work is large enough to pay for starting them (~1 s).  The workers
        exit with the calling process however it ends (SIGKILL included) and
        do not re-run the caller's ``__main__``, so a script needs no
        ``if __name__ == "__main__":`` guard (except on Windows, which has no
        forkserver).
    **fit_kwargs
        ``scatter, priors, n_walkers, n_steps, burn, seed, n_threads,
        progress`` of :func:`fit_line`.  Each bin gets its own seed spawned
        from ``seed``, so the results do not depend on ``n_jobs``.

    Returns
    -------
    astropy.table.Table
        One row per bin: ``bin_lo, bin_hi, bin_center, n_stars, slope,
        slope_err, intercept, intercept_err, scatter, scatter_err,
        acceptance_fraction, autocorr_time``; the columns carry the units of
        the inputs where they are Quantities (``by``'s for the bins, y/x for
        the slope, y's for the intercept and the scatter), none for plain
        arrays; the settings and counts in ``meta``.

    Raises
    ------
    ValueError
        As :func:`fit_line`, naming the argument and rows (``by`` included);
        :class:`fastgrad.errors.InputError` when no star falls in any bin
        (often a unit mistake) or a bin's walkers cannot start;
        TypeError for a float count (``min_stars``, ``n_jobs``, ...).
    SamplingError
        A bin's chain never moved; the message names the bin.

    Warns
    -----
    AutocorrWarning
        Once, naming the bins whose chains are too short for a reliable
        autocorrelation time.
    """
    n_threads = fit_kwargs.get("n_threads")
    plan = _BinnedPlan(x, y, x_err, y_err, by, edges, min_stars=min_stars, xy_cov=xy_cov,
                       nan_policy=nan_policy, fit_kwargs=fit_kwargs)
    _run_plans([plan], n_jobs, n_threads)
    table = plan.table()
    _warn_autocorr([("", table)])
    return table


def fit_tables(R, z, feh, R_err, z_err, feh_err, *, radial_edges=RADIAL_BIN_EDGES,
               vertical_edges=VERTICAL_BIN_EDGES, min_stars=500, n_jobs=None,
               nan_policy="raise", seed=None, **fit_kwargs):
    """The paper's Tables 1 and 2 in one call (the bins of both in one pool).

    Table 1: [Fe/H] against R in bins of |Z| (``radial_edges``, kpc);
    Table 2: [Fe/H] against |Z| in bins of R (``vertical_edges``, kpc), with
    sigma_x the Monte-Carlo standard deviation of R, resp. of z (METHOD.md
    sections 3 and 5).

    Parameters
    ----------
    R, z : array_like or Quantity
        Galactocentric cylindrical radius and height: plain numbers are kpc,
        Quantities (and Columns with a unit) are converted to kpc; |z| is
        taken here.
    feh : array_like
        [Fe/H] (dex).
    R_err, z_err, feh_err : array_like or Quantity
        Their standard deviations (kpc, kpc, dex, as R, z and feh).
    radial_edges, vertical_edges : array_like or Quantity
        Bin edges of |z| and of R; plain numbers are kpc, Quantities are
        converted to kpc.
    seed : int, SeedSequence, Generator or None
        Spawns one seed per table, then per bin: the tables equal those of
        two ``fit_binned`` calls with the spawned seeds.
    min_stars, n_jobs, nan_policy, **fit_kwargs
        As :func:`fit_binned`.

    Returns
    -------
    (Table, Table)
        The radial (Table 1) and vertical (Table 2) gradients, with units:
        bins in kpc, slope in dex / kpc, intercept and scatter in dex (so
        that ``Table.write(..., format="ascii.ecsv")`` keeps them).

    Raises
    ------
    ValueError, TypeError, SamplingError
        As :func:`fit_binned`; the messages name fit_tables' arguments
        (``R``, ``z``, ``feh_err``, ``radial_edges``, ...), and a table with no
        star in any bin (e.g. z in pc given as plain numbers) is an
        :class:`fastgrad.errors.InputError` that suggests the unit.
    """
    # plain numbers are kpc and dex; Quantities (and Columns with units) are
    # converted, so z in pc meets the kpc edges in kpc
    R = as_float_array("R", R, u.kpc)
    absz = np.abs(as_float_array("z", z, u.kpc))
    R_err = as_float_array("R_err", R_err, u.kpc)
    z_err = as_float_array("z_err", z_err, u.kpc)
    feh = as_float_array("feh", feh, u.dex)
    feh_err = as_float_array("feh_err", feh_err, u.dex)
    radial_edges = as_float_array("radial_edges", radial_edges, u.kpc)
    vertical_edges = as_float_array("vertical_edges", vertical_edges, u.kpc)
    seed_radial, seed_vertical = seed_sequence(seed).spawn(2)
    units = (u.kpc, u.dex, u.kpc)
    radial = _BinnedPlan(R, feh, R_err, feh_err, absz, radial_edges, min_stars=min_stars,
                         xy_cov=None, nan_policy=nan_policy,
                         fit_kwargs={**fit_kwargs, "seed": seed_radial}, units=units,
                         names={"x": "R", "y": "feh", "x_err": "R_err", "y_err": "feh_err",
                                "by": "z", "edges": "radial_edges"})
    vertical = _BinnedPlan(absz, feh, z_err, feh_err, R, vertical_edges, min_stars=min_stars,
                           xy_cov=None, nan_policy=nan_policy,
                           fit_kwargs={**fit_kwargs, "seed": seed_vertical}, units=units,
                           names={"x": "z", "y": "feh", "x_err": "z_err", "y_err": "feh_err",
                                  "by": "R", "edges": "vertical_edges"})
    radial.label, vertical.label = "radial table, |z| ", "vertical table, R "
    _run_plans([radial, vertical], n_jobs, fit_kwargs.get("n_threads"))
    tables = []
    for plan, name in ((radial, "radial"), (vertical, "vertical")):
        t = plan.table()
        t.meta["table"] = name
        t.meta["seed"] = seed if isinstance(seed, (int, np.integer)) else None
        tables.append(t)
    _warn_autocorr([("|Z| in ", tables[0]), ("R in ", tables[1])])
    return tables[0], tables[1]
