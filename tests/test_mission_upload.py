"""Uploading missions over lossy links: our ground-station side of the mission protocol
against our simulator dropping 10 % of its packets, and a download-and-compare."""

from __future__ import annotations

import pytest

from drones.mavlink import mavutil
from drones.planning import points
from drones.upload import LinkSession, download, same, start, upload
from simulators.drone import DroneSimulator
from tests.servers import free_udp_port

pytestmark = pytest.mark.integration


def test_upload_with_10_percent_loss_succeeds_20_times_out_of_20() -> None:
    items = points([(121.55 + k * 0.001, 29.88) for k in range(8)], 60.0, loiter_s=5)
    port = free_udp_port()
    gcs = mavutil().mavlink_connection(f"udpin:127.0.0.1:{port}", source_system=255, source_component=190)
    sim = DroneSimulator(f"udpout:127.0.0.1:{port}", sysid=4, drop=0.1, seed=10)
    sim.start()
    try:
        assert gcs.wait_heartbeat(timeout=10) is not None
        session = LinkSession(gcs, 4)
        ok = 0
        for _ in range(20):
            result = upload(session, 4, items)
            wire = download(session, 4)
            if result.ok and wire is not None and same(items, wire):
                ok += 1
        assert ok == 20
        assert start(session, 4) is None
        assert sim.vehicle.armed
        assert sim.vehicle.mode == 3
    finally:
        sim.stop()
        gcs.close()


def test_compare_notices_a_different_mission() -> None:
    a = points([(121.55, 29.88)], 60.0)
    b = points([(121.55, 29.881)], 60.0)
    from drones.upload import _wire

    wire_b = [_wire(it, k, 1) for k, it in enumerate(b)]
    assert same(b, wire_b)
    assert not same(a, wire_b)
