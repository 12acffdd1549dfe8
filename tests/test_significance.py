"""The permutation test of azimuthal structure (fastgrad.significance), against
a plain numpy permutation loop and against what a test must do on null and
signal data."""

import numpy as np
import pytest
from scipy import stats

from fastgrad import _kernels
from fastgrad._kernels import core
from fastgrad.significance import azimuthal_significance, cell_significance, permutation_test

BASELINE = _kernels.variants()["baseline"]


def _ring_stars(n, seed, amplitude=0.0):
    rng = np.random.default_rng(seed)
    R = rng.uniform(6.5, 9.5, n)
    phi = rng.uniform(-0.4, 0.6, n)
    delta = rng.normal(0, 0.15, n) + amplitude * np.cos(12 * phi)
    return R, phi, delta


def _kernel_permutation(labels, n_bins, seed, k):
    """Permutation k of ``labels`` as the compiled test draws it."""
    out = np.empty(labels.size, dtype=np.uint32)
    core.permutation_labels(labels.astype(np.uint32), n_bins, np.uint64(seed), k, out)
    return out


def _reference(R, phi, delta, ring, edges, min_count, n_perm, seed):
    """The test written out plainly: bin means by a Python loop over bins,
    the statistic as sum n_b (mean_b - mean)^2, over the compiled test's own
    permutations (exposed by ``permutation_labels``)."""
    sel = (R >= ring[0]) & (R < ring[1])
    p, d = phi[sel], delta[sel]
    idx = np.digitize(p, edges) - 1
    idx[p == edges[-1]] = len(edges) - 2
    used = [b for b in range(len(edges) - 1) if np.sum(idx == b) >= min_count]
    rows = np.flatnonzero(np.isin(idx, used))  # the stars in catalogue order
    d = d[rows]
    labels = np.array([used.index(b) for b in idx[rows]])

    def stat(lab):
        mean = d.mean()
        return sum(d[lab == i].size * (d[lab == i].mean() - mean) ** 2 for i in range(len(used)))

    t = stat(labels)
    perms = [stat(_kernel_permutation(labels, len(used), seed, k)) for k in range(n_perm)]
    count = sum(tk >= t * (1 - 1e-12) for tk in perms)
    return t, (1 + count) / (1 + n_perm), np.array(perms)


def test_statistic_and_p_value_equal_a_plain_numpy_loop():
    R, phi, delta = _ring_stars(3000, 1, amplitude=0.01)
    edges = np.linspace(-0.4, 0.6, 21)
    out = azimuthal_significance(
        R, phi, delta, (7, 9), bins=edges, min_count=20, n_permutations=200, seed=5
    )
    t, p, _ = _reference(R, phi, delta, (7, 9), edges, 20, 200, 5)
    assert out["statistic"] == pytest.approx(t, rel=1e-10)
    assert out["p_value"] == p
    assert out["n_bins"] == 20 and out["dof"] == 19


def test_each_compiled_permutation_equals_numpy_on_the_same_permutation():
    """T_k of the kernel = numpy's statistic of permutation k (exposed), and
    the kernel's bin sums are numpy's bincount of the same permutation (summed
    in the kernel's order, i = N-1 ... 0), so the per-bin counts are exact."""
    rng = np.random.default_rng(11)
    n, n_bins, K = 5000, 37, 64
    labels = rng.integers(0, n_bins, n)
    values = rng.standard_t(3, n) * 0.1 + 0.3  # heavy tails, offset mean
    res = permutation_test(
        labels, values, n_bins, n_permutations=K, seed=9, per_bin=True, n_threads=2
    )
    d = values - values.mean()
    counts = np.bincount(labels, minlength=n_bins)
    mu = d.sum() / n
    obs = np.abs(np.bincount(labels, weights=d, minlength=n_bins) / counts - mu)
    exceed = np.zeros(n_bins, dtype=int)
    for k in range(K):
        perm = _kernel_permutation(labels, n_bins, 9, k)
        assert np.array_equal(np.bincount(perm, minlength=n_bins), counts)  # a permutation
        sums = np.bincount(perm[::-1], weights=d[::-1], minlength=n_bins)
        means = sums / counts
        t_k = np.sum(counts * (means - d.mean()) ** 2)
        assert res["permuted"][k] == pytest.approx(t_k, rel=1e-11, abs=1e-14)
        exceed += np.abs(means - mu) >= obs * (1 - 1e-12)
    assert np.array_equal(res["bin_p_value"], (1 + exceed) / (1 + K))


def test_permutations_are_uniform_and_thread_independent():
    """Over many k the 24 orderings of 4 labels come out equally often
    (chi-square), as a correct Fisher-Yates shuffle must; and the statistics
    do not depend on the thread count."""
    labels = np.arange(4)
    seen = {}
    for k in range(12_000):
        key = tuple(_kernel_permutation(labels, 4, 3, k))
        seen[key] = seen.get(key, 0) + 1
    assert len(seen) == 24
    assert stats.chisquare(list(seen.values())).pvalue > 1e-3
    rng = np.random.default_rng(2)
    lab, val = rng.integers(0, 50, 20_000), rng.normal(size=20_000)
    runs = [
        permutation_test(lab, val, 50, n_permutations=300, seed=4, per_bin=True, n_threads=t)
        for t in (1, 2, 3)
    ]
    for r in runs[1:]:
        assert np.array_equal(r["permuted"], runs[0]["permuted"])
        assert np.array_equal(r["bin_p_value"], runs[0]["bin_p_value"])


def test_kernel_builds_agree(kernel_variant):
    """Each build and the baseline, with 2- or 4-byte labels, draw the same
    permutations and give the same statistics (integer shuffles; no a*b + c
    for FMA to contract)."""
    rng = np.random.default_rng(7)
    n, n_bins, K = 30_000, 90, 50
    labels = rng.integers(0, n_bins, n).astype(np.uint32)
    d = rng.normal(0, 0.1, n)
    d -= d.mean()
    counts = np.bincount(labels, minlength=n_bins).astype(float)
    thr = np.full(n_bins, 0.005)
    inv_sd = np.full(n_bins, 3.0)
    out = {}
    # 2-byte and 4-byte labels (fastgrad uses 2 bytes up to 65,536 bins)
    for name, mod, dtype in (
        ("this", kernel_variant, np.uint16),
        ("baseline", BASELINE, np.uint32),
    ):
        lab = labels.astype(dtype)
        stat, exceed, max_z = np.empty(K), np.zeros(n_bins, np.int64), np.empty(K)
        mod.permutation_test(
            lab, d, counts, d.sum(), np.uint64(5), stat, thr, inv_sd, exceed, max_z, 2
        )
        perm = np.empty(n, dtype)
        mod.permutation_labels(lab, n_bins, np.uint64(5), 17, perm)
        out[name] = (stat, exceed, max_z, perm)
    for a, b in zip(out["this"], out["baseline"]):
        assert np.array_equal(a, b)


def test_compiled_null_distribution_matches_numpy_shuffles():
    """The permuted statistics of the kernel and of numpy's own shuffles are
    draws from the same distribution (two-sample KS over 2000 of each)."""
    rng = np.random.default_rng(5)
    n, n_bins, K = 4000, 20, 2000
    labels = rng.integers(0, n_bins, n)
    values = rng.exponential(0.1, n)
    res = permutation_test(labels, values, n_bins, n_permutations=K, seed=1)
    counts = np.bincount(labels, minlength=n_bins)
    d = values - values.mean()
    gen = np.random.default_rng(6)
    ref = np.empty(K)
    for k in range(K):
        s = np.bincount(labels, weights=gen.permutation(d), minlength=n_bins)
        ref[k] = np.sum(s * s / counts)
    assert stats.ks_2samp(res["permuted"], ref).pvalue > 1e-3


def _cell_reference(cell, values, n_cells, min_count, K, seed):
    """Per-cell raw and maxT-adjusted p-values by a plain loop over
    permutations and cells (the kernel's permutations)."""
    counts = np.array([np.sum(cell == c) for c in range(n_cells)])
    used = np.flatnonzero(counts >= min_count)
    keep = np.isin(cell, used)
    lab = np.searchsorted(used, cell[keep])
    v = values[keep] - values[keep].mean()
    N, mu, nb = v.size, v.sum() / v.size, used.size
    s2 = np.mean((v - mu) ** 2)
    sd = [np.sqrt(s2 / np.sum(lab == b) * (N - np.sum(lab == b)) / (N - 1)) for b in range(nb)]
    obs = [abs(v[lab == b].mean() - mu) for b in range(nb)]
    exceed, exceed_max = np.zeros(nb), np.zeros(nb)
    for k in range(K):
        perm = _kernel_permutation(lab, nb, seed, k)
        dev = [abs(v[perm == b].mean() - mu) for b in range(nb)]
        largest = max(dev[b] / sd[b] for b in range(nb))
        for b in range(nb):
            exceed[b] += dev[b] >= obs[b] * (1 - 1e-12)
            exceed_max[b] += largest >= obs[b] / sd[b] * (1 - 1e-12)
    p, p_adj = np.full(n_cells, np.nan), np.full(n_cells, np.nan)
    p[used] = (1 + exceed) / (1 + K)
    p_adj[used] = (1 + exceed_max) / (1 + K)
    return p, p_adj


def test_cell_p_values_equal_a_plain_loop():
    rng = np.random.default_rng(3)
    cell = rng.integers(-1, 30, 3000)  # -1: outside the map
    cell[cell == 7] = 8  # an empty cell
    cell[np.flatnonzero(cell == 9)[3:]] = 10  # a cell below min_count
    values = rng.normal(0, 0.2, 3000)
    values[cell == 4] += 0.15  # one cell off, so some p_adj are small
    p, p_adj, summary = cell_significance(
        cell, values, 30, min_count=5, n_permutations=150, seed=12
    )
    ref, ref_adj = _cell_reference(cell, values, 30, 5, 150, 12)
    assert np.isnan(p[[7, 9]]).all() and np.isnan(p_adj[[7, 9]]).all()
    assert np.array_equal(p, ref, equal_nan=True)
    assert np.array_equal(p_adj, ref_adj, equal_nan=True)
    assert np.nanmin(p_adj) == 1 / 151 and np.all(p_adj[np.isfinite(p)] >= p[np.isfinite(p)])
    assert summary["n_cells"] == 28 and summary["n_permutations"] == 150
    assert summary["n_significant"] == np.sum(p_adj <= 0.05)


def test_cell_p_values_uniform_on_noise_and_a_signal_found():
    """Pure noise: the per-cell p-values are uniform (KS) and no cell is
    significant after the maxT adjustment; an injected 0.1 dex offset in 6
    of 400 cells is found there and nowhere else."""
    rng = np.random.default_rng(21)
    n, n_cells = 200_000, 400
    cell = rng.integers(0, n_cells, n)
    values = rng.normal(0, 0.15, n)
    p, q, s = cell_significance(cell, values, n_cells, n_permutations=999, seed=2)
    assert stats.kstest(p, "uniform").pvalue > 0.01
    assert abs(s["fraction_p_below_0.05"] - 0.05) < 3 * np.sqrt(0.05 * 0.95 / n_cells)
    assert s["n_significant"] == 0 and s["p_value_global"] > 0.01
    hot = np.array([3, 50, 51, 200, 333, 399])
    values = values + 0.1 * np.isin(cell, hot)
    p, q, s = cell_significance(cell, values, n_cells, n_permutations=999, seed=2)
    found = np.flatnonzero(q <= 0.05)
    assert np.array_equal(found, hot), found
    assert s["n_significant"] == 6 and s["p_value_global"] == 1 / 1000


def test_a_signal_is_significant_and_noise_is_not():
    R, phi, delta = _ring_stars(20_000, 2, amplitude=0.03)
    sig = azimuthal_significance(
        R, phi, delta, (7, 9), bins=np.linspace(-0.4, 0.6, 31), n_permutations=300, seed=1
    )
    assert sig["significant"] and sig["p_value"] == 1 / 301 and sig["p_value_chi2"] < 1e-6
    R, phi, delta = _ring_stars(20_000, 3)
    null = azimuthal_significance(
        R, phi, delta, (7, 9), bins=np.linspace(-0.4, 0.6, 31), n_permutations=300, seed=1
    )
    assert not null["significant"]
    # on Gaussian noise the permutation and the chi-square p-values agree
    assert abs(null["p_value"] - null["p_value_chi2"]) < 0.08


def test_null_p_values_are_uniform():
    """20 null rings (other seeds): the p-values look uniform (KS test)."""
    ps = []
    for seed in range(20):
        R, phi, delta = _ring_stars(2000, 100 + seed)
        ps.append(
            azimuthal_significance(
                R,
                phi,
                delta,
                (7, 9),
                bins=np.linspace(-0.4, 0.6, 11),
                n_permutations=199,
                seed=seed,
            )["p_value"]
        )
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


def test_bad_input_named_and_degenerate_maps():
    with pytest.raises(ValueError, match=r"labels: 1 row\(s\) are outside \[0, 3\) \(rows 2\)"):
        permutation_test([0, 1, 5], [1.0, 2.0, 3.0], 3, n_permutations=5)
    with pytest.raises(ValueError, match=r"values: 1 row\(s\) are NaN or infinite \(rows 1\)"):
        permutation_test([0, 1, 1], [1.0, np.nan, 3.0], 2, n_permutations=5)
    with pytest.raises(ValueError, match=r"labels: bins \[1\] hold no star"):
        permutation_test([0, 2, 2], [1.0, 2.0, 3.0], 3, n_permutations=5)
    with pytest.raises(TypeError, match="labels: expected a 1-d array of ints"):
        permutation_test([0.0, 1.0, 1.0], [1.0, 2.0, 3.0], 2)
    with pytest.raises(ValueError, match=r"cell: 1 row\(s\) are outside \[-1, 2\)"):
        cell_significance([0, 1, -2], [1.0, 2.0, 3.0], 2)
    # one testable cell: nothing to compare it with
    p, p_adj, s = cell_significance([0, 0, 0, 1], [1.0, 2.0, 3.0, 4.0], 2, min_count=2)
    assert np.isnan(p).all() and np.isnan(p_adj).all()
    assert s["n_cells"] == 1 and s["n_significant"] == 0 and np.isnan(s["p_value_global"])


def _blocked_permutation(labels, n_bins, seed, k, block, slack=8.0, dtype=np.uint32):
    """Permutation k as the kernel draws it with buckets of ``block`` target
    stars, blocked whatever N (min_blocked = 0)."""
    out = np.empty(labels.size, dtype=dtype)
    core.permutation_labels(labels.astype(dtype), n_bins, np.uint64(seed), k, out, block, 0, slack)
    return out


def test_unblocked_shuffle_is_the_earlier_versions_draw_for_draw():
    """Up to PERMUTATION_MIN_BLOCKED stars the shuffle is one Fisher-Yates
    pass: permutations 0-2 of seed 7 as fastgrad 0.1 (session 6) drew them."""
    labels = (np.arange(12) % 5).astype(np.uint32)
    earlier = [
        [1, 1, 4, 0, 4, 0, 1, 3, 2, 2, 3, 0],
        [0, 3, 2, 2, 1, 0, 1, 3, 4, 4, 1, 0],
        [1, 0, 0, 2, 3, 0, 4, 1, 3, 4, 2, 1],
    ]
    for k, ref in enumerate(earlier):
        assert _kernel_permutation(labels, 5, 7, k).tolist() == ref
    assert core.PERMUTATION_MIN_BLOCKED >= 2**20  # the runs of the paper's scale


def test_blocked_shuffle_is_uniform():
    """The cache-blocked shuffle (stars scattered into 2**b buckets, each
    bucket shuffled) is exactly uniform: the 720 orderings of 6 labels in 8
    buckets, and the 24 of 4 labels in 2, come out equally often."""
    for n, block, draws in ((6, 1, 72_000), (4, 2, 12_000)):
        labels = np.arange(n)
        seen = {}
        for k in range(draws):
            key = tuple(_blocked_permutation(labels, n, 11, k, block))
            seen[key] = seen.get(key, 0) + 1
        assert len(seen) == np.prod(np.arange(1, n + 1))
        assert stats.chisquare(list(seen.values())).pvalue > 1e-3, (n, block)


def test_blocked_shuffle_sums_layouts_widths_and_threads_agree():
    """Blocked (200,000 stars in buckets of ~3,000): each permutation is a
    permutation of the labels; the statistics equal numpy's on the exposed
    permutation; a bucket outgrowing its region (slack 0 forces it) takes the
    exact layout and draws the same permutation; 2- and 4-byte labels and
    1-3 threads give the same numbers; the null distribution matches numpy's
    own shuffles."""
    rng = np.random.default_rng(8)
    n, n_bins, K, block = 200_000, 40, 24, 3000
    labels = rng.integers(0, n_bins, n)
    d = rng.exponential(0.1, n)
    d -= d.mean()
    counts = np.bincount(labels, minlength=n_bins).astype(float)
    for k in range(3):
        perm = _blocked_permutation(labels, n_bins, 9, k, block)
        assert np.array_equal(np.bincount(perm, minlength=n_bins), counts)
        assert not np.array_equal(perm, labels)
        assert np.array_equal(_blocked_permutation(labels, n_bins, 9, k, block, slack=0.0), perm)
        assert np.array_equal(
            _blocked_permutation(labels, n_bins, 9, k, block, dtype=np.uint16), perm
        )
    runs = {}
    for dtype, threads, slack in (
        (np.uint16, 1, 8.0),
        (np.uint16, 2, 8.0),
        (np.uint32, 3, 8.0),
        (np.uint16, 2, 0.0),
    ):
        stat = np.empty(K)
        core.permutation_test(
            labels.astype(dtype),
            d,
            counts,
            d.sum(),
            np.uint64(9),
            stat,
            np.empty(0),
            np.empty(0),
            np.zeros(0, np.int64),
            np.empty(0),
            threads,
            block,
            0,
            slack,
        )
        runs[(dtype, threads, slack)] = stat
    first = runs[(np.uint16, 1, 8.0)]
    for stat in runs.values():
        assert np.array_equal(stat, first)
    for k in range(3):
        perm = _blocked_permutation(labels, n_bins, 9, k, block)
        sums = np.bincount(perm, weights=d, minlength=n_bins)
        assert first[k] == pytest.approx(np.sum(sums**2 / counts), rel=1e-10)
    # 400 blocked permutations against 400 of numpy's (two-sample KS)
    K = 400
    stat = np.empty(K)
    args = (np.empty(0), np.empty(0), np.zeros(0, np.int64), np.empty(0), 2, block, 0)
    core.permutation_test(labels.astype(np.uint16), d, counts, d.sum(), np.uint64(3), stat, *args)
    gen = np.random.default_rng(4)
    ref = [np.sum(np.bincount(labels, gen.permutation(d), n_bins) ** 2 / counts) for _ in range(K)]
    assert stats.ks_2samp(stat, ref).pvalue > 1e-3


@pytest.mark.parametrize("dtype", [np.uint16, np.uint32])
def test_blocked_shuffle_when_the_last_stars_fill_a_line(dtype):
    """N not a multiple of 4: the last N % 4 stars draw their buckets one by
    one, and one of them can complete a bucket's 64-byte line (32 or 16
    labels), which must be written out like any other.  Two buckets of
    ~N/2 stars (block = N), many permutations: each is a permutation of the
    distinct labels, and the same when the buckets' room is tight (slack 0)."""
    for n in (67, 131, 1027):
        labels = np.arange(n).astype(dtype)
        for k in range(300):
            perm = _blocked_permutation(labels, n, 1, k, n, dtype=dtype)
            assert np.array_equal(np.sort(perm), labels), (n, k)
            tight = _blocked_permutation(labels, n, 1, k, n, slack=0.0, dtype=dtype)
            assert np.array_equal(perm, tight), (n, k)
