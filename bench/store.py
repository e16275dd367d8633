"""Embedded-store benchmark: batched writes (points/s) and an hourly aggregation over the
points of one device, for our DuckDB store and, as the baseline measured in the same run, SQLite
(WAL, ``executemany`` of 5,000, primary key (series, time) for idempotency, covering index).
Targets: ≥ 200k points/s written in batches; hourly aggregation over 10M points of one device in
≤ 1 s.

A second case is the write path of live ingest and replay (issue 22): 100k ``drone_state`` points
(1-6 fields each, as ``DroneState.to_point`` gives them, 3 drones) and 100k gauge points (50
gauges, a battery reading on every tenth), in batches of 2,000, against SQLite doing the same
(a typed table per measurement, an upsert merging field by field, ``executemany``).

    python bench/store.py [--points N] [--mixed-points N]
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
from telemetry.records import DroneState, GaugeReading, Point
from telemetry.schema import MEASUREMENTS

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


MIXED_BATCH = 2_000


def mixed_points(n: int) -> list[Point]:
    """n drone_state points of 3 drones (the five kinds of MAVLink message, 1-6 fields), then n
    gauge points of 50 gauges."""
    kinds = (
        lambda d, t, i: DroneState(d, t, lat=29.8 + i * 1e-6, lon=121.5, alt_msl_m=30.0, alt_rel_m=20.0,
                                   groundspeed_ms=5.0, heading_deg=float(i % 360)),
        lambda d, t, i: DroneState(d, t, battery_pct=80.0 - i * 1e-4, voltage_v=12.1),
        lambda d, t, i: DroneState(d, t, mode="AUTO", armed=True, autopilot="px4"),
        lambda d, t, i: DroneState(d, t, mission_seq=i % 20, mission_state=3),
        lambda d, t, i: DroneState(d, t, gps_fix=3, satellites=12),
    )  # fmt: skip
    drones = [kinds[i % 5](i % 3 + 1, T0 + i * 10, i).to_point() for i in range(n)]
    gauges = [
        GaugeReading(f"G{i % 50:02d}", "haishu", T0 + i * 100, (i % 400) / 10, road="r",
                     battery_v=3.7 if i % 10 == 0 else None).to_point()
        for i in range(n)
    ]  # fmt: skip
    return drones + gauges


async def ours_mixed(work: Path, data: list[list[Point]]) -> float:
    async with EmbeddedStore(work / "duck_mixed") as store:
        start = time.perf_counter()
        for b in data:
            await store.write(b)
        return sum(map(len, data)) / (time.perf_counter() - start)


def sqlite_mixed(work: Path, data: list[list[Point]]) -> float:
    """The same points into SQLite: per measurement a typed table and an upsert that merges field
    by field (COALESCE), the rows built from each point's fields (series ids from a dict)."""
    con = sqlite3.connect(work / "baseline_mixed.sqlite")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    sql = {}
    for name in ("drone_state", "water_depth"):
        fields = list(MEASUREMENTS[name].fields)
        cols = ", ".join(f'"{f}"' for f in fields)
        con.execute(f"CREATE TABLE {name} (series INTEGER, time INTEGER, {cols}, PRIMARY KEY (series, time))")
        merge = ", ".join(f'"{f}" = COALESCE(excluded."{f}", "{f}")' for f in fields)
        marks = ", ".join("?" * (len(fields) + 2))
        upsert = f"INSERT INTO {name} VALUES ({marks}) ON CONFLICT DO UPDATE SET {merge}"  # noqa: S608 - schema names
        sql[name] = (fields, upsert)
    series: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
    start = time.perf_counter()
    for b in data:
        rows: dict[str, list[tuple[object, ...]]] = {}
        for p in b:
            sid = series.setdefault((p.measurement, p.tags), len(series) + 1)
            values = dict(p.fields)
            fields = sql[p.measurement][0]
            rows.setdefault(p.measurement, []).append((sid, p.time_ms, *map(values.get, fields)))
        for name, r in rows.items():
            con.executemany(sql[name][1], r)
        con.commit()
    rate = sum(map(len, data)) / (time.perf_counter() - start)
    con.close()
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=10_000_000)
    ap.add_argument("--mixed-points", type=int, default=100_000, help="drone and gauge points each")
    args = ap.parse_args()
    n = args.points - args.points % BATCH
    data = batches(n)
    mixed = mixed_points(args.mixed_points)
    mixed_data = [mixed[i : i + MIXED_BATCH] for i in range(0, len(mixed), MIXED_BATCH)]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        w_ours, a_ours, rows = asyncio.run(ours(work, data, n))
        w_base, a_base, rows_base = sqlite_baseline(work, data, n)
        m_ours = asyncio.run(ours_mixed(work, mixed_data))
        m_base = sqlite_mixed(work, mixed_data)
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
    print(f"embedded store: {args.mixed_points:,} drone_state + {args.mixed_points:,} gauge points,"
          f" batches of {MIXED_BATCH:,}")  # fmt: skip
    print(f"  write   ours (DuckDB) {m_ours:12,.0f} pts/s | SQLite baseline {m_base:12,.0f} pts/s", end="")
    print(f" | ratio {m_ours / m_base:5.2f}")
    _common.report(
        f"store write, {args.mixed_points / 1000:g}k drone_state + {args.mixed_points / 1000:g}k gauge points"
        f" in batches of {MIXED_BATCH:,}", f"{m_ours / 1000:.0f}k points/s",
        f"SQLite upsert executemany {m_base / 1000:.0f}k points/s", f"{m_ours / m_base:.2f}",
        ">= 200k points/s", m_ours >= 200_000,
    )  # fmt: skip
    _common.report(
        f"store hourly mean over {n / 1e6:g}M points of one device", f"{a_ours:.3f} s",
        f"SQLite with its index {a_base:.2f} s", f"{a_base / a_ours:.0f}x faster", "<= 1 s", a_ours <= 1,
    )  # fmt: skip


if __name__ == "__main__":
    main()
