"""Reading recorded MAVLink logs (.tlog: each packet after an 8-byte big-endian microsecond
timestamp) into records with their original timestamps.

The file is walked directly (timestamp, packet length from the MAVLink header) and each packet
is decoded with pymavlink's ``MAVLink.decode``: pymavlink's log reader (``mavlogfile``) costs
several times more per message (bench/replay.py). A message :func:`convert` refuses (an
impossible value, a timestamp outside 2000..2100) is yielded as a dead letter.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from drones.convert import StreamFilter, convert, dead_letter
from drones.mavlink import mavutil
from telemetry.errors import DecodeError
from telemetry.instants import now_ms
from telemetry.records import DeadLetter, Decoded, Record

_CHUNK_BYTES = 1 << 20
_V2, _V1 = 0xFD, 0xFE


def _packet_size(buf: bytes | memoryview, at: int) -> int | None:
    """Bytes of the MAVLink packet starting at ``at`` (None if the magic byte is wrong; 0 when
    the buffer ends before its header says how long it is)."""
    magic, length = buf[at], buf[at + 1]
    if magic == _V2:
        if at + 2 >= len(buf):
            return 0
        return 12 + length + (13 if buf[at + 2] & 1 else 0)
    if magic == _V1:
        return 8 + length
    return None


def read_tlog(
    path: Path,
    *,
    chunk: int = 2000,
    progress: Callable[[int, int], None] | None = None,
    stop: threading.Event | None = None,
    on_bad: Callable[[], None] | None = None,
) -> Iterator[Decoded]:
    """Yield the records (and dead letters) of a .tlog in chunks of about ``chunk``, reporting
    (bytes read, bytes total) as it goes."""
    m = mavutil().mavlink
    mav: Any = m.MAVLink(None)
    size = path.stat().st_size
    batch: list[Record] = []
    letters: list[DeadLetter] = []
    stream = StreamFilter()
    done = 0
    with path.open("rb") as f:
        buf = b""
        while stop is None or not stop.is_set():
            more = f.read(_CHUNK_BYTES)
            buf += more
            i = 0
            while i + 10 <= len(buf):
                packet_at = i + 8
                n = _packet_size(buf, packet_at)
                if n is None:  # lost sync: look for the next plausible record
                    i += 1
                    if on_bad is not None:
                        on_bad()
                    continue
                if n == 0 or packet_at + n > len(buf):
                    break
                time_ms = int.from_bytes(buf[i:packet_at], "big") // 1000
                try:
                    msg = mav.decode(bytearray(buf[packet_at : packet_at + n]))
                except (m.MAVError, ValueError, IndexError):
                    msg = None
                    if on_bad is not None:
                        on_bad()
                i = packet_at + n
                try:
                    record = convert(msg, time_ms) if msg is not None else None
                except DecodeError as err:
                    letters.append(dead_letter(msg, err, now_ms(), "replay"))
                    record = None
                record = stream.apply(record) if record is not None else None
                if record is not None:
                    batch.append(record)
                if len(batch) + len(letters) >= chunk:
                    yield Decoded(tuple(batch), tuple(letters))
                    batch, letters = [], []
            done += i
            buf = buf[i:]
            if progress is not None:
                progress(done, size)
            if not more:
                break
    if batch or letters:
        yield Decoded(tuple(batch), tuple(letters))
    if progress is not None:
        progress(size, size)
