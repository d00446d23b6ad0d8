"""The default job count: workers only when the work pays for them."""

from __future__ import annotations

from flake8_db_session import jobs, runner


def _files(tmp_path, count: int, size: int) -> list[str]:
    paths = []
    for i in range(count):
        path = tmp_path / f"m{i}.py"
        path.write_bytes(b"#" * size)
        paths.append(str(path))
    return paths


def test_an_explicit_job_count_is_kept(tmp_path):
    assert jobs.auto_jobs(_files(tmp_path, 2, 100), 3) == 3


def test_small_projects_run_in_one_process(tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "available_cores", lambda: 8)
    assert jobs.auto_jobs(_files(tmp_path, 10, 1_000_000)) == 1  # too few files
    assert jobs.auto_jobs(_files(tmp_path, 40, 10_000)) == 1  # 0.4 MB: a pool costs more than it saves


def test_large_projects_get_one_worker_per_share_of_work_up_to_the_cores(tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "BYTES_PER_WORKER", 100_000)
    files = _files(tmp_path, 40, 10_000)  # 4 shares
    monkeypatch.setattr(jobs, "available_cores", lambda: 8)
    assert jobs.auto_jobs(files) == 4
    monkeypatch.setattr(jobs, "available_cores", lambda: 2)
    assert jobs.auto_jobs(files) == 2
    monkeypatch.setattr(jobs, "available_cores", lambda: 1)
    assert jobs.auto_jobs(files) == 1


def test_the_runner_asks_for_the_job_count(tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(runner, "auto_jobs", lambda files, requested: asked.append((len(files), requested)) or 1)
    files = _files(tmp_path, 3, 60)
    result = runner.run(files, runner.Settings(root=str(tmp_path)))
    assert asked == [(3, 0)] and len(result.files) == 3
