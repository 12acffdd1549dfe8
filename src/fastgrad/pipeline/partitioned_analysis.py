"""The analysis after the per-star steps, from a partitioned final catalogue.

:func:`fastgrad.pipeline.run.azimuthal_analysis` and the figures and summary
of :mod:`.report` read the final catalogue whole.  With ``engine = "dask"``
the catalogue is a Dask DataFrame of 10^7 stars or more that the client never
holds: :func:`azimuthal_analysis_partitioned` computes there what needs a sum
or a group over stars, and brings to the client only the arrays that a
global step (the emcee fit, a permutation test) needs star by star:

* the |Z| < zmax stars' ``R, feh_used, R_err, feh_used_err`` and, 4 + 4 + 2
  bytes a star, their residual-map cell, Figure 5's hex and their azimuth
  bin, all **sorted by source_id** (the order of the local engine's final
  sample), so the fit, the deviations from the annulus means, the maps'
  medians and permutations and the profiles are the local ones bit for bit
  (:func:`fastgrad.azimuthal_deviation` on the client: it needs R and
  [Fe/H] of these stars, which the fit holds anyway;
  :func:`fastgrad.azimuthal.residual_map_from_cells`,
  :func:`fastgrad.azimuthal.profile_from_labels`,
  :func:`fastgrad.significance.ring_significance`);
* per-hex counts and medians of Figures 1-3 (hexes on the partitions, medians
  of ranges of hexes gathered from every partition: :mod:`fastgrad.hexbins`), the exact 5th and
  95th percentiles of the metallicity (Figure 2's colours), the share with
  P_thin > 0.9, and the injected pattern's shape for the matched filter.

Client memory, per star of the |Z| < zmax selection (none for the others):
50 bytes held (source_id 8 until its uniqueness is checked, the four fit
columns 32, cell 4, hex 4, azimuth bin 2; tests/test_partitioned_analysis.py),
filled piece by piece from the workers (each piece sorted there; with a
distributed client one piece on the client at a time); then 8 each for the
deviations, the fitted line and the residuals; 8 more with a synthetic
catalogue's injected pattern.  The catalogue is read three times (counts and
extents; the selection, Figure 2's medians and the histogram; the values of
two histogram bins): ``persist()`` it first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..azimuthal import (
    azimuthal_deviation,
    map_cells,
    map_edges,
    phi_labels,
    profile_from_labels,
    residual_map_from_cells,
    residuals,
    xy_extent,
)
from ..fitting import fit_line
from ..hexbins import HexGrid, HexImage, ResidualHexes, counts_image, grouped_medians, hex_medians
from ..significance import ring_significance
from .config import sampler_settings

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any


__all__ = [
    "azimuthal_analysis_partitioned",
    "PartitionedSelection",
    "SampleAggregates",
    "exact_percentiles",
    "histogram_bins",
    "FIG_XY",
    "FIG_RZ",
    "RESIDUAL_GRIDSIZE",
]

#: Figures 1 and 2's hex grids (:mod:`fastgrad.plots.paper`): X-Y and R-Z, kpc
FIG_XY = HexGrid(70, (-14.5, -4.5, -5.5, 5.5))
FIG_RZ = HexGrid((70, 35), (4.0, 16.0, -2.5, 2.5))
#: Figure 3's hexes (R, [Fe/H]) and Figures 5 and 8's (X-Y)
FIG3_GRIDSIZE, FIG3_FEH = (80, 50), (-1.5, 1.0)
RESIDUAL_GRIDSIZE = 50
#: the residual map's cells along x (fastgrad.residual_map's default)
MAP_GRIDSIZE = 50
#: Figure 2's colour limits: these percentiles of the metallicity
FIG2_PERCENTILES = (5.0, 95.0)
_N_HIST = 4096  # bins of the percentile search


@dataclass(frozen=True)
class PartitionedSelection:
    """What the report reads of the |Z| < zmax stars in place of their table:
    ``len()`` (stars), the map's X-Y extent (kpc) and Figure 5's hexes."""

    n_stars: int
    extent: tuple[float, float, float, float]
    hexes: ResidualHexes

    def __len__(self):
        return self.n_stars


@dataclass(frozen=True)
class SampleAggregates:
    """What the figures and summary read of the whole final sample:
    ``n_stars``; ``populations`` (the report's check, share with P_thin >
    0.9); Figure 1's counts and Figure 2's medians per hex (X-Y, R-Z) and
    colour limits (dex); Figure 3's counts (R-[Fe/H] of the first |Z| bin)."""

    n_stars: int
    populations: dict
    fig1: tuple[HexImage, HexImage]
    fig2: tuple[HexImage, HexImage]
    fig2_clim: tuple[float, float]
    fig3: HexImage | None


# ---------------------------------------------------------------------------
# partition functions (module level: they pickle)
# ---------------------------------------------------------------------------
def _arr(df, name):
    return df[name].to_numpy(dtype=np.float64, na_value=np.nan)


def _first_pass(df, *, zmax, z_edges, feh):
    """Counts, extents and Figure 1's hex counts of one partition."""
    x, y, z, R, absz = (_arr(df, c) for c in ("x", "y", "z", "R", "absz"))
    v = _arr(df, feh)
    sel = absz < zmax
    first = (absz >= z_edges[0]) & (absz < z_edges[1])
    p_thin = _arr(df, "p_thin")

    def lim(a):
        return (np.min(a), np.max(a)) if a.size else (np.inf, -np.inf)

    def counts(grid, a, b):
        i = grid.index(a, b)
        return np.bincount(i[i >= 0], minlength=grid.n_hexes)

    return {
        "n": x.size,
        "n_thin": int(np.sum(p_thin > 0.9)),
        "n_sel": int(sel.sum()),
        "x": lim(x[sel]),
        "y": lim(y[sel]),
        "R_first": lim(R[first]),
        "feh": lim(v[np.isfinite(v)]),
        "n_feh": int(np.isfinite(v).sum()),
        "xy": counts(FIG_XY, x, y),
        "rz": counts(FIG_RZ, R, z),
    }


def _merge_first(parts):
    out = dict(parts[0])
    for p in parts[1:]:
        for k in ("n", "n_thin", "n_sel", "n_feh", "xy", "rz"):
            out[k] = out[k] + p[k]
        for k in ("x", "y", "R_first", "feh"):
            out[k] = (min(out[k][0], p[k][0]), max(out[k][1], p[k][1]))
    return out


def _selection_columns(df, *, zmax, x_edges, y_edges, hex_grid, phi_edges, truth, feh):
    """The |Z| < zmax stars' columns the client needs (a few bytes each)."""
    sel = _arr(df, "absz") < zmax
    s = df[sel]
    x, y = _arr(s, "x"), _arr(s, "y")
    out = pd.DataFrame(
        {
            "source_id": s["source_id"].to_numpy(),
            "R": _arr(s, "R"),
            "feh": _arr(s, feh),
            "R_err": _arr(s, "R_err"),
            "feh_err": _arr(s, f"{feh}_err"),
            "cell": map_cells(x, y, x_edges, y_edges),
            "hex": hex_grid.index(x, y).astype(np.int32),
            "phi_bin": phi_labels(_arr(s, "phi"), phi_edges),
        }
    )
    if truth is not None:
        from ..mock import pattern_shape

        out["shape"] = pattern_shape(x, y, truth) if len(s) else np.zeros(0)
    # sorted here, so that the client only concatenates (see _gather_selection)
    return out.sort_values("source_id", kind="stable", ignore_index=True)


def _gather_selection(pieces, n_rows):
    """The partitions' selection pieces (each sorted by source_id) as one set
    of numpy columns in source_id order, built piece by piece into arrays of
    ``n_rows`` (the first pass's count): the client holds the result and one
    piece, not every piece and their concatenation and its sorted copy.

    ``pieces`` yields DataFrames (fetched one at a time from the workers).
    When the pieces' source_id ranges follow each other (a HATS catalogue:
    Gaia's source_id orders by HEALPix pixel, as its partitions do) the
    concatenation is sorted already; otherwise a stable argsort puts it in
    order, one column at a time.  The same order as sorting the
    concatenation: source_id is unique (checked by the caller)."""
    cols, start, last, in_order = None, 0, None, True
    for piece in pieces:
        if cols is None:
            cols = {c: np.empty(n_rows, dtype=piece[c].dtype) for c in piece.columns}
        n = len(piece)
        if n == 0:
            continue
        if start + n > n_rows:
            raise RuntimeError("the partitions' selection outgrew the first pass's count")
        ids = piece["source_id"].to_numpy()
        if last is not None and ids[0] <= last:
            in_order = False
        last = ids[-1]
        for c in cols:
            cols[c][start : start + n] = piece[c].to_numpy()
        start += n
        del piece, ids
    if cols is None or start != n_rows:
        raise RuntimeError(
            f"the partitions' selection has {start} stars, the first pass counted {n_rows}"
        )
    if not in_order:
        order = np.argsort(cols["source_id"], kind="stable")
        for c in cols:
            cols[c] = cols[c][order]
    return cols


def _fetch_one_by_one(futures):
    """The results of ``futures`` in order, each released once fetched."""
    for i, f in enumerate(futures):
        yield f.result()
        f.release()
        futures[i] = None


def _hex_values(df, *, feh, n_buckets):
    """(hex, value) of Figure 2's panels (X-Y hexes, then R-Z hexes offset),
    split into ``n_buckets`` pieces by contiguous ranges of hex: piece b is
    what bucket b's medians need from this partition."""
    v = _arr(df, feh)
    ok = np.isfinite(v)
    ixy = FIG_XY.index(_arr(df, "x"), _arr(df, "y"))
    irz = FIG_RZ.index(_arr(df, "R"), _arr(df, "z"))
    irz = np.where(irz >= 0, irz + FIG_XY.n_hexes, -1)
    h = np.concatenate([ixy[ok], irz[ok]])
    vv = np.concatenate([v[ok], v[ok]])
    keep = h >= 0
    h, vv = h[keep].astype(np.int32), vv[keep]
    bucket = _hex_bucket(h, n_buckets)
    order = np.argsort(bucket, kind="stable")
    cuts = np.searchsorted(bucket[order], np.arange(1, n_buckets))
    return tuple((h[i], vv[i]) for i in np.split(order, cuts))


def _hex_bucket(h, n_buckets):
    return (h.astype(np.int64) * n_buckets) // (FIG_XY.n_hexes + FIG_RZ.n_hexes)


def _bucket_medians(pieces):
    """Counts and medians per hex of one bucket's pieces from every partition
    (grouped_medians: np.median's value whatever the order of the stars)."""
    h = np.concatenate([p[0] for p in pieces])
    v = np.concatenate([p[1] for p in pieces])
    return grouped_medians(h, v)


def _fig3_counts(df, *, z_edges, grid, feh):
    absz = _arr(df, "absz")
    first = (absz >= z_edges[0]) & (absz < z_edges[1])
    i = grid.index(_arr(df, "R")[first], _arr(df, feh)[first])
    return np.bincount(i[i >= 0], minlength=grid.n_hexes)


def histogram_bins(v, lo, hi):
    """Bin of each value among 4096 equal bins over [lo, hi] (the ends
    included): non-decreasing in the value, as :func:`exact_percentiles` needs."""
    width = (hi - lo) / _N_HIST if hi > lo else 1.0
    return np.clip(np.floor((v - lo) / width), 0, _N_HIST - 1).astype(np.int64)


def _finite(df, column):
    v = _arr(df, column)
    return v[np.isfinite(v)]


def _hist_counts(df, *, column, lo, hi):
    return np.bincount(histogram_bins(_finite(df, column), lo, hi), minlength=_N_HIST)


def _values_in_bins(df, *, column, lo, hi, wanted):
    v = _finite(df, column)
    return v[np.isin(histogram_bins(v, lo, hi), wanted)]


# ---------------------------------------------------------------------------
# exact percentiles across partitions
# ---------------------------------------------------------------------------
def _numpy_linear_index(n, q):
    """numpy's 'linear' percentile q of n sorted values: the ranks (previous,
    next) and the weight (numpy.lib's get_virtual_index, _get_indexes and
    _get_gamma)."""
    qq = np.true_divide(np.asarray(q, dtype=np.float64), 100)
    virtual = (n - 1) * qq
    prev = np.floor(virtual)
    gamma = virtual - prev
    prev = prev.astype(np.int64)
    nxt = prev + 1
    top = virtual >= n - 1  # the largest value
    prev[top] = nxt[top] = n - 1
    return prev, nxt, gamma


def _lerp(a, b, t):
    """numpy's _lerp: a + (b - a) t, from b's side when t >= 0.5."""
    d = b - a
    return b - d * (1 - t) if t >= 0.5 else a + d * t


def exact_percentiles(counts_of, values_of, q, n, lo, hi):
    """``np.nanpercentile(values, q)`` (numpy's default 'linear' method) of
    ``n`` finite values spread over partitions, without them on one machine:
    ``counts_of(lo, hi)`` gives their histogram in 4096 equal bins over
    [lo, hi] (the values' range), ``values_of(lo, hi, bins)`` the values in
    those bins; the order statistics come from the few bins holding the
    ranks, the interpolation is numpy's.  Returns a tuple of floats.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.pipeline import partitioned_analysis as pa
    >>> v = np.random.default_rng(1).normal(0.0, 0.3, 10001)
    >>> lo, hi = v.min(), v.max()
    >>> counts = lambda lo, hi: np.bincount(pa.histogram_bins(v, lo, hi), minlength=4096)
    >>> values = lambda lo, hi, bins: v[np.isin(pa.histogram_bins(v, lo, hi), bins)]
    >>> pa.exact_percentiles(counts, values, (5.0, 95.0), v.size, lo, hi) == tuple(np.nanpercentile(v, [5, 95]))
    True
    """
    prev, nxt, gamma = _numpy_linear_index(n, q)
    ranks = np.unique(np.concatenate([prev, nxt]))
    hist = counts_of(lo, hi)
    cum = np.cumsum(hist)
    bins = np.searchsorted(cum, ranks, side="right")  # the bin of each rank
    wanted = np.unique(bins)
    vals = np.sort(values_of(lo, hi, wanted))  # bin after bin: a bin is a value range
    start = dict(zip(wanted.tolist(), (np.cumsum(hist[wanted]) - hist[wanted]).tolist()))
    stat = {
        int(k): vals[start[int(b)] + int(k) - (int(cum[b - 1]) if b > 0 else 0)]
        for k, b in zip(ranks, bins)
    }
    return tuple(
        float(_lerp(stat[int(p)], stat[int(x)], float(g))) for p, x, g in zip(prev, nxt, gamma)
    )


# ---------------------------------------------------------------------------
# the analysis
# ---------------------------------------------------------------------------
def _client():
    """The Dask distributed client in use, or None (dask's local schedulers)."""
    try:
        from distributed import default_client

        return default_client()
    except (ImportError, ValueError):
        return None


def _n_workers():
    """Workers of the distributed client in use (1 without one)."""
    client = _client()
    if client is None:
        return 1
    try:
        info = client.scheduler_info(n_workers=-1)  # all of them (distributed >= 2025.1)
    except TypeError:
        info = client.scheduler_info()
    return max(1, len(info.get("workers", {})))


def _compute(*args):
    import dask

    return dask.compute(*args, scheduler=None)


def azimuthal_analysis_partitioned(
    frame: Any,
    cfg: Mapping[str, Any],
    n_threads: int | None = None,
    *,
    truth: Mapping[str, Any] | None = None,
    kinematics: Any = None,
) -> dict[str, Any]:
    """:func:`fastgrad.pipeline.run.azimuthal_analysis` of a partitioned final
    catalogue, with what the figures and summary need of the whole sample.

    Parameters
    ----------
    frame : dask.dataframe.DataFrame
        The final per-star catalogue (any partitioning, any row order):
        ``source_id`` (unique), ``x, y, z, R, phi, absz`` (kpc, rad),
        ``feh_used, feh_used_err`` (dex), ``R_err`` (kpc), ``p_thin``.
        Read three times: ``persist()`` a costly graph first.
    cfg : dict
        The sample's configuration (:func:`fastgrad.pipeline.run.sample_config`).
    n_threads : int, optional
        Threads of the fit and permutations on the client.
    truth : dict, optional
        A synthetic catalogue's injected truth: with an azimuthal amplitude,
        the matched filter's recovery (:func:`fastgrad.validation.recover_amplitude`).
    kinematics : optional
        The final sample's ``meta["kinematics"]["velocities"]``, for the summary.

    Returns
    -------
    dict
        The keys of ``azimuthal_analysis`` with the same ``fit``,
        ``residual_map``, ``profiles`` and ``significance`` (bit for bit:
        tests/test_partitioned_run.py); ``selection``
        a :class:`PartitionedSelection`, ``delta`` and ``predicted`` None
        (per star, they stay on the client only inside this function);
        and ``sample`` (:class:`SampleAggregates`) and ``recovery`` (the
        matched filter's dict, or None), which :func:`.report.summary` and
        the figures read in place of the catalogue.
    """
    from dask import delayed

    a, f = cfg["azimuthal"], cfg["fit"]
    zmax, z_edges, feh = float(a["zmax"]), tuple(f["z_edges"][:2]), "feh_used"
    parts = frame.to_delayed()
    # pass 1: counts, extents, Figure 1
    (first,) = _compute(
        delayed(_merge_first)(
            [delayed(_first_pass)(p, zmax=zmax, z_edges=z_edges, feh=feh) for p in parts]
        )
    )
    if first["n_sel"] == 0:
        raise ValueError(f"no star with |Z| < {zmax} kpc: nothing to map")
    # the data's extent and residual_map's default grid, as azimuthal_analysis
    ext = xy_extent(np.array(first["x"]), np.array(first["y"]), None)
    x_edges, y_edges = map_edges(ext, MAP_GRIDSIZE)
    res_grid = HexGrid(RESIDUAL_GRIDSIZE, ext)
    phi_edges = np.arange(-np.pi, np.pi + 1e-12, np.radians(a["phi_bin_deg"]))
    fig3_grid = (
        HexGrid(FIG3_GRIDSIZE, (*first["R_first"], *FIG3_FEH))
        if first["R_first"][0] <= first["R_first"][1]
        else None
    )
    lo, hi = first["feh"]

    # pass 2: the selection's columns, Figure 2's medians, Figure 3
    selected = [
        delayed(_selection_columns)(
            p,
            zmax=zmax,
            x_edges=x_edges,
            y_edges=y_edges,
            hex_grid=res_grid,
            phi_edges=phi_edges,
            truth=truth if truth and truth.get("azimuthal_amplitude") else None,
            feh=feh,
        )
        for p in parts
    ]
    # Figure 2's exact medians: each partition splits its (hex, value) pairs
    # by ranges of hex, one task a range takes its pieces from every
    # partition (a shuffle by tasks: the values move once, in memory, and
    # the partitions are read once for all of pass 2)
    n_buckets = max(1, min(len(parts), 2 * _n_workers()))
    split = [
        delayed(_hex_values, nout=n_buckets, pure=True)(p, feh=feh, n_buckets=n_buckets)
        for p in parts
    ]
    medians = [
        delayed(_bucket_medians, pure=True)([sp[b] for sp in split]) for b in range(n_buckets)
    ]
    hist = delayed(sum)([delayed(_hist_counts)(p, column=feh, lo=lo, hi=hi) for p in parts])
    fig3 = (
        delayed(sum)(
            [delayed(_fig3_counts)(p, z_edges=z_edges, grid=fig3_grid, feh=feh) for p in parts]
        )
        if fig3_grid is not None
        else None
    )
    # all as delayed: one compute of delayed objects and expressions mixed
    # returns them out of order (dask 2026.8)
    rest = (
        medians,
        hist,
        fig3,
    )
    client = _client()
    if client is not None:
        # one graph (the partitions read once), the selection's pieces fetched
        # one at a time into their final arrays
        futures = client.compute([*selected, *rest])
        medians, hist, fig3 = (f.result() for f in futures[len(selected) :])
        s = _gather_selection(_fetch_one_by_one(futures[: len(selected)]), first["n_sel"])
        del futures
    else:
        sel_parts, medians, hist, fig3 = _compute(selected, *rest)
        s = _gather_selection(sel_parts, first["n_sel"])
        del sel_parts

    # pass 3: the values of the histogram bins that hold Figure 2's percentiles
    def values_of(lo_, hi_, wanted):
        (vals,) = _compute(
            [delayed(_values_in_bins)(p, column=feh, lo=lo_, hi=hi_, wanted=wanted) for p in parts]
        )
        return np.concatenate(vals)

    clim = exact_percentiles(
        lambda lo_, hi_: hist, values_of, FIG2_PERCENTILES, first["n_feh"], lo, hi
    )

    # the client: the selection in source_id order, the local engine's order
    ids = s.pop("source_id")
    dup = np.flatnonzero(ids[1:] == ids[:-1])
    if dup.size:
        raise ValueError(
            f"the final catalogue repeats source_id {ids[dup[0]]} ({dup.size} repeat(s)): "
            "one row a star is needed for the maps"
        )
    del ids, dup
    R, y = s["R"], s["feh"]
    fit = fit_line(
        R,
        y,
        s["R_err"],
        s["feh_err"],
        **sampler_settings(f),
        n_threads=n_threads,
    )
    predicted = fit.slope * R + fit.intercept
    rmap = residual_map_from_cells(
        s["cell"],
        y,
        predicted,
        x_edges,
        y_edges,
        min_count=a["map_min_count"],
        sign=a["sign"],
        n_permutations=a["n_permutations"],
        seed=a["permutation_seed"],
        n_threads=n_threads,
    )
    # the deviations at fixed radius from the exact annulus means, here: the
    # client holds R and [Fe/H] of these stars for the fit anyway, and the
    # compiled kernel on them is the local engine's computation (same bits)
    # in 1.6 s for 9.3e6 stars, where a range shuffle across partitions took
    # 6 s for 9.3e5 and 32 bytes a star on the client
    delta = azimuthal_deviation(R, y, a["half_width"], n_threads=n_threads)
    label = s["phi_bin"]
    profiles, significance = {}, {}
    for lo_r, hi_r in (tuple(float(v) for v in r) for r in a["rings"]):
        ring = (R >= lo_r) & (R < hi_r)
        table = profile_from_labels(label[ring], delta[ring], phi_edges, min_count=a["min_count"])
        table.meta["R_lo"], table.meta["R_hi"] = lo_r, hi_r
        profiles[(lo_r, hi_r)] = table
        significance[(lo_r, hi_r)] = ring_significance(
            label[ring],
            delta[ring],
            phi_edges.size - 1,
            (lo_r, hi_r),
            min_count=a["min_count"],
            n_permutations=a["n_permutations"],
            seed=a["permutation_seed"],
            n_threads=n_threads,
        )
    hx = s["hex"]
    mc = a["map_min_count"]
    n_sel = R.size
    hexes = ResidualHexes(
        *(
            HexImage(
                res_grid,
                hex_medians(hx, v, res_grid.n_hexes, min_count=mc, n_threads=n_threads),
                n_sel,
            )
            for v in (y, predicted, residuals(y, predicted, a["sign"]))
        ),
        extent=ext,
        sign=a["sign"],
    )
    recovery = None
    if "shape" in s:
        from ..validation import recover_amplitude_from_shape

        recovery = recover_amplitude_from_shape(
            R, delta, s["shape"], truth, half_width=a["half_width"]
        )
    n_xy = FIG_XY.n_hexes
    med = np.full(n_xy + FIG_RZ.n_hexes, np.nan)
    for groups, counts, values in medians:
        keep = counts >= a["map_min_count"]
        med[groups[keep]] = values[keep]
    n = first["n"]
    sample = SampleAggregates(
        n_stars=n,
        populations={
            "share_p_thin_gt_0.9": first["n_thin"] / n if n else None,
            "kinematics": kinematics,
        },
        fig1=(
            HexImage(FIG_XY, counts_image(first["xy"]), n),
            HexImage(FIG_RZ, counts_image(first["rz"]), n),
        ),
        fig2=(HexImage(FIG_XY, med[:n_xy], n), HexImage(FIG_RZ, med[n_xy:], n)),
        fig2_clim=clim,
        fig3=None if fig3 is None else HexImage(fig3_grid, counts_image(fig3), int(np.sum(fig3))),
    )
    return dict(
        selection=PartitionedSelection(n_sel, ext, hexes),
        fit=fit,
        predicted=None,
        residual_map=rmap,
        delta=None,
        profiles=profiles,
        significance=significance,
        sample=sample,
        recovery=recovery,
    )
