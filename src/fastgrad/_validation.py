"""Input conversion and checks shared by the public functions.

Every check names the argument, how many rows fail and the first of them, so a
user can find the bad stars in a catalogue of millions.
"""

import numbers

import astropy.units as u
import numpy as np
from astropy.utils.masked import Masked

__all__ = [
    "as_float_array",
    "as_scalar",
    "as_count",
    "as_table",
    "is_dataframe",
    "kept_rows",
    "check_lengths",
    "bad_rows",
    "raise_bad_rows",
]

_MAX_SHOWN = 10


def as_float_array(name, value, unit=None, *, equivalencies=None):
    """``value`` as a contiguous 1-D float64 array in ``unit``.

    Accepts numpy arrays, lists, pandas Series (nullable dtypes: missing -> NaN),
    astropy (Masked)Columns and masked arrays (masked -> NaN) and Quantities,
    which are converted to ``unit``. A plain number is taken to be in ``unit``.
    astropy ``Masked`` Quantities and arrays: masked -> NaN (never the fill value).
    Booleans, complex numbers, dates and strings are refused: they are not
    coordinates, and numpy would silently cast them.
    """
    if isinstance(value, Masked):
        # Masked(Quantity).to_value keeps the mask, but np.asarray drops it:
        # fill with NaN first so a masked row can never pass as its fill value
        value = _fill_masked(value)
    if isinstance(value, u.Quantity):
        if unit is None:
            raise ValueError(
                f"{name}: expected a dimensionless number, got a Quantity in {value.unit}"
            )
        try:
            value = value.to_value(unit, equivalencies=equivalencies or [])
        except u.UnitConversionError as exc:
            raise u.UnitConversionError(
                f"{name}: cannot convert {value.unit} to {unit} ({exc})"
            ) from None
    elif hasattr(value, "to_numpy") and not isinstance(value, np.ndarray):  # pandas
        value = value.to_numpy(dtype=np.float64, na_value=np.nan)
    elif getattr(value, "unit", None) is not None and hasattr(value, "quantity"):  # astropy Column
        value = _as_quantity_column(name, value, unit, equivalencies)
    if np.ma.isMaskedArray(value):
        value = np.ma.filled(value.astype(np.float64), np.nan)
    _check_numeric_dtype(name, value)
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: cannot be read as numbers ({exc})") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    return np.ascontiguousarray(arr)


def _fill_masked(value):
    unmasked = value.unmasked
    mask = np.asarray(value.mask)
    if mask.any():
        _check_numeric_dtype("value", unmasked)
        filled = np.array(unmasked, dtype=np.float64, copy=True, subok=True)
        filled[mask] = np.nan
        return filled
    return unmasked


def _check_numeric_dtype(name, value):
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    if kind is None:
        probe = np.asarray(value)
        kind = probe.dtype.kind
    if kind in "iuf":
        return
    if kind == "b":
        raise TypeError(f"{name}: expected numbers, got booleans")
    if kind == "c":
        raise TypeError(f"{name}: expected real numbers, got complex dtype")
    if kind in "mM":
        raise TypeError(
            f"{name}: expected numbers, got dates or time deltas (dtype {np.asarray(value).dtype})"
        )
    if kind in "OUS":
        return  # objects and strings: np.asarray(float) decides, naming the argument
    raise TypeError(f"{name}: expected numbers, got dtype {np.asarray(value).dtype}")


def as_scalar(
    name,
    value,
    unit=None,
    *,
    minimum=None,
    exclusive_minimum=None,
    maximum=None,
    equivalencies=None,
):
    """One finite real number, in ``unit`` when it is a Quantity.

    ``name`` is the parameter as the user wrote it: every error names it
    (a wrong unit, a non-number, NaN, a value outside the range).
    """
    if isinstance(value, u.Quantity):
        if unit is None:
            raise ValueError(f"{name}: expected a dimensionless number, got {value}")
        try:
            value = value.to_value(unit, equivalencies=equivalencies or [])
        except u.UnitConversionError:
            raise u.UnitConversionError(
                f"{name}: expected a value in {unit} (or a unit convertible to it), got {value}"
            ) from None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        if not (isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf"):
            unit_hint = f" (in {unit})" if unit is not None else ""
            raise TypeError(f"{name}: expected a real number{unit_hint}, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: must be >= {minimum}, got {value:g}")
    if exclusive_minimum is not None and value <= exclusive_minimum:
        raise ValueError(f"{name}: must be > {exclusive_minimum}, got {value:g}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}: must be <= {maximum}, got {value:g}")
    return value


def as_count(name, value, minimum=1, maximum=None):
    """An int count (walkers, steps, draws, stars). A float is an error, even
    10.0, as in scikit-learn: a count is never truncated (10.7 is not 10)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an int, got {value!r} ({type(value).__name__})")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name}: must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}: must be <= {maximum}, got {value}")
    return value


def _as_quantity_column(name, col, unit, equivalencies):
    data = col.data
    if np.ma.isMaskedArray(data):
        data = np.ma.filled(data.astype(np.float64), np.nan)
    if unit is None or col.unit is None:
        return data
    try:
        return (np.asarray(data, dtype=np.float64) * col.unit).to_value(
            unit, equivalencies=equivalencies or []
        )
    except u.UnitConversionError as exc:
        raise u.UnitConversionError(
            f"{name}: cannot convert {col.unit} to {unit} ({exc})"
        ) from None


def check_lengths(**arrays):
    """Raise ValueError unless all arrays have one length; return it."""
    lengths = {k: len(v) for k, v in arrays.items() if v is not None}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{k}={n}" for k, n in lengths.items())
        raise ValueError(f"mismatched lengths: {desc}")
    return next(iter(lengths.values())) if lengths else 0


def bad_rows(mask):
    """Indices where ``mask`` is true."""
    return np.flatnonzero(mask)


def raise_bad_rows(name, mask, what, hint=""):
    """Raise ValueError naming ``name`` and the rows where ``mask`` holds."""
    idx = bad_rows(mask)
    if idx.size == 0:
        return
    shown = ", ".join(str(i) for i in idx[:_MAX_SHOWN])
    more = ", ..." if idx.size > _MAX_SHOWN else ""
    msg = f"{name}: {idx.size} row(s) {what} (rows {shown}{more})"
    if hint:
        msg += f"; {hint}"
    raise ValueError(msg)


def is_dataframe(value):
    """True for a pandas DataFrame (without importing pandas)."""
    return (
        type(value).__module__.split(".")[0] == "pandas"
        and hasattr(value, "columns")
        and hasattr(value, "index")
    )


def as_table(name, value):
    """``value`` as an astropy Table: a Table as it is, a pandas DataFrame
    through ``Table.from_pandas`` (its index is not a column); anything else
    is a TypeError naming the argument."""
    from astropy.table import Table

    if isinstance(value, Table):
        return value
    if is_dataframe(value):
        return Table.from_pandas(value, index=False)
    raise TypeError(
        f"{name}: expected an astropy Table or a pandas DataFrame, got {type(value).__name__}"
    )


def kept_rows(table, rows, *, consume=False):
    """``table[rows]`` of an astropy Table (``rows`` a boolean mask or
    integer indices), or, for a mask that keeps every row, a new Table
    sharing the columns; ``consume`` as :func:`fastgrad.apply_cuts`.

    Why consume: a survey-wide table of ~50 columns copied while the original
    is alive takes a second table's worth of fresh memory, whose first touch
    (page faults) costs more than the copy (0.5 s of system time for 10^6
    giants' 54 columns on the 2-core VM of bench/README.md).  Column by
    column, each copy can reuse what the column before it freed.
    """
    every = rows.dtype == bool and rows.all()
    if every or not consume or table.indices:
        # (an indexed table's rows through astropy's own slicing, which
        # carries the indices)
        out = table.__class__(table, copy=False) if every else table[rows]
        if consume:
            table.remove_columns(table.colnames)
        return out
    out = table.__class__(masked=table.masked)
    if table.meta:
        out.meta = table.meta.copy()  # shallow, as astropy's own row slicing
    for name in list(table.colnames):
        out.add_column(table.columns[name][rows], name=name, copy=False)
        table.remove_column(name)  # its data freed unless referenced elsewhere
    return out
