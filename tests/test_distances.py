"""Tests of fastgrad.distances: the Bailer-Jones join and the kpc distances.

References are hand-built tables whose joins and distances are known by
construction.
"""

import astropy.units as u
import numpy as np
import pytest
from astropy.table import MaskedColumn, Table

from fastgrad.crossmatch import crossmatch
from fastgrad.cuts import apply_cuts
from fastgrad.distances import add_distances, join_distances
from fastgrad.errors import InputError
from fastgrad.readers import standardize_columns
from fastgrad.schema import MissingColumnsError

NAN = np.nan


def test_add_distances_values_and_units():
    t = Table(
        {
            "r_med_geo": [1000.0, 2500.0, NAN],
            "r_lo_geo": [900.0, 2000.0, 1.0],
            "r_hi_geo": [1200.0, 3200.0, 2.0],
        }
    )
    for c in t.colnames:
        t[c].unit = u.pc
    out = add_distances(t)
    np.testing.assert_allclose(out["distance"], [1.0, 2.5, NAN])
    np.testing.assert_allclose(out["distance_error"], [0.15, 0.6, 0.0005])
    assert out["distance"].unit == u.kpc and out["distance_error"].unit == u.kpc
    assert "distance" not in t.colnames
    tk = Table({c: (np.asarray(t[c]) / 1000.0) * u.kpc for c in t.colnames})
    np.testing.assert_allclose(add_distances(tk)["distance_error"], [0.15, 0.6, 0.0005])
    add_distances(t, copy=False)
    assert "distance" in t.colnames
    with pytest.raises(MissingColumnsError, match="r_hi_geo"):
        add_distances(Table({"r_med_geo": [1.0], "r_lo_geo": [1.0]}))


def test_join_distances_inner_left_and_duplicates():
    stars = Table(
        {"source_id": np.array([10, 11, 12, 13], dtype=np.int64), "x": [1.0, 2.0, 3.0, 4.0]}
    )
    bj = Table(
        {
            "source_id": np.array([13, 99, 10, 12], dtype=np.int64),
            "r_med_geo": [1300.0, 9.0, 1000.0, 1200.0],
            "r_lo_geo": [1290.0, 8.0, 990.0, 1190.0],
            "r_hi_geo": [1310.0, 10.0, 1010.0, 1210.0],
        }
    )
    bj["r_med_geo"].unit = u.pc
    inner = join_distances(stars, bj)
    np.testing.assert_array_equal(inner["source_id"], [10, 12, 13])
    np.testing.assert_array_equal(inner["r_med_geo"], [1000.0, 1200.0, 1300.0])
    assert inner["r_med_geo"].unit == u.pc
    assert inner.meta["distance_join"] == {"n_in": 4, "n_without_distance": 1, "n_out": 3}
    left = join_distances(stars, bj, join_type="left")
    np.testing.assert_array_equal(left["r_lo_geo"], [990.0, NAN, 1190.0, 1290.0])
    assert len(join_distances(stars, bj[:0])) == 0
    dup = bj.copy()
    dup["source_id"][1] = 10
    with pytest.raises(ValueError, match="duplicated"):
        join_distances(stars, dup)
    # consume=True: the same joins, the input's columns moved into the result
    for how, ref in (("inner", inner), ("left", left)):
        src = Table(stars, copy=True)
        moved = join_distances(src, bj, join_type=how, consume=True)
        assert src.colnames == [] and moved.meta == ref.meta
        for name in ref.colnames:
            np.testing.assert_array_equal(moved[name], ref[name])
    assert stars.colnames == ["source_id", "x"]  # consume=False left it whole


def bj_table(ids, **columns):
    n = len(ids)
    t = Table(
        {
            "source_id": ids,
            "r_med_geo": np.full(n, 1000.0),
            "r_lo_geo": np.full(n, 900.0),
            "r_hi_geo": np.full(n, 1100.0),
        }
    )
    for k, v in columns.items():
        t[k] = v
    return t


def test_join_distances_str_digits_against_int_ids():
    # a VOTable/CSV may give ids as strings of digits: converted exactly, even above 2**53
    big = np.array([2**62 + 1, 2**62 + 2, 6_917_528_997_577_384_319], dtype=np.int64)
    stars = Table({"source_id": big, "x": [1.0, 2.0, 3.0]})
    bj = bj_table(np.array([str(i) for i in big[::-1]]), r_med_geo=[3.0, 2.0, 1.0])
    out = join_distances(stars, bj)
    np.testing.assert_array_equal(out["source_id"], big)
    np.testing.assert_array_equal(out["r_med_geo"], [1.0, 2.0, 3.0])
    # the other way round, and with blanks around the digits
    out = join_distances(Table({"source_id": [" 11", "12 "]}), bj_table(np.array([12, 11])))
    assert len(out) == 2


def test_join_distances_incompatible_ids_named():
    stars = Table({"source_id": np.array(["Gaia DR3 11", "Gaia DR3 12"]), "x": [1.0, 2.0]})
    bj = bj_table(np.array([11, 12], dtype=np.int64))
    with pytest.raises(TypeError) as info:
        join_distances(stars, bj)
    msg = str(info.value)
    assert "table['source_id']" in msg and "distances['source_id']" in msg
    assert "<U11" in msg and "int64" in msg


def test_join_distances_int64_with_uint64_exact():
    # numpy compares int64 with uint64 through float64: 2**62 + 1 would equal 2**62
    stars = Table({"source_id": np.array([2**62 + 1], dtype=np.int64)})
    bj = bj_table(np.array([2**62, 2**62 + 1], dtype=np.uint64), r_med_geo=[5.0, 7.0])
    out = join_distances(stars, bj)
    assert list(out["r_med_geo"]) == [7.0]


def test_join_distances_no_match_raises():
    stars = Table({"source_id": np.array([1, 2], dtype=np.int64)})
    with pytest.raises(InputError, match="no source_id of table.*same identifier"):
        join_distances(stars, bj_table(np.array([3, 4], dtype=np.int64)))
    with pytest.raises(InputError, match="no source_id"):
        join_distances(stars, bj_table(np.array([3, 4], dtype=np.int64)), join_type="left")
    # empty inputs are not an error: nothing to match
    assert len(join_distances(stars[:0], bj_table(np.array([3], dtype=np.int64)))) == 0


def test_join_distances_masked_or_float_keys_named():
    stars = Table({"source_id": MaskedColumn(np.array([1, 2, 3]), mask=[False, True, False])})
    with pytest.raises(InputError, match=r"table\['source_id'\].*1 row\(s\).*rows 1\)"):
        join_distances(stars, bj_table(np.array([1, 3])))
    floats = Table({"source_id": np.array([1.0, float(2**62)])})
    with pytest.raises(InputError, match=r"2\*\*53.*rows 1\)"):
        join_distances(floats, bj_table(np.array([1, 3])))


@pytest.mark.parametrize(
    "column, values, expected",
    [
        ("r_lo_geo", [900.0, 1200.0, 900.0], r"'r_lo_geo' > 'r_hi_geo'.*rows 1\)"),
        ("r_med_geo", [1000.0, -1.0, 0.0], r"'r_med_geo'.*2 row\(s\).*rows 1, 2\)"),
        ("r_hi_geo", [1100.0, np.inf, 1100.0], r"'r_hi_geo'.*infinite.*rows 1\)"),
        ("r_med_geo", [1000.0, 1000.0, 1150.0], r"outside \[r_lo_geo, r_hi_geo\].*rows 2\)"),
    ],
)
def test_add_distances_refuses_impossible_percentiles(column, values, expected):
    t = bj_table(np.arange(3))
    t[column] = values
    with pytest.raises(InputError, match=expected):
        add_distances(t)


def test_add_distances_vizier_layout_checked(tmp_path):
    # VizieR's b_rgeo/B_rgeo swapped by hand: the same check after the name map
    bj = Table(
        {
            "Source": np.array([5, 6], dtype=np.int64),
            "rgeo": [1000.0, 2000.0],
            "b_rgeo": [1100.0, 2100.0],
            "B_rgeo": [900.0, 1900.0],
        }
    )
    t = standardize_columns(bj, kind="bailer_jones")
    with pytest.raises(InputError, match="'r_lo_geo' > 'r_hi_geo'.*rows 0, 1"):
        add_distances(t)


def test_add_distances_nan_is_no_distance():
    t = bj_table(np.arange(2), r_lo_geo=[900.0, NAN])
    out = add_distances(t)
    assert np.isfinite(out["distance_error"][0]) and np.isnan(out["distance_error"][1])


@pytest.mark.parametrize(
    "call",
    [
        lambda x: crossmatch(x, Table({"ra": [0.0], "dec": [0.0]})),
        lambda x: join_distances(x, bj_table(np.array([1]))),
        lambda x: add_distances(x),
        lambda x: apply_cuts(x, "astrometric"),
    ],
)
def test_wrong_table_type_named(call):
    with pytest.raises(
        TypeError, match="expected an astropy Table or a pandas DataFrame, got (dict|ndarray)"
    ):
        call({"ra": [0.0], "dec": [0.0]})
