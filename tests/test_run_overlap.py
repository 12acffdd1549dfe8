"""fastgrad run's steps that overlap others in worker processes
(fastgrad.pipeline.overlap, fit_tables' radial_fits): the same numbers and
the same files as when each runs alone, in this process."""

import importlib
import os
import warnings

import numpy as np
import pytest
from conftest import shm_blocks

from fastgrad.fitting import AutocorrWarning, fit_line, fit_tables
from fastgrad.pipeline import overlap
from fastgrad.pipeline.config import load_config

ZMAX = 0.3


@pytest.fixture(scope="module")
def stars():
    rng = np.random.default_rng(11)
    n = 6000
    R, z = rng.uniform(6.0, 12.0, n), rng.uniform(-1.0, 1.0, n)  # kpc
    feh = 0.5 - 0.06 * R - 0.2 * np.abs(z) + rng.normal(0.0, 0.1, n)  # dex
    R_err = rng.uniform(0.05, 0.3, n)
    feh_err = np.full(n, 0.05)
    return R, z, feh, R_err, feh_err


def _same_fit(a, b):
    for name in ("slope", "slope_err", "intercept", "intercept_err", "scatter", "scatter_err"):
        assert getattr(a, name) == getattr(b, name), name
    np.testing.assert_array_equal(a.samples, b.samples)
    np.testing.assert_array_equal(a.initial, b.initial)
    assert a.acceptance_fraction == b.acceptance_fraction
    assert a.autocorr_warning == b.autocorr_warning
    assert (a.n_stars, a.n_omitted, a.burn) == (b.n_stars, b.n_omitted, b.burn)
    assert (a.x_unit, a.y_unit, a.scatter_model) == (b.x_unit, b.y_unit, b.scatter_model)


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_radial_fit_in_the_bins_pool_is_fit_line(stars, n_jobs):
    """fit_tables(radial_fits=...) fits the |Z| range in the bins' pool: the
    LineFit of fit_line on those stars with that seed, bit for bit (a
    worker's single thread or this process's), and the tables are those
    of a call without it."""
    R, z, feh, R_err, feh_err = stars
    kw = dict(absz_edges=[0.0, 0.5, 1.0], R_edges=[6.0, 9.0, 12.0], n_walkers=8, n_steps=200)
    sel = np.abs(z) < ZMAX
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AutocorrWarning)
        ref = fit_line(R[sel], feh[sel], R_err[sel], feh_err[sel], n_walkers=8, n_steps=200, seed=7)
        t1, t2 = fit_tables(R, z, feh, R_err, feh_err, feh_err, seed=1, n_jobs=n_jobs, **kw)
        out = fit_tables(
            R, z, feh, R_err, feh_err, feh_err, seed=1, n_jobs=n_jobs,
            radial_fits={"map": (-np.inf, ZMAX, 7)}, **kw,
        )  # fmt: skip
    assert len(out) == 3
    _same_fit(out[2]["map"], ref)
    assert ref.n_stars == sel.sum()
    for a, b in ((t1, out[0]), (t2, out[1])):
        assert a.meta == b.meta
        for c in a.colnames:
            np.testing.assert_array_equal(np.ma.getmaskarray(a[c]), np.ma.getmaskarray(b[c]))
            np.testing.assert_array_equal(np.ma.getdata(a[c]), np.ma.getdata(b[c]))


def test_pipeline_map_fit_from_the_pool(stars, monkeypatch):
    """The run fits the maps' |Z| < zmax line with the bins (in worker
    processes when the work is large: forced here); azimuthal_analysis
    given that fit gives what it gives with its own, and warns as its own."""
    from astropy.table import Table

    from fastgrad.fitting import workers

    prun = importlib.import_module("fastgrad.pipeline.run")

    R, z, feh, R_err, feh_err = stars
    phi = np.random.default_rng(2).uniform(-0.5, 0.5, R.size)
    sample = Table(
        {
            "R": R, "z": z, "absz": np.abs(z), "phi": phi,
            "x": -R * np.cos(phi), "y": R * np.sin(phi), "feh_used": feh,
            "R_err": R_err, "z_err": np.full(R.size, 0.02), "feh_used_err": feh_err,
        }
    )  # fmt: skip
    settings = {
        "fit": {"n_walkers": 8, "n_steps": 200, "min_stars": 500},
        "azimuthal": {"n_permutations": 19},
    }
    cfg = prun.sample_config(load_config(settings), "lamost")
    monkeypatch.setattr(workers, "MIN_WORK_PROCESSES", 0)  # the pool, whatever the size
    with warnings.catch_warnings(record=True) as pooled_warnings:
        warnings.simplefilter("always")
        t1, t2, fit0, map_fit = prun._table_fits(sample, cfg, 2, map_fit=True)
        az = prun.azimuthal_analysis(sample, cfg, 2, fit=map_fit)
    assert map_fit is not None and "log_prob_fn" not in dir(map_fit)  # a LineFit
    with warnings.catch_warnings(record=True) as own_warnings:
        warnings.simplefilter("always")
        ref_t1, _, _ = prun.gradient_fits(sample, cfg, 2)
        ref = prun.azimuthal_analysis(sample, cfg, 2)
    _same_fit(az["fit"], ref["fit"])
    np.testing.assert_array_equal(az["predicted"], ref["predicted"])
    np.testing.assert_array_equal(
        np.ma.filled(az["residual_map"].residual, np.nan),
        np.ma.filled(ref["residual_map"].residual, np.nan),
    )
    np.testing.assert_array_equal(t1["slope"], ref_t1["slope"])

    def messages(caught):
        return [str(w.message) for w in caught if issubclass(w.category, AutocorrWarning)]

    # the same warnings, in the same order (summary.json lists them)
    assert messages(pooled_warnings) == messages(own_warnings)
    with pytest.raises(ValueError, match="a fit of"):
        prun.azimuthal_analysis(sample[:100], cfg, 2, fit=map_fit)


def test_prefetched_survey_is_synthetic_survey():
    """A catalogue made ahead in a worker process is the one made here: the
    same columns, values, units and truth."""
    cfg = load_config({"synthetic": {"n_giants": 3000, "seed": 9}})
    ref = overlap.synthetic_survey(cfg, "giants")
    with overlap.Prefetch.start(cfg, 2, names=["giants"]) as ahead:
        assert ahead.samples == ["giants"]
        got = ahead.survey("giants")
        assert ahead.survey("giants") is None  # taken
    assert sorted(got) == sorted(ref)
    for name, t in ref.items():
        g = got[name]
        assert g.colnames == t.colnames
        assert g.meta == t.meta
        for c in t.colnames:
            assert g[c].dtype == t[c].dtype and g[c].unit == t[c].unit, c
            np.testing.assert_array_equal(np.asarray(g[c]), np.asarray(t[c]))


def test_prefetch_only_later_large_synthetic_samples(monkeypatch):
    """The run's first sample is made in the run's own process; a later one
    ahead when large enough, never with one CPU."""
    cfg = load_config({"synthetic": {"n_lamost": 200_000, "n_giants": 100}})
    assert overlap._prefetched_samples(cfg) == []  # the giants: too small
    monkeypatch.setattr(overlap, "MIN_PREFETCH_STARS", 100)
    assert overlap._prefetched_samples(cfg) == ["giants"]
    assert overlap._prefetched_samples({**cfg, "run": ["giants", "lamost"]}) == ["lamost"]
    assert overlap.Prefetch.start(cfg, 1).samples == []


def test_prefetch_close_stops_a_pending_worker():
    """A catalogue nobody took (its sample failed before, Ctrl-C) does not
    keep the run waiting: the worker is killed."""
    import time

    cfg = load_config({"synthetic": {"n_giants": 1_000_000}})  # ~6 s of work
    ahead = overlap.Prefetch.start(cfg, 2, names=["giants"])
    # the submit runs in a thread (it waits for the forkserver); samples waits for it
    assert ahead.samples == ["giants"]
    processes = list(ahead._pool._processes.values())
    assert processes
    t0 = time.perf_counter()
    ahead.close()
    assert time.perf_counter() - t0 < 3.0
    assert ahead._pool is None and not any(p.is_alive() for p in processes)


def test_figure_drawing_in_workers_and_errors(tmp_path):
    """Figures saved by worker processes are the bytes of those saved here;
    a failing figure is raised by wait() and stops the workers."""
    rng = np.random.default_rng(1)
    x, y = rng.uniform(-12, -6, 2000), rng.uniform(-3, 3, 2000)
    z, R = rng.normal(0, 0.3, 2000), np.hypot(x, y)
    jobs = [
        (1, "fig1_density", (x, y, z, R), {"R0": 8.1, "z_sun": 0.02, "title": "t"}),
        (2, "fig2_metallicity", (x, y, z, R, -0.06 * R), {"R0": 8.1, "z_sun": 0.02}),
    ]
    for sub, n in (("here", 1), ("pool", 2)):
        (tmp_path / sub).mkdir()
        with overlap.FigureDrawing(jobs, tmp_path / sub, n) as drawing:
            assert (drawing._pool is not None) == (n > 1)
            assert drawing.wait() == [1, 2]
    for i in (1, 2):
        assert (tmp_path / "here" / f"fig{i}.png").read_bytes() == (
            tmp_path / "pool" / f"fig{i}.png"
        ).read_bytes()
    (tmp_path / "bad").mkdir()
    with pytest.raises(AttributeError, match="no_such_figure"):
        with overlap.FigureDrawing(
            [jobs[0], (9, "no_such_figure", (), {})], tmp_path / "bad", 2
        ) as drawing:
            processes = list(drawing._pool._processes.values())
            drawing.wait()
    assert processes and not any(p.is_alive() for p in processes)


def test_run_overlapped_writes_the_same_files(tmp_path, monkeypatch):
    """A run with the later sample's catalogue made ahead and the figures
    drawn by workers writes the files of a run doing both itself."""
    prun = importlib.import_module("fastgrad.pipeline.run")

    config = {
        "synthetic": {"seed": 5, "n_lamost": 4000, "n_giants": 3000},
        "monte_carlo": {"n_samples": 16},
        "azimuthal": {"min_count": 3, "n_permutations": 9},
        "fit": {"n_walkers": 8, "n_steps": 100, "min_stars": 200},
    }
    made_here = []
    real = prun.synthetic_survey

    def counted(cfg, name):
        made_here.append(name)
        return real(cfg, name)

    monkeypatch.setattr(prun, "synthetic_survey", counted)
    monkeypatch.setattr(overlap, "MIN_PREFETCH_STARS", 100)
    early = []
    real_start = prun.start_first_figures

    def start_first_figures(*args):
        early.append(real_start(*args))
        return early[-1]

    monkeypatch.setattr(prun, "start_first_figures", start_first_figures)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prun.run(config, out=tmp_path / "overlapped", n_threads=2, verbose=False)
        assert made_here == ["lamost"]  # the giants' made ahead
        # Figures 1-7 drawn by a worker while the giants ran, Figure 8 at the end
        assert [sorted(d.numbers) for d in early] == [[1, 2, 3, 4, 5, 6, 7]]
        assert early[0]._pool is None and early[0]._futures  # was a pool, closed
        monkeypatch.setattr(prun.Prefetch, "start", classmethod(lambda cls, *a: cls()))
        monkeypatch.setattr(
            overlap.FigureDrawing, "__init__", _serial_init(overlap.FigureDrawing.__init__)
        )
        prun.run(config, out=tmp_path / "alone", n_threads=2, verbose=False)
        assert made_here == ["lamost", "lamost", "giants"]
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parents[1] / "bench"))
    from run_default import same_files

    assert same_files(tmp_path / "overlapped", tmp_path / "alone") == "same"
    assert len(list((tmp_path / "alone" / "figures").glob("fig*.png"))) == 8


def _serial_init(init):
    def serial(self, jobs, folder, n_workers, here=None):
        init(self, jobs, folder, 1, here=True)

    return serial


def test_prefetch_failed_submit_leaves_the_catalogue_to_the_caller(monkeypatch, caplog):
    """The catalogues are submitted from a thread (the first submit waits for
    the forkserver): a submit that fails there gives survey() None, and the
    sample makes its catalogue itself, as when the worker dies."""
    from concurrent.futures import ProcessPoolExecutor

    def refuse(self, *args, **kwargs):
        raise RuntimeError("cannot schedule new futures after shutdown")

    monkeypatch.setattr(ProcessPoolExecutor, "submit", refuse)
    cfg = load_config({"synthetic": {"n_giants": 200_000}})
    with caplog.at_level("DEBUG", logger="fastgrad"):
        with overlap.Prefetch.start(cfg, 2, names=["giants"]) as ahead:
            assert ahead.samples == []
            assert ahead.survey("giants") is None
    assert "catalogues not made ahead (cannot schedule new futures" in caplog.text


def test_prefetch_survey_of_another_sample_does_not_wait():
    """The first sample asks for its catalogue before the later samples' are
    submitted (the submit waits for the forkserver in a thread): it is told
    None at once, without waiting for that thread."""
    import threading

    cfg = load_config({"synthetic": {"n_giants": 200_000}})
    with overlap.Prefetch.start(cfg, 2, names=["giants"]) as ahead:
        release = threading.Event()
        stand_in = threading.Thread(target=release.wait, args=(60,))
        ahead._submitting, real = stand_in, ahead._submitting
        stand_in.start()
        assert ahead.survey("lamost") is None
        assert stand_in.is_alive()  # survey() did not join it
        release.set()
        ahead._submitting.join()
        ahead._submitting = real
        assert ahead.survey("giants") is not None


def test_shared_tables_round_trip():
    """SharedTables gives back the tables as they were: numeric columns
    (1-d and 2-d) on the shared block, the others pickled, every name,
    unit, description, format and meta; the block is unlinked once read."""
    from astropy.table import MaskedColumn, Table

    before = shm_blocks()
    t = Table(meta={"truth": {"n": 3}, "kind": "mock"})
    t["source_id"] = np.array([3, 1, 2], dtype=np.int64)
    t["ra"] = np.array([10.0, 20.0, 30.0])
    t["ra"].unit, t["ra"].description, t["ra"].format = "deg", "right ascension", ".3f"
    t["ra"].meta["ucd"] = "pos.eq.ra"
    t["flag"] = np.array([True, False, True])
    t["mag"] = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=np.float32)
    t["name"] = ["a", "bb", "ccc"]
    t["rv"] = MaskedColumn([1.0, 2.0, 3.0], mask=[False, True, False], unit="km/s")
    empty = Table({"x": np.zeros(0)})
    sent = overlap.SharedTables({"gaia": t, "none": empty})
    blocks = shm_blocks() - before
    assert len(blocks) == 1
    got = sent.tables()
    assert shm_blocks() == before  # unlinked: its memory goes with the columns
    g = got["gaia"]
    assert g.colnames == t.colnames and g.meta == t.meta and type(g) is type(t)
    for c in t.colnames:
        a, b = g[c], t[c]
        assert type(a) is type(b) and a.dtype == b.dtype and a.shape == b.shape, c
        assert (a.unit, a.description, a.format, a.meta) == (
            b.unit,
            b.description,
            b.format,
            b.meta,
        )
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert g["rv"].mask.tolist() == [False, True, False]
    g["ra"][0] = 11.0  # writable, as a table made here
    assert len(got["none"]) == 0 and got["none"].colnames == ["x"]
    # a catalogue nobody takes: discard() frees the block
    other = overlap.SharedTables({"gaia": t})
    assert len(shm_blocks() - before) == 1
    other.discard()
    assert shm_blocks() == before


def test_prefetch_job_pickles_without_room_in_shared_memory(no_shm_room):
    """A worker whose /dev/shm has no room sends the tables pickled."""
    cfg = load_config({"synthetic": {"n_giants": 500, "seed": 9}})
    made = overlap._prefetch_job(cfg, "giants")
    assert isinstance(made, dict) and len(made["gaia"]) == 500
    no_shm_room.undo()
    sent = overlap._prefetch_job(cfg, "giants")
    assert isinstance(sent, overlap.SharedTables)
    got = sent.tables()
    np.testing.assert_array_equal(np.asarray(got["gaia"]["ra"]), np.asarray(made["gaia"]["ra"]))


def test_prefetched_catalogue_leaves_no_leak_report():
    """The catalogue's block, made by the worker and unlinked by the run's
    process, is unregistered from the resource tracker they share: no
    'leaked shared_memory objects' report when the process ends (Python
    3.13's track=False attach would leave it registered)."""
    import subprocess
    import sys

    code = """
from fastgrad.pipeline import overlap
from fastgrad.pipeline.config import load_config
cfg = load_config({"synthetic": {"n_giants": 3000, "seed": 9}})
with overlap.Prefetch.start(cfg, 2, names=["giants"]) as ahead:
    got = ahead.survey("giants")
print(len(got["gaia"]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["3000"]
    assert "leaked" not in out.stderr, out.stderr


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="Linux's /proc")
def test_per_star_steps_let_a_prefetched_catalogue_go():
    """The per-star steps take the input tables over: once the inputs are
    read (cuts, join, distances) the dict is empty and a prefetched
    catalogue's shared block is no longer mapped, before the Monte Carlo
    (the run's peak: the default giants' block is 232 MB)."""
    from fastgrad.engine import LocalEngine
    from fastgrad.pipeline.config import sample_plan
    from fastgrad.pipeline.run import Steps, _mock_inputs, per_star_steps

    cfg = load_config({"synthetic": {"n_giants": 3000}, "monte_carlo": {"n_samples": 20}})
    sent = overlap.SharedTables(overlap.synthetic_survey(cfg, "giants"))
    block = sent._name.lstrip("/")
    plan = sample_plan(cfg, "giants")
    tables = _mock_inputs(plan.spec, sent.tables())  # as the run reads them

    def mapped():
        with open("/proc/self/maps") as f:
            return block in f.read()

    assert mapped()
    kept = per_star_steps(cfg, plan, tables, LocalEngine(1), Steps())
    assert tables == {} and len(kept) > 2000
    assert not mapped()
