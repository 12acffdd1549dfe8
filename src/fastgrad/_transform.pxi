# --------------------------------------------------------------------------
# ICRS -> Galactocentric, nominal and Monte Carlo (docs/method.md section 3)
# --------------------------------------------------------------------------
# Included by _core.pyx; the Python wrappers are in transform.py.
cdef extern from "fg_math.h" nogil:
    double fg_atan2(double y, double x)
    float fg_atan2f(float y, float x)
    float sqrtf(float x)
    double fg_no_contract(double x)
    double FG_HALF_PI

cdef extern from "fg_rng.h" nogil:
    uint64_t fg_stream_key(uint64_t seed, uint64_t star_id)
    double fg_uniform(uint64_t key, uint64_t counter)
    void fg_normal_pair(uint64_t key, uint64_t counter, double *z0, double *z1)
    void fg_normal_pair_f_bits(uint32_t b1, uint32_t b2, double *z0, double *z1)
    void fg_pair_bits8(const uint64_t *pt, uint64_t add, uint32_t *b1, uint32_t *b2)
    const uint64_t FG_GAMMA

# Output columns of the transform kernels, in this order.
N_COORDS = 9   # x, y, z, vx, vy, vz, R, phi, absz

cdef enum:
    LANES = 8  # draws evaluated side by side: two AVX2 vectors of doubles (fg_pair_bits8: 8)
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
                      double k, double[:, ::1] out, int n_threads, double angle_unit=1.0):
    """Transform of central values only: ``out`` (9, N) as in mc_transform.

    ``ra``, ``dec`` are in units of ``angle_unit`` rad (pi/180: degrees,
    converted here rather than in a temporary copy).  Stars go through in
    blocks of LANES so that the sines and cosines of ra, dec are vectorised
    (libmvec); the last block repeats its final star.  Returns the number of
    stars with a non-finite output value (an overflow; the caller's last
    guard reads the rows only when this is not 0).
    """
    cdef Py_ssize_t n = ra.shape[0], ib, nblk = (n + LANES - 1) // LANES
    cdef Py_ssize_t isup, ib_end, nsup = (nblk + NOMINAL_SUPER - 1) // NOMINAL_SUPER
    cdef Py_ssize_t n_bad = 0
    cdef Frame f
    cdef Interrupt it
    if n == 0:
        return 0
    _frame_from(&f, A, t, v, k)
    _interrupt_init(&it, POLL_STARS)
    with nogil:
        # work items of NOMINAL_SUPER blocks: one interrupt check per item;
        # each thread first-touches the pages of its own part of ``out``
        for isup in prange(nsup, num_threads=n_threads, schedule='static'):
            if not _interrupted(&it, NOMINAL_SUPER * LANES):
                ib_end = (isup + 1) * NOMINAL_SUPER
                if ib_end > nblk:
                    ib_end = nblk
                for ib in range(isup * NOMINAL_SUPER, ib_end):
                    n_bad += _nominal_block(&f, &ra[0], &dec[0], &dist[0], &pmra[0],
                                            &pmdec[0], &rv[0], angle_unit, ib * LANES, n,
                                            &out[0, 0])
    _raise_if_interrupted(&it)
    return n_bad


cdef Py_ssize_t _nominal_block(const Frame *f, const double *ra, const double *dec,
                               const double *dist, const double *pmra, const double *pmdec,
                               const double *rv, double angle_unit, Py_ssize_t first,
                               Py_ssize_t n, double *out) noexcept nogil:
    """One block of LANES stars; returns how many have a non-finite output."""
    # the block's scratch arrays are locals of this function: private to the
    # thread (arrays declared outside a prange body would be shared).  Each
    # step is a loop over the lanes with no branch and no indexed store, so
    # that gcc vectorises all of it (the sines through libmvec, the rest, the
    # atan2 included, on 4-double vectors): the stores to ``out`` and the
    # count of non-finite stars come last, in their own loops.
    cdef double ar[LANES]
    cdef double dr[LANES]
    cdef double sa[LANES]
    cdef double ca[LANES]
    cdef double sd[LANES]
    cdef double cd[LANES]
    cdef double dd[LANES]
    cdef double pa[LANES]
    cdef double pd[LANES]
    cdef double vr[LANES]
    cdef double o[9][LANES]
    cdef double on[6]
    cdef double tot[LANES]
    cdef Py_ssize_t idx[LANES]
    cdef Py_ssize_t i, n_bad = 0
    cdef int l, q
    for l in range(LANES):
        idx[l] = first + l if first + l < n else n - 1
    for l in range(LANES):
        i = idx[l]
        # rounded to double before the + pi/2 below, as the radians numpy
        # used to compute were: no FMA of the AVX2 build moves these bits
        ar[l] = fg_no_contract(ra[i] * angle_unit)
        dr[l] = fg_no_contract(dec[i] * angle_unit)
        dd[l] = dist[i]
        pa[l] = pmra[i]
        pd[l] = pmdec[i]
        vr[l] = rv[i]
    for l in range(LANES):
        sa[l] = sin(ar[l])
        ca[l] = sin(ar[l] + FG_HALF_PI)
        sd[l] = sin(dr[l])
        cd[l] = sin(dr[l] + FG_HALF_PI)
    for l in range(LANES):
        _star_nominal(f, sa[l], ca[l], sd[l], cd[l], dd[l], pa[l], pd[l], vr[l], on)
        for q in range(6):
            o[q][l] = on[q]
        o[6][l] = sqrt(on[0] * on[0] + on[1] * on[1])
        o[7][l] = fg_atan2(on[1], -on[0])
        o[8][l] = fabs(on[2])
        tot[l] = 0.0
        for q in range(9):
            tot[l] = tot[l] + o[q][l] * 0.0   # NaN when some value is NaN or infinite
    if first + LANES <= n:
        for q in range(9):
            for l in range(LANES):
                out[q * n + first + l] = o[q][l]
        for l in range(LANES):
            n_bad += tot[l] != 0.0
    else:
        for l in range(LANES):
            i = idx[l]
            for q in range(9):
                out[q * n + i] = o[q][l]
            if l == 0 or i != idx[l - 1]:  # the padding lanes repeat the last star
                n_bad += tot[l] != 0.0
    return n_bad


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
    cdef double r0sq = x0 * x0 + y0 * y0
    cdef double R0 = sqrt(r0sq)
    cdef float R0f = <float>R0
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
    sig[0] = s_ra
    sig[1] = s_dec
    sig[2] = s_pmra
    sig[3] = s_pmdec
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
    # the sums before the last block, when it has padding lanes (draws >= K)
    cdef double s1k[9][LANES]
    cdef double s2k[9][LANES]
    for q in range(9):
        for l in range(LANES):
            s1[q][l] = 0.0
            s2[q][l] = 0.0
    # shift of the accumulated sums: the nominal values, close to the mean,
    # so the one-pass variance does not cancel
    cdef double absz0 = fabs(z0)
    cdef double nx = -x0, ny = y0
    cdef Py_ssize_t blk, kk
    cdef uint64_t attempt
    cdef double e0, e1, e2, e3, dra, ddec, sdr, cdr, sdd, cdd
    cdef double sa_k, ca_k, sd_k, cd_k, dk, vk, pmra_k, pmdec_k
    cdef double ux, uy, uz, ax, ay, bx, by, bz, kd, px, py, pz, qx, qy, qz
    cdef double x, y, z, vx, vy, vz, r2, dR, dphi, t0, t1
    cdef Py_ssize_t ib, nblk = (K + LANES - 1) // LANES, nfull = K // LANES
    cdef Py_ssize_t nonpos
    # the stream's points of draw k are key + (3 k + j) * FG_GAMMA, j = 1, 2,
    # 3 (fg_normal_pair_f with counters 3 k, 3 k + 1, 3 k + 2), advanced by
    # additions (mod 2^64: the same numbers)
    cdef uint64_t pt[LANES]
    cdef uint32_t ub[6][LANES]
    for l in range(LANES):
        pt[l] = key + <uint64_t>(3 * l) * FG_GAMMA
    for ib in range(nblk):
        blk = ib * LANES
        # pass 1: six standard normals per draw
        nonpos = 0
        # (the hashes of the 8 lanes at once: fg_pair_bits8)
        fg_pair_bits8(pt, FG_GAMMA, ub[0], ub[1])
        fg_pair_bits8(pt, 2 * FG_GAMMA, ub[2], ub[3])
        fg_pair_bits8(pt, 3 * FG_GAMMA, ub[4], ub[5])
        for l in range(LANES):
            fg_normal_pair_f_bits(ub[0][l], ub[1][l], &zb[0][l], &zb[1][l])
            fg_normal_pair_f_bits(ub[2][l], ub[3][l], &zb[2][l], &zb[3][l])
            fg_normal_pair_f_bits(ub[4][l], ub[5][l], &zb[4][l], &zb[5][l])
            pt[l] = pt[l] + <uint64_t>(3 * LANES) * FG_GAMMA
            db[l] = d + s_d * zb[4][l]
            # any non-positive distance in the block: a vector test here,
            # since the scalar loop below, run on every block, costs ~10
            # instructions a draw in its test and bookkeeping alone
            nonpos = nonpos | (db[l] <= 0.0)
        # pass 2 (rare, scalar): redraw non-positive distances from a
        # separate part of the stream, so the other draws are unchanged
        if nonpos:
            for l in range(LANES):
                attempt = 0
                while db[l] <= 0.0:
                    kk = blk + l
                    fg_normal_pair(key, (<uint64_t>1 << 62) + <uint64_t>kk * 128
                                   + 2 * attempt, &t0, &t1)
                    db[l] = d + s_d * t0
                    attempt = attempt + 1
                    if attempt >= 64:
                        db[l] = d  # probability < 2**-64: keep the central value
        # Only a last partial block has padding lanes: rather than weighing
        # every draw by 0 or 1 (18 multiplies a block), the sums are kept
        # here and the padding lanes' restored after pass 3, which leaves
        # them exactly as if nothing had been added.
        if ib == nfull:
            for q in range(9):
                for l in range(LANES):
                    s1k[q][l] = s1[q][l]
                    s2k[q][l] = s2[q][l]
        # pass 3: transform each draw and accumulate shifted sums
        for l in range(LANES):
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
            # Single precision where only the draws' spread is kept and
            # float's 6e-8 relative rounding is invisible beside the
            # Monte-Carlo noise (bench/README.md): R - R0 =
            # (R^2 - R0^2) / (R + R0), the difference of squares in double
            # (no cancellation to lose), the sum with a float square root;
            # and the azimuth relative to the nominal one, wrapped to
            # (-pi, pi] (no jump at the anticentre), from a float atan2 of
            # double cross and dot products.
            r2 = x * x + y * y
            dR = <float>(r2 - r0sq) / (sqrtf(<float>r2) + R0f)
            dphi = fg_atan2f(<float>(nx * y - ny * (-x)), <float>(nx * (-x) + ny * y))
            t0 = (x - x0)
            s1[0][l] += t0
            s2[0][l] += t0 * t0
            t0 = (y - y0)
            s1[1][l] += t0
            s2[1][l] += t0 * t0
            t0 = (z - z0)
            s1[2][l] += t0
            s2[2][l] += t0 * t0
            t0 = (vx - nom[3])
            s1[3][l] += t0
            s2[3][l] += t0 * t0
            t0 = (vy - nom[4])
            s1[4][l] += t0
            s2[4][l] += t0 * t0
            t0 = (vz - nom[5])
            s1[5][l] += t0
            s2[5][l] += t0 * t0
            t0 = dR
            s1[6][l] += t0
            s2[6][l] += t0 * t0
            t0 = dphi
            s1[7][l] += t0
            s2[7][l] += t0 * t0
            t0 = (fabs(z) - absz0)
            s1[8][l] += t0
            s2[8][l] += t0 * t0
        if ib == nfull:
            for q in range(9):
                for l in range(K - blk, LANES):
                    s1[q][l] = s1k[q][l]
                    s2[q][l] = s2k[q][l]
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
