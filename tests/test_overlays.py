"""A user's overlays ([overlays] of a run): the Poggio et al. (2021) overdensity
grid on Figures 5 and 8, published gradients on Figures 4 and 7."""

import matplotlib
import numpy as np
import pytest
from astropy.table import Table

from fastgrad import pipeline
from fastgrad.errors import ConfigError, InputError
from fastgrad.plots import (
    fig4_radial_gradients,
    plot_residual_maps,
    read_literature,
    read_overdensity_grid,
)

matplotlib.use("Agg")


def _grid(tmp_path, name="poggio.ecsv", drop=None):
    xs, ys = np.arange(-2.0, 2.01, 0.5), np.arange(-3.0, 3.01, 1.0)
    X, Y = np.meshgrid(xs, ys)
    t = Table({"x": X.ravel(), "y": Y.ravel(), "overdensity": np.sin(X).ravel() * Y.ravel()})
    rng = np.random.default_rng(1)
    t = t[rng.permutation(len(t))]  # nodes in any order
    if drop is not None:
        t = t[np.arange(len(t)) != drop]
    t.write(tmp_path / name)
    return tmp_path / name, xs, ys


def test_overdensity_grid_heliocentric_to_galactocentric(tmp_path):
    path, xs, ys = _grid(tmp_path)
    X, Y, Z = read_overdensity_grid(path, R0=8.0)
    assert X.shape == Y.shape == Z.shape == (len(ys), len(xs))
    np.testing.assert_allclose(X[0], xs - 8.0)  # x from the Sun towards the centre
    np.testing.assert_allclose(Y[:, 0], ys)
    np.testing.assert_allclose(Z, np.sin(X + 8.0) * Y, atol=1e-15)
    Xg, _, _ = read_overdensity_grid(path, frame="galactocentric")
    np.testing.assert_allclose(Xg[0], xs)


def test_overdensity_grid_missing_node_and_bad_files(tmp_path):
    path, xs, ys = _grid(tmp_path, drop=0)
    _, _, Z = read_overdensity_grid(path)
    assert np.isnan(Z).sum() == 1
    Table({"x": [1.0, 2.0], "y": [0.0, 1.0]}).write(tmp_path / "bad.ecsv")
    with pytest.raises(InputError, match="overdensity"):
        read_overdensity_grid(tmp_path / "bad.ecsv")
    Table({"x": [1.0, 1.0], "y": [0.0, 1.0], "delta": [0.1, 0.2]}).write(tmp_path / "line.ecsv")
    with pytest.raises(InputError, match="grid"):
        read_overdensity_grid(tmp_path / "line.ecsv")


def test_contours_and_literature_are_drawn(tmp_path):
    path, _, _ = _grid(tmp_path)
    contours = read_overdensity_grid(path)
    rng = np.random.default_rng(2)
    x, y = rng.uniform(-12, -4, 2000), rng.uniform(-4, 4, 2000)
    fig = plot_residual_maps(
        x, y, rng.normal(size=2000), np.zeros(2000), contours=contours, contour_levels=[0.0, 0.5]
    )
    drawn = [
        c
        for ax in fig.axes
        for c in ax.collections
        if type(c).__name__ in ("QuadContourSet", "ContourSet")
    ]
    assert drawn  # the residual panel carries the contours
    lit = Table(
        {
            "reference": ["A", "A", "B"],
            "x": [0.1, 0.3, 0.1],
            "slope": [-0.06, -0.05, -0.07],
            "slope_err": [0.01, 0.01, 0.02],
        }
    )
    lit.write(tmp_path / "lit.ecsv")
    t1 = Table(
        {
            "bin_center": [0.1, 0.3],
            "slope": [-0.06, -0.05],
            "slope_err": [0.002, 0.003],
            "n_stars": [1000, 1000],
        }
    )
    fig = fig4_radial_gradients(t1, literature=read_literature(tmp_path / "lit.ecsv"))
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert {"A", "B"} <= set(labels)
    Table({"reference": ["A"], "x": [0.1]}).write(tmp_path / "nolit.ecsv")
    with pytest.raises(InputError, match="slope"):
        read_literature(tmp_path / "nolit.ecsv")


def test_overlays_from_the_config(tmp_path):
    path, _, _ = _grid(tmp_path)
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        f'[overlays]\noverdensity = "{path.name}"\narms = "none"\noverdensity_levels = [0.0, 0.5]\n'
    )
    loaded = pipeline.load_config(cfg)
    assert loaded["overlays"]["overdensity"] == str(path)  # relative to the TOML file
    from fastgrad.frames import get_frame
    from fastgrad.pipeline.report import load_overlays

    over = load_overlays(loaded, get_frame("hawkins2023"))
    assert over["arms"] is None and over["contours"][2].shape == (7, 9)
    for bad in (
        {"overlays": {"arms": "reid2020"}},
        {"overlays": {"overdensity": "nope.ecsv"}},
        {"overlays": {"overdensity_levels": [0.5, 0.1]}},
        {"overlays": {"poggio": "x"}},
    ):
        with pytest.raises(ConfigError, match="overlays"):
            pipeline.load_config(bad)
