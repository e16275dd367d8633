"""Property-based fuzzing of the configuration loader (CONTRACT §7): generated TOML documents
and ``TELEMETRY_*`` overrides give either valid ``Settings`` or a ``ConfigError`` whose every
problem names a key path, never another exception."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, get_origin

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from urllib3.util import parse_url

from sensors.mqtt_collector import build_client
from telemetry.config import ENV_PREFIX, Settings, load_settings
from telemetry.errors import ConfigError
from telemetry.urls import parse_mqtt_url

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
SECTIONS: dict[str, type[BaseModel]] = {
    name: f.annotation for name, f in Settings.model_fields.items() if isinstance(f.annotation, type)
}
KEYS = {section: dict(model.model_fields) for section, model in SECTIONS.items()}
fields = st.sampled_from(sorted((s, k) for s, keys in KEYS.items() for k in keys))


# ---- TOML ---------------------------------------------------------------------------------


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(v, datetime | date | time):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    assert isinstance(v, dict)
    return "{" + ", ".join(f"{toml_value(str(k))} = {toml_value(x)}" for k, x in v.items()) + "}"


def toml_document(doc: dict[str, Any]) -> str:
    top = [f"{toml_value(k)} = {toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    tables = [
        f"[{toml_value(k)}]\n" + "".join(f"{toml_value(kk)} = {toml_value(vv)}\n" for kk, vv in v.items())
        for k, v in doc.items()
        if isinstance(v, dict)
    ]
    return "\n".join(top) + "\n" + "\n".join(tables)


toml_scalars = (
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["", "embedded", "mqtt://127.0.0.1:1883", "EPSG:4549", "Asia/Shanghai", "5", "3.1.1"])
    | st.datetimes(min_value=datetime(1900, 1, 1)).map(lambda d: d.replace(microsecond=0))
    | st.dates()
)
toml_values = st.recursive(
    toml_scalars,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=8,
)


DEFAULTS: dict[str, dict[str, Any]] = Settings().model_dump()


ENV_SAFE = st.characters(exclude_characters="\x00", codec="utf-8")  # what os.environ can hold


def plausible(section: str, key: str) -> st.SearchStrategy[Any]:
    """Values near the default: mostly valid, often at an edge or just past one."""
    default = DEFAULTS[section][key]
    if isinstance(default, bool):
        return st.booleans()
    if isinstance(default, int):
        return st.sampled_from([default, default + 1, default * 2, 0, -1, 1, 65_536])
    if isinstance(default, float):
        return st.sampled_from([default, default * 2, 0.0, -1.0, 1e-9, 1e300, math.inf, -math.inf, math.nan])
    if isinstance(default, str):
        return st.just(default) | st.text(ENV_SAFE, max_size=12)
    if isinstance(default, dict):
        return st.just(default) | st.dictionaries(
            st.sampled_from([*default, "x"]),
            st.sampled_from([1.0, 0.0, -1.0, math.inf, math.nan]),
            max_size=3,
        )
    return st.just(default) | st.lists(st.sampled_from([*default, "udpin:0.0.0.0:1", "", 5]), max_size=2)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for section in draw(st.lists(st.sampled_from(sorted(SECTIONS)), max_size=5, unique=True)):
        keys = draw(st.lists(st.sampled_from(sorted(KEYS[section])), max_size=4, unique=True))
        doc[section] = {
            k: draw(toml_values if draw(st.integers(0, 4)) == 0 else plausible(section, k)) for k in keys
        }
        if draw(st.integers(0, 9)) == 0:
            doc[section][draw(st.text(min_size=1, max_size=8))] = draw(toml_scalars)
    if draw(st.integers(0, 9)) == 0:  # a stray top-level key, or a section that is not a table
        doc[draw(st.text(min_size=1, max_size=12).filter(lambda k: k not in doc))] = draw(toml_values)
    return doc


any_text = st.text(ENV_SAFE, max_size=30)


@st.composite
def environments(draw: st.DrawFn) -> dict[str, str]:
    """TELEMETRY_* variables: mostly real keys with values near their defaults (JSON for lists,
    tables and numbers, as an operator writes them), sometimes anything."""
    env: dict[str, str] = {}
    for _ in range(draw(st.integers(0, 3))):
        section, key = draw(fields)
        if draw(st.integers(0, 4)) == 0:
            name = draw(st.text("abcxyz_", min_size=1, max_size=6)) + "__" + draw(st.text("az_0", max_size=6))
            env[f"{ENV_PREFIX}{name}".upper()] = draw(any_text)
            continue
        value = draw(plausible(section, key))
        text = value if isinstance(value, str) else json.dumps(value)
        env[f"{ENV_PREFIX}{section}__{key}".upper()] = draw(st.just(text) | any_text)
    return env


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def floats_of(value: Any) -> Iterator[float]:
    if isinstance(value, float):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from floats_of(v)
    elif isinstance(value, list):
        for v in value:
            yield from floats_of(v)


def load(path: Path, text: str | bytes, env: dict[str, str]) -> Settings | ConfigError:
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    with environment(env):
        try:
            return load_settings(path)
        except ConfigError as err:
            return err


def check(outcome: Settings | ConfigError, path: Path, doc: dict[str, Any], env: dict[str, str]) -> None:
    if isinstance(outcome, Settings):
        assert all(math.isfinite(f) for f in floats_of(outcome.model_dump())), "no inf or nan accepted"
        return
    assert outcome.problems, "a ConfigError lists at least one problem"
    roots = {
        str(path),
        "(environment)",
        *doc,
        *env,
        *(n[len(ENV_PREFIX) :].lower().partition("__")[0] for n in env),
    }
    for key_path, reason in outcome.problems:
        assert any(key_path == r or key_path.startswith(f"{r}.") for r in roots), (key_path, reason)
        assert reason


@FUZZ
@given(doc=documents(), env=environments())
def test_any_document_and_environment_give_settings_or_errors_with_key_paths(
    tmp_path: Path, doc: dict[str, Any], env: dict[str, str]
) -> None:
    path = tmp_path / "fuzz.toml"
    check(load(path, toml_document(doc), env), path, doc, env)


@FUZZ
@given(text=st.text(max_size=200) | st.binary(max_size=200))
def test_any_text_or_bytes_as_a_file_give_settings_or_errors(tmp_path: Path, text: str | bytes) -> None:
    path = tmp_path / "fuzz.toml"
    check(load(path, text, {}), path, {}, {})


def wrong_type(annotation: Any) -> st.SearchStrategy[Any]:
    """A value no field of this type accepts."""
    origin = get_origin(annotation) or annotation
    if origin is dict:
        return st.lists(st.integers(), min_size=1, max_size=2) | st.text(max_size=5)
    if origin is list:
        return st.dictionaries(st.text("xyz", min_size=1, max_size=3), st.integers(), min_size=1, max_size=2)
    return st.dictionaries(st.text("xyz", min_size=1, max_size=3), st.integers(), max_size=2) | st.lists(
        st.text(max_size=3), min_size=1, max_size=2
    )


@FUZZ
@given(doc=documents(), field=fields, data=st.data(), via_env=st.booleans())
def test_a_value_of_the_wrong_type_is_named_by_its_key_path(
    tmp_path: Path, doc: dict[str, Any], field: tuple[str, str], data: st.DataObject, via_env: bool
) -> None:
    section, key = field
    bad = data.draw(wrong_type(KEYS[section][key].annotation))
    env: dict[str, str] = {}
    if via_env and KEYS[section][key].annotation is not str:  # any text is a str
        env = {f"{ENV_PREFIX}{section.upper()}__{key.upper()}": json.dumps(bad)}
    elif isinstance(doc.get(section, {}), dict):
        doc.setdefault(section, {})[key] = bad
    else:
        doc[section] = {key: bad}
    path = tmp_path / "fuzz.toml"
    outcome = load(path, toml_document(doc), env)
    assert isinstance(outcome, ConfigError), (doc, env)
    named = {p for p, _ in outcome.problems}
    assert any(p == f"{section}.{key}" or p.startswith(f"{section}.{key}.") for p in named) or (
        # a broken part elsewhere stops start-up first: a non-table section or the environment
        named & ({str(path), "(environment)"} | {s for s in doc if not isinstance(doc[s], dict)})
    ), (named, section, key)


TEXT_KEYS = [("mqtt", "username"), ("mqtt", "password"), ("store", "database"), ("store", "path"),
             ("assets", "dir"), ("spool", "path"), ("site", "district")]  # fmt: skip


@FUZZ
@given(
    field=st.sampled_from(TEXT_KEYS),
    in_file=st.text(st.characters(exclude_characters="\x00", codec="utf-8"), min_size=1, max_size=20),
    in_env=st.text(st.characters(exclude_characters="\x00", codec="utf-8"), min_size=1, max_size=20),
)
def test_the_environment_wins_over_the_file(
    tmp_path: Path, field: tuple[str, str], in_file: str, in_env: str
) -> None:
    section, key = field
    path = tmp_path / "fuzz.toml"
    file_only = load(path, toml_document({section: {key: in_file}}), {})
    assert isinstance(file_only, Settings)
    assert getattr(getattr(file_only, section), key) == in_file
    both = load(
        path,
        toml_document({section: {key: in_file}}),
        {f"{ENV_PREFIX}{section.upper()}__{key.upper()}": in_env},
    )
    assert isinstance(both, Settings)
    assert getattr(getattr(both, section), key) == in_env


@pytest.mark.parametrize(
    ("text", "env", "path"),
    [
        ("[mqtt]\nmax_future_s = inf\n", {}, "mqtt.max_future_s"),  # int(inf * 1000) at start-up
        ("[toilets]\ndue_minutes = {high = nan}\n", {}, "toilets.due_minutes.high"),
        ("", {"TELEMETRY_FLOOD__DWELL_S": "inf"}, "flood.dwell_s"),
        ("", {"TELEMETRY_MAVLINK__ENDPOINTS": "udpin:0.0.0.0:14550"}, "mavlink.endpoints"),  # not JSON
        ("", {"TELEMETRY_API__TOKENS": "[{"}, "api.tokens"),
        ('_env_prefix = "X_"\n', {}, "_env_prefix"),  # a pydantic-settings option, not a section
        ("_secrets_dir = '/'\n", {}, "_secrets_dir"),
    ],
)
def test_regressions_found_by_fuzzing(tmp_path: Path, text: str, env: dict[str, str], path: str) -> None:
    outcome = load(tmp_path / "c.toml", text, env)
    assert isinstance(outcome, ConfigError)
    assert [p for p, _ in outcome.problems] == [path]


def test_a_folder_or_a_table_that_is_not_one_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path)
    assert err.value.problems[0][0] == str(tmp_path)
    f = tmp_path / "c.toml"
    f.write_text("site = 1\n")
    with pytest.raises(ConfigError) as err:
        load_settings(f, overrides={"site": {"district": "x"}})
    assert [p for p, _ in err.value.problems] == ["site"]


# ---- URLs (issue 18: one parser, used by the configuration and by the clients) -----------------

_hosts = st.one_of(
    st.sampled_from(["127.0.0.1", "localhost", "broker.example", "[::1]", "[::1", "::1]", "[fe80::1%eth0]"]),
    st.sampled_from(
        ["999.1.1.1", "1.2.3", "[1.2.3.4]", "[::g]", "exa mple", "xn--bcher-kva.example", "bü.de"]
    ),
    st.from_regex(r"\A[a-z0-9.\-_\[\]:%@]{0,20}\Z"),
    st.text(max_size=12),
)
_ports = st.one_of(
    st.just(""), st.integers(-2, 70_000).map(lambda p: f":{p}"), st.sampled_from([":", ":+1", ":1_0"])
)
_tails = st.sampled_from(["", "/", "/x", "?q=1", "#f", "/hook?id=1"])


def _outcome(overrides: dict[str, Any]) -> Settings | ConfigError:
    try:
        return load_settings(overrides=overrides)
    except ConfigError as exc:
        return exc


def urls(schemes: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(lambda s, h, p, t: f"{s}://{h}{p}{t}", st.sampled_from(schemes), _hosts, _ports, _tails),
        st.text(max_size=30),
    )


@FUZZ
@given(url=urls(["mqtt", "mqtts", "http", "tcp"]))
def test_the_broker_url_check_is_the_collectors_parser(url: str) -> None:
    """The configuration's check and the parser the collector connects with agree on every URL
    (the check was a regex: port 99999 passed it, ``mqtt://[::1]:1883`` did not)."""
    try:
        address = parse_mqtt_url(url)
    except ValueError:
        address = None
    outcome = _outcome({"mqtt": {"url": url}})
    if isinstance(outcome, ConfigError):
        assert [p for p, _ in outcome.problems] == ["mqtt.url"]
    accepted = isinstance(outcome, Settings)
    assert accepted == (address is not None) or url == "embedded"
    if address is not None:
        assert 1 <= address.port <= 65535
        assert address.host


@FUZZ
@given(url=urls(["http", "https", "ftp"]))
def test_an_accepted_http_url_is_one_httpx_and_urllib3_can_use(url: str) -> None:
    """A webhook or InfluxDB URL the configuration accepts never raises ``httpx.InvalidURL`` later
    (``http://[::1`` passed, and escaped the alert service as an exception)."""
    s = _outcome({"store": {"url": url}, "alerts": {"webhooks": [{"url": url}]}})
    if isinstance(s, ConfigError):
        assert {p for p, _ in s.problems} == {"store.url", "alerts.webhooks.0.url"}
        return
    assert s.store.url == url
    request = httpx.Request("POST", url)
    assert request.url.scheme in ("http", "https")
    assert request.url.host
    assert parse_url(url).host


@FUZZ
@given(
    value=st.one_of(
        st.floats(allow_nan=False, allow_infinity=False, min_value=-1, max_value=40), st.integers(-1, 40)
    )
)
def test_every_accepted_reconnect_cap_gives_paho_a_back_off_of_at_least_1_s(value: float) -> None:
    """``reconnect_max_s = 0.5`` became ``int(0.5) == 0``: paho reconnected in a hot loop."""
    s = _outcome({"mqtt": {"reconnect_max_s": value}})
    if isinstance(s, ConfigError):
        assert [p for p, _ in s.problems] == ["mqtt.reconnect_max_s"]
        return
    client = build_client(s.mqtt, "fuzz")
    assert client._reconnect_max_delay >= client._reconnect_min_delay >= 1  # paho keeps no getter
    assert client._reconnect_max_delay == value  # whole seconds, nothing cut off
