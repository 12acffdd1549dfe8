"""Monte-Carlo ICRS -> Galactocentric: fastgrad against astropy, in one run.

``track_*`` benchmarks report throughput in draws per second, so a single
``asv run`` gives fastgrad's and astropy's side by side, and their ratios.
The astropy references are the two ways the job is done with astropy: one
``SkyCoord.transform_to`` per star (as the paper did) and one batched
``SkyCoord`` over all draws (needs N x K memory).
"""

import sys
import time
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord

import fastgrad

MAS = np.pi / (180 * 3600e3)


def _stars(n, seed=0):
    rng = np.random.default_rng(seed)
    d = rng.uniform(0.5, 4.0, n)
    return dict(
        ra=rng.uniform(0, 360, n),
        dec=rng.uniform(-10, 60, n),
        distance=d,
        pmra=rng.normal(0, 5, n),
        pmdec=rng.normal(0, 5, n),
        radial_velocity=rng.normal(0, 30, n),
    ), dict(
        ra_error=rng.uniform(0.01, 0.05, n),
        dec_error=rng.uniform(0.01, 0.05, n),
        distance_error=0.05 * d,
        pmra_error=rng.uniform(0.01, 0.1, n),
        pmdec_error=rng.uniform(0.01, 0.1, n),
        radial_velocity_error=rng.uniform(1, 10, n),
    )


def _best(fn, repeat=3):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _astropy_draws(s, e, k, rng):
    n = len(s["ra"])
    shape = (n, k)

    def draw(x, sx):
        return (
            np.asarray(x)[:, None] + np.asarray(sx)[:, None] * rng.standard_normal(shape)
        ).ravel()

    cosd = np.cos(np.radians(s["dec"]))
    return dict(
        ra=draw(s["ra"], e["ra_error"] * MAS * 180 / np.pi / cosd) * u.deg,
        dec=draw(s["dec"], e["dec_error"] * MAS * 180 / np.pi) * u.deg,
        distance=np.abs(draw(s["distance"], e["distance_error"])) * u.kpc,
        pm_ra_cosdec=draw(s["pmra"], e["pmra_error"]) * u.mas / u.yr,
        pm_dec=draw(s["pmdec"], e["pmdec_error"]) * u.mas / u.yr,
        radial_velocity=draw(s["radial_velocity"], e["radial_velocity_error"]) * u.km / u.s,
    )


def astropy_batched_mc(s, e, k, frame, rng):
    """One SkyCoord over all N x K draws, then per-star standard deviations."""
    n = len(s["ra"])
    g = SkyCoord(**_astropy_draws(s, e, k, rng)).transform_to(frame)
    x, y, z = (q.to_value(u.kpc).reshape(n, k) for q in (g.x, g.y, g.z))
    vx, vy, vz = (q.to_value(u.km / u.s).reshape(n, k) for q in (g.v_x, g.v_y, g.v_z))
    R = np.hypot(x, y)
    return [a.std(axis=1) for a in (x, y, z, vx, vy, vz, R, np.arctan2(y, -x), np.abs(z))]


def astropy_per_star_mc(s, e, k, frame, rng):
    """One SkyCoord transform per star (the paper's way)."""
    out = []
    for i in range(len(s["ra"])):
        si = {key: v[i : i + 1] for key, v in s.items()}
        ei = {key: v[i : i + 1] for key, v in e.items()}
        out.append(astropy_batched_mc(si, ei, k, frame, rng))
    return out


class MonteCarloTransform:
    """Draws per second of the paper's Monte Carlo (1000 draws per star)."""

    unit = "draws/s"
    timeout = 600
    K = 1000

    def setup(self):
        self.frame = fastgrad.paper_frame()
        self.s, self.e = _stars(50_000)
        self.s_small = {k: v[:2000] for k, v in self.s.items()}
        self.e_small = {k: v[:2000] for k, v in self.e.items()}
        self.s_tiny = {k: v[:40] for k, v in self.s.items()}
        self.e_tiny = {k: v[:40] for k, v in self.e.items()}
        self.rng = np.random.default_rng(0)

    def _fastgrad(self, n_threads):
        t = _best(
            lambda: fastgrad.mc_galactocentric(
                **self.s, **self.e, n_samples=self.K, seed=1, n_threads=n_threads
            )
        )
        return len(self.s["ra"]) * self.K / t

    def _astropy_batched(self):
        t = _best(
            lambda: astropy_batched_mc(self.s_small, self.e_small, self.K, self.frame, self.rng), 1
        )
        return len(self.s_small["ra"]) * self.K / t

    def _astropy_per_star(self):
        t = _best(
            lambda: astropy_per_star_mc(self.s_tiny, self.e_tiny, self.K, self.frame, self.rng), 1
        )
        return len(self.s_tiny["ra"]) * self.K / t

    def track_fastgrad_1_thread(self):
        return self._fastgrad(1)

    def track_fastgrad_all_threads(self):
        return self._fastgrad(None)

    def track_astropy_batched(self):
        return self._astropy_batched()

    def track_astropy_per_star(self):
        return self._astropy_per_star()

    def track_speedup_vs_astropy_batched(self):
        return self._fastgrad(None) / self._astropy_batched()

    track_speedup_vs_astropy_batched.unit = "x"

    def track_speedup_vs_astropy_per_star(self):
        return self._fastgrad(None) / self._astropy_per_star()

    track_speedup_vs_astropy_per_star.unit = "x"

    def track_lamost_job_seconds(self):
        """The paper's LAMOST job, 135,000 stars x 1000 draws, in seconds."""
        return 135_000 * self.K / self._fastgrad(None)

    track_lamost_job_seconds.unit = "s"

    def peakmem_fastgrad_50k_stars(self):
        fastgrad.mc_galactocentric(**self.s, **self.e, n_samples=self.K, seed=1)


class NominalTransform:
    """Central-value transform of 1e6 stars: fastgrad against astropy."""

    def setup(self):
        self.s, _ = _stars(1_000_000)
        self.frame = fastgrad.paper_frame()

    def time_fastgrad(self):
        fastgrad.galactocentric(**self.s)

    def time_astropy(self):
        SkyCoord(
            ra=self.s["ra"] * u.deg,
            dec=self.s["dec"] * u.deg,
            distance=self.s["distance"] * u.kpc,
            pm_ra_cosdec=self.s["pmra"] * u.mas / u.yr,
            pm_dec=self.s["pmdec"] * u.mas / u.yr,
            radial_velocity=self.s["radial_velocity"] * u.km / u.s,
        ).transform_to(self.frame)


class NominalTransformFirstCalls:
    """The first 7 calls in a fresh process (bench/nominal_first_calls.py):
    fastgrad's and astropy's medians, interleaved, 3 processes."""

    timeout = 600
    unit = "x"

    def track_speedup_median_first_7_calls(self):
        sys.path.insert(0, str(Path(__file__).parent.parent))
        from nominal_first_calls import trial

        ratios = []
        for _ in range(3):
            t = trial(7)
            ratios.append(np.median(t["astropy"]) / np.median(t["fastgrad"]))
        return float(np.median(ratios))
