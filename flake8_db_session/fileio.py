"""Atomic, deterministic file writes: a reader never sees a half-written file.

Every file the commands write (reports, the baseline, charts, migrated modules) goes through
``write_atomic``: the data goes to a temporary file beside the target, is flushed to disk, then
renamed over it. A failure is a ``WriteError`` naming the file (one line, exit 2) and leaves the
target as it was; a temporary file left by a killed run is removed by the next write.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
import tempfile
import time

from .config import ConfigError

# Temporary files are ``.<target name>.<pid>.<random>.tmp`` beside the target (one leading dot).
_SUFFIX = ".tmp"
# A temporary file whose writer is gone, or older than this, was left by a killed run.
STALE_AFTER_SECONDS = 3600


class WriteError(ConfigError):
    """An output file cannot be written: reported as one line, exit code 2."""


def describe_os_error(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "its directory does not exist"
    if exc.errno == errno.EISDIR:
        return "is a directory"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    return exc.strerror or str(exc)


def write_atomic(path: str, text: str | bytes) -> None:
    """Write to a temporary file beside ``path``, fsync, then rename over it. Raises WriteError.

    A device, FIFO or socket (``-o /dev/null``, a named pipe) and anything under ``/dev`` or
    ``/proc`` (``/dev/stdout``) are written in place: renaming over one would put a regular file
    where the device was (as root, in place of ``/dev/null`` itself). A symbolic link is followed:
    the file it names is replaced, the link is kept."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    if _special(path):
        _write_in_place(path, data)
        return
    if os.path.islink(path):
        path = os.path.realpath(path)
    tmp = write_temporary(path, data)
    try:
        os.replace(tmp, path)
    except OSError as exc:
        discard(tmp)
        raise WriteError(f"{path}: cannot write: {describe_os_error(exc)}") from None
    except BaseException:
        discard(tmp)
        raise


def _special(path: str) -> bool:
    """Whether ``path`` is not a file a rename may replace: a device, FIFO or socket, or a path
    under ``/dev`` or ``/proc`` (``/dev/stdout`` resolves to whatever the stream is)."""
    absolute = os.path.abspath(path)
    if absolute.startswith(("/dev/", "/proc/")):
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False  # a new file (or one that cannot be read: the write reports it)
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _write_in_place(path: str, data: bytes) -> None:
    try:
        with open(path, "wb") as handle:
            handle.write(data)
    except OSError as exc:
        raise WriteError(f"{path}: cannot write: {describe_os_error(exc)}") from None


def write_temporary(path: str, data: bytes) -> str:
    """The data in a new temporary file beside ``path`` (flushed to disk, with ``path``'s mode),
    ready to be renamed over it. Raises WriteError; nothing is left behind on failure."""
    if os.path.isdir(path):
        raise WriteError(f"{path}: cannot write: is a directory")
    directory = os.path.dirname(os.path.abspath(path))
    remove_stale_temporaries(path)
    prefix = f"{_hidden(path)}.{os.getpid()}."
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=_SUFFIX)
    except OSError as exc:
        raise WriteError(f"{path}: cannot write: {describe_os_error(exc)}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            mode = os.stat(path).st_mode & 0o7777
        except OSError:
            mode = 0o644
        os.chmod(tmp, mode)
    except OSError as exc:
        discard(tmp)
        raise WriteError(f"{path}: cannot write: {describe_os_error(exc)}") from None
    except BaseException:
        discard(tmp)
        raise
    return tmp


def _hidden(path: str) -> str:
    """The file name with a leading dot (once): temporary files are hidden, as the baseline is."""
    name = os.path.basename(path)
    return name if name.startswith(".") else f".{name}"


def discard(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def remove_stale_temporaries(path: str) -> list[str]:
    """Remove temporary files a killed write of ``path`` left beside it; returns their paths.

    A temporary file is stale when the process that made it is gone, or it is older than
    STALE_AFTER_SECONDS. Errors are ignored: this is housekeeping, never a reason to fail.
    """
    directory = os.path.dirname(os.path.abspath(path))
    ours = re.compile(rf"{re.escape(_hidden(path))}\.([0-9]+)\.[a-z0-9_]{{8}}{re.escape(_SUFFIX)}")
    removed: list[str] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    now = time.time()
    for name in names:
        match = ours.fullmatch(name)
        if match is None:
            continue
        candidate = os.path.join(directory, name)
        try:
            old = now - os.lstat(candidate).st_mtime > STALE_AFTER_SECONDS
        except OSError:
            continue
        if old or not _alive(int(match.group(1))):
            try:
                os.unlink(candidate)
                removed.append(candidate)
            except OSError:
                pass
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


# --- several files, all or none ----------------------------------------------------------------

JOURNAL_FORMAT = "flake8-db-session-journal"


def replace_all(contents: dict[str, bytes], journal: str) -> None:
    """Replace several files so that a reader (or a killed run) sees all of them new or none.

    Each new content goes to a temporary file beside its target first; then a journal naming the
    pairs is written (atomically); only then are the temporaries renamed over the targets, and
    the journal removed. Killed before the journal exists, nothing changed (the temporaries are
    removed by the next write); killed after, ``complete_interrupted(journal)`` finishes the
    renames. Raises WriteError (nothing changed) when a temporary file cannot be written.
    """
    if not contents:
        return
    complete_interrupted(journal)
    pending: list[tuple[str, str]] = []
    try:
        for path, data in sorted(contents.items()):
            pending.append((write_temporary(path, data), os.path.abspath(path)))
        record = {"format": JOURNAL_FORMAT, "replace": [[tmp, path] for tmp, path in pending]}
        write_atomic(journal, json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    except BaseException:
        for tmp, _path in pending:
            discard(tmp)
        raise
    _finish(pending, journal)


def complete_interrupted(journal: str) -> list[str]:
    """Finish the renames of a ``replace_all`` that was killed after writing its journal; returns
    the files replaced. Raises WriteError when the journal is unreadable or a rename fails."""
    if not os.path.lexists(journal):
        return []
    try:
        with open(journal, encoding="utf-8") as handle:
            record = json.load(handle)
        pairs = [(str(tmp), str(path)) for tmp, path in record["replace"]]
        if record.get("format") != JOURNAL_FORMAT:
            raise ValueError("not a journal")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        reason = describe_os_error(exc) if isinstance(exc, OSError) else "not a journal of this tool"
        raise WriteError(
            f"{journal}: cannot complete an interrupted write ({reason}); remove it to go on"
        ) from None
    return _finish([(tmp, path) for tmp, path in pairs if os.path.exists(tmp)], journal)


def _finish(pending: list[tuple[str, str]], journal: str) -> list[str]:
    for tmp, path in pending:
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise WriteError(
                f"{path}: cannot write: {describe_os_error(exc)}; run the command again to complete it"
            ) from None
    try:
        os.unlink(journal)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise WriteError(f"{journal}: cannot remove: {describe_os_error(exc)}") from None
    return [path for _tmp, path in pending]
