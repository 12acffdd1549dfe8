"""Fit data in shared memory (fastgrad.fitting.shared): the bins' worker
processes map the plan's columns and make their models themselves.

Checked here: the columns' references, that a view outlives its block's
close (no unmapped pages under a live array), that no block is left behind,
that fits in worker processes are those of one process bit for bit whether
the columns were copied into a block or already in one (the Dask engine's
case), that a sampler comes back without the bin's data, and that Figure 3's
fit is Table 1's first bin.
"""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from astropy.table import Column, Table
from conftest import shm_blocks

import fastgrad
from fastgrad.fitting.shared import SharedColumns, attach, locate, share


def test_columns_refs_and_attach():
    with SharedColumns(4, ["a", "b"]) as block:
        block["a"][:] = [1.0, 2.0, 3.0, 4.0]
        block["b"][:] = -1.0
        ref = block.ref(block["b"])
        assert ref == (block.name, 32, 4)
        assert locate(block["a"]) == (block.name, 0, 4)
        # not a whole contiguous float64 run of the block: no reference
        assert block.ref(block["a"][::2]) is None
        assert block.ref(np.ones(4)) is None
        assert locate(block["a"].astype(np.float32)) is None
        with attach([ref, block.ref(block["a"])]) as (b, a):
            assert b.tolist() == [-1.0] * 4 and a.tolist() == [1.0, 2.0, 3.0, 4.0]
            assert not a.flags.writeable
            del a, b
    assert locate(np.ones(3)) is None


def test_share_copies_only_what_is_not_shared():
    before = shm_blocks()
    with SharedColumns(3, ["x"]) as block:
        block["x"][:] = [1.0, 2.0, 3.0]
        plain = np.array([4.0, 5.0, 6.0])
        with share({"x": block["x"], "y": plain}) as refs:
            assert refs["x"] == block.ref(block["x"])  # as it is
            assert refs["y"][0] != block.name  # a copy in a new block
            with attach([refs["y"]]) as (y,):
                assert y.tolist() == [4.0, 5.0, 6.0]
                del y
    assert shm_blocks() == before


def test_a_view_outlives_the_block():
    """close() while a view is alive: the view keeps its pages (a plain
    SharedMemory.close() would unmap them under it: a segfault, hence a
    subprocess)."""
    code = """
import gc
import numpy as np
from fastgrad.fitting.shared import SharedColumns, attach
block = SharedColumns(1000, ["v"])
block["v"][:] = np.arange(1000.0)
view = block["v"][10:20]
ref = block.ref(block["v"])
with attach([ref]) as (kept,):
    pass
block.close()
gc.collect()
print(view.sum(), kept[999])
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["145.0", "999.0"]
    assert "Exception ignored" not in out.stderr


def _data(n=30_000, seed=3):
    rng = np.random.default_rng(seed)
    R = rng.uniform(6.0, 12.0, n)
    z = rng.uniform(-1.0, 1.0, n)
    feh = 0.5 - 0.06 * R - 0.2 * np.abs(z) + rng.normal(0.0, 0.1, n)
    err = rng.uniform(0.03, 0.08, n)
    return R, z, feh, err


KW = dict(absz_edges=[0.0, 0.5, 1.0], R_edges=[6.0, 9.0, 12.0], n_walkers=8, n_steps=60, seed=1)


def _tables(*args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # AutocorrWarning: short chains
        return fastgrad.fit_tables(*args, **kw)


def _same(a, b):
    for ta, tb in zip(a, b):
        for c in ("n_stars", "slope", "slope_err", "intercept", "scatter", "acceptance_fraction"):
            np.testing.assert_array_equal(np.asarray(ta[c]), np.asarray(tb[c]), err_msg=c)


def test_worker_fits_equal_one_process_fits():
    R, z, feh, err = _data()
    before = shm_blocks()
    one = _tables(R, z, feh, err, err, err, n_jobs=None, **KW)
    workers = _tables(R, z, feh, err, err, err, n_jobs=2, **KW)
    _same(one, workers)
    # the columns already in a block (the Dask engine gathers them there):
    # referenced, not copied, and the same numbers; |Z| given as absz
    with SharedColumns(R.size, ["R", "absz", "feh", "err"]) as block:
        block["R"][:], block["absz"][:], block["feh"][:], block["err"][:] = R, np.abs(z), feh, err
        shared = _tables(
            block["R"], block["absz"], block["feh"], block["err"], block["err"], block["err"],
            n_jobs=2, **KW,
        )  # fmt: skip
    _same(one, shared)
    assert shm_blocks() == before  # nothing left in /dev/shm


def test_a_worker_sampler_comes_back_without_the_data():
    R, z, feh, err = _data()
    _, _, fits1, fits2 = _tables(R, z, feh, err, err, err, n_jobs=2, return_fits=True, **KW)
    fit = fits1[0]
    assert fit.sampler.get_chain().shape == (60, 8, 3)  # the chain came back
    np.testing.assert_array_equal(fit.sampler.get_chain(discard=fit.burn, flat=True), fit.samples)
    with pytest.raises(RuntimeError, match="worker process"):
        fit.sampler.log_prob_fn(np.zeros(3))
    # one process: the sampler keeps its model and can go on
    _, _, local1, _ = _tables(R, z, feh, err, err, err, n_jobs=None, return_fits=True, **KW)
    assert np.isfinite(local1[0].sampler.log_prob_fn(np.array([[-0.06, 0.5, 0.1]]))).all()
    assert sorted(fits1) == [0, 1] and sorted(fits2) == [0, 1]


def test_figure3_is_table1_first_bin():
    from fastgrad.pipeline.config import load_config
    from fastgrad.pipeline.run import gradient_fits, sample_config

    R, z, feh, err = _data(n=8000)
    sample = Table(
        [Column(v, name=c) for c, v in zip(
            ("R", "z", "absz", "feh_used", "R_err", "z_err", "feh_used_err"),
            (R, z, np.abs(z), feh, err, err, err),
        )]
    )  # fmt: skip
    cfg = sample_config(
        load_config({"fit": {"n_walkers": 8, "n_steps": 60, "min_stars": 500}}), "lamost"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t1, t2, fit = gradient_fits(sample, cfg, n_threads=1)
    assert fit.n_stars == t1["n_stars"][0]
    assert fit.slope == t1["slope"][0] and fit.scatter == t1["scatter"][0]
    # the same tables from z as from |Z|
    plain = Table(sample)
    plain.remove_column("absz")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u1, u2, _ = gradient_fits(plain, cfg, n_threads=1)
    _same((t1, t2), (u1, u2))


@pytest.mark.skipif(not hasattr(os, "posix_fallocate"), reason="no posix_fallocate")
def test_no_room_in_shared_memory_is_an_error_not_a_sigbus(no_shm_room):
    """A block whose pages /dev/shm cannot hold is refused when made (an
    OSError naming the size), and nothing is left behind."""
    from fastgrad.fitting.shared import new_block

    before = shm_blocks()
    with pytest.raises(OSError, match=r"no room in shared memory for 2 MiB.*--shm-size") as err:
        new_block(2 * 2**20)
    assert err.value.errno == 28  # ENOSPC
    with pytest.raises(OSError, match="no room"):
        SharedColumns(1000, ["a", "b"])
    assert shm_blocks() == before


@pytest.mark.skipif(not hasattr(os, "posix_fallocate"), reason="no posix_fallocate")
def test_fits_without_room_in_shared_memory_run_here(no_shm_room):
    """n_jobs=2 with a full /dev/shm: a RuntimeWarning that says why, and the
    fits of one process (the same numbers)."""
    R, z, feh, err = _data()
    one = _tables(R, z, feh, err, err, err, n_jobs=None, **KW)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        here = fastgrad.fit_tables(R, z, feh, err, err, err, n_jobs=2, **KW)
    said = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert any(
        "the fits run in this process" in m and "no room in shared memory" in m for m in said
    )
    _same(one, here)
