"""A link's health, decided from what it hears: one ordered table of rules.

Only well-formed frames are life. A receiver that sends bytes which do not parse is
*garbled*, not online: its last values are not live. A receiver that accepted the
connection but never answered is *silent* (SLX-D without Controller Access, an EW-DX
with third-party access off). One that answered and then went quiet is *offline*.

Over TCP a quiet peer that had answered is a dead or half-open connection: the link
reconnects. Over UDP there is no connection: the link keeps its socket and keeps asking,
so a receiver that comes back is online again with its first answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple

Transport = Literal["tcp", "udp"]
Action = Literal["keep", "reconnect"]

#: the hint of a link that receives data it cannot parse
GARBLED_HINT = ("receiving data that does not parse ({n} malformed frames): is this the "
                "right driver and port for this receiver?")
UNREACHABLE_HINT = "nothing answers on port {port} of {host} (ICMP port unreachable)"


@dataclass(slots=True)
class Hearing:
    """What a link has heard on its current connection (times from the loop clock)."""

    since: float  # connected (or, over UDP, asking) since
    last_valid: float | None = None  # the last well-formed frame
    last_bytes: float | None = None  # the last bytes of any kind
    malformed_since_valid: int = 0
    unreachable: bool = False  # UDP: the host said nothing listens on the port

    def heard(self, now: float, frames: int, malformed: int) -> bool:
        """Bytes arrived holding ``frames`` well-formed and ``malformed`` bad frames;
        returns whether they were a sign of life."""
        self.last_bytes = now
        if frames:
            self.last_valid = now
            self.malformed_since_valid = 0
            self.unreachable = False
            return True
        self.malformed_since_valid += malformed
        return False


class Facts(NamedTuple):
    quiet: float  # seconds since the last well-formed frame (or since connecting)
    answered: bool  # a well-formed frame arrived on this connection
    babbling: bool  # bad frames arrived within the stale time, and nothing valid
    transport: Transport


class Rule(NamedTuple):
    state: str
    action: Action
    when: Callable[[Facts, float], bool]  # (facts, stale seconds)
    why: str


RULES: tuple[Rule, ...] = (
    Rule("online", "keep", lambda f, stale: f.answered and f.quiet <= stale,
         "a well-formed frame within the stale time"),
    Rule("garbled", "keep", lambda f, stale: f.babbling,
         "bytes arrive but none parse: keep the socket, a recovering receiver speaks on it"),
    Rule("offline", "reconnect", lambda f, stale: f.answered and f.transport == "tcp",
         "it answered, then went quiet: a dead or half-open connection"),
    Rule("offline", "keep", lambda f, stale: f.answered,
         "it answered, then went quiet: over UDP keep asking on the same socket"),
    Rule("silent", "keep", lambda f, stale: f.quiet > stale and f.transport == "tcp",
         "accepted the connection, never answered: the device's own hint says what to check"),
    Rule("offline", "keep", lambda f, stale: f.quiet > stale,
         "UDP, no answer yet: no connection to tell a dead device from a silent one, so "
         "offline, with the device's own hint; keep asking"),
    Rule("", "keep", lambda f, stale: True,
         "still waiting for the first answer: the state stays as it is"),
)


def verdict(h: Hearing, now: float, stale: float, transport: Transport) -> Rule:
    """The first rule that holds for what ``h`` heard by ``now``."""
    quiet = now - (h.last_valid if h.last_valid is not None else h.since)
    babbling = (h.malformed_since_valid > 0 and h.last_bytes is not None
                and now - h.last_bytes <= stale and quiet > stale)
    facts = Facts(quiet, h.last_valid is not None, babbling, transport)
    return next(r for r in RULES if r.when(facts, stale))
