"""Results a notebook user can read: LineFit's values with units and its HTML
table, short reprs of ResidualMap and RunResult."""

import astropy.units as u
import numpy as np
import pytest

import fastgrad
from fastgrad.pipeline import RunResult


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    R = rng.uniform(6, 12, 2000)
    feh = -0.06 * R + 0.5 + rng.normal(0, 0.05, 2000)
    return R, feh, np.full(2000, 0.05), np.full(2000, 0.05)


def test_linefit_quantities_carry_the_datas_units(data):
    R, feh, Re, fe = data
    with pytest.warns(fastgrad.AutocorrWarning):
        fit = fastgrad.fit_line(
            R * u.kpc, feh * u.dex, Re * u.kpc, fe * u.dex, n_walkers=8, n_steps=100, seed=1
        )
    q = fit.quantities
    assert q["slope"].unit == u.dex / u.kpc and q["slope"].value == fit.slope
    assert q["intercept_err"].unit == u.dex and q["scatter"].value == fit.scatter
    html = fit._repr_html_()
    assert "<table>" in html and "dex / kpc" in html and f"{fit.slope:.5g}" in html
    with pytest.warns(fastgrad.AutocorrWarning):
        plain = fastgrad.fit_line(R, feh, Re, fe, n_walkers=8, n_steps=100, seed=1)
    assert plain.quantities["slope"].unit == u.one and plain.slope == fit.slope


def test_short_reprs():
    rng = np.random.default_rng(2)
    x, y = rng.uniform(-12, -4, 5000), rng.uniform(-4, 4, 5000)
    m = fastgrad.residual_map(x, y, rng.normal(size=5000), np.zeros(5000), min_count=3)
    text = repr(m)
    assert text.startswith("<ResidualMap ") and "5,000 stars" in text and len(text) < 300
    r = RunResult(samples={}, failed={"giants": "no star"}, out="res")
    assert repr(r) == "<RunResult samples: none; failed: giants; out: res>"
