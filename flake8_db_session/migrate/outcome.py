"""What the codemod did to each endpoint and file, and the summary a user reads."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

MOVED = "moved"
REMOVED = "removed"  # unused session parameter: removed, no scope needed
SKIPPED = "skipped"

# Skip reasons, in the order the summary lists them.
REASONS = {
    "decorator-db": "a configured decorator reads the session from the endpoint's kwargs",
    "streaming": "streaming response: the body runs after the endpoint returns",
    "websocket": "websocket endpoint",
    "outlives-call": "the session is passed to something that outlives the call",
    "dependencies-list": "dependencies=[...] on a route, router or app, not a parameter",
    "noqa": "covered by # noqa",
    "several-sessions": "several session parameters in one endpoint",
    "rebinds-session": "the body assigns or deletes the session name",
    "no-scope-factory": "no scope factory found (set db-session-scope-factory)",
    "layout": "the body starts on the signature line",
    "rewrite-failed": "the rewritten code did not parse",
}


@dataclass
class Review:
    line: int
    note: str


@dataclass
class EndpointOutcome:
    path: str
    line: int  # where the DBS001 finding sits
    function: str
    action: str
    reason: str = ""
    detail: str = ""
    serialized: int = 0  # returns wrapped in the response model's validation
    reviews: list[Review] = field(default_factory=list)


@dataclass
class FileOutcome:
    path: str
    before: str
    after: str
    endpoints: list[EndpointOutcome] = field(default_factory=list)
    error: str = ""

    @property
    def changed(self) -> bool:
        return not self.error and self.after != self.before


def summarize(files: Iterable[FileOutcome], *, wrote: bool) -> str:
    files = list(files)
    endpoints = [e for f in files for e in f.endpoints]
    actions = Counter(e.action for e in endpoints)
    reasons = Counter(e.reason for e in endpoints if e.action == SKIPPED)
    reviews = [(e, r) for e in endpoints for r in e.reviews]
    changed = sum(1 for f in files if f.changed)
    serialized = sum(e.serialized for e in endpoints)
    verb = "changed" if wrote else "would change"
    out = [
        f"migrate: {_count(len(endpoints), 'session dependency', 'session dependencies')} in "
        f"{_count(len(files), 'file')}: {actions[MOVED]} moved into a short scope, {actions[REMOVED]} unused removed, "
        f"{actions[SKIPPED]} skipped, {_count(len(reviews), 'line')} needing review; "
        f"{_count(serialized, 'return')} serialized; {verb} {_count(changed, 'file')}"
    ]
    if reasons:
        out.append("skipped:")
        for reason in sorted(reasons, key=lambda r: (list(REASONS).index(r) if r in REASONS else 99, r)):
            out.append(f"  {reason} ({reasons[reason]}): {REASONS.get(reason, reason)}")
            for e in endpoints:
                if e.action == SKIPPED and e.reason == reason:
                    out.append(f"    {e.path}:{e.line} {e.function}" + (f": {e.detail}" if e.detail else ""))
    if reviews:
        out.append("needing review:")
        for e, review in reviews:
            out.append(f"  {e.path}:{review.line} {e.function}: {review.note}")
    for f in files:
        if f.error:
            out.append(f"error: {f.path}: {f.error}")
    return "\n".join(out) + "\n"


def _count(number: int, singular: str, plural: str = "") -> str:
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


def as_json(files: Iterable[FileOutcome]) -> list[dict[str, object]]:
    return [
        {
            "path": e.path,
            "line": e.line,
            "function": e.function,
            "action": e.action,
            "reason": e.reason,
            "detail": e.detail,
            "serialized": e.serialized,
            "review": [{"line": r.line, "note": r.note} for r in e.reviews],
        }
        for f in files
        for e in f.endpoints
    ]
