"""Burndown history: per-module counts at each commit of a range, read from git objects.

Nothing is checked out: trees come from ``git ls-tree`` and file contents from one long-lived
``git cat-file --batch``, so the working tree and the index are never touched. Every commit is
analyzed with the same settings (those of the working tree, or the command line), so the series
measures the code, not changes of configuration. Per-file results are cached (see ``cache.py``):
a commit costs about the files it changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import os
import posixpath
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping, Sequence

from flake8 import defaults as flake8_defaults
from flake8 import utils as flake8_utils

from .. import runner
from ..analysis import Finding, ProjectIndex
from ..config import ConfigError, Settings
from ..project import FileProjectIndex
from . import baseline as baseline_module
from .cache import UNSTABLE, ResultCache, settings_fingerprint, tool_fingerprint
from .counts import Counts, count_findings, grep_count, grep_pattern

# Regular files only: a symlink (120000) or a submodule (160000) is not a source file here.
_BLOB_MODES = ("100644", "100755")


class GitError(ConfigError):
    """git failed or the revision range is bad: one line, exit 2."""


@dataclass(frozen=True)
class Commit:
    sha: str
    timestamp: int  # committer date, seconds since the epoch (UTC)
    subject: str


@dataclass
class Point:
    """The counts at one commit."""

    commit: Commit
    counts: Counts
    files: int  # Python files analyzed
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, why) for unparsable files
    # What the baseline file committed at this commit allows for the ratcheted codes (None: no
    # readable baseline there), so the chart shows the ratchet going down with the code.
    baseline: int | None = None
    analyzed: int = 0  # files analyzed at this commit (the others came from the cache)


@dataclass
class History:
    points: list[Point]
    ratchet_codes: tuple[str, ...]
    analyzed: int = 0  # file analyses actually run (cache misses)
    cached: int = 0  # file results taken from the cache
    seconds: float = 0.0


# --- git ------------------------------------------------------------------------------------------


class GitRepository:
    """A repository read through git plumbing, always with argument lists (never a shell)."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self.toplevel = self.git("rev-parse", "--show-toplevel").strip()
        self._batch: subprocess.Popen | None = None
        self._batch_pid = 0

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
        every = max(1, every)
        kept = [c for i, c in enumerate(commits) if i % every == 0]
        if commits and kept[-1] is not commits[-1]:
            kept.append(commits[-1])
        return kept

    def _resolve(self, rev: str) -> str:
        if rev.startswith("-"):
            raise GitError(f"not a revision: {rev}")
        try:
            return self.git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}").strip()
        except GitError:
            raise GitError(f"unknown revision: {rev}") from None

    def tree(self, commit: str) -> dict[str, str]:
        """path -> blob id of every regular file at a commit (paths relative to the top level)."""
        files: dict[str, str] = {}
        for entry in self.git("ls-tree", "-r", "-z", "--full-tree", commit).split("\0"):
            if not entry:
                continue
            meta, _, path = entry.partition("\t")
            mode, kind, sha = meta.split(" ")
            if kind == "blob" and mode in _BLOB_MODES:
                files[path] = sha
        return files

    def read_blob(self, sha: str) -> bytes:
        if self._batch is not None and self._batch_pid != os.getpid():
            self._batch = None  # a forked worker: the parent's pipe is not ours to share
        if self._batch is None:
            self._batch_pid = os.getpid()
            self._batch = subprocess.Popen(
                ["git", "-C", self.path, "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
        assert self._batch.stdin is not None and self._batch.stdout is not None
        self._batch.stdin.write(sha.encode() + b"\n")
        self._batch.stdin.flush()
        header = self._batch.stdout.readline().split()
        if len(header) != 3 or header[1] != b"blob":
            raise GitError(f"git cat-file: cannot read blob {sha}")
        data = self._batch.stdout.read(int(header[2]))
        self._batch.stdout.read(1)  # the newline after the contents
        return data

    def close(self) -> None:
        if self._batch is not None:
            assert self._batch.stdin is not None
            self._batch.stdin.close()
            self._batch.wait()
            self._batch = None


# --- what the analysis may learn about other modules, at one commit -------------------------------


def _normalize(directory: str) -> str:
    directory = posixpath.normpath(directory) if directory else ""
    return "" if directory == "." else directory


def _join(directory: str, name: str) -> str:
    return name if directory in ("", ".") else f"{directory}/{name}"


def module_in_tree(path: str, files: Mapping[str, str]) -> tuple[str, bool, str]:
    """(dotted module, is a package ``__init__``, import root) of a tree path, as
    ``project.module_for_path`` computes them on disk: climb the ``__init__.py`` chain."""
    directory, _, filename = path.rpartition("/")
    stem = filename[:-3] if filename.endswith(".py") else filename.rsplit(".", 1)[0]
    is_package = stem == "__init__"
    parts = [] if is_package else [stem]
    while directory and _join(directory, "__init__.py") in files:
        directory, _, name = directory.rpartition("/")
        parts.append(name)
    return ".".join(reversed(parts)), is_package, directory


def _canonical(value: object) -> object:
    """A JSON-able form of an answer that is the same in every process (sets sorted)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [type(value).__name__, {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}]
    if isinstance(value, Mapping):
        items = [[_canonical(k), _canonical(v)] for k, v in value.items()]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    if isinstance(value, (set, frozenset)):
        return sorted((_canonical(v) for v in value), key=lambda item: json.dumps(item, sort_keys=True))
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if hasattr(value, "__dict__"):
        return [type(value).__name__, _canonical(vars(value))]
    text = repr(value)
    if " at 0x" in text:
        raise _Unstable
    return text


class _Unstable(Exception):
    """An answer known only by its identity."""


def _digest(value: object) -> str:
    try:
        text = json.dumps(_canonical(value), sort_keys=True)
    except (_Unstable, RecursionError, TypeError, ValueError):
        return UNSTABLE
    return hashlib.sha256(text.encode()).hexdigest()


class GitProjectIndex(FileProjectIndex):
    """The project index over one commit's tree, recording which files each answer depended on.

    Every public question of ``ProjectIndex`` is memoized with the (path, blob id or "") pairs
    read to answer it, and each file's analysis collects the pairs of every answer it received,
    even one computed earlier for another file: that list goes into the cache entry.
    """

    def __init__(
        self, repository: GitRepository, files: Mapping[str, str], settings: Settings, roots: Sequence[str]
    ) -> None:
        # Nothing shared with other indexes: across commits the same path holds other contents,
        # and an answer learned by another index would not be recorded in this one's files.
        super().__init__((), settings, {})
        self.repository = repository
        self.files = files
        # Where ``import x`` looks, as on disk: above the file's top package, the configuration
        # directory and its ``src`` (tree paths; "" is the top level).
        self.tree_roots = tuple(dict.fromkeys(_normalize(r) for r in roots))
        self._touched: set[tuple[str, str]] = set()
        self._file_deps: dict[str, tuple[str | None, frozenset[tuple[str, str]]]] = {}
        self._answers: dict[tuple, tuple[object, frozenset[tuple[str, str]]]] = {}
        self._digests: dict[tuple, str] = {}
        self._asked: dict[tuple, None] = {}  # the questions the current file's analysis asked
        self._depth = 0
        # Every question the analysis may ask (today's and future ones), but not the two
        # primitives the answers are built from, which record what they read.
        for name in set(dir(ProjectIndex)) | set(dir(FileProjectIndex)):
            if name.startswith("_") or name in ("module_file", "read_bytes"):
                continue
            if callable(getattr(FileProjectIndex, name, None)):
                setattr(self, name, self._tracked(name, getattr(self, name)))

    def begin_file(self) -> None:
        self._touched = set()
        self._asked = {}

    def end_file(self) -> tuple[frozenset[tuple[str, str]], list[tuple[str, str]]]:
        """The files the answers this file received were read from, and its questions with the
        digest of each answer."""
        touched, self._touched = frozenset(self._touched), set()
        questions = []
        for question in self._asked:
            try:
                questions.append((json.dumps(question), self.digest(question)))
            except TypeError:  # arguments that are not plain data cannot be asked again
                questions.append((json.dumps([str(question[0])]), UNSTABLE))
        self._asked = {}
        return touched, questions

    def _tracked(self, name: str, method: Callable) -> Callable:
        def tracked(*args: object) -> object:
            key = (name, *args)
            try:
                hash(key)
            except TypeError:  # not memoizable: answered afresh, its files recorded all the same
                self._asked[(name, object())] = None
                return method(*args)
            if self._depth == 0:
                self._asked[key] = None
            if key not in self._answers:
                outer, self._touched = self._touched, set()
                self._depth += 1
                try:
                    result = method(*args)
                finally:
                    self._depth -= 1
                    deps, self._touched = frozenset(self._touched), outer
                self._answers[key] = (result, deps)
            result, deps = self._answers[key]
            self._touched.update(deps)
            return result

        return tracked

    def digest(self, question: tuple) -> str:
        """A digest of the answer to an asked question (its value, not its identity)."""
        if question not in self._digests:
            result, _deps = self._answers[question]
            self._digests[question] = _digest(result)
        return self._digests[question]

    def answer_files(self, questions: Sequence[Sequence[str]]) -> frozenset[tuple[str, str]] | None:
        """The files the answers to ``questions`` were read from at this commit; None when some
        answer came from the answer cache without being computed here."""
        deps: set[tuple[str, str]] = set()
        for question_text, _digest in questions:
            answer = self._answers.get(tuple(json.loads(question_text)))
            if answer is None:
                return None
            deps.update(answer[1])
        return frozenset(deps)

    def ask(self, question_text: str, cache: ResultCache, key_prefix: Sequence[str]) -> str:
        """The digest of a recorded question's answer at this commit: from the answer cache when
        the files it was computed from are unchanged, else computed (and then cached)."""
        question = tuple(json.loads(question_text))
        if question in self._digests:
            return self._digests[question]
        key = ResultCache.key(*key_prefix, "|".join(self.tree_roots), question_text)
        digest = cache.answer(key, self.files)
        if digest is None:
            name, *args = question
            method = getattr(self, str(name), None)
            if not callable(method) or name.startswith("_"):
                return ""  # a question this version cannot ask: never equal to a recorded digest
            saved, self._depth = self._depth, 1  # not one of a file's own questions
            try:
                method(*args)
            except Exception:  # noqa: BLE001 - the file is analyzed again, which reports it
                return ""
            finally:
                self._depth = saved
            digest = self.digest(question)
            cache.store_answer(key, self._answers[question][1], digest)
        self._digests[question] = digest
        return digest

    def module_file(self, module: str) -> str | None:
        if not module or module.startswith("."):
            return None
        if module not in self._file_deps:
            relative = module.replace(".", "/")
            looked: set[tuple[str, str]] = set()
            found = None
            for root in self.tree_roots:
                for candidate in (relative + ".py", relative + "/__init__.py"):
                    path = _join(root, candidate)
                    looked.add((path, self.files.get(path, "")))
                    if path in self.files:
                        found = path
                        break
                if found:
                    break
            self._file_deps[module] = (found, frozenset(looked))
        found, looked = self._file_deps[module]
        self._touched.update(looked)
        return found

    def _load(self, module: str, name: str):  # type: ignore[override]
        self.module_file(module)  # a memoized answer still depends on the module's file
        return super()._load(module, name)

    def read_bytes(self, path: str) -> bytes:
        sha = self.files[path]
        self._touched.add((path, sha))
        return self.repository.read_blob(sha)

    def package_paths(self, package: str) -> list[str]:
        """The package's files at this commit (each answer built from them records the ones it read)."""
        init = self.module_file(package)
        if init is None:
            return []
        if not init.endswith("__init__.py"):
            return [init]
        prefix = init[: -len("__init__.py")]
        return sorted(p for p in self.files if p.startswith(prefix) and p.endswith(".py"))


# --- the history ----------------------------------------------------------------------------------


def _excluded(settings: Settings, toplevel: str) -> Callable[[str], bool]:
    patterns = list(settings.exclude) if settings.exclude else list(flake8_defaults.EXCLUDE)
    patterns.extend(settings.extend_exclude)
    # Both sides resolved: git reports the top level with symlinks resolved.
    normalized = flake8_utils.normalize_paths(patterns, parent=os.path.realpath(settings.root))

    decided: dict[str, bool] = {}  # the same paths recur at every commit

    def matches(relative: str) -> bool:
        if relative not in decided:
            parent = relative.rpartition("/")[0]
            decided[relative] = (bool(parent) and matches(parent)) or flake8_utils.matches_filename(
                os.path.join(toplevel, relative), normalized, "%(path)s", _LOG
            )
        return decided[relative]

    def excluded(path: str) -> bool:
        return matches(path)  # a path is excluded with any directory above it

    return excluded


class _QuietLog:
    def debug(self, *args: object, **kwargs: object) -> None:
        pass


_LOG = _QuietLog()


def python_files(files: Mapping[str, str], paths: Sequence[str], excluded: Callable[[str], bool]) -> list[str]:
    prefixes = [p.strip("/") for p in paths if p.strip("/") not in ("", ".")]
    selected = []
    for path in sorted(files):
        if not path.endswith(".py"):
            continue
        if prefixes and not any(path == p or path.startswith(p + "/") for p in prefixes):
            continue
        if not excluded(path):
            selected.append(path)
    return selected


Progress = Callable[[int, int, Commit], None]
# (findings, error, grep-style count, the (path, blob) pairs its answers depended on, and the
# questions it asked with the digest of each answer)
FileOutcome = tuple[list[Finding], str, int, frozenset[tuple[str, str]], list[tuple[str, str]]]
# Below this many files to analyze in a commit, worker processes cost more than they save.
PARALLEL_THRESHOLD = 32


class _CommitAnalysis:
    """Analyzes the files of one commit (in this process or in a forked worker)."""

    def __init__(self, repository: GitRepository, files: Mapping[str, str], settings: Settings, root: str) -> None:
        self.repository = repository
        self.files = files
        self.settings = settings
        self.root = root
        self.pattern = grep_pattern(settings.dependencies)
        self.indexes: dict[str, GitProjectIndex] = {}  # one per import root, as on disk

    def analyze(self, path: str) -> FileOutcome:
        module, is_package, import_root = module_in_tree(path, self.files)
        index = self.index(import_root)
        data = self.repository.read_blob(self.files[path])
        index.begin_file()
        result = runner.check_source(data, path, self.settings, context=(module, is_package, index))
        number = grep_count(data.decode("utf-8", "replace"), self.pattern)
        deps, questions = index.end_file()
        return result.findings, result.error, number, deps, questions

    def index(self, import_root: str) -> GitProjectIndex:
        index = self.indexes.get(import_root)
        if index is None:
            roots = (import_root, self.root, _join(self.root, "src"))
            index = GitProjectIndex(self.repository, self.files, self.settings, roots)
            self.indexes[import_root] = index
        return index


_WORKER: _CommitAnalysis | None = None


def _work(path: str) -> FileOutcome:
    assert _WORKER is not None
    return _WORKER.analyze(path)


def _analyze_all(analysis: _CommitAnalysis, paths: Sequence[str], jobs: int) -> list[FileOutcome]:
    global _WORKER
    if jobs <= 1 or len(paths) < PARALLEL_THRESHOLD or not sys.platform.startswith("linux"):
        return [analysis.analyze(path) for path in paths]
    _WORKER = analysis  # inherited by the forked workers, which open their own git reader
    try:
        context = multiprocessing.get_context("fork")
        with context.Pool(jobs) as pool:
            return pool.map(_work, paths, chunksize=max(1, len(paths) // (jobs * 8)))
    finally:
        _WORKER = None


def compute_history(
    repository: GitRepository,
    commits: Sequence[Commit],
    settings: Settings,
    *,
    cache: ResultCache,
    paths: Sequence[str] = (),
    jobs: int = 1,
    progress: Progress | None = None,
) -> History:
    """Counts at each commit. Raises GitError."""
    started = time.perf_counter()
    toplevel = os.path.realpath(repository.toplevel)
    root = os.path.relpath(os.path.realpath(settings.root), toplevel).replace(os.sep, "/")
    root = "" if root == "." or root.startswith("..") else root
    excluded = _excluded(settings, toplevel)
    key_prefix = (tool_fingerprint(), settings_fingerprint(settings, root))
    baseline_file = os.path.relpath(os.path.realpath(settings.baseline_path), toplevel).replace(os.sep, "/")
    baselines: dict[str, int | None] = {}  # blob id -> allowed total
    history = History([], tuple(settings.ratchet_codes))
    for position, commit in enumerate(commits):
        if progress is not None:
            progress(position, len(commits), commit)
        files = repository.tree(commit.sha)
        selected = python_files(files, paths, excluded)
        outcomes: dict[str, tuple[list[Finding], str, int]] = {}
        keys: dict[str, str] = {}
        analysis = _CommitAnalysis(repository, files, settings, root)
        for path in selected:
            module, is_package, import_root = module_in_tree(path, files)
            keys[path] = ResultCache.key(*key_prefix, path, module, str(is_package), files[path])
            index = analysis.index(import_root)
            hit = cache.lookup(keys[path], files, lambda q, index=index: index.ask(q, cache, key_prefix))
            if hit is not None:
                cached, questions, through_answers = hit
                outcomes[path] = (cached.findings, cached.error, cached.grep)
                deps = index.answer_files(questions) if through_answers else None
                if deps is not None:  # next time at these files, it holds without asking
                    cache.store(keys[path], deps, questions, cached.findings, cached.error, cached.grep)
        missing = [path for path in selected if path not in outcomes]
        for path, (findings, error, number, deps, questions) in zip(
            missing, _analyze_all(analysis, missing, jobs)
        ):
            cache.store(keys[path], deps, questions, findings, error, number)
            outcomes[path] = (findings, error, number)
        cache.flush()
        history.analyzed += len(missing)
        history.cached += len(selected) - len(missing)
        all_findings = [f for path in selected for f in outcomes[path][0]]
        grep = {path: outcomes[path][2] for path in selected if outcomes[path][2]}
        errors = [(path, outcomes[path][1]) for path in selected if outcomes[path][1]]
        counts = count_findings(all_findings, root=root or ".", grep=grep)
        baseline = None
        if baseline_file in files:
            sha = files[baseline_file]
            if sha not in baselines:
                baselines[sha] = _baseline_total(repository.read_blob(sha), settings.ratchet_codes)
            baseline = baselines[sha]
        history.points.append(Point(commit, counts, len(selected), errors, baseline, len(missing)))
    if progress is not None and commits:
        progress(len(commits), len(commits), commits[-1])
    history.seconds = time.perf_counter() - started
    return history


def _baseline_total(data: bytes, codes: Sequence[str]) -> int | None:
    """What a committed baseline allows for ``codes``; None when it cannot be read (an old or
    conflicted file is history, not an error)."""
    try:
        parsed = baseline_module.parse(data.decode("utf-8"))
    except (UnicodeDecodeError, baseline_module.BaselineError):
        return None
    wanted = set(codes)
    return sum(number for (_module, code, _function), number in parsed.entries.items() if code in wanted)


# --- a progress bar, only on a terminal -----------------------------------------------------------


def terminal_progress(stream=None) -> Progress | None:
    stream = stream or sys.stderr
    if not getattr(stream, "isatty", lambda: False)():
        return None

    def show(done: int, total: int, commit: Commit) -> None:
        width = 30
        filled = width * done // max(total, 1)
        bar = "#" * filled + "-" * (width - filled)
        stamp = time.strftime("%Y-%m-%d", time.gmtime(commit.timestamp))
        end = "\n" if done == total else ""
        stream.write(f"\r[{bar}] {done}/{total} commits  {commit.sha[:10]} {stamp}{end}")
        stream.flush()

    return show


def iter_series(history: History) -> Iterator[tuple[Point, int]]:
    """Each point with its count of ratcheted codes (the burndown number)."""
    for point in history.points:
        totals = point.counts.totals
        yield point, sum(totals.codes.get(code, 0) for code in history.ratchet_codes)
