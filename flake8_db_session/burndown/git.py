"""Git access for the history: commits of a first-parent range, trees and blobs, read through git
plumbing (``git log``, one long-lived ``git cat-file --batch`` for trees and blobs), always with
argument lists, never a shell. Nothing is checked out: the working tree and the index are never
touched."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from ..config import ConfigError

# Blob bytes kept in memory, most recently read first (a corpus of 240k lines is about 10 MB).
_KEPT_BLOB_BYTES = 32 * 1024 * 1024
# Regular files only: a symlink (120000) or a submodule (160000) is not a source file here.
_BLOB_MODES = ("100644", "100755")
_TREE_MODES = ("40000", "040000")
# Paths kept in the flattened trees by id (about 100 bytes each) before they are forgotten.
_KEPT_TREE_ENTRIES = 1_000_000
# Object requests written to cat-file at once: 48 SHA-256 ids are about 3 KB, under the smallest
# pipe buffer (4 KB).
_REQUESTS_AT_ONCE = 48


class GitError(ConfigError):
    """git failed or the revision range is bad: one line, exit 2."""


@dataclass(frozen=True)
class Commit:
    sha: str
    timestamp: int  # committer date, seconds since the epoch (UTC)
    subject: str



class GitRepository:
    """A repository read through git plumbing, always with argument lists (never a shell)."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self.toplevel = self.git("rev-parse", "--show-toplevel").strip()
        self._batch: subprocess.Popen | None = None
        self._batch_pid = 0
        self._blobs: dict[str, bytes] = {}
        self._blob_bytes = 0
        self._tree_files: dict[str, dict[str, str]] = {}  # tree id -> its files (see ``trees``)
        self._tree_entries: dict[str, list[tuple[str, str, str]]] = {}  # read, not yet flattened
        self._tree_entries_kept = 0

    def git(self, *args: str) -> str:
        try:
            proc = subprocess.run(["git", "-C", self.path, *args], capture_output=True, check=False)
        except OSError as exc:
            raise GitError(f"cannot run git: {exc.strerror or exc}") from None
        if proc.returncode != 0:
            message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise GitError(f"git {args[0]}: {message[-1] if message else 'failed'}")
        return proc.stdout.decode("utf-8", "surrogateescape")

    def commits(self, since: str | None = None, until: str | None = None, every: int = 1) -> list[Commit]:
        """First-parent commits from ``since`` (included) to ``until`` (default HEAD), oldest first,
        keeping every ``every``-th one and always the last."""
        if until is None and not self.git("rev-list", "--max-count=1", "--all").strip():
            raise GitError(f"{self.toplevel}: no commits yet")
        until_sha = self._resolve(until or "HEAD")
        args = ["log", "--first-parent", "--reverse", "-z", "--format=%H%x00%ct%x00%s", until_sha]
        if since:
            since_sha = self._resolve(since)
            args += ["--not", f"{since_sha}^@"]  # exclude its parents: ``since`` itself is included
        fields = self.git(*args).split("\0")
        commits = [
            Commit(fields[i].strip(), int(fields[i + 1]), fields[i + 2])
            for i in range(0, len(fields) - 2, 3)
            if fields[i].strip()
        ]
        if since and (not commits or commits[0].sha != since_sha):
            raise GitError(f"--since {since} is not a first-parent ancestor of {until or 'HEAD'}")
        return every_nth(commits, every)

    def _resolve(self, rev: str) -> str:
        if rev.startswith("-"):
            raise GitError(f"not a revision: {rev}")
        try:
            return self.git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}").strip()
        except GitError:
            raise GitError(f"unknown revision: {rev}") from None

    def tree(self, commit: str) -> dict[str, str]:
        """path -> blob id of every regular file at a commit (paths relative to the top level),
        as ``git ls-tree -r --full-tree`` lists them."""
        return self.trees([commit])[0]

    def trees(self, commits: Sequence[str]) -> list[dict[str, str]]:
        """``tree`` of each commit, read from the tree objects through the long-lived
        ``cat-file`` (no process per commit), one level of directories at a time, each level
        requested at once; a directory unchanged since another commit is not read again."""
        roots = []
        for commit, (kind, data) in zip(commits, self._read_objects(commits)):
            if kind != b"commit" or not data.startswith(b"tree "):
                raise GitError(f"git cat-file: {commit} is not a commit")
            roots.append(data[5 : data.index(b"\n")].decode("ascii"))
        wanted = [tree for tree in dict.fromkeys(roots) if tree not in self._tree_files]
        while wanted:
            below: list[str] = []
            for tree, (kind, data) in zip(wanted, self._read_objects(wanted)):
                if kind != b"tree":
                    raise GitError(f"git cat-file: cannot read tree {tree}")
                entries = self._tree_entries[tree] = _tree_entries(data, len(tree) // 2)
                below.extend(oid for mode, _name, oid in entries if mode in _TREE_MODES)
            wanted = [
                tree for tree in dict.fromkeys(below) if tree not in self._tree_files and tree not in self._tree_entries
            ]
        listed = [dict(self._files_of_tree(root)) for root in roots]
        if self._tree_entries_kept > _KEPT_TREE_ENTRIES:  # each commit's root is new: a long range adds up
            self._tree_files.clear()
            self._tree_entries_kept = 0
        return listed

    def _files_of_tree(self, tree: str) -> dict[str, str]:
        """path (relative to the tree) -> blob id of the regular files under a tree, kept by id."""
        found = self._tree_files.get(tree)
        if found is not None:
            return found
        entries = self._tree_entries.pop(tree)
        files: dict[str, str] = {}
        for mode, name, oid in entries:
            if mode in _TREE_MODES:
                files.update((f"{name}/{path}", blob) for path, blob in self._files_of_tree(oid).items())
            elif mode in _BLOB_MODES:
                files[name] = oid
        # In git's order (a directory sorts as if its name ended with "/"), as ls-tree lists them.
        found = self._tree_files[tree] = files
        self._tree_entries_kept += len(files)
        return found

    def read_blob(self, sha: str) -> bytes:
        """A blob's bytes; the most recently read ones are kept (a history reads the same
        modules at every commit)."""
        found = self._blobs.get(sha)
        if found is not None:
            self._blobs[sha] = self._blobs.pop(sha)  # most recently used last
            return found
        return self._keep(sha, self._read_objects([sha])[0])

    def blob_sizes(self, shas: Sequence[str]) -> list[int]:
        """The size of each blob, read (and kept, as ``read_blob`` does) a chunk of requests at
        a time: the most recent ones are then in memory for whoever reads them next."""
        sizes: dict[str, int] = {}
        missing = [sha for sha in dict.fromkeys(shas) if sha not in self._blobs]
        for start in range(0, len(missing), _REQUESTS_AT_ONCE):
            chunk = missing[start : start + _REQUESTS_AT_ONCE]
            for sha, found in zip(chunk, self._read_objects(chunk)):
                sizes[sha] = len(self._keep(sha, found))
        return [sizes[sha] if sha in sizes else len(self.read_blob(sha)) for sha in shas]

    def _keep(self, sha: str, found: tuple[bytes, bytes]) -> bytes:
        kind, data = found
        if kind != b"blob":
            raise GitError(f"git cat-file: cannot read blob {sha}")
        self._blobs[sha] = data
        self._blob_bytes += len(data)
        while self._blob_bytes > _KEPT_BLOB_BYTES and len(self._blobs) > 1:
            self._blob_bytes -= len(self._blobs.pop(next(iter(self._blobs))))
        return data

    def _read_objects(self, shas: Sequence[str]) -> list[tuple[bytes, bytes]]:
        """(type, contents) of each object, from the long-lived ``git cat-file --batch``: the
        requests go a chunk at a time, each chunk small enough for any pipe's buffer (git may
        answer before it has read them all: a larger chunk could block both sides)."""
        if self._batch is not None and self._batch_pid != os.getpid():
            self._batch = None  # a forked worker: the parent's pipe is not ours to share
        if self._batch is None:
            self._batch_pid = os.getpid()
            self._batch = subprocess.Popen(
                ["git", "-C", self.path, "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
        stdin, stdout = self._batch.stdin, self._batch.stdout
        assert stdin is not None and stdout is not None
        found: list[tuple[bytes, bytes]] = []
        for start in range(0, len(shas), _REQUESTS_AT_ONCE):
            chunk = shas[start : start + _REQUESTS_AT_ONCE]
            stdin.write(b"".join(sha.encode() + b"\n" for sha in chunk))
            stdin.flush()
            for sha in chunk:
                header = stdout.readline().split()
                if len(header) != 3:  # "<id> missing" (or git gone)
                    raise GitError(f"git cat-file: cannot read {sha}")
                data = stdout.read(int(header[2]))
                stdout.read(1)  # the newline after the contents
                found.append((header[1], data))
        return found

    def close(self) -> None:
        if self._batch is not None:
            batch, self._batch = self._batch, None
            # After a read cut short (an interrupt, a short header) git may be blocked writing the
            # rest of a large object: closing its output too lets it end; a stuck one is killed.
            for stream in (batch.stdin, batch.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
            try:
                batch.wait(timeout=5)
            except subprocess.TimeoutExpired:
                batch.kill()
                batch.wait()


def _tree_entries(data: bytes, id_size: int) -> list[tuple[str, str, str]]:
    """(mode, name, object id) of each entry of a tree object (ids of ``id_size`` bytes)."""
    entries = []
    position = 0
    while position < len(data):
        space = data.index(b" ", position)
        nul = data.index(b"\0", space)
        oid = data[nul + 1 : nul + 1 + id_size].hex()
        entries.append((data[position:space].decode("ascii"), data[space + 1 : nul].decode("utf-8", "surrogateescape"), oid))
        position = nul + 1 + id_size
    return entries


def every_nth(commits: Sequence[Commit], every: int) -> list[Commit]:
    """Every ``every``-th commit from the first, and always the last."""
    every = max(1, every)
    kept = [c for i, c in enumerate(commits) if i % every == 0]
    if commits and kept[-1] is not commits[-1]:
        kept.append(commits[-1])
    return kept
