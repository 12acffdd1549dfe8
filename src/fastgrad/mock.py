"""Synthetic survey catalogues with a known truth (LAMOST hot stars, Gaia DR3 giants).

The real catalogues of Hawkins (2023) cannot be downloaded everywhere, so
fastgrad generates look-alikes whose truth is known:

* ``"lamost_hot_stars"``: a LAMOST HotPayne-like table (Xiang et al. 2022) with
  the quality columns the METHOD.md section 2 cuts act on, the Gaia DR3
  ``gaia_source`` rows of the same stars (plus unrelated field stars, minus a
  few counterparts, so the 2" cross-match has work) and Bailer-Jones (2021)
  geometric distances.
* ``"gaia_giants"``: a Gaia DR3 "gradient sample"-like table of giants
  (astrometry, RVs and GSP-Spec parameters) and their Bailer-Jones distances.

How a star is made (all vectorised numpy; a paper-scale catalogue takes a few
seconds):

1. Galactocentric positions from thin + thick exponential disks and a small
   r^-3 halo, drawn until each population has its share of the catalogue,
   keeping the stars a magnitude-limited survey would see: heliocentric
   distance window, absolute magnitude per star with an extinction-free
   apparent-magnitude window, for LAMOST the footprint (dec > -10 deg) and a
   targeting preference for the Galactic anticentre (LEGUE).
2. Velocities from a flat rotation curve (the frame's v_sun,y minus the
   Schoenrich 2010 V_sun, i.e. the LSR speed), a constant asymmetric drift and
   velocity dispersions per population (the Bensby 2003 ellipsoids of
   METHOD.md section 4, except a colder thin disk for the young hot stars).
3. Truth [Fe/H] = m(|Z|) R + b(|Z|) (m, b interpolated piecewise-linearly
   between the paper's Table 1 bin centres, constant beyond them) + an
   azimuthal pattern (Reid 2014 spiral-arm bump for the giants, none for
   LAMOST by default) + intrinsic scatter; halo stars get a flat metal-poor
   distribution.
4. Observed through the survey: astropy transforms the true phase-space
   coordinates to ICRS; parallaxes, proper motions, positions (with Gaia-like
   random correlations), Bailer-Jones percentiles, RVs and [Fe/H] get errors of
   the sizes the paper quotes, and observed = truth + noise.

The truth travels in every table's ``meta["truth"]`` (JSON-serialisable): the
model parameters, the frame, the mock's own count of the METHOD.md cuts and
the result an ideal fit of the final disk sample would give, per bin of
Tables 1 and 2 (the least-squares line of the noise-free model [Fe/H] against
the true R or |Z| of the bin's stars).  :func:`pattern_shape` evaluates the
injected azimuthal pattern anywhere from that metadata alone.
"""
import copy
import json

import numpy as np
import astropy.units as u
from astropy.coordinates import ICRS, CartesianDifferential, CartesianRepresentation
from astropy.table import Table

from ._seeds import seed_sequence
from . import paper
from .arms import ARM_MODELS, arm_names, arm_parameters, arm_radius
from .azimuthal import annulus_mean
from .frames import frame_constants, frame_metadata, get_frame
from .populations import kinematic_probabilities

__all__ = [
    "make_survey",
    "make_catalog",
    "default_truth",
    "pattern_shape",
    "KINDS",
    "DEFAULT_N",
    "LAMOST_COLUMNS",
    "GAIA_COLUMNS",
    "GAIA_GIANT_COLUMNS",
    "BAILER_JONES_COLUMNS",
    "TABLE1_EDGES",
    "TABLE2_EDGES",
]

KINDS = ("lamost_hot_stars", "gaia_giants")

#: paper-scale catalogue sizes (METHOD.md section 1): LAMOST candidates, Gaia giants
DEFAULT_N = dict(paper.DEFAULT_N_STARS)

#: bin edges of the paper's Table 1 (|Z|, kpc) and Table 2 (R, kpc), METHOD.md section 5
TABLE1_EDGES = tuple(float(e) for e in paper.TABLE1_EDGES)
TABLE2_EDGES = tuple(float(e) for e in paper.TABLE2_EDGES)

# The paper's Table 1 (METHOD.md section 5): slope (dex/kpc) and intercept (dex)
# of [Fe/H] against R at the |Z| bin centres (kpc).
_PAPER_TABLE1_ABSZ = paper.TABLE1["bin_center"]
_PAPER_TABLE1_SLOPE = paper.TABLE1["slope"]
_PAPER_TABLE1_INTERCEPT = paper.TABLE1["intercept"]

# The Sun's motion w.r.t. the LSR (Schoenrich et al. 2010), as fastgrad.populations.
_SUN_PECULIAR_KMS = (11.1, 12.24, 7.25)
_POP_NAMES = ("thin", "thick", "halo")

# Gaia giants' intrinsic parameters: logg ~ N(mean, sigma); absolute G =
# N(abs_mag_mean, abs_mag_sigma) + dM/dlogg (logg - mean) (more luminous when
# lower); Teff = T0 + dT/dlogg (logg - mean) + N(0, sigma_T).  Tuned so the
# Teff < 4700 K / logg < 2.0 cut removes ~13 % of the selected giants.
_GIANT_LOGG = (1.55, 0.35)
_GIANT_MG_PER_LOGG = 1.6
_GIANT_TEFF = (4480.0, 450.0, 200.0)

# METHOD.md section 2 thresholds, used only for the mock's own count of the cuts
# and the final sample behind the truth tables.
_PARALLAX_OVER_ERROR_MIN = 1.0 / 0.3
_DISTANCE_FRACTIONAL_ERROR_MAX = 0.30
_P_HALO_MAX = paper.P_HALO_MAX
_MATCH_RADIUS_ARCSEC = paper.CROSSMATCH_RADIUS_ARCSEC

_DEX = u.dex
_KMS = u.km / u.s
_MASYR = u.mas / u.yr

#: LAMOST HotPayne-like catalogue: canonical names, units, descriptions
LAMOST_COLUMNS = (
    ("obsid", None, "LAMOST spectrum identifier"),
    ("ra", u.deg, "right ascension (ICRS, fibre position)"),
    ("dec", u.deg, "declination (ICRS, fibre position)"),
    ("teff", u.K, "effective temperature"),
    ("teff_err", u.K, "uncertainty of teff"),
    ("logg", _DEX, "surface gravity log10(g / cm s^-2)"),
    ("logg_err", _DEX, "uncertainty of logg"),
    ("feh", _DEX, "[Fe/H]"),
    ("feh_err", _DEX, "uncertainty of [Fe/H]"),
    ("vsini", _KMS, "projected rotational velocity"),
    ("snr", None, "signal-to-noise ratio of the spectrum (g band)"),
    ("chi2ratio", None, "chi^2 ratio of the spectral fit"),
    ("rv", _KMS, "heliocentric radial velocity"),
    ("rv_err", _KMS, "uncertainty of rv"),
)

_CORR_NAMES = ("ra_dec_corr", "ra_pmra_corr", "ra_pmdec_corr",
               "dec_pmra_corr", "dec_pmdec_corr", "pmra_pmdec_corr")

#: Gaia DR3 gaia_source-like columns (archive names and units)
GAIA_COLUMNS = (
    ("source_id", None, "Gaia DR3 source identifier"),
    ("ra", u.deg, "right ascension (ICRS, epoch 2016.0)"),
    ("ra_error", u.mas, "standard uncertainty of ra cos(dec)"),
    ("dec", u.deg, "declination (ICRS, epoch 2016.0)"),
    ("dec_error", u.mas, "standard uncertainty of dec"),
    ("parallax", u.mas, "parallax"),
    ("parallax_error", u.mas, "standard uncertainty of parallax"),
    ("parallax_over_error", None, "parallax / parallax_error"),
    ("pmra", _MASYR, "proper motion in ra cos(dec)"),
    ("pmra_error", _MASYR, "standard uncertainty of pmra"),
    ("pmdec", _MASYR, "proper motion in dec"),
    ("pmdec_error", _MASYR, "standard uncertainty of pmdec"),
) + tuple((name, None, f"correlation coefficient {name[:-5]}") for name in _CORR_NAMES) + (
    ("radial_velocity", _KMS, "Gaia RVS radial velocity"),
    ("radial_velocity_error", _KMS, "uncertainty of radial_velocity"),
)

#: Gaia DR3 giants: GAIA_COLUMNS plus the GSP-Spec parameters
GAIA_GIANT_COLUMNS = GAIA_COLUMNS + (
    ("mh_gspspec", _DEX, "GSP-Spec [M/H]"),
    ("mh_gspspec_lower", _DEX, "16th percentile of mh_gspspec"),
    ("mh_gspspec_upper", _DEX, "84th percentile of mh_gspspec"),
    ("teff_gspspec", u.K, "GSP-Spec effective temperature"),
    ("logg_gspspec", _DEX, "GSP-Spec surface gravity"),
)

#: Bailer-Jones et al. (2021) geometric distances
BAILER_JONES_COLUMNS = (
    ("source_id", None, "Gaia DR3 source identifier"),
    ("r_med_geo", u.pc, "median of the geometric distance posterior"),
    ("r_lo_geo", u.pc, "16th percentile of the geometric distance posterior"),
    ("r_hi_geo", u.pc, "84th percentile of the geometric distance posterior"),
)


# ---------------------------------------------------------------------------
# the truth: defaults and user overrides
# ---------------------------------------------------------------------------

def default_truth(kind):
    """The default generative model of ``kind`` as a JSON-friendly dict.

    Any part can be overridden through ``make_survey(..., truth={...})`` with a
    nested dict of the same keys.  Keys:

    ``metallicity``
        ``absz_knots_kpc``, ``slope_dex_per_kpc``, ``intercept_dex``: the radial
        gradient m(|Z|) and intercept b(|Z|) at |Z| knots (default: the paper's
        Table 1 bin centres and values), interpolated linearly, constant beyond
        the end knots.  ``scatter_dex``: intrinsic scatter of [Fe/H] about the
        model (0.30 LAMOST, as Table 1's lambda; 0.15 giants).
        ``halo_mean_dex`` / ``halo_sigma_dex``: the halo's [Fe/H] distribution.
    ``azimuthal``
        ``kind``: ``"none"``, ``"reid2014_arms"`` (a bump of ``amplitude_dex``,
        Gaussian in the distance from each arm's centre line with sigma =
        ``width_scale`` x the arm's width, within the arm's beta range; R is
        rescaled by 8.34 kpc / R0 of the frame when ``rescale_r0``) or
        ``"cosine"`` (``amplitude_dex`` cos(m (phi - phase_rad))).
    ``populations``
        ``thin``, ``thick``, ``halo``: catalogue fractions (thin is the rest),
        scale lengths/heights (kpc), velocity dispersions sigma_R, sigma_phi,
        sigma_z and lag (asymmetric drift) in km/s; the halo's density
        falls as r^-``density_slope`` (only 3 is implemented).
    ``rotation_speed_kms``
        Flat rotation curve; ``None`` means the frame's v_sun,y - 12.24 km/s
        (the LSR speed with Schoenrich et al. 2010's V_sun).
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
            "absz_knots_kpc": list(_PAPER_TABLE1_ABSZ),
            "slope_dex_per_kpc": list(_PAPER_TABLE1_SLOPE),
            "intercept_dex": list(_PAPER_TABLE1_INTERCEPT),
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
            "thin": {"scale_length_kpc": 2.6, "scale_height_kpc": 0.22 if lamost else 0.3,
                     "sigma_R_kms": 20.0 if lamost else 35.0,
                     "sigma_phi_kms": 13.0 if lamost else 20.0,
                     "sigma_z_kms": 9.0 if lamost else 16.0,
                     "lag_kms": 8.0 if lamost else 15.0},
            "thick": {"fraction": 0.06 if lamost else 0.10, "scale_length_kpc": 2.0,
                      "scale_height_kpc": 0.9, "sigma_R_kms": 67.0, "sigma_phi_kms": 38.0,
                      "sigma_z_kms": 35.0, "lag_kms": 46.0},
            "halo": {"fraction": 0.006 if lamost else 0.008, "density_slope": 3.0,
                     "sigma_R_kms": 160.0, "sigma_phi_kms": 90.0, "sigma_z_kms": 90.0,
                     "lag_kms": 220.0},
        },
        "rotation_speed_kms": None,
    }
    if lamost:
        truth["survey"] = {
            "distance_min_kpc": 0.3, "distance_max_kpc": 4.5, "dec_min_deg": -10.0,
            "g_min_mag": 9.0, "g_max_mag": 17.0,
            "abs_mag_mean": 1.5, "abs_mag_sigma": 1.0,
            "anticentre_weight_min": 0.0, "anticentre_weight_power": 1.2,
            "snr30_g_mag": 13.65,
        }
    else:
        truth["survey"] = {
            "distance_min_kpc": 0.1, "distance_max_kpc": 8.0, "dec_min_deg": -90.0,
            "g_min_mag": 5.0, "g_max_mag": 12.5,
            "abs_mag_mean": 0.3, "abs_mag_sigma": 0.4,
            "anticentre_weight_min": 1.0, "anticentre_weight_power": 1.0,
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


def _resolve_truth(kind, truth):
    full = default_truth(kind)
    if truth is not None:
        _merge(full, truth)
    met = full["metallicity"]
    knots = [np.asarray(met[k], dtype=float) for k in
             ("absz_knots_kpc", "slope_dex_per_kpc", "intercept_dex")]
    if not (knots[0].ndim == 1 and knots[0].size >= 1
            and knots[0].shape == knots[1].shape == knots[2].shape):
        raise ValueError("truth['metallicity']: absz_knots_kpc, slope_dex_per_kpc and "
                         "intercept_dex must be 1-D lists of one length")
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
        raise ValueError("truth['azimuthal']['kind'] must be 'none', 'reid2014_arms' or "
                         f"'cosine', got {azi['kind']!r}")
    unknown = sorted(set(azi["arms"]) - set(arm_names("reid2014")))
    if unknown:
        raise ValueError(f"truth['azimuthal']['arms']: unknown arms {unknown}; "
                         f"known: {arm_names('reid2014')}")
    sv = full["survey"]
    if not 0 < sv["distance_min_kpc"] < sv["distance_max_kpc"]:
        raise ValueError("truth['survey']: need 0 < distance_min_kpc < distance_max_kpc")
    if not sv["g_min_mag"] < sv["g_max_mag"]:
        raise ValueError("truth['survey']: need g_min_mag < g_max_mag")
    if kind == "lamost_hot_stars" and sv["snr30_g_mag"] is None:
        raise ValueError("truth['survey']['snr30_g_mag'] is needed for lamost_hot_stars")
    return full


# ---------------------------------------------------------------------------
# metallicity model
# ---------------------------------------------------------------------------

def _gradient_model(met, R, absz):
    """Noise-free disk [Fe/H] = m(|Z|) R + b(|Z|), dex."""
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


def _pattern_shape(azi, R, phi, r0):
    """The azimuthal pattern with unit amplitude (dimensionless)."""
    if azi["kind"] == "none":
        return np.zeros_like(R)
    if azi["kind"] == "cosine":
        return np.cos(azi["m"] * (phi - azi["phase_rad"]))
    bump = np.zeros_like(R)
    for dist, width in _arm_offsets(azi, R, phi, r0):
        bump = np.maximum(bump, np.exp(-0.5 * (dist / width) ** 2))
    return bump


def _azimuthal_pattern(azi, R, phi, r0):
    """The injected azimuthal [Fe/H] pattern (dex)."""
    amp = float(azi["amplitude_dex"])
    if azi["kind"] == "none" or amp == 0.0:
        return np.zeros_like(R)
    return amp * _pattern_shape(azi, R, phi, r0)


def _sun_r0(frame_meta):
    """The Sun's cylindrical radius (kpc) in a frame described by frame_metadata:
    astropy puts the Sun galcen_distance from the centre at height z_sun."""
    d, z = frame_meta["galcen_distance_kpc"], frame_meta["z_sun_kpc"]
    return float(np.sqrt(d * d - z * z))


def pattern_shape(x, y, truth):
    """The injected azimuthal pattern of a mock catalogue with unit amplitude.

    ``truth["azimuthal_amplitude"] * pattern_shape(x, y, truth)`` is the
    [Fe/H] (dex) the generator added to a disk star at Galactocentric (x, y).

    Parameters
    ----------
    x, y : array-like
        Galactocentric coordinates (kpc) in the frame of the catalogue.
    truth : dict
        A table's ``meta["truth"]`` from :func:`make_survey`.

    Returns
    -------
    ndarray
        The shape: 0 everywhere for ``kind="none"``; for ``"reid2014_arms"``
        a Gaussian bump, 1 on an arm's centre line; ``cos(m (phi - phase))``
        for ``"cosine"``.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    return _pattern_shape(truth["azimuthal"], np.hypot(x, y), np.arctan2(y, -x),
                          _sun_r0(truth["frame"]))


def _near_arm(azi, R, phi, r0):
    """True where a star lies within one arm width of a selected arm's centre line."""
    near = np.zeros(R.shape, dtype=bool)
    for dist, width in _arm_offsets(azi, R, phi, r0):
        near |= dist <= width
    return near


# ---------------------------------------------------------------------------
# positions, selection, velocities
# ---------------------------------------------------------------------------

class _Geometry:
    """The frame's Sun and ICRS rotation, for cheap selection before astropy."""

    def __init__(self, frame):
        A, t, v = frame_constants(frame)
        self.A = A            # ICRS -> Galactocentric rotation
        self.sun = t          # barycentre position, kpc
        self.vsun = v         # barycentre velocity, km/s
        self.r0 = float(np.hypot(t[0], t[1]))
        self.theta_sun = float(np.arctan2(t[1], t[0]))
        # the same number pattern_shape() derives from a table's metadata
        self.r0_pattern = _sun_r0(frame_metadata(frame))


# Sampling a magnitude-limited survey.  The selected stars have the joint density
# p(M) rho(x) [d(x) within the distances at which M is in the G window] (times
# the footprint and targeting terms), so each candidate's absolute magnitude M
# is drawn first, giving its distance limit d_lim(M).  Positions come from an
# envelope: rho restricted to a region B(d_lim) that covers the sphere of
# radius d_lim around the Sun, of mass E(d_lim).  Drawing M from
# p(M) E(d_lim(M)) (an inverse CDF tabulated once), then x from rho within
# B(d_lim), then keeping the stars that pass the survey's cuts gives exactly
# that joint density; candidates are made only where their M can be seen
# (~7x fewer than drawing from the whole disk, bench/benchmarks/bench_mock.py).

class _InverseCDF:
    """x(u) for a CDF tabulated at points x, resampled once on a uniform grid
    of u so that each draw is an index computation, not a binary search."""

    def __init__(self, x, cdf, size=65537):
        self.u_max = float(cdf[-1])
        self.table = np.interp(np.linspace(0.0, self.u_max, size), cdf, x)
        self.scale = (size - 1) / self.u_max

    def __call__(self, u):
        """x at cumulative probabilities ``u`` in [0, u_max]."""
        pos = np.clip(u * self.scale, 0.0, self.table.size - 1.000001)
        i = pos.astype(np.intp)
        f = pos - i
        return self.table[i] * (1.0 - f) + self.table[i + 1] * f


def _gamma2_cdf(x):
    """CDF of the Gamma(2) distribution (the exponential disk's R / h_R)."""
    return 1.0 - np.exp(-x) * (1.0 + x)


class _DiskEnvelope:
    """The disk itself restricted to the annulus R0 -+ d_lim and the wedge of
    half-angle asin(d_lim / R0) around the Sun (exact density there: rho / e = 1)."""

    def __init__(self, pop, geo, d_max):
        self.h = pop["scale_length_kpc"]
        self.hz = pop["scale_height_kpc"]
        self.geo = geo
        grid = np.linspace(0.0, geo.r0 + d_max, 200001)
        self.inverse = _InverseCDF(grid, _gamma2_cdf(grid / self.h))

    def _bounds(self, d_lim):
        r0 = self.geo.r0
        lo = _gamma2_cdf(np.maximum(r0 - d_lim, 0.0) / self.h)
        hi = _gamma2_cdf((r0 + d_lim) / self.h)
        half = np.where(d_lim < r0, np.arcsin(np.minimum(d_lim / r0, 1.0)), np.pi)
        return lo, hi, half

    def mass(self, d_lim):
        lo, hi, half = self._bounds(d_lim)
        return (hi - lo) * half / np.pi

    def propose(self, rng, d_lim):
        k = d_lim.size
        lo, hi, half = self._bounds(d_lim)
        R = self.inverse(lo + (hi - lo) * rng.uniform(size=k))
        theta = self.geo.theta_sun + half * rng.uniform(-1.0, 1.0, k)
        z = rng.laplace(0.0, self.hz, k)
        return R * np.cos(theta), R * np.sin(theta), z, np.ones(k, dtype=bool)


class _HaloEnvelope:
    """The r^-3 halo itself (r >= 0.5 kpc) restricted to the shell R0 -+ d_lim
    and the cone, seen from the centre, of half-angle asin(d_lim / R0) around
    the Sun's direction (exact density there: rho / e = 1)."""

    r_core = 0.5

    def __init__(self, geo):
        self.geo = geo
        sun = geo.sun / np.linalg.norm(geo.sun)
        other = np.array([0.0, 0.0, 1.0]) if abs(sun[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
        e1 = np.cross(sun, other)
        e1 /= np.linalg.norm(e1)
        self.basis = (sun, e1, np.cross(sun, e1))
        self.r_sun = float(np.linalg.norm(geo.sun))

    def _bounds(self, d_lim):
        r_lo = np.maximum(self.r_sun - d_lim, self.r_core)
        r_hi = self.r_sun + d_lim
        cos_a = np.where(d_lim < self.r_sun,
                         np.sqrt(np.maximum(1.0 - (d_lim / self.r_sun) ** 2, 0.0)), -1.0)
        return r_lo, r_hi, cos_a

    def mass(self, d_lim):
        # r^2 rho(r) dr ~ dr / r: a shell holds ln(r_hi / r_lo), the cone (1 - cos a) / 2 of it
        r_lo, r_hi, cos_a = self._bounds(d_lim)
        return np.log(r_hi / r_lo) * (1.0 - cos_a)

    def propose(self, rng, d_lim):
        k = d_lim.size
        r_lo, r_hi, cos_a = self._bounds(d_lim)
        r = r_lo * (r_hi / r_lo) ** rng.uniform(size=k)
        cos_t = cos_a + (1.0 - cos_a) * rng.uniform(size=k)
        sin_t = np.sqrt(np.maximum(1.0 - cos_t ** 2, 0.0))
        ph = rng.uniform(-np.pi, np.pi, k)
        s, e1, e2 = self.basis
        a, b, c = r * cos_t, r * sin_t * np.cos(ph), r * sin_t * np.sin(ph)
        x = a * s[0] + b * e1[0] + c * e2[0]
        y = a * s[1] + b * e1[1] + c * e2[1]
        z = a * s[2] + b * e1[2] + c * e2[2]
        return x, y, z, np.ones(k, dtype=bool)


def _abs_mag_sampler(envelope, sv):
    """Inverse CDF of p(M) E(d_lim(M)): the first rejection step done exactly."""
    mu, sigma = sv["abs_mag_mean"], sv["abs_mag_sigma_total"]
    grid = np.linspace(mu - 8.0 * sigma, mu + 8.0 * sigma, 20001)
    d_hi, d_lo = _distance_window(grid, sv)
    w = np.exp(-0.5 * ((grid - mu) / sigma) ** 2) * envelope.mass(d_hi) * (d_hi > d_lo)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (w[1:] + w[:-1]))])
    if cdf[-1] <= 0.0:
        raise ValueError("truth['survey']: no star can be seen in the G and distance windows")
    return _InverseCDF(grid, cdf)


def _distance_window(M, sv):
    d_hi = np.minimum(sv["distance_max_kpc"], 10.0 ** (0.2 * (sv["g_max_mag"] - M) - 2.0))
    d_lo = np.maximum(sv["distance_min_kpc"], 10.0 ** (0.2 * (sv["g_min_mag"] - M) - 2.0))
    return d_hi, d_lo


def _sample_population(rng, kind, count, envelope, sv, geo):
    """``count`` stars of one population as the survey selects them."""
    abs_mag = _abs_mag_sampler(envelope, sv)
    parts, got, eff = [], 0, 0.3
    while got < count:
        m = int(min(max(1.15 * (count - got) / eff, 4096), 4_000_000))
        M = abs_mag(rng.uniform(size=m) * abs_mag.u_max)
        d_hi, d_lo = _distance_window(M, sv)
        props = {"abs_mag_g": M}
        if kind == "gaia_giants":
            # GSP-Spec-like giants: M = M0 + dM/dlogg (logg - mean), M0 and logg
            # normal, so logg given M is normal too
            lg_mean, lg_sigma = _GIANT_LOGG
            cov = _GIANT_MG_PER_LOGG * lg_sigma ** 2
            var_m = sv["abs_mag_sigma_total"] ** 2
            logg = (lg_mean + cov / var_m * (M - sv["abs_mag_mean"])
                    + np.sqrt(lg_sigma ** 2 - cov ** 2 / var_m) * rng.normal(size=m))
            props["logg_true"] = logg
            t0, dt_dlogg, t_sigma = _GIANT_TEFF
            props["teff_true"] = t0 + dt_dlogg * (logg - lg_mean) + t_sigma * rng.normal(size=m)
        x, y, z, ok = envelope.propose(rng, d_hi)
        dx, dy, dz = x - geo.sun[0], y - geo.sun[1], z - geo.sun[2]
        dist = np.sqrt(dx * dx + dy * dy + dz * dz)
        ok &= (dist <= d_hi) & (dist >= d_lo)
        if sv["dec_min_deg"] > -90.0:
            # sin(dec) = (A^T d)_z / |d|
            sin_dec = (geo.A[0, 2] * dx + geo.A[1, 2] * dy + geo.A[2, 2] * dz) / dist
            ok &= sin_dec > np.sin(np.radians(sv["dec_min_deg"]))
        w_min = sv["anticentre_weight_min"]
        if w_min < 1.0:
            # the frame's x points from the Sun to the centre, y along rotation:
            # cos l = dx / |d_xy| to within the frame's tiny tilt (z_sun)
            cos_l = dx / np.sqrt(dx * dx + dy * dy)
            w = w_min + (1.0 - w_min) * (0.5 * (1.0 - cos_l)) ** sv["anticentre_weight_power"]
            ok &= rng.uniform(size=ok.size) < w
        kept = {"x": x[ok], "y": y[ok], "z": z[ok],
                "phot_g_mean_mag": M[ok] + 5.0 * np.log10(dist[ok] * 100.0)}
        kept.update({k: v[ok] for k, v in props.items()})
        k = int(ok.sum())
        eff = max(k / m, 1e-3)
        if k:
            parts.append(kept)
            got += k
    return {key: np.concatenate([p[key] for p in parts])[:count] for key in parts[0]}


def _sample_stars(rng, kind, n, truth, geo):
    """Galactocentric positions and intrinsic properties of ``n`` selected stars."""
    sv = dict(truth["survey"])
    sv["abs_mag_sigma_total"] = sv["abs_mag_sigma"]
    if kind == "gaia_giants":
        sv["abs_mag_sigma_total"] = np.hypot(sv["abs_mag_sigma"],
                                             _GIANT_MG_PER_LOGG * _GIANT_LOGG[1])
    pops = truth["populations"]
    counts = {"halo": int(round(pops["halo"]["fraction"] * n)),
              "thick": int(round(pops["thick"]["fraction"] * n))}
    counts["thin"] = n - counts["halo"] - counts["thick"]
    blocks, labels = [], []
    for code, name in enumerate(_POP_NAMES):
        if counts[name] == 0:
            continue
        envelope = (_HaloEnvelope(geo) if name == "halo"
                    else _DiskEnvelope(pops[name], geo, sv["distance_max_kpc"]))
        blocks.append(_sample_population(rng, kind, counts[name], envelope, sv, geo))
        labels.append(np.full(counts[name], code, dtype=np.int8))
    stars = {key: np.concatenate([b[key] for b in blocks]) for key in blocks[0]}
    stars["population"] = np.concatenate(labels)
    order = rng.permutation(n)  # interleave the populations
    stars = {key: val[order] for key, val in stars.items()}
    stars["xyz"] = np.stack([stars.pop("x"), stars.pop("y"), stars.pop("z")])
    return stars


def _velocities(rng, stars, truth, geo):
    """Galactocentric Cartesian velocities (km/s), (3, n)."""
    pops = truth["populations"]
    vc = truth["rotation_speed_kms"]
    if vc is None:
        vc = geo.vsun[1] - _SUN_PECULIAR_KMS[1]
    x, y, _ = stars["xyz"]
    code = stars["population"]
    n = code.size
    sig = np.empty((3, n))
    lag = np.empty(n)
    for c, name in enumerate(_POP_NAMES):
        sel = code == c
        p = pops[name]
        sig[0, sel], sig[1, sel], sig[2, sel] = p["sigma_R_kms"], p["sigma_phi_kms"], p["sigma_z_kms"]
        lag[sel] = p["lag_kms"]
    v_R = rng.normal(0.0, 1.0, n) * sig[0]
    v_phi = vc - lag + rng.normal(0.0, 1.0, n) * sig[1]   # along rotation
    v_z = rng.normal(0.0, 1.0, n) * sig[2]
    R = np.hypot(x, y)
    cos_t, sin_t = x / R, y / R
    # astropy's frame: the Sun at x < 0 moves towards +y, i.e. clockwise seen
    # from +z; the direction of rotation at (cos t, sin t) is (sin t, -cos t)
    return np.stack([v_R * cos_t + v_phi * sin_t, v_R * sin_t - v_phi * cos_t, v_z]), float(vc)


def _to_icrs(xyz, vxyz, frame):
    """True ICRS ra, dec (deg), distance (kpc), pmra, pmdec (mas/yr), RV (km/s), by astropy."""
    rep = CartesianRepresentation(
        xyz * u.kpc, differentials=CartesianDifferential(vxyz * _KMS))
    icrs = frame.realize_frame(rep).transform_to(ICRS())
    return (icrs.ra.to_value(u.deg), icrs.dec.to_value(u.deg), icrs.distance.to_value(u.kpc),
            icrs.pm_ra_cosdec.to_value(_MASYR), icrs.pm_dec.to_value(_MASYR),
            icrs.radial_velocity.to_value(_KMS))


# ---------------------------------------------------------------------------
# observation: Gaia astrometry, Bailer-Jones distances
# ---------------------------------------------------------------------------

def _lognormal(rng, sigma, n):
    return np.exp(rng.normal(0.0, sigma, n))


def _gaia_parallax_error(g):
    """Gaia DR3-like parallax uncertainty (mas) against G (Gaia performance
    formula: 0.013 mas at G <= 13, 0.03 at 15, 0.08 at 17, 0.6 at 20)."""
    z = 10.0 ** (0.4 * (np.maximum(g, 13.0) - 15.0))
    return np.sqrt(40.0 + 800.0 * z + 30.0 * z ** 2) * 1e-3


def _cholesky4(c):
    """Row-wise Cholesky factors of 4x4 correlation matrices given by their six
    off-diagonal elements (01, 02, 03, 12, 13, 23), each an (n,) array."""
    c01, c02, c03, c12, c13, c23 = c
    l00 = np.ones_like(c01)
    l10 = c01
    l11 = np.sqrt(1.0 - l10 ** 2)
    l20 = c02
    l21 = (c12 - l20 * l10) / l11
    l22 = np.sqrt(1.0 - l20 ** 2 - l21 ** 2)
    l30 = c03
    l31 = (c13 - l30 * l10) / l11
    l32 = (c23 - l30 * l20 - l31 * l21) / l22
    l33 = np.sqrt(1.0 - l30 ** 2 - l31 ** 2 - l32 ** 2)
    return (l00, l10, l11, l20, l21, l22, l30, l31, l32, l33)


def _observe_gaia(rng, ra, dec, dist, pmra, pmdec, g):
    """Gaia-like astrometry of stars with true ICRS values: a dict of Gaia
    columns (no source_id, no RV) and the parallax noise in units of its error."""
    n = ra.size
    sig_plx = _gaia_parallax_error(g) * _lognormal(rng, 0.15, n)
    # a tail of poorly measured sources (binaries, crowding) as in real Gaia data
    bad = rng.uniform(size=n) < 0.06
    sig_plx = np.where(bad, sig_plx * _lognormal(rng, 0.6, n) * 4.0, sig_plx)
    out = {
        "ra_error": 0.75 * sig_plx * _lognormal(rng, 0.1, n),
        "dec_error": 0.65 * sig_plx * _lognormal(rng, 0.1, n),
        "parallax_error": sig_plx,
        "pmra_error": 0.85 * sig_plx * _lognormal(rng, 0.1, n),
        "pmdec_error": 0.75 * sig_plx * _lognormal(rng, 0.1, n),
    }
    # small correlations: |rho| <= 0.3 keeps every 4x4 matrix positive definite
    # (Gershgorin: 1 - 3 x 0.3 > 0)
    corr = [np.clip(rng.normal(0.0, 0.12, n), -0.3, 0.3) for _ in _CORR_NAMES]
    for name, val in zip(_CORR_NAMES, corr):
        out[name] = val
    L = _cholesky4(corr)
    zz = rng.normal(size=(4, n))
    e = (L[0] * zz[0],
         L[1] * zz[0] + L[2] * zz[1],
         L[3] * zz[0] + L[4] * zz[1] + L[5] * zz[2],
         L[6] * zz[0] + L[7] * zz[1] + L[8] * zz[2] + L[9] * zz[3])
    mas_to_deg = 1.0 / 3.6e6
    out["ra"] = np.mod(ra + e[0] * out["ra_error"] * mas_to_deg / np.cos(np.radians(dec)), 360.0)
    out["dec"] = dec + e[1] * out["dec_error"] * mas_to_deg
    out["pmra"] = pmra + e[2] * out["pmra_error"]
    out["pmdec"] = pmdec + e[3] * out["pmdec_error"]
    eps_plx = rng.normal(size=n)
    out["parallax"] = 1.0 / dist + eps_plx * sig_plx
    out["parallax_over_error"] = out["parallax"] / sig_plx
    return out, eps_plx


def _bailer_jones(rng, dist, sig_plx, eps_plx):
    """Bailer-Jones-like geometric distance percentiles (pc).

    The fractional width follows the parallax's (sigma_plx / plx), saturating
    at ~0.6 where the prior takes over; the median moves with the same noise
    as the observed parallax (the distances are derived from it), log-normally
    so r_lo < r_med < r_hi stay positive and the interval is skewed outwards.
    """
    f = sig_plx * dist
    s = f / np.sqrt(1.0 + (f / 0.6) ** 2)
    r_med = dist * np.exp(-s * eps_plx) * 1e3
    skew = 1.0 + 0.3 * s          # the far side of a parallax interval is longer
    return r_med, r_med * np.exp(-s), r_med * np.exp(s * skew)


def _unique_ids(rng, n, lo, hi):
    while True:
        ids = rng.integers(lo, hi, n, dtype=np.int64)
        srt = np.sort(ids)
        if not np.any(srt[1:] == srt[:-1]):  # a repeat is vanishingly rare here
            return ids


# ---------------------------------------------------------------------------
# the mock's own reading of the cuts, and the ideal-fit truth
# ---------------------------------------------------------------------------

def _halo_probability(vxyz_gc, frame):
    """P(halo) of METHOD.md section 4 (fastgrad.populations, Bensby 2003),
    from Galactocentric velocities."""
    return np.asarray(kinematic_probabilities(*vxyz_gc, frame=frame)["p_halo"])


def _astrometric_mask(gaia, bj):
    """METHOD.md section 2 astrometric cuts on aligned Gaia and Bailer-Jones columns."""
    with np.errstate(invalid="ignore"):
        sigma_d = 0.5 * (bj["r_hi_geo"] - bj["r_lo_geo"])
        return ((gaia["parallax_over_error"] > _PARALLAX_OVER_ERROR_MIN)
                & (sigma_d / bj["r_med_geo"] <= _DISTANCE_FRACTIONAL_ERROR_MAX))


def _nominal_coordinates(ra, dec, dist_kpc, pmra, pmdec, rv, frame, ok):
    """The nominal transform of the observed central values (as the pipeline
    makes it), rows ``ok`` only: (9, n) x, y, z, vx, vy, vz, R, phi, |z|."""
    from .transform import galactocentric
    out = np.full((9, ra.size), np.nan)
    if ok.any():
        # one thread: ~10 ms per 1e6 stars, and no thread pool to start
        t = galactocentric(ra[ok], dec[ok], dist_kpc[ok], pmra[ok], pmdec[ok], rv[ok],
                           frame=frame, n_threads=1)
        for j, c in enumerate(("x", "y", "z", "vx", "vy", "vz", "R", "phi", "absz")):
            out[j, ok] = t[c]
    return out


def _line_fit(x, y):
    """Least-squares slope and intercept (None when undefined)."""
    if x.size < 2 or np.ptp(x) == 0:
        return None, None
    xm, ym = x.mean(), y.mean()
    slope = float(np.sum((x - xm) * (y - ym)) / np.sum((x - xm) ** 2))
    return slope, float(ym - slope * xm)


def _binned_truth(edges, key, x, y):
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (key >= lo) & (key < hi)
        slope, intercept = _line_fit(x[sel], y[sel])
        rows.append({"bin_lo": float(lo), "bin_hi": float(hi), "slope": slope,
                     "intercept": intercept, "n": int(sel.sum())})
    return rows


def _expected_amplitude(azi, nominal, model, final, r0, half_width=0.1):
    """The amplitude the matched filter of the pipeline should find: least
    squares of delta = A (g - <g>) + c over the final |Z| < 0.3 kpc stars at
    their nominal (observed) positions, with delta from the noise-free model
    [Fe/H] and <.> annulus means in observed R.  Distance errors blur the
    pattern, so this is a little below the injected amplitude."""
    sel = final & (nominal[8] < 0.3)
    if azi["kind"] == "none" or sel.sum() < 10:
        return None
    x, y, R, model = nominal[0][sel], nominal[1][sel], nominal[6][sel], model[sel]
    g = _pattern_shape(azi, R, np.arctan2(y, -x), r0)
    model_mean = annulus_mean(R, model, half_width)
    g_mean = annulus_mean(R, g, half_width)
    delta = model - model_mean
    g = g - g_mean
    design = np.column_stack([g, np.ones_like(g)])
    coef = np.linalg.lstsq(design, delta, rcond=None)[0]
    return float(coef[0])


def _azimuthal_truth(azi, R, phi, absz, model, r0):
    """What the METHOD.md section 6 profile of the noise-free model looks like:
    per region (inner 7-9, outer 9-11 kpc), mean deviation from the annulus
    mean (h = 0.1 kpc) in 2-degree phi bins with >= 20 stars (|Z| < 0.3 kpc)."""
    plane = absz < 0.3
    R, phi, model = R[plane], phi[plane], model[plane]
    delta = model - annulus_mean(R, model, 0.1)
    width = np.radians(2.0)
    out = {}
    for region, (r_lo, r_hi) in (("inner", (7.0, 9.0)), ("outer", (9.0, 11.0))):
        sel = (R > r_lo) & (R < r_hi)
        if not sel.any():
            out[region] = {"phi_center_rad": [], "mean_delta_dex": [], "n": [],
                           "peak_to_peak_dex": None}
            continue
        idx = np.floor(phi[sel] / width).astype(np.int64)
        base = idx.min()
        cnt = np.bincount(idx - base)
        tot = np.bincount(idx - base, weights=delta[sel])
        good = np.flatnonzero(cnt >= 20)
        centres = (good + base + 0.5) * width
        out[region] = {"phi_center_rad": [round(float(c), 6) for c in centres],
                       "mean_delta_dex": [round(float(v), 6) for v in tot[good] / cnt[good]],
                       "n": [int(c) for c in cnt[good]],
                       "peak_to_peak_dex": float(np.ptp(tot[good] / cnt[good])) if good.size else None}
    if azi["kind"] == "reid2014_arms":
        near = _near_arm(azi, R, phi, r0)
        pattern = _azimuthal_pattern(azi, R, phi, r0)
        out["mean_pattern_near_arms_dex"] = float(pattern[near].mean()) if near.any() else None
        out["mean_pattern_elsewhere_dex"] = float(pattern[~near].mean()) if (~near).any() else None
        out["fraction_near_arms"] = float(near.mean())
    return out


# ---------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------

def _table(spec, data, truth_meta):
    names = [name for name, _, _ in spec]
    t = Table([data[name] for name in names], names=names,
              units=[unit for _, unit, _ in spec],
              descriptions=[desc for _, _, desc in spec], copy=False)
    t.meta["truth"] = copy.deepcopy(truth_meta)
    return t


def _truth_table(stars, vxyz, geo, extra):
    x, y, z = stars["xyz"]
    R = np.hypot(x, y)
    cols = {
        **extra,
        "population": np.array(_POP_NAMES)[stars["population"]],
        "x": x, "y": y, "z": z, "vx": vxyz[0], "vy": vxyz[1], "vz": vxyz[2],
        "R": R, "phi": np.arctan2(y, -x), "absz": np.abs(z),
        "distance": stars["distance"], "phot_g_mean_mag": stars["phot_g_mean_mag"],
        "abs_mag_g": stars["abs_mag_g"], "feh_pattern": stars["feh_pattern"],
        "feh_model": stars["feh_model"], "feh_true": stars["feh_true"],
        "in_final": stars["in_final"],
        # the nominal transform of the observed central values (NaN outside
        # the final sample): the bins of meta["truth"]["table1"/"table2"]
        "R_observed": stars["nominal"][6], "absz_observed": stars["nominal"][8],
    }
    units = {"x": u.kpc, "y": u.kpc, "z": u.kpc, "vx": _KMS, "vy": _KMS, "vz": _KMS,
             "R": u.kpc, "phi": u.rad, "absz": u.kpc, "distance": u.kpc,
             "R_observed": u.kpc, "absz_observed": u.kpc,
             "phot_g_mean_mag": u.mag, "abs_mag_g": u.mag, "feh_pattern": _DEX,
             "feh_model": _DEX, "feh_true": _DEX}
    t = Table(cols)
    for name, unit in units.items():
        t[name].unit = unit
    return t


def _check_n(kind, n):
    if n is None:
        return DEFAULT_N[kind]
    if isinstance(n, bool) or int(n) != n or n < 100:
        raise ValueError(f"n must be an int >= 100, got {n!r}")
    return int(n)


# ---------------------------------------------------------------------------
# the public functions
# ---------------------------------------------------------------------------

def make_survey(kind, n=None, *, truth=None, seed=None, frame=None, include_truth=False):
    """Synthetic survey tables with a known truth.

    Parameters
    ----------
    kind : {"lamost_hot_stars", "gaia_giants"}
    n : int, optional
        Rows of the main table: LAMOST candidates (default 330,000, the paper's
        ~332,000) or Gaia giants (default 1,000,000).  Everything scales with it.
    truth : dict, optional
        Overrides of :func:`default_truth` (nested dict, same keys).
    seed : None, int or numpy.random.SeedSequence
        Same seed, same tables.
    frame : None, str or astropy.coordinates.Galactocentric
        The Galactocentric frame the truth lives in (default: the paper's,
        preset "hawkins2023").
    include_truth : bool
        Also return ``"truth"``: one row per star of the main table with the
        true Galactocentric coordinates (kpc, km/s, rad), distance (kpc),
        population, noise-free model / pattern / true [Fe/H] (dex) and
        ``in_final`` (the star survives the mock's reading of the cuts).

    Returns
    -------
    dict of astropy.table.Table
        ``"lamost_hot_stars"``: ``{"lamost", "gaia", "bailer_jones"}``;
        ``"gaia_giants"``: ``{"gaia", "bailer_jones"}``.  Columns and units:
        :data:`LAMOST_COLUMNS`, :data:`GAIA_COLUMNS` (:data:`GAIA_GIANT_COLUMNS`
        for the giants), :data:`BAILER_JONES_COLUMNS`.  Rows are in no
        particular relation across tables: join on ``source_id`` or by position.

        Every table's ``meta["truth"]`` (JSON-serialisable) holds the resolved
        model (``metallicity``, ``azimuthal``, ``populations``,
        ``rotation_speed_kms``, ``survey``), ``kind``, ``n``, ``seed``
        (the SeedSequence entropy), ``frame`` (preset and numbers),
        ``counts`` (the mock's own count of the METHOD.md cuts),
        ``table1`` / ``table2`` (per |Z| bin 0-1.4 by 0.2 / R bin 7-14 by 1:
        ``bin_lo``, ``bin_hi``, ``slope``, ``intercept``, ``n``: the
        least-squares line of the noise-free model [Fe/H] against true R /
        true |Z| over the final sample's stars that the observed central values
        put in the bin (distance errors move stars between bins, where the
        gradient differs)), ``azimuthal_amplitude`` (dex, the injected peak; 0 for
        ``kind="none"``), ``azimuthal_amplitude_observed`` (dex: what a
        matched filter A (g - <g>) + c, g = :func:`pattern_shape`, fitted to
        the noise-free model at the final |Z| < 0.3 kpc stars' nominal
        observed positions returns, annulus half-width 0.1 kpc; distance
        errors blur the pattern by a few per cent; None for ``"none"``) and
        ``azimuthal_profile`` (the METHOD.md section 6 profile of the
        noise-free model).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    n = _check_n(kind, n)
    full = _resolve_truth(kind, truth)
    frame = get_frame(frame)
    ss = seed_sequence(seed)
    rng = np.random.default_rng(ss)
    geo = _Geometry(frame)
    if kind == "lamost_hot_stars":
        tables, stars, vxyz, extra, counts = _make_lamost(rng, n, full, frame, geo)
    else:
        tables, stars, vxyz, extra, counts = _make_giants(rng, n, full, frame, geo)

    x, y, z = stars["xyz"]
    R, absz, phi = np.hypot(x, y), np.abs(z), np.arctan2(y, -x)
    fin = stars["in_final"]
    meta = {
        "kind": kind,
        "n": n,
        "seed": int(ss.entropy) if isinstance(ss.entropy, (int, np.integer)) else ss.entropy,
        **full,
        "rotation_speed_kms": stars["rotation_speed_kms"],
        "frame": frame_metadata(frame),
        "counts": counts,
        # the bins hold the stars an analysis of the catalogue puts there
        # (binned by the observed |Z|, R), fitted against their true R, |Z|:
        # distance errors move stars between bins where the gradient differs
        "table1": _binned_truth(TABLE1_EDGES, stars["nominal"][8][fin], R[fin],
                                stars["feh_model"][fin]),
        "table2": _binned_truth(TABLE2_EDGES, stars["nominal"][6][fin], absz[fin],
                                stars["feh_model"][fin]),
        "azimuthal_amplitude": float(full["azimuthal"]["amplitude_dex"])
        if full["azimuthal"]["kind"] != "none" else 0.0,
        "azimuthal_amplitude_observed": _expected_amplitude(
            full["azimuthal"], stars["nominal"], stars["feh_model"], fin, geo.r0_pattern),
        "azimuthal_profile": _azimuthal_truth(full["azimuthal"], R[fin], phi[fin], absz[fin],
                                              stars["feh_model"][fin], geo.r0_pattern),
    }
    meta = json.loads(json.dumps(meta))  # plain JSON types only, checked here
    out = {name: _table(spec, data, meta) for name, (spec, data) in tables.items()}
    if include_truth:
        out["truth"] = _truth_table(stars, vxyz, geo, extra)
        out["truth"].meta["truth"] = copy.deepcopy(meta)
    return out


def make_catalog(kind, n=None, **kwargs):
    """The main table of :func:`make_survey`: the LAMOST table for
    ``"lamost_hot_stars"``, the Gaia table for ``"gaia_giants"``."""
    survey = make_survey(kind, n, **kwargs)
    return survey["lamost"] if kind == "lamost_hot_stars" else survey["gaia"]


def _common_truth(rng, kind, n, full, frame, geo):
    """Stars, velocities, true observables and [Fe/H] truth shared by both kinds."""
    stars = _sample_stars(rng, kind, n, full, geo)
    vxyz, vc = _velocities(rng, stars, full, geo)
    stars["rotation_speed_kms"] = vc
    ra, dec, dist, pmra, pmdec, rv = _to_icrs(stars["xyz"], vxyz, frame)
    stars.update(ra=ra, dec=dec, distance=dist, pmra=pmra, pmdec=pmdec, rv=rv)
    x, y, z = stars["xyz"]
    R, phi = np.hypot(x, y), np.arctan2(y, -x)
    met = full["metallicity"]
    pattern = _azimuthal_pattern(full["azimuthal"], R, phi, geo.r0_pattern)
    halo = stars["population"] == 2
    model = np.where(halo, met["halo_mean_dex"], _gradient_model(met, R, np.abs(z)) + pattern)
    scatter = np.where(halo, met["halo_sigma_dex"], met["scatter_dex"])
    stars["feh_pattern"] = np.where(halo, 0.0, pattern)
    stars["feh_model"] = model
    stars["feh_true"] = model + scatter * rng.normal(size=n)
    return stars, vxyz


def _make_lamost(rng, n, full, frame, geo):
    # LAMOST candidates and the unrelated Gaia field stars come from one draw:
    # the field stars are the last n_field, then moved on the sky
    n_field = int(round(0.02 * n))
    stars, vxyz = _common_truth(rng, "lamost_hot_stars", n + n_field, full, frame, geo)
    g = stars["phot_g_mean_mag"]
    gaia, eps_plx = _observe_gaia(rng, stars["ra"], stars["dec"], stars["distance"],
                                  stars["pmra"], stars["pmdec"], g)
    m = n + n_field
    # sorted ids dealt out in random order: Gaia rows (sorted by source_id) are
    # then in no relation to the LAMOST rows
    source_id = np.sort(_unique_ids(rng, m, 2 ** 40, 2 ** 62))[rng.permutation(m)]
    gaia["source_id"] = source_id

    # Gaia RVS: only the brightest hot stars have radial velocities
    has_rv = (g < 12.0) & (rng.uniform(size=m) < 0.6)
    rv_err_gaia = np.where(has_rv, 2.0 + 8.0 * rng.uniform(size=m), np.nan)
    gaia["radial_velocity"] = np.where(has_rv, stars["rv"] + rv_err_gaia * rng.normal(size=m), np.nan)
    gaia["radial_velocity_error"] = rv_err_gaia

    # -- the LAMOST catalogue (first n stars)
    L = slice(0, n)
    snr_ref = full["survey"]["snr30_g_mag"]
    snr = 30.0 * 10.0 ** (-0.4 * (g[L] - snr_ref)) * _lognormal(rng, 0.35, n)
    snr = np.clip(snr, 2.0, 1500.0)
    noise_scale = np.sqrt(80.0 / snr)           # spectroscopic errors ~ 1/sqrt(SNR)
    u_t = rng.uniform(size=n)
    teff = 7000.0 * np.exp(rng.exponential(0.22, n))
    teff = np.where(u_t < 0.03, rng.uniform(5500.0, 7000.0, n), teff)   # cooler contaminants
    teff = np.where(u_t > 0.99, rng.uniform(25000.0, 40000.0, n), teff)  # O / early B stars
    u_g = rng.uniform(size=n)
    logg = rng.normal(4.0, 0.3, n)
    logg = np.where(u_g < 0.04, rng.uniform(0.5, 2.0, n), logg)      # failed / giant-like fits
    logg = np.where(u_g > 0.975, rng.uniform(5.0, 6.0, n), logg)
    vsini = np.abs(rng.normal(0.0, 120.0, n))
    vsini = np.where(rng.uniform(size=n) < 0.02, -rng.uniform(0.0, 50.0, n), vsini)
    chi2ratio = np.exp(rng.normal(np.log(2.0), 0.9, n))
    feh_err = np.sqrt(0.07 ** 2 + (3.5 / snr) ** 2) * _lognormal(rng, 0.3, n)
    feh = stars["feh_true"][L] + feh_err * rng.normal(size=n)
    rv_err = 7.0 * noise_scale * _lognormal(rng, 0.3, n)
    u_r = rng.uniform(size=n)
    rv_err = np.where(u_r < 0.005, rng.uniform(100.0, 300.0, n), rv_err)  # failed RVs
    rv = stars["rv"][L] + rv_err * rng.normal(size=n)
    rv_err = np.where(u_r > 0.997, np.nan, rv_err)
    rv = np.where(u_r > 0.997, np.nan, rv)
    # a few failed parameter fits
    bad_fit = rng.uniform(size=n) < 0.003
    feh = np.where(bad_fit, np.nan, feh)
    feh_err = np.where(bad_fit, np.nan, feh_err)
    teff = np.where(rng.uniform(size=n) < 0.001, np.nan, teff)
    lamost = {
        # the stars are in random order: sorted obsids list them in obsid order
        "obsid": np.sort(rng.choice(900_000_000, n, replace=False) + 100_000_000).astype(np.int64),
        "teff": teff, "teff_err": teff * 0.0105 * noise_scale * _lognormal(rng, 0.3, n),
        "logg": logg, "logg_err": 0.10 * noise_scale * _lognormal(rng, 0.3, n),
        "feh": feh, "feh_err": feh_err, "vsini": vsini, "snr": snr, "chi2ratio": chi2ratio,
        "rv": rv, "rv_err": rv_err,
    }
    # fibre positions: the Gaia position + a ~0.1-0.5" offset (astrometry of the
    # input catalogue, epoch difference); 1 % land 2.5-8" away (no match within 2")
    offset = 0.25 * _lognormal(rng, 0.45, n)
    far = rng.uniform(size=n) < 0.01
    offset = np.where(far, rng.uniform(2.5, 8.0, n), offset)
    ra_l, dec_l = _offset_position(rng, stars["ra"][L], stars["dec"][L], offset)
    # 2 % of the LAMOST stars have no Gaia row at all
    missing = rng.uniform(size=n) < 0.02
    lamost["ra"], lamost["dec"] = ra_l, dec_l

    # -- field stars: half next to a matched LAMOST star, farther than its own
    # counterpart (so nearest-wins picks the right one), half anywhere
    field = np.arange(n, m)
    near = field[: n_field // 2]
    hosts = rng.choice(np.flatnonzero(~missing & ~far), near.size, replace=False)
    sep = offset[hosts] + rng.uniform(0.4, 2.5, near.size)
    gaia["ra"][near], gaia["dec"][near] = _offset_position(rng, ra_l[hosts], dec_l[hosts], sep)
    # 0.3 % of Gaia sources are 2-parameter solutions: no parallax, no proper
    # motion, no Bailer-Jones distance
    two_param = rng.uniform(size=m) < 0.003
    for name in ("parallax", "parallax_error", "parallax_over_error", "pmra", "pmra_error",
                 "pmdec", "pmdec_error") + _CORR_NAMES[1:]:
        gaia[name] = np.where(two_param, np.nan, gaia[name])

    bj_med, bj_lo, bj_hi = _bailer_jones(rng, stars["distance"], gaia["parallax_error"], eps_plx)
    bj = {"source_id": source_id, "r_med_geo": bj_med, "r_lo_geo": bj_lo, "r_hi_geo": bj_hi}

    # -- the mock's own reading of the cuts (for counts and the truth tables)
    with np.errstate(invalid="ignore"):
        spec_steps = [
            ("logg", (logg >= 2.0) & (logg <= 5.0)),
            ("vsini", vsini >= 0.0),
            ("teff", (teff <= 25000.0) & (teff > 7000.0)),
            ("snr", snr >= 30.0),
            ("chi2ratio", chi2ratio <= 10.0),
            ("finite_and_errors", np.isfinite(rv_err) & (rv_err <= 100.0) & np.isfinite(teff)
             & np.isfinite(logg) & np.isfinite(feh) & (feh_err < 0.20)),
        ]
    keep = np.ones(n, dtype=bool)
    counts = {"candidates": n}
    for name, mask in spec_steps:
        keep &= mask
        counts[f"after_{name}"] = int(keep.sum())
    matched = ~missing & ~far
    keep &= matched
    counts["after_crossmatch"] = int(keep.sum())
    gL = {k: v[L] for k, v in gaia.items()}
    bL = {k: v[L] for k, v in bj.items()}
    keep &= _astrometric_mask(gL, bL) & np.isfinite(rv) & ~two_param[L]
    counts["after_astrometric"] = int(keep.sum())
    nominal = _nominal_coordinates(gL["ra"], gL["dec"], bL["r_med_geo"] / 1e3, gL["pmra"],
                                   gL["pmdec"], rv, frame, keep)
    p_halo = _halo_probability(nominal[3:6], frame)
    keep &= p_halo < _P_HALO_MAX
    counts["final"] = int(keep.sum())
    counts["note"] = ("the mock's own reading of the METHOD.md cuts, in order; "
                      "crossmatch: the true counterpart within 2 arcsec")

    # -- assemble: LAMOST rows (= stars 0..n-1) in obsid order, Gaia rows by
    # source_id, Bailer-Jones rows shuffled
    gaia_rows = np.concatenate([np.flatnonzero(~missing), field])
    gaia_rows = gaia_rows[np.argsort(source_id[gaia_rows])]
    bj_rows = gaia_rows[~two_param[gaia_rows]]
    bj_rows = bj_rows[rng.permutation(bj_rows.size)]
    star_view = {k: (v[..., L] if isinstance(v, np.ndarray) else v) for k, v in stars.items()}
    star_view["in_final"] = keep
    star_view["nominal"] = nominal
    extra = {"obsid": lamost["obsid"],
             "source_id": np.where(missing, 0, source_id[L]),
             "has_gaia_match": matched}
    tables = {
        "lamost": (LAMOST_COLUMNS, lamost),
        "gaia": (GAIA_COLUMNS, {k: v[gaia_rows] for k, v in gaia.items()}),
        "bailer_jones": (BAILER_JONES_COLUMNS, {k: v[bj_rows] for k, v in bj.items()}),
    }
    return tables, star_view, vxyz[:, L], extra, counts


def _offset_position(rng, ra, dec, offset_arcsec):
    """Positions ``offset_arcsec`` away from (ra, dec) in a random direction (deg)."""
    ang = rng.uniform(0.0, 2 * np.pi, ra.size)
    d = offset_arcsec / 3600.0
    dec_new = dec + d * np.sin(ang)
    ra_new = np.mod(ra + d * np.cos(ang) / np.cos(np.radians(dec)), 360.0)
    return ra_new, dec_new


def _make_giants(rng, n, full, frame, geo):
    stars, vxyz = _common_truth(rng, "gaia_giants", n, full, frame, geo)
    g = stars["phot_g_mean_mag"]
    gaia, eps_plx = _observe_gaia(rng, stars["ra"], stars["dec"], stars["distance"],
                                  stars["pmra"], stars["pmdec"], g)
    # the stars are in random order already: sorted ids keep the table sorted
    # by source_id, as Gaia's, without a reordering copy
    source_id = np.sort(_unique_ids(rng, n, 2 ** 40, 2 ** 62))
    gaia["source_id"] = source_id
    rv_err = 0.8 + 1.2 * _lognormal(rng, 0.4, n) * 10.0 ** (0.2 * (g - 12.0))
    gaia["radial_velocity"] = stars["rv"] + rv_err * rng.normal(size=n)
    gaia["radial_velocity_error"] = rv_err
    mh_err = 0.044 * _lognormal(rng, 0.35, n) * 10.0 ** (0.15 * (g - 12.0))
    mh = stars["feh_true"] + mh_err * rng.normal(size=n)
    asym = rng.uniform(0.8, 1.2, n)
    gaia["mh_gspspec"] = mh
    gaia["mh_gspspec_lower"] = mh - asym * mh_err
    gaia["mh_gspspec_upper"] = mh + (2.0 - asym) * mh_err
    gaia["teff_gspspec"] = stars["teff_true"] + 30.0 * rng.normal(size=n)
    gaia["logg_gspspec"] = stars["logg_true"] + 0.10 * rng.normal(size=n)
    bj_med, bj_lo, bj_hi = _bailer_jones(rng, stars["distance"], gaia["parallax_error"], eps_plx)
    bj = {"source_id": source_id, "r_med_geo": bj_med, "r_lo_geo": bj_lo, "r_hi_geo": bj_hi}
    has_bj = rng.uniform(size=n) >= 0.003      # a few giants lack a Bailer-Jones distance

    counts = {"candidates": n}
    keep = (gaia["teff_gspspec"] < 4700.0) & (gaia["logg_gspspec"] < 2.0)
    counts["after_teff_logg"] = int(keep.sum())
    keep &= has_bj
    counts["after_distance_match"] = int(keep.sum())
    keep &= _astrometric_mask(gaia, bj) & np.isfinite(gaia["radial_velocity"])
    counts["after_astrometric"] = int(keep.sum())
    nominal = _nominal_coordinates(gaia["ra"], gaia["dec"], bj_med / 1e3, gaia["pmra"],
                                   gaia["pmdec"], gaia["radial_velocity"], frame, keep)
    keep &= _halo_probability(nominal[3:6], frame) < _P_HALO_MAX
    stars["nominal"] = nominal
    counts["final"] = int(keep.sum())
    counts["note"] = "the mock's own reading of the METHOD.md cuts, in order"
    stars["in_final"] = keep

    bj_rows = np.flatnonzero(has_bj)
    bj_rows = bj_rows[rng.permutation(bj_rows.size)]
    tables = {
        "gaia": (GAIA_GIANT_COLUMNS, gaia),
        "bailer_jones": (BAILER_JONES_COLUMNS, {k: v[bj_rows] for k, v in bj.items()}),
    }
    extra = {"source_id": source_id, "has_bailer_jones": has_bj}
    return tables, stars, vxyz, extra, counts
