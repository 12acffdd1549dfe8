"""The run's configuration is validated whole, before any work (issue 12)."""

import time

import pytest

from fastgrad import pipeline
from fastgrad.cli import main
from fastgrad.errors import ConfigError


@pytest.mark.parametrize(
    "toml, where",
    [
        # a typo in any key is an error, never a silently applied default
        ("[fit]\nn_step = 5\n", "fit.n_step"),
        ("[azimuthal]\nhalf_widht = 0.2\n", "azimuthal.half_widht"),
        ("[cuts]\nsnr_mim = 200\n", "cuts.snr_mim"),
        ("[cuts.gaia_giants]\nteff_mx = 5000\n", "cuts.gaia_giants.teff_mx"),
        ("[cuts.lamost_hot_starz]\nsnr_min = 5\n", "cuts.lamost_hot_starz"),
        ("sample = ['lamost']\n", "sample"),
        ("[monte_carlo]\nn_sample = 10\n", "monte_carlo.n_sample"),
        # types
        ('[fit]\nn_walkers = "12"\n', "fit.n_walkers"),
        ("[fit]\nn_walkers = 10.7\n", "fit.n_walkers"),
        ('[azimuthal]\nzmax = "0.3"\n', "azimuthal.zmax"),
        ("frame = 3\n", "frame"),
        ('samples = "lamost"\n', "samples"),
        ("fit = 3\n", "fit"),
        ('[cuts]\nsnr_min = "high"\n', "cuts.snr_min"),
        ('engine = "spark"\n', "engine"),
        # ranges and names
        ('frame = "v5.0"\n', "frame"),
        ('samples = ["lamost", "apogee"]\n', "samples"),
        ("samples = []\n", "samples"),
        ("[fit]\nn_walkers = 2\n", "fit.n_walkers"),
        ("[fit]\nburn = 2000\n", "fit.burn"),
        ("[fit]\nz_edges = [0.0, 0.4, 0.2]\n", "fit.z_edges"),
        ('[fit]\nscatter = "diagonal"\n', "fit.scatter"),
        ("[azimuthal]\nhalf_width = -0.1\n", "azimuthal.half_width"),
        ("[azimuthal]\nrings = [[9.0, 7.0]]\n", "azimuthal.rings[0]"),
        ('[azimuthal]\nsign = "obs-mod"\n', "azimuthal.sign"),
        ("[monte_carlo]\nseed = -1\n", "monte_carlo.seed"),
        ("[monte_carlo]\nseed = 18446744073709551617\n", "monte_carlo.seed"),
        ("halo_p_max = 1.5\n", "halo_p_max"),
        ("crossmatch_radius_arcsec = 0\n", "crossmatch_radius_arcsec"),
        ("[synthetic]\nn_giants = 10\n", "synthetic.n_giants"),
        # the mock's injected truth, checked by the mock's own rules
        ('[synthetic.truth.giants.azimuthal]\nkind = "spiral"\n', "synthetic.truth.giants"),
        ("[synthetic.truth.giants]\nmetalicity = 1\n", "synthetic.truth.giants"),
        ("[synthetic.truth.apogee]\nseed = 1\n", "synthetic.truth.apogee"),
        # inputs: named files must exist, a sample needs all of its inputs
        (
            'run = ["giants"]\n[samples.giants.inputs]\ngaia = "nope.fits"\n'
            'distances = "nope_bj.fits"\n',
            "samples.giants.inputs.gaia",
        ),
        ('run = ["giants"]\n[samples.giants.inputs]\ngaia = "run.toml"\n', "distances"),
        ('[samples.lamost.inputs]\nspectra = "run.toml"\n', "gaia, distances"),
        # samples: presets, keys, inputs, column maps and cut switches
        ('run = ["giants", "apogee"]\n', "run"),
        ("run = []\n", "run"),
        ('[samples.lamost]\npreset = "hotpaine"\n', "samples.lamost.preset"),
        ('[samples.lamost]\npreest = "hotpayne"\n', "samples.lamost.preest"),
        ('[samples.mine.inputs]\nspectra = "run.toml"\n', "samples.mine"),
        ('[samples.lamost.inputs]\nspectrum = "run.toml"\n', "samples.lamost.inputs.spectrum"),
        (
            '[samples.lamost.columns.spectrum]\nSpecID = "spec_id"\n',
            "samples.lamost.columns.spectrum",
        ),
        ("[samples.lamost.cuts]\nteff_minimum = false\n", "samples.lamost.cuts.teff_minimum"),
        ('[samples.lamost.cuts]\nsnr_min = "30"\n', "samples.lamost.cuts.snr_min"),
        ("[samples.lamost.cuts]\nlogg_range = 2\n", "samples.lamost.cuts.logg_range"),
        (
            "[samples.lamost.cuts.logg_range]\nlogg_mx = 2\n",
            "samples.lamost.cuts.logg_range.logg_mx",
        ),
        ('[samples.giants]\ndistance = "photometric"\n', "samples.giants.distance"),
        (
            '[samples.giants]\nmetallicity_error = "half_interval:a"\n',
            "samples.giants.metallicity_error",
        ),
        ("[samples.giants.fit]\nn_walkers = 2\n", "samples.giants.fit.n_walkers"),
        ("[samples.giants.fit]\nn_walker = 12\n", "samples.giants.fit.n_walker"),
        ("[samples.giants.azimuthal]\nzmax = -1\n", "samples.giants.azimuthal.zmax"),
        ('[samples.giants]\ncuts_before = ["giants"]\n', "samples.giants.cuts_before"),
        ('[fit]\nnan_policy = "drop"\n', "fit.nan_policy"),
    ],
)
def test_a_bad_config_is_one_line_before_any_work(tmp_path, capsys, toml, where):
    cfg = tmp_path / "run.toml"
    cfg.write_text(toml)
    out = tmp_path / "out"
    t0 = time.perf_counter()
    rc = main(["run", str(cfg), "--out", str(out), "--quiet"])
    elapsed = time.perf_counter() - t0
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2, err
    assert len(err) == 1 and err[0].startswith("fastgrad: error: ")
    assert str(cfg) in err[0] and where in err[0], err[0]
    assert "Traceback" not in err[0]
    assert not out.exists()
    assert elapsed < 10  # refused before the catalogues are generated


def test_config_errors_are_value_errors_naming_the_key():
    with pytest.raises(ConfigError, match=r"^fit.n_walkers: expected an integer, got 10.7"):
        pipeline.load_config({"fit": {"n_walkers": 10.7}})
    with pytest.raises(ValueError, match="unknown configuration key 'fit.n_step'"):
        pipeline.load_config({"fit": {"n_step": 5}})
    with pytest.raises(ConfigError, match="config must be None, a dict"):
        pipeline.load_config(["fit"])


def test_the_defaults_and_valid_overrides_pass():
    cfg = pipeline.load_config()
    assert cfg["fit"]["n_walkers"] == 10
    cfg = pipeline.load_config(
        {
            "cuts": {"snr_min": 50, "gaia_giants": {"teff_gspspec_max": 5200}},
            "frame": "v4.0",
            "fit": {"burn": 0},
        }
    )
    assert cfg["cuts"]["gaia_giants"]["teff_gspspec_max"] == 5200


def test_bad_n_threads_is_a_config_error(tmp_path, capsys):
    rc = main(["run", "--out", str(tmp_path / "o"), "--quiet", "--n-threads", "0"])
    assert rc == 2 and "n_threads" in capsys.readouterr().err


def test_version(capsys):
    from fastgrad import __version__

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"fastgrad {__version__}"


def test_importing_the_figures_leaves_the_backend_alone():
    import subprocess
    import sys

    code = (
        "import matplotlib; matplotlib.use('svg'); import fastgrad.figures, fastgrad.pipeline;"
        "import matplotlib.pyplot as plt; print(matplotlib.get_backend())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "svg"
