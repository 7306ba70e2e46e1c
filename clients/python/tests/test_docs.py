"""docs/python.md works as written: every Python block runs, the example's output matches."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys

import pytest

from conftest import REPO, Server

DOC = REPO / "docs" / "python.md"
EXAMPLE = REPO / "clients" / "python" / "examples" / "agent_memory.py"
DOC_URL = "http://127.0.0.1:18180"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)\n```", DOC.read_text(encoding="utf-8"), re.DOTALL)


# Both tests use the session server: the docs' subjects and keys are used by no other test.


def test_every_python_block_runs_in_order(server: Server) -> None:
    code = blocks("python")
    assert len(code) >= 8
    if True:
        namespace: dict[str, object] = {"__name__": "docs"}
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            for i, block in enumerate(code):
                try:
                    exec(
                        compile(block.replace(DOC_URL, server.url), f"block{i}", "exec"), namespace
                    )
                except Exception as e:  # pragma: no cover - the message names the block
                    pytest.fail(f"docs/python.md python block {i} failed: {e!r}\n{block}")
        printed = out.getvalue()
    # The outputs the comments promise.
    assert "ff6fe5d29e7821fbe9320a80836ea7d99ef6913f7afd848239a5098fa1494cad created" in printed
    assert "valid True" in printed
    assert "[10, 10, 5]" in printed
    assert "5000 0 0 True" in printed
    assert "too_long predicate None" in printed
    assert "404 not_found target" in printed
    assert "ForbiddenError 403 forbidden agent" in printed


def test_agent_memory_example_prints_what_the_doc_shows(server: Server) -> None:
    expected = [b for b in blocks("text") if "lead cites" in b]
    assert len(expected) == 1
    run = subprocess.run(
        [sys.executable, str(EXAMPLE), server.url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == expected[0].strip()
