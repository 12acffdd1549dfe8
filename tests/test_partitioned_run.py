"""`engine = "dask"` on a catalogue directory: every per-star step on the
partitions (fastgrad.pipeline.partitioned) gives the local engine's tables,
cut report and profiles byte for byte, and what it cannot do it refuses."""

import json
import os

import numpy as np
import pandas as pd
import pytest
from astropy.table import join

pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
lsdb = pytest.importorskip("lsdb")

import dask  # noqa: E402

import fastgrad  # noqa: E402
from fastgrad.errors import ConfigError  # noqa: E402
from fastgrad.pipeline.config import load_config, sample_plan  # noqa: E402
from fastgrad.pipeline.partitioned import (  # noqa: E402
    FINAL_COLUMNS,
    partitioned_input,
    prepare_partitioned,
    steps_on_partition,
)
from fastgrad.pipeline.progress import Progress  # noqa: E402
from fastgrad.pipeline.run import EmptySample, prepare_sample, run  # noqa: E402

N_STARS = 6000
SETTINGS = {
    "run": ["giants"],
    "monte_carlo": {"n_samples": 40, "seed": 11},
    "fit": {"n_walkers": 8, "n_steps": 60, "min_stars": 150},
    "azimuthal": {"min_count": 5},
}


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    """The giants mock's Gaia and Bailer-Jones rows joined into one catalogue
    (what a user joins once with LSDB), rows shuffled, written as a Parquet
    dataset of three files and as a HATS collection."""
    root = tmp_path_factory.mktemp("catalogue")
    survey = fastgrad.make_survey("gaia_giants", N_STARS, seed=21)
    t = join(survey["gaia"], survey["bailer_jones"], keys="source_id")
    t.meta.clear()
    df = t.to_pandas()
    df = df.iloc[np.random.default_rng(5).permutation(len(df))].reset_index(drop=True)
    pq = root / "parquet"
    pq.mkdir()
    for i, rows in enumerate(np.array_split(np.arange(len(df)), 3)):
        df.iloc[rows].to_parquet(pq / f"part{i}.parquet", index=False)
    hats = root / "hats"
    lsdb.from_dataframe(
        df, ra_column="ra", dec_column="dec", catalog_name="giants", partition_rows=2500
    ).to_hats(hats)
    return {"df": df, "parquet": str(pq), "hats": str(hats), "root": root}


def _cfg(path, engine="local", **dask_settings):
    return load_config(
        {
            **SETTINGS,
            "engine": engine,
            "dask": dask_settings,
            "samples": {"giants": {"inputs": {"gaia": path, "distances": path}}},
        }
    )


def test_read_catalog_reads_a_hats_collection_and_a_parquet_dataset_alike(catalogue):
    a = fastgrad.read_catalog(catalogue["hats"], kind="gaia_giants")
    b = fastgrad.read_catalog(catalogue["parquet"], kind="gaia_giants")
    assert len(a) == len(b) == len(catalogue["df"])
    assert sorted(a.colnames) == sorted(b.colnames)  # HATS's _healpix_29, Norder... dropped
    a, b = a[np.argsort(a["source_id"])], b[np.argsort(b["source_id"])]
    for name in a.colnames:
        np.testing.assert_array_equal(np.asarray(a[name]), np.asarray(b[name]), err_msg=name)
        assert a[name].unit == b[name].unit, name


def test_the_steps_on_partitions_add_up_to_the_local_sample(catalogue):
    """Each partition through the same steps; counts summed and stars stacked
    are the local engine's, an empty partition included."""
    cfg = _cfg(catalogue["parquet"])
    with Progress(False) as progress:
        local, report, _ = prepare_sample(cfg, "giants", progress)
    df = catalogue["df"]
    bounds = [(0, 0), (0, 2000), (2000, 2001), (2001, len(df))]
    outs = [steps_on_partition(df.iloc[lo:hi], cfg, "giants", f"part {lo}") for lo, hi in bounds]
    reports = [o[1] for o in outs]
    assert all(list(r["cut"]) == list(report["cut"]) for r in reports)
    for col in ("n_before", "n_removed", "n_after"):
        np.testing.assert_array_equal(sum(r[col].to_numpy() for r in reports), report[col])
    stars = pd.concat([o[0] for o in outs]).sort_values("source_id", kind="stable")
    assert len(stars) == len(local) == report["n_after"][-1]
    for name in FINAL_COLUMNS:
        np.testing.assert_array_equal(stars[name].to_numpy(), np.asarray(local[name]), err_msg=name)
    assert outs[1][2] == dict(local.meta["kinematics"])


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded workers in this process (fast to start; the
    kernels' OpenMP threads do not change a number)."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as c:
        yield c


def test_dask_engine_on_hats_gives_the_local_tables_byte_for_byte(catalogue, cluster, tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    local = run(_cfg(catalogue["parquet"]), out=tmp_path / "local", figures=False)
    on_dask = run(
        _cfg(catalogue["hats"], "dask", scheduler=cluster.scheduler_address, scratch=str(scratch)),
        out=tmp_path / "dask",
        figures=False,
    )
    for name in ("table1.ecsv", "table2.ecsv", "azimuthal_profile.ecsv", "cuts.ecsv"):
        assert (tmp_path / "local" / name).read_bytes() == (
            tmp_path / "dask" / name
        ).read_bytes(), name
    a, b = local.summary["samples"]["giants"], on_dask.summary["samples"]["giants"]
    for key in ("n_final", "map_fit", "azimuthal", "populations", "table1", "table2"):
        assert json.dumps(a[key]) == json.dumps(b[key]), key  # NaN as NaN
    assert len(on_dask.samples["giants"]) == len(local.samples["giants"])
    assert on_dask.fits["giants"].slope == local.fits["giants"].slope
    assert list(scratch.iterdir()) == []  # the scratch dataset is removed


def test_an_emptied_partitioned_sample_names_the_step_and_leaves_no_scratch(catalogue, tmp_path):
    cfg = _cfg(catalogue["parquet"], "dask", scratch=str(tmp_path))
    cfg["samples"]["giants"]["cuts"] = {"teff_gspspec_max": 1000.0}
    cfg = load_config(cfg)
    steps = []
    with dask.config.set(scheduler="synchronous"), Progress(False) as progress:
        with pytest.raises(EmptySample, match="teff_gspspec_max"):
            prepare_partitioned(cfg, "giants", progress, catalogue["parquet"], steps)
    (report,) = steps
    assert report["cut"][-1] == "teff_gspspec_max" and report["n_after"][-1] == 0
    assert report["n_before"][0] == len(catalogue["df"])
    assert os.listdir(tmp_path) == []


def test_what_needs_a_whole_catalogue_is_refused_with_what_to_do(catalogue, tmp_path):
    cfg = _cfg(catalogue["parquet"], "dask")
    assert partitioned_input(cfg, sample_plan(cfg, "giants")) == catalogue["parquet"]
    local = _cfg(catalogue["parquet"])
    assert partitioned_input(local, sample_plan(local, "giants")) is None
    other = tmp_path / "bj"
    other.mkdir()
    catalogue["df"].iloc[:10].to_parquet(other / "a.parquet")
    split = load_config(
        {
            **SETTINGS,
            "engine": "dask",
            "samples": {
                "giants": {"inputs": {"gaia": catalogue["parquet"], "distances": str(other)}}
            },
        }
    )
    with pytest.raises(ConfigError, match="lsdb.Catalog.join"):
        partitioned_input(split, sample_plan(split, "giants"))
    sky = load_config(
        {
            "run": ["lamost"],
            "engine": "dask",
            "samples": {
                "lamost": {
                    "inputs": {
                        "spectra": catalogue["parquet"],
                        "gaia": catalogue["parquet"],
                        "distances": catalogue["parquet"],
                    }
                }
            },
        }
    )
    with pytest.raises(ConfigError, match="crossmatch"):
        partitioned_input(sky, sample_plan(sky, "lamost"))
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("x")
    with pytest.raises(ConfigError, match="neither a HATS catalogue"):
        _cfg(str(empty))
