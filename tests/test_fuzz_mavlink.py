"""Property-based fuzzing of the MAVLink side: every converter of ``drones/convert.py`` on
pymavlink messages with random field values (as objects, and through the wire), the parser on
random and corrupted bytes, and the .tlog reader on random and truncated files.

Nothing may raise except ``DecodeError`` (which the collector and the reader turn into a dead
letter with its reason); every record is storable, with finite values in physical ranges.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from drones.convert import CONVERTERS, convert, dead_letter
from drones.mavlink import mavutil
from drones.tlog import read_tlog
from storage.lineprotocol import encode
from telemetry.assets import Registry
from telemetry.config import load_settings
from telemetry.errors import DecodeError
from telemetry.records import DroneState, MissionEvent, Record
from tests.mqtt_util import wait_until
from tests.servers import Mosquitto, free_udp_port

m = mavutil().mavlink
NOW_MS = 1_795_600_000_000
MIN_MS, MAX_MS = 946_684_800_000, 4_102_444_800_000  # 2000 .. 2100
LETTER_REASONS = {"out_of_range", "bad_timestamp"}
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
INTS = {
    "uint8_t": (0, 2**8 - 1),
    "int8_t": (-(2**7), 2**7 - 1),
    "uint16_t": (0, 2**16 - 1),
    "int16_t": (-(2**15), 2**15 - 1),
    "uint32_t": (0, 2**32 - 1),
    "int32_t": (-(2**31), 2**31 - 1),
    "uint64_t": (0, 2**64 - 1),
    "int64_t": (-(2**63), 2**63 - 1),
}
# Plausible values: what a healthy autopilot sends. Those must become records, value for value.
PLAUSIBLE: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "GLOBAL_POSITION_INT": {
        "lat": st.integers(-900_000_000, 900_000_000),
        "lon": st.integers(-1_800_000_000, 1_800_000_000),
        "hdg": st.integers(0, 35_999) | st.just(65_535),
    },
    "SYS_STATUS": {"battery_remaining": st.integers(-1, 100)},
    "BATTERY_STATUS": {"battery_remaining": st.integers(-1, 100)},
    "GPS_RAW_INT": {"fix_type": st.integers(0, max(m.enums["GPS_FIX_TYPE"]))},
    "VFR_HUD": {"groundspeed": st.floats(0, 100, width=32)},
    "HOME_POSITION": {
        "latitude": st.integers(-900_000_000, 900_000_000),
        "longitude": st.integers(-1_800_000_000, 1_800_000_000),
    },
}


def message_class(name: str) -> Any:
    return m.mavlink_map[getattr(m, f"MAVLINK_MSG_ID_{name}")]


def fields_of(name: str) -> list[tuple[str, str, int]]:
    """(field, type, array length or 0) in constructor order (array lengths are in wire order)."""
    cls = message_class(name)
    lengths = dict(zip(cls.ordered_fieldnames, cls.array_lengths, strict=True))
    return [(f, t, lengths[f]) for f, t in zip(cls.fieldnames, cls.fieldtypes, strict=True)]


def field_strategy(ftype: str, length: int) -> st.SearchStrategy[Any]:
    if ftype == "char":
        return st.binary(max_size=length)
    if ftype in ("float", "double"):
        fmt = "<f" if ftype == "float" else "<d"
        raw = st.binary(min_size=struct.calcsize(fmt), max_size=struct.calcsize(fmt))
        one: st.SearchStrategy[Any] = st.floats(width=32 if ftype == "float" else 64) | raw.map(
            lambda b: struct.unpack(fmt, b)[0]
        )
    else:  # hypothesis favours small integers: raw bytes reach the whole range as a wire does
        lo, hi = INTS[ftype]
        raw = st.binary(min_size=(hi - lo).bit_length() // 8, max_size=(hi - lo).bit_length() // 8)
        one = st.integers(lo, hi) | raw.map(lambda b: int.from_bytes(b, "little", signed=lo < 0))
    return st.lists(one, min_size=length, max_size=length) if length else one


@st.composite
def messages(draw: st.DrawFn, name: str, plausible: bool = False) -> Any:
    """A pymavlink message object of type ``name`` with drawn field values."""
    values = {f: draw(field_strategy(t, n)) for f, t, n in fields_of(name)}
    if plausible:
        values |= {f: draw(s) for f, s in PLAUSIBLE.get(name, {}).items()}
    return message_class(name)(**values)


def over_the_wire(msg: Any, sysid: int) -> Any:
    """Pack as a vehicle would and parse back as the collector does."""
    sender = m.MAVLink(None, srcSystem=sysid, srcComponent=1)
    receiver = m.MAVLink(None)
    receiver.robust_parsing = True
    (back,) = receiver.parse_buffer(msg.pack(sender))
    assert back.get_type() == msg.get_type()
    return back


def check_record(r: Record) -> None:
    p = r.to_point()
    assert p.fields, r  # a point without fields cannot be stored
    for _, v in p.fields:
        assert not isinstance(v, float) or math.isfinite(v), r
    encode(p)
    assert MIN_MS <= r.time_ms < MAX_MS
    if isinstance(r, DroneState):
        assert r.lat is None or -90 <= r.lat <= 90
        assert r.lon is None or -180 <= r.lon <= 180
        assert r.home_lat is None or -90 <= r.home_lat <= 90
        assert r.home_lon is None or -180 <= r.home_lon <= 180
        assert r.heading_deg is None or 0 <= r.heading_deg < 360
        assert r.battery_pct is None or 0 <= r.battery_pct <= 100
        assert r.voltage_v is None or r.voltage_v >= 0
        assert r.groundspeed_ms is None or r.groundspeed_ms >= 0


def outcome(msg: Any, time_ms: int = NOW_MS) -> Record | DecodeError | None:
    try:
        return convert(msg, time_ms, "m1")
    except DecodeError as err:
        check_letter(msg, err)
        return err


def check_letter(msg: Any, err: DecodeError) -> None:
    letter = dead_letter(msg, err, NOW_MS, "mavlink")
    assert letter.reason in LETTER_REASONS
    assert (letter.source, letter.detail) == ("mavlink", err.detail)
    assert letter.topic == f"mavlink/{msg.get_srcSystem()}/{msg.get_type()}"
    assert letter.payload == bytes(msg.get_msgbuf())


names = st.sampled_from(sorted(CONVERTERS))


@FUZZ
@given(data=st.data(), name=names, sysid=st.integers(1, 255))
def test_every_converter_survives_any_field_values(data: st.DataObject, name: str, sysid: int) -> None:
    msg = data.draw(messages(name))
    for candidate in (msg, over_the_wire(msg, sysid)):
        result = outcome(candidate)
        if isinstance(result, DroneState | MissionEvent):
            check_record(result)
            assert result.drone == candidate.get_srcSystem()


@FUZZ
@given(data=st.data(), name=names, sysid=st.integers(1, 255))
def test_plausible_messages_become_records_with_their_values(
    data: st.DataObject, name: str, sysid: int
) -> None:
    msg = over_the_wire(data.draw(messages(name, plausible=True)), sysid)
    r = outcome(msg)
    assert not isinstance(r, DecodeError), (msg, r)
    if r is None:  # a ground station's heartbeat, or a message that knows nothing
        assert name in {"HEARTBEAT", "SYS_STATUS", "BATTERY_STATUS", "VFR_HUD"}
        return
    check_record(r)
    assert r.drone == sysid
    if name == "GLOBAL_POSITION_INT":
        assert isinstance(r, DroneState)
        assert (r.lat, r.lon, r.alt_msl_m) == (msg.lat / 1e7, msg.lon / 1e7, msg.alt / 1000)
        assert r.heading_deg == (None if msg.hdg == 65_535 else msg.hdg / 100)
    elif name in {"SYS_STATUS", "BATTERY_STATUS"}:
        assert isinstance(r, DroneState)
        assert r.battery_pct == (None if msg.battery_remaining < 0 else msg.battery_remaining)
    elif name == "VFR_HUD":
        assert isinstance(r, DroneState)
        assert r.groundspeed_ms == msg.groundspeed
    elif name == "GPS_RAW_INT":
        assert isinstance(r, DroneState)
        assert r.gps_fix == msg.fix_type
    elif name in {"MISSION_CURRENT", "MISSION_ITEM_REACHED"}:
        assert (r.mission_seq if isinstance(r, DroneState) else r.seq) == msg.seq


@pytest.mark.parametrize(
    ("name", "fields", "reason"),
    [
        ("GLOBAL_POSITION_INT", {"lat": 900_000_001}, "out_of_range"),
        ("GLOBAL_POSITION_INT", {"lon": -1_800_000_001}, "out_of_range"),
        ("GLOBAL_POSITION_INT", {"hdg": 36_000}, "out_of_range"),
        ("SYS_STATUS", {"battery_remaining": 101, "voltage_battery": 12_000}, "out_of_range"),
        ("BATTERY_STATUS", {"battery_remaining": 127}, "out_of_range"),
        ("GPS_RAW_INT", {"fix_type": 200}, "out_of_range"),
        ("VFR_HUD", {"groundspeed": float("inf")}, "out_of_range"),
        ("VFR_HUD", {"groundspeed": -3.0}, "out_of_range"),
    ],
)
def test_impossible_values_are_dead_letters_with_a_reason(
    name: str, fields: dict[str, Any], reason: str
) -> None:
    values = {f: (b"" if t == "char" else [0] * n if n else 0) for f, t, n in fields_of(name)}
    msg = over_the_wire(message_class(name)(**(values | fields)), 7)
    with pytest.raises(DecodeError) as err:
        convert(msg, NOW_MS)
    assert err.value.reason == reason
    letter = dead_letter(msg, err.value, NOW_MS, "mavlink")
    assert (letter.topic, letter.reason) == (f"mavlink/7/{name}", reason)


def test_a_message_that_knows_nothing_is_no_point_and_nan_is_unknown() -> None:
    sys_status = message_class("SYS_STATUS")
    values = dict.fromkeys(sys_status.fieldnames, 0) | {"voltage_battery": 65_535, "battery_remaining": -1}
    assert convert(over_the_wire(sys_status(**values), 1), NOW_MS) is None
    hud = message_class("VFR_HUD")(airspeed=0, groundspeed=math.nan, heading=0, throttle=0, alt=0, climb=0)
    assert convert(over_the_wire(hud, 1), NOW_MS) is None


@FUZZ
@given(time_ms=st.integers(0, MIN_MS - 1) | st.integers(MAX_MS, 2**64 // 1000))
def test_a_time_outside_2000_to_2100_is_a_bad_timestamp(time_ms: int) -> None:
    msg = over_the_wire(message_class("MISSION_ITEM_REACHED")(seq=3), 1)
    with pytest.raises(DecodeError) as err:
        convert(msg, time_ms)
    assert err.value.reason == "bad_timestamp"


def packets(draw: st.DrawFn, n: int) -> list[bytes]:
    out = []
    for _ in range(n):
        msg = draw(messages(draw(names)))
        sender = m.MAVLink(None, srcSystem=draw(st.integers(1, 255)), srcComponent=1)
        out.append(bytes(msg.pack(sender, force_mavlink1=draw(st.booleans()))))
    return out


def corrupt(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    b = bytearray(data)
    for at, value in edits:
        if b:
            b[at % len(b)] = value
    return bytes(b if cut is None else b[: cut % (len(b) + 1)])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    noise=st.binary(max_size=300),
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6),
    cut=st.none() | st.integers(0, 10**6),
)
def test_the_parser_survives_random_and_corrupted_bytes(
    data: st.DataObject, noise: bytes, edits: list[tuple[int, int]], cut: int | None
) -> None:
    """The collector's path: pymavlink with robust parsing (as mavutil sets it), then convert."""
    stream = corrupt(noise + b"".join(packets(data.draw, data.draw(st.integers(0, 4)))), edits, cut)
    parser = m.MAVLink(None)
    parser.robust_parsing = True
    for chunk in (stream[i : i + 37] for i in range(0, len(stream), 37)):  # as datagrams arrive
        for msg in parser.parse_buffer(chunk) or []:
            if msg.get_type() != "BAD_DATA":
                r = outcome(msg)
                if isinstance(r, DroneState | MissionEvent):
                    check_record(r)


def tlog(entries: list[tuple[int, bytes]]) -> bytes:
    return b"".join(struct.pack(">Q", t_us) + packet for t_us, packet in entries)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    times=st.lists(st.integers(0, 2**64 - 1) | st.integers(MIN_MS * 1000, NOW_MS * 1000), max_size=6),
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4),
    cut=st.none() | st.integers(0, 10**6),
)
def test_the_tlog_reader_survives_random_truncated_and_corrupted_files(
    tmp_path_factory: pytest.TempPathFactory,
    data: st.DataObject,
    times: list[int],
    edits: list[tuple[int, int]],
    cut: int | None,
) -> None:
    intact = tlog(list(zip(times, packets(data.draw, len(times)), strict=True)))
    path = tmp_path_factory.mktemp("tlog") / "fuzz.tlog"
    for content in (intact, corrupt(intact, edits, cut), data.draw(st.binary(max_size=200))):
        path.write_bytes(content)
        chunks = list(read_tlog(path, chunk=3))
        for chunk in chunks:
            assert chunk.records or chunk.dead_letters
            for r in chunk.records:
                check_record(r)
            for letter in chunk.dead_letters:
                assert letter.reason in LETTER_REASONS
                assert letter.source == "replay"
        if content is intact:  # nothing lost: each packet is a record, a letter or not ours
            produced = sum(len(c.records) + len(c.dead_letters) for c in chunks)
            assert produced <= len(times)
            decoded = [convert_or_letter(p, t) for t, p in zip(times, packets_of(intact), strict=True)]
            assert produced == sum(d is not None for d in decoded)


def packets_of(content: bytes) -> list[bytes]:
    out, i = [], 0
    while i + 10 <= len(content):
        at = i + 8
        n = (
            12 + content[at + 1] + (13 if content[at + 2] & 1 else 0)
            if content[at] == 0xFD
            else 8 + content[at + 1]
        )
        out.append(content[at : at + n])
        i = at + n
    return out


def convert_or_letter(packet: bytes, time_us: int) -> object:
    msg = m.MAVLink(None).decode(bytearray(packet))
    try:
        return convert(msg, time_us // 1000)
    except DecodeError as err:
        return err


def test_a_tlog_cut_inside_a_header_is_read_to_its_last_whole_packet(tmp_path: Path) -> None:
    """Regression: a file ending 2 bytes into a MAVLink 2 header raised IndexError."""
    reached = message_class("MISSION_ITEM_REACHED")(seq=4).pack(m.MAVLink(None, srcSystem=3))
    whole = tlog([(NOW_MS * 1000, reached)])
    path = tmp_path / "cut.tlog"
    path.write_bytes(whole + struct.pack(">Q", NOW_MS * 1000) + b"\xfd\x05")
    (chunk,) = list(read_tlog(path))
    assert [(r.drone, getattr(r, "seq", None)) for r in chunk.records] == [(3, 4)]


@pytest.mark.integration
def test_the_collector_letters_impossible_values_survives_noise_and_keeps_going(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """End to end over UDP: noise and a corrupt position do not stop the collector; the position
    is a dead letter with its reason; the vehicle's next heartbeat is heard."""
    port = free_udp_port()
    settings = load_settings(
        overrides={
            "store": {"path": str(tmp_path / "store")},
            "spool": {"path": str(tmp_path / "spool")},
            "mqtt": {"url": mosquitto.url, "client_id": "fuzz-mavlink"},
            "mavlink": {"endpoints": [f"udpin:127.0.0.1:{port}"]},
            "api": {"tokens": [{"token": "a", "role": "admin"}]},
            "pipeline": {"flush_interval_s": 0.05},
        }
    )
    auth = {"Authorization": "Bearer a"}
    with TestClient(create_app(settings, registry=Registry())) as c:
        wait_until(lambda: c.get("/readyz").status_code == 200, 15, "the MAVLink endpoint listening")
        vehicle = mavutil().mavlink_connection(f"udpout:127.0.0.1:{port}", source_system=9)
        try:
            for noise in (b"\xfd\x09" + bytes(range(40)), b"\xfe" * 30, bytes(300)):
                vehicle.write(noise)
            vehicle.mav.global_position_int_send(
                1000, 2_000_000_000, 1_215_000_000, 5000, 3000, 0, 0, 0, 9000
            )
            vehicle.mav.heartbeat_send(m.MAV_TYPE_QUADROTOR, m.MAV_AUTOPILOT_ARDUPILOTMEGA, 0, 0, 0)

            def letters() -> list[dict[str, Any]]:
                items = c.get("/api/v1/dead-letters", headers=auth).json()["items"]
                return [d for d in items if d["source"] == "mavlink"]

            wait_until(lambda: bool(letters()), 15, "the MAVLink dead letter")
            (letter,) = letters()
            assert (letter["topic"], letter["reason"]) == ("mavlink/9/GLOBAL_POSITION_INT", "out_of_range")
            assert "lat=2000000000" in letter["detail"]
            wait_until(lambda: c.get("/api/v1/drones", headers=auth).json()["count"] == 1, 15, "drone 9")
            (drone,) = c.get("/api/v1/drones", headers=auth).json()["items"]
            assert (drone["drone"], drone["online"], drone["lat"]) == (9, True, None)
            assert 'telemetry_rejected_total{reason="out_of_range"} 1.0' in c.get("/metrics").text
        finally:
            vehicle.close()
