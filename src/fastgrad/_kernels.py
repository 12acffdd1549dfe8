"""The compiled kernels, in the best build this CPU can run.

On x86-64 the kernels are compiled twice from one source (meson.build):
``_core`` for any x86-64 CPU and ``_core_avx2`` with AVX2 + FMA.  ``core`` is
the module every wrapper (transform.py, fitting.py, azimuthal.py, _threads.py,
_config.py) calls; nothing else imports ``_core`` directly.
``FASTGRAD_KERNELS`` (read once, at import) chooses: ``auto`` (the default:
the fastest this CPU runs), ``baseline`` (the portable build, for tests and
comparisons) or ``avx2`` (demand the fast one; ImportError where it cannot
run).  ``variants()`` lists every build this machine can run, for tests that
check the builds agree.
"""

import os

from . import _core as _baseline

__all__ = ["core", "variant", "variants"]

_CHOICES = ("auto", "baseline", "avx2")


def _load_avx2():
    """The AVX2 + FMA build when it is built and this CPU runs it, else None."""
    if not _baseline.cpu_has_avx2_fma():
        return None
    try:
        from . import _core_avx2
    except ImportError:
        return None
    return _core_avx2


def variants():
    """``{name: module}`` of the kernel builds this machine can run, baseline first.

    The names are those ``FASTGRAD_KERNELS`` takes ("baseline", "avx2").
    """
    found = {"baseline": _baseline}
    avx2 = _load_avx2()
    if avx2 is not None:
        found["avx2"] = avx2
    return found


def _select():
    choice = os.environ.get("FASTGRAD_KERNELS", "auto").lower()
    if choice not in _CHOICES:
        raise ImportError(f"FASTGRAD_KERNELS={choice!r}: use 'auto', 'baseline' or 'avx2'")
    if choice == "baseline":
        return _baseline, "baseline"
    if choice == "avx2":
        if not _baseline.cpu_has_avx2_fma():
            raise ImportError("FASTGRAD_KERNELS=avx2 but this CPU lacks AVX2/FMA")
        from . import _core_avx2  # its ImportError, if not built, is the message

        return _core_avx2, "avx2"
    avx2 = _load_avx2()
    return (avx2, "avx2") if avx2 is not None else (_baseline, "baseline")


core, variant = _select()
