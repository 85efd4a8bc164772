"""What the Sennheiser families share: the display scales and battery bars (the same for
Shure), NAME_MAX on every family, the SSC codec and subscription bookkeeping."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from micboardd.drivers import FAMILIES, driver_class
from micboardd.drivers._sennheiser.ssc import (
    SSCError,
    SSCViolation,
    Subscription,
    Subscriptions,
    decode,
    encode,
    errors,
    leaves,
    merge,
    split_channel,
    tree,
)
from micboardd.drivers._shure import protocol as shure_protocol
from micboardd.drivers.scales import (
    audio_pct_from_dbfs,
    bars_from_percent,
    quality_from_percent,
    rf_pct_from_dbm,
)

# ------------------------------------------------------------------------ scales


@pytest.mark.parametrize(("pct", "bars"), [
    (None, None), (0, 0), (1, 1), (20, 1), (21, 2), (30, 2), (40, 2), (41, 3), (60, 3),
    (61, 4), (70, 4), (80, 4), (81, 5), (100, 5),
])
def test_battery_bars_are_fifths_of_the_charge(pct: int | None, bars: int | None) -> None:
    assert bars_from_percent(pct) == bars


def test_sennheiser_battery_steps_map_through_the_same_function() -> None:
    # G3/G4 Bat 0/30/70/100 and Digital 6000 "30%"/"70%"/"100%" ("low" = G4's 0)
    assert [bars_from_percent(p) for p in (0, 30, 70, 100)] == [0, 2, 4, 5]


def test_quality_uses_the_same_fifths() -> None:
    assert [quality_from_percent(p) for p in (0, 10, 50, 100)] == [0, 1, 3, 5]


def test_shure_scales_are_the_shared_ones_and_unchanged() -> None:
    assert shure_protocol.rf_pct_from_dbm is rf_pct_from_dbm
    assert shure_protocol.audio_pct_from_dbfs is audio_pct_from_dbfs
    assert [rf_pct_from_dbm(d) for d in (-120, -100, -70, -40, -10)] == [0, 0, 50, 100, 100]
    assert [audio_pct_from_dbfs(d) for d in (-60, -50, -25, 0, 6)] == [0, 0, 50, 100, 100]


def test_every_family_states_its_name_limit() -> None:
    limits = {f: driver_class(f).NAME_MAX for f in FAMILIES}
    assert all(isinstance(n, int) and n > 0 for n in limits.values())
    assert limits["sennheiser-ewdx"] == 8 and limits["sennheiser-d6000"] == 8
    assert limits["shure-ulxd"] == 8 and limits["shure-uhfr"] == 12
    for f in FAMILIES:  # the Shure families: what SET CHAN_NAME is validated against
        width = getattr(driver_class(f), "NAME_WIDTH", None)
        assert width is None or width == limits[f], f


def test_udp_families_say_when_silence_means_offline() -> None:
    for f in ("sennheiser-ewdx", "sennheiser-d6000", "sennheiser-g4"):
        cls = driver_class(f)
        assert cls.transport == "udp"
        assert cls.stale_after_s == 2.0
    # SSC pings every second, so a live device is never silent for 2 s
    assert driver_class("sennheiser-ewdx").keepalive_interval < 2.0
    assert "Legacy" in driver_class("sennheiser-ewdx").silent_hint


# ------------------------------------------------------------------------- codec


def test_tree_merge_leaves_and_channel_paths() -> None:
    t = merge(tree("rx1/name", None), tree(("rx1", "mute"), True), {"m": {"rx2": {"af": -20}}})
    assert t == {"rx1": {"name": None, "mute": True}, "m": {"rx2": {"af": -20}}}
    assert list(leaves(t)) == [(("rx1", "name"), None), (("rx1", "mute"), True),
                               (("m", "rx2", "af"), -20)]
    assert split_channel(("m", "rx2", "af")) == (2, ("m", "rx", "af"))
    assert split_channel(("mates", "tx4", "battery", "gauge")) == (
        4, ("mates", "tx", "battery", "gauge"))
    assert split_channel(("device", "name")) == (None, ("device", "name"))
    assert split_channel(("rx0", "name"))[0] is None  # channels count from 1


def test_decode_takes_one_object_and_tolerates_crlf() -> None:
    assert decode(b'{"device":{"name":"A"}}\r\n') == {"device": {"name": "A"}}
    assert decode(b'[310,{"desc":"subscription terminates"}]') == [
        310, {"desc": "subscription terminates"}]
    for bad in (b"", b"  ", b'{"device":{"name":', b"[1,2", b'"text"', b"42", b"[]",
                b'["a"]', b"\xff\xfe", b'{"a":1}{"b":2}'):
        with pytest.raises(SSCViolation):
            decode(bad)
    assert encode({"rx1": {"name": None}}) == b'{"rx1":{"name":null}}'


def test_error_entries() -> None:
    # SSC Developer's guide for SpeechLine Digital Wireless 11.4 /osc/error, and 14.11
    v = [{"audio": {"rx1": {"gain": [406, {"desc": "Not accepted", "reason": "x"}]}}},
         {"bays": {"active": [310]}}]
    assert errors(v) == [SSCError(("audio", "rx1", "gain"), 406, "Not accepted"),
                         SSCError(("bays", "active"), 310, "")]
    assert errors([400, {"desc": "message not understood"}]) == [
        SSCError((), 400, "message not understood")]
    assert errors([[424]]) == [SSCError((), 424, "")]
    for bad in ({"rx1": 406}, [{"rx1": {"gain": "x"}}], [{"rx1": {"gain": []}}], "error",
                [{"rx1": {"gain": [True]}}]):
        with pytest.raises(SSCViolation):
            errors(bad)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_decode_of_any_bytes_returns_or_raises_a_violation(data: bytes) -> None:
    try:
        out = decode(data)
    except SSCViolation:
        return
    assert isinstance(out, dict | list)


# ----------------------------------------------------------------- subscriptions


def test_subscriptions_renew_before_their_lifetime_and_at_once_after_310() -> None:
    subs = Subscriptions()
    rx = Subscription("rx", {"rx1": {"name": None}}, 10)
    m = Subscription("m", {"m": {"rx1": {"af": None}}}, 10, min_ms=100, max_ms=100)
    subs.put(rx)
    subs.put(m)
    first = subs.due(100.0)
    assert first == [
        b'{"osc":{"state":{"subscribe":[{"#":{"min":0,"max":0,"lifetime":10,"count":1000},'
        b'"rx1":{"name":null}}]}}}',
        b'{"osc":{"state":{"subscribe":[{"#":{"min":100,"max":100,"lifetime":10,'
        b'"count":1000},"m":{"rx1":{"af":null}}}]}}}']
    assert subs.due(105.9) == []
    assert len(subs.due(106.0)) == 2  # 60 % of the lifetime: before it runs out
    assert subs.due(107.0, only_unsent=True) == []
    assert subs.expire(("m", "rx1", "af")) == 1  # the device ended this one
    assert subs.due(107.0, only_unsent=True) == [m.message()]
    assert subs.expire(("rx1",)) == 1  # an address containing subscribed ones
    assert subs.expire(()) == 2  # no address: all of them
    subs.put(Subscription("rx", {"rx1": {"name": None}}, 10))  # unchanged: not resent
    assert subs.due(107.0, only_unsent=True) == [rx.message(), m.message()]
    assert [b'"cancel":true' in c for c in subs.cancel_messages()] == [True, True]
