"""``[map]``: the dashboard's basemap (CONTRACT §7, issue 21). Empty ``tiles``: no basemap, the
page fetches nothing. ``datum`` says which datum the tiles are drawn in: on GCJ-02 tiles (AMap
style) the page shifts every feature to GCJ-02 for display and every click back to WGS84."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from telemetry.config_base import Section
from telemetry.urls import check_http_url

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_REQUIRED = ("z", "x", "y")
_KNOWN = frozenset({"z", "x", "y", "s", "r"})  # Leaflet's: {r} is "@2x" on retina screens


def check_tile_template(url: str) -> str:
    """An XYZ/WMTS tile URL template: ``http(s)://`` with ``{z}``, ``{x}`` and ``{y}``, optionally
    ``{s}`` (a subdomain) and ``{r}``; with the placeholders filled it must be a URL httpx accepts
    (telemetry/urls.py). Answers it unchanged; raises ``ValueError`` with the reason."""
    if not url:
        return url
    found = _PLACEHOLDER.findall(url)
    unknown = sorted(set(found) - _KNOWN)
    if unknown:
        raise ValueError(f"unknown placeholder(s) {', '.join('{' + u + '}' for u in unknown)}")
    missing = [p for p in _REQUIRED if p not in found]
    if missing:
        raise ValueError(f"a tile URL needs {{z}}, {{x}} and {{y}}; missing {', '.join(missing)}")
    sample = url.replace("{s}", "a").replace("{r}", "").replace("{z}", "1").replace("{x}", "0")
    check_http_url(sample.replace("{y}", "0"))
    return url


class MapConfig(Section):
    tiles: str = ""  # XYZ/WMTS URL template; empty: no basemap, nothing fetched
    subdomains: str = Field("", max_length=32)  # the letters {s} takes, e.g. "abc" or "01234567"
    attribution: str = Field("", max_length=500)
    datum: Literal["wgs84", "gcj02"] = "wgs84"

    @field_validator("tiles")
    @classmethod
    def _template(cls, v: str) -> str:
        return check_tile_template(v.strip())

    @field_validator("subdomains")
    @classmethod
    def _letters(cls, v: str) -> str:
        if not v.isalnum() and v:
            raise ValueError("letters or digits only, one per subdomain (e.g. 'abc')")
        return v
