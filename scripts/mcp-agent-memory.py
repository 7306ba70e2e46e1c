"""Worked example of docs/mcp.md: StemeDB as shared agent memory over MCP.

Two agents record conflicting facts about a customer; a third finds the
conflict, compares three lenses and cites the assertion ids. Uses the
official MCP Python SDK (`pip install mcp`) against `/mcp` on a running
server:

    python3 scripts/mcp-agent-memory.py http://127.0.0.1:18180
"""

import asyncio
import sys

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


async def tool(s: ClientSession, name: str, args: dict) -> dict:
    r = await s.call_tool(name, args)
    if r.is_error:
        raise SystemExit(f"{name} failed: {r.structured_content}")
    return r.structured_content


async def main(base: str) -> None:
    async with streamable_http_client(base.rstrip("/") + "/mcp") as streams:
        async with ClientSession(streams[0], streams[1]) as s:
            await s.initialize()
            claim = {"subject": "customer:acme", "predicate": "renewal_date"}
            # Agent 1 (sales) read a CRM note; agent 3 (support) heard the same on a call.
            a = await tool(s, "assert_claim", {**claim, "value": "2027-03-01", "agent": "sales-bot",
                "confidence": 0.7, "source_uri": "crm://notes/8812", "source_class": 4,
                "timestamp": 1767225600000})
            c = await tool(s, "assert_claim", {**claim, "value": "2027-03-01", "agent": "support-bot",
                "confidence": 0.6, "source_uri": "call://2026-12-03", "source_class": 5,
                "timestamp": 1767312000000})
            # Agent 2 (billing) read the signed invoice later.
            b = await tool(s, "assert_claim", {**claim, "value": "2027-01-15", "agent": "billing-bot",
                "confidence": 0.95, "source_uri": "invoice://INV-2291", "source_class": 2,
                "timestamp": 1767398400000})
            print("sales-bot  ", a["status"], a["id"])
            print("support-bot", c["status"], c["id"])
            print("billing-bot", b["status"], b["id"])

            # A reviewer agent: what is contested, and which answer holds under which rule?
            found = await tool(s, "find_conflicts", {"prefix": "customer:"})
            for p in found["conflicts"]:
                print(f"contested: {p['subject']} {p['predicate']} conflict={p['conflict']:.2f}")
            cmp_ = await tool(s, "compare_lenses", claim)
            for r in cmp_["lenses"]:
                if r["lens"] in ("consensus", "authority", "layered"):
                    value = r["value"]["value"] if r["value"] else None
                    print(f"{r['lens']:<10} -> {value}  confidence={r['confidence']:.2f}"
                          f"  cites {', '.join(w[:12] for w in r['winners'])}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:18180"))
