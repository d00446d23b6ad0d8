"""``flake8-db-session explain CODE``: a rule's documentation (why, bad and good example)."""

from __future__ import annotations

import argparse
import sys

from ..rules import RULES

NAME = "explain"
HELP = "print a rule's documentation, or the table of rules without CODE"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("code", nargs="?", help="a rule code such as DBS001")


def render(code: str) -> str:
    rule = RULES[code]
    indent = lambda text: "\n".join("    " + line if line else "" for line in text.splitlines())  # noqa: E731
    state = "" if rule.default_enabled else " (opt-in: enable with extend-select)"
    return (
        f"{rule.code} {rule.name}{state}\n\n{rule.summary}\n\n{rule.why}\n\n"
        f"Bad:\n\n{indent(rule.bad)}\n\nGood:\n\n{indent(rule.good)}\n"
    )


def run(args: argparse.Namespace) -> int:
    if not args.code:
        for rule in RULES.values():
            print(f"{rule.code}  {rule.summary}")
        return 0
    code = args.code.strip().upper()
    if code not in RULES:
        print(f"flake8-db-session: unknown rule {args.code!r}; known: {', '.join(RULES)}", file=sys.stderr)
        return 2
    sys.stdout.write(render(code))
    return 0
