# ==========================================================================
# Marginalised straight-line likelihood (docs/method.md section 5)
# ==========================================================================
# Included by _core.pyx; the C of the inner loops is in _c/fg_likelihood.h,
# the Python wrappers in fitting.py.
#
# ln L(m, b, lambda) = -1/2 sum_i [Delta_i^2 / Sigma_i^2 + ln(2 pi Sigma_i^2)],
#   Delta_i   = y_i - (m x_i + b),
#   Sigma_i^2 = v^T (S_i + Lambda) v with v = (-m, 1) NOT normalised
#             = m^2 sx_i^2 - 2 m sxy_i + sy_i^2 + s,
#   s = lambda^2 (1 + m^2) (perpendicular scatter) or lambda^2 (vertical).
#
# Speed.  A plain loop is bound by one division and one log per star.  Here
# each of 8 lanes keeps a running fraction num/prod equal to the sum of
# Delta^2/Sigma^2 over its stars,
#     num <- num * Sigma^2 + Delta^2 * prod,   prod <- prod * Sigma^2,
# so prod is also the product of the variances, whose log is the sum of the
# ln Sigma^2 terms.  Every 16 stars per lane the fraction is divided out (one
# division per 16 stars) and prod is brought back to [1, 2) by moving its
# binary exponent into an integer sum: no log in the loop, one log per lane
# per chunk.  The products stay in the normal range when every Sigma^2 lies
# in [1e-19, 1e19] (16 * 19 < 307).  Whether it does is decided per theta
# from bounds on the data's variances (min/max of sigma_x^2 and sigma_y^2),
# so the loop carries no range checks: bounds given once (LineModel), or
# else per chunk, from that chunk's scan of the errors (the checks of
# line_error_scan), which for standard deviations without covariance runs in
# the same pass as the blocked sums (the errors are read once).  A theta
# outside, or a chunk whose sum comes out non-finite, takes the plain loop
# (one division and one log per star).  Both agree to rounding: ~1e-15
# relative.
#
# The lanes are written with GCC/Clang vector extensions: 4-double vectors
# where the build targets AVX, 2-double (SSE2, NEON) vectors otherwise, so
# the code does not depend on the auto-vectoriser (which, on the same
# algorithm written as Cython loops over lane arrays, kept the lanes on the
# stack; bench/ has the timings).  Lane j always handles the stars
# i = j (mod 8) and the lanes are combined in one fixed order.  Other
# compilers get the plain loop.
#
# Five thetas a pass.  A chunk (2048 stars, 64 KB) outgrows L1, so each
# theta's pass over it reads the four columns again from L2, and one theta's
# product chains (2 a lane group) leave the multipliers waiting on their
# latency.  LineKernel's calls (emcee's half-ensembles: 5 walkers) evaluate
# up to FG_LL_MAXT = 5 thetas in one pass (fg_ll_chunk_group), each with
# exactly the one-theta loop's operations: the same bits.  Session 9 took two
# a pass (1.14-1.16x one); five are 1.1-1.3x two on 2e4-2e6 stars, one
# thread (bench/README.md).
#
# Determinism.  Stars are cut into fixed chunks of LL_CHUNK, independent of
# the thread count; every (chunk, theta) pair (or group of thetas) is one work
# item whose partial sums are combined in chunk order afterwards, so a build
# gives bit-identical results for any number of threads.  (The AVX2 build contracts a*b + c into
# FMAs, so it differs from the baseline build by rounding, ~1e-15.)  Items
# are ordered chunk-major, theta-minor: a thread evaluates consecutive
# thetas on a chunk still in its cache, and a batch of thetas is spread
# over the threads even when N fits in one chunk (LineKernel's groups of
# five: over its chunks only, as its calls of < 2 chunks run on one thread).
cdef extern from "fg_likelihood.h":
    const double FG_LL_VAR_MIN
    const double FG_LL_VAR_MAX
    const int FG_LL_VECTOR
    const int FG_LL_VW
    const double FG_LL_COV_RTOL
    enum: FG_LL_NSCAN       # values of fg_ll_scan
    void fg_ll_scan(const double *ex, const double *ey, const double *cxy,
                    Py_ssize_t n, int has_cov, double *out) noexcept nogil
    void fg_ll_scan_init(double *out) noexcept nogil
    void fg_ll_scan_merge(double *a, const double *b) noexcept nogil
    void fg_ll_scan_min(const double *ex, const double *ey, Py_ssize_t n,
                        double *out) noexcept nogil
    void fg_ll_chunk(const double *x, const double *y, const double *ex,
                     const double *ey, const double *cxy, Py_ssize_t n,
                     double m, double b, double s, int variances, int has_cov,
                     int blocked, double *res) noexcept nogil
    enum: FG_LL_MAXT        # thetas a pass at most (fg_ll_chunk_group)
    void fg_ll_chunk_group(const double *x, const double *y, const double *ex,
                           const double *ey, Py_ssize_t n, int nt, const double *m,
                           const double *b, const double *s, double *const *res) noexcept nogil
    void fg_ll_chunk_scan(const double *x, const double *y, const double *ex,
                          const double *ey, Py_ssize_t n, double m, double b, double s,
                          double *res, double *scan) noexcept nogil
    void fg_ll_theta(double m, double lam, int perpendicular, int has_cov,
                     const double *bnd, double *s_out, double *blocked) noexcept nogil
    double fg_ll_total(const double *parts, Py_ssize_t n_chunks, Py_ssize_t stride,
                       Py_ssize_t n, double ln_2pi) noexcept nogil

cdef enum:
    LL_CHUNK = 2048     # stars per work item

LINE_LOGLIKE_CHUNK = LL_CHUNK
# |xy_cov| may exceed x_err * y_err by this relative amount (a correlation of
# exactly +-1 after rounding) before the covariance counts as invalid
LINE_COV_RTOL = FG_LL_COV_RTOL
cdef double LN_2PI = 1.8378770664093454836


def line_kernel_info():
    """How the likelihood kernel was compiled: {'vector_width': doubles per
    vector (0: plain loop), 'chunk': stars per work item}."""
    return {"vector_width": FG_LL_VW, "chunk": LL_CHUNK}


cdef inline void _ll_interrupt_init(Interrupt *it, Py_ssize_t work):
    """_interrupt_init, without its look-up of the calling thread when the
    call is too short ever to check for signals (most likelihood calls)."""
    cdef Py_ssize_t every = POLL_LL // _poll_divisor if POLL_LL >= _poll_divisor else 1
    if work < every:
        it.stop = 0
        it.enabled = 0
        it.work = 0
        it.every = every
    else:
        _interrupt_init(it, POLL_LL)


cdef inline Py_ssize_t _ll_chunk_size(Py_ssize_t n, Py_ssize_t ch) noexcept nogil:
    """The number of stars in chunk ``ch`` (from star ch * LL_CHUNK) of ``n``."""
    cdef Py_ssize_t cnt = n - ch * LL_CHUNK
    return cnt if cnt < LL_CHUNK else LL_CHUNK


cdef inline void _ll_scan_chunk(const double *ex, const double *ey, const double *cxy,
                                Py_ssize_t n, Py_ssize_t ch, bint need_max,
                                double *part) noexcept nogil:
    cdef Py_ssize_t start = ch * LL_CHUNK
    cdef Py_ssize_t cnt = _ll_chunk_size(n, ch)
    if cxy == NULL and not need_max:
        fg_ll_scan_min(ex + start, ey + start, cnt, part)
    else:
        fg_ll_scan(ex + start, ey + start, cxy + start if cxy != NULL else NULL, cnt,
                   cxy != NULL, part)


cdef bint _ll_scan(const double *ex, const double *ey, const double *cxy,
                   Py_ssize_t n, int n_threads, double *bounds, bint need_max,
                   Interrupt *it) noexcept nogil:
    """Scan standard deviations: True if valid; bounds = min/max of sx^2, sy^2
    (the maxima may be +inf when neither ``need_max`` nor a covariance asks
    for them).  (Interrupted: False, and the bounds are meaningless.)  One
    thread runs a plain loop: no OpenMP region to enter for a short call."""
    cdef Py_ssize_t n_chunks = (n + LL_CHUNK - 1) // LL_CHUNK
    cdef double *parts = <double *>malloc(max(n_chunks, 1) * FG_LL_NSCAN * sizeof(double))
    cdef double tot[FG_LL_NSCAN]
    cdef Py_ssize_t ch
    if parts == NULL:
        return False
    if n_threads == 1:
        for ch in range(n_chunks):
            if not _interrupted(it, LL_CHUNK):
                _ll_scan_chunk(ex, ey, cxy, n, ch, need_max, parts + ch * FG_LL_NSCAN)
    else:
        for ch in prange(n_chunks, num_threads=n_threads, schedule='static'):
            if not _interrupted(it, LL_CHUNK):
                _ll_scan_chunk(ex, ey, cxy, n, ch, need_max, parts + ch * FG_LL_NSCAN)
    if fg_flag_get(&it.stop):
        free(parts)
        return False
    fg_ll_scan_init(tot)
    for ch in range(n_chunks):
        fg_ll_scan_merge(tot, parts + ch * FG_LL_NSCAN)
    free(parts)
    return _ll_scan_ok(tot, bounds)


cdef inline bint _ll_scan_ok(const double *tot, double *bounds) noexcept nogil:
    """bounds = the squares of a scan's minima and maxima; False when the
    scan found negative errors, a star with both errors zero or |cov| > sx sy."""
    bounds[0] = tot[0] * tot[0]
    bounds[1] = tot[1] * tot[1]
    bounds[2] = tot[2] * tot[2]
    bounds[3] = tot[3] * tot[3]
    return not (tot[0] < 0.0 or tot[2] < 0.0 or tot[4] <= 0.0 or tot[5] > 0.0)


def line_error_scan(const double[::1] x_err, const double[::1] y_err,
                    const double[::1] xy_cov, int n_threads):
    """Checks and variance bounds of a line fit's errors, in one pass.

    ``xy_cov`` of length 0 means no covariance.  Returns ``(ok, bounds)``:
    ``ok`` is False when an error is negative, both errors of a star are
    zero, or |xy_cov| > (1 + LINE_COV_RTOL) x_err y_err (NaNs are not
    looked for); ``bounds`` = (min, max of x_err^2, min, max of y_err^2), as
    ``line_loglike_batch`` takes them.
    """
    cdef Py_ssize_t n = x_err.shape[0]
    cdef bint has_cov = xy_cov.shape[0] > 0
    cdef double[::1] bounds = np.empty(4, dtype=np.float64)
    cdef bint ok
    cdef Interrupt it
    if y_err.shape[0] != n or (has_cov and xy_cov.shape[0] != n):
        raise ValueError("x_err, y_err, xy_cov must have one length")
    if n == 0:
        return True, np.array([np.inf, -np.inf, np.inf, -np.inf])
    _ll_interrupt_init(&it, n)
    with nogil:
        ok = _ll_scan(&x_err[0], &y_err[0], &xy_cov[0] if has_cov else NULL, n,
                      n_threads, &bounds[0], True, &it)
    _raise_if_interrupted(&it)
    return ok, np.asarray(bounds)


cdef struct LLData:
    # one line fit's stars, as the kernel reads them
    const double *x
    const double *y
    const double *ux        # sigma_x, or sigma_x^2 when `variances`
    const double *uy
    const double *cov       # NULL: no covariance
    Py_ssize_t n
    bint variances
    bint perpendicular
    bint has_bounds         # bnd holds (min, max of sigma_x^2, of sigma_y^2)
    double bnd[4]


cdef inline void _ll_item(const LLData *d, const double *theta, Py_ssize_t n_theta,
                          const double *svals, Py_ssize_t w, double *parts, char *bad,
                          Interrupt *it) noexcept nogil:
    """Work item w = (chunk, theta), chunk-major.  Without bounds (d.has_bounds
    false) the item first scans its chunk's standard deviations (bad[w] = 1
    when they fail the checks) and takes the blocked path by the chunk's
    bounds: the scan's pass then reads data the evaluation finds in cache."""
    cdef Py_ssize_t ch = w // n_theta
    cdef Py_ssize_t t = w - ch * n_theta
    cdef Py_ssize_t start, cnt
    cdef double scan[FG_LL_NSCAN]
    cdef double bnd[4]
    cdef double s = svals[3 * t], blocked = svals[3 * t + 2]
    cdef bint act = svals[3 * t + 1] != 0.0
    # the first theta scans even when it is not evaluated: bad errors are
    # reported whatever the thetas
    if not (act or (t == 0 and not d.has_bounds)) or _interrupted(it, LL_CHUNK):
        return
    start = ch * LL_CHUNK
    cnt = _ll_chunk_size(d.n, ch)
    if act and not d.has_bounds and d.cov == NULL and not d.variances:
        # the common call: scan and blocked sums in one pass, the blocked
        # sums kept when the chunk's bounds allow them (the same decision and
        # numbers as scanning first)
        fg_ll_chunk_scan(d.x + start, d.y + start, d.ux + start, d.uy + start, cnt,
                         theta[3 * t], theta[3 * t + 1], s, parts + 2 * w, scan)
        if not _ll_scan_ok(scan, bnd):
            bad[w] = 1
            return
        fg_ll_theta(theta[3 * t], theta[3 * t + 2], d.perpendicular, False, bnd, &s,
                    &blocked)
        if blocked != 0.0 and fabs(parts[2 * w]) < INFINITY and \
                fabs(parts[2 * w + 1]) < INFINITY:
            return
        blocked = 0.0
    elif not d.has_bounds:
        _ll_scan_chunk(d.ux, d.uy, d.cov, d.n, ch, False, scan)
        if not _ll_scan_ok(scan, bnd):
            bad[w] = 1
            return
        fg_ll_theta(theta[3 * t], theta[3 * t + 2], d.perpendicular, d.cov != NULL,
                    bnd, &s, &blocked)
    if act:
        fg_ll_chunk(d.x + start, d.y + start, d.ux + start, d.uy + start,
                    d.cov + start if d.cov != NULL else NULL, cnt,
                    theta[3 * t], theta[3 * t + 1], s, d.variances,
                    d.cov != NULL, blocked != 0.0, parts + 2 * w)


cdef inline void _ll_group_item(const LLData *d, const double *theta, Py_ssize_t n_theta,
                                const double *svals, Py_ssize_t w, Py_ssize_t n_groups,
                                double *parts, Interrupt *it) noexcept nogil:
    """Work item w = (chunk, group of up to FG_LL_MAXT consecutive thetas),
    chunk-major, of data with bounds, variances and no covariance
    (LineKernel's): those of its thetas that take the blocked path in one
    pass over the chunk (fg_ll_chunk_group), the others each as _ll_item
    does; the partial sums go where _ll_item puts them, the same bits."""
    cdef Py_ssize_t ch = w // n_groups
    cdef Py_ssize_t t0 = FG_LL_MAXT * (w - ch * n_groups)
    cdef Py_ssize_t t1 = t0 + FG_LL_MAXT if t0 + FG_LL_MAXT <= n_theta else n_theta
    cdef Py_ssize_t start = ch * LL_CHUNK, cnt = _ll_chunk_size(d.n, ch), t
    cdef int nt = 0
    cdef double m[FG_LL_MAXT]
    cdef double b[FG_LL_MAXT]
    cdef double s[FG_LL_MAXT]
    cdef double *res[FG_LL_MAXT]
    if _interrupted(it, LL_CHUNK):
        return
    for t in range(t0, t1):
        if svals[3 * t + 1] == 0.0:
            continue  # not evaluated (-inf)
        if svals[3 * t + 2] == 0.0:
            fg_ll_chunk(d.x + start, d.y + start, d.ux + start, d.uy + start, NULL, cnt,
                        theta[3 * t], theta[3 * t + 1], svals[3 * t], True, False, False,
                        parts + 2 * (ch * n_theta + t))
            continue
        m[nt] = theta[3 * t]
        b[nt] = theta[3 * t + 1]
        s[nt] = svals[3 * t]
        res[nt] = parts + 2 * (ch * n_theta + t)
        nt = nt + 1
    if nt >= 2:
        fg_ll_chunk_group(d.x + start, d.y + start, d.ux + start, d.uy + start, cnt, nt, m, b,
                          s, res)
    elif nt == 1:
        fg_ll_chunk(d.x + start, d.y + start, d.ux + start, d.uy + start, NULL, cnt, m[0], b[0],
                    s[0], True, False, True, res[0])


cdef Py_ssize_t _ll_run(LLData *d, const double *theta, Py_ssize_t n_theta,
                        const double *box, double *out, int n_threads,
                        Interrupt *it) noexcept nogil:
    """ln L for the n_theta rows of ``theta`` (row-major (m, b, lambda)) into
    ``out``: the number of evaluated rows that came out -inf, -1 when the
    standard deviations fail the scan (d.has_bounds false: each work item
    scans its chunk before evaluating it), -2 when out of memory.  See line_loglike_batch."""
    cdef Py_ssize_t n = d.n
    cdef Py_ssize_t n_chunks = (n + LL_CHUNK - 1) // LL_CHUNK
    cdef Py_ssize_t n_items = n_chunks * n_theta
    cdef bint has_cov = d.cov != NULL
    cdef double *parts
    cdef double *svals
    cdef char *bad
    cdef Py_ssize_t w, t, j, n_inf = 0, n_groups
    cdef double val
    cdef bint act
    if n_theta == 0:
        return 0
    # per item: its two partial sums and (scanned per chunk, without
    # bounds) whether its errors fail the checks; per theta: s, whether it
    # is evaluated, whether it takes the blocked path (given bounds)
    parts = <double *>malloc((2 * n_items + 3 * n_theta) * sizeof(double) + n_items)
    if parts == NULL:
        return -2
    svals = parts + 2 * n_items
    bad = <char *>(svals + 3 * n_theta)
    memset(bad, 0, n_items)
    for t in range(n_theta):
        act = theta[3 * t + 2] >= 0.0
        for j in range(3):
            act = act and fabs(theta[3 * t + j]) < INFINITY
            if box != NULL:
                act = act and box[2 * j] <= theta[3 * t + j] <= box[2 * j + 1]
        svals[3 * t + 1] = act
        # (without bounds, each item decides the blocked path from its chunk)
        fg_ll_theta(theta[3 * t], theta[3 * t + 2], d.perpendicular, has_cov, d.bnd,
                    &svals[3 * t], &svals[3 * t + 2])
    # one thread: a plain loop, no OpenMP region (its entry and barrier cost
    # microseconds, a sizeable part of a call on 30,000 stars); the items and
    # their sums are the same either way.  LineKernel's data (bounds,
    # variances, no covariance) with 2 or more thetas: items of up to
    # FG_LL_MAXT thetas, whose sums are those of the one-theta items
    if d.has_bounds and d.variances and not has_cov and n_theta >= 2 and FG_LL_VECTOR:
        n_groups = (n_theta + FG_LL_MAXT - 1) // FG_LL_MAXT
        if n_threads == 1:
            for w in range(n_chunks * n_groups):
                _ll_group_item(d, theta, n_theta, svals, w, n_groups, parts, it)
        else:
            for w in prange(n_chunks * n_groups, num_threads=n_threads, schedule='static'):
                _ll_group_item(d, theta, n_theta, svals, w, n_groups, parts, it)
    elif n_threads == 1:
        for w in range(n_items):
            _ll_item(d, theta, n_theta, svals, w, parts, bad, it)
    else:
        for w in prange(n_items, num_threads=n_threads, schedule='static'):
            _ll_item(d, theta, n_theta, svals, w, parts, bad, it)
    if not d.has_bounds:
        for w in range(n_items):
            if bad[w]:
                free(parts)
                return -1
    # combine the chunks in a fixed order
    for t in range(n_theta):
        if svals[3 * t + 1] == 0.0:
            out[t] = -INFINITY
            continue
        val = fg_ll_total(parts + 2 * t, n_chunks, 2 * n_theta, n, LN_2PI)
        # NaN (inf - inf) and +inf are no likelihoods: report -inf
        if val < INFINITY and val > -INFINITY:
            out[t] = val
        else:
            out[t] = -INFINITY
            n_inf = n_inf + 1
    free(parts)
    return n_inf


cdef object _ll_call(LLData *d, const double[:, ::1] theta, const double *box,
                     double[::1] out, int n_threads):
    """_ll_run under nogil, with Ctrl-C and out-of-memory handling."""
    cdef Py_ssize_t status
    cdef Interrupt it
    if theta.shape[1] != 3 or out.shape[0] != theta.shape[0]:
        raise ValueError("theta must be (n, 3) and out (n,)")
    if theta.shape[0] == 0:
        return 0
    _ll_interrupt_init(&it, d.n * theta.shape[0])
    with nogil:
        status = _ll_run(d, &theta[0, 0], theta.shape[0], box, &out[0], n_threads, &it)
    _raise_if_interrupted(&it)
    if status == -2:
        raise MemoryError()
    return status


def line_loglike_batch(const double[:, ::1] theta, const double[::1] x,
                       const double[::1] y, const double[::1] x_unc,
                       const double[::1] y_unc, const double[::1] xy_cov,
                       const double[::1] bounds, const double[::1] box,
                       bint variances, bint perpendicular, double[::1] out,
                       int n_threads):
    """ln L of the straight-line model for each row of ``theta`` = (m, b, lambda).

    ``x_unc``, ``y_unc`` are the standard deviations sigma_x, sigma_y, or
    (``variances`` true) the variances sigma_x^2, sigma_y^2; ``xy_cov`` of
    length 0 means no covariance.  ``bounds`` = (min, max of sigma_x^2, min,
    max of sigma_y^2) over the stars, or None (standard deviations only):
    then ``line_error_scan`` runs first, and if the errors fail its checks
    nothing is evaluated and -1 is returned.  Rows that are not finite, have
    lambda < 0 or lie outside ``box`` = (lo_m, hi_m, lo_b, hi_b, lo_lambda,
    hi_lambda) (closed intervals; None: no box) get -inf without being
    evaluated.  An evaluated theta at which some Sigma_i^2 <= 0, or whose sum
    is not finite (NaN or inf in the data among the causes), also gets -inf.
    Returns the number of evaluated rows that came out -inf.
    """
    cdef LLData d
    _ll_data(&d, x, y, x_unc, y_unc, xy_cov, bounds, variances, perpendicular)
    if box is not None and box.shape[0] != 6:
        raise ValueError("box must have 6 values")
    return _ll_call(&d, theta, &box[0] if box is not None else NULL, out, n_threads)


cdef int _ll_data(LLData *d, const double[::1] x, const double[::1] y,
                  const double[::1] x_unc, const double[::1] y_unc,
                  const double[::1] xy_cov, const double[::1] bounds,
                  bint variances, bint perpendicular) except -1:
    """Fill d from line_loglike_batch's arguments, checking their lengths."""
    cdef Py_ssize_t n = x.shape[0]
    cdef bint has_cov = xy_cov.shape[0] > 0
    cdef int j
    if y.shape[0] != n or x_unc.shape[0] != n or y_unc.shape[0] != n or \
            (has_cov and xy_cov.shape[0] != n):
        raise ValueError("x, y, x_unc, y_unc, xy_cov must have one length")
    if bounds is None and variances:
        raise ValueError("bounds are needed with variances")
    if bounds is not None and bounds.shape[0] != 4:
        raise ValueError("bounds must have 4 values")
    d.n = n
    d.x = &x[0] if n > 0 else NULL
    d.y = &y[0] if n > 0 else NULL
    d.ux = &x_unc[0] if n > 0 else NULL
    d.uy = &y_unc[0] if n > 0 else NULL
    d.cov = &xy_cov[0] if has_cov else NULL
    d.variances = variances
    d.perpendicular = perpendicular
    d.has_bounds = bounds is not None
    for j in range(4):
        d.bnd[j] = bounds[j] if d.has_bounds else 0.0   # (unused without bounds)
    return 0


cdef const double *_plain_data(object a, Py_ssize_t n) except NULL:
    """The data of ``a`` when it is an aligned, C-contiguous 1-D float64
    ndarray of length n; else ValueError.  Read through numpy's C API: no
    buffer export and no memoryview object (microseconds of a call)."""
    cdef cnp.ndarray arr
    if type(a) is not np.ndarray:
        raise ValueError("not an ndarray")
    arr = <cnp.ndarray>a
    if (cnp.PyArray_NDIM(arr) != 1 or cnp.PyArray_DIMS(arr)[0] != n
            or cnp.PyArray_TYPE(arr) != cnp.NPY_DOUBLE
            or not cnp.PyArray_ISCARRAY_RO(arr)):
        raise ValueError("x, y, x_err, y_err must be contiguous float64 arrays of one length")
    return <const double *>cnp.PyArray_DATA(arr)


def line_loglike_one(double m, double b, double lam, x, y, x_err, y_err,
                     bint perpendicular, int n_threads):
    """line_loglike_batch for one theta = (m, b, lam) of standard deviations
    without covariance, bounds or box, with no arrays for theta and the
    result: returns ``(status, ln L)``, status as line_loglike_batch's.
    ``x``, ``y``, ``x_err``, ``y_err``: aligned, C-contiguous 1-D float64
    ndarrays of one length > 0 (else ValueError)."""
    cdef LLData d
    cdef double th[3]
    cdef double val = 0.0
    cdef Py_ssize_t status
    cdef Interrupt it
    cdef Py_ssize_t n
    cdef int j
    if type(x) is not np.ndarray or cnp.PyArray_NDIM(<cnp.ndarray>x) != 1:
        raise ValueError("x must be a 1-D ndarray")
    n = cnp.PyArray_DIMS(<cnp.ndarray>x)[0]
    if n == 0:
        raise ValueError("no stars")
    d.n = n
    d.x = _plain_data(x, n)
    d.y = _plain_data(y, n)
    d.ux = _plain_data(x_err, n)
    d.uy = _plain_data(y_err, n)
    d.cov = NULL
    d.variances = False
    d.perpendicular = perpendicular
    d.has_bounds = False
    for j in range(4):
        d.bnd[j] = 0.0
    th[0] = m
    th[1] = b
    th[2] = lam
    _ll_interrupt_init(&it, d.n)
    with nogil:
        status = _ll_run(&d, th, 1, NULL, &val, n_threads, &it)
    _raise_if_interrupted(&it)
    if status == -2:
        raise MemoryError()
    return status, val


cdef class LineKernel:
    """One line fit's stars held for repeated likelihood calls (LineModel).

    The data are checked by the caller, once: ``x_var``, ``y_var`` are the
    variances sigma_x^2, sigma_y^2, ``xy_cov`` the covariances (length 0:
    none), ``bounds`` = (min, max of x_var, min, max of y_var), ``box`` the
    prior box as in line_loglike_batch.  A call then converts theta and
    nothing else.  Not picklable (it holds pointers): LineModel rebuilds it.
    """
    cdef LLData d
    cdef double box[6]
    cdef object _keep    # the arrays the pointers point into

    def __init__(self, const double[::1] x, const double[::1] y,
                 const double[::1] x_var, const double[::1] y_var,
                 const double[::1] xy_cov, const double[::1] bounds,
                 const double[::1] box, bint perpendicular):
        cdef Py_ssize_t n = x.shape[0]
        cdef int j
        if n == 0 or y.shape[0] != n or x_var.shape[0] != n or y_var.shape[0] != n or \
                (xy_cov.shape[0] > 0 and xy_cov.shape[0] != n):
            raise ValueError("x, y, x_var, y_var, xy_cov must have one length > 0")
        if bounds.shape[0] != 4 or box.shape[0] != 6:
            raise ValueError("bounds must have 4 values and box 6")
        self._keep = (x, y, x_var, y_var, xy_cov)
        self.d.n = n
        self.d.x = &x[0]
        self.d.y = &y[0]
        self.d.ux = &x_var[0]
        self.d.uy = &y_var[0]
        self.d.cov = &xy_cov[0] if xy_cov.shape[0] > 0 else NULL
        self.d.variances = True
        self.d.perpendicular = perpendicular
        self.d.has_bounds = True
        for j in range(4):
            self.d.bnd[j] = bounds[j]
        for j in range(6):
            self.box[j] = box[j]

    def __reduce__(self):
        raise TypeError("LineKernel is not picklable; pickle the LineModel")

    def evaluate(self, const double[:, ::1] theta, bint with_prior, double[::1] out,
                 int n_threads):
        """ln L (+ ln prior when ``with_prior``: -inf outside the box) of each
        row of theta into out; returns the number of -inf rows evaluated."""
        return _ll_call(&self.d, theta, self.box if with_prior else NULL, out, n_threads)

    def evaluate_one(self, double m, double b, double lam, bint with_prior):
        """ln L (+ ln prior) at one theta, on one thread, as a float."""
        cdef double th[3]
        cdef double val
        cdef Py_ssize_t status
        cdef Interrupt it
        th[0] = m
        th[1] = b
        th[2] = lam
        _ll_interrupt_init(&it, self.d.n)
        with nogil:
            status = _ll_run(&self.d, th, 1, self.box if with_prior else NULL, &val, 1, &it)
        _raise_if_interrupted(&it)
        if status == -2:
            raise MemoryError()
        return val
