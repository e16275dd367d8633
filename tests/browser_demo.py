"""What the browser tests share: `telemetry demo` run as users run it (optionally with more
TELEMETRY_* settings, e.g. a basemap), Debian's chromium (never a downloaded browser), and a
record of every request a page makes that does not stay on this machine."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

import httpx

from tests.mqtt_util import publish_all, wait_until
from tests.servers import env_without_telemetry, free_port, wait_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
VIEWER = {"Authorization": "Bearer demo-viewer"}


class Demo(NamedTuple):
    base: str  # the API and dashboard
    mqtt: str  # the embedded broker, as the demo printed it

    def publish(self, topic: str, payload: dict[str, object]) -> None:
        publish_all(self.mqtt, [(topic, payload)])

    def flood_now(self, gauge: str) -> None:
        """The gauge reads 45 cm now: red at once, and it stays red (the demo's own readings of
        it are older, on the storm's event clock)."""
        self.publish(
            f"city/haishu/gauge/{gauge}/telemetry", {"ts": int(time.time() * 1000), "depth_cm": 45.0}
        )

        def red() -> bool:
            r = httpx.get(f"{self.base}/api/v1/flood/gauges", headers=VIEWER)
            return any(
                f["properties"]["id"] == gauge and f["properties"]["level"] == "red"
                for f in r.json()["features"]
            )

        wait_until(red, 20, f"{gauge} red")


@contextmanager
def run_demo(folder: Path, env: dict[str, str] | None = None) -> Iterator[Demo]:
    """The demo on a free port, its data in ``folder``; ``env``: more TELEMETRY_* variables."""
    port = free_port()
    cmd = [sys.executable, "-m", "api.cli", "demo", "--port", str(port), "--data", str(folder / "data")]
    log_path = folder / "demo.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env={**env_without_telemetry(), **(env or {})}
        )
        try:
            wait_port(port, 30)
            base = f"http://127.0.0.1:{port}"

            def drones_online() -> bool:
                r = httpx.get(f"{base}/api/v1/drones", headers=VIEWER)
                return sum(d["online"] for d in r.json()["items"]) == 2

            wait_until(drones_online, 30, "both demo drones online")
            wait_until(lambda: "MQTT:" in log_path.read_text(errors="replace"), 10, "the demo's URLs")
            found = re.search(r"MQTT:\s+(mqtt://\S+)", log_path.read_text(errors="replace"))
            assert found, "the demo printed no MQTT URL"
            yield Demo(base, found.group(1))
        finally:
            proc.terminate()
            proc.wait(30)


def chromium_present() -> bool:
    return os.path.exists(CHROMIUM)


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in {"data", "blob", "about"} or parts.hostname in LOCAL_HOSTS
