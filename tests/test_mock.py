"""fastgrad.mock: synthetic survey catalogues with their truth.

The references here are independent of the module: column lists written out,
astropy's cross-match, numpy's polyfit, and the docs/method.md cuts, Bensby
populations and Reid 2014 arms re-implemented inline.
"""

import json

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import join

import fastgrad
from fastgrad import mock

N = 20_000

LAMOST_SPEC = [
    ("obsid", None),
    ("ra", "deg"),
    ("dec", "deg"),
    ("teff", "K"),
    ("teff_err", "K"),
    ("logg", "dex"),
    ("logg_err", "dex"),
    ("feh", "dex"),
    ("feh_err", "dex"),
    ("vsini", "km / s"),
    ("snr", None),
    ("chi2ratio", None),
    ("rv", "km / s"),
    ("rv_err", "km / s"),
]
GAIA_SPEC = [
    ("source_id", None),
    ("ra", "deg"),
    ("ra_error", "mas"),
    ("dec", "deg"),
    ("dec_error", "mas"),
    ("parallax", "mas"),
    ("parallax_error", "mas"),
    ("parallax_over_error", None),
    ("pmra", "mas / yr"),
    ("pmra_error", "mas / yr"),
    ("pmdec", "mas / yr"),
    ("pmdec_error", "mas / yr"),
    ("ra_dec_corr", None),
    ("ra_pmra_corr", None),
    ("ra_pmdec_corr", None),
    ("dec_pmra_corr", None),
    ("dec_pmdec_corr", None),
    ("pmra_pmdec_corr", None),
    ("radial_velocity", "km / s"),
    ("radial_velocity_error", "km / s"),
]
GIANT_EXTRA = [
    ("mh_gspspec", "dex"),
    ("mh_gspspec_lower", "dex"),
    ("mh_gspspec_upper", "dex"),
    ("teff_gspspec", "K"),
    ("logg_gspspec", "dex"),
]
BJ_SPEC = [("source_id", None), ("r_med_geo", "pc"), ("r_lo_geo", "pc"), ("r_hi_geo", "pc")]

# docs/method.md section 4, Bensby et al. 2003: X, sigma_U, sigma_V, sigma_W, V_asym
BENSBY = {
    "thin": (0.94, 35, 20, 16, -15),
    "thick": (0.06, 67, 38, 35, -46),
    "halo": (0.0015, 160, 90, 90, -220),
}
# docs/method.md section 6, Reid et al. 2014: R_ref, beta_ref, psi, width, beta range; R0 = 8.34
REID = {
    "Scutum": (5.0, 27.6, 19.8, 0.17, 3, 101),
    "Sagittarius": (6.6, 25.6, 6.9, 0.26, -2, 68),
    "Local": (8.4, 8.9, 12.8, 0.33, -8, 27),
    "Perseus": (9.9, 14.2, 9.4, 0.38, -21, 88),
    "Outer": (13.0, 18.6, 13.8, 0.63, -6, 56),
}


@pytest.fixture(scope="module")
def lamost():
    return mock.make_survey("lamost_hot_stars", N, seed=11, include_truth=True)


@pytest.fixture(scope="module")
def giants():
    return mock.make_survey("gaia_giants", N, seed=12, include_truth=True)


def _spec(table):
    return [
        (c, None if table[c].unit is None else table[c].unit.to_string()) for c in table.colnames
    ]


def _values(col):
    return np.asarray(col, dtype=float)


# --------------------------------------------------------------------- columns


def test_lamost_survey_columns_and_units(lamost):
    assert set(lamost) == {"lamost", "gaia", "bailer_jones", "truth"}
    assert _spec(lamost["lamost"]) == LAMOST_SPEC
    assert _spec(lamost["gaia"]) == GAIA_SPEC
    assert _spec(lamost["bailer_jones"]) == BJ_SPEC
    assert len(lamost["lamost"]) == N
    assert lamost["lamost"]["obsid"].dtype.kind == "i"
    assert lamost["gaia"]["source_id"].dtype == np.int64
    assert np.unique(lamost["lamost"]["obsid"]).size == N
    assert np.unique(lamost["gaia"]["source_id"]).size == len(lamost["gaia"])
    # Gaia RVs exist only for a minority of hot stars (bright ones)
    has_rv = np.isfinite(_values(lamost["gaia"]["radial_velocity"]))
    assert 0.0 < has_rv.mean() < 0.3


def test_giant_survey_columns_and_units(giants):
    assert set(giants) == {"gaia", "bailer_jones", "truth"}
    assert _spec(giants["gaia"]) == GAIA_SPEC + GIANT_EXTRA
    assert _spec(giants["bailer_jones"]) == BJ_SPEC
    assert len(giants["gaia"]) == N
    g = giants["gaia"]
    assert np.all(np.isfinite(_values(g["radial_velocity"])))
    assert np.all(_values(g["mh_gspspec_lower"]) < _values(g["mh_gspspec"]))
    assert np.all(_values(g["mh_gspspec"]) < _values(g["mh_gspspec_upper"]))


def test_without_truth_table_and_make_catalog():
    s = mock.make_survey("gaia_giants", 500, seed=1)
    assert set(s) == {"gaia", "bailer_jones"}
    cat = mock.make_catalog("lamost_hot_stars", 500, seed=1)
    assert cat.colnames == [c for c, _ in LAMOST_SPEC]
    assert fastgrad.make_catalog is mock.make_catalog


def test_error_sizes_match_the_paper(lamost, giants):
    """docs/method.md section 8 medians (final-like samples): LAMOST 85 K / 0.10 /
    0.08 dex, Gaia [M/H] 0.04 dex, parallax ~3 %; generous bands."""
    lam = lamost["lamost"]
    final = np.asarray(lamost["truth"]["in_final"])
    assert 65 < np.median(_values(lam["teff_err"])[final]) < 105
    assert 0.07 < np.median(_values(lam["logg_err"])[final]) < 0.13
    assert 0.06 < np.median(_values(lam["feh_err"])[final]) < 0.10
    assert 4 < np.median(_values(lam["rv_err"])[final]) < 11
    g = giants["gaia"]
    mh_err = 0.5 * (_values(g["mh_gspspec_upper"]) - _values(g["mh_gspspec_lower"]))
    assert 0.03 < np.median(mh_err) < 0.05
    frac = _values(g["parallax_error"]) / _values(g["parallax"])
    assert 0.015 < np.median(frac[np.asarray(giants["truth"]["in_final"])]) < 0.05
    assert 0.01 < np.median(_values(g["pmra_error"])) < 0.1
    assert 1 < np.median(_values(g["radial_velocity_error"])) < 3


def test_gaia_correlations_are_valid(giants):
    g = giants["gaia"]
    c = {k: _values(g[k]) for k, _ in GAIA_SPEC if k.endswith("_corr")}
    m = np.zeros((len(g), 4, 4)) + np.eye(4)
    pairs = {
        "ra_dec_corr": (0, 1),
        "ra_pmra_corr": (0, 2),
        "ra_pmdec_corr": (0, 3),
        "dec_pmra_corr": (1, 2),
        "dec_pmdec_corr": (1, 3),
        "pmra_pmdec_corr": (2, 3),
    }
    for k, (i, j) in pairs.items():
        assert np.all(np.abs(c[k]) < 1) and np.std(c[k]) > 0.01
        m[:, i, j] = m[:, j, i] = c[k]
    assert np.linalg.eigvalsh(m).min() > 0


def test_bailer_jones_percentiles(giants):
    bj = giants["bailer_jones"]
    lo, med, hi = (_values(bj[k]) for k in ("r_lo_geo", "r_med_geo", "r_hi_geo"))
    assert np.all((0 < lo) & (lo < med) & (med < hi))
    # the median scatters about the true distance by about its own width
    t = join(giants["truth"]["source_id", "distance"], bj, keys="source_id")
    pull = (_values(t["r_med_geo"]) / 1e3 - _values(t["distance"])) / (
        0.5 * (_values(t["r_hi_geo"]) - _values(t["r_lo_geo"])) / 1e3
    )
    assert 0.8 < np.std(pull) < 1.2
    assert abs(np.median(pull)) < 0.1


# ----------------------------------------------------------------- determinism


def test_deterministic_with_seed():
    a = mock.make_survey("lamost_hot_stars", 2000, seed=5)
    b = mock.make_survey("lamost_hot_stars", 2000, seed=5)
    c = mock.make_survey("lamost_hot_stars", 2000, seed=6)
    for name in a:
        assert a[name].colnames == b[name].colnames
        for col in a[name].colnames:
            np.testing.assert_array_equal(np.asarray(a[name][col]), np.asarray(b[name][col]))
        assert a[name].meta == b[name].meta
    assert not np.array_equal(
        np.asarray(a["lamost"]["feh"]), np.asarray(c["lamost"]["feh"]), equal_nan=True
    )


def test_n_scales_everything():
    small = mock.make_survey("lamost_hot_stars", 2000, seed=1)
    big = mock.make_survey("lamost_hot_stars", 8000, seed=1)
    for name in small:
        ratio = len(big[name]) / len(small[name])
        assert 3.8 < ratio < 4.2
    assert big["lamost"].meta["truth"]["n"] == 8000


# --------------------------------------------------------------------- footprint


def test_lamost_footprint_and_survey_volume(lamost):
    assert np.all(_values(lamost["lamost"]["dec"]) > -10.0)
    tr = lamost["truth"]
    d = _values(tr["distance"])
    assert d.min() >= 0.3 and d.max() <= 5.0
    final = np.asarray(tr["in_final"])
    R, absz = _values(tr["R"])[final], _values(tr["absz"])[final]
    # the paper: R ~ 6.8-12 kpc, median 9.3 kpc, |Z| <~ 2 kpc
    assert 9.0 < np.median(R) < 9.7
    assert 6.2 < np.percentile(R, 3) and np.percentile(R, 99) < 12.8
    assert np.percentile(absz, 99.5) < 2.0
    # ~97,000 of ~129,000 final stars at |Z| < 0.3 kpc
    assert 0.68 < np.mean(absz < 0.3) < 0.8


def test_giants_are_all_sky_and_reach_far(giants):
    dec = _values(giants["gaia"]["dec"])
    assert dec.min() < -60 and dec.max() > 60
    d = _values(giants["truth"]["distance"])
    assert np.percentile(d, 99) > 5.0 and d.max() <= 8.0


def test_population_fractions(lamost, giants):
    for s, thick in ((lamost, 0.06), (giants, 0.10)):
        pop = np.asarray(s["truth"]["population"])
        assert abs(np.mean(pop == "thick") - thick) < 0.01
        assert 0.004 < np.mean(pop == "halo") < 0.011


# ------------------------------------------------------------------ truth meta


def test_truth_meta_is_json_and_complete(lamost, giants):
    for s in (lamost, giants):
        metas = [t.meta["truth"] for t in s.values()]
        assert all(m == metas[0] for m in metas)
        meta = metas[0]
        assert json.loads(json.dumps(meta, allow_nan=False)) == meta
        assert meta["frame"]["preset"] == "hawkins2023"
        assert meta["frame"]["galcen_distance_kpc"] == pytest.approx(8.27)
        assert [(r["bin_lo"], r["bin_hi"]) for r in meta["table1"]] == [
            (pytest.approx(0.2 * i), pytest.approx(0.2 * i + 0.2)) for i in range(7)
        ]
        assert [(r["bin_lo"], r["bin_hi"]) for r in meta["table2"]] == [
            (float(r), float(r + 1)) for r in range(7, 14)
        ]
        for row in meta["table1"] + meta["table2"]:
            assert set(row) >= {"bin_lo", "bin_hi", "slope", "intercept", "n"}
    assert lamost["lamost"].meta["truth"]["azimuthal"]["kind"] == "none"
    assert lamost["lamost"].meta["truth"]["azimuthal_amplitude"] == 0.0
    assert giants["gaia"].meta["truth"]["azimuthal"]["kind"] == "reid2014_arms"
    assert 0.05 <= giants["gaia"].meta["truth"]["azimuthal_amplitude"] <= 0.1


def test_table1_truth_equals_input_for_a_linear_model():
    """With m and b independent of |Z| (and no azimuthal term) the model is a
    straight line in R: every bin's least-squares line is the input exactly."""
    truth = {
        "metallicity": {
            "absz_knots_kpc": [0.0, 2.0],
            "slope_dex_per_kpc": [-0.05, -0.05],
            "intercept_dex": [0.3, 0.3],
        }
    }
    meta = mock.make_survey("lamost_hot_stars", 5000, seed=2, truth=truth)["lamost"].meta["truth"]
    for row in meta["table1"]:
        if row["n"] >= 2:
            assert row["slope"] == pytest.approx(-0.05, abs=1e-9)
            assert row["intercept"] == pytest.approx(0.3, abs=1e-8)
    assert meta["metallicity"]["slope_dex_per_kpc"] == [-0.05, -0.05]


def test_table_truth_is_the_least_squares_line_of_the_final_sample(lamost):
    tr = lamost["truth"]
    meta = lamost["lamost"].meta["truth"]
    final = np.asarray(tr["in_final"])
    R, absz, model, R_obs, absz_obs = (
        _values(tr[k])[final] for k in ("R", "absz", "feh_model", "R_observed", "absz_observed")
    )
    # binned by the observed coordinates, fitted against the true ones
    for table, key, x in (("table1", absz_obs, R), ("table2", R_obs, absz)):
        for row in meta[table]:
            sel = (key >= row["bin_lo"]) & (key < row["bin_hi"])
            assert row["n"] == sel.sum()
            if sel.sum() >= 50:
                slope, intercept = np.polyfit(x[sel], model[sel], 1)
                assert row["slope"] == pytest.approx(slope, abs=1e-9)
                assert row["intercept"] == pytest.approx(intercept, abs=1e-8)


def test_table1_slopes_follow_the_paper(lamost):
    """Default truth = the paper's Table 1: the ideal fits land on it to within
    what the slope change across a 0.2 kpc bin allows."""
    paper = [-0.078, -0.066, -0.053, -0.038, -0.026, -0.022, -0.001]
    for row, m in zip(lamost["lamost"].meta["truth"]["table1"], paper):
        if row["n"] >= 200:
            assert row["slope"] == pytest.approx(m, abs=0.006)


def test_observed_metallicity_is_truth_plus_noise(lamost):
    lam, tr = lamost["lamost"], lamost["truth"]
    ok = np.isfinite(_values(lam["feh"]))
    pull = (_values(lam["feh"]) - _values(tr["feh_true"]))[ok] / _values(lam["feh_err"])[ok]
    assert abs(np.mean(pull)) < 0.05 and 0.95 < np.std(pull) < 1.05
    disk = np.asarray(tr["population"]) != "halo"
    scatter = (_values(tr["feh_true"]) - _values(tr["feh_model"]))[disk]
    assert np.std(scatter) == pytest.approx(0.30, rel=0.05)


# -------------------------------------------------------------------- round trip


def test_round_trip_positions(lamost, giants):
    """fastgrad.galactocentric of the observed Gaia positions at the true
    distances gives back the true Galactocentric positions (Gaia's position
    errors are ~0.01-0.1 mas: < 1e-8 kpc at 8 kpc)."""
    for s in (lamost, giants):
        t = join(s["truth"], s["gaia"], keys="source_id")
        zero = np.zeros(len(t))  # positions need no velocities
        gc = fastgrad.galactocentric(t["ra"], t["dec"], t["distance"], zero, zero, zero)
        for c in ("x", "y", "z"):
            np.testing.assert_allclose(_values(gc[c]), _values(t[c]), rtol=0, atol=1e-6)


def test_round_trip_velocities_giants(giants):
    """With the observed proper motions and Gaia RVs the velocities come back
    within their errors (pm ~0.02 mas/yr, RV ~2 km/s: a few km/s)."""
    t = join(giants["truth"], giants["gaia"], keys="source_id")
    gc = fastgrad.galactocentric(
        t["ra"], t["dec"], t["distance"], t["pmra"], t["pmdec"], t["radial_velocity"]
    )
    for c in ("vx", "vy", "vz"):
        diff = _values(gc[c]) - _values(t[c])
        assert abs(np.median(diff)) < 0.2
        assert np.percentile(np.abs(diff), 90) < 6.0


def test_frame_option():
    s = mock.make_survey("gaia_giants", 1000, seed=3, frame="v4.0", include_truth=True)
    assert s["gaia"].meta["truth"]["frame"]["preset"] == "v4.0"
    t = join(s["truth"], s["gaia"], keys="source_id")
    gc = fastgrad.galactocentric(
        t["ra"], t["dec"], t["distance"], t["pmra"], t["pmdec"], t["radial_velocity"], frame="v4.0"
    )
    np.testing.assert_allclose(_values(gc["x"]), _values(t["x"]), atol=1e-6)
    # the rotation speed follows the frame: v_sun,y - 12.24 km/s
    assert s["gaia"].meta["truth"]["rotation_speed_kms"] == pytest.approx(245.6 - 12.24)


# ------------------------------------------------------------------------- cuts


def _p_halo(x, y, vx, vy, vz, frame=None):
    """Bensby 2003 P(halo) in each star's own frame (docs/method.md section 4):
    velocities along the star's axes (to the centre, along rotation, up) minus
    the LSR's, the Sun's velocity less (11.1, 12.24, 7.25) km/s (the Sun lies
    on the -x axis in these frames)."""
    v = fastgrad.get_frame(frame).galcen_v_sun
    lsr = (v.d_xyz if hasattr(v, "d_xyz") else v.xyz).to_value(u.km / u.s) - (11.1, 12.24, 7.25)
    x, y, vx, vy, vz = (np.asarray(c) for c in (x, y, vx, vy, vz))
    R = np.hypot(x, y)
    uu = -(x * vx + y * vy) / R - lsr[0]
    vv = (y * vx - x * vy) / R - lsr[1]
    ww = vz - lsr[2]
    f = {}
    for name, (X, su, sv, sw, va) in BENSBY.items():
        f[name] = (
            X
            / (su * sv * sw)
            * np.exp(-0.5 * ((uu / su) ** 2 + ((vv - va) / sv) ** 2 + (ww / sw) ** 2))
        )
    return f["halo"] / (f["thin"] + f["thick"] + f["halo"])


def _astrometric(t):
    sigma_d = 0.5 * (_values(t["r_hi_geo"]) - _values(t["r_lo_geo"]))
    with np.errstate(invalid="ignore"):
        return (_values(t["parallax_over_error"]) > 1 / 0.3) & (
            sigma_d / _values(t["r_med_geo"]) <= 0.3
        )


def test_lamost_cuts_leave_the_paper_fraction(lamost):
    lam, gaia, bj = lamost["lamost"], lamost["gaia"], lamost["bailer_jones"]
    v = {
        k: _values(lam[k])
        for k in ("logg", "vsini", "teff", "snr", "chi2ratio", "rv_err", "feh", "feh_err", "rv")
    }
    with np.errstate(invalid="ignore"):
        steps = [
            (v["logg"] >= 2) & (v["logg"] <= 5),
            v["vsini"] >= 0,
            (v["teff"] <= 25000) & (v["teff"] > 7000),
            v["snr"] >= 30,
            v["chi2ratio"] <= 10,
            np.isfinite(v["rv_err"])
            & (v["rv_err"] <= 100)
            & np.isfinite(v["teff"])
            & np.isfinite(v["logg"])
            & np.isfinite(v["feh"])
            & (v["feh_err"] < 0.2),
        ]
    keep = np.ones(N, dtype=bool)
    for mask in steps:
        removed = np.sum(keep & ~mask)
        assert removed > 0.002 * N  # every cut has work to do
        keep &= mask
    # ~332,000 -> ~140,000 in the paper
    assert 0.38 < keep.mean() < 0.47
    spec = lam[keep]

    # 2" match to Gaia, nearest wins
    c_l = SkyCoord(spec["ra"], spec["dec"])
    c_g = SkyCoord(gaia["ra"], gaia["dec"])
    idx, sep, _ = c_l.match_to_catalog_sky(c_g)
    matched = sep < 2 * u.arcsec
    assert 0.94 < matched.mean() < 0.99
    assert 0.1 < np.median(sep[matched].to_value(u.arcsec)) < 0.5
    t = spec[matched]
    t["source_id"] = gaia["source_id"][idx[matched]]
    # the nearest Gaia source is the true counterpart
    truth = join(t["obsid", "source_id"], lamost["truth"]["obsid", "source_id"], keys="obsid")
    np.testing.assert_array_equal(truth["source_id_1"], truth["source_id_2"])
    t = join(t, gaia, keys="source_id", table_names=["lamost", "gaia"])
    t = join(t, bj, keys="source_id")
    t = t[_astrometric(t) & np.isfinite(_values(t["rv"]))]
    gc = fastgrad.galactocentric(
        t["ra_gaia"], t["dec_gaia"], _values(t["r_med_geo"]) / 1e3, t["pmra"], t["pmdec"], t["rv"]
    )
    final = _p_halo(gc["x"], gc["y"], gc["vx"], gc["vy"], gc["vz"]) < 0.01
    assert 0.005 < 1 - final.mean() < 0.08
    # the paper: 129,148 of ~332,000 candidates
    assert 0.36 < final.sum() / N < 0.44
    counts = lam.meta["truth"]["counts"]
    assert final.sum() == pytest.approx(counts["final"], rel=0.01)
    # and the unrelated Gaia field stars are there
    assert len(gaia) - np.unique(idx).size > 0.01 * N


def test_giant_cuts_leave_the_paper_fraction(giants):
    g, bj = giants["gaia"], giants["bailer_jones"]
    tl = (_values(g["teff_gspspec"]) < 4700) & (_values(g["logg_gspspec"]) < 2.0)
    assert 0.05 < 1 - tl.mean() < 0.2
    t = join(g[tl], bj, keys="source_id")
    assert 0 < tl.sum() - len(t) < 0.01 * N  # a few lack a distance
    t = t[_astrometric(t)]
    gc = fastgrad.galactocentric(
        t["ra"],
        t["dec"],
        _values(t["r_med_geo"]) / 1e3,
        t["pmra"],
        t["pmdec"],
        t["radial_velocity"],
    )
    final = _p_halo(gc["x"], gc["y"], gc["vx"], gc["vy"], gc["vz"]) < 0.01
    # ~800,000-850,000 of ~1,000,000
    assert 0.78 < final.sum() / N < 0.87
    assert final.sum() == pytest.approx(g.meta["truth"]["counts"]["final"], rel=0.01)


# ------------------------------------------------------------------- azimuthal


def _near_reid_arm(R, phi, r0=8.27):
    """Within one arm width of a Reid 2014 arm centre line (R scaled to R0 = 8.34)."""
    R = R * 8.34 / r0
    beta = np.degrees(phi)
    near = np.zeros(R.shape, dtype=bool)
    for r_ref, beta_ref, psi, width, lo, hi in REID.values():
        r_arm = r_ref * np.exp(-np.radians(beta - beta_ref) * np.tan(np.radians(psi)))
        dist = np.abs(R - r_arm) * np.cos(np.radians(psi))
        near |= (dist <= width) & (beta >= lo) & (beta <= hi)
    return near


def _residual_near_minus_elsewhere(survey, metal_col, main):
    tr = survey["truth"]
    key = "obsid" if main == "lamost" else "source_id"
    t = join(tr, survey[main], keys=key)
    final = np.asarray(t["in_final"])
    R, absz, phi = _values(t["R"]), _values(t["absz"]), _values(t["phi"])
    paper_absz = [0.1, 0.3, 0.5, 0.7, 0.9, 1.1, 1.3]
    m = np.interp(absz, paper_absz, [-0.078, -0.066, -0.053, -0.038, -0.026, -0.022, -0.001])
    b = np.interp(absz, paper_absz, [0.418, 0.294, 0.135, -0.043, -0.211, -0.280, -0.488])
    resid = _values(t[metal_col]) - (m * R + b)
    sel = final & (absz < 0.3) & np.isfinite(resid)
    near = _near_reid_arm(R, phi)
    return np.mean(resid[sel & near]) - np.mean(resid[sel & ~near]), np.sum(sel & near)


def test_giants_carry_the_spiral_arm_pattern(giants):
    diff, n_near = _residual_near_minus_elsewhere(giants, "mh_gspspec", "gaia")
    amp = giants["gaia"].meta["truth"]["azimuthal_amplitude"]
    assert n_near > 500
    # the bump averages ~0.8 x amplitude within one width of the centre line;
    # noise on the mean difference ~0.16 / sqrt(n_near) < 0.01 dex
    assert 0.5 * amp < diff < 1.0 * amp
    prof = giants["gaia"].meta["truth"]["azimuthal_profile"]
    assert prof["mean_pattern_near_arms_dex"] > prof["mean_pattern_elsewhere_dex"] + 0.5 * amp
    assert prof["outer"]["peak_to_peak_dex"] > 0.02


def test_lamost_has_no_pattern_by_default(lamost):
    diff, _ = _residual_near_minus_elsewhere(lamost, "feh", "lamost")
    assert abs(diff) < 0.03  # statistical noise ~0.31 / sqrt(~1000) ~ 0.01 dex


def test_azimuthal_pattern_is_configurable():
    truth = {"azimuthal": {"kind": "cosine", "amplitude_dex": 0.1, "m": 2, "phase_rad": 0.3}}
    s = mock.make_survey("lamost_hot_stars", 3000, seed=4, truth=truth, include_truth=True)
    tr = s["truth"]
    disk = np.asarray(tr["population"]) != "halo"
    expected = 0.1 * np.cos(2 * (_values(tr["phi"]) - 0.3))
    np.testing.assert_allclose(_values(tr["feh_pattern"])[disk], expected[disk], atol=1e-12)
    assert s["lamost"].meta["truth"]["azimuthal_amplitude"] == 0.1


# ------------------------------------------------------------------ bad inputs


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(kind="apogee"), "kind"),
        (dict(kind="gaia_giants", n=10), "n must be"),
        (dict(kind="gaia_giants", truth={"metalicity": {}}), "unknown key 'metalicity'"),
        (dict(kind="gaia_giants", truth={"azimuthal": {"kind": "bar"}}), "azimuthal"),
        (dict(kind="gaia_giants", truth={"azimuthal": {"arms": ["Norma"]}}), "Norma"),
        (dict(kind="gaia_giants", truth={"populations": {"thick": {"fraction": 1.2}}}), "fraction"),
        (dict(kind="gaia_giants", seed="x"), "seed"),
    ],
)
def test_bad_arguments(kwargs, match):
    kind = kwargs.pop("kind")
    with pytest.raises(ValueError, match=match):
        mock.make_survey(kind, kwargs.pop("n", 1000), **kwargs)


def test_pattern_shape_reproduces_the_injected_pattern(giants):
    """fastgrad.mock.pattern_shape (used by the pipeline's matched filter) gives
    back what the generator added, from the table's metadata alone."""
    tr = giants["truth"]
    meta = giants["gaia"].meta["truth"]
    disk = np.asarray(tr["population"]) != "halo"
    shape = mock.pattern_shape(tr["x"], tr["y"], meta)
    assert shape.max() <= 1.0 and shape.max() > 0.99
    np.testing.assert_allclose(
        meta["azimuthal_amplitude"] * shape[disk],
        _values(tr["feh_pattern"])[disk],
        rtol=0,
        atol=1e-12,
    )
    # the shape is the Reid 2014 arms': within one width of a centre line it is >= exp(-1/2)
    near = _near_reid_arm(_values(tr["R"]), _values(tr["phi"]))
    assert np.all(shape[near] >= np.exp(-0.5) - 1e-9)


def _annulus_mean_bruteforce(R, v, h):
    """Mean of v over |R_j - R_i| <= h, star by star (O(N^2): N is a few 1e3 here)."""
    out = np.empty_like(v)
    for i in range(R.size):
        sel = np.abs(R - R[i]) <= h
        out[i] = v[sel].mean()
    return out


def test_matched_filter_recovers_the_observed_amplitude():
    """The pipeline's estimator (delta = A (g - <g>) + c on the observed
    |Z| < 0.3 kpc sample) lands on azimuthal_amplitude_observed."""
    s = mock.make_survey(
        "gaia_giants",
        12_000,
        seed=21,
        include_truth=True,
        truth={"azimuthal": {"amplitude_dex": 0.1}},
    )
    meta = s["gaia"].meta["truth"]
    assert 0.9 * 0.1 < meta["azimuthal_amplitude_observed"] < 0.1
    t = join(s["truth"][s["truth"]["in_final"]], s["gaia"], keys="source_id")
    t = join(t, s["bailer_jones"], keys="source_id")
    gc = fastgrad.galactocentric(
        t["ra"],
        t["dec"],
        _values(t["r_med_geo"]) / 1e3,
        t["pmra"],
        t["pmdec"],
        t["radial_velocity"],
    )
    sel = _values(gc["absz"]) < 0.3
    R = _values(gc["R"])[sel]
    mh = _values(t["mh_gspspec"])[sel]
    g = mock.pattern_shape(_values(gc["x"])[sel], _values(gc["y"])[sel], meta)
    delta = mh - _annulus_mean_bruteforce(R, mh, 0.1)
    g = g - _annulus_mean_bruteforce(R, g, 0.1)
    A = np.column_stack([g, np.ones_like(g)])
    coef, *_ = np.linalg.lstsq(A, delta, rcond=None)
    resid = delta - A @ coef
    err = np.sqrt(np.linalg.inv(A.T @ A)[0, 0] * resid.var(ddof=2))
    assert err < 0.015
    assert abs(coef[0] - meta["azimuthal_amplitude_observed"]) < 4 * err


# ------------------------------------------------------- the package's seams


def test_public_names_stay_importable():
    assert mock.__all__ == [
        "make_survey",
        "make_catalog",
        "default_truth",
        "pattern_shape",
        "KINDS",
        "DEFAULT_N",
        "LAMOST_COLUMNS",
        "GAIA_COLUMNS",
        "GAIA_GIANT_COLUMNS",
        "BAILER_JONES_COLUMNS",
        "TABLE1_EDGES",
        "TABLE2_EDGES",
    ]
    for name in mock.__all__:
        assert getattr(mock, name) is not None
    assert fastgrad.make_survey is mock.make_survey
    assert fastgrad.make_catalog is mock.make_catalog
    assert mock.KINDS == ("lamost_hot_stars", "gaia_giants")
    assert mock.TABLE1_EDGES[0] == 0.0 and mock.TABLE2_EDGES == tuple(range(7, 15))


def _report_after(report):
    return dict(zip(report["cut"], report["n_after"].tolist()))


def test_counts_are_fastgrads_cuts_on_the_mock_tables(lamost, giants):
    """The spectroscopic counts of meta["truth"] are what fastgrad.apply_cuts
    gives on the tables the mock hands out (the same cuts, not a copy)."""
    counts = lamost["lamost"].meta["truth"]["counts"]
    kept, report = fastgrad.apply_cuts(lamost["lamost"], "lamost_hot_stars")
    after = _report_after(report)
    assert counts["candidates"] == N
    for cut, key in mock.cutflow.LAMOST_COUNT_AFTER.items():
        assert counts[key] == after[cut]
    assert counts["after_finite_and_errors"] == len(kept)
    # the final sample lies inside it
    tr = lamost["truth"]
    final_ids = np.asarray(tr["obsid"])[np.asarray(tr["in_final"])]
    assert np.isin(final_ids, np.asarray(kept["obsid"])).all()
    assert counts["final"] == final_ids.size

    gcounts = giants["gaia"].meta["truth"]["counts"]
    gkept, _ = fastgrad.apply_cuts(giants["gaia"], "gaia_giants")
    assert gcounts["after_teff_logg"] == len(gkept)
    assert gcounts["final"] == np.sum(np.asarray(giants["truth"]["in_final"]))
    assert list(gcounts)[:-1] == [
        "candidates",
        "after_teff_logg",
        "after_distance_match",
        "after_astrometric",
        "final",
    ]


def test_preset_steps_apply_every_cut_of_the_preset():
    from fastgrad.catalogs import get_cuts
    from fastgrad.mock.cutflow import LAMOST_COUNT_AFTER, preset_steps

    steps = preset_steps("lamost_hot_stars", LAMOST_COUNT_AFTER, "after_finite_and_errors")
    assert [key for key, _ in steps] == [
        "after_logg",
        "after_vsini",
        "after_teff",
        "after_snr",
        "after_chi2ratio",
        "after_finite_and_errors",
    ]
    assert [c for _, group in steps for c in group] == list(get_cuts("lamost_hot_stars"))
    assert preset_steps("gaia_giants", {}, "x") == [("x", get_cuts("gaia_giants"))]
    with pytest.raises(ValueError, match="no cut"):
        preset_steps("gaia_giants", {"snr_min": "after_snr"}, "x")


def test_truth_follows_a_changed_cut(monkeypatch):
    """A threshold changed in fastgrad's presets moves the mock's counts with it."""
    from fastgrad.catalogs import get_cuts

    presets = get_cuts.__globals__["CUT_PRESETS"]  # wherever the presets live
    stricter = tuple(
        c.with_params(snr_min=50.0) if c.name == "snr_min" else c
        for c in presets["lamost_hot_stars"]
    )
    before = mock.make_survey("lamost_hot_stars", 2000, seed=8)["lamost"]
    monkeypatch.setitem(
        get_cuts.__globals__,
        "CUT_PRESETS",
        type(presets)({**presets, "lamost_hot_stars": stricter}),
    )
    after = mock.make_survey("lamost_hot_stars", 2000, seed=8)["lamost"]
    c0, c1 = before.meta["truth"]["counts"], after.meta["truth"]["counts"]
    _, report = fastgrad.apply_cuts(before, "lamost_hot_stars", thresholds={"snr_min": 50.0})
    assert c1["after_snr"] == _report_after(report)["snr_min"] < c0["after_snr"]
    assert c1["final"] < c0["final"]
    np.testing.assert_array_equal(np.asarray(after["feh"]), np.asarray(before["feh"]))


def test_matched_filter_is_the_least_squares_amplitude():
    """The mock's expected amplitude and the pipeline's recovery share
    fastgrad.validation.matched_filter: LAPACK's least squares on the same
    design gives the same amplitude and error."""
    from fastgrad.validation import matched_filter

    rng = np.random.default_rng(3)
    R = rng.uniform(7, 11, 1500)
    phi = rng.uniform(-0.5, 0.5, R.size)
    shape = np.cos(2 * phi) * np.exp(-0.5 * ((R - 9) / 0.5) ** 2)
    feh = 0.08 * shape + rng.normal(0, 0.05, R.size)
    delta = feh - _annulus_mean_bruteforce(R, feh, 0.1)
    g = shape - _annulus_mean_bruteforce(R, shape, 0.1)
    A = np.column_stack([g, np.ones_like(g)])
    coef, *_ = np.linalg.lstsq(A, delta, rcond=None)
    err = np.sqrt(np.linalg.inv(A.T @ A)[0, 0] * (delta - A @ coef).var(ddof=2))
    amp, err2 = matched_filter(R, delta, shape, 0.1)
    assert amp == pytest.approx(coef[0], rel=1e-10)
    assert err2 == pytest.approx(err, rel=1e-8)
    assert abs(amp - 0.08) < 4 * err
    with pytest.raises(ValueError, match="undefined"):
        matched_filter(R, delta, np.ones_like(R), 0.1)
