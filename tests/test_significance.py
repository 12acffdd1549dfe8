"""The permutation test of azimuthal structure (fastgrad.significance), against
a plain numpy permutation loop and against what a test must do on null and
signal data."""
import numpy as np
import pytest
from scipy import stats

from fastgrad.significance import azimuthal_significance


def _ring_stars(n, seed, amplitude=0.0):
    rng = np.random.default_rng(seed)
    R = rng.uniform(6.5, 9.5, n)
    phi = rng.uniform(-0.4, 0.6, n)
    delta = rng.normal(0, 0.15, n) + amplitude * np.cos(12 * phi)
    return R, phi, delta


def _reference(R, phi, delta, ring, edges, min_count, n_perm, seed):
    """The test written out plainly: bin means by a Python loop over bins,
    the statistic as sum n_b (mean_b - mean)^2, permutations of delta."""
    sel = (R >= ring[0]) & (R < ring[1])
    p, d = phi[sel], delta[sel]
    idx = np.digitize(p, edges) - 1
    idx[p == edges[-1]] = len(edges) - 2
    used = [b for b in range(len(edges) - 1) if np.sum(idx == b) >= min_count]
    rows = np.flatnonzero(np.isin(idx, used))   # the stars in catalogue order
    d = d[rows]
    labels = np.array([used.index(b) for b in idx[rows]])
    groups = used

    def stat(values):
        mean = values.mean()
        return sum(values[labels == i].size * (values[labels == i].mean() - mean) ** 2
                   for i in range(len(groups)))

    t = stat(d)
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    scratch = d.copy()
    count = 0
    for _ in range(n_perm):
        rng.shuffle(scratch)
        count += stat(scratch) >= t * (1 - 1e-12)
    return t, (1 + count) / (1 + n_perm)


def test_statistic_and_p_value_equal_a_plain_numpy_loop():
    R, phi, delta = _ring_stars(3000, 1, amplitude=0.01)
    edges = np.linspace(-0.4, 0.6, 21)
    out = azimuthal_significance(R, phi, delta, (7, 9), bins=edges, min_count=20,
                                 n_permutations=200, seed=5)
    t, p = _reference(R, phi, delta, (7, 9), edges, 20, 200, 5)
    assert out["statistic"] == pytest.approx(t, rel=1e-10)
    assert out["p_value"] == p
    assert out["n_bins"] == 20 and out["dof"] == 19


def test_a_signal_is_significant_and_noise_is_not():
    R, phi, delta = _ring_stars(20_000, 2, amplitude=0.03)
    sig = azimuthal_significance(R, phi, delta, (7, 9), bins=np.linspace(-0.4, 0.6, 31),
                                 n_permutations=300, seed=1)
    assert sig["significant"] and sig["p_value"] == 1 / 301 and sig["p_value_chi2"] < 1e-6
    R, phi, delta = _ring_stars(20_000, 3)
    null = azimuthal_significance(R, phi, delta, (7, 9), bins=np.linspace(-0.4, 0.6, 31),
                                  n_permutations=300, seed=1)
    assert not null["significant"]
    # on Gaussian noise the permutation and the chi-square p-values agree
    assert abs(null["p_value"] - null["p_value_chi2"]) < 0.08


def test_null_p_values_are_uniform():
    """20 null rings (other seeds): the p-values look uniform (KS test)."""
    ps = []
    for seed in range(20):
        R, phi, delta = _ring_stars(2000, 100 + seed)
        ps.append(azimuthal_significance(R, phi, delta, (7, 9), bins=np.linspace(-0.4, 0.6, 11),
                                         n_permutations=199, seed=seed)["p_value"])
    assert stats.kstest(ps, "uniform").pvalue > 0.01, ps


def test_same_seed_same_p_value_and_bad_input_named():
    R, phi, delta = _ring_stars(2000, 4)
    a = azimuthal_significance(R, phi, delta, n_permutations=50, seed=3)
    b = azimuthal_significance(R, phi, delta, n_permutations=50, seed=3)
    assert a == b
    delta[5] = np.nan
    with pytest.raises(ValueError, match=r"delta: 1 row\(s\) are NaN or infinite \(rows 5\)"):
        azimuthal_significance(R, phi, delta)
    with pytest.raises(TypeError, match="n_permutations"):
        azimuthal_significance(R, phi, np.zeros_like(R), n_permutations=10.5)
    empty = azimuthal_significance(R, phi, np.zeros_like(R), ring=(20, 21))
    assert empty["n_stars"] == 0 and np.isnan(empty["p_value"]) and not empty["significant"]
