"""The durable spool: an append-only, checksummed segment log of batches that the store could
not take. Appends are fsynced before they return (so an MQTT ack may follow); replay reads the
oldest batch first; a segment is deleted once all its batches are in the store. A crash during
replay replays the segment again, which idempotent storage makes harmless.

Record: ``length u32 | count u32 | crc32 u32`` then ``length`` bytes of JSON (orjson) holding
the points. On open, a record whose header or checksum does not match (a torn write at the
tail) is cut off with everything after it, and said in the log.

One process per folder: :meth:`Spool.open` takes an exclusive ``flock`` on ``spool.lock`` (with
the holder's pid in it) until :meth:`Spool.close`; a second opener gets :class:`SpoolLocked`.
The lock is the kernel's, so a crashed holder releases it.

Threads: one thread at a time appends, peeks and consumes (the writer's I/O thread); the totals
(:attr:`Spool.points`, :attr:`Spool.bytes`, :attr:`Spool.empty`) are snapshots kept under a lock,
safe to read from any thread (the event loop reads them while the I/O thread appends).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import struct
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

import orjson

from telemetry.errors import ConfigError
from telemetry.records import Point

log = logging.getLogger(__name__)
_HEADER = struct.Struct("<III")
_SEGMENT_PREFIX = "seg-"
LOCK_NAME = "spool.lock"


class SpoolFull(Exception):  # noqa: N818 - a state, not an error of the caller
    """The spool has no room (``max_bytes`` reached, or the disk is full)."""


class SpoolLocked(ConfigError):  # noqa: N818 - a state, like SpoolFull
    """Another process (or another spool in this one) holds the folder."""

    def __init__(self, directory: Path, holder: str) -> None:
        who = f"pid {holder}" if holder.isdigit() else "pid unknown"
        super().__init__(
            [
                (
                    "spool.path",
                    f"{directory} is in use by another process ({who}): one process per spool "
                    "folder (give each its own [spool] path)",
                )
            ]
        )


def _lock(directory: Path) -> int:
    """An exclusive, non-blocking ``flock`` on the folder's lock file; returns its descriptor."""
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        os.close(fd)
        raise SpoolLocked(directory, holder) from None
    except OSError:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def check_unlocked(directory: Path) -> None:
    """Raise :class:`SpoolLocked` when another process holds ``directory`` now (a check before
    serving, so that ``serve`` exits 2 instead of failing inside its lifespan). Nothing is
    created when the folder does not exist."""
    if (directory / LOCK_NAME).exists():
        os.close(_lock(directory))


def _write_failure(directory: Path, exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return f"no space left for the spool in {directory} ({exc.strerror})"
    return f"cannot write the spool in {directory}: {exc}"


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    segment: int
    end_offset: int  # where the next record of the segment starts
    points: tuple[Point, ...]


def _encode(points: list[Point] | tuple[Point, ...]) -> bytes:
    return orjson.dumps([[p.measurement, p.tags, p.fields, p.time_ms] for p in points])


def _decode(data: bytes) -> tuple[Point, ...]:
    return tuple(
        Point(m, tuple((k, v) for k, v in tags), tuple((k, v) for k, v in fields), int(t))
        for m, tags, fields, t in orjson.loads(data)
    )


def _write_record(path: Path, size: int, record: bytes) -> None:
    with path.open("ab") as f:
        if f.tell() != size:  # bytes of an earlier failed append that could not be cut
            f.truncate(size)
        f.write(record)
        f.flush()
        os.fsync(f.fileno())


def _roll_back(path: Path, size: int, new_segment: bool) -> None:
    """Cut what a failed append wrote, so that no torn record stays in the log. A failure
    here is harmless: the next append cuts first (``_write_record``), and so does ``Spool.open``."""
    try:
        if new_segment:
            path.unlink(missing_ok=True)
        elif path.stat().st_size != size:
            os.truncate(path, size)
    except OSError as exc:
        log.warning("spool: could not yet cut a failed append in %s: %s", path, exc)


class Spool:
    def __init__(self, directory: Path, max_bytes: int, segment_bytes: int = 64 << 20) -> None:
        self._dir = directory
        self._max = max_bytes
        self._segment_bytes = segment_bytes
        self._segments: list[int] = []  # ids, oldest first
        self._sizes: dict[int, int] = {}
        self._counts: dict[int, int] = {}  # points per segment not yet replayed
        self._read_at: tuple[int, int] = (0, 0)  # (segment, offset) of the next batch to replay
        self.truncated_bytes = 0
        self._totals_lock = threading.Lock()
        self._totals = (0, 0)  # (points, bytes): a snapshot, replaced under the lock
        self._lock_fd: int | None = None

    # --- opening ---------------------------------------------------------------------------
    def open(self) -> None:
        """Lock the folder (:class:`SpoolLocked` when another holds it), then validate it."""
        self._dir.mkdir(parents=True, exist_ok=True)
        self._lock_fd = _lock(self._dir)
        ids = sorted(
            int(p.name[len(_SEGMENT_PREFIX) : -4]) for p in self._dir.glob(f"{_SEGMENT_PREFIX}*.log")
        )
        for sid in ids:
            size, count = self._scan(sid)
            if size == 0:
                self._path(sid).unlink()
                continue
            self._segments.append(sid)
            self._sizes[sid] = size
            self._counts[sid] = count
        self._recount()
        if self._segments:
            self._read_at = (self._segments[0], 0)
            log.warning("spool holds %d points in %d segments: replaying", self.points, len(self._segments))

    def close(self) -> None:
        """Release the folder (what it holds stays for the next opener)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    def _scan(self, sid: int) -> tuple[int, int]:
        """Validate a segment; cut a torn or corrupt tail. Returns (good bytes, points)."""
        path = self._path(sid)
        data = path.read_bytes()
        offset = count = 0
        while offset + _HEADER.size <= len(data):
            length, n, crc = _HEADER.unpack_from(data, offset)
            body = data[offset + _HEADER.size : offset + _HEADER.size + length]
            if len(body) != length or zlib.crc32(body) != crc:
                break
            offset += _HEADER.size + length
            count += n
        if offset < len(data):
            self.truncated_bytes += len(data) - offset
            log.warning(
                "spool segment %s: cut %d bytes of a torn or corrupt tail", path.name, len(data) - offset
            )
            with path.open("r+b") as f:
                f.truncate(offset)
                os.fsync(f.fileno())
        return offset, count

    def _path(self, sid: int) -> Path:
        return self._dir / f"{_SEGMENT_PREFIX}{sid:012d}.log"

    # --- state: snapshots, readable from any thread ------------------------------------------
    def _recount(self) -> None:
        """Called by the I/O thread after each change of the segment tables."""
        totals = (sum(self._counts.values()), sum(self._sizes.values()))
        with self._totals_lock:
            self._totals = totals

    @property
    def bytes(self) -> int:
        with self._totals_lock:
            return self._totals[1]

    @property
    def points(self) -> int:
        with self._totals_lock:
            return self._totals[0]

    @property
    def empty(self) -> bool:
        return self.bytes == 0  # no segment left (each holds at least one record)

    # --- append and replay -----------------------------------------------------------------
    def append(self, points: list[Point]) -> None:
        """Durably append one batch, or raise :class:`SpoolFull` leaving the spool as it was."""
        body = _encode(points)
        record = _HEADER.pack(len(body), len(points), zlib.crc32(body)) + body
        if self.bytes + len(record) > self._max:
            raise SpoolFull(f"spool at {self.bytes} of {self._max} bytes")
        new_segment = (
            not self._segments or self._sizes[self._segments[-1]] + len(record) > self._segment_bytes
        )
        sid = (self._segments[-1] + 1 if self._segments else 1) if new_segment else self._segments[-1]
        size = 0 if new_segment else self._sizes[sid]
        try:
            _write_record(self._path(sid), size, record)
        except OSError as exc:  # ENOSPC and friends: hold back instead of losing anything
            _roll_back(self._path(sid), size, new_segment)
            raise SpoolFull(_write_failure(self._dir, exc)) from exc
        if new_segment:
            self._segments.append(sid)
            self._sizes[sid] = 0
            self._counts[sid] = 0
            if len(self._segments) == 1:
                self._read_at = (sid, 0)
        self._sizes[sid] += len(record)
        self._counts[sid] += len(points)
        self._recount()

    def peek(self) -> SpooledBatch | None:
        """The oldest batch not yet replayed (None when the spool is empty)."""
        if not self._segments:
            return None
        sid, offset = self._read_at
        with self._path(sid).open("rb") as f:
            f.seek(offset)
            header = f.read(_HEADER.size)
            length, _n, _crc = _HEADER.unpack(header)
            body = f.read(length)
        return SpooledBatch(sid, offset + _HEADER.size + length, _decode(body))

    def consume(self, batch: SpooledBatch) -> None:
        """Mark ``batch`` as written to the store; delete its segment when it was the last."""
        self._counts[batch.segment] -= len(batch.points)
        if batch.end_offset < self._sizes[batch.segment]:
            self._read_at = (batch.segment, batch.end_offset)
        else:
            self._path(batch.segment).unlink(missing_ok=True)
            self._segments.remove(batch.segment)
            del self._sizes[batch.segment], self._counts[batch.segment]
            if self._segments:
                self._read_at = (self._segments[0], 0)
        self._recount()
