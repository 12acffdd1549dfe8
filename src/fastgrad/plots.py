"""Figures of the azimuthal analysis (the paper's Figs. 5, 6 and 8) and the
overlays the paper draws on its X-Y maps.

Every function draws with matplotlib's object API on a new
:class:`matplotlib.figure.Figure` (or on the ``ax`` given) and returns the
Figure: nothing here imports pyplot, selects a backend or calls ``show``, so
it works headless; ``fig.savefig(path)`` writes the file.

Overlays (METHOD.md section 7): the Sun as an orange star at (-R0, 0) and the
Reid et al. (2014) arms as thick black centre lines with dashed lines at
+- the arm width, rescaled to the analysis R0.
"""
import numpy as np
from matplotlib.figure import Figure

from .arms import arm_curve, arm_names, arm_parameters
from .azimuthal import (
    DEFAULT_MAP_MIN_COUNT,
    _map_inputs,
    _xy_extent,
    residual_map,
    residuals,
)

__all__ = ["draw_sun", "draw_arms", "plot_residual_maps", "plot_azimuthal_profile"]


def _paper_R0():
    from .frames import paper_frame
    return float(paper_frame().galcen_distance.to_value("kpc"))


def draw_sun(ax, R0=None, **kwargs):
    """The Sun as an orange star at (x, y) = (-R0, 0) kpc.

    ``R0`` defaults to the paper's frame (8.27 kpc).  Keyword arguments go to
    ``ax.plot`` (e.g. ``markersize``)."""
    R0 = _paper_R0() if R0 is None else float(R0)
    style = dict(marker="*", color="orange", markersize=16, markeredgecolor="k",
                 markeredgewidth=0.8, linestyle="none", zorder=10, label="Sun")
    style.update(kwargs)
    return ax.plot([-R0], [0.0], **style)[0]


def draw_arms(ax, model="reid2014", *, names=None, R0=None, rescale=True, widths=True,
              color="k", linewidth=2.5, n=300, keep_limits=True, **kwargs):
    """Spiral arms as the paper draws them: thick centre lines, dashed edges.

    Parameters
    ----------
    ax : matplotlib Axes
        X-Y axes in kpc (astropy's frame: the Sun at x = -R0).
    model : {"reid2014", "reid2019"}
    names : list of str, optional
        Arms to draw (default all of the model).
    R0 : float, optional
        The analysis frame's solar radius, kpc (default the paper's, 8.27).
    rescale : bool, default True
        Scale the model's radii by R0 / R0_model (fastgrad's choice,
        METHOD.md section 6); False draws the model's own radii.
    widths : bool, default True
        Dashed lines at +- the arm width, perpendicular to the arm.
    keep_limits : bool, default True
        Restore the axes limits afterwards (the arms extend past the data).
    **kwargs
        Passed to ``ax.plot`` for every line.

    Returns
    -------
    list of Line2D
    """
    R0 = _paper_R0() if R0 is None else float(R0)
    names = arm_names(model) if names is None else list(names)
    limits = (ax.get_xlim(), ax.get_ylim()) if keep_limits and ax.has_data() else None
    lines = []
    for name in names:
        R_draw = R0 if rescale else None
        centre = arm_curve(name, model, n=n, R0=R_draw)
        lines += ax.plot(centre.x, centre.y, color=color, linewidth=linewidth,
                         solid_capstyle="round", zorder=5, **kwargs)
        if widths:
            width = arm_parameters(name, model)["width"]
            for sign in (-1.0, 1.0):
                edge = arm_curve(name, model, n=n, R0=R_draw, offset=sign * width)
                lines += ax.plot(edge.x, edge.y, color=color, linewidth=0.6 * linewidth,
                                 linestyle="--", zorder=5, **kwargs)
    if limits is not None:
        ax.set_xlim(*limits[0])
        ax.set_ylim(*limits[1])
    return lines


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


def plot_residual_maps(x, y, observed, predicted, *, R0=None, method="hexbin", gridsize=50,
                       extent=None, min_count=DEFAULT_MAP_MIN_COUNT, sign="observed-model",
                       quantity="[Fe/H]", unit="dex", arms="reid2014", cmap="viridis",
                       residual_cmap="RdBu_r", value_lim=None, residual_lim=None,
                       contours=None, contour_levels=None, figsize=None):
    """The paper's three-panel X-Y figure: observed, model, residual.

    Figs. 5 (LAMOST, [Fe/H]) and 8 (Gaia giants, [M/H]) of Hawkins (2023):
    the median observed value per cell, the median model value, and the
    median per-star residual, each with its colour bar; the Reid et al. 2014
    arms in every panel and the Sun as an orange star.

    Parameters
    ----------
    x, y : array_like, shape (N,)
        Galactocentric X, Y in kpc (the Sun at x = -R0).
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
    figsize : (float, float), optional
        Default: 4.5 inches high, panels as wide as the extent's aspect needs.

    Returns
    -------
    matplotlib.figure.Figure
    """
    x_arr, y_arr, obs, pred = _map_inputs(x, y, observed, predicted, sign)
    if method not in ("hexbin", "grid"):
        raise ValueError(f"method must be 'hexbin' or 'grid', got {method!r}")
    R0 = _paper_R0() if R0 is None else float(R0)
    ext = _xy_extent(x_arr, y_arr, extent)
    res = residuals(obs, pred, sign)
    residual_name = "observed − model" if sign == "observed-model" else "model − observed"
    titles = ("observed", "model (radial gradient)", residual_name)
    labels = (f"observed {quantity} ({unit})", f"model {quantity} ({unit})",
              f"{residual_name} {quantity} ({unit})")

    if figsize is None:
        aspect = (ext[1] - ext[0]) / (ext[3] - ext[2])
        figsize = (3.0 * (3.6 * min(max(aspect, 0.4), 2.5) + 2.0) + 0.4, 4.5)
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(1, 3, sharex=True, sharey=True)
    artists = []
    if method == "hexbin":
        for ax, c, cm in zip(axes, (obs, pred, res), (cmap, cmap, residual_cmap)):
            artists.append(ax.hexbin(x_arr, y_arr, C=c, reduce_C_function=np.median,
                                     mincnt=min_count, gridsize=gridsize, extent=ext,
                                     cmap=cm, edgecolors="face", linewidths=0.2))
        cell_values = [a.get_array() for a in artists]
    else:
        m = residual_map(x_arr, y_arr, obs, pred, gridsize=gridsize, extent=ext,
                         min_count=min_count, sign=sign)
        for ax, c, cm in zip(axes, (m.observed, m.predicted, m.residual),
                             (cmap, cmap, residual_cmap)):
            artists.append(ax.pcolormesh(m.x_edges, m.y_edges, c, cmap=cm))
        cell_values = [np.ma.compressed(c) for c in (m.observed, m.predicted, m.residual)]

    vmin, vmax = value_lim if value_lim is not None else _clim(
        np.concatenate([np.ma.filled(np.ma.asarray(v, dtype=float), np.nan).ravel()
                        for v in cell_values[:2]]))
    rlim = float(residual_lim) if residual_lim is not None else _symmetric_lim(
        np.ma.filled(np.ma.asarray(cell_values[2], dtype=float), np.nan))
    artists[0].set_clim(vmin, vmax)
    artists[1].set_clim(vmin, vmax)
    artists[2].set_clim(-rlim, rlim)

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


def _ring_style(ring, index):
    # the paper's Fig. 6: outer disk (9-11 kpc) black, inner (7-9 kpc) blue
    known = {(9.0, 11.0): "k", (7.0, 9.0): "tab:blue"}
    others = ("tab:red", "tab:green", "tab:purple", "tab:orange", "tab:brown")
    return known.get(ring, others[index % len(others)])


def plot_azimuthal_profile(profiles, *, ax=None, colors=None, labels=None,
                           quantity="[Fe/H]", unit="dex", figsize=(7.0, 4.5)):
    """The paper's Fig. 6: mean deviation at fixed radius against azimuth.

    Parameters
    ----------
    profiles : Table or dict
        One :func:`fastgrad.azimuthal_profile` table, or the
        ``{(R_lo, R_hi): Table}`` of :func:`fastgrad.azimuthal_profiles`.
        Masked bins (too few stars) are not drawn.
    ax : matplotlib Axes, optional
        Draw there instead of on a new Figure.
    colors, labels : dict or list, optional
        Per profile; default outer disk (9-11 kpc) black, inner (7-9 kpc)
        blue, labels "R_lo ≤ R < R_hi kpc".
    quantity, unit : str
        The y label reads f"⟨δ{quantity}⟩ ({unit})".

    Returns
    -------
    matplotlib.figure.Figure
    """
    if hasattr(profiles, "colnames"):
        ring = (profiles.meta.get("R_lo"), profiles.meta.get("R_hi"))
        profiles = {ring: profiles}
    if not profiles:
        raise ValueError("profiles: nothing to plot")
    if ax is None:
        fig = Figure(figsize=figsize, layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    keys = list(profiles)
    if isinstance(colors, dict):
        colors = [colors.get(k) for k in keys]
    if isinstance(labels, dict):
        labels = [labels.get(k) for k in keys]
    for i, key in enumerate(keys):
        table = profiles[key]
        color = colors[i] if colors is not None else _ring_style(key, i)
        if labels is not None:
            label = labels[i]
        elif key[0] is not None:
            label = f"{key[0]:g} ≤ R < {key[1]:g} kpc"
        else:
            label = None
        mean = np.ma.filled(np.ma.asarray(table["mean"], dtype=float), np.nan)
        sem = np.ma.filled(np.ma.asarray(table["sem"], dtype=float), np.nan)
        phi = np.asarray(table["phi_center"], dtype=float)
        good = np.isfinite(mean)
        ax.errorbar(phi[good], mean[good], yerr=np.where(np.isfinite(sem[good]), sem[good], 0.0),
                    color=color, marker="o", markersize=3, linewidth=1.2, elinewidth=1.0,
                    capsize=0, label=label)
    ax.axhline(0.0, color="0.5", linewidth=0.8, linestyle=":")
    ax.set_xlabel("φ (rad)")
    ax.set_ylabel(f"⟨δ{quantity}⟩ ({unit})")
    if any(lbl is not None for lbl in ax.get_legend_handles_labels()[1]):
        ax.legend(loc="best", framealpha=0.85)
    return fig
