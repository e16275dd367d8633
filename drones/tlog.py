"""Reading recorded MAVLink logs (.tlog: each packet after an 8-byte big-endian microsecond
timestamp) into records with their original timestamps.

The file is walked directly (timestamp, packet length from the MAVLink header) and the packets
of the stored message types are unpacked and converted without pymavlink's message objects
(drones/wire.py, which behaves as pymavlink's ``MAVLink.decode`` and :func:`convert`):
pymavlink's log reader (``mavlogfile``) costs several times more per message, and ``decode``
alone several times more than the rest (bench/replay.py). A message :func:`convert` refuses (an
impossible value, a timestamp outside 2000..2100) is yielded as a dead letter; a packet that
fails to decode (bad CRC) or a byte out of sync is reported to ``on_bad``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from drones.wire import REVERSED, WireDecoder
from telemetry.records import DeadLetter, Decoded, Record

_CHUNK_BYTES = 1 << 20


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
    decoder = WireDecoder(on_bad=on_bad)
    size = path.stat().st_size
    records: list[Record] = []
    letters: list[DeadLetter] = []
    done = 0
    with path.open("rb") as f:
        buf = b""
        while stop is None or not stop.is_set():
            more = f.read(_CHUNK_BYTES)
            buf += more
            rbuf = buf.translate(REVERSED)  # for the CRCs (drones/wire.py)
            i = 0
            while True:
                i = decoder.decode(buf, rbuf, i, records, letters, chunk)
                if len(records) + len(letters) < chunk:
                    break  # the buffer's whole packets are done
                yield Decoded(tuple(records), tuple(letters))
                records, letters = [], []
            done += i
            buf = buf[i:]
            if progress is not None:
                progress(done, size)
            if not more:
                break
    if records or letters:
        yield Decoded(tuple(records), tuple(letters))
    if progress is not None:
        progress(size, size)
