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
from telemetry.errors import StoreError
from telemetry.queries import SeriesQuery
from telemetry.records import DroneState, GaugeReading, Point

T = TypeVar("T")
H = 3_600_000
T0 = 1_795_564_800_000  # 2026-11-25T00:00:00Z


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


def gauge(device: str, t: int, depth: float, battery: float | None = None) -> Point:
    return GaugeReading(device, "haishu", t, depth, road="r", battery_v=battery).to_point()


def test_duplicates_inside_one_batch_are_stored_once(tmp_path: Path) -> None:
    async def go() -> None:
        async with EmbeddedStore(tmp_path) as s:
            await s.write([gauge("G01", T0, 1.0), gauge("G01", T0, 2.0), gauge("G02", T0, 3.0)])
            rows = await s.query_series(SeriesQuery("water_depth", ("depth_cm",)))
            assert sorted(r.values[0][1] for r in rows) == [2.0, 3.0]

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


def test_a_store_made_before_a_field_existed_gains_its_column(tmp_path: Path) -> None:
    """Upgrading keeps the data: drone_state made without the fields added later (autopilot,
    mission_state, home) gets the columns at the next start, and old rows read back."""
    import duckdb

    con = duckdb.connect(str(tmp_path / "telemetry.duckdb"))
    con.execute("CREATE TABLE m_drone_state (series INTEGER NOT NULL, time BIGINT NOT NULL, lat DOUBLE,"
                " PRIMARY KEY (series, time))")  # fmt: skip
    con.close()

    async def go() -> list[dict[str, object]]:
        async with EmbeddedStore(tmp_path) as s:
            await s.write([DroneState(1, T0, lat=29.87).to_point()])
            await s.write([DroneState(1, T0 + 1000, autopilot="px4", mission_state=5).to_point()])
            rows = await s.query_series(
                SeriesQuery("drone_state", ("lat", "autopilot", "mission_state"), "1")
            )
            return [dict(r.values) for r in rows]

    assert run(go()) == [
        {"lat": 29.87, "autopilot": None, "mission_state": None},
        {"lat": None, "autopilot": "px4", "mission_state": 5},
    ]


def test_closing_while_a_read_runs_lets_it_finish_and_refuses_new_ones(tmp_path: Path) -> None:
    """Seen once in CI at a test's teardown: the store closed its connection under a read still
    running in the reader thread, and DuckDB refused ("connection is busy with another call")."""
    slow = "SELECT sum(hash(i)) FROM range(200000000) t(i)"  # a few hundred ms of work

    async def go() -> None:
        store = EmbeddedStore(tmp_path)
        await store.__aenter__()
        reading = asyncio.create_task(store._read(slow, []))
        await asyncio.sleep(0.1)  # the read is running in the reader thread
        await store.__aexit__(None, None, None)  # must not raise
        assert (await reading)[0][0] > 0  # the read in flight was answered
        with pytest.raises(StoreError, match="not open"):
            await store._read("SELECT 1", [])

    run(go())
