"""fastgrad.validation: the truth comparisons of a synthetic run."""

import numpy as np
import pytest
from astropy.table import MaskedColumn, Table

from fastgrad import annulus_mean
from fastgrad.validation import matched_filter, slope_pulls


def test_slope_pulls_match_bins_and_skip_unfitted_ones():
    t = Table(
        {
            "bin_lo": [0.0, 0.2, 0.4],
            "bin_hi": [0.2, 0.4, 0.6],
            "n_stars": [900, 500, 10],
            "slope": MaskedColumn([-0.05, -0.04, 0.0], mask=[False, False, True]),
            "slope_err": [0.005, 0.01, 0.0],
        }
    )
    truth = [{"bin_lo": 0.0, "slope": -0.06}, {"bin_lo": 0.4, "slope": -0.03}]
    pulls = slope_pulls(t, truth)
    assert len(pulls) == 1  # 0.2 has no truth, 0.4 is not fitted
    assert pulls[0]["slope_true"] == -0.06 and pulls[0]["n_stars"] == 900
    assert pulls[0]["pull"] == pytest.approx((-0.05 + 0.06) / 0.005)


def test_matched_filter_recovers_an_exact_pattern():
    rng = np.random.default_rng(3)
    R = rng.uniform(7, 11, 4000)
    phi = rng.uniform(-np.pi, np.pi, 4000)
    shape = np.cos(2 * phi + R)
    g = shape - annulus_mean(R, shape, 0.1)
    amp, err = matched_filter(R, 0.03 * g + 0.01, shape, 0.1)
    assert amp == pytest.approx(0.03, abs=1e-12) and err < 1e-10
    noisy, err = matched_filter(R, 0.03 * g + rng.normal(0, 0.05, R.size), shape, 0.1)
    assert abs(noisy - 0.03) < 4 * err
    # the standard error of a two-parameter least-squares fit (an independent formula)
    design = np.column_stack([g, np.ones_like(g)])
    d = 0.03 * g + rng.normal(0, 0.05, R.size)
    amp, err = matched_filter(R, d, shape, 0.1)
    coef, res, *_ = np.linalg.lstsq(design, d, rcond=None)
    s2 = res[0] / (R.size - 2)
    np.testing.assert_allclose(err, np.sqrt(s2 / np.sum((g - g.mean()) ** 2)), rtol=1e-9)
