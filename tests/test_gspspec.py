"""Tests of fastgrad.gspspec and the "gspspec_flags" cut preset.

The calibration is checked against the polynomial written out by hand from
the coefficients typed here again (Recio-Blanco et al. 2023, Table 3, as the
public implementations quote it), the flag cuts on hand-made flag strings
whose every character is known.
"""

import astropy.units as u
import numpy as np
import pytest
from astropy.table import MaskedColumn, Table

import fastgrad
from fastgrad import gspspec
from fastgrad.cuts import CUT_PRESETS, apply_cuts, cut_parameters
from fastgrad.schema import MissingColumnsError

P0, P1, P2, P3 = 0.274, -0.1373, -0.0050, 0.0048


def hand_calibration(mh, logg):
    return mh + P0 + P1 * logg + P2 * logg * logg + P3 * logg * logg * logg


def test_calibrate_mh_is_the_polynomial():
    logg = np.array([0.0, 0.5, 1.3, 2.0, 3.7, 4.9, 5.4])
    mh = np.array([-0.5, 0.1, -1.2, 0.0, 0.3, -2.0, 0.05])
    got = gspspec.calibrate_mh(mh, logg)
    for i in range(logg.size):
        assert got[i] == pytest.approx(hand_calibration(mh[i], logg[i]), rel=0, abs=1e-14)
    # two values worked on paper: logg 0 -> +0.274; logg 2 -> 0.274 - 0.2746 - 0.02 + 0.0384
    assert got[0] - mh[0] == pytest.approx(0.274, abs=1e-15)
    assert got[3] - mh[3] == pytest.approx(0.0178, abs=1e-14)
    assert gspspec.MH_LOGG_COEFFICIENTS == (P0, P1, P2, P3)
    # Quantities in dex and table columns are taken as they are
    np.testing.assert_array_equal(gspspec.calibrate_mh(mh * u.dex, logg * u.dex), got)


def test_calibrate_mh_logg_range_is_explicit():
    lo, hi = gspspec.MH_LOGG_RANGE
    logg = np.array([lo - 0.3, lo, hi, hi + 0.5, np.nan, 2.0])
    mh = np.array([0.0, 0.0, 0.0, 0.0, 0.0, np.nan])
    nan = gspspec.calibrate_mh(mh, logg)
    assert np.isnan(nan[[0, 3, 4, 5]]).all()
    assert nan[1] == pytest.approx(hand_calibration(0.0, lo), abs=1e-14)  # bounds inclusive
    assert nan[2] == pytest.approx(hand_calibration(0.0, hi), abs=1e-12)
    clip = gspspec.calibrate_mh(mh, logg, outside="clip")
    assert clip[0] == pytest.approx(hand_calibration(0.0, lo), abs=1e-14)
    assert clip[3] == pytest.approx(hand_calibration(0.0, hi), abs=1e-12)
    ext = gspspec.calibrate_mh(mh, logg, outside="extrapolate")
    assert ext[0] == pytest.approx(hand_calibration(0.0, lo - 0.3), abs=1e-14)
    assert np.isnan(ext[4]) and np.isnan(ext[5])
    narrow = gspspec.calibrate_mh([0.0, 0.0], [0.5, 3.0], logg_range=(1.0, 4.0))
    assert np.isnan(narrow[0]) and np.isfinite(narrow[1])
    with pytest.raises(ValueError, match="outside must be one of"):
        gspspec.calibrate_mh(mh, logg, outside="ignore")
    with pytest.raises(ValueError, match="logg_range"):
        gspspec.calibrate_mh(mh, logg, logg_range=(3.0, 1.0))
    with pytest.raises(ValueError, match="mh"):
        gspspec.calibrate_mh([0.0, 0.1], [1.0])


def _flags(**digits):
    """A 41-character flags_gspspec with the named characters set, others 0."""
    chars = ["0"] * gspspec.FLAG_LENGTH
    for name, value in digits.items():
        chars[gspspec.FLAG_POSITIONS[name]] = str(value)
    return "".join(chars)


def test_flag_positions_follow_table_2():
    # Recio-Blanco et al. 2023, Table 2, characters 1-13 (1-based there)
    order = [
        "vbroadT",
        "vbroadG",
        "vbroadM",
        "vradT",
        "vradG",
        "vradM",
        "fluxNoise",
        "extrapol",
        "negFlux",
        "nanFlux",
        "emission",
        "nullFluxErr",
        "KMgiantPar",
    ]
    assert [gspspec.FLAG_POSITIONS[n] for n in order] == list(range(13))
    s = "0123456789012" + "9" * 28
    got = gspspec.flag_values([s], order)[:, 0]
    np.testing.assert_array_equal(got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2])


def test_flag_values_unreadable_entries_are_nan():
    good = _flags(vradM=2)
    values = [good, "", "012", None, "x" * 41, good.encode()]
    got = gspspec.flag_values(np.array(values, dtype=object), ["vradM", "vbroadT"])
    assert got.shape == (2, 6)
    np.testing.assert_array_equal(got[:, 0], [2, 0])
    assert np.isnan(got[:, 1]).all() and np.isnan(got[:, 3]).all() and np.isnan(got[:, 4]).all()
    np.testing.assert_array_equal(got[:, 2], [np.nan, 0])  # "012": vbroadT 0, no vradM
    np.testing.assert_array_equal(got[:, 5], [2, 0])  # bytes decoded
    masked = MaskedColumn([good, good], mask=[False, True])
    assert np.isnan(gspspec.flag_values(masked, ["vradM"])[0, 1])
    with pytest.raises(ValueError, match="unknown flags_gspspec flag"):
        gspspec.flag_values([good], ["vsini"])
    with pytest.raises(TypeError, match="strings"):
        gspspec.flag_values(np.array([1.0, 2.0]), ["vradM"])


def test_gspspec_flags_cut_on_hand_made_strings():
    """Each row breaks one threshold of the medium-quality default by one
    step, or sits exactly on it; the report says which cut took which."""
    rows = [
        ("clean", _flags(), True),
        ("vbroadM at 1", _flags(vbroadM=1), True),
        ("vbroadG at 2", _flags(vbroadG=2), False),
        ("vradT at 9", _flags(vradT=9), False),
        ("fluxNoise at 3", _flags(fluxNoise=3), True),
        ("fluxNoise at 4", _flags(fluxNoise=4), False),
        ("extrapol at 2", _flags(extrapol=2), True),
        ("extrapol at 3", _flags(extrapol=3), False),
        ("emission 9", _flags(emission=9), True),  # medium: spectrum flags free
        ("KM giant 2", _flags(KMgiantPar=2), False),
        ("no flags", "", False),
    ]
    t = Table({"name": [r[0] for r in rows], "flags_gspspec": [r[1] for r in rows]})
    kept, report = apply_cuts(t, "gspspec_flags")
    assert list(kept["name"]) == [r[0] for r in rows if r[2]]
    assert list(report["cut"]) == [c.name for c in CUT_PRESETS["gspspec_flags"]]
    removed = dict(zip(report["cut"], report["n_removed"]))
    # the empty string goes at the first cut, with the vbroadG row
    assert removed == {
        "gspspec_vbroad": 2,
        "gspspec_vrad": 1,
        "gspspec_flux_noise": 1,
        "gspspec_extrapol": 1,
        "gspspec_spectrum": 0,
        "gspspec_kmgiant": 1,
    }
    # best quality: vbroad, vrad, fluxNoise and the spectrum flags must be 0
    best, _ = apply_cuts(t, "gspspec_flags", thresholds=gspspec.BEST_QUALITY)
    assert list(best["name"]) == ["clean", "extrapol at 2"]
    assert cut_parameters("gspspec_flags") == frozenset(gspspec.MEDIUM_QUALITY)
    # a DataFrame's object column reads the same
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"name": t["name"], "flags_gspspec": list(t["flags_gspspec"])})
    kept_df, _ = apply_cuts(df, "gspspec_flags")
    assert list(kept_df["name"]) == list(kept["name"])
    with pytest.raises(MissingColumnsError, match="flags_gspspec"):
        apply_cuts(Table({"mh_gspspec": [0.0]}), "gspspec_flags")


def test_flags_gspspec_read_as_text(tmp_path):
    """A CSV or ECSV gaia_giants file keeps the flags' leading zeros."""
    giants = fastgrad.make_survey("gaia_giants", 100, seed=2)["gaia"]
    flags = np.array([_flags(extrapol=i % 5) for i in range(len(giants))])
    giants["flags_gspspec"] = flags
    for name in ("g.csv", "g.ecsv"):
        path = tmp_path / name
        giants.write(path, overwrite=True)
        read = fastgrad.read_catalog(path, kind="gaia_giants")
        np.testing.assert_array_equal(np.asarray(read["flags_gspspec"], dtype=str), flags)
