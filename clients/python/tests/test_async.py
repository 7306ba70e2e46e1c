"""The asyncio client against a real server (driven with asyncio.run, no plugin needed)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from conftest import Server
from stemedb import (
    AsyncClient,
    BatchError,
    NotFoundError,
    SigningKey,
    ValidationError,
    record_id,
    sign,
)
from stemedb.records import Assertion, ObjectValue

T0 = 1_700_000_000_000


def test_async_client_covers_writes_reads_and_batches(server: Server, ns: str) -> None:
    key = SigningKey.generate()

    async def items() -> AsyncIterator[dict[str, Any]]:
        for i in range(30):
            yield {
                "subject": f"{ns}async",
                "predicate": "n",
                "object": {"type": "number", "value": i},
                "timestamp": T0 + i,
            }

    async def scenario() -> None:
        async with AsyncClient(server.url, signing_key=key) as db:
            w = await db.assert_claim(f"{ns}async", "name", "alpha", timestamp=T0)
            expected = sign(
                Assertion(f"{ns}async", "name", ObjectValue.text("alpha"), "", timestamp=T0), key
            )
            assert w.id == record_id(expected)
            assert (await db.get(w.id)).record.signature == expected.signature
            batch = await db.assert_many(items(), chunk_size=8)
            assert batch.ok and batch.created == 30
            pages = [p async for p in db.query_pages(f"{ns}async", "n", page_size=12)]
            assert [len(p.results[0].candidates) for p in pages] == [12, 12, 6]
            seen = [c.id async for c in db.candidates(f"{ns}async", page_size=9)]
            assert len(set(seen)) == 31
            vote = await db.vote(w.id, 0.5)
            assert (await db.trace(w.id)).votes[0].id == vote.id
            answer = await db.resolve(f"{ns}async", "name", "recency")
            assert answer.winners == [w.id]
            assert [s async for s in db.subjects(ns)] == [f"{ns}async"]
            assert await db.predicates(f"{ns}async") == ["n", "name"]
            assert await db.health()
            with pytest.raises(NotFoundError):
                await db.get("a" * 64)
            with pytest.raises(ValidationError):
                await db.assert_claim(f"{ns}async", "", "x")
            with pytest.raises(BatchError) as info:
                await db.assert_many([{"subject": f"{ns}async", "predicate": "p"}])
            assert info.value.result.errors[0].error is not None
            assert info.value.result.errors[0].error.field == "object"

    asyncio.run(scenario())
