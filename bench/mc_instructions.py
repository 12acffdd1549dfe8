"""Instructions per Monte-Carlo draw of the MC transform kernel, by callgrind.

    python bench/mc_instructions.py [--stars 2000] [--draws 1000]

Runs ``fastgrad.mc_galactocentric`` on one thread under ``valgrind
--tool=callgrind``, collecting only inside the per-star kernel ``_mc_star``
(and what it calls: libmvec's logf), and divides its instructions by
stars x draws.  The count is repeatable whatever the machine's load, unlike a
wall clock on a shared machine; the per-star set-up (nominal transform,
Cholesky factor, final reduction) is included, ~1 % at 1000 draws.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

CHILD = """
import sys
sys.path.insert(0, {bench!r})
from benchmarks.bench_transform import _stars
import fastgrad
s, e = _stars({n})
fastgrad.mc_galactocentric(**s, **e, n_samples={k}, seed=1, n_threads=1)
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stars", type=int, default=2000)
    ap.add_argument("--draws", type=int, default=1000)
    args = ap.parse_args()
    import fastgrad  # an editable install rebuilds here, not under valgrind

    kernels = fastgrad.build_config()["kernels"]
    bench = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        env = dict(os.environ, OMP_NUM_THREADS="1")
        code = CHILD.format(bench=bench, n=args.stars, k=args.draws)
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                "--toggle-collect=*_mc_star",
                sys.executable,
                "-c",
                code,
            ],
            check=True,
            env=env,
            stderr=subprocess.DEVNULL,
        )
        text = open(out).read()
    m = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.M)
    ir = int(m.group(1))
    draws = args.stars * args.draws
    print(
        f"kernels {kernels}: {ir:,} instructions in _mc_star for "
        f"{args.stars:,} stars x {args.draws} draws = {ir / draws:.1f} per draw"
    )


if __name__ == "__main__":
    main()
