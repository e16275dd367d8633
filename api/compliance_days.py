"""Each finished site day's compliance is stored once by itself (decision 93): ``GET`` never
writes, so without this a day's ``route_compliance`` points would exist only when a manager
asked for them. Once a minute the job looks at the days just finished; a day with fixes and no
stored report is judged and written (as ``POST`` does), and audited as ``compliance_settled``.
A restart repeats nothing: a day whose report is in the store is left alone."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from api.compliance_reports import ComplianceReports, Day
from api.params import day_bounds
from telemetry.audit.log import SERVICE, AuditLog
from telemetry.derivation import Submit
from telemetry.errors import StoreError
from telemetry.instants import now_ms
from telemetry.ports import Store
from telemetry.queries import SeriesQuery

log = logging.getLogger(__name__)
EVERY_S = 60.0
DAYS_BACK = 2  # yesterday and the day before: a service down over a midnight catches up


async def stored(store: Store, day: Day) -> bool:
    """Whether the day's report is in the store (its points are stamped with the day's start)."""
    rows = await store.query_series(
        SeriesQuery("route_compliance", ("coverage_ratio",), None, day[0], day[0] + 1, fn="count")
    )
    return any(isinstance(v, int | float) and v > 0 for r in rows for _, v in r.values)


async def settle(
    reports: ComplianceReports, store: Store, submit: Submit, audit: AuditLog, zone: ZoneInfo, at_ms: int
) -> list[date]:
    """Store the report of each of the last finished days that has fixes and none stored yet;
    the days written."""
    today = datetime.fromtimestamp(at_ms / 1000, zone).date()
    written = []
    for back in range(DAYS_BACK, 0, -1):
        local = today - timedelta(days=back)
        day = day_bounds(local.isoformat(), zone.key)
        if await stored(store, day) or await reports.day_version(day) == 0:
            continue
        report = await reports.recompute(day, submit)
        audit.record(SERVICE, "compliance_settled", local.isoformat(), {"rows": len(report.rows)})
        log.info("compliance of %s stored: %d rows", local, len(report.rows))
        written.append(local)
    return written


async def settle_forever(
    reports: ComplianceReports, store: Store, submit: Submit, audit: AuditLog, timezone: str,
    clock: Callable[[], int] = now_ms, every_s: float = EVERY_S,
) -> None:  # fmt: skip
    """Until cancelled: :func:`settle` at the start and then every ``every_s``."""
    zone = ZoneInfo(timezone)
    while True:
        try:
            await settle(reports, store, submit, audit, zone, clock())
        except StoreError as exc:  # the store is down: the writer reports it; try again later
            log.warning("compliance of the last days not stored yet: %s", exc)
        await asyncio.sleep(every_s)
