"""The flood emergency mode's rules, pure (docs/emergency.md): the levels and their order, what a
level puts in force, which gauges still owe an acknowledgement, the red onsets the automatic rule
counts and the rule itself. Times are injected."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from telemetry.config_derivations import FloodConfig
from telemetry.config_emergency import EmergencyConfig

NONE = "none"
LEVELS = (NONE, "IV", "III", "II", "I")  # least to most severe
RANK = {level: i for i, level in enumerate(LEVELS)}


@dataclass(frozen=True, slots=True)
class InForce:
    """What a level puts in force; level ``none``: the normal flood configuration."""

    level: str
    yellow_cm: float
    red_cm: float
    offline_after_s: float
    interval_s: int  # sent to every gauge
    storm_schedules: bool


def in_force(level: str, cfg: EmergencyConfig, flood: FloodConfig) -> InForce:
    """A level never raises a threshold nor lengthens the offline time: each is the lower of the
    level's and the normal one."""
    if level == NONE:
        return InForce(
            NONE, flood.yellow_cm, flood.red_cm, flood.offline_after_s, cfg.normal_interval_s, False
        )
    if level not in RANK:
        raise ValueError(f"unknown flood response level {level!r}; known: {', '.join(LEVELS)}")
    lv = cfg.levels[level]  # type: ignore[index]  # checked against LEVELS above
    return InForce(
        level,
        min(lv.yellow_cm, flood.yellow_cm),
        min(lv.red_cm, flood.red_cm),
        min(lv.offline_after_s, flood.offline_after_s),
        lv.interval_s,
        lv.storm_schedules,
    )


def owing(gauges: Iterable[str], acknowledged: Mapping[str, int], interval_s: int) -> list[str]:
    """The gauges that have not acknowledged ``interval_s`` since it was sent (``acknowledged``:
    each gauge's interval acknowledged since then)."""
    return sorted(g for g in set(gauges) if acknowledged.get(g) != interval_s)


def track_red(onsets: dict[str, int | None], red_now: Iterable[str], now_ms: int) -> None:
    """Update the red onsets in place: a gauge red now and not yet tracked turned red at
    ``now_ms``; a gauge no longer red is forgotten. ``None``: red already when first seen (at
    start-up), never counted."""
    red = set(red_now)
    for gauge in [g for g in onsets if g not in red]:
        del onsets[gauge]
    for gauge in red:
        onsets.setdefault(gauge, now_ms)


def auto_level(
    onsets: Mapping[str, int | None], now_ms: int, current: str, cfg: EmergencyConfig, not_before_ms: int
) -> str | None:
    """The level the automatic rule raises to now, or None: ``auto_red_gauges`` gauges turned red
    within the last ``auto_within_min`` minutes (and after ``not_before_ms``: an admin's choice
    stands until new gauges turn red), and ``auto_level`` is more severe than the current level.
    It never lowers."""
    if cfg.auto_red_gauges <= 0 or RANK[cfg.auto_level] <= RANK[current]:
        return None
    start = max(now_ms - int(cfg.auto_within_min * 60_000), not_before_ms)
    recent = [g for g, t in onsets.items() if t is not None and start < t <= now_ms]
    return cfg.auto_level if len(recent) >= cfg.auto_red_gauges else None
