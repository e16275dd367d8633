"""The .tlog reader's own MAVLink decoding (drones/wire.py) against the path it replaced:
pymavlink's ``MAVLink(None).decode`` of every packet and the converters as they were (a copy
below, the reference), over logs of every stored type with sentinels and impossible values,
MAVLink 1 and signed packets, types we do not store, unknown ids, corrupted bytes and cut tails:
the same stored points (and records that read the same), the same dead letters, the same count of
bad packets (issue 22)."""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Iterable
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest

import drones.tlog
from drones.convert import FIX_2D, convert
from drones.mavlink import mavutil
from drones.tlog import read_tlog
from drones.wire import x25
from telemetry.errors import DecodeError
from telemetry.points import Point
from telemetry.records import DeadLetter, DroneState, MissionEvent, Record
from tests.tlogs import write_bench_tlog, write_tlog

m = mavutil().mavlink
T0 = 1_795_564_800.0  # 2026-11-24, seconds
Outcome = tuple[list[Record], list[DeadLetter], int]


# ---- the reference: the converters and the reader loop before drones/wire.py ----------------


def _within(name: str, value: float, lo: float, hi: float) -> float:
    if not lo <= value <= hi:
        raise DecodeError("out_of_range", f"{name}={value} outside [{lo}, {hi}]")
    return value


def _pct(msg: Any) -> float | None:
    r = msg.battery_remaining
    return None if r < 0 else float(_within("battery_remaining", r, 0, 100))


def _some(s: DroneState) -> DroneState | None:
    return s if any(v is not None for v in s.to_point().fields) else None


def _degrees(names: tuple[str, str], lat: int, lon: int) -> tuple[float, float]:
    lat_deg = _within(names[0], lat, -900_000_000, 900_000_000) / 1e7
    return lat_deg, _within(names[1], lon, -1_800_000_000, 1_800_000_000) / 1e7


def _ref_convert(msg: Any, t: int, mission: str = "unassigned") -> Record | None:
    kind, s = msg.get_type(), msg.get_srcSystem()
    if kind not in REF_TYPES:
        return None
    if not 946_684_800_000 <= t < 4_102_444_800_000:
        raise DecodeError("bad_timestamp", f"time {t} ms is not between 2000 and 2100")
    if kind == "HEARTBEAT":
        if msg.autopilot == m.MAV_AUTOPILOT_INVALID or msg.type == m.MAV_TYPE_GCS:
            return None
        pilot = {m.MAV_AUTOPILOT_ARDUPILOTMEGA: "ardupilot", m.MAV_AUTOPILOT_PX4: "px4"}.get(
            msg.autopilot, "generic"
        )
        armed = bool(msg.base_mode & m.MAV_MODE_FLAG_SAFETY_ARMED)
        return DroneState(s, t, mode=mavutil().mode_string_v10(msg), armed=armed, autopilot=pilot)
    if kind == "HOME_POSITION":
        lat, lon = _degrees(("home latitude", "home longitude"), msg.latitude, msg.longitude)
        return DroneState(s, t, home_lat=lat, home_lon=lon, home_alt_msl_m=msg.altitude / 1000)
    if kind == "GLOBAL_POSITION_INT":
        lat, lon = _degrees(("lat", "lon"), msg.lat, msg.lon)
        hdg = None if msg.hdg == 65535 else _within("hdg", msg.hdg, 0, 35_999) / 100
        return DroneState(
            s,
            t,
            lat=lat,
            lon=lon,
            alt_msl_m=msg.alt / 1000,
            alt_rel_m=msg.relative_alt / 1000,
            heading_deg=hdg,
        )
    if kind == "SYS_STATUS":
        volts = None if msg.voltage_battery in (0, 65535) else msg.voltage_battery / 1000
        return _some(DroneState(s, t, voltage_v=volts, battery_pct=_pct(msg)))
    if kind == "BATTERY_STATUS":
        cells = [v for v in msg.voltages if v != 65535]
        return _some(DroneState(s, t, voltage_v=sum(cells) / 1000 if cells else None, battery_pct=_pct(msg)))
    if kind == "GPS_RAW_INT":
        sats = None if msg.satellites_visible == 255 else int(msg.satellites_visible)
        fix = int(_within("fix_type", msg.fix_type, 0, max(m.enums["GPS_FIX_TYPE"])))
        return DroneState(s, t, gps_fix=fix, satellites=sats)
    if kind == "VFR_HUD":
        gs = msg.groundspeed
        return None if math.isnan(gs) else DroneState(s, t, groundspeed_ms=_within("groundspeed", gs, 0, 1e4))
    if kind == "MISSION_CURRENT":
        state = int(getattr(msg, "mission_state", 0) or 0) or None
        return DroneState(s, t, mission_seq=int(msg.seq), mission_state=state)
    if kind == "STATUSTEXT":
        return MissionEvent(s, mission, t, "statustext", detail=msg.text.rstrip("\x00")[:200])
    return MissionEvent(s, mission, t, "item_reached", seq=int(msg.seq))


REF_TYPES = {
    "HEARTBEAT", "GLOBAL_POSITION_INT", "SYS_STATUS", "BATTERY_STATUS", "GPS_RAW_INT", "VFR_HUD",
    "MISSION_CURRENT", "STATUSTEXT", "MISSION_ITEM_REACHED", "HOME_POSITION",
}  # fmt: skip


class _RefStream:
    def __init__(self) -> None:
        self.last: dict[int, int] = {}
        self.fix: dict[int, int] = {}

    def apply(self, r: Record) -> Record | None:
        if isinstance(r, MissionEvent):
            if r.time_ms <= self.last.get(r.drone, -1):
                r = replace(r, time_ms=self.last[r.drone] + 1)
            self.last[r.drone] = r.time_ms
            return r
        assert isinstance(r, DroneState)
        if r.gps_fix is not None:
            self.fix[r.drone] = r.gps_fix
        if r.lat is None and r.lon is None:
            return r
        if self.fix.get(r.drone, FIX_2D) >= FIX_2D and not (r.lat == 0 and r.lon == 0):
            return r
        return _some(replace(r, lat=None, lon=None, alt_msl_m=None))


def reference(data: bytes) -> Outcome:
    """The records, dead letters and bad count of the old reader (pymavlink decode)."""
    mav, stream = m.MAVLink(None), _RefStream()
    records: list[Record] = []
    letters: list[DeadLetter] = []
    bad, i = 0, 0
    while i + 10 <= len(data):
        at = i + 8
        magic, length = data[at], data[at + 1]
        if magic not in (0xFD, 0xFE):
            i, bad = i + 1, bad + 1
            continue
        if magic == 0xFD and at + 2 >= len(data):
            break
        n = 12 + length + (13 if data[at + 2] & 1 else 0) if magic == 0xFD else 8 + length
        if at + n > len(data):
            break
        t = int.from_bytes(data[i:at], "big") // 1000
        i = at + n
        try:
            msg = mav.decode(bytearray(data[at:i]))
        except (m.MAVError, ValueError, IndexError):
            bad += 1
            continue
        try:
            record = _ref_convert(msg, t)
        except DecodeError as err:
            topic = f"mavlink/{msg.get_srcSystem()}/{msg.get_type()}"
            letters.append(DeadLetter(0, "replay", topic, bytes(msg.get_msgbuf()), err.reason, err.detail))
            continue
        record = stream.apply(record) if record is not None else None
        if record is not None:
            records.append(record)
    return records, letters, bad


def ours(path: Path, chunk: int = 2000) -> Outcome:
    bad = [0]

    def count() -> None:
        bad[0] += 1

    records: list[Record] = []
    letters: list[DeadLetter] = []
    for decoded in read_tlog(path, chunk=chunk, on_bad=count):
        assert 0 < len(decoded.records) + len(decoded.dead_letters) <= chunk
        records += decoded.records
        letters += (replace(d, received_ms=0) for d in decoded.dead_letters)
    return records, letters, bad[0]


def same(tmp_path: Path, data: bytes, chunk: int = 2000) -> Outcome:
    path = tmp_path / "t.tlog"
    path.write_bytes(data)
    expected = reference(data)
    got = ours(path, chunk)
    assert got[2] == expected[2], "bad packets"
    assert got[1] == expected[1], "dead letters"
    # what is stored: the same points (measurement, tags, fields in order, time), one per record
    assert [r.to_point() for r in got[0]] == [r.to_point() for r in expected[0]], "points"
    for r, e in zip(got[0], expected[0], strict=True):  # and the records read as the reference's
        assert isinstance(r, type(e)), (r, e)
        assert [getattr(r, f.name) for f in fields(e)] == [getattr(e, f.name) for f in fields(e)], r
    return got


# ---- logs -----------------------------------------------------------------------------------


def stamped(packets: Iterable[tuple[float, bytes]]) -> bytes:
    return b"".join(struct.pack(">Q", int(t * 1e6)) + p for t, p in packets)


def every_type(mav: Any, v1: bool = False) -> list[bytes]:
    """Packets of every stored type: plausible, sentinel and impossible values, and others."""
    nan, inf = float("nan"), float("inf")
    hb, ap, px4 = m.MAV_TYPE_QUADROTOR, m.MAV_AUTOPILOT_ARDUPILOTMEGA, m.MAV_AUTOPILOT_PX4
    armed = m.MAV_MODE_FLAG_SAFETY_ARMED | m.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
    v10 = [4100, 4100, 4100] + [65535] * 7
    msgs = [
        mav.heartbeat_encode(hb, ap, armed, 3, 4, 3),
        mav.heartbeat_encode(hb, px4, armed, 4 << 16 | 4 << 24, 4, 3),
        mav.heartbeat_encode(hb, ap, 0, 0, 3, 3), mav.heartbeat_encode(m.MAV_TYPE_GCS, ap, 0, 0, 0, 3),
        mav.heartbeat_encode(hb, m.MAV_AUTOPILOT_INVALID, 0, 0, 0, 3),
        mav.heartbeat_encode(99, 12, 0x81, 7, 0, 3),
        mav.gps_raw_int_encode(1, 3, 1, 2, 3, 4, 5, 6, 7, 12),
        mav.gps_raw_int_encode(1, 1, 0, 0, 0, 0, 0, 0, 0, 255),
        mav.gps_raw_int_encode(1, 200, 0, 0, 0, 0, 0, 0, 0, 3),
        mav.global_position_int_encode(1, 298_700_000, 1_215_400_000, 30_000, 25_000, 1, -2, 3, 9_000),
        mav.global_position_int_encode(2, 298_700_000, -1_215_400_000, -5, 0, 0, 0, 0, 65535),
        mav.global_position_int_encode(3, 2_140_000_000, 0, 0, 0, 0, 0, 0, 0),  # lat 214°
        mav.global_position_int_encode(4, 0, -1_900_000_000, 0, 0, 0, 0, 0, 0),  # lon -190°
        mav.global_position_int_encode(5, 1, 1, 0, 0, 0, 0, 0, 36_000),  # hdg 360°
        mav.global_position_int_encode(6, 0, 0, 10, 0, 0, 0, 0, 0),  # Null Island
        mav.sys_status_encode(0, 0, 0, 0, 12_600, 0, 80, 0, 0, 0, 0, 0, 0),
        mav.sys_status_encode(0, 0, 0, 0, 65535, 0, -1, 0, 0, 0, 0, 0, 0),  # knows nothing
        mav.sys_status_encode(0, 0, 0, 0, 0, 0, 127, 0, 0, 0, 0, 0, 0),  # battery 127 %
        mav.sys_status_encode(0, 0, 0, 0, 0, 0, 50, 0, 0, 0, 0, 0, 0),  # voltage unknown
        mav.battery_status_encode(0, 0, 0, 0, v10, 0, 0, 0, 55),
        mav.battery_status_encode(0, 0, 0, 0, [65535] * 10, 0, 0, 0, -1),
        mav.battery_status_encode(0, 0, 0, 0, [65535] * 10, 0, 0, 0, 127),
        mav.vfr_hud_encode(1, 5.5, 0, 40, 30, 0), mav.vfr_hud_encode(1, nan, 0, 40, 30, 0),
        mav.vfr_hud_encode(1, inf, 0, 0, 0, 0), mav.vfr_hud_encode(1, -1.0, 0, 0, 0, 0),
        mav.vfr_hud_encode(0, 0.0, 0, 0, 0, 0),
        mav.mission_current_encode(4, 9, 3, 1), mav.mission_current_encode(0),
        mav.statustext_encode(6, b"Mission: 3 WP"),
        mav.statustext_encode(2, b"\xc3\xa9t\xe9 \x7f" + b"x" * 44),
        mav.statustext_encode(6, b""), mav.statustext_encode(6, b"a\0b"),
        mav.mission_item_reached_encode(3), mav.mission_item_reached_encode(4),
        mav.home_position_encode(298_700_000, 1_215_400_000, 12_000, 0, 0, 0, [1, 0, 0, 0], 0, 0, 0),
        mav.home_position_encode(-950_000_000, 0, 0, 0, 0, 0, [1, 0, 0, 0], 0, 0, 0),
        mav.attitude_encode(1, 0.1, 0.2, 0.3, 0, 0, 0),
        mav.param_value_encode(b"WPNAV_SPEED", 500.0, 9, 300, 7),
        mav.system_time_encode(0, 0), mav.command_ack_encode(400, 0),
    ]  # fmt: skip
    return [bytes(msg.pack(mav, force_mavlink1=v1)) for msg in msgs]


def unknown_id_packet(sysid: int) -> bytes:
    msgid = next(k for k in range(40_000, 2**24) if k not in m.mavlink_map)
    header = struct.pack("<BBBBBBBHB", 0xFD, 3, 0, 0, 0, sysid, 1, msgid & 0xFFFF, msgid >> 16)
    return header + b"abc" + b"\x12\x34"  # any CRC: pymavlink does not check an unknown id's


def mixed_log() -> bytes:
    mav = m.MAVLink(None, srcSystem=7, srcComponent=1)
    signer = m.MAVLink(None, srcSystem=8, srcComponent=1)
    signer.signing.secret_key, signer.signing.sign_outgoing, signer.signing.link_id = b"k" * 32, True, 3
    packets = every_type(mav) + every_type(mav, v1=True) + every_type(signer) + [unknown_id_packet(7)]
    times = [T0 + k / 50 for k in range(len(packets))]
    times[5], times[11], times[-3] = 0.0, 4_200_000_000.0, times[-4]  # 1970, 2103, an equal time
    return stamped(zip(times, packets, strict=True))


# ---- tests ----------------------------------------------------------------------------------


def test_the_crc_is_pymavlinks_x25() -> None:
    rnd = random.Random(22)
    for n in [0, 1, 2, 7, 50, 255, 300, *[rnd.randrange(600) for _ in range(200)]]:
        data = rnd.randbytes(n)
        assert x25(data) == m.x25crc(bytearray(data)).crc, n
    assert x25(b"123456789") == 0x6F91  # CRC-16/MCRF4XX check value


def test_every_stored_type_sentinel_and_impossible_value_as_pymavlink(tmp_path: Path) -> None:
    records, letters, bad = same(tmp_path, mixed_log())
    assert len(records) > 40
    assert bad == 0
    assert {d.reason for d in letters} == {"out_of_range", "bad_timestamp"}
    assert len(letters) >= 20
    assert {d.topic for d in letters} >= {"mavlink/7/GLOBAL_POSITION_INT", "mavlink/8/SYS_STATUS"}
    assert any(r.drone == 8 for r in records)  # signed packets are read as pymavlink reads them


def test_test_logs_as_pymavlink(tmp_path: Path) -> None:
    a, b = tmp_path / "a.tlog", tmp_path / "b.tlog"
    n = write_tlog(a, sysid=3, start_s=T0, seconds=30) + write_bench_tlog(b, sysid=4, start_s=T0, seconds=30)
    records, _, _ = same(tmp_path, a.read_bytes() + b.read_bytes(), chunk=37)
    assert n >= len(records) > 600


def test_the_collector_path_converts_pymavlink_messages_as_before() -> None:
    data, mav = mixed_log(), m.MAVLink(None)
    raw = bytearray()
    i = 0
    while i + 10 <= len(data):
        at = i + 8
        n = 12 + data[at + 1] + (13 if data[at + 2] & 1 else 0) if data[at] == 0xFD else 8 + data[at + 1]
        raw += data[at : at + n]
        i = at + n
    messages = [msg for msg in mav.parse_buffer(bytes(raw)) or [] if msg.get_type() != "BAD_DATA"]
    assert len(messages) > 100
    for t in (int(T0 * 1000), 5):
        for msg in messages:
            outcomes = []
            for fn in (convert, _ref_convert):
                try:
                    outcomes.append(fn(msg, t, "m1"))
                except DecodeError as err:
                    outcomes.append((err.reason, err.detail))
            assert outcomes[0] == outcomes[1], msg


@pytest.mark.parametrize("seed", range(40))
def test_corrupted_and_cut_logs_as_pymavlink(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rnd = random.Random(seed)
    monkeypatch.setattr(drones.tlog, "_CHUNK_BYTES", rnd.choice([64, 997, 1 << 20]))  # packets across reads
    data = bytearray(mixed_log())
    for _ in range(rnd.randrange(1, 12)):
        at = rnd.randrange(len(data))
        data[at] = rnd.randrange(256) if rnd.random() < 0.7 else rnd.choice([0xFD, 0xFE, 0x00, 0xFF])
    if rnd.random() < 0.3:
        del data[rnd.randrange(len(data)) :][: rnd.randrange(1, 40)]  # bytes lost in the middle
    cut = len(data) - rnd.randrange(0, 80)
    same(tmp_path, bytes(data[:cut]), chunk=rnd.choice([1, 5, 2000]))


@pytest.mark.parametrize("seed", range(20))
def test_points_are_point_make_of_the_fields_in_declaration_order(seed: int) -> None:
    rnd = random.Random(seed)
    names = [f.name for f in fields(DroneState)][2:]
    values: list[Any] = [None, 0, 0.0, False, True, "", "AUTO", -3, 1.5, float("inf")]
    for _ in range(50):
        chosen = {n: rnd.choice(values) for n in rnd.sample(names, rnd.randrange(len(names) + 1))}
        state = DroneState(rnd.randrange(300), rnd.randrange(2**41), **chosen)
        expected = Point.make(
            "drone_state", {"drone": str(state.drone)}, {n: getattr(state, n) for n in names}, state.time_ms
        )
        assert state.to_point() == expected
        kind = rnd.choice(["statustext", "item_reached"])
        event = MissionEvent(
            state.drone, rnd.choice(["m1", ""]), 5, kind, rnd.choice([None, 0, 7]), rnd.choice([None, "x"])
        )
        tags = {"drone": str(event.drone), "mission": event.mission}
        fields_ = {"event": event.event, "seq": event.seq, "detail": event.detail}
        assert event.to_point() == Point.make("mission_event", tags, fields_, event.time_ms)
