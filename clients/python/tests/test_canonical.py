"""Canonical encoding vs every vector in docs/canonical-encoding.md (parsed, not copied)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from stemedb import SigningKey, canonical_bytes, parse_record, record_id, sign, verify
from stemedb.records import Assertion, ObjectValue, Trust

DOC = Path(__file__).resolve().parents[3] / "docs" / "canonical-encoding.md"
TEST_SECRET = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

_SECTION = re.compile(r"^### (\d+)\. (.+)$", re.MULTILINE)
_JSON = re.compile(r"```json\n(.*?)\n```", re.DOTALL)
_HEX = re.compile(r"```hex\n([0-9a-f]+)\n```")
_ID = re.compile(r"^id: ([0-9a-f]{64})$", re.MULTILINE)


def load_vectors() -> list[tuple[str, dict[str, Any], str, str]]:
    text = DOC.read_text(encoding="utf-8")
    vectors_part = text.split("## Test vectors", 1)[1]
    heads = list(_SECTION.finditer(vectors_part))
    out = []
    for i, head in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(vectors_part)
        body = vectors_part[head.end() : end]
        j, h, rid = _JSON.search(body), _HEX.search(body), _ID.search(body)
        assert j and h and rid, f"vector {head.group(1)} is incomplete"
        out.append(
            (f"{head.group(1)}. {head.group(2)}", json.loads(j.group(1)), h.group(1), rid.group(1))
        )
    return out


VECTORS = load_vectors()


def test_the_document_has_vectors_of_every_kind() -> None:
    kinds = {v[1].get("kind", "assertion") for v in VECTORS}
    assert kinds == {"assertion", "retraction", "vote", "trust", "epoch"}
    assert len(VECTORS) >= 12
    assert any("signature" in v[1] for v in VECTORS)


@pytest.mark.parametrize(("name", "body", "hex_bytes", "rid"), VECTORS, ids=[v[0] for v in VECTORS])
def test_vector(name: str, body: dict[str, Any], hex_bytes: str, rid: str) -> None:
    record = parse_record(body)
    assert canonical_bytes(record).hex() == hex_bytes
    assert record_id(record) == rid
    if "signature" in body:
        assert verify(record)
        key = SigningKey.from_hex(TEST_SECRET)
        unsigned = dataclasses.replace(record, signature=None)
        resigned = sign(unsigned, key)
        assert resigned.signature == body["signature"]
        assert record_id(resigned) == rid
        tampered = dataclasses.replace(record, timestamp=(record.timestamp or 0) + 1)
        assert not verify(tampered)


def test_wire_round_trip_keeps_the_id() -> None:
    for _, body, _, rid in VECTORS:
        record = parse_record(body)
        assert record_id(parse_record(record.to_wire())) == rid


def test_negative_zero_and_defaults_give_the_same_id() -> None:
    base = Assertion("s", "p", ObjectValue.number(0.0), "a", timestamp=1)
    neg = Assertion("s", "p", ObjectValue("number", -0.0), "a", timestamp=1, confidence=1.0)
    assert record_id(base) == record_id(neg)


def test_trust_signer_is_the_issuer() -> None:
    key = SigningKey.from_hex(TEST_SECRET)
    signed = sign(Trust("fda", 1.0, timestamp=5), key)
    assert signed.issuer == key.public_key
    assert signed.agent == "fda"
    assert verify(signed)
