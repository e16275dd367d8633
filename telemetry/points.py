"""The stored form of every record: a point (measurement, sorted tags, fields, UTC time in ms)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

FieldValue = float | int | str | bool


@dataclass(frozen=True, slots=True)
class Point:
    """One stored point: measurement, tags (sorted), fields and a UTC time in milliseconds.

    Two points with the same measurement, tags and time are the same point (idempotent storage).
    """

    measurement: str
    tags: tuple[tuple[str, str], ...]
    fields: tuple[tuple[str, FieldValue], ...]
    time_ms: int

    @staticmethod
    def make(
        measurement: str,
        tags: Mapping[str, str | None],
        fields: Mapping[str, FieldValue | None],
        time_ms: int,
    ) -> Point:
        """Build a point, leaving out tags and fields that are ``None``."""
        return Point(
            measurement,
            tuple(sorted((k, v) for k, v in tags.items() if v is not None)),
            tuple((k, v) for k, v in fields.items() if v is not None),
            time_ms,
        )

    def tag(self, name: str) -> str | None:
        return next((v for k, v in self.tags if k == name), None)

    def field(self, name: str) -> FieldValue | None:
        return next((v for k, v in self.fields if k == name), None)


@lru_cache(maxsize=65536)
def tags_of(*pairs: tuple[str, str | None]) -> tuple[tuple[str, str], ...]:
    """Sorted tags without the missing ones; cached, since a device's tags rarely change."""
    return tuple(sorted((k, v) for k, v in pairs if v is not None))
