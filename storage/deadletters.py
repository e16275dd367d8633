"""The dead-letter store of the InfluxDB backends: a local SQLite file (InfluxDB cannot hold a
raw payload of up to 8 MiB in a field). The embedded store keeps its dead letters itself, and
shares the retention statements (:func:`prune`) with this file.

Retention deletes rows; neither SQLite nor DuckDB shrinks its file, but both reuse the freed
pages, so the file stops growing at about the cap."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from telemetry.errors import StoreError
from telemetry.ports import Pruned
from telemetry.records import DeadLetter


class _Cursor(Protocol):
    def fetchall(self) -> list[Any]: ...


class _Connection(Protocol):  # what sqlite3 and duckdb connections share
    def execute(self, sql: str, parameters: Sequence[Any], /) -> _Cursor: ...


def prune(con: _Connection, older_than_ms: int, max_bytes: int, length: str = "length") -> Pruned:
    """Delete the letters received before ``older_than_ms``, then the oldest (by receive time)
    until the raw payloads of those left total at most ``max_bytes``. ``length`` is the SQL
    function giving a BLOB's size in bytes (SQLite ``length``, DuckDB ``octet_length``)."""
    if length not in ("length", "octet_length"):
        raise ValueError(f"not a length function: {length!r}")
    by_age = con.execute(
        "DELETE FROM dead_letters WHERE received_ms < ? RETURNING received_ms", [older_than_ms]
    ).fetchall()
    kept = f"sum({length}(payload)) OVER (ORDER BY received_ms DESC, rowid DESC ROWS UNBOUNDED PRECEDING)"
    newest_first = f"SELECT rowid, {kept} AS kept FROM dead_letters"  # noqa: S608 - names checked above
    over = f"SELECT rowid FROM ({newest_first}) WHERE kept > ?"  # noqa: S608
    over = f"DELETE FROM dead_letters WHERE rowid IN ({over})"  # noqa: S608
    by_size = con.execute(f"{over} RETURNING received_ms", [max_bytes]).fetchall()
    return Pruned(len(by_age), len(by_size))


class DeadLetterFile:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._con: sqlite3.Connection | None = None
        self._pool: ThreadPoolExecutor | None = None

    async def open(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="dead-letters")
        await asyncio.get_running_loop().run_in_executor(self._pool, self._open)

    def _open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self._path, check_same_thread=False)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute(
            "CREATE TABLE IF NOT EXISTS dead_letters (received_ms INTEGER, source TEXT, topic TEXT,"
            " payload BLOB, reason TEXT, detail TEXT)"
        )
        con.execute("CREATE INDEX IF NOT EXISTS dead_letters_received ON dead_letters (received_ms)")
        self._con = con

    async def close(self) -> None:
        if self._pool is not None:
            await asyncio.get_running_loop().run_in_executor(self._pool, self._close)
            self._pool.shutdown(wait=True)
            self._pool = None

    def _close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def _connection(self) -> sqlite3.Connection:
        if self._con is None:
            raise StoreError("the dead-letter file is not open", retryable=False)
        return self._con

    async def write(self, letters: Sequence[DeadLetter]) -> None:
        rows = [(d.received_ms, d.source, d.topic, d.payload, d.reason, d.detail) for d in letters]

        def run() -> None:
            con = self._connection()
            try:
                with con:
                    con.executemany("INSERT INTO dead_letters VALUES (?, ?, ?, ?, ?, ?)", rows)
            except sqlite3.Error as exc:
                raise StoreError(f"dead-letter file {self._path}: {exc}", retryable=True) from exc

        await asyncio.get_running_loop().run_in_executor(self._pool, run)

    async def newest(self, limit: int) -> list[DeadLetter]:
        def run() -> list[DeadLetter]:
            rows = self._connection().execute(
                "SELECT received_ms, source, topic, payload, reason, detail FROM dead_letters"
                " ORDER BY rowid DESC LIMIT ?",
                (limit,),
            )
            return [DeadLetter(int(r[0]), r[1], r[2], bytes(r[3]), r[4], r[5]) for r in rows]

        return await asyncio.get_running_loop().run_in_executor(self._pool, run)

    async def prune(self, older_than_ms: int, max_bytes: int) -> Pruned:
        def run() -> Pruned:
            con = self._connection()
            try:
                with con:
                    return prune(con, older_than_ms, max_bytes)
            except sqlite3.Error as exc:
                raise StoreError(f"dead-letter file {self._path}: {exc}", retryable=True) from exc

        return await asyncio.get_running_loop().run_in_executor(self._pool, run)
