"""fastgrad.dask: partition functions and global steps on a real Dask cluster.

The references are the single-machine calls on the whole catalogue (same
seed, ids = source_id): per-star outputs must be the same bits, cut counts the
same integers.  The annulus means are checked against an exact reference
(prefix sums in Python integers, so every window sum is exact and each mean
correctly rounded) to 1e-12, and their windows against the literal predicate
|R_j - R_i| <= h.

The cluster is ``distributed.LocalCluster(n_workers=2, threads_per_worker=1,
processes=True)``; the catalogue has 200,000 stars in 8 Parquet files (8
partitions), rows in random order.  Tests that need Dask skip without it; the
pure-pandas partition tests and the ImportError test run without it.
"""

import importlib
import os
import sys

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

import fastgrad
import fastgrad.dask as fd
from fastgrad.transform import COORD_NAMES

N_STARS = 200_000
N_FILES = 8
N_SAMPLES = 50  # bit-identity does not depend on the number of draws
SEED = 20230707


# ---------------------------------------------------------------------------
# synthetic catalogue
# ---------------------------------------------------------------------------


def gaia_like(n, seed=0):
    """Gaia DR3 archive names and units, giants' GSP-Spec columns, LAMOST-like
    feh; a few NaNs in cut columns and in MC inputs (propagated as NaN)."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            # unique, Gaia-sized source_ids in random order
            "source_id": (rng.permutation(n).astype(np.int64) << 21) + 4_295_806_720,
            "ra": rng.uniform(0, 360, n),
            "dec": np.degrees(np.arcsin(rng.uniform(-1, 1, n))),
            "pmra": rng.normal(0, 8, n),
            "pmdec": rng.normal(0, 8, n),
            "radial_velocity": rng.normal(0, 50, n),
            "ra_error": rng.uniform(0.01, 0.1, n),
            "dec_error": rng.uniform(0.01, 0.1, n),
            "pmra_error": rng.uniform(0.01, 0.2, n),
            "pmdec_error": rng.uniform(0.01, 0.2, n),
            "radial_velocity_error": rng.uniform(0.5, 5, n),
            "parallax_over_error": rng.lognormal(1.8, 0.8, n),
            "r_med_geo": rng.uniform(300, 5000, n),
            "teff_gspspec": rng.uniform(3800, 5200, n),
            "logg_gspspec": rng.uniform(0.5, 3.0, n),
            "mh_gspspec": rng.normal(-0.3, 0.3, n),
        }
    )
    df["r_lo_geo"] = df["r_med_geo"] * rng.uniform(0.7, 0.97, n)
    df["r_hi_geo"] = df["r_med_geo"] * rng.uniform(1.03, 1.4, n)
    df["feh"] = rng.normal(-0.2, 0.3, n)
    df["feh_err"] = rng.uniform(0.02, 0.2, n)
    for col, frac in (
        ("mh_gspspec", 0.01),
        ("r_med_geo", 0.002),
        ("radial_velocity", 0.002),
        ("parallax_over_error", 0.01),
        ("teff_gspspec", 0.005),
    ):
        df.loc[rng.random(n) < frac, col] = np.nan
    return df


@pytest.fixture(scope="module")
def catalog():
    return gaia_like(N_STARS)


@pytest.fixture(scope="module")
def single_mc(catalog):
    """The single-machine MC transform of the whole catalogue (2 threads here)."""
    d = catalog
    return fastgrad.mc_galactocentric(
        d.ra,
        d.dec,
        d.r_med_geo / 1000.0,
        d.pmra,
        d.pmdec,
        d.radial_velocity,
        ra_error=d.ra_error,
        dec_error=d.dec_error,
        distance_error=(d.r_hi_geo - d.r_lo_geo) / 2000.0,
        pmra_error=d.pmra_error,
        pmdec_error=d.pmdec_error,
        radial_velocity_error=d.radial_velocity_error,
        n_samples=N_SAMPLES,
        seed=SEED,
        ids=d.source_id.to_numpy(),
        nan_policy="propagate",
        n_threads=2,
    )


@pytest.fixture(scope="module")
def client():
    pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def parquet_dir(catalog, tmp_path_factory):
    """The catalogue in 8 Parquet files of unequal size, rows shuffled."""
    pytest.importorskip("pyarrow")
    path = tmp_path_factory.mktemp("gaia_parquet")
    rng = np.random.default_rng(5)
    rows = rng.permutation(len(catalog))
    cuts = np.sort(rng.choice(np.arange(1, len(catalog)), N_FILES - 1, replace=False))
    for k, part in enumerate(np.split(rows, cuts)):
        catalog.iloc[part].to_parquet(path / f"part.{k}.parquet")
    return path


@pytest.fixture(scope="module")
def ddf(client, parquet_dir):
    import dask.dataframe as dd

    frame = dd.read_parquet(parquet_dir)
    assert frame.npartitions >= 8
    return frame


@pytest.fixture(scope="module")
def mc_ddf(ddf):
    return fd.mc_galactocentric(ddf, seed=SEED, n_samples=N_SAMPLES).persist()


def split_frame(df, k):
    """``df`` in ``k`` consecutive pieces of near-equal size."""
    edges = np.linspace(0, len(df), k + 1).round().astype(int)
    return [df.iloc[a:b] for a, b in zip(edges[:-1], edges[1:])]


def by_id(frame, ids):
    """Rows of ``frame`` in the order of ``ids`` (source_id)."""
    return frame.set_index("source_id").loc[ids]


# ---------------------------------------------------------------------------
# threads inside workers
# ---------------------------------------------------------------------------


def _worker_threads():
    from threadpoolctl import threadpool_limits

    inside = fastgrad.effective_n_threads()
    with threadpool_limits(limits=1, user_api="openmp"):
        limited = fastgrad.effective_n_threads()
    return os.environ.get("OMP_NUM_THREADS"), inside, limited


def test_worker_threads_are_capped(client):
    """Dask's nanny starts workers with OMP_NUM_THREADS=1: n_threads=None
    resolves to 1 there, at call time."""
    pytest.importorskip("threadpoolctl")
    for env, inside, limited in client.run(_worker_threads).values():
        assert env == "1"
        assert inside == 1
        assert limited == 1


def test_threadpoolctl_caps_n_threads_here():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert fastgrad.effective_n_threads() == 1


# ---------------------------------------------------------------------------
# per-star outputs: bit-identical
# ---------------------------------------------------------------------------


def test_mc_bit_identical_to_single_machine(catalog, single_mc, mc_ddf):
    got = mc_ddf.compute()
    assert len(got) == N_STARS
    got = by_id(got, catalog.source_id.to_numpy())
    names = list(COORD_NAMES) + [c + "_err" for c in COORD_NAMES]
    for name in names:
        # the same bits (NaN rows from NaN inputs included), not just close
        np.testing.assert_array_equal(
            got[name].to_numpy(), np.asarray(single_mc[name]), err_msg=name, strict=True
        )
    assert np.isnan(got["R"]).sum() > 0  # the NaN inputs did reach the kernel


@pytest.mark.parametrize("kinematics", ["local", "heliocentric"])
def test_kinematics_bit_identical(catalog, single_mc, mc_ddf, kinematics):
    got = fd.kinematic_probabilities(mc_ddf, kinematics=kinematics).compute()
    got = by_id(got, catalog.source_id.to_numpy())
    ref = fastgrad.kinematic_probabilities(
        single_mc["vx"],
        single_mc["vy"],
        single_mc["vz"],
        x=single_mc["x"],
        y=single_mc["y"],
        kinematics=kinematics,
    )
    for name in ("U", "V", "W", "p_thin", "p_thick", "p_halo"):
        np.testing.assert_array_equal(
            got[name].to_numpy(), np.asarray(ref[name]), err_msg=name, strict=True
        )


# ---------------------------------------------------------------------------
# quality cuts: counts sum to the single-machine report
# ---------------------------------------------------------------------------


def _assert_same_report(report, ref):
    assert report.colnames == ref.colnames
    for name in ref.colnames:
        assert report[name].tolist() == ref[name].tolist(), name


def test_cut_counts_equal_single_machine(catalog, ddf):
    import dask

    cuts = ["gaia_giants", "astrometric"]
    thresholds = {"distance_frac_error_max": 0.25}
    kept, counts = fd.quality_cuts(ddf, cuts, thresholds=thresholds)
    kept, counts = dask.compute(kept, counts)
    assert counts["cut"].nunique() == 6 and len(counts) == 6 * ddf.npartitions
    report = fd.cut_report(counts, cuts)
    ref_kept, ref = fastgrad.apply_cuts(Table.from_pandas(catalog), cuts, thresholds=thresholds)
    _assert_same_report(report, ref)
    assert report["n_nonfinite"].sum() > 0
    assert sorted(kept.source_id) == sorted(ref_kept["source_id"])
    np.testing.assert_array_equal(
        by_id(kept, ref_kept["source_id"])["r_med_geo"], ref_kept["r_med_geo"]
    )


def test_halo_cut_after_kinematics(mc_ddf, single_mc, catalog):
    import dask

    kin = fd.kinematic_probabilities(mc_ddf)
    kept, counts = dask.compute(*fd.quality_cuts(kin, "halo"))
    single = Table(
        {
            "source_id": catalog.source_id.to_numpy(),
            "x": single_mc["x"],
            "y": single_mc["y"],
            "vx": single_mc["vx"],
            "vy": single_mc["vy"],
            "vz": single_mc["vz"],
        }
    )
    ref_kept, ref = fastgrad.halo_cut(single)
    _assert_same_report(fd.cut_report(counts, ["halo"]), ref)
    assert sorted(kept.source_id) == sorted(ref_kept["source_id"])


def test_lamost_cut_partitions_pandas():
    """Partition-by-partition counts on pandas add up to apply_cuts' report
    (no Dask needed: the partition functions are plain pandas)."""
    rng = np.random.default_rng(3)
    n = 20_000
    lam = pd.DataFrame(
        {
            "obsid": np.arange(n),
            "ra": rng.uniform(0, 360, n),
            "dec": rng.uniform(-10, 80, n),
            "teff": rng.uniform(6000, 30000, n),
            "logg": rng.normal(3.8, 0.8, n),
            "feh": rng.normal(-0.2, 0.3, n),
            "feh_err": rng.exponential(0.08, n),
            "vsini": rng.normal(100, 80, n),
            "snr": rng.lognormal(3.8, 0.8, n),
            "chi2ratio": rng.exponential(2.0, n),
            "rv": rng.normal(0, 30, n),
            "rv_err": rng.exponential(15, n),
        }
    )
    lam.loc[rng.random(n) < 0.02, "feh"] = np.nan
    lam.loc[rng.random(n) < 0.02, "rv_err"] = np.nan
    parts = split_frame(lam.sample(frac=1.0, random_state=1), 7)
    parts.append(lam.iloc[:0])  # an empty partition
    counts = [fd.quality_cut_counts_partition(p, "lamost_hot_stars") for p in parts]
    kept = pd.concat([fd.quality_cuts_partition(p, "lamost_hot_stars") for p in parts])
    ref_kept, ref = fastgrad.apply_cuts(Table.from_pandas(lam), "lamost_hot_stars")
    _assert_same_report(fd.cut_report(counts, "lamost_hot_stars"), ref)
    assert sorted(kept.obsid) == sorted(ref_kept["obsid"])
    assert len(counts[-1]) == len(ref) and counts[-1]["n_before"].sum() == 0


# ---------------------------------------------------------------------------
# annulus means across partitions
# ---------------------------------------------------------------------------


def _exact_ints(x):
    """Python integers I and an exponent E with x == I * 2**E exactly."""
    mant, expo = np.frexp(x)
    m53 = (mant * 2.0**53).astype(np.int64)  # exact: |mant| < 1
    e = expo.astype(np.int64) - 53
    e0 = int(e[m53 != 0].min()) if np.any(m53 != 0) else 0
    shifts = np.where(m53 != 0, e - e0, 0)
    return np.array(
        [int(m) << int(s) for m, s in zip(m53.tolist(), shifts.tolist())], dtype=object
    ), e0


def _exact_window_sums(terms, lo, hi):
    ints, e0 = _exact_ints(terms)
    prefix = np.concatenate([np.array([0], dtype=object), np.cumsum(ints)])
    return prefix[hi] - prefix[lo], e0


def exact_annulus_means(R, v, h, w=None):
    """The reference: windows from the literal predicate |R_j - R_i| <= h on a
    sorted global array; sums exact in Python integers; each mean the
    correctly rounded quotient (Python int / int)."""
    order = np.argsort(R, kind="stable")
    Rs = R[order]
    i = np.arange(R.size)
    lo = np.searchsorted(Rs, Rs - h - 1e-9, side="left")  # supersets of the windows,
    hi = np.searchsorted(Rs, Rs + h + 1e-9, side="right")  # then shrunk by the predicate
    while True:
        m = (lo < i) & ~(np.abs(Rs[np.minimum(lo, R.size - 1)] - Rs) <= h)
        if not m.any():
            break
        lo[m] += 1
    while True:
        m = (hi > i + 1) & ~(np.abs(Rs[hi - 1] - Rs) <= h)
        if not m.any():
            break
        hi[m] -= 1
    if w is None:
        num, e = _exact_window_sums(v[order], lo, hi)
        den, d = (hi - lo).astype(object), 0
    else:
        num, e = _exact_window_sums(w[order] * v[order], lo, hi)
        den, d = _exact_window_sums(w[order], lo, hi)
    shift = e - d

    def quotient(a, b):
        if b == 0:
            return np.nan
        return (a << shift) / b if shift >= 0 else a / (b << -shift)

    out = np.empty(R.size)
    out[order] = [quotient(a, b) for a, b in zip(num.tolist(), den.tolist())]
    return out, lo, hi


def test_exact_reference_against_brute_force():
    """The reference's windows and sums equal an O(N^2)-style brute force
    (math.fsum over the literal predicate) on a sample of stars."""
    import math

    rng = np.random.default_rng(11)
    R = np.round(rng.uniform(7, 9, 3000), 3)  # many exact ties, many pairs ~h apart
    v = rng.normal(0, 0.3, 3000)
    ref, lo, hi = exact_annulus_means(R, v, 0.1)
    rank = np.empty(R.size, dtype=np.intp)
    rank[np.argsort(R, kind="stable")] = np.arange(R.size)
    for i in rng.choice(3000, 300, replace=False):
        inside = np.abs(R - R[i]) <= 0.1
        assert hi[rank[i]] - lo[rank[i]] == inside.sum()
        # fsum is correctly rounded, then the division rounds again: 1 ulp apart at most
        assert abs(ref[i] - math.fsum(v[inside]) / inside.sum()) <= np.spacing(abs(ref[i]))


def test_annulus_mean_across_partitions(catalog, mc_ddf, single_mc):
    """R from the MC on the cluster; 8 ranges from the quantile sketch."""
    ok = np.isfinite(np.asarray(single_mc["R"]))
    # NaN R (from NaN inputs) raise by default, as on one machine; "omit" drops them
    got = fd.annulus_mean(mc_ddf, "R", "feh", 0.1, key="source_id", nan_policy="omit").compute()
    assert got.index.is_unique and len(got) == ok.sum() and got.index.name == "source_id"
    ids = catalog.source_id.to_numpy()[ok]
    R = np.asarray(single_mc["R"])[ok]
    v = catalog.feh.to_numpy()[ok]
    ref, _, _ = exact_annulus_means(R, v, 0.1)
    diff = np.abs(got.loc[ids, "annulus_mean"].to_numpy() - ref)
    assert diff.max() <= 1e-12  # compensated sums: in practice a few ulps
    single = getattr(fastgrad, "annulus_mean", None)
    if single is not None:  # the compiled single-machine version, once merged
        np.testing.assert_allclose(
            got.loc[ids, "annulus_mean"], single(R, v, 0.1), rtol=0, atol=1e-12
        )


@pytest.mark.parametrize("weighted", [False, True])
def test_annulus_mean_narrow_ranges_ties_and_weights(client, weighted):
    """Ranges narrower than the annulus (strips span several neighbours),
    exact ties, pairs exactly h apart in decimal, boundaries on stars."""
    import dask.dataframe as dd

    rng = np.random.default_rng(7)
    n = 30_000
    R = np.round(rng.uniform(4, 16, n), 2)  # steps of 0.01: ties and |dR| == 0.1 in decimal
    v = rng.normal(0, 0.3, n) + np.where(rng.random(n) < 0.01, 1e3, 0.0)  # mixed magnitudes
    w = rng.uniform(0, 4, n) * (rng.random(n) > 0.05)  # some zero weights
    df = pd.DataFrame({"star": rng.permutation(n) + 10**12, "R": R, "v": v, "w": w})
    frame = dd.from_pandas(df, npartitions=9, sort=False)
    boundaries = np.concatenate([np.arange(5.0, 15.0, 0.07), [R[0], R[1]]])
    boundaries = np.unique(boundaries)
    got = fd.annulus_mean(
        frame,
        "R",
        "v",
        0.1,
        weights="w" if weighted else None,
        key="star",
        boundaries=boundaries,
        output="m",
    ).compute()
    ref, _, _ = exact_annulus_means(R, v, 0.1, w if weighted else None)
    got = got.loc[df.star.to_numpy(), "m"].to_numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    fin = np.isfinite(ref)
    assert np.abs(got[fin] - ref[fin]).max() <= 1e-12
    # the single-machine kernel on the whole array agrees too
    local = fastgrad.annulus_mean(R, v, 0.1, weights=w if weighted else None)
    assert np.abs(local[fin] - ref[fin]).max() <= 1e-12


def test_annulus_mean_nan_raises(client):
    import dask.dataframe as dd

    df = pd.DataFrame({"R": [8.0, np.nan, 9.0, 10.0], "feh": [0.0, 0.1, 0.2, 0.3]})
    frame = dd.from_pandas(df, npartitions=2)
    with pytest.raises(ValueError, match=r"R: 1 row\(s\) are NaN.*index starts at"):
        fd.annulus_mean(frame, boundaries=[9.5]).compute()
    got = fd.annulus_mean(frame, boundaries=[9.5], nan_policy="omit").compute().sort_index()
    assert got.index.tolist() == [0, 2, 3]
    np.testing.assert_allclose(got["annulus_mean"], [0.0, 0.2, 0.3], rtol=0, atol=1e-15)


# ---------------------------------------------------------------------------
# reduction for the binned fits
# ---------------------------------------------------------------------------


def test_fit_columns(catalog, mc_ddf, single_mc):
    small = fd.fit_columns(mc_ddf, key="source_id")
    assert list(small.columns) == list(fd.FIT_COLUMNS) + ["source_id"]
    assert len(small) == N_STARS
    small = by_id(small, catalog.source_id.to_numpy())
    for name in ("R", "R_err", "absz", "z_err"):
        np.testing.assert_array_equal(
            small[name].to_numpy(), np.asarray(single_mc[name]), err_msg=name
        )
    np.testing.assert_array_equal(small["feh"].to_numpy(), catalog.feh.to_numpy())


# ---------------------------------------------------------------------------
# LSDB / HATS: write, open, cross-match at 2", MC through map_partitions
# ---------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Ignoring margin_threshold:RuntimeWarning")
def test_hats_crossmatch_and_mc(client, tmp_path):
    lsdb = pytest.importorskip("lsdb")
    rng = np.random.default_rng(21)
    # Gaia: stars on a jittered grid ~36" apart, so each LAMOST star has one
    # counterpart within 2" and no rival (LSDB's match is nearest-neighbour,
    # fastgrad's is one-to-one: the same pairs here)
    ra0, dec0 = np.meshgrid(np.arange(150.0, 151.5, 0.01), np.arange(20.0, 21.0, 0.01))
    n_gaia = ra0.size
    gaia = gaia_like(n_gaia, seed=22).drop(columns=["ra", "dec"])
    gaia.insert(1, "ra", ra0.ravel() + rng.uniform(-0.002, 0.002, n_gaia))
    gaia.insert(2, "dec", dec0.ravel() + rng.uniform(-0.002, 0.002, n_gaia))
    gaia["radial_velocity"] = gaia["radial_velocity"].fillna(0.0)
    # a distance for every star, inside its percentiles (add_distances checks that)
    gaia["r_med_geo"] = gaia["r_med_geo"].fillna((gaia["r_lo_geo"] + gaia["r_hi_geo"]) / 2)
    # LAMOST-like: 2000 of them, offset by < 1.4" from their Gaia star, plus
    # 200 with no Gaia star within 2" (offset 5-15")
    n_match, n_lamost = 2000, 2200
    pick = rng.choice(n_gaia, n_lamost, replace=False)
    offset = (
        np.concatenate([rng.uniform(0.0, 1.4, n_match), rng.uniform(5, 15, n_lamost - n_match)])
        / 3600
    )
    angle = rng.uniform(0, 2 * np.pi, n_lamost)
    dec_l = gaia.dec.to_numpy()[pick] + offset * np.sin(angle)
    ra_l = gaia.ra.to_numpy()[pick] + offset * np.cos(angle) / np.cos(np.radians(dec_l))
    lamost = pd.DataFrame(
        {
            "obsid": np.arange(n_lamost, dtype=np.int64) + 7_000_000,
            "ra": ra_l,
            "dec": dec_l,
            "rv": rng.normal(-10, 30, n_lamost),
            "rv_err": rng.uniform(2, 10, n_lamost),
        }
    )

    # write a HATS catalogue (with its 5" margin cache), open it again: the
    # path users take with the published Gaia DR3 HATS catalogue
    gaia_in = lsdb.from_dataframe(
        gaia,
        ra_column="ra",
        dec_column="dec",
        highest_order=8,
        partition_rows=2500,
        margin_order=10,
    )
    write = getattr(gaia_in, "write_catalog", None) or gaia_in.to_hats  # to_hats: lsdb < 0.7.3
    write(tmp_path / "gaia", progress_bar=False)
    gaia_cat = lsdb.open_catalog(tmp_path / "gaia")
    assert gaia_cat.npartitions > 1 and gaia_cat.margin is not None
    lamost_cat = lsdb.from_dataframe(
        lamost,
        ra_column="ra",
        dec_column="dec",
        highest_order=9,
        partition_rows=500,
        margin_threshold=None,
    )
    matched = lamost_cat.crossmatch(
        gaia_cat,
        radius_arcsec=2.0,
        n_neighbors=1,
        suffixes=("_lamost", "_gaia"),
        suffix_method="all_columns",
    )
    columns = {
        "ra_gaia": "ra",
        "dec_gaia": "dec",
        "pmra_gaia": "pmra",
        "pmdec_gaia": "pmdec",
        "ra_error_gaia": "ra_error",
        "dec_error_gaia": "dec_error",
        "pmra_error_gaia": "pmra_error",
        "pmdec_error_gaia": "pmdec_error",
        "r_med_geo_gaia": "r_med_geo",
        "r_lo_geo_gaia": "r_lo_geo",
        "r_hi_geo_gaia": "r_hi_geo",
        "source_id_gaia": "ids",
        # the paper's LAMOST stars use the LAMOST radial velocities
        "rv_lamost": "radial_velocity",
        "rv_err_lamost": "radial_velocity_error",
    }
    kwargs = dict(seed=SEED, n_samples=N_SAMPLES, columns=columns)
    out = matched.map_partitions(
        fd.mc_galactocentric_partition, meta=fd.mc_galactocentric_meta(matched, **kwargs), **kwargs
    ).compute()

    # fastgrad's own cross-match and transform on the same rows
    ref = fastgrad.crossmatch(
        Table.from_pandas(lamost), Table.from_pandas(gaia), 2.0, suffixes=("_lamost", "_gaia")
    )
    assert len(ref) == n_match and len(out) == n_match
    assert sorted(zip(out.obsid_lamost, out.source_id_gaia)) == sorted(
        zip(ref["obsid"], ref["source_id"])
    )
    ref_mc = fastgrad.mc_galactocentric(
        ref["ra_gaia"],
        ref["dec_gaia"],
        np.asarray(ref["r_med_geo"]) / 1000.0,
        ref["pmra"],
        ref["pmdec"],
        ref["rv"],
        ra_error=ref["ra_error"],
        dec_error=ref["dec_error"],
        distance_error=(np.asarray(ref["r_hi_geo"]) - np.asarray(ref["r_lo_geo"])) / 2000.0,
        pmra_error=ref["pmra_error"],
        pmdec_error=ref["pmdec_error"],
        radial_velocity_error=ref["rv_err"],
        n_samples=N_SAMPLES,
        seed=SEED,
        ids=np.asarray(ref["source_id"]),
    )
    got = out.set_index("source_id_gaia").loc[np.asarray(ref["source_id"])]
    for name in list(COORD_NAMES) + [c + "_err" for c in COORD_NAMES]:
        np.testing.assert_array_equal(got[name].to_numpy(), np.asarray(ref_mc[name]), err_msg=name)


# ---------------------------------------------------------------------------
# partition functions on their own (pandas only)
# ---------------------------------------------------------------------------


def test_partition_functions_accept_empty_frames(catalog):
    empty = catalog.iloc[:0]
    mc = fd.mc_galactocentric_partition(empty, seed=1, n_samples=10)
    assert len(mc) == 0 and mc["absz_err"].dtype == np.float64
    assert list(mc.columns) == list(fd.mc_galactocentric_meta(catalog, n_samples=10).columns)
    kin = fd.kinematic_probabilities_partition(mc)
    assert list(kin.columns[-6:]) == ["U", "V", "W", "p_thin", "p_thick", "p_halo"]
    assert len(fd.quality_cuts_partition(empty, "astrometric")) == 0
    assert list(fd.fit_columns_partition(mc).columns) == list(fd.FIT_COLUMNS)


def test_mc_partition_order_and_split_independent(catalog):
    part = catalog.iloc[:3000]
    whole = fd.mc_galactocentric_partition(part, seed=5, n_samples=20, append=False)
    pieces = pd.concat(
        [
            fd.mc_galactocentric_partition(p, seed=5, n_samples=20, append=False, n_threads=1)
            for p in split_frame(part.iloc[::-1], 5)
        ]
    )
    pd.testing.assert_frame_equal(pieces.loc[whole.index], whole, check_exact=True)


def test_mc_partition_column_map_and_prefix(catalog):
    part = catalog.iloc[:500].rename(columns={"radial_velocity": "rv", "source_id": "sid"})
    part["distance"] = part.r_med_geo / 1000.0
    part["distance_error"] = (part.r_hi_geo - part.r_lo_geo) / 2000.0
    out = fd.mc_galactocentric_partition(
        part, seed=5, n_samples=20, prefix="gc_", columns={"rv": "radial_velocity", "sid": "ids"}
    )
    ref = fd.mc_galactocentric_partition(catalog.iloc[:500], seed=5, n_samples=20)
    np.testing.assert_array_equal(out["gc_R_err"], ref["R_err"])


def test_mc_partition_errors(catalog):
    with pytest.raises(ValueError, match="seed"):
        fd.mc_galactocentric_partition(catalog.iloc[:5], seed=None)
    with pytest.raises(ValueError, match="missing"):
        fd.mc_galactocentric_partition(catalog.iloc[:5].drop(columns="source_id"), seed=1)
    bad = catalog.iloc[:5].copy()
    bad.loc[bad.index[3], "pmra_error"] = -1.0
    with pytest.raises(ValueError, match=r"pmra_error: 1 row\(s\).*rows 3.*index starts at"):
        fd.mc_galactocentric_partition(bad, seed=1, n_samples=4)
    with pytest.raises(ValueError, match="prefix"):
        fd.mc_galactocentric_partition(
            fd.mc_galactocentric_partition(catalog.iloc[:5], seed=1, n_samples=4),
            seed=1,
            n_samples=4,
        )


def test_missing_dask_gives_clear_import_error(monkeypatch):
    """Without the extra: importing fastgrad.dask and running its partition
    functions works (pandas only); the Dask-level helpers name the extra."""
    for name in ("dask", "dask.dataframe", "distributed", "lsdb"):
        monkeypatch.setitem(sys.modules, name, None)  # `import dask` now fails
    monkeypatch.setattr(fastgrad, "dask", fd)  # restored after the test, as sys.modules is
    monkeypatch.delitem(sys.modules, "fastgrad.dask")
    mod = importlib.import_module("fastgrad.dask")
    frame = pd.DataFrame({"R": [8.0, 8.05], "feh": [0.1, 0.2]})
    with pytest.raises(ImportError, match=r"pip install fastgrad\[dask\]"):
        mod.annulus_mean(frame)
    with pytest.raises(ImportError, match=r"pip install fastgrad\[dask\]"):
        mod.quality_cuts(frame, "astrometric")
    # the partition functions need no dask
    assert (
        mod.quality_cuts_partition(
            frame.assign(**{"parallax_over_error": [5.0, 1.0]}),
            [c for c in fastgrad.get_cuts("astrometric") if c.name == "parallax_precision"],
        ).shape[0]
        == 1
    )


# ---------------------------------------------------------------------------
# issue 12: duplicated keys, counts, and fits in a Dask worker
# ---------------------------------------------------------------------------
def small_frames(n=4000, n_parts=4, seed=3):
    """A frame whose index restarts at 0 in every partition (as dd.read_parquet
    gives), and its concatenation with a unique id column."""
    import dask.dataframe as dd

    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {"R": rng.uniform(7, 9, n), "feh": rng.normal(0, 0.2, n), "source_id": np.arange(n) * 7 + 1}
    )
    parts = [p.reset_index(drop=True) for p in split_frame(df, n_parts)]
    return dd.from_map(lambda p: p, parts), df


def test_annulus_mean_refuses_a_duplicated_index():
    pytest.importorskip("dask.dataframe")
    frame, df = small_frames()
    means = fd.annulus_mean(frame, "R", "feh", 0.1, n_ranges=3)  # lazy: no error yet
    with pytest.raises(
        ValueError,
        match=r"the index has 3000 duplicated value\(s\) among "
        r"4000 stars.*key='source_id'",
    ):
        means.compute()
    # with a unique key: one row per star, the numbers of the in-memory function
    got = fd.annulus_mean(frame, "R", "feh", 0.1, key="source_id", n_ranges=3).compute()
    assert got.index.is_unique and len(got) == len(df)
    np.testing.assert_allclose(
        got.loc[df["source_id"], "annulus_mean"],
        fastgrad.annulus_mean(df["R"].to_numpy(), df["feh"].to_numpy(), 0.1),
        rtol=1e-12,
    )
    # a duplicated key column is refused the same way
    frame2 = frame.assign(source_id=frame["source_id"] % 1000)
    with pytest.raises(ValueError, match="key column 'source_id' has 3000 duplicated"):
        fd.annulus_mean(frame2, "R", "feh", 0.1, key="source_id", n_ranges=3).compute()
    with pytest.raises(TypeError, match="n_ranges: expected an int"):
        fd.annulus_mean(frame, "R", "feh", 0.1, key="source_id", n_ranges=3.0)


def test_fit_line_in_a_dask_worker_equals_local():
    """LocalCluster sets OMP_NUM_THREADS=1 (and so one BLAS thread) in its
    workers: the fit must not depend on it (the start point's sums are
    numpy's pairwise sums, the kernel's per-lane sums any thread count)."""
    distributed = pytest.importorskip("distributed")
    rng = np.random.default_rng(21)
    n = 60_000
    x = rng.uniform(6.5, 12.5, n)
    sx, sy = rng.uniform(0.05, 0.4, n), rng.uniform(0.03, 0.15, n)
    y = -0.07 * x + 0.45 + rng.normal(0, 0.3, n) + rng.normal(0, sy)
    kw = dict(seed=6, n_walkers=10, n_steps=40)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = fastgrad.fit_line(x, y, sx, sy, **kw)
    with (
        distributed.LocalCluster(
            n_workers=1,
            processes=True,
            threads_per_worker=1,
            dashboard_address=None,
            silence_logs=40,
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        remote = c.submit(fastgrad.fit_line, x, y, sx, sy, **kw).result()
    np.testing.assert_array_equal(remote.initial, local.initial)
    np.testing.assert_array_equal(remote.samples, local.samples)
