"""Spiral-arm geometry: Reid et al. (2014) and Reid et al. (2019).

docs/method.md section 6.  Log-periodic arms,

    ln(R / R_ref) = -(beta - beta_ref) tan(psi),

beta (rad inside the formula) the Galactocentric azimuth measured from the
Sun's direction, increasing with Galactic rotation: the same angle as
fastgrad's phi = atan2(y, -x).  In astropy's right-handed Galactocentric frame
(the Sun at x = -R0) a point of an arm is x = -R cos(beta), y = R sin(beta).

* ``"reid2014"`` (Reid et al. 2014, ApJ 783, 130, Table 2; R0 = 8.34 kpc):
  one pitch angle per arm.  The paper (Hawkins 2023) draws these.
* ``"reid2019"`` (Reid et al. 2019, ApJ 885, 131, Table 2; R0 = 8.15 kpc):
  a kink at (beta_kink, R_kink) with pitch angle psi_lt below and psi_gt above
  beta_kink.

Radii are the models' own (their R0).  ``R0=...`` rescales every radius by
R0 / R0_model, so the arms sit where the model puts them relative to the Sun
in an analysis frame with another R0 (fastgrad's choice, docs/method.md section 6).
"""

from __future__ import annotations

from collections import namedtuple
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from typing import Any

    import numpy.typing as npt


__all__ = ["ARM_MODELS", "ArmCurve", "arm_names", "arm_parameters", "arm_radius", "arm_curve"]

#: Reid et al. 2014, Table 2, as docs/method.md section 6 transcribes it (checked
#: there against two public copies; one has a wrong Perseus pitch of 9.9 deg).
#: Angles in degrees, lengths in kpc; width is the arm's (Gaussian) width.
_REID2014 = {
    "Scutum": dict(R_ref=5.0, beta_ref=27.6, pitch=19.8, width=0.17, beta_min=3.0, beta_max=101.0),
    "Sagittarius": dict(
        R_ref=6.6, beta_ref=25.6, pitch=6.9, width=0.26, beta_min=-2.0, beta_max=68.0
    ),
    "Local": dict(R_ref=8.4, beta_ref=8.9, pitch=12.8, width=0.33, beta_min=-8.0, beta_max=27.0),
    "Perseus": dict(R_ref=9.9, beta_ref=14.2, pitch=9.4, width=0.38, beta_min=-21.0, beta_max=88.0),
    "Outer": dict(R_ref=13.0, beta_ref=18.6, pitch=13.8, width=0.63, beta_min=-6.0, beta_max=56.0),
}

#: Reid et al. 2019, Table 2 (docs/method.md section 6): the reference point is the
#: kink, pitch_lt applies for beta < beta_kink and pitch_gt above it.
_REID2019 = {
    "Norma": dict(
        R_ref=4.46,
        beta_ref=18.0,
        pitch_lt=-1.0,
        pitch_gt=19.5,
        width=0.14,
        beta_min=5.0,
        beta_max=54.0,
    ),
    "Sct-Cen": dict(
        R_ref=4.91,
        beta_ref=23.0,
        pitch_lt=14.1,
        pitch_gt=12.1,
        width=0.23,
        beta_min=0.0,
        beta_max=104.0,
    ),
    "Sgr-Car": dict(
        R_ref=6.04,
        beta_ref=24.0,
        pitch_lt=17.1,
        pitch_gt=1.0,
        width=0.27,
        beta_min=2.0,
        beta_max=97.0,
    ),
    "Local": dict(
        R_ref=8.26,
        beta_ref=9.0,
        pitch_lt=11.4,
        pitch_gt=11.4,
        width=0.31,
        beta_min=-8.0,
        beta_max=34.0,
    ),
    "Perseus": dict(
        R_ref=8.87,
        beta_ref=40.0,
        pitch_lt=10.3,
        pitch_gt=8.7,
        width=0.35,
        beta_min=-23.0,
        beta_max=115.0,
    ),
    "Outer": dict(
        R_ref=12.24,
        beta_ref=18.0,
        pitch_lt=3.0,
        pitch_gt=9.4,
        width=0.65,
        beta_min=-16.0,
        beta_max=71.0,
    ),
    "3-kpc": dict(
        R_ref=3.52,
        beta_ref=15.0,
        pitch_lt=-4.2,
        pitch_gt=-4.2,
        width=0.18,
        beta_min=15.0,
        beta_max=18.0,
    ),
}
for _arm in _REID2014.values():
    _arm["pitch_lt"] = _arm["pitch_gt"] = _arm.pop("pitch")

#: The arm models: their R0 (kpc), reference, and arms.
ARM_MODELS = {
    "reid2014": dict(R0=8.34, reference="Reid et al. 2014, ApJ 783, 130 (Table 2)", arms=_REID2014),
    "reid2019": dict(R0=8.15, reference="Reid et al. 2019, ApJ 885, 131 (Table 2)", arms=_REID2019),
}

#: Points along an arm: x, y, R in kpc (astropy's frame), beta in rad.
ArmCurve = namedtuple("ArmCurve", ["x", "y", "R", "beta"])
ArmCurve.__doc__ = """Points along a spiral arm (:func:`arm_curve`): ``x``, ``y``, ``R`` in kpc
(astropy's Galactocentric frame, the Sun at x = -R0) and the arm's azimuth
``beta`` in rad, one array each.

Examples
--------
>>> from fastgrad.arms import arm_curve
>>> curve = arm_curve("Local", n=5)
>>> curve._fields
('x', 'y', 'R', 'beta')
>>> len(curve.R)
5
"""


def _model(model):
    key = str(model).lower()
    if key not in ARM_MODELS:
        raise ValueError(f"unknown arm model {model!r}: use one of {sorted(ARM_MODELS)}")
    return ARM_MODELS[key]


def arm_names(model: str = "reid2014") -> list[str]:
    """Names of the arms of ``model`` ("reid2014" or "reid2019").

    Examples
    --------
    >>> from fastgrad.arms import arm_names
    >>> arm_names()
    ['Scutum', 'Sagittarius', 'Local', 'Perseus', 'Outer']
    >>> arm_names("reid2019")
    ['Norma', 'Sct-Cen', 'Sgr-Car', 'Local', 'Perseus', 'Outer', '3-kpc']
    """
    return list(_model(model)["arms"])


def arm_parameters(name: str, model: str = "reid2014") -> dict[str, Any]:
    """One arm's parameters (a copy): ``R_ref`` (kpc), ``beta_ref`` (deg),
    ``pitch_lt``, ``pitch_gt`` (deg, below/above beta_ref), ``width`` (kpc),
    ``beta_min``, ``beta_max`` (deg) and the model's ``R0`` (kpc).  Names
    match case-insensitively.

    Examples
    --------
    >>> from fastgrad.arms import arm_parameters
    >>> p = arm_parameters("local")
    >>> p["name"], p["R_ref"], p["beta_ref"], p["pitch_lt"], p["width"], p["R0"]
    ('Local', 8.4, 8.9, 12.8, 0.33, 8.34)
    """
    m = _model(model)
    for key, params in m["arms"].items():
        if key.lower() == str(name).lower():
            out = dict(params)
            out["name"] = key
            out["R0"] = m["R0"]
            return out
    raise ValueError(f"unknown arm {name!r} in model {model!r}: use one of {list(m['arms'])}")


def _scale(params, R0):
    if R0 is None:
        return 1.0
    R0 = float(R0)
    if not np.isfinite(R0) or R0 <= 0.0:
        raise ValueError(f"R0 must be finite and > 0 kpc, got {R0}")
    return R0 / params["R0"]


def arm_radius(
    beta: npt.ArrayLike, name: str, model: str = "reid2014", R0: float | None = None
) -> np.ndarray:
    """Radius of an arm's centre line at azimuth ``beta`` (rad), kpc.

    ``ln(R / R_ref) = -(beta - beta_ref) tan(psi)``, psi = pitch_lt for
    beta < beta_ref and pitch_gt otherwise (one pitch angle in Reid 2014).
    No clipping to the arm's beta range.  ``R0``: rescale to that solar
    radius (kpc); None keeps the model's own.

    Examples
    --------
    The Local arm at the Sun's azimuth (beta = 0), in Reid et al. (2014)'s
    R0 = 8.34 kpc and rescaled to the paper's 8.27 kpc:

    >>> from fastgrad.arms import arm_radius
    >>> print(f"{arm_radius(0.0, 'Local'):.3f}")
    8.702
    >>> print(f"{arm_radius(0.0, 'Local', R0=8.27):.3f}")
    8.629
    """
    p = arm_parameters(name, model)
    beta = np.asarray(beta, dtype=np.float64)
    beta_ref = np.deg2rad(p["beta_ref"])
    tan_psi = np.where(
        beta < beta_ref, np.tan(np.deg2rad(p["pitch_lt"])), np.tan(np.deg2rad(p["pitch_gt"]))
    )
    return _scale(p, R0) * p["R_ref"] * np.exp(-(beta - beta_ref) * tan_psi)


def arm_curve(
    name: str,
    model: str = "reid2014",
    n: int = 200,
    R0: float | None = None,
    *,
    offset: float = 0.0,
) -> ArmCurve:
    """Points along an arm over its azimuth range.

    Parameters
    ----------
    name : str
        An arm of ``model`` (see :func:`arm_names`), case-insensitive.
    model : {"reid2014", "reid2019"}
    n : int, default 200
        Points, evenly spaced in beta from beta_min to beta_max.
    R0 : float, optional
        Solar radius (kpc) of the analysis frame: every radius is scaled by
        R0 / R0_model.  None: the model's own radii (R0 = 8.34 kpc for Reid
        2014, 8.15 kpc for Reid 2019).
    offset : float, default 0
        Distance (kpc) from the centre line, perpendicular to the arm,
        positive away from the Galactic centre: ``offset=+-width`` gives the
        arm's edges as the paper draws them (dashed).  Applied after the
        rescaling.

    Returns
    -------
    ArmCurve
        ``x, y`` (kpc, astropy's frame: x = -R cos beta, y = R sin beta),
        ``R`` (kpc) and ``beta`` (rad) of each point.

    Examples
    --------
    >>> from fastgrad.arms import arm_curve
    >>> c = arm_curve("Perseus", n=3, R0=8.27)
    >>> for x, y, R in zip(c.x, c.y, c.R):
    ...     print(f"x={x:7.3f} y={y:7.3f} R={R:6.3f} kpc")
    x=-10.146 y= -3.895 R=10.868 kpc
    x= -7.742 y=  5.124 R= 9.284 kpc
    x= -0.277 y=  7.927 R= 7.932 kpc
    """
    p = arm_parameters(name, model)
    if isinstance(n, (bool, np.bool_)) or int(n) != n or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    offset = float(offset)
    if not np.isfinite(offset):
        raise ValueError(f"offset must be finite (kpc), got {offset}")
    beta = np.deg2rad(np.linspace(p["beta_min"], p["beta_max"], int(n)))
    R = arm_radius(beta, name, model, R0)
    cos_b, sin_b = np.cos(beta), np.sin(beta)
    x, y = -R * cos_b, R * sin_b
    if offset != 0.0:
        # unit normal of a log spiral, pointing outwards: cos(psi) e_R + sin(psi) e_beta,
        # e_R = (-cos b, sin b), e_beta = d e_R / d beta = (sin b, cos b)
        psi = np.deg2rad(np.where(beta < np.deg2rad(p["beta_ref"]), p["pitch_lt"], p["pitch_gt"]))
        nx = np.cos(psi) * -cos_b + np.sin(psi) * sin_b
        ny = np.cos(psi) * sin_b + np.sin(psi) * cos_b
        x, y = x + offset * nx, y + offset * ny
        R = np.hypot(x, y)
        beta = np.arctan2(y, -x)
    return ArmCurve(x=x, y=y, R=R, beta=beta)
