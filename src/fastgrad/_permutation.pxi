# ==========================================================================
# Permutation tests of binned means (docs/method.md section 6)
# --------------------------------------------------------------------------
# N stars carry a bin label (an azimuth bin of a ring, a cell of an X-Y map)
# and a value (a deviation, a residual).  Under the null hypothesis the values
# are exchangeable among the stars, so the null distribution of any statistic
# of the bin sums comes from permuting the values among fixed labels, i.e.
# from permuting the labels among fixed values.  The kernel shuffles the
# labels (4 bytes a star, in cache, where the values are 8) and needs only the
# bin sums of each permutation:
#   T_k       = sum_b S_b^2 / n_b - S^2 / N    (between-bin sum of squares)
#   exceed_b += |S_b / n_b - mu| >= thr_b      (per-bin two-sided mean test)
#   M_k       = max_b |S_b / n_b - mu| / sd_b  (Westfall-Young maxT over bins)
#
# Randomness.  Permutation k is a Fisher-Yates shuffle (Durstenfeld's, from
# the last position down) of the original labels, driven by its own
# counter-based stream: 32-bit halves of SplitMix64 outputs keyed by
# fg_stream_key(seed, k) (fg_rng.h), bounded by Lemire's multiply-shift with
# rejection (exactly uniform).  Permutation k is thus a pure function of
# (seed, k, labels): any thread may compute it, and the statistics are
# bit-identical for any thread count; the per-bin counts are integers summed
# over threads.  The Fisher-Yates position i is final once it is swapped, so
# the bin sums are accumulated in the same pass, over i = N-1 ... 0.
# ==========================================================================
# Included by _core.pyx; the Python wrappers are in significance.py.
from cython.parallel cimport threadid

cdef extern from "fg_rng.h" nogil:
    uint64_t fg_mix64(uint64_t z)
    uint64_t fg_stream_key(uint64_t seed, uint64_t star_id)

from libc.stdint cimport int64_t, uint16_t
from libc.stdlib cimport calloc

cdef uint64_t PERM_GAMMA = 0x9E3779B97F4A7C15ULL   # SplitMix64's increment

# Labels of 2 bytes when the bins allow (up to 65,536: every ring, every map
# of a sane grid), else 4: the shuffle's random accesses stay in L2 for 1e6
# stars (2 MB), which halves its cost against 4-byte labels.
ctypedef fused perm_label_t:
    uint16_t
    uint32_t


cdef struct PermStream:
    uint64_t key
    uint64_t counter
    uint64_t buf          # the 64-bit output whose high half is still unused
    int have              # 1 when buf's high half is unused


cdef inline void _perm_stream_init(PermStream *s, uint64_t seed, uint64_t k) noexcept nogil:
    s.key = fg_stream_key(seed, k)
    s.counter = 0
    s.buf = 0
    s.have = 0


cdef inline uint32_t _perm_next32(PermStream *s) noexcept nogil:
    """The next 32 random bits: low half of a fresh output, then its high half."""
    if s.have:
        s.have = 0
        return <uint32_t>(s.buf >> 32)
    s.counter = s.counter + 1
    s.buf = fg_mix64(s.key + s.counter * PERM_GAMMA)
    s.have = 1
    return <uint32_t>s.buf


cdef inline uint32_t _perm_below(PermStream *s, uint32_t bound) noexcept nogil:
    """Uniform integer in [0, bound), bound >= 1 (Lemire 2019, with rejection)."""
    cdef uint64_t m = <uint64_t>_perm_next32(s) * bound
    cdef uint32_t low = <uint32_t>m
    cdef uint32_t threshold
    if low < bound:
        threshold = (<uint32_t>0 - bound) % bound    # 2**32 mod bound
        while low < threshold:
            m = <uint64_t>_perm_next32(s) * bound
            low = <uint32_t>m
    return <uint32_t>(m >> 32)


cdef inline void _perm_shuffle_sums(const perm_label_t *labels, const double *values,
                                    Py_ssize_t n, uint64_t seed, uint64_t k,
                                    perm_label_t *scratch, double *sums,
                                    Py_ssize_t n_bins) noexcept nogil:
    """Permutation k of ``labels`` into ``scratch``, and the bin sums of
    ``values`` under it (accumulated over i = n-1 ... 0) into ``sums``."""
    cdef PermStream st
    cdef Py_ssize_t i
    cdef uint32_t j
    cdef perm_label_t t
    _perm_stream_init(&st, seed, k)
    memcpy(scratch, labels, n * sizeof(perm_label_t))
    memset(sums, 0, n_bins * sizeof(double))
    i = n - 1
    while i > 0:
        j = _perm_below(&st, <uint32_t>(i + 1))
        t = scratch[j]
        scratch[j] = scratch[i]
        scratch[i] = t
        sums[t] += values[i]
        i = i - 1
    if n > 0:
        sums[scratch[0]] += values[0]


cdef inline double _perm_between_ss(const double *sums, const double *counts,
                                    Py_ssize_t n_bins, double total, double n) noexcept nogil:
    """sum_b S_b^2 / n_b - S^2 / N, summed over b in order."""
    cdef Py_ssize_t b
    cdef double acc = 0.0
    for b in range(n_bins):
        acc = acc + sums[b] * sums[b] / counts[b]
    return acc - total * total / n


def permutation_test(const perm_label_t[::1] labels, const double[::1] values,
                     const double[::1] counts, double total, uint64_t seed, double[::1] statistic,
                     const double[::1] thresholds, const double[::1] inv_sd,
                     int64_t[::1] exceed, double[::1] max_z, int n_threads):
    """Permutations k = 0 .. K-1 (K = len(statistic)) of ``labels`` (uint16
    or uint32) among the stars; for each, ``statistic[k]`` = the between-bin
    sum of squares of ``values`` and, when ``thresholds`` is not empty,
    ``exceed[b]`` counts the permutations with
    |S_b / n_b - mu| >= thresholds[b], mu = total / N
    (``total``, the sum of the values, comes from the caller, so that the
    observed statistics and these share it), and ``max_z[k]`` is the largest
    |S_b / n_b - mu| * inv_sd[b] over the bins.

    ``labels`` in [0, n_bins) with n_bins = len(counts); ``counts[b]`` the
    stars of bin b (all >= 1); values finite; the caller
    (fastgrad.significance) checks.  Statistics are bit-identical for any
    ``n_threads``."""
    cdef Py_ssize_t n = labels.shape[0], n_bins = counts.shape[0]
    cdef Py_ssize_t K = statistic.shape[0], k, b, tid
    cdef bint per_bin = thresholds.shape[0] > 0
    cdef int T = n_threads if n_threads > 0 else 1
    cdef double mu, dn = <double>n, dev, mz
    cdef perm_label_t *scratch
    cdef double *sums
    cdef int64_t *cnt
    cdef Interrupt it
    if K == 0 or n == 0:
        return
    if n >= <Py_ssize_t>4294967295:
        raise ValueError("permutation_test: at most 2**32 - 1 stars per call")
    if T > K:
        T = <int>K
    mu = total / dn
    scratch = <perm_label_t *>fg_big_alloc(T * n * sizeof(perm_label_t))
    sums = <double *>malloc(T * n_bins * sizeof(double))
    cnt = <int64_t *>calloc(T * n_bins, sizeof(int64_t))
    if scratch == NULL or sums == NULL or cnt == NULL:
        fg_big_free(scratch)
        free(sums)
        free(cnt)
        raise MemoryError("permutation_test: out of memory")
    _interrupt_init(&it, POLL_STARS)
    with nogil:
        # dynamic: on a shared machine a delayed thread's permutations go to
        # the others (each permutation's numbers do not depend on who runs it)
        for k in prange(K, num_threads=T, schedule='dynamic', chunksize=1):
            tid = threadid()
            if not _interrupted(&it, n):
                _perm_shuffle_sums(&labels[0], &values[0], n, seed, <uint64_t>k,
                                   scratch + tid * n, sums + tid * n_bins, n_bins)
                statistic[k] = _perm_between_ss(sums + tid * n_bins, &counts[0], n_bins,
                                                total, dn)
                if per_bin:
                    mz = 0.0
                    for b in range(n_bins):
                        dev = fabs(sums[tid * n_bins + b] / counts[b] - mu)
                        cnt[tid * n_bins + b] += dev >= thresholds[b]
                        if dev * inv_sd[b] > mz:
                            mz = dev * inv_sd[b]
                    max_z[k] = mz
        # integer counts: the sum over threads is exact in any order
        if per_bin:
            for b in range(n_bins):
                exceed[b] = 0
                for tid in range(T):
                    exceed[b] += cnt[tid * n_bins + b]
    fg_big_free(scratch)
    free(sums)
    free(cnt)
    _raise_if_interrupted(&it)


def permutation_labels(const perm_label_t[::1] labels, Py_ssize_t n_bins, uint64_t seed,
                       uint64_t k, perm_label_t[::1] out):
    """Permutation k of ``labels`` (in [0, n_bins)) exactly as
    :func:`permutation_test` draws it, into ``out``: for the tests, which
    recompute its statistics in numpy."""
    cdef Py_ssize_t n = labels.shape[0]
    if n == 0:
        return
    cdef double *zeros = <double *>calloc(n, sizeof(double))
    cdef double *sums = <double *>malloc(n_bins * sizeof(double))
    if zeros == NULL or sums == NULL:
        free(zeros)
        free(sums)
        raise MemoryError("permutation_labels: out of memory")
    with nogil:
        _perm_shuffle_sums(&labels[0], zeros, n, seed, k, &out[0], sums, n_bins)
    free(zeros)
    free(sums)
