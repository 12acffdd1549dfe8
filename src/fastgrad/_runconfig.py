"""Validation of a run's configuration, all of it, before any work.

:func:`validate` checks every key of a merged configuration (names, types,
ranges, frames, cut thresholds, input paths) against the rules below and raises
one :class:`fastgrad.errors.ConfigError` naming the key (``fit.n_walkers``) and
what is wrong. TOML has no null: a key whose default is ``None`` is left out to
keep the default.
"""
import numbers
import os

from .errors import ConfigError

__all__ = ["validate", "CUT_PRESETS_OF_SAMPLE", "SAMPLES", "INPUTS_OF_SAMPLE"]

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
    from .frames import get_frame
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


def _cuts(cuts, samples):
    from .cuts import cut_parameters
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
    from .azimuthal import RESIDUAL_SIGNS
    from .fitting import SCATTER_MODELS
    _samples(cfg["samples"])
    samples = list(cfg["samples"])
    _inputs(cfg["inputs"], samples)
    syn = cfg["synthetic"]
    _seed("synthetic.seed", syn["seed"])
    for key in ("n_lamost", "n_giants"):
        _int(f"synthetic.{key}", syn[key], ge=100, optional=True)
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
    return cfg
