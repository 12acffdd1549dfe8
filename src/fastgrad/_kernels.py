"""The compiled kernels, in the best build this CPU can run.

On x86-64 the kernels are compiled up to three times from one source
(meson.build): ``_core`` for any x86-64 CPU, ``_core_avx2`` with AVX2 + FMA,
and ``_core_avx512`` with AVX-512 (F, DQ, VL, BW) besides, where the compiler
takes those flags.  ``core`` is the module every wrapper (transform.py,
fitting.py, azimuthal.py, _threads.py, _config.py) calls; nothing else
imports ``_core`` directly.
``FASTGRAD_KERNELS`` (read once, at import) chooses: ``auto`` (the default:
the fastest this CPU runs: AVX-512, else AVX2, else the baseline),
``baseline`` (the portable build, for tests and comparisons), ``avx2`` or
``avx512`` (demand that build; ImportError where it cannot run).
``variants()`` lists every build this machine can run, for tests that check
the builds agree.  The AVX-512 build gives the line likelihood the same bits
as the AVX2 build (the same 8 lanes, one 8-double vector instead of two of
4), and the Monte Carlo the same statistics.
"""

import os

from . import _core as _baseline

__all__ = ["core", "variant", "variants"]

_CHOICES = ("auto", "baseline", "avx2", "avx512")


def _load_avx2():
    """The AVX2 + FMA build when it is built and this CPU runs it, else None."""
    if not _baseline.cpu_has_avx2_fma():
        return None
    try:
        from . import _core_avx2
    except ImportError:
        return None
    return _core_avx2


def _load_avx512():
    """The AVX-512 build when it is built and this CPU (and OS) runs it, else None."""
    if not _baseline.cpu_has_avx512():
        return None
    try:
        from . import _core_avx512
    except ImportError:
        return None
    return _core_avx512


def variants():
    """``{name: module}`` of the kernel builds this machine can run, baseline
    first, the fastest last.

    The names are those ``FASTGRAD_KERNELS`` takes ("baseline", "avx2",
    "avx512").
    """
    found = {"baseline": _baseline}
    for name, load in (("avx2", _load_avx2), ("avx512", _load_avx512)):
        module = load()
        if module is not None:
            found[name] = module
    return found


def _select():
    choice = os.environ.get("FASTGRAD_KERNELS", "auto").lower()
    if choice not in _CHOICES:
        raise ImportError(
            f"FASTGRAD_KERNELS={choice!r}: use 'auto', 'baseline', 'avx2' or 'avx512'"
        )
    if choice == "baseline":
        return _baseline, "baseline"
    if choice == "avx2":
        if not _baseline.cpu_has_avx2_fma():
            raise ImportError("FASTGRAD_KERNELS=avx2 but this CPU lacks AVX2/FMA")
        from . import _core_avx2  # its ImportError, if not built, is the message

        return _core_avx2, "avx2"
    if choice == "avx512":
        if not _baseline.cpu_has_avx512():
            raise ImportError(
                "FASTGRAD_KERNELS=avx512 but this CPU (or OS) lacks AVX-512 F/DQ/VL/BW"
            )
        from . import _core_avx512  # its ImportError, if not built, is the message

        return _core_avx512, "avx512"
    for name, load in (("avx512", _load_avx512), ("avx2", _load_avx2)):
        module = load()
        if module is not None:
            return module, name
    return _baseline, "baseline"


core, variant = _select()
