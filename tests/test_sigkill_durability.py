"""SIGKILL of ``telemetry serve`` (a real process, real Mosquitto, the embedded store) during a
running mission, during a flood dwell and around a toilet counter reset (issue 17): after the
next start the API shows the same missions, approvals, alerts, acknowledgements and progress,
nothing is raised or counted twice and nothing is lost; the running mission keeps its flight
evidence in one .tlog from upload to landing."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from drones.tlog import read_tlog
from storage.embedded import EmbeddedStore
from telemetry.alerts.book import AlertBook
from telemetry.assets import load_registry, sample_assets_dir
from telemetry.config import FloodConfig, ToiletsConfig
from telemetry.flood.service import FloodService
from telemetry.queries import SeriesQuery
from telemetry.records import AlertAck, DroneState, GaugeReading, ToiletReading
from telemetry.toilets.service import ToiletService
from tests.mqtt_util import Subscriber, publish_all, wait_until
from tests.peers.ardupilot import ArduCopterPeer
from tests.serve_process import Serve
from tests.servers import Mosquitto, free_udp_port
from tests.test_flood_engine import REGISTRY
from tests.test_replay import replay_cli
from tests.test_toilet_rules import at

ROOT = "city/haishu"
HOME = (29.8737, 121.5453, 5.0)
POINTS = [[121.5460, 29.8740], [121.5470, 29.8745], [121.5480, 29.8740], [121.5470, 29.8735]]
MIN = 60_000
ZONE = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def announced(mosquitto: Mosquitto) -> Iterator[Subscriber]:
    sub = Subscriber(mosquitto.url, f"{ROOT}/alert/#")
    yield sub
    sub.close()


def live(sub: Subscriber, topic: str) -> list[dict[str, object]]:
    """What was announced on ``topic`` while the subscriber listened (not retained copies)."""
    return [p for t, p, retained in sub.messages if t == topic and not retained]


# --- a. a running mission -------------------------------------------------------------------


def _drone(s: Serve, sysid: int) -> dict[str, Any]:
    return next((d for d in s.json("/api/v1/drones")["items"] if d["drone"] == sysid), {})


def _progress(s: Serve, sysid: int) -> dict[str, Any]:
    return _drone(s, sysid).get("mission") or {}


def _tear(path: Path, tail: bytes) -> None:
    """What a crash in the middle of a write leaves: the start of a record, no end."""
    with path.open("ab") as f:
        f.write(tail)


@pytest.mark.integration
@pytest.mark.slow
def test_sigkill_during_a_running_mission(mosquitto: Mosquitto, tmp_path: Path) -> None:
    port = free_udp_port()
    s = Serve(
        tmp_path, mosquitto.url, "sigkill-mission", f'[mavlink]\nendpoints = ["udpin:127.0.0.1:{port}"]\n'
    )
    body = {"type": "points", "points": POINTS, "altitude_agl_m": 30, "home": [HOME[1], HOME[0]]}
    try:
        with ArduCopterPeer(f"udpout:127.0.0.1:{port}", sysid=43, home=HOME, item_s=3.0) as peer:
            s.start()
            m = s.post("/api/v1/missions", "pilot", body).json()
            r = s.post(f"/api/v1/missions/{m['id']}/approval", "pilot", {"approval_id": "CAAC-43"})
            assert r.status_code == 200, r.text
            wait_until(lambda: _drone(s, 43).get("autopilot") == "ardupilot", 20, "heard")
            wait_until(lambda: _drone(s, 43).get("fix") == "3D", 20, "drone online")
            up = s.post(f"/api/v1/missions/{m['id']}/upload", "pilot", {"drone": 43})
            assert up.json()["verified"] is True, up.text
            assert s.post(f"/api/v1/missions/{m['id']}/start", "pilot").status_code == 200
            wait_until(lambda: _progress(s, 43).get("current", 0) >= 2, 60, "the drone on its way")
            before = s.json(f"/api/v1/missions/{m['id']}")
            assert (before["state"], before["approval_id"], before["drone"]) == ("running", "CAAC-43", 43)
            assert before["approved_by"] == "pilot-07"
            current = _progress(s, 43)["current"]
            killed_us = time.time_ns() // 1000
            s.kill()
            assert not peer.complete  # it flies on while the service is down
            tlog = tmp_path / "store" / "flights" / f"{m['id']}.tlog"
            size = tlog.stat().st_size
            _tear(tlog, (killed_us + 1).to_bytes(8, "big") + b"\xfd\x1c\x00\x00")  # a torn packet
            _tear(s.audit_log(), b'{"seq":')  # a torn audit record
            s.start()
            started_us = time.time_ns() // 1000

            after = s.json(f"/api/v1/missions/{m['id']}")
            assert after == before  # plan, checks, approval, who approved, drone, state running
            assert [x["id"] for x in s.json("/api/v1/missions", state="running")] == [m["id"]]
            (upload,) = s.audit("mission_upload")
            assert (upload["actor"], upload["subject"], upload["data"]["ok"]) == ("pilot-07", m["id"], True)
            back = {"id": m["id"], "state": "running"}  # MISSION_CURRENT: where the vehicle is now
            wait_until(lambda: _progress(s, 43).get("current", 0) > current, 30, "progress from the vehicle")
            assert {k: _progress(s, 43)[k] for k in back} == back
            wait_until(lambda: s.json(f"/api/v1/missions/{m['id']}")["state"] == "done", 120, "done")
            assert peer.complete
            wait_until(lambda: bool(s.audit("flight_log")), 20, "the flight log audited")

            cut = s.audit("flight_log_truncated")
            assert [(c["subject"], c["data"]["bytes_removed"]) for c in cut] == [(m["id"], 12)]
            (torn,) = s.audit("audit_truncated")
            assert torn["data"]["bytes_removed"] == len(b'{"seq":')
            verified = s.verify_audit()
            assert verified.returncode == 0, verified.stdout + verified.stderr

            r = s.get(f"/api/v1/missions/{m['id']}.tlog")
            assert r.status_code == 200, r.text
            (evidence,) = s.audit("flight_log")
            assert evidence["data"]["bytes"] == len(r.content) > size
            assert evidence["data"]["sha256"] == hashlib.sha256(r.content).hexdigest()
    finally:
        s.stop()
    flight = tmp_path / "flight.tlog"
    flight.write_bytes(r.content)
    bad: list[int] = []
    records = [rec for chunk in read_tlog(flight, on_bad=lambda: bad.append(1)) for rec in chunk.records]
    assert bad == []  # the torn packet was cut: the whole file parses
    heard = sorted(rec.time_ms * 1000 for rec in records if isinstance(rec, DroneState))
    assert heard[0] < killed_us < started_us < heard[-1]  # before the kill and after the start
    done = replay_cli(flight, tmp_path / "replay-store", tmp_path / "replay-spool")
    assert done.returncode == 0, done.stderr
    assert f"replayed {len(records)} records" in done.stdout


# --- b. a flood dwell -----------------------------------------------------------------------

FLOOD = f"{ROOT}/alert/flood/G01"
RISE = (5.0, 12.0, 20.0, 28.0, 33.0)  # cm, a gauge reporting every minute once wet: red
CALM = 20.0  # under 27 cm: red's dwell runs; grade(20 + 3) is yellow


def _gauge(base_ms: int, minutes: range | tuple[int, ...]) -> list[tuple[str, Any]]:
    depth = [*RISE, *[CALM] * 20]
    return [(f"{ROOT}/gauge/G01/telemetry", {"ts": base_ms + k * MIN, "depth_cm": depth[k]}) for k in minutes]


def _flood_alerts(s: Serve) -> list[dict[str, Any]]:
    items = s.json("/api/v1/alerts", state="all", kind="flood")["items"]
    return [a for a in items if a["subject"] == "G01"]


@pytest.mark.integration
@pytest.mark.slow
def test_sigkill_during_a_flood_dwell(mosquitto: Mosquitto, tmp_path: Path, announced: Subscriber) -> None:
    """Red at minute 4, calm from minute 5: the downgrade to yellow is due at minute 15 (the
    default 10-minute dwell of event time). The service is killed at minute 10, halfway."""
    s = Serve(tmp_path, mosquitto.url, "sigkill-flood", "[mavlink]\nendpoints = []\n")
    base = (time.time_ns() // 1_000_000 // MIN - 30) * MIN  # readings up to 12 minutes ago
    try:
        s.start()
        publish_all(mosquitto.url, _gauge(base, range(5)))
        wait_until(lambda: [p["level"] for p in live(announced, FLOOD)][-1:] == ["red"], 20, "red")
        (alert,) = (a for a in _flood_alerts(s) if a["state"] == "active")
        acked = s.post(f"/api/v1/alerts/{alert['id']}/ack", "manager").json()
        assert acked["acknowledged_by"] == "duty-03"
        wait_until(
            lambda: s.count("flood_alert", "G01", "depth_cm") == len(live(announced, FLOOD)), 10, "stored"
        )
        publish_all(mosquitto.url, _gauge(base, range(5, 11)))  # six calm minutes of ten
        wait_until(lambda: s.count("water_depth", "G01", "depth_cm") == 11, 10, "readings stored")
        before = live(announced, FLOOD)
        s.kill()
        announced.messages.clear()
        s.start()

        assert _flood_alerts(s) == [acked]  # same id, level, raise time, acknowledgement
        publish_all(mosquitto.url, _gauge(base, range(11, 15)))  # calm, the dwell not yet over
        wait_until(lambda: s.count("water_depth", "G01", "depth_cm") == 15, 10, "readings stored")
        publish_all(mosquitto.url, _gauge(base, range(15, 18)))
        wait_until(lambda: bool(live(announced, FLOOD)), 10, "the downgrade")
        wait_until(lambda: s.count("water_depth", "G01", "depth_cm") == 18, 10, "readings stored")
        (down,) = live(announced, FLOOD)  # exactly one change: the dwell ended once
        assert (down["level"], down["since"], down["alert_id"]) == ("yellow", base + 15 * MIN, alert["id"])
        assert {p["alert_id"] for p in before} == {alert["id"]}  # one alert for the episode
        (after,) = _flood_alerts(s)
        assert after == {**acked, "level": "yellow", "reason": after["reason"]}
        assert "under 27 cm for 10 min" in after["reason"]
    finally:
        s.stop()


# --- c. a toilet counter reset --------------------------------------------------------------

TOILET = f"{ROOT}/toilet/T03/telemetry"
AIR = f"{ROOT}/alert/toilet/T03/air"
BEFORE_RESET = (480, 481, 482, 484, 485, 486, 487, 488, 489, 490)  # a minute apart, then 491
AFTER_RESET = (1, 2, 3, 3, 4, 5, 6, 7, 7, 8, 9, 10, 11, 12, 13)  # from R + 1 min (no surge)


def _reset_time(now_ms: int) -> int:
    """Local midnight, when the counter resets as fielded (docs/toilets.md), if it lies at least
    40 minutes back; in the first 40 minutes of a day a reset (a power cycle) 40 minutes ago."""
    now = datetime.fromtimestamp(now_ms / 1000, ZONE)
    midnight = int(now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)
    return midnight if now_ms - midnight >= 40 * MIN else (now_ms // MIN - 40) * MIN


def _totals(reset_ms: int) -> list[tuple[int, int]]:
    """The counter's cumulative totals every minute around its reset, the day's last total at
    the millisecond before it (as the simulator's counters and fielded ones report)."""
    totals = [(reset_ms + (k - 10) * MIN, t) for k, t in enumerate(BEFORE_RESET)]
    return totals + [(reset_ms - 1, 491)] + [(reset_ms + (k + 1) * MIN, t) for k, t in enumerate(AFTER_RESET)]


def _day(time_ms: int) -> str:
    return datetime.fromtimestamp(time_ms / 1000, ZONE).date().isoformat()


def _entries(s: Serve, day: str) -> int:
    (t03,) = (m for m in s.json("/api/v1/toilets/metrics", date=day)["items"] if m["toilet"] == "T03")
    assert sum(t03["entries_per_hour"]) == t03["entries"]
    return int(t03["entries"])


def _toilet_alerts(s: Serve) -> list[dict[str, Any]]:
    return [a for a in s.json("/api/v1/alerts", state="all")["items"] if a["subject"] == "T03"]


@pytest.mark.integration
@pytest.mark.slow
def test_sigkill_around_a_toilet_counter_reset(
    mosquitto: Mosquitto, tmp_path: Path, announced: Subscriber
) -> None:
    s = Serve(tmp_path, mosquitto.url, "sigkill-toilets", "[mavlink]\nendpoints = []\n")
    reset = _reset_time(time.time_ns() // 1_000_000)
    totals = _totals(reset)
    messages: list[tuple[str, dict[str, object]]] = [
        (TOILET, {"ts": ts, "total": t, "nh3_mg_m3": 1.5}) for ts, t in totals
    ]  # the air over T03's class-2 limit throughout
    expected: dict[str, int] = {}  # what the counter says, day by day (the first total a baseline)
    for (_, earlier), (ts, total) in itertools.pairwise(totals):
        expected[_day(ts)] = expected.get(_day(ts), 0) + (total - earlier if total >= earlier else total)
    assert sum(expected.values()) == 11 + 13
    try:
        s.start()
        publish_all(mosquitto.url, messages[:11])  # up to the day's last total
        wait_until(lambda: [p["level"] for p in live(announced, AIR)] == ["exceeded"], 20, "air alert")
        (air,) = _toilet_alerts(s)
        acked = s.post(f"/api/v1/alerts/{air['id']}/ack", "manager").json()
        assert acked["acknowledged_by"] == "duty-03"
        wait_until(lambda: s.count("toilet_footfall", "T03", "entries") == 11, 10, "entries stored")
        wait_until(lambda: s.count("alert", air["id"], "state") == 1, 10, "air alert stored")
        publish_all(mosquitto.url, messages[11:13])  # the reset and the minute after it ...
        s.kill()  # ... at once: in the broker, in the pipeline or stored
        announced.messages.clear()
        s.start()

        assert _toilet_alerts(s) == [acked]  # same id, raise time and acknowledgement
        publish_all(mosquitto.url, messages[13:])
        wait_until(
            lambda: s.count("toilet_footfall", "T03", "entries") == len(messages), 20, "entries stored"
        )
        assert {day: _entries(s, day) for day in expected} == expected  # nothing lost, nothing twice
        assert _toilet_alerts(s) == [acked]
        assert live(announced, AIR) == []  # the air alert was not raised again
    finally:
        s.stop()


def test_entries_lost_between_a_reading_and_its_derivation_are_derived_again(tmp_path: Path) -> None:
    """The window no SIGKILL test hits on purpose: a total stored and acknowledged, the entries
    derived from it (a later write, decision 36) lost. The next start derives them again from
    the stored totals and writes them through the pipeline with its first output."""

    def reading(minute: int, total: int) -> ToiletReading:
        return ToiletReading("T03", "haishu", at(0, "10:00") + minute * MIN, total=total)

    async def entries(store: EmbeddedStore) -> int:
        q = SeriesQuery("toilet_footfall", ("entries",), "T03", at(0, "00:00"), at(1, "00:00"), fn="sum")
        return sum(
            int(v or 0)
            for row in await store.query_series(q)
            for _, v in row.values
            if isinstance(v, int | float)
        )

    async def scenario() -> None:
        registry = load_registry(sample_assets_dir())
        async with EmbeddedStore(tmp_path / "store") as store:
            a = ToiletService(ToiletsConfig(), registry, AlertBook(), "haishu", at(0, "10:00"))
            await a.restore(store, at(0, "10:00"))
            first = (reading(0, 40), reading(1, 43), reading(2, 1))  # a baseline, +3, a reset: +1
            derived = a.observe([(r,) for r in first], at(0, "10:02"))
            kept = [
                r for r in derived.records if isinstance(r, ToiletReading) and r.time_ms < first[2].time_ms
            ]
            await store.write([r.to_point() for r in (*first, *kept)])  # the reset's entries: lost
            assert await entries(store) == 3

            b = ToiletService(ToiletsConfig(), registry, AlertBook(), "haishu", at(0, "10:03"))
            await b.restore(store, at(0, "10:03"))
            after = b.observe([(reading(3, 4),)], at(0, "10:03"))  # +3
            await store.write([r.to_point() for r in after.records])
            assert await entries(store) == 3 + 1 + 3
            again = b.tick(at(0, "10:04"))  # written once: nothing more
            assert not [r for r in again.records if isinstance(r, ToiletReading)]

    asyncio.run(scenario())


def test_a_flood_change_lost_at_a_crash_is_settled_at_the_start(tmp_path: Path) -> None:
    """The flood window of decision 36: the readings stored and acknowledged, the red alert
    announced and acknowledged, its ``flood_alert`` point lost. The next start settles the gauge
    from its stored readings at the first tick (not at its next reading, minutes later): the
    same alert id, its acknowledgement kept, and stored this time."""
    base = at(0, "10:00")
    rise = [GaugeReading("G01", "haishu", base + k * MIN, d) for k, d in enumerate(RISE)]

    async def scenario() -> None:
        async with EmbeddedStore(tmp_path / "store") as store:
            a = FloodService(FloodConfig(), REGISTRY, AlertBook())
            await a.restore(store, base)
            derived = a.observe([tuple(rise)], base + 5 * MIN)
            await store.write([r.to_point() for r in rise])  # the readings: durable, acknowledged
            red = a.engine.book.active("flood", "G01")
            assert red is not None
            assert [n.level for n in derived.notices] == ["red"]  # announced, never stored
            await store.write([AlertAck(red.id, "flood", "duty-03", base + 6 * MIN).to_point()])

            b = FloodService(FloodConfig(), REGISTRY, AlertBook())
            await b.restore(store, base + 7 * MIN)
            settled = b.tick(base + 7 * MIN)
            assert [(n.topic, n.level, n.payload["alert_id"]) for n in settled.notices] == [
                ("alert/flood/G01", "red", red.id)
            ]
            assert [r.to_point().measurement for r in settled.records] == ["flood_alert"]
            back = b.engine.book.active("flood", "G01")
            assert back is not None
            assert (back.id, back.level, back.raised_at_ms) == (red.id, "red", red.raised_at_ms)
            assert (back.acknowledged_by, back.acknowledged_at_ms) == ("duty-03", base + 6 * MIN)
            assert not b.tick(base + 8 * MIN)  # once
            await store.write([r.to_point() for r in settled.records])
            c = FloodService(FloodConfig(), REGISTRY, AlertBook())
            await c.restore(store, base + 9 * MIN)
            assert not c.tick(base + 9 * MIN)  # stored now: nothing to settle
            assert c.engine.book.active("flood", "G01") == back

    asyncio.run(scenario())
