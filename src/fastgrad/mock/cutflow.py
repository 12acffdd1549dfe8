"""The mock's final sample: fastgrad's own cuts applied to the mock's columns.

The counts in ``meta["truth"]["counts"]`` and the stars behind the truth
tables (``in_final``) come from the cut presets the pipeline applies
(:data:`fastgrad.catalogs.CUT_PRESETS`: ``"lamost_hot_stars"``,
``"gaia_giants"``, ``"astrometric"``; :data:`fastgrad.populations.HALO_CUT`),
evaluated by :func:`fastgrad.catalogs.evaluate_cuts` on Tables of the mock's
own columns, so the truth follows any change to a threshold or a cut
(docs/method.md sections 2 and 4).  Only the two joins are answered from the
truth: which LAMOST star has its Gaia counterpart within the match radius
(:data:`fastgrad.paper.CROSSMATCH_RADIUS_ARCSEC`), which giant has a
Bailer-Jones distance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from astropy.table import Table

from .. import paper
from ..cuts import HALO_CUT, Cut, evaluate_cuts, get_cuts
from ..populations import kinematic_probabilities
from .columns import BAILER_JONES_COLUMNS, GAIA_GIANT_COLUMNS, LAMOST_COLUMNS, table

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from astropy.coordinates import Galactocentric


__all__ = [
    "NOMINAL_ROWS",
    "LAMOST_COUNT_AFTER",
    "truth_cut",
    "preset_steps",
    "count_cuts",
    "nominal_coordinates",
    "halo_probability",
    "lamost_final_sample",
    "giant_final_sample",
]

#: the rows of :func:`nominal_coordinates`' (9, n) array
NOMINAL_ROWS = ("x", "y", "z", "vx", "vy", "vz", "R", "phi", "absz")

#: the count keys of the LAMOST spectroscopic cuts: each is taken after the cut
#: it is keyed by; the rest of the preset closes ``after_finite_and_errors``
LAMOST_COUNT_AFTER = {
    "logg_range": "after_logg",
    "vsini_nonnegative": "after_vsini",
    "teff_min": "after_teff",
    "snr_min": "after_snr",
    "chi2ratio_max": "after_chi2ratio",
}

_RADIUS = f"{paper.CROSSMATCH_RADIUS_ARCSEC:g} arcsec"
_BJ_DISTANCES = BAILER_JONES_COLUMNS[1:]  # r_med_geo, r_lo_geo, r_hi_geo
_PARALLAX_OVER_ERROR = tuple(c for c in GAIA_GIANT_COLUMNS if c[0] == "parallax_over_error")


def _truth_column(column):
    def keep(t):
        return np.asarray(t[column], dtype=bool)

    return keep


def truth_cut(name: str, column: str, description: str) -> Cut:
    """A :class:`fastgrad.catalogs.Cut` keeping the rows whose boolean
    ``column`` is True: a step the mock answers from its truth (a join)."""
    return Cut(name, description, "fastgrad.mock's truth", (column,), _truth_column(column))


def preset_steps(
    preset: str, count_after: Mapping[str, str], last_key: str
) -> list[tuple[str, tuple[Cut, ...]]]:
    """The cuts of ``preset`` as consecutive ``(count key, cuts)`` steps.

    A step ends after each cut named in ``count_after`` (cut name -> count
    key); the cuts after the last of them form a final step ``last_key``, so
    every cut of the preset is applied whatever it holds.  A name in
    ``count_after`` the preset lacks raises ValueError.
    """
    cuts = get_cuts(preset)
    unknown = sorted(set(count_after) - {c.name for c in cuts})
    if unknown:
        raise ValueError(f"preset {preset!r} has no cut(s) {unknown}")
    steps, group = [], []
    for cut in cuts:
        group.append(cut)
        if cut.name in count_after:
            steps.append((count_after[cut.name], tuple(group)))
            group = []
    if group:
        steps.append((last_key, tuple(group)))
    return steps


def count_cuts(
    t: Table, steps: Sequence[tuple[str, str | Cut | Sequence[str | Cut]]]
) -> tuple[np.ndarray, dict[str, int]]:
    """Apply the cuts of ``steps`` (a sequence of ``(count key, cuts)``) to the
    Table ``t`` in order, by :func:`fastgrad.catalogs.evaluate_cuts`.

    Returns the rows that survive them all (bool ndarray) and ``{count key:
    rows left after the step}``.
    """
    cuts, ends = [], {}
    for key, group in steps:
        cuts.extend(get_cuts(group))
        ends[len(cuts) - 1] = key
    alive, counts, _ = evaluate_cuts(t, get_cuts(cuts), what="mock catalogue")
    out = {
        ends[i]: n_before - n_removed
        for i, (_, n_before, n_removed, _) in enumerate(counts)
        if i in ends
    }
    return alive, out


def nominal_coordinates(
    ra: np.ndarray,
    dec: np.ndarray,
    dist_kpc: np.ndarray,
    pmra: np.ndarray,
    pmdec: np.ndarray,
    rv: np.ndarray,
    frame: Galactocentric,
    ok: np.ndarray,
) -> np.ndarray:
    """The nominal transform of the observed central values (as the pipeline
    makes it, :func:`fastgrad.transform.galactocentric`), rows ``ok`` only
    (NaN elsewhere): a (9, n) array of :data:`NOMINAL_ROWS` in kpc, km/s, rad."""
    from ..transform import galactocentric

    out = np.full((9, ra.size), np.nan)
    if ok.any():
        # one thread: a serial transform is quick at mock sizes, and no thread pool to start
        t = galactocentric(
            ra[ok], dec[ok], dist_kpc[ok], pmra[ok], pmdec[ok], rv[ok], frame=frame, n_threads=1
        )
        for j, c in enumerate(NOMINAL_ROWS):
            out[j, ok] = t[c]
    return out


def halo_probability(xy_gc: np.ndarray, vxyz_gc: np.ndarray, frame: Galactocentric) -> np.ndarray:
    """P(halo) of docs/method.md section 4 (:func:`fastgrad.populations.
    kinematic_probabilities`, Bensby 2003, in each star's own frame) from
    Galactocentric positions x, y (kpc) and velocities (km/s)."""
    return np.asarray(
        kinematic_probabilities(*vxyz_gc, x=xy_gc[0], y=xy_gc[1], frame=frame)["p_halo"]
    )


def _halo_step(keep, nominal, frame, counts):
    """``keep`` narrowed by :data:`fastgrad.populations.HALO_CUT` at the
    nominal velocities; records ``counts["final"]``."""
    p_halo = halo_probability(nominal[0:2], nominal[3:6], frame)
    alive, halo_counts = count_cuts(
        Table({"p_halo": p_halo[keep]}, copy=False), [("final", [HALO_CUT])]
    )
    keep = keep.copy()
    keep[np.flatnonzero(keep)] = alive
    counts.update(halo_counts)
    return keep


def lamost_final_sample(
    lamost: Mapping[str, np.ndarray],
    gaia: Mapping[str, np.ndarray],
    bj: Mapping[str, np.ndarray],
    matched: np.ndarray,
    frame: Galactocentric,
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """The LAMOST stars that survive the paper's cuts, in order.

    Parameters
    ----------
    lamost : dict of ndarray
        The LAMOST table's columns (:data:`fastgrad.mock.LAMOST_COLUMNS`), one
        row per candidate.
    gaia, bj : dict of ndarray
        Each candidate's Gaia and Bailer-Jones columns (aligned with ``lamost``).
    matched : bool ndarray
        The candidate's true Gaia counterpart lies within the 2" match radius.
    frame : astropy.coordinates.Galactocentric

    Returns
    -------
    keep : bool ndarray
        The final sample.
    nominal : ndarray
        :func:`nominal_coordinates` of the stars left by the astrometric cuts.
    counts : dict
        ``candidates``, rows left after each step, ``final``.
    """
    data = {
        **lamost,
        "parallax_over_error": gaia["parallax_over_error"],
        **{name: bj[name] for name, _, _ in _BJ_DISTANCES},
        "has_gaia_match": matched,
    }
    spec = (
        LAMOST_COLUMNS
        + _PARALLAX_OVER_ERROR
        + _BJ_DISTANCES
        + (("has_gaia_match", None, f"true counterpart within {_RADIUS}"),)
    )
    steps = preset_steps("lamost_hot_stars", LAMOST_COUNT_AFTER, "after_finite_and_errors")
    steps += [
        (
            "after_crossmatch",
            [
                truth_cut(
                    "crossmatch",
                    "has_gaia_match",
                    "keep the stars whose true Gaia counterpart "
                    f"lies within the {_RADIUS} match radius",
                )
            ],
        ),
        ("after_astrometric", "astrometric"),
    ]
    n = len(matched)
    keep, counts = count_cuts(table(spec, data), steps)
    counts = {"candidates": n, **counts}
    nominal = nominal_coordinates(
        gaia["ra"],
        gaia["dec"],
        bj["r_med_geo"] / 1e3,
        gaia["pmra"],
        gaia["pmdec"],
        lamost["rv"],
        frame,
        keep,
    )
    keep = _halo_step(keep, nominal, frame, counts)
    counts["note"] = (
        "fastgrad's cuts (fastgrad.cuts presets lamost_hot_stars, "
        "astrometric; fastgrad.populations.HALO_CUT) on the mock's columns, "
        f"in order; crossmatch: the true counterpart within {_RADIUS}"
    )
    return keep, nominal, counts


def giant_final_sample(
    gaia: Mapping[str, np.ndarray],
    bj: Mapping[str, np.ndarray],
    has_bj: np.ndarray,
    frame: Galactocentric,
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """The Gaia giants that survive the paper's cuts, in order.

    ``gaia``: the Gaia table's columns (:data:`fastgrad.mock.GAIA_GIANT_COLUMNS`),
    ``bj``: each star's Bailer-Jones columns, ``has_bj``: the star has a
    Bailer-Jones row.  Returns ``keep``, ``nominal`` and ``counts`` as
    :func:`lamost_final_sample`.
    """
    data = {**gaia, **{name: bj[name] for name, _, _ in _BJ_DISTANCES}, "has_bailer_jones": has_bj}
    spec = (
        GAIA_GIANT_COLUMNS
        + _BJ_DISTANCES
        + (("has_bailer_jones", None, "a Bailer-Jones distance exists"),)
    )
    steps = preset_steps("gaia_giants", {}, "after_teff_logg")
    steps += distance_and_astrometric_steps()
    keep, counts = count_cuts(table(spec, data), steps)
    counts = {"candidates": len(has_bj), **counts}
    nominal = nominal_coordinates(
        gaia["ra"],
        gaia["dec"],
        bj["r_med_geo"] / 1e3,
        gaia["pmra"],
        gaia["pmdec"],
        gaia["radial_velocity"],
        frame,
        keep,
    )
    keep = _halo_step(keep, nominal, frame, counts)
    counts["note"] = (
        "fastgrad's cuts (fastgrad.cuts presets gaia_giants, astrometric; "
        "fastgrad.populations.HALO_CUT) on the mock's columns, in order"
    )
    return keep, nominal, counts


def distance_and_astrometric_steps() -> list:
    """The truth's steps after a giants sample's first cuts (``count_cuts``
    form): the Bailer-Jones distance match (``has_bailer_jones``), then the
    astrometric cuts (docs/method.md sections 1-2)."""
    return [
        (
            "after_distance_match",
            [
                truth_cut(
                    "distance_match",
                    "has_bailer_jones",
                    "keep the stars with a Bailer-Jones distance",
                )
            ],
        ),
        ("after_astrometric", "astrometric"),
    ]
