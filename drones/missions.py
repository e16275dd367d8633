"""Mission types shared by planners, checks, exporters and the API: MAVLink mission items as
MISSION_ITEM_INT carries them (params 1-4, then latitude, longitude, altitude; ``None`` where a
ground station leaves a parameter unset, NaN on the wire)."""

from __future__ import annotations

from dataclasses import dataclass, field

# MAV_CMD and MAV_FRAME values used here
NAV_WAYPOINT, NAV_LOITER_TIME, NAV_RETURN_TO_LAUNCH, NAV_LAND, NAV_TAKEOFF = 16, 19, 20, 21, 22
DO_CHANGE_SPEED, DO_SET_CAM_TRIGG_DIST = 178, 206
FRAME_GLOBAL, FRAME_MISSION, FRAME_RELATIVE_ALT, FRAME_TERRAIN_ALT = 0, 2, 3, 10
FRAME_RELATIVE_ALT_INT, FRAME_TERRAIN_ALT_INT = 6, 11
POSITIONLESS_FRAMES = (FRAME_MISSION,)

Param = float | None


@dataclass(frozen=True, slots=True)
class MissionItem:
    command: int
    frame: int
    params: tuple[Param, Param, Param, Param, Param, Param, Param]  # p1..p4, lat, lon, alt
    autocontinue: bool = True

    @property
    def lat(self) -> float | None:
        return self.params[4]

    @property
    def lon(self) -> float | None:
        return self.params[5]

    @property
    def alt_m(self) -> float | None:
        return self.params[6]

    @property
    def has_position(self) -> bool:
        return (
            self.frame not in POSITIONLESS_FRAMES
            and self.lat is not None
            and self.lon is not None
            and (self.lat != 0 or self.lon != 0)
        )


def item(
    command: int,
    lat: float | None,
    lon: float | None,
    alt: float | None,
    frame: int = FRAME_RELATIVE_ALT,
    p1: Param = 0.0,
    p2: Param = 0.0,
    p3: Param = 0.0,
    p4: Param = None,
) -> MissionItem:
    return MissionItem(command, frame, (p1, p2, p3, p4, lat, lon, alt))


def params7(
    values: list[Param] | tuple[Param, ...],
) -> tuple[Param, Param, Param, Param, Param, Param, Param]:
    if len(values) != 7:
        raise ValueError(f"a mission item has 7 parameters, got {len(values)}")
    return (values[0], values[1], values[2], values[3], values[4], values[5], values[6])


@dataclass(frozen=True)
class Checks:
    max_true_height_m: float
    height_limit_m: float
    no_fly_violations: tuple[str, ...]
    approval_required: bool
    approval_reasons: tuple[str, ...]
    estimated_flight_s: float
    battery_at_rtl_pct: float
    battery_ok: bool
    terrain: str  # "dem" or "flat (no DEM configured)"
    notes: tuple[str, ...] = field(default=())

    @property
    def flyable(self) -> bool:
        return (
            not self.no_fly_violations and self.max_true_height_m <= self.height_limit_m and self.battery_ok
        )
