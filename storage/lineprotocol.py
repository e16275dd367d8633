"""InfluxDB line protocol, millisecond precision: the one encoding of both InfluxDB backends.

Hand-written because the ingest path is measured (ARCHITECTURE.md: a line-protocol encoder for
speed); it follows influxdb-client's ``Point.to_line_protocol`` byte for byte (sorted tags and
fields, the same escaping, whole floats without ".0") and ``tests/test_lineprotocol.py`` checks it
against the library.
"""

from __future__ import annotations

from collections.abc import Iterable

from telemetry.records import Point

_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"})
_KEY = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"})
_STRING = str.maketrans({'"': r"\"", "\\": "\\\\"})


def _tag_value(value: str) -> str:
    out = value.translate(_KEY)
    return out + " " if out.endswith("\\") else out


def _field(key: str, value: float | int | str | bool) -> str:
    k = key.translate(_KEY)
    if isinstance(value, bool):
        return f"{k}={'true' if value else 'false'}"
    if isinstance(value, int):
        return f"{k}={value}i"
    if isinstance(value, float):
        s = str(value)
        return f"{k}={s[:-2] if s.endswith('.0') else s}"
    return f'{k}="{value.translate(_STRING)}"'


def encode(point: Point) -> str:
    """One line (without the newline). Empty tag values are left out, as InfluxDB requires."""
    tags = "".join(
        f",{k.translate(_KEY)}={_tag_value(v)}" for k, v in sorted(point.tags) if v != "" and k != ""
    )
    fields = ",".join(_field(k, v) for k, v in sorted(point.fields, key=lambda kv: kv[0]))
    return f"{point.measurement.translate(_MEASUREMENT)}{tags} {fields} {point.time_ms}"


def encode_batch(points: Iterable[Point]) -> bytes:
    return "\n".join(encode(p) for p in points).encode("utf-8")
