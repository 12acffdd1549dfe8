"""Worker processes of fit_tables/fit_binned: they die with their parent, and
they work from a script without the ``if __name__ == "__main__":`` guard.

Each test runs a script in a subprocess whose environment carries a marker;
every process it starts (the forkserver, its workers, the resource tracker)
inherits that environment, so scanning /proc/*/environ finds them all.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")

MARKER = "FASTGRAD_TEST_PROCESS_MARKER"

# 130k stars, two bins per table, chains long enough (~seconds) to be killed mid-fit
DATA = """
import numpy as np
import fastgrad
rng = np.random.default_rng(1)
n = 130_000
R = rng.uniform(7.0, 9.0, n)
z = rng.uniform(-0.4, 0.4, n)
feh = 0.5 - 0.07 * R - 0.2 * np.abs(z) + rng.normal(0, 0.2, n)
args = (R, z, feh, np.full(n, 0.1), np.full(n, 0.02), np.full(n, 0.05))
kw = dict(absz_edges=[0.0, 0.2, 0.4], R_edges=[7.0, 8.0, 9.0], min_stars=300,
          seed=11, n_walkers=10)
"""


def marked_pids(marker):
    """Processes whose environment holds MARKER=marker."""
    needle = f"{MARKER}={marker}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read().split(b"\0")
            with open(f"/proc/{entry}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:  # gone, or another user's
            continue
        if needle in env and state != b"Z":
            found.append(int(entry))
    return found


def start(script, marker, tmp_path):
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(script))
    env = dict(os.environ, **{MARKER: marker})
    return subprocess.Popen(
        [sys.executable, str(path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_workers_die_with_their_parent(sig, tmp_path):
    marker = uuid.uuid4().hex
    # guarded, so that this tests the workers' lifetime alone
    script = (
        DATA
        + """
if __name__ == "__main__":
    print("fitting", flush=True)
    fastgrad.fit_tables(*args, n_jobs=2, n_steps=20000, **kw)
    print("finished", flush=True)
"""
    )
    proc = start(script, marker, tmp_path)
    try:
        assert proc.stdout.readline().strip() == b"fitting"
        # the parent, the forkserver, two workers (and the resource tracker)
        deadline = time.monotonic() + 60
        while len(marked_pids(marker)) < 4:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the worker processes never started"
            time.sleep(0.1)
        time.sleep(1.0)  # mid-fit: a 10 x 20000 chain on 65k stars takes many seconds
        started = set(marked_pids(marker))
        proc.send_signal(sig)
        proc.wait(timeout=10)
        time.sleep(5)
        alive = marked_pids(marker)
        assert alive == [], f"still alive 5 s after {sig.name}: {alive} (of {sorted(started)})"
        # nothing holds the pipes open any more: a caller reading them is not left hanging
        out, _ = proc.communicate(timeout=5)
        assert b"finished" not in out
    finally:
        for pid in marked_pids(marker):
            os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()


def test_unguarded_script_uses_workers(tmp_path):
    """No ``if __name__ == "__main__":`` guard: the workers do not re-run the
    script (which would start fits in them and break the pool)."""
    marker = uuid.uuid4().hex
    script = (
        DATA
        + """
import json, os, warnings
warnings.simplefilter("ignore")
cols = ("slope", "slope_err", "intercept", "scatter", "n_stars")
out = {}
for n_jobs in (1, 2):
    radial, vertical = fastgrad.fit_tables(*args, n_jobs=n_jobs, n_steps=200, **kw)
    out[n_jobs] = [[float(v) for v in t[c]] for t in (radial, vertical) for c in cols]
print(json.dumps({"pid": os.getpid(), "tables": out}))
"""
    )
    proc = start(script, marker, tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    result = json.loads(out.decode().strip().splitlines()[-1])
    # printed once: the workers did not run the script
    assert len(out.decode().strip().splitlines()) == 1
    assert result["tables"]["1"] == result["tables"]["2"]


def test_pipeline_run_from_an_unguarded_script(tmp_path):
    """`pipeline.run()` at a script's top level (no __main__ guard), with its
    bins fitted in worker processes: the run completes."""
    script = tmp_path / "unguarded_run.py"
    script.write_text(
        textwrap.dedent(f"""
        from fastgrad import pipeline
        from fastgrad.fitting import workers
        workers.MIN_WORK_PROCESSES = 0  # worker processes even for this small run
        cfg = {{"run": ["giants"], "synthetic": {{"seed": 5, "n_giants": 6000}},
               "monte_carlo": {{"n_samples": 16}},
               "fit": {{"n_walkers": 6, "n_steps": 40, "min_stars": 200}},
               "azimuthal": {{"min_count": 5}}}}
        res = pipeline.run(cfg, out={str(tmp_path / "res")!r}, verbose=False, figures=False,
                           n_threads=2)
        print("slope", float(res.tables["giants"]["table1"]["slope"][0]))
    """)
    )
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("slope") == 1  # the script ran once, not again in the workers


def test_a_killed_fit_worker_is_a_worker_error(tmp_path):
    """A fit worker killed mid-fit (SIGKILL: what the out-of-memory killer
    sends) is a WorkerError that says so, not concurrent.futures'
    BrokenProcessPool; the other workers are stopped."""
    marker = uuid.uuid4().hex
    script = (
        DATA
        + """
import json, os, signal, threading, time
from fastgrad.errors import WorkerError
from fastgrad.fitting import workers

made = []
real = workers._process_pool

def pool_then_kill(n):
    pool = real(n)
    made.append(pool)
    return pool

def killer():
    while not (made and made[0]._processes):
        time.sleep(0.05)
    time.sleep(0.5)
    os.kill(next(iter(made[0]._processes)), signal.SIGKILL)

workers._process_pool = pool_then_kill
threading.Thread(target=killer, daemon=True).start()
try:
    fastgrad.fit_tables(*args, n_jobs=2, n_steps=3000, **kw)
    print(json.dumps({"error": None}))
except WorkerError as exc:
    print(json.dumps({"error": str(exc), "cause": type(exc.__cause__).__name__}))
"""
    )
    proc = start(script, marker, tmp_path)
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err.decode()
    got = json.loads(out.decode().strip().splitlines()[-1])
    assert got["error"] is not None, "the fits finished before the worker was killed"
    assert "a worker process of the fits died (killed by SIGKILL" in got["error"]
    assert "fits unfinished" in got["error"] and "fewer worker processes" in got["error"]
    assert got["cause"] == "BrokenProcessPool"
    deadline = time.time() + 20
    while marked_pids(marker) and time.time() < deadline:
        time.sleep(0.2)
    assert marked_pids(marker) == []


def test_a_dead_figure_worker_leaves_its_figures_drawn_here(tmp_path):
    """FigureDrawing: when the pool breaks (a worker killed), the figures not
    drawn yet are drawn in this process, with a RuntimeWarning."""
    import warnings
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    import numpy as np

    import fastgrad
    from fastgrad.pipeline import overlap

    jobs = [(6, "fig6_azimuthal_profile", (fastgrad.azimuthal_profiles(
        np.full(50, 8.0), np.linspace(-0.3, 0.3, 50), np.zeros(50)),), {})]  # fmt: skip
    drawing = overlap.FigureDrawing(jobs, tmp_path, n_workers=2, here=True)
    broken = Future()
    broken.set_exception(BrokenProcessPool("A process in the process pool was terminated"))
    drawing._pool, drawing._futures = object(), [broken]
    drawing.close = lambda abort=False: setattr(drawing, "_pool", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert drawing.wait() == [6]
    assert (tmp_path / "fig6.png").stat().st_size > 1000
    assert any("Figure(s) 6 drawn here instead" in str(w.message) for w in caught)
