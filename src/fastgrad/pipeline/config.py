"""A run's configuration: the defaults, the TOML/dict loader, and its validation.

:data:`DEFAULT_CONFIG` holds every default of the method the pipeline uses
(docs/method.md sections 1-6, the paper's numbers from :mod:`fastgrad.paper`);
:func:`load_config` merges a user's TOML file or dict into it and
:func:`validate` checks every key (names, types, ranges, frames, cut
thresholds, input paths), raising one :class:`fastgrad.errors.ConfigError`
naming the key (``fit.n_walkers``) and what is wrong, before any work. TOML has
no null: a key whose default is ``None`` is left out to keep the default.
"""

from __future__ import annotations

import copy
import numbers
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from .. import paper
from ..errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

__all__ = [
    "DEFAULT_CONFIG",
    "PAPER_SAMPLES",
    "load_config",
    "validate",
    "sample_plan",
    "SamplePlan",
]

#: The samples of a run that defines none: the paper's two, on the embedded mock
#: (``[samples.lamost] preset = "hotpayne"``, ``[samples.giants] preset =
#: "gspspec_giants"``).
PAPER_SAMPLES = {"lamost": {"preset": "hotpayne"}, "giants": {"preset": "gspspec_giants"}}

#: The pre-0.2 ``[inputs]`` keys -> (sample, input) of the paper's two samples.
_LEGACY_INPUTS = {
    "lamost": ("lamost", "spectra"),
    "lamost_gaia": ("lamost", "gaia"),
    "lamost_bailer_jones": ("lamost", "distances"),
    "giants": ("giants", "gaia"),
    "giants_bailer_jones": ("giants", "distances"),
}

#: The ``[fit]`` keys that set the sampler, as :func:`fastgrad.fit_line` and
#: :func:`fastgrad.fit_tables` take them (:func:`sampler_settings`).
SAMPLER_KEYS = ("n_walkers", "n_steps", "burn", "scatter", "seed")


def sampler_settings(fit: Mapping[str, Any]) -> dict[str, Any]:
    """The sampler's settings of a ``[fit]`` table (:data:`SAMPLER_KEYS`), the
    keyword arguments every fit of a run is given: its bins', the maps' and
    Figure 3's.

    Examples
    --------
    >>> from fastgrad.pipeline.config import load_config, sampler_settings
    >>> sampler_settings(load_config({"fit": {"n_steps": 400}})["fit"])["n_steps"]
    400
    """
    return {key: fit[key] for key in SAMPLER_KEYS}


#: The mock's seed offset of each mock kind (the synthetic catalogues of a run
#: are ``make_survey(kind, n, seed=synthetic.seed + offset)``) and the
#: ``[synthetic]`` key of its size.
_MOCK_SEED_OFFSET = {"lamost_hot_stars": 0, "gaia_giants": 1}
MOCK_SIZE_KEY = {"lamost_hot_stars": "n_lamost", "gaia_giants": "n_giants"}


def _kind(value):
    return type(value).__name__


def _real(key, value, *, gt=None, ge=None, le=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{key}: expected a number, got {value!r} ({_kind(value)})")
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise ConfigError(f"{key}: expected a finite number, got {value}")
    if gt is not None and not value > gt:
        raise ConfigError(f"{key}: must be > {gt:g}, got {value:g}")
    if ge is not None and not value >= ge:
        raise ConfigError(f"{key}: must be >= {ge:g}, got {value:g}")
    if le is not None and not value <= le:
        raise ConfigError(f"{key}: must be <= {le:g}, got {value:g}")
    return value


def _int(key, value, *, ge=None, le=None, optional=False):
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(
            f"{key}: expected an integer, got {value!r} ({_kind(value)}); counts are never rounded"
        )
    value = int(value)
    if ge is not None and value < ge:
        raise ConfigError(f"{key}: must be >= {ge}, got {value}")
    if le is not None and value > le:
        raise ConfigError(f"{key}: must be <= {le}, got {value}")
    return value


def _choice(key, value, choices):
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(f"{key}: expected one of {list(choices)}, got {value!r}")
    return value


def _str(key, value, optional=False):
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key}: expected a string, got {value!r} ({_kind(value)})")
    return value


def _edges(key, value, *, ge=None):
    if not isinstance(value, (list, tuple)) or len(value) < 2:
        raise ConfigError(f"{key}: expected a list of at least two bin edges (kpc), got {value!r}")
    edges = [_real(f"{key}[{i}]", v, ge=ge) for i, v in enumerate(value)]
    if any(b <= a for a, b in zip(edges[:-1], edges[1:])):
        raise ConfigError(f"{key}: bin edges must increase, got {value!r}")
    return edges


def _rings(key, value):
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(f"{key}: expected a list of [R_lo, R_hi] pairs (kpc), got {value!r}")
    for i, ring in enumerate(value):
        if not isinstance(ring, (list, tuple)) or len(ring) != 2:
            raise ConfigError(f"{key}[{i}]: expected [R_lo, R_hi] (kpc), got {ring!r}")
        lo = _real(f"{key}[{i}][0]", ring[0], ge=0)
        hi = _real(f"{key}[{i}][1]", ring[1])
        if not hi > lo:
            raise ConfigError(f"{key}[{i}]: R_hi must be > R_lo, got {ring!r}")


def _seed(key, value):
    return _int(key, value, ge=0, le=2**64 - 1)


def _run(value, defined):
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(
            f"run: expected a list of sample names (the [samples.NAME] tables: "
            f"{list(defined)}), got {value!r}"
        )
    for name in value:
        if name not in defined:
            raise ConfigError(
                f"run: {name!r} is not a sample; the [samples.NAME] tables are {list(defined)}"
            )
    if len(set(value)) != len(value):
        raise ConfigError(f"run: a sample is named twice in {list(value)}")


def _frame(value):
    from ..frames import get_frame

    if not isinstance(value, str):
        raise ConfigError(
            f"frame: expected a preset name such as 'hawkins2023', 'v4.0' or "
            f"'pre-v4.0', got {value!r} ({_kind(value)})"
        )
    try:
        get_frame(value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"frame: {exc}") from None


class SamplePlan(dict):
    """One sample of a run, resolved (:func:`sample_plan`): ``spec``
    (:class:`fastgrad.samples.SampleSpec`), ``inputs`` (input -> path or
    None), ``columns`` (input -> column map), ``cuts_off`` (names of the cuts
    switched off), ``thresholds`` ({preset: {parameter: value}}, the run's
    ``[cuts]`` under the sample's own) and ``synthetic`` (no input file: the
    preset's mock stands in).

    Examples
    --------
    >>> from fastgrad.pipeline.config import load_config, sample_plan
    >>> plan = sample_plan(load_config(), "giants")
    >>> sorted(plan)
    ['columns', 'cuts_off', 'inputs', 'name', 'spec', 'synthetic', 'thresholds']
    >>> plan.spec.metallicity, plan["spec"].cuts_before
    ('mh_gspspec', ('gaia_giants',))
    """

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def sample_plan(cfg: Mapping[str, Any], name: str) -> SamplePlan:
    """The resolved :class:`SamplePlan` of sample ``name`` of a loaded ``cfg``.

    Examples
    --------
    >>> from fastgrad.pipeline.config import load_config, sample_plan
    >>> cfg = load_config({"run": ["lamost"], "cuts": {"lamost_hot_stars": {"snr_min": 20}}})
    >>> plan = sample_plan(cfg, "lamost")
    >>> plan.spec.name, plan.inputs, plan.synthetic  # no input file: the mock stands in
    ('hotpayne', {'spectra': None, 'gaia': None, 'distances': None}, True)
    >>> plan.thresholds
    {'lamost_hot_stars': {'snr_min': 20}}
    """
    import dataclasses

    from ..samples import resolve_sample

    table = cfg["samples"][name]
    spec, inputs, columns, (off, own) = resolve_sample(name, table)
    if "match_radius_arcsec" not in table:  # the run-wide [crossmatch_radius_arcsec]
        spec = dataclasses.replace(spec, match_radius_arcsec=cfg["crossmatch_radius_arcsec"])
    thresholds = {}
    for preset in spec.cut_presets:
        merged = dict(_for(cfg["cuts"], preset) or {})
        merged.update(own.get(preset, {}))
        if merged:
            thresholds[preset] = merged
    synthetic = all(v is None for v in inputs.values())
    return SamplePlan(
        name=name,
        spec=spec,
        inputs=inputs,
        columns=columns,
        cuts_off=off,
        thresholds=thresholds,
        synthetic=synthetic,
    )


def _for(thresholds, preset):
    """The run-wide ``[cuts]`` overrides that apply to one cut preset
    ({"preset": {...}} or flat)."""
    from ..cuts import cut_parameters

    if not thresholds:
        return None
    if preset in thresholds:
        return thresholds[preset]
    flat = {k: v for k, v in thresholds.items() if not isinstance(v, dict)}
    if not flat:
        return None
    names = cut_parameters(preset)
    return {k: v for k, v in flat.items() if k in names} or None


def _sample_inputs(plan):
    where = f"samples.{plan.name}.inputs"
    given = [k for k, v in plan.inputs.items() if v is not None]
    if given and len(given) != len(plan.inputs):
        missing = [k for k, v in plan.inputs.items() if v is None]
        raise ConfigError(
            f"{where}: {', '.join(missing)} missing (preset "
            f"{plan.spec.name!r} reads all of {', '.join(plan.inputs)}, or none "
            f"for its synthetic catalogue)"
        )
    if not given and plan.spec.mock is None:
        raise ConfigError(
            f"{where}: preset {plan.spec.name!r} has no synthetic catalogue; "
            f"give its inputs {', '.join(plan.inputs)}"
        )
    for k in given:
        path = plan.inputs[k]
        if os.path.isdir(path):
            _catalogue_folder(f"{where}.{k}", path)
        elif not os.path.isfile(path):
            raise ConfigError(f"{where}.{k}: {path}: not found")


def _catalogue_folder(where, path):
    """A folder input: a HATS catalogue or collection, or a folder of Parquet
    files (read whole by the local engine, by partition by the Dask engine)."""
    from ..readers import is_hats

    if is_hats(path):
        return
    names = os.listdir(path)
    if not any(n.endswith((".parquet", ".pq")) for n in names):
        raise ConfigError(
            f"{where}: {path}: is a folder but neither a HATS catalogue (no hats.properties "
            "and dataset/, or collection.properties) nor a Parquet dataset (no .parquet "
            f"files in it: {', '.join(sorted(names)[:8]) or 'empty'})"
        )


def _truth(truth, plans):
    """``[synthetic.truth.<sample>]``: overrides of the mock's injected model,
    checked by the mock's own rules (fastgrad.mock.truth.resolve_truth)."""
    from ..mock.truth import resolve_truth

    if not isinstance(truth, dict):
        raise ConfigError(f"synthetic.truth: expected a table per sample, got {truth!r}")
    mocks = {name: p.spec.mock for name, p in plans.items() if p.spec.mock}
    for sample, override in truth.items():
        if sample not in mocks:
            raise ConfigError(
                f"synthetic.truth.{sample}: unknown sample; the samples with a "
                f"synthetic catalogue are {sorted(mocks)}"
            )
        try:
            resolve_truth(mocks[sample], override)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"synthetic.truth.{sample}: {exc}") from None


def _cuts(cuts, plans):
    from ..cuts import cut_parameters

    if not isinstance(cuts, dict):
        raise ConfigError(f"cuts: expected a table of thresholds, got {cuts!r}")
    presets = [p for plan in plans.values() for p in plan.spec.cut_presets]
    params = {p: cut_parameters(p) for p in dict.fromkeys(presets)}
    flat_known = set().union(*params.values()) if params else set()
    samples = list(plans)
    for key, value in cuts.items():
        if isinstance(value, dict):
            if key not in params:
                raise ConfigError(
                    f"cuts.{key}: unknown cut preset for samples {samples}; known: {sorted(params)}"
                )
            for name, v in value.items():
                if name not in params[key]:
                    raise ConfigError(
                        f"cuts.{key}.{name}: unknown threshold; {key} takes {sorted(params[key])}"
                    )
                _real(f"cuts.{key}.{name}", v)
        else:
            if key not in flat_known:
                raise ConfigError(
                    f"cuts.{key}: unknown threshold; the cuts of samples "
                    f"{samples} take {sorted(flat_known)}"
                )
            _real(f"cuts.{key}", value)


def _check_thresholds(plan):
    """Every threshold of a sample, numbers of the cut's unit (cuts.Cut.units)."""
    from ..cuts import get_cuts

    for preset, values in plan.thresholds.items():
        params = {p: c for c in get_cuts(preset) for p in c.params}
        for key, v in values.items():
            default = params[key].params[key]
            if isinstance(default, numbers.Real) and not isinstance(default, bool):
                _real(f"samples.{plan.name}.cuts.{key}", v)


def validate(cfg: dict[str, Any]) -> dict[str, Any]:
    """Raise :class:`~fastgrad.errors.ConfigError` unless every value of the
    merged configuration ``cfg`` is usable; returns ``cfg``.

    Examples
    --------
    >>> from fastgrad.pipeline.config import load_config, validate
    >>> cfg = load_config()
    >>> cfg["fit"]["n_walkers"] = 0
    >>> validate(cfg)
    Traceback (most recent call last):
        ...
    fastgrad.errors.ConfigError: fit.n_walkers: must be >= 6, got 0
    """
    if not isinstance(cfg["samples"], dict):
        raise ConfigError(f"samples: expected [samples.NAME] tables, got {cfg['samples']!r}")
    _run(cfg["run"], cfg["samples"])
    # the run's own sections first: an error there names fit.KEY, not a sample's copy
    _fit_section("fit", cfg["fit"])
    _azimuthal_section("azimuthal", cfg["azimuthal"])
    plans = {name: sample_plan(cfg, name) for name in cfg["run"]}
    _cuts(cfg["cuts"], plans)
    for plan in plans.values():
        _sample_inputs(plan)
        _check_thresholds(plan)
        _fit_section(f"samples.{plan.name}.fit", {**cfg["fit"], **plan.spec.fit})
        _azimuthal_section(
            f"samples.{plan.name}.azimuthal", {**cfg["azimuthal"], **plan.spec.azimuthal}
        )
    syn = cfg["synthetic"]
    _seed("synthetic.seed", syn["seed"])
    for key in ("n_lamost", "n_giants"):
        _int(f"synthetic.{key}", syn[key], ge=100, optional=True)
    _truth(syn["truth"], plans)
    _choice("engine", cfg["engine"], ("local", "dask"))
    d = cfg["dask"]
    _str("dask.scheduler", d["scheduler"], optional=True)
    _int("dask.n_workers", d["n_workers"], ge=1, optional=True)
    _int("dask.partitions", d["partitions"], ge=1, optional=True)
    _str("dask.scratch", d["scratch"], optional=True)
    _frame(cfg["frame"])
    # 2" in the paper; beyond a degree it is no longer a cross-match
    _real("crossmatch_radius_arcsec", cfg["crossmatch_radius_arcsec"], gt=0, le=3600)
    mc = cfg["monte_carlo"]
    _int("monte_carlo.n_samples", mc["n_samples"], ge=2)
    _seed("monte_carlo.seed", mc["seed"])
    _real("halo_p_max", cfg["halo_p_max"], gt=0, le=1)
    _overlays(cfg["overlays"])
    return cfg


def _overlays(o):
    _choice("overlays.arms", o["arms"], ("reid2014", "reid2019", "none"))
    _choice(
        "overlays.overdensity_frame", o["overdensity_frame"], ("heliocentric", "galactocentric")
    )
    levels = o["overdensity_levels"]
    if levels is not None:
        if not isinstance(levels, list) or not levels:
            raise ConfigError(
                f"overlays.overdensity_levels: expected a list of numbers, got {levels!r}"
            )
        values = [_real(f"overlays.overdensity_levels[{i}]", v) for i, v in enumerate(levels)]
        if any(b <= a for a, b in zip(values[:-1], values[1:])):
            raise ConfigError("overlays.overdensity_levels: levels must increase")
    for key in ("overdensity", "literature_radial", "literature_vertical"):
        path = _str(f"overlays.{key}", o[key], optional=True)
        if path is not None and not os.path.isfile(path):
            what = "is a folder, not a file" if os.path.isdir(path) else "not found"
            raise ConfigError(f"overlays.{key}: {path}: {what}")


def _known(where, section, defaults):
    unknown = sorted(set(section) - set(defaults))
    if unknown:
        raise ConfigError(
            f"unknown configuration key '{where}.{unknown[0]}'; known: {sorted(defaults)}"
        )


def _fit_section(where, f):
    from ..fitting import SCATTER_MODELS

    _known(where, f, DEFAULT_CONFIG["fit"])
    _int(f"{where}.n_walkers", f["n_walkers"], ge=6)
    n_steps = _int(f"{where}.n_steps", f["n_steps"], ge=2)
    _int(f"{where}.burn", f["burn"], ge=0, le=n_steps - 1, optional=True)
    _choice(f"{where}.scatter", f["scatter"], SCATTER_MODELS)
    _int(f"{where}.min_stars", f["min_stars"], ge=1)
    _seed(f"{where}.seed", f["seed"])
    _edges(f"{where}.z_edges", f["z_edges"], ge=0)
    _edges(f"{where}.r_edges", f["r_edges"], ge=0)
    _choice(f"{where}.nan_policy", f["nan_policy"], ("omit", "raise"))


def _azimuthal_section(where, a):
    from ..azimuthal import RESIDUAL_SIGNS

    _known(where, a, DEFAULT_CONFIG["azimuthal"])
    _real(f"{where}.zmax", a["zmax"], gt=0)
    _real(f"{where}.half_width", a["half_width"], gt=0)
    _real(f"{where}.phi_bin_deg", a["phi_bin_deg"], gt=0, le=360)
    _int(f"{where}.min_count", a["min_count"], ge=1)
    _rings(f"{where}.rings", a["rings"])
    _choice(f"{where}.sign", a["sign"], RESIDUAL_SIGNS)
    _int(f"{where}.map_min_count", a["map_min_count"], ge=1)
    _int(f"{where}.n_permutations", a["n_permutations"], ge=1)
    _seed(f"{where}.permutation_seed", a["permutation_seed"])


#: Every default of the method the pipeline uses (docs/method.md), overridable
#: from a TOML file.
DEFAULT_CONFIG = {
    # which samples, in order (default: every [samples.NAME] table, in order)
    "run": None,
    # [samples.NAME]: a preset of fastgrad.samples.PRESETS and its overrides
    # (inputs, columns, cuts, fields); none defined: PAPER_SAMPLES on the mock
    "samples": {},
    # None: paper scale; truth: per sample, overrides of fastgrad.mock.default_truth
    # (e.g. [synthetic.truth.giants.azimuthal] kind = "none", a null test)
    "synthetic": {"seed": 2023, "n_lamost": None, "n_giants": None, "truth": {}},
    # where the per-star steps (Monte Carlo, populations) run: "local", this
    # machine, or "dask", the same steps over Dask partitions (fastgrad.engine)
    "engine": "local",
    # scratch: where a partitioned sample's final catalogue is written while it
    # is analysed (fastgrad.pipeline.partitioned; default the system's temp folder)
    "dask": {"scheduler": None, "n_workers": None, "partitions": None, "scratch": None},
    "frame": "hawkins2023",  # docs/method.md 3
    "crossmatch_radius_arcsec": paper.CROSSMATCH_RADIUS_ARCSEC,  # docs/method.md 1
    "cuts": {},  # threshold overrides, fastgrad.apply_cuts
    "monte_carlo": {"n_samples": paper.N_SAMPLES, "seed": 1},  # docs/method.md 3
    "halo_p_max": paper.P_HALO_MAX,  # docs/method.md 4
    "fit": {  # docs/method.md 5
        "n_walkers": paper.N_WALKERS,
        "n_steps": paper.N_STEPS,
        "burn": None,
        "scatter": "perpendicular",
        "min_stars": paper.MIN_STARS,
        "seed": 1,
        "z_edges": [float(e) for e in paper.TABLE1_EDGES],
        "r_edges": [float(e) for e in paper.TABLE2_EDGES],
        # stars whose metallicity, its error or a coordinate error is NaN:
        # "omit" removes them as a counted step of the cut report, "raise" stops
        "nan_policy": "omit",
    },
    # what Figures 4, 5, 7 and 8 draw over the data (docs/method.md 7)
    "overlays": {
        "arms": "reid2014",  # "reid2014", "reid2019" or "none"
        "overdensity": None,  # a grid file: x, y (kpc), overdensity (Poggio et al. 2021; not shipped)
        "overdensity_frame": "heliocentric",  # Poggio's x: from the Sun towards the Galactic centre
        "overdensity_levels": None,  # contour levels (default: matplotlib's)
        "literature_radial": None,  # a table: reference, x (|Z|, kpc), slope (dex/kpc), slope_err
        "literature_vertical": None,  # the same for Figure 7 (x = R, kpc)
    },
    "azimuthal": {  # docs/method.md 6
        "zmax": paper.MAP_ZMAX,
        "half_width": paper.ANNULUS_HALF_WIDTH,
        "phi_bin_deg": paper.PHI_BIN_DEG,
        "min_count": paper.PROFILE_MIN_COUNT,
        "rings": [list(r) for r in paper.RINGS],
        "sign": "observed-model",
        "map_min_count": paper.MAP_MIN_COUNT,
        # the permutation tests of each ring and of the residual maps' cells
        # (fastgrad.significance)
        "n_permutations": 1000,
        "permutation_seed": 1,
    },
}


def load_config(
    config: Mapping[str, Any] | str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """The run's configuration: DEFAULT_CONFIG updated by ``config`` (a dict or
    the path of a TOML file; relative input paths are relative to that file),
    validated whole.

    Raises
    ------
    fastgrad.errors.ConfigError
        An unknown key (a typo is never ignored), a value of the wrong type or
        outside its range, an unknown frame or cut threshold, an input file
        that does not exist; the message names the file and the key.

    Examples
    --------
    >>> from fastgrad.pipeline.config import load_config
    >>> cfg = load_config()  # the defaults: the paper's two samples
    >>> list(cfg)
    ['run', 'samples', 'synthetic', 'engine', 'dask', 'frame', 'crossmatch_radius_arcsec', 'cuts',
     'monte_carlo', 'halo_p_max', 'fit', 'overlays', 'azimuthal']
    >>> cfg["samples"], cfg["frame"], cfg["monte_carlo"]
    ({'lamost': {'preset': 'hotpayne'}, 'giants': {'preset': 'gspspec_giants'}}, 'hawkins2023',
     {'n_samples': 1000, 'seed': 1})
    >>> load_config({"fitt": {}})
    Traceback (most recent call last):
        ...
    fastgrad.errors.ConfigError: unknown configuration key 'fitt'; known: [...]
    """
    cfg = copy.deepcopy(DEFAULT_CONFIG)
    source = None
    if config is None:
        user = {}
    elif isinstance(config, (str, os.PathLike)):
        path = Path(config)
        source = str(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            with open(path, "rb") as f:
                user = tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot be read ({exc})") from None
    elif isinstance(config, dict):
        user = copy.deepcopy(config)
    else:
        raise ConfigError(
            f"config must be None, a dict or the path of a TOML file, got {type(config).__name__}"
        )
    try:
        _legacy(user, source)
        _merge(cfg, user, "")
        if not cfg["samples"]:
            cfg["samples"] = copy.deepcopy(PAPER_SAMPLES)
        if cfg["run"] is None:
            cfg["run"] = list(cfg["samples"])
        base = Path(source).parent if source else None
        for key in ("overdensity", "literature_radial", "literature_vertical"):
            value = cfg["overlays"][key]
            if base is not None and isinstance(value, str) and value and not os.path.isabs(value):
                cfg["overlays"][key] = str(base / value)
        for table in cfg["samples"].values():
            inputs = table.get("inputs") if isinstance(table, dict) else None
            if base is None or not isinstance(inputs, dict):
                continue
            for key, value in inputs.items():
                if isinstance(value, str) and value and not os.path.isabs(value):
                    inputs[key] = str(base / value)
        validate(cfg)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}" if source else str(exc)) from None
    return cfg


def _legacy(user, source):
    """The pre-0.2 keys, translated with a FutureWarning: ``samples = [...]``
    (now ``run``), ``[inputs]`` (now ``[samples.NAME.inputs]``) and
    ``inputs.lamost_columns`` (now ``[samples.lamost.columns.spectra]``)."""
    where = f"{source}: " if source else ""
    old = user.get("samples")
    if old is not None and not isinstance(old, dict):
        if "run" in user:
            raise ConfigError("samples: a list of names is the old spelling of run; give run only")
        if not isinstance(old, (list, tuple)) or not old:
            raise ConfigError(
                f"samples: expected a list of sample names (now spelt run = "
                f"[...]), or [samples.NAME] tables; got {old!r}"
            )
        for name in old:
            if name not in PAPER_SAMPLES:
                raise ConfigError(
                    f"samples: {name!r} is not a sample; define it as a "
                    f"[samples.{name}] table, or run one of {list(PAPER_SAMPLES)}"
                )
        warnings.warn(
            f"{where}samples = [...] is now run = [...] (samples are [samples.NAME] "
            "tables, docs/samples.md)",
            FutureWarning,
            stacklevel=4,
        )
        user["run"] = list(user.pop("samples"))
    inputs = user.pop("inputs", None)
    if inputs is None:
        return
    if not isinstance(inputs, dict):
        raise ConfigError(f"inputs: expected a table of input files, got {inputs!r}")
    warnings.warn(
        f"{where}[inputs] is now [samples.NAME.inputs] (lamost -> "
        "samples.lamost.inputs.spectra, lamost_gaia -> .gaia, lamost_bailer_jones "
        "-> .distances, giants -> samples.giants.inputs.gaia, giants_bailer_jones -> "
        ".distances; docs/samples.md)",
        FutureWarning,
        stacklevel=4,
    )
    samples = user.setdefault("samples", {})
    if not isinstance(samples, dict):
        raise ConfigError("samples: [inputs] needs [samples.NAME] tables, not a list")
    for key, value in inputs.items():
        if key == "lamost_columns":
            if value:
                table = samples.setdefault("lamost", {"preset": "hotpayne"})
                table.setdefault("columns", {})["spectra"] = value
            continue
        if key not in _LEGACY_INPUTS:
            raise ConfigError(
                f"unknown configuration key 'inputs.{key}'; known: "
                f"{sorted(_LEGACY_INPUTS) + ['lamost_columns']}"
            )
        if value is None:
            continue
        sample, name = _LEGACY_INPUTS[key]
        table = samples.setdefault(sample, dict(PAPER_SAMPLES[sample]))
        table.setdefault("inputs", {})[name] = value
    # the old run had both samples whatever inputs it named
    for sample in PAPER_SAMPLES:
        if sample in samples:
            continue
        samples[sample] = dict(PAPER_SAMPLES[sample])
    user["samples"] = {k: samples[k] for k in PAPER_SAMPLES if k in samples} | {
        k: v for k, v in samples.items() if k not in PAPER_SAMPLES
    }


#: tables whose keys are the user's (checked by validate, not by DEFAULT_CONFIG's keys)
_FREE_TABLES = ("cuts", "truth", "samples")


def _merge(into, new, where):
    for key, value in new.items():
        if key not in into:
            raise ConfigError(f"unknown configuration key '{where}{key}'; known: {sorted(into)}")
        if isinstance(into[key], dict) and key not in _FREE_TABLES:
            if not isinstance(value, dict):
                raise ConfigError(f"{where}{key}: expected a table of settings, got {value!r}")
            _merge(into[key], value, f"{where}{key}.")
        else:
            into[key] = value
