"""The positional cross-match of two catalogues (the paper's 2" match) and
the choice of one spectrum per star among repeat spectra.

docs/method.md section 1 (Hawkins 2023, section 2.1): LAMOST hot stars are
matched to Gaia DR3 within :data:`fastgrad.paper.CROSSMATCH_RADIUS_ARCSEC`.
A survey observes many stars more than once: :func:`crossmatch` with
``one_to_one=False`` keeps every spectrum's nearest Gaia source, and
:func:`best_per_source` then keeps the highest-SNR spectrum of each source, as
its own counted step of the cut report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import astropy.units as u
import numpy as np
from astropy.table import Column, Table, hstack

from . import paper
from ._validation import as_float_array, as_scalar, as_table
from .cuts import report_table
from .schema import MissingColumnsError, column_values, reject_rows, source_label

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd


__all__ = ["crossmatch", "best_per_source", "BEST_PER_SOURCE_STEP"]


def crossmatch(
    left: Table | pd.DataFrame,
    right: Table | pd.DataFrame,
    radius: u.Quantity | float = paper.CROSSMATCH_RADIUS_ARCSEC * u.arcsec,
    *,
    left_coords: Sequence[str] = ("ra", "dec"),
    right_coords: Sequence[str] = ("ra", "dec"),
    suffixes: tuple[str, str] = ("_1", "_2"),
    separation_column: str = "separation",
    return_indices: bool = False,
    one_to_one: bool = True,
) -> Table | tuple[Table, np.ndarray, np.ndarray]:
    """Positional match of two catalogues (the paper's 2" match).

    For every row of ``left`` the nearest row of ``right`` is found with
    :func:`astropy.coordinates.match_coordinates_sky`; pairs farther than
    ``radius`` are dropped. With ``one_to_one=True`` (the default), when
    several left rows have the same nearest right row, the nearest pair wins
    (ties: the lower left index) and the others are dropped, not re-matched to
    a farther neighbour; such duplicates are counted. In LAMOST they are
    mostly repeat spectra of one star, and the nearest is not the best: with
    ``one_to_one=False`` every left row keeps its nearest right row
    (many-to-one), and :func:`best_per_source` chooses among the repeats by
    SNR, counted (docs/method.md section 1).

    Parameters
    ----------
    left, right : astropy.table.Table or pandas.DataFrame
        Positions in columns ``left_coords`` / ``right_coords`` (deg, or any
        angle unit the columns carry). Rows with a missing (NaN) ra or dec are
        never matched (and counted: ``n_left_bad_position``); an infinite ra
        or dec, or a dec outside [-90, 90] deg, is an error.
    radius : Quantity or float
        Maximum separation, >= 0 (an angle; a plain number is in arcsec); a
        pair at exactly ``radius`` matches. Default: the paper's 2 arcsec
        (:data:`fastgrad.paper.CROSSMATCH_RADIUS_ARCSEC`).
    suffixes : (str, str)
        Appended to column names present in both tables; ``("_lamost", "")``
        keeps Gaia's names verbatim when ``right`` is Gaia.
    separation_column : str
        Name of the added column of pair separations (arcsec).
    return_indices : bool
        Also return the matched row indices into ``left`` and ``right``.
    one_to_one : bool
        True: at most one left row per right row (the nearest). False: every
        left row within ``radius`` of its nearest right row is kept, so a
        right row may appear several times.

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

    Examples
    --------
    Two LAMOST spectra lie 0.72" and 0.36" from a Gaia source; a third is
    3.6" from the nearest one, beyond the paper's 2":

    >>> from astropy.table import Table
    >>> from fastgrad import crossmatch
    >>> lamost = Table({"obsid": [1, 2, 3], "ra": [10.0002, 10.0001, 20.0], "dec": [5.0, 5.0, 5.0]})
    >>> gaia = Table({"source_id": [100, 200], "ra": [10.0, 20.001], "dec": [5.0, 5.0]})
    >>> m = crossmatch(lamost, gaia, one_to_one=False)
    >>> for row in m:
    ...     print(row["obsid"], row["source_id"], f"{row['separation']:.3f}")
    1 100 0.717
    2 100 0.359
    >>> crossmatch(lamost, gaia).meta["crossmatch"]["n_duplicates_dropped"]  # one-to-one
    1
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
    if one_to_one:
        keep = np.sort(order[first])  # back to left's order
        li, ri, sep = li[keep], ri[keep], sep[keep]

    matched = hstack(
        [left[li], right[ri]],
        join_type="exact",
        table_names=list(suffixes),
        uniq_col_name="{col_name}{table_name}",
        metadata_conflicts="silent",
    )
    matched[separation_column] = Column(
        sep, unit=u.arcsec, description="separation of the matched pair"
    )
    report = {
        "radius_arcsec": radius_arcsec,
        "n_left": len(left),
        "n_right": len(right),
        "n_left_bad_position": int(len(left) - lgood.size),
        "n_right_bad_position": int(len(right) - rgood.size),
        "n_within_radius": int(n_within),
        "n_matched": int(li.size),
        "n_duplicates_dropped": int(n_within - li.size),
        "n_right_multiply_claimed": int(np.count_nonzero(counts > 1)),
        "n_left_unmatched": int(len(left) - li.size),
        "n_right_unmatched": int(len(right) - counts.size),
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
        raise MissingColumnsError(
            f"{which}: position column(s) {missing} missing; "
            f"pass {which}_coords=(ra_name, dec_name)",
            missing,
        )
    ra = as_float_array(f"{which}[{names[0]!r}]", table[names[0]], u.deg)
    dec = as_float_array(f"{which}[{names[1]!r}]", table[names[1]], u.deg)
    label = which + source_label(table)
    # NaN is a missing position (counted, never matched); anything else that
    # is not a point on the sky is a broken column or a wrong unit
    reject_rows(f"{label}, column {names[0]!r}", np.isinf(ra), "have an infinite ra")
    with np.errstate(invalid="ignore"):
        off_sky = np.isinf(dec) | (np.abs(dec) > 90.0)
    reject_rows(
        f"{label}, column {names[1]!r}",
        off_sky,
        "have a dec outside [-90, 90] deg",
        "check the column and its unit",
    )
    return ra, dec


#: The report name of :func:`best_per_source`'s step.
BEST_PER_SOURCE_STEP = "best_spectrum_per_source"


def best_per_source(
    table: Table | pd.DataFrame,
    key: str = "source_id",
    snr: str = "snr",
    *,
    tiebreak: str | None = "separation",
) -> tuple[Table, Table]:
    """Keep one row per ``key`` value: the spectrum with the highest SNR.

    Repeat spectra of one star matched to the same Gaia source (a
    many-to-one :func:`crossmatch`) are reduced to the best one
    (docs/method.md section 1, *fastgrad's choice*: the paper does not say
    how repeats were handled). The choice is deterministic: the highest
    ``snr``; among equal SNR the smaller ``tiebreak`` value (the match
    separation); then the earlier row. A non-finite SNR ranks below any
    finite one, so a star is never lost for lack of an SNR.

    Parameters
    ----------
    table : astropy.table.Table or pandas.DataFrame
    key : str
        The identifier that says which rows are one star (``source_id``).
    snr : str
        The SNR column (canonical ``snr``; a larger value is better).
    tiebreak : str or None
        A column whose smaller value wins a tie in SNR; ignored when the
        table does not have it.

    Returns
    -------
    kept : astropy.table.Table
        One row per ``key`` value, in ``table``'s order;
        ``meta['quality_cuts']`` gains the step's report row.
    report : astropy.table.Table
        One row, the columns of :data:`fastgrad.cuts.REPORT_COLUMNS` (cut
        ``"best_spectrum_per_source"``; ``n_nonfinite``: the removed rows
        with a non-finite SNR), to stack with :func:`fastgrad.apply_cuts`'
        reports.

    Raises
    ------
    MissingColumnsError
        ``key`` or ``snr`` is absent (``.cut`` is the step's name).
    fastgrad.errors.InputError
        ``key`` has missing (masked) values, naming the rows.

    Examples
    --------
    >>> from astropy.table import Table
    >>> from fastgrad import best_per_source
    >>> spectra = Table({"obsid": [1, 2, 3], "source_id": [100, 100, 200],
    ...                  "snr": [50.0, 80.0, 30.0]})
    >>> kept, report = best_per_source(spectra)
    >>> kept["obsid"].tolist()  # obsid 2 has the higher SNR of source 100
    [2, 3]
    >>> report["cut", "n_before", "n_removed", "n_after"].pprint()
              cut            n_before n_removed n_after
    ------------------------ -------- --------- -------
    best_spectrum_per_source        3         1       2
    """
    table = as_table("table", table)
    missing = [c for c in (key, snr) if c not in table.colnames]
    if missing:
        raise MissingColumnsError(
            f"{BEST_PER_SOURCE_STEP}: column(s) {missing} missing{source_label(table)}; map "
            f"the file column that holds the SNR ([samples.NAME.columns.INPUT] FILE_COLUMN = "
            f'"{snr}") or pass snr=/key= the columns to use',
            missing,
            cut=BEST_PER_SOURCE_STEP,
        )
    keys = table[key]
    keys = getattr(keys, "data", keys)
    reject_rows(
        f"column {key!r}{source_label(table)}",
        np.ma.getmaskarray(keys),
        "have no identifier (masked)",
        "drop those rows first",
    )
    keys = np.asarray(np.ma.getdata(keys))
    quality = column_values(table, snr)
    finite = np.isfinite(quality)
    rank = np.where(finite, -quality, np.inf)  # best first; NaN last
    rows = np.arange(len(table))
    sort_keys = [rows]
    if tiebreak is not None and tiebreak in table.colnames:
        tie = column_values(table, tiebreak)
        sort_keys.append(np.where(np.isfinite(tie), tie, np.inf))
    order = np.lexsort(tuple(sort_keys) + (rank, keys))
    first = np.ones(len(order), dtype=bool)
    first[1:] = keys[order][1:] != keys[order][:-1]
    keep = np.zeros(len(table), dtype=bool)
    keep[order[first]] = True
    n_before, n_after = len(table), int(np.count_nonzero(keep))
    row = {
        "cut": BEST_PER_SOURCE_STEP,
        "n_before": n_before,
        "n_removed": n_before - n_after,
        "n_after": n_after,
        "n_nonfinite": int(np.count_nonzero(~keep & ~finite)),
        "section": "docs/method.md sec. 1 (fastgrad's choice)",
        "description": f"keep one spectrum per {key}: the highest {snr} (ties: smaller "
        f"{tiebreak}, then the earlier row)",
    }
    kept = table[keep] if not keep.all() else Table(table, copy=False)
    kept.meta["quality_cuts"] = list(kept.meta.get("quality_cuts", [])) + [
        {
            **{k: v for k, v in row.items() if k != "description"},
            "params": {"key": key, "snr": snr, "tiebreak": tiebreak},
        }
    ]
    return kept, report_table([row])
