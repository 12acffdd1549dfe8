"""fastgrad.engine: one step, mapped over a table or over pandas/Dask partitions, same bits."""

import os

import astropy.units as u
import numpy as np
import pytest
from astropy.table import MaskedColumn, Table

import fastgrad
from fastgrad import engine, transform
from fastgrad.populations import add_kinematic_probabilities


def _stars(n=600, seed=4):
    rng = np.random.default_rng(seed)
    t = Table()
    t["source_id"] = rng.choice(10**12, n, replace=False).astype(np.int64) + 10**15
    t["ra"] = rng.uniform(0, 360, n) * u.deg
    t["dec"] = rng.uniform(-60, 60, n) * u.deg
    t["distance"] = rng.uniform(0.2, 4, n) * u.kpc
    t["pmra"] = rng.normal(0, 8, n) * u.mas / u.yr
    t["pmdec"] = rng.normal(0, 8, n) * u.mas / u.yr
    t["rv"] = rng.normal(0, 40, n) * u.km / u.s
    t["ra_error"] = rng.uniform(0.01, 0.05, n) * u.mas
    t["dec_error"] = rng.uniform(0.01, 0.05, n) * u.mas
    t["distance_error"] = 0.1 * t["distance"]
    t["pmra_error"] = rng.uniform(0.01, 0.1, n) * u.mas / u.yr
    t["pmdec_error"] = rng.uniform(0.01, 0.1, n) * u.mas / u.yr
    t["rv_err"] = rng.uniform(1, 5, n) * u.km / u.s
    t["ra_dec_corr"] = rng.uniform(-0.3, 0.3, n)
    return t


STEP = dict(n_samples=40, seed=5, radial_velocity="rv", radial_velocity_error="rv_err")


def test_add_galactocentric_is_mc_galactocentric_on_the_columns():
    t = _stars()
    out = transform.add_galactocentric(t, **STEP)
    ref = fastgrad.mc_galactocentric(
        t["ra"],
        t["dec"],
        t["distance"],
        t["pmra"],
        t["pmdec"],
        t["rv"],
        ra_error=t["ra_error"],
        dec_error=t["dec_error"],
        distance_error=t["distance_error"],
        pmra_error=t["pmra_error"],
        pmdec_error=t["pmdec_error"],
        radial_velocity_error=t["rv_err"],
        n_samples=40,
        seed=5,
        correlations={"ra_dec_corr": t["ra_dec_corr"]},
        ids=np.asarray(t["source_id"]),
    )
    assert out.colnames == t.colnames + list(transform.GALACTOCENTRIC_COLUMNS)
    for name in ref.colnames:
        np.testing.assert_array_equal(out[name], ref[name], err_msg=name)
        assert out[name].unit == ref[name].unit
    assert out.meta["galactocentric"]["n_samples"] == 40
    assert "x" not in t.colnames  # copy=True leaves the input alone


def test_add_galactocentric_names_missing_columns():
    t = _stars(20)
    t.remove_columns(["pmra", "rv_err"])
    with pytest.raises(ValueError, match=r"\['pmra', 'rv_err'\]"):
        transform.add_galactocentric(t, **STEP)


def test_adapter_round_trip_keeps_units_and_missing_values():
    t = Table()
    t["a"] = MaskedColumn(
        [1.0, 2.0, 3.0], mask=[False, True, False], unit=u.kpc, description="radius"
    )
    t["i"] = MaskedColumn([1, 2, 3], mask=[False, False, True])
    t["s"] = ["x", "y", "z"]
    df = engine.table_to_frame(t)
    assert np.isnan(df["a"].iloc[1]) and df["i"].isna().tolist() == [False, False, True]
    back = engine.frame_to_table(df, engine.column_info(t))
    assert back["a"].unit == u.kpc and back["a"].description == "radius"
    assert np.isnan(back["a"][1]) and back["i"].mask.tolist() == [False, False, True]
    assert back["i"].dtype.kind == "i" and list(back["s"]) == ["x", "y", "z"]


def test_local_engine_chunks_change_no_number():
    t = _stars()
    whole = engine.LocalEngine().map(transform.add_galactocentric, t, **STEP)

    def chunks(n, label):
        edges = [0, 7, 300, n]
        return list(zip(edges[:-1], edges[1:]))

    chunked = engine.LocalEngine(chunks=chunks).map(
        transform.add_galactocentric, t, label="MC", **STEP
    )
    for name in transform.GALACTOCENTRIC_COLUMNS:
        np.testing.assert_array_equal(whole[name], chunked[name], err_msg=name)


def test_a_step_on_shuffled_pandas_partitions_gives_the_same_bits():
    """apply_step is what DaskEngine maps: each partition through the adapter."""
    pd = pytest.importorskip("pandas")
    t = _stars()
    info = engine.column_info(t)
    df = engine.table_to_frame(t).sample(frac=1.0, random_state=2)
    parts = [
        engine.apply_step(p, transform.add_galactocentric, info, STEP)
        for p in (df.iloc[lo:hi] for lo, hi in ((0, 150), (150, 151), (151, 420), (420, None)))
    ]
    got = pd.concat(parts).sort_index()
    ref = transform.add_galactocentric(t, **STEP)
    for name in transform.GALACTOCENTRIC_COLUMNS:
        np.testing.assert_array_equal(got[name].to_numpy(), np.asarray(ref[name]), err_msg=name)


def test_dask_engine_maps_the_steps_bit_identically():
    pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    t = _stars()
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        with engine.DaskEngine(client=client, partitions=3) as eng:
            assert eng.n_threads is None
            mc = eng.map(transform.add_galactocentric, t, **STEP)
            probs = eng.map(add_kinematic_probabilities, mc, columns=["x", "y", "vx", "vy", "vz"])
    local = engine.LocalEngine()
    mc_ref = local.map(transform.add_galactocentric, t, **STEP)
    probs_ref = local.map(add_kinematic_probabilities, mc_ref, columns=["x", "y", "vx", "vy", "vz"])
    assert mc.colnames == mc_ref.colnames and probs.colnames == probs_ref.colnames
    for got, ref in ((mc, mc_ref), (probs, probs_ref)):
        for name in ref.colnames:
            np.testing.assert_array_equal(
                np.asarray(got[name]), np.asarray(ref[name]), err_msg=name
            )
            assert got[name].unit == ref[name].unit, name
    assert probs.meta["kinematics"] == probs_ref.meta["kinematics"]


def test_worker_environment_drops_only_dasks_default_malloc_trim():
    """Dask's nanny default MALLOC_TRIM_THRESHOLD_=65536 pins glibc's mmap
    threshold (every partition-sized array faults its pages in anew): gone
    for fastgrad's LocalClusters, a user's own value kept, the rest as it is."""
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    key = "distributed.nanny.pre-spawn-environ"
    default = dict(dask.config.get(key))
    assert str(default.get("MALLOC_TRIM_THRESHOLD_")) == str(engine.DASK_DEFAULT_MALLOC_TRIM)
    with engine.worker_environment():
        inside = dict(dask.config.get(key))
    assert "MALLOC_TRIM_THRESHOLD_" not in inside
    assert inside == {k: v for k, v in default.items() if k != "MALLOC_TRIM_THRESHOLD_"}
    assert dict(dask.config.get(key)) == default  # restored
    with dask.config.set({key: {**default, "MALLOC_TRIM_THRESHOLD_": 1 << 20}}):
        with engine.worker_environment():
            assert dask.config.get(key)["MALLOC_TRIM_THRESHOLD_"] == 1 << 20


def test_dask_engines_own_workers_start_without_the_trim_threshold(monkeypatch):
    """The workers get Dask's OMP_NUM_THREADS=1 and no trim threshold; the
    caller's process, where a LocalCluster's nannies write those variables
    into os.environ before spawning, gets its own values back (unset stays
    unset, a value of the user's is kept), with the cluster running and
    after it closed."""
    pytest.importorskip("dask.dataframe")
    pytest.importorskip("distributed")
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "3")
    here = ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    with engine.DaskEngine(n_workers=1) as eng:
        env = eng.client.run(
            lambda: (os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.environ.get("OMP_NUM_THREADS"))
        )
        assert [os.environ.get(k) for k in here] == [None, None, "3"]
        os.environ["OMP_NUM_THREADS"] = "1"  # as a nanny restarting its worker would
    assert list(env.values()) == [(None, "1")]
    assert [os.environ.get(k) for k in here] == [None, None, "3"]
