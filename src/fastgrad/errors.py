"""The exceptions fastgrad raises for a user's mistake, by what is wrong.

Each subclasses the builtin a user of numpy or astropy would catch
(``ValueError``, ``OSError``), so ``except ValueError`` keeps working; the
``fastgrad`` command maps them to its exit codes (``fastgrad.cli``):

====  ======================================================
code  meaning
====  ======================================================
0     success
1     an unexpected error (a bug: please report it)
2     bad command line or configuration (:class:`ConfigError`)
3     bad input data: a file, column or row (:class:`InputError`)
4     the output cannot be written (:class:`OutputError`)
130   interrupted (Ctrl-C, SIGINT)
143   terminated (SIGTERM)
====  ======================================================
"""

__all__ = ["ConfigError", "InputError", "OutputError"]


class ConfigError(ValueError):
    """A configuration key, value or type is wrong (raised before any work).

    Examples
    --------
    >>> from fastgrad import ConfigError, pipeline
    >>> try:
    ...     pipeline.load_config({"fit": {"n_walkers": 10.7}})
    ... except ConfigError as exc:
    ...     print(exc)
    fit.n_walkers: expected an integer, got 10.7 (float); counts are never rounded
    """


class InputError(ValueError):
    """An input file, column or row cannot be used; the message names it.

    Examples
    --------
    >>> from fastgrad import InputError, read_catalog
    >>> _ = open("empty.csv", "w").close()
    >>> try:
    ...     read_catalog("empty.csv", kind="gaia")
    ... except InputError as exc:
    ...     print(exc)
    'empty.csv': the file is empty (0 bytes); expected a csv table
    """


class OutputError(OSError):
    """The output destination is unsafe or cannot be written (checked before any work).

    Examples
    --------
    >>> from fastgrad import OutputError, pipeline
    >>> with open("notes.txt", "w") as f:
    ...     _ = f.write("a user's file")
    >>> try:  # a file is never replaced by a results folder
    ...     pipeline.run(None, out="notes.txt", verbose=False)
    ... except OutputError as exc:
    ...     print("refused")
    refused
    """
