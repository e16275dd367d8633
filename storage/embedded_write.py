"""The embedded store's write path in Python: a batch of points to series ids, one Arrow table per
measurement and the ``latest`` rows (storage/embedded.py runs the SQL).

It runs in the writer thread, which shares the GIL with MQTT and replay decoding, so the work per
point is kept small (issue 22): the loops over points run in C where they can (``map``, ``zip``,
``set``, ``dict``); a measurement's columns are filled in one pass that touches only the fields a
point carries; the per-key merge runs only when a batch has a duplicate (series, time); JSON is
made only for each series' newest point.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from operator import attrgetter
from typing import Any

import pyarrow as pa

from telemetry.errors import StoreError
from telemetry.records import Point
from telemetry.schema import MEASUREMENTS, FieldType, MeasurementSchema

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]

ARROW_TYPE: dict[FieldType, pa.DataType] = {
    "float": pa.float64(),
    "int": pa.int64(),
    "str": pa.string(),
    "bool": pa.bool_(),
}
_MEASUREMENT = attrgetter("measurement")
_TAGS = attrgetter("tags")
_TIME = attrgetter("time_ms")


def series_key(p: Point) -> str:
    return p.measurement + "," + ",".join(f"{k}={v}" for k, v in p.tags)


def measurements(points: Sequence[Point]) -> list[MeasurementSchema]:
    """The batch's measurements in order of first appearance; an unknown one is refused."""
    names = dict.fromkeys(map(_MEASUREMENT, points))
    for name in names:
        if name not in MEASUREMENTS:
            raise StoreError(f"unknown measurement {name!r}", retryable=False)
    return [MEASUREMENTS[name] for name in names]


def series_ids(
    series: dict[SeriesKey, int],
    points: Sequence[Point],
    added: list[SeriesKey],
    new_rows: list[tuple[int, str, str | None, str, str]],
) -> list[int]:
    """Each point's series id. A new series is numbered ``len(series) + 1`` in order of first
    appearance, entered in ``series`` and ``added`` (so a failed batch can take it out again)
    and given its ``series`` table row in ``new_rows``."""
    keys = list(zip(map(_MEASUREMENT, points), map(_TAGS, points), strict=True))
    ids: list[Any] = list(map(series.get, keys))
    if None in ids:
        for i, sid in enumerate(ids):
            if sid is not None:
                continue
            key = keys[i]
            known = series.get(key)
            if known is None:
                p = points[i]
                known = len(series) + 1
                series[key] = known
                added.append(key)
                device = p.tag(MEASUREMENTS[p.measurement].device_tag)
                new_rows.append((known, p.measurement, device, json.dumps(dict(p.tags)), series_key(p)))
            ids[i] = known
    return ids


def deduplicated(ids: list[int], points: Sequence[Point]) -> tuple[list[int], Sequence[Point], list[int]]:
    """One point per (series, time), as (ids, points, times). The same point twice in a batch:
    fields merge, the later value wins (as InfluxDB); the key keeps its first place. Checked
    cheaply first (distinct times, then distinct keys): most batches have no duplicate."""
    times = list(map(_TIME, points))
    n = len(times)
    if len(set(times)) == n or len(set(zip(ids, times, strict=True))) == n:
        return ids, points, times
    keyed: dict[tuple[int, int], Point] = {}
    for sid, p in zip(ids, points, strict=True):
        seen = keyed.get((sid, p.time_ms))
        keyed[(sid, p.time_ms)] = p if seen is None else _merge(seen, p)
    return [k[0] for k in keyed], list(keyed.values()), [k[1] for k in keyed]


def _merge(old: Point, new: Point) -> Point:
    return Point(new.measurement, new.tags, tuple((dict(old.fields) | dict(new.fields)).items()), new.time_ms)


def by_measurement(
    ms: list[MeasurementSchema], ids: list[int], points: Sequence[Point], times: list[int]
) -> list[tuple[MeasurementSchema, list[int], Sequence[Point], list[int]]]:
    """The batch split by measurement (in order of first appearance), each part in batch order."""
    if len(ms) == 1:
        return [(ms[0], ids, points, times)]
    where: dict[str, list[int]] = {m.name: [] for m in ms}
    for i, name in enumerate(map(_MEASUREMENT, points)):
        where[name].append(i)
    out: list[tuple[MeasurementSchema, list[int], Sequence[Point], list[int]]] = []
    for m in ms:
        idx = where[m.name]
        out.append(
            (
                m,
                list(map(ids.__getitem__, idx)),
                list(map(points.__getitem__, idx)),
                list(map(times.__getitem__, idx)),
            )
        )
    return out


def table(m: MeasurementSchema, ids: list[int], points: Sequence[Point], times: list[int]) -> pa.Table:
    """The measurement's rows as an Arrow table: series, time, then every field of the schema
    (None where a point lacks it). Unknown fields and values of the wrong type are refused."""
    n = len(points)
    cols: dict[str, list[Any]] = {f: [None] * n for f in m.fields}
    try:
        for i, p in enumerate(points):  # only the fields a point carries
            for f, v in p.fields:
                cols[f][i] = v
    except KeyError:
        unknown = {f for p in points for f, _ in p.fields} - m.fields.keys()
        raise StoreError(f"{m.name}: unknown fields {sorted(unknown)}", retryable=False) from None
    try:
        data = {"series": pa.array(ids, pa.int32()), "time": pa.array(times, pa.int64())} | {
            f: pa.array(cols[f], ARROW_TYPE[t]) for f, t in m.fields.items()
        }
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
        raise StoreError(f"{m.name}: a field has the wrong type: {exc}", retryable=False) from exc
    return pa.table(data)


def newest_and_oldest(ids: list[int], times: list[int]) -> tuple[dict[int, int], dict[int, int]]:
    """For each series of the batch (one point per key), the index of its newest and of its
    oldest point."""
    order = sorted(range(len(times)), key=times.__getitem__)
    newest = dict(zip(map(ids.__getitem__, order), order, strict=True))  # the last one wins
    order.reverse()
    return newest, dict(zip(map(ids.__getitem__, order), order, strict=True))


def latest_table(newest: dict[int, int], points: Sequence[Point], times: list[int]) -> pa.Table:
    """Each series' newest point of the batch, with its fields as JSON."""
    return pa.table(
        {
            "series": pa.array(list(newest), pa.int32()),
            "time": pa.array([times[i] for i in newest.values()], pa.int64()),
            "fields": pa.array([json.dumps(dict(points[i].fields)) for i in newest.values()], pa.string()),
        }
    )
