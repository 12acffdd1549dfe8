"""The paper end to end: catalogues -> Tables 1-2, maps, azimuthal profiles, Figures 1-8.

``run(config)`` composes the package's steps (METHOD.md, in order):

1. read (or, with no input files, generate) the catalogues;
2. LAMOST: spectroscopic cuts -> 2" match to Gaia DR3 -> Bailer-Jones distances
   -> astrometric cuts; giants: Teff/logg cuts -> distances -> astrometric cuts;
3. Monte-Carlo Galactocentric coordinates (1000 draws per star);
4. kinematic populations and the halo cut (P_halo < 1 %);
5. Table 1 (radial gradient in |Z| bins) and Table 2 (vertical, in R bins);
6. |Z| < 0.3 kpc: one radial fit, residual maps, deviations at fixed radius and
   their azimuthal profiles;
7. Figures 1-8, ECSV tables, summary.json and report.md.

The configuration is validated whole and the output folder checked before any
work (:mod:`fastgrad._runconfig`, :mod:`fastgrad._outdir`); outputs are staged
and moved into place at the end: a failed or interrupted run leaves no
half-written results, and nothing fastgrad did not write is ever deleted.
"""
import copy
import json
import os
import sys
import time
import warnings
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import numpy as np
import astropy.units as u
from astropy.table import Table, vstack

from . import catalogs, paper, populations
from ._outdir import ResultsDir
from ._runconfig import CUT_PRESETS_OF_SAMPLE, INPUTS_OF_SAMPLE, validate
from .errors import ConfigError, OutputError
from ._build_info import version as _version
from .azimuthal import azimuthal_deviation, azimuthal_profiles, residual_map
from ._threads import effective_n_threads
from .fitting import AutocorrWarning, fit_line, fit_tables, start_worker_server
from .frames import frame_metadata, get_frame
from .transform import GAIA_CORRELATIONS, mc_galactocentric

__all__ = ["run", "DEFAULT_CONFIG", "load_config", "RunResult"]

#: Every METHOD.md default the pipeline uses, overridable from a TOML file.
DEFAULT_CONFIG = {
    # input files; when none is given the synthetic catalogues of fastgrad.mock are used
    "inputs": {
        "lamost": None,               # LAMOST HotPayne (Xiang et al. 2022), any format read_catalog reads
        "lamost_gaia": None,          # Gaia DR3 gaia_source rows around the LAMOST stars
        "lamost_bailer_jones": None,  # Bailer-Jones 2021 distances of those Gaia sources
        "giants": None,               # Gaia DR3 GSP-Spec "gradient sample" giants
        "giants_bailer_jones": None,
        "lamost_columns": {},         # overrides of catalogs.LAMOST_COLUMNS
    },
    "synthetic": {"seed": 2023, "n_lamost": None, "n_giants": None},  # None: paper scale
    "samples": ["lamost", "giants"],
    # "local": the kernels on this machine; "dask": the per-star steps (Monte
    # Carlo, populations) on Dask partitions (fastgrad.dask), the same numbers
    "engine": "local",
    "dask": {"scheduler": None, "n_workers": None, "partitions": None},
    "frame": "hawkins2023",                          # METHOD.md 3
    "crossmatch_radius_arcsec": paper.CROSSMATCH_RADIUS_ARCSEC,  # METHOD.md 1
    "cuts": {},                                      # threshold overrides, catalogs.apply_cuts
    "monte_carlo": {"n_samples": paper.N_SAMPLES, "seed": 1},   # METHOD.md 3
    "halo_p_max": paper.P_HALO_MAX,                  # METHOD.md 4
    "fit": {                                         # METHOD.md 5
        "n_walkers": paper.N_WALKERS, "n_steps": paper.N_STEPS, "burn": None,
        "scatter": "perpendicular", "min_stars": paper.MIN_STARS, "seed": 1,
        "z_edges": [float(e) for e in paper.TABLE1_EDGES],
        "r_edges": [float(e) for e in paper.TABLE2_EDGES],
    },
    "azimuthal": {                                   # METHOD.md 6
        "zmax": paper.MAP_ZMAX, "half_width": paper.ANNULUS_HALF_WIDTH,
        "phi_bin_deg": paper.PHI_BIN_DEG, "min_count": paper.PROFILE_MIN_COUNT,
        "rings": [list(r) for r in paper.RINGS], "sign": "observed-model",
        "map_min_count": paper.MAP_MIN_COUNT,
    },
}


def load_config(config=None):
    """The run's configuration: DEFAULT_CONFIG updated by ``config`` (a dict or
    the path of a TOML file; relative input paths are relative to that file),
    validated whole.

    Raises
    ------
    fastgrad.errors.ConfigError
        An unknown key (a typo is never ignored), a value of the wrong type or
        outside its range, an unknown frame or cut threshold, an input file
        that does not exist; the message names the file and the key.
    """
    cfg = copy.deepcopy(DEFAULT_CONFIG)
    source = None
    if config is None:
        user = {}
    elif isinstance(config, (str, os.PathLike)):
        path = Path(config)
        source = str(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            with open(path, "rb") as f:
                user = tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot be read ({exc})") from None
    elif isinstance(config, dict):
        user = copy.deepcopy(config)
    else:
        raise ConfigError(f"config must be None, a dict or the path of a TOML file, "
                          f"got {type(config).__name__}")
    try:
        _merge(cfg, user, "")
        base = Path(source).parent if source else None
        for key, value in cfg["inputs"].items():
            if base is not None and isinstance(value, str) and not os.path.isabs(value):
                cfg["inputs"][key] = str(base / value)
        validate(cfg)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}" if source else str(exc)) from None
    return cfg


#: tables whose keys are the user's (validated by _runconfig, not by DEFAULT_CONFIG's keys)
_FREE_TABLES = ("cuts", "lamost_columns")


def _merge(into, new, where):
    for key, value in new.items():
        if key not in into:
            raise ConfigError(f"unknown configuration key '{where}{key}'; known: {sorted(into)}")
        if isinstance(into[key], dict) and key not in _FREE_TABLES:
            if not isinstance(value, dict):
                raise ConfigError(f"{where}{key}: expected a table of settings, got {value!r}")
            _merge(into[key], value, f"{where}{key}.")
        else:
            into[key] = value


class RunResult(dict):
    """What ``run`` produced (a dict whose keys are also attributes)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class _Progress:
    """One line per step on stderr, with elapsed time (quiet when verbose=False)."""

    def __init__(self, verbose):
        self.verbose = verbose
        self.t0 = time.perf_counter()
        self.timings = {}

    def step(self, name):
        return _Step(self, name)

    def chunks(self, n, label, n_chunks=25, min_rows=100_000):
        """(lo, hi) row ranges; a progress bar on stderr while they are consumed
        (one range, no bar, for small inputs, when quiet or not on a terminal)."""
        if not self.verbose or n < min_rows or not sys.stderr.isatty():
            yield 0, n
            return
        edges = np.linspace(0, n, n_chunks + 1).astype(int)
        for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
            yield lo, hi
            done = (i + 1) / n_chunks
            bar = "#" * int(30 * done)
            end = "\n" if i + 1 == n_chunks else ""
            print(f"\r    {label} [{bar:<30}] {100 * done:3.0f}%", end=end, file=sys.stderr,
                  flush=True)


class _Step:
    def __init__(self, progress, name):
        self.p, self.name = progress, name

    def __enter__(self):
        self.t = time.perf_counter()
        if self.p.verbose:
            print(f"[fastgrad {time.perf_counter() - self.p.t0:6.1f}s] {self.name} ...",
                  file=sys.stderr, flush=True)
        return self

    def __exit__(self, *exc):
        self.p.timings[self.name] = time.perf_counter() - self.t
        return False


# ---------------------------------------------------------------------------
# Catalogues
# ---------------------------------------------------------------------------
def _report_row(step, n_before, n_after, section, description):
    return {"cut": step, "n_before": n_before, "n_removed": n_before - n_after,
            "n_after": n_after, "section": section, "description": description}


def _load_tables(cfg, sample):
    inp = cfg["inputs"]
    keys = INPUTS_OF_SAMPLE[sample]
    given = [inp[k] for k in keys]
    if all(v is None for v in given):
        from .mock import make_survey
        syn = cfg["synthetic"]
        kind = "lamost_hot_stars" if sample == "lamost" else "gaia_giants"
        n = syn["n_lamost"] if sample == "lamost" else syn["n_giants"]
        seed = syn["seed"] + (0 if sample == "lamost" else 1)
        survey = make_survey(kind, n, seed=seed)
        if sample == "lamost":
            return survey["lamost"], survey["gaia"], survey["bailer_jones"], True
        return survey["gaia"], None, survey["bailer_jones"], True
    if sample == "lamost":
        lam = catalogs.read_catalog(inp["lamost"], kind="lamost_hot_stars",
                                    columns=inp["lamost_columns"] or None)
        gaia = catalogs.read_catalog(inp["lamost_gaia"], kind="gaia")
        bj = catalogs.read_catalog(inp["lamost_bailer_jones"], kind="bailer_jones")
        return lam, gaia, bj, False
    giants = catalogs.read_catalog(inp["giants"], kind="gaia_giants")
    bj = catalogs.read_catalog(inp["giants_bailer_jones"], kind="bailer_jones")
    return giants, None, bj, False


def prepare_sample(cfg, sample, progress, n_threads=None, engine=None):
    """Cuts, match, distances, MC transform, populations: the final sample and
    the cut report."""
    with progress.step(f"{sample}: read catalogues"):
        main, gaia, bj, synthetic = _load_tables(cfg, sample)
    truth = main.meta.get("truth") if synthetic else None
    reports = []
    thresholds = cfg["cuts"] or None
    if sample == "lamost":
        with progress.step("lamost: spectroscopic cuts"):
            kept, rep = catalogs.apply_cuts(main, "lamost_hot_stars", thresholds=_for(thresholds, "lamost_hot_stars"))
            reports.append(rep)
        with progress.step("lamost: 2\" cross-match to Gaia DR3"):
            n0 = len(kept)
            kept = catalogs.crossmatch(kept, gaia, cfg["crossmatch_radius_arcsec"],  # arcsec
                                       suffixes=("_lamost", ""))
            reports.append(Table(rows=[_report_row(
                "crossmatch_gaia", n0, len(kept), "2.3",
                f"nearest Gaia DR3 source within {cfg['crossmatch_radius_arcsec']}\" (one-to-one)")]))
        rv, rv_err = "rv", "rv_err"
        feh, feh_err = "feh", "feh_err"
    else:
        with progress.step("giants: Teff/logg cuts"):
            kept, rep = catalogs.apply_cuts(main, "gaia_giants", thresholds=_for(thresholds, "gaia_giants"))
            reports.append(rep)
        rv, rv_err = "radial_velocity", "radial_velocity_error"
        feh, feh_err = "mh_gspspec", "mh_gspspec_err"
        kept["mh_gspspec_err"] = (kept["mh_gspspec_upper"] - kept["mh_gspspec_lower"]) / 2
    with progress.step(f"{sample}: Bailer-Jones distances"):
        n0 = len(kept)
        kept = catalogs.join_distances(kept, bj)
        kept = catalogs.add_distances(kept)
        reports.append(Table(rows=[_report_row("distance_match", n0, len(kept), "2.3",
                                               "Bailer-Jones (2021) geometric distance available")]))
    with progress.step(f"{sample}: astrometric cuts"):
        kept, rep = catalogs.apply_cuts(kept, "astrometric", thresholds=_for(thresholds, "astrometric"))
        reports.append(rep)
    with progress.step(f"{sample}: Monte-Carlo Galactocentric coordinates "
                       f"({len(kept):,} stars x {cfg['monte_carlo']['n_samples']} draws)"):
        corr = {k: kept[k] for k in GAIA_CORRELATIONS if k in kept.colnames}
        if engine is not None:
            gc = engine.mc_galactocentric(kept, rv, rv_err, list(corr), cfg)
        else:
            # in chunks, for a progress bar: each star's random stream is keyed
            # by its source_id, so the chunking does not change a number
            chunks = []
            for lo, hi in progress.chunks(len(kept), "Monte Carlo"):
                k = kept[lo:hi]
                chunks.append(mc_galactocentric(
                    k["ra"], k["dec"], k["distance"], k["pmra"], k["pmdec"], k[rv],
                    ra_error=k["ra_error"], dec_error=k["dec_error"],
                    distance_error=k["distance_error"], pmra_error=k["pmra_error"],
                    pmdec_error=k["pmdec_error"], radial_velocity_error=k[rv_err],
                    n_samples=cfg["monte_carlo"]["n_samples"], seed=cfg["monte_carlo"]["seed"],
                    correlations={c: k[c] for c in corr} or None,
                    ids=np.asarray(k["source_id"]), frame=cfg["frame"], n_threads=n_threads))
            gc = vstack(chunks, metadata_conflicts="silent") if len(chunks) > 1 else chunks[0]
        for name in gc.colnames:
            kept[name] = gc[name]
    with progress.step(f"{sample}: kinematic populations and halo cut"):
        if engine is not None:
            probs = engine.kinematic_probabilities(kept, cfg)
            for name in probs.colnames:
                kept[name] = probs[name]
        kept, rep = populations.halo_cut(kept, cfg["halo_p_max"], frame=get_frame(cfg["frame"]))
        reports.append(rep)
    kept["feh_used"] = kept[feh]
    kept["feh_used_err"] = kept[feh_err]
    report = vstack([_normalise_report(r, sample) for r in reports])
    return kept, report, truth


def _for(thresholds, preset):
    """The overrides that apply to one cut preset ({"preset": {...}} or flat)."""
    if not thresholds:
        return None
    if preset in thresholds:
        return thresholds[preset]
    flat = {k: v for k, v in thresholds.items() if not isinstance(v, dict)}
    if not flat:
        return None
    names = catalogs.cut_parameters(preset)
    return {k: v for k, v in flat.items() if k in names} or None


def _normalise_report(rep, sample):
    out = Table()
    out["sample"] = [sample] * len(rep)
    for col in ("cut", "n_before", "n_removed", "n_after"):
        out[col] = rep[col]
    out["section"] = rep["section"] if "section" in rep.colnames else [""] * len(rep)
    out["description"] = rep["description"] if "description" in rep.colnames else [""] * len(rep)
    return out


class _DaskEngine:
    """The per-star steps on a Dask cluster (``engine = "dask"``).

    The sample's columns go to the workers as partitions; each runs
    :mod:`fastgrad.dask`'s partition functions, whose random streams are keyed
    by ``source_id``: the result is bit-identical to the local engine.
    ``scheduler``: the address of a running scheduler, or None for a
    ``LocalCluster`` of ``n_workers`` single-threaded processes (default: one
    per CPU).  ``partitions``: default 4 per worker.
    """

    def __init__(self, settings, progress):
        from . import dask as fgd  # ImportError names the [dask] extra
        fgd._require_dask()
        from dask.distributed import Client, LocalCluster
        self.fgd = fgd
        with progress.step("dask: start the cluster"):
            if settings.get("scheduler"):
                self.cluster = None
                self.client = Client(settings["scheduler"])
            else:
                n = settings.get("n_workers") or (os.cpu_count() or 1)
                self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                            dashboard_address=None)
                self.client = Client(self.cluster)
        workers = len(self.client.scheduler_info().get("workers", {})) or 1
        self.partitions = settings.get("partitions") or 4 * workers

    def _frame(self, table, columns):
        import pandas as pd
        import dask.dataframe as dd
        df = pd.DataFrame({new: np.asarray(table[old]) for new, old in columns.items()})
        return dd.from_pandas(df, npartitions=min(self.partitions, max(len(df), 1)))

    def mc_galactocentric(self, kept, rv, rv_err, corr_names, cfg):
        from .transform import COORD_NAMES, _table
        cols = {c: c for c in ("ra", "dec", "distance", "distance_error", "pmra", "pmdec",
                               "ra_error", "dec_error", "pmra_error", "pmdec_error",
                               "source_id", *corr_names)}
        cols.update(radial_velocity=rv, radial_velocity_error=rv_err)
        ddf = self._frame(kept, cols)
        mc = self.fgd.mc_galactocentric(
            ddf, seed=cfg["monte_carlo"]["seed"], n_samples=cfg["monte_carlo"]["n_samples"],
            frame=cfg["frame"], correlations=bool(corr_names), append=False,
            nan_policy="raise").compute().sort_index()
        # the (18, N) layout of the kernel, into the single-machine Table
        names = list(COORD_NAMES) + [c + "_err" for c in COORD_NAMES]
        out = np.stack([mc[c].to_numpy() for c in names])
        return _table(out, True, get_frame(cfg["frame"]), cfg["monte_carlo"]["n_samples"],
                      cfg["monte_carlo"]["seed"])

    def kinematic_probabilities(self, kept, cfg):
        ddf = self._frame(kept, {"vx": "vx", "vy": "vy", "vz": "vz"})
        meta = self.fgd.kinematic_probabilities_partition(
            ddf._meta, frame=cfg["frame"], append=False)
        probs = ddf.map_partitions(self.fgd.kinematic_probabilities_partition,
                                   frame=cfg["frame"], append=False, meta=meta)
        probs = probs.compute().sort_index()
        return Table({c: probs[c].to_numpy() for c in probs.columns})

    def close(self):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


# ---------------------------------------------------------------------------
# Fits and azimuthal structure
# ---------------------------------------------------------------------------
def gradient_tables(sample, cfg, n_threads=None):
    """Tables 1 and 2 of one sample, all their bins fitted concurrently."""
    f = cfg["fit"]
    # sigma of |Z| is the MC std of z, not of |z| (biased low near the plane)
    return fit_tables(
        np.asarray(sample["R"]), np.asarray(sample["z"]), np.asarray(sample["feh_used"]),
        np.asarray(sample["R_err"]), np.asarray(sample["z_err"]),
        np.asarray(sample["feh_used_err"]), absz_edges=f["z_edges"],
        R_edges=f["r_edges"], min_stars=f["min_stars"], seed=f["seed"], n_jobs=-1,
        n_walkers=f["n_walkers"], n_steps=f["n_steps"], burn=f["burn"], scatter=f["scatter"],
        n_threads=n_threads)


def first_bin_fit(sample, cfg, n_threads=None):
    """The fit of Table 1's first |Z| bin with its samples (Figure 3's draws)."""
    f = cfg["fit"]
    e = f["z_edges"]
    absz = np.asarray(sample["absz"])
    sel = (absz >= e[0]) & (absz < e[1])
    return fit_line(np.asarray(sample["R"])[sel], np.asarray(sample["feh_used"])[sel],
                    np.asarray(sample["R_err"])[sel], np.asarray(sample["feh_used_err"])[sel],
                    n_walkers=f["n_walkers"], n_steps=f["n_steps"], burn=f["burn"],
                    scatter=f["scatter"], seed=f["seed"], n_threads=n_threads)


def azimuthal_analysis(sample, cfg, n_threads=None):
    """|Z| < zmax: one radial fit, residual map, deviations and profiles."""
    a, f = cfg["azimuthal"], cfg["fit"]
    sel = np.asarray(sample["absz"]) < a["zmax"]
    s = sample[sel]
    R, y = np.asarray(s["R"]), np.asarray(s["feh_used"])
    fit = fit_line(R, y, np.asarray(s["R_err"]), np.asarray(s["feh_used_err"]),
                   n_walkers=f["n_walkers"], n_steps=f["n_steps"], burn=f["burn"],
                   scatter=f["scatter"], seed=f["seed"], n_threads=n_threads)
    predicted = fit.slope * R + fit.intercept
    rmap = residual_map(np.asarray(s["x"]), np.asarray(s["y"]), y, predicted,
                        min_count=a["map_min_count"], sign=a["sign"])
    delta = azimuthal_deviation(R, y, a["half_width"], n_threads=n_threads)
    bins = np.arange(-np.pi, np.pi + 1e-12, np.radians(a["phi_bin_deg"]))
    profiles = azimuthal_profiles(R, np.asarray(s["phi"]), delta,
                                  rings=[tuple(r) for r in a["rings"]], bins=bins,
                                  min_count=a["min_count"])
    return dict(selection=s, fit=fit, predicted=predicted, residual_map=rmap, delta=delta,
                profiles=profiles)


# ---------------------------------------------------------------------------
# Truth comparisons (synthetic input)
# ---------------------------------------------------------------------------
def _pulls(table, truth_rows):
    """Per bin: fitted slope, injected slope and their pull (fit - truth) / sigma."""
    out = []
    for row in table:
        match = [t for t in truth_rows if abs(t["bin_lo"] - row["bin_lo"]) < 1e-9]
        fitted = not np.ma.is_masked(row["slope"])
        if not match or not fitted:
            continue
        t = match[0]
        out.append({"bin_lo": float(row["bin_lo"]), "bin_hi": float(row["bin_hi"]),
                    "n_stars": int(row["n_stars"]),
                    "slope": float(row["slope"]), "slope_err": float(row["slope_err"]),
                    "slope_true": float(t["slope"]),
                    "pull": float((row["slope"] - t["slope"]) / row["slope_err"])})
    return out


def _table_records(table):
    recs = []
    for row in table:
        rec = {}
        for name in table.colnames:
            v = row[name]
            if np.ma.is_masked(v) and np.ndim(v) == 0:
                rec[name] = None
            elif hasattr(v, "tolist"):  # numpy scalars and per-parameter arrays
                rec[name] = np.ma.filled(v, np.nan).tolist() if np.ma.isMaskedArray(v) else v.tolist()
            else:
                rec[name] = v
        recs.append(rec)
    return recs


# ---------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------
def run(config=None, *, out="fastgrad-results", n_threads=None, verbose=True, figures=True,
        overwrite=False):
    """Run the paper's analysis end to end and write the results.

    Parameters
    ----------
    config : None, dict or path
        ``None`` runs on the embedded synthetic catalogues with the METHOD.md
        defaults; a dict or TOML file overrides :data:`DEFAULT_CONFIG` (input
        files, cuts, frame, Monte Carlo, fits, azimuthal analysis).
    out : path
        Output folder: ``table1.ecsv``, ``table2.ecsv`` (per sample:
        ``table1_giants.ecsv`` ...), ``azimuthal_profile.ecsv``, ``cuts.ecsv``,
        ``figures/fig1.png`` ... ``fig8.png``, ``summary.json``, ``report.md`` and
        the marker ``.fastgrad-results.json`` (the list of files fastgrad wrote).
        A new or empty folder, or the folder of an earlier run (whose fastgrad
        files are replaced; other files in it are kept). Checked before any work;
        the results appear at the end, whole (see :mod:`fastgrad._outdir`).
    n_threads : int or None
        OpenMP threads of the kernels (None: all CPUs / OMP_NUM_THREADS).
    verbose : bool
        Progress lines on stderr.
    figures : bool
        Draw Figures 1-8.
    overwrite : bool
        Allow ``out`` to be a non-empty folder that is not a fastgrad result:
        fastgrad's files are added to it; nothing else in it is touched.

    Returns
    -------
    RunResult
        Per sample: ``samples`` (the final catalogue), ``tables`` (table1,
        table2), ``azimuthal`` (map fit, residual map, deviations, profiles),
        ``fits`` (first |Z| bin, with samples); and ``cuts``, ``summary``,
        ``out``.

    Raises
    ------
    fastgrad.errors.ConfigError
        A bad configuration (before any work).
    fastgrad.errors.OutputError
        ``out`` is unsafe or not writable (before any work), or writing failed.
    """
    cfg = load_config(config)
    try:
        effective_n_threads(n_threads)
    except ValueError as exc:
        raise ConfigError(f"n_threads: {exc}") from None
    protect = [v for k, v in cfg["inputs"].items() if k != "lamost_columns" and v is not None]
    if isinstance(config, (str, os.PathLike)):
        protect.append(config)
    outdir = ResultsDir(out, overwrite=overwrite, protect=protect)
    outdir.prepare(expected=_output_names(cfg, figures))
    try:
        return _run(cfg, outdir, n_threads, verbose, figures)
    finally:
        outdir.abort()  # a no-op once the results are in place


def _output_names(cfg, figures):
    """The files a run writes, relative to its results folder."""
    names = ["cuts.ecsv", "summary.json", "report.md"]
    for i, sample in enumerate(cfg["samples"]):
        suffix = "" if i == 0 else f"_{sample}"
        names += [f"table1{suffix}.ecsv", f"table2{suffix}.ecsv",
                  f"azimuthal_profile{suffix}.ecsv"]
    if figures:
        names += [f"figures/fig{i}.png" for i in range(1, 9)]
    return names


def _run(cfg, outdir, n_threads, verbose, figures):
    progress = _Progress(verbose)
    frame = get_frame(cfg["frame"])
    results = RunResult(config=cfg, tables={}, fits={}, samples={}, azimuthal={})
    truths, reports = {}, []
    engine = _DaskEngine(cfg["dask"], progress) if cfg["engine"] == "dask" else None
    if effective_n_threads(n_threads) > 1:
        start_worker_server()  # the bins' fits run in worker processes (fit_tables)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _analyse(cfg, results, truths, reports, progress, n_threads, engine)
    finally:
        if engine is not None:
            engine.close()
    # emcee's autocorrelation warnings are expected for the paper's short
    # chains: collected into the summary (and one line), others passed on
    autocorr = [str(w.message) for w in caught if issubclass(w.category, AutocorrWarning)]
    for w in caught:
        if not issubclass(w.category, AutocorrWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    results["cuts"] = vstack(reports)
    summary = _summary(results, cfg, truths, frame, progress)
    summary["autocorr_warnings"] = autocorr
    results["summary"] = summary
    if autocorr and verbose:
        print(f"[fastgrad] note: {len(autocorr)} emcee warning(s): chains shorter than 50 "
              "autocorrelation times (the paper's 10 walkers x 1000 steps); fits kept, "
              "details in summary.json", file=sys.stderr, flush=True)
    _write_all(outdir, results, cfg, frame, figures, progress, verbose)
    return results


def _analyse(cfg, results, truths, reports, progress, n_threads, engine=None):
    for name in cfg["samples"]:
        sample, report, truth = prepare_sample(cfg, name, progress, n_threads, engine)
        if len(sample) == 0:
            raise ValueError(f"{name}: no star survives the cuts (see the cut report)")
        results.samples[name] = sample
        reports.append(report)
        truths[name] = truth
        with progress.step(f"{name}: Tables 1 and 2 (emcee fits of the |Z| and R bins)"):
            t1, t2 = gradient_tables(sample, cfg, n_threads)
        results.tables[name] = {"table1": t1, "table2": t2}
        with progress.step(f"{name}: residual maps and azimuthal profiles (|Z| < {cfg['azimuthal']['zmax']} kpc)"):
            results.azimuthal[name] = azimuthal_analysis(sample, cfg, n_threads)
        if name == cfg["samples"][0]:
            with progress.step(f"{name}: posterior draws of the first |Z| bin (Figure 3)"):
                results.fits[name] = first_bin_fit(sample, cfg, n_threads)


def _write_all(outdir, results, cfg, frame, figures, progress, verbose):
    try:
        _write_outputs(outdir.staging, results, cfg, frame, figures, progress)
    except OSError as exc:  # a full disk, a file-size limit, a vanished folder
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        raise OutputError(f"--out {outdir.out}: writing the results failed: "
                          f"{exc.strerror or exc}{where}") from None
    out = outdir.commit()
    results["out"] = out
    if verbose:
        print(f"[fastgrad {time.perf_counter() - progress.t0:6.1f}s] results in {out}/",
              file=sys.stderr, flush=True)


def _summary(results, cfg, truths, frame, progress):
    s = {"fastgrad": _version, "frame": frame_metadata(frame), "config": cfg, "samples": {}}
    for name, tabs in results.tables.items():
        az = results.azimuthal[name]
        fit = az["fit"]
        entry = {
            "n_final": len(results.samples[name]),
            "table1": _table_records(tabs["table1"]),
            "table2": _table_records(tabs["table2"]),
            "map_fit": {"n_stars": len(az["selection"]), "slope": fit.slope,
                        "slope_err": fit.slope_err, "intercept": fit.intercept,
                        "intercept_err": fit.intercept_err, "scatter": fit.scatter,
                        "scatter_err": fit.scatter_err},
            "azimuthal": {},
        }
        for ring, prof in az["profiles"].items():
            ok = ~np.ma.getmaskarray(prof["mean"])
            m = np.ma.filled(prof["mean"], np.nan)[ok]
            entry["azimuthal"][f"{ring[0]:g}-{ring[1]:g} kpc"] = {
                "n_bins": int(ok.sum()), "max_abs_mean_dex": float(np.nanmax(np.abs(m))) if m.size else None,
                "std_of_means_dex": float(np.nanstd(m)) if m.size else None}
        truth = truths.get(name)
        if truth:
            entry["truth"] = truth
            entry["pulls"] = {"table1": _pulls(tabs["table1"], truth.get("table1", [])),
                              "table2": _pulls(tabs["table2"], truth.get("table2", []))}
            amp = truth.get("azimuthal_amplitude")
            if amp:
                entry["azimuthal_recovery"] = _recover_amplitude(results.samples[name], az, cfg, truth)
        s["samples"][name] = entry
    s["timings_s"] = {k: round(v, 3) for k, v in progress.timings.items()}
    return s


def _recover_amplitude(sample, az, cfg, truth):
    """Matched filter for the injected arm pattern: fit delta = A (g - <g>) + c
    with g the injected profile shape (fastgrad.mock), <g> its annulus mean."""
    from .mock import pattern_shape
    from .azimuthal import annulus_mean
    s = az["selection"]
    g = pattern_shape(np.asarray(s["x"]), np.asarray(s["y"]), truth)
    g = g - annulus_mean(np.asarray(s["R"]), g, cfg["azimuthal"]["half_width"])
    d = np.asarray(az["delta"])
    A = np.column_stack([g, np.ones_like(g)])
    coef, *_ = np.linalg.lstsq(A, d, rcond=None)
    resid = d - A @ coef
    cov = np.linalg.inv(A.T @ A) * resid.var(ddof=2)
    amp, err = float(coef[0]), float(np.sqrt(cov[0, 0]))
    # the pull is against what the same filter returns on the noise-free model
    # at the observed positions (distance errors blur the arms by a few %)
    true = float(truth["azimuthal_amplitude"])
    expected = float(truth.get("azimuthal_amplitude_observed") or true)
    return {"amplitude_dex": amp, "amplitude_err_dex": err, "amplitude_true_dex": true,
            "amplitude_expected_dex": expected, "pull": (amp - expected) / err}


def _write_outputs(d, results, cfg, frame, figures, progress):
    frame_meta = frame_metadata(frame)
    with progress.step("write tables, figures, summary and report"):
        names = list(results.tables)
        for name in names:
            suffix = "" if name == names[0] else f"_{name}"
            for key in ("table1", "table2"):
                t = results.tables[name][key].copy()
                t.meta.update({"sample": name, "frame": frame_meta, "fastgrad": _version})
                t.write(d / f"{key}{suffix}.ecsv", format="ascii.ecsv")
            prof = []
            for ring, p in results.azimuthal[name]["profiles"].items():
                p = p.copy()
                for col in ("mean", "sem"):  # deviations of [Fe/H] or [M/H]
                    if p[col].unit is None:
                        p[col].unit = u.dex
                p.add_column([f"{ring[0]:g}-{ring[1]:g}"] * len(p), name="ring_kpc", index=0)
                prof.append(p)
            pt = vstack(prof, metadata_conflicts="silent")
            pt.meta.update({"sample": name, "frame": frame_meta, "half_width_kpc": cfg["azimuthal"]["half_width"]})
            pt.write(d / f"azimuthal_profile{suffix}.ecsv", format="ascii.ecsv")
        results["cuts"].meta.update({"frame": frame_meta})
        results["cuts"].write(d / "cuts.ecsv", format="ascii.ecsv")
        with open(d / "summary.json", "w") as f:
            json.dump(results["summary"], f, indent=1, default=_json_default)
        if figures:
            (d / "figures").mkdir()
            for i, fig in _figures(results, cfg, frame):
                fig.savefig(d / "figures" / f"fig{i}.png", dpi=110)
        (d / "report.md").write_text(_report(results, cfg, figures))


def _json_default(o):
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _figures(results, cfg, frame):
    from . import plots as figs
    R0 = float(frame.galcen_distance.to_value(u.kpc))
    z_sun = float(frame.z_sun.to_value(u.kpc))
    first = "lamost" if "lamost" in results.samples else next(iter(results.samples))
    s = results.samples[first]
    x, y, z, R = (np.asarray(s[c]) for c in ("x", "y", "z", "R"))
    feh = np.asarray(s["feh_used"])
    title = "LAMOST OBAF stars" if first == "lamost" else "Gaia DR3 giants"
    lab = "[Fe/H] (dex)" if first == "lamost" else "[M/H] (dex)"
    yield 1, figs.fig1_density(x, y, z, R, R0=R0, z_sun=z_sun, title=title)
    yield 2, figs.fig2_metallicity(x, y, z, R, feh, R0=R0, z_sun=z_sun,
                                   min_count=cfg["azimuthal"]["map_min_count"], label=lab, title=title)
    t1 = results.tables[first]["table1"]
    e = cfg["fit"]["z_edges"]
    sel = (np.asarray(s["absz"]) >= e[0]) & (np.asarray(s["absz"]) < e[1])
    fit0 = results.fits[first]
    yield 3, figs.fig3_radial_fit(R[sel], feh[sel], fit0, zlabel=f"{e[0]:g} <= |Z| < {e[1]:g} kpc", label=lab)
    paper = first == "lamost"  # the paper's Tables 1 and 2 are of the LAMOST stars
    yield 4, figs.fig4_radial_gradients(t1, min_stars=cfg["fit"]["min_stars"],
                                        reference=PAPER_TABLE1 if paper else None)
    az = results.azimuthal[first]
    sel_s = az["selection"]
    yield 5, figs.fig5_residual_maps(np.asarray(sel_s["x"]), np.asarray(sel_s["y"]),
                                     np.asarray(sel_s["feh_used"]), az["predicted"], R0=R0,
                                     sign=cfg["azimuthal"]["sign"],
                                     min_count=cfg["azimuthal"]["map_min_count"])
    yield 6, figs.fig6_azimuthal_profile(az["profiles"])
    yield 7, figs.fig7_vertical_gradients(results.tables[first]["table2"],
                                          min_stars=cfg["fit"]["min_stars"],
                                          reference=PAPER_TABLE2 if paper else None)
    if "giants" in results.azimuthal:
        g = results.azimuthal["giants"]
        gs = g["selection"]
        yield 8, figs.fig8_residual_maps(np.asarray(gs["x"]), np.asarray(gs["y"]),
                                         np.asarray(gs["feh_used"]), g["predicted"], R0=R0,
                                         sign=cfg["azimuthal"]["sign"],
                                         min_count=cfg["azimuthal"]["map_min_count"])


#: METHOD.md section 5: the paper's slopes (LAMOST), for the report
PAPER_TABLE1 = paper.table_slopes(paper.TABLE1)
PAPER_TABLE2 = paper.table_slopes(paper.TABLE2)


def _fmt(v, nd=3):
    return "–" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.{nd}f}"


def _report(results, cfg, figures):
    s = results["summary"]
    lines = ["# fastgrad run report", "",
             f"fastgrad {s['fastgrad']}; frame `{s['frame']['preset']}` "
             f"(R0 = {s['frame']['galcen_distance_kpc']} kpc, z_sun = {s['frame']['z_sun_kpc']} kpc, "
             f"v_sun = {tuple(s['frame']['galcen_v_sun_kms'])} km/s).", ""]
    synthetic = all(v is None for k, v in cfg["inputs"].items() if k != "lamost_columns")
    if synthetic:
        lines += ["Input: the embedded synthetic catalogues (`fastgrad.mock`), whose injected "
                  "truth is compared with the fits below.", ""]
    lines += ["## Sample selection", "", "| sample | step | before | removed | after |", "|---|---|---|---|---|"]
    for r in results["cuts"]:
        lines.append(f"| {r['sample']} | {r['cut']} | {r['n_before']:,} | {r['n_removed']:,} | {r['n_after']:,} |")
    for name, entry in s["samples"].items():
        paper = name == "lamost"
        for key, label, ref in (("table1", "Table 1: radial gradient by |Z| bin", PAPER_TABLE1),
                                ("table2", "Table 2: vertical gradient by R bin", PAPER_TABLE2)):
            pulls = {p["bin_lo"]: p for p in entry.get("pulls", {}).get(key, [])}
            lines += ["", f"## {name}: {label}", ""]
            head = "| bin | N | m | σ_m | b | σ_b | λ | σ_λ |"
            sep = "|---|---|---|---|---|---|---|---|"
            if paper:
                head += " paper m ± σ |"
                sep += "---|"
            if pulls:
                head += " injected m | pull |"
                sep += "---|---|"
            lines += [head, sep]
            for rec in entry[key]:
                row = (f"| {rec['bin_lo']:g}–{rec['bin_hi']:g} | {rec['n_stars']:,} | {_fmt(rec['slope'])} | "
                       f"{_fmt(rec['slope_err'])} | {_fmt(rec['intercept'])} | {_fmt(rec['intercept_err'])} | "
                       f"{_fmt(rec['scatter'])} | {_fmt(rec['scatter_err'])} |")
                if paper:
                    pm = ref.get(round(rec["bin_center"], 1))
                    row += f" {pm[0]:.3f} ± {pm[1]:.3f} |" if pm else " – |"
                if pulls:
                    p = pulls.get(rec["bin_lo"])
                    row += f" {p['slope_true']:.3f} | {p['pull']:+.1f} |" if p else " – | – |"
                lines.append(row)
        mf = entry["map_fit"]
        lines += ["", f"## {name}: azimuthal structure (|Z| < {cfg['azimuthal']['zmax']} kpc)", "",
                  f"Radial fit used for the residual maps: m = {mf['slope']:.4f} ± {mf['slope_err']:.4f} dex/kpc, "
                  f"b = {mf['intercept']:.3f} ± {mf['intercept_err']:.3f} dex, λ = {mf['scatter']:.3f} dex "
                  f"({mf['n_stars']:,} stars).", ""]
        for ring, a in entry["azimuthal"].items():
            lines.append(f"- {ring}: {a['n_bins']} azimuth bins; largest |⟨δ[Fe/H]⟩| = {_fmt(a['max_abs_mean_dex'])} dex, "
                         f"scatter of the bin means {_fmt(a['std_of_means_dex'])} dex")
        rec = entry.get("azimuthal_recovery")
        if rec:
            lines.append(f"- injected arm pattern: amplitude recovered {rec['amplitude_dex']:.4f} ± "
                         f"{rec['amplitude_err_dex']:.4f} dex; {rec['amplitude_true_dex']:.4f} injected, "
                         f"{rec['amplitude_expected_dex']:.4f} expected after the distance errors "
                         f"(pull {rec['pull']:+.1f})")
    if figures:
        lines += ["", "## Figures", ""]
        captions = {1: "density in X-Y and R-Z", 2: "median metallicity in X-Y and R-Z",
                    3: "[Fe/H] vs R in the first |Z| bin with posterior draws",
                    4: "radial gradient vs |Z|", 5: "observed, model and residual maps",
                    6: "azimuthal deviation at fixed radius", 7: "vertical gradient vs R",
                    8: "giants: observed, model and residual maps"}
        for i in range(1, 9):
            lines.append(f"![Figure {i}: {captions[i]}](figures/fig{i}.png)")
    lines += ["", "## Timings", "", "| step | s |", "|---|---|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in s["timings_s"].items()]
    return "\n".join(lines) + "\n"
