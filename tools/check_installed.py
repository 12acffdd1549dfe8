"""Check the fastgrad that Python imports is an installed build, with OpenMP.

Run from outside the source tree after installing a wheel or an sdist:

    python tools/check_installed.py [SOURCE_TREE]

Fails (exit 1) when fastgrad is imported from SOURCE_TREE (the tests would
then test the checkout, not the wheel), or when a Linux or macOS build has no
OpenMP (the wheels promise threads out of the box).  Prints show_config().
"""

import sys
from pathlib import Path


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    import fastgrad
    from fastgrad import _core

    package_dir = Path(fastgrad.__file__).resolve().parent
    core_path = Path(_core.__file__).resolve()
    print(f"fastgrad {fastgrad.__version__} imported from {package_dir}")
    print(f"compiled core: {core_path.name}")
    fastgrad.show_config()

    problems = []
    if argv:
        source_tree = Path(argv[0]).resolve()
        if source_tree == package_dir or source_tree in package_dir.parents:
            problems.append(f"fastgrad was imported from the source tree {source_tree}")
    if sys.platform.startswith(("linux", "darwin")) and not fastgrad.build_config()["openmp"]:
        problems.append("this build has no OpenMP (kernels would run on one thread)")
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
