"""Reading recorded MAVLink logs (.tlog: each packet after an 8-byte big-endian microsecond
timestamp) into records with their original timestamps."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from drones.convert import convert
from drones.mavlink import mavutil
from telemetry.records import Record


def read_tlog(
    path: Path,
    *,
    chunk: int = 2000,
    progress: Callable[[int, int], None] | None = None,
    stop: threading.Event | None = None,
) -> Iterator[tuple[Record, ...]]:
    """Yield the records of a .tlog in chunks, reporting (bytes read, bytes total) as it goes."""
    size = os.path.getsize(path)
    log = mavutil().mavlink_connection(str(path), robust_parsing=True)
    try:
        batch: list[Record] = []
        while stop is None or not stop.is_set():
            msg = log.recv_match()
            if msg is None:
                break
            if msg.get_type() == "BAD_DATA":
                continue
            record = convert(msg, int(msg._timestamp * 1000))
            if record is not None:
                batch.append(record)
            if len(batch) >= chunk:
                yield tuple(batch)
                batch = []
                if progress is not None:
                    progress(log.f.tell(), size)
        if batch:
            yield tuple(batch)
        if progress is not None:
            progress(size, size)
    finally:
        log.close()
