"""The files the service reads besides its configuration (the asset registry, routes, stops, areas,
the DEM) are loaded and checked before it serves (issue 18, item 5): a bad one is a configuration
error naming the file and the reason, exit 2 from ``serve`` and ``check-config``, never a
traceback from inside the lifespan (which uvicorn turns into exit 3)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.preflight import preflight
from simulators.dem import write_haishu_dem
from telemetry.assets import geometry_problems, load_registry, sample_assets_dir
from telemetry.config import Settings, load_settings, token_sha256
from telemetry.errors import ConfigError
from telemetry.ingest.spool import Spool
from tests.mqtt_util import wait_until
from tests.servers import Mosquitto, free_port
from tests.test_config import run_cli

Doc = dict[str, Any]


def _assets(tmp_path: Path, name: str, change: Callable[[Doc], object]) -> Path:
    """The sample assets with ``change`` applied to one file's document."""
    folder = tmp_path / "assets"
    shutil.copytree(sample_assets_dir(), folder)
    doc = json.loads((folder / name).read_text(encoding="utf-8"))
    change(doc)
    (folder / name).write_text(json.dumps(doc), encoding="utf-8")
    return folder


def _props(i: int, **values: object) -> Callable[[Doc], object]:
    return lambda doc: doc["features"][i]["properties"].update(values)


def _geometry(i: int, geometry: object) -> Callable[[Doc], object]:
    return lambda doc: doc["features"][i].update(geometry=geometry)


def _shape(kind: str, coordinates: object) -> Callable[[Doc], object]:
    return _geometry(0, {"type": kind, "coordinates": coordinates})


BAD_ASSETS = [  # file, change, what the problem's path holds, what its reason holds
    ("routes.geojson", _props(0, window="25:00-26:00"), "assets", "window"),
    ("routes.geojson", _shape("LineString", [[121.5, 29.8]]), "routes.geojson: R01", "too few"),
    ("routes.geojson", _geometry(0, None), "routes.geojson: R01", "LineString"),
    ("stops.geojson", _shape("Point", [1]), "stops.geojson", "[lon, lat]"),
    ("areas.geojson", _shape("Polygon", [[[0, 0], [1, 1]]]), "areas.geojson", "too few"),
    ("gauges.geojson", _shape("Point", [121.5, 200]), "gauges.geojson: G01", "WGS84"),
    ("gauges.geojson", _shape("Point", ["a", "b"]), "gauges.geojson: G01", "finite"),
    ("toilets.geojson", _props(0, **{"class": "first"}), "toilets.geojson", "bad value"),
    ("toilets.geojson", _props(0, capacity_per_15min=[1]), "toilets.geojson", "bad value"),
]


def _settings(folder: Path | str, **airspace: object) -> Settings:
    return load_settings(overrides={"assets": {"dir": str(folder)}, "airspace": dict(airspace)})


@pytest.mark.parametrize(("name", "change", "where", "why"), BAD_ASSETS)
def test_a_bad_asset_file_is_a_configuration_error_naming_it(
    tmp_path: Path, name: str, change: Callable[[Doc], object], where: str, why: str
) -> None:
    folder = _assets(tmp_path, name, change)
    with pytest.raises(ConfigError) as exc:
        preflight(_settings(folder))
    assert any(where in path and why in reason for path, reason in exc.value.problems), exc.value.problems


def test_a_file_that_is_no_geojson_is_named(tmp_path: Path) -> None:
    folder = _assets(tmp_path, "areas.geojson", lambda doc: None)
    (folder / "areas.geojson").write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        preflight(_settings(folder))
    assert [p for p, _ in exc.value.problems] == [str(folder / "areas.geojson")]


def test_the_registry_names_the_file_of_a_bad_value(tmp_path: Path) -> None:
    """It raised ValueError from int('first'): a traceback, not a configuration error."""
    folder = _assets(tmp_path, "toilets.geojson", _props(0, **{"class": "first"}))
    with pytest.raises(ConfigError) as exc:
        load_registry(folder)
    assert exc.value.problems[0][0] == str(folder / "toilets.geojson")


def test_the_sample_assets_have_the_geometry_of_their_files() -> None:
    assert geometry_problems(sample_assets_dir()) == []


@pytest.mark.parametrize("dem", ["missing.tif", "not-a-dem.tif"])
def test_a_dem_that_cannot_be_read_is_named(tmp_path: Path, dem: str) -> None:
    (tmp_path / "not-a-dem.tif").write_text("plain text", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        preflight(_settings(sample_assets_dir(), dem=str(tmp_path / dem)))
    assert [p for p, _ in exc.value.problems] == ["airspace.dem"]
    assert dem in exc.value.problems[0][1]


def test_a_dem_is_reported_with_the_other_problems(tmp_path: Path) -> None:
    folder = _assets(tmp_path, "stops.geojson", _geometry(0, None))
    with pytest.raises(ConfigError) as exc:
        preflight(_settings(folder, dem=str(tmp_path / "missing.tif")))
    paths = [p for p, _ in exc.value.problems]
    assert "airspace.dem" in paths
    assert any("stops.geojson" in p for p in paths)


def test_what_preflight_loads_is_what_the_runtime_serves(tmp_path: Path, mosquitto: Mosquitto) -> None:
    dem = write_haishu_dem(tmp_path / "dem.tif")
    settings = load_settings(
        overrides={
            "store": {"path": str(tmp_path / "store")},
            "spool": {"path": str(tmp_path / "spool")},
            "mqtt": {"url": mosquitto.url, "client_id": "preflight"},
            "mavlink": {"endpoints": []},
            "assets": {"dir": str(sample_assets_dir())},
            "airspace": {"dem": str(dem)},
            "api": {"tokens": [{"token": "pre-viewer", "role": "viewer"}]},
        }
    )
    loaded = preflight(settings)
    assert loaded.planner.terrain.description == "DEM dem.tif"
    assert {d.id for d in loaded.registry.of_kind("gauge")} >= {"G01", "G05"}
    with TestClient(create_app(settings, loaded=loaded)) as client:
        wait_until(lambda: client.get("/readyz").status_code == 200, 10, "readiness")
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        assert runtime.missions is loaded.planner  # the DEM was read once
        assert runtime.registry is loaded.registry


def _config(tmp_path: Path, folder: Path | str, dem: str = "") -> Path:
    f = tmp_path / "c.toml"
    f.write_text(
        f'[assets]\ndir = "{folder}"\n[airspace]\ndem = "{dem}"\n[api]\nport = {free_port()}\n'
        f'[store]\npath = "{tmp_path / "store"}"\n[spool]\npath = "{tmp_path / "spool"}"\n'
        f'[mavlink]\nendpoints = []\n[[api.tokens]]\ntoken_sha256 = "{token_sha256("a-real-secret")}"\n',
        encoding="utf-8",
    )
    return f


def test_serve_refuses_a_bad_route_file_with_exit_2_before_serving(tmp_path: Path) -> None:
    """It served, and the lifespan raised: a traceback and exit 3."""
    folder = _assets(tmp_path, "routes.geojson", _props(0, window="25:00-26:00"))
    r = run_cli("serve", "--config", str(_config(tmp_path, folder)), cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert f"error: {folder}: " in r.stderr
    assert "'25:00' is not a time of day" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "store").exists()  # refused before anything was opened


def test_check_config_checks_the_dem_and_the_assets(tmp_path: Path) -> None:
    """It loaded the registry only: a missing DEM was 'ok'."""
    f = _config(tmp_path, sample_assets_dir(), dem=str(tmp_path / "missing.tif"))
    r = run_cli("check-config", str(f), cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "error: airspace.dem: " in r.stderr
    assert "Traceback" not in r.stderr
    r = run_cli("check-config", str(_config(tmp_path, sample_assets_dir())), cwd=tmp_path)
    assert r.returncode == 0, r.stderr


def test_serve_on_a_spool_another_process_holds_exits_2_naming_it(tmp_path: Path) -> None:
    """The lock was taken inside the lifespan: a traceback instead of a configuration error."""
    held = Spool(tmp_path / "spool", 1 << 20)
    held.open()
    try:
        r = run_cli("serve", "--config", str(_config(tmp_path, sample_assets_dir())), cwd=tmp_path)
    finally:
        held.close()
    assert r.returncode == 2, r.stderr
    assert f"{tmp_path / 'spool'} is in use by another process" in r.stderr
    assert "Traceback" not in r.stderr
