"""Sennheiser Sound Control (SSC v1): one JSON object per UDP datagram.

The message is a tree that mirrors the device's address space: a read sends the leaf
with ``null``, a write sends the value, and the device answers with the same shape filled
in (``shared/protocols/sennheiser.md`` section 1). This module is the codec and the
bookkeeping every SSC family shares; it knows nothing about receivers.

Shapes handled (sources next to each):

- error replies, ``osc/error`` holding a list of trees whose leaves are ``[code]`` or
  ``[code, {"desc": ...}]``: ``{"osc":{"error":[{"rx1":{"gain":[406,{"desc":"Not
  accepted"}]}}]}}`` (SSC Developer's guide for SpeechLine Digital Wireless, 11.4
  /osc/error), ``{"osc":{"error":[{"bays":{"active":[310]}}]}}`` (same guide, 14.11
  /osc/state/subscribe); a bare ``[310, {"desc": "subscription terminates"}]`` datagram
  (sennheiser.md section 4) is an error for no particular address.
- subscriptions: ``{"osc":{"state":{"subscribe":[{"#":{"min":0,"max":0,"lifetime":10,
  "count":1000},"sys":{"wsm_master_cnt":null}}]}}}`` (SSC Developer's guide for Digital
  6000, 8.123 /osc/state/subscribe); the device acknowledges with the same list and ends a
  subscription whose lifetime ran out with error 310 on its addresses.
- cancelling: ``{"#":{"cancel":true}}`` in place of the rate parameters (Bitfocus
  Companion module sennheiser-digital6000, src/subscriptions.js).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

Path = tuple[str, ...]
JSONTree = dict[str, Any]

#: SSC error codes with a meaning of their own here (the list is HTTP-like: 4xx the
#: request, 5xx the server; SSC Developer's guides, "SSC Error List")
SUBSCRIPTION_TERMINATES = 310
FAILED_DEPENDENCY = 424  # EW-DX: the addressed transmitter is not there


_INDEXED = re.compile(r"^(rx|tx)([1-9][0-9]?)$")


class SSCViolation(ValueError):
    """A datagram or value that does not fit SSC; becomes a ProtocolError."""


@dataclass(frozen=True, slots=True)
class SSCError:
    """One entry of an error reply: the address it concerns (empty: the message)."""

    path: Path
    code: int
    desc: str = ""


# ------------------------------------------------------------------------- codec


def decode(datagram: bytes) -> JSONTree | list[Any]:
    """One datagram -> its JSON object (or a bare error list). Trailing CR/LF are
    tolerated (third-party peers send them); anything else that is not one complete JSON
    object is a violation: a truncated datagram never parses."""
    text = datagram.strip()
    if not text:
        raise SSCViolation("empty datagram")
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise SSCViolation("not a JSON document (truncated or garbage)") from None
    if isinstance(obj, dict):
        return obj
    if isinstance(obj, list) and obj and _is_code(obj[0]):
        return obj
    raise SSCViolation(f"expected a JSON object, got {type(obj).__name__}")


def encode(obj: Mapping[str, Any]) -> bytes:
    return orjson.dumps(obj)


def tree(path: str | Path, value: Any) -> JSONTree:
    """``tree("rx1/name", None)`` -> ``{"rx1": {"name": None}}``."""
    parts = path.split("/") if isinstance(path, str) else path
    out: Any = value
    for p in reversed(parts):
        out = {p: out}
    result: JSONTree = out
    return result


def merge(*trees: Mapping[str, Any]) -> JSONTree:
    """Deep merge of address trees (later leaves win)."""
    out: JSONTree = {}
    for t in trees:
        for k, v in t.items():
            cur = out.get(k)
            if isinstance(v, Mapping) and isinstance(cur, dict):
                out[k] = merge(cur, v)
            elif isinstance(v, Mapping):
                out[k] = merge(v)
            else:
                out[k] = v
    return out


def leaves(obj: Mapping[str, Any], prefix: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every leaf (a value that is not an object) with its path, depth first."""
    for k, v in obj.items():
        path = (*prefix, k)
        if isinstance(v, dict):
            yield from leaves(v, path)
        else:
            yield path, v


def split_channel(path: Path) -> tuple[int | None, Path]:
    """``("m", "rx2", "af")`` -> ``(2, ("m", "rx", "af"))``; device paths -> None."""
    for i, part in enumerate(path):
        m = _INDEXED.match(part)
        if m:
            return int(m.group(2)), (*path[:i], m.group(1), *path[i + 1 :])
    return None, path


def _is_code(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _error_leaf(path: Path, v: Any) -> SSCError:
    if not isinstance(v, list) or not v or not _is_code(v[0]):
        raise SSCViolation(f"error entry at {'/'.join(path) or '/'} is not [code, ...]")
    desc = ""
    if len(v) > 1 and isinstance(v[1], dict) and isinstance(v[1].get("desc"), str):
        desc = v[1]["desc"]
    return SSCError(path, v[0], desc)


def errors(value: Any) -> list[SSCError]:
    """The entries of an ``osc/error`` value (or of a bare error datagram)."""
    if isinstance(value, list) and value and _is_code(value[0]):
        return [_error_leaf((), value)]
    if not isinstance(value, list):
        raise SSCViolation("osc/error is not a list")
    out: list[SSCError] = []
    for item in value:
        if isinstance(item, dict):
            out.extend(_error_leaf(p, v) for p, v in leaves(item))
        else:
            out.append(_error_leaf((), item))
    return out


def subscribe(trees: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> JSONTree:
    """``{"osc":{"state":{"subscribe":[{"#": params, ...tree}]}}}``: one entry whose
    trees share the rate and lifetime parameters."""
    entry: JSONTree = {"#": dict(params), **merge(*trees)}
    return {"osc": {"state": {"subscribe": [entry]}}}


# ------------------------------------------------------------- subscriptions


@dataclass(slots=True)
class Subscription:
    """One subscription the driver keeps alive: its address tree and parameters."""

    name: str
    tree: JSONTree
    lifetime_s: int
    min_ms: int = 0
    max_ms: int = 0
    count: int = 1000
    sent_at: float | None = None
    paths: frozenset[Path] = field(default=frozenset())

    def __post_init__(self) -> None:
        self.paths = frozenset(p for p, _ in leaves(self.tree))

    def params(self) -> dict[str, int]:
        return {"min": self.min_ms, "max": self.max_ms, "lifetime": self.lifetime_s,
                "count": self.count}

    def message(self) -> bytes:
        return encode(subscribe([self.tree], self.params()))

    def cancel_message(self) -> bytes:
        return encode(subscribe([self.tree], {"cancel": True}))

    def covers(self, path: Path) -> bool:
        """Whether ``path`` is one of this subscription's addresses or contains some."""
        n = len(path)
        return any(p[:n] == path or path[: len(p)] == p for p in self.paths)


class Subscriptions:
    """The subscriptions of one connection, renewed before their lifetime runs out.

    ``renew_fraction`` of the lifetime after a subscription was (re)sent it is due again:
    0.6 renews a 10 s subscription every 6 s (peers renew every 5 to 9 s), so one lost
    renewal still leaves time for the next before the device gives up on it.
    """

    def __init__(self, renew_fraction: float = 0.6) -> None:
        self.renew_fraction = renew_fraction
        self._subs: dict[str, Subscription] = {}

    def __len__(self) -> int:
        return len(self._subs)

    def __iter__(self) -> Iterator[Subscription]:
        return iter(list(self._subs.values()))

    def put(self, sub: Subscription) -> None:
        """Add or replace (by name); a new or changed subscription is due at once."""
        old = self._subs.get(sub.name)
        if old is not None and old.tree == sub.tree and old.params() == sub.params():
            return
        self._subs[sub.name] = sub

    def clear(self) -> None:
        self._subs.clear()

    def due(self, now: float, *, only_unsent: bool = False) -> list[bytes]:
        """The subscribe messages to send now (with ``only_unsent``, only those never sent
        or ended by the device); marks them sent at ``now``."""
        out: list[bytes] = []
        for sub in self._subs.values():
            late = sub.sent_at is not None and not only_unsent and (
                now - sub.sent_at >= sub.lifetime_s * self.renew_fraction)
            if sub.sent_at is None or late:
                sub.sent_at = now
                out.append(sub.message())
        return out

    def expire(self, path: Path) -> int:
        """The device ended the subscription(s) covering ``path`` (every one for an empty
        path): make them due at once. Returns how many."""
        n = 0
        for sub in self._subs.values():
            if not path or sub.covers(path):
                sub.sent_at = None
                n += 1
        return n

    def renew(self, name: str) -> None:
        """Send ``name`` again at the next :meth:`due` (fresh values wanted)."""
        sub = self._subs.get(name)
        if sub is not None:
            sub.sent_at = None

    def cancel_messages(self) -> list[bytes]:
        return [s.cancel_message() for s in self._subs.values()]
