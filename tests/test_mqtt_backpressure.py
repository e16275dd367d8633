"""Back-pressure must not starve the MQTT keepalive (issue 18, item 4).

paho sends PINGREQ only from its network loop, after the callbacks of what it read returned; a
collector that waits in ``on_message`` while the store is stuck sends nothing, and the broker
drops the connection after 1.5 x keepalive and redelivers, again and again. Here the store
hangs for three keepalives, against a real Mosquitto whose log shows every connection."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.mqtt_util import publish_all, wait_until
from tests.servers import Mosquitto
from tests.test_mqtt_ingest import count, gauge_messages, hang_the_store, metric, service

pytestmark = pytest.mark.integration
KEEPALIVE_S = 5  # the smallest [mqtt] keepalive_s accepts; Mosquitto drops us after 7.5 s of silence


def test_a_store_hung_for_three_keepalives_keeps_the_connection_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = Mosquitto(tmp_path / "mosquitto", extra_conf="log_type notice\n")  # connects, timeouts
    broker.start()
    stalled = hang_the_store(monkeypatch)
    try:
        with service(
            broker,
            tmp_path / "store",
            client_id="keepalive",
            keepalive_s=KEEPALIVE_S,
            receive_maximum=20,
            pipeline={"queue_size": 10},  # full before the in-flight bound: the overflow holds the rest
        ) as c:
            wait_until(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
            # Acknowledgements flow first: Mosquitto 2.0.11 then sends beyond Receive Maximum.
            publish_all(broker.url, gauge_messages("G01", 100))
            wait_until(lambda: count(c, "G01") == 100, 30, "the first 100")
            stalled.set()
            try:
                publish_all(broker.url, gauge_messages("G01", 300, start=100))
                wait_until(lambda: metric(c, "telemetry_unacked_messages") >= 10, 10, "the pipeline full")
                time.sleep(3 * KEEPALIVE_S)  # the store outage (a fault we inject)
            finally:
                stalled.clear()
            wait_until(lambda: count(c, "G01") == 400, 60, "all 400 after the store returned")
            connects = metric(c, "telemetry_mqtt_connects_total")
            received = metric(c, 'telemetry_received_total{source="mqtt"}')
            written = metric(c, 'telemetry_written_total{measurement="water_depth"}')
    finally:
        stalled.clear()
        broker.stop()
    log = (broker.dir / "mosquitto.log").read_text()
    assert "exceeded timeout" not in log
    assert log.count("as keepalive (") == 1, log  # one connection at the broker
    assert connects == 1
    # No redelivery: each message received once and written once.
    assert (received, written) == (400, 400)
