"""Audit benchmark (issue 17): (a) appends per second of the hash-chained audit log
(``AuditLog.record``: canonical JSON, SHA-256, one fsynced O_APPEND write per record, a signed
checkpoint every 100) against a plain ``f.write(line); f.flush(); os.fsync()`` of the same record
lines (and the same without fsync), taking turns in chunks in the same run; (b) the ingest rate
with auditing on and off: bench/ingest.py's service run (gauge messages through real Mosquitto
into the embedded store; the gauges' flood alerts are audited) with the real audit log, and with
one that records nothing, in adjacent (off, on) pairs after a warm-up run. Ratios are medians of
the pairs, which resist a machine busy with other work. Targets: appends ≥ 0.5 × the fsynced
plain write (the same fsync, plus hashing and checkpoints); ingest with auditing ≥ 0.9 × without
(auditing records decisions, never readings: it must not touch the hot path).

    python bench/audit.py [--records N] [--messages N] [--rounds R] [--publishers P]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import _common  # puts the repo root on sys.path
import ingest

import api.runtime
from api.audit import open_audit
from telemetry.audit.chain import GENESIS, make_record
from telemetry.audit.log import AuditLog
from telemetry.config import Settings
from tests.servers import Mosquitto

T0 = 1_795_564_800_000
Item = tuple[str, str, str, dict[str, object]]  # actor, action, subject, data


def records(n: int) -> list[Item]:
    """What the service records most: alert transitions (actor, action, subject, data)."""
    out: list[Item] = []
    for i in range(n):
        gauge, level = f"G{i % 50:02d}", ("yellow", "red", "green")[i % 3]
        data: dict[str, object] = {
            "gauge": gauge, "level": level, "depth_cm": 12.5 + i % 30, "rise_cm_per_10min": 1.5,
            "since": T0 + i, "reason": "depth above the threshold", "alert_id": f"a{i}",
        }  # fmt: skip
        out.append(("service", "alert", f"alert/flood/{gauge}", data))
    return out


def lines_of(items: list[Item]) -> list[str]:
    """The same records as the plain baselines write them (made beforehand: only writes are timed)."""
    prev, lines = GENESIS, []
    for seq, (actor, action, subject, data) in enumerate(items):
        rec = make_record(seq, T0 + seq, actor, action, subject, data, prev)
        prev = rec["hash"]
        lines.append(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
    return lines


def append_rates(work: Path, items: list[Item], chunks: int = 20) -> tuple[float, float, float, float]:
    """Records a second of the audit log, of plain write+flush+fsync and of plain write+flush,
    and the median over chunks of (audit log / fsynced plain). The three take turns chunk by
    chunk and the ratio is paired per chunk, so that a disk busy with other work weighs on both."""
    lines = lines_of(items)
    took = [0.0, 0.0, 0.0]
    ratios = []
    size = max(1, len(items) // chunks)
    log = AuditLog(work / "audit.jsonl", work / "audit.key", checkpoint_every=100).open()
    try:
        with (work / "fsync.jsonl").open("a") as synced, (work / "plain.jsonl").open("a") as plain:
            for lo in range(0, len(items), size):
                start = time.perf_counter()
                for actor, action, subject, data in items[lo : lo + size]:
                    log.record(actor, action, subject, data)
                chunk = [time.perf_counter() - start]
                for f, fsync in ((synced, True), (plain, False)):
                    start = time.perf_counter()
                    for line in lines[lo : lo + size]:
                        f.write(line)
                        f.flush()
                        if fsync:
                            os.fsync(f.fileno())
                    chunk.append(time.perf_counter() - start)
                took = [t + c for t, c in zip(took, chunk, strict=True)]
                ratios.append(chunk[1] / chunk[0])
    finally:
        log.close()
    ours, fsynced, flushed = (len(items) / t for t in took)
    return ours, fsynced, flushed, statistics.median(ratios)


class Unaudited(AuditLog):
    """The service's audit log with auditing off: records nothing, opens nothing."""

    def open(self) -> AuditLog:
        return self

    def record(self, actor: str, action: str, subject: str, data: Mapping[str, object]) -> None:
        return None

    def checkpoint(self) -> None:
        return None

    def close(self) -> None:
        return None


def counting(real: AuditLog, calls: list[int]) -> AuditLog:
    inner = real.record

    def record(actor: str, action: str, subject: str, data: Mapping[str, object]) -> None:
        calls[0] += 1
        inner(actor, action, subject, data)

    real.record = record  # type: ignore[method-assign]
    return real


def gauge_inputs(work: Path, n: int, publishers: int) -> list[tuple[str, Path]]:
    """One file of JSON lines per publisher, each its own gauge, readings 100 ms apart ending now,
    the depth rising from 0 to 40 cm and falling back every 800 readings: each gauge turns
    yellow and red, and back, again and again (the audited alert transitions)."""
    out, per, end = [], n // publishers, int(time.time() * 1000)
    for p in range(publishers):
        path = work / f"in{p}.jsonl"
        with path.open("w") as f:
            for i in range(per):
                depth = abs(i % 800 - 400) / 10
                f.write(json.dumps({"ts": end - (per - i) * 100, "depth_cm": depth, "seq": i}) + "\n")
        out.append((f"{ingest.ROOT}/gauge/B{p:02d}/telemetry", path))
    return out


def ingest_rates(
    work: Path, messages: int, rounds: int, publishers: int
) -> tuple[list[float], list[float], int]:
    """Service ingest rates (msg/s) with the real audit log and without, alternated; and how
    many records the audited runs made on average."""
    inputs = gauge_inputs(work, messages, publishers)
    broker = Mosquitto(work / "mosquitto", persistence=False)
    broker.start()
    real_open = open_audit
    on: list[float] = []
    off: list[float] = []
    calls = [0]
    try:
        # a first run warms up (imports, caches); then off, on, on, off, off, on, ...
        order = [None] + [(r % 4 in (1, 2)) for r in range(2 * rounds)]
        for r, audited in enumerate(order):
            run = work / f"run{r}"

            def opener(s: Settings, audited: bool | None = audited, run: Path = run) -> AuditLog:
                if audited:
                    return counting(real_open(s), calls)
                return Unaudited(run / "none", run / "none.key")

            api.runtime.open_audit = opener  # type: ignore[attr-defined,assignment]  # what serve opens
            rate = asyncio.run(ingest.service(broker, inputs, messages, 0, run, None))
            if audited is not None:
                (on if audited else off).append(rate)
    finally:
        api.runtime.open_audit = real_open  # type: ignore[attr-defined]
        broker.stop()
    return on, off, calls[0] // rounds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--messages", type=int, default=50_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--publishers", type=int, default=10)
    args = ap.parse_args()
    items = records(args.records)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ours, synced, flushed, ratio = append_rates(work, items)
        n = args.messages - args.messages % args.publishers
        on, off, made = ingest_rates(work, n, args.rounds, args.publishers)
    with_audit, without = statistics.median(on), statistics.median(off)
    # runs come in adjacent (off, on) pairs: the paired ratio's median resists a busy machine
    ingest_ratio = statistics.median(a / b for a, b in zip(on, off, strict=True))
    print(f"audit appends: {args.records} alert records")
    print(f"  AuditLog.record (fsync, hash, checkpoints) : {ours:10.0f} records/s")
    print(f"  plain write + flush + fsync                : {synced:10.0f} records/s")
    print(f"  ratio (median of paired chunks)            : {ratio:10.2f}")
    print(f"  plain write + flush (no fsync)             : {flushed:10.0f} records/s")
    print(f"ingest: {args.messages} gauge messages, QoS 0, {args.publishers} gauges, embedded store,", end="")
    print(f" {args.rounds} rounds each after a warm-up")
    print(f"  auditing on  : {', '.join(f'{x:.0f}' for x in on)} msg/s ({made} audit records a run)")
    print(f"  auditing off : {', '.join(f'{x:.0f}' for x in off)} msg/s")
    print(f"  ratio (median of adjacent pairs) : {ingest_ratio:.2f}")
    _common.report(
        f"audit appends ({args.records} records, each fsynced)", f"{ours:.0f} records/s",
        f"plain write+fsync {synced:.0f}/s (no fsync {flushed:.0f}/s)",
        f"{ratio:.2f} (median of paired chunks)", ">= 0.5", ratio >= 0.5,
    )  # fmt: skip
    _common.report(
        f"ingest with auditing on ({made} audit records a run), {args.messages // 1000}k gauge messages",
        f"{with_audit / 1000:.1f}k msg/s (median)", f"auditing off {without / 1000:.1f}k msg/s (median)",
        f"{ingest_ratio:.2f} (median of {args.rounds} adjacent pairs)",
        ">= 0.9", ingest_ratio >= 0.9,
    )  # fmt: skip


if __name__ == "__main__":
    main()
