"""Fixtures: a real ``stemedb-api`` on a free loopback port with a temporary data dir.

The binary is ``$STEMEDB_API_BIN`` (set by the Rust wrapper test from
``env!("CARGO_BIN_EXE_stemedb-api")``), else ``target/debug/stemedb-api`` of the
checkout. Without a binary the server tests fail under CI=true and skip otherwise.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[3]


def _binary() -> Path | None:
    env = os.environ.get("STEMEDB_API_BIN")
    if env:
        return Path(env)
    candidate = REPO / "target" / "debug" / "stemedb-api"
    return candidate if candidate.exists() else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


def start_server(tmp: Path, env: dict[str, str] | None = None) -> Server:
    binary = _binary()
    if binary is None or not binary.exists():
        message = "stemedb-api binary not found (set STEMEDB_API_BIN or run cargo build)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    data = tmp / "data"
    log = tmp / "server.log"
    full_env = {
        # The server refuses unknown STEMEDB_<SECTION>_* variables (STEMEDB_API_BIN
        # among them): pass on everything else.
        **{k: v for k, v in os.environ.items() if not k.startswith("STEMEDB_")},
        "STEMEDB_API_BIND_ADDR": f"127.0.0.1:{port}",
        "STEMEDB_STORAGE_DATA_DIR": str(data),
        "STEMEDB_LOG": "warn",
        **(env or {}),
    }
    config = tmp / "config.toml"
    config.write_text("# test config\n", encoding="utf-8")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(binary), "--config", str(config)],
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"stemedb-api exited early: {log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/v1/health", timeout=1.0).status_code == 200:
                return Server(url, proc, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"stemedb-api did not become healthy: {log.read_text(errors='replace')}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


ADMIN_TOKEN = "test-admin-token-0123456789"


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One open server for the session (no admin token, unsigned writes allowed)."""
    s = start_server(tmp_path_factory.mktemp("server"))
    yield s
    stop_server(s)


@pytest.fixture(scope="session")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with an admin token and a batch limit of 5 items."""
    s = start_server(
        tmp_path_factory.mktemp("guarded"),
        {"STEMEDB_API_ADMIN_TOKEN": ADMIN_TOKEN, "STEMEDB_API_MAX_BATCH": "5"},
    )
    yield s
    stop_server(s)


@pytest.fixture
def ns() -> str:
    """A unique subject prefix so tests sharing a server do not see each other's data."""
    return f"t{uuid.uuid4().hex[:12]}:"
