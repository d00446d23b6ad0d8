"""Burndown history: per-module counts at each commit of a range, read from git objects.

Nothing is checked out: trees and file contents come from one long-lived ``git cat-file
--batch``, so the working tree and the index are never touched. Every commit is
analyzed with the same settings (those of the working tree, or the command line), so the series
measures the code, not changes of configuration. Per-file results are cached (see ``cache.py``):
a commit costs about the files it changed.
"""

from __future__ import annotations

import ast
import logging
import multiprocessing
import multiprocessing.pool
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Callable, Optional

from flake8 import defaults as flake8_defaults
from flake8 import utils as flake8_utils

from .. import collector, runner
from ..analysis import Finding
from ..config import Settings
from . import baseline as baseline_module
from .cache import CONTENTS, LISTING, CachedResult, Questions, ResultCache, settings_fingerprint, tool_fingerprint
from .commit_index import AnswerCarry, GitProjectIndex, join_tree_path, module_in_tree
from .counts import Counts, ModuleCounts, count_findings, grep_count, grep_pattern
from .git import Commit, GitError, GitRepository, every_nth

LOG = logging.getLogger(__name__)

__all__ = [  # the git side is re-exported: callers of the history need not know where it lives
    "Commit",
    "GitError",
    "GitProjectIndex",
    "GitRepository",
    "History",
    "Point",
    "compute_history",
    "every_nth",
    "module_in_tree",
    "python_files",
]


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
    # The commits the trend is fitted on (chart.trend_commits), when they were analyzed apart from
    # ``points``; None: the trend samples ``points``.
    trend_points: list[Point] | None = None


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
# The answers an analysis computed that no earlier one of its process at that commit had: its
# index's import roots, and (question, digest of the answer, the files it was read from) each.
NewAnswers = tuple[str, list[tuple[str, str, frozenset[tuple[str, str]]]]]
# (findings, error, grep-style count, the (path, blob) pairs its answers depended on, the
# questions it asked with the digest of each answer, and its new answers)
FileOutcome = tuple[list[Finding], str, int, frozenset[tuple[str, str]], list[tuple[str, str]], NewAnswers]
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
        self.carry: AnswerCarry | None = None  # while this commit is walked
        self._modules: dict[str, tuple[str, bool, str]] = {}
        # Whether the summaries of the files analyzed are kept from their trees: this process
        # asks about a changed module when it walks the commit (not at the first commit).
        self.offer_trees = False

    def module(self, path: str) -> tuple[str, bool, str]:
        """``module_in_tree`` of a path of this commit, computed once (each file is looked up
        and keyed more than once per commit)."""
        found = self._modules.get(path)
        if found is None:
            found = self._modules[path] = module_in_tree(path, self.files)
        return found

    def analyze(self, path: str) -> FileOutcome:
        module, is_package, import_root = self.module(path)
        index = self.index(import_root)
        data = self.repository.read_blob(self.files[path])
        trees: list[tuple[ast.Module, str]] = []
        index.begin_file()
        result = runner.check_source(
            data, path, self.settings, context=(module, is_package, index),
            parsed=(lambda tree, text: trees.append((tree, text))) if self.offer_trees else None,
        )
        number = grep_count(data.decode("utf-8", "replace"), self.pattern)
        deps, questions = index.end_file()
        if trees and _parsed_as_bytes(data, trees[0][1]):
            try:
                index.offer_tree(path, module, is_package, self.files[path], data, trees[0][0])
            except Exception:  # a head start for the next reader, never the file's result
                LOG.debug("summary of %s not kept from its tree", path, exc_info=True)
        return result.findings, result.error, number, deps, questions, index.take_answers()

    def index(self, import_root: str) -> GitProjectIndex:
        index = self.indexes.get(import_root)
        if index is None:
            roots = (import_root, self.root, join_tree_path(self.root, "src"))
            index = GitProjectIndex(self.repository, self.files, self.settings, roots)
            index.carry = self.carry
            self.indexes[import_root] = index
        return index

    def walked(self, carry: AnswerCarry | None) -> None:
        """Answers of the previous commits hold here (``carry``) while this commit is walked."""
        self.carry = carry
        for index in self.indexes.values():
            index.carry = carry


def _parsed_as_bytes(data: bytes, text: str) -> bool:
    """Whether the tree of the decoded ``text`` is the one ``ast.parse(data)`` gives (UTF-8
    with no BOM, coding line or carriage return to decode differently)."""
    return b"\r" not in data and not data.startswith(b"\xef\xbb\xbf") and text.encode("utf-8", "surrogatepass") == data


_WORKER: _CommitAnalysis | None = None
# The analyses of the commits of a window, inherited by the forked workers of its prefetch.
_WINDOW: list[_CommitAnalysis] = []


def _work(path: str) -> FileOutcome:
    assert _WORKER is not None
    return _WORKER.analyze(path)


def _work_at(task: tuple[int, str]) -> FileOutcome:
    position, path = task
    return _WINDOW[position].analyze(path)


def _parallel(jobs: int, tasks: int) -> bool:
    return jobs > 1 and tasks >= PARALLEL_THRESHOLD and sys.platform.startswith("linux")


def _analyze_all(analysis: _CommitAnalysis, paths: Sequence[str], jobs: int) -> list[FileOutcome]:
    global _WORKER
    if not _parallel(jobs, len(paths)):
        return [analysis.analyze(path) for path in paths]
    _WORKER = analysis  # inherited by the forked workers, which open their own git reader
    try:
        context = multiprocessing.get_context("fork")
        with runner.worker_pool(context, jobs) as pool:
            return pool.map(_work, paths, chunksize=max(1, len(paths) // (jobs * 8)))
    finally:
        _WORKER = None


def _window_pool(analyses: list[_CommitAnalysis], jobs: int) -> multiprocessing.pool.Pool:
    """Workers forked with the analyses of a window's commits (each task is analyzed with its
    own commit's index)."""
    global _WINDOW
    _WINDOW = analyses
    return runner.worker_pool(multiprocessing.get_context("fork"), jobs)


# Commits whose new files are analyzed together, in parallel (their trees and indexes are held).
WINDOW = 64
Outcome = tuple[list[Finding], str, int]
# A file's result at the last commit walked: (its blob, its cache key, the paths it held by, the
# result); None as paths when it held through answers whose files are not known.
_Carried = tuple[str, str, Optional[frozenset[str]], Outcome]


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
    """Counts at each commit. Raises GitError.

    With several jobs, the files that are new at each commit of a window (a blob the previous
    commit did not have at that path: no earlier result can hold for it) go to worker processes
    first, commit by commit; meanwhile this process walks the commits in order, each as soon as
    its new files are done, taking every other file's result from the previous commit (when
    none of the files it depended on changed) or from the cache (those whose answers held), and
    analyzing what is left.
    """
    with collector.tuned():  # as ``check``: a history keeps much more alive between parses
        return _compute_history(repository, commits, settings, cache=cache, paths=paths, jobs=jobs, progress=progress)


def _compute_history(
    repository: GitRepository,
    commits: Sequence[Commit],
    settings: Settings,
    *,
    cache: ResultCache,
    paths: Sequence[str],
    jobs: int,
    progress: Progress | None,
) -> History:
    global _WINDOW
    started = time.perf_counter()
    toplevel = os.path.realpath(repository.toplevel)
    root = os.path.relpath(os.path.realpath(settings.root), toplevel).replace(os.sep, "/")
    root = "" if root == "." or root.startswith("..") else root
    excluded = _excluded(settings, toplevel)
    key_prefix = (tool_fingerprint(), settings_fingerprint(settings, root))
    baseline_file = os.path.relpath(os.path.realpath(settings.baseline_path), toplevel).replace(os.sep, "/")
    baselines: dict[str, int | None] = {}  # blob id -> allowed total
    history = History([], tuple(settings.ratchet_codes))
    previous: Mapping[str, str] = {}
    carried: dict[str, _Carried] = {}
    file_counts = _FileCounts(root or ".")
    carry = AnswerCarry()
    for window_start in range(0, len(commits), WINDOW):
        window = commits[window_start : window_start + WINDOW]
        trees = repository.trees([commit.sha for commit in window])
        analyses = [_CommitAnalysis(repository, files, settings, root) for files in trees]
        for position, analysis in enumerate(analyses):
            analysis.offer_trees = window_start + position > 0
        selections: list[list[str]] = []
        for files in trees:  # most commits have the files of the one before (other contents)
            same = selections and files.keys() == trees[len(selections) - 1].keys()
            selections.append(selections[-1] if same else python_files(files, paths, excluded))
        prefetched: list[int] = [0] * len(window)
        tasks: list[tuple[int, str]] = []
        if jobs > 1:
            for position, (files, selected) in enumerate(zip(trees, selections)):
                before = trees[position - 1] if position else previous
                tasks.extend(
                    (position, path)
                    for path in selected
                    if before.get(path) != files[path]
                    and _lookup(analyses[position], path, cache, key_prefix)[1] is None
                )
        pool = None
        results: Iterator[FileOutcome] = iter(())
        try:  # the pool is stopped whatever happens once it exists (Ctrl-C included)
            if _parallel(jobs, len(tasks)):
                if progress is not None:
                    progress(len(history.points), len(commits), window[0])
                # Commit by commit (this process walks them in that order as they are done), the
                # largest first within each (as check does): no worker is left alone with a
                # 20,000-line file at the end of the first commit. The blobs read here are
                # inherited by the workers.
                sizes = repository.blob_sizes([trees[position][path] for position, path in tasks])
                size = dict(zip(tasks, sizes))
                tasks.sort(key=lambda task: (task[0], -size[task]))
                pool = _window_pool(analyses, jobs)
                results = pool.imap(_work_at, tasks, chunksize=1)
            else:
                tasks = []
            done = 0  # tasks whose results are stored
            for position, commit in enumerate(window):
                if progress is not None:
                    progress(len(history.points), len(commits), commit)
                answers: list[NewAnswers] = []  # computed at this commit, carried from it
                while done < len(tasks) and tasks[done][0] <= position:
                    task_position, path = tasks[done]
                    findings, error, number, deps, questions, new_answers = next(results)
                    key = _lookup_key(analyses[task_position], path, key_prefix)
                    cache.store(key, deps, questions, findings, error, number)
                    if task_position == position:  # an answer holds from the commit it was read at
                        answers.append(new_answers)
                    prefetched[task_position] += 1
                    done += 1
                files, selected, analysis = trees[position], selections[position], analyses[position]
                changed = _with_listings({path for path, _blob in files.items() ^ previous.items()}, files, previous)
                if any(path.rpartition("/")[2] == "__init__.py" for path in changed):
                    carried.clear()  # the module names (and import roots) of other files may differ
                else:
                    # A result carries only while its file is selected at every commit: a file that
                    # goes away and comes back may find what it read changed meanwhile.
                    chosen = set(selected)
                    for path in [path for path in carried if path not in chosen]:
                        del carried[path]
                carry.advance(changed)
                _carry_answers(carry, answers)  # the questions a lookup asks of this commit next
                analysis.walked(carry)
                outcomes: dict[str, Outcome] = {}
                keys: dict[str, str] = {}
                for path in selected:
                    found = carried.get(path)
                    if found is not None and found[0] == files[path] and found[2] is not None and found[2].isdisjoint(changed):
                        keys[path], outcomes[path] = found[1], found[3]  # nothing it read changed
                        continue
                    keys[path], hit = _lookup(analysis, path, cache, key_prefix)
                    if hit is None:
                        continue
                    cached, asked, held_by = hit
                    outcomes[path] = (cached.findings, cached.error, cached.grep)
                    if held_by is None:  # through its answers
                        index = analysis.index(analysis.module(path)[2])
                        answered = index.answer_files(asked)
                        if answered is not None:  # next time at these files, it holds without asking
                            cache.store_held(keys[path], answered, asked, cached)
                            held_by = frozenset(where for where, _blob in answered)
                    carried[path] = (files[path], keys[path], held_by, outcomes[path])
                missing = [path for path in selected if path not in outcomes]
                if pool is not None and _parallel(jobs, len(missing)):
                    # Queued behind what is left of the window's new files.
                    analyzed_now = pool.map(_work_at, [(position, path) for path in missing], chunksize=1)
                else:
                    analyzed_now = _analyze_all(analysis, missing, jobs)
                for path, (findings, error, number, deps, questions, new_answers) in zip(missing, analyzed_now):
                    cache.store(keys[path], deps, questions, findings, error, number)
                    _carry_answers(carry, [new_answers])
                    outcomes[path] = (findings, error, number)
                    carried[path] = (files[path], keys[path], frozenset(where for where, _blob in deps), outcomes[path])
                analysis.walked(None)
                analyzed = len(missing) + prefetched[position]
                history.analyzed += analyzed
                history.cached += len(selected) - analyzed
                errors = [(path, outcomes[path][1]) for path in selected if outcomes[path][1]]
                counts = file_counts.total(selected, outcomes)
                baseline = None
                if baseline_file in files:
                    sha = files[baseline_file]
                    if sha not in baselines:
                        baselines[sha] = _baseline_total(repository.read_blob(sha), settings.ratchet_codes)
                    baseline = baselines[sha]
                history.points.append(Point(commit, counts, len(selected), errors, baseline, analyzed))
                previous = files
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()
            _WINDOW = []
        cache.flush()
    if progress is not None and commits:
        progress(len(commits), len(commits), commits[-1])
    history.seconds = time.perf_counter() - started
    return history


def _carry_answers(carry: AnswerCarry, answers: Sequence[NewAnswers]) -> None:
    """Answers analyses computed at the commit walked, carried as those ``ask`` computes are: a
    file looked up at a later commit asks them again, and they hold there while none of their
    files changed (asked afresh otherwise, the first commit's dozens of questions per file are
    computed again at the second)."""
    for roots, computed in answers:
        for question_text, digest, files in computed:
            carry.put(roots, question_text, digest, files)


def _with_listings(changed: set[str], files: Mapping[str, str], previous: Mapping[str, str]) -> set[str]:
    """The changed paths, the contents pseudo-path of every directory above a Python file that
    changed, and the listing pseudo-path of every directory above one added or removed."""
    pseudo = set()
    for path in changed:
        if path.endswith(".py"):
            listed = (path in files) != (path in previous)
            directory = path
            while directory:
                directory = directory.rpartition("/")[0]
                prefix = directory + "/" if directory else ""
                pseudo.add(CONTENTS + prefix)
                if listed:
                    pseudo.add(LISTING + prefix)
    return changed | pseudo


class _CommitCounts(Counts):
    """A commit's counts, final once built: their totals are summed once (the outputs ask for
    them for every column of every commit)."""

    _totals: ModuleCounts | None = None

    @property
    def totals(self) -> ModuleCounts:
        if self._totals is None:
            self._totals = super().totals
        return self._totals


class _FileCounts:
    """The counts of a commit from those of its files, each computed once per result (most
    files keep theirs from one commit to the next)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._known: dict[str, tuple[list[Finding], int, Counts]] = {}

    def total(self, paths: Sequence[str], outcomes: Mapping[str, Outcome]) -> Counts:
        """As ``count_findings`` over every file's findings and grep count (each module a new
        row, in the same order: those with findings by file, then those with a grep count only)."""
        per_file: list[tuple[bool, Counts]] = []
        for path in paths:
            findings, _error, number = outcomes[path]
            known = self._known.get(path)
            if known is None or known[0] is not findings or known[1] != number:
                grep = {path: number} if number else None
                known = self._known[path] = (findings, number, count_findings(findings, root=self.root, grep=grep))
            per_file.append((bool(findings), known[2]))
        total = _CommitCounts()
        for with_findings in (True, False):
            for has_findings, counts in per_file:
                if has_findings is with_findings:
                    for module, row in counts.modules.items():
                        if module not in total.modules:
                            total.modules[module] = ModuleCounts(module)
                        total.modules[module].merge(row)
        return total


def _lookup_key(analysis: _CommitAnalysis, path: str, key_prefix: Sequence[str]) -> str:
    module, is_package, _import_root = analysis.module(path)
    return ResultCache.key(*key_prefix, path, module, str(is_package), analysis.files[path])


def _lookup(
    analysis: _CommitAnalysis, path: str, cache: ResultCache, key_prefix: Sequence[str]
) -> tuple[str, tuple[CachedResult, Questions, frozenset[str] | None] | None]:
    """A file's cache key at a commit, and its cached result that holds there (or None)."""
    key = _lookup_key(analysis, path, key_prefix)
    index = analysis.index(analysis.module(path)[2])
    return key, cache.lookup(key, analysis.files, _asker(index, cache, key_prefix))


def _asker(index: GitProjectIndex, cache: ResultCache, key_prefix: Sequence[str]) -> Callable[[str], str]:
    """How the cache asks a recorded question again, of this commit's index."""
    return lambda question: index.ask(question, cache, key_prefix)


def _baseline_total(data: bytes, codes: Sequence[str]) -> int | None:
    """What a committed baseline allows for ``codes``; None when it cannot be read (an old or
    conflicted file is history, not an error)."""
    try:
        parsed = baseline_module.parse(data.decode("utf-8"))
    except (UnicodeDecodeError, baseline_module.BaselineError):
        return None
    wanted = set(codes)
    return sum(number for (_module, code, _function), number in parsed.entries.items() if code in wanted)
