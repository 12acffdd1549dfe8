"""Engines: where a ``Table -> Table`` step runs.

The pipeline's per-star steps (:func:`fastgrad.transform.add_galactocentric`,
:func:`fastgrad.populations.add_kinematic_probabilities`) are plain functions
of an astropy Table.  An engine only decides where they run:

- :class:`LocalEngine` calls the step on the table, on this machine (in row
  chunks when a progress bar wants them);
- :class:`DaskEngine` sends the table's columns to a Dask cluster as pandas
  partitions and calls the same step on each, through one adapter
  (:func:`table_to_frame` / :func:`frame_to_table`, which carry the units a
  DataFrame cannot hold).

A step whose output for a row depends only on that row (the Monte Carlo keys
each star's random stream by its id, docs/method.md section 3) gives the same
bits on either engine, whatever the partitioning.  No step has a Dask twin:
:mod:`fastgrad.dask`'s partition functions are the same steps through the
same adapter.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING

import numpy as np
from astropy.table import MaskedColumn, Table, vstack

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
    from typing import Any

    import pandas as pd


__all__ = [
    "LocalEngine",
    "DaskEngine",
    "worker_environment",
    "restore_environment",
    "table_to_frame",
    "frame_to_table",
    "column_info",
    "apply_step",
]


# ---------------------------------------------------------------------------
# The adapter: a pandas partition <-> an astropy Table with units
# ---------------------------------------------------------------------------


def column_info(table: Table) -> dict[str, dict[str, Any]]:
    """``{name: {"unit": ..., "description": ...}}`` of a Table's columns: what
    a pandas frame loses and :func:`frame_to_table` puts back.

    Examples
    --------
    >>> import astropy.units as u
    >>> from astropy.table import Table
    >>> from fastgrad.engine import column_info
    >>> t = Table({"R": [8.1, 9.3] * u.kpc, "feh": [-0.2, -0.4]})
    >>> t["R"].description = "Galactocentric radius"
    >>> info = column_info(t)
    >>> print(info["R"]["unit"], "|", info["R"]["description"], "|", info["feh"]["unit"])
    kpc | Galactocentric radius | None
    """
    return {
        name: {
            "unit": getattr(table[name], "unit", None),
            "description": getattr(table[name], "description", None),
        }
        for name in table.colnames
    }


def table_to_frame(table: Table, index: Any = None) -> pd.DataFrame:
    """An astropy Table as a pandas DataFrame of bare numbers (no copy where it can).

    Units are dropped (keep them with :func:`column_info`); masked float
    entries become NaN, masked integers a nullable ``Int64`` column, so a
    missing value is never its fill value.

    Parameters
    ----------
    table : astropy.table.Table
        One-dimensional columns.
    index : pandas.Index, optional
        The frame's index (default: 0 ... N-1).

    Examples
    --------
    A masked float becomes NaN, a masked integer ``<NA>``, never its fill value:

    >>> import astropy.units as u
    >>> from astropy.table import MaskedColumn, Table
    >>> from fastgrad.engine import table_to_frame
    >>> t = Table({"source_id": MaskedColumn([11, 12, 13], mask=[False, True, False]),
    ...            "R": MaskedColumn([8.1, 9.3, 10.2], mask=[False, False, True], unit=u.kpc)})
    >>> df = table_to_frame(t)
    >>> print(df.to_string())
       source_id    R
    0         11  8.1
    1       <NA>  9.3
    2         13  NaN
    >>> df.dtypes.astype(str).tolist()
    ['Int64', 'float64']
    """
    import pandas as pd

    data = {}
    for name in table.colnames:
        col = table[name]
        if col.ndim != 1:
            raise ValueError(f"{name}: a {col.ndim}-d column has no DataFrame form")
        mask = np.ma.getmaskarray(col) if np.ma.isMaskedArray(col) else None
        values = np.asarray(col.data if hasattr(col, "data") else col)
        if isinstance(values, np.ma.MaskedArray):
            values = np.ma.getdata(values)
        if mask is not None and mask.any():
            if values.dtype.kind == "f":
                values = np.where(mask, np.nan, values)
            elif values.dtype.kind in "iu":
                values = pd.array(np.where(mask, 0, values), dtype="Int64")
                values[mask] = pd.NA
            else:
                values = pd.Series(values, dtype=object).where(~mask, None).to_numpy()
        data[name] = values
    return pd.DataFrame(data, index=index)


def frame_to_table(df: pd.DataFrame, info: Mapping[str, Mapping[str, Any]] | None = None) -> Table:
    """A pandas DataFrame (one partition) as an astropy Table.

    Numeric columns come out as numpy arrays: floats as float64 with missing
    values NaN, integers with their dtype (a nullable integer with missing
    values as a ``MaskedColumn``), others as they are.  ``info``
    (:func:`column_info`) gives the columns their units and descriptions back;
    without it the numbers are bare, read in fastgrad's canonical units.

    Examples
    --------
    :func:`column_info` puts back the units a pandas frame cannot hold:

    >>> import astropy.units as u
    >>> from astropy.table import Table
    >>> from fastgrad.engine import column_info, frame_to_table, table_to_frame
    >>> t = Table({"source_id": [11, 12], "R": [8.1, 9.3] * u.kpc})
    >>> back = frame_to_table(table_to_frame(t), column_info(t))
    >>> print(back["R"].unit, back["source_id"].dtype, [f"{r:.1f}" for r in back["R"]])
    kpc int64 ['8.1', '9.3']
    """
    import pandas as pd

    info = info or {}
    data = {}
    for name in df.columns:
        series = df[name]
        if pd.api.types.is_float_dtype(series.dtype):
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        elif pd.api.types.is_integer_dtype(series.dtype) or pd.api.types.is_bool_dtype(
            series.dtype
        ):
            missing = series.isna().to_numpy()
            dtype = getattr(series.dtype, "numpy_dtype", series.dtype)
            if missing.any():
                values = MaskedColumn(series.fillna(0).to_numpy(dtype=dtype), mask=missing)
            else:
                values = series.to_numpy(dtype=dtype)
        else:  # strings, objects, nested columns: as they are
            values = series.to_numpy()
        data[str(name)] = values
    # no copy: a partition's float columns are viewed, not duplicated
    table = Table(data, copy=False)
    for name, meta in info.items():
        if name in data and meta:
            table[name].unit = meta.get("unit")
            table[name].description = meta.get("description")
    return table


def apply_step(
    df: pd.DataFrame,
    step: Callable[..., Table],
    info: Mapping[str, Mapping[str, Any]] | None,
    kwargs: Mapping[str, Any],
) -> pd.DataFrame:
    """``step`` (``Table -> Table``) on one pandas partition: the partition
    through :func:`frame_to_table` (with ``info``'s units), the step's table
    back through :func:`table_to_frame` on the partition's index.

    Examples
    --------
    A ``Table -> Table`` step (here :func:`fastgrad.add_distances`) on one
    pandas partition of Bailer-Jones distances (pc), out on the partition's index:

    >>> import pandas as pd
    >>> import fastgrad
    >>> from fastgrad.engine import apply_step
    >>> part = pd.DataFrame({"r_med_geo": [1000.0, 2500.0], "r_lo_geo": [900.0, 2000.0],
    ...                      "r_hi_geo": [1100.0, 3100.0]}, index=[40, 41])
    >>> out = apply_step(part, fastgrad.add_distances, None, {})
    >>> for i, row in out.iterrows():
    ...     print(f"{i}: {row['distance']:.3f} +- {row['distance_error']:.3f} kpc")
    40: 1.000 +- 0.100 kpc
    41: 2.500 +- 0.550 kpc
    """
    out = step(frame_to_table(df, info), **kwargs)
    return table_to_frame(out, index=df.index)


def _selected(table, columns):
    """``table[columns]`` over the same data (astropy's ``table[names]``
    copies every column: 70 MB of new memory for the Monte Carlo's inputs
    of 10^6 stars)."""
    if columns is None:
        return table
    out = table.__class__([table[c] for c in columns], copy=False)
    out.meta = table.meta.copy()  # shallow, as astropy's own
    return out


# ---------------------------------------------------------------------------
# Engines
# ---------------------------------------------------------------------------


class LocalEngine:
    """Run a step on this machine.

    Parameters
    ----------
    n_threads : int or None
        OpenMP threads, passed on to the steps that take ``n_threads``
        (:attr:`n_threads`; ``None``: :func:`fastgrad.effective_n_threads`).
    chunks : callable, optional
        ``chunks(n_rows, label)`` yielding ``(lo, hi)`` row ranges, for a
        progress bar (the pipeline's); used by :meth:`map` calls given a
        ``label``.  The steps are row-wise, so the chunking changes no number.

    Examples
    --------
    The chunks a progress bar asks for change no number:

    >>> import numpy as np
    >>> from astropy.table import join
    >>> import fastgrad
    >>> from fastgrad.engine import LocalEngine
    >>> survey = fastgrad.make_survey("gaia_giants", 300, seed=1)
    >>> stars = fastgrad.add_distances(join(survey["gaia"], survey["bailer_jones"], keys="source_id"))
    >>> halves = LocalEngine(chunks=lambda n, label: [(0, n // 2), (n // 2, n)])
    >>> mc = halves.map(fastgrad.add_galactocentric, stars, label="MC", n_samples=100, seed=42)
    >>> ref = fastgrad.add_galactocentric(stars, n_samples=100, seed=42)
    >>> np.array_equal(mc["R_err"], ref["R_err"]), mc["R"].unit
    (True, Unit("kpc"))
    """

    def __init__(
        self,
        n_threads: int | None = None,
        chunks: Callable[[int, str], Iterable[tuple[int, int]]] | None = None,
    ) -> None:
        self.n_threads = n_threads
        self._chunks = chunks

    def map(
        self,
        step: Callable[..., Table],
        table: Table,
        *,
        columns: Sequence[str] | None = None,
        label: str | None = None,
        **kwargs: Any,
    ) -> Table:
        """``step(table[columns], **kwargs)``: the step's output Table.

        Parameters
        ----------
        step : callable
            ``Table -> Table``, one output row per input row.
        table : astropy.table.Table
        columns : sequence of str, optional
            The columns the step reads (default: all).
        label : str, optional
            Progress-bar label: the rows are taken in chunks, the outputs stacked.
        **kwargs :
            Passed to ``step``.
        """
        t = _selected(table, columns)
        ranges = (
            self._chunks(len(t), label) if self._chunks is not None and label else [(0, len(t))]
        )
        outs = [step(t[lo:hi], **kwargs) for lo, hi in ranges]
        return outs[0] if len(outs) == 1 else vstack(outs, metadata_conflicts="silent")

    def close(self) -> None:
        """Nothing to release (the engines share one interface)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


#: The value of ``MALLOC_TRIM_THRESHOLD_`` that Dask's nanny gives its workers
#: by default (``distributed.nanny.pre-spawn-environ``).
DASK_DEFAULT_MALLOC_TRIM = 65536


@contextlib.contextmanager
def worker_environment() -> Iterator[dict[str, str | None]]:
    """Dask's configuration for the workers of a ``LocalCluster`` made inside:
    its nanny's ``pre-spawn-environ`` less ``MALLOC_TRIM_THRESHOLD_`` where
    that holds Dask's default (:data:`DASK_DEFAULT_MALLOC_TRIM`; a value of
    the user's own is kept); and the caller's own environment given back.

    Why the trim threshold: glibc takes any explicit trim threshold as a
    reason to fix its mmap threshold at 128 KiB, so every column-sized array
    a step allocates is a fresh mapping whose pages fault in, and is unmapped
    again when freed.  fastgrad's per-partition steps allocate and free the
    same partition-sized arrays partition after partition: with Dask's
    default they took 5.6x the page faults and 13-37 % more time
    (bench/README.md, "Survey scale"); glibc's own adaptive thresholds keep
    those arrays' memory for the next partition, and a worker's peak is its
    largest partition's working set either way.

    Why the environment: a nanny writes ``pre-spawn-environ``
    (``OMP_NUM_THREADS=1`` and the like) into its own process's
    ``os.environ`` before it spawns a worker, and a LocalCluster's nannies
    live in the caller's process, so every process the caller started
    afterwards (a later ``fastgrad run``, a pool's workers) would have one
    thread.  Those variables are put back as they were when the block
    exits; the block yields them as they were (``None``: unset), for
    :func:`restore_environment` after a worker restarted by its nanny.
    """
    import dask

    key = "distributed.nanny.pre-spawn-environ"
    env = dict(dask.config.get(key, default={}) or {})
    saved = {k: os.environ.get(k) for k in env}
    try:
        trim = env.get("MALLOC_TRIM_THRESHOLD_")
        if trim is None or str(trim) != str(DASK_DEFAULT_MALLOC_TRIM):
            yield saved
        else:
            del env["MALLOC_TRIM_THRESHOLD_"]
            with dask.config.set({key: env}):
                yield saved
    finally:
        restore_environment(saved)


def restore_environment(saved: Mapping[str, str | None]) -> None:
    """Set each variable of ``saved`` in ``os.environ`` back to its value
    (``None``: remove it)."""
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


class DaskEngine:
    """Run a step on the partitions of a Dask cluster (``pip install fastgrad[dask]``).

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler; default a ``LocalCluster`` of
        ``n_workers`` single-threaded processes (default one per CPU).
    n_workers : int, optional
    partitions : int, optional
        Partitions a table is cut into (default 4 per worker).
    client : distributed.Client, optional
        An existing client to use instead (not closed by :meth:`close`).

    The workers' OpenMP threads resolve there (:attr:`n_threads` is ``None``:
    Dask's nanny sets ``OMP_NUM_THREADS=1``).

    Examples
    --------
    The same step on a cluster gives the same bits as on this machine (not run
    here: it starts a cluster of two worker processes):

    >>> import numpy as np
    >>> from astropy.table import join
    >>> import fastgrad
    >>> from fastgrad.engine import DaskEngine, LocalEngine
    >>> survey = fastgrad.make_survey("gaia_giants", 300, seed=1)
    >>> stars = fastgrad.add_distances(join(survey["gaia"], survey["bailer_jones"], keys="source_id"))
    >>> local = LocalEngine().map(fastgrad.add_galactocentric, stars, n_samples=100, seed=42)
    >>> with DaskEngine(n_workers=2) as engine:  # doctest: +SKIP
    ...     on_dask = engine.map(fastgrad.add_galactocentric, stars, n_samples=100, seed=42)
    >>> np.array_equal(on_dask["R_err"], local["R_err"]), on_dask["R"].unit  # doctest: +SKIP
    (True, Unit("kpc"))
    """

    n_threads = None

    def __init__(
        self,
        scheduler: str | None = None,
        *,
        n_workers: int | None = None,
        partitions: int | None = None,
        client: Any = None,
    ) -> None:
        from .partitions import require_dask

        require_dask()
        from dask.distributed import Client, LocalCluster

        self.cluster = None
        self._environ = {}  # the variables a LocalCluster's nannies set here, as they were
        self._own_client = client is None
        if client is not None:
            self.client = client
        elif scheduler:
            self.client = Client(scheduler)
        else:
            n = n_workers or (os.cpu_count() or 1)
            with worker_environment() as self._environ:
                self.cluster = LocalCluster(
                    n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
                )
            self.client = Client(self.cluster)
        workers = len(self.client.scheduler_info().get("workers", {})) or 1
        self.partitions = partitions or 4 * workers

    def map(
        self,
        step: Callable[..., Table],
        table: Table,
        *,
        columns: Sequence[str] | None = None,
        label: str | None = None,
        **kwargs: Any,
    ) -> Table:
        """The output of ``step`` on each partition of ``table[columns]``,
        gathered in row order into one Table (units and descriptions as the
        step gives them; ``label`` is accepted for :class:`LocalEngine`'s
        interface).  Same parameters as :meth:`LocalEngine.map`."""
        import dask.dataframe as dd

        t = _selected(table, columns)
        info = column_info(t)
        df = table_to_frame(t)
        # the step on no rows: the output's columns, dtypes, units and meta
        empty = step(frame_to_table(df.iloc[:0], info), **kwargs)
        meta = table_to_frame(empty, index=df.index[:0])
        ddf = dd.from_pandas(df, npartitions=min(self.partitions, max(len(df), 1)))
        out = ddf.map_partitions(apply_step, step, info, kwargs, meta=meta).compute()
        result = frame_to_table(out.sort_index(), column_info(empty))
        result.meta.update(empty.meta)
        return result

    def close(self) -> None:
        """Close the client and the cluster this engine started."""
        if self._own_client:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        # a nanny that restarted its worker wrote its variables here again
        restore_environment(self._environ)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
