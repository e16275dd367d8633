from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from simulators.drone import DroneSimulator
from tests.clock import Clock
from tests.servers import Influxd, Mosquitto, free_udp_port

# CI explores the same examples every run (a landing must not depend on luck); developers' runs
# draw new ones, and what they find is kept as a plain regression test (decision 35).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(autouse=True)
def _no_telemetry_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build their configuration explicitly; the developer's TELEMETRY_* must not leak in."""
    for name in list(os.environ):
        if name.startswith("TELEMETRY_"):
            monkeypatch.delenv(name)


@pytest.fixture
def influxd(tmp_path: Path) -> Iterator[Influxd]:
    server = Influxd(tmp_path / "influxd")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The derivations' and the toilet routes' clock, at 2026-11-24 10:00 in Ningbo (a day window
    of R01, toilets open); tests move it with ``clock.ms``."""
    from tests.test_toilet_rules import at

    c = Clock(at(0, "10:00"))
    for target in ("telemetry.derivation.now_ms", "api.runtime.now_ms", "api.routes_toilets.now_ms"):
        monkeypatch.setattr(target, c)
    return c


@pytest.fixture
def udp_port() -> int:
    """A free loopback UDP port, for a MAVLink link."""
    return free_udp_port()


@pytest.fixture
def drone_sims() -> Iterator[list[DroneSimulator]]:
    """Simulated drones a test starts (append them); stopped after the test."""
    running: list[DroneSimulator] = []
    yield running
    for s in running:
        s.stop()
