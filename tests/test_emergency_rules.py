"""The flood emergency mode's pure rules and desk (docs/emergency.md), on an injected clock: what
each level puts in force, which gauges still owe an acknowledgement, the automatic rule (N gauges
turning red within M minutes raises, never lowers, an admin's choice stands), the commands sent
again, and the flood engine's seam (a level's lowered thresholds and offline time). The MQTT and
HTTP path is in test_emergency.py."""

from __future__ import annotations

import pytest

from sensors.decoders import DecodeContext, decode_message
from telemetry.alerts.book import AlertBook
from telemetry.assets import load_registry, sample_assets_dir
from telemetry.config import load_settings
from telemetry.config_derivations import FloodConfig
from telemetry.config_emergency import EmergencyConfig
from telemetry.emergency.desk import ModeDesk
from telemetry.emergency.rules import auto_level, in_force, owing, track_red
from telemetry.flood.engine import FloodEngine
from telemetry.flood.rules import FloodRules
from telemetry.records import GaugeReading
from telemetry.records_mode import GaugeEvent, ModeRecord

T0 = 1_795_564_800_000
MIN = 60_000
CFG = EmergencyConfig()  # defaults: 3 gauges red within 30 min -> IV
FLOOD = FloodConfig()
GAUGES = ["G01", "G02", "G03", "G04", "G05"]


def test_each_level_puts_its_thresholds_offline_time_and_interval_in_force() -> None:
    iii = in_force("III", CFG, FLOOD)
    assert (iii.yellow_cm, iii.red_cm, iii.offline_after_s, iii.interval_s, iii.storm_schedules) == (
        12,
        25,
        300,
        60,
        True,
    )
    none = in_force("none", CFG, FLOOD)
    assert (none.yellow_cm, none.red_cm, none.offline_after_s, none.interval_s) == (15, 30, 900, 300)
    assert not none.storm_schedules
    assert not in_force("IV", CFG, FLOOD).storm_schedules
    # a level never raises a threshold: with normal thresholds lower than the level's, they stay
    low = in_force("IV", CFG, FloodConfig(yellow_cm=10, red_cm=20, offline_after_s=400))
    assert (low.yellow_cm, low.red_cm, low.offline_after_s) == (10, 20, 400)
    with pytest.raises(ValueError, match="unknown flood response level"):
        in_force("V", CFG, FLOOD)


def test_partial_level_tables_keep_that_levels_other_defaults() -> None:
    cfg = EmergencyConfig.model_validate({"levels": {"III": {"red_cm": 20}}})
    assert (cfg.levels["III"].red_cm, cfg.levels["III"].yellow_cm, cfg.levels["I"].red_cm) == (20, 12, 20)
    with pytest.raises(ValueError, match="offline_after_s must be longer"):
        EmergencyConfig.model_validate({"levels": {"II": {"interval_s": 600}}})


def test_gauges_owe_an_ack_until_they_acknowledge_that_interval() -> None:
    assert owing(GAUGES, {"G01": 60, "G02": 300}, 60) == ["G02", "G03", "G04", "G05"]
    assert owing(GAUGES, dict.fromkeys(GAUGES, 60), 60) == []


def test_the_automatic_rule_counts_gauges_turning_red_within_the_window() -> None:
    onsets: dict[str, int | None] = {}
    track_red(onsets, ["G01"], T0)
    track_red(onsets, ["G01", "G02"], T0 + 10 * MIN)
    assert auto_level(onsets, T0 + 10 * MIN, "none", CFG, 0) is None  # two of three
    track_red(onsets, ["G01", "G02", "G03"], T0 + 29 * MIN)
    assert onsets["G01"] == T0  # still red: its onset stays
    assert auto_level(onsets, T0 + 29 * MIN, "none", CFG, 0) == "IV"
    assert auto_level(onsets, T0 + 31 * MIN, "none", CFG, 0) is None  # G01's onset left the window
    assert auto_level(onsets, T0 + 29 * MIN, "IV", CFG, 0) is None  # nothing to raise
    assert auto_level(onsets, T0 + 29 * MIN, "II", CFG, 0) is None  # it never lowers
    assert auto_level(onsets, T0 + 29 * MIN, "none", CFG, T0 + 5 * MIN) is None  # an admin chose since
    assert auto_level(onsets, T0 + 29 * MIN, "none", CFG.model_copy(update={"auto_red_gauges": 0}), 0) is None
    track_red(onsets, ["G02", "G03"], T0 + 30 * MIN)
    assert "G01" not in onsets  # no longer red: forgotten, a new onset when red again
    track_red(onsets, ["G01", "G02", "G03"], T0 + 32 * MIN)
    assert auto_level(onsets, T0 + 32 * MIN, "none", CFG, 0) == "IV"


def test_gauges_red_when_first_seen_never_count() -> None:
    desk = ModeDesk(CFG, FLOOD, GAUGES, "haishu")
    desk.restore(None, [], ["G01", "G02", "G03"])
    assert not desk.tick(T0, ["G01", "G02", "G03"])
    assert desk.level == "none"
    out = desk.tick(T0 + MIN, ["G01", "G02", "G03", "G04", "G05"])  # two new: not three
    assert desk.level == "none"
    assert not out


def desk_in_iii() -> ModeDesk:
    desk = ModeDesk(CFG, FLOOD, GAUGES, "haishu")
    desk.restore(None, [], [])
    out = desk.set("III", "duty-07", T0)
    assert [c.gauge for c in out.commands] == GAUGES
    assert {c.interval_s for c in out.commands} == {60}
    assert [(s.actor, s.action, s.level) for s in out.steps] == [("duty-07", "mode_enter", "III")]
    assert [(r.level, r.by, r.previous) for r in out.records if isinstance(r, ModeRecord)] == [
        ("III", "duty-07", "none")
    ]
    return desk


def test_an_admin_sets_a_level_every_gauge_is_commanded_and_silent_ones_again_each_minute() -> None:
    desk = desk_in_iii()
    assert desk.message() == {"level": "III", "since": T0, "by": "duty-07"}
    assert not desk.set("III", "duty-07", T0 + 1)  # the same level: nothing
    desk.acknowledge("G01", 60)
    desk.acknowledge("G02", 300)  # an old interval is no acknowledgement
    assert desk.owing() == ["G02", "G03", "G04", "G05"]
    assert not desk.tick(T0 + 59_000, []).commands  # sent a minute ago: not yet
    again = desk.tick(T0 + 60_000, [])
    assert [c.gauge for c in again.commands] == ["G02", "G03", "G04", "G05"]
    assert not desk.tick(T0 + 90_000, []).commands
    left = desk.set("none", "duty-07", T0 + 2 * MIN)
    assert [(s.action, s.level) for s in left.steps] == [("mode_leave", "III")]
    assert {c.interval_s for c in left.commands} == {300}
    assert len(left.commands) == 5
    assert desk.owing() == GAUGES  # the normal interval is owed now


def test_the_automatic_rule_raises_and_an_admins_later_choice_stands() -> None:
    desk = ModeDesk(CFG, FLOOD, GAUGES, "haishu")
    desk.restore(None, [], [])
    desk.tick(T0, ["G01"])
    desk.tick(T0 + MIN, ["G01", "G02"])
    out = desk.tick(T0 + 2 * MIN, ["G01", "G02", "G03"])
    assert (desk.level, desk.by) == ("IV", "service")
    assert [(s.actor, s.action) for s in out.steps] == [("service", "mode_enter")]
    assert {c.interval_s for c in out.commands} == {120}
    desk.set("none", "duty-07", T0 + 3 * MIN)  # the admin leaves: the same red gauges raise nothing
    assert not desk.tick(T0 + 4 * MIN, ["G01", "G02", "G03"]).steps
    assert desk.level == "none"
    desk.set("II", "duty-07", T0 + 5 * MIN)
    desk.tick(T0 + 6 * MIN, GAUGES)
    assert desk.level == "II"  # never lowered to IV


def test_a_restart_keeps_the_level_and_owes_only_the_gauges_that_had_not_acknowledged() -> None:
    desk = ModeDesk(CFG, FLOOD, GAUGES, "haishu")
    record = ModeRecord("haishu", T0, "III", "duty-07", "none")
    desk.restore(record, [("G01", T0 + 1000, 60), ("G02", T0 - 1000, 60), ("G03", T0 + 2000, 300)], [])
    assert (desk.level, desk.by, desk.force.red_cm) == ("III", "duty-07", 25)
    assert desk.owing() == ["G02", "G03", "G04", "G05"]  # G02's ack is older than the level
    assert [c.gauge for c in desk.tick(T0 + 5 * MIN, []).commands] == ["G02", "G03", "G04", "G05"]


def grade(engine: FloodEngine, gauge: str, t: int, depth: float) -> str:
    engine.observe([GaugeReading(gauge, "haishu", t, depth)], t)
    return engine.view()[gauge].level


def test_the_flood_engine_grades_with_the_levels_thresholds_and_offline_time() -> None:
    e = FloodEngine(FloodRules(), AlertBook(), thresholds={"G02": (10.0, 40.0)}, offline_after_s=900)
    assert grade(e, "G01", T0, 27) == "yellow"  # normal: red from 30
    assert grade(e, "G02", T0, 27) == "yellow"  # its own: red from 40
    e.set_limits((12.0, 25.0), 300)
    assert grade(e, "G01", T0 + 20 * MIN, 27) == "red"  # level III: red from 25
    assert grade(e, "G02", T0 + 20 * MIN, 27) == "red"  # the lower of its own 40 and the level's 25
    assert grade(e, "G03", T0 + 20 * MIN, 11) == "green"
    e.set_limits(None, 900)
    assert grade(e, "G03", T0 + 40 * MIN, 11) == "green"
    assert grade(e, "G05", T0 + 40 * MIN, 27) == "yellow"  # normal thresholds again: red from 30
    later = T0 + 40 * MIN + 301_000  # 5 min after G03's and G05's last reading
    assert {c.gauge for c in e.check_offline(later)} == {"G01", "G02"}  # silent for 25 min > 15
    e.set_limits((12.0, 25.0), 300)
    assert {c.gauge for c in e.check_offline(later) if c.now.offline} == {"G03", "G05"}  # > 5 min


def test_a_gauges_command_ack_is_decoded_and_a_bad_one_is_a_dead_letter() -> None:
    ctx = DecodeContext("city/haishu", load_registry(sample_assets_dir()), "haishu", 300_000)
    topic = "city/haishu/gauge/G01/event"
    ok = decode_message(topic, b'{"ts": 1795564800000, "type": "command_ack", "interval_s": 60}', T0, ctx)
    assert ok.records == (GaugeEvent("G01", "haishu", T0, "command_ack", 60),)
    assert ok.records[0].to_point().measurement == "gauge_event"
    for body, reason in (
        (b'{"ts": 1795564800000, "type": "command_ack"}', "missing_field"),
        (b'{"ts": 1795564800000, "type": "reboot", "interval_s": 60}', "out_of_range"),
        (b'{"ts": 1795564800000, "type": "command_ack", "interval_s": 0}', "out_of_range"),
    ):
        assert [d.reason for d in decode_message(topic, body, T0, ctx).dead_letters] == [reason]
    assert decode_message("city/haishu/gauge/G01/command", b'{"interval_s": 60}', T0, ctx).records == ()


def test_a_levels_key_can_be_set_by_an_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEMETRY_EMERGENCY__LEVELS__III__RED_CM", "20")
    levels = load_settings().emergency.levels
    assert (levels["III"].red_cm, levels["III"].yellow_cm) == (20, 12)
