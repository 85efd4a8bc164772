"""SSC v1 simulator: JSON datagrams on a real UDP socket, as the EW-DX and Digital 6000
receivers answer them (``shared/protocols/sennheiser.md`` sections 1 and 4).

- A read (``null`` leaf) is answered with the value, a write with the value stored; both
  in one datagram shaped like the request. What cannot be answered goes into
  ``osc/error`` in the same datagram: 404 unknown address, 406 not acceptable (wrong
  value, read-only), 424 for a transmitter value with no transmitter; a datagram that is
  not a JSON object gets 400 for the whole message.
- ``osc/state/subscribe`` entries are acknowledged with the same list (addresses null),
  then the current values follow in a datagram of their own. An entry with ``min`` > 0
  is sent every ``min`` ms whether it changed or not (meters); otherwise a change of any
  of its addresses is sent as it happens. After ``lifetime`` seconds without a renewal
  (the same addresses subscribed again) the subscription ends with 310 on its
  addresses. ``{"#":{"cancel":true}}`` ends it at once.

Families fill in :meth:`SSCSimulator.read` and :meth:`SSCSimulator.write` for their
address space; the life, faults and SIMCTL verbs come from :mod:`.simbase`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson

from micboardd.drivers._sennheiser.simbase import Addr, SennheiserSimulator
from micboardd.drivers._sennheiser.ssc import (
    JSONTree,
    Path,
    encode,
    leaves,
    merge,
    tree,
)

DESC = {
    310: "subscription terminates", 400: "message not understood",
    404: "address not found", 406: "not acceptable", 424: "failed dependency",
    454: "parameter address not found",
}


@dataclass(frozen=True, slots=True)
class Err:
    code: int

    def leaf(self) -> list[Any]:
        return [self.code, {"desc": DESC.get(self.code, "error")}]


@dataclass(slots=True, eq=False)
class SimSub:
    peer: Addr
    paths: frozenset[Path]
    lifetime_s: float
    min_ms: int
    expires_at: float
    next_at: float = 0.0
    last: dict[Path, Any] = field(default_factory=dict)


def message(values: dict[Path, Any]) -> JSONTree:
    """Values and errors of several addresses as one reply."""
    ok = [tree(p, v) for p, v in values.items() if not isinstance(v, Err)]
    errs = [tree(p, v.leaf()) for p, v in values.items() if isinstance(v, Err)]
    out = merge(*ok)
    if errs:
        out["osc"] = {"error": errs}
    return out


class SSCSimulator(SennheiserSimulator):
    default_port = 45
    #: the lifetime of a subscription that asks for none (SSC guides: 10 s)
    DEFAULT_LIFETIME_S: ClassVar[int] = 10

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, **kw: Any) -> None:
        super().__init__(host, port, **kw)
        self.subs: list[SimSub] = []
        self.identifying: set[int | None] = set()  # channels (None: device) flashing

    # -- family hooks -----------------------------------------------------------------

    def read(self, path: Path) -> Any:
        """The value at ``path`` or an :class:`Err`."""
        raise NotImplementedError

    def write(self, path: Path, value: Any) -> Any:
        """Store ``value`` at ``path``; the value now stored, or an :class:`Err`."""
        raise NotImplementedError

    # -- requests ---------------------------------------------------------------------

    def handle(self, data: bytes, addr: Addr) -> None:
        try:
            obj = orjson.loads(data.strip())
        except orjson.JSONDecodeError:
            obj = None
        if not isinstance(obj, dict):
            self.send(addr, encode({"osc": {"error": [Err(400).leaf()]}}))
            return
        answers: dict[Path, Any] = {}
        osc_reply: JSONTree = {}
        for key, value in obj.items():
            if key == "osc":
                osc_reply = self._osc(value, addr)
                continue
            for path, v in leaves({key: value}):
                answers[path] = self.read(path) if v is None else self.write(path, v)
        reply = message(answers)
        if osc_reply:
            reply = merge(reply, {"osc": osc_reply})
        if reply:
            self.send(addr, encode(reply))

    def _osc(self, value: Any, addr: Addr) -> JSONTree:
        if not isinstance(value, dict):
            return {"error": [Err(406).leaf()]}
        out: JSONTree = {k: v for k, v in value.items() if k in ("xid", "ping")}
        if "version" in value:
            out["version"] = "1.0"
        state = value.get("state")
        if isinstance(state, dict) and isinstance(state.get("subscribe"), list):
            for entry in state["subscribe"]:
                if isinstance(entry, dict):
                    self._subscribe(entry, addr)
        return out

    def _subscribe(self, entry: JSONTree, addr: Addr) -> None:
        params = entry.get("#") if isinstance(entry.get("#"), dict) else {}
        assert isinstance(params, dict)
        body = {k: v for k, v in entry.items() if k != "#"}
        paths = frozenset(p for p, _ in leaves(body))
        self.send(addr, encode({"osc": {"state": {"subscribe": [entry]}}}))
        mine = [s for s in self.subs if s.peer == addr and s.paths & paths]
        for s in mine:
            self.subs.remove(s)
        if params.get("cancel"):
            return
        current = {p: self.read(p) for p in paths}
        unknown = {p: Err(454) for p, v in current.items() if v == Err(404)}
        wanted = paths - unknown.keys()
        now = self.now()
        lifetime = params.get("lifetime", self.DEFAULT_LIFETIME_S)
        min_ms = params.get("min", 0)
        if wanted and isinstance(lifetime, int | float) and isinstance(min_ms, int):
            sub = SimSub(addr, frozenset(wanted), float(lifetime), min_ms, now + lifetime,
                         now + min_ms / 1000)
            sub.last = {p: current[p] for p in wanted}
            self.subs.append(sub)
        initial = {p: current[p] for p in wanted} | unknown
        if initial:
            self.send(addr, encode(message(initial)))

    # -- the background step ----------------------------------------------------------

    def step(self, now: float) -> None:
        for sub in list(self.subs):
            if now >= sub.expires_at:
                self.subs.remove(sub)
                self.send(sub.peer, encode(message({p: Err(310) for p in sub.paths})))
            elif sub.min_ms > 0:
                if now >= sub.next_at:
                    sub.next_at = max(sub.next_at + sub.min_ms / 1000, now)
                    self.send(sub.peer, encode(message({p: self.read(p) for p in sub.paths})))
            else:
                changed = {p: v for p in sub.paths if (v := self.read(p)) != sub.last.get(p)}
                if changed:
                    sub.last.update(changed)
                    self.send(sub.peer, encode(message(changed)))

    def forget_clients(self) -> None:
        self.subs.clear()

    def expire_all(self) -> None:
        for sub in self.subs:
            sub.expires_at = 0.0  # the next step sends 310 and drops it
