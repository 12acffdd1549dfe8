"""Tests of fastgrad.crossmatch: the one-to-one 2" positional match.

References: astropy's SkyCoord.directional_offset_by for the offsets and the
real Gaia DR3 excerpt in tests/data.
"""

from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import Table

from fastgrad.crossmatch import crossmatch
from fastgrad.errors import InputError
from fastgrad.readers import read_catalog
from fastgrad.schema import MissingColumnsError

GAIA_SAMPLE = Path(__file__).parent / "data" / "gaia_dr3_source_sample_1000.fits"
NAN = np.nan


def offset(ra, dec, arcsec, position_angle_deg):
    c = SkyCoord(ra * u.deg, dec * u.deg).directional_offset_by(
        position_angle_deg * u.deg, arcsec * u.arcsec
    )
    return c.ra.deg, c.dec.deg


def test_crossmatch_near_misses_and_duplicates():
    right = Table(
        {
            "source_id": np.array([1, 2, 3, 4, 5], dtype=np.int64),
            "ra": [10.0, 50.0, 200.0, 300.0, 120.0],
            "dec": [0.0, 60.0, -30.0, 80.0, 45.0],
        }
    )
    lefts = [
        offset(10.0, 0.0, 1.9, 0.0),  # 0: 1.9" north of 1 -> match
        offset(50.0, 60.0, 2.1, 0.0),  # 1: 2.1" north of 2 -> no match
        offset(300.0, 80.0, 1.9, 90.0),  # 2: 1.9" east of 4 at dec 80 (5.5 deg in RA)
        offset(120.0, 45.0, 2.1, 90.0),  # 3: 2.1" east of 5 -> no match
        offset(200.0, -30.0, 1.0, 45.0),  # 4: 1.0" from 3 -> loses to row 5
        offset(200.0, -30.0, 0.5, 200.0),  # 5: 0.5" from 3 -> wins
        (np.nan, 0.0),  # 6: no position
    ]
    left = Table(
        {"obsid": np.arange(len(lefts)), "ra": [p[0] for p in lefts], "dec": [p[1] for p in lefts]}
    )
    m, li, ri = crossmatch(left, right, suffixes=("_lamost", ""), return_indices=True)
    np.testing.assert_array_equal(m["obsid"], [0, 2, 5])
    np.testing.assert_array_equal(m["source_id"], [1, 4, 3])
    np.testing.assert_array_equal(li, [0, 2, 5])
    np.testing.assert_array_equal(ri, [0, 3, 2])
    assert "ra_lamost" in m.colnames and "ra" in m.colnames and "dec_lamost" in m.colnames
    np.testing.assert_allclose(m["ra"], right["ra"][ri])
    ref = (
        SkyCoord(left["ra"][li] * u.deg, left["dec"][li] * u.deg)
        .separation(SkyCoord(right["ra"][ri] * u.deg, right["dec"][ri] * u.deg))
        .arcsec
    )
    np.testing.assert_allclose(m["separation"], ref, atol=1e-9)
    np.testing.assert_allclose(m["separation"], [1.9, 1.9, 0.5], atol=1e-6)
    assert m["separation"].unit == u.arcsec
    rep = m.meta["crossmatch"]
    assert rep == {
        "radius_arcsec": 2.0,
        "n_left": 7,
        "n_right": 5,
        "n_left_bad_position": 1,
        "n_right_bad_position": 0,
        "n_within_radius": 4,
        "n_matched": 3,
        "n_duplicates_dropped": 1,
        "n_right_multiply_claimed": 1,
        "n_left_unmatched": 4,
        "n_right_unmatched": 2,
    }
    # a wider radius catches the 2.1" near misses
    m3 = crossmatch(left, right, radius=2.2 * u.arcsec)
    assert m3.meta["crossmatch"]["n_matched"] == 5
    assert "ra_1" in m3.colnames and "ra_2" in m3.colnames


def test_crossmatch_ties_go_to_lower_index():
    right = Table({"ra": [0.0], "dec": [0.0]})
    a = offset(0.0, 0.0, 1.0, 0.0)
    b = offset(0.0, 0.0, 1.0, 180.0)
    left = Table({"k": [7, 8], "ra": [a[0], b[0]], "dec": [a[1], b[1]]})
    m = crossmatch(left, right)
    assert list(m["k"]) == [7]


@pytest.mark.parametrize("n_left, n_right", [(0, 3), (3, 0), (0, 0)])
def test_crossmatch_empty(n_left, n_right):
    left = Table(
        {"obsid": np.arange(n_left), "ra": np.linspace(0, 1, n_left), "dec": np.zeros(n_left)}
    )
    right = Table(
        {
            "source_id": np.arange(n_right),
            "ra": np.linspace(0, 1, n_right),
            "dec": np.zeros(n_right),
        }
    )
    m = crossmatch(left, right)
    assert len(m) == 0
    assert {"obsid", "source_id", "ra_1", "ra_2", "separation"} <= set(m.colnames)
    rep = m.meta["crossmatch"]
    assert rep["n_matched"] == 0 and rep["n_left_unmatched"] == n_left
    assert rep["n_right_unmatched"] == n_right


def test_crossmatch_recovers_gaia_sources():
    gaia = read_catalog(GAIA_SAMPLE, kind="gaia")
    rng = np.random.default_rng(3)
    pick = rng.choice(len(gaia), 200, replace=False)
    ra, dec = offset(
        np.asarray(gaia["ra"][pick]),
        np.asarray(gaia["dec"][pick]),
        rng.uniform(0, 1.5, 200),
        rng.uniform(0, 360, 200),
    )
    lamost = Table({"obsid": np.arange(200), "ra": ra, "dec": dec})
    m = crossmatch(lamost, gaia, suffixes=("_lamost", ""))
    assert len(m) == 200
    np.testing.assert_array_equal(m["source_id"], gaia["source_id"][pick])
    assert m["ra"].unit == u.deg and m["parallax"].unit == u.mas


def test_crossmatch_bad_arguments():
    t = Table({"ra": [0.0], "dec": [0.0]})
    with pytest.raises(ValueError, match="suffixes"):
        crossmatch(t, t, suffixes=("", ""))
    with pytest.raises(MissingColumnsError, match="RAJ2000"):
        crossmatch(t, t, left_coords=("RAJ2000", "DEJ2000"))
    with pytest.raises(ValueError, match="radius"):
        crossmatch(t, t, radius=-1 * u.arcsec)


@pytest.mark.parametrize("which", ["left", "right"])
@pytest.mark.parametrize(
    "dec, what", [(95.0, "dec outside"), (-90.5, "dec outside"), (np.inf, "dec outside")]
)
def test_crossmatch_refuses_off_sky_dec(which, dec, what):
    good = Table({"ra": [1.0, 2.0, 3.0], "dec": [0.0, 10.0, 20.0]})
    bad = good.copy()
    bad["dec"][1] = dec
    bad.meta["catalog"] = {"source": "lamost.fits"}
    args = (bad, good) if which == "left" else (good, bad)
    with pytest.raises(InputError) as info:
        crossmatch(*args)
    msg = str(info.value)
    assert msg.startswith(f"{which} ('lamost.fits'), column 'dec'") and what in msg
    assert "(rows 1)" in msg


def test_crossmatch_refuses_infinite_ra_counts_nan():
    t = Table({"ra": [1.0, np.inf], "dec": [0.0, 0.0]})
    with pytest.raises(InputError, match=r"left, column 'ra'.*infinite ra.*rows 1\)"):
        crossmatch(t, Table({"ra": [1.0], "dec": [0.0]}))
    # a missing (NaN) position stays a counted exclusion
    t["ra"][1] = NAN
    m = crossmatch(t, Table({"ra": [1.0], "dec": [0.0]}))
    assert m.meta["crossmatch"]["n_left_bad_position"] == 1 and len(m) == 1
    # 90 exactly is on the sky
    assert (
        len(crossmatch(Table({"ra": [0.0], "dec": [90.0]}), Table({"ra": [180.0], "dec": [90.0]})))
        == 1
    )


def test_crossmatch_radius_units():
    right = Table({"ra": [0.0], "dec": [0.0]})
    ra, dec = offset(0.0, 0.0, 10.0, 0.0)  # 10 arcsec north
    left = Table({"ra": [ra], "dec": [dec]})
    assert len(crossmatch(left, right, radius=2)) == 0  # plain number: arcsec
    assert len(crossmatch(left, right, radius=11)) == 1
    assert len(crossmatch(left, right, radius=0.5 * u.arcmin)) == 1
    assert crossmatch(left, right, radius=0.5 * u.arcmin).meta["crossmatch"][
        "radius_arcsec"
    ] == pytest.approx(30.0, rel=1e-15)
    with pytest.raises(u.UnitConversionError, match="radius.*arcsec.*kpc"):
        crossmatch(left, right, radius=2 * u.kpc)
    with pytest.raises(TypeError, match="radius"):
        crossmatch(left, right, radius="2 arcsec")
    with pytest.raises(ValueError, match="radius.*finite"):
        crossmatch(left, right, radius=np.nan)


def test_crossmatch_many_to_one_keeps_every_spectrum():
    # two spectra of one star (0.5" and 1.0" from it) and one of another
    right = Table(
        {"source_id": np.array([10, 20], dtype=np.int64), "ra": [30.0, 60.0], "dec": [10.0, -5.0]}
    )
    spots = [
        offset(30.0, 10.0, 1.0, 10.0),
        offset(60.0, -5.0, 0.7, 100.0),
        offset(30.0, 10.0, 0.5, 250.0),
        offset(90.0, 0.0, 0.1, 0.0),
    ]
    left = Table({"obsid": [1, 2, 3, 4], "ra": [p[0] for p in spots], "dec": [p[1] for p in spots]})
    one = crossmatch(left, right)
    many, li, ri = crossmatch(left, right, one_to_one=False, return_indices=True)
    assert list(one["obsid"]) == [2, 3]  # the nearer spectrum of star 10 only
    assert list(many["obsid"]) == [1, 2, 3] and list(many["source_id"]) == [10, 20, 10]
    np.testing.assert_array_equal(li, [0, 1, 2])
    np.testing.assert_array_equal(ri, [0, 1, 0])
    np.testing.assert_allclose(many["separation"], [1.0, 0.7, 0.5], atol=1e-6)
    rep = many.meta["crossmatch"]
    assert rep["n_matched"] == 3 and rep["n_duplicates_dropped"] == 0
    assert rep["n_right_multiply_claimed"] == 1 and rep["n_right_unmatched"] == 0
    assert rep["n_left_unmatched"] == 1
    assert one.meta["crossmatch"]["n_duplicates_dropped"] == 1
