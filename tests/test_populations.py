"""Tests of fastgrad.populations against hand computations and astropy.

The hand reference evaluates Bensby et al. (2003)'s formula star by star with
the ``math`` module, from the Table 1 numbers typed here again (not imported),
so a wrong constant or sign in the module shows up.
"""
import math

import numpy as np
import pytest
import astropy.units as u
from astropy.coordinates import Galactic
from astropy.table import Table

import fastgrad
from fastgrad import get_frame
from fastgrad.populations import (BENSBY2003, HALO_CUT, Population, PopulationModel,
                                  add_kinematic_probabilities, halo_cut,
                                  kinematic_probabilities, lsr_velocities,
                                  uvw_probabilities)

# Bensby, Feltzing & Lundstrom 2003, Table 1: X, sigma_U, sigma_V, sigma_W, V_asym
TABLE1 = {"thin": (0.94, 35.0, 20.0, 16.0, -15.0),
          "thick": (0.06, 67.0, 38.0, 35.0, -46.0),
          "halo": (0.0015, 160.0, 90.0, 90.0, -220.0)}
SUN_PEC = (11.1, 12.24, 7.25)


def hand_probabilities(U, V, W):
    f = {}
    for name, (X, su, sv, sw, vasym) in TABLE1.items():
        k = 1.0 / ((2.0 * math.pi) ** 1.5 * su * sv * sw)
        f[name] = X * k * math.exp(-U**2 / (2 * su**2) - (V - vasym)**2 / (2 * sv**2)
                                   - W**2 / (2 * sw**2))
    total = sum(f.values())
    return {name: value / total for name, value in f.items()}


UVW = [(0.0, 0.0, 0.0), (30.0, -20.0, 10.0), (-60.0, -50.0, 40.0), (100.0, -120.0, -70.0),
       (-150.0, -250.0, 90.0), (20.0, 30.0, -5.0)]


def test_bensby2003_table_values():
    assert BENSBY2003.names == ("thin", "thick", "halo")
    for p in BENSBY2003.populations:
        assert (p.fraction, p.sigma_u, p.sigma_v, p.sigma_w, p.v_asym) == TABLE1[p.name]
        assert p.u_asym == 0.0


def test_matches_hand_computation():
    U, V, W = (np.array(c) for c in zip(*UVW))
    out = uvw_probabilities(U, V, W)
    assert out.colnames == ["p_thin", "p_thick", "p_halo"]
    for i, (u_, v_, w_) in enumerate(UVW):
        ref = hand_probabilities(u_, v_, w_)
        for name in TABLE1:
            # rtol: exp/log round-off only (~1e-15 per operation)
            assert out[f"p_{name}"][i] == pytest.approx(ref[name], rel=1e-12, abs=1e-300)


def test_matches_scipy_multivariate_normal():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    U, V, W = rng.normal(0, 80, (3, 500))
    out = uvw_probabilities(U, V, W)
    f = []
    for name, (X, su, sv, sw, vasym) in TABLE1.items():
        f.append(X * stats.multivariate_normal(mean=[0.0, vasym, 0.0],
                                               cov=np.diag([su**2, sv**2, sw**2])).pdf(
            np.column_stack([U, V, W])))
    f = np.array(f)
    ref = f / f.sum(axis=0)
    for k, name in enumerate(TABLE1):
        np.testing.assert_allclose(out[f"p_{name}"], ref[k], rtol=1e-10, atol=1e-300)


def test_sum_to_one_and_classic_stars():
    rng = np.random.default_rng(1)
    U, V, W = rng.normal(0, 150, (3, 10_000))
    out = uvw_probabilities(U, V, W)
    total = out["p_thin"] + out["p_thick"] + out["p_halo"]
    np.testing.assert_allclose(total, 1.0, rtol=0, atol=4e-16)
    # V = -220 km/s relative to the LSR: the halo's mean -> halo
    halo_star = uvw_probabilities([0.0], [-220.0], [0.0])
    assert halo_star["p_halo"][0] > 0.95
    # V = 0: the LSR itself -> thin disk
    lsr_star = uvw_probabilities([0.0], [0.0], [0.0])
    assert lsr_star["p_thin"][0] > 0.99
    assert lsr_star["p_halo"][0] < 1e-3


def test_extreme_and_bad_velocities():
    out = uvw_probabilities([1e5, -1e8, 1e300, 0.0, np.nan, np.inf],
                            [0.0, 0.0, 1e300, 3e4, 0.0, 0.0],
                            [0.0, 0.0, -1e300, 0.0, 0.0, 0.0])
    p = np.column_stack([out[c] for c in out.colnames])
    # far from every ellipsoid: the widest (halo) takes it all, no NaN
    np.testing.assert_array_equal(p[:4, 2], 1.0)
    np.testing.assert_array_equal(p[:4, :2], 0.0)
    assert np.isnan(p[4:]).all()  # a NaN or infinite velocity has no probability


def test_quantities_and_validation():
    out = uvw_probabilities([0.03] * u.km / u.ms, [0.0] * u.km / u.s, [0.0] * u.m / u.s)
    ref = hand_probabilities(30.0, 0.0, 0.0)
    assert out["p_thin"][0] == pytest.approx(ref["thin"], rel=1e-12)
    with pytest.raises(ValueError, match="mismatched lengths"):
        uvw_probabilities([0.0, 1.0], [0.0], [0.0])
    with pytest.raises(u.UnitConversionError, match="U"):
        uvw_probabilities([1.0] * u.kpc, [0.0], [0.0])


def test_custom_population_model():
    single = PopulationModel("one", [Population("disk", 1.0, 30.0, 20.0, 10.0, 0.0)])
    out = uvw_probabilities([500.0, 0.0], [0.0, 0.0], [0.0, 0.0], populations=single)
    assert out.colnames == ["p_disk"] and np.all(out["p_disk"] == 1.0)
    stream = Population("hercules", 0.06, 26.0, 9.0, 17.0, -50.0, u_asym=-40.0)
    out = uvw_probabilities([-40.0], [-50.0], [0.0],
                            populations=list(BENSBY2003.populations) + [stream])
    assert out.colnames[-1] == "p_hercules" and out["p_hercules"][0] > 0.5
    with pytest.raises(ValueError, match="sigma_v"):
        Population("bad", 0.5, 10.0, 0.0, 10.0, 0.0)
    with pytest.raises(ValueError, match="unique"):
        PopulationModel("dup", [Population("a", 1, 1, 1, 1, 0), Population("a", 1, 1, 1, 1, 0)])


def test_lsr_velocities_signs_against_astropy():
    """A star beside the Sun with heliocentric Galactic velocity (u, v, w)
    (astropy's Galactic frame: +x to l = 0, the centre) must come back as
    U = u + U_sun etc. Astropy's Galactocentric axes are tilted from the
    Galactic ones by ~0.2 deg (z_sun, Sgr A* off l = b = 0): tolerance
    0.5 % of the speed."""
    frame = get_frame(None)
    helio = np.array([[40.0, -30.0, 20.0], [-100.0, 50.0, -10.0], [0.0, 0.0, 0.0],
                      [5.0, -220.0, 3.0]])
    gal = Galactic(u=[1e-3] * 4 * u.pc, v=[0.0] * 4 * u.pc, w=[0.0] * 4 * u.pc,
                   U=helio[:, 0] * u.km / u.s, V=helio[:, 1] * u.km / u.s,
                   W=helio[:, 2] * u.km / u.s, representation_type="cartesian",
                   differential_type="cartesian")
    gc = gal.transform_to(frame)
    U, V, W = lsr_velocities(gc.v_x, gc.v_y, gc.v_z, frame=frame)
    got = np.column_stack([U, V, W]) - np.array(SUN_PEC)
    speed = np.linalg.norm(helio, axis=1)
    assert np.all(np.abs(got - helio) <= 0.005 * speed[:, None] + 1e-9)


def test_kinematic_probabilities_from_galactocentric():
    frame = get_frame(None)
    v_sun = frame.galcen_v_sun.xyz.to_value(u.km / u.s)
    # a star at rest in the LSR, one moving at V = -220 km/s relative to it,
    # one moving towards the Galactic centre by 50 km/s
    lsr = v_sun - np.array(SUN_PEC)
    vx = np.array([lsr[0], lsr[0], lsr[0] + 50.0])
    vy = np.array([lsr[1], lsr[1] - 220.0, lsr[1]])
    vz = np.array([lsr[2], lsr[2], lsr[2]])
    out = kinematic_probabilities(vx, vy, vz)
    np.testing.assert_allclose(out["U"], [0.0, 0.0, 50.0], atol=1e-12)
    np.testing.assert_allclose(out["V"], [0.0, -220.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(out["W"], 0.0, atol=1e-12)
    assert out["U"].unit == u.km / u.s
    for i, (u_, v_, w_) in enumerate(zip(out["U"], out["V"], out["W"])):
        ref = hand_probabilities(u_, v_, w_)
        for name in TABLE1:
            assert out[f"p_{name}"][i] == pytest.approx(ref[name], rel=1e-12)
    assert out["p_thin"][0] > 0.99 and out["p_halo"][1] > 0.95
    assert out.meta["solar_motion_kms"] == list(SUN_PEC)
    assert out.meta["frame"]["preset"] == "hawkins2023"
    assert out.meta["populations"]["model"] == "bensby2003"
    # another frame: its own Sun velocity is subtracted
    other = kinematic_probabilities(vx, vy, vz, frame="v4.0")
    v40 = get_frame("v4.0").galcen_v_sun
    np.testing.assert_allclose(other["V"] - out["V"],
                               v_sun[1] - v40.y.to_value(u.km / u.s), atol=1e-12)
    no_pec = kinematic_probabilities(vx, vy, vz, solar_motion=(0.0, 0.0, 0.0))
    np.testing.assert_allclose(no_pec["U"] - out["U"], -SUN_PEC[0], atol=1e-12)


def test_add_kinematic_probabilities_uses_table_frame():
    frame = get_frame("v4.0")
    from fastgrad.frames import frame_metadata

    t = Table({"vx": [10.0, 12.9], "vy": [240.0, 245.6], "vz": [7.0, 7.78]})
    t.meta["frame"] = frame_metadata(frame)
    out = add_kinematic_probabilities(t)
    ref = kinematic_probabilities(t["vx"], t["vy"], t["vz"], frame=frame)
    np.testing.assert_allclose(out["p_thin"], ref["p_thin"], rtol=1e-15)
    np.testing.assert_allclose(out["U"], ref["U"], rtol=1e-15)
    assert "p_thin" not in t.colnames
    with pytest.raises(ValueError, match="vx"):
        add_kinematic_probabilities(Table({"vy": [0.0]}))


def test_halo_cut_boundary_and_count():
    t = Table({"p_halo": [0.0, 0.0099, 0.01, 0.5, np.nan], "id": np.arange(5)})
    kept, report = halo_cut(t)
    np.testing.assert_array_equal(kept["id"], [0, 1])
    assert tuple(report[0][["cut", "n_before", "n_removed", "n_after", "n_nonfinite"]]) == (
        "halo", 5, 3, 2, 1)
    kept, _ = halo_cut(t, p_max=0.6)
    assert len(kept) == 4
    assert HALO_CUT.params["p_halo_max"] == 0.01


def test_halo_cut_from_velocities():
    frame = get_frame(None)
    lsr = frame.galcen_v_sun.xyz.to_value(u.km / u.s) - np.array(SUN_PEC)
    t = Table({"vx": [lsr[0], lsr[0]], "vy": [lsr[1], lsr[1] - 220.0],
               "vz": [lsr[2], lsr[2]]})
    kept, report = halo_cut(t)
    assert len(kept) == 1 and kept["p_thin"][0] > 0.99
    assert report["n_removed"][0] == 1


# --------------------------------------------------------------------------
# issue 12: masked, non-numeric and mis-united inputs
# --------------------------------------------------------------------------
def _vel(n=5):
    rng = np.random.default_rng(3)
    return (rng.normal(11, 30, n), rng.normal(245, 20, n), rng.normal(7, 15, n))


def test_kinematic_probabilities_masked_velocities_are_nan_not_fill_values():
    from astropy.table import MaskedColumn
    from astropy.utils.masked import Masked
    vx, vy, vz = _vel()
    ref = kinematic_probabilities(vx, vy, vz)
    mask = np.array([False, True, False, False, True])
    fill = np.where(mask, -99999.0, vy)
    kms = u.km / u.s
    for vy_masked in (Masked(fill * kms, mask=mask), MaskedColumn(fill, mask=mask, unit=kms),
                      np.ma.masked_array(fill, mask=mask)):
        t = kinematic_probabilities(vx, vy_masked, vz)
        for name in ("V", "p_thin", "p_thick", "p_halo"):
            assert np.isnan(t[name][mask]).all(), (type(vy_masked), name)
            np.testing.assert_array_equal(t[name][~mask], ref[name][~mask])


@pytest.mark.parametrize("bad, match", [
    (np.array([True, False, True, False, True]), "booleans"),
    (np.ones(5) * (1 + 1j), "complex"),
    (np.arange(5).astype("datetime64[s]"), "dates"),
])
def test_kinematic_probabilities_refuses_bool_complex_dates(bad, match):
    vx, vy, vz = _vel()
    with pytest.raises(TypeError, match=f"vz: .*{match}"):
        kinematic_probabilities(vx, vy, bad)


def test_scalar_parameters_name_themselves():
    vx, vy, vz = _vel()
    t = Table({"p_halo": [0.0, 0.005, 0.02, np.nan]})
    with pytest.raises(u.UnitConversionError, match="p_max"):
        halo_cut(t, p_max=1 * u.km)
    with pytest.raises(ValueError, match="p_max"):
        halo_cut(t, p_max=1.5)
    with pytest.raises(TypeError, match="p_max"):
        halo_cut(t, p_max="0.01")
    kept, report = halo_cut(t, p_max=1 * u.percent)   # 1 % is 0.01
    assert len(kept) == 2 and report["n_nonfinite"][0] == 1
    with pytest.raises(u.UnitConversionError, match=r"solar_motion\[0\] \(U\)"):
        kinematic_probabilities(vx, vy, vz, solar_motion=[11.1, 12.24, 7.25] * u.kpc)
    pc = kinematic_probabilities(vx, vy, vz, solar_motion=[11.1, 12.24, 7.25] * u.km / u.s)
    ms = kinematic_probabilities(vx, vy, vz,
                                 solar_motion=[11100.0, 12240.0, 7250.0] * u.m / u.s)
    np.testing.assert_allclose(ms["U"], pc["U"], rtol=1e-15, atol=1e-12)
    # a population in Quantities is stored in km/s; a wrong unit names the field
    p = Population("stream", 0.01, 20 * u.km / u.s, 10 * u.km / u.s, 10000 * u.m / u.s, -50.0)
    assert p.sigma_w == 10.0 and isinstance(p.sigma_w, float)
    with pytest.raises(u.UnitConversionError, match="population 'stream': sigma_u"):
        Population("stream", 0.01, 20 * u.kpc, 10.0, 10.0, -50.0)
    with pytest.raises(ValueError, match="population 'stream': sigma_v"):
        Population("stream", 0.01, 20.0, np.nan, 10.0, -50.0)


def test_table_steps_take_dataframes_and_name_other_types():
    import pandas as pd
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"vx": rng.normal(11, 30, 200), "vy": rng.normal(245, 20, 200),
                       "vz": rng.normal(7, 15, 200)})
    t = fastgrad.add_kinematic_probabilities(df)
    ref = fastgrad.kinematic_probabilities(df["vx"], df["vy"], df["vz"])
    np.testing.assert_array_equal(np.asarray(t["p_halo"]), np.asarray(ref["p_halo"]))
    kept, report = fastgrad.halo_cut(df)
    assert report["n_before"][0] == 200 and len(kept) == report["n_after"][0]
    with pytest.raises(TypeError, match="table: expected an astropy Table or a pandas DataFrame"):
        fastgrad.halo_cut([1, 2, 3])
    with pytest.raises(TypeError, match="copy=False"):
        fastgrad.add_kinematic_probabilities(df, copy=False)
