"""Fan-out bookkeeping: shared bytes for clients that keep up, bounded and fresh for
clients that fall behind."""

from __future__ import annotations

import asyncio

import orjson

from micboardd.config import parse_config
from micboardd.drivers import ChannelUpdate
from micboardd.server.hub import Client, Hub, _encode
from micboardd.server.wire import expand_meters
from micboardd.state import Store, merge_into

CONFIG = parse_config(b"""{"devices": [{"id": "rx", "driver": "shure-ulxd",
  "host": "127.0.0.1", "channels": 4}], "http": {"meter_interval_ms": 20}}""")


async def settle(s: Store) -> None:
    await asyncio.sleep(0.05)
    s.flush()


async def test_keeping_up_clients_share_one_encoding_and_laggards_coalesce() -> None:
    s = Store(CONFIG)
    hub = Hub(s, max_queue=4)
    fast, slow = Client(None, "fast"), Client(None, "slow")  # type: ignore[arg-type]
    fast.resync = slow.resync = False
    hub.clients |= {fast, slow}
    s.set_link("rx", "online")
    await settle(s)
    # paced non-meter news (runtime countdown, a peak lighting) coalesces the same way
    s.apply("rx", [ChannelUpdate(2, {"tx.present": True, "tx.battery_bars": 5})])
    await settle(s)
    fast.queue.clear()
    slow.queue.clear()
    mirror = orjson.loads(orjson.dumps(s.state()))
    base_seq = s.seq
    s.apply("rx", [ChannelUpdate(2, {"tx.battery_minutes": 99})])
    s.apply("rx", [ChannelUpdate(2, {"audio.peak": True}, meter=True)])
    for i in range(30):
        s.apply("rx", [ChannelUpdate(1 + i % 4, {"rf.level_pct": i, "audio.level_pct": 2 * i},
                                     meter=True)])
        await settle(s)
        # the fast client's sender would have taken its item by now
        fast.queue.clear()
    assert s.channels["rx/2"]["status"] == "AUDIO_PEAK"
    # every meter patch was queued for the slow one, but they coalesced into one item
    assert len(slow.queue) == 1
    item = slow.queue[0]
    assert item.base == base_seq and item.seq == s.seq and item.coalesced
    assert set(item.keys) == {"rx/1", "rx/2", "rx/3", "rx/4"}
    # what it is sent is the current meters, as one message that keeps the seq chain
    patch = hub._current_meters(item, None)
    msg = orjson.loads(_encode(item.seq, item.base, patch, True, s))
    assert msg["type"] == "meters" and msg["base"] == base_seq
    merge_into(mirror, expand_meters(msg, {c["idx"]: k for k, c in s.channels.items()},
                                     {d["idx"]: k for k, d in s.devices.items()}))
    def known(d: dict) -> dict:
        return {k: v for k, v in d.items() if v is not None}

    for n in range(1, 5):
        for section in ("rf", "audio"):
            assert known(mirror["channels"][f"rx/{n}"][section]) == known(
                s.channels[f"rx/{n}"][section])
    assert mirror["channels"]["rx/3"]["rf"]["level_pct"] == 26  # the latest value won
    assert mirror["channels"]["rx/2"]["tx"]["battery_minutes"] == 99
    assert mirror["channels"]["rx/2"]["status"] == "AUDIO_PEAK"


async def test_a_client_that_never_reads_is_dropped_to_a_resync() -> None:
    s = Store(CONFIG)
    hub = Hub(s, max_queue=4)
    stuck = Client(None, "stuck")  # type: ignore[arg-type]
    stuck.resync = False
    hub.clients.add(stuck)
    s.set_link("rx", "online")
    for i in range(10):  # non-meter changes cannot coalesce: the queue fills
        s.apply("rx", [ChannelUpdate(1, {"name": f"N{i}"})])
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    assert stuck.resync and not stuck.queue  # memory stays bounded
    assert hub.stats.queue_drops == 1
