"""The embedded store: DuckDB under ``[store] path`` (see docs/decisions.md for the choice).

Layout: a ``series`` table maps each tag set to an integer id (like InfluxDB's series index);
each measurement has a typed table keyed by ``(series, time)``, which makes writes idempotent
(the same measurement, tags and time are stored once; field by field the last write wins, as in
InfluxDB);
``latest`` keeps each series' newest point for the device list; ``dead_letters`` keeps the
rejected inputs (within ``[dead_letters]`` retention). A batch is one transaction (DuckDB's WAL
makes a commit durable). DuckDB calls run on one writer thread and one reader thread so the
event loop never blocks.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import duckdb
import pyarrow as pa

from storage.deadletters import prune
from storage.embedded_write import (
    SeriesKey,
    by_measurement,
    deduplicated,
    latest_table,
    measurements,
    newest_and_oldest,
    series_ids,
    table,
)
from telemetry.errors import StoreError
from telemetry.ports import Pruned
from telemetry.queries import LatestValue, SeriesQuery, SeriesRow, validated
from telemetry.records import DeadLetter, FieldValue, Point
from telemetry.schema import MEASUREMENTS, FieldType, MeasurementSchema

log = logging.getLogger(__name__)
T = TypeVar("T")
_NEVER = -(2**63)  # before any time

_SQL_TYPE: dict[FieldType, str] = {
    "float": "DOUBLE",
    "int": "BIGINT",
    "str": "VARCHAR",
    "bool": "BOOLEAN",
}
_AGG_SQL = {"mean": "avg({f})", "max": "max({f})", "min": "min({f})", "sum": "sum({f})",
            "count": "count({f})", "last": "arg_max({f}, time)"}  # fmt: skip


def _table(m: MeasurementSchema) -> str:
    return f"m_{m.name}"


class EmbeddedStore:
    name = "embedded"

    def __init__(self, path: str | Path) -> None:
        self._dir = Path(path)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._reader: duckdb.DuckDBPyConnection | None = None
        self._wpool: ThreadPoolExecutor | None = None
        self._rpool: ThreadPoolExecutor | None = None
        self._series: dict[SeriesKey, int] = {}
        self._newest: dict[int, int] = {}  # series id -> its newest stored time (the latest table)

    # --- lifecycle --------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        self._wpool = ThreadPoolExecutor(1, thread_name_prefix="store-write")
        self._rpool = ThreadPoolExecutor(1, thread_name_prefix="store-read")
        await self._on(self._wpool, self._open)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        # Reads first: new ones are refused ("not open"), the one in flight finishes; closing the
        # connection under a running read made DuckDB refuse the close ("connection is busy").
        rpool, self._rpool = self._rpool, None
        if rpool is not None:
            await asyncio.to_thread(rpool.shutdown, wait=True)
        if self._wpool is not None:
            await self._on(self._wpool, self._close)
            self._wpool.shutdown(wait=True)
        self._wpool = None

    async def bulk_load(self) -> None:
        """For a bulk load (``telemetry replay``): DuckDB runs each statement on the calling
        thread alone (``threads = 1``, until the store closes), which took ~20 % less CPU per
        point on 2 cores, where the Python threads of the load already use them (bench/replay.py).
        Queries through this store are then single-threaded too: not for a serving store."""

        def run() -> None:
            self._writer().execute("SET threads = 1")

        await self._on(self._wpool, run)

    def _open(self) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        try:
            con = duckdb.connect(str(self._dir / "telemetry.duckdb"))
        except duckdb.Error as exc:
            raise StoreError(
                f"cannot open the embedded store in {self._dir}: {exc}", retryable=False
            ) from exc
        con.execute(
            "CREATE TABLE IF NOT EXISTS series (id INTEGER PRIMARY KEY, measurement VARCHAR NOT NULL,"
            " device VARCHAR, tags VARCHAR NOT NULL, key VARCHAR NOT NULL UNIQUE)"
        )
        con.execute(
            "CREATE TABLE IF NOT EXISTS latest (series INTEGER PRIMARY KEY, time BIGINT, fields VARCHAR)"
        )
        con.execute(
            "CREATE TABLE IF NOT EXISTS dead_letters (received_ms BIGINT, source VARCHAR, topic VARCHAR,"
            " payload BLOB, reason VARCHAR, detail VARCHAR)"
        )
        for m in MEASUREMENTS.values():
            cols = ", ".join(f'"{f}" {_SQL_TYPE[t]}' for f, t in m.fields.items())
            con.execute(
                f"CREATE TABLE IF NOT EXISTS {_table(m)} (series INTEGER NOT NULL, time BIGINT NOT NULL,"
                f" {cols}, PRIMARY KEY (series, time))"
            )
            for f, t in m.fields.items():  # a store made before a field was added to the schema
                con.execute(f'ALTER TABLE {_table(m)} ADD COLUMN IF NOT EXISTS "{f}" {_SQL_TYPE[t]}')
        self._series = {
            (m, tuple(sorted(json.loads(tags).items()))): sid
            for sid, m, tags in con.execute("SELECT id, measurement, tags FROM series").fetchall()
        }
        self._newest = dict(con.execute("SELECT series, time FROM latest").fetchall())
        self._con = con
        self._reader = con.cursor()

    def _close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        if self._con is not None:
            self._con.execute("CHECKPOINT")
            self._con.close()
        self._con = self._reader = None

    async def _on(self, pool: ThreadPoolExecutor | None, fn: Callable[[], T]) -> T:
        if pool is None:
            raise StoreError("the embedded store is not open", retryable=False)
        return await asyncio.get_running_loop().run_in_executor(pool, fn)

    def _writer(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise StoreError("the embedded store is not open", retryable=False)
        return self._con

    # --- writes -----------------------------------------------------------------------------
    async def write(self, points: Sequence[Point]) -> None:
        if points:
            await self._on(self._wpool, lambda: self._write_sync(points))

    def _write_sync(self, points: Sequence[Point], upsert: bool = False) -> None:
        con = self._writer()
        ms = measurements(points)
        added: list[SeriesKey] = []  # new series of this batch: taken out again if it fails
        plain = False
        try:
            con.begin()
            new_rows: list[tuple[int, str, str | None, str, str]] = []
            ids = series_ids(self._series, points, added, new_rows)
            if new_rows:
                con.executemany("INSERT INTO series VALUES (?, ?, ?, ?, ?)", new_rows)
            # Last write wins inside a batch too (one row per key per statement).
            ids, points, times = deduplicated(ids, points)
            newest, oldest = newest_and_oldest(ids, times)
            # Every point newer than its series' stored ones (the usual case): nothing to merge
            # with, a plain INSERT (half the cost of the upsert); a conflict after all: upsert.
            stored = self._newest
            plain = not upsert and all(times[i] > stored.get(sid, _NEVER) for sid, i in oldest.items())
            for m, m_ids, m_points, m_times in by_measurement(ms, ids, points, times):
                self._insert(con, m, table(m, m_ids, m_points, m_times), plain)
            con.register("_latest_in", latest_table(newest, points, times))
            con.execute(
                "INSERT INTO latest SELECT * FROM _latest_in ON CONFLICT (series) DO UPDATE"
                " SET time = excluded.time, fields = excluded.fields WHERE excluded.time >= latest.time"
            )
            con.unregister("_latest_in")
            con.commit()
        except BaseException as exc:  # any failure: undo the whole batch, then report it
            for key in added:
                del self._series[key]
            with _suppress_duck():
                con.rollback()
            if plain and isinstance(exc, duckdb.ConstraintException):
                return self._write_sync(points, upsert=True)  # a stored row the cache missed
            if isinstance(exc, duckdb.Error):
                raise _map_error(exc) from exc
            raise
        for sid, i in newest.items():
            if times[i] > stored.get(sid, _NEVER):
                stored[sid] = times[i]
        return None

    def _insert(
        self, con: duckdb.DuckDBPyConnection, m: MeasurementSchema, rows: pa.Table, plain: bool
    ) -> None:
        con.register("_batch_in", rows)
        insert = f"INSERT INTO {_table(m)} SELECT * FROM _batch_in"
        if plain:
            con.execute(insert)
        else:
            # Field-level last write wins, as InfluxDB: a field the new point lacks keeps its value.
            merge = ", ".join(f'"{f}" = COALESCE(excluded."{f}", {_table(m)}."{f}")' for f in m.fields)
            con.execute(f"{insert} ON CONFLICT (series, time) DO UPDATE SET {merge}")
        con.unregister("_batch_in")

    async def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        if not letters:
            return
        rows = [(d.received_ms, d.source, d.topic, d.payload, d.reason, d.detail) for d in letters]

        def run() -> None:
            try:
                self._writer().executemany("INSERT INTO dead_letters VALUES (?, ?, ?, ?, ?, ?)", rows)
            except duckdb.Error as exc:
                raise _map_error(exc) from exc

        await self._on(self._wpool, run)

    async def prune_dead_letters(self, older_than_ms: int, max_bytes: int) -> Pruned:
        def run() -> Pruned:
            try:
                return prune(self._writer(), older_than_ms, max_bytes, "octet_length")
            except duckdb.Error as exc:
                raise _map_error(exc) from exc

        return await self._on(self._wpool, run)

    # --- reads ------------------------------------------------------------------------------
    async def _read(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        def run() -> list[tuple[Any, ...]]:
            if self._reader is None:
                raise StoreError("the embedded store is not open", retryable=False)
            try:
                return self._reader.execute(sql, params).fetchall()
            except duckdb.Error as exc:
                raise _map_error(exc) from exc

        return await self._on(self._rpool, run)

    async def query_series(self, query: SeriesQuery) -> list[SeriesRow]:
        m, fields = validated(query)
        where = ["s.measurement = ?"]
        params: list[Any] = [m.name]
        if query.device is not None:
            where.append("s.device = ?")
            params.append(query.device)
        if query.start_ms is not None:
            where.append("t.time >= ?")
            params.append(query.start_ms)
        if query.stop_ms is not None:
            where.append("t.time < ?")
            params.append(query.stop_ms)
        for k, v in query.tags:
            where.append("json_extract_string(s.tags, ?) = ?")
            params += [f"$.{k}", v]
        if query.above is not None:
            where.append(f't."{fields[0]}" > ?')
            params.append(query.above)
        source = f"{_table(m)} t JOIN series s ON s.id = t.series WHERE {' AND '.join(where)}"
        if query.fn is None:
            select = ", ".join(f't."{f}"' for f in fields)
            sql = f"SELECT t.time, {select} FROM {source} ORDER BY t.time LIMIT {int(query.limit)}"
        else:
            exprs = []
            for f in fields:
                kind = m.fields[f]
                col = f't."{f}"' if kind != "bool" else f'CAST(t."{f}" AS DOUBLE)'
                exprs.append(_AGG_SQL[query.fn].format(f=col).replace("time)", "t.time)"))
            every = int(query.every_ms) if query.every_ms else None
            # floored to the window (SQL's // truncates: before 1970 a point fell into the next one)
            bucket = f"(t.time - ((t.time % {every}) + {every}) % {every})" if every else "min(t.time)"
            group = "GROUP BY 1 ORDER BY 1" if every else ""
            sql = f"SELECT {bucket}, {', '.join(exprs)} FROM {source} {group} LIMIT {int(query.limit)}"
        rows = await self._read(sql, params)
        return [
            SeriesRow(int(r[0]), tuple(zip(fields, (_plain(v) for v in r[1:]), strict=True)))
            for r in rows
            if r[0] is not None
        ]

    async def latest(self, measurement: str) -> list[LatestValue]:
        rows = await self._read(
            "SELECT s.device, l.time, s.tags, l.fields FROM latest l JOIN series s ON s.id = l.series"
            " WHERE s.measurement = ? ORDER BY s.device, l.time",
            [measurement],
        )
        return [
            LatestValue(
                measurement,
                device or "",
                int(t),
                tuple(sorted(json.loads(tags).items())),
                tuple(json.loads(fields).items()),
            )
            for device, t, tags, fields in rows
        ]

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        rows = await self._read(
            "SELECT received_ms, source, topic, payload, reason, detail FROM dead_letters"
            " ORDER BY received_ms DESC LIMIT ?",
            [limit],
        )
        return [DeadLetter(int(r[0]), r[1], r[2], bytes(r[3]), r[4], r[5]) for r in rows]

    async def ping(self) -> None:
        await self._read("SELECT 1", [])


def _plain(v: object) -> FieldValue | None:
    if v is None or isinstance(v, bool | int | float | str):
        return v
    return float(v)  # type: ignore[arg-type]  # DuckDB decimals from sum/avg


def _map_error(exc: duckdb.Error) -> StoreError:
    # Constraint and conversion errors will fail again; I/O and transaction conflicts may not.
    retryable = isinstance(exc, duckdb.IOException | duckdb.TransactionException)
    return StoreError(f"embedded store: {exc}", retryable=retryable)


class _suppress_duck:  # noqa: N801 - used as a statement, like contextlib.suppress
    def __enter__(self) -> None:
        return None

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: object) -> bool:
        return et is not None and issubclass(et, duckdb.Error)
