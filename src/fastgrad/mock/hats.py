"""Writing the XP giants mock (:mod:`fastgrad.mock.xp`) to disk, block by block.

* :func:`write_xp_hats`: a HATS catalogue (for LSDB and ``engine = "dask"``),
  by ``hats-import`` (``pip install "fastgrad[scale]"``): the blocks are
  generated in parallel processes into one Parquet file each (a temporary
  folder beside the catalogue), then ``hats-import`` maps, splits and reduces
  them into HEALPix partitions of at most ``pixel_threshold`` rows on a Dask
  ``LocalCluster``; each process holds one block or one partition, never the
  catalogue.
* :func:`write_xp_parquet`: the three inputs of the ``xp_giants`` sample as
  three plain Parquet files (``xp.parquet``, ``gaia.parquet``,
  ``distances.parquet``: the columns of :data:`fastgrad.mock.xp.XP_INPUT_COLUMNS`,
  one row group per block), the layout :func:`fastgrad.read_catalog` and the
  local engine read.

Both write the injected truth (:class:`fastgrad.mock.xp.TruthAccumulator`)
as ``fastgrad_truth.json`` in the output folder.  Values are in the canonical
units (:data:`fastgrad.schema.CANONICAL_UNITS`), which the readers assign to
Parquet columns that carry none.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .xp import (
    BLOCK_SIZE,
    XP_CATALOG_COLUMNS,
    XP_INPUT_COLUMNS,
    TruthAccumulator,
    make_xp_block,
    n_blocks,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any


__all__ = [
    "TRUTH_FILE",
    "PIXEL_THRESHOLD",
    "write_xp_blocks",
    "write_xp_hats",
    "write_xp_parquet",
    "read_truth",
]

#: the truth's file name in the output folder
TRUTH_FILE = "fastgrad_truth.json"

#: hats-import's largest partition (rows): 2e7 stars give ~100 partitions of
#: 1e5 - 4e5 rows (~20-100 MB in memory each)
PIXEL_THRESHOLD = 400_000


def _block_file(directory, block):
    return os.path.join(directory, f"block_{block:06d}.parquet")


def _arrow_table(cols, spec=XP_CATALOG_COLUMNS):
    import pyarrow as pa

    return pa.table({name: cols[name] for name, _, _ in spec})


def _write_block(task):
    """Make one block and write it as ``block_NNNNNN.parquet``; its truth stats back."""
    import pyarrow.parquet as pq

    directory, n_stars, block, seed, truth, frame, block_size = task
    cols, stats = make_xp_block(
        n_stars, block, seed=seed, truth=truth, frame=frame, block_size=block_size
    )
    # intermediate files: fast zstd level; hats-import rewrites them
    pq.write_table(_arrow_table(cols), _block_file(directory, block), compression="zstd")
    return stats


def write_xp_blocks(
    directory: str | os.PathLike[str],
    n_stars: int,
    *,
    seed: int,
    n_workers: int = 1,
    truth: Mapping[str, Any] | None = None,
    frame: str | None = None,
    block_size: int = BLOCK_SIZE,
    on_block: Callable[[int, int], None] | None = None,
) -> tuple[list[str], dict[str, Any]]:
    """Every block of the catalogue as its own Parquet file in ``directory``.

    ``n_workers`` > 1 makes blocks in that many spawned processes (each
    holds one block at a time); the files do not depend on it.
    ``on_block(done, total)`` is called as blocks finish.  Returns the files
    in block order and the truth dict.
    """
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    total = n_blocks(n_stars, block_size)
    acc = TruthAccumulator(n_stars, seed=seed, truth=truth, frame=frame, block_size=block_size)
    tasks = [(directory, n_stars, b, seed, truth, frame, block_size) for b in range(total)]
    if n_workers <= 1:
        for done, task in enumerate(tasks, 1):
            acc.add(_write_block(task))
            if on_block:
                on_block(done, total)
    else:
        # spawn, not fork: the parent may have started OpenMP or Dask threads
        with ProcessPoolExecutor(n_workers, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_write_block, t) for t in tasks]
            for done, fut in enumerate(as_completed(futures), 1):
                acc.add(fut.result())
                if on_block:
                    on_block(done, total)
    return [_block_file(directory, b) for b in range(total)], acc.result()


def _write_truth(directory, truth_dict):
    with open(os.path.join(directory, TRUTH_FILE), "w") as fh:
        json.dump(truth_dict, fh, indent=1)


def write_xp_hats(
    path: str | os.PathLike[str],
    n_stars: int,
    *,
    seed: int,
    n_workers: int = 2,
    truth: Mapping[str, Any] | None = None,
    frame: str | None = None,
    block_size: int = BLOCK_SIZE,
    pixel_threshold: int = PIXEL_THRESHOLD,
    highest_healpix_order: int = 7,
    tmp_dir: str | os.PathLike[str] | None = None,
    memory_limit: str = "3GB",
    processes: bool = True,
    on_block: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Write the XP giants catalogue of ``n_stars`` rows as a HATS catalogue at ``path``.

    Parameters
    ----------
    path : path
        The catalogue's folder: created, or replaced when it holds an earlier
        catalogue (its ``fastgrad_truth.json``) or nothing.
    n_stars : int
    seed : int
        The catalogue's seed (:func:`fastgrad.mock.xp.make_xp_block`).
    n_workers : int
        Processes that make the blocks, then Dask workers (one thread each)
        of hats-import.
    truth, frame, block_size
        As :func:`fastgrad.mock.xp.make_xp_block`.
    pixel_threshold : int
        The most rows of one HATS partition.
    highest_healpix_order : int
        The finest HEALPix order of a partition. hats' alignment step loops
        in Python over all 12 x 4^order pixels (order 10: ~25 s whatever the
        catalogue's size); at order 7 (0.2 deg^2 pixels) the densest pixel of
        a 10^8-star giants catalogue holds ~10^4 rows, far below any sensible
        ``pixel_threshold``.
    tmp_dir : path, optional
        Where the block files and hats-import's intermediate files go
        (default: a folder beside ``path``); removed afterwards.
    memory_limit : str
        Each Dask worker's memory limit.
    processes : bool
        hats-import's Dask workers are processes (``False``: threads of this
        process, which starts faster: small catalogues, tests).
    on_block : callable, optional
        ``on_block(done, total)`` as blocks finish.

    Returns
    -------
    dict
        ``truth`` (also written to ``path/fastgrad_truth.json``),
        ``seconds_blocks`` and ``seconds_import`` (wall time of the two
        stages, s) and ``partitions`` (the catalogue's HEALPix pixels).

    Raises
    ------
    ImportError
        hats-import is not installed.
    FileExistsError
        ``path`` holds something else.
    """
    try:
        from dask.distributed import Client, LocalCluster
        from hats_import.catalog.arguments import ImportArguments
        from hats_import.catalog.file_readers.parquet import ParquetPyarrowReader
        from hats_import.pipeline import pipeline_with_client
    except ImportError as exc:
        raise ImportError(
            f'write_xp_hats needs hats-import and distributed: pip install "fastgrad[scale]" ({exc})'
        ) from None
    from ..engine import worker_environment

    path = Path(path).absolute()
    if path.exists():
        # replace only an earlier catalogue of ours (or an empty folder)
        if any(path.iterdir()) and not (path / TRUTH_FILE).exists():
            raise FileExistsError(
                f"{path} exists and is not a catalogue written by write_xp_hats "
                f"(no {TRUTH_FILE}); remove it or choose another path"
            )
        shutil.rmtree(path)
    work = Path(tmp_dir) if tmp_dir is not None else path.parent / f".{path.name}.tmp"
    if work.exists():
        shutil.rmtree(work)
    blocks_dir = work / "blocks"
    t0 = time.perf_counter()
    files, truth_dict = write_xp_blocks(
        blocks_dir,
        n_stars,
        seed=seed,
        n_workers=n_workers,
        truth=truth,
        frame=frame,
        block_size=block_size,
        on_block=on_block,
    )
    t1 = time.perf_counter()
    args = ImportArguments(
        output_path=str(path.parent),
        output_artifact_name=path.name,
        input_file_list=files,
        file_reader=ParquetPyarrowReader(),
        ra_column="ra",
        dec_column="dec",
        sort_columns="source_id",
        pixel_threshold=int(pixel_threshold),
        highest_healpix_order=int(highest_healpix_order),
        write_table_kwargs={"compression": "zstd"},
        expected_total_rows=int(n_stars),
        tmp_dir=str(work / "import"),
        dask_tmp=str(work / "dask"),
        resume=False,
        progress_bar=False,
    )
    # the cluster's whole life inside: a nanny that restarts its worker gets
    # the same environment, and the caller's is given back at the end
    with worker_environment():
        cluster = LocalCluster(
            n_workers=max(1, int(n_workers)),
            threads_per_worker=1,
            processes=processes,
            dashboard_address=":0",  # any free port: never "8787 is already in use"
            memory_limit=memory_limit if processes else None,
            local_directory=str(work / "dask"),
        )
        try:
            with Client(cluster) as client:
                pipeline_with_client(args, client)
        finally:
            cluster.close()
    t2 = time.perf_counter()
    shutil.rmtree(work, ignore_errors=True)
    _write_truth(path, truth_dict)
    return {
        "truth": truth_dict,
        "seconds_blocks": t1 - t0,
        "seconds_import": t2 - t1,
        "partitions": _count_partitions(path),
    }


def _count_partitions(path):
    import pyarrow.parquet as pq

    info = path / "partition_info.csv"
    if info.exists():
        with open(info) as fh:
            return sum(1 for _ in fh) - 1
    return len(pq.ParquetDataset(path / "dataset").files)


def write_xp_parquet(
    directory: str | os.PathLike[str],
    n_stars: int,
    *,
    seed: int,
    n_workers: int = 1,
    truth: Mapping[str, Any] | None = None,
    frame: str | None = None,
    block_size: int = BLOCK_SIZE,
    on_block: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """The ``xp_giants`` sample's three inputs as plain Parquet files in ``directory``.

    ``xp.parquet``, ``gaia.parquet``, ``distances.parquet`` (the columns of
    :data:`fastgrad.mock.xp.XP_INPUT_COLUMNS`; the stars without a
    Bailer-Jones distance have no ``distances`` row, as in the real table)
    and ``fastgrad_truth.json``.  The blocks are made as by
    :func:`write_xp_blocks` and copied one at a time (one row group per
    block). Returns ``{"truth", "files", "seconds"}``.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    blocks_dir = directory / ".blocks"
    files, truth_dict = write_xp_blocks(
        blocks_dir,
        n_stars,
        seed=seed,
        n_workers=n_workers,
        truth=truth,
        frame=frame,
        block_size=block_size,
        on_block=on_block,
    )
    out = {name: directory / f"{name}.parquet" for name in XP_INPUT_COLUMNS}
    writers = {}
    try:
        for f in files:
            block = pq.read_table(f)
            for name, spec in XP_INPUT_COLUMNS.items():
                part = block.select([c for c, _, _ in spec])
                if name == "distances":
                    part = part.filter(pc.is_finite(part["r_med_geo"]))
                if name not in writers:
                    writers[name] = pq.ParquetWriter(out[name], part.schema, compression="zstd")
                writers[name].write_table(part)
            os.remove(f)
    finally:
        for w in writers.values():
            w.close()
    shutil.rmtree(blocks_dir, ignore_errors=True)
    _write_truth(directory, truth_dict)
    return {
        "truth": truth_dict,
        "files": {k: str(v) for k, v in out.items()},
        "seconds": time.perf_counter() - t0,
    }


def read_truth(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The truth dict written beside a catalogue by :func:`write_xp_hats` or
    :func:`write_xp_parquet`."""
    with open(os.path.join(os.fspath(directory), TRUTH_FILE)) as fh:
        return json.load(fh)
