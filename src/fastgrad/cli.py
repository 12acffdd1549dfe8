"""`fastgrad` command line: `fastgrad run [CONFIG.toml] [--out DIR] [--n-threads N]`."""
import argparse
import sys

__all__ = ["main"]


def _parser():
    p = argparse.ArgumentParser(
        prog="fastgrad",
        description="Chemical cartography of the Milky Way disk (Hawkins 2023) at survey scale.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run the paper end to end (synthetic catalogues by default)")
    r.add_argument("config", nargs="?", help="TOML file overriding the defaults and naming input files")
    r.add_argument("--out", default="fastgrad-results", help="output directory (default: %(default)s)")
    r.add_argument("--n-threads", type=int, default=None, help="OpenMP threads (default: all CPUs)")
    r.add_argument("--quiet", action="store_true", help="no progress lines")
    r.add_argument("--no-figures", action="store_true", help="skip Figures 1-8")
    c = sub.add_parser("config", help="print the build configuration (OpenMP, threads, kernels)")
    c.set_defaults()
    return p


def main(args=None):
    """Entry point of the ``fastgrad`` console script; returns the exit code."""
    ns = _parser().parse_args(args)
    if ns.command == "config":
        from . import show_config
        show_config()
        return 0
    from .pipeline import run
    try:
        run(ns.config, out=ns.out, n_threads=ns.n_threads, verbose=not ns.quiet,
            figures=not ns.no_figures)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        # one clear line for a missing file, column or bad setting
        message = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        print(f"fastgrad: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
