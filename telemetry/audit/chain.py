"""The chain's rules, pure: canonical JSON, record hashes and the check of a sequence of records
(docs/audit.md gives the exact bytes so that a third party can re-implement the check)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from telemetry.instants import epoch_ms

GENESIS = "0" * 64
FIELDS = ("seq", "time", "actor", "action", "subject", "data", "prev")
CHECKPOINT = "checkpoint"
TRUNCATED = "audit_truncated"


def canonical(value: object) -> bytes:
    """UTF-8 JSON, keys sorted, separators ``,`` and ``:``, no ASCII escaping, no NaN."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 hex of the canonical JSON of the record's fields other than ``hash``."""
    return hashlib.sha256(canonical({k: record[k] for k in FIELDS})).hexdigest()


def rfc3339_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def time_ms(text: str) -> int:
    """Epoch milliseconds of a record's ``time``."""
    return epoch_ms(datetime.fromisoformat(text))


def make_record(
    seq: int, ms: int, actor: str, action: str, subject: str, data: Mapping[str, object], prev: str
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "seq": seq, "time": rfc3339_ms(ms), "actor": actor, "action": action, "subject": subject,
        "data": json.loads(canonical(dict(data))), "prev": prev,
    }  # fmt: skip
    record["hash"] = record_hash(record)
    return record


@dataclass(frozen=True, slots=True)
class Broken:
    """The first record that breaks the chain, and why."""

    seq: int | None
    reason: str

    def __str__(self) -> str:
        return f"record seq {self.seq}: {self.reason}" if self.seq is not None else self.reason


# (signed hash, base64 signature, key id) -> None when it holds, else the reason
SignatureCheck = Callable[[str, str, str], str | None]


def _shape(record: object) -> str | None:
    if not isinstance(record, dict) or set(record) != {*FIELDS, "hash"}:
        return "not a record (expected exactly seq, time, actor, action, subject, data, prev, hash)"
    if not isinstance(record["seq"], int) or not isinstance(record["data"], dict):
        return "seq must be an integer and data an object"
    if not all(isinstance(record[k], str) for k in ("time", "actor", "action", "subject", "prev", "hash")):
        return "time, actor, action, subject, prev and hash must be strings"
    return None


def check_chain(records: Iterable[object], verify: SignatureCheck) -> tuple[int, Broken | None]:
    """Check hashes, seq continuity, prev links and every checkpoint's signature. Returns the
    number of records checked and the first break (None when the chain holds). A chain that does
    not start at seq 0 (an export with ``--from``) is anchored at its first record's ``prev``."""
    expected_seq: int | None = None
    prev = GENESIS
    count = 0
    for index, record in enumerate(records):
        problem = _shape(record)
        seq = record.get("seq") if isinstance(record, dict) else None
        label = seq if isinstance(seq, int) else None
        if problem:
            return count, Broken(label, f"line {index + 1}: {problem}")
        assert isinstance(record, dict)  # _shape checked it
        if expected_seq is None:
            expected_seq, prev = record["seq"], (GENESIS if record["seq"] == 0 else record["prev"])
        if record["seq"] != expected_seq:
            return count, Broken(label, f"gap in seq: expected {expected_seq}, found {record['seq']}")
        if record["prev"] != prev:
            return count, Broken(label, "prev mismatch: it is not the previous record's hash")
        try:
            actual = record_hash(record)
        except ValueError as exc:
            return count, Broken(label, f"cannot be hashed: {exc}")
        if actual != record["hash"]:
            return count, Broken(label, "hash mismatch: the record was altered")
        if record["action"] == CHECKPOINT:
            reason = _checkpoint(record, verify)
            if reason:
                return count, Broken(label, reason)
        prev, expected_seq = record["hash"], expected_seq + 1
        count += 1
    return count, None


def _checkpoint(record: Mapping[str, Any], verify: SignatureCheck) -> str | None:
    data = record["data"]
    signs, signature, key_id = data.get("signs"), data.get("signature"), data.get("key_id")
    if not (isinstance(signs, str) and isinstance(signature, str) and isinstance(key_id, str)):
        return "bad checkpoint: data needs signs, signature and key_id"
    if signs != record["prev"]:
        return "bad checkpoint: it does not sign the previous record's hash"
    return verify(signs, signature, key_id)
