"""Which mission items each autopilot accepts, and how it gives them back.

ArduPilot: ``AP_Mission::sanity_check_params`` and ``mavlink_int_to_mission_cmd`` (accept, store),
``mission_cmd_to_mavlink_int`` (read back); fences: ``MissionItemProtocol_Fence.cpp``.
PX4: ``MavlinkMissionManager::parse_mavlink_mission_item`` (accept) and
``format_mavlink_mission_item`` (read back, MAVLink 2 "int mode"), src/modules/mavlink/mavlink_mission.cpp.

:func:`check` is always applied: a real vehicle refuses these items, so the simulator does. The
lossy round trip (:func:`stored`) is applied only with ``autopilot_readback``: a ground station
comparing what it sent with what it reads back must compare as each autopilot stores.
"""

from __future__ import annotations

import math
from dataclasses import replace

from simulators.drone_model import Item

# MAV_MISSION_RESULT
OK, ERROR, UNSUPPORTED_FRAME, UNSUPPORTED, INVALID_PARAM1, INVALID_X, INVALID_Y, INVALID_Z = (
    0, 1, 2, 3, 6, 10, 11, 12,
)  # fmt: skip
# MAV_FRAME
GLOBAL, MISSION, RELATIVE, GLOBAL_INT, RELATIVE_INT, TERRAIN, TERRAIN_INT = 0, 2, 3, 5, 6, 10, 11
MISSION_TYPE, FENCE_TYPE = 0, 1
FENCE_COMMANDS = frozenset(range(5000, 5005))  # return point, polygon vertices, circles
RALLY_POINT = 5100

# --- ArduPilot (copter build) -------------------------------------------------------------
AP_COMMANDS = frozenset(
    {
        16,
        17,
        18,
        19,
        20,
        21,
        22,
        30,
        31,
        82,
        83,
        84,
        85,
        92,
        93,
        94,
        112,
        114,
        115,
        176,
        177,
        178,
        179,
        181,
        182,
        183,
        184,
        189,
        191,
        194,
        201,
        202,
        203,
        205,
        206,
        207,
        208,
        210,
        211,
        212,
        213,
        215,
        222,
        223,
        3000,
        42600,
    }
)  # fmt: skip  mavlink_int_to_mission_cmd: anything else is MAV_MISSION_UNSUPPORTED
AP_IN_LOCATION = frozenset({16, 17, 18, 19, 21, 22, 30, 31, 82, 84, 85, 92, 94, 179, 189, 191, 201})
AP_FRAMES = frozenset({MISSION, GLOBAL, GLOBAL_INT, RELATIVE, RELATIVE_INT, TERRAIN, TERRAIN_INT})
AP_NAN_PARAM4 = frozenset({16, 21, 22, 84})  # sanity_check_params: only these may leave param4 NaN
LOCATION_ALT_MAX_M = 83_000


def _ap_check(it: Item, count: int) -> int:
    params = (it.param1, it.param2, it.param3, it.param4)
    for k, p in enumerate(params):
        nan_ok = (k == 3 and it.command in AP_NAN_PARAM4) or (k >= 2 and it.command == 85)
        if math.isinf(p) or (math.isnan(p) and not nan_ok):
            return INVALID_PARAM1 + k
    if it.command not in AP_COMMANDS:
        return UNSUPPORTED
    if it.command == 177 and (int(it.param1) == 0 or int(it.param1) >= count):
        return ERROR  # DO_JUMP to nowhere (MissionItemProtocol_Waypoints::append_item)
    if it.command in AP_IN_LOCATION:
        if abs(it.x) > 900_000_000:
            return INVALID_X
        if abs(it.y) > 1_800_000_000:
            return INVALID_Y
        if math.isnan(it.z) or abs(it.z) >= LOCATION_ALT_MAX_M:
            return INVALID_Z
        if it.frame not in AP_FRAMES:
            return UNSUPPORTED_FRAME
    return OK


def _ap_fence_check(it: Item) -> int:
    if it.frame not in (GLOBAL, GLOBAL_INT, RELATIVE, RELATIVE_INT, TERRAIN, TERRAIN_INT):
        return UNSUPPORTED_FRAME
    return OK if it.command in FENCE_COMMANDS else UNSUPPORTED


def _u16(v: float) -> float:
    return float(int(v) & 0xFFFF) if math.isfinite(v) else 0.0


def _ap_stored(it: Item) -> Item:
    """What ``mission_cmd_to_mavlink_int`` gives back of an item (ArduCopter)."""
    p1, p2, p3, p4 = it.param1, it.param2, it.param3, it.param4
    c = it.command
    if c == 16:
        p = (_u16(p1), 0.0, 0.0, 0.0)  # copter keeps the delay only
    elif c == 17:
        p = (0.0, 0.0, -_u16(abs(p3)) if p3 < 0 else _u16(p3), 0.0)
    elif c == 18:
        radius = float(int(abs(p3)) & 0xFF)
        p = (float(int(p1) & 0xFF), 0.0, -radius if p3 < 0 else radius, 1.0 if p4 > 0 else 0.0)
    elif c == 19:
        p = (_u16(p1), 0.0, -1.0 if p3 < 0 else 1.0, 1.0 if p4 > 0 else 0.0)
    elif c == 21:
        p = (_u16(p1), 0.0, 0.0, -1.0 if p4 < 0 else 1.0)
    elif c in (20, 22, 84, 85):
        p = (_u16(p1) if c == 22 else 0.0, 0.0, 0.0, 0.0)
    else:
        p = (p1, p2, p3, p4)
    if c not in AP_IN_LOCATION:
        return replace(it, frame=GLOBAL, param1=p[0], param2=p[1], param3=p[2], param4=p[3], x=0, y=0, z=0.0,
                       autocontinue=1)  # fmt: skip
    relative = it.frame in (RELATIVE, RELATIVE_INT, TERRAIN, TERRAIN_INT)
    frame = TERRAIN if it.frame in (TERRAIN, TERRAIN_INT) else RELATIVE if relative else GLOBAL
    z = int(it.z * 100) / 100  # altitude kept in cm
    return replace(it, frame=frame, param1=p[0], param2=p[1], param3=p[2], param4=p[3], z=z, autocontinue=1)


# --- PX4 -----------------------------------------------------------------------------------
PX4_GLOBAL_COMMANDS = frozenset({
    16, 17, 19, 21, 22, 31, 80, 84, 85, 195, 201, 212, 400, 4501, 5000, 5001, 5002, 5003, 5004, 5100,
})  # fmt: skip
PX4_MISSION_FRAME_COMMANDS = frozenset({
    20, 80, 93, 112, 114, 177, 178, 179, 187, 189, 196, 197, 200, 201, 203, 204, 205, 206, 211, 212,
    214, 260, 400, 530, 531, 532, 534, 1000, 1001, 2000, 2001, 2003, 2500, 2501, 3000, 42600,
})  # fmt: skip
PX4_GLOBAL_FRAMES = frozenset({GLOBAL, RELATIVE, GLOBAL_INT, RELATIVE_INT})


def _px4_check(it: Item, mission_type: int) -> int:
    if it.frame in PX4_GLOBAL_FRAMES:
        if it.command not in PX4_GLOBAL_COMMANDS:
            return UNSUPPORTED
        if it.command in (80, 201) and int(it.param1) not in (0, 3):  # MAV_ROI_NONE / LOCATION
            return INVALID_PARAM1
    elif it.frame == MISSION:
        if it.command not in PX4_MISSION_FRAME_COMMANDS:
            return UNSUPPORTED
        if it.command in (80, 201) and int(it.param1) not in (0, 1, 2):
            return INVALID_PARAM1
    else:
        return UNSUPPORTED_FRAME  # e.g. MAV_FRAME_GLOBAL_TERRAIN_ALT(_INT)
    is_fence = it.command in FENCE_COMMANDS
    if mission_type == MISSION_TYPE and (is_fence or it.command == RALLY_POINT):
        return ERROR  # "hardening against wrong client implementations"
    if mission_type == FENCE_TYPE and it.command in (5001, 5002) and int(it.param1 + 0.5) < 3:
        return ERROR  # "Fence: too few vertices"
    return OK


def _yaw(p4: float) -> float:
    return math.degrees(math.radians(p4) % (2 * math.pi)) if math.isfinite(p4) else p4


def _px4_stored(it: Item) -> Item:
    """What ``format_mavlink_mission_item`` gives back in int mode."""
    if it.frame == MISSION:
        return it
    c, p1, p2, p3, p4 = it.command, it.param1, it.param2, it.param3, it.param4
    if c == 16:
        p = (p1, p2, 0.0, _yaw(p4))
    elif c == 17:
        p = (0.0, 0.0, p3, _yaw(p4))
    elif c == 19:
        p = (p1, 1.0 if p2 > 0 else 0.0, p3, 1.0 if p4 > 0 else 0.0)
    elif c == 21:
        p = (0.0, p2, 0.0, _yaw(p4))
    elif c in (22, 84, 85):
        p = (0.0, 0.0, 0.0, _yaw(p4))
    elif c == 31:
        p = (1.0 if p1 > 0 else 0.0, p2, 0.0, 1.0 if p4 > 0 else 0.0)
    elif c in (5001, 5002):
        p = (float(int(p1 + 0.5)), 0.0, 0.0, 0.0)
    elif c in (5003, 5004):
        p = (p1, 0.0, 0.0, 0.0)
    else:
        p = (0.0, 0.0, 0.0, 0.0)
    frame = RELATIVE_INT if it.frame in (RELATIVE, RELATIVE_INT) else GLOBAL_INT
    return replace(it, frame=frame, param1=p[0], param2=p[1], param3=p[2], param4=p[3])


# --- the interface ---------------------------------------------------------------------------
def check(autopilot: str, it: Item, mission_type: int, count: int) -> int:
    """The MAV_MISSION_RESULT the autopilot answers an item with (0: accepted)."""
    if autopilot == "ardupilot":
        return _ap_fence_check(it) if mission_type == FENCE_TYPE else _ap_check(it, count)
    return _px4_check(it, mission_type)


def stored(autopilot: str, it: Item, mission_type: int) -> Item:
    """The item as the autopilot will read it back."""
    if autopilot == "ardupilot":
        if mission_type == FENCE_TYPE:  # AC_PolyFenceItem: type, vertex count or radius, lat, lon
            keep = it.param1 if it.command != 5000 else 0.0
            return replace(it, frame=GLOBAL, param1=keep, param2=0.0, param3=0.0, param4=0.0, z=0.0)
        return _ap_stored(it)
    return _px4_stored(it)
