"""Tests of fastgrad.catalogs.read_catalog on broken files (issue 12).

Each case writes a good file with astropy in tmp_path, then empties, truncates
or garbles it: the error must be an InputError (a ValueError) naming the file
and the format, never a bare parser message, and never a short read.
"""

import warnings

import numpy as np
import pytest
from astropy.table import MaskedColumn, Table

from fastgrad.errors import InputError
from fastgrad.readers import read_catalog

FORMATS = {
    "fits": ("fits", "fits"),
    "votable": ("vot", "votable"),
    "csv": ("csv", "ascii.csv"),
    "ecsv": ("ecsv", "ascii.ecsv"),
    "parquet": ("parquet", "parquet"),
}
# Gaia DR3 source_ids run to ~6.9e18: far above 2**53, where float64 loses digits
BIG_IDS = np.array(
    [2**62 + 1, 2**62 + 3, 5_000_000_000_000_000_001, 6_917_528_997_577_384_319], dtype=np.int64
)


def bailer_jones(n=40):
    ids = np.arange(n, dtype=np.int64) * 7919 + 2**60 + 1
    return Table(
        {
            "source_id": ids,
            "r_med_geo": np.linspace(100.0, 5000.0, n),
            "r_lo_geo": np.linspace(90.0, 4000.0, n),
            "r_hi_geo": np.linspace(110.0, 6000.0, n),
        }
    )


def write(table, path, fmt):
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table.write(path, format=FORMATS[fmt][1], overwrite=True)


def good_file(tmp_path, fmt, table=None, name="bj"):
    path = tmp_path / f"{name}.{FORMATS[fmt][0]}"
    write(bailer_jones() if table is None else table, path, fmt)
    return path


def assert_names_file(info, path, fmt):
    msg = str(info.value)
    assert str(path) in msg
    assert fmt in msg
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_good_file_reads(tmp_path, fmt):
    t = read_catalog(good_file(tmp_path, fmt), kind="bailer_jones")
    assert len(t) == 40


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_empty_file(tmp_path, fmt):
    path = good_file(tmp_path, fmt)
    path.write_bytes(b"")
    with pytest.raises(InputError, match="empty \\(0 bytes\\)") as info:
        read_catalog(path, kind="bailer_jones")
    assert_names_file(info, path, fmt)


@pytest.mark.parametrize("fmt", ["fits", "votable", "ecsv", "parquet"])
@pytest.mark.parametrize("keep", [0.5, 0.9, 10])
def test_truncated_file(tmp_path, fmt, keep):
    # the table big enough that 90 % cuts the data, not only the header
    table = bailer_jones(3000)
    path = good_file(tmp_path, fmt, table)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)] if keep < 1 else data[:keep])
    with pytest.raises(InputError) as info:
        read_catalog(path, kind="bailer_jones")
    assert_names_file(info, path, fmt)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_garbled_file(tmp_path, fmt):
    path = good_file(tmp_path, fmt)
    n = len(path.read_bytes())
    path.write_bytes(np.random.default_rng(0).integers(0, 256, n, dtype=np.uint8).tobytes())
    with pytest.raises(InputError) as info:
        read_catalog(path, kind="bailer_jones")
    assert_names_file(info, path, fmt)
    assert "cannot be read as" in str(info.value)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_no_rows(tmp_path, fmt):
    path = good_file(tmp_path, fmt, bailer_jones()[:0])
    with pytest.raises(InputError, match="no rows") as info:
        read_catalog(path, kind="bailer_jones")
    assert_names_file(info, path, fmt)
    assert "allow_empty" in str(info.value)
    t = read_catalog(path, kind="bailer_jones", allow_empty=True)
    assert len(t) == 0 and "r_med_geo" in t.colnames


def test_fits_without_table(tmp_path):
    from astropy.io import fits

    path = tmp_path / "image.fits"
    fits.PrimaryHDU(np.zeros((4, 4))).writeto(path)
    with pytest.raises(InputError, match="(?i)no table") as info:
        read_catalog(path, kind="bailer_jones")
    assert_names_file(info, path, "fits")


def test_votable_without_table(tmp_path):
    path = tmp_path / "empty.vot"
    path.write_text(
        '<?xml version="1.0"?>\n<VOTABLE version="1.4" '
        'xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE/></VOTABLE>\n'
    )
    with pytest.raises(InputError, match="(?i)no table") as info:
        read_catalog(path, kind="bailer_jones")
    assert_names_file(info, path, "votable")


def test_csv_of_blank_lines(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("\n  \n\n")
    with pytest.raises(InputError) as info:
        read_catalog(path)
    assert_names_file(info, path, "csv")


def test_missing_file_stays_file_not_found(tmp_path):
    path = tmp_path / "nowhere" / "bj.fits"
    with pytest.raises(FileNotFoundError) as info:
        read_catalog(path, kind="bailer_jones")
    assert str(path) in str(info.value)


# ---------------------------------------------------------------------------
# CSV rows with the wrong number of fields (pandas would fill them with NaN)
# ---------------------------------------------------------------------------


def test_csv_cut_mid_row(tmp_path):
    path = good_file(tmp_path, "csv")
    lines = path.read_text().splitlines(keepends=True)
    # header + 40 rows; keep 20 rows and half of the 21st (line 22)
    cut = "".join(lines[:21]) + lines[21][: len(lines[21]) // 2]
    assert cut.count(",") < 3 * 21 + 3  # the last line really lost fields
    path.write_text(cut)
    with pytest.raises(InputError, match=r"line 22 has [12]\b") as info:
        read_catalog(path, kind="bailer_jones")
    assert_names_file(info, path, "csv")
    assert "truncated" in str(info.value) and "4 fields" in str(info.value)


@pytest.mark.parametrize(
    "bad_line, expected", [("1,2.0,3.0\n", "line 3 has 3"), ("1,2.0,3.0,4.0,5.0\n", "line 3 has 5")]
)
def test_csv_row_with_wrong_field_count(tmp_path, bad_line, expected):
    path = tmp_path / "bj.csv"
    path.write_text(
        "source_id,r_med_geo,r_lo_geo,r_hi_geo\n7,10.0,9.0,11.0\n" + bad_line + "8,20.0,19.0,21.0\n"
    )
    with pytest.raises(InputError, match=expected) as info:
        read_catalog(path, kind="bailer_jones")
    assert_names_file(info, path, "csv")


def test_csv_quoted_fields_and_blank_lines_are_fine(tmp_path):
    path = tmp_path / "quoted.csv"
    path.write_text(
        'source_id,name,r_med_geo,r_lo_geo,r_hi_geo\n7,"a, b",10.0,9.0,11.0\n\n'
        '8,"line\nbreak",20.0,19.0,21.0\n9,,30.0,29.0,31.0\n'
    )
    t = read_catalog(path, kind="bailer_jones")
    assert list(t["source_id"]) == [7, 8, 9] and t["name"][0] == "a, b"


def test_csv_duplicate_header_names(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("source_id,r_med_geo,r_lo_geo,r_hi_geo,r_med_geo\n7,10.0,9.0,11.0,12.0\n")
    with pytest.raises(InputError, match="repeats column name.*r_med_geo") as info:
        read_catalog(path, kind="bailer_jones")
    assert_names_file(info, path, "csv")


# ---------------------------------------------------------------------------
# identifiers: exact 64-bit integers, a missing one named
# ---------------------------------------------------------------------------


def test_csv_ids_are_exact_int64(tmp_path):
    t = bailer_jones(len(BIG_IDS))
    t["source_id"] = BIG_IDS
    path = good_file(tmp_path, "csv", t)
    out = read_catalog(path, kind="bailer_jones")
    assert out["source_id"].dtype == np.int64
    np.testing.assert_array_equal(out["source_id"], BIG_IDS)


@pytest.mark.parametrize("header", ["source_id", "Source"])
def test_csv_blank_id_named(tmp_path, header):
    path = tmp_path / "bj.csv"
    rows = [f"{i},10.0,9.0,11.0" for i in BIG_IDS]
    rows[2] = ",10.0,9.0,11.0"  # row 2 (file line 4) lost its id
    path.write_text(f"{header},r_med_geo,r_lo_geo,r_hi_geo\n" + "\n".join(rows) + "\n")
    with pytest.raises(InputError) as info:
        read_catalog(path, kind="bailer_jones")
    msg = str(info.value)
    assert str(path) in msg and "'source_id'" in msg and "(rows 2)" in msg
    assert "1 row(s)" in msg


def test_csv_user_mapped_id_column(tmp_path):
    path = tmp_path / "bj.csv"
    path.write_text(
        "GaiaDR3,r_med_geo,r_lo_geo,r_hi_geo\n" + "".join(f"{i},10.0,9.0,11.0\n" for i in BIG_IDS)
    )
    out = read_catalog(path, kind="bailer_jones", columns={"GaiaDR3": "source_id"})
    np.testing.assert_array_equal(out["source_id"], BIG_IDS)


@pytest.mark.parametrize("fmt", ["fits", "ecsv", "votable", "parquet"])
def test_masked_id_named_in_any_format(tmp_path, fmt):
    t = bailer_jones(len(BIG_IDS))
    t["source_id"] = MaskedColumn(BIG_IDS, mask=[False, True, False, True])
    path = good_file(tmp_path, fmt, t)
    with pytest.raises(InputError) as info:
        read_catalog(path, kind="bailer_jones")
    msg = str(info.value)
    assert str(path) in msg and "'source_id'" in msg and "(rows 1, 3)" in msg


@pytest.mark.parametrize("fmt", ["fits", "ecsv", "votable", "parquet"])
def test_ids_exact_in_every_format(tmp_path, fmt):
    t = bailer_jones(len(BIG_IDS))
    t["source_id"] = BIG_IDS
    out = read_catalog(good_file(tmp_path, fmt, t), kind="bailer_jones")
    assert out["source_id"].dtype.kind in "iu" and not isinstance(out["source_id"], MaskedColumn)
    np.testing.assert_array_equal(np.asarray(out["source_id"]), BIG_IDS)


def test_float_ids_exact_or_refused(tmp_path):
    # obsid-sized floats are exact in float64: converted; source_id-sized are not
    small = Table(
        {
            "source_id": np.array([1.0, 2.0, 3.0]),
            "r_med_geo": [10.0] * 3,
            "r_lo_geo": [9.0] * 3,
            "r_hi_geo": [11.0] * 3,
        }
    )
    out = read_catalog(good_file(tmp_path, "fits", small), kind="bailer_jones")
    assert out["source_id"].dtype == np.int64 and list(out["source_id"]) == [1, 2, 3]
    big = small.copy()
    big["source_id"] = BIG_IDS[:3].astype(np.float64)
    path = good_file(tmp_path, "fits", big, name="big")
    with pytest.raises(InputError, match="2\\*\\*53.*rows 0, 1, 2") as info:
        read_catalog(path, kind="bailer_jones")
    assert str(path) in str(info.value)


# ---------------------------------------------------------------------------
# numeric columns that are not numbers, units that are not units
# ---------------------------------------------------------------------------


def test_csv_word_in_numeric_column_named(tmp_path):
    path = tmp_path / "bj.csv"
    path.write_text(
        "source_id,r_med_geo,r_lo_geo,r_hi_geo\n7,10.0,9.0,11.0\n8,n/a?,19.0,21.0\n9,,29.0,31.0\n"
    )
    with pytest.raises(
        InputError,
        match=r"'r_med_geo'.*1 row\(s\) are not numbers "
        r"\(e.g. 'n/a\?'\).*rows 1\)",
    ) as info:
        read_catalog(path, kind="bailer_jones")
    assert str(path) in str(info.value)
    path.write_text("source_id,r_med_geo,r_lo_geo,r_hi_geo\n7,10.0,9.0,11.0\n9,,29.0,31.0\n")
    t = read_catalog(path, kind="bailer_jones")  # a blank is a missing value: NaN
    assert t["r_med_geo"].dtype == np.float64 and np.isnan(t["r_med_geo"][1])


def test_unreadable_unit_on_canonical_column_named(tmp_path):
    import astropy.units as u

    t = bailer_jones(3)
    t["r_med_geo"].unit = u.Unit("parsecs_ish", parse_strict="silent")
    path = good_file(tmp_path, "ecsv", t)
    with pytest.raises(InputError, match="'r_med_geo'.*parsecs_ish.*pc") as info:
        read_catalog(path, kind="bailer_jones")
    assert str(path) in str(info.value)
