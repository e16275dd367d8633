"""MAVLink end to end: our simulator → the collector → the store and /api/v1/drones (real
sockets, real broker for the service's MQTT side)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from simulators.drone import DroneSimulator
from telemetry.assets import Registry
from telemetry.config import load_settings
from tests.mqtt_util import wait_until
from tests.servers import Mosquitto
from tests.test_mqtt_ingest import metric

pytestmark = pytest.mark.integration
AUTH = {"Authorization": "Bearer v"}
KEY = "42" * 32


def service(broker: Mosquitto, tmp: Path, udp_port: int, **mavlink: Any) -> TestClient:
    settings = load_settings(
        overrides={
            "store": {"path": str(tmp / "store")},
            "spool": {"path": str(tmp / "spool")},
            "mqtt": {"url": broker.url, "client_id": f"drones-{udp_port}"},
            "mavlink": {"endpoints": [f"udpin:127.0.0.1:{udp_port}"], **mavlink},
            "api": {"tokens": [{"token": "v", "role": "viewer"}]},
            "pipeline": {"flush_interval_s": 0.05},
        }
    )
    return TestClient(create_app(settings, registry=Registry()))


def drones(c: TestClient) -> dict[int, dict[str, Any]]:
    return {d["drone"]: d for d in c.get("/api/v1/drones", headers=AUTH).json()["items"]}


def test_two_vehicles_online_stored_then_offline(
    mosquitto: Mosquitto, tmp_path: Path, udp_port: int, drone_sims: list[DroneSimulator]
) -> None:
    with service(mosquitto, tmp_path, udp_port) as c:
        for sysid, home in ((7, (29.87, 121.54)), (8, (29.88, 121.55))):
            sim = DroneSimulator(f"udpout:127.0.0.1:{udp_port}", sysid=sysid, home=home, seed=sysid)
            sim.start()
            drone_sims.append(sim)
        wait_until(lambda: {7, 8} <= {k for k, d in drones(c).items() if d["online"]}, 15, "both online")
        wait_until(
            lambda: drones(c)[7]["lat"] is not None and drones(c)[7]["battery_pct"] is not None, 10, "state"
        )
        d7 = drones(c)[7]
        assert d7["lat"] == pytest.approx(29.87, abs=1e-6)
        assert d7["lon"] == pytest.approx(121.54, abs=1e-6)
        assert (d7["mode"], d7["armed"], d7["alt_rel_m"]) == ("STABILIZE", False, 0.0)
        assert d7["battery_pct"] == 100.0
        assert d7["link"] == f"udpin:127.0.0.1:{udp_port}"

        def stored(field: str) -> int:
            r = c.get(
                "/api/v1/series/drone_state",
                params={"device": "7", "field": field, "fn": "count"},
                headers=AUTH,
            )
            items = r.json()["items"]
            return int(items[0][field]) if items else 0

        wait_until(
            lambda: all(stored(f) > 0 for f in ("lat", "mode", "voltage_v", "satellites", "mission_seq")),
            10,
            "points",
        )

        def last_of_8() -> dict[str, Any]:
            r = c.get(
                "/api/v1/series/drone_state",
                params={"device": "8", "field": "lat,gps_fix", "fn": "last"},
                headers=AUTH,
            )
            items = r.json()["items"]  # a point holds what its message said: ask for the last of each
            return items[0] if items else {}

        wait_until(lambda: last_of_8().get("gps_fix") is not None, 10, "drone 8 GPS")
        last = last_of_8()
        assert last["gps_fix"] == 3
        assert last["lat"] == pytest.approx(29.88, abs=1e-6)

        drone_sims[0].stop()  # vehicle 7 goes silent
        wait_until(lambda: drones(c)[7]["online"] is False, 10, "7 offline after 5 s without heartbeat")
        assert drones(c)[8]["online"] is True
        assert c.get("/readyz").json()["components"][f"mavlink:udpin:127.0.0.1:{udp_port}"]["state"] == "up"


def test_signing_refuses_unsigned_vehicles_and_accepts_signed_ones(
    mosquitto: Mosquitto, tmp_path: Path, udp_port: int, drone_sims: list[DroneSimulator]
) -> None:
    with service(mosquitto, tmp_path, udp_port, signing_key=KEY) as c:
        signed = DroneSimulator(f"udpout:127.0.0.1:{udp_port}", sysid=11, signing_key=bytes.fromhex(KEY))
        unsigned = DroneSimulator(f"udpout:127.0.0.1:{udp_port}", sysid=12)
        for s in (signed, unsigned):
            s.start()
            drone_sims.append(s)
        wait_until(lambda: drones(c).get(11, {}).get("online") is True, 15, "signed vehicle online")
        wait_until(lambda: metric(c, "telemetry_mavlink_unsigned_refused_total") > 3, 10, "unsigned refused")
        assert 12 not in drones(c)
