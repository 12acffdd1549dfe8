"""End to end: `fastgrad run` on small synthetic catalogues, every output checked."""

import json

import numpy as np
import pytest
from astropy.table import Table

from fastgrad import pipeline
from fastgrad.cli import main

SMALL = {
    "synthetic": {"seed": 7, "n_lamost": 40_000, "n_giants": 40_000},
    "monte_carlo": {"n_samples": 64, "seed": 3},
    "fit": {"n_walkers": 12, "n_steps": 300, "min_stars": 300},
    "azimuthal": {"phi_bin_deg": 6.0, "min_count": 10},
}


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "results"
    res = pipeline.run(SMALL, out=out, verbose=False)
    return res, out


def test_every_output_is_written(small_run):
    res, out = small_run
    names = {p.name for p in out.iterdir()}
    assert {
        "table1.ecsv",
        "table2.ecsv",
        "table1_giants.ecsv",
        "table2_giants.ecsv",
        "azimuthal_profile.ecsv",
        "azimuthal_profile_giants.ecsv",
        "cuts.ecsv",
        "summary.json",
        "report.md",
        "figures",
    } <= names
    figs = sorted(p.name for p in (out / "figures").iterdir())
    assert figs == [f"fig{i}.png" for i in range(1, 9)]
    for p in (out / "figures").iterdir():
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000
    # no temporary directories left beside the output
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]


def test_tables_have_the_paper_layout(small_run):
    _, out = small_run
    t1 = Table.read(out / "table1.ecsv")
    for col in (
        "bin_lo",
        "bin_hi",
        "bin_center",
        "n_stars",
        "slope",
        "slope_err",
        "intercept",
        "intercept_err",
        "scatter",
        "scatter_err",
    ):
        assert col in t1.colnames
    np.testing.assert_allclose(t1["bin_center"], [0.1, 0.3, 0.5, 0.7, 0.9, 1.1, 1.3])
    t2 = Table.read(out / "table2.ecsv")
    np.testing.assert_allclose(t2["bin_center"], [7.5, 8.5, 9.5, 10.5, 11.5, 12.5, 13.5])
    assert t1.meta["frame"]["preset"] == "hawkins2023"
    from astropy.coordinates import Galactocentric

    gc = t1.meta["galactocentric"]  # the frame object, back from the ECSV's YAML
    assert isinstance(gc, Galactocentric) and gc.galcen_distance.to_value("kpc") == 8.27
    # the densest bin is fitted and near the injected gradient
    assert not np.ma.is_masked(t1["slope"][0])
    cuts = Table.read(out / "cuts.ecsv")
    assert set(cuts["sample"]) == {"lamost", "giants"}
    # each step starts from what the previous one left
    for s in ("lamost", "giants"):
        c = cuts[cuts["sample"] == s]
        np.testing.assert_array_equal(c["n_before"][1:], c["n_after"][:-1])
        assert np.all(c["n_removed"] == c["n_before"] - c["n_after"])
    prof = Table.read(out / "azimuthal_profile.ecsv")
    assert {"ring_kpc", "phi_lo", "phi_hi", "phi_center", "n", "mean", "sem"} <= set(prof.colnames)


def test_summary_has_fits_truth_and_pulls(small_run):
    res, out = small_run
    s = json.loads((out / "summary.json").read_text())
    assert s["frame"]["galcen_distance_kpc"] == 8.27
    lam = s["samples"]["lamost"]
    assert len(lam["table1"]) == 7 and len(lam["table2"]) == 7
    pulls = lam["pulls"]["table1"]
    assert pulls, "synthetic input carries its truth"
    # the injected radial gradients come back within 4 sigma
    assert all(abs(p["pull"]) < 4 for p in pulls), pulls
    giants = s["samples"]["giants"]
    assert "azimuthal_recovery" in giants
    # every ring has its permutation test (fastgrad.significance)
    for sample in ("lamost", "giants"):
        for ring in ("7-9 kpc", "9-11 kpc"):
            a = s["samples"][sample]["azimuthal"][ring]
            assert 0 < a["p_value"] <= 1 and a["n_permutations"] == 1000
        # and the residual map its per-cell test
        m = s["samples"][sample]["residual_map"]
        assert m["n_cells"] > 0 and m["n_permutations"] == 1000 and m["alpha"] == 0.05
        assert 0 <= m["n_significant"] <= m["n_cells"] and 0 < m["p_value_global"] <= 1
    assert "azimuthal structure (p" in (out / "report.md").read_text()
    assert "cells have a mean residual significant" in (out / "report.md").read_text()
    report = (out / "report.md").read_text()
    assert "Table 1" in report and "fig8.png" in report and "pull" in report


def test_summary_and_report_give_the_paper_population_check(small_run):
    """summary.json samples.<name>.populations: the share of the final sample
    with P_thin > 0.9 (the paper: > 95 % for LAMOST), counted here again from
    the final catalogue; one report.md line per sample says it."""
    res, out = small_run
    s = json.loads((out / "summary.json").read_text())
    report = (out / "report.md").read_text()
    for name, sample in res.samples.items():
        pop = s["samples"][name]["populations"]
        share = np.count_nonzero(np.asarray(sample["p_thin"]) > 0.9) / len(sample)
        assert pop["share_p_thin_gt_0.9"] == pytest.approx(share, rel=1e-12)
        assert pop["kinematics"] == "local"
        assert f"- {name}: {100 * share:.1f} % of the final sample has P_thin > 0.9" in report
    assert s["samples"]["lamost"]["populations"]["share_p_thin_gt_0.9"] > 0.9


def test_missing_input_file_is_one_clear_error(tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        'run = ["giants"]\n[samples.giants.inputs]\ngaia = "nope.fits"\n'
        'distances = "nope_bj.fits"\n'
    )
    out = tmp_path / "out"
    rc = main(["run", str(cfg), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "nope" in err[0]
    assert not out.exists()


def test_a_dead_worker_is_exit_code_5(tmp_path, capsys, monkeypatch):
    """fastgrad run when a worker process died (fastgrad.errors.WorkerError):
    one line, exit code 5, nothing written."""
    from fastgrad.errors import WorkerError

    def died(*args, **kwargs):
        raise WorkerError("a worker process of the fits died (killed by SIGKILL: ...)")

    monkeypatch.setattr(pipeline, "run", died)
    out = tmp_path / "out"
    rc = main(["run", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 5 and err == [
        "fastgrad: error: a worker process of the fits died (killed by SIGKILL: ...)"
    ]
    assert not out.exists()


def test_unknown_config_key(tmp_path):
    with pytest.raises(ValueError, match="unknown configuration key 'fit.n_step'"):
        pipeline.load_config({"fit": {"n_step": 5}})


def test_dask_engine_gives_the_same_numbers(tmp_path):
    """engine = "dask": the same per-star steps mapped over the partitions of a
    LocalCluster, bit-identical per star (streams keyed by source_id), hence
    identical tables, for both samples."""
    pytest.importorskip("distributed")
    cfg = {
        **SMALL,
        "synthetic": {"seed": 11, "n_lamost": 15_000, "n_giants": 15_000},
        "fit": {"n_walkers": 8, "n_steps": 120, "min_stars": 300},
    }
    local = pipeline.run(cfg, out=tmp_path / "local", verbose=False, figures=False)
    dist = pipeline.run(
        {**cfg, "engine": "dask", "dask": {"n_workers": 2, "partitions": 5}},
        out=tmp_path / "dask",
        verbose=False,
        figures=False,
    )
    for sample in ("lamost", "giants"):
        a, b = local.samples[sample], dist.samples[sample]
        assert len(a) == len(b)
        assert a.colnames == b.colnames
        for name in ("x", "R_err", "phi_err", "vz_err", "U", "p_halo"):
            np.testing.assert_array_equal(
                np.asarray(a[name]), np.asarray(b[name]), err_msg=f"{sample}: {name}"
            )
            assert a[name].unit == b[name].unit, name
        for key in ("table1", "table2"):
            ta, tb = local.tables[sample][key], dist.tables[sample][key]
            np.testing.assert_array_equal(
                np.ma.filled(ta["slope"], np.nan), np.ma.filled(tb["slope"], np.nan)
            )
        np.testing.assert_array_equal(
            local.azimuthal[sample]["delta"], dist.azimuthal[sample]["delta"]
        )


def test_real_files_run_the_same_code(tmp_path):
    """Catalogues written to disk (ECSV, Parquet, FITS) and named in a TOML
    config give the same tables as the same catalogues generated in memory."""
    from fastgrad import make_survey

    n = 15_000
    lam = make_survey("lamost_hot_stars", n, seed=21)
    paths = {
        "lamost": tmp_path / "lamost.ecsv",
        "lamost_gaia": tmp_path / "gaia.parquet",
        "lamost_bailer_jones": tmp_path / "bj.fits",
    }
    lam["lamost"].write(paths["lamost"])
    lam["gaia"].write(paths["lamost_gaia"])
    bj = lam["bailer_jones"].copy()
    bj.meta.clear()  # FITS headers cannot hold the nested truth dict
    bj.write(paths["lamost_bailer_jones"])
    cfg = tmp_path / "run.toml"
    inputs = {"lamost": "spectra", "lamost_gaia": "gaia", "lamost_bailer_jones": "distances"}
    cfg.write_text(
        'run = ["lamost"]\n[samples.lamost.inputs]\n'
        + "".join(f'{inputs[k]} = "{p.name}"\n' for k, p in paths.items())
        + "[monte_carlo]\nn_samples = 32\n[fit]\nn_walkers = 8\nn_steps = 100\n"
        "min_stars = 300\n"
    )
    from_files = pipeline.run(cfg, out=tmp_path / "files", verbose=False, figures=False)
    in_memory = pipeline.run(
        {
            "run": ["lamost"],
            "synthetic": {"seed": 21, "n_lamost": n},
            "monte_carlo": {"n_samples": 32},
            "fit": {"n_walkers": 8, "n_steps": 100, "min_stars": 300},
        },
        out=tmp_path / "memory",
        verbose=False,
        figures=False,
    )
    a, b = from_files.tables["lamost"]["table1"], in_memory.tables["lamost"]["table1"]
    np.testing.assert_array_equal(np.asarray(a["n_stars"]), np.asarray(b["n_stars"]))
    np.testing.assert_allclose(
        np.ma.filled(a["slope"], np.nan),
        np.ma.filled(b["slope"], np.nan),
        rtol=1e-12,
        equal_nan=True,
    )
    cuts = Table.read(tmp_path / "files" / "cuts.ecsv")
    assert cuts["n_before"][0] == n


def test_missing_column_is_one_clear_line(tmp_path, capsys):
    from fastgrad import make_survey

    s = make_survey("lamost_hot_stars", 3000, seed=1)
    lam = s["lamost"]
    lam.remove_column("snr")
    lam.write(tmp_path / "lamost.ecsv")
    s["gaia"].write(tmp_path / "gaia.ecsv")
    s["bailer_jones"].write(tmp_path / "bj.ecsv")
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        'run = ["lamost"]\n[samples.lamost.inputs]\nspectra = "lamost.ecsv"\n'
        'gaia = "gaia.ecsv"\ndistances = "bj.ecsv"\n'
    )
    rc = main(["run", str(cfg), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 3 and len(err) == 1  # input data (fastgrad.errors: exit codes)
    assert "'snr'" in err[0] and "snr_min" in err[0] and "lamost.ecsv" in err[0]
    # the sample failed: its cut report up to the cut is written, no table
    assert (tmp_path / "out" / "cuts.ecsv").exists()
    assert not (tmp_path / "out" / "table1.ecsv").exists()


def test_mock_truth_from_the_config_runs_a_null_test(tmp_path):
    """[synthetic.truth.giants.azimuthal] kind = "none": the giants carry no
    arms, so nothing is recovered and the rings are not significant."""
    cfg = tmp_path / "null.toml"
    cfg.write_text(
        'run = ["giants"]\n[synthetic]\nseed = 5\nn_giants = 8000\n'
        '[synthetic.truth.giants.azimuthal]\nkind = "none"\n'
        "[monte_carlo]\nn_samples = 16\n[fit]\nn_walkers = 6\nn_steps = 20\n"
        "min_stars = 200\n[azimuthal]\nmin_count = 5\nn_permutations = 199\n"
    )
    res = pipeline.run(cfg, out=tmp_path / "out", verbose=False, figures=False)
    entry = res.summary["samples"]["giants"]
    assert entry["truth"]["azimuthal"]["kind"] == "none"
    assert "azimuthal_recovery" not in entry
    assert not any(a["significant"] for a in entry["azimuthal"].values())
