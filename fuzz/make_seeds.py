#!/usr/bin/env python3
"""Writes the committed seed corpus under fuzz/corpus/<target>/ from the test
vectors of docs/canonical-encoding.md (JSON, canonical bytes, signatures).

Run from the repository root: python3 fuzz/make_seeds.py
"""

import hashlib
import json
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def frame(payload: bytes) -> bytes:
    n = len(payload).to_bytes(4, "little")
    c = crc32c(n + payload)
    return n + c.to_bytes(4, "little") + payload


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def int_field(num: int, v: int) -> bytes:
    return varint(num << 3) + varint(v)


def vectors() -> list[tuple[dict, bytes]]:
    doc = (ROOT / "docs" / "canonical-encoding.md").read_text()
    doc = doc[doc.index("## Test vectors"):]
    jsons = re.findall(r"```json\n(.*?)```", doc, re.S)
    hexes = re.findall(r"```hex\n(.*?)```", doc, re.S)
    out = []
    for j, h in zip(jsons, hexes):
        out.append((json.loads(j), bytes.fromhex(h.strip())))
    return out


def write(target: str, name: str, data: bytes) -> None:
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def main() -> None:
    stored_all = []
    for i, (doc, canonical) in enumerate(vectors()):
        sig = doc.get("signature")
        stored = (b"\x01" + bytes.fromhex(sig) if sig else b"\x00") + canonical
        stored_all.append(stored)
        write("canonical_decode", f"vector-{i}-canonical", canonical)
        write("canonical_decode", f"vector-{i}-stored", stored)
        write("wire_json", f"vector-{i}", json.dumps(doc).encode())
        with_id = dict(doc, id=hashlib.blake2s(canonical).hexdigest())  # a wrong id
        write("wire_json", f"vector-{i}-wrong-id", json.dumps(with_id).encode())
    write("wire_json", "trust", json.dumps(
        {"kind": "trust", "agent": "fda", "score": 0.9, "issuer": "admin",
         "timestamp": 1700000000000}).encode())
    write("wire_json", "vote", json.dumps(
        {"kind": "vote", "target": "73d7958594871f8dd904bb6371b6ec4628df71df3e9ea177bedad5f65ecd77f3",
         "agent": "x", "weight": -0.5, "timestamp": 1}).encode())
    write("wire_json", "retraction", json.dumps(
        {"kind": "retraction", "target": "73d7958594871f8dd904bb6371b6ec4628df71df3e9ea177bedad5f65ecd77f3",
         "agent": "fda", "reason": "wrong", "timestamp": 2}).encode())

    # Log tails: byte 0 = acknowledged records (mod 4), then the tail.
    rec = stored_all[0]
    whole = frame(rec)
    write("log_recovery", "empty-tail", b"\x03")
    write("log_recovery", "whole-frame", b"\x02" + whole)
    write("log_recovery", "torn-frame", b"\x01" + whole[: len(whole) // 2])
    write("log_recovery", "flipped-bit", b"\x03" + whole[:20] + bytes([whole[20] ^ 4]) + whole[21:])
    write("log_recovery", "zeros-then-frame", b"\x01" + bytes(24) + whole)
    write("log_recovery", "marker", b"\x00" + frame(b"\x80" + (1700000000000).to_bytes(8, "little")) + whole)
    write("log_recovery", "huge-length", b"\x02" + (1 << 30).to_bytes(4, "little") + b"\xab" * 12)

    # Replication: byte 0 selects the message (see stemedb_fuzz::replication_decode).
    ids = bytes(range(64))
    groups = bytes([7, 2]) + varint(2) + b"abcd" + bytes([9, 31]) + varint(1) + bytes(range(31))
    prefixes = field(2, groups)
    write("replication_decode", "push", b"\x00" + b"".join(field(1, s) for s in stored_all))
    write("replication_decode", "fetch", b"\x01" + field(1, ids) + int_field(2, 1)
          + field(3, int_field(1, 3) + prefixes))
    write("replication_decode", "match", b"\x02" + field(1, int_field(1, 3) + prefixes) + int_field(2, 1))
    digest = int_field(1, 1) + field(2, bytes(32)) + field(3, bytes([4]) + bytes(range(16))) + int_field(4, 16)
    write("replication_decode", "digests", b"\x03" + field(1, digest))
    write("replication_decode", "fetch-reply", b"\x04" + field(1, stored_all[0]) + field(2, ids)
          + field(4, int_field(1, 2) + prefixes))
    answer = bytes([0]) + bytes(16) + bytes([0b101]) + varint(1) + b"zz"
    write("replication_decode", "match-reply", b"\x05" + field(1, int_field(1, 0) + field(2, answer)))


if __name__ == "__main__":
    main()
