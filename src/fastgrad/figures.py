"""Deprecated: the paper's Figures 1-8 are in :mod:`fastgrad.plots` (since issue 13).

``fastgrad.figures.fig1_density`` ... still work, with a FutureWarning naming
``fastgrad.plots.<name>``; importing this module alone does not warn.
"""

import warnings

from .plots import paper as _paper_figures

__all__ = list(_paper_figures.__all__)


def __getattr__(name):
    if name in __all__:
        warnings.warn(
            f"fastgrad.figures.{name} is deprecated; use fastgrad.plots.{name}",
            FutureWarning,
            stacklevel=2,
        )
        return getattr(_paper_figures, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
