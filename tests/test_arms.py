"""fastgrad.arms: spiral-arm geometry against hand-computed points of the
log-periodic formula ln(R / R_ref) = -(beta - beta_ref) tan(psi)."""

import numpy as np
import pytest

from fastgrad.arms import ARM_MODELS, arm_curve, arm_names, arm_parameters, arm_radius

# Points computed by hand (checked with 30-digit arithmetic, mpmath):
# Reid 2014 Local arm, beta = 0: beta - beta_ref = -8.9 deg = -0.1553343 rad,
# tan(12.8 deg) = 0.2271940, so ln(R / 8.4) = 0.1553343 * 0.2271940 = 0.0352910,
# R = 8.4 * exp(0.0352910) = 8.4 * 1.0359211 = 8.7017382 kpc, at (x, y) = (-R, 0).
HAND_POINTS_2014 = [
    # arm, beta (deg), R (kpc), x (kpc), y (kpc)
    ("Local", 0.0, 8.70173815575447, -8.70173815575447, 0.0),
    ("Local", 27.0, 7.81824373384792, -6.96610617455333, 3.54940837981520),
    ("Perseus", 0.0, 10.3146360844163, -10.3146360844163, 0.0),
    ("Perseus", 88.0, 7.99885948980436, -0.279156170388196, 7.99398680072512),
    ("Scutum", 3.0, 5.83581413677060, -5.82781635631739, 0.305422913303979),
    ("Outer", -6.0, 14.4458630135438, -14.3667270644600, -1.51000386138077),
    ("Sagittarius", 68.0, 6.03464746172119, -2.26061872810135, 5.59522769451033),
]


@pytest.mark.parametrize("arm, beta_deg, R, x, y", HAND_POINTS_2014)
def test_reid2014_hand_computed_points(arm, beta_deg, R, x, y):
    assert arm_radius(np.deg2rad(beta_deg), arm) == pytest.approx(R, rel=1e-13)
    p = arm_parameters(arm)
    # the curve's end points are the arm's beta range
    if beta_deg in (p["beta_min"], p["beta_max"]):
        c = arm_curve(arm, n=50)
        k = 0 if beta_deg == p["beta_min"] else -1
        assert c.R[k] == pytest.approx(R, rel=1e-13)
        assert c.x[k] == pytest.approx(x, rel=1e-12, abs=1e-12)
        assert c.y[k] == pytest.approx(y, rel=1e-12, abs=1e-12)
        assert c.beta[k] == pytest.approx(np.deg2rad(beta_deg), abs=1e-15)


def test_reid2014_table_values():
    # docs/method.md section 6 (Perseus pitch 9.4 deg, not the 9.9 of one public copy)
    p = arm_parameters("perseus")
    assert (p["R_ref"], p["beta_ref"], p["pitch_lt"], p["width"]) == (9.9, 14.2, 9.4, 0.38)
    assert (p["beta_min"], p["beta_max"], p["R0"]) == (-21.0, 88.0, 8.34)
    assert arm_names() == ["Scutum", "Sagittarius", "Local", "Perseus", "Outer"]
    assert ARM_MODELS["reid2014"]["R0"] == 8.34 and ARM_MODELS["reid2019"]["R0"] == 8.15
    # at beta_ref every arm passes through R_ref
    for name in arm_names():
        q = arm_parameters(name)
        assert arm_radius(np.deg2rad(q["beta_ref"]), name) == pytest.approx(q["R_ref"], rel=1e-15)


def test_reid2019_kinked_arms():
    # Perseus: kink at beta = 40 deg, R = 8.87 kpc, pitch 10.3 deg below, 8.7 above
    assert arm_radius(np.deg2rad(0.0), "Perseus", "reid2019") == pytest.approx(
        10.0698602508010, rel=1e-13
    )
    assert arm_radius(np.deg2rad(100.0), "Perseus", "reid2019") == pytest.approx(
        7.55667329588989, rel=1e-13
    )
    # Norma: a negative pitch below the kink (R grows with beta there)
    assert arm_radius(np.deg2rad(5.0), "Norma", "reid2019") == pytest.approx(
        4.44237141983514, rel=1e-13
    )
    assert arm_radius(np.deg2rad(54.0), "Norma", "reid2019") == pytest.approx(
        3.57029956786940, rel=1e-13
    )
    # continuous through the kink
    for name in arm_names("reid2019"):
        q = arm_parameters(name, "reid2019")
        b = np.deg2rad(q["beta_ref"])
        below, at, above = arm_radius([b - 1e-9, b, b + 1e-9], name, "reid2019")
        assert at == pytest.approx(q["R_ref"], rel=1e-15)
        assert below == pytest.approx(at, rel=1e-8) and above == pytest.approx(at, rel=1e-8)
    assert "3-kpc" in arm_names("reid2019") and len(arm_names("reid2019")) == 7


def test_rescaling_to_an_analysis_R0():
    c = arm_curve("Local", n=20)
    s = arm_curve("Local", n=20, R0=8.27)
    np.testing.assert_allclose(s.R, c.R * 8.27 / 8.34, rtol=1e-15)
    np.testing.assert_allclose(s.beta, c.beta, rtol=0, atol=0)
    np.testing.assert_allclose(np.hypot(s.x, s.y), s.R, rtol=1e-15)


def test_arm_edges_are_one_width_from_the_centre_line():
    for model in ("reid2014", "reid2019"):
        for name in arm_names(model):
            q = arm_parameters(name, model)
            width = q["width"]
            centre = arm_curve(name, model, n=4000)
            # the curve's parameter; away from the ends and (Reid 2019) the kink,
            # where the normal turns abruptly and the offset curve has a corner
            beta_param = np.linspace(q["beta_min"], q["beta_max"], 400)
            inner = (np.arange(400) >= 20) & (np.arange(400) < 380)
            if q["pitch_lt"] != q["pitch_gt"]:
                inner &= np.abs(beta_param - q["beta_ref"]) > 3.0
            for sign in (-1, 1):
                edge = arm_curve(name, model, n=400, offset=sign * width)
                # distance from each edge point to the (densely sampled) centre line
                d = np.hypot(
                    edge.x[:, None] - centre.x[None, :], edge.y[:, None] - centre.y[None, :]
                )
                np.testing.assert_allclose(d.min(axis=1)[inner], width, rtol=2e-3)
                # positive offsets lie outside (larger R)
                R_centre = arm_radius(edge.beta[inner], name, model)
                assert np.all(np.sign(edge.R[inner] - R_centre) == sign)
    np.testing.assert_allclose(np.arctan2(edge.y, -edge.x), edge.beta)


def test_bad_arm_input():
    with pytest.raises(ValueError, match="unknown arm model"):
        arm_curve("Local", model="reid2020")
    with pytest.raises(ValueError, match="unknown arm"):
        arm_curve("Orion")
    with pytest.raises(ValueError, match="n must be"):
        arm_curve("Local", n=1)
    with pytest.raises(ValueError, match="R0"):
        arm_curve("Local", R0=-8.0)


def test_curve_is_in_astropy_frame():
    c = arm_curve("Perseus", n=31)
    np.testing.assert_allclose(c.x, -c.R * np.cos(c.beta), rtol=1e-15)
    np.testing.assert_allclose(c.y, c.R * np.sin(c.beta), rtol=1e-15)
    # beta grows with rotation (+y); the Sun's direction (beta = 0) is -x
    assert c.y[c.beta > 0].min() > 0 and c.x[np.argmin(np.abs(c.beta))] < 0
