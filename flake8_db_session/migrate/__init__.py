"""The migration codemod behind ``flake8-db-session migrate`` (needs the ``migrate`` extra: ast-grep-py).

Importing this package without ast-grep-py raises ImportError; the core never imports it.
"""

from __future__ import annotations

from .outcome import EndpointOutcome, FileOutcome, Review, as_json, summarize
from .rewrite import migrate_source

__all__ = ["EndpointOutcome", "FileOutcome", "Review", "as_json", "migrate_source", "summarize"]
