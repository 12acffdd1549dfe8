"""The columns of the mock's tables: canonical names, units and descriptions
(docs/method.md section 1), and the Table they make.

The units are fastgrad's canonical ones (:data:`fastgrad.catalogs.CANONICAL_UNITS`),
so the mock's tables are what :func:`fastgrad.read_catalog` makes of real files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from astropy.table import Table

from ..schema import CANONICAL_UNITS

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import numpy as np


__all__ = [
    "CORRELATION_COLUMNS",
    "LAMOST_COLUMNS",
    "GAIA_COLUMNS",
    "GAIA_GIANT_COLUMNS",
    "BAILER_JONES_COLUMNS",
    "table",
]

#: Gaia DR3's six astrometric correlation columns (ra, dec, pmra, pmdec pairs)
CORRELATION_COLUMNS = (
    "ra_dec_corr",
    "ra_pmra_corr",
    "ra_pmdec_corr",
    "dec_pmra_corr",
    "dec_pmdec_corr",
    "pmra_pmdec_corr",
)


def _with_units(columns):
    """(name, description) pairs -> (name, canonical unit, description) triples."""
    return tuple((name, CANONICAL_UNITS[name], desc) for name, desc in columns)


#: LAMOST HotPayne-like catalogue: canonical names, units, descriptions
LAMOST_COLUMNS = _with_units(
    (
        ("obsid", "LAMOST spectrum identifier"),
        ("ra", "right ascension (ICRS, fibre position)"),
        ("dec", "declination (ICRS, fibre position)"),
        ("teff", "effective temperature"),
        ("teff_err", "uncertainty of teff"),
        ("logg", "surface gravity log10(g / cm s^-2)"),
        ("logg_err", "uncertainty of logg"),
        ("feh", "[Fe/H]"),
        ("feh_err", "uncertainty of [Fe/H]"),
        ("vsini", "projected rotational velocity"),
        ("snr", "signal-to-noise ratio of the spectrum (g band)"),
        ("chi2ratio", "chi^2 ratio of the spectral fit"),
        ("rv", "heliocentric radial velocity"),
        ("rv_err", "uncertainty of rv"),
    )
)

#: Gaia DR3 gaia_source-like columns (archive names and units)
GAIA_COLUMNS = _with_units(
    (
        ("source_id", "Gaia DR3 source identifier"),
        ("ra", "right ascension (ICRS, epoch 2016.0)"),
        ("ra_error", "standard uncertainty of ra cos(dec)"),
        ("dec", "declination (ICRS, epoch 2016.0)"),
        ("dec_error", "standard uncertainty of dec"),
        ("parallax", "parallax"),
        ("parallax_error", "standard uncertainty of parallax"),
        ("parallax_over_error", "parallax / parallax_error"),
        ("pmra", "proper motion in ra cos(dec)"),
        ("pmra_error", "standard uncertainty of pmra"),
        ("pmdec", "proper motion in dec"),
        ("pmdec_error", "standard uncertainty of pmdec"),
    )
    + tuple((name, f"correlation coefficient {name[:-5]}") for name in CORRELATION_COLUMNS)
    + (
        ("radial_velocity", "Gaia RVS radial velocity"),
        ("radial_velocity_error", "uncertainty of radial_velocity"),
    )
)

#: Gaia DR3 giants: GAIA_COLUMNS plus the GSP-Spec parameters
GAIA_GIANT_COLUMNS = GAIA_COLUMNS + _with_units(
    (
        ("mh_gspspec", "GSP-Spec [M/H]"),
        ("mh_gspspec_lower", "16th percentile of mh_gspspec"),
        ("mh_gspspec_upper", "84th percentile of mh_gspspec"),
        ("teff_gspspec", "GSP-Spec effective temperature"),
        ("logg_gspspec", "GSP-Spec surface gravity"),
    )
)

#: Bailer-Jones et al. (2021) geometric distances
BAILER_JONES_COLUMNS = _with_units(
    (
        ("source_id", "Gaia DR3 source identifier"),
        ("r_med_geo", "median of the geometric distance posterior"),
        ("r_lo_geo", "16th percentile of the geometric distance posterior"),
        ("r_hi_geo", "84th percentile of the geometric distance posterior"),
    )
)


def table(spec: Sequence[tuple[str, str | None, str]], data: Mapping[str, np.ndarray]) -> Table:
    """A Table of the columns ``spec`` names (name, unit, description), in its
    order, from the arrays of the dict ``data`` (not copied)."""
    names = [name for name, _, _ in spec]
    return Table(
        [data[name] for name in names],
        names=names,
        units=[unit for _, unit, _ in spec],
        descriptions=[desc for _, _, desc in spec],
        copy=False,
    )
