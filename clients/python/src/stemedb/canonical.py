"""Canonical byte encoding, version 1, and record ids (``docs/canonical-encoding.md``).

``record_id(r) = BLAKE3-256(canonical_bytes(r))`` as 64 lowercase hex
characters: the same id the server computes for the same record.
"""

from __future__ import annotations

import struct

from blake3 import blake3

from .errors import ValidationError
from .records import LIFECYCLES, Assertion, Epoch, Record, Retraction, Trust, Vote
from .validate import validate

__all__ = ["FORMAT_VERSION", "canonical_bytes", "record_id"]

FORMAT_VERSION = 1
_KIND_BYTE = {"assertion": 1, "retraction": 2, "vote": 3, "trust": 4, "epoch": 5}
_OBJECT_TAG = {"text": 0, "number": 1, "boolean": 2, "ref": 3}


_U32 = struct.Struct("<I").pack
_F64 = struct.Struct("<d").pack
_I64 = struct.Struct("<q").pack


class _Writer:
    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def u8(self, v: int) -> None:
        self.buf.append(v)

    def text(self, s: str) -> None:
        b = s.encode("utf-8")
        self.buf += _U32(len(b))
        self.buf += b

    def f64(self, v: float) -> None:
        # -0.0 + 0.0 == +0.0: negative zero is written as positive zero.
        self.buf += _F64(float(v) + 0.0)

    def i64(self, v: int) -> None:
        self.buf += _I64(v)

    def id(self, hex_id: str) -> None:
        self.buf += bytes.fromhex(hex_id)

    def opt_i64(self, v: int | None) -> None:
        if v is None:
            self.buf.append(0)
        else:
            self.buf.append(1)
            self.buf += _I64(v)

    def opt_id(self, v: str | None) -> None:
        if v is None:
            self.buf.append(0)
        else:
            self.buf.append(1)
            self.buf += bytes.fromhex(v)


def _timestamp(record: Record) -> int:
    if record.timestamp is None:
        raise ValidationError(
            "missing_field",
            "the id of a record without timestamp is assigned by the server",
            "timestamp",
        )
    return record.timestamp


def canonical_bytes(record: Record) -> bytes:
    """Encode a record to its canonical bytes.

    The record is validated first (:class:`~stemedb.errors.ValidationError` on a
    broken rule) and must carry a ``timestamp``: without one the server assigns
    it, so only the server can know the bytes.
    """
    validate(record)
    return encode_unchecked(record)


def encode_unchecked(record: Record) -> bytes:
    """Encode a record already checked by :func:`~stemedb.validate.validate` (no re-check)."""
    ts = _timestamp(record)
    w = _Writer()
    w.u8(FORMAT_VERSION)
    w.u8(_KIND_BYTE[record.kind])
    if isinstance(record, Assertion):
        w.text(record.subject)
        w.text(record.predicate)
        obj = record.object
        w.u8(_OBJECT_TAG[obj.type])
        if obj.type == "number":
            assert isinstance(obj.value, (int, float))
            w.f64(obj.value)
        elif obj.type == "boolean":
            w.u8(1 if obj.value else 0)
        else:
            assert isinstance(obj.value, str)
            w.text(obj.value)
        w.text(record.agent)
        w.f64(record.confidence)
        w.i64(ts)
        if record.source is None:
            w.u8(0)
        else:
            w.u8(1)
            w.text(record.source.uri)
            w.u8(record.source.source_class)
        w.opt_i64(record.valid_from)
        w.opt_i64(record.valid_to)
        w.u8(LIFECYCLES.index(record.lifecycle))
        w.opt_id(record.parent)
        w.opt_id(record.epoch)
    elif isinstance(record, Retraction):
        w.id(record.target)
        w.text(record.agent)
        if record.reason is None:
            w.u8(0)
        else:
            w.u8(1)
            w.text(record.reason)
        w.i64(ts)
    elif isinstance(record, Vote):
        w.id(record.target)
        w.text(record.agent)
        w.f64(record.weight)
        w.i64(ts)
    elif isinstance(record, Trust):
        w.text(record.agent)
        w.f64(record.score)
        w.text(record.issuer)
        w.i64(ts)
    elif isinstance(record, Epoch):
        w.text(record.name)
        w.text(record.subject_prefix)
        w.opt_id(record.supersedes)
        w.text(record.reason)
        w.text(record.agent)
        w.i64(ts)
    return bytes(w.buf)


def record_id(record: Record) -> str:
    """The record's id: BLAKE3-256 of its canonical bytes, 64 lowercase hex characters."""
    return blake3(canonical_bytes(record)).hexdigest()


def id_unchecked(record: Record) -> str:
    """The id of a record already validated (skips the second validation pass)."""
    return blake3(encode_unchecked(record)).hexdigest()
