"""The flood response level in force and the gauges' interval commands (docs/emergency.md): who
set the level and since when, what it puts in force, which gauges acknowledged the interval, what
to send again, and the automatic rule. No I/O: each change answers an :class:`Outcome` whose
records are stored, steps audited, commands sent and mode message published by the caller."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from telemetry.config_derivations import FloodConfig
from telemetry.config_emergency import EmergencyConfig
from telemetry.emergency.rules import NONE, auto_level, in_force, owing, track_red
from telemetry.records import Record
from telemetry.records_mode import ModeRecord

SERVICE = "service"


@dataclass(frozen=True, slots=True)
class Command:
    gauge: str
    interval_s: int

    @property
    def payload(self) -> dict[str, object]:
        return {"interval_s": self.interval_s}


@dataclass(frozen=True, slots=True)
class Step:
    """An audit line: ``mode_enter`` or ``mode_leave`` of ``level`` by ``actor``."""

    actor: str
    action: str
    level: str
    data: dict[str, object]


@dataclass
class Outcome:
    records: list[Record] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    changed: bool = False  # the level changed: publish the mode and apply what is in force

    def __bool__(self) -> bool:
        return bool(self.records or self.commands or self.steps or self.changed)


class ModeDesk:
    def __init__(
        self, cfg: EmergencyConfig, flood: FloodConfig, gauges: Iterable[str], district: str
    ) -> None:
        self.cfg, self._flood, self.district = cfg, flood, district
        self.gauges = sorted(set(gauges))
        self.level, self.since_ms, self.by = NONE, 0, SERVICE
        self.force = in_force(NONE, cfg, flood)
        self.acknowledged: dict[str, int] = {}  # gauge -> interval acknowledged since the last change
        self.sent_ms: dict[str, int] = {}  # gauge -> when the command went out last
        self.commanding = False  # False until a level was ever set: nothing is owed
        self.onsets: dict[str, int | None] = {}  # red gauges -> when they turned red (automatic rule)
        self.admin_ms = 0  # the last change an admin made: red onsets before it do not count

    def restore(
        self, record: ModeRecord | None, acks: Iterable[tuple[str, int, int]], red: Iterable[str]
    ) -> None:
        """The newest ``mode`` record; the stored acknowledgements (gauge, time, interval); the
        gauges red now (red before the start: never counted by the automatic rule). Gauges that
        had not acknowledged are sent the command again at the first tick."""
        if record is not None:
            self.level, self.since_ms, self.by = record.level, record.time_ms, record.by
            self.force = in_force(record.level, self.cfg, self._flood)
            self.commanding = True
            if record.by != SERVICE:
                self.admin_ms = record.time_ms
            for gauge, time_ms, interval in sorted(acks, key=lambda a: a[1]):
                if time_ms >= record.time_ms:
                    self.acknowledged[gauge] = interval
        for gauge in red:
            self.onsets[gauge] = None

    def set(self, level: str, by: str, now_ms: int, *, auto: bool = False) -> Outcome:
        """Put ``level`` in force (``none``: leave the level); the same level again changes nothing."""
        force = in_force(level, self.cfg, self._flood)  # refuses an unknown level
        if level == self.level:
            return Outcome()
        at = max(now_ms, self.since_ms + 1)
        previous = self.level
        out = Outcome(records=[ModeRecord(self.district, at, level, by, previous)], changed=True)
        data: dict[str, object] = {
            "from": previous, "to": level, "automatic": auto, "interval_s": force.interval_s,
            "yellow_cm": force.yellow_cm, "red_cm": force.red_cm, "offline_after_s": force.offline_after_s,
        }  # fmt: skip
        if previous != NONE:
            out.steps.append(Step(by, "mode_leave", previous, data))
        if level != NONE:
            out.steps.append(Step(by, "mode_enter", level, data))
        self.level, self.since_ms, self.by, self.force = level, at, by, force
        self.commanding = True
        self.acknowledged.clear()
        if not auto:
            self.admin_ms = at
        out.commands = [Command(g, force.interval_s) for g in self.gauges]
        self.sent_ms = dict.fromkeys(self.gauges, at)
        return out

    def acknowledge(self, gauge: str, interval_s: int) -> None:
        self.acknowledged[gauge] = interval_s

    def owing(self) -> list[str]:
        return owing(self.gauges, self.acknowledged, self.force.interval_s) if self.commanding else []

    def tick(self, now_ms: int, red: Iterable[str]) -> Outcome:
        """The automatic rule over the gauges red now, then the commands owed again."""
        track_red(self.onsets, red, now_ms)
        raised = auto_level(self.onsets, now_ms, self.level, self.cfg, self.admin_ms)
        if raised is not None:
            return self.set(raised, SERVICE, now_ms, auto=True)
        out = Outcome()
        every_ms = int(self.cfg.resend_every_s * 1000)
        for gauge in self.owing():
            sent = self.sent_ms.get(gauge)
            if sent is None or now_ms - sent >= every_ms:
                out.commands.append(Command(gauge, self.force.interval_s))
                self.sent_ms[gauge] = now_ms
        return out

    def message(self) -> dict[str, object]:
        """The retained ``{root}/mode`` payload (CONTRACT §3); ``since`` in epoch ms, as the
        flood alerts' (None: never set)."""
        return {"level": self.level, "since": self.since_ms or None, "by": self.by}
