"""``[emergency]``: the district's flood response levels IV, III, II and I (I the most severe)
and what each puts in force (CONTRACT §7, issue 20; docs/emergency.md)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from telemetry.config_base import Section

Level = Literal["IV", "III", "II", "I"]
LEVEL_NAMES: tuple[Level, ...] = ("IV", "III", "II", "I")  # least to most severe

# [D] our defaults: DOMAIN.md gives the normal grades (15 / 30 cm), the 15-minute offline rule and
# fielded gauges' rates (5-15 min dry, 1 min wet or on command); CONTRACT §7's example is level III.
DEFAULT_LEVELS: dict[str, dict[str, Any]] = {
    "IV": {
        "interval_s": 120,
        "offline_after_s": 600,
        "yellow_cm": 14,
        "red_cm": 28,
        "storm_schedules": False,
    },
    "III": {"interval_s": 60, "offline_after_s": 300, "yellow_cm": 12, "red_cm": 25, "storm_schedules": True},
    "II": {"interval_s": 60, "offline_after_s": 240, "yellow_cm": 10, "red_cm": 22, "storm_schedules": True},
    "I": {"interval_s": 60, "offline_after_s": 180, "yellow_cm": 8, "red_cm": 20, "storm_schedules": True},
}


class LevelConfig(Section):
    interval_s: int = Field(60, ge=1, le=86_400)  # sent to every gauge as {"interval_s": N}
    offline_after_s: float = Field(300.0, gt=0)  # a gauge silent this long is offline
    yellow_cm: float = Field(12.0, gt=0)  # flood thresholds in force (never above the normal ones)
    red_cm: float = Field(25.0, gt=0)
    storm_schedules: bool = False  # schedules with a storm variant run at their storm interval

    @model_validator(mode="after")
    def _sane(self) -> LevelConfig:
        if self.red_cm <= self.yellow_cm:
            raise ValueError("red_cm must be above yellow_cm")
        if self.offline_after_s <= self.interval_s:
            raise ValueError(
                "offline_after_s must be longer than interval_s (a gauge would be offline at once)"
            )
        return self


class EmergencyConfig(Section):
    levels: dict[Level, LevelConfig] = Field(
        default_factory=lambda: {k: LevelConfig(**DEFAULT_LEVELS[k]) for k in LEVEL_NAMES}
    )
    normal_interval_s: int = Field(300, ge=1, le=86_400)  # sent when a level is left (fielded: 5 min dry)
    auto_red_gauges: int = Field(3, ge=0)  # this many gauges turning red ... (0: no automatic rule)
    auto_within_min: float = Field(30.0, gt=0)  # ... within this many minutes ...
    auto_level: Level = "IV"  # ... raise the level to this (never lowers; an admin's choice stands)
    resend_every_s: float = Field(60.0, gt=0)  # a gauge that has not acknowledged is sent it again
    check_interval_s: float = Field(5.0, gt=0, le=600)

    @field_validator("levels", mode="before")
    @classmethod
    def _merged(cls, v: Any) -> Any:
        """Each level's table over that level's defaults: ``[emergency.levels.III] red_cm = 20``
        keeps III's other defaults; levels not named keep theirs
        (``TELEMETRY_EMERGENCY__LEVELS__III__RED_CM=20`` too)."""
        if not isinstance(v, dict):
            return v
        out: dict[str, Any] = {k: dict(d) for k, d in DEFAULT_LEVELS.items()}
        for key, table in v.items():
            name = key.upper() if isinstance(key, str) else key  # environment variables come lower-case
            if name not in out:
                out[name] = table  # refused by the Literal key with its path
            elif isinstance(table, LevelConfig):
                out[name] = table
            elif isinstance(table, dict):
                out[name] = {**out[name], **table}
            else:
                out[name] = table
        return out
