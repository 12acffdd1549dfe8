"""Binned line fits: the paper's Tables 1 and 2 (``docs/method.md`` section 5).

Table 1 fits [Fe/H] against R in bins of |Z|, Table 2 [Fe/H] against |Z| in
bins of R; their bins are :data:`fastgrad.paper.TABLE1_EDGES` (|Z|, kpc) and
:data:`fastgrad.paper.TABLE2_EDGES` (R, kpc).  A :class:`BinPlan` splits one
table's stars into bins and builds its result table; the fits themselves run
in :mod:`fastgrad.fitting.workers`.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import astropy.units as u
import numpy as np
from astropy.table import MaskedColumn, Table

from .. import paper
from .._seeds import seed_sequence
from .._validation import as_count, as_float_array
from ..errors import InputError
from .data import N_PARAMS, PARAM_NAMES, LineData, check_scatter, prepare_line_data, unit_of
from .likelihood import LineModel, priors_box
from .mcmc import AutocorrWarning, check_counts
from .workers import run_plans

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    import numpy.typing as npt


__all__ = ["fit_binned", "fit_tables", "BinPlan"]

_FIT_KEYS = ("scatter", "priors", "n_walkers", "n_steps", "burn", "seed", "n_threads", "progress")
#: fit_tables' binning arguments and the unit their plain numbers are read in
_PLAIN_UNIT_HINT = {"R": "kpc", "z": "kpc"}


def _in_bin(by: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Which values of ``by`` are in the half-open bin [lo, hi): the one
    definition of a bin, for its count and its rows."""
    return (by >= lo) & (by < hi)


def bin_rows(by: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """The rows of the half-open bin [lo, hi) of ``by``."""
    return np.flatnonzero(_in_bin(by, lo, hi))


def bin_model(data: LineData, lo: float, hi: float, scatter: str, priors: Any) -> LineModel:
    """The LineModel of the stars of ``data`` whose ``extra["by"]`` is in
    [lo, hi): one bin's arrays, on one thread until a worker sets its share."""
    return LineModel.from_data(data.subset(bin_rows(data.extra["by"], lo, hi)), scatter, priors, 1)


class BinPlan:
    """The bins of one table: which rows, which are fitted, and the settings.

    Arguments as :func:`fit_binned`'s (``fit_kwargs`` its ``**fit_kwargs``).
    After :func:`~fastgrad.fitting.workers.run_plans` has filled ``results``
    ({bin: LineFit}), :meth:`table` is the table of :func:`fit_binned`.
    ``names`` maps "x", "y", "x_err", "y_err", "by", "edges" to the caller's
    argument names (for the messages); ``units`` = (x_unit, y_unit, by_unit)
    are those of arrays already converted by the caller (fit_tables).

    Examples
    --------
    >>> import numpy as np
    >>> from fastgrad.fitting.binned import BinPlan
    >>> rng = np.random.default_rng(1)
    >>> R, absz = rng.uniform(6.0, 12.0, 1000), rng.uniform(0.0, 1.0, 1000)  # kpc
    >>> feh = 0.5 - 0.06 * R + rng.normal(0.0, 0.1, R.size)  # dex
    >>> plan = BinPlan(R, feh, np.full(1000, 0.2), np.full(1000, 0.05), absz, [0.0, 0.5, 0.9, 1.5],
    ...                min_stars=200, xy_cov=None, nan_policy="raise", fit_kwargs={"seed": 1})
    >>> plan.n_stars.tolist(), [k for k, seed in plan.jobs]  # the last bin is too small
    ([495, 407, 98], [0, 1])
    >>> plan.model(0).n_stars  # made when the bin is fitted
    495
    >>> plan.table()["bin_lo", "n_stars", "slope"]  # no fit run yet: slopes masked
    <Table length=3>
     bin_lo n_stars  slope
    float64  int64  float64
    ------- ------- -------
        0.0     495      --
        0.5     407      --
        0.9      98      --
    """

    def __init__(
        self,
        x: npt.ArrayLike,
        y: npt.ArrayLike,
        x_err: npt.ArrayLike,
        y_err: npt.ArrayLike,
        by: npt.ArrayLike,
        edges: npt.ArrayLike,
        *,
        min_stars: int,
        xy_cov: npt.ArrayLike | None,
        nan_policy: str,
        fit_kwargs: Mapping[str, Any],
        names: Any = None,
        units: Any = None,
    ) -> None:
        unknown = set(fit_kwargs) - set(_FIT_KEYS)
        if unknown:
            raise TypeError(
                f"unexpected keyword argument(s) {sorted(unknown)}; fit options are {_FIT_KEYS}"
            )
        names = {"by": "by", "edges": "edges"} | dict(names or {})
        self.fit_kwargs = dict(fit_kwargs)
        # checked before any star is binned: a float count is an error, not truncated
        check_counts(
            fit_kwargs.get("n_walkers", 10), fit_kwargs.get("n_steps", 1000), fit_kwargs.get("burn")
        )
        min_stars = as_count("min_stars", min_stars, minimum=0)
        if units is None:
            self.by_unit = unit_of(by)
            xy_units = None
            edges_unit = unit_of(edges)
            if edges_unit is not None and self.by_unit is None:
                raise u.UnitTypeError(
                    f"{names['edges']}: a Quantity in {edges_unit}, but {names['by']} has no "
                    f"unit; give both with units or both as plain numbers"
                )
            if edges_unit is None and self.by_unit is not None:
                # as astropy refuses q_in_pc < 5: a plain number next to a
                # Quantity has no unit that could be assumed safely
                raise u.UnitTypeError(
                    f"{names['edges']}: plain numbers, but {names['by']} is a Quantity in "
                    f"{self.by_unit}; give the edges with a unit too (e.g. "
                    f"[0, 0.2] * u.{self.by_unit})"
                )
        else:
            xy_units, self.by_unit = units[:2], units[2]
        data = prepare_line_data(
            x,
            y,
            x_err,
            y_err,
            xy_cov,
            nan_policy=nan_policy,
            extra={"by": (by, self.by_unit)},
            min_points=0,
            names=names,
            units=xy_units,
        )
        edges = as_float_array(names["edges"], edges, self.by_unit)
        if len(edges) < 2 or not np.isfinite(edges).all() or not (np.diff(edges) > 0).all():
            raise ValueError(f"{names['edges']}: need >= 2 finite, strictly increasing values")
        self.data, self.edges = data, edges
        self.min_stars = max(min_stars, N_PARAMS)
        self.scatter = fit_kwargs.get("scatter", "perpendicular")
        check_scatter(self.scatter)
        # half-open bins [lo, hi): the counts now, each bin's rows when its
        # model is made (bin_rows), so that one bin's arrays exist at a time
        by_v = data.extra["by"]
        n_bins = len(edges) - 1
        self.n_stars = np.array(
            [np.count_nonzero(_in_bin(by_v, edges[k], edges[k + 1])) for k in range(n_bins)]
        )
        if self.n_stars.sum() == 0:
            unit = f" {self.by_unit}" if self.by_unit is not None else ""
            span = (
                f"; {names['by']} spans [{by_v.min():g}, {by_v.max():g}]{unit}" if len(by_v) else ""
            )
            hint = (
                f"plain numbers are {_PLAIN_UNIT_HINT[names['by']]}"
                if names["by"] in _PLAIN_UNIT_HINT
                else f"{names['edges']} must be in the unit of {names['by']}"
            )
            raise InputError(
                f"{names['by']}: none of the {len(data)} stars falls in a bin of "
                f"{names['edges']} [{edges[0]:g}, {edges[-1]:g}){unit}{span}. Is the unit "
                f"right? ({hint}; pass an astropy Quantity to have it converted)"
            )
        seeds = seed_sequence(fit_kwargs.get("seed")).spawn(n_bins)
        # (bin, seed) of the bins fitted; their models are made by model(k)
        self.jobs = [(k, seeds[k]) for k in range(n_bins) if self.n_stars[k] >= self.min_stars]
        self.results = {}
        self.label = ""
        # fits of the plan's line on a range of ``by`` outside the bins
        # (add_fit): (key, lo, hi, seed, n_stars), their LineFits by key
        self.extra_jobs = []
        self.extra_results = {}

    def add_fit(self, key: Any, lo: float, hi: float, seed: Any) -> int:
        """Also fit the line of the stars with ``lo <= by < hi`` (with its own
        ``seed``), in the same pool as the bins (:func:`run_plans`): its LineFit
        goes to ``extra_results[key]``, the numbers of :func:`fit_line` on those
        stars with the plan's settings and that seed.  Not a bin of the table.
        Returns the number of stars in the range."""
        lo, hi = float(lo), float(hi)
        n = int(np.count_nonzero(_in_bin(self.data.extra["by"], lo, hi)))
        self.extra_jobs.append((key, lo, hi, seed, n))
        return n

    def range_model(self, lo: float, hi: float) -> LineModel:
        """The LineModel of the stars with ``lo <= by < hi`` (:meth:`add_fit`)."""
        return bin_model(self.data, lo, hi, self.scatter, self.fit_kwargs.get("priors"))

    def model(self, k: int) -> LineModel:
        """The LineModel of bin ``k`` (its stars' arrays, copied out of the
        plan's): made when the bin is fitted, so that one bin's arrays exist
        at a time (:func:`~fastgrad.fitting.workers.run_plans`)."""
        return bin_model(
            self.data, self.edges[k], self.edges[k + 1], self.scatter, self.fit_kwargs.get("priors")
        )

    def table(self) -> Table:
        """The result table of :func:`fit_binned` (one row per bin)."""
        data, edges, n_bins = self.data, self.edges, len(self.edges) - 1
        lo, hi = edges[:-1], edges[1:]
        fitted = np.array([k in self.results for k in range(n_bins)])

        def column(name, values, unit=None, description=None, dtype=float):
            values = np.asarray(values, dtype=dtype)
            mask = np.broadcast_to(~fitted.reshape((-1,) + (1,) * (values.ndim - 1)), values.shape)
            return MaskedColumn(
                values, name=name, mask=mask.copy(), unit=unit, description=description
            )

        def values(attr):
            return [
                getattr(self.results[k], attr) if k in self.results else np.nan
                for k in range(n_bins)
            ]

        x_unit, y_unit, by_unit = data.x_unit, data.y_unit, self.by_unit
        slope_unit = None
        if x_unit is not None or y_unit is not None:
            try:
                slope_unit = (y_unit or u.one) / (x_unit or u.one)
            except (u.UnitsError, TypeError):  # e.g. function units such as dex
                slope_unit = None
        tau = [
            self.results[k].autocorr_time if k in self.results else np.full(3, np.nan)
            for k in range(n_bins)
        ]
        t = Table(
            [
                MaskedColumn(
                    lo, name="bin_lo", unit=by_unit, description="lower bin edge (inclusive)"
                ),
                MaskedColumn(
                    hi, name="bin_hi", unit=by_unit, description="upper bin edge (exclusive)"
                ),
                MaskedColumn(
                    0.5 * (lo + hi), name="bin_center", unit=by_unit, description="bin centre"
                ),
                MaskedColumn(
                    self.n_stars, name="n_stars", dtype=np.int64, description="stars in the bin"
                ),
                column("slope", values("slope"), slope_unit, "posterior median of m"),
                column("slope_err", values("slope_err"), slope_unit, "posterior std of m"),
                column("intercept", values("intercept"), y_unit, "posterior median of b"),
                column("intercept_err", values("intercept_err"), y_unit, "posterior std of b"),
                column(
                    "scatter",
                    values("scatter"),
                    y_unit,
                    f"posterior median of lambda ({self.scatter} scatter)",
                ),
                column("scatter_err", values("scatter_err"), y_unit, "posterior std of lambda"),
                column(
                    "acceptance_fraction",
                    values("acceptance_fraction"),
                    None,
                    "mean acceptance fraction of the walkers",
                ),
                column(
                    "autocorr_time",
                    tau,
                    None,
                    "emcee integrated autocorrelation time of (m, b, lambda), steps",
                ),
            ]
        )
        kw = self.fit_kwargs
        n_steps = int(kw.get("n_steps", 1000))
        t.meta.update(
            {
                "method": (
                    "straight line with intrinsic scatter, errors in x and y; marginalised "
                    "likelihood of Hogg, Bovy & Lang (2010) with v = (-m, 1) unnormalised "
                    "(Hawkins 2023 Eq. 4); emcee"
                ),
                "scatter_model": self.scatter,
                "priors": {
                    name: list(v)
                    for name, v in zip(
                        PARAM_NAMES, priors_box(kw.get("priors")).reshape(3, 2).tolist()
                    )
                },
                "n_walkers": int(kw.get("n_walkers", 10)),
                "n_steps": n_steps,
                "burn": int(kw["burn"]) if kw.get("burn") is not None else n_steps // 2,
                "seed": kw.get("seed") if isinstance(kw.get("seed"), (int, np.integer)) else None,
                "min_stars": self.min_stars,
                "bins": "half-open [bin_lo, bin_hi)",
                "n_omitted": data.n_omitted,
                "n_outside_bins": int(len(data) - self.n_stars.sum()),
                "autocorr_warnings": {
                    f"[{lo[k]:g}, {hi[k]:g})": r.autocorr_warning
                    for k, r in sorted(self.results.items())
                    if r.autocorr_warning
                },
            }
        )
        return t


def _warn_autocorr(tables, stacklevel=3):
    short = []
    for name, t in tables:
        short += [f"{name}{b}" for b in t.meta["autocorr_warnings"]]
    if short:
        warnings.warn(
            f"emcee: the chains of {len(short)} bin(s) ({', '.join(short)}) are "
            f"shorter than 50 autocorrelation times; the fits are kept and the "
            f"rough estimates are in the autocorr_time column (messages in "
            f"meta['autocorr_warnings'])",
            AutocorrWarning,
            stacklevel=stacklevel,
        )


def fit_binned(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    x_err: npt.ArrayLike,
    y_err: npt.ArrayLike,
    by: npt.ArrayLike,
    edges: npt.ArrayLike,
    *,
    min_stars: int = paper.MIN_STARS,
    n_jobs: int | None = None,
    xy_cov: npt.ArrayLike | None = None,
    nan_policy: str = "raise",
    **fit_kwargs: Any,
) -> Table:
    """Fit a line with scatter in each bin of ``by`` (the paper's Tables 1 and 2).

    Parameters
    ----------
    x, y, x_err, y_err, xy_cov, nan_policy
        As :func:`fit_line` (rows with NaN or inf in ``by`` count too).
    by : array_like or Quantity, shape (N,)
        The binning variable (|Z| for Table 1, R for Table 2).
    edges : array_like or Quantity
        Strictly increasing bin edges; bins are half-open [lo, hi), stars
        outside [edges[0], edges[-1]) are in no bin.  A Quantity when ``by``
        is one (converted to ``by``'s unit), plain numbers when ``by`` is
        plain (mixing the two raises ``astropy.units.UnitTypeError``, as
        comparing a Quantity with a plain number does in astropy).
    min_stars : int
        Bins with fewer stars are not fitted; they stay in the table with
        their ``n_stars`` and masked fit values (docs/method.md section 5: 500).
    n_jobs : int, -1 or None
        Bins fitted at once, in worker processes (forkserver), each on
        ``cpus // n_jobs`` OpenMP threads (threads would convoy on the GIL that
        emcee's Python holds for half of each fit; see
        :mod:`fastgrad.fitting.workers`).  None: one bin at a time in this
        process; -1: one process per CPU when the work is large enough to pay
        for starting them.  The workers
        exit with the calling process however it ends (SIGKILL included) and
        do not re-run the caller's ``__main__``, so a script needs no
        ``if __name__ == "__main__":`` guard (except on Windows, which has no
        forkserver).
    **fit_kwargs
        ``scatter, priors, n_walkers, n_steps, burn, seed, n_threads,
        progress`` of :func:`fit_line`.  Each bin gets its own seed spawned
        from ``seed``, so the results do not depend on ``n_jobs``.

    Returns
    -------
    astropy.table.Table
        One row per bin: ``bin_lo, bin_hi, bin_center, n_stars, slope,
        slope_err, intercept, intercept_err, scatter, scatter_err,
        acceptance_fraction, autocorr_time``; the columns carry the units of
        the inputs where they are Quantities (``by``'s for the bins, y/x for
        the slope, y's for the intercept and the scatter), none for plain
        arrays; the settings and counts in ``meta``.

    Raises
    ------
    ValueError
        As :func:`fit_line`, naming the argument and rows (``by`` included);
        :class:`fastgrad.errors.InputError` when no star falls in any bin
        (often a unit mistake) or a bin's walkers cannot start;
        TypeError for a float count (``min_stars``, ``n_jobs``, ...).
    SamplingError
        A bin's chain never moved; the message names the bin.

    Warns
    -----
    AutocorrWarning
        Once, naming the bins whose chains are too short for a reliable
        autocorrelation time.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from fastgrad.fitting.binned import fit_binned
    >>> rng = np.random.default_rng(2)
    >>> R, absz = rng.uniform(6.0, 12.0, 3000), rng.uniform(0.0, 1.0, 3000)  # kpc
    >>> feh = 0.5 - (0.07 - 0.04 * absz) * R + rng.normal(0.0, 0.1, R.size)  # flatter with |Z|
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # AutocorrWarning: short chains
    ...     t = fit_binned(R, feh, np.full(3000, 0.2), np.full(3000, 0.05), absz, [0.0, 0.5, 1.0],
    ...                    min_stars=500, n_walkers=8, n_steps=200, seed=1)
    >>> for row in t:  # injected -0.06 and -0.04 dex/kpc at the bin centres
    ...     print(f"|Z| {row['bin_lo']:.1f}-{row['bin_hi']:.1f}: {row['slope']:.4f} +- {row['slope_err']:.4f}")
    |Z| 0.0-0.5: -0.0572 +- 0.0016
    |Z| 0.5-1.0: -0.0385 +- 0.0017
    """
    n_threads = fit_kwargs.get("n_threads")
    plan = BinPlan(
        x,
        y,
        x_err,
        y_err,
        by,
        edges,
        min_stars=min_stars,
        xy_cov=xy_cov,
        nan_policy=nan_policy,
        fit_kwargs=fit_kwargs,
    )
    run_plans([plan], n_jobs, n_threads)
    table = plan.table()
    _warn_autocorr([("", table)])
    return table


#: fit_tables' keywords before issue 13: both hold the bins of a table
#: (radial_edges Table 1's |Z| bins, vertical_edges Table 2's R bins)
_OLD_EDGE_KEYWORDS = {"radial_edges": "absz_edges", "vertical_edges": "R_edges"}


def _edge_keywords(absz_edges, R_edges, fit_kwargs):
    """The bin edges and the names the messages use, taking the deprecated
    ``radial_edges``/``vertical_edges`` out of ``fit_kwargs`` (FutureWarning)."""
    given = {"absz_edges": absz_edges, "R_edges": R_edges}
    names = {"absz_edges": "absz_edges", "R_edges": "R_edges"}
    for old, new in _OLD_EDGE_KEYWORDS.items():
        if old not in fit_kwargs:
            continue
        if given[new] is not None:
            raise TypeError(f"fit_tables: got both {new}= and its deprecated name {old}=")
        warnings.warn(
            f"fit_tables({old}=...) is deprecated; use {new}= (the same bins)",
            FutureWarning,
            stacklevel=3,
        )
        given[new], names[new] = fit_kwargs.pop(old), old
    if given["absz_edges"] is None:
        given["absz_edges"] = paper.TABLE1_EDGES
    if given["R_edges"] is None:
        given["R_edges"] = paper.TABLE2_EDGES
    return given["absz_edges"], given["R_edges"], names["absz_edges"], names["R_edges"]


def fit_tables(
    R: npt.ArrayLike,
    z: npt.ArrayLike,
    feh: npt.ArrayLike,
    R_err: npt.ArrayLike,
    z_err: npt.ArrayLike,
    feh_err: npt.ArrayLike,
    *,
    absz_edges: npt.ArrayLike | None = None,
    R_edges: npt.ArrayLike | None = None,
    min_stars: int = paper.MIN_STARS,
    n_jobs: int | None = None,
    nan_policy: str = "raise",
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
    return_fits: bool = False,
    radial_fits: Mapping[Any, tuple[float, float, Any]] | None = None,
    **fit_kwargs: Any,
) -> tuple[Table, Table] | tuple[Table, Table, dict, dict] | tuple[Table, Table, dict, dict, dict]:
    """The paper's Tables 1 and 2 in one call (the bins of both in one pool).

    Table 1 (the radial gradient): [Fe/H] against R in bins of |Z|
    (``absz_edges``); Table 2 (the vertical gradient): [Fe/H] against |Z| in
    bins of R (``R_edges``), with sigma_x the Monte-Carlo standard deviation
    of R, resp. of z (docs/method.md sections 3 and 5).

    Parameters
    ----------
    R, z : array_like or Quantity
        Galactocentric cylindrical radius and height: plain numbers are kpc,
        Quantities (and Columns with a unit) are converted to kpc; |z| is
        taken here.
    feh : array_like
        [Fe/H] (dex).
    R_err, z_err, feh_err : array_like or Quantity
        Their standard deviations (kpc, kpc, dex, as R, z and feh).
    absz_edges : array_like or Quantity, optional
        Table 1's bin edges in |Z| (default :data:`fastgrad.paper.TABLE1_EDGES`);
        plain numbers are kpc, Quantities are converted to kpc.  Formerly
        ``radial_edges`` (still accepted, with a FutureWarning).
    R_edges : array_like or Quantity, optional
        Table 2's bin edges in R (default :data:`fastgrad.paper.TABLE2_EDGES`),
        kpc likewise.  Formerly ``vertical_edges`` (likewise).
    seed : int, SeedSequence, Generator or None
        Spawns one seed per table, then per bin: the tables equal those of
        two ``fit_binned`` calls with the spawned seeds.
    min_stars, n_jobs, nan_policy, **fit_kwargs
        As :func:`fit_binned`.
    return_fits : bool
        Also return each table's fits, ``{bin: LineFit}`` of the fitted bins
        (their posterior samples: Figure 3 draws Table 1's first bin).
    radial_fits : dict or None
        More fits of Table 1's line, [Fe/H] against R, fitted in the bins'
        pool while the bins are: ``{key: (lo, hi, seed)}`` fits the stars
        with ``lo <= |Z| < hi`` (kpc) with that seed and the bins' settings
        (the pipeline's |Z| < 0.3 kpc fit of the maps, docs/method.md section
        6).  Each is the LineFit of :func:`fit_line` on those stars' plain
        numbers (kpc, dex; no units) with ``seed``, the same numbers, its
        autocorrelation warning left to the caller (``autocorr_warning``);
        returned last, ``{key: LineFit}``, after the tables (and their fits
        with ``return_fits``).  An error of a bin is raised before one of
        these fits.

    Returns
    -------
    (Table, Table) or (Table, Table, dict, dict)
        The radial (Table 1) and vertical (Table 2) gradients, with units:
        bins in kpc, slope in dex / kpc, intercept and scatter in dex (so
        that ``Table.write(..., format="ascii.ecsv")`` keeps them); with
        ``return_fits``, then their LineFits by bin.

    Raises
    ------
    ValueError, TypeError, SamplingError
        As :func:`fit_binned`; the messages name fit_tables' arguments
        (``R``, ``z``, ``feh_err``, ``absz_edges``, ...), and a table with no
        star in any bin (e.g. z in pc given as plain numbers) is an
        :class:`fastgrad.errors.InputError` that suggests the unit.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from fastgrad.fitting.binned import fit_tables
    >>> rng = np.random.default_rng(3)
    >>> n = 3000
    >>> R, z = rng.uniform(6.0, 12.0, n), rng.uniform(-1.0, 1.0, n)  # kpc
    >>> feh = 0.5 - 0.06 * R - 0.2 * np.abs(z) + rng.normal(0.0, 0.1, n)  # dex
    >>> err = np.full(n, 0.05)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # AutocorrWarning: short chains
    ...     table1, table2 = fit_tables(R, z, feh, err, err, err, absz_edges=[0.0, 0.5, 1.0],
    ...                                 R_edges=[6.0, 9.0, 12.0], n_walkers=8, n_steps=200, seed=1)
    >>> [f"{s:.3f}" for s in table1["slope"]]  # d[Fe/H]/dR, injected -0.06 dex/kpc
    ['-0.060', '-0.059']
    >>> [f"{s:.3f}" for s in table2["slope"]]  # d[Fe/H]/d|Z|, injected -0.2 dex/kpc
    ['-0.201', '-0.200']
    >>> table1["slope"].unit
    Unit("dex / kpc")
    """
    absz_edges, R_edges, absz_name, R_name = _edge_keywords(absz_edges, R_edges, fit_kwargs)
    # plain numbers are kpc and dex; Quantities (and Columns with units) are
    # converted, so z in pc meets the kpc edges in kpc
    R = as_float_array("R", R, u.kpc)
    absz = as_float_array("z", z, u.kpc)
    if np.signbit(absz).any():  # else z is |Z| already (given as absz): no copy
        absz = np.abs(absz)
    R_err = as_float_array("R_err", R_err, u.kpc)
    z_err = as_float_array("z_err", z_err, u.kpc)
    feh = as_float_array("feh", feh, u.dex)
    feh_err = as_float_array("feh_err", feh_err, u.dex)
    absz_edges = as_float_array(absz_name, absz_edges, u.kpc)
    R_edges = as_float_array(R_name, R_edges, u.kpc)
    seed_radial, seed_vertical = seed_sequence(seed).spawn(2)
    units = (u.kpc, u.dex, u.kpc)
    radial = BinPlan(
        R,
        feh,
        R_err,
        feh_err,
        absz,
        absz_edges,
        min_stars=min_stars,
        xy_cov=None,
        nan_policy=nan_policy,
        fit_kwargs={**fit_kwargs, "seed": seed_radial},
        units=units,
        names={
            "x": "R",
            "y": "feh",
            "x_err": "R_err",
            "y_err": "feh_err",
            "by": "z",
            "edges": absz_name,
        },
    )
    vertical = BinPlan(
        absz,
        feh,
        z_err,
        feh_err,
        R,
        R_edges,
        min_stars=min_stars,
        xy_cov=None,
        nan_policy=nan_policy,
        fit_kwargs={**fit_kwargs, "seed": seed_vertical},
        units=units,
        names={
            "x": "z",
            "y": "feh",
            "x_err": "z_err",
            "y_err": "feh_err",
            "by": "R",
            "edges": R_name,
        },
    )
    radial.label, vertical.label = "radial table, |z| ", "vertical table, R "
    for key, (lo, hi, fit_seed) in (radial_fits or {}).items():
        radial.add_fit(key, lo, hi, fit_seed)
    run_plans([radial, vertical], n_jobs, fit_kwargs.get("n_threads"))
    tables = []
    for plan, name in ((radial, "radial"), (vertical, "vertical")):
        t = plan.table()
        t.meta["table"] = name
        t.meta["seed"] = seed if isinstance(seed, (int, np.integer)) else None
        tables.append(t)
    _warn_autocorr([("|Z| in ", tables[0]), ("R in ", tables[1])])
    out = (tables[0], tables[1])
    if return_fits:
        out += (radial.results, vertical.results)
    if radial_fits is not None:
        extra = {}
        for key in radial_fits:
            fit = radial.extra_results[key]
            fit.x_unit = fit.y_unit = None  # fit_line's of plain numbers
            extra[key] = fit
        out += (extra,)
    return out
