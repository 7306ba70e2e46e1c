"""The batch fast path (stemedb._fast) agrees with the full parser on every record.

For valid records it must compute the id the full path computes; for anything
the full path rejects it must step aside (SLOW) so the full path raises the
precise error. No server needed.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from stemedb import parse_record, record_id
from stemedb._core import BatchRun, Builder
from stemedb._fast import SLOW, assertion_id
from stemedb.errors import ValidationError

T0 = 1_700_000_000_000
P = "ab" * 32

BASE: dict[str, Any] = {
    "subject": "drug:semaglutide",
    "predicate": "side_effect",
    "object": {"type": "text", "value": "nausea"},
    "agent": "fda",
    "confidence": 0.9,
    "timestamp": T0,
    "source": {"uri": "https://example.org/label", "class": 0},
}

VALID: list[dict[str, Any]] = [
    BASE,
    {**BASE, "object": {"type": "number", "value": -0.0}},
    {**BASE, "object": {"type": "number", "value": 7}},
    {**BASE, "object": {"type": "number", "value": 10**300}},
    {**BASE, "object": {"type": "boolean", "value": True}},
    {**BASE, "object": {"type": "boolean", "value": False}},
    {**BASE, "object": {"type": "ref", "value": "person:ada"}},
    {**BASE, "object": {"type": "text", "value": ""}},
    {**BASE, "object": {"type": "text", "value": "a\0b é 🙂"}},
    {**BASE, "confidence": 1},
    {**BASE, "confidence": 0},
    {k: v for k, v in BASE.items() if k != "confidence"},
    {k: v for k, v in BASE.items() if k != "source"},
    {**BASE, "source": None, "kind": "assertion", "id": None, "signature": None},
    {**BASE, "valid_from": -5, "valid_to": 5, "lifecycle": "approved"},
    {**BASE, "valid_from": 5, "valid_to": 5, "lifecycle": "deprecated"},
    {**BASE, "parent": P, "epoch": P.upper()},
    {**BASE, "timestamp": 0},
    {**BASE, "timestamp": 253_402_300_799_999},
    {**BASE, "subject": "s" * 512, "predicate": "p" * 256, "agent": "a" * 128},
    {**BASE, "source": {"uri": "u" * 2048, "class": 5}},
]

INVALID: list[dict[str, Any]] = [
    {**BASE, "extra": 1},
    {**BASE, "kind": "vote"},
    {**BASE, "kind": 3},
    {**BASE, "signature": "00" * 64},
    {**BASE, "subject": ""},
    {**BASE, "subject": None},
    {**BASE, "subject": 5},
    {**BASE, "subject": "a\0b"},
    {**BASE, "subject": "s" * 513},
    {**BASE, "subject": "\ud800"},
    {**BASE, "predicate": "p" * 257},
    {**BASE, "agent": "a" * 129},
    {k: v for k, v in BASE.items() if k != "agent"},
    {k: v for k, v in BASE.items() if k != "object"},
    {**BASE, "object": "nausea"},
    {**BASE, "object": {"type": "text"}},
    {**BASE, "object": {"type": "text", "value": "x", "unit": "mg"}},
    {**BASE, "object": {"type": "date", "value": "x"}},
    {**BASE, "object": {"type": "text", "value": 5}},
    {**BASE, "object": {"type": "text", "value": "t" * (64 * 1024 + 1)}},
    {**BASE, "object": {"type": "number", "value": "5"}},
    {**BASE, "object": {"type": "number", "value": True}},
    {**BASE, "object": {"type": "number", "value": float("nan")}},
    {**BASE, "object": {"type": "number", "value": float("inf")}},
    {**BASE, "object": {"type": "number", "value": 10**400}},
    {**BASE, "object": {"type": "boolean", "value": 1}},
    {**BASE, "object": {"type": "ref", "value": ""}},
    {**BASE, "confidence": 1.5},
    {**BASE, "confidence": -0.1},
    {**BASE, "confidence": "0.5"},
    {**BASE, "confidence": True},
    {**BASE, "timestamp": -1},
    {**BASE, "timestamp": 253_402_300_800_000},
    {**BASE, "timestamp": 1.5},
    {**BASE, "timestamp": True},
    {**BASE, "source": {"uri": "", "class": 0}},
    {**BASE, "source": {"uri": "u"}},
    {**BASE, "source": {"uri": "u", "class": 6}},
    {**BASE, "source": {"uri": "u", "class": False}},
    {**BASE, "source": {"uri": "u" * 2049, "class": 0}},
    {**BASE, "source": {"uri": "u", "class": 0, "x": 1}},
    {**BASE, "source": "https://example.org"},
    {**BASE, "valid_from": 6, "valid_to": 5},
    {**BASE, "valid_from": 253_402_300_800_000},
    {**BASE, "valid_to": 1.0},
    {**BASE, "lifecycle": "draft"},
    {**BASE, "lifecycle": ["proposed"]},
    {**BASE, "parent": "ab"},
    {**BASE, "epoch": "zz" * 32},
]


@pytest.mark.parametrize("rec", VALID, ids=range(len(VALID)))
def test_valid_records_get_the_full_paths_id(rec: dict[str, Any]) -> None:
    got = assertion_id(rec)
    assert got is not SLOW, "a plain valid assertion should take the fast path"
    assert got == record_id(parse_record(rec))


def test_a_record_without_timestamp_has_no_client_id() -> None:
    rec = {k: v for k, v in BASE.items() if k != "timestamp"}
    assert assertion_id(rec) is None
    parse_record(rec)  # and the full path accepts it


@pytest.mark.parametrize("rec", INVALID, ids=range(len(INVALID)))
def test_invalid_records_take_the_full_path(rec: dict[str, Any]) -> None:
    assert assertion_id(rec) is SLOW
    with pytest.raises(ValidationError):
        parse_record(rec)


def test_batch_lines_match_the_full_path_and_keep_errors_precise() -> None:
    """BatchRun over a mix: valid dicts are sent as given, bad ones carry the full path's error."""
    items: list[Any] = [*copy.deepcopy(VALID), *copy.deepcopy(INVALID)]
    run = BatchRun(Builder(None, None), None, 10_000, 1 << 30)
    for i, item in enumerate(items):
        run.add(i, item)
    chunk = run.take()
    sent = [json.loads(line) for line in (chunk.call.content or b"").splitlines()]
    assert chunk.indexes == list(range(len(VALID)))
    assert sent == [json.loads(json.dumps(r)) for r in VALID]
    assert chunk.expect == [record_id(parse_record(r)) for r in VALID]
    errors = {item.index: item.error for item in run.result.items}
    assert sorted(errors) == list(range(len(VALID), len(items)))
    for index, err in errors.items():
        assert err is not None
        with pytest.raises(ValidationError) as raised:
            parse_record(INVALID[index - len(VALID)])
        assert (err.code, err.field) == (raised.value.code, raised.value.field)


def test_the_clients_default_agent_fills_a_missing_agent() -> None:
    item = {k: v for k, v in BASE.items() if k != "agent"}
    run = BatchRun(Builder("default-agent", None), None, 10, 1 << 30)
    run.add(0, item)
    chunk = run.take()
    assert json.loads(chunk.call.content or b"")["agent"] == "default-agent"
    assert chunk.expect == [record_id(parse_record({**BASE, "agent": "default-agent"}))]
    assert "agent" not in item, "the caller's dict is not modified"
