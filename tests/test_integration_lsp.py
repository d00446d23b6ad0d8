"""Editor warnings end to end: python-lsp-server over stdio with its flake8 plugin, on an unsaved buffer."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

pytest.importorskip("pylsp")

ON_DISK = """\
from fastapi import APIRouter

router = APIRouter()
"""

# What the editor holds, not saved: the file on disk has no finding at all.
BUFFER = """\
from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from app.db import get_db

router = APIRouter()


@router.get("/tools")
def list_tools(db: Session = Depends(get_db)):
    return db.execute("SELECT 1").all()


@router.get("/café")
def café(label: str = "naïve", db: Session = Depends(get_db)):
    return label
"""


class LanguageServer:
    """A minimal LSP client: Content-Length framed JSON-RPC over the server's stdin/stdout."""

    def __init__(self, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pylsp"],
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.messages: queue.Queue[dict] = queue.Queue()
        self._next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.proc.stdout
        while True:
            length = None
            while True:
                header = stream.readline()
                if not header:
                    return
                if header in (b"\r\n", b"\n"):
                    break
                name, _, value = header.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            if length is None:
                continue
            self.messages.put(json.loads(stream.read(length)))

    def send(self, method: str, params: dict, *, request: bool = False) -> int | None:
        message: dict = {"jsonrpc": "2.0", "method": method, "params": params}
        ident = None
        if request:
            self._next_id += 1
            ident = message["id"] = self._next_id
        body = json.dumps(message).encode("utf-8")
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()
        return ident

    def wait_for(self, predicate, timeout: float = 60.0) -> dict:
        import time

        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    "the language server sent no matching message in time"
                )
            message = self.messages.get(timeout=remaining)
            if predicate(message):
                return message

    def close(self) -> None:
        try:
            ident = self.send("shutdown", {}, request=True)
            self.wait_for(lambda m: m.get("id") == ident, timeout=10)
            self.send("exit", {})
            self.proc.wait(timeout=10)
        except Exception:
            pass
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


def flake8_executable() -> str:
    beside = Path(sys.executable).with_name("flake8")
    return str(beside) if beside.exists() else (shutil.which("flake8") or "flake8")


def test_pylsp_flake8_plugin_reports_dbs001_on_the_unsaved_buffer(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "db.py").write_text("def get_db():\n    yield None\n")
    routes = tmp_path / "app" / "routes.py"
    routes.write_text(ON_DISK)
    uri = routes.as_uri()

    server = LanguageServer(tmp_path)
    try:
        ident = server.send(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": tmp_path.as_uri(),
                "capabilities": {},
            },
            request=True,
        )
        server.wait_for(lambda m: m.get("id") == ident)
        server.send("initialized", {})
        plugins = {
            name: {"enabled": False}
            for name in ("pycodestyle", "pyflakes", "mccabe", "autopep8", "yapf")
        }
        plugins["flake8"] = {"enabled": True, "executable": flake8_executable()}
        server.send(
            "workspace/didChangeConfiguration",
            {"settings": {"pylsp": {"plugins": plugins}}},
        )
        server.send(
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": uri,
                    "languageId": "python",
                    "version": 1,
                    "text": BUFFER,
                }
            },
        )
        published = server.wait_for(
            lambda m: (
                m.get("method") == "textDocument/publishDiagnostics"
                and m["params"]["uri"] == uri
                and any(d.get("code") == "DBS001" for d in m["params"]["diagnostics"])
            )
        )
    finally:
        server.close()

    found = sorted(
        (d["range"]["start"]["line"], d["range"]["start"]["character"], d["message"])
        for d in published["params"]["diagnostics"]
        if d.get("code") == "DBS001"
    )
    lines = BUFFER.splitlines()
    ascii_line = next(
        i for i, text in enumerate(lines) if text.startswith("def list_tools")
    )
    accented_line = next(
        i for i, text in enumerate(lines) if text.startswith("def café")
    )
    assert [(line, character) for line, character, _ in found] == [
        (ascii_line, lines[ascii_line].index("Depends(get_db)")),
        # pylsp hands flake8's column on as an LSP character: on a line with non-ASCII text before
        # the finding, that is the UTF-8 byte offset, a little right of the character offset.
        (
            accented_line,
            len(
                lines[accented_line][
                    : lines[accented_line].index("Depends(get_db)")
                ].encode()
            ),
        ),
    ]
    assert all(
        message.startswith("DBS001 request-scoped session dependency get_db")
        for *_, message in found
    )
    assert "list_tools" in found[0][2]
    assert (
        routes.read_text() == ON_DISK
    )  # the buffer was checked, the file never written
