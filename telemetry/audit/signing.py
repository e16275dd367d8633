"""Ed25519 keys of the checkpoints: made at first use (mode 0600), identified by the first 16
hex digits of the SHA-256 of the raw public key; a checkpoint signs the ASCII hex hash."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The private key in ``path`` (PEM, PKCS#8), generated and written with mode 0600 if missing."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path}: not an Ed25519 private key")
        return key
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    return key


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_public(key)).hexdigest()[:16]


def public_b64(key: Ed25519PublicKey) -> str:
    return base64.b64encode(raw_public(key)).decode("ascii")


def public_from_b64(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))


def sign(key: Ed25519PrivateKey, signed_hash: str) -> str:
    return base64.b64encode(key.sign(signed_hash.encode("ascii"))).decode("ascii")


class KeyRing:
    """Public keys by id: the signature check of :func:`telemetry.audit.chain.check_chain`."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey]) -> None:
        self._keys = dict(keys)

    def __call__(self, signed_hash: str, signature: str, kid: str) -> str | None:
        key = self._keys.get(kid)
        if key is None:
            return f"missing key: no public key with id {kid!r}"
        try:
            key.verify(base64.b64decode(signature, validate=True), signed_hash.encode("ascii"))
        except (InvalidSignature, binascii.Error, ValueError):
            return f"bad signature (key {kid})"
        return None
