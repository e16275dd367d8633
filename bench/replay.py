"""Replay benchmark: a .tlog ingested by `telemetry replay` (parse, convert, pipeline, embedded
store) against pymavlink's raw ``parse_buffer`` over the same packets, in the same run.
Target: ratio ≥ 0.5 (issue 22).

    python bench/replay.py [--seconds S] [--drones N]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import _common  # puts the repo root on sys.path

from api.replay import replay
from drones.mavlink import mavutil
from telemetry.config import load_settings
from tests.tlogs import write_tlog


def packets(path: Path) -> bytes:
    """The MAVLink bytes of a .tlog without its 8-byte timestamps."""
    data = path.read_bytes()
    out = bytearray()
    i = 0
    while i + 8 < len(data):
        start = i + 8
        magic, length = data[start], data[start + 1]
        size = (12 + length + (13 if data[start + 2] & 1 else 0)) if magic == 0xFD else 8 + length
        out += data[start : start + size]
        i = start + size
    return bytes(out)


def raw_parse_rate(raw: bytes) -> tuple[float, int]:
    m = mavutil().mavlink
    mav = m.MAVLink(None)
    mav.robust_parsing = True
    start = time.perf_counter()
    n = 0
    for k in range(0, len(raw), 4096):
        msgs = mav.parse_buffer(raw[k : k + 4096])
        n += len(msgs or [])
    return n / (time.perf_counter() - start), n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=1800, help="flight seconds per drone")
    ap.add_argument("--drones", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        log = work / "fleet.tlog"
        parts = []
        total = 0
        for d in range(args.drones):
            part = work / f"d{d}.tlog"
            total += write_tlog(part, sysid=d + 1, start_s=1_795_564_800.0, seconds=args.seconds)
            parts.append(part)
        log.write_bytes(b"".join(p.read_bytes() for p in parts))
        base_rate, parsed = raw_parse_rate(packets(log))
        assert parsed == total, (parsed, total)
        settings = load_settings(
            overrides={"store": {"path": str(work / "store")}, "spool": {"path": str(work / "spool")}}
        )
        result = asyncio.run(replay(settings, log))
    ours = result.records / result.seconds
    print(f"replay: {total:,} MAVLink messages ({args.drones} drones x {args.seconds} s)", end="")
    print(f", {result.records:,} records")
    print(f"  pymavlink parse_buffer : {base_rate:10.0f} msg/s")
    print(f"  telemetry replay       : {ours:10.0f} msg/s (to the embedded store)")
    ratio = ours / base_rate
    print(
        f"  ratio                  : {ratio:10.2f}   (target >= 0.5: {'met' if ratio >= 0.5 else 'NOT met'})"
    )
    _common.report(
        f"replay, {total:,} MAVLink messages ({args.drones} drones x {args.seconds} s), embedded store",
        f"{ours / 1000:.1f}k msg/s", f"pymavlink parse_buffer {base_rate / 1000:.1f}k msg/s",
        f"{ratio:.2f}", ">= 0.5", ratio >= 0.5,
    )  # fmt: skip


if __name__ == "__main__":
    main()
