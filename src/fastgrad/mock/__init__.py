"""Synthetic survey catalogues with a known truth (LAMOST hot stars, Gaia DR3 giants).

The real catalogues of Hawkins (2023) cannot be downloaded everywhere, so
fastgrad generates look-alikes whose truth is known:

* ``"lamost_hot_stars"``: a LAMOST HotPayne-like table (Xiang et al. 2022) with
  the quality columns the docs/method.md section 2 cuts act on, the Gaia DR3
  ``gaia_source`` rows of the same stars (plus unrelated field stars, minus a
  few counterparts, so the 2" cross-match has work) and Bailer-Jones (2021)
  geometric distances.
* ``"gaia_giants"``: a Gaia DR3 "gradient sample"-like table of giants
  (astrometry, RVs and GSP-Spec parameters) and their Bailer-Jones distances.

How a star is made (all vectorised numpy), module by module:

1. :mod:`.sampling`: Galactocentric positions from thin + thick exponential
   disks and a small r^-3 halo, drawn until each population has its share of
   the catalogue, keeping the stars a magnitude-limited survey would see:
   heliocentric distance window, absolute magnitude per star with an
   extinction-free apparent-magnitude window, for LAMOST the footprint
   (dec > -10 deg) and a targeting preference for the Galactic anticentre
   (LEGUE).
2. :mod:`.galaxy`: velocities from a flat rotation curve (the frame's v_sun,y
   minus the Schoenrich 2010 V_sun, i.e. the LSR speed), a constant
   asymmetric drift and velocity dispersions per population (the Bensby 2003
   ellipsoids of docs/method.md section 4, except a colder thin disk for the
   young hot stars).  Truth [Fe/H] = m(|Z|) R + b(|Z|) (m, b interpolated
   piecewise-linearly between the paper's Table 1 bin centres, constant
   beyond them) + an azimuthal pattern (Reid 2014 spiral-arm bump for the
   giants, none for LAMOST by default) + intrinsic scatter; halo stars get a
   flat metal-poor distribution.
3. :mod:`.observe`: astropy transforms the true phase-space coordinates to
   ICRS; parallaxes, proper motions, positions (with Gaia-like random
   correlations), Bailer-Jones percentiles, RVs and [Fe/H] get errors of the
   sizes the paper quotes, and observed = truth + noise.
4. :mod:`.cutflow`: fastgrad's own cut presets and halo cut, applied to the
   mock's columns, give the final sample behind the truth.
5. :mod:`.surveys` assembles the tables (columns: :mod:`.columns`) and
   :mod:`.truth` (the model's defaults) computes what an ideal analysis of
   the final sample finds.

At survey scale, :mod:`.xp` makes a Gaia XP giants catalogue (the
``xp_giants`` sample's layout, the giants' galaxy and truth) in independent
blocks, and :mod:`.hats` writes it as a HATS catalogue (hats-import) or as
the sample's three Parquet files, never whole in memory.

The truth travels in every table's ``meta["truth"]`` (JSON-serialisable): the
model parameters, the frame, the count of the docs/method.md cuts and the
result an ideal fit of the final disk sample would give, per bin of Tables 1
and 2 (the least-squares line of the noise-free model [Fe/H] against the true
R or |Z| of the bin's stars).  :func:`pattern_shape` evaluates the injected
azimuthal pattern anywhere from that metadata alone.
"""

from .columns import BAILER_JONES_COLUMNS, GAIA_COLUMNS, GAIA_GIANT_COLUMNS, LAMOST_COLUMNS
from .galaxy import pattern_shape
from .surveys import make_catalog, make_survey
from .truth import DEFAULT_N, KINDS, TABLE1_EDGES, TABLE2_EDGES, default_truth

__all__ = [
    "make_survey",
    "make_catalog",
    "default_truth",
    "pattern_shape",
    "KINDS",
    "DEFAULT_N",
    "LAMOST_COLUMNS",
    "GAIA_COLUMNS",
    "GAIA_GIANT_COLUMNS",
    "BAILER_JONES_COLUMNS",
    "TABLE1_EDGES",
    "TABLE2_EDGES",
]
