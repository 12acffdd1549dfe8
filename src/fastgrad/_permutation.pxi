# ==========================================================================
# Permutation tests of binned means (docs/method.md section 6)
# --------------------------------------------------------------------------
# N stars carry a bin label (an azimuth bin of a ring, a cell of an X-Y map)
# and a value (a deviation, a residual).  Under the null hypothesis the values
# are exchangeable among the stars, so the null distribution of any statistic
# of the bin sums comes from permuting the values among fixed labels, i.e.
# from permuting the labels among fixed values.  The kernel shuffles the
# labels (2 or 4 bytes a star, where the values are 8) and needs only the
# bin sums of each permutation:
#   T_k       = sum_b S_b^2 / n_b - S^2 / N    (between-bin sum of squares)
#   exceed_b += |S_b / n_b - mu| >= thr_b      (per-bin two-sided mean test)
#   M_k       = max_b |S_b / n_b - mu| / sd_b  (Westfall-Young maxT over bins)
#
# The shuffle.  Up to PERM_MIN_BLOCKED stars, a Fisher-Yates shuffle
# (Durstenfeld's, from the last position down) of the labels.  Above, a
# Fisher-Yates pass over millions of labels misses the cache at every step
# (16-25 ns a step at 9.3e6 stars), so the shuffle is cache-blocked (Rao 1961;
# Sandelius 1962): each star draws one of B = 2**b buckets (B >= 2 the
# smallest power of two with N / B <= PERM_BLOCK, at most
# 2**PERM_MAX_BUCKET_BITS), the labels are scattered into the buckets in star
# order (through line buffers, _perm_scatter), and each bucket, in bucket
# order, is Fisher-Yates shuffled in cache.  Given the bucket sizes, which
# stars share a bucket is uniform, and so is the order within each: the
# concatenation is an exactly uniform permutation.
#
# Randomness.  Permutation k is driven by its own counter-based streams keyed
# by fg_stream_key(seed, k) (fg_rng.h): the Fisher-Yates draws are 32-bit
# halves of SplitMix64 outputs of that key, bounded by Lemire's multiply-shift
# with rejection (exactly uniform), one stream through the buckets in order;
# the bucket numbers are the top b bits of 16-bit quarters of the outputs of
# a second key derived from it (star i: output i / 4, quarter i mod 4).
# Permutation k is thus a pure function of (seed, k, labels): any thread may
# compute it, and the statistics are bit-identical for any thread count; the
# per-bin counts are integers summed over threads.  (Unblocked, N <=
# PERM_MIN_BLOCKED, it is the shuffle of earlier fastgrad versions, draw for
# draw.)  A Fisher-Yates position is final once it is swapped, so the bin
# sums are accumulated in the same pass: bucket by bucket, in each from its
# last position down.
# ==========================================================================
# Included by _core.pyx; the Python wrappers are in significance.py.
from cython.parallel cimport threadid

cdef extern from "fg_rng.h" nogil:
    uint64_t fg_mix64(uint64_t z)
    uint64_t fg_stream_key(uint64_t seed, uint64_t star_id)

from libc.math cimport ceil
from libc.stdint cimport int64_t, uint16_t, uintptr_t
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


cdef extern from "fg_shuffle.h" nogil:
    void fg_line_copy(void *dst, const void *src)
    void fg_store_fence()

cdef enum:
    # target stars per bucket: 128 KiB of 2-byte labels, shuffled in L2
    PERM_BLOCK = 65536
    # blocked only above this many stars: below, the labels (4 MiB of 2
    # bytes) mostly stay in L2/L3 and one Fisher-Yates pass is faster (one
    # thread: 300,000 stars 3.5 ns a step against 7.2 blocked, 3e6 8.8
    # against 7.5, 9.3e6 21.3 against 7.5; bench/README.md)
    PERM_MIN_BLOCKED = 2097152
    # at most 2048 buckets (write streams of the scatter pass)
    PERM_MAX_BUCKET_BITS = 11
    # entries of a shuffle's cursor array: B sizes, B + 1 starts
    PERM_CURSOR = 2 * (1 << PERM_MAX_BUCKET_BITS) + 1

# exported for the tests, which shuffle tiny arrays in blocks
PERMUTATION_BLOCK = PERM_BLOCK
PERMUTATION_MIN_BLOCKED = PERM_MIN_BLOCKED
# a bucket's region holds its expected size plus this many standard
# deviations (rounded up to whole lines); a fuller bucket (never seen:
# p ~ 1e-15 a bucket) sends the permutation to the exact layout
PERMUTATION_SLACK = 8.0
# the bucket stream's key is fg_mix64(Fisher-Yates key ^ this)
cdef uint64_t PERM_BUCKET_SALT = 0xD1B54A32D192ED03ULL


cdef struct PermLayout:
    int bits              # B = 2**bits buckets; 0: one Fisher-Yates pass
    Py_ssize_t cap        # labels a bucket's region holds (whole lines)
    Py_ssize_t line       # labels a 64-byte line holds
    Py_ssize_t size       # labels of a thread's scratch (regions, then line buffers)


cdef inline PermLayout _perm_layout(Py_ssize_t n, Py_ssize_t block, Py_ssize_t min_blocked,
                                    double slack, Py_ssize_t label_bytes) noexcept nogil:
    """Buckets: none up to ``min_blocked`` stars, else the fewest B = 2**b
    with n <= B * block (b <= 11); each bucket's region: its mean size n / B
    plus ``slack`` standard deviations."""
    cdef PermLayout lay
    cdef double mean
    lay.bits = 0
    if n > min_blocked:
        lay.bits = 1
        while lay.bits < PERM_MAX_BUCKET_BITS and ((<Py_ssize_t>1) << lay.bits) * block < n:
            lay.bits = lay.bits + 1
    lay.line = 64 // label_bytes
    if lay.bits == 0:
        lay.cap = n
        lay.size = n
        return lay
    mean = <double>n / <double>(1 << lay.bits)
    lay.cap = <Py_ssize_t>ceil(mean + slack * sqrt(mean))
    lay.cap = (lay.cap + lay.line - 1) // lay.line * lay.line
    lay.size = (lay.cap + lay.line) << lay.bits
    return lay


cdef inline void _perm_fisher_yates_sums(perm_label_t *lab, const double *values,
                                         Py_ssize_t n, PermStream *st,
                                         double *sums) noexcept nogil:
    """Shuffle ``lab[0:n]`` in place (from the last position down) and add
    ``values[i]`` to the sum of the label that lands at i."""
    cdef Py_ssize_t i = n - 1
    cdef uint32_t j
    cdef perm_label_t t
    while i > 0:
        j = _perm_below(st, <uint32_t>(i + 1))
        t = lab[j]
        lab[j] = lab[i]
        lab[i] = t
        sums[t] += values[i]
        i = i - 1
    if n > 0:
        sums[lab[0]] += values[0]


cdef inline uint32_t _perm_quarter(uint64_t r, int q, int shift) noexcept nogil:
    """The bucket drawn by quarter q of the output r: its top 16 - shift bits."""
    return <uint32_t>(((r >> (16 * q)) & 0xFFFF) >> shift)


cdef inline uint32_t _perm_bucket(uint64_t bkey, Py_ssize_t i, int shift) noexcept nogil:
    """The bucket of star i: quarter i % 4 of the bucket stream's output i / 4."""
    return _perm_quarter(fg_mix64(bkey + <uint64_t>((i >> 2) + 1) * PERM_GAMMA), <int>(i & 3),
                         shift)


cdef inline bint _perm_put(perm_label_t label, Py_ssize_t c, Py_ssize_t le, Py_ssize_t cap,
                           perm_label_t *region, perm_label_t *buf,
                           Py_ssize_t *size) noexcept nogil:
    """Append ``label`` to bucket c: into its line buffer (``le`` labels a
    line), the line written out to the bucket's region (``cap`` labels) when
    it is full.  False when the bucket outgrows its region.  (The sizes come
    as values: read through a pointer they would be reloaded after every
    store.)"""
    cdef Py_ssize_t f = size[c]
    buf[c * le + (f & (le - 1))] = label
    f = f + 1
    size[c] = f
    if (f & (le - 1)) == 0:
        if f > cap:
            return False
        fg_line_copy(region + c * cap + f - le, buf + c * le)
    return True


cdef inline bint _perm_scatter(const perm_label_t *labels, Py_ssize_t n, uint64_t bkey,
                               const PermLayout *lay, perm_label_t *region,
                               Py_ssize_t *size) noexcept nogil:
    """Labels into bucket c's region (region + c * cap), in star order,
    through line buffers (after the regions); size[c] its labels.  False
    when a bucket outgrows its region."""
    cdef Py_ssize_t le = lay.line, cap = lay.cap, g, c, f, i, rem
    cdef Py_ssize_t n_buckets = (<Py_ssize_t>1) << lay.bits
    cdef perm_label_t *buf = region + (cap << lay.bits)
    cdef int shift = 16 - lay.bits, q
    cdef uint64_t r
    memset(size, 0, n_buckets * sizeof(Py_ssize_t))
    # whole groups of 4 stars: one output of the bucket stream each
    for g in range(n >> 2):
        r = fg_mix64(bkey + <uint64_t>(g + 1) * PERM_GAMMA)
        for q in range(4):
            if not _perm_put(labels[4 * g + q], _perm_quarter(r, q, shift), le, cap, region,
                             buf, size):
                return False
    # the last n % 4 stars (a line may fill here too)
    for i in range(n & ~(<Py_ssize_t>3), n):
        if not _perm_put(labels[i], _perm_bucket(bkey, i, shift), le, cap, region, buf, size):
            return False
    for c in range(n_buckets):
        f = size[c]
        if f > cap:
            return False
        rem = f & (le - 1)
        memcpy(region + c * cap + f - rem, buf + c * le, rem * sizeof(perm_label_t))
    fg_store_fence()
    return True


cdef inline void _perm_shuffle_sums(const perm_label_t *labels, const double *values,
                                    Py_ssize_t n, uint64_t seed, uint64_t k,
                                    const PermLayout *lay, perm_label_t *scratch,
                                    Py_ssize_t *cursor, double *sums, Py_ssize_t n_bins,
                                    perm_label_t *out) noexcept nogil:
    """Permutation k of ``labels`` and the bin sums of ``values`` under it
    (into ``sums``); the permuted labels into ``out`` unless NULL.
    ``scratch``: lay.size labels, 64-byte aligned; ``cursor``: PERM_CURSOR."""
    cdef PermStream st
    cdef Py_ssize_t c, i, n_buckets, at
    cdef Py_ssize_t *size = cursor
    cdef Py_ssize_t *start = cursor + (1 << PERM_MAX_BUCKET_BITS)
    cdef perm_label_t *lab
    cdef uint64_t bkey
    cdef int shift
    cdef bint regions
    _perm_stream_init(&st, seed, k)
    memset(sums, 0, n_bins * sizeof(double))
    if lay.bits == 0:
        lab = out if out != NULL else scratch
        memcpy(lab, labels, n * sizeof(perm_label_t))
        _perm_fisher_yates_sums(lab, values, n, &st, sums)
        return
    n_buckets = (<Py_ssize_t>1) << lay.bits
    bkey = fg_mix64(st.key ^ PERM_BUCKET_SALT)
    shift = 16 - lay.bits
    regions = _perm_scatter(labels, n, bkey, lay, scratch, size)
    if not regions:
        # the exact layout: the buckets' sizes first, then each bucket at
        # its place in the concatenation (the same buckets, the same order)
        memset(size, 0, n_buckets * sizeof(Py_ssize_t))
        for i in range(n):
            size[_perm_bucket(bkey, i, shift)] += 1
        start[0] = 0
        for c in range(n_buckets):
            start[c + 1] = start[c] + size[c]
            size[c] = start[c]
        for i in range(n):
            c = _perm_bucket(bkey, i, shift)
            scratch[size[c]] = labels[i]
            size[c] += 1
        for c in range(n_buckets):
            size[c] = start[c + 1] - start[c]
    # each bucket shuffled in cache, in bucket order, by one stream; its
    # positions in the concatenation start where the previous bucket's end
    at = 0
    for c in range(n_buckets):
        lab = scratch + (c * lay.cap if regions else at)
        _perm_fisher_yates_sums(lab, values + at, size[c], &st, sums)
        if out != NULL:
            memcpy(out + at, lab, size[c] * sizeof(perm_label_t))
        at = at + size[c]


cdef inline void *_perm_aligned(void *p) noexcept nogil:
    """``p`` rounded up to a 64-byte boundary (the allocations carry 64
    spare bytes)."""
    return <void *>((<uintptr_t>p + 63) & ~(<uintptr_t>63))


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
                     int64_t[::1] exceed, double[::1] max_z, int n_threads,
                     Py_ssize_t block=PERM_BLOCK, Py_ssize_t min_blocked=PERM_MIN_BLOCKED,
                     double slack=PERMUTATION_SLACK):
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
    ``n_threads``.  ``block``, ``min_blocked``: the shuffle's target stars
    per bucket and the stars above which it is blocked (the permutations
    depend on them; the tests set them small); ``slack``: the
    buckets' room (not the numbers: a small one only sends permutations to
    the exact layout, which the tests check)."""
    cdef Py_ssize_t n = labels.shape[0], n_bins = counts.shape[0]
    cdef Py_ssize_t K = statistic.shape[0], k, b, tid
    cdef bint per_bin = thresholds.shape[0] > 0
    cdef int T = n_threads if n_threads > 0 else 1
    cdef double mu, dn = <double>n, dev, mz
    cdef PermLayout lay
    cdef void *block_mem
    cdef perm_label_t *scratch
    cdef double *sums
    cdef int64_t *cnt
    cdef Py_ssize_t *cursor
    cdef Interrupt it
    if block < 1 or not slack >= 0.0:
        raise ValueError("permutation_test: block must be >= 1 and slack >= 0")
    if K == 0 or n == 0:
        return
    if n >= <Py_ssize_t>4294967295:
        raise ValueError("permutation_test: at most 2**32 - 1 stars per call")
    if T > K:
        T = <int>K
    mu = total / dn
    lay = _perm_layout(n, block, min_blocked, slack, sizeof(perm_label_t))
    # each thread's scratch starts on a 64-byte boundary (lay.size is whole
    # lines when blocked; else rounded up here)
    lay.size = (lay.size + lay.line - 1) // lay.line * lay.line
    block_mem = fg_big_alloc(T * lay.size * sizeof(perm_label_t) + 64)
    scratch = <perm_label_t *>_perm_aligned(block_mem)
    sums = <double *>malloc(T * n_bins * sizeof(double))
    cnt = <int64_t *>calloc(T * n_bins, sizeof(int64_t))
    cursor = <Py_ssize_t *>malloc(T * PERM_CURSOR * sizeof(Py_ssize_t))
    if block_mem == NULL or sums == NULL or cnt == NULL or cursor == NULL:
        fg_big_free(block_mem)
        free(sums)
        free(cnt)
        free(cursor)
        raise MemoryError("permutation_test: out of memory")
    _interrupt_init(&it, POLL_STARS)
    with nogil:
        # dynamic: on a shared machine a delayed thread's permutations go to
        # the others (each permutation's numbers do not depend on who runs it)
        for k in prange(K, num_threads=T, schedule='dynamic', chunksize=1):
            tid = threadid()
            if not _interrupted(&it, n):
                _perm_shuffle_sums(&labels[0], &values[0], n, seed, <uint64_t>k, &lay,
                                   scratch + tid * lay.size, cursor + tid * PERM_CURSOR,
                                   sums + tid * n_bins, n_bins, NULL)
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
    fg_big_free(block_mem)
    free(sums)
    free(cnt)
    free(cursor)
    _raise_if_interrupted(&it)


def permutation_labels(const perm_label_t[::1] labels, Py_ssize_t n_bins, uint64_t seed,
                       uint64_t k, perm_label_t[::1] out, Py_ssize_t block=PERM_BLOCK,
                       Py_ssize_t min_blocked=PERM_MIN_BLOCKED,
                       double slack=PERMUTATION_SLACK):
    """Permutation k of ``labels`` (in [0, n_bins)) exactly as
    :func:`permutation_test` draws it with the same ``block`` and
    ``min_blocked``, into ``out``:
    for the tests, which recompute its statistics in numpy."""
    cdef Py_ssize_t n = labels.shape[0]
    cdef PermLayout lay
    if block < 1 or not slack >= 0.0:
        raise ValueError("permutation_labels: block must be >= 1 and slack >= 0")
    if n == 0:
        return
    lay = _perm_layout(n, block, min_blocked, slack, sizeof(perm_label_t))
    cdef double *zeros = <double *>calloc(n, sizeof(double))
    cdef double *sums = <double *>malloc(n_bins * sizeof(double))
    cdef Py_ssize_t *cursor = <Py_ssize_t *>malloc(PERM_CURSOR * sizeof(Py_ssize_t))
    cdef void *block_mem = malloc(lay.size * sizeof(perm_label_t) + 64)
    if zeros == NULL or sums == NULL or cursor == NULL or block_mem == NULL:
        free(zeros)
        free(sums)
        free(cursor)
        free(block_mem)
        raise MemoryError("permutation_labels: out of memory")
    with nogil:
        _perm_shuffle_sums(&labels[0], zeros, n, seed, k, &lay,
                           <perm_label_t *>_perm_aligned(block_mem), cursor, sums, n_bins,
                           &out[0])
    free(zeros)
    free(sums)
    free(cursor)
    free(block_mem)
