"""``[dispatch]``: incidents and the officers sent to them (CONTRACT §7, issue 19)."""

from __future__ import annotations

from pydantic import Field, field_validator

from telemetry.config_base import Section


class DispatchConfig(Section):
    auto_open: list[str] = Field(default_factory=lambda: ["flood:red"])  # alert "kind:level" pairs
    auto_assign: bool = False  # assign the suggested (nearest available) officer at once
    on_scene_radius_m: float = Field(50.0, gt=0, le=5000)
    target_on_scene_s: float = Field(300.0, gt=0)  # the 5-minute measure
    urban_speed_kmh: float = Field(25.0, gt=0, le=200)  # travel estimate without a routing engine
    accept_timeout_s: float = Field(120.0, gt=0)  # reassigned when not accepted in this time
    position_stale_s: float = Field(300.0, gt=0)  # an officer not heard for longer is not suggested
    check_interval_s: float = Field(5.0, gt=0, le=600)

    @field_validator("auto_open")
    @classmethod
    def _pairs(cls, v: list[str]) -> list[str]:
        for pair in v:
            kind, sep, level = pair.partition(":")
            if not sep or not kind or not level:
                raise ValueError(f"{pair!r}: expected 'kind:level', e.g. 'flood:red'")
        return v
