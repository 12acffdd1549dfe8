"""Tests of fastgrad.populations against hand computations and astropy.

The hand reference evaluates Bensby et al. (2003)'s formula star by star with
the ``math`` module, from the Table 1 numbers typed here again (not imported),
so a wrong constant or sign in the module shows up.
"""

import math

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import Galactic
from astropy.table import Table

import fastgrad
from fastgrad import get_frame
from fastgrad.populations import (
    BENSBY2003,
    HALO_CUT,
    Population,
    PopulationModel,
    add_kinematic_probabilities,
    halo_cut,
    kinematic_probabilities,
    lsr_velocities,
    uvw_probabilities,
)

# Bensby, Feltzing & Lundstrom 2003, Table 1: X, sigma_U, sigma_V, sigma_W, V_asym
TABLE1 = {
    "thin": (0.94, 35.0, 20.0, 16.0, -15.0),
    "thick": (0.06, 67.0, 38.0, 35.0, -46.0),
    "halo": (0.0015, 160.0, 90.0, 90.0, -220.0),
}
SUN_PEC = (11.1, 12.24, 7.25)


def hand_probabilities(U, V, W):
    f = {}
    for name, (X, su, sv, sw, vasym) in TABLE1.items():
        k = 1.0 / ((2.0 * math.pi) ** 1.5 * su * sv * sw)
        f[name] = (
            X
            * k
            * math.exp(-(U**2) / (2 * su**2) - (V - vasym) ** 2 / (2 * sv**2) - W**2 / (2 * sw**2))
        )
    total = sum(f.values())
    return {name: value / total for name, value in f.items()}


UVW = [
    (0.0, 0.0, 0.0),
    (30.0, -20.0, 10.0),
    (-60.0, -50.0, 40.0),
    (100.0, -120.0, -70.0),
    (-150.0, -250.0, 90.0),
    (20.0, 30.0, -5.0),
]


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
    for X, su, sv, sw, vasym in TABLE1.values():
        f.append(
            X
            * stats.multivariate_normal(
                mean=[0.0, vasym, 0.0], cov=np.diag([su**2, sv**2, sw**2])
            ).pdf(np.column_stack([U, V, W]))
        )
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
    out = uvw_probabilities(
        [1e5, -1e8, 1e300, 0.0, np.nan, np.inf],
        [0.0, 0.0, 1e300, 3e4, 0.0, 0.0],
        [0.0, 0.0, -1e300, 0.0, 0.0, 0.0],
    )
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
    out = uvw_probabilities(
        [-40.0], [-50.0], [0.0], populations=list(BENSBY2003.populations) + [stream]
    )
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
    helio = np.array(
        [[40.0, -30.0, 20.0], [-100.0, 50.0, -10.0], [0.0, 0.0, 0.0], [5.0, -220.0, 3.0]]
    )
    gal = Galactic(
        u=[1e-3] * 4 * u.pc,
        v=[0.0] * 4 * u.pc,
        w=[0.0] * 4 * u.pc,
        U=helio[:, 0] * u.km / u.s,
        V=helio[:, 1] * u.km / u.s,
        W=helio[:, 2] * u.km / u.s,
        representation_type="cartesian",
        differential_type="cartesian",
    )
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
    out = kinematic_probabilities(vx, vy, vz, kinematics="heliocentric")
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
    other = kinematic_probabilities(vx, vy, vz, frame="v4.0", kinematics="heliocentric")
    v40 = get_frame("v4.0").galcen_v_sun
    np.testing.assert_allclose(
        other["V"] - out["V"], v_sun[1] - v40.y.to_value(u.km / u.s), atol=1e-12
    )
    no_pec = kinematic_probabilities(
        vx, vy, vz, solar_motion=(0.0, 0.0, 0.0), kinematics="heliocentric"
    )
    np.testing.assert_allclose(no_pec["U"] - out["U"], -SUN_PEC[0], atol=1e-12)


def test_add_kinematic_probabilities_uses_table_frame():
    frame = get_frame("v4.0")
    from fastgrad.frames import frame_metadata

    t = Table(
        {
            "x": [-8.0, 3.0],
            "y": [0.5, 9.0],
            "vx": [10.0, 12.9],
            "vy": [240.0, 245.6],
            "vz": [7.0, 7.78],
        }
    )
    t.meta["frame"] = frame_metadata(frame)
    for kinematics in ("local", "heliocentric"):
        out = add_kinematic_probabilities(t, kinematics=kinematics)
        ref = kinematic_probabilities(
            t["vx"], t["vy"], t["vz"], x=t["x"], y=t["y"], frame=frame, kinematics=kinematics
        )
        np.testing.assert_allclose(out["p_thin"], ref["p_thin"], rtol=1e-15)
        np.testing.assert_allclose(out["U"], ref["U"], rtol=1e-15)
        assert out.meta["kinematics"]["velocities"] == kinematics
        assert out.meta["kinematics"]["frame"]["preset"] == "v4.0"
    assert "p_thin" not in t.colnames
    with pytest.raises(ValueError, match="vx"):
        add_kinematic_probabilities(Table({"vy": [0.0]}))


def test_halo_cut_boundary_and_count():
    t = Table({"p_halo": [0.0, 0.0099, 0.01, 0.5, np.nan], "id": np.arange(5)})
    kept, report = halo_cut(t)
    np.testing.assert_array_equal(kept["id"], [0, 1])
    assert tuple(report[0][["cut", "n_before", "n_removed", "n_after", "n_nonfinite"]]) == (
        "halo",
        5,
        3,
        2,
        1,
    )
    kept, _ = halo_cut(t, p_max=0.6)
    assert len(kept) == 4
    assert HALO_CUT.params["p_halo_max"] == 0.01


def test_halo_cut_consume_moves_the_columns():
    """consume=True: the same kept table (values, units, masks, meta) as a
    copy, the input left without columns; consume=False leaves it whole."""
    rng = np.random.default_rng(4)
    p = rng.uniform(0.0, 0.02, 50)
    p[3] = np.nan
    R, feh = rng.uniform(5, 15, 50), rng.normal(0, 0.3, 50)

    def table():
        t = Table({"p_halo": p, "id": np.arange(50)}, meta={"survey": "mock"})
        t["R"] = u.Quantity(R, u.kpc)
        t["feh"] = Table.Column(feh, unit=u.dex, description="[Fe/H]")
        t["flag"] = Table.MaskedColumn(np.arange(50) % 3, mask=np.arange(50) % 7 == 0)
        return t

    t = table()
    ref, ref_report = halo_cut(t)
    assert len(t.colnames) == 5  # untouched
    src = table()
    kept, report = halo_cut(src, consume=True)
    assert src.colnames == [] and len(kept) == len(ref) == np.count_nonzero(p < 0.01)
    assert kept.colnames == ref.colnames and kept.meta == ref.meta
    assert kept.meta["survey"] == "mock" and kept.meta["quality_cuts"][-1]["cut"] == "halo"
    for name in ref.colnames:
        np.testing.assert_array_equal(np.asarray(kept[name]), np.asarray(ref[name]))
        assert getattr(kept[name], "unit", None) == getattr(ref[name], "unit", None)
    assert kept["feh"].description == "[Fe/H]"
    np.testing.assert_array_equal(kept["flag"].mask, ref["flag"].mask)
    assert report.pformat() == ref_report.pformat()
    # every row kept: the columns still move (a new table, the input emptied)
    src = table()
    kept, _ = halo_cut(src, p_max=1.0, consume=True)
    assert src.colnames == [] and len(kept) == 49  # the NaN goes
    # integer indices (a sort), as the pipeline orders its final sample
    from fastgrad._validation import kept_rows

    order = np.argsort(R)[::-1]
    src, ref = table(), table()[order]
    moved = kept_rows(src, order, consume=True)
    assert src.colnames == [] and moved.meta == ref.meta
    for name in ref.colnames:
        np.testing.assert_array_equal(np.asarray(moved[name]), np.asarray(ref[name]))
    np.testing.assert_array_equal(moved["flag"].mask, ref["flag"].mask)


def test_kept_rows_keeps_the_table_class_and_indices():
    """kept_rows (the pipeline's row copies): a QTable stays a QTable of
    Quantities, every row kept or not; an indexed table keeps its index and
    is emptied too when consumed."""
    from astropy.table import QTable

    from fastgrad._validation import kept_rows

    q = QTable({"R": np.arange(5.0) * u.kpc, "id": np.arange(5)})
    for rows in (np.ones(5, bool), np.array([True, False, True, True, False]), np.array([4, 0])):
        src = q.copy()
        out = kept_rows(src, rows, consume=True)
        assert type(out) is QTable and isinstance(out["R"], u.Quantity)
        np.testing.assert_array_equal(out["id"], q["id"][rows])
        assert src.colnames == []
    t = Table({"id": np.arange(6)[::-1], "v": np.arange(6.0)})
    t.add_index("id")
    out = kept_rows(t, np.arange(6) % 2 == 0, consume=True)
    assert t.colnames == [] and out.indices and out.loc[3]["v"] == 2.0


def test_halo_cut_from_velocities():
    frame = get_frame(None)
    lsr = frame.galcen_v_sun.xyz.to_value(u.km / u.s) - np.array(SUN_PEC)
    sun = fastgrad.frame_constants(frame)[1]  # at the Sun: local = heliocentric
    t = Table(
        {
            "x": [sun[0]] * 2,
            "y": [sun[1]] * 2,
            "vx": [lsr[0], lsr[0]],
            "vy": [lsr[1], lsr[1] - 220.0],
            "vz": [lsr[2], lsr[2]],
        }
    )
    kept, report = halo_cut(t)
    assert len(kept) == 1 and kept["p_thin"][0] > 0.99
    assert report["n_removed"][0] == 1
    # the probabilities computed here: consume still leaves the input emptied
    src = t.copy()
    moved, _ = halo_cut(src, consume=True)
    assert src.colnames == [] and moved.pformat() == kept.pformat()


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
    x, y = np.full(5, -8.0), np.linspace(-1.0, 1.0, 5)
    ref = kinematic_probabilities(vx, vy, vz, x=x, y=y)
    mask = np.array([False, True, False, False, True])
    fill = np.where(mask, -99999.0, vy)
    kms = u.km / u.s
    for vy_masked in (
        Masked(fill * kms, mask=mask),
        MaskedColumn(fill, mask=mask, unit=kms),
        np.ma.masked_array(fill, mask=mask),
    ):
        t = kinematic_probabilities(vx, vy_masked, vz, x=x, y=y)
        for name in ("V", "p_thin", "p_thick", "p_halo"):
            assert np.isnan(t[name][mask]).all(), (type(vy_masked), name)
            np.testing.assert_array_equal(t[name][~mask], ref[name][~mask])


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.array([True, False, True, False, True]), "booleans"),
        (np.ones(5) * (1 + 1j), "complex"),
        (np.arange(5).astype("datetime64[s]"), "dates"),
    ],
)
def test_kinematic_probabilities_refuses_bool_complex_dates(bad, match):
    vx, vy, vz = _vel()
    with pytest.raises(TypeError, match=f"vz: .*{match}"):
        kinematic_probabilities(vx, vy, bad, kinematics="heliocentric")
    with pytest.raises(TypeError, match=f"x: .*{match}"):
        kinematic_probabilities(vx, vy, vz, x=bad, y=vx)


def test_scalar_parameters_name_themselves():
    vx, vy, vz = _vel()
    t = Table({"p_halo": [0.0, 0.005, 0.02, np.nan]})
    with pytest.raises(u.UnitConversionError, match="p_max"):
        halo_cut(t, p_max=1 * u.km)
    with pytest.raises(ValueError, match="p_max"):
        halo_cut(t, p_max=1.5)
    with pytest.raises(TypeError, match="p_max"):
        halo_cut(t, p_max="0.01")
    kept, report = halo_cut(t, p_max=1 * u.percent)  # 1 % is 0.01
    assert len(kept) == 2 and report["n_nonfinite"][0] == 1
    with pytest.raises(u.UnitConversionError, match=r"solar_motion\[0\] \(U\)"):
        kinematic_probabilities(
            vx, vy, vz, solar_motion=[11.1, 12.24, 7.25] * u.kpc, kinematics="heliocentric"
        )
    pc = kinematic_probabilities(
        vx, vy, vz, solar_motion=[11.1, 12.24, 7.25] * u.km / u.s, kinematics="heliocentric"
    )
    ms = kinematic_probabilities(
        vx, vy, vz, kinematics="heliocentric", solar_motion=[11100.0, 12240.0, 7250.0] * u.m / u.s
    )
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
    df = pd.DataFrame(
        {
            "x": rng.uniform(-12, -4, 200),
            "y": rng.uniform(-4, 4, 200),
            "vx": rng.normal(11, 30, 200),
            "vy": rng.normal(245, 20, 200),
            "vz": rng.normal(7, 15, 200),
        }
    )
    t = fastgrad.add_kinematic_probabilities(df)
    ref = fastgrad.kinematic_probabilities(df["vx"], df["vy"], df["vz"], x=df["x"], y=df["y"])
    np.testing.assert_array_equal(
        np.asarray(fastgrad.kinematic_probabilities(df)["p_halo"]), np.asarray(ref["p_halo"])
    )
    np.testing.assert_array_equal(np.asarray(t["p_halo"]), np.asarray(ref["p_halo"]))
    kept, report = fastgrad.halo_cut(df)
    assert report["n_before"][0] == 200 and len(kept) == report["n_after"][0]
    with pytest.raises(TypeError, match="table: expected an astropy Table or a pandas DataFrame"):
        fastgrad.halo_cut([1, 2, 3])
    with pytest.raises(TypeError, match="copy=False"):
        fastgrad.add_kinematic_probabilities(df, copy=False)


# --------------------------------------------------------------------------
# issue 15: U, V, W in each star's own frame (docs/method.md section 4)
# --------------------------------------------------------------------------
def _v_sun(frame):
    v = frame.galcen_v_sun
    return (v.d_xyz if hasattr(v, "d_xyz") else v.xyz).to_value(u.km / u.s)


def _astropy_cylindrical(gc):
    """(v_R, v_phi) of astropy Galactocentric coordinates through astropy's own
    cylindrical representation (v_phi along +phi, km/s)."""
    from astropy.coordinates import CylindricalDifferential, CylindricalRepresentation

    cyl = gc.represent_as(CylindricalRepresentation, CylindricalDifferential)
    dif = cyl.differentials["s"]
    v_R = dif.d_rho.to_value(u.km / u.s)
    v_phi = (cyl.rho * dif.d_phi).to(u.km / u.s, u.dimensionless_angles()).value
    return v_R, v_phi


def _astropy_lsr_at_sun(frame):
    """(U, V, W) of the LSR at the Sun from astropy alone: a particle at the
    Sun's Galactocentric position moving with galcen_v_sun minus the solar
    motion, read in cylindrical components (U = -v_R, V = -v_phi: astropy's
    Galaxy rotates towards -phi)."""
    from astropy.coordinates import ICRS, CartesianDifferential, CartesianRepresentation

    sun = ICRS(
        CartesianRepresentation(
            [0.0, 0.0, 0.0] * u.kpc, differentials=CartesianDifferential([0.0] * 3 * u.km / u.s)
        )
    )
    sun_gc = sun.transform_to(frame)
    lsr_v = sun_gc.velocity.d_xyz.to_value(u.km / u.s) - np.array(SUN_PEC)
    from astropy.coordinates import Galactocentric

    p = Galactocentric(
        CartesianRepresentation(
            sun_gc.cartesian.xyz, differentials=CartesianDifferential(lsr_v * u.km / u.s)
        ),
        **{k: getattr(frame, k) for k in frame.frame_attributes},
    )
    v_R, v_phi = _astropy_cylindrical(p)
    return -float(v_R), -float(v_phi), float(lsr_v[2])


@pytest.mark.parametrize("frame_name", [None, "v4.0"])
def test_local_velocities_match_astropy_cylindrical(frame_name):
    """Stars all over the disk through fastgrad.galactocentric, then the table
    straight into kinematic_probabilities: U = -v_R - U_lsr, V = -v_phi - V_lsr,
    W = v_z - W_lsr with v_R, v_phi and the LSR from astropy's own
    Galactocentric transform and cylindrical representation. Tolerance 1e-6
    km/s: fastgrad's transform agrees with astropy's to ~1e-9 relative."""
    from astropy.coordinates import SkyCoord

    frame = get_frame(frame_name)
    rng = np.random.default_rng(15)
    n = 40
    s = dict(
        ra=rng.uniform(0, 360, n),
        dec=np.degrees(np.arcsin(rng.uniform(-1, 1, n))),
        distance=rng.uniform(0.5, 12.0, n),
        pmra=rng.normal(0, 6, n),
        pmdec=rng.normal(-3, 6, n),
        radial_velocity=rng.normal(0, 60, n),
    )
    gc_table = fastgrad.galactocentric(**s, frame=frame)
    out = kinematic_probabilities(gc_table)  # the frame comes from the table's meta
    assert out.meta["kinematics"] == "local"
    c = SkyCoord(
        ra=s["ra"] * u.deg,
        dec=s["dec"] * u.deg,
        distance=s["distance"] * u.kpc,
        pm_ra_cosdec=s["pmra"] * u.mas / u.yr,
        pm_dec=s["pmdec"] * u.mas / u.yr,
        radial_velocity=s["radial_velocity"] * u.km / u.s,
    )
    gc = c.transform_to(frame)
    v_R, v_phi = _astropy_cylindrical(gc)
    u_lsr, v_lsr, w_lsr = _astropy_lsr_at_sun(frame)
    # the circular speed is the frame's v_y of the Sun minus V_sun (Sun on the x axis)
    assert v_lsr == pytest.approx(_v_sun(frame)[1] - SUN_PEC[1], abs=1e-9)
    np.testing.assert_allclose(out["U"], -v_R - u_lsr, atol=1e-6)
    np.testing.assert_allclose(out["V"], -v_phi - v_lsr, atol=1e-6)
    np.testing.assert_allclose(out["W"], gc.v_z.to_value(u.km / u.s) - w_lsr, atol=1e-6)
    # the stars are kpc from the Sun: the frames differ by far more than the tolerance
    helio = kinematic_probabilities(gc_table, kinematics="heliocentric")
    assert np.max(np.abs(helio["U"] - out["U"])) > 50.0
    for i in range(n):
        ref = hand_probabilities(out["U"][i], out["V"][i], out["W"][i])
        for name in TABLE1:
            assert out[f"p_{name}"][i] == pytest.approx(ref[name], rel=1e-10, abs=1e-300)


def test_circular_orbits_anywhere_in_the_disk_are_thin():
    """A star on a circular orbit at the LSR's speed, at any R in 4-16 kpc and
    any azimuth, is thin disk (P_thin > 0.9) in its own frame, also with a
    +-10 km/s lag or lead; the heliocentric reading calls most of them halo."""
    frame = get_frame(None)
    v_c = _v_sun(frame)[1] - SUN_PEC[1]
    R, phi, dv = np.meshgrid(
        np.linspace(4.0, 16.0, 13), np.radians(np.arange(0, 360, 15)), [-10.0, 0.0, 10.0]
    )
    R, phi, dv = R.ravel(), phi.ravel(), dv.ravel()
    x, y = R * np.cos(phi), R * np.sin(phi)
    speed = v_c + dv
    # along rotation: astropy's Galaxy turns towards -phi, (sin phi, -cos phi)
    vx, vy, vz = speed * np.sin(phi), -speed * np.cos(phi), np.zeros_like(R)
    out = kinematic_probabilities(vx, vy, vz, x=x, y=y)
    assert np.all(out["p_thin"] > 0.9), np.min(out["p_thin"])
    np.testing.assert_allclose(out["V"], dv, atol=1e-9)
    helio = kinematic_probabilities(vx, vy, vz, kinematics="heliocentric")
    assert np.mean(helio["p_thin"] > 0.9) < 0.2
    assert np.mean(helio["p_halo"] > 0.5) > 0.5


def test_local_equals_heliocentric_at_the_sun():
    """At the Sun's own position both readings are the same numbers (to
    round-off): the local frame only departs from Bensby et al.'s where their
    heliocentric axes stop being the star's."""
    for name in (None, "v4.0", "pre-v4.0"):
        frame = get_frame(name)
        sun = fastgrad.frame_constants(frame)[1]
        vx, vy, vz = (np.random.default_rng(2).normal(m, 80, 300) for m in (10, 230, 7))
        loc = kinematic_probabilities(
            vx, vy, vz, x=np.full(300, sun[0]), y=np.full(300, sun[1]), frame=frame
        )
        hel = kinematic_probabilities(vx, vy, vz, frame=frame, kinematics="heliocentric")
        for c in ("U", "V", "W", "p_thin", "p_thick", "p_halo"):
            np.testing.assert_allclose(loc[c], hel[c], rtol=1e-12, atol=1e-12)


def test_local_needs_positions_and_names_the_option():
    vx, vy, vz = _vel()
    with pytest.raises(ValueError, match="kinematics='local' needs .* x= and y="):
        kinematic_probabilities(vx, vy, vz)
    with pytest.raises(ValueError, match=r"\['x', 'y'\] missing.*heliocentric"):
        add_kinematic_probabilities(Table({"vx": vx, "vy": vy, "vz": vz}))
    with pytest.raises(ValueError, match="kinematics must be one of"):
        kinematic_probabilities(vx, vy, vz, kinematics="galactocentric")
    with pytest.raises(TypeError, match="with a table"):
        kinematic_probabilities(Table({"vx": vx}), vy)
    # R = 0 has no azimuth: NaN, not a guess
    out = kinematic_probabilities(
        [10.0, 10.0], [200.0, 200.0], [0.0, 0.0], x=[0.0, -8.0], y=[0.0, 0.0]
    )
    assert np.isnan(out["p_thin"][0]) and np.isfinite(out["p_thin"][1])


def test_mc_galactocentric_table_and_halo_cut_in_local_frame():
    """The Table of mc_galactocentric goes straight in; halo_cut computes the
    same p_halo from it as kinematic_probabilities."""
    rng = np.random.default_rng(4)
    n = 200
    s = dict(
        ra=rng.uniform(0, 360, n),
        dec=rng.uniform(-60, 60, n),
        distance=rng.uniform(0.5, 5, n),
        pmra=rng.normal(0, 5, n),
        pmdec=rng.normal(0, 5, n),
        radial_velocity=rng.normal(0, 40, n),
    )
    errs = dict(
        ra_error=np.full(n, 0.05),
        dec_error=np.full(n, 0.05),
        distance_error=0.1 * s["distance"],
        pmra_error=np.full(n, 0.05),
        pmdec_error=np.full(n, 0.05),
        radial_velocity_error=np.full(n, 2.0),
    )
    mc = fastgrad.mc_galactocentric(**s, **errs, n_samples=50, seed=1)
    out = kinematic_probabilities(mc)
    ref = kinematic_probabilities(mc["vx"], mc["vy"], mc["vz"], x=mc["x"], y=mc["y"])
    np.testing.assert_array_equal(np.asarray(out["p_halo"]), np.asarray(ref["p_halo"]))
    kept, report = halo_cut(mc)
    assert report["n_after"][0] == np.count_nonzero(np.asarray(ref["p_halo"]) < 0.01)
