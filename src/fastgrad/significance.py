"""Is there azimuthal structure at fixed radius? A permutation test per ring.

The paper reads its azimuthal profiles (Fig. 6) by eye. On a mock without any
azimuthal signal the binned means of the deviations still scatter by a few
0.01 dex, so a profile needs a significance before it is read as structure.

The test (docs/method.md section 6): within one ring of radius, the null
hypothesis is that the deviations ``delta`` do not depend on azimuth, i.e.
that the stars' azimuths are exchangeable. The statistic is the between-bin
sum of squares of the profile,

    T = sum_b n_b (mean_b - mean)^2

over the azimuth bins with at least ``min_count`` stars (the chi-square of the
bin means with their errors, up to the ring's variance ``s^2``, which a
permutation leaves unchanged). Its null distribution comes from permuting the
deviations among those stars, so no Gaussian or independence-of-errors
assumption enters; the p-value is ``(1 + #{T_perm >= T}) / (1 + K)``. The
asymptotic chi-square p-value (``T / s^2`` with ``n_bins - 1`` degrees of
freedom) is reported beside it as a check.

The residual maps get the same machinery per cell (:func:`cell_significance`,
used by :func:`fastgrad.residual_map`): the residuals permuted among all the
map's stars, each cell's mean against its permutation distribution (raw
p-values), the same adjusted for testing every cell (Westfall & Young's
maxT: family-wise error rate), and the map-wide between-cell test.

The permutations run in a compiled kernel (``_permutation.pxi``): a
Fisher-Yates shuffle of the bin labels per permutation, from a counter-based
stream keyed by (seed, k), OpenMP over permutations; the numbers are the same
for any thread count.  1000 permutations of 1e6 stars take a few seconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import astropy.units as u
import numpy as np

from . import paper
from ._kernels import core as _core
from ._seeds import seed64
from ._threads import threads_for
from ._validation import as_count, as_float_array, as_scalar, check_lengths, raise_bad_rows

if TYPE_CHECKING:
    from typing import Any

    import numpy.typing as npt


__all__ = [
    "azimuthal_significance",
    "ring_significance",
    "cell_significance",
    "permutation_test",
    "DEFAULT_N_PERMUTATIONS",
    "SIGNIFICANCE_LEVEL",
    "MAP_FWER_LEVEL",
]

#: permutations per ring (fastgrad's choice): p-values down to 1e-3
DEFAULT_N_PERMUTATIONS = 1000
#: the p-value below which the report calls a ring's structure significant
SIGNIFICANCE_LEVEL = 0.01
#: the family-wise error rate at which map cells are called significant
#: (Westfall-Young maxT adjusted p-values; fastgrad's choice, docs/method.md
#: section 6)
MAP_FWER_LEVEL = 0.05
#: a permutation equal to the observation up to rounding counts as reaching
#: it (the conservative side): the observed statistic is lowered by this
#: relative amount before the comparison
_TIE_RTOL = 1e-12


def permutation_test(
    labels: npt.ArrayLike,
    values: npt.ArrayLike,
    n_bins: int,
    *,
    n_permutations: int = DEFAULT_N_PERMUTATIONS,
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
    per_bin: bool = False,
    n_threads: int | None = None,
) -> dict[str, Any]:
    """Permutation test of "the values do not depend on the bin".

    The values are permuted among the stars (equivalently, the labels), the
    bins keeping their counts.  Statistic: the between-bin sum of squares
    ``T = sum_b n_b (mean_b - mean)^2``; per bin (``per_bin``), the two-sided
    distance ``|mean_b - mean|`` of its mean from the overall mean.

    Parameters
    ----------
    labels : array_like of int, shape (N,)
        Bin of each star, in [0, n_bins); every bin must hold a star.
    values : array_like, shape (N,)
        Finite values (deviations, residuals; dex).
    n_bins : int
    n_permutations : int, >= 1
    seed : None, int in [0, 2**64), SeedSequence or Generator
        Permutation k is a function of (seed, k) only: the same seed gives
        the same numbers whatever ``n_threads``.  Above 2**21 stars the
        shuffle is cache-blocked (docs/method.md section 6): exactly
        uniform too, with other draws.
    per_bin : bool
        Also test each bin's mean: count the permutations whose bin mean is
        at least as far from the overall mean as the observed one, and the
        permutations whose largest standardised distance over all bins,
        ``max_b |mean_b - mean| / sd_b``, reaches the bin's observed one
        (Westfall & Young 1993 single-step maxT; ``sd_b`` the exact
        permutation standard deviation of a mean of n_b of the N values,
        ``s sqrt((N - n_b) / (n_b (N - 1)))`` with s^2 the variance, ddof=0).
    n_threads : int, optional
        OpenMP threads over permutations (:func:`fastgrad.effective_n_threads`).

    Returns
    -------
    dict
        ``statistic`` (T), ``permuted`` (the K permuted T, in permutation
        order), ``p_value`` = (1 + #{T_k >= T}) / (1 + K); with ``per_bin``,
        ``bin_p_value`` (n_bins,) = (1 + #{|mean_b^k - mean| >= |mean_b -
        mean|}) / (1 + K), the raw p-value of each bin, and
        ``bin_p_value_fwer`` (n_bins,) = (1 + #{max_z_k >= z_b}) / (1 + K),
        adjusted for testing all the bins (family-wise error rate).  The
        values are centred on their mean first (no cancellation in T; the
        statistics do not change).

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.significance import permutation_test
    >>> rng = np.random.default_rng(1)
    >>> labels = rng.integers(0, 4, 2000)  # four bins
    >>> values = rng.normal(0.0, 0.1, 2000) + 0.02 * (labels == 3)  # bin 3 is 0.02 dex richer
    >>> res = permutation_test(labels, values, 4, n_permutations=999, seed=1, per_bin=True)
    >>> print(f"p = {res['p_value']:.3f}")
    p = 0.001
    >>> print(f"bin 3: p = {res['bin_p_value_fwer'][3]:.3f} (adjusted for testing 4 bins)")
    bin 3: p = 0.001 (adjusted for testing 4 bins)
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise TypeError("labels: expected a 1-d array of ints")
    values = as_float_array("values", values)
    n = check_lengths(labels=labels, values=values)
    n_bins = as_count("n_bins", n_bins, minimum=1)
    raise_bad_rows("values", ~np.isfinite(values), "are NaN or infinite")
    raise_bad_rows("labels", (labels < 0) | (labels >= n_bins), f"are outside [0, {n_bins})")
    K = as_count("n_permutations", n_permutations, minimum=1)
    counts = np.bincount(labels, minlength=n_bins).astype(np.float64)
    if np.any(counts == 0):
        raise ValueError(f"labels: bins {np.flatnonzero(counts == 0)[:10].tolist()} hold no star")
    key = seed64(seed)
    d = values - np.mean(values)
    # 2-byte labels when they fit: the shuffle's working set halves
    lab = labels.astype(np.uint16 if n_bins <= 65536 else np.uint32)
    sums = np.bincount(lab, weights=d, minlength=n_bins)
    total = np.sum(d)
    mu = total / n
    observed = float(np.sum(sums * sums / counts) - total * total / n)
    permuted = np.empty(K)
    exceed = np.zeros(n_bins if per_bin else 0, dtype=np.int64)
    max_z = np.empty(K if per_bin else 0)
    dev = np.abs(sums / counts - mu)
    # the permutation variance of a mean of n_b values drawn without
    # replacement from the N (finite-population correction)
    var = np.mean((d - mu) ** 2) / counts * (n - counts) / max(n - 1, 1)
    inv_sd = np.divide(1.0, np.sqrt(var), out=np.zeros(n_bins), where=var > 0)
    thresholds = dev * (1 - _TIE_RTOL) if per_bin else np.empty(0)
    _core.permutation_test(
        lab,
        d,
        counts,
        total,
        np.uint64(key),
        permuted,
        thresholds,
        inv_sd if per_bin else np.empty(0),
        exceed,
        max_z,
        threads_for("permutation", n * K, n_threads),
    )
    out = {
        "statistic": observed,
        "permuted": permuted,
        "n_permutations": K,
        "p_value": float((1 + np.sum(permuted >= observed * (1 - _TIE_RTOL))) / (1 + K)),
    }
    if per_bin:
        out["bin_p_value"] = (1 + exceed) / (1 + K)
        z = np.sort(max_z)
        reached = K - np.searchsorted(z, dev * inv_sd * (1 - _TIE_RTOL), side="left")
        out["bin_p_value_fwer"] = (1 + reached) / (1 + K)
    return out


def _rows_in_bins(edges, x):
    """Bin of each x for ``edges`` (half-open, the last closed), -1 outside."""
    n_bins = edges.size - 1
    label = np.searchsorted(edges, x, side="right") - 1
    label[x == edges[-1]] = n_bins - 1  # the last bin is closed, as in the profile
    label[(label < 0) | (label >= n_bins)] = -1
    return label


def azimuthal_significance(
    R: npt.ArrayLike,
    phi: npt.ArrayLike,
    delta: npt.ArrayLike,
    ring: tuple[float, float] = paper.RINGS[0],
    *,
    bins: int | npt.ArrayLike | None = None,
    min_count: int = paper.PROFILE_MIN_COUNT,
    n_permutations: int = DEFAULT_N_PERMUTATIONS,
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
    n_threads: int | None = None,
) -> dict[str, Any]:
    """Permutation test of "no azimuthal structure" in one ring of radius.

    Parameters
    ----------
    R, phi, delta : array_like or Quantity, shape (N,)
        Galactocentric radius (kpc), azimuth (rad, ``atan2(y, -x)``) and the
        per-star deviation at fixed radius (:func:`fastgrad.azimuthal_deviation`,
        dex). NaN or infinite values are refused.
    ring : (R_lo, R_hi), kpc
        The ring, half-open [R_lo, R_hi). Default: 7-9 kpc (the paper's inner disk).
    bins : None, int or array_like
        Azimuth bins as in :func:`fastgrad.azimuthal_profile` (default 2 degrees).
    min_count : int
        Bins with fewer stars are left out (as the profile masks them).
    n_permutations : int
        Permutations of the deviations among the ring's stars (>= 1). Each
        costs one pass over the ring's stars (~4 ns a star on one core).
    seed : None, int, SeedSequence or Generator
        The permutations' random stream: a seed gives the same p-value,
        whatever ``n_threads``.
    n_threads : int, optional
        OpenMP threads over permutations (:func:`fastgrad.effective_n_threads`).

    Returns
    -------
    dict
        ``R_lo``, ``R_hi`` (kpc); ``n_stars`` and ``n_bins`` used;
        ``statistic`` (T, dex^2); ``chi2`` (T / s^2) and ``dof`` (n_bins - 1);
        ``p_value`` (permutation) and ``p_value_chi2`` (asymptotic);
        ``n_permutations``; ``significant`` (``p_value < SIGNIFICANCE_LEVEL``).
        With fewer than two usable bins the p-values are NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.significance import azimuthal_significance
    >>> rng = np.random.default_rng(2)
    >>> R, phi = rng.uniform(7.0, 9.0, 3000), rng.uniform(-0.4, 0.4, 3000)  # kpc, rad
    >>> edges = np.linspace(-0.4, 0.4, 9)  # 0.1 rad bins
    >>> flat = rng.normal(0.0, 0.1, R.size)  # no azimuthal structure
    >>> res = azimuthal_significance(R, phi, flat, ring=(7.0, 9.0), bins=edges, n_permutations=199, seed=1)
    >>> print(f"{res['n_bins']} bins, p = {res['p_value']:.2f}, significant: {res['significant']}")
    8 bins, p = 0.91, significant: False
    >>> wave = flat + 0.03 * np.sin(8 * phi)  # a 0.03 dex wave in azimuth
    >>> res = azimuthal_significance(R, phi, wave, ring=(7.0, 9.0), bins=edges, n_permutations=199, seed=1)
    >>> print(f"p = {res['p_value']:.3f}, significant: {res['significant']}")
    p = 0.005, significant: True
    """
    from .azimuthal import phi_edges  # azimuthal imports this module

    R = as_float_array("R", R, u.kpc)
    phi = as_float_array("phi", phi, u.rad)
    if isinstance(delta, u.Quantity):
        delta = delta.value
    delta = as_float_array("delta", delta)
    check_lengths(R=R, phi=phi, delta=delta)
    for name, arr in (("R", R), ("phi", phi), ("delta", delta)):
        raise_bad_rows(name, ~np.isfinite(arr), "are NaN or infinite")
    lo, hi = (float(v) for v in ring)
    if not hi > lo:
        raise ValueError(f"ring: expected (R_lo, R_hi) with R_hi > R_lo (kpc), got {ring!r}")
    n_permutations = as_count("n_permutations", n_permutations, minimum=1)
    min_count = as_count("min_count", min_count, minimum=1)
    edges = phi_edges(bins)

    sel = (R >= lo) & (R < hi)
    return ring_significance(
        _rows_in_bins(edges, phi[sel]),
        delta[sel],
        edges.size - 1,
        (lo, hi),
        min_count=min_count,
        n_permutations=n_permutations,
        seed=seed,
        n_threads=n_threads,
    )


def ring_significance(
    label: npt.ArrayLike,
    delta: npt.ArrayLike,
    n_bins: int,
    ring: tuple[float, float],
    *,
    min_count: int = paper.PROFILE_MIN_COUNT,
    n_permutations: int = DEFAULT_N_PERMUTATIONS,
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
    n_threads: int | None = None,
) -> dict[str, Any]:
    """:func:`azimuthal_significance` from the ring's stars' azimuth bins.

    ``label`` (ints, -1: outside the bins; :func:`fastgrad.azimuthal.phi_labels`)
    and ``delta`` (finite, dex) of the stars of ``ring`` ((R_lo, R_hi), kpc,
    reported back), ``n_bins`` bins: the same dict, bit for bit, when the
    stars come in the same order (the permutations follow it).  The seam
    that lets a partitioned catalogue send 10 bytes a star of the ring
    (:mod:`fastgrad.pipeline.partitioned_analysis`).

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.azimuthal import phi_labels
    >>> from fastgrad.significance import azimuthal_significance, ring_significance
    >>> rng = np.random.default_rng(2)
    >>> R, phi, delta = rng.uniform(7.0, 9.0, 2000), rng.uniform(-0.4, 0.4, 2000), rng.normal(0.0, 0.1, 2000)
    >>> edges = np.linspace(-0.4, 0.4, 9)
    >>> a = ring_significance(phi_labels(phi, edges), delta, 8, (7.0, 9.0), n_permutations=99, seed=1)
    >>> b = azimuthal_significance(R, phi, delta, (7.0, 9.0), bins=edges, n_permutations=99, seed=1)
    >>> a == b
    True
    """
    lo, hi = (float(v) for v in ring)
    n_bins = as_count("n_bins", n_bins, minimum=1)
    min_count = as_count("min_count", min_count, minimum=1)
    n_permutations = as_count("n_permutations", n_permutations, minimum=1)
    label, d, k = _used_bins(
        np.asarray(label), np.asarray(delta, dtype=np.float64), n_bins, min_count
    )
    out = {
        "R_lo": lo,
        "R_hi": hi,
        "n_stars": int(d.size),
        "n_bins": int(k),
        "n_permutations": n_permutations,
    }
    if k < 2:
        return {
            **out,
            "statistic": np.nan,
            "chi2": np.nan,
            "dof": max(k - 1, 0),
            "p_value": np.nan,
            "p_value_chi2": np.nan,
            "significant": False,
        }
    # permuting the deviations among fixed bins is permuting the azimuths
    test = permutation_test(
        label, d, k, n_permutations=n_permutations, seed=seed, n_threads=n_threads
    )
    observed, p_value = test["statistic"], test["p_value"]
    variance = np.var(d, ddof=1)
    chi2 = observed / variance if variance > 0 else np.nan
    from scipy.stats import chi2 as chi2_dist

    return {
        **out,
        "statistic": float(observed),
        "chi2": float(chi2),
        "dof": int(k - 1),
        "p_value": float(p_value),
        "p_value_chi2": float(chi2_dist.sf(chi2, k - 1)) if np.isfinite(chi2) else np.nan,
        "significant": bool(p_value < SIGNIFICANCE_LEVEL),
    }


def _used_bins(label, values, n_bins, min_count):
    """The stars of the bins with >= min_count stars (label -1: outside),
    their labels renumbered 0..k-1 in bin order, and k."""
    inside = label >= 0
    counts = np.bincount(label[inside], minlength=n_bins)
    used = counts >= min_count
    keep = inside.copy()
    keep[inside] = used[label[inside]]
    new_label = np.cumsum(used) - 1
    return new_label[label[keep]], values[keep], int(used.sum())


def cell_significance(
    cell: npt.ArrayLike,
    values: npt.ArrayLike,
    n_cells: int,
    *,
    min_count: int = 1,
    n_permutations: int = DEFAULT_N_PERMUTATIONS,
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
    alpha: float = MAP_FWER_LEVEL,
    n_threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Per-cell permutation test of the cell means of a map (docs/method.md s. 6).

    The values of the stars in cells with at least ``min_count`` stars are
    permuted among those stars; each cell's mean is compared with its
    permutation distribution (two-sided: distance from the overall mean).

    Parameters
    ----------
    cell : array_like of int, shape (N,)
        Cell index of each star in [0, n_cells); -1: outside the map.
    values : array_like, shape (N,)
        Finite per-star values (residuals, dex).
    n_cells : int
    min_count : int
        Cells with fewer stars are not tested (p-values NaN) and their stars
        take no part in the permutations.
    n_permutations : int, >= 1
        The smallest p-value is 1 / (1 + n_permutations).
    seed, n_threads
        As :func:`permutation_test`.
    alpha : float
        Family-wise error rate at which cells are called significant.

    Returns
    -------
    p_value, p_adjusted : ndarray (n_cells,)
        Raw permutation p-values of the cell means, and the same adjusted for
        testing every cell (Westfall-Young maxT: a cell with ``p_adjusted <=
        alpha`` is significant at family-wise error rate alpha).  NaN for
        untested cells.
    summary : dict
        ``n_cells`` tested, ``n_stars``, ``n_permutations``, ``min_p_value``
        (1 / (1 + K)); ``fraction_p_below_0.05`` beside its null
        expectation ``expected_fraction_p_below_0.05`` (0.05: raw p-values
        are uniform under the null); ``alpha``, ``n_significant`` and
        ``fraction_significant`` (``p_adjusted <= alpha``: none, with
        probability >= 1 - alpha, under the null); ``p_value_global``, the
        map-wide permutation test of the between-cell sum of squares.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.significance import cell_significance
    >>> rng = np.random.default_rng(3)
    >>> cell = rng.integers(0, 25, 5000)  # a 5 x 5 map, flattened
    >>> values = rng.normal(0.0, 0.1, 5000) + 0.05 * (cell == 12)  # one cell 0.05 dex off
    >>> p, p_adj, summary = cell_significance(cell, values, 25, n_permutations=499, seed=1)
    >>> print(f"cell 12: p_adjusted = {p_adj[12]:.3f}; {summary['n_significant']} of {summary['n_cells']} cells significant")
    cell 12: p_adjusted = 0.002; 1 of 25 cells significant
    """
    cell = np.asarray(cell)
    if cell.ndim != 1 or not np.issubdtype(cell.dtype, np.integer):
        raise TypeError("cell: expected a 1-d array of ints")
    values = as_float_array("values", values)
    check_lengths(cell=cell, values=values)
    n_cells = as_count("n_cells", n_cells, minimum=1)
    raise_bad_rows("cell", (cell < -1) | (cell >= n_cells), f"are outside [-1, {n_cells})")
    min_count = as_count("min_count", min_count, minimum=1)
    K = as_count("n_permutations", n_permutations, minimum=1)
    alpha = as_scalar("alpha", alpha, exclusive_minimum=0.0)
    label, v, k = _used_bins(cell, values, n_cells, min_count)
    counts = np.bincount(cell[cell >= 0], minlength=n_cells)
    tested = np.flatnonzero(counts >= min_count)
    p = np.full(n_cells, np.nan)
    p_adj = np.full(n_cells, np.nan)
    summary = {
        "n_cells": int(k),
        "n_stars": int(v.size),
        "n_permutations": K,
        "min_p_value": 1.0 / (1 + K),
        "alpha": float(alpha),
        "expected_fraction_p_below_0.05": 0.05,
        "fraction_p_below_0.05": np.nan,
        "n_significant": 0,
        "fraction_significant": np.nan,
        "p_value_global": np.nan,
    }
    if k >= 2:
        test = permutation_test(
            label, v, k, n_permutations=K, seed=seed, per_bin=True, n_threads=n_threads
        )
        p[tested] = test["bin_p_value"]
        p_adj[tested] = test["bin_p_value_fwer"]
        n_sig = int(np.sum(p_adj[tested] <= alpha))
        summary.update(
            {
                "fraction_p_below_0.05": float(np.mean(p[tested] < 0.05)),
                "n_significant": n_sig,
                "fraction_significant": n_sig / k,
                "p_value_global": test["p_value"],
            }
        )
    return p, p_adj, summary
