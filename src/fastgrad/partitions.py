"""The pandas side of fastgrad's Dask steps: column access and checks on one partition.

Shared by :mod:`fastgrad.dask`'s partition functions and its annulus means
(:mod:`fastgrad._dask_annulus`): a partition is a ``pandas.DataFrame`` in
fastgrad's canonical units (no units travel with it; see docs/dask.md), and a
collection a ``dask.dataframe.DataFrame`` or an ``lsdb.Catalog``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .schema import MissingColumnsError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from types import ModuleType
    from typing import Any

    import pandas as pd


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
    (:mod:`fastgrad.engine`).

    Examples
    --------
    >>> from fastgrad.partitions import require_dask
    >>> dd = require_dask()
    >>> dd.__name__
    'dask.dataframe'
    """
    try:
        import dask  # noqa: F401
        import dask.dataframe as dd
    except ImportError as exc:
        raise ImportError(f"{DASK_EXTRA_MESSAGE} ({exc})") from exc
    return dd


def as_dask_dataframe(collection: Any) -> Any:
    """A dask DataFrame from a dask DataFrame or an LSDB Catalog.

    Examples
    --------
    >>> import dask.dataframe as dd
    >>> import pandas as pd
    >>> from fastgrad.partitions import as_dask_dataframe
    >>> ddf = dd.from_pandas(pd.DataFrame({"R": [8.0, 9.0, 10.0, 11.0]}), npartitions=2)
    >>> as_dask_dataframe(ddf) is ddf, ddf.npartitions
    (True, 2)
    >>> as_dask_dataframe(pd.DataFrame({"R": [8.0]}))
    Traceback (most recent call last):
        ...
    TypeError: expected a dask.dataframe.DataFrame or an lsdb.Catalog, got DataFrame
    """
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
    or dask DataFrame or an LSDB Catalog).

    Examples
    --------
    >>> import dask.dataframe as dd
    >>> import pandas as pd
    >>> from fastgrad.partitions import meta_of
    >>> df = pd.DataFrame({"source_id": [1, 2, 3, 4], "R": [8.0, 9.0, 10.0, 11.0]})
    >>> meta = meta_of(dd.from_pandas(df, npartitions=2))
    >>> len(meta), meta.dtypes.astype(str).tolist()
    (0, ['int64', 'float64'])
    """
    import pandas as pd  # here: the local engine's runs never import it

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
    """``{partition column: canonical name}`` -> ``{canonical name: partition column}``.

    Examples
    --------
    >>> from fastgrad.partitions import inverse_columns
    >>> inverse_columns({"rv": "radial_velocity", "obsid": "ids"})
    {'radial_velocity': 'rv', 'ids': 'obsid'}
    >>> inverse_columns({"rv": "radial_velocity", "vlos": "radial_velocity"})
    Traceback (most recent call last):
        ...
    ValueError: columns: 'rv' and 'vlos' both map to 'radial_velocity'
    """
    inverse = {}
    for column, canonical in dict(columns or {}).items():
        if canonical in inverse:
            raise ValueError(
                f"{what}: {inverse[canonical]!r} and {column!r} both map to {canonical!r}"
            )
        inverse[canonical] = column
    return inverse


def float_column(df: pd.DataFrame, name: str) -> np.ndarray:
    """Column ``name`` of ``df`` as contiguous float64 (missing values -> NaN).

    Examples
    --------
    >>> import pandas as pd
    >>> from fastgrad.partitions import float_column
    >>> df = pd.DataFrame({"rv": pd.array([12, None, -3], dtype="Int64")})
    >>> values = float_column(df, "rv")
    >>> values.dtype, [f"{v:.1f}" for v in values]
    (dtype('float64'), ['12.0', 'nan', '-3.0'])
    """
    return np.ascontiguousarray(df[name].to_numpy(dtype=np.float64, na_value=np.nan))


def require_columns(df: pd.DataFrame, needed: Iterable[str], where: str) -> None:
    """A :class:`fastgrad.schema.MissingColumnsError` naming ``where``, the
    missing columns and those the partition has, unless ``df`` has all of
    ``needed``.

    Examples
    --------
    >>> import pandas as pd
    >>> from fastgrad.partitions import require_columns
    >>> df = pd.DataFrame({"ra": [10.0], "dec": [-5.0]})
    >>> require_columns(df, ["ra", "dec"], "my_step")  # all there: nothing happens
    >>> require_columns(df, ["ra", "pmra"], "my_step")
    Traceback (most recent call last):
        ...
    fastgrad.schema.MissingColumnsError: my_step: column(s) ['pmra'] missing; the partition has ra, dec. ...
    """
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
    """An id column as an integer array (the MC streams' keys).

    Examples
    --------
    >>> import pandas as pd
    >>> from fastgrad.partitions import int_ids
    >>> int_ids(pd.DataFrame({"source_id": [4295806720, 4295806721]}), "source_id").tolist()
    [4295806720, 4295806721]
    >>> int_ids(pd.DataFrame({"source_id": [4295806720.0, None]}), "source_id")
    Traceback (most recent call last):
        ...
    ValueError: source_id: 1 row(s) have no id (rows [1]); every star needs an integer id ...
    """
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
    """A ValueError from a partition, saying where the partition is.

    Examples
    --------
    >>> import pandas as pd
    >>> from fastgrad.partitions import located
    >>> part = pd.DataFrame({"R": [8.0, -1.0]}, index=pd.RangeIndex(500, 502))
    >>> print(located(ValueError("R: 1 negative value(s) (rows [1])"), part))
    R: 1 negative value(s) (rows [1]) [in a partition of 2 rows whose index starts at 500; row
    numbers count from the partition's first row]
    """
    first = df.index[0] if len(df) else None
    first = first.item() if hasattr(first, "item") else first  # numpy scalar -> plain number
    where = (
        (
            f" [in a partition of {len(df)} rows whose index starts at {first!r}; "
            "row numbers count from the partition's first row]"
        )
        if len(df)
        else ""
    )
    return type(exc)(f"{exc}{where}")
