"""The nominal transform of 1e6 stars in a fresh process: fastgrad against astropy.

Each trial is a new Python process that times the first 7 calls of
``fastgrad.galactocentric`` and of astropy's ``SkyCoord.transform_to``,
interleaved (so a burst of load on this shared machine hits both), and
reports each side's median.  The first calls are where fresh output arrays
fault their pages in; a warm loop hides that.

    python bench/nominal_first_calls.py [--trials 5] [--calls 7]

``--child`` runs one trial and prints its times as JSON (used by the parent
and by bench_transform.NominalTransformFirstCalls).
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def child(n_calls):
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    import fastgrad

    sys.path.insert(0, str(Path(__file__).parent))
    from benchmarks.bench_transform import _stars

    s, _ = _stars(1_000_000)
    frame = fastgrad.paper_frame()
    times = {"fastgrad": [], "astropy": []}
    for _ in range(n_calls):
        t0 = time.perf_counter()
        fastgrad.galactocentric(**s)
        times["fastgrad"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        SkyCoord(
            ra=s["ra"] * u.deg,
            dec=s["dec"] * u.deg,
            distance=s["distance"] * u.kpc,
            pm_ra_cosdec=s["pmra"] * u.mas / u.yr,
            pm_dec=s["pmdec"] * u.mas / u.yr,
            radial_velocity=s["radial_velocity"] * u.km / u.s,
        ).transform_to(frame)
        times["astropy"].append(time.perf_counter() - t0)
    print(json.dumps(times))


def trial(n_calls=7):
    """One fresh process: {"fastgrad": [s, ...], "astropy": [s, ...]}."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", "--calls", str(n_calls)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    import numpy as np

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=5)
    p.add_argument("--calls", type=int, default=7)
    p.add_argument("--child", action="store_true")
    a = p.parse_args()
    if a.child:
        return child(a.calls)
    ratios = []
    for k in range(a.trials):
        t = trial(a.calls)
        mf, ma = np.median(t["fastgrad"]), np.median(t["astropy"])
        ratios.append(ma / mf)
        print(
            f"trial {k}: fastgrad median of first {a.calls} {mf * 1e3:7.1f} ms "
            f"(first call {t['fastgrad'][0] * 1e3:.1f}) | astropy {ma * 1e3:7.1f} ms | "
            f"{ma / mf:5.1f}x",
            flush=True,
        )
    print(
        f"median over {a.trials} fresh processes: {np.median(ratios):.1f}x "
        f"(range {min(ratios):.1f}x - {max(ratios):.1f}x)"
    )


if __name__ == "__main__":
    main()
