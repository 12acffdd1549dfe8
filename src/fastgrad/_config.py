"""fastgrad.show_config(): how this build was compiled and what it will use."""

import sys

from . import _build_info
from ._kernels import core as _core
from ._kernels import variant as _variant
from ._threads import effective_n_threads

__all__ = ["show_config", "build_config"]


def build_config():
    """Build and runtime facts as a dict (``show_config`` prints them).

    Examples
    --------
    >>> import fastgrad
    >>> facts = fastgrad.build_config()
    >>> sorted(facts)[:4]
    ['compiler', 'cython', 'fastgrad', 'kernels']
    >>> facts["n_threads"] >= 1
    True
    """
    import numpy

    return {
        "fastgrad": _build_info.version,
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "compiler": _build_info.compiler,
        "cython": _build_info.cython,
        "openmp": bool(_core.openmp_enabled()),
        "vector_maths": "glibc libmvec" if _build_info.libmvec else "scalar libm",
        "kernels": _variant,
        "n_threads": effective_n_threads(None),
    }


def show_config(file=None):
    """Print how fastgrad was built: version, compiler, whether OpenMP is
    compiled in, and how many threads ``n_threads=None`` will use now.

    Examples
    --------
    >>> import fastgrad
    >>> fastgrad.show_config()  # doctest: +ELLIPSIS
         fastgrad: ...
           openmp: ...
    ...
    """
    for key, value in build_config().items():
        print(f"{key:>13}: {value}", file=file or sys.stdout)
