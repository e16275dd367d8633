"""Writing .tlog files for tests and benchmarks with pymavlink's own encoder."""

from __future__ import annotations

import struct
from pathlib import Path

from drones.mavlink import mavutil


def write_tlog(path: Path, sysid: int, start_s: float, seconds: int, rate_hz: int = 10) -> int:
    """A vehicle flying north for ``seconds``: HEARTBEAT at 1 Hz, GLOBAL_POSITION_INT and
    VFR_HUD at ``rate_hz``, a STATUSTEXT and a MISSION_ITEM_REACHED. Returns the message count."""
    m = mavutil().mavlink
    mav = m.MAVLink(None, srcSystem=sysid, srcComponent=1)
    n = 0
    with path.open("wb") as f:

        def put(t: float, msg: object) -> None:
            nonlocal n
            f.write(struct.pack(">Q", int(t * 1e6)) + msg.pack(mav))  # type: ignore[attr-defined]
            n += 1

        for i in range(seconds * rate_hz):
            t = start_s + i / rate_hz
            if i % rate_hz == 0:
                base = m.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED | m.MAV_MODE_FLAG_SAFETY_ARMED
                kind, autopilot = m.MAV_TYPE_QUADROTOR, m.MAV_AUTOPILOT_ARDUPILOTMEGA
                put(t, m.MAVLink_heartbeat_message(kind, autopilot, base, 3, m.MAV_STATE_ACTIVE, 3))
            lat = int((29.87 + i * 1e-5) * 1e7)
            put(
                t + 0.001, m.MAVLink_global_position_int_message(i, lat, 1215400000, 30000, 25000, 0, 0, 0, 0)
            )
            put(t + 0.002, m.MAVLink_vfr_hud_message(5.0, 5.0, 0, 40, 30.0, 0.0))
        put(start_s + seconds, m.MAVLink_statustext_message(6, b"Mission: 3 WP".ljust(50, b"\0")))
        put(start_s + seconds + 0.001, m.MAVLink_mission_item_reached_message(3))
    return n


def write_bench_tlog(path: Path, sysid: int, start_s: float, seconds: int) -> int:
    """An ArduPlane on the bench, as real logs of one look: no GPS fix (GPS_RAW_INT fix_type 1,
    0 satellites) and GLOBAL_POSITION_INT at latitude 0, longitude 0 (the EKF's origin before a
    fix), 1 Hz heartbeats and positions. Returns the message count."""
    m = mavutil().mavlink
    mav = m.MAVLink(None, srcSystem=sysid, srcComponent=1)
    n = 0
    with path.open("wb") as f:
        for i in range(seconds):
            t = start_s + i
            msgs = [
                m.MAVLink_heartbeat_message(
                    m.MAV_TYPE_FIXED_WING, m.MAV_AUTOPILOT_ARDUPILOTMEGA, m.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED,
                    0, m.MAV_STATE_STANDBY, 3,
                ),
                m.MAVLink_gps_raw_int_message(int(t * 1e6), 1, 0, 0, 0, 65535, 65535, 0, 0, 0),
                m.MAVLink_global_position_int_message(i * 1000, 0, 0, 0, 0, 0, 0, 0, 65535),
            ]  # fmt: skip
            for k, msg in enumerate(msgs):
                f.write(struct.pack(">Q", int((t + k / 1000) * 1e6)) + msg.pack(mav))
                n += 1
    return n
