# ==========================================================================
# Stable radix argsort of doubles (the first step of the annulus means,
# _annulus.pxi; docs/method.md section 6)
# ==========================================================================
# Included by _core.pyx, before _annulus.pxi.

# scratch arrays of the sort and of the annulus means
cdef extern from "fg_bigalloc.h" nogil:
    void *fg_big_alloc(size_t nbytes)
    void fg_big_free(void *p)


cdef enum:
    # 8-bit digits: 256 buckets keep a scatter pass's write streams in L1
    RADIX_BITS = 8
    RADIX_SIZE = 256          # 2 ** RADIX_BITS
    RADIX_SUB = 65536         # stars of a pass between two interrupt checks

cdef inline uint64_t _radix_key(double x) noexcept nogil:
    """An unsigned integer key whose order is the order of the double x."""
    cdef uint64_t b
    x = x + 0.0                # -0.0 -> +0.0: equal values, equal keys
    memcpy(&b, &x, 8)
    if b >> 63:
        return ~b
    return b | (<uint64_t>1 << 63)


cdef inline double _radix_key_double(uint64_t k) noexcept nogil:
    cdef double x
    if k >> 63:
        k = k & ~(<uint64_t>1 << 63)
    else:
        k = ~k
    memcpy(&x, &k, 8)
    return x


cdef inline Py_ssize_t _sub_end(Py_ssize_t s0, Py_ssize_t b) noexcept nogil:
    """End of the sub-range of a chunk that starts at s0 (one interrupt check
    per RADIX_SUB stars of a pass)."""
    return s0 + RADIX_SUB if s0 + RADIX_SUB < b else b


cdef inline void _radix_minmax_chunk(const double *x, Py_ssize_t a, Py_ssize_t b,
                                     uint64_t *kmin, uint64_t *kmax,
                                     Interrupt *it) noexcept nogil:
    cdef Py_ssize_t i, s0
    cdef uint64_t k, lo = <uint64_t>(-1), hi = 0
    s0 = a
    while s0 < b and not _interrupted(it, RADIX_SUB):
        for i in range(s0, _sub_end(s0, b)):
            k = _radix_key(x[i])
            lo = k if k < lo else lo
            hi = k if k > hi else hi
        s0 = s0 + RADIX_SUB
    kmin[0] = lo
    kmax[0] = hi


cdef inline void _radix_init_chunk(const double *x, uint64_t kmin, uint64_t *key,
                                   uint32_t *idx, Py_ssize_t a, Py_ssize_t b, int shift,
                                   Py_ssize_t *hist, Interrupt *it) noexcept nogil:
    """Keys relative to the smallest (so only the bits that vary are sorted
    on), identity indices, and the histogram of the leading digit."""
    cdef Py_ssize_t i, s0
    cdef uint64_t k
    memset(hist, 0, RADIX_SIZE * sizeof(Py_ssize_t))
    s0 = a
    while s0 < b and not _interrupted(it, RADIX_SUB):
        for i in range(s0, _sub_end(s0, b)):
            k = _radix_key(x[i]) - kmin
            key[i] = k
            idx[i] = <uint32_t>i
            hist[(k >> shift) & (RADIX_SIZE - 1)] += 1
        s0 = s0 + RADIX_SUB


cdef inline void _radix_scatter_chunk(const uint64_t *key, const uint32_t *idx,
                                      uint64_t *key_out, uint32_t *idx_out,
                                      Py_ssize_t a, Py_ssize_t b, int shift,
                                      Py_ssize_t *pos, Interrupt *it) noexcept nogil:
    cdef Py_ssize_t i, p, s0
    cdef uint64_t k
    s0 = a
    while s0 < b and not _interrupted(it, RADIX_SUB):
        for i in range(s0, _sub_end(s0, b)):
            k = key[i]
            p = pos[(k >> shift) & (RADIX_SIZE - 1)]
            pos[(k >> shift) & (RADIX_SIZE - 1)] = p + 1
            key_out[p] = k
            idx_out[p] = idx[i]
        s0 = s0 + RADIX_SUB


cdef struct RadixWork:
    uint64_t *key_a          # the buckets after the leading-digit pass ...
    uint32_t *idx_a
    uint64_t *key_b          # ... and the scratch of their own passes
    uint32_t *idx_b
    Py_ssize_t *start        # RADIX_SIZE + 1 bucket boundaries
    uint64_t kmin
    double *x_sorted
    uint32_t *order


cdef enum:
    RADIX_INSERTION_MAX = 32         # buckets this small: insertion sort


cdef void _radix_msd_sort(uint64_t *key, uint32_t *idx, uint64_t *key_tmp, uint32_t *idx_tmp,
                          Py_ssize_t m) noexcept nogil:
    """Stable sort of m (key, index) pairs in place: insertion sort when
    small, else one stable scatter on the leading 8-bit digit of the keys'
    range (through the scratch arrays) and the same for each sub-bucket.
    Each level removes 8 bits of key range, so the recursion is at most 8
    deep; for smooth data two levels below the global pass leave buckets of
    ~n / 65536 stars, all in cache."""
    cdef Py_ssize_t i, j, off, tmp
    cdef Py_ssize_t cnt[RADIX_SIZE]
    cdef Py_ssize_t pos[RADIX_SIZE]
    cdef uint64_t k, lo, hi, span
    cdef uint32_t ix
    cdef int shift, bits, d
    if m <= RADIX_INSERTION_MAX:
        # strict > keeps equal keys in their order: stable
        for i in range(1, m):
            k = key[i]
            ix = idx[i]
            j = i - 1
            while j >= 0 and key[j] > k:
                key[j + 1] = key[j]
                idx[j + 1] = idx[j]
                j = j - 1
            key[j + 1] = k
            idx[j + 1] = ix
        return
    lo = key[0]
    hi = key[0]
    for i in range(1, m):
        k = key[i]
        lo = k if k < lo else lo
        hi = k if k > hi else hi
    span = hi - lo
    if span == 0:
        return                 # all keys equal: already in stable order
    bits = 0
    while span != 0:
        bits = bits + 1
        span = span >> 1
    shift = bits - RADIX_BITS if bits > RADIX_BITS else 0
    memset(cnt, 0, RADIX_SIZE * sizeof(Py_ssize_t))
    for i in range(m):
        cnt[((key[i] - lo) >> shift) & (RADIX_SIZE - 1)] += 1
    off = 0
    for d in range(RADIX_SIZE):
        pos[d] = off
        off = off + cnt[d]
    for i in range(m):
        k = key[i]
        d = <int>(((k - lo) >> shift) & (RADIX_SIZE - 1))
        j = pos[d]
        pos[d] = j + 1
        key_tmp[j] = k
        idx_tmp[j] = idx[i]
    memcpy(key, key_tmp, m * sizeof(uint64_t))
    memcpy(idx, idx_tmp, m * sizeof(uint32_t))
    if shift == 0:
        return                 # the digit was the whole range: sorted
    off = 0
    for d in range(RADIX_SIZE):
        tmp = cnt[d]
        if tmp > 1:
            _radix_msd_sort(key + off, idx + off, key_tmp + off, idx_tmp + off, tmp)
        off = off + tmp


cdef void _radix_sort_bucket(RadixWork *s, Py_ssize_t bucket) noexcept nogil:
    """Finish one bucket of the parallel leading-digit pass, then write its
    sorted values and indices."""
    cdef Py_ssize_t a = s.start[bucket], m = s.start[bucket + 1] - a, i
    if m <= 0:
        return
    _radix_msd_sort(s.key_a + a, s.idx_a + a, s.key_b + a, s.idx_b + a, m)
    for i in range(a, a + m):
        s.x_sorted[i] = _radix_key_double(s.key_a[i] + s.kmin)
        s.order[i] = s.idx_a[i]


cdef int _radix_argsort(const double *x, Py_ssize_t n, double *x_sorted,
                        uint32_t *order, int n_threads, Interrupt *it) noexcept nogil:
    """Stable ascending argsort of x (finite doubles, n < 2**32) into
    ``order``, and the sorted values into ``x_sorted``.  Returns -1 when out
    of memory, -2 when interrupted (``it``: see _interrupted).

    Radix sort on the order-preserving integer keys of the doubles, minus the
    smallest key (so only the bits that vary are sorted on): one parallel
    pass on the leading 8-bit digit splits the stars into 256 buckets, then
    each bucket is finished independently (MSD radix in cache down to
    insertion sorts of <= 32 stars; OpenMP dynamic over buckets).  Four parallel
    regions in all, whatever the
    number of digits: each region ends in a barrier, and on a shared machine
    a barrier waits for the most-delayed thread.  A stable sort's output is
    unique, so it does not depend on the number of threads."""
    cdef int T = n_threads if n_threads > 0 else 1
    if n < <Py_ssize_t>T * 16384:     # small sorts: one thread (fork/join costs more)
        T = 1
    cdef uint64_t *key_a = <uint64_t *>fg_big_alloc(n * sizeof(uint64_t))
    cdef uint64_t *key_b = <uint64_t *>fg_big_alloc(n * sizeof(uint64_t))
    cdef uint32_t *idx_a = <uint32_t *>fg_big_alloc(n * sizeof(uint32_t))
    cdef uint32_t *idx_b = <uint32_t *>fg_big_alloc(n * sizeof(uint32_t))
    cdef Py_ssize_t *hist = <Py_ssize_t *>malloc(T * RADIX_SIZE * sizeof(Py_ssize_t))
    cdef Py_ssize_t *bounds = <Py_ssize_t *>malloc((T + 1) * sizeof(Py_ssize_t))
    cdef uint64_t *cmin = <uint64_t *>malloc(2 * T * sizeof(uint64_t))
    cdef Py_ssize_t *start = <Py_ssize_t *>malloc((RADIX_SIZE + 1) * sizeof(Py_ssize_t))
    cdef int rc = 0
    if (key_a == NULL or key_b == NULL or idx_a == NULL or idx_b == NULL or hist == NULL
            or bounds == NULL or cmin == NULL or start == NULL):
        rc = -1
    else:
        rc = _radix_passes(x, n, x_sorted, order, T, it, key_a, key_b, idx_a, idx_b, hist,
                           bounds, cmin, start)
    fg_big_free(key_a)
    fg_big_free(key_b)
    fg_big_free(idx_a)
    fg_big_free(idx_b)
    free(hist)
    free(bounds)
    free(cmin)
    free(start)
    return rc


cdef int _radix_passes(const double *x, Py_ssize_t n, double *x_sorted, uint32_t *order,
                       int T, Interrupt *it, uint64_t *key_a, uint64_t *key_b,
                       uint32_t *idx_a, uint32_t *idx_b, Py_ssize_t *hist,
                       Py_ssize_t *bounds, uint64_t *cmin, Py_ssize_t *start) noexcept nogil:
    """The passes of _radix_argsort on its scratch arrays: 0, or -2 when
    interrupted."""
    cdef Py_ssize_t t, b, tmp, running
    cdef int shift, bits
    cdef uint64_t kmin, kmax, span
    cdef RadixWork s
    for t in range(T + 1):
        bounds[t] = (n * t) // T
    # key range -> the leading digit's position
    for t in prange(T, num_threads=T, schedule='static', chunksize=1):
        _radix_minmax_chunk(x, bounds[t], bounds[t + 1], &cmin[t], &cmin[T + t], it)
    if fg_flag_get(&it.stop):
        return -2
    kmin = cmin[0]
    kmax = cmin[T]
    for t in range(1, T):
        kmin = cmin[t] if cmin[t] < kmin else kmin
        kmax = cmin[T + t] if cmin[T + t] > kmax else kmax
    span = kmax - kmin
    bits = 0
    while span != 0:
        bits = bits + 1
        span = span >> 1
    shift = bits - RADIX_BITS if bits > RADIX_BITS else 0
    # leading digit: per-chunk histograms, positions bucket by bucket then
    # chunk by chunk (which keeps the sort stable), scatter
    for t in prange(T, num_threads=T, schedule='static', chunksize=1):
        _radix_init_chunk(x, kmin, key_b, idx_b, bounds[t], bounds[t + 1], shift,
                          &hist[t * RADIX_SIZE], it)
    if fg_flag_get(&it.stop):
        return -2
    running = 0
    for b in range(RADIX_SIZE):
        start[b] = running
        for t in range(T):
            tmp = hist[t * RADIX_SIZE + b]
            hist[t * RADIX_SIZE + b] = running
            running = running + tmp
    start[RADIX_SIZE] = n
    for t in prange(T, num_threads=T, schedule='static', chunksize=1):
        _radix_scatter_chunk(key_b, idx_b, key_a, idx_a, bounds[t], bounds[t + 1], shift,
                             &hist[t * RADIX_SIZE], it)
    if fg_flag_get(&it.stop):
        return -2
    # the buckets, independently
    s.key_a = key_a
    s.idx_a = idx_a
    s.key_b = key_b
    s.idx_b = idx_b
    s.start = start
    s.kmin = kmin
    s.x_sorted = x_sorted
    s.order = order
    for b in prange(RADIX_SIZE, num_threads=T, schedule='dynamic', chunksize=1):
        if not _interrupted(it, start[b + 1] - start[b]):
            _radix_sort_bucket(&s, b)
    return -2 if fg_flag_get(&it.stop) else 0


def radix_argsort(const double[::1] x, uint32_t[::1] order, double[::1] x_sorted,
                  int n_threads):
    """Stable ascending argsort of finite doubles (MSD radix, OpenMP).

    ``order`` (uint32) and ``x_sorted`` (length of x, < 2**32) receive the
    permutation and the sorted values (-0.0 comes back as +0.0).  Exposed for
    the tests and benchmarks."""
    cdef Py_ssize_t n = x.shape[0]
    cdef int rc
    cdef Interrupt it
    if n == 0:
        return
    if n >= <Py_ssize_t>4294967295:
        raise ValueError("radix_argsort: at most 2**32 - 1 values")
    _interrupt_init(&it, POLL_STARS)
    with nogil:
        rc = _radix_argsort(&x[0], n, &x_sorted[0], &order[0], n_threads, &it)
    _raise_if_interrupted(&it)
    if rc != 0:
        raise MemoryError("radix_argsort: out of memory")
