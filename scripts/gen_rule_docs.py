"""Write docs/rules/<CODE>.md from the rules table (tests/test_rule_docs.py keeps them in sync)."""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from flake8_db_session.rules import RULES, rule_markdown  # noqa: E402


def main() -> None:
    directory = os.path.join(ROOT, "docs", "rules")
    os.makedirs(directory, exist_ok=True)
    for code, rule in RULES.items():
        with open(os.path.join(directory, f"{code}.md"), "w", encoding="utf-8") as handle:
            handle.write(rule_markdown(rule))
    print(f"wrote {len(RULES)} rule docs to {directory}")


if __name__ == "__main__":
    main()
