"""Truth comparisons: what a run on synthetic catalogues recovers of what was injected.

:func:`fastgrad.mock.make_survey` writes its injected truth (the binned
gradients, the azimuthal pattern) into the catalogues' ``meta["truth"]``; the
pipeline (:mod:`fastgrad.pipeline`) compares its fits with it here:

- :func:`slope_pulls`: per bin of Table 1 or 2 (docs/method.md section 5), the
  fitted slope against the injected one, as a pull (fit - truth) / sigma;
- :func:`matched_filter`: the least-squares amplitude of a known azimuthal
  pattern in the deviations from the annulus mean (docs/method.md section 6),
  the one filter the pipeline and the mock's expected amplitude share;
- :func:`recover_amplitude`: that filter on a run's |Z| < zmax stars, with
  the injected pattern's shape;
- :func:`pull_coverage` and :func:`calibration_table`: over K mock
  realisations, the statistics of each entry's pulls (mean, spread, 68 % and
  95 % coverage with binomial errors), which :mod:`fastgrad.calibrate` reports
  (docs/method.md section 9).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import astropy.units as u
import numpy as np
from astropy.table import Table, hstack

from .azimuthal import annulus_mean

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    import numpy.typing as npt


__all__ = [
    "slope_pulls",
    "matched_filter",
    "recover_amplitude",
    "recover_amplitude_from_shape",
    "COVERAGE_LEVELS",
    "BIAS_P_VALUE",
    "pull_coverage",
    "calibration_table",
]

#: |pull| thresholds of the coverages and the fraction of a calibrated
#: (standard normal) pull inside each: P(|N(0, 1)| < 1) and P(|N(0, 1)| < 1.96)
COVERAGE_LEVELS = {"68": (1.0, 0.682689492137086), "95": (1.96, 0.950004209703559)}

#: the two-sided probability of a Gaussian beyond 3 sigma: the level at which a
#: mean pull (Student's t over the realisations) or a pull spread (chi-square)
#: is called a bias of the method or a mis-sized error, not a fluctuation
BIAS_P_VALUE = 0.0026997960632601866


def slope_pulls(table: Table, truth_rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per fitted bin: the fitted slope, the injected one and their pull.

    Parameters
    ----------
    table : astropy.table.Table
        Table 1 or 2 of :func:`fastgrad.fit_tables` (``bin_lo, bin_hi,
        n_stars, slope, slope_err``; unfitted bins masked).
    truth_rows : sequence of dict
        The injected rows (``bin_lo`` in kpc, ``slope`` in dex/kpc), e.g.
        ``meta["truth"]["table1"]`` of a synthetic catalogue.

    Returns
    -------
    list of dict
        One per bin that is fitted and has an injected row (matched on
        ``bin_lo`` to 1e-9 kpc): ``bin_lo, bin_hi`` (kpc), ``n_stars``,
        ``slope, slope_err, slope_true`` (dex/kpc) and ``pull`` =
        (slope - slope_true) / slope_err.

    Examples
    --------
    >>> from astropy.table import Table
    >>> from fastgrad.validation import slope_pulls
    >>> table1 = Table({"bin_lo": [0.0, 0.2], "bin_hi": [0.2, 0.4], "n_stars": [900, 700],
    ...                 "slope": [-0.052, -0.047], "slope_err": [0.002, 0.003]})
    >>> truth = [{"bin_lo": 0.0, "slope": -0.055}, {"bin_lo": 0.2, "slope": -0.050}]
    >>> [f"{row['pull']:+.2f}" for row in slope_pulls(table1, truth)]  # (fit - truth) / err
    ['+1.50', '+1.00']
    """
    out = []
    for row in table:
        match = [t for t in truth_rows if abs(t["bin_lo"] - row["bin_lo"]) < 1e-9]
        fitted = not np.ma.is_masked(row["slope"])
        if not match or not fitted:
            continue
        t = match[0]
        out.append(
            {
                "bin_lo": float(row["bin_lo"]),
                "bin_hi": float(row["bin_hi"]),
                "n_stars": int(row["n_stars"]),
                "slope": float(row["slope"]),
                "slope_err": float(row["slope_err"]),
                "slope_true": float(t["slope"]),
                "pull": float((row["slope"] - t["slope"]) / row["slope_err"]),
            }
        )
    return out


def matched_filter(
    R: npt.ArrayLike, delta: npt.ArrayLike, shape: npt.ArrayLike, half_width: float
) -> tuple[float, float]:
    """Amplitude of a known pattern in azimuthal deviations (docs/method.md section 6).

    Least squares of ``delta = A (g - <g>) + c``, with ``g`` the pattern's
    shape at each star and ``<g>`` its annulus mean (``|R_j - R_i| <=
    half_width``), as the deviations are measured from the annulus mean of
    [Fe/H].

    Parameters
    ----------
    R : array_like
        Galactocentric radii, kpc.
    delta : array_like
        Deviations from the annulus mean, dex.
    shape : array_like
        The pattern's shape at each star (dimensionless; ``A`` is then in dex).
    half_width : float
        Annulus half-width, kpc (the paper: 0.1).

    Returns
    -------
    amplitude, amplitude_err : float
        ``A`` (dex) and its standard error from the residual scatter
        (``var(resid, ddof=2) / sum((g - mean g)^2)``).

    Raises
    ------
    ValueError
        When ``g - <g>`` is constant (the pattern has no azimuthal part
        within the annuli): the amplitude is undefined.

    Notes
    -----
    The two-parameter least squares is written out with numpy's pairwise
    sums rather than solved through LAPACK/BLAS, whose summation order
    changes with the BLAS thread count: the same inputs give the same bits
    wherever it runs (in a Dask worker, under ``threadpool_limits``).

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.validation import matched_filter
    >>> rng = np.random.default_rng(1)
    >>> R, phi = rng.uniform(7.0, 11.0, 5000), rng.uniform(-0.5, 0.5, 5000)  # kpc, rad
    >>> shape = np.cos(4 * phi)  # the pattern, unit amplitude
    >>> delta = 0.03 * shape + rng.normal(0.0, 0.1, R.size)  # 0.03 dex injected
    >>> amp, err = matched_filter(R, delta, shape, half_width=0.1)
    >>> print(f"A = {amp:.4f} +- {err:.4f} dex")
    A = 0.0273 +- 0.0031 dex
    """
    R, delta, shape = (np.asarray(v, dtype=np.float64) for v in (R, delta, shape))
    g = shape - annulus_mean(R, shape, half_width)
    n = g.size
    g_mean, d_mean = np.sum(g) / n, np.sum(delta) / n
    dg = g - g_mean
    sxx = np.sum(dg * dg)
    if not sxx > 0 or n < 3:
        raise ValueError(
            "shape: the pattern is constant within the annuli (or fewer than 3 "
            "stars): its amplitude is undefined"
        )
    amplitude = np.sum(dg * (delta - d_mean)) / sxx
    resid = delta - (amplitude * g + (d_mean - amplitude * g_mean))
    return float(amplitude), float(np.sqrt(np.var(resid, ddof=2) / sxx))


def recover_amplitude(
    selection: Table, delta: npt.ArrayLike, truth: Mapping[str, Any], *, half_width: float
) -> dict[str, Any]:
    """The injected azimuthal pattern's amplitude, recovered by :func:`matched_filter`.

    Parameters
    ----------
    selection : astropy.table.Table
        The stars of the azimuthal analysis (|Z| < zmax), with ``x, y, R``
        (kpc).
    delta : array_like
        Their deviations from the annulus mean (dex).
    truth : dict
        The synthetic catalogue's ``meta["truth"]``: the pattern
        (:func:`fastgrad.mock.pattern_shape` reads it),
        ``azimuthal_amplitude`` (dex) and, when known,
        ``azimuthal_amplitude_observed`` (dex: what the filter gives on the
        noise-free model at the observed positions).
    half_width : float
        Annulus half-width, kpc.

    Returns
    -------
    dict
        ``amplitude_dex, amplitude_err_dex, amplitude_true_dex,
        amplitude_expected_dex`` and ``pull`` = (amplitude - expected) / err.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.table import Table
    >>> from fastgrad.azimuthal import azimuthal_deviation
    >>> from fastgrad.validation import recover_amplitude
    >>> truth = {"azimuthal": {"kind": "cosine", "m": 2, "phase_rad": 0.0},
    ...          "azimuthal_amplitude": 0.04,
    ...          "frame": {"galcen_distance_kpc": 8.122, "z_sun_kpc": 0.0208}}
    >>> rng = np.random.default_rng(2)
    >>> R, phi = rng.uniform(7.0, 11.0, 5000), rng.uniform(-0.6, 0.6, 5000)
    >>> stars = Table({"x": -R * np.cos(phi), "y": R * np.sin(phi), "R": R})  # kpc
    >>> feh = -0.06 * R + 0.04 * np.cos(2 * phi) + rng.normal(0.0, 0.1, R.size)
    >>> res = recover_amplitude(stars, azimuthal_deviation(R, feh), truth, half_width=0.1)
    >>> print(f"{res['amplitude_dex']:.4f} +- {res['amplitude_err_dex']:.4f} dex (true {res['amplitude_true_dex']})")
    0.0384 +- 0.0072 dex (true 0.04)
    """
    from .mock import pattern_shape  # the mock builds on this module's filter

    g = pattern_shape(np.asarray(selection["x"]), np.asarray(selection["y"]), truth)
    return recover_amplitude_from_shape(
        np.asarray(selection["R"]), delta, g, truth, half_width=half_width
    )


def recover_amplitude_from_shape(
    R: npt.ArrayLike,
    delta: npt.ArrayLike,
    shape: npt.ArrayLike,
    truth: Mapping[str, Any],
    *,
    half_width: float,
) -> dict[str, Any]:
    """:func:`recover_amplitude` from the stars' radii (kpc), deviations (dex)
    and the pattern's shape at each star (:func:`fastgrad.mock.pattern_shape`,
    computed where the stars are, e.g. on a catalogue's partitions): the same
    dict, bit for bit, for the stars in the same order.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.validation import recover_amplitude_from_shape
    >>> rng = np.random.default_rng(2)
    >>> R, phi = rng.uniform(7.0, 11.0, 5000), rng.uniform(-0.6, 0.6, 5000)
    >>> delta = 0.04 * np.cos(2 * phi) + rng.normal(0.0, 0.1, R.size)  # dex
    >>> res = recover_amplitude_from_shape(R, delta, np.cos(2 * phi), {"azimuthal_amplitude": 0.04}, half_width=0.1)
    >>> print(f"{res['amplitude_dex']:.3f} dex, pull {res['pull']:+.1f}")
    0.039 dex, pull -0.2
    """
    amp, err = matched_filter(np.asarray(R), np.asarray(delta), shape, half_width)
    # the pull is against what the same filter returns on the noise-free model
    # at the observed positions (distance errors blur the arms by a few %)
    true = float(truth["azimuthal_amplitude"])
    expected = float(truth.get("azimuthal_amplitude_observed") or true)
    return {
        "amplitude_dex": amp,
        "amplitude_err_dex": err,
        "amplitude_true_dex": true,
        "amplitude_expected_dex": expected,
        "pull": (amp - expected) / err,
    }


def pull_coverage(
    pulls: npt.ArrayLike, threshold: float
) -> tuple[float | np.ndarray, float | np.ndarray]:
    """Fraction of finite pulls with ``|pull| < threshold``, and its binomial error.

    Parameters
    ----------
    pulls : array_like, shape (K,) or (K, M)
        Pulls of K realisations (of M entries); NaN where an entry was not
        fitted in a realisation (not counted).
    threshold : float
        1 for the 68 % coverage, 1.96 for the 95 % coverage.

    Returns
    -------
    coverage, coverage_err : float or ndarray of shape (M,)
        ``k / n`` (k realisations inside, n with a finite pull) and its
        binomial standard error ``sqrt(c (1 - c) / n)`` (0 when all or none
        are inside; NaN when n = 0).

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.validation import pull_coverage
    >>> pulls = np.random.default_rng(3).normal(size=(400, 2))  # 400 realisations of 2 entries
    >>> pulls[0, 1] = np.nan  # entry 1 not fitted once
    >>> c, err = pull_coverage(pulls, 1.0)
    >>> [f"{v:.3f} +- {e:.3f}" for v, e in zip(c, err)]  # about 0.683
    ['0.688 +- 0.023', '0.697 +- 0.023']
    """
    p = np.asarray(pulls, dtype=np.float64)
    finite = np.isfinite(p)
    n = finite.sum(axis=0)
    inside = (finite & (np.abs(np.where(finite, p, 0.0)) < threshold)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = inside / n
        err = np.sqrt(c * (1.0 - c) / n)
    return c, err


def calibration_table(pulls: npt.ArrayLike, entries: Table | None = None) -> Table:
    """Per entry, the statistics of its pulls over K mock realisations.

    A calibrated method gives pulls ``(fit - truth) / sigma`` distributed as a
    standard normal: mean 0, spread 1, 68.3 % of them within +-1 and 95 %
    within +-1.96 (docs/method.md section 9).

    Parameters
    ----------
    pulls : array_like, shape (K, M)
        ``pulls[i, j]``: the pull of entry j in realisation i; NaN where
        entry j was not fitted in realisation i (too few stars in the bin),
        which is left out of that entry's statistics.
    entries : astropy.table.Table, optional
        M rows describing the entries (sample, bin, ...), put in front of the
        statistics.

    Returns
    -------
    astropy.table.Table
        One row per entry: ``n`` (realisations with a finite pull),
        ``mean_pull`` and its standard error ``mean_pull_err`` (std / sqrt n),
        ``std_pull`` (ddof = 1) and ``std_pull_err`` (std / sqrt(2 (n - 1)),
        the Gaussian approximation), ``coverage_68``, ``coverage_95`` and
        their binomial errors (:func:`pull_coverage`); ``bias_p_value``, the
        two-sided Student-t probability (n - 1 degrees of freedom) of a mean
        pull this far from 0, and ``biased`` = ``bias_p_value <`` 0.0027 (the
        probability of a Gaussian beyond 3 sigma: ``|mean_pull| >
        3 mean_pull_err`` once n is large, stricter for a few realisations,
        whose standard error is itself uncertain); ``spread_p_value``, the
        two-sided chi-square probability ((n - 1) std^2 against n - 1 degrees
        of freedom) of a spread this far from 1, and ``miscalibrated`` =
        ``spread_p_value <`` 0.0027. NaN (and False) where n < 2.
        ``meta["nominal_coverage"]`` holds the coverages of a calibrated pull
        (0.6827, 0.9500).

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.validation import calibration_table
    >>> rng = np.random.default_rng(4)
    >>> pulls = np.column_stack([rng.normal(0, 1, 200), rng.normal(0.5, 1, 200)])  # entry 1 biased
    >>> t = calibration_table(pulls)
    >>> for row in t:
    ...     print(f"mean {row['mean_pull']:+.3f} +- {row['mean_pull_err']:.3f}, std {row['std_pull']:.3f}, biased: {row['biased']}")
    mean +0.048 +- 0.071, std 1.000, biased: False
    mean +0.520 +- 0.073, std 1.027, biased: True
    """
    p = np.asarray(pulls, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"pulls: expected a (realisations, entries) array, got shape {p.shape}")
    finite = np.isfinite(p)
    n = finite.sum(axis=0)
    zero = np.where(finite, p, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = zero.sum(axis=0) / n
        dev = np.where(finite, p - mean, 0.0)
        std = np.sqrt((dev * dev).sum(axis=0) / (n - 1))
        std = np.where(n >= 2, std, np.nan)
        mean_err = std / np.sqrt(n)
        std_err = std / np.sqrt(2.0 * (n - 1))
    t = Table()
    t["n"] = n.astype(np.int64)
    one = u.dimensionless_unscaled
    t["mean_pull"] = u.Quantity(mean, one)
    t["mean_pull_err"] = u.Quantity(mean_err, one)
    t["std_pull"] = u.Quantity(std, one)
    t["std_pull_err"] = u.Quantity(std_err, one)
    for level, (threshold, _) in COVERAGE_LEVELS.items():
        c, err = pull_coverage(p, threshold)
        t[f"coverage_{level}"] = u.Quantity(c, one)
        t[f"coverage_{level}_err"] = u.Quantity(err, one)
    # scipy.stats takes ~1.5 s to import: loaded here, not with fastgrad
    from scipy import stats

    dof = np.where(n >= 2, n - 1, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_bias = np.where(n >= 2, 2.0 * stats.t.sf(np.abs(mean / mean_err), dof), np.nan)
        chi2 = dof * std**2
        p_spread = np.where(
            n >= 2, 2.0 * np.minimum(stats.chi2.cdf(chi2, dof), stats.chi2.sf(chi2, dof)), np.nan
        )
    t["bias_p_value"] = p_bias
    t["biased"] = np.nan_to_num(p_bias, nan=1.0) < BIAS_P_VALUE
    t["spread_p_value"] = np.minimum(p_spread, 1.0)
    t["miscalibrated"] = np.nan_to_num(p_spread, nan=1.0) < BIAS_P_VALUE
    t.meta["nominal_coverage"] = {f"coverage_{k}": v for k, (_, v) in COVERAGE_LEVELS.items()}
    t.meta["bias_p_value"] = BIAS_P_VALUE
    if entries is not None:
        if len(entries) != p.shape[1]:
            raise ValueError(f"entries: {len(entries)} rows for {p.shape[1]} columns of pulls")
        out = hstack([entries, t], join_type="exact", metadata_conflicts="silent")
        out.meta = {**entries.meta, **t.meta}
        return out
    return t
