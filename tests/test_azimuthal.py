"""fastgrad.azimuthal: annulus means against a brute-force O(N^2) reference,
azimuth profiles on synthetic disks with a known pattern, X-Y median maps."""

import math

import astropy.units as u
import numpy as np
import pytest
from scipy import stats

import fastgrad
from fastgrad import _core
from fastgrad.azimuthal import (
    DEFAULT_HALF_WIDTH,
    annulus_mean,
    azimuthal_deviation,
    azimuthal_profile,
    azimuthal_profiles,
    residual_map,
)
from fastgrad.significance import cell_significance

EPS = np.finfo(float).eps


# --------------------------------------------------------------------------
# references
# --------------------------------------------------------------------------
def in_annulus(R, i, h):
    """The documented predicate, written independently: one rounded
    subtraction, its absolute value, <=."""
    return np.abs(R - R[i]) <= h


def brute_mean(R, values, h, weights=None, rows=None):
    """O(N) per star, exactly rounded sums (math.fsum): an independent
    reference for the kernel's compensated prefix sums."""
    rows = range(len(R)) if rows is None else rows
    out = []
    for i in rows:
        sel = in_annulus(R, i, h)
        if weights is None:
            out.append(math.fsum(values[sel]) / np.count_nonzero(sel))
        else:
            # the rounded products w * v, as the kernel forms them
            out.append(math.fsum(weights[sel] * values[sel]) / math.fsum(weights[sel]))
    return np.array(out)


def numpy_cumsum_mean(R, values, h):
    """The obvious numpy version (argsort + cumsum + searchsorted)."""
    order = np.argsort(R)
    Rs = R[order]
    csum = np.concatenate(([0.0], np.cumsum(values[order])))
    lo = np.searchsorted(Rs, Rs - h, side="left")
    hi = np.searchsorted(Rs, Rs + h, side="right")
    out = np.empty_like(values)
    out[order] = (csum[hi] - csum[lo]) / (hi - lo)
    return out


# The kernel's window sums are correctly rounded to ~1e-25 sum|x| and fsum is
# exactly rounded, so the means differ by the two final roundings (num/den):
# a few ulps of O(1) values.  1e-14 is that with margin; the promise
# is 1e-12.
TIGHT = 1e-14
PROMISE = 1e-12


# --------------------------------------------------------------------------
# annulus_mean vs brute force
# --------------------------------------------------------------------------
@pytest.mark.parametrize("weighted", [False, True])
def test_annulus_mean_matches_brute_force(weighted):
    rng = np.random.default_rng(42)
    n = 3000
    R = rng.uniform(6.0, 12.0, n)
    feh = -0.3 - 0.07 * (R - 8.0) + rng.normal(0.0, 0.2, n)
    w = rng.uniform(0.0, 3.0, n) if weighted else None
    got = annulus_mean(R, feh, 0.1, weights=w)
    ref = brute_mean(R, feh, 0.1, w)
    assert np.max(np.abs(got - ref)) <= TIGHT


@pytest.mark.parametrize("n", [1, 2, 4095, 4096, 4097, 8193])
def test_annulus_mean_block_boundaries(n):
    # 4096 sorted stars per block: windows that straddle blocks, n a multiple
    # of the block size (the grand-total slot), and tiny inputs
    rng = np.random.default_rng(n)
    R = rng.uniform(0.0, 5.0, n)
    v = rng.normal(1.0, 1.0, n)
    rows = np.unique(np.concatenate([rng.integers(0, n, 300), [0, n - 1]]))
    got = annulus_mean(R, v, 0.05)
    assert np.max(np.abs(got[rows] - brute_mean(R, v, 0.05, rows=rows))) <= TIGHT


def test_annulus_mean_precision_at_large_n():
    # 200,000 values around 5: a plain double prefix sum reaches 1e6, whose
    # ulp (1.2e-10) swamps the sums of the few-star windows at the edges of
    # the R distribution.  The compensated sums keep 1e-14.
    rng = np.random.default_rng(7)
    n = 200_000
    R = rng.normal(9.0, 1.2, n)
    v = 5.0 + rng.normal(0.0, 0.3, n)
    order = np.argsort(R)
    rows = np.concatenate([order[:100], order[-100:], rng.integers(0, n, 100)])
    ref = brute_mean(R, v, DEFAULT_HALF_WIDTH, rows=rows)
    got = annulus_mean(R, v)[rows]
    assert np.max(np.abs(got - ref)) <= TIGHT
    # the test discriminates: the uncompensated numpy version misses 1e-12 here
    naive = numpy_cumsum_mean(R, v, DEFAULT_HALF_WIDTH)[rows]
    assert np.max(np.abs(naive - ref)) > PROMISE


def test_annulus_mean_weighted_large_n_and_zero_weights():
    rng = np.random.default_rng(8)
    n = 60_000
    R = rng.uniform(7.0, 11.0, n)
    v = rng.normal(-0.2, 0.3, n)
    w = rng.uniform(0.5, 2.0, n)
    w[rng.random(n) < 0.3] = 0.0  # zero weight: counted out of the means
    rows = rng.integers(0, n, 200)
    got = annulus_mean(R, v, 0.1, weights=w)[rows]
    assert np.max(np.abs(got - brute_mean(R, v, 0.1, w, rows))) <= TIGHT
    # a window whose weights are all zero has no mean
    out = annulus_mean([1.0, 1.05, 5.0], [1.0, 2.0, 3.0], 0.1, weights=[1.0, 1.0, 0.0])
    assert out[0] == out[1] == 1.5 and np.isnan(out[2])


def test_annulus_mean_ties_and_duplicates():
    rng = np.random.default_rng(3)
    n = 5000
    R = np.round(rng.uniform(7.0, 9.0, n), 2)  # ~200 distinct radii, many ties
    R[:50] = 8.0  # and a block of exact duplicates
    v = rng.normal(0.0, 0.1, n)
    got = annulus_mean(R, v, 0.05)
    assert np.max(np.abs(got - brute_mean(R, v, 0.05))) <= TIGHT
    # equal radii, equal annuli: bit-identical means
    for r in np.unique(R)[:20]:
        assert np.unique(got[R == r]).size == 1
    # -0.0 and +0.0 are the same radius
    out = annulus_mean([0.0, -0.0, 0.3], [1.0, 3.0, 10.0], 0.1)
    assert out[0] == out[1] == 2.0 and out[2] == 10.0


def test_annulus_mean_boundary_is_exactly_the_predicate():
    # |dR| == h exactly: included.  0.2 - 0.1 == 0.1 in doubles, while
    # 0.3 - 0.2 = 0.09999999999999998 (in) and 0.8 - 0.7 = 0.10000000000000009 (out)
    h = 0.1
    out = annulus_mean([0.1, 0.2], [0.0, 1.0], h)
    np.testing.assert_array_equal(out, [0.5, 0.5])
    out = annulus_mean([0.2, 0.3], [0.0, 1.0], h)
    np.testing.assert_array_equal(out, [0.5, 0.5])
    out = annulus_mean([0.7, 0.8], [0.0, 1.0], h)
    np.testing.assert_array_equal(out, [0.0, 1.0])

    # radii a few ulps either side of R_i + h, for many R_i and h: the kernel
    # must follow abs(R_j - R_i) <= h, not R_j <= R_i + h, where the two
    # differ (when fl(R_i + h) rounds up, R_j = fl(R_i + h) is out)
    rng = np.random.default_rng(11)
    differ = 0
    for h in (0.1, 0.15, 0.2, 0.3, 0.7):
        base = rng.uniform(6.0, 12.0, 30)
        R = [base]
        for k in range(-3, 4):
            edge = base + h
            R.append(edge + k * np.spacing(edge))
        R = np.concatenate(R)
        v = rng.normal(0.0, 1.0, R.size)
        differ += sum(
            np.count_nonzero((np.abs(R - R[i]) <= h) != ((R <= R[i] + h) & (R >= R[i] - h)))
            for i in range(R.size)
        )
        got = annulus_mean(R, v, h)
        assert np.max(np.abs(got - brute_mean(R, v, h))) <= TIGHT
        # symmetric membership: each pair counted from both sides
        member = np.abs(R[:, None] - R[None, :]) <= h
        assert np.array_equal(member, member.T)
    assert differ > 0  # the data do separate the two predicates


def test_annulus_mean_thread_count_independent():
    rng = np.random.default_rng(5)
    n = 50_000
    R = rng.uniform(5.0, 13.0, n)
    v = rng.normal(0.0, 0.2, n)
    w = rng.uniform(0.1, 1.0, n)
    a = annulus_mean(R, v, 0.1, weights=w, n_threads=1)
    b = annulus_mean(R, v, 0.1, weights=w, n_threads=2)
    c = annulus_mean(R, v, 0.1, weights=w, n_threads=3)
    assert np.array_equal(a, b) and np.array_equal(a, c)


def test_radix_argsort_is_a_stable_sort():
    rng = np.random.default_rng(9)
    n = 30_000
    clustered = np.where(rng.random(n) < 0.99, 8.0 + rng.random(n) * 1e-9, rng.uniform(0, 30, n))
    for x in (
        rng.normal(size=n),
        np.round(rng.uniform(5, 15, n), 2),
        clustered,
        np.exp(rng.normal(0.0, 50.0, n)),
        np.linspace(15.0, 5.0, n),
        np.full(100, 3.0),
        8.0 + np.arange(1000) * 1e-15,
        np.array([0.0, -0.0, -1e-300, 1e-300, -5.0, 7.0]),
    ):
        for n_threads in (1, 2):
            order = np.empty(x.size, np.uint32)
            xs = np.empty(x.size)
            _core.radix_argsort(x, order, xs, n_threads)
            np.testing.assert_array_equal(order, np.argsort(x, kind="stable"))
            np.testing.assert_array_equal(xs, np.sort(x))


def test_annulus_mean_units_and_public_api():
    R_pc = np.array([8000.0, 8050.0, 8300.0]) * u.pc
    feh = np.array([0.1, 0.3, -0.2])
    out = fastgrad.annulus_mean(R_pc, feh, 100 * u.pc)
    np.testing.assert_allclose(out, [0.2, 0.2, -0.2], rtol=0, atol=1e-15)
    q = fastgrad.azimuthal_deviation(R_pc, feh * u.dimensionless_unscaled, 0.1)
    assert isinstance(q, u.Quantity)
    np.testing.assert_allclose(q.value, [-0.1, 0.1, 0.0], atol=1e-15)
    dev = azimuthal_deviation([8.0, 8.05], [0.1, 0.3], 0.1)
    np.testing.assert_allclose(dev, [-0.1, 0.1], atol=1e-15)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            dict(R=[1.0, np.nan, 2.0], values=[1.0, 2.0, 3.0]),
            r"R: 1 row\(s\) are NaN, infinite or masked \(rows 1\)",
        ),
        (dict(R=[1.0, 2.0, 3.0], values=[1.0, np.inf, 3.0]), r"values: 1 row"),
        (dict(R=[1.0, 2.0], values=[1.0, 2.0, 3.0]), "mismatched lengths"),
        (dict(R=[1.0, 2.0], values=[1.0, 2.0], half_width=0.0), "half_width"),
        (dict(R=[1.0, 2.0], values=[1.0, 2.0], half_width=-0.1), "half_width"),
        (dict(R=[1.0, 2.0], values=[1.0, 2.0], half_width=np.nan), "half_width"),
        (dict(R=[1.0, 2.0], values=[1.0, 2.0], half_width=np.inf), "half_width"),
        (dict(R=[], values=[]), "empty selection"),
        (
            dict(R=[1.0, 2.0], values=[1.0, 2.0], weights=[1.0, -1.0]),
            r"weights: 1 row\(s\) are negative",
        ),
        (dict(R=[1.0, 2.0], values=[1.0, 2.0], weights=[1.0, np.nan]), "weights"),
        (dict(R=[1.0, 2.0], values=[1.0, 2.0], weights=[1.0]), "mismatched lengths"),
    ],
)
def test_annulus_mean_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        annulus_mean(**kwargs)


# --------------------------------------------------------------------------
# azimuth profiles
# --------------------------------------------------------------------------
def test_azimuthal_profile_statistics_and_masking():
    rng = np.random.default_rng(1)
    phi = rng.uniform(-np.pi, np.pi, 20_000)
    delta = rng.normal(0.0, 0.1, phi.size)
    t = azimuthal_profile(phi, delta)
    assert len(t) == 180
    np.testing.assert_allclose(t["phi_hi"] - t["phi_lo"], np.deg2rad(2.0), rtol=1e-12)
    assert t["phi_lo"][0] == -np.pi and t["phi_hi"][-1] == np.pi
    assert t["phi_center"].unit == u.rad
    assert t["n"].sum() == phi.size
    k = 37
    sel = (phi >= t["phi_lo"][k]) & (phi < t["phi_hi"][k])
    assert t["n"][k] == sel.sum()
    np.testing.assert_allclose(t["mean"][k], delta[sel].mean(), rtol=1e-12)
    np.testing.assert_allclose(t["sem"][k], delta[sel].std(ddof=1) / np.sqrt(sel.sum()), rtol=1e-12)

    # bins under min_count are kept, masked
    t = azimuthal_profile(phi[:1000], delta[:1000], min_count=20)
    low = t["n"] < 20
    assert low.any() and len(t) == 180
    assert np.all(t["mean"].mask == low) and np.all(t["sem"].mask == low)


def test_azimuthal_profile_bins_edges_and_units():
    phi = np.array([-np.pi, -0.5, 0.0, 0.5, np.pi, 4.0])
    t = azimuthal_profile(phi, np.arange(6.0), bins=[-np.pi, 0.0, np.pi], min_count=1)
    # [-pi, 0) and [0, pi] (last bin closed); 4.0 rad is outside: not counted
    assert list(t["n"]) == [2, 3]
    np.testing.assert_allclose(t["mean"], [0.5, 3.0])
    assert t.meta["n_outside_bins"] == 1
    t = azimuthal_profile(np.array([10.0, 20.0]) * u.deg, [1.0, 2.0], bins=4, min_count=1)
    assert len(t) == 4 and t["n"][2] == 2
    with pytest.raises(ValueError, match="bins"):
        azimuthal_profile([0.0], [0.0], bins=[1.0, 0.0])
    with pytest.raises(ValueError, match="min_count"):
        azimuthal_profile([0.0], [0.0], min_count=0)
    with pytest.raises(ValueError, match="empty selection"):
        azimuthal_profile([], [])
    with pytest.raises(ValueError, match="delta: 1 row"):
        azimuthal_profile([0.0, 1.0], [0.0, np.nan])
    with pytest.raises(ValueError, match="mismatched lengths"):
        azimuthal_profile([0.0, 1.0], [0.0])


def synthetic_disk(n, amplitude, phase, seed, m=2):
    """Uniform surface density 6.5-11.5 kpc, all azimuths, [Fe/H] = gradient
    + amplitude cos(m phi - phase) + 0.1 dex noise."""
    rng = np.random.default_rng(seed)
    R = np.sqrt(rng.uniform(6.5**2, 11.5**2, n))
    phi = rng.uniform(-np.pi, np.pi, n)
    feh = 0.45 - 0.07 * R + amplitude * np.cos(m * phi - phase) + rng.normal(0.0, 0.1, n)
    return R, phi, feh


def fit_m2(table):
    """Weighted least squares of c + a cos 2phi + b sin 2phi to a profile;
    returns amplitude, phase, their errors, chi2 and dof."""
    good = ~table["mean"].mask
    phi = np.asarray(table["phi_center"])[good]
    y = np.asarray(table["mean"])[good]
    s = np.asarray(table["sem"])[good]
    A = np.column_stack([np.ones_like(phi), np.cos(2 * phi), np.sin(2 * phi)]) / s[:, None]
    coef, *_ = np.linalg.lstsq(A, y / s, rcond=None)
    cov = np.linalg.inv(A.T @ A)
    c, a, b = coef
    amp = np.hypot(a, b)
    phase = np.arctan2(b, a)
    J_amp = np.array([0.0, a / amp, b / amp])
    J_phase = np.array([0.0, -b / amp**2, a / amp**2])
    chi2 = float(np.sum(((A @ coef) - y / s) ** 2))
    return (
        amp,
        np.sqrt(J_amp @ cov @ J_amp),
        phase,
        np.sqrt(J_phase @ cov @ J_phase),
        chi2,
        good.sum() - 3,
        coef,
        cov,
    )


def test_profile_recovers_injected_m2_pattern():
    amplitude, phase = 0.08, 0.7
    R, phi, feh = synthetic_disk(300_000, amplitude, phase, seed=2023)
    delta = azimuthal_deviation(R, feh)
    profiles = azimuthal_profiles(R, phi, delta)
    assert list(profiles) == [(7.0, 9.0), (9.0, 11.0)]
    for ring, table in profiles.items():
        assert table.meta["R_lo"] == ring[0]
        amp, s_amp, ph, s_ph, chi2, dof, _, _ = fit_m2(table)
        # within 4 sigma (sigma ~ 5e-4 dex, ~7 mrad); and the fit is good
        assert abs(amp - amplitude) < 4 * s_amp, (ring, amp, s_amp)
        assert abs(ph - phase) < 4 * s_ph, (ring, ph, s_ph)
        assert abs(chi2 - dof) < 5 * np.sqrt(2 * dof)
        # the profile itself swings by about +-amplitude
        assert 0.06 < np.ma.max(table["mean"]) < 0.10 and -0.10 < np.ma.min(table["mean"]) < -0.06


def test_profile_flat_without_pattern():
    R, phi, feh = synthetic_disk(300_000, 0.0, 0.0, seed=7)
    delta = azimuthal_deviation(R, feh)
    for ring, table in azimuthal_profiles(R, phi, delta).items():
        mean = np.asarray(table["mean"])
        sem = np.asarray(table["sem"])
        wmean = np.sum(mean / sem**2) / np.sum(1 / sem**2)
        chi2 = np.sum(((mean - wmean) / sem) ** 2)
        dof = mean.size - 1
        # chi2 of a constant: within 5 sigma of its dof (normal approximation)
        assert abs(chi2 - dof) < 5 * np.sqrt(2 * dof), (ring, chi2, dof)
        _, _, _, _, _, _, coef, cov = fit_m2(table)
        assert abs(coef[1]) < 4 * np.sqrt(cov[1, 1]) and abs(coef[2]) < 4 * np.sqrt(cov[2, 2])
        # and the deviation removed the gradient: the mean is ~0
        assert abs(wmean) < 2e-3


def test_azimuthal_profiles_rings_and_errors():
    R = np.array([7.5, 8.5, 9.5, 10.5, 12.0])
    phi = np.zeros(5)
    d = np.arange(5.0)
    p = azimuthal_profiles(R, phi, d, rings=[(7, 9), (11, 11.5)], min_count=1)
    assert p[(7.0, 9.0)]["n"].sum() == 2
    assert p[(11.0, 11.5)]["n"].sum() == 0 and p[(11.0, 11.5)]["mean"].mask.all()
    with pytest.raises(ValueError, match="rings"):
        azimuthal_profiles(R, phi, d, rings=[(9, 7)])
    with pytest.raises(ValueError, match="rings"):
        azimuthal_profiles(R, phi, d, rings=[(7, 8, 9)])


# --------------------------------------------------------------------------
# residual maps
# --------------------------------------------------------------------------
def loop_median_map(x, y, values, x_edges, y_edges):
    out = np.full((y_edges.size - 1, x_edges.size - 1), np.nan)
    count = np.zeros(out.shape, int)
    for iy in range(out.shape[0]):
        for ix in range(out.shape[1]):
            xr = (x >= x_edges[ix]) & (
                (x < x_edges[ix + 1]) | (ix == out.shape[1] - 1) & (x <= x_edges[-1])
            )
            yr = (y >= y_edges[iy]) & (
                (y < y_edges[iy + 1]) | (iy == out.shape[0] - 1) & (y <= y_edges[-1])
            )
            sel = xr & yr
            count[iy, ix] = sel.sum()
            if sel.any():
                out[iy, ix] = np.median(values[sel])
    return out, count


def test_residual_map_matches_loop_medians():
    rng = np.random.default_rng(4)
    n = 4000
    x = rng.uniform(-11.0, -6.0, n)
    y = rng.uniform(-2.0, 2.0, n)
    obs = rng.normal(0.0, 0.2, n)
    pred = 0.4 - 0.07 * np.hypot(x, y)
    m = residual_map(x, y, obs, pred, gridsize=(10, 8), min_count=5)
    assert m.observed.shape == (8, 10) and m.sign == "observed-model"
    for name, vals in (("observed", obs), ("predicted", pred), ("residual", obs - pred)):
        ref, count = loop_median_map(x, y, vals, m.x_edges, m.y_edges)
        np.testing.assert_array_equal(m.count, count)
        got = getattr(m, name)
        np.testing.assert_allclose(got.data[count > 0], ref[count > 0], rtol=0, atol=1e-15)
        assert np.array_equal(got.mask, count < 5)
    # the residual is the median of per-star residuals, not a difference of medians
    assert not np.allclose(m.residual.compressed(), (m.observed - m.predicted).compressed())
    assert m.extent == (m.x_edges[0], m.x_edges[-1], m.y_edges[0], m.y_edges[-1])


def test_residual_map_sign_extent_and_masking():
    rng = np.random.default_rng(6)
    n = 20_000
    x = rng.uniform(-12.0, -6.0, n)
    y = rng.uniform(-3.0, 3.0, n)
    R = np.hypot(x, y)
    pred = 0.45 - 0.07 * R
    # a metal-rich blob near (-8.6, 1.5), a metal-poor one near (-10.5, -1.5)
    bump = 0.15 * np.exp(-((x + 8.6) ** 2 + (y - 1.5) ** 2) / 0.3) - 0.15 * np.exp(
        -((x + 10.5) ** 2 + (y + 1.5) ** 2) / 0.3
    )
    obs = pred + bump + rng.normal(0.0, 0.05, n)
    m = residual_map(x, y, obs, pred, gridsize=24, extent=(-12, -6, -3, 3))
    assert m.observed.shape == (24, 24)
    ix = np.searchsorted(m.x_edges, [-8.6, -10.5]) - 1
    iy = np.searchsorted(m.y_edges, [1.5, -1.5]) - 1
    assert m.residual[iy[0], ix[0]] > 0.1 and m.residual[iy[1], ix[1]] < -0.1
    paper = residual_map(
        x, y, obs, pred, gridsize=24, extent=(-12, -6, -3, 3), sign="model-observed"
    )
    np.testing.assert_allclose(paper.residual, -m.residual, atol=1e-15)
    # min_count masks thin cells
    big = residual_map(x, y, obs, pred, gridsize=24, min_count=10**6)
    assert big.residual.mask.all()
    # stars outside the extent are not binned
    part = residual_map(x, y, obs, pred, gridsize=6, extent=(-9, -6, -3, 3))
    assert part.count.sum() == np.count_nonzero(x >= -9)


def test_residual_map_cell_significance_matches_a_loop():
    """mean_residual is the loop mean per cell; the per-cell p-values are
    those of cell_significance on the map's cells (itself checked against a
    plain loop in test_significance.py); masks follow min_count; the same
    seed gives the same p-values whatever n_threads; no test by default."""
    rng = np.random.default_rng(14)
    n = 6000
    x, y = rng.uniform(-11.0, -6.0, n), rng.uniform(-2.0, 2.0, n)
    obs, pred = rng.normal(0.0, 0.2, n), 0.4 - 0.07 * np.hypot(x, y)
    plain = residual_map(x, y, obs, pred, gridsize=(10, 8), min_count=75)
    assert plain.p_value is None and plain.p_adjusted is None and plain.significance is None
    m = residual_map(
        x, y, obs, pred, gridsize=(10, 8), min_count=75, n_permutations=300, seed=7, n_threads=1
    )
    ref_mean = np.full((8, 10), np.nan)
    ix = np.minimum(np.searchsorted(m.x_edges, x, side="right") - 1, 9)
    iy = np.minimum(np.searchsorted(m.y_edges, y, side="right") - 1, 7)
    for j in range(8):
        for i in range(10):
            sel = (ix == i) & (iy == j)
            if sel.any():
                ref_mean[j, i] = np.mean(obs[sel] - pred[sel])
    np.testing.assert_allclose(m.mean_residual.data, ref_mean, rtol=0, atol=1e-15)
    mask = m.count < 75
    assert mask.any() and not mask.all()
    for arr in (m.mean_residual, m.p_value, m.p_adjusted):
        assert np.array_equal(np.ma.getmaskarray(arr), mask)
    p, p_adj, summary = cell_significance(
        (iy * 10 + ix).ravel(), obs - pred, 80, min_count=75, n_permutations=300, seed=7
    )
    assert np.array_equal(m.p_value.compressed(), p.reshape(8, 10)[~mask])
    assert np.array_equal(m.p_adjusted.compressed(), p_adj.reshape(8, 10)[~mask])
    assert m.significance == summary and summary["n_cells"] == int((~mask).sum())
    again = residual_map(
        x, y, obs, pred, gridsize=(10, 8), min_count=75, n_permutations=300, seed=7, n_threads=2
    )
    assert np.array_equal(again.p_value.filled(-1), m.p_value.filled(-1))
    assert np.array_equal(again.p_adjusted.filled(-1), m.p_adjusted.filled(-1))
    assert again.significance == m.significance


def test_residual_map_significance_noise_uniform_and_blob_found():
    """A map of pure noise: per-cell p-values uniform (KS), no cell
    significant after adjustment; a 0.1 dex blob (the size of a few cells)
    on the same noise: its cells significant, the cells far from it not."""
    rng = np.random.default_rng(31)
    n = 150_000
    x, y = rng.uniform(-12.0, -6.0, n), rng.uniform(-3.0, 3.0, n)
    pred = 0.45 - 0.07 * np.hypot(x, y)
    noise = rng.normal(0.0, 0.15, n)
    m = residual_map(x, y, pred + noise, pred, gridsize=20, n_permutations=999, seed=3)
    p = m.p_value.compressed()
    assert p.size == 400 and stats.kstest(p, "uniform").pvalue > 0.01
    assert m.significance["n_significant"] == 0
    assert abs(m.significance["fraction_p_below_0.05"] - 0.05) < 3 * np.sqrt(0.05 * 0.95 / 400)
    blob = 0.1 * np.exp(-((x + 8.6) ** 2 + (y - 1.5) ** 2) / (2 * 0.3**2))
    m = residual_map(x, y, pred + noise + blob, pred, gridsize=20, n_permutations=999, seed=3)
    xc, yc = np.meshgrid(m.x_centers, m.y_centers)
    r = np.hypot(xc + 8.6, yc - 1.5)
    hit = np.ma.filled(m.p_adjusted <= 0.05, False)
    assert hit[r < 0.3].all() and not hit[r > 1.5].any()
    assert m.significance["p_value_global"] == 1 / 1000


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(sign="predicted-observed"), "sign must be one of"),
        (dict(gridsize=0), "gridsize"),
        (dict(gridsize=(3, 0)), "gridsize"),
        (dict(extent=(0, -1, 0, 1)), "extent"),
        (dict(min_count=0), "min_count"),
    ],
)
def test_residual_map_bad_options(kwargs, match):
    x = np.array([-8.0, -9.0, -10.0])
    with pytest.raises(ValueError, match=match):
        residual_map(x, [0.0, 1.0, 2.0], [0.0, 0.1, 0.2], [0.0, 0.0, 0.0], **kwargs)


def test_residual_map_bad_input():
    with pytest.raises(ValueError, match="observed: 1 row"):
        residual_map([-8.0, -9.0], [0.0, 1.0], [np.nan, 0.1], [0.0, 0.0])
    with pytest.raises(ValueError, match="mismatched lengths"):
        residual_map([-8.0, -9.0], [0.0, 1.0], [0.0, 0.1], [0.0])
    with pytest.raises(ValueError, match="empty selection"):
        residual_map([], [], [], [])


# --------------------------------------------------------------------------
# issue 12: scalar parameters name themselves, counts are ints, bad dtypes
# --------------------------------------------------------------------------
def test_half_width_units_name_the_parameter():
    R, v = [8.0, 8.05, 8.3], [0.1, 0.3, -0.2]
    with pytest.raises(u.UnitConversionError, match="half_width"):
        annulus_mean(R, v, 1 * u.s)
    with pytest.raises(u.UnitConversionError, match="half_width"):
        azimuthal_deviation(R, v, 1 * u.s)
    with pytest.raises(TypeError, match="half_width"):
        annulus_mean(R, v, "0.1")
    # 100 pc is 0.1 kpc: the same means as half_width=0.1
    np.testing.assert_array_equal(annulus_mean(R, v, 100 * u.pc), annulus_mean(R, v, 0.1))
    np.testing.assert_array_equal(
        azimuthal_deviation(R, v, 100 * u.pc), azimuthal_deviation(R, v, 0.1)
    )


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(min_count=10.7), TypeError, "min_count"),
        (dict(min_count=10.0), TypeError, "min_count"),
        (dict(min_count=True), TypeError, "min_count"),
        (dict(bins=10.0), TypeError, "bins"),
        (dict(bins=0), ValueError, "bins"),
        (dict(bins=1 * u.deg), TypeError, "bins"),
    ],
)
def test_profile_counts_are_ints(kwargs, exc, match):
    phi, d = np.linspace(-3, 3, 50), np.zeros(50)
    with pytest.raises(exc, match=match):
        azimuthal_profile(phi, d, **kwargs)
    with pytest.raises(exc, match=match):
        azimuthal_profiles(np.full(50, 8.0), phi, d, **kwargs)


def test_rings_take_lengths_and_name_the_bad_one():
    R = np.array([7.5, 8.5, 9.5, 10.5])
    phi, d = np.zeros(4), np.array([1.0, 2.0, 3.0, 4.0])
    ref = azimuthal_profiles(R, phi, d, rings=[(7, 9), (9, 11)], bins=1, min_count=1)
    q = azimuthal_profiles(
        R, phi, d, rings=[(7000 * u.pc, 9 * u.kpc), (9, 11)], bins=1, min_count=1
    )
    assert list(q) == list(ref) == [(7.0, 9.0), (9.0, 11.0)]
    assert q[(7.0, 9.0)]["mean"][0] == ref[(7.0, 9.0)]["mean"][0] == 1.5
    with pytest.raises(u.UnitConversionError, match=r"rings\[1\]\[0\] \(R_lo\)"):
        azimuthal_profiles(R, phi, d, rings=[(7, 9), (9 * u.s, 11)])
    with pytest.raises(ValueError, match=r"rings\[0\]\[1\]"):
        azimuthal_profiles(R, phi, d, rings=[(7, np.nan)])
    with pytest.raises(ValueError, match=r"rings\[0\]: expected R_lo < R_hi"):
        azimuthal_profiles(R, phi, d, rings=[(9, 7)])


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(gridsize=10.7), TypeError, "gridsize"),
        (dict(gridsize=(10, 8.0)), TypeError, r"gridsize\[1\]"),
        (dict(gridsize=(10, 8, 3)), ValueError, "gridsize"),
        (dict(min_count=2.5), TypeError, "min_count"),
        (dict(extent=(-12 * u.s, -6, -3, 3)), u.UnitConversionError, r"extent\[0\] \(x_min\)"),
        (dict(extent=(-12, -6, -3, np.inf)), ValueError, r"extent\[3\] \(y_max\)"),
        (dict(extent=(-12, -6, -3)), ValueError, "extent"),
    ],
)
def test_residual_map_parameters_name_themselves(kwargs, exc, match):
    x = np.array([-8.0, -9.0, -10.0])
    with pytest.raises(exc, match=match):
        residual_map(x, [0.0, 1.0, 2.0], [0.0, 0.1, 0.2], [0.0, 0.0, 0.0], **kwargs)


def test_residual_map_extent_in_parsecs():
    x = np.array([-8.0, -9.0, -10.0])
    args = (x, [0.0, 1.0, 2.0], [0.0, 0.1, 0.2], [0.0, 0.0, 0.0])
    a = residual_map(*args, gridsize=4, extent=(-12, -6, -3, 3), min_count=1)
    b = residual_map(*args, gridsize=4, extent=[-12000, -6000, -3000, 3000] * u.pc, min_count=1)
    np.testing.assert_array_equal(a.x_edges, b.x_edges)
    np.testing.assert_array_equal(a.count, b.count)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.array([True, False, True]), "booleans"),
        (np.ones(3) * (1 + 1j), "complex"),
        (np.arange(3).astype("datetime64[D]"), "dates"),
    ],
)
def test_bool_complex_dates_are_refused(bad, match):
    good = [8.0, 8.1, 8.2]
    with pytest.raises(TypeError, match=f"R: .*{match}"):
        annulus_mean(bad, good)
    with pytest.raises(TypeError, match=f"values: .*{match}"):
        azimuthal_deviation(good, bad)
    with pytest.raises(TypeError, match=f"weights: .*{match}"):
        annulus_mean(good, good, weights=bad)


def test_masked_values_are_reported_as_masked():
    from astropy.table import MaskedColumn

    R = MaskedColumn([8.0, 8.1, 8.2], mask=[False, True, False])
    with pytest.raises(ValueError, match=r"R: 1 row\(s\) are NaN, infinite or masked \(rows 1\)"):
        annulus_mean(R, [0.1, 0.2, 0.3])
    v = np.ma.masked_array([0.1, -99999.0, 0.3], mask=[False, True, False])
    with pytest.raises(ValueError, match=r"values: 1 row\(s\) are NaN, infinite or masked"):
        azimuthal_deviation([8.0, 8.1, 8.2], v)


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("case", ["finite", "nan", "sparse", "empty"])
def test_grouped_medians_are_np_median_per_group(case, n_threads):
    """hexbins.grouped_medians (a parallel radix sort of the values, then a
    stable sort of the groups) gives the medians of np.lexsort's order (its
    implementation before), each group's np.median for finite values, on any
    thread count: with ties, with NaN values (sorted last, as np.sort does:
    they count as the largest), with sparse labels (np.unique's grouping) and
    with no stars."""
    from fastgrad.hexbins import group_order, grouped_medians

    rng = np.random.default_rng(4)
    index = rng.integers(0, 300, 20_000)
    values = np.round(rng.normal(size=index.size), 1)  # many ties
    if case == "nan":
        values[::997] = np.nan
    if case == "sparse":
        index = index * 10**9  # labels far beyond a grid's
    if case == "empty":
        index, values = index[:0], values[:0]
    groups, counts, med = grouped_medians(index, values, n_threads)
    ref = np.unique(index)
    np.testing.assert_array_equal(groups, ref)
    np.testing.assert_array_equal(counts, [np.sum(index == g) for g in ref])
    order = np.lexsort((values, index))
    start = np.searchsorted(index[order], ref)
    lexsort_med = 0.5 * (
        values[order][start + (counts - 1) // 2] + values[order][start + counts // 2]
    )
    np.testing.assert_array_equal(med, lexsort_med)
    if case != "nan":
        np.testing.assert_array_equal(med, [np.median(values[index == g]) for g in ref])
    if case == "finite":  # the values in lexsort's order, whatever the threads
        order = group_order(index, values, 300, n_threads)
        np.testing.assert_array_equal(values[order], values[np.lexsort((values, index))])
        np.testing.assert_array_equal(index[order], np.sort(index))
    with pytest.raises(ValueError, match="index must be >= 0"):
        grouped_medians(np.array([0, -1]), np.array([1.0, 2.0]))


@pytest.mark.parametrize("n_cells", [7, 2500, 40_000])
def test_binned_median_is_the_lexsort_one(n_cells):
    """hexbins.binned_medians's order (a value sort, then a stable radix sort of the
    cells) gives the medians of np.lexsort((values, cell)), ties and empty
    cells included, for 16-bit cell indices and beyond."""
    from fastgrad.hexbins import binned_medians as _binned_median

    rng = np.random.default_rng(n_cells)
    cell = rng.integers(0, n_cells, 50_000).astype(np.intp)
    values = np.round(rng.normal(size=cell.size), 1)  # many ties
    order = np.lexsort((values, cell))
    v_sorted = values[order]
    count = np.bincount(cell, minlength=n_cells)
    start = np.concatenate(([0], np.cumsum(count)[:-1]))
    full = count > 0
    ref = np.full(n_cells, np.nan)
    ref[full] = 0.5 * (
        v_sorted[start[full] + (count[full] - 1) // 2] + v_sorted[start[full] + count[full] // 2]
    )
    med, got_count = _binned_median(cell, values, n_cells)
    np.testing.assert_array_equal(got_count, count)
    np.testing.assert_array_equal(med, ref)
    for c in np.flatnonzero(full)[:50]:
        assert med[c] == np.median(values[cell == c])
