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
    devices = {}
    for dev in draw(st.lists(st.sampled_from(["a", "b", "rx-x", "gone"]), unique=True)):
        # last_seen alone (mostly one time for all, as the store sends it), or more
        devices[dev] = ({"last_seen": draw(st.sampled_from([1.5, 1.5, 2.25]))}
                        if draw(st.integers(0, 3)) else {"link": "online", "last_seen": 3.0})
    if devices:
        patch["devices"] = devices
    return patch


IDX = {"a/1": 1, "a/2": 2, "b/1": 7, "rx-x/4": 1234}
KEY_OF = {v: k for k, v in IDX.items()}
DEV_IDX = {"a": 3, "b": 5, "rx-x": 1240}  # ("gone" has none: it stays in the patch)
DEV_KEY_OF = {v: k for k, v in DEV_IDX.items()}


@given(meter_patches())
def test_meters_round_trip(patch: dict) -> None:
    msg = orjson.loads(encode_meters(7, 6, patch, IDX.get, DEV_IDX.get))
    assert msg["seq"] == 7 and msg["base"] == 6
    got = msg["patch"] if msg["type"] == "patch" else expand_meters(msg, KEY_OF, DEV_KEY_OF)
    # applying either to the same state gives the same result
    base = {"channels": {k: {"rf": {"x": 1}, "audio": {}} for k in ["a/1", "a/2", "b/1",
                                                                    "rx-x/4"]},
            "devices": {k: {"link": "online", "last_seen": 0.5} for k in [*DEV_IDX, "gone"]}}
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


def test_the_busiest_fields_have_the_lowest_bits() -> None:
    names = [f"{s}.{n}" for s, n in METER_FIELDS]
    assert names[:4] == ["audio.level_pct", "audio.dbfs", "rf.level_pct", "rf.rssi_dbm"]
    assert names[-1] == "tx.battery_minutes"  # the runtime countdown rides along
    assert len(set(names)) == len(names) == 10


def test_channel_without_idx_stays_a_plain_patch() -> None:
    patch = {"channels": {"gone/1": {"rf": {"level_pct": 3}}, "a/1": {"rf": {"level_pct": 4}}}}
    msg = orjson.loads(encode_meters(2, 1, patch, {"a/1": 1}.get))
    assert msg["m"] == [1, 4, 4]  # bit 2: rf.level_pct
    assert msg["patch"] == {"channels": {"gone/1": {"rf": {"level_pct": 3}}}}


def test_idx_are_delta_coded_and_last_seen_is_shared() -> None:
    patch = {"channels": {"b/1": {"rf": {"level_pct": 4}}, "a/1": {"rf": {"level_pct": 3}},
                          "rx-x/4": {"audio": {"dbfs": -20}}},
             "devices": {"b": {"last_seen": 9.5}, "a": {"last_seen": 9.5},
                         "rx-x": {"last_seen": 8.0}}}
    msg = orjson.loads(encode_meters(2, 1, patch, IDX.get, DEV_IDX.get))
    # idx 1, 7, 1234 in order: 1, then +6, then +1227 (bit 2 rf.level_pct, 1 audio.dbfs)
    assert msg["m"] == [1, 4, 3, 6, 4, 4, 1227, 2, -20]
    # the devices heard at 9.5 (idx 3 and 5); the other time stays a plain patch
    assert msg["seen"] == [9.5, 3, 2]
    assert msg["patch"] == {"devices": {"rx-x": {"last_seen": 8.0}}}
    assert expand_meters(msg, KEY_OF, DEV_KEY_OF)["devices"] == patch["devices"]


def test_a_patch_of_last_seen_alone_is_compact() -> None:
    patch = {"devices": {f"rx-{i:04d}": {"last_seen": 1764670000.123} for i in range(40)}}
    idx = {f"rx-{i:04d}": 10 + 5 * i for i in range(40)}
    compact = encode_meters(2, 1, patch, IDX.get, idx.get)
    plain = orjson.dumps({"type": "patch", "seq": 2, "base": 1, "patch": patch})
    assert len(compact) < len(plain) / 10
