"""Every compiled kernel, in every build this machine runs (``kernel_variant``,
tests/conftest.py), against an independent reference: astropy for the
transform, plain numpy for the line likelihood, brute-force sums for the
annulus means; and the builds against each other.  ``fastgrad._kernels`` is
the dispatcher; its choice is checked in fresh interpreters."""

import math
import os
import subprocess
import sys

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from conftest import KERNEL_VARIANTS, random_stars
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastgrad import _kernels
from fastgrad.frames import PM_TO_KMS, frame_constants, get_frame

BASELINE = KERNEL_VARIANTS["baseline"]
HYPO = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


# ---- the dispatcher ---------------------------------------------------------
def test_variants_lists_runnable_builds():
    found = _kernels.variants()
    assert list(found)[0] == "baseline" and found["baseline"] is BASELINE
    assert _kernels.core is found[_kernels.variant]
    # the vector builds only where the CPU runs them; AVX-512 implies AVX2
    assert ("avx2" in found) <= BASELINE.cpu_has_avx2_fma()
    assert ("avx512" in found) <= BASELINE.cpu_has_avx512()
    assert BASELINE.cpu_has_avx512() <= BASELINE.cpu_has_avx2_fma()
    if BASELINE.cpu_has_avx2_fma() and "avx2" not in found:
        pytest.skip("this build has no AVX2 variant")  # a non-x86 or a gcc without -mavx2
    if BASELINE.cpu_has_avx512() and "avx512" not in found:
        pytest.skip("this build has no AVX-512 variant")  # a gcc without -mavx512*


@pytest.mark.parametrize("choice", ["baseline", "auto", "avx2", "avx512"])
def test_fastgrad_kernels_reaches_every_wrapper(choice):
    """FASTGRAD_KERNELS picks the module of transform, fitting, azimuthal and
    significance alike."""
    if choice not in ("baseline", "auto") and choice not in KERNEL_VARIANTS:
        pytest.skip(f"this machine does not run the {choice} build")
    code = (
        "from fastgrad import _kernels, transform, azimuthal, significance;"
        "from fastgrad.fitting import data, likelihood;"
        "mods = {transform._core, data._core, likelihood._core, azimuthal._core,"
        " significance._core};"
        "assert mods == {_kernels.core}, mods; print(_kernels.variant)"
    )
    env = dict(os.environ, FASTGRAD_KERNELS=choice)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    expect = list(KERNEL_VARIANTS)[-1] if choice == "auto" else choice
    assert out.stdout.strip() == expect


def test_fastgrad_kernels_refuses_a_build_the_cpu_cannot_run():
    """Demanding AVX-512 on a CPU without it is an ImportError that says so
    (where the CPU has it: that build)."""
    env = dict(os.environ, FASTGRAD_KERNELS="avx512")
    code = "import fastgrad._kernels as k; print(k.variant)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if BASELINE.cpu_has_avx512() and "avx512" in KERNEL_VARIANTS:
        assert out.returncode == 0 and out.stdout.strip() == "avx512", out.stderr
    elif not BASELINE.cpu_has_avx512():
        assert out.returncode != 0 and "lacks AVX-512" in out.stderr


def test_fastgrad_kernels_rejects_unknown():
    env = dict(os.environ, FASTGRAD_KERNELS="sse9")
    out = subprocess.run(
        [sys.executable, "-c", "import fastgrad._kernels"], env=env, capture_output=True, text=True
    )
    assert out.returncode != 0 and "FASTGRAD_KERNELS" in out.stderr


# ---- ICRS -> Galactocentric (docs/method.md section 3) ------------------------
def _kernel_args(s):
    return [np.ascontiguousarray(s[k]) for k in ("ra", "dec", "dist", "pmra", "pmdec", "rv")]


def _astropy_galactocentric(s, frame):
    c = SkyCoord(
        ra=s["ra"] * u.rad,
        dec=s["dec"] * u.rad,
        distance=s["dist"] * u.kpc,
        pm_ra_cosdec=s["pmra"] * u.mas / u.yr,
        pm_dec=s["pmdec"] * u.mas / u.yr,
        radial_velocity=s["rv"] * u.km / u.s,
        frame="icrs",
    ).transform_to(frame)
    x, y, z = c.cartesian.xyz.to_value(u.kpc)
    v = c.velocity.d_xyz.to_value(u.km / u.s)
    return np.vstack([x, y, z, v, np.hypot(x, y), np.arctan2(y, -x), np.abs(z)])


def test_nominal_transform_matches_astropy(kernel_variant):
    s = random_stars(3001, seed=3)
    frame = get_frame("hawkins2023")
    A, t, v = frame_constants(frame)
    out = np.empty((9, 3001))
    kernel_variant.nominal_transform(*_kernel_args(s), A, t, v, PM_TO_KMS, out, 2)
    ref = _astropy_galactocentric(s, frame)
    scale = np.array([1, 1, 1, 100, 100, 100, 1, 1, 1])[:, None]  # kpc, km/s, rad
    np.testing.assert_allclose(out / scale, ref / scale, rtol=0, atol=1e-11)


def test_mc_transform_nominal_rows_and_builds_agree(kernel_variant):
    n = 2000
    s = random_stars(n, seed=4)
    A, t, v = frame_constants(get_frame("hawkins2023"))
    errs = [s[k] for k in ("ra_err", "dec_err", "dist_err", "pmra_err", "pmdec_err", "rv_err")]
    ids = np.arange(n, dtype=np.uint64)
    corr = np.random.default_rng(5).uniform(-0.3, 0.3, (n, 6))

    def run(mod, n_threads):
        out, status = np.empty((18, n)), np.empty(n, np.int8)
        mod.mc_transform(
            *_kernel_args(s),
            *errs,
            corr,
            ids,
            A,
            t,
            v,
            PM_TO_KMS,
            300,
            np.uint64(11),
            out,
            status,
            n_threads,
        )
        return out, status

    out, status = run(kernel_variant, 2)
    nominal = np.empty((9, n))
    kernel_variant.nominal_transform(*_kernel_args(s), A, t, v, PM_TO_KMS, nominal, 1)
    ok = status == 0
    assert ok.mean() > 0.9
    np.testing.assert_allclose(out[:9, ok], nominal[:, ok], rtol=0, atol=1e-12 * 100)
    # one build: the same bits on any number of threads
    one, _ = run(kernel_variant, 1)
    assert np.array_equal(out, one, equal_nan=True)
    # the builds: the same maths, rounded differently (FMA contraction of the
    # single-precision offsets: ~1e-7 of each offset, 5e-8 of a std here)
    base, base_status = run(BASELINE, 2)
    assert np.array_equal(status, base_status)
    np.testing.assert_allclose(out[9:, ok], base[9:, ok], rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("n_samples", [1, 7, 8, 9, 16, 17, 24, 127, 129, 136, 1000])
def test_mc_transform_avx512_gives_the_avx2_bits(n_samples):
    """The AVX-512 build draws 16 at a time and hashes with 64-bit vector
    multiplies, but adds the draws to the running sums block of 8 by block of
    8 as the AVX2 build does, with the same arithmetic per draw: the same bits,
    for any number of draws (partial blocks, a block of 16 half beyond the
    last draw, the flushes every 16 blocks) and with redrawn non-positive
    distances."""
    if not {"avx2", "avx512"} <= set(KERNEL_VARIANTS):
        pytest.skip("this machine does not run both the AVX2 and AVX-512 builds")
    n = 600
    s = random_stars(n, seed=8)
    s["dist_err"][:60] = 0.9 * s["dist"][:60]  # ~13 % of draws non-positive: redrawn
    A, t, v = frame_constants(get_frame("hawkins2023"))
    errs = [s[k] for k in ("ra_err", "dec_err", "dist_err", "pmra_err", "pmdec_err", "rv_err")]
    ids = np.arange(n, dtype=np.uint64) * 7919
    corr = np.random.default_rng(9).uniform(-0.3, 0.3, (n, 6))
    outs = []
    for name in ("avx2", "avx512"):
        out, status = np.empty((18, n)), np.empty(n, np.int8)
        KERNEL_VARIANTS[name].mc_transform(
            *_kernel_args(s), *errs, corr, ids, A, t, v, PM_TO_KMS,
            n_samples, np.uint64(3), out, status, 2,
        )  # fmt: skip
        outs.append((out, status))
    assert np.array_equal(outs[0][1], outs[1][1])
    assert (outs[0][1] == 0).mean() > 0.9
    assert np.array_equal(outs[0][0], outs[1][0], equal_nan=True)


# ---- the straight-line likelihood (docs/method.md section 5) -----------------
def numpy_loglike(theta, x, y, sx, sy, sxy, perpendicular):
    m, b, lam = theta
    var = m * m * sx**2 + sy**2 + (lam**2 * (1 + m * m) if perpendicular else lam**2)
    if sxy is not None:
        var = var - 2 * m * sxy
    d = y - (m * x + b)
    return -0.5 * np.sum(d**2 / var + np.log(2 * np.pi * var))


def _line_kernel(mod, theta, x, y, sx, sy, sxy, perpendicular, variances):
    cov = np.empty(0) if sxy is None else sxy
    out = np.empty(len(theta))
    if variances:
        bounds = np.array([np.min(sx**2), np.max(sx**2), np.min(sy**2), np.max(sy**2)])
        n_inf = mod.line_loglike_batch(
            theta, x, y, sx**2, sy**2, cov, bounds, None, True, perpendicular, out, 2
        )
    else:
        n_inf = mod.line_loglike_batch(
            theta, x, y, sx, sy, cov, None, None, False, perpendicular, out, 2
        )
    return n_inf, out


@pytest.mark.parametrize("variances", [False, True])
@pytest.mark.parametrize("with_cov", [False, True])
@pytest.mark.parametrize("perpendicular", [True, False])
def test_line_loglike_batch_matches_numpy(kernel_variant, variances, with_cov, perpendicular):
    rng = np.random.default_rng(7)
    n = 3 * 2048 + 13  # several chunks and a ragged tail
    x = rng.uniform(6, 13, n)
    y = -0.07 * x + 0.4 + rng.normal(0, 0.2, n)
    sx, sy = rng.uniform(0.05, 0.4, n), rng.uniform(0.03, 0.2, n)
    sxy = rng.uniform(-0.6, 0.6, n) * sx * sy if with_cov else None
    theta = np.column_stack(
        [rng.normal(-0.07, 0.3, 40), rng.normal(0.4, 1, 40), rng.uniform(0, 1, 40)]
    )
    theta[0] = [1e6, 0, 0]  # Sigma^2 beyond the blocked path's range
    n_inf, out = _line_kernel(kernel_variant, theta, x, y, sx, sy, sxy, perpendicular, variances)
    ref = [numpy_loglike(th, x, y, sx, sy, sxy, perpendicular) for th in theta]
    assert n_inf == 0
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    _, base = _line_kernel(BASELINE, theta, x, y, sx, sy, sxy, perpendicular, variances)
    np.testing.assert_allclose(out, base, rtol=1e-13)


@pytest.mark.parametrize("n", [1, 7, 8, 129, 2048, 2 * 2048 + 13])
def test_line_kernel_evaluates_groups_of_thetas_to_the_one_theta_bits(kernel_variant, n):
    """LineKernel's calls of 2 or more thetas take up to five thetas a pass
    over each chunk (fg_ll_chunk_group): each theta's value is the bits of its call
    alone, on 1 or 2 threads, with thetas outside the prior, a negative
    scatter, and stars that send a chunk to the exact loop (a NaN, an
    overflowing Delta^2) among them."""
    rng = np.random.default_rng(n)
    x = rng.uniform(6, 13, n)
    y = -0.07 * x + 0.4 + rng.normal(0, 0.2, n)
    xv, yv = rng.uniform(0.05, 0.4, n) ** 2, rng.uniform(0.03, 0.2, n) ** 2
    box = np.array([-2.0, 2.0, -10.0, 10.0, 0.0, 5.0])
    theta = np.column_stack(
        [rng.normal(-0.07, 0.05, 9), rng.normal(0.4, 0.2, 9), rng.uniform(0.01, 1, 9)]
    )
    theta[2, 0] = 3.0  # outside the prior: -inf, not evaluated
    theta[5, 2] = -0.1  # lambda < 0: -inf
    for y_bad in (None, np.nan, 1e200):
        yy = y.copy()
        if y_bad is not None:
            yy[n // 2] = y_bad  # this star's chunk: the exact loop
        bounds = np.array([xv.min(), xv.max(), yv.min(), yv.max()])
        for perpendicular in (True, False):
            kern = kernel_variant.LineKernel(x, yy, xv, yv, np.empty(0), bounds, box, perpendicular)
            alone = np.empty(len(theta))
            for i, th in enumerate(theta):
                one = np.empty(1)
                kern.evaluate(np.ascontiguousarray(th[None, :]), True, one, 1)
                alone[i] = one[0]
            assert np.isfinite(alone).sum() == (7 if y_bad is None else 0)
            for k in range(2, len(theta) + 1):
                for threads in (1, 2):
                    out = np.empty(k)
                    kern.evaluate(np.ascontiguousarray(theta[:k]), True, out, threads)
                    np.testing.assert_array_equal(out, alone[:k], err_msg=f"{k} thetas")


@HYPO
@given(
    n=st.integers(1, 300),
    seed=st.integers(0, 2**32 - 1),
    m=st.floats(-20, 20),
    b=st.floats(-50, 50),
    lam=st.floats(0, 10),
    err_scale=st.floats(1e-6, 1e3),
    perpendicular=st.booleans(),
    with_cov=st.booleans(),
)
def test_line_loglike_property(
    kernel_variant, n, seed, m, b, lam, err_scale, perpendicular, with_cov
):
    """Random sizes, lines and error scales: the kernel is numpy's formula."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 10, n)
    y = m * x + b + rng.normal(0, 1, n)
    sx = err_scale * rng.uniform(0.1, 1, n)
    sy = err_scale * rng.uniform(0.1, 1, n)
    sxy = rng.uniform(-0.9, 0.9, n) * sx * sy if with_cov else None
    theta = np.array([[m, b, lam]])
    ref = numpy_loglike(theta[0], x, y, sx, sy, sxy, perpendicular)
    n_inf, out = _line_kernel(kernel_variant, theta, x, y, sx, sy, sxy, perpendicular, False)
    if not np.isfinite(ref):
        assert out[0] == -np.inf
    else:
        assert n_inf == 0
        assert out[0] == pytest.approx(ref, rel=1e-11, abs=1e-9)


# ---- radix argsort and annulus means (docs/method.md section 6) --------------
def brute_annulus_mean(R, values, weights, h):
    """Per star: the exactly summed (math.fsum) weighted mean over
    |R_j - R_i| <= h, as the kernel defines it (one rounded subtraction)."""
    out = np.empty(len(R))
    w = np.ones(len(R)) if weights is None else weights
    wv = w * values  # rounded products, as the kernel's
    for i in range(len(R)):
        sel = np.abs(R - R[i]) <= h
        den = math.fsum(w[sel])
        out[i] = math.fsum(wv[sel]) / den if den != 0 else np.nan
    return out


def _annulus(mod, R, values, weights, h, n_threads=2):
    out = np.empty(len(R))
    mod.annulus_mean(R, values, np.empty(0) if weights is None else weights, h, out, n_threads)
    return out


def _assert_annulus_close(got, ref, values, weights):
    # the window sums are correctly rounded to ~1e-25 sum|x|: allow a few ulp
    # of the largest term's scale
    w = np.ones(len(values)) if weights is None else weights
    scale = np.max(np.abs(w * values)) / np.maximum(np.min(w[w > 0], initial=1.0), 1e-300)
    assert np.array_equal(np.isnan(got), np.isnan(ref))
    ok = ~np.isnan(ref)
    np.testing.assert_allclose(got[ok], ref[ok], rtol=1e-13, atol=1e-13 * scale)


@pytest.mark.parametrize("weighted", [False, True])
def test_annulus_mean_matches_brute_force(kernel_variant, weighted):
    rng = np.random.default_rng(8)
    n = 3 * 4096 + 77  # several blocks
    R = np.round(rng.uniform(3, 16, n), 3)  # ties
    values = rng.normal(-0.2, 0.3, n)
    weights = rng.uniform(0, 2, n) if weighted else None
    got = _annulus(kernel_variant, R, values, weights, 0.1)
    _assert_annulus_close(got, brute_annulus_mean(R, values, weights, 0.1), values, weights)
    # every build and thread count: the same bits (no FMA in the sums)
    assert np.array_equal(got, _annulus(BASELINE, R, values, weights, 0.1, 1), equal_nan=True)


@HYPO
@given(
    n=st.integers(1, 400),
    seed=st.integers(0, 2**32 - 1),
    n_distinct=st.integers(1, 50),
    h=st.sampled_from([0.0, 1e-3, 0.05, 0.3, 2.0, 100.0]),
    weighted=st.booleans(),
    zero_weights=st.floats(0, 1),
)
def test_annulus_mean_property(kernel_variant, n, seed, n_distinct, h, weighted, zero_weights):
    """Random radii with ties, half-widths from 0 to everything, weights with zeros."""
    rng = np.random.default_rng(seed)
    R = rng.choice(rng.uniform(-5, 20, n_distinct), n)
    values = rng.normal(0, 1, n) * 10.0 ** rng.integers(-3, 4, n)
    weights = None
    if weighted:
        weights = rng.uniform(0, 3, n)
        weights[rng.random(n) < zero_weights] = 0.0
    got = _annulus(kernel_variant, R, values, weights, h)
    _assert_annulus_close(got, brute_annulus_mean(R, values, weights, h), values, weights)


def test_radix_argsort_is_numpys_stable_argsort(kernel_variant):
    rng = np.random.default_rng(9)
    x = np.concatenate(
        [
            rng.normal(0, 1e3, 50000),
            np.round(rng.normal(0, 5, 50000)),
            [0.0, -0.0, 1e-300, -1e-300, 1e300, -1e300],
        ]
    )
    order, xs = np.empty(len(x), np.uint32), np.empty(len(x))
    kernel_variant.radix_argsort(x, order, xs, 2)
    ref = np.argsort(x, kind="stable")
    np.testing.assert_array_equal(xs, x[ref] + 0.0)
    # stable among equal keys; -0.0 and +0.0 are one key, so compare values
    np.testing.assert_array_equal(x[order] + 0.0, x[ref] + 0.0)
    same = x[order][1:] == x[order][:-1]
    assert np.all(order[1:][same] > order[:-1][same])
