"""The topic tree (``P`` = ``topic_prefix/site``; docs/mqtt.md has the full description)::

    P/status                                  online | offline   retained, last will
    P/events                                  JSON event         not retained
    P/bridge                                  1 | 0              a broker bridge's notification
    P/device/<device>/state                   device object      retained
    P/device/<device>/availability            online | offline   retained
    P/device/<device>/set/identify            command            (mqtt.commands)
    P/channel/<device>/<n>/state              channel object     retained
    P/channel/<device>/<n>/set/<kind>         command: name | mute | identify
    <command topic>/result                    JSON result        not retained
    <discovery_prefix>/<component>/<object_id>/config   Home Assistant discovery
"""

from __future__ import annotations


def object_id(*parts: str | int) -> str:
    """An MQTT-discovery object id: [a-zA-Z0-9_-] only."""
    raw = "_".join(str(p) for p in parts)
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in raw)


class Topics:
    def __init__(self, prefix: str, site: str, discovery_prefix: str) -> None:
        self.base = f"{prefix}/{site}"
        self.discovery_prefix = discovery_prefix
        self.status = f"{self.base}/status"
        self.events = f"{self.base}/events"
        self.bridge = f"{self.base}/bridge"

    def device_state(self, dev: str) -> str:
        return f"{self.base}/device/{dev}/state"

    def availability(self, dev: str) -> str:
        return f"{self.base}/device/{dev}/availability"

    def channel_state(self, dev: str, n: int | str) -> str:
        return f"{self.base}/channel/{dev}/{n}/state"

    def channel_set(self, dev: str, n: int | str, kind: str) -> str:
        return f"{self.base}/channel/{dev}/{n}/set/{kind}"

    def device_set(self, dev: str, kind: str) -> str:
        return f"{self.base}/device/{dev}/set/{kind}"

    def discovery(self, component: str, object_id: str) -> str:
        return f"{self.discovery_prefix}/{component}/{object_id}/config"
