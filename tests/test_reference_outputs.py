"""Every public function gives the bits it gave when the reference was written
(``tests/_reference.py``): a refactoring that moves a number fails here."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import _reference  # noqa: E402

#: absolute tolerances off the writing platform, where 1e-12 is below one ulp
#: of the arithmetic behind the number: a separation (arcsec) comes from
#: angles in radians, whose ulp near 1 rad is 2.2e-16 rad = 4.6e-11 arcsec
ATOL = {"crossmatch.separation": 1e-9}


@pytest.fixture(scope="module")
def outputs():
    return _reference.compute()


def test_reference_outputs_are_bit_identical(outputs):
    stored = np.load(_reference.PATH)
    names = [n for n in stored.files if n != "__platform__"]
    assert sorted(names) == sorted(outputs), "the set of reference outputs changed"
    # bit-identical where the reference was written (same CPU architecture and
    # kernel build); elsewhere the vector maths library may round differently
    exact = str(stored["__platform__"]) == _reference.platform_key()
    changed = []
    for name in names:
        a, b = stored[name], outputs[name]
        if a.dtype.kind in "fc":
            close = (
                np.array_equal(a, b, equal_nan=True)
                if exact
                else np.allclose(a, b, rtol=1e-10, atol=ATOL.get(name, 1e-12), equal_nan=True)
            )
        else:
            close = np.array_equal(a, b)
        same = a.shape == b.shape and a.dtype == b.dtype and close
        if not same:
            changed.append(name)
    assert not changed, f"{len(changed)} reference output(s) changed: {changed[:20]}"
