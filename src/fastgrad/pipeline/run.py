"""The paper end to end: catalogues -> Tables 1-2, maps, azimuthal profiles, Figures 1-8.

``run(config)`` composes the package's steps (docs/method.md, in order):

1. read (or, with no input files, generate) the catalogues;
2. LAMOST: spectroscopic cuts -> 2" match to Gaia DR3 -> Bailer-Jones distances
   -> astrometric cuts; giants: Teff/logg cuts -> distances -> astrometric cuts;
3. Monte-Carlo Galactocentric coordinates (1000 draws per star);
4. kinematic populations and the halo cut (P_halo < 1 %);
5. Table 1 (radial gradient in |Z| bins) and Table 2 (vertical, in R bins);
6. |Z| < 0.3 kpc: one radial fit, residual maps, deviations at fixed radius and
   their azimuthal profiles;
7. Figures 1-8, ECSV tables, summary.json and report.md (:mod:`.report`).

The per-star steps 3-4 are ``Table -> Table`` functions that an engine
(:mod:`fastgrad.engine`, ``engine = "local"`` or ``"dask"``) maps over the
sample; every other step runs here.  The configuration is validated whole and
the output folder checked before any work (:mod:`.config`,
:mod:`fastgrad._outdir`); outputs are staged and moved into place at the end: a
failed or interrupted run leaves no half-written results, and nothing fastgrad
did not write is ever deleted.
"""
import os
import sys
import warnings

import numpy as np
from astropy.table import Table, vstack

from .. import populations, transform
from ..crossmatch import crossmatch
from ..cuts import apply_cuts, cut_parameters
from ..distances import add_distances, join_distances
from ..readers import read_catalog
from .._outdir import ResultsDir
from .._threads import effective_n_threads
from ..azimuthal import azimuthal_deviation, azimuthal_profiles, residual_map
from ..engine import DaskEngine, LocalEngine
from ..errors import ConfigError
from ..fitting import AutocorrWarning, fit_line, fit_tables, start_worker_server
from ..frames import get_frame
from ..significance import azimuthal_significance
from .config import INPUTS_OF_SAMPLE, MOCK_KIND_OF_SAMPLE, load_config
from .progress import Progress
from .report import output_names, summary, write_results

__all__ = ["run", "RunResult", "prepare_sample", "gradient_tables", "first_bin_fit",
           "azimuthal_analysis"]


class RunResult(dict):
    """What ``run`` produced (a dict whose keys are also attributes)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


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
        from ..mock import make_survey
        syn = cfg["synthetic"]
        n = syn["n_lamost"] if sample == "lamost" else syn["n_giants"]
        seed = syn["seed"] + (0 if sample == "lamost" else 1)
        survey = make_survey(MOCK_KIND_OF_SAMPLE[sample], n, seed=seed,
                             truth=syn["truth"].get(sample))
        if sample == "lamost":
            return survey["lamost"], survey["gaia"], survey["bailer_jones"], True
        return survey["gaia"], None, survey["bailer_jones"], True
    if sample == "lamost":
        lam = read_catalog(inp["lamost"], kind="lamost_hot_stars",
                                    columns=inp["lamost_columns"] or None)
        gaia = read_catalog(inp["lamost_gaia"], kind="gaia")
        bj = read_catalog(inp["lamost_bailer_jones"], kind="bailer_jones")
        return lam, gaia, bj, False
    giants = read_catalog(inp["giants"], kind="gaia_giants")
    bj = read_catalog(inp["giants_bailer_jones"], kind="bailer_jones")
    return giants, None, bj, False


def prepare_sample(cfg, sample, progress, n_threads=None, engine=None):
    """Cuts, match, distances, MC transform, populations: one sample's final
    catalogue, its cut report (docs/method.md sections 1-4) and, for the
    synthetic catalogues, their injected truth.

    ``engine`` (:mod:`fastgrad.engine`) runs the per-star steps; default a
    :class:`~fastgrad.engine.LocalEngine` with ``n_threads``."""
    if engine is None:
        engine = LocalEngine(n_threads, chunks=progress.chunks)
    with progress.step(f"{sample}: read catalogues"):
        main, gaia, bj, synthetic = _load_tables(cfg, sample)
    truth = main.meta.get("truth") if synthetic else None
    frame = get_frame(cfg["frame"])
    reports = []
    thresholds = cfg["cuts"] or None
    if sample == "lamost":
        with progress.step("lamost: spectroscopic cuts"):
            kept, rep = apply_cuts(main, "lamost_hot_stars", thresholds=_for(thresholds, "lamost_hot_stars"))
            reports.append(rep)
        with progress.step("lamost: 2\" cross-match to Gaia DR3"):
            n0 = len(kept)
            kept = crossmatch(kept, gaia, cfg["crossmatch_radius_arcsec"],  # arcsec
                                       suffixes=("_lamost", ""))
            reports.append(Table(rows=[_report_row(
                "crossmatch_gaia", n0, len(kept), "2.3",
                f"nearest Gaia DR3 source within {cfg['crossmatch_radius_arcsec']}\" (one-to-one)")]))
        rv, rv_err = "rv", "rv_err"
        feh, feh_err = "feh", "feh_err"
    else:
        with progress.step("giants: Teff/logg cuts"):
            kept, rep = apply_cuts(main, "gaia_giants", thresholds=_for(thresholds, "gaia_giants"))
            reports.append(rep)
        rv, rv_err = "radial_velocity", "radial_velocity_error"
        feh, feh_err = "mh_gspspec", "mh_gspspec_err"
        kept["mh_gspspec_err"] = (kept["mh_gspspec_upper"] - kept["mh_gspspec_lower"]) / 2
    with progress.step(f"{sample}: Bailer-Jones distances"):
        n0 = len(kept)
        kept = join_distances(kept, bj)
        kept = add_distances(kept)
        reports.append(Table(rows=[_report_row("distance_match", n0, len(kept), "2.3",
                                               "Bailer-Jones (2021) geometric distance available")]))
    with progress.step(f"{sample}: astrometric cuts"):
        kept, rep = apply_cuts(kept, "astrometric", thresholds=_for(thresholds, "astrometric"))
        reports.append(rep)
    with progress.step(f"{sample}: Monte-Carlo Galactocentric coordinates "
                       f"({len(kept):,} stars x {cfg['monte_carlo']['n_samples']} draws)"):
        # each star's random stream is keyed by its source_id, so neither the
        # engine's partitions nor the progress bar's chunks change a number
        inputs = transform.galactocentric_inputs(kept.colnames, radial_velocity=rv,
                                                 radial_velocity_error=rv_err)
        gc = engine.map(transform.add_galactocentric, kept, columns=inputs, label="Monte Carlo",
                        n_samples=cfg["monte_carlo"]["n_samples"],
                        seed=cfg["monte_carlo"]["seed"], frame=cfg["frame"],
                        radial_velocity=rv, radial_velocity_error=rv_err,
                        n_threads=engine.n_threads)
        for name in transform.GALACTOCENTRIC_COLUMNS:
            kept[name] = gc[name]
    with progress.step(f"{sample}: kinematic populations and halo cut"):
        probs = engine.map(populations.add_kinematic_probabilities, kept,
                           columns=["vx", "vy", "vz"], frame=frame)
        for name in probs.colnames[3:]:
            kept[name] = probs[name]
        kept.meta["kinematics"] = probs.meta["kinematics"]
        kept, rep = populations.halo_cut(kept, cfg["halo_p_max"], frame=frame)
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
    names = cut_parameters(preset)
    return {k: v for k, v in flat.items() if k in names} or None


def _normalise_report(rep, sample):
    out = Table()
    out["sample"] = [sample] * len(rep)
    for col in ("cut", "n_before", "n_removed", "n_after"):
        out[col] = rep[col]
    out["section"] = rep["section"] if "section" in rep.colnames else [""] * len(rep)
    out["description"] = rep["description"] if "description" in rep.colnames else [""] * len(rep)
    return out


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
    # with each cell's permutation p-value (fastgrad.significance)
    rmap = residual_map(np.asarray(s["x"]), np.asarray(s["y"]), y, predicted,
                        min_count=a["map_min_count"], sign=a["sign"],
                        n_permutations=a["n_permutations"], seed=a["permutation_seed"],
                        n_threads=n_threads)
    delta = azimuthal_deviation(R, y, a["half_width"], n_threads=n_threads)
    bins = np.arange(-np.pi, np.pi + 1e-12, np.radians(a["phi_bin_deg"]))
    phi = np.asarray(s["phi"])
    profiles = azimuthal_profiles(R, phi, delta, rings=[tuple(r) for r in a["rings"]],
                                  bins=bins, min_count=a["min_count"])
    # is a ring's profile structure or noise? (permutations of the azimuths)
    significance = {ring: azimuthal_significance(
        R, phi, delta, ring, bins=bins, min_count=a["min_count"],
        n_permutations=a["n_permutations"], seed=a["permutation_seed"], n_threads=n_threads)
        for ring in profiles}
    return dict(selection=s, fit=fit, predicted=predicted, residual_map=rmap, delta=delta,
                profiles=profiles, significance=significance)


# ---------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------
def run(config=None, *, out="fastgrad-results", n_threads=None, verbose=True, figures=True,
        overwrite=False):
    """Run the paper's analysis end to end and write the results.

    Parameters
    ----------
    config : None, dict or path
        ``None`` runs on the embedded synthetic catalogues with the docs/method.md
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
    outdir.prepare(expected=output_names(cfg, figures))
    try:
        return _run(cfg, outdir, n_threads, verbose, figures)
    finally:
        outdir.abort()  # a no-op once the results are in place


def _run(cfg, outdir, n_threads, verbose, figures):
    progress = Progress(verbose)
    frame = get_frame(cfg["frame"])
    results = RunResult(config=cfg, tables={}, fits={}, samples={}, azimuthal={})
    truths, reports = {}, []
    engine = _engine(cfg, progress, n_threads)
    if effective_n_threads(n_threads) > 1:
        start_worker_server()  # the bins' fits run in worker processes (fit_tables)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _analyse(cfg, results, truths, reports, progress, n_threads, engine)
    finally:
        engine.close()
    # emcee's autocorrelation warnings are expected for the paper's short
    # chains: collected into the summary (and one line), others passed on
    autocorr = [str(w.message) for w in caught if issubclass(w.category, AutocorrWarning)]
    for w in caught:
        if not issubclass(w.category, AutocorrWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    results["cuts"] = vstack(reports)
    results["summary"] = summary(results, cfg, truths, frame, progress)
    results["summary"]["autocorr_warnings"] = autocorr
    if autocorr and verbose:
        print(f"[fastgrad] note: {len(autocorr)} emcee warning(s): chains shorter than 50 "
              "autocorrelation times (the paper's 10 walkers x 1000 steps); fits kept, "
              "details in summary.json", file=sys.stderr, flush=True)
    write_results(outdir, results, cfg, frame, figures, progress, verbose)
    return results


def _analyse(cfg, results, truths, reports, progress, n_threads, engine):
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


def _engine(cfg, progress, n_threads):
    """The engine of ``cfg["engine"]``: this machine, or a Dask cluster
    (``cfg["dask"]``: a scheduler address, or a LocalCluster of ``n_workers``
    single-threaded processes, one per CPU by default; 4 partitions a worker)."""
    if cfg["engine"] != "dask":
        return LocalEngine(n_threads, chunks=progress.chunks)
    d = cfg["dask"]
    with progress.step("dask: start the cluster"):
        return DaskEngine(d["scheduler"], n_workers=d["n_workers"], partitions=d["partitions"])
