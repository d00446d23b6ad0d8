"""Subcommands of the standalone command. Each module has NAME, HELP, add_arguments(parser), run(args)."""

from __future__ import annotations

# Order is the order of ``flake8-db-session --help``.
COMMANDS = ("check", "report", "baseline", "history", "migrate", "explain")
