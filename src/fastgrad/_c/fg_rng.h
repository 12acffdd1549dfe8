/* Counter-based random numbers for the Monte-Carlo transform
 * (docs/method.md section 3).
 *
 * Every uniform is a pure function of (key, counter), key = hash(seed, star
 * id): a star's draws do not depend on which thread computes them, nor on the
 * vector width, so one seed gives bit-identical results for any thread count.
 * The mixer is SplitMix64's output function (Steele, Lea & Flood 2014)
 * applied to key + counter * gamma, i.e. SplitMix64 evaluated at an arbitrary
 * point of its sequence.
 */
#ifndef FASTGRAD_FG_RNG_H
#define FASTGRAD_FG_RNG_H

#include <stdint.h>
#include <string.h>

#include "fg_math.h"   /* the simd declarations of log, sin, logf, sinf; FG_TWO_PI */

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
 * and eight lanes per AVX2 vector for the log (libmvec's logf) and for the
 * sine and cosine (fg_sincos_turns_f, inline: 1/8 the instructions of two
 * libmvec sinf calls).  The normals carry a relative rounding of ~1e-7
 * (immaterial beside the Monte-Carlo noise of 1000 draws, ~2 % on a standard
 * deviation) and |z| <= 5.64, a tail of probability 2e-8 per draw.  The
 * transform itself runs in double. */
#define FG_GAMMA UINT64_C(0x9E3779B97F4A7C15)   /* SplitMix64's increment */

/* fg_normal_pair_f from the stream's point key + (counter + 1) * FG_GAMMA
 * (mod 2^64), which a loop over consecutive counters can advance by
 * additions: the multiply is an emulated 64-bit product on AVX2. */
static inline void fg_normal_pair_f_at(uint64_t point, double *z0, double *z1);

static inline void fg_normal_pair_f(uint64_t key, uint64_t counter, double *z0, double *z1)
{
    fg_normal_pair_f_at(key + (counter + 1) * FG_GAMMA, z0, z1);
}

/* sin and cos of the angle 2 pi u, u in [0, 1), in single precision,
 * inline and branch-free (so that gcc vectorises it with the rest of the
 * draw; libmvec's sinf is a call per 8 lanes, and two of them per pair).
 * The reduction is exact because the angle is in turns: v = 4 u is exact,
 * q = the nearest integer, r = v - q in [-1/2, 1/2] exact, and
 * 2 pi u = q pi/2 + r pi/2; then Cephes' sinf and cosf polynomials
 * (Moshier) on [-pi/4, pi/4], error ~1e-7 absolute, and the quadrant's
 * swap and signs. */
static inline void fg_sincos_turns_f(float u, float *sn, float *cs)
{
    float v = 4.0f * u;
    int32_t q = (int32_t)(v + 0.5f);          /* v >= 0: rounds to nearest */
    float x = (v - (float)q) * 1.57079632679489661923f;
    float z = x * x;
    float sx = x + x * z * (-1.6666654611e-1f + z * (8.3321608736e-3f + z * -1.9515295891e-4f));
    float cx = 1.0f - 0.5f * z
               + z * z * (4.166664568298827e-2f + z * (-1.388731625493765e-3f
                                                      + z * 2.443315711809948e-5f));
    /* Odd quadrants swap sin and cos: the test is bit 0 of q moved to the
     * sign bit, which is all a vector blend reads (no compare).  The signs
     * (sin < 0 in quadrants 2, 3, cos < 0 in 1, 2) are bit 1 of q and of
     * q + 1 moved to the sign bit and XORed in: exactly a negation, in
     * fewer vector instructions than a negation and a blend. */
    uint32_t uq = (uint32_t)q, bs, bc;
    int32_t odd = (int32_t)(uq << 31);
    float s1 = odd < 0 ? cx : sx;
    float c1 = odd < 0 ? sx : cx;
    memcpy(&bs, &s1, sizeof bs);
    memcpy(&bc, &c1, sizeof bc);
    bs ^= (uq & 2u) << 30;
    bc ^= ((uq + 1u) & 2u) << 30;
    memcpy(sn, &bs, sizeof bs);
    memcpy(cs, &bc, sizeof bc);
}

/* fg_normal_pair_f_at from the two 23-bit mantissas of its uniforms, b1 =
 * bits 9..31 and b2 = bits 41..63 of the hash, i.e. each 32-bit half of it
 * shifted right by 9 (fg_pair_bits8 computes them 8 points at a time). */
static inline void fg_normal_pair_f_bitsf(uint32_t b1, uint32_t b2, float *z0, float *z1)
{
    float f1, f2, sn, cs;
    b1 |= 0x3F800000u;
    b2 |= 0x3F800000u;
    memcpy(&f1, &b1, sizeof f1);
    memcpy(&f2, &b2, sizeof f2);
    float u1 = 2.0f - f1;                /* (0, 1] */
    float u2 = f2 - 1.0f;                /* [0, 1) */
    float r = sqrtf(-2.0f * fg_logf_normal(u1));   /* u1 normal, > 0 */
    fg_sincos_turns_f(u2, &sn, &cs);
    *z0 = r * cs;
    *z1 = r * sn;
}

/* The same normals as doubles (exactly: every float is a double). */
static inline void fg_normal_pair_f_bits(uint32_t b1, uint32_t b2, double *z0, double *z1)
{
    float f0, f1;
    fg_normal_pair_f_bitsf(b1, b2, &f0, &f1);
    *z0 = (double)f0;
    *z1 = (double)f1;
}

static inline void fg_normal_pair_f_at(uint64_t point, double *z0, double *z1)
{
    uint64_t bits = fg_mix64(point);
    fg_normal_pair_f_bits((uint32_t)bits >> 9, (uint32_t)(bits >> 32) >> 9, z0, z1);
}

/* The mantissas b1, b2 of fg_normal_pair_f_bits for the 8 points pt[l] + add
 * (mod 2^64).  With AVX2, in two vectors of 4 hashes: gcc's own vectorisation
 * of the scalar code narrows each vector's 64-bit lanes to 32-bit ones twice
 * (one for b1, one for b2) with ~17 shuffles a hash; here one 32-bit shift
 * gives both mantissas in place, and two shuffles and two 64-bit permutes
 * split them into the 8 b1 and the 8 b2 (same bits as the scalar code). */
#if defined(__AVX2__)
#include <immintrin.h>

/* z * c mod 2^64 from 32-bit products (AVX2 has no 64-bit multiply):
 * z_lo c_lo + 2^32 (z_lo c_hi + z_hi c_lo).  One vpmulld makes both cross
 * products (mod 2^32, all that is kept of them) in the two halves of each
 * lane: 6 instructions instead of the usual 7. */
static inline __m256i fg_mul64c_avx2(__m256i z, uint64_t c)
{
    const __m256i lo = _mm256_set1_epi64x((int64_t)(c & 0xFFFFFFFFu));
    /* 32-bit halves (c_hi, c_lo): the low half of each lane times c_hi */
    const __m256i swapped = _mm256_set1_epi64x((int64_t)((c << 32) | (c >> 32)));
    const __m256i high_halves = _mm256_set1_epi64x((int64_t)UINT64_C(0xFFFFFFFF00000000));
    __m256i cross = _mm256_mullo_epi32(z, swapped);   /* (z_lo c_hi, z_hi c_lo) */
    __m256i sum = _mm256_add_epi64(_mm256_slli_epi64(cross, 32),
                                   _mm256_and_si256(cross, high_halves));
    return _mm256_add_epi64(_mm256_mul_epu32(z, lo), sum);
}

static inline __m256i fg_mix64_avx2(__m256i z)
{
    z = fg_mul64c_avx2(_mm256_xor_si256(z, _mm256_srli_epi64(z, 30)), UINT64_C(0xBF58476D1CE4E5B9));
    z = fg_mul64c_avx2(_mm256_xor_si256(z, _mm256_srli_epi64(z, 27)), UINT64_C(0x94D049BB133111EB));
    return _mm256_xor_si256(z, _mm256_srli_epi64(z, 31));
}

static inline void fg_pair_bits8(const uint64_t *pt, uint64_t add, uint32_t *b1, uint32_t *b2)
{
    const __m256i inc = _mm256_set1_epi64x((int64_t)add);
    __m256i a = fg_mix64_avx2(_mm256_add_epi64(_mm256_loadu_si256((const __m256i *)pt), inc));
    __m256i b = fg_mix64_avx2(_mm256_add_epi64(_mm256_loadu_si256((const __m256i *)(pt + 4)), inc));
    __m256 fa = _mm256_castsi256_ps(_mm256_srli_epi32(a, 9));
    __m256 fb = _mm256_castsi256_ps(_mm256_srli_epi32(b, 9));
    /* [a0 a1 b0 b1 | a2 a3 b2 b3] of the low (0x88) or high (0xDD) halves,
     * then the 64-bit pairs in the order 0 2 1 3: lanes 0..7 */
    __m256d lo = _mm256_castps_pd(_mm256_shuffle_ps(fa, fb, 0x88));
    __m256d hi = _mm256_castps_pd(_mm256_shuffle_ps(fa, fb, 0xDD));
    _mm256_storeu_si256((__m256i *)b1, _mm256_castpd_si256(_mm256_permute4x64_pd(lo, 0xD8)));
    _mm256_storeu_si256((__m256i *)b2, _mm256_castpd_si256(_mm256_permute4x64_pd(hi, 0xD8)));
}
#else
static inline void fg_pair_bits8(const uint64_t *pt, uint64_t add, uint32_t *b1, uint32_t *b2)
{
    for (int l = 0; l < 8; l++) {
        uint64_t bits = fg_mix64(pt[l] + add);
        b1[l] = (uint32_t)bits >> 9;
        b2[l] = (uint32_t)(bits >> 32) >> 9;
    }
}
#endif

/* Draws a Monte-Carlo block computes side by side (one vector of floats):
 * 16 in the AVX-512 build, else 8.  The draws' running sums keep 8 lanes in
 * every build, filled block of 8 after block of 8 in the same order, so the
 * sums, and the transform's outputs, are the same bits in every build whose
 * arithmetic per draw is the same (the AVX2 and AVX-512 ones). */
#if defined(__AVX512F__) && defined(__AVX512DQ__)
#define FG_MC_LANES 16

/* SplitMix64's mixer on 8 points: AVX-512DQ multiplies 64-bit lanes. */
static inline __m512i fg_mix64_avx512(__m512i z)
{
    const __m512i c1 = _mm512_set1_epi64((int64_t)UINT64_C(0xBF58476D1CE4E5B9));
    const __m512i c2 = _mm512_set1_epi64((int64_t)UINT64_C(0x94D049BB133111EB));
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 30)), c1);
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 27)), c2);
    return _mm512_xor_si512(z, _mm512_srli_epi64(z, 31));
}

/* fg_pair_bits8 for 16 points: the 32-bit halves of the 16 hashes shifted
 * right by 9 in place, then the low halves (even 32-bit lanes of the pair of
 * vectors) into b1 and the high ones (odd lanes) into b2 by two permutes. */
static inline void fg_pair_bits_mc(const uint64_t *pt, uint64_t add, uint32_t *b1, uint32_t *b2)
{
    const __m512i inc = _mm512_set1_epi64((int64_t)add);
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16,
                                          14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    __m512i a = fg_mix64_avx512(_mm512_add_epi64(_mm512_loadu_si512(pt), inc));
    __m512i b = fg_mix64_avx512(_mm512_add_epi64(_mm512_loadu_si512(pt + 8), inc));
    a = _mm512_srli_epi32(a, 9);
    b = _mm512_srli_epi32(b, 9);
    _mm512_storeu_si512(b1, _mm512_permutex2var_epi32(a, even, b));
    _mm512_storeu_si512(b2, _mm512_permutex2var_epi32(a, odd, b));
}
#else
#define FG_MC_LANES 8

static inline void fg_pair_bits_mc(const uint64_t *pt, uint64_t add, uint32_t *b1, uint32_t *b2)
{
    fg_pair_bits8(pt, add, b1, b2);
}
#endif

#endif  /* FASTGRAD_FG_RNG_H */
