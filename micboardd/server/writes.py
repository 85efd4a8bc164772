"""Endpoints that change something: the slot layout and device commands. Each needs the
operator role (:mod:`micboardd.server.auth`) and is audited."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from micboardd.config import Config, ConfigError, GroupConfig, SlotConfig
from micboardd.drivers import COMMAND_KINDS
from micboardd.server.auth import Principal, authorize
from micboardd.server.context import DaemonView, LayoutNotSaved, daemon_of
from micboardd.server.endpoints import Endpoint, parse_body
from micboardd.server.responses import error, json_response
from micboardd.state import JSON

CommandKind = Literal["name", "mute", "identify", "gain", "frequency"]
assert set(COMMAND_KINDS) == set(CommandKind.__args__)  # type: ignore[attr-defined]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CommandBody(_Body):
    """A control command. ``value``: name: string; mute: boolean; gain: integer dB;
    frequency: integer kHz; identify: unused. The driver checks the value's range."""

    kind: CommandKind
    value: Any = None


class DeviceCommandBody(_Body):
    """A command for the whole receiver: ``identify`` flashes it."""

    kind: Literal["identify"]
    value: Any = None


class Layout(_Body):
    """Slot labels, order and groups."""

    slots: list[SlotConfig]
    #: absent: the groups stay as they are
    groups: list[GroupConfig] | None = None


class LayoutSaved(_Body):
    slots: list[SlotConfig]
    groups: list[GroupConfig]


class CommandResult(_Body):
    ok: bool
    #: the channel (or device) as the device reported it back
    state: dict[str, Any]


class ChannelPath(_Body):
    device: str
    number: int = Field(ge=1, le=8)


class DevicePath(_Body):
    device: str


async def put_slots(request: web.Request) -> web.Response:
    who = await authorize(request)
    body = await parse_body(request, Layout)
    assert body is not None
    d = daemon_of(request)
    wanted_groups = body.groups if body.groups is not None else list(d.config.groups)
    if (sorted(body.slots, key=_slot_no) == sorted(d.config.slots, key=_slot_no)
            and wanted_groups == list(d.config.groups)):
        # the layout in force already: saving it again changes nothing and is no change
        # to audit (a page that saves twice, the same paste of names twice)
        return _layout_answer(d.config)
    # what is not the default is written (a layout file without the new keys stays
    # what an older daemon reads)
    slots = [s.model_dump(exclude_defaults=True) for s in body.slots]
    groups = [g.model_dump(exclude_defaults=True) for g in wanted_groups]
    before = {"slots": d.store.slots, "groups": d.store.groups}
    try:
        new = d.save_layout(slots, groups)
    except ConfigError as exc:
        return error(422, "invalid layout", problems=[
            {"path": w, "problem": p} for w, p in exc.problems])
    except LayoutNotSaved as exc:  # the configuration file is gone, the state dir is full
        return error(503, str(exc))
    after = {"slots": d.store.slots, "groups": d.store.groups}
    d.audit(who.name, "layout", before, after)
    return _layout_answer(new)


def _slot_no(s: SlotConfig) -> int:
    return s.slot


def _layout_answer(config: Config) -> web.Response:
    return json_response({"slots": [s.model_dump() for s in sorted(config.slots, key=_slot_no)],
                          "groups": [g.model_dump() for g in config.groups]})


async def run_command(d: DaemonView, who: Principal, device_id: str, channel: int | None,
                      kind: Any, value: Any) -> tuple[int, JSON]:
    return await d.run_command(who.name, device_id, channel, kind, value)


async def _command(request: web.Request, device_id: str, channel: int | None) -> web.Response:
    who = await authorize(request)
    model: type[CommandBody | DeviceCommandBody] = (
        CommandBody if channel is not None else DeviceCommandBody)
    body = await parse_body(request, model)
    assert body is not None
    status, payload = await run_command(daemon_of(request), who, device_id, channel,
                                        body.kind, body.value)
    return json_response(payload, status)


async def post_device_command(request: web.Request) -> web.Response:
    return await _command(request, request.match_info["device"], None)


async def post_channel_command(request: web.Request) -> web.Response:
    try:
        n = int(request.match_info["number"])
    except ValueError:
        return error(404, "channel number must be an integer")
    return await _command(request, request.match_info["device"], n)


_CMD_ERRORS = (400, 401, 403, 404, 413, 422, 502, 503, 504)

ENDPOINTS = (
    Endpoint("PUT", "/api/slots", put_slots,
             "Save slot labels, order and groups (operator); 503: not saved",
             response=LayoutSaved, body=Layout, errors=(400, 401, 403, 413, 422, 503),
             write=True),
    Endpoint("POST", "/api/devices/{device}/command", post_device_command,
             "Run a device-level command (identify) (operator)", response=CommandResult,
             body=DeviceCommandBody, path_params=DevicePath, errors=_CMD_ERRORS, write=True),
    Endpoint("POST", "/api/channels/{device}/{number}/command", post_channel_command,
             "Run a channel command: name, mute, identify, gain, frequency (operator). "
             "Answers with the state the device reported back.", response=CommandResult,
             body=CommandBody, path_params=ChannelPath, errors=_CMD_ERRORS, write=True),
)
