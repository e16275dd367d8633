"""The sensor fleet reports like fielded devices: gauges every 5 minutes dry and every minute wet,
GPS terminals every ``--gps-interval`` seconds, toilet counters as cumulative totals that reset
at local midnight (and wrap); and the service derives the right entries across the reset, end to
end over MQTT (real Mosquitto, real app). Simulated time is injected: every instant is fixed."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from api.cli import main
from simulators.devices import Rates, poisson
from simulators.scenarios import StormClock
from simulators.sensors import SensorFleet
from telemetry.toilets.rules import entries_between
from tests.apps import app_client
from tests.mqtt_util import publish_all, wait_until
from tests.servers import Mosquitto

ZONE = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=ZONE)  # 10:00 local, a fixed instant
Messages = list[tuple[str, dict[str, object]]]


def run(
    scenario: str, seconds: int, start: datetime = T0, step_s: float = 1.0, rates: Rates | None = None
) -> Messages:
    """Every message of ``seconds`` of simulated time, waking every ``step_s``."""
    fleet = SensorFleet("mqtt://127.0.0.1:1", scenario=scenario, seed=3, rates=rates)
    out: Messages = []
    for k in range(int(seconds / step_s)):
        out += fleet.tick(start + timedelta(seconds=k * step_s))
    return out


def times(messages: Messages, kind: str) -> dict[str, list[datetime]]:
    out: dict[str, list[datetime]] = defaultdict(list)
    for topic, payload in messages:
        _, _, k, device, _ = topic.split("/")
        if k == kind:
            out[device].append(datetime.fromisoformat(str(payload["ts"])))
    return out


def gaps_s(ts: list[datetime]) -> list[float]:
    return [(b - a).total_seconds() for a, b in itertools.pairwise(ts)]


def test_dry_gauges_report_every_five_minutes() -> None:
    gauges = times(run("normal", 3600), "gauge")
    assert sorted(gauges) == ["G01", "G02", "G03", "G04", "G05"]
    for ts in gauges.values():
        assert len(ts) == 12  # per gauge per hour: 60 / 5
        assert set(gaps_s(ts)) == {300.0}


def test_storm_gauges_report_every_minute_once_wet() -> None:
    messages = run("rainstorm", 60)  # a wall minute: G01's opening storm (60x), then its quiet clock
    g01 = [(datetime.fromisoformat(str(p["ts"])), float(p["depth_cm"])) for t, p in messages if "/G01/" in t]
    start = T0 + timedelta(seconds=StormClock(0).event_s)  # G01's storm clock: ~1 h behind
    assert g01[0][0] == start
    assert all(start <= ts < T0 for ts, _ in g01)  # one event hour, none from the future
    assert 30 <= len(g01) <= 48  # over its opening storm's 42 fast event minutes: vs 9 dry
    wet = [(a, b) for (a, da), (b, db) in itertools.pairwise(g01) if da >= 1.0 and db >= 1.0]
    dry = [(a, b) for (a, da), (b, db) in itertools.pairwise(g01) if da < 1.0 and db < 1.0]
    assert len(wet) >= 30
    assert {(b - a).total_seconds() for a, b in wet} == {60.0}
    assert {(b - a).total_seconds() for a, b in dry} <= {300.0}  # (dry: the test above)
    first_wet = next(ts for ts, d in g01 if d >= 1.0)  # water seen: reported at once, not 5 min on
    assert (first_wet - start).total_seconds() <= 4 * 60


@pytest.mark.parametrize("interval_s", [10.0, 15.0, 30.0])
def test_gps_terminals_honour_the_interval(interval_s: float) -> None:
    vehicles = times(run("sweepers", 300, rates=Rates(gps_interval_s=interval_s)), "vehicle")
    assert len(vehicles) == 5
    for ts in vehicles.values():
        assert set(gaps_s(ts)) == {interval_s}
        assert len(ts) == 300 // interval_s
    firsts = sorted(ts[0] for ts in vehicles.values())
    assert len(set(firsts)) == 5  # staggered over one interval: the map moves every few seconds
    assert (firsts[-1] - firsts[0]).total_seconds() < interval_s


def test_the_default_gps_interval_is_fifteen_seconds_and_the_wake_up_rate_does_not_change_it() -> None:
    fine = times(run("normal", 120, step_s=0.5), "vehicle")
    coarse = times(run("normal", 120, step_s=1.0), "vehicle")
    assert fine == coarse
    assert {g for ts in fine.values() for g in gaps_s(ts)} == {15.0}


def test_toilet_counters_send_cumulative_totals_that_reset_at_midnight() -> None:
    start = datetime(2026, 11, 25, 23, 30, tzinfo=ZONE)
    fleet = SensorFleet("mqtt://127.0.0.1:1", scenario="normal", seed=3)
    messages: Messages = []
    for k in range(3600):
        messages += fleet.tick(start + timedelta(seconds=k))
    by_toilet: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for topic, p in messages:
        if "/toilet/" in topic and topic.endswith("/telemetry"):
            assert "entries" not in p  # totals only: the service derives the entries
            by_toilet[topic.split("/")[3]].append(
                (datetime.fromisoformat(str(p["ts"])), int(str(p["total"])))
            )
    midnight = datetime(2026, 11, 26, tzinfo=ZONE)
    for counter in fleet.counters:
        reports = by_toilet[counter.id]
        stamps = [ts for ts, _ in reports]
        assert midnight - timedelta(milliseconds=1) in stamps  # the day's last total, that day
        regular = [ts for ts in stamps if ts.microsecond == 0]
        assert set(gaps_s(regular)) == {60.0}  # a total every minute
        totals = [n for _, n in reports]
        drops = [i for i in range(1, len(totals)) if totals[i] < totals[i - 1]]
        assert drops == [stamps.index(midnight - timedelta(milliseconds=1)) + 1]  # only the reset
        assert totals[0] > 100  # switched on at 23:30: the day's visitors are on the counter
        derived = sum(entries_between(a, b) for a, b in itertools.pairwise(totals))
        assert derived == counter.reported_entries > 0


def test_cleaners_check_in_on_rounds_that_keep_the_daily_minimum() -> None:
    events: dict[str, list[datetime]] = defaultdict(list)
    for topic, p in run("normal", 24 * 3600, step_s=60.0):
        if topic.endswith("/event"):
            assert (p["type"], p["by"]) == ("cleaned", "保洁员")
            events[topic.split("/")[3]].append(datetime.fromisoformat(str(p["ts"])))
    assert sorted(events) == ["T01", "T02", "T03"]
    assert set(gaps_s(events["T01"])) == {100 * 60.0}  # high traffic: within 120 min, 14 a day >= 4
    assert set(gaps_s(events["T03"])) == {200 * 60.0}  # medium: within 240 min, 7 a day >= 2


def test_a_counter_wraps_like_a_register() -> None:
    messages = run("toilet-rush", 1800, rates=Rates(counter_wrap=50))
    totals = [int(str(p["total"])) for t, p in messages if "/T01/telemetry" in t]
    assert max(totals) < 50
    assert any(b < a for a, b in itertools.pairwise(totals))


def test_poisson_arrivals_have_the_right_mean() -> None:
    rng = random.Random(1)
    for lam in (0.05, 1.0, 4.0, 80.0):
        mean = sum(poisson(rng, lam) for _ in range(4000)) / 4000
        assert abs(mean - lam) < 0.1 * lam + 0.02


def test_the_cli_refuses_a_bad_gps_interval(capsys: pytest.CaptureFixture[str]) -> None:
    for bad in ("0", "-5", "inf"):
        assert main(["simulate", "sensors", "--broker", "mqtt://127.0.0.1:1", "--gps-interval", bad]) == 2
        assert "gps_interval_s" in capsys.readouterr().err


@pytest.mark.integration
def test_the_service_derives_entries_across_the_midnight_reset(mosquitto: Mosquitto, tmp_path: Path) -> None:
    start = datetime(2026, 11, 25, 23, 45, tzinfo=ZONE)
    fleet = SensorFleet(mosquitto.url, scenario="normal", seed=9)
    toilet_messages: Messages = []
    for k in range(1800):  # 23:45 to 00:15, a wake-up a second
        toilet_messages += [m for m in fleet.tick(start + timedelta(seconds=k)) if "/toilet/" in m[0]]
    assert any(t.endswith("/event") for t, _ in toilet_messages)  # a cleaner's round came by
    auth = {"Authorization": "Bearer v"}
    with app_client(mosquitto, tmp_path, {"v": "viewer"}, "toilet-reset-test") as c:
        publish_all(mosquitto.url, toilet_messages)
        span = {"start": start.astimezone(UTC).isoformat(), "stop": (start + timedelta(hours=1)).isoformat()}

        def derived(toilet: str) -> int:
            params = {"device": toilet, "field": "entries", "fn": "sum", **span}
            rows = c.get("/api/v1/series/toilet_footfall", params=params, headers=auth).json()["items"]
            return int(rows[0]["entries"] or 0) if rows else -1

        def reports(toilet: str) -> int:
            params = {"device": toilet, "field": "entries", "fn": "count", **span}
            rows = c.get("/api/v1/series/toilet_footfall", params=params, headers=auth).json()["items"]
            return int(rows[0]["entries"] or 0) if rows else 0

        expected = {counter.id: counter.reported_entries for counter in fleet.counters}
        sent = {
            cid: sum(1 for t, _ in toilet_messages if t.endswith(f"/{cid}/telemetry")) for cid in expected
        }
        wait_until(lambda: all(reports(t) == n for t, n in sent.items()), 30, "every total stored")
        assert {t: derived(t) for t in expected} == expected
        assert all(n > 0 for n in expected.values())
        days = {}
        for date in ("2026-11-25", "2026-11-26"):
            r = c.get("/api/v1/toilets/metrics", params={"date": date}, headers=auth).json()
            days[date] = {m["toilet"]: m["entries"] for m in r["items"]}
        assert {t: days["2026-11-25"][t] + days["2026-11-26"][t] for t in expected} == expected
