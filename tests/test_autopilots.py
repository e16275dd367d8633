"""The service drives real autopilots' dialects end to end: plan, upload (read back, compared),
approval, start and follow to ``done`` through the HTTP API, against our simulator in each
dialect and against vehicles written in tests/peers/ from ArduPilot's and PX4's sources (not
from our simulator); the start checks; one mission command per drone; loss both ways."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from drones.dialects import dialect
from drones.mavlink import mavutil
from drones.mission_link import send_plan
from drones.planning import points
from drones.upload import LinkSession
from simulators.drone import DroneSimulator
from tests.apps import app_client
from tests.mqtt_util import wait_until
from tests.peers.ardupilot import ArduCopterPeer
from tests.peers.px4 import PX4Peer
from tests.servers import Mosquitto, free_udp_port

pytestmark = pytest.mark.integration
PILOT = {"Authorization": "Bearer p"}
VIEWER = {"Authorization": "Bearer v"}
HOME = (29.8737, 121.5453, 5.0)
Vehicle = Callable[[int, int], AbstractContextManager[Any]]


class _Sim:
    """Our simulator as a context manager, like the peers."""

    def __init__(self, port: int, sysid: int, autopilot: str) -> None:
        self.sim = DroneSimulator(
            f"udpout:127.0.0.1:{port}",
            sysid=sysid,
            home=HOME[:2],
            speed_ms=15,
            time_scale=10,
            autopilot=autopilot,
        )

    def __enter__(self) -> DroneSimulator:
        self.sim.start()
        return self.sim

    def __exit__(self, *exc: object) -> None:
        self.sim.stop()


VEHICLES: dict[str, tuple[str, Vehicle]] = {
    "simulator-ardupilot": ("ardupilot", lambda port, sysid: _Sim(port, sysid, "ardupilot")),
    "simulator-px4": ("px4", lambda port, sysid: _Sim(port, sysid, "px4")),
    "peer-ardupilot": (
        "ardupilot",
        lambda port, sysid: ArduCopterPeer(f"udpout:127.0.0.1:{port}", sysid=sysid, home=HOME),
    ),
    "peer-px4": ("px4", lambda port, sysid: PX4Peer(f"udpout:127.0.0.1:{port}", sysid=sysid, home=HOME)),
}


@pytest.fixture
def service(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[tuple[TestClient, int]]:
    port = free_udp_port()
    endpoint = f"udpin:127.0.0.1:{port}"
    with app_client(mosquitto, tmp_path, {"p": "pilot", "v": "viewer"}, f"ap-{port}", (endpoint,)) as c:
        yield c, port


def drone(c: TestClient, sysid: int) -> dict[str, Any]:
    items = c.get("/api/v1/drones", headers=VIEWER).json()["items"]
    return next((d for d in items if d["drone"] == sysid), {})


def plan(c: TestClient) -> dict[str, Any]:
    body = {"type": "points", "points": [[121.5460, 29.8740], [121.5470, 29.8745]], "altitude_agl_m": 30,
            "home": [HOME[1], HOME[0]]}  # fmt: skip
    m: dict[str, Any] = c.post("/api/v1/missions", json=body, headers=PILOT).json()
    if m["checks"]["approval_required"]:  # the sample city lies in ZSNB's protection zone
        c.post(f"/api/v1/missions/{m['id']}/approval", json={"approval_id": "A-1"}, headers=PILOT)
    return m


@pytest.mark.parametrize("name", list(VEHICLES))
def test_upload_start_and_follow_to_done(service: tuple[TestClient, int], name: str) -> None:
    c, port = service
    autopilot, make = VEHICLES[name]
    with make(port, 31):
        wait_until(lambda: drone(c, 31).get("online") and drone(c, 31).get("fix") == "3D", 15, "drone online")
        assert drone(c, 31)["autopilot"] == autopilot
        m = plan(c)
        r = c.post(f"/api/v1/missions/{m['id']}/upload", json={"drone": 31}, headers=PILOT)
        assert r.json() == {"ok": True, "items": len(m["waypoints"]), "verified": True, "error": None,
                            "autopilot": autopilot}  # fmt: skip
        started = c.post(f"/api/v1/missions/{m['id']}/start", headers=PILOT)
        assert started.status_code == 200, started.text
        wait_until(
            lambda: (drone(c, 31)["mission"] or {}).get("state") == "done", 90, f"done: {drone(c, 31)}"
        )
        progress = drone(c, 31)["mission"]
        assert progress["current"] == progress["total"] == len(m["waypoints"])


@pytest.mark.parametrize("name", ["peer-ardupilot", "peer-px4"])
def test_ten_percent_loss_each_way_20_of_20_uploads_verified(name: str) -> None:
    autopilot, _ = VEHICLES[name]
    peer_class = ArduCopterPeer if autopilot == "ardupilot" else PX4Peer
    items = points([(121.546 + k * 0.001, 29.874) for k in range(6)], 40.0, loiter_s=5)
    port = free_udp_port()
    gcs = mavutil().mavlink_connection(f"udpin:127.0.0.1:{port}", source_system=255, source_component=190)
    try:
        with peer_class(f"udpout:127.0.0.1:{port}", sysid=32, home=HOME, drop_in=0.1, drop_out=0.1, seed=7):
            assert gcs.wait_heartbeat(timeout=10) is not None
            session = LinkSession(gcs, 32)
            # a per-item timeout of 0.5 s instead of 1.5 s: the same protocol, on loopback, 3× faster
            results = [send_plan(session, 32, dialect(autopilot), items, HOME, 0.5) for _ in range(20)]
            assert [r.error for r in results if not r.verified] == []
    finally:
        gcs.close()


def test_start_checks_answer_409_with_the_reason(service: tuple[TestClient, int]) -> None:
    c, port = service
    with ArduCopterPeer(f"udpout:127.0.0.1:{port}", sysid=33, home=HOME, fix_type=1):
        wait_until(lambda: drone(c, 33).get("fix") == "no fix", 15, "a drone without a fix")
        assert (drone(c, 33)["lat"], drone(c, 33)["lon"]) == (None, None)
        m = plan(c)
        assert c.post(f"/api/v1/missions/{m['id']}/upload", json={"drone": 33}, headers=PILOT).json()[
            "verified"
        ]
        refused = c.post(f"/api/v1/missions/{m['id']}/start", headers=PILOT)
        assert refused.status_code == 409
        assert "no 3D GPS fix" in refused.json()["error"]["message"]
    with PX4Peer(f"udpout:127.0.0.1:{port}", sysid=34, home=HOME, battery_pct=30):
        wait_until(lambda: drone(c, 34).get("battery_pct") == 30, 15, "a drone at 30 %")
        m = plan(c)
        assert c.post(f"/api/v1/missions/{m['id']}/upload", json={"drone": 34}, headers=PILOT).json()[
            "verified"
        ]
        refused = c.post(f"/api/v1/missions/{m['id']}/start", headers=PILOT)
        assert refused.status_code == 409
        assert "battery is 30 %" in refused.json()["error"]["message"]


def test_one_mission_command_per_drone_at_a_time(service: tuple[TestClient, int]) -> None:
    c, port = service
    with PX4Peer(f"udpout:127.0.0.1:{port}", sysid=35, home=HOME, in_progress_acks=True) as peer:
        wait_until(lambda: drone(c, 35).get("online"), 15, "drone online")
        m = plan(c)
        runtime = c.app.state.runtime  # type: ignore[attr-defined]
        held = runtime.mavlink.open_session(35)  # another command is talking to the drone
        busy = c.post(f"/api/v1/missions/{m['id']}/upload", json={"drone": 35}, headers=PILOT)
        assert busy.status_code == 409
        assert "busy" in busy.json()["error"]["message"]
        runtime.mavlink.close_session(35)
        assert held is not None
        assert c.post(f"/api/v1/missions/{m['id']}/upload", json={"drone": 35}, headers=PILOT).json()[
            "verified"
        ]
        started = c.post(f"/api/v1/missions/{m['id']}/start", headers=PILOT)  # IN_PROGRESS acks first
        assert started.status_code == 200, started.text
        wait_until(lambda: peer.armed, 10, "armed")


@pytest.mark.parametrize("peer_class", [ArduCopterPeer, PX4Peer], ids=["ardupilot", "px4"])
def test_the_fence_of_nearby_no_fly_areas_is_uploaded_and_read_back(
    mosquitto: Mosquitto, tmp_path: Path, peer_class: type
) -> None:
    """A no-fly area 1 km from the legs goes up as MAV_MISSION_TYPE_FENCE exclusion vertices."""
    import json
    import shutil

    from api.app import create_app
    from telemetry.assets import load_registry, sample_assets_dir
    from telemetry.config import load_settings

    assets = tmp_path / "assets"
    shutil.copytree(sample_assets_dir(), assets)
    ring = [[121.556, 29.870], [121.560, 29.870], [121.560, 29.874], [121.556, 29.874], [121.556, 29.870]]
    doc = json.loads((assets / "areas.geojson").read_text(encoding="utf-8"))
    doc["features"].append({"type": "Feature", "properties": {"id": "NF1", "kind": "no_fly"},
                            "geometry": {"type": "Polygon", "coordinates": [ring]}})  # fmt: skip
    (assets / "areas.geojson").write_text(json.dumps(doc), encoding="utf-8")
    port = free_udp_port()
    settings = load_settings(
        overrides={
            "store": {"path": str(tmp_path / "store")}, "spool": {"path": str(tmp_path / "spool")},
            "mqtt": {"url": mosquitto.url, "client_id": f"fence-{port}"},
            "mavlink": {"endpoints": [f"udpin:127.0.0.1:{port}"]}, "assets": {"dir": str(assets)},
            "api": {"tokens": [{"token": "p", "role": "pilot"}, {"token": "v", "role": "viewer"}]},
        }
    )  # fmt: skip
    with (
        TestClient(create_app(settings, registry=load_registry(assets))) as c,
        peer_class(f"udpout:127.0.0.1:{port}", sysid=36, home=HOME) as peer,
    ):
        wait_until(lambda: drone(c, 36).get("online"), 15, "drone online")
        m = plan(c)
        assert [len(f["polygon"]) for f in m["fence"]] == [4]
        r = c.post(f"/api/v1/missions/{m['id']}/upload", json={"drone": 36}, headers=PILOT).json()
        assert r["verified"], r
        fence = list(peer.fence)
        assert [(f.command, int(f.param1)) for f in fence] == [(5002, 4)] * 4
        assert {(round(f.x / 1e7, 3), round(f.y / 1e7, 3)) for f in fence} == {
            (29.870, 121.556), (29.870, 121.560), (29.874, 121.560), (29.874, 121.556)
        }  # fmt: skip
