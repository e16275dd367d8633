"""Flight evidence (docs/missions.md): the MAVLink stream of a mission's drone from upload to
landing, kept as ``<folder>/<mission id>.tlog`` in QGroundControl's format (each packet after its
receive time as 8-byte big-endian microseconds since the epoch). The collector's threads append;
the service starts, resumes (a mission still running after a restart: the same file, a packet
torn by the crash cut first) and finishes a recording. Thread-safe."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from drones.mavlink import mavutil

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FlightLog:
    mission_id: str
    drone: int
    path: Path
    sha256: str
    bytes: int
    packets: int


@dataclass
class _Recording:
    mission_id: str
    path: Path
    file: BinaryIO
    started_s: float
    packets: int = 0


class FlightRecorder:
    def __init__(self, folder: Path, max_s: float = 7200.0) -> None:
        self.folder = folder
        self.max_s = max_s
        self._lock = threading.Lock()
        self._open: dict[int, _Recording] = {}  # system id → its recording

    def path_of(self, mission_id: str) -> Path:
        return self.folder / f"{mission_id}.tlog"

    def start(self, sysid: int, mission_id: str) -> FlightLog | None:
        """Record the drone's packets for the mission (a new file); the drone's previous
        recording, finished first, is returned (or None)."""
        previous = self.finish(sysid)
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path_of(mission_id)
        f = path.open("wb")
        with self._lock:
            self._open[sysid] = _Recording(mission_id, path, f, time.monotonic())
        return previous

    def resume(self, sysid: int, mission_id: str) -> int:
        """Continue the mission's recording after a restart: a packet torn by the crash is cut
        (the file stays a valid .tlog), then packets are appended to the same file, whose digest
        at the finish covers all of it. Returns the bytes cut."""
        self.finish(sysid)
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path_of(mission_id)
        f = path.open("ab")
        try:
            complete, packets, first_us = _complete(path)
            cut = f.tell() - complete
            if cut:
                log.warning("flight log %s: %d bytes of a torn packet cut at %d", path, cut, complete)
                f.truncate(complete)
                f.flush()
                os.fsync(f.fileno())
        except OSError:
            f.close()
            raise
        age_s = max(0.0, time.time() - first_us / 1e6) if first_us is not None else 0.0
        with self._lock:  # its maximum age counts from the first packet, not from the restart
            self._open[sysid] = _Recording(mission_id, path, f, time.monotonic() - age_s, packets)
        return cut

    def write(self, sysid: int, packet: bytes, received_us: int) -> None:
        """Append one packet of the drone while it is recorded (flushed at once)."""
        with self._lock:
            rec = self._open.get(sysid)
            if rec is None:
                return
            try:
                rec.file.write(received_us.to_bytes(8, "big") + packet)
                rec.file.flush()
            except OSError as exc:  # a full disk must not take the link down (the collector's
                # loop reopens the link on OSError): this recording stops, the telemetry goes on
                log.warning("flight log %s stopped: %s", rec.path, exc)
                self._open.pop(sysid, None)
                with contextlib.suppress(OSError):
                    rec.file.close()
                return
            rec.packets += 1

    def recording(self, sysid: int) -> str | None:
        with self._lock:
            rec = self._open.get(sysid)
            return rec.mission_id if rec else None

    def expired(self) -> list[int]:
        """The drones recorded for longer than the maximum."""
        now = time.monotonic()
        with self._lock:
            return [s for s, r in self._open.items() if now - r.started_s >= self.max_s]

    def finish(self, sysid: int) -> FlightLog | None:
        """Close the drone's recording (fsynced) and describe it, or None when none is open."""
        with self._lock:
            rec = self._open.pop(sysid, None)
            if rec is None:
                return None
            rec.file.flush()
            os.fsync(rec.file.fileno())
            rec.file.close()
        digest = hashlib.sha256()
        size = 0
        with rec.path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
        return FlightLog(rec.mission_id, sysid, rec.path, digest.hexdigest(), size, rec.packets)

    def close(self) -> list[FlightLog]:
        """Finish every open recording (at shutdown)."""
        with self._lock:
            drones = list(self._open)
        return [log for s in drones if (log := self.finish(s)) is not None]


def _complete(path: Path) -> tuple[int, int, int | None]:
    """(bytes, packets, first timestamp in µs) of the longest prefix of whole records: an 8-byte
    timestamp and a MAVLink packet of the length its header gives that pymavlink decodes (CRC
    included); what follows is a tail torn by a crash."""
    m = mavutil().mavlink
    mav: Any = m.MAVLink(None)
    data = path.read_bytes()
    at, packets, first_us = 0, 0, None
    while at + 8 + 3 <= len(data):
        magic, length, incompat = data[at + 8], data[at + 9], data[at + 10]
        if magic == 0xFD:
            size = 12 + length + (13 if incompat & 1 else 0)
        elif magic == 0xFE:
            size = 8 + length
        else:
            break
        end = at + 8 + size
        if end > len(data):
            break
        try:
            mav.decode(bytearray(data[at + 8 : end]))
        except (m.MAVError, ValueError, IndexError, KeyError):
            if end == len(data):  # the last one, whole in length but not in content
                break
        if first_us is None:
            first_us = int.from_bytes(data[at : at + 8], "big")
        at, packets = end, packets + 1
    return at, packets, first_us
