from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensors.decoders import DecodeContext, decode_message, parse_topic, subscriptions
from telemetry.assets import Registry, load_registry, sample_assets_dir
from telemetry.errors import DecodeError
from telemetry.geo import wgs84_to_gcj02
from telemetry.records import GaugeReading, ToiletEvent, ToiletReading, VehicleFix
from telemetry.records_people import OfficerPosition, OfficerReport

NOW_MS = 1_795_600_000_000  # 2026-11-25
ROOT = "city/haishu"
CTX = DecodeContext(ROOT, load_registry(sample_assets_dir()), "haishu", 300_000)


def decode(kind: str, device: str, channel: str, payload: object, ctx: DecodeContext = CTX):
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return decode_message(f"{ROOT}/{kind}/{device}/{channel}", raw, NOW_MS, ctx)


def reasons(decoded) -> list[str]:
    return [d.reason for d in decoded.dead_letters]


def test_gauge_with_rfc3339_offset_and_registry_tags() -> None:
    d = decode("gauge", "G01", "telemetry", {"ts": "2026-11-25T10:00:00+08:00", "depth_cm": 12.5, "seq": 3})
    assert d.dead_letters == ()
    (r,) = d.records
    assert isinstance(r, GaugeReading)
    assert r.time_ms == 1_795_572_000_000  # 02:00 UTC
    assert (r.depth_cm, r.road, r.district, r.seq) == (12.5, "环城西路", "haishu", 3)
    p = r.to_point()
    assert p.measurement == "water_depth"
    assert dict(p.tags) == {"gauge": "G01", "district": "haishu", "road": "环城西路"}
    assert dict(p.fields) == {"depth_cm": 12.5}


def test_epoch_ms_and_z_suffix_agree() -> None:
    a = decode("gauge", "G09", "telemetry", {"ts": NOW_MS, "depth_cm": 1})
    b = decode("gauge", "G09", "telemetry", {"ts": "2026-11-25T09:46:40Z", "depth_cm": 1})
    assert a.records[0].time_ms == b.records[0].time_ms == NOW_MS


def test_backlog_array_keeps_good_items_and_dead_letters_bad_ones() -> None:
    items = [{"ts": NOW_MS - 60_000 * i, "depth_cm": i} for i in range(5)]
    items.insert(2, {"ts": NOW_MS, "depth_cm": -1})
    d = decode("gauge", "G02", "telemetry", items)
    assert [r.depth_cm for r in d.records] == [0, 1, 2, 3, 4]
    assert reasons(d) == ["out_of_range"]
    assert d.dead_letters[0].detail.startswith("item 2:")
    assert d.dead_letters[0].payload == json.dumps(items).encode()  # the raw message is kept


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", "bad_json"),
        (b"\xff\xfe", "bad_utf8"),
        (b'{"ts": 1795600000000, "depth_cm": NaN}', "bad_json"),
        (b"42", "not_object"),
        (b"[]", "bad_array"),
        ({"depth_cm": 3}, "missing_field"),
        ({"ts": NOW_MS}, "missing_field"),
        ({"ts": NOW_MS, "depth_cm": "3"}, "bad_type"),
        ({"ts": NOW_MS, "depth_cm": True}, "bad_type"),
        ({"ts": NOW_MS, "depth_cm": -0.5}, "out_of_range"),
        ({"ts": 1_795_600_000, "depth_cm": 1}, "bad_timestamp"),  # seconds, not ms
        ({"ts": "2026-11-25 10:00:00", "depth_cm": 1}, "bad_timestamp"),  # no offset
        ({"ts": 1.5e12, "depth_cm": 1}, "bad_timestamp"),  # a float is not epoch ms
        ({"ts": NOW_MS + 301_000, "depth_cm": 1}, "future_timestamp"),
        (b'{"ts": 1795600000000, "depth_cm": 1, "pad": "' + b"x" * 70_000 + b'"}', "too_large"),
    ],
)
def test_invalid_gauge_payloads_are_dead_lettered(payload: object, reason: str) -> None:
    d = decode("gauge", "G01", "telemetry", payload)
    assert d.records == ()
    assert reasons(d) == [reason]
    letter = d.dead_letters[0]
    assert letter.topic == f"{ROOT}/gauge/G01/telemetry"
    assert letter.received_ms == NOW_MS
    assert letter.detail


def test_clock_behind_is_accepted_and_slightly_ahead_too() -> None:
    assert decode("gauge", "G01", "telemetry", {"ts": NOW_MS - 3_600_000, "depth_cm": 1}).records
    assert decode("gauge", "G01", "telemetry", {"ts": NOW_MS + 299_000, "depth_cm": 1}).records


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("other/root/gauge/G01/telemetry", "bad_topic"),
        (f"{ROOT}/gauge/G01", "bad_topic"),
        (f"{ROOT}/gauge/bad id/telemetry", "bad_topic"),
        (f"{ROOT}/gauge/{'x' * 65}/telemetry", "bad_topic"),
        (f"{ROOT}/vehicle/V1/event", "unknown_channel"),  # gauge/event: CONTRACT v2 (issue 20)
        (f"{ROOT}/drain/D1/telemetry", "unknown_channel"),
        (f"{ROOT}/drain/D1/command", "unknown_channel"),
    ],
)
def test_bad_topics(topic: str, reason: str) -> None:
    d = decode_message(topic, b'{"ts": 1795600000000, "depth_cm": 1}', NOW_MS, CTX)
    assert reasons(d) == [reason]


def test_parse_topic_and_subscriptions() -> None:
    t = parse_topic(f"{ROOT}/toilet/T01/event", ROOT)
    assert (t.kind, t.device, t.channel) == ("toilet", "T01", "event")
    kinds = ("gauge", "officer", "toilet", "vehicle")
    assert subscriptions(ROOT) == [f"{ROOT}/{kind}/+/+" for kind in kinds]
    with pytest.raises(DecodeError):
        parse_topic("x/y", ROOT)


def test_toilet_entries_total_and_air() -> None:
    payload = {
        "ts": NOW_MS,
        "entries": 3,
        "total": 1203,
        "occupancy": 2,
        "nh3_mg_m3": 0.2,
        "h2s_mg_m3": 0.004,
    }
    (r,) = decode("toilet", "T01", "telemetry", payload).records
    assert isinstance(r, ToiletReading)
    assert (r.entries, r.total, r.occupancy, r.nh3_mg_m3, r.h2s_mg_m3) == (3, 1203, 2, 0.2, 0.004)
    assert reasons(decode("toilet", "T01", "telemetry", {"ts": NOW_MS})) == ["missing_field"]
    assert reasons(decode("toilet", "T01", "telemetry", {"ts": NOW_MS, "entries": 1.5})) == ["bad_type"]
    (only_total,) = decode("toilet", "T01", "telemetry", {"ts": NOW_MS, "total": 7}).records
    assert dict(only_total.to_point().fields) == {"total": 7}


def test_toilet_cleaned_event() -> None:
    (r,) = decode("toilet", "T02", "event", {"ts": NOW_MS, "type": "cleaned", "by": "王师傅"}).records
    assert isinstance(r, ToiletEvent)
    assert dict(r.to_point().tags)["type"] == "cleaned"
    assert reasons(decode("toilet", "T02", "event", {"ts": NOW_MS, "type": "exploded"})) == ["out_of_range"]


def test_vehicle_fix_gcj02_is_converted_and_source_crs_kept() -> None:
    lat, lon = 29.8744, 121.5250
    glat, glon = wgs84_to_gcj02(lat, lon)
    (r,) = decode(
        "vehicle",
        "SW001",
        "telemetry",
        {"ts": NOW_MS, "lat": glat, "lon": glon, "crs": "GCJ02", "working": True},
    ).records
    assert isinstance(r, VehicleFix)
    assert r.lat == pytest.approx(lat, abs=1e-7)
    assert r.lon == pytest.approx(lon, abs=1e-7)
    assert (r.source_crs, r.fleet, r.working) == ("GCJ02", "sweeper", True)
    assert dict(r.to_point().fields)["crs"] == "GCJ02"
    bad = decode("vehicle", "SW001", "telemetry", {"ts": NOW_MS, "lat": 91, "lon": 121})
    assert reasons(bad) == ["out_of_range"]
    assert reasons(
        decode("vehicle", "SW001", "telemetry", {"ts": NOW_MS, "lat": 1, "lon": 1, "crs": "BD09"})
    ) == ["out_of_range"]


def test_unregistered_device_accepted_unless_strict() -> None:
    payload = {"ts": NOW_MS, "depth_cm": 1}
    assert decode("gauge", "G77", "telemetry", payload).records
    strict = DecodeContext(ROOT, Registry(CTX.registry.devices, strict=True), "haishu", 300_000)
    assert reasons(decode("gauge", "G77", "telemetry", payload, strict)) == ["unknown_device"]
    assert decode("gauge", "G01", "telemetry", payload, strict).records


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=6)
    ),
    max_leaves=20,
)
fields = st.fixed_dictionaries(
    {},
    optional={
        "ts": st.one_of(
            st.integers(), st.text(max_size=30), st.just(NOW_MS), st.just("2026-11-25T09:00:00Z")
        ),
        "depth_cm": json_values,
        "entries": json_values,
        "total": json_values,
        "lat": json_values,
        "lon": json_values,
        "crs": st.sampled_from(["WGS84", "GCJ02", "CGCS2000", "x"]),
        "type": st.sampled_from(["cleaned", 1, None]),
        "working": json_values,
        "seq": json_values,
    },
)
topics = st.sampled_from(
    [f"{ROOT}/{k}/D1/{c}" for k in ("gauge", "toilet", "vehicle") for c in ("telemetry", "event")] + ["x/y/z"]
)


@settings(max_examples=400, deadline=None)
@given(topic=topics, payload=st.binary(max_size=300))
def test_any_bytes_give_records_or_dead_letters(topic: str, payload: bytes) -> None:
    d = decode_message(topic, payload, NOW_MS, CTX)
    assert d.records or d.dead_letters


@settings(max_examples=600, deadline=None)
@given(topic=topics, doc=st.one_of(fields, st.lists(fields, max_size=4), json_values))
def test_any_json_gives_records_or_dead_letters(topic: str, doc: object) -> None:
    payload = json.dumps(doc).encode()
    d = decode_message(topic, payload, NOW_MS, CTX)
    assert d.records or d.dead_letters
    for r in d.records:
        p = r.to_point()  # every record has a storable form
        assert p.time_ms > 0


def test_rfc3339_milliseconds_are_exact() -> None:
    # found by hypothesis: float seconds × 1000 made .001 into 0.999… and lost the millisecond
    decoded = decode("gauge", "G01", "telemetry", {"ts": "2004-02-01T00:01:00.001+00:01", "depth_cm": 1.0})
    assert [r.time_ms for r in decoded.records] == [1_075_593_600_001]


def test_officer_position_and_event() -> None:
    (p,) = decode(
        "officer", "OF-01", "telemetry", {"ts": NOW_MS, "lat": 29.87, "lon": 121.54, "status": "busy"}
    ).records
    assert isinstance(p, OfficerPosition)
    assert (p.officer, p.lat, p.lon, p.status, p.district) == ("OF-01", 29.87, 121.54, "busy", "haishu")
    assert p.to_point().measurement == "officer_position"
    glat, glon = wgs84_to_gcj02(29.87, 121.54)
    (g,) = decode(
        "officer",
        "OF-01",
        "telemetry",
        {"ts": NOW_MS, "lat": glat, "lon": glon, "crs": "GCJ02", "status": "off"},
    ).records
    assert isinstance(g, OfficerPosition)
    assert (round(g.lat, 6), round(g.lon, 6)) == (29.87, 121.54)
    sha = "AB" * 32
    body = {
        "ts": NOW_MS,
        "type": "resolved",
        "incident": "INC-00001",
        "note": "抽水完毕",
        "evidence_sha256": sha,
    }
    (e,) = decode("officer", "OF-01", "event", body).records
    assert isinstance(e, OfficerReport)
    assert (e.type, e.incident, e.note, e.evidence_sha256) == (
        "resolved",
        "INC-00001",
        "抽水完毕",
        sha.lower(),
    )
    assert dict(e.to_point().tags) == {"officer": "OF-01", "district": "haishu", "type": "resolved"}


@pytest.mark.parametrize(
    ("channel", "payload", "reason"),
    [
        ("telemetry", {"lat": 29.87, "lon": 121.54}, "out_of_range"),  # no status
        ("telemetry", {"lat": 29.87, "lon": 121.54, "status": "asleep"}, "out_of_range"),
        ("telemetry", {"lat": 95, "lon": 121.54, "status": "off"}, "out_of_range"),
        ("event", {"type": "accept"}, "missing_field"),
        ("event", {"type": "wave", "incident": "I"}, "out_of_range"),
        ("event", {"type": "resolved", "incident": "I", "evidence_sha256": "xyz"}, "out_of_range"),
    ],
)
def test_bad_officer_messages_are_dead_letters(channel: str, payload: object, reason: str) -> None:
    assert reasons(decode("officer", "OF-01", channel, payload)) == [reason]


def test_the_services_own_commands_are_neither_stored_nor_dead_letters() -> None:
    d = decode("officer", "OF-01", "command", {"incident": "INC-1", "action": "assign"})
    assert (d.records, d.dead_letters) == ((), ())
