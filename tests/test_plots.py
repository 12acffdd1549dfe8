"""fastgrad.plots: the three-panel residual maps and the azimuth profile
figure are written as valid PNGs, with the labels, colour bars and overlays
the paper draws.  The files also go to $FASTGRAD_FIGURE_DIR when set, to be
looked at."""

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

import fastgrad
from fastgrad import plots
from fastgrad.arms import arm_curve

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def save(fig, tmp_path, name):
    paths = [tmp_path / name]
    extra = os.environ.get("FASTGRAD_FIGURE_DIR")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        paths.append(Path(extra) / name)
    for p in paths:
        fig.savefig(p, dpi=90)
    data = paths[0].read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 10_000
    return paths[0]


def mock_disk(n=60_000, seed=12):
    """A LAMOST-like wedge of the disk around the Sun, a -0.07 dex/kpc
    gradient and two blobs: metal-rich near (-8.6, 1.5), poor near (-10.5, -1.5)."""
    rng = np.random.default_rng(seed)
    R = np.sqrt(rng.uniform(6.8**2, 12.0**2, n))
    phi = rng.uniform(-0.35, 0.35, n)
    x, y = -R * np.cos(phi), R * np.sin(phi)
    predicted = 0.45 - 0.07 * R
    bump = 0.15 * np.exp(-((x + 8.6) ** 2 + (y - 1.5) ** 2) / 0.4) - 0.15 * np.exp(
        -((x + 10.5) ** 2 + (y + 1.5) ** 2) / 0.4
    )
    observed = predicted + bump + rng.normal(0.0, 0.1, n)
    return R, phi, x, y, observed, predicted


@pytest.mark.parametrize("method", ["hexbin", "grid"])
def test_residual_maps_figure(tmp_path, method):
    R, phi, x, y, obs, pred = mock_disk()
    fig = plots.plot_residual_maps(x, y, obs, pred, method=method, gridsize=40, R0=8.27)
    assert isinstance(fig, Figure)
    path = save(fig, tmp_path, f"residual_maps_{method}.png")
    assert path.exists()
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(panels) == 3 and len(bars) == 3
    labels = [b.get_ylabel() for b in bars]
    assert labels == [
        "observed [Fe/H] (dex)",
        "model [Fe/H] (dex)",
        "observed − model [Fe/H] (dex)",
    ]
    for ax in panels:
        assert ax.get_xlabel() == "X (kpc)"
        # 5 arms x (centre + 2 dashed edges) + the Sun
        assert len(ax.lines) == 16
        sun = ax.lines[-1]
        assert sun.get_marker() == "*" and sun.get_color() == "orange"
        assert tuple(sun.get_xydata()[0]) == (-8.27, 0.0)
        assert sum(line.get_linestyle() == "--" for line in ax.lines) == 10
    assert panels[0].get_ylabel() == "Y (kpc)"
    # the residual colour scale is symmetric about zero
    lo, hi = panels[2].collections[0].get_clim()
    assert -lo == hi > 0


def test_residual_maps_options(tmp_path):
    R, phi, x, y, obs, pred = mock_disk(20_000)
    grid = np.meshgrid(np.linspace(-12, -6, 30), np.linspace(-4, 4, 40))
    z = np.exp(-((grid[0] + 9) ** 2 + grid[1] ** 2))
    fig = plots.plot_residual_maps(
        x,
        y,
        obs,
        pred,
        sign="model-observed",
        quantity="[M/H]",
        arms=None,
        contours=(grid[0], grid[1], z),
        contour_levels=[0.5],
        residual_lim=0.2,
    )
    save(fig, tmp_path, "residual_maps_options.png")
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert bars[2].get_ylabel() == "model − observed [M/H] (dex)"
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels[0].lines) == 1  # the Sun only
    assert panels[2].collections[0].get_clim() == (-0.2, 0.2)
    assert len(panels[2].collections) > 1  # the contours
    with pytest.raises(ValueError, match="method"):
        plots.plot_residual_maps(x, y, obs, pred, method="kde")
    with pytest.raises(ValueError, match="sign"):
        plots.plot_residual_maps(x, y, obs, pred, sign="obs-model")
    with pytest.raises(ValueError, match="observed: 1 row"):
        plots.plot_residual_maps(x[:3], y[:3], [0.0, np.nan, 0.0], pred[:3])


@pytest.mark.parametrize("method", ["hexbin", "grid"])
def test_residual_maps_significance_panel(tmp_path, method):
    """significance=: a fourth panel of -log10 p per cell, the cells
    significant after adjustment outlined there and on the residual panel;
    a ResidualMap from the caller is drawn as it is; fig= is honoured."""
    R, phi, x, y, obs, pred = mock_disk(40_000)
    fig = Figure()
    out = plots.plot_residual_maps(
        x, y, obs, pred, method=method, gridsize=20, R0=8.27, significance=199, seed=1, fig=fig
    )
    assert out is fig
    save(fig, tmp_path, f"residual_maps_significance_{method}.png")
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(panels) == 4 and len(bars) == 4
    assert bars[3].get_ylabel() == "−log10 p (permutations)"
    assert panels[3].collections[0].get_clim() == (0.0, np.log10(200))
    # the two blobs are found: outlines on the residual and significance panels
    assert len(panels[3].collections) > 1 and len(panels[2].collections) > 1
    m = fastgrad.residual_map(x, y, obs, pred, gridsize=20, n_permutations=99, seed=2)
    fig2 = plots.plot_residual_maps(x, y, obs, pred, gridsize=20, significance=m)
    drawn = [ax for ax in fig2.axes if ax.get_label() != "<colorbar>"][3].collections[0]
    np.testing.assert_array_equal(
        np.ma.getmaskarray(drawn.get_array()).ravel(), np.ma.getmaskarray(m.p_value).ravel()
    )
    with pytest.raises(ValueError, match="no p-values"):
        plots.plot_residual_maps(
            x, y, obs, pred, significance=fastgrad.residual_map(x, y, obs, pred)
        )


def test_azimuthal_profile_figure(tmp_path):
    rng = np.random.default_rng(3)
    n = 200_000
    R = np.sqrt(rng.uniform(6.8**2, 11.5**2, n))
    phi = rng.uniform(-0.6, 0.6, n)
    feh = (
        0.45
        - 0.07 * R
        + 0.05 * np.cos(2 * phi / 0.6 * np.pi) * (R > 9)
        + 0.03 * np.sin(phi / 0.6 * np.pi) * (R < 9)
        + rng.normal(0, 0.1, n)
    )
    delta = fastgrad.azimuthal_deviation(R, feh)
    profiles = fastgrad.azimuthal_profiles(R, phi, delta)
    fig = plots.plot_azimuthal_profile(profiles)
    save(fig, tmp_path, "azimuthal_profile.png")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "φ (rad)" and ax.get_ylabel() == "⟨δ[Fe/H]⟩ (dex)"
    handles, labels = ax.get_legend_handles_labels()
    assert labels == ["7 ≤ R < 9 kpc", "9 ≤ R < 11 kpc"]
    colors = [h.lines[0].get_color() for h in handles]
    assert colors == ["tab:blue", "k"]  # inner blue, outer black
    # masked (empty) bins are not drawn: only the bins with >= 20 stars
    n_drawn = len(handles[0].lines[0].get_xdata())
    assert n_drawn == np.count_nonzero(~profiles[(7.0, 9.0)]["mean"].mask) < 180
    # a single table, onto given axes
    fig2 = Figure()
    ax2 = fig2.subplots()
    assert plots.plot_azimuthal_profile(profiles[(9.0, 11.0)], ax=ax2) is fig2


def test_draw_helpers_keep_limits():
    fig = Figure()
    ax = fig.subplots()
    ax.plot([-10, -7], [-2, 2])
    ax.set_xlim(-10, -7)
    ax.set_ylim(-2, 2)
    lines = plots.draw_arms(ax, R0=8.27, names=["Local"])
    assert len(lines) == 3 and ax.get_xlim() == (-10, -7) and ax.get_ylim() == (-2, 2)
    c = arm_curve("Local", R0=8.27, n=300)
    np.testing.assert_allclose(lines[0].get_xdata(), c.x)
    sun = plots.draw_sun(ax)
    assert tuple(sun.get_xydata()[0]) == (-8.27, 0.0)  # the paper's R0 by default
    nothing = plots.draw_arms(ax, "reid2019", widths=False)
    assert len(nothing) == 7


def test_paper_figures_draw_on_given_axes_and_figures():
    """Figures 1-8 take ax= (one panel) or fig= (several) and return that Figure."""
    from astropy.table import Table

    R, phi, x, y, obs, pred = mock_disk(n=4000)
    z = np.random.default_rng(1).normal(0.0, 0.3, len(R))
    fig = Figure()
    assert plots.fig1_density(x, y, z, R, R0=8.27, fig=fig) is fig and len(fig.axes) >= 2
    fig = Figure()
    assert plots.fig2_metallicity(x, y, z, R, obs, R0=8.27, fig=fig) is fig
    table = Table(
        {
            "bin_center": [0.1, 0.3],
            "n_stars": [600, 700],
            "slope": np.ma.array([-0.07, -0.06]),
            "slope_err": np.ma.array([0.01, 0.01]),
        }
    )
    for draw in (plots.fig4_radial_gradients, plots.fig7_vertical_gradients):
        fig = Figure()
        ax = fig.subplots()
        assert draw(table, ax=ax) is fig and ax.get_ylabel().startswith("$m_")
        assert isinstance(draw(table), Figure)
    from types import SimpleNamespace

    fit = SimpleNamespace(
        slope=-0.07,
        slope_err=0.01,
        intercept=0.45,
        samples=np.column_stack([np.full(50, -0.07), np.full(50, 0.45)]),
    )
    fig = Figure()
    ax = fig.subplots()
    assert plots.fig3_radial_fit(R, obs, fit, ax=ax, n_draws=5) is fig
    fig = Figure()
    assert plots.fig5_residual_maps(x, y, obs, pred, R0=8.27, gridsize=20, fig=fig) is fig
    assert len([a for a in fig.axes if a.get_title()]) == 3


def test_fastgrad_figures_is_a_deprecated_alias():
    import fastgrad.figures

    with pytest.warns(FutureWarning, match=r"use fastgrad\.plots\.fig4_radial_gradients"):
        assert fastgrad.figures.fig4_radial_gradients is plots.fig4_radial_gradients
    with pytest.raises(AttributeError):
        fastgrad.figures.no_such_figure  # noqa: B018 (the attribute access is the test)


def _png(fig):
    import io

    buf = io.BytesIO()
    fig.savefig(buf, dpi=80)
    return buf.getvalue()


@pytest.mark.parametrize("mincnt", [None, 0, 1, 4])
def test_median_hexbin_is_matplotlibs(mincnt):
    """plots.maps.median_hexbin (the per-hex medians by one sort) draws what
    ax.hexbin(..., reduce_C_function=np.median) draws: same hexes, same
    values, same PNG bytes; non-finite and masked points dropped as hexbin
    drops them, an even count's median the half-sum of the middle two."""
    from fastgrad.hexbins import HexGrid
    from fastgrad.plots.maps import median_hexbin

    rng = np.random.default_rng(8)
    n = 20_000
    x, y = rng.normal(-8.0, 1.5, n), rng.normal(0.0, 1.5, n)
    c = np.round(rng.normal(0.0, 0.2, n), 2)  # ties, and even-sized hexes
    c[::97] = np.nan
    x[::89] = np.inf
    c = np.ma.array(c, mask=np.arange(n) % 101 == 0)
    kw = dict(gridsize=(25, 12), extent=(-12.0, -4.0, -4.0, 4.0), cmap="RdBu_r")
    figs, arrays = [], []
    for draw in ("matplotlib", "sorted", "sorted, index given"):
        fig = Figure(figsize=(4, 3))
        ax = fig.subplots()
        if draw == "matplotlib":
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # np.median([]) at mincnt=0
                hb = ax.hexbin(x, y, C=c, reduce_C_function=np.median, mincnt=mincnt, **kw)
        elif draw == "sorted":
            hb = median_hexbin(ax, x, y, c, mincnt=mincnt, **kw)
        else:
            keep = ~np.ma.getmaskarray(c) & np.isfinite(x)  # NaN in c: median_hexbin's
            xs, ys, cs = x[keep], y[keep], np.ma.getdata(c)[keep]
            index = HexGrid(kw["gridsize"], kw["extent"]).index(xs, ys)
            hb = median_hexbin(ax, xs, ys, cs, mincnt=mincnt, index=index, **kw)
        fig.colorbar(hb, ax=ax)
        figs.append(_png(fig))
        arrays.append((hb.get_offsets(), hb.get_array()))
    assert arrays[0][1].size > 100
    for offsets, values in arrays[1:]:
        np.testing.assert_array_equal(offsets, arrays[0][0])
        np.testing.assert_array_equal(values, arrays[0][1])
    assert figs[1] == figs[0] and figs[2] == figs[0]


def test_median_hexbin_panels_are_matplotlibs():
    """Figures 2 and 5 (the paper's median hexbins, drawn by median_hexbin)
    are byte for byte the PNGs of matplotlib's own hexbin."""
    from unittest import mock

    from fastgrad.plots import maps, paper

    R, phi, x, y, obs, pred = mock_disk(n=30_000)
    z = np.random.default_rng(2).normal(0.0, 0.3, len(R))

    def by_matplotlib(ax, x, y, C, *, gridsize, extent, mincnt=None, index=None, **kw):
        return ax.hexbin(
            x,
            y,
            C=C,
            reduce_C_function=np.median,
            mincnt=mincnt,
            gridsize=gridsize,
            extent=extent,
            **kw,
        )

    def draw():
        return [
            _png(plots.fig2_metallicity(x, y, z, R, obs, R0=8.27, min_count=3)),
            _png(plots.plot_residual_maps(x, y, obs, pred, gridsize=30, R0=8.27, min_count=3)),
        ]

    fast = draw()
    with (
        mock.patch.object(maps, "median_hexbin", by_matplotlib),
        mock.patch.object(paper, "median_hexbin", by_matplotlib),
    ):
        slow = draw()
    assert fast == slow


def test_fig3_writes_a_tiny_slope_error_with_its_digits():
    """10^7 stars give slope errors of ~3e-5 dex/kpc: written with two
    significant digits, not as 0.000; errors >= 5e-4 keep 3 decimals."""
    rng = np.random.default_rng(4)
    R = rng.uniform(4.0, 16.0, 4000)
    written = {}
    for noise in (1e-3, 0.3):  # slope errors ~5e-6 and ~1.4e-3 dex/kpc
        feh = 0.4 - 0.07 * R + rng.normal(0.0, noise, R.size)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = fastgrad.fit_line(
                R, feh, np.full(R.size, 1e-3), np.full(R.size, 1e-3), n_walkers=8, n_steps=100,
                seed=1,
            )  # fmt: skip
        text = plots.fig3_radial_fit(R, feh, fit, n_draws=5).axes[0].texts[0].get_text()
        written[noise] = (fit.slope_err, text.split(r"$\pm$ ")[1].split(" ")[0])
    err, shown = written[1e-3]
    assert err < 5e-4 and shown == f"{err:.{int(1 - np.floor(np.log10(err)))}f}"
    assert len(shown.rstrip("0").split(".")[1]) >= 6 and float(shown) == pytest.approx(err, rel=0.1)
    err, shown = written[0.3]
    assert err >= 5e-4 and shown == f"{err:.3f}"
