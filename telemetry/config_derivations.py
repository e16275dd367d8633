"""Configuration of the derivations (flood, toilets, sanitation): DOMAIN.md's defaults, every
one a key here, never a constant in code. One class per derivation, each owned by it."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from telemetry.config_base import Section as _Section


class FloodConfig(_Section):
    """DOMAIN.md flood defaults (docs/flood.md); per-gauge thresholds come from gauges.geojson."""

    yellow_cm: float = Field(15.0, gt=0)
    red_cm: float = Field(30.0, gt=0)
    rate_window_s: float = Field(600.0, gt=0)  # rise: depth minus the lowest in this window ...
    rate_yellow_cm: float = Field(5.0, gt=0)  # ... counted only while rising; lifts green ...
    rate_red_cm: float = Field(10.0, gt=0)  # ... and yellow one grade
    hysteresis_cm: float = Field(3.0, ge=0)  # rising: within this of the high; downgrade margin
    dwell_s: float = Field(600.0, ge=0)  # a downgrade waits this long under threshold - hysteresis
    offline_after_s: float = Field(900.0, gt=0)  # no reading this long: offline (keeps its grade)
    spike_cm: float = Field(50.0, gt=0)  # a spike: a change faster than spike_cm ...
    spike_window_s: float = Field(60.0, gt=0)  # ... per spike_window_s, whatever the interval
    max_plausible_cm: float = Field(200.0, gt=0)  # a first reading above it is a spike
    stuck_after_s: float = Field(6 * 3600.0, gt=0)  # identical readings this long ...
    stuck_radius_m: float = Field(3000.0, gt=0)  # ... while gauges this close ...
    stuck_neighbours: int = Field(2, ge=1)  # ... at least this many ...
    stuck_change_cm: float = Field(5.0, gt=0)  # ... changed this much: a sensor fault
    check_interval_s: float = Field(10.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _ordered(self) -> FloodConfig:
        if self.red_cm <= self.yellow_cm:
            raise ValueError("flood.red_cm must be above flood.yellow_cm")
        return self


class ToiletsConfig(_Section):
    """DOMAIN.md toilet defaults: cleaning due by entries or time (per traffic class), GB/T
    17217 air limits per toilet class, surges over half the 15-minute capacity, silence in
    opening hours, the daily minimum of cleanings per traffic class."""

    entries_due: int = Field(150, ge=1)
    due_minutes: dict[str, float] = Field(
        default_factory=lambda: {"high": 120.0, "medium": 240.0, "low": 1440.0}
    )
    nh3_limit_mg_m3: dict[str, float] = Field(default_factory=lambda: {"1": 0.3, "2": 1.0, "3": 3.0})
    h2s_limit_mg_m3: dict[str, float] = Field(default_factory=lambda: {"1": 0.01, "2": 0.01, "3": 0.01})
    surge_ratio: float = Field(0.5, gt=0)
    surge_window_s: float = Field(900.0, gt=0)
    check_interval_s: float = Field(30.0, gt=0, le=3600)
    silent_after_s: float = Field(7200.0, gt=0)  # no report for longer, counted in opening hours
    daily_min_cleanings: dict[str, int] = Field(
        default_factory=lambda: {"high": 4, "medium": 2, "low": 0}
    )  # judged at the end of each local day ([site] timezone); an unlisted class: no minimum

    @field_validator("daily_min_cleanings")
    @classmethod
    def _counts(cls, v: dict[str, int]) -> dict[str, int]:
        bad = sorted(k for k, n in v.items() if n < 0)
        if bad:
            raise ValueError(f"daily_min_cleanings must be >= 0 ({', '.join(bad)})")
        return v


class SanitationConfig(_Section):
    """DOMAIN.md sweeping defaults: corridors by road class in a metric CRS, coverage along the
    track, valid passes (docs/sanitation.md)."""

    crs: str = "EPSG:4549"
    segment_m: float = Field(50.0, gt=1)
    half_width_m: dict[str, float] = Field(
        default_factory=lambda: {"arterial": 15.0, "secondary": 10.0, "branch": 6.0}
    )
    max_hdop: float = Field(5.0, gt=0)
    max_implied_kmh: float = Field(120.0, gt=0)
    gap_s: float = Field(300.0, gt=0)
    min_coverage: float = Field(0.8, gt=0, le=1)
    min_under_limit: float = Field(0.9, gt=0, le=1)
    min_working: float = Field(0.9, ge=0, le=1)
    max_overspeed_ratio: float = Field(0.1, ge=0, le=1)
    stop_radius_m: float = Field(30.0, gt=0)
    stop_min_dwell_s: float = Field(60.0, gt=0)
    alert_after_s: float = Field(60.0, gt=0)
    # coverage along the track: how GPS noise and a vehicle coming onto a route are allowed for
    jitter_m: float = Field(20.0, ge=0)  # position noise allowed when judging the speed between fixes
    bridge_ratio: float = Field(2.0, ge=1)  # a fix within this × half-width is noise, not a departure
    speed_baseline_s: float = Field(60.0, gt=0)  # speed from positions, when not reported, over this long
    approach_m: float = Field(250.0, ge=0)  # the track is followed this far beyond a route's ends

    @field_validator("crs")
    @classmethod
    def _known_crs(cls, v: str) -> str:
        from pyproj import CRS  # noqa: PLC0415
        from pyproj.exceptions import CRSError  # noqa: PLC0415

        try:
            if not CRS.from_user_input(v).is_projected:
                raise ValueError(f"{v} is not a projected (metric) CRS")
        except CRSError as exc:
            raise ValueError(f"unknown CRS {v!r}") from exc
        return v
