"""A basemap for the browser tests: an XYZ tile server on 127.0.0.1 (http.server in a thread)
serving PNG tiles it draws (Pillow), plain except for a mark, a black square centred on a known
point, drawn into whichever tile holds it at any zoom. Web Mercator as Leaflet's EPSG:3857."""

from __future__ import annotations

import contextlib
import io
import math
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple

from PIL import Image, ImageDraw

TILE = 256
MARK_HALF = 3  # the mark is 7 x 7 px


def world_px(lat: float, lon: float, zoom: int) -> tuple[float, float]:
    """Global pixel position of (lat, lon) at ``zoom`` (EPSG:3857 as Leaflet projects it)."""
    scale = TILE * 2**zoom
    s = math.sin(math.radians(lat))
    return scale * (lon + 180.0) / 360.0, scale * (0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi))


def world_latlon(x: float, y: float, zoom: float) -> tuple[float, float]:
    scale = TILE * 2**zoom
    lon = x / scale * 360.0 - 180.0
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / scale))))
    return lat, lon


class TileServer(NamedTuple):
    url: str  # the template, e.g. http://127.0.0.1:PORT/{z}/{x}/{y}.png
    requests: list[str]


def _tile_png(mark: tuple[float, float], z: int, x: int, y: int) -> bytes:
    img = Image.new("RGB", (TILE, TILE), (238, 234, 226))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, TILE - 1, TILE - 1), outline=(214, 208, 196))
    mx, my = world_px(mark[0], mark[1], z)
    px, py = mx - x * TILE, my - y * TILE
    if -MARK_HALF <= px < TILE + MARK_HALF and -MARK_HALF <= py < TILE + MARK_HALF:
        draw.rectangle((px - MARK_HALF, py - MARK_HALF, px + MARK_HALF, py + MARK_HALF), fill=(0, 0, 0))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


@contextlib.contextmanager
def tile_server(mark: tuple[float, float]) -> Iterator[TileServer]:
    """Tiles with a mark at ``mark`` (lat, lon in the tiles' own datum)."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            found = re.fullmatch(r"/(\d+)/(\d+)/(\d+)\.png", self.path)
            if not found:
                self.send_error(404)
                return
            body = _tile_png(mark, *(int(v) for v in found.groups()))
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)  # else the page moved on (Leaflet cancels tiles it no longer needs)

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="tile-server", daemon=True)
    thread.start()
    try:
        yield TileServer(f"http://127.0.0.1:{server.server_port}/{{z}}/{{x}}/{{y}}.png", seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
