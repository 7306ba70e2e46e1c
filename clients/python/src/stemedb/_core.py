"""What the sync and async clients share: building requests and reading answers.

A client method builds a :class:`Call` (method, path, parameters, body, and how
to parse the answer) here, then sends it with its own transport. Nothing in
this module does I/O.
"""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from ._fast import SLOW, assertion_id
from .canonical import id_unchecked
from .errors import (
    ApiError,
    IdMismatchError,
    StemeDBError,
    TransportError,
    ValidationError,
    api_error,
)
from .models import (
    BatchItem,
    BatchResult,
    ErrorDetail,
    QueryResult,
    RecordView,
    SubjectsPage,
    Trace,
    WriteResult,
)
from .records import (
    Assertion,
    Epoch,
    Lifecycle,
    ObjectValue,
    PyValue,
    Record,
    Retraction,
    Source,
    Trust,
    Vote,
)
from .signing import SigningKey, sign
from .validate import check_id, validate
from .wire import parse_record

T = TypeVar("T")

VERSION = "0.1.0"
LENSES = ("recency", "authority", "consensus", "confidence", "skeptic", "layered")
MAX_LIMIT = 10_000
DEFAULT_CHUNK_ITEMS = 1000
DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024
NDJSON = "application/x-ndjson"

Verify = bool | str | os.PathLike[str] | ssl.SSLContext


@dataclass(slots=True)
class Call(Generic[T]):
    """One HTTP request and how to turn its JSON answer into ``T``."""

    method: str
    path: str
    parse: Callable[[Any], T]
    params: list[tuple[str, str]] = field(default_factory=list)
    body: Any = None
    content: bytes | None = None
    content_type: str = "application/json"
    expect_id: str | None = None


def ssl_verify(verify: Verify) -> bool | ssl.SSLContext:
    """Turn ``verify`` (bool, CA bundle path or SSL context) into what httpx accepts."""
    if isinstance(verify, (bool, ssl.SSLContext)):
        return verify
    return ssl.create_default_context(cafile=os.fspath(verify))


def headers(token: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
    """Default request headers: JSON, user agent, and the bearer token if any."""
    out = {"Accept": "application/json", "User-Agent": f"stemedb-python/{VERSION}"}
    if token is not None:
        out["Authorization"] = f"Bearer {token}"
    if extra:
        out.update(extra)
    return out


def request_kwargs(call: Call[Any]) -> dict[str, Any]:
    """Keyword arguments for ``httpx.Client.request`` / ``AsyncClient.request``."""
    kw: dict[str, Any] = {"params": call.params or None}
    if call.content is not None:
        kw["content"] = call.content
        kw["headers"] = {"Content-Type": call.content_type}
    elif call.body is not None:
        kw["content"] = dumps(call.body)
        kw["headers"] = {"Content-Type": "application/json"}
    return kw


# One encoder for every request: json.dumps with options builds a new one per call.
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def dumps(value: object) -> bytes:
    """Compact JSON, UTF-8, NaN refused (validation reports it first)."""
    return _ENCODE(value).encode()


def transport_error(e: httpx.HTTPError, call: Call[Any]) -> TransportError:
    """Wrap an httpx failure that produced no HTTP answer."""
    code = "timeout" if isinstance(e, httpx.TimeoutException) else "transport"
    return TransportError(code, f"{call.method} {call.path}: {e}")


def _retry_after(resp: httpx.Response) -> float | None:
    v = resp.headers.get("Retry-After")
    if v is None:
        return None
    try:
        return float(v)
    except ValueError:
        return None


def error_of(resp: httpx.Response) -> ApiError:
    """The exception for an error answer, from its ``{"error": {...}}`` body."""
    code, message, fld = f"http_{resp.status_code}", resp.reason_phrase, None
    try:
        body = resp.json()
        err = body["error"]
        code, message, fld = str(err["code"]), str(err["message"]), err.get("field")
    except (ValueError, KeyError, TypeError):
        text = resp.text.strip()
        if text:
            message = text[:500]
    return api_error(resp.status_code, code, message, fld, _retry_after(resp))


def finish(call: Call[T], resp: httpx.Response) -> T:
    """Check the status, parse the JSON answer, and compare the id the client computed."""
    if resp.status_code >= 400:
        raise error_of(resp)
    try:
        data = resp.json()
    except ValueError as e:
        raise StemeDBError(
            "invalid_response", f"{call.path}: answer is not JSON", None, resp.status_code
        ) from e
    result = call.parse(data)
    if (
        call.expect_id is not None
        and isinstance(result, WriteResult)
        and result.id != call.expect_id
    ):
        raise IdMismatchError(
            "id_mismatch",
            f"server stored id {result.id}, client computed {call.expect_id}",
            "id",
            resp.status_code,
        )
    return result


class Builder:
    """Builds every request of the API from Python arguments, validating first."""

    def __init__(self, agent: str | None, signing_key: SigningKey | None) -> None:
        """Remember the default agent name and signing key of the client."""
        self.agent = agent
        self.signing_key = signing_key

    # -- records --------------------------------------------------------

    def _agent(self, agent: str | None, key: SigningKey | None) -> str:
        if agent is not None:
            return agent
        if key is not None:
            return key.public_key
        if self.agent is not None:
            return self.agent
        raise ValidationError(
            "missing_field", "give agent=, or a default agent or signing_key to the client", "agent"
        )

    def _key(self, key: SigningKey | None) -> SigningKey | None:
        return key if key is not None else self.signing_key

    def finalize(self, record: Record, key: SigningKey | None) -> tuple[Record, str | None]:
        """Sign (when a key applies and the record is unsigned), validate, and compute the id.

        The id is None for an unsigned record without timestamp (the server assigns it).
        """
        if key is not None and record.signature is None:
            record = sign(record, key)  # validates the record it signs
        else:
            validate(record)
        rid = id_unchecked(record) if record.timestamp is not None else None
        return record, rid

    def write(
        self, path: str, record: Record, key: SigningKey | None, method: str = "POST"
    ) -> Call[WriteResult]:
        """A single-record write."""
        record, rid = self.finalize(record, key)
        return Call(method, path, WriteResult.from_json, body=record.to_wire(), expect_id=rid)

    def record(self, record: Record, key: SigningKey | None) -> Call[WriteResult]:
        """Write a prepared record of any kind through its own endpoint.

        The client's default signing key applies except to trust records, which
        are signed only by an explicitly given issuer key.
        """
        if isinstance(record, Trust):
            path = f"/v1/agents/{quote(record.agent, safe='')}/trust"
            return self.write(path, record, key, method="PUT")
        k = self._key(key)
        paths = {"assertion": "/v1/assert", "retraction": "/v1/retract", "vote": "/v1/vote"}
        return self.write(paths.get(record.kind, "/v1/epochs"), record, k)

    def assertion(
        self,
        subject: str,
        predicate: str,
        value: PyValue,
        *,
        agent: str | None,
        confidence: float,
        timestamp: int | None,
        source: Source | None,
        valid_from: int | None,
        valid_to: int | None,
        lifecycle: Lifecycle,
        parent: str | None,
        epoch: str | None,
        key: SigningKey | None,
    ) -> Call[WriteResult]:
        """``POST /v1/assert``."""
        k = self._key(key)
        rec = Assertion(
            subject=subject,
            predicate=predicate,
            object=ObjectValue.of(value),
            agent=self._agent(agent, k),
            confidence=confidence,
            timestamp=timestamp,
            source=source,
            valid_from=valid_from,
            valid_to=valid_to,
            lifecycle=lifecycle,
            parent=parent,
            epoch=epoch,
        )
        return self.write("/v1/assert", rec, k)

    def retraction(
        self,
        target: str,
        *,
        agent: str | None,
        reason: str | None,
        timestamp: int | None,
        key: SigningKey | None,
    ) -> Call[WriteResult]:
        """``POST /v1/retract``."""
        k = self._key(key)
        rec = Retraction(check_id("target", target), self._agent(agent, k), reason, timestamp)
        return self.write("/v1/retract", rec, k)

    def vote(
        self,
        target: str,
        weight: float,
        *,
        agent: str | None,
        timestamp: int | None,
        key: SigningKey | None,
    ) -> Call[WriteResult]:
        """``POST /v1/vote``."""
        k = self._key(key)
        rec = Vote(check_id("target", target), self._agent(agent, k), weight, timestamp)
        return self.write("/v1/vote", rec, k)

    def trust(
        self,
        agent: str,
        score: float,
        *,
        issuer: str | None,
        timestamp: int | None,
        key: SigningKey | None,
    ) -> Call[WriteResult]:
        """``PUT /v1/agents/{agent}/trust``; signed by ``key`` (as issuer) only when given."""
        default_issuer = key.public_key if key is not None else "admin"
        rec = Trust(agent, score, issuer if issuer is not None else default_issuer, timestamp)
        call = self.write(f"/v1/agents/{quote(agent, safe='')}/trust", rec, key, method="PUT")
        return call

    def epoch(
        self,
        name: str,
        *,
        subject_prefix: str,
        supersedes: str | None,
        reason: str,
        agent: str | None,
        timestamp: int | None,
        key: SigningKey | None,
    ) -> Call[WriteResult]:
        """``POST /v1/epochs``."""
        k = self._key(key)
        rec = Epoch(
            name=name,
            agent=self._agent(agent, k),
            subject_prefix=subject_prefix,
            supersedes=supersedes,
            reason=reason,
            timestamp=timestamp,
        )
        return self.write("/v1/epochs", rec, k)

    # -- batches --------------------------------------------------------

    def batch_item(
        self, item: Record | Mapping[str, Any], key: SigningKey | None
    ) -> tuple[bytes, str | None]:
        """Prepare one batch item: its NDJSON line and expected id. Raises ValidationError."""
        is_trust = isinstance(item, Trust) or (
            isinstance(item, Mapping) and item.get("kind") == "trust"
        )
        # Trust records are signed only by an explicitly given issuer key.
        k = key if is_trust else self._key(key)
        if k is None and type(item) is dict:
            # The common case, an unsigned assertion in wire form: checked and
            # its id computed in one pass; anything unusual takes the full path.
            data = item
            if self.agent is not None and "agent" not in item:
                data = {**item, "agent": self.agent}
            rid = assertion_id(data)
            if rid is not SLOW:
                return dumps(data) + b"\n", rid  # type: ignore[return-value]
        source: dict[str, Any] | None = None
        if isinstance(item, Mapping):
            data = source = dict(item)
            signer = "issuer" if is_trust else "agent"
            if k is not None and data.get("signature") is None:
                data.setdefault(signer, k.public_key)
            elif self.agent is not None and not is_trust:
                data.setdefault("agent", self.agent)
            record = parse_record(data, check=False)  # finalize() validates
        elif isinstance(item, (Assertion, Retraction, Vote, Trust, Epoch)):
            record = item
        else:
            raise ValidationError("invalid_type", "must be a record or a JSON object", "body")
        final, rid = self.finalize(record, k)
        if source is not None and final is record:
            # Unchanged by signing: send the caller's JSON as is (the server parses
            # it to the same record, which parse_record accepted strictly).
            return dumps(source) + b"\n", rid
        return dumps(final.to_wire()) + b"\n", rid

    # -- reads ----------------------------------------------------------

    def get(self, record_id_hex: str) -> Call[RecordView]:
        """``GET /v1/assertions/{id}``."""
        return Call("GET", f"/v1/assertions/{check_id('id', record_id_hex)}", RecordView.from_json)

    def trace(self, record_id_hex: str) -> Call[Trace]:
        """``GET /v1/trace/{id}``."""
        return Call("GET", f"/v1/trace/{check_id('id', record_id_hex)}", Trace.from_json)

    def query(
        self,
        subject: str,
        predicate: str | None,
        *,
        lens: str | None,
        as_of: int | None,
        valid_at: int | None,
        lifecycle: Lifecycle | None,
        source_class: int | None,
        agent: str | None,
        include_retracted: bool | None,
        epoch: str | None,
        candidates: bool,
        limit: int | None,
        cursor: str | None,
    ) -> Call[QueryResult]:
        """``GET /v1/query`` (one page)."""
        if not isinstance(subject, str) or not subject:
            raise ValidationError("missing_param", "subject is required", "subject")
        if lens is not None and lens not in LENSES:
            raise ValidationError("invalid_param", f"must be one of {', '.join(LENSES)}", "lens")
        if limit is not None and not 1 <= limit <= MAX_LIMIT:
            raise ValidationError("invalid_param", f"must be 1..={MAX_LIMIT}", "limit")
        if source_class is not None and not 0 <= source_class <= 6:
            raise ValidationError("invalid_param", "must be 0..=6", "source_class")
        params: list[tuple[str, str]] = [("subject", subject)]
        opt: list[tuple[str, object]] = [
            ("predicate", predicate),
            ("lens", lens),
            ("as_of", as_of),
            ("valid_at", valid_at),
            ("lifecycle", lifecycle),
            ("source_class", source_class),
            ("agent", agent),
            ("include_retracted", include_retracted),
            ("epoch", None if epoch is None else check_id("epoch", epoch)),
            ("candidates", None if candidates else False),
            ("limit", limit),
            ("cursor", cursor),
        ]
        for name, v in opt:
            if v is None:
                continue
            params.append((name, ("true" if v else "false") if isinstance(v, bool) else str(v)))
        return Call("GET", "/v1/query", QueryResult.from_json, params=params)

    def subjects(self, prefix: str | None, limit: int, cursor: str | None) -> Call[SubjectsPage]:
        """``GET /v1/subjects`` (one page)."""
        if not 1 <= limit <= MAX_LIMIT:
            raise ValidationError("invalid_param", f"must be 1..={MAX_LIMIT}", "limit")
        params = [("limit", str(limit))]
        if prefix:
            params.append(("prefix", prefix))
        if cursor is not None:
            params.append(("cursor", cursor))
        return Call("GET", "/v1/subjects", SubjectsPage.from_json, params=params)

    def predicates(self, subject: str) -> Call[list[str]]:
        """``GET /v1/predicates``."""
        if not subject:
            raise ValidationError("missing_param", "subject is required", "subject")
        return Call(
            "GET",
            "/v1/predicates",
            lambda d: [str(p) for p in d["predicates"]],
            params=[("subject", subject)],
        )


@dataclass(slots=True)
class Chunk:
    """One NDJSON request of a batch: the call, and for each line its input index and id."""

    call: Call[dict[str, Any]]
    indexes: list[int]
    expect: list[str | None]


class BatchRun:
    """Bookkeeping of one ``assert_many``: chunks, index mapping and the result."""

    def __init__(
        self, builder: Builder, key: SigningKey | None, chunk_items: int, chunk_bytes: int
    ) -> None:
        """Start an empty run."""
        if chunk_items < 1:
            raise ValueError("chunk_size must be at least 1")
        self.builder = builder
        self.key = key
        self.chunk_items = chunk_items
        self.chunk_bytes = chunk_bytes
        self.result = BatchResult()
        self._lines: list[bytes] = []
        self._indexes: list[int] = []
        self._expect: list[str | None] = []
        self._size = 0

    def add(self, index: int, item: Record | Mapping[str, Any]) -> bool:
        """Add one input item; True when the pending chunk should be sent now."""
        try:
            line, rid = self.builder.batch_item(item, self.key)
        except ValidationError as e:
            self.result.add(BatchItem(index, error=ErrorDetail(e.code, e.message, e.field)))
            return False
        except (TypeError, AttributeError) as e:
            detail = ErrorDetail("invalid_type", f"not a record: {e}", "body")
            self.result.add(BatchItem(index, error=detail))
            return False
        self._lines.append(line)
        self._indexes.append(index)
        self._expect.append(rid)
        self._size += len(line)
        return len(self._lines) >= self.chunk_items or self._size >= self.chunk_bytes

    def pending(self) -> bool:
        """Whether a chunk is waiting to be sent."""
        return bool(self._lines)

    def take(self) -> Chunk:
        """Detach the pending chunk as a request; the run starts a new chunk."""
        call: Call[dict[str, Any]] = Call(
            "POST",
            "/v1/assertions",
            lambda d: dict(d),
            content=b"".join(self._lines),
            content_type=NDJSON,
        )
        chunk = Chunk(call, self._indexes, self._expect)
        self._lines, self._indexes, self._expect, self._size = [], [], [], 0
        return chunk

    def answered(self, chunk: Chunk, body: dict[str, Any]) -> None:
        """Fold the server's per-item answer for ``chunk`` into the result."""
        for item in body.get("results", []):
            local = int(item["index"])
            index = chunk.indexes[local]
            err = item.get("error")
            if err is not None:
                self.result.add(BatchItem(index, error=ErrorDetail.from_json(err)))
                continue
            rid = str(item["id"])
            expect = chunk.expect[local]
            if expect is not None and expect != rid:
                detail = ErrorDetail(
                    "id_mismatch", f"server stored id {rid}, client computed {expect}", "id"
                )
                self.result.add(BatchItem(index, id=rid, error=detail))
                continue
            self.result.add(BatchItem(index, id=rid, status=item["status"]))

    def finish(self, raise_on_error: bool) -> BatchResult:
        """Sort the items and raise :class:`BatchError` if anything failed (unless told not to)."""
        from .errors import BatchError

        self.result.items.sort(key=lambda i: i.index)
        r = self.result
        if raise_on_error and not r.ok:
            first = r.errors[0] if r.errors else None
            detail = ""
            if first is not None and first.error is not None:
                e = first.error
                detail = f"; first: item {first.index} {e.code} ({e.field}): {e.message}"
            raise BatchError(
                "batch_failed",
                f"{r.failed} of {len(r.items)} items failed, {len(r.unsent)} unsent "
                f"(created {r.created}, exists {r.exists}){detail}",
                r,
            )
        return r

    def abort(self, chunk: Chunk, error: StemeDBError) -> None:
        """A chunk request failed as a whole: raise BatchError carrying what is known.

        The chunk's items (and those of a chunk prepared but not sent) are ``unsent``.
        """
        from .errors import BatchError

        self.result.unsent.extend(chunk.indexes)
        self.result.unsent.extend(self._indexes)
        self._lines, self._indexes, self._expect, self._size = [], [], [], 0
        self.result.items.sort(key=lambda i: i.index)
        r = self.result
        raise BatchError(
            error.code,
            f"batch stopped: {error}; {len(r.items) - r.failed} items stored, "
            f"{r.failed} failed, {len(r.unsent)} unacknowledged",
            r,
        ) from error
