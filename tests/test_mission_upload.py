"""Uploading missions over lossy links: our ground-station side of the mission protocol against
our simulator dropping 10 % of its packets, then a start in the vehicle's dialect; and the
comparison that verifies a read-back."""

from __future__ import annotations

import pytest

from drones.dialects import dialect
from drones.mavlink import mavutil
from drones.mission_link import launch, send_plan
from drones.planning import points
from drones.upload import LinkSession, _wire, same
from simulators.drone import DroneSimulator
from tests.servers import free_udp_port

pytestmark = pytest.mark.integration
HOME = (29.88, 121.55, 5.0)


def test_upload_with_10_percent_loss_succeeds_20_times_out_of_20_and_starts() -> None:
    items = points([(121.55 + k * 0.001, 29.88) for k in range(8)], 60.0, loiter_s=5)
    port = free_udp_port()
    gcs = mavutil().mavlink_connection(f"udpin:127.0.0.1:{port}", source_system=255, source_component=190)
    sim = DroneSimulator(f"udpout:127.0.0.1:{port}", sysid=4, drop=0.1, seed=10)
    sim.start()
    try:
        hb = gcs.wait_heartbeat(timeout=10)
        assert hb is not None
        vehicle = dialect({3: "ardupilot", 12: "px4"}.get(hb.autopilot))
        session = LinkSession(gcs, 4)
        results = [send_plan(session, 4, vehicle, items, HOME, 0.5) for _ in range(20)]  # 0.5 s per item
        assert [r.error for r in results if not r.verified] == []
        assert launch(session, 4, vehicle) is None
        assert sim.vehicle.armed
    finally:
        sim.stop()
        gcs.close()


def test_compare_notices_a_different_mission() -> None:
    a = points([(121.55, 29.88)], 60.0)
    b = points([(121.55, 29.881)], 60.0)
    wire_b = [_wire(it, k, 1) for k, it in enumerate(b)]
    assert same(b, wire_b)
    assert not same(a, wire_b)
