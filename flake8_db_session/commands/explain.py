"""``flake8-db-session explain CODE``: a rule's documentation (why, bad and good example)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..rules import RULES, Rule
from .common import add_output_argument, emit

NAME = "explain"
HELP = "print a rule's documentation, or the table of rules without CODE"
OPT_IN = "(opt-in: enable with extend-select)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("code", nargs="?", help="a rule code such as DBS001 (default: the table of every rule)")
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format (default: text)"
    )
    add_output_argument(parser, "the documentation")


def render(code: str) -> str:
    rule = RULES[code]
    indent = lambda text: "\n".join("    " + line if line else "" for line in text.splitlines())  # noqa: E731
    state = "" if rule.default_enabled else f" {OPT_IN}"
    return (
        f"{rule.code} {rule.name}{state}\n\n{rule.summary}\n\n{rule.why}\n\n"
        f"Bad:\n\n{indent(rule.bad)}\n\nGood:\n\n{indent(rule.good)}\n"
    )


def render_table() -> str:
    width = max(len(code) for code in RULES)
    lines = []
    for rule in RULES.values():
        mark = "" if rule.default_enabled else f" {OPT_IN}"
        lines.append(f"{rule.code.ljust(width)}  {rule.summary}{mark}")
    return "\n".join(lines) + "\n"


def as_dict(rule: Rule) -> dict[str, Any]:
    return {
        "code": rule.code,
        "name": rule.name,
        "summary": rule.summary,
        "message": rule.message,
        "why": " ".join(rule.why.split()),
        "bad": rule.bad,
        "good": rule.good,
        "default_enabled": rule.default_enabled,
    }


def run(args: argparse.Namespace) -> int:
    code = args.code.strip().upper() if args.code else None
    if code is not None and code not in RULES:
        print(f"flake8-db-session: unknown rule {args.code!r}; known: {', '.join(RULES)}", file=sys.stderr)
        return 2
    if args.format == "json":
        data: Any = as_dict(RULES[code]) if code else [as_dict(rule) for rule in RULES.values()]
        text = json.dumps(data, indent=2) + "\n"
    else:
        text = render(code) if code else render_table()
    emit(text, args.output_file)
    return 0
