"""Survey-scale run: a synthetic Gaia XP giants catalogue through ``fastgrad run``.

One command (issue 16 item 2)::

    python bench/scale_run.py --n-stars 20000000 --workers 2

1. generates the ``xp_giants``-layout mock (:mod:`fastgrad.mock.xp`) once into
   ``bench/.scale/xp_<N>_<format>/`` (git-ignored; reused when its truth file
   says the same N and seed): a HATS catalogue by hats-import
   (``--format hats``, the default) or the sample's three plain Parquet
   files (``--format parquet``, what the local reader reads); prints the
   generation time, the peak RSS of each process and the bytes per star on disk;
2. writes a run TOML (``run = ["xp"]``, ``[samples.xp] preset = "xp_giants"``,
   all three inputs on that catalogue, ``engine`` and ``[dask] n_workers``)
   and runs ``fastgrad run`` on it in a subprocess;
3. polls the run's process tree every 0.2 s with psutil: the peak RSS of
   the client (which also holds the Dask scheduler and the nannies of a
   LocalCluster) and of each worker process, overall and per pipeline step
   (the steps' start lines on the run's stderr), and the CPU seconds (user
   and system: page faults show in the latter) each process used per step;
4. prints a table (step, wall time, peak RSS per process), the CPU seconds, and the recovered
   Table 1 / Table 2 gradients against the injected truth (pulls), and writes
   everything to ``scale_run_<N>_<format>_<engine>.json`` in the data folder
   (``--json``).

With the default G < 16.2 mag the Table 1 slopes come back ~2 % steeper
than the injected ones (the method's bias where the distance errors near
the 30 % cut: pulls of -7 at 3x10^5 stars, -17 at 2x10^6, growing as
sqrt(N)); ``--g-max 12.5`` (the GSP-Spec giants' limit) gives pulls of order 1.

``--engine local`` runs the same sample on the local engine (side by side at
small N); the local reader reads plain files, so use it with
``--format parquet``.  Needs ``pip install -e ".[scale]"`` (hats-import,
psutil).  Timings on a shared machine are noisy: the load average is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
MB = 1024.0**2


# ---------------------------------------------------------------------------
# peak RSS of a process tree
# ---------------------------------------------------------------------------


def _role(proc, root_pid):
    """What a process of the tree is: client, worker, or a multiprocessing helper."""
    if proc.pid == root_pid:
        return "client"
    try:
        cmd = " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return "worker"
    if "resource_tracker" in cmd:
        return "resource_tracker"
    if "forkserver" in cmd:
        return "forkserver"
    return "worker"


class TreeMonitor:
    """Polls the RSS of ``root_pid`` and its descendants every ``interval`` s
    in a thread; workers are numbered in the order they appear."""

    def __init__(self, root_pid, interval=0.2):
        self.root_pid = root_pid
        self.interval = interval
        self.samples = []  # (wall time, {label: rss bytes})
        # CPU seconds (user, system) used so far, by label, exited processes
        # included: (wall time, {label: (user, system)})
        self.cpu_samples = []
        self._cpu_last = {}  # pid: (label, user, system)
        self.labels = {}
        self._count = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _label(self, proc):
        if proc.pid not in self.labels:
            role = _role(proc, self.root_pid)
            if role == "worker":
                self._count[role] = self._count.get(role, 0) + 1
                role = f"worker-{self._count[role]}"
            self.labels[proc.pid] = role
        return self.labels[proc.pid]

    def _run(self):
        try:
            root = psutil.Process(self.root_pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.is_set():
            snap = {}
            try:
                procs = [root] + root.children(recursive=True)
            except psutil.NoSuchProcess:
                break
            for p in procs:
                try:
                    rss = p.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                label = self._label(p)
                snap[label] = snap.get(label, 0) + rss
                try:
                    ct = p.cpu_times()
                    self._cpu_last[p.pid] = (label, ct.user, ct.system)
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            if snap:
                snap["total"] = sum(snap.values())
                now = time.time()
                self.samples.append((now, snap))
                cum = {}
                for label, user, system in self._cpu_last.values():
                    a, b = cum.get(label, (0.0, 0.0))
                    cum[label] = (a + user, b + system)
                self.cpu_samples.append((now, cum))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        return False

    def peaks(self, t0=None, t1=None):
        """{label: peak RSS (MB)} over the samples in [t0, t1)."""
        out = {}
        for t, snap in self.samples:
            if (t0 is None or t >= t0) and (t1 is None or t < t1):
                for k, v in snap.items():
                    out[k] = max(out.get(k, 0.0), v / MB)
        return {k: round(v, 1) for k, v in sorted(out.items())}

    def cpu(self, t0=None, t1=None):
        """{label: [user, system] CPU seconds} used in [t0, t1) (to the poll);
        system time is where page faults show."""

        def at(t):
            last = {}
            for ts, cum in self.cpu_samples:
                if t is not None and ts >= t:
                    break
                last = cum
            return last

        a, b = ({} if t0 is None else at(t0)), at(t1)
        out = {}
        for label, (user, system) in sorted(b.items()):
            u0, s0 = a.get(label, (0.0, 0.0))
            out[label] = [round(user - u0, 1), round(system - s0, 1)]
        return out


# ---------------------------------------------------------------------------
# 1. the catalogue
# ---------------------------------------------------------------------------


def _disk_bytes(path):
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def generate(args):
    """The catalogue folder, generated unless present; its generation record."""
    from fastgrad.mock.hats import TRUTH_FILE, write_xp_hats, write_xp_parquet
    from fastgrad.mock.xp import XP_TRUTH_DEFAULTS

    gtag = "" if args.g_max is None else f"_g{args.g_max:g}"
    path = Path(args.data_dir) / f"xp_{args.n_stars}_{args.format}{gtag}"
    over = None if args.g_max is None else {"survey": {"g_max_mag": args.g_max}}
    truth_file = path / TRUTH_FILE
    if truth_file.exists():
        t = json.loads(truth_file.read_text())
        g_max = args.g_max if args.g_max is not None else XP_TRUTH_DEFAULTS["survey"]["g_max_mag"]
        if t["n"] == args.n_stars and t["seed"] == args.seed and t["survey"]["g_max_mag"] == g_max:
            rec = {"path": str(path), "reused": True, "disk_bytes": _disk_bytes(path)}
            rec["bytes_per_star"] = rec["disk_bytes"] / args.n_stars
            print(f"catalogue: reusing {path} ({rec['bytes_per_star']:.0f} bytes/star)")
            return path, t, rec

    blocks_done = []

    def tick(done, total):
        if done == total or done % max(1, total // 10) == 0:
            print(f"  blocks {done}/{total}", flush=True)
        if done == total:
            blocks_done.append(time.time())

    print(f"catalogue: generating {args.n_stars:,} stars ({args.format}) into {path}", flush=True)
    t0 = time.perf_counter()
    with TreeMonitor(os.getpid()) as mon:
        if args.format == "hats":
            out = write_xp_hats(
                path,
                args.n_stars,
                seed=args.seed,
                n_workers=args.workers,
                truth=over,
                pixel_threshold=args.pixel_threshold,
                on_block=tick,
            )
            stages = {"blocks_s": out["seconds_blocks"], "hats_import_s": out["seconds_import"]}
            extra = {"partitions": out["partitions"]}
        else:
            out = write_xp_parquet(
                path,
                args.n_stars,
                seed=args.seed,
                n_workers=args.workers,
                truth=over,
                on_block=tick,
            )
            stages, extra = {}, {}
    wall = time.perf_counter() - t0
    disk = _disk_bytes(path)
    rec = {
        "path": str(path),
        "reused": False,
        "seconds": round(wall, 2),
        **{k: round(v, 2) for k, v in stages.items()},
        **extra,
        "peak_rss_mb": mon.peaks(),
        # the block processes (worker-1..) and hats-import's Dask workers (the
        # next ones) by phase
        "peak_rss_mb_blocks": mon.peaks(None, blocks_done[0]) if blocks_done else {},
        "peak_rss_mb_import": mon.peaks(blocks_done[0], None) if blocks_done else {},
        "disk_bytes": disk,
        "bytes_per_star": disk / args.n_stars,
    }
    print(
        f"catalogue: {wall:.1f} s ({', '.join(f'{k} {v:.1f}' for k, v in stages.items())}), "
        f"{disk / 1e6:.1f} MB on disk = {disk / args.n_stars:.0f} bytes/star"
    )
    for phase in ("blocks", "import"):
        peaks = rec[f"peak_rss_mb_{phase}"]
        if peaks:
            print(
                f"  peak RSS (MB), {phase}: " + ", ".join(f"{k} {v:.0f}" for k, v in peaks.items())
            )
    return path, out["truth"], rec


# ---------------------------------------------------------------------------
# 2./3. the run
# ---------------------------------------------------------------------------


def run_toml(args, path):
    """The run's TOML text: the xp_giants sample on the catalogue at ``path``."""
    if args.format == "hats":
        inputs = {k: str(path) for k in ("xp", "gaia", "distances")}
    else:
        inputs = {k: str(path / f"{k}.parquet") for k in ("xp", "gaia", "distances")}
    lines = [
        'run = ["xp"]',
        f'engine = "{args.engine}"',
        "",
        "[dask]",
        f"n_workers = {args.workers}",
        "",
        "[monte_carlo]",
        f"n_samples = {args.mc_samples}",
        "",
        "[samples.xp]",
        'preset = "xp_giants"',
        "",
        "[samples.xp.inputs]",
        *(f'{k} = "{v}"' for k, v in inputs.items()),
        "",
    ]
    return "\n".join(lines)


_STEP = re.compile(r"^(?:\[[^\]]*\]\s*|\S+\s+s\s+)?(?P<name>.+?) \.\.\.\s*$")


def run_pipeline(args, path, workdir):
    """``fastgrad run`` in a subprocess under a TreeMonitor: (record, results folder)."""
    cfg = workdir / f"run_{args.engine}.toml"
    cfg.write_text(run_toml(args, path))
    out = workdir / f"results_{args.engine}"
    cmd = [
        sys.executable,
        "-c",
        "import sys; from fastgrad.cli import main; sys.exit(main())",
        "run",
        str(cfg),
        "--out",
        str(out),
        "--overwrite",
    ]
    if args.no_figures:
        cmd.append("--no-figures")
    if args.n_threads:
        cmd += ["--n-threads", str(args.n_threads)]
    print(f"run: {' '.join(cmd[3:])}", flush=True)
    steps = []  # (wall time, step name) from the progress lines
    t0 = time.time()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, bufsize=1)
    with TreeMonitor(proc.pid) as mon:
        tail = []
        for line in proc.stderr:
            now = time.time()
            sys.stderr.write(line)
            tail = (tail + [line])[-40:]
            m = _STEP.match(line.strip())
            if m:
                steps.append((now, m.group("name")))
        rc = proc.wait()
    t1 = time.time()
    stages = []
    bounds = [s[0] for s in steps] + [t1]
    for (ts, name), te in zip(steps, bounds[1:]):
        stages.append(
            {
                "step": name,
                "seconds": round(te - ts, 2),
                "peak_rss_mb": mon.peaks(ts, te),
                "cpu_s": mon.cpu(ts, te),
            }
        )
    rec = {
        "command": " ".join(cmd[3:]),
        "rc": rc,
        "wall_s": round(t1 - t0, 2),
        "peak_rss_mb": mon.peaks(),
        "cpu_s": mon.cpu(),
        "stages": stages,
        "toml": cfg.read_text(),
    }
    if rc != 0:
        rec["stderr_tail"] = "".join(tail)
    return rec, out


# ---------------------------------------------------------------------------
# 4. the table
# ---------------------------------------------------------------------------


def pulls(out, truth):
    """Recovered Table 1 / 2 slopes against the truth (fastgrad.validation.slope_pulls)."""
    from astropy.table import Table

    from fastgrad.validation import slope_pulls

    res = {}
    for key in ("table1", "table2"):
        f = out / f"{key}.ecsv"
        if f.exists():
            res[key] = slope_pulls(Table.read(f, format="ascii.ecsv"), truth[key])
    return res


def _fmt_peaks(p, roles):
    # "-": a step shorter than the 0.2 s poll
    return "  ".join(f"{p[r]:7.0f}" if r in p else f"{'-':>7s}" for r in roles)


def print_tables(gen, run, pl):
    roles = sorted({k for s in run["stages"] for k in s["peak_rss_mb"]} | set(run["peak_rss_mb"]))
    roles = ["client"] + [r for r in roles if r not in ("client", "total")] + ["total"]
    print()
    short = {"resource_tracker": "rtrack", "forkserver": "forksrv"}
    heads = [short.get(r, r.replace("worker-", "worker")) for r in roles]
    print(f"{'step':58s} {'wall s':>7s}  " + "  ".join(f"{h[:7]:>7s}" for h in heads))
    print(f"{'':58s} {'':>7s}  " + "  ".join(f"{'MB':>7s}" for _ in roles))
    for s in run["stages"]:
        print(f"{s['step'][:58]:58s} {s['seconds']:7.1f}  {_fmt_peaks(s['peak_rss_mb'], roles)}")
    print(
        f"{'whole run (rc ' + str(run['rc']) + ')':58s} {run['wall_s']:7.1f}  "
        f"{_fmt_peaks(run['peak_rss_mb'], roles)}"
    )
    print("\nCPU seconds, user / system, by process:")
    for s in [*run["stages"], {"step": "whole run", "cpu_s": run["cpu_s"]}]:
        cpu = s.get("cpu_s", {})
        shown = ", ".join(f"{k} {u:.1f}/{y:.1f}" for k, (u, y) in cpu.items() if u + y >= 0.1)
        print(f"  {s['step'][:56]:56s} {shown}")
    if not gen["reused"]:
        print(
            f"{'catalogue generation':58s} {gen['seconds']:7.1f}  (peaks above, "
            f"{gen['bytes_per_star']:.0f} bytes/star)"
        )
    for key, rows in pl.items():
        print(f"\n{key}: bin, n, slope +- err (dex/kpc), truth, pull")
        for r in rows:
            print(
                f"  [{r['bin_lo']:.1f}, {r['bin_hi']:.1f})  {r['n_stars']:>9}  "
                f"{r['slope']:+.4f} +- {r['slope_err']:.4f}  {r['slope_true']:+.4f}  "
                f"{r['pull']:+.2f}"
            )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-stars", type=int, default=2_000_000)
    p.add_argument("--workers", type=int, default=2, help="generation and Dask workers")
    p.add_argument("--engine", choices=("dask", "local"), default="dask")
    p.add_argument("--format", choices=("hats", "parquet"), default="hats")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument(
        "--g-max",
        type=float,
        default=None,
        help="the mock's faint limit (mag; default 16.2, Andrae et al.'s G < 16 giants); "
        "12.5, the GSP-Spec giants' limit, gives precise distances and unbiased slopes",
    )
    p.add_argument("--mc-samples", type=int, default=1000, help="[monte_carlo] n_samples")
    p.add_argument("--pixel-threshold", type=int, default=None, help="HATS rows per partition")
    p.add_argument("--n-threads", type=int, default=None, help="fastgrad run --n-threads")
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--generate-only", action="store_true")
    p.add_argument("--data-dir", default=str(HERE / ".scale"))
    p.add_argument(
        "--json", default=None, help="default: <data-dir>/scale_run_<N>_<format>_<engine>.json"
    )
    args = p.parse_args(argv)
    if args.pixel_threshold is None:
        from fastgrad.mock.hats import PIXEL_THRESHOLD

        args.pixel_threshold = PIXEL_THRESHOLD
    Path(args.data_dir).mkdir(parents=True, exist_ok=True)
    record = {
        "n_stars": args.n_stars,
        "workers": args.workers,
        "engine": args.engine,
        "format": args.format,
        "seed": args.seed,
        "g_max": args.g_max,
        "cpus": os.cpu_count(),
        "load_average_start": os.getloadavg(),
    }
    path, truth, gen = generate(args)
    record["generation"] = gen
    if not args.generate_only:
        workdir = Path(args.data_dir) / f"run_{path.name[3:]}"
        workdir.mkdir(exist_ok=True)
        run, out = run_pipeline(args, path, workdir)
        record["run"] = run
        record["pulls"] = pulls(out, truth) if run["rc"] == 0 else {}
        print_tables(gen, run, record["pulls"])
    record["load_average_end"] = os.getloadavg()
    dest = Path(args.json or Path(args.data_dir) / f"scale_run_{path.name[3:]}_{args.engine}.json")
    dest.write_text(json.dumps(record, indent=1))
    print(f"\nwritten {dest}")
    return 0 if args.generate_only or record["run"]["rc"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
