/* The marginalised straight-line likelihood's inner loops (docs/method.md
 * section 5), called by the drivers in _likelihood.pxi.  The algorithm (the
 * running fractions, the exponent bookkeeping, when the blocked path is
 * taken, why the result does not depend on the thread count) is described
 * there, beside the code that calls it.
 */
#ifndef FASTGRAD_FG_LIKELIHOOD_H
#define FASTGRAD_FG_LIKELIHOOD_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fg_math.h"   /* libmvec's simd declaration of log */

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
#define FG_NOINLINE static __attribute__((noinline, unused))
#define FG_LL_VECTOR 1
#else
#define FG_ALWAYS_INLINE static inline
#define FG_NOINLINE static
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
                                      int has_cov, int need_max, double *out)
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
            acc[h][2] = fg_vmin(c, acc[h][2]);
            if (need_max) {
                acc[h][1] = fg_vmax(a, acc[h][1]);
                acc[h][3] = fg_vmax(c, acc[h][3]);
            }
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
    if (!need_max)
        out[1] = out[3] = INFINITY;   /* not looked for */
    /* a star with both errors zero needs a zero error in each column:
     * look for one only then */
    if (out[0] <= 0.0 || out[2] <= 0.0) {
        for (ptrdiff_t i = 0; i < n; i++)
            out[4] = ex[i] + ey[i] < out[4] ? ex[i] + ey[i] : out[4];
    }
}

/* The blocked path's lane arithmetic (fg_ll_chunk_impl), one vector of
 * lanes of one theta at a time. */
FG_ALWAYS_INLINE void fg_ll_lanes_init(fg_vd *num, fg_vd *prod, fg_vd *chi, fg_vu *expo)
{
    *num = *chi = fg_splat(0.0);
    *prod = fg_splat(1.0);
    *expo = (fg_vu){0};
}

/* one star a lane into the running fraction num/prod and the product */
FG_ALWAYS_INLINE void fg_ll_fold(fg_vd *num, fg_vd *prod, fg_vd var, fg_vd d)
{
    *num = *num * var + (d * d) * *prod;
    *prod = *prod * var;
}

/* at most FG_LL_PROD stars a lane: divide out the fraction and bring the
 * product back to [1, 2), its binary exponent into expo.  (+ (prod - prod):
 * 0, or NaN once prod overflowed (a Sigma^2 far above FG_LL_VAR_MAX), which
 * sends the chunk to the exact loop even when num itself stayed finite) */
FG_ALWAYS_INLINE void fg_ll_renorm(fg_vd *num, fg_vd *prod, fg_vd *chi, fg_vu *expo)
{
    const fg_vu mant = (fg_vu){0} + 0x000FFFFFFFFFFFFFull;
    const fg_vu expone = (fg_vu){0} + 0x3FF0000000000000ull;
    *chi += *num / *prod + (*prod - *prod);
    *num = fg_splat(0.0);
    fg_vu u = (fg_vu)*prod;
    *expo += u >> 52;
    u = (u & mant) | expone;
    *prod = (fg_vd)u;
}

/* res = (sum Delta^2/Sigma^2, sum ln Sigma^2): the lanes' sums added to the
 * exact loop's c_sum, l_sum (the last < 8 stars) in one fixed order */
FG_ALWAYS_INLINE void fg_ll_lanes_total(const fg_vd *chi, const fg_vd *prod,
                                        const fg_vu *expo, int64_t n_renorm,
                                        double c_sum, double l_sum, double *res)
{
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

/* The blocked path for nt thetas (m[j], b[j], s[j]), j < nt <= FG_LL_MAXT,
 * in one pass over the chunk, their sums into res[j]; the caller has checked
 * that every Sigma^2 of these thetas lies in [FG_LL_VAR_MIN, FG_LL_VAR_MAX].
 * Each theta's operations are the same whatever nt (nt is a constant where
 * this is inlined), so its sums are the same bits: nt thetas a pass
 * (fg_ll_chunk_group) read the chunk's columns once for all, where one
 * theta a pass reads them again from L2 for each (a 2048-star chunk outgrows
 * L1). */
#define FG_LL_MAXT 5
FG_ALWAYS_INLINE void fg_ll_chunk_impl(const double *x, const double *y,
                                       const double *ex, const double *ey,
                                       const double *cxy, ptrdiff_t n, int nt,
                                       const double *m, const double *b, const double *s,
                                       int variances, int has_cov, double *const *res,
                                       int scan, double *scan_out)
{
    /* scan (standard deviations, no covariance): also fg_ll_scan_min's
     * scan of the chunk into scan_out, from the same loads */
    fg_vd smin_x[FG_NV], smin_y[FG_NV];
    for (int h = 0; h < FG_NV; h++)
        smin_x[h] = smin_y[h] = fg_splat(INFINITY);
    fg_vd vm[FG_LL_MAXT], vb[FG_LL_MAXT], vs[FG_LL_MAXT], vm2[FG_LL_MAXT], vtm[FG_LL_MAXT];
    fg_vd num[FG_LL_MAXT][FG_NV], prod[FG_LL_MAXT][FG_NV], chi[FG_LL_MAXT][FG_NV];
    fg_vu expo[FG_LL_MAXT][FG_NV];
    for (int j = 0; j < nt; j++) {
        vm[j] = fg_splat(m[j]);
        vb[j] = fg_splat(b[j]);
        vs[j] = fg_splat(s[j]);
        vm2[j] = fg_splat(m[j] * m[j]);
        vtm[j] = fg_splat(2.0 * m[j]);
        for (int h = 0; h < FG_NV; h++)
            fg_ll_lanes_init(&num[j][h], &prod[j][h], &chi[j][h], &expo[j][h]);
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
                const fg_vd xo = fg_load(x + o), yo = fg_load(y + o);
                if (scan) {
                    smin_x[h] = fg_vmin(a, smin_x[h]);
                    smin_y[h] = fg_vmin(c, smin_y[h]);
                }
                for (int j = 0; j < nt; j++) {
                    /* (standard deviations: three FMA-able operations, not four) */
                    fg_vd var = variances ? vm2[j] * a + c + vs[j]
                                          : c * c + ((vm2[j] * a) * a + vs[j]);
                    if (has_cov)
                        var = var - vtm[j] * fg_load(cxy + o);
                    const fg_vd d = yo - (vm[j] * xo + vb[j]);
                    fg_ll_fold(&num[j][h], &prod[j][h], var, d);
                }
            }
        }
        for (int j = 0; j < nt; j++)
            for (int h = 0; h < FG_NV; h++)
                fg_ll_renorm(&num[j][h], &prod[j][h], &chi[j][h], &expo[j][h]);
        n_renorm++;
    }
    for (int j = 0; j < nt; j++) {
        /* the last < 8 stars: one division and one log each */
        double c_sum, l_sum;
        fg_ll_exact(x, y, ex, ey, cxy, ng * FG_LL_LANES, n, m[j], b[j], s[j], variances,
                    has_cov, &c_sum, &l_sum);
        fg_ll_lanes_total(chi[j], prod[j], expo[j], n_renorm, c_sum, l_sum, res[j]);
    }
    if (scan) {
        fg_ll_scan_init(scan_out);
        for (int h = 0; h < FG_NV; h++) {
            for (int l = 0; l < FG_VW; l++) {
                double lane[FG_LL_NSCAN] = {smin_x[h][l], -INFINITY, smin_y[h][l],
                                            -INFINITY, INFINITY, -INFINITY};
                fg_ll_scan_merge(scan_out, lane);
            }
        }
        for (ptrdiff_t i = ng * FG_LL_LANES; i < n; i++)
            fg_ll_scan1(ex, ey, NULL, i, 0, scan_out);
        scan_out[1] = scan_out[3] = INFINITY;   /* not looked for */
        if (scan_out[0] <= 0.0 || scan_out[2] <= 0.0) {
            for (ptrdiff_t i = 0; i < n; i++)
                scan_out[4] = ex[i] + ey[i] < scan_out[4] ? ex[i] + ey[i] : scan_out[4];
        }
    }
}
#else
#define FG_LL_VW 0
FG_ALWAYS_INLINE void fg_ll_scan_impl(const double *ex, const double *ey,
                                      const double *cxy, ptrdiff_t n,
                                      int has_cov, int need_max, double *out)
{
    (void)need_max;   /* the plain loop finds the maxima anyway */
    fg_ll_scan_init(out);
    for (ptrdiff_t i = 0; i < n; i++)
        fg_ll_scan1(ex, ey, cxy, i, has_cov, out);
}
#endif

static void fg_ll_scan(const double *ex, const double *ey, const double *cxy,
                       ptrdiff_t n, int has_cov, double *out)
{
    if (has_cov)
        fg_ll_scan_impl(ex, ey, cxy, n, 1, 1, out);
    else
        fg_ll_scan_impl(ex, ey, NULL, n, 0, 1, out);
}

/* fg_ll_scan without covariance, and without the maxima (out[1] = out[3] =
 * +inf where the vector loop runs): all that the checks and the blocked
 * path need when there is no covariance (fg_ll_theta), at half the cost. */
FG_NOINLINE void fg_ll_scan_min(const double *ex, const double *ey, ptrdiff_t n,
                                double *out)
{
    fg_ll_scan_impl(ex, ey, NULL, n, 0, 0, out);
}

/* The partial sums of one chunk of n stars for one theta: res[0] = sum
 * Delta^2/Sigma^2 (+inf if some Sigma^2 <= 0), res[1] = sum ln Sigma^2.
 * `blocked`: every Sigma^2 of this theta is known to lie in
 * [FG_LL_VAR_MIN, FG_LL_VAR_MAX].  One specialised copy of the loop per
 * combination of the flags.  Not inlined, like fg_ll_theta and fg_ll_total:
 * every driver (batch, single theta, one thread or many) then runs one copy
 * of the arithmetic, so the AVX2 build's contraction of a*b + c into FMAs
 * cannot differ between them, and neither can the numbers. */
FG_NOINLINE void fg_ll_chunk(const double *x, const double *y, const double *ex,
                        const double *ey, const double *cxy, ptrdiff_t n,
                        double m, double b, double s, int variances,
                        int has_cov, int blocked, double *res)
{
#if FG_LL_VECTOR
    if (blocked) {
        double *r[1] = {res};
        if (has_cov) {
            if (variances) fg_ll_chunk_impl(x, y, ex, ey, cxy, n, 1, &m, &b, &s, 1, 1, r, 0, NULL);
            else fg_ll_chunk_impl(x, y, ex, ey, cxy, n, 1, &m, &b, &s, 0, 1, r, 0, NULL);
        } else {
            if (variances) fg_ll_chunk_impl(x, y, ex, ey, NULL, n, 1, &m, &b, &s, 1, 0, r, 0, NULL);
            else fg_ll_chunk_impl(x, y, ex, ey, NULL, n, 1, &m, &b, &s, 0, 0, r, 0, NULL);
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


/* fg_ll_chunk of nt thetas (m[j], b[j], s[j]), 2 <= nt <= FG_LL_MAXT, in one
 * pass over a chunk of variances without covariance, all known to take the
 * blocked path (LineKernel's calls: 5 walkers a call): fg_ll_chunk_impl with
 * a constant nt, so each res[j] is fg_ll_chunk's bits for theta j alone
 * (tested), with the chunk's four columns read once for all nt thetas and
 * 2 nt independent product chains to hide the multiplies' latency
 * (bench/README.md).  A theta whose sums come out non-finite is redone by
 * fg_ll_chunk's exact loop, as fg_ll_chunk does.  Plain-loop builds:
 * fg_ll_chunk for each. */
FG_NOINLINE void fg_ll_chunk_group(const double *x, const double *y, const double *ex,
                                   const double *ey, ptrdiff_t n, int nt, const double *m,
                                   const double *b, const double *s, double *const *res)
{
#if FG_LL_VECTOR
    switch (nt) {
    case 2: fg_ll_chunk_impl(x, y, ex, ey, NULL, n, 2, m, b, s, 1, 0, res, 0, NULL); break;
    case 3: fg_ll_chunk_impl(x, y, ex, ey, NULL, n, 3, m, b, s, 1, 0, res, 0, NULL); break;
    case 4: fg_ll_chunk_impl(x, y, ex, ey, NULL, n, 4, m, b, s, 1, 0, res, 0, NULL); break;
    default: fg_ll_chunk_impl(x, y, ex, ey, NULL, n, 5, m, b, s, 1, 0, res, 0, NULL); break;
    }
    for (int j = 0; j < nt; j++) {
        if (!(fabs(res[j][0]) < INFINITY && fabs(res[j][1]) < INFINITY))
            fg_ll_chunk(x, y, ex, ey, NULL, n, m[j], b[j], s[j], 1, 0, 0, res[j]);
    }
#else
    for (int j = 0; j < nt; j++)
        fg_ll_chunk(x, y, ex, ey, NULL, n, m[j], b[j], s[j], 1, 0, 1, res[j]);
#endif
}

/* fg_ll_chunk of standard deviations without covariance on the blocked
 * path, taken before the chunk's bounds are known, with fg_ll_scan_min's
 * scan of the chunk (into scan) from the same loads: one pass over the
 * errors instead of two.  The caller then checks the scan, and redoes the
 * chunk with fg_ll_chunk's exact loop when the chunk's bounds do not allow
 * the blocked path (fg_ll_theta) or its sums are not finite.  The plain-loop
 * build scans, then runs the exact loop. */
FG_NOINLINE void fg_ll_chunk_scan(const double *x, const double *y, const double *ex,
                                  const double *ey, ptrdiff_t n, double m, double b,
                                  double s, double *res, double *scan)
{
#if FG_LL_VECTOR
    double *r[1] = {res};
    fg_ll_chunk_impl(x, y, ex, ey, NULL, n, 1, &m, &b, &s, 0, 0, r, 1, scan);
#else
    fg_ll_scan_impl(ex, ey, NULL, n, 0, 0, scan);
    fg_ll_exact(x, y, ex, ey, NULL, 0, n, m, b, s, 0, 0, &res[0], &res[1]);
#endif
}


/* Per theta: s = v^T Lambda v, and whether the blocked path may be taken
 * given bnd = (min, max of sigma_x^2, of sigma_y^2).  Bounds of Sigma_i^2 =
 * v^T S_i v + s over the stars, v = (-m, 1): v^T S v lies in [0, (1 + m^2)
 * tr S] for a valid S (less a hair for the FG_LL_COV_RTOL the checks let
 * through), and is m^2 sx^2 + sy^2 exactly without covariance.  A factor 2
 * of margin covers the rounding of the bounds; NaN bounds say no.  Without
 * covariance only the lower bound matters (the maxima need not be known):
 * products of Sigma^2 >= FG_LL_VAR_MIN cannot underflow, and an overflow
 * always surfaces as a non-finite chunk sum (fg_ll_chunk_impl), which takes
 * the exact loop. */
FG_NOINLINE void fg_ll_theta(double m, double lam, int perpendicular, int has_cov,
                             const double *bnd, double *s_out, double *blocked)
{
    double s = perpendicular ? lam * lam * (1.0 + m * m) : lam * lam;
    double vlo, vhi;
    if (has_cov) {
        vhi = (1.0 + m * m) * (bnd[1] + bnd[3]);
        vlo = s - 1e-11 * vhi;
        vhi = vhi + s;
    } else {
        vlo = m * m * bnd[0] + bnd[2] + s;
        vhi = 0.0;
    }
    *s_out = s;
    *blocked = (vlo >= 2.0 * FG_LL_VAR_MIN && vhi <= 0.5 * FG_LL_VAR_MAX) ? 1.0 : 0.0;
}

/* ln L of one theta from its chunks' partial sums parts[k * stride] (chi)
 * and parts[k * stride + 1] (ln Sigma^2), added in chunk order. */
FG_NOINLINE double fg_ll_total(const double *parts, ptrdiff_t n_chunks, ptrdiff_t stride,
                               ptrdiff_t n, double ln_2pi)
{
    double chi = 0.0, lg = 0.0;
    for (ptrdiff_t k = 0; k < n_chunks; k++) {
        chi = chi + parts[k * stride];
        lg = lg + parts[k * stride + 1];
    }
    return -0.5 * (chi + lg + (double)n * ln_2pi);
}

#endif  /* FASTGRAD_FG_LIKELIHOOD_H */
