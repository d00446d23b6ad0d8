"""The README's quick start: two commands, the first lints the shipped sample app with only what
linting needs, the second is what .ci/run runs."""

from __future__ import annotations

import os
import re
import shlex
import textwrap
from pathlib import Path

from terminal import run_with_terminal_stderr

ROOT = Path(__file__).resolve().parent.parent


def quick_start() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    body = text.split("\n", 1)[1].lstrip("\n")
    assert body.startswith("```bash\n"), "the README must open with the set-up commands"
    block = body[len("```bash\n"):body.index("```", len("```bash\n"))]
    return [line for line in block.splitlines() if line.strip()]


def test_the_readme_starts_with_exactly_two_commands_and_ci_runs_the_second():
    install_and_lint, install_and_test = quick_start()
    assert install_and_lint == "python -m pip install . && flake8-db-session check tests/sample_app"
    assert install_and_test == "python -m pip install -e '.[test]' && python -m pytest"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line for line in ci.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert commands[-1] == install_and_test  # the same command, last, under `set -euo pipefail`
    assert "set -euo pipefail" in ci


# Packages that only the extras bring: linting must not import any of them.
EXTRAS_ONLY = ("ast_grep_py", "matplotlib", "fastapi", "sqlalchemy", "pytest", "hypothesis", "pre_commit", "pylsp")


def test_the_first_command_lints_the_sample_app_with_only_the_base_dependencies(tmp_path):
    """The lint half of the first command, as the real console module, with every extra-only package
    made unimportable: the base install (flake8, tomli) is enough to see real findings."""
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text(textwrap.dedent(f"""
        import importlib.abc, sys
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {EXTRAS_ONLY!r}:
                    raise ImportError(f"{{name}} is not installed by `pip install .`")
        sys.meta_path.insert(0, Block())
    """))
    install_requires = re.search(r"^dependencies = \[(.*?)\]", (ROOT / "pyproject.toml").read_text(), re.DOTALL | re.MULTILINE)
    assert install_requires and "flake8" in install_requires.group(1)
    assert not any(name.replace("_", "-") in install_requires.group(1) for name in EXTRAS_ONLY)

    lint = quick_start()[0].split("&&")[1].split()
    assert lint[:2] == ["flake8-db-session", "check"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", str(ROOT))]))
    code, stdout, shown = run_with_terminal_stderr(*lint[1:], cwd=ROOT, env=env)
    assert code == 1, shown
    assert "tests/sample_app/routers/authors.py:" in stdout and " DBS001 " in stdout
    assert re.search(r"Found \d+ findings \(.*DBS001.*\) in \d+ files\.", shown), shown
    assert shlex.split(quick_start()[0])[:5] == ["python", "-m", "pip", "install", "."]  # no extras
