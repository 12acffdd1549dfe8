"""The paper's Fig. 6: mean deviation at fixed radius against azimuth.

Drawn on a new :class:`matplotlib.figure.Figure` (or on the ``ax`` given),
returned; ``docs/method.md`` sections 6 and 7.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from astropy.table import Table
    from matplotlib.axes import Axes


__all__ = ["plot_azimuthal_profile"]


def _ring_style(ring, index):
    # the paper's Fig. 6: outer disk (9-11 kpc) black, inner (7-9 kpc) blue
    known = {(9.0, 11.0): "k", (7.0, 9.0): "tab:blue"}
    others = ("tab:red", "tab:green", "tab:purple", "tab:orange", "tab:brown")
    return known.get(ring, others[index % len(others)])


def plot_azimuthal_profile(
    profiles: Table | Mapping[Any, Table],
    *,
    ax: Axes | None = None,
    colors: Mapping[Any, Any] | Sequence[Any] | None = None,
    labels: Mapping[Any, str] | Sequence[str] | None = None,
    quantity: str = "[Fe/H]",
    unit: str = "dex",
    figsize: tuple[float, float] = (7.0, 4.5),
) -> Figure:
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

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.azimuthal import azimuthal_profiles
    >>> from fastgrad.plots.profiles import plot_azimuthal_profile
    >>> rng = np.random.default_rng(1)
    >>> R, phi = rng.uniform(7.0, 11.0, 4000), rng.uniform(-0.4, 0.4, 4000)  # kpc, rad
    >>> profiles = azimuthal_profiles(R, phi, rng.normal(0.0, 0.1, 4000), bins=np.linspace(-0.4, 0.4, 9))
    >>> fig = plot_azimuthal_profile(profiles)  # inner and outer disk
    >>> len(fig.axes), [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    (1, ['7 ≤ R < 9 kpc', '9 ≤ R < 11 kpc'])
    >>> fig.savefig("fig6.png")
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
        ax.errorbar(
            phi[good],
            mean[good],
            yerr=np.where(np.isfinite(sem[good]), sem[good], 0.0),
            color=color,
            marker="o",
            markersize=3,
            linewidth=1.2,
            elinewidth=1.0,
            capsize=0,
            label=label,
        )
    ax.axhline(0.0, color="0.5", linewidth=0.8, linestyle=":")
    ax.set_xlabel("φ (rad)")
    ax.set_ylabel(f"⟨δ{quantity}⟩ ({unit})")
    if any(lbl is not None for lbl in ax.get_legend_handles_labels()[1]):
        ax.legend(loc="best", framealpha=0.85)
    return fig
