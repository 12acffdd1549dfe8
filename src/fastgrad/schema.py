"""fastgrad's canonical catalogue columns: names, units, schemas and column maps.

docs/method.md section 1 (Hawkins 2023, sections 2.1-2.2). Every step after
:func:`fastgrad.readers.read_catalog` reads columns by these names and in
these units:

- :data:`CANONICAL_UNITS`: the unit of every canonical column (Gaia DR3
  archive names verbatim, Bailer-Jones (2021) ``r_med_geo, r_lo_geo,
  r_hi_geo``, the LAMOST hot-star ("HotPayne", Xiang et al. 2022) names).
- :data:`CATALOG_SCHEMAS`: per catalogue kind (:data:`CATALOG_KINDS`), its
  required and optional canonical columns and its default column map.
- The column maps, file column name -> canonical name:
  :data:`GAIA_VIZIER_COLUMNS`, :data:`BAILER_JONES_VIZIER_COLUMNS`,
  :data:`LAMOST_COLUMN_MAP` (a *map*; the mock's ``mock.LAMOST_COLUMNS`` is
  a list of the columns a mock catalogue has).
- :class:`MissingColumnsError`, :func:`column_values` (a column as float64
  in a canonical unit), :func:`source_label` and :func:`reject_rows` (the
  shared wording of messages about a catalogue's rows).
"""
from types import MappingProxyType
from typing import Mapping, NamedTuple

import astropy.units as u

from ._validation import as_float_array, raise_bad_rows
from .errors import InputError

__all__ = [
    "CANONICAL_UNITS",
    "ID_COLUMNS",
    "GAIA_VIZIER_COLUMNS",
    "BAILER_JONES_VIZIER_COLUMNS",
    "LAMOST_COLUMN_MAP",
    "CatalogSchema",
    "CATALOG_SCHEMAS",
    "CATALOG_KINDS",
    "MissingColumnsError",
    "column_values",
    "source_label",
    "reject_rows",
]

_DEX = u.dex
_KMS = u.km / u.s
_MASYR = u.mas / u.yr

#: Unit of every canonical column; ``None`` = dimensionless or an identifier.
#: Gaia DR3 archive names are used verbatim; ``logg`` and the abundances are
#: in dex (logg: log10 of g in cm s^-2).
CANONICAL_UNITS = MappingProxyType({
    # identifiers
    "source_id": None, "obsid": None,
    # Gaia DR3 gaia_source
    "ra": u.deg, "dec": u.deg,
    "ra_error": u.mas, "dec_error": u.mas,
    "parallax": u.mas, "parallax_error": u.mas, "parallax_over_error": None,
    "pmra": _MASYR, "pmra_error": _MASYR, "pmdec": _MASYR, "pmdec_error": _MASYR,
    "radial_velocity": _KMS, "radial_velocity_error": _KMS,
    "ra_dec_corr": None, "ra_pmra_corr": None, "ra_pmdec_corr": None,
    "dec_pmra_corr": None, "dec_pmdec_corr": None, "pmra_pmdec_corr": None,
    # Gaia DR3 astrophysical_parameters (GSP-Spec)
    "mh_gspspec": _DEX, "mh_gspspec_lower": _DEX, "mh_gspspec_upper": _DEX,
    "teff_gspspec": u.K, "logg_gspspec": _DEX,
    # Bailer-Jones et al. 2021 geometric distances (16th, 50th, 84th percentiles)
    "r_med_geo": u.pc, "r_lo_geo": u.pc, "r_hi_geo": u.pc,
    # derived by add_distances
    "distance": u.kpc, "distance_error": u.kpc,
    # LAMOST hot stars (HotPayne)
    "teff": u.K, "teff_err": u.K, "logg": _DEX, "logg_err": _DEX,
    "feh": _DEX, "feh_err": _DEX, "vsini": _KMS, "snr": None, "chi2ratio": None,
    "rv": _KMS, "rv_err": _KMS,
})


#: Canonical identifier columns: 64-bit integers, never missing.
ID_COLUMNS = ("source_id", "obsid")

_GAIA_REQUIRED = ("source_id", "ra", "dec", "parallax", "parallax_error", "pmra",
                  "pmra_error", "pmdec", "pmdec_error", "ra_error", "dec_error")
_GAIA_OPTIONAL = ("parallax_over_error", "radial_velocity", "radial_velocity_error",
                  "ra_dec_corr", "ra_pmra_corr", "ra_pmdec_corr", "dec_pmra_corr",
                  "dec_pmdec_corr", "pmra_pmdec_corr")
_GSPSPEC = ("mh_gspspec", "mh_gspspec_lower", "mh_gspspec_upper", "teff_gspspec",
            "logg_gspspec")

#: VizieR I/355/gaiadr3 names -> Gaia DR3 archive names (tried after the
#: archive names themselves, so archive files need no mapping).
GAIA_VIZIER_COLUMNS = {
    "Source": "source_id", "RA_ICRS": "ra", "DE_ICRS": "dec",
    "e_RA_ICRS": "ra_error", "e_DE_ICRS": "dec_error",
    "Plx": "parallax", "e_Plx": "parallax_error", "RPlx": "parallax_over_error",
    "pmRA": "pmra", "e_pmRA": "pmra_error", "pmDE": "pmdec", "e_pmDE": "pmdec_error",
    "RV": "radial_velocity", "e_RV": "radial_velocity_error",
    "RADEcor": "ra_dec_corr", "RApmRAcor": "ra_pmra_corr", "RApmDEcor": "ra_pmdec_corr",
    "DEpmRAcor": "dec_pmra_corr", "DEpmDEcor": "dec_pmdec_corr",
    "pmRApmDEcor": "pmra_pmdec_corr",
}

#: VizieR I/352/gedr3dis names -> Bailer-Jones archive names (``b_``/``B_`` are the
#: 16th/84th percentiles; matched case-sensitively first, so they stay apart).
BAILER_JONES_VIZIER_COLUMNS = {
    "Source": "source_id", "rgeo": "r_med_geo", "b_rgeo": "r_lo_geo", "B_rgeo": "r_hi_geo",
}

#: File (VizieR or the authors' FITS) column name -> canonical name, for the
#: LAMOST hot-star catalogue of Xiang et al. (2022, A&A 662, A66, "HotPayne").
#: The exact VizieR names of J/A+A/662/A66 were not at hand when this was
#: written: the keys are the usual VizieR spellings (``e_`` prefix for errors)
#: and the ``_err`` spellings, tried in this order, exact case first, then
#: ignoring case; a canonical name present in the file verbatim is always
#: accepted. **SNR: the g-band signal-to-noise ratio** (LAMOST's ``snrg``) is
#: taken as the paper's "SNR" (Hawkins 2023, section 2.1 (iv) does not name the
#: band). Override entries with ``read_catalog(..., columns={"SNR_r": "snr"})``
#: (``columns`` is tried before this dict) or edit this dict.
LAMOST_COLUMN_MAP = {
    "ObsID": "obsid", "obsid": "obsid",
    "RAdeg": "ra", "RAJ2000": "ra", "RA_ICRS": "ra", "RA": "ra",
    "DEdeg": "dec", "DEJ2000": "dec", "DE_ICRS": "dec", "DEC": "dec",
    "Teff": "teff", "e_Teff": "teff_err", "Teff_err": "teff_err", "teff_error": "teff_err",
    "logg": "logg", "e_logg": "logg_err", "logg_err": "logg_err", "logg_error": "logg_err",
    "[Fe/H]": "feh", "FeH": "feh", "Fe_H": "feh",
    "e_[Fe/H]": "feh_err", "e_FeH": "feh_err", "FeH_err": "feh_err", "Fe_H_err": "feh_err",
    "feh_error": "feh_err",
    "vsini": "vsini", "Vsini": "vsini", "vsin_i": "vsini",
    "SNRg": "snr", "snr_g": "snr", "S/Ng": "snr", "SNR": "snr",
    "chi2ratio": "chi2ratio", "chi2_ratio": "chi2ratio",
    "RV": "rv", "HRV": "rv", "e_RV": "rv_err", "e_HRV": "rv_err", "RV_err": "rv_err",
    "rv_error": "rv_err",
}


class CatalogSchema(NamedTuple):
    """What one catalogue kind holds, in canonical names.

    Attributes
    ----------
    required : tuple of str
        Columns :func:`fastgrad.readers.read_catalog` refuses to go without.
    optional : tuple of str
        Columns it maps and re-units when present.
    column_map : dict
        The kind's default file column name -> canonical name map.
    """

    required: tuple
    optional: tuple
    column_map: Mapping


#: Catalogue kind -> :class:`CatalogSchema` (docs/method.md section 1).
CATALOG_SCHEMAS = MappingProxyType({
    "gaia": CatalogSchema(_GAIA_REQUIRED, _GAIA_OPTIONAL, GAIA_VIZIER_COLUMNS),
    "gaia_giants": CatalogSchema(
        _GAIA_REQUIRED + ("radial_velocity", "radial_velocity_error") + _GSPSPEC,
        tuple(c for c in _GAIA_OPTIONAL if c not in ("radial_velocity", "radial_velocity_error")),
        GAIA_VIZIER_COLUMNS),
    "bailer_jones": CatalogSchema(("source_id", "r_med_geo", "r_lo_geo", "r_hi_geo"), (),
                                  BAILER_JONES_VIZIER_COLUMNS),
    "lamost_hot_stars": CatalogSchema(("obsid", "ra", "dec", "teff", "teff_err", "logg",
                                       "logg_err", "feh", "feh_err", "vsini", "snr",
                                       "chi2ratio", "rv", "rv_err"), (), LAMOST_COLUMN_MAP),
})

#: The catalogue kinds :func:`fastgrad.readers.read_catalog` knows (``None``:
#: no required columns).
CATALOG_KINDS = tuple(CATALOG_SCHEMAS) + (None,)


class MissingColumnsError(ValueError):
    """Required columns are absent (a ``ValueError``); ``.missing`` lists them."""

    def __init__(self, message, missing=()):
        super().__init__(message)
        self.missing = tuple(missing)



def column_values(table, name, unit=None):
    """Column ``name`` of ``table`` as a float64 array (masked values -> NaN).

    Parameters
    ----------
    table : astropy.table.Table or anything with ``table[name]``
        e.g. a Dask partition's column view.
    name : str
        A canonical column name.
    unit : astropy.units.Unit, optional
        The canonical unit wanted (:data:`CANONICAL_UNITS`). A column that
        carries a readable unit is converted to it; one without a unit is
        taken to be in it already. dex columns are never converted (astropy
        would read them as a logarithmic unit).

    Raises
    ------
    MissingColumnsError
        ``name`` is not a column.
    """
    try:
        col = table[name]
    except (KeyError, ValueError):
        raise MissingColumnsError(f"column {name!r} is missing", [name]) from None
    if unit is not None and unit != _DEX and getattr(col, "unit", None) is not None \
            and not isinstance(col.unit, u.UnrecognizedUnit):
        return as_float_array(name, col, unit)
    if hasattr(col, "unit") and hasattr(col, "data"):
        col = col.data
    return as_float_array(name, col)


def source_label(table):
    """``" ('file name')"`` from ``meta['catalog']['source']`` (written by the
    readers) or ``meta['name']``, for messages; ``""`` when unknown."""
    meta = getattr(table, "meta", None) or {}
    catalog = meta.get("catalog") if isinstance(meta.get("catalog"), Mapping) else {}
    source = catalog.get("source") or meta.get("name")
    return f" ({source!r})" if source else ""


def reject_rows(name, mask, what, hint=""):
    """Raise :class:`fastgrad.errors.InputError` naming ``name`` and the rows
    where ``mask`` holds (nothing when none does): bad rows of a catalogue are
    bad input data (exit code 3), not a programming error."""
    try:
        raise_bad_rows(name, mask, what, hint)
    except ValueError as exc:
        raise InputError(str(exc)) from None
