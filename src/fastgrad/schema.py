"""fastgrad's canonical catalogue columns: names, units, schemas and column maps.

docs/method.md section 1 (Hawkins 2023, sections 2.1-2.2). Every step after
:func:`fastgrad.readers.read_catalog` reads columns by these names and in
these units:

- :data:`CANONICAL_UNITS`: the unit of every canonical column (Gaia DR3
  archive names verbatim, Bailer-Jones (2021) ``r_med_geo, r_lo_geo,
  r_hi_geo`` and ``r_*_photogeo``, the LAMOST hot-star ("HotPayne", Xiang et
  al. 2022) names, and one name per concept for the other surveys: APOGEE
  DR17, GALAH DR3, the Gaia XP metallicities of Andrae et al. 2023 and
  Khalatyan et al. 2024).
- :data:`CATALOG_SCHEMAS`: per catalogue kind (:data:`CATALOG_KINDS`), its
  required and optional canonical columns and its default column map. A
  kind *requires* only what every later step needs (positions, the
  metallicity and its error, the radial velocity and its error, the join
  key); a column only a quality cut reads is optional when read, and the cut
  itself names it when it is absent (:func:`fastgrad.cuts.evaluate_cuts`).
- The column maps, file column name -> canonical name:
  :data:`GAIA_VIZIER_COLUMNS`, :data:`GSPSPEC_COLUMNS`,
  :data:`BAILER_JONES_VIZIER_COLUMNS`, :data:`LAMOST_COLUMN_MAP` (a *map*;
  the mock's ``mock.LAMOST_COLUMNS`` is a list of the columns a mock
  catalogue has), :data:`LAMOST_LRS_COLUMNS`, :data:`APOGEE_ALLSTAR_COLUMNS`,
  :data:`GALAH_DR3_COLUMNS`, :data:`XP_ANDRAE2023_COLUMNS`,
  :data:`XP_SHBOOST_COLUMNS`.
- :class:`MissingColumnsError`, :func:`column_values` (a column as float64
  in a canonical unit), :func:`source_label` and :func:`reject_rows` (the
  shared wording of messages about a catalogue's rows).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

import astropy.units as u

from ._validation import as_float_array, raise_bad_rows
from .errors import InputError

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    import numpy as np
    import numpy.typing as npt


__all__ = [
    "CANONICAL_UNITS",
    "ID_COLUMNS",
    "LABEL_COLUMNS",
    "TEXT_COLUMNS",
    "GAIA_VIZIER_COLUMNS",
    "GSPSPEC_COLUMNS",
    "BAILER_JONES_VIZIER_COLUMNS",
    "LAMOST_COLUMN_MAP",
    "LAMOST_LRS_COLUMNS",
    "APOGEE_ALLSTAR_COLUMNS",
    "GALAH_DR3_COLUMNS",
    "XP_ANDRAE2023_COLUMNS",
    "XP_SHBOOST_COLUMNS",
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
_PC = u.pc

#: Unit of every canonical column; ``None`` = dimensionless or an identifier.
#: Gaia DR3 archive names are used verbatim; ``logg`` and the abundances are
#: in dex (logg: log10 of g in cm s^-2).
CANONICAL_UNITS = MappingProxyType(
    {
        # identifiers: Gaia DR3 source_id; a spectrum (LAMOST LRS obsid; any other
        # survey's spectrum id, e.g. HotPayne SpecID, GALAH sobject_id: spec_id);
        # a survey's star (APOGEE_ID, GALAH's 2MASS star_id: star_id)
        "source_id": None,
        "obsid": None,
        "spec_id": None,
        "star_id": None,
        # Gaia DR3 gaia_source
        "ra": u.deg,
        "dec": u.deg,
        "ra_error": u.mas,
        "dec_error": u.mas,
        "parallax": u.mas,
        "parallax_error": u.mas,
        "parallax_over_error": None,
        "pmra": _MASYR,
        "pmra_error": _MASYR,
        "pmdec": _MASYR,
        "pmdec_error": _MASYR,
        "radial_velocity": _KMS,
        "radial_velocity_error": _KMS,
        "ra_dec_corr": None,
        "ra_pmra_corr": None,
        "ra_pmdec_corr": None,
        "dec_pmra_corr": None,
        "dec_pmdec_corr": None,
        "pmra_pmdec_corr": None,
        "phot_g_mean_mag": u.mag,
        # Gaia DR3 astrophysical_parameters (GSP-Spec); flags_gspspec: the
        # 41-character quality string (Recio-Blanco et al. 2023, Table 2)
        "mh_gspspec": _DEX,
        "mh_gspspec_lower": _DEX,
        "mh_gspspec_upper": _DEX,
        "teff_gspspec": u.K,
        "logg_gspspec": _DEX,
        "flags_gspspec": None,
        # Bailer-Jones et al. 2021 geometric and photogeometric distances (16th,
        # 50th, 84th percentiles)
        "r_med_geo": _PC,
        "r_lo_geo": _PC,
        "r_hi_geo": _PC,
        "r_med_photogeo": _PC,
        "r_lo_photogeo": _PC,
        "r_hi_photogeo": _PC,
        # derived by add_distances
        "distance": u.kpc,
        "distance_error": u.kpc,
        # spectroscopic surveys: LAMOST hot stars (HotPayne), LAMOST LRS, APOGEE,
        # GALAH ([Fe/H] is feh whatever the survey calls it; a survey's overall
        # [M/H], APOGEE's M_H, is mh)
        "teff": u.K,
        "teff_err": u.K,
        "logg": _DEX,
        "logg_err": _DEX,
        "feh": _DEX,
        "feh_err": _DEX,
        "mh": _DEX,
        "mh_err": _DEX,
        "vsini": _KMS,
        "snr": None,
        "chi2ratio": None,
        "rv": _KMS,
        "rv_err": _KMS,
        "rv_scatter": _KMS,
        # survey bit masks and flags (integers)
        "aspcapflag": None,
        "starflag": None,
        "extratarg": None,
        "flag_sp": None,
        "flag_fe_h": None,
        # Gaia XP metallicities: Andrae et al. 2023 (XGBoost) and Khalatyan et
        # al. 2024 (SHBoost; median and 16th/84th percentiles)
        "mh_xgboost": _DEX,
        "teff_xgboost": u.K,
        "logg_xgboost": _DEX,
        "mh_shboost": _DEX,
        "mh_shboost_lower": _DEX,
        "mh_shboost_upper": _DEX,
        "teff_shboost": u.K,
        "logg_shboost": _DEX,
    }
)


#: Canonical identifier columns: 64-bit integers, never missing.
ID_COLUMNS = ("source_id", "obsid")

#: Canonical columns kept as the file has them (text or integers, never
#: parsed as numbers): survey identifiers that are not Gaia ids and the
#: GSP-Spec flag string.
LABEL_COLUMNS = ("spec_id", "star_id", "flags_gspspec")

#: Label columns that are always text (a CSV reader must not parse them as
#: numbers: a flag string of digits would lose its leading zeros).
TEXT_COLUMNS = ("star_id", "flags_gspspec")

_GAIA_REQUIRED = (
    "source_id",
    "ra",
    "dec",
    "parallax",
    "parallax_error",
    "pmra",
    "pmra_error",
    "pmdec",
    "pmdec_error",
    "ra_error",
    "dec_error",
)
_GAIA_OPTIONAL = (
    "parallax_over_error",
    "radial_velocity",
    "radial_velocity_error",
    "ra_dec_corr",
    "ra_pmra_corr",
    "ra_pmdec_corr",
    "dec_pmra_corr",
    "dec_pmdec_corr",
    "pmra_pmdec_corr",
)
_GSPSPEC = ("mh_gspspec", "mh_gspspec_lower", "mh_gspspec_upper", "teff_gspspec", "logg_gspspec")
_GAIA_RV = ("radial_velocity", "radial_velocity_error")
_SPECTRO = ("teff", "teff_err", "logg", "logg_err")
# what every later step needs of a spectroscopic catalogue: its position (the
# sky match), [Fe/H] and its error (the fits), the RV and its error (the
# Monte Carlo)
_SPECTRO_REQUIRED = ("ra", "dec", "feh", "feh_err", "rv", "rv_err")

#: VizieR I/355/gaiadr3 names -> Gaia DR3 archive names (tried after the
#: archive names themselves, so archive files need no mapping).
GAIA_VIZIER_COLUMNS = {
    "Source": "source_id",
    "RA_ICRS": "ra",
    "DE_ICRS": "dec",
    "e_RA_ICRS": "ra_error",
    "e_DE_ICRS": "dec_error",
    "Plx": "parallax",
    "e_Plx": "parallax_error",
    "RPlx": "parallax_over_error",
    "pmRA": "pmra",
    "e_pmRA": "pmra_error",
    "pmDE": "pmdec",
    "e_pmDE": "pmdec_error",
    "RV": "radial_velocity",
    "e_RV": "radial_velocity_error",
    "RADEcor": "ra_dec_corr",
    "RApmRAcor": "ra_pmra_corr",
    "RApmDEcor": "ra_pmdec_corr",
    "DEpmRAcor": "dec_pmra_corr",
    "DEpmDEcor": "dec_pmdec_corr",
    "pmRApmDEcor": "pmra_pmdec_corr",
}

#: VizieR I/355/paramp GSP-Spec names -> Gaia DR3 archive
#: (``astrophysical_parameters``) names, which are read verbatim. Confirmed
#: in use for ``Teff-S``, ``logg-S``, ``[M/H]-S``, ``b_[M/H]-S``; the upper
#: bound ``B_[M/H]-S`` and ``Flags-S`` follow VizieR's ``b_``/``B_`` and ``-S``
#: conventions of the same table and were not seen in a ReadMe here.
GSPSPEC_COLUMNS = {
    "Source": "source_id",
    "Teff-S": "teff_gspspec",
    "logg-S": "logg_gspspec",
    "[M/H]-S": "mh_gspspec",
    "b_[M/H]-S": "mh_gspspec_lower",
    "B_[M/H]-S": "mh_gspspec_upper",
    "Flags-S": "flags_gspspec",
}

#: VizieR I/352/gedr3dis names -> Bailer-Jones archive names (``b_``/``B_`` are the
#: 16th/84th percentiles; matched case-sensitively first, so they stay apart).
BAILER_JONES_VIZIER_COLUMNS = {
    "Source": "source_id",
    "rgeo": "r_med_geo",
    "b_rgeo": "r_lo_geo",
    "B_rgeo": "r_hi_geo",
    "rpgeo": "r_med_photogeo",
    "b_rpgeo": "r_lo_photogeo",
    "B_rpgeo": "r_hi_photogeo",
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
    "ObsID": "obsid",
    "obsid": "obsid",
    "SpecID": "spec_id",
    "RAdeg": "ra",
    "RAJ2000": "ra",
    "RA_ICRS": "ra",
    "RA": "ra",
    "DEdeg": "dec",
    "DEJ2000": "dec",
    "DE_ICRS": "dec",
    "DEC": "dec",
    "Teff": "teff",
    "e_Teff": "teff_err",
    "Teff_err": "teff_err",
    "teff_error": "teff_err",
    "logg": "logg",
    "e_logg": "logg_err",
    "logg_err": "logg_err",
    "logg_error": "logg_err",
    "[Fe/H]": "feh",
    "FeH": "feh",
    "Fe_H": "feh",
    "e_[Fe/H]": "feh_err",
    "e_FeH": "feh_err",
    "FeH_err": "feh_err",
    "Fe_H_err": "feh_err",
    "feh_error": "feh_err",
    "vsini": "vsini",
    "Vsini": "vsini",
    "vsin_i": "vsini",
    "SNRg": "snr",
    "snr_g": "snr",
    "S/Ng": "snr",
    "SNR": "snr",
    "chi2ratio": "chi2ratio",
    "chi2_ratio": "chi2ratio",
    "RV": "rv",
    "HRV": "rv",
    "e_RV": "rv_err",
    "e_HRV": "rv_err",
    "RV_err": "rv_err",
    "rv_error": "rv_err",
}

#: LAMOST DR-n LRS stellar-parameter catalogue (LASP): its names are the
#: canonical ones (``obsid, ra, dec, teff, teff_err, logg, logg_err, feh,
#: feh_err, rv, rv_err``) but for the g-band SNR, ``snrg`` (confirmed in the
#: LAMOST DR9 LRS general catalogue's data model). No vsini, no chi2ratio.
LAMOST_LRS_COLUMNS = {"snrg": "snr"}

#: SDSS DR17 APOGEE ``allStar`` names -> canonical (confirmed in the DR17
#: allStar data model as used in published code: ``APOGEE_ID, RA, DEC, SNR,
#: STARFLAG, ASPCAPFLAG, EXTRATARG, VHELIO_AVG, VERR, VSCATTER, TEFF(_ERR),
#: LOGG(_ERR), M_H(_ERR), FE_H(_ERR), GAIAEDR3_SOURCE_ID, GAIAEDR3_PARALLAX(_ERROR),
#: GAIAEDR3_PMRA(_ERROR), GAIAEDR3_PMDEC(_ERROR), GAIAEDR3_R_{MED,LO,HI}_GEO``
#: and ``_PHOTOGEO``). allStar has no Gaia ra/dec errors or correlations:
#: those come from a ``gaia_source`` join by ``source_id``.
APOGEE_ALLSTAR_COLUMNS = {
    "APOGEE_ID": "star_id",
    "RA": "ra",
    "DEC": "dec",
    "GAIAEDR3_SOURCE_ID": "source_id",
    "TEFF": "teff",
    "TEFF_ERR": "teff_err",
    "LOGG": "logg",
    "LOGG_ERR": "logg_err",
    "M_H": "mh",
    "M_H_ERR": "mh_err",
    "FE_H": "feh",
    "FE_H_ERR": "feh_err",
    "SNR": "snr",
    "ASPCAPFLAG": "aspcapflag",
    "STARFLAG": "starflag",
    "EXTRATARG": "extratarg",
    "VHELIO_AVG": "rv",
    "VERR": "rv_err",
    "VSCATTER": "rv_scatter",
    "GAIAEDR3_PARALLAX": "parallax",
    "GAIAEDR3_PARALLAX_ERROR": "parallax_error",
    "GAIAEDR3_PMRA": "pmra",
    "GAIAEDR3_PMRA_ERROR": "pmra_error",
    "GAIAEDR3_PMDEC": "pmdec",
    "GAIAEDR3_PMDEC_ERROR": "pmdec_error",
    "GAIAEDR3_PHOT_G_MEAN_MAG": "phot_g_mean_mag",
    "GAIAEDR3_R_MED_GEO": "r_med_geo",
    "GAIAEDR3_R_LO_GEO": "r_lo_geo",
    "GAIAEDR3_R_HI_GEO": "r_hi_geo",
    "GAIAEDR3_R_MED_PHOTOGEO": "r_med_photogeo",
    "GAIAEDR3_R_LO_PHOTOGEO": "r_lo_photogeo",
    "GAIAEDR3_R_HI_PHOTOGEO": "r_hi_photogeo",
}

#: GALAH DR3 ``main_allstar`` names -> canonical (all confirmed in the GALAH
#: DR3 table schema, Buder et al. 2021): ``sobject_id`` (a spectrum),
#: ``star_id`` (2MASS), ``dr3_source_id``, ``ra_dr2``/``dec_dr2`` (deg),
#: ``fe_h``/``e_fe_h``, ``flag_fe_h``, ``flag_sp``, ``snr_c3_iraf``,
#: ``rv_galah``/``e_rv_galah`` (km/s; the schema gives no unit). The
#: ``VAC_GaiaEDR3`` catalogue carries Gaia's names and ``r_*_geo`` verbatim.
GALAH_DR3_COLUMNS = {
    "sobject_id": "spec_id",
    "dr3_source_id": "source_id",
    "ra_dr2": "ra",
    "dec_dr2": "dec",
    "e_teff": "teff_err",
    "e_logg": "logg_err",
    "fe_h": "feh",
    "e_fe_h": "feh_err",
    "snr_c3_iraf": "snr",
    "rv_galah": "rv",
    "e_rv_galah": "rv_err",
}

#: Andrae et al. (2023, ApJS 267, 8) XGBoost tables: the names are the
#: canonical ones (``source_id, mh_xgboost, teff_xgboost, logg_xgboost``;
#: table 2, the vetted giants, also ``ra, dec, pmra(_error), pmdec(_error),
#: parallax_error, radial_velocity(_error), phot_g_mean_mag`` and
#: ``parallax_corrected``, the zero-point-corrected parallax, kept under its
#: own name), confirmed in the Gaia archive's ``external.xgboost_table1/2``.
#: No [M/H] uncertainty is published (their mean precision: 0.1 dex).
XP_ANDRAE2023_COLUMNS = {"GaiaDR3": "source_id", "Source": "source_id"}

#: Khalatyan et al. (2024, A&A 691, A98) SHBoost (VizieR V/160). **Not
#: confirmed**: the published names were not at hand; the keys are the
#: StarHorse-style spellings (``met50``/``met16``/``met84`` ...) and VizieR's
#: (``[M/H]``, ``b_[M/H]``, ``B_[M/H]``). Give the file's names with a column
#: map when they differ.
XP_SHBOOST_COLUMNS = {
    "GaiaDR3": "source_id",
    "Source": "source_id",
    "met50": "mh_shboost",
    "mh50": "mh_shboost",
    "[M/H]": "mh_shboost",
    "met16": "mh_shboost_lower",
    "mh16": "mh_shboost_lower",
    "b_[M/H]": "mh_shboost_lower",
    "met84": "mh_shboost_upper",
    "mh84": "mh_shboost_upper",
    "B_[M/H]": "mh_shboost_upper",
    "teff50": "teff_shboost",
    "Teff": "teff_shboost",
    "logg50": "logg_shboost",
    "logg": "logg_shboost",
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

    Examples
    --------
    >>> from fastgrad.schema import CATALOG_SCHEMAS
    >>> bj = CATALOG_SCHEMAS["bailer_jones"]
    >>> bj.required
    ('source_id', 'r_med_geo', 'r_lo_geo', 'r_hi_geo')
    >>> bj.column_map["rgeo"], bj.column_map["b_rgeo"], bj.column_map["B_rgeo"]
    ('r_med_geo', 'r_lo_geo', 'r_hi_geo')
    """

    required: tuple
    optional: tuple
    column_map: Mapping


#: Catalogue kind -> :class:`CatalogSchema` (docs/method.md section 1).
CATALOG_SCHEMAS = MappingProxyType(
    {
        "gaia": CatalogSchema(_GAIA_REQUIRED, _GAIA_OPTIONAL, GAIA_VIZIER_COLUMNS),
        # gaia_source x astrophysical_parameters (archive, or VizieR gaiadr3 x paramp)
        "gaia_giants": CatalogSchema(
            _GAIA_REQUIRED + _GAIA_RV + _GSPSPEC,
            tuple(c for c in _GAIA_OPTIONAL if c not in _GAIA_RV) + ("flags_gspspec",),
            {**GAIA_VIZIER_COLUMNS, **GSPSPEC_COLUMNS},
        ),
        # astrophysical_parameters (or VizieR paramp) alone, joined by source_id
        "gaia_gspspec": CatalogSchema(
            ("source_id",) + _GSPSPEC, ("flags_gspspec",), GSPSPEC_COLUMNS
        ),
        "bailer_jones": CatalogSchema(
            ("source_id", "r_med_geo", "r_lo_geo", "r_hi_geo"),
            ("r_med_photogeo", "r_lo_photogeo", "r_hi_photogeo"),
            BAILER_JONES_VIZIER_COLUMNS,
        ),
        "lamost_hot_stars": CatalogSchema(
            _SPECTRO_REQUIRED,
            ("obsid", "spec_id") + _SPECTRO + ("vsini", "snr", "chi2ratio"),
            LAMOST_COLUMN_MAP,
        ),
        "lamost_lrs": CatalogSchema(
            _SPECTRO_REQUIRED, ("obsid",) + _SPECTRO + ("snr",), LAMOST_LRS_COLUMNS
        ),
        "apogee_allstar": CatalogSchema(
            ("source_id",) + _SPECTRO_REQUIRED,
            ("star_id",)
            + _SPECTRO
            + (
                "mh",
                "mh_err",
                "snr",
                "aspcapflag",
                "starflag",
                "extratarg",
                "rv_scatter",
                "parallax",
                "parallax_error",
                "pmra",
                "pmra_error",
                "pmdec",
                "pmdec_error",
                "phot_g_mean_mag",
                "r_med_geo",
                "r_lo_geo",
                "r_hi_geo",
                "r_med_photogeo",
                "r_lo_photogeo",
                "r_hi_photogeo",
            ),
            APOGEE_ALLSTAR_COLUMNS,
        ),
        "galah_dr3": CatalogSchema(
            ("source_id",) + _SPECTRO_REQUIRED,
            ("spec_id", "star_id") + _SPECTRO + ("flag_sp", "flag_fe_h", "snr"),
            GALAH_DR3_COLUMNS,
        ),
        "xp_andrae2023": CatalogSchema(
            ("source_id", "mh_xgboost"),
            (
                "teff_xgboost",
                "logg_xgboost",
                "phot_g_mean_mag",
                "ra",
                "dec",
                "parallax",
                "parallax_error",
                "pmra",
                "pmra_error",
                "pmdec",
                "pmdec_error",
            )
            + _GAIA_RV,
            XP_ANDRAE2023_COLUMNS,
        ),
        "xp_shboost": CatalogSchema(
            ("source_id", "mh_shboost"),
            ("mh_shboost_lower", "mh_shboost_upper", "teff_shboost", "logg_shboost"),
            XP_SHBOOST_COLUMNS,
        ),
    }
)

#: The catalogue kinds :func:`fastgrad.readers.read_catalog` knows (``None``:
#: no required columns).
CATALOG_KINDS = tuple(CATALOG_SCHEMAS) + (None,)


class MissingColumnsError(ValueError):
    """Required columns are absent (a ``ValueError``).

    Attributes
    ----------
    missing : tuple of str
        The absent canonical columns.
    cut : str or None
        The name of the quality cut that needs them
        (:func:`fastgrad.cuts.evaluate_cuts`), or None when a reader or a
        step needs them.

    Examples
    --------
    >>> from astropy.table import Table
    >>> from fastgrad.schema import MissingColumnsError, column_values
    >>> try:
    ...     column_values(Table({"ra": [1.0]}), "rv")
    ... except MissingColumnsError as exc:
    ...     print(exc, exc.missing, isinstance(exc, ValueError))
    column 'rv' is missing ('rv',) True
    """

    def __init__(self, message: str, missing: Iterable[str] = (), cut: str | None = None) -> None:
        super().__init__(message)
        self.missing = tuple(missing)
        self.cut = cut


def column_values(table: Any, name: str, unit: u.UnitBase | str | None = None) -> np.ndarray:
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

    Examples
    --------
    A column with a unit is converted to the canonical one:

    >>> import astropy.units as u
    >>> import numpy as np
    >>> from astropy.table import Table
    >>> from fastgrad.schema import column_values
    >>> t = Table({"distance": [1500.0, np.nan] * u.pc})
    >>> column_values(t, "distance", u.kpc)
    array([1.5, nan])
    """
    try:
        col = table[name]
    except (KeyError, ValueError):
        raise MissingColumnsError(f"column {name!r} is missing", [name]) from None
    if (
        unit is not None
        and unit != _DEX
        and getattr(col, "unit", None) is not None
        and not isinstance(col.unit, u.UnrecognizedUnit)
    ):
        return as_float_array(name, col, unit)
    if hasattr(col, "unit") and hasattr(col, "data"):
        col = col.data
    return as_float_array(name, col)


def source_label(table: Any) -> str:
    """``" ('file name')"`` from ``meta['catalog']['source']`` (written by the
    readers) or ``meta['name']``, for messages; ``""`` when unknown.

    Examples
    --------
    >>> from astropy.table import Table
    >>> from fastgrad.schema import source_label
    >>> t = Table({"ra": [1.0]}, meta={"catalog": {"source": "gaia.fits"}})
    >>> "column 'ra' is bad" + source_label(t)
    "column 'ra' is bad ('gaia.fits')"
    >>> source_label(Table())
    ''
    """
    meta = getattr(table, "meta", None) or {}
    catalog = meta.get("catalog") if isinstance(meta.get("catalog"), Mapping) else {}
    source = catalog.get("source") or meta.get("name")
    return f" ({source!r})" if source else ""


def reject_rows(name: str, mask: npt.ArrayLike, what: str, hint: str = "") -> None:
    """Raise :class:`fastgrad.errors.InputError` naming ``name`` and the rows
    where ``mask`` holds (nothing when none does): bad rows of a catalogue are
    bad input data (exit code 3), not a programming error.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.schema import reject_rows
    >>> reject_rows("column 'teff'", np.array([False, True, True]), "are negative", "teff is in K")
    Traceback (most recent call last):
        ...
    fastgrad.errors.InputError: column 'teff': 2 row(s) are negative (rows 1, 2); teff is in K
    """
    try:
        raise_bad_rows(name, mask, what, hint)
    except ValueError as exc:
        raise InputError(str(exc)) from None
