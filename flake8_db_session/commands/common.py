"""Options shared by the commands: configuration file, overrides of the config keys, selection."""

from __future__ import annotations

import argparse
import os
from typing import Any

from ..config import ALL_OPTIONS, Settings, load_settings, settings_from_mapping


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("configuration (flags win over config files)")
    group.add_argument(
        "--config",
        metavar="FILE",
        help="read this file only (.flake8/setup.cfg/tox.ini [flake8], or pyproject.toml "
        "[tool.flake8-db-session]); default: the nearest one from the current directory up",
    )
    for key, (_attr, kind) in ALL_OPTIONS.items():
        metavar = "BOOL" if kind == "bool" else "VALUE" if kind == "str" else "LIST"
        group.add_argument(f"--{key}", metavar=metavar, default=None, help=argparse.SUPPRESS if kind == "pfi" else None)


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
        "-j", "--jobs", type=int, default=0, metavar="N", help="worker processes (default: all cores)"
    )
