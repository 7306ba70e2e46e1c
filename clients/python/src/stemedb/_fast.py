"""One-pass check and canonical encoding of an unsigned assertion given as a dict.

Batch ingest spends most of its client time on plain assertions in their wire
form. :func:`assertion_id` checks such a dict against every rule of
:func:`stemedb.wire.parse_record` and :func:`stemedb.validate.validate` and
writes its canonical bytes (``docs/canonical-encoding.md``) in the same pass,
without building record objects. It only *accepts*: whenever anything is
unusual (another kind, a signature, a given ``id``, a wrong type, a value out
of range, a non-dict nested object) it answers :data:`SLOW`, and the caller
runs the full parser, which raises the precise error. So a record accepted here
is exactly one the full path accepts, with the same id
(``tests/test_fast.py`` checks both paths agree, including on broken records).
"""

from __future__ import annotations

import math
import struct
from typing import Any, Final

from blake3 import blake3

from .records import LIFECYCLES
from .validate import (
    AGENT_MAX,
    PREDICATE_MAX,
    SOURCE_CLASS_MAX,
    SUBJECT_MAX,
    TEXT_MAX,
    TIMESTAMP_MAX,
    URI_MAX,
)

__all__ = ["SLOW", "assertion_id"]


class _Slow:
    """Marker: this item needs the full parser (which explains what is wrong)."""

    __slots__ = ()


SLOW: Final = _Slow()

_ALLOWED = frozenset(
    (
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
        "kind",
        "id",
        "signature",
    )
)
_OBJECT_KEYS = frozenset(("type", "value"))
_SOURCE_KEYS = frozenset(("uri", "class"))
_LIFECYCLE_BYTE: dict[str, bytes] = {name: bytes((i,)) for i, name in enumerate(LIFECYCLES)}
_HEX = frozenset("0123456789abcdefABCDEF")
_HEADER = bytes((1, 1))  # format version 1, kind assertion
_U32 = struct.Struct("<I").pack
_F64 = struct.Struct("<d").pack
_I64 = struct.Struct("<q").pack
_TAG_NUMBER = b"\x01"
_ABSENT = b"\x00"
_PRESENT = b"\x01"


def _name(v: object, limit: int) -> bytes | None:
    """UTF-8 bytes of a non-empty string within ``limit`` bytes and without NUL."""
    if type(v) is not str or not v or "\0" in v:
        return None
    try:
        b = v.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return b if len(b) <= limit else None


def _finite(v: object) -> float | None:
    t = type(v)
    if t is float:
        f: float = v  # type: ignore[assignment]
    elif t is int:
        try:
            f = float(v)  # type: ignore[arg-type]
        except OverflowError:
            return None
    else:
        return None
    return f + 0.0 if math.isfinite(f) else None


def _int(v: object, low: int, high: int) -> int | None:
    if type(v) is not int or not low <= v <= high:
        return None
    return v


def _opt_time(v: object) -> bytes | None:
    if v is None:
        return _ABSENT
    t = _int(v, -TIMESTAMP_MAX, TIMESTAMP_MAX)
    return None if t is None else _PRESENT + _I64(t)


def _opt_id(v: object) -> bytes | None:
    if v is None:
        return _ABSENT
    if type(v) is not str or len(v) != 64 or not _HEX.issuperset(v):
        return None
    return _PRESENT + bytes.fromhex(v)


def _text(b: bytes) -> bytes:
    return _U32(len(b)) + b


def assertion_id(d: dict[str, Any]) -> str | _Slow | None:
    """Check an unsigned wire-form assertion and compute its id in one pass.

    Returns the id (64 lowercase hex), None for a valid record without
    ``timestamp`` (the server assigns it, so only the server knows the id), or
    :data:`SLOW` when the full parser must decide (always for a record that is
    not valid).
    """
    if not _ALLOWED.issuperset(d):
        return SLOW
    kind = d.get("kind")
    if (kind is not None and kind != "assertion") or d.get("signature") is not None:
        return SLOW
    if d.get("id") is not None:
        return SLOW
    subject = _name(d.get("subject"), SUBJECT_MAX)
    predicate = _name(d.get("predicate"), PREDICATE_MAX)
    agent = _name(d.get("agent"), AGENT_MAX)
    if subject is None or predicate is None or agent is None:
        return SLOW
    obj = d.get("object")
    if type(obj) is not dict or not _OBJECT_KEYS.issuperset(obj):
        return SLOW
    otype, ovalue = obj.get("type"), obj.get("value")
    if otype == "number":
        num = _finite(ovalue)
        if num is None:
            return SLOW
        value = _TAG_NUMBER + _F64(num)
    elif otype == "text":
        if type(ovalue) is not str:
            return SLOW
        try:
            tb = ovalue.encode("utf-8")
        except UnicodeEncodeError:
            return SLOW
        if len(tb) > TEXT_MAX:
            return SLOW
        value = b"\x00" + _text(tb)
    elif otype == "boolean":
        if type(ovalue) is not bool:
            return SLOW
        value = b"\x02\x01" if ovalue else b"\x02\x00"
    elif otype == "ref":
        rb = _name(ovalue, SUBJECT_MAX)
        if rb is None:
            return SLOW
        value = b"\x03" + _text(rb)
    else:
        return SLOW
    conf_raw = d.get("confidence")
    if conf_raw is None:
        confidence = 1.0
    else:
        c = _finite(conf_raw)
        if c is None or not 0.0 <= c <= 1.0:
            return SLOW
        confidence = c
    ts_raw = d.get("timestamp")
    ts = None if ts_raw is None else _int(ts_raw, 0, TIMESTAMP_MAX)
    if ts_raw is not None and ts is None:
        return SLOW
    src = d.get("source")
    if src is None:
        source = _ABSENT
    else:
        if type(src) is not dict or not _SOURCE_KEYS.issuperset(src):
            return SLOW
        uri = src.get("uri")
        if type(uri) is not str or not uri:
            return SLOW
        try:
            ub = uri.encode("utf-8")
        except UnicodeEncodeError:
            return SLOW
        cls = _int(src.get("class"), 0, SOURCE_CLASS_MAX)
        if len(ub) > URI_MAX or cls is None:
            return SLOW
        source = _PRESENT + _text(ub) + bytes((cls,))
    vf_raw, vt_raw = d.get("valid_from"), d.get("valid_to")
    valid_from, valid_to = _opt_time(vf_raw), _opt_time(vt_raw)
    if valid_from is None or valid_to is None:
        return SLOW
    if vf_raw is not None and vt_raw is not None and vf_raw > vt_raw:
        return SLOW
    lc = d.get("lifecycle")
    if lc is None:
        lifecycle: bytes | None = _LIFECYCLE_BYTE["proposed"]
    else:
        lifecycle = _LIFECYCLE_BYTE.get(lc) if type(lc) is str else None
    parent, epoch = _opt_id(d.get("parent")), _opt_id(d.get("epoch"))
    if lifecycle is None or parent is None or epoch is None:
        return SLOW
    if ts is None:
        return None
    canonical = b"".join(
        (
            _HEADER,
            _text(subject),
            _text(predicate),
            value,
            _text(agent),
            _F64(confidence),
            _I64(ts),
            source,
            valid_from,
            valid_to,
            lifecycle,
            parent,
            epoch,
        )
    )
    return blake3(canonical).hexdigest()
