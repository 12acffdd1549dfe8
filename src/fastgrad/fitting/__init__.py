"""Straight-line fits with intrinsic scatter and errors in both coordinates.

``docs/method.md`` section 5 (the paper's Eq. 4, after Hogg, Bovy & Lang 2010):
the likelihood of y = m x + b with intrinsic scatter lambda, sampled with
emcee, and the binned fits of the paper's Tables 1 and 2.  One module per job:

- :mod:`~fastgrad.fitting.data`: the checked inputs of a fit (NaN policy,
  errors, units);
- :mod:`~fastgrad.fitting.likelihood`: :func:`line_loglike`,
  :class:`LineModel` (the log-posterior) and the priors;
- :mod:`~fastgrad.fitting.mcmc`: :func:`fit_line` and :class:`LineFit`, the
  emcee driver (emcee's classes in :mod:`~fastgrad.fitting.sampler`, imported
  at the first fit);
- :mod:`~fastgrad.fitting.binned`: :func:`fit_binned`, :func:`fit_tables`;
- :mod:`~fastgrad.fitting.workers`: the worker processes of the binned fits.

Bad input (every public function): NaN or inf anywhere, negative errors, a
star with both errors zero, |xy_cov| > x_err y_err, mismatched lengths and
fewer points than parameters raise ValueError naming the argument, the number
of rows and the first of them; ``nan_policy="omit"`` drops the rows with NaN
or inf instead and reports how many (``n_omitted``).
"""

import warnings

from .. import paper
from .binned import fit_binned, fit_tables
from .data import PARAM_NAMES, SCATTER_MODELS
from .likelihood import DEFAULT_PRIORS, LineModel, line_loglike
from .mcmc import AutocorrWarning, LineFit, SamplingError, fit_line

# not in __all__ (as before): the pipeline starts the forkserver early with it
from .workers import start_worker_server  # noqa: F401

__all__ = [
    "line_loglike",
    "LineModel",
    "LineFit",
    "fit_line",
    "fit_binned",
    "fit_tables",
    "AutocorrWarning",
    "SamplingError",
    "DEFAULT_PRIORS",
    "PARAM_NAMES",
    "SCATTER_MODELS",
    "RADIAL_BIN_EDGES",
    "VERTICAL_BIN_EDGES",
]

#: names kept for code written before issue 13: {old name: (new name, value)}
_DEPRECATED = {
    "RADIAL_BIN_EDGES": ("fastgrad.paper.TABLE1_EDGES", paper.TABLE1_EDGES),
    "VERTICAL_BIN_EDGES": ("fastgrad.paper.TABLE2_EDGES", paper.TABLE2_EDGES),
}


def __getattr__(name):
    if name in _DEPRECATED:
        new, value = _DEPRECATED[name]
        warnings.warn(
            f"fastgrad.fitting.{name} is deprecated; use {new} (the same bin edges)",
            FutureWarning,
            stacklevel=2,
        )
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
