"""Kinematic thin-disk / thick-disk / halo membership and the paper's halo cut.

docs/method.md section 4. Hawkins (2023, section 2.4) uses "the method outlined in
Ramirez et al. (2013)" without parameters; fastgrad's reading is the Bensby et
al. (2003) recipe: each population is a Gaussian velocity ellipsoid in the
velocities relative to the local standard of rest (U, V, W),

    f = X * k * exp(-U^2 / 2 sU^2 - (V - V_asym)^2 / 2 sV^2 - W^2 / 2 sW^2),
    k = 1 / ((2 pi)^(3/2) sU sV sW),

and a star's membership probabilities are the f normalised to sum to one. The
ellipsoids are a swappable :class:`PopulationModel` (default
:data:`BENSBY2003`).

Which U, V, W (``kinematics=``):

- ``"local"`` (default, :func:`local_lsr_velocities`): relative to the LSR
  **at the star's own position**. The LSR's velocity at the Sun (the frame's
  ``galcen_v_sun`` minus the solar peculiar motion) is carried around the
  Galactic centre to the star's azimuth, and the star's velocity relative to
  it is taken along the star's own axes: U towards the Galactic centre
  (``-v_R``), V along Galactic rotation, W to the North Galactic Pole. With
  the LSR's components at the Sun ``(U_lsr, V_lsr, W_lsr)``, V_lsr = v_c the
  circular speed (232.76 km/s in the paper's frame with Schoenrich et al.
  2010): ``U = -v_R - U_lsr``, ``V = v_rot - v_c``, ``W = v_z - W_lsr``. At
  the Sun this is the heliocentric reading below; kpc away a circular orbit
  stays at (U, V, W) ~ 0 instead of looking hot.
- ``"heliocentric"``: the simple heliocentric Cartesian components relative
  to the LSR (:func:`lsr_velocities`): the star's Galactocentric velocity
  minus the Sun's, plus the Sun's peculiar motion, **not rotated to the
  star's position** (the convention of Bensby et al., whose stars are within
  ~100 pc). Kept for comparison and reproducibility of earlier runs.

Astropy's Galactocentric axes are tilted from the Galactic (l, b) axes by the
Sun's height (~0.2 deg for z_sun = 29 pc); the difference is below 0.4 % of
the velocity and is ignored.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import astropy.units as u
import numpy as np
from astropy.table import Column, Table

from . import paper
from ._validation import as_float_array, as_scalar, as_table, check_lengths, is_dataframe
from .cuts import HALO_CUT, apply_cuts
from .frames import frame_constants, frame_metadata, get_frame

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt
    import pandas as pd
    from astropy.coordinates import Galactocentric


__all__ = [
    "Population",
    "PopulationModel",
    "BENSBY2003",
    "SCHOENRICH2010_SOLAR_MOTION",
    "KINEMATICS",
    "lsr_velocities",
    "local_lsr_velocities",
    "uvw_probabilities",
    "kinematic_probabilities",
    "add_kinematic_probabilities",
    "halo_cut",
    "HALO_CUT",
]

_KMS = u.km / u.s

#: The Sun's peculiar motion relative to the LSR, (U, V, W) in km/s
#: (Schoenrich, Binney & Dehnen 2010; docs/method.md section 4, fastgrad's choice).
SCHOENRICH2010_SOLAR_MOTION = (11.1, 12.24, 7.25) * _KMS

#: The readings of U, V, W (docs/method.md section 4): relative to the LSR at
#: each star's position (default) or the heliocentric components.
KINEMATICS = ("local", "heliocentric")

#: Speeds are clipped to this (km/s) before squaring so that the exponent
#: stays finite; membership is already 0 or 1 far below it.
_MAX_SPEED = 1e100


@dataclass(frozen=True)
class Population:
    """One kinematic population: a Gaussian velocity ellipsoid relative to the LSR.

    Attributes
    ----------
    name : str
        Gives the output column ``p_<name>``.
    fraction : float
        X, the population's fraction of stars in the solar neighbourhood (> 0).
    sigma_u, sigma_v, sigma_w : float or Quantity
        Velocity dispersions, km/s (> 0); a Quantity is converted to km/s
        and stored as a float.
    v_asym : float or Quantity
        Asymmetric drift (mean V relative to the LSR), km/s.
    u_asym : float or Quantity
        Mean U, km/s (0 for the disks and halo; non-zero for streams).

    Every value must be one finite real number: an error names the
    population and the field.

    Examples
    --------
    >>> from fastgrad import Population
    >>> stream = Population("stream", fraction=0.01, sigma_u=10.0, sigma_v=10.0, sigma_w=10.0,
    ...                     v_asym=-30.0, u_asym=20.0)
    >>> stream.name, stream.sigma_u, stream.v_asym
    ('stream', 10.0, -30.0)
    """

    name: str
    fraction: float
    sigma_u: float
    sigma_v: float
    sigma_w: float
    v_asym: float
    u_asym: float = 0.0

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"population name must be an identifier, got {self.name!r}")
        # numbers (km/s) or Quantities, stored as floats; errors name the field
        where = f"population {self.name!r}: "
        object.__setattr__(
            self,
            "fraction",
            as_scalar(
                where + "fraction", self.fraction, u.dimensionless_unscaled, exclusive_minimum=0.0
            ),
        )
        for s in ("sigma_u", "sigma_v", "sigma_w"):
            object.__setattr__(
                self, s, as_scalar(where + s, getattr(self, s), _KMS, exclusive_minimum=0.0)
            )
        for s in ("v_asym", "u_asym"):
            object.__setattr__(self, s, as_scalar(where + s, getattr(self, s), _KMS))


@dataclass(frozen=True)
class PopulationModel:
    """A named set of :class:`Population` ellipsoids with its reference.

    Examples
    --------
    The default, Bensby et al. (2003)'s three ellipsoids:

    >>> from fastgrad import BENSBY2003
    >>> for p in BENSBY2003.populations:
    ...     print(p.name, p.fraction, (p.sigma_u, p.sigma_v, p.sigma_w), p.v_asym)
    thin 0.94 (35.0, 20.0, 16.0) -15.0
    thick 0.06 (67.0, 38.0, 35.0) -46.0
    halo 0.0015 (160.0, 90.0, 90.0) -220.0
    """

    name: str
    populations: tuple
    reference: str = ""

    def __post_init__(self):
        object.__setattr__(self, "populations", tuple(self.populations))
        if not self.populations:
            raise ValueError("a PopulationModel needs at least one Population")
        names = [p.name for p in self.populations]
        if len(set(names)) != len(names):
            raise ValueError(f"population names must be unique, got {names}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.populations)


#: Bensby, Feltzing & Lundstrom (2003, A&A 410, 527), Table 1: fractions X,
#: dispersions and asymmetric drifts in km/s (docs/method.md section 4).
BENSBY2003 = PopulationModel(
    "bensby2003",
    (
        Population("thin", 0.94, 35.0, 20.0, 16.0, -15.0),
        Population("thick", 0.06, 67.0, 38.0, 35.0, -46.0),
        Population("halo", 0.0015, 160.0, 90.0, 90.0, -220.0),
    ),
    "Bensby, Feltzing & Lundstrom 2003, A&A 410, 527, Table 1",
)


def _model(populations):
    if isinstance(populations, PopulationModel):
        return populations
    return PopulationModel("custom", tuple(populations))


def _length(value):
    """len(value), or None for a scalar (a Quantity scalar has __len__ but raises)."""
    try:
        return len(value)
    except TypeError:
        return None


def _solar_motion(solar_motion):
    what = f"solar_motion must be three finite numbers (U, V, W) in km/s, got {solar_motion!r}"
    if isinstance(solar_motion, str) or _length(solar_motion) != 3:
        raise ValueError(what)
    return np.array(
        [as_scalar(f"solar_motion[{j}] ({c})", solar_motion[j], _KMS) for j, c in enumerate("UVW")]
    )


def _frame_v_sun(frame):
    """galcen_v_sun of an astropy Galactocentric frame, km/s."""
    v = frame.galcen_v_sun
    xyz = v.d_xyz if hasattr(v, "d_xyz") else v.xyz
    return np.asarray(xyz.to_value(_KMS), dtype=np.float64)


def lsr_velocities(
    vx: npt.ArrayLike,
    vy: npt.ArrayLike,
    vz: npt.ArrayLike,
    *,
    frame: str | Galactocentric | None = None,
    solar_motion: u.Quantity | Sequence[float] = SCHOENRICH2010_SOLAR_MOTION,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Heliocentric velocities relative to the LSR from Galactocentric ones
    (``kinematics="heliocentric"``; docs/method.md section 4).

    ``U = vx - vx_sun + U_sun``, ``V = vy - vy_sun + V_sun``,
    ``W = vz - vz_sun + W_sun``, with ``(vx, vy, vz)_sun`` the frame's
    ``galcen_v_sun`` and ``(U, V, W)_sun`` the solar peculiar motion. U points
    to the Galactic centre (astropy's +x: the Sun is at x < 0), V along
    rotation, W to the North Galactic Pole; the components are not rotated to
    the star's position.

    Parameters
    ----------
    vx, vy, vz : array-like or Quantity
        Galactocentric Cartesian velocities in ``frame`` (km/s), e.g. the
        ``vx, vy, vz`` of :func:`fastgrad.galactocentric`.
    frame : None, str or astropy.coordinates.Galactocentric
        The frame the velocities are in (``None``: the paper's,
        :func:`fastgrad.paper_frame`).
    solar_motion : Quantity or sequence of 3 floats
        (U, V, W) of the Sun relative to the LSR, km/s (default Schoenrich et
        al. 2010: 11.1, 12.24, 7.25).

    Returns
    -------
    U, V, W : ndarray
        km/s.

    Examples
    --------
    A star moving with the Sun has the Sun's own peculiar motion (Schoenrich et
    al. 2010) relative to the LSR:

    >>> from fastgrad import lsr_velocities
    >>> U, V, W = lsr_velocities([12.9], [245.0], [7.78])
    >>> print(f"U={U[0]:.2f} V={V[0]:.2f} W={W[0]:.2f} km/s")
    U=11.10 V=12.24 W=7.25 km/s
    """
    frame = get_frame(frame)
    vx = as_float_array("vx", vx, _KMS)
    vy = as_float_array("vy", vy, _KMS)
    vz = as_float_array("vz", vz, _KMS)
    check_lengths(vx=vx, vy=vy, vz=vz)
    v_sun = _frame_v_sun(frame)
    pec = _solar_motion(solar_motion)
    return vx - v_sun[0] + pec[0], vy - v_sun[1] + pec[1], vz - v_sun[2] + pec[2]


def local_lsr_velocities(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    vx: npt.ArrayLike,
    vy: npt.ArrayLike,
    vz: npt.ArrayLike,
    *,
    frame: str | Galactocentric | None = None,
    solar_motion: u.Quantity | Sequence[float] = SCHOENRICH2010_SOLAR_MOTION,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Velocities relative to the LSR at each star's own position.

    docs/method.md section 4. The LSR's velocity at the Sun, the frame's
    ``galcen_v_sun`` minus ``solar_motion``, taken along the Sun's own axes,
    is ``(U_lsr, V_lsr, W_lsr)`` (V_lsr = v_c, the circular speed); the
    star's velocity along its own axes (towards the Galactic centre, along
    Galactic rotation, to the North Galactic Pole) minus that:

        U = -v_R - U_lsr,   V = v_rot - v_c,   W = v_z - W_lsr,

    with ``v_R = (x vx + y vy) / R`` and ``v_rot = (y vx - x vy) / R``, the
    speed along rotation (astropy's Galactocentric frame rotates towards -phi:
    the Sun, at x < 0, moves to +y). At the Sun's position this is
    :func:`lsr_velocities`.

    Parameters
    ----------
    x, y : array-like or Quantity
        Galactocentric positions in ``frame`` (kpc), e.g. the ``x, y`` of
        :func:`fastgrad.galactocentric`; only their direction is used.
    vx, vy, vz : array-like or Quantity
        Galactocentric Cartesian velocities in ``frame`` (km/s).
    frame : None, str or astropy.coordinates.Galactocentric
        The frame (``None``: the paper's, :func:`fastgrad.paper_frame`).
    solar_motion : Quantity or sequence of 3 floats
        (U, V, W) of the Sun relative to the LSR, km/s (default Schoenrich et
        al. 2010: 11.1, 12.24, 7.25).

    Returns
    -------
    U, V, W : ndarray
        km/s. NaN where a coordinate is not finite or the star is on the
        z axis (R = 0, no azimuth).

    Examples
    --------
    The Sun's velocity turned a quarter of the way round the Galaxy, at
    (x, y) = (0, 8.27) kpc, is again the solar motion relative to the local
    LSR (:func:`lsr_velocities`, which does not rotate, gives U=243.2, V=-245.7):

    >>> from fastgrad import local_lsr_velocities
    >>> U, V, W = local_lsr_velocities([0.0], [8.27], [245.0], [-12.9], [7.78])
    >>> print(f"U={U[0]:.2f} V={V[0]:.2f} W={W[0]:.2f} km/s")
    U=11.10 V=12.24 W=7.25 km/s
    """
    frame = get_frame(frame)
    x = as_float_array("x", x, u.kpc)
    y = as_float_array("y", y, u.kpc)
    vx = as_float_array("vx", vx, _KMS)
    vy = as_float_array("vy", vy, _KMS)
    vz = as_float_array("vz", vz, _KMS)
    check_lengths(x=x, y=y, vx=vx, vy=vy, vz=vz)
    u_lsr, v_lsr, w_lsr = _lsr_at_sun(frame, solar_motion)
    R = np.hypot(x, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        cos, sin = x / R, y / R  # R = 0 or infinite: NaN, and so NaN probabilities
    return -(cos * vx + sin * vy) - u_lsr, (sin * vx - cos * vy) - v_lsr, vz - w_lsr


def _lsr_at_sun(frame, solar_motion):
    """(U, V, W) of the LSR at the Sun along the Sun's own axes, km/s."""
    lsr = _frame_v_sun(frame) - _solar_motion(solar_motion)
    sun = frame_constants(frame)[1]  # the Sun's Galactocentric position (kpc)
    r_sun = math.hypot(sun[0], sun[1])
    cos, sin = sun[0] / r_sun, sun[1] / r_sun
    return (-(cos * lsr[0] + sin * lsr[1]), sin * lsr[0] - cos * lsr[1], float(lsr[2]))


def uvw_probabilities(
    U: npt.ArrayLike,
    V: npt.ArrayLike,
    W: npt.ArrayLike,
    *,
    populations: PopulationModel | Sequence[Population] = BENSBY2003,
) -> Table:
    """Membership probabilities from velocities relative to the LSR.

    Parameters
    ----------
    U, V, W : array-like or Quantity
        Velocities relative to the LSR, km/s (U towards the Galactic centre,
        V along rotation, W to the North Galactic Pole): either reading of
        :func:`kinematic_probabilities` (:func:`local_lsr_velocities` or
        :func:`lsr_velocities`).
    populations : PopulationModel or sequence of Population
        Default :data:`BENSBY2003`.

    Returns
    -------
    astropy.table.Table
        One column ``p_<name>`` per population (thin, thick, halo by default),
        summing to 1 in every row. The sum is normalised in log space
        (log-sum-exp), so stars far from every ellipsoid get 0 and 1, not NaN;
        rows with a NaN, infinite or masked velocity get NaN. ``meta['populations']``
        names the model.

    Examples
    --------
    A star at rest in the LSR is thin disk; one lagging by 250 km/s is halo:

    >>> from fastgrad import uvw_probabilities
    >>> p = uvw_probabilities([0.0, 0.0], [0.0, -250.0], [0.0, 0.0])
    >>> for row in p:
    ...     print(f"thin={row['p_thin']:.4f} thick={row['p_thick']:.4f} halo={row['p_halo']:.4f}")
    thin=0.9949 thick=0.0051 halo=0.0000
    thin=0.0000 thick=0.0003 halo=0.9997
    """
    model = _model(populations)
    U = as_float_array("U", U, _KMS)
    V = as_float_array("V", V, _KMS)
    W = as_float_array("W", W, _KMS)
    n = check_lengths(U=U, V=V, W=W)
    finite = np.isfinite(U) & np.isfinite(V) & np.isfinite(W)
    # clip so the squares stay finite: ordering of populations is kept
    Uc, Vc, Wc = (np.clip(a, -_MAX_SPEED, _MAX_SPEED) for a in (U, V, W))
    log_f = np.empty((len(model.populations), n))
    for k, p in enumerate(model.populations):
        log_norm = (
            math.log(p.fraction)
            - 1.5 * math.log(2.0 * math.pi)
            - math.log(p.sigma_u)
            - math.log(p.sigma_v)
            - math.log(p.sigma_w)
        )
        q = ((Uc - p.u_asym) / p.sigma_u) ** 2
        q += ((Vc - p.v_asym) / p.sigma_v) ** 2
        q += (Wc / p.sigma_w) ** 2
        np.multiply(q, -0.5, out=log_f[k])
        log_f[k] += log_norm
    log_f -= log_f.max(axis=0)
    np.exp(log_f, out=log_f)
    log_f /= log_f.sum(axis=0)
    log_f[:, ~finite] = np.nan
    out = Table()
    for k, p in enumerate(model.populations):
        out[f"p_{p.name}"] = Column(log_f[k], description=f"probability of the {p.name} population")
    out.meta["populations"] = {
        "model": model.name,
        "reference": model.reference,
        "populations": [asdict(p) for p in model.populations],
    }
    return out


def _kinematics(kinematics):
    if kinematics not in KINEMATICS:
        raise ValueError(f"kinematics must be one of {KINEMATICS}, got {kinematics!r}")
    return kinematics


def _from_table(table, frame, kinematics):
    """The columns :func:`kinematic_probabilities` reads from a table, and its frame."""
    table = as_table("table", table)
    needed = ("x", "y", "vx", "vy", "vz") if kinematics == "local" else ("vx", "vy", "vz")
    missing = [c for c in needed if c not in table.colnames]
    if missing:
        hint = (
            " (kinematics='local' needs the Galactocentric positions x, y as well; "
            "kinematics='heliocentric' reads the velocities only)"
            if kinematics == "local" and not {"vx", "vy", "vz"} - set(table.colnames)
            else ""
        )
        raise ValueError(
            f"table: column(s) {missing} missing; run fastgrad.galactocentric first{hint}"
        )
    if frame is None and isinstance(table.meta.get("frame"), dict):
        frame = _frame_from_meta(table.meta["frame"])
    return {c: table[c] for c in needed}, frame


def kinematic_probabilities(
    vx: npt.ArrayLike | Table | pd.DataFrame,
    vy: npt.ArrayLike | None = None,
    vz: npt.ArrayLike | None = None,
    *,
    x: npt.ArrayLike | None = None,
    y: npt.ArrayLike | None = None,
    frame: str | Galactocentric | None = None,
    solar_motion: u.Quantity | Sequence[float] = SCHOENRICH2010_SOLAR_MOTION,
    populations: PopulationModel | Sequence[Population] = BENSBY2003,
    kinematics: str = "local",
) -> Table:
    """Thin/thick-disk and halo probabilities from Galactocentric coordinates.

    docs/method.md section 4: U, V, W relative to the LSR and the Bensby et
    al. (2003) ellipsoids (:func:`uvw_probabilities`), from the stars'
    nominal (central-value) coordinates.

    Parameters
    ----------
    vx : array-like, Quantity, astropy.table.Table or pandas.DataFrame
        Galactocentric v_x in ``frame`` (km/s); or a table with columns
        ``x, y, vx, vy, vz`` (kpc, km/s), e.g. what
        :func:`fastgrad.galactocentric` or :func:`fastgrad.mc_galactocentric`
        return (then ``vy, vz, x, y`` are not given, and ``frame=None`` takes
        the frame recorded in ``table.meta['frame']``).
    vy, vz : array-like or Quantity
        Galactocentric v_y, v_z in ``frame``, km/s.
    x, y : array-like or Quantity, optional
        Galactocentric positions in ``frame`` (kpc): needed by
        ``kinematics="local"``.
    frame : None, str or astropy.coordinates.Galactocentric
        The frame of the coordinates (``None``: the paper's).
    solar_motion : Quantity or sequence of 3 floats
        Sun's (U, V, W) relative to the LSR, km/s.
    populations : PopulationModel or sequence of Population
    kinematics : {"local", "heliocentric"}
        ``"local"`` (default): U, V, W relative to the LSR at each star's
        position, along its own axes (:func:`local_lsr_velocities`).
        ``"heliocentric"``: the heliocentric U, V, W not rotated to the star
        (:func:`lsr_velocities`), as fastgrad did before; misreads circular
        orbits kpc from the Sun as hot ones (docs/method.md section 4).

    Returns
    -------
    astropy.table.Table
        ``U, V, W`` (km/s) and ``p_thin, p_thick, p_halo`` (one ``p_<name>``
        per population; they sum to 1; NaN where a coordinate is missing).
        ``meta`` records the kinematics, the frame, the solar motion and the
        population model.

    Raises
    ------
    ValueError
        ``kinematics="local"`` without positions (``x, y`` or the table's
        columns), or an unknown ``kinematics``.

    Examples
    --------
    Two stars at the Sun's position: one moving with the Sun, one lagging
    200 km/s behind it:

    >>> from fastgrad import kinematic_probabilities
    >>> p = kinematic_probabilities([12.9, 12.9], [245.0, 45.0], [7.78, 7.78],
    ...                             x=[-8.27, -8.27], y=[0.0, 0.0])
    >>> for row in p:
    ...     print(f"V={row['V']:.2f} km/s thin={row['p_thin']:.3f} halo={row['p_halo']:.3f}")
    V=12.24 km/s thin=0.993 halo=0.000
    V=-187.76 km/s thin=0.000 halo=0.636
    """
    kinematics = _kinematics(kinematics)
    if hasattr(vx, "colnames") or is_dataframe(vx):
        if any(v is not None for v in (vy, vz, x, y)):
            raise TypeError(
                "kinematic_probabilities: with a table, do not pass vy, vz, x or y "
                "(they are read from its columns)"
            )
        cols, frame = _from_table(vx, frame, kinematics)
        vx, vy, vz, x, y = (cols["vx"], cols["vy"], cols["vz"], cols.get("x"), cols.get("y"))
    elif vy is None or vz is None:
        raise TypeError("kinematic_probabilities: give vx, vy and vz, or one table")
    frame = get_frame(frame)
    if kinematics == "local":
        if x is None or y is None:
            raise ValueError(
                "kinematics='local' needs the stars' Galactocentric positions: "
                "pass x= and y= (kpc), or the table of fastgrad.galactocentric; "
                "kinematics='heliocentric' reads the velocities only"
            )
        U, V, W = local_lsr_velocities(x, y, vx, vy, vz, frame=frame, solar_motion=solar_motion)
        where = "at the star's position, along its own axes"
    else:
        U, V, W = lsr_velocities(vx, vy, vz, frame=frame, solar_motion=solar_motion)
        where = "at the Sun, heliocentric axes (not rotated to the star)"
    probs = uvw_probabilities(U, V, W, populations=populations)
    out = Table()
    for name, values, desc in (
        ("U", U, "towards the Galactic centre"),
        ("V", V, "along Galactic rotation"),
        ("W", W, "towards the North Galactic Pole"),
    ):
        out[name] = Column(
            values, unit=_KMS, description=f"velocity relative to the LSR {where}, {desc}"
        )
    for name in probs.colnames:
        out[name] = probs[name]
    out.meta["kinematics"] = kinematics
    out.meta["populations"] = probs.meta["populations"]
    out.meta["solar_motion_kms"] = [float(x) for x in _solar_motion(solar_motion)]
    out.meta["frame"] = frame_metadata(frame)
    return out


def add_kinematic_probabilities(
    table: Table | pd.DataFrame,
    *,
    frame: str | Galactocentric | None = None,
    solar_motion: u.Quantity | Sequence[float] = SCHOENRICH2010_SOLAR_MOTION,
    populations: PopulationModel | Sequence[Population] = BENSBY2003,
    kinematics: str = "local",
    copy: bool = True,
) -> Table:
    """Add ``U, V, W`` and ``p_<population>`` columns to a table of Galactocentric coordinates.

    Parameters
    ----------
    table : astropy.table.Table or pandas.DataFrame
        With Galactocentric ``x, y`` (kpc; not read by
        ``kinematics="heliocentric"``) and ``vx, vy, vz`` (km/s), e.g. from
        :func:`fastgrad.galactocentric` joined to the catalogue.
    frame : None, str or astropy.coordinates.Galactocentric
        The frame of the coordinates. ``None``: the paper's, unless
        ``table.meta['frame']`` (written by :mod:`fastgrad.transform`) names
        another, which is then used.
    solar_motion, populations, kinematics :
        As in :func:`kinematic_probabilities` (default ``"local"``: each
        star's own frame, docs/method.md section 4).
    copy : bool
        ``False`` adds the columns to ``table`` itself.

    Returns
    -------
    astropy.table.Table
        ``meta['kinematics']``: the kinematics, population model, solar
        motion and frame used.

    Examples
    --------
    >>> import fastgrad
    >>> s = fastgrad.make_survey("gaia_giants", 500, seed=1)
    >>> stars = fastgrad.add_distances(fastgrad.join_distances(s["gaia"], s["bailer_jones"]))
    >>> t = fastgrad.add_kinematic_probabilities(fastgrad.add_galactocentric(stars, seed=1))
    >>> for row in t[:2]:
    ...     print(f"thin={row['p_thin']:.3f} thick={row['p_thick']:.3f} halo={row['p_halo']:.2g}")
    thin=0.995 thick=0.005 halo=...
    thin=0.965 thick=0.035 halo=...
    """
    if copy is False and not hasattr(table, "colnames"):
        raise TypeError(
            "add_kinematic_probabilities: copy=False needs an astropy Table; a "
            "pandas DataFrame is converted to a new Table (use the returned table)"
        )
    table = as_table("table", table)
    result = kinematic_probabilities(
        table,
        frame=frame,
        solar_motion=solar_motion,
        populations=populations,
        kinematics=kinematics,
    )
    out = Table(table, copy=False) if copy else table
    for name in result.colnames:
        out[name] = result[name]
    out.meta["kinematics"] = {
        "velocities": result.meta["kinematics"],
        **{k: result.meta[k] for k in ("populations", "solar_motion_kms", "frame")},
    }
    return out


def _frame_from_meta(meta):
    """A Galactocentric frame rebuilt from :func:`fastgrad.frames.frame_metadata`."""
    from astropy.coordinates import ICRS, CartesianDifferential, Galactocentric

    try:
        return Galactocentric(
            galcen_distance=meta["galcen_distance_kpc"] * u.kpc,
            z_sun=meta["z_sun_kpc"] * u.kpc,
            galcen_v_sun=CartesianDifferential(list(meta["galcen_v_sun_kms"]) * _KMS),
            roll=meta.get("roll_deg", 0.0) * u.deg,
            galcen_coord=ICRS(ra=meta["galcen_ra_deg"] * u.deg, dec=meta["galcen_dec_deg"] * u.deg),
        )
    except (KeyError, TypeError):
        return None


def halo_cut(
    table: Table | pd.DataFrame,
    p_max: float = paper.P_HALO_MAX,
    *,
    frame: str | Galactocentric | None = None,
    solar_motion: u.Quantity | Sequence[float] = SCHOENRICH2010_SOLAR_MOTION,
    populations: PopulationModel | Sequence[Population] = BENSBY2003,
    kinematics: str = "local",
    consume: bool = False,
) -> tuple[Table, Table]:
    """Drop probable halo stars: keep ``p_halo < p_max`` (the paper: 1 %).

    Parameters
    ----------
    table : astropy.table.Table or pandas.DataFrame
        With ``p_halo``, or with ``x, y, vx, vy, vz`` from which it is computed
        (:func:`add_kinematic_probabilities` with ``frame``, ``solar_motion``,
        ``populations``, ``kinematics``).
    p_max : float
        Stars with ``p_halo >= p_max`` or NaN go; a number in [0, 1]
        (0 removes every star). Default: the paper's 0.01
        (:data:`fastgrad.paper.P_HALO_MAX`).
    consume : bool, optional
        Move the columns out of ``table`` while copying the kept rows
        (:func:`fastgrad.apply_cuts`): less new memory for a wide table;
        ``table`` is left with no columns. Default False.

    Returns
    -------
    kept : astropy.table.Table
    report : astropy.table.Table
        As :func:`fastgrad.cuts.apply_cuts`: one row ``halo``
        (:data:`fastgrad.cuts.HALO_CUT`) with
        ``n_before, n_removed, n_after, n_nonfinite``.

    Examples
    --------
    >>> import fastgrad
    >>> s = fastgrad.make_survey("gaia_giants", 500, seed=1)
    >>> stars = fastgrad.add_distances(fastgrad.join_distances(s["gaia"], s["bailer_jones"]))
    >>> kept, report = fastgrad.halo_cut(fastgrad.add_galactocentric(stars, n_samples=100, seed=1))
    >>> report["cut", "n_before", "n_removed", "n_after"].pprint()
    cut  n_before n_removed n_after
    ---- -------- --------- -------
    halo      497         8     489
    """
    p_max = as_scalar("p_max", p_max, u.dimensionless_unscaled, minimum=0.0, maximum=1.0)
    table = as_table("table", table)
    if "p_halo" not in table.colnames:
        table = add_kinematic_probabilities(
            table,
            frame=frame,
            solar_motion=solar_motion,
            populations=populations,
            kinematics=kinematics,
            copy=not consume,  # consumed: the input's columns and the new ones go
        )
        if "p_halo" not in table.colnames:
            raise ValueError("populations has no population named 'halo'")
    return apply_cuts(table, [HALO_CUT], thresholds={"p_halo_max": p_max}, consume=consume)
