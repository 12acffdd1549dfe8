"""A synthetic Gaia DR3 XP giants catalogue (Andrae et al. 2023 layout), block by block.

The ``xp_giants`` sample (:data:`fastgrad.samples.PRESETS`) reads three
inputs joined by ``source_id``: the XGBoost table (kind ``"xp_andrae2023"``),
Gaia DR3 ``gaia_source`` (kind ``"gaia"``) and the Bailer-Jones (2021)
distances (kind ``"bailer_jones"``).  This module makes one row per star
holding the columns of all three under the names those readers and the
``xp_giants`` / ``astrometric`` cuts expect (:data:`XP_CATALOG_COLUMNS`; the
splits of :data:`XP_INPUT_COLUMNS` are the three inputs), at survey scale
(10^7 - 10^8 stars) without ever holding the catalogue in memory:

* the catalogue is cut into blocks of ``block_size`` rows (default
  :data:`BLOCK_SIZE`); block ``b`` is drawn from
  ``numpy.random.SeedSequence(seed, spawn_key=(b,))`` alone, so any block can
  be made by any process in any order and the catalogue does not depend on
  the number of workers;
* the galaxy, its [Fe/H] model (Table 1 gradients) and the Reid (2014) arm
  pattern are the giants mock's own (:func:`fastgrad.mock.make_survey`
  ``"gaia_giants"``: :func:`fastgrad.mock.surveys._common_truth` and
  :func:`fastgrad.mock.observe.observe_gaia`); only the survey's G window is
  XP-like (G < 16.2 mag, :data:`XP_TRUTH_DEFAULTS`) and the XP parameters
  are new: ``mh_xgboost`` = true [Fe/H] + ~0.1 dex, ``teff_xgboost``,
  ``logg_xgboost`` with 2 % misclassified dwarfs (logg 3.6-4.6), 1.5 % hot
  stars (Teff 5250-6500 K) and 1 % without a metallicity, so the
  ``xp_giants`` cuts remove a few per cent; G > 16 mag stars, missing RVs
  (more often when faint), imprecise parallaxes and 0.3 % missing
  Bailer-Jones distances exercise the rest of the cut report;
* ``source_id`` is Gaia-like: the HEALPix level-12 nested index of (ra, dec)
  x 2**35 + a running number (the row's index in the catalogue), unique and
  spatially ordered as HATS/LSDB partitioning expects.

The injected truth is accumulated block by block (:class:`TruthAccumulator`):
the per-bin least-squares truth of Tables 1 and 2 from sufficient sums (the
same numbers as :func:`fastgrad.mock.truth.binned_truth` on the whole final
sample), the cut counts, and the azimuthal truth of the first
:data:`AZIMUTHAL_TRUTH_BLOCKS` blocks.

What the pipeline recovers: the G < 16.2 mag window reaches distances
where the Bailer-Jones errors approach the 30 % cut, and there the
``xp_giants`` run's Table 1 slopes come back ~2 % (0.0015 dex/kpc) steeper
than the truth (pull -7 at 3x10^5 stars, -17 at 2x10^6); with the giants'
own G < 12.5 (``truth={"survey": {"g_max_mag": 12.5}}``) they agree (pull
+0.7 at 3x10^5).  That is the method's bias on imprecise distances, not the
mock's: the cut counts before the Monte Carlo are the truth's exactly.

Units: deg (ra, dec), mas and mas/yr (astrometry), km/s, K, dex, mag, pc (the
Bailer-Jones distances), as :data:`fastgrad.schema.CANONICAL_UNITS`.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING

import numpy as np
from astropy.table import Table

from ..frames import frame_metadata, get_frame
from .columns import BAILER_JONES_COLUMNS, GAIA_COLUMNS, _with_units, table
from .cutflow import (
    _halo_step,
    count_cuts,
    distance_and_astrometric_steps,
    nominal_coordinates,
    preset_steps,
)
from .galaxy import Geometry
from .observe import bailer_jones, lognormal, observe_gaia
from .surveys import _common_truth
from .truth import (
    TABLE1_EDGES,
    TABLE2_EDGES,
    azimuthal_truth,
    expected_amplitude,
    resolve_truth,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

    from astropy.coordinates import Galactocentric


__all__ = [
    "BLOCK_SIZE",
    "SOURCE_ID_ORDER",
    "XP_TRUTH_DEFAULTS",
    "XP_CATALOG_COLUMNS",
    "XP_INPUT_COLUMNS",
    "AZIMUTHAL_TRUTH_BLOCKS",
    "xp_truth",
    "n_blocks",
    "block_rows",
    "healpix_nested",
    "make_xp_block",
    "TruthAccumulator",
    "make_xp_catalog",
]

#: rows per block: ~40 MB of columns and astropy transforms per block
BLOCK_SIZE = 100_000

#: Gaia DR3 source_id = HEALPix (nested) index at this level * 2**35 + a running number
SOURCE_ID_ORDER = 12

#: blocks whose final |Z| < 0.3 kpc stars give the azimuthal truth (the
#: annulus means need the stars together: 5 blocks = 5e5 stars)
AZIMUTHAL_TRUTH_BLOCKS = 5

#: the XP catalogue's overrides of the giants' :func:`fastgrad.mock.default_truth`:
#: Andrae et al. (2023)'s vetted giants reach G = 16 mag (the xp_giants g_max
#: cut); the window's last 0.2 mag gives that cut work
XP_TRUTH_DEFAULTS = {"survey": {"g_max_mag": 16.2}}

_XP_ONLY = _with_units(
    (
        ("phot_g_mean_mag", "Gaia G mean magnitude"),
        ("mh_xgboost", "XGBoost [M/H] from the XP spectra (Andrae et al. 2023)"),
        ("teff_xgboost", "XGBoost effective temperature"),
        ("logg_xgboost", "XGBoost surface gravity"),
    )
)

#: every column of the catalogue: (name, canonical unit, description)
XP_CATALOG_COLUMNS = GAIA_COLUMNS + _XP_ONLY + BAILER_JONES_COLUMNS[1:]

_BY_NAME = {c[0]: c for c in XP_CATALOG_COLUMNS}

#: the columns of each input of the ``xp_giants`` preset (the XGBoost table 2
#: also repeats Gaia's astrometry, RVs and G, as the archive's xgboost_table2 does)
XP_INPUT_COLUMNS = {
    "xp": tuple(
        _BY_NAME[n]
        for n in (
            "source_id",
            "ra",
            "dec",
            "phot_g_mean_mag",
            "mh_xgboost",
            "teff_xgboost",
            "logg_xgboost",
            "parallax",
            "parallax_error",
            "pmra",
            "pmra_error",
            "pmdec",
            "pmdec_error",
            "radial_velocity",
            "radial_velocity_error",
        )
    ),
    "gaia": GAIA_COLUMNS,
    "distances": BAILER_JONES_COLUMNS,
}


def xp_truth(truth: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The XP catalogue's model: the giants' :func:`fastgrad.mock.default_truth`
    with :data:`XP_TRUTH_DEFAULTS`, then the overrides ``truth`` (nested dict)."""
    over = copy.deepcopy(XP_TRUTH_DEFAULTS)
    if truth is not None:
        # resolve_truth checks every key against the giants' model
        _deep_update(over, dict(truth))
    return resolve_truth("gaia_giants", over)


def _deep_update(base, over):
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _deep_update(base[k], v)
        else:
            base[k] = copy.deepcopy(v)
    return base


def n_blocks(n_stars: int, block_size: int = BLOCK_SIZE) -> int:
    """Blocks of a catalogue of ``n_stars`` rows (the last may be short)."""
    return -(-int(n_stars) // int(block_size))


def block_rows(n_stars: int, block: int, block_size: int = BLOCK_SIZE) -> tuple[int, int]:
    """(first row, rows) of block ``block``."""
    start = int(block) * int(block_size)
    if not 0 <= start < n_stars:
        raise ValueError(f"block {block} is outside a catalogue of {n_stars} rows")
    return start, min(int(block_size), int(n_stars) - start)


# ---------------------------------------------------------------------------
# Gaia-like source_id: HEALPix nested index (pure numpy, no healpy)
# ---------------------------------------------------------------------------


def _spread_bits(v):
    """Interleave zeros between the bits of uint64 ``v`` (< 2**32)."""
    v = v.astype(np.uint64)
    v = (v | (v << np.uint64(16))) & np.uint64(0x0000FFFF0000FFFF)
    v = (v | (v << np.uint64(8))) & np.uint64(0x00FF00FF00FF00FF)
    v = (v | (v << np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    v = (v | (v << np.uint64(2))) & np.uint64(0x3333333333333333)
    v = (v | (v << np.uint64(1))) & np.uint64(0x5555555555555555)
    return v


def healpix_nested(order: int, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """HEALPix nested pixel index (int64) at ``order`` of positions ra, dec (deg).

    The standard ang2pix_nest of Gorski et al. (2005) (the HEALPix C library's
    ``ang2pix_nest_z_phi``), vectorised; tests compare it with cdshealpix.
    """
    nside = 1 << order
    ra = np.asarray(ra, dtype=float)
    z = np.sin(np.radians(np.asarray(dec, dtype=float)))
    za = np.abs(z)
    tt = np.mod(np.radians(ra) * (2.0 / np.pi), 4.0)
    face = np.empty(z.shape, dtype=np.int64)
    ix = np.empty(z.shape, dtype=np.int64)
    iy = np.empty(z.shape, dtype=np.int64)
    eq = za <= 2.0 / 3.0
    # equatorial belt: the pixel's two edge lines
    t1 = nside * (0.5 + tt[eq])
    t2 = nside * (z[eq] * 0.75)
    jp = (t1 - t2).astype(np.int64)
    jm = (t1 + t2).astype(np.int64)
    ifp, ifm = jp >> order, jm >> order
    face[eq] = np.where(ifp == ifm, ifp | 4, np.where(ifp < ifm, ifp, ifm + 8))
    ix[eq] = jm & (nside - 1)
    iy[eq] = nside - (jp & (nside - 1)) - 1
    # polar caps
    pc = ~eq
    ntt = np.minimum(3, tt[pc].astype(np.int64))
    tp = tt[pc] - ntt
    tmp = nside * np.sqrt(3.0 * (1.0 - za[pc]))
    jp = np.minimum((tp * tmp).astype(np.int64), nside - 1)
    jm = np.minimum(((1.0 - tp) * tmp).astype(np.int64), nside - 1)
    north = z[pc] >= 0
    face[pc] = np.where(north, ntt, ntt + 8)
    ix[pc] = np.where(north, nside - jm - 1, jp)
    iy[pc] = np.where(north, nside - jp - 1, jm)
    inner = _spread_bits(ix) | (_spread_bits(iy) << np.uint64(1))
    return (face << (2 * order)) + inner.astype(np.int64)


# ---------------------------------------------------------------------------
# one block
# ---------------------------------------------------------------------------


def _block_seed(seed, block):
    return np.random.SeedSequence(int(seed), spawn_key=(int(block),))


def _xp_parameters(rng, stars, g, n):
    """mh/teff/logg_xgboost (dex, K, dex): truth + XP-like errors, with
    misclassified stars and missing metallicities for the xp_giants cuts."""
    # Andrae et al. (2023): ~0.1 dex against APOGEE for the vetted giants,
    # worse when faint
    mh_err = 0.08 * lognormal(rng, 0.25, n) * 10.0 ** (0.1 * (g - 13.0))
    mh = stars["feh_true"] + mh_err * rng.normal(size=n)
    teff = stars["teff_true"] + 60.0 * rng.normal(size=n)
    logg = stars["logg_true"] + 0.12 * rng.normal(size=n)
    dwarf = rng.uniform(size=n) < 0.02
    logg = np.where(dwarf, rng.uniform(3.6, 4.6, n), logg)
    hot = rng.uniform(size=n) < 0.015
    teff = np.where(hot, rng.uniform(5250.0, 6500.0, n), teff)
    mh = np.where(rng.uniform(size=n) < 0.01, np.nan, mh)
    return mh, teff, logg


def _final_sample(cols, has_bj, frame):
    """The stars that survive the ``xp_giants`` sample's steps in order
    (xp_giants cuts, the distance join, astrometric cuts, halo cut), the
    nominal coordinates and the counts (:func:`fastgrad.mock.cutflow.count_cuts`)."""
    spec = XP_CATALOG_COLUMNS + (("has_bailer_jones", None, "a Bailer-Jones distance exists"),)
    data = {**cols, "has_bailer_jones": has_bj}
    steps = preset_steps("xp_giants", {}, "after_xp_giants")
    steps += distance_and_astrometric_steps()
    keep, counts = count_cuts(table(spec, data), steps)
    counts = {"candidates": len(has_bj), **counts}
    nominal = nominal_coordinates(
        cols["ra"],
        cols["dec"],
        cols["r_med_geo"] / 1e3,
        cols["pmra"],
        cols["pmdec"],
        cols["radial_velocity"],
        frame,
        keep,
    )
    keep = _halo_step(keep, nominal, frame, counts)
    return keep, nominal, counts


def make_xp_block(
    n_stars: int,
    block: int,
    *,
    seed: int,
    truth: Mapping[str, Any] | None = None,
    frame: str | Galactocentric | None = None,
    block_size: int = BLOCK_SIZE,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Block ``block`` of the ``n_stars``-row XP giants catalogue.

    Parameters
    ----------
    n_stars : int
        Rows of the whole catalogue (fixes the last block's size).
    block : int
        Which block: rows ``block * block_size`` to ``min(n_stars, (block + 1) * block_size)``.
    seed : int
        The catalogue's seed, in [0, 2**64); block ``b`` draws from
        ``SeedSequence(seed, spawn_key=(b,))`` only.
    truth : dict, optional
        Overrides of :func:`xp_truth` (nested dict).
    frame : str or Galactocentric, optional
        The Galactocentric frame (default the paper's).
    block_size : int

    Returns
    -------
    columns : dict of ndarray
        :data:`XP_CATALOG_COLUMNS` (canonical units; missing values NaN).
    stats : dict
        What :class:`TruthAccumulator` needs: ``counts`` (rows left after
        each step), the Tables 1/2 sufficient sums, the block's final
        |Z| < 0.3 kpc stars (nominal coordinates, noise-free [Fe/H]) and the
        rotation speed (km/s).
    """
    from .._seeds import check_int_seed

    seed = check_int_seed(seed)
    start, m = block_rows(n_stars, block, block_size)
    full = xp_truth(truth)
    frame = get_frame(frame)
    geo = Geometry(frame)
    rng = np.random.default_rng(_block_seed(seed, block))
    stars, _ = _common_truth(rng, "gaia_giants", m, full, frame, geo)
    g = stars["phot_g_mean_mag"]
    cols, eps_plx = observe_gaia(
        rng, stars["ra"], stars["dec"], stars["distance"], stars["pmra"], stars["pmdec"], g
    )
    # Gaia RVS: RVs for the brighter giants only (G_RVS < 14 is G ~< 15 for red
    # giants), and ~2 % without one anywhere
    rv_err = 0.8 + 1.2 * lognormal(rng, 0.4, m) * 10.0 ** (0.2 * (g - 12.0))
    p_no_rv = 0.02 + 0.5 * np.clip((g - 14.5) / 1.5, 0.0, 1.0)
    no_rv = rng.uniform(size=m) < p_no_rv
    cols["radial_velocity"] = np.where(no_rv, np.nan, stars["rv"] + rv_err * rng.normal(size=m))
    cols["radial_velocity_error"] = np.where(no_rv, np.nan, rv_err)
    cols["phot_g_mean_mag"] = g + 0.003 * rng.normal(size=m)
    cols["mh_xgboost"], cols["teff_xgboost"], cols["logg_xgboost"] = _xp_parameters(
        rng, stars, g, m
    )
    r_med, r_lo, r_hi = bailer_jones(rng, stars["distance"], cols["parallax_error"], eps_plx)
    has_bj = rng.uniform(size=m) >= 0.003  # a few giants lack a Bailer-Jones distance
    for name, val in (("r_med_geo", r_med), ("r_lo_geo", r_lo), ("r_hi_geo", r_hi)):
        cols[name] = np.where(has_bj, val, np.nan)
    # Gaia-like ids: level-12 pixel * 2**35 + the row's index in the catalogue
    # (< 2**35 rows), unique whatever the pixel
    pix = healpix_nested(SOURCE_ID_ORDER, cols["ra"], cols["dec"])
    cols["source_id"] = pix * np.int64(2**35) + np.arange(start, start + m, dtype=np.int64)

    keep, nominal, counts = _final_sample(cols, has_bj, frame)
    x, y, z = stars["xyz"]
    R, absz = np.hypot(x, y), np.abs(z)
    model = stars["feh_model"]
    stats = {
        "block": int(block),
        "rows": int(m),
        "counts": counts,
        "rotation_speed_kms": stars["rotation_speed_kms"],
        "table1": _bin_sums(TABLE1_EDGES, nominal[8][keep], R[keep], model[keep], 8.0),
        "table2": _bin_sums(TABLE2_EDGES, nominal[6][keep], absz[keep], model[keep], 0.0),
    }
    if block < AZIMUTHAL_TRUTH_BLOCKS:
        stats["azimuthal"] = {
            "nominal": nominal[:, keep],
            "model": model[keep],
            "R": R[keep],
            "phi": np.arctan2(y, -x)[keep],
            "absz": absz[keep],
        }
    out = {name: np.ascontiguousarray(cols[name]) for name, _, _ in XP_CATALOG_COLUMNS}
    return out, stats


def _bin_sums(edges, key, x, y, shift):
    """Per bin [lo, hi) of ``key``: n, sum x, sum y, sum x^2, sum xy of
    x - shift (shifted for precision), as a (bins, 5) float array."""
    edges = np.asarray(edges, dtype=float)
    idx = np.searchsorted(edges, key, side="right") - 1
    ok = (idx >= 0) & (idx < edges.size - 1) & np.isfinite(key)
    idx, xs, y = idx[ok], x[ok] - shift, y[ok]
    nb = edges.size - 1
    out = np.empty((nb, 5))
    for j, w in enumerate((None, xs, y, xs * xs, xs * y)):
        out[:, j] = np.bincount(idx, weights=w, minlength=nb)
    return out


def _bin_rows(edges, sums, shift):
    """The :func:`fastgrad.mock.truth.binned_truth` rows from :func:`_bin_sums`."""
    rows = []
    for (lo, hi), (n, sx, sy, sxx, sxy) in zip(zip(edges[:-1], edges[1:]), sums):
        slope = intercept = None
        if n >= 2:
            sxx_c = sxx - sx * sx / n
            if sxx_c > 0:
                slope = float((sxy - sx * sy / n) / sxx_c)
                intercept = float(sy / n - slope * (sx / n + shift))
        rows.append(
            {
                "bin_lo": float(lo),
                "bin_hi": float(hi),
                "slope": slope,
                "intercept": intercept,
                "n": int(round(n)),
            }
        )
    return rows


class TruthAccumulator:
    """The catalogue's injected truth from its blocks' ``stats``, in any order.

    :meth:`add` each block's stats; :meth:`result` is the JSON-serialisable
    truth dict (as ``meta["truth"]`` of :func:`fastgrad.mock.make_survey`):
    the model, ``kind = "xp_giants"``, ``n``, ``seed``, ``block_size``,
    ``frame``, ``counts`` (summed), ``table1`` / ``table2`` (per bin: slope
    (dex/kpc), intercept (dex), n: the least-squares line of the noise-free
    [Fe/H] against true R / |Z| over the final sample's stars the observed
    values put in the bin), ``azimuthal_amplitude`` (dex, injected),
    ``azimuthal_amplitude_observed`` and ``azimuthal_profile`` (from the
    first :data:`AZIMUTHAL_TRUTH_BLOCKS` blocks, ``azimuthal_truth_rows``
    says how many stars).
    """

    def __init__(
        self,
        n_stars: int,
        *,
        seed: int,
        truth: Mapping[str, Any] | None = None,
        frame: str | Galactocentric | None = None,
        block_size: int = BLOCK_SIZE,
    ) -> None:
        self.n_stars = int(n_stars)
        self.seed = int(seed)
        self.full = xp_truth(truth)
        self.frame = get_frame(frame)
        self.block_size = int(block_size)
        # per block, summed in block order at the end: the same floating-point
        # sums whatever order the blocks come in (a few kB per block)
        self.sums: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.counts: dict[str, int] = {}
        self.azimuthal: dict[int, dict[str, np.ndarray]] = {}
        self.blocks: set[int] = set()
        self.vc = None

    def add(self, stats: Mapping[str, Any]) -> None:
        """Add one block's stats (a block added twice is an error)."""
        b = int(stats["block"])
        if b in self.blocks:
            raise ValueError(f"block {b} added twice")
        self.blocks.add(b)
        self.sums[b] = (np.asarray(stats["table1"]), np.asarray(stats["table2"]))
        for k, v in stats["counts"].items():
            self.counts[k] = self.counts.get(k, 0) + int(v)
        if "azimuthal" in stats:
            self.azimuthal[b] = stats["azimuthal"]
        self.vc = stats["rotation_speed_kms"]

    def result(self) -> dict[str, Any]:
        """The truth dict (plain JSON types); every block must have been added."""
        want = n_blocks(self.n_stars, self.block_size)
        if len(self.blocks) != want:
            raise ValueError(f"{len(self.blocks)} of {want} blocks added")
        t1 = np.zeros((len(TABLE1_EDGES) - 1, 5))
        t2 = np.zeros((len(TABLE2_EDGES) - 1, 5))
        for b in sorted(self.sums):
            t1 += self.sums[b][0]
            t2 += self.sums[b][1]
        azi = self.full["azimuthal"]
        parts = [self.azimuthal[b] for b in sorted(self.azimuthal)]
        cat = {k: np.concatenate([p[k] for p in parts], axis=-1) for k in parts[0]}
        geo = Geometry(self.frame)
        fin = np.ones(cat["model"].size, dtype=bool)
        counts = dict(self.counts)
        counts["note"] = (
            "fastgrad's cuts (fastgrad.cuts presets xp_giants, astrometric; "
            "fastgrad.populations.HALO_CUT) on the mock's columns, in order"
        )
        meta = {
            "kind": "xp_giants",
            "n": self.n_stars,
            "seed": self.seed,
            "block_size": self.block_size,
            **self.full,
            "rotation_speed_kms": self.vc,
            "frame": frame_metadata(self.frame),
            "counts": counts,
            "table1": _bin_rows(TABLE1_EDGES, t1, 8.0),
            "table2": _bin_rows(TABLE2_EDGES, t2, 0.0),
            "azimuthal_amplitude": float(azi["amplitude_dex"]) if azi["kind"] != "none" else 0.0,
            "azimuthal_amplitude_observed": expected_amplitude(
                azi, cat["nominal"], cat["model"], fin, geo.r0_pattern
            ),
            # None: too few final stars for annulus means (a tiny catalogue)
            "azimuthal_profile": azimuthal_truth(
                azi, cat["R"], cat["phi"], cat["absz"], cat["model"], geo.r0_pattern
            )
            if fin.size >= 10
            else None,
            "azimuthal_truth_rows": int(fin.size),
        }
        return json.loads(json.dumps(meta))


def make_xp_catalog(
    n_stars: int,
    *,
    seed: int,
    truth: Mapping[str, Any] | None = None,
    frame: str | Galactocentric | None = None,
    block_size: int = BLOCK_SIZE,
    blocks: Iterable[int] | None = None,
) -> Table:
    """The XP giants catalogue in memory (small ``n_stars``: tests, examples).

    Rows in block order; ``meta["truth"]`` the :class:`TruthAccumulator`
    result (only when every block is made; ``blocks`` picks some).

    Examples
    --------
    >>> from fastgrad.mock.xp import make_xp_catalog
    >>> t = make_xp_catalog(2000, seed=3, block_size=1000)
    >>> len(t), str(t["mh_xgboost"].unit), str(t["r_med_geo"].unit)
    (2000, 'dex', 'pc')
    >>> bool((t["source_id"] >> 35 < 12 * 4**12).all())  # level-12 HEALPix pixel
    True
    >>> t.meta["truth"]["metallicity"]["slope_dex_per_kpc"][0]
    -0.078
    """
    todo = list(range(n_blocks(n_stars, block_size))) if blocks is None else list(blocks)
    acc = TruthAccumulator(n_stars, seed=seed, truth=truth, frame=frame, block_size=block_size)
    parts = []
    for b in todo:
        cols, stats = make_xp_block(
            n_stars, b, seed=seed, truth=truth, frame=frame, block_size=block_size
        )
        parts.append(cols)
        acc.add(stats)
    data = {name: np.concatenate([p[name] for p in parts]) for name, _, _ in XP_CATALOG_COLUMNS}
    out = table(XP_CATALOG_COLUMNS, data)
    if blocks is None:
        out.meta["truth"] = acc.result()
    return out
