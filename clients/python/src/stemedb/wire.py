"""Parse the JSON wire form of a record (what the server accepts and returns).

:func:`parse_record` follows the server's ``wire.rs`` rules: unknown fields,
missing required fields and wrong JSON types are rejected with the server's
codes and field names; limits are then checked by :func:`stemedb.validate.validate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from .canonical import record_id
from .errors import ValidationError
from .records import (
    LIFECYCLES,
    OBJECT_TYPES,
    Assertion,
    Epoch,
    Lifecycle,
    ObjectType,
    ObjectValue,
    Record,
    Retraction,
    Source,
    Trust,
    Vote,
)
from .validate import check_id, validate

__all__ = ["parse_record"]

_COMMON = ("kind", "id", "signature")
_ALLOWED: dict[str, tuple[str, ...]] = {
    "assertion": (
        "subject",
        "predicate",
        "object",
        "agent",
        "confidence",
        "timestamp",
        "source",
        "valid_from",
        "valid_to",
        "lifecycle",
        "parent",
        "epoch",
    ),
    "retraction": ("target", "agent", "reason", "timestamp"),
    "vote": ("target", "agent", "weight", "timestamp"),
    "trust": ("agent", "score", "issuer", "timestamp"),
    "epoch": ("name", "subject_prefix", "supersedes", "reason", "agent", "timestamp"),
}


_SETS: dict[tuple[str, ...], frozenset[str]] = {}


def _allowed_set(allowed: tuple[str, ...]) -> frozenset[str]:
    found = _SETS.get(allowed)
    if found is None:
        found = _SETS[allowed] = frozenset(allowed)
    return found


class _Fields:
    """A JSON object whose fields are read with server-compatible errors."""

    def __init__(self, value: object, prefix: str, allowed: tuple[str, ...], strict: bool) -> None:
        if not isinstance(value, Mapping):
            field = prefix.rstrip(".") or "body"
            raise ValidationError("invalid_type", "must be a JSON object", field)
        if strict and not _allowed_set(allowed).issuperset(value):
            for k in value:
                if k not in allowed:
                    raise ValidationError(
                        "unknown_field",
                        f"unknown field; expected one of: {', '.join(allowed)}",
                        f"{prefix}{k}",
                    )
        self.map = cast(Mapping[str, Any], value)
        self.prefix = prefix

    def name(self, k: str) -> str:
        return f"{self.prefix}{k}"

    def opt(self, k: str) -> Any:  # noqa: ANN401 - arbitrary JSON
        return self.map.get(k)

    def req(self, k: str) -> Any:  # noqa: ANN401 - arbitrary JSON
        v = self.map.get(k)
        if v is None:
            raise ValidationError("missing_field", "is required", self.name(k))
        return v

    def string(self, k: str) -> str:
        return self._str(k, self.req(k))

    def opt_string(self, k: str) -> str | None:
        v = self.opt(k)
        return None if v is None else self._str(k, v)

    def _str(self, k: str, v: object) -> str:
        if not isinstance(v, str):
            raise ValidationError("invalid_type", "must be a string", self.name(k))
        return v

    def number(self, k: str, v: object) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValidationError("invalid_type", "must be a number", self.name(k))
        try:
            return float(v) + 0.0
        except OverflowError:
            return float("inf")

    def opt_number(self, k: str) -> float | None:
        v = self.opt(k)
        return None if v is None else self.number(k, v)

    def opt_int(self, k: str) -> int | None:
        v = self.opt(k)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValidationError(
                "invalid_type", "must be an integer (ms since the Unix epoch)", self.name(k)
            )
        if not -(2**63) <= v < 2**63:
            raise ValidationError("out_of_range", "integer too large", self.name(k))
        return v

    def opt_id(self, k: str) -> str | None:
        v = self.opt(k)
        return None if v is None else check_id(self.name(k), v)

    def id(self, k: str) -> str:
        return check_id(self.name(k), self.req(k))


def _object(f: _Fields) -> ObjectValue:
    o = _Fields(f.req("object"), "object.", ("type", "value"), True)
    t = o.string("type")
    if t not in OBJECT_TYPES:
        raise ValidationError(
            "invalid_value", "must be one of text, number, boolean, ref", "object.type"
        )
    v = o.req("value")
    if t == "number":
        return ObjectValue("number", o.number("value", v))
    if t == "boolean":
        if not isinstance(v, bool):
            raise ValidationError("invalid_type", "must be a boolean", "object.value")
        return ObjectValue("boolean", v)
    return ObjectValue(cast(ObjectType, t), o._str("value", v))


def _source(f: _Fields) -> Source | None:
    raw = f.opt("source")
    if raw is None:
        return None
    s = _Fields(raw, "source.", ("uri", "class"), True)
    uri = s.string("uri")
    cls = s.opt_int("class")
    if cls is None:
        raise ValidationError("missing_field", "is required", "source.class")
    return Source(uri, cls)


def _lifecycle(f: _Fields) -> Lifecycle:
    v = f.opt_string("lifecycle")
    if v is None:
        return "proposed"
    if v not in LIFECYCLES:
        raise ValidationError(
            "invalid_value", f"must be one of {', '.join(LIFECYCLES)}", "lifecycle"
        )
    return v


def _issuer(f: _Fields) -> str:
    v = f.opt_string("issuer")
    return "admin" if v is None else v


def parse_record(data: object, *, strict: bool = True, check: bool = True) -> Record:
    """Build a record from its JSON wire form and validate it.

    ``kind`` defaults to ``assertion``. With ``strict`` (the default) a field
    the kind does not have is ``unknown_field``; ``strict=False`` ignores extra
    fields (for records as returned by queries, which add ``id`` and ``retracted``).
    ``check=False`` skips the limit checks (for callers that validate afterwards).
    Raises :class:`~stemedb.errors.ValidationError` with the server's code and field.
    """
    if not isinstance(data, Mapping):
        raise ValidationError("invalid_type", "must be a JSON object", "body")
    kind = data.get("kind", "assertion")
    if kind is None:
        kind = "assertion"
    if not isinstance(kind, str):
        raise ValidationError("invalid_type", "must be a string", "kind")
    if kind not in _ALLOWED:
        raise ValidationError(
            "invalid_value", "must be assertion, retraction, vote, trust or epoch", "kind"
        )
    f = _Fields(data, "", _ALLOWED[kind] + _COMMON, strict)
    sig = f.opt_string("signature")
    ts = f.opt_int("timestamp")
    record: Record
    if kind == "assertion":
        subject = f.string("subject")
        predicate = f.string("predicate")
        obj = _object(f)
        conf = f.opt_number("confidence")
        record = Assertion(
            subject=subject,
            predicate=predicate,
            object=obj,
            agent=f.string("agent"),
            confidence=1.0 if conf is None else conf,
            timestamp=ts,
            source=_source(f),
            valid_from=f.opt_int("valid_from"),
            valid_to=f.opt_int("valid_to"),
            lifecycle=_lifecycle(f),
            parent=f.opt_id("parent"),
            epoch=f.opt_id("epoch"),
            signature=sig,
        )
    elif kind == "retraction":
        record = Retraction(
            target=f.id("target"),
            agent=f.string("agent"),
            reason=f.opt_string("reason"),
            timestamp=ts,
            signature=sig,
        )
    elif kind == "vote":
        record = Vote(
            target=f.id("target"),
            agent=f.string("agent"),
            weight=f.number("weight", f.req("weight")),
            timestamp=ts,
            signature=sig,
        )
    elif kind == "trust":
        record = Trust(
            agent=f.string("agent"),
            score=f.number("score", f.req("score")),
            issuer=_issuer(f),
            timestamp=ts,
            signature=sig,
        )
    else:
        record = Epoch(
            name=f.string("name"),
            agent=f.string("agent"),
            subject_prefix=f.opt_string("subject_prefix") or "",
            supersedes=f.opt_id("supersedes"),
            reason=f.opt_string("reason") or "",
            timestamp=ts,
            signature=sig,
        )
    if check:
        validate(record)
    given = f.opt_id("id")
    if given is not None and strict and record.timestamp is not None and record_id(record) != given:
        raise ValidationError("invalid_value", "does not match the computed id", "id")
    return record
