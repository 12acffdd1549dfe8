"""The checked inputs of a line fit (``docs/method.md`` section 5).

Every public function of :mod:`fastgrad.fitting` converts and checks its data
here, once.  Bad input: NaN or inf anywhere, negative errors, a star with both
errors zero (its total variance vanishes at lambda = 0), |xy_cov| > x_err
y_err, mismatched lengths and fewer points than parameters raise ValueError
naming the argument, the number of rows and the first of them.
``nan_policy="omit"`` drops the rows with NaN or inf instead and reports how
many (``n_omitted``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import astropy.units as u
import numpy as np

from .._kernels import core as _core
from .._validation import as_float_array, check_lengths, raise_bad_rows

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    import numpy.typing as npt


__all__ = [
    "PARAM_NAMES",
    "SCATTER_MODELS",
    "N_PARAMS",
    "LineData",
    "prepare_line_data",
    "unit_of",
    "check_scatter",
]

#: names of the parameters, in the order of theta
PARAM_NAMES = ("slope", "intercept", "scatter")
#: the two models of the intrinsic scatter
SCATTER_MODELS = ("perpendicular", "vertical")
#: parameters of a line with scatter: (slope, intercept, scatter)
N_PARAMS = 3

_NAN_POLICIES = ("raise", "omit")
# the kernel's tolerance on |xy_cov| <= x_err y_err, so that both checks agree
_COV_RTOL = _core.LINE_COV_RTOL
# the largest |value| whose square is a finite float64
_MAX_SQUARABLE = float(np.sqrt(np.finfo(np.float64).max))


class LineData:
    """Validated data of a line fit: float64 arrays (``x, y, x_err, y_err``,
    ``xy_cov`` or None, the ``extra`` arrays by name), their units
    (``x_unit, y_unit``, None for plain numbers) and the count of rows dropped
    by nan_policy='omit' (``n_omitted``).  Made by :func:`prepare_line_data`."""

    __slots__ = ("x", "y", "x_err", "y_err", "xy_cov", "extra", "n_omitted", "x_unit", "y_unit")

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        x_err: np.ndarray,
        y_err: np.ndarray,
        xy_cov: np.ndarray | None = None,
        extra: Mapping[str, np.ndarray] | None = None,
        n_omitted: int = 0,
        x_unit: u.UnitBase | None = None,
        y_unit: u.UnitBase | None = None,
    ) -> None:
        self.x, self.y, self.x_err, self.y_err, self.xy_cov = x, y, x_err, y_err, xy_cov
        self.extra = dict(extra or {})
        self.n_omitted = n_omitted
        self.x_unit, self.y_unit = x_unit, y_unit

    def subset(self, rows: npt.ArrayLike) -> LineData:
        """The data of ``rows`` (an index array), e.g. one bin's stars."""
        return LineData(
            self.x[rows],
            self.y[rows],
            self.x_err[rows],
            self.y_err[rows],
            None if self.xy_cov is None else self.xy_cov[rows],
            {k: v[rows] for k, v in self.extra.items()},
            0,
            self.x_unit,
            self.y_unit,
        )

    def __len__(self):
        return len(self.x)


def unit_of(value: Any) -> u.UnitBase | None:
    """The astropy unit of a Quantity or a Column with a unit, else None."""
    unit = getattr(value, "unit", None)
    return unit if isinstance(unit, u.UnitBase) else None


def _check_policy(nan_policy):
    if nan_policy not in _NAN_POLICIES:
        raise ValueError(f"nan_policy must be one of {_NAN_POLICIES}, got {nan_policy!r}")


def check_scatter(scatter: str) -> bool:
    """True for the perpendicular scatter, False for the vertical one; else ValueError."""
    if scatter not in SCATTER_MODELS:
        raise ValueError(f"scatter must be one of {SCATTER_MODELS}, got {scatter!r}")
    return scatter == "perpendicular"


def _broadcast(arr, n):
    """Errors may be given as one number for all stars."""
    if len(arr) == 1 and n != 1:
        return np.full(n, arr[0])
    return arr


def prepare_line_data(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    x_err: npt.ArrayLike,
    y_err: npt.ArrayLike,
    xy_cov: npt.ArrayLike | None = None,
    *,
    nan_policy: str = "raise",
    extra: Mapping[str, tuple[npt.ArrayLike, Any]] | None = None,
    min_points: int = N_PARAMS,
    names: Mapping[str, str] | None = None,
    units: tuple[Any, Any] | None = None,
) -> LineData:
    """Convert and check the inputs of a fit (see the module docstring) into
    a :class:`LineData`; ``extra`` = {name: (value, unit)} are checked for NaN/inf and
    subset along.  ``names`` maps "x", "y", "x_err", ... to the caller's
    argument names, which every message uses (fit_tables' ``R``, ``z``);
    ``units`` = (x_unit, y_unit) replaces those read from x and y."""
    _check_policy(nan_policy)
    names = {key: key for key in ("x", "y", "x_err", "y_err", "xy_cov", *(extra or {}))} | dict(
        names or {}
    )
    x_unit, y_unit = units if units is not None else (unit_of(x), unit_of(y))
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
            raise_bad_rows(
                names[name],
                ~np.isfinite(arr),
                "are NaN or infinite",
                "pass nan_policy='omit' to drop them",
            )
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
            raise_bad_rows(
                names[name],
                ~np.isfinite(arrays[name] * arrays[name]),
                f"overflow when squared (|value| > {_MAX_SQUARABLE:.3g})",
                "check the units and the missing-value markers of that column",
            )
    xe, ye, cov = arrays["x_err"], arrays["y_err"], arrays.get("xy_cov")
    raise_bad_rows(names["x_err"], xe < 0, "are negative")
    raise_bad_rows(names["y_err"], ye < 0, "are negative")
    raise_bad_rows(
        f"{names['x_err']}, {names['y_err']}",
        (xe == 0) & (ye == 0),
        f"have zero total variance ({names['x_err']} = {names['y_err']} = 0)",
        "the likelihood is degenerate at scatter = 0; give them a non-zero error",
    )
    if cov is not None:
        raise_bad_rows(
            names["xy_cov"],
            cov * cov > (xe * xe) * (ye * ye) * (1 + _COV_RTOL),
            f"exceed {names['x_err']} * {names['y_err']} in absolute value (not a covariance)",
        )
    n_kept = len(arrays["x"])
    if n_kept < min_points:
        after = f" after omitting {n_omitted} row(s) with NaN or inf" if n_omitted else ""
        why = f" (a line with scatter has {N_PARAMS} parameters)" if min_points >= N_PARAMS else ""
        raise ValueError(
            f"{names['x']}, {names['y']}: need at least {min_points} "
            f"point(s){why}; got {n_kept}{after}"
        )
    return LineData(
        arrays["x"],
        arrays["y"],
        xe,
        ye,
        cov,
        {k: arrays[k] for k in extra_arrays},
        n_omitted,
        x_unit,
        y_unit,
    )
