"""Samples as data (fastgrad.samples, [samples.NAME] in a run's TOML): presets,
overrides, cut switches, failures that keep the other samples' results."""

import json

import numpy as np
import pytest
from astropy.table import Table

from fastgrad import make_survey, pipeline
from fastgrad.cli import main
from fastgrad.errors import ConfigError, InputError
from fastgrad.pipeline import SampleFailure
from fastgrad.samples import PRESETS, metallicity_error_recipe, resolve_sample

#: a run of a second or two per sample
FAST = {
    "monte_carlo": {"n_samples": 16},
    "fit": {"n_walkers": 6, "n_steps": 30, "min_stars": 100},
    "azimuthal": {"min_count": 5, "n_permutations": 19},
}


def _write_lamost(tmp_path, n=3000, seed=1, drop=()):
    s = make_survey("lamost_hot_stars", n, seed=seed)
    lam = s["lamost"]
    for c in drop:
        lam.remove_column(c)
    paths = {
        "spectra": tmp_path / "lamost.ecsv",
        "gaia": tmp_path / "gaia.ecsv",
        "distances": tmp_path / "bj.ecsv",
    }
    lam.write(paths["spectra"])
    s["gaia"].write(paths["gaia"])
    s["bailer_jones"].write(paths["distances"])
    return paths


def _toml(name, paths, extra=""):
    return f'[samples.{name}]\npreset = "hotpayne"\n{extra}[samples.{name}.inputs]\n' + "".join(
        f'{k} = "{p.name}"\n' for k, p in paths.items()
    )


def _fast_toml():
    return (
        "[monte_carlo]\nn_samples = 16\n[fit]\nn_walkers = 6\nn_steps = 30\n"
        "min_stars = 100\n[azimuthal]\nmin_count = 5\nn_permutations = 19\n"
    )


def test_presets_are_complete_specs():
    assert {"hotpayne", "gspspec_giants", "apogee_dr17", "galah_dr3", "xp_giants"} <= set(PRESETS)
    for name, spec in PRESETS.items():
        assert spec.name == name and spec.inputs and spec.description
        metallicity_error_recipe(spec.metallicity_error)  # parses
    assert PRESETS["hotpayne"].mock == "lamost_hot_stars"
    assert PRESETS["gspspec_giants"].primary == "gaia"


def test_metallicity_error_recipes():
    assert metallicity_error_recipe("feh_err") == ("column", ("feh_err",))
    assert metallicity_error_recipe("half_interval:lo, hi") == ("half_interval", ("lo", "hi"))
    assert metallicity_error_recipe("0.1") == ("constant", (0.1,))
    assert metallicity_error_recipe(0.05) == ("constant", (0.05,))
    for bad in ("-0.1", 0, "half_interval:a", "", None, True):
        with pytest.raises(ValueError):
            metallicity_error_recipe(bad)


def test_a_preset_with_overrides():
    spec, inputs, columns, (off, thr) = resolve_sample(
        "mine",
        {
            "preset": "hotpayne",
            "inputs": {"spectra": "a.fits"},
            "columns": {"spectra": {"SpecID": "spec_id"}},
            "cuts": {"teff_min": False, "snr_min": 20, "logg_range": {"logg_min": 1.5}},
            "fit": {"n_steps": 50},
            "distance": "parallax",
        },
    )
    assert spec.name == "hotpayne" and spec.distance == "parallax" and spec.fit == {"n_steps": 50}
    assert inputs == {"spectra": "a.fits", "gaia": None, "distances": None}
    assert columns == {"spectra": {"SpecID": "spec_id"}}
    assert off == {"teff_min"}
    assert thr == {"lamost_hot_stars": {"snr_min": 20, "logg_min": 1.5}}


def test_a_sample_without_preset_gives_every_field():
    with pytest.raises(ConfigError, match="input_kinds"):
        resolve_sample("mine", {"inputs": {"gaia": "x"}})
    spec, *_ = resolve_sample(
        "mine",
        {
            "input_kinds": {"gaia": "gaia_giants", "distances": "bailer_jones"},
            "cuts_before": ["gaia_giants"],
            "metallicity": "mh_gspspec",
            "metallicity_error": 0.1,
        },
    )
    assert spec.name == "custom" and spec.primary == "gaia" and spec.metallicity_error == 0.1


def test_the_old_spelling_still_works_with_a_warning(tmp_path):
    paths = _write_lamost(tmp_path)
    old = {
        "samples": ["lamost"],
        "inputs": {
            "lamost": str(paths["spectra"]),
            "lamost_gaia": str(paths["gaia"]),
            "lamost_bailer_jones": str(paths["distances"]),
            "lamost_columns": {"SNR_r": "snr"},
        },
    }
    with pytest.warns(FutureWarning) as record:
        cfg = pipeline.load_config(old)
    messages = " ".join(str(w.message) for w in record)
    assert "run = [...]" in messages and "[samples.NAME.inputs]" in messages
    new = pipeline.load_config(
        {
            "run": ["lamost"],
            "samples": {
                "lamost": {
                    "preset": "hotpayne",
                    "inputs": {k: str(p) for k, p in paths.items()},
                    "columns": {"spectra": {"SNR_r": "snr"}},
                }
            },
        }
    )
    assert cfg["run"] == new["run"] == ["lamost"]
    assert cfg["samples"]["lamost"]["inputs"] == new["samples"]["lamost"]["inputs"]
    assert cfg["samples"]["lamost"]["columns"] == new["samples"]["lamost"]["columns"]


def test_no_samples_defined_runs_the_papers_two_and_run_defaults_to_every_table():
    cfg = pipeline.load_config()
    assert cfg["run"] == ["lamost", "giants"]
    assert cfg["samples"]["lamost"]["preset"] == "hotpayne"
    cfg = pipeline.load_config({"samples": {"giants": {}, "lamost": {}}})
    assert cfg["run"] == ["giants", "lamost"]


def test_cut_switches_change_the_cut_report(tmp_path):
    paths = _write_lamost(tmp_path)
    base = tmp_path / "base.toml"
    base.write_text(_toml("lamost", paths) + _fast_toml())
    switched = tmp_path / "switched.toml"
    switched.write_text(
        _toml("lamost", paths, "")
        + _fast_toml()
        + "[samples.lamost.cuts]\nteff_min = false\nsnr_min = 20\n"
    )
    a = pipeline.run(base, out=tmp_path / "a", verbose=False, figures=False)
    b = pipeline.run(switched, out=tmp_path / "b", verbose=False, figures=False)
    ca, cb = list(a.cuts["cut"]), list(b.cuts["cut"])
    assert "teff_min" in ca and "teff_min" not in cb
    # a lower SNR threshold removes fewer stars, counted against the same input
    ra = a.cuts[a.cuts["cut"] == "snr_min"][0]
    rb = b.cuts[b.cuts["cut"] == "snr_min"][0]
    assert rb["n_removed"] < ra["n_removed"]


def test_a_cut_column_absent_names_the_column_the_cut_and_both_keys(tmp_path, capsys):
    paths = _write_lamost(tmp_path, drop=("vsini", "chi2ratio"))
    cfg = tmp_path / "run.toml"
    cfg.write_text(_toml("lamost", paths) + _fast_toml())
    rc = main(["run", str(cfg), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 3
    assert "'vsini'" in err and "vsini_nonnegative" in err
    assert "[samples.lamost.columns.spectra]" in err and "[samples.lamost.cuts]" in err
    # the cut report of the steps before is written
    cuts = Table.read(tmp_path / "out" / "cuts.ecsv")
    assert list(cuts["cut"][:1]) == ["logg_range"]
    # switching the two cuts off is enough: LAMOST DR-n LRS has neither column
    cfg.write_text(
        _toml("lamost", paths)
        + _fast_toml()
        + "[samples.lamost.cuts]\nvsini_nonnegative = false\nchi2ratio_max = false\n"
    )
    res = pipeline.run(cfg, out=tmp_path / "out2", verbose=False, figures=False)
    assert {"vsini_nonnegative", "chi2ratio_max"}.isdisjoint(res.cuts["cut"])
    assert len(res.samples["lamost"]) > 100


def test_an_emptied_sample_keeps_the_other_samples_results(tmp_path, capsys):
    paths = _write_lamost(tmp_path)
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        'run = ["giants", "lamost"]\n[synthetic]\nn_giants = 4000\nseed = 3\n'
        "[samples.giants]\n"
        + _toml("lamost", paths)
        + "[samples.lamost.cuts]\nsnr_min = 1e9\n"
        + _fast_toml()
    )
    out = tmp_path / "out"
    rc = main(["run", str(cfg), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 3 and len(err) == 1
    assert "lamost" in err[0] and "'snr_min'" in err[0] and "giants" in err[0]
    # the giants' results are written, and the cut report names the emptying cut
    assert (out / "table1.ecsv").exists() and not (out / "table1_lamost.ecsv").exists()
    cuts = Table.read(out / "cuts.ecsv")
    lam = cuts[cuts["sample"] == "lamost"]
    emptied = lam[(lam["n_removed"] > 0) & (lam["n_after"] == 0)]
    assert list(emptied["cut"]) == ["snr_min"] and lam["n_after"][-1] == 0
    summary = json.loads((out / "summary.json").read_text())
    assert "snr_min" in summary["failed"]["lamost"] and "giants" in summary["samples"]
    report = (out / "report.md").read_text()
    assert "Failed samples" in report
    assert "fig8.png" not in report  # only one sample succeeded: no Figure 8
    assert (out / "figures" / "fig1.png").exists() and not (out / "figures" / "fig8.png").exists()


@pytest.mark.parametrize("policy", ["omit", "raise"])
def test_null_metallicity_errors_are_a_counted_exclusion_or_an_error(tmp_path, policy):
    s = make_survey("gaia_giants", 4000, seed=2)
    g = s["gaia"]
    bad = np.arange(5) * 7
    lower = np.ma.MaskedArray(np.asarray(g["mh_gspspec_lower"], dtype=float))
    lower[bad] = np.ma.masked
    g["mh_gspspec_lower"] = lower
    g.write(tmp_path / "giants.ecsv")
    s["bailer_jones"].write(tmp_path / "bj.ecsv")
    cfg = {
        "run": ["giants"],
        "samples": {
            "giants": {
                "inputs": {
                    "gaia": str(tmp_path / "giants.ecsv"),
                    "distances": str(tmp_path / "bj.ecsv"),
                }
            }
        },
        **FAST,
        "fit": {**FAST["fit"], "nan_policy": policy},
    }
    if policy == "raise":
        with pytest.raises(SampleFailure, match="nan_policy"):
            pipeline.run(cfg, out=tmp_path / "out", verbose=False, figures=False)
        return
    res = pipeline.run(cfg, out=tmp_path / "out", verbose=False, figures=False)
    row = res.cuts[res.cuts["cut"] == "fit_inputs_finite"][0]
    # the masked rows that survived the cuts before are the ones removed
    assert 0 < row["n_removed"] <= len(bad)
    assert np.isfinite(np.asarray(res.samples["giants"]["feh_used_err"])).all()


def test_distance_sources(tmp_path):
    from fastgrad.distances import add_distances

    t = Table({"parallax": [2.0, 0.5, -0.1], "parallax_error": [0.1, 0.05, 0.1]})
    d = add_distances(t, source="parallax")
    np.testing.assert_allclose(d["distance"][:2], [0.5, 2.0])
    np.testing.assert_allclose(d["distance_error"][:2], [0.1 / 4, 0.05 / 0.25])
    assert np.isnan(d["distance"][2])  # no distance: removed by the precision cut
    np.testing.assert_allclose(d["r_hi_geo"][:2] - d["r_lo_geo"][:2], [50.0, 400.0])
    c = add_distances(
        Table({"distance": [1.0, 3.0], "distance_error": [0.1, 0.3]}), source="catalog"
    )
    np.testing.assert_allclose(c["r_med_geo"], [1000.0, 3000.0])
    with pytest.raises(InputError, match="negative"):
        add_distances(Table({"distance": [1.0], "distance_error": [-0.1]}), source="catalog")
    p = add_distances(
        Table({"r_med_photogeo": [1000.0], "r_lo_photogeo": [900.0], "r_hi_photogeo": [1200.0]}),
        source="bailer_jones_photogeo",
    )
    np.testing.assert_allclose([p["distance"][0], p["distance_error"][0]], [1.0, 0.15])
    with pytest.raises(ValueError, match="source must be one of"):
        add_distances(t, source="photometric")


def test_per_sample_fit_settings(tmp_path):
    cfg = pipeline.load_config({"samples": {"giants": {"fit": {"n_steps": 40}}}})
    from fastgrad.pipeline import sample_config

    assert sample_config(cfg, "giants")["fit"]["n_steps"] == 40
    assert cfg["fit"]["n_steps"] == 1000


def test_the_gspspec_calibration_is_an_option_of_a_sample(tmp_path):
    from fastgrad.gspspec import MH_LOGG_RANGE, calibrate_mh

    base = {"run": ["giants"], "synthetic": {"seed": 4, "n_giants": 4000}, **FAST}
    plain = pipeline.run(base, out=tmp_path / "a", verbose=False, figures=False)
    calibrated = pipeline.run(
        {**base, "samples": {"giants": {"metallicity_calibration": "recio_blanco2023"}}},
        out=tmp_path / "b",
        verbose=False,
        figures=False,
    )
    a, b = plain.samples["giants"], calibrated.samples["giants"]
    # stars outside the calibration's logg range get NaN: the counted step removes them
    lo, hi = MH_LOGG_RANGE
    logg = np.asarray(a["logg_gspspec"])
    inside = (logg >= lo) & (logg <= hi)
    row = calibrated.cuts[calibrated.cuts["cut"] == "fit_inputs_finite"][0]
    assert row["n_removed"] == np.count_nonzero(~inside)
    np.testing.assert_array_equal(np.asarray(b["source_id"]), np.asarray(a["source_id"])[inside])
    np.testing.assert_array_equal(
        np.asarray(b["feh_used"]),
        calibrate_mh(np.asarray(a["mh_gspspec"])[inside], logg[inside]),
    )
    with pytest.raises(ConfigError, match="metallicity_calibration"):
        pipeline.load_config({"samples": {"giants": {"metallicity_calibration": "rb23"}}})
