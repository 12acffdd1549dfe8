"""A run's files: ECSV tables, Figures 1-8, summary.json and report.md.

Everything is written into the staging folder of a
:class:`fastgrad._outdir.ResultsDir` and moved into place whole at the end
(:func:`write_results`); :func:`output_names` lists the files beforehand, so
that the output folder is checked before any work.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import astropy.units as u
import numpy as np
from astropy.table import vstack

from .. import paper
from .._build_info import version as _version
from ..errors import OutputError
from ..frames import frame_metadata
from ..validation import recover_amplitude, slope_pulls

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from astropy.coordinates import Galactocentric

    from .._outdir import ResultsDir
    from .overlap import FigureDrawing
    from .progress import Progress
    from .run import RunResult


__all__ = ["output_names", "summary", "write_results", "PAPER_TABLE1", "PAPER_TABLE2"]

#: docs/method.md section 5: the paper's slopes (LAMOST), for the report
PAPER_TABLE1 = paper.table_slopes(paper.TABLE1)
PAPER_TABLE2 = paper.table_slopes(paper.TABLE2)


def output_names(cfg: Mapping[str, Any], figures: bool) -> list[str]:
    """The files a run may write, relative to its results folder (a sample
    that fails writes none of its own)."""
    names = ["cuts.ecsv", "summary.json", "report.md"]
    for sample in cfg["run"]:
        suffix = _suffix(cfg, sample)
        names += [f"table1{suffix}.ecsv", f"table2{suffix}.ecsv", f"azimuthal_profile{suffix}.ecsv"]
    if figures:
        names += [f"figures/fig{i}.png" for i in range(1, 9)]
    return names


def _suffix(cfg, sample):
    """The first sample of ``run`` writes ``table1.ecsv``, the others
    ``table1_<name>.ecsv``."""
    return "" if sample == cfg["run"][0] else f"_{sample}"


def _preset(cfg, sample):
    from .config import sample_plan

    return sample_plan(cfg, sample).spec


def write_results(
    outdir: ResultsDir,
    results: RunResult,
    cfg: Mapping[str, Any],
    frame: Galactocentric,
    figures: bool,
    progress: Progress,
    verbose: bool,
    n_threads: int | None = None,
    early: FigureDrawing | None = None,
) -> None:
    """Write every file of the run into ``outdir`` (a prepared
    :class:`fastgrad._outdir.ResultsDir`) and commit it; sets ``results["out"]``.

    The figures are drawn by ``n_threads`` worker processes (None: one per
    CPU; 1: here) while the tables are written
    (:class:`fastgrad.pipeline.overlap.FigureDrawing`): the same files.
    ``early``: the figures already being drawn (:func:`start_first_figures`)."""
    try:
        _write_files(outdir.staging, results, cfg, frame, figures, progress, n_threads, early)
    except OSError as exc:  # a full disk, a file-size limit, a vanished folder
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        raise OutputError(
            f"--out {outdir.out}: writing the results failed: {exc.strerror or exc}{where}"
        ) from None
    out = outdir.commit()
    results["out"] = out
    progress.note(f"results in {out}/")


def summary(
    results: RunResult,
    cfg: Mapping[str, Any],
    truths: Mapping[str, Any],
    frame: Galactocentric,
    progress: Progress,
) -> dict[str, Any]:
    """summary.json's content: the frame, the config, per sample its fits, map
    fit, azimuthal profiles and (synthetic input) the truth comparisons
    (:mod:`fastgrad.validation`), and the step timings (s)."""
    s = {"fastgrad": _version, "frame": frame_metadata(frame), "config": cfg, "samples": {}}
    for name, tabs in results.tables.items():
        az = results.azimuthal[name]
        fit = az["fit"]
        # a partitioned catalogue's analysis carries its aggregates
        # (fastgrad.pipeline.partitioned_analysis): the catalogue is not read
        agg = az.get("sample")
        entry = {
            "n_final": agg.n_stars if agg is not None else len(results.samples[name]),
            "table1": _table_records(tabs["table1"]),
            "table2": _table_records(tabs["table2"]),
            "map_fit": {
                "n_stars": len(az["selection"]),
                "slope": fit.slope,
                "slope_err": fit.slope_err,
                "intercept": fit.intercept,
                "intercept_err": fit.intercept_err,
                "scatter": fit.scatter,
                "scatter_err": fit.scatter_err,
            },
            "azimuthal": {},
            "populations": (
                agg.populations if agg is not None else _populations_check(results.samples[name])
            ),
        }
        for ring, prof in az["profiles"].items():
            ok = ~np.ma.getmaskarray(prof["mean"])
            m = np.ma.filled(prof["mean"], np.nan)[ok]
            entry["azimuthal"][f"{ring[0]:g}-{ring[1]:g} kpc"] = {
                "n_bins": int(ok.sum()),
                "max_abs_mean_dex": float(np.nanmax(np.abs(m))) if m.size else None,
                "std_of_means_dex": float(np.nanstd(m)) if m.size else None,
                **{
                    k: az["significance"][ring][k]
                    for k in (
                        "p_value",
                        "p_value_chi2",
                        "chi2",
                        "dof",
                        "n_permutations",
                        "significant",
                    )
                },
            }
        # the residual map's per-cell test (fastgrad.significance.cell_significance)
        entry["residual_map"] = {
            k: (None if isinstance(v, float) and not np.isfinite(v) else v)
            for k, v in az["residual_map"].significance.items()
        }
        truth = truths.get(name)
        if truth:
            entry["truth"] = truth
            entry["pulls"] = {
                "table1": slope_pulls(tabs["table1"], truth.get("table1", [])),
                "table2": slope_pulls(tabs["table2"], truth.get("table2", [])),
            }
            amp = truth.get("azimuthal_amplitude")
            if amp and agg is not None:
                if az.get("recovery"):
                    entry["azimuthal_recovery"] = az["recovery"]
            elif amp:
                entry["azimuthal_recovery"] = recover_amplitude(
                    az["selection"], az["delta"], truth, half_width=cfg["azimuthal"]["half_width"]
                )
        s["samples"][name] = entry
    s["timings_s"] = {k: round(v, 3) for k, v in progress.timings.items()}
    return s


def _table_records(table):
    recs = []
    for row in table:
        rec = {}
        for name in table.colnames:
            v = row[name]
            if np.ma.is_masked(v) and np.ndim(v) == 0:
                rec[name] = None
            elif hasattr(v, "tolist"):  # numpy scalars and per-parameter arrays
                rec[name] = (
                    np.ma.filled(v, np.nan).tolist() if np.ma.isMaskedArray(v) else v.tolist()
                )
            else:
                rec[name] = v
        recs.append(rec)
    return recs


def _write_files(d, results, cfg, frame, figures, progress, n_threads=None, early=None):
    from .._threads import effective_n_threads
    from .overlap import FigureDrawing

    frame_meta = frame_metadata(frame)
    with progress.step("write tables, figures, summary and report"):
        jobs = []
        if figures and results.samples:
            (d / "figures").mkdir(exist_ok=True)
            jobs = _longest_first(results, cfg, frame, skip=early.numbers if early else ())
        # the figures are drawn in worker processes while the tables are
        # written (beside the early ones' worker, a last one is drawn here)
        with FigureDrawing(jobs, d / "figures", effective_n_threads(n_threads)) as drawing:
            _write_tables(d, results, cfg, frame, frame_meta)
            drawn = drawing.wait()
            if early is not None:
                drawn += early.wait()
        (d / "report.md").write_text(_report(results, cfg, sorted(drawn)))


def start_first_figures(
    staging: Any, results: RunResult, cfg: Mapping[str, Any], frame: Galactocentric
) -> FigureDrawing:
    """Start drawing the figures of the run's first sample (Figures 1-7) in
    a worker process, into ``staging / "figures"``, once that sample is done:
    they overlap the next samples' steps.  :func:`write_results` (``early=``)
    waits for them and draws the others."""
    from .overlap import FigureDrawing

    (staging / "figures").mkdir(exist_ok=True)
    jobs = _longest_first(results, cfg, frame, skip=(8,))
    return FigureDrawing(jobs, staging / "figures", 1, here=False)


def _longest_first(results, cfg, frame, skip):
    """The figure jobs of :func:`_figure_jobs` but those numbered in
    ``skip``, the longest to draw first, so that none is left alone at the end."""
    jobs = (j for j in _figure_jobs(results, cfg, frame) if j[0] not in skip)
    return sorted(jobs, key=lambda j: _DRAW_ORDER.index(j[0]))


#: Figures 1-8 by the time they take to draw (the paper's run, one core:
#: Figure 1 1.0 s, 8 0.8 s, 2 0.6 s, 5 0.5 s, 3 0.5 s, 7 and 4 0.2 s, 6 0.06 s,
#: before saving, which takes ~7 s for the eight)
_DRAW_ORDER = (1, 8, 2, 5, 3, 7, 4, 6)


def _write_tables(d, results, cfg, frame, frame_meta):
    """The ECSV tables, the cut report and summary.json."""
    for name in results.tables:
        suffix = _suffix(cfg, name)
        for key in ("table1", "table2"):
            t = results.tables[name][key].copy()
            # the frame itself too: astropy's ECSV YAML round-trips a Galactocentric
            t.meta.update(
                {
                    "sample": name,
                    "frame": frame_meta,
                    "galactocentric": frame,
                    "fastgrad": _version,
                }
            )
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
        pt.meta.update(
            {
                "sample": name,
                "frame": frame_meta,
                "half_width_kpc": cfg["azimuthal"]["half_width"],
            }
        )
        pt.write(d / f"azimuthal_profile{suffix}.ecsv", format="ascii.ecsv")
    results["cuts"].meta.update({"frame": frame_meta})
    results["cuts"].write(d / "cuts.ecsv", format="ascii.ecsv")
    with open(d / "summary.json", "w") as f:
        json.dump(results["summary"], f, indent=1, default=_json_default)


def _json_default(o):
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def load_overlays(cfg, frame):
    """The user's overlays of ``cfg["overlays"]``, read (InputError naming a
    bad file): ``{"arms", "contours", "levels", "literature_radial",
    "literature_vertical"}`` for the figures."""
    o = cfg["overlays"]
    R0 = float(frame.galcen_distance.to_value(u.kpc))

    # matplotlib is imported only where a file is read: the figures are
    # drawn by worker processes (overlap.FigureDrawing), and its import
    # would hold up the start of the run
    def read_overdensity_grid(*args, **kwargs):
        from ..plots import read_overdensity_grid

        return read_overdensity_grid(*args, **kwargs)

    def read_literature(path):
        from ..plots import read_literature

        return read_literature(path)

    return {
        "arms": None if o["arms"] == "none" else o["arms"],
        "contours": (
            read_overdensity_grid(o["overdensity"], frame=o["overdensity_frame"], R0=R0)
            if o["overdensity"]
            else None
        ),
        "levels": o["overdensity_levels"],
        "literature_radial": (
            read_literature(o["literature_radial"]) if o["literature_radial"] else None
        ),
        "literature_vertical": (
            read_literature(o["literature_vertical"]) if o["literature_vertical"] else None
        ),
    }


def _figures(results, cfg, frame):
    """(number, Figure) of each of Figures 1-8 the run draws, drawn here."""
    from .overlap import make_figure

    for i, name, args, kwargs in _figure_jobs(results, cfg, frame):
        yield i, make_figure(name, args, kwargs)


def _figure_jobs(results, cfg, frame):
    """(number, plot function of :mod:`fastgrad.plots`, args, kwargs) of each
    of Figures 1-8 the run draws: what a worker process needs to draw one
    (:func:`fastgrad.pipeline.overlap.draw_figure`)."""
    from dataclasses import replace

    over = results.get("overlays") or load_overlays(cfg, frame)
    maps = dict(arms=over["arms"], contours=over["contours"], contour_levels=over["levels"])
    R0 = float(frame.galcen_distance.to_value(u.kpc))
    z_sun = float(frame.z_sun.to_value(u.kpc))
    # Figures 1-7 show the first sample of the run that succeeded, Figure 8
    # the maps of the next (the paper: LAMOST, then the giants)
    done = [n for n in cfg["run"] if n in results.samples]
    first = done[0]
    spec = _preset(cfg, first)
    title = _TITLES.get(spec.name, first)
    lab = f"{spec.label} (dex)"
    e = cfg["fit"]["z_edges"]
    agg = results.azimuthal[first].get("sample")
    if agg is not None:  # a partitioned catalogue: its hexes, never its stars
        fig1, fig2, clim = agg.fig1, agg.fig2, agg.fig2_clim
        fig3 = (agg.fig3, None)
    else:
        s = results.samples[first]
        x, y, z, R = (np.asarray(s[c]) for c in ("x", "y", "z", "R"))
        feh = np.asarray(s["feh_used"])
        fig1, fig2, clim = (x, y, z, R), (x, y, z, R, feh), None
        sel = (np.asarray(s["absz"]) >= e[0]) & (np.asarray(s["absz"]) < e[1])
        fig3 = (R[sel], feh[sel])
    yield 1, "fig1_density", fig1, dict(R0=R0, z_sun=z_sun, title=title)
    yield (
        2,
        "fig2_metallicity",
        fig2,
        dict(
            R0=R0,
            z_sun=z_sun,
            clim=clim,
            min_count=cfg["azimuthal"]["map_min_count"],
            label=lab,
            title=title,
        ),
    )
    t1 = results.tables[first]["table1"]
    # Figure 3 draws the posterior samples: the sampler stays here
    fit0 = replace(results.fits[first], sampler=None)
    yield (
        3,
        "fig3_radial_fit",
        (*fig3, fit0),
        dict(zlabel=f"{e[0]:g} <= |Z| < {e[1]:g} kpc", label=lab),
    )
    is_lamost = spec.name == "hotpayne"  # the paper's Tables 1 and 2 are of its LAMOST stars
    yield (
        4,
        "fig4_radial_gradients",
        (t1,),
        dict(
            min_stars=cfg["fit"]["min_stars"],
            reference=PAPER_TABLE1 if is_lamost else None,
            literature=over["literature_radial"],
        ),
    )
    az = results.azimuthal[first]
    yield (
        5,
        "fig5_residual_maps",
        _map_inputs(az),
        dict(
            R0=R0,
            sign=cfg["azimuthal"]["sign"],
            min_count=cfg["azimuthal"]["map_min_count"],
            quantity=spec.label,
            significance=az["residual_map"],
            **maps,
        ),
    )
    yield 6, "fig6_azimuthal_profile", (az["profiles"],), {}
    yield (
        7,
        "fig7_vertical_gradients",
        (results.tables[first]["table2"],),
        dict(
            min_stars=cfg["fit"]["min_stars"],
            reference=PAPER_TABLE2 if is_lamost else None,
            literature=over["literature_vertical"],
        ),
    )
    if len(done) > 1:
        g = results.azimuthal[done[1]]
        yield (
            8,
            "fig8_residual_maps",
            _map_inputs(g),
            dict(
                R0=R0,
                sign=cfg["azimuthal"]["sign"],
                min_count=cfg["azimuthal"]["map_min_count"],
                quantity=_preset(cfg, done[1]).label,
                significance=g["residual_map"],
                **maps,
            ),
        )


def _map_inputs(az):
    """Figures 5 and 8's first arguments: the |Z| < zmax stars' x, y,
    observed and predicted values, or a partitioned catalogue's hexes."""
    sel = az["selection"]
    hexes = getattr(sel, "hexes", None)
    if hexes is not None:
        return (hexes,)
    return np.asarray(sel["x"]), np.asarray(sel["y"]), np.asarray(sel["feh_used"]), az["predicted"]


#: Figure titles of the presets (others: the sample's name)
_TITLES = {
    "hotpayne": "LAMOST OBAF stars",
    "gspspec_giants": "Gaia DR3 giants",
    "apogee_dr17": "APOGEE DR17",
    "galah_dr3": "GALAH DR3",
    "xp_giants": "Gaia DR3 XP giants",
}


def _significance_words(a):
    """One ring's permutation test, in words (fastgrad.significance)."""
    p, k = a["p_value"], a["n_permutations"]
    if p is None or not np.isfinite(p):
        return "too few azimuth bins to test for structure"
    floor = 1.0 / (k + 1)
    shown = f"p <= {floor:.2g}" if p <= floor else f"p = {p:.2g}"
    verdict = (
        "**significant azimuthal structure**"
        if a["significant"]
        else "no significant azimuthal structure"
    )
    return (
        f"{verdict} ({shown}, {k} permutations of the azimuths; chi-square "
        f"{a['chi2']:.1f} for {a['dof']} degrees of freedom, p = {a['p_value_chi2']:.2g})"
    )


def _map_significance_words(m):
    """The residual map's per-cell test, in words (fastgrad.significance)."""
    if m["n_cells"] < 2:
        return "too few cells to test"
    frac, p = m["fraction_p_below_0.05"], m["p_value_global"]
    shown = f"p <= {p:.2g}" if p <= m["min_p_value"] else f"p = {p:.2g}"
    return (
        f"{m['n_significant']} of {m['n_cells']} cells have a mean residual significant at a "
        f"family-wise error rate of {m['alpha']:.0%} ({m['n_permutations']} permutations of "
        f"the residuals among the map's stars); {frac:.1%} of the cells have p < 0.05, "
        f"5 % expected from noise alone; map-wide test {shown}"
    )


def _populations_check(sample):
    """The paper's check (docs/method.md sections 4 and 8): the share of the
    final sample with P_thin > 0.9 (paper: > 95 % for LAMOST)."""
    p_thin = np.asarray(sample["p_thin"], dtype=np.float64)
    velocities = sample.meta.get("kinematics", {}).get("velocities")
    return {
        "share_p_thin_gt_0.9": float(np.mean(p_thin > 0.9)) if p_thin.size else None,
        "kinematics": velocities,
    }


def _fmt(v, nd=3):
    return "–" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.{nd}f}"


def _report(results, cfg, drawn):
    s = results["summary"]
    lines = [
        "# fastgrad run report",
        "",
        f"fastgrad {s['fastgrad']}; frame `{s['frame']['preset']}` "
        f"(R0 = {s['frame']['galcen_distance_kpc']} kpc, z_sun = {s['frame']['z_sun_kpc']} kpc, "
        f"v_sun = {tuple(s['frame']['galcen_v_sun_kms'])} km/s).",
        "",
    ]
    from .config import sample_plan

    plans = {name: sample_plan(cfg, name) for name in cfg["run"]}
    lines += ["## Samples", "", "| sample | preset | input |", "|---|---|---|"]
    for name, plan in plans.items():
        where = (
            "the embedded synthetic catalogue (`fastgrad.mock`), whose injected truth is "
            "compared with the fits below"
            if plan.synthetic
            else ", ".join(f"{k}: `{v}`" for k, v in plan.inputs.items())
        )
        lines.append(f"| {name} | {plan.spec.name} | {where} |")
    if results.failed:
        lines += ["", "## Failed samples", ""]
        lines += [f"- **{name}**: {msg}" for name, msg in results.failed.items()]
    lines.append("")
    lines += [
        "## Sample selection",
        "",
        "| sample | step | before | removed | after |",
        "|---|---|---|---|---|",
    ]
    for r in results["cuts"]:
        lines.append(
            f"| {r['sample']} | {r['cut']} | {r['n_before']:,} | {r['n_removed']:,} | {r['n_after']:,} |"
        )
    lines.append("")
    for name, entry in s["samples"].items():
        pop = entry["populations"]
        if pop["share_p_thin_gt_0.9"] is not None:
            lines.append(
                f"- {name}: {100 * pop['share_p_thin_gt_0.9']:.1f} % of the final sample has "
                f"P_thin > 0.9 (the paper checks > 95 % for LAMOST; velocities relative to "
                f"the LSR: {pop['kinematics']}, docs/method.md section 4)."
            )
    for name, entry in s["samples"].items():
        is_lamost = plans[name].spec.name == "hotpayne"
        for key, label, ref in (
            ("table1", "Table 1: radial gradient by |Z| bin", PAPER_TABLE1),
            ("table2", "Table 2: vertical gradient by R bin", PAPER_TABLE2),
        ):
            pulls = {p["bin_lo"]: p for p in entry.get("pulls", {}).get(key, [])}
            lines += ["", f"## {name}: {label}", ""]
            head = "| bin | N | m | σ_m | b | σ_b | λ | σ_λ |"
            sep = "|---|---|---|---|---|---|---|---|"
            if is_lamost:
                head += " paper m ± σ |"
                sep += "---|"
            if pulls:
                head += " injected m | pull |"
                sep += "---|---|"
            lines += [head, sep]
            for rec in entry[key]:
                row = (
                    f"| {rec['bin_lo']:g}–{rec['bin_hi']:g} | {rec['n_stars']:,} | {_fmt(rec['slope'])} | "
                    f"{_fmt(rec['slope_err'])} | {_fmt(rec['intercept'])} | {_fmt(rec['intercept_err'])} | "
                    f"{_fmt(rec['scatter'])} | {_fmt(rec['scatter_err'])} |"
                )
                if is_lamost:
                    pm = ref.get(round(rec["bin_center"], 1))
                    row += f" {pm[0]:.3f} ± {pm[1]:.3f} |" if pm else " – |"
                if pulls:
                    p = pulls.get(rec["bin_lo"])
                    row += f" {p['slope_true']:.3f} | {p['pull']:+.1f} |" if p else " – | – |"
                lines.append(row)
        mf = entry["map_fit"]
        lines += [
            "",
            f"## {name}: azimuthal structure (|Z| < {cfg['azimuthal']['zmax']} kpc)",
            "",
            f"Radial fit used for the residual maps: m = {mf['slope']:.4f} ± {mf['slope_err']:.4f} dex/kpc, "
            f"b = {mf['intercept']:.3f} ± {mf['intercept_err']:.3f} dex, λ = {mf['scatter']:.3f} dex "
            f"({mf['n_stars']:,} stars).",
            "",
        ]
        for ring, a in entry["azimuthal"].items():
            lines.append(
                f"- {ring}: {a['n_bins']} azimuth bins; largest |⟨δ[Fe/H]⟩| = {_fmt(a['max_abs_mean_dex'])} dex, "
                f"scatter of the bin means {_fmt(a['std_of_means_dex'])} dex; "
                + _significance_words(a)
            )
        lines.append("- residual map: " + _map_significance_words(entry["residual_map"]))
        rec = entry.get("azimuthal_recovery")
        if rec:
            lines.append(
                f"- injected arm pattern: amplitude recovered {rec['amplitude_dex']:.4f} ± "
                f"{rec['amplitude_err_dex']:.4f} dex; {rec['amplitude_true_dex']:.4f} injected, "
                f"{rec['amplitude_expected_dex']:.4f} expected after the distance errors "
                f"(pull {rec['pull']:+.1f})"
            )
    if drawn:
        done = [n for n in cfg["run"] if n in results.samples]
        second = done[1] if len(done) > 1 else None
        lines += [
            "",
            "## Figures",
            "",
            f"Figures 1-7: {done[0]}." + (f" Figure 8: {second}." if second else ""),
            "",
        ]
        captions = {
            1: "density in X-Y and R-Z",
            2: "median metallicity in X-Y and R-Z",
            3: "metallicity vs R in the first |Z| bin with posterior draws",
            4: "radial gradient vs |Z|",
            5: "observed, model and residual maps",
            6: "azimuthal deviation at fixed radius",
            7: "vertical gradient vs R",
            8: f"{second}: observed, model and residual maps",
        }
        for i in drawn:  # only the figures that were drawn
            lines.append(f"![Figure {i}: {captions[i]}](figures/fig{i}.png)")
    lines += ["", "## Timings", "", "| step | s |", "|---|---|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in s["timings_s"].items()]
    return "\n".join(lines) + "\n"
