"""The duty desk with an injected clock: auto-opening from alerts, suggestion and assignment,
officers' reports and positions, reassignment on a decline or silence, the 5-minute alert, and a
restore from what it stored (issue 19)."""

from __future__ import annotations

import pytest

from telemetry.alerts.book import AlertBook
from telemetry.config_dispatch import DispatchConfig
from telemetry.incidents.desk import IncidentDesk, NoOfficerError, Outcome, from_document
from telemetry.incidents.rules import Officer, TransitionError
from telemetry.records import DroneState
from telemetry.records_people import IncidentEvent, IncidentRecord, OfficerPosition, OfficerReport

LAT, LON = 29.8683, 121.5440
T0 = 1_780_000_000_000
S = 1000
PLACES = {("flood", "HS-G01"): (LAT, LON)}


def desk(book: AlertBook | None = None, **cfg: object) -> IncidentDesk:
    officers = [Officer("o1", "Wang", "east"), Officer("o2", "Li", "west"), Officer("o3", "Zhao", "west")]
    return IncidentDesk(DispatchConfig(**cfg), book or AlertBook(), officers, lambda k, s: PLACES.get((k, s)))


def at(officer: str, dlat: float, t: int, status: str = "available") -> OfficerPosition:
    return OfficerPosition(officer, "haishu", t, LAT + dlat, LON, status)


def report(officer: str, kind: str, incident: str, t: int) -> OfficerReport:
    return OfficerReport(officer, "haishu", t, kind, incident)


def events(out: Outcome) -> list[str]:
    return [e.event for e in out.events]


def test_a_red_flood_alert_opens_an_incident_once_and_the_nearest_officer_is_sent() -> None:
    book = AlertBook()
    d = desk(book, auto_assign=True)
    d.observe([at("o1", 0.01, T0), at("o2", 0.003, T0), at("o3", 0.001, T0, status="off")], T0)
    book.raise_or_update("flood", "HS-G01", "yellow", "12 cm", T0)
    assert not d.tick(T0 + S)  # yellow: not in auto_open
    alert = book.raise_or_update("flood", "HS-G01", "red", "26 cm", T0 + 2 * S)
    out = d.tick(T0 + 3 * S)
    assert events(out) == ["opened", "assigned"]
    (incident,) = d.incidents.values()
    assert (incident.alert_id, incident.lat, incident.officer, incident.state) == (
        alert.id,
        LAT,
        "o2",
        "assigned",
    )
    (command,) = out.commands
    assert command.officer == "o2"
    assert command.payload == {"incident": incident.id, "action": "assign", "lat": LAT, "lon": LON,
                               "kind": "flood", "reason": "26 cm"}  # fmt: skip
    assert not d.tick(T0 + 4 * S).events  # the same alert opens nothing more
    stored = [r for r in out.records if isinstance(r, IncidentRecord)]
    assert from_document(stored[-1].document) == incident


def test_accept_arrive_by_position_resolve_and_the_measures_of_it() -> None:
    d = desk()
    d.observe([at("o1", 0.004, T0)], T0)
    incident, _ = d.open_by_hand("complaint", LAT, LON, "noise", "duty-07", T0)
    assert d.suggested(incident, T0 + S) is not None
    with pytest.raises(NoOfficerError):
        d.assign(incident.id, "nobody", "duty-07", T0)
    _, out = d.assign(incident.id, None, "duty-07", T0 + 10 * S)  # the suggested one
    assert out.commands[0].officer == "o1"
    assert events(d.observe([report("o1", "accept", incident.id, T0 + 20 * S)], T0)) == ["accepted"]
    assert not d.observe([report("o1", "accept", incident.id, T0 + 21 * S)], T0)  # redelivered
    assert not d.observe([at("o1", 0.001, T0 + 60 * S, "busy")], T0).events  # 111 m away
    arrived = d.observe([at("o1", 0.0003, T0 + 90 * S, "busy")], T0)
    assert events(arrived) == ["on_scene"]
    assert arrived.events[0].detail == "by position"
    refused = d.observe([report("o2", "resolved", incident.id, T0 + 95 * S)], T0)
    assert events(refused) == ["refused"]  # not theirs: kept, changes nothing
    d.observe([OfficerReport("o1", "haishu", T0 + 300 * S, "resolved", incident.id, "done", "ab" * 32)], T0)
    done = d.incidents[incident.id]
    assert done.state == "resolved"
    assert (done.note, done.evidence_sha256) == ("done", "ab" * 32)
    assert dict(done.times) == {"open": T0, "assigned": T0 + 10 * S, "accepted": T0 + 20 * S,
                                "on_scene": T0 + 90 * S, "resolved": T0 + 300 * S}  # fmt: skip
    with pytest.raises(TransitionError):
        d.assign(incident.id, "o2", "duty-07", T0 + 301 * S)
    _, closed = d.close(incident.id, "duty-07", T0 + 400 * S)
    assert closed.events[0].actor == "duty-07"
    assert not closed.commands  # nothing to cancel once resolved


def test_a_decline_and_a_silence_each_pass_it_to_the_next_nearest() -> None:
    d = desk()
    d.observe([at("o1", 0.001, T0), at("o2", 0.002, T0), at("o3", 0.003, T0)], T0)
    incident, _ = d.open_by_hand("complaint", LAT, LON, "noise", "duty-07", T0)
    d.assign(incident.id, None, "duty-07", T0)
    out = d.observe([report("o1", "decline", incident.id, T0 + 5 * S)], T0)
    assert events(out) == ["declined", "assigned"]
    assert d.incidents[incident.id].officer == "o2"
    assert not d.tick(T0 + 124 * S).events  # 119 s after the assignment: still waiting
    out = d.tick(T0 + 125 * S)
    assert events(out) == ["unanswered", "assigned"]
    assert [(c.officer, c.payload["action"]) for c in out.commands] == [("o2", "cancel"), ("o3", "assign")]
    assert d.incidents[incident.id].passed_over == ("o1", "o2")
    assert d.incidents[incident.id].times["assigned"] == T0  # the measure keeps the first one
    d.observe([report("o3", "decline", incident.id, T0 + 130 * S)], T0)
    assert d.incidents[incident.id].state == "open"  # nobody left: open, for a manager


def test_a_busy_officer_is_not_suggested_for_a_second_incident() -> None:
    d = desk(auto_assign=True)
    d.observe([at("o1", 0.001, T0), at("o2", 0.01, T0)], T0)
    first, _ = d.open_by_hand("complaint", LAT, LON, "a", "m", T0)
    second, _ = d.open_by_hand("complaint", LAT, LON, "b", "m", T0)
    assert (d.incidents[first.id].officer, d.incidents[second.id].officer) == ("o1", "o2")
    assert first.id != second.id


def test_the_five_minute_alert_is_raised_once_and_cleared_on_scene() -> None:
    book = AlertBook()
    d = desk(book)
    d.observe([at("o1", 0.01, T0)], T0)
    incident, _ = d.open_by_hand("complaint", LAT, LON, "noise", "m", T0)
    d.assign(incident.id, "o1", "m", T0 + 10 * S)
    d.observe([report("o1", "accept", incident.id, T0 + 20 * S)], T0)
    assert not d.tick(T0 + 299 * S).notices
    out = d.tick(T0 + 300 * S)
    assert events(out) == ["overdue"]
    (notice,) = out.notices
    assert notice.topic == f"alert/incident/{incident.id}/overdue"
    assert notice.payload["level"] == "red"
    assert book.active("incident", incident.id) is not None
    assert not d.tick(T0 + 310 * S)  # once
    d.observe([report("o1", "arrived", incident.id, T0 + 400 * S)], T0)
    cleared = d.tick(T0 + 401 * S)
    assert events(cleared) == ["overdue_cleared"]
    assert cleared.notices[0].payload["level"] == "green"
    assert book.active("incident", incident.id) is None


def test_eyes_on_scene_is_the_first_armed_drone_over_it() -> None:
    d = desk()
    incident, _ = d.open_by_hand("complaint", LAT, LON, "noise", "m", T0)
    assert not d.observe([DroneState(7, T0 + S, LAT, LON, armed=False)], T0)  # on the ground
    assert not d.observe([DroneState(7, T0 + 2 * S, LAT + 0.01, LON, armed=True)], T0)
    d.observe([DroneState(7, T0 + 3 * S, armed=True)], T0)  # a HEARTBEAT: armed, no position
    out = d.observe([DroneState(7, T0 + 4 * S, LAT + 0.0002, LON)], T0)  # a position, no armed
    assert events(out) == ["eyes_on_scene"]
    assert not d.observe([DroneState(8, T0 + 5 * S, LAT, LON, armed=True)], T0)
    assert d.incidents[incident.id].eyes_at_ms == T0 + 4 * S


def test_a_restored_desk_goes_on_where_it_was() -> None:
    d = desk()
    d.observe([at("o1", 0.001, T0)], T0)
    incident, out = d.open_by_hand("complaint", LAT, LON, "noise", "m", T0)
    _, more = d.assign(incident.id, "o1", "m", T0 + S)
    stored = [r for r in out.records + more.records if isinstance(r, IncidentRecord)]
    assert all(isinstance(e, IncidentEvent) for e in more.events)
    again = desk()
    again.restore([from_document(stored[-1].document)], [at("o1", 0.001, T0)])
    assert again.incidents[incident.id] == d.incidents[incident.id]
    nxt, _ = again.open_by_hand("complaint", LAT, LON, "other", "m", T0 + 2 * S)
    assert nxt.id != incident.id  # ids go on
    assert events(again.observe([report("o1", "accept", incident.id, T0 + 3 * S)], T0)) == ["accepted"]
    assert events(again.tick(T0 + 500 * S))[:1] == ["overdue"]


def test_an_older_fix_does_not_move_an_officer_back() -> None:
    d = desk()
    d.observe([at("o1", 0.001, T0 + 10 * S)], T0)
    d.observe([at("o1", 0.05, T0 + 5 * S, status="off")], T0)  # a backlog arriving late
    assert (d.officers["o1"].lat, d.officers["o1"].status) == (LAT + 0.001, "available")


def test_each_action_answers_the_incident_as_it_is_after_it() -> None:
    d = desk(auto_assign=True)
    d.observe([at("o1", 0.001, T0)], T0)
    incident, _ = d.open_by_hand("complaint", LAT, LON, "noise", "m", T0)
    assert incident.state == "assigned"  # auto-assigned within the same action
    closed, _ = d.close(incident.id, "m", T0 + S)
    assert closed.state == "closed"


def test_an_overdue_incident_closed_in_between_still_clears_its_alert() -> None:
    book = AlertBook()
    d = desk(book)
    incident, _ = d.open_by_hand("complaint", LAT, LON, "noise", "m", T0)
    assert events(d.tick(T0 + 300 * S)) == ["overdue"]
    d.close(incident.id, "m", T0 + 310 * S)
    assert events(d.tick(T0 + 311 * S)) == ["overdue_cleared"]
    assert book.active("incident", incident.id) is None
    assert not d.tick(T0 + 400 * S)  # nothing left to watch
