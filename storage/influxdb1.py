"""InfluxDB 1.x over its HTTP API: ``/ping``, ``/write`` (precision ms, gzip), ``/query``
(InfluxQL). InfluxDB 2.x and 3.x serve the same v1 API, so this backend also talks to them
(database = bucket, token as password).

Errors are classified at this boundary: network errors, timeouts, 429 and 5xx (and 401/403/404,
which an operator can fix without losing data) are retryable, honouring Retry-After; a 400 (or
413) is the data's fault and not retryable, so the pipeline splits the batch to isolate the bad
points. Dead letters go to a local SQLite file (:mod:`storage.deadletters`).
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from storage.deadletters import DeadLetterFile
from storage.fieldtypes import typed as _typed
from storage.lineprotocol import encode_batch
from storage.retry_after import retry_after_s
from telemetry.errors import QueryError, StoreError
from telemetry.ports import Pruned
from telemetry.queries import LatestValue, SeriesQuery, SeriesRow, validated
from telemetry.records import DeadLetter, Point
from telemetry.schema import MEASUREMENTS

log = logging.getLogger(__name__)

_INFLUXQL_FN = {"mean": "MEAN", "max": "MAX", "min": "MIN", "sum": "SUM", "count": "COUNT", "last": "LAST"}
_NOT_RETRYABLE = (400, 413)


def _ident(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _server_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    return (
        str(body.get("error") or body.get("message") or body)[:500] if isinstance(body, dict) else str(body)
    )


class InfluxDB1Store:
    name = "influxdb1"

    def __init__(
        self,
        url: str,
        database: str,
        dead_letters: Path,
        *,
        username: str = "",
        password: str = "",
        retention_policy: str = "",
        timeout_s: float = 10.0,
    ) -> None:
        self._url = url.rstrip("/")
        self._db = database
        self._rp = retention_policy
        self._auth = (username, password) if username else None
        self._timeout = timeout_s
        self._client: httpx.AsyncClient | None = None
        self._letters = DeadLetterFile(dead_letters)
        self._db_ready = False

    async def __aenter__(self) -> Self:
        self._client = httpx.AsyncClient(base_url=self._url, timeout=self._timeout, auth=self._auth)
        await self._letters.open()
        try:
            await self._ensure_database()
        except StoreError as exc:  # not fatal: writes retry and spool until it answers
            log.warning("InfluxDB at %s not ready at start-up: %s", self._url, exc)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        await self._letters.close()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self._client is None:
            raise StoreError("the InfluxDB store is not open", retryable=False)
        try:
            response = await self._client.request(method, path, **kwargs)
        except httpx.TransportError as exc:  # connect, read, write errors and timeouts
            raise StoreError(f"InfluxDB {self._url} unreachable: {exc!r}", retryable=True) from exc
        if response.status_code >= 300:
            message = f"InfluxDB {path} answered {response.status_code}: {_server_message(response)}"
            if response.status_code in (401, 403):  # an operator's fix: say which keys
                who = f"user {self._auth[0]!r}" if self._auth else "no credentials"
                message += f" (check [store] username and password: {who})"
            raise StoreError(
                message,
                retryable=response.status_code not in _NOT_RETRYABLE,
                retry_after_s=retry_after_s(response.headers.get("retry-after")),
            )
        return response

    async def _ensure_database(self) -> None:
        await self._request("POST", "/query", params={"q": f"CREATE DATABASE {_ident(self._db)}"})
        self._db_ready = True

    # --- writes -----------------------------------------------------------------------------
    async def write(self, points: Sequence[Point]) -> None:
        if not points:
            return
        if not self._db_ready:
            await self._ensure_database()
        params = {"db": self._db, "precision": "ms"}
        if self._rp:
            params["rp"] = self._rp
        body = gzip.compress(encode_batch(points), compresslevel=1)
        try:
            await self._request(
                "POST", "/write", params=params, content=body, headers={"Content-Encoding": "gzip"}
            )
        except StoreError as exc:
            if "database not found" in str(exc):
                self._db_ready = False
                raise StoreError(str(exc), retryable=True) from exc
            raise

    async def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        if letters:
            await self._letters.write(letters)

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        return await self._letters.newest(limit)

    async def prune_dead_letters(self, older_than_ms: int, max_bytes: int) -> Pruned:
        return await self._letters.prune(older_than_ms, max_bytes)

    # --- reads ------------------------------------------------------------------------------
    def _from(self, measurement: str) -> str:
        """The measurement in the configured retention policy (where the writes go), else the
        database's default one."""
        if not self._rp:
            return _ident(measurement)
        return f"{_ident(self._db)}.{_ident(self._rp)}.{_ident(measurement)}"

    async def _select(self, q: str) -> list[dict[str, Any]]:
        r = await self._request("GET", "/query", params={"db": self._db, "q": q, "epoch": "ms"})
        result = r.json()["results"][0]
        if "error" in result:
            raise QueryError(f"InfluxDB: {result['error']}")
        series: list[dict[str, Any]] = result.get("series", [])
        return series

    async def query_series(self, query: SeriesQuery) -> list[SeriesRow]:
        m, fields = validated(query)
        where = []
        if query.device is not None:
            where.append(f"{_ident(m.device_tag)} = {_literal(query.device)}")
        if query.start_ms is not None:
            where.append(f"time >= {int(query.start_ms)}ms")
        if query.stop_ms is not None:
            where.append(f"time < {int(query.stop_ms)}ms")
        for k, v in query.tags:
            where.append(f"{_ident(k)} = {_literal(v)}")
        if query.above is not None:
            where.append(f"{_ident(fields[0])} > {float(query.above)!r}")
        cond = f" WHERE {' AND '.join(where)}" if where else ""
        if query.fn is None:
            select = ", ".join(_ident(f) for f in fields)
            q = f"SELECT {select} FROM {self._from(m.name)}{cond} ORDER BY time LIMIT {int(query.limit)}"
        else:
            fn = _INFLUXQL_FN[query.fn]
            select = ", ".join(f"{fn}({_ident(f)}) AS {_ident(f)}" for f in fields)
            group = f" GROUP BY time({int(query.every_ms)}ms) fill(none)" if query.every_ms else ""
            q = f"SELECT {select} FROM {self._from(m.name)}{cond}{group} LIMIT {int(query.limit)}"
        rows: list[SeriesRow] = []
        for s in await self._select(q):
            cols = s["columns"]
            for values in s["values"]:
                record = dict(zip(cols, values, strict=True))
                rows.append(
                    SeriesRow(int(record["time"]), tuple((f, _typed(m, f, record.get(f))) for f in fields))
                )
        return rows

    async def latest(self, measurement: str) -> list[LatestValue]:
        m = MEASUREMENTS.get(measurement)
        if m is None:
            raise QueryError(f"unknown measurement {measurement!r}")
        q = f"SELECT * FROM {self._from(m.name)} GROUP BY * ORDER BY time DESC LIMIT 1"
        out = []
        for s in await self._select(q):
            tags: dict[str, str] = {k: v for k, v in (s.get("tags") or {}).items() if v}
            record = dict(zip(s["columns"], s["values"][0], strict=True))
            fields = tuple((f, v) for f in m.fields if (v := _typed(m, f, record.get(f))) is not None)
            out.append(
                LatestValue(
                    m.name,
                    tags.get(m.device_tag, ""),
                    int(record["time"]),
                    tuple(sorted(tags.items())),
                    fields,
                )
            )
        return sorted(out, key=lambda v: v.device)

    async def ping(self) -> None:
        await self._request("GET", "/ping")
