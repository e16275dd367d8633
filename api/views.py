"""JSON views of the runtime's live state, shared by the routes and the event stream."""

from __future__ import annotations

from typing import Any

from api.params import iso
from api.runtime import Runtime
from telemetry.alerts.book import Alert


def alert_json(a: Alert) -> dict[str, Any]:
    return {
        "id": a.id,
        "kind": a.kind,
        "subject": a.subject,
        "level": a.level,
        "state": a.state,
        "reason": a.reason,
        "raised_at": iso(a.raised_at_ms),
        "cleared_at": iso(a.cleared_at_ms) if a.cleared_at_ms else None,
        "acknowledged_by": a.acknowledged_by,
        "acknowledged_at": iso(a.acknowledged_at_ms) if a.acknowledged_at_ms else None,
    }


def gauges_geojson(rt: Runtime) -> dict[str, Any]:
    """Each gauge of the registry (or heard) with its flood level, as a FeatureCollection. A silent
    gauge keeps its last level with ``offline`` true; ``sensor_fault`` says why its readings are
    not trusted (a stuck value: its flood alert stopped) or that the last one was ignored (a
    spike); ``since`` is when the level began (the event time of the reading that changed it)."""
    view = rt.flood.engine.view() if rt.flood else {}
    features = []
    ids = {d.id for d in rt.registry.of_kind("gauge")} | set(view)
    for gauge in sorted(ids):
        device = rt.registry.get("gauge", gauge)
        g = view.get(gauge)
        alert = rt.alerts.active("flood", gauge)
        seen = g is not None and g.state.last_ms >= 0
        props = {
            "id": gauge,
            "name": device.name if device else None,
            "road": device.road if device else None,
            "level": g.level if g else "green",
            "depth_cm": g.state.depth_cm if g and seen else None,
            "rise_cm_per_10min": round(g.state.rise_cm, 1) if g and seen else None,
            "since": iso(g.since_ms) if g and g.since_ms else None,
            "last_reading": iso(g.state.last_ms) if g and seen else None,
            "offline": g.offline if g else False,
            "sensor_fault": g.fault if g else None,
            "alert_id": alert.id if alert else None,
        }
        geometry = (
            {"type": "Point", "coordinates": [device.lon, device.lat]}
            if device and device.lon is not None and device.lat is not None
            else None
        )
        features.append({"type": "Feature", "geometry": geometry, "properties": props})
    return {"type": "FeatureCollection", "features": features}


def drone_items(rt: Runtime) -> list[dict[str, Any]]:
    """Each vehicle heard on a MAVLink link with its state and mission progress."""
    items: list[dict[str, Any]] = []
    for d in rt.fleet.snapshot():
        mission = d.mission
        items.append(
            {
                "drone": d.drone,
                "online": d.online,
                "last_heartbeat": iso(d.last_heartbeat_ms) if d.last_heartbeat_ms else None,
                "lat": d.lat,
                "lon": d.lon,
                "alt_rel_m": d.alt_rel_m,
                "battery_pct": d.battery_pct,
                "mode": d.mode,
                "armed": d.armed,
                "link": d.link,
                "autopilot": d.autopilot,
                "gps_fix": d.gps_fix,
                "fix": _fix(d.gps_fix),
                "mission": None
                if mission is None
                else {
                    "id": mission.id,
                    "current": mission.current,
                    "total": mission.total,
                    "state": mission.state,
                },
            }
        )
    return items


def _fix(gps_fix: int | None) -> str | None:
    """GPS_FIX_TYPE in words: "no fix" below 2D (the drone then has no position)."""
    if gps_fix is None:
        return None
    return "no fix" if gps_fix < 2 else "2D" if gps_fix == 2 else "3D"
