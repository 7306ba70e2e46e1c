"""Typed results of the StemeDB API, parsed from its JSON answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from .records import Assertion, ObjectType, ObjectValue, Record
from .wire import parse_record

__all__ = [
    "BatchItem",
    "BatchResult",
    "Candidate",
    "ClassResolution",
    "ErrorDetail",
    "ExplanationEntry",
    "PairResult",
    "QueryResult",
    "RecordView",
    "Resolution",
    "StoredRecord",
    "SubjectsPage",
    "Trace",
    "WriteResult",
]

WriteStatus = Literal["created", "exists"]


def _obj(data: Any) -> ObjectValue:  # noqa: ANN401 - JSON
    return ObjectValue(cast(ObjectType, data["type"]), data["value"])


@dataclass(frozen=True, slots=True)
class WriteResult:
    """Outcome of one write: the record id and ``created`` or ``exists``."""

    id: str
    status: WriteStatus

    @property
    def created(self) -> bool:
        """True when this write stored the record (False: it was already stored)."""
        return self.status == "created"

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> WriteResult:
        """Parse ``{"id", "status"}``."""
        return WriteResult(str(data["id"]), cast(WriteStatus, data["status"]))


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """A machine-readable error: ``code``, ``message`` and the offending ``field``."""

    code: str
    message: str
    field: str | None = None

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> ErrorDetail:
        """Parse ``{"code", "message", "field"}``."""
        f = data.get("field")
        return ErrorDetail(str(data["code"]), str(data["message"]), None if f is None else str(f))


@dataclass(frozen=True, slots=True)
class BatchItem:
    """The outcome of one item of :meth:`~stemedb.Client.assert_many`.

    ``index`` is the item's position in the whole input (not in its chunk).
    Either ``id`` and ``status`` are set (stored) or ``error`` is (rejected,
    by the client before sending or by the server).
    """

    index: int
    id: str | None = None
    status: WriteStatus | None = None
    error: ErrorDetail | None = None

    @property
    def ok(self) -> bool:
        """True when the item is stored."""
        return self.error is None and self.id is not None


@dataclass(slots=True)
class BatchResult:
    """Per-item outcome of a batch, with counts.

    ``unsent`` lists the indexes of items that were never acknowledged because a
    request failed as a whole (they may or may not be stored; resending is safe
    for records with a timestamp, which have a fixed id).
    """

    items: list[BatchItem] = field(default_factory=list)
    created: int = 0
    exists: int = 0
    failed: int = 0
    unsent: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every item is stored (created or already existing)."""
        return self.failed == 0 and not self.unsent

    @property
    def ids(self) -> list[str | None]:
        """The id of every item in input order (None for failed or unsent items)."""
        return [i.id for i in sorted(self.items, key=lambda i: i.index)]

    @property
    def errors(self) -> list[BatchItem]:
        """The failed items."""
        return [i for i in self.items if i.error is not None]

    def add(self, item: BatchItem) -> None:
        """Record one item's outcome and update the counts."""
        self.items.append(item)
        if item.error is not None:
            self.failed += 1
        elif item.status == "created":
            self.created += 1
        else:
            self.exists += 1


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record as stored: its id, the record, and its signature (hex) if signed."""

    id: str
    record: Record

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> StoredRecord:
        """Parse the wire form with its ``id``."""
        return StoredRecord(str(data["id"]), parse_record(data, strict=False))


@dataclass(frozen=True, slots=True)
class Candidate:
    """One candidate assertion of a query, and whether it was retracted (as of the query)."""

    id: str
    assertion: Assertion
    retracted: bool

    @property
    def value(self) -> ObjectValue:
        """The assertion's object."""
        return self.assertion.object

    @property
    def agent(self) -> str:
        """Who asserted it."""
        return self.assertion.agent

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Candidate:
        """Parse a candidate of ``GET /v1/query``."""
        rec = parse_record(data, strict=False)
        if not isinstance(rec, Assertion):
            raise TypeError(f"a query candidate must be an assertion, got {rec.kind}")
        return Candidate(str(data["id"]), rec, bool(data.get("retracted", False)))


@dataclass(frozen=True, slots=True)
class ExplanationEntry:
    """One distinct value considered by a lens, its support, share and the ids backing it."""

    value: ObjectValue
    support: float
    share: float
    ids: list[str]


@dataclass(frozen=True, slots=True)
class ClassResolution:
    """The ``layered`` lens's result inside one source class (6 = no source)."""

    source_class: int
    resolution: Resolution


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a lens decided for one (subject, predicate).

    ``value`` is None when no candidate survives the filters; ``status``
    (``unanimous``/``agreed``/``contested``) is set only by ``skeptic`` and
    ``classes`` only by ``layered``.
    """

    lens: str
    value: ObjectValue | None
    winners: list[str]
    confidence: float
    conflict: float
    candidates: int
    explanation: list[ExplanationEntry]
    status: str | None = None
    classes: list[ClassResolution] = field(default_factory=list)

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Resolution:
        """Parse a ``resolution`` object."""
        v = data.get("value")
        return Resolution(
            lens=str(data["lens"]),
            value=None if v is None else _obj(v),
            winners=[str(i) for i in data.get("winners", [])],
            confidence=float(data["confidence"]),
            conflict=float(data["conflict"]),
            candidates=int(data["candidates"]),
            explanation=[
                ExplanationEntry(
                    _obj(e["value"]),
                    float(e["support"]),
                    float(e["share"]),
                    [str(i) for i in e["ids"]],
                )
                for e in data.get("explanation", [])
            ],
            status=data.get("status"),
            classes=[
                ClassResolution(int(c["class"]), Resolution.from_json(c["resolution"]))
                for c in data.get("classes", [])
            ],
        )


@dataclass(frozen=True, slots=True)
class PairResult:
    """One (subject, predicate) of a query page: its candidates and the lens resolution.

    The resolution covers every surviving candidate, not only this page's.
    """

    subject: str
    predicate: str
    candidates: list[Candidate]
    resolution: Resolution | None

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> PairResult:
        """Parse one entry of ``results``."""
        res = data.get("resolution")
        return PairResult(
            subject=str(data["subject"]),
            predicate=str(data["predicate"]),
            candidates=[Candidate.from_json(c) for c in data.get("candidates") or []],
            resolution=None if res is None else Resolution.from_json(res),
        )


@dataclass(frozen=True, slots=True)
class QueryResult:
    """One page of ``GET /v1/query``; ``next_cursor`` is None on the last page."""

    results: list[PairResult]
    next_cursor: str | None

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> QueryResult:
        """Parse the response body."""
        return QueryResult(
            [PairResult.from_json(r) for r in data["results"]], data.get("next_cursor")
        )


@dataclass(frozen=True, slots=True)
class RecordView:
    """``GET /v1/assertions/{id}``: a record, its signature status, votes and retraction."""

    id: str
    record: Record
    signature_status: Literal["valid", "unsigned"]
    votes: list[StoredRecord]
    retraction: StoredRecord | None

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> RecordView:
        """Parse the response body."""
        body = {
            k: v for k, v in data.items() if k not in ("signature_status", "votes", "retraction")
        }
        r = data.get("retraction")
        return RecordView(
            id=str(data["id"]),
            record=parse_record(body, strict=False),
            signature_status=data["signature_status"],
            votes=[StoredRecord.from_json(v) for v in data.get("votes", [])],
            retraction=None if r is None else StoredRecord.from_json(r),
        )


def _opt_stored(data: Any) -> StoredRecord | None:  # noqa: ANN401 - JSON
    return None if data is None else StoredRecord.from_json(data)


@dataclass(frozen=True, slots=True)
class Trace:
    """``GET /v1/trace/{id}``: lineage and annotations of a record.

    ``parents`` follow ``parent`` links nearest first; ``missing_parent`` is the
    id of a parent not stored on the server; ``target`` is the assertion a vote
    or retraction annotates.
    """

    record: StoredRecord
    parents: list[StoredRecord]
    missing_parent: str | None
    children: list[StoredRecord]
    votes: list[StoredRecord]
    retraction: StoredRecord | None
    epoch: StoredRecord | None
    target: StoredRecord | None

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Trace:
        """Parse the response body."""
        return Trace(
            record=StoredRecord.from_json(data["record"]),
            parents=[StoredRecord.from_json(p) for p in data.get("parents", [])],
            missing_parent=data.get("missing_parent"),
            children=[StoredRecord.from_json(c) for c in data.get("children", [])],
            votes=[StoredRecord.from_json(v) for v in data.get("votes", [])],
            retraction=_opt_stored(data.get("retraction")),
            epoch=_opt_stored(data.get("epoch")),
            target=_opt_stored(data.get("target")),
        )


@dataclass(frozen=True, slots=True)
class SubjectsPage:
    """One page of ``GET /v1/subjects``."""

    subjects: list[str]
    next_cursor: str | None

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> SubjectsPage:
        """Parse the response body."""
        return SubjectsPage([str(s) for s in data["subjects"]], data.get("next_cursor"))
