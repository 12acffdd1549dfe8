"""fastgrad.mock.xp / fastgrad.mock.hats: the Gaia XP giants mock in blocks.

References: cdshealpix for the HEALPix index, fastgrad.mock.truth.binned_truth
for the summed-statistics truth, the xp_giants sample run by the pipeline's own
prepare_sample on the files written here, and pyarrow for the HATS round trip.
"""

import warnings

import numpy as np
import pytest

from fastgrad import read_catalog
from fastgrad.mock import hats as mock_hats
from fastgrad.mock import xp
from fastgrad.mock.truth import binned_truth
from fastgrad.schema import CANONICAL_UNITS

N = 20_000
BLOCK = 5_000
SEED = 11


@pytest.fixture(scope="module")
def catalog():
    return xp.make_xp_catalog(N, seed=SEED, block_size=BLOCK)


def test_blocks_reproducible_and_order_free(catalog):
    a, sa = xp.make_xp_block(N, 2, seed=SEED, block_size=BLOCK)
    b, sb = xp.make_xp_block(N, 2, seed=SEED, block_size=BLOCK)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert sa["counts"] == sb["counts"]
    # the same block inside the whole catalogue, made after blocks 0 and 1
    rows = slice(2 * BLOCK, 3 * BLOCK)
    for name in a:
        np.testing.assert_array_equal(np.asarray(catalog[name])[rows], a[name])
    # blocks made in reverse order give the same catalogue rows and truth
    rev = xp.make_xp_catalog(N, seed=SEED, block_size=BLOCK, blocks=[3, 2, 1, 0])
    np.testing.assert_array_equal(
        np.asarray(rev["source_id"])[:BLOCK], np.asarray(catalog["source_id"])[3 * BLOCK :]
    )
    acc = xp.TruthAccumulator(N, seed=SEED, block_size=BLOCK)
    for blk in (3, 1, 0, 2):
        acc.add(xp.make_xp_block(N, blk, seed=SEED, block_size=BLOCK)[1])
    assert acc.result() == catalog.meta["truth"]
    # another seed, another catalogue; a short last block
    other, _ = xp.make_xp_block(N, 2, seed=SEED + 1, block_size=BLOCK)
    assert not np.array_equal(other["ra"], a["ra"])
    assert xp.block_rows(12_345, 2, 5_000) == (10_000, 2_345)
    assert xp.n_blocks(12_345, 5_000) == 3


def test_source_ids_gaia_like(catalog):
    sid = np.asarray(catalog["source_id"])
    assert sid.dtype == np.int64 and np.unique(sid).size == N
    pix = sid >> 35
    np.testing.assert_array_equal(pix, xp.healpix_nested(12, catalog["ra"], catalog["dec"]))
    # the running number is the row's index in the catalogue
    np.testing.assert_array_equal(sid & (2**35 - 1), np.arange(N))
    cds = pytest.importorskip("cdshealpix.nested")
    import astropy.units as u
    from astropy.coordinates import Latitude, Longitude

    rng = np.random.default_rng(0)
    ra, dec = rng.uniform(0, 360, 50_000), np.degrees(np.arcsin(rng.uniform(-1, 1, 50_000)))
    for order in (0, 3, 12, 29):
        ref = cds.lonlat_to_healpix(Longitude(ra * u.deg), Latitude(dec * u.deg), order)
        np.testing.assert_array_equal(xp.healpix_nested(order, ra, dec), ref)


def test_columns_units_and_readers(catalog, tmp_path):
    names = [c for c, _, _ in xp.XP_CATALOG_COLUMNS]
    assert catalog.colnames == names
    for name in names:
        want = CANONICAL_UNITS[name]
        assert (catalog[name].unit is None) if want is None else catalog[name].unit == want
    res = mock_hats.write_xp_parquet(tmp_path, 3_000, seed=4, block_size=1_000)
    kinds = {"xp": "xp_andrae2023", "gaia": "gaia", "distances": "bailer_jones"}
    for name, kind in kinds.items():
        t = read_catalog(res["files"][name], kind=kind)
        assert t.colnames == [c for c, _, _ in xp.XP_INPUT_COLUMNS[name]]
        for c in t.colnames:
            want = CANONICAL_UNITS[c]
            assert (t[c].unit is None) if want is None else t[c].unit == want, c
    assert len(read_catalog(res["files"]["distances"], kind="bailer_jones")) < 3_000
    assert mock_hats.read_truth(tmp_path) == res["truth"]


def test_values_are_sensible(catalog):
    v = {c: np.asarray(catalog[c]) for c in catalog.colnames}
    g = v["phot_g_mean_mag"]
    assert 5.0 < g.min() and g.max() < 16.3 and (g > 16.0).mean() > 0.005
    # the xp_giants cuts remove a few per cent, the astrometric ones more
    c = catalog.meta["truth"]["counts"]
    assert 0.02 < 1 - c["after_xp_giants"] / N < 0.10
    assert c["after_astrometric"] < c["after_distance_match"] < c["after_xp_giants"]
    assert 0.5 < c["final"] / N < 0.95
    ok = np.isfinite(v["mh_xgboost"])
    assert 0.005 < (~ok).mean() < 0.02
    assert np.all(
        v["r_lo_geo"][np.isfinite(v["r_med_geo"])] < v["r_med_geo"][np.isfinite(v["r_med_geo"])]
    )


def test_summed_truth_is_binned_truth():
    rng = np.random.default_rng(5)
    key, x = rng.uniform(-0.1, 1.5, 5_000), rng.uniform(5.0, 12.0, 5_000)
    y = 0.4 - 0.06 * x + rng.normal(0, 0.1, x.size)
    edges = xp.TABLE1_EDGES
    sums = xp._bin_sums(edges, key[:2000], x[:2000], y[:2000], 8.0) + xp._bin_sums(
        edges, key[2000:], x[2000:], y[2000:], 8.0
    )
    got, ref = xp._bin_rows(edges, sums, 8.0), binned_truth(edges, key, x, y)
    for a, b in zip(got, ref):
        assert a["n"] == b["n"]
        assert a["slope"] == pytest.approx(b["slope"], abs=1e-12)
        assert a["intercept"] == pytest.approx(b["intercept"], abs=1e-11)


def test_pipeline_recovers_injected_gradient(tmp_path):
    """The xp_giants sample, read from the three Parquet files by the pipeline,
    cut as the truth's counts say, and the first |Z| bin's gradient within 4 sigma."""
    from fastgrad.pipeline.config import load_config
    from fastgrad.pipeline.progress import Progress
    from fastgrad.pipeline.run import first_bin_fit, prepare_sample, sample_config

    res = mock_hats.write_xp_parquet(tmp_path, N, seed=SEED, block_size=BLOCK)
    truth = res["truth"]
    cfg = load_config(
        {
            "run": ["xp"],
            "samples": {"xp": {"preset": "xp_giants", "inputs": res["files"]}},
            "monte_carlo": {"n_samples": 32},
            "fit": {"n_walkers": 10, "n_steps": 300},
        }
    )
    with Progress(False) as progress:
        sample, report, _ = prepare_sample(cfg, "xp", progress, n_threads=1)
    after = {r["cut"]: r["n_after"] for r in report}
    c = truth["counts"]
    # every step before the Monte Carlo is the truth's own count
    assert after["mh_xgboost_defined"] == c["after_xp_giants"]
    assert after["distance_match"] == c["after_distance_match"]
    assert after["rv_finite"] == c["after_astrometric"]
    # the halo cut uses the Monte-Carlo velocities, the truth the nominal ones
    assert abs(after["halo"] - c["final"]) <= 0.01 * c["final"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short chain's AutocorrWarning
        fit = first_bin_fit(sample, sample_config(cfg, "xp"), n_threads=1)
    want = truth["table1"][0]["slope"]
    assert abs(fit.slope - want) < 4 * fit.slope_err, (fit.slope, fit.slope_err, want)


def test_hats_round_trip(tmp_path):
    pytest.importorskip("hats_import")
    pq = pytest.importorskip("pyarrow.parquet")
    # blocks made by two spawned processes (most of this test's time: each
    # imports fastgrad), hats-import's Dask workers threads of this process;
    # the rows are those made here in one process
    n = 20_000
    out = mock_hats.write_xp_hats(
        tmp_path / "xp_hats",
        n,
        seed=SEED,
        n_workers=2,
        block_size=BLOCK,
        pixel_threshold=6_000,
        processes=False,
    )
    assert out["partitions"] >= 4
    assert (tmp_path / "xp_hats" / mock_hats.TRUTH_FILE).exists()
    assert not (tmp_path / ".xp_hats.tmp").exists()
    got = pq.ParquetDataset(tmp_path / "xp_hats" / "dataset").read().to_pandas()
    got = got.sort_values("source_id").reset_index(drop=True)
    ref = xp.make_xp_catalog(n, seed=SEED, block_size=BLOCK)
    assert out["truth"] == ref.meta["truth"]
    order = np.argsort(np.asarray(ref["source_id"]))
    assert len(got) == n
    for name in ref.colnames:
        np.testing.assert_array_equal(got[name].to_numpy(), np.asarray(ref[name])[order])
    lsdb = pytest.importorskip("lsdb")
    cat = lsdb.open_catalog(tmp_path / "xp_hats")
    assert len(cat.get_healpix_pixels()) == out["partitions"]


def test_hats_refuses_a_foreign_folder(tmp_path):
    pytest.importorskip("hats_import")
    (tmp_path / "mine.txt").write_text("not a catalogue")
    with pytest.raises(FileExistsError, match="not a catalogue written by write_xp_hats"):
        mock_hats.write_xp_hats(tmp_path, 1_000, seed=1, n_workers=1)
    assert (tmp_path / "mine.txt").exists()
