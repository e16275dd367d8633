"""InfluxDB 1.x as operators meet it, against the real influxd: a server (or a proxy in front of
it) that answers 429/503 with Retry-After, which the writer waits out; authentication, where
wrong credentials give an error naming the keys to fix and right ones work; and a retention
policy, into which the writes go and from which the reads come."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from storage.influxdb1 import InfluxDB1Store
from storage.retry_after import retry_after_s
from telemetry.errors import StoreError
from telemetry.health import Health
from telemetry.ingest.writer import Writer
from telemetry.metrics import Metrics
from telemetry.queries import SeriesQuery
from telemetry.records import GaugeReading, Point
from tests.servers import Influxd

T0 = 1_795_564_800_000
USER = ("telemetry", "s3cret-pw")


def points(n: int = 3, gauge: str = "G01", start_ms: int = T0) -> list[Point]:
    return [GaugeReading(gauge, "haishu", start_ms + k * 60_000, float(k)).to_point() for k in range(n)]


class Gate(ThreadingHTTPServer):
    """A minimal HTTP proxy in front of influxd: the first ``refusals`` writes are answered with
    ``status`` and ``Retry-After: retry_after``; everything else is forwarded as it is."""

    def __init__(self, upstream: str, status: int, retry_after: str, refusals: int) -> None:
        super().__init__(("127.0.0.1", 0), _GateHandler)
        self.upstream = upstream
        self.status = status
        self.retry_after = retry_after
        self.refusals = refusals
        self.writes: list[int] = []  # the status answered to each /write

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _GateHandler(BaseHTTPRequestHandler):
    server: Gate
    hop_by_hop: ClassVar[set[str]] = {
        "connection",
        "transfer-encoding",
        "keep-alive",
        "host",
        "content-length",
    }

    def _relay(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        gate = self.server
        if self.path.startswith("/write") and gate.refusals > 0:
            gate.refusals -= 1
            gate.writes.append(gate.status)
            payload = b'{"error":"slow down"}'
            self.send_response(gate.status)
            self.send_header("Retry-After", gate.retry_after)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in self.hop_by_hop}
        r = httpx.request(self.command, gate.upstream + self.path, headers=headers, content=body, timeout=30)
        if self.path.startswith("/write"):
            gate.writes.append(r.status_code)
        self.send_response(r.status_code)
        for k, v in r.headers.items():
            if k.lower() not in self.hop_by_hop | {"content-encoding"}:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(r.content)))
        self.end_headers()
        self.wfile.write(r.content)

    def do_GET(self) -> None:
        self._relay()

    def do_POST(self) -> None:
        self._relay()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def gate_factory(influxd: Influxd) -> Iterator[Any]:
    gates: list[Gate] = []

    def make(status: int, retry_after: str, refusals: int) -> Gate:
        gate = Gate(influxd.url, status, retry_after, refusals)
        threading.Thread(target=gate.serve_forever, daemon=True).start()
        gates.append(gate)
        return gate

    yield make
    for g in gates:
        g.shutdown()
        g.server_close()


def write_through(store: InfluxDB1Store) -> tuple[list[float], Health]:
    """Write ``points()`` with the service's writer (no spool: it retries itself); returns the
    pauses the writer took between attempts, as it asked for them (the test does not wait)."""
    pauses: list[float] = []
    health = Health()

    async def run() -> None:
        async with store:
            writer = Writer(store, Metrics(), health)

            async def pause(seconds: float) -> None:
                pauses.append(seconds)

            writer._pause = pause  # type: ignore[method-assign]  # record instead of sleeping
            assert await writer.write(points()) == []

    asyncio.run(run())
    return pauses, health


@pytest.mark.integration
@pytest.mark.parametrize(("status", "wait_s"), [(429, 7), (503, 12)])
def test_the_writer_waits_what_retry_after_says(
    influxd: Influxd, gate_factory: Any, tmp_path: Path, status: int, wait_s: int
) -> None:
    gate = gate_factory(status, str(wait_s), 2)
    pauses, health = write_through(InfluxDB1Store(gate.url, "telemetry", tmp_path / "dl.sqlite"))
    assert gate.writes == [status, status, 204]  # refused twice, then written
    assert len(pauses) == 2
    assert all(p >= wait_s for p in pauses)  # at least what the server said, not the 0.1 s back-off
    assert influxd.query('SELECT count("depth_cm") FROM "water_depth"')[0]["values"][0][1] == 3
    assert {c.name: c.state for c in health.snapshot()}["store"] == "up"


@pytest.mark.integration
def test_retry_after_as_an_http_date(influxd: Influxd, gate_factory: Any, tmp_path: Path) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    gate = gate_factory(429, when, 1)
    pauses, _ = write_through(InfluxDB1Store(gate.url, "telemetry", tmp_path / "dl.sqlite"))
    assert gate.writes == [429, 204]
    (pause,) = pauses
    assert 20 <= pause <= 31


def test_retry_after_values() -> None:
    now = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
    assert retry_after_s("7", now) == 7.0
    assert retry_after_s(" 1.5 ", now) == 1.5
    assert retry_after_s("Tue, 24 Nov 2026 02:00:30 GMT", now) == 30.0
    assert retry_after_s("Tue, 24 Nov 2026 01:59:00 GMT", now) == 0.0  # already past
    for unreadable in (None, "", "soon", "-3", "nan", "inf"):
        assert retry_after_s(unreadable, now) is None


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Influxd]:
    server = Influxd(tmp_path / "influxd-auth", auth=USER)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.integration
def test_wrong_credentials_say_which_keys_and_right_ones_work(secured: Influxd, tmp_path: Path) -> None:
    async def attempt(user: str, password: str) -> list[Any]:
        async with InfluxDB1Store(
            secured.url, "telemetry", tmp_path / f"{user}.sqlite", username=user, password=password
        ) as store:
            await store.write(points())
            return await store.query_series(SeriesQuery("water_depth", ("depth_cm",), device="G01"))

    with pytest.raises(StoreError) as refused:
        asyncio.run(attempt(USER[0], "wrong"))
    message = str(refused.value)
    assert "401" in message
    assert "[store] username and password" in message
    assert f"user {USER[0]!r}" in message
    assert "wrong" not in message  # the password is never echoed
    assert refused.value.retryable  # an operator's fix: the data waits in the spool meanwhile
    with pytest.raises(StoreError, match="no credentials"):
        asyncio.run(attempt("", ""))
    rows = asyncio.run(attempt(*USER))
    assert [r.time_ms for r in rows] == [T0, T0 + 60_000, T0 + 120_000]


@pytest.mark.integration
def test_writes_and_reads_use_the_configured_retention_policy(influxd: Influxd, tmp_path: Path) -> None:
    influxd.query('CREATE DATABASE "telemetry"')
    influxd.query('CREATE RETENTION POLICY "week" ON "telemetry" DURATION 7d REPLICATION 1')

    async def run() -> tuple[list[Any], list[Any]]:
        store = InfluxDB1Store(influxd.url, "telemetry", tmp_path / "dl.sqlite", retention_policy="week")
        async with store:
            an_hour_ago = int((datetime.now(UTC) - timedelta(hours=1)).timestamp() * 1000)
            await store.write(points(n=2, gauge="G02", start_ms=an_hour_ago))  # within the week
            series = await store.query_series(SeriesQuery("water_depth", ("depth_cm",), device="G02"))
            latest = await store.latest("water_depth")
            return series, latest

    series, latest = asyncio.run(run())
    assert len(series) == 2  # read back from the same policy
    assert [v.device for v in latest] == ["G02"]
    in_week = influxd.query('SELECT count("depth_cm") FROM "telemetry"."week"."water_depth"')
    assert in_week[0]["values"][0][1] == 2
    assert influxd.query('SELECT count("depth_cm") FROM "telemetry"."autogen"."water_depth"') == []
