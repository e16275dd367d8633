"""Flood-alert latency: p50 and p99 from publishing a reading that crosses into red to
receiving its retained alert, while 5,000 msg/s of other gauge traffic flows. The service runs
as its own process (`telemetry serve`), the load comes from a C publisher (`mosquitto_pub -l`).
Target: p99 ≤ 100 ms. Beside it, from the same run and under the same load, the p99 of a bare
MQTT round trip (a QoS-1 publish to a plain subscriber, no service in the path): what the
machine and the broker cost, so that what is ours can be told apart from the noise.

    python bench/flood_latency.py [--probes N] [--load MSG_PER_S]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import _common  # puts the repo root on sys.path
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from telemetry.config import token_sha256
from tests.servers import Mosquitto, find_binary, free_port, free_udp_port, wait_port

ROOT = "city/haishu"


def load(broker: Mosquitto, rate: int, stop: threading.Event) -> threading.Thread:
    pub = find_binary("mosquitto_pub")
    if pub is None:
        raise SystemExit("mosquitto_pub is missing: apt-get install mosquitto-clients")

    def feed() -> None:
        proc = subprocess.Popen(
            [
                pub,
                "-h",
                "127.0.0.1",
                "-p",
                str(broker.port),
                "-q",
                "0",
                "-t",
                f"{ROOT}/gauge/L01/telemetry",
                "-l",
            ],
            stdin=subprocess.PIPE,
        )
        assert proc.stdin is not None
        i = 0
        start = time.monotonic()
        while not stop.is_set():
            due = int((time.monotonic() - start) * rate)
            lines = []
            while i < due:
                lines.append(json.dumps({"ts": int(time.time() * 1000) - 1000 + i % 1000, "depth_cm": 1.0}))
                i += 1
            if lines:
                proc.stdin.write(("\n".join(lines) + "\n").encode())
                proc.stdin.flush()
            time.sleep(0.005)
        proc.stdin.close()
        proc.wait()

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--probes", type=int, default=200)
    ap.add_argument("--load", type=int, default=5000, help="other gauge messages per second")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        broker = Mosquitto(work / "mosquitto", persistence=False)
        broker.start()
        port = free_port()
        cfg = work / "telemetry.toml"
        mavlink = f"udpin:127.0.0.1:{free_udp_port()}"
        cfg.write_text(
            f'[mqtt]\nurl = "{broker.url}"\nclient_id = "bench-flood"\n[store]\npath = "{work / "store"}"\n'
            f'[spool]\npath = "{work / "spool"}"\n[mavlink]\nendpoints = ["{mavlink}"]\n'
            f'[api]\nport = {port}\n[[api.tokens]]\nrole = "viewer"\n'
            f'token_sha256 = "{token_sha256("bench-token-0123456789")}"\n'
        )
        serve = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "--log-level", "WARNING", "serve", "--config", str(cfg)]
        )
        received: dict[str, float] = {}
        sub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)

        def arrived(c: mqtt.Client, u: object, m: mqtt.MQTTMessage) -> None:
            received.setdefault(m.topic.rsplit("/", 1)[1], time.perf_counter())

        sub.on_message = arrived
        sub.connect("127.0.0.1", broker.port)
        sub.subscribe([(f"{ROOT}/alert/flood/#", 1), ("bench/roundtrip/#", 1)])
        sub.loop_start()
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        stop = threading.Event()
        bare: dict[str, float] = {}
        try:
            wait_port(port, 30)
            time.sleep(1.0)
            loader = load(broker, args.load, stop)
            time.sleep(2.0)  # let the load settle
            sent: dict[str, float] = {}
            for k in range(args.probes):
                gauge = f"P{k:04d}"
                body = json.dumps({"ts": int(time.time() * 1000), "depth_cm": 42.0})
                sent[gauge] = time.perf_counter()
                pub.publish(f"{ROOT}/gauge/{gauge}/telemetry", body, qos=1)
                time.sleep(0.05)
            deadline = time.monotonic() + 10
            while len(received.keys() & sent.keys()) < len(sent) and time.monotonic() < deadline:
                time.sleep(0.05)
            for k in range(args.probes):
                probe = f"R{k:04d}"
                bare[probe] = time.perf_counter()
                pub.publish(f"bench/roundtrip/{probe}", b"{}", qos=1)
                time.sleep(0.05)
            deadline = time.monotonic() + 10
            while len(received.keys() & bare.keys()) < len(bare) and time.monotonic() < deadline:
                time.sleep(0.05)
            stop.set()
            loader.join(10)
        finally:
            sub.loop_stop()
            pub.loop_stop()
            serve.terminate()
            serve.wait(30)
            broker.stop()
    latencies = sorted((received[g] - t) * 1000 for g, t in sent.items() if g in received)
    missing = len(sent) - len(latencies)
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    trips = sorted((received[r] - t) * 1000 for r, t in bare.items() if r in received)
    bare_p99 = trips[min(len(trips) - 1, int(0.99 * len(trips)))] if trips else float("nan")
    print(f"flood latency: {len(latencies)} red crossings under {args.load} msg/s of other traffic", end="")
    print(f" ({missing} missing)")
    print(f"  p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   max {latencies[-1]:7.1f} ms")
    bare_p50 = statistics.median(trips) if trips else float("nan")
    print(f"  bare MQTT round trip under the same load: p50 {bare_p50:7.1f} ms   p99 {bare_p99:7.1f} ms")
    print(f"  target p99 <= 100 ms: {'met' if p99 <= 100 and not missing else 'NOT met'}")
    _common.report(
        f"flood latency, {len(sent)} red crossings under {args.load:,} msg/s of other traffic",
        f"p50 {p50:.0f} ms, p99 {p99:.0f} ms ({missing} missing)",
        f"bare round trip p99 {bare_p99:.0f} ms", f"{p99 / bare_p99:.1f}x" if bare_p99 > 0 else "",
        "p99 <= 100 ms", p99 <= 100 and not missing,
    )  # fmt: skip


if __name__ == "__main__":
    main()
