"""The tree stays clean under the project's linters (configured in
pyproject.toml): ruff's lint and format, and cython-lint on the kernels."""

import glob
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name):
    exe = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(exe).exists():
        pytest.skip(f"{name} is not installed (pip install '.[lint]')")
    return exe


def _run(args):
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_check():
    if not (ROOT / "pyproject.toml").exists():
        pytest.skip("not a source checkout")
    _run([_tool("ruff"), "check", "."])


def test_ruff_format():
    if not (ROOT / "pyproject.toml").exists():
        pytest.skip("not a source checkout")
    _run([_tool("ruff"), "format", "--check", "."])


def test_cython_lint():
    sources = sorted(
        glob.glob(str(ROOT / "src" / "fastgrad" / "*.pyx"))
        + glob.glob(str(ROOT / "src" / "fastgrad" / "*.pxi"))
    )
    if not sources:
        pytest.skip("not a source checkout")
    _run([_tool("cython-lint"), *sources])
