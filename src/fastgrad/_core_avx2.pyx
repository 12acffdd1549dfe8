# The same kernels as _core.pyx, compiled with -mavx2 -mfma (see meson.build;
# the directives come from there too).  fastgrad._kernels loads this module
# when the CPU has AVX2 and FMA: the Monte-Carlo transform and the likelihood
# gain 4-double vectors and 64-bit integer vector multiplies, which SSE2 lacks.
include "_core.pyx"
