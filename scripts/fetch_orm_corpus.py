"""Download pinned public releases used to review the ORM rules into the cache (never committed).

    python scripts/fetch_orm_corpus.py            # prints the directory of each unpacked package

The wheel is fetched with pip (no dependencies) and unpacked under
~/.cache/flake8-db-session/corpora/<name>-<version>/.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import tempfile
import zipfile

CORPORA = {"optuna": "5.0.0"}  # SQLAlchemy ORM storage: models with relationships, a committing scope
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "flake8-db-session", "corpora")


def fetch(name: str, version: str) -> str:
    target = os.path.join(CACHE, f"{name}-{version}")
    if os.path.isdir(os.path.join(target, name)):
        return target
    with tempfile.TemporaryDirectory() as download:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
             "--dest", download, f"{name}=={version}"],
            check=True,
        )
        (wheel,) = glob.glob(os.path.join(download, "*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(target)
    return target


if __name__ == "__main__":
    for package, pinned in CORPORA.items():
        print(fetch(package, pinned))
