"""`fastgrad run --out`: nothing lost, outputs whole or not at all (issue 12).

Each test is a fault a user met: results written over their files, a folder
replaced, partial files after a kill, tracebacks after the whole analysis.
"""

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fastgrad import pipeline
from fastgrad._outdir import MARKER, ResultsDir, sweep_stale
from fastgrad.cli import main
from fastgrad.errors import OutputError

#: a run of a few seconds: one small synthetic sample, short chains, no figures
TINY = {
    "run": ["giants"],
    "synthetic": {"seed": 5, "n_giants": 6000},
    "monte_carlo": {"n_samples": 16},
    "fit": {"n_walkers": 6, "n_steps": 20, "min_stars": 200},
    "azimuthal": {"min_count": 5},
}
TINY_TOML = """run = ["giants"]
[synthetic]
seed = 5
n_giants = 6000
[monte_carlo]
n_samples = 16
[fit]
n_walkers = 6
n_steps = 20
min_stars = 200
[azimuthal]
min_count = 5
"""


def _staging_left(folder):
    return [p.name for p in Path(folder).iterdir() if p.name.startswith(".fastgrad-tmp-")]


def _user_folder(tmp_path):
    """A folder of the user's: a config, a catalogue, notes."""
    d = tmp_path / "work"
    d.mkdir()
    (d / "run.toml").write_text(TINY_TOML)
    (d / "catalogue.fits").write_bytes(b"SIMPLE  = T" + b" " * 100)
    (d / "notes.txt").write_text("my notes\n")
    return d


def _snapshot(folder):
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in Path(folder).rglob("*")
        if p.is_file()
    }


def test_new_folder_gets_the_results_and_a_marker(tmp_path):
    out = tmp_path / "a" / "b" / "res"  # missing parents are made at the end
    res = pipeline.run(TINY, out=out, verbose=False, figures=False)
    assert res.out == out
    marker = json.loads((out / MARKER).read_text())
    assert set(marker["files"]) == {
        "table1.ecsv",
        "table2.ecsv",
        "azimuthal_profile.ecsv",
        "cuts.ecsv",
        "summary.json",
        "report.md",
    }
    assert {p.name for p in out.iterdir()} == set(marker["files"]) | {MARKER}
    assert not _staging_left(out.parent)


def test_out_at_the_inputs_folder_leaves_every_input_intact(tmp_path, capsys):
    work = _user_folder(tmp_path)
    before = _snapshot(work)
    rc = main(["run", str(work / "run.toml"), "--out", str(work), "--quiet", "--no-figures"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 4 and len(err) == 1 and "not empty" in err[0] and "--overwrite" in err[0]
    assert _snapshot(work) == before


def test_overwrite_adds_files_and_touches_nothing_else(tmp_path):
    work = _user_folder(tmp_path)
    before = _snapshot(work)
    rc = main(
        [
            "run",
            str(work / "run.toml"),
            "--out",
            str(work),
            "--quiet",
            "--no-figures",
            "--overwrite",
        ]
    )
    assert rc == 0
    after = _snapshot(work)
    for name, content in before.items():
        assert after[name] == content, name
    assert "table1.ecsv" in after and MARKER in after
    assert not _staging_left(work)


def test_out_dot_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    work = _user_folder(tmp_path)
    monkeypatch.chdir(work)
    t0 = time.perf_counter()
    rc = main(["run", "run.toml", "--out", ".", "--quiet"])
    assert rc == 4 and time.perf_counter() - t0 < 5  # refused at once, not after the analysis
    assert "not empty" in capsys.readouterr().err
    assert not [p for p in work.iterdir() if p.name.startswith(".")]


def test_an_existing_file_is_an_error(tmp_path, capsys):
    target = tmp_path / "results"
    target.write_text("not a folder")
    rc = main(["run", "--out", str(target), "--quiet"])
    assert rc == 4 and "not a folder" in capsys.readouterr().err
    assert target.read_text() == "not a folder"


def test_a_previous_result_is_updated_keeping_the_users_files(tmp_path):
    out = tmp_path / "res"
    two = {
        **TINY,
        "run": ["giants", "lamost"],
        "synthetic": {"seed": 5, "n_giants": 6000, "n_lamost": 6000},
    }
    pipeline.run(two, out=out, verbose=False, figures=False)
    assert (out / "table1_lamost.ecsv").exists()
    (out / "my_plot.png").write_bytes(b"user's")
    pipeline.run(TINY, out=out, verbose=False, figures=False)
    # the earlier run's second sample is gone (fastgrad wrote it), the user's file stays
    assert not (out / "table1_lamost.ecsv").exists()
    assert (out / "my_plot.png").read_bytes() == b"user's"
    assert "table1_lamost.ecsv" not in json.loads((out / MARKER).read_text())["files"]


def test_an_output_never_replaces_an_input(tmp_path):
    out = tmp_path / "res"
    pipeline.run(TINY, out=out, verbose=False, figures=False)
    # a user keeps a catalogue named like an output in the results folder and reads it
    cfg = dict(
        TINY,
        samples={
            "giants": {
                "inputs": {"gaia": str(out / "cuts.ecsv"), "distances": str(out / "summary.json")}
            }
        },
    )
    before = _snapshot(out)
    with pytest.raises(OutputError, match="would replace the input"):
        pipeline.run(cfg, out=out, verbose=False, figures=False)
    assert _snapshot(out) == before


def test_a_folder_inside_unwritable_place_fails_before_any_work(tmp_path):
    if not Path("/proc/self").exists():
        pytest.skip("needs /proc (Linux)")
    t0 = time.perf_counter()
    with pytest.raises(OutputError, match="/proc"):
        pipeline.run(TINY, out="/proc/fastgrad-results", verbose=False)
    assert time.perf_counter() - t0 < 5


def test_modes_follow_the_umask(tmp_path):
    old = os.umask(0o002)
    try:
        pipeline.run(TINY, out=tmp_path / "res", verbose=False, figures=False)
    finally:
        os.umask(old)
    assert (tmp_path / "res").stat().st_mode & 0o777 == 0o775
    assert (tmp_path / "res" / "table1.ecsv").stat().st_mode & 0o777 == 0o664


def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_staging_of_a_killed_run_is_swept(tmp_path):
    import socket

    stale = tmp_path / ".fastgrad-tmp-123-abc"
    stale.mkdir()
    (stale / "fig1.png").write_bytes(b"")
    (stale / ".fastgrad-staging.json").write_text(
        json.dumps({"pid": _dead_pid(), "host": socket.gethostname(), "out": "x"})
    )
    foreign = tmp_path / ".fastgrad-tmp-not-ours"  # no tag: never removed
    foreign.mkdir()
    alive = tmp_path / ".fastgrad-tmp-456-def"  # a run still going: kept
    alive.mkdir()
    (alive / ".fastgrad-staging.json").write_text(
        json.dumps({"pid": os.getppid(), "host": socket.gethostname(), "out": "x"})
    )
    pipeline.run(TINY, out=tmp_path / "res", verbose=False, figures=False)
    assert not stale.exists() and foreign.exists() and alive.exists()
    assert sweep_stale(tmp_path) == []


def _run_cli(args, cwd, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "fastgrad.cli", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def test_sigterm_during_the_write_leaves_no_partial_output(tmp_path):
    (tmp_path / "run.toml").write_text(TINY_TOML)
    proc = _run_cli(["run", "run.toml", "--out", "res"], cwd=tmp_path)
    for line in proc.stderr:  # progress lines: wait for the writing step
        if "write tables, figures" in line:
            proc.send_signal(signal.SIGTERM)
            break
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "terminated" in err
    assert not (tmp_path / "res").exists()
    assert not _staging_left(tmp_path)


def test_sigterm_during_the_analysis_exits_143_and_writes_nothing(tmp_path):
    (tmp_path / "run.toml").write_text(TINY_TOML)
    proc = _run_cli(["run", "run.toml", "--out", "res"], cwd=tmp_path)
    for line in proc.stderr:
        if "Monte-Carlo" in line or "Tables 1 and 2" in line:
            proc.send_signal(signal.SIGTERM)
            break
    proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert not (tmp_path / "res").exists() and not _staging_left(tmp_path)


def test_a_file_size_limit_is_one_line_and_no_partial_output(tmp_path):
    (tmp_path / "run.toml").write_text(TINY_TOML)

    def limit():  # ulimit -f: ~20 kB per file (Python ignores SIGXFSZ: writes fail with EFBIG)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    proc = _run_cli(["run", "run.toml", "--out", "res", "--quiet"], cwd=tmp_path, preexec_fn=limit)
    _, err = proc.communicate(timeout=120)
    lines = err.strip().splitlines()
    assert proc.returncode == 4, err
    assert len(lines) == 1 and "writing the results failed" in lines[0]
    assert not (tmp_path / "res").exists() and not _staging_left(tmp_path)


def test_results_dir_refuses_a_non_empty_foreign_folder_without_overwrite(tmp_path):
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    with pytest.raises(OutputError, match="not empty"):
        ResultsDir(tmp_path).prepare()
    rd = ResultsDir(tmp_path, overwrite=True).prepare()
    assert rd.mode == "update" and rd.staging.parent == tmp_path
    rd.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]
