"""Figures of fastgrad: the paper's Figures 1-8 and their building blocks.

Every function draws with matplotlib's object API on a new
:class:`matplotlib.figure.Figure` (or on the ``ax`` / ``fig`` given) and
returns the Figure (the overlays return their artists): nothing here imports
pyplot, selects a backend or calls ``show``, so it works headless;
``fig.savefig(path)`` writes the file.  ``docs/method.md`` section 7.

- :mod:`~fastgrad.plots.overlays`: :func:`draw_sun`, :func:`draw_arms`, and the
  readers of a user's overlays, :func:`read_overdensity_grid` (Poggio et al.
  2021 contours) and :func:`read_literature` (published gradients);
- :mod:`~fastgrad.plots.maps`: :func:`plot_residual_maps` (Figs. 5 and 8);
- :mod:`~fastgrad.plots.profiles`: :func:`plot_azimuthal_profile` (Fig. 6);
- :mod:`~fastgrad.plots.paper`: ``fig1_density`` ... ``fig8_residual_maps``;
- :mod:`~fastgrad.plots.calibration`: :func:`plot_calibration` (``fastgrad calibrate``).
"""

from .calibration import plot_calibration
from .maps import plot_residual_maps
from .overlays import draw_arms, draw_sun, read_literature, read_overdensity_grid
from .paper import (
    fig1_density,
    fig2_metallicity,
    fig3_radial_fit,
    fig4_radial_gradients,
    fig5_residual_maps,
    fig6_azimuthal_profile,
    fig7_vertical_gradients,
    fig8_residual_maps,
)
from .profiles import plot_azimuthal_profile

__all__ = [
    "draw_sun",
    "draw_arms",
    "read_overdensity_grid",
    "read_literature",
    "plot_residual_maps",
    "plot_calibration",
    "plot_azimuthal_profile",
    "fig1_density",
    "fig2_metallicity",
    "fig3_radial_fit",
    "fig4_radial_gradients",
    "fig5_residual_maps",
    "fig6_azimuthal_profile",
    "fig7_vertical_gradients",
    "fig8_residual_maps",
]
