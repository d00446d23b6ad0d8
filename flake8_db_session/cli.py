"""The standalone command ``flake8-db-session``: a thin adapter over the analysis core."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__
from .commands import COMMANDS
from .config import ConfigError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flake8-db-session",
        description="Find request-scoped SQLAlchemy sessions and ORM objects used outside their session "
        "in FastAPI code.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"{__package__}.commands.{name}")
        sub = subparsers.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run, command_parser=sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or (arguments[0].startswith("-") and arguments[0] not in ("-h", "--help", "--version")):
        arguments.insert(0, "check")  # `flake8-db-session [PATHS]` means check
    elif arguments[0] not in COMMANDS and arguments[0] not in ("-h", "--help", "--version"):
        arguments.insert(0, "check")
    args, unknown = parser.parse_known_args(arguments)
    if unknown:  # the subcommand's usage, not the top-level one
        args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    # The one error path: every configuration, input and output fault is one line naming the
    # file and the problem, exit 2 (outputs are written atomically, so nothing is half-written).
    try:
        return int(args.handler(args) or 0)
    except ConfigError as exc:  # also BaselineError and fileio.WriteError
        return _error(str(exc))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1
    except OSError as exc:
        from .fileio import describe_os_error

        where = f"{exc.filename}: " if exc.filename else ""
        return _error(f"{where}{describe_os_error(exc)}")
    except (RecursionError, MemoryError) as exc:
        return _error(f"out of resources: {type(exc).__name__}")
    except Exception as exc:  # a bug of ours: one line to report, never a traceback
        from .plugin import describe_exception

        return _error(f"internal error: {describe_exception(exc)}")


def _error(message: str) -> int:
    print(f"flake8-db-session: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
