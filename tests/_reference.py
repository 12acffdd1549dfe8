"""Reference outputs of every public function, for refactoring without a change.

``compute()`` runs each public function of fastgrad on small, seeded inputs and
returns its outputs as named numpy arrays. ``tests/data/reference_outputs.npz``
holds them as they were when they were last written on purpose;
``tests/test_reference_outputs.py`` asserts that today's code gives the same
bits. After a change that is meant to move numbers, write them anew and say
why in the commit::

    python tests/_reference.py      # rewrites tests/data/reference_outputs.npz
"""

import sys
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.table import Table

PATH = Path(__file__).parent / "data" / "reference_outputs.npz"

#: a pipeline run of a few seconds: both samples, short chains, no figures
RUN_CONFIG = {
    "synthetic": {"seed": 17, "n_lamost": 12_000, "n_giants": 12_000},
    "monte_carlo": {"n_samples": 24, "seed": 4},
    "fit": {"n_walkers": 8, "n_steps": 60, "min_stars": 200},
    "azimuthal": {"phi_bin_deg": 10.0, "min_count": 5},
}


def _put(out, prefix, value):
    """Flatten Tables, dicts, Quantities and scalars into named arrays."""
    if isinstance(value, Table):
        for name in value.colnames:
            _put(out, f"{prefix}.{name}", value[name])
        return
    if isinstance(value, dict):
        for key, v in value.items():
            _put(out, f"{prefix}.{key}", v)
        return
    if isinstance(value, (tuple, list)) and value and not np.isscalar(value[0]):
        for i, v in enumerate(value):
            _put(out, f"{prefix}[{i}]", v)
        return
    if isinstance(value, u.Quantity):
        value = value.value
    if np.ma.isMaskedArray(value):  # the data and the mask, both compared
        out[f"{prefix}.mask"] = np.ma.getmaskarray(value)
        value = np.ma.getdata(value)
    arr = np.asarray(value)
    if arr.dtype.kind == "O":
        arr = arr.astype(str)
    out[prefix] = arr


def _stars(n, seed):
    rng = np.random.default_rng(seed)
    return dict(
        ra=rng.uniform(0, 360, n),
        dec=np.degrees(np.arcsin(rng.uniform(-1, 1, n))),
        distance=rng.uniform(0.2, 6.0, n),
        pmra=rng.normal(0, 8, n),
        pmdec=rng.normal(-3, 8, n),
        radial_velocity=rng.normal(0, 40, n),
    )


def compute():
    import fastgrad
    from fastgrad import pipeline

    out = {}
    # transforms
    s = _stars(1000, 1)
    _put(out, "galactocentric", fastgrad.galactocentric(**s))
    _put(out, "galactocentric_v4", fastgrad.galactocentric(**s, frame="v4.0"))
    rng = np.random.default_rng(2)
    errs = dict(
        ra_error=rng.uniform(0.01, 0.1, 1000),
        dec_error=rng.uniform(0.01, 0.1, 1000),
        distance_error=0.1 * s["distance"],
        pmra_error=rng.uniform(0.02, 0.2, 1000),
        pmdec_error=rng.uniform(0.02, 0.2, 1000),
        radial_velocity_error=rng.uniform(1, 5, 1000),
    )
    corr = {
        "ra_dec_corr": rng.uniform(-0.5, 0.5, 1000),
        "pmra_pmdec_corr": rng.uniform(-0.5, 0.5, 1000),
    }
    mc = fastgrad.mc_galactocentric(
        **s,
        **errs,
        n_samples=200,
        seed=7,
        correlations=corr,
        ids=np.arange(1000, dtype=np.int64) * 1_000_003,
    )
    _put(out, "mc_galactocentric", mc)
    _put(out, "frame_constants", fastgrad.frame_constants())
    # populations
    # the heliocentric reading under its old name: the same bits as before issue 15
    _put(
        out,
        "kinematic_probabilities",
        fastgrad.kinematic_probabilities(mc["vx"], mc["vy"], mc["vz"], kinematics="heliocentric"),
    )
    _put(out, "kinematic_probabilities_local", fastgrad.kinematic_probabilities(mc))
    _put(out, "lsr_velocities", fastgrad.lsr_velocities(mc["vx"], mc["vy"], mc["vz"]))
    # catalogues: a synthetic survey through the paper's steps
    lam = fastgrad.make_survey("lamost_hot_stars", 3000, seed=3)
    _put(out, "make_survey.lamost", lam["lamost"])
    _put(out, "make_survey.gaia", lam["gaia"])
    kept, rep = fastgrad.apply_cuts(lam["lamost"], "lamost_hot_stars")
    _put(
        out,
        "apply_cuts.kept_ids",
        np.asarray(kept["obsid"] if "obsid" in kept.colnames else kept[kept.colnames[0]]),
    )
    _put(out, "apply_cuts.report", rep["cut", "n_before", "n_removed", "n_after"])
    matched = fastgrad.crossmatch(kept, lam["gaia"], suffixes=("_lamost", ""))
    _put(out, "crossmatch.source_id", matched["source_id"])
    _put(out, "crossmatch.separation", matched["separation"])
    joined = fastgrad.add_distances(fastgrad.join_distances(matched, lam["bailer_jones"]))
    _put(out, "add_distances.distance", joined["distance"])
    _put(out, "add_distances.distance_error", joined["distance_error"])
    giants = fastgrad.make_survey("gaia_giants", 2000, seed=4)
    _put(out, "make_survey.giants", giants["gaia"])
    # fits
    rng = np.random.default_rng(5)
    n = 4000
    R = rng.uniform(6, 14, n)
    z = rng.normal(0, 0.5, n)
    feh = 0.4 - 0.07 * R + rng.normal(0, 0.08, n)
    Re, fe = np.full(n, 0.15), np.full(n, 0.05)
    theta = np.array([[-0.07, 0.4, 0.08], [-0.06, 0.3, 0.1]])
    _put(out, "line_loglike", fastgrad.line_loglike(theta, R, feh, Re, fe))
    _put(
        out,
        "line_loglike_vertical",
        fastgrad.line_loglike(theta, R, feh, Re, fe, scatter="vertical"),
    )
    fit = fastgrad.fit_line(R, feh, Re, fe, n_walkers=8, n_steps=80, seed=9)
    _put(out, "fit_line", fit.as_dict())
    _put(out, "fit_line.samples", fit.samples)
    t1, t2 = fastgrad.fit_tables(
        R, z, feh, Re, np.full(n, 0.05), fe, min_stars=100, n_walkers=8, n_steps=60, seed=11
    )
    _put(out, "fit_tables.table1", t1)
    _put(out, "fit_tables.table2", t2)
    # azimuthal structure
    phi = rng.uniform(-np.pi, np.pi, n)
    _put(out, "annulus_mean", fastgrad.annulus_mean(R, feh, 0.1))
    _put(out, "annulus_mean_weighted", fastgrad.annulus_mean(R, feh, 0.1, weights=1 / fe**2))
    delta = fastgrad.azimuthal_deviation(R, feh, 0.1)
    _put(out, "azimuthal_deviation", delta)
    _put(
        out,
        "azimuthal_profiles",
        {
            f"{a}-{b}": t
            for (a, b), t in fastgrad.azimuthal_profiles(R, phi, delta, min_count=5).items()
        },
    )
    x, y = -R * np.cos(phi), R * np.sin(phi)
    rmap = fastgrad.residual_map(x, y, feh, 0.4 - 0.07 * R, gridsize=20)
    for name in ("x_edges", "y_edges", "count", "observed", "predicted", "residual"):
        if hasattr(rmap, name):
            _put(out, f"residual_map.{name}", getattr(rmap, name))
    _put(out, "arm_curve", fastgrad.arm_curve(fastgrad.arm_names()[0]))
    # the pipeline, end to end
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        res = pipeline.run(RUN_CONFIG, out=Path(d) / "res", verbose=False, figures=False)
    for name, tabs in res.tables.items():
        for key, t in tabs.items():
            _put(out, f"run.{name}.{key}", t)
        _put(out, f"run.{name}.delta", res.azimuthal[name]["delta"])
    _put(out, "run.cuts", res.cuts["sample", "cut", "n_before", "n_after"])
    return out


def platform_key():
    """What the bits depend on beyond the code: CPU architecture, kernel build
    and numpy's SIMD dispatch (its AVX-512 sin/cos/exp/log round differently in
    the last bit from its AVX2 ones, and the mock and astropy's trigonometry
    run through them). A reference written without AVX-512 keeps its old key."""
    import platform

    from fastgrad._kernels import variant

    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # numpy < 2
        from numpy.core._multiarray_umath import __cpu_features__
    simd = "-avx512" if __cpu_features__.get("AVX512_SKX") else ""
    return f"{platform.machine()}-{variant}{simd}"


def write():
    out = compute()
    out["__platform__"] = np.asarray(platform_key())
    PATH.parent.mkdir(exist_ok=True)
    np.savez_compressed(PATH, **out)
    print(f"wrote {len(out)} arrays to {PATH}")


if __name__ == "__main__":
    sys.exit(write())
