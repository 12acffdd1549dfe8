"""The paper's quality cuts: named, documented, each threshold once.

docs/method.md sections 2 and 4 (Hawkins 2023, sections 2.1-2.4). A
:class:`Cut` is a predicate over canonical columns (:mod:`fastgrad.schema`)
with its default thresholds, their units and the paper's section;
:data:`CUT_PRESETS` holds the paper's cuts and :data:`HALO_CUT` its halo cut.
:func:`apply_cuts` applies them in order and reports what each removed (the
columns of :data:`REPORT_COLUMNS`); :func:`evaluate_cuts` is the counting
behind it, shared with the Dask partition filters of :mod:`fastgrad.dask`.

The order of the paper for LAMOST is: spectroscopic cuts (``"lamost_hot_stars"``)
-> 2" match to Gaia DR3 -> ``"astrometric"`` -> halo cut
(:func:`fastgrad.populations.halo_cut`); for the Gaia giants: the query ->
``"gaia_giants"`` -> distance match -> ``"astrometric"`` -> halo cut.

Beyond the paper, :data:`CUT_PRESETS` holds the usual quality selections of
other surveys: ``"apogee_dr17"`` (and ``"apogee_dr17_giants"``),
``"galah_dr3"`` and ``"xp_giants"``; each cut's ``section`` says where it
comes from and what could not be confirmed.

A cut whose column is absent raises :class:`~fastgrad.schema.MissingColumnsError`
naming the column, the cut, and how to map the column or switch the cut off
(``.missing`` and ``.cut`` say which).
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING

import astropy.units as u
import numpy as np
from astropy.table import Table

from . import gspspec, paper
from ._validation import as_scalar, as_table, is_dataframe, kept_rows
from .errors import InputError
from .schema import MissingColumnsError, column_values, reject_rows, source_label

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    import pandas as pd


__all__ = [
    "Cut",
    "CUT_PRESETS",
    "HALO_CUT",
    "REPORT_COLUMNS",
    "report_table",
    "get_cuts",
    "cut_parameters",
    "apply_cuts",
    "evaluate_cuts",
]

_DEX = u.dex
_KMS = u.km / u.s

#: The columns of :func:`apply_cuts`' report, in order (also those of
#: :func:`fastgrad.dask.cut_report`).
REPORT_COLUMNS = (
    "cut",
    "n_before",
    "n_removed",
    "n_after",
    "n_nonfinite",
    "section",
    "description",
)


def report_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    """A cut report (columns :data:`REPORT_COLUMNS`, counts as int64) from
    dicts holding those keys, e.g. to add a step that is not a :class:`Cut`
    (:func:`fastgrad.crossmatch.best_per_source`) to :func:`apply_cuts`' report.

    Examples
    --------
    >>> from fastgrad.cuts import report_table
    >>> row = dict(cut="my_step", n_before=10, n_removed=2, n_after=8, n_nonfinite=0,
    ...            section="fastgrad's choice", description="an extra step")
    >>> report_table([row])["cut", "n_before", "n_removed", "n_after"].pprint()
      cut   n_before n_removed n_after
    ------- -------- --------- -------
    my_step       10         2       8
    """
    report = Table()
    for name in REPORT_COLUMNS:
        values = [r[name] for r in rows]
        report[name] = (
            np.array(values, dtype=np.int64)
            if name.startswith("n_")
            else np.array(values, dtype=str)
        )
    return report


@dataclass(frozen=True)
class Cut:
    """A named, documented quality cut: a predicate that says which rows to keep.

    Attributes
    ----------
    name : str
        Short identifier, unique within a preset (the report's ``cut``).
    description : str
        What is kept, in words and with the default thresholds.
    section : str
        Where it comes from (the paper's section, docs/method.md, or fastgrad's choice).
    columns : tuple of str
        Columns it reads (their non-finite values make it remove the row).
    function : callable
        ``function(table, **params) -> bool ndarray``: True = keep. Written so
        that NaN compares false and the row goes.
    params : mapping
        Default thresholds (canonical units), overridable in :func:`apply_cuts`.
    units : mapping
        Parameter name -> its unit (``None``: dimensionless). An override of a
        numeric parameter must be one finite real number, or a Quantity
        convertible to this unit (a number without unit is taken in it); it
        reaches ``function`` as a float in this unit. A parameter whose
        default is a string or ``None`` (a column name) takes a string or
        ``None``.

    Examples
    --------
    A cut of one's own, usable wherever a preset is:

    >>> import numpy as np
    >>> from astropy.table import Table
    >>> from fastgrad.cuts import Cut, apply_cuts
    >>> def _vsini_max(table, vsini_max):
    ...     return np.asarray(table["vsini"]) <= vsini_max
    >>> slow = Cut("vsini_max", "keep vsini <= vsini_max", "my choice", ("vsini",),
    ...            _vsini_max, params={"vsini_max": 200.0})
    >>> t = Table({"vsini": [50.0, 300.0, np.nan]})
    >>> slow.keep(t), slow.with_params(vsini_max=400.0).keep(t)
    (array([ True, False, False]), array([ True,  True, False]))
    >>> kept, report = apply_cuts(t, [slow])
    >>> print(len(kept), report["n_nonfinite"][0])  # kept; removed for a NaN
    1 1
    """

    name: str
    description: str
    section: str
    columns: tuple
    function: Callable
    params: Mapping = field(default_factory=dict)
    units: Mapping = field(default_factory=dict)

    def keep(self, table: Table | pd.DataFrame, **params: Any) -> np.ndarray:
        """Boolean mask of the rows this cut keeps (``params`` override the defaults)."""
        params = _checked_params(self, params, f"cut {self.name!r}: parameter")
        if is_dataframe(table):
            table = as_table("table", table)
        merged = {**self.params, **params}
        mask = np.asarray(self.function(table, **merged), dtype=bool)
        if mask.shape != (len(table),):
            raise ValueError(
                f"cut {self.name!r} returned shape {mask.shape}, expected ({len(table)},)"
            )
        return mask

    def with_params(self, **params: Any) -> Cut:
        """A copy with other default thresholds."""
        _checked_params(self, params, f"cut {self.name!r}: parameter")
        return replace(self, params=MappingProxyType({**self.params, **params}))


def _checked_params(cut, params, what):
    """``params`` checked against ``cut``: known names, and values of the kind
    (and unit) of the defaults; numbers come back as floats in the cut's unit."""
    unknown = sorted(set(params) - set(cut.params))
    if unknown:
        raise ValueError(
            f"cut {cut.name!r}: unknown parameter(s) {unknown}; it takes {sorted(cut.params)}"
        )
    out = {}
    for key, value in params.items():
        default = cut.params[key]
        label = f"{what} {key!r}" if what.endswith("parameter") else f"{what}[{key!r}]"
        numeric = isinstance(default, numbers.Real) and not isinstance(default, (bool, np.bool_))
        if key in cut.units or numeric:
            unit = cut.units.get(key)
            if (
                unit is not None
                and unit == _DEX
                and isinstance(value, u.Quantity)
                and value.unit.physical_type == "dimensionless"
                and not isinstance(value.unit, u.LogUnit)
            ):
                # dex thresholds have always taken plain numbers
                value = value.to_value(u.dimensionless_unscaled)
            out[key] = as_scalar(label, value, unit)
        elif default is None or isinstance(default, str):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{label}: expected a column name (str) or None, got {value!r}")
            out[key] = value
        else:
            out[key] = value  # a custom cut's own kind of parameter
    return out


def _thr(value, unit):
    """A threshold in ``unit`` (floats are taken to be in it already)."""
    if isinstance(value, u.Quantity):
        return value.to_value(unit) if unit not in (None, _DEX) else value.value
    return float(value)


# -- LAMOST hot stars, Hawkins (2023) section 2.1, after Xiang et al. (2022) --


def _logg_range(t, logg_min, logg_max):
    logg = column_values(t, "logg", _DEX)
    return (logg >= _thr(logg_min, _DEX)) & (logg <= _thr(logg_max, _DEX))


def _vsini_nonnegative(t, vsini_min):
    return column_values(t, "vsini", _KMS) >= _thr(vsini_min, _KMS)


def _teff_max(t, teff_max):
    return column_values(t, "teff", u.K) <= _thr(teff_max, u.K)


def _teff_min(t, teff_min):
    return column_values(t, "teff", u.K) > _thr(teff_min, u.K)


def _snr_min(t, snr_min):
    return column_values(t, "snr") >= _thr(snr_min, None)


def _chi2ratio_max(t, chi2ratio_max):
    return column_values(t, "chi2ratio") <= _thr(chi2ratio_max, None)


def _rv_defined(t, rv_err_max):
    rv = column_values(t, "rv", _KMS)
    rv_err = column_values(t, "rv_err", _KMS)
    return np.isfinite(rv) & np.isfinite(rv_err) & (rv_err <= _thr(rv_err_max, _KMS))


def _parameters_defined(t):
    ok = np.ones(len(t), dtype=bool)
    for name in ("teff", "logg", "feh"):
        ok &= np.isfinite(column_values(t, name))
    return ok


def _feh_err_max(t, feh_err_max):
    return column_values(t, "feh_err", _DEX) < _thr(feh_err_max, _DEX)


_LAMOST_CUTS = (
    Cut(
        "logg_range",
        "keep logg_min <= logg <= logg_max (2 <= logg <= 5 dex): logg < 2 may be "
        "chemically peculiar stars with wrong gravities, logg > 5 hot subdwarfs",
        "Hawkins 2023 sec. 2.1 (i)",
        ("logg",),
        _logg_range,
        MappingProxyType({"logg_min": 2.0, "logg_max": 5.0}),
        units=MappingProxyType({"logg_min": _DEX, "logg_max": _DEX}),
    ),
    Cut(
        "vsini_nonnegative",
        "keep vsini >= vsini_min (0 km/s): negative vsini are pipeline extrapolations",
        "Hawkins 2023 sec. 2.1 (ii)",
        ("vsini",),
        _vsini_nonnegative,
        MappingProxyType({"vsini_min": 0.0}),
        units=MappingProxyType({"vsini_min": _KMS}),
    ),
    Cut(
        "teff_max",
        "keep teff <= teff_max (25,000 K): hotter O stars need NLTE corrections",
        "Hawkins 2023 sec. 2.1 (iii)",
        ("teff",),
        _teff_max,
        MappingProxyType({"teff_max": 25000.0}),
        units=MappingProxyType({"teff_max": u.K}),
    ),
    Cut(
        "teff_min",
        "keep teff > teff_min (7,000 K): the hot-star catalogue's own range",
        "Hawkins 2023 sec. 2.1 (end); docs/method.md sec. 2",
        ("teff",),
        _teff_min,
        MappingProxyType({"teff_min": 7000.0}),
        units=MappingProxyType({"teff_min": u.K}),
    ),
    Cut(
        "snr_min",
        "keep snr >= snr_min (30; g-band SNR under the default column map)",
        "Hawkins 2023 sec. 2.1 (iv)",
        ("snr",),
        _snr_min,
        MappingProxyType({"snr_min": 30.0}),
        units=MappingProxyType({"snr_min": None}),
    ),
    Cut(
        "chi2ratio_max",
        "keep chi2ratio <= chi2ratio_max (10): spectral fits that are not "
        "10-sigma outliers in reduced chi^2",
        "Hawkins 2023 sec. 2.1 (v)",
        ("chi2ratio",),
        _chi2ratio_max,
        MappingProxyType({"chi2ratio_max": 10.0}),
        units=MappingProxyType({"chi2ratio_max": None}),
    ),
    Cut(
        "rv_defined",
        "keep finite rv and rv_err with rv_err <= rv_err_max (100 km/s)",
        "Hawkins 2023 sec. 2.1 (vi)",
        ("rv", "rv_err"),
        _rv_defined,
        MappingProxyType({"rv_err_max": 100.0}),
        units=MappingProxyType({"rv_err_max": _KMS}),
    ),
    Cut(
        "parameters_defined",
        "keep finite teff, logg and feh",
        "Hawkins 2023 sec. 2.1 (vi)",
        ("teff", "logg", "feh"),
        _parameters_defined,
        MappingProxyType({}),
    ),
    Cut(
        "feh_err_max",
        "keep feh_err < feh_err_max (0.20 dex, strict)",
        "Hawkins 2023 sec. 2.1 (vi)",
        ("feh_err",),
        _feh_err_max,
        MappingProxyType({"feh_err_max": 0.20}),
        units=MappingProxyType({"feh_err_max": _DEX}),
    ),
)


# -- Gaia DR3 giants, Hawkins (2023) section 2.2 --


def _teff_gspspec_max(t, teff_gspspec_max):
    return column_values(t, "teff_gspspec", u.K) < _thr(teff_gspspec_max, u.K)


def _logg_gspspec_max(t, logg_gspspec_max):
    return column_values(t, "logg_gspspec", _DEX) < _thr(logg_gspspec_max, _DEX)


def _mh_defined(t):
    return np.isfinite(column_values(t, "mh_gspspec"))


_GIANT_CUTS = (
    Cut(
        "teff_gspspec_max",
        "keep teff_gspspec < teff_gspspec_max (4700 K, strict): cool giants",
        "Hawkins 2023 sec. 2.2",
        ("teff_gspspec",),
        _teff_gspspec_max,
        MappingProxyType({"teff_gspspec_max": 4700.0}),
        units=MappingProxyType({"teff_gspspec_max": u.K}),
    ),
    Cut(
        "logg_gspspec_max",
        "keep logg_gspspec < logg_gspspec_max (2.0 dex, strict): bright giants",
        "Hawkins 2023 sec. 2.2",
        ("logg_gspspec",),
        _logg_gspspec_max,
        MappingProxyType({"logg_gspspec_max": 2.0}),
        units=MappingProxyType({"logg_gspspec_max": _DEX}),
    ),
    Cut(
        "mh_defined",
        "keep finite mh_gspspec (the gradient-sample query already asks for it; "
        "a fit cannot use a missing [M/H])",
        "fastgrad's choice (docs/method.md sec. 1)",
        ("mh_gspspec",),
        _mh_defined,
        MappingProxyType({}),
    ),
)


# -- Gaia DR3 GSP-Spec flags_gspspec, optional (not in the paper): Recio-Blanco et al.
# (2023, A&A 674, A29) Table 2 for the characters, fastgrad.gspspec for the sources of
# the thresholds (default: the "medium quality" of Gaia Collaboration, Recio-Blanco et
# al. 2023, A&A 674, A38; gspspec.BEST_QUALITY as thresholds= for their "best") --


def _gspspec_flags_at_most(t, names, param, **params):
    threshold = params[param]
    try:
        flags = t["flags_gspspec"]
    except (KeyError, ValueError):
        raise MissingColumnsError("column 'flags_gspspec' is missing", ["flags_gspspec"]) from None
    # NaN (no or short flag string) compares false: the star goes
    return np.all(gspspec.flag_values(flags, names) <= _thr(threshold, None), axis=0)


def _gspspec_cut(name, flags, param, what):
    default = gspspec.MEDIUM_QUALITY[param]
    return Cut(
        name,
        f"keep {', '.join(flags)} <= {param} ({default}{'; 9: no cut' if default == 9 else ''}): "
        f"{what}; no flags_gspspec: removed",
        "Recio-Blanco et al. 2023 Table 2; optional, fastgrad.gspspec",
        ("flags_gspspec",),
        functools.partial(_gspspec_flags_at_most, names=flags, param=param),
        MappingProxyType({param: default}),
        units=MappingProxyType({param: None}),
    )


_GSPSPEC_FLAG_CUTS = (
    _gspspec_cut(
        "gspspec_vbroad",
        ("vbroadT", "vbroadG", "vbroadM"),
        "vbroad_flag_max",
        "line-broadening-induced biases in Teff, logg, [M/H]",
    ),
    _gspspec_cut(
        "gspspec_vrad",
        ("vradT", "vradG", "vradM"),
        "vrad_flag_max",
        "radial-velocity-induced biases in Teff, logg, [M/H]",
    ),
    _gspspec_cut(
        "gspspec_flux_noise",
        ("fluxNoise",),
        "flux_noise_flag_max",
        "flux-noise-induced uncertainties",
    ),
    _gspspec_cut(
        "gspspec_extrapol",
        ("extrapol",),
        "extrapol_flag_max",
        "extrapolation of the parametrisation beyond the grid",
    ),
    _gspspec_cut(
        "gspspec_spectrum",
        ("negFlux", "nanFlux", "emission", "nullFluxErr"),
        "spectrum_flags_max",
        "negative or NaN flux, emission, null flux errors",
    ),
    _gspspec_cut(
        "gspspec_kmgiant",
        ("KMgiantPar",),
        "kmgiant_flag_max",
        "parametrisation of cool KM-type giants",
    ),
)


# -- astrometric cuts for both samples, Hawkins (2023) section 2.3 --


def _parallax_precision(t, parallax_over_error_min):
    if "parallax_over_error" in t.colnames:
        poe = column_values(t, "parallax_over_error")
    else:
        poe = column_values(t, "parallax", u.mas) / column_values(t, "parallax_error", u.mas)
    return poe > _thr(parallax_over_error_min, None)


def _distance_precision(t, distance_frac_error_max):
    r_med = column_values(t, "r_med_geo", u.pc)
    r_lo = column_values(t, "r_lo_geo", u.pc)
    r_hi = column_values(t, "r_hi_geo", u.pc)
    sigma = (r_hi - r_lo) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = sigma / r_med
    # r_lo > r_hi would make sigma negative and pass any threshold
    return (r_med > 0) & (r_lo <= r_hi) & (frac <= _thr(distance_frac_error_max, None))


def _rv_finite(t, rv_column):
    if rv_column is None:
        rv_column = "rv" if "rv" in t.colnames else "radial_velocity"
    return np.isfinite(column_values(t, rv_column, _KMS))


_ASTROMETRIC_CUTS = (
    Cut(
        "parallax_precision",
        "keep parallax_over_error > parallax_over_error_min (1/0.3, "
        "strict): parallax uncertainty better than 30 %",
        "Hawkins 2023 sec. 2.3",
        ("parallax_over_error",),
        _parallax_precision,
        MappingProxyType({"parallax_over_error_min": 1.0 / 0.3}),
        units=MappingProxyType({"parallax_over_error_min": None}),
    ),
    Cut(
        "distance_precision",
        "keep sigma_d / r_med_geo <= distance_frac_error_max (0.30), "
        "sigma_d = (r_hi_geo - r_lo_geo) / 2, r_med_geo > 0 and r_lo_geo <= r_hi_geo; no "
        "distance: removed",
        "Hawkins 2023 sec. 2.3; sigma_d: fastgrad's choice (docs/method.md sec. 2)",
        ("r_med_geo", "r_lo_geo", "r_hi_geo"),
        _distance_precision,
        MappingProxyType({"distance_frac_error_max": 0.30}),
        units=MappingProxyType({"distance_frac_error_max": None}),
    ),
    Cut(
        "rv_finite",
        "keep a finite radial velocity (rv_column; None: 'rv', the LAMOST RV, "
        "when present, else Gaia's 'radial_velocity')",
        "Hawkins 2023 sec. 2.1 (vi), 2.3",
        ("rv|radial_velocity",),
        _rv_finite,
        MappingProxyType({"rv_column": None}),
    ),
)


# -- other surveys: their usual quality selections (not the paper's) --


def _flags(t, name):
    """Integer flag column ``name`` as int64 and the rows where it is missing
    (masked, NaN): a missing flag never passes a flag cut."""
    try:
        col = t[name]
    except (KeyError, ValueError):
        raise MissingColumnsError(f"column {name!r} is missing", [name]) from None
    data = getattr(col, "data", col)
    missing = np.ma.getmaskarray(data)
    values = np.asarray(np.ma.getdata(data) if np.ma.isMaskedArray(data) else data)
    if values.dtype.kind == "f":
        missing = missing | ~np.isfinite(values)
        whole = np.where(missing, 0.0, values)
        reject_rows(f"column {name!r}", whole != np.round(whole), "are not integer flags")
        values = whole.astype(np.int64)
    elif values.dtype.kind not in "iub":
        raise InputError(f"column {name!r} holds {values.dtype} values; expected integer flags")
    return values.astype(np.int64), missing


def _bit_mask(name, value):
    if value != int(value) or not 0 <= value < 2**63:
        raise ValueError(f"{name}: expected a non-negative integer bit mask, got {value!r}")
    return int(value)


def _extratarg_main(t, extratarg_mask):
    flags, missing = _flags(t, "extratarg")
    return ~missing & ((flags & _bit_mask("extratarg_mask", extratarg_mask)) == 0)


#: ASPCAPFLAG bit STAR_BAD in SDSS DR16/DR17 (Holtzman et al. 2018; Jönsson et al. 2020)
APOGEE_STAR_BAD_BIT = 23


def _star_bad_unset(t):
    flags, missing = _flags(t, "aspcapflag")
    return ~missing & ((flags >> APOGEE_STAR_BAD_BIT) & 1 == 0)


def _snr_above(t, snr_min):
    return column_values(t, "snr") > _thr(snr_min, None)


def _feh_defined(t):
    return np.isfinite(column_values(t, "feh", _DEX)) & np.isfinite(
        column_values(t, "feh_err", _DEX)
    )


def _logg_giant_max(t, logg_max):
    return column_values(t, "logg", _DEX) < _thr(logg_max, _DEX)


_APOGEE_CUTS = (
    Cut(
        "extratarg_main",
        "keep (extratarg & extratarg_mask) == 0, default 31 = EXTRATARG bits "
        "0-4 unset (NOT_MAIN, COMMISSIONING, TELLURIC, APO1M, DUPLICATE): main-survey targets, "
        "one allStar entry per star (DUPLICATE marks all but a star's highest-S/N entry)",
        "SDSS DR17 allStar EXTRATARG bitmask (Abdurro'uf et al. 2022; bit meanings from the "
        "DR17 bitmask page, not re-read here); the usual 'EXTRATARG == 0' selection",
        ("extratarg",),
        _extratarg_main,
        MappingProxyType({"extratarg_mask": 31}),
        units=MappingProxyType({"extratarg_mask": None}),
    ),
    Cut(
        "star_bad_unset",
        "keep ASPCAPFLAG bit 23 (STAR_BAD) unset: ASPCAP parameters usable",
        "SDSS DR17 ASPCAPFLAG bitmask (bit 23 = STAR_BAD confirmed in the APOGEE pipeline's "
        "flag list); the usual STAR_BAD selection",
        ("aspcapflag",),
        _star_bad_unset,
        MappingProxyType({}),
    ),
    Cut(
        "snr_min",
        "keep snr > snr_min (70, strict): allStar combined-spectrum S/N per pixel",
        "a common APOGEE DR17 choice (fastgrad's default, not a survey rule)",
        ("snr",),
        _snr_above,
        MappingProxyType({"snr_min": 70.0}),
        units=MappingProxyType({"snr_min": None}),
    ),
    Cut(
        "feh_defined",
        "keep finite feh and feh_err (allStar FE_H, FE_H_ERR)",
        "fastgrad's choice (a fit cannot use a missing [Fe/H])",
        ("feh", "feh_err"),
        _feh_defined,
        MappingProxyType({}),
    ),
)

_APOGEE_GIANT_CUTS = (
    Cut(
        "logg_giant_max",
        "keep logg < logg_max (3.5 dex, strict): red giants",
        "the usual APOGEE giant selection (fastgrad's default)",
        ("logg",),
        _logg_giant_max,
        MappingProxyType({"logg_max": 3.5}),
        units=MappingProxyType({"logg_max": _DEX}),
    ),
)


def _flag_zero(name):
    def keep(t):
        flags, missing = _flags(t, name)
        return ~missing & (flags == 0)

    return keep


_GALAH_CUTS = (
    Cut(
        "flag_sp_zero",
        "keep flag_sp == 0: no stellar-parameter quality flag raised",
        "Buder et al. 2021 (GALAH DR3) best practice",
        ("flag_sp",),
        _flag_zero("flag_sp"),
        MappingProxyType({}),
    ),
    Cut(
        "flag_fe_h_zero",
        "keep flag_fe_h == 0: unflagged [Fe/H]",
        "Buder et al. 2021 (GALAH DR3) best practice",
        ("flag_fe_h",),
        _flag_zero("flag_fe_h"),
        MappingProxyType({}),
    ),
    Cut(
        "snr_min",
        "keep snr > snr_min (30, strict): snr_c3_iraf, the S/N per pixel of CCD 3",
        "Buder et al. 2021 (GALAH DR3) best practice",
        ("snr",),
        _snr_above,
        MappingProxyType({"snr_min": 30.0}),
        units=MappingProxyType({"snr_min": None}),
    ),
)


def _g_max(t, g_max):
    return column_values(t, "phot_g_mean_mag", u.mag) < _thr(g_max, u.mag)


def _logg_xgboost_max(t, logg_xgboost_max):
    return column_values(t, "logg_xgboost", _DEX) < _thr(logg_xgboost_max, _DEX)


def _teff_xgboost_max(t, teff_xgboost_max):
    return column_values(t, "teff_xgboost", u.K) < _thr(teff_xgboost_max, u.K)


def _mh_xgboost_defined(t):
    return np.isfinite(column_values(t, "mh_xgboost", _DEX))


_XP_GIANT_CUTS = (
    Cut(
        "g_max",
        "keep phot_g_mean_mag < g_max (16 mag, strict): bright stars",
        "Andrae et al. 2023 (ApJS 267, 8), vetted giants ('bright (G < 16 mag) red giants', "
        "confirmed in the table's description)",
        ("phot_g_mean_mag",),
        _g_max,
        MappingProxyType({"g_max": 16.0}),
        units=MappingProxyType({"g_max": u.mag}),
    ),
    Cut(
        "logg_xgboost_max",
        "keep logg_xgboost < logg_xgboost_max (3.5 dex, strict): giants",
        "Andrae et al. 2023 giant selection: threshold NOT confirmed here (recalled, not "
        "read); their table 2 is already vetted",
        ("logg_xgboost",),
        _logg_xgboost_max,
        MappingProxyType({"logg_xgboost_max": 3.5}),
        units=MappingProxyType({"logg_xgboost_max": _DEX}),
    ),
    Cut(
        "teff_xgboost_max",
        "keep teff_xgboost < teff_xgboost_max (5200 K, strict): red giants",
        "Andrae et al. 2023 giant selection: threshold NOT confirmed here (recalled, not "
        "read); their table 2 is already vetted",
        ("teff_xgboost",),
        _teff_xgboost_max,
        MappingProxyType({"teff_xgboost_max": 5200.0}),
        units=MappingProxyType({"teff_xgboost_max": u.K}),
    ),
    Cut(
        "mh_xgboost_defined",
        "keep finite mh_xgboost",
        "fastgrad's choice (a fit cannot use a missing [M/H])",
        ("mh_xgboost",),
        _mh_xgboost_defined,
        MappingProxyType({}),
    ),
)


# -- the halo cut for both samples, Hawkins (2023) section 2.4 --


def _halo_keep(t, p_halo_max):
    return column_values(t, "p_halo") < as_scalar(
        "p_halo_max", p_halo_max, u.dimensionless_unscaled, minimum=0.0, maximum=1.0
    )


#: The paper's halo cut (Hawkins 2023 sec. 2.4): keep P_halo < 1 %
#: (:data:`fastgrad.paper.P_HALO_MAX`). Not a preset: ``p_halo`` comes from
#: :func:`fastgrad.populations.add_kinematic_probabilities`, which
#: :func:`fastgrad.populations.halo_cut` runs first when it is missing.
HALO_CUT = Cut(
    "halo",
    "keep p_halo < p_halo_max (0.01): drop stars with a 1 % or higher "
    "probability of belonging to the halo; NaN (no velocity) removed",
    "Hawkins 2023 sec. 2.4; docs/method.md sec. 4",
    ("p_halo",),
    _halo_keep,
    MappingProxyType({"p_halo_max": paper.P_HALO_MAX}),
    units=MappingProxyType({"p_halo_max": None}),
)

#: Named cut presets, in the order they are applied (docs/method.md section 2):
#: the paper's (``lamost_hot_stars``, ``gaia_giants``, ``astrometric``) and
#: other surveys' usual selections (``apogee_dr17``, ``apogee_dr17_giants``,
#: ``galah_dr3``, ``xp_giants``; not the paper's: each cut's ``section`` says
#: where it comes from and what is not confirmed).
CUT_PRESETS = MappingProxyType(
    {
        "lamost_hot_stars": _LAMOST_CUTS,
        "gaia_giants": _GIANT_CUTS,
        "astrometric": _ASTROMETRIC_CUTS,
        "gspspec_flags": _GSPSPEC_FLAG_CUTS,
        "apogee_dr17": _APOGEE_CUTS,
        "apogee_dr17_giants": _APOGEE_GIANT_CUTS,
        "galah_dr3": _GALAH_CUTS,
        "xp_giants": _XP_GIANT_CUTS,
    }
)


def get_cuts(cuts: str | Cut | Sequence[str | Cut]) -> tuple[Cut, ...]:
    """A tuple of :class:`Cut` from a preset name, a Cut, or a list mixing both.

    Examples
    --------
    >>> from fastgrad.cuts import get_cuts
    >>> [c.name for c in get_cuts("gaia_giants")]
    ['teff_gspspec_max', 'logg_gspspec_max', 'mh_defined']
    >>> cut = get_cuts("lamost_hot_stars")[2]
    >>> cut.name, cut.params["teff_max"], cut.section
    ('teff_max', 25000.0, 'Hawkins 2023 sec. 2.1 (iii)')
    """
    if isinstance(cuts, (str, Cut)):
        cuts = [cuts]
    out = []
    for item in cuts:
        if isinstance(item, Cut):
            out.append(item)
        elif isinstance(item, str):
            if item not in CUT_PRESETS:
                raise ValueError(
                    f"unknown cut preset {item!r}; use one of {sorted(CUT_PRESETS)} or Cut objects"
                )
            out.extend(CUT_PRESETS[item])
        else:
            raise TypeError(f"cuts: expected a preset name or a Cut, got {type(item).__name__}")
    names = [c.name for c in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"cuts: names must be unique, {dup} repeat")
    return tuple(out)


def cut_parameters(cuts: str | Cut | Sequence[str | Cut]) -> frozenset[str]:
    """The threshold names a preset (or Cut, or list of them) takes.

    Parameters
    ----------
    cuts : str, Cut or sequence of them
        As in :func:`apply_cuts`, e.g. ``"lamost_hot_stars"``.

    Returns
    -------
    frozenset of str
        The names :func:`apply_cuts` accepts in ``thresholds=`` for these
        cuts, e.g. ``cut_parameters("astrometric") == {"parallax_over_error_min",
        "distance_frac_error_max", "rv_column"}``.

    Examples
    --------
    >>> from fastgrad.cuts import cut_parameters
    >>> sorted(cut_parameters("astrometric"))
    ['distance_frac_error_max', 'parallax_over_error_min', 'rv_column']
    """
    return frozenset(p for c in get_cuts(cuts) for p in c.params)


def apply_cuts(
    table: Table | pd.DataFrame,
    cuts: str | Cut | Sequence[str | Cut],
    *,
    thresholds: Mapping[str, Any] | None = None,
    consume: bool = False,
) -> tuple[Table, Table]:
    """Apply quality cuts in order and report what each removed.

    Parameters
    ----------
    table : astropy.table.Table or pandas.DataFrame
    cuts : str, Cut or sequence of them
        A preset name (the paper's ``"lamost_hot_stars"``, ``"gaia_giants"``,
        ``"astrometric"``; other surveys' ``"apogee_dr17"``,
        ``"apogee_dr17_giants"``, ``"galah_dr3"``, ``"xp_giants"``; see
        :data:`CUT_PRESETS`), a :class:`Cut`, or a list of them, applied in
        order.
    thresholds : dict, optional
        Parameter name -> value (canonical units or a Quantity), e.g.
        ``{"snr_min": 20, "feh_err_max": 0.4}``; each goes to every cut that
        takes it. A name no cut takes raises ``ValueError`` naming it and the
        known ones (a misspelt name never leaves the default in force; the
        names of a preset: :func:`cut_parameters`). A numeric threshold must
        be one finite real number or a Quantity in a unit convertible to the
        cut's (:attr:`Cut.units`); anything else raises, naming the key.
    consume : bool, optional
        Move the columns out of ``table`` (a Table): each column leaves
        ``table`` as soon as its surviving rows are copied, so the copy can
        reuse the memory the earlier columns freed instead of a second
        table's worth of new memory. ``table`` is left with no columns,
        also when every row survives. For a pipeline's own intermediate
        tables; default False: ``table`` is untouched.

    Returns
    -------
    kept : astropy.table.Table
        The surviving rows; ``meta['quality_cuts']`` gains one dict per cut
        (the report's rows, plus the thresholds used).
    report : astropy.table.Table
        One row per cut: ``cut``, ``n_before``, ``n_removed``, ``n_after``,
        ``n_nonfinite`` (of the removed rows, those with a non-finite value in
        the cut's columns), ``section``, ``description``. A row removed by an
        earlier cut is not counted again.

    Raises
    ------
    MissingColumnsError
        A cut's column is absent: the message names the column, the cut and
        how to map the column or switch the cut off; ``.missing`` holds the
        columns, ``.cut`` the cut's name and ``.report`` the report rows of
        the cuts before it (so a run can still write what they removed).
    TypeError
        ``table`` is neither a Table nor a DataFrame; a threshold is not a
        number (naming its key).
    astropy.units.UnitConversionError
        A threshold's unit does not convert to the cut's (naming its key).

    Examples
    --------
    The paper's LAMOST cuts (section 2.1) on 500 mock candidates:

    >>> import fastgrad
    >>> lamost = fastgrad.make_survey("lamost_hot_stars", 500, seed=1)["lamost"]
    >>> kept, report = fastgrad.apply_cuts(lamost, "lamost_hot_stars")
    >>> report["cut", "n_before", "n_removed", "n_after", "n_nonfinite"].pprint_all()
           cut         n_before n_removed n_after n_nonfinite
    ------------------ -------- --------- ------- -----------
            logg_range      500        35     465           0
     vsini_nonnegative      465         8     457           0
              teff_max      457         5     452           0
              teff_min      452        16     436           0
               snr_min      436       223     213           0
         chi2ratio_max      213         8     205           0
            rv_defined      205         3     202           2
    parameters_defined      202         1     201           1
           feh_err_max      201         3     198           0
    >>> len(fastgrad.apply_cuts(lamost, "lamost_hot_stars", thresholds={"snr_min": 50})[0])
    147
    """
    table = as_table("table", table)
    cuts = get_cuts(cuts)
    try:
        alive, counts, used = evaluate_cuts(table, cuts, thresholds)
    except MissingColumnsError as exc:
        # the counts of the cuts that ran before the one that stopped
        exc.report = report_table(
            _report_rows(getattr(exc, "counts", []), getattr(exc, "params", []))
        )
        raise
    rows = _report_rows(counts, used)
    kept = kept_rows(table, alive, consume=consume)
    report = report_table(rows)
    history = list(kept.meta.get("quality_cuts", []))
    history += [
        {
            **{k: r[k] for k in REPORT_COLUMNS if k != "description"},
            "params": {k: _jsonable(v) for k, v in r["params"].items()},
        }
        for r in rows
    ]
    kept.meta["quality_cuts"] = history
    return kept, report


def _report_rows(counts, used):
    return [
        {
            "cut": cut.name,
            "n_before": n_before,
            "n_removed": n_removed,
            "n_after": n_before - n_removed,
            "n_nonfinite": n_nonfinite,
            "section": cut.section,
            "description": cut.description,
            "params": {**cut.params, **params},
        }
        for (cut, n_before, n_removed, n_nonfinite), params in zip(counts, used)
    ]


def evaluate_cuts(
    table: Any,
    cuts: str | Cut | Sequence[str | Cut],
    thresholds: Mapping[str, Any] | None = None,
    *,
    what: str = "table",
) -> tuple[np.ndarray, list[tuple[Cut, int, int, int]], list[dict[str, Any]]]:
    """The rows that survive ``cuts`` (a list of :class:`Cut`) applied in order,
    and what each removed: the counting behind :func:`apply_cuts` and the Dask
    partition filters (``table``: anything with ``colnames`` and columns).

    Returns
    -------
    alive : bool ndarray
    counts : list of (cut, n_before, n_removed, n_nonfinite)
    params : list of dict, the thresholds each cut was given

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.table import Table
    >>> from fastgrad.cuts import evaluate_cuts, get_cuts
    >>> t = Table({"teff": [8000.0, 30000.0, np.nan]})
    >>> teff_cuts = [c for c in get_cuts("lamost_hot_stars") if c.name.startswith("teff")]
    >>> alive, counts, params = evaluate_cuts(t, teff_cuts)
    >>> alive
    array([ True, False, False])
    >>> [(c.name, n_before, n_removed, n_nan) for c, n_before, n_removed, n_nan in counts]
    [('teff_max', 3, 2, 1), ('teff_min', 1, 0, 0)]
    """
    if is_dataframe(table):
        table = as_table("table", table)
    elif not hasattr(table, "colnames"):
        raise TypeError(
            f"{what}: expected an astropy Table or a pandas DataFrame, got {type(table).__name__}"
        )
    if thresholds is not None and not isinstance(thresholds, Mapping):
        raise TypeError(
            f"thresholds: expected a dict of name -> value, got {type(thresholds).__name__}"
        )
    thresholds = dict(thresholds or {})
    known = {p for c in cuts for p in c.params}
    unknown = sorted(set(thresholds) - known)
    if unknown:
        raise ValueError(f"thresholds: unknown name(s) {unknown}; these cuts take {sorted(known)}")
    alive = np.ones(len(table), dtype=bool)
    counts, used = [], []
    for cut in cuts:
        params = {k: v for k, v in thresholds.items() if k in cut.params}
        checked = _checked_params(cut, params, "thresholds")
        try:
            keep = cut.keep(table, **checked)
        except MissingColumnsError as exc:
            err = _missing_for_cut(cut, exc.missing, table, what)
            err.counts, err.params = counts, used  # what ran before: for a partial report
            raise err from None
        removed = alive & ~keep
        nonfinite = _nonfinite(table, cut.columns)
        counts.append(
            (
                cut,
                int(np.count_nonzero(alive)),
                int(np.count_nonzero(removed)),
                int(np.count_nonzero(removed & nonfinite)),
            )
        )
        used.append(params)
        alive &= keep
    return alive, counts, used


def _missing_for_cut(cut, missing, table, what):
    """The error for a cut whose column is absent: names the column, the cut
    and the two ways out (map a file column to it, or switch the cut off)."""
    missing = tuple(missing)
    names = ", ".join(repr(m) for m in missing)
    shown = ", ".join(table.colnames[:40]) + (", ..." if len(table.colnames) > 40 else "")
    first = missing[0] if missing else "COLUMN"
    return MissingColumnsError(
        f"cut {cut.name!r} ({cut.section}) needs column(s) {names}, which the "
        f"{what}{source_label(table)} does not have (it has {shown}). Either map the file "
        f"column that holds it, in a run's TOML "
        f'[samples.NAME.columns.INPUT] FILE_COLUMN = "{first}" (Python: '
        f"read_catalog(..., columns={{'FILE_COLUMN': '{first}'}})), or switch the cut off: "
        f"[samples.NAME.cuts] {cut.name} = false",
        missing,
        cut=cut.name,
    )


def _nonfinite(table, columns):
    """Rows with a non-finite value in any of ``columns`` ("a|b": the first of
    a, b present)."""
    bad = np.zeros(len(table), dtype=bool)
    for spec in columns:
        name = next((n for n in spec.split("|") if n in table.colnames), None)
        if name is not None and table[name].dtype.kind in "fiu":
            bad |= ~np.isfinite(column_values(table, name))
    return bad


def _jsonable(value):
    if isinstance(value, u.Quantity):
        return f"{value}"
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value
