"""Ed25519 signing of records (``docs/canonical-encoding.md``, "Signatures").

The message signed is the 32 raw bytes of the record id. The signer is the
record's ``agent`` (``issuer`` for trust records), written as the 64-hex public
key. Key files are the CLI's: ``{"public_key": hex, "secret_key": hex}``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from .canonical import record_id
from .errors import ValidationError
from .records import Record, Trust

__all__ = ["SigningKey", "now_ms", "sign", "verify"]

R = TypeVar("R", bound=Record)


def now_ms() -> int:
    """The current wall-clock time in ms since the Unix epoch."""
    return time.time_ns() // 1_000_000


class SigningKey:
    """An Ed25519 secret key that signs records.

    Create one with :meth:`generate`, :meth:`from_hex` (the 32-byte secret seed
    as 64 hex characters) or :meth:`load` (a key file written by
    ``stemedb keygen``). The secret is never part of ``repr``.
    """

    __slots__ = ("_key", "public_key")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        """Wrap a ``cryptography`` Ed25519 private key."""
        self._key = key
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.public_key: str = raw.hex()
        """The public key as 64 lowercase hex characters (the ``agent`` of signed records)."""

    @classmethod
    def generate(cls) -> SigningKey:
        """A new random key from the OS random source."""
        return cls(Ed25519PrivateKey.from_private_bytes(os.urandom(32)))

    @classmethod
    def from_hex(cls, secret_hex: str) -> SigningKey:
        """A key from its 32-byte secret seed written as 64 hex characters."""
        try:
            seed = bytes.fromhex(secret_hex)
        except ValueError as e:
            raise ValidationError("invalid_hex", "secret key is not hex", "secret_key") from e
        if len(seed) != 32:
            raise ValidationError(
                "invalid_hex", "secret key must be 64 hex characters", "secret_key"
            )
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SigningKey:
        """Read a key file ``{"public_key": hex, "secret_key": hex}`` (as written by the CLI)."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        secret = data.get("secret_key") if isinstance(data, dict) else None
        if not isinstance(secret, str):
            raise ValidationError("missing_field", f"{path} has no secret_key", "secret_key")
        key = cls.from_hex(secret)
        public = data.get("public_key")
        if isinstance(public, str) and public.lower() != key.public_key:
            raise ValidationError(
                "invalid_value", f"{path}: public_key does not match secret_key", "public_key"
            )
        return key

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write a new key file with mode 0600 (refuses to overwrite an existing file)."""
        body = json.dumps({"public_key": self.public_key, "secret_key": self.secret_hex()})
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(body + "\n")

    def secret_hex(self) -> str:
        """The 32-byte secret seed as 64 hex characters. Keep it secret."""
        raw = self._key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return raw.hex()

    def sign_id(self, id_hex: str) -> str:
        """Sign the 32 raw bytes of a record id; returns the signature as 128 hex characters."""
        return self._key.sign(bytes.fromhex(id_hex)).hex()

    def __repr__(self) -> str:
        """Show the public key only."""
        return f"SigningKey(public_key={self.public_key!r})"


def sign(record: R, key: SigningKey) -> R:
    """Return a signed copy of ``record``.

    The signer field (``agent``, or ``issuer`` for trust) is set to the key's
    public key; a different value already there is a
    :class:`~stemedb.errors.ValidationError`. A missing ``timestamp`` is set to now,
    because the server cannot assign one without changing the signed id.
    """
    field = "issuer" if isinstance(record, Trust) else "agent"
    current = record.signer
    replaceable = current == "" or (isinstance(record, Trust) and current == "admin")
    if not replaceable and current.lower() != key.public_key:
        raise ValidationError(
            "invalid_value",
            f"must be the signing key's public key {key.public_key} (or be omitted)",
            field,
        )
    changes: dict[str, object] = {field: key.public_key, "signature": None}
    if record.timestamp is None:
        changes["timestamp"] = now_ms()
    unsigned = dataclasses.replace(record, **changes)  # type: ignore[arg-type]
    return dataclasses.replace(unsigned, signature=key.sign_id(record_id(unsigned)))


def verify(record: Record) -> bool:
    """Whether the record carries a signature that verifies against its signer over its id."""
    if record.signature is None:
        return False
    try:
        public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(record.signer))
        public.verify(bytes.fromhex(record.signature), bytes.fromhex(record_id(record)))
    except (ValueError, InvalidSignature, ValidationError):
        return False
    return True
