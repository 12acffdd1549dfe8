"""Is the rise of the XP giants' azimuthal profiles at the ring ends in the truth?

The 2x10^7-star ``xp_giants`` run (bench/README.md, "Survey scale") found the
Figure 6 profiles rising to +0.15-0.18 dex at |phi| > 1.2 rad in both rings.
This script makes a smaller catalogue of the same mock
(:func:`fastgrad.mock.hats.write_xp_parquet`, a fixed seed), runs the
pipeline's own per-star steps on it (:func:`fastgrad.pipeline.run.prepare_sample`:
cuts, Bailer-Jones distances, the Monte Carlo, halo cut; the local engine, one
thread), regenerates every star's truth from its block's random stream (the
first draws of :func:`fastgrad.mock.xp.make_xp_block`, checked against the
catalogue) and computes the docs/method.md section 6 profile four ways over
the same final stars:

* ``measured``: the pipeline's: observed [Fe/H] (``mh_xgboost``) on the
  nominal coordinates (Bailer-Jones ``r_med_geo``), |Z| < 0.3 kpc, annulus
  half-width 0.1 kpc, 2-degree bins with >= 20 stars;
* ``true_feh@meas``: the true [Fe/H] (model + intrinsic scatter, no XP
  error) on the measured coordinates: the coordinate errors alone;
* ``model@meas``: the noise-free model [Fe/H] on the measured coordinates;
* ``model@true``: the injected truth: the noise-free model [Fe/H] on the true
  coordinates (true R for the annulus means, true phi, true |Z| < 0.3 kpc).

For the ring ends (|phi| > ``--phi-end`` rad in measured coordinates; also
|phi| > ``--phi-shoulder`` and the ring's outermost 5 % of stars in |phi|) it
prints each version's mean deviation with its standard error, the injected
truth's own stars in that range, the paired truth of the same stars (each
star's noise-free model minus the truth's annulus mean at its true R), where
those stars really are (true minus measured R and distance) and their distance
errors.  ``--cases``: magnitude limits (the mock's ``truth={"survey":
{"g_max_mag": G}}``), ``G:D`` also widening the mock's true heliocentric
distance window from its 8 kpc to D kpc (``distance_max_kpc``).

Command (2026-12-04, 2-core Xeon shared with other jobs, one thread)::

    OMP_NUM_THREADS=1 python bench/xp_profile_bias.py --n-stars 1000000

2 min 15 s for the three default cases (G < 16.2; G < 12.5; G < 16.2 with
true distances to 16 kpc), each ~15 s of catalogue generation and ~20 s of
per-star steps.  ``--json FILE`` also writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

#: the mock's heliocentric distance window: no true star lies beyond it
#: (fastgrad.mock.truth.default_truth("gaia_giants")["survey"]["distance_max_kpc"])
D_MAX_KEY = ("survey", "distance_max_kpc")


def overrides(g_max, d_max=None):
    """The mock's truth overrides: G < ``g_max``; true distances < ``d_max``
    kpc (default the giants' 8 kpc)."""
    survey = {"g_max_mag": float(g_max)}
    if d_max is not None:
        survey["distance_max_kpc"] = float(d_max)
    return {"survey": survey}


def make_catalogue(directory, n_stars, seed, truth):
    """The xp_giants inputs of ``n_stars`` rows in ``directory``."""
    from fastgrad.mock.hats import write_xp_parquet

    return write_xp_parquet(directory, n_stars, seed=seed, n_workers=1, truth=truth)


def star_truth(n_stars, seed, truth, block_size):
    """Per catalogue row: true x, y, z (kpc), R, phi, |Z|, distance (kpc), ra,
    dec (deg), model / true [Fe/H] (dex): the first draws of each block's
    stream, as :func:`fastgrad.mock.xp.make_xp_block` makes them."""
    from fastgrad.frames import get_frame
    from fastgrad.mock.galaxy import Geometry
    from fastgrad.mock.surveys import _common_truth
    from fastgrad.mock.xp import _block_seed, block_rows, n_blocks, xp_truth

    full = xp_truth(truth)
    frame = get_frame(None)
    geo = Geometry(frame)
    parts = []
    for b in range(n_blocks(n_stars, block_size)):
        _, m = block_rows(n_stars, b, block_size)
        rng = np.random.default_rng(_block_seed(seed, b))
        stars, _ = _common_truth(rng, "gaia_giants", m, full, frame, geo)
        x, y, z = stars["xyz"]
        parts.append(
            dict(
                x=x,
                y=y,
                z=z,
                distance=stars["distance"],
                ra=stars["ra"],
                dec=stars["dec"],
                feh_model=stars["feh_model"],
                feh_true=stars["feh_true"],
            )
        )
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    out["R"] = np.hypot(out["x"], out["y"])
    out["phi"] = np.arctan2(out["y"], -out["x"])
    out["absz"] = np.abs(out["z"])
    out["d_max"] = full[D_MAX_KEY[0]][D_MAX_KEY[1]]
    return out


def final_sample(directory, n_threads):
    """The pipeline's final xp_giants sample (paper settings, local engine)."""
    from fastgrad.pipeline.config import load_config
    from fastgrad.pipeline.progress import Progress
    from fastgrad.pipeline.run import prepare_sample

    inputs = {k: str(Path(directory) / f"{k}.parquet") for k in ("xp", "gaia", "distances")}
    cfg = load_config({"run": ["xp"], "samples": {"xp": {"preset": "xp_giants", "inputs": inputs}}})
    with Progress(False) as progress:
        sample, _, _ = prepare_sample(cfg, "xp", progress, n_threads=n_threads)
    return sample, cfg


def deviations(R, absz, values, zmax, h, n_threads):
    """delta = values - annulus mean over the |Z| < zmax stars (NaN elsewhere)."""
    from fastgrad.azimuthal import azimuthal_deviation

    sel = absz < zmax
    out = np.full(R.size, np.nan)
    out[sel] = azimuthal_deviation(R[sel], values[sel], h, n_threads=n_threads)
    return out


def mean_se(v):
    v = v[np.isfinite(v)]
    if v.size < 2:
        return np.nan, np.nan, int(v.size)
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size)), int(v.size)


def analyse(n_stars, seed, g_max, d_max, phi_end, phi_shoulder, n_threads, block_size, workdir):
    from fastgrad.azimuthal import azimuthal_profiles

    t0 = time.perf_counter()
    truth = overrides(g_max, d_max)
    cat_dir = Path(workdir) / f"xp_{n_stars}_g{g_max:g}_d{d_max}"
    make_catalogue(cat_dir, n_stars, seed, truth)
    t_gen = time.perf_counter() - t0
    sample, cfg = final_sample(cat_dir, n_threads)
    t_run = time.perf_counter() - t0 - t_gen
    a = cfg["azimuthal"]
    zmax, h, rings = a["zmax"], a["half_width"], [tuple(r) for r in a["rings"]]
    bins = np.arange(-np.pi, np.pi + 1e-12, np.radians(a["phi_bin_deg"]))

    tru = star_truth(n_stars, seed, truth, block_size)
    row = np.asarray(sample["source_id"]) & np.int64(2**35 - 1)
    t = {k: v[row] for k, v in tru.items() if k != "d_max"}
    # the regenerated truth is the catalogue's: observed positions within mas
    dra = (np.asarray(sample["ra"]) - t["ra"]) * np.cos(np.radians(t["dec"])) * 3.6e6
    if np.nanmax(np.abs(dra)) > 1e3:
        raise RuntimeError("regenerated truth does not match the catalogue")

    R, phi, absz = (np.asarray(sample[k], dtype=float) for k in ("R", "phi", "absz"))
    feh_obs = np.asarray(sample["feh_used"], dtype=float)
    versions = {
        "measured": (R, phi, absz, feh_obs),
        "true_feh@meas": (R, phi, absz, t["feh_true"]),
        "model@meas": (R, phi, absz, t["feh_model"]),
        "model@true": (t["R"], t["phi"], t["absz"], t["feh_model"]),
    }
    delta = {k: deviations(v[0], v[2], v[3], zmax, h, n_threads) for k, v in versions.items()}
    profiles = {
        k: azimuthal_profiles(
            v[0][v[2] < zmax],
            v[1][v[2] < zmax],
            delta[k][v[2] < zmax],
            rings=rings,
            bins=bins,
            min_count=a["min_count"],
        )
        for k, v in versions.items()
    }
    # each star's own truth: its model minus the truth's annulus mean at its
    # true R (annulus of the true |Z| < zmax final stars)
    from fastgrad.azimuthal import annulus_mean

    plane_t = t["absz"] < zmax
    Rt, mt = t["R"][plane_t], t["feh_model"][plane_t]
    # on a grid of R (weight-0 points: they do not enter any mean)
    grid = np.linspace(5.0, 14.0, 901)
    w = np.concatenate([np.ones(Rt.size), np.zeros(grid.size)])
    am = annulus_mean(
        np.concatenate([Rt, grid]), np.concatenate([mt, np.zeros(grid.size)]), h, weights=w
    )[Rt.size :]
    own_truth = t["feh_model"] - np.interp(t["R"], grid, am)

    d_nom = np.asarray(sample["r_med_geo"], dtype=float) / 1e3
    sig_d = (np.asarray(sample["r_hi_geo"]) - np.asarray(sample["r_lo_geo"])) / 2e3
    res = {
        "g_max": g_max,
        "d_max_override": d_max,
        "n_stars": n_stars,
        "seed": seed,
        "n_final": int(len(sample)),
        "seconds_generate": round(t_gen, 1),
        "seconds_pipeline": round(t_run, 1),
        "d_max_true_kpc": tru["d_max"],
        "max_true_distance_final_kpc": float(t["distance"].max()),
        "rings": {},
    }
    plane = absz < zmax
    for lo, hi in rings:
        ring = plane & (R >= lo) & (R < hi)
        end = ring & (np.abs(phi) > phi_end)
        ring_t = (t["absz"] < zmax) & (t["R"] >= lo) & (t["R"] < hi)
        end_t = ring_t & (np.abs(t["phi"]) > phi_end)
        # the outermost 5 % of the ring's stars in |phi| (measured): the ends
        # of whatever arc a magnitude limit reaches
        q = np.quantile(np.abs(phi[ring]), 0.95) if ring.any() else np.nan
        edge = ring & (np.abs(phi) > q)
        r = {
            "n_ring": int(ring.sum()),
            "phi_range_meas": [float(phi[ring].min()), float(phi[ring].max())],
            "phi_range_true": [float(t["phi"][ring_t].min()), float(t["phi"][ring_t].max())],
            "n_end_meas": int(end.sum()),
            "n_end_true": int(end_t.sum()),
            "phi_q95": float(q),
        }
        shoulder = ring & (np.abs(phi) > phi_shoulder)
        for name, sel in (("end", end), ("shoulder", shoulder), ("edge", edge)):
            s = {k: mean_se(delta[k][sel]) for k in versions if k != "model@true"}
            # the injected truth where the truth has stars: true |Z|, R, phi
            cut = {"end": phi_end, "shoulder": phi_shoulder, "edge": q}[name]
            sel_t = ring_t & (np.abs(t["phi"]) > cut)
            s["model@true (true coords)"] = mean_se(delta["model@true"][sel_t])
            s["model@true, same stars"] = mean_se(own_truth[sel])
            s["measured - own truth"] = mean_se(delta["measured"][sel] - own_truth[sel])
            s["true_feh@meas - own truth"] = mean_se(delta["true_feh@meas"][sel] - own_truth[sel])
            if sel.sum() >= 2:
                dR = R[sel] - t["R"][sel]
                s["R_meas - R_true median, mean, frac > 0"] = [
                    float(np.median(dR)),
                    float(dR.mean()),
                    float((dR > 0).mean()),
                ]
                s["R_true median"] = float(np.median(t["R"][sel]))
                s["d_meas median"] = float(np.median(d_nom[sel]))
                s["d_true median, max"] = [
                    float(np.median(t["distance"][sel])),
                    float(t["distance"][sel].max()),
                ]
                s["sigma_d/d median"] = float(np.median(sig_d[sel] / d_nom[sel]))
                s["parallax_error/parallax median"] = float(
                    np.median(1.0 / np.asarray(sample["parallax_over_error"])[sel])
                )
                s["d_meas/d_true - 1 median"] = float(
                    np.median(d_nom[sel] / t["distance"][sel] - 1)
                )
                s["frac with |phi_true| > phi_end"] = float(
                    (np.abs(t["phi"][sel]) > phi_end).mean()
                )
            r[name] = s
        r["profiles"] = {}
        for k, prof in profiles.items():
            p = prof[(lo, hi)]
            good = ~np.asarray(p["mean"].mask)
            r["profiles"][k] = {
                "phi_center": np.round(np.asarray(p["phi_center"])[good], 4).tolist(),
                "mean": np.round(np.asarray(p["mean"].filled(np.nan))[good], 4).tolist(),
                "sem": np.round(np.asarray(p["sem"].filled(np.nan))[good], 4).tolist(),
                "n": np.asarray(p["n"])[good].tolist(),
            }
        res["rings"][f"{lo:g}-{hi:g}"] = r
    return res


def _fmt(ms):
    m, se, n = ms
    if not np.isfinite(m):
        return f"{'(none)':>17} n={n}"
    return f"{m:+.3f} +- {se:.3f} n={n}"


def coarse_profile(p, width=0.2):
    """A profile regrouped into ``width``-rad bins (n-weighted) for printing."""
    c, m, n = (np.asarray(p[k], dtype=float) for k in ("phi_center", "mean", "n"))
    if c.size == 0:
        return {}
    idx = np.floor(c / width).astype(int)
    out = {}
    for i in np.unique(idx):
        s = idx == i
        out[round((i + 0.5) * width, 2)] = float(np.sum(m[s] * n[s]) / np.sum(n[s]))
    return out


def report(res, phi_end, phi_shoulder):
    dmax = res["d_max_true_kpc"]
    print(
        f"\n=== G < {res['g_max']:g}, true distances < {dmax:g} kpc: {res['n_stars']:,} stars, "
        f"seed {res['seed']}, {res['n_final']:,} final (generation {res['seconds_generate']} s, "
        f"per-star steps {res['seconds_pipeline']} s) ==="
    )
    cols = (
        ("measured", "measured"),
        ("true_feh@meas", "trueFeH@meas"),
        ("model@meas", "model@meas"),
        ("model@true (true coords)", "model@true"),
        ("model@true, same stars", "own truth"),
        ("measured - own truth", "meas-own truth"),
    )
    print(
        "mean deviation from the annulus mean (dex) +- s.e.; 'model@true': the injected "
        "truth's stars in that phi range (true coordinates); 'own truth': the same stars' "
        "noise-free model minus the truth's annulus mean at their true R"
    )
    print(f"{'ring':>6s} {'|phi_meas| >':>12s} {'n':>6s}" + "".join(f"{c[1]:>21s}" for c in cols))
    for ring, r in res["rings"].items():
        for name in ("end", "shoulder", "edge"):
            s = r[name]
            cut = {"end": phi_end, "shoulder": phi_shoulder, "edge": r["phi_q95"]}[name]
            tag = f"{cut:.2f}" + ("*" if name == "edge" else "")
            line = f"{ring:>6s} {tag:>12s} {s['measured'][2]:6d}"
            for key, _ in cols:
                m, se, n = s[key]
                cell = f"{m:+.3f}+-{se:.3f}" if np.isfinite(m) else "-"
                if key.startswith("model@true (") and np.isfinite(m):
                    cell += f"[{n}]"
                line += f"{cell:>21s}"
            print(line)
    print("(* the ring's outermost 5 % of stars in |phi_meas|; [n]: truth stars in that range)")
    print(
        "\nwhere those stars really are (measured minus true), their distance errors; "
        "phi range of the ring's stars, measured / true:"
    )
    print(
        f"{'ring':>6s} {'|phi_meas| >':>12s} {'R_m-R_t med':>12s} {'frac R_t<R_m':>12s} "
        f"{'R_true med':>10s} {'d_meas med':>10s} {'d_true med':>10s} {'d_true max':>10s} "
        f"{'d_m/d_t-1 med':>13s} {'sig_d/d med':>11s} {'sig_plx/plx':>11s}"
    )
    for ring, r in res["rings"].items():
        for name in ("end", "shoulder", "edge"):
            s = r[name]
            if "R_true median" not in s:
                print(f"{ring:>6s} {name:>12s}   (no stars)")
                continue
            cut = {"end": phi_end, "shoulder": phi_shoulder, "edge": r["phi_q95"]}[name]
            dr = s["R_meas - R_true median, mean, frac > 0"]
            print(
                f"{ring:>6s} {cut:12.2f} {dr[0]:+12.2f} {dr[2]:12.3f} {s['R_true median']:10.2f} "
                f"{s['d_meas median']:10.2f} {s['d_true median, max'][0]:10.2f} "
                f"{s['d_true median, max'][1]:10.2f} {s['d_meas/d_true - 1 median']:+13.3f} "
                f"{s['sigma_d/d median']:11.3f} {s['parallax_error/parallax median']:11.3f}"
            )
    for ring, r in res["rings"].items():
        print(
            f"  ring {ring}: {r['n_ring']:,} stars at |Z| < 0.3; phi measured "
            f"{r['phi_range_meas'][0]:+.2f}..{r['phi_range_meas'][1]:+.2f} rad, true (stars truly "
            f"in the ring) {r['phi_range_true'][0]:+.2f}..{r['phi_range_true'][1]:+.2f}"
        )
    for ring, r in res["rings"].items():
        print(f"\nprofile, ring {ring} kpc, in 0.2-rad groups (n-weighted 2-degree bins), dex:")
        cp = {k: coarse_profile(v) for k, v in r["profiles"].items()}
        centres = sorted(set().union(*[set(c) for c in cp.values()]))
        print("   phi " + "".join(f"{k:>15s}" for k in cp))
        for c in centres:
            print(
                f" {c:+5.2f} "
                + "".join(f"{cp[k][c]:+15.3f}" if c in cp[k] else f"{'':>15s}" for k in cp)
            )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-stars", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=20231)
    p.add_argument(
        "--cases",
        nargs="+",
        default=["16.2", "12.5", "16.2:16"],
        help="magnitude limits G_MAX or G_MAX:D_MAX (true distances < D_MAX kpc; default 8)",
    )
    p.add_argument("--phi-end", type=float, default=1.2, help="ring ends: |phi| above (rad)")
    p.add_argument("--phi-shoulder", type=float, default=0.9, help="a wider end: |phi| above")
    p.add_argument("--n-threads", type=int, default=1)
    p.add_argument("--workdir", default=None, help="catalogue folder (default: a temporary one)")
    p.add_argument("--json", default=None, help="also write the numbers here")
    args = p.parse_args(argv)
    from fastgrad.mock.xp import BLOCK_SIZE

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or tmp
        for case in args.cases:
            g, _, d = case.partition(":")
            res = analyse(
                args.n_stars,
                args.seed,
                float(g),
                float(d) if d else None,
                args.phi_end,
                args.phi_shoulder,
                args.n_threads,
                BLOCK_SIZE,
                workdir,
            )
            report(res, args.phi_end, args.phi_shoulder)
            results.append(res)
            sys.stdout.flush()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
