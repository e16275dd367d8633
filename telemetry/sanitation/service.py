"""The sanitation derivation: live alerts from vehicle fixes (:mod:`telemetry.sanitation.engine`,
published retained on ``{root}/alert/sanitation/{vehicle}``), and the daily compliance report
computed from the store (per vehicle and route, and per route over all its vehicles), each
vehicle-day judged by an ``offload`` the caller chooses (a worker process in the service:
``api/compliance_reports.py``), and written back as ``route_compliance`` points on request."""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import numpy as np

from telemetry.alerts.book import AlertBook
from telemetry.alerts.durable import active_alerts
from telemetry.config import SanitationConfig
from telemetry.derivation import NOTHING, Derived, Submit
from telemetry.ports import Envelope, Store
from telemetry.queries import SeriesQuery, SeriesRow
from telemetry.records import Decoded, Record, RouteCompliance, VehicleFix
from telemetry.sanitation.corridors import Route, load_routes, to_metric
from telemetry.sanitation.depots import Depot, load_depots
from telemetry.sanitation.engine import LiveRoutes
from telemetry.sanitation.rules import Compliance, Fixes, RouteVerdict, Rules, Stop, judge, judge_route

_FIELDS = ("lat", "lon", "speed_kmh", "hdop", "working")
READ_WINDOW_MS = 3_600_000
Job = functools.partial[Compliance]  # one vehicle-day: ``judge`` with its (picklable) arguments
Offload = Callable[[Job], Awaitable[Compliance]]
JudgeFn = Callable[[str, Fixes, Route, list[Stop], Rules, tuple[Depot, ...]], Compliance]


async def in_thread(job: Job) -> Compliance:
    """The default offload: a worker thread (never the event loop)."""
    return await asyncio.to_thread(job)


def _features(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    features: list[dict[str, object]] = json.loads(path.read_text(encoding="utf-8"))["features"]
    return features


class SanitationService:
    name = "sanitation"

    def __init__(
        self,
        cfg: SanitationConfig,
        assets_dir: str,
        book: AlertBook,
        tz_offset_min: int,
        *,
        timezone: str | None = None,
    ) -> None:
        """``tz_offset_min`` places the routes' windows in site time; with ``timezone`` (the
        IANA name of ``[site] timezone``) the offset at each fix is used instead (daylight saving)."""
        self._cfg = cfg
        folder = Path(assets_dir)
        self.routes: dict[str, Route] = load_routes(
            _features(folder / "routes.geojson"), cfg.crs, cfg.half_width_m, cfg.segment_m
        )
        self.stops = self._stops(_features(folder / "stops.geojson"))
        self.depots = load_depots(_features(folder / "areas.geojson"), cfg.crs)
        self.rules = Rules(
            crs=cfg.crs, max_hdop=cfg.max_hdop, max_implied_kmh=cfg.max_implied_kmh, gap_s=cfg.gap_s,
            min_coverage=cfg.min_coverage, min_under_limit=cfg.min_under_limit, min_working=cfg.min_working,
            max_overspeed_ratio=cfg.max_overspeed_ratio, tz_offset_min=tz_offset_min, timezone=timezone,
            jitter_m=cfg.jitter_m, bridge=cfg.bridge_ratio, speed_baseline_s=cfg.speed_baseline_s,
            approach_m=cfg.approach_m,
        )  # fmt: skip
        self.live = LiveRoutes(
            self.routes, cfg.crs, cfg.alert_after_s, book, depots=self.depots, tz_offset_min=tz_offset_min,
            timezone=timezone,
        )  # fmt: skip
        self.tick_interval_s: float | None = None

    def _stops(self, features: list[dict[str, object]]) -> list[Stop]:
        out = []
        for f in features:
            props, geom = f["properties"], f["geometry"]
            assert isinstance(props, dict)
            assert isinstance(geom, dict)
            lon, lat = geom["coordinates"]
            x, y = to_metric(self._cfg.crs).transform(lon, lat)
            radius = float(props.get("radius_m") or self._cfg.stop_radius_m)
            dwell = float(props.get("min_dwell_s") or self._cfg.stop_min_dwell_s)
            out.append(Stop(str(props["id"]), str(props.get("route", "")), float(x), float(y), radius, dwell))
        return out

    async def restore(self, store: Store, now_ms: int) -> None:
        """Each vehicle's active live alert from its last ``alert`` point (decision 85), with its
        id, raise time, acknowledgement and since when the vehicle is off route or too fast."""
        for stored in await active_alerts(store, ("sanitation",)):
            self.live.restore(stored.alert, stored.since_ms)

    def observe(self, messages: Sequence[tuple[Record, ...]], now_ms: int) -> Derived:
        changes = [
            change
            for records in messages
            for r in records
            if isinstance(r, VehicleFix) and (change := self.live.change(r)) is not None
        ]
        if not changes:
            return NOTHING
        return Derived(tuple(c.record for c in changes), tuple(c.notice for c in changes))

    def tick(self, now_ms: int) -> Derived:
        return NOTHING

    # --- the daily report ------------------------------------------------------------------
    async def report(
        self, store: Store, start_ms: int, stop_ms: int, vehicle: str | None = None
    ) -> list[Compliance]:
        """One row per vehicle and route it is assigned to (``vehicle``: only that one's)."""
        return (await self.judge_day(store, start_ms, stop_ms, vehicle))[0]

    async def judge_day(
        self,
        store: Store,
        start_ms: int,
        stop_ms: int,
        vehicle: str | None = None,
        *,
        offload: Offload = in_thread,
        judge_fn: JudgeFn = judge,
    ) -> tuple[list[Compliance], list[RouteVerdict]]:
        """The rows of :meth:`report`, and each route they are on judged on the union of the
        valid passes of all its vehicles (with ``vehicle``, its routes, still over all of theirs).
        The fixes are read here, turned into arrays in a thread and judged by ``offload``: nothing
        proportional to the fixes runs on the event loop."""
        routes = [r for r in self.routes.values() if vehicle is None or vehicle in r.vehicles]
        rows = []
        for route in routes:
            for v in route.vehicles:  # one vehicle's day at a time: a day at 1 Hz is 86,400 fixes
                fixes = await _read_fixes(store, v, start_ms, stop_ms)
                job = functools.partial(judge_fn, v, fixes, route, self.stops, self.rules, self.depots)
                rows.append(await offload(job))
        verdicts = [judge_route(r, rows, self.stops) for r in routes]
        return [c for c in rows if vehicle in (None, c.vehicle)], verdicts

    async def day_version(self, store: Store, start_ms: int, stop_ms: int) -> int:
        """How many fixes the store holds for the day: a report judged at another count is out
        of date (a cheap aggregate, one row)."""
        found = await store.query_series(
            SeriesQuery("vehicle_position", ("lat",), None, start_ms, stop_ms, fn="count")
        )
        return sum(int(v or 0) for r in found for _, v in r.values if isinstance(v, int | float))

    async def store_report(self, submit: Submit, results: list[Compliance], day_ms: int) -> None:
        records: list[Record] = []
        for c in results:
            records.append(
                RouteCompliance(
                    c.vehicle,
                    c.route,
                    day_ms,
                    None,
                    c.coverage_ratio,
                    c.valid_passes,
                    c.planned_passes,
                    c.overspeed_ratio,
                    c.off_route_s,
                    c.gap_s,
                    round(c.valid_km, 3),
                )
            )
            records += [
                RouteCompliance(
                    c.vehicle,
                    c.route,
                    day_ms,
                    seg,
                    min(valid, c.planned_passes) / max(c.planned_passes, 1),
                    valid,
                    c.planned_passes,
                )
                for seg, _passes, valid in c.segment_passes
            ]
        if records:
            await submit(Envelope("sanitation", Decoded(records=tuple(records))))


async def _read_fixes(store: Store, vehicle: str, start_ms: int, stop_ms: int) -> Fixes:
    """A vehicle's fixes, read an hour at a time (a store builds each answer's rows on the event
    loop: a day at 1 Hz in one answer held it for ~0.5 s) and made arrays in a thread."""
    parts = []
    for t in range(start_ms, stop_ms, READ_WINDOW_MS):
        query = SeriesQuery(
            "vehicle_position", _FIELDS, vehicle, t, min(t + READ_WINDOW_MS, stop_ms), limit=500_000
        )
        parts.append(await store.query_series(query))
    return await asyncio.to_thread(_fixes, parts)


def _fixes(parts: list[list[SeriesRow]]) -> Fixes:
    cols: dict[str, list[float]] = {f: [] for f in _FIELDS}
    times = []
    for r in itertools.chain.from_iterable(parts):
        values = dict(r.values)
        if values.get("lat") is None or values.get("lon") is None:
            continue
        times.append(r.time_ms)
        for f in _FIELDS:
            v = values.get(f)
            cols[f].append(float(v) if v is not None else float("nan"))
    arrays = {f: np.array(cols[f]) for f in _FIELDS}
    return Fixes(
        np.array(times, dtype=np.int64),
        arrays["lon"],
        arrays["lat"],
        arrays["speed_kmh"],
        arrays["hdop"],
        arrays["working"],
    )
