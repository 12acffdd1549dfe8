"""Sphinx configuration of fastgrad's documentation.

Build (from the repository root, after ``pip install ".[docs]"``)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The API reference is written by :func:`write_api_pages` at every build from
``fastgrad.__all__`` and the ``__all__`` of every public module, so a new
public name (or a new public module) appears without editing the docs.
"""

import importlib
import inspect
import os
import pkgutil
import re
import shutil
from pathlib import Path

import fastgrad

HERE = Path(__file__).resolve().parent

project = "fastgrad"
author = "fastgrad developers"
copyright = "2026, fastgrad developers"
release = fastgrad.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_nb",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]
# docs/dask.md starts at a level-2 heading (it is also read on its own, below
# the README's level).
suppress_warnings = ["myst.header"]
# _templates/autosummary/class.rst: a class's page documents its public methods
templates_path = ["_templates"]

# Only real errors count: unresolved cross-references to third-party types in
# docstrings ("array_like", "astropy Table") are not errors, and numpydoc's
# style validation is the linters' job, not the build's.
nitpicky = False
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": False}
autodoc_typehints = "none"

myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3
# The tour is executed at every build; an error in a cell fails the build.
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_timeout = 300
nb_merge_streams = True

intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "astropy": ("https://docs.astropy.org/en/stable", None),
    "emcee": ("https://emcee.readthedocs.io/en/stable", None),
}
# intersphinx needs the network; the build must pass without it (CI runners
# and offline machines): FASTGRAD_DOCS_INTERSPHINX=1 turns the links on.
if os.environ.get("FASTGRAD_DOCS_INTERSPHINX") != "1":
    intersphinx_mapping = {}

html_theme = "pydata_sphinx_theme"
html_title = f"fastgrad {release}"
html_theme_options = {
    "navigation_depth": 2,
    "show_toc_level": 2,
}
html_static_path = []

# ---------------------------------------------------------------- API pages
# Compatibility modules: their names are documented where they now live.
DEPRECATED_MODULES = {"catalogs", "figures"}


def public_modules():
    """fastgrad's public first-level modules and packages, sorted by name."""
    names = sorted(
        m.name
        for m in pkgutil.iter_modules(fastgrad.__path__)
        if not m.name.startswith("_") and m.name not in DEPRECATED_MODULES
    )
    return [importlib.import_module(f"fastgrad.{name}") for name in names]


def public_names(module):
    """The module's ``__all__``, or the functions and classes it defines.

    Names of ``__all__`` that only the module's ``__getattr__`` provides are
    deprecated aliases (they warn): left out.
    """
    if hasattr(module, "__all__"):
        return [
            name for name in module.__all__ if not name.startswith("_") and name in vars(module)
        ]
    return [
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == module.__name__
    ]


def _shared(obj):
    # scalars may be identical by interning only: never treated as one object
    return obj is not None and not isinstance(obj, (bool, int, float, complex, str, bytes))


def _summary(title, modname, names, docstring_module=True, no_index=False):
    lines = [title, "=" * len(title), "", f".. automodule:: {modname}", ""]
    if no_index:  # e.g. the module fastgrad.crossmatch and the function of that name
        lines[4:4] = ["   :no-index:"]
    if not docstring_module:
        lines = [title, "=" * len(title), "", f".. module:: {modname}", ""]
    lines += [f".. currentmodule:: {modname}", ""]
    if names:
        lines += [".. autosummary::", "   :toctree: generated", "   :nosignatures:", ""]
        lines += [f"   {name}" for name in names]
        lines.append("")
    return lines


def write_api_pages():
    """Write ``docs/api/*.rst``: one page per public module, each object once.

    ``fastgrad`` (the top level) documents ``fastgrad.__all__``; a module's
    page documents the names of its ``__all__`` that are not the same object
    as one documented before it, and links to where those are.
    """
    out = HERE / "api"
    out.mkdir(exist_ok=True)
    # autosummary's pages of an earlier build: a name no longer listed would
    # leave an orphan page (a warning)
    shutil.rmtree(out / "generated", ignore_errors=True)
    seen = {}  # id(obj) -> documented full name
    pages = {}

    top = [name for name in fastgrad.__all__ if name != "__version__"]
    for name in top:
        obj = getattr(fastgrad, name)
        if _shared(obj):
            seen.setdefault(id(obj), f"fastgrad.{name}")
    lines = _summary("fastgrad", "fastgrad", top, docstring_module=False)
    lines[5:5] = [fastgrad.__doc__.strip().splitlines()[0], ""]
    pages["fastgrad"] = lines

    for module in public_modules():
        modname = module.__name__
        own, elsewhere = [], []
        for name in public_names(module):
            obj = vars(module)[name]
            if _shared(obj) and id(obj) in seen:
                elsewhere.append(seen[id(obj)])
                continue
            if _shared(obj):
                seen[id(obj)] = f"{modname}.{name}"
            own.append(name)
        lines = _summary(
            f"``{modname}``", modname, own, no_index=modname.removeprefix("fastgrad.") in top
        )
        if elsewhere:
            refs = ", ".join(f":obj:`~{full}`" for full in elsewhere)
            lines += ["Also in this module, documented where first listed: " + refs + ".", ""]
        pages[modname] = lines

    index = [
        "API reference",
        "=============",
        "",
        "Every public name, generated from ``fastgrad.__all__`` and the ``__all__`` of",
        "each public module. The compatibility modules ``fastgrad.catalogs`` and",
        "``fastgrad.figures`` re-export names documented here (in ``fastgrad.schema``,",
        "``readers``, ``crossmatch``, ``distances``, ``cuts`` and ``fastgrad.plots``).",
        "",
        ".. toctree::",
        "   :maxdepth: 1",
        "",
    ]
    index += [f"   {modname}" for modname in pages]
    _write(out / "index.rst", index)
    for modname, lines in pages.items():
        _write(out / f"{modname}.rst", lines)
    # pages of modules that no longer exist
    for old in out.glob("*.rst"):
        if old.stem != "index" and old.stem not in pages:
            old.unlink()


def _write(path, lines):
    text = "\n".join(lines).rstrip() + "\n"
    if not path.exists() or path.read_text() != text:  # unchanged: no rebuild
        path.write_text(text)


# before Sphinx looks for source files and autosummary for its directives
write_api_pages()

# ------------------------------------------------------- docstring markup
# fastgrad's docstrings write absolute values as |Z|, |value| (plain text, as
# one reads them in help()); reStructuredText would take them for substitution
# references.  Escaped here, outside inline literals and roles, so that they
# read the same in the pages as in the terminal; a pair may span a line break
# within a paragraph, as a substitution reference may.
_LITERAL = re.compile(r"(``.+?``|`[^`]*`)", re.S)
_BARS = re.compile(r"(?<![\\|\w])\|(?=[^\s|])((?:[^|`\n]|\n(?![ \t]*\n))*?[^\s|\\])\|(?![\w|])")


def escape_bars(text):
    parts = _LITERAL.split(text)
    for i in range(0, len(parts), 2):  # even parts: outside literals and roles
        parts[i] = _BARS.sub(r"\\|\1\\|", parts[i])
    return "".join(parts)


def _process_docstring(app, what, name, obj, options, lines):
    if (
        what in ("data", "attribute")
        and type(obj).__doc__ is not None
        and getattr(obj, "__doc__", None) is type(obj).__doc__
    ):
        lines[:] = []  # a constant without a #: comment: not numpy's ndarray docstring
        return
    # the docstring as one text (a pair may span lines), then its lines again
    lines[:] = escape_bars("\n".join(lines)).split("\n")


# Pages that other work adds to the "your own data" section; listed in
# index.md, dropped from its toctree while their file does not exist.
OPTIONAL_PAGES = ("samples", "archive")


def _drop_missing_pages(app, docname, source):
    if docname != "index":
        return
    for page in OPTIONAL_PAGES:
        if not (HERE / f"{page}.md").exists() and not (HERE / f"{page}.rst").exists():
            source[0] = re.sub(rf"^{page}\n", "", source[0], flags=re.M)


def setup(app):
    app.connect("autodoc-process-docstring", _process_docstring, priority=400)
    app.connect("source-read", _drop_missing_pages)
