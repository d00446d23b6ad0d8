"""Every rule has its doc (bad and good example), generated from the one rules table."""

from __future__ import annotations

import os

import pytest

from flake8_db_session.rules import RULES, rule_markdown

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "rules")


@pytest.mark.parametrize("code", sorted(RULES))
def test_rule_doc_is_current(code: str) -> None:
    path = os.path.join(DOCS, f"{code}.md")
    assert os.path.isfile(path), f"missing {path}: run python scripts/gen_rule_docs.py"
    with open(path, encoding="utf-8") as handle:
        assert handle.read() == rule_markdown(RULES[code]), "stale: run python scripts/gen_rule_docs.py"


@pytest.mark.parametrize("code", sorted(RULES))
def test_rule_has_examples_and_a_one_line_message(code: str) -> None:
    rule = RULES[code]
    assert rule.bad.strip() and rule.good.strip() and rule.why.strip()
    assert "\n" not in rule.message


def test_readme_table_lists_every_rule() -> None:
    with open(os.path.join(DOCS, "..", "..", "README.md"), encoding="utf-8") as handle:
        readme = handle.read()
    for code in RULES:
        assert f"| {code} |" in readme
