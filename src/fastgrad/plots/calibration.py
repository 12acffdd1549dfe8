"""The calibration figure: each entry's pulls over K mock realisations
against the band of a calibrated method (docs/method.md section 9).

Drawn on a new :class:`matplotlib.figure.Figure` (or on the ``ax`` given),
returned; no pyplot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

if TYPE_CHECKING:
    import numpy.typing as npt
    from astropy.table import Table
    from matplotlib.axes import Axes


__all__ = ["plot_calibration"]


def plot_calibration(
    table: Table,
    pulls: npt.ArrayLike | None = None,
    *,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Pulls per entry: each realisation, the mean +- its standard error, the spread.

    Parameters
    ----------
    table : astropy.table.Table
        :func:`fastgrad.validation.calibration_table`'s output with the
        entry columns of :func:`fastgrad.calibrate.calibrate` (``label``, or
        ``sample``/``quantity``/``bin_lo``/``bin_hi``) in front.
    pulls : array_like, shape (K, M), optional
        The pulls of each realisation (NaN where an entry was not fitted),
        drawn as small grey points.
    ax : matplotlib Axes, optional
        Draw there instead of on a new Figure.
    figsize : (float, float), optional
        Of a new Figure; default grows with the number of entries.

    Returns
    -------
    matplotlib.figure.Figure
        The grey bands are where 68.3 % (|pull| < 1) and 95 % (|pull| < 1.96)
        of a calibrated method's pulls fall; black: mean pull +- its standard
        error (red where the mean is beyond 3 standard errors from 0, a bias);
        the thick pale bar spans mean +- the pull spread.

    Examples
    --------
    Two entries over 200 mock realisations, the second fitted with a bias of
    half a sigma: it is drawn in red.

    >>> import numpy as np
    >>> from astropy.table import Table
    >>> from fastgrad.plots.calibration import plot_calibration
    >>> from fastgrad.validation import calibration_table
    >>> rng = np.random.default_rng(4)
    >>> pulls = np.column_stack([rng.normal(0, 1, 200), rng.normal(0.5, 1, 200)])
    >>> table = calibration_table(pulls, Table({"label": ["unbiased", "biased"]}))
    >>> fig = plot_calibration(table, pulls)
    >>> ax = fig.axes[0]
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['unbiased', 'biased']
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['95 % of a calibrated pull', '68 %', 'each realisation (K = 200)', 'mean ± spread',
     'mean ± standard error', 'biased (> 3 standard errors)']
    >>> fig.savefig("calibration.png")
    """
    m = len(table)
    if m == 0:
        raise ValueError("table: no entry to plot")
    if ax is None:
        fig = Figure(figsize=figsize or (max(6.0, 0.32 * m + 2.0), 4.8), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    x = np.arange(m)
    ax.axhspan(-1.96, 1.96, color="0.92", zorder=0, label="95 % of a calibrated pull")
    ax.axhspan(-1.0, 1.0, color="0.82", zorder=0, label="68 %")
    ax.axhline(0.0, color="0.4", linewidth=0.8)
    if pulls is not None:
        p = np.asarray(pulls, dtype=float)
        if p.ndim != 2 or p.shape[1] != m:
            raise ValueError(f"pulls: expected shape (K, {m}), got {p.shape}")
        xx = np.broadcast_to(x, p.shape)
        ok = np.isfinite(p)
        ax.plot(
            xx[ok],
            p[ok],
            ".",
            color="0.45",
            markersize=3,
            alpha=0.6,
            zorder=1,
            label=f"each realisation (K = {p.shape[0]})",
        )
    mean = np.asarray(table["mean_pull"], dtype=float)
    err = np.asarray(table["mean_pull_err"], dtype=float)
    std = np.asarray(table["std_pull"], dtype=float)
    biased = np.asarray(table["biased"], dtype=bool)
    ax.bar(
        x,
        np.nan_to_num(2 * std),
        bottom=np.nan_to_num(mean - std),
        width=0.5,
        color="tab:blue",
        alpha=0.25,
        zorder=2,
        label="mean ± spread",
    )
    for sel, color, label in (
        (~biased, "k", "mean ± standard error"),
        (biased, "tab:red", "biased (> 3 standard errors)"),
    ):
        if sel.any():
            ax.errorbar(
                x[sel],
                mean[sel],
                yerr=np.nan_to_num(err[sel]),
                fmt="o",
                color=color,
                markersize=4,
                capsize=2,
                zorder=3,
                label=label,
            )
    ax.set_xticks(x, _labels(table), rotation=90, fontsize=7)
    ax.set_xlim(-0.7, m - 0.3)
    # sample boundaries
    if "sample" in table.colnames:
        names = list(table["sample"])
        for i in range(1, m):
            if names[i] != names[i - 1]:
                ax.axvline(i - 0.5, color="0.3", linewidth=0.8, linestyle="--")
    ax.set_ylabel("pull = (fit − truth) / σ")
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.01), fontsize=7, ncols=3, frameon=False)
    return fig


def _labels(table):
    if "label" in table.colnames:
        return [str(v) for v in table["label"]]
    return [f"{i}" for i in range(len(table))]
