"""Schemathesis hooks for StemeDB's API schema test (crates/stemedb-server/tests/api_schema.rs).

Loaded with SCHEMATHESIS_HOOKS=stemedb_schema_hooks. Three things:

1. A serializer for `application/x-ndjson`, the batch endpoint's second body type
   (one JSON value per line).
2. A check for `POST /v1/assertions`: a batch answers 200 with one result per item, so
   a schema-violating item shows up as a failed item, not as a 4xx. Positive batches must
   store every item (or fail it for a reason JSON Schema cannot state, below); negative
   batches that the server answers 200 must fail at least one item.
3. `map_case` makes positive (schema-valid) records meet the rules below that it can (no
   random signature or id, `valid_from <= valid_to`), so they reach the store; and
   `filter_failure`: a schema-valid request the server refused is accepted as correct only
   when the refusal names a rule JSON Schema cannot express, and the request broke exactly
   that rule (the server's error `code` and `field` say which):
   - a `signature` must verify, over the record's id, by the `agent` key (`issuer` for trust),
     with a `timestamp`;
   - an `id` in a body must be the hash of the record (docs/canonical-encoding.md);
   - `valid_from` must not be after `valid_to`;
   - length limits count UTF-8 bytes, JSON Schema's maxLength counts characters: a
     string within maxLength characters may be over the byte limit when it is not ASCII;
   - a `cursor` must be one the server handed out for the same query;
   - a retraction/vote target or superseded epoch must be a record of the right kind
     (`wrong_kind`), and a backup byte range must lie within the segment (`invalid_range`).
   Everything else the server refuses is a failure: a bug in the server or in the schema.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis
from schemathesis.core.failures import AcceptedNegativeData  # noqa: F401  (documented alongside)
from schemathesis.openapi.checks import RejectedPositiveData

BATCH = ("POST", "/v1/assertions")


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx: Any, value: Any) -> bytes:
    if isinstance(value, list):
        return "".join(json.dumps(v) + "\n" for v in value).encode()
    return (json.dumps(value) + "\n").encode()


def _mode(case: Any) -> str:
    meta = getattr(case, "meta", None)
    if meta is None:
        return "unknown"
    return str(meta.generation.mode.value)


def _error(response: Any) -> dict[str, Any]:
    try:
        body = json.loads(response.content)
    except (ValueError, TypeError):
        return {}
    err = body.get("error") if isinstance(body, dict) else None
    return err if isinstance(err, dict) else {}


def _number(v: Any) -> bool:
    """A JSON number (`2.0` is an integer too); not a boolean."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _get(body: Any, dotted: str) -> Any:
    cur = body
    for part in dotted.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def explained(record: Any, err: dict[str, Any], query: dict[str, Any] | None = None,
              path: dict[str, Any] | None = None) -> bool:
    """Whether refusal `err` of `record` is a rule the schema cannot state, broken by the record."""
    code = err.get("code")
    field = err.get("field") or ""
    record = record if isinstance(record, dict) else {}
    query = query or {}
    path = path or {}
    if record.get("signature") is not None and field in ("signature", "agent", "issuer", "timestamp"):
        return True
    if field == "id" and record.get("id") is not None:
        return True
    if code == "out_of_range" and field == "valid_to":
        vf, vt = record.get("valid_from"), record.get("valid_to")
        return _number(vf) and _number(vt) and vf > vt
    if code == "too_long":
        value = _get(record, field)
        if value is None:
            value = path.get(field)
        return isinstance(value, str) and len(value.encode()) > len(value)
    if field == "cursor" and query.get("cursor") is not None:
        return True
    if code in ("wrong_kind", "invalid_range"):
        return True
    return False


@schemathesis.check
def batch_items_match_schema(ctx: Any, response: Any, case: Any) -> bool | None:
    if (case.operation.method.upper(), case.operation.path) != BATCH:
        return None
    if response.status_code != 200:
        return None
    body = json.loads(response.content)
    items = case.body if isinstance(case.body, list) else [case.body]
    mode = _mode(case)
    if mode == "positive":
        for r in body["results"]:
            err = r.get("error")
            if err is None or err.get("code") in ("not_found", "forbidden"):
                continue
            item = items[r["index"]] if r["index"] < len(items) else None
            if not explained(item, err):
                raise AssertionError(f"schema-valid batch item {r['index']} refused: {err}")
    elif mode == "negative" and body["failed"] == 0 and body["results"]:
        raise AssertionError(
            f"schema-violating batch stored every item: {json.dumps(case.body)[:500]}"
        )
    return None


def _fit_rules(record: Any) -> None:
    """Makes a schema-valid record meet the rules the schema cannot state, so
    positive cases reach the store instead of being refused for them: no
    random `signature` or `id` (they cannot verify), `valid_from <= valid_to`."""
    if not isinstance(record, dict):
        return
    record.pop("signature", None)
    record.pop("id", None)
    vf, vt = record.get("valid_from"), record.get("valid_to")
    if _number(vf) and _number(vt) and vf > vt:
        record["valid_from"], record["valid_to"] = vt, vf


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    if _mode(case) == "positive" and case.body is not None:
        for record in case.body if isinstance(case.body, list) else [case.body]:
            _fit_rules(record)
    return case


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    if isinstance(failure, RejectedPositiveData) and response.status_code == 400:
        if explained(case.body, _error(response), case.query, case.path_parameters):
            return False
    return True
