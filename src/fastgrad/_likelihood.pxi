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
# before the loop, from bounds on the data's variances (min/max of sigma_x^2
# and sigma_y^2), so the loop carries no range checks; a theta outside, or a
# chunk whose sum comes out non-finite, takes the plain loop (one division
# and one log per star).  Both agree to rounding: ~1e-15 relative.
#
# The lanes are written with GCC/Clang vector extensions: 4-double vectors
# where the build targets AVX, 2-double (SSE2, NEON) vectors otherwise, so
# the code does not depend on the auto-vectoriser (which, on the same
# algorithm written as Cython loops over lane arrays, kept the lanes on the
# stack; bench/ has the timings).  Lane j always handles the stars
# i = j (mod 8) and the lanes are combined in one fixed order.  Other
# compilers get the plain loop.
#
# Determinism.  Stars are cut into fixed chunks of LL_CHUNK, independent of
# the thread count; every (chunk, theta) pair is one work item whose partial
# sums are combined in chunk order afterwards, so a build gives bit-identical
# results for any number of threads.  (The AVX2 build contracts a*b + c into
# FMAs, so it differs from the baseline build by rounding, ~1e-15.)  Items
# are ordered chunk-major, theta-minor: a thread evaluates consecutive
# thetas on a chunk still in its cache, and a batch of walkers is spread
# over the threads even when N fits in one chunk.
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
    void fg_ll_chunk(const double *x, const double *y, const double *ex,
                     const double *ey, const double *cxy, Py_ssize_t n,
                     double m, double b, double s, int variances, int has_cov,
                     int blocked, double *res) noexcept nogil

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


cdef bint _ll_scan(const double *ex, const double *ey, const double *cxy,
                   Py_ssize_t n, int n_threads, double *bounds,
                   Interrupt *it) noexcept nogil:
    """Scan standard deviations: True if valid; bounds = min/max of sx^2, sy^2.
    (Interrupted: False, and the bounds are meaningless.)"""
    cdef Py_ssize_t n_chunks = (n + LL_CHUNK - 1) // LL_CHUNK
    cdef double *parts = <double *>malloc(max(n_chunks, 1) * FG_LL_NSCAN * sizeof(double))
    cdef double tot[FG_LL_NSCAN]
    cdef Py_ssize_t ch, start, cnt
    cdef bint has_cov = cxy != NULL
    if parts == NULL:
        return False
    for ch in prange(n_chunks, num_threads=n_threads, schedule='static'):
        if not _interrupted(it, LL_CHUNK):
            start = ch * LL_CHUNK
            cnt = n - start
            if cnt > LL_CHUNK:
                cnt = LL_CHUNK
            fg_ll_scan(ex + start, ey + start, cxy + start if has_cov else NULL, cnt,
                       has_cov, parts + ch * FG_LL_NSCAN)
    if fg_flag_get(&it.stop):
        free(parts)
        return False
    fg_ll_scan_init(tot)
    for ch in range(n_chunks):
        fg_ll_scan_merge(tot, parts + ch * FG_LL_NSCAN)
    free(parts)
    bounds[0] = tot[0] * tot[0]
    bounds[1] = tot[1] * tot[1]
    bounds[2] = tot[2] * tot[2]
    bounds[3] = tot[3] * tot[3]
    # negative errors, a star with both errors zero, |cov| > sx sy
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
    _interrupt_init(&it, POLL_STARS)
    with nogil:
        ok = _ll_scan(&x_err[0], &y_err[0], &xy_cov[0] if has_cov else NULL, n,
                      n_threads, &bounds[0], &it)
    _raise_if_interrupted(&it)
    return ok, np.asarray(bounds)


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
    cdef Py_ssize_t n = x.shape[0], n_theta = theta.shape[0]
    cdef Py_ssize_t n_chunks = (n + LL_CHUNK - 1) // LL_CHUNK
    cdef Py_ssize_t n_items = n_chunks * n_theta
    cdef bint has_cov = xy_cov.shape[0] > 0
    cdef bint has_box = box is not None
    cdef const double *cov_ptr = &xy_cov[0] if has_cov else NULL
    cdef double bnd[4]
    cdef double *parts
    cdef double *svals
    cdef Py_ssize_t w, t, ch, start, cnt, j, n_inf = 0
    cdef double m, lam, s, chi, lg, val, vlo, vhi
    cdef bint ok = True, act
    cdef Interrupt it
    if theta.shape[1] != 3 or out.shape[0] != n_theta:
        raise ValueError("theta must be (n, 3) and out (n,)")
    if y.shape[0] != n or x_unc.shape[0] != n or y_unc.shape[0] != n or \
            (has_cov and xy_cov.shape[0] != n):
        raise ValueError("x, y, x_unc, y_unc, xy_cov must have one length")
    if bounds is None and variances:
        raise ValueError("bounds are needed with variances")
    if bounds is not None and bounds.shape[0] != 4:
        raise ValueError("bounds must have 4 values")
    if has_box and box.shape[0] != 6:
        raise ValueError("box must have 6 values")
    if n_theta == 0:
        return 0
    # per theta: s, whether it is evaluated, whether it takes the blocked path
    parts = <double *>malloc((n_items + n_theta) * 3 * sizeof(double))
    if parts == NULL:
        raise MemoryError()
    svals = parts + n_items * 3
    _interrupt_init(&it, POLL_LL)
    with nogil:
        if n > 0 and bounds is None:
            ok = _ll_scan(&x_unc[0], &y_unc[0], cov_ptr, n, n_threads, bnd, &it)
        elif n > 0:
            for t in range(4):
                bnd[t] = bounds[t]
        if ok:
            for t in range(n_theta):
                m = theta[t, 0]
                lam = theta[t, 2]
                act = lam >= 0.0
                for j in range(3):
                    act = act and fabs(theta[t, j]) < INFINITY
                    if has_box:
                        act = act and box[2 * j] <= theta[t, j] <= box[2 * j + 1]
                s = lam * lam * (1.0 + m * m) if perpendicular else lam * lam
                svals[3 * t] = s
                svals[3 * t + 1] = act
                # bounds of Sigma_i^2 = v^T S_i v + s over the stars, v = (-m, 1):
                # v^T S v lies in [0, (1 + m^2) tr S] for a valid S (less a
                # hair for the LINE_COV_RTOL the checks let through), and is
                # m^2 sx^2 + sy^2 exactly without covariance
                if has_cov:
                    vhi = (1.0 + m * m) * (bnd[1] + bnd[3])
                    vlo = s - 1e-11 * vhi
                    vhi = vhi + s
                else:
                    vlo = m * m * bnd[0] + bnd[2] + s
                    vhi = m * m * bnd[1] + bnd[3] + s
                # may this theta take the blocked path?  (a factor 2 of margin
                # covers the rounding of the bounds; NaN bounds say no)
                svals[3 * t + 2] = (vlo >= 2.0 * FG_LL_VAR_MIN and
                                    vhi <= 0.5 * FG_LL_VAR_MAX)
            for w in prange(n_items, num_threads=n_threads, schedule='static'):
                ch = w // n_theta
                t = w - ch * n_theta
                if svals[3 * t + 1] != 0.0 and not _interrupted(&it, LL_CHUNK):
                    start = ch * LL_CHUNK
                    cnt = n - start
                    if cnt > LL_CHUNK:
                        cnt = LL_CHUNK
                    fg_ll_chunk(&x[start], &y[start], &x_unc[start], &y_unc[start],
                                cov_ptr + start if has_cov else NULL, cnt,
                                theta[t, 0], theta[t, 1], svals[3 * t], variances,
                                has_cov, svals[3 * t + 2] != 0.0, parts + 2 * w)
            # combine the chunks in a fixed order
            for t in range(n_theta):
                if svals[3 * t + 1] == 0.0:
                    out[t] = -INFINITY
                    continue
                chi = 0.0
                lg = 0.0
                for ch in range(n_chunks):
                    chi = chi + parts[2 * (ch * n_theta + t)]
                    lg = lg + parts[2 * (ch * n_theta + t) + 1]
                val = -0.5 * (chi + lg + n * LN_2PI)
                # NaN (inf - inf) and +inf are no likelihoods: report -inf
                if val < INFINITY and val > -INFINITY:
                    out[t] = val
                else:
                    out[t] = -INFINITY
                    n_inf = n_inf + 1
    free(parts)
    _raise_if_interrupted(&it)
    return n_inf if ok else -1


