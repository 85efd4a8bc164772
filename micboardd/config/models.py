"""The configuration, as pydantic models: every section, its defaults and its limits.

A config that lists only ``devices`` and ``http`` is enough; every other section has
defaults. See ``config/venue.example.json`` for all of it. Loading a file, and errors
that name the file and the JSON path, are :mod:`micboardd.config.load`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    StrictBool,
    field_serializer,
    field_validator,
    model_validator,
)
from typing_extensions import TypedDict

from micboardd.config.secrets import (
    LEGACY_SHA256,
    Secret,
    check_token_hash,
    url_without_password,
)
from micboardd.drivers import FAMILIES, driver_class

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
#: white space as both regex dialects that read a pattern count it, spelled out: the
#: server's (pydantic's Rust regex: Unicode White_Space, with U+0085) and a JSON Schema
#: reader's (ECMA-262: with U+FEFF); ``\s`` alone differs between them
SPACE = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
CHANNEL_KEY = rf"^[^/{SPACE}]+/[1-8]$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SimulateBlock(TypedDict, total=False):
    """A device's ``simulate`` block (demo mode, ``micboardd simulate``): the keys
    :func:`micboardd.simulate.start_simulator` reads, no others, so a misspelt one is
    named (with the key meant) instead of silently ignored. The values are checked by
    the family's simulator when it starts (habits, models and script cues differ)."""

    model: str
    names: list[str]
    seed: int
    speed: float
    frozen: bool
    habits: list[str]
    script: list[Any]
    chaos: bool


# on the class body mypy refuses a value in a TypedDict; pydantic reads it from here
SimulateBlock.__pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[attr-defined]


class DeviceConfig(_Model):
    id: Annotated[str, Field(pattern=_ID)]
    driver: str
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    meter_rate_ms: int = 100
    enabled: bool = True
    #: channel count when known in advance (otherwise learnt from the device)
    channels: Annotated[int, Field(ge=1, le=8)] | None = None
    model: str | None = None
    #: the local UDP port of a family that needs a shared one (EW G3/G4: 53212, the
    #: default); 0 takes any free port (simulated receivers answer any port)
    local_port: Annotated[int, Field(ge=0, le=65535)] | None = None
    #: a simulator to start for this device in demo mode / `micboardd simulate`
    simulate: SimulateBlock | None = None

    def channel_count(self) -> int | None:
        """Channels known before connecting: configured, or from the model name."""
        if self.channels is not None:
            return self.channels
        if self.model is None:
            return None
        models: dict[str, int] = getattr(driver_class(self.driver), "MODELS", {})
        return models.get(self.model)

    @field_validator("driver")
    @classmethod
    def _known_driver(cls, v: str) -> str:
        if v not in FAMILIES:
            raise ValueError(f"unknown driver {v!r}; expected one of {', '.join(sorted(FAMILIES))}")
        return v

    @field_validator("meter_rate_ms")
    @classmethod
    def _rate(cls, v: int) -> int:
        if v != 0 and not 100 <= v <= 65535:
            raise ValueError("meter_rate_ms must be 0 (off) or 100..65535")
        return v

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        if not v or any(c.isspace() for c in v):
            raise ValueError("host must be a hostname or IP address")
        return v


#: what a slot is: ``rx`` a receiver channel's tile (the default); ``blank`` an empty
#: spacer that keeps a place in the grid (a mic-storage layout); ``manual`` a pack that is
#: not on the network (a wired spare, an IEM pack with no network) shown with its label,
#: name and note. Neither placeholder has a channel, a status or an alert.
SlotKind = Literal["rx", "blank", "manual"]


class SlotConfig(_Model):
    # what _placeholder checks, for the OpenAPI document: only an rx slot has a channel
    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"properties": {"kind": {"const": "rx"}}},
        {"properties": {"channel": {"type": "null"}}}]})

    slot: Annotated[int, Field(ge=1, le=10000)]
    channel: Annotated[str, Field(pattern=CHANNEL_KEY)] | None = None
    label_id: Annotated[str, Field(max_length=16)] | None = None
    label_name: Annotated[str, Field(max_length=64)] | None = None
    group: Annotated[str, Field(max_length=64)] | None = None
    #: the slot is in use for this show: a transmitter off here raises an alert
    active: StrictBool = True
    kind: SlotKind = "rx"
    #: a line for the crew ("spare, in the rack drawer"); shown on manual tiles
    note: Annotated[str, Field(max_length=120)] | None = None

    @model_validator(mode="after")
    def _placeholder(self) -> SlotConfig:
        if self.kind != "rx" and self.channel is not None:
            raise ValueError(f"a {self.kind} slot has no channel (only kind \"rx\" has one)")
        return self


class GroupConfig(_Model):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    key: Annotated[str, Field(max_length=1)] | None = None
    #: the tiles of this group draw their RF and audio of the last minute
    charts: StrictBool = True


class TokenConfig(_Model):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    #: ``scrypt$N$r$p$salt$hash`` as printed by ``micboardd hash-token``; the token itself
    #: is never stored
    hash: Secret | None = None
    #: deprecated: the unsalted hex SHA-256 of the token (still accepted, with a warning)
    sha256: Secret | None = None
    role: Literal["viewer", "operator"] = "operator"

    @model_validator(mode="after")
    def _one_hash(self) -> TokenConfig:
        if (self.hash is None) == (self.sha256 is None):
            raise ValueError("give the token's hash (from `micboardd hash-token`); "
                             "sha256 is the deprecated form")
        if self.hash is not None:
            problem = check_token_hash(self.hash.get_secret_value())
            if problem:
                raise ValueError(f"hash: {problem}")
        if self.sha256 is not None and not LEGACY_SHA256.match(self.sha256.get_secret_value()):
            raise ValueError("sha256: expected 64 lowercase hex digits")
        return self


_ORIGIN = re.compile(r"^(https?)://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?/?$")
_HOSTNAME = re.compile(r"^(\*|[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*"
                       r"[A-Za-z0-9])?)*\.?)$")


class HttpConfig(_Model):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8058
    #: browser origins (``http://foh-mac.local:8058``) whose pages may open /ws and write;
    #: the daemon's own origin always may (docs/security.md)
    origins: list[str] = []
    #: names this daemon answers to besides loopback, its IP addresses, its hostname and
    #: the hosts of ``origins`` (a DNS name pointing at it); ``"*"`` turns the check off
    hosts: list[str] = []
    tokens: list[TokenConfig] = []
    #: read-only mode for stage screens: every write is refused, whatever the token
    monitor_only: bool = False
    #: how long a meter change may wait to be coalesced before it is pushed
    meter_interval_ms: Annotated[int, Field(ge=20, le=5000)] = 100
    #: open connections, in all and from one address (a reverse proxy is one address)
    max_connections: Annotated[int, Field(ge=16, le=100_000)] = 512
    max_connections_per_peer: Annotated[int, Field(ge=4, le=100_000)] = 64
    #: a new connection must have sent a request's headers within this time
    header_timeout_s: Annotated[float, Field(gt=0, le=300)] = 10.0
    #: an idle keep-alive connection is closed after this time
    idle_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 30.0

    @field_validator("origins")
    @classmethod
    def _origins(cls, v: list[str]) -> list[str]:
        for o in v:
            if o != "*" and not _ORIGIN.match(o):
                raise ValueError(f"origin {o!r}: expected scheme://host[:port] "
                                 "(http or https, no path), or \"*\"")
        return v

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, v: list[str]) -> list[str]:
        for h in v:
            if len(h) > 253 or not _HOSTNAME.match(h):
                raise ValueError(f"host {h!r}: expected a DNS name (no scheme, no port)")
        return v


class StatusConfig(_Model):
    #: keep the last real battery reading as PREV_* this long after the tx disappears
    prev_hold_s: Annotated[float, Field(ge=0)] = 1800.0
    #: how long AUDIO_PEAK stays lit after a peak
    peak_hold_s: Annotated[float, Field(ge=0)] = 5.0
    #: a link that saw nothing for this long is offline (keepalives arrive every 2 s)
    stale_s: Annotated[float, Field(gt=0.5, le=60)] = 4.0


class HistoryConfig(_Model):
    enabled: bool = True
    #: default <state dir>/history.db; a relative path is taken inside the state dir
    path: str | None = None
    retention_days: Annotated[float, Field(gt=0)] = 90.0
    #: the audit trail is kept at least this long (and never less than retention_days)
    audit_retention_days: Annotated[float, Field(gt=0)] = 365.0
    sample_interval_s: Annotated[float, Field(ge=1, le=3600)] = 10.0
    #: rows are handed to the writer thread this often (what a crash can lose)
    flush_interval_s: Annotated[float, Field(ge=0.05, le=10)] = 1.0
    #: rows waiting for the writer before new ones are dropped (and counted)
    max_queue_rows: Annotated[int, Field(ge=100, le=10_000_000)] = 100_000


_TOPIC_PREFIX = r"^[^/#+\s]+(/[^/#+\s]+)*$"


class MqttConfig(_Model):
    """The MQTT bridge (``micboardd.mqtt``); off when the section is absent."""

    url: str  # mqtt://user:pass@host:1883 or mqtts://host:8883
    username: str | None = None  # overrides user info in the URL
    password: Secret | None = None
    #: MQTT client id; default micboardd-<site>-<random>
    client_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    topic_prefix: Annotated[str, Field(pattern=_TOPIC_PREFIX)] = "micboardd"
    site: Annotated[str, Field(pattern=_ID)] = "default"
    tls: bool = False  # implied by mqtts://
    ca_file: str | None = None
    keepalive_s: Annotated[int, Field(ge=5, le=600)] = 30
    #: how often RF/audio meters (and last_seen) go out per channel; other changes go
    #: out at once
    meter_interval_s: Annotated[float, Field(ge=0.1)] = 1.0
    discovery: bool = False
    discovery_prefix: Annotated[str, Field(pattern=_TOPIC_PREFIX)] = "homeassistant"
    #: accept rename/mute/identify on .../set/<kind> topics (the broker's ACLs decide who)
    commands: bool = False
    #: other micboardd sites whose channels this one shows (through the same broker)
    remote_sites: list[Annotated[str, Field(pattern=_ID)]] = []

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        try:
            parts = urlsplit(v)
            _ = parts.port
        except ValueError as exc:
            raise ValueError(f"not a valid broker URL: {exc}") from None
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("expected mqtt://host[:port] or mqtts://host[:port]")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("the broker URL takes no path, query or fragment")
        return v

    @property
    def safe_url(self) -> str:
        """The broker URL for a log line (a password in it masked)."""
        return url_without_password(self.url)

    @field_serializer("url")
    def _dump_url(self, v: str, info: SerializationInfo) -> str:
        ctx = info.context
        return url_without_password(v) if isinstance(ctx, dict) and ctx.get("secrets") else v

    def __repr_args__(self) -> Any:
        for k, v in super().__repr_args__():
            yield k, (url_without_password(v) if k == "url" and isinstance(v, str) else v)

    @model_validator(mode="after")
    def _sites(self) -> MqttConfig:
        if self.site in self.remote_sites:
            raise ValueError(f"remote_sites lists this daemon's own site {self.site!r}")
        if len(set(self.remote_sites)) != len(self.remote_sites):
            raise ValueError("remote_sites lists a site twice")
        return self


class AlertRule(_Model):
    battery_bars_at_or_below: Annotated[int, Field(ge=0, le=5)] | None = 1
    minutes_at_or_below: Annotated[int, Field(ge=0)] | None = 30
    rf_below_pct: Annotated[int, Field(ge=0, le=100)] | None = 15
    rf_below_for_s: Annotated[float, Field(ge=0)] = 3.0
    tx_off_when_active: bool = True
    interference: bool = True
    encryption_mismatch: bool = True
    receiver_offline: bool = True
    #: hysteresis: a battery alert resolves above bars + this / minutes + that
    battery_clear_margin_bars: Annotated[int, Field(ge=0, le=5)] = 1
    minutes_clear_margin: Annotated[int, Field(ge=0)] = 10
    #: hysteresis: an RF alert resolves at rf_below_pct + this or more
    rf_clear_margin_pct: Annotated[int, Field(ge=0, le=100)] = 5
    #: how long the transmitter must be off / the receiver offline before an alert
    tx_off_for_s: Annotated[float, Field(ge=0)] = 2.0
    offline_for_s: Annotated[float, Field(ge=0)] = 5.0
    #: an episode resolves only after its condition stayed good this long (no flapping)
    clear_after_s: Annotated[float, Field(ge=0)] = 30.0


class AlertsConfig(_Model):
    default: AlertRule = AlertRule()
    #: per slot group; only the keys given override ``default``
    groups: dict[str, AlertRule] = {}
    #: resolved episodes stay in the state (state "resolved") this long, then go
    keep_resolved_s: Annotated[float, Field(ge=0)] = 120.0


class Config(_Model):
    devices: list[DeviceConfig] = []
    slots: list[SlotConfig] = []
    groups: list[GroupConfig] = []
    http: HttpConfig = HttpConfig()
    status: StatusConfig = StatusConfig()
    history: HistoryConfig = HistoryConfig()
    mqtt: MqttConfig | None = None
    alerts: AlertsConfig = AlertsConfig()
    #: where the database and saved layout live (default: $STATE_DIRECTORY or ./state)
    state_dir: str | None = None

    @model_validator(mode="after")
    def _unique(self) -> Config:
        seen: set[str] = set()
        for d in self.devices:
            if d.id in seen:
                raise ValueError(f"device id {d.id!r} is used twice")
            seen.add(d.id)
        slots: set[int] = set()
        for s in self.slots:
            if s.slot in slots:
                raise ValueError(f"slot {s.slot} is listed twice")
            slots.add(s.slot)
        return self

    def device(self, device_id: str) -> DeviceConfig | None:
        for d in self.devices:
            if d.id == device_id:
                return d
        return None


def state_dir_of(config: Config, environ: Mapping[str, str] = os.environ) -> tuple[Path, str]:
    """Where the database and saved layout live, and why there: ``state_dir`` from the
    configuration, else systemd's ``$STATE_DIRECTORY``, else ``./state``."""
    if config.state_dir:
        return Path(config.state_dir), "state_dir in the configuration"
    env = environ.get("STATE_DIRECTORY")
    if env:
        return Path(env.split(":")[0]), "$STATE_DIRECTORY"
    return Path("state"), "the default ./state"
