"""`telemetry replay` of a log the test writes itself, with original timestamps."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import env_without_telemetry, free_port
from tests.test_store_contract import run
from tests.tlogs import write_bench_tlog, write_tlog

pytestmark = pytest.mark.integration
START_S = 1_795_564_800.0  # 2026-11-25T00:00:00Z


def replay_cli(log: Path, store: Path, spool: Path) -> subprocess.CompletedProcess[str]:
    """``telemetry replay LOG`` into an embedded store at ``store``, as a user runs it."""
    config = store.parent / f"{store.name}.toml"
    config.write_text(f'[store]\npath = "{store}"\n[spool]\npath = "{spool}"\n')
    return subprocess.run(
        [sys.executable, "-m", "api.cli", "replay", str(log), "--config", str(config)],
        capture_output=True, text=True, timeout=120, check=False, env=env_without_telemetry(),
    )  # fmt: skip


def test_replay_cli_ingests_with_original_timestamps(tmp_path: Path) -> None:
    log = tmp_path / "flight.tlog"
    n = write_tlog(log, sysid=5, start_s=START_S, seconds=30)  # 30 heartbeats, 600 others, 2 events
    r = replay_cli(log, tmp_path / "store", tmp_path / "spool")
    assert r.returncode == 0, r.stderr
    assert f"replayed {n} records" in r.stdout

    from storage.embedded import EmbeddedStore
    from telemetry.queries import SeriesQuery

    async def check() -> None:
        async with EmbeddedStore(tmp_path / "store") as s:
            rows = await s.query_series(
                SeriesQuery("drone_state", ("lat", "mode", "armed", "groundspeed_ms"), "5")
            )
            assert rows[0].time_ms == int(START_S * 1000)
            assert dict(rows[0].values)["mode"] == "AUTO"
            assert dict(rows[0].values)["armed"] is True
            positions = [r for r in rows if dict(r.values)["lat"] is not None]
            assert len(positions) == 300
            assert positions[-1].time_ms == int(START_S * 1000) + 29_900 + 1
            assert dict(positions[-1].values)["lat"] == pytest.approx(29.87 + 299e-5)
            events = await s.query_series(SeriesQuery("mission_event", ("event", "seq", "detail"), "5"))
            assert [dict(e.values)["event"] for e in events] == ["statustext", "item_reached"]
            assert dict(events[0].values)["detail"] == "Mission: 3 WP"
            assert dict(events[1].values)["seq"] == 3

    run(check())


def test_replay_of_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "api.cli", "replay", str(tmp_path / "nope.tlog")],
        capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 2
    assert "no such file" in r.stderr


def test_a_bench_log_without_a_fix_stores_no_position(tmp_path: Path) -> None:
    """A vehicle without a GPS fix reports latitude 0, longitude 0: no point of it may say the
    drone was at "Null Island" (the store keeps its other fields; the fleet says "no fix")."""
    from drones.tlog import read_tlog
    from telemetry.records import DroneState

    log = tmp_path / "bench.tlog"
    write_bench_tlog(log, sysid=1, start_s=START_S, seconds=278)
    states = [r for d in read_tlog(log) for r in d.records if isinstance(r, DroneState)]
    assert [s.gps_fix for s in states if s.gps_fix is not None] == [1] * 278
    assert [s for s in states if s.lat is not None or s.lon is not None] == []
    assert {s.autopilot for s in states if s.mode is not None} == {"ardupilot"}


def test_replay_runs_beside_a_serve_that_holds_the_spool(tmp_path: Path) -> None:
    """`serve` holds `[spool] path` (locked) with a batch it acknowledged: replay uses a folder
    of its own and neither replays nor cuts the other process's segments."""
    from telemetry.ingest.spool import Spool
    from tests.test_spool import batch
    from tests.test_spool import drain as read_all

    held = Spool(tmp_path / "spool", 1 << 20)
    held.open()  # what a running `serve` holds
    held.append(batch(0))
    log = tmp_path / "flight.tlog"
    write_tlog(log, sysid=5, start_s=START_S, seconds=2)
    r = replay_cli(log, tmp_path / "store", tmp_path / "spool")
    assert r.returncode == 0, r.stderr
    assert read_all(held) == [batch(0)]  # still there, for serve's own replay
    held.close()


def test_a_replay_that_cannot_finish_fails_saying_what_is_left(tmp_path: Path) -> None:
    """The store does not answer: the records wait in replay's spool, and the command says so
    and fails instead of reporting success."""
    import asyncio

    from api.replay import replay
    from telemetry.config import load_settings
    from telemetry.errors import TelemetryError

    log = tmp_path / "flight.tlog"
    write_tlog(log, sysid=5, start_s=START_S, seconds=2)
    settings = load_settings(
        overrides={
            "store": {"backend": "influxdb1", "url": f"http://127.0.0.1:{free_port()}"},  # nobody there
            "spool": {"path": str(tmp_path / "spool")},
        }
    )
    with pytest.raises(TelemetryError, match=r"\d+ points wait in the spool .*replay"):
        asyncio.run(replay(settings, log, drain_timeout_s=1.0))


def test_replay_runs_as_a_bulk_load_and_restores_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replay's bulk-load settings (api/replay.py): large batches and a short linger, the
    embedded store on one DuckDB thread, the cyclic garbage collector paused while it runs and
    enabled again after; every record stored all the same."""
    import gc

    import api.replay as replay_module
    from storage.embedded import EmbeddedStore
    from telemetry.config import load_settings
    from telemetry.queries import SeriesQuery

    seen: dict[str, object] = {}
    read = replay_module.read_tlog

    def spying_read(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        seen["gc during replay"] = gc.isenabled()
        yield from read(*args, **kwargs)  # type: ignore[arg-type]

    write = EmbeddedStore._write_sync

    def spying_write(self: EmbeddedStore, points: object, upsert: bool = False) -> None:
        (seen["threads"],) = self._writer().execute("SELECT current_setting('threads')").fetchone() or (0,)
        write(self, points, upsert)  # type: ignore[arg-type]

    pipeline = replay_module.Pipeline

    def spying_pipeline(*args: object, **kwargs: object) -> object:
        seen["pipeline"] = args[3]  # its config
        return pipeline(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(replay_module, "read_tlog", spying_read)
    monkeypatch.setattr(replay_module, "Pipeline", spying_pipeline)
    monkeypatch.setattr(EmbeddedStore, "_write_sync", spying_write)
    log = tmp_path / "flight.tlog"
    n = write_tlog(log, sysid=5, start_s=START_S, seconds=60)
    settings = load_settings(
        overrides={"store": {"path": str(tmp_path / "store")}, "spool": {"path": str(tmp_path / "spool")}}
    )
    cfg = replay_module.replay_pipeline(settings)
    assert cfg.batch_size >= 20_000
    assert cfg.flush_interval_s <= 0.02
    assert gc.isenabled()
    result = run(replay_module.replay(settings, log))
    assert result.records == n
    assert gc.isenabled()
    assert seen == {"gc during replay": False, "threads": 1, "pipeline": cfg}

    async def check() -> None:
        async with EmbeddedStore(tmp_path / "store") as s:
            rows = await s.query_series(SeriesQuery("drone_state", ("lat",), "5", limit=100_000))
            assert len(rows) == n - 2  # the two mission events are another measurement

    run(check())
