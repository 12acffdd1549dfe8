"""The mock's truth: the generative model's parameters, and what an ideal
analysis of the final sample it makes should find.

:func:`default_truth` and :func:`resolve_truth` hold the model in (a
JSON-friendly dict, overridable key by key); :func:`binned_truth`,
:func:`matched_filter` and :func:`azimuthal_truth` compute the results an
ideal fit of the noise-free model gives (``meta["truth"]``'s ``table1`` /
``table2``, ``azimuthal_amplitude_observed`` and ``azimuthal_profile``).
The paper's numbers come from :mod:`fastgrad.paper`.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np

from .. import paper
from ..arms import arm_names
from ..azimuthal import annulus_mean
from ..validation import matched_filter
from .galaxy import azimuthal_pattern, near_arm, unit_pattern

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    import numpy.typing as npt


__all__ = [
    "KINDS",
    "DEFAULT_N",
    "TABLE1_EDGES",
    "TABLE2_EDGES",
    "default_truth",
    "resolve_truth",
    "check_n",
    "line_fit",
    "binned_truth",
    "expected_amplitude",
    "azimuthal_truth",
]

KINDS = ("lamost_hot_stars", "gaia_giants")

#: paper-scale catalogue sizes (docs/method.md section 1): LAMOST candidates, Gaia giants
DEFAULT_N = dict(paper.DEFAULT_N_STARS)

#: bin edges of the paper's Table 1 (|Z|, kpc) and Table 2 (R, kpc), docs/method.md section 5
TABLE1_EDGES = tuple(float(e) for e in paper.TABLE1_EDGES)
TABLE2_EDGES = tuple(float(e) for e in paper.TABLE2_EDGES)


# ---------------------------------------------------------------------------
# the model in: defaults and user overrides
# ---------------------------------------------------------------------------


def default_truth(kind: str) -> dict[str, Any]:
    """The default generative model of ``kind`` as a JSON-friendly dict.

    Any part can be overridden through ``make_survey(..., truth={...})`` with a
    nested dict of the same keys.  Keys:

    ``metallicity``
        ``absz_knots_kpc``, ``slope_dex_per_kpc``, ``intercept_dex``: the radial
        gradient m(|Z|) and intercept b(|Z|) at |Z| knots (default: the paper's
        Table 1 bin centres and values, docs/method.md section 5), interpolated
        linearly, constant beyond the end knots.  ``scatter_dex``: intrinsic
        scatter of [Fe/H] about the model (0.30 LAMOST, as Table 1's lambda;
        0.15 giants).  ``halo_mean_dex`` / ``halo_sigma_dex``: the halo's
        [Fe/H] distribution.
    ``azimuthal``
        ``kind``: ``"none"``, ``"reid2014_arms"`` (a bump of ``amplitude_dex``,
        Gaussian in the distance from each arm's centre line with sigma =
        ``width_scale`` x the arm's width, within the arm's beta range; R is
        rescaled by 8.34 kpc / R0 of the frame when ``rescale_r0``;
        docs/method.md section 6) or ``"cosine"`` (``amplitude_dex``
        cos(m (phi - phase_rad))).
    ``populations``
        ``thin``, ``thick``, ``halo``: catalogue fractions (thin is the rest),
        scale lengths/heights (kpc), velocity dispersions sigma_R, sigma_phi,
        sigma_z and lag (asymmetric drift) in km/s; the halo's density
        falls as r^-``density_slope`` (only 3 is implemented).
    ``rotation_speed_kms``
        Flat rotation curve; ``None`` means the frame's v_sun,y minus the
        Schoenrich et al. (2010) V_sun (the LSR speed,
        :data:`fastgrad.populations.SCHOENRICH2010_SOLAR_MOTION`).
    ``survey``
        Selection: heliocentric distance window (kpc), declination floor
        (deg), Gaia G window (mag), absolute-magnitude distribution (for the
        giants its scatter at fixed logg; the luminosity also follows logg), the
        anticentre targeting weight w(l) = w_min + (1 - w_min)
        ((1 - cos l) / 2)^power, and the G at which LAMOST's SNR is 30.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    lamost = kind == "lamost_hot_stars"
    truth = {
        "metallicity": {
            "absz_knots_kpc": list(paper.TABLE1["bin_center"]),
            "slope_dex_per_kpc": list(paper.TABLE1["slope"]),
            "intercept_dex": list(paper.TABLE1["intercept"]),
            "scatter_dex": 0.30 if lamost else 0.15,
            "halo_mean_dex": -1.5,
            "halo_sigma_dex": 0.5,
        },
        "azimuthal": {
            "kind": "none" if lamost else "reid2014_arms",
            # used when kind is not "none" (LAMOST: switch kind on to inject it)
            "amplitude_dex": 0.07,
            "arms": arm_names("reid2014"),
            "width_scale": 1.0,
            "rescale_r0": True,
            "m": 2,
            "phase_rad": 0.0,
        },
        "populations": {
            # hot (young) stars: a thinner (0.22 kpc reproduces the paper's
            # star counts per |Z| bin) and colder thin disk than Bensby's (the
            # paper finds > 95 % with P_thin > 0.9; stars kpc away on circular
            # orbits move fast relative to the Sun, so the mock reaches ~90 %)
            "thin": {
                "scale_length_kpc": 2.6,
                "scale_height_kpc": 0.22 if lamost else 0.3,
                "sigma_R_kms": 20.0 if lamost else 35.0,
                "sigma_phi_kms": 13.0 if lamost else 20.0,
                "sigma_z_kms": 9.0 if lamost else 16.0,
                "lag_kms": 8.0 if lamost else 15.0,
            },
            "thick": {
                "fraction": 0.06 if lamost else 0.10,
                "scale_length_kpc": 2.0,
                "scale_height_kpc": 0.9,
                "sigma_R_kms": 67.0,
                "sigma_phi_kms": 38.0,
                "sigma_z_kms": 35.0,
                "lag_kms": 46.0,
            },
            "halo": {
                "fraction": 0.006 if lamost else 0.008,
                "density_slope": 3.0,
                "sigma_R_kms": 160.0,
                "sigma_phi_kms": 90.0,
                "sigma_z_kms": 90.0,
                "lag_kms": 220.0,
            },
        },
        "rotation_speed_kms": None,
    }
    if lamost:
        truth["survey"] = {
            "distance_min_kpc": 0.3,
            "distance_max_kpc": 4.5,
            "dec_min_deg": -10.0,
            "g_min_mag": 9.0,
            "g_max_mag": 17.0,
            "abs_mag_mean": 1.5,
            "abs_mag_sigma": 1.0,
            "anticentre_weight_min": 0.0,
            "anticentre_weight_power": 1.2,
            "snr30_g_mag": 13.65,
        }
    else:
        truth["survey"] = {
            "distance_min_kpc": 0.1,
            "distance_max_kpc": 8.0,
            "dec_min_deg": -90.0,
            "g_min_mag": 5.0,
            "g_max_mag": 12.5,
            "abs_mag_mean": 0.3,
            "abs_mag_sigma": 0.4,
            "anticentre_weight_min": 1.0,
            "anticentre_weight_power": 1.0,
            "snr30_g_mag": None,
        }
    return truth


def _merge(base, override, path="truth"):
    """``base`` updated in place by the nested dict ``override`` (unknown keys raise)."""
    if not isinstance(override, dict):
        raise ValueError(f"{path}: expected a dict, got {type(override).__name__}")
    for key, value in override.items():
        if key not in base:
            raise ValueError(f"{path}: unknown key {key!r}; known keys: {sorted(base)}")
        if isinstance(base[key], dict):
            _merge(base[key], value, f"{path}[{key!r}]")
        else:
            base[key] = copy.deepcopy(value)
    return base


def resolve_truth(kind: str, truth: Mapping[str, Any] | None) -> dict[str, Any]:
    """:func:`default_truth` of ``kind`` updated by the overrides ``truth``
    (a nested dict or None), checked; raises ValueError naming a bad key."""
    full = default_truth(kind)
    if truth is not None:
        _merge(full, truth)
    met = full["metallicity"]
    knots = [
        np.asarray(met[k], dtype=float)
        for k in ("absz_knots_kpc", "slope_dex_per_kpc", "intercept_dex")
    ]
    if not (
        knots[0].ndim == 1
        and knots[0].size >= 1
        and knots[0].shape == knots[1].shape == knots[2].shape
    ):
        raise ValueError(
            "truth['metallicity']: absz_knots_kpc, slope_dex_per_kpc and "
            "intercept_dex must be 1-D lists of one length"
        )
    if np.any(np.diff(knots[0]) <= 0):
        raise ValueError("truth['metallicity']['absz_knots_kpc'] must increase strictly")
    if met["scatter_dex"] < 0:
        raise ValueError("truth['metallicity']['scatter_dex'] must be >= 0")
    pops = full["populations"]
    for name in ("thick", "halo"):
        if not 0.0 <= pops[name]["fraction"] < 1.0:
            raise ValueError(f"truth['populations'][{name!r}]['fraction'] must be in [0, 1)")
    if pops["thick"]["fraction"] + pops["halo"]["fraction"] >= 1.0:
        raise ValueError("truth['populations']: thick + halo fractions must be < 1")
    if pops["halo"]["density_slope"] != 3.0:
        raise ValueError("truth['populations']['halo']['density_slope']: only 3 is implemented")
    azi = full["azimuthal"]
    if azi["kind"] not in ("none", "reid2014_arms", "cosine"):
        raise ValueError(
            "truth['azimuthal']['kind'] must be 'none', 'reid2014_arms' or "
            f"'cosine', got {azi['kind']!r}"
        )
    unknown = sorted(set(azi["arms"]) - set(arm_names("reid2014")))
    if unknown:
        raise ValueError(
            f"truth['azimuthal']['arms']: unknown arms {unknown}; known: {arm_names('reid2014')}"
        )
    sv = full["survey"]
    if not 0 < sv["distance_min_kpc"] < sv["distance_max_kpc"]:
        raise ValueError("truth['survey']: need 0 < distance_min_kpc < distance_max_kpc")
    if not sv["g_min_mag"] < sv["g_max_mag"]:
        raise ValueError("truth['survey']: need g_min_mag < g_max_mag")
    if kind == "lamost_hot_stars" and sv["snr30_g_mag"] is None:
        raise ValueError("truth['survey']['snr30_g_mag'] is needed for lamost_hot_stars")
    return full


def check_n(kind: str, n: int | None) -> int:
    """Rows of the main table: ``n`` checked (an int >= 100), or the paper's size."""
    if n is None:
        return DEFAULT_N[kind]
    if isinstance(n, bool) or int(n) != n or n < 100:
        raise ValueError(f"n must be an int >= 100, got {n!r}")
    return int(n)


# ---------------------------------------------------------------------------
# the results out: what an ideal analysis of the final sample finds
# ---------------------------------------------------------------------------


def line_fit(x: np.ndarray, y: np.ndarray) -> tuple[float | None, float | None]:
    """Least-squares slope and intercept of y against x (None, None when undefined)."""
    if x.size < 2 or np.ptp(x) == 0:
        return None, None
    xm, ym = x.mean(), y.mean()
    slope = float(np.sum((x - xm) * (y - ym)) / np.sum((x - xm) ** 2))
    return slope, float(ym - slope * xm)


def binned_truth(
    edges: npt.ArrayLike, key: np.ndarray, x: np.ndarray, y: np.ndarray
) -> list[dict[str, Any]]:
    """One row per bin [lo, hi) of ``key``: the :func:`line_fit` of y against x
    there (the truth rows of Tables 1 and 2, docs/method.md section 5)."""
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (key >= lo) & (key < hi)
        slope, intercept = line_fit(x[sel], y[sel])
        rows.append(
            {
                "bin_lo": float(lo),
                "bin_hi": float(hi),
                "slope": slope,
                "intercept": intercept,
                "n": int(sel.sum()),
            }
        )
    return rows


def expected_amplitude(
    azi: Mapping[str, Any],
    nominal: np.ndarray,
    model: np.ndarray,
    final: np.ndarray,
    r0: float,
    half_width: float = paper.ANNULUS_HALF_WIDTH,
) -> float | None:
    """The amplitude the pipeline's matched filter should find (dex, or None).

    :func:`matched_filter` of the noise-free model [Fe/H] over the final
    |Z| < 0.3 kpc stars at their nominal (observed) positions ``nominal``
    (rows x, y, z, vx, vy, vz, R, phi, |z| as :func:`nominal_coordinates`),
    annulus means in observed R.  Distance errors blur the pattern, so this is
    a little below the injected amplitude.  None for ``kind="none"`` or fewer
    than 10 stars.
    """
    sel = final & (nominal[8] < paper.MAP_ZMAX)
    if azi["kind"] == "none" or sel.sum() < 10:
        return None
    x, y, R, model = nominal[0][sel], nominal[1][sel], nominal[6][sel], model[sel]
    g = unit_pattern(azi, R, np.arctan2(y, -x), r0)
    delta = model - annulus_mean(R, model, half_width)
    return matched_filter(R, delta, g, half_width)[0]


def azimuthal_truth(
    azi: Mapping[str, Any],
    R: np.ndarray,
    phi: np.ndarray,
    absz: np.ndarray,
    model: np.ndarray,
    r0: float,
) -> dict[str, Any]:
    """What the docs/method.md section 6 profile of the noise-free model looks
    like: per ring of :data:`fastgrad.paper.RINGS` (inner 7-9, outer 9-11 kpc),
    the mean deviation (dex) from the annulus mean (h = 0.1 kpc) in 2-degree
    phi bins with >= 20 stars (|Z| < 0.3 kpc); for the arms, the mean pattern
    near and away from them.  R, |Z| in kpc, phi in rad."""
    plane = absz < paper.MAP_ZMAX
    R, phi, model = R[plane], phi[plane], model[plane]
    delta = model - annulus_mean(R, model, paper.ANNULUS_HALF_WIDTH)
    width = np.radians(paper.PHI_BIN_DEG)
    out = {}
    for region, (r_lo, r_hi) in zip(("inner", "outer"), paper.RINGS):
        sel = (R > r_lo) & (R < r_hi)
        if not sel.any():
            out[region] = {
                "phi_center_rad": [],
                "mean_delta_dex": [],
                "n": [],
                "peak_to_peak_dex": None,
            }
            continue
        idx = np.floor(phi[sel] / width).astype(np.int64)
        base = idx.min()
        cnt = np.bincount(idx - base)
        tot = np.bincount(idx - base, weights=delta[sel])
        good = np.flatnonzero(cnt >= paper.PROFILE_MIN_COUNT)
        centres = (good + base + 0.5) * width
        out[region] = {
            "phi_center_rad": [round(float(c), 6) for c in centres],
            "mean_delta_dex": [round(float(v), 6) for v in tot[good] / cnt[good]],
            "n": [int(c) for c in cnt[good]],
            "peak_to_peak_dex": float(np.ptp(tot[good] / cnt[good])) if good.size else None,
        }
    if azi["kind"] == "reid2014_arms":
        near = near_arm(azi, R, phi, r0)
        pattern = azimuthal_pattern(azi, R, phi, r0)
        out["mean_pattern_near_arms_dex"] = float(pattern[near].mean()) if near.any() else None
        out["mean_pattern_elsewhere_dex"] = float(pattern[~near].mean()) if (~near).any() else None
        out["fraction_near_arms"] = float(near.mean())
    return out
