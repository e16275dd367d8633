"""Dead-letter retention: letters older than ``[dead_letters] retention_days`` and, past
``max_bytes`` of raw payloads, the oldest ones are deleted and counted. Both dead-letter stores
(the embedded store's table and the SQLite file of the InfluxDB backends) are checked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from storage.embedded import EmbeddedStore
from storage.influxdb1 import InfluxDB1Store
from telemetry.config import DeadLettersConfig, load_settings
from telemetry.errors import ConfigError
from telemetry.health import Health
from telemetry.ingest.writer import Writer
from telemetry.metrics import Metrics
from telemetry.ports import Store
from telemetry.records import DeadLetter
from tests.servers import free_port
from tests.test_store_contract import run

T0 = 1_795_564_800_000
DAY_MS = 86_400_000


def letter(t_ms: int, size: int) -> DeadLetter:
    return DeadLetter(t_ms, "mqtt", "city/haishu/gauge/G01/telemetry", b"x" * size, "bad_json", "-")


@pytest.fixture(params=["embedded", "influxdb1"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    if request.param == "embedded":
        return lambda: EmbeddedStore(tmp_path / "store")
    # The InfluxDB backends keep dead letters in a local SQLite file: no server is needed.
    return lambda: InfluxDB1Store(
        f"http://127.0.0.1:{free_port()}", "telemetry", tmp_path / "spool" / "dead_letters.sqlite"
    )


def test_old_letters_go_by_age_then_the_oldest_by_size(open_store: Callable[[], Store]) -> None:
    async def go() -> tuple[tuple[int, int], list[int]]:
        async with open_store() as s:
            await s.write_dead_letters([letter(T0 + i * DAY_MS, 1000) for i in range(10)])
            pruned = await s.prune_dead_letters(T0 + 3 * DAY_MS, 4000)
            again = await s.prune_dead_letters(T0 + 3 * DAY_MS, 4000)
            assert tuple(again) == (0, 0)
            kept = await s.dead_letters(100)
        return (pruned.by_age, pruned.by_size), sorted(d.received_ms for d in kept)

    pruned, kept = run(go())
    assert pruned == (3, 3)  # days 0-2 by age, then days 3-5 to get under 4000 bytes
    assert kept == [T0 + i * DAY_MS for i in range(6, 10)]


def test_the_writer_prunes_on_its_clock_and_counts_what_it_deleted(tmp_path: Path) -> None:
    now = [T0]

    async def go() -> tuple[float, float, int]:
        metrics = Metrics()
        async with EmbeddedStore(tmp_path) as store:
            cfg = DeadLettersConfig(retention_days=7, max_bytes=1 << 20)
            w = Writer(store, metrics, Health(), dead_letters=cfg, clock=lambda: now[0])
            await w.open()
            await w.write_dead_letters([letter(T0 - 10 * DAY_MS + i, 1000) for i in range(5)])
            now[0] += 61_000  # pruning runs at most once a minute
            await w.write_dead_letters([letter(now[0], 1000)])  # the 5 are past retention
            now[0] += 61_000
            await w.write_dead_letters([letter(now[0] + i, 600 << 10) for i in range(2)])  # over 1 MiB
            left = len(await store.dead_letters(100))
            await w.close()
        age = metrics.dead_letters_pruned.labels("age")._value.get()
        size = metrics.dead_letters_pruned.labels("size")._value.get()
        return age, size, left

    assert run(go()) == (5, 2, 1)  # the newest 600 KiB letter stays


def test_the_limits_are_configuration_with_sane_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = load_settings().dead_letters
    assert (defaults.retention_days, defaults.max_bytes) == (30, 256 << 20)
    monkeypatch.setenv("TELEMETRY_DEAD_LETTERS__MAX_BYTES", str(64 << 20))
    assert load_settings().dead_letters.max_bytes == 64 << 20
    monkeypatch.delenv("TELEMETRY_DEAD_LETTERS__MAX_BYTES")
    with pytest.raises(ConfigError, match=r"dead_letters\.retention_days"):
        load_settings(overrides={"dead_letters": {"retention_days": 0}})
