"""Seeds: one definition of what a fastgrad ``seed`` argument may be.

Every public function that draws random numbers takes ``seed`` as numpy does:
``None`` (fresh OS entropy), an int in [0, 2**64), a ``numpy.random.SeedSequence``
or a ``numpy.random.Generator``. Out-of-range ints are errors, never wrapped
(``2**64 + 1`` must not give the numbers of ``1``).
"""

import numbers

import numpy as np

__all__ = ["check_int_seed", "seed64", "seed_sequence"]

_SEED_TYPES = "None, an int in [0, 2**64), a numpy SeedSequence or a Generator"


def check_int_seed(seed, name="seed"):
    """``seed`` as a Python int in [0, 2**64), or a ValueError naming ``name``."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"{name} must be {_SEED_TYPES}, got {seed!r}")
    seed = int(seed)
    if not 0 <= seed < 2**64:
        raise ValueError(f"{name} must be in [0, 2**64), got {seed}")
    return seed


def seed64(seed, name="seed"):
    """A 64-bit key (a Python int) for the counter-based streams of the kernels."""
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1, np.uint64)[0])
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**63, dtype=np.int64))
    if isinstance(seed, np.random.SeedSequence):
        return int(seed.generate_state(1, np.uint64)[0])
    return check_int_seed(seed, name)


def seed_sequence(seed, name="seed"):
    """A ``numpy.random.SeedSequence`` for numpy/emcee streams."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(seed.integers(0, 2**63, size=4))
    return np.random.SeedSequence(None if seed is None else check_int_seed(seed, name))
