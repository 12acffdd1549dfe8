"""asv benchmarks: the Dask path of fastgrad.dask against the single-machine call.

Each suite times, in one run and on the same data, the single-machine call
(pandas/numpy in this process, OpenMP on ``n_workers`` threads) and the Dask
path on a ``distributed.LocalCluster(n_workers, threads_per_worker=1)``:

- ``MonteCarloSuite``: ``fastgrad.mc_galactocentric`` (ids = source_id) vs
  ``fastgrad.dask.mc_galactocentric`` over 8 partitions already in the
  workers' memory, results kept there (``persist``: the engine's own
  overhead) or brought back to this process (``compute``: plus moving 18
  float64 columns a star);
- ``AnnulusSuite``: the numpy annulus means of the whole array
  (``fastgrad.annulus_mean``) vs ``fastgrad.dask.annulus_mean`` (sketch, shuffle
  with boundary strips, per-range means) with fixed boundaries;
- ``CutsSuite``: ``fastgrad.apply_cuts`` on an astropy Table vs
  ``fastgrad.dask.quality_cuts`` + ``cut_report``.

The overhead ratio is Dask time / single-machine time at the same number of
cores.  Run with asv, or ``python bench/benchmarks/bench_dask.py`` for the
table of bench/README.md (workers 1, 2, ... up to the cores of the machine).
"""

import itertools
import os
import sys
import tempfile
import time

import numpy as np
import pandas as pd

import fastgrad

try:
    import dask
    import dask.dataframe as dd
    import distributed

    import fastgrad.dask as fd
except ImportError:  # asv skips a suite whose setup raises NotImplementedError
    dask = None

N_STARS = 200_000
N_PARTITIONS = 8


def gaia_like(n, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "source_id": (rng.permutation(n).astype(np.int64) << 21) + 4_295_806_720,
            "ra": rng.uniform(0, 360, n),
            "dec": np.degrees(np.arcsin(rng.uniform(-1, 1, n))),
            "pmra": rng.normal(0, 8, n),
            "pmdec": rng.normal(0, 8, n),
            "radial_velocity": rng.normal(0, 50, n),
            "ra_error": rng.uniform(0.01, 0.1, n),
            "dec_error": rng.uniform(0.01, 0.1, n),
            "pmra_error": rng.uniform(0.01, 0.2, n),
            "pmdec_error": rng.uniform(0.01, 0.2, n),
            "radial_velocity_error": rng.uniform(0.5, 5, n),
            "parallax_over_error": rng.lognormal(1.8, 0.8, n),
            "r_med_geo": rng.uniform(300, 5000, n),
            "teff_gspspec": rng.uniform(3800, 5200, n),
            "logg_gspspec": rng.uniform(0.5, 3.0, n),
            "mh_gspspec": rng.normal(-0.3, 0.3, n),
        }
    )
    df["r_lo_geo"] = df["r_med_geo"] * rng.uniform(0.7, 0.97, n)
    df["r_hi_geo"] = df["r_med_geo"] * rng.uniform(1.03, 1.4, n)
    df["R_true"] = rng.uniform(4, 16, n)
    df["feh"] = -0.07 * (df["R_true"] - 8) + rng.normal(0, 0.3, n)
    return df


def single_machine_mc(df, n_samples, n_threads):
    return fastgrad.mc_galactocentric(
        df.ra,
        df.dec,
        df.r_med_geo / 1000.0,
        df.pmra,
        df.pmdec,
        df.radial_velocity,
        ra_error=df.ra_error,
        dec_error=df.dec_error,
        distance_error=(df.r_hi_geo - df.r_lo_geo) / 2000.0,
        pmra_error=df.pmra_error,
        pmdec_error=df.pmdec_error,
        radial_velocity_error=df.radial_velocity_error,
        n_samples=n_samples,
        seed=1,
        ids=df.source_id.to_numpy(),
        nan_policy="propagate",
        n_threads=n_threads,
    )


_RUNS = itertools.count(1)


def _fresh():
    """A new number for each run: Dask names tasks by their inputs, and a run
    whose keys are still held from the previous one would not be recomputed."""
    return next(_RUNS)


_CLUSTERS = {}  # n_workers -> (cluster, client): one at a time, reused by the suites


def _client(n_workers):
    if n_workers not in _CLUSTERS:
        _close_clusters()
        cluster = distributed.LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        )
        _CLUSTERS[n_workers] = (cluster, distributed.Client(cluster))
    client = _CLUSTERS[n_workers][1]
    client.run(lambda: fastgrad.effective_n_threads())  # imports done on the workers
    return client


def _close_clusters():
    for cluster, client in _CLUSTERS.values():
        client.close()
        cluster.close()
    _CLUSTERS.clear()


class _ClusterSuite:
    """A LocalCluster of ``n_workers`` one-thread worker processes and the
    catalogue in its memory, in ``N_PARTITIONS`` partitions (``_start`` is
    called by each suite's ``setup``)."""

    params = [1, 2]
    param_names = ["n_workers"]
    timeout = 600
    number = 1
    repeat = 3

    def _start(self, n_workers):
        if dask is None:
            raise NotImplementedError("needs pip install fastgrad[dask]")
        if n_workers > (os.cpu_count() or 1):
            raise NotImplementedError(f"{n_workers} workers on {os.cpu_count()} cores")
        self.client = _client(n_workers)
        self.df = gaia_like(N_STARS)
        # read from Parquet files, as a user would, then kept in the workers' memory
        self.tmpdir = tempfile.TemporaryDirectory()
        for k, part in enumerate(np.array_split(np.arange(N_STARS), N_PARTITIONS)):
            self.df.iloc[part].to_parquet(os.path.join(self.tmpdir.name, f"part.{k}.parquet"))
        self.ddf = dd.read_parquet(self.tmpdir.name).persist()
        distributed.wait(self.ddf)

    def teardown(self, n_workers):
        del self.ddf
        self.tmpdir.cleanup()


class MonteCarloSuite(_ClusterSuite):
    n_samples = 1000  # the paper's

    def setup(self, n_workers):
        self._start(n_workers)

    def time_single_machine(self, n_workers):
        single_machine_mc(self.df, self.n_samples, n_threads=n_workers)

    def time_dask_persist(self, n_workers):
        out = fd.mc_galactocentric(self.ddf, seed=_fresh(), n_samples=self.n_samples).persist()
        distributed.wait(out)
        del out

    def time_dask_compute(self, n_workers):
        fd.mc_galactocentric(self.ddf, seed=_fresh(), n_samples=self.n_samples).compute()


class MonteCarloFewDrawsSuite(MonteCarloSuite):
    """50 draws a star: little work per partition, so the engine's overhead shows."""

    n_samples = 50


class AnnulusSuite(_ClusterSuite):
    def setup(self, n_workers):
        self._start(n_workers)
        self.boundaries = np.linspace(4, 16, N_PARTITIONS + 1)[1:-1]

    def time_single_machine(self, n_workers):
        fastgrad.annulus_mean(self.df.R_true.to_numpy(), self.df.feh.to_numpy(), 0.1)

    def time_dask_persist(self, n_workers):
        out = fd.annulus_mean(
            self.ddf,
            "R_true",
            "feh",
            0.1,
            key="source_id",
            boundaries=self.boundaries,
            output=f"m{_fresh()}",
        ).persist()
        distributed.wait(out)
        del out


class CutsSuite(_ClusterSuite):
    cuts = ["gaia_giants", "astrometric"]

    def setup(self, n_workers):
        self._start(n_workers)
        from astropy.table import Table

        self.table = Table.from_pandas(self.df)

    def time_single_machine(self, n_workers):
        fastgrad.apply_cuts(self.table, self.cuts)

    def time_dask_persist(self, n_workers):
        # a threshold moved by 1e-9 K: the same work, but graph keys of its own
        kept, counts = fd.quality_cuts(
            self.ddf, self.cuts, thresholds={"teff_gspspec_max": 4700 + 1e-9 * _fresh()}
        )
        kept, counts = dask.persist(kept, counts)
        fd.cut_report(counts, self.cuts)
        del kept


def _median(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _cpu_seconds(client):
    """CPU seconds used so far by this process (with its OpenMP threads), the
    workers and the scheduler: a cost that other jobs on the machine do not inflate."""

    def cpu():
        return time.process_time()

    total = time.process_time()
    if client is not None:
        total += sum(client.run(cpu).values()) + client.run_on_scheduler(cpu)
    return total


def _median_cpu(fn, client, repeat):
    used = []
    for _ in range(repeat):
        c0 = _cpu_seconds(client)
        fn()
        used.append(_cpu_seconds(client) - c0)
    return float(np.median(used))


def main(workers=None, repeat=3):
    workers = workers or [w for w in (1, 2, 4, 8) if w <= (os.cpu_count() or 1)]
    print(
        f"{N_STARS:,} stars in {N_PARTITIONS} partitions; {os.cpu_count()} cores; "
        f"median of {repeat}; wall seconds, and CPU seconds summed over all processes"
    )
    print(
        "| suite | workers | single machine, wall | Dask persist, wall | ratio | "
        "Dask compute, wall | ratio | single, CPU | Dask persist, CPU | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for cls in (MonteCarloSuite, MonteCarloFewDrawsSuite, AnnulusSuite, CutsSuite):
        for w in workers:
            suite = cls()
            suite.setup(w)
            try:
                single = _median(lambda: suite.time_single_machine(w), repeat)
                persist = _median(lambda: suite.time_dask_persist(w), repeat)
                compute = (
                    _median(lambda: suite.time_dask_compute(w), repeat)
                    if hasattr(suite, "time_dask_compute")
                    else np.nan
                )
                single_cpu = _median_cpu(lambda: suite.time_single_machine(w), None, repeat)
                persist_cpu = _median_cpu(lambda: suite.time_dask_persist(w), suite.client, repeat)
            finally:
                suite.teardown(w)
                _close_clusters()
            name = cls.__name__ + (f" ({cls.n_samples} draws)" if hasattr(cls, "n_samples") else "")
            print(
                f"| {name} | {w} | {single:.3f} | {persist:.3f} | {persist / single:.2f} | "
                f"{compute:.3f} | {compute / single:.2f} | {single_cpu:.3f} | "
                f"{persist_cpu:.3f} | {persist_cpu / single_cpu:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or None)
