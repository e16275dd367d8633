"""The stuck rule's neighbour index (telemetry/flood/faults.py, a grid of cells one radius wide)
gives the brute-force answer on random gauge layouts: the same neighbours, nearest first."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry.flood.faults import distance_m, neighbours_within

_M_PER_DEG = 111_195.0


def brute_force(positions: dict[str, tuple[float, float]], radius_m: float) -> dict[str, tuple[str, ...]]:
    """Every pair measured: the O(gauges²) scan the index replaces."""
    out = {}
    for a, pa in positions.items():
        near = sorted((distance_m(pa, pb), b) for b, pb in positions.items() if b != a)
        out[a] = tuple(b for d, b in near if d <= radius_m)
    return out


Layout = tuple[dict[str, tuple[float, float]], float]  # (lon, lat) by gauge id, radius in metres


@st.composite
def layouts(draw: st.DrawFn) -> Layout:
    """A city anywhere between 80° S and 80° N: up to 40 gauges within 40 radii of a centre,
    two on the very same spot, partners at about the radius from others."""
    radius = draw(st.floats(1.0, 20_000.0))
    lon0 = draw(st.floats(-170.0, 170.0))
    lat0 = draw(st.floats(-80.0, 80.0))
    spread = draw(st.floats(0.0, 40.0)) * radius / _M_PER_DEG  # degrees of latitude
    offsets = st.tuples(st.floats(-1.0, 1.0), st.floats(-1.0, 1.0))
    points = draw(st.lists(offsets, min_size=0, max_size=40))
    positions = {
        f"G{k:02d}": (lon0 + dx * spread * 3, lat0 + dy * spread) for k, (dx, dy) in enumerate(points)
    }
    if positions and draw(st.booleans()):
        positions["TWIN"] = next(iter(positions.values()))  # two gauges on one spot
    for k, (lon, lat) in enumerate(list(positions.values())[: draw(st.integers(0, 10))]):
        # a partner just inside or outside the radius, often due east or west (the cells' width)
        bearing = math.radians(draw(st.sampled_from([90.0, 270.0]) | st.floats(0.0, 360.0)))
        d = radius * draw(st.floats(0.9, 1.01))
        positions[f"P{k:02d}"] = (
            lon + d * math.sin(bearing) / (_M_PER_DEG * math.cos(math.radians(lat))),
            lat + d * math.cos(bearing) / _M_PER_DEG,
        )
    return positions, radius


@settings(max_examples=400, deadline=None)
@given(layouts())
def test_the_index_finds_what_every_pair_measured_finds(
    layout: tuple[dict[str, tuple[float, float]], float],
) -> None:
    positions, radius = layout
    assert neighbours_within(positions, radius) == brute_force(positions, radius)
