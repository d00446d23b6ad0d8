"""Output formats for findings. Each formatter takes the findings and returns the text to print."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Callable

from ..analysis import Finding
from . import github, json_format, sarif, text

Formatter = Callable[[Sequence[Finding]], str]

# --format name -> formatter. Formats that need more than the findings (a baseline, the
# environment) are wired in the check command.
FORMATTERS: dict[str, Formatter] = {
    "text": text.render,
    "json": json_format.render,
    "sarif": sarif.render,
    "github": github.render,
}
