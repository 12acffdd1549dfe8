"""The pandas side of fastgrad's Dask steps: column access and checks on one partition.

Shared by :mod:`fastgrad.dask`'s partition functions and its annulus means
(:mod:`fastgrad._dask_annulus`): a partition is a ``pandas.DataFrame`` in
fastgrad's canonical units (no units travel with it; see docs/dask.md), and a
collection a ``dask.dataframe.DataFrame`` or an ``lsdb.Catalog``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .schema import MissingColumnsError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from types import ModuleType
    from typing import Any


__all__ = [
    "DASK_EXTRA_MESSAGE",
    "require_dask",
    "as_dask_dataframe",
    "meta_of",
    "inverse_columns",
    "float_column",
    "require_columns",
    "int_ids",
    "located",
]

#: The message of the ImportError raised when Dask is missing.
DASK_EXTRA_MESSAGE = "fastgrad.dask needs the optional dependencies: pip install fastgrad[dask]"


def require_dask() -> ModuleType:
    """``dask.dataframe``, or an ImportError naming the extra to install
    (:data:`DASK_EXTRA_MESSAGE`); for modules that run steps on Dask
    (:mod:`fastgrad.engine`)."""
    try:
        import dask  # noqa: F401
        import dask.dataframe as dd
    except ImportError as exc:
        raise ImportError(f"{DASK_EXTRA_MESSAGE} ({exc})") from exc
    return dd


def as_dask_dataframe(collection: Any) -> Any:
    """A dask DataFrame from a dask DataFrame or an LSDB Catalog."""
    require_dask()
    if hasattr(collection, "to_dask_dataframe"):  # lsdb.Catalog (and its subclasses)
        return collection.to_dask_dataframe()
    if hasattr(collection, "map_partitions") and hasattr(collection, "_meta"):
        return collection
    raise TypeError(
        f"expected a dask.dataframe.DataFrame or an lsdb.Catalog, got {type(collection).__name__}"
    )


def meta_of(like: Any) -> pd.DataFrame:
    """An empty pandas DataFrame with the columns/dtypes of ``like`` (a pandas
    or dask DataFrame or an LSDB Catalog)."""
    if isinstance(like, pd.DataFrame):
        return like.iloc[:0]
    meta = getattr(like, "_meta", None)
    if meta is None:
        meta = getattr(like, "meta", None)
    if not isinstance(meta, pd.DataFrame):
        raise TypeError(
            f"expected a pandas/dask DataFrame or an lsdb.Catalog, got {type(like).__name__}"
        )
    return meta.iloc[:0]


# ---------------------------------------------------------------------------
# Column access
# ---------------------------------------------------------------------------


def inverse_columns(columns: Mapping[str, str] | None, what: str = "columns") -> dict[str, str]:
    """``{partition column: canonical name}`` -> ``{canonical name: partition column}``."""
    inverse = {}
    for column, canonical in dict(columns or {}).items():
        if canonical in inverse:
            raise ValueError(
                f"{what}: {inverse[canonical]!r} and {column!r} both map to {canonical!r}"
            )
        inverse[canonical] = column
    return inverse


def float_column(df: pd.DataFrame, name: str) -> np.ndarray:
    """Column ``name`` of ``df`` as contiguous float64 (missing values -> NaN)."""
    return np.ascontiguousarray(df[name].to_numpy(dtype=np.float64, na_value=np.nan))


def require_columns(df: pd.DataFrame, needed: Iterable[str], where: str) -> None:
    missing = [c for c in needed if c not in df.columns]
    if missing:
        shown = ", ".join(map(str, list(df.columns)[:40]))
        raise MissingColumnsError(
            f"{where}: column(s) {missing} missing; the partition has "
            f"{shown}. Map other names with columns={{'partition_column': "
            f"'canonical_name'}}.",
            missing,
        )


def int_ids(df: pd.DataFrame, name: str) -> np.ndarray:
    """An id column as an integer array (the MC streams' keys)."""
    series = df[name]
    if len(series) == 0:
        return np.zeros(0, dtype=np.int64)
    if series.isna().any():
        bad = np.flatnonzero(series.isna().to_numpy())
        raise ValueError(
            f"{name}: {bad.size} row(s) have no id (rows {bad[:10].tolist()}); "
            "every star needs an integer id to key its random stream"
        )
    values = series.to_numpy()
    if not np.issubdtype(values.dtype, np.integer):
        raise ValueError(
            f"{name}: expected integer ids (e.g. Gaia source_id), got dtype {series.dtype}"
        )
    return values


def located(exc: Exception, df: pd.DataFrame) -> Exception:
    """A ValueError from a partition, saying where the partition is."""
    where = (
        (
            f" [in a partition of {len(df)} rows whose index starts at {df.index[0]!r}; "
            "row numbers count from the partition's first row]"
        )
        if len(df)
        else ""
    )
    return type(exc)(f"{exc}{where}")
