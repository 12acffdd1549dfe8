/* Vector-friendly maths for fastgrad's kernels (included by _core.pyx's
 * drivers through fg_rng.h and fg_likelihood.h; docs/method.md sections 3, 5).
 *
 * gcc only calls glibc's vector maths library (libmvec) from a vectorised
 * loop when the scalar function is declared `simd`; that is what -ffast-math
 * does behind the scenes, but -ffast-math also deletes NaN checks and
 * reorders sums.  Declaring the few functions we need keeps IEEE semantics
 * (with -fno-math-errno -fno-trapping-math) at vector speed.  libmvec's
 * functions are accurate to < 4 ulp.  atan2 has a vector variant only in
 * glibc >= 2.35, above the manylinux_2_28 floor, so fg_atan2 below is our own
 * branch-free version.
 */
#ifndef FASTGRAD_FG_MATH_H
#define FASTGRAD_FG_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(FG_USE_LIBMVEC) && defined(__GNUC__) && !defined(__clang__)
#define FG_SIMD __attribute__((simd("notinbranch")))
extern double sin(double) FG_SIMD;
extern double cos(double) FG_SIMD;
extern double log(double) FG_SIMD;
extern double exp(double) FG_SIMD;
extern float sinf(float) FG_SIMD;
extern float logf(float) FG_SIMD;
#endif

#define FG_PI 3.14159265358979323846
#define FG_TWO_PI 6.28318530717958647692
#define FG_HALF_PI 1.57079632679489661923

/* x, with the compiler unable to fuse the product that made it into the next
 * addition (an FMA): the compensated sums of the annulus kernel need every
 * product rounded on its own, or their error terms are no longer exact.  The
 * AVX2 build contracts a*b + c with -ffp-contract=fast; this keeps that build's
 * annulus means bit-identical to the baseline's. */
static inline double fg_no_contract(double x)
{
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
    __asm__("" : "+x"(x));
#elif (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
    __asm__("" : "+w"(x));
#else
    volatile double v = x;
    x = v;
#endif
    return x;
}

/* a + v^2, the Monte Carlo's running sum of squares: one rounding (a fused
 * multiply-add) in the builds with FMA, whatever gcc's heuristics (its
 * generic tuning leaves some loop-carried sums of 256-bit vectors
 * unfused), so the AVX2 and AVX-512 builds round every draw's square the
 * same way. */
static inline float fg_add_sq(float a, float v)
{
#if defined(__FMA__)
    return fmaf(v, v, a);
#else
    return a + v * v;
#endif
}

/* atan(num / den) for 0 <= num <= den, den > 0: Cephes' rational
 * approximation (Moshier), reduced with atan(t) = pi/4 + atan((t - 1)/(t + 1))
 * above t = 0.66.  Written with arithmetic selects and one division for the
 * argument so that it vectorises; max error ~1 ulp (checked against glibc's
 * atan2 on 2e6 random points). */
static inline double fg_atan_ratio(double num, double den)
{
    const double MOREBITS = 6.123233995736765886130e-17;
    double mid = (double)(num > 0.66 * den);
    double xr = (num - mid * den) / (den + mid * num);
    double z = xr * xr;
    double p = (((-8.750608600031904122785e-1 * z - 1.615753718733365076637e1) * z
                 - 7.500855792314704667340e1) * z - 1.228866684490136173410e2) * z
               - 6.485021904942025371773e1;
    double q = ((((z + 2.485846490142306297962e1) * z + 1.650270098316988542046e2) * z
                 + 4.328810604912902668951e2) * z + 4.853903996359136964868e2) * z
               + 1.945506571482613964425e2;
    double r = xr + xr * (z * p / q);
    return mid * (0.25 * FG_PI) + (r + mid * (0.5 * MOREBITS));
}

/* Branch-free atan2(y, x) with C's quadrant conventions for finite arguments
 * (atan2(+-0, -1) = +-pi, atan2(0, 0) = 0).  Plain ternaries, not fmin/fmax:
 * gcc does not vectorise the latter without -ffinite-math-only. */
static inline double fg_atan2(double y, double x)
{
    double ax = fabs(x), ay = fabs(y);
    double num = ax < ay ? ax : ay;
    double den = ax < ay ? ay : ax;
    den = den > 0.0 ? den : 1.0;            /* atan2(0, 0) = 0 */
    double a = fg_atan_ratio(num, den);
    a = ay > ax ? FG_HALF_PI - a : a;
    a = x < 0.0 ? FG_PI - a : a;
    return copysign(a, y);
}

/* Single-precision atan2 for the Monte-Carlo draws' azimuth offsets, whose
 * spread is all that is kept: Cephes' atanf polynomial (Moshier) after the
 * reduction atan(t) = pi/4 + atan((t - 1)/(t + 1)) above tan(pi/8), so one
 * float division and no second one for a rational approximation.  Relative
 * error ~2e-7 (checked against glibc's atan2 on 2e6 random points), far
 * below the Monte-Carlo noise of 1000 draws (~2 % on a standard deviation). */
static inline float fg_atan2f(float y, float x)
{
    float ax = fabsf(x), ay = fabsf(y);
    float num = ax < ay ? ax : ay;
    float den = ax < ay ? ay : ax;
    den = den > 0.0f ? den : 1.0f;            /* atan2(0, 0) = 0 */
    float mid = (float)(num > 0.414213562373095f * den);
    float t = (num - mid * den) / (den + mid * num);
    float z = t * t;
    float a = (((8.05374449538e-2f * z - 1.38776856032e-1f) * z + 1.99777106478e-1f) * z
               - 3.33329491539e-1f) * z * t + t;
    a = a + mid * 0.785398163397448310f;
    a = ay > ax ? 1.57079632679489662f - a : a;
    a = x < 0.0f ? 3.14159265358979324f - a : a;
    return copysignf(a, y);
}

/* logf for the AVX2 + FMA build: the same operations, FMAs and constants as
 * glibc 2.36's 8-lane libmvec logf (_ZGVdN8v_logf_avx2, from
 * sysdeps/x86_64/fpu/multiarch/svml_s_logf8_core_avx2.S), so the same bits
 * on this platform, but inline: the call cost 32 instructions per 8 lanes
 * and forced every live vector register to the stack around it (the
 * Monte-Carlo kernel makes three a block).  For normal positive x only,
 * which is all the kernel passes (Box-Muller's u1 in [2^-23, 1]): libmvec's
 * branch for zero, negative, subnormal, infinite and NaN arguments is left
 * out.  x = 2^e m with m in [2/3, 4/3); log x = e ln 2 + log1p(m - 1) by a
 * degree-8 polynomial r + r^2 p(r). */
static inline float fg_logf_normal(float x)
{
#if defined(__AVX2__) && defined(__FMA__)
    uint32_t ix, im;
    float m;
    memcpy(&ix, &x, sizeof ix);
    uint32_t t = ix - 0x3F2AAAABu;                 /* bits of x - those of 2/3 */
    int32_t e = (int32_t)t >> 23;                  /* arithmetic shift: signed e */
    im = (t & 0x007FFFFFu) + 0x3F2AAAABu;
    memcpy(&m, &im, sizeof m);
    float r = m - 1.0f;
    float p = fmaf(r, -0.15177205204963684f, 0.16964881122112274f);
    p = fmaf(r, p, -0.16462457180023193f);
    p = fmaf(r, p, 0.19822503626346588f);
    p = fmaf(r, p, -0.25004664063453674f);
    p = fmaf(r, p, 0.33336564898490906f);
    p = fmaf(r, p, -0.5f);
    float q = p * r;
    q = fmaf(r, q, r);
    return fmaf((float)e, 0.6931471824645996f, q);
#else
    return logf(x);
#endif
}

#endif  /* FASTGRAD_FG_MATH_H */
