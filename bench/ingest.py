"""Ingest benchmark: N gauge messages through a real Mosquitto, published by C publishers
(`mosquitto_pub -l`), received by (a) a bare paho subscriber that only counts and (b) the
service until every message is written to the embedded store. Prints both rates and the ratio,
measured in the same run. Targets: ratio ≥ 0.6 at QoS 0, ≥ 0.8 at QoS 1.

    python bench/ingest.py [--messages N] [--qos 0|1] [--publishers P] [--store embedded|influxdb1]
                           [--profile]

``--profile`` samples the service phase with py-spy (a benchmark tool only: ``pip install py-spy``
into the venv) and prints the top five functions by their share of the samples (own time, every
thread) as ``PROFILE {json}`` lines, which `bench/run_all.py` adds under its table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import _common  # puts the repo root on sys.path
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from api.runtime import running
from telemetry.assets import Registry
from telemetry.config import load_settings
from tests.servers import Influxd, Mosquitto, find_binary

ROOT = "city/haishu"
T0 = 1_795_564_800_000


def write_inputs(workdir: Path, n: int, publishers: int) -> list[tuple[str, Path]]:
    """One file of JSON lines per publisher, each publisher its own gauge (unique timestamps)."""
    out = []
    per = n // publishers
    for p in range(publishers):
        path = workdir / f"in{p}.jsonl"
        with path.open("w") as f:
            for i in range(per):
                f.write(json.dumps({"ts": T0 + i * 100, "depth_cm": (i % 400) / 10, "seq": i}) + "\n")
        out.append((f"{ROOT}/gauge/B{p:02d}/telemetry", path))
    return out


def publish(broker: Mosquitto, inputs: list[tuple[str, Path]], qos: int) -> list[subprocess.Popen[bytes]]:
    pub = find_binary("mosquitto_pub")
    if pub is None:
        raise SystemExit("mosquitto_pub is missing: apt-get install mosquitto-clients")
    procs = []
    for topic, path in inputs:
        with path.open("rb") as f:
            procs.append(
                subprocess.Popen(
                    [pub, "-h", "127.0.0.1", "-p", str(broker.port), "-q", str(qos), "-t", topic, "-l"],
                    stdin=f,
                )
            )
    return procs


CPU_US: dict[str, float] = {}  # CPU microseconds per message of this process, by phase


def bare_subscriber(broker: Mosquitto, inputs: list[tuple[str, Path]], n: int, qos: int) -> float:
    done = threading.Event()
    received = [0]

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        received[0] += 1
        if received[0] >= n:
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-bare", protocol=mqtt.MQTTv5)
    client.on_message = on_message
    subscribed = threading.Event()
    client.on_subscribe = lambda *a: subscribed.set()
    client.connect("127.0.0.1", broker.port)
    client.subscribe(f"{ROOT}/gauge/+/+", qos=qos)
    client.loop_start()
    subscribed.wait(10)
    start, cpu = time.perf_counter(), _common.cpu_seconds(os.getpid())
    procs = publish(broker, inputs, qos)
    if not done.wait(600):
        raise SystemExit(f"bare subscriber got {received[0]} of {n}")
    elapsed = time.perf_counter() - start
    cpu = _common.cpu_seconds(os.getpid()) - cpu
    CPU_US["bare"] = cpu / n * 1e6
    for p in procs:
        p.wait()
    client.disconnect()
    client.loop_stop()
    return n / elapsed


class Profile:
    """py-spy sampling this process while the service runs: 200 Hz, the thread holding the GIL
    (where Python runs; waits in C are left out)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(spy).exists():
            print("  no profile: py-spy is missing (.venv/bin/pip install py-spy, a benchmark tool only)")
            return
        cmd = [
            spy,
            "record",
            "--gil",
            "--pid",
            str(os.getpid()),
            "-r",
            "200",
            "-f",
            "raw",
            "-o",
            str(self.out),
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)  # attached

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(60)

    def top(self, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` functions with the most own samples, as shares of all samples."""
        if self.proc is None or not self.out.exists():
            return []
        own: dict[str, int] = {}
        total = 0
        for line in self.out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            leaf = stack.rsplit(";", 1)[-1]  # "function (path/file.py:line)"
            function, _, where = leaf.partition(" (")
            name = f"{function} ({where.split(':')[0].rsplit('/', 1)[-1]})" if where else function
            own[name] = own.get(name, 0) + int(count)
            total += int(count)
        return [(f, c / total) for f, c in sorted(own.items(), key=lambda x: -x[1])[:k]]


async def service(
    broker: Mosquitto,
    inputs: list[tuple[str, Path]],
    n: int,
    qos: int,
    work: Path,
    influx_url: str | None,
    profile: Profile | None = None,
) -> float:
    store: dict[str, str] = {"path": str(work / "store")}
    if influx_url:
        store = {"backend": "influxdb1", "url": influx_url, "database": "bench"}
    settings = load_settings(
        overrides={
            "store": store,
            "spool": {"path": str(work / "spool")},
            "mqtt": {"url": broker.url, "client_id": "bench-service", "qos": qos},
        }
    )
    async with running(settings, Registry()) as rt:
        for _ in range(200):
            if rt.health.ready():
                break
            await asyncio.sleep(0.05)
        if profile is not None:
            profile.start()
        start, cpu = time.perf_counter(), _common.cpu_seconds(os.getpid())
        procs = publish(broker, inputs, qos)
        written = rt.metrics.written.labels("water_depth")
        while written._value.get() < n:  # the counter the /metrics endpoint shows
            await asyncio.sleep(0.01)
            if time.perf_counter() - start > 600:
                raise SystemExit(f"service wrote {written._value.get()} of {n}")
        elapsed = time.perf_counter() - start
        cpu = _common.cpu_seconds(os.getpid()) - cpu
        CPU_US["service"] = cpu / n * 1e6  # all its threads (DuckDB's too)
        if profile is not None:
            profile.stop()
        for p in procs:
            p.wait()
    return n / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--qos", type=int, choices=(0, 1), default=0)
    ap.add_argument("--publishers", type=int, default=2)
    ap.add_argument("--store", choices=("embedded", "influxdb1"), default="embedded")
    ap.add_argument("--profile", action="store_true", help="py-spy the service phase: top five functions")
    ap.add_argument("--profile-raw", type=Path, help="with --profile: keep py-spy's raw stacks there")
    args = ap.parse_args()
    top: list[tuple[str, float]] = []
    n = args.messages - args.messages % args.publishers
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        inputs = write_inputs(work, n, args.publishers)
        broker = Mosquitto(work / "mosquitto", persistence=False)
        influx = Influxd(work / "influxd") if args.store == "influxdb1" else None
        broker.start()
        if influx is not None:
            influx.start()
        try:
            bare = bare_subscriber(broker, inputs, n, args.qos)
            profile = Profile(args.profile_raw or work / "profile.txt") if args.profile else None
            svc = asyncio.run(
                service(broker, inputs, n, args.qos, work, influx.url if influx else None, profile)
            )
            top = profile.top() if profile is not None else []
        finally:
            broker.stop()
            if influx is not None:
                influx.stop()
    target = 0.6 if args.qos == 0 else 0.8
    ratio = svc / bare
    print(f"ingest: {n} gauge messages at QoS {args.qos} into {args.store}", end="")
    print(f", {args.publishers} mosquitto_pub publishers")
    print(f"  bare paho subscriber : {bare:10.0f} msg/s")
    print(f"  service (to store)   : {svc:10.0f} msg/s")
    verdict = "met" if ratio >= target else "NOT met"
    print(f"  ratio                : {ratio:10.2f}   (target >= {target}: {verdict})")
    bare_us, svc_us = CPU_US["bare"], CPU_US["service"]
    print(
        f"  CPU per message      : bare {bare_us:.1f} us, service {svc_us:.1f} us"
        f" (ratio {bare_us / svc_us:.2f})"
    )
    _common.report(
        f"ingest, {n // 1000}k gauge messages, QoS {args.qos}, into {args.store}",
        f"{svc / 1000:.1f}k msg/s", f"bare paho {bare / 1000:.1f}k msg/s", f"{ratio:.2f}", f">= {target}",
        ratio >= target,
    )  # fmt: skip
    # CPU per message moves less than the rates on a shared machine: the same comparison in CPU
    _common.report(
        f"ingest QoS {args.qos} into {args.store}: CPU per message (this process, all threads)",
        f"{svc_us:.1f} µs", f"bare paho {bare_us:.1f} µs", f"{bare_us / svc_us:.2f}", f">= {target}",
        bare_us / svc_us >= target,
    )  # fmt: skip
    for function, share in top:  # the service phase while profiled (py-spy slows it a little)
        print("PROFILE " + json.dumps({"benchmark": f"ingest QoS {args.qos}", "function": function,
                                       "share": round(share, 3)}), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
