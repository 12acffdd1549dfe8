"""From the archives to fastgrad: the ADQL that fetches each input of a sample preset.

docs/archive.md (how to run the queries: the Gaia archive web page, astroquery,
pyvo, VizieR; HATS copies for LSDB); docs/method.md sections 1-2 (the inputs
and cuts the queries reproduce).

:func:`queries` gives, for a preset (:data:`PRESETS`), one :class:`Query` per
input (``spectra`` or ``xp``, ``gaia``, ``distances``, as named in a run's
``[samples.NAME.inputs]`` table and :data:`fastgrad.samples.PRESETS`): its ADQL, the TAP service it runs on, the
table it uploads (if any) and the file :func:`fetch` saves it as.
:func:`where_clause` writes the ADQL of fastgrad's own cuts
(:data:`fastgrad.cuts.CUT_PRESETS`) from the same :class:`~fastgrad.cuts.Cut`
thresholds, so the query and the local cuts cannot drift apart.
:func:`fetch` runs the queries through pyvo (the ``archive`` extra) and writes
the files whole into a results folder (:class:`fastgrad._outdir.ResultsDir`);
:func:`toml_snippet` names them for ``fastgrad run``.

What could not be confirmed when this was written (no network):

- The text of Listing 3 of Gaia Collaboration, Recio-Blanco et al. (2023,
  A&A 674, A38, App. B), the "gradient sample" query: the giants' query is
  written from the selection Hawkins (2023) sec. 2.2 states (GSP-Spec
  ``teff_gspspec < 4700 K``, ``logg_gspspec < 2.0``, a ``mh_gspspec``; Gaia
  ``radial_velocity`` for the kinematics), i.e. fastgrad's ``gaia_giants``
  cuts. Listing 3's own quality conditions (GSP-Spec flags, uncertainties)
  can be added with ``extra_where=``.
- The VizieR table names of J/A+A/662/A66 (HotPayne) and J/ApJS/267/8
  (Andrae et al. 2023): :data:`HOTPAYNE_TABLE` and :data:`ANDRAE_TABLE` are
  guesses; ``SELECT table_name FROM TAP_SCHEMA.tables WHERE table_name LIKE
  'J/A+A/662/A66%'`` on VizieR's TAP lists the real ones. Their column names
  are not at hand either: those queries select ``*``.
- Confirmed from the surveys' own documentation: APOGEE DR17 allStar's
  ``GAIAEDR3_SOURCE_ID``, GALAH DR3 ``galah_dr3.main_star`` (DataCentral TAP)
  and its ``dr3_source_id`` (Gaia EDR3 ids, which are Gaia DR3's).
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import astropy.units as u
import numpy as np

from . import paper
from ._outdir import ResultsDir
from .cuts import cut_parameters, get_cuts
from .errors import ConfigError, InputError
from .schema import CATALOG_SCHEMAS, LAMOST_COLUMN_MAP

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

    from astropy.table import Table

    from .cuts import Cut


__all__ = [
    "GAIA_TAP",
    "VIZIER_TAP",
    "GALAH_TAP",
    "HOTPAYNE_TABLE",
    "ANDRAE_TABLE",
    "PRESETS",
    "ADQL_CUTS",
    "Upload",
    "Query",
    "queries",
    "where_clause",
    "upload_table",
    "describe",
    "fetch",
    "toml_snippet",
]

#: The Gaia archive's TAP service (ESA): gaiadr3.*, external.gaiaedr3_distance.
GAIA_TAP = "https://gea.esac.esa.int/tap-server/tap"
#: VizieR's TAP service (CDS): I/355/gaiadr3, I/355/paramp, I/352/gedr3dis, J/...
VIZIER_TAP = "https://tapvizier.cds.unistra.fr/TAPVizieR/tap"
#: AAO DataCentral's TAP service: GALAH DR3 (galah_dr3.main_star).
GALAH_TAP = "https://datacentral.org.au/vo/tap"
_SERVICES = MappingProxyType({"gaia": GAIA_TAP, "vizier": VIZIER_TAP, "galah": GALAH_TAP})
_SERVICE_NAMES = {"gaia": "the Gaia archive", "vizier": "VizieR", "galah": "AAO DataCentral"}

#: VizieR table of the HotPayne catalogue (Xiang et al. 2022) -- NOT CONFIRMED.
HOTPAYNE_TABLE = '"J/A+A/662/A66/table1"'
#: VizieR table of Andrae et al. (2023)'s vetted red giants -- NOT CONFIRMED.
ANDRAE_TABLE = '"J/ApJS/267/8/table2"'

_GSPSPEC = frozenset(
    CATALOG_SCHEMAS["gaia_giants"].required + CATALOG_SCHEMAS["gaia_giants"].optional
) - frozenset(CATALOG_SCHEMAS["gaia"].required + CATALOG_SCHEMAS["gaia"].optional)
_BAILER_JONES = frozenset(CATALOG_SCHEMAS["bailer_jones"].required) - {"source_id"}


def _alias(column):
    """The table alias of a canonical column in the Gaia archive's names."""
    if column in _GSPSPEC:
        return "ap"
    if column in _BAILER_JONES:
        return "d"
    return "g"


def _columns(kind, alias=None):
    """``alias.column`` for every column of a catalogue kind (schema.py), in order."""
    schema = CATALOG_SCHEMAS[kind]
    return [f"{alias or _alias(c)}.{c}" for c in schema.required + schema.optional]


def _literal(value):
    """A finite float as ADQL text that reads back to the same double."""
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"threshold {value!r} is not finite")
    return repr(value)


def _col(name):
    return f"{_alias(name)}.{name}"


#: Cut name -> ``f(params, col) -> ADQL condition`` (``col``: canonical column
#: -> its ``alias.name`` in the query). The conditions read the thresholds the
#: cut is given, in the cut's units (:attr:`fastgrad.cuts.Cut.units`), and keep
#: the rows :meth:`fastgrad.cuts.Cut.keep` keeps: a NULL compares false as a
#: NaN does. ``distance_precision`` is written ``r_hi - r_lo <= 2 f r_med``
#: (a division by a zero ``r_med_geo`` is an error in the archive's
#: PostgreSQL): it may differ from the local division in the last bit at the
#: threshold itself; fastgrad applies every cut again locally.
ADQL_CUTS = MappingProxyType(
    {
        "teff_gspspec_max": lambda p, c: f"{c('teff_gspspec')} < {_literal(p['teff_gspspec_max'])}",
        "logg_gspspec_max": lambda p, c: f"{c('logg_gspspec')} < {_literal(p['logg_gspspec_max'])}",
        "mh_defined": lambda p, c: f"{c('mh_gspspec')} IS NOT NULL",
        "parallax_precision": lambda p, c: (
            f"{c('parallax_over_error')} > {_literal(p['parallax_over_error_min'])}"
        ),
        "distance_precision": lambda p, c: (
            f"{c('r_med_geo')} > 0 AND {c('r_lo_geo')} <= {c('r_hi_geo')} AND "
            f"{c('r_hi_geo')} - {c('r_lo_geo')} <= "
            f"{_literal(2.0 * float(p['distance_frac_error_max']))} * {c('r_med_geo')}"
        ),
        "rv_finite": lambda p, c: f"{c(p['rv_column'] or 'radial_velocity')} IS NOT NULL",
    }
)


def _threshold(cut, name, value):
    """A threshold as a float in the cut's unit (a column name passes through)."""
    if value is None or isinstance(value, str):
        return value  # rv_column
    unit = cut.units.get(name)
    if isinstance(value, u.Quantity):
        if unit is None:
            return float(value.to_value(u.dimensionless_unscaled))
        return float(value.value if unit == u.dex else value.to_value(unit))
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"thresholds[{name!r}]: expected a number, got {value!r}")
    return float(value)


def where_clause(
    cuts: str | Cut | Sequence[str | Cut],
    thresholds: Mapping[str, Any] | None = None,
    *,
    column: Callable[[str], str] = _col,
) -> str:
    """The ADQL conditions (joined by AND) that keep the rows ``cuts`` keep.

    Parameters
    ----------
    cuts : str, Cut or sequence of them
        As in :func:`fastgrad.apply_cuts`, e.g. ``["gaia_giants",
        "astrometric"]``; each cut needs an entry in :data:`ADQL_CUTS`.
    thresholds : dict, optional
        Threshold name -> value (canonical units, or a Quantity), as in
        :func:`fastgrad.apply_cuts`; a name no cut takes raises.
    column : callable, optional
        Canonical column name -> its ADQL reference (default: ``g.``, ``ap.``
        or ``d.`` for gaia_source, astrophysical_parameters and
        external.gaiaedr3_distance).

    Returns
    -------
    str
        One condition per line, each line after the first starting ``AND``.

    Examples
    --------
    >>> from fastgrad.archive import where_clause
    >>> print(where_clause("gaia_giants"))
    ap.teff_gspspec < 4700.0
      AND ap.logg_gspspec < 2.0
      AND ap.mh_gspspec IS NOT NULL
    >>> print(where_clause("astrometric", {"parallax_over_error_min": 10}).splitlines()[0])
    g.parallax_over_error > 10.0
    """
    cuts = get_cuts(cuts)
    thresholds = dict(thresholds or {})
    unknown = sorted(set(thresholds) - set(cut_parameters(list(cuts))))
    if unknown:
        raise ValueError(
            f"thresholds: unknown name(s) {unknown}; these cuts take "
            f"{sorted(cut_parameters(list(cuts)))}"
        )
    lines = []
    for cut in cuts:
        if cut.name not in ADQL_CUTS:
            raise ValueError(
                f"cut {cut.name!r} ({cut.section}) has no ADQL form; cuts with "
                f"one: {sorted(ADQL_CUTS)}"
            )
        params = {k: _threshold(cut, k, thresholds.get(k, v)) for k, v in cut.params.items()}
        lines.append(ADQL_CUTS[cut.name](params, column))
    return "\n  AND ".join(lines)


@dataclass(frozen=True)
class Upload:
    """A table a query uploads (``TAP_UPLOAD.<name>``), built by :func:`upload_table`.

    Attributes
    ----------
    name : str
        The upload's table name in the ADQL.
    columns : mapping
        Upload column -> the file columns it is taken from, tried in order
        (exact name first, then ignoring case). An empty tuple: a row number
        (``upload_id``).
    from_input : str or None
        The input of the same preset whose file is the default upload
        (``"spectra"``), or None: the user gives it (``--upload``).

    Examples
    --------
    >>> from fastgrad.archive import queries
    >>> upload = queries("hotpayne")["gaia"].upload
    >>> upload.name, list(upload.columns), upload.from_input
    ('lamost', ['upload_id', 'ra', 'dec'], 'spectra')
    """

    name: str
    columns: MappingProxyType
    from_input: str = None


@dataclass(frozen=True)
class Query:
    """One input of a preset: its ADQL, service, upload and file name.

    Attributes
    ----------
    preset, input : str
        The preset and the input (``spectra``, ``gaia``, ``distances``).
    adql : str
        The query.
    service : str
        ``"gaia"``, ``"vizier"`` or ``"galah"``; :attr:`url` its TAP endpoint.
    filename : str
        The file :func:`fetch` writes (VOTable: keeps dtypes, units, NULLs).
    upload : Upload or None
        The table the query needs in ``TAP_UPLOAD``.
    description : str
        What it fetches.
    unconfirmed : tuple of str
        What in it could not be checked against the archive's documentation.

    Examples
    --------
    >>> from fastgrad.archive import queries
    >>> q = queries("gspspec_giants")["gaia"]
    >>> q.service, q.filename, q.url
    ('gaia', 'gspspec_giants.vot', 'https://gea.esac.esa.int/tap-server/tap')
    >>> print(q.adql.splitlines()[-3])
    WHERE ap.teff_gspspec < 4700.0
    """

    preset: str
    input: str
    adql: str
    service: str
    filename: str
    upload: Upload = None
    description: str = ""
    unconfirmed: tuple = field(default_factory=tuple)

    @property
    def url(self) -> str:
        """The TAP endpoint of :attr:`service`."""
        return _SERVICES[self.service]


def _select(columns, distinct=False):
    head = "SELECT DISTINCT" if distinct else "SELECT"
    return head + "\n  " + ",\n  ".join(columns)


def _giants(preset, thresholds, astrometric, extra_where):
    cuts = ["gaia_giants"] + (["astrometric"] if astrometric else [])
    where = where_clause(cuts, thresholds)
    if extra_where:
        where += f"\n  AND ({extra_where})"
    base = (
        "FROM gaiadr3.gaia_source AS g\n"
        "JOIN gaiadr3.astrophysical_parameters AS ap ON ap.source_id = g.source_id"
    )
    bj = "\nJOIN external.gaiaedr3_distance AS d ON d.source_id = g.source_id"
    doc = (
        "the gradient sample's selection as Hawkins (2023) sec. 2.2 states it, not "
        "Listing 3 of Recio-Blanco et al. (2023) verbatim (its text was not at hand)"
    )
    return {
        "gaia": Query(
            preset,
            "gaia",
            f"{_select(_columns('gaia_giants'))}\n{base}{bj if astrometric else ''}\nWHERE {where}",
            "gaia",
            "gspspec_giants.vot",
            description="Gaia DR3 GSP-Spec giants: gaia_source x "
            "astrophysical_parameters, with fastgrad's giants cuts"
            + (" and astrometric cuts" if astrometric else ""),
            unconfirmed=(doc,),
        ),
        "distances": Query(
            preset,
            "distances",
            f"{_select(_columns('bailer_jones', 'd'))}\n{base}{bj}\nWHERE {where}",
            "gaia",
            "bj_giants.vot",
            description="Bailer-Jones et al. (2021) distances of the same stars",
            unconfirmed=(doc,),
        ),
    }


_RADEC = {
    axis: tuple(k for k, v in LAMOST_COLUMN_MAP.items() if v == axis) + (axis,)
    for axis in ("ra", "dec")
}


def _hotpayne(preset, radius_arcsec):
    upload = Upload(
        "lamost",
        MappingProxyType({"upload_id": (), "ra": _RADEC["ra"], "dec": _RADEC["dec"]}),
        "spectra",
    )
    radius = _literal(radius_arcsec / 3600.0)
    around = (
        "FROM TAP_UPLOAD.lamost AS u\n"
        "JOIN gaiadr3.gaia_source AS g\n"
        "  ON 1 = CONTAINS(POINT('ICRS', g.ra, g.dec), "
        f"CIRCLE('ICRS', u.ra, u.dec, {radius}))"
    )
    unconfirmed = (f"the VizieR table name {HOTPAYNE_TABLE} and its column names",)
    return {
        "spectra": Query(
            preset,
            "spectra",
            f"SELECT *\nFROM {HOTPAYNE_TABLE}",
            "vizier",
            "hotpayne.vot",
            description="the HotPayne catalogue (Xiang et al. "
            "2022, VizieR J/A+A/662/A66): LAMOST DR6 hot stars",
            unconfirmed=unconfirmed,
        ),
        "gaia": Query(
            preset,
            "gaia",
            f"{_select(_columns('gaia'), True)}\n{around}",
            "gaia",
            "gaia_dr3_lamost.vot",
            upload,
            f"gaia_source rows within {radius_arcsec:g} arcsec of an uploaded LAMOST "
            "position (the nearest is chosen locally, after the spectroscopic cuts)",
        ),
        "distances": Query(
            preset,
            "distances",
            f"{_select(_columns('bailer_jones', 'd'), True)}"
            f"\n{around}\nJOIN external.gaiaedr3_distance AS d "
            "ON d.source_id = g.source_id",
            "gaia",
            "bj_lamost.vot",
            upload,
            "Bailer-Jones et al. (2021) distances of those gaia_source rows",
        ),
    }


def _by_source_id(preset, name, id_columns, tag, primary=None):
    """gaia and distances by the source_ids of the ``primary`` input's file
    (fetched here when ``primary`` is a query, else the user's ``--upload``)."""
    upload = Upload(
        name,
        MappingProxyType({"source_id": id_columns}),
        primary.input if primary is not None else None,
    )
    out = {} if primary is None else {primary.input: primary}
    out["gaia"] = Query(
        preset,
        "gaia",
        f"{_select(_columns('gaia'))}\nFROM TAP_UPLOAD.{name} AS u"
        "\nJOIN gaiadr3.gaia_source AS g ON g.source_id = u.source_id",
        "gaia",
        f"gaia_dr3_{tag}.vot",
        upload,
        "Gaia DR3 astrometry of the uploaded source_ids",
    )
    out["distances"] = Query(
        preset,
        "distances",
        f"{_select(_columns('bailer_jones', 'd'))}\n"
        f"FROM TAP_UPLOAD.{name} AS u\nJOIN external.gaiaedr3_distance AS d "
        "ON d.source_id = u.source_id",
        "gaia",
        f"bj_{tag}.vot",
        upload,
        "Bailer-Jones et al. (2021) distances of the uploaded source_ids",
    )
    return out


#: The presets :func:`queries` knows, with the inputs each fetches.
PRESETS = MappingProxyType(
    {
        "hotpayne": ("spectra", "gaia", "distances"),
        "gspspec_giants": ("gaia", "distances"),
        "apogee_dr17": ("gaia", "distances"),
        "galah_dr3": ("spectra", "gaia", "distances"),
        "xp_giants": ("xp", "gaia", "distances"),
    }
)


def queries(
    preset: str,
    *,
    thresholds: Mapping[str, Any] | None = None,
    astrometric: bool = False,
    extra_where: str | None = None,
    radius_arcsec: float = paper.CROSSMATCH_RADIUS_ARCSEC,
) -> dict[str, Query]:
    """The archive queries that fetch each input of a sample preset.

    Parameters
    ----------
    preset : str
        One of :data:`PRESETS`.
    thresholds : dict, optional
        ``gspspec_giants`` only: threshold overrides of the cuts written into
        the WHERE clause (as in :func:`fastgrad.apply_cuts`).
    astrometric : bool
        ``gspspec_giants`` only: also apply the astrometric cuts (Hawkins 2023
        sec. 2.3) in the archive (fewer rows to download; fastgrad's cut
        report then shows them removing nothing). Default False: the query
        stops where the paper's query does.
    extra_where : str, optional
        ``gspspec_giants`` only: more ADQL conditions (e.g. Listing 3's
        GSP-Spec flag conditions), ANDed to the WHERE clause.
    radius_arcsec : float
        ``hotpayne`` only: the match radius around each uploaded position
        (default the paper's 2", docs/method.md sec. 1).

    Returns
    -------
    dict
        Input name -> :class:`Query`, inputs that others upload first.

    Raises
    ------
    fastgrad.errors.ConfigError
        An unknown preset (the message names the known ones), or an option
        the preset does not take.

    Examples
    --------
    >>> from fastgrad.archive import queries
    >>> for name, q in queries("hotpayne").items():
    ...     print(name, q.service, q.filename, q.upload.name if q.upload else None)
    spectra vizier hotpayne.vot None
    gaia gaia gaia_dr3_lamost.vot lamost
    distances gaia bj_lamost.vot lamost
    """
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    if preset != "gspspec_giants" and (thresholds or astrometric or extra_where):
        raise ConfigError(
            f"preset {preset!r}: thresholds, astrometric and extra_where apply "
            "to 'gspspec_giants' only (the other presets' cuts run locally)"
        )
    if preset == "gspspec_giants":
        return _giants(preset, thresholds, astrometric, extra_where)
    if preset == "hotpayne":
        return _hotpayne(preset, float(radius_arcsec))
    if preset == "apogee_dr17":
        return _by_source_id(preset, "apogee", ("GAIAEDR3_SOURCE_ID",), "apogee")
    if preset == "galah_dr3":
        spectra = Query(
            preset,
            "spectra",
            "SELECT *\nFROM galah_dr3.main_star",
            "galah",
            "galah_dr3_main_star.vot",
            description="GALAH DR3 main_star (one row "
            "per star; Buder et al. 2021), from AAO DataCentral",
        )
        return _by_source_id(preset, "galah", ("dr3_source_id",), "galah", spectra)
    xp = Query(
        preset,
        "xp",
        f"SELECT *\nFROM {ANDRAE_TABLE}",
        "vizier",
        "andrae2023_giants.vot",
        description="Andrae et al. (2023) vetted red giants (mh_xgboost), VizieR J/ApJS/267/8",
        unconfirmed=(
            f"the VizieR table name {ANDRAE_TABLE} and its source_id "
            "column (tried: source_id, Source, GaiaDR3)",
        ),
    )
    return _by_source_id(preset, "xp", ("source_id", "Source", "GaiaDR3"), "xp_giants", xp)


def _find(table, candidates, what):
    for name in candidates:
        if name in table.colnames:
            return name
    lower = {c.lower(): c for c in table.colnames}
    for name in candidates:
        if name.lower() in lower:
            return lower[name.lower()]
    raise InputError(
        f"{what}: none of the columns {list(candidates)} is in it; it has "
        f"{', '.join(table.colnames[:30])}"
    )


def upload_table(
    query: Query, table: Table | str | os.PathLike[str], *, what: str = "upload table"
) -> Table:
    """The table ``query`` uploads, from a catalogue holding its columns.

    Parameters
    ----------
    query : Query
        A query with an :attr:`Query.upload`.
    table : astropy.table.Table or path
        The catalogue (a path is read with :func:`fastgrad.read_catalog`).
    what : str
        Its name in messages (the file name).

    Returns
    -------
    astropy.table.Table
        The upload's columns: positions (deg) as float64, ``source_id`` as
        int64, ``upload_id`` the row number in ``table``. Rows with a missing
        or non-finite position, or a missing or non-positive source_id
        (APOGEE writes 0 for none), are left out and duplicate source_ids
        kept once; ``meta['n_left_out']`` counts both.

    Examples
    --------
    The LAMOST positions the Gaia query matches within 2"; a row without a
    position is left out and counted:

    >>> from astropy.table import Table
    >>> from fastgrad.archive import queries, upload_table
    >>> lamost = Table({"RAdeg": [10.0, 20.0, float("nan")], "DEdeg": [5.0, 6.0, 7.0]})
    >>> up = upload_table(queries("hotpayne")["gaia"], lamost)
    >>> up.pprint()
    upload_id  ra  dec
              deg  deg
    --------- ---- ---
            0 10.0 5.0
            1 20.0 6.0
    >>> up.meta["n_left_out"]
    1
    """
    from astropy.table import Table

    from .readers import read_catalog

    if query.upload is None:
        raise ValueError(f"{query.preset}.{query.input}: this query uploads nothing")
    if isinstance(table, (str, os.PathLike)):
        what = os.fspath(table)
        table = read_catalog(table, kind=None)
    keep = np.ones(len(table), dtype=bool)
    out = {}
    for name, candidates in query.upload.columns.items():
        if not candidates:
            out[name] = np.arange(len(table), dtype=np.int64)
            continue
        col = np.ma.asarray(table[_find(table, candidates, what)])
        if name == "source_id":
            if col.dtype.kind == "f":  # a float column of ids: NaN for none
                col = np.ma.masked_invalid(col)
            data = np.ma.filled(col, 0).astype(np.int64)
            keep &= data > 0
        else:
            data = np.ma.filled(col.astype(np.float64), np.nan)
            keep &= np.isfinite(data)
        out[name] = data
    if "source_id" in out:
        first = np.zeros(len(table), dtype=bool)
        first[np.unique(out["source_id"], return_index=True)[1]] = True
        keep &= first
    result = Table({k: v[keep] for k, v in out.items()})
    for axis in ("ra", "dec"):
        if axis in result.colnames:
            result[axis].unit = u.deg
    result.meta["n_left_out"] = int(len(table) - keep.sum())
    if not len(result):
        raise InputError(
            f"{what}: no row has a usable {', '.join(out)} for TAP_UPLOAD.{query.upload.name}"
        )
    return result


def describe(query: Query) -> str:
    """``query`` as ADQL text to paste into a TAP client, its facts in ``--`` comments.

    Examples
    --------
    >>> from fastgrad.archive import describe, queries
    >>> text = describe(queries("gspspec_giants")["distances"])
    >>> print(text.splitlines()[0])
    -- gspspec_giants: input 'distances' -> bj_giants.vot
    """
    lines = [
        f"-- {query.preset}: input {query.input!r} -> {query.filename}",
        f"-- {query.description}",
        f"-- run on {_SERVICE_NAMES[query.service]}'s TAP service {query.url}",
    ]
    if query.upload is not None:
        source = (
            f"the {query.upload.from_input} file or --upload"
            if query.upload.from_input
            else "--upload"
        )
        lines.append(
            f"-- uploads TAP_UPLOAD.{query.upload.name} "
            f"({', '.join(query.upload.columns)}) from {source}"
        )
    lines += [f"-- not confirmed: {note}" for note in query.unconfirmed]
    return "\n".join(lines) + "\n" + query.adql + "\n"


def _pyvo_service(url):
    try:
        import pyvo
    except ImportError:
        raise ConfigError("fetching needs pyvo: pip install 'fastgrad[archive]'") from None
    return pyvo.dal.TAPService(url)


def fetch(
    preset: str,
    out: str | os.PathLike[str],
    *,
    inputs: Sequence[str] | None = None,
    upload: str | os.PathLike[str] | Table | None = None,
    overwrite: bool = False,
    service: Callable[[str], Any] | None = None,
    **options: Any,
) -> dict[str, Path]:
    """Run a preset's queries and write their results whole into ``out``.

    The network path is thin on purpose (it cannot be tested here without the
    archives): each :class:`Query` goes to ``service(query.url).run_async(
    adql, uploads=...)`` (pyvo's :class:`pyvo.dal.TAPService` by default, the
    ``archive`` extra), its result's ``to_table()`` is written as VOTable into
    a staging folder, and the files are moved into ``out`` together at the
    end (:class:`fastgrad._outdir.ResultsDir`, as ``fastgrad run`` writes
    its results: ``out`` is a new or empty folder, or an earlier fastgrad
    result, whose files this fetch then replaces whole -- give each preset,
    or each partial fetch, a folder of its own; nothing fastgrad did not
    write is replaced, and the ``upload`` file never).

    Parameters
    ----------
    preset : str
        One of :data:`PRESETS`.
    out : path
        The folder to write into.
    inputs : sequence of str, optional
        Only these inputs (default: all of the preset's).
    upload : path or astropy.table.Table, optional
        The catalogue an uploading query takes its positions or source_ids
        from (:func:`upload_table`). Default: the file of the upload's
        ``from_input`` fetched in this same call.
    overwrite : bool
        As ``fastgrad run --overwrite``: add the files to a folder that is
        not a fastgrad result.
    service : callable, optional
        ``url -> TAP service``; for tests and other clients.
    **options
        Passed to :func:`queries`.

    Returns
    -------
    dict
        Input name -> path of the file written.

    Examples
    --------
    Offline, with a stand-in for pyvo's ``TAPService`` (a real fetch needs the
    ``archive`` extra and the network):

    >>> from astropy.table import Table
    >>> from fastgrad.archive import fetch
    >>> class Offline:
    ...     def __init__(self, url): pass
    ...     def run_async(self, adql, uploads=None): return self
    ...     def to_table(self): return Table({"source_id": [4295806720], "r_med_geo": [1510.2]})
    >>> paths = fetch("gspspec_giants", "archive_out", service=Offline)
    >>> {name: path.name for name, path in paths.items()}
    {'gaia': 'gspspec_giants.vot', 'distances': 'bj_giants.vot'}
    """
    todo = queries(preset, **options)
    names = list(todo) if inputs is None else list(inputs)
    unknown = [n for n in names if n not in todo]
    if unknown:
        raise ConfigError(
            f"preset {preset!r} has no input {unknown[0]!r}; it has {', '.join(todo)}"
        )
    service = service or _pyvo_service
    protect = [upload] if isinstance(upload, (str, os.PathLike)) else []
    outdir = ResultsDir(out, overwrite=overwrite, protect=protect)
    outdir.prepare([todo[n].filename for n in names])
    fetched, paths = {}, {}
    try:
        for name in names:
            query = todo[name]
            uploads = None
            if query.upload is not None:
                source = upload if upload is not None else fetched.get(query.upload.from_input)
                if source is None:
                    raise InputError(
                        f"{preset}.{name} uploads TAP_UPLOAD.{query.upload.name} "
                        "(columns " + ", ".join(query.upload.columns) + "): give "
                        "the catalogue with --upload (upload=)"
                    )
                what = "--upload" if upload is not None else f"the {query.upload.from_input} result"
                uploads = {query.upload.name: upload_table(query, source, what=what)}
            try:
                result = service(query.url).run_async(query.adql, uploads=uploads)
                table = result.to_table()
            except (ConfigError, InputError):
                raise
            except Exception as exc:  # the service's own errors: network, ADQL, limits
                raise InputError(
                    f"{preset}.{name}: the query to {query.url} failed "
                    f"({type(exc).__name__}: {exc})"
                ) from exc
            table.write(outdir.staging / query.filename, format="votable")
            fetched[name] = table
            paths[name] = Path(out) / query.filename
        outdir.commit()
    except BaseException:
        outdir.abort()
        raise
    return paths


def toml_snippet(
    preset: str, paths: Mapping[str, str | os.PathLike[str]], sample: str | None = None
) -> str:
    """The ``[samples.NAME]`` tables of a run's TOML naming ``paths``.

    Parameters
    ----------
    preset : str
        The preset.
    paths : dict
        Input name -> file (as :func:`fetch` returns, or the file names of
        :func:`queries`).
    sample : str, optional
        The sample's name (default: the preset's).

    Examples
    --------
    >>> from fastgrad.archive import toml_snippet
    >>> print(toml_snippet("gspspec_giants", {"gaia": "gspspec_giants.vot",
    ...                                       "distances": "bj_giants.vot"}))
    [samples.gspspec_giants]
    preset = "gspspec_giants"
    [samples.gspspec_giants.inputs]
    gaia = "gspspec_giants.vot"
    distances = "bj_giants.vot"
    <BLANKLINE>
    """
    sample = sample or preset
    lines = [f"[samples.{sample}]", f'preset = "{preset}"', f"[samples.{sample}.inputs]"]
    lines += [f'{name} = "{Path(path).as_posix()}"' for name, path in paths.items()]
    return "\n".join(lines) + "\n"
