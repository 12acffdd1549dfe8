"""`fastgrad run` with no arguments (the paper on the embedded synthetic
catalogues), side by side: wall time, CPU time, peak memory, and whether the
results are the same files.

    python bench/run_default.py [--repeat 2] [--run LABEL=PYTHON[,VAR=VALUE...] ...]

Each ``--run`` is one variant: a Python interpreter with fastgrad installed
(another checkout's virtual environment: before/after a change) and
environment variables for it (e.g. ``OMP_NUM_THREADS=1``).  Default: this
interpreter alone (``--repeat`` runs of it).  The variants run in turn, ``--repeat``
rounds (ABAB...), each on a fresh output folder; printed per run: the load
average before it (the runs are only comparable on a quiet machine), wall
time, the CPU time of the run's process and the children it waited for, the
peak resident memory of the main process and the sampled peak of the sum over
its process tree (main, forkserver and fit workers), and whether
every output file is byte for byte that of the first variant's first run
(summary.json and report.md less their timings; .fastgrad-results.json less
its date).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def _tree_rss(root):
    """Resident memory (bytes) summed over ``root`` and its descendants."""
    parent, rss = {}, {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            parent[int(d)] = int(fields[1])
            rss[int(d)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    tree, todo = set(), [root]
    while todo:
        p = todo.pop()
        tree.add(p)
        todo += [c for c, pp in parent.items() if pp == p and c not in tree]
    return sum(rss.get(p, 0) for p in tree)


def run_once(python, env, out):
    """One `fastgrad run --out out`: (wall s, CPU s, main peak RSS bytes,
    sampled tree peak RSS bytes)."""
    cmd = [python, "-c", "from fastgrad.cli import main; main()", "run", "--quiet", "--out", out]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**os.environ, **env})
    peak, done = [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed ({proc.returncode})")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, peak[0]


def _normalised(path):
    """A result file's bytes, less what differs between identical runs."""
    data = path.read_bytes()
    if path.name == "summary.json":
        s = json.loads(data)
        s.pop("timings_s", None)
        return json.dumps(s, sort_keys=True).encode()
    if path.name == "report.md":  # the timings table comes last
        return data.split(b"## Timings")[0]
    if path.name == ".fastgrad-results.json":
        return re.sub(rb'"written": "[^"]*"', b"", data)
    return data


def same_files(a, b):
    fa = sorted(p.relative_to(a) for p in Path(a).rglob("*") if p.is_file())
    fb = sorted(p.relative_to(b) for p in Path(b).rglob("*") if p.is_file())
    if fa != fb:
        return "different file lists"
    diff = [str(p) for p in fa if _normalised(Path(a) / p) != _normalised(Path(b) / p)]
    return "same" if not diff else "DIFFERENT: " + ", ".join(diff)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--run", action="append", default=[], metavar="LABEL=PYTHON[,VAR=VALUE...]")
    ap.add_argument("--keep", help="keep the output folders under this folder")
    args = ap.parse_args(argv)
    variants = []
    for spec in args.run or [f"this={sys.executable}"]:
        label, rest = spec.split("=", 1)
        python, *pairs = rest.split(",")
        variants.append((label, python, dict(p.split("=", 1) for p in pairs)))
    root = Path(args.keep or tempfile.mkdtemp(prefix="fastgrad-run-default-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"{os.cpu_count()} CPUs; outputs in {root}")
    print(
        f"{'variant':<16} {'round':>5} {'load1':>6} {'wall s':>7} {'CPU s':>6} "
        f"{'main MB':>8} {'tree MB':>8}  outputs"
    )
    rows, reference = {}, None
    for r in range(args.repeat):
        for label, python, env in variants:
            out = root / f"{label}-{r}"
            shutil.rmtree(out, ignore_errors=True)
            load = os.getloadavg()[0]
            wall, cpu, main_rss, tree_rss = run_once(python, env, str(out))
            reference = reference or out
            same = same_files(reference, out)
            rows.setdefault(label, []).append(wall)
            print(
                f"{label:<16} {r:>5} {load:>6.2f} {wall:>7.2f} {cpu:>6.1f} "
                f"{main_rss / 2**20:>8.0f} {tree_rss / 2**20:>8.0f}  {same}",
                flush=True,
            )
    print("best wall time:", ", ".join(f"{k} {min(v):.2f} s" for k, v in rows.items()))
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
