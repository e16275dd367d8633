"""The daily compliance reports the API answers: judged in worker processes, kept per local day,
judged again when the day's fixes changed (their count in the store) or when a manager asks.

- :meth:`ComplianceReports.get` (``GET``): the kept report while the day's fix count is the one
  it was judged at, else a new judgement; never writes.
- :meth:`ComplianceReports.recompute` (``POST``): a new judgement, kept and written as
  ``route_compliance`` points.

Callers asking for the same day at once share one judgement. Each vehicle-day is judged in a
process of a ``ProcessPoolExecutor`` (spawned, as :mod:`api.worker_pool`: the parent runs
threads a fork would copy in an unknown state); the fixes are read in this process (the embedded
store is single-process) and passed in as numpy arrays. The pool is owned by the runtime's
lifespan: :meth:`close` cancels what is in flight and shuts the processes down.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
import os
from collections import OrderedDict
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager
from dataclasses import dataclass

from telemetry.derivation import Submit
from telemetry.ports import Store
from telemetry.sanitation.rules import Compliance, RouteVerdict, judge
from telemetry.sanitation.service import Job, JudgeFn, SanitationService

log = logging.getLogger(__name__)
KEEP_DAYS = 31  # reports kept (least recently used first out): dates are a request parameter
Day = tuple[int, int]  # the local day's [start, stop) in epoch ms


@dataclass(frozen=True)
class Report:
    version: int  # the day's fix count when it was judged
    rows: list[Compliance]
    verdicts: list[RouteVerdict]

    def of(self, vehicle: str | None) -> tuple[list[Compliance], list[RouteVerdict]]:
        """Every row, or one vehicle's rows and the verdicts of its routes (over all vehicles)."""
        if vehicle is None:
            return self.rows, self.verdicts
        rows = [c for c in self.rows if c.vehicle == vehicle]
        return rows, [v for v in self.verdicts if vehicle in v.vehicles]


def _workers() -> int:
    return max(1, min(2, (os.cpu_count() or 1) - 1))


class ComplianceReports:
    def __init__(self, service: SanitationService, store: Store, workers: int | None = None) -> None:
        self._service = service
        self._store = store
        self._workers = workers or _workers()
        self._pool: ProcessPoolExecutor | None = None
        self._kept: OrderedDict[Day, Report] = OrderedDict()
        self._running: dict[Day, asyncio.Task[Report]] = {}
        self._closed = False
        self.judge_fn: JudgeFn = judge  # module-level (picklable); tests wrap it to observe it

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            ctx = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(self._workers, mp_context=ctx)
        return self._pool

    async def _offload(self, job: Job) -> Compliance:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor(), job)
        except BrokenProcessPool:  # a worker died (killed, out of memory): a new pool, once
            log.warning("compliance worker process died; starting a new pool")
            self._shutdown_pool()
            return await loop.run_in_executor(self._executor(), job)

    async def _judge(self, day: Day, version: int) -> Report:
        rows, verdicts = await self._service.judge_day(
            self._store, day[0], day[1], offload=self._offload, judge_fn=self.judge_fn
        )
        report = Report(version, rows, verdicts)
        self._kept[day] = report
        self._kept.move_to_end(day)
        while len(self._kept) > KEEP_DAYS:
            self._kept.popitem(last=False)
        return report

    def _in_flight(self, day: Day) -> asyncio.Task[Report] | None:
        task = self._running.get(day)
        return task if task is not None and not task.done() else None

    def _forget(self, day: Day, task: asyncio.Task[Report]) -> None:
        if self._running.get(day) is task:
            del self._running[day]
        if not task.cancelled():
            task.exception()  # retrieved: its callers were told (or went away)

    async def _start(self, day: Day, version: int) -> Report:
        """A new judgement of ``day``; a caller that goes away does not cancel it for the others."""
        if self._closed:
            raise RuntimeError("the compliance reports are closed")
        task = asyncio.create_task(self._judge(day, version), name=f"compliance-{day[0]}")
        self._running[day] = task
        task.add_done_callback(functools.partial(self._forget, day))
        return await asyncio.shield(task)

    async def day_version(self, day: Day) -> int:
        """How many fixes the store holds for the day (what a kept report was judged at)."""
        return await self._service.day_version(self._store, *day)

    async def get(self, day: Day) -> Report:
        """The day's report, judged again first when its fixes changed since (read only)."""
        version = await self._service.day_version(self._store, *day)
        for _ in range(2):  # the one in flight may have read the day before the newest fixes
            kept = self._kept.get(day)
            if kept is not None and kept.version == version:
                self._kept.move_to_end(day)
                return kept
            running = self._in_flight(day)
            if running is None:
                break
            await asyncio.shield(running)
        return await self._start(day, version)

    async def recompute(self, day: Day, submit: Submit | None) -> Report:
        """Judge the day again, keep it, and write its ``route_compliance`` points."""
        while (running := self._in_flight(day)) is not None:  # it read the fixes before this request
            await asyncio.shield(running)
        report = await self._start(day, await self._service.day_version(self._store, *day))
        if submit is not None:
            await self._service.store_report(submit, report.rows, day[0])
        return report

    def _shutdown_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    async def close(self) -> None:
        """Cancel the judgements in flight and stop the worker processes."""
        self._closed = True
        for task in list(self._running.values()):
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)


@asynccontextmanager
async def compliance_reports(
    service: SanitationService | None, store: Store
) -> AsyncIterator[ComplianceReports | None]:
    """The reports for the runtime's lifespan (None without the sanitation derivation)."""
    if service is None:
        yield None
        return
    reports = ComplianceReports(service, store)
    try:
        yield reports
    finally:
        await reports.close()
