from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from telemetry.config import DEFAULT_TOKEN, load_settings, production_problems, token_sha256
from telemetry.errors import ConfigError
from telemetry.urls import parse_mqtt_url


def paths(exc: pytest.ExceptionInfo[ConfigError]) -> list[str]:
    return [p for p, _ in exc.value.problems]


def test_defaults_match_the_contract() -> None:
    s = load_settings()
    assert s.store.backend == "embedded"
    assert s.store.path == "data"
    assert s.mqtt.url == "mqtt://127.0.0.1:1883"
    assert s.mqtt.client_id == "telemetry-1"
    assert s.mqtt.root == "city/haishu"
    assert s.mavlink.endpoints == ["udpin:0.0.0.0:14550"]
    assert (s.api.host, s.api.port) == ("127.0.0.1", 8000)
    assert s.spool.max_bytes == 1073741824
    assert s.airspace.max_true_height_m == 120
    assert s.airspace.airports[0].icao == "ZSNB"
    assert s.site.timezone == "Asia/Shanghai"


def test_file_then_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[store]\nbackend = "influxdb1"\npath = "/var/x"\n[mqtt]\nroot = "city/ningbo"\n')
    monkeypatch.setenv("TELEMETRY_STORE__BACKEND", "influxdb2")
    monkeypatch.setenv("TELEMETRY_STORE__TOKEN", "t0ken")
    monkeypatch.setenv("TELEMETRY_STORE__ORG", "city")
    monkeypatch.setenv("TELEMETRY_API__TOKENS", '[{"token": "s3cret", "role": "admin"}]')
    s = load_settings(f)
    assert s.store.backend == "influxdb2"  # environment wins
    assert s.store.path == "/var/x"  # file
    assert s.mqtt.root == "city/ningbo"
    assert [(t.token, t.role) for t in s.api.tokens] == [("s3cret", "admin")]


def test_unknown_key_in_file_names_its_path(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[store]\nbackend = "embedded"\nbackned = 1\n[nonsense]\nx = 1\n')
    with pytest.raises(ConfigError) as exc:
        load_settings(f)
    assert set(paths(exc)) == {"store.backned", "nonsense"}
    assert all("unknown key" in reason for _, reason in exc.value.problems)


@pytest.mark.parametrize(
    ("name", "value", "path"),
    [
        ("TELEMETRY_STORE__BACKEND", "mongodb", "store.backend"),
        ("TELEMETRY_API__PORT", "eighty", "api.port"),
        ("TELEMETRY_MQTT__URL", "http://broker", "mqtt.url"),
        ("TELEMETRY_MQTT__ROOT", "city/#", "mqtt.root"),
        ("TELEMETRY_SITE__TIMEZONE", "Mars/Olympus", "site.timezone"),
        ("TELEMETRY_MAVLINK__SIGNING_KEY", "xyz", "mavlink.signing_key"),
        ("TELEMETRY_STORE__BAKEND", "embedded", "store.bakend"),
        ("TELEMETRY_NOSUCH__KEY", "1", "TELEMETRY_NOSUCH__KEY"),
    ],
)
def test_bad_environment_value_names_the_key(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, path: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as exc:
        load_settings()
    assert paths(exc) == [path]


def test_broken_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[store\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad)
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "missing.toml")


def test_default_token_is_a_production_problem() -> None:
    s = load_settings()
    assert s.api.tokens[0].token == DEFAULT_TOKEN
    assert [p for p, _ in production_problems(s)] == ["api.tokens.0.token"]
    hashed = [{"token_sha256": token_sha256("long-random"), "role": "viewer"}]
    assert production_problems(load_settings(overrides={"api": {"tokens": hashed}})) == []


def test_plain_tokens_are_refused_outside_demo_and_hashed_ones_need_one_form() -> None:
    plain = load_settings(overrides={"api": {"tokens": [{"token": "long-random", "role": "viewer"}]}})
    [(path, reason)] = production_problems(plain)
    assert path == "api.tokens.0.token"
    assert "token_sha256" in reason
    demo_hashed = [{"token_sha256": token_sha256("demo-admin"), "role": "admin"}]
    assert production_problems(load_settings(overrides={"api": {"tokens": demo_hashed}}))
    both = [{"token": "x", "token_sha256": token_sha256("x")}]
    for bad in (both, [{"role": "admin"}], [{"token_sha256": "not-hex"}]):
        with pytest.raises(ConfigError, match=r"api\.tokens\.0"):
            load_settings(overrides={"api": {"tokens": bad}})
    upper = load_settings(overrides={"api": {"tokens": [{"token_sha256": token_sha256("y").upper()}]}})
    assert upper.api.tokens[0].digest == token_sha256("y")


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_config_cli_prints_each_error_and_exits_2(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[store]\nbackend = "oracle"\n[api]\nport = -1\n')
    r = run_cli("check-config", str(f), cwd=tmp_path)
    assert r.returncode == 2
    assert "store.backend" in r.stderr
    assert "api.port" in r.stderr
    good = tmp_path / "good.toml"
    good.write_text(f'[[api.tokens]]\ntoken_sha256 = "{token_sha256("a-real-secret")}"\nrole = "admin"\n')
    r = run_cli("check-config", str(good), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    default = tmp_path / "default.toml"
    default.write_text("")
    r = run_cli("check-config", str(default), cwd=tmp_path)
    assert r.returncode == 2
    assert "change-me" in r.stderr


def test_serve_refuses_the_default_token(tmp_path: Path) -> None:
    r = run_cli("serve", cwd=tmp_path)
    assert r.returncode == 2
    assert "api.tokens.0.token" in r.stderr


def test_an_unknown_log_level_is_a_usage_error(tmp_path: Path) -> None:
    """It was a ValueError traceback from logging.basicConfig."""
    r = run_cli("--log-level", "foo", "check-config", "x.toml", cwd=tmp_path)
    assert r.returncode == 2
    assert "--log-level: unknown level 'foo'" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("url", "host", "port"),
    [
        ("mqtt://[::1]:1883", "::1", 1883),
        ("mqtts://[2001:db8::7]", "2001:db8::7", 8883),
        ("mqtt://b.example/", "b.example", 1883),
    ],
)
def test_the_broker_url_and_its_parser_accept_the_same(url: str, host: str, port: int) -> None:
    assert load_settings(overrides={"mqtt": {"url": url}}).mqtt.url == url
    address = parse_mqtt_url(url)
    assert (address.host, address.port) == (host, port)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("mqtt://broker:99999", "Port out of range"),
        ("mqtt://broker:0", "port 0"),
        ("mqtt://[::1", "Invalid IPv6"),
        ("mqtt://[::g]:1883", "IPv6"),
        ("mqtt://user@broker", "mqtt.username"),
        ("mqtt://broker/topic", "without a path"),
        ("http://broker", "scheme"),
    ],
)
def test_a_bad_broker_url_is_refused_by_both(url: str, why: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_settings(overrides={"mqtt": {"url": url}})
    assert paths(exc) == ["mqtt.url"]
    assert why in exc.value.problems[0][1]
    with pytest.raises(ValueError, match=why):
        parse_mqtt_url(url)


@pytest.mark.parametrize(
    "url", ["http://[::1", "http://999.1.1.1:8086", "http://exa mple", "http://:80", "ftp://x"]
)
def test_webhook_and_influx_urls_are_validated_as_urls(url: str) -> None:
    """``http://[::1`` passed the webhook's pattern and raised httpx.InvalidURL at the first alert."""
    with pytest.raises(ConfigError) as exc:
        load_settings(overrides={"alerts": {"webhooks": [{"url": url}]}, "store": {"url": url}})
    assert sorted(paths(exc)) == ["alerts.webhooks.0.url", "store.url"]
    ok = load_settings(overrides={"alerts": {"webhooks": [{"url": "https://[::1]:8443/sms?x=1"}]}})
    assert ok.alerts.webhooks[0].url == "https://[::1]:8443/sms?x=1"


def test_a_reconnect_cap_below_a_whole_second_is_refused() -> None:
    """0.5 was accepted and passed to paho as int(0.5) == 0: reconnects without a pause."""
    with pytest.raises(ConfigError) as exc:
        load_settings(overrides={"mqtt": {"reconnect_max_s": 0.5}})
    assert paths(exc) == ["mqtt.reconnect_max_s"]
    assert "whole seconds" in exc.value.problems[0][1]
    assert load_settings(overrides={"mqtt": {"reconnect_max_s": 2}}).mqtt.reconnect_max_s == 2
