"""The one-to-one positional cross-match of two catalogues (the paper's 2" match).

docs/method.md section 1 (Hawkins 2023, section 2.1): LAMOST hot stars are
matched to Gaia DR3 within :data:`fastgrad.paper.CROSSMATCH_RADIUS_ARCSEC`.
"""
import numpy as np
import astropy.units as u
from astropy.table import Column, hstack

from . import paper
from ._validation import as_float_array, as_scalar, as_table
from .schema import MissingColumnsError, reject_rows, source_label

__all__ = ["crossmatch"]


def crossmatch(left, right, radius=paper.CROSSMATCH_RADIUS_ARCSEC * u.arcsec, *,
               left_coords=("ra", "dec"), right_coords=("ra", "dec"), suffixes=("_1", "_2"),
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
        pair at exactly ``radius`` matches. Default: the paper's 2 arcsec
        (:data:`fastgrad.paper.CROSSMATCH_RADIUS_ARCSEC`).
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
    label = which + source_label(table)
    # NaN is a missing position (counted, never matched); anything else that
    # is not a point on the sky is a broken column or a wrong unit
    reject_rows(f"{label}, column {names[0]!r}", np.isinf(ra), "have an infinite ra")
    with np.errstate(invalid="ignore"):
        off_sky = np.isinf(dec) | (np.abs(dec) > 90.0)
    reject_rows(f"{label}, column {names[1]!r}", off_sky, "have a dec outside [-90, 90] deg",
                "check the column and its unit")
    return ra, dec
