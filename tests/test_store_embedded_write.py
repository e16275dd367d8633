"""The embedded store's write path (storage/embedded_write.py, issue 22): the semantics its fast
paths could break, read back through the store's own queries."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

import duckdb
import pytest

from storage.embedded import EmbeddedStore
from telemetry.errors import StoreError
from telemetry.queries import LatestValue, SeriesQuery
from telemetry.records import DroneState, GaugeReading, Point, ToiletReading

T = TypeVar("T")
T0 = 1_795_564_800_000  # 2026-11-25T00:00:00Z
DRONE_FIELDS = ("lat", "lon", "mode", "armed", "satellites")


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


def gauge(device: str, t: int, depth: float, battery: float | None = None) -> Point:
    return GaugeReading(device, "haishu", t, depth, road="r", battery_v=battery).to_point()


async def drone_rows(s: EmbeddedStore, drone: str = "1") -> list[tuple[int, dict[str, object]]]:
    rows = await s.query_series(SeriesQuery("drone_state", DRONE_FIELDS, drone))
    return [(r.time_ms, dict(r.values)) for r in rows]


async def latest_of(s: EmbeddedStore, measurement: str) -> dict[str, LatestValue]:
    return {v.device: v for v in await s.latest(measurement)}


def test_duplicates_in_a_batch_merge_fields_and_the_later_value_wins(tmp_path: Path) -> None:
    async def go() -> None:
        async with EmbeddedStore(tmp_path) as s:
            await s.write(
                [
                    DroneState(1, T0, lat=29.1, lon=121.1).to_point(),
                    DroneState(2, T0, lat=30.0).to_point(),  # another series, same time
                    DroneState(1, T0, lat=29.2, mode="AUTO").to_point(),
                    DroneState(1, T0 + 1000, satellites=9).to_point(),
                    DroneState(1, T0, armed=True, mode="RTL").to_point(),
                ]
            )
            none = dict.fromkeys(DRONE_FIELDS)
            assert await drone_rows(s) == [
                (T0, none | {"lat": 29.2, "lon": 121.1, "mode": "RTL", "armed": True}),
                (T0 + 1000, none | {"satellites": 9}),
            ]
            assert await drone_rows(s, "2") == [(T0, none | {"lat": 30.0})]
            latest = await latest_of(s, "drone_state")
            assert (latest["1"].time_ms, latest["1"].fields) == (T0 + 1000, (("satellites", 9),))
            assert latest["2"].fields == (("lat", 30.0),)

    run(go())


def test_a_point_merges_field_by_field_with_the_stored_row(tmp_path: Path) -> None:
    """Redelivered or late points meet a stored row: a field the new point lacks keeps its value,
    also when the batch holds newer points too."""

    async def go() -> None:
        async with EmbeddedStore(tmp_path) as s:
            await s.write([DroneState(1, T0, lat=29.1, lon=121.1).to_point()])
            await s.write(
                [DroneState(1, T0, mode="AUTO").to_point(), DroneState(1, T0 + 1, lat=1.0).to_point()]
            )
            await s.write([DroneState(1, T0, lat=29.5).to_point()])
            none = dict.fromkeys(DRONE_FIELDS)
            assert await drone_rows(s) == [
                (T0, none | {"lat": 29.5, "lon": 121.1, "mode": "AUTO"}),
                (T0 + 1, none | {"lat": 1.0}),
            ]

    run(go())


def test_a_stored_row_the_latest_table_does_not_know_still_merges(tmp_path: Path) -> None:
    """The store skips the merge for points newer than the newest it knows per series (the
    ``latest`` table); a row it did not know of (a store whose ``latest`` lost it) is merged."""

    async def write(points: list[Point]) -> None:
        async with EmbeddedStore(tmp_path) as s:
            await s.write(points)

    run(write([DroneState(1, T0, lat=29.1, lon=121.1).to_point()]))
    con = duckdb.connect(str(tmp_path / "telemetry.duckdb"))
    con.execute("DELETE FROM latest")
    con.close()

    async def go() -> None:
        async with EmbeddedStore(tmp_path) as s:
            await s.write([DroneState(1, T0, mode="AUTO").to_point(), gauge("G01", T0, 1.0)])
            none = dict.fromkeys(DRONE_FIELDS)
            assert await drone_rows(s) == [(T0, none | {"lat": 29.1, "lon": 121.1, "mode": "AUTO"})]
            assert set(await latest_of(s, "water_depth")) == {"G01"}

    run(go())


def test_a_batch_of_several_measurements(tmp_path: Path) -> None:
    async def go() -> None:
        async with EmbeddedStore(tmp_path) as s:
            await s.write(
                [
                    gauge("G01", T0, 1.0),
                    DroneState(1, T0, lat=29.1).to_point(),
                    ToiletReading("T01", "haishu", T0, entries=3).to_point(),
                    gauge("G02", T0, 2.0, battery=3.6),
                    DroneState(1, T0 + 1000, mode="AUTO").to_point(),
                    gauge("G01", T0 + 1000, 1.5),
                    ToiletReading("T01", "haishu", T0 + 500, occupancy=1).to_point(),
                ]
            )
            depths = await s.query_series(SeriesQuery("water_depth", ("depth_cm", "battery_v")))
            assert sorted((r.time_ms, r.values) for r in depths) == [
                (T0, (("depth_cm", 1.0), ("battery_v", None))),
                (T0, (("depth_cm", 2.0), ("battery_v", 3.6))),
                (T0 + 1000, (("depth_cm", 1.5), ("battery_v", None))),
            ]
            assert [(t, f["lat"], f["mode"]) for t, f in await drone_rows(s)] == [
                (T0, 29.1, None),
                (T0 + 1000, None, "AUTO"),
            ]
            toilets = await s.query_series(SeriesQuery("toilet_footfall", ("entries", "occupancy"), "T01"))
            assert [r.values for r in toilets] == [
                (("entries", 3), ("occupancy", None)),
                (("entries", None), ("occupancy", 1)),
            ]
            gauges = await latest_of(s, "water_depth")
            assert {d: (v.time_ms, v.fields) for d, v in gauges.items()} == {
                "G01": (T0 + 1000, (("depth_cm", 1.5),)),
                "G02": (T0, (("depth_cm", 2.0), ("battery_v", 3.6))),
            }
            assert (await latest_of(s, "drone_state"))["1"].time_ms == T0 + 1000
            assert (await latest_of(s, "toilet_footfall"))["T01"].fields == (("occupancy", 1),)

    run(go())


@pytest.mark.parametrize(
    "bad",
    [
        DroneState(7, T0, lat="north").to_point(),  # type: ignore[arg-type]
        Point("drone_state", (("drone", "7"),), (("lat", 1.0), ("wingspan", 2.0)), T0),
        Point("no_such_thing", (("drone", "7"),), (("lat", 1.0),), T0),
    ],
    ids=["wrong type", "unknown field", "unknown measurement"],
)
def test_a_failure_mid_batch_leaves_no_rows_and_no_series(tmp_path: Path, bad: Point) -> None:
    async def go() -> None:
        async with EmbeddedStore(tmp_path) as s:
            await s.write([gauge("G01", T0, 1.0)])
            series = dict(s._series)
            good = [
                gauge("G02", T0, 2.0),
                gauge("G01", T0 + 1000, 1.1),
                DroneState(8, T0, lat=1.0).to_point(),
            ]
            with pytest.raises(StoreError) as err:
                await s.write([*good, bad, gauge("G03", T0, 3.0)])
            assert not err.value.retryable
            assert s._series == series
            rows = await s.query_series(SeriesQuery("water_depth", ("depth_cm",)))
            assert [(r.time_ms, r.values) for r in rows] == [(T0, (("depth_cm", 1.0),))]
            assert await s.query_series(SeriesQuery("drone_state", ("lat",))) == []
            assert [v.device for v in await s.latest("water_depth")] == ["G01"]
            assert (await latest_of(s, "water_depth"))["G01"].time_ms == T0
            # the same new series written again get the ids they would have had
            await s.write(good)
            assert s._series == series | {
                ("water_depth", good[0].tags): len(series) + 1,
                ("drone_state", good[2].tags): len(series) + 2,
            }
            assert len(await s.query_series(SeriesQuery("water_depth", ("depth_cm",)))) == 3

    run(go())


def test_a_wrong_type_names_the_measurement(tmp_path: Path) -> None:
    async def go() -> None:
        async with EmbeddedStore(tmp_path) as s:
            with pytest.raises(StoreError, match="drone_state: a field has the wrong type") as err:
                await s.write([gauge("G01", T0, 1.0), DroneState(1, T0, satellites="many").to_point()])  # type: ignore[arg-type]
            assert not err.value.retryable
            with pytest.raises(StoreError, match=r"water_depth: unknown fields \['colour'\]"):
                await s.write([Point("water_depth", gauge("G01", T0, 1.0).tags, (("colour", "red"),), T0)])

    run(go())


def test_latest_only_moves_forward(tmp_path: Path) -> None:
    async def go() -> None:
        async with EmbeddedStore(tmp_path) as s:
            # inside a batch the newest by time, not the last by place
            await s.write([gauge("G01", T0 + 3000, 3.0), gauge("G01", T0 + 2000, 2.0)])
            await s.write([gauge("G01", T0 + 1000, 1.0)])  # older: stored, latest stays
            v = (await latest_of(s, "water_depth"))["G01"]
            assert (v.time_ms, v.fields) == (T0 + 3000, (("depth_cm", 3.0),))
            await s.write([gauge("G01", T0 + 4000, 4.0, battery=3.5), gauge("G01", T0 + 500, 0.5)])
            v = (await latest_of(s, "water_depth"))["G01"]
            assert (v.time_ms, v.fields) == (T0 + 4000, (("depth_cm", 4.0), ("battery_v", 3.5)))
            rows = await s.query_series(SeriesQuery("water_depth", ("depth_cm",), "G01"))
            assert [r.values[0][1] for r in rows] == [0.5, 1.0, 2.0, 3.0, 4.0]

    async def reopened() -> None:
        async with EmbeddedStore(tmp_path) as s:  # the newest times come back from the latest table
            await s.write([gauge("G01", T0 + 4000, 9.0), gauge("G01", T0 + 5000, 5.0)])
            rows = await s.query_series(SeriesQuery("water_depth", ("depth_cm", "battery_v"), "G01"))
            assert [dict(r.values) for r in rows][-2:] == [
                {"depth_cm": 9.0, "battery_v": 3.5},
                {"depth_cm": 5.0, "battery_v": None},
            ]
            assert (await latest_of(s, "water_depth"))["G01"].time_ms == T0 + 5000

    run(go())
    run(reopened())


def test_bulk_load_runs_duckdb_on_one_thread_and_writes_the_same(tmp_path: Path) -> None:
    async def go() -> None:
        async with EmbeddedStore(tmp_path / "s") as s:
            await s.bulk_load()
            (threads,) = (await s._read("SELECT current_setting('threads')", []))[0]
            assert threads == 1
            await s.write([DroneState(1, T0, lat=1.0, mode="AUTO").to_point()])
            await s.write([DroneState(1, T0, armed=True).to_point()])  # merges, as without it
            assert await drone_rows(s) == [
                (T0, {"lat": 1.0, "lon": None, "mode": "AUTO", "armed": True, "satellites": None})
            ]

    run(go())
