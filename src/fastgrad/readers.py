"""Catalogue readers: any file layout -> a Table in fastgrad's canonical schema.

docs/method.md section 1. :func:`read_catalog` reads FITS, VOTable, CSV, ECSV
or Parquet and :func:`standardize_columns` renames and re-units an in-memory
table, both to the names and units of :mod:`fastgrad.schema`
(:data:`~fastgrad.schema.CANONICAL_UNITS`) for one of the known catalogue
kinds (:data:`~fastgrad.schema.CATALOG_KINDS`). What they refuse (a truncated
file, a CSV row with the wrong number of fields, an identifier float64 cannot
hold) is a :class:`fastgrad.errors.InputError` naming the file, column and rows.
"""

from __future__ import annotations

import csv
import errno
import gzip
import numbers
import os
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING

import astropy.units as u
import numpy as np
from astropy.table import Column, MaskedColumn, Table

from ._validation import as_float_array, as_table, is_dataframe
from .errors import InputError
from .schema import (
    CANONICAL_UNITS,
    CATALOG_KINDS,
    CATALOG_SCHEMAS,
    ID_COLUMNS,
    LABEL_COLUMNS,
    TEXT_COLUMNS,
    MissingColumnsError,
    reject_rows,
)

if TYPE_CHECKING:
    from typing import Any

    import pandas as pd


__all__ = ["read_catalog", "standardize_columns"]

_FORMATS = {
    ".fits": "fits",
    ".fit": "fits",
    ".fts": "fits",
    ".fz": "fits",
    ".vot": "votable",
    ".votable": "votable",
    ".xml": "votable",
    ".csv": "csv",
    ".ecsv": "ecsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}

#: Units the Gaia archive writes that astropy's FITS/VOTable parsers do not read.
_UNIT_FIXES = {
    "'dex'": u.dex,
    "dex": u.dex,
    "log(cm.s**-2)": u.dex,
    "'log(cm.s**-2)'": u.dex,
    "'electron'.s**-1": u.electron / u.s,
}


def read_catalog(
    path: str | os.PathLike[str],
    kind: str | None = None,
    columns: Mapping[str, str] | None = None,
    *,
    format: str | None = None,
    keep: str = "all",
    allow_empty: bool = False,
    **read_kwargs: Any,
) -> Table:
    """Read a catalogue file into an astropy Table with canonical names and units.

    Parameters
    ----------
    path : str or os.PathLike
        A FITS, VOTable, CSV, ECSV or Parquet file (``.gz`` allowed where the
        reader allows it), or a directory: a HATS catalogue (the layout LSDB
        reads; read whole here, by partition with ``engine = "dask"``,
        docs/dask.md) or a Parquet dataset (a folder of Parquet files).
    kind : str or None
        Which catalogue (:data:`~fastgrad.schema.CATALOG_KINDS`): fixes the
        required columns and the default name map
        (:data:`~fastgrad.schema.CATALOG_SCHEMAS`). A kind requires only what
        every later step needs; columns only a quality cut reads are optional
        here (the cut names them when absent).
        ``"gaia"``: Gaia DR3 ``gaia_source`` astrometry (``source_id, ra, dec,
        parallax, parallax_error, pmra, pmra_error, pmdec, pmdec_error,
        ra_error, dec_error``; ``radial_velocity``, ``radial_velocity_error``,
        ``parallax_over_error`` and the six ra/dec/pm ``*_corr`` optional),
        archive or VizieR I/355/gaiadr3 names.
        ``"gaia_giants"``: that plus ``radial_velocity, radial_velocity_error,
        mh_gspspec, mh_gspspec_lower, mh_gspspec_upper, teff_gspspec,
        logg_gspspec`` (``flags_gspspec`` optional), archive
        (``astrophysical_parameters``) or VizieR I/355/paramp names.
        ``"gaia_gspspec"``: ``astrophysical_parameters`` alone (``source_id``
        and the five GSP-Spec columns). ``"bailer_jones"``: ``source_id,
        r_med_geo, r_lo_geo, r_hi_geo`` (pc; ``r_*_photogeo`` optional),
        archive ``external.gaiaedr3_distance`` or VizieR I/352 names.
        ``"lamost_hot_stars"`` (HotPayne, through
        :data:`~fastgrad.schema.LAMOST_COLUMN_MAP`) and ``"lamost_lrs"``
        (LAMOST LRS stellar catalogue, ``snrg`` -> ``snr``): ``ra, dec, feh,
        feh_err, rv, rv_err`` (``obsid``/``spec_id``, ``teff``, ``logg``,
        their errors, ``vsini``, ``snr``, ``chi2ratio`` optional).
        ``"apogee_allstar"`` (SDSS DR17 allStar) and ``"galah_dr3"``
        (main_allstar): ``source_id`` and those six. ``"xp_andrae2023"``:
        ``source_id, mh_xgboost``; ``"xp_shboost"``: ``source_id,
        mh_shboost``. ``None``: only ``columns`` renames, nothing required.
    columns : dict, optional
        File column name -> canonical name, tried before the kind's default map
        (``CATALOG_SCHEMAS[kind].column_map``; e.g. Gaia:
        :data:`~fastgrad.schema.GAIA_VIZIER_COLUMNS`, Bailer-Jones:
        :data:`~fastgrad.schema.BAILER_JONES_VIZIER_COLUMNS`, LAMOST:
        :data:`~fastgrad.schema.LAMOST_COLUMN_MAP`).
    format : str, optional
        ``"fits"``, ``"votable"``, ``"csv"``, ``"ecsv"`` or ``"parquet"``;
        default from the file name's extension.
    keep : {"all", "canonical"}
        Keep every column of the file (renamed where mapped) or only the
        kind's canonical ones.
    allow_empty : bool
        A file whose table has no rows is an error by default (an empty query
        result or a failed export is almost always a mistake); ``True``
        returns the empty table.
    **read_kwargs
        Passed to the reader (``astropy.table.Table.read``; ``pandas.read_csv``
        for CSV). VOTables are read with ``use_names_over_ids=True``: the
        FIELD names (VizieR's ``[Fe/H]``), not their sanitised IDs.

    Returns
    -------
    astropy.table.Table
        Canonical names and units (:data:`~fastgrad.schema.CANONICAL_UNITS`: deg, mas, mas/yr,
        km/s, K, dex, pc): file units are converted where they differ, and
        assigned where the file has none (CSV) or has one astropy cannot parse
        (e.g. Gaia's ``'dex'``). Masked float values become NaN. Identifiers
        (``source_id``, ``obsid``) are 64-bit integers: CSV id columns (any
        column a name map sends to them) are parsed as integers, never through
        float64, which cannot hold a Gaia ``source_id`` exactly. For Gaia kinds
        ``parallax_over_error`` is computed when absent. ``meta['catalog']``
        records the file, the kind and which file column became which name.

    Raises
    ------
    FileNotFoundError
        The file does not exist (naming it).
    fastgrad.errors.InputError
        (a ``ValueError``) naming the file and the format tried: the file is
        empty (0 bytes), truncated or corrupt, holds no table or no rows
        (unless ``allow_empty``), a CSV line has more or fewer fields than the
        header (naming the line: a file cut in the middle of a row is never
        read short), a CSV header repeats a name, or an identifier is missing
        or not an integer (naming the column and rows).
    MissingColumnsError
        (a ``ValueError``) naming every missing required column, the file, the
        names tried for each and the file's columns.

    Examples
    --------
    A Bailer-Jones CSV with VizieR's column names (I/352) comes back with
    canonical names, units (pc) and int64 ids:

    >>> from astropy.table import Table
    >>> from fastgrad import read_catalog
    >>> vizier = Table({"Source": [4295806720], "rgeo": [1510.2], "b_rgeo": [1480.1],
    ...                 "B_rgeo": [1545.3]})
    >>> vizier.write("bj.csv", overwrite=True)
    >>> t = read_catalog("bj.csv", kind="bailer_jones")
    >>> t.pprint()
     source_id r_med_geo r_lo_geo r_hi_geo
                   pc       pc       pc
    ---------- --------- -------- --------
    4295806720    1510.2   1480.1   1545.3
    >>> t["source_id"].dtype, t.meta["catalog"]["columns"]["r_med_geo"]
    (dtype('int64'), 'rgeo')
    """
    path = os.fspath(path)
    fmt = _format_of(path, format)
    local = "://" not in path
    if local and not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, f"catalogue file not found ({fmt})", path)
    if local and os.path.isfile(path) and os.path.getsize(path) == 0:
        raise InputError(f"{path!r}: the file is empty (0 bytes); expected a {fmt} table")
    if fmt == "csv":
        read_kwargs = _csv_id_dtypes(path, columns, read_kwargs)
        _check_csv_fields(path, read_kwargs)
    with warnings.catch_warnings():
        # Gaia's FITS units ('dex', 'log(cm.s**-2)', 'electron'.s**-1) do not
        # parse; canonical units are assigned below, so the warnings are noise.
        warnings.simplefilter("ignore", u.UnitsWarning)
        # VizieR names such as "[Fe/H]" are legal FITS column names; astropy
        # only recommends against them
        warnings.filterwarnings("ignore", message="It is strongly recommended that column names")
        # a FITS file shorter than its headers say is truncated, not a warning
        warnings.filterwarnings("error", message="File may have been truncated")
        try:
            table = _read(path, fmt, read_kwargs)
        except (
            FileNotFoundError,
            IsADirectoryError,
            PermissionError,
            ImportError,
            TypeError,
            MemoryError,
            KeyboardInterrupt,
        ):
            raise  # not the file's content: a path, a missing reader or a wrong keyword
        except Exception as exc:
            raise InputError(
                f"{path!r}: cannot be read as {fmt} ({type(exc).__name__}: "
                f"{str(exc).strip()}); the file may be truncated, corrupt or not "
                f"a {fmt} file"
            ) from exc
    if not table.colnames:
        raise InputError(f"{path!r}: the {fmt} file holds a table with no columns")
    if len(table) == 0 and not allow_empty:
        raise InputError(
            f"{path!r}: the {fmt} table has no rows (columns "
            f"{', '.join(table.colnames[:10])}{', ...' if len(table.colnames) > 10 else ''})"
            "; pass allow_empty=True to accept an empty catalogue"
        )
    return standardize_columns(table, kind=kind, columns=columns, source=path, keep=keep)


def _format_of(path, format):
    if format is not None:
        fmt = format.lower().replace("ascii.", "")
        if fmt not in set(_FORMATS.values()) | {"hats"}:
            raise ValueError(
                f"format must be one of {sorted(set(_FORMATS.values()) | {'hats'})}, got {format!r}"
            )
        return fmt
    if os.path.isdir(path):
        return "hats" if is_hats(path) else "parquet"
    name = path.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    ext = os.path.splitext(name)[1]
    if ext not in _FORMATS:
        raise ValueError(
            f"cannot tell the format of {path!r} from its extension; pass "
            f"format= one of {sorted(set(_FORMATS.values()))}"
        )
    return _FORMATS[ext]


def is_hats(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a HATS catalogue (a directory with its
    ``hats.properties``, ``properties`` before hats 0.4, and a ``dataset/``)
    or a HATS collection (``collection.properties``: a catalogue and its
    margins, as ``lsdb.Catalog.to_hats`` writes)."""
    return hats_catalog_dir(path) is not None


def hats_catalog_dir(path: str | os.PathLike[str]) -> str | None:
    """The HATS catalogue directory of ``path`` (a collection's primary
    table), or ``None`` when ``path`` is neither."""
    path = os.fspath(path)
    props = os.path.join(path, "collection.properties")
    if os.path.isfile(props):
        with open(props) as f:
            entries = dict(
                line.strip().split("=", 1) for line in f if "=" in line and line[0] != "#"
            )
        primary = entries.get("hats_primary_table_url")
        return hats_catalog_dir(os.path.join(path, primary)) if primary else None
    if os.path.isdir(os.path.join(path, "dataset")) and any(
        os.path.isfile(os.path.join(path, f)) for f in ("hats.properties", "properties")
    ):
        return path
    return None


#: Columns HATS adds to every row: the spatial index and the partition keys
HATS_COLUMNS = ("_healpix_29", "Norder", "Dir", "Npix")


def _read_dataset(path, read_kwargs):
    """A Parquet dataset or a HATS catalogue's ``dataset/``, whole, in the
    files' sorted order, without HATS's index and partition columns."""
    import pyarrow.dataset as ds

    hats = hats_catalog_dir(path)
    root = os.path.join(hats, "dataset") if hats else path
    data = ds.dataset(root, format="parquet", partitioning=None, exclude_invalid_files=True)
    names = [n for n in data.schema.names if n not in HATS_COLUMNS]
    arrow = data.to_table(columns=read_kwargs.get("columns", names))
    return Table.from_pandas(arrow.to_pandas())


def _read(path, fmt, read_kwargs):
    if fmt == "hats" or (fmt == "parquet" and os.path.isdir(path)):
        return _read_dataset(path, read_kwargs)
    if fmt == "csv":
        import pandas as pd  # its C parser reads 1e6 rows ~5x faster than astropy's

        return Table.from_pandas(pd.read_csv(path, **read_kwargs))
    if fmt == "parquet":
        try:
            return Table.read(path, format="parquet", **read_kwargs)
        except ImportError:  # astropy's reader needs pyarrow; pandas may have another engine
            import pandas as pd

            return Table.from_pandas(pd.read_parquet(path, **read_kwargs))
    if fmt == "votable":
        # FIELD names ("[Fe/H]"), not their sanitised IDs ("__Fe_H_"), are the
        # names VizieR and the column maps use
        read_kwargs = {"use_names_over_ids": True, **read_kwargs}
    astropy_format = {"fits": "fits", "votable": "votable", "ecsv": "ascii.ecsv"}[fmt]
    return Table.read(path, format=astropy_format, **read_kwargs)


def _file_names_for(columns, canonical=ID_COLUMNS):
    """Lower-case file names that may become one of the ``canonical`` columns
    (default: an identifier)."""
    names = set(canonical)
    maps = [schema.column_map for schema in CATALOG_SCHEMAS.values()] + [dict(columns or {})]
    for mapping in maps:
        names.update(k for k, v in mapping.items() if v in canonical)
    return {n.lower() for n in names}


def _csv_text(path, read_kwargs):
    opener = gzip.open if path.lower().endswith(".gz") else open
    return opener(path, "rt", encoding=read_kwargs.get("encoding") or "utf-8", newline="")


def _csv_separator(read_kwargs):
    """The one-character separator pandas will use, or None (regex, whitespace)."""
    if read_kwargs.get("delim_whitespace"):
        return None
    sep = read_kwargs.get("sep", read_kwargs.get("delimiter", ","))
    return sep if isinstance(sep, str) and len(sep) == 1 else None


def _csv_id_dtypes(path, columns, read_kwargs):
    """``read_kwargs`` with the id columns read as nullable int64 (pandas would
    otherwise read an id column with one blank cell as float64 and round every
    Gaia ``source_id`` (> 2**53) to another star's id) and the text columns
    (:data:`~fastgrad.schema.TEXT_COLUMNS`) as text."""
    sep = _csv_separator(read_kwargs)
    if sep is None or read_kwargs.get("header", "infer") is None or "names" in read_kwargs:
        header = read_kwargs.get("names") or []
    else:
        header = _csv_header(path, read_kwargs, sep)
    ids = _file_names_for(columns)
    wanted = {name: "Int64" for name in header if str(name).lower() in ids}
    # text columns stay text: pandas would read the GSP-Spec flag string
    # "0000000000000..." as a number and drop its leading zeros
    texts = _file_names_for(columns, TEXT_COLUMNS)
    wanted.update({name: str for name in header if str(name).lower() in texts})
    if not wanted:
        return read_kwargs
    user = read_kwargs.get("dtype")
    if user is not None and not isinstance(user, Mapping):
        return read_kwargs  # one dtype for every column: the user's choice
    return {**read_kwargs, "dtype": {**wanted, **dict(user or {})}}


def _csv_header(path, read_kwargs, sep):
    try:
        with _csv_text(path, read_kwargs) as fh:
            for fields in _csv_records(fh, sep, read_kwargs):
                return fields[1]
    except (OSError, UnicodeDecodeError, csv.Error):
        return []  # the reader itself reports what is wrong with the file
    return []


def _csv_records(fh, sep, read_kwargs):
    """(line number, fields) of each non-blank, non-comment record, as pandas
    splits them (quoted fields may hold separators and newlines)."""
    skip = read_kwargs.get("skiprows")
    skip = skip if isinstance(skip, numbers.Integral) and not isinstance(skip, bool) else 0
    comment = read_kwargs.get("comment")
    quotechar = read_kwargs.get("quotechar", '"')
    reader = csv.reader(fh, delimiter=sep, quotechar=quotechar, strict=False)
    for fields in reader:
        if reader.line_num <= skip:
            continue
        if comment and fields and fields[0].lstrip().startswith(comment):
            continue
        if comment:
            for i, value in enumerate(fields):
                if comment in value:
                    fields = fields[:i] + [value.split(comment, 1)[0]]
                    break
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # pandas skips blank lines
        yield reader.line_num, fields


def _check_csv_fields(path, read_kwargs):
    """Every record of a CSV file has as many fields as its first (the header):
    pandas fills a short row (a file cut in the middle of a row) with NaN and
    says nothing. Also refuses a header that repeats a name (pandas would
    rename the second ``a`` to ``a.1``)."""
    sep = _csv_separator(read_kwargs)
    if sep is None or "://" in path or read_kwargs.get("on_bad_lines") is not None:
        return  # a regex or whitespace separator, a URL, or the user chose pandas' handling
    try:
        bad, first = _csv_field_counts(path, sep, read_kwargs)
    except (OSError, UnicodeDecodeError, csv.Error):
        return  # not text, or not a CSV: pandas' own message (named by read_catalog) says so
    if bad:
        shown = ", ".join(f"line {n} has {k}" for n, k in bad[:5]) + (
            ", ..." if len(bad) > 5 else ""
        )
        raise InputError(
            f"{path!r}: {len(bad)} CSV line(s) do not have the {first[1]} fields of "
            f"the header (line {first[0]}): {shown}; the file may be truncated or a "
            "row malformed"
        )


def _csv_field_counts(path, sep, read_kwargs):
    bad, first = [], None
    with _csv_text(path, read_kwargs) as fh:
        for line, fields in _csv_records(fh, sep, read_kwargs):
            if first is None:
                first = (line, len(fields))
                names = [f.strip() for f in fields]
                dup = sorted({n for n in names if names.count(n) > 1})
                uses_header = (
                    read_kwargs.get("header", "infer") is not None and "names" not in read_kwargs
                )
                if dup and uses_header:
                    raise InputError(
                        f"{path!r}: the CSV header (line {line}) repeats column "
                        f"name(s) {dup}; each column needs its own name"
                    )
            elif len(fields) != first[1]:
                bad.append((line, len(fields)))
    return bad, first


def standardize_columns(
    table: Table | pd.DataFrame,
    kind: str | None = None,
    columns: Mapping[str, str] | None = None,
    *,
    source: str | None = None,
    keep: str = "all",
) -> Table:
    """Rename and re-unit an in-memory table as :func:`read_catalog` does.

    Parameters
    ----------
    table : astropy.table.Table or pandas.DataFrame
    kind, columns, keep :
        As in :func:`read_catalog`.
    source : str, optional
        Named in error messages and ``meta['catalog']``.

    Returns
    -------
    astropy.table.Table
        A new table (column data shared where nothing changed). Identifier
        columns (``source_id``, ``obsid``) come out as int64 (uint64 kept):
        a float column is converted only when every value is an integer of
        at most 2**53 in size (exact), otherwise refused.

    Raises
    ------
    TypeError
        ``table`` is not a Table, a DataFrame or something ``Table()`` takes.
    fastgrad.errors.InputError
        An identifier is missing (masked, NaN) or not an exact integer; the
        message names the source, the column and the rows.

    Examples
    --------
    >>> import pandas as pd
    >>> from fastgrad import standardize_columns
    >>> df = pd.DataFrame({"Source": [4295806720], "rgeo": [1510.2], "b_rgeo": [1480.1],
    ...                    "B_rgeo": [1545.3]})
    >>> t = standardize_columns(df, kind="bailer_jones", source="my DataFrame")
    >>> t.colnames, str(t["r_med_geo"].unit)
    (['source_id', 'r_med_geo', 'r_lo_geo', 'r_hi_geo'], 'pc')
    """
    if kind not in CATALOG_SCHEMAS and kind is not None:
        raise ValueError(f"kind must be one of {CATALOG_KINDS}, got {kind!r}")
    if keep not in ("all", "canonical"):
        raise ValueError(f"keep must be 'all' or 'canonical', got {keep!r}")
    if not isinstance(table, Table) and not is_dataframe(table):
        try:  # a dict of columns or a structured array, as astropy's Table() takes them
            table = Table(table)
        except Exception:
            raise TypeError(
                "table: expected an astropy Table or a pandas DataFrame, got "
                f"{type(table).__name__}"
            ) from None
    table = as_table("table", table)
    table = Table(table, copy=False)  # new columns and meta, shared data
    where = f" in {source!r}" if source else ""
    required, optional, default_map = CATALOG_SCHEMAS[kind] if kind else ((), (), {})
    user_map = dict(columns or {})
    # the kind's columns, then any other name the user maps to (kept, never required)
    wanted = tuple(dict.fromkeys(tuple(required) + tuple(optional) + tuple(user_map.values())))
    chosen, tried = {}, {}
    claimed = set()
    for canonical in wanted:
        # the user's names first, then the canonical name verbatim, then the kind's map
        candidates = [k for k, v in user_map.items() if v == canonical]
        if canonical not in candidates:
            candidates.append(canonical)
        candidates += [k for k, v in default_map.items() if v == canonical and k not in candidates]
        tried[canonical] = candidates
        name = _find_column(table.colnames, candidates, claimed)
        if name is not None:
            chosen[canonical] = name
            claimed.add(name)

    missing = [c for c in required if c not in chosen]
    if missing:
        shown = ", ".join(table.colnames[:60]) + (", ..." if len(table.colnames) > 60 else "")
        lines = [
            f"{kind} catalogue{where}: {len(missing)} required column(s) missing: "
            f"{', '.join(missing)}."
        ]
        for c in missing:
            lines.append(f"  {c!r}: tried file names {tried[c]}")
        lines.append(f"The file has: {shown}")
        lines.append(
            "Map a file column with columns={'file_name': 'canonical_name'} (in a "
            'run\'s TOML: [samples.NAME.columns.INPUT] file_name = "canonical_name"; '
            "default map: "
            + (
                "fastgrad.schema.LAMOST_COLUMN_MAP, formerly LAMOST_COLUMNS"
                if kind == "lamost_hot_stars"
                else f"fastgrad.schema.CATALOG_SCHEMAS[{kind!r}].column_map"
            )
            + ")."
        )
        raise MissingColumnsError("\n".join(lines), missing)

    # rename in two steps (so swaps and chains work); a column that already holds
    # a canonical name but was not chosen for it moves aside to <name>_original
    moving = {c: n for c, n in chosen.items() if n != c}
    for canonical, name in moving.items():
        table.rename_column(name, f"\x00fastgrad:{canonical}")
    for canonical in moving:
        if canonical in table.colnames:
            aside = canonical + "_original"
            while aside in table.colnames:
                aside += "_"
            table.rename_column(canonical, aside)
        table.rename_column(f"\x00fastgrad:{canonical}", canonical)

    for name in ID_COLUMNS:
        if name in table.colnames:
            _check_ids(table, name, where)
    for name in table.colnames:
        if name in CANONICAL_UNITS:
            _set_canonical_unit(table, name, where)
            continue
        if table[name].dtype.kind == "f" and isinstance(table[name], MaskedColumn):
            table.replace_column(name, _filled(table[name]), copy=False)
        unit = table[name].unit
        if isinstance(unit, u.UnrecognizedUnit) and unit.name in _UNIT_FIXES:
            table[name].unit = _UNIT_FIXES[unit.name]

    if kind in ("gaia", "gaia_giants") and "parallax_over_error" not in table.colnames:
        table["parallax_over_error"] = as_float_array(
            "parallax", table["parallax"], u.mas
        ) / as_float_array("parallax_error", table["parallax_error"], u.mas)
    if keep == "canonical":
        table = table[[c for c in table.colnames if c in wanted or c == "parallax_over_error"]]
    table.meta["catalog"] = {
        "kind": kind,
        "source": source,
        "columns": {c: n for c, n in chosen.items()},
    }
    return table


def _check_ids(table, name, where):
    """Identifiers as exact 64-bit integers, none missing."""
    col = table[name]
    kind = col.dtype.kind
    if kind not in "iuf":
        return  # string identifiers stay as they are (join_distances compares kinds)
    label = f"column {name!r}{where}"
    data = col.data
    if np.ma.isMaskedArray(data):
        mask = np.ma.getmaskarray(data)
        reject_rows(
            label,
            mask,
            "have no identifier (masked or blank)",
            "every star needs its id; drop those rows first",
        )
        data = np.asarray(data.data)
    else:
        data = np.asarray(data)
    if kind == "f":
        with np.errstate(invalid="ignore"):
            reject_rows(
                label,
                ~np.isfinite(data),
                "have no identifier (NaN)",
                "every star needs its id; drop those rows first",
            )
            inexact = (np.abs(data) > 2.0**53) | (data != np.round(data))
        reject_rows(
            label,
            inexact,
            "are not integers float64 holds exactly (|id| <= 2**53)",
            "ids read as floats lose digits (a Gaia source_id needs 64-bit integers): "
            "store or read the column as int64",
        )
        data = data.astype(np.int64)
    if isinstance(col, MaskedColumn) or kind == "f":
        table.replace_column(
            name,
            Column(data, name=name, unit=col.unit, description=col.description, meta=col.meta),
            copy=False,
        )


def _find_column(colnames, candidates, claimed):
    """The first candidate present exactly; failing that, the first present
    ignoring case when that match is unique (so ``b_rgeo``/``B_rgeo`` stay apart)."""
    for name in candidates:
        if name in colnames and name not in claimed:
            return name
    lower = {}
    for col in colnames:
        lower.setdefault(col.lower(), []).append(col)
    for name in candidates:
        hits = [c for c in lower.get(name.lower(), []) if c not in claimed]
        if len(hits) == 1:
            return hits[0]
    return None


def _filled(col):
    """A float column with masked entries as NaN (cuts then treat them as missing)."""
    data = np.ma.filled(col.data, np.nan) if np.ma.isMaskedArray(col.data) else col.data
    return Column(data, name=col.name, unit=col.unit, description=col.description, meta=col.meta)


def _numbers_from_text(table, name, where):
    """A canonical numeric column read as text (a CSV column with one stray
    word, or an object column) as float64: blanks become NaN, a value that is
    not a number is an error naming the rows (never silently NaN)."""
    import pandas as pd

    col = table[name]
    text = pd.Series(np.asarray(col.data if hasattr(col, "data") else col, dtype=object))
    blank = text.isna().to_numpy() | text.map(
        lambda v: isinstance(v, str) and not v.strip() or np.ma.is_masked(v)
    ).to_numpy(dtype=bool)
    values = np.array(pd.to_numeric(text.where(~blank), errors="coerce"), dtype=np.float64)
    if np.ma.isMaskedArray(col.data):
        values[np.ma.getmaskarray(col.data)] = np.nan
        blank |= np.ma.getmaskarray(col.data)
    wrong = np.isnan(values) & ~blank
    if wrong.any():
        reject_rows(
            f"column {name!r}{where}", wrong, f"are not numbers (e.g. {text[wrong].iloc[0]!r})"
        )
    new_col = Column(values, name=name, unit=col.unit, description=col.description, meta=col.meta)
    table.replace_column(name, new_col, copy=False)
    return table[name]


def _set_canonical_unit(table, name, where):
    if name in LABEL_COLUMNS:
        # identifiers and flag strings stay as the file has them, but as text
        # (FITS gives bytes, VOTable/CSV str: one canonical type)
        col = table[name]
        if col.dtype.kind == "S":
            text = np.char.decode(np.ma.getdata(col.data), "utf-8")
            kind = MaskedColumn if isinstance(col, MaskedColumn) else Column
            extra = {"mask": col.mask} if kind is MaskedColumn else {}
            table.replace_column(
                name,
                kind(text, name=name, description=col.description, meta=col.meta, **extra),
                copy=False,
            )
        return
    col = table[name]
    target = CANONICAL_UNITS[name]
    if col.dtype.kind in "OUS" and name not in ID_COLUMNS + TEXT_COLUMNS:
        col = _numbers_from_text(table, name, where)
    if col.dtype.kind not in "fiu":  # e.g. string identifiers: leave as they are
        return
    new_col = None
    if (
        target is not None
        and target != u.dex
        and isinstance(col.unit, u.UnrecognizedUnit)
        and col.unit.name not in _UNIT_FIXES
    ):
        # assigning the canonical unit would guess a scale the file does not state
        raise InputError(
            f"column {name!r}{where} has a unit astropy cannot read "
            f"({col.unit.name!r}); expected {target} or a unit convertible to it. "
            "Fix the unit (e.g. in a Table passed to standardize_columns)"
        )
    if col.dtype.kind == "f" and isinstance(col, MaskedColumn):
        new_col = col = _filled(col)
    unit = col.unit
    if (
        target is not None
        and target != u.dex
        and unit is not None
        and not isinstance(unit, u.UnrecognizedUnit)
        and unit != target
    ):
        try:
            factor = unit.to(target)
        except u.UnitConversionError:
            raise ValueError(
                f"column {name!r}{where} is in {unit}, which cannot be converted to {target}"
            ) from None
        new_col = Column(
            np.asarray(col, dtype=np.float64) * factor,
            name=name,
            description=col.description,
            meta=col.meta,
        )
    # else: no unit (CSV) or one astropy cannot parse -> the canonical unit is
    # assigned; dimensionless numbers and dex quantities are taken as they are,
    # their file units ("", "'dex'", "log(cm.s**-2)") carry no scale to convert.
    if new_col is not None:  # replace without copying the data again
        table.replace_column(name, new_col, copy=False)
    table[name].unit = target
