"""A git repository for timing ``history``: a corpus, then N commits that each touch a few files.

Each commit edits three files of the corpus the way day-to-day work does: a router gains an
endpoint with ``Depends(get_db)``, a service gains a method, a comment changes. Dates and
authors are fixed, so the repository (and its commit ids) is the same on every machine.
git is always called with argument lists.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess

FILES_PER_COMMIT = 3
_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}
_EPOCH = 1_700_000_000


def _git(repo: str, *args: str, when: int | None = None) -> str:
    env = dict(os.environ, **_ENV)
    if when is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"{when} +0000"
    proc = subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def _edit(path: str, serial: int, rng: random.Random) -> None:
    """Append code that changes the file's findings (or only its text)."""
    kind = rng.choice(("endpoint", "method", "comment"))
    if kind == "endpoint":
        text = f'''

@router.get("/bench/{serial}")
async def bench_endpoint_{serial}(item_id: int, db: Session = Depends(get_db)):
    """Added by commit {serial}."""
    return {{"id": item_id, "rows": db.execute(text("select 1")).scalar()}}
'''
    elif kind == "method":
        text = f'''

def bench_helper_{serial}(values):
    """Added by commit {serial}: no database involved."""
    return sorted(v for v in values if v is not None)
'''
    else:
        text = f"\n# touched by commit {serial}\n"
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)


def build(corpus_package: str, directory: str, commits: int) -> tuple[str, list[str]]:
    """Create the repository (replacing ``directory``); return (path, commit ids oldest first)."""
    if os.path.isdir(directory):
        shutil.rmtree(directory)
    os.makedirs(directory)
    _git(directory, "init", "--quiet", "--initial-branch=main")
    package_name = os.path.basename(os.path.normpath(corpus_package))
    shutil.copytree(corpus_package, os.path.join(directory, package_name))
    _git(directory, "add", "--all")
    _git(directory, "commit", "--quiet", "-m", "corpus", when=_EPOCH)
    files = sorted(
        os.path.relpath(os.path.join(current, name), directory)
        for current, _dirs, names in os.walk(os.path.join(directory, package_name))
        for name in names
        if name.endswith(".py") and name != "__init__.py"
    )
    rng = random.Random(f"history:{commits}")
    for serial in range(1, commits + 1):
        for relative in rng.sample(files, FILES_PER_COMMIT):
            _edit(os.path.join(directory, relative), serial, rng)
        _git(directory, "add", "--all")
        _git(directory, "commit", "--quiet", "-m", f"change {serial}", when=_EPOCH + serial * 3600)
    shas = _git(directory, "rev-list", "--reverse", "HEAD").split()
    return directory, shas


def ensure_repo(corpus_package: str, cache_root: str, commits: int, corpus_name: str) -> tuple[str, list[str]]:
    """The repository in the cache, built once per corpus and commit count."""
    directory = os.path.join(cache_root, "bench-history", f"{corpus_name}-{commits}")
    if os.path.isdir(os.path.join(directory, ".git")):
        try:
            shas = _git(directory, "rev-list", "--reverse", "HEAD").split()
            if len(shas) == commits + 1 and not _git(directory, "status", "--porcelain").strip():
                return directory, shas
        except RuntimeError:
            pass
    return build(corpus_package, directory, commits)
