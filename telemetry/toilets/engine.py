"""Each public toilet's state (DOMAIN.md, toilets): counter totals and entries of the last day,
the cleanings of the last days, the last report, and the alerts it opens and closes (cleaning
overdue, air, surge, silent, daily minimum missed), using the pure checks of
:mod:`telemetry.toilets.rules`. Every registered toilet is known from start-up, so its timers run
whether it reports or not. Redelivered messages (same toilet and timestamp) are counted once.
The clock is the caller's (``now_ms``). Used from the event loop only."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import date, timedelta
from zoneinfo import ZoneInfo

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
    daily_minimum,
    day_span_ms,
    entries_between,
    is_silent,
    local_day,
    minimum_missed,
    open_ms_between,
    surge_limit,
)

TOPIC_OF_KIND = {"toilet": "cleaning", "toilet_air": "air", "toilet_surge": "surge",
                 "toilet_silent": "silent", "toilet_daily": "daily"}  # fmt: skip
"""Alert kind → the last level of its topic ``{root}/alert/toilet/{id}/{type}``."""
KEEP_CLEANINGS_MS = 3 * DAY_MS  # cleanings kept to judge yesterday and today


@dataclass(frozen=True, slots=True)
class ToiletChange:
    """An alert raised or cleared; ``kind`` one of :data:`TOPIC_OF_KIND`."""

    toilet: str
    kind: str
    alert: Alert
    time_ms: int

    def topic_suffix(self) -> str:
        return TOPIC_OF_KIND[self.kind]

    def message(self) -> dict[str, object]:
        a = self.alert
        level = a.level if a.state == "active" else "green"
        return {"toilet": self.toilet, "type": self.topic_suffix(), "level": level, "reason": a.reason,
                "since": a.raised_at_ms, "alert_id": a.id}  # fmt: skip

    def notice(self) -> Notice:
        """Retained on ``{root}/alert/toilet/{id}/{type}``, posted to the toilet webhooks."""
        return Notice(f"alert/toilet/{self.toilet}/{self.topic_suffix()}", "toilet", self.alert.level,
                      self.message())  # fmt: skip


def _time(point: tuple[int, int]) -> int:
    return point[0]


@dataclass
class _Toilet:
    info: ToiletInfo
    totals: list[tuple[int, int]] = field(default_factory=list)  # (time, total), sorted, last day
    entries: list[tuple[int, int]] = field(default_factory=list)  # (time, entries), sorted, last day
    last_cleaned_ms: int | None = None  # None: no cleaning known (entries of the last day count)
    clock_from_ms: int = 0  # the cleaning timer runs from the last cleaning, or from start-up
    overdue: bool = False
    last_report_ms: int = 0  # the silence timer: the last reading received, or start-up
    cleanings: list[int] = field(default_factory=list)  # times of distinct cleanings, sorted
    missed_day: date | None = None  # the day whose missed minimum is the active alert


class ToiletEngine:
    def __init__(
        self,
        cfg: ToiletsConfig,
        book: AlertBook,
        info: dict[str, ToiletInfo],
        start_ms: int,
        *,
        zone: ZoneInfo,
    ) -> None:
        self._cfg = cfg
        self.book = book
        self._info = info
        self._start_ms = start_ms
        self._zone = zone
        self._toilets: dict[str, _Toilet] = {}
        for toilet in info:  # every registered toilet is timed from start, silent or not
            self._toilet(toilet)
        # Days up to this one are judged; a day is judged only when the toilets were watched
        # from its start (``observed_from_ms``: start-up, or the oldest stored toilet point).
        self._judged_through = local_day(start_ms, zone) - timedelta(days=2)
        self._observed_from_ms = start_ms

    def _toilet(self, toilet: str) -> _Toilet:
        t = self._toilets.get(toilet)
        if t is None:
            t = self._toilets[toilet] = _Toilet(
                self._info.get(toilet, ToiletInfo()),
                clock_from_ms=self._start_ms,
                last_report_ms=self._start_ms,
            )
        return t

    # --- restore ---------------------------------------------------------------------------
    def restore_cleaned(self, toilet: str, time_ms: int) -> None:
        """A stored cleaning: the timer runs from the last one; each counts for its day."""
        t = self._toilet(toilet)
        self._add_cleaning(t, time_ms)
        t.last_cleaned_ms = max(t.last_cleaned_ms or 0, time_ms)
        t.clock_from_ms = t.last_cleaned_ms

    def restore_overdue(self, alert: Alert) -> None:
        self._toilet(alert.subject).overdue = True
        self.book.restore(alert)

    def restore_report(self, toilet: str, time_ms: int) -> None:
        """The last stored reading: silence is counted from it."""
        self._toilet(toilet).last_report_ms = time_ms

    def restore_alert(self, alert: Alert, missed_day: date | None = None) -> None:
        """An active silent or daily-minimum alert known from the store."""
        if missed_day is not None:
            self._toilet(alert.subject).missed_day = missed_day
        self.book.restore(alert)

    def restore_observed_from(self, time_ms: int) -> None:
        """The store holds toilet data from before ``time_ms``: days from then on were watched
        and are judged."""
        self._observed_from_ms = min(self._observed_from_ms, time_ms)

    def warm(self, readings: tuple[ToiletReading, ...]) -> list[Record]:
        """Stored readings of the last day: totals and entries only, no alert rule runs. Returns
        the entries of stored totals that were never written (a crash between a reading's write
        and its derived entries' write: decision 36), to be stored now."""
        missing: list[Record] = []
        for r in readings:
            t = self._toilet(r.toilet)
            entries = r.entries
            if r.total is not None:
                derived = self._add_total(t, r, [])
                if entries is None and derived is not None:
                    missing.append(
                        ToiletReading(r.toilet, r.district or t.info.district, r.time_ms, entries=derived)
                    )
                entries = entries if entries is not None else derived
            if entries is not None:
                self._add_entries(t, r.time_ms, entries)
        return missing

    # --- observing -------------------------------------------------------------------------
    def observe(self, records: tuple[Record, ...], now_ms: int) -> tuple[list[Record], list[ToiletChange]]:
        """Returns the derived records to store and the alert changes of one message."""
        points: list[Record] = []
        changes: list[ToiletChange] = []
        for r in records:
            if isinstance(r, ToiletReading):
                points += self._reading(r, now_ms, changes)
            elif isinstance(r, ToiletEvent) and r.type == "cleaned":
                self._cleaned(r, changes)
        return points, changes

    def _reading(self, r: ToiletReading, now_ms: int, changes: list[ToiletChange]) -> list[Record]:
        t = self._toilet(r.toilet)
        t.last_report_ms = max(t.last_report_ms, now_ms)  # it speaks now, whatever its timestamps
        points: list[Record] = []
        if self._clear("toilet_silent", r.toilet, "reporting again", now_ms, changes):
            # stored: a backlog with old timestamps ends the silence too, also after a restart
            points.append(ToiletEvent(r.toilet, t.info.district, now_ms, "reporting", "system"))
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
        i = bisect.bisect_left(t.totals, r.time_ms, key=_time)  # no per-reading list of times
        if i < len(t.totals) and t.totals[i][0] == r.time_ms:
            return None  # a redelivered message: counted already
        t.totals.insert(i, (r.time_ms, r.total or 0))
        if (drop := len(t.totals) - 2000) > 0:  # the oldest go; the new one's index moves with them
            del t.totals[:drop]
            i -= drop
            if i < 0:
                return None  # older than every total kept
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
        i = bisect.bisect_left(t.entries, time_ms, key=_time)
        if i < len(t.entries) and t.entries[i][0] == time_ms:  # the same point again: it replaces
            t.entries[i] = (time_ms, entries)
            return
        t.entries.insert(i, (time_ms, entries))
        del t.entries[: bisect.bisect_left(t.entries, t.entries[-1][0] - DAY_MS, key=_time)]

    def entries_since_clean(self, toilet: str) -> int:
        t = self._toilet(toilet)
        since = t.last_cleaned_ms if t.last_cleaned_ms is not None else -1
        return sum(n for time_ms, n in t.entries if time_ms > since)

    def _surge(self, toilet: str, t: _Toilet, time_ms: int, changes: list[ToiletChange]) -> None:
        capacity = t.info.capacity_per_15min
        if not capacity:
            return
        window = int(self._cfg.surge_window_s * 1000)
        # the surge window's slice only (bisected), not the whole day's entries per reading
        lo = bisect.bisect_right(t.entries, time_ms - window, key=_time)
        hi = bisect.bisect_right(t.entries, time_ms, lo, key=_time)
        recent = sum(n for _, n in t.entries[lo:hi])
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
        return air_limits(self._cfg, self._info.get(toilet, ToiletInfo()).toilet_class)

    def _cleaned(self, e: ToiletEvent, changes: list[ToiletChange]) -> None:
        t = self._toilet(e.toilet)
        self._add_cleaning(t, e.time_ms)
        if t.missed_day is not None and local_day(e.time_ms, self._zone) == t.missed_day:
            done = self._cleanings_on(t, t.missed_day)  # a late check-in for the judged day
            minimum = daily_minimum(self._cfg, t.info.traffic)
            if not minimum_missed(done, minimum):
                reason = f"{done} of {minimum} cleanings on {t.missed_day} (late check-in)"
                t.missed_day = None
                self._clear("toilet_daily", e.toilet, reason, e.time_ms, changes)
        if t.last_cleaned_ms is not None and e.time_ms <= t.last_cleaned_ms:
            return
        t.last_cleaned_ms = e.time_ms
        t.clock_from_ms = e.time_ms
        t.overdue = False
        self._clear("toilet", e.toilet, f"cleaned{' by ' + e.by if e.by else ''}", e.time_ms, changes)

    @staticmethod
    def _add_cleaning(t: _Toilet, time_ms: int) -> None:
        i = bisect.bisect_left(t.cleanings, time_ms)
        if i == len(t.cleanings) or t.cleanings[i] != time_ms:  # a redelivery counts once
            t.cleanings.insert(i, time_ms)
        horizon = t.cleanings[-1] - KEEP_CLEANINGS_MS
        del t.cleanings[: bisect.bisect_left(t.cleanings, horizon)]

    def _cleanings_on(self, t: _Toilet, day: date) -> int:
        start, end = day_span_ms(day, self._zone)
        return bisect.bisect_left(t.cleanings, end) - bisect.bisect_left(t.cleanings, start)

    # --- the timers ------------------------------------------------------------------------
    def check_due(self, now_ms: int) -> tuple[list[Record], list[ToiletChange]]:
        """The time-based rules: cleaning overdue, silence in opening hours, and the daily
        minimum of each local day that has ended."""
        points: list[Record] = []
        changes: list[ToiletChange] = []
        for toilet, t in self._toilets.items():
            self._check_overdue(toilet, t, now_ms, points, changes)
            if toilet in self._info:  # silence and the daily minimum: registered toilets only
                self._check_silent(toilet, t, now_ms, points, changes)
        today = local_day(now_ms, self._zone)
        while self._judged_through + timedelta(days=1) < today:
            day = self._judged_through + timedelta(days=1)
            if day_span_ms(day, self._zone)[0] >= self._observed_from_ms:
                for toilet in self._info:
                    self._judge_day(toilet, self._toilets[toilet], day, points, changes)
            self._judged_through = day
        return points, changes

    def _check_overdue(
        self, toilet: str, t: _Toilet, now_ms: int, points: list[Record], changes: list[ToiletChange]
    ) -> None:
        if t.overdue:
            return
        entries = self.entries_since_clean(toilet)
        late_min = (now_ms - t.clock_from_ms) / 60_000
        if cleaning_due(self._cfg, t.info.traffic, entries, late_min):
            t.overdue = True
            reason = f"{entries} entries and {late_min:.0f} min since the last cleaning"
            self._raise("toilet", toilet, "overdue", reason, now_ms, changes)
            points.append(ToiletEvent(toilet, t.info.district, now_ms, "overdue", "system"))

    def _check_silent(
        self, toilet: str, t: _Toilet, now_ms: int, points: list[Record], changes: list[ToiletChange]
    ) -> None:
        if self.book.active("toilet_silent", toilet) is not None:
            return
        open_ms = open_ms_between(t.last_report_ms, now_ms, t.info.hours, self._zone)
        if is_silent(self._cfg, open_ms):
            reason = f"no report for {open_ms / 60_000:.0f} min of opening hours"
            self._raise("toilet_silent", toilet, "silent", reason, now_ms, changes)
            points.append(ToiletEvent(toilet, t.info.district, now_ms, "silent", "system"))

    def _judge_day(
        self, toilet: str, t: _Toilet, day: date, points: list[Record], changes: list[ToiletChange]
    ) -> None:
        minimum = daily_minimum(self._cfg, t.info.traffic)
        done = self._cleanings_on(t, day)
        at_ms = day_span_ms(day, self._zone)[1] - 1  # the verdict belongs to the day judged
        if not minimum_missed(done, minimum):
            t.missed_day = None
            self._clear("toilet_daily", toilet, f"{done} of {minimum} cleanings on {day}", at_ms, changes)
            return
        reason = f"{done} of {minimum} cleanings on {day} ({t.info.traffic} traffic)"
        active = self.book.active("toilet_daily", toilet)
        if active is not None and t.missed_day == day:
            return  # judged already (restored from the store)
        t.missed_day = day
        alert = self.book.raise_or_update("toilet_daily", toilet, "missed", reason, at_ms)
        changes.append(ToiletChange(toilet, "toilet_daily", alert, at_ms))
        points.append(ToiletEvent(toilet, t.info.district, at_ms, "minimum_missed", "system"))

    # --- reading the state (routes) --------------------------------------------------------
    def known(self) -> list[str]:
        return sorted(self._toilets)

    def overdue(self, toilet: str) -> bool:
        t = self._toilets.get(toilet)
        return t is not None and t.overdue

    def daily_minimum(self, toilet: str) -> int:
        """The cleanings a day this toilet needs (by its traffic class)."""
        return daily_minimum(self._cfg, self._info.get(toilet, ToiletInfo()).traffic)

    def _raise(
        self, kind: str, toilet: str, level: str, reason: str, time_ms: int, out: list[ToiletChange]
    ) -> None:
        if self.book.active(kind, toilet) is None:
            out.append(
                ToiletChange(
                    toilet, kind, self.book.raise_or_update(kind, toilet, level, reason, time_ms), time_ms
                )
            )

    def _clear(self, kind: str, toilet: str, reason: str, time_ms: int, out: list[ToiletChange]) -> bool:
        alert = self.book.clear(kind, toilet, reason, time_ms)
        if alert is not None:
            out.append(ToiletChange(toilet, kind, alert, time_ms))
        return alert is not None
