"""``flake8-db-session migrate [PATHS]``: move endpoints off request-scoped sessions (a codemod).

Dry run by default: a unified diff on stdout and a summary on stderr. ``--write`` applies it.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import sys
from typing import TYPE_CHECKING

from .. import runner
from ..config import Settings
from ..fileio import write_atomic
from ..project import context_for_path
from .common import add_settings_arguments, settings_from_args

if TYPE_CHECKING:
    from ..migrate import FileOutcome

NAME = "migrate"
HELP = "move endpoints from Depends(get_db) to a short session scope (dry run unless --write)"
INSTALL_HINT = "flake8-db-session: error: migrate needs ast-grep-py: pip install 'flake8-db-session[migrate]'"
BOM = b"\xef\xbb\xbf"


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
    outcomes: list[FileOutcome] = []
    diff: list[str] = []
    for path in runner.discover(args.paths, settings):
        if path == "-":
            print("flake8-db-session: error: migrate edits files; it cannot read stdin", file=sys.stderr)
            return 2
        outcome = _migrate_file(path, settings)
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
        if args.write:
            _write(path, outcome.after)
    if args.output_file:
        write_atomic(args.output_file, "".join(diff))
    else:
        sys.stdout.writelines(diff)
    sys.stdout.flush()
    reported = [o for o in outcomes if o.endpoints or o.error]
    sys.stderr.write(summarize(reported, wrote=args.write))
    if args.summary_json:
        write_atomic(args.summary_json, json.dumps(as_json(reported), indent=1, sort_keys=True) + "\n")
    return 2 if any(o.error for o in outcomes) else 0


def _migrate_file(path: str, settings: Settings) -> FileOutcome:
    from ..migrate import FileOutcome, migrate_source

    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        return FileOutcome(path, "", "", error=f"cannot read: {exc.strerror or exc}")
    bom = data.startswith(BOM)
    try:
        # Only UTF-8 files are rewritten: the result is written back as UTF-8.
        source = data[len(BOM) if bom else 0 :].decode("utf-8")
    except UnicodeDecodeError:
        return FileOutcome(path, "", "", error="not UTF-8; left as is")
    module, is_package, index = context_for_path(path, settings)
    try:
        outcome = migrate_source(source, path, settings, module=module, is_package=is_package, index=index)
    except (RecursionError, MemoryError) as exc:
        return FileOutcome(path, source, source, error=f"too deeply nested: {type(exc).__name__}")
    except Exception as exc:  # noqa: BLE001 - one file's failure must not stop the others
        return FileOutcome(path, source, source, error=f"internal error, left as is: {type(exc).__name__}: {exc}")
    return outcome


def _write(path: str, text: str) -> None:
    ast.parse(text, filename=path)  # never write what does not parse (migrate_source checked it too)
    with open(path, "rb") as handle:
        bom = handle.read(3) == BOM
    write_atomic(path, (BOM if bom else b"") + text.encode("utf-8"))
