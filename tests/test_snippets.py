"""Every code block of README.md and docs/*.md runs as written.

Each file's ```python blocks run in order in one namespace (a later block may
use what an earlier one defined), in a temporary folder where a fixture has
written small versions of the files the snippets name ("hotpayne.fits",
"gaia.fits", a HATS catalogue "gaia_dr3_giants/", Parquet files "gaia_giants/"),
made by :func:`fastgrad.make_survey`.  In ```bash blocks the lines that call
``fastgrad`` or ``python -c`` run; ``pip``, ``asv`` and the like do not.

A block is annotated by an HTML comment on the line before its fence:

- ``<!-- snippet: skip (reason) -->``: not run (a network query, a cluster
  address, a paper-scale run); every one is listed, with its reason, by
  ``test_skipped_blocks`` (pytest -ra shows them);
- ``<!-- snippet: setup NAME (what it defines) -->``: run after
  ``SETUPS[NAME]`` has put the names it stands for into the namespace (the
  README's tour calls ``ra``, ``dec``, ``R``, ``feh`` ... "your arrays").

The docs' notebook (docs/tour.md) runs in the documentation build
(tests/test_docs.py), not here.
"""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FILES = [f for f in FILES if f.exists()]

FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
MARKER = re.compile(r"<!--\s*snippet:\s*(skip|setup)\b\s*(.*?)\s*-->")
RUN_LANGUAGES = ("python", "bash")


def blocks(path):
    """``[(line, language, code, marker, argument)]`` of one Markdown file."""
    text = path.read_text()
    found = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.search(before)
        kind, argument = (marker.group(1), marker.group(2)) if marker else (None, "")
        found.append((line, match.group(1), match.group(2), kind, argument))
    return found


def _label(path):
    return str(path.relative_to(ROOT))


# ------------------------------------------------------------------ inputs
@pytest.fixture(scope="module")
def user_files(tmp_path_factory):
    """A folder with small files under the names the snippets use."""
    import fastgrad

    where = tmp_path_factory.mktemp("snippets")
    lamost = fastgrad.make_survey("lamost_hot_stars", 3000, seed=11)
    lamost["lamost"].write(where / "hotpayne.fits")
    lamost["gaia"].write(where / "gaia.fits")
    giants = _giants(fastgrad, 3000, seed=12)
    giants_df = giants.to_pandas()
    (where / "gaia_giants").mkdir()
    giants_df.iloc[:1500].to_parquet(where / "gaia_giants" / "part.0.parquet")
    giants_df.iloc[1500:].to_parquet(where / "gaia_giants" / "part.1.parquet")
    try:
        import lsdb
    except ImportError:
        pass
    else:
        catalog = lsdb.from_dataframe(
            giants_df, ra_column="ra", dec_column="dec", highest_order=6, partition_rows=1000
        )
        write = getattr(catalog, "write_catalog", None) or catalog.to_hats  # lsdb < 0.7.3
        write(where / "gaia_dr3_giants", progress_bar=False)
    return where


def _giants(fastgrad, n, seed):
    """Gaia giants with their Bailer-Jones percentiles, archive names."""
    survey = fastgrad.make_survey("gaia_giants", n, seed=seed)
    return fastgrad.join_distances(survey["gaia"], survey["bailer_jones"])


def _setup_arrays(namespace):
    """The README tour's "your arrays": a small Gaia giant sample."""
    import fastgrad

    stars = fastgrad.add_distances(_giants(fastgrad, 4000, seed=13))
    gc = fastgrad.add_galactocentric(stars, n_samples=50, seed=1)
    value = {
        name: np.asarray(stars[name])
        for name in (
            "ra",
            "dec",
            "distance",
            "pmra",
            "pmdec",
            "radial_velocity",
            "ra_error",
            "dec_error",
            "distance_error",
            "pmra_error",
            "pmdec_error",
        )
    }
    value["rv_error"] = np.asarray(stars["radial_velocity_error"])
    for name in ("R", "R_err", "z", "z_err", "phi", "x", "y"):
        value[name] = np.asarray(gc[name])
    value["feh"] = np.asarray(stars["mh_gspspec"])
    value["feh_err"] = 0.5 * np.asarray(stars["mh_gspspec_upper"] - stars["mh_gspspec_lower"])
    value["theta"] = np.array([[-0.07, 0.6, 0.05], [-0.06, 0.5, 0.08]])
    value["gaia_table"] = stars
    value["gaia_with_distances"] = stars
    namespace.update(value)


SETUPS = {"arrays": _setup_arrays}


# ------------------------------------------------------------------ running
def _run_bash(code, cwd):
    """Run the lines that call fastgrad or ``python -c``."""
    for line in code.splitlines():
        command = re.sub(r"\s+#.*$", "", line).strip()
        if not command or not (command.startswith("fastgrad ") or command.startswith("python -c ")):
            continue
        argv = shlex.split(command)
        if argv[0] == "python":
            argv[0] = sys.executable
        else:  # the console script next to this interpreter
            argv[0] = str(Path(sys.executable).with_name("fastgrad"))
        out = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, f"{command!r} failed:\n{out.stdout}\n{out.stderr}"


def _runnable(path):
    return any(
        language in RUN_LANGUAGES and marker != "skip" for _, language, _, marker, _ in blocks(path)
    )


@pytest.mark.parametrize("path", [f for f in FILES if _runnable(f)], ids=_label)
def test_code_blocks_run(path, user_files, tmp_path, monkeypatch):
    import shutil

    cwd = tmp_path / "cwd"  # each file's snippets write in a folder of their own
    shutil.copytree(user_files, cwd)
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": "__snippets__"}
    for line, language, code, marker, argument in blocks(path):
        if language not in RUN_LANGUAGES or marker == "skip":
            continue
        where = f"{_label(path)}:{line}"
        if marker == "setup":
            name = argument.split()[0] if argument else ""
            assert name in SETUPS, f"{where}: unknown snippet setup {name!r}"
            SETUPS[name](namespace)
        if language == "bash":
            _run_bash(code, cwd)
            continue
        if "lsdb" in code or "dask" in code:
            pytest.importorskip("dask.dataframe")
            pytest.importorskip("lsdb")
        try:
            exec(compile(code, where, "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"the block at {where} fails as written: {exc!r}") from exc


def _skipped():
    return [
        pytest.param(f"{_label(path)}:{line}", argument, id=f"{_label(path)}:{line}")
        for path in FILES
        for line, language, _, marker, argument in blocks(path)
        if marker == "skip" and language in RUN_LANGUAGES
    ]


@pytest.mark.parametrize("where, reason", _skipped())
def test_skipped_blocks(where, reason):
    """Lists the blocks marked not to run, with the reason each gives."""
    assert reason.startswith("(") and reason.endswith(")") and len(reason) > 2, (
        f"{where}: a skip marker says why, as <!-- snippet: skip (reason) -->"
    )
    pytest.skip(f"{where} not run: {reason[1:-1]}")


def test_markers_precede_a_code_block():
    """A marker not followed by a fenced block is a typo that would run or skip nothing."""
    for path in FILES:
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            if MARKER.search(line):
                following = lines[number + 1] if number + 1 < len(lines) else ""
                assert following.startswith("```"), (
                    f"{_label(path)}:{number + 1}: a snippet marker must be right above a fence"
                )
