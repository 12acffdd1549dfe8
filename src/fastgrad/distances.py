"""Bailer-Jones (2021) geometric distances: the join by ``source_id`` and kpc values.

docs/method.md section 2 (Hawkins 2023, section 2.3): :func:`join_distances`
attaches ``r_med_geo, r_lo_geo, r_hi_geo`` (pc) to a catalogue by Gaia DR3
``source_id``; :func:`add_distances` turns them into ``distance`` and
``distance_error`` (kpc) through :func:`bailer_jones_distances`, the one
formula the in-memory and the Dask steps share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import astropy.units as u
import numpy as np
from astropy.table import Column, Table

from ._validation import as_float_array, as_table, is_dataframe, kept_rows
from .errors import InputError
from .schema import MissingColumnsError, column_values, reject_rows, source_label

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt
    import pandas as pd


__all__ = [
    "join_distances",
    "add_distances",
    "bailer_jones_distances",
    "BJ_COLUMNS",
    "DISTANCE_SOURCES",
]

#: The Bailer-Jones (2021) percentile columns (16th, 50th, 84th; pc) of each
#: distance source, in the order (median, lo, hi).
BJ_COLUMNS = {
    "bailer_jones_geo": ("r_med_geo", "r_lo_geo", "r_hi_geo"),
    "bailer_jones_photogeo": ("r_med_photogeo", "r_lo_photogeo", "r_hi_photogeo"),
}

#: Where :func:`add_distances` takes a distance from (docs/method.md section 2).
DISTANCE_SOURCES = tuple(BJ_COLUMNS) + ("parallax", "catalog")


def join_distances(
    table: Table | pd.DataFrame,
    distances: Table | pd.DataFrame,
    *,
    key: str = "source_id",
    columns: Sequence[str] = ("r_med_geo", "r_lo_geo", "r_hi_geo"),
    join_type: str = "inner",
    consume: bool = False,
) -> Table:
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
    consume : bool
        Move the columns out of ``table`` (a Table) into the result as its
        rows are copied (:func:`fastgrad.apply_cuts`): less new memory for a
        wide table; ``table`` is left with no columns. Default False.

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

    Examples
    --------
    >>> import fastgrad
    >>> s = fastgrad.make_survey("gaia_giants", 500, seed=1)
    >>> t = fastgrad.join_distances(s["gaia"], s["bailer_jones"])
    >>> t.meta["distance_join"]
    {'n_in': 500, 'n_without_distance': 3, 'n_out': 497}
    >>> t["r_med_geo"].unit
    Unit("pc")
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
        raise InputError(
            f"distances{source_label(distances)}: {dup.size} duplicated {key} "
            f"value(s), e.g. {sorted_keys[dup[:5]].tolist()}"
        )
    pos = np.searchsorted(sorted_keys, left_keys)
    pos_c = np.minimum(pos, max(sorted_keys.size - 1, 0))
    found = (
        (pos < sorted_keys.size) & (sorted_keys[pos_c] == left_keys)
        if sorted_keys.size
        else np.zeros(left_keys.size, dtype=bool)
    )
    if left_keys.size and sorted_keys.size and not found.any():
        raise InputError(
            f"join_distances: no {key} of table{source_label(table)} ({left_keys.size} rows, e.g. "
            f"{left_keys[:3].tolist()}) is in distances{source_label(distances)} "
            f"({sorted_keys.size} rows, e.g. {right_keys[:3].tolist()}); are both the same "
            "identifier (Gaia DR3 source_id)?"
        )
    src = order[pos_c] if sorted_keys.size else pos_c
    out = kept_rows(
        table, found if join_type == "inner" else np.ones(found.size, bool), consume=consume
    )
    rows = src[found] if join_type == "inner" else src
    for c in columns:
        col = distances[c]
        values = as_float_array(c, col) if col.dtype.kind in "fiu" else np.asarray(col)
        data = values[rows] if values.size else np.full(rows.size, np.nan)
        if join_type == "left":
            data = np.where(found, data, np.nan)
        out[c] = Column(data, unit=col.unit, description=col.description)
    out.meta["distance_join"] = {
        "n_in": found.size,
        "n_without_distance": int(np.count_nonzero(~found)),
        "n_out": len(out),
    }
    return out


def _join_keys(table, distances, key):
    """The two key columns as arrays of one exact integer dtype (or both strings)."""
    keys = []
    for name, t in (("table", table), ("distances", distances)):
        col = t[key]
        label = f"{name}{source_label(t)}[{key!r}]"
        data = col.data if hasattr(col, "data") else col
        if np.ma.isMaskedArray(data):
            reject_rows(
                label,
                np.ma.getmaskarray(data),
                "have no identifier (masked)",
                "drop them or fill them before the join",
            )
            data = data.data
        data = np.asarray(data)
        if data.dtype.kind == "O" and all(isinstance(v, str) for v in data):
            data = data.astype(str)
        if data.dtype.kind in "US" and data.size:
            text = np.char.strip(data.astype(str))
            digits = np.char.isdigit(text)
            if digits.all():
                try:  # Python ints: exact, and range-checked by numpy
                    data = np.array(
                        [int(v) for v in text],
                        dtype=np.int64 if all(len(v) < 19 for v in text) else np.uint64,
                    )
                except (OverflowError, ValueError):  # > 2**64, or a non-ASCII digit
                    pass
        if data.dtype.kind == "f":
            with np.errstate(invalid="ignore"):
                inexact = ~np.isfinite(data) | (np.abs(data) > 2.0**53) | (data != np.round(data))
            reject_rows(
                label,
                inexact,
                "are not identifiers float64 holds exactly (NaN, non-integer or |id| > 2**53)",
                "read the ids as int64",
            )
            data = data.astype(np.int64)
        keys.append((label, data))
    (llabel, lk), (rlabel, rk) = keys
    if lk.size == 0 or rk.size == 0:
        if lk.size == 0 and rk.size == 0 or lk.dtype.kind == rk.dtype.kind:
            return lk, rk
        # an empty side matches nothing whatever its dtype
        return (
            lk.astype(rk.dtype) if lk.size == 0 else lk,
            rk.astype(lk.dtype) if rk.size == 0 else rk,
        )
    kinds = {lk.dtype.kind, rk.dtype.kind}
    if kinds <= {"i", "u"}:
        if lk.dtype.kind == rk.dtype.kind:
            return lk, rk
        # numpy compares int64 with uint64 through float64: find one exact dtype
        signed, unsigned = (lk, rk) if lk.dtype.kind == "i" else (rk, lk)
        if signed.size == 0 or signed.min() >= 0:
            return lk.astype(np.uint64), rk.astype(np.uint64)
        if unsigned.size == 0 or unsigned.max() < 2**63:
            return lk.astype(np.int64), rk.astype(np.int64)
    elif kinds <= {"U", "S"}:
        return lk.astype(str), rk.astype(str)
    raise TypeError(
        f"join_distances: {llabel} is {lk.dtype} and {rlabel} is {rk.dtype}; "
        "keys of different kinds never match. Convert one of them (ids are "
        "64-bit integers; strings of digits are converted automatically)"
    )


def add_distances(
    table: Table | pd.DataFrame, *, source: str = "bailer_jones_geo", copy: bool = True
) -> Table:
    """Distances and their errors (kpc), from the source a sample names.

    ``source`` (docs/method.md section 2):

    - ``"bailer_jones_geo"`` (the paper's): ``distance = r_med_geo`` and
      ``distance_error = (r_hi_geo - r_lo_geo) / 2`` (half the 16-84th
      percentile range; fastgrad's choice: the paper does not say how sigma_d
      is formed). Columns without a unit are taken to be in pc. The VizieR
      names (``rgeo``, ``b_rgeo``, ``B_rgeo``) are mapped to these by
      :func:`read_catalog` / :func:`standardize_columns`, so they get the same
      checks.
    - ``"bailer_jones_photogeo"``: the same from ``r_med_photogeo``,
      ``r_lo_photogeo``, ``r_hi_photogeo``, written to the same
      ``r_*_geo`` columns the distance-precision cut reads.
    - ``"parallax"``: ``distance = 1 / parallax`` and ``distance_error =
      parallax_error / parallax**2`` (first order; biased unless the parallax
      is precise: pair it with the parallax-precision cut). A non-positive
      parallax gives NaN (no distance), removed and counted by the
      distance-precision cut.
    - ``"catalog"``: the table's own ``distance`` and ``distance_error``
      (kpc; map a catalogue's columns to these names).

    For the last two, ``r_med_geo``, ``r_lo_geo`` and ``r_hi_geo`` (pc) are
    written as distance -/+ its error, so the paper's distance-precision cut
    applies unchanged.

    Parameters
    ----------
    table : astropy.table.Table or pandas.DataFrame
        With the columns of ``source``.
    source : str
        One of :data:`DISTANCE_SOURCES`.
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
    MissingColumnsError
        A column ``source`` needs is absent.
    TypeError
        ``table`` is not a Table or DataFrame, or ``copy=False`` with a
        DataFrame (it cannot gain astropy columns in place).
    ValueError
        ``source`` is not one of :data:`DISTANCE_SOURCES`.

    Examples
    --------
    ``distance = r_med_geo`` and ``distance_error = (r_hi_geo - r_lo_geo) / 2``,
    in kpc:

    >>> from astropy.table import Table
    >>> from fastgrad import add_distances
    >>> t = Table({"r_med_geo": [2000.0], "r_lo_geo": [1900.0], "r_hi_geo": [2150.0]})
    >>> t = add_distances(t)
    >>> print(t["distance"].unit, t["distance"][0], t["distance_error"][0])
    kpc 2.0 0.125
    """
    if source not in DISTANCE_SOURCES:
        raise ValueError(
            f"add_distances: source must be one of {list(DISTANCE_SOURCES)}, got {source!r}"
        )
    if is_dataframe(table) and not copy:
        raise TypeError(
            "add_distances: copy=False needs an astropy Table; a pandas DataFrame "
            "is converted to a new Table (use the returned table)"
        )
    table = as_table("table", table)
    needs = {
        "parallax": ("parallax", "parallax_error"),
        "catalog": ("distance", "distance_error"),
    }.get(source) or BJ_COLUMNS[source]
    missing = [c for c in needs if c not in table.colnames]
    if missing:
        raise MissingColumnsError(
            f"add_distances: column(s) {missing} missing (distance source {source!r})", missing
        )
    out = Table(table, copy=False) if copy else table
    where = f"add_distances{source_label(table)}"
    if source in BJ_COLUMNS:
        med, lo, hi = (column_values(table, c, u.pc) for c in BJ_COLUMNS[source])
        distance, distance_error = bailer_jones_distances(med, lo, hi, where=where)
        if source != "bailer_jones_geo":
            for name, values in zip(BJ_COLUMNS["bailer_jones_geo"], (med, lo, hi)):
                out[name] = Column(values, unit=u.pc)
        kind = "geometric" if source == "bailer_jones_geo" else "photogeometric"
        description = f"Bailer-Jones (2021) {kind} median distance"
    else:
        if source == "parallax":
            plx = column_values(table, "parallax", u.mas)
            plx_err = column_values(table, "parallax_error", u.mas)
            with np.errstate(divide="ignore", invalid="ignore"):
                distance = np.where(plx > 0, 1.0 / plx, np.nan)  # mas -> kpc
                distance_error = np.where(plx > 0, plx_err / plx**2, np.nan)
            description = "1 / parallax"
        else:
            distance = column_values(table, "distance", u.kpc)
            distance_error = column_values(table, "distance_error", u.kpc)
            description = "the catalogue's distance"
        with np.errstate(invalid="ignore"):
            reject_rows(
                f"{where}, column 'distance_error'",
                distance_error < 0,
                "are negative",
                "a distance error is >= 0 (NaN = none)",
            )
        # the paper's precision cut reads the percentile columns (pc)
        out["r_med_geo"] = Column(1000.0 * distance, unit=u.pc)
        out["r_lo_geo"] = Column(1000.0 * (distance - distance_error), unit=u.pc)
        out["r_hi_geo"] = Column(1000.0 * (distance + distance_error), unit=u.pc)
    out["distance"] = Column(distance, unit=u.kpc, description=description)
    out["distance_error"] = Column(
        distance_error,
        unit=u.kpc,
        description="(r_hi_geo - r_lo_geo) / 2" if source in BJ_COLUMNS else "1-sigma error",
    )
    return out


def bailer_jones_distances(
    r_med: npt.ArrayLike,
    r_lo: npt.ArrayLike,
    r_hi: npt.ArrayLike,
    *,
    where: str = "bailer_jones_distances",
) -> tuple[np.ndarray, np.ndarray]:
    """Distance and its error (kpc) from Bailer-Jones percentiles (pc arrays).

    ``distance = r_med / 1000``, ``distance_error = (r_hi - r_lo) / 2000``
    (docs/method.md section 2). NaN means no distance and passes through (the
    precision cut removes and counts it); an infinite or non-positive
    percentile, ``r_lo > r_hi`` or a median outside [r_lo, r_hi] is an
    InputError naming ``where``, the column and the rows.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.distances import bailer_jones_distances
    >>> d, d_err = bailer_jones_distances(
    ...     np.array([2000.0, np.nan]), np.array([1900.0, np.nan]), np.array([2150.0, np.nan]))
    >>> d, d_err  # kpc; NaN: no distance
    (array([ 2., nan]), array([0.125,   nan]))
    """
    for name, r in (("r_med_geo", r_med), ("r_lo_geo", r_lo), ("r_hi_geo", r_hi)):
        with np.errstate(invalid="ignore"):
            reject_rows(
                f"{where}, column {name!r}",
                np.isinf(r) | (r <= 0),
                "are infinite or <= 0 pc",
                "a distance percentile is positive and finite (NaN = no distance)",
            )
    with np.errstate(invalid="ignore"):
        reject_rows(
            f"{where}, columns 'r_lo_geo' > 'r_hi_geo'",
            r_lo > r_hi,
            "have the 16th percentile above the 84th",
            "swapped columns (VizieR b_rgeo = 16th, B_rgeo = 84th)?",
        )
        reject_rows(
            f"{where}, column 'r_med_geo'",
            (r_med < r_lo) | (r_med > r_hi),
            "lie outside [r_lo_geo, r_hi_geo]",
            "the median lies between the percentiles",
        )
    return r_med / 1000.0, (r_hi - r_lo) / 2000.0
