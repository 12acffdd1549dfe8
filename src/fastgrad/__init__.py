"""fastgrad: chemical cartography of the Milky Way disk at survey scale.

Monte-Carlo Galactocentric transforms, Bayesian straight-line gradient fits
(Hogg, Bovy & Lang 2010, sampled with emcee) and azimuthal metallicity
structure, after Hawkins (2023, MNRAS), on a Cython/OpenMP core.
"""
from ._build_info import version as __version__
from ._config import build_config, show_config
from ._threads import effective_n_threads
from .frames import frame_constants, get_frame, paper_frame
from .transform import galactocentric, mc_galactocentric
from .mock import make_catalog, make_survey

__all__ = [
    "__version__",
    "show_config",
    "build_config",
    "effective_n_threads",
    "paper_frame",
    "get_frame",
    "frame_constants",
    "galactocentric",
    "mc_galactocentric",
    "make_survey",
    "make_catalog",
]
