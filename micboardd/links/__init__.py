"""Device links: one per receiver, owning its socket (connect, handshake, keepalive,
stale detection, reconnect with backoff); bytes go to the device's driver and the events
to the store. Links never touch browsers or the database."""

from micboardd.links.link import (
    CommandRefused,
    CommandTimeout,
    Link,
    LinkDown,
    LinkError,
)
from micboardd.links.ticker import LinkTicker
from micboardd.links.transport import SharedPorts

__all__ = ["CommandRefused", "CommandTimeout", "Link", "LinkDown", "LinkError", "LinkTicker",
           "SharedPorts"]
