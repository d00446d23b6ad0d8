"""Standalone runs: find files, analyze them in parallel, apply noqa and flake8's selection rules.

Shared by ``check``, ``report``, ``baseline`` and the other commands. flake8's own helpers
(DecisionEngine, file discovery, filename matching) are reused so both modes agree on real configs.
"""

from __future__ import annotations

import argparse
import ast
import gc
import io
import logging
import multiprocessing
import multiprocessing.pool
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from importlib.util import decode_source
from typing import Callable

from flake8 import defaults as flake8_defaults
from flake8 import utils as flake8_utils
from flake8.style_guide import Decision, DecisionEngine

from . import collector
from .analysis import Finding, ProjectIndex, analyze_tree
from .config import Settings
from .jobs import auto_jobs
from .project import context_for_path
from .rules import RULES

LOG = logging.getLogger(__name__)
# Below this many files, starting worker processes costs more than it saves.
PARALLEL_THRESHOLD = 32


@dataclass
class FileResult:
    path: str
    findings: list[Finding] = field(default_factory=list)
    error: str = ""  # why the file could not be checked (read, decode or parse)


@dataclass
class RunResult:
    files: list[FileResult]

    @property
    def findings(self) -> list[Finding]:
        return [f for result in self.files for f in result.findings]

    @property
    def errors(self) -> list[FileResult]:
        return [result for result in self.files if result.error]


# --- which files ---------------------------------------------------------------------------------


def _git_python_files() -> list[str] | None:
    try:
        proc = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "*.py", "*.pyi"],
            capture_output=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    files = [p for p in proc.stdout.decode("utf-8", "surrogateescape").split("\0") if p]
    return [p for p in files if os.path.isfile(p)]


def exclude_patterns(settings: Settings) -> list[str]:
    patterns = list(settings.exclude) if settings.exclude else list(flake8_defaults.EXCLUDE)
    patterns.extend(settings.extend_exclude)
    return flake8_utils.normalize_paths(patterns, parent=settings.root)


def discover(paths: Sequence[str], settings: Settings, *, warn: Callable[[str], None] | None = None) -> list[str]:
    """The files to check: the given paths (flake8's expansion), else what git tracks, else '.'.

    What cannot be checked is said on stderr (or to ``warn``) and left out, as ruff does: a
    directory that cannot be read, and special files (a FIFO named ``*.py`` would block the read
    forever). A named path that does not exist stays in, to be reported as an error.
    """
    warn = warn or _warn
    exclude = exclude_patterns(settings)
    if not paths:
        tracked = _git_python_files()
        if tracked is not None:
            return sorted(
                p
                for p in tracked
                if not any(
                    flake8_utils.matches_filename(part, exclude, "%(path)s", LOG) for part in _path_prefixes(p)
                )
            )
        paths = ["."]
    files = _expand_paths(list(paths), exclude, warn)
    return sorted(dict.fromkeys(f for f in files if f == "-" or _regular_or_missing(f, warn)))


def _warn(message: str) -> None:
    print(f"flake8-db-session: warning: {message}", file=sys.stderr)


def _expand_paths(paths: Sequence[str], exclude: Sequence[str], warn: Callable[[str], None]) -> Iterator[str]:
    """flake8's ``expand_paths`` (same exclusion and ``*.py`` filter), saying which directories
    could not be read instead of skipping them silently."""

    def excluded(path: str) -> bool:
        return path != "-" and flake8_utils.matches_filename(path, exclude, '"%(path)s" has %(whether)sbeen excluded', LOG)

    def unreadable(error: OSError) -> None:
        warn(f"{error.filename}: cannot read directory ({_os_reason(error)}), skipped")

    for path in paths:
        if excluded(path):
            continue
        if not os.path.isdir(path):
            yield path  # a file named on the command line is checked whatever its name
            continue
        for root, directories, names in os.walk(path, onerror=unreadable):
            directories[:] = [d for d in directories if not excluded(os.path.join(root, d))]
            for name in names:
                joined = os.path.join(root, name)
                if flake8_utils.fnmatch(joined, ["*.py"]) and not excluded(joined):
                    yield joined


def _regular_or_missing(path: str, warn: Callable[[str], None]) -> bool:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return True  # check_path reports why it cannot be read
    if stat.S_ISREG(mode):
        return True
    warn(f"{path}: not a regular file ({_file_kind(mode)}), skipped")
    return False


def _file_kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a directory"),
    ):
        if test(mode):
            return kind
    return "a special file"


def _os_reason(error: OSError) -> str:
    from .fileio import describe_os_error

    return describe_os_error(error)


def _path_prefixes(path: str) -> Iterable[str]:
    """A path and each of its parent directories (flake8 excludes a directory with all it holds)."""
    parts = path.split(os.sep)
    for end in range(1, len(parts) + 1):
        yield os.sep.join(parts[:end])


# --- which codes ---------------------------------------------------------------------------------


class Selection:
    """flake8's select/ignore/per-file-ignores decisions, for our codes."""

    def __init__(self, settings: Settings) -> None:
        opt_in = [code for code, rule in RULES.items() if not rule.default_enabled]
        self._default = self._engine(settings, settings.extend_ignore, opt_in)
        self._per_file: list[tuple[str, DecisionEngine]] = []
        for pattern, codes in settings.per_file_ignores:
            engine = self._engine(settings, [*settings.extend_ignore, *codes], opt_in)
            self._per_file.append((flake8_utils.normalize_path(pattern), engine))
        self._per_file.sort(key=lambda item: len(item[0]), reverse=True)  # most specific first

    @staticmethod
    def _engine(settings: Settings, extend_ignore: Sequence[str], opt_in: list[str]) -> DecisionEngine:
        options = argparse.Namespace(
            select=list(settings.select) or None,
            ignore=list(settings.ignore) or None,
            extend_select=list(settings.extend_select),
            extended_default_select=["DBS"],
            extend_ignore=list(extend_ignore),
            extended_default_ignore=opt_in,
        )
        return DecisionEngine(options)

    def decider(self, path: str) -> Callable[[str], bool]:
        normalized = flake8_utils.normalize_path(path)
        engine = self._default
        for pattern, candidate in self._per_file:
            if flake8_utils.matches_filename(normalized, [pattern], "%(path)s", LOG):
                engine = candidate
                break
        return lambda code: engine.decision_for(code) is Decision.Selected


# --- analysis ----------------------------------------------------------------------------------


def decode(data: bytes) -> str:
    """A module's text as flake8 reads it: its declared encoding (default UTF-8), and latin-1
    when that fails, so both front ends see the same text and report the same findings."""
    try:
        return decode_source(data)
    except (SyntaxError, UnicodeError, LookupError):
        return io.IncrementalNewlineDecoder(None, translate=True).decode(data.decode("latin-1"), final=True)


def has_file_noqa(source: str) -> bool:
    """A line starting with ``# flake8: noqa`` (any case): flake8 then skips the whole file."""
    # Such a line holds "8:" or "8=" (``flake8`` right before the separator): two plain searches
    # rule out most files faster than one case-insensitive search for "flake8" (which tries
    # every position of a large module).
    if "8:" not in source and "8=" not in source:
        return False
    return any(flake8_defaults.NOQA_FILE.match(line) for line in source.split("\n"))


def check_source(
    data: bytes,
    path: str,
    settings: Settings,
    *,
    context: tuple[str, bool, ProjectIndex] | None = None,
    parsed: Callable[[ast.Module, str], None] | None = None,
) -> FileResult:
    """Analyze one file's bytes; never raises for bad input.

    ``context`` (module name, is a package, project index) replaces the filesystem lookup, for
    files that are not on disk (``history`` reads them from git objects). ``parsed`` is given the
    tree and the text analyzed, after an analysis without error. Findings of a file with
    ``# flake8: noqa`` are all marked noqa (they still count in the burndown).

    The garbage collector is paused meanwhile (``collector.paused``); the tree is freed when
    ``_check_source`` returns, before it resumes.
    """
    with collector.paused():
        return _check_source(data, path, settings, context, parsed)


def _check_source(
    data: bytes,
    path: str,
    settings: Settings,
    context: tuple[str, bool, ProjectIndex] | None,
    parsed: Callable[[ast.Module, str], None] | None,
) -> FileResult:
    source = decode(data)
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as exc:
        where = f" at line {exc.lineno}" if exc.lineno else ""
        return FileResult(path, error=f"syntax error{where}: {exc.msg}")
    except (ValueError, RecursionError, MemoryError) as exc:
        return FileResult(path, error=f"cannot parse: {type(exc).__name__}: {exc}")
    try:
        module, is_package, index = context if context is not None else context_for_path(path, settings)
        findings = analyze_tree(
            tree, path, settings, source=source, module=module, is_package=is_package, index=index
        )
    except (RecursionError, MemoryError) as exc:
        return FileResult(path, error=f"too deeply nested to analyze: {type(exc).__name__}")
    except Exception as exc:  # a bug of ours: name the file, go on with the others (exit 2)
        from .plugin import describe_exception

        return FileResult(path, error=f"internal error, file skipped: {describe_exception(exc)}")
    if parsed is not None:
        parsed(tree, source)
    if findings and has_file_noqa(source):
        findings = [replace(f, noqa=True) for f in findings]
    return FileResult(path, findings)


def check_path(path: str, settings: Settings) -> FileResult:
    try:
        data = sys.stdin.buffer.read() if path == "-" else read_regular(path)
    except OSError as exc:
        return FileResult(path, error=f"cannot read: {exc.strerror or exc}")
    if data is None:
        return FileResult(path, error="not a regular file, skipped")
    return check_source(data, path, settings)


def read_regular(path: str) -> bytes | None:
    """The file's bytes, or None for a special file (opened without blocking: a FIFO never hangs)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return handle.read()


_WORKER_SETTINGS: Settings | None = None


def _init_worker(settings: Settings) -> None:
    global _WORKER_SETTINGS
    _WORKER_SETTINGS = settings
    gc.set_threshold(*collector.RUN_THRESHOLDS)  # inherited with fork, not with spawn
    quiet_on_interrupt()


def quiet_on_interrupt() -> None:
    """In a worker process: leave Ctrl-C to the parent, which stops the pool and exits 130 (each
    worker would otherwise print a traceback of its own). The worker started with SIGINT held
    (``worker_pool``): ignored now, one that arrived meanwhile is dropped."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def worker_pool(
    context: multiprocessing.context.BaseContext,
    jobs: int,
    initializer: Callable[..., None] = quiet_on_interrupt,
    initargs: tuple = (),
) -> multiprocessing.pool.Pool:
    """A pool of ``jobs`` workers, ``initializer`` calling ``quiet_on_interrupt``.

    Ctrl-C is held while the workers start, and raised here once the pool exists (which is
    then stopped): arriving meanwhile, it reached a worker before it ignored it, or this process
    inside the pool's start-up, where an at-fork handler swallowed it (the run went on to the
    end) or the workers already started were never stopped (left running after the command
    exited 130).
    """
    if context.get_start_method() != "fork":
        # The first pool of spawn and forkserver starts multiprocessing's resource tracker,
        # which releases SIGINT on its way: started first, it leaves the hold alone.
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()
    pool = None
    try:
        with _interrupt_held():
            pool = context.Pool(jobs, initializer=initializer, initargs=initargs)
    except BaseException:  # a held Ctrl-C is raised as the hold ends: the pool is stopped here
        if pool is not None:
            pool.terminate()
            pool.join()
        raise
    return pool


@contextmanager
def _interrupt_held() -> Iterator[None]:
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no signal masks, nothing held
        yield
        return
    saved = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, saved)


def _work(path: str) -> FileResult:
    assert _WORKER_SETTINGS is not None
    return check_path(path, _WORKER_SETTINGS)


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def run(files: Sequence[str], settings: Settings, *, jobs: int = 0) -> RunResult:
    """Analyze files (in parallel when worth it). Findings keep their noqa flag; nothing is filtered."""
    jobs = auto_jobs(files, jobs)  # -j N as given, else only the workers the work pays for
    with collector.tuned():
        if jobs <= 1 or len(files) < PARALLEL_THRESHOLD or "-" in files:
            results = [check_path(path, settings) for path in files]
        else:
            results = _parallel(files, settings, jobs)
    return RunResult(results)


def _parallel(files: Sequence[str], settings: Settings, jobs: int) -> list[FileResult]:
    """Largest files first, one at a time: no worker is left with a 20,000-line file at the end."""
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    order = sorted(range(len(files)), key=lambda i: -_size(files[i]))
    results: list[FileResult | None] = [None] * len(files)
    with worker_pool(context, jobs, _init_worker, (settings,)) as pool:
        for position, result in zip(order, pool.imap(_work, [files[i] for i in order], chunksize=1)):
            results[position] = result
    return [result for result in results if result is not None]  # every position is filled


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def reportable(result: RunResult, settings: Settings, *, disable_noqa: bool = False) -> list[Finding]:
    """The findings a user sees: selected codes, not covered by noqa or per-file-ignores."""
    selection = Selection(settings)
    shown: list[Finding] = []
    for file_result in result.files:
        if not file_result.findings:
            continue
        selected = selection.decider(file_result.path)
        shown.extend(f for f in file_result.findings if (disable_noqa or not f.noqa) and selected(f.code))
    return shown
