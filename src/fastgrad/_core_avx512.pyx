# The same kernels as _core.pyx, compiled with AVX-512 F, DQ, VL and BW on
# top of the AVX2 build's flags (see meson.build).  fastgrad._kernels loads
# this module when the CPU has them: the Monte Carlo computes 16 draws a
# vector and hashes with 64-bit vector multiplies, the likelihood 8 lanes a
# vector; each draw and lane does the AVX2 build's arithmetic, so the bits
# are the same as that build's.
include "_core.pyx"
