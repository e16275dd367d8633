"""The commands as users run them: `telemetry serve` killed with SIGKILL mid-ingest loses
nothing; `telemetry simulate sensors` feeds it; `telemetry demo` serves data with no server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.mqtt_util import publish_all, wait_until
from tests.servers import (
    Mosquitto,
    env_without_telemetry,
    free_port,
    start_serve,
    wait_port,
    write_serve_config,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
T0 = 1_795_564_800_000
TELEMETRY = [sys.executable, "-m", "api.cli"]


def write_config(tmp: Path, broker: Mosquitto, port: int) -> Path:
    cfg = tmp / "telemetry.toml"
    write_serve_config(
        cfg,
        {"mqtt": {"url": broker.url, "client_id": "crash-test", "receive_maximum": 50},
         "store": {"path": str(tmp / "store")}, "api": {"port": port},
         "assets": {"dir": str(tmp / "no-assets")}},
        {"a-long-random-token": "viewer"},
    )  # fmt: skip
    return cfg


def count(port: int, device: str) -> int:
    r = httpx.get(
        f"http://127.0.0.1:{port}/api/v1/series/water_depth",
        params={"device": device, "fn": "count"},
        headers={"Authorization": "Bearer a-long-random-token"},
        timeout=10,
    )
    r.raise_for_status()
    items = r.json()["items"]
    return int(items[0]["depth_cm"]) if items else 0


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


def test_sigkill_during_ingest_loses_nothing(mosquitto: Mosquitto, workdir: Path) -> None:
    port = free_port()
    cfg = write_config(workdir, mosquitto, port)
    log = workdir / "serve.log"
    proc = start_serve(cfg, workdir, log)
    try:
        wait_port(port, 30)
        n = 20_000
        msgs = [
            ("city/haishu/gauge/K01/telemetry", {"ts": T0 + i * 1000, "depth_cm": float(i % 50)})
            for i in range(n)
        ]
        publish_all(mosquitto.url, msgs)
        wait_until(lambda: count(port, "K01") > 500, 30, "ingest to start")
        proc.send_signal(signal.SIGKILL)  # no flush, no DISCONNECT, no checkpoint
        proc.wait(10)
        assert count_offline(workdir / "store", "K01") < n  # killed mid-ingest
        assert count_after_restart(cfg, workdir, log, port, n) == n
    finally:
        if proc.poll() is None:
            proc.kill()


def count_offline(store: Path, device: str) -> int:
    """Open the killed service's store directly (what survived the crash)."""
    import asyncio

    from storage.embedded import EmbeddedStore
    from telemetry.queries import SeriesQuery

    async def go() -> int:
        async with EmbeddedStore(store) as s:
            rows = await s.query_series(SeriesQuery("water_depth", ("depth_cm",), device, fn="count"))
            return int(rows[0].values[0][1] or 0) if rows else 0

    return asyncio.run(go())


def count_after_restart(cfg: Path, workdir: Path, log: Path, port: int, n: int) -> int:
    proc = start_serve(cfg, workdir, log)
    try:
        wait_port(port, 30)
        wait_until(lambda: count(port, "K01") >= n, 60, "redelivery after the crash")
        return count(port, "K01")
    finally:
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert proc.wait(30) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in log.read_text()


def test_simulator_feeds_the_service(mosquitto: Mosquitto, workdir: Path) -> None:
    port = free_port()
    cfg = write_config(workdir, mosquitto, port)
    proc = start_serve(cfg, workdir, workdir / "serve.log")
    try:
        wait_port(port, 30)
        sim = subprocess.run(
            [
                *TELEMETRY,
                "simulate",
                "sensors",
                "--broker",
                mosquitto.url,
                "--rate",
                "5",
                "--duration",
                "2",
                "--seed",
                "7",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert sim.returncode == 0, sim.stderr
        published = int(sim.stdout.split()[1])
        assert published > 0
        wait_until(
            lambda: sum(count(port, g) for g in ("G01", "G02", "G03", "G04", "G05")) >= published * 5 // 14,
            30,
            "simulated gauges",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def test_simulate_rejects_an_unknown_scenario() -> None:
    r = subprocess.run(
        [*TELEMETRY, "simulate", "sensors", "--broker", "mqtt://127.0.0.1:1", "--scenario", "apocalypse"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 2
    assert "unknown scenario" in r.stderr


def test_demo_shows_gauge_data_with_no_server(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [*TELEMETRY, "demo", "--port", str(port), "--duration", "60", "--data", str(tmp_path / "demo")],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env_without_telemetry(),
    )
    try:
        wait_port(port, 30)
        base = f"http://127.0.0.1:{port}"

        def g01_points() -> int:
            r = httpx.get(f"{base}/api/v1/series/water_depth", params={"device": "G01"},
                          headers={"Authorization": "Bearer demo-viewer"}, timeout=10)  # fmt: skip
            return int(r.json()["count"]) if r.status_code == 200 else 0

        wait_until(lambda: g01_points() >= 2, 30, "G01 data in the demo")
        for token, role in [
            ("demo-viewer", "viewer"),
            ("demo-manager", "manager"),
            ("demo-pilot", "pilot"),
            ("demo-admin", "admin"),
        ]:
            r = httpx.get(f"{base}/api/v1/devices", headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert r.status_code == 200, role
        assert (
            httpx.get(f"{base}/api/v1/devices", headers={"Authorization": "Bearer change-me"}).status_code
            == 401
        )
        assert httpx.get(f"{base}/readyz", timeout=10).json()["status"] == "ready"

        def online_drones() -> list[int]:
            r = httpx.get(
                f"{base}/api/v1/drones", headers={"Authorization": "Bearer demo-viewer"}, timeout=10
            )
            return [d["drone"] for d in r.json()["items"] if d["online"]]

        wait_until(lambda: online_drones() == [1, 2], 15, "two simulated drones online")

        def red_gauges() -> list[str]:
            r = httpx.get(
                f"{base}/api/v1/flood/gauges", headers={"Authorization": "Bearer demo-viewer"}, timeout=10
            )
            return [f["properties"]["id"] for f in r.json()["features"] if f["properties"]["level"] == "red"]

        wait_until(lambda: bool(red_gauges()), 45, "the demo's rainstorm turning a gauge red")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    text = out.decode()
    assert f"http://127.0.0.1:{port}/docs" in text
    assert "demo-viewer" in text
    assert os.path.exists(tmp_path / "demo" / "telemetry.duckdb")
