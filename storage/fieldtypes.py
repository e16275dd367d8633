"""Values read back from InfluxDB, given the schema's types (its JSON has no int/float split)."""

from __future__ import annotations

from typing import Any

from telemetry.records import FieldValue
from telemetry.schema import MeasurementSchema


def typed(m: MeasurementSchema, field: str, value: Any) -> FieldValue | None:
    if value is None:
        return None
    kind = m.fields.get(field)
    if kind == "int" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if kind == "float" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)
