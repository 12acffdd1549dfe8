"""Hexagon bins as matplotlib's ``hexbin`` makes them, without matplotlib.

The paper's Figures 1-3, 5 and 8 are hexbins of per-star arrays
(:mod:`fastgrad.plots.paper`).  A partitioned catalogue
(:mod:`fastgrad.pipeline.partitioned_analysis`) bins its stars where they
are, with :meth:`HexGrid.index` (matplotlib's assignment of a point to a hex,
the same arithmetic), reduces each hex (:func:`hex_counts`,
:func:`hex_medians`) and hands the figures a :class:`HexImage`: one value a
hex, drawn by ``ax.hexbin`` at the hex centres with ``reduce_C_function=np.sum``
(:func:`draw_hex_image`), the same hexes with the same values as ``hexbin``
on the stars.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ._kernels import core
from ._threads import effective_n_threads

if TYPE_CHECKING:
    from typing import Any

    import numpy.typing as npt


__all__ = [
    "HexGrid",
    "HexImage",
    "ResidualHexes",
    "hex_counts",
    "counts_image",
    "hex_medians",
    "grouped_medians",
    "binned_medians",
    "group_order",
]


@dataclass(frozen=True)
class HexGrid:
    """matplotlib's hexagon grid of ``hexbin(gridsize=..., extent=...)``.

    ``gridsize``: hexes along x (then ``int(nx / sqrt(3))`` along y) or
    ``(nx, ny)``; ``extent``: (x_min, x_max, y_min, y_max) in the data's units.
    Hex ``k`` is matplotlib's k-th accumulator: the ``(nx + 1) (ny + 1)``
    hexes of the first lattice, then the ``nx ny`` of the second.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.hexbins import HexGrid
    >>> grid = HexGrid(4, (0.0, 4.0, 0.0, 2.0))
    >>> grid.n_hexes  # 5 x 3 + 4 x 2
    23
    >>> grid.index(np.array([0.0, 0.5, 9.0]), np.array([0.0, 0.5, 0.0]))  # -1: outside
    array([ 0, 15, -1])
    """

    gridsize: int | tuple[int, int]
    extent: tuple[float, float, float, float]

    @property
    def shape(self) -> tuple[int, int]:
        """(nx, ny) as hexbin reads ``gridsize``."""
        if np.iterable(self.gridsize):
            nx, ny = self.gridsize
            return int(nx), int(ny)
        return int(self.gridsize), int(self.gridsize / np.sqrt(3))

    @property
    def n_hexes(self) -> int:
        nx, ny = self.shape
        return (nx + 1) * (ny + 1) + nx * ny

    def _frame(self):
        nx, ny = self.shape
        xmin, xmax, ymin, ymax = (float(v) for v in self.extent)
        padding = 1.0e-9 * (xmax - xmin)  # as hexbin: against round-off at the edges
        xmin -= padding
        xmax += padding
        return nx, ny, xmin, ymin, (xmax - xmin) / nx, (ymax - ymin) / ny

    def index(self, x: npt.ArrayLike, y: npt.ArrayLike) -> np.ndarray:
        """Hex of each point (matplotlib's arithmetic), -1 outside the grid; int64."""
        nx, ny, xmin, ymin, sx, sy = self._frame()
        ix = (np.asarray(x, dtype=float) - xmin) / sx
        iy = (np.asarray(y, dtype=float) - ymin) / sy
        ix1 = np.round(ix).astype(int)
        iy1 = np.round(iy).astype(int)
        ix2 = np.floor(ix).astype(int)
        iy2 = np.floor(iy).astype(int)
        nx1, ny1 = nx + 1, ny + 1
        i1 = np.where((0 <= ix1) & (ix1 < nx1) & (0 <= iy1) & (iy1 < ny1), ix1 * ny1 + iy1, -1)
        i2 = np.where(
            (0 <= ix2) & (ix2 < nx) & (0 <= iy2) & (iy2 < ny), nx1 * ny1 + ix2 * ny + iy2, -1
        )
        d1 = (ix - ix1) ** 2 + 3.0 * (iy - iy1) ** 2
        d2 = (ix - ix2 - 0.5) ** 2 + 3.0 * (iy - iy2 - 0.5) ** 2
        return np.where(d1 < d2, i1, i2).astype(np.int64)

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of every hex's centre (hexbin's offsets)."""
        nx, ny, xmin, ymin, sx, sy = self._frame()
        nx1, ny1 = nx + 1, ny + 1
        cx = np.concatenate([np.repeat(np.arange(nx1), ny1), np.repeat(np.arange(nx) + 0.5, ny)])
        cy = np.concatenate([np.tile(np.arange(ny1), nx1), np.tile(np.arange(ny), nx) + 0.5])
        return cx * sx + xmin, cy * sy + ymin


@dataclass(frozen=True)
class HexImage:
    """One value a hex of a :class:`HexGrid` (NaN: not drawn), what a
    figure's hexbin panel shows, and the stars it was made of.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.hexbins import HexGrid, HexImage, hex_counts
    >>> grid = HexGrid(4, (0.0, 4.0, 0.0, 2.0))
    >>> x, y = np.array([0.1, 0.2, 3.9]), np.array([0.1, 0.0, 1.9])
    >>> image = HexImage(grid, hex_counts(grid.index(x, y), grid.n_hexes, min_count=1), n_stars=3)
    >>> image
    <HexImage 23 hexes, 2 drawn, of 3 stars>
    """

    grid: HexGrid
    values: np.ndarray
    n_stars: int

    def __repr__(self):
        drawn = int(np.count_nonzero(np.isfinite(self.values)))
        return f"<HexImage {self.values.size} hexes, {drawn} drawn, of {self.n_stars:,} stars>"

    def drawn(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x, y, value) of the drawn hexes' centres."""
        ok = np.isfinite(self.values)
        cx, cy = self.grid.centres()
        return cx[ok], cy[ok], self.values[ok]

    def draw(self, ax: Any, **kwargs: Any) -> Any:
        """``ax.hexbin`` of the image: one point a drawn hex at its centre,
        ``C`` its value, ``reduce_C_function=np.sum``: the PolyCollection of
        ``hexbin`` on the stars (same hexes, same values); ``kwargs`` as
        hexbin's (``cmap``, ``bins="log"`` ...)."""
        cx, cy, v = self.drawn()
        return ax.hexbin(
            cx,
            cy,
            C=v,
            reduce_C_function=np.sum,
            mincnt=1,
            gridsize=self.grid.gridsize,
            extent=self.grid.extent,
            **kwargs,
        )


@dataclass(frozen=True)
class ResidualHexes:
    """Figures 5 and 8 pre-binned (:func:`fastgrad.plots.plot_residual_maps`):
    the median observed, model and residual value per hex (a
    :class:`HexImage` each), the extent the hexes cover (kpc) and the
    residual convention."""

    observed: HexImage
    predicted: HexImage
    residual: HexImage
    extent: tuple[float, float, float, float]
    sign: str


def hex_counts(index: np.ndarray, n_hexes: int, *, min_count: int = 1) -> np.ndarray:
    """Stars per hex as floats, NaN below ``min_count`` (hexbin's ``C=None``
    accumulator with ``mincnt``); ``index`` from :meth:`HexGrid.index`.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.hexbins import hex_counts
    >>> hex_counts(np.array([0, 0, 2, -1]), 4)
    array([ 2., nan,  1., nan])
    """
    index = np.asarray(index)
    return counts_image(np.bincount(index[index >= 0], minlength=n_hexes), min_count=min_count)


def counts_image(counts: np.ndarray, *, min_count: int = 1) -> np.ndarray:
    """Per-hex counts (e.g. summed over partitions) as :func:`hex_counts`
    gives them: floats, NaN below ``min_count``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.hexbins import counts_image
    >>> counts_image(np.array([2, 0, 1]))
    array([ 2., nan,  1.])
    """
    out = np.asarray(counts).astype(float)
    out[out < min_count] = np.nan
    return out


def group_order(
    index: np.ndarray, values: np.ndarray, n_groups: int, n_threads: int | None = None
) -> np.ndarray:
    """The order of the stars by group, then by value within a group:
    ``np.lexsort((values, index))`` up to the order of equal values, so the
    values in this order are lexsort's (each group's median is the same).

    ``index``: ints in [0, n_groups).  A sort of the values (the kernels'
    parallel radix argsort on ``n_threads`` when they are all finite, else
    numpy's), then a stable sort of their groups (numpy's radix sort of
    16-bit ints below 32,768 groups): 4x lexsort on 9.3x10^6 stars and 2,600
    hexes (the 2x10^7 run's map; bench/README.md).  Whatever the thread
    count, the same order: a stable sort's.
    """
    index = np.asarray(index)
    values = np.asarray(values, dtype=np.float64)
    n = values.size
    if 0 < n < 2**32 - 1 and np.isfinite(values).all():
        by_value = np.empty(n, dtype=np.uint32)
        core.radix_argsort(
            np.ascontiguousarray(values),
            by_value,
            np.empty(n, dtype=np.float64),
            effective_n_threads(n_threads),
        )
    else:
        by_value = np.argsort(values)
    groups = index[by_value]
    if n_groups <= np.iinfo(np.int16).max:
        groups = groups.astype(np.int16)
    return by_value[np.argsort(groups, kind="stable")]


def binned_medians(
    index: np.ndarray, values: np.ndarray, n_groups: int, n_threads: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(medians, counts) of ``values`` in each group 0 .. n_groups - 1 of
    ``index`` (ints in [0, n_groups)): each median ``np.median``'s for the
    group's finite values, NaN for an empty group; NaN values sort last, as
    in ``np.sort``, so they count as the largest.  ``n_threads``: of the sort
    (:func:`group_order`); the result is the same for any.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.hexbins import binned_medians
    >>> binned_medians(np.array([3, 1, 3, 3, 1]), np.array([5.0, 1.0, 4.0, 9.0, 2.0]), 4)
    (array([nan, 1.5, nan, 5. ]), array([0, 2, 0, 3]))
    """
    index = np.asarray(index)
    values = np.asarray(values, dtype=np.float64)
    v = values[group_order(index, values, n_groups, n_threads)]
    counts = np.bincount(index, minlength=n_groups)
    start = np.cumsum(counts) - counts
    medians = np.full(n_groups, np.nan)
    full = counts > 0
    lo = start[full] + (counts[full] - 1) // 2
    hi = start[full] + counts[full] // 2
    medians[full] = 0.5 * (v[lo] + v[hi])
    return medians, counts


def grouped_medians(
    index: np.ndarray, values: np.ndarray, n_threads: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(groups, counts, medians) of ``values`` grouped by ``index`` (>= 0),
    each median the one ``np.median`` gives for the group (the middle value,
    or the half-sum of the two middle ones, whatever the order of the stars;
    NaN values sort last, as in ``np.sort``, so they count as the largest).
    ``n_threads``: of the sort (:func:`group_order`).

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.hexbins import grouped_medians
    >>> grouped_medians(np.array([3, 1, 3, 3, 1]), np.array([5.0, 1.0, 4.0, 9.0, 2.0]))
    (array([1, 3]), array([2, 3]), array([1.5, 5. ]))
    """
    index = np.asarray(index)
    values = np.asarray(values, dtype=np.float64)
    if index.size == 0:
        empty = np.empty(0, dtype=index.dtype)
        return empty, np.empty(0, dtype=np.intp), np.empty(0)
    if index.min() < 0:
        raise ValueError("grouped_medians: index must be >= 0")
    n_groups = int(index.max()) + 1
    if n_groups > 4 * index.size + 65536:
        # sparse labels (not a grid's): group them by np.unique instead
        labels, index = np.unique(index, return_inverse=True)
        groups, counts, med = grouped_medians(index.reshape(-1), values, n_threads)
        return labels[groups], counts, med
    medians, counts = binned_medians(index, values, n_groups, n_threads)
    groups = np.flatnonzero(counts)
    return groups.astype(index.dtype, copy=False), counts[groups], medians[groups]


def hex_medians(
    index: np.ndarray,
    values: np.ndarray,
    n_hexes: int,
    *,
    min_count: int = 1,
    n_threads: int | None = None,
) -> np.ndarray:
    """Median of ``values`` per hex, NaN for hexes of fewer than
    ``min_count`` stars: hexbin's ``C=values, reduce_C_function=np.median,
    mincnt=min_count`` accumulator.  ``n_threads``: of the sort
    (:func:`group_order`; None: all CPUs); the result is the same for any.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.hexbins import hex_medians
    >>> hex_medians(np.array([0, 0, 2, 2, 2]), np.array([1.0, 2.0, 3.0, 5.0, 4.0]), 3, min_count=3)
    array([nan, nan,  4.])
    """
    index = np.asarray(index)
    inside = index >= 0
    med, counts = binned_medians(index[inside], np.asarray(values)[inside], n_hexes, n_threads)
    med[counts < min_count] = np.nan
    return med
