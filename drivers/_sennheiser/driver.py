"""What every SSC v1 family shares: a sans-IO driver over JSON datagrams.

Families describe their address space with tables, as the Shure ones do with properties:
``CHANNEL_LEAVES`` / ``METER_LEAVES`` map a leaf path with the channel index taken out
(``("mates", "tx", "battery", "gauge")`` for ``mates/tx2/battery/gauge``) to a function
from the JSON value to normalized values; ``DEVICE_LEAVES`` does the same for device
paths. Unknown paths are normal (other firmware) and ignored.

One datagram is one message, applied whole or not at all: a datagram that is not JSON
(truncated, garbage) or holds a value of the wrong type or range becomes one
:class:`ProtocolError` and changes nothing.

Liveness over UDP: ``keepalive_interval`` (1 s) reads ``{"device":{"name":null}}``, which
a live device always answers, so a device that stays silent for ``stale_after_s`` (2 s) is
offline. Subscriptions are renewed from :meth:`tick` with the time given, before their
lifetime runs out, and at once when the device reports 310 (subscription terminates).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from micboardd.drivers._sennheiser.ssc import (
    FAILED_DEPENDENCY,
    SUBSCRIPTION_TERMINATES,
    JSONTree,
    Path,
    SSCError,
    SSCViolation,
    Subscription,
    Subscriptions,
    decode,
    encode,
    errors,
    leaves,
    split_channel,
    tree,
)
from micboardd.drivers._sennheiser.values import NO_TX, LeafHandler, Values, as_str
from micboardd.drivers.base import (
    ChannelUpdate,
    CommandFailed,
    DeviceUpdate,
    Driver,
    Event,
)

#: device paths every SSC family answers the same way
DEVICE_LEAVES: dict[Path, LeafHandler] = {
    ("device", "name"): lambda v: {"device_name": as_str(v) or None},
    ("device", "identity", "version"): lambda v: {"firmware": as_str(v) or None},
    ("device", "identity", "product"): lambda v: {"model": as_str(v) or None},
}

#: keys a leaf handler may return for the family's :meth:`SSCDriver._derive` to resolve
#: (warning lists, "the transmitter is gone"); never sent to the store as such
PRIVATE = "_"


@dataclass(slots=True)
class Batch:
    """Everything one datagram says, checked before any of it is applied."""

    device: Values = field(default_factory=dict)
    status: dict[int, Values] = field(default_factory=dict)
    meter: dict[int, Values] = field(default_factory=dict)
    confirmed: list[tuple[str, Any]] = field(default_factory=list)  # (path, value)
    errors: list[SSCError] = field(default_factory=list)

    def status_for(self, ch: int) -> Values:
        return self.status.setdefault(ch, {})

    def meter_for(self, ch: int) -> Values:
        return self.meter.setdefault(ch, {})


@dataclass(slots=True)
class ChannelState:
    """What the driver remembers per channel to derive fields from several leaves."""

    rx_warnings: frozenset[str] = frozenset()
    tx_warnings: frozenset[str] = frozenset()
    tx_gone: bool = False


class SSCDriver(Driver):
    transport = "udp"
    default_port = 45
    keepalive_interval = 1.0
    stale_after_s = 2.0
    NAME_MAX = 8
    MAX_CHANNELS: ClassVar[int] = 8
    MODELS: ClassVar[Mapping[str, int]] = {}
    CHANNEL_LEAVES: ClassVar[Mapping[Path, LeafHandler]] = {}
    METER_LEAVES: ClassVar[Mapping[Path, LeafHandler]] = {}
    DEVICE_LEAVES: ClassVar[Mapping[Path, LeafHandler]] = DEVICE_LEAVES
    #: subscription lifetime asked for, seconds
    LIFETIME_S: ClassVar[int] = 10
    #: read once per connection (the keepalive refreshes the name)
    DEVICE_READ: ClassVar[JSONTree] = {
        "device": {"name": None, "identity": {"product": None, "version": None}}}

    def __init__(self, *, meter_rate_ms: int = 100, channels: int | None = None) -> None:
        super().__init__(meter_rate_ms=meter_rate_ms, channels=channels)
        self._subs = Subscriptions()
        self._now = 0.0
        self._state: dict[int, ChannelState] = {}
        self._expect: dict[str, Any] = {}  # path -> the value a write's report must carry

    # -- time-aware surface ------------------------------------------------------------

    def connection_made(self, now: float) -> None:
        self._now = now
        super().connection_made(now)

    def receive_data(self, data: bytes, now: float) -> list[Event]:
        self._now = now
        return super().receive_data(data, now)

    def tick(self, now: float) -> None:
        """Keepalive when due, and every subscription whose renewal is due."""
        self._now = now
        super().tick(now)
        self._out.extend(self._subs.due(now))

    # -- family hooks --------------------------------------------------------------------

    def _subscriptions(self) -> list[Subscription]:
        """The subscriptions this family keeps for ``self.channels`` channels."""
        raise NotImplementedError

    def _special(self, path: Path, value: Any, batch: Batch) -> bool:
        """Handle a leaf the tables cannot (the packed ``mm`` meters); True if handled."""
        return False

    def _derive(self, ch: int, values: Values) -> None:
        """Resolve the private keys in a channel's values (in place)."""
        values.pop("_no_tx", None)

    def _absent_channel(self, path: Path) -> int | None:
        """The channel whose transmitter a 424 on ``path`` says is absent, if any."""
        return None

    def _channels_for(self, model: str) -> int | None:
        return self.MODELS.get(model)

    # -- framing -------------------------------------------------------------------------

    def _reset_buffer(self) -> None:
        self._subs.clear()
        self._state.clear()
        self._expect.clear()

    def _parse(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        try:
            batch = self._interpret(decode(data))
        except (SSCViolation, TypeError) as exc:
            self._malformed(str(exc) or "malformed message", data, events)
            return events
        self.stats.frames += 1
        self._commit(batch, events)
        return events

    def _interpret(self, msg: JSONTree | list[Any]) -> Batch:
        batch = Batch()
        if isinstance(msg, list):
            batch.errors.extend(errors(msg))
            return batch
        for key, value in msg.items():
            if key == "osc":
                self._osc(value, batch)
            else:
                self._tree({key: value}, batch)
        return batch

    def _osc(self, value: Any, batch: Batch) -> None:
        if not isinstance(value, dict):
            raise SSCViolation("osc is not an object")
        if "error" in value:
            batch.errors.extend(errors(value["error"]))
        state = value.get("state")
        if isinstance(state, dict) and "subscribe" in state:
            # the acknowledgement echoes the subscribed trees, values filled in or null
            entries = state["subscribe"]
            if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
                raise SSCViolation("osc/state/subscribe is not a list of objects")
            for entry in entries:
                self._tree({k: v for k, v in entry.items() if k != "#"}, batch)
        # xid, ping, version, feature, limits, schema: nothing to show

    def _tree(self, obj: JSONTree, batch: Batch) -> None:
        for path, value in leaves(obj):
            if value is not None:  # null: an address echoed without a value
                self._leaf(path, value, batch)

    def _leaf(self, path: Path, value: Any, batch: Batch) -> None:
        if not self._special(path, value, batch):
            ch, norm = split_channel(path)
            if ch is None:
                handler = self.DEVICE_LEAVES.get(norm)
                if handler is not None:
                    batch.device.update(handler(value))
            else:
                if ch > self.MAX_CHANNELS:
                    raise SSCViolation(f"channel {ch} out of range 1..{self.MAX_CHANNELS}")
                handler = self.CHANNEL_LEAVES.get(norm)
                if handler is not None:
                    batch.status_for(ch).update(handler(value))
                elif (handler := self.METER_LEAVES.get(norm)) is not None:
                    batch.meter_for(ch).update(handler(value))
        batch.confirmed.append(("/".join(path), value))

    # -- applying ------------------------------------------------------------------------

    def _commit(self, batch: Batch, events: list[Event]) -> None:
        results: list[Event] = []
        if batch.device:
            self._device(dict(batch.device), events)
        for err in batch.errors:
            self._on_error(err, batch, results)
        for ch, meter in batch.meter.items():  # "the transmitter went" rides on meters
            for k in [k for k in meter if k.startswith(PRIVATE)]:
                batch.status_for(ch)[k] = meter.pop(k)
        for ch in sorted(batch.status):
            values = batch.status[ch]
            self._derive(ch, values)
            if values:
                events.append(ChannelUpdate(ch, values))
        for ch in sorted(batch.meter):
            if batch.meter[ch]:
                self._meter(ch, batch.meter[ch], events)
        self._note_channels(batch)
        for path, value in batch.confirmed:
            want = self._expect.get(path)
            if want is None or want == value:  # another value: a report crossing the write
                self._expect.pop(path, None)
                self._confirm(None, path, results)
        events.extend(results)
        # new, changed or terminated subscriptions go out now; renewals wait for tick()
        self._out.extend(self._subs.due(self._now, only_unsent=True))

    def _device(self, values: Values, events: list[Event]) -> None:
        model = values.get("model")
        n = self._channels_for(model) if isinstance(model, str) else None
        if n is not None:
            values["channel_count"] = n
            self._set_channels(n)
        events.append(DeviceUpdate(values))

    def _note_channels(self, batch: Batch) -> None:
        seen = max([*batch.status, *batch.meter], default=0)
        if seen > self.channels:
            self._set_channels(seen)

    def _set_channels(self, n: int) -> None:
        if n != self.channels:
            self.channels = n
            self._install()

    def _on_error(self, err: SSCError, batch: Batch, results: list[Event]) -> None:
        path = "/".join(err.path)
        reason = f"device answered {err.code}" + (f" ({err.desc})" if err.desc else "")
        if err.code == SUBSCRIPTION_TERMINATES:
            self._subs.expire(err.path)  # re-subscribed at the end of this commit
            return
        if not self._fail_pending(path, reason, results) and err.code == FAILED_DEPENDENCY:
            ch = self._absent_channel(err.path)
            if ch is not None:
                batch.status_for(ch)["_no_tx"] = True

    def _fail_pending(self, path: str, reason: str, results: list[Event]) -> bool:
        """An error reply for ``path`` refuses the command waiting for it (or for an
        address inside it); one for no address refuses the oldest."""
        if not path:
            return self._reject_oldest(reason, results)
        for key in list(self._pending):
            p = key[1]
            if p == path or p.startswith(path + "/"):
                self._expect.pop(p, None)
                results.append(CommandFailed(self._pending.pop(key).cmd_id, reason))
                return True
        return False

    def _channel_state(self, ch: int) -> ChannelState:
        return self._state.setdefault(ch, ChannelState())

    def _mark_gone(self, ch: int, gone: bool, values: Values) -> None:
        """Track whether channel ``ch`` has a transmitter; when it goes, the tx fields
        become "absent" (values from the same message win), when it comes back its
        transmitter subscription is renewed for fresh values."""
        st = self._channel_state(ch)
        if gone and not st.tx_gone:
            st.tx_gone = True
            for k, v in NO_TX.items():
                values.setdefault(k, v)
        elif not gone and st.tx_gone:
            st.tx_gone = False
            self._subs.renew(f"tx{ch}")

    # -- outgoing ------------------------------------------------------------------------

    def _install(self) -> None:
        wanted = self._subscriptions()
        names = {s.name for s in wanted}
        keep = [s for s in self._subs if s.name in names]
        self._subs.clear()
        for s in keep:
            self._subs.put(s)
        for s in wanted:
            self._subs.put(s)

    def _handshake(self) -> list[bytes]:
        self._install()
        return [encode(self.DEVICE_READ), *self._subs.due(self._now)]

    def _keepalive(self) -> list[bytes]:
        # the read of the device name (sennheiser.md sections 1 and 4; SSC Developer's
        # guide for ew D1, 8.14 /device/name: TX {"device":{"name":null}})
        return [encode({"device": {"name": None}})]

    def _meter_stop(self) -> list[bytes]:
        """Cancel every subscription (they would lapse within their lifetime anyway)."""
        out = self._subs.cancel_messages()
        self._subs.clear()
        return out

    def _write(self, path: str, value: Any) -> tuple[tuple[int | None, str], list[bytes]]:
        """A write (or, with None, a method call) on ``path``, confirmed when the device
        reports that value there."""
        if value is not None:
            self._expect[path] = value
        return (None, path), [encode(tree(path, value))]
