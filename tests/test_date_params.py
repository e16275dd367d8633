"""Every date and time parameter of the HTTP API at its extremes (issue 18, item 8), against the
real app (embedded store, MQTT collector on a real Mosquitto): year 1 and 9999, 1970 and the
epoch's neighbours, leap days, the stored range's ends (int64 nanoseconds: 1677-09-21 to
2262-04-11), offsets of ±23:59, and text that is no date. Each answers 400 with the error body or a
valid result, never a 500; and a local day (Asia/Shanghai) holds exactly the points from its local
midnight up to the next one.

Routes: ``date`` of sanitation compliance, toilet metrics (all and one) and the missions list;
``start``/``stop``/``every`` of the series; ``from``/``to`` of the audit records."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from api.errors import ApiError
from api.params import MAX_MS, day_bounds, iso, parse_time_ms
from telemetry.points import Point
from tests.apps import app_client
from tests.servers import Mosquitto

pytestmark = [pytest.mark.integration]
H = {"Authorization": "Bearer date-admin"}
SITE = "Asia/Shanghai"
EXTREMES = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)  # one app serves every example: they only read (or write points of their own device)

EDGE_DAYS = [
    date(1, 1, 1), date(9999, 12, 31), date(9999, 12, 30), date(1970, 1, 1), date(1969, 12, 31),
    date(2024, 2, 29), date(2000, 2, 29), date(1677, 9, 21), date(1677, 9, 22), date(2262, 4, 10),
    date(2262, 4, 11), date(2262, 4, 12), date(1986, 5, 4), date(1986, 9, 14),  # China's DST days
]  # fmt: skip
WHOLE_HOUR_DAYS = [d for d in EDGE_DAYS if d.year >= 1901]
NOT_DAYS = [
    "2023-02-29", "1900-02-29", "0000-01-01", "10000-01-01", "2024-13-01", "2024-00-10", "+2024-01-01",
    "2024-1-1", "\uff12\uff10\uff12\uff14-01-01", "2024-01-01T00:00", "2024-W01-1", "20240101", " 2024-01-01",
]  # fmt: skip
days = st.one_of(st.sampled_from(EDGE_DAYS).map(date.isoformat), st.dates().map(date.isoformat))
any_day = st.one_of(days, st.sampled_from(NOT_DAYS), st.text(max_size=12))
ZONES = [
    UTC,
    ZoneInfo(SITE),
    timezone(timedelta(hours=23, minutes=59)),
    timezone(-timedelta(hours=23, minutes=59)),
]
EDGE_INSTANTS = [
    "0001-01-01T00:00:00+00:00", "0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00-23:59",
    "9999-12-31T23:59:59.999999-23:59", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59.999+23:59",
    "1970-01-01T00:00:00Z", "1969-12-31T23:59:59.999Z", "-1", "0", "1", "9223372036854", "9223372036855",
    "-9223372036854", "-9223372036855", "9999999999999999", "-9999999999999999", "2024-02-29T16:00:00Z",
    "2024-02-29T00:00:00+08:00", "2024-02-28T23:59:59.999+08:00", "2262-04-11T23:47:16.854Z",
    "2262-04-11T23:47:16.855Z", "1677-09-21T00:12:43.145Z", "1677-09-21T00:12:43.146Z", "2024-02-29T00:00:00",
]  # fmt: skip
instants = st.one_of(
    st.sampled_from(EDGE_INSTANTS),
    st.datetimes(timezones=st.sampled_from(ZONES)).map(datetime.isoformat),
    st.integers(-(10**16) + 1, 10**16 - 1).map(str),
    st.text(max_size=30),
)
durations = st.sampled_from(["", "1ms", "1h", "1d", "1w", "999999999w", "999999999d", "0", "1y"])


@pytest.fixture
def client(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[TestClient]:
    with app_client(mosquitto, tmp_path, {"date-admin": "admin"}, "dates", api={"rate_limit_per_s": 0}) as c:
        yield c


def _answer(r: httpx.Response) -> Any:
    """The body of a 200, or None for a 400 with the error body; anything else fails."""
    assert r.status_code in (200, 400), (r.status_code, r.text)
    body = r.json()
    if r.status_code == 400:
        assert set(body["error"]) == {"code", "message"}
        return None
    return body


@EXTREMES
@given(day=any_day)
@example(day="9999-12-31")  # answered 500: the day after overflowed
@example(day="0001-01-01")
def test_every_date_parameter_answers_400_or_a_day(client: TestClient, day: str) -> None:
    for path in ("/api/v1/sanitation/compliance", "/api/v1/toilets/metrics", "/api/v1/toilets/T01/metrics"):
        body = _answer(client.get(path, params={"date": day}, headers=H))
        if body is None:
            continue
        items = [body] if path.endswith("T01/metrics") else body["items"]
        assert "items" not in body or body["count"] == len(items)
        for item in items if "toilets" in path else []:
            assert item["date"] == day
            assert len(item["entries_per_hour"]) == 24
    missions = _answer(client.get("/api/v1/missions", params={"date": day}, headers=H))
    assert missions is None or isinstance(missions, list)


@EXTREMES
@given(start=instants, stop=instants, every=durations)
@example(start="9999-12-31T23:59:59.999+23:59", stop="9999-12-31T23:59:59-23:59", every="1d")
@example(start="-9999999999999999", stop="9999999999999999", every="999999999w")
def test_every_time_parameter_answers_400_or_a_series(
    client: TestClient, start: str, stop: str, every: str
) -> None:
    params = {"start": start, "stop": stop, "every": every, "device": "G01"}
    series = _answer(client.get("/api/v1/series/water_depth", params=params, headers=H))
    assert series is None or series["count"] == len(series["items"])
    audit = _answer(client.get("/api/v1/audit", params={"from": start, "to": stop}, headers=H))
    assert audit is None or audit["count"] == len(audit["items"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(day=st.one_of(st.sampled_from(WHOLE_HOUR_DAYS), st.dates(date(1901, 1, 1), date(2262, 4, 10))))
@example(day=date(1970, 1, 1))
@example(day=date(2024, 2, 29))
def test_a_local_day_holds_exactly_its_own_points(client: TestClient, day: date) -> None:
    """Points at the last millisecond before local midnight, at midnight, at the day's last
    millisecond and at the next midnight: the day counts the middle two, in its first and last hour.

    From 1901: before it Asia/Shanghai keeps local mean time (+08:05:43), and the hourly windows
    (UTC hours, routes_toilets.py) do not start at a local midnight that is no whole hour."""
    try:
        start, stop = day_bounds(day.isoformat(), SITE)
    except ApiError:  # outside the stored range: the other tests check the 400
        return
    toilet = f"E{day.isoformat()}"  # a device of its own: examples never share a point
    entries = {start - 1: 1000, start: 1, stop - 1: 10, stop: 100}
    points = [
        Point.make("toilet_footfall", {"toilet": toilet}, {"entries": n}, t) for t, n in entries.items()
    ]
    client.portal.call(client.app.state.runtime.store.write, points)  # type: ignore[attr-defined,union-attr]
    body = _answer(
        client.get(f"/api/v1/toilets/{toilet}/metrics", params={"date": day.isoformat()}, headers=H)
    )
    assert body is not None
    per_hour = body["entries_per_hour"]
    assert body["entries"] == 11, body
    assert per_hour[0] == 1, per_hour
    assert per_hour[23] == 10, per_hour  # the local clock's last hour, also on a 23- or 25-hour day


@pytest.mark.parametrize(
    ("value", "ms"),
    [("9223372036854", 9223372036854), ("-9223372036854", -9223372036854), ("1970-01-01T08:00:00+08:00", 0)],
)
def test_the_stored_range_is_accepted_to_its_last_millisecond(value: str, ms: int) -> None:
    assert parse_time_ms(value, "start") == ms


@pytest.mark.parametrize(
    "value", ["9223372036855", "-9223372036855", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z"]
)
def test_an_instant_past_what_the_store_holds_is_a_400(value: str) -> None:
    """InfluxDB keeps int64 nanoseconds: a query past them fails in the store, not in the request."""
    with pytest.raises(ApiError) as exc:
        parse_time_ms(value, "start")
    assert exc.value.status == 400


def test_instants_print_exactly() -> None:
    assert iso(253402300799999) == "9999-12-31T23:59:59.999Z"  # a float made it .998
    assert iso(MAX_MS) == "2262-04-11T23:47:16.854Z"
    assert iso(-1) == "1969-12-31T23:59:59.999Z"
