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
5     a worker process died, e.g. killed for memory (:class:`WorkerError`)
130   interrupted (Ctrl-C, SIGINT)
143   terminated (SIGTERM)
====  ======================================================
"""

__all__ = ["ConfigError", "InputError", "OutputError", "WorkerError"]


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


class WorkerError(RuntimeError):
    """A worker process of fastgrad (the bins' fits) died mid-job: killed
    by the system (SIGKILL: most often the out-of-memory killer) or by a
    signal.  The message says which signal, how many fits were unfinished
    and what to change; no result is written.

    Examples
    --------
    >>> from fastgrad.errors import WorkerError, signal_words
    >>> print(WorkerError(f"a fit worker process died ({signal_words([-9])})"))
    a fit worker process died (killed by SIGKILL: the system's out-of-memory killer sends it)
    """


def signal_words(exitcodes) -> str:
    """How worker processes ended, in words, from their exit codes (a
    negative code -N: killed by signal N), e.g. "killed by SIGKILL: ..."."""
    import signal

    words = []
    for code in exitcodes:
        if code is None or code >= 0:
            continue
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = {
            "SIGKILL": ": the system's out-of-memory killer sends it",
            "SIGBUS": ": shared memory (/dev/shm) too small?",
            "SIGSEGV": ": a crash, please report it",
        }.get(name, "")
        words.append(f"killed by {name}{why}")
    return "; ".join(dict.fromkeys(words)) or "it exited abruptly"
