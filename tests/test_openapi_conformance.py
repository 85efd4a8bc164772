"""The request models' JSON Schemas say what the server takes: a value the document
allows is not refused for a reason the document does not state, and a value it refuses
is not taken. Checked with jsonschema_rs (schemathesis's validator, ECMA-262 patterns)
against the server's own parsing."""

from __future__ import annotations

import sys
from typing import Any

import jsonschema_rs
import pytest
from pydantic import BaseModel, ValidationError

from micboardd.config.models import SlotConfig

#: every character some regex dialect counts as white space (Python str.isspace,
#: Unicode White_Space as Rust regex reads \s, ECMA-262 \s with U+FEFF) and a few near it
SPACES = sorted({chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}
                | {"\ufeff", "\u180e", "\u200b"})


def document_takes(schema: dict[str, Any], value: Any) -> bool:
    return jsonschema_rs.validator_for(schema).is_valid(value)


def model_takes(model: type[BaseModel], value: Any) -> bool:
    try:
        model.model_validate(value)
    except ValidationError:
        return False
    return True


def slot_schema() -> dict[str, Any]:
    return SlotConfig.model_json_schema()


@pytest.mark.parametrize("space", SPACES, ids=lambda c: f"U+{ord(c):04X}")
def test_channel_pattern_reads_the_same_on_both_sides(space: str) -> None:
    slot = {"slot": 1, "channel": f"rx{space}a/1"}
    assert document_takes(slot_schema(), slot) == model_takes(SlotConfig, slot)


def test_channel_pattern_spells_its_white_space_out() -> None:
    pattern = slot_schema()["properties"]["channel"]["anyOf"][0]["pattern"]
    assert "\\s" not in pattern


@pytest.mark.parametrize("slot, ok", [
    ({"slot": 1, "channel": "rx/1"}, True),
    ({"slot": 1, "kind": "rx", "channel": "rx/1"}, True),
    ({"slot": 1, "kind": "blank"}, True),
    ({"slot": 1, "kind": "manual", "channel": None}, True),
    ({"slot": 1, "kind": "blank", "channel": "rx/1"}, False),
    ({"slot": 1, "kind": "manual", "channel": "rx/1"}, False),
])
def test_only_an_rx_slot_has_a_channel(slot: dict[str, Any], ok: bool) -> None:
    assert model_takes(SlotConfig, slot) is ok
    assert document_takes(slot_schema(), slot) is ok


@pytest.mark.parametrize("body, ok", [
    ({"ids": ["a"]}, True),
    ({"ids": []}, True),
    ({"group": "Band"}, True),
    ({"all": True, "note": "checked"}, True),
    ({"ids": ["a"], "group": None, "all": False}, True),
    ({}, False),
    ({"all": False}, False),
    ({"ids": None, "group": None}, False),
    ({"ids": ["a"], "group": "Band"}, False),
    ({"group": "Band", "all": True}, False),
    ({"ids": ["a"], "all": True}, False),
])
def test_ack_selects_exactly_one_way(body: dict[str, Any], ok: bool) -> None:
    from micboardd.alerts.api import AckManyBody

    assert model_takes(AckManyBody, body) is ok
    assert document_takes(AckManyBody.model_json_schema(), body) is ok


def test_isspace_is_what_python_splits_on() -> None:
    import re

    from micboardd.server.params import ISSPACE

    spelled = re.compile(f"[{ISSPACE}]")
    assert {c for c in SPACES if spelled.fullmatch(c)} == {c for c in SPACES if c.isspace()}


UPLOADS: list[dict[str, str]] = [
    {"slot": "3"}, {"name": "Pastor Mike"}, {"name": " Pastor Mike \t"},
    {"name": "x" * 64}, {"name": f"  {'x' * 64}  "}, {"name": "x" * 65},
    {"name": "a" + " " * 62 + "b"}, {"name": "   "}, {"name": "\x1c"}, {"name": "\x85"},
    {"name": "\ufeff"}, {"name": "\u200b"}, {}, {"slot": "3", "name": "Mike"},
    {"slot": "0"}, {"slot": "10000"}, {"slot": "10001"},
]


@pytest.mark.parametrize("fields", UPLOADS)
def test_upload_form_is_what_the_server_reads(fields: dict[str, str]) -> None:
    from micboardd.photos.api import BadUpload, PhotoUpload, _fields

    try:
        _fields({"file": b"photo", **{k: v.encode() for k, v in fields.items()}})
        server = True
    except BadUpload:
        server = False
    form: dict[str, Any] = {"file": "photo", **fields}
    if "slot" in form:
        form["slot"] = int(form["slot"])  # a form field the document types as integer
    assert document_takes(PhotoUpload.model_json_schema(), form) is server


@pytest.mark.parametrize("key", ["Pastor Mike", "x", " x ", "   ", "\x1c", "\x85", "\ufeff"])
def test_name_key_in_a_delete_path_is_what_the_server_reads(key: str) -> None:
    from micboardd.photos.api import NamePhotoPath
    from micboardd.photos.library import name_key

    assert document_takes(NamePhotoPath.model_json_schema(), {"key": key}) \
        is bool(name_key(key))


@pytest.mark.parametrize("metric", [
    "", "battery", "battery,rf_min", " battery , rf ", "battery,,rf", ",", " ", "battery,",
    "rf_min\u3000", "nothing", "battery,nothing", "batteryrf", "battery rf", "\ufeffbattery",
])
def test_metric_is_documented_as_it_is_read(metric: str) -> None:
    from micboardd.history.api import HistoryQuery
    from micboardd.history.queries import resolve_metrics

    try:
        resolve_metrics(metric)
        server = True
    except ValueError:
        server = False
    schema = HistoryQuery.model_json_schema()["properties"]["metric"]
    assert document_takes(schema, metric) is server


@pytest.mark.parametrize("metric", [",", " , ", ""])
def test_metric_of_empty_parts_is_all(metric: str) -> None:
    """Not an empty list: a query with no columns was an SQL syntax error (503)."""
    from micboardd.history.queries import METRICS, resolve_metrics

    assert resolve_metrics(metric) == list(METRICS)
