"""Synthetic catalogues (fastgrad.mock) at paper scale.

``MockSurvey`` times a whole ``make_survey`` (330,000 LAMOST candidates or
1,000,000 Gaia giants).  ``MockSampling`` compares the selection sampler with
the obvious alternative in one run: draw stars from the whole disk, give each
an absolute magnitude, keep those the survey sees.  fastgrad's sampler draws
the absolute magnitude first (from its selection-weighted distribution) and
positions only inside the region that magnitude can be seen in, so far fewer
candidates are made per star kept; the kept stars have the same distribution.
"""

import time

import numpy as np

from fastgrad import mock
from fastgrad.frames import paper_frame
from fastgrad.mock.galaxy import Geometry
from fastgrad.mock.sampling import DiskEnvelope, sample_population


def _naive_disk_sample(rng, count, pop, sv, geo):
    """The whole exponential disk, then the survey's cuts (thin disk only)."""
    got, parts = 0, []
    while got < count:
        m = 2_000_000
        R = rng.gamma(2.0, pop["scale_length_kpc"], m)
        theta = rng.uniform(-np.pi, np.pi, m)
        x, y = R * np.cos(theta), R * np.sin(theta)
        z = rng.laplace(0.0, pop["scale_height_kpc"], m)
        M = rng.normal(sv["abs_mag_mean"], sv["abs_mag_sigma"], m)
        dx, dy, dz = x - geo.sun[0], y - geo.sun[1], z - geo.sun[2]
        dist = np.sqrt(dx * dx + dy * dy + dz * dz)
        g = M + 5.0 * np.log10(dist * 100.0)
        keep = (
            (dist >= sv["distance_min_kpc"])
            & (dist <= sv["distance_max_kpc"])
            & (g >= sv["g_min_mag"])
            & (g <= sv["g_max_mag"])
        )
        sin_dec = (geo.A[0, 2] * dx + geo.A[1, 2] * dy + geo.A[2, 2] * dz) / dist
        keep &= sin_dec > np.sin(np.radians(sv["dec_min_deg"]))
        if sv["anticentre_weight_min"] < 1.0:
            cos_l = dx / np.sqrt(dx * dx + dy * dy)
            w = (
                sv["anticentre_weight_min"]
                + (1.0 - sv["anticentre_weight_min"])
                * (0.5 * (1.0 - cos_l)) ** sv["anticentre_weight_power"]
            )
            keep &= rng.uniform(size=m) < w
        parts.append(x[keep])
        got += int(keep.sum())
    return np.concatenate(parts)[:count]


class MockSurvey:
    params = ["lamost_hot_stars", "gaia_giants"]
    param_names = ["kind"]
    timeout = 300
    number = 1
    repeat = 2

    def time_make_survey(self, kind):
        mock.make_survey(kind, seed=1)


class MockSampling:
    """Stars per second of the thin-disk LAMOST selection (300,000 stars)."""

    n = 300_000

    def setup(self):
        self.truth = mock.default_truth("lamost_hot_stars")
        self.sv = dict(
            self.truth["survey"], abs_mag_sigma_total=self.truth["survey"]["abs_mag_sigma"]
        )
        self.pop = self.truth["populations"]["thin"]
        self.geo = Geometry(paper_frame())

    def _rate(self, fn):
        best = np.inf
        for _ in range(2):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        return self.n / best

    def track_stars_per_s_fastgrad(self):
        env = DiskEnvelope(self.pop, self.geo, self.sv["distance_max_kpc"])
        rng = np.random.default_rng(1)
        return self._rate(
            lambda: sample_population(rng, "lamost_hot_stars", self.n, env, self.sv, self.geo)
        )

    def track_stars_per_s_naive(self):
        rng = np.random.default_rng(1)
        return self._rate(lambda: _naive_disk_sample(rng, self.n, self.pop, self.sv, self.geo))

    track_stars_per_s_fastgrad.unit = "stars/s"
    track_stars_per_s_naive.unit = "stars/s"
