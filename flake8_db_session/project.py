"""The filesystem-backed project index: module names of files and names defined in other modules.

The core asks it, lazily, only what one file needs (is this imported name a session alias
defined in another module?), so an editor save parses at most the few modules it imports
names from, once per process.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import time
from functools import lru_cache
from typing import Callable, TypeVar

from . import summary_cache
from .analysis.astutil import sharing_parses
from .analysis.context import EMPTY_INDEX, ModuleContext, ProjectIndex, SessionAlias
from .analysis.discovery import (
    DependencyUses,
    Discovered,
    NameFacts,
    Resolver,
    code_text,
    count_mentions,
    dependency_uses,
    text_facts,
)
from .analysis.models import ModuleSummary, summarize_source, summary_needs_tree
from .analysis.names import module_of_file, reexport_target
from .analysis.orm_services import ServiceFacts, facts_of_source
from .config import Settings

_V = TypeVar("_V")

_MAX_REEXPORT_DEPTH = 8
# Text gates before parsing another module: an alias definition starts a line with
# ``Name = Annotated[``/``Depends(``/``Security(`` (maybe annotated, or ``type Name =``); a
# re-export names it in an import statement. Both are matched over "\n" + text: a pattern that
# starts with the newline lets the engine jump from one line to the next (``^`` with MULTILINE
# tries every position).
_ALIAS_LINE = re.compile(r"\n(?:type\s+)?(\w+)\s*(?::[^=\n]*)?=\s*[\w.]*(?:Annotated\[|Depends\(|Security\()")
_IMPORT_LIST = re.compile(r"\n[ \t]*from[ \t]+\.*[\w.]*[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)")
_WORD = re.compile(r"\w+")


@lru_cache(maxsize=4096)
def _is_package_dir(directory: str) -> bool:
    return os.path.isfile(os.path.join(directory, "__init__.py"))


def module_for_path(path: str) -> tuple[str, bool, str]:
    """(dotted module name, is a package ``__init__``, import root) for a file path.

    The module name climbs the ``__init__.py`` chain; the root is the directory above the
    topmost package (where ``import top`` would find it).
    """
    directory, filename = os.path.split(os.path.abspath(path))
    return module_of_file(directory, filename, _is_package_dir, os.path.split)


class FileProjectIndex(ProjectIndex):
    """Resolves qualified names against the source files under a set of import roots."""

    settings: Settings

    def __init__(self, roots: tuple[str, ...], settings: Settings, shared: dict | None = None) -> None:
        super().__init__()
        self.roots = tuple(dict.fromkeys(os.path.abspath(r) for r in roots))
        self.settings = settings
        # What was learned per (kind, module, file), shared by the indexes of one process that
        # differ only by import roots (a directory without __init__.py gets its own), so a
        # module is still parsed once.
        self._shared: dict = shared if shared is not None else {}
        self._files: dict[str, str | None] = {}
        self._aliases: dict[str, SessionAlias | None] = {}
        self._model_summaries: dict[str, ModuleSummary | None] = {}
        self._path_summaries: dict[str, tuple[tuple[int, int], ModuleSummary | None]] = {}
        # module -> (its imports, its aliases); parsed trees are not kept (a large live tree
        # makes every garbage collection pass slower).
        self._modules: dict[str, tuple[dict[str, str] | None, dict[str, SessionAlias]]] = {}
        self._name_facts: dict[tuple[str, str], NameFacts | None] = {}
        self._resolver = Resolver(self.name_facts, self.is_project_module)
        # package -> (what its modules hand to Depends, the blob id of each of its files)
        self._packages: dict[str, tuple[DependencyUses, dict[str, str]] | None] = {}
        self._mentions: dict[tuple[str, str, str], int | None] = {}
        self._blob_ids: dict[str, str] = {}
        self._remembered: dict[tuple, tuple] = {}
        self._text_blobs: dict[str, tuple[str, str | None]] = {}  # path -> (analyzed text, its blob id)

    def module_file(self, module: str) -> str | None:
        if module in self._files:
            return self._files[module]
        found = None
        if module and not module.startswith("."):
            relative = module.replace(".", os.sep)
            for root in self.roots:
                for candidate in (relative + ".py", os.path.join(relative, "__init__.py")):
                    path = os.path.join(root, candidate)
                    if os.path.isfile(path):
                        found = path
                        break
                if found:
                    break
        self._files[module] = found
        return found

    def is_project_module(self, module: str) -> bool:
        return self.module_file(module) is not None

    def model_summary(self, module: str) -> ModuleSummary | None:
        """The ORM facts (models, relationships, sessionmakers) of a project module, or None.

        Parsed at most once per process; only the small summary is kept, never the tree.
        """
        summaries = self._model_summaries
        if module not in summaries:
            path = self.module_file(module)
            summary = None
            if path is not None:
                key = ("summary", module, path)
                if key in self._shared:
                    summary = self._shared[key]
                else:
                    try:
                        summary = self._summary(path, module, path.endswith("__init__.py"))
                    except OSError:
                        summary = None
                    self._shared[key] = summary
            summaries[module] = summary
        return summaries[module]

    def service_facts(self, module: str) -> ServiceFacts | None:
        """What another module's functions return and its module-level instances (see
        ``orm_services``), computed once per content."""
        path = self.module_file(module)
        try:
            if path is not None:
                blob = self._content_id(path)
                found = path

                def read() -> bytes:
                    return self.read_bytes(found)
            else:
                path = self._configured_file(module)
                if path is None:
                    return None
                with open(path, "rb") as handle:  # from disk, as configured (as model_summary_at)
                    data = handle.read()
                blob = blob_id(data)

                def read() -> bytes:
                    return data
        except OSError:
            return None
        is_package = path.endswith("__init__.py")
        summary = self.model_summary(module)
        key, imports = _service_facts_key(module, is_package, blob, summary)
        where = path
        return _by_content(
            _SERVICE_FACTS_BY_CONTENT, key, lambda: facts_of_source(read(), where, module, is_package, imports), "services"
        )

    def _configured_file(self, module: str) -> str | None:
        """A model file configured by path answers for the module named like its file."""
        stem = module.rpartition(".")[2]
        for entry in self.settings.model_modules:
            if entry.endswith(".py") and os.path.splitext(os.path.basename(entry))[0] == stem:
                path = self.settings.resolve_path(entry)
                return path if os.path.isfile(path) else None
        return None

    def offer_tree(self, path: str, module: str, is_package: bool, blob: str, data: bytes, tree: ast.Module) -> None:
        """The tree of a module just analyzed (parsed from ``data``, whose blob id is ``blob``):
        its summary, and service facts, are kept from it unless known already, for whoever asks
        next (``history`` asks about the files a commit changed after their analysis)."""
        key = (module, is_package, blob)
        if key in _SUMMARIES_BY_CONTENT or not summary_needs_tree(data):
            return  # known, or read from the text alone: no parse to spare
        _by_content(
            _SUMMARIES_BY_CONTENT,
            key,
            lambda: _summary_and_facts(data, path, module, is_package, blob, tree),
            "summary",
        )

    def model_summary_at(self, path: str) -> ModuleSummary | None:
        """The ORM facts of a configured model file (``db-session-model-modules`` by path),
        named after its file; re-read when the file changes (a long-running editor)."""
        try:
            stat = os.stat(path)
        except OSError:
            return None
        key = (stat.st_size, stat.st_mtime_ns)
        cached = self._path_summaries.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        try:  # from disk, as configured (not through ``read_bytes``, which may serve a commit)
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError:
            return None
        stem = os.path.splitext(os.path.basename(path))[0]
        summary = _summary_of(data, path, stem, stem == "__init__")
        self._path_summaries[path] = (key, summary)
        return summary

    def module_state(self, module: str) -> str:
        """The module file's git blob id."""
        path = self.module_file(module)
        if path is None:
            return ""
        try:
            return self._content_id(path)
        except OSError:
            return "unreadable"

    def _content_id(self, path: str) -> str:
        """The git blob id of a module file (the same id for the same bytes on disk and in any
        commit): what facts of its content are kept under. OSError when it cannot be read."""
        found = self._blob_ids.get(path)
        if found is None:
            found = self._blob_ids[path] = blob_ids([path])[path]
        return found

    def _content_ids(self, paths: list[str]) -> dict[str, str]:
        """The blob ids of several files (the unreadable ones left out), in one batch."""
        missing = [path for path in paths if path not in self._blob_ids]
        if missing:
            for path, blob in blob_ids(missing).items():
                if blob is not None:
                    self._blob_ids[path] = blob
        return {path: self._blob_ids[path] for path in paths if path in self._blob_ids}

    def remember(
        self,
        key: tuple,
        compute: Callable[[], tuple[_V, frozenset[tuple[str, ...]], bool]],
        fact_state: Callable[[tuple[str, ...]], str],
    ) -> tuple[_V, frozenset[tuple[str, ...]]]:
        """Once per index, and kept in the persistent cache with the state of each module it read
        and of each fact it read of them (under the configured settings)."""
        if key not in self._remembered:
            self._remembered[key] = summary_cache.remember_derived(
                (*key, self.settings), compute, self.module_state, fact_state
            )
        return self._remembered[key]

    def text_fact(self, key: tuple, path: str, compute: Callable[[], _V]) -> _V:
        """Kept by the file's blob id (its content), in the persistent cache."""
        try:
            blob = self._content_id(path)
        except (OSError, KeyError):
            return compute()
        return _by_content(_TEXT_FACTS, (*key, blob), compute, "text-fact")

    def remember_own(self, key: tuple, source: str, compute: Callable[[], _V], path: str = "") -> _V:
        """Kept by the analyzed text's content: the file's blob id when the text is the file at
        ``path`` (compared, not hashed), else a digest of the text (an editor's unsaved buffer),
        in the persistent cache, so the next process (the next lint) reads it."""
        blob = self._blob_of_text(path, source) if path else None
        if blob is not None:
            digest = f"blob:{blob}"
        else:
            digest = hashlib.blake2b(source.encode("utf-8", "surrogatepass"), digest_size=20).hexdigest()
        return _by_content(_OWN_BY_TEXT, (*key, digest), compute, "own")

    def _blob_of_text(self, path: str, text: str) -> str | None:
        """The blob id of the file at ``path`` when ``text`` is its content, else None; the
        comparison is made once per text (several facts of one analysis ask it)."""
        spelled = os.path.abspath(path)  # one file, however the callers spell its path
        known = self._text_blobs.get(spelled)
        if known is not None and known[0] is text:
            return known[1]
        blob = None
        try:
            if self._text(path) == text:
                blob = self._content_id(path)
        except (OSError, KeyError):
            blob = None
        self._text_blobs = {spelled: (text, blob)}  # the analyzed text only: a text is large
        return blob

    def read_bytes(self, path: str) -> bytes:
        """A module's bytes (a subclass may read them from elsewhere, such as git objects)."""
        with open(path, "rb") as handle:
            return handle.read()

    def package_paths(self, package: str) -> list[str]:
        """The Python files of a top-level package (a subclass may list them from elsewhere)."""
        init = self.module_file(package)
        if init is None:
            return []
        if not init.endswith("__init__.py"):
            return [init]
        found: list[str] = []
        for directory, subdirectories, filenames in os.walk(os.path.dirname(init)):
            subdirectories[:] = sorted(d for d in subdirectories if not d.startswith(".") and d != "__pycache__")
            found.extend(os.path.join(directory, f) for f in sorted(filenames) if f.endswith(".py"))
        return found

    # -- discovery (docs/discovery.md) --------------------------------------------------------
    def name_facts(self, module: str, name: str) -> NameFacts | None:
        key = (module, name)
        if key not in self._name_facts:
            facts = None
            path = self.module_file(module)
            if path is not None and "." not in name:
                try:
                    facts = self._facts(path, module, path.endswith("__init__.py"), name)
                except OSError:
                    facts = None
            self._name_facts[key] = facts
        return self._name_facts[key]

    def discovered(self, qualified: str) -> Discovered | None:
        return self._resolver.classify(qualified)

    def _package(self, package: str) -> tuple[DependencyUses, dict[str, str]] | None:
        """What the modules of a package hand to Depends, and the blob id of each file (by
        path): facts of a file are computed once per content, so a package of which one file
        changed (an editor save, the next commit of a history) costs about that file."""
        if package not in self._packages:
            paths = self.package_paths(package)
            result = None
            if paths:
                ids = self._content_ids(paths)
                blobs = sorted(set(ids.values()))
                key = ("package-uses", hashlib.blake2b("\0".join(blobs).encode(), digest_size=20).hexdigest())
                uses = _remembered_batch(_PACKAGE_USES, [key], lambda _keys: [self._union_of_uses(ids)])[0]
                result = (uses, ids)
            self._packages[package] = result
        return self._packages[package]

    def _union_of_uses(self, ids: dict[str, str]) -> DependencyUses:
        paths = {blob: path for path, blob in ids.items()}
        keys = [("uses", blob) for blob in sorted(paths)]

        def compute(missing: list[tuple]) -> list[DependencyUses]:
            return [dependency_uses(self._text(paths[blob])) for _kind, blob in missing]

        referenced: set[str] = set()
        instantiated: set[str] = set()
        typed: set[str] = set()
        for file_uses in _remembered_batch(_USES_BY_CONTENT, keys, compute):
            referenced |= file_uses.referenced
            instantiated |= file_uses.instantiated
            typed |= file_uses.session_typed
        return DependencyUses(frozenset(referenced), frozenset(instantiated), frozenset(typed))

    def _text(self, path: str) -> str:
        try:
            return self.read_bytes(path).decode("utf-8", "replace")
        except OSError:
            return ""

    def dependency_uses(self, package: str) -> DependencyUses | None:
        found = self._package(package)
        return None if found is None else found[0]

    def package_reads(self, package: str, path: str, text: str) -> bool:
        found = self._package(package)
        if found is None:
            return False
        ids = found[1]
        member = path if path in ids else os.path.abspath(path)
        # Compared, not hashed: reading the file again costs less than a digest of the text.
        return member in ids and self._blob_of_text(member, text) == ids[member]

    def mentions(self, package: str, word: str, exclude_path: str) -> int | None:
        key = (package, word, exclude_path)
        if key not in self._mentions:
            found = self._package(package)
            total = None
            if found is not None:
                excluded = os.path.abspath(exclude_path)
                name = os.path.basename(excluded)  # a cheap test first: most paths end otherwise
                files = [
                    (path, blob)
                    for path, blob in found[1].items()
                    if not (path.endswith(name) and os.path.abspath(path) == excluded)
                ]
                paths = {blob: path for path, blob in files}
                keys = [("mentions", blob, word) for blob in sorted(paths)]

                def compute(missing: list[tuple]) -> list[int]:
                    return [_mentions_in(self._text(paths[blob]), word) for _kind, blob, _word in missing]

                counts = dict(zip(sorted(paths), _remembered_batch(_MENTIONS_BY_CONTENT, keys, compute)))
                # Each file counts (two files may hold the same bytes).
                total = sum(counts[blob] for _path, blob in files)
            self._mentions[key] = total
        return self._mentions[key]

    def _load(self, module: str, name: str) -> tuple[dict[str, str] | None, dict[str, SessionAlias]]:
        cached = self._modules.get(module)
        if cached is not None:
            return cached
        path = self.module_file(module)
        result: tuple[dict[str, str] | None, dict[str, SessionAlias]] = (None, {})
        if path is not None:
            shared = self._shared.get(("aliases", module, path))
            if shared is not None:
                self._modules[module] = shared
                return shared
            is_package = path.endswith("__init__.py")
            try:
                blob = self._content_id(path)
                alias_names, imported_names = self._candidates(path, blob)
                if name in imported_names and name not in alias_names:
                    # Only re-exported here: where it comes from is in the import text, and a
                    # parse (of a module as large as a 20,000-line admin.py) would add nothing.
                    target = _by_content(
                        _REEXPORTS_BY_CONTENT,
                        (module, is_package, name, blob),
                        lambda: reexport_target(self._text(path), module, is_package, name),
                        "reexport",
                    )
                    if target is not None:
                        return {name: target}, {}
                if name in alias_names or name in imported_names:
                    result = _by_content(
                        _ALIASES_BY_CONTENT,
                        (module, is_package, self.settings, blob),
                        lambda: _aliases_in(self.read_bytes(path), path, module, is_package, self.settings),
                        "aliases",
                    )
                    self._modules[module] = self._shared[("aliases", module, path)] = result
                    return result
            except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
                pass
            # Not cached when the name is absent: another name from the module may need a parse.
            return result
        self._modules[module] = result
        return result

    def _candidates(self, path: str, blob: str) -> tuple[frozenset[str], frozenset[str]]:
        """Names that could be an alias in a module's text: (alias-shaped lines, names in imports)."""
        return _by_content(_CANDIDATES_BY_CONTENT, (blob,), lambda: _candidates_in(self._text(path)), "candidates")

    def _summary(self, path: str, module: str, is_package: bool) -> ModuleSummary | None:
        blob = self._content_id(path)
        return _by_content(
            _SUMMARIES_BY_CONTENT,
            (module, is_package, blob),
            lambda: _summary_and_facts(self.read_bytes(path), path, module, is_package, blob),
            "summary",
        )

    def _facts(self, path: str, module: str, is_package: bool, name: str) -> NameFacts | None:
        key = (module, is_package, name, self._content_id(path))
        return _by_content(
            _FACTS_BY_CONTENT, key, lambda: text_facts(self._text(path), module, is_package, name, path), "facts"
        )

    def session_alias(self, qualified: str) -> SessionAlias | None:
        if qualified not in self._aliases:
            self._aliases[qualified] = self._resolve_alias(qualified)
        return self._aliases[qualified]

    def _resolve_alias(self, qualified: str) -> SessionAlias | None:
        seen: set[str] = set()
        for _ in range(_MAX_REEXPORT_DEPTH):
            if qualified in seen:
                return None
            seen.add(qualified)
            module, _, name = qualified.rpartition(".")
            if not module:
                return None
            imports, aliases = self._load(module, name)
            if name in aliases:
                return aliases[name]
            if imports is None or name not in imports:
                return None
            qualified = imports[name]  # follow a re-export
        return None


def blob_id(data: bytes) -> str:
    """The git blob id of some bytes: one content id for a file on disk and in any commit."""
    header = b"blob %d\0" % len(data)
    return hashlib.sha1(header + data, usedforsecurity=False).hexdigest()


# A file's blob id is trusted while its size, times and inode stay the same, except for a file
# changed in the last seconds (as git does: another write in the same clock tick would leave
# them all unchanged); the ids of a directory's files are kept in the persistent
# cache, one entry per directory, so a new process hashes only the files that changed.
_RACY_NS = 2_000_000_000
_STAT_IDS: dict[str, dict[str, tuple[tuple[int, int, int, int], str]]] = {}  # directory -> name -> (stat, id)


def blob_ids(paths: list[str]) -> dict[str, str]:
    """The blob id of each readable file of ``paths`` (the others are left out)."""
    directories: dict[str, list[str]] = {}
    for path in paths:
        directories.setdefault(os.path.dirname(os.path.abspath(path)), []).append(path)
    unknown = [directory for directory in directories if directory not in _STAT_IDS]
    if unknown:
        stored = summary_cache.shared_cache().get_many([("blob-ids", directory) for directory in unknown])
        for directory, entries in zip(unknown, stored):
            _STAT_IDS[directory] = dict(entries) if isinstance(entries, dict) else {}
    now = time.time_ns()
    found: dict[str, str] = {}
    changed: list[str] = []
    for directory, members in directories.items():
        known = _STAT_IDS[directory]
        dirty = False
        for path in members:
            name = os.path.basename(path)
            try:
                stat = os.stat(path)
                key = (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)
                entry = known.get(name)
                if entry is not None and entry[0] == key:
                    found[path] = entry[1]
                    continue
                with open(path, "rb") as handle:
                    found[path] = blob_id(handle.read())
            except OSError:
                continue
            if now - max(stat.st_mtime_ns, stat.st_ctime_ns) >= _RACY_NS:
                known[name] = (key, found[path])
                dirty = True
            else:
                known.pop(name, None)
        if dirty:
            changed.append(directory)
    if changed:
        summary_cache.shared_cache().put_many([(("blob-ids", d), _STAT_IDS[d]) for d in changed])
    return found


_MAX_BY_CONTENT = 4096


def _by_content(cache: dict, key: tuple, compute: Callable[[], _V], kind: str = "") -> _V:
    """``compute()`` once per key, in a cache cleared when it reaches its bound; with a ``kind``,
    also kept in the persistent cache, so other processes reuse it."""
    if key in cache:
        return cache[key]
    value = summary_cache.remembered((kind, *key), compute) if kind else compute()
    _keep(cache, key, value)
    return value


def _keep(cache: dict, key: tuple, value: object) -> None:
    if len(cache) >= _MAX_BY_CONTENT:
        cache.clear()
    cache[key] = value


def _remembered_batch(cache: dict, keys: list[tuple], compute: Callable[[list[tuple]], list[_V]]) -> list[_V]:
    """``_by_content`` for many keys (their first part is the kind): what neither this process
    nor the persistent cache knows is computed in one call and stored in one transaction."""
    found = {key: cache[key] for key in keys if key in cache}
    missing = [key for key in keys if key not in found]
    if missing:
        store = summary_cache.shared_cache()
        stored = store.get_many(missing)
        found.update((key, value) for key, value in zip(missing, stored) if value is not summary_cache.MISSING)
        absent = [key for key in missing if key not in found]
        if absent:
            values = compute(absent)
            found.update(zip(absent, values))
            store.put_many(list(zip(absent, values)))
        if len(cache) + len(missing) >= _MAX_BY_CONTENT:
            cache.clear()
        cache.update((key, found[key]) for key in missing)
    return [found[key] for key in keys]


# Facts of a module's content, by its blob id (and its name, where they depend on it): the same
# module at 50 commits of a history (a new index per commit) is read once. None depends on
# anything but the module itself (and the settings, for the aliases).
_SUMMARIES_BY_CONTENT: dict[tuple, ModuleSummary | None] = {}
_SERVICE_FACTS_BY_CONTENT: dict[tuple, ServiceFacts] = {}  # imports come from the module's summary
_FACTS_BY_CONTENT: dict[tuple, NameFacts | None] = {}  # discovery facts of a name
_USES_BY_CONTENT: dict[tuple, DependencyUses] = {}  # what a module hands to Depends
_PACKAGE_USES: dict[tuple, DependencyUses] = {}  # the same for every module of a package
_MENTIONS_BY_CONTENT: dict[tuple, int] = {}  # how often a module uses a name
_ALIASES_BY_CONTENT: dict[tuple, tuple[dict[str, str] | None, dict[str, SessionAlias]]] = {}
_CANDIDATES_BY_CONTENT: dict[tuple, tuple[frozenset[str], frozenset[str]]] = {}
_REEXPORTS_BY_CONTENT: dict[tuple, str | None] = {}
_OWN_BY_TEXT: dict[tuple, object] = {}  # what the core derived from an analyzed text alone
_TEXT_FACTS: dict[tuple, object] = {}  # what the core derived from another module's text alone


def _summary_and_facts(
    data: bytes, path: str, module: str, is_package: bool, blob: str, tree: ast.Module | None = None
) -> ModuleSummary | None:
    """A module's summary; when that took a parse, its service facts are kept too, read from
    the same tree: most modules summarized (those another module imports names from) are asked
    for their facts as well, later, when the tree is gone (two parses of each otherwise).
    ``tree``: the parse of ``data``, when the caller has it."""
    with sharing_parses() as shared:
        if tree is not None:
            shared.seed(data, tree)
        summary = summarize_source(data, path, module, is_package)
        if summary is not None and shared.holds(data):
            key, imports = _service_facts_key(module, is_package, blob, summary)
            if key not in _SERVICE_FACTS_BY_CONTENT:
                try:
                    facts = facts_of_source(data, path, module, is_package, imports)
                except Exception:  # computed when asked for, as before: never the summary's failure
                    return summary
                _keep_by_content(_SERVICE_FACTS_BY_CONTENT, key, facts, "services")
    return summary


def _service_facts_key(
    module: str, is_package: bool, blob: str, summary: ModuleSummary | None
) -> tuple[tuple, dict[str, str] | None]:
    """The key of a module's service facts, and the imports they are computed with (from its
    summary: the text-based facts need them)."""
    imports = dict(summary.imports) if summary is not None and summary.imports else None
    return (module, is_package, blob, imports is None), imports


def _keep_by_content(cache: dict, key: tuple, value: object, kind: str) -> None:
    """Store what ``_by_content`` would compute for ``key``."""
    _keep(cache, key, value)
    summary_cache.shared_cache().put((kind, *key), value)


def _summary_of(data: bytes, path: str, module: str, is_package: bool) -> ModuleSummary | None:
    key = (module, is_package, blob_id(data))
    return _by_content(_SUMMARIES_BY_CONTENT, key, lambda: summarize_source(data, path, module, is_package), "summary")


def _mentions_in(text: str, word: str) -> int:
    """Uses of a name in a module's code (not its comments, docstrings or imports)."""
    return count_mentions(code_text(text), word) if word in text else 0


def _candidates_in(text: str) -> tuple[frozenset[str], frozenset[str]]:
    text = "\n" + text
    imported: set[str] = set()
    for statement in _IMPORT_LIST.findall(text):
        imported.update(_WORD.findall(statement))
    return frozenset(_ALIAS_LINE.findall(text)), frozenset(imported)


def _aliases_in(
    data: bytes, path: str, module: str, is_package: bool, settings: Settings
) -> tuple[dict[str, str] | None, dict[str, SessionAlias]]:
    """(imports, session aliases) of a module; raises what ``ast.parse`` raises."""
    from .analysis.dependencies import module_aliases

    tree = ast.parse(data, filename=path)
    # The aliases of a module depend only on its own names and the settings: no index needed.
    ctx = ModuleContext.build(tree, path, settings, module=module, is_package=is_package)
    return ctx.names.imports, module_aliases(ctx)


_INDEXES: dict[tuple[tuple[str, ...], Settings], FileProjectIndex] = {}
_SHARED: dict[Settings, dict] = {}


def reset_caches() -> None:
    """Forget every process-wide cache of this module (tests call it so their order does not matter)."""
    for cache in (
        _SUMMARIES_BY_CONTENT,
        _ALIASES_BY_CONTENT,
        _SERVICE_FACTS_BY_CONTENT,
        _FACTS_BY_CONTENT,
        _USES_BY_CONTENT,
        _PACKAGE_USES,
        _MENTIONS_BY_CONTENT,
        _CANDIDATES_BY_CONTENT,
        _REEXPORTS_BY_CONTENT,
        _OWN_BY_TEXT,
        _TEXT_FACTS,
        _STAT_IDS,
        _INDEXES,
        _SHARED,
    ):
        cache.clear()
    _is_package_dir.cache_clear()
    EMPTY_INDEX.derived.clear()
    summary_cache.reset()


def project_index(roots: tuple[str, ...], settings: Settings) -> FileProjectIndex:
    """One index per (roots, settings) per process, so modules are parsed once."""
    key = (roots, settings)
    index = _INDEXES.get(key)
    if index is None:
        index = _INDEXES[key] = FileProjectIndex(roots, settings, _SHARED.setdefault(settings, {}))
    return index


def context_for_path(path: str, settings: Settings) -> tuple[str, bool, FileProjectIndex]:
    """Module name, package flag and the project index for a file being checked."""
    module, is_package, import_root = module_for_path(path)
    roots = (import_root, settings.root, os.path.join(settings.root, "src"))
    return module, is_package, project_index(roots, settings)
