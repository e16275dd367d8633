"""From a red gauge to an officer on scene, over the real broker (issue 19): the incident opens by
itself, the nearest available officer gets the command, accepts, arrives (by position), resolves;
a decline and a silence are reassigned; the report shows the times; a restart goes on where the
incident was. The officers here are the test publishing what an officer's phone app sends
(CONTRACT §2), not our simulator; the simulator has its own test below."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from simulators.officers import OfficerSquad
from tests.apps import app_client
from tests.mqtt_util import Subscriber, publish_all, wait_until
from tests.peers.ardupilot import ArduCopterPeer
from tests.servers import Mosquitto, free_udp_port

pytestmark = pytest.mark.integration
ROOT = "city/haishu"
G01 = (29.8722, 121.5268)  # the sample gauge G01
TOKENS = {"m": "manager", "v": "viewer", "p": "pilot"}
MANAGER, VIEWER, PILOT = ({"Authorization": f"Bearer {t}"} for t in ("m", "v", "p"))
DISPATCH = {"dispatch": {"accept_timeout_s": 4, "check_interval_s": 0.2, "target_on_scene_s": 300}}


def officer_at(officer: str, lat: float, lon: float, status: str = "available") -> tuple[str, dict[str, Any]]:
    body = {"ts": int(time.time() * 1000), "lat": lat, "lon": lon, "status": status}
    return f"{ROOT}/officer/{officer}/telemetry", body


def officer_says(officer: str, kind: str, incident: str, **extra: str) -> tuple[str, dict[str, Any]]:
    body = {"ts": int(time.time() * 1000), "type": kind, "incident": incident, **extra}
    return f"{ROOT}/officer/{officer}/event", body


def heard(c: TestClient) -> int:
    """How many officers the service has a position of."""
    return sum(o["last_seen"] is not None for o in c.get("/api/v1/officers", headers=VIEWER).json()["items"])


def incidents(c: TestClient, state: str = "active") -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = c.get("/api/v1/incidents", params={"state": state}, headers=VIEWER).json()[
        "items"
    ]
    return items


def only(c: TestClient, state: str = "all") -> dict[str, Any]:
    (incident,) = incidents(c, state)
    return incident


def commands(sub: Subscriber, officer: str) -> list[dict[str, Any]]:
    return [p for t, p, _ in list(sub.messages) if t == f"{ROOT}/officer/{officer}/command"]


def test_a_red_gauge_sends_the_nearest_officer_who_reaches_it(mosquitto: Mosquitto, tmp_path: Path) -> None:
    sub = Subscriber(mosquitto.url, f"{ROOT}/officer/+/command")
    sections = {"dispatch": {**DISPATCH["dispatch"], "auto_assign": True}}
    with app_client(mosquitto, tmp_path, TOKENS, "incidents-1", sections=sections) as c:
        publish_all(mosquitto.url, [officer_at("OF-01", G01[0] + 0.02, G01[1]),  # 2.2 km
                                    officer_at("OF-02", G01[0] + 0.005, G01[1]),  # 550 m
                                    officer_at("OF-03", G01[0] + 0.001, G01[1], status="off")])  # fmt: skip
        wait_until(lambda: heard(c) == 3, 10, "officers heard")  # fmt: skip
        publish_all(
            mosquitto.url, [(f"{ROOT}/gauge/G01/telemetry", {"ts": int(time.time() * 1000), "depth_cm": 36})]
        )
        wait_until(lambda: len(incidents(c)) == 1, 10, "an incident from the red alert")
        incident = only(c)
        assert (incident["kind"], incident["subject"], incident["lat"], incident["lon"]) == (
            "flood",
            "G01",
            *G01,
        )
        assert incident["alert_id"].startswith("flood")
        wait_until(lambda: bool(commands(sub, "OF-02")), 10, "the command to the nearest available officer")
        assert commands(sub, "OF-02")[0]["action"] == "assign"
        assert commands(sub, "OF-02")[0]["incident"] == incident["id"]
        assert commands(sub, "OF-01") == commands(sub, "OF-03") == []
        publish_all(mosquitto.url, [officer_says("OF-02", "accept", incident["id"])])
        wait_until(lambda: only(c)["state"] == "accepted", 10, "accepted")
        publish_all(mosquitto.url, [officer_at("OF-02", G01[0] + 0.0002, G01[1], "busy")])  # 22 m
        wait_until(lambda: only(c)["state"] == "on_scene", 10, "on scene by position")
        sha = "0f" * 32
        resolved = officer_says("OF-02", "resolved", incident["id"], note="抽排完毕", evidence_sha256=sha)
        publish_all(mosquitto.url, [resolved])
        wait_until(lambda: only(c)["state"] == "resolved", 10, "resolved")
        done = only(c)
        assert (done["note"], done["evidence_sha256"]) == ("抽排完毕", sha)
        assert (
            done["opened_at"]
            <= done["assigned_at"]
            <= done["accepted_at"]
            <= done["on_scene_at"]
            <= done["resolved_at"]
        )
        assert c.post(f"/api/v1/incidents/{incident['id']}/close", headers=PILOT).status_code == 403
        closed = c.post(f"/api/v1/incidents/{incident['id']}/close", headers=MANAGER)
        assert closed.status_code == 200, closed.text
        assert closed.json()["state"] == "closed"
        report = c.get("/api/v1/incidents/report", headers=VIEWER).json()
        assert report["all"]["count"] == 1
        assert report["all"]["on_scene_within_target"] == 1
        assert report["all"]["share_within_target"] == 1.0
        assert report["kind"]["flood"]["p50_s"]["on_scene"] is not None
        assert set(report["unit"]) == {"第一中队"}  # OF-02's squad in officers.geojson
        audit = c.get("/api/v1/audit", params={"action": "incident_closed"}, headers=MANAGER).json()
        assert [r["actor"] for r in audit["items"]] == ["manager"]


def test_a_decline_and_a_silence_are_reassigned_and_roles_hold(mosquitto: Mosquitto, tmp_path: Path) -> None:
    sub = Subscriber(mosquitto.url, f"{ROOT}/officer/+/command")
    with app_client(mosquitto, tmp_path, TOKENS, "incidents-2", sections=DISPATCH) as c:
        publish_all(mosquitto.url, [officer_at(o, G01[0] + d, G01[1]) for o, d in
                                    (("OF-01", 0.001), ("OF-02", 0.002), ("OF-03", 0.003))])  # fmt: skip
        wait_until(
            lambda: len(c.get("/api/v1/officers", headers=VIEWER).json()["items"]) >= 3, 10, "officers"
        )
        body = {"kind": "complaint", "lat": G01[0], "lon": G01[1], "reason": "占道经营"}
        assert c.post("/api/v1/incidents", json=body, headers=VIEWER).status_code == 403
        assert c.post("/api/v1/incidents", json=body).status_code == 401
        opened = c.post("/api/v1/incidents", json=body, headers=MANAGER)
        assert opened.status_code == 201, opened.text
        iid = opened.json()["id"]
        wait_until(lambda: (only(c).get("suggested_officer") or {}).get("id") == "OF-01", 10, "a suggestion")
        assert c.post(f"/api/v1/incidents/{iid}/assign", headers=VIEWER).status_code == 403
        assert c.post(f"/api/v1/incidents/{iid}/assign", headers=MANAGER).json()["officer"] == "OF-01"
        publish_all(mosquitto.url, [officer_says("OF-01", "decline", iid)])
        wait_until(lambda: only(c)["officer"] == "OF-02", 10, "reassigned after the decline")
        wait_until(lambda: only(c)["officer"] == "OF-03", 15, "reassigned after the silence")
        assert only(c)["passed_over"] == ["OF-01", "OF-02"]
        wait_until(
            lambda: [x["action"] for x in commands(sub, "OF-02")] == ["assign", "cancel"], 10, "cancelled"
        )
        assert (
            c.post(f"/api/v1/incidents/{iid}/assign", json={"officer": "nobody"}, headers=MANAGER).status_code
            == 409
        )
        assert c.post("/api/v1/incidents/INC-99999/assign", headers=MANAGER).status_code == 404


def test_a_restart_in_the_middle_goes_on_where_it_was(mosquitto: Mosquitto, tmp_path: Path) -> None:
    with app_client(mosquitto, tmp_path, TOKENS, "incidents-3", sections=DISPATCH) as c:
        publish_all(mosquitto.url, [officer_at("OF-04", G01[0] + 0.003, G01[1])])
        wait_until(lambda: heard(c) == 1, 10, "heard")  # fmt: skip
        body = {"kind": "complaint", "lat": G01[0], "lon": G01[1], "reason": "噪音"}
        iid = c.post("/api/v1/incidents", json=body, headers=MANAGER).json()["id"]
        c.post(f"/api/v1/incidents/{iid}/assign", json={"officer": "OF-04"}, headers=MANAGER)
        publish_all(mosquitto.url, [officer_says("OF-04", "accept", iid)])
        wait_until(lambda: only(c)["state"] == "accepted", 10, "accepted")
        before = only(c)
    with app_client(mosquitto, tmp_path, TOKENS, "incidents-4", sections=DISPATCH) as c:
        assert only(c) == before  # every time, who assigned, the officer
        officers = {o["id"]: o for o in c.get("/api/v1/officers", headers=VIEWER).json()["items"]}
        assert officers["OF-04"]["status"] == "busy"  # holds the incident; its last fix is back
        publish_all(mosquitto.url, [officer_at("OF-04", G01[0], G01[1], "busy")])
        wait_until(lambda: only(c)["state"] == "on_scene", 10, "on scene after the restart")
        second = c.post("/api/v1/incidents", json=body, headers=MANAGER).json()["id"]
        assert second != iid


def test_the_simulated_officers_answer_and_reach_the_incident(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """Our simulator against the service: accepts, rides there, arrives, resolves (sped up)."""
    squad = OfficerSquad(3, seed=3, report_s=1.0, ride_kmh=400.0, accept_s=(0.5, 1.0), handle_s=(1.0, 2.0))
    with app_client(mosquitto, tmp_path, TOKENS, "incidents-5", sections=DISPATCH) as c:
        squad.start(mosquitto.url)
        try:
            wait_until(lambda: heard(c) == 3, 15, "the squad heard")  # fmt: skip
            body = {"kind": "complaint", "lat": G01[0], "lon": G01[1], "reason": "测试"}
            iid = c.post("/api/v1/incidents", json=body, headers=MANAGER).json()["id"]
            assert c.post(f"/api/v1/incidents/{iid}/assign", headers=MANAGER).status_code == 200
            wait_until(lambda: only(c)["state"] == "resolved", 60, f"resolved by the simulator: {only(c)}")
            done = only(c)
            assert done["on_scene_at"] is not None
            assert len(done["evidence_sha256"]) == 64
        finally:
            squad.stop()


def test_a_pilot_sends_a_drones_eyes_and_the_incident_records_when_it_got_there(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    port = free_udp_port()
    home = (29.8737, 121.5453, 5.0)
    place = (29.8745, 121.5465)  # ~150 m from home
    with app_client(
        mosquitto, tmp_path, TOKENS, "incidents-6", (f"udpin:127.0.0.1:{port}",), sections=DISPATCH
    ) as c:
        body = {"kind": "complaint", "lat": place[0], "lon": place[1], "reason": "违章搭建"}
        iid = c.post("/api/v1/incidents", json=body, headers=MANAGER).json()["id"]
        assert c.post(f"/api/v1/incidents/{iid}/eyes", headers=MANAGER).status_code == 403
        ask = {"altitude_agl_m": 40, "loiter_s": 5, "home": [home[1], home[0]]}
        r = c.post(f"/api/v1/incidents/{iid}/eyes", json=ask, headers=PILOT)
        assert r.status_code == 201, r.text
        mission = r.json()
        assert only(c)["eyes_mission"] == mission["id"]
        nav = [w for w in mission["waypoints"] if w["lat"] or w["lon"]]
        assert any(abs(w["lat"] - place[0]) < 1e-6 and abs(w["lon"] - place[1]) < 1e-6 for w in nav)
        assert only(c)["eyes_on_scene_at"] is None
        with ArduCopterPeer(f"udpout:127.0.0.1:{port}", sysid=51, home=home):
            drones = lambda: c.get("/api/v1/drones", headers=VIEWER).json()["items"]  # noqa: E731
            wait_until(lambda: any(d["drone"] == 51 and d.get("fix") == "3D" for d in drones()), 15, "drone")
            approval = {"approval_id": "CAAC-19"}  # inside the airport's protection zone, as any mission
            c.post(f"/api/v1/missions/{mission['id']}/approval", json=approval, headers=PILOT)
            up = c.post(f"/api/v1/missions/{mission['id']}/upload", json={"drone": 51}, headers=PILOT)
            assert up.json()["verified"] is True, up.text
            started = c.post(f"/api/v1/missions/{mission['id']}/start", headers=PILOT)
            assert started.status_code == 200, started.text
            wait_until(lambda: only(c)["eyes_on_scene_at"] is not None, 60, "eyes on scene")
        assert only(c)["state"] == "open"  # eyes are not an officer: still to be sent
