"""The parent side of ``telemetry serve --workers N``: starts N ingest processes
(:mod:`api.ingest_worker`), restarts one that dies, stops them all (SIGTERM, then they drain),
and merges their metrics into the parent's ``/metrics`` with a ``worker`` label. Each worker gets
one end of a new socket pair; the other end goes to ``on_link`` (the parent's hand-off receiver,
:mod:`telemetry.ingest.handoff`), so the workers' decoded records feed the derivations.

Processes are spawned, not forked: the parent runs threads (paho, uvicorn, MAVLink) that a fork
would copy in an unknown state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import socket
from collections.abc import Callable, Iterator
from multiprocessing.process import BaseProcess
from pathlib import Path

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from api.ingest_worker import shared_group, worker_dir, worker_main
from telemetry.config import Settings
from telemetry.health import Health
from telemetry.metrics import Metrics

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 60.0  # a worker drains for at most 30 s (Pipeline.drain), then closes its store
RESTART_DELAY_S = 1.0


def worker_problems(settings: Settings, workers: int) -> list[tuple[str, str]]:
    """Why ``serve --workers N`` cannot run with this configuration (empty: it can)."""
    if workers < 1:
        return [("--workers", "must be at least 1")]
    if workers == 1:
        return []
    problems = []
    if settings.store.backend == "embedded":
        problems.append(
            (
                "store.backend",
                f"--workers {workers} needs a server store (influxdb1 or influxdb2): the embedded "
                "DuckDB store allows one writing process",
            )
        )
    if settings.mqtt.url == "embedded":
        problems.append(("mqtt.url", f"--workers {workers} needs an MQTT 5 or 3.1.1 broker with shared "
                         "subscriptions (Mosquitto 2, EMQX), not the embedded broker"))  # fmt: skip
    if any(c in shared_group(settings) for c in "/+#"):
        problems.append(("mqtt.shared_group", "a shared group name has no '/', '+' or '#'"))
    return problems


class WorkerPool:
    def __init__(
        self,
        settings: Settings,
        workers: int,
        health: Health,
        metrics: Metrics,
        on_link: Callable[[int, socket.socket], None],
    ) -> None:
        self._settings = settings
        self._on_link = on_link
        self._n = workers
        self._health = health
        self._ctx = multiprocessing.get_context("spawn")
        self._procs: list[BaseProcess | None] = [None] * workers
        self._stopping = False
        self._snapshots = _WorkerMetrics(settings, workers)
        metrics.merge(self._snapshots.collect)

    def _start(self, index: int) -> None:
        level = logging.getLogger().getEffectiveLevel()
        ours, theirs = socket.socketpair()
        proc = self._ctx.Process(
            target=worker_main,
            args=(self._settings, index, level, theirs),
            name=f"ingest-w{index}",
            daemon=False,
        )
        try:
            proc.start()  # the child gets its own copy of ``theirs``
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._on_link(index, ours)
        self._procs[index] = proc
        log.info("ingest worker %d started (pid %s)", index, proc.pid)

    def start(self) -> None:
        for i in range(self._n):
            (worker_dir(self._settings, i) / "metrics.prom").unlink(missing_ok=True)  # a past run's
            self._start(i)
        self._health.set("workers", "starting", f"{self._n} ingest processes connecting")

    async def supervise(self) -> None:
        """Restart a worker that exited while the service runs (its session and spool resume);
        report in ``/readyz`` whether every worker runs and is connected to the broker."""
        while True:
            await asyncio.sleep(RESTART_DELAY_S)
            if self._stopping:
                return
            problems = []
            for i, proc in enumerate(self._procs):
                if proc is not None and not proc.is_alive():
                    problems.append(f"worker {i} exited ({proc.exitcode}), restarted")
                    log.warning("ingest worker %d exited with %s; restarting it", i, proc.exitcode)
                    self._start(i)
                elif not self._snapshots.connected(i):
                    problems.append(f"worker {i} not connected to the broker")
            if problems:
                self._health.set("workers", "starting", "; ".join(problems))
            else:
                self._health.set("workers", "up", f"{self._n} ingest processes connected")

    def terminate(self) -> None:
        """SIGTERM every worker (they drain, then exit); no restarts from now on."""
        self._stopping = True
        for proc in self._procs:
            if proc is not None and proc.is_alive():
                proc.terminate()

    async def stop(self) -> None:
        """Terminate, wait for the workers to drain; kill what is still there after the timeout."""
        self.terminate()
        await asyncio.to_thread(self._join)
        self._health.set("workers", "down", "stopped")

    def _join(self) -> None:
        for i, proc in enumerate(self._procs):
            if proc is None:
                continue
            proc.join(STOP_TIMEOUT_S)
            if proc.is_alive():
                log.error("ingest worker %d did not stop in %.0f s; killing it", i, STOP_TIMEOUT_S)
                proc.kill()
                proc.join()
            log.info("ingest worker %d exited with %s", i, proc.exitcode)


class _WorkerMetrics:
    """The workers' last metric snapshots, each sample labelled with its ``worker``; the
    parent's ``Metrics.render`` merges them into its own families."""

    def __init__(self, settings: Settings, workers: int) -> None:
        self._files = [worker_dir(settings, i) / "metrics.prom" for i in range(workers)]

    def connected(self, index: int) -> bool:
        """Whether worker ``index``'s last snapshot says its MQTT session is up."""
        for family in _families(self._files[index]):
            if family.name == "telemetry_mqtt_connected":
                return any(s.value == 1 for s in family.samples)
        return False

    def collect(self) -> list[Metric]:
        merged: dict[str, Metric] = {}
        for i, path in enumerate(self._files):
            for family in _families(path):
                out = merged.setdefault(family.name, Metric(family.name, family.documentation, family.type))
                for s in family.samples:
                    out.add_sample(s.name, {**s.labels, "worker": str(i)}, s.value, s.timestamp)
        return list(merged.values())


def _families(path: Path) -> Iterator[Metric]:
    with contextlib.suppress(OSError, ValueError):
        text = path.read_text(encoding="utf-8")
        yield from text_string_to_metric_families(text)
