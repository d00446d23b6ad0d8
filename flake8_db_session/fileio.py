"""Atomic, deterministic file writes: a reader never sees a half-written file."""

from __future__ import annotations

import os
import tempfile


def write_atomic(path: str, text: str | bytes) -> None:
    """Write to a temporary file beside ``path``, fsync, then rename over it."""
    directory = os.path.dirname(os.path.abspath(path))
    data = text.encode("utf-8") if isinstance(text, str) else text
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if os.path.exists(path):
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
