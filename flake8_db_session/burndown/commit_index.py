"""The project index over one commit's tree: what the analysis may learn about other modules at
that commit, with the (path, blob id) pairs each answer depended on, so the history cache can tell
when a cached result still holds."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import posixpath
from collections.abc import Mapping, Sequence
from typing import Callable, TypeVar, cast

from ..analysis import ProjectIndex, held
from ..analysis.discovery import Discovered, Resolver
from ..analysis.names import module_of_file
from ..config import Settings
from ..project import FileProjectIndex
from .cache import CONTENTS, LISTING, UNSTABLE, ResultCache, contents_digest, listing_digest
from .git import GitRepository


def _normalize(directory: str) -> str:
    directory = posixpath.normpath(directory) if directory else ""
    return "" if directory == "." else directory


def join_tree_path(directory: str, name: str) -> str:
    return name if directory in ("", ".") else f"{directory}/{name}"


def module_in_tree(path: str, files: Mapping[str, str]) -> tuple[str, bool, str]:
    """(dotted module, is a package ``__init__``, import root) of a tree path, as
    ``project.module_for_path`` computes them on disk: climb the ``__init__.py`` chain."""
    directory, _, filename = path.rpartition("/")
    return module_of_file(
        directory,
        filename,
        lambda tree_directory: join_tree_path(tree_directory, "__init__.py") in files,
        _split_tree_path,
    )


def _split_tree_path(path: str) -> tuple[str, str]:
    parent, _, name = path.rpartition("/")
    return parent, name


def _canonical_text(value: object) -> str:
    """A JSON text of an answer that is the same in every process (fields and sets sorted):
    ``json.dumps`` of its plain form with sorted keys, built in one pass (each element's text is
    also what it sorts by)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return json.dumps(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = sorted(
            (json.dumps(f.name), _canonical_text(getattr(value, f.name))) for f in dataclasses.fields(value)
        )
        body = ", ".join(f"{name}: {text}" for name, text in fields)
        return f"[{json.dumps(type(value).__name__)}, {{{body}}}]"
    if isinstance(value, Mapping):
        return "[" + ", ".join(sorted(f"[{_canonical_text(k)}, {_canonical_text(v)}]" for k, v in value.items())) + "]"
    if isinstance(value, (set, frozenset)):
        return "[" + ", ".join(sorted(_canonical_text(v) for v in value)) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_canonical_text(v) for v in value) + "]"
    if hasattr(value, "__dict__"):
        return f"[{json.dumps(type(value).__name__)}, {_canonical_text(vars(value))}]"
    text = repr(value)
    if " at 0x" in text:
        raise _Unstable
    return json.dumps(text)


class _Unstable(Exception):
    """An answer known only by its identity."""


# Digests of immutable answers by identity, each kept alive with it (so its id is not reused): a
# summary kept by content is the same object at every commit, and each commit's index digests it.
_DIGESTS_BY_ID: dict[int, tuple[object, str]] = {}
_MAX_DIGESTS_BY_ID = 16384


def _digest(value: object) -> str:
    frozen = (
        dataclasses.is_dataclass(value)
        and not isinstance(value, type)
        and getattr(getattr(value, "__dataclass_params__", None), "frozen", False)
    )
    if frozen:
        known = _DIGESTS_BY_ID.get(id(value))
        if known is not None and known[0] is value:
            return known[1]
    try:
        text = _canonical_text(value)
    except (_Unstable, RecursionError, TypeError, ValueError):
        return UNSTABLE
    digest = hashlib.sha256(text.encode()).hexdigest()
    if frozen:
        if len(_DIGESTS_BY_ID) >= _MAX_DIGESTS_BY_ID:
            _DIGESTS_BY_ID.clear()
        _DIGESTS_BY_ID[id(value)] = (value, digest)
    return digest


_V = TypeVar("_V")
_UNTRACKED = frozenset({"module_file", "read_bytes", "remember", "remember_own", "used", "offer_tree", "package_reads", "text_fact"})


class AnswerCarry:
    """The digests ``ask`` gave at the commits walked so far, each with the files its answer was
    read from: at the next commit, an answer none of whose files changed is the same, with no
    key to hash and no answer cache to search (a file whose imports changed asks dozens of
    questions, most of them about modules that did not). An answer is dropped as soon as one
    of its files changes, so nothing grows with the number of commits walked."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[str, frozenset[tuple[str, str]], frozenset[str]]] = {}
        self._by_path: dict[str, set[tuple[str, str]]] = {}  # the entries read from each file

    def advance(self, changed: set[str]) -> None:
        """The next commit is walked; ``changed``: the paths whose blob differs from the previous one."""
        for path in changed:
            for key in list(self._by_path.get(path, ())):
                self._drop(key)

    def _drop(self, key: tuple[str, str]) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            for path in entry[2]:
                keys = self._by_path[path]
                keys.discard(key)
                if not keys:
                    del self._by_path[path]

    def get(self, roots: str, question: str) -> tuple[str, frozenset[tuple[str, str]]] | None:
        entry = self._entries.get((roots, question))
        return None if entry is None else (entry[0], entry[1])

    def put(self, roots: str, question: str, digest: str, pairs: frozenset[tuple[str, str]]) -> None:
        key = (roots, question)
        self._drop(key)
        paths = frozenset(path for path, _blob in pairs)
        self._entries[key] = (digest, pairs, paths)
        for path in paths:
            self._by_path.setdefault(path, set()).add(key)


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
        self._roots_key = "|".join(self.tree_roots)
        self._touched: set[tuple[str, str]] = set()
        self._file_deps: dict[str, tuple[str | None, frozenset[tuple[str, str]]]] = {}
        self._answers: dict[tuple, tuple[object, frozenset[tuple[str, str]]]] = {}
        self._digests: dict[tuple, str] = {}
        self._asked: dict[tuple, None] = {}  # the questions the current file's analysis asked
        self._depth = 0
        self._remembered_facts: dict[tuple, frozenset[tuple[str, ...]]] = {}
        self._digests_by_text: dict[str, str] = {}  # the digests ``ask`` gave, by question text
        self._questions_by_text: dict[str, tuple] = {}
        # The files of the answers ``ask`` took from the answer cache (not computed here).
        self._cached_answer_files: dict[tuple, frozenset[tuple[str, str]]] = {}
        # Set while this index's commit is the one walked (never for an index asked out of order).
        self.carry: AnswerCarry | None = None
        self._package_deps: dict[str, frozenset[tuple[str, str]]] = {}
        self._package_prefixes: dict[tuple[str, ...], str] = {}  # a package's files -> its prefix
        self._carried_files: dict[str, frozenset[tuple[str, str]]] = {}  # by question text
        # The answers computed here that ``take_answers`` has not handed out yet, and the
        # questions it has (each once per index).
        self._new_answers: list[tuple[str, str, frozenset[tuple[str, str]]]] = []
        self._handed_out: set[tuple] = set()
        # Every question the analysis may ask (today's and future ones), but not the two
        # primitives the answers are built from, which record what they read, nor ``remember``,
        # recorded below (its value is asked again through ``held.recompute``).
        for name in set(dir(ProjectIndex)) | set(dir(FileProjectIndex)):
            if name.startswith("_") or name in _UNTRACKED:
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
                text = json.dumps(question)
            except TypeError:  # arguments that are not plain data cannot be asked again
                questions.append((json.dumps([str(question[0])]), UNSTABLE))
                continue
            answer = self._answers.get(question)
            if answer is None:  # its computation raised (the analysis stopped there): never equal
                questions.append((text, UNSTABLE))
                continue
            digest = self.digest(question)
            questions.append((text, digest))
            if question not in self._handed_out:
                self._handed_out.add(question)
                if digest != UNSTABLE:
                    self._new_answers.append((text, digest, answer[1]))
        self._asked = {}
        return touched, questions

    def take_answers(self) -> tuple[str, list[tuple[str, str, frozenset[tuple[str, str]]]]]:
        """The answers to the questions files asked here since the last call (question text,
        digest, files read), with this index's import roots: what ``ask`` would compute for them
        at this commit, for the ``AnswerCarry`` of the process that walks the commits (the files
        were analyzed in a worker, or before the walk reached their commit)."""
        answers, self._new_answers = self._new_answers, []
        return self._roots_key, answers

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

    def remember(
        self,
        key: tuple,
        compute: Callable[[], tuple[_V, frozenset[tuple[str, ...]], bool]],
        fact_state: Callable[[tuple[str, ...]], str],
    ) -> tuple[_V, frozenset[tuple[str, ...]]]:
        """A summary the core derived from other modules, recorded as a question (``remember``
        and its key) whose answer is the summary itself: a file's result holds at another commit
        when the summaries it used are the same there, whatever else their modules changed. A
        summary computed in a loop (its value depends on where the loop was entered) is never
        equal to anything."""
        question = ("remember", *key)
        if self._depth == 0:
            self._asked[question] = None
        if question not in self._answers:
            storable: list[bool] = []

            def noted() -> tuple[_V, frozenset[tuple[str, ...]], bool]:
                value, facts, keep = compute()
                storable.append(keep)
                return value, facts, keep

            outer, self._touched = self._touched, set()
            self._depth += 1
            try:
                value, facts = super().remember(key, noted, fact_state)
            finally:
                self._depth -= 1
                deps, self._touched = frozenset(self._touched), outer
            self._answers[question] = (value, deps)
            if storable and not storable[0]:
                self._digests[question] = UNSTABLE
            self._remembered_facts[question] = facts
        answer, depended = self._answers[question]
        self._touched.update(depended)
        return cast(_V, answer), self._remembered_facts[question]  # the store holds every key's kind

    def used(self, key: tuple, value: object) -> None:
        """Recorded as ``remember`` is: a question whose answer is the fact's value, read from
        the module's file."""
        question = ("remember", *key)
        if self._depth == 0:
            self._asked[question] = None
        if question not in self._answers:
            outer, self._touched = self._touched, set()
            path = self.module_file(str(key[1])) if len(key) > 1 else None
            if path is not None:
                self._touched.add((path, self.files[path]))
            deps, self._touched = frozenset(self._touched), outer
            self._answers[question] = (value, deps)
            self._remembered_facts[question] = frozenset()
        self._touched.update(self._answers[question][1])

    def digest(self, question: tuple) -> str:
        """A digest of the answer to an asked question (its value, not its identity)."""
        if question not in self._digests:
            result, _deps = self._answers[question]
            self._digests[question] = _digest(result)
        return self._digests[question]

    def answer_files(self, questions: Sequence[Sequence[str]]) -> frozenset[tuple[str, str]] | None:
        """The files the answers to ``questions`` were read from at this commit (computed here, or
        those the answer cache recorded for them); None when some question was not answered here.
        A result that held through its answers is stored with them, so it holds by its files at
        this commit next time (the answers are not asked again, in this run or the next)."""
        deps: set[tuple[str, str]] = set()
        for question_text, _digest in questions:
            carried = self._carried_files.get(question_text)
            if carried is not None:
                deps.update(carried)
                continue
            question = self._question(question_text)
            answer = self._answers.get(question)
            if answer is not None:
                deps.update(answer[1])
            elif question in self._cached_answer_files:
                deps.update(self._cached_answer_files[question])
            else:
                return None
        return frozenset(deps)

    def ask(self, question_text: str, cache: ResultCache, key_prefix: Sequence[str]) -> str:
        """The digest of a recorded question's answer at this commit: from the answer cache when
        the files it was computed from are unchanged, else computed (and then cached)."""
        known = self._digests_by_text.get(question_text)
        if known is not None:
            return known
        if self.carry is not None:
            carried = self.carry.get(self._roots_key, question_text)
            if carried is not None:
                digest, self._carried_files[question_text] = carried
                self._digests_by_text[question_text] = digest
                return digest
        question = self._question(question_text)
        if question in self._digests:
            self._digests_by_text[question_text] = self._digests[question]
            return self._digests[question]
        key = ResultCache.key(*key_prefix, self._roots_key, question_text)
        cached = cache.answer(key, self.files)
        if cached is not None:
            digest, files = cached
            self._cached_answer_files[question] = files
        else:
            name, *args = question
            method = getattr(self, str(name), None)
            if name == "remember":
                method = self._recompute
            elif not callable(method) or name.startswith("_"):
                return ""  # a question this version cannot ask: never equal to a recorded digest
            saved, self._depth = self._depth, 1  # not one of a file's own questions
            try:
                method(*args)
                if question not in self._answers:
                    return ""
            except Exception:
                return ""
            finally:
                self._depth = saved
            digest = self.digest(question)
            files = self._answers[question][1]
            cache.store_answer(key, files, digest)
        if self.carry is not None and digest != UNSTABLE:
            self.carry.put(self._roots_key, question_text, digest, files)
        self._digests[question] = self._digests_by_text[question_text] = digest
        return digest

    def _question(self, question_text: str) -> tuple:
        question = self._questions_by_text.get(question_text)
        if question is None:
            question = self._questions_by_text[question_text] = tuple(json.loads(question_text))
        return question

    def _recompute(self, *key: object) -> None:
        """Ask a recorded ``remember`` question again at this commit."""
        held.recompute(self, tuple(key))

    def module_file(self, module: str) -> str | None:
        if not module or module.startswith("."):
            return None
        if module not in self._file_deps:
            relative = module.replace(".", "/")
            looked: set[tuple[str, str]] = set()
            found = None
            for root in self.tree_roots:
                for candidate in (relative + ".py", relative + "/__init__.py"):
                    path = join_tree_path(root, candidate)
                    looked.add((path, self.files.get(path, "")))
                    if path in self.files:
                        found = path
                        break
                if found:
                    break
            self._file_deps[module] = (found, frozenset(looked))
        found, depended = self._file_deps[module]
        self._touched.update(depended)
        return found

    def discovered(self, qualified: str) -> Discovered | None:
        """As on disk, with a resolver per question: what it remembered for one question (a
        re-export followed on the way) would be taken without recording the files it was read
        from in the next one (whose answer would then hold where it does not)."""
        return Resolver(self.name_facts, self.is_project_module).classify(qualified)

    def _package(self, package: str):
        """As on disk, and each call records the files the package's facts were read from (the
        first call computes and memoizes them: a later question, ``mentions`` after
        ``dependency_uses``, would otherwise depend on none of them)."""
        deps = self._package_deps.get(package)
        if deps is None:
            outer, self._touched = self._touched, set()
            try:
                found = super()._package(package)
            finally:
                deps, self._touched = frozenset(self._touched), outer
            self._package_deps[package] = deps
        else:
            found = super()._package(package)
        self._touched.update(deps)
        return found

    def _load(self, module: str, name: str):
        self.module_file(module)  # a memoized answer still depends on the module's file
        return super()._load(module, name)

    def read_bytes(self, path: str) -> bytes:
        sha = self.files[path]
        self._touched.add((path, sha))
        return self.repository.read_blob(sha)

    def _content_id(self, path: str) -> str:
        """The blob id from the tree: nothing is read until a fact of it must be computed."""
        sha = self.files[path]
        self._touched.add((path, sha))
        return sha

    def _content_ids(self, paths: list[str]) -> dict[str, str]:
        found = {path: self.files[path] for path in paths if path in self.files}
        prefix = self._package_prefixes.get(tuple(paths))
        if prefix is None:
            self._touched.update(found.items())
        else:  # every file of a package: one entry for all of them (and their listing)
            self._touched.add((CONTENTS + prefix, contents_digest(found, prefix)))
        return found

    def package_paths(self, package: str) -> list[str]:
        """The package's files at this commit (each answer built from them records the ones it read)."""
        init = self.module_file(package)
        if init is None:
            return []
        if not init.endswith("__init__.py"):
            return [init]
        prefix = init[: -len("__init__.py")]
        paths = sorted(p for p in self.files if p.startswith(prefix) and p.endswith(".py"))
        # What depends on the whole package depends on its listing too: a module added there
        # changes it (its files' blobs alone would not say so).
        self._touched.add((LISTING + prefix, listing_digest(paths, prefix)))
        self._package_prefixes[tuple(paths)] = prefix
        return paths
