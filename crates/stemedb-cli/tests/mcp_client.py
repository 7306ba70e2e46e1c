"""A real MCP client (the official Python SDK, `pip install mcp`) against
StemeDB's MCP server, over stdio (`stemedb mcp --server URL`, spawned here)
and over streamable HTTP (`http://HOST:PORT/mcp`).

    python3 mcp_client.py check --stemedb PATH --server URL
    python3 mcp_client.py auth --stemedb PATH --server URL --reader-key K --writer-key K
    python3 mcp_client.py bench --stemedb PATH --server URL --calls N

`check` lists the tools, calls each one on both transports and asserts what
an agent relies on (ids present, winners right, conflicts found, errors
carrying code and field); it exits non-zero on the first failure. `auth`
runs against a server with API keys: no key is refused, a reader key may
query but not write, a writer key may write, on both transports. `bench`
prints query_claims latency percentiles for each transport.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import time
import uuid
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import httpx
import httpx2
from mcp import ClientSession, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

TOOLS = {
    "assert_claim",
    "query_claims",
    "compare_lenses",
    "find_conflicts",
    "trace_claim",
    "retract_claim",
    "vote_claim",
    "list_subjects",
}
HEX64 = re.compile(r"^[0-9a-f]{64}$")


@asynccontextmanager
async def stdio_session(
    stemedb: str, server: str, token: str | None = None
) -> AsyncIterator[ClientSession]:
    args = ["--server", server] + (["--token", token] if token else []) + ["mcp"]
    params = StdioServerParameters(command=stemedb, args=args)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            yield session


@asynccontextmanager
async def http_session(server: str, token: str | None = None) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as client:
        async with streamable_http_client(server.rstrip("/") + "/mcp", http_client=client) as streams:
            read, write = streams[0], streams[1]
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


async def call(s: ClientSession, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    """Calls a tool that must succeed; returns its structured result."""
    r = await s.call_tool(tool, args)
    assert not r.is_error, f"{tool}({args}) failed: {r.content}"
    data = r.structured_content
    assert isinstance(data, dict), f"{tool}: no structured content"
    # The text content carries the same JSON for clients that read text only.
    assert json.loads(r.content[0].text) == data
    return data


async def fails(s: ClientSession, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    """Calls a tool that must fail with a tool error; returns the error object."""
    r = await s.call_tool(tool, args)
    assert r.is_error, f"{tool}({args}) should have failed: {r.structured_content}"
    err = (r.structured_content or {}).get("error")
    assert isinstance(err, dict) and err.get("code") and err.get("message"), r.content
    return err


async def check(s: ClientSession, transport: str) -> None:
    listed = await s.list_tools()
    names = {t.name for t in listed.tools}
    assert names == TOOLS, names
    for t in listed.tools:
        assert t.description, t.name
        assert t.input_schema.get("type") == "object", (t.name, t.input_schema)
    schema = {t.name: t.input_schema for t in listed.tools}
    assert set(schema["assert_claim"]["required"]) >= {"subject", "predicate", "value", "agent"}
    assert "lens" in schema["query_claims"]["properties"]

    run = uuid.uuid4().hex[:8]
    prefix = f"memory:{transport}:{run}:"
    subject = prefix + "user:alice"
    claims = [
        ("planner", "Paris", 0.9, 1_000),
        ("scraper", "Lyon", 0.6, 2_000),
        ("support", "Paris", 0.8, 1_500),
    ]
    ids: dict[str, str] = {}
    for agent, city, conf, ts in claims:
        out = await call(s, "assert_claim", {
            "subject": subject, "predicate": "city", "value": city, "agent": agent,
            "confidence": conf, "timestamp": ts,
            "source_uri": f"chat://{agent}", "source_class": 4,
        })
        assert HEX64.match(out["id"]) and out["status"] == "created", out
        ids[agent] = out["id"]
    again = await call(s, "assert_claim", {
        "subject": subject, "predicate": "city", "value": "Paris", "agent": "planner",
        "confidence": 0.9, "timestamp": 1_000, "source_uri": "chat://planner", "source_class": 4,
    })
    assert again == {"id": ids["planner"], "status": "exists", "subject": subject, "predicate": "city"}
    await call(s, "assert_claim", {"subject": subject, "predicate": "age", "value": 31, "agent": "planner"})

    # query_claims: consensus (two agents say Paris) vs recency (Lyon is newest).
    q = await call(s, "query_claims", {"subject": subject, "predicate": "city"})
    res = q["results"][0]["resolution"]
    assert res["lens"] == "consensus" and res["value"] == {"type": "text", "value": "Paris"}, res
    assert set(res["winners"]) <= {ids["planner"], ids["support"]} and res["winners"], res
    assert {c["id"] for c in q["results"][0]["candidates"]} == set(ids.values())
    q = await call(s, "query_claims", {"subject": subject, "predicate": "city", "lens": "recency"})
    assert q["results"][0]["resolution"]["winners"] == [ids["scraper"]]
    q = await call(s, "query_claims", {"subject": subject, "predicate": "city", "lens": "recency", "as_of": 1_600})
    assert q["results"][0]["resolution"]["winners"] == [ids["support"]], "time travel"
    q = await call(s, "query_claims", {"subject": subject})
    assert [r["predicate"] for r in q["results"]] == ["age", "city"]

    # compare_lenses: all six side by side.
    cmp_ = await call(s, "compare_lenses", {"subject": subject, "predicate": "city"})
    lenses = {r["lens"]: r for r in cmp_["lenses"]}
    assert list(lenses) == ["recency", "authority", "consensus", "confidence", "skeptic", "layered"]
    assert lenses["recency"]["winners"] == [ids["scraper"]]
    assert lenses["confidence"]["winners"] == [ids["planner"]]
    assert lenses["skeptic"]["status"] == "contested" and lenses["skeptic"]["value"] is None
    assert len(cmp_["candidates"]) == 3

    # find_conflicts: the contested pair, not the unanimous one.
    fc = await call(s, "find_conflicts", {"prefix": prefix})
    assert [(c["subject"], c["predicate"]) for c in fc["conflicts"]] == [(subject, "city")], fc
    cited = {i for e in fc["conflicts"][0]["resolution"]["explanation"] for i in e["ids"]}
    assert cited == set(ids.values())
    assert fc["conflicts"][0]["conflict"] > 0.9 and fc["next_cursor"] is None
    fc = await call(s, "find_conflicts", {"prefix": prefix, "min_conflict": 0.99})
    assert fc["conflicts"] == []

    # vote_claim and trace_claim.
    v = await call(s, "vote_claim", {"id": ids["scraper"], "agent": "reviewer", "weight": -0.5})
    assert HEX64.match(v["id"]) and v["target"] == ids["scraper"]
    t = await call(s, "trace_claim", {"id": ids["scraper"]})
    assert t["record"]["id"] == ids["scraper"]
    assert [x["id"] for x in t["votes"]] == [v["id"]]

    # retract_claim: only the author may.
    err = await fails(s, "retract_claim", {"id": ids["scraper"], "agent": "planner"})
    assert (err["code"], err["field"], err["status"]) == ("forbidden", "agent", 403), err
    r = await call(s, "retract_claim", {"id": ids["scraper"], "agent": "scraper", "reason": "misread"})
    assert HEX64.match(r["id"])
    q = await call(s, "query_claims", {"subject": subject, "predicate": "city", "lens": "recency"})
    assert q["results"][0]["resolution"]["winners"] == [ids["support"]], "retracted claims lose"

    # list_subjects.
    ls = await call(s, "list_subjects", {"prefix": prefix})
    assert ls["subjects"] == [subject], ls

    # Errors an agent can act on: checked before sending, and the server's.
    err = await fails(s, "trace_claim", {"id": "not-an-id"})
    assert (err["code"], err["field"], err["status"]) == ("invalid_param", "id", None), err
    err = await fails(s, "trace_claim", {"id": "ab" * 32})
    assert (err["code"], err["status"]) == ("not_found", 404), err
    err = await fails(s, "vote_claim", {"id": ids["planner"], "agent": "x", "weight": 2})
    assert (err["code"], err["field"]) == ("invalid_param", "weight"), err
    err = await fails(s, "assert_claim", {"subject": "", "predicate": "p", "value": 1, "agent": "a"})
    assert (err["code"], err["field"]) == ("invalid_param", "subject"), err
    err = await fails(s, "assert_claim", {"subject": "s", "predicate": "p", "value": "x",
                                          "value_type": "number", "agent": "a"})
    assert err["field"] == "value_type", err
    err = await fails(s, "assert_claim", {"subject": subject, "predicate": "city", "value": "Nice",
                                          "agent": "a", "timestamp": -5})
    assert err["status"] == 400 and err["field"] == "timestamp", err
    err = await fails(s, "find_conflicts", {"cursor": "zz"})
    assert (err["code"], err["field"], err["status"]) == ("invalid_param", "cursor", 400), err
    # An unknown lens does not match the argument schema: refused (as a
    # JSON-RPC error or a tool error) with a message naming it.
    try:
        r = await s.call_tool("query_claims", {"subject": subject, "lens": "majority"})
        assert r.is_error, f"an unknown lens must be refused: {r.structured_content}"
        refusal = json.dumps([c.model_dump() for c in r.content])
    except MCPError as e:
        refusal = str(e)
    assert "majority" in refusal or "lens" in refusal, refusal
    print(f"{transport}: all 8 tools checked", flush=True)


INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "raw", "version": "0"}},
}


def refused_without_key(server: str) -> None:
    """/mcp itself needs a key: no key or an unknown one is a JSON 401 before any MCP."""
    for headers in ({}, {"Authorization": "Bearer not-a-key"}):
        r = httpx.post(server.rstrip("/") + "/mcp", json=INITIALIZE, timeout=30, headers={
            "Accept": "application/json, text/event-stream", **headers})
        assert r.status_code == 401, (headers, r.status_code, r.text)
        assert r.json()["error"]["code"] == "unauthorized", r.text


async def roles(s: ClientSession, transport: str, role: str) -> None:
    """What a key of `role` may do through the tools (None: no key at all)."""
    subject = f"keys:{transport}:{uuid.uuid4().hex[:8]}"
    claim = {"subject": subject, "predicate": "p", "value": "v", "agent": "a"}
    if role == "writer":
        out = await call(s, "assert_claim", claim)
        assert HEX64.match(out["id"]) and out["status"] == "created", out
        q = await call(s, "query_claims", {"subject": subject})
        assert q["results"][0]["resolution"]["winners"] == [out["id"]], q
        return
    err = await fails(s, "assert_claim", claim)
    if role == "reader":
        assert (err["code"], err["status"]) == ("forbidden", 403), err
        assert "writer" in err["message"], err
        q = await call(s, "query_claims", {"subject": subject})
        assert q["results"] == [], q
        assert (await call(s, "list_subjects", {"prefix": subject}))["subjects"] == []
    else:
        assert (err["code"], err["status"]) == ("unauthorized", 401), err
        err = await fails(s, "query_claims", {"subject": subject})
        assert (err["code"], err["status"]) == ("unauthorized", 401), err


async def auth(a: argparse.Namespace) -> None:
    refused_without_key(a.server)
    for role, key in (("reader", a.reader_key), ("writer", a.writer_key)):
        async with http_session(a.server, key) as s:
            assert {t.name for t in (await s.list_tools()).tools} == TOOLS
            await roles(s, "http", role)
        async with stdio_session(a.stemedb, a.server, key) as s:
            await roles(s, "stdio", role)
    async with stdio_session(a.stemedb, a.server) as s:
        await roles(s, "stdio", "none")
    print("auth: no key refused, reader reads, writer writes, over http and stdio", flush=True)


async def bench(s: ClientSession, transport: str, calls: int) -> None:
    subject = f"bench:{transport}:{uuid.uuid4().hex[:8]}"
    for i in range(5):
        await call(s, "assert_claim", {"subject": subject, "predicate": "p",
                                       "value": i % 2, "agent": f"agent{i}"})
    args = {"subject": subject, "predicate": "p", "lens": "consensus"}
    for _ in range(20):
        await call(s, "query_claims", args)
    lat = []
    deadline = time.monotonic() + 60
    for _ in range(calls):
        t0 = time.perf_counter()
        await call(s, "query_claims", args)
        lat.append((time.perf_counter() - t0) * 1000)
        if time.monotonic() > deadline:
            break
    lat.sort()
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
    print(f"{transport}: query_claims n={len(lat)} p50={p(0.50):.2f} ms "
          f"p99={p(0.99):.2f} ms mean={statistics.mean(lat):.2f} ms", flush=True)


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["check", "auth", "bench"])
    ap.add_argument("--stemedb", required=True, help="path of the stemedb CLI binary")
    ap.add_argument("--server", required=True, help="StemeDB base URL, e.g. http://127.0.0.1:18180")
    ap.add_argument("--calls", type=int, default=500)
    ap.add_argument("--reader-key", help="auth: a key with the reader role")
    ap.add_argument("--writer-key", help="auth: a key with the writer role")
    a = ap.parse_args()
    if a.mode == "auth":
        await auth(a)
        return 0
    async with stdio_session(a.stemedb, a.server) as s:
        await (check(s, "stdio") if a.mode == "check" else bench(s, "stdio", a.calls))
    async with http_session(a.server) as s:
        await (check(s, "http") if a.mode == "check" else bench(s, "http", a.calls))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
