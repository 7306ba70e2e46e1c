"""The five record kinds of StemeDB (SPEC §1) as immutable dataclasses.

Each record renders to the JSON wire form with ``to_wire()``. Ids and
signatures are computed by :mod:`stemedb.canonical` and :mod:`stemedb.signing`;
limits are checked by :mod:`stemedb.validate`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

__all__ = [
    "LIFECYCLES",
    "OBJECT_TYPES",
    "Assertion",
    "Epoch",
    "Kind",
    "Lifecycle",
    "ObjectType",
    "ObjectValue",
    "PyValue",
    "Record",
    "Retraction",
    "Source",
    "Trust",
    "Vote",
    "ref",
]

Kind = Literal["assertion", "retraction", "vote", "trust", "epoch"]
ObjectType = Literal["text", "number", "boolean", "ref"]
Lifecycle = Literal["proposed", "under_review", "approved", "deprecated", "rejected"]

OBJECT_TYPES: tuple[ObjectType, ...] = ("text", "number", "boolean", "ref")
LIFECYCLES: tuple[Lifecycle, ...] = (
    "proposed",
    "under_review",
    "approved",
    "deprecated",
    "rejected",
)


@dataclass(frozen=True, slots=True)
class ObjectValue:
    """The object of an assertion: a typed value.

    ``type`` is ``text`` (``value`` a str), ``number`` (a finite float),
    ``boolean`` (a bool) or ``ref`` (a str naming another subject).
    """

    type: ObjectType
    value: str | float | bool

    @staticmethod
    def text(value: str) -> ObjectValue:
        """A text object (at most 64 KiB of UTF-8)."""
        return ObjectValue("text", value)

    @staticmethod
    def number(value: float) -> ObjectValue:
        """A number object (finite; ``-0.0`` is stored as ``0.0``)."""
        return ObjectValue("number", float(value) + 0.0)

    @staticmethod
    def boolean(value: bool) -> ObjectValue:
        """A boolean object."""
        return ObjectValue("boolean", value)

    @staticmethod
    def ref(subject: str) -> ObjectValue:
        """A reference to another subject."""
        return ObjectValue("ref", subject)

    @staticmethod
    def of(value: PyValue) -> ObjectValue:
        """Map a Python value: str → text, bool → boolean, int/float → number.

        An :class:`ObjectValue` is returned unchanged; use :func:`ref` for refs.
        """
        if isinstance(value, ObjectValue):
            return value
        if isinstance(value, bool):
            return ObjectValue.boolean(value)
        if isinstance(value, str):
            return ObjectValue.text(value)
        if isinstance(value, int):
            try:
                return ObjectValue("number", float(value))
            except OverflowError:
                return ObjectValue("number", math.inf)
        if isinstance(value, float):
            return ObjectValue.number(value)
        raise TypeError(f"cannot store a {type(value).__name__} as an object value")

    def to_wire(self) -> dict[str, Any]:
        """``{"type": ..., "value": ...}``."""
        return {"type": self.type, "value": self.value}


PyValue = str | int | float | bool | ObjectValue


def ref(subject: str) -> ObjectValue:
    """Shorthand for :meth:`ObjectValue.ref`: an object naming another subject."""
    return ObjectValue.ref(subject)


@dataclass(frozen=True, slots=True)
class Source:
    """Evidence pointer of an assertion.

    ``source_class`` is the authority tier: 0 regulatory, 1 peer-reviewed or
    clinical, 2 observational or expert report, 3 expert/community reference,
    4 aggregated community, 5 anecdotal. On the wire it is ``class``.
    """

    uri: str
    source_class: int

    def to_wire(self) -> dict[str, Any]:
        """``{"uri": ..., "class": ...}``."""
        return {"uri": self.uri, "class": self.source_class}


def _put(out: dict[str, Any], key: str, value: object) -> None:
    if value is not None:
        out[key] = value


@dataclass(frozen=True, slots=True)
class Assertion:
    """A claim: ``agent`` says ``subject`` has ``predicate`` = ``object``.

    ``timestamp`` (ms since the Unix epoch) may be None on an unsigned record:
    the server then assigns it before hashing, so the id is only known after the
    write. ``signature`` is 128 hex characters (Ed25519 over the id) or None.
    """

    kind: ClassVar[Kind] = "assertion"

    subject: str
    predicate: str
    object: ObjectValue
    agent: str
    confidence: float = 1.0
    timestamp: int | None = None
    source: Source | None = None
    valid_from: int | None = None
    valid_to: int | None = None
    lifecycle: Lifecycle = "proposed"
    parent: str | None = None
    epoch: str | None = None
    signature: str | None = None

    @property
    def signer(self) -> str:
        """Who signs this record: the agent."""
        return self.agent

    def to_wire(self) -> dict[str, Any]:
        """The JSON body the server accepts (and returns) for this record."""
        out: dict[str, Any] = {
            "kind": "assertion",
            "subject": self.subject,
            "predicate": self.predicate,
            "object": self.object.to_wire(),
            "agent": self.agent,
            "confidence": self.confidence,
        }
        _put(out, "timestamp", self.timestamp)
        if self.source is not None:
            out["source"] = self.source.to_wire()
        _put(out, "valid_from", self.valid_from)
        _put(out, "valid_to", self.valid_to)
        out["lifecycle"] = self.lifecycle
        _put(out, "parent", self.parent)
        _put(out, "epoch", self.epoch)
        _put(out, "signature", self.signature)
        return out


@dataclass(frozen=True, slots=True)
class Retraction:
    """The author (or an admin) withdraws the assertion ``target``."""

    kind: ClassVar[Kind] = "retraction"

    target: str
    agent: str
    reason: str | None = None
    timestamp: int | None = None
    signature: str | None = None

    @property
    def signer(self) -> str:
        """Who signs this record: the agent."""
        return self.agent

    def to_wire(self) -> dict[str, Any]:
        """The JSON body the server accepts for this record."""
        out: dict[str, Any] = {"kind": "retraction", "target": self.target, "agent": self.agent}
        _put(out, "reason", self.reason)
        _put(out, "timestamp", self.timestamp)
        _put(out, "signature", self.signature)
        return out


@dataclass(frozen=True, slots=True)
class Vote:
    """``agent`` endorses (weight > 0) or disputes (weight < 0) the assertion ``target``."""

    kind: ClassVar[Kind] = "vote"

    target: str
    agent: str
    weight: float
    timestamp: int | None = None
    signature: str | None = None

    @property
    def signer(self) -> str:
        """Who signs this record: the agent."""
        return self.agent

    def to_wire(self) -> dict[str, Any]:
        """The JSON body the server accepts for this record."""
        out: dict[str, Any] = {
            "kind": "vote",
            "target": self.target,
            "agent": self.agent,
            "weight": self.weight,
        }
        _put(out, "timestamp", self.timestamp)
        _put(out, "signature", self.signature)
        return out


@dataclass(frozen=True, slots=True)
class Trust:
    """``issuer`` sets the trust score of ``agent`` (in [0, 1]); signed by the issuer."""

    kind: ClassVar[Kind] = "trust"

    agent: str
    score: float
    issuer: str = "admin"
    timestamp: int | None = None
    signature: str | None = None

    @property
    def signer(self) -> str:
        """Who signs this record: the issuer (not the agent)."""
        return self.issuer

    def to_wire(self) -> dict[str, Any]:
        """The JSON record (as in an export or a batch)."""
        out: dict[str, Any] = {
            "kind": "trust",
            "agent": self.agent,
            "score": self.score,
            "issuer": self.issuer,
        }
        _put(out, "timestamp", self.timestamp)
        _put(out, "signature", self.signature)
        return out


@dataclass(frozen=True, slots=True)
class Epoch:
    """A paradigm that supersedes the epoch ``supersedes`` for subjects under a prefix."""

    kind: ClassVar[Kind] = "epoch"

    name: str
    agent: str
    subject_prefix: str = ""
    supersedes: str | None = None
    reason: str = ""
    timestamp: int | None = None
    signature: str | None = None

    @property
    def signer(self) -> str:
        """Who signs this record: the agent."""
        return self.agent

    def to_wire(self) -> dict[str, Any]:
        """The JSON body the server accepts for this record."""
        out: dict[str, Any] = {
            "kind": "epoch",
            "name": self.name,
            "subject_prefix": self.subject_prefix,
            "supersedes": self.supersedes,
            "reason": self.reason,
            "agent": self.agent,
        }
        _put(out, "timestamp", self.timestamp)
        _put(out, "signature", self.signature)
        return out


Record = Assertion | Retraction | Vote | Trust | Epoch
