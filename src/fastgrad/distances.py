"""Bailer-Jones (2021) geometric distances: the join by ``source_id`` and kpc values.

docs/method.md section 2 (Hawkins 2023, section 2.3): :func:`join_distances`
attaches ``r_med_geo, r_lo_geo, r_hi_geo`` (pc) to a catalogue by Gaia DR3
``source_id``; :func:`add_distances` turns them into ``distance`` and
``distance_error`` (kpc) through :func:`bailer_jones_distances`, the one
formula the in-memory and the Dask steps share.
"""
import numpy as np
import astropy.units as u
from astropy.table import Column, Table

from ._validation import as_float_array, as_table, is_dataframe
from .errors import InputError
from .schema import MissingColumnsError, column_values, reject_rows, source_label

__all__ = ["join_distances", "add_distances", "bailer_jones_distances"]


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
        raise InputError(f"distances{source_label(distances)}: {dup.size} duplicated {key} "
                         f"value(s), e.g. {sorted_keys[dup[:5]].tolist()}")
    pos = np.searchsorted(sorted_keys, left_keys)
    pos_c = np.minimum(pos, max(sorted_keys.size - 1, 0))
    found = (pos < sorted_keys.size) & (sorted_keys[pos_c] == left_keys) if sorted_keys.size \
        else np.zeros(left_keys.size, dtype=bool)
    if left_keys.size and sorted_keys.size and not found.any():
        raise InputError(
            f"join_distances: no {key} of table{source_label(table)} ({left_keys.size} rows, e.g. "
            f"{left_keys[:3].tolist()}) is in distances{source_label(distances)} "
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
        label = f"{name}{source_label(t)}[{key!r}]"
        data = col.data if hasattr(col, "data") else col
        if np.ma.isMaskedArray(data):
            reject_rows(label, np.ma.getmaskarray(data), "have no identifier (masked)",
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
            reject_rows(label, inexact, "are not identifiers float64 holds exactly "
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
    (half the 16-84th percentile range; docs/method.md section 2, fastgrad's
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
        column_values(table, "r_med_geo", u.pc), column_values(table, "r_lo_geo", u.pc),
        column_values(table, "r_hi_geo", u.pc), where=f"add_distances{source_label(table)}")
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
            reject_rows(f"{where}, column {name!r}", np.isinf(r) | (r <= 0),
                        "are infinite or <= 0 pc", "a distance percentile is positive and finite "
                        "(NaN = no distance)")
    with np.errstate(invalid="ignore"):
        reject_rows(f"{where}, columns 'r_lo_geo' > 'r_hi_geo'", r_lo > r_hi,
                    "have the 16th percentile above the 84th",
                    "swapped columns (VizieR b_rgeo = 16th, B_rgeo = 84th)?")
        reject_rows(f"{where}, column 'r_med_geo'", (r_med < r_lo) | (r_med > r_hi),
                    "lie outside [r_lo_geo, r_hi_geo]", "the median lies between the percentiles")
    return r_med / 1000.0, (r_hi - r_lo) / 2000.0
