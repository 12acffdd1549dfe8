"""Gaia DR3 GSP-Spec: the [M/H] calibration and the ``flags_gspspec`` quality string.

docs/method.md section 2.1. Gaia DR3 publishes GSP-Spec parameters
uncalibrated; Recio-Blanco et al. (2023, A&A 674, A29; "Recio-Blanco et al.
2022" on the Gaia pages) give polynomial calibrations in the *uncalibrated*
logg. Hawkins (2023) does not apply them (section 2.2), so fastgrad leaves
them off by default: :func:`calibrate_mh` is for users who want them, and
the ``"gspspec_flags"`` cut preset (:data:`fastgrad.cuts.CUT_PRESETS`) reads
the flag string through :func:`flag_values`.

Sources, and what could be checked when this was written:

- The [M/H] polynomial, ``[M/H]_cal = [M/H] + p0 + p1 logg + p2 logg^2 +
  p3 logg^3`` with (p0..p3) = (0.274, -0.1373, -0.0050, 0.0048), is Table 3
  of Recio-Blanco et al. (2023) **as quoted by two independent public
  implementations** (both cite that table, and agree to the last digit);
  the paper's table itself could not be read here. So is the logg range
  (:data:`MH_LOGG_RANGE`): those implementations flag logg < 0 as outside
  it, and their upper bound (10) lies above every GSP-Spec logg.
- The positions and values of the flag characters are Table 2 of
  Recio-Blanco et al. (2023), read from the paper (:data:`FLAG_POSITIONS`).
- The quality selections (:data:`MEDIUM_QUALITY`, :data:`BEST_QUALITY`) are
  those of the Gaia DR3 "chemical cartography" paper (Gaia Collaboration,
  Recio-Blanco et al. 2023, A&A 674, A38) **as a public implementation
  quotes them**, restricted to the flag characters (that paper adds Teff,
  logg and uncertainty cuts); not checked against the paper's own table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import astropy.units as u
import numpy as np

from ._validation import as_float_array, check_lengths

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt


__all__ = [
    "MH_LOGG_COEFFICIENTS",
    "MH_LOGG_RANGE",
    "FLAG_POSITIONS",
    "FLAG_LENGTH",
    "MEDIUM_QUALITY",
    "BEST_QUALITY",
    "calibrate_mh",
    "flag_values",
]

_DEX = u.dex

#: (p0, p1, p2, p3) of the [M/H] calibration in the uncalibrated logg (dex):
#: Recio-Blanco et al. 2023, A&A 674, A29, Table 3 (as quoted by public
#: implementations; see the module docstring).
MH_LOGG_COEFFICIENTS = (0.274, -0.1373, -0.0050, 0.0048)

#: The logg range (dex, inclusive) where the [M/H] calibration applies, as the
#: public implementations of Recio-Blanco et al. 2023 bound it.
MH_LOGG_RANGE = (0.0, 10.0)

#: Length of the ``flags_gspspec`` string in Gaia DR3 astrophysical_parameters.
FLAG_LENGTH = 41

#: Character of ``flags_gspspec`` (0-based; Table 2 of Recio-Blanco et al.
#: 2023 counts from 1) -> name, for the 13 flags on the parameters and the
#: spectrum. Values: 0 best; 1, 2, ... worse; 9 not computed / not applicable.
FLAG_POSITIONS = {
    "vbroadT": 0,  # vbroad-induced bias in Teff (0, 1, 2, 9)
    "vbroadG": 1,  # vbroad-induced bias in logg
    "vbroadM": 2,  # vbroad-induced bias in [M/H]
    "vradT": 3,  # radial-velocity-induced bias in Teff (0, 1, 2, 9)
    "vradG": 4,  # ... in logg
    "vradM": 5,  # ... in [M/H]
    "fluxNoise": 6,  # flux-noise-induced uncertainties (0-5, 9)
    "extrapol": 7,  # extrapolation of the parametrisation (0-4, 9)
    "negFlux": 8,  # negative flux (0, 1, 9)
    "nanFlux": 9,  # NaN flux (0, 9)
    "emission": 10,  # emission line detected by CU6 (0, 9)
    "nullFluxErr": 11,  # null flux uncertainties (0, 9)
    "KMgiantPar": 12,  # KM-type giant parametrisation (0, 1, 2)
}

#: The "medium quality" flag thresholds (largest value kept) of the Gaia DR3
#: chemical-cartography selection, as :mod:`fastgrad.cuts`' ``"gspspec_flags"``
#: parameters: vbroad* and vrad* <= 1, fluxNoise <= 3, extrapol <= 2,
#: KMgiantPar <= 1; the four spectrum flags unconstrained (9).
MEDIUM_QUALITY = {
    "vbroad_flag_max": 1,
    "vrad_flag_max": 1,
    "flux_noise_flag_max": 3,
    "extrapol_flag_max": 2,
    "spectrum_flags_max": 9,
    "kmgiant_flag_max": 1,
}

#: The "best quality" thresholds of the same selection: vbroad*, vrad*,
#: fluxNoise and the four spectrum flags 0, extrapol <= 2, KMgiantPar <= 1.
BEST_QUALITY = {
    "vbroad_flag_max": 0,
    "vrad_flag_max": 0,
    "flux_noise_flag_max": 0,
    "extrapol_flag_max": 2,
    "spectrum_flags_max": 0,
    "kmgiant_flag_max": 1,
}

_OUTSIDE = ("nan", "clip", "extrapolate")


def calibrate_mh(
    mh: npt.ArrayLike,
    logg: npt.ArrayLike,
    *,
    outside: str = "nan",
    coefficients: Sequence[float] = MH_LOGG_COEFFICIENTS,
    logg_range: tuple[float, float] = MH_LOGG_RANGE,
) -> np.ndarray:
    """GSP-Spec [M/H] calibrated in logg (Recio-Blanco et al. 2023).

    ``[M/H]_cal = [M/H] + sum_k p_k logg^k`` with ``logg`` the *uncalibrated*
    GSP-Spec logg (docs/method.md section 2.1; coefficients and their
    provenance: :data:`MH_LOGG_COEFFICIENTS`, the module docstring).

    Parameters
    ----------
    mh, logg : array-like or Quantity
        ``mh_gspspec`` and ``logg_gspspec`` (dex), as published.
    outside : {"nan", "clip", "extrapolate"}
        Stars with logg outside ``logg_range``: NaN (default; they then fail
        the finite-[M/H] cut, counted), the correction at the nearest bound,
        or the polynomial extrapolated.
    coefficients : sequence of float
        p0, p1, ... (dex); default :data:`MH_LOGG_COEFFICIENTS`.
    logg_range : (float, float)
        Inclusive logg bounds (dex); default :data:`MH_LOGG_RANGE`.

    Returns
    -------
    ndarray
        Calibrated [M/H] (dex); NaN where ``mh`` or ``logg`` is not finite.

    Examples
    --------
    The correction p0 + p1 logg + p2 logg^2 + p3 logg^3 is +0.073 dex at
    logg = 1.5 and -0.0255 dex at logg = 2.5:

    >>> from fastgrad.gspspec import calibrate_mh
    >>> calibrate_mh([-0.5, 0.0], [1.5, 2.5])
    array([-0.427 , -0.0255])
    >>> calibrate_mh([-0.5], [12.0])  # logg outside MH_LOGG_RANGE
    array([nan])
    """
    if outside not in _OUTSIDE:
        raise ValueError(f"outside must be one of {_OUTSIDE}, got {outside!r}")
    mh = as_float_array("mh", mh, _DEX)
    logg = as_float_array("logg", logg, _DEX)
    check_lengths(mh=mh, logg=logg)
    lo, hi = (float(b) for b in logg_range)
    if not lo < hi:
        raise ValueError(f"logg_range must be (low, high) with low < high, got {logg_range!r}")
    g = np.clip(logg, lo, hi) if outside == "clip" else logg
    correction = np.zeros_like(g)
    for p in reversed([float(c) for c in coefficients]):  # Horner
        correction = correction * g + p
    out = mh + correction
    if outside == "nan":
        with np.errstate(invalid="ignore"):
            out[(logg < lo) | (logg > hi)] = np.nan
    return out


def flag_values(flags: Sequence[str], names: Sequence[str]) -> np.ndarray:
    """The digits of ``flags_gspspec`` at the named characters, as numbers.

    Parameters
    ----------
    flags : sequence of str
        ``flags_gspspec`` strings (a column, array or list); masked, empty,
        too short or non-digit entries give NaN.
    names : sequence of str
        Keys of :data:`FLAG_POSITIONS`, e.g. ``["vbroadM", "extrapol"]``.

    Returns
    -------
    ndarray, shape (len(names), len(flags))
        float64: each flag's digit (0-9), NaN where it cannot be read (so a
        threshold comparison removes the star).

    Examples
    --------
    Digit 3 of ``flags_gspspec`` is vbroadM, digit 8 extrapol; an empty string
    cannot be read (NaN, so a threshold removes the star):

    >>> from fastgrad.gspspec import flag_values
    >>> flag_values(["0000000000000", "0010000200000", ""], ["vbroadM", "extrapol"])
    array([[ 0.,  1., nan],
           [ 0.,  2., nan]])
    """
    unknown = [n for n in names if n not in FLAG_POSITIONS]
    if unknown:
        raise ValueError(f"unknown flags_gspspec flag(s) {unknown}; known: {list(FLAG_POSITIONS)}")
    mask = np.ma.getmaskarray(flags) if np.ma.isMaskedArray(flags) else None
    if hasattr(flags, "filled") and mask is not None:
        flags = flags.filled("")
    strings = np.asarray(flags)
    if strings.dtype.kind == "S":
        strings = np.char.decode(strings, "ascii", errors="replace")
    elif strings.dtype.kind == "O":
        strings = np.array(
            [
                s.decode("ascii", "replace")
                if isinstance(s, bytes)
                else s
                if isinstance(s, str)
                else ""
                for s in strings.ravel()
            ],
            dtype=str,
        )
    elif strings.dtype.kind != "U":
        raise TypeError(f"flags_gspspec: expected strings, got dtype {strings.dtype}")
    # fixed-width UCS-4 codes, one row per star: a string shorter than a
    # position reads a space there (not a digit: NaN); longer ones are cut
    width = max(FLAG_LENGTH, max(FLAG_POSITIONS.values()) + 1)
    padded = np.ascontiguousarray(np.char.ljust(strings.reshape(-1), width).astype(f"<U{width}"))
    codes = padded.view(np.uint32).reshape(-1, width)
    out = np.full((len(names), codes.shape[0]), np.nan)
    for k, name in enumerate(names):
        c = codes[:, FLAG_POSITIONS[name]].astype(np.int64) - ord("0")
        ok = (c >= 0) & (c <= 9)
        out[k, ok] = c[ok]
    if mask is not None:
        out[:, mask] = np.nan
    return out
