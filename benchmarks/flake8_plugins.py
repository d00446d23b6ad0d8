"""flake8 with its installed plugins, optionally without this project's (to measure its overhead).

Run as ``python -m benchmarks.flake8_plugins (--with|--without) FLAKE8-ARGS...``. Both variants
go through this same wrapper so they pay the same start-up; ``--without`` hides the
flake8-db-session distribution from flake8's plugin discovery (a forked ``-j`` pool inherits it).
"""

from __future__ import annotations

import sys

OUR_DISTRIBUTION = "flake8-db-session"


def _hide_our_plugins() -> None:
    from flake8.plugins import finder

    original = finder._find_importlib_plugins

    def without_ours():  # type: ignore[no-untyped-def]
        for plugin in original():
            if plugin.package != OUR_DISTRIBUTION:
                yield plugin

    finder._find_importlib_plugins = without_ours


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("--with", "--without"):
        print("usage: python -m benchmarks.flake8_plugins (--with|--without) FLAKE8-ARGS...", file=sys.stderr)
        return 2
    if argv[0] == "--without":
        _hide_our_plugins()
    from flake8.main.cli import main as flake8_main

    return flake8_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
