"""The explicit registry of store backends: ``[store] backend`` names one of these factories.
Imported by the runtime, the ingest workers and replay alike (no lazy imports between them)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from storage.embedded import EmbeddedStore
from storage.influxdb1 import InfluxDB1Store
from storage.influxdb2 import InfluxDB2Store
from telemetry.config import Settings
from telemetry.errors import ConfigError
from telemetry.ports import Store


def _embedded(settings: Settings) -> Store:
    return EmbeddedStore(Path(settings.store.path))


def _influxdb1(settings: Settings) -> Store:
    s = settings.store
    return InfluxDB1Store(
        s.url,
        s.database,
        Path(settings.spool.path) / "dead_letters.sqlite",
        username=s.username,
        password=s.password,
        retention_policy=s.retention_policy,
    )


def _influxdb2(settings: Settings) -> Store:
    s = settings.store
    return InfluxDB2Store(s.url, s.token, s.org, s.bucket, Path(settings.spool.path) / "dead_letters.sqlite")


STORE_FACTORIES: dict[str, Callable[[Settings], Store]] = {
    "embedded": _embedded,
    "influxdb1": _influxdb1,
    "influxdb2": _influxdb2,
}


def make_store(settings: Settings) -> Store:
    factory = STORE_FACTORIES.get(settings.store.backend)
    if factory is None:
        raise ConfigError([("store.backend", f"{settings.store.backend!r} is not available in this build")])
    return factory(settings)
