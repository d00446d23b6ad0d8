"""``flake8-db-session migrate [PATHS]``: move endpoints off request-scoped sessions (a codemod).

Dry run by default: a unified diff on stdout and a summary on stderr. ``--write`` applies it to
every changed file or to none: see ``fileio.replace_all`` (a run killed half-way is completed by
the next ``migrate``).
"""

from __future__ import annotations

import argparse
import ast
import difflib
import io
import json
import os
import sys
import tokenize
from typing import TYPE_CHECKING

from .. import runner
from ..config import Settings
from ..fileio import complete_interrupted, remove_stale_temporaries, replace_all, write_atomic
from ..project import context_for_path
from .common import add_settings_arguments, settings_from_args

if TYPE_CHECKING:
    from ..migrate import FileOutcome

NAME = "migrate"
HELP = "move endpoints from Depends(get_db) to a short session scope (dry run unless --write)"
INSTALL_HINT = "flake8-db-session: error: migrate needs ast-grep-py: pip install 'flake8-db-session[migrate]'"
# Beside the configuration: lists the files of a --write between its two phases.
JOURNAL = ".flake8-db-session-migrate.journal"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files or directories (default: the files git tracks)")
    parser.add_argument("--write", action="store_true", help="apply the changes (default: print a unified diff)")
    parser.add_argument("--no-diff", action="store_true", help="print only the summary")
    parser.add_argument("--summary-json", metavar="FILE", help="also write what happened to each endpoint as JSON")
    parser.add_argument(
        "-o", "--output-file", metavar="FILE", help="write the unified diff to FILE (atomically) instead of stdout"
    )
    add_settings_arguments(parser)


def run(args: argparse.Namespace) -> int:
    try:
        from ..migrate import as_json, summarize
    except ImportError:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    settings = settings_from_args(args)
    journal = os.path.join(settings.root, JOURNAL)
    remove_stale_temporaries(journal)
    completed = complete_interrupted(journal)
    if completed:
        print(
            f"flake8-db-session: completed an interrupted migrate --write ({len(completed)} "
            f"file{'' if len(completed) == 1 else 's'})",
            file=sys.stderr,
        )
    outcomes: list[FileOutcome] = []
    diff: list[str] = []
    new_contents: dict[str, bytes] = {}
    for path in runner.discover(args.paths, settings):
        if path == "-":
            print("flake8-db-session: error: migrate edits files; it cannot read stdin", file=sys.stderr)
            return 2
        # A run killed before its journal existed left temporaries and changed nothing: tidy them.
        remove_stale_temporaries(path)
        outcome, encoding = _migrate_file(path, settings)
        if outcome.changed and args.write:
            data = _encoded(outcome, encoding)
            if data is not None:
                new_contents[path] = data
        outcomes.append(outcome)
        if not outcome.changed:
            continue
        if not args.no_diff:
            diff.extend(
                difflib.unified_diff(
                    outcome.before.splitlines(keepends=True),
                    outcome.after.splitlines(keepends=True),
                    f"a/{path}",
                    f"b/{path}",
                )
            )
    if args.output_file:
        write_atomic(args.output_file, "".join(diff))
    else:
        sys.stdout.writelines(diff)
    sys.stdout.flush()
    if args.write:
        replace_all(new_contents, journal)  # every changed file, or none (WriteError: exit 2)
    reported = [o for o in outcomes if o.endpoints or o.error]
    sys.stderr.write(summarize(reported, wrote=args.write))
    if args.summary_json:
        write_atomic(args.summary_json, json.dumps(as_json(reported), indent=1, sort_keys=True) + "\n")
    return 2 if any(o.error for o in outcomes) else 0


def _migrate_file(path: str, settings: Settings) -> tuple[FileOutcome, str]:
    """What the codemod does to one file, and the file's encoding (it is written back in it)."""
    from ..migrate import FileOutcome, migrate_source

    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        return FileOutcome(path, "", "", error=f"cannot read: {exc.strerror or exc}"), ""
    try:
        # The declared encoding (a coding comment or a BOM; default UTF-8), as Python reads it.
        encoding = tokenize.detect_encoding(io.BytesIO(data).readline)[0]
        source = data.decode(encoding)
    except (SyntaxError, UnicodeDecodeError, LookupError):
        return FileOutcome(path, "", "", error="not valid in its declared encoding (default UTF-8); left as is"), ""
    module, is_package, index = context_for_path(path, settings)
    try:
        outcome = migrate_source(source, path, settings, module=module, is_package=is_package, index=index)
    except (RecursionError, MemoryError) as exc:
        return FileOutcome(path, source, source, error=f"too deeply nested: {type(exc).__name__}"), encoding
    except Exception as exc:
        return FileOutcome(path, source, source, error=f"internal error, left as is: {type(exc).__name__}: {exc}"), encoding
    return outcome, encoding


def _encoded(outcome: FileOutcome, encoding: str) -> bytes | None:
    """The rewritten file's bytes in its own encoding (a BOM is kept: ``utf-8-sig``); None, with
    the outcome marked as an error, when it does not parse or cannot be encoded."""
    try:
        ast.parse(outcome.after, filename=outcome.path)  # never write what does not parse
        return outcome.after.encode(encoding)
    except (SyntaxError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        outcome.error = f"rewrite not written: {type(exc).__name__}: {exc}".splitlines()[0]
        return None
