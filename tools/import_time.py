"""Time `import fastgrad` in fresh interpreters (what a user waits for).

    python tools/import_time.py [--repeats N]

Runs `python -X importtime -c "import fastgrad"` N times after one warm-up
(which also writes any missing .pyc files) and prints the median cumulative
import time of fastgrad and of its two heavy dependencies, numpy and astropy,
as -X importtime reports them (microseconds, self + children), plus the median
wall time of the whole process against an empty `python -c pass`.
"""

import argparse
import statistics
import subprocess
import sys
import time

TRACKED = (
    "fastgrad",
    "numpy",
    "astropy",
    "astropy.units",
    "astropy.coordinates",
    "astropy.table",
    "fastgrad._core",
)


def one_run():
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import fastgrad"],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - start
    cumulative = {}
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        fields = [field.strip() for field in line[len("import time:") :].split("|")]
        if fields[2].strip() in TRACKED:
            cumulative[fields[2].strip()] = int(fields[1])
    return wall, cumulative


def empty_run():
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    one_run()  # warm-up: .pyc files, file-system cache
    runs = [one_run() for _ in range(args.repeats)]
    empty = statistics.median(empty_run() for _ in range(args.repeats))
    wall = statistics.median(run[0] for run in runs)
    print(f"import fastgrad, median of {args.repeats} fresh interpreters:")
    for name in TRACKED:
        values = [run[1][name] for run in runs if name in run[1]]
        if values:
            print(
                f"  {name:<20} {statistics.median(values) / 1e3:7.1f} ms cumulative (-X importtime)"
            )
    print(f"  process wall time    {wall * 1e3:7.1f} ms (python -c pass: {empty * 1e3:.1f} ms)")


if __name__ == "__main__":
    main()
