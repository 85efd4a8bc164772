"""Commands over MQTT (``mqtt.commands``): ``.../set/<kind>`` topics run through the
daemon's one command path (the same validation, roles and audit as REST); the result is
published on ``<topic>/result``. The broker's ACLs decide who may publish there."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson
import structlog

from micboardd.state import JSON

log = structlog.get_logger("micboardd.mqtt")

MAX_COMMANDS_IN_FLIGHT = 16
MAX_COMMAND_PAYLOAD = 4096
COMMAND_KINDS = ("name", "mute", "identify")
_TRUE = frozenset({"on", "true", "1", "yes", "mute", "muted"})
_FALSE = frozenset({"off", "false", "0", "no", "unmute", "unmuted"})


class RunCommand(Protocol):
    def __call__(self, who: str, device_id: str, channel: int | None, kind: Any, value: Any,
                 **audit_extra: Any) -> Awaitable[tuple[int, JSON]]: ...


class Commands:
    """Parses command messages, runs them, and publishes each result through ``send``
    (topic, payload; None while there is no broker connection)."""

    def __init__(self, run: RunCommand, send: Callable[[str, bytes], bool]) -> None:
        self.run = run
        self.send = send
        self.received = 0
        self.rejected = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def handle(self, topic: str, parts: list[str], payload: bytes) -> None:
        """``parts``: the topic below the site, ``channel/<device>/<n>/set/<kind>`` or
        ``device/<device>/set/<kind>``."""
        kind = parts[-1]
        if parts[0] == "channel" and len(parts) == 5:
            dev_id, n_raw = parts[1], parts[2]
            channel: int | None = int(n_raw) if n_raw.isdigit() else -1
        elif parts[0] == "device" and len(parts) == 4:
            dev_id, channel = parts[1], None
        else:
            return
        self.received += 1
        if len(self._tasks) >= MAX_COMMANDS_IN_FLIGHT:
            self.rejected += 1
            self._reply(topic, None, 503, "too many commands in flight")
            return
        task = asyncio.create_task(self._command(topic, dev_id, channel, kind, payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _command(self, topic: str, dev_id: str, channel: int | None, kind: str,
                       payload: bytes) -> None:
        req_id, value, problem = parse_command(kind, payload)
        if problem is None and kind not in COMMAND_KINDS:
            problem = f"kind must be one of {', '.join(COMMAND_KINDS)}"
        if problem is None and channel == -1:
            problem = "channel number must be an integer"
        if problem is not None:
            self.rejected += 1
            self._reply(topic, req_id, 400, problem)
            return
        status, body = await self.run("mqtt", dev_id, channel, kind, value, via="mqtt",
                                      topic=topic)
        if status != 200:
            self.rejected += 1
        self._reply(topic, req_id, status, body.get("error"), body.get("state"))

    def _reply(self, topic: str, req_id: Any, status: int, error: str | None,
               state: JSON | None = None) -> None:
        body: JSON = {"id": req_id, "ok": status == 200, "status": status}
        if error is not None:
            body["error"] = error
        if state is not None:
            body["state"] = state
        if not self.send(topic + "/result", orjson.dumps(body)):
            log.warning("mqtt_command_result_dropped", topic=topic, status=status)

    def cancel(self) -> None:
        for t in list(self._tasks):
            t.cancel()


def parse_command(kind: str, payload: bytes) -> tuple[Any, Any, str | None]:
    """(request id, value, problem). A payload that starts with ``{`` is a JSON object
    ``{"value": ..., "id": ...}``; anything else is plain text: the new name, or
    ON/OFF (true/false, 1/0) for mute; identify ignores it."""
    if len(payload) > MAX_COMMAND_PAYLOAD:
        return None, None, "payload too large"
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return None, None, "payload is not UTF-8"
    if text.lstrip().startswith("{"):
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError:
            return None, None, "payload starts with { but is not a JSON object"
        if not isinstance(obj, dict):
            return None, None, "payload starts with { but is not a JSON object"
        return obj.get("id"), obj.get("value"), None
    if kind == "mute":
        word = text.strip().lower()
        if word in _TRUE:
            return None, True, None
        if word in _FALSE:
            return None, False, None
        return None, None, "mute takes ON or OFF"
    if kind == "identify":
        return None, None, None
    return None, text, None
