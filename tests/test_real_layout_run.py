"""Issue 14's acceptance: `fastgrad run` with the documented [samples.*] TOML on
files in the layouts the archives serve (HotPayne with its VizieR names and no
obsid, Gaia archive VOTable with upper-case SOURCE_ID, VizieR I/355 gaiadr3 x
paramp, VizieR I/352) completes with no column map but HotPayne's SpecID, and
gives the same tables as the same stars in fastgrad's own layout."""

import numpy as np
import pytest
from astropy.table import Table

from fastgrad import make_survey, pipeline

N = 6000
SETTINGS = (
    "[monte_carlo]\nn_samples = 16\n[fit]\nn_walkers = 6\nn_steps = 30\nmin_stars = 100\n"
    "[azimuthal]\nmin_count = 5\nn_permutations = 19\n"
)

#: canonical -> the names the archives write (the readers' maps, inverted by hand)
HOTPAYNE = {
    "ra": "RAdeg",
    "dec": "DEdeg",
    "teff": "Teff",
    "teff_err": "e_Teff",
    "logg": "logg",
    "logg_err": "e_logg",
    "feh": "[Fe/H]",
    "feh_err": "e_[Fe/H]",
    "vsini": "vsini",
    "snr": "SNRg",
    "chi2ratio": "chi2ratio",
    "rv": "RV",
    "rv_err": "e_RV",
}
VIZIER_GAIA = {
    "source_id": "Source",
    "ra": "RA_ICRS",
    "dec": "DE_ICRS",
    "ra_error": "e_RA_ICRS",
    "dec_error": "e_DE_ICRS",
    "parallax": "Plx",
    "parallax_error": "e_Plx",
    "parallax_over_error": "RPlx",
    "pmra": "pmRA",
    "pmra_error": "e_pmRA",
    "pmdec": "pmDE",
    "pmdec_error": "e_pmDE",
    "radial_velocity": "RV",
    "radial_velocity_error": "e_RV",
    "ra_dec_corr": "RADEcor",
    "ra_pmra_corr": "RApmRAcor",
    "ra_pmdec_corr": "RApmDEcor",
    "dec_pmra_corr": "DEpmRAcor",
    "dec_pmdec_corr": "DEpmDEcor",
    "pmra_pmdec_corr": "pmRApmDEcor",
    "teff_gspspec": "Teff-S",
    "logg_gspspec": "logg-S",
    "mh_gspspec": "[M/H]-S",
    "mh_gspspec_lower": "b_[M/H]-S",
    "mh_gspspec_upper": "B_[M/H]-S",
}
I352 = {"source_id": "Source", "r_med_geo": "rgeo", "r_lo_geo": "b_rgeo", "r_hi_geo": "B_rgeo"}


def _renamed(table, mapping, drop=()):
    t = Table(table, copy=True)
    t.meta.clear()
    t.remove_columns([c for c in drop if c in t.colnames])
    t.rename_columns(
        [c for c in mapping if c in t.colnames], [mapping[c] for c in mapping if c in t.colnames]
    )
    return t


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("layouts")
    lam = make_survey("lamost_hot_stars", N, seed=11)
    gi = make_survey("gaia_giants", N, seed=12)
    own, real = d / "own", d / "real"
    own.mkdir(), real.mkdir()
    # fastgrad's own layout
    for name, t in (
        ("lamost", lam["lamost"]),
        ("lamost_gaia", lam["gaia"]),
        ("lamost_bj", lam["bailer_jones"]),
        ("giants", gi["gaia"]),
        ("giants_bj", gi["bailer_jones"]),
    ):
        t = Table(t, copy=True)
        t.meta.clear()
        t.write(own / f"{name}.ecsv")
    # the archives' layouts
    hp = _renamed(lam["lamost"], HOTPAYNE, drop=("obsid",))
    hp["SpecID"] = np.char.add("spec-", np.arange(len(hp)).astype(str))
    hp.write(real / "hotpayne.fits")
    ga = _renamed(lam["gaia"], {"source_id": "SOURCE_ID"})
    ga["radial_velocity"] = np.ma.masked_invalid(np.asarray(ga["radial_velocity"]))
    ga.write(real / "gaia_dr3_lamost.vot", format="votable")
    _renamed(lam["bailer_jones"], I352).write(real / "bj_I352.fits")
    _renamed(gi["gaia"], VIZIER_GAIA).write(real / "gspspec_giants.vot", format="votable")
    _renamed(gi["bailer_jones"], I352).write(real / "bj.fits")
    return own, real


def _run(cfg_path, out):
    return pipeline.run(cfg_path, out=out, verbose=False, figures=False)


def test_the_documented_toml_runs_on_the_archives_layouts(files, tmp_path):
    own, real = files
    toml = (
        'run = ["lamost", "giants"]\n'
        '[samples.lamost]\npreset = "hotpayne"\n'
        '[samples.lamost.inputs]\nspectra = "real/hotpayne.fits"\n'
        'gaia = "real/gaia_dr3_lamost.vot"\ndistances = "real/bj_I352.fits"\n'
        '[samples.lamost.columns.spectra]\nSpecID = "spec_id"\n'
        "[samples.lamost.cuts]\nteff_min = false\n"
        '[samples.giants]\npreset = "gspspec_giants"\n'
        '[samples.giants.inputs]\ngaia = "real/gspspec_giants.vot"\n'
        'distances = "real/bj.fits"\n' + SETTINGS
    )
    (own.parent / "real.toml").write_text(toml)
    mine = (
        'run = ["lamost", "giants"]\n'
        '[samples.lamost.inputs]\nspectra = "own/lamost.ecsv"\n'
        'gaia = "own/lamost_gaia.ecsv"\ndistances = "own/lamost_bj.ecsv"\n'
        "[samples.lamost.cuts]\nteff_min = false\n"
        '[samples.giants.inputs]\ngaia = "own/giants.ecsv"\ndistances = "own/giants_bj.ecsv"\n'
        + SETTINGS
    )
    (own.parent / "own.toml").write_text(mine)
    a = _run(own.parent / "real.toml", tmp_path / "real")
    b = _run(own.parent / "own.toml", tmp_path / "own")
    np.testing.assert_array_equal(a.cuts["n_after"], b.cuts["n_after"])
    assert list(a.cuts["cut"]) == list(b.cuts["cut"]) and "teff_min" not in a.cuts["cut"]
    for sample in ("lamost", "giants"):
        assert len(a.samples[sample]) > 500
        for key in ("table1", "table2"):
            ta, tb = a.tables[sample][key], b.tables[sample][key]
            np.testing.assert_array_equal(np.asarray(ta["n_stars"]), np.asarray(tb["n_stars"]))
            # float32 VOTable/FITS columns would move the fits: the layouts keep float64
            np.testing.assert_allclose(
                np.ma.filled(ta["slope"], np.nan),
                np.ma.filled(tb["slope"], np.nan),
                rtol=1e-9,
                equal_nan=True,
            )
    # the HotPayne spectrum ids came through the one column map
    assert "spec_id" in a.samples["lamost"].colnames
