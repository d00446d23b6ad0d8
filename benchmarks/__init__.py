"""Benchmark harness for flake8-db-session: ``python -m benchmarks`` (docs/performance.md)."""
