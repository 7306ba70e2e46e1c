"""The asynchronous client, :class:`AsyncClient` (same methods as :class:`~stemedb.Client`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar

import httpx

from ._core import (
    DEFAULT_CHUNK_BYTES,
    DEFAULT_CHUNK_ITEMS,
    BatchRun,
    Builder,
    Call,
    Chunk,
    Verify,
    finish,
    headers,
    request_kwargs,
    ssl_verify,
    transport_error,
)
from .errors import StemeDBError
from .models import (
    BatchResult,
    Candidate,
    QueryResult,
    RecordView,
    Resolution,
    Trace,
    WriteResult,
)
from .records import Lifecycle, PyValue, Record, Source
from .signing import SigningKey

__all__ = ["AsyncClient"]

_Item = TypeVar("_Item")


async def _aiter(items: Iterable[_Item] | AsyncIterable[_Item]) -> AsyncIterator[_Item]:
    """Iterate a sync or async iterable asynchronously."""
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item


T = TypeVar("T")


class AsyncClient:
    """An asyncio client of one StemeDB server (or cluster gateway).

    Args:
        url: base URL, e.g. ``http://127.0.0.1:18180``.
        token: API key or admin token, sent as ``Authorization: Bearer <token>``.
        agent: default ``agent`` of records written by this client (unsigned writes).
        signing_key: sign every record this client writes with this Ed25519 key;
            the agent then is the key's public key. Trust records are signed only
            when a key is passed to :meth:`set_trust` itself.
        timeout: seconds per request (connect, read, write).
        verify: TLS verification: True (system CAs), False, a CA bundle path,
            or an ``ssl.SSLContext``.
        http_client: use this ``httpx.AsyncClient`` instead of creating one (its
            base URL, auth and TLS settings are then the caller's).

    Every method validates its input first (raising
    :class:`~stemedb.errors.ValidationError` with the server's code and field),
    and raises :class:`~stemedb.errors.ApiError` subclasses for error answers.
    Use it as an async context manager, or await :meth:`close`.

    """

    def __init__(
        self,
        url: str = "http://127.0.0.1:18180",
        token: str | None = None,
        *,
        agent: str | None = None,
        signing_key: SigningKey | None = None,
        timeout: float = 30.0,
        verify: Verify = True,
        headers_extra: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        """Create the client; no request is made until the first call."""
        self._build = Builder(agent, signing_key)
        self._http = http_client or httpx.AsyncClient(
            base_url=url.rstrip("/"),
            headers=headers(token, headers_extra),
            timeout=timeout,
            verify=ssl_verify(verify),
        )

    async def __aenter__(self) -> AsyncClient:
        """Use as an async context manager; closes on exit."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the connection pool."""
        await self.close()

    async def close(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def _send(self, call: Call[T]) -> T:
        try:
            resp = await self._http.request(call.method, call.path, **request_kwargs(call))
        except httpx.HTTPError as e:
            raise transport_error(e, call) from e
        return finish(call, resp)

    # -- writes ---------------------------------------------------------

    async def assert_claim(
        self,
        subject: str,
        predicate: str,
        value: PyValue,
        *,
        agent: str | None = None,
        confidence: float = 1.0,
        timestamp: int | None = None,
        source: Source | None = None,
        valid_from: int | None = None,
        valid_to: int | None = None,
        lifecycle: Lifecycle = "proposed",
        parent: str | None = None,
        epoch: str | None = None,
        signing_key: SigningKey | None = None,
    ) -> WriteResult:
        """Write one assertion (``POST /v1/assert``); returns once it is durable.

        ``value`` is a str (text), int/float (number), bool (boolean) or an
        :class:`~stemedb.ObjectValue` (use :func:`stemedb.ref` for a ref). When
        the record is signed, or carries a ``timestamp``, the client computes
        its id and checks the server stored the same one.
        """
        return await self._send(
            self._build.assertion(
                subject,
                predicate,
                value,
                agent=agent,
                confidence=confidence,
                timestamp=timestamp,
                source=source,
                valid_from=valid_from,
                valid_to=valid_to,
                lifecycle=lifecycle,
                parent=parent,
                epoch=epoch,
                key=signing_key,
            )
        )

    async def write(self, record: Record, *, signing_key: SigningKey | None = None) -> WriteResult:
        """Write any prepared record (assertion, retraction, vote, trust, epoch) to its endpoint."""
        return await self._send(self._build.record(record, signing_key))

    async def assert_many(
        self,
        records: Iterable[Record | Mapping[str, Any]] | AsyncIterable[Record | Mapping[str, Any]],
        *,
        chunk_size: int = DEFAULT_CHUNK_ITEMS,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        signing_key: SigningKey | None = None,
        raise_on_error: bool = True,
    ) -> BatchResult:
        """Write many records as NDJSON, ``chunk_size`` items per request.

        ``records`` (record objects or wire-form dicts, any kind; a sync or async
        iterable) is consumed
        lazily, so a generator of millions of records uses bounded memory. Each
        item is validated (and signed) before sending; a bad item is reported at
        its index and does not stop the others. The result lists every item.

        Raises :class:`~stemedb.errors.BatchError` (carrying the
        :class:`~stemedb.BatchResult`) when any item failed or a request failed
        as a whole, so a partial batch is never reported as success; pass
        ``raise_on_error=False`` to inspect ``result.ok`` instead. A request
        failure (network, 413, 503, ...) always raises; no further items are
        read, and the items of the failed chunk and of the chunk prepared
        meanwhile are listed in ``result.unsent``. One chunk is in flight while
        the next is prepared, so client-side work overlaps the server's.
        """
        run = BatchRun(self._build, signing_key, chunk_size, chunk_bytes)
        # One chunk in flight as a task while the next is prepared.
        inflight: tuple[Chunk, asyncio.Task[dict[str, Any]]] | None = None
        try:
            index = 0
            async for item in _aiter(records):
                if run.add(index, item):
                    await self._settle(run, inflight)
                    inflight = None
                    chunk = run.take()
                    inflight = (chunk, asyncio.create_task(self._send(chunk.call)))
                    await asyncio.sleep(0)  # let the task write its request
                index += 1
            await self._settle(run, inflight)
            inflight = None
            if run.pending():
                chunk = run.take()
                await self._settle(run, (chunk, asyncio.create_task(self._send(chunk.call))))
        finally:
            if inflight is not None and not inflight[1].done():
                inflight[1].cancel()
        return run.finish(raise_on_error)

    @staticmethod
    async def _settle(
        run: BatchRun, inflight: tuple[Chunk, asyncio.Task[dict[str, Any]]] | None
    ) -> None:
        if inflight is None:
            return
        chunk, task = inflight
        try:
            run.answered(chunk, await task)
        except StemeDBError as e:
            run.abort(chunk, e)

    async def retract(
        self,
        target: str,
        *,
        agent: str | None = None,
        reason: str | None = None,
        timestamp: int | None = None,
        signing_key: SigningKey | None = None,
    ) -> WriteResult:
        """Withdraw the assertion ``target`` (``POST /v1/retract``); lenses then skip it.

        Only its author (same agent) or an admin may retract; else
        :class:`~stemedb.errors.ForbiddenError`. An unknown target is
        :class:`~stemedb.errors.NotFoundError`.
        """
        return await self._send(
            self._build.retraction(
                target, agent=agent, reason=reason, timestamp=timestamp, key=signing_key
            )
        )

    async def vote(
        self,
        target: str,
        weight: float,
        *,
        agent: str | None = None,
        timestamp: int | None = None,
        signing_key: SigningKey | None = None,
    ) -> WriteResult:
        """Endorse (``weight`` > 0) or dispute (< 0) an assertion; weight in [-1, 1]."""
        return await self._send(
            self._build.vote(target, weight, agent=agent, timestamp=timestamp, key=signing_key)
        )

    async def set_trust(
        self,
        agent: str,
        score: float,
        *,
        issuer: str | None = None,
        timestamp: int | None = None,
        signing_key: SigningKey | None = None,
    ) -> WriteResult:
        """Set ``agent``'s trust score in [0, 1] (admin; ``PUT /v1/agents/{agent}/trust``).

        The authority lens ranks by trust × confidence; an agent without a trust
        record has 0.5. With ``signing_key`` the record is signed by that key as issuer.
        """
        return await self._send(
            self._build.trust(agent, score, issuer=issuer, timestamp=timestamp, key=signing_key)
        )

    async def create_epoch(
        self,
        name: str,
        *,
        subject_prefix: str = "",
        supersedes: str | None = None,
        reason: str = "",
        agent: str | None = None,
        timestamp: int | None = None,
        signing_key: SigningKey | None = None,
    ) -> WriteResult:
        """Declare an epoch that supersedes ``supersedes`` for subjects under ``subject_prefix``."""
        return await self._send(
            self._build.epoch(
                name,
                subject_prefix=subject_prefix,
                supersedes=supersedes,
                reason=reason,
                agent=agent,
                timestamp=timestamp,
                key=signing_key,
            )
        )

    # -- reads ----------------------------------------------------------

    async def get(self, record_id: str) -> RecordView:
        """A record by id with its signature status, votes and retraction."""
        return await self._send(self._build.get(record_id))

    async def trace(self, record_id: str) -> Trace:
        """Lineage of a record: parents, children, votes, retraction, epoch, target."""
        return await self._send(self._build.trace(record_id))

    async def query(
        self,
        subject: str,
        predicate: str | None = None,
        *,
        lens: str | None = None,
        as_of: int | None = None,
        valid_at: int | None = None,
        lifecycle: Lifecycle | None = None,
        source_class: int | None = None,
        agent: str | None = None,
        include_retracted: bool | None = None,
        epoch: str | None = None,
        candidates: bool = True,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> QueryResult:
        """One page of candidates (and the lens resolution when ``lens`` is given).

        ``lens`` is one of ``recency``, ``authority``, ``consensus``,
        ``confidence``, ``skeptic``, ``layered``; ``as_of`` (ms) answers as of
        that time. Pass the page's ``next_cursor`` as ``cursor`` for the next
        page, or iterate with :meth:`query_pages` / :meth:`candidates`.
        """
        return await self._send(
            self._build.query(
                subject,
                predicate,
                lens=lens,
                as_of=as_of,
                valid_at=valid_at,
                lifecycle=lifecycle,
                source_class=source_class,
                agent=agent,
                include_retracted=include_retracted,
                epoch=epoch,
                candidates=candidates,
                limit=limit,
                cursor=cursor,
            )
        )

    async def query_pages(
        self,
        subject: str,
        predicate: str | None = None,
        *,
        lens: str | None = None,
        as_of: int | None = None,
        valid_at: int | None = None,
        lifecycle: Lifecycle | None = None,
        source_class: int | None = None,
        agent: str | None = None,
        include_retracted: bool | None = None,
        epoch: str | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[QueryResult]:
        """Iterate over every page of a query, following ``next_cursor``.

        Pages are fetched lazily, one request per page. A (subject, predicate)
        whose candidates span pages appears on each of those pages.
        """
        cursor: str | None = None
        while True:
            page = await self.query(
                subject,
                predicate,
                lens=lens,
                as_of=as_of,
                valid_at=valid_at,
                lifecycle=lifecycle,
                source_class=source_class,
                agent=agent,
                include_retracted=include_retracted,
                epoch=epoch,
                limit=page_size,
                cursor=cursor,
            )
            yield page
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def candidates(
        self,
        subject: str,
        predicate: str | None = None,
        *,
        as_of: int | None = None,
        include_retracted: bool | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[Candidate]:
        """Iterate over every candidate assertion of a subject (and predicate), across pages."""
        async for page in self.query_pages(
            subject,
            predicate,
            as_of=as_of,
            include_retracted=include_retracted,
            page_size=page_size,
        ):
            for pair in page.results:
                for candidate in pair.candidates:
                    yield candidate

    async def resolve(
        self, subject: str, predicate: str, lens: str, *, as_of: int | None = None
    ) -> Resolution:
        """The answer of one lens for one (subject, predicate), without candidates.

        ``resolution.value`` is None when nothing survives; ``winners`` and
        ``explanation`` carry the ids to cite.
        """
        page = await self.query(subject, predicate, lens=lens, as_of=as_of, limit=1)
        for pair in page.results:
            if pair.predicate == predicate and pair.resolution is not None:
                return pair.resolution
        return Resolution(lens, None, [], 0.0, 0.0, 0, [])

    async def subjects(
        self, prefix: str | None = None, *, page_size: int = 100
    ) -> AsyncIterator[str]:
        """Iterate over subjects in byte order (optionally under ``prefix``), across pages."""
        cursor: str | None = None
        while True:
            page = await self._send(self._build.subjects(prefix, page_size, cursor))
            for subject in page.subjects:
                yield subject
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def predicates(self, subject: str) -> list[str]:
        """The predicates a subject has assertions for."""
        return await self._send(self._build.predicates(subject))

    async def health(self) -> bool:
        """True when ``GET /v1/health`` answers ``ok``."""
        data = await self._send(Call("GET", "/v1/health", lambda d: d))
        return isinstance(data, dict) and data.get("status") == "ok"
