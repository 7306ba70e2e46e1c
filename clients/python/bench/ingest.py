"""Batch ingest rate: the SDK's ``assert_many`` vs raw NDJSON posts of the same records.

Both sides send the same records, in chunks of the same size, to the same
server, alternating rounds so drift on a shared machine hits both. The SDK
side also validates every record and computes its id (BLAKE3 of the canonical
bytes) and checks it against the server's answer; with ``--signed`` it signs
every record with Ed25519 as well.

    python3 clients/python/bench/ingest.py --bin target/release/stemedb-api
    python3 clients/python/bench/ingest.py --url http://127.0.0.1:18180
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from stemedb import Client, SigningKey

T0 = 1_700_000_000_000


def records(prefix: str, n: int, agent: bool = True) -> list[dict[str, Any]]:
    """Assertions; without ``agent`` the signing key's public key becomes the agent."""
    out = [
        {
            "subject": f"{prefix}:{i % 1000}",
            "predicate": "reading",
            "object": {"type": "number", "value": i * 0.5},
            "agent": "bench",
            "confidence": 0.9,
            "timestamp": T0 + i,
            "source": {"uri": "https://example.org/sensor", "class": 2},
        }
        for i in range(n)
    ]
    if not agent:
        for r in out:
            del r["agent"]
    return out


def raw_ingest(url: str, recs: list[dict[str, Any]], chunk: int) -> tuple[float, float]:
    """Records/s and client CPU µs per record of plain NDJSON posts."""
    start, cpu = time.perf_counter(), time.process_time()
    with httpx.Client(base_url=url, timeout=120) as http:
        for i in range(0, len(recs), chunk):
            body = b"".join(
                json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in recs[i : i + chunk]
            )
            resp = http.post(
                "/v1/assertions", content=body, headers={"Content-Type": "application/x-ndjson"}
            )
            resp.raise_for_status()
            if resp.json()["failed"]:
                raise RuntimeError("raw batch had failures")
    return _rates(len(recs), start, cpu)


def _rates(n: int, start: float, cpu: float) -> tuple[float, float]:
    return n / (time.perf_counter() - start), (time.process_time() - cpu) / n * 1e6


def sdk_ingest(
    url: str, recs: list[dict[str, Any]], chunk: int, key: SigningKey | None
) -> tuple[float, float]:
    """Records/s and client CPU µs per record of ``Client.assert_many``."""
    start, cpu = time.perf_counter(), time.process_time()
    with Client(url, timeout=120) as db:
        result = db.assert_many(recs, chunk_size=chunk, signing_key=key)
    if result.created != len(recs):
        raise RuntimeError(f"sdk batch stored {result.created} of {len(recs)}")
    return _rates(len(recs), start, cpu)


def spawn(binary: str, work: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STEMEDB_")},
        "STEMEDB_API_BIND_ADDR": f"127.0.0.1:{port}",
        "STEMEDB_STORAGE_DATA_DIR": str(work / "data"),
        "STEMEDB_LOG": "warn",
    }
    (work / "config.toml").write_text("# bench\n")
    proc = subprocess.Popen(
        [binary, "--config", str(work / "config.toml")], env=env, stdin=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


Side = tuple[float, float]  # records/s, client CPU µs per record


def rounds(url: str, n: int, chunk: int, count: int, signed: bool) -> Iterator[tuple[Side, Side]]:
    key = SigningKey.generate() if signed else None
    for r in range(count):
        raw = raw_ingest(url, records(f"raw{r}", n), chunk)
        sdk = sdk_ingest(url, records(f"sdk{r}", n, agent=not signed), chunk, key)
        yield raw, sdk


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--url", help="a running server (else --bin spawns one)")
    ap.add_argument("--bin", help="stemedb-api binary to spawn on a free loopback port")
    ap.add_argument("--records", type=int, default=20_000, help="records per round and side")
    ap.add_argument("--chunk", type=int, default=1000, help="records per request")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--signed", action="store_true", help="the SDK also signs every record")
    args = ap.parse_args()
    if not args.url and not args.bin:
        ap.error("give --url or --bin")
    with tempfile.TemporaryDirectory() as tmp:
        proc = None
        url = args.url
        if url is None:
            proc, url = spawn(args.bin, Path(tmp))
        try:
            results = list(rounds(url, args.records, args.chunk, args.rounds, args.signed))
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)
    for i, ((raw, raw_cpu), (sdk, sdk_cpu)) in enumerate(results):
        print(
            f"round {i}: raw {raw:,.0f} rec/s ({raw_cpu:.1f} µs CPU/rec)  "
            f"sdk {sdk:,.0f} rec/s ({sdk_cpu:.1f} µs CPU/rec)  ({sdk / raw:.0%})"
        )
    raw_m = statistics.median(r for (r, _), _ in results)
    sdk_m = statistics.median(s for _, (s, _) in results)
    raw_c = statistics.median(c for (_, c), _ in results)
    sdk_c = statistics.median(c for _, (_, c) in results)
    kind = "signed" if args.signed else "unsigned"
    print(
        f"median ({kind}, {args.records} records x {args.rounds} rounds, chunk {args.chunk}): "
        f"raw {raw_m:,.0f} rec/s, sdk {sdk_m:,.0f} rec/s, sdk/raw {sdk_m / raw_m:.0%}; "
        f"client CPU per record: raw {raw_c:.1f} µs, sdk {sdk_c:.1f} µs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
