"""Home Assistant MQTT discovery: one HA device per receiver, entities per channel
(battery, battery time, RF, audio, status, name, transmitter; with ``mqtt.commands``
also rename, mute and identify), each a retained config payload."""

from __future__ import annotations

import copy

import orjson

from micboardd.config import MqttConfig
from micboardd.drivers import driver_class
from micboardd.mqtt.topics import Topics, object_id
from micboardd.state import JSON, STATUSES
from micboardd.state.status import MEANINGS, OFF_REASONS, SEVERITIES


def _manufacturer(driver: str | None) -> str:
    if driver and driver.startswith("shure-"):
        return "Shure"
    if driver and driver.startswith("sennheiser-"):
        return "Sennheiser"
    return driver or "unknown"


def _has_mute(driver: str | None) -> bool:
    try:
        return bool(getattr(driver_class(driver or ""), "HAS_MUTE", True))
    except KeyError:
        return True


def _tristate(expr: str, on: str = "ON", off: str = "OFF") -> str:
    """Jinja for a nullable bool: ``None`` is how MQTT entities in HA say unknown."""
    return (f"{{% if {expr} is none %}}None{{% elif {expr} %}}{on}"
            f"{{% else %}}{off}{{% endif %}}")


def _severity_template() -> str:
    """Jinja giving a channel's severity from its status and ``tx.off_reason``, generated
    from the one vocabulary (micboardd/state/status.py) so HA says what the tile says."""
    st = orjson.dumps({k: m.severity for k, m in MEANINGS.items()}).decode()
    rs = orjson.dumps({k: m.severity for k, m in OFF_REASONS.items()}).decode()
    return ("{% set s = value_json.status %}{% set r = value_json.tx.off_reason %}"
            f"{{% set st = {st} %}}{{% set rs = {rs} %}}"
            "{% if r in rs and (s == 'TX_OFF' or s.startswith('PREV_')) %}{{ rs[r] }}"
            "{% else %}{{ st.get(s, 'info') }}{% endif %}")


#: (suffix, component, fields) of the Home Assistant entities of one channel
SENSORS: tuple[tuple[str, str, JSON], ...] = (
    ("battery", "sensor", {
        "name": "Battery", "device_class": "battery", "unit_of_measurement": "%",
        "state_class": "measurement",
        "value_template": (
            "{% set t = value_json.tx %}{% if t.battery_percent is not none %}"
            "{{ t.battery_percent }}{% elif t.battery_bars is not none %}"
            "{{ t.battery_bars * 20 }}{% else %}None{% endif %}"),
    }),
    ("battery_time", "sensor", {
        "name": "Battery time left", "device_class": "duration",
        "unit_of_measurement": "min", "value_template": "{{ value_json.tx.battery_minutes }}",
    }),
    ("rf_level", "sensor", {
        "name": "RF level", "unit_of_measurement": "%", "state_class": "measurement",
        "icon": "mdi:antenna", "value_template": "{{ value_json.rf.level_pct }}",
    }),
    ("audio_level", "sensor", {
        "name": "Audio level", "unit_of_measurement": "%", "state_class": "measurement",
        "icon": "mdi:microphone", "value_template": "{{ value_json.audio.level_pct }}",
    }),
    ("status", "sensor", {
        "name": "Status", "device_class": "enum", "options": list(STATUSES),
        "value_template": "{{ value_json.status }}",
    }),
    ("severity", "sensor", {
        "name": "Severity", "device_class": "enum", "options": list(SEVERITIES),
        "icon": "mdi:alert-circle-outline", "value_template": _severity_template(),
    }),
    ("name", "sensor", {
        "name": "Name", "icon": "mdi:label-outline", "value_template": "{{ value_json.name }}",
    }),
    ("transmitter", "binary_sensor", {
        "name": "Transmitter", "device_class": "power", "payload_on": "ON",
        "payload_off": "OFF", "value_template": _tristate("value_json.tx.present"),
    }),
)


class Discovery:
    def __init__(self, cfg: MqttConfig, topics: Topics) -> None:
        self.cfg = cfg
        self.topics = topics

    def entity_id(self, dev_id: str, n: int, suffix: str) -> str:
        return object_id("micboardd", self.cfg.site, dev_id, n, suffix)

    def entities(self, dev: JSON | None) -> list[tuple[str, str, JSON]]:
        out = list(SENSORS)
        if self.cfg.commands:
            out.append(("rename", "text", {"name": "Rename", "icon": "mdi:rename",
                                            "value_template": "{{ value_json.name or '' }}"}))
            if dev is None or _has_mute(dev.get("driver")):
                out.append(("mute", "switch", {
                    "name": "Mute", "icon": "mdi:microphone-off", "payload_on": "ON",
                    "payload_off": "OFF", "value_template": _tristate("value_json.audio.muted"),
                }))
            out.append(("identify", "button", {"name": "Identify", "payload_press": "ON",
                                                "entity_category": "config"}))
        return out

    def payloads(self, dev: JSON) -> dict[str, bytes]:
        """Topic -> retained config payload for every entity of a device's channels."""
        dev_id = dev["id"]
        t = self.topics
        device = {
            "identifiers": [object_id("micboardd", self.cfg.site, dev_id)],
            "name": dev_id,  # configured, unique and stable (device_name may repeat)
            "model": dev.get("model") or dev.get("driver"),
            "manufacturer": _manufacturer(dev.get("driver")),
            "sw_version": dev.get("firmware"),
        }
        device = {k: v for k, v in device.items() if v is not None}
        availability = [{"topic": t.availability(dev_id)}, {"topic": t.status}]
        kinds = {"rename": "name", "mute": "mute", "identify": "identify"}
        out: dict[str, bytes] = {}
        for key in dev["channels"]:
            n = int(key.rpartition("/")[2])
            state = t.channel_state(dev_id, n)
            for suffix, component, fields in self.entities(dev):
                oid = self.entity_id(dev_id, n, suffix)
                cfg: JSON = {
                    **copy.deepcopy(fields),
                    "name": f"Ch {n} {fields['name']}",
                    "unique_id": oid,
                    "device": device,
                    "availability": availability,
                    "availability_mode": "all",
                    "payload_available": "online",
                    "payload_not_available": "offline",
                    "origin": {"name": "micboardd"},
                }
                if component != "button":
                    cfg["state_topic"] = state
                if suffix == "status":
                    cfg["json_attributes_topic"] = state
                if suffix in kinds:
                    cfg["command_topic"] = t.channel_set(dev_id, n, kinds[suffix])
                out[t.discovery(component, oid)] = orjson.dumps(cfg)
        return out

    def channel_topics(self, dev_id: str, numbers: set[int]) -> set[str]:
        """The config topics every entity of these channels would have."""
        return {self.topics.discovery(comp, self.entity_id(dev_id, n, suffix))
                for n in numbers for suffix, comp, _ in self.entities(None)}
