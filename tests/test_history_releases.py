"""scripts/build_release_history.py: releases committed in order, dated by their wheel's build time.

The wheels are made here (the script reuses a wheel already in its download directory), so the
test needs no network.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_script():
    path = os.path.join(ROOT, "scripts", "build_release_history.py")
    spec = importlib.util.spec_from_file_location("build_release_history", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_wheel(directory, version: str, stamp: tuple, files: dict[str, str]) -> None:
    name = f"demo_pkg-{version}"
    with zipfile.ZipFile(directory / f"{name}-py3-none-any.whl", "w") as wheel:
        for path, text in files.items():
            wheel.writestr(zipfile.ZipInfo(path, (2020, 1, 1, 0, 0, 0)), text)
        wheel.writestr(zipfile.ZipInfo(f"{name}.dist-info/METADATA", stamp), "Name: demo-pkg\n")
        wheel.writestr(zipfile.ZipInfo(f"{name}.dist-info/RECORD", stamp), "")


def test_releases_become_dated_tagged_commits(tmp_path):
    script = load_script()
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "1.0", (2024, 3, 1, 10, 0, 0), {"demo/__init__.py": "", "demo/old.py": "x = 1\n"})
    make_wheel(wheels, "2.0", (2024, 9, 15, 8, 30, 0), {"demo/__init__.py": "", "demo/new.py": "y = 2\n"})
    repo = tmp_path / "repo"
    script.build("demo-pkg", ["1.0", "2.0"], str(repo), str(wheels))

    log = subprocess.run(
        ["git", "-C", str(repo), "log", "--reverse", "--format=%cI %s %D"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert [line.split(" ")[0] for line in log] == ["2024-03-01T10:00:00+00:00", "2024-09-15T08:30:00+00:00"]
    assert "tag: v1.0" in log[0] and "tag: v2.0" in log[1]
    tree = subprocess.run(
        ["git", "-C", str(repo), "ls-tree", "-r", "--name-only", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert tree == ["demo/__init__.py", "demo/new.py"]  # a file removed in a release is gone; no .dist-info

    # Running again leaves an up-to-date repository as it is.
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    script.build("demo-pkg", ["1.0", "2.0"], str(repo), str(wheels))
    assert subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout == head
