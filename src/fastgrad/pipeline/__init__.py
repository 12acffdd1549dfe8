"""The paper end to end: ``fastgrad.pipeline.run(config)`` (and ``fastgrad run``).

One pipeline over engines (:mod:`fastgrad.engine`):

- :mod:`.config`: :data:`DEFAULT_CONFIG`, :func:`load_config` and the
  validation of every key, before any work;
- :mod:`.run`: the steps, in the order of docs/method.md (:func:`run`,
  :func:`prepare_sample`, :func:`gradient_tables` (:func:`gradient_fits`), :func:`first_bin_fit`,
  :func:`azimuthal_analysis`);
- :mod:`.report`: the files (ECSV tables, Figures 1-8, summary.json,
  report.md), staged and moved into place whole;
- :mod:`.progress`: the progress lines on stderr.
"""

from .config import DEFAULT_CONFIG, load_config, sample_plan
from .report import PAPER_TABLE1, PAPER_TABLE2
from .run import (
    RunResult,
    SampleFailure,
    azimuthal_analysis,
    first_bin_fit,
    gradient_fits,
    gradient_tables,
    prepare_sample,
    run,
    sample_config,
)

__all__ = [
    "run",
    "DEFAULT_CONFIG",
    "load_config",
    "sample_plan",
    "sample_config",
    "RunResult",
    "SampleFailure",
    "prepare_sample",
    "gradient_tables",
    "gradient_fits",
    "first_bin_fit",
    "azimuthal_analysis",
    "PAPER_TABLE1",
    "PAPER_TABLE2",
]
