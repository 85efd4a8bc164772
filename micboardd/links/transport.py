"""How a link reaches its device: a TCP connection, a UDP socket of its own, or one UDP
socket shared by every device of a protocol that requires a fixed local port (EW G3/G4:
the receivers send from and to port 53212, so the client must listen there).

Each gives the link an :class:`Outlet` to send through; what arrives is handed to the
link's :class:`LinkProtocol`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from typing import Any, Protocol

import structlog

log = structlog.get_logger("micboardd.link")

CONNECT_TIMEOUT = 3.0
Addr = tuple[str, int]


class LinkProtocol(asyncio.Protocol, asyncio.DatagramProtocol):
    """Bytes (or datagrams) in, to ``on_data``; ``lost`` completes when a TCP connection
    ends. Over UDP nothing ends a session but the link itself."""

    def __init__(self, on_data: Callable[[bytes], None]) -> None:
        self.on_data = on_data
        # the hot path: the transport calls the link directly, one call less per read
        self.data_received = on_data  # type: ignore[method-assign,assignment]
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.unreachable = False

    def data_received(self, data: bytes) -> None:
        self.on_data(data)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.on_data(data)

    def error_received(self, exc: Exception) -> None:
        # UDP: an ICMP "port unreachable" from the host. Noted for the hint; the link
        # keeps asking (the receiver may be booting).
        self.unreachable = True

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


class Outlet(Protocol):
    """Where a link's outgoing frames go."""

    datagrams: bool  # one frame per datagram (UDP) rather than a byte stream

    def send(self, data: bytes) -> None: ...
    def close(self) -> None: ...
    def is_closing(self) -> bool: ...


class TcpOutlet:
    datagrams = False

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def send(self, data: bytes) -> None:
        self.transport.write(data)

    def close(self) -> None:
        self.transport.close()  # flushes the write buffer first

    def abort(self) -> None:
        self.transport.abort()

    def is_closing(self) -> bool:
        return self.transport.is_closing()


class UdpOutlet:
    datagrams = True

    def __init__(self, transport: asyncio.BaseTransport) -> None:
        # (neither asyncio's nor uvloop's UDP transport is a DatagramTransport subclass)
        self.transport: Any = transport

    def send(self, data: bytes) -> None:
        self.transport.sendto(data)

    def close(self) -> None:
        self.transport.close()

    def is_closing(self) -> bool:
        return bool(self.transport.is_closing())


async def open_tcp(host: str, port: int, proto: LinkProtocol) -> TcpOutlet:
    loop = asyncio.get_running_loop()
    # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancellation that
    # comes as the connection completes (CPython gh-86296), and a stopping link went on
    async with asyncio.timeout(CONNECT_TIMEOUT):
        transport, _ = await loop.create_connection(lambda: proto, host, port)
    return TcpOutlet(transport)


async def open_udp(host: str, port: int, proto: LinkProtocol) -> UdpOutlet:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: proto,
                                                       remote_addr=(host, port))
    return UdpOutlet(transport)


class PortInUse(OSError):
    """The shared local port is held by another program."""


class SharedPort(asyncio.DatagramProtocol):
    """One UDP socket on a fixed local port for several devices: datagrams go to the
    link registered for their source address; datagrams from anyone else are counted
    and dropped."""

    def __init__(self, local: Addr) -> None:
        self.local = local
        self.routes: dict[Addr, LinkProtocol] = {}
        self.transport: Any = None
        self.strays = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        proto = self.routes.get((addr[0], addr[1]))
        if proto is None:
            self.strays += 1
            return
        proto.on_data(data)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP from one device must not end the others' sessions

    @property
    def port(self) -> int:
        return int(self.transport.get_extra_info("sockname")[1])


class SharedOutlet:
    datagrams = True

    def __init__(self, ports: SharedPorts, shared: SharedPort, peer: Addr) -> None:
        self.ports = ports
        self.shared = shared
        self.peer = peer
        self.closed = False

    def send(self, data: bytes) -> None:
        if not self.closed:
            self.shared.transport.sendto(data, self.peer)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.ports.release(self.shared, self.peer)

    def is_closing(self) -> bool:
        return self.closed


class SharedPorts:
    """The shared local ports of one daemon, opened while any device uses them."""

    def __init__(self, bind_host: str = "0.0.0.0") -> None:
        self.bind_host = bind_host
        self.open: dict[int, SharedPort] = {}
        self._opening = asyncio.Lock()  # links start together: one socket per port

    async def attach(self, local_port: int, host: str, port: int,
                     proto: LinkProtocol) -> SharedOutlet:
        """Route the device at ``host:port`` to ``proto`` through the socket on
        ``local_port`` (0: any free port, for simulated devices); PortInUse when
        another program holds it."""
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, family=socket.AF_INET,
                                       type=socket.SOCK_DGRAM)
        peer: Addr = (str(infos[0][4][0]), port)
        async with self._opening:
            shared = self.open.get(local_port)
            if shared is None:
                shared = await self._bind(local_port)
        if peer in shared.routes:
            raise OSError(f"two devices at {peer[0]}:{peer[1]}")
        shared.routes[peer] = proto
        return SharedOutlet(self, shared, peer)

    async def _bind(self, local_port: int) -> SharedPort:
        loop = asyncio.get_running_loop()
        shared = SharedPort((self.bind_host, local_port))
        try:
            await loop.create_datagram_endpoint(lambda: shared, local_addr=shared.local)
        except OSError as exc:
            raise PortInUse(exc.errno, f"UDP port {local_port} is in use by another "
                                       f"program ({exc.strerror})") from None
        self.open[local_port] = shared
        log.info("shared_port_open", port=shared.port)
        return shared

    def release(self, shared: SharedPort, peer: Addr) -> None:
        shared.routes.pop(peer, None)
        if not shared.routes:
            for k, v in list(self.open.items()):
                if v is shared:
                    del self.open[k]
            with contextlib.suppress(Exception):
                shared.transport.close()
