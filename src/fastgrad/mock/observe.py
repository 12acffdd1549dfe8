"""Observing the mock's stars: true ICRS observables (by astropy), Gaia DR3-like
astrometry with correlated errors, Bailer-Jones (2021)-like distances, ids and
fibre positions (docs/method.md sections 1-3).

Angles in deg (positions) or mas (astrometry), distances in kpc unless a
name says pc, velocities in km/s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import astropy.units as u
import numpy as np
from astropy.coordinates import ICRS, CartesianDifferential, CartesianRepresentation

from .columns import CORRELATION_COLUMNS

if TYPE_CHECKING:
    from collections.abc import Sequence

    from astropy.coordinates import Galactocentric


__all__ = [
    "to_icrs",
    "lognormal",
    "gaia_parallax_error",
    "cholesky4",
    "observe_gaia",
    "bailer_jones",
    "unique_ids",
    "offset_position",
]

_KMS = u.km / u.s
_MASYR = u.mas / u.yr


def to_icrs(
    xyz: np.ndarray, vxyz: np.ndarray, frame: Galactocentric
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """True ICRS ra, dec (deg), distance (kpc), pmra, pmdec (mas/yr), RV (km/s), by astropy."""
    rep = CartesianRepresentation(xyz * u.kpc, differentials=CartesianDifferential(vxyz * _KMS))
    icrs = frame.realize_frame(rep).transform_to(ICRS())
    return (
        icrs.ra.to_value(u.deg),
        icrs.dec.to_value(u.deg),
        icrs.distance.to_value(u.kpc),
        icrs.pm_ra_cosdec.to_value(_MASYR),
        icrs.pm_dec.to_value(_MASYR),
        icrs.radial_velocity.to_value(_KMS),
    )


def lognormal(rng: np.random.Generator, sigma: float | np.ndarray, n: int) -> np.ndarray:
    """``n`` multiplicative scatter factors exp(N(0, sigma)) (dimensionless)."""
    return np.exp(rng.normal(0.0, sigma, n))


def gaia_parallax_error(g: np.ndarray) -> np.ndarray:
    """Gaia DR3-like parallax uncertainty (mas) against G (Gaia performance
    formula: 0.013 mas at G <= 13, 0.03 at 15, 0.08 at 17, 0.6 at 20)."""
    z = 10.0 ** (0.4 * (np.maximum(g, 13.0) - 15.0))
    return np.sqrt(40.0 + 800.0 * z + 30.0 * z**2) * 1e-3


def cholesky4(c: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
    """Row-wise Cholesky factors of 4x4 correlation matrices given by their six
    off-diagonal elements (01, 02, 03, 12, 13, 23), each an (n,) array."""
    c01, c02, c03, c12, c13, c23 = c
    l00 = np.ones_like(c01)
    l10 = c01
    l11 = np.sqrt(1.0 - l10**2)
    l20 = c02
    l21 = (c12 - l20 * l10) / l11
    l22 = np.sqrt(1.0 - l20**2 - l21**2)
    l30 = c03
    l31 = (c13 - l30 * l10) / l11
    l32 = (c23 - l30 * l20 - l31 * l21) / l22
    l33 = np.sqrt(1.0 - l30**2 - l31**2 - l32**2)
    return (l00, l10, l11, l20, l21, l22, l30, l31, l32, l33)


def observe_gaia(
    rng: np.random.Generator,
    ra: np.ndarray,
    dec: np.ndarray,
    dist: np.ndarray,
    pmra: np.ndarray,
    pmdec: np.ndarray,
    g: np.ndarray,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Gaia-like astrometry of stars with true ICRS values (ra, dec in deg,
    dist in kpc, pmra, pmdec in mas/yr, G in mag): a dict of Gaia columns of
    :data:`fastgrad.mock.GAIA_COLUMNS` (no source_id, no RV; mas, mas/yr) and
    the parallax noise in units of its error."""
    n = ra.size
    sig_plx = gaia_parallax_error(g) * lognormal(rng, 0.15, n)
    # a tail of poorly measured sources (binaries, crowding) as in real Gaia data
    bad = rng.uniform(size=n) < 0.06
    sig_plx = np.where(bad, sig_plx * lognormal(rng, 0.6, n) * 4.0, sig_plx)
    out = {
        "ra_error": 0.75 * sig_plx * lognormal(rng, 0.1, n),
        "dec_error": 0.65 * sig_plx * lognormal(rng, 0.1, n),
        "parallax_error": sig_plx,
        "pmra_error": 0.85 * sig_plx * lognormal(rng, 0.1, n),
        "pmdec_error": 0.75 * sig_plx * lognormal(rng, 0.1, n),
    }
    # small correlations: |rho| <= 0.3 keeps every 4x4 matrix positive definite
    # (Gershgorin: 1 - 3 x 0.3 > 0)
    corr = [np.clip(rng.normal(0.0, 0.12, n), -0.3, 0.3) for _ in CORRELATION_COLUMNS]
    for name, val in zip(CORRELATION_COLUMNS, corr):
        out[name] = val
    L = cholesky4(corr)
    zz = rng.normal(size=(4, n))
    e = (
        L[0] * zz[0],
        L[1] * zz[0] + L[2] * zz[1],
        L[3] * zz[0] + L[4] * zz[1] + L[5] * zz[2],
        L[6] * zz[0] + L[7] * zz[1] + L[8] * zz[2] + L[9] * zz[3],
    )
    mas_to_deg = 1.0 / 3.6e6
    out["ra"] = np.mod(ra + e[0] * out["ra_error"] * mas_to_deg / np.cos(np.radians(dec)), 360.0)
    out["dec"] = dec + e[1] * out["dec_error"] * mas_to_deg
    out["pmra"] = pmra + e[2] * out["pmra_error"]
    out["pmdec"] = pmdec + e[3] * out["pmdec_error"]
    eps_plx = rng.normal(size=n)
    out["parallax"] = 1.0 / dist + eps_plx * sig_plx
    out["parallax_over_error"] = out["parallax"] / sig_plx
    return out, eps_plx


def bailer_jones(
    rng: np.random.Generator, dist: np.ndarray, sig_plx: np.ndarray, eps_plx: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bailer-Jones-like geometric distance percentiles (pc): r_med, r_lo, r_hi
    of stars at true distance ``dist`` (kpc) with parallax error ``sig_plx``
    (mas) and parallax noise ``eps_plx`` (in units of sig_plx).

    The fractional width follows the parallax's (sigma_plx / plx), saturating
    at ~0.6 where the prior takes over; the median moves with the same noise
    as the observed parallax (the distances are derived from it), log-normally
    so r_lo < r_med < r_hi stay positive and the interval is skewed outwards.
    """
    f = sig_plx * dist
    s = f / np.sqrt(1.0 + (f / 0.6) ** 2)
    r_med = dist * np.exp(-s * eps_plx) * 1e3
    skew = 1.0 + 0.3 * s  # the far side of a parallax interval is longer
    return r_med, r_med * np.exp(-s), r_med * np.exp(s * skew)


def unique_ids(rng: np.random.Generator, n: int, lo: int, hi: int) -> np.ndarray:
    """``n`` distinct int64 ids drawn uniformly from [lo, hi)."""
    while True:
        ids = rng.integers(lo, hi, n, dtype=np.int64)
        srt = np.sort(ids)
        if not np.any(srt[1:] == srt[:-1]):  # a repeat is vanishingly rare here
            return ids


def offset_position(
    rng: np.random.Generator, ra: np.ndarray, dec: np.ndarray, offset_arcsec: float
) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``offset_arcsec`` away from (ra, dec) in a random direction (deg)."""
    ang = rng.uniform(0.0, 2 * np.pi, ra.size)
    d = offset_arcsec / 3600.0
    dec_new = dec + d * np.sin(ang)
    ra_new = np.mod(ra + d * np.cos(ang) / np.cos(np.radians(dec)), 360.0)
    return ra_new, dec_new
