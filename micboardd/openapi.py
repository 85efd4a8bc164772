"""The OpenAPI 3.1 document served at ``/api/openapi.json``.

Written by hand next to the handlers it describes; tests/test_openapi.py checks every
route against it and schemathesis exercises it.
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]

_ERR = {"description": "error", "content": {"application/json": {"schema": {
    "$ref": "#/components/schemas/Error"}}}}

_nullable_str = {"type": ["string", "null"]}
_nullable_int = {"type": ["integer", "null"]}
_nullable_num = {"type": ["number", "null"]}
_nullable_bool = {"type": ["boolean", "null"]}

SCHEMAS: JSON = {
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "string"}, "problems": {"type": "array"}},
    },
    "Device": {
        "type": "object",
        "required": ["id", "driver", "host", "port", "link", "channels"],
        "properties": {
            "id": {"type": "string"}, "driver": {"type": "string"},
            "host": {"type": "string"}, "port": {"type": "integer"},
            "link": {"enum": ["online", "connecting", "offline", "silent"]},
            "link_hint": _nullable_str, "model": _nullable_str, "firmware": _nullable_str,
            "device_name": _nullable_str, "last_seen": _nullable_num,
            "channels": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Channel": {
        "type": "object",
        "required": ["key", "device", "number", "status", "tx", "rf", "audio"],
        "properties": {
            "key": {"type": "string"}, "device": {"type": "string"},
            "number": {"type": "integer"}, "name": _nullable_str,
            "idx": {"type": "integer", "description": "names the channel in compact "
                    "websocket meter messages; stable while the daemon runs"},
            "frequency_khz": _nullable_int, "group_channel": _nullable_str,
            "status": {"enum": ["GOOD", "REPLACE", "CRITICAL", "PREV_GOOD", "PREV_REPLACE",
                                "PREV_CRITICAL", "TX_OFF", "RX_OFFLINE", "AUDIO_PEAK",
                                "UNASSIGNED"]},
            "tx": {"type": "object", "properties": {
                "present": _nullable_bool, "model": _nullable_str,
                "battery_bars": {"type": ["integer", "null"], "minimum": 0, "maximum": 5},
                "battery_percent": _nullable_int, "battery_minutes": _nullable_int,
                "battery_minutes_state": {"enum": [None, "calculating", "comm_warning"]},
                "battery_type": _nullable_str, "muted": _nullable_bool,
                "offset_db": _nullable_num, "power_lock": _nullable_bool}},
            "rf": {"type": "object", "properties": {
                "antennas": _nullable_str, "level_pct": _nullable_int,
                "rssi_dbm": _nullable_num, "quality": _nullable_int,
                "interference": _nullable_bool, "encryption_ok": _nullable_bool}},
            "audio": {"type": "object", "properties": {
                "level_pct": _nullable_int, "dbfs": _nullable_num,
                "peak_dbfs": _nullable_num, "peak": _nullable_bool,
                "gain_db": _nullable_num, "muted": _nullable_bool}},
            "updated": _nullable_num,
        },
    },
    "Slot": {
        "type": "object", "required": ["slot"],
        "properties": {
            "slot": {"type": "integer", "minimum": 1, "maximum": 10000},
            "channel": _nullable_str,
            "label_id": {"type": ["string", "null"], "maxLength": 16},
            "label_name": {"type": ["string", "null"], "maxLength": 64},
            "group": {"type": ["string", "null"], "maxLength": 64},
            "active": {"type": "boolean"},
        },
    },
    "Group": {
        "type": "object", "required": ["name"],
        "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 64},
                       "key": {"type": ["string", "null"], "maxLength": 1}},
    },
    "State": {
        "type": "object", "required": ["seq", "devices", "channels", "slots"],
        "properties": {
            "seq": {"type": "integer"},
            "devices": {"type": "object",
                        "additionalProperties": {"$ref": "#/components/schemas/Device"}},
            "channels": {"type": "object",
                         "additionalProperties": {"$ref": "#/components/schemas/Channel"}},
            "slots": {"type": "array", "items": {"$ref": "#/components/schemas/Slot"}},
            "groups": {"type": "array", "items": {"$ref": "#/components/schemas/Group"}},
        },
    },
    "Command": {
        "type": "object", "required": ["kind"],
        "properties": {
            "kind": {"enum": ["name", "mute", "identify", "gain", "frequency"]},
            "value": {"description": "name: string; mute: boolean; gain: integer dB; "
                                     "frequency: integer kHz; identify: unused"},
        },
    },
}


def _op(summary: str, responses: JSON, **extra: Any) -> JSON:
    return {"summary": summary, "responses": responses, **extra}


def _ok(schema: JSON | None = None, ctype: str = "application/json") -> JSON:
    r: JSON = {"description": "OK"}
    if schema is not None:
        r["content"] = {ctype: {"schema": schema}}
    return r


_WRITE_ERRORS = {"400": _ERR, "401": _ERR, "403": _ERR, "413": _ERR}
_CMD_RESPONSES = {
    "200": _ok({"type": "object", "required": ["ok", "state"],
                "properties": {"ok": {"type": "boolean"}, "state": {"type": "object"}}}),
    **_WRITE_ERRORS, "404": _ERR, "422": _ERR, "502": _ERR, "503": _ERR, "504": _ERR,
}


_TIME = "unix seconds, ISO 8601, now, or an age like 6h"


def _q(name: str, description: str, schema: JSON | None = None) -> JSON:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


def _path(name: str) -> JSON:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


_RANGE = [_q("from", _TIME), _q("to", _TIME)]
_LIST = [_q("limit", "at most this many (1..10000)",
            {"type": "integer", "minimum": 1, "maximum": 10000}),
         _q("order", "asc or desc", {"enum": ["asc", "desc"]})]
_FORMAT = _q("format", "json or csv (or Accept: text/csv)", {"enum": ["json", "csv"]})


def openapi_document(version: str) -> JSON:
    paths: JSON = {
        "/api/state": {"get": _op("Whole normalized state",
                                  {"200": _ok({"$ref": "#/components/schemas/State"})})},
        "/api/devices": {"get": _op("Devices with link counters", {"200": _ok(
            {"type": "array", "items": {"$ref": "#/components/schemas/Device"}})})},
        "/api/openapi.json": {"get": _op("This document", {"200": _ok({"type": "object"})})},
        "/api/slots": {"put": _op(
            "Save slot labels, order and groups (operator)",
            {"200": _ok({"type": "object", "required": ["slots", "groups"], "properties": {
                "slots": {"type": "array", "items": {"$ref": "#/components/schemas/Slot"}},
                "groups": {"type": "array",
                           "items": {"$ref": "#/components/schemas/Group"}}}}),
             **_WRITE_ERRORS, "422": _ERR},
            security=[{"bearer": []}],
            requestBody={"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["slots"], "properties": {
                    "slots": {"type": "array",
                              "items": {"$ref": "#/components/schemas/Slot"}},
                    "groups": {"type": "array",
                               "items": {"$ref": "#/components/schemas/Group"}}}}}}},
        )},
        "/api/devices/{device}/command": {"post": _op(
            "Run a device-level command (identify) (operator)", _CMD_RESPONSES,
            security=[{"bearer": []}],
            parameters=[{"name": "device", "in": "path", "required": True,
                         "schema": {"type": "string"}}],
            requestBody={"required": True, "content": {"application/json": {"schema": {
                "$ref": "#/components/schemas/Command"}}}},
        )},
        "/api/channels/{device}/{number}/command": {"post": _op(
            "Run a channel command: name, mute, identify, gain, frequency (operator). "
            "Answers with the state the device reported back.", _CMD_RESPONSES,
            security=[{"bearer": []}],
            parameters=[
                {"name": "device", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "number", "in": "path", "required": True,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 8}},
            ],
            requestBody={"required": True, "content": {"application/json": {"schema": {
                "$ref": "#/components/schemas/Command"}}}},
        )},
        # history, events, report, audit, alerts (micboardd/history_api.py)
        "/api/history/{device}/{number}": {"get": _op(
            "Downsampled history of one channel (columnar: t[] and series{metric: []})",
            {"200": _ok({"type": "object"}), "400": _ERR, "503": _ERR},
            parameters=[_path("device"), _path("number"), _q("metric", "battery, rf, audio, "
                        "on_air or column names, comma separated (default: all)"),
                        *_RANGE, _q("step", "seconds per point (default: about 1000 "
                                            "points)"), _FORMAT],
        )},
        "/api/events": {"get": _op(
            "Events: status, tx_on/off, battery, rx_up/down, name, alert_* ...",
            {"200": _ok({"type": "object"}), "400": _ERR, "503": _ERR},
            parameters=[_q("since", _TIME), _q("until", _TIME),
                        _q("channel", "channel key (device/n) or device id"),
                        _q("kind", "comma separated kinds"), *_LIST, _FORMAT],
        )},
        "/api/audit": {"get": _op(
            "Audit trail: configuration changes and control commands, who and what",
            {"200": _ok({"type": "object"}), "400": _ERR, "503": _ERR},
            parameters=[_q("since", _TIME), _q("until", _TIME), _q("who", "token name"),
                        _q("action", "action or its prefix (command)"), _q("target", "key"),
                        *_LIST, _FORMAT],
        )},
        "/api/report": {"get": _op(
            "Show report per channel: battery used, time on air, worst RF, alerts",
            {"200": _ok({"type": "object"}), "400": _ERR, "503": _ERR},
            parameters=[*_RANGE, _FORMAT],
        )},
        "/api/alerts": {"get": _op(
            "Current alert episodes; with from/to: stored episodes in that range",
            {"200": _ok({"type": "object"}), "400": _ERR, "503": _ERR},
            parameters=[*_RANGE, _q("channel", "channel key or device id")],
        )},
        "/api/alerts/{id}/ack": {"post": _op(
            "Acknowledge an alert episode (operator)",
            {"200": _ok({"type": "object"}), **_WRITE_ERRORS, "404": _ERR, "409": _ERR,
             "503": _ERR},
            security=[{"bearer": []}], parameters=[_path("id")],
            requestBody={"required": False, "content": {"application/json": {"schema": {
                "type": "object", "properties": {"note": {"type": "string",
                                                          "maxLength": 256}}}}}},
        )},
        "/healthz": {"get": _op("Liveness and a summary", {"200": _ok({"type": "object"})})},
        "/metrics": {"get": _op("Prometheus metrics",
                                {"200": _ok({"type": "string"}, "text/plain")})},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "micboardd", "version": version,
                 "description": "Wireless microphone monitoring. Reads are open; writes "
                                "need an operator bearer token (or loopback when no token "
                                "is configured). Live updates: websocket /ws."},
        "paths": paths,
        "components": {"schemas": SCHEMAS, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"}}},
    }
