"""fastgrad: chemical cartography of the Milky Way disk at survey scale.

Monte-Carlo Galactocentric transforms, Bayesian straight-line gradient fits
(Hogg, Bovy & Lang 2010, sampled with emcee) and azimuthal metallicity
structure, after Hawkins (2023, MNRAS), on a Cython/OpenMP core.
"""

from ._build_info import version as __version__
from ._config import build_config, show_config
from ._threads import effective_n_threads
from .crossmatch import best_per_source, crossmatch
from .cuts import CUT_PRESETS, Cut, apply_cuts, get_cuts
from .distances import add_distances, join_distances
from .errors import ConfigError, InputError, OutputError, WorkerError
from .fitting import (
    AutocorrWarning,
    LineFit,
    LineModel,
    SamplingError,
    fit_binned,
    fit_line,
    fit_tables,
    line_loglike,
)
from .frames import frame_constants, get_frame, paper_frame
from .mock import make_catalog, make_survey
from .populations import (
    BENSBY2003,
    Population,
    PopulationModel,
    add_kinematic_probabilities,
    halo_cut,
    kinematic_probabilities,
    local_lsr_velocities,
    lsr_velocities,
    uvw_probabilities,
)
from .readers import read_catalog, standardize_columns
from .schema import LAMOST_COLUMN_MAP
from .transform import add_galactocentric, galactocentric, mc_galactocentric

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
    "add_galactocentric",
    # catalogues: schema, readers, crossmatch, distances, cuts
    "read_catalog",
    "standardize_columns",
    "LAMOST_COLUMN_MAP",
    "crossmatch",
    "best_per_source",
    "join_distances",
    "add_distances",
    "Cut",
    "CUT_PRESETS",
    "get_cuts",
    "apply_cuts",
    # populations
    "Population",
    "PopulationModel",
    "BENSBY2003",
    "lsr_velocities",
    "local_lsr_velocities",
    "uvw_probabilities",
    "kinematic_probabilities",
    "add_kinematic_probabilities",
    "halo_cut",
    "line_loglike",
    "LineModel",
    "LineFit",
    "fit_line",
    "fit_binned",
    "fit_tables",
    "AutocorrWarning",
    "SamplingError",
    # errors (fastgrad.errors)
    "ConfigError",
    "InputError",
    "OutputError",
    "WorkerError",
]

# azimuthal structure (docs/method.md section 6); figures live in fastgrad.plots
from .arms import arm_curve, arm_names
from .azimuthal import (
    ResidualMap,
    annulus_mean,
    azimuthal_deviation,
    azimuthal_profile,
    azimuthal_profiles,
    residual_map,
)
from .significance import azimuthal_significance, cell_significance, permutation_test

__all__ += [
    "annulus_mean",
    "azimuthal_deviation",
    "azimuthal_profile",
    "azimuthal_profiles",
    "residual_map",
    "ResidualMap",
    "azimuthal_significance",
    "cell_significance",
    "permutation_test",
    "arm_curve",
    "arm_names",
    "make_survey",
    "make_catalog",
]


def __getattr__(name):
    # only deprecated names reach here: the others are module attributes
    if name == "LAMOST_COLUMNS":
        import warnings

        warnings.warn(
            "fastgrad.LAMOST_COLUMNS is deprecated; use fastgrad.LAMOST_COLUMN_MAP (the same dict)",
            FutureWarning,
            stacklevel=2,
        )
        return LAMOST_COLUMN_MAP
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
