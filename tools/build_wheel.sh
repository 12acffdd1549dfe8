#!/usr/bin/env bash
# Build, repair, install and test a Linux wheel of fastgrad: what a release job runs.
#
#   tools/build_wheel.sh        # -> wheelhouse/fastgrad-<version>-<py>-manylinux_*.whl
#
# 1. `python -m build --wheel`: isolated build env, build deps from PyPI.
# 2. `auditwheel repair`: copies the OpenMP runtime (libgomp) into
#    fastgrad.libs/, points _core at it, and gives the wheel the most
#    compatible manylinux tag its symbols allow (glibc's libm, libmvec and libc
#    stay system libraries: they are on the manylinux whitelist).
# 3. `auditwheel show` of the repaired wheel.
# 4. A fresh venv (no system site-packages) gets the repaired wheel and the test
#    extras with `--only-binary=:all:` and CC=false: nothing is compiled.
# 5. From an empty directory: tools/check_installed.py (imported from the venv,
#    OpenMP on, show_config) and pytest on tests/.
# 6. Wheel size and import time.
#
# Environment: PYTHON (interpreter to build for, default python3),
# AUDITWHEEL_PLAT (a tag to insist on, e.g. manylinux_2_28_x86_64: auditwheel
# fails when the wheel's symbols need more).  A locally built wheel carries the
# build machine's glibc floor; release wheels are built by cibuildwheel in the
# manylinux_2_28 container (pyproject.toml, [tool.cibuildwheel]).
source "$(dirname "${BASH_SOURCE[0]}")/release_common.sh"
tools_venv

step "build wheel ($("$python" --version))"
python -m build --wheel --outdir "$work/dist" "$repo"
raw_wheel="$(ls "$work"/dist/fastgrad-*.whl)"

step "auditwheel repair"
auditwheel repair --wheel-dir "$work/repaired" "$raw_wheel"
wheel_name="$(basename "$(ls "$work"/repaired/fastgrad-*.whl)")"
mkdir -p "$repo/wheelhouse"
cp "$work/repaired/$wheel_name" "$repo/wheelhouse/"
wheel="$repo/wheelhouse/$wheel_name"

step "auditwheel show $wheel_name"
auditwheel show "$wheel"
echo "vendored libraries:"
python -m zipfile -l "$wheel" | grep '\.libs/' || echo "  (none)"

step "install into a fresh venv (binary only, no compiler)"
fresh_venv "$work/venv"
CC=false CXX=false "$work/venv/bin/python" -m pip install --quiet \
    --only-binary=:all: "${wheel}[test]"

step "tests against the installed wheel"
run_installed_tests "$work/venv" "$repo/tests"

step "size and import time"
python - "$raw_wheel" "$wheel" <<'PY'
import os, sys
for label, path in zip(("built", "repaired"), sys.argv[1:]):
    print(f"{label:>9} wheel: {os.path.getsize(path) / 1024:7.0f} KiB  {os.path.basename(path)}")
PY
"$work/venv/bin/python" "$repo/tools/import_time.py"
echo
echo "repaired wheel: $wheel"
