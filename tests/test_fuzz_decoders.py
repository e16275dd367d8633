"""Property-based fuzzing of the MQTT decoders (CONTRACT §2), every topic kind.

Each generated payload carries its expected outcome: a valid one must become exactly one record
holding the values sent; a payload with one field broken must become exactly one dead letter
with the reason that field deserves. Arbitrary bytes and topics never raise: they give records
or dead letters whose reasons are the documented ones, with the raw payload kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensors.decoders import DecodeContext, decode_message, parse_topic
from sensors.fields import DEVICE_ID
from storage.lineprotocol import encode
from telemetry.assets import Registry, load_registry, sample_assets_dir
from telemetry.geo import wgs84_to_gcj02
from telemetry.records import Decoded, GaugeReading, ToiletEvent, ToiletReading, VehicleFix

NOW_MS = 1_795_600_000_000  # 2026-11-25
ROOT = "city/haishu"
MAX_FUTURE_MS = 300_000
CTX = DecodeContext(ROOT, load_registry(sample_assets_dir()), "haishu", MAX_FUTURE_MS)
STRICT = DecodeContext(ROOT, Registry(CTX.registry.devices, strict=True), "haishu", MAX_FUTURE_MS)
REASONS = frozenset(  # docs/mqtt.md: every reason a dead letter may carry
    ("bad_topic", "unknown_channel", "unknown_device", "too_large", "bad_utf8", "bad_json", "not_object",
     "bad_array", "missing_field", "bad_type", "out_of_range", "bad_timestamp", "future_timestamp")
)  # fmt: skip
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MIN_MS, MAX_MS = 946_684_800_000, 4_102_444_800_000  # 2000 .. 2100
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---- values -------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=10,
)
not_a_number = (
    st.text(max_size=10)
    | st.booleans()
    | st.lists(json_scalars, max_size=2)
    | st.dictionaries(st.text(max_size=5), json_scalars, max_size=2)
)
not_an_int = not_a_number | st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f != int(f))


def ms_of(dt: datetime) -> int:
    return (dt - EPOCH) // timedelta(milliseconds=1)


offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
instants = st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2026, 11, 25, 9, 40)).map(
    lambda d: d.replace(tzinfo=UTC)
)


@st.composite
def timestamps(draw: st.DrawFn) -> tuple[object, int]:
    """A valid ``ts`` (epoch ms or RFC 3339 in some offset) and the instant it names in ms."""
    dt = draw(instants)
    if draw(st.booleans()):
        ms = ms_of(dt)
        return ms, ms
    local = dt.astimezone(draw(offsets))
    text = local.isoformat(timespec=draw(st.sampled_from(["seconds", "milliseconds", "microseconds"])))
    if local.utcoffset() == timedelta(0) and draw(st.booleans()):
        text = text.replace("+00:00", "Z")
    return text, ms_of(datetime.fromisoformat(text.replace("Z", "+00:00")))


bad_timestamps = (
    st.text(max_size=25).filter(lambda s: not s[:4].isdigit())
    | st.integers(0, MIN_MS - 1)  # seconds, not milliseconds
    | st.integers(MAX_MS, 2**63)
    | st.floats(1e12, 3e12)  # a float is not epoch ms
    | st.booleans()
    | st.builds(lambda d: d.replace(tzinfo=None).isoformat(), instants)  # no offset
)


@dataclass(frozen=True)
class Spec:
    """The contract of one field: its valid values, and what breaks it."""

    valid: st.SearchStrategy[Any]
    wrong_type: st.SearchStrategy[Any]
    out_of_range: st.SearchStrategy[Any] | None
    required: bool = False


def floats_in(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False) | st.integers(math.ceil(lo), int(hi)).map(float)


def floats_outside(lo: float, hi: float) -> st.SearchStrategy[float]:
    finite = st.floats(allow_nan=False, allow_infinity=False)
    return finite.filter(lambda f: f < lo) | finite.filter(lambda f: f > hi) | st.just(lo - 1e-9)


COUNT = Spec(st.integers(0, 2**63 - 1), not_an_int, st.integers(-(2**63), -1) | st.integers(2**63, 2**64 - 1))
SPECS: dict[str, dict[str, Spec]] = {
    "gauge/telemetry": {
        "depth_cm": Spec(floats_in(0, 10_000), not_a_number, floats_outside(0, 10_000), required=True),
        "battery_v": Spec(floats_in(0, 100), not_a_number, floats_outside(0, 100)),
        "seq": COUNT,
    },
    "toilet/telemetry": {
        "entries": COUNT,
        "total": COUNT,
        "occupancy": COUNT,
        "nh3_mg_m3": Spec(floats_in(0, 1e6), not_a_number, floats_outside(0, 1e6)),
        "h2s_mg_m3": Spec(floats_in(0, 1e6), not_a_number, floats_outside(0, 1e6)),
        "seq": COUNT,
    },
    "toilet/event": {
        "type": Spec(
            st.just("cleaned"),
            not_a_number.filter(lambda v: not isinstance(v, str)) | st.text(min_size=33),
            st.text(max_size=32).filter(lambda s: s != "cleaned"),
            required=True,
        ),
        "by": Spec(st.text(max_size=128), not_a_number.filter(lambda v: not isinstance(v, str)), None),
        "seq": COUNT,
    },
    "vehicle/telemetry": {
        "lat": Spec(floats_in(-90, 90), not_a_number, floats_outside(-90, 90), required=True),
        "lon": Spec(floats_in(-180, 180), not_a_number, floats_outside(-180, 180), required=True),
        "crs": Spec(
            st.sampled_from(["WGS84", "CGCS2000", "GCJ02"]),
            st.integers() | st.booleans() | st.text(min_size=17),
            st.text(min_size=1, max_size=16).filter(lambda s: s not in {"WGS84", "CGCS2000", "GCJ02"}),
        ),
        "speed_kmh": Spec(floats_in(0, 1000), not_a_number, floats_outside(0, 1000)),
        "heading_deg": Spec(floats_in(0, 360), not_a_number, floats_outside(0, 360)),
        "hdop": Spec(floats_in(0, 1000), not_a_number, floats_outside(0, 1000)),
        "working": Spec(st.booleans(), st.integers() | st.text(max_size=5) | st.floats(-1e9, 1e9), None),
        "seq": COUNT,
    },
}
DEVICES = {"gauge": ["G01", "G77"], "toilet": ["T01", "T99"], "vehicle": ["SW001", "V-x.9"]}


@dataclass(frozen=True)
class Case:
    """One payload object, the instant its ``ts`` names, and the reason it must fail with."""

    obj: dict[str, Any]
    ms: int
    reason: str | None  # None: it must become a record


@st.composite
def cases(draw: st.DrawFn, channel: str, broken: bool | None = None) -> Case:
    specs = SPECS[channel]
    ts, ms = draw(timestamps())
    obj: dict[str, Any] = {"ts": ts}
    for name, spec in specs.items():
        if spec.required or draw(st.booleans()):
            obj[name] = draw(spec.valid)
    if channel == "toilet/telemetry" and "entries" not in obj and "total" not in obj:
        obj["entries"] = draw(COUNT.valid)
    obj |= draw(
        st.dictionaries(
            st.text(max_size=8).filter(lambda k: k not in obj and k not in specs), json_values, max_size=2
        )
    )
    if broken is None:
        broken = draw(st.booleans())
    if not broken:
        return Case(obj, ms, None)
    how = draw(st.sampled_from(["missing", "wrong_type", "out_of_range", "ts", "future"]))
    if how == "ts":
        obj["ts"] = draw(bad_timestamps)
        return Case(obj, ms, "bad_timestamp")
    if how == "future":
        obj["ts"] = NOW_MS + MAX_FUTURE_MS + draw(st.integers(1, 10**9))
        return Case(obj, ms, "future_timestamp")
    if how == "missing":
        name = draw(st.sampled_from(["ts", *(n for n, s in specs.items() if s.required)]))
        if channel == "toilet/telemetry":
            name = draw(st.sampled_from(["ts", "entries+total"]))
        for n in name.split("+"):
            obj.pop(n, None)
        return Case(obj, ms, "missing_field")
    name = draw(
        st.sampled_from([n for n, s in specs.items() if how == "wrong_type" or s.out_of_range is not None])
    )
    spec = specs[name]
    assert spec.out_of_range is not None or how == "wrong_type"
    obj[name] = draw(spec.wrong_type if how == "wrong_type" else spec.out_of_range)  # type: ignore[arg-type]
    return Case(obj, ms, "bad_type" if how == "wrong_type" else "out_of_range")


def check_well_formed(d: Decoded, topic: str, payload: bytes) -> None:
    """What holds for any input: something came out; letters are documented and keep the
    input; records are storable with finite values at a sane time."""
    assert d.records or d.dead_letters
    for letter in d.dead_letters:
        assert letter.reason in REASONS, letter
        assert (letter.topic, letter.payload, letter.received_ms) == (topic, payload, NOW_MS)
        assert letter.detail
    for r in d.records:
        p = r.to_point()
        assert p.fields, r
        assert MIN_MS <= p.time_ms <= NOW_MS + MAX_FUTURE_MS
        for _, v in p.fields:
            assert not isinstance(v, float) or math.isfinite(v), r
        encode(p)
        if isinstance(r, VehicleFix):
            assert -90 <= r.lat <= 90, r
            assert -180 <= r.lon <= 180, r


def check_record(channel: str, case: Case, r: object, device: str) -> None:
    o = case.obj
    assert getattr(r, "time_ms") == case.ms  # noqa: B009 - any record type
    if channel == "gauge/telemetry":
        assert isinstance(r, GaugeReading)
        assert r.gauge == device
        assert (r.depth_cm, r.battery_v, r.seq) == (o["depth_cm"], o.get("battery_v"), o.get("seq"))
    elif channel == "toilet/telemetry":
        assert isinstance(r, ToiletReading)
        assert r.toilet == device
        assert (r.entries, r.total, r.occupancy) == (o.get("entries"), o.get("total"), o.get("occupancy"))
        assert (r.nh3_mg_m3, r.h2s_mg_m3) == (o.get("nh3_mg_m3"), o.get("h2s_mg_m3"))
    elif channel == "toilet/event":
        assert isinstance(r, ToiletEvent)
        assert (r.type, r.by) == ("cleaned", o.get("by"))
    else:
        assert isinstance(r, VehicleFix)
        assert r.vehicle == device
        crs = o.get("crs") or "WGS84"
        assert r.source_crs == crs
        assert (r.speed_kmh, r.heading_deg, r.hdop, r.working) == (
            o.get("speed_kmh"), o.get("heading_deg"), o.get("hdop"), o.get("working"),
        )  # fmt: skip
        if crs == "WGS84":
            assert (r.lat, r.lon) == (o["lat"], o["lon"])
        elif crs == "GCJ02":  # converting back gives what the device sent
            glat, glon = wgs84_to_gcj02(r.lat, r.lon)
            assert math.isclose(glat, o["lat"], abs_tol=1e-6)
            assert math.isclose(glon, o["lon"], abs_tol=1e-6)
        else:  # CGCS2000 and WGS84 agree to well under a metre
            assert math.isclose(r.lat, o["lat"], abs_tol=1e-5), (r, o)
            assert math.isclose(r.lon, o["lon"], abs_tol=1e-5), (r, o)


channels = st.sampled_from(sorted(SPECS))


@FUZZ
@given(data=st.data(), channel=channels)
def test_one_object_gives_its_record_or_the_reason_of_its_fault(data: st.DataObject, channel: str) -> None:
    kind = channel.split("/", maxsplit=1)[0]
    device = data.draw(st.sampled_from(DEVICES[kind]))
    case = data.draw(cases(channel))
    topic = f"{ROOT}/{kind}/{device}/{channel.split('/')[1]}"
    payload = orjson.dumps(case.obj)
    d = decode_message(topic, payload, NOW_MS, CTX)
    check_well_formed(d, topic, payload)
    if case.reason is None:
        assert d.dead_letters == ()
        (r,) = d.records
        check_record(channel, case, r, device)
    else:
        assert d.records == ()
        assert [x.reason for x in d.dead_letters] == [case.reason], (case, d.dead_letters)


@FUZZ
@given(data=st.data(), channel=channels)
def test_a_backlog_keeps_every_good_item_and_letters_each_bad_one_by_index(
    data: st.DataObject, channel: str
) -> None:
    kind, ch = channel.split("/")
    items = data.draw(st.lists(cases(channel), min_size=1, max_size=8))
    topic = f"{ROOT}/{kind}/{DEVICES[kind][0]}/{ch}"
    payload = orjson.dumps([c.obj for c in items])
    d = decode_message(topic, payload, NOW_MS, CTX)
    check_well_formed(d, topic, payload)
    good = [c for c in items if c.reason is None]
    assert len(d.records) == len(good)
    for c, r in zip(good, d.records, strict=True):
        check_record(channel, c, r, DEVICES[kind][0])
    bad = [(i, c.reason) for i, c in enumerate(items) if c.reason is not None]
    assert [(letter.detail.split(":")[0], letter.reason) for letter in d.dead_letters] == [
        (f"item {i}", reason) for i, reason in bad
    ]


@FUZZ
@given(data=st.data(), channel=channels)
def test_a_strict_registry_letters_unknown_devices_whatever_they_send(
    data: st.DataObject, channel: str
) -> None:
    kind, ch = channel.split("/")
    device = data.draw(st.sampled_from(DEVICES[kind]))
    case = data.draw(cases(channel, broken=False))
    topic = f"{ROOT}/{kind}/{device}/{ch}"
    d = decode_message(topic, orjson.dumps(case.obj), NOW_MS, STRICT)
    known = STRICT.registry.get(kind, device) is not None
    assert [x.reason for x in d.dead_letters] == ([] if known else ["unknown_device"])
    assert len(d.records) == int(known)


def mangle(payload: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    b = bytearray(payload)
    for at, value in edits:
        if b:
            b[at % len(b)] = value
    return bytes(b[:cut] if cut is not None else b)


@settings(max_examples=500, deadline=None)
@given(
    data=st.data(),
    channel=channels,
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4),
    cut=st.none() | st.integers(0, 200),
    as_array=st.booleans(),
)
def test_corrupted_payloads_never_raise_and_keep_the_raw_bytes(
    data: st.DataObject, channel: str, edits: list[tuple[int, int]], cut: int | None, as_array: bool
) -> None:
    kind, ch = channel.split("/")
    obj = data.draw(cases(channel)).obj
    payload = mangle(orjson.dumps([obj] if as_array else obj), edits, cut)
    topic = f"{ROOT}/{kind}/{DEVICES[kind][0]}/{ch}"
    check_well_formed(decode_message(topic, payload, NOW_MS, CTX), topic, payload)
    check_well_formed(decode_message(topic, bytearray(payload), NOW_MS, STRICT), topic, payload)


segment = st.text(st.sampled_from("abG01_.-/+# é\x00"), max_size=6)


@settings(max_examples=500, deadline=None)
@given(topic=st.one_of(st.text(max_size=60), st.lists(segment, max_size=6).map("/".join)))
def test_any_topic_is_decoded_or_letters_bad_topic_or_unknown_channel(topic: str) -> None:
    full = topic if topic.startswith(ROOT) else f"{ROOT}/{topic}"
    payload = b'{"ts": 1795600000000, "depth_cm": 1, "entries": 1, "type": "cleaned", "lat": 1, "lon": 1}'
    for t in (topic, full):
        d = decode_message(t, payload, NOW_MS, CTX)
        check_well_formed(d, t, payload)
        parts = t.removeprefix(ROOT + "/").split("/") if t.startswith(ROOT + "/") else []
        routable = len(parts) == 3 and f"{parts[0]}/{parts[2]}" in SPECS
        assert bool(d.records) == (routable and DEVICE_ID.fullmatch(parts[1]) is not None), d
        if d.records:
            assert parse_topic(t, ROOT).device == parts[1]
        else:
            assert [x.reason for x in d.dead_letters] in (["bad_topic"], ["unknown_channel"])


@settings(max_examples=200, deadline=None)
@given(
    depth=floats_in(0, 10_000),
    ts=timestamps(),
    pad=st.integers(0, 3),
)
def test_size_limits_hold_at_their_edges(depth: float, ts: tuple[object, int], pad: int) -> None:
    """An object up to 64 KiB is decoded and one byte more is too_large; arrays may be larger."""
    obj = {"ts": ts[0], "depth_cm": depth, "note": ""}
    base = len(orjson.dumps(obj))
    limit = 64 * 1024
    at_limit = orjson.dumps(obj | {"note": "x" * (limit - base - pad)})
    over = orjson.dumps(obj | {"note": "x" * (limit - base + 1 + pad)})
    topic = f"{ROOT}/gauge/G01/telemetry"
    assert len(decode_message(topic, at_limit, NOW_MS, CTX).records) == 1
    assert [x.reason for x in decode_message(topic, over, NOW_MS, CTX).dead_letters] == ["too_large"]
    array = orjson.dumps([obj | {"note": "x" * 40_000}] * 3)  # 120 KB: a backlog may be larger
    assert len(decode_message(topic, array, NOW_MS, CTX).records) == 3
