"""Replace named entries of tests/data/reference_outputs.npz with today's values,
keeping every other array and the platform key: for a deliberate change of a
few outputs (say which and why in the commit). Usage:

    python tools/update_reference.py run.cuts.sample run.cuts.cut ...
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import _reference  # noqa: E402


def main(names):
    stored = dict(np.load(_reference.PATH))
    out = _reference.compute()
    unknown = [n for n in names if n not in out]
    if unknown:
        raise SystemExit(f"not reference outputs: {unknown}")
    for name in names:
        stored[name] = out[name]
    np.savez_compressed(_reference.PATH, **stored)
    print(f"updated {len(names)} of {len(stored) - 1} arrays in {_reference.PATH}")


if __name__ == "__main__":
    main(sys.argv[1:])
