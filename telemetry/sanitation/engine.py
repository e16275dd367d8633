"""Live sanitation alerts: a working vehicle off its route's corridor, or over the route's speed
limit, for longer than ``alert_after_s`` (a minute), in event time. Only while the vehicle is in
service on a route (inside one of its working windows and in none of its banned windows, site
time) and never inside a depot (areas of kind ``depot``): a sweeper parked at the depot, or
driving home after its window, raises nothing. One state per vehicle; the alert opens once and
clears when the vehicle is back on its corridor and within the limit, out of service or at the
depot."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from telemetry.alerts.book import Alert, AlertBook
from telemetry.alerts.durable import change_of
from telemetry.derivation import Notice
from telemetry.records import AlertChange, VehicleFix
from telemetry.sanitation.corridors import Route, to_metric
from telemetry.sanitation.depots import Depot, in_any
from telemetry.sanitation.windows import in_service, local_minutes


@dataclass
class _Live:
    off_since_ms: int | None = None
    over_since_ms: int | None = None
    level: str = "ok"


@dataclass(frozen=True, slots=True)
class LiveChange:
    """A vehicle's alert opened, changed or cleared: what to announce and what to store."""

    notice: Notice
    record: AlertChange


class LiveRoutes:
    def __init__(
        self,
        routes: dict[str, Route],
        crs: str,
        alert_after_s: float,
        book: AlertBook,
        *,
        depots: tuple[Depot, ...] = (),
        tz_offset_min: int = 0,
        timezone: str | None = None,
    ) -> None:
        self._crs = crs
        self._after_ms = int(alert_after_s * 1000)
        self.book = book
        self._depots = depots
        self._tz = (tz_offset_min, timezone)
        self._of_vehicle: dict[str, list[Route]] = {}
        for r in routes.values():
            for v in r.vehicles:
                self._of_vehicle.setdefault(v, []).append(r)
        self._live: dict[str, _Live] = {}

    def restore(self, alert: Alert, since_ms: int | None) -> None:
        """An active alert known from the store (decision 85): its level, and since when its
        condition holds, so a vehicle still off route is not alerted again."""
        self.book.restore(alert)
        since = since_ms if since_ms is not None else alert.raised_at_ms - self._after_ms
        live = self._live[alert.subject] = _Live(level=alert.level)
        if alert.level == "off_route":
            live.off_since_ms = since
        else:
            live.over_since_ms = since

    def observe(self, fix: VehicleFix) -> Notice | None:
        """One fix; a notice when the vehicle's alert opens, changes or clears."""
        change = self.change(fix)
        return change.notice if change is not None else None

    def change(self, fix: VehicleFix) -> LiveChange | None:
        """One fix; the notice and the stored record when the vehicle's alert opens, changes or
        clears."""
        routes = self._of_vehicle.get(fix.vehicle)
        if routes is None:
            return None
        live = self._live.setdefault(fix.vehicle, _Live())
        x, y = (
            np.asarray(v) for v in to_metric(self._crs).transform(np.array([fix.lon]), np.array([fix.lat]))
        )
        minute = local_minutes(np.array([fix.time_ms / 1000.0]), *self._tz)
        serving = [r for r in routes if in_service(minute, r.windows, r.bans)[0]]
        at_depot = bool(self._depots) and bool(in_any(self._depots, x, y)[0])
        watched = fix.working is not False and bool(serving) and not at_depot
        inside = [r for r in serving if r.locate(x, y)[0][0] <= r.half_width_m] if watched else []
        off = watched and not inside
        over = watched and bool(inside) and fix.speed_kmh is not None and fix.speed_kmh > min(
            r.speed_limit_kmh for r in inside
        )  # fmt: skip
        live.off_since_ms = (live.off_since_ms or fix.time_ms) if off else None
        live.over_since_ms = (live.over_since_ms or fix.time_ms) if over else None
        level = (
            "off_route" if live.off_since_ms is not None and fix.time_ms - live.off_since_ms > self._after_ms
            else "overspeed"
            if live.over_since_ms is not None and fix.time_ms - live.over_since_ms > self._after_ms
            else "ok"
        )  # fmt: skip
        if level == live.level:
            return None
        live.level = level
        if level == "ok":
            why = (
                "at the depot" if at_depot
                else "out of its working window" if not serving
                else "brush off" if fix.working is False
                else "back on its corridor, within the limit"
            )  # fmt: skip
            alert = self.book.clear("sanitation", fix.vehicle, why, fix.time_ms)
        else:
            reason = "off its route's corridor for over a minute" if level == "off_route" else (
                f"{fix.speed_kmh:.0f} km/h over the limit for over a minute"
            )  # fmt: skip
            alert = self.book.raise_or_update("sanitation", fix.vehicle, level, reason, fix.time_ms)
        if alert is None:
            return None
        shown = "green" if level == "ok" else level
        payload = {"vehicle": fix.vehicle, "level": shown, "reason": alert.reason, "since": fix.time_ms,
                   "alert_id": alert.id, "lat": fix.lat, "lon": fix.lon}  # fmt: skip
        # MQTT only, as before the re-laid house: no webhook kind for sanitation yet
        since = live.off_since_ms if level == "off_route" else live.over_since_ms
        return LiveChange(
            Notice(f"alert/sanitation/{fix.vehicle}", None, shown, payload),
            change_of(alert, fix.time_ms, since),
        )
