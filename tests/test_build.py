import sys

import fastgrad
from fastgrad import _core


def test_openmp_enabled_on_linux():
    if sys.platform.startswith("linux"):
        assert _core.openmp_enabled()
        assert fastgrad.build_config()["openmp"] is True


def test_show_config_reports(capsys):
    fastgrad.show_config()
    out = capsys.readouterr().out
    assert "openmp" in out and "n_threads" in out and fastgrad.__version__ in out
