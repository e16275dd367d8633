"""Runs every benchmark of bench/ (what `make bench` does), collects the `BENCH {json}` line each
prints, and writes the table to bench/results.md (benchmark | ours | baseline | ratio | target |
met?). Every baseline is measured in the same run as its figure. A benchmark that fails is
listed as failed; the exit status is then 1.

    python bench/run_all.py [--out bench/results.md] [--only NAME[,NAME]]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import _common

BENCH = Path(__file__).resolve().parent
# (short name, arguments after `python`): the figures docs/benchmarks.md quotes.
SUITE: list[tuple[str, list[str]]] = [
    ("ingest-qos0", ["bench/ingest.py", "--profile"]),
    ("ingest-qos1", ["bench/ingest.py", "--qos", "1", "--messages", "50000"]),
    ("ingest-influxdb1", ["bench/ingest.py", "--store", "influxdb1"]),
    ("workers", ["bench/workers.py"]),
    ("derivations", ["bench/derivations.py"]),
    ("paho-paths", ["bench/paho_paths.py"]),
    ("replay", ["bench/replay.py"]),
    ("flood-latency", ["bench/flood_latency.py"]),
    ("compliance", ["bench/compliance.py"]),
    ("mission-planning", ["bench/mission_planning.py"]),
    ("store", ["bench/store.py"]),
    ("audit", ["bench/audit.py"]),
]
HEADER = ("benchmark", "ours", "baseline", "ratio", "target", "met?")


PROFILES: list[dict[str, object]] = []  # the `PROFILE {json}` lines (bench/ingest.py --profile)


def run(args: list[str]) -> tuple[list[dict[str, object]], int, float]:
    """Run one benchmark with its output shown as it comes; its BENCH rows, exit status, seconds."""
    env = {**os.environ, "PATH": f"/usr/sbin:{os.environ.get('PATH', '')}", "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, *args], cwd=_common.ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    rows = []
    assert proc.stdout is not None
    for line in proc.stdout:
        print(line, end="", flush=True)
        if line.startswith("BENCH "):
            rows.append(json.loads(line[len("BENCH ") :]))
        elif line.startswith("PROFILE "):
            PROFILES.append(json.loads(line[len("PROFILE ") :]))
    return rows, proc.wait(), time.monotonic() - started


def machine() -> str:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor() or "unknown CPU",
    )  # fmt: skip
    load = os.getloadavg()[0]
    return (
        f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}, load {load:.1f} at the start"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(BENCH / "results.md"))
    ap.add_argument("--only", help="comma-separated short names: " + ", ".join(n for n, _ in SUITE))
    args = ap.parse_args()
    wanted = set(args.only.split(",")) if args.only else {n for n, _ in SUITE}
    started = datetime.now(UTC)
    where = machine()
    table: list[tuple[str, ...]] = []
    failed = []
    total = 0.0
    for name, cmd in SUITE:
        if name not in wanted:
            continue
        print(f"\n=== {name}: python {' '.join(cmd)}", flush=True)
        rows, status, seconds = run(cmd)
        total += seconds
        if status != 0 or not rows:
            failed.append(name)
            table.append((f"`{' '.join(cmd)}`", "failed", "", "", "", f"exit {status}"))
        for r in rows:
            met = "yes" if r["met"] else "**no**"
            table.append(
                (str(r["name"]), str(r["ours"]), str(r["baseline"]), str(r["ratio"]), str(r["target"]), met)
            )
    text = (
        "# Benchmark results\n\n"
        f"Written by `make bench` (`bench/run_all.py`) on {started:%Y-%m-%d %H:%M} UTC "
        f"in {total / 60:.0f} min; "
        f"{where}. Each baseline is measured in the same run as the figure next to it; the "
        "ratio is ours / baseline unless it says otherwise.\n\n" + _common.table(table, HEADER) + "\n"
    )
    if PROFILES:
        rows = [
            (str(p["benchmark"]), f"`{p['function']}`", f"{float(str(p['share'])):.1%}") for p in PROFILES
        ]
        text += (
            "\nProfile of the service phase (py-spy, 200 Hz, samples of the thread holding the GIL; "
            "own time of each function, top five):\n\n"
            + _common.table(rows, ("benchmark", "function", "share of samples"))
            + "\n"
        )
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"\n{text}\nwritten to {args.out}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
