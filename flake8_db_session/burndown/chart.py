"""Renderings of a burndown history: table, CSV, JSON, Markdown with a mermaid chart, PNG/SVG chart.

The burndown number of a commit is its count of ratcheted codes (``db-session-ratchet-codes``,
DBS001 and DBS002 by default), noqa'd findings included; the other codes are carried as columns.
Text outputs are deterministic so they diff well; the image needs matplotlib (the ``chart`` extra).
"""

from __future__ import annotations

import csv
import datetime
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ..analysis.findings import HELD_TAG
from .counts import STATUSES, ModuleCounts
from .tables import code_column as module_code_column
from .tables import status_column as module_status_column

if TYPE_CHECKING:  # the history itself is imported by the command that computes one
    from .history import Commit, History, Point

FORMAT = "flake8-db-session-history"
VERSION = 1
DAY = 86400.0


def iso_date(timestamp: int) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime("%Y-%m-%d")


def iso_time(timestamp: int) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def ratcheted(counts: ModuleCounts, codes: Sequence[str]) -> int:
    return sum(counts.codes.get(code, 0) for code in codes)


def series(history: History) -> list[int]:
    """The burndown number at each commit."""
    return [ratcheted(point.counts.totals, history.ratchet_codes) for point in history.points]


def baseline_series(history: History, working: int | None = None) -> list[int | None] | None:
    """The baseline at each commit, the one value every output shows: the committed baseline file
    where any commit has one, else the working tree's baseline (``working``) as a flat line, else
    None."""
    committed = [point.baseline for point in history.points]
    if any(value is not None for value in committed):
        return committed
    if working is not None:
        return [working for _ in history.points]
    return None


def baseline_source(history: History, working: int | None = None) -> str | None:
    """Where :func:`baseline_series` comes from: "committed", "working tree" or None."""
    if any(point.baseline is not None for point in history.points):
        return "committed"
    return "working tree" if working is not None else None


def all_codes(history: History) -> list[str]:
    codes = set(history.ratchet_codes)
    for point in history.points:
        codes.update(point.counts.totals.codes)
    return sorted(codes)


# --- projection -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Projection:
    """The recent trend: a least-squares line over the last ``window`` days of commits."""

    per_day: float  # change of the burndown number per day (negative = burning down)
    since: int  # timestamp of the first commit the fit used
    zero_at: int | None  # when the line reaches zero, if it goes down

    def describe(self) -> str:
        per_month = self.per_day * 30
        trend = f"{per_month:+.1f} per 30 days since {iso_date(self.since)}"
        if self.zero_at is None:
            return f"trend {trend}: not burning down, no date for zero"
        return f"trend {trend}: zero around {iso_date(self.zero_at)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "per_day": round(self.per_day, 6),
            "per_30_days": round(self.per_day * 30, 3),
            "since": iso_date(self.since),
            "zero_date": iso_date(self.zero_at) if self.zero_at is not None else None,
        }


# The trend is fitted on the last commit of each week of the last 180 days, whatever ``--every``
# shows, and only when there is enough of it: commits minutes apart give no trend.
TREND_WINDOW_DAYS = 180.0
TREND_BUCKET_DAYS = 7.0
TREND_MIN_POINTS = 4
TREND_MIN_SPAN_DAYS = 28.0


def trend_commits(commits: Sequence[Commit], window_days: float = TREND_WINDOW_DAYS) -> list[Commit]:
    """The commits a trend is fitted on: the last one of each week (counted back from the last
    commit) within ``window_days``, oldest first. Depends only on the commits of the range."""
    if not commits:
        return []
    last = commits[-1].timestamp
    chosen: dict[int, Commit] = {}
    for commit in commits:  # oldest first: the latest commit of each week wins
        age = max(0, last - commit.timestamp)
        if age <= window_days * DAY:
            chosen[int(age // (TREND_BUCKET_DAYS * DAY))] = commit
    kept = set(chosen.values())
    return [commit for commit in commits if commit in kept]


def projection(history: History, window_days: float = TREND_WINDOW_DAYS) -> Projection | None:
    """A least-squares line over :func:`trend_commits`; None (no trend shown) with fewer than
    ``TREND_MIN_POINTS`` weeks or less than ``TREND_MIN_SPAN_DAYS`` between the first and last."""
    points = history.trend_points if history.trend_points is not None else history.points
    sample = set(trend_commits([p.commit for p in points], window_days))
    used = [p for p in points if p.commit in sample]
    if len(used) < TREND_MIN_POINTS:
        return None
    times = [p.commit.timestamp for p in used]
    if (times[-1] - times[0]) / DAY < TREND_MIN_SPAN_DAYS:
        return None
    values = [ratcheted(p.counts.totals, history.ratchet_codes) for p in used]
    xs = [(t - times[0]) / DAY for t in times]
    mean_x, mean_y = sum(xs) / len(xs), sum(values) / len(values)
    spread = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, values)) / spread
    zero_at = None
    if slope < 0 and values[-1] > 0:
        zero_at = int(times[-1] + values[-1] / -slope * DAY)
    return Projection(slope, times[0], zero_at)


# --- text outputs -----------------------------------------------------------------------------------


def _total_column(column: Callable[[ModuleCounts], object]) -> Callable[[Point], object]:
    """A module column applied to a commit's totals."""
    return lambda point: column(point.counts.totals)


def _commit_columns(
    history: History, baseline: int | None = None, wide: bool = True
) -> list[tuple[str, Callable[[Point], object]]]:
    """The per-commit columns; without ``wide`` only the burndown, baseline, codes, held-across-await
    and noqa."""
    codes = all_codes(history)
    columns: list[tuple[str, Callable[[Point], object]]] = [
        ("date", lambda p: iso_date(p.commit.timestamp)),
        ("commit", lambda p: p.commit.sha[:10]),
        ("burndown", lambda p: ratcheted(p.counts.totals, history.ratchet_codes)),
    ]
    allowed = baseline_series(history, baseline)
    if allowed is not None:
        by_commit = {p.commit.sha: value for p, value in zip(history.points, allowed)}
        columns.append(("baseline", lambda p: "-" if by_commit[p.commit.sha] is None else by_commit[p.commit.sha]))
    for code in codes:
        columns.append((code, _total_column(module_code_column(code))))
    if not wide:
        # The held-across-await count stays: it is the part of the burndown that exhausts a pool.
        held = (HELD_TAG, _total_column(module_status_column(HELD_TAG)))
        return [*columns, held, ("noqa", lambda p: p.counts.totals.noqa)]
    for status in STATUSES:
        columns.append((status, _total_column(module_status_column(status))))
    columns += [
        ("noqa", lambda p: p.counts.totals.noqa),
        ("grep", lambda p: p.counts.totals.grep),
        ("modules", lambda p: len(p.counts.modules)),
        ("files", lambda p: p.files),
    ]
    return columns


def render_table(history: History, baseline: int | None = None, top: int = 5, wide: bool = False) -> str:
    columns = _commit_columns(history, baseline, wide)
    header = [name for name, _ in columns] + ["subject"]
    rows = [[str(get(p)) for _, get in columns] + [p.commit.subject[:50]] for p in history.points]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def fmt(row: list[str]) -> str:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [cell.rjust(width) for cell, width in zip(row[2:-1], widths[2:-1])]
        return ("  ".join(cells) + "  " + row[-1]).rstrip()

    lines = [fmt(header), "-" * len(fmt(header)), *(fmt(r) for r in rows)]
    lines.append("")
    codes = "+".join(history.ratchet_codes)
    values = series(history)
    if values:
        lines.append(f"burndown ({codes}, noqa'd included): {values[0]} at the first commit, {values[-1]} at the last")
    source = baseline_source(history, baseline)
    if source is not None:
        lines.append(f"baseline column: the {source} baseline file" + (
            f"; the working tree's allows {baseline}" if baseline is not None and source == "committed" else ""
        ))
    trend = projection(history)
    if trend is not None:
        lines.append(trend.describe())
    if history.points:
        last = [(ratcheted(m, history.ratchet_codes), m.module) for m in history.points[-1].counts.modules.values()]
        largest = sorted((item for item in last if item[0]), key=lambda item: (-item[0], item[1]))[:top]
        if largest:
            parts = [f"{module} {number}" for number, module in largest]
            lines.append(f"largest modules at the last commit: {', '.join(parts)}")
    return "\n".join(lines) + "\n"


def _module_columns(history: History) -> list[tuple[str, Callable[[ModuleCounts], object]]]:
    columns: list[tuple[str, Callable[[ModuleCounts], object]]] = [
        ("burndown", lambda m: ratcheted(m, history.ratchet_codes)),
        ("total", lambda m: m.total),
    ]
    for code in all_codes(history):
        columns.append((code, module_code_column(code)))
    for status in STATUSES:
        columns.append((status, module_status_column(status)))
    columns += [("noqa", lambda m: m.noqa), ("grep", lambda m: m.grep)]
    return columns


def render_csv(history: History, baseline: int | None = None, wide: bool = True) -> str:
    """A TOTAL row per commit (so a commit with no finding still has one), then one row per module."""
    columns = _module_columns(history)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["commit", "date", "module", *(name for name, _ in columns), "baseline"])
    series_ = baseline_series(history, baseline) or [None] * len(history.points)
    for point, value in zip(history.points, series_):
        stamp = iso_time(point.commit.timestamp)
        allowed = "" if value is None else value  # the same baseline as the table's, on TOTAL rows
        writer.writerow([point.commit.sha, stamp, "TOTAL", *(get(point.counts.totals) for _, get in columns), allowed])
        for counts in sorted(point.counts.modules.values(), key=lambda m: m.module):
            writer.writerow([point.commit.sha, stamp, counts.module, *(get(counts) for _, get in columns), ""])
    return buffer.getvalue()


def to_dict(history: History, baseline: int | None = None) -> dict[str, Any]:
    trend = projection(history)
    commits = []
    series_ = baseline_series(history, baseline) or [None] * len(history.points)
    for point, allowed in zip(history.points, series_):
        modules = []
        for counts in sorted(point.counts.modules.values(), key=lambda m: m.module):
            modules.append({**counts.to_dict(), "burndown": ratcheted(counts, history.ratchet_codes)})
        totals = point.counts.totals
        commits.append(
            {
                "commit": point.commit.sha,
                "date": iso_time(point.commit.timestamp),
                "subject": point.commit.subject,
                "files": point.files,
                "errors": [{"path": path, "error": why} for path, why in point.errors],
                "burndown": ratcheted(totals, history.ratchet_codes),
                "baseline": allowed,
                "totals": {**totals.to_dict(), "modules": len(point.counts.modules)},
                "modules": modules,
            }
        )
    return {
        "format": FORMAT,
        "version": VERSION,
        "ratchet_codes": list(history.ratchet_codes),
        "baseline": baseline,  # the working tree's; each commit carries the baseline column's value
        "baseline_source": baseline_source(history, baseline),
        "projection": trend.to_dict() if trend is not None else None,
        "commits": commits,
    }


def render_json(history: History, baseline: int | None = None, wide: bool = True) -> str:
    return json.dumps(to_dict(history, baseline), indent=2, sort_keys=False) + "\n"


def _axis_labels(history: History) -> list[str]:
    dates = [iso_date(p.commit.timestamp) for p in history.points]
    return [d if dates.count(d) == 1 else f"{d} {p.commit.sha[:7]}" for d, p in zip(dates, history.points)]


def render_markdown(history: History, baseline: int | None = None, wide: bool = False) -> str:
    """A mermaid line chart (GitHub and most CI summaries render it) and the table under it."""
    values = series(history)
    codes = "+".join(history.ratchet_codes)
    lines = [f"### Session dependency burndown ({codes})", ""]
    if values:
        top = max([*values, *(v for v in baseline_series(history, baseline) or () if v is not None), 1])
        lines += [
            "```mermaid",
            "xychart-beta",
            f'    title "{codes} per commit"',
            "    x-axis [" + ", ".join(json.dumps(label) for label in _axis_labels(history)) + "]",
            f'    y-axis "findings" 0 --> {top + max(1, top // 10)}',
            "    line [" + ", ".join(str(v) for v in values) + "]",
        ]
        allowed = baseline_series(history, baseline)
        drawn = allowed if allowed is not None and all(value is not None for value in allowed) else None
        if drawn is not None:
            lines.append("    line [" + ", ".join(str(value) for value in drawn) + "]")
        lines += ["```", ""]
        caption = f"{values[0]} at the first commit, {values[-1]} at the last"
        if drawn is not None:
            caption += f"; the second line is the baseline ({drawn[-1]} at the last commit)"
        trend = projection(history)
        if trend is not None:
            caption += f"; {trend.describe()}"
        lines += [caption + ".", ""]
    columns = _commit_columns(history, baseline, wide)
    lines.append("| " + " | ".join(name for name, _ in columns) + " | subject |")
    lines.append("| --- | --- |" + " ---: |" * (len(columns) - 2) + " --- |")
    for point in history.points:
        cells = [str(get(point)) for _, get in columns]
        cells[1] = f"`{cells[1]}`"
        subject = point.commit.subject.replace("|", "\\|")
        lines.append("| " + " | ".join(cells) + f" | {subject} |")
    return "\n".join(lines) + "\n"


# --- the image ----------------------------------------------------------------------------------------


def largest_modules(history: History, top: int) -> list[str]:
    """The modules with the most ratcheted findings at their worst commit (ties: by name)."""
    peak: dict[str, int] = {}
    for point in history.points:
        for module, counts in point.counts.modules.items():
            peak[module] = max(peak.get(module, 0), ratcheted(counts, history.ratchet_codes))
    ranked = sorted((m for m, n in peak.items() if n > 0), key=lambda m: (-peak[m], m))
    return ranked[:top]


class ChartUnavailable(Exception):
    """matplotlib is not installed."""


IMAGE_FORMATS = ("png", "svg", "pdf")


def _utc(timestamp: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc)


def build_figure(
    history: History,
    *,
    baseline: int | None = None,
    top: int = 5,
    size: tuple[int, int] = (1200, 700),
    title: str = "",
):
    """The chart as a matplotlib Figure: the burndown total, the ``top`` largest modules, the
    baseline and the projection, over a date axis, with integer ticks (counts are whole numbers).
    ``size`` is in pixels."""
    try:
        # A bare Figure needs no pyplot and no GUI backend, and changes no global state.
        import matplotlib.dates as mdates
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise ChartUnavailable(
            "drawing a chart needs matplotlib: pip install 'flake8-db-session[chart]'"
        ) from None

    dpi = 100
    figure = Figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi)
    axes = figure.add_subplot()
    # Dates as matplotlib's day numbers (the date locator and formatter below label them).
    dates = [float(mdates.date2num(_utc(p.commit.timestamp))) for p in history.points]
    values = series(history)
    codes = "+".join(history.ratchet_codes)
    few = len(dates) <= 60  # markers on every commit only while they stay apart
    axes.plot(
        dates, values, marker="o" if few else None, linewidth=2.5, color="black", label=f"total {codes}", zorder=3
    )
    for date, value in ((dates[0], values[0]), (dates[-1], values[-1])) if values else ():
        axes.annotate(str(value), (date, value), textcoords="offset points", xytext=(0, 8), ha="center")
    # The sites held across an await or blocking call: the part of the total that exhausts a pool.
    held = [p.counts.totals.statuses.get(HELD_TAG, 0) for p in history.points]
    if any(held):
        axes.plot(
            dates, held, marker="o" if few else None, linewidth=2, color="tab:orange", linestyle="--",
            label=f"held across an await ({held[-1]})", zorder=3,
        )
    for module in largest_modules(history, top):
        module_values = [
            ratcheted(p.counts.modules[module], history.ratchet_codes) if module in p.counts.modules else 0
            for p in history.points
        ]
        axes.plot(dates, module_values, marker="." if few else None, linewidth=1.2, label=module)
    allowed = baseline_series(history, baseline)
    if allowed is not None:
        last_allowed = next((value for value in reversed(allowed) if value is not None), None)
        axes.step(
            dates, [float("nan") if value is None else value for value in allowed], where="post",
            color="tab:red", linestyle="--", linewidth=1.2, label=f"baseline ({last_allowed})",
        )
    trend = projection(history)
    if trend is not None and trend.zero_at is not None:
        end = float(mdates.date2num(_utc(trend.zero_at)))
        axes.plot(
            [dates[-1], end], [values[-1], 0], linestyle=":", color="gray",
            label=f"projection: zero around {iso_date(trend.zero_at)}",
        )
    locator = mdates.AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    if len(dates) == 1:
        axes.set_xlim(dates[0] - 1, dates[0] + 1)  # a day each side
    highest = max([*values, *(v for v in allowed or () if v is not None), 1])
    axes.set_ylim(0, highest * 1.1)  # room for the value labels
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel(f"{codes} findings (noqa'd included)")
    axes.grid(True, alpha=0.3)
    heading = title or f"Session dependency burndown: {values[0]} \u2192 {values[-1]}"
    if trend is not None:
        heading += f"\n{trend.describe()}"
    axes.set_title(heading, fontsize=11)
    # Below the plot, so it never hides a line; module paths can be long.
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3, fontsize=8, frameon=False)
    figure.tight_layout()
    return figure


def render_image(
    history: History,
    fmt: str,
    *,
    baseline: int | None = None,
    top: int = 5,
    size: tuple[int, int] = (1200, 700),
    title: str = "",
) -> bytes:
    """The chart as PNG, SVG or PDF bytes (see :func:`build_figure`)."""
    figure = build_figure(history, baseline=baseline, top=top, size=size, title=title)
    import matplotlib

    dpi = 100
    buffer = io.BytesIO()
    # No timestamps or tool versions in the file: the same history gives the same bytes.
    metadata = {
        "svg": {"Date": None, "Creator": None},
        "pdf": {"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None},
    }.get(fmt, {"Software": None})
    with matplotlib.rc_context({"svg.hashsalt": "flake8-db-session"}):
        figure.savefig(buffer, format=fmt, dpi=dpi, metadata=metadata)
    return buffer.getvalue()
