"""Hawkins (2023, MNRAS)'s numbers, each once, with its section.

Everything fastgrad takes from the paper (the defaults of the method, its
frame, its Tables 1 and 2) lives here; the other modules import it.
``docs/method.md`` gives the reasons behind each value (and where fastgrad had
to choose because the paper is silent or garbled).
"""

import numpy as np

__all__ = [
    "REFERENCE",
    "FRAME",
    "N_SAMPLES",
    "CROSSMATCH_RADIUS_ARCSEC",
    "P_HALO_MAX",
    "N_WALKERS",
    "N_STEPS",
    "MIN_STARS",
    "TABLE1_EDGES",
    "TABLE2_EDGES",
    "TABLE1",
    "TABLE2",
    "MAP_ZMAX",
    "ANNULUS_HALF_WIDTH",
    "PHI_BIN_DEG",
    "PROFILE_MIN_COUNT",
    "MAP_MIN_COUNT",
    "RINGS",
    "DEFAULT_N_STARS",
]

REFERENCE = (
    "Hawkins K., 2023, MNRAS, Chemical cartography with LAMOST and Gaia reveal "
    "azimuthal and spiral structure in the Galactic disk (arXiv:2207.04542)"
)

#: method.md section 3: the Galactocentric frame (astropy's right-handed convention)
FRAME = {
    "galcen_distance_kpc": 8.27,
    "z_sun_kpc": 0.029,
    "galcen_v_sun_kms": (12.9, 245.0, 7.78),
    "roll_deg": 0.0,
}

#: method.md section 3: Monte-Carlo draws per star
N_SAMPLES = 1000

#: method.md section 1: the LAMOST - Gaia DR3 positional match (arcsec)
CROSSMATCH_RADIUS_ARCSEC = 2.0

#: method.md section 4: stars with a halo probability of 1 % or more are dropped
P_HALO_MAX = 0.01

#: method.md section 5: emcee walkers and steps; stars needed to fit a bin
N_WALKERS = 10
N_STEPS = 1000
MIN_STARS = 500

#: method.md section 5: bin edges of Table 1 (|Z|, kpc; half-open [lo, hi)) and
#: Table 2 (R, kpc)
TABLE1_EDGES = np.round(np.arange(0.0, 1.4001, 0.2), 10)
#: method.md section 5: bin edges of Table 2 (R, kpc)
TABLE2_EDGES = np.arange(7.0, 14.0001, 1.0)

#: method.md section 5: the paper's Table 1 (LAMOST OBAF stars): per |Z| bin
#: centre (kpc), the radial gradient m (dex/kpc), its sigma and the intercept b (dex)
TABLE1 = {
    "bin_center": (0.1, 0.3, 0.5, 0.7, 0.9, 1.1, 1.3),
    "slope": (-0.078, -0.066, -0.053, -0.038, -0.026, -0.022, -0.001),
    "slope_err": (0.001, 0.002, 0.002, 0.003, 0.005, 0.007, 0.004),
    "intercept": (0.418, 0.294, 0.135, -0.043, -0.211, -0.280, -0.488),
}

#: method.md section 5: the paper's Table 2: per R bin centre (kpc), the
#: vertical gradient m (dex/kpc), its sigma and the intercept b (dex)
TABLE2 = {
    "bin_center": (7.5, 8.5, 9.5, 10.5, 11.5, 12.5, 13.5),
    "slope": (-0.221, -0.155, -0.129, -0.054, -0.048, -0.040, -0.066),
    "slope_err": (0.011, 0.009, 0.008, 0.008, 0.011, 0.022, 0.066),
    "intercept": (-0.186, -0.235, -0.299, -0.398, -0.464, -0.506, -0.492),
}

#: method.md section 6: the residual maps and azimuthal profiles use |Z| < 0.3 kpc
MAP_ZMAX = 0.3
#: method.md section 6: stars within 0.2 kpc of each other share a radius (h = 0.1 kpc)
ANNULUS_HALF_WIDTH = 0.1
#: method.md section 6: azimuth bins of the profiles (deg) and the stars they need
PHI_BIN_DEG = 2.0
PROFILE_MIN_COUNT = 20
#: method.md section 6: hexes of the maps need >= 5 stars
MAP_MIN_COUNT = 5
#: method.md section 6: the inner and outer disk of the azimuthal profiles (kpc)
RINGS = ((7.0, 9.0), (9.0, 11.0))

#: method.md section 1: catalogue sizes before any cut (LAMOST candidates, Gaia giants)
DEFAULT_N_STARS = {"lamost_hot_stars": 330_000, "gaia_giants": 1_000_000}


def table_slopes(table):
    """``{bin centre: (m, sigma_m)}`` of :data:`TABLE1` or :data:`TABLE2`."""
    return {c: (m, s) for c, m, s in zip(table["bin_center"], table["slope"], table["slope_err"])}
