"""Injection-recovery calibration: K mock realisations through the whole pipeline.

``calibrate(config, K)`` (``fastgrad calibrate CONFIG --realisations K``) runs
:func:`fastgrad.pipeline.run` K times on the embedded synthetic catalogues,
changing only ``synthetic.seed`` (K seeds spawned from one seed with numpy's
``SeedSequence``: reproducible and independent), so every realisation has the
same injected truth and the configuration's scale (``synthetic.n_lamost``,
``n_giants``). Each Table 1/2 entry (per sample, per bin) and the injected arm
amplitude gets its pull in each realisation (:mod:`fastgrad.validation`:
``slope_pulls``, ``recover_amplitude``); :func:`fastgrad.validation.calibration_table`
reduces them to the mean pull, the pull spread and the 68 % / 95 % coverages.

The truth is the injected noise-free model on true coordinates: a mean pull
beyond 3 standard errors of the mean is a bias of the method, measured and
reported here, never a reason to move the truth (docs/method.md section 9).

Outputs (one folder, written whole, :mod:`fastgrad._outdir`):
``calibration.ecsv`` (one row per entry), ``pulls.ecsv`` (one row per entry
and realisation), ``calibration.png``, ``calibration.md``. Each realisation's
own results are written to a folder inside the staging folder, read back and
removed: they are never shipped.
"""

from __future__ import annotations

import copy
import os
import shutil
import time
from typing import TYPE_CHECKING

import astropy.units as u
import numpy as np
from astropy.table import MaskedColumn, Table

from ._outdir import ResultsDir
from ._seeds import check_int_seed
from ._threads import effective_n_threads
from .errors import ConfigError, OutputError
from .pipeline import RunResult, load_config, run, sample_plan
from .pipeline.progress import Progress
from .validation import BIAS_P_VALUE, COVERAGE_LEVELS, calibration_table

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any


__all__ = ["calibrate", "realisation_seeds", "realisation_pulls", "OUTPUT_NAMES"]

#: the files of a calibration, relative to its folder
OUTPUT_NAMES = ("calibration.ecsv", "pulls.ecsv", "calibration.png", "calibration.md")

#: the pulled quantities, in table order: (summary key, words, unit)
_QUANTITIES = {
    "table1": ("radial gradient d[Fe/H]/dR (Table 1)", "|Z|", u.dex / u.kpc),
    "table2": ("vertical gradient d[Fe/H]/d|Z| (Table 2)", "R", u.dex / u.kpc),
    "arm_amplitude": ("arm amplitude (matched filter, |Z| < zmax)", None, u.dex),
}


def realisation_seeds(seed: int | None, realisations: int) -> list[int]:
    """The ``synthetic.seed`` of each realisation: K independent streams.

    ``numpy.random.SeedSequence(seed).spawn(K)``, each child's first 64-bit
    word shifted to 63 bits (the pipeline seeds the giants with
    ``synthetic.seed + 1``, which must stay below 2**64).

    Returns
    -------
    list of int

    Examples
    --------
    >>> from fastgrad.calibrate import realisation_seeds
    >>> seeds = realisation_seeds(42, 3)
    >>> len(set(seeds)), all(0 <= s < 2**63 for s in seeds)  # distinct, room for seed + 1
    (3, True)
    >>> seeds == realisation_seeds(42, 3)  # reproducible
    True
    """
    children = np.random.SeedSequence(check_int_seed(seed)).spawn(int(realisations))
    return [int(c.generate_state(1, np.uint64)[0]) >> 1 for c in children]


def realisation_pulls(
    summary: Mapping[str, Any],
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """One realisation's pulls, from its ``summary`` (a pipeline run on
    synthetic catalogues).

    Returns
    -------
    dict
        ``{(sample, quantity, bin_lo, bin_hi): record}``, quantity one of
        ``"table1"``, ``"table2"`` (bins in kpc) or ``"arm_amplitude"`` (bins
        None); record: ``value, error, truth, pull, n_stars`` (the slope and
        its sigma in dex/kpc, or the amplitude in dex; ``truth`` is the
        injected slope, or the amplitude the filter returns on the noise-free
        model at the observed positions).

    Raises
    ------
    fastgrad.errors.ConfigError
        A sample has no injected truth: it was read from input files.

    Examples
    --------
    >>> from fastgrad.calibrate import realisation_pulls
    >>> pull = {"bin_lo": 0.0, "bin_hi": 0.2, "slope": -0.052, "slope_err": 0.002,
    ...         "slope_true": -0.055, "pull": 1.5, "n_stars": 900}
    >>> summary = {"samples": {"lamost": {"truth": {"table1": []}, "pulls": {"table1": [pull]}}}}
    >>> realisation_pulls(summary)
    {('lamost', 'table1', 0.0, 0.2): {'value': -0.052, 'error': 0.002, 'truth': -0.055, 'pull': 1.5, 'n_stars': 900}}
    >>> realisation_pulls({"samples": {"mine": {"truth": None}}})
    Traceback (most recent call last):
      ...
    fastgrad.errors.ConfigError: calibrate: sample 'mine' was read from input files; ...
    """
    out = {}
    for name, entry in summary["samples"].items():
        if not entry.get("truth"):
            raise ConfigError(
                f"calibrate: sample '{name}' was read from input files; "
                "calibration needs the synthetic catalogues (no input files), "
                "whose injected truth the fits are compared with"
            )
        for key in ("table1", "table2"):
            for p in entry.get("pulls", {}).get(key, []):
                out[(name, key, p["bin_lo"], p["bin_hi"])] = {
                    "value": p["slope"],
                    "error": p["slope_err"],
                    "truth": p["slope_true"],
                    "pull": p["pull"],
                    "n_stars": p["n_stars"],
                }
        rec = entry.get("azimuthal_recovery")
        if rec:
            out[(name, "arm_amplitude", None, None)] = {
                "value": rec["amplitude_dex"],
                "error": rec["amplitude_err_dex"],
                "truth": rec["amplitude_expected_dex"],
                "pull": rec["pull"],
                "n_stars": entry["map_fit"]["n_stars"],
            }
    return out


def calibrate(
    config: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    realisations: int = 20,
    *,
    seed: int | None = None,
    out: str | os.PathLike[str] = "fastgrad-calibration",
    n_threads: int | None = None,
    verbose: bool = True,
    overwrite: bool = False,
) -> RunResult:
    """Run K mock realisations of ``config`` and measure each entry's pulls.

    Parameters
    ----------
    config : None, dict or path
        As for :func:`fastgrad.pipeline.run`; it must use the synthetic
        catalogues (no input files). Its ``synthetic.n_lamost`` /
        ``n_giants`` set the scale; only ``synthetic.seed`` changes between
        realisations.
    realisations : int
        K >= 2.
    seed : int or None
        The seed the K ``synthetic.seed`` values are spawned from
        (:func:`realisation_seeds`); default the configuration's
        ``synthetic.seed``.
    out : path
        Results folder (the rules of ``fastgrad run --out``,
        :mod:`fastgrad._outdir`): ``calibration.ecsv``, ``pulls.ecsv``,
        ``calibration.png``, ``calibration.md``.
    n_threads : int or None
        OpenMP threads of each run.
    verbose : bool
        One progress record per realisation on the ``fastgrad`` logger
        (shown on stderr unless the user's logging shows it).
    overwrite : bool
        As for :func:`fastgrad.pipeline.run`.

    Returns
    -------
    fastgrad.pipeline.RunResult
        ``table`` (calibration.ecsv: one row per entry), ``pulls`` (pulls.ecsv),
        ``seeds`` (list of int), ``summaries`` (each realisation's summary
        dict, without its catalogues), ``out``.

    Raises
    ------
    fastgrad.errors.ConfigError
        A bad K, seed, n_threads or configuration (before any work), or input
        files named (after the first realisation).
    fastgrad.errors.OutputError
        ``out`` is unsafe or not writable (before any work).

    Examples
    --------
    >>> import os
    >>> import warnings
    >>> from fastgrad.calibrate import calibrate
    >>> config = {"run": ["giants"], "synthetic": {"seed": 5, "n_giants": 1500},
    ...           "monte_carlo": {"n_samples": 8}, "azimuthal": {"min_count": 3, "n_permutations": 9},
    ...           "fit": {"n_walkers": 6, "n_steps": 40, "min_stars": 200}}  # tiny: ~1 s
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # AutocorrWarning: short chains
    ...     res = calibrate(config, realisations=2, seed=1, out="calibration", verbose=False)
    >>> sorted(os.listdir("calibration"))
    ['.fastgrad-results.json', 'calibration.ecsv', 'calibration.md', 'calibration.png', 'pulls.ecsv']
    >>> res.table["quantity"].tolist(), res.table["n"].tolist()  # entries, realisations each
    (['table1', 'table1', 'table2', 'arm_amplitude'], [2, 2, 2, 2])
    """
    if (
        isinstance(realisations, (bool, np.bool_))
        or not isinstance(realisations, (int, np.integer))
        or realisations < 2
    ):
        raise ConfigError(
            f"realisations: expected an integer >= 2 (pulls need a spread), got {realisations!r}"
        )
    cfg = load_config(config)  # the whole configuration checked before any work
    real = [name for name in cfg["run"] if not sample_plan(cfg, name).synthetic]
    if real:
        raise ConfigError(
            f"calibrate: sample(s) {', '.join(real)} read input files; calibration "
            "needs the synthetic catalogues (no input files), whose injected truth "
            "the fits are compared with"
        )
    try:
        effective_n_threads(n_threads)
    except ValueError as exc:
        raise ConfigError(f"n_threads: {exc}") from None
    try:
        base = check_int_seed(cfg["synthetic"]["seed"] if seed is None else seed)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    seeds = realisation_seeds(base, int(realisations))
    protect = [config] if isinstance(config, (str, os.PathLike)) else []
    outdir = ResultsDir(out, overwrite=overwrite, protect=protect)
    outdir.prepare(expected=OUTPUT_NAMES)
    try:
        with Progress(verbose) as progress:
            records, summaries = _realise(
                cfg, seeds, outdir.staging / "realisations", n_threads, progress
            )
            result = _tables(records, summaries, seeds, base, cfg, config)
            try:
                _write(outdir.staging, result)
            except OSError as exc:
                raise OutputError(
                    f"--out {outdir.out}: writing the results failed: {exc.strerror or exc}"
                ) from None
            result["out"] = outdir.commit()
            progress.note(f"calibration in {result['out']}/")
        return result
    finally:
        outdir.abort()  # a no-op once the results are in place


def _realise(cfg, seeds, work, n_threads, progress):
    """Each realisation through the pipeline; its files removed once read."""
    work.mkdir()
    records, summaries = [], []
    for i, s in progress.bar(enumerate(seeds), len(seeds), "calibrate", "run"):
        c = copy.deepcopy(cfg)
        c["synthetic"]["seed"] = s
        t = time.perf_counter()
        res = run(c, out=work / f"{i:04d}", n_threads=n_threads, verbose=False, figures=False)
        summary = res["summary"]
        records.append(realisation_pulls(summary))
        del res  # the catalogues: one realisation in memory at a time
        shutil.rmtree(work / f"{i:04d}")
        summaries.append(summary)
        worst = max((abs(r["pull"]) for r in records[-1].values()), default=float("nan"))
        progress.note(
            f"calibrate: realisation {i + 1}/{len(seeds)} (synthetic.seed = {s}) in "
            f"{time.perf_counter() - t:.1f} s, largest |pull| {worst:.1f}"
        )
    shutil.rmtree(work)
    return records, summaries


def _entry_order(records, summaries):
    samples = list(summaries[0]["samples"])
    quantities = list(_QUANTITIES)
    keys = {k for r in records for k in r}
    return sorted(
        keys,
        key=lambda k: (
            samples.index(k[0]),
            quantities.index(k[1]),
            -np.inf if k[2] is None else k[2],
        ),
    )


def _label(sample, quantity, lo, hi):
    if quantity == "arm_amplitude":
        return f"{sample} arm amplitude"
    var = _QUANTITIES[quantity][1]
    return f"{sample} {'T1' if quantity == 'table1' else 'T2'} {var} {lo:g}-{hi:g}"


def _tables(records, summaries, seeds, base, cfg, config):
    keys = _entry_order(records, summaries)
    K, M = len(records), len(keys)
    field = {f: np.full((K, M), np.nan) for f in ("value", "error", "truth", "pull", "n_stars")}
    for i, rec in enumerate(records):
        for j, key in enumerate(keys):
            if key in rec:
                for f in field:
                    field[f][i, j] = rec[key][f]
    meta = {
        "fastgrad": _version(),
        "config": _plain(cfg),
        "config_file": os.fspath(config) if isinstance(config, (str, os.PathLike)) else None,
        "realisations": K,
        "seed": base,
        "seeds": list(seeds),
        "seeding": "synthetic.seed of realisation i = numpy.random.SeedSequence(seed)"
        ".spawn(K)[i].generate_state(1, uint64)[0] >> 1",
        "truth": "the injected noise-free model on true coordinates (arm amplitude: the "
        "matched filter on that model at the observed positions)",
        "n_final_mean": {
            name: float(np.mean([s["samples"][name]["n_final"] for s in summaries]))
            for name in summaries[0]["samples"]
        },
    }
    entries = Table(meta=meta)
    entries["sample"] = [k[0] for k in keys]
    entries["quantity"] = [k[1] for k in keys]
    entries["label"] = [_label(*k) for k in keys]
    no_bin = np.array([k[2] is None for k in keys], dtype=bool)
    for col, idx in (("bin_lo", 2), ("bin_hi", 3)):
        entries[col] = MaskedColumn(
            [np.nan if k[idx] is None else k[idx] for k in keys],
            mask=no_bin,
            unit=u.kpc,
            dtype=np.float64,
        )
    entries["unit"] = [_QUANTITIES[k[1]][2].to_string() for k in keys]
    with np.errstate(invalid="ignore"):
        # mean over the realisations that fitted the entry (NaN-free where n > 0)
        for col, f in (
            ("truth", "truth"),
            ("mean_value", "value"),
            ("mean_error", "error"),
            ("mean_n_stars", "n_stars"),
        ):
            v = field[f]
            ok = np.isfinite(v)
            entries[col] = np.where(ok, v, 0).sum(0) / ok.sum(0)
    table = calibration_table(field["pull"], entries)
    long = Table(meta={k: meta[k] for k in ("fastgrad", "realisations", "seed", "seeds")})
    ii, jj = np.nonzero(np.isfinite(field["pull"]))
    long["realisation"] = ii.astype(np.int64)
    long["seed"] = np.array([seeds[i] for i in ii], dtype=np.uint64)
    for col in ("sample", "quantity", "label", "bin_lo", "bin_hi", "unit"):
        long[col] = entries[col][jj]
    for f in ("value", "error", "truth", "pull"):
        long[f] = field[f][ii, jj]
    long["n_stars"] = field["n_stars"][ii, jj].astype(np.int64)
    return RunResult(
        table=table,
        pulls=long,
        pull_matrix=field["pull"],
        seeds=list(seeds),
        summaries=summaries,
        out=None,
    )


def _plain(obj):
    """The configuration as plain YAML-safe values for the ECSV header."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (np.generic,)):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


def _write(folder, result):
    from .plots.calibration import plot_calibration

    result["table"].write(folder / "calibration.ecsv", format="ascii.ecsv")
    result["pulls"].write(folder / "pulls.ecsv", format="ascii.ecsv")
    fig = plot_calibration(result["table"], result["pull_matrix"])
    fig.savefig(folder / "calibration.png", dpi=110)
    (folder / "calibration.md").write_text(_report(result["table"]))


def _report(table):
    """``calibration.md``: in words, which entries are biased, then every entry."""
    meta = table.meta
    K = meta["realisations"]
    cfg = meta["config_file"] or "the configuration given as a dict"
    scale = ", ".join(f"{n} {v:,.0f}" for n, v in meta["n_final_mean"].items())
    (t68, c68), (t95, c95) = COVERAGE_LEVELS["68"], COVERAGE_LEVELS["95"]
    lines = [
        "# fastgrad calibration",
        "",
        f"{K} mock realisations of {cfg} (fastgrad {meta['fastgrad']}), each through the "
        f"whole pipeline; `synthetic.seed` spawned from seed {meta['seed']} with numpy's "
        "SeedSequence (the seeds are in `calibration.ecsv`); the same injected truth in every "
        f"realisation. Mean stars after all cuts: {scale}.",
        "",
        "Pull = (fit − truth) / σ, with σ the fit's own error and the truth "
        f"{meta['truth']}. A calibrated method gives pulls with mean 0, spread 1, "
        f"{100 * c68:.1f} % of them within ±{t68:g} and {100 * c95:.1f} % within ±{t95:g}.",
        "",
        "## Biased entries",
        "",
        "An entry is biased when its mean pull is beyond 3 standard errors of the mean from 0 "
        "(read with Student's t for the number of realisations: a two-sided probability below "
        f"{100 * BIAS_P_VALUE:.2f} %, that of a Gaussian beyond 3σ): a systematic error of the "
        "method, not a fluctuation.",
        "",
    ]
    biased = [r for r in table if r["biased"]]
    if not biased:
        lines.append("None: no mean pull is that far from 0.")
    for r in biased:
        offset = r["mean_value"] - r["truth"]
        lines.append(
            f"- {_words(r)}: mean pull {r['mean_pull']:+.2f} ± {r['mean_pull_err']:.2f} "
            f"(p = {r['bias_p_value']:.1e}; spread {r['std_pull']:.2f}, {r['n']} realisations): "
            f"the fit is on average {abs(offset):.4f} {r['unit']} "
            f"{'below' if offset < 0 else 'above'} the truth {r['truth']:.4f} {r['unit']}, "
            f"{abs(offset) / r['mean_error']:.2f} of its typical σ ({r['mean_error']:.4f})."
        )
    lines += [
        "",
        "## Error bars",
        "",
        "The pull spread is 1 when the fits' σ match their scatter over the realisations; "
        "listed below where it differs from 1 beyond what K realisations allow (chi-square, "
        f"two-sided probability below {100 * BIAS_P_VALUE:.2f} %).",
        "",
    ]
    spread = [r for r in table if r["miscalibrated"]]
    if not spread:
        lines.append("None: every pull spread is consistent with 1.")
    for r in spread:
        lines.append(
            f"- {_words(r)}: pull spread {r['std_pull']:.2f} ± {r['std_pull_err']:.2f} "
            f"(p = {r['spread_p_value']:.1e}): the fit's σ is "
            f"{'too small' if r['std_pull'] > 1 else 'too large'} by a factor "
            f"{r['std_pull']:.2f}."
        )
    ok = np.asarray(table["n"]) > 0
    pooled = (
        {
            lvl: np.nansum(table[f"coverage_{lvl}"][ok] * table["n"][ok]) / table["n"][ok].sum()
            for lvl in COVERAGE_LEVELS
        }
        if ok.any()
        else {}
    )
    if pooled:
        n = int(table["n"][ok].sum())
        lines += [
            "",
            f"Over all {ok.sum()} entries ({n} pulls; the entries of one realisation "
            "share stars, so this is indicative): "
            + ", ".join(
                f"{100 * pooled[lvl]:.1f} % of |pull| < {COVERAGE_LEVELS[lvl][0]:g} "
                f"(± {100 * np.sqrt(pooled[lvl] * (1 - pooled[lvl]) / n):.1f}; "
                f"{100 * COVERAGE_LEVELS[lvl][1]:.1f} % if calibrated)"
                for lvl in COVERAGE_LEVELS
            )
            + ".",
        ]
    lines += [
        "",
        "## Every entry",
        "",
        "![pulls per entry](calibration.png)",
        "",
        "| entry | truth | mean fit | mean σ | n | mean pull | spread | 68 % | 95 % |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table:
        flag = " **biased**" if r["biased"] else ""
        lines.append(
            f"| {_words(r)}{flag} | {_f(r['truth'], '.4f')} | {_f(r['mean_value'], '.4f')} | "
            f"{_f(r['mean_error'], '.4f')} | {r['n']} | {_f(r['mean_pull'], '+.2f')} ± "
            f"{_f(r['mean_pull_err'], '.2f')} | {_f(r['std_pull'], '.2f')} | "
            f"{_f(r['coverage_68'], '.2f')} ± {_f(r['coverage_68_err'], '.2f')} | "
            f"{_f(r['coverage_95'], '.2f')} ± {_f(r['coverage_95_err'], '.2f')} |"
        )
    return "\n".join(lines) + "\n"


def _f(value, spec):
    value = float(value)
    return format(value, spec) if np.isfinite(value) else "–"


def _words(row):
    what, var, _ = _QUANTITIES[row["quantity"]]
    if var is None:
        return f"{row['sample']}, {what}"
    return f"{row['sample']}, {what}, {row['bin_lo']:g} ≤ {var} < {row['bin_hi']:g} kpc"


def _version():
    from ._build_info import version

    return version
