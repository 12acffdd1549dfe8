"""Drawing the stars a magnitude-limited survey selects: positions and
intrinsic properties (absolute magnitude; for the giants logg and Teff).

Lengths in kpc, magnitudes in mag, angles in rad; the survey's parameters
are ``truth["survey"]`` of :func:`fastgrad.mock.default_truth`, the geometry a
:class:`fastgrad.mock.galaxy.Geometry`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .galaxy import POPULATIONS

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    import numpy.typing as npt

    from .galaxy import Geometry


__all__ = [
    "InverseCDF",
    "gamma2_cdf",
    "DiskEnvelope",
    "HaloEnvelope",
    "abs_mag_sampler",
    "distance_window",
    "sample_population",
    "sample_stars",
]

# Gaia giants' intrinsic parameters: logg ~ N(mean, sigma); absolute G =
# N(abs_mag_mean, abs_mag_sigma) + dM/dlogg (logg - mean) (more luminous when
# lower); Teff = T0 + dT/dlogg (logg - mean) + N(0, sigma_T).  Tuned so the
# Teff < 4700 K / logg < 2.0 cut removes ~13 % of the selected giants.
_GIANT_LOGG = (1.55, 0.35)
_GIANT_MG_PER_LOGG = 1.6
_GIANT_TEFF = (4480.0, 450.0, 200.0)


# Sampling a magnitude-limited survey.  The selected stars have the joint density
# p(M) rho(x) [d(x) within the distances at which M is in the G window] (times
# the footprint and targeting terms), so each candidate's absolute magnitude M
# is drawn first, giving its distance limit d_lim(M).  Positions come from an
# envelope: rho restricted to a region B(d_lim) that covers the sphere of
# radius d_lim around the Sun, of mass E(d_lim).  Drawing M from
# p(M) E(d_lim(M)) (an inverse CDF tabulated once), then x from rho within
# B(d_lim), then keeping the stars that pass the survey's cuts gives exactly
# that joint density; candidates are made only where their M can be seen
# (far fewer than drawing from the whole disk; bench/benchmarks/bench_mock.py
# measures how many).


class InverseCDF:
    """x(u) for a CDF tabulated at points x, resampled once on a uniform grid
    of u so that each draw is an index computation, not a binary search."""

    def __init__(self, x: np.ndarray, cdf: np.ndarray, size: int = 65537) -> None:
        self.u_max = float(cdf[-1])
        self.table = np.interp(np.linspace(0.0, self.u_max, size), cdf, x)
        self.scale = (size - 1) / self.u_max

    def __call__(self, u: npt.ArrayLike) -> np.ndarray:
        """x at cumulative probabilities ``u`` in [0, u_max]."""
        pos = np.clip(u * self.scale, 0.0, self.table.size - 1.000001)
        i = pos.astype(np.intp)
        f = pos - i
        return self.table[i] * (1.0 - f) + self.table[i + 1] * f


def gamma2_cdf(x: npt.ArrayLike) -> np.ndarray:
    """CDF of the Gamma(2) distribution (the exponential disk's R / h_R)."""
    return 1.0 - np.exp(-x) * (1.0 + x)


class DiskEnvelope:
    """The disk itself restricted to the annulus R0 -+ d_lim and the wedge of
    half-angle asin(d_lim / R0) around the Sun (exact density there: rho / e = 1)."""

    def __init__(self, pop: Mapping[str, Any], geo: Geometry, d_max: float) -> None:
        self.h = pop["scale_length_kpc"]
        self.hz = pop["scale_height_kpc"]
        self.geo = geo
        grid = np.linspace(0.0, geo.r0 + d_max, 200001)
        self.inverse = InverseCDF(grid, gamma2_cdf(grid / self.h))

    def _bounds(self, d_lim):
        r0 = self.geo.r0
        lo = gamma2_cdf(np.maximum(r0 - d_lim, 0.0) / self.h)
        hi = gamma2_cdf((r0 + d_lim) / self.h)
        half = np.where(d_lim < r0, np.arcsin(np.minimum(d_lim / r0, 1.0)), np.pi)
        return lo, hi, half

    def mass(self, d_lim: np.ndarray) -> np.ndarray:
        """The envelope's mass (fraction of the disk) for distance limits ``d_lim``."""
        lo, hi, half = self._bounds(d_lim)
        return (hi - lo) * half / np.pi

    def propose(
        self, rng: np.random.Generator, d_lim: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """x, y, z (kpc) of one candidate per ``d_lim`` and a mask (all True)."""
        k = d_lim.size
        lo, hi, half = self._bounds(d_lim)
        R = self.inverse(lo + (hi - lo) * rng.uniform(size=k))
        theta = self.geo.theta_sun + half * rng.uniform(-1.0, 1.0, k)
        z = rng.laplace(0.0, self.hz, k)
        return R * np.cos(theta), R * np.sin(theta), z, np.ones(k, dtype=bool)


class HaloEnvelope:
    """The r^-3 halo itself (r >= 0.5 kpc) restricted to the shell R0 -+ d_lim
    and the cone, seen from the centre, of half-angle asin(d_lim / R0) around
    the Sun's direction (exact density there: rho / e = 1)."""

    r_core = 0.5

    def __init__(self, geo: Geometry) -> None:
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
        cos_a = np.where(
            d_lim < self.r_sun, np.sqrt(np.maximum(1.0 - (d_lim / self.r_sun) ** 2, 0.0)), -1.0
        )
        return r_lo, r_hi, cos_a

    def mass(self, d_lim: np.ndarray) -> np.ndarray:
        """The envelope's mass (arbitrary units) for distance limits ``d_lim``."""
        # r^2 rho(r) dr ~ dr / r: a shell holds ln(r_hi / r_lo), the cone (1 - cos a) / 2 of it
        r_lo, r_hi, cos_a = self._bounds(d_lim)
        return np.log(r_hi / r_lo) * (1.0 - cos_a)

    def propose(
        self, rng: np.random.Generator, d_lim: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """x, y, z (kpc) of one candidate per ``d_lim`` and a mask (all True)."""
        k = d_lim.size
        r_lo, r_hi, cos_a = self._bounds(d_lim)
        r = r_lo * (r_hi / r_lo) ** rng.uniform(size=k)
        cos_t = cos_a + (1.0 - cos_a) * rng.uniform(size=k)
        sin_t = np.sqrt(np.maximum(1.0 - cos_t**2, 0.0))
        ph = rng.uniform(-np.pi, np.pi, k)
        s, e1, e2 = self.basis
        a, b, c = r * cos_t, r * sin_t * np.cos(ph), r * sin_t * np.sin(ph)
        x = a * s[0] + b * e1[0] + c * e2[0]
        y = a * s[1] + b * e1[1] + c * e2[1]
        z = a * s[2] + b * e1[2] + c * e2[2]
        return x, y, z, np.ones(k, dtype=bool)


def abs_mag_sampler(envelope: DiskEnvelope | HaloEnvelope, sv: Mapping[str, Any]) -> InverseCDF:
    """Inverse CDF of p(M) E(d_lim(M)): the first rejection step done exactly."""
    mu, sigma = sv["abs_mag_mean"], sv["abs_mag_sigma_total"]
    grid = np.linspace(mu - 8.0 * sigma, mu + 8.0 * sigma, 20001)
    d_hi, d_lo = distance_window(grid, sv)
    w = np.exp(-0.5 * ((grid - mu) / sigma) ** 2) * envelope.mass(d_hi) * (d_hi > d_lo)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (w[1:] + w[:-1]))])
    if cdf[-1] <= 0.0:
        raise ValueError("truth['survey']: no star can be seen in the G and distance windows")
    return InverseCDF(grid, cdf)


def distance_window(M: npt.ArrayLike, sv: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The heliocentric distances (kpc) at which a star of absolute magnitude
    ``M`` is inside the survey's G and distance windows: (d_hi, d_lo)."""
    d_hi = np.minimum(sv["distance_max_kpc"], 10.0 ** (0.2 * (sv["g_max_mag"] - M) - 2.0))
    d_lo = np.maximum(sv["distance_min_kpc"], 10.0 ** (0.2 * (sv["g_min_mag"] - M) - 2.0))
    return d_hi, d_lo


def sample_population(
    rng: np.random.Generator,
    kind: str,
    count: int,
    envelope: DiskEnvelope | HaloEnvelope,
    sv: Mapping[str, Any],
    geo: Geometry,
) -> dict[str, np.ndarray]:
    """``count`` stars of one population as the survey selects them.

    ``envelope`` is a :class:`DiskEnvelope` or :class:`HaloEnvelope`, ``sv``
    ``truth["survey"]`` plus ``abs_mag_sigma_total`` (mag), ``geo`` a
    :class:`fastgrad.mock.galaxy.Geometry`.  Returns a dict of arrays: x, y, z
    (kpc), ``phot_g_mean_mag`` and ``abs_mag_g`` (mag), and for the giants
    ``logg_true`` (dex) and ``teff_true`` (K).
    """
    abs_mag = abs_mag_sampler(envelope, sv)
    parts, got, eff = [], 0, 0.3
    while got < count:
        m = int(min(max(1.15 * (count - got) / eff, 4096), 4_000_000))
        M = abs_mag(rng.uniform(size=m) * abs_mag.u_max)
        d_hi, d_lo = distance_window(M, sv)
        props = {"abs_mag_g": M}
        if kind == "gaia_giants":
            # GSP-Spec-like giants: M = M0 + dM/dlogg (logg - mean), M0 and logg
            # normal, so logg given M is normal too
            lg_mean, lg_sigma = _GIANT_LOGG
            cov = _GIANT_MG_PER_LOGG * lg_sigma**2
            var_m = sv["abs_mag_sigma_total"] ** 2
            logg = (
                lg_mean
                + cov / var_m * (M - sv["abs_mag_mean"])
                + np.sqrt(lg_sigma**2 - cov**2 / var_m) * rng.normal(size=m)
            )
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
        kept = {
            "x": x[ok],
            "y": y[ok],
            "z": z[ok],
            "phot_g_mean_mag": M[ok] + 5.0 * np.log10(dist[ok] * 100.0),
        }
        kept.update({k: v[ok] for k, v in props.items()})
        k = int(ok.sum())
        eff = max(k / m, 1e-3)
        if k:
            parts.append(kept)
            got += k
    return {key: np.concatenate([p[key] for p in parts])[:count] for key in parts[0]}


def sample_stars(
    rng: np.random.Generator, kind: str, n: int, truth: Mapping[str, Any], geo: Geometry
) -> dict[str, np.ndarray]:
    """Galactocentric positions and intrinsic properties of ``n`` selected stars
    of every population, interleaved: :func:`sample_population`'s columns with
    ``xyz`` (3, n) in kpc and ``population`` (codes into
    :data:`fastgrad.mock.galaxy.POPULATIONS`)."""
    sv = dict(truth["survey"])
    sv["abs_mag_sigma_total"] = sv["abs_mag_sigma"]
    if kind == "gaia_giants":
        sv["abs_mag_sigma_total"] = np.hypot(
            sv["abs_mag_sigma"], _GIANT_MG_PER_LOGG * _GIANT_LOGG[1]
        )
    pops = truth["populations"]
    counts = {
        "halo": int(round(pops["halo"]["fraction"] * n)),
        "thick": int(round(pops["thick"]["fraction"] * n)),
    }
    counts["thin"] = n - counts["halo"] - counts["thick"]
    blocks, labels = [], []
    for code, name in enumerate(POPULATIONS):
        if counts[name] == 0:
            continue
        envelope = (
            HaloEnvelope(geo)
            if name == "halo"
            else DiskEnvelope(pops[name], geo, sv["distance_max_kpc"])
        )
        blocks.append(sample_population(rng, kind, counts[name], envelope, sv, geo))
        labels.append(np.full(counts[name], code, dtype=np.int8))
    stars = {key: np.concatenate([b[key] for b in blocks]) for key in blocks[0]}
    stars["population"] = np.concatenate(labels)
    order = rng.permutation(n)  # interleave the populations
    stars = {key: val[order] for key, val in stars.items()}
    stars["xyz"] = np.stack([stars.pop("x"), stars.pop("y"), stars.pop("z")])
    return stars
