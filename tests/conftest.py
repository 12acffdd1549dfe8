"""Shared fixtures: the kernel builds this machine runs, seeded stars, and
the shared-memory helpers of the worker-process tests."""

import errno
import os

import numpy as np
import pytest

from fastgrad import _kernels

#: {name: module} of every kernel build this machine can run ("baseline";
#: "avx2" where it is built and the CPU has AVX2 + FMA; "avx512" where the
#: CPU also has AVX-512 F, DQ, VL and BW)
KERNEL_VARIANTS = _kernels.variants()


@pytest.fixture(params=sorted(KERNEL_VARIANTS), ids=str)
def kernel_variant(request):
    """Each build of the compiled kernels in turn (a module like fastgrad._core)."""
    return KERNEL_VARIANTS[request.param]


def random_stars(n, seed=0):
    """ICRS astrometry of n seeded stars with plausible errors, as the
    transform kernels take it: a dict of float64 arrays; angles in rad
    (``ra_err`` is sigma(ra cos dec)), distances in kpc, proper motions in
    mas/yr, radial velocities in km/s."""
    rng = np.random.default_rng(seed)
    dist = rng.uniform(0.1, 6.0, n)
    return {
        "ra": rng.uniform(0.0, 2 * np.pi, n),
        "dec": np.arcsin(rng.uniform(-0.99, 0.99, n)),
        "dist": dist,
        "pmra": rng.normal(0.0, 6.0, n),
        "pmdec": rng.normal(0.0, 6.0, n),
        "rv": rng.normal(0.0, 60.0, n),
        "ra_err": rng.uniform(1e-10, 1e-7, n),
        "dec_err": rng.uniform(1e-10, 1e-7, n),
        "dist_err": dist * rng.uniform(0.01, 0.3, n),
        "pmra_err": rng.uniform(0.01, 0.3, n),
        "pmdec_err": rng.uniform(0.01, 0.3, n),
        "rv_err": rng.uniform(0.5, 8.0, n),
    }


@pytest.fixture
def make_stars():
    """:func:`random_stars`, for tests that want seeded stars of their own size."""
    return random_stars


def shm_blocks():
    """The names of the POSIX shared-memory blocks Python made that exist now
    (empty where there is no /dev/shm)."""
    shm = "/dev/shm"
    return {f for f in os.listdir(shm) if f.startswith("psm_")} if os.path.isdir(shm) else set()


@pytest.fixture
def no_shm_room(monkeypatch):
    """posix_fallocate says what a full /dev/shm says (Docker's 64 MB)."""

    def full(fd, offset, size):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full, raising=False)
    return monkeypatch
