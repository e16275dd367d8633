"""A drone state's stored fields (issue 22): ``DroneState.to_point``, built directly, keeps each
field that is set and nothing else."""

from __future__ import annotations

from dataclasses import fields

import pytest

from telemetry.records import DroneState

STATE_FIELDS = [f.name for f in fields(DroneState) if f.name not in ("drone", "time_ms")]
SAMPLE = {"mode": "AUTO", "autopilot": "px4", "armed": False}


@pytest.mark.parametrize("name", STATE_FIELDS)
def test_each_field_alone_is_a_point_field_and_known(name: str) -> None:
    state = DroneState(7, 1_000, **{name: SAMPLE.get(name, 0)})  # type: ignore[arg-type]
    point = state.to_point()
    assert (point.measurement, point.tags, point.time_ms) == ("drone_state", (("drone", "7"),), 1_000)
    assert point.fields == ((name, SAMPLE.get(name, 0)),)


def test_a_state_that_knows_nothing_is_no_point() -> None:
    state = DroneState(7, 1_000)
    assert state.to_point().fields == ()
