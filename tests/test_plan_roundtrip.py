"""Property tests: plans with mixed altitude frames (relative, AMSL, terrain, QGC's AltitudeMode 3;
positioned and positionless items, null parameters) survive .plan -> import -> .plan item for
item, and .waypoints as far as WPL 110 can carry them; their true heights follow their frames."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from drones.checks import LevelTerrain, true_heights
from drones.formats import ALTITUDE_KEYS, read_plan, read_waypoints, write_plan, write_waypoints
from drones.missions import MODE_CALC_ABOVE_TERRAIN, MissionItem, frame_mode

ITEM_KEYS = ("command", "frame", "params", "autoContinue", "doJumpId", "type", *ALTITUDE_KEYS)
FRAMES = {"relative": (3, 6), "amsl": (0, 5), "terrain": (10, 11), "calc": (0,)}
NAV = (16, 19, 21, 22, 82)  # waypoint, loiter time, land, takeoff, spline waypoint
DO = (178, 206, 201, 20)  # change speed, camera trigger distance, set ROI, RTL

number = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
param = st.none() | number
height = st.floats(min_value=-50, max_value=500, allow_nan=False, allow_infinity=False)
lat = st.floats(min_value=-80, max_value=80, allow_nan=False).filter(lambda v: v != 0)
lon = st.floats(min_value=-179, max_value=179, allow_nan=False).filter(lambda v: v != 0)


@st.composite
def plan_item(draw: st.DrawFn, k: int) -> dict[str, Any]:
    """One SimpleItem as QGroundControl writes it (altitude keys on every positioned item)."""
    kind = draw(st.sampled_from([*FRAMES, "positionless"]))
    p = [draw(param) for _ in range(4)]
    raw: dict[str, Any] = {"type": "SimpleItem", "autoContinue": draw(st.booleans())}
    raw["doJumpId"] = draw(st.just(k + 1) | st.integers(1, 10_000))
    if kind == "positionless":
        raw |= {"command": draw(st.sampled_from(DO)), "frame": draw(st.sampled_from((2, 3)))}
        raw["params"] = [*p, draw(st.none() | st.just(0.0)), draw(st.none() | st.just(0.0)), draw(param)]
        if draw(st.booleans()):  # e.g. an ArduCopter takeoff: an altitude without a position
            alt = raw["params"][6]
            raw |= {
                "AltitudeMode": frame_mode(raw["frame"]) or 1,
                "Altitude": alt,
                "AMSLAltAboveTerrain": None,
            }
        return raw
    raw |= {"command": draw(st.sampled_from(NAV)), "frame": draw(st.sampled_from(FRAMES[kind]))}
    if kind == "calc":  # frame GLOBAL; param 7 = AMSLAltAboveTerrain = terrain + Altitude, once known
        amsl = draw(st.none() | height)
        raw |= {
            "AltitudeMode": MODE_CALC_ABOVE_TERRAIN,
            "Altitude": draw(height),
            "AMSLAltAboveTerrain": amsl,
        }
        raw["params"] = [*p, draw(lat), draw(lon), draw(st.just(amsl) | param)]
        return raw
    alt = draw(param)
    above = draw(st.none() | height) if kind == "terrain" else None  # QGC fills it when terrain is known
    raw |= {"AltitudeMode": frame_mode(raw["frame"]), "Altitude": draw(st.just(alt) | param)}
    raw |= {"AMSLAltAboveTerrain": above, "params": [*p, draw(lat), draw(lon), alt]}
    return raw


@st.composite
def plan_doc(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(0, 12))
    items = [draw(plan_item(k)) for k in range(n)]
    home = [draw(lat), draw(lon), draw(height)]
    mission = {"version": 2, "firmwareType": 3, "vehicleType": 2, "cruiseSpeed": 15, "hoverSpeed": 5,
               "globalPlanAltitudeMode": 0, "plannedHomePosition": home, "items": items}  # fmt: skip
    doc = {"fileType": "Plan", "groundStation": "QGroundControl", "version": 1, "mission": mission}
    out: dict[str, Any] = json.loads(json.dumps(doc))  # what a file holds: nulls, no NaN
    return out


def wire(i: MissionItem) -> MissionItem:
    return MissionItem(i.command, i.frame, i.params, i.autocontinue)


@settings(max_examples=300, deadline=None)
@given(plan_doc())
def test_plan_import_export_keeps_every_item(doc: dict[str, Any]) -> None:
    items, home = read_plan(doc)
    ours = json.loads(json.dumps(write_plan(items, home)))
    assert ours["mission"]["plannedHomePosition"] == doc["mission"]["plannedHomePosition"]
    assert len(ours["mission"]["items"]) == len(doc["mission"]["items"])
    for got, want in zip(ours["mission"]["items"], doc["mission"]["items"], strict=True):
        assert {k: got.get(k, "absent") for k in ITEM_KEYS} == {k: want.get(k, "absent") for k in ITEM_KEYS}
    assert read_plan(ours) == (items, home)
    modes = {i["AltitudeMode"] for i in doc["mission"]["items"] if "AltitudeMode" in i}
    assert ours["mission"]["globalPlanAltitudeMode"] == (
        modes.pop() if len(modes) == 1 else 0 if modes else 1
    )
    # WPL 110 carries command, frame, params (NaN for null) and autocontinue; home is line 0
    wpl, wpl_home = read_waypoints(write_waypoints(items, home))
    assert wpl == [wire(i) for i in items]
    assert wpl_home == home


@st.composite
def model_item(draw: st.DrawFn) -> MissionItem:
    """Items as our planners and the WPL reader make them: nothing but frame and params."""
    frame = draw(st.sampled_from((0, 2, 3, 5, 6, 10, 11)))
    positioned = frame != 2 and draw(st.booleans())
    where = (draw(lat), draw(lon)) if positioned else (draw(st.none() | st.just(0.0)),) * 2
    params = (draw(param), draw(param), draw(param), draw(param), *where, draw(param))
    return MissionItem(draw(st.sampled_from(NAV + DO)), frame, params, draw(st.booleans()))


@settings(max_examples=300, deadline=None)
@given(st.lists(model_item(), max_size=12), st.tuples(lat, lon, height))
def test_our_items_survive_both_formats(items: list[MissionItem], home: tuple[float, float, float]) -> None:
    assert read_plan(json.loads(json.dumps(write_plan(items, home)))) == (items, home)
    assert read_waypoints(write_waypoints(items, home)) == (items, home)


@settings(max_examples=200, deadline=None)
@given(plan_doc(), height)
def test_true_height_follows_each_items_frame(doc: dict[str, Any], ground: float) -> None:
    """Over level ground at ``ground`` m AMSL with home on it: relative alt, AMSL alt − ground,
    terrain alt, AltitudeMode 3 its AMSL altitude − ground or (not yet computed) its Altitude."""
    items, home = read_plan(doc)
    assert home is not None
    heights = true_heights(items, LevelTerrain(ground), (home[1], home[0]))
    for it, h in zip(items, heights, strict=True):
        if not it.flown_to:
            assert h is None
            continue
        if it.qgc_altitude_mode == MODE_CALC_ABOVE_TERRAIN:
            amsl = it.amsl_target_m
            want = it.qgc_altitude if amsl is None else amsl - ground
        elif it.alt_m is None:
            continue  # nothing to fly: the checks refuse it (missing_altitude)
        else:
            want = it.alt_m - ground if it.frame in (0, 5) else it.alt_m
        assert want is not None
        assert h is not None
        assert abs(h - want) <= 0.006  # true_heights rounds to centimetres
