"""Mission types shared by planners, checks, exporters and the API: MAVLink mission items as
MISSION_ITEM_INT carries them (params 1-4, then latitude, longitude, altitude; ``None`` where a
ground station leaves a parameter unset, NaN on the wire), with the altitude frame each keeps.

Altitude frames (MAV_FRAME) and QGroundControl's altitude modes (``AltitudeMode`` in a ``.plan``,
``QGroundControlQmlGlobal::AltMode``: 1 relative, 2 AMSL, 3 AGL computed by the ground station,
4 terrain frame). Mode 3 is not a MAVLink frame: the item's frame is GLOBAL (AMSL) and param 7 is
the ground elevation plus the height asked for, which QGC keeps as ``Altitude``
(``SimpleMissionItem::_terrainAltChanged``). An item read from a ``.plan`` keeps QGC's fields
(``qgc_*``) only where they say more than its frame and params do, so that the same mission
compares equal whichever file it came from."""

from __future__ import annotations

from dataclasses import dataclass, field

# MAV_CMD and MAV_FRAME values used here
NAV_WAYPOINT, NAV_LOITER_TIME, NAV_RETURN_TO_LAUNCH, NAV_LAND, NAV_TAKEOFF = 16, 19, 20, 21, 22
NAV_ROI, NAV_VTOL_LAND, NAV_LAST = 80, 85, 95  # MAV_CMD_NAV_* are numbered 16..95
DO_CHANGE_SPEED, DO_SET_CAM_TRIGG_DIST = 178, 206
FENCE_POLYGON_VERTEX_EXCLUSION = 5002
FRAME_GLOBAL, FRAME_MISSION, FRAME_RELATIVE_ALT, FRAME_TERRAIN_ALT = 0, 2, 3, 10
FRAME_GLOBAL_INT, FRAME_RELATIVE_ALT_INT, FRAME_TERRAIN_ALT_INT = 5, 6, 11
POSITIONLESS_FRAMES = (FRAME_MISSION,)
AMSL_FRAMES = (FRAME_GLOBAL, FRAME_GLOBAL_INT)
RELATIVE_FRAMES = (FRAME_RELATIVE_ALT, FRAME_RELATIVE_ALT_INT)
TERRAIN_FRAMES = (FRAME_TERRAIN_ALT, FRAME_TERRAIN_ALT_INT)

# QGroundControl altitude modes (QGroundControlQmlGlobal.h, AltMode / AltitudeFrame)
MODE_MIXED, MODE_RELATIVE, MODE_AMSL, MODE_CALC_ABOVE_TERRAIN, MODE_TERRAIN = 0, 1, 2, 3, 4

Param = float | None


def frame_mode(frame: int) -> int | None:
    """The QGC altitude mode a frame stands for, or None for a frame without a global altitude."""
    if frame in RELATIVE_FRAMES:
        return MODE_RELATIVE
    if frame in AMSL_FRAMES:
        return MODE_AMSL
    if frame in TERRAIN_FRAMES:
        return MODE_TERRAIN
    return None


@dataclass(frozen=True, slots=True)
class MissionItem:
    command: int
    frame: int
    params: tuple[Param, Param, Param, Param, Param, Param, Param]  # p1..p4, lat, lon, alt
    autocontinue: bool = True
    # QGC .plan fields, None unless they say more than frame and params (see the module doc)
    qgc_altitude_mode: int | None = None  # ``AltitudeMode``
    qgc_altitude: Param = None  # ``Altitude``: for mode 3 the height above terrain asked for
    qgc_amsl_above_terrain: Param = None  # ``AMSLAltAboveTerrain``: terrain + Altitude, when known
    qgc_jump_id: int | None = None  # ``doJumpId`` when not the item's index + 1

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

    @property
    def flown_to(self) -> bool:
        """A place the vehicle flies to: a positioned NAV command, but not RTL (home) or a
        region of interest (where the camera looks; QGC draws no flight path to it either)."""
        return (
            self.has_position
            and self.command <= NAV_LAST
            and self.command not in (NAV_RETURN_TO_LAUNCH, NAV_ROI)
        )

    @property
    def altitude_mode(self) -> int | None:
        """QGC's altitude mode: as the .plan said, else the frame's."""
        return self.qgc_altitude_mode if self.qgc_altitude_mode is not None else frame_mode(self.frame)

    @property
    def amsl_target_m(self) -> float | None:
        """AltitudeMode 3: the AMSL altitude to fly (param 7, else QGC's AMSLAltAboveTerrain)."""
        return self.params[6] if self.params[6] is not None else self.qgc_amsl_above_terrain


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
    missing_altitude: tuple[int, ...] = field(default=())  # seqs flown to without an altitude to send

    @property
    def flyable(self) -> bool:
        """Strict height limit: controlled airspace starts *at* 120 m true height (DOMAIN.md), so
        a plan reaching the limit is refused, not flown at it."""
        return (
            not self.no_fly_violations
            and self.max_true_height_m < self.height_limit_m
            and self.battery_ok
            and not self.missing_altitude
        )
