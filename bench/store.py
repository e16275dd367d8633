"""Embedded-store benchmark: batched writes (points/s) and an hourly aggregation over the
points of one device, for our DuckDB store and, as the baseline measured in the same run, SQLite
(WAL, ``executemany`` of 5,000, primary key (series, time) for idempotency, covering index).
Targets: ≥ 200k points/s written in batches; hourly aggregation over 10M points of one device in
≤ 1 s.

    python bench/store.py [--points N]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path

import _common  # puts the repo root on sys.path

from storage.embedded import EmbeddedStore
from telemetry.queries import SeriesQuery
from telemetry.records import Point

T0 = 1_700_000_000_000
BATCH = 5_000
TAGS = (("district", "haishu"), ("gauge", "G01"), ("road", "环城西路"))


def batches(n: int) -> list[list[Point]]:
    """n points of one gauge at 1 s spacing, in batches of 5,000 (built before timing)."""
    pts = [Point("water_depth", TAGS, (("depth_cm", float(i % 500) / 10),), T0 + i * 1000) for i in range(n)]
    return [pts[i : i + BATCH] for i in range(0, n, BATCH)]


async def ours(work: Path, data: list[list[Point]], n: int) -> tuple[float, float, int]:
    async with EmbeddedStore(work / "duck") as store:
        start = time.perf_counter()
        for b in data:
            await store.write(b)
        write_rate = n / (time.perf_counter() - start)
        q = SeriesQuery("water_depth", ("depth_cm",), "G01", T0, T0 + n * 1000, every_ms=3_600_000, fn="mean")
        start = time.perf_counter()
        rows = await store.query_series(q)
        agg_s = time.perf_counter() - start
    return write_rate, agg_s, len(rows)


def sqlite_baseline(work: Path, data: list[list[Point]], n: int) -> tuple[float, float, int]:
    con = sqlite3.connect(work / "baseline.sqlite")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute(
        "CREATE TABLE water_depth (series INTEGER, time INTEGER, depth_cm REAL, battery_v REAL,"
        " PRIMARY KEY (series, time)) WITHOUT ROWID"
    )
    start = time.perf_counter()
    for b in data:
        con.executemany(
            "INSERT OR REPLACE INTO water_depth VALUES (1, ?, ?, NULL)",
            [(p.time_ms, p.fields[0][1]) for p in b],
        )
        con.commit()
    write_rate = n / (time.perf_counter() - start)
    start = time.perf_counter()
    rows = con.execute(
        "SELECT time / 3600000, avg(depth_cm) FROM water_depth WHERE series = 1 AND time >= ? AND time < ?"
        " GROUP BY 1 ORDER BY 1",
        (T0, T0 + n * 1000),
    ).fetchall()
    agg_s = time.perf_counter() - start
    con.close()
    return write_rate, agg_s, len(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=10_000_000)
    args = ap.parse_args()
    n = args.points - args.points % BATCH
    data = batches(n)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        w_ours, a_ours, rows = asyncio.run(ours(work, data, n))
        w_base, a_base, rows_base = sqlite_baseline(work, data, n)
    assert rows == rows_base, (rows, rows_base)
    print(f"embedded store: {n:,} points of one device, batches of {BATCH:,}, {rows} hourly windows")
    print(f"  write   ours (DuckDB) {w_ours:12,.0f} pts/s | SQLite baseline {w_base:12,.0f} pts/s", end="")
    print(f" | ratio {w_ours / w_base:5.2f}")
    print(f"  hourly  ours (DuckDB) {a_ours:12.3f} s     | SQLite baseline {a_base:12.3f} s", end="")
    print(f"     | speed-up {a_base / a_ours:5.1f}x")
    print(f"  targets: write >= 200,000 pts/s: {'met' if w_ours >= 200_000 else 'NOT met'}; "
          f"aggregation <= 1 s: {'met' if a_ours <= 1 else 'NOT met'}")  # fmt: skip
    _common.report(
        f"store write, {n / 1e6:g}M points in batches of {BATCH:,}", f"{w_ours / 1000:.0f}k points/s",
        f"SQLite executemany {w_base / 1000:.0f}k points/s", f"{w_ours / w_base:.2f}", ">= 200k points/s",
        w_ours >= 200_000,
    )  # fmt: skip
    _common.report(
        f"store hourly mean over {n / 1e6:g}M points of one device", f"{a_ours:.3f} s",
        f"SQLite with its index {a_base:.2f} s", f"{a_base / a_ours:.0f}x faster", "<= 1 s", a_ours <= 1,
    )  # fmt: skip


if __name__ == "__main__":
    main()
