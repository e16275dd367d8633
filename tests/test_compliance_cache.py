"""The compliance report off the event loop (issue 18, item 6): judged in worker processes, kept
per day, judged again when the day's fixes changed or on POST; GET never writes; the service
answers other requests while a day is judged. The judges in the workers are observed from outside
(tests/compliance_judges.py writes files); the writes at the pipeline's door."""

from __future__ import annotations

import functools
import threading
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi.testclient import TestClient

from api.runtime import Runtime
from telemetry.ports import Envelope
from telemetry.records import VehicleFix
from telemetry.sanitation.rules import Fixes
from tests.apps import app_client
from tests.compliance_judges import counted, gated
from tests.mqtt_util import wait_until
from tests.servers import Mosquitto
from tests.tracks import along

pytestmark = pytest.mark.integration
TOKENS = {"v": "viewer", "m": "manager"}
VIEWER = {"Authorization": "Bearer v"}
MANAGER = {"Authorization": "Bearer m"}
DATE = "2026-11-25"
NIGHT = int(datetime(2026, 11, 25, 2, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp() * 1000)
JOBS = 5  # vehicle-days of the sample routes: R01 SW001 SW002, R02 GT001, R03 SW003 SW004


def runtime(c: TestClient) -> Runtime:
    rt: Runtime = c.app.state.runtime  # type: ignore[attr-defined]
    return rt


def put_fixes(c: TestClient, vehicle: str, f: Fixes) -> None:
    """Store a track directly (the report reads the store, whatever brought the fixes)."""
    points = [
        VehicleFix(vehicle, "haishu", "sweeper", int(t), float(la), float(lo), speed_kmh=float(s),
                   hdop=0.8, working=bool(w)).to_point()
        for t, la, lo, s, w in zip(f.t_ms, f.lat, f.lon, f.speed_kmh, f.working, strict=True)
    ]  # fmt: skip
    assert c.portal is not None
    c.portal.call(runtime(c).store.write, points)


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def record_submits(c: TestClient) -> list[Envelope]:
    """Every envelope the sanitation routes hand to the pipeline from now on (passed through)."""
    rt = runtime(c)
    seen: list[Envelope] = []
    inner = rt.submit
    assert inner is not None

    async def submit(envelope: Envelope) -> Any:
        if envelope.source == "sanitation":
            seen.append(envelope)
        return await inner(envelope)

    rt.submit = submit
    return seen


def stored_points(c: TestClient) -> int:
    r = c.get("/api/v1/series/route_compliance", params={"field": "coverage_ratio"}, headers=VIEWER)
    return int(r.json()["count"])


def report(c: TestClient, **params: str) -> dict[str, Any]:
    r = c.get("/api/v1/sanitation/compliance", params={"date": DATE, **params}, headers=VIEWER)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_get_is_judged_once_per_state_of_the_day_and_never_writes(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    log = tmp_path / "judged.log"
    with app_client(mosquitto, tmp_path, TOKENS, "compliance-cache") as c:
        reports = runtime(c).compliance
        assert reports is not None
        reports.judge_fn = functools.partial(counted, str(log))
        submitted = record_submits(c)
        put_fixes(c, "SW001", along("R01", 6.0, NIGHT))

        first = report(c)
        assert len(lines(log)) == JOBS
        by = {(i["vehicle"], i["route"]): i for i in first["items"]}
        assert by[("SW001", "R01")]["compliant"] is True
        assert by[("SW002", "R01")]["fixes"] == 0
        assert report(c) == first  # the kept report: judged once
        assert report(c, vehicle="SW001")["items"] == [by[("SW001", "R01")]]
        csv_r = c.get(
            "/api/v1/sanitation/compliance", params={"date": DATE}, headers={**VIEWER, "Accept": "text/csv"}
        )
        assert csv_r.status_code == 200
        assert csv_r.text.count("\n") == len(first["items"]) + 1
        assert len(lines(log)) == JOBS
        assert submitted == []  # GET handed nothing to the pipeline: it never writes

        put_fixes(c, "SW002", along("R01", 14.0, NIGHT))  # new data for the day
        second = report(c)
        assert len(lines(log)) == 2 * JOBS  # judged again, once
        by = {(i["vehicle"], i["route"]): i for i in second["items"]}
        assert by[("SW002", "R01")]["fixes"] > 0
        assert by[("SW002", "R01")]["overspeed_ratio"] == 1.0
        assert report(c) == second
        assert len(lines(log)) == 2 * JOBS
        assert submitted == []

        denied = c.post("/api/v1/sanitation/compliance", params={"date": DATE}, headers=VIEWER)
        assert denied.status_code == 403
        posted = c.post("/api/v1/sanitation/compliance", params={"date": DATE}, headers=MANAGER)
        assert posted.status_code == 200, posted.text
        assert posted.json() == second  # the same shape and figures as GET
        assert len(lines(log)) == 3 * JOBS  # POST judges again, unchanged data or not
        assert len(submitted) == 1  # ... and writes the report
        wait_until(lambda: stored_points(c) > 0, 10, "route_compliance points")
        assert report(c) == second
        assert len(lines(log)) == 3 * JOBS


def test_the_service_answers_while_a_day_is_judged(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """A judgement held in its worker process by a gate: /healthz answers every time meanwhile,
    and the gate is opened by the test (not given up on by the judge)."""
    gate = tmp_path / "gate"
    gate.mkdir()
    with app_client(mosquitto, tmp_path, TOKENS, "compliance-loop") as c:
        reports = runtime(c).compliance
        assert reports is not None
        reports.judge_fn = functools.partial(gated, str(gate))
        put_fixes(c, "SW001", along("R01", 6.0, NIGHT))
        answer: dict[str, httpx.Response] = {}
        getter = threading.Thread(
            target=lambda: answer.update(
                r=c.get("/api/v1/sanitation/compliance", params={"date": DATE}, headers=VIEWER)
            )
        )
        getter.start()
        wait_until((gate / "started").exists, 30, "the judgement to start")
        answered = sum(c.get("/healthz").status_code == 200 for _ in range(5))
        (gate / "release").touch()
        getter.join(60)
        assert answered == 5
        assert not (gate / "timed-out").exists(), "the judge waited out its gate: the loop was blocked"
        assert answer["r"].status_code == 200, answer["r"].text
        assert {i["vehicle"] for i in answer["r"].json()["items"]} >= {"SW001", "GT001"}
