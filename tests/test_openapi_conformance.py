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
