"""Supervision of the runtime's tasks (issue 18, item 1): a failed task is restarted with a capped
back-off, counted and shown in /readyz while it waits; one that keeps failing, or cannot be
restarted, is fatal: /healthz answers 503 and ``telemetry serve`` exits 1."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Counter

from api.app import create_app
from telemetry.assets import load_registry, sample_assets_dir
from telemetry.config import Settings, load_settings
from telemetry.config_supervision import SupervisionConfig
from telemetry.derivation import Derived
from telemetry.flood.service import FloodService
from telemetry.health import Health
from telemetry.instants import now_ms
from telemetry.records import Record
from telemetry.supervise import Supervisor
from tests.mqtt_util import publish_all, wait_until
from tests.servers import Mosquitto, env_without_telemetry, free_port, write_serve_config
from tests.test_mqtt_ingest import metric

TOKEN = "viewer-token-0123456789abcdef"
POLICY = SupervisionConfig(backoff_initial_s=1, backoff_max_s=4, max_restarts=5, window_s=60)


class _Clock:
    """The supervisor's monotonic clock; its sleeps advance it (no wall-clock waiting)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


def _supervisor(
    health: Health, clock: _Clock, fatal: list[str], policy: SupervisionConfig = POLICY
) -> tuple[Supervisor, Counter]:
    restarts = Counter("restarts", "", ["task"], registry=CollectorRegistry())
    sup = Supervisor(health, restarts, policy, fatal.append, clock=clock, sleep=clock.sleep)
    return sup, restarts


def _failing(times: int, error: Exception) -> tuple[list[int], Callable[[], Awaitable[None]]]:
    calls = [0]

    async def run() -> None:
        calls[0] += 1
        if calls[0] <= times:
            raise error

    return calls, run


def test_a_failed_task_is_restarted_with_a_capped_doubling_back_off_and_counted() -> None:
    health, clock, fatal = Health(), _Clock(), list[str]()
    sup, restarts = _supervisor(health, clock, fatal)
    calls, run = _failing(5, ValueError("boom"))

    async def go() -> None:
        async with asyncio.TaskGroup() as tasks:
            sup.start(tasks, "flood", run)

    asyncio.run(go())
    assert calls[0] == 6  # five failures, then a run that ended normally
    assert clock.sleeps == [1, 2, 4, 4, 4]
    assert restarts.labels(task="flood")._value.get() == 5
    assert fatal == []
    assert health.failure is None
    (state,) = health.snapshot()
    assert (state.name, state.state) == ("task:flood", "up")
    assert "ValueError: boom" in state.detail


def test_readyz_shows_the_failure_while_the_task_waits_for_its_restart() -> None:
    health, fatal = Health(), list[str]()
    waiting, release = asyncio.Event(), asyncio.Event()

    async def sleep(s: float) -> None:
        waiting.set()
        await release.wait()

    sup = Supervisor(
        health, Counter("r", "", ["task"], registry=CollectorRegistry()), POLICY, fatal.append, sleep=sleep
    )
    _calls, run = _failing(1, RuntimeError("store said no"))

    async def go() -> tuple[str, str, str | None, bool]:
        async with asyncio.TaskGroup() as tasks:
            sup.start(tasks, "missions", run)
            await waiting.wait()
            (during,) = health.snapshot()
            seen = (during.state, during.detail, health.failure, health.ready())
            release.set()
        return seen

    state, detail, failure, ready = asyncio.run(go())
    assert state == "starting"
    assert "RuntimeError: store said no" in detail
    assert failure is None  # restarting is alive: /healthz stays 200
    assert not ready  # but /readyz is 503 until it runs again ...
    (after,) = health.snapshot()
    assert after.state == "up"
    assert health.ready()


def test_a_task_that_keeps_failing_is_fatal_and_one_that_fails_now_and_then_is_not() -> None:
    health, clock, fatal = Health(), _Clock(), list[str]()
    sup, restarts = _supervisor(health, clock, fatal)
    forever_calls, forever = _failing(10**9, KeyError("x"))
    sparse_calls = [0]

    async def sparse() -> None:  # fails 10 times, each a window after the last
        sparse_calls[0] += 1
        if sparse_calls[0] <= 10:
            clock.now += POLICY.window_s
            raise OSError("now and then")

    async def go() -> None:
        async with asyncio.TaskGroup() as tasks:
            sup.start(tasks, "toilets", forever)
        async with asyncio.TaskGroup() as tasks:
            sup.start(tasks, "sparse", sparse)

    asyncio.run(go())
    assert forever_calls[0] == POLICY.max_restarts + 1  # restarted max_restarts times, then given up
    assert restarts.labels(task="toilets")._value.get() == POLICY.max_restarts
    assert len(fatal) == 1
    assert "task:toilets" in fatal[0]
    assert "KeyError" in fatal[0]
    assert health.failure == fatal[0]
    states = {c.name: c.state for c in health.snapshot()}
    assert states == {"task:toilets": "down", "task:sparse": "up"}
    assert sparse_calls[0] == 11
    assert restarts.labels(task="sparse")._value.get() == 10
    assert clock.sleeps[-10:] == [1] * 10  # a failure alone in its window starts the back-off anew


def test_a_task_that_cannot_be_restarted_is_fatal_at_once_and_nothing_is_after_stop() -> None:
    health, clock, fatal = Health(), _Clock(), list[str]()
    sup, restarts = _supervisor(health, clock, fatal)
    calls, run = _failing(1, RuntimeError("batch lost"))
    late_calls, late = _failing(1, RuntimeError("while stopping"))

    async def go() -> None:
        async with asyncio.TaskGroup() as tasks:
            sup.start(tasks, "pipeline", run, restart=False)
        sup.stop()
        async with asyncio.TaskGroup() as tasks:
            sup.start(tasks, "spool-replay", late)

    asyncio.run(go())
    assert calls[0] == 1
    assert late_calls[0] == 1
    assert fatal == ["task:pipeline: RuntimeError: batch lost (a restart cannot recover it)"]
    assert restarts.labels(task="pipeline")._value.get() == 0
    assert [c.name for c in health.snapshot()] == ["task:pipeline"]


def _settings(mosquitto: Mosquitto, folder: Path, **supervision: float) -> Settings:
    return load_settings(
        overrides={
            "store": {"path": str(folder / "store")},
            "spool": {"path": str(folder / "spool")},
            "mqtt": {"url": mosquitto.url, "client_id": "supervision-test"},
            "api": {"tokens": [{"token": TOKEN, "role": "viewer"}]},
            "flood": {"check_interval_s": 0.05},
            "supervision": {"backoff_initial_s": 0.01, "backoff_max_s": 0.05} | supervision,
        }
    )


@contextlib.contextmanager
def _client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, registry=load_registry(sample_assets_dir()))) as c:
        yield c


@pytest.fixture
def observe_fails_once(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    observe = FloodService.observe

    def failing(self: FloodService, messages: Sequence[tuple[Record, ...]], now_ms: int) -> Derived:
        calls[0] += 1
        if calls[0] == 1:
            raise ZeroDivisionError("a bug in a rule")
        return observe(self, messages, now_ms)

    monkeypatch.setattr(FloodService, "observe", failing)
    return calls


def _depth(c: TestClient, gauge: str) -> float | None:
    r = c.get("/api/v1/flood/gauges", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200, r.text
    return next(
        (f["properties"]["depth_cm"] for f in r.json()["features"] if f["properties"]["id"] == gauge), None
    )


@pytest.mark.integration
def test_a_derivation_that_fails_is_restarted_and_counted_and_ingest_goes_on(
    observe_fails_once: list[int], mosquitto: Mosquitto, tmp_path: Path
) -> None:
    with _client(_settings(mosquitto, tmp_path)) as c:
        wait_until(lambda: c.get("/readyz").status_code == 200, 10, "readiness")
        topic = "city/haishu/gauge/G01/telemetry"
        t0 = now_ms() - 120_000
        publish_all(mosquitto.url, [(topic, {"ts": t0, "depth_cm": 3.0})])
        restarts = 'telemetry_task_restarts_total{task="flood"}'
        wait_until(lambda: metric(c, restarts) == 1, 10, "the flood runner's restart")
        publish_all(mosquitto.url, [(topic, {"ts": t0 + 60_000, "depth_cm": 31.0})])
        wait_until(lambda: _depth(c, "G01") == 31.0, 10, "flood to follow G01 after the restart")
        # Derivations observe a batch before it is written (decision 36): wait for the write.
        written = 'telemetry_written_total{measurement="water_depth"}'
        wait_until(lambda: metric(c, written) == 2, 10, "both readings written: nothing lost")
        assert c.get("/healthz").json() == {"status": "ok"}
        wait_until(lambda: c.get("/readyz").status_code == 200, 10, "readiness after the restart")
        flood = c.get("/readyz").json()["components"]["task:flood"]
        assert flood["state"] == "up"
        assert "ZeroDivisionError: a bug in a rule" in flood["detail"]
        assert metric(c, restarts) == 1


@pytest.mark.integration
def test_healthz_is_503_once_a_task_keeps_failing(
    monkeypatch: pytest.MonkeyPatch, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    def tick(self: FloodService, now_ms: int) -> object:
        raise RuntimeError("tick broke")

    monkeypatch.setattr(FloodService, "tick", tick)
    settings = _settings(mosquitto, tmp_path, max_restarts=2)
    with _client(settings) as c:
        wait_until(lambda: c.get("/healthz").status_code == 503, 10, "liveness to fail")
        body = c.get("/healthz").json()
        assert body["status"] == "failed"
        assert "task:flood" in body["reason"]
        ready = c.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["components"]["task:flood"]["state"] == "down"
        assert "RuntimeError: tick broke" in ready.json()["components"]["task:flood"]["detail"]
        assert metric(c, 'telemetry_task_restarts_total{task="flood"}') == 2


_FAILING_SERVE = textwrap.dedent(
    """
    import sys
    from telemetry.flood.service import FloodService

    def tick(self, now_ms):
        raise RuntimeError("tick broke for good")

    FloodService.tick = tick  # a derivation that raises forever
    from api.cli import main
    sys.exit(main(["serve", "--config", sys.argv[1]]))
    """
)


@pytest.mark.integration
@pytest.mark.slow
def test_serve_exits_1_when_a_task_keeps_failing(mosquitto: Mosquitto, tmp_path: Path) -> None:
    cfg = tmp_path / "telemetry.toml"
    write_serve_config(
        cfg,
        {"mqtt": {"url": mosquitto.url, "client_id": "supervision-serve"},
         "store": {"path": str(tmp_path / "store")}, "spool": {"path": str(tmp_path / "spool")},
         "api": {"port": free_port()}, "assets": {"dir": str(tmp_path / "no-assets")},
         "flood": {"check_interval_s": 0.05},
         "supervision": {"backoff_initial_s": 0.01, "backoff_max_s": 0.05, "max_restarts": 3}},
        {TOKEN: "viewer"},
    )  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-c", _FAILING_SERVE, str(cfg)],
        cwd=Path(__file__).parent.parent,
        env=env_without_telemetry(),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "task:flood: failed 4 times" in proc.stderr
    assert "RuntimeError: tick broke for good" in proc.stderr
    assert "Application shutdown complete" in proc.stderr  # stopped gracefully: drained, closed


def test_the_supervision_section_refuses_a_cap_below_the_start() -> None:
    with pytest.raises(ValueError, match="backoff_max_s"):
        SupervisionConfig(backoff_initial_s=10, backoff_max_s=1)
    assert SupervisionConfig().delay_s(100) == SupervisionConfig().backoff_max_s
