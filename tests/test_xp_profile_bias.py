"""The XP giants' azimuthal profiles rise at the ring ends through distance errors.

bench/xp_profile_bias.py measures it on the pipeline's final sample (10^6
stars, bench/README.md "Survey scale"); this is the same finding on the mock's
own final stars and nominal coordinates (:func:`fastgrad.mock.xp.make_xp_block`
``stats["azimuthal"]``: the xp_giants cuts, Bailer-Jones ``r_med_geo``, halo
cut) for two blocks of 10^5 stars, with the noise-free model [Fe/H], so that
only the coordinate errors act (the XP [Fe/H] errors add nothing there in the
bench: measured and model-on-measured-coordinates agree within 0.01 dex).

Numbers at 10^6 stars (bench, ring 7-9 kpc, |phi| > 1.2 rad, 505 stars): the
model on the measured coordinates +0.077 +- 0.002 dex, the same stars' own
truth -0.002 +- 0.001, true R 0.93 kpc (median) inside the measured R for
every star; no star of the truth lies at |phi| > 1.2 rad in either ring (the
mock's true heliocentric distances end at 8 kpc).
"""

import numpy as np

from fastgrad.azimuthal import annulus_mean
from fastgrad.mock import xp

N = 200_000
SEED = 20231
ZMAX, H, PHI_END = 0.3, 0.1, 1.2


def _annulus_mean_at(R_ref, values, R_at):
    """The annulus mean (half-width H) of the (R_ref, values)
    stars, evaluated at radii R_at (weight-0 points enter no mean)."""
    w = np.concatenate([np.ones(R_ref.size), np.zeros(R_at.size)])
    mean = annulus_mean(
        np.concatenate([R_ref, R_at]), np.concatenate([values, np.zeros(R_at.size)]), H, weights=w
    )
    return mean[R_ref.size :]


def test_ring_ends_hold_stars_scattered_outwards():
    parts = [xp.make_xp_block(N, b, seed=SEED)[1]["azimuthal"] for b in range(2)]
    cat = {k: np.concatenate([p[k] for p in parts], axis=-1) for k in parts[0]}
    R_m, phi_m, absz_m = cat["nominal"][6], cat["nominal"][7], cat["nominal"][8]
    R_t, phi_t, absz_t, model = cat["R"], cat["phi"], cat["absz"], cat["model"]

    # the truth has no star at the ring ends: |phi| > 1.2 rad at 7-11 kpc is
    # 9-12 kpc from the Sun, beyond the mock's 8 kpc
    truth_end = (absz_t < ZMAX) & (R_t >= 7.0) & (R_t < 11.0) & (np.abs(phi_t) > PHI_END)
    assert truth_end.sum() == 0

    # the pipeline's view: nominal coordinates put ~100 stars there
    plane_m = absz_m < ZMAX
    end = plane_m & (R_m >= 7.0) & (R_m < 11.0) & (np.abs(phi_m) > PHI_END)
    assert end.sum() >= 50
    measured = model[end] - _annulus_mean_at(R_m[plane_m], model[plane_m], R_m[end])
    plane_t = absz_t < ZMAX
    own_truth = model[end] - _annulus_mean_at(R_t[plane_t], model[plane_t], R_t[end])
    se = measured.std(ddof=1) / np.sqrt(measured.size)
    # +0.08 dex at 10^6 stars; the s.e. here is ~0.005, so 0.04 is > 7 s.e. below
    assert measured.mean() > 0.04, (measured.mean(), se)
    # the same stars' truth is flat (-0.002 at 10^6): the rise is not in the model
    assert abs(own_truth.mean()) < 0.02, own_truth.mean()
    # they sit at smaller true R (metal-richer): scattered outwards, every one
    dR = R_m[end] - R_t[end]
    assert np.median(dR) > 0.5
    assert (dR > 0).mean() > 0.95
