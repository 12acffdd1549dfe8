"""Overlays the paper draws on its X-Y maps (``docs/method.md`` section 7).

The Sun as an orange star at (-R0, 0) and the Reid et al. (2014) arms as
thick black centre lines with dashed lines at +- the arm width, rescaled to
the analysis R0.  Each draws on the ``ax`` given and returns its artists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..arms import arm_curve, arm_names, arm_parameters

if TYPE_CHECKING:
    import os
    from collections.abc import Sequence
    from typing import Any

    from astropy.table import Table
    from matplotlib.axes import Axes
    from matplotlib.lines import Line2D


__all__ = [
    "draw_sun",
    "draw_arms",
    "default_R0",
    "read_overdensity_grid",
    "read_literature",
    "LITERATURE_COLUMNS",
]

#: The columns of a literature gradient table (Figures 4 and 7): the work's
#: name, the bin centre (kpc: |Z| for radial gradients, R for vertical ones),
#: the gradient (dex/kpc) and, optionally, its error.
LITERATURE_COLUMNS = ("reference", "x", "slope", "slope_err")


def default_R0() -> float:
    """The solar radius of the paper's frame, kpc (8.27; docs/method.md section 3):
    where the figures put the Sun unless given another ``R0``.

    Examples
    --------
    >>> from fastgrad.plots.overlays import default_R0
    >>> print(f"{default_R0():.2f} kpc")
    8.27 kpc
    """
    from ..frames import paper_frame

    return float(paper_frame().galcen_distance.to_value("kpc"))


def draw_sun(ax: Axes, R0: float | None = None, **kwargs: Any) -> Line2D:
    """The Sun as an orange star at (x, y) = (-R0, 0) kpc.

    ``R0`` defaults to the paper's frame (8.27 kpc).  Keyword arguments go to
    ``ax.plot`` (e.g. ``markersize``).

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from fastgrad.plots.overlays import draw_sun
    >>> ax = Figure().subplots()
    >>> sun = draw_sun(ax, R0=8.2)
    >>> sun.get_xdata(), sun.get_ydata()
    (array([-8.2]), array([0.]))
    """
    R0 = default_R0() if R0 is None else float(R0)
    style = dict(
        marker="*",
        color="orange",
        markersize=16,
        markeredgecolor="k",
        markeredgewidth=0.8,
        linestyle="none",
        zorder=10,
        label="Sun",
    )
    style.update(kwargs)
    return ax.plot([-R0], [0.0], **style)[0]


def draw_arms(
    ax: Axes,
    model: str = "reid2014",
    *,
    names: Sequence[str] | None = None,
    R0: float | None = None,
    rescale: bool = True,
    widths: bool = True,
    color: Any = "k",
    linewidth: float = 2.5,
    n: int = 300,
    keep_limits: bool = True,
    **kwargs: Any,
) -> list[Line2D]:
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
        docs/method.md section 6); False draws the model's own radii.
    widths : bool, default True
        Dashed lines at +- the arm width, perpendicular to the arm.
    keep_limits : bool, default True
        Restore the axes limits afterwards (the arms extend past the data).
    **kwargs
        Passed to ``ax.plot`` for every line.

    Returns
    -------
    list of Line2D

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from fastgrad.plots.overlays import draw_arms
    >>> ax = Figure().subplots()
    >>> lines = draw_arms(ax, names=["Perseus"])  # centre line and two dashed edges
    >>> len(lines)
    3
    >>> len(draw_arms(ax, widths=False)) > 1  # every arm of Reid et al. (2014)
    True
    """
    R0 = default_R0() if R0 is None else float(R0)
    names = arm_names(model) if names is None else list(names)
    limits = (ax.get_xlim(), ax.get_ylim()) if keep_limits and ax.has_data() else None
    lines = []
    for name in names:
        R_draw = R0 if rescale else None
        centre = arm_curve(name, model, n=n, R0=R_draw)
        lines += ax.plot(
            centre.x,
            centre.y,
            color=color,
            linewidth=linewidth,
            solid_capstyle="round",
            zorder=5,
            **kwargs,
        )
        if widths:
            width = arm_parameters(name, model)["width"]
            for sign in (-1.0, 1.0):
                edge = arm_curve(name, model, n=n, R0=R_draw, offset=sign * width)
                lines += ax.plot(
                    edge.x,
                    edge.y,
                    color=color,
                    linewidth=0.6 * linewidth,
                    linestyle="--",
                    zorder=5,
                    **kwargs,
                )
    if limits is not None:
        ax.set_xlim(*limits[0])
        ax.set_ylim(*limits[1])
    return lines


def _read_table(path, what):
    from astropy.table import Table

    from ..errors import InputError

    try:
        return (
            Table.read(path, format="ascii.ecsv")
            if str(path).endswith(".ecsv")
            else Table.read(path)
        )
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise InputError(f"{path!r}: cannot be read as a table ({what}): {exc}") from None


def read_overdensity_grid(
    path: str | os.PathLike[str], *, frame: str = "heliocentric", R0: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A user's overdensity map (e.g. the upper-main-sequence overdensity of
    Poggio et al. 2021, GPL-licensed and not shipped) as the ``(X, Y, Z)``
    grid :func:`fastgrad.plots.plot_residual_maps` draws as contours.

    Parameters
    ----------
    path : str or os.PathLike
        A table (ECSV, FITS, VOTable, CSV) with one row per grid node and the
        columns ``x``, ``y`` (kpc) and ``overdensity`` (dimensionless; also
        accepted: ``delta``, ``density_contrast``). Nodes need not be sorted;
        a node missing from the full grid is NaN (not contoured).
    frame : {"heliocentric", "galactocentric"}
        ``"heliocentric"`` (Poggio et al.'s maps): x from the Sun towards the
        Galactic centre, y towards Galactic rotation; converted to fastgrad's
        Galactocentric X = x - R0, Y = y. ``"galactocentric"``: already in
        fastgrad's frame (the Sun at X = -R0).
    R0 : float, optional
        Solar radius, kpc (default the paper's frame, 8.27).

    Returns
    -------
    X, Y, Z : 2-D ndarrays, shape (n_y, n_x)

    Raises
    ------
    fastgrad.errors.InputError
        The file is not a table, lacks a column (naming it), or its nodes do
        not lie on a grid (fewer than two distinct x or y).

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.table import Table
    >>> from fastgrad.plots.overlays import read_overdensity_grid
    >>> xs, ys = np.meshgrid([0.0, 1.0, 2.0], [-1.0, 0.0, 1.0])  # heliocentric, kpc
    >>> Table({"x": xs.ravel(), "y": ys.ravel(), "overdensity": (xs - ys).ravel()}).write("od.ecsv")
    >>> X, Y, Z = read_overdensity_grid("od.ecsv", R0=8.0)
    >>> X[0], Y[:, 0], Z.shape  # X = x - R0: the Sun at X = -8
    (array([-8., -7., -6.]), array([-1.,  0.,  1.]), (3, 3))
    """
    from ..errors import InputError

    if frame not in ("heliocentric", "galactocentric"):
        raise ValueError(f"frame must be 'heliocentric' or 'galactocentric', got {frame!r}")
    t = _read_table(path, "an overdensity grid")
    value = next((c for c in ("overdensity", "delta", "density_contrast") if c in t.colnames), None)
    missing = [c for c in ("x", "y") if c not in t.colnames] + ([] if value else ["overdensity"])
    if missing:
        raise InputError(
            f"{path!r}: overdensity grid without column(s) {missing}; it has {t.colnames[:20]}"
        )
    x, y = (np.asarray(t[c], dtype=float) for c in ("x", "y"))
    z = np.ma.filled(np.ma.asarray(t[value], dtype=float), np.nan)
    xs, ix = np.unique(x, return_inverse=True)
    ys, iy = np.unique(y, return_inverse=True)
    if len(xs) < 2 or len(ys) < 2 or not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        raise InputError(
            f"{path!r}: the nodes do not form a grid ({len(xs)} distinct x, "
            f"{len(ys)} distinct finite y)"
        )
    Z = np.full((len(ys), len(xs)), np.nan)
    Z[iy, ix] = z
    if frame == "heliocentric":
        xs = xs - (default_R0() if R0 is None else float(R0))
    X, Y = np.meshgrid(xs, ys)
    return X, Y, Z


def read_literature(path: str | os.PathLike[str]) -> Table:
    """A table of published gradients for Figures 4 and 7
    (:data:`LITERATURE_COLUMNS`: ``reference``, ``x`` in kpc, ``slope`` in
    dex/kpc, optional ``slope_err``): the values the paper overlays but does
    not tabulate (docs/method.md section 7). InputError names a missing
    column.

    Examples
    --------
    >>> from astropy.table import Table
    >>> from fastgrad.plots.overlays import read_literature
    >>> Table({"reference": ["A", "A"], "x": [0.1, 0.5], "slope": [-0.06, -0.04]}).write("lit.csv")
    >>> t = read_literature("lit.csv")
    >>> t["slope"].tolist()
    [-0.06, -0.04]
    >>> Table({"reference": ["A"], "slope": [-0.06]}).write("bad.csv")
    >>> read_literature("bad.csv")
    Traceback (most recent call last):
      ...
    fastgrad.errors.InputError: 'bad.csv': literature table without column(s) ['x'] ...
    """
    from ..errors import InputError

    t = _read_table(path, "literature gradients")
    missing = [c for c in LITERATURE_COLUMNS[:3] if c not in t.colnames]
    if missing:
        raise InputError(
            f"{path!r}: literature table without column(s) {missing} (needs "
            f"{list(LITERATURE_COLUMNS)}, slope_err optional); it has "
            f"{t.colnames[:20]}"
        )
    return t
