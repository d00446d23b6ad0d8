"""SARIF 2.1.0 (``--format sarif``), for GitHub code scanning and other SARIF viewers.

Columns are converted to UTF-16 code units (SARIF's default ``columnKind``), reading the lines of
the files that have findings. Paths become URIs relative to ``%SRCROOT%`` (the current directory),
which is what code scanning expects when the command runs at the repository root.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from functools import lru_cache
from importlib import metadata
from typing import Any
from urllib.parse import quote

from .. import __version__
from ..analysis import Finding
from ..rules import RULES
from .columns import LineReader, SourceLines, character_column, utf16_column
from .severity import message_text, severity

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://pypi.org/project/flake8-db-session/"
# Where the installed distribution says its repository is (``[project.urls]``), by label
# normalized as PEP 753 does (lower case, only letters and digits), most specific first.
_REPOSITORY_LABELS = ("repository", "source", "sourcecode", "homepage")
_GITHUB_REPOSITORY = re.compile(r"https://github\.com/[\w.-]+/[\w.-]+")


def repository_rule_doc_template(project_urls: Sequence[str]) -> str | None:
    """The address of a rule's document (``{code}`` to fill) in the GitHub repository that
    ``Project-URL`` entries ("Label, URL") name, or None when none names one."""
    found: dict[str, str] = {}
    for entry in project_urls:
        label, _, url = entry.partition(",")
        url = url.strip().rstrip("/")
        found.setdefault(re.sub(r"[^a-z0-9]", "", label.lower()), url.removesuffix(".git"))
    for label in _REPOSITORY_LABELS:
        url = found.get(label, "")
        if _GITHUB_REPOSITORY.fullmatch(url):  # an owner and a repository, where /blob/ shows a file
            return url + "/blob/main/docs/rules/{code}.md"
    return None


@lru_cache(maxsize=1)
def rule_doc_uri_template() -> str | None:
    """Each rule's document (docs/rules/<CODE>.md, the text ``flake8-db-session explain CODE``
    prints) in the repository the installed distribution names; None when it names none, or its
    metadata cannot be read (no link then, rather than a made-up one: the rule's help travels in
    the log all the same)."""
    try:
        urls = metadata.metadata("flake8-db-session").get_all("Project-URL") or []
    except Exception:  # a missing or damaged installation record: the link is optional
        return None
    return repository_rule_doc_template(urls)


def level(code: str) -> str:
    return severity(code)


def expression_end(text: str, start: int) -> int:
    """Where the expression starting at character ``start`` of a line ends: a dotted name with its
    calls and subscripts (``Depends(get_db)``, ``team.members``); the line's end when a bracket stays
    open; at least one character."""
    position, depth, quote = start, 0, ""
    while position < len(text):
        char = text[position]
        if quote:
            if char == "\\":
                position += 1
            elif char == quote:
                quote = ""
        elif char in "\"'" and depth:
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                break
            depth -= 1
        elif depth == 0 and not (char.isalnum() or char in "_."):
            break
        position += 1
    return max(position, start + 1)


def _region(finding: Finding, read_line: LineReader) -> dict[str, int]:
    start = character_column(read_line, finding.path, finding.line, finding.col)
    region = {"startLine": finding.line, "startColumn": start}
    text = read_line(finding.path, finding.line)
    if text is not None:
        # UTF-16 units of the expression: the line's characters up to its end, re-measured.
        end_chars = expression_end(text, len(text.encode("utf-8")[: finding.col].decode("utf-8", "replace")))
        region["endColumn"] = utf16_column(text, len(text[:end_chars].encode("utf-8"))) + 1
    else:
        region["endColumn"] = start + 1
    return region


def artifact_uri(path: str, root: str | None = None) -> dict[str, str]:
    """A relative URI under %SRCROOT% when the file is inside ``root``, else an absolute file URI."""
    root = os.path.abspath(root or os.getcwd())
    absolute = os.path.abspath(path)
    relative = os.path.relpath(absolute, root) if _inside(absolute, root) else None
    if relative is not None:
        return {"uri": quote(relative.replace(os.sep, "/")), "uriBaseId": "%SRCROOT%"}
    return {"uri": "file://" + quote(absolute.replace(os.sep, "/"))}


def _inside(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:  # different drives
        return False


def _rule_descriptor(code: str) -> dict[str, Any]:
    rule = RULES[code]
    help_markdown = f"{rule.why}\n\nBad:\n\n```python\n{rule.bad}\n```\n\nGood:\n\n```python\n{rule.good}\n```\n"
    descriptor: dict[str, Any] = {
        "id": code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": " ".join(rule.why.split())},
        "help": {"text": " ".join(rule.why.split()), "markdown": help_markdown},
        "defaultConfiguration": {"level": level(code), "enabled": rule.default_enabled},
    }
    template = rule_doc_uri_template()
    if template is not None:
        descriptor["helpUri"] = template.format(code=code)
    return descriptor


def _fingerprint(finding: Finding, occurrence: int) -> str:
    """Stable across line moves: the module, code, function, subject and how many came before."""
    key = "\0".join(
        [finding.path, finding.code, finding.function, finding.subject, str(occurrence)]
    )
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def build(
    findings: Sequence[Finding],
    *,
    read_line: LineReader | None = None,
    root: str | None = None,
) -> dict[str, Any]:
    read_line = read_line or SourceLines()
    codes = sorted(RULES)
    rule_index = {code: index for index, code in enumerate(codes)}
    seen: dict[tuple, int] = {}
    results: list[dict[str, Any]] = []
    for finding in findings:
        key = (finding.path, finding.code, finding.function, finding.subject)
        occurrence = seen[key] = seen.get(key, -1) + 1
        result: dict[str, Any] = {
            "ruleId": finding.code,
            "level": level(finding.code),
            "message": {"text": message_text(finding.code, finding.message)},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": artifact_uri(finding.path, root),
                        "region": _region(finding, read_line),
                    },
                    "logicalLocations": [
                        {"fullyQualifiedName": finding.function, "kind": "function"}
                    ],
                }
            ],
            "partialFingerprints": {
                "flake8DbSession/v1": _fingerprint(finding, occurrence)
            },
            "properties": {"function": finding.function, "status": finding.status},
        }
        if finding.code in rule_index:
            result["ruleIndex"] = rule_index[finding.code]
        if (
            finding.noqa
        ):  # only present with --disable-noqa: show it as suppressed, not hide it
            result["suppressions"] = [{"kind": "inSource"}]
        results.append(result)
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "flake8-db-session",
                        "version": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": [_rule_descriptor(code) for code in codes],
                    }
                },
                "columnKind": "utf16CodeUnits",
                "results": results,
            }
        ],
    }


def render(findings: Sequence[Finding]) -> str:
    return (
        json.dumps(build(findings), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    )
