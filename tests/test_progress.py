"""Progress on the 'fastgrad' logger: shown on stderr for a verbose run, routed
to the user's handler when there is one, never configured for a library user."""

import logging

import pytest

from fastgrad import pipeline
from fastgrad.cli import main

TINY = {
    "run": ["giants"],
    "synthetic": {"seed": 5, "n_giants": 3000},
    "monte_carlo": {"n_samples": 8},
    "fit": {"n_walkers": 6, "n_steps": 10, "min_stars": 50},
    "azimuthal": {"min_count": 3, "n_permutations": 9},
}


def test_a_verbose_run_logs_its_steps_on_stderr_and_removes_its_handler(tmp_path, capsys):
    logger = logging.getLogger("fastgrad")
    before = list(logger.handlers)
    pipeline.run(TINY, out=tmp_path / "a", verbose=True, figures=False)
    err = capsys.readouterr().err
    assert "[fastgrad" in err and "giants: read catalogues ..." in err and "results in" in err
    assert logger.handlers == before
    pipeline.run(TINY, out=tmp_path / "b", verbose=False, figures=False)
    assert "[fastgrad" not in capsys.readouterr().err


def test_the_users_handler_gets_the_records(tmp_path, capsys, caplog):
    # pytest's handler is on the root logger, as basicConfig's would be
    with caplog.at_level(logging.INFO, logger="fastgrad"):
        pipeline.run(TINY, out=tmp_path / "a", verbose=True, figures=False)
    messages = [r.getMessage() for r in caplog.records if r.name == "fastgrad"]
    assert any("Monte-Carlo" in m for m in messages)
    # the user's handler (pytest's) took them: no second copy on stderr
    assert "Monte-Carlo" not in capsys.readouterr().err


@pytest.mark.parametrize("flag, debug", [("--verbose", True), ("--quiet", False)])
def test_cli_verbosity(tmp_path, capsys, flag, debug):
    import json

    cfg = tmp_path / "run.json.toml"
    cfg.write_text(
        'run = ["giants"]\n[synthetic]\nseed = 5\nn_giants = 3000\n'
        "[monte_carlo]\nn_samples = 8\n[fit]\nn_walkers = 6\nn_steps = 10\n"
        "min_stars = 50\n[azimuthal]\nmin_count = 3\nn_permutations = 9\n"
    )
    assert main(["run", str(cfg), "--out", str(tmp_path / "o"), flag, "--no-figures"]) == 0
    err = capsys.readouterr().err
    assert ("read catalogues: " in err) is debug  # the debug timing records
    assert ("[fastgrad" in err) is debug
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["samples"]["giants"]
