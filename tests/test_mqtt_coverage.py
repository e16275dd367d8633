"""MQTT paths no other test takes (issue 18): MQTT 3.1.1 against Mosquitto, QoS 0 end to end,
two services on one shared subscription, and ``mqtt.url = "embedded"`` under ``telemetry serve``."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.mqtt_util import WireTap, publish_all, wait_until
from tests.servers import Mosquitto, free_port, start_serve, wait_port, write_serve_config
from tests.test_mqtt_ingest import AUTH, count, gauge_messages, metric, service

pytestmark = pytest.mark.integration


def written(c: TestClient) -> float:
    return metric(c, 'telemetry_written_total{measurement="water_depth"}')


def test_mqtt_3_1_1_keeps_its_session_across_a_restart(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """protocol = "3.1.1": clean session off, so what is published while the service is down
    waits at the broker and arrives after the restart; each message delivered once."""
    tap = WireTap(mosquitto.port)
    store = tmp_path / "store"
    try:
        with service(mosquitto, store, client_id="v311", protocol="3.1.1", url=tap.url) as c:
            wait_until(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
            publish_all(mosquitto.url, gauge_messages("G01", 100))
            wait_until(lambda: count(c, "G01") == 100, 30, "the first 100")
        publish_all(mosquitto.url, gauge_messages("G01", 50, start=100))  # the service is away
        with service(mosquitto, store, client_id="v311", protocol="3.1.1", url=tap.url) as c:
            wait_until(lambda: count(c, "G01") == 150, 30, "the 50 kept by the broker's session")
            assert written(c) == 50
    finally:
        tap.close()
    assert tap.protocols == {4}  # MQTT 3.1.1 on the wire (protocol level 4)
    assert sorted(tap.deliveries.values()) == [1] * 150


def test_qos_0_end_to_end(mosquitto: Mosquitto, tmp_path: Path) -> None:
    with service(mosquitto, tmp_path / "store", client_id="qos0", qos=0) as c:
        wait_until(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
        publish_all(mosquitto.url, gauge_messages("G02", 300), qos=0)
        # QoS 0 has no redelivery to wait for: each message arrives once or not at all. On one
        # machine with room in the pipeline, none is lost.
        wait_until(lambda: count(c, "G02") == 300, 30, "300 QoS-0 messages")
        assert written(c) == 300
        assert metric(c, "telemetry_unacked_messages") == 0  # nothing to acknowledge at QoS 0


def test_two_services_on_one_shared_subscription_split_the_messages(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Two instances with one ``shared_group``: each stores a disjoint share, together all."""
    n = 600
    with (
        service(mosquitto, tmp_path / "a", client_id="share-a", shared_group="ingest") as a,
        service(mosquitto, tmp_path / "b", client_id="share-b", shared_group="ingest") as b,
    ):
        for c in (a, b):
            wait_until(lambda c=c: c.get("/readyz").status_code == 200, 10, "readiness")
        publish_all(mosquitto.url, gauge_messages("G03", n))
        wait_until(lambda: count(a, "G03") + count(b, "G03") >= n, 30, "all messages in one of the two")
        shares = []
        for c in (a, b):
            r = c.get("/api/v1/series/water_depth", params={"device": "G03", "limit": n}, headers=AUTH)
            shares.append({p["time"] for p in r.json()["items"]})
        assert written(a) + written(b) == n  # each message delivered to one member only
    share_a, share_b = shares
    assert min(len(share_a), len(share_b)) > 0, (len(share_a), len(share_b))
    assert not share_a & share_b
    assert len(share_a | share_b) == n


def test_serve_with_the_embedded_broker(tmp_path: Path) -> None:
    """``[mqtt] url = "embedded"`` under ``telemetry serve``: the in-process broker (MQTT 3.1.1)
    takes device messages and the service stores them."""
    port = free_port()
    cfg = tmp_path / "telemetry.toml"
    write_serve_config(
        cfg,
        {"mqtt": {"url": "embedded", "client_id": "embedded-serve"},
         "store": {"path": str(tmp_path / "store")}, "spool": {"path": str(tmp_path / "spool")},
         "api": {"port": port}},
        {"a-long-random-token": "viewer"},
    )  # fmt: skip
    log = tmp_path / "serve.log"
    proc = start_serve(cfg, tmp_path, log)
    try:
        wait_port(port, 30)
        found = re.search(r"embedded MQTT broker on (mqtt://127\.0\.0\.1:\d+)", log.read_text())
        assert found, log.read_text()
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: httpx.get(f"{base}/readyz", timeout=10).status_code == 200, 30, "readiness")
        publish_all(found.group(1), gauge_messages("G04", 50))

        def stored() -> int:
            r = httpx.get(
                f"{base}/api/v1/series/water_depth",
                params={"device": "G04", "fn": "count", "field": "depth_cm"},
                headers={"Authorization": "Bearer a-long-random-token"},
                timeout=10,
            )
            items = r.json()["items"]
            return int(items[0]["depth_cm"]) if items else 0

        wait_until(lambda: stored() == 50, 30, "50 messages through the embedded broker")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
