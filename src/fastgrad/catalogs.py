"""Catalogue readers, column maps, the 2" cross-match and the paper's quality cuts.

METHOD.md sections 1 and 2 (Hawkins 2023, sections 2.1-2.3). Every step takes
and returns astropy Tables and says what it removed:

- :func:`read_catalog` reads FITS, VOTable, CSV, ECSV or Parquet and returns
  the canonical column names and units of one of the known catalogues
  (:data:`CATALOG_KINDS`): Gaia DR3 archive names verbatim, Bailer-Jones
  (2021) ``r_med_geo, r_lo_geo, r_hi_geo`` and the LAMOST hot-star
  ("HotPayne", Xiang et al. 2022) names mapped by :data:`LAMOST_COLUMNS`.
- :func:`crossmatch` pairs two catalogues on the sky one-to-one (the paper's
  2" match of LAMOST to Gaia DR3), :func:`join_distances` attaches
  Bailer-Jones distances by ``source_id`` and :func:`add_distances` turns them
  into ``distance`` and ``distance_error`` in kpc.
- :func:`apply_cuts` applies named, documented cuts (:class:`Cut`, presets in
  :data:`CUT_PRESETS`) and returns a report of what each one removed.

The order of the paper for LAMOST is: spectroscopic cuts (``"lamost_hot_stars"``)
-> 2" match to Gaia DR3 -> ``"astrometric"`` -> halo cut
(:func:`fastgrad.populations.halo_cut`); for the Gaia giants: the query ->
``"gaia_giants"`` -> distance match -> ``"astrometric"`` -> halo cut.
"""
import csv
import errno
import gzip
import numbers
import os
import warnings
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Callable, Mapping

import numpy as np
import astropy.units as u
from astropy.table import Column, MaskedColumn, Table, hstack

from ._validation import as_float_array, as_scalar, as_table, is_dataframe, raise_bad_rows
from .errors import InputError

__all__ = [
    "read_catalog",
    "standardize_columns",
    "bailer_jones_distances",
    "CATALOG_KINDS",
    "CANONICAL_UNITS",
    "LAMOST_COLUMNS",
    "GAIA_VIZIER_COLUMNS",
    "BAILER_JONES_VIZIER_COLUMNS",
    "MissingColumnsError",
    "crossmatch",
    "join_distances",
    "add_distances",
    "Cut",
    "CUT_PRESETS",
    "get_cuts",
    "apply_cuts",
    "cut_parameters",
]

# ---------------------------------------------------------------------------
# Canonical names and units
# ---------------------------------------------------------------------------

_DEX = u.dex
_KMS = u.km / u.s
_MASYR = u.mas / u.yr

#: Unit of every canonical column; ``None`` = dimensionless or an identifier.
#: Gaia DR3 archive names are used verbatim; ``logg`` and the abundances are
#: in dex (logg: log10 of g in cm s^-2).
CANONICAL_UNITS = MappingProxyType({
    # identifiers
    "source_id": None, "obsid": None,
    # Gaia DR3 gaia_source
    "ra": u.deg, "dec": u.deg,
    "ra_error": u.mas, "dec_error": u.mas,
    "parallax": u.mas, "parallax_error": u.mas, "parallax_over_error": None,
    "pmra": _MASYR, "pmra_error": _MASYR, "pmdec": _MASYR, "pmdec_error": _MASYR,
    "radial_velocity": _KMS, "radial_velocity_error": _KMS,
    "ra_dec_corr": None, "ra_pmra_corr": None, "ra_pmdec_corr": None,
    "dec_pmra_corr": None, "dec_pmdec_corr": None, "pmra_pmdec_corr": None,
    # Gaia DR3 astrophysical_parameters (GSP-Spec)
    "mh_gspspec": _DEX, "mh_gspspec_lower": _DEX, "mh_gspspec_upper": _DEX,
    "teff_gspspec": u.K, "logg_gspspec": _DEX,
    # Bailer-Jones et al. 2021 geometric distances (16th, 50th, 84th percentiles)
    "r_med_geo": u.pc, "r_lo_geo": u.pc, "r_hi_geo": u.pc,
    # derived by add_distances
    "distance": u.kpc, "distance_error": u.kpc,
    # LAMOST hot stars (HotPayne)
    "teff": u.K, "teff_err": u.K, "logg": _DEX, "logg_err": _DEX,
    "feh": _DEX, "feh_err": _DEX, "vsini": _KMS, "snr": None, "chi2ratio": None,
    "rv": _KMS, "rv_err": _KMS,
})

_GAIA_REQUIRED = ("source_id", "ra", "dec", "parallax", "parallax_error", "pmra",
                  "pmra_error", "pmdec", "pmdec_error", "ra_error", "dec_error")
_GAIA_OPTIONAL = ("parallax_over_error", "radial_velocity", "radial_velocity_error",
                  "ra_dec_corr", "ra_pmra_corr", "ra_pmdec_corr", "dec_pmra_corr",
                  "dec_pmdec_corr", "pmra_pmdec_corr")
_GSPSPEC = ("mh_gspspec", "mh_gspspec_lower", "mh_gspspec_upper", "teff_gspspec",
            "logg_gspspec")

#: VizieR I/355/gaiadr3 names -> Gaia DR3 archive names (tried after the
#: archive names themselves, so archive files need no mapping).
GAIA_VIZIER_COLUMNS = {
    "Source": "source_id", "RA_ICRS": "ra", "DE_ICRS": "dec",
    "e_RA_ICRS": "ra_error", "e_DE_ICRS": "dec_error",
    "Plx": "parallax", "e_Plx": "parallax_error", "RPlx": "parallax_over_error",
    "pmRA": "pmra", "e_pmRA": "pmra_error", "pmDE": "pmdec", "e_pmDE": "pmdec_error",
    "RV": "radial_velocity", "e_RV": "radial_velocity_error",
    "RADEcor": "ra_dec_corr", "RApmRAcor": "ra_pmra_corr", "RApmDEcor": "ra_pmdec_corr",
    "DEpmRAcor": "dec_pmra_corr", "DEpmDEcor": "dec_pmdec_corr",
    "pmRApmDEcor": "pmra_pmdec_corr",
}

#: VizieR I/352/gedr3dis names -> Bailer-Jones archive names (b_/B_ are the
#: 16th/84th percentiles; matched case-sensitively first, so they stay apart).
BAILER_JONES_VIZIER_COLUMNS = {
    "Source": "source_id", "rgeo": "r_med_geo", "b_rgeo": "r_lo_geo", "B_rgeo": "r_hi_geo",
}

#: File (VizieR or the authors' FITS) column name -> canonical name, for the
#: LAMOST hot-star catalogue of Xiang et al. (2022, A&A 662, A66, "HotPayne").
#: The exact VizieR names of J/A+A/662/A66 were not at hand when this was
#: written: the keys are the usual VizieR spellings (``e_`` prefix for errors)
#: and the ``_err`` spellings, tried in this order, exact case first, then
#: ignoring case; a canonical name present in the file verbatim is always
#: accepted. **SNR: the g-band signal-to-noise ratio** (LAMOST's ``snrg``) is
#: taken as the paper's "SNR" (Hawkins 2023, section 2.1 (iv) does not name the
#: band). Override entries with ``read_catalog(..., columns={"SNR_r": "snr"})``
#: (``columns`` is tried before this dict) or edit this dict.
LAMOST_COLUMNS = {
    "ObsID": "obsid", "obsid": "obsid",
    "RAdeg": "ra", "RAJ2000": "ra", "RA_ICRS": "ra", "RA": "ra",
    "DEdeg": "dec", "DEJ2000": "dec", "DE_ICRS": "dec", "DEC": "dec",
    "Teff": "teff", "e_Teff": "teff_err", "Teff_err": "teff_err", "teff_error": "teff_err",
    "logg": "logg", "e_logg": "logg_err", "logg_err": "logg_err", "logg_error": "logg_err",
    "[Fe/H]": "feh", "FeH": "feh", "Fe_H": "feh",
    "e_[Fe/H]": "feh_err", "e_FeH": "feh_err", "FeH_err": "feh_err", "Fe_H_err": "feh_err",
    "feh_error": "feh_err",
    "vsini": "vsini", "Vsini": "vsini", "vsin_i": "vsini",
    "SNRg": "snr", "snr_g": "snr", "S/Ng": "snr", "SNR": "snr",
    "chi2ratio": "chi2ratio", "chi2_ratio": "chi2ratio",
    "RV": "rv", "HRV": "rv", "e_RV": "rv_err", "e_HRV": "rv_err", "RV_err": "rv_err",
    "rv_error": "rv_err",
}

_KINDS = {
    # kind: (required canonical columns, optional canonical columns, default mapping)
    "gaia": (_GAIA_REQUIRED, _GAIA_OPTIONAL, GAIA_VIZIER_COLUMNS),
    "gaia_giants": (_GAIA_REQUIRED + ("radial_velocity", "radial_velocity_error") + _GSPSPEC,
                    tuple(c for c in _GAIA_OPTIONAL
                          if c not in ("radial_velocity", "radial_velocity_error")),
                    GAIA_VIZIER_COLUMNS),
    "bailer_jones": (("source_id", "r_med_geo", "r_lo_geo", "r_hi_geo"), (),
                     BAILER_JONES_VIZIER_COLUMNS),
    "lamost_hot_stars": (("obsid", "ra", "dec", "teff", "teff_err", "logg", "logg_err",
                          "feh", "feh_err", "vsini", "snr", "chi2ratio", "rv", "rv_err"),
                         (), LAMOST_COLUMNS),
}

#: The catalogue kinds :func:`read_catalog` knows (``None``: no required columns).
CATALOG_KINDS = tuple(_KINDS) + (None,)

_FORMATS = {
    ".fits": "fits", ".fit": "fits", ".fts": "fits", ".fz": "fits",
    ".vot": "votable", ".votable": "votable", ".xml": "votable",
    ".csv": "csv", ".ecsv": "ecsv", ".parquet": "parquet", ".pq": "parquet",
}


#: Units the Gaia archive writes that astropy's FITS/VOTable parsers do not read.
_UNIT_FIXES = {
    "'dex'": u.dex, "dex": u.dex, "log(cm.s**-2)": u.dex, "'log(cm.s**-2)'": u.dex,
    "'electron'.s**-1": u.electron / u.s,
}


class MissingColumnsError(ValueError):
    """Required columns are absent (a ``ValueError``); ``.missing`` lists them."""

    def __init__(self, message, missing=()):
        super().__init__(message)
        self.missing = tuple(missing)


# ---------------------------------------------------------------------------
# Readers
# ---------------------------------------------------------------------------

def read_catalog(path, kind=None, columns=None, *, format=None, keep="all", allow_empty=False,
                 **read_kwargs):
    """Read a catalogue file into an astropy Table with canonical names and units.

    Parameters
    ----------
    path : str or os.PathLike
        A FITS, VOTable, CSV, ECSV or Parquet file (``.gz`` allowed where the
        reader allows it).
    kind : {"gaia", "gaia_giants", "bailer_jones", "lamost_hot_stars", None}
        Which catalogue: fixes the required columns and the default name map.
        ``"gaia"``: Gaia DR3 ``gaia_source`` astrometry (``source_id, ra, dec,
        parallax, parallax_error, pmra, pmra_error, pmdec, pmdec_error,
        ra_error, dec_error``; ``radial_velocity``, ``radial_velocity_error``,
        ``parallax_over_error`` and the six ra/dec/pm ``*_corr`` optional).
        ``"gaia_giants"``: that plus ``radial_velocity, radial_velocity_error,
        mh_gspspec, mh_gspspec_lower, mh_gspspec_upper, teff_gspspec,
        logg_gspspec``. ``"bailer_jones"``: ``source_id, r_med_geo, r_lo_geo,
        r_hi_geo`` (pc). ``"lamost_hot_stars"``: ``obsid, ra, dec, teff,
        teff_err, logg, logg_err, feh, feh_err, vsini, snr, chi2ratio, rv,
        rv_err`` through :data:`LAMOST_COLUMNS`. ``None``: only ``columns``
        renames, nothing required.
    columns : dict, optional
        File column name -> canonical name, tried before the kind's default map
        (Gaia: :data:`GAIA_VIZIER_COLUMNS`, Bailer-Jones:
        :data:`BAILER_JONES_VIZIER_COLUMNS`, LAMOST: :data:`LAMOST_COLUMNS`).
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
        Canonical names and units (:data:`CANONICAL_UNITS`: deg, mas, mas/yr,
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
        except (FileNotFoundError, IsADirectoryError, PermissionError, ImportError, TypeError,
                MemoryError, KeyboardInterrupt):
            raise  # not the file's content: a path, a missing reader or a wrong keyword
        except Exception as exc:
            raise InputError(f"{path!r}: cannot be read as {fmt} ({type(exc).__name__}: "
                             f"{str(exc).strip()}); the file may be truncated, corrupt or not "
                             f"a {fmt} file") from exc
    if not table.colnames:
        raise InputError(f"{path!r}: the {fmt} file holds a table with no columns")
    if len(table) == 0 and not allow_empty:
        raise InputError(f"{path!r}: the {fmt} table has no rows (columns "
                         f"{', '.join(table.colnames[:10])}{', ...' if len(table.colnames) > 10 else ''})"
                         "; pass allow_empty=True to accept an empty catalogue")
    return standardize_columns(table, kind=kind, columns=columns, source=path, keep=keep)


def _format_of(path, format):
    if format is not None:
        fmt = format.lower().replace("ascii.", "")
        if fmt not in set(_FORMATS.values()):
            raise ValueError(f"format must be one of {sorted(set(_FORMATS.values()))}, got {format!r}")
        return fmt
    name = path.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    ext = os.path.splitext(name)[1]
    if ext not in _FORMATS:
        raise ValueError(f"cannot tell the format of {path!r} from its extension; pass "
                         f"format= one of {sorted(set(_FORMATS.values()))}")
    return _FORMATS[ext]


def _read(path, fmt, read_kwargs):
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


#: Canonical identifier columns: 64-bit integers, never missing.
_ID_COLUMNS = ("source_id", "obsid")


def _id_file_names(columns):
    """Lower-case file names that may become an identifier column."""
    names = set(_ID_COLUMNS)
    for mapping in (GAIA_VIZIER_COLUMNS, BAILER_JONES_VIZIER_COLUMNS, LAMOST_COLUMNS,
                    dict(columns or {})):
        names.update(k for k, v in mapping.items() if v in _ID_COLUMNS)
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
    """``read_kwargs`` with the id columns read as nullable int64: pandas would
    otherwise read an id column with one blank cell as float64 and round every
    Gaia ``source_id`` (> 2**53) to another star's id."""
    sep = _csv_separator(read_kwargs)
    if sep is None or read_kwargs.get("header", "infer") is None or "names" in read_kwargs:
        header = read_kwargs.get("names") or []
    else:
        header = _csv_header(path, read_kwargs, sep)
    ids = _id_file_names(columns)
    wanted = {name: "Int64" for name in header if str(name).lower() in ids}
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
        shown = ", ".join(f"line {n} has {k}" for n, k in bad[:5]) + (", ..." if len(bad) > 5 else "")
        raise InputError(f"{path!r}: {len(bad)} CSV line(s) do not have the {first[1]} fields of "
                         f"the header (line {first[0]}): {shown}; the file may be truncated or a "
                         "row malformed")


def _csv_field_counts(path, sep, read_kwargs):
    bad, first = [], None
    with _csv_text(path, read_kwargs) as fh:
        for line, fields in _csv_records(fh, sep, read_kwargs):
            if first is None:
                first = (line, len(fields))
                names = [f.strip() for f in fields]
                dup = sorted({n for n in names if names.count(n) > 1})
                uses_header = read_kwargs.get("header", "infer") is not None \
                    and "names" not in read_kwargs
                if dup and uses_header:
                    raise InputError(f"{path!r}: the CSV header (line {line}) repeats column "
                                     f"name(s) {dup}; each column needs its own name")
            elif len(fields) != first[1]:
                bad.append((line, len(fields)))
    return bad, first


def standardize_columns(table, kind=None, columns=None, *, source=None, keep="all"):
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
    """
    if kind not in _KINDS and kind is not None:
        raise ValueError(f"kind must be one of {CATALOG_KINDS}, got {kind!r}")
    if keep not in ("all", "canonical"):
        raise ValueError(f"keep must be 'all' or 'canonical', got {keep!r}")
    if not isinstance(table, Table) and not is_dataframe(table):
        try:  # a dict of columns or a structured array, as astropy's Table() takes them
            table = Table(table)
        except Exception:
            raise TypeError("table: expected an astropy Table or a pandas DataFrame, got "
                            f"{type(table).__name__}") from None
    table = as_table("table", table)
    table = Table(table, copy=False)  # new columns and meta, shared data
    where = f" in {source!r}" if source else ""
    required, optional, default_map = _KINDS[kind] if kind else ((), (), {})
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
        lines = [f"{kind} catalogue{where}: {len(missing)} required column(s) missing: "
                 f"{', '.join(missing)}."]
        for c in missing:
            lines.append(f"  {c!r}: tried file names {tried[c]}")
        lines.append(f"The file has: {shown}")
        lines.append("Map a file column with columns={'file_name': 'canonical_name'}"
                     + (" (default map: fastgrad.catalogs.LAMOST_COLUMNS)"
                        if kind == "lamost_hot_stars" else "") + ".")
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

    for name in _ID_COLUMNS:
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
        table["parallax_over_error"] = (as_float_array("parallax", table["parallax"], u.mas)
                                        / as_float_array("parallax_error", table["parallax_error"], u.mas))
    if keep == "canonical":
        table = table[[c for c in table.colnames if c in wanted or c == "parallax_over_error"]]
    table.meta["catalog"] = {"kind": kind, "source": source,
                             "columns": {c: n for c, n in chosen.items()}}
    return table




def _bad_rows(name, mask, what, hint=""):
    """raise_bad_rows' message, as an InputError (bad rows are bad input data)."""
    try:
        raise_bad_rows(name, mask, what, hint)
    except ValueError as exc:
        raise InputError(str(exc)) from None


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
        _bad_rows(label, mask, "have no identifier (masked or blank)",
                  "every star needs its id; drop those rows first")
        data = np.asarray(data.data)
    else:
        data = np.asarray(data)
    if kind == "f":
        with np.errstate(invalid="ignore"):
            _bad_rows(label, ~np.isfinite(data), "have no identifier (NaN)",
                      "every star needs its id; drop those rows first")
            inexact = (np.abs(data) > 2.0 ** 53) | (data != np.round(data))
        _bad_rows(label, inexact, "are not integers float64 holds exactly (|id| <= 2**53)",
                  "ids read as floats lose digits (a Gaia source_id needs 64-bit integers): "
                  "store or read the column as int64")
        data = data.astype(np.int64)
    if isinstance(col, MaskedColumn) or kind == "f":
        table.replace_column(name, Column(data, name=name, unit=col.unit,
                                          description=col.description, meta=col.meta),
                             copy=False)


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
    return Column(data, name=col.name, unit=col.unit, description=col.description,
                  meta=col.meta)


def _numbers_from_text(table, name, where):
    """A canonical numeric column read as text (a CSV column with one stray
    word, or an object column) as float64: blanks become NaN, a value that is
    not a number is an error naming the rows (never silently NaN)."""
    import pandas as pd

    col = table[name]
    text = pd.Series(np.asarray(col.data if hasattr(col, "data") else col, dtype=object))
    blank = text.isna().to_numpy() | text.map(lambda v: isinstance(v, str) and not v.strip()
                                               or np.ma.is_masked(v)).to_numpy(dtype=bool)
    values = np.array(pd.to_numeric(text.where(~blank), errors="coerce"), dtype=np.float64)
    if np.ma.isMaskedArray(col.data):
        values[np.ma.getmaskarray(col.data)] = np.nan
        blank |= np.ma.getmaskarray(col.data)
    wrong = np.isnan(values) & ~blank
    if wrong.any():
        _bad_rows(f"column {name!r}{where}", wrong,
                  f"are not numbers (e.g. {text[wrong].iloc[0]!r})")
    new_col = Column(values, name=name, unit=col.unit, description=col.description,
                     meta=col.meta)
    table.replace_column(name, new_col, copy=False)
    return table[name]


def _set_canonical_unit(table, name, where):
    col = table[name]
    target = CANONICAL_UNITS[name]
    if col.dtype.kind in "OUS" and name not in _ID_COLUMNS:
        col = _numbers_from_text(table, name, where)
    if col.dtype.kind not in "fiu":  # e.g. string identifiers: leave as they are
        return
    new_col = None
    if target is not None and target != _DEX and isinstance(col.unit, u.UnrecognizedUnit) \
            and col.unit.name not in _UNIT_FIXES:
        # assigning the canonical unit would guess a scale the file does not state
        raise InputError(f"column {name!r}{where} has a unit astropy cannot read "
                         f"({col.unit.name!r}); expected {target} or a unit convertible to it. "
                         "Fix the unit (e.g. in a Table passed to standardize_columns)")
    if col.dtype.kind == "f" and isinstance(col, MaskedColumn):
        new_col = col = _filled(col)
    unit = col.unit
    if target is not None and target != _DEX and unit is not None \
            and not isinstance(unit, u.UnrecognizedUnit) and unit != target:
        try:
            factor = unit.to(target)
        except u.UnitConversionError:
            raise ValueError(f"column {name!r}{where} is in {unit}, which cannot be "
                             f"converted to {target}") from None
        new_col = Column(np.asarray(col, dtype=np.float64) * factor, name=name,
                         description=col.description, meta=col.meta)
    # else: no unit (CSV) or one astropy cannot parse -> the canonical unit is
    # assigned; dimensionless numbers and dex quantities are taken as they are,
    # their file units ("", "'dex'", "log(cm.s**-2)") carry no scale to convert.
    if new_col is not None:  # replace without copying the data again
        table.replace_column(name, new_col, copy=False)
    table[name].unit = target


# ---------------------------------------------------------------------------
# Cross-match and distances
# ---------------------------------------------------------------------------

def crossmatch(left, right, radius=2 * u.arcsec, *, left_coords=("ra", "dec"),
               right_coords=("ra", "dec"), suffixes=("_1", "_2"),
               separation_column="separation", return_indices=False):
    """One-to-one positional match of two catalogues (the paper's 2" match).

    For every row of ``left`` the nearest row of ``right`` is found with
    :func:`astropy.coordinates.match_coordinates_sky`; pairs farther than
    ``radius`` are dropped. When several left rows have the same nearest right
    row, the nearest pair wins (ties: the lower left index) and the others are
    dropped, not re-matched to a farther neighbour; such duplicates are counted
    (in LAMOST they are mostly repeat spectra of one star, so this also keeps
    one spectrum per Gaia source).

    Parameters
    ----------
    left, right : astropy.table.Table or pandas.DataFrame
        Positions in columns ``left_coords`` / ``right_coords`` (deg, or any
        angle unit the columns carry). Rows with a missing (NaN) ra or dec are
        never matched (and counted: ``n_left_bad_position``); an infinite ra
        or dec, or a dec outside [-90, 90] deg, is an error.
    radius : Quantity or float
        Maximum separation, >= 0 (an angle; a plain number is in arcsec); a
        pair at exactly ``radius`` matches.
    suffixes : (str, str)
        Appended to column names present in both tables; ``("_lamost", "")``
        keeps Gaia's names verbatim when ``right`` is Gaia.
    separation_column : str
        Name of the added column of pair separations (arcsec).
    return_indices : bool
        Also return the matched row indices into ``left`` and ``right``.

    Returns
    -------
    matched : astropy.table.Table
        One row per matched pair, in ``left``'s order: ``left``'s columns, then
        ``right``'s, then the separation. ``meta['crossmatch']`` holds the
        counts: ``n_left``, ``n_right``, ``n_left_bad_position``,
        ``n_right_bad_position``, ``n_within_radius`` (left rows with a right row
        within ``radius``), ``n_matched``, ``n_duplicates_dropped`` (left rows
        that lost their nearest right row to a nearer left row),
        ``n_right_multiply_claimed``, ``n_left_unmatched``,
        ``n_right_unmatched`` and ``radius_arcsec``.
    left_index, right_index : ndarray of int, if ``return_indices``

    Raises
    ------
    TypeError
        ``left`` or ``right`` is neither a Table nor a DataFrame; ``radius`` is
        not a number.
    astropy.units.UnitConversionError
        ``radius`` is not an angle (the message names ``radius``).
    fastgrad.errors.InputError
        An infinite ra or dec, or a dec outside [-90, 90] deg; the message
        names the table (``left``/``right`` and its file), the column and the
        rows.
    """
    from astropy.coordinates import SkyCoord, match_coordinates_sky

    if len(suffixes) != 2 or suffixes[0] == suffixes[1]:
        raise ValueError(f"suffixes must be two different strings, got {suffixes!r}")
    radius_arcsec = as_scalar("radius", radius, u.arcsec, minimum=0)
    left = as_table("left", left)
    right = as_table("right", right)
    lra, ldec = _radec(left, left_coords, "left")
    rra, rdec = _radec(right, right_coords, "right")
    lgood = np.flatnonzero(np.isfinite(lra) & np.isfinite(ldec))
    rgood = np.flatnonzero(np.isfinite(rra) & np.isfinite(rdec))

    li = ri = np.zeros(0, dtype=np.intp)
    sep = np.zeros(0)
    if lgood.size and rgood.size:
        lcoord = SkyCoord(lra[lgood], ldec[lgood], unit=u.deg)
        rcoord = SkyCoord(rra[rgood], rdec[rgood], unit=u.deg)
        nearest, sep2d, _ = match_coordinates_sky(lcoord, rcoord, nthneighbor=1)
        sep = sep2d.to_value(u.arcsec)
        within = sep <= radius_arcsec
        li, ri, sep = lgood[within], rgood[nearest[within]], sep[within]
    n_within = li.size
    # nearest pair wins: sort by (separation, left index), keep each right row's first
    order = np.lexsort((li, sep))
    _, first, counts = np.unique(ri[order], return_index=True, return_counts=True)
    keep = np.sort(order[first])  # back to left's order
    li, ri, sep = li[keep], ri[keep], sep[keep]

    matched = hstack([left[li], right[ri]], join_type="exact",
                     table_names=list(suffixes), uniq_col_name="{col_name}{table_name}",
                     metadata_conflicts="silent")
    matched[separation_column] = Column(sep, unit=u.arcsec,
                                        description="separation of the matched pair")
    report = {
        "radius_arcsec": radius_arcsec,
        "n_left": len(left), "n_right": len(right),
        "n_left_bad_position": int(len(left) - lgood.size),
        "n_right_bad_position": int(len(right) - rgood.size),
        "n_within_radius": int(n_within),
        "n_matched": int(li.size),
        "n_duplicates_dropped": int(n_within - li.size),
        "n_right_multiply_claimed": int(np.count_nonzero(counts > 1)),
        "n_left_unmatched": int(len(left) - li.size),
        "n_right_unmatched": int(len(right) - li.size),
    }
    matched.meta["crossmatch"] = report
    if return_indices:
        return matched, li, ri
    return matched


def _radec(table, names, which):
    if len(names) != 2:
        raise ValueError(f"{which}_coords must name two columns (ra, dec), got {names!r}")
    missing = [n for n in names if n not in table.colnames]
    if missing:
        raise MissingColumnsError(f"{which}: position column(s) {missing} missing; "
                                  f"pass {which}_coords=(ra_name, dec_name)", missing)
    ra = as_float_array(f"{which}[{names[0]!r}]", table[names[0]], u.deg)
    dec = as_float_array(f"{which}[{names[1]!r}]", table[names[1]], u.deg)
    label = which + _source_of(table)
    # NaN is a missing position (counted, never matched); anything else that
    # is not a point on the sky is a broken column or a wrong unit
    _bad_rows(f"{label}, column {names[0]!r}", np.isinf(ra), "have an infinite ra")
    with np.errstate(invalid="ignore"):
        off_sky = np.isinf(dec) | (np.abs(dec) > 90.0)
    _bad_rows(f"{label}, column {names[1]!r}", off_sky, "have a dec outside [-90, 90] deg",
              "check the column and its unit")
    return ra, dec


def _source_of(table):
    """' (file name)' from the table's meta, for messages; '' when unknown."""
    meta = getattr(table, "meta", None) or {}
    catalog = meta.get("catalog") if isinstance(meta.get("catalog"), Mapping) else {}
    source = catalog.get("source") or meta.get("name")
    return f" ({source!r})" if source else ""


def join_distances(table, distances, *, key="source_id",
                   columns=("r_med_geo", "r_lo_geo", "r_hi_geo"), join_type="inner"):
    """Attach Bailer-Jones distances to ``table`` by ``source_id``.

    Parameters
    ----------
    table : astropy.table.Table or pandas.DataFrame
        Stars with integer ``key``.
    distances : astropy.table.Table or pandas.DataFrame
        e.g. from ``read_catalog(..., kind="bailer_jones")``; ``key`` unique.
    key : str
    columns : sequence of str
        Columns of ``distances`` to attach (they must not be in ``table``).
    join_type : {"inner", "left"}
        ``"inner"`` drops stars without a distance (the paper's "remove stars
        with no distance information"); ``"left"`` keeps them with NaN.

    Returns
    -------
    astropy.table.Table
        ``table``'s rows in order, with ``columns`` added;
        ``meta['distance_join']`` counts ``n_in``, ``n_without_distance`` and
        ``n_out``.

    Raises
    ------
    TypeError
        The two ``key`` columns are of kinds that cannot be compared exactly
        (e.g. integers and names), naming both columns and dtypes. Keys are
        compared as exact integers: int64 with uint64 works when the values
        allow it; strings of decimal digits (``"4295806720"``, as a VOTable or
        CSV may hold ids) are converted to integers, as any other string
        makes the join an error rather than a join that matches nothing.
    fastgrad.errors.InputError
        A key is missing (masked) or, in float64, not an exact integer
        (naming the rows); ``distances`` repeats a key; or no star of a
        non-empty ``table`` has a distance in a non-empty ``distances``
        (different id systems, e.g. Gaia DR2 against DR3 ids, or the wrong
        column) -- unlike ``astropy.table.join``, which would return an empty
        table. An empty ``distances`` gives an empty (inner) result.
    """
    if join_type not in ("inner", "left"):
        raise ValueError(f"join_type must be 'inner' or 'left', got {join_type!r}")
    table = as_table("table", table)
    distances = as_table("distances", distances)
    for name, t in (("table", table), ("distances", distances)):
        if key not in t.colnames:
            raise MissingColumnsError(f"{name}: key column {key!r} missing", [key])
    missing = [c for c in columns if c not in distances.colnames]
    if missing:
        raise MissingColumnsError(f"distances: column(s) {missing} missing", missing)
    clash = [c for c in columns if c in table.colnames]
    if clash:
        raise ValueError(f"table already has column(s) {clash}; drop them or pass columns=")
    left_keys, right_keys = _join_keys(table, distances, key)
    order = np.argsort(right_keys, kind="stable")
    sorted_keys = right_keys[order]
    dup = np.flatnonzero(sorted_keys[1:] == sorted_keys[:-1])
    if dup.size:
        raise InputError(f"distances{_source_of(distances)}: {dup.size} duplicated {key} "
                         f"value(s), e.g. {sorted_keys[dup[:5]].tolist()}")
    pos = np.searchsorted(sorted_keys, left_keys)
    pos_c = np.minimum(pos, max(sorted_keys.size - 1, 0))
    found = (pos < sorted_keys.size) & (sorted_keys[pos_c] == left_keys) if sorted_keys.size \
        else np.zeros(left_keys.size, dtype=bool)
    if left_keys.size and sorted_keys.size and not found.any():
        raise InputError(
            f"join_distances: no {key} of table{_source_of(table)} ({left_keys.size} rows, e.g. "
            f"{left_keys[:3].tolist()}) is in distances{_source_of(distances)} "
            f"({sorted_keys.size} rows, e.g. {right_keys[:3].tolist()}); are both the same "
            "identifier (Gaia DR3 source_id)?")
    src = order[pos_c] if sorted_keys.size else pos_c
    out = table[found] if join_type == "inner" else Table(table, copy=False)
    rows = src[found] if join_type == "inner" else src
    for c in columns:
        col = distances[c]
        values = as_float_array(c, col) if col.dtype.kind in "fiu" else np.asarray(col)
        data = values[rows] if values.size else np.full(rows.size, np.nan)
        if join_type == "left":
            data = np.where(found, data, np.nan)
        out[c] = Column(data, unit=col.unit, description=col.description)
    out.meta["distance_join"] = {"n_in": len(table),
                                 "n_without_distance": int(np.count_nonzero(~found)),
                                 "n_out": len(out)}
    return out


def _join_keys(table, distances, key):
    """The two key columns as arrays of one exact integer dtype (or both strings)."""
    keys = []
    for name, t in (("table", table), ("distances", distances)):
        col = t[key]
        label = f"{name}{_source_of(t)}[{key!r}]"
        data = col.data if hasattr(col, "data") else col
        if np.ma.isMaskedArray(data):
            _bad_rows(label, np.ma.getmaskarray(data), "have no identifier (masked)",
                      "drop them or fill them before the join")
            data = data.data
        data = np.asarray(data)
        if data.dtype.kind == "O" and all(isinstance(v, str) for v in data):
            data = data.astype(str)
        if data.dtype.kind in "US" and data.size:
            text = np.char.strip(data.astype(str))
            digits = np.char.isdigit(text)
            if digits.all():
                try:  # Python ints: exact, and range-checked by numpy
                    data = np.array([int(v) for v in text], dtype=np.int64 if all(
                        len(v) < 19 for v in text) else np.uint64)
                except (OverflowError, ValueError):  # > 2**64, or a non-ASCII digit
                    pass
        if data.dtype.kind == "f":
            with np.errstate(invalid="ignore"):
                inexact = ~np.isfinite(data) | (np.abs(data) > 2.0 ** 53) | (data != np.round(data))
            _bad_rows(label, inexact, "are not identifiers float64 holds exactly "
                      "(NaN, non-integer or |id| > 2**53)", "read the ids as int64")
            data = data.astype(np.int64)
        keys.append((label, data))
    (llabel, lk), (rlabel, rk) = keys
    if lk.size == 0 or rk.size == 0:
        if lk.size == 0 and rk.size == 0 or lk.dtype.kind == rk.dtype.kind:
            return lk, rk
        # an empty side matches nothing whatever its dtype
        return (lk.astype(rk.dtype) if lk.size == 0 else lk,
                rk.astype(lk.dtype) if rk.size == 0 else rk)
    kinds = {lk.dtype.kind, rk.dtype.kind}
    if kinds <= {"i", "u"}:
        if lk.dtype.kind == rk.dtype.kind:
            return lk, rk
        # numpy compares int64 with uint64 through float64: find one exact dtype
        signed, unsigned = (lk, rk) if lk.dtype.kind == "i" else (rk, lk)
        if signed.size == 0 or signed.min() >= 0:
            return lk.astype(np.uint64), rk.astype(np.uint64)
        if unsigned.size == 0 or unsigned.max() < 2 ** 63:
            return lk.astype(np.int64), rk.astype(np.int64)
    elif kinds <= {"U", "S"}:
        return lk.astype(str), rk.astype(str)
    raise TypeError(f"join_distances: {llabel} is {lk.dtype} and {rlabel} is {rk.dtype}; "
                    "keys of different kinds never match. Convert one of them (ids are "
                    "64-bit integers; strings of digits are converted automatically)")


def add_distances(table, *, copy=True):
    """Distances and their errors (kpc) from Bailer-Jones geometric percentiles.

    ``distance = r_med_geo`` and ``distance_error = (r_hi_geo - r_lo_geo) / 2``
    (half the 16-84th percentile range; METHOD.md section 2, fastgrad's
    choice: the paper does not say how sigma_d is formed), both in kpc.
    Columns without a unit are taken to be in pc. The VizieR names
    (``rgeo``, ``b_rgeo``, ``B_rgeo``) are mapped to these by
    :func:`read_catalog` / :func:`standardize_columns`, so they get the same
    checks.

    Parameters
    ----------
    table : astropy.table.Table or pandas.DataFrame
        With ``r_med_geo``, ``r_lo_geo``, ``r_hi_geo``.
    copy : bool
        ``False`` adds the columns to ``table`` itself (a Table only: a
        DataFrame is always converted to a new Table).

    Returns
    -------
    astropy.table.Table
        With ``distance`` and ``distance_error`` (kpc). A star without a
        distance (NaN in any of the three: a Gaia 2-parameter source, or a
        ``join_distances(..., join_type="left")`` miss) gets NaN; the
        ``"distance_precision"`` cut removes and counts it.

    Raises
    ------
    fastgrad.errors.InputError
        Percentiles that are not a distance, naming the columns and rows: an
        infinite or non-positive value, ``r_lo_geo > r_hi_geo`` (it would give
        a negative ``distance_error``; e.g. swapped ``b_rgeo``/``B_rgeo``), or
        ``r_med_geo`` outside ``[r_lo_geo, r_hi_geo]``.
    TypeError
        ``table`` is not a Table or DataFrame, or ``copy=False`` with a
        DataFrame (it cannot gain astropy columns in place).
    """
    if is_dataframe(table) and not copy:
        raise TypeError("add_distances: copy=False needs an astropy Table; a pandas DataFrame "
                        "is converted to a new Table (use the returned table)")
    table = as_table("table", table)
    missing = [c for c in ("r_med_geo", "r_lo_geo", "r_hi_geo") if c not in table.colnames]
    if missing:
        raise MissingColumnsError(f"add_distances: column(s) {missing} missing "
                                  "(Bailer-Jones geometric distances)", missing)
    distance, distance_error = bailer_jones_distances(
        _col(table, "r_med_geo", u.pc), _col(table, "r_lo_geo", u.pc),
        _col(table, "r_hi_geo", u.pc), where=f"add_distances{_source_of(table)}")
    out = Table(table, copy=False) if copy else table
    out["distance"] = Column(distance, unit=u.kpc,
                             description="Bailer-Jones (2021) geometric median distance")
    out["distance_error"] = Column(distance_error, unit=u.kpc,
                                   description="(r_hi_geo - r_lo_geo) / 2")
    return out


def bailer_jones_distances(r_med, r_lo, r_hi, *, where="bailer_jones_distances"):
    """Distance and its error (kpc) from Bailer-Jones percentiles (pc arrays).

    ``distance = r_med / 1000``, ``distance_error = (r_hi - r_lo) / 2000``
    (docs/method.md section 2). NaN means no distance and passes through (the
    precision cut removes and counts it); an infinite or non-positive
    percentile, ``r_lo > r_hi`` or a median outside [r_lo, r_hi] is an
    InputError naming ``where``, the column and the rows.
    """
    for name, r in (("r_med_geo", r_med), ("r_lo_geo", r_lo), ("r_hi_geo", r_hi)):
        with np.errstate(invalid="ignore"):
            _bad_rows(f"{where}, column {name!r}", np.isinf(r) | (r <= 0),
                      "are infinite or <= 0 pc", "a distance percentile is positive and finite "
                      "(NaN = no distance)")
    with np.errstate(invalid="ignore"):
        _bad_rows(f"{where}, columns 'r_lo_geo' > 'r_hi_geo'", r_lo > r_hi,
                  "have the 16th percentile above the 84th",
                  "swapped columns (VizieR b_rgeo = 16th, B_rgeo = 84th)?")
        _bad_rows(f"{where}, column 'r_med_geo'", (r_med < r_lo) | (r_med > r_hi),
                  "lie outside [r_lo_geo, r_hi_geo]", "the median lies between the percentiles")
    return r_med / 1000.0, (r_hi - r_lo) / 2000.0


# ---------------------------------------------------------------------------
# Quality cuts
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Cut:
    """A named, documented quality cut: a predicate that says which rows to keep.

    Attributes
    ----------
    name : str
        Short identifier, unique within a preset (the report's ``cut``).
    description : str
        What is kept, in words and with the default thresholds.
    section : str
        Where it comes from (the paper's section, METHOD.md, or fastgrad's choice).
    columns : tuple of str
        Columns it reads (their non-finite values make it remove the row).
    function : callable
        ``function(table, **params) -> bool ndarray``: True = keep. Written so
        that NaN compares false and the row goes.
    params : mapping
        Default thresholds (canonical units), overridable in :func:`apply_cuts`.
    units : mapping
        Parameter name -> its unit (``None``: dimensionless). An override of a
        numeric parameter must be one finite real number, or a Quantity
        convertible to this unit (a number without unit is taken in it); it
        reaches ``function`` as a float in this unit. A parameter whose
        default is a string or ``None`` (a column name) takes a string or
        ``None``.
    """

    name: str
    description: str
    section: str
    columns: tuple
    function: Callable
    params: Mapping = field(default_factory=dict)
    units: Mapping = field(default_factory=dict)

    def keep(self, table, **params):
        """Boolean mask of the rows this cut keeps (``params`` override the defaults)."""
        params = _checked_params(self, params, f"cut {self.name!r}: parameter")
        if is_dataframe(table):
            table = as_table("table", table)
        merged = {**self.params, **params}
        mask = np.asarray(self.function(table, **merged), dtype=bool)
        if mask.shape != (len(table),):
            raise ValueError(f"cut {self.name!r} returned shape {mask.shape}, expected ({len(table)},)")
        return mask

    def with_params(self, **params):
        """A copy with other default thresholds."""
        _checked_params(self, params, f"cut {self.name!r}: parameter")
        return replace(self, params=MappingProxyType({**self.params, **params}))


def _checked_params(cut, params, what):
    """``params`` checked against ``cut``: known names, and values of the kind
    (and unit) of the defaults; numbers come back as floats in the cut's unit."""
    unknown = sorted(set(params) - set(cut.params))
    if unknown:
        raise ValueError(f"cut {cut.name!r}: unknown parameter(s) {unknown}; "
                         f"it takes {sorted(cut.params)}")
    out = {}
    for key, value in params.items():
        default = cut.params[key]
        label = f"{what} {key!r}" if what.endswith("parameter") else f"{what}[{key!r}]"
        numeric = isinstance(default, numbers.Real) and not isinstance(default, (bool, np.bool_))
        if key in cut.units or numeric:
            unit = cut.units.get(key)
            if unit is not None and unit == _DEX and isinstance(value, u.Quantity) \
                    and value.unit.physical_type == "dimensionless" \
                    and not isinstance(value.unit, u.LogUnit):
                # dex thresholds have always taken plain numbers
                value = value.to_value(u.dimensionless_unscaled)
            out[key] = as_scalar(label, value, unit)
        elif default is None or isinstance(default, str):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{label}: expected a column name (str) or None, got {value!r}")
            out[key] = value
        else:
            out[key] = value  # a custom cut's own kind of parameter
    return out


def _col(table, name, unit=None):
    """Column ``name`` as float64 (masked -> NaN), converted to ``unit`` if it carries one."""
    try:
        col = table[name]
    except (KeyError, ValueError):
        raise MissingColumnsError(f"column {name!r} is missing", [name]) from None
    if unit is not None and unit != _DEX and getattr(col, "unit", None) is not None \
            and not isinstance(col.unit, u.UnrecognizedUnit):
        return as_float_array(name, col, unit)
    if hasattr(col, "unit") and hasattr(col, "data"):
        col = col.data
    return as_float_array(name, col)


def _thr(value, unit):
    """A threshold in ``unit`` (floats are taken to be in it already)."""
    if isinstance(value, u.Quantity):
        return value.to_value(unit) if unit not in (None, _DEX) else value.value
    return float(value)


# -- LAMOST hot stars, Hawkins (2023) section 2.1, after Xiang et al. (2022) --

def _logg_range(t, logg_min, logg_max):
    logg = _col(t, "logg", _DEX)
    return (logg >= _thr(logg_min, _DEX)) & (logg <= _thr(logg_max, _DEX))


def _vsini_nonnegative(t, vsini_min):
    return _col(t, "vsini", _KMS) >= _thr(vsini_min, _KMS)


def _teff_max(t, teff_max):
    return _col(t, "teff", u.K) <= _thr(teff_max, u.K)


def _teff_min(t, teff_min):
    return _col(t, "teff", u.K) > _thr(teff_min, u.K)


def _snr_min(t, snr_min):
    return _col(t, "snr") >= _thr(snr_min, None)


def _chi2ratio_max(t, chi2ratio_max):
    return _col(t, "chi2ratio") <= _thr(chi2ratio_max, None)


def _rv_defined(t, rv_err_max):
    rv = _col(t, "rv", _KMS)
    rv_err = _col(t, "rv_err", _KMS)
    return np.isfinite(rv) & np.isfinite(rv_err) & (rv_err <= _thr(rv_err_max, _KMS))


def _parameters_defined(t):
    ok = np.ones(len(t), dtype=bool)
    for name in ("teff", "logg", "feh"):
        ok &= np.isfinite(_col(t, name))
    return ok


def _feh_err_max(t, feh_err_max):
    return _col(t, "feh_err", _DEX) < _thr(feh_err_max, _DEX)


_LAMOST_CUTS = (
    Cut("logg_range", "keep logg_min <= logg <= logg_max (2 <= logg <= 5 dex): logg < 2 may be "
        "chemically peculiar stars with wrong gravities, logg > 5 hot subdwarfs",
        "Hawkins 2023 sec. 2.1 (i)", ("logg",), _logg_range,
        MappingProxyType({"logg_min": 2.0, "logg_max": 5.0}),
        units=MappingProxyType({"logg_min": _DEX, "logg_max": _DEX})),
    Cut("vsini_nonnegative", "keep vsini >= vsini_min (0 km/s): negative vsini are pipeline "
        "extrapolations", "Hawkins 2023 sec. 2.1 (ii)", ("vsini",), _vsini_nonnegative,
        MappingProxyType({"vsini_min": 0.0}),
        units=MappingProxyType({"vsini_min": _KMS})),
    Cut("teff_max", "keep teff <= teff_max (25,000 K): hotter O stars need NLTE corrections",
        "Hawkins 2023 sec. 2.1 (iii)", ("teff",), _teff_max,
        MappingProxyType({"teff_max": 25000.0}),
        units=MappingProxyType({"teff_max": u.K})),
    Cut("teff_min", "keep teff > teff_min (7,000 K): the hot-star catalogue's own range",
        "Hawkins 2023 sec. 2.1 (end); METHOD.md sec. 2", ("teff",), _teff_min,
        MappingProxyType({"teff_min": 7000.0}),
        units=MappingProxyType({"teff_min": u.K})),
    Cut("snr_min", "keep snr >= snr_min (30; g-band SNR under the default column map)",
        "Hawkins 2023 sec. 2.1 (iv)", ("snr",), _snr_min, MappingProxyType({"snr_min": 30.0}),
        units=MappingProxyType({"snr_min": None})),
    Cut("chi2ratio_max", "keep chi2ratio <= chi2ratio_max (10): spectral fits that are not "
        "10-sigma outliers in reduced chi^2", "Hawkins 2023 sec. 2.1 (v)", ("chi2ratio",),
        _chi2ratio_max, MappingProxyType({"chi2ratio_max": 10.0}),
        units=MappingProxyType({"chi2ratio_max": None})),
    Cut("rv_defined", "keep finite rv and rv_err with rv_err <= rv_err_max (100 km/s)",
        "Hawkins 2023 sec. 2.1 (vi)", ("rv", "rv_err"), _rv_defined,
        MappingProxyType({"rv_err_max": 100.0}),
        units=MappingProxyType({"rv_err_max": _KMS})),
    Cut("parameters_defined", "keep finite teff, logg and feh", "Hawkins 2023 sec. 2.1 (vi)",
        ("teff", "logg", "feh"), _parameters_defined, MappingProxyType({})),
    Cut("feh_err_max", "keep feh_err < feh_err_max (0.20 dex, strict)",
        "Hawkins 2023 sec. 2.1 (vi)", ("feh_err",), _feh_err_max,
        MappingProxyType({"feh_err_max": 0.20}),
        units=MappingProxyType({"feh_err_max": _DEX})),
)


# -- Gaia DR3 giants, Hawkins (2023) section 2.2 --

def _teff_gspspec_max(t, teff_gspspec_max):
    return _col(t, "teff_gspspec", u.K) < _thr(teff_gspspec_max, u.K)


def _logg_gspspec_max(t, logg_gspspec_max):
    return _col(t, "logg_gspspec", _DEX) < _thr(logg_gspspec_max, _DEX)


def _mh_defined(t):
    return np.isfinite(_col(t, "mh_gspspec"))


_GIANT_CUTS = (
    Cut("teff_gspspec_max", "keep teff_gspspec < teff_gspspec_max (4700 K, strict): cool giants",
        "Hawkins 2023 sec. 2.2", ("teff_gspspec",), _teff_gspspec_max,
        MappingProxyType({"teff_gspspec_max": 4700.0}),
        units=MappingProxyType({"teff_gspspec_max": u.K})),
    Cut("logg_gspspec_max", "keep logg_gspspec < logg_gspspec_max (2.0 dex, strict): bright "
        "giants", "Hawkins 2023 sec. 2.2", ("logg_gspspec",), _logg_gspspec_max,
        MappingProxyType({"logg_gspspec_max": 2.0}),
        units=MappingProxyType({"logg_gspspec_max": _DEX})),
    Cut("mh_defined", "keep finite mh_gspspec (the gradient-sample query already asks for it; "
        "a fit cannot use a missing [M/H])", "fastgrad's choice (METHOD.md sec. 1)",
        ("mh_gspspec",), _mh_defined, MappingProxyType({})),
)


# -- astrometric cuts for both samples, Hawkins (2023) section 2.3 --

def _parallax_precision(t, parallax_over_error_min):
    if "parallax_over_error" in t.colnames:
        poe = _col(t, "parallax_over_error")
    else:
        poe = _col(t, "parallax", u.mas) / _col(t, "parallax_error", u.mas)
    return poe > _thr(parallax_over_error_min, None)


def _distance_precision(t, distance_frac_error_max):
    r_med = _col(t, "r_med_geo", u.pc)
    r_lo = _col(t, "r_lo_geo", u.pc)
    r_hi = _col(t, "r_hi_geo", u.pc)
    sigma = (r_hi - r_lo) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = sigma / r_med
    # r_lo > r_hi would make sigma negative and pass any threshold
    return (r_med > 0) & (r_lo <= r_hi) & (frac <= _thr(distance_frac_error_max, None))


def _rv_finite(t, rv_column):
    if rv_column is None:
        rv_column = "rv" if "rv" in t.colnames else "radial_velocity"
    return np.isfinite(_col(t, rv_column, _KMS))


_ASTROMETRIC_CUTS = (
    Cut("parallax_precision", "keep parallax_over_error > parallax_over_error_min (1/0.3, "
        "strict): parallax uncertainty better than 30 %", "Hawkins 2023 sec. 2.3",
        ("parallax_over_error",), _parallax_precision,
        MappingProxyType({"parallax_over_error_min": 1.0 / 0.3}),
        units=MappingProxyType({"parallax_over_error_min": None})),
    Cut("distance_precision", "keep sigma_d / r_med_geo <= distance_frac_error_max (0.30), "
        "sigma_d = (r_hi_geo - r_lo_geo) / 2, r_med_geo > 0 and r_lo_geo <= r_hi_geo; no "
        "distance: removed",
        "Hawkins 2023 sec. 2.3; sigma_d: fastgrad's choice (METHOD.md sec. 2)",
        ("r_med_geo", "r_lo_geo", "r_hi_geo"), _distance_precision,
        MappingProxyType({"distance_frac_error_max": 0.30}),
        units=MappingProxyType({"distance_frac_error_max": None})),
    Cut("rv_finite", "keep a finite radial velocity (rv_column; None: 'rv', the LAMOST RV, "
        "when present, else Gaia's 'radial_velocity')", "Hawkins 2023 sec. 2.1 (vi), 2.3",
        ("rv|radial_velocity",), _rv_finite, MappingProxyType({"rv_column": None})),
)

#: Named cut presets, in the order they are applied (METHOD.md section 2).
CUT_PRESETS = MappingProxyType({
    "lamost_hot_stars": _LAMOST_CUTS,
    "gaia_giants": _GIANT_CUTS,
    "astrometric": _ASTROMETRIC_CUTS,
})


def get_cuts(cuts):
    """A tuple of :class:`Cut` from a preset name, a Cut, or a list mixing both."""
    if isinstance(cuts, (str, Cut)):
        cuts = [cuts]
    out = []
    for item in cuts:
        if isinstance(item, Cut):
            out.append(item)
        elif isinstance(item, str):
            if item not in CUT_PRESETS:
                raise ValueError(f"unknown cut preset {item!r}; use one of {sorted(CUT_PRESETS)} "
                                 "or Cut objects")
            out.extend(CUT_PRESETS[item])
        else:
            raise TypeError(f"cuts: expected a preset name or a Cut, got {type(item).__name__}")
    names = [c.name for c in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"cuts: names must be unique, {dup} repeat")
    return tuple(out)


def cut_parameters(cuts):
    """The threshold names a preset (or Cut, or list of them) takes.

    Parameters
    ----------
    cuts : str, Cut or sequence of them
        As in :func:`apply_cuts`, e.g. ``"lamost_hot_stars"``.

    Returns
    -------
    frozenset of str
        The names :func:`apply_cuts` accepts in ``thresholds=`` for these
        cuts, e.g. ``cut_parameters("astrometric") == {"parallax_over_error_min",
        "distance_frac_error_max", "rv_column"}``.
    """
    return frozenset(p for c in get_cuts(cuts) for p in c.params)


def apply_cuts(table, cuts, *, thresholds=None):
    """Apply quality cuts in order and report what each removed.

    Parameters
    ----------
    table : astropy.table.Table or pandas.DataFrame
    cuts : str, Cut or sequence of them
        A preset name (``"lamost_hot_stars"``, ``"gaia_giants"``,
        ``"astrometric"``; see :data:`CUT_PRESETS`), a :class:`Cut`, or a list
        of them, applied in order.
    thresholds : dict, optional
        Parameter name -> value (canonical units or a Quantity), e.g.
        ``{"snr_min": 20, "feh_err_max": 0.4}``; each goes to every cut that
        takes it. A name no cut takes raises ``ValueError`` naming it and the
        known ones (a misspelt name never leaves the default in force; the
        names of a preset: :func:`cut_parameters`). A numeric threshold must
        be one finite real number or a Quantity in a unit convertible to the
        cut's (:attr:`Cut.units`); anything else raises, naming the key.

    Returns
    -------
    kept : astropy.table.Table
        The surviving rows; ``meta['quality_cuts']`` gains one dict per cut
        (the report's rows, plus the thresholds used).
    report : astropy.table.Table
        One row per cut: ``cut``, ``n_before``, ``n_removed``, ``n_after``,
        ``n_nonfinite`` (of the removed rows, those with a non-finite value in
        the cut's columns), ``section``, ``description``. A row removed by an
        earlier cut is not counted again.

    Raises
    ------
    MissingColumnsError
        A cut's column is absent (the message names the cut and the column).
    TypeError
        ``table`` is neither a Table nor a DataFrame; a threshold is not a
        number (naming its key).
    astropy.units.UnitConversionError
        A threshold's unit does not convert to the cut's (naming its key).
    """
    table = as_table("table", table)
    cuts = get_cuts(cuts)
    alive, counts, used = evaluate_cuts(table, cuts, thresholds)
    rows = [{"cut": cut.name, "n_before": n_before, "n_removed": n_removed,
             "n_after": n_before - n_removed, "n_nonfinite": n_nonfinite,
             "section": cut.section, "description": cut.description,
             "params": {**cut.params, **params}}
            for (cut, n_before, n_removed, n_nonfinite), params in zip(counts, used)]
    kept = table[alive] if not alive.all() else Table(table, copy=False)
    report = Table()
    for name in _REPORT_COLUMNS:
        values = [r[name] for r in rows]
        report[name] = (np.array(values, dtype=np.int64) if name.startswith("n_")
                        else np.array(values, dtype=str))
    history = list(kept.meta.get("quality_cuts", []))
    history += [{**{k: r[k] for k in _REPORT_COLUMNS if k != "description"},
                 "params": {k: _jsonable(v) for k, v in r["params"].items()}} for r in rows]
    kept.meta["quality_cuts"] = history
    return kept, report


def evaluate_cuts(table, cuts, thresholds=None, *, what="table"):
    """The rows that survive ``cuts`` (a list of :class:`Cut`) applied in order,
    and what each removed: the counting behind :func:`apply_cuts` and the Dask
    partition filters (``table``: anything with ``colnames`` and columns).

    Returns
    -------
    alive : bool ndarray
    counts : list of (cut, n_before, n_removed, n_nonfinite)
    params : list of dict, the thresholds each cut was given
    """
    if is_dataframe(table):
        table = as_table("table", table)
    elif not hasattr(table, "colnames"):
        raise TypeError(f"{what}: expected an astropy Table or a pandas DataFrame, got "
                        f"{type(table).__name__}")
    if thresholds is not None and not isinstance(thresholds, Mapping):
        raise TypeError(f"thresholds: expected a dict of name -> value, got "
                        f"{type(thresholds).__name__}")
    thresholds = dict(thresholds or {})
    known = {p for c in cuts for p in c.params}
    unknown = sorted(set(thresholds) - known)
    if unknown:
        raise ValueError(f"thresholds: unknown name(s) {unknown}; these cuts take {sorted(known)}")
    alive = np.ones(len(table), dtype=bool)
    counts, used = [], []
    for cut in cuts:
        params = {k: v for k, v in thresholds.items() if k in cut.params}
        checked = _checked_params(cut, params, "thresholds")
        try:
            keep = cut.keep(table, **checked)
        except MissingColumnsError as exc:
            raise MissingColumnsError(f"cut {cut.name!r} ({cut.section}): {exc}; the {what} has "
                                      f"{', '.join(table.colnames[:40])}", exc.missing) from None
        removed = alive & ~keep
        nonfinite = _nonfinite(table, cut.columns)
        counts.append((cut, int(np.count_nonzero(alive)), int(np.count_nonzero(removed)),
                       int(np.count_nonzero(removed & nonfinite))))
        used.append(params)
        alive &= keep
    return alive, counts, used


def _nonfinite(table, columns):
    """Rows with a non-finite value in any of ``columns`` ("a|b": the first of
    a, b present)."""
    bad = np.zeros(len(table), dtype=bool)
    for spec in columns:
        name = next((n for n in spec.split("|") if n in table.colnames), None)
        if name is not None and table[name].dtype.kind in "fiu":
            bad |= ~np.isfinite(_col(table, name))
    return bad


_REPORT_COLUMNS = ("cut", "n_before", "n_removed", "n_after", "n_nonfinite", "section",
                   "description")


def _jsonable(value):
    if isinstance(value, u.Quantity):
        return f"{value}"
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value

