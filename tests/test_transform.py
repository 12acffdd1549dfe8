"""fastgrad.galactocentric / mc_galactocentric against astropy."""

import os
import tracemalloc

import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from astropy.coordinates import Galactocentric, SkyCoord

import fastgrad
from fastgrad.frames import frame_constants

MAS = np.pi / (180 * 3600e3)


def random_stars(n, seed=0, dmax=10.0):
    rng = np.random.default_rng(seed)
    return dict(
        ra=rng.uniform(0, 360, n),
        dec=np.degrees(np.arcsin(rng.uniform(-1, 1, n))),
        distance=rng.uniform(0.05, dmax, n),
        pmra=rng.normal(0, 20, n),
        pmdec=rng.normal(0, 20, n),
        radial_velocity=rng.normal(0, 60, n),
    )


def random_errors(s, seed=1):
    rng = np.random.default_rng(seed)
    n = len(s["ra"])
    return dict(
        ra_error=rng.uniform(0.01, 0.1, n),
        dec_error=rng.uniform(0.01, 0.1, n),
        distance_error=rng.uniform(0.02, 0.25, n) * s["distance"],
        pmra_error=rng.uniform(0.02, 0.5, n),
        pmdec_error=rng.uniform(0.02, 0.5, n),
        radial_velocity_error=rng.uniform(1, 15, n),
    )


def astropy_gc(s, frame):
    c = SkyCoord(
        ra=s["ra"] * u.deg,
        dec=s["dec"] * u.deg,
        distance=s["distance"] * u.kpc,
        pm_ra_cosdec=s["pmra"] * u.mas / u.yr,
        pm_dec=s["pmdec"] * u.mas / u.yr,
        radial_velocity=s["radial_velocity"] * u.km / u.s,
    )
    return c.transform_to(frame)


@pytest.mark.parametrize(
    "frame", [fastgrad.paper_frame(), Galactocentric()], ids=["hawkins2023", "astropy-default"]
)
def test_nominal_matches_astropy(frame):
    s = random_stars(10_000)
    t = fastgrad.galactocentric(**s, frame=frame)
    g = astropy_gc(s, frame)
    # astropy's own arithmetic rounds at ~1e-15 relative; 1e-9 kpc and
    # 1e-7 km/s are the bounds and leave room for any platform libm
    for name, ref, unit, tol in (
        ("x", g.x, u.kpc, 1e-9),
        ("y", g.y, u.kpc, 1e-9),
        ("z", g.z, u.kpc, 1e-9),
        ("vx", g.v_x, u.km / u.s, 1e-7),
        ("vy", g.v_y, u.km / u.s, 1e-7),
        ("vz", g.v_z, u.km / u.s, 1e-7),
    ):
        np.testing.assert_allclose(t[name], ref.to_value(unit), rtol=0, atol=tol, err_msg=name)
        assert t[name].unit == unit
    x, y, z = (q.to_value(u.kpc) for q in (g.x, g.y, g.z))
    np.testing.assert_allclose(t["R"], np.hypot(x, y), rtol=0, atol=1e-9)
    np.testing.assert_allclose(t["phi"], np.arctan2(y, -x), rtol=0, atol=1e-12)
    np.testing.assert_allclose(t["absz"], np.abs(z), rtol=0, atol=1e-9)


def test_frame_constants_follow_the_frame():
    A, t, v = frame_constants(fastgrad.paper_frame())
    np.testing.assert_allclose(A @ A.T, np.eye(3), atol=1e-14)
    np.testing.assert_allclose(v, [12.9, 245.0, 7.78], atol=1e-12)
    # the Sun sits at R = 8.27 kpc (up to the z_sun tilt), at x < 0
    assert t[0] < 0 and abs(np.hypot(t[0], t[2]) - 8.27) < 1e-12
    A2, t2, v2 = frame_constants(Galactocentric())
    np.testing.assert_allclose(v2, [12.9, 245.6, 7.78], atol=1e-12)
    assert abs(np.hypot(t2[0], t2[2]) - 8.122) < 1e-12
    meta = fastgrad.frames.frame_metadata(None)
    assert meta["preset"] == "hawkins2023" and meta["galcen_distance_kpc"] == 8.27


def test_phi_convention():
    # phi = 0 towards the Sun from the centre, growing with Galactic rotation
    # (the Sun moves towards +y in astropy's frame)
    frame = fastgrad.paper_frame()
    sun = SkyCoord(x=-8.27 * u.kpc, y=0 * u.kpc, z=0 * u.kpc, frame=frame)
    ahead = SkyCoord(x=-8.27 * u.kpc, y=0.5 * u.kpc, z=0 * u.kpc, frame=frame)
    out = []
    for c in (sun, ahead):
        i = c.transform_to("icrs")
        out.append(
            fastgrad.galactocentric(i.ra.deg, i.dec.deg, i.distance.to_value(u.kpc), 0.0, 0.0, 0.0)
        )
    assert abs(out[0]["phi"][0]) < 1e-12
    assert out[1]["phi"][0] == pytest.approx(np.arctan2(0.5, 8.27), abs=1e-12)


def test_inputs_as_quantities_series_and_presets():
    s = random_stars(50)
    ref = fastgrad.galactocentric(**s)
    q = fastgrad.galactocentric(
        ra=s["ra"] * u.deg,
        dec=(s["dec"] * u.deg).to(u.rad),
        distance=s["distance"] * 1000 * u.pc,
        pmra=pd.Series(s["pmra"]),
        pmdec=s["pmdec"] * u.mas / u.yr,
        radial_velocity=(s["radial_velocity"] * u.km / u.s).to(u.m / u.s),
    )
    for name in ("x", "vy", "phi"):
        np.testing.assert_allclose(q[name], ref[name], rtol=1e-13, atol=1e-12)
    v4 = fastgrad.galactocentric(**s, frame="v4.0")
    g = astropy_gc(s, Galactocentric())
    np.testing.assert_allclose(v4["x"], g.x.to_value(u.kpc), atol=1e-9)


def _astropy_mc(s, e, frame, n_samples, seed, corr=None):
    """Monte Carlo driven by numpy draws and one batched astropy transform."""
    rng = np.random.default_rng(seed)
    n = len(s["ra"])
    shape = (n, n_samples)
    cov = np.zeros((n, 4, 4))
    sig = np.stack(
        [e["ra_error"] * MAS, e["dec_error"] * MAS, e["pmra_error"], e["pmdec_error"]], 1
    )
    cov[:, range(4), range(4)] = sig**2
    if corr is not None:
        pairs = [
            (0, 1, "ra_dec_corr"),
            (0, 2, "ra_pmra_corr"),
            (0, 3, "ra_pmdec_corr"),
            (1, 2, "dec_pmra_corr"),
            (1, 3, "dec_pmdec_corr"),
            (2, 3, "pmra_pmdec_corr"),
        ]
        for i, j, k in pairs:
            if k in corr:
                cov[:, i, j] = cov[:, j, i] = corr[k] * sig[:, i] * sig[:, j]
    L = np.linalg.cholesky(cov)
    z = rng.standard_normal((n, n_samples, 4))
    d4 = np.einsum("nij,nkj->nki", L, z)
    ra = np.radians(s["ra"])[:, None] + d4[..., 0] / np.cos(np.radians(s["dec"]))[:, None]
    dec = np.radians(s["dec"])[:, None] + d4[..., 1]
    d = s["distance"][:, None] + e["distance_error"][:, None] * rng.standard_normal(shape)
    while (d <= 0).any():  # truncated at zero, as fastgrad does
        bad = d <= 0
        d[bad] = (
            s["distance"][:, None] + e["distance_error"][:, None] * rng.standard_normal(shape)
        )[bad]
    c = SkyCoord(
        ra=ra.ravel() * u.rad,
        dec=dec.ravel() * u.rad,
        distance=d.ravel() * u.kpc,
        pm_ra_cosdec=(s["pmra"][:, None] + d4[..., 2]).ravel() * u.mas / u.yr,
        pm_dec=(s["pmdec"][:, None] + d4[..., 3]).ravel() * u.mas / u.yr,
        radial_velocity=(
            s["radial_velocity"][:, None]
            + e["radial_velocity_error"][:, None] * rng.standard_normal(shape)
        ).ravel()
        * u.km
        / u.s,
    )
    g = c.transform_to(frame)
    x, y, zz = (q.to_value(u.kpc).reshape(shape) for q in (g.x, g.y, g.z))
    vx, vy, vz = (q.to_value(u.km / u.s).reshape(shape) for q in (g.v_x, g.v_y, g.v_z))
    phi = np.unwrap(np.arctan2(y, -x), axis=1)
    cols = dict(x=x, y=y, z=zz, vx=vx, vy=vy, vz=vz, R=np.hypot(x, y), phi=phi, absz=np.abs(zz))
    out = {}
    for k, v in cols.items():
        sd = v.std(axis=1, ddof=1)
        kurt = ((v - v.mean(axis=1, keepdims=True)) ** 4).mean(axis=1) / np.maximum(sd, 1e-300) ** 4
        # relative standard error of a sample std from K draws: sqrt((kurt - 1) / 4K)
        out[k] = (sd, np.sqrt(np.maximum(kurt - 1, 0) / (4 * n_samples)))
    return out


@pytest.mark.parametrize("correlated", [False, True])
def test_mc_std_matches_astropy_monte_carlo(correlated):
    n, K = 300, 1000
    s = random_stars(n, seed=3, dmax=6.0)
    e = random_errors(s, seed=4)
    # make the errors matter: large proper-motion and distance errors
    e["pmra_error"] = e["pmra_error"] * 4
    corr = None
    if correlated:
        rng = np.random.default_rng(5)
        corr = {
            "pmra_pmdec_corr": rng.uniform(-0.9, 0.9, n),
            "ra_dec_corr": rng.uniform(-0.5, 0.5, n),
            "ra_pmra_corr": rng.uniform(-0.3, 0.3, n),
        }
    frame = fastgrad.paper_frame()
    t = fastgrad.mc_galactocentric(**s, **e, n_samples=K, seed=11, correlations=corr)
    ref = _astropy_mc(s, e, frame, K, seed=12, corr=corr)
    for name in ("x", "y", "z", "vx", "vy", "vz", "R", "phi", "absz"):
        sd, rel_se = ref[name]
        ratio = np.asarray(t[name + "_err"]) / sd
        # A std from K = 1000 draws has a relative sampling error
        # sqrt((kurtosis - 1) / 4K): 2.2 % for Gaussian draws, more for the
        # skewed R, phi, |z| of stars near the Galactic centre or the plane.
        # Two independent estimates differ by sqrt(2) times that: allow 5 sigma.
        z = np.abs(ratio - 1) / (np.sqrt(2) * rel_se)
        assert np.all(z < 5), (name, z.max())
        # pooled over 300 stars the mean ratio is known to ~0.2 %
        pooled = np.sqrt(2 * np.sum(rel_se**2)) / len(sd)
        assert abs(np.mean(ratio) - 1) < 5 * pooled, (name, np.mean(ratio), pooled)
    # the nominal columns are the transform of the central values
    nom = fastgrad.galactocentric(**s)
    for name in ("x", "vy", "R", "phi"):
        # two code paths (scalar vs vector sines): equal to a few ulp
        np.testing.assert_allclose(t[name], nom[name], rtol=1e-12, atol=1e-12)


def test_mc_std_of_coordinates_blind_to_the_large_errors():
    # A star seen from the Sun straight towards the Galactic centre, in the
    # plane z = z_sun: its z, phi and v_z do not change with its distance or
    # radial velocity (errors 0.3 kpc, 10 km/s) to first order, only with
    # its position and proper-motion errors (0.02 mas, 1e-4 mas/yr), so their
    # standard deviations are ~1e-9 of the others.  The Monte Carlo computes
    # each draw's offsets in single precision; built as differences of
    # coordinates they would carry rounding errors of ~1e-7 x 0.3 kpc, 100x
    # the true spread here.  Expected: first-order propagation with the
    # derivatives from astropy (central differences).
    frame = fastgrad.paper_frame()
    eps = SkyCoord(ra=0 * u.deg, dec=0 * u.deg, distance=1e-12 * u.kpc).transform_to(frame)
    sun = np.array([q.to_value(u.kpc) for q in (eps.x, eps.y, eps.z)])
    d, sd, srv, sang, spm = 5.0, 0.3, 10.0, 0.02, 1e-4  # kpc, kpc, km/s, mas, mas/yr
    gc = SkyCoord(
        x=(sun[0] + d) * u.kpc, y=sun[1] * u.kpc, z=sun[2] * u.kpc, frame=frame
    ).transform_to("icrs")
    ra, dec = gc.ra.rad, gc.dec.rad

    def pos(r, de):  # Galactocentric position (kpc) of the direction at 1 kpc
        g = SkyCoord(ra=r * u.rad, dec=de * u.rad, distance=1 * u.kpc).transform_to(frame)
        return np.array([q.to_value(u.kpc) for q in (g.x, g.y, g.z)])

    h = 1e-6  # rad
    # d(position)/d(angle) per kpc: along ra cos dec (a) and along dec (b)
    ga = (pos(ra + h / np.cos(dec), dec) - pos(ra - h / np.cos(dec), dec)) / (2 * h)
    gb = (pos(ra, dec + h) - pos(ra, dec - h)) / (2 * h)
    sig_ang = sang * MAS
    K = 20_000
    t = fastgrad.mc_galactocentric(
        ra=[np.degrees(ra)],
        dec=[np.degrees(dec)],
        distance=[d],
        pmra=[0.0],
        pmdec=[0.0],
        radial_velocity=[0.0],
        ra_error=[sang],
        dec_error=[sang],
        distance_error=[sd],
        pmra_error=[spm],
        pmdec_error=[spm],
        radial_velocity_error=[srv],
        n_samples=K,
        seed=3,
    )
    assert abs(t["phi"][0]) < 1e-12 and abs(t["y"][0]) < 1e-9  # on the Sun-centre line
    # z - z0 = (d + dd) g_z with g_z the angles' offset: var (d^2 + sd^2) var(g_z)
    var_gz = (ga[2] ** 2 + gb[2] ** 2) * sig_ang**2
    expect = {"z": np.sqrt((d**2 + sd**2) * var_gz)}
    # phi - phi0 = atan(y / -x) ~ (d + dd) g_y / -(x_sun + d + dd), over the
    # distance offsets by Gauss-Hermite quadrature
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    dd = sd * nodes
    ratio2 = np.sum(weights * ((d + dd) / (sun[0] + d + dd)) ** 2) / np.sqrt(2 * np.pi)
    expect["phi"] = np.sqrt((ga[1] ** 2 + gb[1] ** 2) * sig_ang**2 * ratio2)
    # v_z - v_z0 = dv g_z + k (d + dd)(dpmra g_a,z + dpmdec g_b,z)
    k = 4.740470463533348  # km/s per (mas/yr kpc)
    var_pm = k**2 * (d**2 + sd**2) * spm**2 * (ga[2] ** 2 + gb[2] ** 2)
    expect["vz"] = np.sqrt(srv**2 * var_gz + var_pm)
    for name, value in expect.items():
        # a std of 20,000 near-normal draws: 0.5 % sampling error; 6 sigma
        assert t[name + "_err"][0] == pytest.approx(value, rel=0.03), name
    assert expect["z"] < 1e-8 and expect["phi"] < 1e-8  # kpc, rad: blind indeed


def test_mc_draws_through_the_galactic_axis():
    # Stars beyond the Galactic centre, their lines of sight within 1e-4 kpc
    # of its axis, 30 % distance errors: some draws land next to the axis,
    # where R^2 = R0^2 + (R^2 - R0^2) rounded in float came out negative (NaN
    # found at 2x10^7 stars).  R's spread against astropy's, finite everywhere.
    frame = fastgrad.paper_frame()
    n, K = 40, 1000
    rng = np.random.default_rng(7)
    x, y = rng.uniform(0.5, 3.0, n), rng.uniform(-1e-4, 1e-4, n)  # kpc
    eps = SkyCoord(ra=0 * u.deg, dec=0 * u.deg, distance=1e-12 * u.kpc).transform_to(frame)
    c = SkyCoord(x=x * u.kpc, y=y * u.kpc, z=np.full(n, eps.z.to_value(u.kpc)) * u.kpc, frame=frame)
    c = c.transform_to("icrs")
    d = c.distance.to_value(u.kpc)
    s = dict(
        ra=c.ra.deg,
        dec=c.dec.deg,
        distance=d,
        pmra=np.zeros(n),
        pmdec=np.zeros(n),
        radial_velocity=np.zeros(n),
    )
    e = dict(
        ra_error=np.full(n, 0.02),
        dec_error=np.full(n, 0.02),
        distance_error=0.3 * d,
        pmra_error=np.full(n, 0.1),
        pmdec_error=np.full(n, 0.1),
        radial_velocity_error=np.full(n, 5.0),
    )
    t = fastgrad.mc_galactocentric(**s, **e, n_samples=K, seed=5)
    for name in t.colnames:
        if t[name].dtype.kind == "f":
            assert np.isfinite(t[name]).all(), name
    sd, rel_se = _astropy_mc(s, e, frame, K, seed=6)["R"]
    z = np.abs(np.asarray(t["R_err"]) / sd - 1) / (np.sqrt(2) * rel_se)
    assert np.all(z < 5), z.max()


def test_distance_draws_truncated_at_zero():
    # a nearby star with a distance error larger than its distance: the draws
    # follow a normal truncated at 0, whose std is known in closed form
    from math import erf, exp, pi, sqrt

    mu, sig = 0.1, 0.2
    a = -mu / sig
    phi_a = exp(-a * a / 2) / sqrt(2 * pi)
    Z = 1 - 0.5 * (1 + erf(a / sqrt(2)))
    lam = phi_a / Z
    std_trunc = sig * sqrt(1 + a * lam - lam**2)
    s = dict(ra=[120.0], dec=[40.0], distance=[mu], pmra=[0.0], pmdec=[0.0], radial_velocity=[0.0])
    e = dict(
        ra_error=[0.0],
        dec_error=[0.0],
        distance_error=[sig],
        pmra_error=[0.0],
        pmdec_error=[0.0],
        radial_velocity_error=[0.0],
    )
    K = 200_000
    t = fastgrad.mc_galactocentric(**s, **e, n_samples=K, seed=1)
    # position = t + A (d u): the distance of a draw from the Sun is d
    A, tvec, _ = frame_constants(None)
    ra, dec = np.radians(120.0), np.radians(40.0)
    uvec = A @ np.array([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])
    for j, name in enumerate(("x", "y", "z")):
        expected = abs(uvec[j]) * std_trunc
        # sampling error of a std from 2e5 draws ~0.2 %
        assert t[name + "_err"][0] == pytest.approx(expected, rel=0.01)


def test_same_seed_same_numbers_any_thread_count():
    s = random_stars(3000, seed=7)
    e = random_errors(s, seed=8)
    runs = [
        fastgrad.mc_galactocentric(**s, **e, n_samples=200, seed=42, n_threads=k) for k in (1, 2, 4)
    ]
    for r in runs[1:]:
        for name in runs[0].colnames:
            np.testing.assert_array_equal(r[name], runs[0][name])
    other = fastgrad.mc_galactocentric(**s, **e, n_samples=200, seed=43)
    assert not np.array_equal(other["x_err"], runs[0]["x_err"])


def test_ids_make_results_independent_of_row_order():
    s = random_stars(500, seed=9)
    e = random_errors(s, seed=10)
    ids = np.random.default_rng(0).integers(0, 2**62, 500)
    a = fastgrad.mc_galactocentric(**s, **e, n_samples=100, seed=5, ids=ids)
    perm = np.random.default_rng(1).permutation(500)
    b = fastgrad.mc_galactocentric(
        **{k: v[perm] for k, v in s.items()},
        **{k: v[perm] for k, v in e.items()},
        n_samples=100,
        seed=5,
        ids=ids[perm],
    )
    for name in ("x_err", "vz_err", "phi_err"):
        np.testing.assert_array_equal(np.asarray(a[name])[perm], b[name])


def test_memory_is_linear_in_stars():
    n, K = 20_000, 1000
    s = random_stars(n, seed=2)
    e = random_errors(s, seed=3)
    fastgrad.mc_galactocentric(**s, **e, n_samples=10, seed=1)  # warm up caches
    tracemalloc.start()
    fastgrad.mc_galactocentric(**s, **e, n_samples=K, seed=1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # an N x K array of doubles would be 160 MB; the inputs, a few copies and
    # the (N, 18) output are ~100 doubles per star
    assert peak < 150 * 8 * n, peak


def test_bad_input_is_reported():
    s = random_stars(20, seed=1)
    e = random_errors(s, seed=2)
    bad = dict(s)
    bad["pmra"] = s["pmra"].copy()
    bad["pmra"][[3, 7]] = np.nan
    with pytest.raises(
        ValueError, match=r"pmra: 2 row\(s\) are NaN, infinite or masked \(rows 3, 7\)"
    ):
        fastgrad.mc_galactocentric(**bad, **e)
    # propagate: NaN rows, the others unchanged
    t = fastgrad.mc_galactocentric(**bad, **e, nan_policy="propagate", seed=3)
    ref = fastgrad.mc_galactocentric(**s, **e, seed=3)
    assert np.isnan(t["x"][3]) and np.isnan(t["vz_err"][7])
    np.testing.assert_array_equal(t["x_err"][:3], ref["x_err"][:3])
    neg = dict(e)
    neg["distance_error"] = e["distance_error"].copy()
    neg["distance_error"][5] = -1
    with pytest.raises(ValueError, match=r"distance_error: 1 row\(s\) are negative.*rows 5"):
        fastgrad.mc_galactocentric(**s, **neg)
    zero = dict(s)
    zero["distance"] = s["distance"].copy()
    zero["distance"][0] = 0.0
    with pytest.raises(ValueError, match=r"distance: 1 row\(s\) are not positive"):
        fastgrad.galactocentric(**zero)
    with pytest.raises(ValueError, match="mismatched lengths"):
        fastgrad.galactocentric(**{**s, "ra": s["ra"][:-1]})
    with pytest.raises(u.UnitConversionError, match="distance: cannot convert"):
        fastgrad.galactocentric(**{**s, "distance": s["distance"] * u.km / u.s})
    with pytest.raises(ValueError, match=r"dec: 1 row\(s\) are outside"):
        fastgrad.galactocentric(**{**s, "dec": np.r_[95.0, s["dec"][1:]]})
    with pytest.raises(ValueError, match="n_samples"):
        fastgrad.mc_galactocentric(**s, **e, n_samples=1)
    # positional errors in degrees by mistake (3.6e6 mas): refused
    big = dict(e)
    big["ra_error"] = e["ra_error"].copy()
    big["ra_error"][2] = 3.6e6
    with pytest.raises(ValueError, match=r"ra_error.*rows 2"):
        fastgrad.mc_galactocentric(**s, **big)
    # a correlation matrix that is not positive semi-definite
    corr = {
        "ra_dec_corr": np.full(20, 0.99),
        "ra_pmra_corr": np.full(20, 0.99),
        "dec_pmra_corr": np.full(20, -0.99),
    }
    with pytest.raises(ValueError, match="correlations: 20 row"):
        fastgrad.mc_galactocentric(**s, **e, correlations=corr)
    with pytest.raises(ValueError, match=r"pmra_pmdec_corr: 1 row\(s\) are outside \[-1, 1\]"):
        fastgrad.mc_galactocentric(
            **s, **e, correlations={"pmra_pmdec_corr": np.r_[1.5, np.zeros(19)]}
        )
    with pytest.raises(ValueError, match="unknown names"):
        fastgrad.mc_galactocentric(**s, **e, correlations={"pmra_pmdec": np.zeros(20)})


def test_kernel_builds_agree():
    """The baseline (SSE2), AVX2 and AVX-512 builds compute the same thing:
    the vector builds the same bits, the baseline to rounding."""
    from fastgrad import _kernels

    builds = _kernels.variants()
    if len(builds) < 2:
        pytest.skip("no vector build on this platform or CPU")
    import fastgrad.transform as tr

    s = random_stars(400, seed=4)
    e = random_errors(s, seed=5)
    outs = {}
    for name, mod in builds.items():
        saved = tr._core
        tr._core = mod
        try:
            outs[name] = fastgrad.mc_galactocentric(**s, **e, n_samples=300, seed=9)
        finally:
            tr._core = saved
    base = outs.pop("baseline")
    for build, out in outs.items():
        for name in base.colnames:
            # same draws up to the float rounding of the single-precision
            # normals (the SSE and AVX2 logf/sinf differ by an ulp, 6e-8); the
            # nominal values differ only by FMA contraction
            rtol = 1e-6 if name.endswith("_err") else 1e-12
            np.testing.assert_allclose(
                out[name], base[name], rtol=rtol, atol=1e-12, err_msg=f"{build} {name}"
            )
    if "avx512" in outs:
        for name in base.colnames:
            assert np.array_equal(outs["avx512"][name], outs["avx2"][name]), name


# --------------------------------------------------------------------------
# issue 12: nothing lost, nothing silently wrong
# --------------------------------------------------------------------------
def _small(n=6, seed=1):
    s = random_stars(n, seed=seed)
    return s, random_errors(s, seed=seed + 1)


def test_masked_inputs_are_missing_values_not_fill_values():
    from astropy.table import MaskedColumn
    from astropy.utils.masked import Masked

    s, e = _small()
    ref = fastgrad.galactocentric(**s)
    mask = np.zeros(6, bool)
    mask[[1, 4]] = True
    fill = np.where(mask, -99999.0, s["radial_velocity"])
    variants = {
        "Masked Quantity": Masked(fill * u.km / u.s, mask=mask),
        "MaskedColumn": MaskedColumn(fill, mask=mask, unit="km/s"),
        "np.ma": np.ma.masked_array(fill, mask=mask),
    }
    for what, rv in variants.items():
        with pytest.raises(
            ValueError,
            match=r"radial_velocity: 2 row\(s\) are NaN, infinite "
            r"or masked \(rows 1, 4\)",
        ):
            fastgrad.galactocentric(**{**s, "radial_velocity": rv})
        with pytest.raises(ValueError, match=r"radial_velocity: 2 row\(s\) .*masked"):
            fastgrad.mc_galactocentric(**{**s, "radial_velocity": rv}, **e)
        t = fastgrad.galactocentric(**{**s, "radial_velocity": rv}, nan_policy="propagate")
        # the masked rows are NaN (the fill value gave vy = 71106.7 km/s), the
        # others exactly the unmasked transform
        assert np.isnan(t["vy"][mask]).all() and np.isnan(t["x"][mask]).all(), what
        np.testing.assert_array_equal(t["vy"][~mask], ref["vy"][~mask])
        m = fastgrad.mc_galactocentric(
            **{**s, "radial_velocity": rv}, **e, n_samples=50, seed=2, nan_policy="propagate"
        )
        assert np.isnan(m["vy_err"][mask]).all(), what
        # masked errors too
        err = {**e, "distance_error": np.ma.masked_array(e["distance_error"], mask=mask)}
        with pytest.raises(ValueError, match=r"distance_error: 2 row\(s\) .*masked"):
            fastgrad.mc_galactocentric(**s, **err)


def test_masked_ids_are_refused():
    from astropy.table import MaskedColumn

    s, e = _small()
    ids = np.arange(100, 106)
    mask = np.zeros(6, bool)
    mask[[2, 5]] = True
    for bad in (
        np.ma.masked_array(ids, mask=mask),
        MaskedColumn(ids, mask=mask),
        pd.Series(pd.array([100, 101, None, 103, 104, None], dtype="Int64")),
    ):
        with pytest.raises(
            ValueError,
            match=r"ids: 2 row\(s\) are masked or missing "
            r"\(rows 2, 5\)",
        ):
            fastgrad.mc_galactocentric(**s, **e, ids=bad, n_samples=10, seed=1)
    # a masked array with nothing masked is its data
    a = fastgrad.mc_galactocentric(**s, **e, ids=np.ma.masked_array(ids), n_samples=10, seed=1)
    b = fastgrad.mc_galactocentric(**s, **e, ids=ids, n_samples=10, seed=1)
    np.testing.assert_array_equal(a["x_err"], b["x_err"])


@pytest.mark.parametrize(
    "name, value, match",
    [
        ("distance", 1e200, r"distance: 1 row\(s\) exceed 100000 kpc.*rows 3"),
        ("distance", 2e5, r"distance: 1 row\(s\) exceed"),
        ("pmra", 1e200, r"pmra: 1 row\(s\) exceed 1e\+06 mas/yr"),
        ("radial_velocity", -4e5, r"radial_velocity: 1 row\(s\) exceed .*faster than light"),
        ("ra", 1e20, r"ra: 1 row\(s\) exceed 360 deg"),
    ],
)
def test_values_outside_physical_ranges_are_refused(name, value, match):
    s, e = _small()
    bad = {**s, name: s[name].copy()}
    bad[name][3] = value
    with pytest.raises(ValueError, match=match):
        fastgrad.galactocentric(**bad)  # was R = inf with finite x, y
    with pytest.raises(ValueError, match=match):
        fastgrad.mc_galactocentric(**bad, **e)


@pytest.mark.parametrize(
    "name, value",
    [
        ("distance_error", 1e200),
        ("pmra_error", 1e200),
        ("radial_velocity_error", 1e6),
        ("ra_error", 1e200),
        ("dec_error", 1e300),
    ],
)
def test_errors_outside_physical_ranges_are_refused(name, value):
    s, e = _small()
    bad = {**e, name: e[name].copy()}
    bad[name][2] = value
    # distance_error 1e200 gave R_err = 0: a perfectly known radius
    with pytest.raises(ValueError, match=rf"{name}: 1 row\(s\) exceed .*rows 2"):
        fastgrad.mc_galactocentric(**s, **bad)


def test_largest_accepted_inputs_give_finite_errors():
    # at the limits every output is finite and the errors are not zero
    s, e = _small(4)
    s["distance"][:] = 1e5
    e["distance_error"][:] = 1e5
    s["pmra"][:] = 1e6
    e["pmra_error"][:] = 1e6
    e["radial_velocity_error"][:] = 299792.458
    t = fastgrad.mc_galactocentric(**s, **e, n_samples=100, seed=1)
    for name in t.colnames:
        assert np.isfinite(t[name]).all(), name
    for name in ("x_err", "R_err", "vx_err", "vz_err"):
        assert (np.asarray(t[name]) > 0).all(), name


@pytest.mark.parametrize(
    "bad, exc, match",
    [
        (np.array([True, False, True, False, True, False]), TypeError, "booleans"),
        (np.ones(6) + 1j, TypeError, "complex"),
        (np.array(["2020-01-01"] * 6, dtype="datetime64[D]"), TypeError, "dates"),
    ],
)
def test_bool_complex_datetime_coordinates_are_refused(bad, exc, match):
    s, e = _small()
    for name in ("ra", "distance", "pmdec"):
        with pytest.raises(exc, match=f"{name}: .*{match}"):
            fastgrad.galactocentric(**{**s, name: bad})
    with pytest.raises(exc, match=f"pmra_error: .*{match}"):
        fastgrad.mc_galactocentric(**s, **{**e, "pmra_error": bad})


def test_seed_out_of_range_is_an_error_not_wrapped():
    s, e = _small()
    with pytest.raises(ValueError, match=r"seed must be in \[0, 2\*\*64\)"):
        fastgrad.mc_galactocentric(**s, **e, seed=2**64 + 1, n_samples=10)
    with pytest.raises(ValueError, match="seed"):
        fastgrad.mc_galactocentric(**s, **e, seed=-1, n_samples=10)
    t = fastgrad.mc_galactocentric(**s, **e, seed=2**64 - 1, n_samples=10)
    assert t.meta["seed"] == 2**64 - 1


@pytest.mark.parametrize(
    "n_samples, exc",
    [
        (10.7, TypeError),
        (1000.0, TypeError),
        (True, TypeError),
        (1, ValueError),
        (fastgrad.transform.MAX_N_SAMPLES + 1, ValueError),
    ],
)
def test_n_samples_is_a_bounded_int(n_samples, exc):
    s, e = _small()
    with pytest.raises(exc, match="n_samples"):
        fastgrad.mc_galactocentric(**s, **e, n_samples=n_samples)


def test_n_threads_above_the_thread_limit_is_an_error():
    import subprocess
    import sys

    code = r"""
import numpy as np, fastgrad
n = 1000
s = dict(ra=np.ones(n), dec=np.ones(n), distance=np.ones(n), pmra=np.ones(n),
         pmdec=np.ones(n), radial_velocity=np.ones(n))
assert fastgrad.effective_n_threads(2) == 2
assert fastgrad.effective_n_threads(None) <= 2
assert fastgrad.effective_n_threads(-1) <= 2
for call in (lambda: fastgrad.effective_n_threads(1000),
             lambda: fastgrad.galactocentric(**s, n_threads=1000),
             lambda: fastgrad.annulus_mean(np.arange(40000.0), np.ones(40000), n_threads=3)):
    try:
        call()
    except ValueError as exc:
        print("refused:", exc)
    else:
        print("accepted")
"""
    env = {**os.environ, "OMP_THREAD_LIMIT": "2"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("refused: n_threads: ") for line in lines), out
    assert "OMP_THREAD_LIMIT=2" in lines[0]


def test_n_threads_beyond_four_per_cpu_is_an_error():
    limit = fastgrad._threads._max_allowed()
    assert fastgrad.effective_n_threads(limit) == limit
    with pytest.raises(ValueError, match=rf"n_threads: {limit + 1} is more than"):
        fastgrad.effective_n_threads(limit + 1)
    with pytest.raises(TypeError, match="n_threads"):
        fastgrad.effective_n_threads(2.0)
    with pytest.raises(ValueError, match="n_threads=0"):
        fastgrad.effective_n_threads(0)


def test_repeated_ids_are_refused():
    """Two stars with one id would share a random stream (identical draws)."""
    n = 6
    kw = dict(
        ra=np.full(n, 10.0),
        dec=np.full(n, 5.0),
        distance=np.full(n, 1.0),
        pmra=np.zeros(n),
        pmdec=np.zeros(n),
        radial_velocity=np.zeros(n),
        ra_error=np.full(n, 0.1),
        dec_error=np.full(n, 0.1),
        distance_error=np.full(n, 0.1),
        pmra_error=np.full(n, 0.1),
        pmdec_error=np.full(n, 0.1),
        radial_velocity_error=np.full(n, 1.0),
        n_samples=8,
        seed=1,
    )
    with pytest.raises(ValueError, match=r"ids: 2 row\(s\) are repeated \(rows 1, 4\)"):
        fastgrad.mc_galactocentric(**kw, ids=np.array([10, 11, 12, 13, 11, 15]))
    fastgrad.mc_galactocentric(**kw, ids=np.arange(n) * 7)  # unique: fine


def test_one_thread_policy_for_every_kernel():
    """fastgrad._threads.threads_for: one thread below a kernel's threshold,
    the resolved count above it, and a bad n_threads refused either way."""
    from fastgrad._threads import SERIAL_BELOW, effective_n_threads, threads_for

    for kernel, limit in SERIAL_BELOW.items():
        assert threads_for(kernel, limit - 1, None) == 1
        assert threads_for(kernel, limit, None) == effective_n_threads(None)
        for bad in (0, 2.5, True):
            with pytest.raises((ValueError, TypeError)):
                threads_for(kernel, 1, bad)


def test_galactocentric_reuses_its_output_only_when_nothing_refers_to_it():
    """The nominal transform keeps its last large output for the next call
    (fresh pages cost as much as the transform): a table, a column or a
    view still alive must never be overwritten, and a reused buffer must
    give the same numbers as a fresh one."""
    rng = np.random.default_rng(3)
    n = 120_000  # 9 x n doubles > 4 MiB: the size the spare is kept for
    s = dict(
        ra=rng.uniform(0, 360, n),
        dec=rng.uniform(-80, 80, n),
        distance=rng.uniform(0.1, 5, n),
        pmra=rng.normal(0, 5, n),
        pmdec=rng.normal(0, 5, n),
        radial_velocity=rng.normal(0, 30, n),
    )
    other = dict(s, distance=s["distance"] * 2)
    first = fastgrad.galactocentric(**s)
    ref = {k: np.array(first[k]) for k in first.colnames}
    col = first["R"]
    view = first["x"][10:20]
    del first
    second = fastgrad.galactocentric(**other)  # the column and the view hold the buffer
    assert np.array_equal(np.asarray(col), ref["R"])
    assert np.array_equal(np.asarray(view), ref["x"][10:20])
    assert not np.array_equal(np.asarray(second["R"]), ref["R"])
    del col, view, second
    for _ in range(2):  # the spare is free now: reused, same numbers
        again = fastgrad.galactocentric(**s)
        for k in again.colnames:
            assert np.array_equal(np.asarray(again[k]), ref[k]), k
