"""The paper's three-panel X-Y figure: observed, model, residual (Figs. 5 and 8),
and optionally a fourth panel with the significance of each cell's residual.

Drawn with matplotlib's object API on a new :class:`matplotlib.figure.Figure`
(or on the ``fig`` given), returned; ``docs/method.md`` sections 6 and 7.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib import cbook
from matplotlib.figure import Figure

from ..azimuthal import (
    DEFAULT_MAP_MIN_COUNT,
    ResidualMap,
    map_inputs,
    residual_map,
    residuals,
    xy_extent,
)
from ..hexbins import HexGrid, HexImage, ResidualHexes, hex_medians
from ..significance import DEFAULT_N_PERMUTATIONS
from .overlays import default_R0, draw_arms, draw_sun

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt


__all__ = ["plot_residual_maps"]


def median_hexbin(ax, x, y, C, *, gridsize, extent, mincnt=None, index=None, **kwargs):
    """``ax.hexbin(x, y, C=C, reduce_C_function=np.median, mincnt=mincnt,
    gridsize=gridsize, extent=extent, **kwargs)``, the medians by one sort
    (as :func:`fastgrad.hexbins.hex_medians`) instead of matplotlib's Python loop
    over every point: the same hexes with the same values, so the same PNG
    (tests/test_plots.py); ~50x faster at 10^5-10^6 points.

    ``extent`` (x_min, x_max, y_min, y_max) is required (the data's range is
    hexbin's business otherwise); masked or non-finite points are dropped as
    hexbin drops them.  ``index``: the points' hexes from
    :meth:`fastgrad.hexbins.HexGrid.index` when the caller has them (several
    panels on one grid); it must be of the points as given.
    """
    if np.asarray(np.ma.getdata(C)).dtype != np.float64:
        # hexbin's median of other values is in their own precision
        kwargs.update(gridsize=gridsize, extent=extent, mincnt=mincnt)
        return ax.hexbin(x, y, C=C, reduce_C_function=np.median, **kwargs)
    ok = None
    if index is None:
        # hexbin's own filter (cbook.delete_masked_points): a point any of
        # whose x, y, C is masked or not finite is not binned
        x, y, C = cbook.delete_masked_points(x, y, C)
    else:
        masked = np.ma.getmaskarray(C)
        x, y, C = (np.asarray(np.ma.getdata(a)) for a in (x, y, C))
        ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(C) & ~masked
        if ok.all():
            ok = None
    C = np.asarray(C)
    grid = HexGrid(gridsize, tuple(extent))
    idx = grid.index(x, y) if index is None else np.asarray(index)
    if ok is not None:
        idx, C = idx[ok], C[ok]
    # hexbin: hexes of fewer than mincnt points (None or 0 with C: 1) are NaN
    median = hex_medians(
        idx.astype(np.intp, copy=False), C, grid.n_hexes, min_count=max(int(mincnt or 1), 1)
    )
    return HexImage(grid, median, n_stars=int(idx.size)).draw(ax, **kwargs)


def _clim(values, lo=2.0, hi=98.0):
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None, None
    a, b = np.percentile(values, [lo, hi])
    if a == b:
        a, b = a - 0.05, b + 0.05
    return float(a), float(b)


def _symmetric_lim(values, q=98.0):
    values = np.asarray(values, dtype=float)
    values = np.abs(values[np.isfinite(values)])
    lim = float(np.percentile(values, q)) if values.size else 0.1
    return lim if lim > 0 else 0.1


def plot_residual_maps(
    x: npt.ArrayLike | ResidualHexes,
    y: npt.ArrayLike | None = None,
    observed: npt.ArrayLike | None = None,
    predicted: npt.ArrayLike | None = None,
    *,
    R0: float | None = None,
    method: str = "hexbin",
    gridsize: int | tuple[int, int] = 50,
    extent: Sequence[float] | None = None,
    min_count: int = DEFAULT_MAP_MIN_COUNT,
    sign: str = "observed-model",
    quantity: str = "[Fe/H]",
    unit: str = "dex",
    arms: str | None = "reid2014",
    cmap: str = "viridis",
    residual_cmap: str = "RdBu_r",
    value_lim: tuple[float, float] | None = None,
    residual_lim: float | None = None,
    contours: tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike] | None = None,
    contour_levels: int | npt.ArrayLike | None = None,
    significance: bool | int | ResidualMap | None = None,
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
    figsize: tuple[float, float] | None = None,
    fig: Figure | None = None,
) -> Figure:
    """The paper's three-panel X-Y figure: observed, model, residual.

    Figs. 5 (LAMOST, [Fe/H]) and 8 (Gaia giants, [M/H]) of Hawkins (2023):
    the median observed value per cell, the median model value, and the
    median per-star residual, each with its colour bar; the Reid et al. 2014
    arms in every panel and the Sun as an orange star.

    Parameters
    ----------
    x, y : array_like, shape (N,)
        Galactocentric X, Y in kpc (the Sun at x = -R0).  Or ``x`` a
        :class:`fastgrad.hexbins.ResidualHexes` (the three panels' medians
        per hex of a partitioned catalogue,
        :mod:`fastgrad.pipeline.partitioned_analysis`) and ``y``,
        ``observed``, ``predicted`` left out: drawn as ``hexbin`` draws the
        stars (``method``, ``gridsize``, ``extent``, ``min_count`` and
        ``sign`` are the hexes'; ``significance`` a ResidualMap or None).
    observed, predicted : array_like, shape (N,)
        Per-star observed value and model prediction (dex).
    R0 : float, optional
        Solar radius of the analysis frame, kpc (default the paper's 8.27):
        places the Sun and rescales the arms.
    method : {"hexbin", "grid"}
        ``"hexbin"``: ``ax.hexbin(..., reduce_C_function=np.median,
        mincnt=min_count)`` as the paper; the three panels share one hex grid.
        ``"grid"``: the rectangular cells of :func:`fastgrad.residual_map`.
    gridsize : int, default 50
        Cells (hexagons) along x.
    extent : (x_min, x_max, y_min, y_max), optional
        Binning limits, kpc (default the data's range).
    min_count : int, default 5
        Cells with fewer stars are not drawn.
    sign : {"observed-model", "model-observed"}
        Residual convention; the panel and colour bar say which.
    quantity, unit : str
        Colour-bar labels read f"{quantity} ({unit})", e.g. "[M/H]" for Fig. 8.
    arms : str or None
        Arm model to overlay (``"reid2014"``, ``"reid2019"``) or None.
    cmap, residual_cmap : str
        Colour maps of the value panels and of the residual panel.
    value_lim : (float, float), optional
        Colour limits shared by the observed and model panels (default the
        2-98 percentiles of the drawn cells).
    residual_lim : float, optional
        Residual colour scale is +- this (default the 98th percentile of the
        drawn cells' |residual|).
    contours : (X, Y, Z) arrays, optional
        A user-supplied grid (e.g. the Poggio et al. 2021 upper-main-sequence
        overdensity) drawn as black contours on the residual panel.
    contour_levels : optional
        Passed to ``contour`` as ``levels``.
    significance : None, True, int or ResidualMap
        Add a fourth panel: ``-log10`` of each cell's permutation p-value of
        its mean residual (:func:`fastgrad.residual_map`, docs/method.md
        section 6), on the rectangular cells of the test, with the cells
        significant after adjustment for testing every cell (family-wise
        error rate 0.05) outlined in black there and on the residual panel.
        True: 1000 permutations, an int: that many (with ``seed``); a
        :class:`~fastgrad.ResidualMap` that carries p-values (e.g. the run's
        own) is drawn as it is.  None: three panels.
    seed : None, int, SeedSequence or Generator
        The permutations' seed when ``significance`` is True or an int.
    figsize : (float, float), optional
        Default: 4.5 inches high, panels as wide as the extent's aspect needs.
    fig : matplotlib Figure, optional
        Draw the three panels there (an empty Figure) instead of on a new
        one; ``figsize`` then does not apply.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.plots.maps import plot_residual_maps
    >>> rng = np.random.default_rng(1)
    >>> x, y = rng.uniform(-12.0, -5.0, 3000), rng.uniform(-3.0, 3.0, 3000)  # kpc
    >>> predicted = -0.06 * (np.hypot(x, y) - 8.27)  # dex
    >>> observed = predicted + rng.normal(0.0, 0.1, x.size)
    >>> fig = plot_residual_maps(x, y, observed, predicted, gridsize=15)
    >>> len(fig.axes)  # observed, model, residual, each with its colour bar
    6
    >>> [ax.get_title() for ax in fig.axes[:3]]
    ['observed', 'model (radial gradient)', 'observed − model']
    """
    hexes = x if isinstance(x, ResidualHexes) else None
    if hexes is not None:
        if not (significance is None or isinstance(significance, ResidualMap)):
            raise ValueError("significance: with pre-binned hexes, a ResidualMap or None")
        method, ext, sign = "hexbin", hexes.extent, hexes.sign
        x_arr = y_arr = obs = pred = None
    else:
        x_arr, y_arr, obs, pred = map_inputs(x, y, observed, predicted, sign)
        ext = xy_extent(x_arr, y_arr, extent)
        res = residuals(obs, pred, sign)
    if method not in ("hexbin", "grid"):
        raise ValueError(f"method must be 'hexbin' or 'grid', got {method!r}")
    R0 = default_R0() if R0 is None else float(R0)
    residual_name = "observed − model" if sign == "observed-model" else "model − observed"
    sig_map = _significance_map(
        significance, x_arr, y_arr, obs, pred, gridsize, ext, min_count, sign, seed
    )
    n_panels = 3 if sig_map is None else 4
    titles = ("observed", "model (radial gradient)", residual_name)
    labels = (
        f"observed {quantity} ({unit})",
        f"model {quantity} ({unit})",
        f"{residual_name} {quantity} ({unit})",
    )

    if fig is None:
        if figsize is None:
            aspect = (ext[1] - ext[0]) / (ext[3] - ext[2])
            figsize = (n_panels * (3.6 * min(max(aspect, 0.4), 2.5) + 2.0) + 0.4, 4.5)
        fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(1, n_panels, sharex=True, sharey=True)
    artists = []
    if hexes is not None:
        for ax, img, cm in zip(
            axes, (hexes.observed, hexes.predicted, hexes.residual), (cmap, cmap, residual_cmap)
        ):
            artists.append(img.draw(ax, cmap=cm, edgecolors="face", linewidths=0.2))
        cell_values = [a.get_array() for a in artists]
    elif method == "hexbin":
        # the three panels share one hex grid: the stars' hexes found once
        index = HexGrid(gridsize, tuple(ext)).index(x_arr, y_arr)
        for ax, c, cm in zip(axes, (obs, pred, res), (cmap, cmap, residual_cmap)):
            artists.append(
                median_hexbin(
                    ax,
                    x_arr,
                    y_arr,
                    c,
                    mincnt=min_count,
                    gridsize=gridsize,
                    extent=ext,
                    index=index,
                    cmap=cm,
                    edgecolors="face",
                    linewidths=0.2,
                )
            )
        cell_values = [a.get_array() for a in artists]
    else:
        m = residual_map(
            x_arr, y_arr, obs, pred, gridsize=gridsize, extent=ext, min_count=min_count, sign=sign
        )
        for ax, c, cm in zip(
            axes, (m.observed, m.predicted, m.residual), (cmap, cmap, residual_cmap)
        ):
            artists.append(ax.pcolormesh(m.x_edges, m.y_edges, c, cmap=cm))
        cell_values = [np.ma.compressed(c) for c in (m.observed, m.predicted, m.residual)]

    vmin, vmax = (
        value_lim
        if value_lim is not None
        else _clim(
            np.concatenate(
                [
                    np.ma.filled(np.ma.asarray(v, dtype=float), np.nan).ravel()
                    for v in cell_values[:2]
                ]
            )
        )
    )
    rlim = (
        float(residual_lim)
        if residual_lim is not None
        else _symmetric_lim(np.ma.filled(np.ma.asarray(cell_values[2], dtype=float), np.nan))
    )
    artists[0].set_clim(vmin, vmax)
    artists[1].set_clim(vmin, vmax)
    artists[2].set_clim(-rlim, rlim)

    if sig_map is not None:
        artists.append(_draw_significance(axes[3], axes[2], sig_map))
        titles += ("significance of the cell mean",)
        labels += ("−log10 p (permutations)",)
    for ax, artist, title, label in zip(axes, artists, titles, labels):
        ax.set_xlim(ext[0], ext[1])
        ax.set_ylim(ext[2], ext[3])
        if arms:
            draw_arms(ax, arms, R0=R0)
        draw_sun(ax, R0)
        ax.set_title(title)
        ax.set_xlabel("X (kpc)")
        ax.set_aspect("equal", adjustable="box")
        fig.colorbar(artist, ax=ax, label=label, shrink=0.85)
    axes[0].set_ylabel("Y (kpc)")
    if contours is not None:
        cx, cy, cz = contours
        axes[2].contour(cx, cy, cz, levels=contour_levels, colors="k", linewidths=1.0)
        axes[2].set_xlim(ext[0], ext[1])
        axes[2].set_ylim(ext[2], ext[3])
    return fig


def _significance_map(significance, x, y, obs, pred, gridsize, extent, min_count, sign, seed):
    """The ResidualMap with p-values that the fourth panel draws, or None."""
    if significance is None or significance is False:
        return None
    if isinstance(significance, ResidualMap):
        if significance.p_value is None:
            raise ValueError(
                "significance: this ResidualMap has no p-values; make it with "
                "residual_map(..., n_permutations=K)"
            )
        return significance
    n_perm = DEFAULT_N_PERMUTATIONS if significance is True else significance
    return residual_map(
        x,
        y,
        obs,
        pred,
        gridsize=gridsize,
        extent=extent,
        min_count=min_count,
        sign=sign,
        n_permutations=n_perm,
        seed=seed,
    )


def _draw_significance(ax, residual_ax, m):
    """-log10 p per cell on ``ax``; the cells significant after adjustment
    (p_adjusted <= alpha) outlined on ``ax`` and on ``residual_ax``."""
    k = m.significance["n_permutations"]
    logp = -np.log10(m.p_value)
    artist = ax.pcolormesh(
        m.x_edges, m.y_edges, logp, cmap="magma_r", vmin=0.0, vmax=np.log10(k + 1)
    )
    hit = np.ma.filled(m.p_adjusted <= m.significance["alpha"], False).astype(float)
    if hit.any():
        # black on the residual colours, cyan on the dark end of magma
        for a, colour in ((ax, "c"), (residual_ax, "k")):
            a.contour(m.x_centers, m.y_centers, hit, levels=[0.5], colors=colour, linewidths=1.0)
    s = m.significance
    ax.text(
        0.02,
        0.02,
        f"{s['n_significant']} of {s['n_cells']} cells significant\n"
        f"(family-wise 5 %); {100 * s['fraction_p_below_0.05']:.0f} % with p < 0.05",
        transform=ax.transAxes,
        fontsize=7,
        va="bottom",
        bbox=dict(facecolor="white", alpha=0.8, edgecolor="none"),
    )
    return artist
