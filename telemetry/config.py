"""Typed configuration (CONTRACT §7): one TOML file plus ``TELEMETRY_<SECTION>__<KEY>``
environment variables, which win over the file. Unknown keys and bad values fail at start-up
with the key's path and the reason. Never instantiated at import time: call :func:`load_settings`.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from telemetry.config_base import Section as _Section
from telemetry.config_derivations import FloodConfig as FloodConfig  # noqa: PLC0414 - re-exported
from telemetry.config_derivations import SanitationConfig as SanitationConfig  # noqa: PLC0414
from telemetry.config_derivations import ToiletsConfig as ToiletsConfig  # noqa: PLC0414
from telemetry.config_dispatch import DispatchConfig
from telemetry.config_drones import AirportConfig as AirportConfig  # noqa: PLC0414 - re-exported
from telemetry.config_drones import AirspaceConfig as AirspaceConfig  # noqa: PLC0414 - re-exported
from telemetry.config_drones import DronesConfig
from telemetry.config_emergency import EmergencyConfig
from telemetry.config_env import env_problems
from telemetry.config_map import MapConfig
from telemetry.config_supervision import SupervisionConfig
from telemetry.errors import ConfigError
from telemetry.urls import check_http_url, parse_mqtt_url

ENV_PREFIX = "TELEMETRY_"
DEFAULT_TOKEN = "change-me"  # noqa: S105 - the documented placeholder that start-up refuses
DEMO_TOKENS = {
    "demo-viewer": "viewer",
    "demo-manager": "manager",
    "demo-pilot": "pilot",
    "demo-admin": "admin",
}

Role = Literal["viewer", "manager", "pilot", "admin"]
HttpUrl = Annotated[str, AfterValidator(check_http_url)]  # parsed as httpx will (telemetry/urls.py)


class SiteConfig(_Section):
    timezone: str = "Asia/Shanghai"
    district: str = Field("haishu", min_length=1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v


class MqttConfig(_Section):
    url: str = "mqtt://127.0.0.1:1883"
    username: str = ""
    password: str = ""
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    client_id: str = Field("telemetry-1", min_length=1, max_length=64)
    root: str = Field("city/haishu", min_length=1)
    shared_group: str = ""
    # Extensions (documented in docs/configuration.md):
    protocol: Literal["5", "3.1.1"] = "5"
    qos: int = Field(1, ge=0, le=1)
    receive_maximum: int = Field(5000, ge=1, le=65535)  # unacknowledged QoS-1 messages in flight
    session_expiry_s: int = Field(7 * 86400, ge=86400)
    keepalive_s: int = Field(30, ge=5, le=3600)
    # whole seconds, as paho's back-off counts them from 1 s (0.5 became 0: a reconnect hot loop)
    reconnect_max_s: int = Field(5, ge=1, le=30)  # back within 10 s of the broker (docs/decisions.md §50)
    max_future_s: float = Field(300.0, ge=0)  # readings further ahead than this are rejected

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str) -> str:
        if v != "embedded":
            try:
                parse_mqtt_url(v)  # the collector's own parser: what passes here, it can connect to
            except ValueError as exc:
                expected = "expected mqtt://HOST[:PORT], mqtts://HOST[:PORT] or 'embedded'"
                raise ValueError(f"{exc} ({expected})") from exc
        return v

    @field_validator("reconnect_max_s", mode="before")
    @classmethod
    def _whole_seconds(cls, v: object) -> object:
        try:
            fraction = isinstance(v, float | str) and not float(v).is_integer()
        except ValueError:
            return v  # not a number: pydantic says so
        if fraction:
            raise ValueError("whole seconds, 1-30: paho's back-off starts at 1 s and counts seconds")
        return v

    @field_validator("root")
    @classmethod
    def _root(cls, v: str) -> str:
        if any(c in v for c in "+#") or v.startswith("/") or v.endswith("/"):
            raise ValueError("a topic prefix without wildcards or leading/trailing '/'")
        return v


class MavlinkConfig(_Section):
    endpoints: list[str] = Field(default_factory=lambda: ["udpin:0.0.0.0:14550"])
    signing_key: str = ""
    offline_after_s: float = Field(5.0, gt=0)  # extension: no heartbeat for this long → offline
    flight_log_dir: str = ""  # each mission's .tlog (docs/missions.md); default <store.path>/flights
    flight_log_max_s: float = Field(7200.0, gt=0)  # a recording is finished after this long at most

    def flight_log_path(self, store_path: str) -> Path:
        return Path(self.flight_log_dir or f"{store_path}/flights")

    @field_validator("signing_key")
    @classmethod
    def _hex(cls, v: str) -> str:
        if v and not re.fullmatch(r"[0-9a-fA-F]{64}", v):
            raise ValueError("expected 64 hex digits (a 32-byte key) or empty")
        return v


class StoreConfig(_Section):
    backend: Literal["embedded", "influxdb1", "influxdb2"] = "embedded"
    path: str = "data"
    url: HttpUrl = "http://127.0.0.1:8086"
    database: str = "telemetry"
    retention_policy: str = ""  # influxdb1: write into this retention policy (empty: the default)
    username: str = ""
    password: str = ""
    org: str = ""
    bucket: str = "telemetry"
    token: str = ""

    @model_validator(mode="after")
    def _influxdb2_needs_credentials(self) -> StoreConfig:
        if self.backend == "influxdb2" and not (self.token and self.org):
            raise ValueError("backend influxdb2 needs store.token and store.org")
        return self


class SpoolConfig(_Section):
    path: str = "data/spool"
    max_bytes: int = Field(1 << 30, ge=1 << 16)
    segment_bytes: int = Field(64 << 20, ge=1 << 12)  # extension: one file of the segment log


class PipelineConfig(_Section):
    """Extension: the bounded queue and the batching of the pipeline."""

    queue_size: int = Field(20_000, ge=10)
    max_queue_bytes: int = Field(64 << 20, ge=1 << 20)  # also bounded in (estimated) bytes
    batch_size: int = Field(5_000, ge=1, le=100_000)
    flush_interval_s: float = Field(0.2, gt=0, le=60)


class DeadLettersConfig(_Section):
    """Extension: dead-letter retention (payloads up to 8 MiB each are not kept forever)."""

    retention_days: int = Field(30, ge=1)
    max_bytes: int = Field(256 << 20, ge=1 << 20)  # raw payloads; the oldest go first


class WebhookConfig(_Section):
    url: HttpUrl
    levels: list[str] = Field(default_factory=lambda: ["yellow", "red", "offline", "fault"])
    # a gauge gone silent and a stuck gauge are alerts of their own kinds (DOMAIN.md, flood)
    kinds: list[str] = Field(default_factory=lambda: ["flood", "gauge_offline", "sensor_fault"])


class AlertsConfig(_Section):
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    webhook_retries: int = Field(3, ge=0, le=10)


def token_sha256(token: str) -> str:
    """How a token is stored (docs/decisions.md §40): the hex SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(token.encode()).hexdigest()


class TokenConfig(_Section):
    token: str = ""  # plain: demo and tests only, refused by production_problems
    token_sha256: str = ""  # the stored form: `telemetry hash-token` prints one
    role: Role = "viewer"
    user: str = Field("", max_length=64, pattern=r"^[^\x00-\x1f\x7f]*$")  # recorded; default: role

    @property
    def user_name(self) -> str:
        """The person every action of this token is recorded for (the role when not given)."""
        return self.user or self.role

    @field_validator("token_sha256")
    @classmethod
    def _digest(cls, v: str) -> str:
        if v and not re.fullmatch(r"[0-9a-fA-F]{64}", v):
            raise ValueError("expected 64 hex digits (the SHA-256 of the token)")
        return v.lower()

    @model_validator(mode="after")
    def _one_form(self) -> TokenConfig:
        if bool(self.token) == bool(self.token_sha256):
            raise ValueError("give exactly one of token_sha256 (production) or token (demo)")
        return self

    @property
    def digest(self) -> str:
        return self.token_sha256 or token_sha256(self.token)


class ApiConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    tokens: list[TokenConfig] = Field(default_factory=lambda: [TokenConfig(token=DEFAULT_TOKEN)])
    max_body_bytes: int = Field(1 << 20, ge=1024)  # larger request bodies answer 413
    rate_limit_per_s: float = Field(20.0, ge=0)  # per token (or client address); 0: no limit
    rate_burst: int = Field(200, ge=1)  # requests a client may make at once before the rate applies


class AuditConfig(_Section):
    """The hash-chained audit log (docs/audit.md); empty paths lie beside the store."""

    path: str = ""  # default: <store.path>/audit/audit.jsonl
    key_file: str = ""  # default: <store.path>/audit.key (Ed25519, made at first start, mode 0600)
    checkpoint_every: int = Field(100, ge=1, le=1_000_000)

    def log_path(self, store_path: str) -> Path:
        return Path(self.path or f"{store_path}/audit/audit.jsonl")

    def key_path(self, store_path: str) -> Path:
        return Path(self.key_file or f"{store_path}/audit.key")


class AssetsConfig(_Section):
    dir: str = "assets"
    strict: bool = False


class Settings(BaseSettings):
    """The whole configuration. Environment variables win over the file's values."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True
    )

    site: SiteConfig = SiteConfig()
    mqtt: MqttConfig = MqttConfig()
    mavlink: MavlinkConfig = MavlinkConfig()
    store: StoreConfig = StoreConfig()
    spool: SpoolConfig = SpoolConfig()
    pipeline: PipelineConfig = PipelineConfig()
    dead_letters: DeadLettersConfig = DeadLettersConfig()
    flood: FloodConfig = FloodConfig()
    toilets: ToiletsConfig = ToiletsConfig()
    sanitation: SanitationConfig = SanitationConfig()
    alerts: AlertsConfig = AlertsConfig()
    api: ApiConfig = ApiConfig()
    audit: AuditConfig = AuditConfig()
    dispatch: DispatchConfig = DispatchConfig()
    emergency: EmergencyConfig = EmergencyConfig()
    assets: AssetsConfig = AssetsConfig()
    map: MapConfig = MapConfig()
    airspace: AirspaceConfig = AirspaceConfig()
    drones: DronesConfig = DronesConfig()
    supervision: SupervisionConfig = SupervisionConfig()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings, init_settings)


_SECTIONS = frozenset(Settings.model_fields)


def _format(exc: ValidationError, source: str) -> list[tuple[str, str]]:
    out = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(root)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        out.append((path, f"{msg} ({source})"))
    return out


def load_settings(path: str | Path | None = None, *, overrides: dict[str, Any] | None = None) -> Settings:
    """Read the TOML file (optional), overlay the environment, validate everything.

    Raises :class:`ConfigError` listing every problem with its key path.
    """
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError([(str(path), "file not found")]) from exc
        except OSError as exc:  # a directory, no permission
            raise ConfigError([(str(path), f"cannot read: {exc.strerror or exc}")]) from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError([(str(path), f"not valid TOML: {exc}")]) from exc
    for section, values in (overrides or {}).items():
        if not isinstance(data.setdefault(section, {}), dict):
            raise ConfigError([(section, f"expected a table (from {source})")])
        data[section].update(values)
    problems = env_problems(
        os.environ, ENV_PREFIX, {n: f.annotation for n, f in Settings.model_fields.items()}
    )
    if problems:
        raise ConfigError(problems)
    # Unknown top-level keys are reported here: Settings(**data) would take `_env_prefix`,
    # `_secrets_dir` and the like as pydantic-settings options instead of refusing them.
    unknown = [(key, f"unknown key (from {source})") for key in data if key not in _SECTIONS]
    try:
        settings = Settings(**{k: v for k, v in data.items() if k in _SECTIONS})
    except ValidationError as exc:
        raise ConfigError(unknown + _format(exc, f"from {source} or {ENV_PREFIX}* variables")) from exc
    except SettingsError as exc:  # a value of the environment pydantic-settings cannot parse
        raise ConfigError([*unknown, ("(environment)", str(exc))]) from exc
    if unknown:
        raise ConfigError(unknown)
    return settings


def production_problems(settings: Settings) -> list[tuple[str, str]]:
    """What `serve` refuses but `check-config` only reports and `demo` allows."""
    problems = []
    known = {token_sha256(t) for t in (DEFAULT_TOKEN, *DEMO_TOKENS)}
    for i, tok in enumerate(settings.api.tokens):
        if tok.token == DEFAULT_TOKEN:
            problems.append(
                (
                    f"api.tokens.{i}.token",
                    f"the default token {DEFAULT_TOKEN!r} is refused outside demo",
                )
            )
        elif tok.token in DEMO_TOKENS or tok.token_sha256 in known:
            problems.append((f"api.tokens.{i}.token", "demo tokens are refused outside demo"))
        elif tok.token:
            problems.append(
                (
                    f"api.tokens.{i}.token",
                    "plain tokens are refused outside demo: configure token_sha256 "
                    "(`telemetry hash-token` prints a new token and its line)",
                )
            )
    if not settings.api.tokens:
        problems.append(("api.tokens", "at least one token is needed"))
    return problems
