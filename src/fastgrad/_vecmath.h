/* C helpers included by _core.pyx.
 *
 * 1. Vector maths.  gcc only calls glibc's vector maths library (libmvec) from a
 *    vectorised loop when the scalar function is declared `simd`; that is what
 *    -ffast-math does behind the scenes, but -ffast-math also deletes NaN checks
 *    and reorders sums.  Declaring the few functions we need keeps IEEE
 *    semantics (with -fno-math-errno -fno-trapping-math) at vector speed.
 *    libmvec's functions are accurate to < 4 ulp.
 *    atan2 has a vector variant only in glibc >= 2.35, above the manylinux_2_28
 *    floor, so fg_atan2 below is our own branch-free version.
 *
 * 2. Counter-based random numbers.  Every uniform is a pure function of
 *    (key, counter), key = hash(seed, star id): a star's draws do not depend on
 *    which thread computes them, nor on the vector width, so one seed gives
 *    bit-identical results for any thread count.  The mixer is SplitMix64's
 *    output function (Steele, Lea & Flood 2014) applied to key + counter * gamma,
 *    i.e. SplitMix64 evaluated at an arbitrary point of its sequence.
 */
#ifndef FASTGRAD_VECMATH_H
#define FASTGRAD_VECMATH_H

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

static inline uint64_t fg_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Key of one star's stream: depends on the seed and the star's id only. */
static inline uint64_t fg_stream_key(uint64_t seed, uint64_t star_id)
{
    return fg_mix64(fg_mix64(seed ^ UINT64_C(0x6A09E667F3BCC909)) + fg_mix64(star_id + UINT64_C(0x9E3779B97F4A7C15)));
}

/* Uniform double in [0, 1) from the counter-th 64-bit output of the stream.
 * Built from the top 52 bits as a mantissa (AVX2 has no int64 -> double). */
static inline double fg_uniform(uint64_t key, uint64_t counter)
{
    uint64_t bits = fg_mix64(key + (counter + 1) * UINT64_C(0x9E3779B97F4A7C15));
    bits = (bits >> 12) | UINT64_C(0x3FF0000000000000);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d - 1.0;
}

/* Two independent standard normals by Box-Muller from uniforms (counter,
 * counter + 1).  1 - u lies in (0, 1], so the log is finite: |z| <= 8.5.
 * cos(t) is written sin(t + pi/2) because gcc fuses sin and cos of the same
 * argument into a scalar sincos call that it cannot vectorise. */
static inline void fg_normal_pair(uint64_t key, uint64_t counter, double *z0, double *z1)
{
    double u1 = 1.0 - fg_uniform(key, counter);
    double u2 = fg_uniform(key, counter + 1);
    double r = sqrt(-2.0 * log(u1));
    double t = FG_TWO_PI * u2;
    *z0 = r * sin(t + FG_HALF_PI);
    *z1 = r * sin(t);
}

/* Two independent standard normals by Box-Muller in single precision, from
 * the two 32-bit halves of one 64-bit output of the stream: half the hashing
 * and eight lanes per AVX2 vector for the log and sine.  The normals carry a
 * relative rounding of ~6e-8 (immaterial beside the Monte-Carlo noise of
 * 1000 draws, ~2 % on a standard deviation) and |z| <= 5.64, a tail of
 * probability 2e-8 per draw.  The transform itself runs in double. */
static inline void fg_normal_pair_f(uint64_t key, uint64_t counter, double *z0, double *z1)
{
    uint64_t bits = fg_mix64(key + (counter + 1) * UINT64_C(0x9E3779B97F4A7C15));
    uint32_t b1 = (uint32_t)(bits >> 9) & 0x007FFFFFu, b2 = (uint32_t)(bits >> 41);
    float f1, f2;
    b1 |= 0x3F800000u;
    b2 = (b2 & 0x007FFFFFu) | 0x3F800000u;
    memcpy(&f1, &b1, sizeof f1);
    memcpy(&f2, &b2, sizeof f2);
    float u1 = 2.0f - f1;                /* (0, 1] */
    float u2 = f2 - 1.0f;                /* [0, 1) */
    float r = sqrtf(-2.0f * logf(u1));
    float t = 6.28318530717958647692f * u2;
    *z0 = (double)(r * sinf(t + 1.57079632679489661923f));
    *z1 = (double)(r * sinf(t));
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

#endif
