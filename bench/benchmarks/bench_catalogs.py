"""asv benchmarks: catalogue reading, quality cuts, cross-match, kinematic populations.

Each suite times fastgrad beside the obvious alternative in the same run:

- cuts: ``apply_cuts`` (masks on the full table, one final copy, a report)
  vs. filtering an astropy Table cut by cut (``t = t[mask]``, a copy per cut);
- probabilities: ``uvw_probabilities`` (numpy, log-sum-exp) vs.
  ``scipy.stats.multivariate_normal`` per population;
- reading: ``read_catalog`` (format detection, renaming, units) vs. a bare
  ``Table.read``;
- cross-match: ``crossmatch`` (one-to-one, joined table, report) vs. a bare
  ``match_coordinates_sky``.

Run with asv, or ``python bench/benchmarks/bench_catalogs.py`` for a quick table.
"""

import os
import tempfile

import astropy.units as u
import numpy as np
from astropy.table import Table

from fastgrad.catalogs import apply_cuts, crossmatch, get_cuts, read_catalog
from fastgrad.populations import kinematic_probabilities, uvw_probabilities

N = 1_000_000


def lamost_like(n, seed=0):
    """Canonical LAMOST hot-star columns with realistic failure rates per cut."""
    rng = np.random.default_rng(seed)
    t = Table()
    t["obsid"] = np.arange(n, dtype=np.int64)
    t["ra"] = rng.uniform(0, 360, n) * u.deg
    t["dec"] = np.degrees(np.arcsin(rng.uniform(-0.2, 1.0, n))) * u.deg
    t["teff"] = rng.uniform(6000, 30000, n) * u.K
    t["teff_err"] = rng.uniform(20, 300, n) * u.K
    t["logg"] = rng.normal(3.8, 0.8, n) * u.dex
    t["logg_err"] = rng.uniform(0.02, 0.3, n) * u.dex
    feh = rng.normal(-0.2, 0.3, n)
    feh[rng.random(n) < 0.01] = np.nan
    t["feh"] = feh * u.dex
    t["feh_err"] = rng.exponential(0.08, n) * u.dex
    t["vsini"] = rng.normal(100, 80, n) * u.km / u.s
    t["snr"] = rng.lognormal(3.8, 0.8, n)
    t["chi2ratio"] = rng.exponential(2.0, n)
    t["rv"] = rng.normal(0, 30, n) * u.km / u.s
    rv_err = rng.exponential(15, n)
    rv_err[rng.random(n) < 0.01] = np.nan
    t["rv_err"] = rv_err * u.km / u.s
    return t


class CutsSuite:
    timeout = 300

    def setup(self):
        self.table = lamost_like(N)
        self.cuts = get_cuts("lamost_hot_stars")

    def time_apply_cuts_fastgrad(self):
        apply_cuts(self.table, self.cuts)

    def time_table_filter_per_cut(self):
        t = self.table
        for cut in self.cuts:
            t = t[cut.keep(t)]


class ProbabilitiesSuite:
    timeout = 300

    def setup(self):
        rng = np.random.default_rng(1)
        self.U, self.V, self.W = rng.normal(0, 60, (3, N))
        self.V -= 20.0
        self.vx = self.U + 12.9 - 11.1
        self.vy = self.V + 245.0 - 12.24
        self.vz = self.W + 7.78 - 7.25
        self.x, self.y = np.full(N, -8.27), rng.normal(0, 0.5, N)  # near the Sun

    def time_uvw_probabilities_fastgrad(self):
        uvw_probabilities(self.U, self.V, self.W)

    def time_kinematic_probabilities_fastgrad(self):
        kinematic_probabilities(self.vx, self.vy, self.vz, x=self.x, y=self.y)

    def time_scipy_multivariate_normal(self):
        from scipy.stats import multivariate_normal

        x = np.column_stack([self.U, self.V, self.W])
        f = [
            0.94 * multivariate_normal([0, -15, 0], np.diag([35.0**2, 20.0**2, 16.0**2])).pdf(x),
            0.06 * multivariate_normal([0, -46, 0], np.diag([67.0**2, 38.0**2, 35.0**2])).pdf(x),
            0.0015
            * multivariate_normal([0, -220, 0], np.diag([160.0**2, 90.0**2, 90.0**2])).pdf(x),
        ]
        total = f[0] + f[1] + f[2]
        return [fk / total for fk in f]


class ReadSuite:
    timeout = 600
    params = ["fits", "parquet", "csv"]
    param_names = ["format"]

    def setup_cache(self):
        tmp = tempfile.mkdtemp(prefix="fastgrad-bench-")
        t = lamost_like(N)
        # VizieR-style names, so the reader has a real map to apply
        t.rename_columns(
            ["ra", "dec", "feh", "feh_err", "snr", "rv", "rv_err"],
            ["RAdeg", "DEdeg", "FeH", "e_FeH", "SNRg", "RV", "e_RV"],
        )
        paths = {}
        for fmt, ext in (("fits", "fits"), ("parquet", "parquet"), ("csv", "csv")):
            paths[fmt] = os.path.join(tmp, f"lamost.{ext}")
            t.write(paths[fmt], format={"csv": "ascii.csv"}.get(fmt, fmt), overwrite=True)
        return paths

    def time_read_catalog_fastgrad(self, paths, fmt):
        read_catalog(paths[fmt], kind="lamost_hot_stars")

    def time_table_read_bare(self, paths, fmt):
        if fmt == "csv":
            import pandas as pd

            Table.from_pandas(pd.read_csv(paths[fmt]))
        else:
            Table.read(paths[fmt], format=fmt)


class CrossmatchSuite:
    timeout = 600

    def setup(self):
        rng = np.random.default_rng(2)
        n_right, n_left = N, N // 5
        self.right = Table(
            {
                "source_id": np.arange(n_right),
                "ra": rng.uniform(0, 360, n_right),
                "dec": np.degrees(np.arcsin(rng.uniform(-1, 1, n_right))),
            }
        )
        pick = rng.choice(n_right, n_left, replace=False)
        self.left = Table(
            {
                "obsid": np.arange(n_left),
                "ra": self.right["ra"][pick] + rng.normal(0, 0.3 / 3600, n_left),
                "dec": self.right["dec"][pick] + rng.normal(0, 0.3 / 3600, n_left),
            }
        )

    def time_crossmatch_fastgrad(self):
        crossmatch(self.left, self.right, suffixes=("_lamost", ""))

    def time_match_coordinates_sky_bare(self):
        from astropy.coordinates import SkyCoord, match_coordinates_sky

        match_coordinates_sky(
            SkyCoord(self.left["ra"], self.left["dec"], unit="deg"),
            SkyCoord(self.right["ra"], self.right["dec"], unit="deg"),
        )


def _time(fn, *args, repeat=3):
    import time

    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


if __name__ == "__main__":
    rows = []
    for cls in (CutsSuite, ProbabilitiesSuite, CrossmatchSuite):
        suite = cls()
        suite.setup()
        for name in sorted(n for n in dir(suite) if n.startswith("time_")):
            rows.append((cls.__name__, name, "", _time(getattr(suite, name))))
    suite = ReadSuite()
    paths = suite.setup_cache()
    for fmt in ReadSuite.params:
        for name in ("time_read_catalog_fastgrad", "time_table_read_bare"):
            rows.append(("ReadSuite", name, fmt, _time(getattr(suite, name), paths, fmt)))
    for path in paths.values():
        os.remove(path)
    print(f"{'suite':<20}{'benchmark':<42}{'param':<9}{'median s':>10}   (N = {N:,})")
    for cls, name, param, t in rows:
        print(f"{cls:<20}{name:<42}{param:<9}{t:>10.3f}")
