"""Scheduled patrols over the real service (issue 20 part 1): a weekly schedule is planned at its
due time in site time (the service's clock injected), across a local day change; a due mission
that cannot fly is recorded failed with the reason and raises a retained, audited alert; a
restart loses nothing and runs a missed due time once; ``launch`` with a covering approval flies
on a drone, without one the mission waits for the pilot."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import routes_schedules, schedule_runs
from telemetry.instants import epoch_ms
from tests.apps import app_client
from tests.clock import Clock
from tests.mqtt_util import Subscriber, wait_until
from tests.peers.ardupilot import ArduCopterPeer
from tests.servers import Mosquitto, free_udp_port

pytestmark = pytest.mark.integration
TOKENS = {"p": "pilot", "v": "viewer", "a": "admin"}
PILOT, VIEWER, ADMIN = ({"Authorization": f"Bearer {t}"} for t in ("p", "v", "a"))
HOME = (29.8737, 121.5453, 5.0)
MISSION = {"type": "points", "points": [[121.5460, 29.8740], [121.5470, 29.8745]], "altitude_agl_m": 30,
           "home": [HOME[1], HOME[0]]}  # fmt: skip


def utc(text: str) -> int:
    return epoch_ms(datetime.fromisoformat(text))


@pytest.fixture
def service_clock(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The schedules' clock is the test's; the timer looks often and at once."""
    monkeypatch.setattr(schedule_runs, "now_ms", clock)
    monkeypatch.setattr(routes_schedules, "now_ms", clock)
    monkeypatch.setattr(schedule_runs, "SETTLE_S", 0.0)
    monkeypatch.setattr(schedule_runs, "TICK_S", 0.05)
    return clock


def schedules(c: TestClient) -> list[dict[str, Any]]:
    r = c.get("/api/v1/schedules", headers=PILOT)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def schedule(c: TestClient, schedule_id: str) -> dict[str, Any]:
    return next(s for s in schedules(c) if s["id"] == schedule_id)


def ran(c: TestClient, schedule_id: str, due: str) -> bool:
    last = schedule(c, schedule_id)["last_run"]
    return last is not None and last["due"] == due


def missions_of(c: TestClient, schedule_id: str) -> list[dict[str, Any]]:
    return [m for m in c.get("/api/v1/missions", headers=VIEWER).json() if m["schedule"] == schedule_id]


def create(c: TestClient, **body: Any) -> dict[str, Any]:
    r = c.post("/api/v1/schedules", json={"name": "dyke patrol", "mission": MISSION, **body}, headers=PILOT)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def barrier(c: TestClient, clock: Clock) -> None:
    """A schedule due now, run by the next tick: the ticks before it looked at every schedule."""
    start = -(-clock.ms // 1000) * 1000  # the next whole second: after the schedule's creation
    s = create(c, name="barrier", start=datetime.fromtimestamp(start / 1000, UTC).isoformat(),
               every_hours=24 * 300)  # fmt: skip
    clock.ms = start
    wait_until(lambda: schedule(c, s["id"])["last_run"] is not None, 10, "the barrier's run")
    assert c.delete(f"/api/v1/schedules/{s['id']}", headers=PILOT).status_code == 200


def test_weekly_runs_in_site_time_fail_with_an_alert_and_survive_a_restart(
    mosquitto: Mosquitto, tmp_path: Path, service_clock: Clock
) -> None:
    clock = service_clock  # Tuesday 2026-11-24 10:00 in Ningbo
    with app_client(mosquitto, tmp_path, TOKENS, "schedules-1") as c:
        s = create(
            c, drone=41, start="2026-11-24T00:00:00+08:00", weekly={"days": ["wed", "thu"], "time": "00:10"}
        )
        # 00:10 local on Wednesday and Thursday: the previous UTC day
        assert s["next_runs"] == [
            "2026-11-24T16:10:00.000Z",
            "2026-11-25T16:10:00.000Z",
            "2026-12-01T16:10:00.000Z",
        ]
        assert s["last_run"] is None
        clock.ms = utc("2026-11-24T16:10:00.500+00:00")
        wait_until(lambda: ran(c, s["id"], "2026-11-24T16:10:00.000Z"), 15, "the first run")
        run = schedule(c, s["id"])["last_run"]
        assert (run["state"], run["reason"]) == ("failed", "drone offline: 41")
        (m,) = missions_of(c, s["id"])
        assert (m["id"], m["state"], m["reason"]) == (run["mission"], "failed", "drone offline: 41")
        alerts = c.get("/api/v1/alerts", params={"kind": "schedule"}, headers=VIEWER).json()["items"]
        assert [(a["subject"], a["level"]) for a in alerts] == [(s["id"], "red")]
        assert "drone offline" in alerts[0]["reason"]
        sub = Subscriber(mosquitto.url, f"city/haishu/alert/schedule/{s['id']}")
        try:
            wait_until(lambda: bool(sub.messages), 10, "the retained alert")
            _topic, payload, retained = sub.messages[0]
            assert retained
            assert (payload["schedule"], payload["level"]) == (s["id"], "red")
        finally:
            sub.close()
        actions = [r["action"] for r in c.get("/api/v1/audit", headers=ADMIN).json()["items"]]
        assert {"schedule_create", "schedule_run", "alert"} <= set(actions)
        # a flyable plan the next time clears it: height over the limit fails by the checks instead
        too_high = create(c, name="too high", drone=41, start="2026-11-24T00:00:00+08:00",
                          every_hours=1, mission={**MISSION, "altitude_agl_m": 300})  # fmt: skip
        clock.ms = utc("2026-11-24T17:00:00.000+00:00")
        wait_until(lambda: ran(c, too_high["id"], "2026-11-24T17:00:00.000Z"), 15, "the hourly run")
        assert schedule(c, too_high["id"])["last_run"]["reason"].startswith("true height")
        assert c.delete(f"/api/v1/schedules/{too_high['id']}", headers=PILOT).status_code == 200
    # down from Wednesday until Thursday 2026-12-03 10:00: three due times missed, run once at start
    clock.ms = utc("2026-12-03T10:00:00+08:00")
    with app_client(mosquitto, tmp_path, TOKENS, "schedules-2") as c:
        assert [x["id"] for x in schedules(c)] == [s["id"]]  # the deleted one stays deleted
        wait_until(lambda: ran(c, s["id"], "2026-12-02T16:10:00.000Z"), 15, "the missed run, at start")
        barrier(c, clock)
        assert len(missions_of(c, s["id"])) == 2  # once, not once per missed due time
        assert schedule(c, s["id"])["next_runs"][0] == "2026-12-08T16:10:00.000Z"
    clock.ms = utc("2026-12-04T10:00:00+08:00")
    with app_client(mosquitto, tmp_path, TOKENS, "schedules-3") as c:
        again = schedule(c, s["id"])
        assert again["last_run"]["due"] == "2026-12-02T16:10:00.000Z"  # the last run came back
        assert again["last_run"]["mission"] == missions_of(c, s["id"])[0]["id"]
        clock.ms = utc("2026-12-08T16:10:01+00:00")
        wait_until(lambda: ran(c, s["id"], "2026-12-08T16:10:00.000Z"), 15, "the next run")
        barrier(c, clock)
        assert len(missions_of(c, s["id"])) == 3  # the next run happened once


def test_launch_needs_an_approval_covering_the_date(
    mosquitto: Mosquitto, tmp_path: Path, service_clock: Clock
) -> None:
    clock = service_clock
    port = free_udp_port()
    with (
        ArduCopterPeer(f"udpout:127.0.0.1:{port}", sysid=41, home=HOME),
        app_client(mosquitto, tmp_path, TOKENS, "schedules-4", (f"udpin:127.0.0.1:{port}",)) as c,
    ):

        def ready() -> bool:
            items = c.get("/api/v1/drones", headers=VIEWER).json()["items"]
            return any(d["drone"] == 41 and d["online"] and d["fix"] == "3D" for d in items)

        wait_until(ready, 15, "drone online")
        start = "2026-11-24T10:05:00+08:00"
        other_days = [{"approval_id": "CAAC-old", "from": "2026-11-01", "to": "2026-11-23"}]
        waiting = create(c, name="no approval today", drones=[7, 41], start=start, every_hours=24,
                         launch=True, approvals=other_days)  # fmt: skip
        covered = [{"approval_id": "CAAC-9", "from": "2026-11-24", "to": "2026-11-24"}]
        flying = create(
            c, name="approved", drone=41, start=start, every_hours=24, launch=True, approvals=covered
        )
        clock.ms = utc(start) + 1000
        due = "2026-11-24T02:05:00.000Z"
        wait_until(lambda: ran(c, flying["id"], due), 30, "the launched run")
        (m,) = missions_of(c, flying["id"])
        assert m["checks"]["approval_required"] is True, m["reason"]
        assert (m["approval_id"], m["approved_by"], m["drone"]) == ("CAAC-9", "service", 41), m["reason"]
        assert m["state"] in ("running", "done"), m
        assert schedule(c, flying["id"])["last_run"]["launched"] is True
        (w,) = missions_of(c, waiting["id"])
        assert (w["state"], w["drone"], w["approval_id"]) == ("awaiting_pilot", 41, None)  # 7 is unknown
        # the pilot takes it from there as from a planned mission
        r = c.post(f"/api/v1/missions/{w['id']}/approval", json={"approval_id": "CAAC-10"}, headers=PILOT)
        assert r.status_code == 200, r.text
        actions = [(r["action"], r["actor"]) for r in c.get("/api/v1/audit", headers=ADMIN).json()["items"]]
        assert ("mission_start", "service") in actions


def test_bad_bodies_roles_and_delete(mosquitto: Mosquitto, tmp_path: Path) -> None:
    with app_client(mosquitto, tmp_path, TOKENS, "schedules-5") as c:
        good = {"name": "x", "mission": MISSION, "start": "2026-11-24T00:00:00+08:00", "every_hours": 6}
        assert c.post("/api/v1/schedules", json=good, headers=VIEWER).status_code == 403
        assert c.get("/api/v1/schedules", headers=VIEWER).status_code == 200  # reading is for all
        bad = [
            ({**good, "weekly": {"days": ["mon"], "time": "07:00"}}, "one recurrence"),
            ({k: v for k, v in good.items() if k != "every_hours"}, "one recurrence"),
            ({**good, "every_hours": None, "weekly": {"days": ["mo"], "time": "07:00"}}, "weekly.days"),
            ({**good, "every_hours": None, "weekly": {"days": ["mon"], "time": "25:00"}}, "weekly.time"),
            ({**good, "start": "2026-11-24T00:00:00"}, "start"),
            ({**good, "drone": 1, "drones": [2]}, "not both"),
            ({**good, "mission": {"type": "points"}}, "mission"),
            (
                {**good, "approvals": [{"approval_id": "A", "from": "2026-12-02", "to": "2026-12-01"}]},
                "before",
            ),
        ]
        for body, why in bad:
            r = c.post("/api/v1/schedules", json=body, headers=PILOT)
            assert r.status_code == 400, (body, r.text)
            assert why in r.json()["error"]["message"], r.text
        s = c.post("/api/v1/schedules", json=good, headers=ADMIN).json()
        assert c.delete(f"/api/v1/schedules/{s['id']}", headers=VIEWER).status_code == 403
        assert c.delete(f"/api/v1/schedules/{s['id']}", headers=PILOT).json()["state"] == "deleted"
        assert c.delete(f"/api/v1/schedules/{s['id']}", headers=PILOT).status_code == 404
        assert schedules(c) == []
        assert 'src="/static/schedules.js"' in c.get("/").text  # the dashboard's panel
        assert "/api/v1/schedules" in c.get("/static/schedules.js").text
