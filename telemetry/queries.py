"""Typed query requests and answers shared by stores and the API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from telemetry.errors import QueryError
from telemetry.records import FieldValue
from telemetry.schema import MEASUREMENTS, MeasurementSchema

AggregateFn = Literal["mean", "max", "min", "sum", "count", "last"]
AGGREGATES: tuple[AggregateFn, ...] = ("mean", "max", "min", "sum", "count", "last")


@dataclass(frozen=True, slots=True)
class SeriesQuery:
    measurement: str
    fields: tuple[str, ...]
    device: str | None = None
    start_ms: int | None = None
    stop_ms: int | None = None  # exclusive
    every_ms: int | None = None  # window length; with fn: one row per window
    fn: AggregateFn | None = None
    limit: int = 10_000
    tags: tuple[tuple[str, str], ...] = ()  # only series with these tag values
    above: float | None = None  # only points whose (first) field is above this value


@dataclass(frozen=True, slots=True)
class SeriesRow:
    time_ms: int  # the point's time, or the window's start
    values: tuple[tuple[str, FieldValue | None], ...]


@dataclass(frozen=True, slots=True)
class LatestValue:
    """The newest point of one series (one device's tag set)."""

    measurement: str
    device: str
    time_ms: int
    tags: tuple[tuple[str, str], ...]
    fields: tuple[tuple[str, FieldValue], ...]


def validated(query: SeriesQuery) -> tuple[MeasurementSchema, tuple[str, ...]]:
    """The query's schema and fields, or a ``QueryError`` saying what is wrong with it (one check
    for every store)."""
    m = MEASUREMENTS.get(query.measurement)
    if m is None:
        raise QueryError(f"unknown measurement {query.measurement!r}")
    fields = query.fields or tuple(m.fields)
    for f in fields:
        if f not in m.fields:
            raise QueryError(f"{m.name} has no field {f!r}; fields: {', '.join(m.fields)}")
        if query.fn not in (None, "count", "last") and m.fields[f] == "str":
            raise QueryError(f"{f} is text: only count and last apply")
    for k, _ in query.tags:
        if k not in m.tags:
            raise QueryError(f"{m.name} has no tag {k!r}")
    if query.fn is not None and query.fn not in AGGREGATES:
        raise QueryError(f"unknown aggregate {query.fn!r}")
    return m, fields
