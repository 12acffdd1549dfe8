"""One sample's per-star steps on the partitions of an out-of-core catalogue.

With ``engine = "dask"`` and a sample whose input is a directory (a HATS
catalogue, as LSDB reads, or a Parquet dataset), the client never holds the
catalogue: each partition goes through the very steps of one machine
(:func:`fastgrad.pipeline.run.per_star_steps`: the sample's cuts, the
``source_id`` join to Gaia, distances, cuts, the Monte Carlo, populations and
halo cut, the finite-input check) on a Dask worker, and the final catalogue is
written partition by partition to a scratch Parquet dataset (``[dask]
scratch``, default the system's temporary folder; removed when the sample is
done, whether it succeeds or fails).  The client gathers:

* the cut report: each partition's counts, summed (the local report, row for
  row);
* the fit columns (:data:`FIT_COLUMNS`, 48 bytes a star, in source_id order:
  the order of the local engine's final sample, so the emcee fits see the same
  arrays bit for bit) in shared memory, which the fit processes map;
* the aggregates of :func:`fastgrad.pipeline.partitioned_analysis.azimuthal_analysis_partitioned`.

Each star's Monte-Carlo stream is keyed by ``(seed, source_id)`` and every
other step is row by row, so the tables are those of the local engine whatever
the partitioning (tests/test_partitioned_run.py).

What needs the whole catalogue in one place is refused with a
:class:`~fastgrad.errors.ConfigError` that says what to do: a sky match
(``join = "sky"``: cross-match the catalogues once, e.g. with
``lsdb.Catalog.crossmatch``, and give the result), inputs in different
directories (join them once, e.g. ``lsdb.Catalog.join`` on source_id, and give
one catalogue holding every input's columns).  A catalogue whose rows of one
``source_id`` are split across partitions would be wrong for a sample with
``repeat_spectra``; HATS keeps them together (one position, one pixel).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import astropy.units as u
import numpy as np
from astropy.table import Column, Table

from ..errors import ConfigError
from ..partitions import require_dask
from ..readers import HATS_COLUMNS, is_hats, standardize_columns

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import Any

    import pandas as pd

    from .config import SamplePlan
    from .progress import Progress

__all__ = [
    "FINAL_COLUMNS",
    "FIT_COLUMNS",
    "PartitionedSample",
    "partitioned_input",
    "open_partitioned",
    "prepare_partitioned",
    "steps_on_partition",
]

#: The final catalogue's columns kept on the scratch dataset: what the fits
#: and :func:`~fastgrad.pipeline.partitioned_analysis.azimuthal_analysis_partitioned`
#: read (kpc, rad, dex), 96 bytes a star.
FINAL_COLUMNS = {
    "source_id": None,
    "x": u.kpc,
    "y": u.kpc,
    "z": u.kpc,
    "R": u.kpc,
    "phi": u.rad,
    "absz": u.kpc,
    "R_err": u.kpc,
    "z_err": u.kpc,
    "feh_used": u.dex,
    "feh_used_err": u.dex,
    "p_thin": None,
}

#: What Tables 1 and 2 (and Figure 3, their first bin) read, gathered on the
#: client into shared memory, which the fit processes map
FIT_COLUMNS = ("R", "absz", "feh_used", "R_err", "z_err", "feh_used_err")


def partitioned_input(cfg: Mapping[str, Any], plan: SamplePlan) -> str | None:
    """The catalogue directory a sample reads by partition, or ``None`` when
    it is read whole (``engine = "local"``, synthetic input, or files).

    Raises
    ------
    ConfigError
        Partitioned input the partitioned steps cannot take (a sky match, or
        inputs in different directories), saying what to do instead.
    """
    if cfg["engine"] != "dask" or plan.synthetic:
        return None
    paths = {name: os.fspath(p) for name, p in plan.inputs.items() if p is not None}
    dirs = {name: p for name, p in paths.items() if os.path.isdir(p)}
    if not dirs:
        return None
    where = f"samples.{plan.name}.inputs"
    if len(set(paths.values())) > 1:
        listed = ", ".join(f"{k} = {v!r}" for k, v in paths.items())
        raise ConfigError(
            f"{where}: with engine = 'dask' a catalogue directory is read by partition and "
            f"must hold every input's columns, but the inputs differ ({listed}); join them "
            "once on source_id (e.g. lsdb.Catalog.join, then to_hats) and give that "
            "directory for every input"
        )
    spec = plan.spec
    if spec.join == "sky" and "gaia" in spec.inputs and spec.primary != "gaia":
        raise ConfigError(
            f"{where}: sample {plan.name!r} matches its spectra to Gaia on the sky "
            f'({plan.spec.match_radius_arcsec:g}"), which needs both catalogues whole; with '
            "engine = 'dask' give the matched catalogue (e.g. lsdb.Catalog.crossmatch, "
            "then to_hats) with join = 'source_id', or read files with engine = 'local'"
        )
    return next(iter(paths.values()))


def open_partitioned(path: str | os.PathLike[str], columns: Any = None) -> Any:
    """A lazy Dask DataFrame of a HATS catalogue (through LSDB) or a Parquet
    dataset, without HATS's index and partition columns."""
    dd = require_dask()
    path = os.fspath(path)
    if is_hats(path):
        import lsdb

        ddf = lsdb.open_catalog(path, columns=columns or "all").to_dask_dataframe()
        ddf = ddf.reset_index(drop=True)
    else:
        ddf = dd.read_parquet(path, columns=columns)
    drop = [c for c in ddf.columns if c in HATS_COLUMNS]
    return ddf.drop(columns=drop) if drop else ddf


def steps_on_partition(
    df: pd.DataFrame, cfg: Mapping[str, Any], name: str, source: str
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """:func:`~fastgrad.pipeline.run.per_star_steps` on one partition.

    Returns the final stars' :data:`FINAL_COLUMNS`, the partition's step
    report (``cut, n_before, n_removed, n_after, section, description``) and
    the populations' metadata.  An emptied partition is no error here (the
    summed report is checked on the client)."""
    import pandas as pd

    from ..engine import LocalEngine
    from .config import sample_plan
    from .run import Steps, _normalise_report, per_star_steps

    plan = sample_plan(cfg, name)
    # a plain DataFrame (LSDB's partitions are nested-pandas NestedFrames),
    # made a Table once for all the inputs it holds: standardize_columns
    # shares a Table's data, where it converted a DataFrame once per input
    df = pd.DataFrame({c: df[c].to_numpy() for c in df.columns if c not in HATS_COLUMNS})
    table = Table.from_pandas(df, index=False)
    del df
    tables = {
        inp: standardize_columns(
            table, kind=kind, columns=plan.columns.get(inp) or None, source=source
        )
        for inp, kind in plan.spec.inputs.items()
    }
    del table
    steps = Steps(partition=True)
    # Dask's nanny runs each worker with OMP_NUM_THREADS=1: n_threads=None
    # resolves to one thread a task, one task a core
    kept = per_star_steps(cfg, plan, tables, LocalEngine(None), steps)
    out = pd.DataFrame(
        {
            c: np.asarray(kept[c], dtype=np.int64 if c == "source_id" else np.float64)
            for c in FINAL_COLUMNS
        }
    )
    report = pd.concat(
        [_normalise_report(r, name).to_pandas() for r in steps], ignore_index=True
    ).drop(columns="sample")
    return out, report, dict(kept.meta.get("kinematics", {}))


def _summed_report(reports: list[pd.DataFrame], name: str) -> Table:
    """The partitions' step reports added up, row for row; the steps are the
    same in every partition (else an error: a bug, not the data)."""
    first = reports[0]
    for r in reports[1:]:
        if list(r["cut"]) != list(first["cut"]):
            raise RuntimeError(
                f"sample {name!r}: the partitions ran different steps "
                f"({list(first['cut'])} and {list(r['cut'])})"
            )
    total = Table()
    total["sample"] = [name] * len(first)
    total["cut"] = list(first["cut"])
    for col in ("n_before", "n_removed", "n_after"):
        total[col] = np.sum([r[col].to_numpy(np.int64) for r in reports], axis=0)
    total["section"] = list(first["section"])
    total["description"] = list(first["description"])
    return total


@dataclass
class PartitionedSample:
    """One sample's final catalogue, written by partition to ``path`` (a
    Parquet dataset of :data:`FINAL_COLUMNS`): ``frame`` reads it lazily,
    :meth:`fit_table` gathers the fit columns, :meth:`close` removes it."""

    path: str
    report: Table
    kinematics: dict = field(default_factory=dict)
    n_stars: int = 0

    @property
    def frame(self) -> Any:
        dd = require_dask()
        return dd.read_parquet(self.path)

    @contextlib.contextmanager
    def fit_table(self) -> Iterator[Table]:
        """:data:`FIT_COLUMNS` of every final star, in source_id order, with
        units (kpc, dex): what Tables 1 and 2 read (a context manager).

        The columns are gathered one at a time straight into a block of
        shared memory (:class:`fastgrad.fitting.shared.SharedColumns`), 48
        bytes a star: the fit processes map it and select their bins' stars
        themselves, so neither the columns nor any bin's arrays are copied
        on the client.  The block is freed on exit (its memory once the
        table and its columns are gone).

        The client reads the scratch files itself (it made their folder,
        which the workers write to): a column of 1.5x10^7 stars is read in
        ~0.1 s, where a Dask graph over the partitions moved it through the
        workers and the scheduler in ~3 s."""
        from ..fitting.shared import SharedColumns

        order = np.argsort(self._column("source_id"), kind="stable")
        try:
            block = SharedColumns(order.size, FIT_COLUMNS)
        except OSError:
            # no room in /dev/shm: plain arrays (the fits then say so and run
            # in this process, fastgrad.fitting.workers)
            block = contextlib.nullcontext({c: np.empty(order.size) for c in FIT_COLUMNS})
        with block as columns:
            for c in FIT_COLUMNS:
                np.take(self._column(c), order, out=columns[c])
            del order
            yield Table(
                [
                    Column(columns[c], name=c, unit=FINAL_COLUMNS[c], copy=False)
                    for c in FIT_COLUMNS
                ],
                copy=False,
            )

    def _column(self, name: str) -> np.ndarray:
        """Column ``name`` of every final star, in the order of the scratch
        files (the partitions')."""
        import pyarrow.parquet as pq

        files = sorted(glob.glob(os.path.join(self.path, "part.*.parquet")))
        out = np.empty(self.n_stars, dtype=np.int64 if name == "source_id" else np.float64)
        at = 0
        for f in files:
            # (ParquetFile: no dataset discovery, ~3x faster than read_table)
            col = pq.ParquetFile(f).read(columns=[name]).column(name).to_numpy()
            if at + col.size > out.size:
                raise RuntimeError(f"{self.path}: more than the {self.n_stars:,} final stars")
            out[at : at + col.size] = col
            at += col.size
        if at != out.size:
            raise RuntimeError(f"{self.path}: {at:,} final stars, not {self.n_stars:,}")
        return out

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def __len__(self) -> int:
        return self.n_stars

    def __enter__(self) -> PartitionedSample:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def prepare_partitioned(
    cfg: Mapping[str, Any],
    name: str,
    progress: Progress,
    path: str,
    steps: list | None = None,
) -> PartitionedSample:
    """The per-star steps of sample ``name`` on the partitions of the
    catalogue directory ``path`` (:func:`partitioned_input`), run once on the
    Dask client in use; the final catalogue written to a scratch dataset.

    ``steps``, a list, receives the summed cut report (also when a step
    empties the sample: :class:`~fastgrad.pipeline.run.EmptySample` names the
    step, as the local engine does)."""
    import dask

    from .run import EmptySample

    ddf = open_partitioned(path)
    parts = ddf.to_delayed()
    run_part = dask.delayed(steps_on_partition, pure=True, nout=3)
    plain = _plain(cfg)
    outs = [run_part(p, plain, name, f"{path} (partition {i})") for i, p in enumerate(parts)]
    scratch = tempfile.mkdtemp(prefix=f"fastgrad-{name}-", dir=cfg["dask"].get("scratch"))
    try:
        write = dask.delayed(_write_part, pure=True)
        writes = [
            write(o[0], os.path.join(scratch, f"part.{i:06d}.parquet")) for i, o in enumerate(outs)
        ]
        with progress.step(
            f"{name}: per-star steps on {len(parts)} partitions of {path} "
            f"({cfg['monte_carlo']['n_samples']} Monte-Carlo draws a star)"
        ):
            # one pass: each partition's steps run once, its final stars go
            # to disk, its report and the populations' metadata to the client
            _, reports, kinematics = dask.compute(writes, [o[1] for o in outs], outs[0][2])
        report = _summed_report(list(reports), name)
        emptied = np.flatnonzero((report["n_after"] == 0) & (report["n_removed"] > 0))
        if emptied.size:
            report = report[: emptied[0] + 1]
        if steps is not None:
            steps.append(report)
        if emptied.size or len(report) == 0 or report["n_after"][-1] == 0:
            step = report["cut"][-1] if len(report) else "read"
            raise EmptySample(
                f"sample {name!r}: no star survives step {step!r} (the cut report, "
                "cuts.ecsv, has every step's counts)"
            )
        return PartitionedSample(scratch, report, kinematics, int(report["n_after"][-1]))
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def _write_part(frame: pd.DataFrame, path: str) -> int:
    """One partition's final stars to ``path`` (Parquet, zstd); its row count.

    No dictionary encoding: floats that are all different are only tried
    in a dictionary, then written plain anyway (with the try: 3x the time,
    and a larger file)."""
    frame.to_parquet(path, index=False, compression="zstd", use_dictionary=False)
    return len(frame)


def _plain(cfg):
    """The configuration as plain dicts and lists (it travels to the workers)."""
    if isinstance(cfg, dict) or hasattr(cfg, "items"):
        return {k: _plain(v) for k, v in cfg.items()}
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(_plain(v) for v in cfg)
    return cfg
