"""InfluxDB 2.x: the Flux we send, and the error classification against a real closed port.
The full store contract runs on a real 2.x server in tests/test_store_contract.py when
INFLUXDB_V2_URL, INFLUXDB_V2_TOKEN and INFLUXDB_V2_ORG are set."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from storage.influxdb2 import InfluxDB2Store, flux_series
from telemetry.config import load_settings
from telemetry.errors import ConfigError, StoreError
from telemetry.queries import SeriesQuery
from telemetry.records import GaugeReading
from telemetry.schema import MEASUREMENTS
from tests.servers import free_port

T0 = 1_795_564_800_000


def test_flux_of_a_windowed_query() -> None:
    q = SeriesQuery(
        "water_depth", ("depth_cm",), 'G"01', T0, T0 + 3_600_000, every_ms=60_000, fn="max", limit=5
    )
    flux = flux_series("tele", MEASUREMENTS["water_depth"], q, ("depth_cm",))
    assert 'from(bucket: "tele")' in flux
    assert f"range(start: time(v: {T0 * 1_000_000}), stop: time(v: {(T0 + 3_600_000) * 1_000_000}))" in flux
    assert 'r["gauge"] == "G\\"01"' in flux  # quoted: no Flux injection through a device id
    assert 'aggregateWindow(every: 60000ms, fn: max, createEmpty: false, timeSrc: "_start")' in flux
    assert flux.rstrip().endswith("|> limit(n: 5)")


def test_flux_of_a_raw_query_has_no_aggregate() -> None:
    flux = flux_series(
        "b",
        MEASUREMENTS["water_depth"],
        SeriesQuery("water_depth", ("depth_cm", "battery_v")),
        ("depth_cm", "battery_v"),
    )
    assert "aggregateWindow" not in flux
    assert 'r._field == "depth_cm" or r._field == "battery_v"' in flux


def test_unreachable_server_is_a_retryable_error(tmp_path: Path) -> None:
    async def go() -> StoreError:
        url = f"http://127.0.0.1:{free_port()}"
        async with InfluxDB2Store(
            url, "token", "org", "bucket", tmp_path / "dl.sqlite", timeout_s=2
        ) as store:
            with pytest.raises(StoreError) as exc:
                await store.write([GaugeReading("G01", "haishu", T0, 1.0).to_point()])
            return exc.value

    assert asyncio.run(go()).retryable is True


def test_influxdb2_backend_needs_token_and_org() -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(overrides={"store": {"backend": "influxdb2"}})
    assert exc.value.problems[0][0] == "store"
    assert "store.token" in exc.value.problems[0][1]
