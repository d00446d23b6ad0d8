"""Options shared by the commands: configuration file, overrides of the config keys, selection,
output file and colour."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, TextIO

from ..config import ALL_OPTIONS, Settings, load_settings, settings_from_mapping
from ..fileio import write_atomic

# What each configuration key does, as `--help` shows it (README's configuration table says more).
CONFIG_HELP = {
    "db-session-dependencies": "session dependencies, bare (get_db) or dotted (app.db.get_db); "
    "default: get_db, get_session, get_db_session, get_async_db",
    "db-session-scopes": "short-lived scope factories, beside sessionmaker results found in the code; "
    "default: fresh_db_session, SessionLocal, Session, AsyncSession",
    "db-session-model-modules": "where the ORM models live, dotted modules or paths (default: discover)",
    "db-session-detached-sources": "functions returning detached or transient ORM objects",
    "db-session-serializers": "extra calls that make a value safe, beyond model_dump, model_validate, ...",
    "db-session-session-decorators": "decorators that read the session from the endpoint's kwargs",
    "db-session-scope-factory": "what migrate writes, as module:name (default: fresh_db_session beside the dependency)",
    "db-session-baseline": "the burndown baseline file (default: .db-session-baseline.json)",
    "db-session-ratchet-codes": "codes the burndown counts and enforces (default: DBS001, DBS002)",
    "db-session-ratchet-only": "true: the flake8 plugin reports only DBS100 for ratcheted codes",
    "select": "codes to report, as flake8's select (default: every rule that is on by default)",
    "ignore": "codes not to report, as flake8's ignore",
    "extend-select": "codes to report besides select, e.g. an opt-in rule such as DBS009",
    "extend-ignore": "codes not to report besides ignore",
    "exclude": "files and directories to skip, as flake8's exclude (globs)",
    "extend-exclude": "more files and directories to skip, besides exclude",
    "per-file-ignores": "codes not reported in some files, as flake8's per-file-ignores "
    "('app/legacy/*.py: DBS001 DBS002')",
}


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("configuration (flags win over config files)")
    group.add_argument(
        "--config",
        metavar="FILE",
        help="read this file only (.flake8/setup.cfg/tox.ini [flake8], or pyproject.toml "
        "[tool.flake8-db-session]); default: the nearest one from the current directory up",
    )
    for key, (_attr, kind) in ALL_OPTIONS.items():
        metavar = {"bool": "BOOL", "str": "VALUE", "pfi": "MAPPING"}.get(kind, "LIST")
        group.add_argument(
            f"--{key}", metavar=metavar, default=None, help=CONFIG_HELP.get(key, f"the {key} configuration key")
        )


def settings_from_args(args: argparse.Namespace, start: str | None = None) -> Settings:
    """Config files first (pyproject over ini, searched from ``start``, default the current
    directory), then command-line flags. Raises ConfigError."""
    settings = load_settings(start or os.getcwd(), config_file=args.config)
    overrides: dict[str, Any] = {}
    for key in ALL_OPTIONS:
        value = getattr(args, key.replace("-", "_"), None)
        if value is not None:
            overrides[key] = value
    if overrides:
        settings = settings_from_mapping(
            overrides, root=settings.root, base=settings, source="command line"
        )
    return settings


def add_jobs_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-j", "--jobs", type=int, default=0, metavar="N",
        help="worker processes (default: one per 2 MB of source, at most one per core)",
    )


def add_output_argument(parser: argparse.ArgumentParser, what: str = "the report") -> None:
    parser.add_argument(
        "-o", "--output-file", metavar="FILE", help=f"write {what} to FILE (atomically) instead of stdout"
    )


def emit(text: str | bytes, output_file: str | None, stream: TextIO | None = None) -> None:
    """The command's output: to ``--output-file`` written atomically, else to stdout."""
    if output_file:
        write_atomic(output_file, text)
        return
    stream = stream or sys.stdout
    if isinstance(text, bytes):
        stream.flush()
        stream.buffer.write(text)
    else:
        stream.write(text)


def add_color_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the text output: auto (default) when stdout is a terminal and NO_COLOR is unset",
    )


def use_color(choice: str, stream: TextIO, output_file: str | None) -> bool:
    if output_file or choice == "never":
        return False
    if choice == "always":
        return True
    if os.environ.get("NO_COLOR"):
        return False
    return bool(getattr(stream, "isatty", lambda: False)())
