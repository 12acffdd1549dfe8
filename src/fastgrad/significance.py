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
"""
import numpy as np
import astropy.units as u

from ._seeds import seed_sequence
from ._validation import as_count, as_float_array, check_lengths, raise_bad_rows
from .azimuthal import phi_edges
from . import paper

__all__ = ["azimuthal_significance", "DEFAULT_N_PERMUTATIONS", "SIGNIFICANCE_LEVEL"]

#: permutations per ring (fastgrad's choice): p-values down to 1e-3
DEFAULT_N_PERMUTATIONS = 1000
#: the p-value below which the report calls a ring's structure significant
SIGNIFICANCE_LEVEL = 0.01


def _between_ss(sums, counts, total):
    """sum_b S_b^2 / n_b - S^2 / N for bin sums ``sums`` (..., n_bins)."""
    return np.sum(sums * sums / counts, axis=-1) - total * total / counts.sum()


def azimuthal_significance(R, phi, delta, ring=paper.RINGS[0], *, bins=None,
                           min_count=paper.PROFILE_MIN_COUNT,
                           n_permutations=DEFAULT_N_PERMUTATIONS, seed=None):
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
        costs one pass over the ring's stars.
    seed : None, int, SeedSequence or Generator
        The permutations' random stream: a seed gives the same p-value.

    Returns
    -------
    dict
        ``R_lo``, ``R_hi`` (kpc); ``n_stars`` and ``n_bins`` used;
        ``statistic`` (T, dex^2); ``chi2`` (T / s^2) and ``dof`` (n_bins - 1);
        ``p_value`` (permutation) and ``p_value_chi2`` (asymptotic);
        ``n_permutations``; ``significant`` (``p_value < SIGNIFICANCE_LEVEL``).
        With fewer than two usable bins the p-values are NaN.
    """
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
    p, d = phi[sel], delta[sel]
    n_bins = edges.size - 1
    label = np.searchsorted(edges, p, side="right") - 1
    label[p == edges[-1]] = n_bins - 1       # the last bin is closed, as in the profile
    inside = (label >= 0) & (label < n_bins)
    counts = np.bincount(label[inside], minlength=n_bins)
    used = counts >= min_count
    keep = inside.copy()
    keep[inside] = used[label[inside]]
    # the used bins renumbered 0..k-1: the permutations touch only them
    new_label = np.cumsum(used) - 1
    label, d = new_label[label[keep]], d[keep]
    counts = counts[used].astype(np.float64)
    k = counts.size
    out = {"R_lo": lo, "R_hi": hi, "n_stars": int(d.size), "n_bins": int(k),
           "n_permutations": n_permutations}
    if k < 2:
        return {**out, "statistic": np.nan, "chi2": np.nan, "dof": max(k - 1, 0),
                "p_value": np.nan, "p_value_chi2": np.nan, "significant": False}

    total = np.sum(d)
    observed = _between_ss(np.bincount(label, weights=d, minlength=k), counts, total)
    rng = np.random.default_rng(seed_sequence(seed))
    # permuting the deviations among fixed bins is permuting the azimuths;
    # one permutation at a time keeps memory O(N) whatever n_permutations
    exceed = 0
    scratch = d.copy()
    for _ in range(n_permutations):
        rng.shuffle(scratch)
        perm = _between_ss(np.bincount(label, weights=scratch, minlength=k), counts, total)
        # a relative tolerance: a permutation equal to the observation up to
        # rounding counts as reaching it (the conservative side)
        exceed += perm >= observed * (1 - 1e-12)
    variance = np.var(d, ddof=1)
    chi2 = observed / variance if variance > 0 else np.nan
    from scipy.stats import chi2 as chi2_dist
    p_value = (1 + exceed) / (1 + n_permutations)
    return {**out, "statistic": float(observed), "chi2": float(chi2), "dof": int(k - 1),
            "p_value": float(p_value),
            "p_value_chi2": float(chi2_dist.sf(chi2, k - 1)) if np.isfinite(chi2) else np.nan,
            "significant": bool(p_value < SIGNIFICANCE_LEVEL)}
