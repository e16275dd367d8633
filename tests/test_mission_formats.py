"""Mission files: QGroundControl's own test plans import item for item; our exports re-import
identically (.plan, .waypoints); MAVSDK's QGC importer reads our .plan with the same items."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from drones.formats import (
    ALTITUDE_KEYS,
    MissionFormatError,
    preview,
    read_plan,
    read_plan_fence,
    read_waypoints,
    write_plan,
    write_waypoints,
)
from drones.missions import NAV_RETURN_TO_LAUNCH, NAV_TAKEOFF, NAV_WAYPOINT, MissionItem, item

CORPUS = Path(__file__).parent / "fixtures" / "qgc-plans"
PLANS = sorted(CORPUS.glob("*.plan"))


@pytest.mark.parametrize("path", PLANS, ids=lambda p: p.name)
def test_qgc_corpus_imports_every_item(path: Path) -> None:
    doc = json.loads(path.read_text())
    items, home = read_plan(doc)
    raw = doc["mission"]["items"]
    assert len(items) == len(raw)
    for got, want in zip(items, raw, strict=True):
        assert (got.command, got.frame, got.autocontinue) == (
            want["command"],
            want["frame"],
            want["autoContinue"],
        )
        assert list(got.params) == [None if v is None else float(v) for v in want["params"]]
    assert home == tuple(float(v) for v in doc["mission"]["plannedHomePosition"])


def wire(i: MissionItem) -> MissionItem:
    """What a .waypoints file carries of an item: no QGC altitude mode 3, Altitude or doJumpId."""
    return MissionItem(i.command, i.frame, i.params, i.autocontinue)


@pytest.mark.parametrize("path", PLANS, ids=lambda p: p.name)
def test_exports_reimport_identically(path: Path) -> None:
    items, home = read_plan(json.loads(path.read_text()))
    again, home2 = read_plan(json.loads(json.dumps(write_plan(items, home))))
    assert again == items
    assert home2 == home
    wpl, wpl_home = read_waypoints(write_waypoints(items, home))
    assert wpl == [wire(i) for i in items]
    # only QGC's AltitudeMode 3 says more than WPL can: TerrainTest's item 6 (frame 0, alt null)
    assert [k for k, i in enumerate(items) if i != wire(i)] == ([5] if "Terrain" in path.name else [])
    assert wpl_home == home


ITEM_KEYS = ("command", "frame", "params", "autoContinue", "doJumpId", "type", *ALTITUDE_KEYS)


@pytest.mark.parametrize("path", PLANS, ids=lambda p: p.name)
def test_export_is_qgcs_own_file_item_for_item(path: Path) -> None:
    """Command, frame, params (nulls kept), AltitudeMode, Altitude, AMSLAltAboveTerrain, doJumpId,
    autoContinue; globalPlanAltitudeMode and plannedHomePosition: as QGroundControl wrote them."""
    doc = json.loads(path.read_text())
    items, home = read_plan(doc)
    ours = json.loads(json.dumps(write_plan(items, home)))
    assert len(ours["mission"]["items"]) == len(doc["mission"]["items"])
    for got, want in zip(ours["mission"]["items"], doc["mission"]["items"], strict=True):
        assert {k: got.get(k, "absent") for k in ITEM_KEYS} == {k: want.get(k, "absent") for k in ITEM_KEYS}
    for key in ("globalPlanAltitudeMode", "plannedHomePosition"):
        assert ours["mission"][key] == doc["mission"][key]
    assert ours["geoFence"] == doc["geoFence"]  # empty: {"circles": [], "polygons": [], "version": 2}


def test_terrain_test_altitude_modes_are_read() -> None:
    items, _ = read_plan(json.loads((CORPUS / "TerrainTest-ArduCopter.plan").read_text()))
    assert [i.altitude_mode for i in items] == [1, 1, None, 2, 1, 3, 1, 4, 1, 1, 1]
    agl = items[5]  # AltitudeMode 3: frame GLOBAL, param 7 null until QGC has the terrain
    assert (agl.frame, agl.alt_m, agl.qgc_altitude, agl.amsl_target_m) == (0, None, 80.0, None)


def test_altitude_mode_3_takes_qgcs_amsl_altitude() -> None:
    doc = json.loads((CORPUS / "TerrainTest-ArduCopter.plan").read_text())
    doc["mission"]["items"][5]["AMSLAltAboveTerrain"] = 412.5
    items, _ = read_plan(doc)
    assert items[5].alt_m is None  # the file's params are kept as they are
    assert items[5].amsl_target_m == 412.5


def test_geofence_polygons_as_qgc_writes_them() -> None:
    square = [(29.87, 121.54), (29.87, 121.55), (29.88, 121.55), (29.88, 121.54)]
    doc = json.loads(json.dumps(write_plan([item(NAV_TAKEOFF, 29.87, 121.54, 30.0)], fence=[square])))
    assert doc["geoFence"] == {
        "circles": [],
        "polygons": [{"inclusion": False, "polygon": [list(v) for v in square], "version": 1}],
        "version": 2,
    }
    assert read_plan_fence(doc) == [square]
    assert read_plan_fence(doc, inclusion=True) == []
    doc["geoFence"]["polygons"][0]["polygon"].append(list(square[0]))  # a closed ring reads the same
    assert read_plan_fence(doc) == [square]
    assert read_plan_fence({"fileType": "Plan", "mission": {}}) == []
    with pytest.raises(MissionFormatError, match="not a latitude"):
        read_plan_fence(
            {"geoFence": {"polygons": [{"inclusion": False, "polygon": [[91, 2]] * 3, "version": 1}]}}
        )
    with pytest.raises(MissionFormatError, match="polygon 0"):
        read_plan_fence({"geoFence": {"polygons": ["x"]}})
    with pytest.raises(MissionFormatError, match="3 vertices"):
        read_plan_fence({"geoFence": {"polygons": [{"inclusion": False, "polygon": [[1, 2]], "version": 1}]}})


def test_bad_files_are_refused_with_a_reason() -> None:
    with pytest.raises(MissionFormatError, match="not a QGroundControl"):
        read_plan({"fileType": "Mission"})
    with pytest.raises(MissionFormatError, match="12 columns"):
        read_waypoints("QGC WPL 110\n0\t1\t0\t16\n")
    with pytest.raises(MissionFormatError, match="SimpleItem"):
        read_plan({"fileType": "Plan", "mission": {"items": [{"type": "ComplexItem"}]}})
    good = json.loads((CORPUS / "TerrainTest-ArduCopter.plan").read_text())
    bad = [("AltitudeMode", 0, "AltitudeMode must be"), ("AltitudeMode", None, "must be"),
           ("frame", 3, "AltitudeMode 3 goes with frame 0"), ("command", "x", "item 5")]  # fmt: skip
    for key, value, reason in bad:
        doc = json.loads(json.dumps(good))
        doc["mission"]["items"][5][key] = value
        with pytest.raises(MissionFormatError, match=reason):
            read_plan(doc)
    doc = json.loads(json.dumps(good))
    for home in ([47.6, None, 9.26], [47.6, -122.1, math.nan], [47.6]):
        doc["mission"]["plannedHomePosition"] = home
        with pytest.raises(MissionFormatError, match="plannedHomePosition"):
            read_plan(doc)


def test_preview_is_geojson() -> None:
    items = [item(NAV_TAKEOFF, 29.87, 121.54, 30.0), item(NAV_WAYPOINT, 29.88, 121.54, 30.0),
             item(NAV_RETURN_TO_LAUNCH, 0.0, 0.0, 0.0)]  # fmt: skip
    doc = preview(items)
    assert doc["features"][0]["geometry"] == {
        "type": "LineString",
        "coordinates": [[121.54, 29.87], [121.54, 29.88]],
    }
    assert [f["properties"]["seq"] for f in doc["features"][1:]] == [0, 1]


@pytest.mark.integration
def test_mavsdk_imports_our_plan_with_the_same_items(tmp_path: Path) -> None:
    mavsdk = pytest.importorskip("mavsdk")
    from mavsdk.plugins.mission_raw.mission_raw import MissionRaw

    from simulators.drone import DroneSimulator
    from tests.servers import free_udp_port

    items, home = read_plan(json.loads((CORPUS / "TerrainTest-ArduCopter.plan").read_text()))
    ours = tmp_path / "ours.plan"
    ours.write_text(json.dumps(write_plan(items, home)))
    port = free_udp_port()
    gcs = mavsdk.Mavsdk(mavsdk.Configuration.create_with_component_type(mavsdk.ComponentType.GROUND_STATION))
    gcs.add_any_connection(f"udpin://127.0.0.1:{port}")
    sim = DroneSimulator(f"udpout:127.0.0.1:{port}", sysid=1)
    sim.start()
    try:
        system = gcs.first_autopilot(15)
        assert system is not None
        imported = MissionRaw(system).import_qgroundcontrol_mission(str(ours)).mission_items
    finally:
        sim.stop()
        gcs.destroy()
    # MAVSDK puts the planned home first for ArduPilot; the rest are ours, item for item
    assert len(imported) in (len(items), len(items) + 1)
    theirs = imported[len(imported) - len(items) :]
    for got, want in zip(theirs, items, strict=True):
        assert (got.command, got.frame) == (want.command, want.frame)
        for g, w in zip((got.param1, got.param2, got.param3, got.param4), want.params[:4], strict=True):
            assert (math.isnan(g) and w is None) or g == pytest.approx(w or 0.0)
        if want.has_position:
            assert got.x == round((want.lat or 0) * 1e7)
            assert got.y == round((want.lon or 0) * 1e7)


def test_mission_cli_plans_and_converts_offline(tmp_path: Path) -> None:
    import subprocess
    import sys

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "api.cli", "mission", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip

    r = cli(
        "plan",
        "--type",
        "points",
        "--points",
        "121.55,29.88;121.56,29.87",
        "--altitude",
        "60",
        "--out",
        "m.plan",
    )
    assert r.returncode == 0, r.stderr
    assert "approval required: ZSNB protection zone" in r.stdout
    assert cli("convert", "m.plan", "m.waypoints").returncode == 0
    assert cli("convert", "m.waypoints", "again.plan").returncode == 0
    first, _ = read_plan(json.loads((tmp_path / "m.plan").read_text()))
    again, _ = read_plan(json.loads((tmp_path / "again.plan").read_text()))
    assert again == first
    high = cli(
        "plan", "--type", "points", "--points", "121.55,29.88", "--altitude", "130", "--out", "h.geojson"
    )
    assert high.returncode == 1  # planned and written, but not flyable: 130 m above ground
    assert json.loads((tmp_path / "h.geojson").read_text())["type"] == "FeatureCollection"
    assert cli("convert", "m.plan", "m.kml").returncode == 2
