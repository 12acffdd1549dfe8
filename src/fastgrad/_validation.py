"""Input conversion and checks shared by the public functions.

Every check names the argument, how many rows fail and the first of them, so a
user can find the bad stars in a catalogue of millions.
"""
import numpy as np
import astropy.units as u

__all__ = ["as_float_array", "check_lengths", "bad_rows", "raise_bad_rows"]

_MAX_SHOWN = 10


def as_float_array(name, value, unit=None, *, equivalencies=None):
    """``value`` as a contiguous 1-D float64 array in ``unit``.

    Accepts numpy arrays, lists, pandas Series (nullable dtypes: missing -> NaN),
    astropy (Masked)Columns and masked arrays (masked -> NaN) and Quantities,
    which are converted to ``unit``. A plain number is taken to be in ``unit``.
    """
    if isinstance(value, u.Quantity):
        if unit is None:
            raise ValueError(f"{name}: expected a dimensionless number, got a Quantity in {value.unit}")
        try:
            value = value.to_value(unit, equivalencies=equivalencies or [])
        except u.UnitConversionError as exc:
            raise u.UnitConversionError(
                f"{name}: cannot convert {value.unit} to {unit} ({exc})") from None
    elif hasattr(value, "to_numpy") and not isinstance(value, np.ndarray):  # pandas
        value = value.to_numpy(dtype=np.float64, na_value=np.nan)
    elif getattr(value, "unit", None) is not None and hasattr(value, "quantity"):  # astropy Column
        value = _as_quantity_column(name, value, unit, equivalencies)
    if np.ma.isMaskedArray(value):
        value = np.ma.filled(value.astype(np.float64), np.nan)
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: cannot be read as numbers ({exc})") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    return np.ascontiguousarray(arr)


def _as_quantity_column(name, col, unit, equivalencies):
    data = col.data
    if np.ma.isMaskedArray(data):
        data = np.ma.filled(data.astype(np.float64), np.nan)
    if unit is None or col.unit is None:
        return data
    try:
        return (np.asarray(data, dtype=np.float64) * col.unit).to_value(unit, equivalencies=equivalencies or [])
    except u.UnitConversionError as exc:
        raise u.UnitConversionError(f"{name}: cannot convert {col.unit} to {unit} ({exc})") from None


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
