"""fastgrad.fitting: the line likelihood kernel against numpy, and the emcee fits."""

import pickle
import warnings

import astropy.units as u
import emcee
import numpy as np
import pytest

import fastgrad
from fastgrad import fitting
from fastgrad.fitting import (
    AutocorrWarning,
    LineModel,
    fit_binned,
    fit_line,
    fit_tables,
    line_loglike,
    mcmc,
)


def numpy_loglike(theta, x, y, sx, sy, sxy=None, scatter="perpendicular"):
    """docs/method.md section 5, written out plainly (the independent reference)."""
    m, b, lam = theta
    s = lam**2 * (1 + m * m) if scatter == "perpendicular" else lam**2
    var = m * m * sx**2 + sy**2 + s
    if sxy is not None:
        var = var - 2 * m * sxy
    delta = y - (m * x + b)
    return -0.5 * np.sum(delta**2 / var + np.log(2 * np.pi * var))


def line_data(n, seed=0, slope=-0.07, intercept=0.45, lam=0.3, cov=False):
    """Synthetic stars: true x uniform, perpendicular scatter lam (a vertical
    offset of variance lam^2 (1 + m^2)), then errors in x and y."""
    rng = np.random.default_rng(seed)
    x_true = rng.uniform(6.5, 12.5, n)
    sx = rng.uniform(0.05, 0.4, n)
    sy = rng.uniform(0.03, 0.15, n)
    y_true = slope * x_true + intercept + rng.normal(0, lam * np.sqrt(1 + slope**2), n)
    sxy = None
    if cov:
        rho = rng.uniform(-0.6, 0.6, n)
        sxy = rho * sx * sy
        e = rng.multivariate_normal([0, 0], [[1, 0], [0, 1]], n)
        ex = sx * e[:, 0]
        ey = sy * (rho * e[:, 0] + np.sqrt(1 - rho**2) * e[:, 1])
    else:
        ex, ey = rng.normal(0, sx), rng.normal(0, sy)
    return x_true + ex, y_true + ey, sx, sy, sxy


THETAS = np.array(
    [[-0.07, 0.45, 0.3], [-0.06, 0.3, 0.25], [0.4, -2.0, 1.2], [-1.5, 8.0, 1e-3], [0.0, 0.0, 0.0]]
)


def kernel_variants():
    """Every kernel build this CPU runs (baseline, AVX2, AVX-512)."""
    from fastgrad import _kernels

    return [pytest.param(mod, id=name) for name, mod in _kernels.variants().items()]


# --------------------------------------------------------------------------
# the likelihood
# --------------------------------------------------------------------------
@pytest.mark.parametrize("n", [3, 8, 1000, 5003])
@pytest.mark.parametrize("scatter", ["perpendicular", "vertical"])
@pytest.mark.parametrize("with_cov", [False, True])
def test_line_loglike_equals_numpy(n, scatter, with_cov):
    x, y, sx, sy, sxy = line_data(n, seed=n, cov=with_cov)
    batched = line_loglike(THETAS, x, y, sx, sy, sxy, scatter=scatter)
    assert batched.shape == (len(THETAS),)
    for theta, value in zip(THETAS, batched):
        ref = numpy_loglike(theta, x, y, sx, sy, sxy, scatter)
        # the kernel's lane sums and blocked logs differ from numpy's
        # pairwise sum by rounding only: ~1e-15 relative
        assert value == pytest.approx(ref, rel=1e-11, abs=0)
        single = line_loglike(theta, x, y, sx, sy, sxy, scatter=scatter)
        assert isinstance(single, float) and single == value


@pytest.mark.parametrize("core", kernel_variants())
def test_both_builds_equal_numpy(core):
    """Each compiled variant, all four input modes, more than one chunk."""
    n = 2 * core.LINE_LOGLIKE_CHUNK + 13
    x, y, sx, sy, sxy = line_data(n, seed=5, cov=True)
    for cov in (None, sxy):
        c = np.empty(0) if cov is None else cov
        for perp, scatter in ((True, "perpendicular"), (False, "vertical")):
            ref = [numpy_loglike(t, x, y, sx, sy, cov, scatter) for t in THETAS]
            out = np.empty(len(THETAS))
            assert (
                core.line_loglike_batch(THETAS, x, y, sx, sy, c, None, None, False, perp, out, 2)
                == 0
            )
            np.testing.assert_allclose(out, ref, rtol=1e-11, atol=0)
            vx, vy = sx**2, sy**2
            bounds = np.array([vx.min(), vx.max(), vy.min(), vy.max()])
            assert (
                core.line_loglike_batch(THETAS, x, y, vx, vy, c, bounds, None, True, perp, out, 1)
                == 0
            )
            np.testing.assert_allclose(out, ref, rtol=1e-11, atol=0)


@pytest.mark.parametrize("scale", [1e-12, 1e11])
def test_extreme_variances_take_the_exact_path(scale):
    """Variances outside [1e-19, 1e19] cannot use the blocked products; the
    kernel must notice and still match numpy."""
    x, y, sx, sy, _ = line_data(3000, seed=2)
    x, y, sx, sy = x * scale, y * scale, sx * scale, sy * scale
    theta = np.array([-0.07, 0.45 * scale, 0.0])
    ref = numpy_loglike(theta, x, y, sx, sy)
    assert line_loglike(theta, x, y, sx, sy) == pytest.approx(ref, rel=1e-11)


@pytest.mark.parametrize("sigma", [5e9, 1e10, 1.5e10, 3e10, 1e12])
def test_huge_variances_with_tiny_residuals_match_numpy(sigma):
    """Sigma^2 ~ 1e19-1e24 with residuals far below it: the blocked path's
    running product of variances overflows (at or before the 16th star of a
    lane) while its numerator stays finite; the kernel must notice the
    overflow (no upper bound of the variances is looked for without a
    covariance) and take the exact loop."""
    rng = np.random.default_rng(4)
    n = 2 * 2048 + 77
    x = rng.uniform(0, 10, n)
    sx = np.full(n, sigma) * rng.uniform(0.9, 1.1, n)
    sy = np.full(n, sigma) * rng.uniform(0.9, 1.1, n)
    theta = np.array([0.5, 1.0, 0.0])
    y = 0.5 * x + 1.0 + rng.normal(0, 1e-3, n)
    ref = numpy_loglike(theta, x, y, sx, sy)
    assert line_loglike(theta, x, y, sx, sy) == pytest.approx(ref, rel=1e-11)
    model = LineModel(x, y, sx, sy)
    assert model.loglike(theta) == pytest.approx(ref, rel=1e-11)


def test_scatter_models_are_reparametrisations():
    """lambda_y^2 = lambda_perp^2 (1 + m^2) gives the same likelihood."""
    x, y, sx, sy, sxy = line_data(4000, seed=3, cov=True)
    for m, b, lam in THETAS:
        perp = line_loglike([m, b, lam], x, y, sx, sy, sxy)
        vert = line_loglike([m, b, lam * np.sqrt(1 + m * m)], x, y, sx, sy, sxy, scatter="vertical")
        assert perp == pytest.approx(vert, rel=1e-13)


def test_invalid_theta_gives_minus_inf():
    x, y, sx, sy, _ = line_data(100)
    thetas = [
        [-0.07, 0.4, -0.1],
        [np.nan, 0.4, 0.3],
        [-0.07, np.inf, 0.3],
        [-0.07, 0.4, np.nan],
        [-0.07, 0.4, -np.inf],
    ]
    out = line_loglike(thetas, x, y, sx, sy)
    assert np.all(out == -np.inf)
    assert line_loglike([0.1, 0.2, -1e-300], x, y, sx, sy) == -np.inf


def test_degenerate_total_variance_gives_minus_inf():
    """|sxy| = sx sy makes v^T S v vanish at m = sy/sx: with lambda = 0 the
    total variance is zero there."""
    n = 50
    x = np.linspace(0, 1, n)
    sx, sy = np.full(n, 0.1), np.full(n, 0.2)
    cov = sx * sy
    assert line_loglike([2.0, 0.0, 0.0], x, 2 * x + 0.01, sx, sy, cov) == -np.inf
    assert np.isfinite(line_loglike([2.0, 0.0, 0.1], x, 2 * x + 0.01, sx, sy, cov))


def test_thread_count_does_not_change_the_result():
    """Fixed chunks combined in a fixed order: bit-identical for any threads."""
    x, y, sx, sy, sxy = line_data(50_000, seed=4, cov=True)
    thetas = np.repeat(THETAS, 3, axis=0) * (1 + 1e-3 * np.arange(15))[:, None]
    one = line_loglike(thetas, x, y, sx, sy, sxy, n_threads=1)
    two = line_loglike(thetas, x, y, sx, sy, sxy, n_threads=2)
    np.testing.assert_array_equal(one, two)
    model = LineModel(x, y, sx, sy, sxy, n_threads=1)
    np.testing.assert_array_equal(
        model.loglike(thetas), LineModel(x, y, sx, sy, sxy, n_threads=2).loglike(thetas)
    )
    np.testing.assert_allclose(model.loglike(thetas), one, rtol=1e-13)


def test_quantities_are_converted():
    x, y, sx, sy, _ = line_data(500)
    ref = line_loglike([-0.07, 0.45, 0.3], x, y, sx, sy)
    got = line_loglike([-0.07, 0.45, 0.3], x * u.kpc, y, (sx * 1000) * u.pc, sy)
    assert got == pytest.approx(ref, rel=1e-13)


# --------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------
def test_nan_and_inf_are_reported_with_rows():
    x, y, sx, sy, _ = line_data(100)
    x[[3, 17]] = np.nan
    with pytest.raises(ValueError, match=r"x: 2 row\(s\) are NaN or infinite \(rows 3, 17\)"):
        line_loglike([-0.07, 0.45, 0.3], x, y, sx, sy)
    x, y, sx, sy, _ = line_data(100)
    sy[42] = np.inf
    with pytest.raises(ValueError, match=r"y_err: 1 row\(s\) .*rows 42"):
        line_loglike([-0.07, 0.45, 0.3], x, y, sx, sy)
    with pytest.raises(ValueError, match="y_err.*rows 42"):
        LineModel(x, y, sx, sy)


def test_bad_errors_are_reported():
    x, y, sx, sy, _ = line_data(100)
    sx[5] = -0.1
    with pytest.raises(ValueError, match=r"x_err: 1 row\(s\) are negative \(rows 5\)"):
        line_loglike([-0.07, 0.45, 0.3], x, y, sx, sy)
    x, y, sx, sy, _ = line_data(100)
    sx[[7, 8]] = 0.0
    sy[8] = 0.0
    with pytest.raises(
        ValueError,
        match=r"x_err, y_err: 1 row\(s\) have zero total variance"
        r".*rows 8",
    ):
        line_loglike([-0.07, 0.45, 0.3], x, y, sx, sy)
    x, y, sx, sy, _ = line_data(100)
    cov = 0.5 * sx * sy
    cov[9] = 1.5 * sx[9] * sy[9]
    with pytest.raises(ValueError, match=r"xy_cov: 1 row\(s\) exceed .*rows 9"):
        line_loglike([-0.07, 0.45, 0.3], x, y, sx, sy, cov)
    # exactly +-1 correlation is allowed
    assert np.isfinite(line_loglike([-0.07, 0.45, 0.3], x, y, sx, sy, sx * sy))


def test_lengths_and_sizes():
    x, y, sx, sy, _ = line_data(100)
    with pytest.raises(ValueError, match="mismatched lengths: x=100, y=99"):
        line_loglike([-0.07, 0.45, 0.3], x, y[:-1], sx, sy)
    with pytest.raises(ValueError, match="mismatched lengths"):
        LineModel(x, y, sx, sy[:50])
    with pytest.raises(ValueError, match="theta must have shape"):
        line_loglike([1.0, 2.0], x, y, sx, sy)
    with pytest.raises(ValueError, match=r"need at least 3 point\(s\).*got 2"):
        LineModel(x[:2], y[:2], sx[:2], sy[:2])
    with pytest.raises(ValueError, match=r"got 2 after omitting 98 row"):
        xx = x.copy()
        xx[2:] = np.nan
        fit_line(xx, y, sx, sy, nan_policy="omit")
    with pytest.raises(ValueError, match="scatter must be one of"):
        line_loglike([-0.07, 0.45, 0.3], x, y, sx, sy, scatter="orthogonal")
    with pytest.raises(ValueError, match="nan_policy"):
        LineModel(x, y, sx, sy, nan_policy="drop")
    # scalar errors are broadcast
    assert line_loglike([-0.07, 0.45, 0.3], x, y, 0.1, 0.05) == pytest.approx(
        numpy_loglike([-0.07, 0.45, 0.3], x, y, 0.1, 0.05), rel=1e-12
    )


def test_nan_policy_omit_drops_and_counts():
    x, y, sx, sy, _ = line_data(200)
    y[[1, 2, 3]] = np.nan
    sx[10] = np.inf
    keep = np.isfinite(y) & np.isfinite(sx)
    theta = [-0.07, 0.45, 0.3]
    got = line_loglike(theta, x, y, sx, sy, nan_policy="omit")
    assert got == pytest.approx(
        numpy_loglike(theta, x[keep], y[keep], sx[keep], sy[keep]), rel=1e-12
    )
    model = LineModel(x, y, sx, sy, nan_policy="omit")
    assert (model.n_stars, model.n_omitted) == (196, 4)


# --------------------------------------------------------------------------
# the model for emcee
# --------------------------------------------------------------------------
def test_line_model_log_prob():
    x, y, sx, sy, _ = line_data(3000, seed=8)
    model = LineModel(x, y, sx, sy, priors={"slope": (-0.5, 0.5)})
    inside = np.array([[-0.07, 0.45, 0.3], [0.5, 0.1, 5.0]])
    outside = np.array(
        [[-0.6, 0.45, 0.3], [-0.07, 10.5, 0.3], [-0.07, 0.4, 5.01], [-0.07, 0.4, -0.01]]
    )
    np.testing.assert_allclose(
        model.log_prob(inside), line_loglike(inside, x, y, sx, sy), rtol=1e-13
    )
    assert np.all(model.log_prob(outside) == -np.inf)
    assert model(inside[0]) == model.log_prob(inside)[0]
    assert model.priors == {"slope": (-0.5, 0.5), "intercept": (-10.0, 10.0), "scatter": (0.0, 5.0)}
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.log_prob(inside), model.log_prob(inside))
    with pytest.raises(ValueError, match="unknown parameter"):
        LineModel(x, y, sx, sy, priors={"gradient": (-1, 1)})
    with pytest.raises(ValueError, match="lo < hi"):
        LineModel(x, y, sx, sy, priors={"slope": (1, -1)})


def test_initial_guess_is_close_to_truth():
    x, y, sx, sy, _ = line_data(20_000, seed=9)
    theta0, cov0 = LineModel(x, y, sx, sy).initial_guess()
    sig = np.sqrt(np.diag(cov0))
    assert abs(theta0[0] + 0.07) < 5 * sig[0]
    assert abs(theta0[2] - 0.3) < 0.05


# --------------------------------------------------------------------------
# the fits
# --------------------------------------------------------------------------
FIT = dict(n_walkers=32, n_steps=600)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_fit_line_recovers_truth(seed):
    """The paper's regime (m = -0.07 dex/kpc, lambda = 0.3 dex).  The
    likelihood treats the true x as flat-distributed, so x errors attenuate
    the slope by ~ m <sx^2> / var(x): here ~0.7 sigma on average over 20
    seeds (checked; without x errors the z-scores centre on 0), so 3 sigma
    holds with margin."""
    truth = dict(slope=-0.07, intercept=0.45, scatter=0.3)
    x, y, sx, sy, sxy = line_data(
        2000,
        seed=seed,
        slope=truth["slope"],
        intercept=truth["intercept"],
        lam=truth["scatter"],
        cov=seed == 13,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AutocorrWarning)
        fit = fit_line(x, y, sx, sy, sxy, seed=seed, **FIT)
    for name, value in truth.items():
        est, err = getattr(fit, name), getattr(fit, name + "_err")
        assert isinstance(est, float) and err > 0
        assert abs(est - value) < 3 * err, (name, est, err, value)
    assert 0.2 < fit.acceptance_fraction < 0.9
    assert fit.samples.shape == (32 * 300, 3)
    assert fit.percentiles["slope"][0] < fit.slope < fit.percentiles["slope"][2]
    assert fit.percentiles["slope"][1] == pytest.approx(fit.slope)
    assert fit.autocorr_time.shape == (3,) and np.all(fit.autocorr_time > 0)
    assert isinstance(fit.sampler, emcee.EnsembleSampler)
    assert fit.n_stars == 2000 and fit.burn == 300
    assert "slope=" in repr(fit)


def test_scatter_models_agree():
    """Same slope; lambda_y^2 = lambda_perp^2 (1 + m^2) (docs/method.md section 5)."""
    x, y, sx, sy, _ = line_data(2000, seed=21, slope=-0.6, intercept=4.0, lam=0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AutocorrWarning)
        perp = fit_line(x, y, sx, sy, seed=1, **FIT)
        vert = fit_line(x, y, sx, sy, scatter="vertical", seed=1, **FIT)
    assert abs(perp.slope - vert.slope) < 0.5 * perp.slope_err
    assert abs(perp.intercept - vert.intercept) < 0.5 * perp.intercept_err
    lam_y_from_perp = perp.samples[:, 2] * np.sqrt(1 + perp.samples[:, 0] ** 2)
    assert np.median(lam_y_from_perp) == pytest.approx(vert.scatter, abs=vert.scatter_err)
    assert vert.scatter > perp.scatter * 1.1  # sqrt(1 + 0.36) = 1.17


def test_same_seed_same_chain():
    x, y, sx, sy, _ = line_data(1000, seed=5)
    kw = dict(n_walkers=10, n_steps=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AutocorrWarning)
        a = fit_line(x, y, sx, sy, seed=42, **kw)
        b = fit_line(x, y, sx, sy, seed=42, n_threads=2, **kw)
        c = fit_line(x, y, sx, sy, seed=43, **kw)
    np.testing.assert_array_equal(a.samples, b.samples)
    assert not np.array_equal(a.samples, c.samples)


def test_chain_is_emcees_own():
    """fastgrad's vectorised acceptance step and trimmed compute_log_prob give
    exactly the chain of emcee's StretchMove from the same state."""
    x, y, sx, sy, _ = line_data(1000, seed=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AutocorrWarning)
        fit = fit_line(x, y, sx, sy, seed=7, n_walkers=12, n_steps=150)
    model = LineModel(x, y, sx, sy)
    init_seed, emcee_seed = np.random.SeedSequence(7).spawn(2)
    _, p0 = mcmc._initial_walkers(model, 12, np.random.default_rng(init_seed))
    plain = emcee.EnsembleSampler(12, 3, model.log_prob, vectorize=True)
    plain._random = mcmc._CompactStateRandom(np.random.PCG64(emcee_seed))
    plain.run_mcmc(p0, 150)
    np.testing.assert_array_equal(plain.get_chain(), fit.sampler.get_chain())
    np.testing.assert_array_equal(plain.get_log_prob(), fit.sampler.get_log_prob())


@pytest.mark.parametrize("kw", [{"nsplits": 3}, {"nsplits": 2, "randomize_split": False}])
def test_stretch_move_is_emcees_for_other_splits(kw):
    """fastgrad's StretchMove, given emcee's other options (three splits,
    whose complementary ensemble is two splits concatenated; no random
    split), still makes emcee's chain."""
    from fastgrad.fitting.sampler import Sampler, StretchMove

    x, y, sx, sy, _ = line_data(500, seed=8)
    model = LineModel(x, y, sx, sy)
    _, p0 = mcmc._initial_walkers(model, 12, np.random.default_rng(1))
    chains = []
    for cls, move in ((emcee.EnsembleSampler, emcee.moves.StretchMove), (Sampler, StretchMove)):
        sampler = cls(12, 3, model.log_prob, vectorize=True, moves=move(**kw))
        sampler._random = mcmc._CompactStateRandom(np.random.PCG64(5))
        sampler.run_mcmc(p0.copy(), 80)
        chains.append((sampler.get_chain(), sampler.get_log_prob(), sampler.acceptance_fraction))
    for mine, ref in zip(chains[1], chains[0]):
        np.testing.assert_array_equal(mine, ref)
    assert 0 < chains[1][2].mean() < 1


def test_short_chain_warns_and_keeps_the_fit():
    x, y, sx, sy, _ = line_data(500, seed=3)
    with pytest.warns(AutocorrWarning, match="autocorrelation time"):
        fit = fit_line(x, y, sx, sy, seed=1, n_walkers=10, n_steps=60)
    assert fit.autocorr_warning and np.all(np.isfinite(fit.autocorr_time))
    assert np.isfinite(fit.slope)


def test_backend_and_argument_checks():
    x, y, sx, sy, _ = line_data(300, seed=3)
    backend = emcee.backends.Backend()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AutocorrWarning)
        fit = fit_line(x, y, sx, sy, seed=1, n_steps=50, burn=10, backend=backend)
    assert backend.iteration == 50 and fit.samples.shape == (10 * 40, 3)
    with pytest.raises(ValueError, match="n_walkers must be >= 6"):
        fit_line(x, y, sx, sy, n_walkers=4)
    with pytest.raises(ValueError, match="burn must be in"):
        fit_line(x, y, sx, sy, n_steps=100, burn=100)


# --------------------------------------------------------------------------
# binned fits
# --------------------------------------------------------------------------
def binned_data(seed=0):
    """Stars in 'by' bins with 1200, 700, 80 and 0 stars, plus a few outside."""
    rng = np.random.default_rng(seed)
    counts = [1200, 700, 80]
    by = np.concatenate([rng.uniform(k * 0.2, (k + 1) * 0.2, c) for k, c in enumerate(counts)])
    by = np.concatenate([by, [0.2, 0.8, 1.0, -0.1]])  # an edge, outside, outside
    n = len(by)
    x, y, sx, sy, _ = line_data(n, seed=seed, slope=-0.07 + 0.05 * by.clip(0, 1))
    return x, y, sx, sy, by


def test_fit_binned_table():
    x, y, sx, sy, by = binned_data()
    edges = [0.0, 0.2, 0.4, 0.6, 0.8]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AutocorrWarning)
        t = fit_binned(
            x * u.kpc,
            y,
            sx * u.kpc,
            sy,
            by * u.kpc,
            edges * u.kpc,
            min_stars=500,
            seed=3,
            n_walkers=10,
            n_steps=200,
        )
    assert list(t.colnames[:10]) == [
        "bin_lo",
        "bin_hi",
        "bin_center",
        "n_stars",
        "slope",
        "slope_err",
        "intercept",
        "intercept_err",
        "scatter",
        "scatter_err",
    ]
    # half-open: the star at 0.2 is in the second bin; 0.8 and beyond in none
    assert list(t["n_stars"]) == [1200, 701, 80, 0]
    assert list(t["slope"].mask) == [False, False, True, True]
    assert t["bin_center"].unit == u.kpc and t["slope"].unit == u.kpc**-1
    assert np.allclose(t["bin_center"], [0.1, 0.3, 0.5, 0.7])
    assert t["slope"][0] == pytest.approx(-0.065, abs=5 * t["slope_err"][0])
    assert t.meta["n_outside_bins"] == 3 and t.meta["min_stars"] == 500
    assert t.meta["bins"] == "half-open [bin_lo, bin_hi)"


def test_fit_binned_does_not_depend_on_concurrency():
    x, y, sx, sy, by = binned_data(1)
    kw = dict(min_stars=100, seed=9, n_walkers=10, n_steps=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AutocorrWarning)
        serial = fit_binned(x, y, sx, sy, by, [0, 0.2, 0.4, 0.6], n_jobs=1, **kw)
        threaded = fit_binned(x, y, sx, sy, by, [0, 0.2, 0.4, 0.6], n_jobs=2, **kw)
    for name in ("slope", "intercept", "scatter", "slope_err"):
        np.testing.assert_array_equal(serial[name], threaded[name])


def test_fit_binned_warns_once_and_omits():
    x, y, sx, sy, by = binned_data(2)
    by[5] = np.nan
    with pytest.warns(AutocorrWarning, match=r"chains of 2 bin\(s\)") as record:
        t = fit_binned(
            x,
            y,
            sx,
            sy,
            by,
            [0, 0.2, 0.4],
            min_stars=100,
            nan_policy="omit",
            seed=1,
            n_walkers=10,
            n_steps=60,
        )
    assert len([w for w in record if w.category is AutocorrWarning]) == 1
    assert t.meta["n_omitted"] == 1 and t["n_stars"][0] == 1199
    with pytest.raises(ValueError, match="by: 1 row"):
        fit_binned(x, y, sx, sy, by, [0, 0.2, 0.4])
    with pytest.raises(ValueError, match="edges"):
        fit_binned(x, y, sx, sy, by, [0, 0.4, 0.2], nan_policy="omit")
    with pytest.raises(TypeError, match="unexpected keyword"):
        fit_binned(x, y, sx, sy, by, [0, 0.2], nan_policy="omit", n_walker=10)


def test_fit_tables():
    rng = np.random.default_rng(4)
    n = 3000
    R = rng.uniform(7.0, 10.0, n)
    z = rng.normal(0, 0.15, n)
    feh = 0.5 - 0.07 * R - 0.2 * np.abs(z) + rng.normal(0, 0.2, n)
    R_err, z_err, feh_err = np.full(n, 0.1), np.full(n, 0.02), np.full(n, 0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AutocorrWarning)
        radial, vertical = fit_tables(
            R, z, feh, R_err, z_err, feh_err, min_stars=300, seed=2, n_walkers=10, n_steps=150
        )
    assert len(radial) == 7 and len(vertical) == 7
    np.testing.assert_allclose(radial["bin_center"], [0.1, 0.3, 0.5, 0.7, 0.9, 1.1, 1.3])
    np.testing.assert_allclose(vertical["bin_center"], np.arange(7.5, 14, 1.0))
    assert radial["n_stars"].sum() == np.sum(np.abs(z) < 1.4)
    assert not radial["slope"].mask[0] and radial["slope"].mask[-1]
    assert radial["slope"][0] == pytest.approx(-0.07, abs=4 * radial["slope_err"][0])
    assert list(vertical["slope"].mask) == [False, False, False, True, True, True, True]
    assert radial.meta["table"] == "radial" and vertical.meta["table"] == "vertical"
    # the same as fit_binned with the spawned seed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AutocorrWarning)
        alone = fit_binned(
            R,
            feh,
            R_err,
            feh_err,
            np.abs(z),
            fastgrad.paper.TABLE1_EDGES,
            min_stars=300,
            seed=np.random.SeedSequence(2).spawn(2)[0],
            n_walkers=10,
            n_steps=150,
        )
    np.testing.assert_array_equal(alone["slope"], radial["slope"])


def test_public_names():
    for name in (
        "line_loglike",
        "LineModel",
        "LineFit",
        "fit_line",
        "fit_binned",
        "fit_tables",
        "AutocorrWarning",
    ):
        assert getattr(fastgrad, name) is getattr(fitting, name)


def test_bins_in_worker_processes_give_the_same_numbers():
    """n_jobs=2 fits the bins in worker processes (forkserver): each bin has
    its own seed, so the tables are identical to one bin at a time."""
    rng = np.random.default_rng(3)
    n = 3000
    absz = rng.uniform(0, 0.6, n)
    R = rng.uniform(7, 12, n)
    feh = -0.07 * R + 0.4 + rng.normal(0, 0.2, n)
    kw = dict(min_stars=300, n_walkers=8, n_steps=150, seed=5)
    one = fastgrad.fit_binned(
        R, feh, np.full(n, 0.1), np.full(n, 0.05), absz, [0, 0.2, 0.4, 0.6], n_jobs=1, **kw
    )
    two = fastgrad.fit_binned(
        R, feh, np.full(n, 0.1), np.full(n, 0.05), absz, [0, 0.2, 0.4, 0.6], n_jobs=2, **kw
    )
    for col in ("slope", "slope_err", "intercept", "scatter"):
        np.testing.assert_array_equal(np.asarray(one[col]), np.asarray(two[col]))


# --------------------------------------------------------------------------
# issue 12: nothing lost, nothing silently wrong
# --------------------------------------------------------------------------
def test_fits_do_not_depend_on_blas_threads():
    """The start point's sums are numpy's pairwise np.sum, not BLAS dots
    (whose order follows the BLAS thread count): bit-identical chains.  50k
    stars: above OpenBLAS's threading threshold for a dot product."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    x, y, sx, sy, _ = line_data(60_000, seed=8)
    kw = dict(seed=4, n_walkers=10, n_steps=40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AutocorrWarning)
        default = fit_line(x, y, sx, sy, **kw)
        with threadpoolctl.threadpool_limits(1, "blas"):
            one = fit_line(x, y, sx, sy, **kw)
    np.testing.assert_array_equal(default.initial, one.initial)
    np.testing.assert_array_equal(default.samples, one.samples)
    model = LineModel(x, y, sx, sy)
    with threadpoolctl.threadpool_limits(1, "blas"):
        guess_one = model.initial_guess()
    guess = model.initial_guess()
    np.testing.assert_array_equal(guess[0], guess_one[0])
    np.testing.assert_array_equal(guess[1], guess_one[1])


def test_fit_tables_do_not_depend_on_blas_threads_or_n_jobs():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    rng = np.random.default_rng(12)
    n = 60_000
    R = rng.uniform(7.0, 9.0, n)
    z = rng.uniform(-0.4, 0.4, n)
    feh = 0.5 - 0.07 * R - 0.2 * np.abs(z) + rng.normal(0, 0.2, n)
    args = (R, z, feh, np.full(n, 0.1), np.full(n, 0.02), np.full(n, 0.05))
    kw = dict(
        absz_edges=[0.0, 0.2, 0.4],
        R_edges=[7.0, 8.0, 9.0],
        min_stars=300,
        seed=3,
        n_walkers=10,
        n_steps=30,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AutocorrWarning)
        default = fit_tables(*args, n_jobs=1, **kw)
        with threadpoolctl.threadpool_limits(1, "blas"):
            one = fit_tables(*args, n_jobs=1, **kw)
        two = fit_tables(*args, n_jobs=2, **kw)
    for a, b, c in zip(default, one, two):
        for col in ("slope", "slope_err", "intercept", "scatter", "scatter_err"):
            np.testing.assert_array_equal(np.asarray(a[col]), np.asarray(b[col]))
            np.testing.assert_array_equal(np.asarray(a[col]), np.asarray(c[col]))


def test_overflowing_squares_are_refused():
    x, y, sx, sy, _ = line_data(300, seed=2)
    sy[[7, 11]] = 1e200
    with pytest.raises(ValueError, match=r"y_err: 2 row\(s\) overflow when squared .*rows 7, 11"):
        fit_line(x, y, sx, sy, seed=1, n_steps=20)
    with pytest.raises(ValueError, match=r"y_err: 2 row\(s\) overflow when squared"):
        line_loglike([-0.07, 0.45, 0.3], x, y, sx, sy)
    x[3] = -2e154
    with pytest.raises(ValueError, match=r"x: 1 row\(s\) overflow when squared .*rows 3\)"):
        fit_line(x, y, sx, 0.1, seed=1, n_steps=20)


def test_walkers_that_cannot_start_and_chains_that_never_move_raise():
    from fastgrad.errors import InputError

    x, y, sx, sy, _ = line_data(300, seed=2)
    # finite squares, but m^2 x_err^2 + y_err^2 overflows for star 5: ln L = -inf
    sx[5] = sy[5] = 1.34e154
    with pytest.raises(InputError, match="starting walkers have a log-probability of -inf"):
        fit_line(x, y, sx, sy, seed=1, n_steps=20)
    sx[5], sy[5] = 0.1, 0.1

    class Frozen(LineModel):
        """ln p finite at the starting walkers only: every move is refused"""

        def log_prob(self, theta):
            th = np.atleast_2d(theta)
            out = np.atleast_1d(super().log_prob(th)).copy()
            if not hasattr(self, "_start"):
                self._start = {row.tobytes() for row in th}
            out[[row.tobytes() not in self._start for row in th]] = -np.inf
            return out

    model = Frozen(x, y, sx, sy)
    with pytest.raises(fitting.SamplingError, match="acceptance fraction 0"):
        mcmc.sample_posterior(
            model, n_walkers=10, n_steps=20, burn=None, seed=1, progress=False, backend=None
        )


@pytest.mark.parametrize(
    "name, value", [("n_walkers", 10.7), ("n_walkers", 10.0), ("n_steps", 50.5), ("burn", 5.0)]
)
def test_float_counts_are_refused(name, value):
    x, y, sx, sy, _ = line_data(100, seed=2)
    with pytest.raises(TypeError, match=f"{name}: expected an int"):
        fit_line(x, y, sx, sy, **{name: value})
    with pytest.raises(TypeError, match=f"{name}: expected an int"):
        fit_binned(x, y, sx, sy, x, [6, 9, 13], **{name: value})


def test_binned_counts_and_n_jobs_are_checked():
    x, y, sx, sy, by = binned_data()
    with pytest.raises(TypeError, match="min_stars: expected an int"):
        fit_binned(x, y, sx, sy, by, [0, 0.2], min_stars=500.0)
    with pytest.raises(ValueError, match="min_stars: must be >= 0"):
        fit_binned(x, y, sx, sy, by, [0, 0.2], min_stars=-1)
    for bad in (2.0, 1.5, True):
        with pytest.raises(TypeError, match="n_jobs: expected an int.*positive int, -1 or None"):
            fit_binned(x, y, sx, sy, by, [0, 0.2], n_jobs=bad, n_steps=10)
    for bad in (0, -2):
        with pytest.raises(ValueError, match="n_jobs: must be >= 1"):
            fit_binned(x, y, sx, sy, by, [0, 0.2], n_jobs=bad, n_steps=10)


def tables_data(n=3000, seed=4):
    rng = np.random.default_rng(seed)
    R = rng.uniform(7.0, 10.0, n)
    z = rng.normal(0, 0.15, n)
    feh = 0.5 - 0.07 * R - 0.2 * np.abs(z) + rng.normal(0, 0.2, n)
    return R, z, feh, np.full(n, 0.1), np.full(n, 0.02), np.full(n, 0.05)


def test_fit_tables_converts_quantities_to_kpc():
    R, z, feh, R_err, z_err, feh_err = tables_data()
    kw = dict(min_stars=300, seed=2, n_walkers=10, n_steps=40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AutocorrWarning)
        plain = fit_tables(R, z, feh, R_err, z_err, feh_err, **kw)
        # z and its error in pc, R in kpc as a Quantity, edges in pc
        quantity = fit_tables(
            R * u.kpc,
            z * 1000 * u.pc,
            feh,
            R_err * u.kpc,
            z_err * 1000 * u.pc,
            feh_err,
            absz_edges=fastgrad.paper.TABLE1_EDGES * 1000 * u.pc,
            **kw,
        )
    for a, b in zip(plain, quantity):
        np.testing.assert_array_equal(a["n_stars"], b["n_stars"])
        np.testing.assert_allclose(
            np.asarray(a["slope"]), np.asarray(b["slope"]), rtol=1e-6
        )  # pc -> kpc rounds the data by an ulp
        assert b["bin_lo"].unit == u.kpc
    # z in pc as plain numbers: no star in any |z| bin, and the message says why
    from fastgrad.errors import InputError

    with pytest.raises(
        InputError,
        match=r"z: none of the 3000 stars falls in a bin of "
        r"absz_edges .*plain numbers are kpc",
    ):
        fit_tables(R, z * 1000 + 5000, feh, R_err, z_err, feh_err, **kw)


def test_fit_binned_edges_follow_the_unit_of_by():
    x, y, sx, sy, by = binned_data()
    kw = dict(min_stars=500, seed=3, n_walkers=10, n_steps=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AutocorrWarning)
        kpc = fit_binned(x, y, sx, sy, by * u.kpc, [0.0, 0.2, 0.4] * u.kpc, **kw)
        pc = fit_binned(x, y, sx, sy, by * u.kpc, [0.0, 200.0, 400.0] * u.pc, **kw)
    np.testing.assert_array_equal(kpc["n_stars"], pc["n_stars"])
    assert pc["bin_hi"].unit == u.kpc and pc["bin_hi"][0] == pytest.approx(0.2)
    with pytest.raises(u.UnitTypeError, match="edges: plain numbers, but by is a Quantity"):
        fit_binned(x, y, sx, sy, by * u.pc, [0.0, 0.2, 0.4], **kw)
    with pytest.raises(u.UnitTypeError, match="edges: a Quantity in kpc, but by has no unit"):
        fit_binned(x, y, sx, sy, by, [0.0, 0.2, 0.4] * u.kpc, **kw)


@pytest.mark.parametrize(
    "arg, name", [(1, "z"), (0, "R"), (4, "z_err"), (3, "R_err"), (2, "feh"), (5, "feh_err")]
)
def test_fit_tables_messages_name_its_arguments(arg, name):
    arrays = list(tables_data())
    arrays[arg] = arrays[arg].copy()
    arrays[arg][17] = np.nan
    with pytest.raises(ValueError, match=rf"^{name}: 1 row\(s\) are NaN or infinite \(rows 17\)"):
        fit_tables(*arrays, min_stars=300, seed=2, n_steps=20)


def test_tables_carry_units_through_ecsv(tmp_path):
    from astropy.table import Table

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AutocorrWarning)
        radial, vertical = fit_tables(*tables_data(), min_stars=300, seed=2, n_steps=40)
    expected = {
        "bin_lo": u.kpc,
        "bin_hi": u.kpc,
        "bin_center": u.kpc,
        "slope": u.dex / u.kpc,
        "slope_err": u.dex / u.kpc,
        "intercept": u.dex,
        "intercept_err": u.dex,
        "scatter": u.dex,
        "scatter_err": u.dex,
    }
    for t in (radial, vertical):
        path = tmp_path / f"{t.meta['table']}.ecsv"
        t.write(path, format="ascii.ecsv")
        back = Table.read(path, format="ascii.ecsv")
        for col, unit in expected.items():
            assert t[col].unit == unit and back[col].unit == unit, col
        np.testing.assert_array_equal(back["slope"].filled(np.nan), t["slope"].filled(np.nan))
        assert list(back["slope"].mask) == list(t["slope"].mask)


def test_fit_tables_edge_keywords_and_their_deprecated_names():
    """absz_edges (Table 1's |Z| bins) and R_edges (Table 2's R bins); the
    names before issue 13, radial_edges and vertical_edges, give the same
    tables with a FutureWarning, and both names at once are an error."""
    R, z, feh, R_err, z_err, feh_err = tables_data()
    args = (R, z, feh, R_err, z_err, feh_err)
    kw = dict(min_stars=300, seed=2, n_walkers=10, n_steps=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AutocorrWarning)
        warnings.simplefilter("error", FutureWarning)
        new = fit_tables(*args, absz_edges=[0.0, 0.2, 0.4], R_edges=[7.0, 8.5, 10.0], **kw)
        default = fit_tables(*args, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AutocorrWarning)
        with pytest.warns(FutureWarning, match=r"radial_edges=.*use absz_edges="):
            with pytest.warns(FutureWarning, match=r"vertical_edges=.*use R_edges="):
                old = fit_tables(
                    *args, radial_edges=[0.0, 0.2, 0.4], vertical_edges=[7.0, 8.5, 10.0], **kw
                )
    for a, b in zip(new, old):
        for col in ("bin_lo", "n_stars", "slope", "slope_err", "intercept", "scatter"):
            np.testing.assert_array_equal(a[col], b[col])
    np.testing.assert_array_equal(default[0]["bin_lo"], fastgrad.paper.TABLE1_EDGES[:-1])
    np.testing.assert_array_equal(default[1]["bin_lo"], fastgrad.paper.TABLE2_EDGES[:-1])
    with pytest.raises(TypeError, match="both absz_edges= and its deprecated name"):
        fit_tables(*args, absz_edges=[0.0, 0.2], radial_edges=[0.0, 0.2], **kw)


def test_deprecated_bin_edge_names():
    """fitting.RADIAL_BIN_EDGES / VERTICAL_BIN_EDGES: paper.TABLE1_EDGES /
    TABLE2_EDGES, with a FutureWarning naming them."""
    with pytest.warns(FutureWarning, match=r"fastgrad\.paper\.TABLE1_EDGES"):
        assert fitting.RADIAL_BIN_EDGES is fastgrad.paper.TABLE1_EDGES
    with pytest.warns(FutureWarning, match=r"fastgrad\.paper\.TABLE2_EDGES"):
        assert fitting.VERTICAL_BIN_EDGES is fastgrad.paper.TABLE2_EDGES
    with pytest.raises(AttributeError):
        fitting.NO_SUCH_NAME  # noqa: B018 (the attribute access is the test)
