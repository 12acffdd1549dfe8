"""ICRS -> Galactocentric positions and velocities, nominal and Monte Carlo.

docs/method.md section 3.  The kernels (``_core.mc_transform``) reduce each star's
draws on the fly: memory stays O(N) whatever ``n_samples``.
"""

from __future__ import annotations

import copy
import functools
import sys
from typing import TYPE_CHECKING

import astropy.units as u
import numpy as np
from astropy.table import Table
from astropy.utils.masked import Masked

from ._kernels import core as _core
from ._seeds import seed64
from ._threads import threads_for
from ._validation import as_count, as_float_array, as_table, check_lengths, raise_bad_rows
from .frames import PM_TO_KMS, frame_constants, frame_metadata, get_frame

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import numpy.typing as npt
    import pandas as pd
    from astropy.coordinates import Galactocentric


__all__ = [
    "galactocentric",
    "mc_galactocentric",
    "add_galactocentric",
    "galactocentric_inputs",
    "COORD_NAMES",
    "GALACTOCENTRIC_COLUMNS",
    "GAIA_CORRELATIONS",
    "MAX_N_SAMPLES",
    "INPUT_LIMITS",
]

#: output columns, in the kernel's order, with their units
COORD_NAMES = ("x", "y", "z", "vx", "vy", "vz", "R", "phi", "absz")
COORD_UNITS = (u.kpc, u.kpc, u.kpc, u.km / u.s, u.km / u.s, u.km / u.s, u.kpc, u.rad, u.kpc)
COORD_DESCRIPTIONS = (
    "Galactocentric x (Sun at x < 0)",
    "Galactocentric y (direction of rotation at the Sun)",
    "Galactocentric z (towards the North Galactic Pole)",
    "Galactocentric v_x",
    "Galactocentric v_y",
    "Galactocentric v_z",
    "cylindrical radius sqrt(x^2 + y^2)",
    "azimuth atan2(y, -x): 0 at the Sun, growing with Galactic rotation",
    "|z|",
)

#: Gaia DR3 correlation columns used for a correlated draw, in the kernel's order
GAIA_CORRELATIONS = (
    "ra_dec_corr",
    "ra_pmra_corr",
    "ra_pmdec_corr",
    "dec_pmra_corr",
    "dec_pmdec_corr",
    "pmra_pmdec_corr",
)

_NAN_POLICIES = ("raise", "propagate")


#: Most draws per star of :func:`mc_galactocentric`.  The paper takes 1000; a
#: standard deviation from K draws has a relative sampling error of about
#: 1/sqrt(2K), 0.02 % at 10**7, so more is never needed, and one star's draws
#: (computed in one piece) stay a fraction of a second: Ctrl-C is answered
#: between stars.
MAX_N_SAMPLES = 10**7

#: Largest accepted |value| of each input (its unit as in :func:`galactocentric`),
#: far beyond any star the transform is meant for, and small enough that no
#: step of the transform can overflow.  ``distance`` (kpc): 1e5 = 100 Mpc, far
#: beyond the Local Group (a larger "distance" is 1/parallax of a parallax near
#: zero); ``ra`` (deg): one turn either way; ``pmra``/``pmdec`` (mas/yr): 1e6,
#: 100 times Barnard's star; ``radial_velocity`` (km/s): the speed of light.
#: Errors have the same bounds (``distance_error`` 1e5 kpc); ``ra_error`` and
#: ``dec_error`` (mas) at most a degree, 3.6e6 (the draws refuse more than ~4
#: arcmin anyway: :func:`mc_galactocentric`).
INPUT_LIMITS = {
    "ra": 360.0,
    "distance": 1e5,
    "pmra": 1e6,
    "pmdec": 1e6,
    "radial_velocity": 299792.458,
    "ra_error": 3.6e6,
    "dec_error": 3.6e6,
    "distance_error": 1e5,
    "pmra_error": 1e6,
    "pmdec_error": 1e6,
    "radial_velocity_error": 299792.458,
}


def _inputs(names_units, values, nan_policy):
    # masked entries (numpy masked arrays, astropy MaskedColumn and Masked
    # Quantities) arrive as NaN from as_float_array: they are missing values
    arrays = {}
    for (name, unit), value in zip(names_units, values):
        arrays[name] = as_float_array(name, value, unit)
    n = check_lengths(**arrays)
    bad = np.zeros(n, dtype=bool)
    extrema = {name: _extrema(arr) for name, arr in arrays.items()}
    for name, arr in arrays.items():
        if np.isfinite(extrema[name]).all():
            continue
        nonfinite = ~np.isfinite(arr)
        if nan_policy == "raise":
            raise_bad_rows(
                name,
                nonfinite,
                "are NaN, infinite or masked",
                "pass nan_policy='propagate' to get NaN rows instead",
            )
        bad |= nonfinite
    return arrays, n, bad, extrema


def _extrema(arr):
    """(min, max) of ``arr``, NaN when a value is NaN (numpy's min and max
    propagate it): two reductions without temporaries give both the
    finiteness and the range of an input, so the checks cost a small part of
    even the nominal transform."""
    return (arr.min(), arr.max()) if arr.size else (0.0, 0.0)


def _exceeds(arr, extrema, all_ok, ok, lo, hi):
    """Rows of ``arr`` outside [lo, hi] among ``ok``; None, from the array's
    extrema alone, when every row is valid and inside (the common case)."""
    if all_ok and lo <= extrema[0] and extrema[1] <= hi:
        return None
    with np.errstate(invalid="ignore"):
        return ok & ((arr < lo) | (arr > hi))


def _check_policy(nan_policy):
    if nan_policy not in _NAN_POLICIES:
        raise ValueError(f"nan_policy must be one of {_NAN_POLICIES}, got {nan_policy!r}")


def _check_ranges(arrays, ok, extrema):
    """Physical ranges of the inputs (rows already flagged are skipped):
    see :data:`INPUT_LIMITS`."""
    all_ok = bool(ok.all())
    bad = _exceeds(arrays["dec"], extrema["dec"], all_ok, ok, -90.0, 90.0)
    if bad is not None:
        raise_bad_rows("dec", bad, "are outside [-90, 90] deg")
    bad = _exceeds(
        arrays["distance"], extrema["distance"], all_ok, ok, np.nextafter(0.0, 1.0), np.inf
    )
    if bad is not None:
        raise_bad_rows("distance", bad, "are not positive (distance in kpc)")
    for name, limit in INPUT_LIMITS.items():
        if name not in arrays:
            continue
        bad = _exceeds(arrays[name], extrema[name], all_ok, ok, -limit, limit)
        if bad is not None:
            raise_bad_rows(
                name,
                bad,
                f"exceed {limit:g} {_UNITS[name]} in absolute value",
                _LIMIT_HINTS.get(name, "not a star of the Milky Way or its neighbours"),
            )


_UNITS = {
    "ra": "deg",
    "ra_error": "mas",
    "dec_error": "mas",
    "distance": "kpc",
    "pmra": "mas/yr",
    "pmdec": "mas/yr",
    "radial_velocity": "km/s",
    "distance_error": "kpc",
    "pmra_error": "mas/yr",
    "pmdec_error": "mas/yr",
    "radial_velocity_error": "km/s",
}
_LIMIT_HINTS = {
    "distance": "distance is in kpc (1/parallax of a parallax near zero is no distance)",
    "distance_error": "distance_error is in kpc",
    "radial_velocity": "faster than light",
    "radial_velocity_error": "faster than light",
}


def _check_output(out, ok, with_errors):
    """No row of valid input may come out non-finite (an overflow would give
    inf or NaN silently): a last guard, raising naming the rows."""
    rows = out[: 18 if with_errors else 9]
    if ok.all() and np.isfinite(np.sum(rows)):  # one pass: NaN and inf propagate
        return
    raise_bad_rows(
        "output",
        ok & ~np.isfinite(rows).all(axis=0),
        "came out non-finite from valid input (an overflow)",
        "please report this with the rows' inputs",
    )


def _ids(ids, n):
    if ids is None:
        return np.arange(n, dtype=np.uint64)
    # ids key the random streams: a masked id's fill value would silently
    # give two stars one stream, so masked ids are refused, never filled
    mask = None
    if isinstance(ids, Masked):
        mask, ids = np.asarray(ids.mask), ids.unmasked
    elif np.ma.isMaskedArray(ids) or isinstance(getattr(ids, "data", None), np.ma.MaskedArray):
        masked = ids if np.ma.isMaskedArray(ids) else ids.data
        mask, ids = np.ma.getmaskarray(masked), np.ma.getdata(masked)
    elif hasattr(ids, "to_numpy") and not isinstance(ids, np.ndarray):  # pandas
        mask = np.asarray(ids.isna())
        if mask.any():
            ids = np.zeros(len(ids), dtype=np.int64)
        else:
            ids = ids.to_numpy()
    if mask is not None:
        raise_bad_rows(
            "ids",
            np.broadcast_to(mask, np.shape(ids)).reshape(-1),
            "are masked or missing",
            "every star needs its own id (the key of its random stream)",
        )
    arr = np.asarray(ids)
    if arr.shape != (n,):
        raise ValueError(f"ids: expected shape ({n},), got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"ids: expected integers (e.g. Gaia source_id), got dtype {arr.dtype}")
    keys = np.ascontiguousarray(arr.astype(np.uint64, copy=False))
    # two stars with one id would share one random stream: their "independent"
    # draws would be identical
    order = np.argsort(keys, kind="stable")
    dup = np.zeros(n, dtype=bool)
    same = keys[order[1:]] == keys[order[:-1]]
    dup[order[1:][same]] = True
    dup[order[:-1][same]] = True
    raise_bad_rows(
        "ids", dup, "are repeated", "each star needs its own id (the key of its random stream)"
    )
    return keys


def _correlations(correlations, n, ok):
    if correlations is None:
        return np.zeros((0, 6))
    corr = np.zeros((n, 6))
    columns = getattr(correlations, "colnames", None)
    if columns is None and hasattr(correlations, "columns"):
        columns = list(correlations.columns)
    if columns is not None:  # a Table or DataFrame: take the Gaia columns it has
        keys = [k for k in GAIA_CORRELATIONS if k in columns]
    else:  # a mapping: every key must be a Gaia correlation name
        unknown = sorted(set(correlations.keys()) - set(GAIA_CORRELATIONS))
        if unknown:
            raise ValueError(f"correlations: unknown names {unknown}; use {GAIA_CORRELATIONS}")
        keys = [k for k in GAIA_CORRELATIONS if k in correlations]
    for k in keys:
        arr = as_float_array(k, correlations[k])
        if arr.shape != (n,):
            raise ValueError(f"{k}: expected {n} rows, got {arr.shape[0]}")
        nonfinite = ~np.isfinite(arr)
        arr = np.where(nonfinite, 0.0, arr)
        raise_bad_rows(k, ok & nonfinite, "are NaN, infinite or masked")
        raise_bad_rows(k, ok & (np.abs(arr) > 1.0), "are outside [-1, 1]")
        corr[:, GAIA_CORRELATIONS.index(k)] = arr
    return corr


@functools.lru_cache(maxsize=8)
def _named_frame(name):
    # a preset (None: the paper's) once per process: reading a frame's
    # parameters back from astropy costs milliseconds per call
    frame = get_frame(name)
    return frame, frame_constants(frame), frame_metadata(frame)


def _frame_parts(frame):
    """((A, t, v), metadata) of a preset name, None or a Galactocentric
    instance: see :func:`fastgrad.frames.frame_constants`."""
    if frame is None or isinstance(frame, str):
        _, consts, meta = _named_frame(frame)
        return tuple(c.copy() for c in consts), copy.deepcopy(meta)
    frame = get_frame(frame)
    return frame_constants(frame), frame_metadata(frame)


def _table(out, with_errors, frame_meta, n_samples=None, seed=None):
    # out is (18, N): each column is a contiguous row of it, taken without a copy
    cols, names, units, descs = [], [], [], []
    for j, (name, unit, desc) in enumerate(zip(COORD_NAMES, COORD_UNITS, COORD_DESCRIPTIONS)):
        cols.append(out[j])
        names.append(name)
        units.append(unit)
        descs.append(desc)
    if with_errors:
        for j, (name, unit) in enumerate(zip(COORD_NAMES, COORD_UNITS)):
            cols.append(out[9 + j])
            names.append(name + "_err")
            units.append(unit)
            descs.append(f"Monte-Carlo standard deviation of {name}")
    t = Table(cols, names=names, units=units, descriptions=descs, copy=False)
    t.meta["frame"] = frame_meta
    if n_samples is not None:
        t.meta["n_samples"] = int(n_samples)
        t.meta["seed"] = int(seed)
    return t


_DEG = np.pi / 180.0
_MAS = np.pi / (180.0 * 3600e3)


def _on_valid_rows(ok, n_rows_out, kernel, reuse=False):
    """Call ``kernel(sel, out)`` on the rows where ``ok`` holds (all rows
    without a copy when every row is valid); the others come back NaN.

    ``sel(x)`` gives x's valid rows as a contiguous array; ``out`` is the
    (n_rows_out, n_valid) array the kernel fills (``reuse``: from
    :func:`_output_buffer`).  Returns the (n_rows_out, N) result and the
    kernel's return value (None when no row is valid).
    """
    n = ok.shape[0]
    if ok.all():
        out = _output_buffer((n_rows_out, n)) if reuse else np.empty((n_rows_out, n))
        return out, kernel(lambda x: x, out)
    idx = np.flatnonzero(ok)
    out = np.full((n_rows_out, n), np.nan)
    if idx.size == 0:
        return out, None
    sub = np.empty((n_rows_out, idx.size))
    res = kernel(lambda x: np.ascontiguousarray(x[idx]), sub)
    out[:, idx] = sub
    return out, res


# The output array of the last large galactocentric() call, for the next one
# to reuse when nothing else refers to it any more (its table was dropped).
# A fresh array of this size (72 MB for 1e6 stars) comes from mmap and
# faults each page in on first touch, which cost as much as the transform
# (bench/README.md).  At most one is kept: the memory of one result.
_SPARE = []
_SPARE_MIN_BYTES = 4 << 20


def _pop_spare():
    """The spare array and its reference count as seen here (the count of an
    array nothing else refers to is measured below, the same way)."""
    buf = _SPARE.pop() if _SPARE else None
    return buf, sys.getrefcount(buf)


_SPARE.append(np.empty(0))
_FREE_REFCOUNT = _pop_spare()[1]


def _output_buffer(shape):
    """np.empty(shape), or the spare array of that shape when no table,
    column or view of it is alive (any of them holds a reference to it)."""
    buf, refs = _pop_spare()
    if buf is None or buf.shape != shape or refs != _FREE_REFCOUNT:
        buf = np.empty(shape)
    if buf.nbytes >= _SPARE_MIN_BYTES:
        _SPARE[:] = [buf]  # one at most, whatever concurrent calls did
    return buf


def _threads_for(n_rows, n_threads):
    return threads_for("transform", n_rows, n_threads)


_POSITIONAL = (
    ("ra", u.deg),
    ("dec", u.deg),
    ("distance", u.kpc),
    ("pmra", u.mas / u.yr),
    ("pmdec", u.mas / u.yr),
    ("radial_velocity", u.km / u.s),
)


def galactocentric(
    ra: npt.ArrayLike,
    dec: npt.ArrayLike,
    distance: npt.ArrayLike,
    pmra: npt.ArrayLike,
    pmdec: npt.ArrayLike,
    radial_velocity: npt.ArrayLike,
    *,
    frame: str | Galactocentric | None = None,
    nan_policy: str = "raise",
    n_threads: int | None = None,
) -> Table:
    """Galactocentric positions and velocities of stars (no uncertainties).

    Parameters
    ----------
    ra, dec : array-like or Quantity
        ICRS position, deg (|ra| <= 360, |dec| <= 90).
    distance : array-like or Quantity
        Heliocentric distance, kpc (0 < distance <= 1e5).
    pmra, pmdec : array-like or Quantity
        Proper motion mu_alpha* = mu_alpha cos(dec) and mu_delta, mas/yr
        (|pm| <= 1e6).
    radial_velocity : array-like or Quantity
        km/s (|rv| <= c).

        Inputs may be numpy masked arrays, astropy ``MaskedColumn`` or
        ``Masked`` Quantities: masked entries are missing values, treated
        as NaN (see ``nan_policy``), never as their fill value.  Booleans,
        complex numbers and dates are refused (TypeError).  Values outside
        the ranges above (:data:`INPUT_LIMITS`) raise ``ValueError`` naming
        the argument and rows.
    frame : None, str or astropy.coordinates.Galactocentric
        ``None`` is :func:`fastgrad.paper_frame`; a preset name or any
        ``Galactocentric`` instance, whose constants are read from astropy.
    nan_policy : {"raise", "propagate"}
        NaN, infinite or masked inputs raise ``ValueError`` naming the
        argument and rows, or give NaN output rows.
    n_threads : int or None
        OpenMP threads (None: OMP_NUM_THREADS or all CPUs); see
        :func:`fastgrad.effective_n_threads`.

    Returns
    -------
    astropy.table.Table
        ``x, y, z`` (kpc), ``vx, vy, vz`` (km/s), ``R`` (kpc), ``phi`` (rad,
        0 at the Sun, growing with Galactic rotation, in (-pi, pi]), ``absz``
        (kpc). ``meta['frame']`` describes the frame.

    Raises
    ------
    ValueError
        On bad input (above); also, as a last guard, when a row of valid
        input comes out non-finite.
    KeyboardInterrupt
        Ctrl-C interrupts the compiled kernel within a fraction of a second.

    Examples
    --------
    A star at Sgr A*'s position 8.27 kpc away sits at the Galactic centre; one
    1 kpc towards the anticentre at R = 8.27 + 1 kpc, 33 pc above the plane
    (the Sun's z_sun = 29 pc tilts the plane). At rest relative to the Sun,
    both move with the Sun's (12.9, 245.0, 7.78) km/s:

    >>> from fastgrad import galactocentric
    >>> t = galactocentric(
    ...     ra=[266.4051, 86.4051], dec=[-28.936175, 28.936175], distance=[8.27, 1.0],
    ...     pmra=[0.0, 0.0], pmdec=[0.0, 0.0], radial_velocity=[0.0, 0.0])
    >>> for s in t:
    ...     v = f"({s['vx']:.2f}, {s['vy']:.2f}, {s['vz']:.2f})"
    ...     print(f"R={s['R']:.3f} kpc z={s['z']:.3f} kpc v={v} km/s")
    R=0.000 kpc z=0.000 kpc v=(12.90, 245.00, 7.78) km/s
    R=9.270 kpc z=0.033 kpc v=(12.90, 245.00, 7.78) km/s
    """
    _check_policy(nan_policy)
    (A, tvec, vvec), frame_meta = _frame_parts(frame)
    a, n, bad, extrema = _inputs(
        _POSITIONAL, (ra, dec, distance, pmra, pmdec, radial_velocity), nan_policy
    )
    ok = ~bad
    _check_ranges(a, ok, extrema)

    def kernel(sel, out):
        # ra, dec in degrees: the kernel converts them (no temporary copies)
        return _core.nominal_transform(
            sel(a["ra"]),
            sel(a["dec"]),
            sel(a["distance"]),
            sel(a["pmra"]),
            sel(a["pmdec"]),
            sel(a["radial_velocity"]),
            A,
            tvec,
            vvec,
            PM_TO_KMS,
            out,
            _threads_for(out.shape[1], n_threads),
            _DEG,
        )

    out, n_bad = _on_valid_rows(ok, 9, kernel, reuse=True)
    if n_bad:  # the kernel counted stars with a non-finite output: name them
        _check_output(out, ok, False)
    return _table(out, False, frame_meta)


def mc_galactocentric(
    ra: npt.ArrayLike,
    dec: npt.ArrayLike,
    distance: npt.ArrayLike,
    pmra: npt.ArrayLike,
    pmdec: npt.ArrayLike,
    radial_velocity: npt.ArrayLike,
    *,
    ra_error: npt.ArrayLike,
    dec_error: npt.ArrayLike,
    distance_error: npt.ArrayLike,
    pmra_error: npt.ArrayLike,
    pmdec_error: npt.ArrayLike,
    radial_velocity_error: npt.ArrayLike,
    n_samples: int = 1000,
    frame: str | Galactocentric | None = None,
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
    correlations: Mapping[str, npt.ArrayLike] | Table | None = None,
    ids: npt.ArrayLike | None = None,
    nan_policy: str = "raise",
    n_threads: int | None = None,
) -> Table:
    """Galactocentric coordinates with Monte-Carlo uncertainties (docs/method.md section 3).

    Each star's observables are drawn ``n_samples`` times from normals around
    the central values and transformed; the kernel keeps only running sums per
    star (O(N) memory). The central values' transform is returned with the
    draws' standard deviations.

    Parameters
    ----------
    ra, dec, distance, pmra, pmdec, radial_velocity :
        As in :func:`galactocentric` (deg, deg, kpc, mas/yr, mas/yr, km/s).
    ra_error, dec_error : array-like or Quantity
        mas, as Gaia gives them: ``ra_error`` is sigma(ra cos dec).
    distance_error : array-like or Quantity
        kpc, e.g. (r_hi_geo - r_lo_geo) / 2 of Bailer-Jones (2021).
        Distance draws <= 0 are redrawn (a normal truncated at zero).
    pmra_error, pmdec_error : mas/yr.  radial_velocity_error : km/s.
        All errors finite and >= 0 (0 holds a quantity fixed), and at most
        the bounds of :data:`INPUT_LIMITS` (those of the values; ra_error,
        dec_error 3.6e6 mas); masked errors count as NaN.
    n_samples : int
        Draws per star (the paper: 1000), an int in [2, :data:`MAX_N_SAMPLES`
        = 10**7]; a float (even 1000.0) is a TypeError.
    seed : None, int in [0, 2**64), numpy SeedSequence or Generator
        Same seed, same numbers, whatever ``n_threads``; other ints are a
        ValueError (never wrapped).
    correlations : mapping or Table, optional
        Gaia DR3 correlation coefficients among ra, dec, pmra, pmdec
        (``ra_dec_corr``, ``ra_pmra_corr``, ``ra_pmdec_corr``,
        ``dec_pmra_corr``, ``dec_pmdec_corr``, ``pmra_pmdec_corr``; any
        subset, absent ones are 0) for a correlated draw.
    ids : integer array, optional
        Keys of the stars' random streams (e.g. Gaia ``source_id``): results do
        not depend on row order or partitioning. Default: the row index.
        Masked, missing or repeated ids are refused (ValueError naming ``ids``
        and the rows): two stars with one id would get the same draws.
    frame, nan_policy, n_threads :
        As in :func:`galactocentric`.

    Returns
    -------
    astropy.table.Table
        The columns of :func:`galactocentric` plus ``x_err ... absz_err``, the
        Monte-Carlo standard deviations in the same units (``phi_err`` from
        the wrapped azimuth differences, so no jump at phi = +-pi).

    Raises
    ------
    ValueError, TypeError
        As :func:`galactocentric`, and for the errors, ``n_samples``,
        ``seed``, ``ids`` and ``correlations`` above.
    KeyboardInterrupt
        Ctrl-C interrupts the compiled kernel between stars, within a
        fraction of a second.

    Examples
    --------
    A 0.1 kpc distance error towards the anticentre becomes a ~0.1 kpc error
    in R (the Monte-Carlo standard deviation of 1000 draws):

    >>> from fastgrad import mc_galactocentric
    >>> t = mc_galactocentric(
    ...     [86.4051], [28.936175], [1.0], [0.0], [0.0], [0.0],
    ...     ra_error=[0.0], dec_error=[0.0], distance_error=[0.1],
    ...     pmra_error=[0.0], pmdec_error=[0.0], radial_velocity_error=[0.0],
    ...     n_samples=1000, seed=1)
    >>> print(f"R = {t['R'][0]:.3f} +- {t['R_err'][0]:.3f} kpc")
    R = 9.270 +- 0.098 kpc
    """
    _check_policy(nan_policy)
    (A, tvec, vvec), frame_meta = _frame_parts(frame)
    n_samples = as_count("n_samples", n_samples, minimum=2, maximum=MAX_N_SAMPLES)
    err_spec = (
        ("ra_error", u.mas),
        ("dec_error", u.mas),
        ("distance_error", u.kpc),
        ("pmra_error", u.mas / u.yr),
        ("pmdec_error", u.mas / u.yr),
        ("radial_velocity_error", u.km / u.s),
    )
    a, n, bad, extrema = _inputs(
        _POSITIONAL + err_spec,
        (
            ra,
            dec,
            distance,
            pmra,
            pmdec,
            radial_velocity,
            ra_error,
            dec_error,
            distance_error,
            pmra_error,
            pmdec_error,
            radial_velocity_error,
        ),
        nan_policy,
    )
    ok = ~bad
    _check_ranges(a, ok, extrema)
    for name, _ in err_spec:
        raise_bad_rows(name, ok & (a[name] < 0.0), "are negative (errors must be >= 0)")
    corr = _correlations(correlations, n, ok)
    seed = seed64(seed)
    ids = _ids(ids, n)

    def kernel(sel, out):
        status = np.zeros(out.shape[1], dtype=np.int8)
        _core.mc_transform(
            sel(a["ra"]) * _DEG,
            sel(a["dec"]) * _DEG,
            sel(a["distance"]),
            sel(a["pmra"]),
            sel(a["pmdec"]),
            sel(a["radial_velocity"]),
            sel(a["ra_error"]) * _MAS,
            sel(a["dec_error"]) * _MAS,
            sel(a["distance_error"]),
            sel(a["pmra_error"]),
            sel(a["pmdec_error"]),
            sel(a["radial_velocity_error"]),
            corr if corr.shape[0] == 0 else sel(corr),
            sel(ids),
            A,
            tvec,
            vvec,
            PM_TO_KMS,
            int(n_samples),
            np.uint64(seed),
            out,
            status,
            _threads_for(out.shape[1], n_threads),
        )
        return status

    out, sub_status = _on_valid_rows(ok, 18, kernel)
    status = np.zeros(n, dtype=np.int8)
    if sub_status is not None:
        status[ok] = sub_status
    raise_bad_rows(
        "ra_error/dec_error",
        status == 2,
        "exceed ~4 arcmin (2.4e5 mas / cos dec): not astrometric errors",
        "ra_error and dec_error are in mas",
    )
    raise_bad_rows(
        "correlations", status == 1, "give a covariance that is not positive semi-definite"
    )
    _check_output(out, ok, True)
    return _table(out, True, frame_meta, n_samples, seed)


# ---------------------------------------------------------------------------
# Table-level step
# ---------------------------------------------------------------------------

#: The 18 columns :func:`add_galactocentric` adds, in the kernel's order:
#: ``x``, ..., ``absz`` then their Monte-Carlo standard deviations ``x_err``, ..., ``absz_err``.
GALACTOCENTRIC_COLUMNS = COORD_NAMES + tuple(c + "_err" for c in COORD_NAMES)

#: The canonical Gaia DR3 columns the Monte Carlo reads besides the radial
#: velocity, its error and the ids (units of :func:`mc_galactocentric`).
_MC_INPUTS = (
    "ra",
    "dec",
    "distance",
    "pmra",
    "pmdec",
    "ra_error",
    "dec_error",
    "distance_error",
    "pmra_error",
    "pmdec_error",
)


def galactocentric_inputs(
    colnames: Sequence[str] = (),
    *,
    radial_velocity: str = "radial_velocity",
    radial_velocity_error: str = "radial_velocity_error",
    correlations: bool | None = None,
    ids: str | None = "source_id",
) -> list[str]:
    """The columns :func:`add_galactocentric` reads from a table.

    Parameters
    ----------
    colnames : sequence of str
        The table's columns; with ``correlations=None`` the Gaia ``*_corr``
        columns among them are used.
    radial_velocity, radial_velocity_error, correlations, ids :
        As in :func:`add_galactocentric`.

    Returns
    -------
    list of str
        ``ra, dec, distance, pmra, pmdec``, the radial velocity, the errors,
        the correlation columns used and the id column, in that order: what an
        engine (:mod:`fastgrad.engine`) sends to the step.

    Examples
    --------
    >>> from fastgrad.transform import galactocentric_inputs
    >>> galactocentric_inputs(["ra", "dec", "ra_dec_corr", "pmra_pmdec_corr"])
    ['ra', 'dec', 'distance', 'pmra', 'pmdec', 'ra_error', 'dec_error', 'distance_error',
     'pmra_error', 'pmdec_error', 'radial_velocity', 'radial_velocity_error', 'ra_dec_corr',
     'pmra_pmdec_corr', 'source_id']
    """
    if correlations is None:
        corr = [c for c in GAIA_CORRELATIONS if c in colnames]
    else:
        corr = list(GAIA_CORRELATIONS) if correlations else []
    return [
        *_MC_INPUTS,
        radial_velocity,
        radial_velocity_error,
        *corr,
        *([ids] if ids is not None else []),
    ]


def add_galactocentric(
    table: Table | pd.DataFrame,
    *,
    n_samples: int = 1000,
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
    frame: str | Galactocentric | None = None,
    radial_velocity: str = "radial_velocity",
    radial_velocity_error: str = "radial_velocity_error",
    correlations: bool | None = None,
    ids: str | None = "source_id",
    nan_policy: str = "raise",
    n_threads: int | None = None,
    copy: bool = True,
) -> Table:
    """Add Monte-Carlo Galactocentric coordinates to a catalogue (docs/method.md section 3).

    The Table -> Table form of :func:`mc_galactocentric`, the one step both
    engines of :mod:`fastgrad.engine` map (over one table or over Dask
    partitions: each star's stream is keyed by its id, so the numbers do not
    depend on how the rows are split).

    Parameters
    ----------
    table : astropy.table.Table or pandas.DataFrame
        With the canonical Gaia DR3 columns: ``ra, dec`` (deg), ``distance``
        (kpc, as :func:`fastgrad.add_distances` writes it), ``pmra, pmdec``
        (mas/yr), their errors ``ra_error, dec_error`` (mas),
        ``distance_error`` (kpc), ``pmra_error, pmdec_error`` (mas/yr); the
        radial velocity and its error (km/s) and the integer ids. Columns
        with units are converted; bare numbers are taken in those units.
    n_samples, seed, frame, nan_policy, n_threads :
        As in :func:`mc_galactocentric`.
    radial_velocity, radial_velocity_error : str
        The radial-velocity columns (the LAMOST stars: ``"rv", "rv_err"``).
    correlations : None or bool
        ``None``: draw from the Gaia covariance with the ``*_corr`` columns
        (:data:`GAIA_CORRELATIONS`) the table has; ``True``: all six are
        required; ``False``: uncorrelated draws.
    ids : str or None
        The id column keying each star's random stream (``None``: the row
        number, which makes the numbers depend on the row order).
    copy : bool
        ``False`` adds the columns to ``table`` itself (an astropy Table).

    Returns
    -------
    astropy.table.Table
        ``table`` with :data:`GALACTOCENTRIC_COLUMNS` added (units as in
        :func:`mc_galactocentric`); ``meta["galactocentric"]`` holds the
        frame, ``n_samples`` and ``seed``.

    Raises
    ------
    fastgrad.schema.MissingColumnsError
        A column is missing (all of them named).
    ValueError, TypeError
        As :func:`mc_galactocentric`.

    Examples
    --------
    >>> import fastgrad
    >>> s = fastgrad.make_survey("gaia_giants", 500, seed=1)
    >>> stars = fastgrad.add_distances(fastgrad.join_distances(s["gaia"], s["bailer_jones"]))
    >>> t = fastgrad.add_galactocentric(stars, n_samples=100, seed=1)
    >>> for row in t[:2]:
    ...     r, r_err, absz = row["R"], row["R_err"], row["absz"]
    ...     print(f"{row['source_id']}: R = {r:.3f} +- {r_err:.3f} kpc, |Z| = {absz:.3f} kpc")
    160917155223302: R = 7.293 +- ... kpc, |Z| = ... kpc
    14016635170426578: R = 6.751 +- ... kpc, |Z| = ... kpc
    >>> t.meta["galactocentric"]["n_samples"], t.meta["galactocentric"]["frame"]["preset"]
    (100, 'hawkins2023')
    """
    from .schema import MissingColumnsError

    if copy is False and not isinstance(table, Table):
        raise TypeError("add_galactocentric: copy=False needs an astropy Table")
    table = as_table("table", table)
    needed = galactocentric_inputs(
        table.colnames,
        radial_velocity=radial_velocity,
        radial_velocity_error=radial_velocity_error,
        correlations=correlations,
        ids=ids,
    )
    missing = [c for c in needed if c not in table.colnames]
    if missing:
        raise MissingColumnsError(f"add_galactocentric: column(s) {missing} missing", missing)
    corr = {c: table[c] for c in needed if c in GAIA_CORRELATIONS}
    gc = mc_galactocentric(
        table["ra"],
        table["dec"],
        table["distance"],
        table["pmra"],
        table["pmdec"],
        table[radial_velocity],
        ra_error=table["ra_error"],
        dec_error=table["dec_error"],
        distance_error=table["distance_error"],
        pmra_error=table["pmra_error"],
        pmdec_error=table["pmdec_error"],
        radial_velocity_error=table[radial_velocity_error],
        n_samples=n_samples,
        frame=frame,
        seed=seed,
        correlations=corr or None,
        ids=table[ids] if ids is not None else None,
        nan_policy=nan_policy,
        n_threads=n_threads,
    )
    out = Table(table, copy=False) if copy else table
    for name in gc.colnames:
        out[name] = gc[name]
    out.meta["galactocentric"] = dict(gc.meta)
    return out
