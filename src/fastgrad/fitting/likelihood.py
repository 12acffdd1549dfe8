"""The likelihood of a straight line with intrinsic scatter, and its priors.

``docs/method.md`` section 5 (the paper's Eq. 4, after Hogg, Bovy & Lang 2010
and Foreman-Mackey's correction): the model is y = m x + b with intrinsic
scatter lambda, and the likelihood marginalised over the true positions is

    ln L = -1/2 sum_i [Delta_i^2 / Sigma_i^2 + ln(2 pi Sigma_i^2)],
    Delta_i = y_i - (m x_i + b),   Sigma_i^2 = v^T (S_i + Lambda) v,

with v = (-m, 1) **not normalised** and S_i = [[sx^2, sxy], [sxy, sy^2]].
The scatter is perpendicular to the line by default, v^T Lambda v =
lambda^2 (1 + m^2), or vertical (``scatter="vertical"``), v^T Lambda v =
lambda^2.  The two are exact reparametrisations of each other:
lambda_y^2 = lambda_perp^2 (1 + m^2).

The likelihood runs in a compiled kernel (``_core.line_loglike_batch``) that
evaluates all of emcee's walkers in one call, with the GIL released.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._kernels import core as _core
from .._threads import SERIAL_BELOW, effective_n_threads, threads_for
from .data import N_PARAMS, PARAM_NAMES, check_scatter, prepare_line_data

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import numpy.typing as npt

    from .data import LineData


__all__ = ["line_loglike", "LineModel", "DEFAULT_PRIORS", "priors_box", "min_work_for"]

#: uniform priors (lo, hi) of docs/method.md section 5: m in dex/kpc, b and
#: lambda in dex (the paper's sentence is corrupted after "m between -2 and")
DEFAULT_PRIORS = {"slope": (-2.0, 2.0), "intercept": (-10.0, 10.0), "scatter": (0.0, 5.0)}

# the thresholds below which a call runs on one thread: fastgrad._threads
_MIN_WORK_PER_THREAD = SERIAL_BELOW["likelihood"]
_MIN_WORK_AUTO_FIT = SERIAL_BELOW["likelihood_auto"]


def min_work_for(n_threads: int | None) -> int:
    """The fewest star-evaluations (stars x walkers) per call that a
    :class:`LineModel` runs on several threads: a high bar when ``n_threads``
    is None (threads chosen for the user), a low one when given.

    Examples
    --------
    >>> from fastgrad.fitting.likelihood import min_work_for
    >>> min_work_for(None), min_work_for(4)  # star-evaluations before threads are used
    (262144, 16384)
    """
    return _MIN_WORK_AUTO_FIT if n_threads is None else _MIN_WORK_PER_THREAD


def _dot(a, b):
    """sum(a * b) by numpy's pairwise summation: the same bits whatever the
    BLAS thread count (a BLAS ``a @ b`` splits the sum by thread)."""
    return float(np.sum(a * b))


_FLOAT64 = np.dtype(np.float64)
_NO_COV = np.empty(0)  # xy_cov of length 0: no covariance (read only by the kernel)


def _plain(value):
    """A float64 ndarray itself (not a Quantity or a masked array, whose
    units or mask the kernel's buffer would drop): the hot path of
    line_loglike."""
    return type(value) is np.ndarray and value.dtype is _FLOAT64


def _n_threads_for(work, n_threads):
    """Threads of one line_loglike call: LineModel's policy (min_work_for),
    so that a call on the paper's 30,000 stars with n_threads=None runs on
    one thread, without the OpenMP fork/join that costs more than it saves
    on a shared machine (bench/README.md)."""
    kernel = "likelihood_auto" if n_threads is None else "likelihood"
    return threads_for(kernel, work, n_threads)


def _as_theta(theta):
    th = np.asarray(theta, dtype=np.float64)
    scalar = th.ndim == 1
    if th.shape[-1:] != (N_PARAMS,) or th.ndim > 2:
        raise ValueError(
            f"theta must have shape (3,) or (n, 3) = (slope, intercept, scatter), got {th.shape}"
        )
    return np.ascontiguousarray(th.reshape(-1, N_PARAMS)), scalar


def line_loglike(
    theta: npt.ArrayLike,
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    x_err: npt.ArrayLike,
    y_err: npt.ArrayLike,
    xy_cov: npt.ArrayLike | None = None,
    *,
    scatter: str = "perpendicular",
    n_threads: int | None = None,
    nan_policy: str = "raise",
) -> float | np.ndarray:
    """Log-likelihood of a straight line with intrinsic scatter (no prior).

    docs/method.md section 5: ``ln L = -1/2 sum_i [Delta_i^2 / Sigma_i^2 +
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
        calls run on one thread whatever this says: as in
        :class:`LineModel`, below 262,144 star-evaluations (stars x thetas)
        for None, below 16,384 for a given number.
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

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.fitting.likelihood import line_loglike
    >>> x, y = np.array([0.0, 1.0, 2.0]), np.array([1.0, 3.0, 5.0])  # on y = 2x + 1
    >>> err = np.full(3, 0.1)
    >>> ll = line_loglike([2.0, 1.0, 0.0], x, y, err, err)  # (slope, intercept, scatter)
    >>> sigma2 = 0.1**2 * (2.0**2 + 1)  # Sigma_i^2 = m^2 sx^2 + sy^2, zero residuals
    >>> print(f"{ll:.6f} {-1.5 * np.log(2 * np.pi * sigma2):.6f}")
    1.736783 1.736783
    >>> line_loglike([[2.0, 1.0, 0.0], [2.1, 1.0, 0.0]], x, y, err, err)  # one value per row
    array([1.736783, 1.156459])
    """
    perpendicular = check_scatter(scatter)
    if (
        nan_policy == "raise"
        and type(theta) is np.ndarray
        and theta.shape == (N_PARAMS,)
        and theta.dtype is _FLOAT64
        and _plain(x)
        and _plain(y)
        and _plain(x_err)
        and _plain(y_err)
        and 0 < x.size
        and xy_cov is None
        and (
            (n_threads is None and x.size < _MIN_WORK_AUTO_FIT)
            or (n_threads == 1 and type(n_threads) is int)
        )
    ):
        # the commonest call (one theta, one thread): no arrays for theta and
        # the result, and one pass over the data (the kernel checks the
        # errors of each chunk as it evaluates it); any doubt (bad errors, -inf, a buffer the kernel
        # refuses) goes the general way below, which says what is wrong
        try:
            status, value = _core.line_loglike_one(
                theta[0], theta[1], theta[2], x, y, x_err, y_err, perpendicular, 1
            )
        except ValueError:
            status = None
        if status == 0 and value > -np.inf:
            return value
    th, scalar = _as_theta(theta)
    out = np.empty(len(th))
    status = None
    # hot path: float64 ndarrays (not Quantities or masked arrays) go to the
    # kernel as they are; the kernel's own scan checks the errors (NaN/inf
    # show up as -inf), and its buffer checks (1-D, contiguous, one length)
    # raise ValueError, sending the call to the full checks below
    if (
        nan_policy == "raise"
        and _plain(x)
        and _plain(y)
        and _plain(x_err)
        and _plain(y_err)
        and x.size > 0
        and (xy_cov is None or _plain(xy_cov))
    ):
        xa, ya, xe, ye = x, y, x_err, y_err
        cov = _NO_COV if xy_cov is None else xy_cov
        nt = _n_threads_for(x.size * len(th), n_threads)
        try:
            status = _core.line_loglike_batch(
                th, xa, ya, xe, ye, cov, None, None, False, perpendicular, out, nt
            )
        except ValueError:
            status = None
    if status is None:
        data = prepare_line_data(x, y, x_err, y_err, xy_cov, nan_policy=nan_policy, min_points=1)
        xa, ya, xe, ye = data.x, data.y, data.x_err, data.y_err
        cov = _NO_COV if data.xy_cov is None else data.xy_cov
        nt = _n_threads_for(len(xa) * len(th), n_threads)
        status = _core.line_loglike_batch(
            th, xa, ya, xe, ye, cov, None, None, False, perpendicular, out, nt
        )
    if status != 0:
        # the kernel's scan found bad errors (-1), or some value is -inf,
        # which NaN/inf data also give: the full checks say which, and raise
        prepare_line_data(
            xa, ya, xe, ye, None if len(cov) == 0 else cov, nan_policy="raise", min_points=1
        )
        if status < 0:  # (not expected: the checks above agree with the scan's)
            bounds = np.array([np.min(xe) ** 2, np.max(xe) ** 2, np.min(ye) ** 2, np.max(ye) ** 2])
            _core.line_loglike_batch(
                th, xa, ya, xe, ye, cov, bounds, None, False, perpendicular, out, nt
            )
    return float(out[0]) if scalar else out


def priors_box(
    priors: Mapping[str, tuple[float, float]] | Sequence[tuple[float, float]] | None,
) -> np.ndarray:
    """Uniform priors (a dict ``{name: (lo, hi)}`` of :data:`PARAM_NAMES`,
    missing ones from :data:`DEFAULT_PRIORS`, or three pairs) -> the float64
    array (lo_m, hi_m, lo_b, hi_b, lo_lambda, hi_lambda); ValueError if bad.

    Examples
    --------
    >>> from fastgrad.fitting.likelihood import priors_box
    >>> priors_box({"slope": (-0.5, 0.5)})  # the others from DEFAULT_PRIORS
    array([ -0.5,   0.5, -10. ,  10. ,   0. ,   5. ])
    """
    if priors is None:
        priors = {}
    if isinstance(priors, dict):
        unknown = set(priors) - set(PARAM_NAMES)
        if unknown:
            raise ValueError(f"priors: unknown parameter(s) {sorted(unknown)}; use {PARAM_NAMES}")
        pairs = [priors.get(name) or DEFAULT_PRIORS[name] for name in PARAM_NAMES]
    else:
        pairs = list(priors)
        if len(pairs) != N_PARAMS:
            raise ValueError("priors: give a dict {name: (lo, hi)} or three (lo, hi) pairs")
    box = np.asarray(pairs, dtype=np.float64)
    if box.shape != (N_PARAMS, 2) or np.isnan(box).any() or not (box[:, 0] < box[:, 1]).all():
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
        [-10, 10], lambda in [0, 5]; docs/method.md section 5).  Closed intervals.
    n_threads : int or None
        OpenMP threads, resolved now (see :func:`fastgrad.effective_n_threads`).
        None: all CPUs, but only for calls of >= 262,144 star-evaluations
        (stars x walkers); a given number: for calls of >= 16,384 (many
        short parallel calls stall whenever the machine is busy).

    Attributes
    ----------
    n_stars, n_omitted : int
        Stars used, and rows dropped by ``nan_policy="omit"``.
    scatter : str
    priors : dict

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.fitting.likelihood import LineModel
    >>> rng = np.random.default_rng(1)
    >>> R = rng.uniform(6.0, 12.0, 2000)  # kpc
    >>> feh = 0.5 - 0.06 * R + rng.normal(0.0, 0.1, R.size)  # dex
    >>> model = LineModel(R, feh, np.full(R.size, 0.3), np.full(R.size, 0.05))
    >>> model.n_stars, model.scatter
    (2000, 'perpendicular')
    >>> theta0, cov0 = model.initial_guess()  # least squares: where the walkers start
    >>> print(f"slope {theta0[0]:.4f} +- {np.sqrt(cov0[0, 0]):.4f} dex/kpc")
    slope -0.0606 +- 0.0013 dex/kpc
    >>> model.log_prob([-0.06, 0.5, 0.1]) > model.log_prob([0.0, -0.1, 0.1])
    True
    >>> model.log_prob([3.0, 0.5, 0.1])  # outside the slope prior
    -inf
    """

    def __init__(
        self,
        x: npt.ArrayLike,
        y: npt.ArrayLike,
        x_err: npt.ArrayLike,
        y_err: npt.ArrayLike,
        xy_cov: npt.ArrayLike | None = None,
        *,
        scatter: str = "perpendicular",
        priors: Mapping[str, tuple[float, float]] | Sequence[tuple[float, float]] | None = None,
        nan_policy: str = "raise",
        n_threads: int | None = None,
    ) -> None:
        data = prepare_line_data(x, y, x_err, y_err, xy_cov, nan_policy=nan_policy)
        self._init(data, scatter, priors, n_threads)

    @classmethod
    def from_data(
        cls,
        data: LineData,
        scatter: str,
        priors: Mapping[str, tuple[float, float]] | Sequence[tuple[float, float]] | None,
        n_threads: int | None,
    ) -> LineModel:
        """A model of :class:`~fastgrad.fitting.data.LineData` already checked
        (one bin's stars): no second pass over the data."""
        self = cls.__new__(cls)
        self._init(data, scatter, priors, n_threads)
        return self

    def _init(self, data, scatter, priors, n_threads):
        self._perpendicular = check_scatter(scatter)
        self.scatter = scatter
        self._box = priors_box(priors)
        self.priors = {
            name: (self._box[2 * i], self._box[2 * i + 1]) for i, name in enumerate(PARAM_NAMES)
        }
        self._x, self._y = data.x, data.y
        # the kernel takes variances: squared once here, not at every call
        self._x_var = data.x_err**2
        self._y_var = data.y_err**2
        self._cov = np.empty(0) if data.xy_cov is None else data.xy_cov
        self._bounds = np.array(
            [self._x_var.min(), self._x_var.max(), self._y_var.min(), self._y_var.max()]
        )
        self._n_threads = effective_n_threads(n_threads)
        self._min_work = min_work_for(n_threads)
        self.n_stars = len(data.x)
        self.n_omitted = data.n_omitted
        self.x_unit, self.y_unit = data.x_unit, data.y_unit
        self._make_kernel()

    def _make_kernel(self):
        # the checked data, held by the compiled kernel: a call converts
        # theta and nothing else
        self._kernel = _core.LineKernel(
            self._x,
            self._y,
            self._x_var,
            self._y_var,
            self._cov,
            self._bounds,
            self._box,
            self._perpendicular,
        )

    def __getstate__(self):
        state = self.__dict__.copy()
        del state["_kernel"]  # holds pointers: rebuilt on unpickling
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._make_kernel()

    def set_threading(self, n_threads: int | None, min_work: int) -> None:
        """Use ``n_threads`` (an int, already resolved) for calls of at least
        ``min_work`` star-evaluations, one thread below: how a worker process
        shares the CPUs between the fits running at once."""
        self._n_threads = n_threads
        self._min_work = min_work

    def _evaluate(self, theta, with_prior):
        if (
            type(theta) is np.ndarray
            and theta.shape == (N_PARAMS,)
            and theta.dtype is _FLOAT64
            and self.n_stars < self._min_work
        ):
            # one theta on one thread (emcee's non-vectorised calls, a
            # user's): no array is made; the numbers are the batch path's
            return self._kernel.evaluate_one(theta[0], theta[1], theta[2], with_prior)
        th, scalar = _as_theta(theta)
        out = np.empty(len(th))
        nt = 1 if self.n_stars * len(th) < self._min_work else self._n_threads
        self._kernel.evaluate(th, with_prior, out, nt)
        return float(out[0]) if scalar else out

    def log_prob(self, theta: npt.ArrayLike) -> float | np.ndarray:
        """ln L + ln prior (up to a constant); -inf outside the priors.

        theta : (3,) -> float, or (n, 3) -> ndarray (n,).
        """
        return self._evaluate(theta, True)

    __call__ = log_prob

    def loglike(self, theta: npt.ArrayLike) -> float | np.ndarray:
        """ln L alone (no prior); -inf for lambda < 0 or non-finite theta."""
        return self._evaluate(theta, False)

    def initial_guess(self) -> tuple[np.ndarray, np.ndarray]:
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
        return f"LineModel(n_stars={self.n_stars}, scatter={self.scatter!r}, priors={self.priors})"
