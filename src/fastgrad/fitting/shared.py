"""Fit data in shared memory: the bins' worker processes map it instead of
receiving copies.

A process pool sends each job's arguments through a pipe, pickled: a bin of
7 x 10^6 stars is 220 MB of LineModel arrays built on the client, pickled,
sent and unpickled, and at 2 x 10^7 stars the client held every bin's model
at once (2.7 GB at its peak; issue 16 asks <= 2 GB).  Here the columns of a
fit (x, y, their errors, the binning variable) live in one block of
:class:`multiprocessing.shared_memory.SharedMemory`; a job carries the
block's name, where each column starts and the bin's edges, and the worker
selects its rows and builds its model itself: the same arrays, so the same
numbers, as a model built on the client.

:class:`SharedColumns` is that block.  The Dask engine gathers the fit
columns straight into one (:meth:`fastgrad.pipeline.partitioned.PartitionedSample.fit_table`),
so that nothing is copied; :func:`share` copies the columns that are not
in one yet (the local engine's tables) into a new block.

Every block is made by :func:`new_block`, which reserves its pages at once:
a ``/dev/shm`` too small for it (Docker's default is 64 MB) is then an
OSError naming the sizes, which the callers answer by working without
shared memory, where a write past the room would kill the process (SIGBUS).
"""

from __future__ import annotations

import contextlib
import errno
import os
from multiprocessing import shared_memory
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

__all__ = ["SharedColumns", "ColumnRef", "share", "attach", "new_block"]

_FLOAT64 = np.dtype(np.float64)
#: the blocks of this process that are open, by name
_OPEN: dict[str, SharedColumns] = {}

#: where a column lives: (block name, offset in bytes, rows)
ColumnRef = tuple[str, int, int]


class SharedColumns:
    """``n_rows``-long float64 columns ``names`` in one block of shared memory.

    ``block[name]`` is a column (a writable numpy array on the block),
    :meth:`close` frees the block (its memory once the last view of it is
    gone; also a context manager).  The worker processes read the columns by
    :meth:`ref` and :func:`attach`.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.fitting.shared import SharedColumns, attach
    >>> with SharedColumns(3, ["R", "feh"]) as block:
    ...     block["R"][:] = [8.0, 9.0, 10.0]
    ...     ref = block.ref(block["R"])
    ...     with attach([ref]) as (R,):  # what a worker process does
    ...         print(R.tolist())
    [8.0, 9.0, 10.0]
    """

    def __init__(self, n_rows: int, names: Sequence[str]) -> None:
        self.n_rows = int(n_rows)
        self.names = tuple(names)
        size = max(1, 8 * self.n_rows * len(self.names))
        self._shm = new_block(size)
        self._base = _view(self._shm, 0, size // 8)
        self._columns = {
            name: self._base[i * self.n_rows : (i + 1) * self.n_rows]
            for i, name in enumerate(self.names)
        }
        _OPEN[self._shm.name] = self

    @property
    def name(self) -> str:
        return self._shm.name

    def __getitem__(self, name: str) -> np.ndarray:
        return self._columns[name]

    def ref(self, array: np.ndarray) -> ColumnRef | None:
        """Where ``array`` lives in this block (None if it is not a whole
        contiguous float64 run of it)."""
        if (
            self._base is None
            or not isinstance(array, np.ndarray)
            or array.dtype != _FLOAT64
            or array.ndim != 1
            or not array.flags.c_contiguous
        ):
            return None
        start = array.ctypes.data - self._base.ctypes.data
        if start < 0 or start % 8 or start + 8 * array.size > 8 * self._base.size:
            return None
        return (self._shm.name, start, array.size)

    def close(self) -> None:
        """Free the block: its name at once, its memory once every view of it
        in this process is gone."""
        if self._base is None:
            return
        _OPEN.pop(self._shm.name, None)
        self._columns = {}
        self._base = None
        _release(self._shm)
        with contextlib.suppress(FileNotFoundError):
            self._shm.unlink()

    def __enter__(self) -> SharedColumns:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def new_block(size: int) -> shared_memory.SharedMemory:
    """A new block of ``size`` bytes of shared memory, its pages reserved.

    POSIX shared memory lives in a tmpfs (``/dev/shm`` on Linux) that may be
    smaller than the block: Docker gives containers 64 MB unless told
    ``--shm-size``.  Made plainly, such a block is created all the same and
    the first write past the room kills the process with SIGBUS.  Here its
    pages are allocated at once (``posix_fallocate``, about the time the
    writes would take to fault them in), so no room is an OSError (ENOSPC)
    that says so, and the block is gone again.

    Examples
    --------
    >>> from fastgrad.fitting.shared import new_block
    >>> block = new_block(4096)
    >>> block.size >= 4096
    True
    >>> block.close(); block.unlink()
    """
    shm = shared_memory.SharedMemory(create=True, size=size)
    fd = getattr(shm, "_fd", -1)
    if fd < 0 or not hasattr(os, "posix_fallocate"):
        return shm  # (no POSIX fd, e.g. Windows; macOS: no posix_fallocate)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        _release(shm)
        with contextlib.suppress(FileNotFoundError):
            shm.unlink()
        if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL):
            # a shared-memory filesystem without fallocate: made plainly
            return shared_memory.SharedMemory(create=True, size=size)
        if exc.errno not in (errno.ENOSPC, errno.ENOMEM):
            raise
        raise OSError(
            exc.errno,
            f"no room in shared memory for {size / 2**20:,.0f} MiB{_free_shm()} "
            "(in a container: give it more, e.g. docker run --shm-size=4g)",
        ) from exc
    return shm


def _free_shm() -> str:
    """How much /dev/shm has free, in words ('' where it is not a folder)."""
    try:
        st = os.statvfs("/dev/shm")
    except (OSError, AttributeError):
        return ""
    return f" (/dev/shm has {st.f_bavail * st.f_frsize / 2**20:,.0f} MiB free)"


def locate(array: np.ndarray) -> ColumnRef | None:
    """Where ``array`` lives in an open block of this process, or None."""
    for block in _OPEN.values():
        ref = block.ref(array)
        if ref is not None:
            return ref
    return None


@contextlib.contextmanager
def share(arrays: Mapping[str, np.ndarray]) -> Iterator[dict[str, ColumnRef]]:
    """References to ``arrays`` (1-D float64) in shared memory: those already
    in an open :class:`SharedColumns` as they are, the others copied into a
    new block, freed on exit."""
    refs = {k: locate(a) for k, a in arrays.items()}
    todo = [k for k, r in refs.items() if r is None]
    n = {arrays[k].size for k in todo}
    blocks = []
    try:
        # one block per length (the binning plans' columns have one length)
        for size in sorted(n):
            names = [k for k in todo if arrays[k].size == size]
            block = SharedColumns(size, names)
            blocks.append(block)
            for k in names:
                block[k][:] = arrays[k]
                refs[k] = block.ref(block[k])
        yield refs
    finally:
        for block in blocks:
            block.close()


@contextlib.contextmanager
def attach(refs: Sequence[ColumnRef]) -> Iterator[list[np.ndarray]]:
    """The columns of ``refs`` (read-only views), in a worker process or in
    the process that made them; each keeps its mapping alive while it lives."""
    opened = {}
    try:
        views = []
        for name, offset, n in refs:
            if name not in opened:
                opened[name] = _open(name)
            view = _view(opened[name], offset, n)
            view.flags.writeable = False
            views.append(view)
        yield views
    finally:
        for shm in opened.values():
            _release(shm)


def _view(shm, offset, n, dtype=_FLOAT64):
    """``n`` values of ``dtype`` (default float64) at byte ``offset`` of the
    block, a view that keeps the mapping alive (numpy holds the mmap object,
    not the block)."""
    return np.frombuffer(shm._mmap, dtype, n, offset)


def _release(shm):
    """Let the block go: its mapping stays while a view of it is alive and
    goes with the last one.  SharedMemory.close() would unmap the pages under
    a live numpy view (numpy keeps no buffer export to stop it), so the block
    forgets its mmap before closing its descriptor; the mmap object unmaps
    itself when its last view is freed."""
    shm._mmap = None
    shm.close()


def _open_owned(name):
    """Attach the block ``name`` that another process made and this one now
    owns and will unlink (:class:`fastgrad.pipeline.overlap.SharedTables`).

    The maker registered it with the resource tracker the two share;
    attaching with tracking on (not :func:`_open`'s ``track=False``) makes
    the unlink here unregister it, on Python 3.13 as before it: otherwise
    the tracker reports it leaked when the process ends."""
    return shared_memory.SharedMemory(name=name)


def _open(name):
    # Python < 3.13 registers an attached block with the resource tracker as
    # if this process had made it; the pool's workers share their parent's
    # tracker, which forgets the name when the parent unlinks it (no
    # unregister here: it would drop the parent's registration as well)
    try:
        return shared_memory.SharedMemory(name=name, track=False)
    except TypeError:  # Python < 3.13: no track keyword
        return shared_memory.SharedMemory(name=name)
