"""The flake8 adapter (entry point ``DBS``): reads only the tree, lines and filename flake8 hands it."""

from __future__ import annotations

import argparse
import ast
import gc
import os
import sys
from dataclasses import replace
from typing import Any, ClassVar, Generator, Sequence

from . import __version__
from .analysis import analyze_tree
from .burndown import inline as burndown_inline
from .burndown.baseline import Baseline, BaselineError
from .config import DEFAULT_BASELINE, OPTIONS, ConfigError, Settings, settings_from_mapping
from .project import context_for_path

_HELP = {
    "db-session-dependencies": "Session dependencies: bare names or dotted paths (default: %(default)s).",
    "db-session-scopes": "Short-lived session scope factories (default: %(default)s).",
    "db-session-discover": "Find session providers, scopes and helper dependencies in the code (default: true).",
    "db-session-model-modules": "Modules (dotted) or paths holding the ORM models (default: discover).",
    "db-session-detached-sources": "Functions returning detached or transient ORM objects.",
    "db-session-serializers": "Extra calls that make an ORM value safe to leave its scope.",
    "db-session-session-decorators": "Decorators that read the session from the endpoint's kwargs.",
    "db-session-scope-factory": "What the migrate codemod writes, as module:name.",
    "db-session-baseline": "The burndown baseline file (default: %(default)s).",
    "db-session-ratchet-codes": "Codes the burndown counts and enforces (default: %(default)s).",
    "db-session-ratchet-only": "Report only DBS100 for ratcheted codes (adopt the hook on a legacy codebase).",
}


class Plugin:
    name = "flake8-db-session"
    version = __version__

    settings: ClassVar[Settings] = Settings()
    # The burndown baseline (None: no file) and the directory its module keys are relative to.
    baseline: ClassVar[Baseline | None] = None
    baseline_root: ClassVar[str] = "."

    def __init__(self, tree: ast.AST, filename: str = "stdin", lines: Sequence[str] = ()) -> None:
        self._tree = tree
        self._filename = filename
        self._lines = lines

    @classmethod
    def add_options(cls, manager: Any) -> None:
        defaults = Settings()
        for key, (attr, kind) in OPTIONS.items():
            default = getattr(defaults, attr)
            kwargs: dict[str, Any] = {"parse_from_config": True, "help": _HELP[key]}
            if kind in ("list", "codes"):
                kwargs.update(comma_separated_list=True, default=",".join(default))
            elif kind == "bool":
                kwargs.update(action="store_true", default=default)
            else:
                kwargs["default"] = default
            if key == "db-session-baseline":
                kwargs["normalize_paths"] = True
            manager.add_option(f"--{key}", **kwargs)
        # Opt-in rules (DBS009) stay off unless selected, as in the standalone command.
        from .rules import RULES

        manager.extend_default_ignore([code for code, rule in RULES.items() if not rule.default_enabled])

    @classmethod
    def parse_options(cls, options: argparse.Namespace) -> None:
        values: dict[str, Any] = {}
        for key, (attr, _kind) in OPTIONS.items():
            value = getattr(options, key.replace("-", "_"), None)
            if value is not None:
                values[key] = value
        root = os.getcwd()
        try:
            settings = settings_from_mapping(values, root=root, source="flake8 options")
        except ConfigError as exc:
            # flake8 turns a raised exception into a traceback; a clear one-line error is kinder.
            raise SystemExit(f"flake8-db-session: {exc}") from None
        if not settings.baseline:
            settings = replace(settings, baseline=DEFAULT_BASELINE)
        cls.settings = settings
        cls.baseline_root = burndown_inline.config_root(getattr(options, "config", None), root)
        try:
            cls.baseline = burndown_inline.cached_baseline(burndown_inline.baseline_file(settings, cls.baseline_root))
        except BaselineError as exc:
            raise SystemExit(f"flake8-db-session: {exc}") from None

    def run(self) -> Generator[tuple[int, int, str, type], None, None]:
        if not isinstance(self._tree, ast.Module):
            return
        source = "".join(self._lines)
        settings = self.settings
        # What the analysis allocates is freed by reference counting when it returns; with the
        # cyclic collector paused, those allocations do not trigger passes over flake8's own
        # large heap (its results, every checker's state): a cost that grows with flake8's work.
        collecting = gc.isenabled()
        gc.disable()
        try:
            module, is_package, index = context_for_path(self._filename, settings)
            findings = analyze_tree(
                self._tree,
                self._filename,
                settings,
                source=source,
                lines=self._lines,
                module=module,
                is_package=is_package,
                index=index,
            )
        except (RecursionError, MemoryError):  # pathological nesting: never take flake8 down
            return
        except Exception as exc:  # a bug of ours must not stop flake8's run over the other files
            sys.stderr.write(f"{self._filename}: flake8-db-session: internal error, file skipped: {_describe(exc)}\n")
            return
        finally:
            if collecting:
                gc.enable()
        # DBS100 (and, with db-session-ratchet-only, nothing else for the ratcheted codes).
        findings = burndown_inline.apply(findings, self._filename, settings, self.baseline_root, self.baseline)
        for finding in findings:
            yield finding.line, finding.col, finding.message, type(self)


def _describe(exc: BaseException) -> str:
    """One line naming the error and where it was raised, for a bug report."""
    import traceback

    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" at {os.path.basename(frame.filename)}:{frame.lineno}" if frame else ""
    return f"{type(exc).__name__}: {exc}{where}".replace("\n", " ")
