"""Mission planning through the HTTP API (real app, real broker, embedded store)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from telemetry.assets import load_registry, sample_assets_dir
from telemetry.config import load_settings
from tests.apps import app_client
from tests.mqtt_util import wait_until
from tests.servers import Mosquitto

pytestmark = pytest.mark.integration
PILOT = {"Authorization": "Bearer p"}
VIEWER = {"Authorization": "Bearer v"}
P01 = [[121.40, 29.87], [121.45, 29.87], [121.45, 29.90], [121.40, 29.90], [121.40, 29.87]]


@pytest.fixture
def client(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[TestClient]:
    with app_client(mosquitto, tmp_path, {"p": "pilot", "v": "viewer"}, "missions-test") as c:
        yield c


def test_points_mission_plan_export_and_reimport(client: TestClient) -> None:
    body = {
        "type": "points",
        "points": [[121.55, 29.88], [121.56, 29.87]],
        "altitude_agl_m": 60,
        "loiter_s": 10,
    }
    assert client.post("/api/v1/missions", json=body, headers=VIEWER).status_code == 403
    r = client.post("/api/v1/missions", json=body, headers=PILOT)
    assert r.status_code == 201, r.text
    m = r.json()
    assert [w["command"] for w in m["waypoints"]] == [22, 178, 19, 19, 20]
    assert m["checks"]["max_true_height_m"] == pytest.approx(60)
    assert m["checks"]["approval_required"] is True  # urban Haishu lies in ZSNB's protection zone
    assert m["checks"]["terrain"].startswith("flat")
    assert m["state"] == "planned"
    assert m["preview"]["type"] == "FeatureCollection"
    plan = client.get(f"/api/v1/missions/{m['id']}.plan", headers=VIEWER).json()
    wpl = client.get(f"/api/v1/missions/{m['id']}.waypoints", headers=VIEWER).text
    assert wpl.startswith("QGC WPL 110")
    for imported in ({"type": "import", "plan": plan}, {"type": "import", "waypoints": wpl}):
        again = client.post("/api/v1/missions", json=imported, headers=PILOT).json()
        assert [(w["command"], w["lat"], w["lon"], w["alt_m"]) for w in again["waypoints"]] == [
            (w["command"], w["lat"], w["lon"], w["alt_m"]) for w in m["waypoints"]
        ]
    assert client.get(f"/api/v1/missions/{m['id']}", headers=VIEWER).json()["id"] == m["id"]
    assert client.get("/api/v1/missions/nope", headers=VIEWER).status_code == 404


def test_survey_over_p01_requires_approval_and_130_m_is_not_flyable(client: TestClient) -> None:
    survey = {"type": "survey", "area": {"type": "Polygon", "coordinates": [P01]}, "altitude_agl_m": 80}
    m = client.post("/api/v1/missions", json=survey, headers=PILOT).json()
    assert m["checks"]["approval_required"] is True
    assert m["checks"]["approval_reasons"] == ["ZSNB protection zone"]
    r = client.post(
        f"/api/v1/missions/{m['id']}/approval", json={"approval_id": "CAAC-2026-0042"}, headers=PILOT
    )
    assert r.json()["approval_id"] == "CAAC-2026-0042"
    high = {"type": "points", "points": [[121.55, 29.88]], "altitude_agl_m": 130}
    checks = client.post("/api/v1/missions", json=high, headers=PILOT).json()["checks"]
    assert checks["max_true_height_m"] == pytest.approx(130)
    assert checks["flyable"] is False


def test_bad_requests(client: TestClient) -> None:
    assert (
        client.post("/api/v1/missions", json={"type": "hotspots"}, headers=PILOT).status_code == 400
    )  # no flood
    assert client.post("/api/v1/missions", json={"type": "teleport"}, headers=PILOT).status_code == 422
    bad = {"type": "import", "plan": {"fileType": "Nope"}}
    assert client.post("/api/v1/missions", json=bad, headers=PILOT).status_code == 400


ITEM = (
    '{"type": "SimpleItem", "command": 16, "frame": 3, "params": [0, 0, 0, null, LAT, 121.541, 50],'
    ' "autoContinue": true, "doJumpId": 1, "AltitudeMode": 1, "Altitude": ALT}'
)
PLAN = (
    '{"fileType": "Plan", "version": 1, "groundStation": "QGC", "mission": {"version": 2, "firmwareType": 3,'
    ' "vehicleType": 2, "cruiseSpeed": 8, "hoverSpeed": 5, "plannedHomePosition": HOME, "items": ITEMS},'
    ' "geoFence": {"version": 2, "polygons": [], "circles": []}, "rallyPoints": {"version": 2, "points": []}}'
)


def plan_text(
    lat: str = "29.871", alt: str = "50", home: str = "[29.87, 121.54, 5.0]", items: str = ""
) -> str:
    item = ITEM.replace("LAT", lat).replace("ALT", alt)
    return PLAN.replace("HOME", home).replace("ITEMS", items or f"[{item}]")


HUGE = "1" + "0" * 400  # a JSON integer no float holds


def imported(plan: str) -> str:
    return '{"type": "import", "plan": ' + plan + "}"


WPL_INF = r"QGC WPL 110\n0\t1\t0\t16\t0\t0\t0\t0\t1e400\t121\t5\t1"


@pytest.mark.parametrize(
    "body",
    [
        imported('"{not json"'),  # the file's text, not JSON
        imported('"[1, 2]"'),  # JSON, not a plan
        imported(plan_text(items='"many"')),  # wrong types
        imported(plan_text(items="[[1, 2]]")),
        imported(plan_text(home='{"lat": 1}')),
        imported(plan_text(lat='"north"')),
        imported('{"fileType": "Plan"}'),  # missing keys
        imported(plan_text(items='[{"type": "SimpleItem"}]')),
        imported(plan_text(home=f"[29.87, 121.54, {HUGE}]")),  # huge numbers
        imported(plan_text(lat=HUGE)),
        imported(plan_text(alt=HUGE)),
        imported(plan_text(lat="1e400")),
        '{"type": "import", "waypoints": "' + WPL_INF + '"}',
    ],
)
def test_a_malformed_import_answers_400_with_the_reason(client: TestClient, body: str) -> None:
    r = client.post("/api/v1/missions", content=body, headers={**PILOT, "Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["message"]


def test_a_plan_given_as_its_file_text_is_imported(client: TestClient) -> None:
    r = client.post("/api/v1/missions", json={"type": "import", "plan": plan_text()}, headers=PILOT)
    assert r.status_code == 201, r.text
    assert [w["lat"] for w in r.json()["waypoints"]] == [29.871]


def test_planning_runs_off_the_event_loop(client: TestClient) -> None:
    rt = client.app.state.runtime  # type: ignore[attr-defined]
    assert client.portal is not None
    loop_thread = client.portal.call(threading.get_ident)
    planner, threads = rt.missions, []
    plan = planner.plan

    def recorded(*args: Any) -> Any:
        threads.append(threading.get_ident())
        return plan(*args)

    planner.plan = recorded
    body = {"type": "points", "points": [[121.54, 29.87]], "altitude_agl_m": 50}
    assert client.post("/api/v1/missions", json=body, headers=PILOT).status_code == 201
    assert threads
    assert loop_thread not in threads


def test_upload_verify_approve_start_and_follow(mosquitto: Mosquitto, tmp_path: Path) -> None:
    from simulators.drone import DroneSimulator
    from tests.servers import free_udp_port

    port = free_udp_port()
    settings = load_settings(
        overrides={
            "store": {"path": str(tmp_path / "store")},
            "spool": {"path": str(tmp_path / "spool")},
            "mqtt": {"url": mosquitto.url, "client_id": "launch-test"},
            "mavlink": {"endpoints": [f"udpin:127.0.0.1:{port}"]},
            "api": {"tokens": [{"token": "p", "role": "pilot"}, {"token": "v", "role": "viewer"}]},
        }
    )
    sim = DroneSimulator(
        f"udpout:127.0.0.1:{port}", sysid=6, home=(29.8737, 121.5453), speed_ms=12, time_scale=10
    )
    sim.start()
    try:
        with TestClient(create_app(settings, registry=load_registry(sample_assets_dir()))) as c:
            wait_until(
                lambda: any(
                    d["drone"] == 6 and d["online"]
                    for d in c.get("/api/v1/drones", headers=VIEWER).json()["items"]
                ),
                15,
                "drone",
            )
            body = {
                "type": "points",
                "points": [[121.5460, 29.8740], [121.5470, 29.8745]],
                "altitude_agl_m": 30,
                "home": [121.5453, 29.8737],
            }
            m = c.post("/api/v1/missions", json=body, headers=PILOT).json()
            assert (
                c.post(f"/api/v1/missions/{m['id']}/upload", json={"drone": 6}, headers=VIEWER).status_code
                == 403
            )
            assert (
                c.post(f"/api/v1/missions/{m['id']}/start", headers=PILOT).status_code == 409
            )  # not uploaded
            r = c.post(f"/api/v1/missions/{m['id']}/upload", json={"drone": 6}, headers=PILOT)
            assert r.json() == {"ok": True, "items": len(m["waypoints"]), "verified": True, "error": None,
                                "autopilot": "ardupilot"}  # fmt: skip
            refused = c.post(f"/api/v1/missions/{m['id']}/start", headers=PILOT)
            assert refused.status_code == 409
            assert "approval" in refused.json()["error"]["message"]
            c.post(f"/api/v1/missions/{m['id']}/approval", json={"approval_id": "A-1"}, headers=PILOT)
            started = c.post(f"/api/v1/missions/{m['id']}/start", headers=PILOT)
            assert started.status_code == 200, started.text
            assert started.json()["state"] == "running"
            assert sim.vehicle.armed

            def progress() -> dict[str, Any]:
                (d,) = [d for d in c.get("/api/v1/drones", headers=VIEWER).json()["items"] if d["drone"] == 6]
                return d["mission"] or {}

            wait_until(lambda: progress().get("state") == "done", 60, "mission done")
            assert progress()["current"] == progress()["total"] == len(m["waypoints"])

            def events() -> list[dict[str, Any]]:
                params = {"device": "6", "field": "event,seq,detail"}
                items: list[dict[str, Any]] = c.get(
                    "/api/v1/series/mission_event", params=params, headers=VIEWER
                ).json()["items"]
                return items

            def reached() -> list[int]:
                return [e["seq"] for e in events() if e["event"] == "item_reached"]

            # in the vehicle's numbering: ArduPilot's item 0 is home, the plan is items 1..n
            wait_until(
                lambda: sorted(reached()) == list(range(1, len(m["waypoints"]) + 1)),
                10,
                f"items reached: {reached()}",
            )
            kinds = [e["event"] for e in events()]
            assert "uploaded" in kinds
            assert "started" in kinds
            assert any((e["detail"] or "") == "by pilot" for e in events())  # the user (here the role)
    finally:
        sim.stop()


def test_hotspots_fly_over_the_red_gauges(client: TestClient, mosquitto: Mosquitto) -> None:
    import time

    from tests.mqtt_util import publish_all

    now = int(time.time() * 1000)
    for gauge in ("G01", "G03"):
        publish_all(mosquitto.url, [(f"city/haishu/gauge/{gauge}/telemetry", {"ts": now, "depth_cm": 35.0})])
    publish_all(mosquitto.url, [("city/haishu/gauge/G02/telemetry", {"ts": now, "depth_cm": 18.0})])  # yellow

    def planned(level: str) -> list[tuple[float, float]]:
        r = client.post(
            "/api/v1/missions", json={"type": "hotspots", "min_level": level, "loiter_s": 20}, headers=PILOT
        )
        if r.status_code != 201:
            return []
        return [(w["lon"], w["lat"]) for w in r.json()["waypoints"] if w["command"] == 19]

    wait_until(lambda: len(planned("red")) == 2, 10, "red hotspots")
    assert set(planned("red")) == {(121.5268, 29.8722), (121.5356, 29.879)}
    assert len(planned("yellow")) == 3
