"""Flight evidence (docs/missions.md): a mission's .tlog is recorded from its upload until it is
done (or the configured maximum), and each finished recording's SHA-256 is in the audit log."""

from __future__ import annotations

import asyncio
import logging

from drones.flight_log import FlightLog, FlightRecorder
from telemetry.audit.log import AuditLog

log = logging.getLogger("drones.missions")


def audited(audit: AuditLog, flight: FlightLog | None) -> None:
    if flight is None:
        return
    data = {"sha256": flight.sha256, "bytes": flight.bytes, "packets": flight.packets, "drone": flight.drone}
    audit.record("service", "flight_log", flight.mission_id, data)
    log.info("mission %s: flight log %s (%d packets)", flight.mission_id, flight.path, flight.packets)


async def start(recorder: FlightRecorder | None, audit: AuditLog, drone: int, mission_id: str) -> None:
    """Record the drone for the mission; its previous recording is finished first."""
    if recorder is not None:
        audited(audit, await asyncio.to_thread(recorder.start, drone, mission_id))


async def resume(recorder: FlightRecorder | None, audit: AuditLog, drone: int, mission_id: str) -> None:
    """A mission still running after a restart: its recording continues in the same file (a
    packet torn by the crash is cut, and the cut is in the audit log)."""
    if recorder is not None:
        cut = await asyncio.to_thread(recorder.resume, drone, mission_id)
        if cut:
            audit.record(
                "service", "flight_log_truncated", mission_id, {"bytes_removed": cut, "drone": drone}
            )


async def finish(recorder: FlightRecorder | None, audit: AuditLog, drone: int, mission_id: str) -> None:
    """Finish the drone's recording if it is the mission's."""
    if recorder is not None and recorder.recording(drone) == mission_id:
        audited(audit, await asyncio.to_thread(recorder.finish, drone))


async def finish_expired(recorder: FlightRecorder | None, audit: AuditLog) -> None:
    """Finish the recordings open for longer than the maximum (nothing grows forever)."""
    if recorder is not None:
        for drone in recorder.expired():
            audited(audit, await asyncio.to_thread(recorder.finish, drone))
