"""The Examples sections of the public docstrings run as written (doctest),
one test per module, on the installed package."""

import doctest
import importlib

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

#: every module whose public names carry Examples sections
MODULES = [
    "fastgrad",
    "fastgrad.archive",
    "fastgrad.arms",
    "fastgrad.azimuthal",
    "fastgrad.calibrate",
    "fastgrad.crossmatch",
    "fastgrad.cuts",
    "fastgrad.dask",
    "fastgrad.errors",
    "fastgrad._config",
    "fastgrad._threads",
    "fastgrad.distances",
    "fastgrad.engine",
    "fastgrad.frames",
    "fastgrad.gspspec",
    "fastgrad.hexbins",
    "fastgrad.paper",
    "fastgrad.partitions",
    "fastgrad.populations",
    "fastgrad.readers",
    "fastgrad.samples",
    "fastgrad.schema",
    "fastgrad.significance",
    "fastgrad.transform",
    "fastgrad.validation",
    "fastgrad.fitting.binned",
    "fastgrad.fitting.likelihood",
    "fastgrad.fitting.mcmc",
    "fastgrad.fitting.shared",
    "fastgrad.mock.surveys",
    "fastgrad.mock.xp",
    "fastgrad.pipeline.config",
    "fastgrad.pipeline.partitioned_analysis",
    "fastgrad.pipeline.progress",
    "fastgrad.pipeline.run",
    "fastgrad.plots.calibration",
    "fastgrad.plots.maps",
    "fastgrad.plots.overlays",
    "fastgrad.plots.paper",
    "fastgrad.plots.profiles",
]

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example that writes a file writes it here
    module = importlib.import_module(name)
    with np.printoptions(precision=6, suppress=True):
        result = doctest.testmod(module, optionflags=FLAGS, verbose=False, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
