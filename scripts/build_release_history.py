#!/usr/bin/env python3
"""Build a git repository from successive releases of a public package, for `history` to chart.

No remote git is needed: each release's wheel is fetched with ``pip download --no-deps``, unpacked
and committed in order, dated with the wheel's build time (the timestamp of its ``RECORD``, written
last when the wheel is built), and tagged ``v<version>``. Everything lives in the user's cache
directory and is third-party code: never commit it to this project.

    python scripts/build_release_history.py            # mcp-contextforge-gateway 0.9.0 .. 1.0.7
    flake8-db-session history --repo ~/.cache/flake8-db-session/history/mcp-contextforge-gateway \\
        --output burndown.png

Re-running is cheap: downloaded wheels are kept and an up-to-date repository is left alone.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import zipfile

DEFAULT_PACKAGE = "mcp-contextforge-gateway"
DEFAULT_VERSIONS = ("0.9.0", "1.0.0", "1.0.3", "1.0.7")
CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "flake8-db-session")


def git(repo: str, *args: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        ["git", "-C", repo, *args], capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def download(package: str, version: str, directory: str) -> str:
    """The wheel of one release (downloaded once, then reused)."""
    os.makedirs(directory, exist_ok=True)
    prefix = f"{package.replace('-', '_')}-{version}-"
    for name in os.listdir(directory):
        if name.startswith(prefix) and name.endswith(".whl"):
            return os.path.join(directory, name)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
         f"{package}=={version}", "-d", directory],
        check=True,
    )
    for name in os.listdir(directory):
        if name.startswith(prefix) and name.endswith(".whl"):
            return os.path.join(directory, name)
    raise SystemExit(f"pip download did not produce a wheel for {package}=={version}")


def release_date(wheel: zipfile.ZipFile) -> str:
    """ISO date of the build: RECORD is the last entry a wheel builder writes."""
    record = next(info for info in wheel.infolist() if info.filename.endswith(".dist-info/RECORD"))
    stamp = datetime.datetime(*record.date_time, tzinfo=datetime.timezone.utc)
    return stamp.isoformat()


def unpack(wheel: zipfile.ZipFile, repo: str) -> None:
    """Replace the work tree with the release's importable files (no .dist-info metadata)."""
    for name in os.listdir(repo):
        if name != ".git":
            path = os.path.join(repo, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
    for info in wheel.infolist():
        top = info.filename.split("/", 1)[0]
        if info.is_dir() or top.endswith((".dist-info", ".data")):
            continue
        target = os.path.normpath(os.path.join(repo, info.filename))
        if not target.startswith(os.path.abspath(repo) + os.sep):
            continue  # never write outside the repository
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with wheel.open(info) as source, open(target, "wb") as out:
            shutil.copyfileobj(source, out)


def build(package: str, versions: list[str], repo: str, wheels: str) -> None:
    os.makedirs(repo, exist_ok=True)
    if not os.path.isdir(os.path.join(repo, ".git")):
        git(repo, "init", "--quiet", "--initial-branch=main")
    tags = set(git(repo, "tag", "--list").split())
    wanted = [f"v{v}" for v in versions]
    if tags == set(wanted) and git(repo, "rev-parse", "--verify", "--quiet", "HEAD").strip():
        print(f"{repo}: up to date ({', '.join(wanted)})")
        return
    if tags:
        raise SystemExit(f"{repo} holds other releases ({', '.join(sorted(tags))}); remove it to rebuild")
    for version in versions:
        path = download(package, version, wheels)
        with zipfile.ZipFile(path) as wheel:
            date = release_date(wheel)
            unpack(wheel, repo)
        git(repo, "add", "--all")
        env = dict(
            os.environ,
            GIT_AUTHOR_NAME="release history",
            GIT_AUTHOR_EMAIL="history@localhost",
            GIT_COMMITTER_NAME="release history",
            GIT_COMMITTER_EMAIL="history@localhost",
            GIT_AUTHOR_DATE=date,
            GIT_COMMITTER_DATE=date,
        )
        message = f"{package} {version}"
        git(repo, "-c", "commit.gpgsign=false", "commit", "--quiet", "--allow-empty", "-m", message, env=env)
        git(repo, "tag", f"v{version}")
        print(f"committed {package} {version} ({date[:10]})")
    print(f"{repo}: {len(versions)} releases")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", default=DEFAULT_PACKAGE)
    parser.add_argument("--versions", nargs="+", default=list(DEFAULT_VERSIONS), help="oldest first")
    parser.add_argument("--repo", help=f"default: {CACHE}/history/PACKAGE")
    args = parser.parse_args(argv)
    repo = os.path.abspath(args.repo or os.path.join(CACHE, "history", args.package))
    build(args.package, args.versions, repo, os.path.join(CACHE, "releases"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
