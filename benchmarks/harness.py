"""The benchmark harness: every tool on the same files, in one run, as ratios against the floor.

``python -m benchmarks`` (see ``--help``). Each command runs as its own process (whole-process
wall time, CPU time and peak memory of that process tree); scenarios are interleaved run by run,
so a busy machine slows them alike; medians and min/max spread are reported, and everything is
written as JSON (and a Markdown table for docs/performance.md) under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import compileall
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Callable

from . import corpus, history_repo, instructions, synthetic
from .measure import CommandFailed, Sample, Summary, run_once

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(HERE)
PY = sys.executable
TOOL = [PY, "-m", "flake8_db_session"]
GROUPS = ("real", "flake8", "editor", "history", "synthetic")
# Measured only when asked for (``--only instructions``): slow, and it needs valgrind.
OPT_IN_GROUPS = ("instructions",)


@dataclass
class Scenario:
    key: str  # "<corpus>.<what>", e.g. "real.check_j1"
    label: str
    argv: list[str]
    cwd: str
    env: Callable[[], dict[str, str]] | None = None  # a fresh environment per run (e.g. empty cache)
    ok_codes: tuple[int, ...] = (0, 1)
    capture: str = ""  # where stdout goes when the command prints results (JSON), else discarded
    samples: list[Sample] = field(default_factory=list)
    outputs: list[dict] = field(default_factory=list)  # the parsed stdout of each kept run
    error: str = ""


@dataclass(frozen=True)
class Target:
    name: str
    numerator: str  # "<scenario key>:<metric>" with metric wall, cpu or peak_kb (or an editor field)
    denominator: str
    limit: float  # the ratio must be at most this (strictly below when strict)
    strict: bool = False


def _ruff() -> list[str] | None:
    try:
        from ruff.__main__ import (
            find_ruff_bin,  # the binary itself: no shim or wrapper start-up
        )

        return [find_ruff_bin()]
    except Exception:  # noqa: BLE001 - ruff is optional: the anchor is skipped without it
        found = shutil.which("ruff")
        return [found] if found else None


def _has_command(name: str) -> bool:
    """Whether this checkout's command has a subcommand (others, such as history, land separately)."""
    from flake8_db_session.commands import COMMANDS

    return name in COMMANDS


def _write_list(path: str, files: list[str]) -> str:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(files) + "\n")
    return path


def corpus_scenarios(prefix: str, root: str, target: str, work: str, *, ruff: bool, report: bool) -> list[Scenario]:
    """Floors, our check (one process and all cores), report and ruff on ``root/target``."""
    files = [os.path.relpath(p, root) for p in corpus.python_files(os.path.join(root, target))]
    listing = _write_list(os.path.join(work, f"{prefix}.files"), files)
    jobs = str(_cores())
    scenarios = [
        Scenario(f"{prefix}.floor_parse", "read + ast.parse, one process", [PY, "-m", "benchmarks.floor", listing], root),
        Scenario(
            f"{prefix}.floor_walk", "read + ast.parse + ast.walk, one process",
            [PY, "-m", "benchmarks.floor", "--walk", listing], root,
        ),
        Scenario(f"{prefix}.check_j1", "flake8-db-session check -j1", [*TOOL, "check", "-j1", target], root),
        Scenario(f"{prefix}.check_jN", f"flake8-db-session check -j{jobs}", [*TOOL, "check", f"-j{jobs}", target], root),
        Scenario(f"{prefix}.check_default", "flake8-db-session check (default job count)", [*TOOL, "check", target], root),
    ]
    if report:
        scenarios.append(
            Scenario(f"{prefix}.report_jN", f"flake8-db-session report -j{jobs}", [*TOOL, "report", f"-j{jobs}", target], root)
        )
    ruff_bin = _ruff() if ruff else None
    if ruff_bin:
        scenarios.append(
            Scenario(
                f"{prefix}.ruff", "ruff check --select FAST (all cores)",
                [*ruff_bin, "check", "--select", "FAST", "--no-cache", "--exit-zero", "--quiet", target], root,
            )
        )
    for scenario in scenarios:
        scenario.env = _env_with_project
    return scenarios


# A copy of the package taken when the run starts: every scenario measures the same code even if
# the checkout is edited meanwhile (and history's cache, keyed by the package's source, holds).
_SNAPSHOT: list[str] = []
# The persistent summary cache of the measured commands: one for the whole benchmark run (filled
# by the untimed first run of each scenario), never the user's own.
_SUMMARY_CACHE: list[str] = []
SUMMARY_CACHE_ENV = "FLAKE8_DB_SESSION_CACHE_DIR"


def _env_with_project() -> dict[str, str]:
    """Children find ``benchmarks`` (the floor) and the package snapshot from any directory."""
    env = dict(os.environ)
    paths = [*_SNAPSHOT, PROJECT] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    if _SUMMARY_CACHE:
        env[SUMMARY_CACHE_ENV] = _SUMMARY_CACHE[0]
    env.pop("FLAKE8_DB_SESSION_NO_CACHE", None)
    # Measure the code as installed: pip writes bytecode at install time, so a child must not
    # compile our modules (or the floor's) from source in every process.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _env_with_empty_caches(work: str) -> Callable[[], dict[str, str]]:
    """A fresh, empty cache directory (summaries and history results) for each run."""

    def env() -> dict[str, str]:
        fresh = _env_with_project()
        fresh["XDG_CACHE_HOME"] = fresh[SUMMARY_CACHE_ENV] = tempfile.mkdtemp(prefix="cold-cache-", dir=work)
        return fresh

    return env


def take_snapshot(work: str) -> str:
    """Copy this checkout's package into ``work``; children import it ahead of the installed one."""
    target = os.path.join(work, "snapshot")
    shutil.copytree(
        os.path.join(PROJECT, "flake8_db_session"),
        os.path.join(target, "flake8_db_session"),
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    compileall.compile_dir(target, quiet=1)  # as pip does on install
    _SNAPSHOT[:] = [target]
    _SUMMARY_CACHE[:] = [os.path.join(work, "summary-cache")]
    return target


def flake8_scenarios(root: str, target: str, largest: str) -> list[Scenario]:
    wrapper = [PY, "-m", "benchmarks.flake8_plugins"]
    scenarios = [
        Scenario("real.flake8_without", "flake8 -j1, default plugins", [*wrapper, "--without", "-j1", "--exit-zero", target], root),
        Scenario("real.flake8_with", "flake8 -j1, default plugins + ours", [*wrapper, "--with", "-j1", "--exit-zero", target], root),
    ]
    for scenario in scenarios:
        scenario.env = _env_with_project
    return scenarios


def editor_scenarios(root: str, largest: str, work: str) -> list[Scenario]:
    wrapper = [PY, "-m", "benchmarks.flake8_plugins"]
    scenarios = [
        Scenario("editor.flake8_without", "flake8 FILE, default plugins", [*wrapper, "--without", "--exit-zero", largest], root),
        Scenario("editor.flake8_with", "flake8 FILE, default plugins + ours", [*wrapper, "--with", "--exit-zero", largest], root),
        Scenario(
            "editor.inprocess", "ast.parse vs our analysis, in process", [PY, "-m", "benchmarks.editor", largest], root,
            capture=os.path.join(work, "editor.json"),
        ),
    ]
    for scenario in scenarios:
        scenario.env = _env_with_project
    scenarios.append(
        Scenario(
            "editor.inprocess_cold", "the same, empty persistent cache", [PY, "-m", "benchmarks.editor", largest], root,
            env=_env_with_empty_caches(work), capture=os.path.join(work, "editor-cold.json"),
        )
    )
    return scenarios


def _env_after_a_check(repo: str, work: str, jobs: str) -> Callable[[], dict[str, str]]:
    """A fresh cache directory holding only the summary cache a ``check`` of the last commit
    leaves (no history results): the cache a user's first ``history`` finds."""
    template = os.path.join(work, "after-check-cache")
    empty = _env_with_empty_caches(work)

    def env() -> dict[str, str]:
        if not os.path.isdir(template):
            os.makedirs(template)
            seed = _env_with_project()
            seed["XDG_CACHE_HOME"] = seed[SUMMARY_CACHE_ENV] = template
            run_once([*TOOL, "check", f"-j{jobs}", "--exit-zero", "."], cwd=repo, env=seed, ok_codes=(0,), stdout_path=os.devnull)
        fresh = empty()
        shutil.copytree(template, fresh[SUMMARY_CACHE_ENV], dirs_exist_ok=True)
        return fresh

    return env


def history_scenarios(repo: str, first: str, work: str) -> list[Scenario]:
    jobs = str(_cores())
    warm_cache = os.path.join(work, "history-warm-cache")

    cold_env = _env_with_empty_caches(work)

    def warm_env() -> dict[str, str]:
        env = _env_with_project()
        env["XDG_CACHE_HOME"] = env[SUMMARY_CACHE_ENV] = warm_cache
        return env

    history = [*TOOL, "history", "--since", first, f"-j{jobs}"]
    return [
        Scenario(
            "history.check_jN", f"check -j{jobs} of the last commit", [*TOOL, "check", f"-j{jobs}", "."], repo,
            env=_env_with_project,
        ),
        # Like for like: a first check also starts with no summary cache.
        Scenario(
            "history.check_jN_cold", f"check -j{jobs} of the last commit, empty cache", [*TOOL, "check", f"-j{jobs}", "."],
            repo, env=cold_env,
        ),
        Scenario("history.cold", "history over the commits, empty cache", history, repo, env=cold_env),
        Scenario(
            "history.after_check", "history over the commits, summary cache as a check of the last commit left it",
            history, repo, env=_env_after_a_check(repo, work, jobs),
        ),
        Scenario("history.warm", "history over the commits, cache filled", history, repo, env=warm_env),
    ]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


TARGETS = (
    Target("check -j1 / parse+walk floor", "real.check_j1:wall", "real.floor_walk:wall", 1.3),
    Target("check -jN / parse+walk floor", "real.check_jN:wall", "real.floor_walk:wall", 0.8),
    Target("check -jN / ruff --select FAST", "real.check_jN:wall", "real.ruff:wall", 1.0, strict=True),
    Target("check (default jobs) / ruff --select FAST", "real.check_default:wall", "real.ruff:wall", 1.0, strict=True),
    Target("flake8 + ours / flake8 (CPU)", "real.flake8_with:cpu", "real.flake8_without:cpu", 1.05),
    Target("largest file: first analysis / ast.parse", "editor.inprocess:analysis_first", "editor.inprocess:parse", 1.0),
    # The limit is the first analysis's (above); a later one is held to half its parse
    # besides, a stricter aim of this benchmark's own.
    Target("largest file: warm analysis / ast.parse (the benchmark's own)", "editor.inprocess:analysis", "editor.inprocess:parse", 0.5),
    Target("largest file: flake8 + ours / flake8 (wall)", "editor.flake8_with:wall", "editor.flake8_without:wall", 1.2),
    Target("synthetic 10x / 1x, check -j1", "syn10.check_j1:wall", "syn1.check_j1:wall", 11.0),
    Target("synthetic 10x / 1x, check -jN", "syn10.check_jN:wall", "syn1.check_jN:wall", 11.0),
    # Like for like, as the limit was set: when it was, a check had no summary cache to fill.
    Target("history, empty cache / check -jN, empty cache", "history.cold:wall", "history.check_jN_cold:wall", 2.0),
    # Against a check whose summary cache is filled (what a user's second check costs): this
    # benchmark's own stricter reading.
    Target(
        "history, empty cache / check -jN, cache filled (the benchmark's own)", "history.cold:wall", "history.check_jN:wall", 2.0
    ),
    Target("history, cache filled / check -jN", "history.warm:wall", "history.check_jN:wall", 2.0),
    Target("peak memory: check -j1 / parse floor", "real.check_j1:peak_kb", "real.floor_parse:peak_kb", 2.0),
    Target("peak memory: check -jN / parse floor", "real.check_jN:peak_kb", "real.floor_parse:peak_kb", 2.0),
)
# Reported beside the targets: how the other tools compare with the same floor.
CONTEXT_RATIOS = (
    ("parse+walk floor / parse floor", "real.floor_walk:wall", "real.floor_parse:wall"),
    ("largest file: first analysis, empty cache / ast.parse", "editor.inprocess_cold:analysis_first", "editor.inprocess_cold:parse"),
    ("history, first run after a check / check -jN", "history.after_check:wall", "history.check_jN:wall"),
    ("ruff --select FAST / parse+walk floor", "real.ruff:wall", "real.floor_walk:wall"),
    ("report -jN / parse+walk floor", "real.report_jN:wall", "real.floor_walk:wall"),
    ("flake8 default plugins / parse+walk floor", "real.flake8_without:wall", "real.floor_walk:wall"),
    ("synthetic 1x: check -j1 / parse+walk floor", "syn1.check_j1:wall", "syn1.floor_walk:wall"),
    ("synthetic 10x: check -j1 / parse+walk floor", "syn10.check_j1:wall", "syn10.floor_walk:wall"),
    ("synthetic 10x / 1x, parse+walk floor", "syn10.floor_walk:wall", "syn1.floor_walk:wall"),
)
# The same comparisons in instructions executed (the ``instructions`` group: one count each,
# the load of the host does not move them).
INSTRUCTION_RATIOS = (
    ("flake8 + ours / flake8 (instructions)", "real.flake8_with", "real.flake8_without"),
    ("check -j1 / parse+walk floor (instructions)", "real.check_j1", "real.floor_walk"),
    # ``instructions.editor_phases``: the editor benchmark stopped after each phase, subtracted
    ("largest file: first analysis / ast.parse (instructions)", "editor.analysis_first", "editor.parse"),
    ("largest file: warm analysis / ast.parse (instructions)", "editor.analysis", "editor.parse"),
)


# --- running -------------------------------------------------------------------------------------


def run_scenarios(scenarios: list[Scenario], runs: int, log: Callable[[str], None], *, warm_up: bool = True) -> None:
    """Each scenario ``runs`` times, interleaved (rotating the order), after one untimed warm-up run
    (file cache, compiled bytecode, a filled history cache)."""
    active = list(scenarios)
    if warm_up:
        for scenario in active:
            _sample(scenario, keep=False)
    for attempt in range(runs):
        offset = attempt % max(1, len(active))
        for scenario in active[offset:] + active[:offset]:
            if not scenario.error:
                _sample(scenario, keep=True)
        log(f"  run {attempt + 1}/{runs} done")
    for scenario in active:
        if scenario.error:
            log(f"  failed {scenario.key}: {scenario.error}")


def _sample(scenario: Scenario, *, keep: bool) -> None:
    stdout_path = scenario.capture or os.devnull
    try:
        env = scenario.env() if scenario.env else None
        sample = run_once(scenario.argv, cwd=scenario.cwd, env=env, ok_codes=scenario.ok_codes, stdout_path=stdout_path)
    except (CommandFailed, OSError) as exc:
        scenario.error = str(exc)
        return
    if keep:
        scenario.samples.append(sample)
        if scenario.capture:
            with open(scenario.capture, encoding="utf-8") as handle:
                scenario.outputs.append(json.loads(handle.read()))


def per_run_values(ref: str, scenarios: dict[str, Scenario]) -> list[float]:
    """The figure ``ref`` names, run by run (a scenario's samples, or the in-process editor
    measure's outputs, in the order the runs were made)."""
    key, _, metric = ref.partition(":")
    if key in ("editor.inprocess", "editor.inprocess_cold"):
        scenario = scenarios.get(key)
        return [float(output[metric]) for output in scenario.outputs] if scenario and not scenario.error else []
    scenario = scenarios.get(key)
    if scenario is None or scenario.error:
        return []
    return [float(getattr(sample, metric)) for sample in scenario.samples]


def paired_ratios(numerator: str, denominator: str, scenarios: dict[str, Scenario]) -> dict[str, float] | None:
    """Each run's ratio (the two figures of the same run, taken minutes apart at most, so a
    host that slows down for a while slows both): median, min and max. None when the two were
    not run the same number of times."""
    nums, dens = per_run_values(numerator, scenarios), per_run_values(denominator, scenarios)
    if not nums or len(nums) != len(dens) or not all(dens):
        return None
    ratios = [num / den for num, den in zip(nums, dens)]
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}


def value_of(ref: str, summaries: dict[str, Summary], editor: dict[str, float]) -> float | None:
    key, _, metric = ref.partition(":")
    if key == "editor.inprocess":
        return editor.get(metric)
    if key == "editor.inprocess_cold":
        return editor.get(f"cold_{metric}")
    summary = summaries.get(key)
    return None if summary is None else float(getattr(summary, metric))


# --- reporting ---------------------------------------------------------------------------------


def machine() -> dict[str, object]:
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), "")
    except OSError:
        pass
    versions: dict[str, str] = {"python": platform.python_version()}
    for dist in ("flake8", "flake8-db-session", "pycodestyle", "pyflakes", "ruff"):
        try:
            from importlib.metadata import version

            versions[dist] = version(dist)
        except Exception:  # noqa: BLE001 - not installed
            pass
    commit = _git_out("rev-parse", "HEAD")
    dirty = bool(_git_out("status", "--porcelain", "--", "flake8_db_session"))
    return {
        "platform": platform.platform(),
        "cpu": model,
        "cores": _cores(),
        "memory_gb": _memory_gb(),
        "versions": versions,
        "commit": commit + ("+dirty" if dirty else ""),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else [],
    }


def _memory_gb() -> float:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return 0.0


def _git_out(*args: str) -> str:
    proc = subprocess.run(["git", "-C", PROJECT, *args], capture_output=True, text=True, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def _fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _fmt_paired(paired: dict[str, float] | None) -> str:
    return "" if not paired else f"{paired['median']:.2f}x ({paired['min']:.2f}-{paired['max']:.2f})"


def render_text(data: dict) -> str:
    out = ["", f"{'scenario':<26} {'wall s (min-max)':<22} {'cpu s':>7} {'peak MB':>8}  what"]
    for key, entry in data["scenarios"].items():
        if "error" in entry:
            out.append(f"{key:<26} skipped: {entry['error'][:90]}")
            continue
        s = entry["summary"]
        spread = f"{s['wall']:.3f} ({s['wall_min']:.2f}-{s['wall_max']:.2f})"
        out.append(f"{key:<26} {spread:<22} {s['cpu']:>7.2f} {s['peak_kb'] / 1024:>8.1f}  {entry['label']}")
    if data.get("editor"):
        e = data["editor"]
        out.append(
            f"{'editor.inprocess':<26} parse {e['parse'] * 1000:.1f} ms, analysis first {e['analysis_first'] * 1000:.1f} ms,"
            f" warm {e['analysis'] * 1000:.1f} ms ({e['file']}, {e['lines']} lines)"
            + (f"; empty persistent cache: first {e['cold_analysis_first'] * 1000:.1f} ms" if "cold_analysis_first" in e else "")
        )
    out.append("")
    out.append(f"{'target':<46} {'ratio':>8} {'limit':>7}  {'result':<7} per run (min-max)")
    for target in data["targets"]:
        verdict = "n/a" if target["value"] is None else ("ok" if target["met"] else "MISSED")
        limit = ("< " if target["strict"] else "<= ") + f"{target['limit']:.2f}"
        paired = _fmt_paired(target.get("per_run"))
        out.append(f"{target['name']:<46} {_fmt_ratio(target['value']):>8} {limit:>7}  {verdict:<7} {paired}".rstrip())
    for ratio in data["context"]:
        paired = _fmt_paired(ratio.get("per_run"))
        out.append(f"{ratio['name']:<46} {_fmt_ratio(ratio['value']):>8} {'':>7}  {'':<7} {paired}".rstrip())
    return "\n".join(out) + "\n"


def render_markdown(data: dict) -> str:
    m = data["machine"]
    lines = [
        f"Measured {data['date']} on commit `{m['commit'][:12]}`: {m['cpu'] or 'unknown CPU'}, {m['cores']} cores,"
        f" {m['memory_gb']} GB, {m['platform']}, Python {m['versions'].get('python')}, flake8"
        f" {m['versions'].get('flake8', '?')}, ruff {m['versions'].get('ruff', 'absent')}. Load average (1, 5,"
        f" 15 min) at start {', '.join(f'{x:.1f}' for x in data['load_start'])}, at the end"
        f" {', '.join(f'{x:.1f}' for x in data.get('load_end', []))}. Corpora: {'; '.join(data['corpora'])}."
        f" {data['runs']} runs ({data['synthetic_runs']} on the synthetic projects), medians; a target's ratio is"
        f" the ratio of the two medians (the verdict), and per run, the ratio of the two figures of each run.",
        "",
        "| target | ratio | limit | met | per run, median (min-max) |",
        "| --- | ---: | ---: | --- | ---: |",
    ]
    for target in data["targets"]:
        verdict = "n/a" if target["value"] is None else ("yes" if target["met"] else "**no**")
        limit = ("< " if target["strict"] else "<= ") + f"{target['limit']:.2f}"
        paired = _fmt_paired(target.get("per_run"))
        lines.append(f"| {target['name']} | {_fmt_ratio(target['value'])} | {limit} | {verdict} | {paired} |")
    for ratio in data["context"]:
        paired = _fmt_paired(ratio.get("per_run"))
        lines.append(f"| {ratio['name']} (context) | {_fmt_ratio(ratio['value'])} | | | {paired} |")
    lines += ["", "| scenario | what | wall s, median (min-max) | CPU s | peak MB |", "| --- | --- | ---: | ---: | ---: |"]
    for key, entry in data["scenarios"].items():
        if "error" in entry:
            lines.append(f"| {key} | {entry['label']} | skipped | | |")
            continue
        s = entry["summary"]
        lines.append(
            f"| {key} | {entry['label']} | {s['wall']:.3f} ({s['wall_min']:.2f}-{s['wall_max']:.2f}) |"
            f" {s['cpu']:.2f} | {s['peak_kb'] / 1024:.0f} |"
        )
    if data.get("instructions"):
        counts = ", ".join(
            f"`{key}` {value / 1e9:.2f} G" if isinstance(value, int) else f"`{key}` failed"
            for key, value in sorted(data["instructions"].items())
        )
        lines.append(f"\nInstructions executed (cachegrind, one run each, `PYTHONHASHSEED=0`): {counts}.")
    if data.get("editor"):
        e = data["editor"]
        lines.append(
            f"\nLargest file `{e['file']}` ({e['lines']} lines): `ast.parse` {e['parse'] * 1000:.1f} ms, our analysis"
            f" {e['analysis_first'] * 1000:.1f} ms on the first call of a process (project index loading included,"
            f" persistent summary cache filled), {e['analysis'] * 1000:.1f} ms after"
            + (
                f"; with an empty persistent cache {e['cold_analysis_first'] * 1000:.1f} ms on the first call"
                f" (`ast.parse` {e['cold_parse'] * 1000:.1f} ms in that process)."
                if "cold_analysis_first" in e
                else "."
            )
        )
    return "\n".join(lines) + "\n"


# --- main ----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per scenario on the real corpus (default 5)")
    parser.add_argument("--synthetic-runs", type=int, default=3, help="timed runs on the synthetic projects (default 3)")
    parser.add_argument("--scale", type=int, default=10, help="size of the large synthetic project (default 10x)")
    parser.add_argument("--history-commits", type=int, default=50, help="commits in the history repository (default 50)")
    parser.add_argument(
        "--only", nargs="+", choices=GROUPS + OPT_IN_GROUPS,
        help=f"measure only these groups (default: {' '.join(GROUPS)}; instructions: counted by valgrind, on request)",
    )
    parser.add_argument("--cache", default=corpus.CACHE, help="where corpora are kept (default: %(default)s)")
    parser.add_argument("--output", default=os.path.join(HERE, "results"), help="results directory (default: %(default)s)")
    parser.add_argument(
        "--smoke", action="store_true",
        help="tiny generated corpora instead of the real one, one run: checks that the harness works, in seconds",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    groups = set(args.only or GROUPS)
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    runs, synthetic_runs = args.runs, args.synthetic_runs
    cache = args.cache
    if args.smoke:
        runs = synthetic_runs = 1
    os.makedirs(args.output, exist_ok=True)
    work = tempfile.mkdtemp(prefix="bench-", dir=args.output)
    try:
        data = _measure(args, groups, runs, synthetic_runs, cache, work, log)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    for name in (f"{stamp}.json", "latest.json"):
        with open(os.path.join(args.output, name), "w", encoding="utf-8") as handle:
            handle.write(text)
    with open(os.path.join(args.output, "latest.md"), "w", encoding="utf-8") as handle:
        handle.write(render_markdown(data))
    sys.stdout.write(render_text(data))
    log(f"results: {os.path.join(args.output, 'latest.json')} (and latest.md, the table for docs/performance.md)")
    return 0


def _measure(args, groups, runs, synthetic_runs, cache, work, log) -> dict:  # type: ignore[no-untyped-def]
    load_start = list(os.getloadavg()) if hasattr(os, "getloadavg") else []
    machine_info = machine()  # the commit measured: taken before the runs, the tree may move on
    take_snapshot(work)
    corpora: list[str] = []
    if args.smoke:
        # A small generated project stands in for the real corpus: no download, seconds to run.
        real_package = synthetic.generate(os.path.join(work, "smoke-real"), 1, domains_per_scale=2)
        corpora.append("smoke: generated project, 2 domains")
    else:
        real_package = corpus.ensure_real_corpus(cache, log=log)
        corpora.append(f"{corpus.PACKAGE} {corpus.VERSION} ({len(corpus.python_files(real_package))} files)")
    real_root, real_target = os.path.split(real_package)
    largest = max(corpus.python_files(real_package), key=os.path.getsize)
    largest_rel = os.path.relpath(largest, real_root)
    has_report = _has_command("report")

    real: list[Scenario] = []
    if "real" in groups:
        real += corpus_scenarios("real", real_root, real_target, work, ruff=True, report=has_report)
    if "flake8" in groups:
        real += flake8_scenarios(real_root, real_target, largest_rel)
    if "editor" in groups:
        real += editor_scenarios(real_root, largest_rel, work)
    if "history" in groups:
        if _has_command("history"):
            commits = 3 if args.smoke else args.history_commits
            repo_dir = os.path.join(work, "history") if args.smoke else None
            if repo_dir:
                repo, shas = history_repo.build(real_package, repo_dir, commits)
            else:
                repo, shas = history_repo.ensure_repo(real_package, cache, commits, f"mcp-{corpus.VERSION}")
            real += history_scenarios(repo, shas[0], work)
            corpora.append(f"history: the same corpus plus {commits} commits touching {history_repo.FILES_PER_COMMIT} files each")
        else:
            log("  history: the installed flake8-db-session has no history command; skipped")
    log(f"measuring {len(real)} scenarios on {real_package}, {runs} runs")
    run_scenarios(real, runs, log, warm_up=not args.smoke)

    counted: dict[str, int | str] = {}
    if "instructions" in groups:
        counted = _count_instructions(real, real_root, real_target, largest_rel, work, log)

    syn: list[Scenario] = []
    if "synthetic" in groups:
        scales = (1, 2) if args.smoke else (1, args.scale)
        per_scale = 1 if args.smoke else synthetic.DOMAINS_PER_SCALE
        for scale, prefix in zip(scales, ("syn1", "syn10")):
            if args.smoke:
                package = synthetic.generate(os.path.join(work, f"syn-{scale}x"), scale, domains_per_scale=per_scale)
            else:
                package = synthetic.ensure_project(cache, scale)
            root, target = os.path.split(package)
            syn += [
                s for s in corpus_scenarios(prefix, root, target, work, ruff=False, report=False)
                if not s.key.endswith("floor_parse")
            ]
            corpora.append(f"synthetic {scale}x: {len(corpus.python_files(package))} files")
        log(f"measuring {len(syn)} scenarios on the synthetic projects, {synthetic_runs} runs")
        run_scenarios(syn, synthetic_runs, log, warm_up=not args.smoke)

    summaries = {s.key: Summary.of(s.samples) for s in real + syn if s.samples and not s.error}
    editor: dict[str, float] = {}
    outputs = next((s.outputs for s in real if s.key == "editor.inprocess"), [])
    if outputs:
        editor = {key: statistics.median(r[key] for r in outputs) for key in ("parse", "analysis_first", "analysis")}
        editor.update(file=outputs[0]["file"], lines=outputs[0]["lines"])
    cold = next((s.outputs for s in real if s.key == "editor.inprocess_cold"), [])
    if cold:
        editor.update({f"cold_{key}": statistics.median(r[key] for r in cold) for key in ("parse", "analysis_first")})
    by_key = {s.key: s for s in real + syn}
    targets = []
    for target in TARGETS:
        num, den = value_of(target.numerator, summaries, editor), value_of(target.denominator, summaries, editor)
        value = num / den if num is not None and den else None
        met = None if value is None else (value < target.limit if target.strict else value <= target.limit)
        targets.append(
            {"name": target.name, "value": value, "limit": target.limit, "strict": target.strict, "met": met,
             "numerator": target.numerator, "denominator": target.denominator,
             "per_run": paired_ratios(target.numerator, target.denominator, by_key)}
        )
    context = []
    for name, numerator, denominator in CONTEXT_RATIOS:
        num, den = value_of(numerator, summaries, editor), value_of(denominator, summaries, editor)
        context.append(
            {"name": name, "value": num / den if num is not None and den else None,
             "per_run": paired_ratios(numerator, denominator, by_key)}
        )
    for name, numerator, denominator in INSTRUCTION_RATIOS if counted else ():
        num, den = counted.get(numerator), counted.get(denominator)
        value = num / den if isinstance(num, int) and isinstance(den, int) and den else None
        context.append({"name": name, "value": value, "per_run": None})
    scenarios: dict[str, dict] = {}
    for s in real + syn:
        entry: dict[str, object] = {"label": s.label, "argv": [os.path.basename(a) if a == PY else a for a in s.argv]}
        if s.error:
            entry["error"] = s.error
        elif s.samples:
            entry["summary"] = summaries[s.key].to_dict()
            entry["samples"] = [vars(sample) for sample in s.samples]
        scenarios[s.key] = entry
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info,
        "load_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else [],
        "load_start": load_start,
        "corpora": corpora,
        "runs": runs,
        "synthetic_runs": synthetic_runs,
        "scenarios": scenarios,
        "editor": editor,
        "targets": targets,
        "context": context,
        "instructions": counted,
    }


def _count_instructions(
    measured: list[Scenario], root: str, target: str, largest: str, work: str, log: Callable[[str], None]
) -> dict[str, int | str]:
    """Instructions of the one-process commands the instruction ratios compare, two at a time
    (each is single-threaded). Each runs once natively first unless it was just measured (the
    summary cache filled, as for the timed runs)."""
    if instructions.valgrind() is None:
        log("  instructions: valgrind not found; skipped")
        return {}
    keys = {key for _name, *refs in INSTRUCTION_RATIOS for key in refs}
    by_key = {s.key: s for s in measured}
    candidates = corpus_scenarios("real", root, target, work, ruff=False, report=False) + flake8_scenarios(root, target, largest)
    chosen = {s.key: by_key.get(s.key, s) for s in candidates if s.key in keys}
    for scenario in chosen.values():
        if not scenario.samples:
            _sample(scenario, keep=False)
    commands = {
        key: (s.argv, s.cwd, s.env() if s.env else dict(os.environ)) for key, s in chosen.items() if not s.error
    }
    # The editor's phases, each in its own process, with the summary cache the timed runs filled.
    editor = [PY, "-m", "benchmarks.editor", largest, "--stop-after"]
    subprocess.run([*editor, "second"], cwd=root, env=_env_with_project(), stdout=subprocess.DEVNULL, check=False)
    for phase in instructions.EDITOR_PHASES:
        commands[f"editor.{phase}"] = ([*editor, phase], root, _env_with_project())
    log(f"counting the instructions of {len(commands)} commands under valgrind (about 25 times their time)")
    counted = instructions.count_all(commands, _cores())
    counted.update({key: s.error for key, s in chosen.items() if s.error})
    counted.update(instructions.editor_phases(counted))
    for key, value in sorted(counted.items()):
        log(f"  {key}: {value:,} instructions" if isinstance(value, int) else f"  {key}: failed: {value}")
    return counted
