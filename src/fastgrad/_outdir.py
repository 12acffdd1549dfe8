"""The results folder of a run: checked before any work, written whole, never
deleting what fastgrad did not write.

Rules (``fastgrad run --out DIR``, :func:`fastgrad.pipeline.run`):

- ``DIR`` does not exist, or is an empty folder: the results are written to a
  staging folder beside it and renamed into place at the end, so the folder
  appears whole or not at all.
- ``DIR`` is a previous fastgrad result (it holds the marker file
  ``.fastgrad-results.json``, with the list of files that run wrote): each
  output replaces its namesake atomically (``os.replace``); files the previous
  run wrote and this one does not (``table1_giants.ecsv`` after a one-sample
  run) are removed; any other file in ``DIR`` is left untouched.
- ``DIR`` is any other non-empty folder: refused, unless ``overwrite=True``
  (``--overwrite``), which adds fastgrad's files to it as above and touches
  nothing else.
- ``DIR`` is a file: refused.
- An input (the config file, a catalogue) that an output would replace:
  refused, with or without ``overwrite``.

The staging folder (``.fastgrad-tmp-<pid>-<random>``, beside ``DIR`` or inside
it) is removed on any error, Ctrl-C or SIGTERM; one left by a killed run
(SIGKILL) is removed by the next run in that place. Folders and files get the
modes of the user's umask.
"""

import datetime
import json
import os
import shutil
import socket
import tempfile
from pathlib import Path

from .errors import OutputError

__all__ = ["MARKER", "ResultsDir"]

#: the file that marks a folder as fastgrad's results (and lists what it wrote)
MARKER = ".fastgrad-results.json"
_STAGING_PREFIX = ".fastgrad-tmp-"
_STAGING_TAG = ".fastgrad-staging.json"  # inside a staging folder: who made it


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def read_marker(folder):
    """The marker of a fastgrad results folder as a dict, or None."""
    path = Path(folder) / MARKER
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        return None
    return data


def sweep_stale(folder):
    """Remove staging folders that runs killed before their end left in ``folder``.

    Only folders named ``.fastgrad-tmp-*`` that carry fastgrad's staging tag,
    written on this host by a process that no longer exists, are removed.
    """
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return []
    removed = []
    host = socket.gethostname()
    for entry in entries:
        if not entry.name.startswith(_STAGING_PREFIX) or not entry.is_dir() or entry.is_symlink():
            continue
        try:
            tag = json.loads((entry / _STAGING_TAG).read_text())
            pid, tag_host = int(tag["pid"]), tag["host"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if tag_host == host and pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


class ResultsDir:
    """One run's output folder: :meth:`prepare` before any work, then
    :meth:`commit` the staged files, or :meth:`abort`.

    Parameters
    ----------
    out : path
        The results folder.
    overwrite : bool
        Allow a non-empty folder that is not a fastgrad result: fastgrad's files
        are added to it (replacing their namesakes), nothing else is touched.
    protect : iterable of paths
        Files that must never be replaced (the run's inputs and config).
    """

    def __init__(self, out, *, overwrite=False, protect=()):
        self.out = Path(os.path.abspath(os.fspath(out)))
        self.overwrite = bool(overwrite)
        self.protect = {Path(os.path.realpath(p)) for p in protect if p is not None}
        self.mode = None  # "new" (renamed into place) or "update" (file by file)
        self.staging = None
        self._previous = None  # the marker of the folder being updated

    # -- before any work -----------------------------------------------------
    def prepare(self, expected=()):
        """Check the destination and create the staging folder (so an
        unwritable place fails now, not after the analysis).

        ``expected``: the relative paths the run will write, checked now
        against the protected inputs (and again at :meth:`commit`)."""
        out = self.out
        if out.is_symlink() and not out.exists():
            raise OutputError(f"--out {out}: a broken symbolic link")
        if out.exists() and not out.is_dir():
            raise OutputError(
                f"--out {out}: exists and is not a folder (fastgrad writes a "
                "folder of results; give a new or empty folder)"
            )
        if out.is_dir():
            try:
                contents = [p for p in out.iterdir() if not p.name.startswith(_STAGING_PREFIX)]
            except OSError as exc:
                raise OutputError(f"--out {out}: cannot list it ({exc.strerror})") from None
            self._previous = read_marker(out)
            if not contents:
                self.mode = "new"
            elif self._previous is not None or self.overwrite:
                self.mode = "update"
            else:
                raise OutputError(
                    f"--out {out}: the folder is not empty and is not a fastgrad results "
                    f"folder (no {MARKER}); give a new or empty folder, or --overwrite to add "
                    "fastgrad's files to it (nothing else in it is touched)"
                )
        else:
            self.mode = "new"
        if self.mode == "new":
            # staged in the nearest existing folder above (same file system, so
            # the final rename is atomic); missing parents are made at commit
            for place in out.parents:
                if place.exists():
                    break
            if not place.is_dir():
                raise OutputError(f"--out {out}: {place} is not a folder")
            if not os.access(place, os.W_OK | os.X_OK):
                raise OutputError(f"--out {out}: {place} is not writable")
        else:
            place = out
            if not os.access(out, os.W_OK | os.X_OK):
                raise OutputError(f"--out {out}: the folder is not writable")
        sweep_stale(place)
        self._check_protected([*self._previous_files(), *map(Path, expected)])
        try:
            self.staging = Path(
                tempfile.mkdtemp(prefix=f"{_STAGING_PREFIX}{os.getpid()}-", dir=place)
            )
            os.chmod(self.staging, 0o777 & ~_umask())
            (self.staging / _STAGING_TAG).write_text(
                json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "out": str(out)})
            )
        except OSError as exc:
            self.abort()
            raise OutputError(f"--out {out}: cannot write in {place} ({exc.strerror})") from None
        return self

    def _previous_files(self):
        if not self._previous:
            return []
        files = []
        for name in self._previous["files"]:
            rel = Path(str(name))
            if rel.is_absolute() or ".." in rel.parts:  # a marker someone edited
                continue
            files.append(rel)
        return files

    def _check_protected(self, relative_paths):
        for rel in relative_paths:
            target = Path(os.path.realpath(self.out / rel))
            if target in self.protect:
                raise OutputError(
                    f"--out {self.out}: the output {rel} would replace the input "
                    f"{target}; choose another results folder"
                )

    # -- at the end ----------------------------------------------------------
    def commit(self):
        """Move the staged results into place; returns the results folder."""
        files = sorted(
            p.relative_to(self.staging)
            for p in self.staging.rglob("*")
            if p.is_file() and p.name != _STAGING_TAG
        )
        new_names = {f.as_posix() for f in files}
        self._check_protected(files)
        marker = {
            "fastgrad": _version(),
            "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "files": sorted(new_names),
        }
        try:
            if self.mode == "new":
                (self.staging / MARKER).write_text(json.dumps(marker, indent=1) + "\n")
                (self.staging / _STAGING_TAG).unlink()
                mask = _umask()
                for parent in reversed(self.out.parents):
                    if not parent.exists():
                        parent.mkdir(mode=0o777 & ~mask)
                # rename(2) replaces an empty folder atomically and refuses a non-empty one
                os.replace(self.staging, self.out)
                self.staging = None
            else:
                self._update(files, new_names, marker)
        except OSError as exc:
            self.abort()
            raise OutputError(
                f"--out {self.out}: cannot move the results into place ({exc.strerror or exc})"
            ) from None
        return self.out

    def _update(self, files, new_names, marker):
        mask = _umask()
        for rel in files:
            dest = self.out / rel
            if dest.is_dir() and not dest.is_symlink():
                raise OutputError(
                    f"--out {self.out}: {rel} is a folder; fastgrad will not replace it"
                )
            for parent in reversed(rel.parents[:-1]):
                d = self.out / parent
                if not d.is_dir():
                    d.mkdir(mode=0o777 & ~mask)
            os.replace(self.staging / rel, dest)
        for rel in self._previous_files():
            if rel.as_posix() in new_names or rel.name == MARKER:
                continue
            old = self.out / rel
            if old.is_file() and not old.is_symlink():
                old.unlink()
        tmp = self.staging / MARKER
        tmp.write_text(json.dumps(marker, indent=1) + "\n")
        os.replace(tmp, self.out / MARKER)
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging = None

    def abort(self):
        """Remove the staging folder (and only it)."""
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None


def _version():
    from ._build_info import version

    return version
