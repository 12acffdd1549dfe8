"""Acceptance test of issue 14 on layouts: files in the layouts the archives
serve give the same canonical tables as the same stars in fastgrad's own layout.

Every file is built at test time (in ``tmp_path``) from the 1,000 real Gaia DR3
rows of ``tests/data/gaia_dr3_source_sample_1000.fits`` (real names, real
dtypes: float32 errors, masked radial velocities) plus seeded synthetic
spectroscopic and astrophysical columns for those stars. The file column
names below are written out literally, from the archives' data models (not
from fastgrad's maps), so a wrong map entry fails here. The reference is each
table in fastgrad's own layout (canonical names and units, ECSV) read with
the same ``kind``; every canonical column must agree, within the float
rounding of a unit conversion.
"""

import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.table import MaskedColumn, Table

from fastgrad.crossmatch import BEST_PER_SOURCE_STEP, best_per_source, crossmatch
from fastgrad.cuts import CUT_PRESETS, REPORT_COLUMNS, apply_cuts
from fastgrad.readers import read_catalog
from fastgrad.schema import CANONICAL_UNITS, CATALOG_SCHEMAS, MissingColumnsError

GAIA_SAMPLE = Path(__file__).parent / "data" / "gaia_dr3_source_sample_1000.fits"
ASTROPY_FORMAT = {
    "fits": "fits",
    "vot": "votable",
    "csv": "ascii.csv",
    "ecsv": "ascii.ecsv",
    "parquet": "parquet",
}
GAIA_ARCHIVE = (
    "source_id",
    "designation",
    "ra",
    "ra_error",
    "dec",
    "dec_error",
    "parallax",
    "parallax_error",
    "parallax_over_error",
    "pmra",
    "pmra_error",
    "pmdec",
    "pmdec_error",
    "ra_dec_corr",
    "ra_pmra_corr",
    "ra_pmdec_corr",
    "dec_pmra_corr",
    "dec_pmdec_corr",
    "pmra_pmdec_corr",
    "radial_velocity",
    "radial_velocity_error",
    "phot_g_mean_mag",
    "ruwe",
)
# VizieR I/355/gaiadr3 labels of those columns (VizieR's ReadMe)
VIZIER_GAIADR3 = {
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
    "phot_g_mean_mag": "Gmag",
    "ruwe": "RUWE",
}
GSPSPEC_ARCHIVE = (
    "teff_gspspec",
    "logg_gspspec",
    "mh_gspspec",
    "mh_gspspec_lower",
    "mh_gspspec_upper",
    "flags_gspspec",
)
VIZIER_PARAMP = {
    "teff_gspspec": "Teff-S",
    "logg_gspspec": "logg-S",
    "mh_gspspec": "[M/H]-S",
    "mh_gspspec_lower": "b_[M/H]-S",
    "mh_gspspec_upper": "B_[M/H]-S",
    "flags_gspspec": "Flags-S",
}


def write(table, path):
    with warnings.catch_warnings():  # FITS/VOTable frown on "[M/H]-S"-like names
        warnings.simplefilter("ignore")
        fmt = ASTROPY_FORMAT[path.suffix[1:]]
        if fmt == "parquet":
            pytest.importorskip("pyarrow")
        table.write(path, format=fmt, overwrite=True)
    return path


def renamed(table, mapping):
    out = Table(table, copy=True)
    out.meta.clear()
    for old, new in mapping.items():
        if old in out.colnames:
            out.rename_column(old, new)
    return out


def masked(values, mask, dtype=np.float32, unit=None):
    return MaskedColumn(np.asarray(values, dtype=dtype), mask=mask, unit=unit)


@pytest.fixture(scope="module")
def stars():
    """The 1,000 real Gaia rows and seeded synthetic columns for the same stars."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", u.UnitsWarning)
        gaia = Table.read(GAIA_SAMPLE)
    gaia = gaia[list(GAIA_ARCHIVE)]
    gaia.meta.clear()
    n = len(gaia)
    rng = np.random.default_rng(14)
    ids = np.asarray(gaia["source_id"])
    plx = np.asarray(gaia["parallax"], float)
    r_med = np.where(plx > 0.05, 1000.0 / np.maximum(plx, 0.05), 20000.0) * rng.uniform(
        0.95, 1.05, n
    )
    mh = rng.normal(-0.3, 0.3, n)
    no_spec = rng.random(n) < 0.05  # GSP-Spec found no solution: masked in the archive
    syn = {
        "teff_gspspec": masked(rng.uniform(3800, 5500, n), no_spec),
        "logg_gspspec": masked(rng.uniform(0.5, 3.0, n), no_spec),
        "mh_gspspec": masked(mh, no_spec),
        "mh_gspspec_lower": masked(mh - rng.uniform(0.01, 0.1, n), no_spec),
        "mh_gspspec_upper": masked(mh + rng.uniform(0.01, 0.1, n), no_spec),
        "flags_gspspec": np.array(["".join(rng.choice(list("0129"), 41)) for _ in range(n)]),
        "r_med_geo": r_med,
        "r_lo_geo": r_med * 0.9,
        "r_hi_geo": r_med * 1.12,
        "r_med_photogeo": r_med * 1.01,
        "r_lo_photogeo": r_med * 0.92,
        "r_hi_photogeo": r_med * 1.1,
        # a spectroscopic survey's view of the same stars
        "teff": rng.uniform(4000, 20000, n).astype(np.float32),
        "teff_err": rng.uniform(20, 300, n).astype(np.float32),
        "logg": rng.uniform(0.5, 5.0, n).astype(np.float32),
        "logg_err": rng.uniform(0.02, 0.3, n).astype(np.float32),
        "feh": mh.astype(np.float32),
        "feh_err": rng.uniform(0.01, 0.3, n).astype(np.float32),
        "mh": (mh + 0.02).astype(np.float32),
        "mh_err": rng.uniform(0.01, 0.1, n).astype(np.float32),
        "rv": rng.normal(0, 40, n).astype(np.float32),
        "rv_err": rng.uniform(0.1, 20, n).astype(np.float32),
        "rv_scatter": rng.uniform(0, 2, n).astype(np.float32),
        "snr": rng.uniform(5, 300, n).astype(np.float32),
        "vsini": rng.uniform(-10, 300, n).astype(np.float32),
        "chi2ratio": rng.uniform(0, 15, n).astype(np.float32),
        "aspcapflag": np.where(rng.random(n) < 0.1, 2**23, 0).astype(np.int64)
        | rng.integers(0, 2**10, n),
        "starflag": rng.integers(0, 2**8, n).astype(np.int64),
        "extratarg": rng.choice([0, 0, 0, 1, 16, 2, 17], n).astype(np.int16),
        "flag_sp": rng.choice([0, 0, 0, 1, 8], n).astype(np.int32),
        "flag_fe_h": rng.choice([0, 0, 0, 1, 32], n).astype(np.int32),
        "mh_xgboost": rng.normal(-0.2, 0.3, n).astype(np.float32),
        "teff_xgboost": rng.uniform(3500, 6000, n).astype(np.float32),
        "logg_xgboost": rng.uniform(0.5, 4.5, n).astype(np.float32),
        "spec_id": np.arange(n, dtype=np.int64) * 3 + 140_000_000_000_000,
        "star_id": np.array([f"2M{i:08d}+{i % 97:07d}" for i in range(n)]),
    }
    # positions of the spectra: 0.3" from the Gaia position, in a random direction
    angle = rng.uniform(0, 2 * np.pi, n)
    dec = np.asarray(gaia["dec"], float)
    syn["ra_spec"] = np.asarray(gaia["ra"], float) + 0.3 / 3600 * np.cos(angle) / np.cos(
        np.radians(dec)
    )
    syn["dec_spec"] = dec + 0.3 / 3600 * np.sin(angle)
    return gaia, syn, ids


def own_layout(tmp_path, name, columns):
    """A table in fastgrad's own layout (canonical names, canonical units, ECSV)."""
    t = Table()
    for key, values in columns.items():
        unit = CANONICAL_UNITS[key]
        t[key] = values
        if unit is not None and t[key].dtype.kind == "f":
            t[key].unit = unit
    return write(t, tmp_path / f"own_{name}.ecsv")


def assert_same(got, ref, kind):
    """Every canonical column of ``kind`` in ``ref`` is in ``got`` with the same
    unit and values (float64 rounding of a unit conversion; NaN where masked)."""
    schema = CATALOG_SCHEMAS[kind]
    names = [c for c in schema.required + schema.optional if c in ref.colnames]
    assert names, "nothing compared"
    for name in names:
        assert name in got.colnames, name
        a, b = got[name], ref[name]
        assert a.unit == b.unit, (name, a.unit, b.unit)
        if np.asarray(b).dtype.kind == "f":
            np.testing.assert_allclose(
                np.asarray(a, float),
                np.asarray(b, float),
                rtol=1e-12,
                atol=0,
                equal_nan=True,
                err_msg=name,
            )
        else:
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=name)
    return names


def gaia_reference(tmp_path, gaia, kind="gaia", extra=None):
    cols = {c: gaia[c] for c in GAIA_ARCHIVE if c in CANONICAL_UNITS}
    cols.update(extra or {})
    return read_catalog(own_layout(tmp_path, kind, cols), kind=kind)


# ---------------------------------------------------------------------------
# Gaia gaia_source: archive (FITS, VOTable, CSV, ECSV, Parquet, upper-case
# SOURCE_ID) and VizieR I/355/gaiadr3
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ext, upper",
    [
        ("fits", False),
        ("vot", False),
        ("csv", False),
        ("ecsv", False),
        ("parquet", False),
        ("vot", True),
        ("csv", True),
    ],
)
def test_gaia_archive_layouts(tmp_path, stars, ext, upper):
    gaia, _, ids = stars
    table = renamed(gaia, {"source_id": "SOURCE_ID"} if upper else {})
    got = read_catalog(write(table, tmp_path / f"gaia_source.{ext}"), kind="gaia")
    names = assert_same(got, gaia_reference(tmp_path, gaia), "gaia")
    assert "radial_velocity" in names and np.isnan(got["radial_velocity"]).sum() == 976
    np.testing.assert_array_equal(got["source_id"], ids)  # exact 64-bit ids in every format


@pytest.mark.parametrize("ext", ["fits", "vot", "csv"])
def test_gaia_vizier_layout(tmp_path, stars, ext):
    gaia, _, _ = stars
    table = renamed(gaia, VIZIER_GAIADR3)
    got = read_catalog(write(table, tmp_path / f"I355_gaiadr3.{ext}"), kind="gaia")
    names = assert_same(got, gaia_reference(tmp_path, gaia), "gaia")
    assert {"source_id", "ra_error", "pmra_pmdec_corr", "parallax_over_error"} <= set(names)


# ---------------------------------------------------------------------------
# GSP-Spec giants: gaia_source x astrophysical_parameters (archive names) and
# VizieR I/355/gaiadr3 x I/355/paramp; the astrophysical_parameters table alone
# ---------------------------------------------------------------------------


def _giants_tables(gaia, syn):
    archive = Table(gaia, copy=True)
    for c in GSPSPEC_ARCHIVE:
        archive[c] = syn[c]
    archive["teff_gspspec"].unit = u.K
    extra = {c: syn[c] for c in GSPSPEC_ARCHIVE}
    return archive, extra


@pytest.mark.parametrize(
    "layout, ext",
    [
        ("archive", "vot"),
        ("archive", "fits"),
        ("archive", "parquet"),
        ("vizier", "vot"),
        ("vizier", "fits"),
        ("vizier", "csv"),
    ],
)
def test_gaia_giants_layouts(tmp_path, stars, layout, ext):
    gaia, syn, _ = stars
    archive, extra = _giants_tables(gaia, syn)
    table = (
        archive if layout == "archive" else renamed(archive, {**VIZIER_GAIADR3, **VIZIER_PARAMP})
    )
    got = read_catalog(write(table, tmp_path / f"giants_{layout}.{ext}"), kind="gaia_giants")
    ref = gaia_reference(tmp_path, gaia, "gaia_giants", extra)
    names = assert_same(got, ref, "gaia_giants")
    assert set(GSPSPEC_ARCHIVE) <= set(names)
    assert np.isnan(got["mh_gspspec_lower"]).sum() == np.count_nonzero(syn["mh_gspspec"].mask)
    assert got["flags_gspspec"][0] == syn["flags_gspspec"][0]  # the 41-character string, as is


@pytest.mark.parametrize("layout, ext", [("archive", "csv"), ("vizier", "vot")])
def test_gspspec_table_alone(tmp_path, stars, layout, ext):
    gaia, syn, ids = stars
    t = Table({"source_id": ids, **{c: syn[c] for c in GSPSPEC_ARCHIVE}})
    if layout == "vizier":
        t = renamed(t, {"source_id": "Source", **VIZIER_PARAMP})
    got = read_catalog(write(t, tmp_path / f"ap.{ext}"), kind="gaia_gspspec")
    ref = read_catalog(
        own_layout(tmp_path, "ap", {"source_id": ids, **{c: syn[c] for c in GSPSPEC_ARCHIVE}}),
        kind="gaia_gspspec",
    )
    assert len(assert_same(got, ref, "gaia_gspspec")) == 7


# ---------------------------------------------------------------------------
# Bailer-Jones: archive external.gaiaedr3_distance and VizieR I/352
# ---------------------------------------------------------------------------

BJ_ARCHIVE = (
    "r_med_geo",
    "r_lo_geo",
    "r_hi_geo",
    "r_med_photogeo",
    "r_lo_photogeo",
    "r_hi_photogeo",
)
VIZIER_I352 = {
    "source_id": "Source",
    "r_med_geo": "rgeo",
    "r_lo_geo": "b_rgeo",
    "r_hi_geo": "B_rgeo",
    "r_med_photogeo": "rpgeo",
    "r_lo_photogeo": "b_rpgeo",
    "r_hi_photogeo": "B_rpgeo",
    "flag": "Flag",
}


@pytest.mark.parametrize(
    "layout, ext, unit",
    [
        ("archive", "vot", u.pc),
        ("archive", "csv", None),
        ("archive", "ecsv", u.kpc),
        ("vizier", "fits", u.pc),
        ("vizier", "vot", u.pc),
    ],
)
def test_bailer_jones_layouts(tmp_path, stars, layout, ext, unit):
    _, syn, ids = stars
    t = Table({"source_id": ids})
    for c in BJ_ARCHIVE:
        t[c] = syn[c] if unit in (None, u.pc) else syn[c] / 1000.0  # kpc: a unit to convert
        t[c].unit = unit
    t["flag"] = np.array(["10033"] * len(ids))
    if layout == "vizier":
        t = renamed(t, VIZIER_I352)
    got = read_catalog(write(t, tmp_path / f"bj_{layout}.{ext}"), kind="bailer_jones")
    ref = read_catalog(
        own_layout(tmp_path, "bj", {"source_id": ids, **{c: syn[c] for c in BJ_ARCHIVE}}),
        kind="bailer_jones",
    )
    assert len(assert_same(got, ref, "bailer_jones")) == 7


# ---------------------------------------------------------------------------
# spectroscopic surveys, each in its published layout
# ---------------------------------------------------------------------------

SPECTRO = ("teff", "teff_err", "logg", "logg_err", "feh", "feh_err", "rv", "rv_err")


def _spectro_reference(tmp_path, syn, kind, extra):
    cols = {"ra": syn["ra_spec"], "dec": syn["dec_spec"], **{c: syn[c] for c in SPECTRO}, **extra}
    return read_catalog(own_layout(tmp_path, kind, cols), kind=kind)


@pytest.mark.parametrize("ext", ["fits", "vot", "csv"])
def test_hotpayne_vizier_layout_needs_no_obsid(tmp_path, stars, ext):
    """HotPayne (J/A+A/662/A66) with the names its VizieR table is known to
    have: no obsid, SpecID as the spectrum id; reads with no map."""
    _, syn, _ = stars
    t = Table(
        {
            "SpecID": syn["spec_id"],
            "RAdeg": syn["ra_spec"] * u.deg,
            "DEdeg": syn["dec_spec"] * u.deg,
            "Teff": syn["teff"] * u.K,
            "e_Teff": syn["teff_err"] * u.K,
            "logg": syn["logg"],
            "e_logg": syn["logg_err"],
            "[Fe/H]": syn["feh"],
            "e_[Fe/H]": syn["feh_err"],
            "vsini": syn["vsini"] * u.km / u.s,
            "SNRg": syn["snr"],
            "chi2ratio": syn["chi2ratio"],
            "RV": syn["rv"] * u.km / u.s,
            "e_RV": syn["rv_err"] * u.km / u.s,
        }
    )
    got = read_catalog(write(t, tmp_path / f"hotpayne.{ext}"), kind="lamost_hot_stars")
    ref = _spectro_reference(
        tmp_path,
        syn,
        "lamost_hot_stars",
        {c: syn[c] for c in ("spec_id", "vsini", "snr", "chi2ratio")},
    )
    names = assert_same(got, ref, "lamost_hot_stars")
    assert "obsid" not in got.colnames and {"spec_id", "vsini", "chi2ratio"} <= set(names)
    kept, report = apply_cuts(got, "lamost_hot_stars")
    assert report["n_after"][-1] == len(kept) > 0


def test_lamost_lrs_layout(tmp_path, stars):
    """The LAMOST DR-n LRS stellar catalogue: snrg, no vsini, no chi2ratio."""
    _, syn, _ = stars
    t = Table(
        {
            "obsid": np.arange(len(syn["snr"]), dtype=np.int64) + 101_000_001,
            "ra": syn["ra_spec"],
            "dec": syn["dec_spec"],
            "snrg": syn["snr"],
            **{c: syn[c] for c in SPECTRO},
        }
    )
    got = read_catalog(write(t, tmp_path / "dr9_v2.0_LRS_stellar.fits"), kind="lamost_lrs")
    ref = _spectro_reference(tmp_path, syn, "lamost_lrs", {"obsid": t["obsid"], "snr": syn["snr"]})
    assert len(assert_same(got, ref, "lamost_lrs")) == 12
    # the hot-star cuts need vsini: the error names the column, the cut and both TOML keys
    with pytest.raises(MissingColumnsError) as info:
        apply_cuts(got, "lamost_hot_stars")
    err = info.value
    assert err.missing == ("vsini",) and err.cut == "vsini_nonnegative"
    assert "[samples.NAME.columns.INPUT]" in str(err)
    assert "vsini_nonnegative = false" in str(err)
    assert "dr9_v2.0_LRS_stellar.fits" in str(err)  # the file the table came from
    # the cuts before it are counted: a run can still write what they removed
    logg = np.asarray(got["logg"])
    assert tuple(err.report.colnames) == REPORT_COLUMNS
    assert list(err.report["cut"]) == ["logg_range"]
    assert err.report["n_after"][0] == np.count_nonzero((logg >= 2) & (logg <= 5))


def _allstar(syn, gaia, ids):
    return Table(
        {
            "APOGEE_ID": syn["star_id"],
            "TELESCOPE": np.array(["apo25m"] * len(ids)),
            "RA": syn["ra_spec"],
            "DEC": syn["dec_spec"],
            "SNR": syn["snr"],
            "STARFLAG": syn["starflag"],
            "ASPCAPFLAG": syn["aspcapflag"],
            "EXTRATARG": syn["extratarg"],
            "VHELIO_AVG": syn["rv"],
            "VSCATTER": syn["rv_scatter"],
            "VERR": syn["rv_err"],
            "TEFF": syn["teff"],
            "TEFF_ERR": syn["teff_err"],
            "LOGG": syn["logg"],
            "LOGG_ERR": syn["logg_err"],
            "M_H": syn["mh"],
            "M_H_ERR": syn["mh_err"],
            "FE_H": syn["feh"],
            "FE_H_ERR": syn["feh_err"],
            "GAIAEDR3_SOURCE_ID": ids,
            "GAIAEDR3_PARALLAX": gaia["parallax"].data,
            "GAIAEDR3_PARALLAX_ERROR": gaia["parallax_error"].data,
            "GAIAEDR3_PMRA": gaia["pmra"].data,
            "GAIAEDR3_PMRA_ERROR": gaia["pmra_error"].data,
            "GAIAEDR3_PMDEC": gaia["pmdec"].data,
            "GAIAEDR3_PMDEC_ERROR": gaia["pmdec_error"].data,
            "GAIAEDR3_R_MED_GEO": syn["r_med_geo"],
            "GAIAEDR3_R_LO_GEO": syn["r_lo_geo"],
            "GAIAEDR3_R_HI_GEO": syn["r_hi_geo"],
        }
    )


def test_apogee_allstar_layout_and_preset(tmp_path, stars):
    gaia, syn, ids = stars
    got = read_catalog(
        write(_allstar(syn, gaia, ids), tmp_path / "allStar-dr17-synspec.fits"),
        kind="apogee_allstar",
    )
    ref = _spectro_reference(
        tmp_path,
        syn,
        "apogee_allstar",
        {
            "source_id": ids,
            "star_id": syn["star_id"],
            "mh": syn["mh"],
            "mh_err": syn["mh_err"],
            "snr": syn["snr"],
            "aspcapflag": syn["aspcapflag"],
            "starflag": syn["starflag"],
            "extratarg": syn["extratarg"],
            "rv_scatter": syn["rv_scatter"],
            **{
                c: gaia[c].data
                for c in (
                    "parallax",
                    "parallax_error",
                    "pmra",
                    "pmra_error",
                    "pmdec",
                    "pmdec_error",
                )
            },
            **{c: syn[c] for c in ("r_med_geo", "r_lo_geo", "r_hi_geo")},
        },
    )
    assert len(assert_same(got, ref, "apogee_allstar")) == 28
    kept, report = apply_cuts(got, ["apogee_dr17", "apogee_dr17_giants"])
    # the same selection written out by hand
    ok = (syn["extratarg"] & 31) == 0
    ok &= (syn["aspcapflag"] & (1 << 23)) == 0
    ok &= syn["snr"] > 70
    ok &= np.isfinite(syn["feh"]) & np.isfinite(syn["feh_err"])
    ok &= syn["logg"] < 3.5
    np.testing.assert_array_equal(kept["source_id"], ids[ok])
    assert list(report["cut"]) == [
        "extratarg_main",
        "star_bad_unset",
        "snr_min",
        "feh_defined",
        "logg_giant_max",
    ]
    assert 0 < len(kept) < len(got)


def test_galah_dr3_layout_and_preset(tmp_path, stars):
    _, syn, ids = stars
    t = Table(
        {
            "sobject_id": syn["spec_id"],
            "star_id": syn["star_id"],
            "dr2_source_id": ids - 1,
            "dr3_source_id": ids,
            "flag_sp": syn["flag_sp"],
            "teff": syn["teff"],
            "e_teff": syn["teff_err"],
            "logg": syn["logg"],
            "e_logg": syn["logg_err"],
            "fe_h": syn["feh"],
            "e_fe_h": syn["feh_err"],
            "flag_fe_h": syn["flag_fe_h"],
            "ra_dr2": syn["ra_spec"],
            "dec_dr2": syn["dec_spec"],
            "rv_galah": syn["rv"],
            "e_rv_galah": syn["rv_err"],
            "snr_c3_iraf": syn["snr"],
        }
    )
    t["ra_dr2"].unit = t["dec_dr2"].unit = u.deg
    got = read_catalog(write(t, tmp_path / "GALAH_DR3_main_allstar_v2.fits"), kind="galah_dr3")
    ref = _spectro_reference(
        tmp_path,
        syn,
        "galah_dr3",
        {
            "source_id": ids,
            "spec_id": syn["spec_id"],
            "star_id": syn["star_id"],
            "flag_sp": syn["flag_sp"],
            "flag_fe_h": syn["flag_fe_h"],
            "snr": syn["snr"],
        },
    )
    assert len(assert_same(got, ref, "galah_dr3")) == 16
    kept, report = apply_cuts(got, "galah_dr3")
    ok = (syn["flag_sp"] == 0) & (syn["flag_fe_h"] == 0) & (syn["snr"] > 30)
    np.testing.assert_array_equal(kept["source_id"], ids[ok])
    assert list(report["cut"]) == ["flag_sp_zero", "flag_fe_h_zero", "snr_min"]


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_xp_andrae2023_vetted_giants_layout(tmp_path, stars, ext):
    """Andrae et al. 2023 table 2 (the Gaia archive's external.xgboost_table2)."""
    gaia, syn, ids = stars
    t = Table(
        {
            "source_id": ids,
            "l": gaia["ra"].data,
            "b": gaia["dec"].data,
            "ra": gaia["ra"],
            "dec": gaia["dec"],
            "parallax_corrected": gaia["parallax"].data + 0.017,
            "parallax_error": gaia["parallax_error"],
            "pmra": gaia["pmra"],
            "pmra_error": gaia["pmra_error"],
            "pmdec": gaia["pmdec"],
            "pmdec_error": gaia["pmdec_error"],
            "ruwe": gaia["ruwe"],
            "radial_velocity": gaia["radial_velocity"],
            "radial_velocity_error": gaia["radial_velocity_error"],
            "phot_g_mean_mag": gaia["phot_g_mean_mag"],
            "mh_xgboost": syn["mh_xgboost"],
            "teff_xgboost": syn["teff_xgboost"],
            "logg_xgboost": syn["logg_xgboost"],
            "in_training_sample": np.zeros(len(ids), dtype=bool),
        }
    )
    got = read_catalog(write(t, tmp_path / f"xgboost_table2.{ext}"), kind="xp_andrae2023")
    ref = read_catalog(
        own_layout(
            tmp_path,
            "xp",
            {
                "source_id": ids,
                **{c: syn[c] for c in ("mh_xgboost", "teff_xgboost", "logg_xgboost")},
                **{
                    c: gaia[c]
                    for c in (
                        "ra",
                        "dec",
                        "parallax_error",
                        "pmra",
                        "pmra_error",
                        "pmdec",
                        "pmdec_error",
                        "radial_velocity",
                        "radial_velocity_error",
                        "phot_g_mean_mag",
                    )
                },
            },
        ),
        kind="xp_andrae2023",
    )
    assert len(assert_same(got, ref, "xp_andrae2023")) == 14
    assert "parallax" not in got.colnames  # the corrected parallax keeps its own name
    kept, _ = apply_cuts(got, "xp_giants")
    ok = (
        (np.asarray(gaia["phot_g_mean_mag"]) < 16)
        & (syn["logg_xgboost"] < 3.5)
        & (syn["teff_xgboost"] < 5200)
    )
    np.testing.assert_array_equal(kept["source_id"], ids[ok])


def test_xp_shboost_layout(tmp_path, stars):
    """SHBoost: the names are not confirmed (see fastgrad.schema.XP_SHBOOST_COLUMNS);
    this is the StarHorse-style spelling the map tries."""
    _, syn, ids = stars
    mh = syn["mh_xgboost"]
    t = Table(
        {
            "source_id": ids,
            "met16": mh - 0.1,
            "met50": mh,
            "met84": mh + 0.12,
            "teff50": syn["teff_xgboost"],
            "logg50": syn["logg_xgboost"],
        }
    )
    got = read_catalog(write(t, tmp_path / "shboost.fits"), kind="xp_shboost")
    ref = read_catalog(
        own_layout(
            tmp_path,
            "shb",
            {
                "source_id": ids,
                "mh_shboost": mh,
                "mh_shboost_lower": mh - 0.1,
                "mh_shboost_upper": mh + 0.12,
                "teff_shboost": syn["teff_xgboost"],
                "logg_shboost": syn["logg_xgboost"],
            },
        ),
        kind="xp_shboost",
    )
    assert len(assert_same(got, ref, "xp_shboost")) == 6


# ---------------------------------------------------------------------------
# repeat spectra: a many-to-one match, then the highest SNR per Gaia source
# ---------------------------------------------------------------------------


def test_repeat_spectra_keep_the_best(tmp_path, stars):
    gaia, syn, ids = stars
    n = len(ids)
    rng = np.random.default_rng(7)
    repeat = rng.choice(n, 300, replace=False)  # 300 stars observed a second time
    twice = rng.choice(repeat, 50, replace=False)  # 50 of them a third time
    rows = np.concatenate([np.arange(n), repeat, twice])
    snr = np.concatenate([syn["snr"], rng.uniform(5, 300, 350).astype(np.float32)])
    snr[n + 5] = np.nan  # a repeat with no SNR never wins
    snr[n + 6] = snr[repeat[6]]  # an exact tie: the nearer spectrum wins
    # repeats sit 0.2" or 0.5" from the Gaia source, first spectra 0.3"
    offset = np.concatenate([np.full(n, 0.3), np.full(300, 0.2), np.full(50, 0.5)])
    angle = rng.uniform(0, 2 * np.pi, rows.size)
    dec0 = np.asarray(gaia["dec"], float)[rows]
    lrs = Table(
        {
            "obsid": np.arange(rows.size, dtype=np.int64) + 1,
            "ra": np.asarray(gaia["ra"], float)[rows]
            + offset / 3600 * np.cos(angle) / np.cos(np.radians(dec0)),
            "dec": dec0 + offset / 3600 * np.sin(angle),
            "snrg": snr,
            **{c: syn[c][rows] for c in SPECTRO},
        }
    )
    lam = read_catalog(write(lrs, tmp_path / "lrs_repeats.fits"), kind="lamost_lrs")
    g = read_catalog(GAIA_SAMPLE, kind="gaia")
    one = crossmatch(lam, g, suffixes=("_lamost", ""))
    many = crossmatch(lam, g, suffixes=("_lamost", ""), one_to_one=False)
    assert len(many) == rows.size == len(one) + 350  # each spectrum found its own star
    assert many.meta["crossmatch"]["n_right_multiply_claimed"] == 300
    kept, report = best_per_source(many)
    assert tuple(report.colnames) == REPORT_COLUMNS and report["cut"][0] == BEST_PER_SOURCE_STEP
    assert (report["n_before"][0], report["n_removed"][0], report["n_after"][0]) == (
        rows.size,
        350,
        n,
    )
    # brute force: per star, the spectra sorted by (-snr, separation, row)
    expect = {}
    for i in range(rows.size):
        sid = ids[rows[i]]
        s = -snr[i] if np.isfinite(snr[i]) else np.inf
        rank = (s, float(many["separation"][i]), i)
        expect[sid] = min(expect.get(sid, (rank, i)), (rank, i))
    want = sorted(v[1] for v in expect.values())
    np.testing.assert_array_equal(kept["obsid"], lrs["obsid"][want])
    assert kept["obsid"][kept["source_id"] == ids[repeat[6]]][0] == n + 7  # the tie: 0.2"
    assert report["n_nonfinite"][0] == 1
    assert kept.meta["quality_cuts"][-1]["cut"] == BEST_PER_SOURCE_STEP
    # one-to-one keeps the nearest, so it can keep a worse spectrum than the best
    best = dict(zip(kept["source_id"], kept["snr"]))
    assert any(s < best[sid] for sid, s in zip(one["source_id"], one["snr"]))


def test_best_per_source_errors():
    t = Table({"source_id": MaskedColumn([1, 2], mask=[False, True]), "snr": [1.0, 2.0]})
    with pytest.raises(ValueError, match=r"masked\) \(rows 1\)"):
        best_per_source(t)
    with pytest.raises(MissingColumnsError) as info:
        best_per_source(Table({"source_id": [1]}))
    assert info.value.missing == ("snr",) and info.value.cut == BEST_PER_SOURCE_STEP


def test_every_new_kind_and_preset_is_covered():
    assert {
        "gaia_gspspec",
        "lamost_lrs",
        "apogee_allstar",
        "galah_dr3",
        "xp_andrae2023",
        "xp_shboost",
    } <= set(CATALOG_SCHEMAS)
    assert {"apogee_dr17", "apogee_dr17_giants", "galah_dr3", "xp_giants"} <= set(CUT_PRESETS)


# ---------------------------------------------------------------------------
# the survey presets at their boundaries
# ---------------------------------------------------------------------------


def _one_cut(name, preset):
    return next(c for c in CUT_PRESETS[preset] if c.name == name)


@pytest.mark.parametrize(
    "preset, cut, column, values, expected",
    [
        ("apogee_dr17", "snr_min", "snr", [70.0, 70.01, np.nan], [False, True, False]),
        (
            "apogee_dr17",
            "extratarg_main",
            "extratarg",
            [0, 1, 2, 4, 8, 16, 32],
            [True, False, False, False, False, False, True],
        ),
        (
            "apogee_dr17",
            "star_bad_unset",
            "aspcapflag",
            [0, 2**23, 2**22 | 2**24 | 1, 2**23 | 1, 2**40],
            [True, False, True, False, True],
        ),
        ("apogee_dr17_giants", "logg_giant_max", "logg", [3.49, 3.5, np.nan], [True, False, False]),
        ("galah_dr3", "flag_sp_zero", "flag_sp", [0, 1, 8], [True, False, False]),
        ("galah_dr3", "flag_fe_h_zero", "flag_fe_h", [0, 32], [True, False]),
        ("galah_dr3", "snr_min", "snr", [30.0, 30.5], [False, True]),
        ("xp_giants", "g_max", "phot_g_mean_mag", [15.99, 16.0, np.nan], [True, False, False]),
        ("xp_giants", "logg_xgboost_max", "logg_xgboost", [3.49, 3.5], [True, False]),
        ("xp_giants", "teff_xgboost_max", "teff_xgboost", [5199.0, 5200.0], [True, False]),
        ("xp_giants", "mh_xgboost_defined", "mh_xgboost", [0.1, np.nan], [True, False]),
    ],
)
def test_survey_cut_boundaries(preset, cut, column, values, expected):
    t = Table({column: values})
    np.testing.assert_array_equal(_one_cut(cut, preset).keep(t), expected)


def test_flag_cuts_refuse_missing_flags_and_take_masks():
    cut = _one_cut("flag_sp_zero", "galah_dr3")
    t = Table({"flag_sp": MaskedColumn([0, 0, 1], mask=[False, True, False])})
    # a missing flag never passes
    np.testing.assert_array_equal(cut.keep(t), [True, False, False])
    t = Table({"flag_sp": [0.0, np.nan, 2.0]})  # a CSV column with a blank cell
    np.testing.assert_array_equal(cut.keep(t), [True, False, False])
    with pytest.raises(ValueError, match="not integer flags"):
        cut.keep(Table({"flag_sp": [0.5]}))
    with pytest.raises(ValueError, match="integer flags"):
        cut.keep(Table({"flag_sp": ["0"]}))
    main = _one_cut("extratarg_main", "apogee_dr17")
    t = Table({"extratarg": np.array([0, 1, 16], dtype=np.int16)})
    kept, _ = apply_cuts(t, [main], thresholds={"extratarg_mask": 16})  # keep non-main targets
    assert list(kept["extratarg"]) == [0, 1]
    with pytest.raises(ValueError, match="extratarg_mask.*bit mask"):
        apply_cuts(t, [main], thresholds={"extratarg_mask": 1.5})
