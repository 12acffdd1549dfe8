"""The per-star steps on Dask / LSDB partitions, and the global steps across them.

Gaia DR3 (1.8e9 stars with astrometry, 3.4e7 with radial velocities) is kept
as HATS catalogues (Parquet partitioned by HEALPix pixel) read by LSDB on
Dask.  This module lets fastgrad run there and give the numbers it gives on
one machine.

Partition functions (``pandas.DataFrame -> pandas.DataFrame``, module-level so
they pickle, accept an empty partition, and need only pandas on the workers):

- :func:`mc_galactocentric_partition` (meta: :func:`mc_galactocentric_meta`):
  Monte-Carlo Galactocentric coordinates, Gaia DR3 archive names by default.
  Each star's random stream is keyed by ``(seed, source_id)``, so the output
  is bit-identical to :func:`fastgrad.mc_galactocentric` with
  ``ids=source_id`` whatever the partitioning, row order, thread count or
  engine.
- :func:`quality_cuts_partition` keeps the rows that pass a cut preset;
  :func:`quality_cut_counts_partition` gives the partition's counts per cut,
  and :func:`cut_report` sums them into the report of
  :func:`fastgrad.catalogs.apply_cuts` (same columns, same numbers).
- :func:`kinematic_probabilities_partition` (meta:
  :func:`kinematic_probabilities_meta`): U, V, W and the Bensby (2003)
  membership probabilities.
- :func:`fit_columns_partition`: the few columns the binned fits need.

Collection-level helpers (need ``pip install fastgrad[dask]``; they take a
``dask.dataframe.DataFrame`` or an ``lsdb.Catalog`` and stay lazy unless
said otherwise): :func:`mc_galactocentric`, :func:`kinematic_probabilities`,
:func:`quality_cuts`, :func:`annulus_mean` (the exact annulus means across
partitions) and :func:`fit_columns` (computes the reduced pandas DataFrame for
:func:`fastgrad.fitting.fit_binned`).

Threads: every ``n_threads=None`` resolves at call time on the worker, from
the OpenMP runtime (:func:`fastgrad.effective_n_threads`): Dask's nanny sets
``OMP_NUM_THREADS=1`` for worker processes and
``threadpoolctl.threadpool_limits`` caps it too.  Nothing here starts a pool
of its own.

Units: a DataFrame carries none, so partitions must hold the canonical units
of :data:`fastgrad.catalogs.CANONICAL_UNITS` (those of the Gaia archive and of
:func:`fastgrad.read_catalog`): deg, mas, mas/yr, km/s, pc for ``r_*_geo``,
kpc for ``distance``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from astropy.table import Table

from . import populations as _populations
from ._dask_annulus import annulus_mean
from ._seeds import seed64
from .cuts import HALO_CUT, REPORT_COLUMNS, evaluate_cuts, get_cuts
from .distances import bailer_jones_distances
from .engine import frame_to_table
from .partitions import (
    DASK_EXTRA_MESSAGE,
    as_dask_dataframe,
    float_column,
    int_ids,
    inverse_columns,
    located,
    meta_of,
    require_columns,
    require_dask,
)
from .populations import BENSBY2003, SCHOENRICH2010_SOLAR_MOTION
from .transform import GAIA_CORRELATIONS, GALACTOCENTRIC_COLUMNS, add_galactocentric

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from astropy.coordinates import Galactocentric

    from .cuts import Cut


__all__ = [
    "DASK_EXTRA_MESSAGE",
    "require_dask",
    "GAIA_MC_COLUMNS",
    "FIT_COLUMNS",
    # partition functions
    "mc_galactocentric_partition",
    "mc_galactocentric_meta",
    "quality_cuts_partition",
    "quality_cut_counts_partition",
    "quality_cut_counts_meta",
    "cut_report",
    "kinematic_probabilities_partition",
    "kinematic_probabilities_meta",
    "fit_columns_partition",
    # collection-level
    "mc_galactocentric",
    "kinematic_probabilities",
    "quality_cuts",
    "annulus_mean",
    "fit_columns",
]


# ---------------------------------------------------------------------------
# Monte-Carlo Galactocentric transform
# ---------------------------------------------------------------------------

#: Arguments of :func:`fastgrad.mc_galactocentric` and the Gaia DR3 archive
#: columns they are read from by default (``distance``/``distance_error`` in
#: kpc as :func:`fastgrad.add_distances` writes them; failing those, the
#: Bailer-Jones ``r_med_geo, r_lo_geo, r_hi_geo`` in pc).  ``ids`` keys the
#: random streams.
GAIA_MC_COLUMNS = {
    "ra": "ra",
    "dec": "dec",
    "pmra": "pmra",
    "pmdec": "pmdec",
    "radial_velocity": "radial_velocity",
    "ra_error": "ra_error",
    "dec_error": "dec_error",
    "pmra_error": "pmra_error",
    "pmdec_error": "pmdec_error",
    "radial_velocity_error": "radial_velocity_error",
    "distance": "distance",
    "distance_error": "distance_error",
    "r_med_geo": "r_med_geo",
    "r_lo_geo": "r_lo_geo",
    "r_hi_geo": "r_hi_geo",
    "ids": "source_id",
}

_MC_ARGS = (
    "ra",
    "dec",
    "pmra",
    "pmdec",
    "radial_velocity",
    "ra_error",
    "dec_error",
    "pmra_error",
    "pmdec_error",
    "radial_velocity_error",
)


def _partition_seed(seed):
    """The one 64-bit key every partition must share."""
    if seed is None or isinstance(seed, np.random.Generator):
        raise ValueError(
            "seed: a distributed Monte Carlo needs a fixed int (or SeedSequence) "
            "seed shared by all partitions; None or a Generator would give each "
            "partition its own stream"
        )
    return seed64(seed)


def _gaia_name(canonical, inverse):
    """The partition column holding ``canonical`` (the user's map, else the Gaia name)."""
    return inverse.get(canonical, GAIA_MC_COLUMNS[canonical])


def mc_galactocentric_partition(
    df: pd.DataFrame,
    *,
    seed: int | np.random.SeedSequence,
    n_samples: int = 1000,
    frame: str | Galactocentric | None = None,
    columns: Any = None,
    correlations: bool = False,
    prefix: str = "",
    append: bool = True,
    nan_policy: str = "propagate",
    n_threads: int | None = None,
) -> pd.DataFrame:
    """Monte-Carlo Galactocentric coordinates of one partition's stars.

    The partition-level :func:`fastgrad.mc_galactocentric`: with the same
    ``seed``, ``n_samples``, ``frame`` and the stars' ids as ``ids``, every
    output value is bit-identical to the single-machine call, whatever the
    partitioning, row order, thread count or engine.

    Parameters
    ----------
    df : pandas.DataFrame
        One partition (an LSDB ``NestedFrame`` works too), possibly empty, in
        the Gaia archive's names and units (see :data:`GAIA_MC_COLUMNS`):
        ``ra, dec`` (deg), ``pmra, pmdec`` (mas/yr), ``radial_velocity``
        (km/s), their ``*_error`` (mas, mas/yr, km/s), ``distance`` and
        ``distance_error`` (kpc) or else ``r_med_geo, r_lo_geo, r_hi_geo``
        (pc; then distance = r_med_geo / 1000 and its error
        (r_hi_geo - r_lo_geo) / 2000, as :func:`fastgrad.add_distances`), and
        the integer ids ``source_id``.
    seed : int or numpy.random.SeedSequence
        Required and shared by all partitions (``None`` would draw a different
        seed per partition).
    n_samples : int
        Draws per star (the paper: 1000).
    frame : None, str or astropy.coordinates.Galactocentric
        As in :func:`fastgrad.mc_galactocentric` (``None``: the paper's).
    columns : dict, optional
        Partition column name -> canonical name (the keys of
        :data:`GAIA_MC_COLUMNS`), tried before the Gaia names, e.g. for the
        LAMOST RVs and ids after a cross-match: ``{"rv": "radial_velocity",
        "rv_err": "radial_velocity_error", "obsid": "ids"}``.
    correlations : bool
        Draw ra, dec, pmra, pmdec from their full Gaia covariance, using the
        six ``*_corr`` columns (:data:`fastgrad.transform.GAIA_CORRELATIONS`,
        mappable through ``columns``).
    prefix : str
        Prepended to the output names (``x ... absz``, ``x_err ... absz_err``).
    append : bool
        Return ``df`` with the outputs added (the default, as LSDB's
        ``map_partitions`` expects: ra/dec and the index are kept), or only
        the 18 output columns on ``df``'s index.
    nan_policy : {"propagate", "raise"}
        ``"propagate"`` (the default here, unlike the single-machine call: one
        bad row should not stop a job over a billion stars): rows with a NaN
        input get NaN outputs; ``"raise"`` as in :func:`fastgrad.mc_galactocentric`.
    n_threads : int or None
        OpenMP threads, resolved on the worker at call time (``None``: the
        runtime's maximum, 1 under Dask's ``OMP_NUM_THREADS=1``).

    Returns
    -------
    pandas.DataFrame
        ``df`` (when ``append``) plus ``x, y, z`` (kpc), ``vx, vy, vz``
        (km/s), ``R`` (kpc), ``phi`` (rad), ``absz`` (kpc) and their
        Monte-Carlo standard deviations ``*_err``, float64, each name with
        ``prefix``.

    Examples
    --------
    Mock Gaia giants with their Bailer-Jones distances (pc): each star's
    stream is keyed by its ``source_id``, so two partitions give the same
    bits as the in-memory call on the whole catalogue (with
    ``correlations=False``, this function's default):

    >>> import numpy as np
    >>> from astropy.table import Table
    >>> from fastgrad.dask import mc_galactocentric_partition
    >>> import fastgrad
    >>> survey = fastgrad.make_survey("gaia_giants", 300, seed=1)
    >>> df = survey["gaia"].to_pandas().merge(survey["bailer_jones"].to_pandas(), on="source_id")
    >>> parts = [mc_galactocentric_partition(p, seed=42, n_samples=100) for p in (df[:120], df[120:])]
    >>> table = fastgrad.add_distances(Table.from_pandas(df))
    >>> ref = fastgrad.add_galactocentric(table, n_samples=100, seed=42, correlations=False)
    >>> np.array_equal(np.concatenate([p["R_err"] for p in parts]), ref["R_err"])
    True
    >>> star = parts[0].iloc[0]
    >>> print(f"R = {star['R']:.3f} +- {star['R_err']:.3f} kpc, |z| = {star['absz']:.3f} kpc")
    R = 8.538 +- 0.012 kpc, |z| = 0.506 kpc
    """
    seed = _partition_seed(seed)
    inverse = inverse_columns(columns)
    unknown = sorted(set(inverse) - set(GAIA_MC_COLUMNS) - set(GAIA_CORRELATIONS))
    if unknown:
        raise ValueError(
            f"columns: unknown canonical name(s) {unknown}; use "
            f"{sorted(GAIA_MC_COLUMNS)} or {list(GAIA_CORRELATIONS)}"
        )
    names = {arg: _gaia_name(arg, inverse) for arg in _MC_ARGS}
    id_name = _gaia_name("ids", inverse)
    dist_name, dist_err_name = (
        _gaia_name("distance", inverse),
        _gaia_name("distance_error", inverse),
    )
    if dist_name in df.columns or dist_err_name in df.columns:
        needed = list(names.values()) + [dist_name, dist_err_name, id_name]
        use_bailer_jones = False
    else:
        bj = [_gaia_name(c, inverse) for c in ("r_med_geo", "r_lo_geo", "r_hi_geo")]
        needed = list(names.values()) + bj + [id_name]
        use_bailer_jones = True
    corr_names = {c: inverse.get(c, c) for c in GAIA_CORRELATIONS} if correlations else {}
    require_columns(df, needed + list(corr_names.values()), "mc_galactocentric_partition")
    out_names = [prefix + c for c in GALACTOCENTRIC_COLUMNS]
    clash = [c for c in out_names if c in df.columns] if append else []
    if clash:
        raise ValueError(
            f"mc_galactocentric_partition: the partition already has column(s) "
            f"{clash}; pass prefix= to name the outputs apart"
        )

    # the partition's columns under their canonical names (float64, missing
    # values NaN, as the engines' adapter gives them) to the Table-level step
    # both engines map: one Monte Carlo, no Dask twin
    canonical = {arg: float_column(df, name) for arg, name in names.items()}
    if use_bailer_jones:
        r_med, r_lo, r_hi = (
            float_column(df, _gaia_name(c, inverse)) for c in ("r_med_geo", "r_lo_geo", "r_hi_geo")
        )
        # the checks and arithmetic of fastgrad.add_distances: the same bits
        canonical["distance"], canonical["distance_error"] = bailer_jones_distances(
            r_med, r_lo, r_hi, where="mc_galactocentric_partition"
        )
    else:
        canonical["distance"] = float_column(df, dist_name)
        canonical["distance_error"] = float_column(df, dist_err_name)
    canonical.update({c: float_column(df, name) for c, name in corr_names.items()})
    canonical["source_id"] = int_ids(df, id_name)
    table = Table(canonical, copy=False)
    try:
        table = add_galactocentric(
            table,
            n_samples=n_samples,
            frame=frame,
            seed=seed,
            correlations=bool(correlations),
            nan_policy=nan_policy,
            n_threads=n_threads,
            copy=False,
        )
    except ValueError as exc:
        raise located(exc, df) from None
    data = {prefix + name: np.asarray(table[name]) for name in GALACTOCENTRIC_COLUMNS}
    result = pd.DataFrame(data, index=df.index)
    if not append:
        return result
    return _concat_columns(df, result)


def _concat_columns(df, new):
    """``df`` with the columns of ``new`` (same index) added, keeping ``df``'s type."""
    out = df.copy(deep=False)
    for name in new.columns:
        out[name] = new[name].to_numpy()
    return out


def mc_galactocentric_meta(
    like: Any, *, prefix: str = "", append: bool = True, **kwargs: Any
) -> pd.DataFrame:
    """The ``meta`` (empty output DataFrame) of :func:`mc_galactocentric_partition`.

    Parameters
    ----------
    like : pandas.DataFrame, dask DataFrame or lsdb.Catalog
        The input collection or its meta; only its columns and dtypes are read.
    prefix, append, **kwargs :
        As given to :func:`mc_galactocentric_partition` (``seed`` may be
        left out here).

    Returns
    -------
    pandas.DataFrame
        Empty, with the partition function's output columns and dtypes.

    Examples
    --------
    >>> from fastgrad.dask import mc_galactocentric_meta
    >>> import fastgrad
    >>> survey = fastgrad.make_survey("gaia_giants", 300, seed=1)
    >>> df = survey["gaia"].to_pandas().merge(survey["bailer_jones"].to_pandas(), on="source_id")
    >>> meta = mc_galactocentric_meta(df, append=False)
    >>> len(meta), list(meta.columns)
    (0, ['x', 'y', 'z', 'vx', 'vy', 'vz', 'R', 'phi', 'absz',
         'x_err', 'y_err', 'z_err', 'vx_err', 'vy_err', 'vz_err', 'R_err', 'phi_err', 'absz_err'])
    """
    kwargs.setdefault("seed", 0)
    return mc_galactocentric_partition(meta_of(like), prefix=prefix, append=append, **kwargs)


def mc_galactocentric(
    collection: Any,
    *,
    seed: int | np.random.SeedSequence,
    n_samples: int = 1000,
    frame: str | Galactocentric | None = None,
    columns: Any = None,
    correlations: bool = False,
    prefix: str = "",
    append: bool = True,
    nan_policy: str = "propagate",
    n_threads: int | None = None,
) -> Any:
    """:func:`mc_galactocentric_partition` mapped over a collection (lazy).

    Parameters
    ----------
    collection : dask.dataframe.DataFrame or lsdb.Catalog
    seed, n_samples, frame, columns, correlations, prefix, append, nan_policy, n_threads :
        As in :func:`mc_galactocentric_partition`.

    Returns
    -------
    dask.dataframe.DataFrame or lsdb.Catalog
        Of the same kind as ``collection`` (an LSDB Catalog stays one when
        ``append``: its ra, dec and index are kept).

    Examples
    --------
    Lazy over a two-partition Dask DataFrame, computed with Dask's default
    scheduler; the same bits as the in-memory call (with ``correlations=False``,
    this function's default) in all 18 output columns:

    >>> import numpy as np
    >>> from astropy.table import Table
    >>> from fastgrad.dask import mc_galactocentric
    >>> from fastgrad.transform import GALACTOCENTRIC_COLUMNS
    >>> import fastgrad
    >>> survey = fastgrad.make_survey("gaia_giants", 300, seed=1)
    >>> df = survey["gaia"].to_pandas().merge(survey["bailer_jones"].to_pandas(), on="source_id")
    >>> import dask.dataframe as dd
    >>> ddf = dd.from_pandas(df, npartitions=2)
    >>> mc = mc_galactocentric(ddf, seed=42, n_samples=100).compute()
    >>> table = fastgrad.add_distances(Table.from_pandas(df))
    >>> ref = fastgrad.add_galactocentric(table, n_samples=100, seed=42, correlations=False)
    >>> all(np.array_equal(mc[c], ref[c]) for c in GALACTOCENTRIC_COLUMNS)
    True
    >>> print(f"{len(mc)} stars, median R = {mc['R'].median():.3f} kpc")
    300 stars, median R = 7.283 kpc
    """
    require_dask()
    kwargs = dict(
        seed=seed,
        n_samples=n_samples,
        frame=frame,
        columns=columns,
        correlations=correlations,
        prefix=prefix,
        append=append,
        nan_policy=nan_policy,
        n_threads=n_threads,
    )
    meta = mc_galactocentric_meta(collection, **kwargs)
    return collection.map_partitions(mc_galactocentric_partition, meta=meta, **kwargs)


# ---------------------------------------------------------------------------
# Quality cuts
# ---------------------------------------------------------------------------


def _resolve_cuts(cuts):
    """cuts.get_cuts, plus the name ``"halo"`` for the paper's halo cut."""
    if isinstance(cuts, str) or not np.iterable(cuts):
        cuts = [cuts]
    return get_cuts([HALO_CUT if c == "halo" else c for c in cuts])


def _evaluate_cuts(df, cuts, thresholds):
    """The rows kept and the per-cut counts, exactly as cuts.apply_cuts counts them."""
    # the partition as a Table (the engines' adapter): the cuts read it as
    # fastgrad.apply_cuts reads a catalogue
    alive, counts, _ = evaluate_cuts(
        frame_to_table(df), _resolve_cuts(cuts), thresholds, what="partition"
    )
    return alive, counts


def quality_cuts_partition(
    df: pd.DataFrame,
    cuts: str | Cut | Sequence[str | Cut],
    *,
    thresholds: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """The rows of a partition that pass quality cuts (a partition filter).

    Parameters
    ----------
    df : pandas.DataFrame
        One partition in canonical names and units (see
        :func:`fastgrad.read_catalog`), possibly empty.
    cuts : str, Cut or sequence of them
        As in :func:`fastgrad.apply_cuts`: ``"lamost_hot_stars"``,
        ``"gaia_giants"``, ``"astrometric"``, a :class:`fastgrad.Cut`, or a
        list; here also ``"halo"`` (:data:`fastgrad.populations.HALO_CUT`,
        keep ``p_halo < p_halo_max``).
    thresholds : dict, optional
        As in :func:`fastgrad.apply_cuts`.

    Returns
    -------
    pandas.DataFrame
        The kept rows (same columns, dtypes and index labels). Their union
        over partitions is the table :func:`fastgrad.apply_cuts` keeps.

    Examples
    --------
    The paper's giant cuts (docs/method.md section 2) on two partitions keep
    the rows :func:`fastgrad.apply_cuts` keeps on the whole catalogue:

    >>> import pandas as pd
    >>> from fastgrad.dask import quality_cuts_partition
    >>> import fastgrad
    >>> survey = fastgrad.make_survey("gaia_giants", 300, seed=1)
    >>> df = survey["gaia"].to_pandas().merge(survey["bailer_jones"].to_pandas(), on="source_id")
    >>> kept = pd.concat([quality_cuts_partition(p, "gaia_giants") for p in (df[:120], df[120:])])
    >>> ref, report = fastgrad.apply_cuts(survey["gaia"], "gaia_giants")
    >>> print(f"kept {len(kept)} of {len(df)}; in memory {len(ref)}")
    kept 266 of 300; in memory 266
    >>> kept["source_id"].tolist() == list(ref["source_id"])
    True
    """
    alive, _ = _evaluate_cuts(df, cuts, thresholds)
    return df if alive.all() else df[alive]


_COUNT_COLUMNS = ("cut_index", "cut", "n_before", "n_removed", "n_after", "n_nonfinite")


def quality_cut_counts_partition(
    df: pd.DataFrame,
    cuts: str | Cut | Sequence[str | Cut],
    *,
    thresholds: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Per-cut counts of one partition, to be summed by :func:`cut_report`.

    Parameters
    ----------
    df, cuts, thresholds :
        As in :func:`quality_cuts_partition`.

    Returns
    -------
    pandas.DataFrame
        One row per cut, in order (also for an empty partition): ``cut_index``
        (0, 1, ...), ``cut`` (its name), ``n_before``, ``n_removed``,
        ``n_after``, ``n_nonfinite`` (int64), counted as
        :func:`fastgrad.apply_cuts` counts them.

    Examples
    --------
    >>> from fastgrad.dask import quality_cut_counts_partition
    >>> import fastgrad
    >>> survey = fastgrad.make_survey("gaia_giants", 300, seed=1)
    >>> df = survey["gaia"].to_pandas().merge(survey["bailer_jones"].to_pandas(), on="source_id")
    >>> counts = quality_cut_counts_partition(df[:120], "gaia_giants")
    >>> print(counts[["cut", "n_before", "n_removed", "n_after"]].to_string(index=False))
                 cut  n_before  n_removed  n_after
    teff_gspspec_max       120         11      109
    logg_gspspec_max       109          2      107
          mh_defined       107          0      107
    """
    _, counts = _evaluate_cuts(df, cuts, thresholds)
    return pd.DataFrame(
        {
            "cut_index": np.arange(len(counts), dtype=np.int64),
            "cut": pd.Series([c.name for c, *_ in counts], dtype=object),
            "n_before": np.array([b for _, b, _, _ in counts], dtype=np.int64),
            "n_removed": np.array([r for _, _, r, _ in counts], dtype=np.int64),
            "n_after": np.array([b - r for _, b, r, _ in counts], dtype=np.int64),
            "n_nonfinite": np.array([nf for *_, nf in counts], dtype=np.int64),
        },
        columns=list(_COUNT_COLUMNS),
    )


def quality_cut_counts_meta() -> pd.DataFrame:
    """The ``meta`` of :func:`quality_cut_counts_partition` (its columns, no rows).

    Examples
    --------
    >>> from fastgrad.dask import quality_cut_counts_meta
    >>> meta = quality_cut_counts_meta()
    >>> len(meta), list(meta.columns)
    (0, ['cut_index', 'cut', 'n_before', 'n_removed', 'n_after', 'n_nonfinite'])
    """
    return pd.DataFrame(
        {
            "cut_index": np.zeros(0, dtype=np.int64),
            "cut": pd.Series([], dtype=object),
            **{c: np.zeros(0, dtype=np.int64) for c in _COUNT_COLUMNS[2:]},
        }
    )


def cut_report(counts: Any, cuts: str | Cut | Sequence[str | Cut] | None = None) -> Table:
    """Sum per-partition cut counts into :func:`fastgrad.apply_cuts`' report.

    Parameters
    ----------
    counts : pandas.DataFrame, dask DataFrame, or a list of DataFrames
        Rows of :func:`quality_cut_counts_partition` from every partition (a
        dask collection is computed).
    cuts : str, Cut or sequence, optional
        The cuts that made ``counts``, for the ``section`` and
        ``description`` columns (left empty when not given).

    Returns
    -------
    astropy.table.Table
        One row per cut, in order: ``cut``, ``n_before``, ``n_removed``,
        ``n_after``, ``n_nonfinite``, ``section``, ``description``, the
        layout of :func:`fastgrad.apply_cuts`' report, with the same numbers
        as the single-machine call on the whole catalogue.

    Examples
    --------
    The counts of two partitions add up to the report of
    :func:`fastgrad.apply_cuts` on the whole catalogue:

    >>> import numpy as np
    >>> from fastgrad.dask import cut_report, quality_cut_counts_partition
    >>> import fastgrad
    >>> survey = fastgrad.make_survey("gaia_giants", 300, seed=1)
    >>> df = survey["gaia"].to_pandas().merge(survey["bailer_jones"].to_pandas(), on="source_id")
    >>> counts = [quality_cut_counts_partition(p, "gaia_giants") for p in (df[:120], df[120:])]
    >>> report = cut_report(counts, "gaia_giants")
    >>> report["cut", "n_before", "n_removed", "n_after"].pprint()
          cut        n_before n_removed n_after
    ---------------- -------- --------- -------
    teff_gspspec_max      300        29     271
    logg_gspspec_max      271         5     266
          mh_defined      266         0     266
    >>> _, ref = fastgrad.apply_cuts(survey["gaia"], "gaia_giants")
    >>> np.array_equal(report["n_removed"], ref["n_removed"])
    True
    """
    from astropy.table import Table

    if isinstance(counts, (list, tuple)):
        counts = pd.concat(counts, ignore_index=True) if counts else quality_cut_counts_meta()
    elif not isinstance(counts, pd.DataFrame):
        counts = counts.compute()
    summed = counts.groupby("cut_index", sort=True).agg(
        cut=("cut", "first"),
        n_before=("n_before", "sum"),
        n_removed=("n_removed", "sum"),
        n_after=("n_after", "sum"),
        n_nonfinite=("n_nonfinite", "sum"),
    )
    by_name = {c.name: c for c in _resolve_cuts(cuts)} if cuts is not None else {}
    report = Table()
    report["cut"] = np.array(summed["cut"].tolist(), dtype=str)
    for name in ("n_before", "n_removed", "n_after", "n_nonfinite"):
        report[name] = summed[name].to_numpy(dtype=np.int64)
    report["section"] = np.array(
        [getattr(by_name.get(n), "section", "") for n in summed["cut"]], dtype=str
    )
    report["description"] = np.array(
        [getattr(by_name.get(n), "description", "") for n in summed["cut"]], dtype=str
    )
    assert tuple(report.colnames) == REPORT_COLUMNS
    return report


def quality_cuts(
    collection: Any,
    cuts: str | Cut | Sequence[str | Cut],
    *,
    thresholds: Mapping[str, Any] | None = None,
) -> tuple[Any, Any]:
    """Quality cuts over a collection: the kept rows and the per-partition counts (lazy).

    Parameters
    ----------
    collection : dask.dataframe.DataFrame or lsdb.Catalog
    cuts, thresholds :
        As in :func:`quality_cuts_partition`.

    Returns
    -------
    kept : dask.dataframe.DataFrame or lsdb.Catalog
        Of ``collection``'s kind.
    counts : dask.dataframe.DataFrame
        :func:`quality_cut_counts_partition` of every partition; pass it to
        :func:`cut_report`. ``dask.compute(kept, counts)`` reads the data once
        (for an LSDB catalogue: ``dask.compute(kept.to_dask_dataframe(), counts)``,
        or ``kept.write_catalog(...)`` then ``cut_report(counts)``).

    Examples
    --------
    >>> import dask
    >>> from fastgrad.dask import cut_report, quality_cuts
    >>> import fastgrad
    >>> survey = fastgrad.make_survey("gaia_giants", 300, seed=1)
    >>> df = survey["gaia"].to_pandas().merge(survey["bailer_jones"].to_pandas(), on="source_id")
    >>> import dask.dataframe as dd
    >>> ddf = dd.from_pandas(df, npartitions=2)
    >>> kept, counts = quality_cuts(ddf, "gaia_giants")
    >>> kept, counts = dask.compute(kept, counts)  # one pass over the data
    >>> report = cut_report(counts, "gaia_giants")
    >>> print(f"kept {len(kept)} of {len(df)}; the report says {report['n_after'][-1]}")
    kept 266 of 300; the report says 266
    """
    require_dask()
    _resolve_cuts(cuts)  # fail here, not on a worker, on a bad name
    kept = collection.map_partitions(
        quality_cuts_partition, cuts, thresholds=thresholds, meta=meta_of(collection)
    )
    counts = as_dask_dataframe(collection).map_partitions(
        quality_cut_counts_partition,
        cuts,
        thresholds=thresholds,
        meta=quality_cut_counts_meta(),
        enforce_metadata=False,
    )
    return kept, counts


# ---------------------------------------------------------------------------
# Kinematic probabilities
# ---------------------------------------------------------------------------


def kinematic_probabilities_partition(
    df: pd.DataFrame,
    *,
    frame: str | Galactocentric | None = None,
    solar_motion: Any = SCHOENRICH2010_SOLAR_MOTION,
    populations: Any = BENSBY2003,
    kinematics: str = "local",
    columns: Any = None,
    prefix: str = "",
    append: bool = True,
) -> pd.DataFrame:
    """Thin/thick-disk/halo probabilities of one partition's stars.

    The partition-level :func:`fastgrad.kinematic_probabilities`
    (bit-identical per star).

    Parameters
    ----------
    df : pandas.DataFrame
        With Galactocentric ``x, y`` (kpc; not read by
        ``kinematics="heliocentric"``) and ``vx, vy, vz`` (km/s), e.g. the
        output of :func:`mc_galactocentric_partition`; possibly empty.
    frame : None, str or astropy.coordinates.Galactocentric
        The Galactocentric frame of the coordinates (``None``: the paper's).
    solar_motion, populations, kinematics :
        As in :func:`fastgrad.kinematic_probabilities` (default
        ``kinematics="local"``: each star's own frame, docs/method.md section 4).
    columns : dict, optional
        Partition column name -> ``"x"``, ``"y"``, ``"vx"``, ``"vy"`` or
        ``"vz"`` (e.g. ``{"gc_vx": "vx", ...}``).
    prefix : str
        Prepended to the output names.
    append : bool
        Return ``df`` with the outputs added, or the outputs alone.

    Returns
    -------
    pandas.DataFrame
        ``U, V, W`` (km/s) and one ``p_<population>`` per population
        (``p_thin, p_thick, p_halo`` by default), float64.

    Examples
    --------
    After the Monte Carlo: the same numbers as
    :func:`fastgrad.kinematic_probabilities` on the in-memory table:

    >>> import numpy as np
    >>> from astropy.table import Table
    >>> from fastgrad.dask import kinematic_probabilities_partition, mc_galactocentric_partition
    >>> import fastgrad
    >>> survey = fastgrad.make_survey("gaia_giants", 300, seed=1)
    >>> df = survey["gaia"].to_pandas().merge(survey["bailer_jones"].to_pandas(), on="source_id")
    >>> mc = mc_galactocentric_partition(df, seed=42, n_samples=100)
    >>> kin = kinematic_probabilities_partition(mc)
    >>> ref = fastgrad.kinematic_probabilities(Table.from_pandas(mc[["x", "y", "vx", "vy", "vz"]]))
    >>> np.array_equal(kin["p_halo"], ref["p_halo"])
    True
    >>> print(f"median p_thin {kin['p_thin'].median():.3f}, stars with p_halo > 0.5: "
    ...       f"{int((kin['p_halo'] > 0.5).sum())}")
    median p_thin 0.984, stars with p_halo > 0.5: 2
    """
    inverse = inverse_columns(columns)
    canonical = ("x", "y", "vx", "vy", "vz") if kinematics == "local" else ("vx", "vy", "vz")
    names = [inverse.get(c, c) for c in canonical]
    require_columns(df, names, "kinematic_probabilities_partition")
    inputs = Table({c: float_column(df, n) for c, n in zip(canonical, names)}, copy=False)
    try:
        table = _populations.kinematic_probabilities(
            inputs,
            frame=frame,
            solar_motion=solar_motion,
            populations=populations,
            kinematics=kinematics,
        )
    except ValueError as exc:
        raise located(exc, df) from None
    result = pd.DataFrame(
        {prefix + c: np.asarray(table[c], dtype=np.float64) for c in table.colnames}, index=df.index
    )
    if not append:
        return result
    clash = [c for c in result.columns if c in df.columns]
    if clash:
        raise ValueError(
            f"kinematic_probabilities_partition: the partition already has "
            f"column(s) {clash}; pass prefix= to name the outputs apart"
        )
    return _concat_columns(df, result)


def kinematic_probabilities_meta(like: Any, **kwargs: Any) -> pd.DataFrame:
    """The ``meta`` of :func:`kinematic_probabilities_partition` (``like``: the
    input collection or its meta; ``kwargs`` as given to the partition function).

    Examples
    --------
    >>> from fastgrad.dask import kinematic_probabilities_meta, mc_galactocentric_meta
    >>> import fastgrad
    >>> survey = fastgrad.make_survey("gaia_giants", 300, seed=1)
    >>> df = survey["gaia"].to_pandas().merge(survey["bailer_jones"].to_pandas(), on="source_id")
    >>> meta = kinematic_probabilities_meta(mc_galactocentric_meta(df), append=False)
    >>> len(meta), list(meta.columns)
    (0, ['U', 'V', 'W', 'p_thin', 'p_thick', 'p_halo'])
    """
    return kinematic_probabilities_partition(meta_of(like), **kwargs)


def kinematic_probabilities(collection: Any, **kwargs: Any) -> Any:
    """:func:`kinematic_probabilities_partition` mapped over a collection (lazy);
    ``kwargs`` as in the partition function.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.dask import (kinematic_probabilities, kinematic_probabilities_partition,
    ...                            mc_galactocentric, mc_galactocentric_partition)
    >>> import fastgrad
    >>> survey = fastgrad.make_survey("gaia_giants", 300, seed=1)
    >>> df = survey["gaia"].to_pandas().merge(survey["bailer_jones"].to_pandas(), on="source_id")
    >>> import dask.dataframe as dd
    >>> ddf = dd.from_pandas(df, npartitions=2)
    >>> kin = kinematic_probabilities(mc_galactocentric(ddf, seed=42, n_samples=100)).compute()
    >>> ref = kinematic_probabilities_partition(mc_galactocentric_partition(df, seed=42, n_samples=100))
    >>> np.array_equal(kin["p_thick"], ref["p_thick"])
    True
    """
    require_dask()
    meta = kinematic_probabilities_meta(collection, **kwargs)
    return collection.map_partitions(kinematic_probabilities_partition, meta=meta, **kwargs)


# ---------------------------------------------------------------------------
# Reduction for the binned fits
# ---------------------------------------------------------------------------

#: What the binned fits read (docs/method.md section 5): Table 1 fits [Fe/H] against
#: R in |Z| bins with sigma_x = R_err; Table 2 fits it against |Z| in R bins
#: with sigma_x = z_err (the MC std of z, not of |z|).
FIT_COLUMNS = ("R", "R_err", "absz", "z_err", "feh", "feh_err")


def fit_columns_partition(
    df: pd.DataFrame, *, columns: Any = None, key: str | None = None
) -> pd.DataFrame:
    """The few columns the binned fits need, from one partition.

    Parameters
    ----------
    df : pandas.DataFrame
        A partition with :data:`FIT_COLUMNS` (e.g. after
        :func:`mc_galactocentric_partition`), possibly empty.
    columns : dict, optional
        Partition column name -> name in :data:`FIT_COLUMNS`, e.g. for the Gaia
        giants ``{"mh_gspspec": "feh", "mh_err": "feh_err"}``.
    key : str, optional
        An id column to carry along (e.g. ``"source_id"``).

    Returns
    -------
    pandas.DataFrame
        ``R, R_err, absz, z_err, feh, feh_err`` as float64 (missing -> NaN)
        under those names (plus ``key``), on ``df``'s index: 48 bytes a star.

    Examples
    --------
    The Gaia giants' metallicity ``mh_gspspec`` as ``feh``, with an error
    from its GSP-Spec confidence interval:

    >>> from fastgrad.dask import fit_columns_partition, mc_galactocentric_partition
    >>> import fastgrad
    >>> survey = fastgrad.make_survey("gaia_giants", 300, seed=1)
    >>> df = survey["gaia"].to_pandas().merge(survey["bailer_jones"].to_pandas(), on="source_id")
    >>> df["mh_err"] = (df["mh_gspspec_upper"] - df["mh_gspspec_lower"]) / 2
    >>> mc = mc_galactocentric_partition(df, seed=42, n_samples=100)
    >>> small = fit_columns_partition(mc, columns={"mh_gspspec": "feh", "mh_err": "feh_err"})
    >>> list(small.columns), f"{small.memory_usage(index=False).sum() / len(small):.0f} bytes a star"
    (['R', 'R_err', 'absz', 'z_err', 'feh', 'feh_err'], '48 bytes a star')
    """
    inverse = inverse_columns(columns)
    names = {c: inverse.get(c, c) for c in FIT_COLUMNS}
    require_columns(df, list(names.values()) + ([key] if key else []), "fit_columns_partition")
    out = pd.DataFrame({c: float_column(df, n) for c, n in names.items()}, index=df.index)
    if key:
        out[key] = df[key].to_numpy()
    return out


def fit_columns(collection: Any, *, columns: Any = None, key: str | None = None) -> pd.DataFrame:
    """Reduce a collection to the columns of the binned fits and compute it.

    Parameters
    ----------
    collection : dask.dataframe.DataFrame or lsdb.Catalog
    columns, key :
        As in :func:`fit_columns_partition`.

    Returns
    -------
    pandas.DataFrame
        The partitions' :func:`fit_columns_partition` DataFrames concatenated in
        partition order. Then, on one machine (docs/method.md section 5)::

            small = fastgrad.dask.fit_columns(catalog)
            table1 = fastgrad.fit_binned(small.R, small.feh, small.R_err, small.feh_err,
                                         by=small.absz, edges=[0, 0.2, ..., 1.4])
            table2 = fastgrad.fit_binned(small.absz, small.feh, small.z_err, small.feh_err,
                                         by=small.R, edges=[7, 8, ..., 14])

        (the ``fit_binned`` signature of :mod:`fastgrad.fitting`; 1e8 stars
        take 4.8 GB here).

    Examples
    --------
    >>> from fastgrad.dask import fit_columns, mc_galactocentric
    >>> import fastgrad
    >>> survey = fastgrad.make_survey("gaia_giants", 300, seed=1)
    >>> df = survey["gaia"].to_pandas().merge(survey["bailer_jones"].to_pandas(), on="source_id")
    >>> df["mh_err"] = (df["mh_gspspec_upper"] - df["mh_gspspec_lower"]) / 2
    >>> import dask.dataframe as dd
    >>> ddf = dd.from_pandas(df, npartitions=2)
    >>> mc = mc_galactocentric(ddf, seed=42, n_samples=100)
    >>> small = fit_columns(mc, columns={"mh_gspspec": "feh", "mh_err": "feh_err"}, key="source_id")
    >>> type(small).__name__, len(small), list(small.columns)
    ('DataFrame', 300, ['R', 'R_err', 'absz', 'z_err', 'feh', 'feh_err', 'source_id'])
    """
    require_dask()
    ddf = as_dask_dataframe(collection)
    meta = fit_columns_partition(meta_of(ddf), columns=columns, key=key)
    return ddf.map_partitions(fit_columns_partition, columns=columns, key=key, meta=meta).compute()
