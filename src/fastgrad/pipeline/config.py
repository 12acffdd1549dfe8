"""A run's configuration: the defaults, the TOML/dict loader, and its validation.

:data:`DEFAULT_CONFIG` holds every default of the method the pipeline uses
(docs/method.md sections 1-6, the paper's numbers from :mod:`fastgrad.paper`);
:func:`load_config` merges a user's TOML file or dict into it and
:func:`validate` checks every key (names, types, ranges, frames, cut
thresholds, input paths), raising one :class:`fastgrad.errors.ConfigError`
naming the key (``fit.n_walkers``) and what is wrong, before any work. TOML has
no null: a key whose default is ``None`` is left out to keep the default.
"""
import copy
import numbers
import os
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from .. import paper
from ..errors import ConfigError

__all__ = ["DEFAULT_CONFIG", "load_config", "validate", "SAMPLES", "INPUTS_OF_SAMPLE",
           "MOCK_KIND_OF_SAMPLE", "CUT_PRESETS_OF_SAMPLE"]

#: the samples the pipeline knows, the input files each needs, and its cut presets
SAMPLES = ("lamost", "giants")
INPUTS_OF_SAMPLE = {"lamost": ("lamost", "lamost_gaia", "lamost_bailer_jones"),
                    "giants": ("giants", "giants_bailer_jones")}
CUT_PRESETS_OF_SAMPLE = {"lamost": ("lamost_hot_stars", "astrometric"),
                         "giants": ("gaia_giants", "astrometric")}


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
        raise ConfigError(f"{key}: expected an integer, got {value!r} ({_kind(value)}); "
                          "counts are never rounded")
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


def _samples(value):
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(f"samples: expected a list of sample names such as "
                          f"{list(SAMPLES)}, got {value!r}")
    for name in value:
        _choice("samples", name, SAMPLES)
    if len(set(value)) != len(value):
        raise ConfigError(f"samples: a sample is named twice in {list(value)}")


def _frame(value):
    from ..frames import get_frame
    if not isinstance(value, str):
        raise ConfigError(f"frame: expected a preset name such as 'hawkins2023', 'v4.0' or "
                          f"'pre-v4.0', got {value!r} ({_kind(value)})")
    try:
        get_frame(value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"frame: {exc}") from None


def _inputs(inputs, samples):
    for key, value in inputs.items():
        if key == "lamost_columns":
            if not isinstance(value, dict):
                raise ConfigError(f"inputs.lamost_columns: expected a table of "
                                  f"'file column' = 'canonical name', got {value!r}")
            for k, v in value.items():
                _str(f"inputs.lamost_columns.{k}", v)
            continue
        _str(f"inputs.{key}", value, optional=True)
    for sample in samples:
        keys = INPUTS_OF_SAMPLE[sample]
        given = [k for k in keys if inputs.get(k) is not None]
        if given and len(given) != len(keys):
            missing = [k for k in keys if inputs.get(k) is None]
            raise ConfigError(f"inputs: {', '.join(missing)} missing (sample '{sample}' needs "
                              f"all of {', '.join(keys)}, or none for the synthetic catalogues)")
        for k in given:
            path = inputs[k]
            if not os.path.isfile(path):
                what = "is a folder, not a file" if os.path.isdir(path) else "not found"
                raise ConfigError(f"inputs.{k}: {path}: {what}")
    unused = [k for k in inputs if k != "lamost_columns" and inputs[k] is not None
              and not any(k in INPUTS_OF_SAMPLE[s] for s in samples)]
    if unused:
        raise ConfigError(f"inputs: {', '.join(unused)} given but no sample that reads it is "
                          f"run (samples = {list(samples)})")


#: the fastgrad.mock catalogue kind behind each sample's synthetic input
MOCK_KIND_OF_SAMPLE = {"lamost": "lamost_hot_stars", "giants": "gaia_giants"}


def _truth(truth):
    """``[synthetic.truth.<sample>]``: overrides of the mock's injected model,
    checked by the mock's own rules (fastgrad.mock.truth.resolve_truth)."""
    from ..mock.truth import resolve_truth
    if not isinstance(truth, dict):
        raise ConfigError(f"synthetic.truth: expected a table per sample, got {truth!r}")
    for sample, override in truth.items():
        if sample not in MOCK_KIND_OF_SAMPLE:
            raise ConfigError(f"synthetic.truth.{sample}: unknown sample; known: "
                              f"{sorted(MOCK_KIND_OF_SAMPLE)}")
        try:
            resolve_truth(MOCK_KIND_OF_SAMPLE[sample], override)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"synthetic.truth.{sample}: {exc}") from None


def _cuts(cuts, samples):
    from ..cuts import cut_parameters
    if not isinstance(cuts, dict):
        raise ConfigError(f"cuts: expected a table of thresholds, got {cuts!r}")
    presets = [p for s in samples for p in CUT_PRESETS_OF_SAMPLE[s]]
    params = {p: cut_parameters(p) for p in dict.fromkeys(presets)}
    flat_known = set().union(*params.values())
    for key, value in cuts.items():
        if isinstance(value, dict):
            if key not in params:
                raise ConfigError(f"cuts.{key}: unknown cut preset for samples {list(samples)}; "
                                  f"known: {sorted(params)}")
            for name, v in value.items():
                if name not in params[key]:
                    raise ConfigError(f"cuts.{key}.{name}: unknown threshold; "
                                      f"{key} takes {sorted(params[key])}")
                _real(f"cuts.{key}.{name}", v)
        else:
            if key not in flat_known:
                raise ConfigError(f"cuts.{key}: unknown threshold; the cuts of samples "
                                  f"{list(samples)} take {sorted(flat_known)}")
            _real(f"cuts.{key}", value)


def validate(cfg):
    """Raise :class:`~fastgrad.errors.ConfigError` unless every value of the
    merged configuration ``cfg`` is usable; returns ``cfg``."""
    from ..azimuthal import RESIDUAL_SIGNS
    from ..fitting import SCATTER_MODELS
    _samples(cfg["samples"])
    samples = list(cfg["samples"])
    _inputs(cfg["inputs"], samples)
    syn = cfg["synthetic"]
    _seed("synthetic.seed", syn["seed"])
    for key in ("n_lamost", "n_giants"):
        _int(f"synthetic.{key}", syn[key], ge=100, optional=True)
    _truth(syn["truth"])
    _choice("engine", cfg["engine"], ("local", "dask"))
    d = cfg["dask"]
    _str("dask.scheduler", d["scheduler"], optional=True)
    _int("dask.n_workers", d["n_workers"], ge=1, optional=True)
    _int("dask.partitions", d["partitions"], ge=1, optional=True)
    _frame(cfg["frame"])
    # 2" in the paper; beyond a degree it is no longer a cross-match
    _real("crossmatch_radius_arcsec", cfg["crossmatch_radius_arcsec"], gt=0, le=3600)
    _cuts(cfg["cuts"], samples)
    mc = cfg["monte_carlo"]
    _int("monte_carlo.n_samples", mc["n_samples"], ge=2)
    _seed("monte_carlo.seed", mc["seed"])
    _real("halo_p_max", cfg["halo_p_max"], gt=0, le=1)
    f = cfg["fit"]
    _int("fit.n_walkers", f["n_walkers"], ge=6)
    n_steps = _int("fit.n_steps", f["n_steps"], ge=2)
    _int("fit.burn", f["burn"], ge=0, le=n_steps - 1, optional=True)
    _choice("fit.scatter", f["scatter"], SCATTER_MODELS)
    _int("fit.min_stars", f["min_stars"], ge=1)
    _seed("fit.seed", f["seed"])
    _edges("fit.z_edges", f["z_edges"], ge=0)
    _edges("fit.r_edges", f["r_edges"], ge=0)
    a = cfg["azimuthal"]
    _real("azimuthal.zmax", a["zmax"], gt=0)
    _real("azimuthal.half_width", a["half_width"], gt=0)
    _real("azimuthal.phi_bin_deg", a["phi_bin_deg"], gt=0, le=360)
    _int("azimuthal.min_count", a["min_count"], ge=1)
    _rings("azimuthal.rings", a["rings"])
    _choice("azimuthal.sign", a["sign"], RESIDUAL_SIGNS)
    _int("azimuthal.map_min_count", a["map_min_count"], ge=1)
    _int("azimuthal.n_permutations", a["n_permutations"], ge=1)
    _seed("azimuthal.permutation_seed", a["permutation_seed"])
    return cfg


#: Every default of the method the pipeline uses (docs/method.md), overridable
#: from a TOML file.
DEFAULT_CONFIG = {
    # input files; when none is given the synthetic catalogues of fastgrad.mock are used
    "inputs": {
        "lamost": None,               # LAMOST HotPayne (Xiang et al. 2022), any format read_catalog reads
        "lamost_gaia": None,          # Gaia DR3 gaia_source rows around the LAMOST stars
        "lamost_bailer_jones": None,  # Bailer-Jones 2021 distances of those Gaia sources
        "giants": None,               # Gaia DR3 GSP-Spec "gradient sample" giants
        "giants_bailer_jones": None,
        "lamost_columns": {},         # overrides of schema.LAMOST_COLUMN_MAP
    },
    # None: paper scale; truth: per sample, overrides of fastgrad.mock.default_truth
    # (e.g. [synthetic.truth.giants.azimuthal] kind = "none", a null test)
    "synthetic": {"seed": 2023, "n_lamost": None, "n_giants": None, "truth": {}},
    "samples": ["lamost", "giants"],
    # where the per-star steps (Monte Carlo, populations) run: "local", this
    # machine, or "dask", the same steps over Dask partitions (fastgrad.engine)
    "engine": "local",
    "dask": {"scheduler": None, "n_workers": None, "partitions": None},
    "frame": "hawkins2023",                          # docs/method.md 3
    "crossmatch_radius_arcsec": paper.CROSSMATCH_RADIUS_ARCSEC,  # docs/method.md 1
    "cuts": {},                                      # threshold overrides, fastgrad.apply_cuts
    "monte_carlo": {"n_samples": paper.N_SAMPLES, "seed": 1},   # docs/method.md 3
    "halo_p_max": paper.P_HALO_MAX,                  # docs/method.md 4
    "fit": {                                         # docs/method.md 5
        "n_walkers": paper.N_WALKERS, "n_steps": paper.N_STEPS, "burn": None,
        "scatter": "perpendicular", "min_stars": paper.MIN_STARS, "seed": 1,
        "z_edges": [float(e) for e in paper.TABLE1_EDGES],
        "r_edges": [float(e) for e in paper.TABLE2_EDGES],
    },
    "azimuthal": {                                   # docs/method.md 6
        "zmax": paper.MAP_ZMAX, "half_width": paper.ANNULUS_HALF_WIDTH,
        "phi_bin_deg": paper.PHI_BIN_DEG, "min_count": paper.PROFILE_MIN_COUNT,
        "rings": [list(r) for r in paper.RINGS], "sign": "observed-model",
        "map_min_count": paper.MAP_MIN_COUNT,
        # the permutation test of each ring (fastgrad.significance)
        "n_permutations": 1000, "permutation_seed": 1,
    },
}


def load_config(config=None):
    """The run's configuration: DEFAULT_CONFIG updated by ``config`` (a dict or
    the path of a TOML file; relative input paths are relative to that file),
    validated whole.

    Raises
    ------
    fastgrad.errors.ConfigError
        An unknown key (a typo is never ignored), a value of the wrong type or
        outside its range, an unknown frame or cut threshold, an input file
        that does not exist; the message names the file and the key.
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
        raise ConfigError(f"config must be None, a dict or the path of a TOML file, "
                          f"got {type(config).__name__}")
    try:
        _merge(cfg, user, "")
        base = Path(source).parent if source else None
        for key, value in cfg["inputs"].items():
            if base is not None and isinstance(value, str) and not os.path.isabs(value):
                cfg["inputs"][key] = str(base / value)
        validate(cfg)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}" if source else str(exc)) from None
    return cfg


#: tables whose keys are the user's (checked by validate, not by DEFAULT_CONFIG's keys)
_FREE_TABLES = ("cuts", "lamost_columns", "truth")


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
