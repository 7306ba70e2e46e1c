"""Client-side checks with the server's limits, codes and fields (SPEC §1).

:func:`validate` runs the same rules in the same order as the server's
``validate.rs`` and ``wire.rs``, so a record rejected here would have been
rejected by the server with the same ``code`` and ``field``.
"""

from __future__ import annotations

import math

from .errors import ValidationError
from .records import (
    LIFECYCLES,
    OBJECT_TYPES,
    Assertion,
    Epoch,
    ObjectValue,
    Record,
    Retraction,
    Trust,
    Vote,
)

__all__ = [
    "AGENT_MAX",
    "EPOCH_NAME_MAX",
    "PREDICATE_MAX",
    "REASON_MAX",
    "SOURCE_CLASS_MAX",
    "SUBJECT_MAX",
    "TEXT_MAX",
    "TIMESTAMP_MAX",
    "URI_MAX",
    "check_id",
    "validate",
]

SUBJECT_MAX = 512
PREDICATE_MAX = 256
TEXT_MAX = 64 * 1024
AGENT_MAX = 128
URI_MAX = 2048
SOURCE_CLASS_MAX = 5
REASON_MAX = 4096
EPOCH_NAME_MAX = 256
TIMESTAMP_MAX = 253_402_300_799_999
VALID_TIME_MIN = -TIMESTAMP_MAX
_HEX = frozenset("0123456789abcdefABCDEF")


def _fail(code: str, field: str, message: str) -> ValidationError:
    return ValidationError(code, message, field)


def _string(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise _fail("invalid_type", field, "must be a string")
    return value


def _utf8_len(field: str, value: str) -> int:
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError as e:
        raise _fail("invalid_value", field, "is not valid UTF-8 (lone surrogate)") from e


def _max_len(field: str, value: str, limit: int) -> None:
    n = _utf8_len(field, value)
    if n > limit:
        raise _fail("too_long", field, f"is {n} bytes, limit {limit}")


def _name_like(field: str, value: object, limit: int) -> None:
    s = _string(field, value)
    if not s:
        raise _fail("empty", field, "must not be empty")
    _max_len(field, s, limit)
    if "\0" in s:
        raise _fail("invalid_value", field, "must not contain U+0000")


def _number(field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail("invalid_type", field, "must be a number")
    try:
        f = float(value)
    except OverflowError:
        f = math.inf
    if not math.isfinite(f):
        raise _fail("non_finite", field, "must be a finite number")
    return f


def _integer(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail("invalid_type", field, "must be an integer (ms since the Unix epoch)")
    return value


def _timestamp(field: str, value: object) -> None:
    if value is None:
        return
    t = _integer(field, value)
    if not 0 <= t <= TIMESTAMP_MAX:
        raise _fail("out_of_range", field, f"must be in 0..={TIMESTAMP_MAX}")


def check_id(field: str, value: object) -> str:
    """Check a record id: 64 hex characters. Returns it in lower case."""
    s = _string(field, value)
    if len(s) != 64 or not _HEX.issuperset(s):
        raise _fail("invalid_hex", field, "must be 64 hex characters")
    return s.lower()


def _opt_id(field: str, value: object) -> None:
    if value is not None:
        check_id(field, value)


def _signature(record: Record) -> None:
    sig = record.signature
    if sig is None:
        return
    s = _string("signature", sig)
    if len(s) != 128 or not _HEX.issuperset(s):
        raise _fail("invalid_hex", "signature", "must be 128 hex characters")
    if record.timestamp is None:
        raise _fail("missing_field", "timestamp", "is required on a signed record")


def _signer(record: Record) -> None:
    if record.signature is None:
        return
    field = "issuer" if isinstance(record, Trust) else "agent"
    signer = record.signer
    if len(signer) != 64 or not _HEX.issuperset(signer):
        raise _fail("invalid_hex", field, "a signed record's signer must be a 64-hex public key")


def _assertion(a: Assertion) -> None:
    _name_like("subject", a.subject, SUBJECT_MAX)
    _name_like("predicate", a.predicate, PREDICATE_MAX)
    obj = a.object
    if not isinstance(obj, ObjectValue):
        raise _fail("invalid_type", "object", "must be an ObjectValue (see ObjectValue.of)")
    if obj.type not in OBJECT_TYPES:
        raise _fail("invalid_value", "object.type", "must be text, number, boolean or ref")
    if obj.type == "text":
        _max_len("object.value", _string("object.value", obj.value), TEXT_MAX)
    elif obj.type == "number":
        _number("object.value", obj.value)
    elif obj.type == "boolean":
        if not isinstance(obj.value, bool):
            raise _fail("invalid_type", "object.value", "must be a boolean")
    else:
        _name_like("object.value", obj.value, SUBJECT_MAX)
    _name_like("agent", a.agent, AGENT_MAX)
    conf = _number("confidence", a.confidence)
    if not 0.0 <= conf <= 1.0:
        raise _fail("out_of_range", "confidence", f"must be in [0, 1], got {conf}")
    _timestamp("timestamp", a.timestamp)
    if a.source is not None:
        uri = _string("source.uri", a.source.uri)
        if not uri:
            raise _fail("empty", "source.uri", "must not be empty")
        _max_len("source.uri", uri, URI_MAX)
        cls = _integer("source.class", a.source.source_class)
        if not 0 <= cls <= SOURCE_CLASS_MAX:
            raise _fail(
                "out_of_range", "source.class", f"must be 0..={SOURCE_CLASS_MAX}, got {cls}"
            )
    for field, v in (("valid_from", a.valid_from), ("valid_to", a.valid_to)):
        if v is not None and not VALID_TIME_MIN <= _integer(field, v) <= TIMESTAMP_MAX:
            raise _fail("out_of_range", field, f"must be within ±{TIMESTAMP_MAX} ms")
    if a.valid_from is not None and a.valid_to is not None and a.valid_from > a.valid_to:
        raise _fail("out_of_range", "valid_to", "must not be before valid_from")
    if a.lifecycle not in LIFECYCLES:
        raise _fail("invalid_value", "lifecycle", f"must be one of {', '.join(LIFECYCLES)}")
    _opt_id("parent", a.parent)
    _opt_id("epoch", a.epoch)


def _retraction(r: Retraction) -> None:
    check_id("target", r.target)
    _name_like("agent", r.agent, AGENT_MAX)
    if r.reason is not None:
        _max_len("reason", _string("reason", r.reason), REASON_MAX)
    _timestamp("timestamp", r.timestamp)


def _vote(v: Vote) -> None:
    check_id("target", v.target)
    _name_like("agent", v.agent, AGENT_MAX)
    w = _number("weight", v.weight)
    if not -1.0 <= w <= 1.0:
        raise _fail("out_of_range", "weight", "must be in [-1, 1]")
    _timestamp("timestamp", v.timestamp)


def _trust(t: Trust) -> None:
    _name_like("agent", t.agent, AGENT_MAX)
    score = _number("score", t.score)
    if not 0.0 <= score <= 1.0:
        raise _fail("out_of_range", "score", f"must be in [0, 1], got {score}")
    _name_like("issuer", t.issuer, AGENT_MAX)
    _timestamp("timestamp", t.timestamp)


def _epoch(e: Epoch) -> None:
    name = _string("name", e.name)
    if not name:
        raise _fail("empty", "name", "must not be empty")
    _max_len("name", name, EPOCH_NAME_MAX)
    prefix = _string("subject_prefix", e.subject_prefix)
    _max_len("subject_prefix", prefix, SUBJECT_MAX)
    if "\0" in prefix:
        raise _fail("invalid_value", "subject_prefix", "must not contain U+0000")
    _max_len("reason", _string("reason", e.reason), REASON_MAX)
    _name_like("agent", e.agent, AGENT_MAX)
    _timestamp("timestamp", e.timestamp)
    _opt_id("supersedes", e.supersedes)


def validate(record: Record) -> None:
    """Check every rule of the record's kind; raise :class:`ValidationError` on the first failure.

    The signature itself is not verified here (see :func:`stemedb.signing.verify`),
    but its shape, the signer's shape and the presence of ``timestamp`` are.
    """
    _signature(record)
    if isinstance(record, Assertion):
        _assertion(record)
    elif isinstance(record, Retraction):
        _retraction(record)
    elif isinstance(record, Vote):
        _vote(record)
    elif isinstance(record, Trust):
        _trust(record)
    else:
        _epoch(record)
    _signer(record)
