# ==========================================================================
# Annulus means at fixed radius (docs/method.md section 6)
# --------------------------------------------------------------------------
# For every star i, the (weighted) mean of values over all stars j with
#     fabs(R[j] - R[i]) <= h        (one rounded IEEE-754 subtraction),
# star i included.  The predicate is symmetric in i and j, and for R sorted
# ascending it holds on one contiguous run of j around i, whose ends never move
# backwards as i grows (rounding is monotone).  So:
#   1. stable radix argsort of R (8-bit digits: one parallel pass on the
#      leading digit, then MSD radix inside each bucket, in cache, down to
#      insertion sorts of small buckets);
#   2. prefix sums of values (and weights) in sorted order, compensated
#      (block-local sums with their exact rounding errors, double-double block
#      offsets): a window sum P[hi] - P[lo] is then correctly rounded to
#      ~1e-25 relative to sum|x|, where plain double prefix sums of 1e6
#      values lose ~1e-10 in small windows;
#   3. window ends by binary search at the start of each block of sorted
#      stars, two pointers inside the block, the mean from two prefix values.
# Blocks have a fixed size and the sort is stable, so results are bitwise
# identical for any thread count.
# ==========================================================================
# Included by _core.pyx after _radix.pxi (step 1); the Python wrapper is
# azimuthal.annulus_mean.
cdef extern from "fg_math.h" nogil:
    double fg_no_contract(double x)

cdef enum:
    ANNULUS_BLOCK = 4096       # sorted stars per OpenMP task (fixed: determinism)


# ---- compensated prefix sums ---------------------------------------------
# Within each block of ANNULUS_BLOCK sorted stars, the prefix sums start from
# zero and are kept as an unevaluated pair (s, c): s the ordinary running sum,
# c the running sum of the exact rounding errors of s (Knuth's TwoSum;
# Ogita, Rump & Oishi 2005, "Sum2"); the blocks' totals are then scanned in
# double-double.  The prefix over the first p sorted stars is
#     P(p) = off[p // B] + s[p] + c[p],
# exact to ~ (B eps)^2 sum|x| ~ 1e-25 sum|x|; a window sum P(hi) - P(lo) is then
# the correctly rounded window sum to within a few units of 1e-25 sum|x|.
# The two dependency chains (s and c) have one add each per star, so the
# pass runs at memory speed, where a renormalised double-double chain would be
# bound by its latency.
cdef enum:
    ANNULUS_LOG2_BLOCK = 12    # ANNULUS_BLOCK = 2 ** 12


cdef struct AnnulusPrefix:
    double *s        # n + 1 local running sums (0 at each block start)
    double *c        # n + 1 local running sums of the rounding errors of s
    double *off_hi   # nb + 1 block offsets, double-double
    double *off_lo


cdef inline void _ann_two_sum(double a, double b, double *s, double *e) noexcept nogil:
    """s + e == a + b exactly, s = fl(a + b) (Knuth; needs IEEE rounding, no
    reassociation: fastgrad never builds with -ffast-math)."""
    cdef double t = a + b
    cdef double bb = t - a
    e[0] = (a - (t - bb)) + (b - bb)
    s[0] = t


cdef inline void _ann_dd_add_dd(double *hi, double *lo, double xhi, double xlo) noexcept nogil:
    """(hi, lo) += (xhi, xlo), renormalised."""
    cdef double s, e
    _ann_two_sum(hi[0], xhi, &s, &e)
    e = e + (lo[0] + xlo)
    hi[0] = s + e
    lo[0] = e - (hi[0] - s)


cdef inline double _ann_window_sum(const AnnulusPrefix *P, Py_ssize_t lo,
                                   Py_ssize_t hi) noexcept nogil:
    """P(hi) - P(lo), rounded once at the end (all partial errors carried)."""
    cdef Py_ssize_t bl = lo >> ANNULUS_LOG2_BLOCK, bh = hi >> ANNULUS_LOG2_BLOCK
    cdef double a1 = 0.0, a2 = 0.0, d1, d2, t1, t2
    if bl != bh:
        _ann_two_sum(P.off_hi[bh], -P.off_hi[bl], &a1, &a2)
        a2 = a2 + (P.off_lo[bh] - P.off_lo[bl])
    _ann_two_sum(P.s[hi], -P.s[lo], &d1, &d2)
    _ann_two_sum(a1, d1, &t1, &t2)
    return t1 + (t2 + (a2 + (d2 + (P.c[hi] - P.c[lo]))))


cdef struct AnnulusWork:
    Py_ssize_t n
    Py_ssize_t nb
    const double *R_sorted
    const uint32_t *order
    const double *values
    const double *weights      # NULL: unweighted (counts are exact integers)
    AnnulusPrefix pa                  # prefix of values (weighted: of w * v)
    AnnulusPrefix pw                  # prefix of weights (weighted only)
    double *tot                # per block: total of pa as (hi, lo), of pw as (hi, lo)
    double h
    double *out


cdef inline void _annulus_block_prefix(AnnulusWork *w, Py_ssize_t ib) noexcept nogil:
    """Local compensated prefix of block ib: slots p with p // B == ib (and
    p <= n), slot ib * B being 0; the block's total goes to w.tot."""
    cdef Py_ssize_t k, j, a = ib * ANNULUS_BLOCK
    cdef Py_ssize_t b = a + ANNULUS_BLOCK if a + ANNULUS_BLOCK < w.n else w.n
    cdef Py_ssize_t last = a + ANNULUS_BLOCK - 1      # last slot this block owns
    cdef double s = 0.0, c = 0.0, sw = 0.0, cw = 0.0, x, wj, t, e
    cdef double *ps = w.pa.s
    cdef double *pc = w.pa.c
    cdef double *qs = w.pw.s
    cdef double *qc = w.pw.c
    ps[a] = 0.0
    pc[a] = 0.0
    if w.weights != NULL:
        qs[a] = 0.0
        qc[a] = 0.0
        for k in range(a, b):
            j = w.order[k]
            wj = w.weights[j]
            # rounded before the TwoSum below, also where the build fuses a*b + c
            x = fg_no_contract(wj * w.values[j])
            _ann_two_sum(s, x, &t, &e)
            s = t
            c = c + e
            _ann_two_sum(sw, wj, &t, &e)
            sw = t
            cw = cw + e
            if k < last:
                ps[k + 1] = s
                pc[k + 1] = c
                qs[k + 1] = sw
                qc[k + 1] = cw
    else:
        for k in range(a, b):
            x = w.values[w.order[k]]
            _ann_two_sum(s, x, &t, &e)
            s = t
            c = c + e
            if k < last:
                ps[k + 1] = s
                pc[k + 1] = c
    # the block's total as a double-double (s + c exactly)
    _ann_two_sum(s, c, &w.tot[4 * ib], &w.tot[4 * ib + 1])
    _ann_two_sum(sw, cw, &w.tot[4 * ib + 2], &w.tot[4 * ib + 3])


cdef inline void _annulus_block_means(AnnulusWork *w, Py_ssize_t ib) noexcept nogil:
    cdef Py_ssize_t k, a = ib * ANNULUS_BLOCK
    cdef Py_ssize_t b = a + ANNULUS_BLOCK if a + ANNULUS_BLOCK < w.n else w.n
    cdef Py_ssize_t n = w.n, lo, hi, l, r, m
    cdef const double *Rs = w.R_sorted
    cdef double h = w.h, Rk, num, den
    cdef bint weighted = w.weights != NULL
    # window of the block's first star by binary search (the predicate is
    # false, then true, then false again along the sorted radii):
    # lo = first j <= a with fabs(Rs[j] - Rs[a]) <= h
    Rk = Rs[a]
    l = 0
    r = a
    while l < r:
        m = l + (r - l) // 2
        if fabs(Rs[m] - Rk) <= h:
            r = m
        else:
            l = m + 1
    lo = l
    # hi = first j > a with fabs(Rs[j] - Rs[a]) > h, n if none
    l = a + 1
    r = n
    while l < r:
        m = l + (r - l) // 2
        if fabs(Rs[m] - Rk) <= h:
            l = m + 1
        else:
            r = m
    hi = l
    # then two pointers: both ends only move forwards
    # (two unconditional steps first: the usual advance is 0-2 stars, and a
    # data-dependent loop branch mispredicts about every other star)
    for k in range(a, b):
        Rk = Rs[k]
        lo = lo + (fabs(Rs[lo] - Rk) > h)
        lo = lo + (fabs(Rs[lo] - Rk) > h)
        while fabs(Rs[lo] - Rk) > h:
            lo = lo + 1
        # Rs[n] = +inf is a sentinel: fabs(inf - Rk) > h for any finite h
        hi = hi + (fabs(Rs[hi] - Rk) <= h)
        hi = hi + (fabs(Rs[hi] - Rk) <= h)
        while fabs(Rs[hi] - Rk) <= h:
            hi = hi + 1
        num = _ann_window_sum(&w.pa, lo, hi)
        if weighted:
            den = _ann_window_sum(&w.pw, lo, hi)
        else:
            den = <double>(hi - lo)
        # a window whose weights are all zero: 0/0 = NaN (documented)
        w.out[w.order[k]] = num / den


def annulus_mean(const double[::1] R, const double[::1] values, const double[::1] weights,
                 double half_width, double[::1] out, int n_threads):
    """Mean of ``values`` over fabs(R[j] - R[i]) <= half_width, per star i.

    ``weights`` of length 0 means unweighted.  Inputs must be finite (and
    weights >= 0, half_width finite): the caller (azimuthal.annulus_mean)
    checks.  A window whose weights are all zero gives NaN."""
    cdef Py_ssize_t n = R.shape[0], ib, nb, i
    cdef int rc = 0, T = n_threads if n_threads > 0 else 1
    cdef AnnulusWork w
    cdef double ahi, alo, chi, clo
    cdef bint weighted = weights.shape[0] > 0
    cdef Interrupt it
    if n == 0:
        return
    if n >= <Py_ssize_t>4294967295:
        raise ValueError("annulus_mean: at most 2**32 - 1 stars per call")
    nb = (n + ANNULUS_BLOCK - 1) // ANNULUS_BLOCK
    if T > nb:
        T = <int>nb
    cdef double *R_sorted = <double *>fg_big_alloc((n + 1) * sizeof(double))
    cdef uint32_t *order = <uint32_t *>fg_big_alloc(n * sizeof(uint32_t))
    cdef double *pref = <double *>fg_big_alloc((4 if weighted else 2) * (n + 1) * sizeof(double))
    cdef double *offs = <double *>malloc(4 * (nb + 1) * sizeof(double))
    cdef double *tot = <double *>malloc(4 * nb * sizeof(double))
    if R_sorted == NULL or order == NULL or pref == NULL or offs == NULL or tot == NULL:
        fg_big_free(R_sorted)
        fg_big_free(order)
        fg_big_free(pref)
        free(offs)
        free(tot)
        raise MemoryError("annulus_mean: out of memory")
    w.n = n
    w.nb = nb
    w.R_sorted = R_sorted
    w.order = order
    w.values = &values[0]
    w.weights = &weights[0] if weighted else NULL
    w.pa.s = pref
    w.pa.c = pref + (n + 1)
    w.pw.s = pref + 2 * (n + 1) if weighted else NULL
    w.pw.c = pref + 3 * (n + 1) if weighted else NULL
    w.pa.off_hi = offs
    w.pa.off_lo = offs + (nb + 1)
    w.pw.off_hi = offs + 2 * (nb + 1)
    w.pw.off_lo = offs + 3 * (nb + 1)
    w.tot = tot
    w.h = half_width
    w.out = &out[0]
    _interrupt_init(&it, POLL_STARS)
    with nogil:
        rc = _radix_argsort(&R[0], n, R_sorted, order, T, &it)
        R_sorted[n] = INFINITY
        if rc == 0:
            # dynamic: on a shared machine a delayed thread's blocks go to the
            # other threads (each block's result does not depend on who runs it)
            for ib in prange(nb, num_threads=T, schedule='dynamic', chunksize=4):
                if not _interrupted(&it, ANNULUS_BLOCK):
                    _annulus_block_prefix(&w, ib)
            # when n is a multiple of B, slot n opens an empty block of its own
            if n % ANNULUS_BLOCK == 0:
                w.pa.s[n] = 0.0
                w.pa.c[n] = 0.0
                if weighted:
                    w.pw.s[n] = 0.0
                    w.pw.c[n] = 0.0
            # block offsets: exclusive double-double scan, in a fixed order
            ahi = 0.0
            alo = 0.0
            chi = 0.0
            clo = 0.0
            for i in range(nb + 1):
                w.pa.off_hi[i] = ahi
                w.pa.off_lo[i] = alo
                w.pw.off_hi[i] = chi
                w.pw.off_lo[i] = clo
                if i < nb:
                    _ann_dd_add_dd(&ahi, &alo, tot[4 * i], tot[4 * i + 1])
                    _ann_dd_add_dd(&chi, &clo, tot[4 * i + 2], tot[4 * i + 3])
            for ib in prange(nb, num_threads=T, schedule='dynamic', chunksize=4):
                if not _interrupted(&it, ANNULUS_BLOCK):
                    _annulus_block_means(&w, ib)
    fg_big_free(R_sorted)
    fg_big_free(order)
    fg_big_free(pref)
    free(offs)
    free(tot)
    _raise_if_interrupted(&it)
    if rc != 0:
        raise MemoryError("annulus_mean: out of memory")
