"""Each public toilet's state (DOMAIN.md, toilets): counter totals and entries of the last day,
the last cleaning, and the alerts it opens and closes (cleaning overdue, air, surge), using the
pure checks of :mod:`telemetry.toilets.rules`. Redelivered messages (same toilet and timestamp)
are counted once. Used from the event loop only."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from telemetry.alerts.book import Alert, AlertBook
from telemetry.config import ToiletsConfig
from telemetry.derivation import Notice
from telemetry.records import Record, ToiletEvent, ToiletReading
from telemetry.toilets.rules import (
    DAY_MS,
    ToiletInfo,
    air_exceeded,
    air_limits,
    cleaning_due,
    entries_between,
    surge_limit,
)


@dataclass(frozen=True, slots=True)
class ToiletChange:
    """An alert raised or cleared: ``kind`` toilet (cleaning), toilet_air or toilet_surge."""

    toilet: str
    kind: str
    alert: Alert
    time_ms: int

    def topic_suffix(self) -> str:
        return {"toilet": "cleaning", "toilet_air": "air", "toilet_surge": "surge"}[self.kind]

    def message(self) -> dict[str, object]:
        a = self.alert
        level = a.level if a.state == "active" else "green"
        return {"toilet": self.toilet, "type": self.topic_suffix(), "level": level, "reason": a.reason,
                "since": a.raised_at_ms, "alert_id": a.id}  # fmt: skip

    def notice(self) -> Notice:
        """Retained on ``{root}/alert/toilet/{id}/{type}``, posted to the toilet webhooks."""
        return Notice(f"alert/toilet/{self.toilet}/{self.topic_suffix()}", "toilet", self.alert.level,
                      self.message())  # fmt: skip


@dataclass
class _Toilet:
    info: ToiletInfo
    totals: list[tuple[int, int]] = field(default_factory=list)  # (time, total), sorted, last day
    entries: list[tuple[int, int]] = field(default_factory=list)  # (time, entries), sorted, last day
    last_cleaned_ms: int | None = None  # None: no cleaning known (entries of the last day count)
    clock_from_ms: int = 0  # the cleaning timer runs from the last cleaning, or from start-up
    overdue: bool = False


class ToiletEngine:
    def __init__(
        self, cfg: ToiletsConfig, book: AlertBook, info: dict[str, ToiletInfo], start_ms: int
    ) -> None:
        self._cfg = cfg
        self.book = book
        self._info = info
        self._start_ms = start_ms
        self._toilets: dict[str, _Toilet] = {}

    def _toilet(self, toilet: str) -> _Toilet:
        t = self._toilets.get(toilet)
        if t is None:
            t = self._toilets[toilet] = _Toilet(
                self._info.get(toilet, ToiletInfo()), clock_from_ms=self._start_ms
            )
        return t

    # --- restore ---------------------------------------------------------------------------
    def restore_cleaned(self, toilet: str, time_ms: int) -> None:
        t = self._toilet(toilet)
        t.last_cleaned_ms = max(t.last_cleaned_ms or 0, time_ms)
        t.clock_from_ms = t.last_cleaned_ms

    def restore_overdue(self, alert: Alert) -> None:
        self._toilet(alert.subject).overdue = True
        self.book.restore(alert)

    def warm(self, r: ToiletReading) -> None:
        """A stored reading at start-up: counts and totals only, no alert."""
        t = self._toilet(r.toilet)
        if r.total is not None:
            self._add_total(t, r, [])
        if r.entries is not None:
            self._add_entries(t, r.time_ms, r.entries)

    # --- observing -------------------------------------------------------------------------
    def observe(self, records: tuple[Record, ...], now_ms: int) -> tuple[list[Record], list[ToiletChange]]:
        """Returns the derived records to store and the alert changes of one message."""
        points: list[Record] = []
        changes: list[ToiletChange] = []
        for r in records:
            if isinstance(r, ToiletReading):
                points += self._reading(r, changes)
            elif isinstance(r, ToiletEvent) and r.type == "cleaned":
                self._cleaned(r, changes)
        return points, changes

    def _reading(self, r: ToiletReading, changes: list[ToiletChange]) -> list[Record]:
        t = self._toilet(r.toilet)
        points: list[Record] = []
        entries = r.entries
        if r.total is not None:
            derived = self._add_total(t, r, points)
            entries = entries if entries is not None else derived
        if entries is not None:
            self._add_entries(t, r.time_ms, entries)
            self._surge(r.toilet, t, r.time_ms, changes)
        self._air(r, t, changes)
        return points

    def _add_total(self, t: _Toilet, r: ToiletReading, points: list[Record]) -> int | None:
        times = [x[0] for x in t.totals]
        i = bisect.bisect_left(times, r.time_ms)
        if i < len(times) and times[i] == r.time_ms:
            return None  # a redelivered message: counted already
        t.totals.insert(i, (r.time_ms, r.total or 0))
        del t.totals[: max(0, len(t.totals) - 2000)]
        own = self._difference(t, i)
        if i + 1 < len(t.totals) and r.entries is None:  # a late reading changes its successor's delta
            nxt_t, _ = t.totals[i + 1]
            fixed = self._difference(t, i + 1) or 0
            self._add_entries(t, nxt_t, fixed)
            points.append(ToiletReading(r.toilet, r.district, nxt_t, entries=fixed))
        if r.entries is None:
            points.append(ToiletReading(r.toilet, r.district, r.time_ms, entries=own or 0))
        return own

    @staticmethod
    def _difference(t: _Toilet, i: int) -> int | None:
        if i == 0:
            return None  # the first total we know: a baseline, not entries
        return entries_between(t.totals[i - 1][1], t.totals[i][1])

    def _add_entries(self, t: _Toilet, time_ms: int, entries: int) -> None:
        times = [x[0] for x in t.entries]
        i = bisect.bisect_left(times, time_ms)
        if i < len(times) and times[i] == time_ms:  # the same point again: it replaces (as stored)
            t.entries[i] = (time_ms, entries)
            return
        t.entries.insert(i, (time_ms, entries))
        horizon = t.entries[-1][0] - DAY_MS
        while t.entries and t.entries[0][0] < horizon:
            t.entries.pop(0)

    def entries_since_clean(self, toilet: str) -> int:
        t = self._toilet(toilet)
        since = t.last_cleaned_ms if t.last_cleaned_ms is not None else -1
        return sum(n for time_ms, n in t.entries if time_ms > since)

    def _surge(self, toilet: str, t: _Toilet, time_ms: int, changes: list[ToiletChange]) -> None:
        capacity = t.info.capacity_per_15min
        if not capacity:
            return
        window = int(self._cfg.surge_window_s * 1000)
        recent = sum(n for ts, n in t.entries if time_ms - window < ts <= time_ms)
        limit = surge_limit(self._cfg, capacity)
        if recent > limit:
            reason = f"{recent} entries in {self._cfg.surge_window_s / 60:.0f} min (capacity {capacity})"
            self._raise("toilet_surge", toilet, "surge", reason, time_ms, changes)
        else:
            self._clear("toilet_surge", toilet, f"{recent} entries in the window", time_ms, changes)

    def _air(self, r: ToiletReading, t: _Toilet, changes: list[ToiletChange]) -> None:
        if r.nh3_mg_m3 is None and r.h2s_mg_m3 is None:
            return
        over = air_exceeded(r, air_limits(self._cfg, t.info.toilet_class))
        if over:
            self._raise("toilet_air", r.toilet, "exceeded", ", ".join(over), r.time_ms, changes)
        else:
            self._clear("toilet_air", r.toilet, "back under the limits", r.time_ms, changes)

    def limits(self, toilet: str) -> tuple[float, float]:
        """(NH3, H2S) limits of the toilet's class, mg/m³."""
        return air_limits(self._cfg, self._toilet(toilet).info.toilet_class)

    def _cleaned(self, e: ToiletEvent, changes: list[ToiletChange]) -> None:
        t = self._toilet(e.toilet)
        if t.last_cleaned_ms is not None and e.time_ms <= t.last_cleaned_ms:
            return
        t.last_cleaned_ms = e.time_ms
        t.clock_from_ms = e.time_ms
        t.overdue = False
        self._clear("toilet", e.toilet, f"cleaned{' by ' + e.by if e.by else ''}", e.time_ms, changes)

    # --- the cleaning timer ----------------------------------------------------------------
    def check_due(self, now_ms: int) -> tuple[list[Record], list[ToiletChange]]:
        points: list[Record] = []
        changes: list[ToiletChange] = []
        for toilet, t in self._toilets.items():
            if t.overdue:
                continue
            entries = self.entries_since_clean(toilet)
            late_min = (now_ms - t.clock_from_ms) / 60_000
            if cleaning_due(self._cfg, t.info.traffic, entries, late_min):
                t.overdue = True
                reason = f"{entries} entries and {late_min:.0f} min since the last cleaning"
                self._raise("toilet", toilet, "overdue", reason, now_ms, changes)
                district = self._info.get(toilet, ToiletInfo()).district
                points.append(ToiletEvent(toilet, district, now_ms, "overdue", "system"))
        return points, changes

    def known(self) -> list[str]:
        return sorted(self._toilets)

    def overdue(self, toilet: str) -> bool:
        return self._toilet(toilet).overdue

    def _raise(
        self, kind: str, toilet: str, level: str, reason: str, time_ms: int, out: list[ToiletChange]
    ) -> None:
        if self.book.active(kind, toilet) is None:
            out.append(
                ToiletChange(
                    toilet, kind, self.book.raise_or_update(kind, toilet, level, reason, time_ms), time_ms
                )
            )

    def _clear(self, kind: str, toilet: str, reason: str, time_ms: int, out: list[ToiletChange]) -> None:
        alert = self.book.clear(kind, toilet, reason, time_ms)
        if alert is not None:
            out.append(ToiletChange(toilet, kind, alert, time_ms))
