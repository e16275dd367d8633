from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

import pytest

from storage.embedded import EmbeddedStore
from telemetry.errors import QueryError, StoreError
from telemetry.queries import SeriesQuery
from telemetry.records import DeadLetter, GaugeReading, Point, ToiletEvent, VehicleFix

T = TypeVar("T")
H = 3_600_000
T0 = 1_795_564_800_000  # 2026-11-25T00:00:00Z


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


def gauge(device: str, t: int, depth: float, battery: float | None = None) -> Point:
    return GaugeReading(device, "haishu", t, depth, road="r", battery_v=battery).to_point()


def test_write_query_raw_and_idempotent(tmp_path: Path) -> None:
    async def go() -> None:
        async with EmbeddedStore(tmp_path) as s:
            pts = [gauge("G01", T0 + i * 60_000, float(i)) for i in range(10)]
            await s.write(pts)
            await s.write(pts[:5])  # redelivered duplicates
            await s.write([gauge("G01", T0, 99.0)])  # same key: last write wins, one row
            rows = await s.query_series(SeriesQuery("water_depth", ("depth_cm",), "G01"))
            assert len(rows) == 10
            assert rows[0].values == (("depth_cm", 99.0),)
            assert [r.time_ms for r in rows] == [T0 + i * 60_000 for i in range(10)]
            (count,) = await s.query_series(SeriesQuery("water_depth", ("depth_cm",), "G01", fn="count"))
            assert count.values == (("depth_cm", 10),)

    run(go())


def test_duplicates_inside_one_batch_are_stored_once(tmp_path: Path) -> None:
    async def go() -> None:
        async with EmbeddedStore(tmp_path) as s:
            await s.write([gauge("G01", T0, 1.0), gauge("G01", T0, 2.0), gauge("G02", T0, 3.0)])
            rows = await s.query_series(SeriesQuery("water_depth", ("depth_cm",)))
            assert sorted(r.values[0][1] for r in rows) == [2.0, 3.0]

    run(go())


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        ("mean", [1.5, 11.5]),
        ("max", [3.0, 13.0]),
        ("min", [0.0, 10.0]),
        ("sum", [6.0, 46.0]),
        ("count", [4, 4]),
        ("last", [3.0, 13.0]),
    ],
)
def test_window_aggregates(tmp_path: Path, fn: str, expected: list[float]) -> None:
    async def go() -> None:
        async with EmbeddedStore(tmp_path) as s:
            # hour 0: 0,1,2,3; hour 1: 10..13, written out of order; another gauge is ignored
            pts = [gauge("G01", T0 + i * 15 * 60_000, float(i)) for i in range(4)]
            pts += [gauge("G01", T0 + H + i * 15 * 60_000, float(10 + i)) for i in reversed(range(4))]
            pts += [gauge("G02", T0 + i * 60_000, 500.0) for i in range(4)]
            await s.write(pts)
            q = SeriesQuery("water_depth", ("depth_cm",), "G01", T0, T0 + 2 * H, every_ms=H, fn=fn)  # type: ignore[arg-type]
            rows = await s.query_series(q)
            assert [r.time_ms for r in rows] == [T0, T0 + H]
            assert [r.values[0][1] for r in rows] == pytest.approx(expected)

    run(go())


def test_time_range_is_start_inclusive_stop_exclusive(tmp_path: Path) -> None:
    async def go() -> None:
        async with EmbeddedStore(tmp_path) as s:
            await s.write([gauge("G01", T0 + i * 1000, float(i)) for i in range(10)])
            rows = await s.query_series(
                SeriesQuery("water_depth", ("depth_cm",), "G01", T0 + 2000, T0 + 5000)
            )
            assert [r.values[0][1] for r in rows] == [2.0, 3.0, 4.0]

    run(go())


def test_query_errors(tmp_path: Path) -> None:
    async def go() -> None:
        async with EmbeddedStore(tmp_path) as s:
            with pytest.raises(QueryError, match="unknown measurement"):
                await s.query_series(SeriesQuery("nope", ()))
            with pytest.raises(QueryError, match="no field"):
                await s.query_series(SeriesQuery("water_depth", ("speed",)))
            with pytest.raises(QueryError, match="text"):
                await s.query_series(SeriesQuery("toilet_event", ("by",), fn="mean", every_ms=H))

    run(go())


def test_latest_per_device_and_other_measurements(tmp_path: Path) -> None:
    async def go() -> None:
        async with EmbeddedStore(tmp_path) as s:
            await s.write([gauge("G01", T0 + 5000, 5.0), gauge("G02", T0, 1.0, battery=3.3)])
            await s.write([gauge("G01", T0, 0.5)])  # older: must not replace the latest
            fix = VehicleFix("SW001", "haishu", "sweeper", T0, 29.87, 121.52, "GCJ02", working=True)
            await s.write([fix.to_point(), ToiletEvent("T01", "haishu", T0, "cleaned", "李").to_point()])
            latest = {v.device: v for v in await s.latest("water_depth")}
            assert latest["G01"].time_ms == T0 + 5000
            assert dict(latest["G01"].fields) == {"depth_cm": 5.0}
            assert dict(latest["G02"].fields) == {"depth_cm": 1.0, "battery_v": 3.3}
            (v,) = await s.latest("vehicle_position")
            assert dict(v.fields)["working"] is True
            assert dict(v.tags)["fleet"] == "sweeper"
            rows = await s.query_series(SeriesQuery("vehicle_position", ("working", "crs"), "SW001"))
            assert rows[0].values == (("working", True), ("crs", "GCJ02"))

    run(go())


def test_wrongly_typed_points_are_refused_not_retryable(tmp_path: Path) -> None:
    async def go() -> None:
        async with EmbeddedStore(tmp_path) as s:
            bad = Point("water_depth", (("gauge", "G01"),), (("depth_cm", "deep"),), T0)
            with pytest.raises(StoreError) as exc:
                await s.write([bad])
            assert exc.value.retryable is False
            unknown = Point("water_depth", (("gauge", "G01"),), (("colour", 1.0),), T0)
            with pytest.raises(StoreError):
                await s.write([unknown])
            await s.write([gauge("G01", T0, 1.0)])  # still usable afterwards
            assert len(await s.query_series(SeriesQuery("water_depth", ("depth_cm",)))) == 1

    run(go())


def test_dead_letters_are_kept_with_raw_payload(tmp_path: Path) -> None:
    async def go() -> None:
        async with EmbeddedStore(tmp_path) as s:
            await s.write_dead_letters(
                [DeadLetter(T0, "mqtt", "city/haishu/gauge/G01/telemetry", b"\xffbad", "bad_utf8", "x")]
            )
            (d,) = await s.dead_letters()
            assert (d.payload, d.reason, d.topic, d.received_ms) == (
                b"\xffbad",
                "bad_utf8",
                "city/haishu/gauge/G01/telemetry",
                T0,
            )

    run(go())


def test_data_survives_reopen_and_series_ids_are_reused(tmp_path: Path) -> None:
    async def write() -> None:
        async with EmbeddedStore(tmp_path) as s:
            await s.write([gauge("G01", T0, 1.0)])

    async def reopen() -> None:
        async with EmbeddedStore(tmp_path) as s:
            await s.write([gauge("G01", T0 + 1, 2.0), gauge("G01", T0, 1.0)])
            rows = await s.query_series(SeriesQuery("water_depth", ("depth_cm",), "G01"))
            assert [r.values[0][1] for r in rows] == [1.0, 2.0]
            assert len(await s.latest("water_depth")) == 1

    run(write())
    run(reopen())


def test_a_sigkilled_writer_loses_no_committed_batch(tmp_path: Path) -> None:
    """Crash safety: a process killed right after write() returned keeps every batch."""
    script = textwrap.dedent(
        f"""
        import asyncio, os, signal, sys
        from storage.embedded import EmbeddedStore
        from telemetry.records import GaugeReading
        async def main():
            s = EmbeddedStore({str(tmp_path)!r})
            await s.__aenter__()
            for b in range(20):
                await s.write([GaugeReading("G01", "haishu", {T0} + (b * 100 + i) * 1000, float(i)).to_point()
                               for i in range(100)])
            print("written", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        asyncio.run(main())
        """
    )
    r = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert "written" in r.stdout, r.stderr
    assert r.returncode == -9

    async def check() -> None:
        async with EmbeddedStore(tmp_path) as s:
            (n,) = await s.query_series(SeriesQuery("water_depth", ("depth_cm",), "G01", fn="count"))
            assert n.values == (("depth_cm", 2000),)

    run(check())
