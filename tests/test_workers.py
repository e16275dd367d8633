"""`telemetry serve --workers 2` as users run it: two ingest processes on one shared
subscription of a real Mosquitto, writing into a real influxd and handing their decoded records
to the API process, which derives flood alerts from them; SIGTERM stops everything cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from telemetry.config import token_sha256
from tests.mqtt_util import Subscriber, publish_all, wait_until
from tests.servers import Influxd, Mosquitto, env_without_telemetry, free_port, wait_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]
T0 = 1_795_564_800_000
TELEMETRY = [sys.executable, "-m", "api.cli"]
ROOT = "city/haishu"


def write_config(tmp: Path, broker: Mosquitto, store: str, port: int) -> Path:
    cfg = tmp / "telemetry.toml"
    cfg.write_text(
        f"""
[mqtt]
url = "{broker.url}"
client_id = "workers-test"
receive_maximum = 200

{store}

[spool]
path = "{tmp / "spool"}"

[mavlink]
endpoints = []

[api]
port = {port}
[[api.tokens]]
token_sha256 = "{token_sha256("a-long-random-token-for-workers-0123456789")}"
role = "viewer"

[assets]
dir = "{tmp / "no-assets"}"
"""
    )
    return cfg


def worker_samples(port: int, family: str, sample: str) -> dict[str, float]:
    """``sample`` of every worker from the parent's /metrics, by worker label."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        if fam.name == family:
            for s in fam.samples:
                if s.name == sample and "worker" in s.labels:
                    out[s.labels["worker"]] = out.get(s.labels["worker"], 0.0) + s.value
    return out


def parent_samples(port: int, sample: str) -> list[tuple[dict[str, str], float]]:
    """``sample`` of the parent process itself (no ``worker`` label) from its /metrics."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return [
        (s.labels, s.value)
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == sample and "worker" not in s.labels
    ]


def workers_state(port: int) -> str:
    body = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).json()
    return str(body["components"].get("workers", {}).get("state"))


def stored(influx: Influxd) -> int:
    series = influx.query("SELECT COUNT(depth_cm) FROM water_depth")
    return int(series[0]["values"][0][1]) if series else 0  # type: ignore[index]


def test_two_workers_share_the_input_store_it_once_and_stop_on_sigterm(
    mosquitto: Mosquitto, influxd: Influxd, tmp_path: Path
) -> None:
    port = free_port()
    store = f'[store]\nbackend = "influxdb1"\nurl = "{influxd.url}"\ndatabase = "telemetry"'
    cfg = write_config(tmp_path, mosquitto, store, port)
    log = tmp_path / "serve.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*TELEMETRY, "serve", "--workers", "2", "--config", str(cfg)],
            cwd=tmp_path, stdout=out, stderr=out, env=env_without_telemetry(),
        )  # fmt: skip
    alerts = Subscriber(mosquitto.url, f"{ROOT}/alert/flood/#")
    try:
        wait_port(port, 60)
        connected = lambda: worker_samples(port, "telemetry_mqtt_connected", "telemetry_mqtt_connected")  # noqa: E731
        wait_until(lambda: connected() == {"0": 1.0, "1": 1.0}, 60, "both workers connected")
        wait_until(lambda: workers_state(port) == "up", 30, "the workers component up in /readyz")
        n = 4000
        msgs = [
            (f"{ROOT}/gauge/W{i % 20:02d}/telemetry", {"ts": T0 + i * 1000, "depth_cm": 1.0})
            for i in range(n)
        ]
        # One gauge rising into red: the API process's derivations must see it.
        rise = [(f"{ROOT}/gauge/WRED/telemetry", {"ts": T0 + i * 60_000, "depth_cm": d}) for i, d in
                enumerate((0.0, 8.0, 16.0, 31.0))]  # fmt: skip
        publish_all(mosquitto.url, msgs + rise)
        total = n + len(rise)
        wait_until(lambda: stored(influxd) == total, 90, f"{total} points in influxd")

        wait_until(
            lambda: (
                sum(worker_samples(port, "telemetry_received", "telemetry_received_total").values()) >= total
            ),
            10,
            "the workers' metric snapshots",
        )
        received = worker_samples(port, "telemetry_received", "telemetry_received_total")
        assert sum(received.values()) == total  # each message went to exactly one worker
        assert received["0"] > 0
        assert received["1"] > 0
        written = worker_samples(port, "telemetry_written", "telemetry_written_total")
        assert sum(written.values()) == total
        wait_until(lambda: "red" in alerts.levels("WRED"), 30, "the red flood alert")
        assert alerts.levels("WRED")[-1] == "red"
        # The derivations saw the workers' records (one decode, one delivery per message): the
        # parent has no subscription of its own and received nothing from the broker.
        assert parent_samples(port, "telemetry_handed_over_records_total") == [({}, float(total))]
        assert not [
            v for labels, v in parent_samples(port, "telemetry_received_total") if labels["source"] == "mqtt"
        ]

        # A worker killed mid-stream is restarted; its session keeps its share: nothing is lost.
        pids = [int(p) for p in re.findall(r"ingest worker \d started \(pid (\d+)\)", log.read_text())]
        assert len(pids) == 2
        more = [(f"{ROOT}/gauge/K{i % 20:02d}/telemetry", {"ts": T0 + i * 1000, "depth_cm": 2.0})
                for i in range(3 * n)]  # fmt: skip
        publish_all(mosquitto.url, more)
        wait_until(lambda: stored(influxd) > total + 500, 60, "the second stream under way")
        os.kill(pids[1], signal.SIGKILL)
        wait_until(lambda: stored(influxd) == total + 3 * n, 120, "every message after a worker was killed")
        wait_until(lambda: "ingest worker 1 exited with -9; restarting it" in log.read_text(), 10, "restart")
        wait_until(lambda: workers_state(port) == "up", 30, "the restarted worker connected")
        pids = [int(p) for p in re.findall(r"ingest worker \d started \(pid (\d+)\)", log.read_text())]
        assert len(pids) == 3
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(90) in (0, -signal.SIGTERM)
        text = log.read_text()
        assert "ingest worker 0 stopped" in text
        assert "ingest worker 1 stopped" in text
        assert "Application shutdown complete" in text
        for pid in pids:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        assert stored(influxd) == total + 3 * n
    finally:
        alerts.close()
        if proc.poll() is None:
            proc.kill()


def test_workers_are_refused_with_the_embedded_store(mosquitto: Mosquitto, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, mosquitto, f'[store]\npath = "{tmp_path / "store"}"', free_port())
    done = subprocess.run(
        [*TELEMETRY, "serve", "--workers", "2", "--config", str(cfg)],
        check=False, cwd=tmp_path, capture_output=True, text=True, env=env_without_telemetry(), timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "store.backend" in done.stderr
    assert "influxdb1 or influxdb2" in done.stderr
