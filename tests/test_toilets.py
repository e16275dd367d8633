"""Toilet footfall, cleaning, air quality, silence and the daily minimum end to end (real
Mosquitto, real store). The service's clock is injected (:class:`Clock`): the derivations, the
runtime and the metrics route read it instead of the wall clock, so the tests pass at any hour,
local midnight included, and can move a day on in a second."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from storage.embedded import EmbeddedStore
from telemetry.alerts.book import AlertBook
from telemetry.assets import load_registry, sample_assets_dir
from telemetry.config import Settings, ToiletsConfig, load_settings
from telemetry.records import ToiletEvent, ToiletReading
from telemetry.toilets.service import ToiletService
from tests.clock import Clock
from tests.mqtt_util import Subscriber, publish_all, wait_until
from tests.servers import Mosquitto
from tests.test_toilet_rules import at

ROOT = "city/haishu"
AUTH = {"Authorization": "Bearer v"}
MIN = 60_000


def settings(mosquitto: Mosquitto, tmp_path: Path, **toilets: object) -> Settings:
    return load_settings(
        overrides={
            "store": {"path": str(tmp_path / "store")},
            "spool": {"path": str(tmp_path / "spool")},
            "mqtt": {"url": mosquitto.url, "client_id": "toilet-test"},
            "mavlink": {"endpoints": []},
            "api": {"tokens": [{"token": "v", "role": "viewer"}]},
            "pipeline": {"flush_interval_s": 0.05},
            "toilets": {"check_interval_s": 0.1, **toilets},
        }
    )


@pytest.fixture
def alerts(mosquitto: Mosquitto) -> Iterator[Subscriber]:
    sub = Subscriber(mosquitto.url, f"{ROOT}/alert/toilet/#")
    yield sub
    sub.close()


def levels(alerts: Subscriber, toilet: str, kind: str) -> list[str]:
    return [str(p["level"]) for t, p, _ in alerts.messages if t == f"{ROOT}/alert/toilet/{toilet}/{kind}"]


def app(s: Settings) -> TestClient:
    return TestClient(create_app(s, registry=load_registry(sample_assets_dir())))


def stored(c: TestClient, toilet: str) -> int:
    """Readings stored (so observed: the derivations see a batch before it is written)."""
    params = {"device": toilet, "field": "total", "fn": "count"}
    rows = c.get("/api/v1/series/toilet_footfall", params=params, headers=AUTH).json()["items"]
    return int(rows[0]["total"] or 0) if rows else 0


def recorded_ticks(c: TestClient) -> list[tuple[int, list[str]]]:
    """From now on, each tick of the running toilet service as (its clock, the topics of its
    notices): a positive record that the service has looked at a moment, instead of a sleep."""
    service: Any = c.app.state.runtime.toilets  # type: ignore[attr-defined]
    seen: list[tuple[int, list[str]]] = []
    original = service.tick

    def tick(now_ms: int) -> Any:
        derived = original(now_ms)
        seen.append((now_ms, [n.topic for n in derived.notices]))
        return derived

    service.tick = tick
    return seen


def marker(mosquitto: Mosquitto, alerts: Subscriber, toilet: str, ts: int) -> None:
    """A toilet alert announced after everything the toilet service derived before it (one queue,
    announced in order): the air of a toilet outside the registry (watched for nothing else) turns
    bad."""
    before = len(levels(alerts, toilet, "air"))
    publish_all(
        mosquitto.url, [(f"{ROOT}/toilet/{toilet}/telemetry", {"ts": ts, "entries": 0, "nh3_mg_m3": 1.5})]
    )
    wait_until(lambda: len(levels(alerts, toilet, "air")) > before, 10, f"the marker ({toilet}'s air)")


def metrics(c: TestClient, day: str) -> dict[str, dict[str, Any]]:
    r = c.get("/api/v1/toilets/metrics", params={"date": day}, headers=AUTH)
    assert r.status_code == 200, r.text
    return {m["toilet"]: m for m in r.json()["items"]}


@pytest.mark.integration
def test_footfall_cleaning_air_and_surge(
    mosquitto: Mosquitto, tmp_path: Path, clock: Clock, alerts: Subscriber
) -> None:
    start = at(0, "09:40")
    topic = f"{ROOT}/toilet/T01/telemetry"
    with app(settings(mosquitto, tmp_path, entries_due=20)) as c:
        wait_until(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
        msgs: list[tuple[str, Any]] = [
            (topic, {"ts": start, "total": 100}),
            (topic, {"ts": start + MIN, "total": 105}),
            (topic, {"ts": start + 2 * MIN, "total": 112}),
            (topic, {"ts": start + 2 * MIN, "total": 112}),  # a duplicate message
            (topic, {"ts": start + 3 * MIN, "total": 3}),  # the counter was reset
            (topic, [{"ts": start + 5 * MIN, "total": 10}, {"ts": start + 4 * MIN, "total": 6}]),  # backlog
        ]
        for m in msgs:
            publish_all(mosquitto.url, [m])
        wait_until(lambda: levels(alerts, "T01", "cleaning") == ["overdue"], 15, "overdue after 22 entries")
        cleaning = next(p for t, p, _ in alerts.messages if t.endswith("T01/cleaning"))
        assert "22 entries" in str(cleaning["reason"])
        event = {"ts": start + 6 * MIN, "type": "cleaned", "by": "张"}
        publish_all(mosquitto.url, [(f"{ROOT}/toilet/T01/event", event)])
        wait_until(lambda: levels(alerts, "T01", "cleaning") == ["overdue", "green"], 10, "cleaned")

        air = {"ts": start, "entries": 1, "nh3_mg_m3": 1.5}
        publish_all(mosquitto.url, [(f"{ROOT}/toilet/T03/telemetry", air)])
        wait_until(lambda: levels(alerts, "T03", "air") == ["exceeded"], 10, "air")
        surge = [(f"{ROOT}/toilet/T02/telemetry", {"ts": start + k * MIN, "entries": 9}) for k in range(5)]
        publish_all(mosquitto.url, surge)  # 45 entries in 5 minutes > half of 80
        wait_until(lambda: levels(alerts, "T02", "surge") == ["surge"], 10, "surge")

        active = {(a["kind"], a["subject"]) for a in c.get("/api/v1/alerts", headers=AUTH).json()["items"]}
        assert {("toilet_air", "T03"), ("toilet_surge", "T02")} <= active
        assert ("toilet", "T01") not in active

        wait_until(lambda: metrics(c, "2026-11-24")["T01"]["entries"] == 22, 10, "derived entries stored")
        t01 = metrics(c, "2026-11-24")["T01"]
        assert sum(t01["entries_per_hour"]) == 22
        assert len(t01["entries_per_hour"]) == 24
        assert t01["entries_per_hour"][9] == 22  # 09:40-09:45 local
        assert (t01["cleanings_done"], t01["cleaning_overdue"], t01["cleaning_overdue_now"]) == (1, 1, False)
        assert (t01["cleanings_minimum"], t01["cleanings_minimum_met"]) == (4, None)  # the day is not over
        assert metrics(c, "2026-11-24")["T03"]["air_exceedances"] == 1
        assert metrics(c, "2026-11-24")["T02"]["entries"] == 45
        bad = c.get("/api/v1/toilets/metrics", params={"date": "25-11-2026"}, headers=AUTH)
        assert bad.status_code == 400


@pytest.mark.integration
def test_silence_and_the_daily_minimum_over_mqtt_and_across_a_restart(
    mosquitto: Mosquitto, tmp_path: Path, clock: Clock, alerts: Subscriber
) -> None:
    s = settings(mosquitto, tmp_path)

    def reading(toilet: str, ms: int) -> tuple[str, dict[str, object]]:
        return f"{ROOT}/toilet/{toilet}/telemetry", {"ts": ms, "total": 7}

    def cleaned(toilet: str, *hhmm: str) -> list[tuple[str, object]]:
        return [(f"{ROOT}/toilet/{toilet}/event", {"ts": at(1, t), "type": "cleaned"}) for t in hhmm]

    with app(s) as c:  # started 2026-11-24 10:00
        wait_until(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
        publish_all(mosquitto.url, [reading(t, clock.ms) for t in ("T01", "T02", "T03")])
        wait_until(lambda: all(stored(c, t) == 1 for t in ("T01", "T02", "T03")), 10, "reports observed")
        ticks = recorded_ticks(c)
        clock.ms = at(0, "12:00")  # two hours of opening hours: not yet
        wait_until(lambda: any(t == clock.ms for t, _ in ticks), 10, "a tick at 12:00")
        at_noon = [topic for t, topics in ticks if t == clock.ms for topic in topics]
        assert [topic for topic in at_noon if topic.endswith("/silent")] == []
        assert [t for t, _, _ in alerts.messages if t.endswith("/silent")] == []
        clock.ms = at(0, "12:01")
        for toilet in ("T01", "T02", "T03"):
            wait_until(lambda t=toilet: levels(alerts, t, "silent") == ["silent"], 10, f"{toilet} silent")
        publish_all(mosquitto.url, [reading("T02", at(0, "12:02"))])
        wait_until(lambda: levels(alerts, "T02", "silent") == ["silent", "green"], 10, "T02 reports again")

        # 2026-11-25 is watched from its start: T01 (high) cleaned 4 times, T02 (high) once,
        # T03 (medium) twice; the 24th was watched from 10:00 only and is not judged
        clock.ms = at(1, "18:00")
        events = cleaned("T01", "08:00", "11:00", "14:00", "17:00") + cleaned("T02", "09:00")
        publish_all(mosquitto.url, events + cleaned("T03", "09:00", "15:00"))
        wait_until(lambda: metrics(c, "2026-11-25")["T03"]["cleanings_done"] == 2, 10, "cleanings stored")
        assert [t for t, _, _ in alerts.messages if t.endswith("/daily")] == []
        clock.ms = at(2, "00:00") + 30_000
        wait_until(lambda: levels(alerts, "T02", "daily") == ["missed"], 10, "T02 missed its minimum")
        ticks = recorded_ticks(c)  # two more ticks at the same moment judge nothing again
        wait_until(lambda: sum(t == clock.ms for t, _ in ticks) >= 2, 10, "two more ticks")
        assert [topic for t, topics in ticks for topic in topics if topic.endswith("/daily")] == []
        marker(mosquitto, alerts, "T98", clock.ms)
        assert [t for t, _, _ in alerts.messages if t.endswith("/daily")] == [
            f"{ROOT}/alert/toilet/T02/daily"
        ]
        daily = next(p for t, p, _ in alerts.messages if t.endswith("T02/daily"))
        assert "1 of 4 cleanings on 2026-11-25" in str(daily["reason"])
        day = metrics(c, "2026-11-25")
        got = {
            t: (m["cleanings_done"], m["cleanings_minimum"], m["cleanings_minimum_met"])
            for t, m in day.items()
            if t != "T98"  # the marker, outside the registry
        }
        assert got == {"T01": (4, 4, True), "T02": (1, 4, False), "T03": (2, 2, True)}
        one = c.get("/api/v1/toilets/T02/metrics", params={"date": "2026-11-25"}, headers=AUTH)
        assert one.json() == day["T02"]
        assert (
            c.get("/api/v1/toilets/T99/metrics", params={"date": "2026-11-25"}, headers=AUTH).status_code
            == 404
        )
        before = {a["id"]: a for a in c.get("/api/v1/alerts", headers=AUTH).json()["items"]}
        kinds = {(a["kind"], a["subject"]) for a in before.values()}
        assert {("toilet_daily", "T02"), ("toilet_silent", "T01"), ("toilet_silent", "T02")} <= kinds
        assert ("toilet_daily", "T01") not in kinds

    heard = len(alerts.messages)
    with app(s) as c:  # a restart: every alert is restored as it was, none is announced again
        wait_until(lambda: c.get("/readyz").status_code == 200, 10, "readiness after the restart")
        ticks = recorded_ticks(c)
        wait_until(lambda: len(ticks) >= 10, 10, "ten ticks")
        assert [topics for _, topics in ticks if topics] == []
        marker(mosquitto, alerts, "T99", clock.ms)
        after = {a["id"]: a for a in c.get("/api/v1/alerts", headers=AUTH).json()["items"]}
        toilet_alerts = {  # but T98's, the marker outside the registry: not restored (reported)
            i for i, a in before.items() if a["kind"].startswith("toilet") and a["subject"] != "T98"
        }
        assert toilet_alerts <= set(after)
        assert [t for t, _, _ in alerts.messages[heard:]] == [f"{ROOT}/alert/toilet/T99/air"]  # the marker


def test_restore_judges_a_day_the_service_missed(tmp_path: Path) -> None:
    """Down over midnight: the first tick after the restart judges yesterday from the store; a
    fresh store (nothing watched before today) judges nothing."""

    async def scenario() -> tuple[list[str], list[str]]:
        async with EmbeddedStore(tmp_path / "store") as store:
            registry = load_registry(sample_assets_dir())
            fresh = ToiletService(ToiletsConfig(), registry, AlertBook(), "haishu", at(2, "08:00"))
            await fresh.restore(store, at(2, "08:00"))
            none = [n.topic for n in fresh.tick(at(2, "08:01")).notices if n.topic.endswith("/daily")]
            points = [ToiletReading(t, "haishu", at(0, "10:00"), total=5).to_point() for t in ("T01", "T03")]
            points += [
                ToiletEvent("T01", "haishu", at(1, f"{h}:00"), "cleaned").to_point() for h in (8, 12, 16, 20)
            ]
            points += [ToiletEvent("T03", "haishu", at(1, "09:00"), "cleaned").to_point()]
            await store.write(points)
            service = ToiletService(ToiletsConfig(), registry, AlertBook(), "haishu", at(2, "08:00"))
            await service.restore(store, at(2, "08:00"))
            judged = [n.topic for n in service.tick(at(2, "08:01")).notices if n.topic.endswith("/daily")]
            return none, judged

    none, judged = asyncio.run(scenario())
    assert none == []
    assert sorted(judged) == ["alert/toilet/T02/daily", "alert/toilet/T03/daily"]  # T01: 4 of 4


@pytest.mark.parametrize(("back", "silent"), [(False, True), (True, False)])
def test_restore_keeps_silence_unless_a_backlog_ended_it(tmp_path: Path, back: bool, silent: bool) -> None:
    """A counter back with a backlog (old timestamps) ended its silence: stored as a `reporting`
    event, so a restart does not bring the silence back."""

    async def restored() -> bool:
        async with EmbeddedStore(tmp_path / "store") as store:
            points = [ToiletReading("T01", "haishu", at(0, "10:00"), total=5).to_point()]
            points += [ToiletEvent("T01", "haishu", at(0, "12:01"), "silent", "system").to_point()]
            if back:
                points += [ToiletEvent("T01", "haishu", at(0, "12:30"), "reporting", "system").to_point()]
            await store.write(points)
            registry = load_registry(sample_assets_dir())
            service = ToiletService(ToiletsConfig(), registry, AlertBook(), "haishu", at(0, "13:00"))
            await service.restore(store, at(0, "13:00"))
            return service.engine.book.active("toilet_silent", "T01") is not None

    assert asyncio.run(restored()) is silent
