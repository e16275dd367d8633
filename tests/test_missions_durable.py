"""Missions survive a restart (issue 17): planned, approved, uploaded and running missions are
kept in the store (measurement ``mission``) and restored at start-up; a running mission is
followed again until done; ``GET /api/v1/missions`` lists them with filters."""

from __future__ import annotations

import signal
from datetime import datetime
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.runtime import Runtime
from tests.apps import app_client
from tests.mqtt_util import wait_until
from tests.peers.ardupilot import ArduCopterPeer
from tests.servers import Mosquitto, free_port, free_udp_port, start_serve, wait_port, write_serve_config

pytestmark = pytest.mark.integration
PILOT = {"Authorization": "Bearer p"}
VIEWER = {"Authorization": "Bearer v"}
TOKENS = {"p": "pilot", "v": "viewer"}
HOME = (29.8737, 121.5453, 5.0)
BODY = {"type": "points", "points": [[121.5460, 29.8740], [121.5470, 29.8745]], "altitude_agl_m": 30,
        "home": [HOME[1], HOME[0]]}  # fmt: skip


def plan_and_approve(c: TestClient) -> dict[str, Any]:
    m = c.post("/api/v1/missions", json=BODY, headers=PILOT).json()
    r = c.post(f"/api/v1/missions/{m['id']}/approval", json={"approval_id": "CAAC-7"}, headers=PILOT)
    approved: dict[str, Any] = r.json()
    return approved


def drone(c: TestClient, sysid: int) -> dict[str, Any]:
    items = c.get("/api/v1/drones", headers=VIEWER).json()["items"]
    return next((d for d in items if d["drone"] == sysid), {})


def mission(c: TestClient, mission_id: str) -> dict[str, Any]:
    r = c.get(f"/api/v1/missions/{mission_id}", headers=VIEWER)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def test_a_planned_approved_mission_survives_a_restart_and_flies(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    port = free_udp_port()
    endpoints = (f"udpin:127.0.0.1:{port}",)
    with app_client(mosquitto, tmp_path, TOKENS, "durable-1", endpoints) as c:
        m = plan_and_approve(c)
        assert m["approved_by"] == "pilot"
        assert m["approval_id"] == "CAAC-7"
    with app_client(mosquitto, tmp_path, TOKENS, "durable-2", endpoints) as c:
        again = mission(c, m["id"])
        assert again == m  # the plan, its checks, fence and approval: all of it
        second = c.post("/api/v1/missions", json=BODY, headers=PILOT).json()
        assert second["id"] != m["id"]
        assert second["id"].split("-")[0] != m["id"].split("-")[0]
        with ArduCopterPeer(f"udpout:127.0.0.1:{port}", sysid=41, home=HOME):
            wait_until(lambda: drone(c, 41).get("fix") == "3D", 15, "drone online")
            r = c.post(f"/api/v1/missions/{m['id']}/upload", json={"drone": 41}, headers=PILOT)
            assert r.json()["verified"] is True, r.text
            started = c.post(f"/api/v1/missions/{m['id']}/start", headers=PILOT)
            assert started.status_code == 200, started.text
            wait_until(lambda: mission(c, m["id"])["state"] == "done", 60, "done")


def test_a_running_mission_is_followed_to_done_after_a_restart(mosquitto: Mosquitto, tmp_path: Path) -> None:
    port = free_udp_port()
    endpoints = (f"udpin:127.0.0.1:{port}",)
    with ArduCopterPeer(f"udpout:127.0.0.1:{port}", sysid=42, home=HOME, item_s=2.0) as peer:
        with app_client(mosquitto, tmp_path, TOKENS, "durable-3", endpoints) as c:
            m = plan_and_approve(c)
            wait_until(lambda: drone(c, 42).get("autopilot") == "ardupilot", 15, "heard")
            wait_until(lambda: drone(c, 42).get("fix") == "3D", 15, "drone online")
            up = c.post(f"/api/v1/missions/{m['id']}/upload", json={"drone": 42}, headers=PILOT)
            assert up.json()["ok"], up.text
            assert c.post(f"/api/v1/missions/{m['id']}/start", headers=PILOT).status_code == 200
            wait_until(lambda: peer.armed, 10, "armed")
        assert not peer.complete  # still flying while the service restarts
        with app_client(mosquitto, tmp_path, TOKENS, "durable-4", endpoints) as c:
            assert mission(c, m["id"])["state"] == "running"
            wait_until(lambda: (drone(c, 42).get("mission") or {}).get("id") == m["id"], 15, "progress back")
            wait_until(lambda: mission(c, m["id"])["state"] == "done", 90, f"done: {drone(c, 42)}")
            rt: Runtime = cast(FastAPI, c.app).state.runtime
            assert rt.mavlink is not None
            assert rt.mavlink.missions[42] == m["id"]  # its events are tagged with it
    with app_client(mosquitto, tmp_path, TOKENS, "durable-5", endpoints) as c:
        assert mission(c, m["id"])["state"] == "done"  # stored, not only followed


def test_the_list_and_its_filters(mosquitto: Mosquitto, tmp_path: Path) -> None:
    with app_client(mosquitto, tmp_path, TOKENS, "durable-6") as c:
        first = plan_and_approve(c)
        second = c.post("/api/v1/missions", json=BODY, headers=PILOT).json()
    with app_client(mosquitto, tmp_path, TOKENS, "durable-7") as c:
        assert c.get("/api/v1/missions").status_code == 401
        listed = c.get("/api/v1/missions", headers=VIEWER).json()
        assert [m["id"] for m in listed] == [second["id"], first["id"]]  # newest first
        assert listed[1] == mission(c, first["id"])
        assert c.get("/api/v1/missions", params={"state": "running"}, headers=VIEWER).json() == []
        assert len(c.get("/api/v1/missions", params={"state": "planned"}, headers=VIEWER).json()) == 2
        assert c.get("/api/v1/missions", params={"drone": 7}, headers=VIEWER).json() == []
        today = datetime.fromtimestamp(first["planned_at_ms"] / 1000, ZoneInfo("Asia/Shanghai")).date()
        day = c.get("/api/v1/missions", params={"date": today.isoformat()}, headers=VIEWER).json()
        assert len(day) == 2
        assert c.get("/api/v1/missions", params={"date": "2001-01-01"}, headers=VIEWER).json() == []
        assert c.get("/api/v1/missions", params={"date": "yesterday"}, headers=VIEWER).status_code == 400


@pytest.mark.slow
def test_sigkill_after_an_approval_loses_nothing(mosquitto: Mosquitto, tmp_path: Path) -> None:
    port = free_port()
    cfg = tmp_path / "telemetry.toml"
    write_serve_config(
        cfg,
        {"mqtt": {"url": mosquitto.url, "client_id": "mission-crash-test"},
         "store": {"path": str(tmp_path / "store")}, "spool": {"path": str(tmp_path / "spool")},
         "api": {"port": port}},
        {"a-long-random-pilot-token": "pilot"},
    )  # fmt: skip
    url, auth = (
        f"http://127.0.0.1:{port}/api/v1/missions",
        {"Authorization": "Bearer a-long-random-pilot-token"},
    )
    log = tmp_path / "serve.log"
    proc = start_serve(cfg, tmp_path, log)
    try:
        wait_port(port, 30)
        m = httpx.post(url, json=BODY, headers=auth, timeout=10).json()
        r = httpx.post(f"{url}/{m['id']}/approval", json={"approval_id": "CAAC-9"}, headers=auth, timeout=10)
        assert r.status_code == 200, r.text
        proc.send_signal(signal.SIGKILL)  # right after the answer: no drain, no close
        proc.wait(10)
        proc = start_serve(cfg, tmp_path, log)
        wait_port(port, 30)
        again = httpx.get(f"{url}/{m['id']}", headers=auth, timeout=10)
        assert again.status_code == 200, again.text
        assert again.json()["approval_id"] == "CAAC-9"
        assert again.json()["approved_by"]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
