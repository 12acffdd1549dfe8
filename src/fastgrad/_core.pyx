"""fastgrad's compiled kernels: the drivers of the C in ``_c/``.

Small kernels on typed memoryviews, free of Python objects, GIL released,
OpenMP over stars.  They trust their inputs: the Python modules that call them
(transform.py, fitting.py, azimuthal.py, through fastgrad._kernels) validate
and convert first.  One file per kernel family, included here so that they
form one extension module (built twice, see meson.build and _core_avx2.pyx):

    _runtime.pxi      OpenMP / CPU introspection, Ctrl-C checks inside kernels
    _transform.pxi    ICRS -> Galactocentric, nominal and Monte Carlo (method.md s. 3)
    _likelihood.pxi   the marginalised straight-line likelihood (method.md s. 5)
    _radix.pxi        stable radix argsort of doubles (for the annulus means)
    _annulus.pxi      annulus means at fixed radius (method.md s. 6)
    _permutation.pxi  permutation tests of binned means (method.md s. 6)

The Cython directives (boundscheck, wraparound, cdivision, ...) are set once,
for both builds, in meson.build.
"""
from cython.parallel cimport prange
from libc.math cimport sqrt, fabs, sin, cos, INFINITY, NAN
from libc.stdint cimport uint64_t, uint32_t, int8_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset
import numpy as np
cimport numpy as cnp

cnp.import_array()

include "_runtime.pxi"
include "_transform.pxi"
include "_likelihood.pxi"
include "_radix.pxi"
include "_annulus.pxi"
include "_permutation.pxi"
