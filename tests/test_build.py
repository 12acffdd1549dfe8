"""The build: OpenMP, show_config, and the kernels' C headers (src/fastgrad/_c)
compiled on their own by the C compiler, outside Cython."""

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fastgrad
from fastgrad._kernels import core

HEADERS = Path(__file__).resolve().parents[1] / "src" / "fastgrad" / "_c"


def test_openmp_enabled_on_linux():
    if sys.platform.startswith("linux"):
        assert core.openmp_enabled()
        assert fastgrad.build_config()["openmp"] is True


def test_show_config_reports(capsys):
    fastgrad.show_config()
    out = capsys.readouterr().out
    assert "openmp" in out and "n_threads" in out and fastgrad.__version__ in out


def _cc():
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None:
        pytest.skip("no C compiler")
    if not HEADERS.is_dir():
        pytest.skip("the C headers are not next to these tests (an installed wheel)")
    return cc


def _flag_sets():
    """Each way the package compiles the headers: baseline, with libmvec's
    declarations, with OpenMP, and the AVX2 and AVX-512 builds' flags on x86-64."""
    sets = [[], ["-DFG_USE_LIBMVEC"], ["-fopenmp"]]
    if platform.machine().lower() in ("x86_64", "amd64"):
        avx2 = ["-mavx2", "-mfma", "-ffp-contract=fast", "-DFG_USE_LIBMVEC"]
        avx512 = ["-mavx512f", "-mavx512dq", "-mavx512vl", "-mavx512bw"]
        sets += [avx2, avx2 + avx512 + ["-mprefer-vector-width=512"]]
    return sets


def _compiles(cc, args):
    return subprocess.run([cc, *args], capture_output=True, text=True)


@pytest.mark.parametrize("flags", _flag_sets(), ids=lambda f: " ".join(f) or "baseline")
def test_each_header_compiles_on_its_own(flags, tmp_path):
    """Every header includes what it uses and is warning-free C.  (Unused
    static functions are the norm for a header included alone.)"""
    cc = _cc()
    for header in sorted(HEADERS.glob("*.h")):
        src = tmp_path / f"{header.stem}.c"
        src.write_text(f'#include "{header.name}"\n')
        res = _compiles(
            cc,
            [
                "-fsyntax-only",
                "-std=gnu11",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-Wno-unused-function",
                *flags,
                "-I",
                str(HEADERS),
                str(src),
            ],
        )
        if res.returncode != 0 and "-fopenmp" in flags and "omp.h" in res.stderr:
            pytest.skip("the C compiler has no OpenMP")
        assert res.returncode == 0, f"{header.name} with {flags}:\n{res.stderr}"


C_PROGRAM = r"""
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include "fg_openmp.h"
#include "fg_runtime.h"
#include "fg_bigalloc.h"
#include "fg_math.h"
#include "fg_rng.h"
#include "fg_likelihood.h"

static int fails = 0;
#define CHECK(c) do { if (!(c)) { printf("FAIL line %d: %s\n", __LINE__, #c); fails++; } } while (0)

int main(void)
{
    /* fg_atan2 against libm, over every quadrant and the axes */
    double worst = 0.0;
    for (int i = -200; i <= 200; i++)
        for (int j = -200; j <= 200; j++) {
            double y = i * 0.37, x = j * 0.29, ref = atan2(y, x), got = fg_atan2(y, x);
            double err = fabs(got - ref) / (fabs(ref) > 1e-300 ? fabs(ref) : 1.0);
            worst = err > worst ? err : worst;
        }
    CHECK(worst < 4e-16);
    CHECK(fg_atan2(0.0, -1.0) == M_PI && fg_atan2(-0.0, -1.0) == -M_PI && fg_atan2(0.0, 0.0) == 0.0);

    /* uniforms in [0, 1), a pure function of (key, counter); normals bounded */
    uint64_t key = fg_stream_key(42, 7);
    CHECK(key == fg_stream_key(42, 7) && key != fg_stream_key(42, 8));
    double s = 0.0;
    for (uint64_t c = 0; c < 100000; c++) {
        double u = fg_uniform(key, c), z0, z1, f0, f1;
        CHECK(u >= 0.0 && u < 1.0);
        s += u;
        fg_normal_pair(key, c, &z0, &z1);
        fg_normal_pair_f(key, c, &f0, &f1);
        CHECK(fabs(z0) <= 8.6 && fabs(z1) <= 8.6 && fabs(f0) <= 5.7 && fabs(f1) <= 5.7);
        if (fails) return 1;
    }
    CHECK(fabs(s / 100000 - 0.5) < 0.005);

    /* the Monte Carlo's 8 hashes at once (AVX2 intrinsics with the AVX2
     * flags), and its FG_MC_LANES (16 with AVX-512 intrinsics): the
     * mantissas of the scalar hash, lane for lane, and the normals of
     * fg_normal_pair_f */
    uint64_t pt[FG_MC_LANES];
    uint32_t b1[FG_MC_LANES], b2[FG_MC_LANES], c1[FG_MC_LANES], c2[FG_MC_LANES];
    for (int l = 0; l < FG_MC_LANES; l++)
        pt[l] = key + (uint64_t)(3 * l) * FG_GAMMA + (uint64_t)l * UINT64_C(0x123456789);
    fg_pair_bits8(pt, FG_GAMMA, b1, b2);
    fg_pair_bits_mc(pt, FG_GAMMA, c1, c2);
    if (FG_MC_LANES > 8)
        fg_pair_bits8(pt + 8, FG_GAMMA, b1 + 8, b2 + 8);
    for (int l = 0; l < FG_MC_LANES; l++) {
        CHECK(c1[l] == b1[l] && c2[l] == b2[l]);
        uint64_t bits = fg_mix64(pt[l] + FG_GAMMA);
        CHECK(b1[l] == (uint32_t)bits >> 9 && b2[l] == (uint32_t)(bits >> 32) >> 9);
        double z0, z1, f0, f1;
        fg_normal_pair_f_bits(b1[l], b2[l], &z0, &z1);
        fg_normal_pair_f_at(pt[l] + FG_GAMMA, &f0, &f1);
        CHECK(z0 == f0 && z1 == f1);
    }
    CHECK(fg_no_contract(1.5) == 1.5);

    /* the likelihood's blocked path against its plain loop */
    enum { N = 1000 };
    static double x[N], y[N], ex[N], ey[N], cxy[N];
    for (int i = 0; i < N; i++) {
        x[i] = 6.0 + 0.007 * i;
        y[i] = 0.4 - 0.07 * x[i] + 0.1 * sin(i);
        ex[i] = 0.05 + 0.3 * fg_uniform(key, 3 * i);
        ey[i] = 0.03 + 0.1 * fg_uniform(key, 3 * i + 1);
        cxy[i] = 0.5 * (fg_uniform(key, 3 * i + 2) - 0.5) * ex[i] * ey[i];
    }
    for (int has_cov = 0; has_cov < 2; has_cov++) {
        double fast[2], plain[2], scan[FG_LL_NSCAN];
        fg_ll_chunk(x, y, ex, ey, has_cov ? cxy : NULL, N, -0.07, 0.4, 0.04, 0, has_cov, 1, fast);
        fg_ll_chunk(x, y, ex, ey, has_cov ? cxy : NULL, N, -0.07, 0.4, 0.04, 0, has_cov, 0, plain);
        CHECK(fabs(fast[0] - plain[0]) <= 1e-13 * fabs(plain[0]));
        CHECK(fabs(fast[1] - plain[1]) <= 1e-13 * fabs(plain[1]));
        fg_ll_scan(ex, ey, has_cov ? cxy : NULL, N, has_cov, scan);
        CHECK(scan[0] >= 0.05 && scan[1] <= 0.35 && scan[2] >= 0.03 && scan[3] <= 0.13);
        CHECK(has_cov ? scan[5] < 0.0 : scan[5] == -INFINITY);
    }

    /* large blocks: huge-page aligned, writable */
    size_t nb = (size_t)5 << 20;
    char *p = fg_big_alloc(nb);
    CHECK(p != NULL && ((uintptr_t)p % FG_HUGE_PAGE) == 0);
    if (p) { p[0] = 1; p[nb - 1] = 2; }
    fg_big_free(p);
    fg_big_free(fg_big_alloc(16));

    CHECK(omp_get_max_threads() >= 1 && omp_get_thread_limit() >= 1);
    int flag = 0;
    CHECK(!fg_flag_get(&flag));
    fg_flag_raise(&flag);
    CHECK(fg_flag_get(&flag));
    CHECK(fg_cpu_has_avx2_fma() == 0 || fg_cpu_has_avx2_fma() == 1);
    CHECK(fg_cpu_has_avx512() == 0 || fg_cpu_has_avx512() == 1);
    CHECK(!fg_cpu_has_avx512() || fg_cpu_has_avx2_fma());
    CHECK(fg_add_sq(1.0f, 3.0f) == 10.0f);
    CHECK(fg_propagate_error() == -1);
    return fails != 0;
}
"""


@pytest.mark.parametrize("flags", _flag_sets(), ids=lambda f: " ".join(f) or "baseline")
def test_headers_in_a_c_program(flags, tmp_path):
    """A small C program that uses every header compiles warning-free and
    gets the right answers (atan2, the random streams, the likelihood's two
    paths, the allocator, the OpenMP shim)."""
    cc = _cc()
    if "-mavx2" in flags and not core.cpu_has_avx2_fma():
        pytest.skip("this CPU cannot run AVX2 code")
    if "-mavx512f" in flags and not core.cpu_has_avx512():
        pytest.skip("this CPU cannot run AVX-512 code")
    src, exe = tmp_path / "headers.c", tmp_path / "headers"
    src.write_text(C_PROGRAM)
    res = _compiles(
        cc,
        [
            "-std=gnu11",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-fno-math-errno",
            "-fno-trapping-math",
            *flags,
            "-I",
            str(HEADERS),
            str(src),
            "-o",
            str(exe),
            "-lm",
        ],
    )
    if res.returncode != 0 and "-fopenmp" in flags and "omp.h" in res.stderr:
        pytest.skip("the C compiler has no OpenMP")
    assert res.returncode == 0, res.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_import_leaves_heavy_modules_for_later():
    """``import fastgrad`` loads numpy, astropy and the kernels, not
    scipy.stats (~1.5 s), emcee, matplotlib or Dask: they load on first use."""
    code = (
        "import sys, fastgrad; "
        "print([m for m in ('scipy.stats', 'emcee', 'matplotlib', 'dask') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
