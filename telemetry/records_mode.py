"""Records of the flood emergency mode (issue 20; CONTRACT §2 ``gauge/event``, and the extension
measurements ``gauge_event`` and ``mode``)."""

from __future__ import annotations

from dataclasses import dataclass

from telemetry.points import Point

GAUGE_EVENTS = ("command_ack",)


@dataclass(frozen=True, slots=True)
class GaugeEvent:
    """``{root}/gauge/{id}/event``: a gauge's acknowledgement of a command, with the reporting
    interval now in force (extension measurement ``gauge_event``)."""

    gauge: str
    district: str
    time_ms: int
    type: str  # command_ack
    interval_s: int
    seq: int | None = None

    def to_point(self) -> Point:
        return Point.make(
            "gauge_event",
            {"gauge": self.gauge, "district": self.district, "type": self.type},
            {"interval_s": self.interval_s},
            self.time_ms,
        )


@dataclass(frozen=True, slots=True)
class ModeRecord:
    """The flood response level in force from ``time_ms`` on (extension measurement ``mode``): its
    ``level`` (``none``, IV, III, II, I), who set it (``by``: a user or ``service``) and the level
    before; the newest restores the mode at start-up."""

    district: str
    time_ms: int
    level: str
    by: str
    previous: str

    def to_point(self) -> Point:
        return Point.make(
            "mode",
            {"district": self.district},
            {"level": self.level, "by": self.by, "previous": self.previous},
            self.time_ms,
        )
