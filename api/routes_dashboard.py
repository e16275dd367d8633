"""The dashboard at ``/`` (CONTRACT §6): a page and its assets, all inside the package (no CDN),
plus what the page needs besides the data routes: who the token belongs to and the map layers."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from shapely.geometry import mapping

from api.auth import ROLE_PERMISSIONS, Reader, authenticate
from api.runtime import runtime_of

router = APIRouter()
STATIC = Path(str(resources.files("api") / "static"))
LAYERS = ("routes", "stops", "toilets", "gauges", "vehicles")


@router.get("/", include_in_schema=False)
async def dashboard() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")


@router.get("/api/v1/me", tags=["dashboard"])
async def me(request: Request) -> dict[str, Any]:
    """The token's user, role and permissions (the dashboard hides what the role may not do) and
    the site's time zone (dates of the metrics are local to it) and the basemap (``[map]``: tile
    URL template, subdomains, attribution and the datum the tiles are drawn in)."""
    user = authenticate(request)
    settings = runtime_of(request).settings
    return {
        "user": user.name,
        "role": user.role,
        "permissions": sorted(ROLE_PERMISSIONS[user.role]),
        "timezone": settings.site.timezone,
        "map": settings.map.model_dump(),
    }


def _collection(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"type": "FeatureCollection", "features": []}
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return {"type": "FeatureCollection", "features": doc.get("features", [])}


@router.get("/api/v1/assets", tags=["dashboard"])
async def assets(request: Request, user: Reader) -> dict[str, Any]:
    """The map's static layers as GeoJSON FeatureCollections: the asset files (routes, stops,
    toilets, gauges, vehicles) and the airspace areas (patrol, no-fly and controlled, airport
    protection zones included)."""
    rt = runtime_of(request)
    folder = Path(rt.registry.source or rt.settings.assets.dir)
    layers = {name: _collection(folder / f"{name}.geojson") for name in LAYERS}
    zones = rt.missions.zones if rt.missions else []
    layers["areas"] = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": mapping(z.polygon),
                "properties": {"id": z.id, "kind": z.kind, "max_agl_m": z.max_agl_m},
            }
            for z in zones
        ],
    }
    return layers
