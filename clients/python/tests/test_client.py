"""The synchronous client against a real server."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest

from conftest import ADMIN_TOKEN, Server, free_port
from stemedb import (
    Assertion,
    BatchError,
    Client,
    ForbiddenError,
    NotFoundError,
    ObjectValue,
    PayloadTooLargeError,
    SigningKey,
    Source,
    TransportError,
    UnauthorizedError,
    ValidationError,
    Vote,
    parse_record,
    record_id,
    ref,
)

T0 = 1_700_000_000_000
text = ObjectValue.text


def raw_post(server: Server, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=body, timeout=10)


def test_signed_assertion_id_equals_the_servers(server: Server, ns: str) -> None:
    key = SigningKey.generate()
    with Client(server.url, signing_key=key) as db:
        w = db.assert_claim(
            f"{ns}drug", "side_effect", "nausea", confidence=0.8, source=Source("https://l", 0)
        )
        assert w.status == "created"
        expected = record_id(
            Assertion(
                f"{ns}drug",
                "side_effect",
                db.get(w.id).record.object,  # type: ignore[union-attr]
                key.public_key,
                confidence=0.8,
                timestamp=db.get(w.id).record.timestamp,
                source=Source("https://l", 0),
            )
        )
        assert w.id == expected
        view = db.get(w.id)
        assert view.signature_status == "valid"
        assert view.record.signature is not None
        assert view.record.agent == key.public_key
        again = db.write(view.record)
        assert again.id == w.id and again.status == "exists"


def test_unsigned_record_with_timestamp_gets_the_computed_id(server: Server, ns: str) -> None:
    with Client(server.url, agent="fda") as db:
        rec = Assertion(f"{ns}s", "dose", db_value := ref(f"{ns}other"), "fda", timestamp=T0)
        w = db.write(rec)
        assert w.id == record_id(rec)
        got = db.get(w.id).record
        assert isinstance(got, Assertion) and got.object == db_value
        assert db.assert_claim(f"{ns}s", "dose", ref(f"{ns}other"), timestamp=T0).status == "exists"


BAD_ASSERTIONS: list[tuple[dict[str, Any], str, str]] = [
    ({"subject": ""}, "empty", "subject"),
    ({"subject": "x" * 513}, "too_long", "subject"),
    ({"predicate": "p" * 257}, "too_long", "predicate"),
    ({"predicate": "a\0b"}, "invalid_value", "predicate"),
    ({"object": {"type": "text", "value": "x" * 65537}}, "too_long", "object.value"),
    ({"object": {"type": "ref", "value": ""}}, "empty", "object.value"),
    ({"agent": "a" * 129}, "too_long", "agent"),
    ({"confidence": 1.5}, "out_of_range", "confidence"),
    ({"confidence": -0.1}, "out_of_range", "confidence"),
    ({"timestamp": -1}, "out_of_range", "timestamp"),
    ({"timestamp": 253402300800000}, "out_of_range", "timestamp"),
    ({"source": {"uri": "", "class": 1}}, "empty", "source.uri"),
    ({"source": {"uri": "u" * 2049, "class": 1}}, "too_long", "source.uri"),
    ({"source": {"uri": "https://x", "class": 6}}, "out_of_range", "source.class"),
    ({"valid_from": 10, "valid_to": 5}, "out_of_range", "valid_to"),
    ({"parent": "abc"}, "invalid_hex", "parent"),
    ({"signature": "00" * 64}, "invalid_hex", "agent"),
]


@pytest.mark.parametrize(("change", "code", "field"), BAD_ASSERTIONS)
def test_validation_matches_the_server(
    server: Server, ns: str, change: dict[str, Any], code: str, field: str
) -> None:
    body: dict[str, Any] = {
        "subject": f"{ns}bad",
        "predicate": "p",
        "object": {"type": "text", "value": "v"},
        "agent": "a",
        "timestamp": T0,
        **change,
    }
    answer = raw_post(server, "/v1/assert", body)
    assert answer.status_code == 400, answer.text
    err = answer.json()["error"]
    assert (err["code"], err["field"]) == (code, field)
    with pytest.raises(ValidationError) as info:
        parse_record(body)
    assert (info.value.code, info.value.field) == (code, field)
    with Client(server.url) as db:
        with pytest.raises(BatchError):
            db.assert_many([body])
        result = db.assert_many([body], raise_on_error=False)
        assert not result.ok
        assert result.items[0].error is not None
        assert (result.items[0].error.code, result.items[0].error.field) == (code, field)
        assert list(db.subjects(ns)) == []


def test_single_write_validation_raises_before_sending(ns: str) -> None:
    # Nothing listens on this port: a request would be a TransportError.
    with Client(f"http://127.0.0.1:{free_port()}", agent="a") as db:
        with pytest.raises(ValidationError) as info:
            db.assert_claim(f"{ns}s", "p", math.nan)
        assert (info.value.code, info.value.field, info.value.status) == (
            "non_finite",
            "object.value",
            None,
        )
        with pytest.raises(ValidationError) as info:
            db.vote("ab" * 32, 1.5)
        assert (info.value.code, info.value.field) == ("out_of_range", "weight")
        with pytest.raises(ValidationError) as info:
            db.retract("not-an-id")
        assert (info.value.code, info.value.field) == ("invalid_hex", "target")
        with pytest.raises(ValidationError) as info:
            db.query(f"{ns}s", lens="majority")
        assert (info.value.code, info.value.field) == ("invalid_param", "lens")
        with pytest.raises(ValidationError) as info:
            Client(f"http://127.0.0.1:{free_port()}").assert_claim("s", "p", 1)
        assert (info.value.code, info.value.field) == ("missing_field", "agent")
        with pytest.raises(TransportError):
            db.assert_claim(f"{ns}s", "p", 1.0)


def test_server_errors_carry_code_field_and_status(server: Server, ns: str) -> None:
    with Client(server.url, agent="author") as db:
        w = db.assert_claim(f"{ns}s", "p", "v", timestamp=T0)
        with pytest.raises(ForbiddenError) as forbidden:
            db.retract(w.id, agent="someone-else")
        assert forbidden.value.status == 403
        assert forbidden.value.code == "forbidden"
        assert forbidden.value.field == "agent"
        with pytest.raises(NotFoundError) as missing:
            db.vote("0" * 64, 0.5)
        assert (missing.value.status, missing.value.code) == (404, "not_found")
        with pytest.raises(NotFoundError):
            db.get("f" * 64)


def test_lenses_time_travel_votes_and_retraction(server: Server, ns: str) -> None:
    s = f"{ns}drug"
    with Client(server.url) as db:
        a = db.assert_claim(s, "effect", "nausea", agent="fda", confidence=0.9, timestamp=T0)
        b = db.assert_claim(
            s, "effect", "headache", agent="forum", confidence=0.6, timestamp=T0 + 10
        )
        c = db.assert_claim(s, "effect", "nausea", agent="ema", confidence=0.7, timestamp=T0 + 20)
        assert db.resolve(s, "effect", "recency").winners == [c.id]
        assert db.resolve(s, "effect", "recency", as_of=T0 + 15).winners == [b.id]
        consensus = db.resolve(s, "effect", "consensus")
        assert consensus.value is not None and consensus.value.value == "nausea"
        assert sorted(consensus.winners) == sorted([a.id, c.id])
        skeptic = db.resolve(s, "effect", "skeptic")
        assert skeptic.status == "contested" and skeptic.value is None
        assert {e.value.value for e in skeptic.explanation} == {"nausea", "headache"}
        assert 0 < skeptic.conflict <= 1
        db.set_trust(f"{ns}forum", 1.0)
        db.set_trust("forum", 1.0)
        db.set_trust("fda", 0.1)
        db.set_trust("ema", 0.1)
        assert db.resolve(s, "effect", "authority").winners == [b.id]
        db.vote(b.id, -1.0, agent="reviewer")
        assert db.get(b.id).votes[0].record == Vote(
            b.id, "reviewer", -1.0, db.get(b.id).votes[0].record.timestamp
        )
        db.retract(b.id, agent="forum", reason="wrong drug")
        assert db.resolve(s, "effect", "authority").value == a_value(db, a.id)
        page = db.query(s, "effect", include_retracted=True)
        retracted = {cand.id: cand.retracted for cand in page.results[0].candidates}
        assert retracted[b.id] is True and retracted[a.id] is False
        assert db.get(b.id).retraction is not None
        layered = db.resolve(s, "effect", "layered")
        assert layered.classes and layered.classes[0].source_class == 6


def a_value(db: Client, rid: str) -> object:
    rec = db.get(rid).record
    assert isinstance(rec, Assertion)
    return rec.object


def test_query_pagination_is_an_iterator(server: Server, ns: str) -> None:
    s = f"{ns}many"
    with Client(server.url, agent="bot") as db:
        written = {db.assert_claim(s, "n", i, timestamp=T0 + i).id for i in range(25)}
        db.assert_claim(s, "other", "x", timestamp=T0)
        pages = list(db.query_pages(s, "n", page_size=10))
        assert [len(p.results[0].candidates) for p in pages] == [10, 10, 5]
        assert pages[-1].next_cursor is None
        seen = [c.id for p in pages for c in p.results[0].candidates]
        assert len(seen) == len(set(seen)) == 25 and set(seen) == written
        all_preds = {c.assertion.predicate for c in db.candidates(s, page_size=7)}
        assert all_preds == {"n", "other"}
        assert sum(1 for _ in db.candidates(s, page_size=7)) == 26
        assert db.predicates(s) == ["n", "other"]
        for i in range(5):
            db.assert_claim(f"{ns}sub{i}", "p", "v")
        assert list(db.subjects(f"{ns}sub", page_size=2)) == [f"{ns}sub{i}" for i in range(5)]


def test_assert_many_streams_chunks_and_reports_every_item(server: Server, ns: str) -> None:
    key = SigningKey.generate()

    def records() -> Any:
        for i in range(1200):
            yield {
                "subject": f"{ns}bulk",
                "predicate": "i",
                "object": {"type": "number", "value": i},
                "timestamp": T0 + i,
            }

    with Client(server.url, signing_key=key) as db:
        result = db.assert_many(records(), chunk_size=500)
        assert result.ok and result.created == 1200 and result.failed == 0
        assert [i.index for i in result.items] == list(range(1200))
        assert all(i.status == "created" for i in result.items)
        again = db.assert_many(records(), chunk_size=700)
        assert again.exists == 1200 and again.ids == result.ids
        assert sum(1 for _ in db.candidates(f"{ns}bulk", page_size=1000)) == 1200
        assert db.get(result.ids[7] or "").signature_status == "valid"


def test_a_partial_batch_is_never_reported_as_success(server: Server, ns: str) -> None:
    good = {"subject": f"{ns}mix", "predicate": "p", "object": {"type": "text", "value": "ok"}}
    items: list[Any] = [
        {**good, "timestamp": T0},
        {**good, "confidence": 7},
        {**good, "timestamp": T0 + 1},
        {"kind": "vote", "target": "0" * 64, "weight": 1.0},
        Assertion(f"{ns}mix", "p", ref(f"{ns}x"), "agent-x", timestamp=T0 + 2),
        {**good, "object": {"type": "text"}},
    ]
    with Client(server.url, agent="loader") as db:
        with pytest.raises(BatchError) as info:
            db.assert_many(items, chunk_size=2)
        result = info.value.result
        assert not result.ok
        assert result.created == 3 and result.failed == 3
        failed = {i.index: i.error for i in result.errors}
        assert set(failed) == {1, 3, 5}
        assert failed[1] is not None and (failed[1].code, failed[1].field) == (
            "out_of_range",
            "confidence",
        )
        assert failed[3] is not None and failed[3].code == "not_found"
        assert failed[5] is not None and (failed[5].code, failed[5].field) == (
            "missing_field",
            "object.value",
        )
        assert sum(1 for _ in db.candidates(f"{ns}mix")) == 3


def test_a_failed_request_stops_the_batch_and_names_unsent_items(
    guarded_server: Server, ns: str
) -> None:
    with Client(guarded_server.url, agent="loader") as db:
        items = [
            Assertion(f"{ns}big", "i", ref(f"{ns}{i}"), "loader", timestamp=T0 + i)
            for i in range(12)
        ]
        assert db.assert_many(items[:8], chunk_size=4).created == 8
        with pytest.raises(BatchError) as info:
            db.assert_many(items, chunk_size=6)
        assert isinstance(info.value.__cause__, PayloadTooLargeError)
        assert info.value.result.unsent == list(range(12))
        assert info.value.code == "too_large"


def test_admin_token_is_sent_as_bearer(guarded_server: Server) -> None:
    with Client(guarded_server.url) as anonymous:
        with pytest.raises(UnauthorizedError) as info:
            anonymous.set_trust("fda", 0.9)
        assert info.value.status == 401
    # An unknown token is 401 like a missing one (no hint which keys exist).
    with Client(guarded_server.url, token="wrong") as wrong, pytest.raises(UnauthorizedError):
        wrong.set_trust("fda", 0.9)
    with Client(guarded_server.url, token=ADMIN_TOKEN) as admin:
        assert admin.set_trust("fda", 0.9).status == "created"


def test_trace_follows_parents_and_epochs(server: Server, ns: str) -> None:
    with Client(server.url, agent="curator") as db:
        epoch = db.create_epoch(f"{ns}epoch", subject_prefix=ns, reason="test", timestamp=T0)
        first = db.assert_claim(f"{ns}s", "p", "draft", timestamp=T0, epoch=epoch.id)
        second = db.assert_claim(
            f"{ns}s", "p", "final", timestamp=T0 + 1, parent=first.id, lifecycle="approved"
        )
        trace = db.trace(second.id)
        assert trace.record.id == second.id
        assert [p.id for p in trace.parents] == [first.id]
        assert [c.id for c in db.trace(first.id).children] == [second.id]
        assert db.trace(first.id).epoch is not None
        missing = db.write(
            Assertion(f"{ns}s", "p", text("orphan"), "curator", timestamp=T0, parent="e" * 64)
        )
        assert db.trace(missing.id).missing_parent == "e" * 64


def test_signed_trust_retraction_and_vote(server: Server, ns: str) -> None:
    author = SigningKey.generate()
    admin = SigningKey.generate()
    with Client(server.url, signing_key=author) as db:
        w = db.assert_claim(f"{ns}s", "p", True)
        v = db.vote(w.id, 0.25)
        assert db.get(v.id).signature_status == "valid"
        r = db.retract(w.id, reason="superseded")
        assert db.get(r.id).record.signer == author.public_key
        t = db.set_trust(author.public_key, 0.7, signing_key=admin)
        got = db.get(t.id)
        assert got.signature_status == "valid" and got.record.signer == admin.public_key
