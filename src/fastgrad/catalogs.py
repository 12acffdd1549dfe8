"""Readers, column maps, the 2" cross-match and the cuts: a compatibility module.

``fastgrad.catalogs`` used to hold all of these; each now lives in the module
that owns it, and this module re-exports the public names so that
``fastgrad.catalogs.read_catalog`` and the others keep working:

- :mod:`fastgrad.schema`: ``CANONICAL_UNITS``, ``CATALOG_KINDS``,
  ``GAIA_VIZIER_COLUMNS``, ``BAILER_JONES_VIZIER_COLUMNS``,
  ``LAMOST_COLUMN_MAP``, ``MissingColumnsError``;
- :mod:`fastgrad.readers`: ``read_catalog``, ``standardize_columns``;
- :mod:`fastgrad.crossmatch`: ``crossmatch``;
- :mod:`fastgrad.distances`: ``join_distances``, ``add_distances``,
  ``bailer_jones_distances``;
- :mod:`fastgrad.cuts`: ``Cut``, ``CUT_PRESETS``, ``get_cuts``,
  ``cut_parameters``, ``apply_cuts``, ``evaluate_cuts``.

``LAMOST_COLUMNS`` (the LAMOST file-column map) is a deprecated alias of
:data:`fastgrad.schema.LAMOST_COLUMN_MAP`: the same dict, renamed because
``fastgrad.mock.LAMOST_COLUMNS`` is another thing (the mock's column list).
Accessing it issues a ``FutureWarning``.

The method: docs/method.md sections 1 and 2 (Hawkins 2023, sections 2.1-2.3).
"""

import warnings

from . import schema
from .crossmatch import crossmatch
from .cuts import CUT_PRESETS, Cut, apply_cuts, cut_parameters, evaluate_cuts, get_cuts
from .distances import add_distances, bailer_jones_distances, join_distances
from .readers import read_catalog, standardize_columns
from .schema import (
    BAILER_JONES_VIZIER_COLUMNS,
    CANONICAL_UNITS,
    CATALOG_KINDS,
    GAIA_VIZIER_COLUMNS,
    LAMOST_COLUMN_MAP,
    MissingColumnsError,
)

__all__ = [
    "read_catalog",
    "standardize_columns",
    "bailer_jones_distances",
    "CATALOG_KINDS",
    "CANONICAL_UNITS",
    "LAMOST_COLUMN_MAP",
    "GAIA_VIZIER_COLUMNS",
    "BAILER_JONES_VIZIER_COLUMNS",
    "MissingColumnsError",
    "crossmatch",
    "join_distances",
    "add_distances",
    "Cut",
    "CUT_PRESETS",
    "get_cuts",
    "apply_cuts",
    "evaluate_cuts",
    "cut_parameters",
]

#: Deprecated name -> its name in :mod:`fastgrad.schema` (the same object).
_RENAMED = {"LAMOST_COLUMNS": "LAMOST_COLUMN_MAP"}


def __getattr__(name):
    # only deprecated names reach here: the others are module attributes
    if name in _RENAMED:
        new = _RENAMED[name]
        warnings.warn(
            f"fastgrad.catalogs.{name} is deprecated; use fastgrad.schema.{new} (the same dict)",
            FutureWarning,
            stacklevel=2,
        )
        return getattr(schema, new)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
