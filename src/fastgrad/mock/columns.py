"""The columns of the mock's tables: canonical names, units and descriptions
(docs/method.md section 1), and the Table they make.
"""
import astropy.units as u
from astropy.table import Table

__all__ = [
    "CORRELATION_COLUMNS",
    "LAMOST_COLUMNS",
    "GAIA_COLUMNS",
    "GAIA_GIANT_COLUMNS",
    "BAILER_JONES_COLUMNS",
    "table",
]

_DEX = u.dex
_KMS = u.km / u.s
_MASYR = u.mas / u.yr

#: Gaia DR3's six astrometric correlation columns (ra, dec, pmra, pmdec pairs)
CORRELATION_COLUMNS = ("ra_dec_corr", "ra_pmra_corr", "ra_pmdec_corr",
                       "dec_pmra_corr", "dec_pmdec_corr", "pmra_pmdec_corr")

#: LAMOST HotPayne-like catalogue: canonical names, units, descriptions
LAMOST_COLUMNS = (
    ("obsid", None, "LAMOST spectrum identifier"),
    ("ra", u.deg, "right ascension (ICRS, fibre position)"),
    ("dec", u.deg, "declination (ICRS, fibre position)"),
    ("teff", u.K, "effective temperature"),
    ("teff_err", u.K, "uncertainty of teff"),
    ("logg", _DEX, "surface gravity log10(g / cm s^-2)"),
    ("logg_err", _DEX, "uncertainty of logg"),
    ("feh", _DEX, "[Fe/H]"),
    ("feh_err", _DEX, "uncertainty of [Fe/H]"),
    ("vsini", _KMS, "projected rotational velocity"),
    ("snr", None, "signal-to-noise ratio of the spectrum (g band)"),
    ("chi2ratio", None, "chi^2 ratio of the spectral fit"),
    ("rv", _KMS, "heliocentric radial velocity"),
    ("rv_err", _KMS, "uncertainty of rv"),
)

#: Gaia DR3 gaia_source-like columns (archive names and units)
GAIA_COLUMNS = (
    ("source_id", None, "Gaia DR3 source identifier"),
    ("ra", u.deg, "right ascension (ICRS, epoch 2016.0)"),
    ("ra_error", u.mas, "standard uncertainty of ra cos(dec)"),
    ("dec", u.deg, "declination (ICRS, epoch 2016.0)"),
    ("dec_error", u.mas, "standard uncertainty of dec"),
    ("parallax", u.mas, "parallax"),
    ("parallax_error", u.mas, "standard uncertainty of parallax"),
    ("parallax_over_error", None, "parallax / parallax_error"),
    ("pmra", _MASYR, "proper motion in ra cos(dec)"),
    ("pmra_error", _MASYR, "standard uncertainty of pmra"),
    ("pmdec", _MASYR, "proper motion in dec"),
    ("pmdec_error", _MASYR, "standard uncertainty of pmdec"),
) + tuple((name, None, f"correlation coefficient {name[:-5]}") for name in CORRELATION_COLUMNS) + (
    ("radial_velocity", _KMS, "Gaia RVS radial velocity"),
    ("radial_velocity_error", _KMS, "uncertainty of radial_velocity"),
)

#: Gaia DR3 giants: GAIA_COLUMNS plus the GSP-Spec parameters
GAIA_GIANT_COLUMNS = GAIA_COLUMNS + (
    ("mh_gspspec", _DEX, "GSP-Spec [M/H]"),
    ("mh_gspspec_lower", _DEX, "16th percentile of mh_gspspec"),
    ("mh_gspspec_upper", _DEX, "84th percentile of mh_gspspec"),
    ("teff_gspspec", u.K, "GSP-Spec effective temperature"),
    ("logg_gspspec", _DEX, "GSP-Spec surface gravity"),
)

#: Bailer-Jones et al. (2021) geometric distances
BAILER_JONES_COLUMNS = (
    ("source_id", None, "Gaia DR3 source identifier"),
    ("r_med_geo", u.pc, "median of the geometric distance posterior"),
    ("r_lo_geo", u.pc, "16th percentile of the geometric distance posterior"),
    ("r_hi_geo", u.pc, "84th percentile of the geometric distance posterior"),
)


def table(spec, data):
    """A Table of the columns ``spec`` names (name, unit, description), in its
    order, from the arrays of the dict ``data`` (not copied)."""
    names = [name for name, _, _ in spec]
    return Table([data[name] for name in names], names=names,
                 units=[unit for _, unit, _ in spec],
                 descriptions=[desc for _, _, desc in spec], copy=False)
