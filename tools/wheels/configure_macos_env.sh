#!/usr/bin/env bash
# macOS wheel builds: provide OpenMP (Apple's clang ships no libomp), the way
# scikit-learn's build_tools/wheels scripts do.  Run once per CI job, before
# cibuildwheel, on the runner whose architecture the wheels target
# (arm64: macos-14 or later; x86_64: an Intel runner).  Untested here: this
# project's machines are Linux.
#
# 1. libomp from conda-forge's llvm-openmp, a build made for an old macOS SDK so
#    that the wheel's deployment target holds once delocate copies
#    libomp.dylib into fastgrad/.dylibs/ (Homebrew's libomp targets the
#    runner's own macOS version, and delocate then refuses or mis-tags).
# 2. MACOSX_DEPLOYMENT_TARGET 12.0 on arm64 (as SciPy and scikit-learn),
#    10.13 on x86_64 (the oldest macOS that CPython 3.12+ installers support).
# 3. Apple clang is told to use it: -Xpreprocessor -fopenmp, -I and -L to the
#    prefix, -lomp, and an rpath for the build-time tests.  meson's
#    dependency('openmp') then finds omp.h and libomp.
# 4. cibuildwheel's default macOS repair (delocate-wheel) vendors libomp.dylib;
#    pyproject.toml's test-command fails the build if OpenMP ended up off.
#
# In GitHub Actions the variables go to $GITHUB_ENV for the following steps;
# elsewhere `eval "$(tools/wheels/configure_macos_env.sh)"`.
set -euo pipefail

[[ "$(uname)" == "Darwin" ]] || { echo "configure_macos_env.sh: macOS only" >&2; exit 1; }

LLVM_OPENMP_VERSION="${LLVM_OPENMP_VERSION:-11.1.0}"
prefix="${OPENMP_PREFIX:-$HOME/fastgrad-openmp}"
if [[ "$(uname -m)" == "arm64" ]]; then
    deployment_target=12.0
else
    deployment_target=10.13
fi

conda create --yes --quiet --prefix "$prefix" --channel conda-forge \
    "llvm-openmp=$LLVM_OPENMP_VERSION" >&2

settings=(
    "MACOSX_DEPLOYMENT_TARGET=$deployment_target"
    "CC=/usr/bin/clang"
    "CXX=/usr/bin/clang++"
    "CPPFLAGS=${CPPFLAGS:-} -Xpreprocessor -fopenmp"
    "CFLAGS=${CFLAGS:-} -I$prefix/include"
    "CXXFLAGS=${CXXFLAGS:-} -I$prefix/include"
    "LDFLAGS=${LDFLAGS:-} -Wl,-rpath,$prefix/lib -L$prefix/lib -lomp"
)
for setting in "${settings[@]}"; do
    if [[ -n "${GITHUB_ENV:-}" ]]; then
        echo "$setting" >> "$GITHUB_ENV"
    else
        printf 'export %q\n' "$setting"
    fi
done
