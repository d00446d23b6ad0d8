"""The flake8 adapter (entry point ``DBS``): reads only the tree, lines and filename flake8 hands it."""

from __future__ import annotations

import argparse
import ast
import os
import sys
from collections.abc import Generator, Sequence
from dataclasses import replace
from typing import Any, ClassVar

from . import __version__, collector
from .analysis import Finding, analyze_tree
from .burndown import inline as burndown_inline
from .burndown.baseline import Baseline
from .config import (
    ALL_OPTIONS,
    DEFAULT_BASELINE,
    FLAKE8_OPTIONS,
    OPTIONS,
    ConfigError,
    Settings,
    ini_section,
    pyproject_section,
    settings_from_mapping,
)
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


class _StoreTrue(argparse.Action):
    """``--flag`` sets True, like ``store_true``; a config file's value is passed on as text."""

    def __init__(self, option_strings: Sequence[str], dest: str, default: Any = False, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=default, help=help)

    def __call__(self, parser: Any, namespace: argparse.Namespace, values: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, True)


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
                # Not "store_true": flake8 would parse the config value itself and raise a
                # traceback on a bad one; ours reaches parse_options and is one error line.
                kwargs.update(action=_StoreTrue, default=default)
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
        """Settings from flake8's options, then ``[tool.flake8-db-session]`` of the pyproject.toml
        in the configuration's directory over them (flags on the command line win over both), as
        the standalone command reads them. A file that cannot be read is one warning line and the
        run goes on; a bad value of ours is one error line and exit 2; never a traceback."""
        try:
            cls._configure(options)
        except ConfigError as exc:
            sys.stderr.write(f"flake8-db-session: error: {exc}\n")
            raise SystemExit(2) from None
        except Exception as exc:  # a bug of ours must not take flake8 down: go on with the defaults
            _warn_once(f"configuration not applied, using the defaults: {describe_exception(exc)}")
            cls.settings, cls.baseline, cls.baseline_root = Settings(), None, "."

    @classmethod
    def _configure(cls, options: argparse.Namespace) -> None:
        values: dict[str, Any] = {}
        for key in OPTIONS:
            value = getattr(options, key.replace("-", "_"), None)
            if value is not None:
                values[key] = value
        warn = _warn_unreadable
        explicit, isolated = _config_flags(options)
        root = burndown_inline.config_root(explicit, os.getcwd(), warn=warn)
        ini = None if isolated or explicit else ini_section(root, warn=warn)
        ini_path = explicit or (ini[0] if ini else None)
        source = f"{ini_path} [flake8] or the command line" if ini_path else "flake8 options"
        settings = settings_from_mapping(values, root=root, source=source)
        if not isolated:
            found = pyproject_section(root, warn=warn)
            if found is not None:
                path, section = found
                flags = _flags_on_command_line(sys.argv[1:])
                section = {k: v for k, v in section.items() if _key(k) not in flags}
                settings = settings_from_mapping(section, root=root, base=settings, source=path)
                _apply_flake8_keys(options, settings, {_key(k) for k in section})
        if not settings.baseline:
            settings = replace(settings, baseline=DEFAULT_BASELINE)
        cls.settings = settings
        cls.baseline_root = root
        cls.baseline = burndown_inline.cached_baseline(burndown_inline.baseline_file(settings, root))

    def run(self) -> Generator[tuple[int, int, str, type], None, None]:
        if not isinstance(self._tree, ast.Module):
            return
        try:
            findings = lint_tree(self._tree, self._filename, self._lines, self.settings, self.baseline_root, self.baseline)
        except (RecursionError, MemoryError):  # pathological nesting: never take flake8 down
            return
        except Exception as exc:  # a bug of ours must not stop flake8's run over the other files
            sys.stderr.write(f"{self._filename}: flake8-db-session: internal error, file skipped: {describe_exception(exc)}\n")
            return
        if not findings:
            return
        # flake8 takes each finding between two steps of this generator, and at the first one in
        # a file it tokenizes the whole file into a list (its noqa line mapping): 100,000 tuples
        # for a 20,000-line module, allocated while the file's tree is still alive. With the
        # collector running, those allocations trigger passes over that tree and over every
        # token: paused until the last finding is taken (a generator that is not run to its end
        # resumes the collector when it is closed).
        with collector.paused():
            for finding in findings:
                yield finding.line, finding.col, finding.message, type(self)


def lint_tree(
    tree: ast.Module, filename: str, lines: Sequence[str], settings: Settings, baseline_root: str, baseline: Baseline | None
) -> list[Finding]:
    """What the plugin reports for one file flake8 parsed (the editor benchmark times this)."""
    # What the analysis allocates is freed by reference counting when it returns; with the
    # collector paused, those allocations do not trigger passes over flake8's own large heap
    # (its results, every checker's state): a cost that grows with flake8's work.
    with collector.paused():
        module, is_package, index = context_for_path(filename, settings)
        findings = analyze_tree(
            tree, filename, settings, source="".join(lines), lines=lines, module=module, is_package=is_package, index=index
        )
        # DBS100 (and, with db-session-ratchet-only, nothing else for the ratcheted codes).
        return burndown_inline.apply(findings, filename, settings, baseline_root, baseline)


def _config_flags(options: argparse.Namespace) -> tuple[str | None, bool]:
    """flake8's ``--config`` and ``--isolated``. flake8 consumes them before it parses the other
    options, so the namespace plugins get never holds them: read them from the command line."""
    config, isolated = getattr(options, "config", None), bool(getattr(options, "isolated", False))
    try:
        from flake8.main.options import stage1_arg_parser

        early, _rest = stage1_arg_parser().parse_known_args(sys.argv[1:])
    except (Exception, SystemExit):  # another host's argv: keep what options say
        return config, isolated
    return config or early.config, isolated or bool(early.isolated)


def _key(raw: str) -> str:
    return str(raw).strip().lower().replace("_", "-")


def _flags_on_command_line(argv: Sequence[str]) -> set[str]:
    """The configuration keys given as flags (``--key``, ``--key=v``; for ours also an
    abbreviation argparse accepts): they win over pyproject.toml, as on the standalone command."""
    flags: set[str] = set()
    for token in argv:
        if token == "--":
            break
        if not token.startswith("--"):
            continue
        name = token[2:].split("=", 1)[0]
        if name in ALL_OPTIONS:
            flags.add(name)
        elif name.startswith("db-session-"):
            matches = [key for key in OPTIONS if key.startswith(name)]
            if len(matches) == 1:
                flags.add(matches[0])
    return flags


def _apply_flake8_keys(options: argparse.Namespace, settings: Settings, keys: set[str]) -> None:
    """flake8's own keys set in ``[tool.flake8-db-session]`` (select, ignore, exclude,
    per-file-ignores...) replace flake8's values, as they do for the standalone command: flake8
    reads them from these options when it selects files and codes, after the plugins' options."""
    from flake8.utils import normalize_paths

    for key in keys & set(FLAKE8_OPTIONS):
        attr, kind = FLAKE8_OPTIONS[key]
        value = getattr(settings, attr)
        if kind == "pfi":
            value = "\n".join(f"{pattern}:{','.join(codes)}" for pattern, codes in value)
        elif key in ("exclude", "extend-exclude"):
            value = normalize_paths(list(value), parent=settings.root)
        else:
            value = list(value)
        setattr(options, attr, value)


_WARNED: set[str] = set()


def _warn_once(message: str) -> None:
    """One line on stderr, once per process and message; not again from flake8's -j workers
    (which parse the options again where processes are spawned, not forked)."""
    import multiprocessing

    if message in _WARNED or multiprocessing.parent_process() is not None:
        return
    _WARNED.add(message)
    sys.stderr.write(f"flake8-db-session: warning: {message}\n")


def _warn_unreadable(exc: ConfigError) -> None:
    _warn_once(f"{exc}; file ignored, going on with flake8's options")


def describe_exception(exc: BaseException) -> str:
    """One line naming the error and where it was raised, for a bug report."""
    import traceback

    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" at {os.path.basename(frame.filename)}:{frame.lineno}" if frame else ""
    return f"{type(exc).__name__}: {exc}{where}".replace("\n", " ")
