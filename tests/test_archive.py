"""fastgrad.archive and `fastgrad query`: the archive queries of each preset.

Every query must parse as ADQL (queryparser, an independent ADQL grammar); the
WHERE clause written from the cuts' thresholds must keep exactly the rows the
local cuts keep, checked by evaluating the ADQL text itself with the small
evaluator below (written from the ADQL grammar, not from fastgrad.archive);
the network path runs against a fake TAP service that executes the queries on
a local table, so the files it writes go through fastgrad's readers, join and
cuts to the same stars as the full table.
"""

import operator
import os
import re
import warnings
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import astropy.units as u
import numpy as np
import pytest
from astropy.table import Table, join

import fastgrad
from fastgrad import archive
from fastgrad.cli import main
from fastgrad.cuts import evaluate_cuts, get_cuts
from fastgrad.errors import ConfigError, InputError, OutputError
from fastgrad.schema import CATALOG_SCHEMAS, column_values

DATA = Path(__file__).parent / "data"
ALL_QUERIES = [(p, name) for p in archive.PRESETS for name in archive.PRESETS[p]]


# -- an evaluator of ADQL WHERE clauses (AND/OR, comparisons, + - * /, IS [NOT] NULL) --

_TOKEN = re.compile(
    r"\s*(?:(\d+\.\d*(?:[eE][-+]?\d+)?|\.\d+|\d+(?:[eE][-+]?\d+)?)"
    r"|([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?)|(<=|>=|<>|!=|[-+*/()<>=]))"
)
_COMPARE = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "=": operator.eq,
    "<>": operator.ne,
    "!=": operator.ne,
}


class _Backtrack(Exception):
    pass


class WhereEvaluator:
    """Rows of ``table`` that an ADQL WHERE clause keeps (a NULL -- NaN or
    masked -- compares false, as in SQL's three-valued logic without NOT)."""

    def __init__(self, text, table):
        self.tokens, pos = [], 0
        text = text.strip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            assert m and m.end() > pos, f"cannot tokenise {text[pos : pos + 20]!r}"
            number, name, op = m.groups()
            self.tokens.append(
                ("num", float(number)) if number else ("name", name) if name else ("op", op)
            )
            pos = m.end()
        self.i, self.table = 0, table

    def _peek(self, value=None):
        tok = self.tokens[self.i] if self.i < len(self.tokens) else (None, None)
        if value is None:
            return tok
        return tok[1] is not None and str(tok[1]).upper() == value

    def _take(self, value=None):
        tok = self._peek()
        if value is not None and not self._peek(value):
            raise _Backtrack(f"expected {value}, got {tok}")
        self.i += 1
        return tok

    def rows(self):
        mask = self._or()
        assert self.i == len(self.tokens), f"trailing tokens {self.tokens[self.i :]}"
        return np.broadcast_to(mask, (len(self.table),)).copy()

    def _or(self):
        value = self._and()
        while self._peek("OR"):
            self._take()
            value = value | self._and()
        return value

    def _and(self):
        value = self._predicate()
        while self._peek("AND"):
            self._take()
            value = value & self._predicate()
        return value

    def _predicate(self):
        start = self.i
        try:
            return self._comparison()
        except _Backtrack:
            self.i = start
            self._take("(")
            value = self._or()
            self._take(")")
            return value

    def _comparison(self):
        left = self._sum()
        if self._peek("IS"):
            self._take()
            negate = self._peek("NOT")
            if negate:
                self._take()
            self._take("NULL")
            return np.isfinite(left) if negate else ~np.isfinite(left)
        kind, op = self._take()
        if kind != "op" or op not in _COMPARE:
            raise _Backtrack(f"no comparison at {op!r}")
        with np.errstate(invalid="ignore"):
            return _COMPARE[op](left, self._sum())

    def _sum(self):
        value = self._product()
        while self._peek("+") or self._peek("-"):
            op = self._take()[1]
            value = value + self._product() if op == "+" else value - self._product()
        return value

    def _product(self):
        value = self._factor()
        while self._peek("*") or self._peek("/"):
            op = self._take()[1]
            with np.errstate(divide="ignore", invalid="ignore"):
                value = value * self._factor() if op == "*" else value / self._factor()
        return value

    def _factor(self):
        kind, tok = self._take()
        if kind == "num":
            return tok
        if kind == "op" and tok == "-":
            return -self._factor()
        if kind == "op" and tok == "(":
            value = self._sum()
            self._take(")")
            return value
        if kind == "name" and "." in tok:  # alias.column: every column of the query is qualified
            return column_values(self.table, tok.split(".", 1)[1])
        raise _Backtrack(f"unexpected {tok!r}")


def _where(adql):
    return adql.split("\nWHERE ", 1)[1] if "\nWHERE " in adql else None


def _selected(adql):
    head = adql.split("\nFROM ", 1)[0]
    return [line.strip().rstrip(",").split(".", 1)[1] for line in head.splitlines()[1:]]


def test_evaluator_reads_sql_null_logic():
    t = Table({"a": [1.0, np.nan, 3.0, 5.0], "b": [2.0, 2.0, np.nan, 1.0]})

    def ev(text):
        return WhereEvaluator(text, t).rows().tolist()

    assert ev("x.a < 4") == [True, False, True, False]
    assert ev("x.a IS NOT NULL AND (x.b IS NULL OR x.a - x.b <= 0.5 * x.a)") == [
        True,
        False,
        True,
        False,
    ]
    assert ev("(x.a + 1) * 2 >= 8") == [False, False, True, True]


# -- every query parses as ADQL --------------------------------------------------


def _parse(adql):
    """Parse with queryparser's ADQL grammar. It takes EXTERNAL as reserved (an
    SQL-92 word), so the schema of the Bailer-Jones table is quoted for it; the
    Gaia archive writes ``external.gaiaedr3_distance`` unquoted in its own
    examples, and that is what the queries send."""
    from queryparser.adql import ADQLQueryTranslator

    return ADQLQueryTranslator(adql.replace("external.", '"external".')).to_postgresql()


@pytest.mark.parametrize("preset,name", ALL_QUERIES)
def test_every_query_parses_as_adql(preset, name):
    from queryparser.exceptions import QuerySyntaxError

    query = archive.queries(preset)[name]
    assert query.preset == preset and query.input == name
    _parse(query.adql)  # raises QuerySyntaxError otherwise
    # the parser is strict: a broken query does not get through
    with pytest.raises(QuerySyntaxError):
        _parse(query.adql.replace("FROM", "FRM", 1))
    # each alias is declared (queryparser does not check that)
    declared = set(re.findall(r"\bAS\s+(\w+)", query.adql))
    schemas = {"gaiadr3", "external", "TAP_UPLOAD", "galah_dr3"}
    used = set(re.findall(r"\b([A-Za-z_]\w*)\.[A-Za-z_]", query.adql)) - schemas
    assert used <= declared, (used, declared)
    assert query.url.startswith("https://") and query.filename.endswith(".vot")
    assert archive.describe(query).endswith(query.adql + "\n")


@pytest.mark.parametrize("astrometric", [False, True])
def test_giants_query_parses_with_every_option(astrometric):
    qs = archive.queries(
        "gspspec_giants",
        astrometric=astrometric,
        thresholds={"teff_gspspec_max": 4500 * u.K},
        extra_where="ap.flags_gspspec LIKE '0000000000000%'",
    )
    for query in qs.values():
        _parse(query.adql)
        assert "ap.teff_gspspec < 4500.0" in query.adql
        assert ("external.gaiaedr3_distance" in query.adql) == (
            astrometric or query.input == "distances"
        )


def test_inputs_are_those_of_the_sample_presets():
    samples = pytest.importorskip("fastgrad.samples")  # the presets `fastgrad run` reads
    assert set(archive.PRESETS) <= set(samples.PRESETS)
    for preset, names in archive.PRESETS.items():
        assert set(names) <= set(samples.PRESETS[preset].inputs), preset
        assert list(archive.queries(preset)) == list(names)


def test_queries_select_the_columns_of_the_catalogue_kinds():
    def names(kind):
        schema = CATALOG_SCHEMAS[kind]
        return schema.required + schema.optional

    giants = archive.queries("gspspec_giants")
    assert _selected(giants["gaia"].adql) == list(names("gaia_giants"))
    for preset in archive.PRESETS:
        qs = archive.queries(preset)
        assert _selected(qs["distances"].adql) == list(names("bailer_jones"))
        if preset != "gspspec_giants":
            assert _selected(qs["gaia"].adql) == list(names("gaia"))


# -- the giants' WHERE keeps the rows of the local cuts --------------------------


def _giants_table():
    """The mock giants with their distances (left join), plus NULLs and rows
    exactly at each threshold."""
    survey = fastgrad.make_survey("gaia_giants", 5000, seed=1)
    t = join(survey["gaia"], survey["bailer_jones"], keys="source_id", join_type="left")
    t.sort("source_id")
    t["flags_gspspec"] = "0" * 40 + "1"  # astrophysical_parameters' flag string (optional)
    assert np.ma.is_masked(t["r_med_geo"])  # 16 giants without a distance
    for name in (
        "teff_gspspec",
        "logg_gspspec",
        "mh_gspspec",
        "radial_velocity",
        "parallax_over_error",
    ):
        t[name] = np.ma.MaskedArray(np.asarray(t[name], float))
    t["teff_gspspec"][:4] = [4700.0, np.nan, 4699.999, 4700.0001]
    t["logg_gspspec"][4:7] = [2.0, np.nan, 1.9999]
    t["mh_gspspec"][7] = np.ma.masked
    t["radial_velocity"][8] = np.ma.masked
    t["radial_velocity"][9] = np.nan
    t["parallax_over_error"][10:13] = [1 / 0.3, np.nextafter(1 / 0.3, 5), np.nan]
    good = {
        "teff_gspspec": 4000.0,
        "logg_gspspec": 1.0,
        "mh_gspspec": 0.0,
        "radial_velocity": 10.0,
        "parallax_over_error": 50.0,
    }
    for name, value in good.items():  # rows 13-19 differ only in their distances
        t[name][13:20] = value
    # distances: exactly 30 %, just above, r_lo > r_hi, r_med = 0, negative, NULL
    rows = [
        (1000.0, 700.0, 1300.0),
        (1000.0, 700.0, 1300.0001),
        (1000.0, 900.0, 800.0),
        (0.0, 0.0, 0.0),
        (-5.0, -6.0, -4.0),
        (np.nan, 100.0, 120.0),
        (2000.0, 1500.0, 2500.0),
    ]
    for i, row in enumerate(rows):
        for name, value in zip(("r_med_geo", "r_lo_geo", "r_hi_geo"), row):
            t[name][13 + i] = value
    return t


def _real_rows():
    """The 1,000 real gaia_source rows (real units, masked radial velocities)
    with GSP-Spec values and distances from the mock's giants."""
    with warnings.catch_warnings():  # the archive's 'log(cm.s**-2)' and 'dex' units
        warnings.simplefilter("ignore", u.UnitsWarning)
        real = Table.read(DATA / "gaia_dr3_source_sample_1000.fits")
    mock = _giants_table()[:1000]
    t = real[
        ["source_id", "parallax", "parallax_error", "parallax_over_error", "radial_velocity"]
    ].copy()
    for name in ("teff_gspspec", "logg_gspspec", "mh_gspspec", "r_med_geo", "r_lo_geo", "r_hi_geo"):
        t[name] = mock[name]
    assert np.ma.is_masked(t["radial_velocity"])
    return t


@pytest.mark.parametrize("table", [_giants_table, _real_rows], ids=["mock", "real"])
@pytest.mark.parametrize(
    "cuts", [["gaia_giants"], ["gaia_giants", "astrometric"]], ids=["giants", "giants+astrometric"]
)
def test_where_clause_keeps_the_rows_of_the_local_cuts(table, cuts):
    t = table()
    query = archive.queries("gspspec_giants", astrometric="astrometric" in cuts)["gaia"]
    kept_by_query = WhereEvaluator(_where(query.adql), t).rows()
    kept_locally = evaluate_cuts(t, get_cuts(cuts))[0]
    np.testing.assert_array_equal(kept_by_query, kept_locally)
    assert 0 < kept_locally.sum() < len(t)  # the test can fail both ways


@pytest.mark.parametrize(
    "thresholds",
    [
        {"teff_gspspec_max": 4500.0, "logg_gspspec_max": 1.5},
        {"teff_gspspec_max": 4.3 * u.kK, "parallax_over_error_min": 10.0},
        {"distance_frac_error_max": 0.1, "rv_column": "radial_velocity"},
    ],
)
def test_where_clause_follows_the_thresholds(thresholds):
    t = _giants_table()
    cuts = ["gaia_giants", "astrometric"]
    where = archive.where_clause(cuts, thresholds)
    kept_locally = evaluate_cuts(t, get_cuts(cuts), thresholds)[0]
    np.testing.assert_array_equal(WhereEvaluator(where, t).rows(), kept_locally)
    default = evaluate_cuts(t, get_cuts(cuts))[0]
    assert kept_locally.sum() < default.sum()


def test_where_clause_refuses_what_it_cannot_write():
    with pytest.raises(ValueError, match="teff_max_typo"):
        archive.where_clause("gaia_giants", {"teff_max_typo": 1.0})
    with pytest.raises(ValueError, match="no ADQL form"):
        archive.where_clause("lamost_hot_stars")
    with pytest.raises(ConfigError, match="hotpayne, gspspec_giants"):
        archive.queries("gspspec")
    with pytest.raises(ConfigError, match="gspspec_giants' only"):
        archive.queries("hotpayne", astrometric=True)


# -- uploads ---------------------------------------------------------------------


def test_upload_of_source_ids_leaves_out_missing_and_repeated_ids(tmp_path):
    ids = np.ma.MaskedArray([123, 0, -1, 7, 123, 456], mask=[0, 0, 0, 1, 0, 0], dtype=np.int64)
    path = tmp_path / "allStar.fits"
    Table({"APOGEE_ID": ["a", "b", "c", "d", "e", "f"], "GAIAEDR3_SOURCE_ID": ids}).write(path)
    query = archive.queries("apogee_dr17")["gaia"]
    up = archive.upload_table(query, path)
    assert up.colnames == ["source_id"] and up["source_id"].tolist() == [123, 456]
    assert up["source_id"].dtype == np.int64 and up.meta["n_left_out"] == 4
    with pytest.raises(InputError, match="GAIAEDR3_SOURCE_ID.*APOGEE_ID"):
        archive.upload_table(query, Table({"APOGEE_ID": ["a"]}))


def test_upload_of_lamost_positions_finds_vizier_names():
    spectra = Table({"SpecID": [5, 6, 7], "RAdeg": [10.0, np.nan, 30.0], "DEdeg": [-5.0, 1.0, 2.0]})
    up = archive.upload_table(archive.queries("hotpayne")["gaia"], spectra)
    assert up.colnames == ["upload_id", "ra", "dec"]
    assert up["upload_id"].tolist() == [0, 2] and up["ra"].tolist() == [10.0, 30.0]
    assert up["ra"].unit == u.deg and up.meta["n_left_out"] == 1


# -- fetch, against a fake TAP service -------------------------------------------


class FakeTAP:
    """Executes the archive's queries on ``db`` (one row per star, every
    column): SELECT list, WHERE (evaluated as above), the Bailer-Jones inner
    join, TAP_UPLOAD joins on source_id or within the query's circle."""

    def __init__(self, db, calls, fail=None):
        self.db, self.calls, self.fail = db, calls, fail

    def __call__(self, url):
        self.url = url
        return self

    def run_async(self, adql, uploads=None):
        self.calls.append((self.url, adql, uploads))
        if self.fail:
            raise self.fail
        db = self.db
        keep = np.ones(len(db), dtype=bool)
        if 'FROM "J/' in adql or "galah_dr3.main_star" in adql:
            return _Result(db[["source_id", "RAdeg", "DEdeg"]])
        if "JOIN external.gaiaedr3_distance" in adql:
            keep &= ~np.ma.getmaskarray(db["r_med_geo"])
        if _where(adql):
            keep &= WhereEvaluator(_where(adql), db).rows()
        for name, up in (uploads or {}).items():
            assert f"TAP_UPLOAD.{name}" in adql
            if "source_id" in up.colnames:
                keep &= np.isin(db["source_id"], up["source_id"])
            else:
                radius = float(re.search(r"u\.dec, ([0-9.e-]+)\)", adql).group(1))
                from astropy.coordinates import SkyCoord

                idx = SkyCoord(db["ra"], db["dec"], unit="deg").search_around_sky(
                    SkyCoord(up["ra"], up["dec"]), radius * u.deg
                )[1]  # indices into db
                hit = np.zeros(len(db), dtype=bool)
                hit[idx] = True
                keep &= hit
        return _Result(db[keep][_selected(adql)])


class _Result:
    def __init__(self, table):
        self.table = table

    def to_table(self):
        return Table(self.table, copy=True)


def _db():
    t = _giants_table()
    t["RAdeg"], t["DEdeg"] = t["ra"], t["dec"]
    for q in ("med", "lo", "hi"):  # the archive's distance table has both kinds
        t[f"r_{q}_photogeo"] = t[f"r_{q}_geo"]
    return t


def test_fetch_giants_then_read_join_and_cut_gives_the_full_tables_stars(tmp_path):
    db, calls = _db(), []
    out = tmp_path / "archive"
    paths = archive.fetch("gspspec_giants", out, service=FakeTAP(db, calls))
    assert sorted(p.name for p in out.iterdir()) == [
        ".fastgrad-results.json",
        "bj_giants.vot",
        "gspspec_giants.vot",
    ]
    assert {c[0] for c in calls} == {archive.GAIA_TAP}
    gaia = fastgrad.read_catalog(paths["gaia"], kind="gaia_giants")
    dist = fastgrad.read_catalog(paths["distances"], kind="bailer_jones")
    stars = fastgrad.join_distances(gaia, dist)
    kept, report = fastgrad.apply_cuts(stars, ["gaia_giants", "astrometric"])
    expected = db[evaluate_cuts(db, get_cuts(["gaia_giants", "astrometric"]))[0]]
    assert kept["source_id"].tolist() == expected["source_id"].tolist()
    # the archive already applied the giants' cuts: locally they remove nothing
    assert report["n_removed"][:3].tolist() == [0, 0, 0] and report["n_removed"].sum() > 0
    # the TOML names the files, and parses
    toml = tomllib.loads(archive.toml_snippet("gspspec_giants", paths, sample="giants"))
    assert toml["samples"]["giants"] == {
        "preset": "gspspec_giants",
        "inputs": {
            "gaia": (out / "gspspec_giants.vot").as_posix(),
            "distances": (out / "bj_giants.vot").as_posix(),
        },
    }


def test_fetch_hotpayne_uploads_the_spectra_positions(tmp_path):
    db, calls = _db()[:300], []
    paths = archive.fetch("hotpayne", tmp_path / "out", service=FakeTAP(db, calls))
    assert [c[0] for c in calls] == [archive.VIZIER_TAP, archive.GAIA_TAP, archive.GAIA_TAP]
    up = calls[1][2]["lamost"]
    assert up.colnames == ["upload_id", "ra", "dec"] and len(up) == 300
    np.testing.assert_array_equal(up["ra"], db["ra"])
    gaia = Table.read(paths["gaia"])
    assert gaia["source_id"].dtype == np.int64
    assert sorted(gaia["source_id"]) == sorted(db["source_id"])  # each star is its own match


def test_fetch_refuses_to_replace_what_it_did_not_write(tmp_path):
    db = _db()[:50]
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match="not a fastgrad results folder"):
        archive.fetch("gspspec_giants", out, service=FakeTAP(db, []))
    assert sorted(os.listdir(out)) == ["notes.txt"]
    # an earlier result is replaced whole (as by `fastgrad run`): an upload it
    # would drop is refused, one kept elsewhere is fine
    res = tmp_path / "res"
    archive.fetch("hotpayne", res, service=FakeTAP(db, []))
    with pytest.raises(OutputError, match="would replace the input"):
        archive.fetch(
            "hotpayne", res, inputs=["gaia"], upload=res / "hotpayne.vot", service=FakeTAP(db, [])
        )
    assert len(os.listdir(res)) == 4
    spectra = tmp_path / "hotpayne.vot"
    os.replace(res / "hotpayne.vot", spectra)
    archive.fetch("hotpayne", res, inputs=["gaia"], upload=spectra, service=FakeTAP(db, []))
    assert sorted(os.listdir(res)) == [".fastgrad-results.json", "gaia_dr3_lamost.vot"]
    assert spectra.is_file()


def test_fetch_failures_write_nothing(tmp_path):
    db, out = _db()[:50], tmp_path / "out"
    with pytest.raises(InputError, match="failed.*TimeoutError: archive down"):
        archive.fetch("gspspec_giants", out, service=FakeTAP(db, [], TimeoutError("archive down")))
    with pytest.raises(InputError, match="--upload"):
        archive.fetch("apogee_dr17", out, service=FakeTAP(db, []))
    with pytest.raises(ConfigError, match="no input 'spectra'"):
        archive.fetch("apogee_dr17", out, inputs=["spectra"], service=FakeTAP(db, []))
    assert not out.exists() and os.listdir(tmp_path) == []


def test_fetch_without_pyvo_names_the_extra(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pyvo", None)
    with pytest.raises(ConfigError, match=r"fastgrad\[archive\]"):
        archive.fetch("gspspec_giants", tmp_path / "out")
    assert os.listdir(tmp_path) == []


# -- docs/archive.md: HATS copies of position-less tables ------------------------


def test_hats_copies_joined_to_positions_find_every_star(tmp_path):
    lsdb = pytest.importorskip("lsdb")
    survey = fastgrad.make_survey("gaia_giants", 2000, seed=3)
    gaia, bj = survey["gaia"], survey["bailer_jones"]
    gsp = gaia[["source_id", "ra", "dec", "teff_gspspec", "logg_gspspec", "mh_gspspec"]]
    bj_pos = join(bj, gaia[["source_id", "ra", "dec"]], keys="source_id")  # positions first
    for name, table in (("gspspec", gsp), ("bj", bj_pos)):
        cat = lsdb.from_dataframe(
            table.to_pandas(),
            ra_column="ra",
            dec_column="dec",
            partition_rows=500,
            should_generate_moc=False,
            margin_threshold=None,
        )  # small and quick
        cat.to_hats(tmp_path / name, catalog_name=name, progress_bar=False)
    joined = (
        lsdb.open_catalog(tmp_path / "gspspec")
        .join(
            lsdb.open_catalog(tmp_path / "bj"),
            left_on="source_id",
            right_on="source_id",
            suffixes=("", "_bj"),
            suffix_method="overlapping_columns",
        )
        .compute()
    )
    assert len(bj) < len(gaia)
    assert sorted(joined["source_id"]) == sorted(bj["source_id"])
    expected = join(gsp, bj, keys="source_id")
    got = joined.set_index("source_id").loc[list(expected["source_id"])]
    np.testing.assert_array_equal(got["r_med_geo"], expected["r_med_geo"])
    np.testing.assert_array_equal(got["teff_gspspec"], expected["teff_gspspec"])


# -- the command line ------------------------------------------------------------


def test_cli_prints_the_queries_and_the_toml(capsys):
    assert main(["query", "gspspec_giants"]) == 0
    text = capsys.readouterr().out
    assert "WHERE ap.teff_gspspec < 4700.0" in text and archive.GAIA_TAP in text
    toml = tomllib.loads(text.split("# the inputs", 1)[1].split("\n", 1)[1])
    assert toml["samples"]["gspspec_giants"]["inputs"] == {
        "gaia": "gspspec_giants.vot",
        "distances": "bj_giants.vot",
    }
    assert main(["query", "hotpayne", "--input", "gaia"]) == 0
    text = capsys.readouterr().out
    assert "TAP_UPLOAD.lamost" in text and "hotpayne.vot" not in text


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["query", "lamost"],
            "unknown preset 'lamost'; known: hotpayne, gspspec_giants, "
            "apogee_dr17, galah_dr3, xp_giants",
        ),
        (["query", "hotpayne", "--input", "astrometry"], "--input astrometry"),
        (["query", "hotpayne", "--fetch"], "--fetch needs --out"),
        (["query", "hotpayne", "--out", "x"], "--out is for --fetch"),
        (["query", "galah_dr3", "--astrometric"], "gspspec_giants' only"),
    ],
)
def test_cli_bad_command_lines_exit_2(args, message, capsys):
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_cli_fetch(tmp_path, monkeypatch, capsys):
    db, calls = _db()[:100], []
    monkeypatch.setattr(archive, "_pyvo_service", FakeTAP(db, calls))
    ids = tmp_path / "allStar.fits"
    Table({"GAIAEDR3_SOURCE_ID": db["source_id"][:40]}).write(ids)
    out = tmp_path / "apogee"
    assert main(["query", "apogee_dr17", "--fetch", "--out", str(out), "--upload", str(ids)]) == 0
    toml = tomllib.loads(capsys.readouterr().out.split("# the inputs", 1)[1].split("\n", 1)[1])
    inputs = toml["samples"]["apogee_dr17"]["inputs"]
    assert len(Table.read(inputs["gaia"])) == 40 and len(Table.read(inputs["distances"])) <= 40
    assert main(["query", "apogee_dr17", "--fetch", "--out", str(tmp_path / "x")]) == 3
    assert "--upload" in capsys.readouterr().err
