"""A mission's recording resumed after a crash (docs/missions.md, flight evidence): a packet torn
by the crash is cut, the recording goes on in the same file, its digest covers all of it, and its
maximum age counts from its first packet. The end-to-end case is
tests/test_sigkill_durability.py::test_sigkill_during_a_running_mission."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from drones.flight_log import FlightRecorder
from drones.mavlink import mavutil


def _tear(path: Path, tail: bytes) -> None:
    with path.open("ab") as f:
        f.write(tail)


def _heartbeat(seq: int) -> bytes:
    m = mavutil().mavlink
    mav = m.MAVLink(None, srcSystem=5)
    mav.seq = seq
    packet: bytes = m.MAVLink_heartbeat_message(2, 3, 0, 0, 4, 3).pack(mav)
    return packet


def test_a_resumed_recording_cuts_a_torn_packet_and_appends_to_the_same_file(tmp_path: Path) -> None:
    rec = FlightRecorder(tmp_path)
    rec.start(5, "m")
    first_us = time.time_ns() // 1000 - 600_000_000  # ten minutes ago
    rec.write(5, _heartbeat(0), first_us)
    rec.write(5, _heartbeat(1), first_us + 1)
    path = rec.path_of("m")
    whole = path.read_bytes()
    _tear(path, (first_us + 2).to_bytes(8, "big") + _heartbeat(2)[:7])  # the crash: no close, half a packet

    again = FlightRecorder(tmp_path, max_s=900.0)
    assert again.resume(5, "m") == 8 + 7
    assert path.read_bytes() == whole
    again.write(5, _heartbeat(3), first_us + 3)
    assert again.expired() == []
    other = FlightRecorder(tmp_path)
    assert other.resume(6, "m") == 0  # whole: nothing cut
    other.close()
    done = again.finish(5)
    assert done is not None
    body = path.read_bytes()
    assert (done.packets, done.bytes, done.sha256) == (3, len(body), hashlib.sha256(body).hexdigest())
    assert body.startswith(whole)


def test_a_resumed_recording_keeps_its_age(tmp_path: Path) -> None:
    rec = FlightRecorder(tmp_path)
    rec.start(5, "m")
    rec.write(5, _heartbeat(0), time.time_ns() // 1000 - 600_000_000)
    rec.finish(5)
    again = FlightRecorder(tmp_path, max_s=300.0)  # recorded for ten minutes already: expired
    again.resume(5, "m")
    assert again.expired() == [5]
    fresh = FlightRecorder(tmp_path / "new")
    assert fresh.resume(7, "n") == 0  # no file yet: a new recording
    assert fresh.recording(7) == "n"
