"""The survey tables: :func:`make_survey` and :func:`make_catalog` assemble the
LAMOST hot stars or the Gaia DR3 giants, their Bailer-Jones distances and the
truth (``meta["truth"]``, optionally a per-star truth table), from the
galaxy (:mod:`.galaxy`), the sampler (:mod:`.sampling`), the observation
(:mod:`.observe`), fastgrad's cuts (:mod:`.cutflow`) and the truth
(:mod:`.truth`).  docs/method.md sections 1-6 describe the steps.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING

import astropy.units as u
import numpy as np
from astropy.table import Table

from .. import paper
from .._seeds import seed_sequence
from ..frames import frame_metadata, get_frame
from .columns import (
    BAILER_JONES_COLUMNS,
    CORRELATION_COLUMNS,
    GAIA_COLUMNS,
    GAIA_GIANT_COLUMNS,
    LAMOST_COLUMNS,
    table,
)
from .cutflow import giant_final_sample, lamost_final_sample
from .galaxy import POPULATIONS, Geometry, azimuthal_pattern, gradient_model, velocities
from .observe import bailer_jones, lognormal, observe_gaia, offset_position, to_icrs, unique_ids
from .sampling import sample_stars
from .truth import (
    KINDS,
    TABLE1_EDGES,
    TABLE2_EDGES,
    azimuthal_truth,
    binned_truth,
    check_n,
    expected_amplitude,
    resolve_truth,
)

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from astropy.coordinates import Galactocentric


__all__ = ["make_survey", "make_catalog"]

_DEX = u.dex
_KMS = u.km / u.s

# ---------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------


def _survey_table(spec, data, truth_meta):
    """One of the survey's tables, its own copy of the truth in ``meta["truth"]``."""
    t = table(spec, data)
    t.meta["truth"] = copy.deepcopy(truth_meta)
    return t


def _truth_table(stars, vxyz, geo, extra):
    """One row per star of the main table: true coordinates (kpc, km/s, rad),
    [Fe/H] truth (dex), ``in_final`` and the nominal observed R, |Z| (kpc)."""
    x, y, z = stars["xyz"]
    R = np.hypot(x, y)
    cols = {
        **extra,
        "population": np.array(POPULATIONS)[stars["population"]],
        "x": x,
        "y": y,
        "z": z,
        "vx": vxyz[0],
        "vy": vxyz[1],
        "vz": vxyz[2],
        "R": R,
        "phi": np.arctan2(y, -x),
        "absz": np.abs(z),
        "distance": stars["distance"],
        "phot_g_mean_mag": stars["phot_g_mean_mag"],
        "abs_mag_g": stars["abs_mag_g"],
        "feh_pattern": stars["feh_pattern"],
        "feh_model": stars["feh_model"],
        "feh_true": stars["feh_true"],
        "in_final": stars["in_final"],
        # the nominal transform of the observed central values (NaN outside
        # the final sample): the bins of meta["truth"]["table1"/"table2"]
        "R_observed": stars["nominal"][6],
        "absz_observed": stars["nominal"][8],
    }
    units = {
        "x": u.kpc,
        "y": u.kpc,
        "z": u.kpc,
        "vx": _KMS,
        "vy": _KMS,
        "vz": _KMS,
        "R": u.kpc,
        "phi": u.rad,
        "absz": u.kpc,
        "distance": u.kpc,
        "R_observed": u.kpc,
        "absz_observed": u.kpc,
        "phot_g_mean_mag": u.mag,
        "abs_mag_g": u.mag,
        "feh_pattern": _DEX,
        "feh_model": _DEX,
        "feh_true": _DEX,
    }
    t = Table(cols)
    for name, unit in units.items():
        t[name].unit = unit
    return t


# ---------------------------------------------------------------------------
# the public functions
# ---------------------------------------------------------------------------


def make_survey(
    kind: str,
    n: int | None = None,
    *,
    truth: Mapping[str, Any] | None = None,
    seed: int | np.random.SeedSequence | None = None,
    frame: str | Galactocentric | None = None,
    include_truth: bool = False,
) -> dict[str, Table]:
    """Synthetic survey tables with a known truth.

    Parameters
    ----------
    kind : {"lamost_hot_stars", "gaia_giants"}
    n : int, optional
        Rows of the main table: LAMOST candidates (default 330,000, the paper's
        ~332,000) or Gaia giants (default 1,000,000).  Everything scales with it.
    truth : dict, optional
        Overrides of :func:`default_truth` (nested dict, same keys).
    seed : None, int or numpy.random.SeedSequence
        Same seed, same tables.
    frame : None, str or astropy.coordinates.Galactocentric
        The Galactocentric frame the truth lives in (default: the paper's,
        preset "hawkins2023").
    include_truth : bool
        Also return ``"truth"``: one row per star of the main table with the
        true Galactocentric coordinates (kpc, km/s, rad), distance (kpc),
        population, noise-free model / pattern / true [Fe/H] (dex) and
        ``in_final`` (the star survives fastgrad's cuts, :mod:`fastgrad.mock.cutflow`).

    Returns
    -------
    dict of astropy.table.Table
        ``"lamost_hot_stars"``: ``{"lamost", "gaia", "bailer_jones"}``;
        ``"gaia_giants"``: ``{"gaia", "bailer_jones"}``.  Columns and units:
        :data:`LAMOST_COLUMNS`, :data:`GAIA_COLUMNS` (:data:`GAIA_GIANT_COLUMNS`
        for the giants), :data:`BAILER_JONES_COLUMNS`.  Rows are in no
        particular relation across tables: join on ``source_id`` or by position.

        Every table's ``meta["truth"]`` (JSON-serialisable) holds the resolved
        model (``metallicity``, ``azimuthal``, ``populations``,
        ``rotation_speed_kms``, ``survey``), ``kind``, ``n``, ``seed``
        (the SeedSequence entropy), ``frame`` (preset and numbers),
        ``counts`` (the rows left after each step of the docs/method.md
        section 2 and 4 cuts, fastgrad's own presets applied to the mock's
        columns),
        ``table1`` / ``table2`` (per |Z| bin 0-1.4 by 0.2 / R bin 7-14 by 1:
        ``bin_lo``, ``bin_hi``, ``slope``, ``intercept``, ``n``: the
        least-squares line of the noise-free model [Fe/H] against true R /
        true |Z| over the final sample's stars that the observed central values
        put in the bin (distance errors move stars between bins, where the
        gradient differs)), ``azimuthal_amplitude`` (dex, the injected peak; 0 for
        ``kind="none"``), ``azimuthal_amplitude_observed`` (dex: what a
        matched filter A (g - <g>) + c, g = :func:`pattern_shape`, fitted to
        the noise-free model at the final |Z| < 0.3 kpc stars' nominal
        observed positions returns, annulus half-width 0.1 kpc; distance
        errors blur the pattern by a few per cent; None for ``"none"``) and
        ``azimuthal_profile`` (the docs/method.md section 6 profile of the
        noise-free model).

    Examples
    --------
    >>> import fastgrad
    >>> s = fastgrad.make_survey("lamost_hot_stars", 500, seed=1)
    >>> {name: len(t) for name, t in s.items()}
    {'lamost': 500, 'gaia': 493, 'bailer_jones': 492}
    >>> truth = s["lamost"].meta["truth"]
    >>> truth["metallicity"]["slope_dex_per_kpc"][0]  # injected d[Fe/H]/dR at |Z| = 0.1 kpc
    -0.078
    >>> truth["counts"]["after_snr"], truth["counts"]["final"]
    (213, 186)
    >>> first = truth["table1"][0]  # what a fit of the 0 < |Z| < 0.2 kpc bin should recover
    >>> print(first["bin_lo"], first["bin_hi"], f"{first['slope']:.4f}", first["n"])
    0.0 0.2 -0.0775 107
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    n = check_n(kind, n)
    full = resolve_truth(kind, truth)
    frame = get_frame(frame)
    ss = seed_sequence(seed)
    rng = np.random.default_rng(ss)
    geo = Geometry(frame)
    if kind == "lamost_hot_stars":
        tables, stars, vxyz, extra, counts = _make_lamost(rng, n, full, frame, geo)
    else:
        tables, stars, vxyz, extra, counts = _make_giants(rng, n, full, frame, geo)

    x, y, z = stars["xyz"]
    R, absz, phi = np.hypot(x, y), np.abs(z), np.arctan2(y, -x)
    fin = stars["in_final"]
    meta = {
        "kind": kind,
        "n": n,
        "seed": int(ss.entropy) if isinstance(ss.entropy, (int, np.integer)) else ss.entropy,
        **full,
        "rotation_speed_kms": stars["rotation_speed_kms"],
        "frame": frame_metadata(frame),
        "counts": counts,
        # the bins hold the stars an analysis of the catalogue puts there
        # (binned by the observed |Z|, R), fitted against their true R, |Z|:
        # distance errors move stars between bins where the gradient differs
        "table1": binned_truth(
            TABLE1_EDGES, stars["nominal"][8][fin], R[fin], stars["feh_model"][fin]
        ),
        "table2": binned_truth(
            TABLE2_EDGES, stars["nominal"][6][fin], absz[fin], stars["feh_model"][fin]
        ),
        "azimuthal_amplitude": float(full["azimuthal"]["amplitude_dex"])
        if full["azimuthal"]["kind"] != "none"
        else 0.0,
        "azimuthal_amplitude_observed": expected_amplitude(
            full["azimuthal"], stars["nominal"], stars["feh_model"], fin, geo.r0_pattern
        ),
        "azimuthal_profile": azimuthal_truth(
            full["azimuthal"], R[fin], phi[fin], absz[fin], stars["feh_model"][fin], geo.r0_pattern
        ),
    }
    meta = json.loads(json.dumps(meta))  # plain JSON types only, checked here
    out = {name: _survey_table(spec, data, meta) for name, (spec, data) in tables.items()}
    if include_truth:
        out["truth"] = _truth_table(stars, vxyz, geo, extra)
        out["truth"].meta["truth"] = copy.deepcopy(meta)
    return out


def make_catalog(kind: str, n: int | None = None, **kwargs: Any) -> Table:
    """The main table of :func:`make_survey`: the LAMOST table for
    ``"lamost_hot_stars"``, the Gaia table for ``"gaia_giants"``.

    Examples
    --------
    >>> import fastgrad
    >>> giants = fastgrad.make_catalog("gaia_giants", 300, seed=2)
    >>> len(giants), str(giants["mh_gspspec"].unit)
    (300, 'dex')
    >>> fastgrad.make_catalog("lamost_hot_stars", 300, seed=2).colnames[:6]
    ['obsid', 'ra', 'dec', 'teff', 'teff_err', 'logg']
    """
    survey = make_survey(kind, n, **kwargs)
    return survey["lamost"] if kind == "lamost_hot_stars" else survey["gaia"]


def _common_truth(rng, kind, n, full, frame, geo):
    """Stars, velocities, true observables and [Fe/H] truth shared by both kinds."""
    stars = sample_stars(rng, kind, n, full, geo)
    vxyz, vc = velocities(rng, stars, full, geo)
    stars["rotation_speed_kms"] = vc
    ra, dec, dist, pmra, pmdec, rv = to_icrs(stars["xyz"], vxyz, frame)
    stars.update(ra=ra, dec=dec, distance=dist, pmra=pmra, pmdec=pmdec, rv=rv)
    x, y, z = stars["xyz"]
    R, phi = np.hypot(x, y), np.arctan2(y, -x)
    met = full["metallicity"]
    pattern = azimuthal_pattern(full["azimuthal"], R, phi, geo.r0_pattern)
    halo = stars["population"] == POPULATIONS.index("halo")
    model = np.where(halo, met["halo_mean_dex"], gradient_model(met, R, np.abs(z)) + pattern)
    scatter = np.where(halo, met["halo_sigma_dex"], met["scatter_dex"])
    stars["feh_pattern"] = np.where(halo, 0.0, pattern)
    stars["feh_model"] = model
    stars["feh_true"] = model + scatter * rng.normal(size=n)
    return stars, vxyz


def _make_lamost(rng, n, full, frame, geo):
    """The LAMOST, Gaia and Bailer-Jones tables of ``n`` candidates, the stars'
    truth, their velocities (km/s), the truth table's extra columns and the counts."""
    # LAMOST candidates and the unrelated Gaia field stars come from one draw:
    # the field stars are the last n_field, then moved on the sky
    n_field = int(round(0.02 * n))
    stars, vxyz = _common_truth(rng, "lamost_hot_stars", n + n_field, full, frame, geo)
    g = stars["phot_g_mean_mag"]
    gaia, eps_plx = observe_gaia(
        rng, stars["ra"], stars["dec"], stars["distance"], stars["pmra"], stars["pmdec"], g
    )
    m = n + n_field
    # sorted ids dealt out in random order: Gaia rows (sorted by source_id) are
    # then in no relation to the LAMOST rows
    source_id = np.sort(unique_ids(rng, m, 2**40, 2**62))[rng.permutation(m)]
    gaia["source_id"] = source_id

    # Gaia RVS: only the brightest hot stars have radial velocities
    has_rv = (g < 12.0) & (rng.uniform(size=m) < 0.6)
    rv_err_gaia = np.where(has_rv, 2.0 + 8.0 * rng.uniform(size=m), np.nan)
    gaia["radial_velocity"] = np.where(
        has_rv, stars["rv"] + rv_err_gaia * rng.normal(size=m), np.nan
    )
    gaia["radial_velocity_error"] = rv_err_gaia

    # -- the LAMOST catalogue (first n stars)
    L = slice(0, n)
    snr_ref = full["survey"]["snr30_g_mag"]
    snr = 30.0 * 10.0 ** (-0.4 * (g[L] - snr_ref)) * lognormal(rng, 0.35, n)
    snr = np.clip(snr, 2.0, 1500.0)
    noise_scale = np.sqrt(80.0 / snr)  # spectroscopic errors ~ 1/sqrt(SNR)
    u_t = rng.uniform(size=n)
    teff = 7000.0 * np.exp(rng.exponential(0.22, n))
    teff = np.where(u_t < 0.03, rng.uniform(5500.0, 7000.0, n), teff)  # cooler contaminants
    teff = np.where(u_t > 0.99, rng.uniform(25000.0, 40000.0, n), teff)  # O / early B stars
    u_g = rng.uniform(size=n)
    logg = rng.normal(4.0, 0.3, n)
    logg = np.where(u_g < 0.04, rng.uniform(0.5, 2.0, n), logg)  # failed / giant-like fits
    logg = np.where(u_g > 0.975, rng.uniform(5.0, 6.0, n), logg)
    vsini = np.abs(rng.normal(0.0, 120.0, n))
    vsini = np.where(rng.uniform(size=n) < 0.02, -rng.uniform(0.0, 50.0, n), vsini)
    chi2ratio = np.exp(rng.normal(np.log(2.0), 0.9, n))
    feh_err = np.sqrt(0.07**2 + (3.5 / snr) ** 2) * lognormal(rng, 0.3, n)
    feh = stars["feh_true"][L] + feh_err * rng.normal(size=n)
    rv_err = 7.0 * noise_scale * lognormal(rng, 0.3, n)
    u_r = rng.uniform(size=n)
    rv_err = np.where(u_r < 0.005, rng.uniform(100.0, 300.0, n), rv_err)  # failed RVs
    rv = stars["rv"][L] + rv_err * rng.normal(size=n)
    rv_err = np.where(u_r > 0.997, np.nan, rv_err)
    rv = np.where(u_r > 0.997, np.nan, rv)
    # a few failed parameter fits
    bad_fit = rng.uniform(size=n) < 0.003
    feh = np.where(bad_fit, np.nan, feh)
    feh_err = np.where(bad_fit, np.nan, feh_err)
    teff = np.where(rng.uniform(size=n) < 0.001, np.nan, teff)
    lamost = {
        # the stars are in random order: sorted obsids list them in obsid order
        "obsid": np.sort(rng.choice(900_000_000, n, replace=False) + 100_000_000).astype(np.int64),
        "teff": teff,
        "teff_err": teff * 0.0105 * noise_scale * lognormal(rng, 0.3, n),
        "logg": logg,
        "logg_err": 0.10 * noise_scale * lognormal(rng, 0.3, n),
        "feh": feh,
        "feh_err": feh_err,
        "vsini": vsini,
        "snr": snr,
        "chi2ratio": chi2ratio,
        "rv": rv,
        "rv_err": rv_err,
    }
    # fibre positions: the Gaia position + a ~0.1-0.5" offset (astrometry of the
    # input catalogue, epoch difference); 1 % land 0.5" to 4x beyond the match
    # radius (2.5-8" for the paper's 2"), so the cross-match cannot find them
    radius = paper.CROSSMATCH_RADIUS_ARCSEC
    offset = 0.25 * lognormal(rng, 0.45, n)
    far = rng.uniform(size=n) < 0.01
    offset = np.where(far, rng.uniform(radius + 0.5, 4.0 * radius, n), offset)
    ra_l, dec_l = offset_position(rng, stars["ra"][L], stars["dec"][L], offset)
    # 2 % of the LAMOST stars have no Gaia row at all
    missing = rng.uniform(size=n) < 0.02
    lamost["ra"], lamost["dec"] = ra_l, dec_l

    # -- field stars: half next to a matched LAMOST star, farther than its own
    # counterpart (so nearest-wins picks the right one), half anywhere
    field = np.arange(n, m)
    near = field[: n_field // 2]
    hosts = rng.choice(np.flatnonzero(~missing & ~far), near.size, replace=False)
    sep = offset[hosts] + rng.uniform(0.4, 2.5, near.size)
    gaia["ra"][near], gaia["dec"][near] = offset_position(rng, ra_l[hosts], dec_l[hosts], sep)
    # 0.3 % of Gaia sources are 2-parameter solutions: no parallax, no proper
    # motion, no Bailer-Jones distance
    two_param = rng.uniform(size=m) < 0.003
    for name in (
        "parallax",
        "parallax_error",
        "parallax_over_error",
        "pmra",
        "pmra_error",
        "pmdec",
        "pmdec_error",
    ) + CORRELATION_COLUMNS[1:]:
        gaia[name] = np.where(two_param, np.nan, gaia[name])

    bj_med, bj_lo, bj_hi = bailer_jones(rng, stars["distance"], gaia["parallax_error"], eps_plx)
    bj = {"source_id": source_id, "r_med_geo": bj_med, "r_lo_geo": bj_lo, "r_hi_geo": bj_hi}

    # -- fastgrad's cuts on the mock's columns (for counts and the truth tables)
    matched = ~missing & ~far
    keep, nominal, counts = lamost_final_sample(
        lamost, {k: v[L] for k, v in gaia.items()}, {k: v[L] for k, v in bj.items()}, matched, frame
    )

    # -- assemble: LAMOST rows (= stars 0..n-1) in obsid order, Gaia rows by
    # source_id, Bailer-Jones rows shuffled
    gaia_rows = np.concatenate([np.flatnonzero(~missing), field])
    gaia_rows = gaia_rows[np.argsort(source_id[gaia_rows])]
    bj_rows = gaia_rows[~two_param[gaia_rows]]
    bj_rows = bj_rows[rng.permutation(bj_rows.size)]
    star_view = {k: (v[..., L] if isinstance(v, np.ndarray) else v) for k, v in stars.items()}
    star_view["in_final"] = keep
    star_view["nominal"] = nominal
    extra = {
        "obsid": lamost["obsid"],
        "source_id": np.where(missing, 0, source_id[L]),
        "has_gaia_match": matched,
    }
    tables = {
        "lamost": (LAMOST_COLUMNS, lamost),
        "gaia": (GAIA_COLUMNS, {k: v[gaia_rows] for k, v in gaia.items()}),
        "bailer_jones": (BAILER_JONES_COLUMNS, {k: v[bj_rows] for k, v in bj.items()}),
    }
    return tables, star_view, vxyz[:, L], extra, counts


def _make_giants(rng, n, full, frame, geo):
    """The Gaia and Bailer-Jones tables of ``n`` giants, as :func:`_make_lamost`."""
    stars, vxyz = _common_truth(rng, "gaia_giants", n, full, frame, geo)
    g = stars["phot_g_mean_mag"]
    gaia, eps_plx = observe_gaia(
        rng, stars["ra"], stars["dec"], stars["distance"], stars["pmra"], stars["pmdec"], g
    )
    # the stars are in random order already: sorted ids keep the table sorted
    # by source_id, as Gaia's, without a reordering copy
    source_id = np.sort(unique_ids(rng, n, 2**40, 2**62))
    gaia["source_id"] = source_id
    rv_err = 0.8 + 1.2 * lognormal(rng, 0.4, n) * 10.0 ** (0.2 * (g - 12.0))
    gaia["radial_velocity"] = stars["rv"] + rv_err * rng.normal(size=n)
    gaia["radial_velocity_error"] = rv_err
    mh_err = 0.044 * lognormal(rng, 0.35, n) * 10.0 ** (0.15 * (g - 12.0))
    mh = stars["feh_true"] + mh_err * rng.normal(size=n)
    asym = rng.uniform(0.8, 1.2, n)
    gaia["mh_gspspec"] = mh
    gaia["mh_gspspec_lower"] = mh - asym * mh_err
    gaia["mh_gspspec_upper"] = mh + (2.0 - asym) * mh_err
    gaia["teff_gspspec"] = stars["teff_true"] + 30.0 * rng.normal(size=n)
    gaia["logg_gspspec"] = stars["logg_true"] + 0.10 * rng.normal(size=n)
    bj_med, bj_lo, bj_hi = bailer_jones(rng, stars["distance"], gaia["parallax_error"], eps_plx)
    bj = {"source_id": source_id, "r_med_geo": bj_med, "r_lo_geo": bj_lo, "r_hi_geo": bj_hi}
    has_bj = rng.uniform(size=n) >= 0.003  # a few giants lack a Bailer-Jones distance

    keep, nominal, counts = giant_final_sample(gaia, bj, has_bj, frame)
    stars["nominal"] = nominal
    stars["in_final"] = keep

    bj_rows = np.flatnonzero(has_bj)
    bj_rows = bj_rows[rng.permutation(bj_rows.size)]
    tables = {
        "gaia": (GAIA_GIANT_COLUMNS, gaia),
        "bailer_jones": (BAILER_JONES_COLUMNS, {k: v[bj_rows] for k, v in bj.items()}),
    }
    extra = {"source_id": source_id, "has_bailer_jones": has_bj}
    return tables, stars, vxyz, extra, counts
