"""Samples as data: which catalogues, how they join, which cuts, which metallicity.

docs/samples.md; docs/method.md sections 1-2. A :class:`SampleSpec` says
everything the pipeline needs to know about one survey sample:

- its **inputs** (name -> catalogue kind of :func:`fastgrad.read_catalog`), the
  first being the *primary* table (the spectra, or Gaia itself);
- how a separate Gaia table **joins** the primary (a sky match within
  ``match_radius_arcsec``, or ``source_id``), and whether repeat spectra of one
  Gaia source are reduced to the highest-SNR one (``repeat_spectra``);
- its ordered **cuts**: cut presets of :data:`fastgrad.cuts.CUT_PRESETS`
  applied to the primary table before the join (``cuts_before``) and to the
  joined sample (``cuts_after``); any cut can be switched off or given another
  threshold per sample;
- the **metallicity** column and its error recipe, the **radial velocity**
  source, the **distance** source;
- per-sample overrides of the **fit** and **azimuthal** settings;
- the :mod:`fastgrad.mock` catalogue that stands in for it with no input files.

:data:`PRESETS` holds the named specs (the paper's ``hotpayne`` and
``gspspec_giants``, and ``apogee_dr17``, ``galah_dr3``, ``xp_giants``).
:func:`resolve_sample` builds a spec from a ``[samples.NAME]`` TOML table
(a preset plus overrides, or every field given), checking every key.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from . import paper
from .errors import ConfigError

if TYPE_CHECKING:
    from typing import Any


__all__ = [
    "SampleSpec",
    "PRESETS",
    "PAPER_NAMES",
    "DISTANCE_SOURCES",
    "resolve_sample",
    "metallicity_error_recipe",
    "cut_switches",
]

#: Where a sample's distances come from (docs/method.md section 2):
#: ``bailer_jones_geo`` / ``bailer_jones_photogeo`` (Bailer-Jones et al. 2021,
#: 16th/50th/84th percentiles, joined by ``source_id`` from the ``distances``
#: input), ``parallax`` (1/parallax, error parallax_error/parallax^2: only
#: sensible with a precise parallax), ``catalog`` (the primary table's own
#: ``distance`` and ``distance_error`` columns, kpc).
DISTANCE_SOURCES = ("bailer_jones_geo", "bailer_jones_photogeo", "parallax", "catalog")

#: Calibrations of the fitted metallicity (``SampleSpec.metallicity_calibration``).
METALLICITY_CALIBRATIONS = ("none", "recio_blanco2023")

#: The ways a separate Gaia input attaches to the primary table.
JOINS = ("sky", "source_id")


@dataclass(frozen=True)
class SampleSpec:
    """Everything the pipeline needs to know about one survey sample.

    Attributes
    ----------
    name : str
        The preset's name (``"custom"`` for a sample given field by field).
    description : str
        What the sample is, with its reference.
    inputs : mapping of str to str
        Input name -> catalogue kind (:data:`fastgrad.schema.CATALOG_KINDS`),
        the primary table first. ``gaia`` is a Gaia DR3 table joined to the
        primary; ``distances`` a Bailer-Jones table joined by ``source_id``.
    join : {"sky", "source_id"}
        How the ``gaia`` input attaches to the primary (ignored without one).
    match_radius_arcsec : float
        The sky match's radius (arcsec; the paper's 2", docs/method.md sec. 1).
    repeat_spectra : bool
        Several rows of the primary matched to one Gaia source keep the one of
        highest ``snr`` (a counted step of the cut report).
    cuts_before, cuts_after : tuple of str
        Cut presets (:data:`fastgrad.cuts.CUT_PRESETS`) applied in order to the
        primary table before the join, and to the joined sample after the
        distances.
    metallicity : str
        The canonical column fitted (dex).
    metallicity_error : str
        Its error (dex): a column name, ``"half_interval:LO,HI"`` (half the
        distance between two percentile columns), or a number (dex, the same
        for every star; for catalogues that give none).
    metallicity_calibration : {"none", "recio_blanco2023"}
        A calibration applied to the metallicity before the fits:
        ``"recio_blanco2023"`` is the logg polynomial of Recio-Blanco et al.
        (2023) for GSP-Spec [M/H] (:func:`fastgrad.gspspec.calibrate_mh`;
        reads ``logg_gspspec``; stars outside its logg range become NaN and
        the counted step ``fit_inputs_finite`` removes them). ``"none"`` (the
        paper's choice, the default) fits the catalogue's values.
    radial_velocity, radial_velocity_error : str
        The columns of the line-of-sight velocity and its error (km/s).
    distance : str
        One of :data:`DISTANCE_SOURCES`.
    mock : str or None
        The :func:`fastgrad.make_survey` kind that stands in for the sample
        when no input file is given (``None``: inputs required).
    label : str
        The metallicity's axis label ("[Fe/H]", "[M/H]").
    fit, azimuthal : mapping
        Overrides of the run's ``[fit]`` and ``[azimuthal]`` settings.
    unconfirmed : str
        What of the survey's data model could not be checked when the preset
        was written ("" when everything was).

    Examples
    --------
    The paper's LAMOST sample (preset ``"hotpayne"``):

    >>> from fastgrad.samples import PRESETS
    >>> spec = PRESETS["hotpayne"]
    >>> dict(spec.inputs)
    {'spectra': 'lamost_hot_stars', 'gaia': 'gaia', 'distances': 'bailer_jones'}
    >>> spec.join, spec.match_radius_arcsec, spec.cuts_before, spec.cuts_after
    ('sky', 2.0, ('lamost_hot_stars',), ('astrometric',))
    >>> spec.metallicity, spec.metallicity_error, spec.distance
    ('feh', 'feh_err', 'bailer_jones_geo')
    """

    name: str
    description: str
    inputs: Mapping
    join: str = "sky"
    match_radius_arcsec: float = paper.CROSSMATCH_RADIUS_ARCSEC
    repeat_spectra: bool = False
    cuts_before: tuple = ()
    cuts_after: tuple = ("astrometric",)
    metallicity: str = "feh"
    metallicity_error: str = "feh_err"
    metallicity_calibration: str = "none"
    radial_velocity: str = "radial_velocity"
    radial_velocity_error: str = "radial_velocity_error"
    distance: str = "bailer_jones_geo"
    mock: str | None = None
    label: str = "[Fe/H]"
    fit: Mapping = field(default_factory=dict)
    azimuthal: Mapping = field(default_factory=dict)
    unconfirmed: str = ""

    @property
    def primary(self) -> str:
        """The name of the primary input (the first)."""
        return next(iter(self.inputs))

    @property
    def cut_presets(self) -> tuple[str, ...]:
        """Every cut preset the sample applies, in order."""
        return tuple(self.cuts_before) + tuple(self.cuts_after)


def _frozen(spec):
    return dataclasses.replace(
        spec,
        inputs=MappingProxyType(dict(spec.inputs)),
        fit=MappingProxyType(dict(spec.fit)),
        azimuthal=MappingProxyType(dict(spec.azimuthal)),
    )


#: The named sample presets (docs/samples.md). ``hotpayne`` and
#: ``gspspec_giants`` are the paper's two samples (Hawkins 2023, sec. 2).
PRESETS = MappingProxyType(
    {
        s.name: _frozen(s)
        for s in (
            SampleSpec(
                "hotpayne",
                "LAMOST OBAF stars of Xiang et al. (2022, A&A 662, A66; 'HotPayne'), matched "
                "within 2\" to Gaia DR3, Bailer-Jones (2021) geometric distances: the paper's "
                "LAMOST sample (Hawkins 2023, sec. 2.1, 2.3)",
                {"spectra": "lamost_hot_stars", "gaia": "gaia", "distances": "bailer_jones"},
                join="sky",
                repeat_spectra=True,
                cuts_before=("lamost_hot_stars",),
                cuts_after=("astrometric",),
                metallicity="feh",
                metallicity_error="feh_err",
                radial_velocity="rv",
                radial_velocity_error="rv_err",
                mock="lamost_hot_stars",
                label="[Fe/H]",
                unconfirmed="the VizieR column names of J/A+A/662/A66 (give them in "
                "[samples.NAME.columns.spectra])",
            ),
            SampleSpec(
                "gspspec_giants",
                "Gaia DR3 GSP-Spec giants of the gradient sample (Gaia Collaboration, "
                "Recio-Blanco et al. 2023, App. B), Gaia RVs, Bailer-Jones (2021) geometric "
                "distances: the paper's giants (Hawkins 2023, sec. 2.2, 2.3)",
                {"gaia": "gaia_giants", "distances": "bailer_jones"},
                cuts_before=("gaia_giants",),
                cuts_after=("astrometric",),
                metallicity="mh_gspspec",
                metallicity_error="half_interval:mh_gspspec_lower,mh_gspspec_upper",
                mock="gaia_giants",
                label="[M/H]",
            ),
            SampleSpec(
                "apogee_dr17",
                "SDSS-IV APOGEE DR17 allStar (Abdurro'uf et al. 2022) ASPCAP [Fe/H], joined to "
                "Gaia DR3 by GAIAEDR3_SOURCE_ID, Bailer-Jones (2021) geometric distances",
                {"spectra": "apogee_allstar", "gaia": "gaia", "distances": "bailer_jones"},
                join="source_id",
                repeat_spectra=True,
                cuts_before=("apogee_dr17",),
                cuts_after=("astrometric",),
                metallicity="feh",
                metallicity_error="feh_err",
                radial_velocity="rv",
                radial_velocity_error="rv_err",
                label="[Fe/H]",
            ),
            SampleSpec(
                "galah_dr3",
                "GALAH DR3 (Buder et al. 2021) [Fe/H], joined to Gaia DR3 by dr3_source_id, "
                "Bailer-Jones (2021) geometric distances",
                {"spectra": "galah_dr3", "gaia": "gaia", "distances": "bailer_jones"},
                join="source_id",
                repeat_spectra=True,
                cuts_before=("galah_dr3",),
                cuts_after=("astrometric",),
                metallicity="feh",
                metallicity_error="feh_err",
                radial_velocity="rv",
                radial_velocity_error="rv_err",
                label="[Fe/H]",
            ),
            SampleSpec(
                "xp_giants",
                "Gaia DR3 XP metallicities of Andrae et al. (2023, ApJS 267, 8): the vetted "
                "red giants, mh_xgboost, joined to Gaia DR3 by source_id (Gaia RVs), "
                "Bailer-Jones (2021) geometric distances",
                {"xp": "xp_andrae2023", "gaia": "gaia", "distances": "bailer_jones"},
                join="source_id",
                cuts_before=("xp_giants",),
                cuts_after=("astrometric",),
                metallicity="mh_xgboost",
                # Andrae et al. (2023) give no per-star uncertainty; their validation
                # against APOGEE shows ~0.1 dex scatter for the vetted giants (sec. 5)
                metallicity_error="0.1",
                label="[M/H]",
                unconfirmed="a per-star [M/H] error: the catalogue has none, 0.1 dex is the "
                "scatter Andrae et al. (2023) quote for the vetted giants",
            ),
        )
    }
)

#: The paper's sample names: ``[samples.lamost]`` and ``[samples.giants]``
#: take these presets unless they name another.
PAPER_NAMES = MappingProxyType({"lamost": "hotpayne", "giants": "gspspec_giants"})

#: The fields a ``[samples.NAME]`` table may set (besides ``preset``,
#: ``inputs``, ``columns`` and ``cuts``).
_FIELDS = (
    "description",
    "join",
    "match_radius_arcsec",
    "repeat_spectra",
    "cuts_before",
    "cuts_after",
    "metallicity",
    "metallicity_error",
    "metallicity_calibration",
    "radial_velocity",
    "radial_velocity_error",
    "distance",
    "label",
    "fit",
    "azimuthal",
    "input_kinds",
)

#: The keys of a ``[samples.NAME]`` table.
SAMPLE_KEYS = ("preset", "inputs", "columns", "cuts") + _FIELDS


def metallicity_error_recipe(recipe: str | float) -> tuple[str, tuple[Any, ...]]:
    """``(kind, args)`` of a metallicity error recipe: ``("column", (name,))``,
    ``("half_interval", (lo, hi))`` or ``("constant", (dex,))``; ValueError
    when it is none of them.

    Examples
    --------
    >>> from fastgrad.samples import metallicity_error_recipe
    >>> metallicity_error_recipe("feh_err")
    ('column', ('feh_err',))
    >>> metallicity_error_recipe("half_interval:mh_gspspec_lower,mh_gspspec_upper")
    ('half_interval', ('mh_gspspec_lower', 'mh_gspspec_upper'))
    >>> metallicity_error_recipe(0.1)
    ('constant', (0.1,))
    """
    if isinstance(recipe, numbers.Real) and not isinstance(recipe, bool):
        value = float(recipe)
    elif isinstance(recipe, str) and recipe.startswith("half_interval:"):
        cols = tuple(c.strip() for c in recipe.split(":", 1)[1].split(","))
        if len(cols) != 2 or not all(cols):
            raise ValueError(f"'half_interval:LO,HI' names two columns, got {recipe!r}")
        return "half_interval", cols
    elif isinstance(recipe, str) and recipe:
        try:
            value = float(recipe)
        except ValueError:
            return "column", (recipe,)
    else:
        raise ValueError(
            f"expected a column name, 'half_interval:LO,HI' or a number (dex), got {recipe!r}"
        )
    if not (value > 0 and value < float("inf")):
        raise ValueError(
            f"a constant metallicity error must be a positive number of dex, got {recipe!r}"
        )
    return "constant", (value,)


def cut_switches(
    spec: SampleSpec, cuts: Mapping[str, Any] | None
) -> tuple[frozenset[str], dict[str, dict[str, Any]]]:
    """A sample's ``[samples.NAME.cuts]`` table, checked against its cut
    presets, as ``(off, thresholds)``: the names of the cuts switched off and
    ``{preset: {parameter: value}}``.

    Keys: a cut's name with ``false`` (off), ``true`` (on), a number (its
    threshold, when it takes exactly one) or a table of its parameters; or a
    parameter's name with a number. ConfigError names an unknown key.

    Examples
    --------
    Lower the SNR threshold and switch the chi^2 cut off:

    >>> from fastgrad.samples import PRESETS, cut_switches
    >>> cut_switches(PRESETS["hotpayne"], {"snr_min": 20, "chi2ratio_max": False})
    (frozenset({'chi2ratio_max'}), {'lamost_hot_stars': {'snr_min': 20}})
    """
    from .cuts import get_cuts

    by_cut, by_param = {}, {}
    for preset in spec.cut_presets:
        for cut in get_cuts(preset):
            by_cut[cut.name] = (preset, cut)
            for p in cut.params:
                by_param.setdefault(p, []).append((preset, cut))
    off, thresholds = set(), {}

    def _set(preset, param, value, key):
        if isinstance(value, bool) or not isinstance(value, (numbers.Real, str)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        thresholds.setdefault(preset, {})[param] = value

    for key, value in (cuts or {}).items():
        if key in by_cut:
            preset, cut = by_cut[key]
            if isinstance(value, bool):
                if not value:
                    off.add(key)
            elif isinstance(value, dict):
                for p, v in value.items():
                    if p not in cut.params:
                        raise ConfigError(
                            f"cuts.{key}.{p}: cut {key!r} takes "
                            f"{sorted(cut.params) or 'no parameter'}"
                        )
                    _set(preset, p, v, f"cuts.{key}.{p}")
            else:
                numeric = [
                    p
                    for p, d in cut.params.items()
                    if isinstance(d, numbers.Real) and not isinstance(d, bool)
                ]
                if len(numeric) != 1:
                    raise ConfigError(
                        f"cuts.{key}: cut {key!r} takes "
                        f"{sorted(cut.params) or 'no parameter'}: give false to "
                        "switch it off, or its parameters by name"
                    )
                _set(preset, numeric[0], value, f"cuts.{key}")
        elif key in by_param:
            if isinstance(value, bool):
                raise ConfigError(
                    f"cuts.{key}: a threshold takes a number; to switch the cut "
                    f"off write {by_param[key][0][1].name} = false"
                )
            for preset, _ in by_param[key]:
                _set(preset, key, value, f"cuts.{key}")
        else:
            raise ConfigError(
                f"cuts.{key}: unknown cut or threshold; sample preset "
                f"{spec.name!r} has the cuts {sorted(by_cut)} and the thresholds "
                f"{sorted(by_param)}"
            )
    return frozenset(off), thresholds


def resolve_sample(
    name: str, table: Mapping[str, Any]
) -> tuple[SampleSpec, dict[str, Any], dict[str, dict[str, str]], Any]:
    """The :class:`SampleSpec` of a ``[samples.NAME]`` table: its ``preset``
    (default: the preset called NAME, if any, or :data:`PAPER_NAMES`) with
    the table's fields over it.

    A table without a preset must give ``inputs`` with ``input_kinds`` (input
    name -> catalogue kind) and every field that has no default. Returns
    ``(spec, inputs, columns, cuts)``: the spec, the input paths (input ->
    path or None), the column maps (input -> {file column: canonical}) and the
    cut switches (:func:`cut_switches`). ConfigError names the key.

    Examples
    --------
    The ``[samples.giants]`` table of a configuration, the GSP-Spec preset
    with calibrated [M/H]:

    >>> from fastgrad.samples import resolve_sample
    >>> table = {"preset": "gspspec_giants", "inputs": {"gaia": "giants.fits"},
    ...          "metallicity_calibration": "recio_blanco2023"}
    >>> spec, inputs, columns, cuts = resolve_sample("giants", table)
    >>> spec.name, spec.metallicity, spec.metallicity_calibration
    ('gspspec_giants', 'mh_gspspec', 'recio_blanco2023')
    >>> inputs
    {'gaia': 'giants.fits', 'distances': None}
    """
    where = f"samples.{name}"
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table of settings, got {table!r}")
    unknown = sorted(set(table) - set(SAMPLE_KEYS))
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown key; a sample takes {list(SAMPLE_KEYS)}")
    preset = table.get("preset", name if name in PRESETS else PAPER_NAMES.get(name))
    if preset is not None and preset not in PRESETS:
        raise ConfigError(f"{where}.preset: unknown preset {preset!r}; known: {sorted(PRESETS)}")
    fields = {k: table[k] for k in _FIELDS if k in table}
    kinds = fields.pop("input_kinds", None)
    if preset is None:
        if kinds is None:
            raise ConfigError(
                f'{where}: no preset: give input_kinds = {{INPUT = "KIND", ...}} '
                f"(kinds: {_kinds()}), or preset = one of {sorted(PRESETS)}"
            )
        spec = SampleSpec("custom", f"a custom sample ({name})", {})
    else:
        spec = PRESETS[preset]
    if kinds is not None:
        _kinds_table(f"{where}.input_kinds", kinds)
        fields["inputs"] = kinds
    for key in ("fit", "azimuthal"):
        if key in fields:
            if not isinstance(fields[key], dict):
                raise ConfigError(f"{where}.{key}: expected a table of [{key}] settings")
            fields[key] = {**spec.__getattribute__(key), **fields[key]}
    spec = _frozen(dataclasses.replace(spec, **fields))
    _check_spec(where, spec)
    inputs = _inputs(where, spec, table.get("inputs", {}))
    columns = _columns(where, spec, table.get("columns", {}))
    try:
        switches = cut_switches(spec, table.get("cuts", {}))
    except ConfigError as exc:
        raise ConfigError(f"{where}.{exc}") from None
    if not isinstance(table.get("cuts", {}), dict):
        raise ConfigError(f"{where}.cuts: expected a table of cut switches and thresholds")
    return spec, inputs, columns, switches


def _kinds():
    from .schema import CATALOG_KINDS

    return [k for k in CATALOG_KINDS if k]


def _kinds_table(where, kinds):
    if not isinstance(kinds, dict) or not kinds:
        raise ConfigError(f'{where}: expected a table of input = "catalogue kind"')
    for k, v in kinds.items():
        if v not in _kinds():
            raise ConfigError(f"{where}.{k}: unknown catalogue kind {v!r}; known: {_kinds()}")


def _check_spec(where, spec):
    from .cuts import CUT_PRESETS

    if spec.join not in JOINS:
        raise ConfigError(f"{where}.join: expected one of {list(JOINS)}, got {spec.join!r}")
    r = spec.match_radius_arcsec
    if isinstance(r, bool) or not isinstance(r, numbers.Real) or not 0 < r <= 3600:
        raise ConfigError(
            f"{where}.match_radius_arcsec: expected a number in (0, 3600] (arcsec), got {r!r}"
        )
    if not isinstance(spec.repeat_spectra, bool):
        raise ConfigError(f"{where}.repeat_spectra: expected true or false")
    for key in ("cuts_before", "cuts_after"):
        value = getattr(spec, key)
        if isinstance(value, str) or not all(isinstance(v, str) for v in value):
            raise ConfigError(
                f"{where}.{key}: expected a list of cut presets ({sorted(CUT_PRESETS)})"
            )
        for v in value:
            if v not in CUT_PRESETS:
                raise ConfigError(
                    f"{where}.{key}: unknown cut preset {v!r}; known: {sorted(CUT_PRESETS)}"
                )
    for key in ("metallicity", "radial_velocity", "radial_velocity_error", "label", "description"):
        if not isinstance(getattr(spec, key), str) or not getattr(spec, key):
            raise ConfigError(f"{where}.{key}: expected a string, got {getattr(spec, key)!r}")
    try:
        metallicity_error_recipe(spec.metallicity_error)
    except ValueError as exc:
        raise ConfigError(f"{where}.metallicity_error: {exc}") from None
    if spec.metallicity_calibration not in METALLICITY_CALIBRATIONS:
        raise ConfigError(
            f"{where}.metallicity_calibration: expected one of "
            f"{list(METALLICITY_CALIBRATIONS)}, got {spec.metallicity_calibration!r}"
        )
    if spec.distance not in DISTANCE_SOURCES:
        raise ConfigError(
            f"{where}.distance: expected one of {list(DISTANCE_SOURCES)}, got {spec.distance!r}"
        )
    if spec.distance.startswith("bailer_jones") and "distances" not in spec.inputs:
        raise ConfigError(
            f"{where}.distance: {spec.distance!r} needs a 'distances' input "
            "(a Bailer-Jones table); use 'parallax' or 'catalog' without one"
        )
    if not spec.inputs:
        raise ConfigError(f"{where}: the sample has no inputs")


def _inputs(where, spec, given):
    if not isinstance(given, dict):
        raise ConfigError(f'{where}.inputs: expected a table of input = "path"')
    unknown = sorted(set(given) - set(spec.inputs))
    if unknown:
        raise ConfigError(
            f"{where}.inputs.{unknown[0]}: preset {spec.name!r} reads {list(spec.inputs)}"
        )
    for k, v in given.items():
        if not isinstance(v, str) or not v:
            raise ConfigError(f"{where}.inputs.{k}: expected a file path, got {v!r}")
    return {k: given.get(k) for k in spec.inputs}


def _columns(where, spec, given):
    if not isinstance(given, dict):
        raise ConfigError(f"{where}.columns: expected tables [{where}.columns.INPUT]")
    out = {}
    for inp, mapping in given.items():
        if inp not in spec.inputs:
            raise ConfigError(
                f"{where}.columns.{inp}: no such input; the sample reads {list(spec.inputs)}"
            )
        if not isinstance(mapping, dict):
            raise ConfigError(f"{where}.columns.{inp}: expected 'file column' = 'canonical name'")
        for k, v in mapping.items():
            if not isinstance(v, str) or not v:
                raise ConfigError(f"{where}.columns.{inp}.{k}: expected a canonical column name")
        out[inp] = dict(mapping)
    return out
