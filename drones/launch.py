"""Whether a mission may start now: what the pilot must fix first, as one readable reason (the
API answers 409 with it). The battery need comes from the drone type's model in configuration
(``[drones.types.*]``): the plan's flight-time estimate as a share of the endurance, plus the
reserve the vehicle must still have when it lands."""

from __future__ import annotations

from drones.dialects import dialect
from drones.fleet import DroneStatus
from drones.mission_service import Mission
from telemetry.config_drones import DroneTypeConfig

FIX_3D = 3  # GPS_FIX_TYPE_3D_FIX


def battery_needed_pct(estimated_flight_s: float, model: DroneTypeConfig) -> float:
    return 100.0 * estimated_flight_s / model.endurance_s + model.reserve_pct


def start_problem(m: Mission, status: DroneStatus | None, model: DroneTypeConfig) -> str | None:
    if m.state != "verified" or m.drone is None:
        return f"mission {m.id} is {m.state}: upload and verify it first"
    if not m.checks.flyable:
        return "the checks refuse this mission (height, no-fly area or battery)"
    if m.checks.approval_required and not m.approval_id:
        return f"an approval id is needed first: {', '.join(m.checks.approval_reasons)}"
    if status is None or not status.online:
        return f"drone {m.drone} is offline"
    if status.gps_fix is None or status.gps_fix < FIX_3D:
        fix = "unknown" if status.gps_fix is None else f"fix type {status.gps_fix}"
        return f"drone {m.drone} has no 3D GPS fix ({fix})"
    need = battery_needed_pct(m.checks.estimated_flight_s, model)
    if status.battery_pct is None or status.battery_pct < need:
        have = "unknown" if status.battery_pct is None else f"{status.battery_pct:.0f} %"
        return (
            f"drone {m.drone}'s battery is {have}: this mission needs {need:.0f} % "
            f"({m.checks.estimated_flight_s:.0f} s of {model.endurance_s:.0f} s, "
            f"{model.reserve_pct:.0f} % reserve)"
        )
    return dialect(status.autopilot).start_problem(m.items)
