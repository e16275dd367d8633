"""Scale-out benchmark: `telemetry serve --workers 2` (two ingest processes on one MQTT shared
subscription, writing into a real influxd and handing their decoded records to the API process,
which derives the alerts from them: one delivery and one decode per message) against ONE bare
paho subscriber that only counts, measured in the same run with
the same messages from C publishers (`mosquitto_pub -l`). Also measures `serve` with one process
on the same store, for context. The service's rate is from the first publish until the workers'
`telemetry_written_total` (read from the parent's /metrics) reaches N and the parent's
derivations have been handed all N (`telemetry_handed_over_records_total`). Target: ≥ 1.2 × the bare
subscriber.

    python bench/workers.py [--messages N] [--qos 0|1] [--workers W] [--publishers P]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common
import httpx
from ingest import bare_subscriber, publish, write_inputs
from prometheus_client.parser import text_string_to_metric_families

from telemetry.config import token_sha256
from tests.servers import Influxd, Mosquitto, free_port, wait_port

STALL_S = 30.0  # nothing written or derived for this long: stalled
TOKEN = "bench-workers-token-0123456789abcdef"  # noqa: S105 - a throwaway bench service


def metric(port: int, family: str, sample: str) -> dict[str, float]:
    """``sample`` summed by its ``worker`` label ("" for the parent's own)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if fam.name == family and s.name == sample:
                key = s.labels.get("worker", "")
                out[key] = out.get(key, 0.0) + s.value
    return out


def serve(
    broker: Mosquitto,
    influx: Influxd,
    inputs: list[tuple[str, Path]],
    n: int,
    qos: int,
    workers: int,
    work: Path,
) -> tuple[float, dict[str, float]]:
    port = free_port()
    cfg = work / f"serve{workers}.toml"
    cfg.write_text(
        f'[mqtt]\nurl = "{broker.url}"\nclient_id = "bench-w{workers}"\nqos = {qos}\n'
        f'[store]\nbackend = "influxdb1"\nurl = "{influx.url}"\ndatabase = "bench{workers}"\n'
        f'[spool]\npath = "{work / f"spool{workers}"}"\n[mavlink]\nendpoints = []\n'
        f'[assets]\ndir = "{work / "no-assets"}"\n'
        f'[api]\nport = {port}\n[[api.tokens]]\nrole = "viewer"\ntoken_sha256 = "{token_sha256(TOKEN)}"\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "--log-level", "WARNING", "serve", "--workers", str(workers),
         "--config", str(cfg)],
        cwd=work,
    )  # fmt: skip
    try:
        wait_port(port, 60)
        deadline = time.monotonic() + 60
        want = {str(i) for i in range(workers)} if workers > 1 else {""}
        while {k for k, v in metric(port, "telemetry_mqtt_connected", "telemetry_mqtt_connected").items()
               if v == 1} < want:  # fmt: skip
            if time.monotonic() > deadline:
                raise SystemExit("the service did not connect")
            time.sleep(0.2)
        time.sleep(0.5)  # subscriptions are made right after the connection
        start = time.perf_counter()
        procs = publish(broker, inputs, qos)
        written: dict[str, float] = {}
        observed = 0.0
        progress, progress_at = -1.0, time.perf_counter()
        while sum(written.values()) < n or observed < n:
            time.sleep(0.05)
            if sum(written.values()) + observed != progress:
                progress, progress_at = sum(written.values()) + observed, time.perf_counter()
            elif time.perf_counter() - progress_at > STALL_S:
                raise SystemExit(
                    f"no progress for {STALL_S:.0f} s: written {sum(written.values()):.0f}, derived "
                    f"{observed:.0f} of {n}; the broker stopped delivering (docs/decisions.md 101)"
                )
            written = metric(port, "telemetry_written", "telemetry_written_total")
            # one process derives before it writes; workers hand the records to the parent
            handed = metric(port, "telemetry_handed_over_records", "telemetry_handed_over_records_total")
            observed = handed.get("", 0.0) if workers > 1 else sum(written.values())
            if time.perf_counter() - start > 600:
                raise SystemExit(f"the service wrote {sum(written.values())} of {n}, derived {observed}")
        elapsed = time.perf_counter() - start
        for p in procs:
            p.wait()
        received = metric(port, "telemetry_received", "telemetry_received_total")
        pids = _common.process_tree(proc.pid)
        tree = ", ".join(f"{'parent' if p == proc.pid else p} {_common.cpu_seconds(p):.1f}" for p in pids)
        others = [("influxd", influx.proc), ("mosquitto", broker.proc)]
        tree += "".join(f"; {name} {_common.cpu_seconds(q.pid):.1f}" for name, q in others if q is not None)
        print(f"  CPU seconds so far, serve --workers {workers}: {tree}")
    finally:
        proc.terminate()
        proc.wait(120)
    return n / elapsed, received


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--qos", type=int, choices=(0, 1), default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--publishers", type=int, default=2)
    args = ap.parse_args()
    n = args.messages - args.messages % args.publishers
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        inputs = write_inputs(work, n, args.publishers)
        broker = Mosquitto(work / "mosquitto", persistence=False)
        influx = Influxd(work / "influxd")
        broker.start()
        influx.start()
        try:
            bare = bare_subscriber(broker, inputs, n, args.qos)
            ours, received = serve(broker, influx, inputs, n, args.qos, args.workers, work)
            single, _ = serve(broker, influx, inputs, n, args.qos, 1, work)
        finally:
            broker.stop()
            influx.stop()
    ratio = ours / bare
    shares = ", ".join(f"w{k}: {v:.0f}" for k, v in sorted(received.items()) if k)
    print(f"workers: {n} gauge messages at QoS {args.qos} into influxdb1, {args.publishers} publishers")
    print(f"  bare paho subscriber         : {bare:10.0f} msg/s")
    print(f"  serve --workers {args.workers} (to store) : {ours:10.0f} msg/s   (received {shares})")
    print(f"  serve, one process           : {single:10.0f} msg/s   ({ours / single:.2f}x)")
    verdict = "met" if ratio >= 1.2 else "NOT met"
    print(f"  ratio                        : {ratio:10.2f}   (target >= 1.2: {verdict})")
    _common.report(
        f"ingest, {n // 1000}k gauge messages, QoS {args.qos}, influxdb1, `serve --workers {args.workers}` "
        f"(one process: {single / 1000:.1f}k msg/s)",
        f"{ours / 1000:.1f}k msg/s", f"one bare paho {bare / 1000:.1f}k msg/s", f"{ratio:.2f}", ">= 1.2",
        ratio >= 1.2,
    )  # fmt: skip


if __name__ == "__main__":
    main()
