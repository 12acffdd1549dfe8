"""The paper's Figures 1-8, each a function of results (never of raw catalogues).

Every function draws on a new :class:`matplotlib.figure.Figure` (or on the
``ax`` / ``fig`` given) and returns the Figure, leaving saving to the caller.
No pyplot: importing this module never changes the user's backend or pyplot's
figure list (in Jupyter a returned Figure displays as the cell's value).
``docs/method.md`` section 7 describes what each figure shows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from .. import paper
from ..hexbins import HexImage, ResidualHexes
from .maps import median_hexbin, plot_residual_maps
from .overlays import draw_arms, draw_sun
from .profiles import plot_azimuthal_profile

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    import numpy.typing as npt
    from astropy.table import Table
    from matplotlib.axes import Axes

    from ..fitting import LineFit


__all__ = [
    "fig1_density",
    "fig2_metallicity",
    "fig3_radial_fit",
    "fig4_radial_gradients",
    "fig5_residual_maps",
    "fig6_azimuthal_profile",
    "fig7_vertical_gradients",
    "fig8_residual_maps",
]

_XY_EXTENT = (-14.5, -4.5, -5.5, 5.5)
#: the C argument of a panel drawn from a HexImage of values (medians), not counts
_VALUES = "values"


def _is_values(C):
    return isinstance(C, str) and C == _VALUES


def _new_or_given_axes(ax, figsize):
    """(fig, ax, made): the given axes and their Figure, or a new Figure's;
    only a Figure made here gets ``tight_layout`` (a caller's keeps its own)."""
    if ax is not None:
        return ax.figure, ax, False
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(), True


def _map_and_rz_axes(fig):
    """(fig, (xy_ax, rz_ax), made) for Figures 1 and 2: the X-Y map above the R-Z one."""
    made = fig is None
    if made:
        fig = Figure(figsize=(7, 11))
    axes = fig.subplots(2, 1, gridspec_kw=dict(height_ratios=[1.6, 1]))
    return fig, axes, made


def _xy_panel(
    ax,
    x,
    y,
    C=None,
    *,
    R0,
    reduce=None,
    mincnt=None,
    cmap="viridis",
    gridsize=70,
    bins=None,
    label="",
    arms=True,
):
    if isinstance(x, HexImage):  # pre-binned (a partitioned catalogue's)
        hb = x.draw(ax, cmap=cmap, **({} if _is_values(C) else {"bins": "log"}))
    else:
        kw = dict(gridsize=gridsize, extent=_XY_EXTENT, cmap=cmap)
        if C is not None and (reduce is None or reduce is np.median):
            hb = median_hexbin(ax, x, y, C, mincnt=mincnt, **kw)  # hexbin's, by one sort
        else:
            if C is not None:
                kw.update(C=C, reduce_C_function=reduce, mincnt=mincnt)
            else:
                kw.update(bins="log", mincnt=1)
            hb = ax.hexbin(x, y, **kw)
    if arms:
        draw_arms(ax, R0=R0)
    draw_sun(ax, R0=R0)
    ax.set_xlim(_XY_EXTENT[:2])
    ax.set_ylim(_XY_EXTENT[2:])
    ax.set_aspect("equal")
    ax.set_xlabel("X (kpc)")
    ax.set_ylabel("Y (kpc)")
    cb = ax.figure.colorbar(hb, ax=ax, shrink=0.85)
    cb.set_label(label)
    return hb


def _rz_panel(ax, R, z, C=None, *, R0, z_sun=0.0, mincnt=None, cmap="viridis", label=""):
    if isinstance(R, HexImage):  # pre-binned
        hb = R.draw(ax, cmap=cmap, **({} if _is_values(C) else {"bins": "log"}))
    else:
        kw = dict(gridsize=(70, 35), extent=(4, 16, -2.5, 2.5), cmap=cmap)
        if C is not None:
            hb = median_hexbin(ax, R, z, C, mincnt=mincnt, **kw)  # hexbin's, by one sort
        else:
            hb = ax.hexbin(R, z, bins="log", mincnt=1, **kw)
    ax.plot([R0], [z_sun], marker="*", ms=16, color="orange", mec="k", ls="none", zorder=5)
    ax.set_xlabel("R (kpc)")
    ax.set_ylabel("Z (kpc)")
    cb = ax.figure.colorbar(hb, ax=ax, shrink=0.85)
    cb.set_label(label)
    return hb


def fig1_density(
    x: npt.ArrayLike | HexImage,
    y: npt.ArrayLike | HexImage,
    z: npt.ArrayLike | None = None,
    R: npt.ArrayLike | None = None,
    *,
    R0: float,
    z_sun: float = 0.0,
    title: str = "LAMOST OBAF stars",
    fig: Figure | None = None,
) -> Figure:
    """Figure 1: density of the final sample (log N per hex) in X-Y (top,
    with the Reid et al. 2014 arms and the Sun) and R-Z (bottom).

    Positions in kpc (x, y, z, R Galactocentric; ``R0``, ``z_sun`` the
    frame's).  Or, pre-binned (a partitioned catalogue's,
    :mod:`fastgrad.pipeline.partitioned_analysis`): ``x`` and ``y`` the
    X-Y and R-Z counts per hex (:class:`fastgrad.hexbins.HexImage`), ``z``
    and ``R`` left out.  ``fig``: an empty Figure to draw on (default a new
    one).  Returns the Figure.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.plots.paper import fig1_density
    >>> rng = np.random.default_rng(1)
    >>> x, y, z = rng.normal(-8.27, 1.5, 3000), rng.normal(0.0, 1.5, 3000), rng.normal(0.0, 0.3, 3000)
    >>> fig = fig1_density(x, y, z, np.hypot(x, y), R0=8.27)  # kpc
    >>> len(fig.axes)  # X-Y and R-Z panels with their colour bars
    4
    """
    fig, axes, made = _map_and_rz_axes(fig)
    n_stars = x.n_stars if isinstance(x, HexImage) else len(x)
    if isinstance(x, HexImage):
        x, y, R, z = x, None, y, None
    _xy_panel(axes[0], x, y, R0=R0, cmap="Greys", label="N stars per hex (log scale)")
    _rz_panel(axes[1], R, z, R0=R0, z_sun=z_sun, cmap="Greys", label="N stars per hex (log scale)")
    axes[0].set_title(f"{title}: {n_stars:,} stars")
    if made:
        fig.tight_layout()
    return fig


def fig2_metallicity(
    x: npt.ArrayLike | HexImage,
    y: npt.ArrayLike | HexImage,
    z: npt.ArrayLike | None = None,
    R: npt.ArrayLike | None = None,
    feh: npt.ArrayLike | None = None,
    *,
    clim: tuple[float, float] | None = None,
    R0: float,
    z_sun: float = 0.0,
    min_count: int = paper.MAP_MIN_COUNT,
    label: str = "[Fe/H] (dex)",
    title: str = "LAMOST OBAF stars",
    fig: Figure | None = None,
) -> Figure:
    """Figure 2: as Figure 1, hexes coloured by the median [Fe/H] (dex) of
    their stars (hexes with >= ``min_count`` stars, docs/method.md section 6),
    colours from the 5th to the 95th percentile of ``feh``.  Pre-binned:
    ``x`` and ``y`` the X-Y and R-Z medians per hex
    (:class:`fastgrad.hexbins.HexImage`, hexes below ``min_count`` NaN) and
    ``clim`` the percentiles.  Returns the Figure.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.plots.paper import fig2_metallicity
    >>> rng = np.random.default_rng(2)
    >>> x, y, z = rng.normal(-8.27, 1.5, 3000), rng.normal(0.0, 1.5, 3000), rng.normal(0.0, 0.3, 3000)
    >>> R = np.hypot(x, y)  # kpc
    >>> fig = fig2_metallicity(x, y, z, R, -0.06 * (R - 8.27), R0=8.27)  # dex
    >>> len(fig.axes)
    4
    """
    fig, axes, made = _map_and_rz_axes(fig)
    if isinstance(x, HexImage):
        if clim is None:
            raise ValueError("clim: pre-binned hexes need the colour limits (dex)")
        x, y, R, z, feh = x, None, y, None, _VALUES
        lo, hi = clim
    else:
        lo, hi = np.nanpercentile(feh, [5, 95])
    for hb in (
        _xy_panel(
            axes[0], x, y, feh, R0=R0, mincnt=min_count, cmap="RdYlBu_r", label=f"median {label}"
        ),
        _rz_panel(
            axes[1],
            R,
            z,
            feh,
            R0=R0,
            z_sun=z_sun,
            mincnt=min_count,
            cmap="RdYlBu_r",
            label=f"median {label}",
        ),
    ):
        hb.set_clim(lo, hi)
    axes[0].set_title(f"{title}: median {label}, hexes with >= {min_count} stars")
    if made:
        fig.tight_layout()
    return fig


def fig3_radial_fit(
    R: npt.ArrayLike | HexImage,
    feh: npt.ArrayLike | None,
    fit: LineFit,
    *,
    zlabel: str = "0 <= |Z| < 0.2 kpc",
    n_draws: int = 100,
    seed: int | np.random.SeedSequence | np.random.Generator | None = 0,
    label: str = "[Fe/H] (dex)",
    ax: Axes | None = None,
) -> Figure:
    """Figure 3: [Fe/H] (dex) against R (kpc) in the first |Z| bin (grey
    density), the best fit (dashed black) and ``n_draws`` posterior lines
    (thin red) of ``fit`` (a :class:`fastgrad.LineFit`).  ``ax``: the axes to
    draw on (default a new Figure's).  Pre-binned: ``R`` the counts per hex
    of R-[Fe/H] (:class:`fastgrad.hexbins.HexImage` over R's range and -1.5
    to 1.0 dex), ``feh`` None.  Returns the Figure.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from fastgrad.fitting.mcmc import fit_line
    >>> from fastgrad.plots.paper import fig3_radial_fit
    >>> rng = np.random.default_rng(3)
    >>> R = rng.uniform(6.0, 12.0, 2000)  # kpc
    >>> feh = 0.4 - 0.06 * R + rng.normal(0.0, 0.1, R.size)  # dex
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # AutocorrWarning: a short chain
    ...     fit = fit_line(R, feh, np.full(R.size, 0.1), np.full(R.size, 0.05), n_walkers=8, n_steps=200, seed=1)
    >>> fig = fig3_radial_fit(R, feh, fit, n_draws=20)
    >>> len(fig.axes), len(fig.axes[0].lines)  # 20 posterior draws and the best fit
    (1, 21)
    """
    fig, ax, made = _new_or_given_axes(ax, (8, 5.5))
    if isinstance(R, HexImage):
        R.draw(ax, bins="log", cmap="Greys")
        r_lo, r_hi = R.grid.extent[:2]
    else:
        r_lo, r_hi = np.nanmin(R), np.nanmax(R)
        ax.hexbin(
            R,
            feh,
            gridsize=(80, 50),
            bins="log",
            cmap="Greys",
            mincnt=1,
            extent=(r_lo, r_hi, -1.5, 1.0),
        )
    xs = np.linspace(r_lo, r_hi, 50)
    rng = np.random.default_rng(seed)
    samples = fit.samples
    for m, b in samples[
        rng.choice(len(samples), size=min(n_draws, len(samples)), replace=False), :2
    ]:
        ax.plot(xs, m * xs + b, color="red", lw=0.4, alpha=0.35)
    ax.plot(xs, fit.slope * xs + fit.intercept, "k--", lw=2, label="best fit")
    # 3 decimals, or the error's first two digits when it is smaller (10^7
    # stars give errors of 3e-5 dex/kpc, which 3 decimals would show as 0.000)
    err = fit.slope_err
    nd = 3 if not (0 < err < 5e-4) else int(1 - np.floor(np.log10(err)))
    ax.text(
        0.03,
        0.05,
        f"$m_R$ = {fit.slope:.{nd}f} $\\pm$ {err:.{nd}f} dex/kpc\n{zlabel}",
        transform=ax.transAxes,
        fontsize=12,
        va="bottom",
        bbox=dict(facecolor="white", alpha=0.8, edgecolor="none"),
    )
    ax.set_xlabel("R (kpc)")
    ax.set_ylabel(label)
    ax.set_ylim(-1.5, 1.0)
    ax.legend(loc="upper right")
    if made:
        fig.tight_layout()
    return fig


def _gradient_plot(
    table,
    *,
    xlabel,
    ylabel,
    literature=None,
    min_stars=paper.MIN_STARS,
    title="",
    reference=None,
    reference_label="Hawkins (2023), LAMOST",
    ax=None,
):
    fig, ax, made = _new_or_given_axes(ax, (7.5, 5))
    ok = ~np.ma.getmaskarray(table["slope"]) & (np.asarray(table["n_stars"]) >= min_stars)
    x = np.asarray(table["bin_center"])[ok]
    ax.errorbar(
        x,
        np.ma.filled(table["slope"], np.nan)[ok],
        yerr=np.ma.filled(table["slope_err"], np.nan)[ok],
        fmt="o-",
        color="k",
        ms=7,
        capsize=3,
        label="this work (fastgrad)",
    )
    if reference:
        xr = np.array(sorted(reference))
        ax.errorbar(
            xr + 0.01 * np.ptp(xr),
            [reference[k][0] for k in xr],
            yerr=[reference[k][1] for k in xr],
            fmt="s",
            mfc="none",
            color="tab:red",
            ms=7,
            capsize=3,
            label=reference_label,
        )
    if literature is not None:
        for name in np.unique(literature["reference"]):
            sel = literature["reference"] == name
            ax.errorbar(
                literature["x"][sel],
                literature["slope"][sel],
                yerr=literature["slope_err"][sel] if "slope_err" in literature.colnames else None,
                fmt="s",
                ms=5,
                capsize=2,
                label=str(name),
            )
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=9)
    if made:
        fig.tight_layout()
    return fig


def fig4_radial_gradients(
    table1: Table,
    *,
    literature: Table | None = None,
    min_stars: int = paper.MIN_STARS,
    reference: Mapping[float, tuple[float, float]] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Figure 4: radial gradient m_R (+- sigma, dex/kpc) against the |Z| bin
    centre (kpc), from :func:`fastgrad.fit_tables`' Table 1.

    ``literature``: optional Table (reference, x, slope[, slope_err]) of
    published values; ``reference``: {bin centre: (m, sigma)} drawn as open
    squares (the pipeline passes the paper's Table 1 for LAMOST); ``ax``: the
    axes to draw on (default a new Figure's).  Returns the Figure.

    Examples
    --------
    >>> from astropy.table import Table
    >>> from fastgrad.plots.paper import fig4_radial_gradients
    >>> table1 = Table({"bin_center": [0.1, 0.3, 0.5], "n_stars": [9000, 6000, 300],
    ...                 "slope": [-0.060, -0.050, -0.030], "slope_err": [0.001, 0.002, 0.01]})
    >>> fig = fig4_radial_gradients(table1)  # the bin of 300 stars (< 500) is not drawn
    >>> len(fig.axes), fig.axes[0].get_xlabel()
    (1, '|Z| (kpc)')
    """
    return _gradient_plot(
        table1,
        xlabel="|Z| (kpc)",
        ylabel="$m_R$ = d[Fe/H]/dR (dex/kpc)",
        literature=literature,
        min_stars=min_stars,
        reference=reference,
        title="Radial metallicity gradient by height",
        ax=ax,
    )


def fig7_vertical_gradients(
    table2: Table,
    *,
    literature: Table | None = None,
    min_stars: int = paper.MIN_STARS,
    reference: Mapping[float, tuple[float, float]] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Figure 7: vertical gradient m_Z (+- sigma, dex/kpc) against the R bin
    centre (kpc), from Table 2 (``literature``, ``reference``, ``ax`` as in
    :func:`fig4_radial_gradients`).  Returns the Figure.

    Examples
    --------
    >>> from astropy.table import Table
    >>> from fastgrad.plots.paper import fig7_vertical_gradients
    >>> table2 = Table({"bin_center": [7.0, 9.0, 11.0], "n_stars": [5000, 8000, 3000],
    ...                 "slope": [-0.25, -0.20, -0.15], "slope_err": [0.01, 0.01, 0.02]})
    >>> fig = fig7_vertical_gradients(table2)
    >>> len(fig.axes), fig.axes[0].get_xlabel()
    (1, 'R (kpc)')
    """
    return _gradient_plot(
        table2,
        xlabel="R (kpc)",
        ylabel="$m_Z$ = d[Fe/H]/d|Z| (dex/kpc)",
        literature=literature,
        min_stars=min_stars,
        reference=reference,
        title="Vertical metallicity gradient by radius",
        ax=ax,
    )


def fig5_residual_maps(
    x: npt.ArrayLike | ResidualHexes,
    y: npt.ArrayLike | None = None,
    observed: npt.ArrayLike | None = None,
    predicted: npt.ArrayLike | None = None,
    *,
    R0: float,
    **kwargs: Any,
) -> Figure:
    """Figure 5: observed, model and observed - model [Fe/H] in X-Y (|Z| < 0.3 kpc).

    :func:`fastgrad.plots.plot_residual_maps` (its keywords, ``fig=`` too).

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.plots.paper import fig5_residual_maps
    >>> rng = np.random.default_rng(5)
    >>> x, y = rng.uniform(-12.0, -5.0, 3000), rng.uniform(-3.0, 3.0, 3000)  # kpc
    >>> predicted = -0.06 * (np.hypot(x, y) - 8.27)  # dex
    >>> observed = predicted + rng.normal(0.0, 0.1, x.size)
    >>> fig = fig5_residual_maps(x, y, observed, predicted, R0=8.27, gridsize=15)
    >>> len(fig.axes)
    6
    """
    return plot_residual_maps(x, y, observed, predicted, R0=R0, **kwargs)


def fig6_azimuthal_profile(profiles: Table | Mapping[Any, Table], **kwargs: Any) -> Figure:
    """Figure 6: <delta[Fe/H]> (+- standard error) against azimuth, outer disk
    (9-11 kpc) black, inner (7-9 kpc) blue.

    :func:`fastgrad.plots.plot_azimuthal_profile` (its keywords, ``ax=`` too).

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.azimuthal import azimuthal_profiles
    >>> from fastgrad.plots.paper import fig6_azimuthal_profile
    >>> rng = np.random.default_rng(6)
    >>> R, phi = rng.uniform(7.0, 11.0, 4000), rng.uniform(-0.4, 0.4, 4000)  # kpc, rad
    >>> profiles = azimuthal_profiles(R, phi, rng.normal(0.0, 0.1, 4000), bins=np.linspace(-0.4, 0.4, 9))
    >>> fig = fig6_azimuthal_profile(profiles)
    >>> len(fig.axes)
    1
    """
    return plot_azimuthal_profile(profiles, **kwargs)


def fig8_residual_maps(
    x: npt.ArrayLike | ResidualHexes,
    y: npt.ArrayLike | None = None,
    observed: npt.ArrayLike | None = None,
    predicted: npt.ArrayLike | None = None,
    *,
    R0: float,
    **kwargs: Any,
) -> Figure:
    """Figure 8: as Figure 5 for the Gaia giants, coloured by [M/H] (``fig=`` too).

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.plots.paper import fig8_residual_maps
    >>> rng = np.random.default_rng(8)
    >>> x, y = rng.uniform(-12.0, -5.0, 3000), rng.uniform(-3.0, 3.0, 3000)  # kpc
    >>> predicted = -0.05 * (np.hypot(x, y) - 8.27)  # dex
    >>> observed = predicted + rng.normal(0.0, 0.1, x.size)
    >>> fig = fig8_residual_maps(x, y, observed, predicted, R0=8.27, gridsize=15)
    >>> len(fig.axes), fig.axes[2].get_title()
    (6, 'observed − model')
    """
    kwargs.setdefault("quantity", "[M/H]")
    return plot_residual_maps(x, y, observed, predicted, R0=R0, **kwargs)
