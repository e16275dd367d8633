"""One schema: every record's stored form (``to_point``) writes only the tags and fields that
``telemetry/schema.py`` declares for its measurement, with the declared types. Without this a
mismatch shows only at run time, as ``store_rejected`` dead letters."""

from __future__ import annotations

import dataclasses
import types
import typing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry import records
from telemetry.records import Record
from telemetry.schema import MEASUREMENTS

RECORD_TYPES = typing.get_args(Record)
_PLAIN: dict[object, st.SearchStrategy[object]] = {
    str: st.text(min_size=1, max_size=8),
    int: st.integers(-(2**31), 2**31),
    float: st.floats(-1e6, 1e6, allow_nan=False),
    bool: st.booleans(),
}
_STORED_TYPE = {"str": str, "int": int, "float": float, "bool": bool}


def _strategy(annotation: object) -> st.SearchStrategy[object]:
    if annotation in _PLAIN:
        return _PLAIN[annotation]
    options = typing.get_args(annotation)
    if isinstance(annotation, types.UnionType) and type(None) in options:
        (inner,) = (o for o in options if o is not type(None))
        return st.none() | _strategy(inner)
    raise AssertionError(f"no strategy for {annotation!r}: extend the test with the new field type")


def _records(cls: type) -> st.SearchStrategy[object]:
    hints = typing.get_type_hints(cls, vars(records))
    return st.builds(cls, **{f.name: _strategy(hints[f.name]) for f in dataclasses.fields(cls)})


def test_every_record_kind_is_covered() -> None:
    assert len(RECORD_TYPES) >= 9
    assert all(hasattr(cls, "to_point") for cls in RECORD_TYPES)


@pytest.mark.parametrize("cls", RECORD_TYPES, ids=lambda c: c.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_to_point_writes_only_what_the_schema_declares(cls: type, data: st.DataObject) -> None:
    record = data.draw(_records(cls))
    point = record.to_point()  # type: ignore[attr-defined]
    schema = MEASUREMENTS.get(point.measurement)
    assert schema is not None, f"{cls.__name__} writes {point.measurement!r}, not in schema.py"
    extra_tags = {k for k, _ in point.tags} - set(schema.tags)
    assert not extra_tags, f"{cls.__name__}: tags {extra_tags} are not in schema.py"
    assert point.tag(schema.device_tag), f"{cls.__name__}: no device tag {schema.device_tag!r}"
    for name, value in point.fields:
        declared = schema.fields.get(name)
        assert declared is not None, f"{cls.__name__}: field {name!r} is not in schema.py"
        stored = _STORED_TYPE[declared]
        ok = isinstance(value, stored) and not (stored is not bool and isinstance(value, bool))
        ok = ok or (stored is float and isinstance(value, int) and not isinstance(value, bool))
        assert ok, f"{cls.__name__}: field {name!r} = {value!r} is not the schema's {declared}"
