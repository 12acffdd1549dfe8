"""The mock's Galaxy: the frame's Sun, the metallicity model, the azimuthal
pattern and the populations' velocities (docs/method.md sections 4-6).

Lengths in kpc, velocities in km/s, angles in rad, [Fe/H] in dex.  The
arrays are plain numpy; the model's parameters are the dicts of
:func:`fastgrad.mock.default_truth`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import astropy.units as u
import numpy as np

from ..arms import ARM_MODELS, arm_parameters, arm_radius
from ..frames import frame_constants, frame_metadata
from ..populations import SCHOENRICH2010_SOLAR_MOTION

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    import numpy.typing as npt
    from astropy.coordinates import Galactocentric


__all__ = [
    "POPULATIONS",
    "Geometry",
    "sun_r0",
    "gradient_model",
    "unit_pattern",
    "azimuthal_pattern",
    "pattern_shape",
    "near_arm",
    "velocities",
]

#: the populations in the order of their codes in ``stars["population"]``
POPULATIONS = ("thin", "thick", "halo")


def sun_r0(frame_meta: Mapping[str, Any]) -> float:
    """The Sun's cylindrical radius (kpc) in a frame described by
    :func:`fastgrad.frames.frame_metadata`: astropy puts the Sun
    galcen_distance from the centre at height z_sun."""
    d, z = frame_meta["galcen_distance_kpc"], frame_meta["z_sun_kpc"]
    return float(np.sqrt(d * d - z * z))


class Geometry:
    """The frame's Sun and ICRS rotation, for cheap selection before astropy.

    Attributes: ``A`` (ICRS -> Galactocentric rotation), ``sun`` (barycentre
    position, kpc), ``vsun`` (barycentre velocity, km/s), ``r0`` and
    ``theta_sun`` (the Sun's cylindrical radius, kpc, and azimuth, rad) and
    ``r0_pattern`` (the radius :func:`pattern_shape` derives from a table's
    metadata).
    """

    def __init__(self, frame: Galactocentric) -> None:
        A, t, v = frame_constants(frame)
        self.A = A
        self.sun = t
        self.vsun = v
        self.r0 = float(np.hypot(t[0], t[1]))
        self.theta_sun = float(np.arctan2(t[1], t[0]))
        self.r0_pattern = sun_r0(frame_metadata(frame))


def gradient_model(met: Mapping[str, Any], R: np.ndarray, absz: np.ndarray) -> np.ndarray:
    """Noise-free disk [Fe/H] = m(|Z|) R + b(|Z|) (dex) of ``truth["metallicity"]``."""
    knots = np.asarray(met["absz_knots_kpc"], dtype=float)
    m = np.interp(absz, knots, np.asarray(met["slope_dex_per_kpc"], dtype=float))
    b = np.interp(absz, knots, np.asarray(met["intercept_dex"], dtype=float))
    return m * R + b


def _arm_offsets(azi, R, phi, r0):
    """Perpendicular distance (kpc, Reid's scale) to each selected arm's centre line
    and that arm's width; inf where phi lies outside the arm's beta range."""
    scale = ARM_MODELS["reid2014"]["R0"] / r0 if azi["rescale_r0"] else 1.0
    R_reid = R * scale
    beta_deg = np.degrees(phi)
    out = []
    for name in azi["arms"]:
        p = arm_parameters(name, "reid2014")  # one pitch angle in Reid 2014
        psi, width, beta_lo, beta_hi = p["pitch_gt"], p["width"], p["beta_min"], p["beta_max"]
        r_arm = arm_radius(phi, name, "reid2014")
        # a log spiral crosses each circle at the pitch angle: perpendicular
        # distance = radial distance x cos(psi)
        dist = np.abs(R_reid - r_arm) * np.cos(np.radians(psi))
        dist = np.where((beta_deg >= beta_lo) & (beta_deg <= beta_hi), dist, np.inf)
        out.append((dist, width * azi["width_scale"]))
    return out


def unit_pattern(azi: Mapping[str, Any], R: np.ndarray, phi: np.ndarray, r0: float) -> np.ndarray:
    """The azimuthal pattern of ``truth["azimuthal"]`` with unit amplitude
    (dimensionless) at cylindrical R (kpc), phi (rad), the Sun at radius r0."""
    if azi["kind"] == "none":
        return np.zeros_like(R)
    if azi["kind"] == "cosine":
        return np.cos(azi["m"] * (phi - azi["phase_rad"]))
    bump = np.zeros_like(R)
    for dist, width in _arm_offsets(azi, R, phi, r0):
        bump = np.maximum(bump, np.exp(-0.5 * (dist / width) ** 2))
    return bump


def azimuthal_pattern(
    azi: Mapping[str, Any], R: np.ndarray, phi: np.ndarray, r0: float
) -> np.ndarray:
    """The injected azimuthal [Fe/H] pattern (dex): amplitude x :func:`unit_pattern`."""
    amp = float(azi["amplitude_dex"])
    if azi["kind"] == "none" or amp == 0.0:
        return np.zeros_like(R)
    return amp * unit_pattern(azi, R, phi, r0)


def pattern_shape(x: npt.ArrayLike, y: npt.ArrayLike, truth: Mapping[str, Any]) -> np.ndarray:
    """The injected azimuthal pattern of a mock catalogue with unit amplitude.

    ``truth["azimuthal_amplitude"] * pattern_shape(x, y, truth)`` is the
    [Fe/H] (dex) the generator added to a disk star at Galactocentric (x, y)
    (docs/method.md section 6).

    Parameters
    ----------
    x, y : array-like
        Galactocentric coordinates (kpc) in the frame of the catalogue.
    truth : dict
        A table's ``meta["truth"]`` from :func:`fastgrad.mock.make_survey`.

    Returns
    -------
    ndarray
        The shape: 0 everywhere for ``kind="none"``; for ``"reid2014_arms"``
        a Gaussian bump, 1 on an arm's centre line; ``cos(m (phi - phase))``
        for ``"cosine"``.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    return unit_pattern(
        truth["azimuthal"], np.hypot(x, y), np.arctan2(y, -x), sun_r0(truth["frame"])
    )


def near_arm(azi: Mapping[str, Any], R: np.ndarray, phi: np.ndarray, r0: float) -> np.ndarray:
    """True where a star lies within one arm width of a selected arm's centre line."""
    near = np.zeros(R.shape, dtype=bool)
    for dist, width in _arm_offsets(azi, R, phi, r0):
        near |= dist <= width
    return near


def velocities(
    rng: np.random.Generator,
    stars: Mapping[str, np.ndarray],
    truth: Mapping[str, Any],
    geo: Geometry,
) -> tuple[np.ndarray, float]:
    """Galactocentric Cartesian velocities (km/s, shape (3, n)) of ``stars``
    (``xyz`` and ``population`` codes) and the rotation speed used (km/s):
    a flat rotation curve minus each population's lag, plus its dispersions."""
    pops = truth["populations"]
    vc = truth["rotation_speed_kms"]
    if vc is None:
        # the LSR speed: the frame's v_sun,y less the Sun's own V (Schoenrich 2010)
        vc = geo.vsun[1] - SCHOENRICH2010_SOLAR_MOTION[1].to_value(u.km / u.s)
    x, y, _ = stars["xyz"]
    code = stars["population"]
    n = code.size
    sig = np.empty((3, n))
    lag = np.empty(n)
    for c, name in enumerate(POPULATIONS):
        sel = code == c
        p = pops[name]
        sig[0, sel], sig[1, sel], sig[2, sel] = (
            p["sigma_R_kms"],
            p["sigma_phi_kms"],
            p["sigma_z_kms"],
        )
        lag[sel] = p["lag_kms"]
    v_R = rng.normal(0.0, 1.0, n) * sig[0]
    v_phi = vc - lag + rng.normal(0.0, 1.0, n) * sig[1]  # along rotation
    v_z = rng.normal(0.0, 1.0, n) * sig[2]
    R = np.hypot(x, y)
    cos_t, sin_t = x / R, y / R
    # astropy's frame: the Sun at x < 0 moves towards +y, i.e. clockwise seen
    # from +z; the direction of rotation at (cos t, sin t) is (sin t, -cos t)
    return np.stack([v_R * cos_t + v_phi * sin_t, v_R * sin_t - v_phi * cos_t, v_z]), float(vc)
