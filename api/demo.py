"""``telemetry demo``: an embedded broker, the service on the embedded store, the sensor fleet
simulator (the rainstorm and sweepers scenarios), two simulated drones (system id 1 speaks
ArduPilot, 2 speaks PX4) and the API, on 127.0.0.1 only, with the four demo tokens."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from pathlib import Path
from typing import Literal

import uvicorn

from api.app import create_app
from sensors.broker import EmbeddedBroker
from simulators.dem import write_haishu_dem
from simulators.drone import DroneSimulator
from simulators.sensors import SensorFleet
from telemetry.assets import load_registry, sample_assets_dir
from telemetry.config import DEMO_TOKENS, load_settings

log = logging.getLogger(__name__)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# (system id, home, autopilot): one drone of each dialect, Gulou and 环城南路
DEMO_DRONES: tuple[tuple[int, tuple[float, float], Literal["ardupilot", "px4"]], ...] = (
    (1, (29.8737, 121.5453), "ardupilot"),
    (2, (29.8560, 121.5282), "px4"),
)
DRONE_TIME_SCALE = 4.0  # simulated drones fly at 4× speed: a patrol is over in minutes


async def run_demo(port: int, duration_s: float | None, data_dir: str, seed: int) -> int:
    mavlink_port = _free_udp_port()
    dem = write_haishu_dem(Path(data_dir) / "haishu_dem.tif")
    async with EmbeddedBroker() as broker:
        settings = load_settings(
            overrides={
                "store": {"backend": "embedded", "path": data_dir},
                "spool": {"path": f"{data_dir}/spool"},
                "mqtt": {"url": broker.url, "protocol": "3.1.1", "client_id": "telemetry-demo"},
                "mavlink": {"endpoints": [f"udpin:127.0.0.1:{mavlink_port}"]},
                "api": {
                    "host": "127.0.0.1",
                    "port": port,
                    "tokens": [{"token": t, "role": r, "user": t} for t, r in DEMO_TOKENS.items()],
                },
                "assets": {"dir": str(sample_assets_dir())},
                "airspace": {"dem": str(dem)},
            }
        )
        registry = load_registry(settings.assets.dir)
        app = create_app(settings, registry=registry)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=3)
        )
        # Devices report at fielded rates (gauges 5 min dry / 1 min wet, GPS every 15 s, counters
        # every minute); the storm's own fast clock makes the first minute eventful.
        fleet = SensorFleet(
            broker.url,
            root=settings.mqtt.root,
            seed=seed,
            scenario="rainstorm,sweepers",
            timezone=settings.site.timezone,
        )
        serving = asyncio.create_task(server.serve())
        while not server.started and not serving.done():  # noqa: ASYNC110 - uvicorn's flag
            await asyncio.sleep(0.05)
        if serving.done():
            return 1
        fleet.start()
        drones = [
            DroneSimulator(
                f"udpout:127.0.0.1:{mavlink_port}",
                sysid=sysid,
                home=home,
                seed=seed + sysid,
                time_scale=DRONE_TIME_SCALE,
                autopilot=autopilot,
            )
            for sysid, home, autopilot in DEMO_DRONES
        ]
        for d in drones:
            d.start()
        base = f"http://127.0.0.1:{port}"
        print(
            f"City telemetry demo\n"
            f"  dashboard:  {base}/   (log in with demo-pilot, demo-manager or demo-viewer)\n"
            f"  API docs:   {base}/docs\n"
            f"  health:     {base}/readyz   metrics: {base}/metrics\n"
            f"  G01 depth:  curl -H 'Authorization: Bearer demo-viewer' \\\n"
            f"                '{base}/api/v1/series/water_depth?device=G01'\n"
            f"  devices:    curl -H 'Authorization: Bearer demo-viewer' '{base}/api/v1/devices'\n"
            f"  drones:     curl -H 'Authorization: Bearer demo-viewer' '{base}/api/v1/drones'\n"
            f"              (system id 1 speaks ArduPilot, 2 speaks PX4)\n"
            f"  MQTT:       {broker.url} (embedded)   store: {data_dir}/   DEM: {dem} (synthetic)\n"
            f"  tokens:     {', '.join(DEMO_TOKENS)}\n"
            f"Ctrl-C stops.",
            flush=True,
        )
        try:
            if duration_s is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(serving), duration_s)
            else:
                await serving
        finally:
            fleet.stop()
            for d in drones:
                d.stop()
            server.should_exit = True
            await serving
        return 0
