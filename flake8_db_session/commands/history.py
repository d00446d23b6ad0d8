"""``flake8-db-session history``: the burndown over git history, as a table, CSV, JSON, Markdown or a chart."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from typing import Callable

from .. import summary_cache
from ..burndown import chart
from ..burndown.baseline import load as load_baseline
from ..burndown.cache import ResultCache, default_cache_dir
from ..burndown.workflow import baseline_path
from ..config import ConfigError, Settings
from .common import add_jobs_argument, add_settings_arguments, emit, settings_from_args
from .progress import terminal_progress

NAME = "history"
HELP = "per-module counts at each commit of a git range, and a burndown chart (reads git objects, never checks out)"

TEXT_FORMATS: dict[str, Callable[..., str]] = {
    "table": chart.render_table,
    "csv": chart.render_csv,
    "json": chart.render_json,
    "markdown": chart.render_markdown,
}
IMAGE_FORMATS = chart.IMAGE_FORMATS
EXTENSIONS = {
    ".csv": "csv",
    ".json": "json",
    ".md": "markdown",
    ".pdf": "pdf",
    ".png": "png",
    ".svg": "svg",
    ".txt": "table",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="*", metavar="PATH", help="count only files under these paths (relative to the repository top)"
    )
    parser.add_argument(
        "--repo", default=".", metavar="DIR", help="the git repository (default: the current directory)"
    )
    parser.add_argument("--since", metavar="REV", help="first commit (included; default: the first commit)")
    parser.add_argument("--until", metavar="REV", help="last commit (default: HEAD)")
    parser.add_argument("--every", type=int, default=1, metavar="N", help="every Nth commit (the last is always kept)")
    parser.add_argument(
        "--format",
        choices=[*TEXT_FORMATS, *IMAGE_FORMATS],
        help="output format (default: from the --output extension: "
        + ", ".join(f"{ext} {fmt}" for ext, fmt in EXTENSIONS.items())
        + "; table on stdout)",
    )
    parser.add_argument(
        "-o", "--output-file", "--output", dest="output", metavar="PATH",
        help="write here (atomically) instead of stdout; an image needs it; an unknown extension is an error",
    )
    parser.add_argument(
        "--wide", action="store_true", help="table and markdown: also the status, grep, modules and files columns"
    )
    parser.add_argument(
        "--top", type=int, default=5, metavar="N", help="largest modules drawn in the chart (default 5)"
    )
    parser.add_argument("--size", default="1200x700", metavar="WxH", help="chart size in pixels (default 1200x700)")
    parser.add_argument("--title", default="", help="chart title")
    parser.add_argument(
        "--baseline-file", metavar="PATH", help="baseline drawn as a line (default: db-session-baseline, if it exists)"
    )
    parser.add_argument(
        "--cache-dir", metavar="DIR", help=f"where per-file results are cached (default: {default_cache_dir()}, $FLAKE8_DB_SESSION_CACHE_DIR if set)"
    )
    parser.add_argument("--no-cache", action="store_true", help="analyze every file again, keep nothing")
    add_jobs_argument(parser)
    add_settings_arguments(parser)


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--size: expected WIDTHxHEIGHT in pixels, got {text!r}") from None
    if not (100 <= width <= 10000 and 100 <= height <= 10000):
        raise ConfigError(f"--size: {text} is outside 100x100 .. 10000x10000")
    return width, height


def _baseline_total(args: argparse.Namespace, settings: Settings) -> int | None:
    path = baseline_path(settings, args.baseline_file)
    baseline = load_baseline(path)
    if baseline is None:
        if args.baseline_file:
            raise ConfigError(f"{args.baseline_file}: no such baseline file")
        return None
    codes = set(settings.ratchet_codes)
    return sum(number for (_module, code, _function), number in baseline.entries.items() if code in codes)


def output_format(requested: str | None, output: str | None) -> str:
    """The format named by ``--format``, else by the output file's extension; an extension that
    names no format, or another one than ``--format``, is an error (never a table in a .jpg)."""
    if not output:
        return requested or "table"
    extension = os.path.splitext(output)[1].lower()
    known = ", ".join(EXTENSIONS)
    if extension not in EXTENSIONS:
        if requested and not extension:
            return requested  # `-o report --format csv`: no extension to disagree with
        what = f"extension {extension!r}" if extension else "no extension"
        raise ConfigError(f"--output {output}: {what}; known: {known} (or give --format with a file without extension)")
    implied = EXTENSIONS[extension]
    if requested and requested != implied and not (requested == "table" and extension == ".txt"):
        raise ConfigError(f"--output {output} is {implied}, but --format is {requested}")
    return implied


def run(args: argparse.Namespace) -> int:
    fmt = output_format(args.format, args.output)
    if fmt in IMAGE_FORMATS and not args.output:
        raise ConfigError(f"--format {fmt} writes an image: give --output FILE.{fmt}")
    size = _size(args.size)
    if args.every < 1:
        raise ConfigError("--every must be 1 or more")
    # Here, not at the top: every command builds this one's options, only this one walks git.
    from ..burndown.history import GitError, GitRepository, compute_history, every_nth

    repository = GitRepository(args.repo)
    settings = settings_from_args(args, repository.path)
    baseline = _baseline_total(args, settings)
    try:
        every_commit = repository.commits(args.since, args.until)
        if not every_commit:
            raise GitError("no commits in the range")
    except GitError:
        repository.close()
        raise
    # The table shows every Nth commit; the trend is fitted on its own weekly sample, analyzed
    # too, so --every never changes it.
    shown = every_nth(every_commit, args.every)
    wanted = set(shown) | set(chart.trend_commits(every_commit))
    commits = [commit for commit in every_commit if commit in wanted]
    no_cache = args.no_cache or (not args.cache_dir and summary_cache.disabled_by_environment())
    cache_path = None if no_cache else os.path.join(args.cache_dir or default_cache_dir(), "history.sqlite3")
    try:
        cache = ResultCache(cache_path)
    except (OSError, sqlite3.Error) as exc:
        print(f"flake8-db-session: note: no cache ({cache_path}: {exc}); every file is analyzed", file=sys.stderr)
        cache = ResultCache(None)
    try:
        history = compute_history(
            repository,
            commits,
            settings,
            cache=cache,
            paths=args.paths,
            jobs=args.jobs or _default_jobs(),
            progress=terminal_progress(),
        )
    finally:
        cache.close()
        repository.close()
    by_commit = {point.commit: point for point in history.points}
    history.trend_points = [by_commit[commit] for commit in chart.trend_commits(every_commit)]
    history.points = [by_commit[commit] for commit in shown]
    if cache.read_error:
        print(f"flake8-db-session: note: the cache could not be read: {cache.read_error}", file=sys.stderr)
    if cache.write_error:
        print(f"flake8-db-session: note: the cache could not be written: {cache.write_error}", file=sys.stderr)

    if fmt in IMAGE_FORMATS:
        try:
            output: str | bytes = chart.render_image(
                history, fmt, baseline=baseline, top=args.top, size=size, title=args.title
            )
        except chart.ChartUnavailable as exc:
            raise ConfigError(str(exc)) from None
    else:
        output = TEXT_FORMATS[fmt](history, baseline, wide=args.wide)
    emit(output, args.output)

    sys.stdout.flush()  # the summary below goes after the output, not into it
    for point in history.points:
        for path, why in point.errors:
            print(f"{point.commit.sha[:10]}:{path}: error: {why}", file=sys.stderr)
    extra = len(commits) - len(shown)
    print(
        f"history: {len(history.points)} commits"
        + (f" (+{extra} for the trend)" if extra else "")
        + f", {history.analyzed} files analyzed, "
        f"{history.cached} from the cache, {history.seconds:.1f}s"
        + (f"; wrote {args.output}" if args.output else ""),
        file=sys.stderr,
    )
    return 0


def _default_jobs() -> int:
    from ..runner import default_jobs

    return default_jobs()
