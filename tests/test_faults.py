"""Faults (issue 10), end to end against real Mosquitto and influxd: a store outage during a
broker restart, device clocks an hour off, and a full disk under the spool. (The broker restart
alone is ``tests/test_mqtt_ingest.py::test_broker_restart_mid_stream_resumes_within_10_s_without_loss``.)"""

from __future__ import annotations

import logging
import re
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.params import iso
from telemetry.assets import load_registry, sample_assets_dir
from telemetry.config import load_settings
from tests.mqtt_util import publish_all, wait_until
from tests.servers import Influxd, Mosquitto, free_port, start_serve, wait_port, write_serve_config
from tests.smallfs import fill, small_filesystem
from tests.test_influx_outages import influx_count
from tests.test_mqtt_ingest import AUTH, count, gauge_messages, metric, service

pytestmark = pytest.mark.integration
ROOT = "city/haishu"
ADMIN = {"Authorization": "Bearer test-admin"}


def influx_service(
    broker: Mosquitto, influx: Influxd, spool: Path, client_id: str, receive_maximum: int
) -> TestClient:
    settings = load_settings(
        overrides={
            "store": {"backend": "influxdb1", "url": influx.url, "database": "telemetry"},
            "spool": {"path": str(spool)},
            "mqtt": {"url": broker.url, "client_id": client_id, "receive_maximum": receive_maximum},
            "api": {"tokens": [{"token": "test-admin", "role": "admin"}]},
            "pipeline": {"flush_interval_s": 0.05},
        }
    )
    return TestClient(create_app(settings, registry=load_registry(sample_assets_dir())))


def component(c: TestClient, name: str) -> dict[str, Any]:
    state: dict[str, Any] = c.get("/readyz").json()["components"][name]
    return state


def stored_once(influx: Influxd, device: str, published: list[tuple[str, dict[str, Any]]]) -> None:
    """Every published timestamp is in InfluxDB, once, and nothing else is."""
    (series,) = influx.query(f"SELECT depth_cm FROM water_depth WHERE gauge = '{device}'")
    times = sorted(str(v[0]) for v in series["values"])  # type: ignore[index]
    assert times == sorted(iso(int(p["ts"])).replace(".000Z", "Z") for _, p in published)


def test_influxd_down_while_the_broker_restarts_loses_nothing(
    mosquitto: Mosquitto, influxd: Influxd, tmp_path: Path
) -> None:
    """Both outages overlap: influxd stops, the QoS-1 stream goes to the spool, Mosquitto stops
    mid-stream, influxd returns while the broker is still away (the spool replays), then the
    broker returns and the stream goes on. Every message is in InfluxDB exactly once."""
    first, second = gauge_messages("B01", 2000), gauge_messages("B01", 1000, start=2000)
    with influx_service(mosquitto, influxd, tmp_path / "spool", "both-down", 20) as c:
        wait_until(lambda: c.get("/readyz").status_code == 200, 20, "readiness")
        influxd.stop()
        publish_all(mosquitto.url, first)
        wait_until(lambda: metric(c, "telemetry_spooled") >= 100, 30, "spooling")
        mosquitto.stop()
        assert metric(c, 'telemetry_received_total{source="mqtt"}') < len(first)  # mid-stream
        wait_until(lambda: component(c, "mqtt")["state"] == "down", 10, "mqtt down")
        assert component(c, "store")["state"] == "down"
        influxd.start()
        wait_until(lambda: metric(c, "telemetry_spooled") == 0, 30, "the spool replayed")
        mosquitto.start()
        wait_until(lambda: component(c, "mqtt")["state"] == "up", 15, "mqtt up again")
        publish_all(mosquitto.url, second)
        total = len(first) + len(second)
        wait_until(lambda: influx_count(influxd, "B01") == total, 60, "all 3000 in InfluxDB")
        wait_until(lambda: c.get("/readyz").status_code == 200, 20, "ready again")
        assert metric(c, "telemetry_replayed_total") > 0
        assert metric(c, "telemetry_dropped_total") == 0
    stored_once(influxd, "B01", [*first, *second])


def test_device_clocks_an_hour_ahead_are_refused_and_an_hour_behind_stored(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    now_ms = time.time_ns() // 1_000_000
    ahead_ms, behind_ms = now_ms + 3_600_000, now_ms - 3_600_000
    behind_local = datetime.fromtimestamp(behind_ms / 1000, tz=timezone(timedelta(hours=8)))
    ahead_topic = f"{ROOT}/gauge/G02/telemetry"
    behind_ts = behind_local.isoformat(timespec="milliseconds")  # RFC 3339, +08:00
    msgs: list[tuple[str, dict[str, object]]] = [
        (ahead_topic, {"ts": ahead_ms, "depth_cm": 12.5}),
        (f"{ROOT}/gauge/G03/telemetry", {"ts": behind_ts, "depth_cm": 7.5}),
    ]
    with service(mosquitto, tmp_path / "store", client_id="clocks") as c:
        wait_until(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
        publish_all(mosquitto.url, msgs)
        wait_until(lambda: count(c, "G03") == 1, 20, "the reading an hour behind")
        wait_until(
            lambda: metric(c, 'telemetry_rejected_total{reason="future_timestamp"}') == 1, 10, "rejection"
        )
        assert count(c, "G02") == 0
        assert metric(c, "telemetry_rejected_total") == 1
        (letter,) = c.get("/api/v1/dead-letters", headers=ADMIN).json()["items"]
        assert (letter["reason"], letter["topic"]) == ("future_timestamp", ahead_topic)
        assert re.fullmatch(r"'ts' is 3[56]\d\d s ahead of the receive time", letter["detail"])
        assert str(ahead_ms) in letter["payload"]
        # stored with the device's own time, not the receive time
        r = c.get("/api/v1/series/water_depth", params={"device": "G03"}, headers=AUTH)
        assert r.json()["items"] == [{"time": iso(behind_ms), "depth_cm": 7.5, "battery_v": None}]
        assert datetime.fromisoformat(r.json()["items"][0]["time"]) < datetime.now(UTC) - timedelta(
            minutes=59
        )


def test_a_full_disk_under_the_spool_holds_input_at_the_broker_and_loses_nothing(
    mosquitto: Mosquitto, influxd: Influxd, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """influxd is down and the spool's filesystem (a real 1 MiB tmpfs) is full: the collector
    stops acknowledging (the rest waits at the broker), `/readyz` says why, one log line names
    the spool and the full disk. Freeing space lets the spool take the input; a second full disk
    with a non-empty spool is cleared by influxd's return (the replay frees space). Every message
    arrives exactly once."""
    caplog.set_level(logging.WARNING)
    first, second = gauge_messages("D01", 500), gauge_messages("D01", 500, start=500)
    with small_filesystem(tmp_path / "spoolfs", 1024) as fs:
        spool = fs / "spool"
        with influx_service(mosquitto, influxd, spool, "disk-full", 100) as c:
            wait_until(lambda: c.get("/readyz").status_code == 200, 20, "readiness")
            influxd.stop()
            filler = fill(fs)
            publish_all(mosquitto.url, first)
            wait_until(lambda: component(c, "spool")["state"] == "down", 30, "spool down")
            ready = c.get("/readyz")
            assert ready.status_code == 503
            detail = ready.json()["components"]["spool"]["detail"]
            assert "no space left" in detail.lower()
            assert str(spool) in detail
            # back-pressure: nothing acknowledged, nothing spooled, the rest still at the broker
            wait_until(lambda: metric(c, "telemetry_unacked_messages") == 100, 10, "in-flight bound")
            assert metric(c, 'telemetry_received_total{source="mqtt"}') <= 100
            assert metric(c, "telemetry_spooled") == 0
            full_lines = [r for r in caplog.records if "no space left" in r.getMessage().lower()]
            assert len(full_lines) == 1
            assert full_lines[0].levelno >= logging.WARNING
            assert str(spool) in full_lines[0].getMessage()

            filler.unlink()  # room again: the spool takes what the broker held back
            wait_until(
                lambda: (
                    metric(c, 'telemetry_received_total{source="mqtt"}') == len(first)
                    and metric(c, "telemetry_unacked_messages") == 0
                ),
                30,
                "all received and acknowledged",
            )
            assert metric(c, "telemetry_spooled") >= len(first)  # (and the flood alerts they raised)
            wait_until(lambda: component(c, "spool")["state"] == "up", 10, "spool up")

            filler = fill(fs)  # full again, now with a spool that holds data
            publish_all(mosquitto.url, second)
            wait_until(lambda: component(c, "spool")["state"] == "down", 30, "spool down again")
            # back-pressure again: at most the in-flight bound unacknowledged (a message or two may
            # still fit in the last bytes of the disk and be spooled), the rest at the broker
            assert metric(c, "telemetry_unacked_messages") <= 100
            assert metric(c, 'telemetry_received_total{source="mqtt"}') < len(first) + len(second) - 300
            influxd.start()  # the replay empties the spool, which frees its space
            total = len(first) + len(second)
            wait_until(lambda: influx_count(influxd, "D01") == total, 60, "all 1000 in InfluxDB")
            wait_until(lambda: c.get("/readyz").status_code == 200, 20, "ready again")
            assert metric(c, "telemetry_dropped_total") == 0
        stored_once(influxd, "D01", [*first, *second])
        assert not [r for r in caplog.records if r.exc_info]  # no traceback, per message or at all
        assert len([r for r in caplog.records if "no space left" in r.getMessage().lower()]) == 2


def test_sigterm_while_input_is_held_back_exits_and_the_broker_keeps_it(
    mosquitto: Mosquitto, influxd: Influxd, tmp_path: Path
) -> None:
    """influxd down and the spool full: SIGTERM still stops `telemetry serve` cleanly (the drain
    gives up after its 30 s on what cannot be made durable, unacknowledged), the broker keeps
    that input, and the next start stores all of it exactly once."""
    port = free_port()
    cfg = tmp_path / "telemetry.toml"
    write_serve_config(
        cfg,
        {"mqtt": {"url": mosquitto.url, "client_id": "held-back", "receive_maximum": 50},
         "store": {"backend": "influxdb1", "url": influxd.url},
         "spool": {"path": str(tmp_path / "spool"), "max_bytes": 65536}, "api": {"port": port}},
        {"a-long-random-token": "viewer"},
    )  # fmt: skip
    log = tmp_path / "serve.log"

    def serve() -> subprocess.Popen[bytes]:
        return start_serve(cfg, tmp_path, log)

    def readyz() -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).json()
        return body

    msgs = gauge_messages("H01", 2000)  # about 700 fit in the spool
    proc = serve()
    try:
        wait_port(port, 30)
        wait_until(lambda: readyz()["status"] == "ready", 20, "readiness")
        influxd.stop()
        publish_all(mosquitto.url, msgs)
        wait_until(lambda: readyz()["components"]["spool"]["state"] == "down", 30, "spool full")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(90) in (0, -signal.SIGTERM)  # a hang raises TimeoutExpired
        served = (tmp_path / "serve.log").read_text()
        assert "Application shutdown complete" in served
        assert "Traceback" not in served
        influxd.start()
        proc = serve()
        wait_until(lambda: influx_count(influxd, "H01") == len(msgs), 60, "all 2000 after the restart")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    stored_once(influxd, "H01", msgs)
