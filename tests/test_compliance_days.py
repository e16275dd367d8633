"""Each finished site day's compliance is stored once by itself (api/compliance_days.py): GET
never writes, so without the job a day's route_compliance points existed only if a manager asked."""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest

from api import compliance_days
from telemetry.errors import StoreError
from tests.apps import app_client
from tests.mqtt_util import wait_until
from tests.servers import Mosquitto
from tests.test_compliance_cache import MANAGER, TOKENS, put_fixes, runtime, stored_points
from tests.tracks import along

pytestmark = pytest.mark.integration
ZONE = ZoneInfo("Asia/Shanghai")


def test_a_finished_day_is_stored_once_and_a_restart_repeats_nothing(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    now = datetime(2026, 12, 2, 9, 0, tzinfo=ZONE)  # an injected "now": the job's clock
    yesterday = now.date() - timedelta(days=1)
    night = int(datetime.combine(yesterday, time(2, 0), tzinfo=ZONE).timestamp() * 1000)
    at_ms = int(now.timestamp() * 1000)
    with app_client(mosquitto, tmp_path, TOKENS, "days-1") as c:
        rt = runtime(c)
        assert rt.compliance is not None
        assert rt.submit is not None
        put_fixes(c, "SW001", along("R01", 6.0, night))
        assert stored_points(c) == 0
        assert c.portal is not None
        settle = compliance_days.settle
        written = c.portal.call(settle, rt.compliance, rt.store, rt.submit, rt.audit, ZONE, at_ms)
        assert written == [yesterday]
        wait_until(lambda: stored_points(c) > 0, 10, "the day's report in the store")
        assert c.portal.call(settle, rt.compliance, rt.store, rt.submit, rt.audit, ZONE, at_ms) == []
        audit = c.get("/api/v1/audit", params={"action": "compliance_settled"}, headers=MANAGER).json()
        assert [r["subject"] for r in audit["items"]] == [yesterday.isoformat()]
        before = stored_points(c)
    with app_client(mosquitto, tmp_path, TOKENS, "days-2") as c:
        rt = runtime(c)
        assert rt.compliance is not None
        assert rt.submit is not None
        assert c.portal is not None
        again = c.portal.call(
            compliance_days.settle, rt.compliance, rt.store, rt.submit, rt.audit, ZONE, at_ms
        )
        assert again == []  # stored before the restart: left alone
        assert stored_points(c) == before


def test_a_store_that_is_down_is_tried_again_later_without_failing_the_task() -> None:
    """The job ran into InfluxDB being down at start and failed its supervised task (a traceback,
    then restarts); a store outage is the writer's to report: the job tries again next round."""
    calls = []

    class DownStore:
        async def query_series(self, query: object) -> list[object]:
            calls.append(query)
            raise StoreError("InfluxDB unreachable", retryable=True)

    async def run() -> None:
        job = compliance_days.settle_forever(
            cast(Any, None), cast(Any, DownStore()), cast(Any, None), cast(Any, None), "Asia/Shanghai",
            every_s=0.01,
        )  # fmt: skip
        task = asyncio.ensure_future(job)
        while len(calls) < 3:
            await asyncio.sleep(0.01)
            assert not task.done(), task
        task.cancel()

    asyncio.run(run())
