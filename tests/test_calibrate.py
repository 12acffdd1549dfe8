"""`fastgrad calibrate`: pull statistics over mock realisations (issue 15, item 3).

The statistics (:func:`fastgrad.validation.calibration_table`) are checked
against hand computations and plain-Python loops; the runner
(:func:`fastgrad.calibrate.calibrate`) end to end at a scale of seconds: its
files, one row per Table 1/2 entry, its seeds, and that a seed gives the same
table whatever the thread count.
"""

import json
import math
import statistics

import numpy as np
import pytest
from astropy.table import Table
from matplotlib.figure import Figure
from scipy import stats

from fastgrad import pipeline
from fastgrad._outdir import MARKER
from fastgrad.calibrate import OUTPUT_NAMES, calibrate, realisation_pulls, realisation_seeds
from fastgrad.cli import main
from fastgrad.errors import ConfigError, OutputError
from fastgrad.plots.calibration import plot_calibration
from fastgrad.validation import BIAS_P_VALUE, COVERAGE_LEVELS, calibration_table, pull_coverage

#: a realisation of about a second: both samples, few stars, short chains, no figures
TINY = {
    "synthetic": {"seed": 11, "n_lamost": 3000, "n_giants": 5000},
    "monte_carlo": {"n_samples": 16},
    "fit": {"n_walkers": 6, "n_steps": 30, "min_stars": 100},
    "azimuthal": {"phi_bin_deg": 10.0, "min_count": 5, "n_permutations": 10},
}
TINY_TOML = """run = ["lamost"]
[synthetic]
n_lamost = 3000
[monte_carlo]
n_samples = 16
[fit]
n_walkers = 6
n_steps = 30
min_stars = 100
[azimuthal]
n_permutations = 10
"""


# ---------------------------------------------------------------------------
# statistics, against hand computations
# ---------------------------------------------------------------------------
def test_coverage_by_hand():
    pulls = [0.5, -1.2, 2.5, np.nan, 0.99, -1.0]  # 5 finite; -1.0 is not inside |p| < 1
    c68, e68 = pull_coverage(pulls, 1.0)
    c95, e95 = pull_coverage(pulls, 1.96)
    assert c68 == 2 / 5 and e68 == pytest.approx(math.sqrt(0.4 * 0.6 / 5), rel=1e-15)
    assert c95 == 4 / 5 and e95 == pytest.approx(math.sqrt(0.8 * 0.2 / 5), rel=1e-15)
    assert COVERAGE_LEVELS["68"][1] == pytest.approx(
        stats.norm.cdf(1) - stats.norm.cdf(-1), abs=1e-15
    )
    assert COVERAGE_LEVELS["95"][1] == pytest.approx(
        stats.norm.cdf(1.96) - stats.norm.cdf(-1.96), abs=1e-15
    )
    assert BIAS_P_VALUE == pytest.approx(2 * stats.norm.sf(3), rel=1e-14)


def test_table_matches_plain_python_per_entry():
    rng = np.random.default_rng(3)
    pulls = rng.normal(0.3, 1.4, size=(7, 5))
    pulls[[1, 4], 2] = np.nan  # entry 2 unfitted in two realisations
    pulls[:, 3] = np.nan  # entry 3 never fitted
    pulls[1:, 4] = np.nan  # entry 4 fitted once
    t = calibration_table(pulls)
    assert len(t) == 5
    for j in range(5):
        col = [float(v) for v in pulls[:, j] if not math.isnan(v)]
        row = t[j]
        assert row["n"] == len(col)
        if len(col) >= 2:
            mean, sd = statistics.fmean(col), statistics.stdev(col)
            assert row["mean_pull"] == pytest.approx(mean, rel=1e-13)
            assert row["std_pull"] == pytest.approx(sd, rel=1e-13)
            assert row["mean_pull_err"] == pytest.approx(sd / math.sqrt(len(col)), rel=1e-13)
            assert row["std_pull_err"] == pytest.approx(
                sd / math.sqrt(2 * (len(col) - 1)), rel=1e-13
            )
            # Student's t of the mean against 0, as scipy's one-sample test computes it
            assert row["bias_p_value"] == pytest.approx(
                stats.ttest_1samp(col, 0.0).pvalue, rel=1e-10
            )
            chi2 = (len(col) - 1) * sd**2
            p = 2 * min(stats.chi2.cdf(chi2, len(col) - 1), stats.chi2.sf(chi2, len(col) - 1))
            assert row["spread_p_value"] == pytest.approx(p, rel=1e-10)
        else:
            assert np.isnan(row["std_pull"]) and np.isnan(row["bias_p_value"])
            assert not row["biased"] and not row["miscalibrated"]
        for level, (thr, _) in COVERAGE_LEVELS.items():
            inside = sum(abs(v) < thr for v in col)
            if col:
                c = inside / len(col)
                assert row[f"coverage_{level}"] == c
                err = math.sqrt(c * (1 - c) / len(col))
                assert row[f"coverage_{level}_err"] == pytest.approx(err)
            else:
                assert np.isnan(row[f"coverage_{level}"])
    assert t.meta["nominal_coverage"] == {
        "coverage_68": COVERAGE_LEVELS["68"][1],
        "coverage_95": COVERAGE_LEVELS["95"][1],
    }


def test_bias_is_three_standard_errors_for_many_realisations():
    # pulls with mean exactly c and spread exactly 1: |t| = c sqrt(n)
    n = 2000
    z = np.random.default_rng(1).normal(size=n)
    z = (z - z.mean()) / z.std(ddof=1)
    cols = [z + 3.1 / math.sqrt(n), z + 2.9 / math.sqrt(n), z - 3.1 / math.sqrt(n)]
    t = calibration_table(np.column_stack(cols))
    np.testing.assert_allclose(
        np.abs(t["mean_pull"] / t["mean_pull_err"]), [3.1, 2.9, 3.1], rtol=1e-9
    )
    assert list(t["biased"]) == [True, False, True]
    # three realisations: a t of 3.1 is no evidence (Student's t, 2 degrees of freedom)
    t3 = calibration_table(np.array([[1 - 0.495], [1.0], [1 + 0.495]]))  # t = 3.5
    assert t3["mean_pull"][0] / t3["mean_pull_err"][0] == pytest.approx(3.5, rel=1e-3)
    assert not t3["biased"][0] and t3["bias_p_value"][0] > 0.05


def test_calibrated_pulls_come_out_calibrated_and_shifted_ones_biased():
    K = 4000
    rng = np.random.default_rng(7)
    pulls = rng.normal(size=(K, 4))
    pulls[:, 2] += 0.3  # a bias of 0.3 sigma: 19 standard errors at K = 4000
    pulls[:, 3] *= 1.5  # errors 1.5 times too small
    t = calibration_table(pulls)
    for level, (_, nominal) in COVERAGE_LEVELS.items():
        # the binomial spread of a calibrated coverage; 4 sigma for 2 entries x 2 levels
        sigma = math.sqrt(nominal * (1 - nominal) / K)
        assert abs(t[f"coverage_{level}"][0] - nominal) < 4 * sigma
        assert abs(t[f"coverage_{level}"][1] - nominal) < 4 * sigma
        assert t[f"coverage_{level}"][3] < nominal - 10 * sigma
    assert list(t["biased"]) == [False, False, True, False]
    assert list(t["miscalibrated"]) == [False, False, False, True]
    assert t["std_pull"][3] == pytest.approx(1.5, abs=4 * t["std_pull_err"][3])


def test_entries_go_in_front_and_must_match():
    entries = Table({"sample": ["a", "b"], "bin_lo": [0.0, 0.2]}, meta={"K": 3})
    t = calibration_table(np.zeros((3, 2)) + [[0.1, 0.2], [0.3, -0.1], [0.0, 0.0]], entries)
    assert t.colnames[:3] == ["sample", "bin_lo", "n"] and t.meta["K"] == 3
    with pytest.raises(ValueError, match="entries"):
        calibration_table(np.zeros((3, 3)), entries)
    with pytest.raises(ValueError, match="realisations, entries"):
        calibration_table(np.zeros(3))


def test_seeds_are_spawned_distinct_and_reproducible():
    seeds = realisation_seeds(15, 50)
    assert seeds == realisation_seeds(15, 50) and len(set(seeds)) == 50
    assert seeds[:5] == realisation_seeds(15, 5)  # a larger K extends a smaller one
    hand = [
        int(c.generate_state(1, np.uint64)[0]) >> 1 for c in np.random.SeedSequence(15).spawn(50)
    ]
    assert seeds == hand and all(0 <= s < 2**63 for s in seeds)
    assert not set(seeds) & set(realisation_seeds(16, 50))


def test_a_sample_read_from_files_is_refused():
    with pytest.raises(ConfigError, match="synthetic catalogues"):
        realisation_pulls({"samples": {"lamost": {"n_final": 10, "table1": []}}})


def test_figure_without_pyplot():
    t = calibration_table(
        np.array([[0.1, 2.0], [-0.5, 3.0], [0.7, 2.5]]),
        Table({"label": ["x", "y"], "sample": ["a", "b"]}),
    )
    fig = plot_calibration(t, np.array([[0.1, 2.0], [-0.5, 3.0], [0.7, 2.5]]))
    assert isinstance(fig, Figure)
    assert [lbl.get_text() for lbl in fig.axes[0].get_xticklabels()] == ["x", "y"]
    with pytest.raises(ValueError, match="pulls"):
        plot_calibration(t, np.zeros((3, 3)))


def test_a_merged_config_loads_to_itself():
    # calibrate passes the loaded config back to run with only synthetic.seed changed
    cfg = pipeline.load_config(TINY)
    assert pipeline.load_config(cfg) == cfg


# ---------------------------------------------------------------------------
# end to end
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_calibration(tmp_path_factory):
    out = tmp_path_factory.mktemp("cal") / "calibration"
    return calibrate(TINY, 3, seed=21, out=out, verbose=False)


def test_files_are_whole(tiny_calibration):
    out = tiny_calibration.out
    marker = json.loads((out / MARKER).read_text())
    assert sorted(marker["files"]) == sorted(OUTPUT_NAMES)
    assert {p.name for p in out.iterdir()} == set(OUTPUT_NAMES) | {MARKER}  # no realisation left
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".fastgrad-tmp-")]
    assert (out / "calibration.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "calibration.md").read_text()
    assert "## Biased entries" in md and "3 mock realisations" in md


def test_one_row_per_entry_with_the_pulls_of_each_realisation(tiny_calibration):
    res = tiny_calibration
    t = Table.read(res.out / "calibration.ecsv")
    # the entries, independently from the realisations' summaries
    pulls = {}
    for s in res.summaries:
        for name, e in s["samples"].items():
            for key in ("table1", "table2"):
                for p in e["pulls"][key]:
                    pulls.setdefault((name, key, p["bin_lo"]), []).append(p["pull"])
            if "azimuthal_recovery" in e:
                pulls.setdefault((name, "arm_amplitude", None), []).append(
                    e["azimuthal_recovery"]["pull"]
                )
    assert {k[0] for k in pulls} == {"lamost", "giants"}
    assert ("giants", "arm_amplitude", None) in pulls  # the giants carry the injected arms
    rows = {
        (
            r["sample"],
            r["quantity"],
            None if np.ma.is_masked(r["bin_lo"]) else float(r["bin_lo"]),
        ): r
        for r in t
    }
    assert len(rows) == len(t) == len(pulls) and set(rows) == set(pulls)
    for key, values in pulls.items():
        row = rows[key]
        assert row["n"] == len(values)
        assert row["mean_pull"] == pytest.approx(statistics.fmean(values), rel=1e-12)
        if len(values) >= 2:
            assert row["std_pull"] == pytest.approx(statistics.stdev(values), rel=1e-12)
    assert t["bin_lo"].unit == "kpc" and t["mean_pull"].unit == ""
    long = Table.read(res.out / "pulls.ecsv")
    assert len(long) == sum(len(v) for v in pulls.values())


def test_seeds_are_recorded_and_each_realisation_changes_only_the_seed(tiny_calibration):
    res = tiny_calibration
    t = Table.read(res.out / "calibration.ecsv")
    assert t.meta["realisations"] == 3 and t.meta["seed"] == 21
    assert t.meta["seeds"] == res.seeds == realisation_seeds(21, 3)
    base = pipeline.load_config(TINY)
    for s, summary in zip(res.seeds, res.summaries, strict=True):
        cfg = summary["config"]
        assert cfg["synthetic"]["seed"] == s
        assert {**cfg, "synthetic": {**cfg["synthetic"], "seed": 11}} == base
    # independent realisations: different catalogues, different fits
    n_final = [s["samples"]["giants"]["n_final"] for s in res.summaries]
    slopes = [s["samples"]["giants"]["table1"][0]["slope"] for s in res.summaries]
    assert len(set(slopes)) == 3 and len(set(n_final)) > 1


def test_same_seed_same_table_whatever_the_threads(tiny_calibration, tmp_path):
    again = calibrate(TINY, 3, seed=21, out=tmp_path / "again", n_threads=1, verbose=False)
    a = Table.read(tiny_calibration.out / "calibration.ecsv")
    b = Table.read(again.out / "calibration.ecsv")
    assert a.colnames == b.colnames and a.meta == b.meta
    for name in a.colnames:
        if a[name].dtype.kind == "f":
            np.testing.assert_array_equal(np.ma.filled(a[name], -1.0), np.ma.filled(b[name], -1.0))
        else:
            assert list(a[name]) == list(b[name])
    assert (tiny_calibration.out / "pulls.ecsv").read_text() == (
        again.out / "pulls.ecsv"
    ).read_text()


def test_cli_exit_codes(tmp_path, capsys):
    cfg = tmp_path / "cal.toml"
    cfg.write_text(TINY_TOML)
    for args in (["-K", "1"], ["-K", "0"], ["-K", "2", "--n-threads", "0"]):
        assert main(["calibrate", str(cfg), "--quiet", "--out", str(tmp_path / "x"), *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("fastgrad: error:")
    with pytest.raises(SystemExit) as exc:  # not an integer: argparse's own exit code 2
        main(["calibrate", str(cfg), "--realisations", "2.5"])
    assert exc.value.code == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("[fit]\nn_walkerz = 3\n")
    assert main(["calibrate", str(bad), "-K", "2", "--quiet"]) == 2
    assert "n_walkerz" in capsys.readouterr().err
    # a user's non-empty folder: refused before any work, untouched
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine\n")
    assert main(["calibrate", str(cfg), "-K", "2", "--quiet", "--out", str(mine)]) == 4
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    assert not (tmp_path / "x").exists()
    # the config file is never an output
    with pytest.raises(OutputError):
        calibrate(str(cfg), 2, out=cfg, verbose=False)


def test_cli_writes_a_calibration_and_updates_it(tmp_path, capsys):
    cfg = tmp_path / "cal.toml"
    cfg.write_text(TINY_TOML)
    out = tmp_path / "cal"
    assert main(["calibrate", str(cfg), "-K", "2", "--seed", "3", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "realisation 2/2" in err and "calibration in" in err
    t = Table.read(out / "calibration.ecsv")
    assert set(t["sample"]) == {"lamost"} and t.meta["config_file"] == str(cfg)
    (out / "my-notes.txt").write_text("kept\n")
    assert (
        main(["calibrate", str(cfg), "-K", "2", "--seed", "4", "--out", str(out), "--quiet"]) == 0
    )
    assert Table.read(out / "calibration.ecsv").meta["seed"] == 4
    assert (out / "my-notes.txt").read_text() == "kept\n"


def test_interrupted_calibration_leaves_nothing(tmp_path, monkeypatch):
    import fastgrad.calibrate as cal

    calls = []

    def interrupted_run(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return pipeline.run(*args, **kwargs)

    monkeypatch.setattr(cal, "run", interrupted_run)
    with pytest.raises(KeyboardInterrupt):
        calibrate({**TINY, "run": ["giants"]}, 3, out=tmp_path / "cal", verbose=False)
    assert list(tmp_path.iterdir()) == []


def test_input_files_are_refused_before_any_work(tmp_path, capsys):
    for name in ("hotpayne.fits", "gaia.fits", "bj.fits"):
        (tmp_path / name).write_bytes(b"SIMPLE  = T" + b" " * 100)
    cfg = tmp_path / "real.toml"
    cfg.write_text(
        'run = ["lamost"]\n[samples.lamost]\npreset = "hotpayne"\n'
        '[samples.lamost.inputs]\nspectra = "hotpayne.fits"\ngaia = "gaia.fits"\n'
        'distances = "bj.fits"\n'
    )
    out = tmp_path / "cal"
    assert main(["calibrate", str(cfg), "-K", "2", "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "lamost" in err and "synthetic catalogues" in err
    assert not out.exists()
