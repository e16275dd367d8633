"""``telemetry demo``: an embedded broker, the service on the embedded store, the sensor fleet
simulator (the rainstorm, with its opening storm and a storm cell every ``storm_every_s``, and the
sweepers scenarios), six duty officers who take the incidents, two simulated drones (system id 1 speaks
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
from simulators.officers import OfficerSquad
from simulators.scenarios import STORM_EVERY_S
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


async def run_demo(
    port: int, duration_s: float | None, data_dir: str, seed: int, storm_every_s: float = STORM_EVERY_S
) -> int:
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
                "dispatch": {"auto_assign": True},  # a red gauge sends the nearest officer at once
            }
        )
        registry = load_registry(settings.assets.dir)

        def fatal(reason: str) -> None:  # a task that keeps failing ends the demo, as it ends serve
            log.error("the runtime failed: %s", reason)
            server.should_exit = True

        app = create_app(settings, registry=registry, on_fatal=fatal)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=3)
        )
        # Devices report at fielded rates (gauges 5 min dry / 1 min wet, GPS every 15 s, counters
        # every minute); the storm's fast event clocks make the first minute eventful, and a
        # storm cell comes back every storm_every_s for whoever opens the page later.
        fleet = SensorFleet(
            broker.url,
            root=settings.mqtt.root,
            seed=seed,
            scenario="rainstorm,sweepers",
            timezone=settings.site.timezone,
            storm_every_s=storm_every_s,
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
        officers = OfficerSquad(6, root=settings.mqtt.root, seed=seed)  # OF-01..OF-06 of officers.geojson
        officers.start(broker.url)
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
            f"  rainstorm:  G01-G05 in the first minute, then a storm cell every {storm_every_s:g} s\n"
            f"  officers:   six on patrol; a red gauge opens an incident and the nearest is sent\n"
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
            officers.stop()
            for d in drones:
                d.stop()
            server.should_exit = True
            await serving
        return 0
