"""Azimuthal metallicity structure on top of the radial gradient.

docs/method.md section 6 (the paper's sections 4.2 and 5):

* the *deviation at fixed radius* of each star,
  ``delta_i = value_i - mean{value_j : |R_j - R_i| <= h}``, star i included
  (:func:`annulus_mean`, :func:`azimuthal_deviation`);
* its mean and standard error in bins of azimuth, for the inner (7-9 kpc)
  and outer (9-11 kpc) disk (:func:`azimuthal_profile`,
  :func:`azimuthal_profiles`; the paper's Fig. 6);
* X-Y maps of the median observed, predicted and residual metallicity
  (:func:`residual_map`; the paper's Figs. 5 and 8).

Conventions (docs/method.md section 3): azimuth ``phi = atan2(y, -x)`` in radians,
0 at the Sun (x = -R0), growing with Galactic rotation.  Residuals are
``observed - model`` by default (positive: more metal-rich than the gradient
predicts); ``sign="model-observed"`` gives the paper's definition.

The annulus mean is O(N log N) in a compiled kernel (``_core.annulus_mean``):
a stable radix argsort of R, compensated prefix sums in sorted order and a
two-pointer sweep, OpenMP over blocks of sorted stars.  A brute-force mean is
O(N^2): ~3,000 s for the paper's ~850,000 Gaia giants.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import astropy.units as u
import numpy as np
from astropy.table import MaskedColumn, Table

from . import paper
from ._kernels import core as _core
from ._threads import effective_n_threads, threads_for
from ._validation import as_count, as_float_array, as_scalar, check_lengths, raise_bad_rows
from .hexbins import binned_medians

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt


__all__ = [
    "phi_edges",
    "annulus_mean",
    "azimuthal_deviation",
    "azimuthal_profile",
    "azimuthal_profiles",
    "residual_map",
    "ResidualMap",
    "DEFAULT_HALF_WIDTH",
    "DEFAULT_PHI_BIN_WIDTH",
    "DEFAULT_RINGS",
    "RESIDUAL_SIGNS",
    "map_inputs",
    "xy_extent",
    "map_edges",
    "map_cells",
    "residual_map_from_cells",
    "phi_labels",
    "profile_from_labels",
]

#: Half-width h of the annulus, kpc (docs/method.md section 6, fastgrad's reading of
#: the paper's footnote 5: stars "within 0.20 kpc of each other" share a radius,
#: i.e. a band 0.2 kpc wide; h = 0.2 is the other reading).
DEFAULT_HALF_WIDTH = paper.ANNULUS_HALF_WIDTH
#: Width of the azimuth bins of the profiles, rad (2 degrees; fastgrad's choice).
DEFAULT_PHI_BIN_WIDTH = np.deg2rad(paper.PHI_BIN_DEG)
#: Minimum stars for a profile bin to get a mean (fastgrad's choice).
DEFAULT_PROFILE_MIN_COUNT = paper.PROFILE_MIN_COUNT
#: Minimum stars for a map cell (the paper's Fig. 2; fastgrad uses it throughout).
DEFAULT_MAP_MIN_COUNT = paper.MAP_MIN_COUNT
#: The inner and outer disk of the paper's Fig. 6, kpc, half-open [lo, hi).
DEFAULT_RINGS = paper.RINGS
#: Residual definitions: fastgrad's default first, then the paper's.
RESIDUAL_SIGNS = ("observed-model", "model-observed")


# --------------------------------------------------------------------------
# input helpers
# --------------------------------------------------------------------------
def _values_and_unit(name, values):
    """``values`` as a float array, and its unit when it came as a Quantity
    (the results carry the same unit back)."""
    if isinstance(values, u.Quantity):
        return as_float_array(name, values, values.unit), values.unit
    return as_float_array(name, values), None


def _with_unit(array, unit):
    return array if unit is None else array * unit


def _require_finite(name, array):
    # masked entries arrive as NaN (as_float_array): a missing value
    raise_bad_rows(
        name,
        ~np.isfinite(array),
        "are NaN, infinite or masked",
        "select the stars with finite values first",
    )


def _require_nonempty(n, what):
    if n == 0:
        raise ValueError(f"empty selection: {what} has no stars")


def _half_width(half_width):
    """h in kpc: a number (kpc) or a length Quantity, finite and > 0."""
    return as_scalar("half_width", half_width, u.kpc, exclusive_minimum=0.0)


def _min_count(min_count, name="min_count"):
    # an int: 10.7 (or even 10.0) is an error, never truncated
    return as_count(name, min_count, minimum=1)


# --------------------------------------------------------------------------
# annulus means
# --------------------------------------------------------------------------
def annulus_mean(
    R: npt.ArrayLike,
    values: npt.ArrayLike,
    half_width: float | u.Quantity = DEFAULT_HALF_WIDTH,
    *,
    weights: npt.ArrayLike | None = None,
    n_threads: int | None = None,
) -> np.ndarray:
    """Mean of ``values`` over the stars at the same radius, for every star.

    For star i, the (weighted) mean of ``values[j]`` over all stars j with
    ``abs(R[j] - R[i]) <= half_width``, star i included.

    The membership predicate is evaluated exactly as written, in IEEE double
    precision: one rounded subtraction ``R[j] - R[i]``, its absolute value,
    then ``<=``.  It is symmetric (j is in i's annulus iff i is in j's); it
    can differ from ``R[j] <= R[i] + half_width`` by one rounding when a
    difference falls within an ulp of ``half_width``.  Stars with equal R have
    identical annuli, hence identical means.

    Parameters
    ----------
    R : array_like or Quantity, shape (N,)
        Galactocentric cylindrical radius, kpc (any finite values work: only
        differences matter).
    values : array_like or Quantity, shape (N,)
        The quantity to average, e.g. [Fe/H] in dex.  A Quantity gives a
        Quantity in the same unit.
    half_width : float or Quantity, default 0.1
        h, kpc (a Quantity in any length unit is converted: ``100 * u.pc``
        is 0.1), finite and > 0: the annulus is the band R_i - h ... R_i + h
        (0.2 kpc wide by default, docs/method.md section 6).
    weights : array_like, shape (N,), optional
        Non-negative weights (e.g. inverse variances).  The mean is
        sum(w v) / sum(w) over the annulus; an annulus whose weights are all
        zero gives NaN.
    n_threads : int, optional
        OpenMP threads (see :func:`fastgrad.effective_n_threads`).  Inputs of
        fewer than 30,000 stars run on one thread.  The result does not depend
        on the number of threads (bit for bit).

    Returns
    -------
    ndarray or Quantity, shape (N,)
        The annulus means, in the order of the input.

    Raises
    ------
    ValueError
        On mismatched lengths, an empty input, NaN, infinite or masked R,
        values or weights, negative weights, or ``half_width`` not finite
        and > 0 (a ``UnitConversionError``, also a ValueError, when its unit
        is not a length).  Every message names the argument.
    TypeError
        Booleans, complex numbers or dates as R, values or weights;
        ``half_width`` not a number.

    Notes
    -----
    O(N log N): stable radix argsort of R, prefix sums of the values in
    sorted order, and for each star the window of sorted stars that satisfy
    the predicate (binary search at the start of each block of 4096 sorted
    stars, then two pointers).  Prefix sums are compensated (each block's
    running sum carries the exact rounding errors of its additions, block
    offsets are double-double), so a window sum is the correctly rounded sum
    to ~1e-25 of the sum of |values|: the means agree with a brute-force
    O(N^2) mean to a few units in the last place, whatever N.  Weighted
    terms are the rounded products ``w * v``, as a brute-force sum would form
    them.  At most 2**32 - 1 stars per call.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.azimuthal import annulus_mean
    >>> R = np.array([8.0, 8.05, 8.12, 9.0])  # kpc
    >>> feh = np.array([0.1, 0.0, -0.1, -0.3])  # dex
    >>> annulus_mean(R, feh, half_width=0.1)  # star 0 averages stars 0 and 1
    array([ 0.05,  0.  , -0.05, -0.3 ])
    """
    R_arr = as_float_array("R", R, u.kpc)
    v, unit = _values_and_unit("values", values)
    w = None if weights is None else as_float_array("weights", weights)
    n = check_lengths(R=R_arr, values=v, weights=w)
    _require_nonempty(n, "R")
    h = _half_width(half_width)
    _require_finite("R", R_arr)
    _require_finite("values", v)
    if w is not None:
        _require_finite("weights", w)
        raise_bad_rows("weights", w < 0.0, "are negative")
    n_threads = effective_n_threads(n_threads)  # validated whatever n
    n_threads = threads_for("annulus", n, n_threads)
    out = np.empty(n, dtype=np.float64)
    _core.annulus_mean(R_arr, v, np.empty(0) if w is None else w, h, out, n_threads)
    return _with_unit(out, unit)


def azimuthal_deviation(
    R: npt.ArrayLike,
    values: npt.ArrayLike,
    half_width: float | u.Quantity = DEFAULT_HALF_WIDTH,
    *,
    weights: npt.ArrayLike | None = None,
    n_threads: int | None = None,
) -> np.ndarray:
    """Deviation of each star from the mean of its annulus.

    ``delta_i = values_i - annulus_mean(R, values, half_width)_i``: the
    paper's "average metallicity deviation at fixed radius" per star
    (Hawkins 2023, section 4.2; docs/method.md section 6).  Parameters, units and
    errors as :func:`annulus_mean`.

    Returns
    -------
    ndarray or Quantity, shape (N,)
        delta, in the unit of ``values`` (dex for [Fe/H]).

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.azimuthal import azimuthal_deviation
    >>> rng = np.random.default_rng(1)
    >>> R = rng.uniform(7.0, 11.0, 5000)  # kpc
    >>> feh = -0.06 * (R - 8.0) + rng.normal(0.0, 0.1, R.size)  # a pure radial gradient
    >>> delta = azimuthal_deviation(R, feh)
    >>> print(f"mean {delta.mean():+.4f} dex, std {delta.std():.3f} dex")
    mean +0.0001 dex, std 0.100 dex
    """
    mean = annulus_mean(R, values, half_width, weights=weights, n_threads=n_threads)
    v, unit = _values_and_unit("values", values)
    if unit is not None:
        return (v - mean.to_value(unit)) * unit
    return v - mean


# --------------------------------------------------------------------------
# azimuth profiles
# --------------------------------------------------------------------------
def phi_edges(bins: int | npt.ArrayLike | None) -> np.ndarray:
    """Azimuth bin edges (rad) from ``bins``: None (2-degree bins over
    [-pi, pi]), an int count of equal bins, or increasing edges (a Quantity
    in any angle unit).

    Examples
    --------
    >>> from fastgrad.azimuthal import phi_edges
    >>> len(phi_edges(None)) - 1  # 2-degree bins
    180
    >>> phi_edges(4)
    array([-3.141593, -1.570796,  0.      ,  1.570796,  3.141593])
    """
    if bins is None:
        n_bins = int(round(2.0 * np.pi / DEFAULT_PHI_BIN_WIDTH))
        return np.linspace(-np.pi, np.pi, n_bins + 1)
    if np.ndim(bins) == 0:  # a count of bins: an int (10.0 is not one)
        return np.linspace(-np.pi, np.pi, as_count("bins", bins) + 1)
    edges = as_float_array("bins", bins, u.rad)
    if edges.size < 2 or not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
        raise ValueError(
            "bins: expected an int or at least two finite, strictly increasing bin edges (rad)"
        )
    return edges


def azimuthal_profile(
    phi: npt.ArrayLike,
    delta: npt.ArrayLike,
    *,
    bins: int | npt.ArrayLike | None = None,
    min_count: int = DEFAULT_PROFILE_MIN_COUNT,
) -> Table:
    """Mean deviation and its standard error in bins of azimuth.

    Parameters
    ----------
    phi : array_like or Quantity, shape (N,)
        Galactocentric azimuth, rad (``atan2(y, -x)``: 0 at the Sun, growing
        with rotation).  Quantities in other angle units are converted.
    delta : array_like or Quantity, shape (N,)
        Per-star deviation, e.g. from :func:`azimuthal_deviation` (dex).
    bins : int or array_like, optional
        Default: 2-degree bins over [-pi, pi] (180 bins).  An int >= 1 (a
        float, even 10.0, is a TypeError): that many equal bins over
        [-pi, pi].  An array: bin edges, rad.  Bins are
        half-open [lo, hi) except the last, which includes its upper edge (as
        ``numpy.histogram``); stars outside the edges are not counted.
    min_count : int, default 20
        Bins with fewer stars keep their row, with ``mean`` and ``sem``
        masked.  An int >= 1 (a float is a TypeError, never truncated).

    Returns
    -------
    astropy.table.Table
        One row per bin: ``phi_lo``, ``phi_hi``, ``phi_center`` (rad), ``n``,
        ``mean`` and ``sem`` (unit of delta).  ``sem = std / sqrt(n)`` with
        the ``ddof=1`` standard deviation.  ``meta`` holds ``min_count`` and
        the definitions.

    Raises
    ------
    ValueError
        On mismatched lengths, empty input, NaN or infinite values, bad bins
        or ``min_count < 1``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.azimuthal import azimuthal_profile
    >>> rng = np.random.default_rng(2)
    >>> phi = rng.uniform(-0.5, 0.5, 4000)  # rad
    >>> delta = 0.05 * np.sin(2 * np.pi * phi) + rng.normal(0.0, 0.1, phi.size)  # dex
    >>> prof = azimuthal_profile(phi, delta, bins=np.linspace(-0.5, 0.5, 5))
    >>> for row in prof:  # a sine of amplitude 0.05 dex: bin means -0.032, -0.032, +0.032, +0.032
    ...     print(f"{row['phi_center']:+.3f} rad {row['n']:5d} {row['mean']:+.4f} +- {row['sem']:.4f} dex")
    -0.375 rad  1041 -0.0272 +- 0.0030 dex
    -0.125 rad   978 -0.0320 +- 0.0033 dex
    +0.125 rad   960 +0.0400 +- 0.0033 dex
    +0.375 rad  1021 +0.0365 +- 0.0031 dex
    """
    phi_arr = as_float_array("phi", phi, u.rad)
    d, unit = _values_and_unit("delta", delta)
    n = check_lengths(phi=phi_arr, delta=d)
    _require_nonempty(n, "phi")
    _require_finite("phi", phi_arr)
    _require_finite("delta", d)
    return _profile_table(phi_arr, d, unit, phi_edges(bins), _min_count(min_count))


def phi_labels(phi: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Azimuth bin of each star for ``edges`` (rad; half-open bins, the last
    closed, as :func:`azimuthal_profile`), -1 outside: int16 when the bins
    fit (2 bytes a star for a partitioned catalogue), else int32.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.azimuthal import phi_labels
    >>> phi_labels(np.array([-0.2, 0.0, 0.3, 0.5, 0.7]), np.array([-0.5, 0.0, 0.5]))
    array([ 0,  1,  1,  1, -1], dtype=int16)
    """
    phi = np.asarray(phi, dtype=np.float64)
    n_bins = edges.size - 1
    idx = np.searchsorted(edges, phi, side="right") - 1
    idx[phi == edges[-1]] = n_bins - 1  # the last bin is closed
    idx[(idx < 0) | (idx >= n_bins)] = -1
    return idx.astype(np.int16 if n_bins < 2**15 else np.int32)


def profile_from_labels(
    label: npt.ArrayLike,
    delta: npt.ArrayLike,
    edges: npt.ArrayLike,
    *,
    min_count: int = DEFAULT_PROFILE_MIN_COUNT,
    unit: u.UnitBase | None = None,
) -> Table:
    """:func:`azimuthal_profile` from each star's bin (:func:`phi_labels`, -1:
    outside) instead of its azimuth: the same table, bit for bit, when the
    stars come in the same order.  ``delta`` finite (dex, or ``unit``);
    ``edges`` the bins' edges (rad).

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.azimuthal import azimuthal_profile, phi_labels, profile_from_labels
    >>> rng = np.random.default_rng(2)
    >>> phi, delta = rng.uniform(-0.5, 0.5, 400), rng.normal(0.0, 0.1, 400)  # rad, dex
    >>> edges = np.linspace(-0.5, 0.5, 5)
    >>> prof = profile_from_labels(phi_labels(phi, edges), delta, edges, min_count=5)
    >>> ref = azimuthal_profile(phi, delta, bins=edges, min_count=5)
    >>> all(np.array_equal(prof[c], ref[c]) for c in ref.colnames)
    True
    """
    label = np.asarray(label)
    d = np.asarray(delta, dtype=np.float64)
    edges = np.asarray(edges, dtype=np.float64)
    return _labelled_profile(label, d, unit, edges, _min_count(min_count))


def _profile_table(phi, d, unit, edges, min_count):
    """The profile of validated arrays (possibly empty: all bins masked)."""
    return _labelled_profile(phi_labels(phi, edges), d, unit, edges, min_count)


def _labelled_profile(label, d, unit, edges, min_count):
    n = label.size
    n_bins = edges.size - 1
    inside = label >= 0
    idx, d_in = label[inside].astype(np.intp), d[inside]
    count = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(idx, weights=d_in, minlength=n_bins) / count
        # second pass about the bin means: no cancellation of large sums
        ss = np.bincount(idx, weights=(d_in - mean[idx]) ** 2, minlength=n_bins)
        sem = np.sqrt(ss / (count - 1)) / np.sqrt(count)
    masked = count < min_count
    sem_masked = masked | (count < 2)

    table = Table()
    table["phi_lo"] = edges[:-1] * u.rad
    table["phi_hi"] = edges[1:] * u.rad
    table["phi_center"] = 0.5 * (edges[:-1] + edges[1:]) * u.rad
    table["n"] = count.astype(np.int64)
    table["mean"] = MaskedColumn(
        np.where(masked, np.nan, mean),
        mask=masked,
        unit=unit,
        description="mean of delta in the bin",
    )
    table["sem"] = MaskedColumn(
        np.where(sem_masked, np.nan, sem),
        mask=sem_masked,
        unit=unit,
        description="standard error std(ddof=1)/sqrt(n)",
    )
    table["phi_lo"].description = "lower bin edge: phi = atan2(y, -x), 0 at the Sun"
    table["n"].description = "stars in the bin"
    table.meta.update(
        {
            "min_count": min_count,
            "n_stars": int(n),
            "n_outside_bins": int(n - inside.sum()),
            "sem": "std(ddof=1) / sqrt(n)",
            "phi_convention": "atan2(y, -x) in rad: 0 at the Sun, growing with Galactic rotation",
        }
    )
    return table


def azimuthal_profiles(
    R: npt.ArrayLike,
    phi: npt.ArrayLike,
    delta: npt.ArrayLike,
    rings: Sequence[tuple[float, float]] = DEFAULT_RINGS,
    *,
    bins: int | npt.ArrayLike | None = None,
    min_count: int = DEFAULT_PROFILE_MIN_COUNT,
) -> dict[tuple[float, float], Table]:
    """:func:`azimuthal_profile` in rings of radius (the paper's Fig. 6).

    Parameters
    ----------
    R : array_like or Quantity, shape (N,)
        Galactocentric radius, kpc.
    phi, delta : array_like, shape (N,)
        Azimuth (rad) and per-star deviation (see :func:`azimuthal_profile`).
    rings : sequence of (R_lo, R_hi), kpc
        Default: the inner (7-9 kpc) and outer (9-11 kpc) disk.  Each ring is
        half-open, R_lo <= R < R_hi; the limits are numbers (kpc) or length
        Quantities, finite, R_lo < R_hi.
    bins, min_count
        As :func:`azimuthal_profile`.

    Returns
    -------
    dict
        ``{(R_lo, R_hi): Table}`` in the order of ``rings``; each table's
        ``meta`` has ``R_lo`` and ``R_hi`` (kpc).  A ring with no stars gives
        a table of empty bins (all masked).

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.azimuthal import azimuthal_profiles
    >>> rng = np.random.default_rng(3)
    >>> R, phi = rng.uniform(7.0, 11.0, 4000), rng.uniform(-0.3, 0.3, 4000)
    >>> delta = rng.normal(0.0, 0.1, R.size)
    >>> profiles = azimuthal_profiles(R, phi, delta, bins=np.linspace(-0.3, 0.3, 7))
    >>> for (lo, hi), table in profiles.items():
    ...     print(f"{lo:g}-{hi:g} kpc: {table.meta['n_stars']} stars, {np.count_nonzero(table['n'])} bins with stars")
    7-9 kpc: 2000 stars, 6 bins with stars
    9-11 kpc: 2000 stars, 6 bins with stars
    """
    R_arr = as_float_array("R", R, u.kpc)
    phi_arr = as_float_array("phi", phi, u.rad)
    d, unit = _values_and_unit("delta", delta)
    n = check_lengths(R=R_arr, phi=phi_arr, delta=d)
    _require_nonempty(n, "R")
    _require_finite("R", R_arr)
    _require_finite("phi", phi_arr)
    _require_finite("delta", d)
    edges = phi_edges(bins)
    min_count = _min_count(min_count)
    rings = _rings(rings)
    profiles = {}
    for lo, hi in rings:
        sel = (R_arr >= lo) & (R_arr < hi)
        table = _profile_table(phi_arr[sel], d[sel], unit, edges, min_count)
        table.meta["R_lo"] = lo
        table.meta["R_hi"] = hi
        profiles[(lo, hi)] = table
    return profiles


def _rings(rings):
    """(R_lo, R_hi) pairs in kpc (numbers or length Quantities), R_lo < R_hi."""
    what = f"rings: expected a sequence of (R_lo, R_hi) pairs in kpc, got {rings!r}"
    try:
        pairs = [tuple(ring) for ring in rings]
    except TypeError:
        raise TypeError(what) from None
    if not pairs or any(len(ring) != 2 for ring in pairs):
        raise ValueError(what)
    out = []
    for i, (lo, hi) in enumerate(pairs):
        lo = as_scalar(f"rings[{i}][0] (R_lo)", lo, u.kpc)
        hi = as_scalar(f"rings[{i}][1] (R_hi)", hi, u.kpc)
        if not lo < hi:
            raise ValueError(f"rings[{i}]: expected R_lo < R_hi, got ({lo}, {hi})")
        out.append((lo, hi))
    return out


# --------------------------------------------------------------------------
# X-Y maps
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class ResidualMap:
    """Median-binned X-Y maps on a regular rectangular grid.

    Arrays are indexed ``[iy, ix]``, so ``ax.pcolormesh(m.x_edges, m.y_edges,
    m.residual)`` and ``ax.imshow(m.residual, origin="lower",
    extent=m.extent)`` draw them.  Cells with fewer than ``min_count`` stars
    are masked.

    Attributes
    ----------
    x_edges, y_edges : ndarray
        Cell edges, kpc.
    count : ndarray of int, (ny, nx)
        Stars per cell.
    observed, predicted : numpy.ma.MaskedArray, (ny, nx)
        Median observed and model values per cell.
    residual : numpy.ma.MaskedArray, (ny, nx)
        Median of the per-star residuals per cell (not the difference of the
        two medians), ``observed - predicted`` or the reverse (``sign``).
    sign : str
        ``"observed-model"`` (fastgrad's default) or ``"model-observed"``
        (the paper's).
    min_count : int
    mean_residual : numpy.ma.MaskedArray, (ny, nx)
        Mean of the per-star residuals per cell: the quantity the per-cell
        significance tests.
    p_value, p_adjusted : numpy.ma.MaskedArray, (ny, nx), or None
        Per cell: the permutation p-value of its mean residual (two-sided;
        residuals permuted among all the stars of the unmasked cells), and
        the same adjusted for testing every cell (Westfall-Young maxT; a cell
        with ``p_adjusted <= significance["alpha"]``, 0.05, is significant at
        that family-wise error rate); docs/method.md section 6.  None unless
        :func:`residual_map` was given ``n_permutations``.
    significance : dict or None
        The map's summary (:func:`fastgrad.significance.cell_significance`):
        cells tested, the fraction with p < 0.05 beside its null expectation
        0.05, the number and fraction significant after adjustment, the
        map-wide p-value, ``n_permutations``, ``min_p_value``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.azimuthal import residual_map
    >>> rng = np.random.default_rng(4)
    >>> x, y = rng.uniform(-10.0, -6.0, 3000), rng.uniform(-2.0, 2.0, 3000)  # kpc
    >>> m = residual_map(x, y, rng.normal(0.0, 0.1, 3000), np.zeros(3000), gridsize=8)
    >>> m
    <ResidualMap 8 x 8 cells over X -10..-6, Y -2..2 kpc; 64 with >= 5 stars; 3,000 stars; sign observed-model>
    >>> m.residual.shape, m.extent == (x.min(), x.max(), y.min(), y.max())
    ((8, 8), True)
    """

    x_edges: np.ndarray
    y_edges: np.ndarray
    count: np.ndarray
    observed: np.ma.MaskedArray
    predicted: np.ma.MaskedArray
    residual: np.ma.MaskedArray
    sign: str
    min_count: int
    mean_residual: np.ma.MaskedArray = None
    p_value: np.ma.MaskedArray = None
    p_adjusted: np.ma.MaskedArray = None
    significance: dict = None

    def __repr__(self):
        # the arrays are thousands of cells: say what the map is, not all of it
        ny, nx = self.count.shape
        drawn = int(np.count_nonzero(~np.ma.getmaskarray(self.residual)))
        sig = ""
        if self.significance:
            s = self.significance
            sig = (
                f", {s.get('n_significant')} cells significant after {s.get('n_permutations')} "
                f"permutations (map-wide p = {s.get('p_value_global')})"
            )
        x0, x1, y0, y1 = self.extent
        return (
            f"<ResidualMap {nx} x {ny} cells over X {x0:.3g}..{x1:.3g}, Y {y0:.3g}..{y1:.3g} "
            f"kpc; {drawn} with >= {self.min_count} stars; {int(self.count.sum()):,} stars; "
            f"sign {self.sign}{sig}>"
        )

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """(x_min, x_max, y_min, y_max), kpc, as ``imshow`` takes it."""
        return (self.x_edges[0], self.x_edges[-1], self.y_edges[0], self.y_edges[-1])

    @property
    def x_centers(self) -> np.ndarray:
        return 0.5 * (self.x_edges[:-1] + self.x_edges[1:])

    @property
    def y_centers(self) -> np.ndarray:
        return 0.5 * (self.y_edges[:-1] + self.y_edges[1:])


def _grid_shape(gridsize, extent):
    x0, x1, y0, y1 = extent
    if np.ndim(gridsize) == 0:
        nx = as_count("gridsize", gridsize)
        # square cells, as hexbin's gridsize sets the count along x
        ny = max(1, int(round(nx * (y1 - y0) / (x1 - x0))))
        return nx, ny
    if np.ndim(gridsize) != 1 or len(gridsize) != 2:
        raise ValueError(f"gridsize must be a positive int or a pair of them, got {gridsize!r}")
    return as_count("gridsize[0] (nx)", gridsize[0]), as_count("gridsize[1] (ny)", gridsize[1])


def residual_sign(sign):
    """Validate a residual sign; returns it."""
    if sign not in RESIDUAL_SIGNS:
        raise ValueError(f"sign must be one of {RESIDUAL_SIGNS}, got {sign!r}")
    return sign


def residuals(observed, predicted, sign="observed-model"):
    """Per-star residual with the given sign convention (see :data:`RESIDUAL_SIGNS`)."""
    residual_sign(sign)
    return observed - predicted if sign == "observed-model" else predicted - observed


def _length(value):
    """len(value), or None for a scalar (a Quantity scalar has __len__ but raises)."""
    try:
        return len(value)
    except TypeError:
        return None


def xy_extent(
    x: np.ndarray, y: np.ndarray, extent: Sequence[float] | None
) -> tuple[float, float, float, float]:
    """The binning limits (x_min, x_max, y_min, y_max) of an X-Y map, kpc.

    ``extent`` None: the data's range (a degenerate one widened to 1 kpc);
    else four numbers or Quantities (converted to kpc), checked.  The seam
    that :func:`residual_map` and :func:`fastgrad.plots.plot_residual_maps`
    share, so that both bin the same region (docs/method.md section 6).

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.azimuthal import xy_extent
    >>> x, y = np.array([-9.0, -7.5, -8.0]), np.array([0.5, 0.5, 0.5])
    >>> xy_extent(x, y, None)  # y is degenerate: widened to 1 kpc
    (-9.0, -7.5, 0.0, 1.0)
    >>> xy_extent(x, y, (-10, -6, -2, 2))
    (-10.0, -6.0, -2.0, 2.0)
    """
    if extent is None:
        x0, x1, y0, y1 = x.min(), x.max(), y.min(), y.max()
        # a degenerate range (one star, or all on a line) gets a unit width
        if x1 <= x0:
            x0, x1 = x0 - 0.5, x0 + 0.5
        if y1 <= y0:
            y0, y1 = y0 - 0.5, y0 + 0.5
        return float(x0), float(x1), float(y0), float(y1)
    if isinstance(extent, str) or _length(extent) != 4:
        raise ValueError(f"extent must be (x_min, x_max, y_min, y_max) in kpc, got {extent!r}")
    names = ("x_min", "x_max", "y_min", "y_max")
    x0, x1, y0, y1 = (as_scalar(f"extent[{j}] ({names[j]})", extent[j], u.kpc) for j in range(4))
    if not (x0 < x1 and y0 < y1):
        raise ValueError(
            f"extent must be finite with x_min < x_max and y_min < y_max, got {extent!r}"
        )
    return x0, x1, y0, y1


def map_inputs(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    observed: npt.ArrayLike,
    predicted: npt.ArrayLike,
    sign: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Checked float arrays ``(x, y, observed, predicted)`` (x, y in kpc) for a
    residual map or its figure: equal lengths, non-empty, finite, and a known
    ``sign`` (:data:`RESIDUAL_SIGNS`); ValueError naming the argument.

    Examples
    --------
    >>> from fastgrad.azimuthal import map_inputs
    >>> x, y, obs, pred = map_inputs([-8.0, -7.0], [0.0, 1.0], [0.1, 0.2], [0.0, 0.0], "observed-model")
    >>> x, obs
    (array([-8., -7.]), array([0.1, 0.2]))
    >>> map_inputs([-8.0, -7.0], [0.0, 1.0], [0.1, float("nan")], [0.0, 0.0], "observed-model")
    Traceback (most recent call last):
      ...
    ValueError: observed: 1 row(s) are NaN, infinite or masked (rows 1); select the stars with finite values first
    """
    x_arr = as_float_array("x", x, u.kpc)
    y_arr = as_float_array("y", y, u.kpc)
    obs, _ = _values_and_unit("observed", observed)
    pred, _ = _values_and_unit("predicted", predicted)
    n = check_lengths(x=x_arr, y=y_arr, observed=obs, predicted=pred)
    _require_nonempty(n, "x")
    for name, arr in (("x", x_arr), ("y", y_arr), ("observed", obs), ("predicted", pred)):
        _require_finite(name, arr)
    residual_sign(sign)
    return x_arr, y_arr, obs, pred


def residual_map(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    observed: npt.ArrayLike,
    predicted: npt.ArrayLike,
    *,
    gridsize: int | tuple[int, int] = 50,
    extent: Sequence[float] | None = None,
    min_count: int = DEFAULT_MAP_MIN_COUNT,
    sign: str = "observed-model",
    n_permutations: int | None = None,
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
    n_threads: int | None = None,
) -> ResidualMap:
    """Median observed, model and residual values on a regular X-Y grid.

    The arrays behind the paper's Figs. 5 and 8 (which draw them as hexbins:
    :func:`fastgrad.plots.plot_residual_maps` does either).

    Parameters
    ----------
    x, y : array_like or Quantity, shape (N,)
        Galactocentric X and Y, kpc (the Sun at x = -R0).
    observed, predicted : array_like, shape (N,)
        Observed and model values per star, e.g. [Fe/H] and the radial fit
        evaluated at the star's R (dex).
    gridsize : int or (int, int), default 50
        Cells along x (then y gets square cells), or (nx, ny); ints >= 1 (a
        float is a TypeError).
    extent : (x_min, x_max, y_min, y_max), optional
        Grid limits, kpc (numbers, or length Quantities); default the data's
        range.  Stars outside are not
        binned; the upper edges are included.
    min_count : int, default 5
        Cells with fewer stars are masked (docs/method.md section 6); an int >= 1.
    sign : {"observed-model", "model-observed"}
        Residual convention.  fastgrad's default: observed - model (positive
        = more metal-rich than the gradient predicts).  The paper (Figs. 5, 8)
        uses model - observed.
    n_permutations : int, optional
        Test each unmasked cell's mean residual against the residuals
        permuted among all the stars of the unmasked cells, with this many
        permutations (1000 resolves p = 1e-3; ~4 ns a star a permutation on
        one core, OpenMP over permutations).  Default: no test.
    seed : None, int, SeedSequence or Generator
        The permutations' stream: a seed gives the same p-values whatever
        ``n_threads``.
    n_threads : int, optional
        OpenMP threads of the permutations.

    Returns
    -------
    ResidualMap
        The residual map is the median of the per-star residuals in each
        cell; with ``n_permutations``, ``p_value``, ``p_adjusted`` and
        ``significance`` hold the per-cell test (docs/method.md section 6).

    Raises
    ------
    ValueError
        On mismatched lengths, empty input, NaN or infinite values, an
        unknown ``sign``, bad ``gridsize``/``extent`` or ``min_count < 1``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.azimuthal import residual_map
    >>> rng = np.random.default_rng(5)
    >>> x, y = rng.uniform(-10.0, -6.0, 4000), rng.uniform(-2.0, 2.0, 4000)  # kpc
    >>> predicted = -0.06 * (np.hypot(x, y) - 8.0)  # dex
    >>> observed = predicted + 0.1 * (y > 0) + rng.normal(0.0, 0.05, x.size)  # metal-rich at y > 0
    >>> m = residual_map(x, y, observed, predicted, gridsize=4, n_permutations=200, seed=1)
    >>> [f"{v:+.3f}" for v in m.residual.mean(axis=1)]  # by row of y: +0.1 dex at y > 0
    ['-0.000', '+0.002', '+0.100', '+0.099']
    >>> print(f"{m.significance['n_significant']} of {m.significance['n_cells']} cells significant")  # each half is 0.05 dex off the mean
    16 of 16 cells significant
    """
    x_arr, y_arr, obs, pred = map_inputs(x, y, observed, predicted, sign)
    min_count = _min_count(min_count)
    x_edges, y_edges = map_edges(xy_extent(x_arr, y_arr, extent), gridsize)
    return residual_map_from_cells(
        map_cells(x_arr, y_arr, x_edges, y_edges),
        obs,
        pred,
        x_edges,
        y_edges,
        min_count=min_count,
        sign=sign,
        n_permutations=n_permutations,
        seed=seed,
        n_threads=n_threads,
    )


def map_edges(
    extent: Sequence[float], gridsize: int | tuple[int, int] = 50
) -> tuple[np.ndarray, np.ndarray]:
    """Cell edges ``(x_edges, y_edges)`` (kpc) of a residual map's grid over
    ``extent`` (:func:`xy_extent`'s, kpc) with ``gridsize`` cells along x
    (square cells) or ``(nx, ny)``: the grid of :func:`residual_map`.

    Examples
    --------
    >>> from fastgrad.azimuthal import map_edges
    >>> x_edges, y_edges = map_edges((-10.0, -6.0, -1.0, 1.0), gridsize=4)
    >>> x_edges, y_edges  # square 1-kpc cells: 4 along x, 2 along y
    (array([-10.,  -9.,  -8.,  -7.,  -6.]), array([-1.,  0.,  1.]))
    """
    nx, ny = _grid_shape(gridsize, extent)
    return (
        np.linspace(extent[0], extent[1], nx + 1),
        np.linspace(extent[2], extent[3], ny + 1),
    )


def map_cells(x: np.ndarray, y: np.ndarray, x_edges: np.ndarray, y_edges: np.ndarray) -> np.ndarray:
    """Flat cell index ``iy * nx + ix`` of each star on the grid of
    :func:`map_edges` (x, y in kpc; cells half-open, the upper edges
    included), -1 for a star outside: int32 (a map of up to 2**31 cells), so
    that a partitioned catalogue can ship 4 bytes a star to the map
    (:mod:`fastgrad.pipeline.partitioned_analysis`).

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.azimuthal import map_cells, map_edges
    >>> x_edges, y_edges = map_edges((-10.0, -6.0, -1.0, 1.0), gridsize=4)
    >>> map_cells(np.array([-9.5, -6.0, -6.5, -11.0]), np.array([-0.5, 1.0, 0.5, 0.0]), x_edges, y_edges)
    array([ 0,  7,  7, -1], dtype=int32)
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    nx, ny = x_edges.size - 1, y_edges.size - 1
    ix = np.searchsorted(x_edges, x, side="right") - 1
    iy = np.searchsorted(y_edges, y, side="right") - 1
    ix[x == x_edges[-1]] = nx - 1
    iy[y == y_edges[-1]] = ny - 1
    inside = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
    return np.where(inside, iy * nx + ix, -1).astype(np.int32)


def residual_map_from_cells(
    cell: npt.ArrayLike,
    observed: np.ndarray,
    predicted: np.ndarray,
    x_edges: np.ndarray,
    y_edges: np.ndarray,
    *,
    min_count: int = DEFAULT_MAP_MIN_COUNT,
    sign: str = "observed-model",
    n_permutations: int | None = None,
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
    n_threads: int | None = None,
) -> ResidualMap:
    """:func:`residual_map` from each star's cell (:func:`map_cells`, -1:
    outside) instead of its X, Y: the same medians, means and permutation
    test, bit for bit, when the stars come in the same order (the
    permutations follow the order of the stars).  The seam that lets a
    partitioned catalogue send 4 bytes a star for the position
    (:mod:`fastgrad.pipeline.partitioned_analysis`).

    ``observed`` and ``predicted`` are finite float arrays (dex), one value
    a star; the other arguments as :func:`residual_map`.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.azimuthal import map_cells, map_edges, residual_map, residual_map_from_cells
    >>> rng = np.random.default_rng(5)
    >>> x, y = rng.uniform(-10.0, -6.0, 2000), rng.uniform(-2.0, 2.0, 2000)  # kpc
    >>> obs, pred = rng.normal(0.0, 0.1, 2000), np.zeros(2000)  # dex
    >>> x_edges, y_edges = map_edges((-10.0, -6.0, -2.0, 2.0), gridsize=4)
    >>> m = residual_map_from_cells(map_cells(x, y, x_edges, y_edges), obs, pred, x_edges, y_edges)
    >>> ref = residual_map(x, y, obs, pred, gridsize=4, extent=(-10.0, -6.0, -2.0, 2.0))
    >>> np.array_equal(m.residual, ref.residual) and np.array_equal(m.count, ref.count)
    True
    """
    min_count = _min_count(min_count)
    residual_sign(sign)
    cell = np.asarray(cell)
    nx, ny = x_edges.size - 1, y_edges.size - 1
    inside = cell >= 0
    cell = cell[inside].astype(np.intp)
    n_cells = nx * ny
    obs_in, pred_in = observed[inside], predicted[inside]
    res_in = residuals(obs_in, pred_in, sign)
    maps = {}
    for key, vals in (("observed", obs_in), ("predicted", pred_in), ("residual", res_in)):
        med, count = binned_medians(cell, vals, n_cells, n_threads)
        maps[key] = med.reshape(ny, nx)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (np.bincount(cell, weights=res_in, minlength=n_cells) / count).reshape(ny, nx)
    count = count.reshape(ny, nx)
    mask = count < min_count
    tests = {}
    if n_permutations is not None:
        # significance imports this module: imported here, when asked for
        from .significance import cell_significance

        p, p_adj, summary = cell_significance(
            cell,
            res_in,
            n_cells,
            min_count=min_count,
            n_permutations=n_permutations,
            seed=seed,
            n_threads=n_threads,
        )
        tests = dict(
            p_value=np.ma.masked_array(p.reshape(ny, nx), mask=mask),
            p_adjusted=np.ma.masked_array(p_adj.reshape(ny, nx), mask=mask),
            significance=summary,
        )
    return ResidualMap(
        x_edges=x_edges,
        y_edges=y_edges,
        count=count,
        observed=np.ma.masked_array(maps["observed"], mask=mask),
        predicted=np.ma.masked_array(maps["predicted"], mask=mask),
        residual=np.ma.masked_array(maps["residual"], mask=mask),
        sign=sign,
        min_count=min_count,
        mean_residual=np.ma.masked_array(mean, mask=mask),
        **tests,
    )
