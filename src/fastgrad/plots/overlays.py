"""Overlays the paper draws on its X-Y maps (``docs/method.md`` section 7).

The Sun as an orange star at (-R0, 0) and the Reid et al. (2014) arms as
thick black centre lines with dashed lines at +- the arm width, rescaled to
the analysis R0.  Each draws on the ``ax`` given and returns its artists.
"""
from ..arms import arm_curve, arm_names, arm_parameters

__all__ = ["draw_sun", "draw_arms", "default_R0"]


def default_R0():
    """The solar radius of the paper's frame, kpc (8.27; docs/method.md section 3):
    where the figures put the Sun unless given another ``R0``."""
    from ..frames import paper_frame
    return float(paper_frame().galcen_distance.to_value("kpc"))


def draw_sun(ax, R0=None, **kwargs):
    """The Sun as an orange star at (x, y) = (-R0, 0) kpc.

    ``R0`` defaults to the paper's frame (8.27 kpc).  Keyword arguments go to
    ``ax.plot`` (e.g. ``markersize``)."""
    R0 = default_R0() if R0 is None else float(R0)
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
    """
    R0 = default_R0() if R0 is None else float(R0)
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

