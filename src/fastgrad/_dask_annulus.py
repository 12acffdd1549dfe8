"""Exact annulus means over a partitioned catalogue (:func:`fastgrad.dask.annulus_mean`).

docs/method.md section 6: for each star the mean of all stars within
``half_width`` in R, across partitions: R is cut into ranges, each star sent to
its range and, as a copy, to the neighbouring ranges whose strip it lies in,
and each range computed in memory with :func:`fastgrad.annulus_mean`.
"""

import numpy as np
import pandas as pd

from ._validation import as_count
from .azimuthal import annulus_mean as _compiled_annulus_mean
from .partitions import as_dask_dataframe, float_column, located, require_columns

__all__ = ["annulus_mean"]


# ---------------------------------------------------------------------------
# Exact annulus means across partitions
# ---------------------------------------------------------------------------

# The per-range step is fastgrad.annulus_mean itself (compiled, OpenMP, the
# same |R_j - R_i| <= h predicate and checks as on one machine).
_inner_annulus_mean = _compiled_annulus_mean


def _check_annulus_inputs(R, values, weights, half_width):
    """The checks of fastgrad.annulus_mean, run where the rows are known
    (each partition) so that the error can name them."""
    from ._validation import raise_bad_rows

    if not (np.isfinite(half_width) and half_width > 0):
        raise ValueError(f"half_width must be finite and > 0, got {half_width!r}")
    raise_bad_rows("R", ~np.isfinite(R), "are NaN, infinite or masked")
    raise_bad_rows("values", ~np.isfinite(values), "are NaN, infinite or masked")
    if weights is not None:
        raise_bad_rows("weights", ~np.isfinite(weights), "are NaN, infinite or masked")
        raise_bad_rows("weights", weights < 0, "are negative")


def _range_bounds(boundaries, half_width):
    """Per range k: the R interval whose stars range k needs (its own stars and
    the strips within half_width beyond its edges), widened by a margin so
    rounding can only add stars (extra stars fall outside every window)."""
    b = np.asarray(boundaries, dtype=np.float64)
    margin = 1e-9 * (float(np.max(np.abs(b))) + half_width) if b.size else 0.0
    lower = np.concatenate([[-np.inf], b - half_width - margin])
    upper = np.concatenate([b + half_width + margin, [np.inf]])
    return lower, upper


def _annulus_scatter_partition(
    df, *, R, values, weights, key, boundaries, half_width, nan_policy="raise"
):
    """Tag each star with the range that owns it (R between two boundaries)
    and copy it to every neighbouring range whose strip it lies in."""
    r = float_column(df, R)
    v = float_column(df, values)
    w = float_column(df, weights) if weights else None
    if nan_policy == "omit":
        finite = np.isfinite(r) & np.isfinite(v) & (np.isfinite(w) if weights else True)
        if not finite.all():
            df, r, v = df[finite], r[finite], v[finite]
            w = w[finite] if weights else None
    try:
        _check_annulus_inputs(r, v, w, half_width)
    except ValueError as exc:
        raise located(exc, df) from None
    keys = df.index.to_numpy() if key is None else df[key].to_numpy()
    b = np.asarray(boundaries, dtype=np.float64)
    owner = np.searchsorted(b, r, side="right")
    lower, upper = _range_bounds(b, half_width)
    first = np.searchsorted(upper, r, side="left")
    last = np.searchsorted(lower, r, side="right") - 1
    copies = last - first + 1
    rows = np.repeat(np.arange(r.size), copies)
    offsets = np.arange(rows.size) - np.repeat(np.cumsum(copies) - copies, copies)
    ranges = np.repeat(first, copies) + offsets
    out = pd.DataFrame(
        {
            "_range": ranges.astype(np.int64),
            "_owned": ranges == owner[rows],
            "_key": keys[rows],
            "_R": r[rows],
            "_v": v[rows],
        }
    )
    if w is not None:
        out["_w"] = w[rows]
    return out


def _annulus_range_partition(
    df, n_unique=None, n_owned=None, *, half_width, output, weighted, index_name, key_name="index"
):
    """Annulus means of the stars each range owns, from its stars and strips.

    ``n_unique`` and ``n_owned`` (computed over the whole collection, in the
    same graph) check that the output's keys identify the stars: with a
    duplicated key the result could not be joined back to the stars."""
    if n_unique is not None and n_unique != n_owned:
        raise ValueError(
            f"annulus_mean: the {key_name} has {n_owned - n_unique} duplicated value(s) among "
            f"{n_owned} stars, so the means could not be joined back to their stars (Dask's "
            f"read_parquet, for one, restarts the index in every file); pass key= a column "
            f"that is unique per star, e.g. key='source_id'"
        )
    pieces = []
    for _, group in df.groupby("_range", sort=True):
        owned = group["_owned"].to_numpy()
        if not owned.any():  # only strips of neighbours: nothing to answer here
            continue
        # a fixed order (R, then key) whatever the shuffle's arrival order
        order = np.lexsort((group["_key"].to_numpy(), group["_R"].to_numpy()))
        g = group.iloc[order]
        means = _inner_annulus_mean(
            g["_R"].to_numpy(),
            g["_v"].to_numpy(),
            half_width,
            weights=g["_w"].to_numpy() if weighted else None,
        )
        mine = g["_owned"].to_numpy()
        pieces.append(
            pd.DataFrame(
                {output: means[mine]}, index=pd.Index(g["_key"].to_numpy()[mine], name=index_name)
            )
        )
    if not pieces:
        return pd.DataFrame(
            {output: np.zeros(0)}, index=pd.Index(df["_key"].to_numpy()[:0], name=index_name)
        )
    return pd.concat(pieces)


def _r_sketch_partition(df, *, R, n_points=129):
    """Evenly spaced order statistics of one partition's R, with the
    partition's size: a mergeable summary for the range boundaries."""
    r = np.sort(float_column(df, R))
    r = r[np.isfinite(r)]
    if r.size == 0:
        return pd.DataFrame({"R": np.zeros(0), "weight": np.zeros(0)})
    idx = np.unique(np.linspace(0, r.size - 1, min(n_points, r.size)).round().astype(np.intp))
    return pd.DataFrame({"R": r[idx], "weight": np.full(idx.size, r.size / idx.size)})


def _quantile_boundaries(ddf, R, n_ranges):
    sketch = ddf.map_partitions(
        _r_sketch_partition, R=R, meta=pd.DataFrame({"R": np.zeros(0), "weight": np.zeros(0)})
    ).compute()
    if len(sketch) == 0:
        raise ValueError("annulus_mean: the collection has no stars with a finite R")
    sketch = sketch.sort_values("R", kind="stable")
    cum = np.cumsum(sketch["weight"].to_numpy())
    targets = cum[-1] * np.arange(1, n_ranges) / n_ranges
    b = sketch["R"].to_numpy()[np.minimum(np.searchsorted(cum, targets), len(sketch) - 1)]
    return np.unique(b)


def annulus_mean(
    collection,
    R="R",
    values="feh",
    half_width=0.1,
    *,
    weights=None,
    key=None,
    boundaries=None,
    n_ranges=None,
    output="annulus_mean",
    nan_policy="raise",
):
    """Exact annulus means over a whole partitioned catalogue (lazy).

    For each star i the (weighted) mean of ``values`` over **all** stars j of
    the collection with ``abs(R[j] - R[i]) <= half_width`` (star i included):
    the numbers of :func:`fastgrad.annulus_mean` on the concatenated
    catalogue, to a few ulps (the tests hold it to 1e-12 against an exact
    reference).

    How: R is cut into ranges at ``boundaries``; each star is sent (one Dask
    shuffle) to the range that owns it and, as a copy, to the neighbouring
    ranges lying within ``half_width`` of it (the boundary strips, 0.2 kpc in
    total by default). Each range then holds every star of its own stars'
    annuli, and the means are computed there, in memory, with
    :func:`fastgrad.annulus_mean` (O(n log n) per range).

    Parameters
    ----------
    collection : dask.dataframe.DataFrame or lsdb.Catalog
    R, values : str
        Columns: the radius (kpc) and the quantity to average (e.g. [Fe/H]).
    half_width : float
        kpc (docs/method.md section 6: 0.1, a band 0.2 kpc wide).
    weights : str, optional
        Column of non-negative weights: mean = sum(w v) / sum(w).
    key : str, optional
        Column whose values identify the stars in the output (e.g.
        ``"source_id"``); default the collection's index.  The key must be
        unique over the collection: the output is indexed by it, and a
        duplicated key (an LSDB ``_healpix_29`` index, or the index that
        ``dd.read_parquet`` restarts at 0 in every file) could not be joined
        back to its stars, so it raises ``ValueError`` when the result is
        computed (checked lazily, in the same graph, by a distributed
        ``nunique`` of the keys).
    boundaries : array_like, optional
        Sorted R values (kpc) between ranges. Default: ``n_ranges`` quantiles
        of R from a sketch of each partition, an extra pass over the data, so
        ``persist()`` a collection that is costly to compute (e.g. the MC
        transform) first, or pass boundaries. Each range must fit in a
        worker's memory; any boundaries give the same means.
    n_ranges : int, optional
        Number of ranges when ``boundaries`` is not given (default: the
        collection's number of partitions).
    output : str
        Name of the output column.
    nan_policy : {"raise", "omit"}
        Stars with a NaN or infinite R, value or weight raise ``ValueError``
        (as :func:`fastgrad.annulus_mean` does), or are left out: of every
        annulus and of the output.

    Returns
    -------
    dask.dataframe.DataFrame
        Indexed by the key (named after ``key``, or as the collection's
        index), one column ``output``,
        one row per star, partitioned by R range (not ``collection``'s
        partitions). Join it back with, e.g.
        ``ddf.merge(means, left_on="source_id", right_index=True)``.

    Raises
    ------
    ValueError
        On NaN or infinite R, values or weights (unless ``nan_policy="omit"``),
        negative weights (raised by the worker that reads them, naming the
        rows and the partition), a duplicated key (at compute time) or a bad
        half_width.  TypeError for a float ``n_ranges``.
    """
    ddf = as_dask_dataframe(collection)
    half_width = float(half_width)
    if not (np.isfinite(half_width) and half_width > 0):
        raise ValueError(f"half_width must be finite and > 0, got {half_width!r}")
    if nan_policy not in ("raise", "omit"):
        raise ValueError(f"nan_policy must be 'raise' or 'omit', got {nan_policy!r}")
    needed = [R, values] + ([weights] if weights else []) + ([key] if key else [])
    require_columns(ddf._meta, needed, "annulus_mean")
    if boundaries is None:
        n_ranges = (
            ddf.npartitions if n_ranges is None else as_count("n_ranges", n_ranges, minimum=1)
        )
        boundaries = _quantile_boundaries(ddf, R, n_ranges) if n_ranges > 1 else np.zeros(0)
    boundaries = np.asarray(boundaries, dtype=np.float64).reshape(-1)
    if boundaries.size and not (
        np.all(np.isfinite(boundaries)) and np.all(np.diff(boundaries) > 0)
    ):
        raise ValueError("boundaries must be finite and strictly increasing")
    n_out = boundaries.size + 1
    key_dtype = ddf._meta.index.dtype if key is None else ddf._meta[key].dtype
    scatter_meta = pd.DataFrame(
        {
            "_range": np.zeros(0, dtype=np.int64),
            "_owned": np.zeros(0, dtype=bool),
            "_key": pd.Series([], dtype=key_dtype).to_numpy(),
            "_R": np.zeros(0),
            "_v": np.zeros(0),
            **({"_w": np.zeros(0)} if weights else {}),
        }
    )
    tagged = ddf.map_partitions(
        _annulus_scatter_partition,
        R=R,
        values=values,
        weights=weights,
        key=key,
        boundaries=boundaries,
        half_width=half_width,
        nan_policy=nan_policy,
        meta=scatter_meta,
    )
    shuffled = tagged.shuffle(on="_range", npartitions=n_out)
    index_name = key if key is not None else ddf._meta.index.name
    out_meta = pd.DataFrame(
        {output: np.zeros(0)}, index=pd.Index(scatter_meta["_key"].to_numpy(), name=index_name)
    )
    owned = tagged[tagged["_owned"]]["_key"]
    n_unique, n_owned = owned.nunique(dropna=False), owned.count()
    key_name = f"key column {key!r}" if key is not None else "index"
    return shuffled.map_partitions(
        _annulus_range_partition,
        n_unique,
        n_owned,
        half_width=half_width,
        output=output,
        weighted=bool(weights),
        index_name=index_name,
        key_name=key_name,
        meta=out_meta,
    )
