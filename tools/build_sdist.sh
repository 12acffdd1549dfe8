#!/usr/bin/env bash
# Build fastgrad's sdist and prove it round-trips: what a release job runs
# next to tools/build_wheel.sh.
#
#   tools/build_sdist.sh        # -> dist/fastgrad-<version>.tar.gz
#
# 1. `python -m build --sdist`: meson-python runs `meson dist`, which packs the
#    files git tracks at HEAD (uncommitted edits are NOT included: commit first).
# 2. The archive is checked for what a build from it needs (meson.build files,
#    the .pyx and the .pxi they include, the C headers in _c/,
#    _build_info.py.in) and for the tests.
# 3. A fresh venv (no system site-packages) pip-installs the sdist, which
#    compiles it (C compiler, build deps from PyPI in an isolated env).
# 4. The tests shipped inside the sdist run against that install, from an
#    empty directory.
source "$(dirname "${BASH_SOURCE[0]}")/release_common.sh"
tools_venv

if [[ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]]; then
    echo "WARNING: uncommitted changes; the sdist holds HEAD, not the work tree" >&2
fi

step "build sdist"
python -m build --sdist --outdir "$work/dist" "$repo"
sdist="$(ls "$work"/dist/fastgrad-*.tar.gz)"
mkdir -p "$repo/dist"
cp "$sdist" "$repo/dist/"
sdist="$repo/dist/$(basename "$sdist")"

step "contents of $(basename "$sdist")"
mkdir -p "$work/unpacked"
tar -xzf "$sdist" -C "$work/unpacked"
root="$(ls -d "$work"/unpacked/fastgrad-*)"
(cd "$root" && find . -type f | sort)
missing=0
for needed in PKG-INFO pyproject.toml meson.build README.md src/fastgrad/meson.build \
        src/fastgrad/_core.pyx src/fastgrad/_core_avx2.pyx \
        src/fastgrad/_build_info.py.in src/fastgrad/__init__.py tests; do
    [[ -e "$root/$needed" ]] || { echo "MISSING from sdist: $needed" >&2; missing=1; }
done
# the kernels' sources: the .pxi files that _core.pyx includes and the headers in
# _c/ (the C the drivers call), as the work tree has them
for kernel_src in $(cd "$repo" && ls src/fastgrad/*.pxi src/fastgrad/_c/*.h); do
    [[ -e "$root/$kernel_src" ]] || { echo "MISSING from sdist: $kernel_src" >&2; missing=1; }
done
# every source file that src/fastgrad/meson.build names (generated ones such
# as _build_info.py aside) must be in the archive
for listed in $(grep -ho "'[A-Za-z0-9_]\+\.\(py\|pyx\|h\|in\)'" "$repo"/src/fastgrad/meson.build | tr -d "'"); do
    [[ -e "$repo/src/fastgrad/$listed.in" ]] && continue
    [[ -e "$root/src/fastgrad/$listed" ]] || { echo "MISSING from sdist: src/fastgrad/$listed" >&2; missing=1; }
done
(( missing == 0 )) || exit 1
echo "sdist: $(( $(stat -c %s "$sdist") / 1024 )) KiB, $(find "$root" -type f | wc -l) files"

step "pip install the sdist into a fresh venv (compiles)"
fresh_venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet "${sdist}[test]"

step "the sdist's own tests against the installed build"
run_installed_tests "$work/venv" "$root/tests"
echo
echo "sdist: $sdist"
