"""Supervision of the runtime's tasks (pipeline consumer, spool replay, derivations, missions
follower, worker pool): a task that fails is restarted after a capped exponential back-off and
counted in ``telemetry_task_restarts_total{task}``; while it waits, ``/readyz`` shows the
component ``task:<name>`` as ``starting`` with the failure. A task that keeps failing (more than
``max_restarts`` failures within ``window_s``) or whose failure no restart repairs is fatal: it
is reported down, ``/healthz`` answers 503, and ``on_fatal`` tells the server to stop, so the
process exits 1 and whatever runs it (systemd, Kubernetes) starts it afresh.

Erlang/OTP's supervisor is the model (restart intensity: at most MaxR restarts in MaxT
seconds, else the supervisor itself gives up), with the back-off of a reconnect loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from prometheus_client import Counter

from telemetry.config_supervision import SupervisionConfig
from telemetry.health import Health, failure_reason

log = logging.getLogger(__name__)

Fatal = Callable[[str], None]
"""Told once, on the event loop, why the runtime cannot go on (e.g. sets uvicorn's
``should_exit``)."""


class Supervisor:
    """Runs tasks in a caller's TaskGroup, each in a loop that restarts it after a failure."""

    def __init__(
        self,
        health: Health,
        restarts: Counter,
        policy: SupervisionConfig,
        on_fatal: Fatal | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._health = health
        self._restarts = restarts
        self._policy = policy
        self._on_fatal = on_fatal
        self._clock = clock
        self._sleep = sleep
        self._stopping = False

    def start(
        self,
        tasks: asyncio.TaskGroup,
        name: str,
        run: Callable[[], Awaitable[None]],
        *,
        restart: bool = True,
    ) -> asyncio.Task[None]:
        """Run ``run()`` as the task ``name``. Its failure never ends the group: it is restarted,
        or, with ``restart=False`` (state a restart cannot rebuild), fatal at once. A normal
        return ends it. Cancelling the returned task cancels the run."""
        return tasks.create_task(self._supervise(name, run, restart), name=name)

    def stop(self) -> None:
        """The runtime is shutting down: no more restarts, and failures are no longer fatal."""
        self._stopping = True

    async def _supervise(self, name: str, run: Callable[[], Awaitable[None]], restart: bool) -> None:
        component = f"task:{name}"
        recent: deque[float] = deque()  # clock() of the failures within the window
        while True:
            try:
                await run()
            except Exception as exc:  # noqa: BLE001 - every failure is reported, then handled below
                reason = failure_reason(exc)
                failed = exc
            else:
                return
            if self._stopping:
                log.warning("task %s failed while stopping: %s", name, reason, exc_info=failed)
                return
            log.error("task %s failed", name, exc_info=failed)
            now = self._clock()
            recent.append(now)
            while recent[0] <= now - self._policy.window_s:
                recent.popleft()
            if not restart:
                self._fatal(component, f"{reason} (a restart cannot recover it)")
                return
            if len(recent) > self._policy.max_restarts:
                window = f"{self._policy.window_s:g} s"
                self._fatal(component, f"failed {len(recent)} times within {window}; last: {reason}")
                return
            delay = self._policy.delay_s(len(recent))
            self._restarts.labels(task=name).inc()
            self._health.set(component, "starting", f"restarting in {delay:g} s after {reason}")
            await self._sleep(delay)
            if self._stopping:
                return
            self._health.set(component, "up", f"restarted after {reason}")
            log.info("task %s restarted", name)

    def _fatal(self, component: str, reason: str) -> None:
        detail = f"{component}: {reason}"
        log.critical("stopping the service: %s", detail)
        self._health.set(component, "down", reason)
        self._health.fail(detail)
        if self._on_fatal is not None:
            self._on_fatal(detail)
