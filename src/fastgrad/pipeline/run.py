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

from __future__ import annotations

import contextlib
import os
import warnings
from typing import TYPE_CHECKING

import numpy as np
from astropy.table import Table, vstack

from .. import populations, transform
from .._outdir import ResultsDir
from .._threads import effective_n_threads
from .._validation import kept_rows
from ..azimuthal import azimuthal_deviation, azimuthal_profiles, residual_map
from ..crossmatch import best_per_source, crossmatch
from ..cuts import apply_cuts
from ..distances import BJ_COLUMNS, add_distances, join_distances
from ..engine import DaskEngine, LocalEngine
from ..errors import ConfigError, InputError
from ..fitting import AutocorrWarning, SamplingError, fit_line, fit_tables, start_worker_server
from ..fitting.data import N_PARAMS
from ..frames import get_frame
from ..readers import read_catalog
from ..schema import MissingColumnsError, column_values, source_label
from ..significance import azimuthal_significance
from .config import load_config, sample_plan, sampler_settings
from .overlap import Prefetch, synthetic_survey
from .partitioned import partitioned_input
from .progress import Progress
from .report import output_names, start_first_figures, summary, write_results

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from ..fitting import LineFit


__all__ = [
    "run",
    "RunResult",
    "SampleFailure",
    "prepare_sample",
    "sample_config",
    "gradient_tables",
    "gradient_fits",
    "first_bin_fit",
    "azimuthal_analysis",
]


class RunResult(dict):
    """What ``run`` produced (a dict whose keys are also attributes).

    Examples
    --------
    >>> from fastgrad.pipeline.run import RunResult
    >>> res = RunResult(samples={}, failed={}, out="results")
    >>> res.out == res["out"]  # keys are attributes too
    True
    >>> res
    <RunResult samples: none; failed: none; out: results>
    """

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self):
        # the catalogues and tables are large: say what is there, not all of it
        samples = (
            ", ".join(f"{name} ({len(t):,} stars)" for name, t in self.get("samples", {}).items())
            or "none"
        )
        failed = ", ".join(self.get("failed", {})) or "none"
        return (
            f"<RunResult samples: {samples}; failed: {failed}; "
            f"out: {self.get('out', 'not written')}>"
        )


# ---------------------------------------------------------------------------
# Catalogues
# ---------------------------------------------------------------------------
def _report_row(step, n_before, n_after, section, description):
    return {
        "cut": step,
        "n_before": n_before,
        "n_removed": n_before - n_after,
        "n_after": n_after,
        "section": section,
        "description": description,
    }


def _step_report(step, n_before, n_after, section, description):
    return Table(rows=[_report_row(step, n_before, n_after, section, description)])


class EmptySample(InputError):
    """No star of a sample survives a step (the cut report names it)."""


def _load_tables(cfg, plan, ahead=None):
    """The sample's input tables (input name -> canonical Table), and whether
    they are the preset's synthetic catalogue (made ahead by ``ahead``, a
    :class:`~fastgrad.pipeline.overlap.Prefetch`, or here)."""
    spec = plan.spec
    if plan.synthetic:
        survey = ahead.survey(plan.name) if ahead is not None else None
        if survey is None:
            survey = synthetic_survey(cfg, plan.name)
        return _mock_inputs(spec, survey), True
    tables = {}
    for name, kind in spec.inputs.items():
        tables[name] = read_catalog(
            plan.inputs[name], kind=kind, columns=plan.columns.get(name) or None
        )
    return tables, False


def _mock_inputs(spec, survey):
    """The mock survey's tables under the spec's input names (the mock writes
    ``lamost``/``gaia``/``bailer_jones``; a spec reads e.g. ``spectra``)."""
    mock_name = {
        "lamost_hot_stars": "lamost",
        "gaia": "gaia",
        "gaia_giants": "gaia",
        "bailer_jones": "bailer_jones",
    }
    return {name: survey[mock_name[kind]] for name, kind in spec.inputs.items()}


def _apply(kept, preset, plan, reports, sample):
    """One cut preset, less the cuts the sample switched off, with its
    thresholds; a cut whose column is absent is an InputError saying how to map
    the column or switch the cut off."""
    from ..cuts import get_cuts

    cuts = [c for c in get_cuts(preset) if c.name not in plan.cuts_off]
    if not cuts:
        return kept
    thresholds = plan.thresholds.get(preset)
    if thresholds:
        names = {p for c in cuts for p in c.params}
        thresholds = {k: v for k, v in thresholds.items() if k in names} or None
    try:
        # kept is per_star_steps' own table: its columns move into the copy
        kept, rep = apply_cuts(kept, cuts, thresholds=thresholds, consume=True)
    except MissingColumnsError as exc:
        if getattr(exc, "report", None) is not None and len(exc.report):
            reports.append(exc.report)  # the cuts that ran before this one
        cut = next((c for c in cuts if set(exc.missing) & _cut_columns(c)), None)
        name = cut.name if cut else "?"
        column = exc.missing[0] if exc.missing else "?"
        inp = plan.spec.primary
        raise InputError(
            f"sample {sample!r}: cut {name!r} ({preset}) needs column {column!r}, which the "
            f"input{source_label(kept)} has not; map a file column to it with [samples.{sample}.columns.{inp}] "
            f'FILE_COLUMN = "{column}", or switch the cut off with [samples.{sample}.cuts] '
            f"{name} = false"
        ) from None
    reports.record(rep, kept, sample)
    return kept


def _cut_columns(cut):
    return {n for spec in cut.columns for n in spec.split("|")}


class Steps(list):
    """The cut reports of one sample's steps, in order.

    ``partition=True``: the steps run on one partition of a partitioned
    catalogue, where an emptied partition is no error (the summed report is
    checked once, :func:`fastgrad.pipeline.partitioned.prepare_partitioned`)."""

    def __init__(self, partition: bool = False) -> None:
        super().__init__()
        self.partition = partition

    def record(self, rep, kept, sample):
        self.append(rep)
        if not self.partition:
            _check_not_empty(kept, rep, sample)


def _check_not_empty(kept, rep, sample):
    if len(kept) == 0:
        emptied = next(
            (r["cut"] for r in rep if r["n_removed"] > 0 and r["n_after"] == 0), rep["cut"][-1]
        )
        raise EmptySample(
            f"sample {sample!r}: no star survives step {emptied!r} (the cut "
            "report, cuts.ecsv, has every step's counts)"
        )


def _join_gaia(kept, gaia, plan, reports, sample):
    spec = plan.spec
    n0 = len(kept)
    if spec.join == "sky":
        # with repeat spectra every spectrum keeps its nearest source and the
        # best spectrum of each source is chosen next (a counted step)
        many = spec.repeat_spectra
        kept = crossmatch(
            kept,
            gaia,
            spec.match_radius_arcsec,  # arcsec
            suffixes=(f"_{sample}", ""),
            one_to_one=not many,
        )
        rep = _step_report(
            "crossmatch_gaia",
            n0,
            len(kept),
            "2.3",
            f'nearest Gaia DR3 source within {spec.match_radius_arcsec:g}" '
            + ("(many-to-one)" if many else "(one-to-one)"),
        )
    elif _same_input(plan, "gaia"):
        rep = _step_report(
            "join_gaia", n0, n0, "1", "the Gaia DR3 row of the star's source_id (same catalogue)"
        )
    else:
        # Gaia's astrometry wins (its positions are at the epoch of its proper
        # motions); the primary's own copies stay as <name>_<sample>
        both = [c for c in gaia.colnames if c in kept.colnames and c != "source_id"]
        if both:
            kept = Table(kept, copy=False)
            kept.rename_columns(both, [f"{c}_{sample}" for c in both])
        kept = join_distances(
            kept, gaia, columns=[c for c in gaia.colnames if c != "source_id"], consume=True
        )
        rep = _step_report(
            "join_gaia", n0, len(kept), "1", "the Gaia DR3 row of the star's source_id"
        )
    reports.record(rep, kept, sample)
    return kept


def _same_input(plan, name):
    """Whether input ``name`` is the primary's own catalogue (one file or
    folder holding every input's columns: the join on source_id is the
    identity, docs/dask.md)."""
    primary = plan.inputs.get(plan.spec.primary)
    return primary is not None and plan.inputs.get(name) == primary


def _repeat_spectra(kept, reports, sample):
    """Several spectra of one Gaia source: keep the highest SNR
    (:func:`fastgrad.crossmatch.best_per_source`; docs/method.md section 1)."""
    kept, rep = best_per_source(kept)
    reports.append(rep)
    return kept


def _distances(kept, tables, plan, reports, sample):
    spec = plan.spec
    n0 = len(kept)
    if spec.distance.startswith("bailer_jones"):
        if not _same_input(plan, "distances"):
            kept = join_distances(
                kept, tables["distances"], columns=BJ_COLUMNS[spec.distance], consume=True
            )
        else:  # a catalogue joined beforehand: a star without a distance has NaN there
            has = np.isfinite(column_values(kept, BJ_COLUMNS[spec.distance][0]))
            kept = kept_rows(kept, has, consume=True)
        kept = add_distances(kept, source=spec.distance)
        what = (
            "Bailer-Jones (2021) "
            + ("geometric" if spec.distance.endswith("_geo") else "photogeometric")
            + " distance available"
        )
    else:
        kept = add_distances(kept, source=spec.distance)
        what = {"parallax": "distance = 1/parallax", "catalog": "the catalogue's own distance"}[
            spec.distance
        ]
    rep = _step_report("distance_match", n0, len(kept), "2.3", what)
    reports.record(rep, kept, sample)
    return kept


def _metallicity(kept, spec):
    from ..samples import metallicity_error_recipe

    kept["feh_used"] = kept[spec.metallicity]
    if spec.metallicity_calibration == "recio_blanco2023":
        from ..gspspec import calibrate_mh

        # docs/method.md 2.1: the GSP-Spec [M/H] calibration in logg (off in the paper)
        kept["feh_used"] = calibrate_mh(
            column_values(kept, spec.metallicity), column_values(kept, "logg_gspspec")
        )
    kind, args = metallicity_error_recipe(spec.metallicity_error)
    if kind == "column":
        kept["feh_used_err"] = kept[args[0]]
    elif kind == "half_interval":
        lo, hi = (np.asarray(column_values(kept, a)) for a in args)
        kept["feh_used_err"] = (hi - lo) / 2
    else:
        kept["feh_used_err"] = np.full(len(kept), args[0])


def _fit_inputs(kept, reports, sample, nan_policy):
    """Stars whose fitted values are not finite: a counted exclusion
    (``fit.nan_policy = "omit"``) or an InputError naming the rows."""
    n0 = len(kept)
    ok = np.ones(n0, dtype=bool)
    for name in ("feh_used", "feh_used_err", "R", "R_err", "z", "z_err"):
        ok &= np.isfinite(np.asarray(column_values(kept, name)))
    if nan_policy == "raise" and not ok.all():
        from ..schema import reject_rows

        reject_rows(
            f"sample {sample!r}",
            ~ok,
            "have a non-finite metallicity, metallicity error or coordinate error",
            'set [fit] nan_policy = "omit" to count and exclude them',
        )
    if not ok.all():
        kept = kept_rows(kept, ok, consume=True)  # per_star_steps' own table
    rep = _step_report(
        "fit_inputs_finite",
        n0,
        len(kept),
        "docs/method.md 5",
        "finite metallicity, metallicity error, R, z and their errors",
    )
    reports.record(rep, kept, sample)
    return kept


def prepare_sample(
    cfg: Mapping[str, Any],
    sample: str,
    progress: Progress,
    n_threads: int | None = None,
    engine: LocalEngine | DaskEngine | None = None,
    reports: Steps | None = None,
    ahead: Prefetch | None = None,
) -> tuple[Table, Table, Any]:
    """Read, cut, match, distances, MC transform, populations: one sample's
    final catalogue, its cut report (docs/method.md sections 1-4) and, for the
    synthetic catalogues, their injected truth.

    ``engine`` (:mod:`fastgrad.engine`) runs the per-star steps; default a
    :class:`~fastgrad.engine.LocalEngine` with ``n_threads``. ``reports``, a
    :class:`Steps`, receives each step's report as it is made, so that a sample that
    fails or empties keeps the report of the steps before.  ``ahead``, a
    :class:`~fastgrad.pipeline.overlap.Prefetch`, may hold the sample's
    synthetic catalogue, made in a worker process (the same tables).

    Examples
    --------
    >>> from fastgrad.pipeline.config import load_config
    >>> from fastgrad.pipeline.progress import Progress
    >>> from fastgrad.pipeline.run import prepare_sample
    >>> cfg = load_config({"synthetic": {"seed": 5, "n_giants": 2000}, "monte_carlo": {"n_samples": 8}})
    >>> with Progress(False) as progress:
    ...     sample, report, truth = prepare_sample(cfg, "giants", progress)
    >>> report["cut", "n_before", "n_after"][:3]
    <Table length=3>
          cut        n_before n_after
         str18        int64    int64
    ---------------- -------- -------
    teff_gspspec_max     2000    1799
    logg_gspspec_max     1799    1758
          mh_defined     1758    1758
    >>> len(sample), sample["R"].unit, sample["feh_used"].unit
    (1708, Unit("kpc"), Unit("dex"))
    """
    if engine is None:
        engine = LocalEngine(n_threads, chunks=progress.chunks)
    plan = sample_plan(cfg, sample)
    steps = Steps() if reports is None else reports
    with progress.step(f"{sample}: read catalogues"):
        tables, synthetic = _load_tables(cfg, plan, ahead)
    truth = tables[plan.spec.primary].meta.get("truth") if synthetic else None
    kept = per_star_steps(cfg, plan, tables, engine, steps, progress)
    # the final sample in source_id order: the order a partitioned run
    # (fastgrad.pipeline.partitioned) restores, so both fit the same arrays.
    # A catalogue already in it (Gaia's own) is not copied again
    sid = np.asarray(kept["source_id"])
    if not (sid[1:] >= sid[:-1]).all():
        kept = kept_rows(kept, np.argsort(sid, kind="stable"), consume=True)
    report = vstack([_normalise_report(r, sample) for r in steps])
    return kept, report, truth


def per_star_steps(cfg, plan, tables, engine, steps, progress=None):
    """The per-star steps of one sample (docs/method.md sections 1-4) on its
    input tables: cuts, the join or match to Gaia, distances, cuts, the
    Monte Carlo, populations and halo cut, the metallicity used and the
    finite-input check.  The whole catalogue (:func:`prepare_sample`) or one
    partition of it (:mod:`fastgrad.pipeline.partitioned`) goes through this
    one function; ``steps`` (a :class:`Steps`) receives each step's report.
    ``tables`` (input name -> Table) is handed over: emptied once the inputs
    are read, so that their memory can go while the later steps run."""
    if progress is None:
        from .progress import Progress

        progress = Progress(False)
    sample, spec = plan.name, plan.spec
    # this function's own Table (the catalogue's columns, not copied): the
    # steps add columns to it and move its columns into their row copies
    # (consume=True), which leaves the caller's tables as they were
    primary = tables[spec.primary]
    kept = primary.__class__(primary, copy=False)
    frame = get_frame(cfg["frame"])
    for preset in spec.cuts_before:
        with progress.step(f"{sample}: {preset} cuts"):
            kept = _apply(kept, preset, plan, steps, sample)
    if "gaia" in tables and spec.primary != "gaia":
        # (one catalogue given for both: the join is the identity, counted as one)
        what = (
            f'{spec.match_radius_arcsec:g}" cross-match' if spec.join == "sky" else "source_id join"
        )
        with progress.step(f"{sample}: {what} to Gaia DR3"):
            kept = _join_gaia(kept, tables["gaia"], plan, steps, sample)
        if spec.repeat_spectra:
            kept = _repeat_spectra(kept, steps, sample)
    with progress.step(f"{sample}: distances ({spec.distance})"):
        kept = _distances(kept, tables, plan, steps, sample)
    # the inputs are done with: their memory (a prefetched catalogue's shared
    # block, 232 MB for the default giants) can go before the Monte Carlo
    tables.clear()
    for preset in spec.cuts_after:
        with progress.step(f"{sample}: {preset} cuts"):
            kept = _apply(kept, preset, plan, steps, sample)
    rv, rv_err = spec.radial_velocity, spec.radial_velocity_error
    with progress.step(
        f"{sample}: Monte-Carlo Galactocentric coordinates "
        f"({len(kept):,} stars x {cfg['monte_carlo']['n_samples']} draws)"
    ):
        # each star's random stream is keyed by its source_id, so neither the
        # engine's partitions nor the progress bar's chunks change a number
        inputs = transform.galactocentric_inputs(
            kept.colnames, radial_velocity=rv, radial_velocity_error=rv_err
        )
        gc = engine.map(
            transform.add_galactocentric,
            kept,
            columns=inputs,
            label="Monte Carlo",
            n_samples=cfg["monte_carlo"]["n_samples"],
            seed=cfg["monte_carlo"]["seed"],
            frame=cfg["frame"],
            radial_velocity=rv,
            radial_velocity_error=rv_err,
            n_threads=engine.n_threads,
        )
        _move_columns(gc, kept, transform.GALACTOCENTRIC_COLUMNS)
    with progress.step(f"{sample}: kinematic populations and halo cut"):
        probs = engine.map(
            populations.add_kinematic_probabilities,
            kept,
            columns=["x", "y", "vx", "vy", "vz"],
            frame=frame,
        )
        _move_columns(probs, kept, probs.colnames[5:])
        kept.meta["kinematics"] = probs.meta["kinematics"]
        kept, rep = populations.halo_cut(kept, cfg["halo_p_max"], frame=frame, consume=True)
        steps.record(rep, kept, sample)
    _metallicity(kept, spec)
    return _fit_inputs(kept, steps, sample, _settings(cfg, plan)[0]["nan_policy"])


def _move_columns(source, table, names):
    """``table[name] = source[name]`` for each name, the data not copied
    (a Table's item assignment copies it): a step's output columns join the
    sample as they are."""
    for name in names:
        if name in table.colnames:
            table.replace_column(name, source[name], copy=False)
        else:
            table.add_column(source[name], name=name, copy=False)


def _settings(cfg, plan):
    """The sample's ``[fit]`` and ``[azimuthal]`` settings: the run's, under
    the sample's own."""
    return {**cfg["fit"], **plan.spec.fit}, {**cfg["azimuthal"], **plan.spec.azimuthal}


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
def gradient_tables(
    sample: Table, cfg: Mapping[str, Any], n_threads: int | None = None
) -> tuple[Table, Table]:
    """Tables 1 and 2 of one sample, all their bins fitted concurrently.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from astropy.table import Table
    >>> from fastgrad.pipeline.config import load_config
    >>> from fastgrad.pipeline.run import gradient_tables, sample_config
    >>> rng = np.random.default_rng(1)
    >>> R, z = rng.uniform(7.0, 10.0, 3000), rng.uniform(-0.4, 0.4, 3000)  # kpc
    >>> feh = 0.5 - 0.06 * R - 0.2 * np.abs(z) + rng.normal(0.0, 0.1, R.size)  # dex
    >>> err = np.full(R.size, 0.05)
    >>> sample = Table({"R": R, "z": z, "feh_used": feh,
    ...                 "R_err": err, "z_err": err, "feh_used_err": err})
    >>> settings = {"fit": {"n_walkers": 8, "n_steps": 200, "min_stars": 500}}
    >>> cfg = sample_config(load_config(settings), "lamost")
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # AutocorrWarning: short chains
    ...     table1, table2 = gradient_tables(sample, cfg)
    >>> for t in (table1, table2):  # injected: -0.06 (radial), -0.2 (vertical) dex/kpc
    ...     ok = ~t["slope"].mask  # the bins with >= 500 stars
    ...     print([f"{m:.3f} +- {e:.3f}" for m, e in zip(t["slope"][ok], t["slope_err"][ok])])
    ['-0.058 +- 0.003', '-0.059 +- 0.003']
    ['-0.189 +- 0.028', '-0.181 +- 0.024', '-0.215 +- 0.026']
    """
    t1, t2, _ = gradient_fits(sample, cfg, n_threads)
    return t1, t2


def gradient_fits(
    sample: Table, cfg: Mapping[str, Any], n_threads: int | None = None
) -> tuple[Table, Table, LineFit | None]:
    """:func:`gradient_tables` and the LineFit of Table 1's first |Z| bin
    (Figure 3's posterior draws; None when that bin has too few stars to be
    fitted, :func:`first_bin_fit` then fits it alone)."""
    t1, t2, fit, _ = _table_fits(sample, cfg, n_threads)
    return t1, t2, fit


#: the key of the maps' radial fit among fit_tables' radial_fits
_MAP_FIT = "map"

#: the columns of :func:`azimuthal_analysis`'s ``selection``: what it, the
#: report (the pattern's recovery) and Figures 5 and 8 read of the stars
SELECTION_COLUMNS = ("R", "phi", "x", "y", "absz", "feh_used", "R_err", "feh_used_err")


def _table_fits(sample, cfg, n_threads, map_fit=False):
    """:func:`gradient_fits` and, with ``map_fit``, the radial fit of the
    |Z| < zmax stars of :func:`azimuthal_analysis` fitted in the bins' pool
    (the same LineFit as its own fit_line: the same stars, settings and seed;
    None where it is left to azimuthal_analysis: fewer stars than a line has
    parameters, whose error fit_line reports as before)."""
    f = cfg["fit"]
    radial_fits = None
    if map_fit and "absz" in sample.colnames:
        zmax = cfg["azimuthal"]["zmax"]
        if np.count_nonzero(np.asarray(sample["absz"]) < zmax) >= N_PARAMS:
            radial_fits = {_MAP_FIT: (-np.inf, zmax, f["seed"])}
    # sigma of |Z| is the MC std of z, not of |z| (biased low near the plane);
    # |Z| itself from absz where the sample has it (the same numbers, no copy)
    t1, t2, fits1, _, *extra = fit_tables(
        np.asarray(sample["R"]),
        np.asarray(sample["absz" if "absz" in sample.colnames else "z"]),
        np.asarray(sample["feh_used"]),
        np.asarray(sample["R_err"]),
        np.asarray(sample["z_err"]),
        np.asarray(sample["feh_used_err"]),
        absz_edges=f["z_edges"],
        R_edges=f["r_edges"],
        min_stars=f["min_stars"],
        n_jobs=-1,
        **sampler_settings(f),
        n_threads=n_threads,
        return_fits=True,
        radial_fits=radial_fits,
    )
    return t1, t2, fits1.get(0), extra[0][_MAP_FIT] if extra else None


def first_bin_fit(sample: Table, cfg: Mapping[str, Any], n_threads: int | None = None) -> LineFit:
    """The fit of Table 1's first |Z| bin with its samples (Figure 3's draws).

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from astropy.table import Table
    >>> from fastgrad.pipeline.config import load_config
    >>> from fastgrad.pipeline.run import first_bin_fit, sample_config
    >>> rng = np.random.default_rng(2)
    >>> R, absz = rng.uniform(6.0, 12.0, 3000), rng.uniform(0.0, 1.0, 3000)  # kpc
    >>> feh = 0.5 - 0.06 * R + rng.normal(0.0, 0.1, R.size)  # dex
    >>> err = np.full(R.size, 0.05)
    >>> sample = Table({"R": R, "absz": absz, "feh_used": feh, "R_err": err, "feh_used_err": err})
    >>> cfg = sample_config(load_config({"fit": {"n_walkers": 8, "n_steps": 200}}), "lamost")
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # AutocorrWarning: a short chain
    ...     fit = first_bin_fit(sample, cfg)  # 0 <= |Z| < 0.2 kpc
    >>> print(f"{fit.n_stars} stars, slope {fit.slope:.3f} +- {fit.slope_err:.3f} dex/kpc")
    607 stars, slope -0.058 +- 0.002 dex/kpc
    """
    f = cfg["fit"]
    e = f["z_edges"]
    absz = np.asarray(sample["absz"])
    sel = (absz >= e[0]) & (absz < e[1])
    return fit_line(
        np.asarray(sample["R"])[sel],
        np.asarray(sample["feh_used"])[sel],
        np.asarray(sample["R_err"])[sel],
        np.asarray(sample["feh_used_err"])[sel],
        **sampler_settings(f),
        n_threads=n_threads,
    )


def azimuthal_analysis(
    sample: Table,
    cfg: Mapping[str, Any],
    n_threads: int | None = None,
    fit: LineFit | None = None,
) -> dict[str, Any]:
    """|Z| < zmax: one radial fit, residual map, deviations and profiles.

    ``fit``: that radial fit made beforehand (the pipeline fits it in the
    pool of Tables 1 and 2: ``fit_tables(radial_fits=...)``), the LineFit of
    the |Z| < zmax stars with ``cfg["fit"]``'s settings and seed; its
    autocorrelation warning is issued here, as the fit's own would be.

    Returns a dict: ``selection`` (a Table of the |Z| < zmax stars'
    :data:`SELECTION_COLUMNS`), ``fit``, ``predicted`` (the fit's [Fe/H] at
    each selected star's R), ``residual_map``, ``delta`` (each star's
    deviation from its annulus mean), ``profiles`` and ``significance`` (per
    ring of ``cfg["azimuthal"]["rings"]``).

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from astropy.table import Table
    >>> from fastgrad.pipeline.config import load_config
    >>> from fastgrad.pipeline.run import azimuthal_analysis, sample_config
    >>> rng = np.random.default_rng(3)
    >>> R, phi = rng.uniform(7.0, 11.0, 4000), rng.uniform(-0.5, 0.5, 4000)  # kpc, rad
    >>> feh = 0.5 - 0.06 * R + 0.05 * (phi > 0) + rng.normal(0.0, 0.1, R.size)  # richer at phi > 0
    >>> err = np.full(R.size, 0.05)
    >>> sample = Table({"R": R, "phi": phi, "x": -R * np.cos(phi), "y": R * np.sin(phi),
    ...                 "absz": np.full(R.size, 0.1), "feh_used": feh, "R_err": err, "feh_used_err": err})
    >>> settings = {"fit": {"n_walkers": 8, "n_steps": 200}, "azimuthal": {"n_permutations": 99}}
    >>> cfg = sample_config(load_config(settings), "lamost")
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # AutocorrWarning: a short chain
    ...     az = azimuthal_analysis(sample, cfg)
    >>> sorted(az)
    ['delta', 'fit', 'predicted', 'profiles', 'residual_map', 'selection', 'significance']
    >>> for ring, s in az["significance"].items():  # 0.01: the smallest p of 99 permutations
    ...     print(f"{ring[0]:g}-{ring[1]:g} kpc: p = {s['p_value']:.2f}")
    7-9 kpc: p = 0.01
    9-11 kpc: p = 0.01
    """
    a, f = cfg["azimuthal"], cfg["fit"]
    sel = np.asarray(sample["absz"]) < a["zmax"]
    # the selection holds the columns read here and by the report and
    # figures, not a copy of every column of a survey-wide sample
    s = Table([sample[c][sel] for c in SELECTION_COLUMNS], copy=False)
    R, y = np.asarray(s["R"]), np.asarray(s["feh_used"])
    if fit is None:
        fit = fit_line(
            R,
            y,
            np.asarray(s["R_err"]),
            np.asarray(s["feh_used_err"]),
            **sampler_settings(f),
            n_threads=n_threads,
        )
    else:
        if fit.n_stars != len(s):
            raise ValueError(
                f"fit: a fit of {fit.n_stars} stars, but {len(s)} have |Z| < {a['zmax']} kpc"
            )
        if fit.autocorr_warning:
            warnings.warn(fit.autocorr_warning, AutocorrWarning, stacklevel=2)
    predicted = fit.slope * R + fit.intercept
    # with each cell's permutation p-value (fastgrad.significance)
    rmap = residual_map(
        np.asarray(s["x"]),
        np.asarray(s["y"]),
        y,
        predicted,
        min_count=a["map_min_count"],
        sign=a["sign"],
        n_permutations=a["n_permutations"],
        seed=a["permutation_seed"],
        n_threads=n_threads,
    )
    delta = azimuthal_deviation(R, y, a["half_width"], n_threads=n_threads)
    bins = np.arange(-np.pi, np.pi + 1e-12, np.radians(a["phi_bin_deg"]))
    phi = np.asarray(s["phi"])
    profiles = azimuthal_profiles(
        R, phi, delta, rings=[tuple(r) for r in a["rings"]], bins=bins, min_count=a["min_count"]
    )
    # is a ring's profile structure or noise? (permutations of the azimuths)
    significance = {
        ring: azimuthal_significance(
            R,
            phi,
            delta,
            ring,
            bins=bins,
            min_count=a["min_count"],
            n_permutations=a["n_permutations"],
            seed=a["permutation_seed"],
            n_threads=n_threads,
        )
        for ring in profiles
    }
    return dict(
        selection=s,
        fit=fit,
        predicted=predicted,
        residual_map=rmap,
        delta=delta,
        profiles=profiles,
        significance=significance,
    )


# ---------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------
def run(
    config: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    *,
    out: str | os.PathLike[str] = "fastgrad-results",
    n_threads: int | None = None,
    verbose: bool = True,
    figures: bool = True,
    overwrite: bool = False,
) -> RunResult:
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

    Examples
    --------
    >>> import warnings
    >>> from fastgrad.pipeline.run import run
    >>> config = {"run": ["giants"], "synthetic": {"seed": 5, "n_giants": 2000},
    ...           "monte_carlo": {"n_samples": 8}, "azimuthal": {"min_count": 3, "n_permutations": 9},
    ...           "fit": {"n_walkers": 8, "n_steps": 200, "min_stars": 200}}
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # AutocorrWarning: short chains
    ...     res = run(config, out="tiny-run", figures=False, verbose=False)
    >>> res
    <RunResult samples: giants (1,708 stars); failed: none; out: .../tiny-run>
    >>> for p in res.summary["samples"]["giants"]["pulls"]["table1"]:  # recovered vs injected
    ...     print(f"|Z| {p['bin_lo']:.1f}: {p['slope']:.3f} +- {p['slope_err']:.3f} (true {p['slope_true']:.3f})")
    |Z| 0.0: -0.075 +- 0.003 (true -0.073)
    |Z| 0.2: -0.054 +- 0.005 (true -0.060)
    |Z| 0.4: -0.051 +- 0.006 (true -0.051)
    """
    cfg = load_config(config)
    try:
        effective_n_threads(n_threads)
    except ValueError as exc:
        raise ConfigError(f"n_threads: {exc}") from None
    protect = [
        path
        for name in cfg["run"]
        for path in sample_plan(cfg, name).inputs.values()
        if path is not None
    ]
    protect += [
        cfg["overlays"][k]
        for k in ("overdensity", "literature_radial", "literature_vertical")
        if cfg["overlays"][k]
    ]
    if isinstance(config, (str, os.PathLike)):
        protect.append(config)
    outdir = ResultsDir(out, overwrite=overwrite, protect=protect)
    outdir.prepare(expected=output_names(cfg, figures))
    try:
        return _run(cfg, outdir, n_threads, verbose, figures)
    finally:
        outdir.abort()  # a no-op once the results are in place


def _run(cfg, outdir, n_threads, verbose, figures):
    with Progress(verbose) as progress:
        state = _RunState(cfg, outdir, n_threads, verbose, figures, progress)
        try:
            return _finish(state, _analyse_all(state))
        finally:
            for drawing in state.early:
                drawing.close(abort=True)  # an error or Ctrl-C (a no-op once they are drawn)


class _RunState:
    """One ``fastgrad run`` under way: its settings (``cfg``, the results
    folder ``outdir``, ``n_threads``, ``verbose``, ``figures``, ``progress``,
    the Galactocentric ``frame``) and what it has gathered (``results``,
    the injected ``truths`` and the cut ``reports`` of each sample, and
    ``early``: Figures 1-7 being drawn by a worker)."""

    def __init__(self, cfg, outdir, n_threads, verbose, figures, progress):
        self.cfg, self.outdir, self.n_threads = cfg, outdir, n_threads
        self.verbose, self.figures, self.progress = verbose, figures, progress
        self.frame = get_frame(cfg["frame"])
        self.results = RunResult(
            config=cfg, tables={}, fits={}, samples={}, azimuthal={}, failed={}
        )
        self.truths, self.reports, self.early = {}, [], []
        self.parallel = effective_n_threads(n_threads) > 1
        if self.parallel:
            # the bins' fits run in worker processes (fit_tables), and more
            # (.overlap): the server's imports overlap this process's
            start_worker_server()

    def first_done(self):
        """The first sample succeeded: a worker draws Figures 1-7 from it
        while the next ones are analysed."""
        if self.figures and self.parallel and len(self.cfg["run"]) > 1:
            self.early.append(
                start_first_figures(self.outdir.staging, self.results, self.cfg, self.frame)
            )


def _analyse_all(state):
    """Every sample of the run; the warnings they raised."""
    cfg = state.cfg
    # the later samples' synthetic catalogues are made in a worker process
    # while the first sample is analysed
    with Prefetch.start(cfg, state.n_threads) as ahead:
        if state.figures:  # a bad overlay file is found before any work
            from .report import load_overlays

            state.results["overlays"] = load_overlays(cfg, state.frame)
        engine = _engine(cfg, state.progress, state.n_threads)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                _analyse(state, engine, ahead)
        finally:
            engine.close()
    return caught


def _finish(state, caught):
    """The summary, the files (:func:`write_results`, with Figures 1-7
    already being drawn) and SampleFailure if a sample failed."""
    results, progress = state.results, state.progress
    # emcee's autocorrelation warnings are expected for the paper's short
    # chains: collected into the summary (and one line), others passed on
    autocorr = [str(w.message) for w in caught if issubclass(w.category, AutocorrWarning)]
    for w in caught:
        if not issubclass(w.category, AutocorrWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    results["cuts"] = vstack(state.reports) if state.reports else Table()
    results["summary"] = summary(results, state.cfg, state.truths, state.frame, progress)
    results["summary"]["autocorr_warnings"] = autocorr
    results["summary"]["failed"] = dict(results.failed)
    if autocorr:
        progress.note(
            f"note: {len(autocorr)} emcee warning(s): chains shorter than 50 "
            "autocorrelation times (the paper's 10 walkers x 1000 steps); fits kept, "
            "details in summary.json"
        )
    write_results(
        state.outdir,
        results,
        state.cfg,
        state.frame,
        state.figures,
        progress,
        state.verbose,
        state.n_threads,
        state.early[0] if state.early else None,
    )
    if results.failed:
        raise SampleFailure(results)
    return results


class SampleFailure(InputError):
    """Some samples of a run failed on their input data; the others' results
    were written (``.result``, a :class:`RunResult`; ``.failed``: sample ->
    message).

    Examples
    --------
    >>> from fastgrad.pipeline.run import RunResult, SampleFailure
    >>> res = RunResult(config={"run": ["lamost", "giants"]}, failed={"lamost": "no star left"},
    ...                 out="results")
    >>> err = SampleFailure(res)
    >>> err.failed
    {'lamost': 'no star left'}
    >>> print(err)
    1 sample(s) failed (lamost: no star left); the results of giants are in results
    """

    def __init__(self, result: RunResult) -> None:
        self.result, self.failed = result, dict(result.failed)
        done = [n for n in result.config["run"] if n not in self.failed]
        what = "; ".join(f"{name}: {msg}" for name, msg in self.failed.items())
        kept = (
            f"the results of {', '.join(done)} are in {result.get('out')}"
            if done
            else f"the cut report is in {result.get('out')}"
        )
        super().__init__(f"{len(self.failed)} sample(s) failed ({what}); {kept}")


def sample_config(cfg: Mapping[str, Any], name: str) -> dict[str, Any]:
    """``cfg`` with sample ``name``'s own ``[fit]`` and ``[azimuthal]``
    settings over the run's (what gradient_tables & co. read).

    Examples
    --------
    >>> from fastgrad.pipeline.config import load_config
    >>> from fastgrad.pipeline.run import sample_config
    >>> cfg = load_config({"fit": {"n_steps": 400}, "samples": {"giants": {"fit": {"min_stars": 100}}}})
    >>> cfg["fit"]["min_stars"], cfg["fit"]["n_steps"]  # the run's settings
    (500, 400)
    >>> fit = sample_config(cfg, "giants")["fit"]
    >>> fit["min_stars"], fit["n_steps"]  # the giants' own, over the run's
    (100, 400)
    """
    plan = sample_plan(cfg, name)
    fit, az = _settings(cfg, plan)
    return {**cfg, "fit": fit, "azimuthal": az}


def _analyse(state, engine, ahead=None):
    """Each sample of the run in turn, into ``state``; a sample that fails on
    its input data is recorded in ``results.failed`` and the others go on."""
    cfg, results, progress, n_threads = state.cfg, state.results, state.progress, state.n_threads
    first = None
    for name in cfg["run"]:
        steps = Steps()
        try:
            plan = sample_plan(cfg, name)
            path = partitioned_input(cfg, plan)
            scfg = sample_config(cfg, name)
            if path is None:
                sample, report, truth = prepare_sample(
                    cfg, name, progress, n_threads, engine, reports=steps, ahead=ahead
                )
                t1, t2, az, fit = _fits_and_maps(sample, scfg, name, first, progress, n_threads)
            else:
                sample, report, truth, t1, t2, az, fit = _partitioned(
                    cfg, scfg, name, path, first, progress, n_threads, steps
                )
            if fit is not None:
                results.fits[name] = fit
                first = name
        except (InputError, SamplingError) as exc:
            # one sample's bad data never costs the others their results
            results.failed[name] = str(exc)
            progress.note(f"{name}: FAILED: {exc}")
            if steps:
                state.reports.append(vstack([_normalise_report(r, name) for r in steps]))
            continue
        results.samples[name] = sample
        state.reports.append(report)
        state.truths[name] = truth
        results.tables[name] = {"table1": t1, "table2": t2}
        results.azimuthal[name] = az
        if len(results.samples) == 1:
            state.first_done()  # the run's first sample that succeeded: Figures 1-7's


def _fits_and_maps(sample, scfg, name, first, progress, n_threads, maps=True):
    """Tables 1 and 2, the azimuthal analysis (``maps``) and, for the run's
    first sample (``first is None``), Figure 3's fit: Table 1's first bin."""
    with progress.step(f"{name}: Tables 1 and 2 (emcee fits of the |Z| and R bins)"):
        # the maps' radial fit runs in the bins' pool, beside the bins' fits
        t1, t2, fit, map_fit = _table_fits(sample, scfg, n_threads, map_fit=maps)
    az = None
    if maps:
        with progress.step(
            f"{name}: residual maps and azimuthal profiles (|Z| < {scfg['azimuthal']['zmax']} kpc)"
        ):
            az = azimuthal_analysis(sample, scfg, n_threads, fit=map_fit)
    if first is not None:
        fit = None  # Figure 3 is of the run's first sample
    elif fit is None:  # Table 1's first bin has too few stars to be in the table
        with progress.step(f"{name}: posterior draws of the first |Z| bin (Figure 3)"):
            fit = first_bin_fit(sample, scfg, n_threads)
    return t1, t2, az, fit


def _partitioned(cfg, scfg, name, path, first, progress, n_threads, steps):
    """A sample read by partition (:mod:`.partitioned`): the per-star steps on
    the workers, the fits on the gathered fit columns, the maps and profiles
    from the partitioned final catalogue (:mod:`.partitioned_analysis`)."""
    from .partitioned import prepare_partitioned
    from .partitioned_analysis import azimuthal_analysis_partitioned

    with prepare_partitioned(cfg, name, progress, path, steps) as part:
        with contextlib.ExitStack() as stack:
            with progress.step(f"{name}: gather the fit columns ({part.n_stars:,} stars)"):
                fit_table = stack.enter_context(part.fit_table())
            t1, t2, _, fit = _fits_and_maps(
                fit_table, scfg, name, first, progress, n_threads, maps=False
            )
            del fit_table  # the client holds the maps' aggregates, not the stars
        with progress.step(
            f"{name}: residual maps and azimuthal profiles on the partitions "
            f"(|Z| < {scfg['azimuthal']['zmax']} kpc)"
        ):
            az = azimuthal_analysis_partitioned(
                part.frame, scfg, n_threads, kinematics=part.kinematics.get("velocities")
            )
    return part, part.report, None, t1, t2, az, fit


def _engine(cfg, progress, n_threads):
    """The engine of ``cfg["engine"]``: this machine, or a Dask cluster
    (``cfg["dask"]``: a scheduler address, or a LocalCluster of ``n_workers``
    single-threaded processes, one per CPU by default; 4 partitions a worker)."""
    if cfg["engine"] != "dask":
        return LocalEngine(n_threads, chunks=progress.chunks)
    d = cfg["dask"]
    with progress.step("dask: start the cluster"):
        return DaskEngine(d["scheduler"], n_workers=d["n_workers"], partitions=d["partitions"])
