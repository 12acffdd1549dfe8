"""The documentation builds, warnings as errors, the way README and CONTRIBUTING say.

``python -m sphinx -W --keep-going -b html docs <out>``: the pages, the API
reference generated from ``__all__`` (docs/conf.py) and the tour notebook,
executed.  Skipped where the docs requirements (``pip install ".[docs]"``,
part of the ``test`` extra) are not installed or the tests run without the
source tree's docs/ folder.
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

import fastgrad

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
REQUIRED = ("sphinx", "pydata_sphinx_theme", "numpydoc", "myst_nb", "ipykernel")
MISSING = [name for name in REQUIRED if importlib.util.find_spec(name) is None]


@pytest.fixture(scope="module")
def html(tmp_path_factory):
    if not (DOCS / "conf.py").exists():
        pytest.skip("no docs/ next to the tests")
    if MISSING:
        pytest.skip(f"the docs requirements are not installed: {', '.join(MISSING)}")
    out = tmp_path_factory.mktemp("docs")
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-b",
            "html",
            "-d",
            str(out / "doctrees"),
            str(DOCS),
            str(out / "html"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert build.returncode == 0, (
        f"sphinx -W failed:\n{build.stdout[-3000:]}\n{build.stderr[-6000:]}"
    )
    return out / "html"


def test_docs_build_without_warnings(html):
    for page in (
        "index",
        "getting-started",
        "tour",
        "method",
        "dask",
        "performance",
        "changes",
        "contributing",
        "api/index",
    ):
        assert (html / f"{page}.html").is_file(), page


def test_api_reference_has_every_public_name(html):
    missing = [
        name
        for name in fastgrad.__all__
        if name != "__version__"
        and not (html / "api" / "generated" / f"fastgrad.{name}.html").is_file()
    ]
    assert not missing, f"no API page for {missing}"


def test_tour_is_executed(html):
    tour = (html / "tour.html").read_text()
    # printed by the notebook's fit cell: only there if the cell ran
    assert "dex/kpc; injected" in tour
    assert "<img" in tour  # the azimuthal profile figure
