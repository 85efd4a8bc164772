"""The normalized state contract as typed classes: what ``GET /api/state``, the websocket
snapshot and the MQTT payloads carry (the team's design document, plus the
additions listed in docs/contract-changes.md).

The store keeps plain dicts of exactly these shapes (they are serialized as they are, at
venue scale, ten times a second); these classes give them names for the type checker and
for the generated OpenAPI document. ``None`` always means unknown.
"""

from __future__ import annotations

from typing import Any, Literal

# pydantic (the OpenAPI generator) needs typing_extensions' TypedDict on Python < 3.12
from typing_extensions import TypedDict

from micboardd.drivers import driver_class

JSON = dict[str, Any]

LinkState = Literal["connecting", "online", "offline", "silent", "garbled"]
LINK_STATES: tuple[LinkState, ...] = ("connecting", "online", "offline", "silent", "garbled")

Status = Literal[
    "GOOD", "REPLACE", "CRITICAL", "PREV_GOOD", "PREV_REPLACE", "PREV_CRITICAL",
    "TX_OFF", "RX_OFFLINE", "AUDIO_PEAK", "UNASSIGNED",
]
STATUSES: tuple[Status, ...] = (
    "GOOD", "REPLACE", "CRITICAL", "PREV_GOOD", "PREV_REPLACE", "PREV_CRITICAL",
    "TX_OFF", "RX_OFFLINE", "AUDIO_PEAK", "UNASSIGNED",
)


class TxState(TypedDict):
    """The transmitter (bodypack, handheld; for an IEM transmitter: its own output)."""

    present: bool | None
    model: str | None
    battery_bars: int | None  # 0..5
    battery_percent: int | None  # 0..100
    battery_minutes: int | None
    battery_minutes_state: Literal["calculating", "comm_warning"] | None
    battery_type: str | None
    muted: bool | None
    offset_db: float | None
    power_lock: bool | None
    #: how the transmitter went away: "switched_off" (its RF was healthy up to the end),
    #: "lost" (its RF had faded first: a dropout), "rf_muted" (an IEM transmitter's RF
    #: output muted); null while it is on air (docs/contract-changes.md)
    off_reason: Literal["switched_off", "lost", "rf_muted"] | None
    #: when the receiver stopped hearing it (epoch s); null while it is on air
    last_seen: float | None


class RfState(TypedDict):
    antennas: str | None  # active antennas: "AB", "A", "B", "" (none)
    level_pct: int | None  # 0..100, the display bar
    rssi_dbm: float | None  # strongest active antenna
    quality: int | None  # 0..5 where the family has it
    interference: bool | None
    encryption_ok: bool | None
    antenna_warning: bool | None  # an antenna LED red (Axient Digital)


class AudioState(TypedDict):
    level_pct: int | None  # 0..100, the display bar
    dbfs: float | None
    peak_dbfs: float | None
    peak: bool | None  # overload / peak indicator lit
    gain_db: float | None
    muted: bool | None


class ChannelState(TypedDict):
    key: str  # "<device>/<n>"
    device: str
    number: int
    idx: int  # names the channel in compact websocket meter messages (this process)
    name: str | None  # as the receiver reports it
    frequency_khz: int | None
    group_channel: str | None
    status: Status
    tx: TxState
    rf: RfState
    audio: AudioState
    updated: float | None


class DeviceState(TypedDict):
    id: str
    driver: str
    host: str
    port: int
    link: LinkState
    link_hint: str | None  # what to check when the link is not online
    model: str | None
    firmware: str | None
    device_name: str | None
    last_seen: float | None
    channels: list[str]
    name_max: int | None  # the longest channel name the family takes (None: unknown)


class SlotState(TypedDict):
    slot: int
    channel: str | None
    label_id: str | None
    label_name: str | None
    group: str | None
    active: bool
    kind: Literal["rx", "blank", "manual"]  # blank, manual: placeholders (no channel)
    note: str | None


#: a slot's fields in the state, and each one's value when a slot does not say
SLOT_FIELDS: dict[str, Any] = {"slot": None, "channel": None, "label_id": None,
                               "label_name": None, "group": None, "active": True,
                               "kind": "rx", "note": None}


def slot(fields: JSON) -> JSON:
    """A slot as the state carries it: every field of SLOT_FIELDS, defaults filled in."""
    return {k: fields.get(k, v) for k, v in SLOT_FIELDS.items()}


class GroupState(TypedDict):
    name: str
    key: str | None
    charts: bool  # its tiles draw live RF and audio charts


class Meaning(TypedDict):
    severity: Literal["ok", "info", "warning", "critical"]
    label: str
    sentence: str
    icon: str
    live: bool


class Vocabulary(TypedDict):
    """What each status means (micboardd/state/status.py), so the page keeps no copy."""

    severities: list[str]  # least to most urgent
    statuses: dict[str, Meaning]  # every status, plus NO_DATA and UNKNOWN (page only)
    off_reasons: dict[str, Meaning]  # tx.off_reason refines PREV_* and TX_OFF
    off_reason_refines: list[str]  # the statuses it refines
    alerts: dict[str, dict[str, Meaning]]  # an alert episode's words: rule -> severity -> ...


class State(TypedDict):
    """``GET /api/state``; a websocket snapshot carries the same without ``seq``.
    Optional parts add sections of their own (``alerts``, ``sites``)."""

    seq: int
    devices: dict[str, DeviceState]
    channels: dict[str, ChannelState]
    slots: list[SlotState]
    groups: list[GroupState]
    statuses: Vocabulary


def empty_channel(device_id: str, number: int) -> JSON:
    """A channel nothing is known about yet (every field present, unknown)."""
    return {
        "key": f"{device_id}/{number}",
        "device": device_id,
        "number": number,
        "name": None,
        "frequency_khz": None,
        "group_channel": None,
        "status": "RX_OFFLINE",
        "tx": {
            "present": None, "model": None, "battery_bars": None, "battery_percent": None,
            "battery_minutes": None, "battery_minutes_state": None, "battery_type": None,
            "muted": None, "offset_db": None, "power_lock": None, "off_reason": None,
            "last_seen": None,
        },
        "rf": {
            "antennas": None, "level_pct": None, "rssi_dbm": None, "quality": None,
            "interference": None, "encryption_ok": None, "antenna_warning": None,
        },
        "audio": {
            "level_pct": None, "dbfs": None, "peak_dbfs": None, "peak": None,
            "gain_db": None, "muted": None,
        },
        "updated": None,
    }


def new_device(device_id: str, driver: str, host: str, port: int, model: str | None) -> JSON:
    """A configured device before its link has said anything."""
    return {
        "id": device_id, "driver": driver, "host": host, "port": port,
        "link": "connecting", "link_hint": None, "model": model, "firmware": None,
        "device_name": None, "last_seen": None, "channels": [], "name_max": name_max(driver),
    }


def name_max(driver: str) -> int | None:
    """The longest channel name a family takes (its ``NAME_MAX``, else ``NAME_WIDTH``)."""
    try:
        cls = driver_class(driver)
    except KeyError:
        return None
    n = getattr(cls, "NAME_MAX", getattr(cls, "NAME_WIDTH", None))
    return n if isinstance(n, int) else None


#: Fields that go null when a receiver link drops: a meter frozen at its last value would
#: lie. Names, frequency and the last battery reading stay (and PREV_* shows their age).
CLEARED_ON_OFFLINE: dict[str, tuple[str, ...]] = {
    "rf": ("antennas", "level_pct", "rssi_dbm", "quality", "antenna_warning"),
    "audio": ("level_pct", "dbfs", "peak_dbfs", "peak"),
}
