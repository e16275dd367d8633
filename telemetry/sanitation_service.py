"""Sanitation at run time: live alerts from vehicle fixes (a working vehicle off its corridor,
or over the speed limit, for more than a minute), and the daily compliance report computed on
demand from the store and written back as ``route_compliance`` points."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from telemetry.alerts import AlertBook
from telemetry.compliance import Compliance, Fixes, Rules, Stop, judge
from telemetry.config import SanitationConfig
from telemetry.corridors import Route, load_routes, to_metric
from telemetry.ports import Envelope, Store
from telemetry.queries import SeriesQuery, SeriesRow
from telemetry.records import Decoded, Record, RouteCompliance, VehicleFix

Publish = Callable[[str, bytes], None]
_FIELDS = ("lat", "lon", "speed_kmh", "hdop", "working")


def _features(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    features: list[dict[str, object]] = json.loads(path.read_text(encoding="utf-8"))["features"]
    return features


@dataclass
class _Live:
    off_since_ms: int | None = None
    over_since_ms: int | None = None
    level: str = "ok"


class SanitationService:
    def __init__(
        self, cfg: SanitationConfig, assets_dir: str, book: AlertBook, root: str, tz_offset_min: int
    ) -> None:
        self._cfg = cfg
        self.routes: dict[str, Route] = load_routes(
            _features(Path(assets_dir) / "routes.geojson"), cfg.crs, cfg.half_width_m, cfg.segment_m
        )
        self.stops = self._stops(_features(Path(assets_dir) / "stops.geojson"))
        self.rules = Rules(
            cfg.crs, cfg.max_hdop, cfg.max_implied_kmh, cfg.gap_s, cfg.min_coverage, cfg.min_under_limit,
            cfg.min_working, cfg.max_overspeed_ratio, tz_offset_min,
        )  # fmt: skip
        self.book = book
        self._root = root
        self._of_vehicle: dict[str, list[Route]] = {}
        for r in self.routes.values():
            for v in r.vehicles:
                self._of_vehicle.setdefault(v, []).append(r)
        self._live: dict[str, _Live] = {}
        self._changes: asyncio.Queue[tuple[str, dict[str, object]]] = asyncio.Queue()
        self.publish: Publish | None = None

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

    # --- live alerts -----------------------------------------------------------------------
    def observe(self, messages: list[tuple[Record, ...]]) -> None:
        for records in messages:
            for r in records:
                if isinstance(r, VehicleFix) and r.vehicle in self._of_vehicle:
                    self._fix(r)

    def _fix(self, fix: VehicleFix) -> None:
        routes = self._of_vehicle[fix.vehicle]
        live = self._live.setdefault(fix.vehicle, _Live())
        x, y = to_metric(self._cfg.crs).transform(np.array([fix.lon]), np.array([fix.lat]))
        inside = [r for r in routes if r.locate(np.asarray(x), np.asarray(y))[0][0] <= r.half_width_m]
        working = fix.working is not False
        off = working and not inside
        over = working and bool(inside) and fix.speed_kmh is not None and fix.speed_kmh > min(
            r.speed_limit_kmh for r in inside
        )  # fmt: skip
        live.off_since_ms = (live.off_since_ms or fix.time_ms) if off else None
        live.over_since_ms = (live.over_since_ms or fix.time_ms) if over else None
        after = int(self._cfg.alert_after_s * 1000)
        level = (
            "off_route" if live.off_since_ms is not None and fix.time_ms - live.off_since_ms > after
            else "overspeed" if live.over_since_ms is not None and fix.time_ms - live.over_since_ms > after
            else "ok"
        )  # fmt: skip
        if level == live.level:
            return
        live.level = level
        if level == "ok":
            alert = self.book.clear(
                "sanitation", fix.vehicle, "back on its corridor, within the limit", fix.time_ms
            )
        else:
            reason = "off its route's corridor for over a minute" if level == "off_route" else (
                f"{fix.speed_kmh:.0f} km/h over the limit for over a minute"
            )  # fmt: skip
            alert = self.book.raise_or_update("sanitation", fix.vehicle, level, reason, fix.time_ms)
        if alert is not None:
            shown = "green" if level == "ok" else level
            payload = {"vehicle": fix.vehicle, "level": shown, "reason": alert.reason, "since": fix.time_ms,
                       "alert_id": alert.id, "lat": fix.lat, "lon": fix.lon}  # fmt: skip
            self._changes.put_nowait((fix.vehicle, payload))

    async def run(self) -> None:
        while True:
            vehicle, payload = await self._changes.get()
            if self.publish is not None:
                body = json.dumps(payload, ensure_ascii=False).encode()
                self.publish(f"{self._root}/alert/sanitation/{vehicle}", body)

    # --- the daily report ------------------------------------------------------------------
    async def report(
        self, store: Store, start_ms: int, stop_ms: int, vehicle: str | None = None
    ) -> list[Compliance]:
        results = []
        for route in self.routes.values():
            for v in route.vehicles:
                if vehicle not in (None, v):
                    continue
                rows = await store.query_series(
                    SeriesQuery("vehicle_position", _FIELDS, v, start_ms, stop_ms, limit=500_000)
                )
                results.append(judge(v, _fixes(rows), route, self.stops, self.rules))
        return results

    async def store_report(
        self, submit: Callable[[Envelope], Awaitable[None]], results: list[Compliance], day_ms: int
    ) -> None:
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


def _fixes(rows: list[SeriesRow]) -> Fixes:
    cols: dict[str, list[float]] = {f: [] for f in _FIELDS}
    times = []
    for r in rows:
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
