"""The compiled kernels, in the best build this CPU can run.

On x86-64 the kernels are compiled twice (meson.build): ``_core`` for any
x86-64 CPU and ``_core_avx2`` with AVX2 + FMA.  ``core`` is the module every
wrapper calls.  ``FASTGRAD_KERNELS=baseline`` forces the portable build (for
tests and comparisons); ``avx2`` demands the fast one.
"""
import os

from . import _core as _baseline

__all__ = ["core", "variant"]


def _select():
    choice = os.environ.get("FASTGRAD_KERNELS", "auto").lower()
    if choice not in ("auto", "baseline", "avx2"):
        raise ImportError(f"FASTGRAD_KERNELS={choice!r}: use 'auto', 'baseline' or 'avx2'")
    if choice == "baseline":
        return _baseline, "baseline"
    if _baseline.cpu_has_avx2_fma():
        try:
            from . import _core_avx2
        except ImportError:
            if choice == "avx2":
                raise
        else:
            return _core_avx2, "avx2"
    if choice == "avx2":
        raise ImportError("FASTGRAD_KERNELS=avx2 but this CPU lacks AVX2/FMA")
    return _baseline, "baseline"


core, variant = _select()
