# The same kernels as _core.pyx, compiled with AVX-512 (F, DQ, VL, BW) plus
# AVX2 and FMA (see meson.build; the directives come from there too).
# fastgrad._kernels loads this module when the CPU and OS run AVX-512: the
# likelihood's 8 lanes are one 8-double vector, and the compiler's own
# vectorised loops may use 512-bit vectors.
include "_core.pyx"
