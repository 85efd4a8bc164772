"""The compact meters message expands to exactly the merge patch it stands for."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from micboardd.server.wire import METER_FIELDS, encode_meters, expand_meters
from micboardd.state import merge_into

values = st.one_of(st.none(), st.booleans(), st.integers(-130, 130), st.sampled_from(
    ["AB", "A", "B", ""]))


@st.composite
def meter_patches(draw):  # type: ignore[no-untyped-def]
    chans = {}
    for key in draw(st.lists(st.sampled_from(["a/1", "a/2", "b/1", "rx-x/4"]), unique=True)):
        node: dict = {}
        for section, name in METER_FIELDS:
            if draw(st.booleans()):
                node.setdefault(section, {})[name] = draw(values)
        if draw(st.booleans()):
            node["updated"] = 12.5
        if draw(st.booleans()):
            node.setdefault("rf", {})["interference"] = draw(st.booleans())
        chans[key] = node
    patch: dict = {"channels": chans} if chans else {}
    if draw(st.booleans()):
        patch["devices"] = {"a": {"last_seen": 1.5}}
    return patch


IDX = {"a/1": 1, "a/2": 2, "b/1": 7, "rx-x/4": 1234}
KEY_OF = {v: k for k, v in IDX.items()}


@given(meter_patches())
def test_meters_round_trip(patch: dict) -> None:
    msg = orjson.loads(encode_meters(7, 6, patch, IDX.get))
    assert msg["seq"] == 7 and msg["base"] == 6
    got = msg["patch"] if msg["type"] == "patch" else expand_meters(msg, KEY_OF)
    # applying either to the same state gives the same result
    base = {"channels": {k: {"rf": {"x": 1}, "audio": {}} for k in ["a/1", "a/2", "b/1",
                                                                    "rx-x/4"]}}
    a = orjson.loads(orjson.dumps(base))
    b = orjson.loads(orjson.dumps(base))
    merge_into(a, patch)
    merge_into(b, got)
    assert a == b


def test_meters_are_smaller() -> None:
    patch = {"channels": {f"rx-{i:04d}/{n}": {
        "rf": {"level_pct": 83, "rssi_dbm": -45, "antennas": "AB"},
        "audio": {"level_pct": 52, "dbfs": -24, "peak": False}}
        for i in range(50) for n in range(1, 5)}}
    idx = {k: i for i, k in enumerate(patch["channels"])}
    compact = encode_meters(2, 1, patch, idx.get)
    plain = orjson.dumps({"type": "patch", "seq": 2, "base": 1, "patch": patch})
    assert len(compact) < len(plain) / 3  # about 33 bytes a channel instead of 116


def test_channel_without_idx_stays_a_plain_patch() -> None:
    patch = {"channels": {"gone/1": {"rf": {"level_pct": 3}}, "a/1": {"rf": {"level_pct": 4}}}}
    msg = orjson.loads(encode_meters(2, 1, patch, {"a/1": 1}.get))
    assert msg["m"] == [1, 2, 4]
    assert msg["patch"] == {"channels": {"gone/1": {"rf": {"level_pct": 3}}}}
