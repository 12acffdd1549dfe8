"""Galactocentric frames: the paper's preset and the constants the kernels use.

docs/method.md section 3: the paper (Hawkins 2023) uses R0 = 8.27 kpc (GRAVITY 2021),
z_sun = 29 pc and v_sun = (12.9, 245.0, 7.78) km/s (Drimmel & Poggio 2018) in
astropy's right-handed frame (the Sun at x ~ -8.27 kpc).  The kernels never
hard-code a frame: their constants are derived from an astropy
``Galactocentric`` instance by transforming reference points through astropy.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import astropy.units as u
import numpy as np
from astropy.coordinates import (
    ICRS,
    CartesianDifferential,
    CartesianRepresentation,
    Galactocentric,
    galactocentric_frame_defaults,
)

from . import paper

if TYPE_CHECKING:
    from typing import Any


__all__ = ["paper_frame", "get_frame", "frame_constants", "frame_metadata", "FRAME_PRESETS"]

#: fastgrad's named frame presets, beside astropy's ("pre-v4.0", "v4.0", "latest").
FRAME_PRESETS = {
    "hawkins2023": dict(  # fastgrad.paper.FRAME (method.md section 3)
        galcen_distance=paper.FRAME["galcen_distance_kpc"] * u.kpc,
        z_sun=paper.FRAME["z_sun_kpc"] * u.kpc,
        galcen_v_sun=CartesianDifferential(list(paper.FRAME["galcen_v_sun_kms"]) * (u.km / u.s)),
        roll=paper.FRAME["roll_deg"] * u.deg,
    ),
}

#: km/s per (mas/yr x kpc), from astropy's units rather than a typed literal
PM_TO_KMS = (1 * u.mas / u.yr * u.kpc).to_value(u.km / u.s, u.dimensionless_angles())


def paper_frame() -> Galactocentric:
    """The Galactocentric frame of Hawkins (2023), preset ``"hawkins2023"``.

    Returns
    -------
    astropy.coordinates.Galactocentric
        galcen_distance = 8.27 kpc, z_sun = 0.029 kpc,
        galcen_v_sun = (12.9, 245.0, 7.78) km/s, roll = 0, galcen_coord = Sgr A*
        (astropy's default).

    Examples
    --------
    >>> from fastgrad.frames import paper_frame
    >>> frame = paper_frame()
    >>> print(frame.galcen_distance, frame.z_sun.to("kpc"))
    8.27 kpc 0.029 kpc
    >>> print(frame.roll, frame.galcen_coord.ra)
    0.0 deg 266d24m18.36s
    """
    return Galactocentric(**FRAME_PRESETS["hawkins2023"])


def get_frame(frame: str | Galactocentric | None = None) -> Galactocentric:
    """A ``Galactocentric`` instance from ``None`` (the paper's), a preset name
    (``"hawkins2023"`` or one of astropy's: ``"pre-v4.0"``, ``"v4.0"``,
    ``"latest"``) or a ``Galactocentric`` instance (returned as is).

    Examples
    --------
    >>> from fastgrad.frames import get_frame
    >>> print(get_frame().galcen_distance)  # None: the paper's frame
    8.27 kpc
    >>> print(get_frame("v4.0").galcen_distance)  # one of astropy's presets
    8.122 kpc
    """
    if frame is None:
        return paper_frame()
    if isinstance(frame, Galactocentric):
        return frame
    if isinstance(frame, str):
        if frame in FRAME_PRESETS:
            return Galactocentric(**FRAME_PRESETS[frame])
        try:
            params = galactocentric_frame_defaults.get_from_registry(frame)["parameters"]
        except (KeyError, ValueError) as exc:
            raise ValueError(
                f"unknown frame preset {frame!r}: use one of {sorted(FRAME_PRESETS)} or "
                "astropy's 'pre-v4.0', 'v4.0', 'latest'"
            ) from exc
        return Galactocentric(**params)
    raise TypeError(
        f"frame must be None, a preset name or an astropy Galactocentric, got {type(frame).__name__}"
    )


def frame_constants(
    frame: str | Galactocentric | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The affine map ICRS -> ``frame`` as the kernels use it.

    Astropy's transform is x_gc = A x_icrs + t and v_gc = A v_icrs + v. A, t and
    v are read off astropy by transforming the ICRS origin and unit vectors.

    Returns
    -------
    A : (3, 3) ndarray
        rotation (dimensionless).
    t : (3,) ndarray
        Galactocentric position of the Solar System barycentre, kpc.
    v : (3,) ndarray
        Galactocentric velocity of the Solar System barycentre, km/s.

    Examples
    --------
    The Solar System barycentre sits at x = -8.27 kpc, 29 pc above the plane,
    and moves with the frame's ``galcen_v_sun``:

    >>> from fastgrad.frames import frame_constants
    >>> A, t, v = frame_constants()
    >>> print(", ".join(f"{x:.3f}" for x in t))
    -8.270, 0.000, 0.029
    >>> print(", ".join(f"{x:.2f}" for x in v))
    12.90, 245.00, 7.78
    """
    frame = get_frame(frame)
    A, t, v = _frame_constants_cached(_frame_key(frame))
    return A.copy(), t.copy(), v.copy()


def _frame_key(frame):
    """The numbers that define a Galactocentric frame, hashable."""
    return (
        float(frame.galcen_distance.to_value(u.kpc)),
        float(frame.z_sun.to_value(u.kpc)),
        tuple(float(x) for x in _v_sun(frame)),
        float(frame.roll.to_value(u.deg)),
        float(frame.galcen_coord.ra.to_value(u.deg)),
        float(frame.galcen_coord.dec.to_value(u.deg)),
    )


@functools.lru_cache(maxsize=16)
def _frame_constants_cached(key):
    # astropy's transform costs ~10 ms: once per frame, not once per call
    # (the Dask partitions call the transform thousands of times)
    d, z, vsun, roll, ra, dec = key
    frame = Galactocentric(
        galcen_distance=d * u.kpc,
        z_sun=z * u.kpc,
        galcen_v_sun=CartesianDifferential(list(vsun) * (u.km / u.s)),
        roll=roll * u.deg,
        galcen_coord=ICRS(ra=ra * u.deg, dec=dec * u.deg),
    )
    pts = np.array([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    rep = CartesianRepresentation(
        pts * u.kpc, differentials=CartesianDifferential(np.zeros((3, 4)) * (u.km / u.s))
    )
    gc = ICRS(rep).transform_to(frame)
    P = gc.cartesian.xyz.to_value(u.kpc)
    V = gc.velocity.d_xyz.to_value(u.km / u.s)
    t = P[:, 0].copy()
    A = P[:, 1:] - t[:, None]
    v = V[:, 0].copy()
    return np.ascontiguousarray(A), t, v


def frame_metadata(frame: str | Galactocentric | None = None) -> dict[str, Any]:
    """A JSON-friendly description of ``frame`` for output metadata.

    Examples
    --------
    >>> from fastgrad.frames import frame_metadata
    >>> meta = frame_metadata()
    >>> meta["preset"], meta["galcen_distance_kpc"], meta["galcen_v_sun_kms"]
    ('hawkins2023', 8.27, [12.9, 245.0, 7.78])
    >>> frame_metadata("v4.0")["preset"]
    'v4.0'
    """
    frame = get_frame(frame)
    name = None
    for key, params in FRAME_PRESETS.items():
        ref = Galactocentric(**params)
        if _same_frame(ref, frame):
            name = key
    if name is None:
        for key in ("v4.0", "pre-v4.0"):
            if _same_frame(get_frame(key), frame):
                name = key
                break
    vsun = _v_sun(frame)
    return {
        "preset": name or "custom",
        "galcen_distance_kpc": float(frame.galcen_distance.to_value(u.kpc)),
        "z_sun_kpc": float(frame.z_sun.to_value(u.kpc)),
        "galcen_v_sun_kms": [float(x) for x in vsun],
        "roll_deg": float(frame.roll.to_value(u.deg)),
        "galcen_ra_deg": float(frame.galcen_coord.ra.to_value(u.deg)),
        "galcen_dec_deg": float(frame.galcen_coord.dec.to_value(u.deg)),
    }


def _same_frame(a, b):
    return (
        u.isclose(a.galcen_distance, b.galcen_distance)
        and u.isclose(a.z_sun, b.z_sun)
        and np.allclose(_v_sun(a), _v_sun(b))
        and u.isclose(a.roll, b.roll)
        and u.isclose(a.galcen_coord.ra, b.galcen_coord.ra)
        and u.isclose(a.galcen_coord.dec, b.galcen_coord.dec)
    )


def _v_sun(frame):
    """galcen_v_sun in km/s (astropy stores a CartesianDifferential or Representation)."""
    v = frame.galcen_v_sun
    xyz = v.d_xyz if hasattr(v, "d_xyz") else v.xyz
    return xyz.to_value(u.km / u.s)
