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

Outputs go to a temporary directory beside ``out`` and are moved into place at
the end: a failed run leaves no half-written results.
"""
import copy
import json
import os
import shutil
import sys
import tempfile
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import astropy.units as u
from astropy.table import Table, vstack

from . import catalogs, populations
from ._build_info import version as _version
from .azimuthal import azimuthal_deviation, azimuthal_profiles, residual_map
from .fitting import fit_binned, fit_line
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
    "frame": "hawkins2023",                          # METHOD.md 3
    "crossmatch_radius_arcsec": 2.0,                 # METHOD.md 1
    "cuts": {},                                      # threshold overrides, catalogs.apply_cuts
    "monte_carlo": {"n_samples": 1000, "seed": 1},   # METHOD.md 3
    "halo_p_max": 0.01,                              # METHOD.md 4
    "fit": {                                         # METHOD.md 5
        "n_walkers": 10, "n_steps": 1000, "burn": None, "scatter": "perpendicular",
        "min_stars": 500, "seed": 1,
        "z_edges": [0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4],
        "r_edges": [7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0],
    },
    "azimuthal": {                                   # METHOD.md 6
        "zmax": 0.3, "half_width": 0.1, "phi_bin_deg": 2.0, "min_count": 20,
        "rings": [[7.0, 9.0], [9.0, 11.0]], "sign": "observed-model", "map_min_count": 5,
    },
}


def load_config(config=None):
    """The run's configuration: DEFAULT_CONFIG updated by ``config`` (a dict or
    the path of a TOML file; relative input paths are relative to that file)."""
    cfg = copy.deepcopy(DEFAULT_CONFIG)
    if config is None:
        return cfg
    base = None
    if isinstance(config, (str, os.PathLike)):
        path = Path(config)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        with open(path, "rb") as f:
            try:
                user = tomllib.load(f)
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"{path}: not valid TOML ({exc})") from None
        base = path.parent
    else:
        user = copy.deepcopy(dict(config))
    _merge(cfg, user, "")
    if base is not None:
        for key, value in cfg["inputs"].items():
            if isinstance(value, str) and not os.path.isabs(value):
                cfg["inputs"][key] = str(base / value)
    return cfg


def _merge(into, new, where):
    for key, value in new.items():
        if key not in into:
            raise ValueError(f"unknown configuration key {where}{key!r}; known: {sorted(into)}")
        if isinstance(into[key], dict) and key not in ("cuts",) and key != "lamost_columns":
            if not isinstance(value, dict):
                raise ValueError(f"configuration {where}{key} must be a table")
            _merge(into[key], value, f"{where}{key}.")
        else:
            into[key] = value


class RunResult(dict):
    """What ``run`` produced: tables, fits, profiles and the output directory."""

    __getattr__ = dict.__getitem__


class _Progress:
    """One line per step on stderr, with elapsed time (quiet when verbose=False)."""

    def __init__(self, verbose):
        self.verbose = verbose
        self.t0 = time.perf_counter()
        self.timings = {}

    def step(self, name):
        return _Step(self, name)


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
    if sample == "lamost":
        keys = ("lamost", "lamost_gaia", "lamost_bailer_jones")
    else:
        keys = ("giants", "giants_bailer_jones")
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
    missing = [k for k, v in zip(keys, given) if v is None]
    if missing:
        raise ValueError(f"inputs: {', '.join(missing)} missing (give all of {', '.join(keys)} "
                         "or none for the synthetic catalogues)")
    if sample == "lamost":
        lam = catalogs.read_catalog(inp["lamost"], kind="lamost_hot_stars",
                                    columns=inp["lamost_columns"] or None)
        gaia = catalogs.read_catalog(inp["lamost_gaia"], kind="gaia")
        bj = catalogs.read_catalog(inp["lamost_bailer_jones"], kind="bailer_jones")
        return lam, gaia, bj, False
    giants = catalogs.read_catalog(inp["giants"], kind="gaia_giants")
    bj = catalogs.read_catalog(inp["giants_bailer_jones"], kind="bailer_jones")
    return giants, None, bj, False


def prepare_sample(cfg, sample, progress, n_threads=None):
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
            kept = catalogs.crossmatch(kept, gaia, cfg["crossmatch_radius_arcsec"] * u.arcsec,
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
        gc = mc_galactocentric(
            kept["ra"], kept["dec"], kept["distance"], kept["pmra"], kept["pmdec"], kept[rv],
            ra_error=kept["ra_error"], dec_error=kept["dec_error"],
            distance_error=kept["distance_error"], pmra_error=kept["pmra_error"],
            pmdec_error=kept["pmdec_error"], radial_velocity_error=kept[rv_err],
            n_samples=cfg["monte_carlo"]["n_samples"], seed=cfg["monte_carlo"]["seed"],
            correlations=corr or None, ids=np.asarray(kept["source_id"]),
            frame=cfg["frame"], n_threads=n_threads)
        for name in gc.colnames:
            kept[name] = gc[name]
    with progress.step(f"{sample}: kinematic populations and halo cut"):
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
    names = {p for c in catalogs.get_cuts(preset) for p in getattr(c, "params", {})}
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
def fit_tables(sample, cfg, n_threads=None):
    """Tables 1 and 2 of one sample, their bins fitted concurrently."""
    f = cfg["fit"]
    kw = dict(n_walkers=f["n_walkers"], n_steps=f["n_steps"], burn=f["burn"],
              scatter=f["scatter"], seed=f["seed"], min_stars=f["min_stars"])
    R, absz = np.asarray(sample["R"]), np.asarray(sample["absz"])
    y, ye = np.asarray(sample["feh_used"]), np.asarray(sample["feh_used_err"])
    t1 = fit_binned(R, y, np.asarray(sample["R_err"]), ye, by=absz, edges=f["z_edges"],
                    n_threads=n_threads, **kw)
    # sigma of |Z| is the MC std of z, not of |z| (biased low near the plane)
    t2 = fit_binned(absz, y, np.asarray(sample["z_err"]), ye, by=R, edges=f["r_edges"],
                    n_threads=n_threads, **kw)
    return t1, t2


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
