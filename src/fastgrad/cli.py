"""`fastgrad` command line: `fastgrad run [CONFIG.toml] [--out DIR] [--n-threads N]`,
`fastgrad calibrate [CONFIG.toml] --realisations K [--seed S] [--out DIR]`.

Exit codes (:mod:`fastgrad.errors`): 0 success; 1 an unexpected error (a bug,
with its traceback); 2 bad command line or configuration; 3 bad input data
(including a fit whose chains cannot start or never move);
4 the output cannot be written; 130 interrupted (SIGINT); 143 terminated
(SIGTERM). Errors 2-4 are one line on stderr, found before any work where they
can be (the configuration, the input paths and the output folder).
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence


__all__ = ["main", "EXIT_CONFIG", "EXIT_INPUT", "EXIT_OUTPUT", "EXIT_WORKER"]

EXIT_CONFIG, EXIT_INPUT, EXIT_OUTPUT, EXIT_WORKER = 2, 3, 4, 5
EXIT_SIGINT, EXIT_SIGTERM = 128 + signal.SIGINT, 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Python is running so that cleanups run as for Ctrl-C."""


def _on_sigterm(signum, frame):
    raise Terminated()


def _version():
    from ._build_info import version

    return version


def _parser():
    p = argparse.ArgumentParser(
        prog="fastgrad",
        description="Chemical cartography of the Milky Way disk (Hawkins 2023) at survey scale.",
        epilog="exit codes: 0 ok, 1 unexpected error, 2 configuration, 3 input data, "
        "4 output, 130 interrupted, 143 terminated",
    )
    p.add_argument("--version", action="version", version=f"fastgrad {_version()}")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run the paper end to end (synthetic catalogues by default)")
    r.add_argument(
        "config", nargs="?", help="TOML file overriding the defaults and naming input files"
    )
    r.add_argument(
        "--out",
        default="fastgrad-results",
        help="results folder: new, empty, or an earlier fastgrad result (default: %(default)s)",
    )
    r.add_argument(
        "--overwrite",
        action="store_true",
        help="allow a non-empty folder that is not a fastgrad result: fastgrad's "
        "files are added to it, nothing else in it is touched",
    )
    r.add_argument("--n-threads", type=int, default=None, help="OpenMP threads (default: all CPUs)")
    talk = r.add_mutually_exclusive_group()
    talk.add_argument("--quiet", action="store_true", help="no progress lines (warnings only)")
    talk.add_argument(
        "--verbose",
        action="store_true",
        help="debug records too (step timings) on the 'fastgrad' logger",
    )
    r.add_argument("--no-figures", action="store_true", help="skip Figures 1-8")
    k = sub.add_parser(
        "calibrate",
        help="K mock realisations through the whole pipeline: "
        "mean pull, spread and coverage of every Table 1/2 entry",
    )
    k.add_argument(
        "config",
        nargs="?",
        help="TOML file (synthetic catalogues; its synthetic.n_lamost / n_giants set the scale)",
    )
    k.add_argument(
        "--realisations",
        "-K",
        type=int,
        required=True,
        metavar="K",
        help="number of mock realisations (>= 2)",
    )
    k.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed the realisations' synthetic.seed are spawned from "
        "(default: the configuration's synthetic.seed)",
    )
    k.add_argument(
        "--out",
        default="fastgrad-calibration",
        help="results folder, as for run (default: %(default)s)",
    )
    k.add_argument("--overwrite", action="store_true", help="as for run")
    k.add_argument("--n-threads", type=int, default=None, help="OpenMP threads (default: all CPUs)")
    talk = k.add_mutually_exclusive_group()
    talk.add_argument("--quiet", action="store_true", help="no progress lines (warnings only)")
    talk.add_argument(
        "--verbose", action="store_true", help="debug records too (each realisation's step timings)"
    )
    c = sub.add_parser("config", help="print the build configuration (OpenMP, threads, kernels)")
    c.set_defaults()
    _query_parser(sub)
    return p


def _query_parser(sub):
    q = sub.add_parser(
        "query",
        help="print (or run) the archive queries of a sample preset",
        description="Print the ADQL that fetches each input of a sample preset "
        "from the Gaia archive / VizieR, and the TOML that names the "
        "files --fetch writes (docs/archive.md).",
    )
    q.add_argument("preset", help="hotpayne, gspspec_giants, apogee_dr17, galah_dr3, xp_giants")
    q.add_argument(
        "--input",
        action="append",
        dest="inputs",
        metavar="NAME",
        help="only this input (spectra or xp, gaia, distances); repeatable",
    )
    q.add_argument(
        "--astrometric",
        action="store_true",
        help="gspspec_giants: apply the astrometric cuts in the archive too",
    )
    q.add_argument(
        "--fetch",
        action="store_true",
        help="run the queries (needs pyvo: pip install 'fastgrad[archive]')",
    )
    q.add_argument(
        "--out",
        help="with --fetch: the folder to write (new, empty, or an earlier fastgrad result)",
    )
    q.add_argument(
        "--overwrite",
        action="store_true",
        help="with --fetch: add the files to a non-empty folder (nothing else in it is touched)",
    )
    q.add_argument(
        "--upload",
        metavar="FILE",
        help="the catalogue whose positions or source_ids the queries upload "
        "(default: the survey's own table fetched in the same run)",
    )


def _one_line(exc):
    return "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())


def main(args: Sequence[str] | None = None) -> int:
    """Entry point of the ``fastgrad`` console script; returns the exit code."""
    ns = _parser().parse_args(args)
    if ns.command == "query":
        return _query(ns)
    if ns.command == "config":
        from . import show_config

        show_config()
        return 0
    # the figures are files: draw them without a display, whatever the
    # user's default backend (a library import never does this)
    import matplotlib

    matplotlib.use("Agg")
    from .errors import ConfigError, InputError, OutputError, WorkerError
    from .fitting import SamplingError
    from .pipeline import run

    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    handler = None
    if ns.verbose:
        import logging

        from .pipeline.progress import log_to_stderr

        handler = log_to_stderr(logging.DEBUG)
        handler.__enter__()
    try:
        if ns.command == "calibrate":
            from .calibrate import calibrate

            calibrate(
                ns.config,
                ns.realisations,
                seed=ns.seed,
                out=ns.out,
                n_threads=ns.n_threads,
                verbose=not ns.quiet,
                overwrite=ns.overwrite,
            )
        else:
            run(
                ns.config,
                out=ns.out,
                n_threads=ns.n_threads,
                verbose=not ns.quiet,
                figures=not ns.no_figures,
                overwrite=ns.overwrite,
            )
    except ConfigError as exc:
        return _fail(exc, EXIT_CONFIG)
    except OutputError as exc:
        return _fail(exc, EXIT_OUTPUT)
    except (InputError, FileNotFoundError, ValueError, KeyError, TypeError, SamplingError) as exc:
        # a file, column or row of the input (each message names it)
        return _fail(exc, EXIT_INPUT)
    except WorkerError as exc:  # e.g. a fit worker killed for memory
        return _fail(exc, EXIT_WORKER)
    except Terminated:
        print("fastgrad: terminated (SIGTERM); no results written", file=sys.stderr)
        return EXIT_SIGTERM
    except KeyboardInterrupt:
        print("fastgrad: interrupted; no results written", file=sys.stderr)
        return EXIT_SIGINT
    finally:
        signal.signal(signal.SIGTERM, previous)
        if handler is not None:
            handler.__exit__(None, None, None)
    return 0


def _query(ns):
    """``fastgrad query``: the ADQL of a preset's inputs, and with --fetch their files."""
    from . import archive
    from .errors import ConfigError, InputError, OutputError

    try:
        if ns.out and not ns.fetch:
            raise ConfigError("--out is for --fetch (printing the queries writes nothing)")
        if ns.fetch and not ns.out:
            raise ConfigError("--fetch needs --out DIR, the folder to write the files into")
        todo = archive.queries(ns.preset, astrometric=ns.astrometric)
        names = ns.inputs or list(todo)
        for name in names:
            if name not in todo:
                raise ConfigError(
                    f"--input {name}: preset {ns.preset!r} has the inputs {', '.join(todo)}"
                )
        for name in names:
            print(archive.describe(todo[name]))
        if ns.fetch:
            paths = archive.fetch(
                ns.preset,
                ns.out,
                inputs=names,
                upload=ns.upload,
                overwrite=ns.overwrite,
                astrometric=ns.astrometric,
            )
        else:
            paths = {name: todo[name].filename for name in names}
        print("# the inputs of a run's TOML" + ("" if ns.fetch else " (the files --fetch writes)"))
        print(archive.toml_snippet(ns.preset, paths), end="")
    except ConfigError as exc:
        return _fail(exc, EXIT_CONFIG)
    except OutputError as exc:
        return _fail(exc, EXIT_OUTPUT)
    except (InputError, FileNotFoundError) as exc:
        return _fail(exc, EXIT_INPUT)
    except KeyboardInterrupt:
        print("fastgrad: interrupted; nothing written", file=sys.stderr)
        return EXIT_SIGINT
    return 0


def _fail(exc, code):
    # str(KeyError("x")) is "'x'": print the message, not its repr
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
    message = _one_line(text)
    print(f"fastgrad: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
