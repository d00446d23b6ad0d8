"""One severity per code, shared by every output that has levels (GitHub annotations, SARIF).

Holding a request-scoped session (DBS001/DBS002) is debt to burn down: a warning. The other rules
are bugs, and DBS100 is the ratchet failing: errors.
"""

from __future__ import annotations

WARNING_CODES = frozenset({"DBS001", "DBS002"})


def severity(code: str) -> str:
    """``"warning"`` or ``"error"``: a GitHub workflow command and a SARIF level alike."""
    return "warning" if code in WARNING_CODES else "error"


def message_text(code: str, message: str) -> str:
    """The message without its leading code, for formats where the code is a field of its own."""
    prefix = f"{code} "
    return message.removeprefix(prefix)
