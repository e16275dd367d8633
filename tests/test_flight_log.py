"""Flight evidence (docs/missions.md): a mission flown end to end against a vehicle written from
ArduPilot's sources keeps the MAVLink stream of its drone from upload to landing as a .tlog, whose
SHA-256 is in the audit log, which reads back into that drone's records and replays; the
recorder's own rules (one recording per drone, a maximum age)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from drones.flight_log import FlightRecorder
from drones.tlog import read_tlog
from telemetry.records import DroneState, MissionEvent
from tests.apps import app_client
from tests.mqtt_util import wait_until
from tests.peers.ardupilot import ArduCopterPeer
from tests.servers import Mosquitto, free_udp_port
from tests.test_autopilots import HOME, drone, plan
from tests.test_replay import replay_cli

PILOT = {"Authorization": "Bearer p"}
VIEWER = {"Authorization": "Bearer v"}
AUDITOR = {"Authorization": "Bearer m"}


@pytest.fixture
def service(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[tuple[TestClient, int]]:
    port = free_udp_port()
    endpoint = f"udpin:127.0.0.1:{port}"
    tokens = {"p": "pilot", "v": "viewer", "m": "manager"}
    with app_client(mosquitto, tmp_path, tokens, f"fl-{port}", (endpoint,)) as c:
        yield c, port


def _flight_logs(c: TestClient, mission_id: str) -> list[dict[str, Any]]:
    items = c.get("/api/v1/audit", params={"action": "flight_log"}, headers=AUDITOR).json()["items"]
    return [r for r in items if r["subject"] == mission_id]


@pytest.mark.integration
def test_a_flown_mission_keeps_its_tlog_audited_readable_and_replayable(
    service: tuple[TestClient, int], tmp_path: Path
) -> None:
    c, port = service
    with ArduCopterPeer(f"udpout:127.0.0.1:{port}", sysid=31, home=HOME):
        wait_until(lambda: drone(c, 31).get("online") and drone(c, 31).get("fix") == "3D", 15, "drone online")
        m = plan(c)
        r = c.post(f"/api/v1/missions/{m['id']}/upload", json={"drone": 31}, headers=PILOT)
        assert r.json()["verified"], r.text
        assert c.post(f"/api/v1/missions/{m['id']}/start", headers=PILOT).status_code == 200
        wait_until(lambda: (drone(c, 31)["mission"] or {}).get("state") == "done", 90, "mission done")
        wait_until(lambda: _flight_logs(c, m["id"]), 10, "flight_log in the audit log")
    (audited,) = _flight_logs(c, m["id"])
    assert audited["actor"] == "service"

    r = c.get(f"/api/v1/missions/{m['id']}.tlog", headers=VIEWER)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/octet-stream"
    body = r.content
    assert audited["data"] == {
        "sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body),
        "packets": audited["data"]["packets"], "drone": 31,
    }  # fmt: skip
    assert audited["data"]["packets"] > 10

    log = tmp_path / "flight.tlog"
    log.write_bytes(body)
    records = [rec for chunk in read_tlog(log) for rec in chunk.records]
    states = [rec for rec in records if isinstance(rec, DroneState)]
    reached = [rec for rec in records if isinstance(rec, MissionEvent) and rec.event == "item_reached"]
    assert {rec.drone for rec in states} | {rec.drone for rec in reached} == {31}
    assert any(s.lat is not None and s.lon is not None for s in states), "no position"
    assert reached, "no MISSION_ITEM_REACHED"
    now_ms = time.time() * 1000
    assert all(now_ms - 600_000 < rec.time_ms <= now_ms for rec in states)  # receive times, µs → ms

    done = replay_cli(log, tmp_path / "replay-store", tmp_path / "replay-spool")
    assert done.returncode == 0, done.stderr
    assert f"replayed {len(records)} records" in done.stdout


@pytest.mark.integration
def test_a_mission_never_uploaded_has_no_tlog(service: tuple[TestClient, int]) -> None:
    c, _ = service
    m = plan(c)
    assert c.get(f"/api/v1/missions/{m['id']}.tlog", headers=VIEWER).status_code == 404
    assert c.get("/api/v1/missions/nope.tlog", headers=VIEWER).status_code == 404
    assert c.get(f"/api/v1/missions/{m['id']}.tlog").status_code == 401


def test_a_new_recording_finishes_the_drones_previous_one(tmp_path: Path) -> None:
    rec = FlightRecorder(tmp_path / "flights")
    rec.start(7, "m1")
    rec.write(7, b"\xfe\x09abc", 1_000_000)
    rec.write(8, b"other drone", 1_000_001)  # not recorded
    previous = rec.start(7, "m2")
    assert previous is not None
    expected = (1_000_000).to_bytes(8, "big") + b"\xfe\x09abc"
    described = (previous.mission_id, previous.drone, previous.packets, previous.bytes)
    assert described == ("m1", 7, 1, len(expected))
    assert previous.sha256 == hashlib.sha256(expected).hexdigest()
    assert (tmp_path / "flights" / "m1.tlog").read_bytes() == expected
    assert rec.recording(7) == "m2"
    rec.write(7, b"x", 2)
    assert [f.mission_id for f in rec.close()] == ["m2"]
    assert rec.finish(7) is None


def test_a_recording_expires_after_the_maximum(tmp_path: Path) -> None:
    rec = FlightRecorder(tmp_path, max_s=0.05)
    rec.start(3, "m")
    assert rec.expired() == []
    time.sleep(0.1)
    assert rec.expired() == [3]
    assert rec.finish(3) is not None
    assert rec.expired() == []


class _FullDisk:
    def write(self, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    def close(self) -> None:
        raise OSError(28, "No space left on device")


def test_a_write_error_stops_the_recording_not_the_link(tmp_path: Path) -> None:
    rec = FlightRecorder(tmp_path)
    rec.start(4, "m")
    rec._open[4].file = _FullDisk()  # type: ignore[assignment]
    rec.write(4, b"packet", 1)  # raises nothing into the collector's receive loop
    assert rec.recording(4) is None
