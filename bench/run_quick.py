"""Run the asv benchmark classes once, in this interpreter, and print a table.

`asv run` (see README.md) is the real harness; this gives the same numbers in
a minute for a note or an issue:  python bench/run_quick.py [module ...]
"""

import importlib
import inspect
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def main(names):
    names = names or sorted(
        p.stem for p in (Path(__file__).parent / "benchmarks").glob("bench_*.py")
    )
    for modname in names:
        mod = importlib.import_module(f"benchmarks.{modname}")
        for cname, cls in inspect.getmembers(mod, inspect.isclass):
            if cls.__module__ != mod.__name__:
                continue
            params = getattr(cls, "params", None)
            if params is None or (isinstance(params, (list, tuple)) and len(params) == 0):
                combos = [()]
            else:
                params = list(params)
                nested = isinstance(params[0], (list, tuple))
                combos = _product(params if nested else [params])
            # asv's setup_cache: computed once, passed first to setup and benchmarks
            cache = (cls().setup_cache(),) if hasattr(cls, "setup_cache") else ()
            for combo in combos:
                obj = cls()
                combo = cache + tuple(combo)
                if hasattr(obj, "setup"):
                    obj.setup(*combo)
                for mname, meth in inspect.getmembers(obj, inspect.ismethod):
                    if mname.startswith("track_"):
                        val = meth(*combo)
                        unit = getattr(meth, "unit", getattr(cls, "unit", ""))
                        print(
                            f"{modname}.{cname}.{mname}{list(combo[len(cache) :]) or ''}: {val:.4g} {unit}",
                            flush=True,
                        )
                    elif mname.startswith("time_"):
                        best = min(_time(meth, combo) for _ in range(3))
                        print(
                            f"{modname}.{cname}.{mname}{list(combo[len(cache) :]) or ''}: {best * 1e3:.3f} ms",
                            flush=True,
                        )


def _time(meth, combo):
    t0 = time.perf_counter()
    meth(*combo)
    return time.perf_counter() - t0


def _product(lists):
    import itertools

    return list(itertools.product(*lists))


if __name__ == "__main__":
    main(sys.argv[1:])
