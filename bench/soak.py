"""Soak: the running service (`telemetry serve`, embedded store) fed 2,000 msg/s for 30 minutes
through a real Mosquitto, its resident memory (RSS) sampled every 15 s after a warm-up. Target:
growth ≤ 10 %, measured as the highest RSS of the last window over the highest of the first
window after the warm-up. Windows, not single samples: DuckDB's memory is a sawtooth (its index
and table buffers grow by ~30 MiB until the WAL is checkpointed, about every 550k rows, 4.5
minutes at 2,000 msg/s), so two single samples can differ by ±10 % with nothing leaking.
Also checks that the store holds every message published (counted through the API).
Not part of CI: `make soak` runs the 30 minutes; `--minutes 3` a short check.

    python bench/soak.py [--minutes 30] [--rate 2000] [--warmup-s 300] [--window-s 300] [--qos 1]

The load is gauge telemetry (CONTRACT §2) of four gauges, each from its own C publisher
(`mosquitto_pub -l`) fed at a quarter of the rate; every message has its own timestamp, so the
store keeps every one and the flood derivation grades them all.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import _common
import httpx
from prometheus_client.parser import text_string_to_metric_families

from telemetry.config import token_sha256
from tests.servers import Mosquitto, find_binary, free_port, free_udp_port, wait_port

ROOT = "city/haishu"
GAUGES = 4
TOKEN = "soak-token-0123456789abcdefghij"  # noqa: S105 - a throwaway service


def written(port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return sum(
        s.value
        for fam in text_string_to_metric_families(text)
        if fam.name == "telemetry_written"
        for s in fam.samples
        if s.name == "telemetry_written_total" and s.labels.get("measurement") == "water_depth"
    )


def stored_count(port: int) -> int:
    """Points the store holds (the API's count per gauge), not how many writes happened."""
    total = 0
    for g in range(GAUGES):
        r = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/series/water_depth",
            params={"device": f"S{g:02d}", "fn": "count"},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=60,
        )
        r.raise_for_status()
        items = r.json()["items"]
        total += int(items[0]["depth_cm"]) if items else 0
    return total


class Load:
    """``rate`` gauge messages per second over four `mosquitto_pub -l` (one gauge each)."""

    def __init__(self, broker: Mosquitto, rate: int, qos: int) -> None:
        pub = find_binary("mosquitto_pub")
        if pub is None:
            raise SystemExit("mosquitto_pub is missing: apt-get install mosquitto-clients")
        self._cmd = [pub, "-h", "127.0.0.1", "-p", str(broker.port), "-q", str(qos), "-l", "-t"]
        self._rate = rate
        self._stop = threading.Event()
        self.sent = 0
        self._thread = threading.Thread(target=self._run, name="soak-load")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        groups = GAUGES
        procs = [
            subprocess.Popen([*self._cmd, f"{ROOT}/gauge/S{g:02d}/telemetry"], stdin=subprocess.PIPE)
            for g in range(groups)
        ]
        t0_ms = int(time.time() * 1000) - 3_600_000  # an hour back: never "future" for the service
        start = time.monotonic()
        i = 0
        try:
            while not self._stop.is_set():
                due = int((time.monotonic() - start) * self._rate)
                batches: list[list[bytes]] = [[] for _ in range(groups)]
                while i < due:
                    # A millisecond per message: unique per gauge, an hour back plus half an hour of
                    # messages at 2,000/s stays in the past.
                    body = {"ts": t0_ms + i, "depth_cm": (i % 300) / 10, "seq": i}
                    batches[i % groups].append(json.dumps(body).encode() + b"\n")
                    i += 1
                for proc, lines in zip(procs, batches, strict=True):
                    if lines and proc.stdin is not None:
                        proc.stdin.write(b"".join(lines))
                        proc.stdin.flush()
                self.sent = i
                time.sleep(0.02)
        finally:
            for proc in procs:
                if proc.stdin is not None:
                    proc.stdin.close()
                proc.wait(60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--rate", type=int, default=2000, help="messages per second")
    ap.add_argument("--warmup-s", type=float, default=300.0, help="seconds before the first RSS sample")
    ap.add_argument("--window-s", type=float, default=300.0, help="the first and last windows compared")
    ap.add_argument("--sample-s", type=float, default=15.0, help="seconds between RSS samples")
    ap.add_argument("--qos", type=int, choices=(0, 1), default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        broker = Mosquitto(work / "mosquitto", persistence=False)
        broker.start()
        port = free_port()
        cfg = work / "telemetry.toml"
        cfg.write_text(
            f'[mqtt]\nurl = "{broker.url}"\nclient_id = "soak"\nqos = {args.qos}\n'
            f'[store]\npath = "{work / "store"}"\n[spool]\npath = "{work / "spool"}"\n'
            f'[mavlink]\nendpoints = ["udpin:127.0.0.1:{free_udp_port()}"]\n'
            f'[assets]\ndir = "{work / "none"}"\n'
            f'[api]\nport = {port}\n[[api.tokens]]\nrole = "viewer"\ntoken_sha256 = "{token_sha256(TOKEN)}"\n'
        )
        serve = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "--log-level", "WARNING", "serve", "--config", str(cfg)],
            cwd=work, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        load = Load(broker, args.rate, args.qos)
        samples: list[tuple[float, int]] = []
        try:
            wait_port(port, 60)
            time.sleep(1.0)
            start = time.monotonic()
            load.start()
            end = start + args.minutes * 60
            next_sample = start + min(args.warmup_s, args.minutes * 60 / 3)
            while time.monotonic() < end:
                time.sleep(max(0.0, min(next_sample, end) - time.monotonic()))
                if time.monotonic() >= next_sample:
                    rss = _common.rss_bytes(serve.pid)
                    samples.append((time.monotonic() - start, rss))
                    print(f"  t={samples[-1][0]:6.0f} s  RSS {rss / 2**20:7.1f} MiB  sent {load.sent:,}"
                          f"  written {written(port):,.0f}", flush=True)  # fmt: skip
                    next_sample += args.sample_s
            samples.append((time.monotonic() - start, _common.rss_bytes(serve.pid)))
            load.stop()
            deadline = time.monotonic() + 120
            while written(port) < load.sent and time.monotonic() < deadline:
                time.sleep(0.5)
            stored = stored_count(port)
        finally:
            if load._thread.is_alive():
                load.stop()
            serve.terminate()
            serve.wait(60)
            broker.stop()
    (t0, _), (t1, _) = samples[0], samples[-1]
    window = min(args.window_s, (t1 - t0) / 3)  # a short run: a third of what was sampled
    rss0 = max(r for t, r in samples if t <= t0 + window)
    rss1 = max(r for t, r in samples if t >= t1 - window)
    peak = max(r for _, r in samples)
    growth = (rss1 - rss0) / rss0
    rate = load.sent / (args.minutes * 60)
    print(f"soak: {args.minutes:g} min at {rate:,.0f} msg/s (QoS {args.qos}), {load.sent:,} messages, "
          f"{stored:,.0f} stored")  # fmt: skip
    print(f"  highest RSS in t={t0:.0f}-{t0 + window:.0f} s {rss0 / 2**20:.1f} MiB, in "
          f"t={t1 - window:.0f}-{t1:.0f} s {rss1 / 2**20:.1f} MiB; peak {peak / 2**20:.1f} MiB; "
          f"first sample {samples[0][1] / 2**20:.1f}, last {samples[-1][1] / 2**20:.1f} MiB")  # fmt: skip
    met = growth <= 0.10 and stored >= load.sent
    print(f"  growth {growth:+.1%} (target <= 10 %: {'met' if growth <= 0.10 else 'NOT met'}); "
          f"all stored: {stored >= load.sent}")  # fmt: skip
    _common.report(
        f"soak, {args.minutes:g} min at {rate:,.0f} msg/s through `telemetry serve` (embedded store)",
        f"RSS peak {rss0 / 2**20:.0f} → {rss1 / 2**20:.0f} MiB ({growth:+.1%}), "
        f"{stored:,.0f}/{load.sent:,} stored",
        "", "", "growth <= 10 %", met,
    )  # fmt: skip


if __name__ == "__main__":
    main()
