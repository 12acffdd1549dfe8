# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False, cpow=True
"""fastgrad's compiled kernels.

Small kernels on typed memoryviews, free of Python objects, GIL released, OpenMP
over stars.  They trust their inputs: the Python modules that call them
(transform.py, fitting.py, azimuthal.py) validate and convert first.
"""
from cython.parallel cimport prange, parallel
from libc.math cimport sqrt, fabs, sin, cos, log, INFINITY, NAN
from libc.stdint cimport uint64_t, int8_t

cdef extern from "_openmp_shim.h" nogil:
    int FG_OPENMP_ENABLED
    int omp_get_max_threads()
    int omp_get_num_procs()
    int omp_get_thread_num()
    int omp_get_thread_limit()
    int fg_flag_get(const int *p)
    void fg_flag_raise(int *p)

cdef extern from "_vecmath.h" nogil:
    uint64_t fg_stream_key(uint64_t seed, uint64_t star_id)
    double fg_uniform(uint64_t key, uint64_t counter)
    void fg_normal_pair(uint64_t key, uint64_t counter, double *z0, double *z1)
    void fg_normal_pair_f(uint64_t key, uint64_t counter, double *z0, double *z1)
    double fg_atan2(double y, double x)
    double FG_HALF_PI


# --------------------------------------------------------------------------
# OpenMP introspection (used by _threads.py and show_config)
# --------------------------------------------------------------------------
cdef extern from *:
    """
    static int fg_cpu_has_avx2_fma(void)
    {
    #if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    #else
        return 0;
    #endif
    }
    """
    int fg_cpu_has_avx2_fma() nogil


def cpu_has_avx2_fma():
    """True when this CPU (and OS) can run the AVX2+FMA build of the kernels."""
    return bool(fg_cpu_has_avx2_fma())


def openmp_enabled():
    """True when the kernels were compiled with OpenMP."""
    return bool(FG_OPENMP_ENABLED)


def openmp_max_threads():
    """omp_get_max_threads(): follows OMP_NUM_THREADS and threadpoolctl limits."""
    return omp_get_max_threads()


def openmp_thread_limit():
    """omp_get_thread_limit(): OMP_THREAD_LIMIT, the most threads the OpenMP
    runtime runs at once (INT_MAX when unset or without OpenMP)."""
    return omp_get_thread_limit()


# --------------------------------------------------------------------------
# Ctrl-C inside the kernels
# --------------------------------------------------------------------------
# Python runs its signal handlers (SIGINT -> KeyboardInterrupt) only between
# bytecodes, so a kernel that keeps the GIL released for seconds would hold
# Ctrl-C back until it returns.  Inside their OpenMP loops the long kernels
# call _interrupted(&it, work) once per work item: OpenMP's thread 0, which is
# the calling Python thread, takes the GIL and runs PyErr_CheckSignals() each
# time it has done ``it.every`` units of work (a few tens of ms of computing),
# and raises ``it.stop`` when a handler raised; every thread skips its
# remaining items once ``stop`` is up, and the kernel, back under the GIL,
# returns the handler's exception.  Which items run, and on which thread,
# does not depend on the checks, so the numbers of a run that is not
# interrupted are unchanged.  Only the main thread runs signal handlers: on
# other threads (Dask workers) the checks never take the GIL.
import threading as _threading

cdef extern from *:
    """
    /* the caller's exception is already set: make Cython propagate it */
    static int fg_propagate_error(void) { return -1; }
    """
    int fg_check_signals "PyErr_CheckSignals" ()
    int fg_propagate_error() except -1

cdef struct Interrupt:
    int stop             # raised by thread 0, read by every thread
    int enabled          # the caller is Python's main thread
    char pad[120]        # keeps ``work`` (written by thread 0) off stop's cache line
    Py_ssize_t work      # thread 0's work since its last check
    Py_ssize_t every     # check after this much work


cdef void _interrupt_init(Interrupt *it, Py_ssize_t every):
    """Called with the GIL, before the kernel releases it."""
    it.stop = 0
    it.enabled = _threading.current_thread() is _threading.main_thread()
    it.work = 0
    it.every = every // _poll_divisor if every >= _poll_divisor else 1


cdef int _signals_raised() noexcept with gil:
    # a raising handler leaves its exception set on this (the caller's) thread
    return fg_check_signals() != 0


cdef inline int _interrupted(Interrupt *it, Py_ssize_t work) noexcept nogil:
    """True when the loop should stop (a signal handler raised)."""
    if fg_flag_get(&it.stop):
        return 1
    if it.enabled and omp_get_thread_num() == 0:
        it.work = it.work + work
        if it.work >= it.every:
            it.work = 0
            if _signals_raised():
                fg_flag_raise(&it.stop)
                return 1
    return 0


cdef int _raise_if_interrupted(Interrupt *it) except -1:
    """With the GIL, after the loop: the handler's exception, if it raised."""
    if it.stop:
        return fg_propagate_error()
    return 0


cdef Py_ssize_t _poll_divisor = 1


def _set_interrupt_checks(Py_ssize_t divisor):
    """Check for signals ``divisor`` times as often (1: the default; a huge
    value: at every work item).  For the tests, which show that the checks
    change no number; returns the previous divisor."""
    global _poll_divisor
    if divisor < 1:
        raise ValueError("divisor must be >= 1")
    old = _poll_divisor
    _poll_divisor = divisor
    return old

# Work between two checks: draws (Monte-Carlo transform), stars (nominal
# transform, annulus means, sort passes), stars x thetas (line likelihood).
# Each is a few tens of ms on one core: a check (taking the GIL) costs ~1 us.
cdef Py_ssize_t POLL_DRAWS = 1 << 20
cdef Py_ssize_t POLL_STARS = 1 << 20
cdef Py_ssize_t POLL_LL = 1 << 25


# --------------------------------------------------------------------------
# ICRS -> Galactocentric, nominal and Monte Carlo (METHOD.md section 3)
# --------------------------------------------------------------------------
# Output columns of the transform kernels, in this order.
N_COORDS = 9   # x, y, z, vx, vy, vz, R, phi, absz

cdef enum:
    LANES = 8  # draws evaluated side by side: two AVX2 vectors of doubles
    NOMINAL_SUPER = 32  # blocks of LANES stars per work item of nominal_transform

# A draw of the (ra, dec) offsets beyond this bound (rad) uses exact sines;
# below it the small-angle series below is exact to double precision.
cdef double SMALL_ANGLE = 1e-2
# |z| of a Box-Muller normal from 52-bit uniforms never exceeds 8.5.
cdef double MAX_NORMAL = 8.6

cdef struct Frame:
    double A[3][3]   # ICRS -> Galactocentric rotation
    double t[3]      # Galactocentric position of the ICRS origin (kpc)
    double v[3]      # Galactocentric velocity of the ICRS origin (km/s)
    double k         # km/s per (mas/yr * kpc)


cdef inline void _star_nominal(const Frame *f, double sa, double ca, double sd, double cd,
                               double d, double pmra, double pmdec, double rv,
                               double *o) noexcept nogil:
    """Position and velocity of one star from sines/cosines of ra, dec."""
    cdef double ux = cd * ca, uy = cd * sa, uz = sd
    # unit vectors of increasing ra and dec
    cdef double ax = -sa, ay = ca
    cdef double bx = -sd * ca, by = -sd * sa, bz = cd
    cdef double kd = f.k * d
    cdef double px = d * ux, py = d * uy, pz = d * uz
    cdef double qx = rv * ux + kd * (pmra * ax + pmdec * bx)
    cdef double qy = rv * uy + kd * (pmra * ay + pmdec * by)
    cdef double qz = rv * uz + kd * (pmdec * bz)
    o[0] = f.A[0][0] * px + f.A[0][1] * py + f.A[0][2] * pz + f.t[0]
    o[1] = f.A[1][0] * px + f.A[1][1] * py + f.A[1][2] * pz + f.t[1]
    o[2] = f.A[2][0] * px + f.A[2][1] * py + f.A[2][2] * pz + f.t[2]
    o[3] = f.A[0][0] * qx + f.A[0][1] * qy + f.A[0][2] * qz + f.v[0]
    o[4] = f.A[1][0] * qx + f.A[1][1] * qy + f.A[1][2] * qz + f.v[1]
    o[5] = f.A[2][0] * qx + f.A[2][1] * qy + f.A[2][2] * qz + f.v[2]


cdef inline void _frame_from(Frame *f, const double[:, ::1] A, const double[::1] t,
                             const double[::1] v, double k) noexcept:
    cdef int a, b
    for a in range(3):
        for b in range(3):
            f.A[a][b] = A[a, b]
        f.t[a] = t[a]
        f.v[a] = v[a]
    f.k = k


def nominal_transform(const double[::1] ra, const double[::1] dec, const double[::1] dist,
                      const double[::1] pmra, const double[::1] pmdec, const double[::1] rv,
                      const double[:, ::1] A, const double[::1] t, const double[::1] v,
                      double k, double[:, ::1] out, int n_threads):
    """Transform of central values only: ``out`` (9, N) as in mc_transform.

    Stars go through in blocks of LANES so that the sines and cosines of ra,
    dec are vectorised (libmvec); the last block repeats its final star.
    """
    cdef Py_ssize_t n = ra.shape[0], ib, nblk = (n + LANES - 1) // LANES
    cdef Py_ssize_t isup, ib_end, nsup = (nblk + NOMINAL_SUPER - 1) // NOMINAL_SUPER
    cdef Frame f
    cdef Interrupt it
    if n == 0:
        return
    _frame_from(&f, A, t, v, k)
    _interrupt_init(&it, POLL_STARS)
    with nogil:
        # work items of NOMINAL_SUPER blocks: one interrupt check per item
        for isup in prange(nsup, num_threads=n_threads, schedule='static'):
            if not _interrupted(&it, NOMINAL_SUPER * LANES):
                ib_end = (isup + 1) * NOMINAL_SUPER
                if ib_end > nblk:
                    ib_end = nblk
                for ib in range(isup * NOMINAL_SUPER, ib_end):
                    _nominal_block(&f, &ra[0], &dec[0], &dist[0], &pmra[0], &pmdec[0],
                                   &rv[0], ib * LANES, n, &out[0, 0])
    _raise_if_interrupted(&it)


cdef void _nominal_block(const Frame *f, const double *ra, const double *dec,
                         const double *dist, const double *pmra, const double *pmdec,
                         const double *rv, Py_ssize_t first, Py_ssize_t n,
                         double *out) noexcept nogil:
    # the block's scratch arrays are locals of this function: private to the
    # thread (arrays declared outside a prange body would be shared)
    cdef double sa[LANES]
    cdef double ca[LANES]
    cdef double sd[LANES]
    cdef double cd[LANES]
    cdef double o[6]
    cdef Py_ssize_t idx[LANES]
    cdef Py_ssize_t i
    cdef int l, q
    for l in range(LANES):
        idx[l] = first + l if first + l < n else n - 1
    for l in range(LANES):
        sa[l] = sin(ra[idx[l]])
        ca[l] = sin(ra[idx[l]] + FG_HALF_PI)
        sd[l] = sin(dec[idx[l]])
        cd[l] = sin(dec[idx[l]] + FG_HALF_PI)
    for l in range(LANES):
        i = idx[l]
        _star_nominal(f, sa[l], ca[l], sd[l], cd[l], dist[i], pmra[i], pmdec[i], rv[i], o)
        for q in range(6):
            out[q * n + i] = o[q]
        out[6 * n + i] = sqrt(o[0] * o[0] + o[1] * o[1])
        out[7 * n + i] = fg_atan2(o[1], -o[0])
        out[8 * n + i] = fabs(o[2])


cdef inline bint _cholesky4(double c[4][4], double L[4][4]) noexcept nogil:
    """Lower Cholesky factor of a 4x4 covariance; False if not positive
    semi-definite.  A zero variance gives a zero column (a fixed value)."""
    cdef int i, j, m
    cdef double s
    for i in range(4):
        for j in range(4):
            L[i][j] = 0.0
    for j in range(4):
        s = c[j][j]
        for m in range(j):
            s = s - L[j][m] * L[j][m]
        if s < -1e-12 * c[j][j] or s != s:
            return False
        if s <= 0.0:
            # degenerate direction: this draw component is fixed
            for i in range(j + 1, 4):
                s = c[i][j]
                for m in range(j):
                    s = s - L[i][m] * L[j][m]
                if fabs(s) > 1e-12 * sqrt(c[i][i] * c[j][j]) + 1e-300:
                    return False
            continue
        L[j][j] = sqrt(s)
        for i in range(j + 1, 4):
            s = c[i][j]
            for m in range(j):
                s = s - L[i][m] * L[j][m]
            L[i][j] = s / L[j][j]
    return True


def mc_transform(const double[::1] ra, const double[::1] dec, const double[::1] dist,
                 const double[::1] pmra, const double[::1] pmdec, const double[::1] rv,
                 const double[::1] ra_err, const double[::1] dec_err,
                 const double[::1] dist_err, const double[::1] pmra_err,
                 const double[::1] pmdec_err, const double[::1] rv_err,
                 const double[:, ::1] corr, const uint64_t[::1] ids,
                 const double[:, ::1] A, const double[::1] t, const double[::1] v,
                 double k, Py_ssize_t n_samples, uint64_t seed,
                 double[:, ::1] out, int8_t[::1] status, int n_threads):
    """Nominal transform and Monte-Carlo standard deviations, per star.

    Angles in rad (ra_err is sigma(ra cos dec)), distance in kpc, proper motions
    in mas/yr, radial velocity in km/s.  ``corr`` is (N, 6) correlation
    coefficients (ra_dec, ra_pmra, ra_pmdec, dec_pmra, dec_pmdec, pmra_pmdec)
    or (0, 6) for independent draws.  ``out`` is (18, N): the nine nominal
    coordinates then their nine standard deviations (zero when n_samples is
    0).  ``status[i]`` is 1 where the covariance of star i is not positive
    semi-definite, 2 where its positional errors exceed the small-angle bound
    (~4 arcmin); such rows are NaN.
    """
    cdef Py_ssize_t n = ra.shape[0], i
    cdef Frame f
    cdef Interrupt it
    cdef bint has_corr = corr.shape[0] > 0
    _frame_from(&f, A, t, v, k)
    _interrupt_init(&it, POLL_DRAWS)
    with nogil:
        for i in prange(n, num_threads=n_threads, schedule='static', chunksize=64):
            if not _interrupted(&it, n_samples):
                status[i] = _mc_star(&f, ra[i], dec[i], dist[i], pmra[i], pmdec[i], rv[i],
                                     ra_err[i], dec_err[i], dist_err[i], pmra_err[i],
                                     pmdec_err[i], rv_err[i],
                                     &corr[i, 0] if has_corr else NULL,
                                     ids[i], seed, n_samples, &out[0, i], n)
    _raise_if_interrupted(&it)


cdef inline double _small_sin(double x) noexcept nogil:
    # Taylor series, exact to double precision for |x| <= 1e-2 rad
    # (multiplications by constant coefficients, no divisions)
    cdef double x2 = x * x
    return x + x * x2 * (-1.6666666666666666e-01 + x2 * (8.3333333333333332e-03
                        + x2 * (-1.9841269841269841e-04)))


cdef inline double _small_cos(double x) noexcept nogil:
    cdef double x2 = x * x
    return 1.0 + x2 * (-0.5 + x2 * (4.1666666666666664e-02 + x2 * (
        -1.3888888888888889e-03 + x2 * 2.4801587301587302e-05)))


cdef int8_t _mc_star(const Frame *f, double ra, double dec, double d, double pmra,
                     double pmdec, double rv, double s_ra, double s_dec, double s_d,
                     double s_pmra, double s_pmdec, double s_rv, const double *rho,
                     uint64_t star_id, uint64_t seed, Py_ssize_t K,
                     double *o, Py_ssize_t os) noexcept nogil:
    cdef double sa = sin(ra), ca = cos(ra), sd = sin(dec), cd = cos(dec)
    cdef double nom[6]
    cdef int q, l, j, a, b
    _star_nominal(f, sa, ca, sd, cd, d, pmra, pmdec, rv, nom)
    cdef double x0 = nom[0], y0 = nom[1], z0 = nom[2]
    cdef double R0 = sqrt(x0 * x0 + y0 * y0)
    for q in range(6):
        o[(q) * os] = nom[q]
    o[(6) * os] = R0
    o[(7) * os] = fg_atan2(y0, -x0)
    o[(8) * os] = fabs(z0)
    for q in range(9, 18):
        o[(q) * os] = 0.0
    if K <= 0:
        return 0

    # ---- covariance of (ra cos dec, dec, pmra, pmdec) and its Cholesky factor
    cdef double C[4][4]
    cdef double L[4][4]
    cdef double sig[4]
    sig[0] = s_ra; sig[1] = s_dec; sig[2] = s_pmra; sig[3] = s_pmdec
    for a in range(4):
        for b in range(4):
            C[a][b] = sig[a] * sig[b] if a == b else 0.0
    if rho != NULL:
        C[0][1] = C[1][0] = rho[0] * s_ra * s_dec
        C[0][2] = C[2][0] = rho[1] * s_ra * s_pmra
        C[0][3] = C[3][0] = rho[2] * s_ra * s_pmdec
        C[1][2] = C[2][1] = rho[3] * s_dec * s_pmra
        C[1][3] = C[3][1] = rho[4] * s_dec * s_pmdec
        C[2][3] = C[3][2] = rho[5] * s_pmra * s_pmdec
    if not _cholesky4(C, L):
        for q in range(18):
            o[(q) * os] = NAN
        return 1
    # offsets in ra are offsets in (ra cos dec) / cos dec
    cdef double icd = 1.0 / cd
    cdef double L00 = L[0][0] * icd, L10 = L[1][0], L11 = L[1][1]
    cdef double L20 = L[2][0], L21 = L[2][1], L22 = L[2][2]
    cdef double L30 = L[3][0], L31 = L[3][1], L32 = L[3][2], L33 = L[3][3]
    # The offsets' sines and cosines come from a series exact to double
    # precision below SMALL_ANGLE rad; Box-Muller normals never exceed
    # MAX_NORMAL, so this bounds every draw.  Larger positional errors (> ~4
    # arcmin) are not astrometric errors: the caller reports them (status 2).
    if (MAX_NORMAL * fabs(L00) > SMALL_ANGLE or
            MAX_NORMAL * (fabs(L10) + fabs(L11)) > SMALL_ANGLE):
        for q in range(18):
            o[(q) * os] = NAN
        return 2

    cdef uint64_t key = fg_stream_key(seed, star_id)
    cdef double s1[9][LANES]
    cdef double s2[9][LANES]
    cdef double zb[6][LANES]
    cdef double db[LANES]
    cdef double wl[LANES]
    for q in range(9):
        for l in range(LANES):
            s1[q][l] = 0.0
            s2[q][l] = 0.0
    # shift of the accumulated sums: the nominal values, close to the mean,
    # so the one-pass variance does not cancel
    cdef double absz0 = fabs(z0)
    cdef double nx = -x0, ny = y0
    cdef Py_ssize_t blk, kk
    cdef uint64_t c, attempt
    cdef double w, e0, e1, e2, e3, dra, ddec, sdr, cdr, sdd, cdd
    cdef double sa_k, ca_k, sd_k, cd_k, dk, vk, pmra_k, pmdec_k
    cdef double ux, uy, uz, ax, ay, bx, by, bz, kd, px, py, pz, qx, qy, qz
    cdef double x, y, z, vx, vy, vz, R, dphi, t0, t1
    cdef Py_ssize_t ib, nblk = (K + LANES - 1) // LANES
    for ib in range(nblk):
        blk = ib * LANES
        # pass 1: six standard normals per draw
        for l in range(LANES):
            c = <uint64_t>(blk + l) * 3
            fg_normal_pair_f(key, c, &zb[0][l], &zb[1][l])
            fg_normal_pair_f(key, c + 1, &zb[2][l], &zb[3][l])
            fg_normal_pair_f(key, c + 2, &zb[4][l], &zb[5][l])
            db[l] = d + s_d * zb[4][l]
            wl[l] = 1.0 if blk + l < K else 0.0  # 0: padding lane of the last block
        # pass 2 (rare, scalar): redraw non-positive distances from a
        # separate part of the stream, so the other draws are unchanged
        for l in range(LANES):
            attempt = 0
            while db[l] <= 0.0:
                kk = blk + l
                fg_normal_pair(key, (<uint64_t>1 << 62) + <uint64_t>kk * 128 + 2 * attempt,
                               &t0, &t1)
                db[l] = d + s_d * t0
                attempt = attempt + 1
                if attempt >= 64:
                    db[l] = d  # probability < 2**-64: keep the central value
        # pass 3: transform each draw and accumulate shifted sums
        for l in range(LANES):
            w = wl[l]
            e0 = zb[0][l]
            e1 = zb[1][l]
            e2 = zb[2][l]
            e3 = zb[3][l]
            dra = L00 * e0
            ddec = L10 * e0 + L11 * e1
            pmra_k = pmra + L20 * e0 + L21 * e1 + L22 * e2
            pmdec_k = pmdec + L30 * e0 + L31 * e1 + L32 * e2 + L33 * e3
            sdr = _small_sin(dra)
            cdr = _small_cos(dra)
            sdd = _small_sin(ddec)
            cdd = _small_cos(ddec)
            sa_k = sa * cdr + ca * sdr
            ca_k = ca * cdr - sa * sdr
            sd_k = sd * cdd + cd * sdd
            cd_k = cd * cdd - sd * sdd
            dk = db[l]
            vk = rv + s_rv * zb[5][l]
            ux = cd_k * ca_k
            uy = cd_k * sa_k
            uz = sd_k
            ax = -sa_k
            ay = ca_k
            bx = -sd_k * ca_k
            by = -sd_k * sa_k
            bz = cd_k
            kd = f.k * dk
            px = dk * ux
            py = dk * uy
            pz = dk * uz
            qx = vk * ux + kd * (pmra_k * ax + pmdec_k * bx)
            qy = vk * uy + kd * (pmra_k * ay + pmdec_k * by)
            qz = vk * uz + kd * (pmdec_k * bz)
            x = f.A[0][0] * px + f.A[0][1] * py + f.A[0][2] * pz + f.t[0]
            y = f.A[1][0] * px + f.A[1][1] * py + f.A[1][2] * pz + f.t[1]
            z = f.A[2][0] * px + f.A[2][1] * py + f.A[2][2] * pz + f.t[2]
            vx = f.A[0][0] * qx + f.A[0][1] * qy + f.A[0][2] * qz + f.v[0]
            vy = f.A[1][0] * qx + f.A[1][1] * qy + f.A[1][2] * qz + f.v[1]
            vz = f.A[2][0] * qx + f.A[2][1] * qy + f.A[2][2] * qz + f.v[2]
            R = sqrt(x * x + y * y)
            # azimuth relative to the nominal one, wrapped to (-pi, pi]:
            # no jump at the anticentre
            dphi = fg_atan2(nx * y - ny * (-x), nx * (-x) + ny * y)
            t0 = (x - x0) * w
            s1[0][l] += t0
            s2[0][l] += t0 * t0
            t0 = (y - y0) * w
            s1[1][l] += t0
            s2[1][l] += t0 * t0
            t0 = (z - z0) * w
            s1[2][l] += t0
            s2[2][l] += t0 * t0
            t0 = (vx - nom[3]) * w
            s1[3][l] += t0
            s2[3][l] += t0 * t0
            t0 = (vy - nom[4]) * w
            s1[4][l] += t0
            s2[4][l] += t0 * t0
            t0 = (vz - nom[5]) * w
            s1[5][l] += t0
            s2[5][l] += t0 * t0
            t0 = (R - R0) * w
            s1[6][l] += t0
            s2[6][l] += t0 * t0
            t0 = dphi * w
            s1[7][l] += t0
            s2[7][l] += t0 * t0
            t0 = (fabs(z) - absz0) * w
            s1[8][l] += t0
            s2[8][l] += t0 * t0
    # combine the lanes in a fixed order: the result does not depend on threads
    cdef double m1, m2
    for q in range(9):
        m1 = 0.0
        m2 = 0.0
        for l in range(LANES):
            m1 = m1 + s1[q][l]
            m2 = m2 + s2[q][l]
        m1 = m1 / K
        if K > 1:
            t1 = (m2 - K * m1 * m1) / (K - 1)
            # rounding can make t1 slightly negative: 0; an overflow (NaN)
            # stays NaN, for the caller's check, never a perfectly known value
            o[(9 + q) * os] = sqrt(t1) if t1 > 0.0 else (0.0 if t1 == t1 else NAN)
        else:
            o[(9 + q) * os] = 0.0
    return 0


# ==========================================================================
# Marginalised straight-line likelihood (METHOD.md section 5; issue 3)
# ==========================================================================
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
# stack and ran 2-3x slower).  Measured here: 0.34 ns per star and theta on
# one core with AVX2, 0.59 with SSE2; numpy's formula takes ~4 ns.
# Lane j always handles the
# stars i = j (mod 8) and the lanes are combined in one fixed order.  Other
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
from libc.stdlib cimport malloc, free
import numpy as np

cdef extern from *:
    """
    #include <math.h>
    #include <stddef.h>
    #include <stdint.h>
    #include <string.h>

    #define FG_LL_LANES 8
    #define FG_LL_PROD 16
    #define FG_LL_VAR_MIN 1e-19
    #define FG_LL_VAR_MAX 1e19
    #define FG_LL_COV_RTOL 1e-12
    /* ln 2 split so that (integer) * FG_LN2_HI is exact (fdlibm's constants) */
    #define FG_LN2_HI 6.93147180369123816490e-01
    #define FG_LN2_LO 1.90821492927058770002e-10

    #if defined(__GNUC__) || defined(__clang__)
    #define FG_ALWAYS_INLINE static inline __attribute__((always_inline))
    #define FG_LL_VECTOR 1
    #else
    #define FG_ALWAYS_INLINE static inline
    #define FG_LL_VECTOR 0
    #endif

    /* Sigma_i^2; ex, ey are variances (variances != 0) or standard deviations */
    FG_ALWAYS_INLINE double fg_ll_var(const double *ex, const double *ey,
                                      const double *cxy, ptrdiff_t i, double m,
                                      double s, int variances, int has_cov)
    {
        double var = variances ? (m * m) * ex[i] + ey[i] + s
                               : (m * m) * (ex[i] * ex[i]) + ey[i] * ey[i] + s;
        if (has_cov)
            var = var - (2.0 * m) * cxy[i];
        return var;
    }

    /* Stars i0 .. n-1 one by one: one division and one log each.
     * chi = +inf when some Sigma^2 <= 0 (a degenerate likelihood). */
    FG_ALWAYS_INLINE void fg_ll_exact(const double *x, const double *y,
                                      const double *ex, const double *ey,
                                      const double *cxy, ptrdiff_t i0, ptrdiff_t n,
                                      double m, double b, double s, int variances,
                                      int has_cov, double *chi, double *lg)
    {
        double c = 0.0, l = 0.0;
        for (ptrdiff_t i = i0; i < n; i++) {
            double var = fg_ll_var(ex, ey, cxy, i, m, s, variances, has_cov);
            if (!(var > 0.0)) {
                c = INFINITY;
                break;
            }
            double d = y[i] - (m * x[i] + b);
            c += d * d / var;
            l += log(var);
        }
        *chi = c;
        *lg = l;
    }

    /* Scan of the standard deviations sx = ex, sy = ey (and covariances):
     * out = {min sx, max sx, min sy, max sy, min(sx + sy),
     *        max(sxy^2 - (1 + rtol) sx^2 sy^2) (-inf without covariance)}.
     * NaNs are skipped (they show up in the likelihood instead). */
    #define FG_LL_NSCAN 6
    FG_ALWAYS_INLINE void fg_ll_scan_init(double *out)
    {
        out[0] = out[2] = out[4] = INFINITY;
        out[1] = out[3] = out[5] = -INFINITY;
    }

    /* fold the scan `b` into `a` */
    FG_ALWAYS_INLINE void fg_ll_scan_merge(double *a, const double *b)
    {
        for (int j = 0; j < FG_LL_NSCAN; j++) {
            int is_max = j == 1 || j == 3 || j == 5;
            if (is_max ? b[j] > a[j] : b[j] < a[j])
                a[j] = b[j];
        }
    }

    FG_ALWAYS_INLINE void fg_ll_scan1(const double *ex, const double *ey,
                                      const double *cxy, ptrdiff_t i, int has_cov,
                                      double *out)
    {
        double v[FG_LL_NSCAN];
        v[0] = v[1] = ex[i];
        v[2] = v[3] = ey[i];
        v[4] = ex[i] + ey[i];
        v[5] = has_cov ? cxy[i] * cxy[i] - (ex[i] * ex[i]) * (ey[i] * ey[i])
                                           * (1.0 + FG_LL_COV_RTOL)
                       : -INFINITY;
        fg_ll_scan_merge(out, v);
    }

    #if FG_LL_VECTOR
    /* Vector width in doubles: 4 where the build targets AVX, else 2. */
    #if defined(__AVX__)
    #define FG_VW 4
    #else
    #define FG_VW 2
    #endif
    #define FG_NV (FG_LL_LANES / FG_VW)
    #define FG_LL_VW FG_VW
    typedef double fg_vd __attribute__((vector_size(8 * FG_VW)));
    typedef uint64_t fg_vu __attribute__((vector_size(8 * FG_VW)));
    typedef int64_t fg_vi __attribute__((vector_size(8 * FG_VW)));

    FG_ALWAYS_INLINE fg_vd fg_load(const double *p)
    {
        fg_vd v;
        memcpy(&v, p, sizeof v);  /* unaligned load */
        return v;
    }
    FG_ALWAYS_INLINE fg_vd fg_splat(double a) { return (fg_vd){0} + a; }
    /* minimum and maximum (the second operand where one is NaN) */
    #if defined(__AVX__)
    #include <immintrin.h>
    #define fg_vmin(a, b) ((fg_vd)_mm256_min_pd((__m256d)(a), (__m256d)(b)))
    #define fg_vmax(a, b) ((fg_vd)_mm256_max_pd((__m256d)(a), (__m256d)(b)))
    #elif defined(__SSE2__)
    #include <emmintrin.h>
    #define fg_vmin(a, b) ((fg_vd)_mm_min_pd((__m128d)(a), (__m128d)(b)))
    #define fg_vmax(a, b) ((fg_vd)_mm_max_pd((__m128d)(a), (__m128d)(b)))
    #else
    FG_ALWAYS_INLINE fg_vd fg_vmin(fg_vd a, fg_vd b)
    {
        fg_vi k = a < b;
        return (fg_vd)((k & (fg_vi)a) | (~k & (fg_vi)b));
    }
    FG_ALWAYS_INLINE fg_vd fg_vmax(fg_vd a, fg_vd b)
    {
        fg_vi k = a > b;
        return (fg_vd)((k & (fg_vi)a) | (~k & (fg_vi)b));
    }
    #endif

    /* FG_NV independent sets of accumulators: a min/max chain has a latency
     * of 3-4 cycles per vector, a single set would wait on it */
    FG_ALWAYS_INLINE void fg_ll_scan_impl(const double *ex, const double *ey,
                                          const double *cxy, ptrdiff_t n,
                                          int has_cov, double *out)
    {
        const fg_vd inf = fg_splat(INFINITY), rtol1 = fg_splat(1.0 + FG_LL_COV_RTOL);
        fg_vd acc[FG_NV][FG_LL_NSCAN];
        for (int h = 0; h < FG_NV; h++) {
            acc[h][0] = acc[h][2] = acc[h][4] = inf;
            acc[h][1] = acc[h][3] = acc[h][5] = -inf;
        }
        const ptrdiff_t ng = n / FG_LL_LANES;
        for (ptrdiff_t k = 0; k < ng; k++) {
            for (int h = 0; h < FG_NV; h++) {
                const ptrdiff_t o = k * FG_LL_LANES + h * FG_VW;
                const fg_vd a = fg_load(ex + o), c = fg_load(ey + o);
                acc[h][0] = fg_vmin(a, acc[h][0]);
                acc[h][1] = fg_vmax(a, acc[h][1]);
                acc[h][2] = fg_vmin(c, acc[h][2]);
                acc[h][3] = fg_vmax(c, acc[h][3]);
                if (has_cov) {
                    const fg_vd cv = fg_load(cxy + o);
                    acc[h][5] = fg_vmax(cv * cv - (a * a) * (c * c) * rtol1, acc[h][5]);
                }
            }
        }
        fg_ll_scan_init(out);
        for (int h = 0; h < FG_NV; h++) {
            for (int l = 0; l < FG_VW; l++) {
                double lane[FG_LL_NSCAN];
                for (int j = 0; j < FG_LL_NSCAN; j++)
                    lane[j] = acc[h][j][l];
                fg_ll_scan_merge(out, lane);
            }
        }
        for (ptrdiff_t i = ng * FG_LL_LANES; i < n; i++)
            fg_ll_scan1(ex, ey, cxy, i, has_cov, out);
        /* a star with both errors zero needs a zero error in each column:
         * look for one only then */
        if (out[0] <= 0.0 || out[2] <= 0.0) {
            for (ptrdiff_t i = 0; i < n; i++)
                out[4] = ex[i] + ey[i] < out[4] ? ex[i] + ey[i] : out[4];
        }
    }

    /* The blocked path; the caller has checked that every Sigma^2 of this
     * theta lies in [FG_LL_VAR_MIN, FG_LL_VAR_MAX]. */
    FG_ALWAYS_INLINE void fg_ll_chunk_impl(const double *x, const double *y,
                                           const double *ex, const double *ey,
                                           const double *cxy, ptrdiff_t n,
                                           double m, double b, double s,
                                           int variances, int has_cov, double *res)
    {
        const fg_vd vm = fg_splat(m), vb = fg_splat(b), vs = fg_splat(s);
        const fg_vd vm2 = fg_splat(m * m), vtm = fg_splat(2.0 * m);
        const fg_vu mant = (fg_vu){0} + 0x000FFFFFFFFFFFFFull;
        const fg_vu expone = (fg_vu){0} + 0x3FF0000000000000ull;
        fg_vd num[FG_NV], prod[FG_NV], chi[FG_NV];
        fg_vu expo[FG_NV];
        for (int h = 0; h < FG_NV; h++) {
            num[h] = chi[h] = fg_splat(0.0);
            prod[h] = fg_splat(1.0);
            expo[h] = (fg_vu){0};
        }
        int64_t n_renorm = 0;
        const ptrdiff_t ng = n / FG_LL_LANES;  /* whole groups of 8 stars */
        for (ptrdiff_t g0 = 0; g0 < ng; g0 += FG_LL_PROD) {
            const ptrdiff_t g1 = g0 + FG_LL_PROD < ng ? g0 + FG_LL_PROD : ng;
            for (ptrdiff_t g = g0; g < g1; g++) {
                /* fold 8 consecutive stars into the lanes' fractions */
                for (int h = 0; h < FG_NV; h++) {
                    const ptrdiff_t o = g * FG_LL_LANES + h * FG_VW;
                    const fg_vd a = fg_load(ex + o), c = fg_load(ey + o);
                    fg_vd var = variances ? vm2 * a + c + vs : vm2 * (a * a) + c * c + vs;
                    if (has_cov)
                        var = var - vtm * fg_load(cxy + o);
                    const fg_vd d = fg_load(y + o) - (vm * fg_load(x + o) + vb);
                    num[h] = num[h] * var + (d * d) * prod[h];
                    prod[h] = prod[h] * var;
                }
            }
            /* at most FG_LL_PROD stars per lane: divide out the fractions
             * and bring the products back to [1, 2) */
            for (int h = 0; h < FG_NV; h++) {
                chi[h] += num[h] / prod[h];
                num[h] = fg_splat(0.0);
                fg_vu u = (fg_vu)prod[h];
                expo[h] += u >> 52;
                u = (u & mant) | expone;
                prod[h] = (fg_vd)u;
            }
            n_renorm++;
        }
        /* the last < 8 stars: one division and one log each */
        double c_sum, l_sum;
        fg_ll_exact(x, y, ex, ey, cxy, ng * FG_LL_LANES, n, m, b, s, variances,
                    has_cov, &c_sum, &l_sum);
        /* combine the lanes in a fixed order */
        int64_t e_sum = 0;
        for (int h = 0; h < FG_NV; h++) {
            for (int l = 0; l < FG_VW; l++) {
                c_sum += chi[h][l];
                l_sum += log(prod[h][l]);
                e_sum += (int64_t)expo[h][l];
            }
        }
        e_sum -= 1023 * n_renorm * FG_LL_LANES;
        l_sum += (double)e_sum * FG_LN2_HI + (double)e_sum * FG_LN2_LO;
        res[0] = c_sum;
        res[1] = l_sum;
    }
    #else
    #define FG_LL_VW 0
    FG_ALWAYS_INLINE void fg_ll_scan_impl(const double *ex, const double *ey,
                                          const double *cxy, ptrdiff_t n,
                                          int has_cov, double *out)
    {
        fg_ll_scan_init(out);
        for (ptrdiff_t i = 0; i < n; i++)
            fg_ll_scan1(ex, ey, cxy, i, has_cov, out);
    }
    #endif

    static void fg_ll_scan(const double *ex, const double *ey, const double *cxy,
                           ptrdiff_t n, int has_cov, double *out)
    {
        if (has_cov)
            fg_ll_scan_impl(ex, ey, cxy, n, 1, out);
        else
            fg_ll_scan_impl(ex, ey, NULL, n, 0, out);
    }

    /* The partial sums of one chunk of n stars for one theta: res[0] = sum
     * Delta^2/Sigma^2 (+inf if some Sigma^2 <= 0), res[1] = sum ln Sigma^2.
     * `blocked`: every Sigma^2 of this theta is known to lie in
     * [FG_LL_VAR_MIN, FG_LL_VAR_MAX].  One specialised copy of the loop per
     * combination of the flags. */
    static void fg_ll_chunk(const double *x, const double *y, const double *ex,
                            const double *ey, const double *cxy, ptrdiff_t n,
                            double m, double b, double s, int variances,
                            int has_cov, int blocked, double *res)
    {
    #if FG_LL_VECTOR
        if (blocked) {
            if (has_cov) {
                if (variances) fg_ll_chunk_impl(x, y, ex, ey, cxy, n, m, b, s, 1, 1, res);
                else fg_ll_chunk_impl(x, y, ex, ey, cxy, n, m, b, s, 0, 1, res);
            } else {
                if (variances) fg_ll_chunk_impl(x, y, ex, ey, NULL, n, m, b, s, 1, 0, res);
                else fg_ll_chunk_impl(x, y, ex, ey, NULL, n, m, b, s, 0, 0, res);
            }
            /* a non-finite sum (a NaN or a huge Delta): redo star by star */
            if (fabs(res[0]) < INFINITY && fabs(res[1]) < INFINITY)
                return;
        }
    #endif
        if (has_cov) {
            if (variances) fg_ll_exact(x, y, ex, ey, cxy, 0, n, m, b, s, 1, 1, &res[0], &res[1]);
            else fg_ll_exact(x, y, ex, ey, cxy, 0, n, m, b, s, 0, 1, &res[0], &res[1]);
        } else {
            if (variances) fg_ll_exact(x, y, ex, ey, NULL, 0, n, m, b, s, 1, 0, &res[0], &res[1]);
            else fg_ll_exact(x, y, ex, ey, NULL, 0, n, m, b, s, 0, 0, &res[0], &res[1]);
        }
    }
    """
    const double FG_LL_VAR_MIN
    const double FG_LL_VAR_MAX
    const int FG_LL_VECTOR
    const int FG_LL_VW
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
    LL_NSCAN = 6        # values of fg_ll_scan

LINE_LOGLIKE_CHUNK = LL_CHUNK
# |xy_cov| may exceed x_err * y_err by this relative amount (a correlation of
# exactly +-1 after rounding) before the covariance counts as invalid
LINE_COV_RTOL = 1e-12
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
    cdef double *parts = <double *>malloc(max(n_chunks, 1) * LL_NSCAN * sizeof(double))
    cdef double tot[LL_NSCAN]
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
                       has_cov, parts + ch * LL_NSCAN)
    if fg_flag_get(&it.stop):
        free(parts)
        return False
    fg_ll_scan_init(tot)
    for ch in range(n_chunks):
        fg_ll_scan_merge(tot, parts + ch * LL_NSCAN)
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


# ==========================================================================
# Annulus means at fixed radius (METHOD.md section 6; issue 4)
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
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset
from libc.stdint cimport uint32_t

cdef extern from "_bigalloc.h" nogil:
    void *fg_big_alloc(size_t nbytes)
    void fg_big_free(void *p)

cdef enum:
    # 8-bit digits: 256 buckets keep a scatter pass's write streams in L1
    RADIX_BITS = 8
    RADIX_SIZE = 256          # 2 ** RADIX_BITS
    RADIX_SUB = 65536         # stars of a pass between two interrupt checks
    ANNULUS_BLOCK = 4096       # sorted stars per OpenMP task (fixed: determinism)


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
    insertion sorts of <= 32 stars; OpenMP dynamic over buckets).  Four parallel regions in all, whatever the
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
    fg_big_free(key_a); fg_big_free(key_b); fg_big_free(idx_a); fg_big_free(idx_b)
    free(hist); free(bounds); free(cmin); free(start)
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
    """Stable ascending argsort of finite doubles (LSD radix, OpenMP).

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
# pass runs at memory speed; a renormalised double-double chain is ~5x slower.
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


cdef inline double _ann_window_sum(const AnnulusPrefix *P, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
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
            x = wj * w.values[j]
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
        fg_big_free(R_sorted); fg_big_free(order); fg_big_free(pref); free(offs); free(tot)
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
            ahi = 0.0; alo = 0.0; chi = 0.0; clo = 0.0
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
    fg_big_free(R_sorted); fg_big_free(order); fg_big_free(pref); free(offs); free(tot)
    _raise_if_interrupted(&it)
    if rc != 0:
        raise MemoryError("annulus_mean: out of memory")
