"""Our line-protocol encoder against influxdb-client's Point, the reference."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from influxdb_client import Point as LibPoint
from influxdb_client import WritePrecision

from storage.lineprotocol import encode, encode_batch
from telemetry.records import GaugeReading, Point, VehicleFix

T0 = 1_795_564_800_000


def reference(p: Point) -> str:
    lib = LibPoint(p.measurement).time(p.time_ms, WritePrecision.MS)
    for k, v in p.tags:
        lib = lib.tag(k, v)
    for k, v in p.fields:
        lib = lib.field(k, v)
    return str(lib.to_line_protocol())


def test_known_lines() -> None:
    g = GaugeReading("G01", "haishu", T0, 12.0, road="环城 西路,1", battery_v=3.65).to_point()
    assert (
        encode(g)
        == f"water_depth,district=haishu,gauge=G01,road=环城\\ 西路\\,1 battery_v=3.65,depth_cm=12 {T0}"
    )
    v = VehicleFix("SW001", "haishu", "sweeper", T0, 29.87, 121.5, "GCJ02", working=True).to_point()
    assert encode(v) == (
        "vehicle_position,district=haishu,fleet=sweeper,vehicle=SW001"
        f' crs="GCJ02",lat=29.87,lon=121.5,working=true {T0}'
    )
    assert encode_batch([g, g]).count(b"\n") == 1


names = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12)
values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.text(max_size=20),
)


@settings(max_examples=500, deadline=None)
@given(
    measurement=names.filter(lambda s: not s.startswith("#")),
    tags=st.dictionaries(names, names, max_size=4),
    fields=st.dictionaries(names, values, min_size=1, max_size=4),
    time_ms=st.integers(min_value=0, max_value=4_102_444_800_000),
)
def test_matches_influxdb_client(
    measurement: str, tags: dict[str, str], fields: dict[str, float | int | bool | str], time_ms: int
) -> None:
    p = Point(measurement, tuple(sorted(tags.items())), tuple(fields.items()), time_ms)
    assert encode(p) == reference(p)
