"""How busy the CPUs are in each step of ``fastgrad run`` (default: the paper
on the embedded synthetic catalogues): is a step short of cores, or of work?

    python bench/run_busy.py [--interval 0.5] [-- RUN ARGUMENTS ...]

Runs ``fastgrad run`` (its arguments after ``--``; ``--out`` a temporary
folder unless given) and samples the machine's /proc/stat every
``--interval`` s: per step (the run's progress lines), its wall time and the
mean number of CPUs busy over it, out of the machine's.  Every process counts,
the run's workers (forkserver, Dask) as much as anything else running, so
read it on a quiet machine.  Linux only.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time


def _cpu_ticks():
    """(all ticks, idle ticks) summed over the CPUs since boot."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return sum(fields), fields[3] + fields[4]  # idle + iowait


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--interval", type=float, default=0.5)
    args, run_args = p.parse_known_args()
    run_args = [a for a in run_args if a != "--"]
    tmp = None
    if "--out" not in run_args:
        tmp = tempfile.mkdtemp(prefix="fastgrad-busy-")
        run_args += ["--out", os.path.join(tmp, "out")]
    n_cpu = os.cpu_count() or 1
    cmd = [sys.executable, "-c", "from fastgrad.cli import main; main()", "run", *run_args]
    t0 = time.time()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    samples = []  # (seconds since start, CPUs busy over the interval before)

    def poll():
        prev = _cpu_ticks()
        while proc.poll() is None:
            time.sleep(args.interval)
            cur = _cpu_ticks()
            total = cur[0] - prev[0]
            busy = total - (cur[1] - prev[1])
            samples.append((time.time() - t0, n_cpu * busy / max(total, 1)))
            prev = cur

    sampler = threading.Thread(target=poll, daemon=True)
    sampler.start()
    marks = [(0.0, "start: imports, configuration")]
    for line in proc.stderr:
        line = line.rstrip()
        if line.endswith("..."):
            marks.append((time.time() - t0, line.split("] ", 1)[-1].rstrip(". ")))
    rc = proc.wait()
    sampler.join()
    wall = time.time() - t0
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    if rc != 0:
        raise SystemExit(f"fastgrad run failed ({rc})")
    marks.append((wall, "end"))
    print(f"{'step':72s} {'wall s':>7s} {'CPUs busy':>10s}  (of {n_cpu})")
    used = 0.0
    for (ta, name), (tb, _) in zip(marks, marks[1:]):
        s = [u for t, u in samples if ta < t <= tb]
        busy = sum(s) / len(s) if s else float("nan")
        used += (tb - ta) * (busy if s else 0.0)
        print(f"{name[:72]:72s} {tb - ta:7.1f} {busy:10.2f}")
    print(f"{'whole run':72s} {wall:7.1f} {used / wall:10.2f}  ({used:.0f} CPU-seconds)")


if __name__ == "__main__":
    main()
