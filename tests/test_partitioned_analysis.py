"""The analysis after the per-star steps from a Dask DataFrame
(fastgrad.pipeline.partitioned_analysis) against the local one
(fastgrad.pipeline.run.azimuthal_analysis) on the same final sample in
source_id order, and the hexbin aggregates against matplotlib's hexbin."""

import warnings

import matplotlib
import numpy as np
import pytest

from fastgrad.hexbins import HexGrid, hex_counts, hex_medians
from fastgrad.pipeline import partitioned_analysis as pa
from fastgrad.pipeline.config import load_config
from fastgrad.pipeline.progress import Progress
from fastgrad.pipeline.run import azimuthal_analysis, prepare_sample, sample_config

matplotlib.use("Agg")
dd = pytest.importorskip("dask.dataframe")

SETTINGS = {
    "synthetic": {"seed": 11, "n_giants": 12_000},
    "monte_carlo": {"n_samples": 16, "seed": 2},
    "fit": {"n_walkers": 8, "n_steps": 150, "burn": 50, "min_stars": 200},
    "azimuthal": {"phi_bin_deg": 6.0, "min_count": 5, "n_permutations": 49},
}


@pytest.fixture(scope="module")
def both():
    """The local analysis of the final sample sorted by source_id, and the
    partitioned one of the same rows shuffled over 5 partitions."""
    import dask

    cfg = load_config(SETTINGS)
    with Progress(False) as progress:
        sample, _, truth = prepare_sample(cfg, "giants", progress, n_threads=1)
    sample = sample[np.argsort(np.asarray(sample["source_id"]), kind="stable")]
    scfg = sample_config(cfg, "giants")
    cols = ["source_id", "x", "y", "z", "R", "phi", "absz", "R_err", "z_err"]
    cols += ["feh_used", "feh_used_err", "p_thin", "p_thick", "p_halo"]
    df = sample[cols].to_pandas()
    shuffled = df.sample(frac=1.0, random_state=3).reset_index(drop=True)
    frame = dd.from_pandas(shuffled, npartitions=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # AutocorrWarning: short chains
        local = azimuthal_analysis(sample, scfg, n_threads=1)
        with dask.config.set(scheduler="synchronous"):
            part = pa.azimuthal_analysis_partitioned(
                frame, scfg, n_threads=1, truth=truth, kinematics="K"
            )
    return sample, scfg, truth, local, part


def test_fit_is_identical(both):
    _, _, _, local, part = both
    assert len(part["selection"]) == len(local["selection"])
    for k in ("slope", "slope_err", "intercept", "intercept_err", "scatter", "scatter_err"):
        assert getattr(part["fit"], k) == getattr(local["fit"], k)
    np.testing.assert_array_equal(part["fit"].samples, local["fit"].samples)


def test_residual_map_is_identical(both):
    _, _, _, local, part = both
    a, b = local["residual_map"], part["residual_map"]
    np.testing.assert_array_equal(a.x_edges, b.x_edges)
    np.testing.assert_array_equal(a.y_edges, b.y_edges)
    np.testing.assert_array_equal(a.count, b.count)
    for k in ("observed", "predicted", "residual", "mean_residual", "p_value", "p_adjusted"):
        x, y = getattr(a, k), getattr(b, k)
        np.testing.assert_array_equal(np.ma.getmaskarray(x), np.ma.getmaskarray(y))
        np.testing.assert_array_equal(np.ma.filled(x, 0.0), np.ma.filled(y, 0.0))
    assert a.significance == b.significance
    assert a.significance["n_cells"] > 10


def test_deviations_profiles_and_significance(both):
    """The deviations come from fastgrad.annulus_mean on the selection in the
    local engine's order: profiles, counts, statistics and p-values are the
    local ones bit for bit."""
    _, _, _, local, part = both
    assert list(local["profiles"]) == list(part["profiles"])
    for ring, t in local["profiles"].items():
        u = part["profiles"][ring]
        assert t.meta == u.meta
        np.testing.assert_array_equal(t["n"], u["n"])
        for c in ("mean", "sem"):
            np.testing.assert_array_equal(t[c].mask, u[c].mask)
            np.testing.assert_array_equal(np.ma.filled(u[c], 0.0), np.ma.filled(t[c], 0.0))
        s, r = local["significance"][ring], part["significance"][ring]
        assert s.keys() == r.keys()
        for k in s:
            np.testing.assert_equal(r[k], s[k], err_msg=k)
        assert s["n_bins"] >= 2


def test_matched_filter_and_populations(both):
    from fastgrad.pipeline.report import _populations_check
    from fastgrad.validation import recover_amplitude

    sample, scfg, truth, local, part = both
    if truth.get("azimuthal_amplitude"):
        ref = recover_amplitude(
            local["selection"], local["delta"], truth, half_width=scfg["azimuthal"]["half_width"]
        )
        for k, v in ref.items():
            np.testing.assert_equal(part["recovery"][k], v, err_msg=k)
    agg = part["sample"]
    assert agg.n_stars == len(sample)
    assert (
        agg.populations["share_p_thin_gt_0.9"] == _populations_check(sample)["share_p_thin_gt_0.9"]
    )


def _hexbin_array(x, y, C=None, **kw):
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    return ax.hexbin(x, y, C=C, **kw)


def test_figure_aggregates_are_hexbins(both):
    """Figures 1-3, 5: the partitions' aggregates drawn at the hex centres
    give matplotlib's hexbin of the stars: same hexes, same values."""
    from fastgrad.hexbins import HexImage

    sample, scfg, _, local, part = both
    agg = part["sample"]
    x, y, z, R = (np.asarray(sample[c]) for c in ("x", "y", "z", "R"))
    feh = np.asarray(sample["feh_used"])
    mc = scfg["azimuthal"]["map_min_count"]
    checks = [
        (agg.fig1[0], (x, y), None, dict(bins="log", mincnt=1)),
        (agg.fig1[1], (R, z), None, dict(bins="log", mincnt=1)),
        (agg.fig2[0], (x, y), feh, dict(reduce_C_function=np.median, mincnt=mc)),
        (agg.fig2[1], (R, z), feh, dict(reduce_C_function=np.median, mincnt=mc)),
    ]
    e = scfg["fit"]["z_edges"]
    first = (np.asarray(sample["absz"]) >= e[0]) & (np.asarray(sample["absz"]) < e[1])
    checks.append((agg.fig3, (R[first], feh[first]), None, dict(bins="log", mincnt=1)))
    s = local["selection"]
    hexes = part["selection"].hexes
    for img, v in ((hexes.observed, s["feh_used"]), (hexes.predicted, local["predicted"])):
        checks.append(
            (
                img,
                (np.asarray(s["x"]), np.asarray(s["y"])),
                np.asarray(v),
                dict(reduce_C_function=np.median, mincnt=mc),
            )
        )
    for img, (a, b), C, kw in checks:
        assert isinstance(img, HexImage)
        ref = _hexbin_array(a, b, C, gridsize=img.grid.gridsize, extent=img.grid.extent, **kw)
        cx, cy, vals = img.drawn()
        got = _hexbin_array(
            cx,
            cy,
            vals,
            reduce_C_function=np.sum,
            mincnt=1,
            gridsize=img.grid.gridsize,
            extent=img.grid.extent,
        )
        np.testing.assert_array_equal(ref.get_offsets(), got.get_offsets())
        np.testing.assert_array_equal(ref.get_array(), got.get_array())
        assert ref.get_array().size > 20
    assert agg.fig2_clim == tuple(np.nanpercentile(feh, [5, 95]))


@pytest.mark.parametrize("gridsize", [7, (9, 4), 30])
def test_hex_grid_is_matplotlibs(gridsize):
    rng = np.random.default_rng(4)
    x, y = rng.normal(0.0, 1.0, 5000), rng.normal(0.0, 2.0, 5000)
    v = rng.normal(size=5000)
    grid = HexGrid(gridsize, (-2.0, 2.5, -3.0, 3.0))  # stars outside too
    idx = grid.index(x, y)
    ref = _hexbin_array(x, y, None, gridsize=gridsize, extent=grid.extent)
    full = hex_counts(idx, grid.n_hexes, min_count=0)
    ok = full > 0
    drawn = ref.get_array()
    np.testing.assert_array_equal(drawn, full[ok] if drawn.size == ok.sum() else full)
    ref = _hexbin_array(
        x, y, v, gridsize=gridsize, extent=grid.extent, reduce_C_function=np.median, mincnt=3
    )
    med = hex_medians(idx, v, grid.n_hexes, min_count=3)
    np.testing.assert_array_equal(ref.get_array(), med[np.isfinite(med)])
    cx, cy = grid.centres()
    np.testing.assert_array_equal(ref.get_offsets(), np.column_stack([cx, cy])[np.isfinite(med)])


def test_report_figures_and_summary_from_aggregates(both):
    """report._figures and report.summary with the partitioned analysis (no
    catalogue) draw the same hexes with the same values and write the same
    summary numbers as with the local one."""
    from astropy.table import Table
    from matplotlib.collections import PolyCollection

    from fastgrad.frames import get_frame
    from fastgrad.pipeline import report
    from fastgrad.pipeline.run import RunResult

    sample, scfg, truth, local, part = both
    cfg = {**scfg, "run": ["giants"]}
    frame = get_frame(cfg["frame"])
    table = Table(
        {
            "bin_lo": [0.0],
            "bin_hi": [0.2],
            "bin_center": [0.1],
            "n_stars": [900],
            "slope": [-0.05],
            "slope_err": [0.01],
        }
    )

    def results(az, samples):
        return RunResult(
            samples=samples,
            tables={"giants": {"table1": table, "table2": table}},
            fits={"giants": local["fit"]},
            azimuthal={"giants": az},
            failed={},
            config=cfg,
        )

    ref = results(local, {"giants": sample})
    new = results(part, {"giants": None})  # nothing per star
    figs_ref = dict(report._figures(ref, cfg, frame))
    figs_new = dict(report._figures(new, cfg, frame))
    assert sorted(figs_ref) == sorted(figs_new) == [1, 2, 3, 4, 5, 6, 7]
    for i in (1, 2, 3, 5):
        a = [c for ax in figs_ref[i].axes for c in ax.collections if isinstance(c, PolyCollection)]
        b = [c for ax in figs_new[i].axes for c in ax.collections if isinstance(c, PolyCollection)]
        assert len(a) == len(b) >= 1, i
        for ca, cb in zip(a, b):
            np.testing.assert_array_equal(ca.get_offsets(), cb.get_offsets())
            np.testing.assert_array_equal(ca.get_array(), cb.get_array())
            assert ca.get_clim() == cb.get_clim()
        assert [ax.get_title() for ax in figs_ref[i].axes] == [
            ax.get_title() for ax in figs_new[i].axes
        ]
    with Progress(False) as progress:
        s_ref = report.summary(ref, cfg, {"giants": truth}, frame, progress)["samples"]["giants"]
        s_new = report.summary(new, cfg, {"giants": truth}, frame, progress)["samples"]["giants"]
    s_ref["populations"]["kinematics"] = "K"
    for k in ("n_final", "map_fit", "populations", "residual_map", "azimuthal"):
        assert s_new[k] == s_ref[k], k
    assert s_new["azimuthal_recovery"].keys() == s_ref["azimuthal_recovery"].keys()


def test_client_holds_50_bytes_a_selected_star(both):
    """What the client gets per |Z| < zmax star (the module docstring's
    budget): source_id, R, feh_used and the two errors (8 bytes each), the
    map cell and Figure 5's hex (int32) and the azimuth bin (int16); the
    other stars send nothing but per-hex sums."""
    import pandas as pd

    from fastgrad.azimuthal import map_edges

    sample, scfg, *_ = both
    df = sample["source_id", "x", "y", "R", "phi", "absz", "R_err", "feh_used", "feh_used_err"]
    df = df.to_pandas()
    a = scfg["azimuthal"]
    x_edges, y_edges = map_edges((-12.0, -4.0, -4.0, 4.0), 50)
    cols = pa._selection_columns(
        df,
        zmax=a["zmax"],
        x_edges=x_edges,
        y_edges=y_edges,
        hex_grid=HexGrid(50, (-12.0, -4.0, -4.0, 4.0)),
        phi_edges=np.linspace(-np.pi, np.pi, 61),
        truth=None,
        feh="feh_used",
    )
    assert isinstance(cols, pd.DataFrame) and 0 < len(cols) < len(df)
    assert cols.memory_usage(index=False).sum() / len(cols) == 50
