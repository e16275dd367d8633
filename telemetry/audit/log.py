"""The audit log's file: JSON lines, each append written and fsynced before :meth:`record`
returns; the chain continues across restarts; a torn last line (a crash mid-write) is reported,
cut and the cut recorded. Signed checkpoints every ``checkpoint_every`` records, when an hour has
passed since the last one at the next record, and at :meth:`close`."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from telemetry.audit.chain import CHECKPOINT, GENESIS, TRUNCATED, make_record, record_hash, time_ms
from telemetry.audit.signing import key_id, load_or_create_key, public_b64, sign
from telemetry.errors import TelemetryError
from telemetry.instants import now_ms

log = logging.getLogger(__name__)
SERVICE = "service"  # the actor of what the service records by itself
_BLOCK = 65536


def iter_records(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a log or export file in order (an export's public-key line is skipped;
    a whole line that is not JSON is yielded as ``{"invalid": line}`` for the check to report)."""
    with path.open("rb") as f:
        for raw in f:
            try:
                item = json.loads(raw)
            except ValueError:
                if raw.endswith(b"\n"):
                    yield {"invalid": raw.decode("utf-8", "replace")[:80]}
                continue  # a last line still being written (or torn: cut at the next start)
            if isinstance(item, dict) and "public_key" in item and "seq" not in item:
                continue
            yield item


def select(
    path: Path,
    from_ms: int | None = None,
    to_ms: int | None = None,
    actor: str | None = None,
    action: str | None = None,
) -> Iterator[dict[str, Any]]:
    """The records of ``path`` with ``from_ms <= time < to_ms`` and the given actor and action."""
    if not path.exists():
        return
    for rec in iter_records(path):
        when = rec.get("time")
        if not isinstance(when, str):
            continue
        ms = time_ms(when)
        if (from_ms is not None and ms < from_ms) or (to_ms is not None and ms >= to_ms):
            continue
        if (actor is None or rec.get("actor") == actor) and (action is None or rec.get("action") == action):
            yield rec


def _tail(fd: int, size: int) -> tuple[int, bytes]:
    """The offset and bytes of the file's last line (with its newline, if it has one)."""
    start, buf = size, b""
    while start > 0:
        step = min(_BLOCK, start)
        start -= step
        buf = os.pread(fd, step, start) + buf
        cut = buf.rfind(b"\n", 0, len(buf) - 1)  # a final newline ends the last line: look before it
        if cut >= 0:
            return start + cut + 1, buf[cut + 1 :]
    return 0, buf


class AuditError(TelemetryError):
    """The audit log cannot be opened or written."""


class AuditLog:
    """Thread-safe appends to one file. Opens (and reads the last record) in :meth:`open`, never
    at import or construction time."""

    def __init__(
        self,
        path: Path,
        key_file: Path,
        *,
        checkpoint_every: int = 100,
        checkpoint_interval_s: float = 3600.0,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.path, self.key_file = path, key_file
        self._every, self._interval_ms = checkpoint_every, int(checkpoint_interval_s * 1000)
        self._clock = clock
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._seq, self._prev = 0, GENESIS
        self._since_checkpoint, self._checkpoint_ms = 0, 0

    def open(self) -> AuditLog:
        try:
            self._key = load_or_create_key(self.key_file)
        except ValueError as exc:  # not a PEM Ed25519 key
            raise AuditError(f"{self.key_file}: {exc}") from exc
        self.key_id = key_id(self._key.public_key())
        self.public_key = public_b64(self._key.public_key())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        torn: tuple[int, int] | None = None
        try:
            try:  # one writer: a second service on the same file would fork the chain
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise AuditError(f"{self.path}: another process writes this audit log") from None
            size = os.fstat(fd).st_size
            offset, last = _tail(fd, size)
            if last and not self._take_last(last):
                torn = (offset, size - offset)
                os.ftruncate(fd, offset)
                os.fsync(fd)
                if offset and not self._take_last(_tail(fd, offset)[1]):
                    raise AuditError(f"{self.path}: the record before the torn one is not a record either")
        except Exception:
            os.close(fd)
            raise
        self._fd = fd
        self._checkpoint_ms = self._clock()
        if torn:
            where, removed = torn
            log.warning("audit log %s: torn last record cut (%d bytes at %d)", self.path, removed, where)
            self.record(SERVICE, TRUNCATED, str(self.path), {"offset": torn[0], "bytes_removed": torn[1]})
        return self

    def _take_last(self, line: bytes) -> bool:
        """Continue the chain from this line; False when it is torn (no newline, not a record).
        A whole record whose hash is wrong is continued from (and left for verify to name)."""
        if not line.endswith(b"\n"):
            return False
        try:
            rec = json.loads(line)
            seq, digest = rec["seq"], rec["hash"]
        except (ValueError, KeyError, TypeError):
            return False
        if not isinstance(seq, int) or not isinstance(digest, str):
            return False
        try:
            if record_hash(rec) != digest:
                log.warning("audit log %s: last record (seq %d) fails its hash", self.path, seq)
        except (KeyError, TypeError, ValueError):
            log.warning("audit log %s: last record (seq %d) is malformed", self.path, seq)
        self._seq, self._prev = seq + 1, digest
        return True

    def record(self, actor: str, action: str, subject: str, data: Mapping[str, object]) -> None:
        """Append one record; it is on disk when this returns."""
        with self._lock:
            self._append(actor, action, subject, data)
            self._since_checkpoint += 1
            due = self._clock() - self._checkpoint_ms >= self._interval_ms
            if self._since_checkpoint >= self._every or due:
                self._checkpoint()

    def checkpoint(self) -> None:
        with self._lock:
            self._checkpoint()

    def close(self) -> None:
        """A last checkpoint (when records came since the previous one), then close the file."""
        with self._lock:
            if self._fd is None:
                return
            if self._since_checkpoint:
                self._checkpoint()
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> AuditLog:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _checkpoint(self) -> None:
        data = {"signs": self._prev, "signature": sign(self._key, self._prev), "key_id": self.key_id}
        self._append(SERVICE, CHECKPOINT, str(self.path), data)
        self._since_checkpoint, self._checkpoint_ms = 0, self._clock()

    def _append(self, actor: str, action: str, subject: str, data: Mapping[str, object]) -> None:
        if self._fd is None:
            raise AuditError(f"{self.path}: the audit log is not open")
        rec = make_record(self._seq, self._clock(), actor, action, subject, data, self._prev)
        line = (json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        view = memoryview(line)
        while view:  # O_APPEND: each write lands at the end
            view = view[os.write(self._fd, view) :]
        os.fsync(self._fd)
        self._seq, self._prev = self._seq + 1, rec["hash"]
