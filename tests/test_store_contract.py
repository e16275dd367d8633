"""One contract for every store: run on `embedded` and `influxdb1` always, and on `influxdb2`
when INFLUXDB_V2_URL, INFLUXDB_V2_TOKEN and INFLUXDB_V2_ORG are set."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import pytest

from storage.embedded import EmbeddedStore
from storage.influxdb1 import InfluxDB1Store
from telemetry.errors import QueryError, StoreError
from telemetry.ports import Store
from telemetry.queries import SeriesQuery
from telemetry.records import DeadLetter, GaugeReading, Point, ToiletEvent, ToiletReading, VehicleFix
from tests.servers import Influxd

T = TypeVar("T")
H = 3_600_000
T0 = 1_795_564_800_000  # 2026-11-25T00:00:00Z
V2_VARS = ("INFLUXDB_V2_URL", "INFLUXDB_V2_TOKEN", "INFLUXDB_V2_ORG")


@pytest.fixture(params=["embedded", "influxdb1", "influxdb2"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], AsyncIterator[Store]]:
    kind = request.param
    if kind == "embedded":

        @asynccontextmanager
        async def embedded() -> AsyncIterator[Store]:
            async with EmbeddedStore(tmp_path / "embedded") as s:
                yield s

        return embedded
    if kind == "influxdb1":
        server: Influxd = request.getfixturevalue("influxd")

        @asynccontextmanager
        async def influx1() -> AsyncIterator[Store]:
            async with InfluxDB1Store(server.url, "contract", tmp_path / "dl.sqlite") as s:
                yield s

        return influx1
    missing = [v for v in V2_VARS if not os.environ.get(v)]
    if missing:
        pytest.skip(f"InfluxDB 2.x contract tests need {', '.join(missing)} (a real 2.x server)")
    from storage.influxdb2 import InfluxDB2Store

    bucket = f"contract_{os.getpid()}_{abs(hash(str(tmp_path))) % 10**8}"

    @asynccontextmanager
    async def influx2() -> AsyncIterator[Store]:
        async with InfluxDB2Store(
            os.environ["INFLUXDB_V2_URL"], os.environ["INFLUXDB_V2_TOKEN"], os.environ["INFLUXDB_V2_ORG"],
            bucket, tmp_path / "dl.sqlite", create_bucket=True,
        ) as s:  # fmt: skip
            yield s

    return influx2


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


def gauge(device: str, t: int, depth: float, battery: float | None = None) -> Point:
    return GaugeReading(device, "haishu", t, depth, road="r", battery_v=battery).to_point()


def test_write_query_and_idempotent(make_store: Callable[[], AsyncIterator[Store]]) -> None:
    async def go() -> None:
        async with make_store() as s:  # type: ignore[attr-defined]
            pts = [gauge("G01", T0 + i * 60_000, float(i)) for i in range(10)]
            await s.write(pts)
            await s.write(pts[:5])  # redelivered
            await s.write([gauge("G01", T0, 99.0)])  # same key: one row, last write wins
            await s.write([gauge("G02", T0, 7.0)])
            rows = await s.query_series(SeriesQuery("water_depth", ("depth_cm",), "G01"))
            assert [r.time_ms for r in rows] == [T0 + i * 60_000 for i in range(10)]
            assert rows[0].values == (("depth_cm", 99.0),)
            (n,) = await s.query_series(SeriesQuery("water_depth", ("depth_cm",), "G01", fn="count"))
            assert n.values == (("depth_cm", 10),)
            limited = await s.query_series(
                SeriesQuery("water_depth", ("depth_cm",), "G01", T0 + 120_000, T0 + 300_000)
            )
            assert [r.values[0][1] for r in limited] == [2.0, 3.0, 4.0]

    run(go())


@pytest.mark.parametrize(
    ("fn", "expected"),
    [("mean", [1.5, 11.5]), ("max", [3.0, 13.0]), ("min", [0.0, 10.0]), ("sum", [6.0, 46.0]),
     ("count", [4, 4]), ("last", [3.0, 13.0])],
)  # fmt: skip
def test_window_aggregates(
    make_store: Callable[[], AsyncIterator[Store]], fn: str, expected: list[float]
) -> None:
    async def go() -> None:
        async with make_store() as s:  # type: ignore[attr-defined]
            pts = [gauge("G01", T0 + i * 15 * 60_000, float(i)) for i in range(4)]
            pts += [gauge("G01", T0 + H + i * 15 * 60_000, float(10 + i)) for i in reversed(range(4))]
            pts += [gauge("G02", T0 + i * 60_000, 500.0) for i in range(4)]
            await s.write(pts)
            q = SeriesQuery("water_depth", ("depth_cm",), "G01", T0, T0 + 2 * H, every_ms=H, fn=fn)  # type: ignore[arg-type]
            rows = await s.query_series(q)
            assert [r.time_ms for r in rows] == [T0, T0 + H]
            assert [r.values[0][1] for r in rows] == pytest.approx(expected)

    run(go())


def test_types_round_trip_and_latest(make_store: Callable[[], AsyncIterator[Store]]) -> None:
    async def go() -> None:
        async with make_store() as s:  # type: ignore[attr-defined]
            await s.write([gauge("G01", T0 + 5000, 5.0), gauge("G02", T0, 1.0, battery=3.3)])
            await s.write([gauge("G01", T0, 0.5)])  # older: not the latest
            fix = VehicleFix(
                "SW001", "haishu", "sweeper", T0, 29.87, 121.52, "GCJ02", speed_kmh=6.0, working=True
            )
            toilet = ToiletReading("T01", "haishu", T0, entries=3, total=120)
            await s.write(
                [
                    fix.to_point(),
                    toilet.to_point(),
                    ToiletEvent("T01", "haishu", T0, "cleaned", "李").to_point(),
                ]
            )
            latest = {v.device: v for v in await s.latest("water_depth")}
            assert latest["G01"].time_ms == T0 + 5000
            assert dict(latest["G01"].fields) == {"depth_cm": 5.0}
            assert dict(latest["G02"].fields) == {"depth_cm": 1.0, "battery_v": 3.3}
            (v,) = await s.latest("vehicle_position")
            assert dict(v.tags) == {"district": "haishu", "fleet": "sweeper", "vehicle": "SW001"}
            rows = await s.query_series(
                SeriesQuery("vehicle_position", ("working", "crs", "speed_kmh"), "SW001")
            )
            assert rows[0].values == (("working", True), ("crs", "GCJ02"), ("speed_kmh", 6.0))
            (t,) = await s.query_series(SeriesQuery("toilet_footfall", ("entries", "total"), "T01"))
            assert t.values == (("entries", 3), ("total", 120))
            assert all(isinstance(x, int) for _, x in t.values)
            (e,) = await s.query_series(SeriesQuery("toilet_event", ("by",), "T01"))
            assert e.values == (("by", "李"),)

    run(go())


def test_a_conflicting_point_is_not_retryable_and_the_store_stays_usable(
    make_store: Callable[[], AsyncIterator[Store]],
) -> None:
    async def go() -> None:
        async with make_store() as s:  # type: ignore[attr-defined]
            await s.write([gauge("G01", T0, 1.0)])
            bad = Point("water_depth", (("gauge", "G01"),), (("depth_cm", "deep"),), T0 + 1000)
            with pytest.raises(StoreError) as exc:
                await s.write([bad])
            assert exc.value.retryable is False
            await s.write([gauge("G01", T0 + 2000, 2.0)])
            assert len(await s.query_series(SeriesQuery("water_depth", ("depth_cm",), "G01"))) == 2

    run(go())


def test_dead_letters_keep_raw_payloads(make_store: Callable[[], AsyncIterator[Store]]) -> None:
    async def go() -> None:
        async with make_store() as s:  # type: ignore[attr-defined]
            big = b"\xff" + b"x" * 200_000
            await s.write_dead_letters(
                [DeadLetter(T0, "mqtt", "city/haishu/gauge/G01/telemetry", big, "too_large", "d")]
            )
            (d,) = await s.dead_letters()
            assert (d.payload, d.reason, d.received_ms) == (big, "too_large", T0)

    run(go())


def test_query_errors(make_store: Callable[[], AsyncIterator[Store]]) -> None:
    async def go() -> None:
        async with make_store() as s:  # type: ignore[attr-defined]
            with pytest.raises(QueryError):
                await s.query_series(SeriesQuery("nope", ()))
            with pytest.raises(QueryError):
                await s.query_series(SeriesQuery("water_depth", ("speed",)))
            await s.ping()

    run(go())


def test_same_point_twice_merges_fields_last_write_wins(
    make_store: Callable[[], AsyncIterator[Store]],
) -> None:
    """InfluxDB semantics: a later write of the same point sets its fields, keeps the others."""

    async def go() -> None:
        async with make_store() as s:  # type: ignore[attr-defined]
            await s.write([Point("drone_state", (("drone", "1"),), (("lat", 29.8), ("mode", "AUTO")), T0)])
            await s.write([Point("drone_state", (("drone", "1"),), (("mode", "RTL"), ("armed", True)), T0)])
            await s.write(
                [
                    Point("drone_state", (("drone", "2"),), (("lat", 1.0),), T0),
                    Point("drone_state", (("drone", "2"),), (("lon", 2.0),), T0),  # same batch
                ]
            )
            (one,) = await s.query_series(SeriesQuery("drone_state", ("lat", "mode", "armed"), "1"))
            assert one.values == (("lat", 29.8), ("mode", "RTL"), ("armed", True))
            (two,) = await s.query_series(SeriesQuery("drone_state", ("lat", "lon"), "2"))
            assert two.values == (("lat", 1.0), ("lon", 2.0))

    run(go())


def test_tag_and_value_filters(make_store: Callable[[], AsyncIterator[Store]]) -> None:
    async def go() -> None:
        async with make_store() as s:  # type: ignore[attr-defined]
            await s.write(
                [
                    ToiletEvent("T01", "haishu", T0 + i * 1000, "cleaned" if i % 3 else "overdue").to_point()
                    for i in range(9)
                ]
                + [
                    ToiletReading("T01", "haishu", T0 + i * 1000, nh3_mg_m3=0.1 * i).to_point()
                    for i in range(10)
                ]
            )
            (n,) = await s.query_series(
                SeriesQuery("toilet_event", ("by",), "T01", fn="count", tags=(("type", "cleaned"),))
            )
            assert n.values == (("by", 6),)
            (hot,) = await s.query_series(
                SeriesQuery("toilet_footfall", ("nh3_mg_m3",), "T01", fn="count", above=0.55)
            )
            assert hot.values == (("nh3_mg_m3", 4),)  # 0.6, 0.7, 0.8, 0.9
            with pytest.raises(QueryError):
                await s.query_series(SeriesQuery("toilet_event", ("by",), tags=(("colour", "red"),)))

    run(go())
