"""Truth comparisons: what a run on synthetic catalogues recovers of what was injected.

:func:`fastgrad.mock.make_survey` writes its injected truth (the binned
gradients, the azimuthal pattern) into the catalogues' ``meta["truth"]``; the
pipeline (:mod:`fastgrad.pipeline`) compares its fits with it here:

- :func:`slope_pulls`: per bin of Table 1 or 2 (docs/method.md section 5), the
  fitted slope against the injected one, as a pull (fit - truth) / sigma;
- :func:`matched_filter`: the least-squares amplitude of a known azimuthal
  pattern in the deviations from the annulus mean (docs/method.md section 6),
  the one filter the pipeline and the mock's expected amplitude share;
- :func:`recover_amplitude`: that filter on a run's |Z| < zmax stars, with
  the injected pattern's shape.
"""
import numpy as np

from .azimuthal import annulus_mean

__all__ = ["slope_pulls", "matched_filter", "recover_amplitude"]


def slope_pulls(table, truth_rows):
    """Per fitted bin: the fitted slope, the injected one and their pull.

    Parameters
    ----------
    table : astropy.table.Table
        Table 1 or 2 of :func:`fastgrad.fit_tables` (``bin_lo, bin_hi,
        n_stars, slope, slope_err``; unfitted bins masked).
    truth_rows : sequence of dict
        The injected rows (``bin_lo`` in kpc, ``slope`` in dex/kpc), e.g.
        ``meta["truth"]["table1"]`` of a synthetic catalogue.

    Returns
    -------
    list of dict
        One per bin that is fitted and has an injected row (matched on
        ``bin_lo`` to 1e-9 kpc): ``bin_lo, bin_hi`` (kpc), ``n_stars``,
        ``slope, slope_err, slope_true`` (dex/kpc) and ``pull`` =
        (slope - slope_true) / slope_err.
    """
    out = []
    for row in table:
        match = [t for t in truth_rows if abs(t["bin_lo"] - row["bin_lo"]) < 1e-9]
        fitted = not np.ma.is_masked(row["slope"])
        if not match or not fitted:
            continue
        t = match[0]
        out.append({"bin_lo": float(row["bin_lo"]), "bin_hi": float(row["bin_hi"]),
                    "n_stars": int(row["n_stars"]),
                    "slope": float(row["slope"]), "slope_err": float(row["slope_err"]),
                    "slope_true": float(t["slope"]),
                    "pull": float((row["slope"] - t["slope"]) / row["slope_err"])})
    return out


def matched_filter(R, delta, shape, half_width):
    """Amplitude of a known pattern in azimuthal deviations (docs/method.md section 6).

    Least squares of ``delta = A (g - <g>) + c``, with ``g`` the pattern's
    shape at each star and ``<g>`` its annulus mean (``|R_j - R_i| <=
    half_width``), as the deviations are measured from the annulus mean of
    [Fe/H].

    Parameters
    ----------
    R : array_like
        Galactocentric radii, kpc.
    delta : array_like
        Deviations from the annulus mean, dex.
    shape : array_like
        The pattern's shape at each star (dimensionless; ``A`` is then in dex).
    half_width : float
        Annulus half-width, kpc (the paper: 0.1).

    Returns
    -------
    amplitude, amplitude_err : float
        ``A`` (dex) and its standard error from the residual scatter
        (``var(resid, ddof=2) / sum((g - mean g)^2)``).

    Raises
    ------
    ValueError
        When ``g - <g>`` is constant (the pattern has no azimuthal part
        within the annuli): the amplitude is undefined.

    Notes
    -----
    The two-parameter least squares is written out with numpy's pairwise
    sums rather than solved through LAPACK/BLAS, whose summation order
    changes with the BLAS thread count: the same inputs give the same bits
    wherever it runs (in a Dask worker, under ``threadpool_limits``).
    """
    R, delta, shape = (np.asarray(v, dtype=np.float64) for v in (R, delta, shape))
    g = shape - annulus_mean(R, shape, half_width)
    n = g.size
    g_mean, d_mean = np.sum(g) / n, np.sum(delta) / n
    dg = g - g_mean
    sxx = np.sum(dg * dg)
    if not sxx > 0 or n < 3:
        raise ValueError("shape: the pattern is constant within the annuli (or fewer than 3 "
                         "stars): its amplitude is undefined")
    amplitude = np.sum(dg * (delta - d_mean)) / sxx
    resid = delta - (amplitude * g + (d_mean - amplitude * g_mean))
    return float(amplitude), float(np.sqrt(np.var(resid, ddof=2) / sxx))


def recover_amplitude(selection, delta, truth, *, half_width):
    """The injected azimuthal pattern's amplitude, recovered by :func:`matched_filter`.

    Parameters
    ----------
    selection : astropy.table.Table
        The stars of the azimuthal analysis (|Z| < zmax), with ``x, y, R``
        (kpc).
    delta : array_like
        Their deviations from the annulus mean (dex).
    truth : dict
        The synthetic catalogue's ``meta["truth"]``: the pattern
        (:func:`fastgrad.mock.pattern_shape` reads it),
        ``azimuthal_amplitude`` (dex) and, when known,
        ``azimuthal_amplitude_observed`` (dex: what the filter gives on the
        noise-free model at the observed positions).
    half_width : float
        Annulus half-width, kpc.

    Returns
    -------
    dict
        ``amplitude_dex, amplitude_err_dex, amplitude_true_dex,
        amplitude_expected_dex`` and ``pull`` = (amplitude - expected) / err.
    """
    from .mock import pattern_shape  # the mock builds on this module's filter

    g = pattern_shape(np.asarray(selection["x"]), np.asarray(selection["y"]), truth)
    amp, err = matched_filter(np.asarray(selection["R"]), np.asarray(delta), g, half_width)
    # the pull is against what the same filter returns on the noise-free model
    # at the observed positions (distance errors blur the arms by a few %)
    true = float(truth["azimuthal_amplitude"])
    expected = float(truth.get("azimuthal_amplitude_observed") or true)
    return {"amplitude_dex": amp, "amplitude_err_dex": err, "amplitude_true_dex": true,
            "amplitude_expected_dex": expected, "pull": (amp - expected) / err}
