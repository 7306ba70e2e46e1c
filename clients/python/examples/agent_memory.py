"""Shared agent memory: two agents disagree, a third asks who is right under three lenses.

Run against a fresh server:  python3 clients/python/examples/agent_memory.py [URL]
"""

from __future__ import annotations

import sys

from stemedb import Client, Resolution, SigningKey, Source

URL = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:18180"
SUBJECT, PREDICATE = "incident:2026-11-29-checkout", "root_cause"
T = 1_764_400_000_000  # fixed times (ms) so the ids below are reproducible

# Example keys from fixed seeds; real agents use SigningKey.generate() and keep the secret.
triage = SigningKey.from_hex("11" * 32)
logs = SigningKey.from_hex("22" * 32)
lead = SigningKey.from_hex("33" * 32)


def show(name: str, r: Resolution) -> None:
    """Print a lens answer with the support of each value and the ids it cites."""
    value = r.value.value if r.value is not None else None
    print(f"{name:<9} -> {value!r} conf={r.confidence:.2f} conflict={r.conflict:.2f}")
    for e in r.explanation:
        cites = ", ".join(i[:12] for i in e.ids)
        print(
            f"            {e.value.value!r}: support {e.support:.2f} share {e.share:.2f} [{cites}]"
        )


with Client(URL, token=None) as db:
    # Agent 1 (log analyst) read the logs: an expired certificate.
    a = db.assert_claim(
        SUBJECT,
        PREDICATE,
        "expired TLS certificate on payments-gateway",
        confidence=0.6,
        timestamp=T,
        signing_key=logs,
        source=Source("https://logs.example/q/tls-handshake-errors", 2),
    )
    # Agent 2 (triage bot) disagrees a minute later, very sure, from the runbook.
    b = db.assert_claim(
        SUBJECT,
        PREDICATE,
        "database connection pool exhausted",
        confidence=0.95,
        timestamp=T + 60_000,
        signing_key=triage,
        source=Source("runbook://checkout/db-pool", 3),
    )
    # The operator trusts the analyst more than the bot (admin call).
    db.set_trust(logs.public_key, 0.9)
    db.set_trust(triage.public_key, 0.4)
    print(f"log analyst says {a.id[:12]} ({a.status})")
    print(f"triage bot says  {b.id[:12]} ({b.status})")

    # Agent 3 (incident lead) asks which is right, under three lenses.
    for lens in ("recency", "authority", "consensus"):
        show(lens, db.resolve(SUBJECT, PREDICATE, lens))
    # ...and what the memory said before the bot spoke (time travel).
    show("as_of T+1", db.resolve(SUBJECT, PREDICATE, "recency", as_of=T + 1))
    # The lead goes with the most trusted source, records agreement, and cites it.
    verdict = db.resolve(SUBJECT, PREDICATE, "authority")
    winner = verdict.winners[0]
    db.vote(winner, 1.0, timestamp=T + 120_000, signing_key=lead)
    print(f"lead cites {winner} signed by {db.get(winner).record.signer[:12]}")
    show("consensus", db.resolve(SUBJECT, PREDICATE, "consensus"))
