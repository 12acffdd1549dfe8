# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False, cpow=True
# The same kernels as _core.pyx, compiled with -mavx2 -mfma (see meson.build).
# fastgrad._kernels loads this module when the CPU has AVX2 and FMA: the
# Monte-Carlo transform runs ~4x faster than with the SSE2 baseline, which
# lacks 64-bit integer vector multiplies and 4-wide double vectors.
include "_core.pyx"
