"""A mission onto a vehicle and off the ground, in the vehicle's dialect: upload (behind a home
item where the autopilot numbers one), read back and compare; the fence the same way with
``MAV_MISSION_TYPE_FENCE``; start as the autopilot accepts it. Blocking: run in a thread."""

from __future__ import annotations

import time
from collections.abc import Callable

from drones.dialects import Dialect
from drones.mavlink import mavutil
from drones.missions import MissionItem
from drones.upload import (
    FENCE,
    ITEM_TIMEOUT_S,
    MISSION,
    Session,
    UploadResult,
    command,
    download,
    result_name,
    same,
    upload,
)

HOME_WAIT_S = 2.0
NAV_COMMANDS_BELOW = 100  # MAV_CMD_NAV_* are numbered 16..95; DO_ and CONDITION_ items are not flown to
Home = tuple[float, float, float]  # lat, lon, AMSL altitude


def last_nav(items: list[MissionItem]) -> int:
    """The plan index of the last item the vehicle flies to: its MISSION_ITEM_REACHED ends it."""
    nav = [k for k, i in enumerate(items) if i.command < NAV_COMMANDS_BELOW]
    return nav[-1] if nav else len(items) - 1


def vehicle_home(session: Session, target: int, known: Callable[[], Home | None]) -> Home | None:
    """The vehicle's HOME_POSITION: as last heard (``known``), else asked for once
    (MAV_CMD_REQUEST_MESSAGE) and awaited briefly."""
    home = known()
    if home is not None:
        return home
    m = mavutil().mavlink
    command(session, target, m.MAV_CMD_REQUEST_MESSAGE, float(m.MAVLINK_MSG_ID_HOME_POSITION))
    deadline = time.monotonic() + HOME_WAIT_S
    while (home := known()) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return home


def send_plan(
    session: Session,
    target: int,
    dialect: Dialect,
    items: list[MissionItem],
    home: Home,
    timeout_s: float = ITEM_TIMEOUT_S,
) -> UploadResult:
    """Upload the mission and read it back: verified only when the vehicle holds our items."""
    wire_items = dialect.wire_items(items, home)
    result = upload(session, target, wire_items, MISSION, timeout_s)
    if not result.ok and not result.sent_all:
        return result
    wire = download(session, target, MISSION, timeout_s)
    if wire is None:
        return UploadResult(False, result.items, False, result.error or "the mission could not be read back")
    if not same(items, dialect.plan_items(wire)):  # the home item is the vehicle's own
        return UploadResult(
            False, result.items, False, result.error or "the mission read back differs from ours"
        )
    return UploadResult(True, len(items), True)


def send_fence(session: Session, target: int, fence: list[MissionItem]) -> UploadResult:
    """Upload the fence (exclusion polygons) and read it back; an empty fence clears the vehicle's."""
    result = upload(session, target, fence, FENCE)
    if not result.ok and not result.sent_all:
        return UploadResult(False, result.items, False, f"fence: {result.error}")
    wire = download(session, target, FENCE)
    if wire is None or not same(fence, wire):
        return UploadResult(False, result.items, False, "the fence read back differs from ours")
    return UploadResult(True, len(fence), True)


def launch(session: Session, target: int, dialect: Dialect) -> str | None:
    """The dialect's start sequence; an error naming the refused step, or None."""
    m = mavutil().mavlink
    for step in dialect.start_steps():
        result = command(session, target, step.command, *step.params)
        if result != m.MAV_RESULT_ACCEPTED:
            return f"the vehicle refused or did not answer: {step.name} ({result_name(result)})"
    return None
