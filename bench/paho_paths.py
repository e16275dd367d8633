"""paho's receive paths (issue 22): N QoS-0 gauge messages from C publishers through a real
Mosquitto to a subscriber that only counts, in four variants measured in the same run: paho's
``on_message`` over MQTT 5 (the ingest benchmark's baseline) and over MQTT 3.1.1, and the
collector's :class:`sensors.mqtt_fastpath.FastClient` over both. Prints rates and CPU per message
(this process, from /proc); the ratio is paho MQTT 5's CPU per message over the variant's.

    python bench/paho_paths.py [--messages N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

import _common  # puts the repo root on sys.path
import paho.mqtt.client as mqtt
from ingest import ROOT, publish, write_inputs
from paho.mqtt.enums import CallbackAPIVersion

from sensors.mqtt_fastpath import FastClient
from tests.servers import Mosquitto

VARIANTS = [
    ("paho `on_message`, MQTT 5", False, mqtt.MQTTv5),
    ("paho `on_message`, MQTT 3.1.1", False, mqtt.MQTTv311),
    ("FastClient `on_publish_fast`, MQTT 5", True, mqtt.MQTTv5),
    ("FastClient `on_publish_fast`, MQTT 3.1.1", True, mqtt.MQTTv311),
]


def receive(
    broker: Mosquitto, inputs: list[tuple[str, Path]], n: int, fast: bool, protocol: int
) -> tuple[float, float]:
    """(messages per second, CPU microseconds per message) of one counting subscriber."""
    done = threading.Event()
    got = [0]

    def count(*_: object) -> None:
        got[0] += 1
        if got[0] >= n:
            done.set()

    client = FastClient(CallbackAPIVersion.VERSION2, client_id=f"paths-{fast}-{protocol}", protocol=protocol)
    if fast:
        client.on_publish_fast = count
    else:
        client.on_message = count
    subscribed = threading.Event()
    client.on_subscribe = lambda *a: subscribed.set()
    client.connect("127.0.0.1", broker.port)
    client.subscribe(f"{ROOT}/gauge/+/+", qos=0)
    client.loop_start()
    try:
        subscribed.wait(10)
        start, cpu = time.perf_counter(), _common.cpu_seconds(os.getpid())
        procs = publish(broker, inputs, 0)
        if not done.wait(600):
            raise SystemExit(f"got {got[0]} of {n}")
        elapsed, cpu = time.perf_counter() - start, _common.cpu_seconds(os.getpid()) - cpu
        for p in procs:
            p.wait()
    finally:
        client.disconnect()
        client.loop_stop()
    return n / elapsed, cpu / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=100_000)
    args = ap.parse_args()
    n = args.messages - args.messages % 2
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        inputs = write_inputs(work, n, 2)
        broker = Mosquitto(work / "mosquitto", persistence=False)
        broker.start()
        try:
            results = [(name, *receive(broker, inputs, n, fast, proto)) for name, fast, proto in VARIANTS]
        finally:
            broker.stop()
    base_us = results[0][2]
    for name, rate, us in results:
        print(f"  {name:42s}: {rate:9.0f} msg/s  {us:5.1f} us CPU/msg")
    for name, rate, us in results[1:]:
        _common.report(
            f"receive {n // 1000}k QoS-0 messages: {name}", f"{us:.1f} µs CPU/msg ({rate / 1000:.1f}k msg/s)",
            f"paho `on_message`, MQTT 5: {base_us:.1f} µs CPU/msg", f"{base_us / us:.1f}x less CPU",
            "(measured, no target)", True,
        )  # fmt: skip


if __name__ == "__main__":
    main()
