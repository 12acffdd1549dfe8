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
    void fg_normal_pair_f_bitsf(uint32_t b1, uint32_t b2, float *z0, float *z1)
    void fg_pair_bits8(const uint64_t *pt, uint64_t add, uint32_t *b1, uint32_t *b2)
    const uint64_t FG_GAMMA

# Output columns of the transform kernels, in this order.
N_COORDS = 9   # x, y, z, vx, vy, vz, R, phi, absz

cdef enum:
    LANES = 8  # side by side: 2 AVX2 vectors of doubles (nominal stars), 1 of floats (MC draws)
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
    cdef float zf[6][LANES]
    cdef float ddist[LANES]
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
    cdef float mx0 = <float>mb[0][0], mx1 = <float>mb[0][1], mx2 = <float>mb[0][2]
    cdef float my0 = <float>mb[1][0], my1 = <float>mb[1][1], my2 = <float>mb[1][2]
    cdef float mz0 = <float>mb[2][0], mz1 = <float>mb[2][1], mz2 = <float>mb[2][2]
    cdef float mr0 = <float>mb[3][0], mr1 = <float>mb[3][1], mr2 = <float>mb[3][2]
    cdef float mp0 = <float>mb[4][0], mp1 = <float>mb[4][1], mp2 = <float>mb[4][2]
    cdef float ux = <float>(cd * mb[0][0] + sd * mb[0][2])
    cdef float uy = <float>(cd * mb[1][0] + sd * mb[1][2])
    cdef float uz = <float>(cd * mb[2][0] + sd * mb[2][2])
    cdef float ur = <float>(cd * mb[3][0] + sd * mb[3][2])
    cdef float up = <float>(cd * mb[4][0] + sd * mb[4][2])
    cdef float bx = <float>(cd * mb[0][2] - sd * mb[0][0])
    cdef float by = <float>(cd * mb[1][2] - sd * mb[1][0])
    cdef float bz = <float>(cd * mb[2][2] - sd * mb[2][0])
    cdef float c_s3 = <float>(-1.0 / 6.0), c_c2 = <float>-0.5, c_c4 = <float>(1.0 / 24.0)
    cdef float fL00 = <float>L00, fL10 = <float>L10, fL11 = <float>L11
    cdef float fL20 = <float>L20, fL21 = <float>L21, fL22 = <float>L22
    cdef float fL30 = <float>L30, fL31 = <float>L31, fL32 = <float>L32, fL33 = <float>L33
    cdef float fsd = <float>sd, fcd = <float>cd
    cdef float fd = <float>d, fmd = <float>(-d), fs_d = <float>s_d, fs_rv = <float>s_rv
    cdef float frv = <float>rv, fpmra = <float>pmra, fpmdec = <float>pmdec
    cdef float fk = <float>f.k, fkd = <float>(f.k * d)
    cdef float fR0 = <float>R0, f2R0 = <float>(2.0 * R0)
    # |z| - |z0| = max(w, -2 |z0| - w) with w the offset along z0's sign
    # (exact, branch-free; z0 = 0 gives |dz| whichever the sign)
    cdef float fzs = <float>1.0 if z0 >= 0.0 else <float>-1.0
    cdef float fm2az = <float>(-2.0 * fabs(z0))
    cdef Py_ssize_t blk, kk
    cdef uint64_t attempt
    cdef float e0, e1, e2, e3, dra, ddec, dpa, dpd, x2, sal, mal, sbe, mbe
    cdef float dsd, dcd, sdk, cdk, du0, du1, db0, db1, dd, dv, pak, pdk, kdd
    cdef float dux, duy, duz, dur, dup, dax, day, daz, dbx, dby, dbz
    cdef float ukx, uky, ukz, akx, aky, akz, bkx, bky, bkz
    cdef float dx, dy, dz, dr, dp, dvx, dvy, dvz, num, dR, dphi, w, dabs
    cdef double t0, t1, db
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
            fg_normal_pair_f_bitsf(ub[0][l], ub[1][l], &zf[0][l], &zf[1][l])
            fg_normal_pair_f_bitsf(ub[2][l], ub[3][l], &zf[2][l], &zf[3][l])
            fg_normal_pair_f_bitsf(ub[4][l], ub[5][l], &zf[4][l], &zf[5][l])
            pt[l] = pt[l] + <uint64_t>(3 * LANES) * FG_GAMMA
            ddist[l] = fs_d * zf[4][l]
            # any non-positive distance in the block: a vector test here,
            # since the scalar loop below, run on every block, costs ~10
            # instructions a draw in its test and bookkeeping alone
            nonpos = nonpos | (ddist[l] <= fmd)
        # pass 2 (rare, scalar): redraw non-positive distances from a
        # separate part of the stream, so the other draws are unchanged
        if nonpos:
            for l in range(LANES):
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
        # the float sums into the double ones: every 16 blocks, and before a
        # last partial block, whose padding lanes (draws >= K) are then
        # zeroed: exactly as if nothing had been added for them
        if ib == nfull or (ib > 0 and ib % 16 == 0):
            _mc_flush(a1, a2, s1, s2)
        # pass 3: transform each draw's offsets and accumulate them
        for l in range(LANES):
            e0 = zf[0][l]
            e1 = zf[1][l]
            e2 = zf[2][l]
            e3 = zf[3][l]
            dra = fL00 * e0
            ddec = fL10 * e0 + fL11 * e1
            dpa = fL20 * e0 + fL21 * e1 + fL22 * e2
            dpd = fL30 * e0 + fL31 * e1 + fL32 * e2 + fL33 * e3
            # sin x and cos x - 1 of the angles' offsets (|x| <= SMALL_ANGLE:
            # the series are exact to float precision)
            x2 = dra * dra
            sal = dra + dra * x2 * c_s3
            mal = x2 * (c_c2 + x2 * c_c4)
            x2 = ddec * ddec
            sbe = ddec + ddec * x2 * c_s3
            mbe = x2 * (c_c2 + x2 * c_c4)
            dsd = fsd * mbe + fcd * sbe
            dcd = fcd * mbe - fsd * sbe
            sdk = fsd + dsd
            cdk = fcd + dcd
            # offsets of the line of sight u, of a = (-sin ra, cos ra, 0) and
            # of b = (-sin dec cos ra, -sin dec sin ra, cos dec) in (e_r, a,
            # e_z): (du0, du1, dsd), (-sal, mal, 0), (db0, db1, dcd); then in
            # the rows' directions
            du0 = dcd + cdk * mal
            du1 = cdk * sal
            db0 = -(dsd + sdk * mal)
            db1 = -(sdk * sal)
            dux = mx0 * du0 + mx1 * du1 + mx2 * dsd
            duy = my0 * du0 + my1 * du1 + my2 * dsd
            duz = mz0 * du0 + mz1 * du1 + mz2 * dsd
            dur = mr0 * du0 + mr1 * du1 + mr2 * dsd
            dup = mp0 * du0 + mp1 * du1 + mp2 * dsd
            dax = mx1 * mal - mx0 * sal
            day = my1 * mal - my0 * sal
            daz = mz1 * mal - mz0 * sal
            dbx = mx0 * db0 + mx1 * db1 + mx2 * dcd
            dby = my0 * db0 + my1 * db1 + my2 * dcd
            dbz = mz0 * db0 + mz1 * db1 + mz2 * dcd
            dd = ddist[l]
            dv = fs_rv * zf[5][l]
            # position: d_k u_k - d u = dd u_k + d du
            dx = dd * (ux + dux) + fd * dux
            dy = dd * (uy + duy) + fd * duy
            dz = dd * (uz + duz) + fd * duz
            dr = dd * (ur + dur) + fd * dur
            dp = dd * (up + dup) + fd * dup
            # velocity: v_k u_k + k d_k W_k - (v u + k d W), W = pmra a + pmdec b:
            # dv u_k + v du + k dd W_k + k d (dpa a_k + pmra da + dpd b_k + pmdec db)
            ukx = ux + dux
            uky = uy + duy
            ukz = uz + duz
            akx = mx1 + dax
            aky = my1 + day
            akz = mz1 + daz
            bkx = bx + dbx
            bky = by + dby
            bkz = bz + dbz
            pak = fpmra + dpa
            pdk = fpmdec + dpd
            kdd = fk * dd
            dvx = (dv * ukx + frv * dux + kdd * (pak * akx + pdk * bkx)
                   + fkd * (dpa * akx + fpmra * dax + dpd * bkx + fpmdec * dbx))
            dvy = (dv * uky + frv * duy + kdd * (pak * aky + pdk * bky)
                   + fkd * (dpa * aky + fpmra * day + dpd * bky + fpmdec * dby))
            dvz = (dv * ukz + frv * duz + kdd * (pak * akz + pdk * bkz)
                   + fkd * (dpa * akz + fpmra * daz + dpd * bkz + fpmdec * dbz))
            # R - R0 = (R^2 - R0^2) / (R + R0), R^2 - R0^2 = dr (2 R0 + dr) +
            # dp^2; the azimuth relative to the nominal one, wrapped to
            # (-pi, pi] (no jump at the anticentre)
            # (R from its non-negative square, not R0^2 + num, which rounding
            # can make negative for a draw near the Galactic axis)
            num = dr * (f2R0 + dr) + dp * dp
            dR = num / (sqrtf((fR0 + dr) * (fR0 + dr) + dp * dp) + fR0)
            dphi = fg_atan2f(dp, fR0 + dr)
            w = fzs * dz
            dabs = w if w > fm2az - w else fm2az - w
            a1[0][l] += dx
            a2[0][l] += dx * dx
            a1[1][l] += dy
            a2[1][l] += dy * dy
            a1[2][l] += dz
            a2[2][l] += dz * dz
            a1[3][l] += dvx
            a2[3][l] += dvx * dvx
            a1[4][l] += dvy
            a2[4][l] += dvy * dvy
            a1[5][l] += dvz
            a2[5][l] += dvz * dvz
            a1[6][l] += dR
            a2[6][l] += dR * dR
            a1[7][l] += dphi
            a2[7][l] += dphi * dphi
            a1[8][l] += dabs
            a2[8][l] += dabs * dabs
        if ib == nfull:
            for q in range(9):
                for l in range(K - blk, LANES):
                    a1[q][l] = 0.0
                    a2[q][l] = 0.0
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
