"""The compiled kernels, in the best build this CPU can run.

On x86-64 the kernels are compiled three times from one source (meson.build):
``_core`` for any x86-64 CPU, ``_core_avx2`` with AVX2 + FMA and
``_core_avx512`` with AVX-512 (F, DQ, VL, BW) on top; the last two give the
same bits.  ``core`` is the module every wrapper (transform.py, fitting.py,
azimuthal.py, _threads.py, _config.py) calls; nothing else imports ``_core``
directly.  ``FASTGRAD_KERNELS`` (read once, at import) chooses: ``auto`` (the
default: the fastest this CPU runs), ``baseline`` (the portable build, for
tests and comparisons), ``avx2`` or ``avx512`` (demand that build;
ImportError where it cannot run).  ``variants()`` lists every build this
machine can run, for tests that check the builds agree.
"""

import importlib
import os

from . import _core as _baseline

__all__ = ["core", "variant", "variants"]

#: the vector builds, slowest first: (name, the CPU check in the baseline
#: build, what the check looks for)
_VECTOR_BUILDS = (
    ("avx2", "cpu_has_avx2_fma", "AVX2/FMA"),
    ("avx512", "cpu_has_avx512", "AVX-512 F/DQ/VL/BW"),
)
_CHOICES = ("auto", "baseline") + tuple(name for name, _, _ in _VECTOR_BUILDS)


def _load(name, check):
    """The build ``_core_<name>`` when it is built and this CPU runs it, else None."""
    if not getattr(_baseline, check)():
        return None
    try:
        return importlib.import_module(f"._core_{name}", __package__)
    except ImportError:
        return None


def variants():
    """``{name: module}`` of the kernel builds this machine can run, baseline first.

    The names are those ``FASTGRAD_KERNELS`` takes ("baseline", "avx2", "avx512").
    """
    found = {"baseline": _baseline}
    for name, check, _ in _VECTOR_BUILDS:
        mod = _load(name, check)
        if mod is not None:
            found[name] = mod
    return found


def _select():
    choice = os.environ.get("FASTGRAD_KERNELS", "auto").lower()
    if choice not in _CHOICES:
        raise ImportError(
            f"FASTGRAD_KERNELS={choice!r}: use one of {', '.join(map(repr, _CHOICES))}"
        )
    if choice == "baseline":
        return _baseline, "baseline"
    if choice == "auto":
        # the best build first: only the one chosen is imported
        for name, check, _ in reversed(_VECTOR_BUILDS):
            mod = _load(name, check)
            if mod is not None:
                return mod, name
        return _baseline, "baseline"
    check, what = {n: (c, w) for n, c, w in _VECTOR_BUILDS}[choice]
    if not getattr(_baseline, check)():
        raise ImportError(f"FASTGRAD_KERNELS={choice} but this CPU lacks {what}")
    # its ImportError, if not built, is the message
    return importlib.import_module(f"._core_{choice}", __package__), choice


core, variant = _select()
