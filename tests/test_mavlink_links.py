"""A MAVLink link whose thread fails in any way (issue 18, item 9) is reported down in /readyz
with the reason and reopened with back-off; its thread never ends silently and still stops."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from drones.collector import MavlinkCollector
from drones.fleet import Fleet
from simulators.drone import DroneSimulator
from telemetry.config import MavlinkConfig
from telemetry.health import ComponentState, Health
from telemetry.metrics import Metrics
from telemetry.ports import Envelope
from tests.mqtt_util import wait_until
from tests.servers import Mosquitto
from tests.test_drones import drones, service
from tests.test_mqtt_ingest import metric


class _Sink:
    closed = False

    def submit_threadsafe(self, envelope: Envelope, timeout_s: float) -> bool:
        return True


class _Quiet:
    """A connection that hears nothing (each receive waits a little, as pymavlink's does)."""

    def __init__(self) -> None:
        self.closed = threading.Event()

    def recv_match(self, *, blocking: bool, timeout: float) -> None:
        self.closed.wait(0.01)

    def close(self) -> None:
        self.closed.set()


class _Poisoned:
    """A real connection whose next receive raises what no socket error is (a parser's bug)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def recv_match(self, **kwargs: Any) -> Any:
        raise ValueError("invalid MAVLink prefix '0x42'")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


@pytest.fixture
def fast_reopen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("drones.collector._REOPEN_MIN_S", 0.01)


def _state(health: Health, name: str) -> ComponentState | None:
    return next((c for c in health.snapshot() if c.name == name), None)


@pytest.mark.usefixtures("fast_reopen")
def test_a_link_that_cannot_open_for_any_reason_is_reported_retried_and_still_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = "serial:/dev/ttyNOTHING:57600"
    seen_down, attempts = threading.Event(), [0]
    quiet = _Quiet()

    def connect(self: MavlinkCollector, u: str) -> Any:
        attempts[0] += 1
        if attempts[0] <= 2:
            raise RuntimeError("serial driver fell over")  # neither OSError nor ValueError
        seen_down.wait(10)
        return quiet

    monkeypatch.setattr(MavlinkCollector, "_connect", connect)
    health, metrics = Health(), Metrics()
    collector = MavlinkCollector(MavlinkConfig(endpoints=[url]), _Sink(), metrics, health, Fleet())

    async def go() -> None:
        async with collector:
            component = f"mavlink:{url}"
            wait_until(lambda: attempts[0] >= 2, 10, "a second attempt")
            down = _state(health, component)
            assert down is not None
            assert down.state == "down"
            assert "cannot open: RuntimeError: serial driver fell over" in down.detail
            seen_down.set()
            wait_until(lambda: getattr(_state(health, component), "state", "") == "up", 10, "reopened")
            assert metrics.mavlink_link_failures.labels(link=url)._value.get() == 2
        assert quiet.closed.is_set()  # the stop event ended the thread, which closed its link

    asyncio.run(go())
    assert not [t for t in threading.enumerate() if t.name == f"mavlink {url}"]


@pytest.mark.integration
@pytest.mark.usefixtures("fast_reopen")
def test_a_link_that_fails_reads_down_in_readyz_then_up_once_reopened(
    monkeypatch: pytest.MonkeyPatch,
    mosquitto: Mosquitto,
    tmp_path: Path,
    udp_port: int,
    drone_sims: list[DroneSimulator],
) -> None:
    opened, seen_down = [0], threading.Event()
    connect = MavlinkCollector._connect

    def poisoned_once(self: MavlinkCollector, url: str) -> Any:
        opened[0] += 1
        if opened[0] == 1:
            return _Poisoned(connect(self, url))
        seen_down.wait(10)  # hold the reopen until the test has read the failure
        return connect(self, url)

    monkeypatch.setattr(MavlinkCollector, "_connect", poisoned_once)
    link = f"mavlink:udpin:127.0.0.1:{udp_port}"
    with service(mosquitto, tmp_path, udp_port) as c:

        def component() -> dict[str, Any]:
            comp: dict[str, Any] = c.get("/readyz").json()["components"].get(link, {})
            return comp

        wait_until(lambda: component().get("state") == "down", 10, "the link reported down")
        assert c.get("/readyz").status_code == 503
        assert "link lost: ValueError: invalid MAVLink prefix '0x42'" in component()["detail"]
        seen_down.set()
        wait_until(lambda: component().get("state") == "up", 10, "the link reopened")
        sim = DroneSimulator(f"udpout:127.0.0.1:{udp_port}", sysid=7)
        drone_sims.append(sim)
        sim.start()
        wait_until(lambda: 7 in drones(c), 20, "the drone heard on the reopened link")
        wait_until(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
        assert metric(c, f'telemetry_mavlink_link_failures_total{{link="udpin:127.0.0.1:{udp_port}"}}') == 1
        assert opened[0] == 2
