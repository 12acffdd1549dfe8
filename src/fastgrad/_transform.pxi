# --------------------------------------------------------------------------
# ICRS -> Galactocentric, nominal and Monte Carlo (docs/method.md section 3)
# --------------------------------------------------------------------------
# Included by _core.pyx; the Python wrappers are in transform.py.
cdef extern from "fg_math.h" nogil:
    double fg_atan2(double y, double x)
    float fg_atan2f(float y, float x)
    float sqrtf(float x)
    double fg_no_contract(double x)
    float fg_add_sq(float a, float v)
    double FG_HALF_PI

cdef extern from "fg_rng.h" nogil:
    uint64_t fg_stream_key(uint64_t seed, uint64_t star_id)
    double fg_uniform(uint64_t key, uint64_t counter)
    void fg_normal_pair(uint64_t key, uint64_t counter, double *z0, double *z1)
    void fg_normal_pair_f_bitsf(uint32_t b1, uint32_t b2, float *z0, float *z1)
    void fg_pair_bits_mc(const uint64_t *pt, uint64_t add, uint32_t *b1, uint32_t *b2)
    const uint64_t FG_GAMMA
    enum: FG_MC_LANES  # draws a Monte-Carlo block computes side by side: 8, or 16 with AVX-512

# Output columns of the transform kernels, in this order.
N_COORDS = 9   # x, y, z, vx, vy, vz, R, phi, absz

cdef enum:
    # side by side: 2 AVX2 vectors of doubles (nominal stars); the lanes of the
    # Monte Carlo's running sums (FG_MC_LANES draws, 1 or 2 blocks of LANES, at once)
    LANES = 8
    NOMINAL_SUPER = 32  # blocks of LANES stars per work item of nominal_transform

# The Monte Carlo's (ra, dec) offsets stay below this bound (rad), where its
# small-angle series of their sines and cosines are exact to float precision;
# a star whose errors could exceed it is reported (status 2).
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


cdef inline void _mc_flush(float a1[9][LANES], float a2[9][LANES], double s1[9][LANES],
                           double s2[9][LANES]) noexcept nogil:
    # the float running sums of the Monte Carlo into its double ones, zeroed
    cdef int q, l
    for q in range(9):
        for l in range(LANES):
            s1[q][l] += a1[q][l]
            s2[q][l] += a2[q][l]
            a1[q][l] = 0.0
            a2[q][l] = 0.0


cdef struct McStar:
    # one star's constants of its Monte-Carlo draws, rounded to float once
    # (_mc_star): the Cholesky factor of the astrometric covariance, the sine
    # and cosine of dec, the rows of the rotation to (x, y, z) and to the
    # nominal position's (R, phi) in the local basis (e_r, a, e_z), the line
    # of sight u and b in those rows, and the nominal values the offsets need
    float fL00, fL10, fL11, fL20, fL21, fL22, fL30, fL31, fL32, fL33
    float fsd, fcd
    float mx0, mx1, mx2, my0, my1, my2, mz0, mz1, mz2
    float mr0, mr1, mr2, mp0, mp1, mp2
    float ux, uy, uz, ur, up, bx, by, bz
    float fd, fs_rv, frv, fpmra, fpmdec, fk, fkd, fR0, f2R0, fzs, fm2az


cdef inline void _mc_draw(const McStar *c, float e0, float e1, float e2, float e3,
                          float dd, float e5, float *o, Py_ssize_t os) noexcept nogil:
    # One draw's offsets from the star's nominal (x, y, z, vx, vy, vz, R, phi,
    # |z|) into o[0], o[os], ..., o[8 os], from its standard normals e0..e3
    # (ra cos dec, dec, pmra, pmdec through the Cholesky factor), e5 (radial
    # velocity) and its distance offset dd.  Inlined into loops over the
    # lanes of a block, which gcc vectorises.
    cdef float c_s3 = <float>(-1.0 / 6.0), c_c2 = <float>-0.5, c_c4 = <float>(1.0 / 24.0)
    cdef float dra, ddec, dpa, dpd, x2, sal, mal, sbe, mbe
    cdef float dsd, dcd, sdk, cdk, du0, du1, db0, db1, dv, pak, pdk, kdd
    cdef float dux, duy, duz, dur, dup, dax, day, daz, dbx, dby, dbz
    cdef float ukx, uky, ukz, akx, aky, akz, bkx, bky, bkz
    cdef float dx, dy, dz, dr, dp, dvx, dvy, dvz, num, dR, dphi, w, dabs
    dra = c.fL00 * e0
    ddec = c.fL10 * e0 + c.fL11 * e1
    dpa = c.fL20 * e0 + c.fL21 * e1 + c.fL22 * e2
    dpd = c.fL30 * e0 + c.fL31 * e1 + c.fL32 * e2 + c.fL33 * e3
    # sin x and cos x - 1 of the angles' offsets (|x| <= SMALL_ANGLE:
    # the series are exact to float precision)
    x2 = dra * dra
    sal = dra + dra * x2 * c_s3
    mal = x2 * (c_c2 + x2 * c_c4)
    x2 = ddec * ddec
    sbe = ddec + ddec * x2 * c_s3
    mbe = x2 * (c_c2 + x2 * c_c4)
    dsd = c.fsd * mbe + c.fcd * sbe
    dcd = c.fcd * mbe - c.fsd * sbe
    sdk = c.fsd + dsd
    cdk = c.fcd + dcd
    # offsets of the line of sight u, of a = (-sin ra, cos ra, 0) and
    # of b = (-sin dec cos ra, -sin dec sin ra, cos dec) in (e_r, a,
    # e_z): (du0, du1, dsd), (-sal, mal, 0), (db0, db1, dcd); then in
    # the rows' directions
    du0 = dcd + cdk * mal
    du1 = cdk * sal
    db0 = -(dsd + sdk * mal)
    db1 = -(sdk * sal)
    dux = c.mx0 * du0 + c.mx1 * du1 + c.mx2 * dsd
    duy = c.my0 * du0 + c.my1 * du1 + c.my2 * dsd
    duz = c.mz0 * du0 + c.mz1 * du1 + c.mz2 * dsd
    dur = c.mr0 * du0 + c.mr1 * du1 + c.mr2 * dsd
    dup = c.mp0 * du0 + c.mp1 * du1 + c.mp2 * dsd
    dax = c.mx1 * mal - c.mx0 * sal
    day = c.my1 * mal - c.my0 * sal
    daz = c.mz1 * mal - c.mz0 * sal
    dbx = c.mx0 * db0 + c.mx1 * db1 + c.mx2 * dcd
    dby = c.my0 * db0 + c.my1 * db1 + c.my2 * dcd
    dbz = c.mz0 * db0 + c.mz1 * db1 + c.mz2 * dcd
    dv = c.fs_rv * e5
    # position: d_k u_k - d u = dd u_k + d du
    dx = dd * (c.ux + dux) + c.fd * dux
    dy = dd * (c.uy + duy) + c.fd * duy
    dz = dd * (c.uz + duz) + c.fd * duz
    dr = dd * (c.ur + dur) + c.fd * dur
    dp = dd * (c.up + dup) + c.fd * dup
    # velocity: v_k u_k + k d_k W_k - (v u + k d W), W = pmra a + pmdec b:
    # dv u_k + v du + k dd W_k + k d (dpa a_k + pmra da + dpd b_k + pmdec db)
    ukx = c.ux + dux
    uky = c.uy + duy
    ukz = c.uz + duz
    akx = c.mx1 + dax
    aky = c.my1 + day
    akz = c.mz1 + daz
    bkx = c.bx + dbx
    bky = c.by + dby
    bkz = c.bz + dbz
    pak = c.fpmra + dpa
    pdk = c.fpmdec + dpd
    kdd = c.fk * dd
    dvx = (dv * ukx + c.frv * dux + kdd * (pak * akx + pdk * bkx)
           + c.fkd * (dpa * akx + c.fpmra * dax + dpd * bkx + c.fpmdec * dbx))
    dvy = (dv * uky + c.frv * duy + kdd * (pak * aky + pdk * bky)
           + c.fkd * (dpa * aky + c.fpmra * day + dpd * bky + c.fpmdec * dby))
    dvz = (dv * ukz + c.frv * duz + kdd * (pak * akz + pdk * bkz)
           + c.fkd * (dpa * akz + c.fpmra * daz + dpd * bkz + c.fpmdec * dbz))
    # R - R0 = (R^2 - R0^2) / (R + R0), R^2 - R0^2 = dr (2 R0 + dr) +
    # dp^2; the azimuth relative to the nominal one, wrapped to
    # (-pi, pi] (no jump at the anticentre)
    # (R from its non-negative square, not R0^2 + num, which rounding
    # can make negative for a draw near the Galactic axis)
    num = dr * (c.f2R0 + dr) + dp * dp
    dR = num / (sqrtf((c.fR0 + dr) * (c.fR0 + dr) + dp * dp) + c.fR0)
    dphi = fg_atan2f(dp, c.fR0 + dr)
    w = c.fzs * dz
    dabs = w if w > c.fm2az - w else c.fm2az - w
    o[0] = dx
    o[os] = dy
    o[2 * os] = dz
    o[3 * os] = dvx
    o[4 * os] = dvy
    o[5 * os] = dvz
    o[6 * os] = dR
    o[7 * os] = dphi
    o[8 * os] = dabs


cdef inline void _mc_add_draw(float a1[9][LANES], float a2[9][LANES],
                              float dq[9][FG_MC_LANES], Py_ssize_t col,
                              Py_ssize_t l) noexcept nogil:
    # draw col of dq into lane l of the running sums: its offsets and their
    # squares, each square fused into its sum (fg_add_sq: one rounding in
    # every build with FMA, so the AVX2 and AVX-512 builds agree)
    cdef int q
    for q in range(9):
        a1[q][l] += dq[q][col]
        a2[q][l] = fg_add_sq(a2[q][l], dq[q][col])


cdef inline void _mc_block_open(float a1[9][LANES], float a2[9][LANES], double s1[9][LANES],
                                double s2[9][LANES], Py_ssize_t ib,
                                Py_ssize_t nfull) noexcept nogil:
    # before block ib of LANES draws joins the running sums: the float sums
    # into the double ones every 16 blocks (at most 16 terms a float lane,
    # ~1e-6 relative at worst), and before a last partial block
    if ib == nfull or (ib > 0 and ib % 16 == 0):
        _mc_flush(a1, a2, s1, s2)


cdef inline void _mc_block_close(float a1[9][LANES], float a2[9][LANES], Py_ssize_t ib,
                                 Py_ssize_t nfull, Py_ssize_t K) noexcept nogil:
    # after the last partial block: its padding lanes (draws >= K) zeroed,
    # exactly as if nothing had been added for them
    cdef int q
    cdef Py_ssize_t l
    if ib == nfull:
        for q in range(9):
            for l in range(K - ib * LANES, LANES):
                a1[q][l] = 0.0
                a2[q][l] = 0.0


cdef int8_t _mc_star(const Frame *f, double ra, double dec, double d, double pmra,
                     double pmdec, double rv, double s_ra, double s_dec, double s_d,
                     double s_pmra, double s_pmdec, double s_rv, const double *rho,
                     uint64_t star_id, uint64_t seed, Py_ssize_t K,
                     double *o, Py_ssize_t os) noexcept nogil:
    cdef double sa = sin(ra), ca = cos(ra), sd = sin(dec), cd = cos(dec)
    cdef double nom[6]
    cdef int q, l, a, b
    _star_nominal(f, sa, ca, sd, cd, d, pmra, pmdec, rv, nom)
    cdef double x0 = nom[0], y0 = nom[1], z0 = nom[2]
    cdef double r0sq = x0 * x0 + y0 * y0
    cdef double R0 = sqrt(r0sq)
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
    # The offsets' sines and cosines come from a series exact to float
    # precision below SMALL_ANGLE rad; Box-Muller normals never exceed
    # MAX_NORMAL, so this bounds every draw.  Larger positional errors (> ~4
    # arcmin) are not astrometric errors: the caller reports them (status 2).
    if (MAX_NORMAL * fabs(L00) > SMALL_ANGLE or
            MAX_NORMAL * (fabs(L10) + fabs(L11)) > SMALL_ANGLE):
        for q in range(18):
            o[(q) * os] = NAN
        return 2

    cdef uint64_t key = fg_stream_key(seed, star_id)
    # Each draw's offsets from the nominal coordinates, in single precision
    # (docs/method.md section 3).  They are built from the offsets of the
    # inputs in a basis fixed per star, not as differences of two large
    # numbers: with the local basis (e_r, a, e_z) = ((ca, sa, 0), (-sa, ca,
    # 0), (0, 0, 1)) the offset of the line of sight is
    # (cos dec_k cos da - cos dec, cos dec_k sin da, sin dec_k - sin dec),
    # each a sum of terms as small as the angles' offsets, and the rows of
    # the rotation to (x, y, z) and to the nominal position's cylindrical
    # directions (R, phi) meet that basis in double precision once per star.
    # So each offset is exact to ~1e-7 of the largest term that makes it,
    # invisible beside the 2.2 % sampling error of a 1000-draw standard
    # deviation; and 8 draws make one AVX2 vector of floats, not two of
    # doubles.
    cdef float zf[6][FG_MC_LANES]
    cdef float ddist[FG_MC_LANES]
    # running sums of the offsets and of their squares: 16 blocks in float
    # (at most 16 terms a lane, so ~1e-6 relative at worst), then added to
    # the double sums (any number of draws)
    cdef float a1[9][LANES]
    cdef float a2[9][LANES]
    cdef double s1[9][LANES]
    cdef double s2[9][LANES]
    for q in range(9):
        for l in range(LANES):
            s1[q][l] = 0.0
            s2[q][l] = 0.0
            a1[q][l] = 0.0
            a2[q][l] = 0.0
    # rows: x, y, z, R, phi (unit vectors of the Galactocentric frame); the
    # cylindrical ones at the nominal position, phi = atan2(y, -x)
    cdef double rows[5][3]
    cdef double mb[5][3]
    cdef double er[3]
    for a in range(3):
        for b in range(3):
            rows[a][b] = f.A[a][b]
    if R0 > 0.0:
        er[0] = x0 / R0
        er[1] = y0 / R0
    else:
        er[0] = -1.0
        er[1] = 0.0
    for b in range(3):
        rows[3][b] = er[0] * f.A[0][b] + er[1] * f.A[1][b]
        rows[4][b] = er[1] * f.A[0][b] - er[0] * f.A[1][b]
    # each row in the local basis (e_r, a, e_z)
    for a in range(5):
        mb[a][0] = rows[a][0] * ca + rows[a][1] * sa
        mb[a][1] = rows[a][1] * ca - rows[a][0] * sa
        mb[a][2] = rows[a][2]
    # the star's constants, rounded to float once: the rows in the local
    # basis, the line of sight U = cd e_r + sd e_z and b = -sd e_r + cd e_z
    cdef McStar c
    c.mx0 = <float>mb[0][0]
    c.mx1 = <float>mb[0][1]
    c.mx2 = <float>mb[0][2]
    c.my0 = <float>mb[1][0]
    c.my1 = <float>mb[1][1]
    c.my2 = <float>mb[1][2]
    c.mz0 = <float>mb[2][0]
    c.mz1 = <float>mb[2][1]
    c.mz2 = <float>mb[2][2]
    c.mr0 = <float>mb[3][0]
    c.mr1 = <float>mb[3][1]
    c.mr2 = <float>mb[3][2]
    c.mp0 = <float>mb[4][0]
    c.mp1 = <float>mb[4][1]
    c.mp2 = <float>mb[4][2]
    c.ux = <float>(cd * mb[0][0] + sd * mb[0][2])
    c.uy = <float>(cd * mb[1][0] + sd * mb[1][2])
    c.uz = <float>(cd * mb[2][0] + sd * mb[2][2])
    c.ur = <float>(cd * mb[3][0] + sd * mb[3][2])
    c.up = <float>(cd * mb[4][0] + sd * mb[4][2])
    c.bx = <float>(cd * mb[0][2] - sd * mb[0][0])
    c.by = <float>(cd * mb[1][2] - sd * mb[1][0])
    c.bz = <float>(cd * mb[2][2] - sd * mb[2][0])
    c.fL00 = <float>L00
    c.fL10 = <float>L10
    c.fL11 = <float>L11
    c.fL20 = <float>L20
    c.fL21 = <float>L21
    c.fL22 = <float>L22
    c.fL30 = <float>L30
    c.fL31 = <float>L31
    c.fL32 = <float>L32
    c.fL33 = <float>L33
    c.fsd = <float>sd
    c.fcd = <float>cd
    c.fd = <float>d
    cdef float fmd = <float>(-d), fs_d = <float>s_d
    c.fs_rv = <float>s_rv
    c.frv = <float>rv
    c.fpmra = <float>pmra
    c.fpmdec = <float>pmdec
    c.fk = <float>f.k
    c.fkd = <float>(f.k * d)
    c.fR0 = <float>R0
    c.f2R0 = <float>(2.0 * R0)
    # |z| - |z0| = max(w, -2 |z0| - w) with w the offset along z0's sign
    # (exact, branch-free; z0 = 0 gives |dz| whichever the sign)
    c.fzs = <float>1.0 if z0 >= 0.0 else <float>-1.0
    c.fm2az = <float>(-2.0 * fabs(z0))
    cdef Py_ssize_t blk, kk, h
    cdef uint64_t attempt
    # each draw's nine offsets, FG_MC_LANES draws at a time, before they
    # join the running sums block of LANES by block of LANES
    cdef float dq[9][FG_MC_LANES]
    cdef double t0, t1, db
    cdef Py_ssize_t ib, nblk = (K + LANES - 1) // LANES, nfull = K // LANES
    cdef Py_ssize_t ig, ngrp = (K + FG_MC_LANES - 1) // FG_MC_LANES
    cdef Py_ssize_t nonpos
    # the stream's points of draw k are key + (3 k + j) * FG_GAMMA, j = 1, 2,
    # 3 (fg_normal_pair_f with counters 3 k, 3 k + 1, 3 k + 2), advanced by
    # additions (mod 2^64: the same numbers)
    cdef uint64_t pt[FG_MC_LANES]
    cdef uint32_t ub[6][FG_MC_LANES]
    for l in range(FG_MC_LANES):
        pt[l] = key + <uint64_t>(3 * l) * FG_GAMMA
    for ig in range(ngrp):
        blk = ig * FG_MC_LANES
        # pass 1: six standard normals per draw
        nonpos = 0
        # (the hashes of the FG_MC_LANES draws at once)
        fg_pair_bits_mc(pt, FG_GAMMA, ub[0], ub[1])
        fg_pair_bits_mc(pt, 2 * FG_GAMMA, ub[2], ub[3])
        fg_pair_bits_mc(pt, 3 * FG_GAMMA, ub[4], ub[5])
        for l in range(FG_MC_LANES):
            fg_normal_pair_f_bitsf(ub[0][l], ub[1][l], &zf[0][l], &zf[1][l])
            fg_normal_pair_f_bitsf(ub[2][l], ub[3][l], &zf[2][l], &zf[3][l])
            fg_normal_pair_f_bitsf(ub[4][l], ub[5][l], &zf[4][l], &zf[5][l])
            pt[l] = pt[l] + <uint64_t>(3 * FG_MC_LANES) * FG_GAMMA
            ddist[l] = fs_d * zf[4][l]
            # any non-positive distance in the block: a vector test here,
            # since the scalar loop below, run on every block, costs ~10
            # instructions a draw in its test and bookkeeping alone
            nonpos = nonpos | (ddist[l] <= fmd)
        # pass 2 (rare, scalar): redraw non-positive distances from a
        # separate part of the stream, so the other draws are unchanged
        if nonpos:
            for l in range(FG_MC_LANES):
                if ddist[l] > fmd:
                    continue
                attempt = 0
                db = 0.0
                while db <= 0.0:
                    kk = blk + l
                    fg_normal_pair(key, (<uint64_t>1 << 62) + <uint64_t>kk * 128
                                   + 2 * attempt, &t0, &t1)
                    db = d + s_d * t0
                    attempt = attempt + 1
                    if attempt >= 64:
                        db = d  # probability < 2**-64: keep the central value
                ddist[l] = <float>(db - d)
        # pass 3: each draw's offsets, into the running sums block of LANES
        # draws by block, in the draws' order whatever FG_MC_LANES (so the
        # same bits); with one block a group, straight from the draw (gcc
        # keeps them in registers: storing all, then adding, costs the AVX2
        # build ~40 more instructions a draw)
        if FG_MC_LANES == LANES:
            _mc_block_open(a1, a2, s1, s2, ig, nfull)
            for l in range(LANES):
                _mc_draw(&c, zf[0][l], zf[1][l], zf[2][l], zf[3][l], ddist[l], zf[5][l],
                         &dq[0][l], FG_MC_LANES)
                _mc_add_draw(a1, a2, dq, l, l)
            _mc_block_close(a1, a2, ig, nfull, K)
        else:
            for l in range(FG_MC_LANES):
                _mc_draw(&c, zf[0][l], zf[1][l], zf[2][l], zf[3][l], ddist[l], zf[5][l],
                         &dq[0][l], FG_MC_LANES)
            for h in range(FG_MC_LANES // LANES):
                ib = ig * (FG_MC_LANES // LANES) + h
                if ib >= nblk:
                    break
                _mc_block_open(a1, a2, s1, s2, ib, nfull)
                for l in range(LANES):
                    _mc_add_draw(a1, a2, dq, h * LANES + l, l)
                _mc_block_close(a1, a2, ib, nfull, K)
    _mc_flush(a1, a2, s1, s2)
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
