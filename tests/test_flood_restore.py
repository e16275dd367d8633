"""A restart of the flood derivation against the real embedded store: grades, the offline flag,
sensor faults and their alerts come back as they were, and nothing is announced again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

from storage.embedded import EmbeddedStore
from telemetry.alerts.book import AlertBook
from telemetry.config import FloodConfig
from telemetry.derivation import Derived
from telemetry.flood.service import FloodService
from telemetry.records import AlertAck, GaugeReading, Record
from tests.test_flood_engine import HOUR, MIN, REGISTRY, T0, reading


class Harness:
    """A flood service whose records and readings are written to an embedded store."""

    def __init__(self, store: EmbeddedStore, cfg: FloodConfig | None = None) -> None:
        self.store = store
        self.service = FloodService(cfg or FloodConfig(), REGISTRY, AlertBook())

    @property
    def book(self) -> AlertBook:
        return self.service.engine.book

    async def write(self, records: Iterable[Record]) -> None:
        await self.store.write([r.to_point() for r in records])

    async def send(self, readings: list[GaugeReading], now: int) -> Derived:
        await self.write(readings)
        derived = self.service.observe([tuple(readings)], now)
        await self.write(derived.records)
        return derived

    async def tick(self, now: int) -> Derived:
        derived = self.service.tick(now)
        await self.write(derived.records)
        return derived


def test_restore_keeps_the_grade_the_offline_flag_and_the_alerts(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with EmbeddedStore(tmp_path) as store:
            a = Harness(store)
            await a.service.restore(store, T0)
            for k, d in enumerate([0, 8, 16, 29, 31]):
                await a.send([reading("G01", T0 + k * MIN, d)], T0 + k * MIN)
            assert (await a.tick(T0 + 10 * MIN)) == Derived()
            off = await a.tick(T0 + 20 * MIN)
            assert {n.topic for n in off.notices} >= {"alert/flood/G01", "alert/gauge_offline/G01"}
            flood, offline = a.book.active("flood", "G01"), a.book.active("gauge_offline", "G01")
            assert flood is not None
            assert offline is not None
            await a.write([AlertAck(offline.id, "gauge_offline", "duty-07", T0 + 21 * MIN)])

            b = Harness(store)  # the restart
            await b.service.restore(store, T0 + 30 * MIN)
            view = b.service.engine.view()["G01"]
            assert (view.level, view.offline, view.since_ms) == ("red", True, T0 + 2 * MIN)
            assert b.book.active("flood", "G01") == flood
            restored = b.book.active("gauge_offline", "G01")
            assert restored is not None
            assert (restored.id, restored.acknowledged_by) == (offline.id, "duty-07")
            assert restored.raised_at_ms == offline.raised_at_ms
            assert (await b.tick(T0 + 60 * MIN)) == Derived()  # offline already: nothing repeats
            back = await b.send([reading("G01", T0 + 61 * MIN, 31)], T0 + 61 * MIN)
            (record,) = back.records
            assert (getattr(record, "level", None), getattr(record, "offline", None)) == ("red", False)
            assert b.book.active("gauge_offline", "G01") is None
            assert b.book.active("flood", "G01") == flood  # still the same episode

    asyncio.run(scenario())


def test_restore_keeps_a_sensor_fault_until_the_readings_change(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with EmbeddedStore(tmp_path) as store:
            a = Harness(store)
            await a.service.restore(store, T0)
            for k in range(0, 7 * 60 + 1, 10):
                t = T0 + k * MIN
                for g in ("G02", "G03"):
                    await a.send([reading(g, t, 2.0 + 6 * ((k // 10) % 2))], t)
                await a.send([reading("G01", t, 35.0)], t)
            fault = a.book.active("sensor_fault", "G01")
            assert fault is not None
            assert a.book.active("flood", "G01") is None

            now = T0 + 7 * HOUR + 5 * MIN
            b = Harness(store)
            await b.service.restore(store, now)
            assert b.service.engine.view()["G01"].fault == a.service.engine.view()["G01"].fault
            assert b.book.active("sensor_fault", "G01") == fault
            assert b.book.active("flood", "G01") is None  # the fault stopped it: not restored
            assert (await b.send([reading("G01", now, 35.0)], now)).records == ()
            ok = await b.send([reading("G01", now + 10 * MIN, 36.0)], now + 10 * MIN)
            assert [n.topic for n in ok.notices] == ["alert/flood/G01", "alert/sensor_fault/G01"]
            assert b.book.active("sensor_fault", "G01") is None
            assert b.book.active("flood", "G01") is not None

    asyncio.run(scenario())


def test_restore_resumes_a_stuck_run_from_the_stored_readings(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with EmbeddedStore(tmp_path) as store:
            a = Harness(store)
            await a.service.restore(store, T0)
            for k in range(0, 5 * 60 + 1, 10):  # 5 hours before the restart
                t = T0 + k * MIN
                for g in ("G02", "G03"):
                    await a.send([reading(g, t, 2.0 + 6 * ((k // 10) % 2))], t)
                await a.send([reading("G01", t, 4.0)], t)
            b = Harness(store)
            await b.service.restore(store, T0 + 5 * HOUR + 5 * MIN)
            flagged: list[Record] = []
            for k in range(5 * 60 + 10, 7 * 60 + 1, 10):
                t = T0 + k * MIN
                for g in ("G02", "G03"):
                    await b.send([reading(g, t, 2.0 + 6 * ((k // 10) % 2))], t)
                flagged += (await b.send([reading("G01", t, 4.0)], t)).records
            assert [getattr(r, "time_ms", None) for r in flagged] == [T0 + 6 * HOUR]

    asyncio.run(scenario())


def test_restore_reads_a_legacy_offline_point(tmp_path: Path) -> None:
    """Points stored before the offline flag: level "offline" after a graded one."""
    from telemetry.records import FloodAlert

    async def scenario() -> None:
        async with EmbeddedStore(tmp_path) as store:
            legacy = [
                FloodAlert("G03", "red", T0, 31.0, 12.0, "depth 31.0 cm", f"flood-G03-{T0}"),
                FloodAlert("G03", "offline", T0 + 20 * MIN, 31.0, 0.0, "no reading", f"flood-G03-{T0}"),
                FloodAlert("G04", "offline", T0 + 20 * MIN, 0.0, 0.0, "no reading", f"flood-G04-{T0 + MIN}"),
            ]
            await store.write([r.to_point() for r in legacy])
            h = Harness(store)
            await h.service.restore(store, T0 + 30 * MIN)
            view = h.service.engine.view()
            assert (view["G03"].level, view["G03"].offline) == ("red", True)
            assert (view["G04"].level, view["G04"].offline) == ("green", True)
            flood = h.book.active("flood", "G03")
            assert flood is not None
            assert (flood.id, flood.level, flood.raised_at_ms) == (f"flood-G03-{T0}", "red", T0)
            assert h.book.active("gauge_offline", "G03") is not None
            assert h.book.active("flood", "G04") is None
            offline = h.book.active("gauge_offline", "G04")
            assert offline is not None
            assert offline.id == f"flood-G04-{T0 + MIN}"  # the old offline alert, acks and all

    asyncio.run(scenario())
