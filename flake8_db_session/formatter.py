"""flake8 report plugin ``--format=db-session-counts``: the per-module burndown table of a flake8 run.

flake8 calls formatters in the parent process only, after the ``-j`` workers have sent their
results back, so the aggregation here sees every file whatever the job count. Violations of
other codes (and DBS100, a regression) are printed as usual lines above the table; DBS findings
are counted instead of listed.

The table needs what a violation does not carry (status tags, the noqa'd findings flake8 dropped,
the grep count), so the files where flake8 reported a DBS finding, or that hold a ``noqa``
comment, are analyzed once more here, in the parent; the grep count is read for every file. Codes
flake8's select/ignore leave out are left out of the table too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flake8.formatting.base import BaseFormatter
from flake8.violation import Violation

from .burndown.counts import count_findings, grep_files
from .burndown.tables import render_table

if TYPE_CHECKING:
    from .analysis.findings import Finding

# Codes listed as lines, not counted.
_LISTED = ("DBS100",)


class CountsFormatter(BaseFormatter):
    def after_init(self) -> None:
        self._files: list[str] = []
        self._with_findings: set[str] = set()

    def beginning(self, filename: str) -> None:
        self._files.append(filename)

    def format(self, error: Violation) -> str:
        return f"{error.filename}:{error.line_number}:{error.column_number}: {error.code} {error.text}"

    def handle(self, error: Violation) -> None:
        if error.code.startswith("DBS") and error.code not in _LISTED:
            self._with_findings.add(error.filename)
            return
        super().handle(error)

    def stop(self) -> None:
        try:
            try:
                table = self.render()
            except Exception as exc:  # a bug of ours must not take flake8's report down
                from .plugin import describe_exception

                table = f"flake8-db-session: warning: no counts table: {describe_exception(exc)}\n"
            self._write(table.rstrip("\n"))
        finally:
            super().stop()

    def render(self) -> str:
        from .plugin import Plugin
        from .runner import check_path

        settings = Plugin.settings
        files = [f for f in dict.fromkeys(self._files) if f not in ("stdin", "-")]
        grep = grep_files(files, settings.dependencies)
        selected = _selected_codes(self.options)
        findings: list[Finding] = []
        for path in files:
            if path in self._with_findings or _has_noqa(path):
                findings.extend(f for f in check_path(path, settings).findings if selected(f.code))
        counts = count_findings(findings, root=Plugin.baseline_root, grep=grep)
        if not counts.modules:
            return "no DBS findings\n"
        return render_table(counts)


def _selected_codes(options):
    """flake8's own select/ignore decision for a code (per-file-ignores aside), cached per code."""
    try:
        from flake8.style_guide import Decision, DecisionEngine

        engine = DecisionEngine(options)
    except (AttributeError, TypeError):  # an options namespace without the selection keys
        return lambda code: True
    return lambda code: engine.decision_for(code) is Decision.Selected


def _has_noqa(path: str) -> bool:
    """Whether a file may hold findings flake8 dropped for a ``# noqa`` comment."""
    from .runner import read_regular

    try:
        data = read_regular(path)  # never blocks on a FIFO
    except OSError:
        return False
    return data is not None and b"noqa" in data.lower()
