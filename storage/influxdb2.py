"""InfluxDB 2.x through influxdb-client: token, org, bucket; writes with the client's
synchronous write API (gzip on) and queries in Flux.

Our pipeline owns batching, retries and the spool: the client's background batching would only
log a failed batch and drop it after its retry time. Client calls run on one worker thread.
Errors are classified at this boundary as for InfluxDB 1.x: network errors, timeouts, 429 and 5xx
(and 401/403/404) are retryable, honouring Retry-After; 400/413 are the data's fault.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException
from urllib3.exceptions import HTTPError as Urllib3Error

from storage.deadletters import DeadLetterFile
from storage.fieldtypes import typed as _typed
from storage.lineprotocol import encode_batch
from storage.retry_after import retry_after_s
from telemetry.errors import QueryError, StoreError
from telemetry.instants import epoch_ms
from telemetry.ports import Pruned
from telemetry.queries import LatestValue, SeriesQuery, SeriesRow, validated
from telemetry.records import DeadLetter, FieldValue, Point
from telemetry.schema import MEASUREMENTS, MeasurementSchema

log = logging.getLogger(__name__)
T = TypeVar("T")
_FLUX_FN = {"mean": "mean", "max": "max", "min": "min", "sum": "sum", "count": "count", "last": "last"}
_FAR_FUTURE_NS = 4_102_444_800_000 * 1_000_000


def _flux_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${") + '"'


def flux_series(bucket: str, m: MeasurementSchema, q: SeriesQuery, fields: tuple[str, ...]) -> str:
    """The Flux of a series query (module-level so that it can be checked without a server)."""
    start = f"time(v: {int(q.start_ms) * 1_000_000})" if q.start_ms is not None else "0"
    stop = f"time(v: {int(q.stop_ms) * 1_000_000})" if q.stop_ms is not None else f"time(v: {_FAR_FUTURE_NS})"
    conds = [f"r._measurement == {_flux_string(m.name)}"]
    if q.device is not None:
        conds.append(f"r[{_flux_string(m.device_tag)}] == {_flux_string(q.device)}")
    for k, v in q.tags:
        conds.append(f"r[{_flux_string(k)}] == {_flux_string(v)}")
    conds.append("(" + " or ".join(f"r._field == {_flux_string(f)}" for f in fields) + ")")
    if q.above is not None:
        conds.append(f"r._value > {float(q.above)!r}")
    flux = [
        f"from(bucket: {_flux_string(bucket)})",
        f"|> range(start: {start}, stop: {stop})",
        f"|> filter(fn: (r) => {' and '.join(conds)})",
    ]
    if q.fn is not None:
        flux.append('|> group(columns: ["_field"])')
        if q.every_ms:
            fn = _FLUX_FN[q.fn]
            window = f"every: {int(q.every_ms)}ms, fn: {fn}, createEmpty: false"
            flux.append(f'|> aggregateWindow({window}, timeSrc: "_start")')
        else:
            flux.append(f"|> {_FLUX_FN[q.fn]}()")
            flux.append(
                f"|> map(fn: (r) => ({{r with _time: {start if q.start_ms is not None else 'time(v: 0)'}}}))"
            )
    flux.append('|> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")')
    flux.append('|> group() |> sort(columns: ["_time"])')
    flux.append(f"|> limit(n: {int(q.limit)})")
    return "\n".join(flux)


class InfluxDB2Store:
    name = "influxdb2"

    def __init__(
        self,
        url: str,
        token: str,
        org: str,
        bucket: str,
        dead_letters: Path,
        *,
        create_bucket: bool = False,
        timeout_s: float = 10.0,
    ) -> None:
        self._url = url
        self._token = token
        self._org = org
        self._bucket = bucket
        self._create_bucket = create_bucket
        self._timeout_ms = int(timeout_s * 1000)
        self._client: InfluxDBClient | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._letters = DeadLetterFile(dead_letters)

    async def __aenter__(self) -> Self:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="influxdb2")
        self._client = InfluxDBClient(
            url=self._url, token=self._token, org=self._org, timeout=self._timeout_ms, enable_gzip=True
        )
        await self._letters.open()
        if self._create_bucket:
            await self._call(self._ensure_bucket)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await asyncio.get_running_loop().run_in_executor(self._pool, client.close)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        await self._letters.close()

    def _api(self) -> InfluxDBClient:
        if self._client is None:
            raise StoreError("the InfluxDB 2.x store is not open", retryable=False)
        return self._client

    async def _call(self, fn: Callable[[], T]) -> T:
        def guarded() -> T:
            try:
                return fn()
            except ApiException as exc:
                status = int(exc.status or 0)
                headers: dict[str, str] = dict(exc.headers or {})
                message = f"InfluxDB 2.x answered {status}: {str(exc.body or exc.reason)[:500]}"
                if status in (401, 403):  # an operator's fix: say which keys
                    message += " (check [store] token, and org and bucket for its permissions)"
                raise StoreError(
                    message,
                    retryable=status not in (400, 413),
                    retry_after_s=retry_after_s(headers.get("Retry-After") or headers.get("retry-after")),
                ) from exc
            except (Urllib3Error, OSError) as exc:
                raise StoreError(f"InfluxDB 2.x {self._url} unreachable: {exc!r}", retryable=True) from exc

        return await asyncio.get_running_loop().run_in_executor(self._pool, guarded)

    def _ensure_bucket(self) -> None:
        buckets = self._api().buckets_api()
        if buckets.find_bucket_by_name(self._bucket) is None:  # type: ignore[no-untyped-call]
            buckets.create_bucket(bucket_name=self._bucket, org=self._org)

    async def write(self, points: Sequence[Point]) -> None:
        if not points:
            return
        body = encode_batch(points)
        writer = self._api().write_api(write_options=SYNCHRONOUS)
        await self._call(
            lambda: writer.write(
                bucket=self._bucket,
                org=self._org,
                record=body,
                write_precision="ms",  # type: ignore[arg-type]
            )
        )

    async def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        if letters:
            await self._letters.write(letters)

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        return await self._letters.newest(limit)

    async def prune_dead_letters(self, older_than_ms: int, max_bytes: int) -> Pruned:
        return await self._letters.prune(older_than_ms, max_bytes)

    async def _flux(self, flux: str) -> list[dict[str, Any]]:
        api = self._api().query_api()
        tables = await self._call(lambda: api.query(flux, org=self._org))
        return [dict(record.values) for table in tables for record in table.records]

    async def query_series(self, query: SeriesQuery) -> list[SeriesRow]:
        m, fields = validated(query)
        rows = await self._flux(flux_series(self._bucket, m, query, fields))
        return [
            SeriesRow(epoch_ms(r["_time"]), tuple((f, _typed(m, f, r.get(f))) for f in fields)) for r in rows
        ]

    async def latest(self, measurement: str) -> list[LatestValue]:
        m = MEASUREMENTS.get(measurement)
        if m is None:
            raise QueryError(f"unknown measurement {measurement!r}")
        flux = (
            f"from(bucket: {_flux_string(self._bucket)}) |> range(start: 0, stop: time(v: {_FAR_FUTURE_NS}))"
            f" |> filter(fn: (r) => r._measurement == {_flux_string(m.name)}) |> last()"
        )
        newest: dict[tuple[tuple[str, str], ...], tuple[int, dict[str, FieldValue]]] = {}
        for r in await self._flux(flux):
            tags = tuple(sorted((t, str(r[t])) for t in m.tags if r.get(t)))
            t = epoch_ms(r["_time"])
            value = _typed(m, str(r["_field"]), r["_value"])
            known_t, fields = newest.get(tags, (t, {}))
            if value is not None:
                fields[str(r["_field"])] = value
            newest[tags] = (max(t, known_t), fields)
        return sorted(
            (
                LatestValue(m.name, dict(tags).get(m.device_tag, ""), t, tags, tuple(fields.items()))
                for tags, (t, fields) in newest.items()
            ),
            key=lambda v: v.device,
        )

    async def ping(self) -> None:
        ok = await self._call(lambda: self._api().ping())
        if not ok:
            raise StoreError(f"InfluxDB 2.x {self._url} does not answer /ping", retryable=True)
