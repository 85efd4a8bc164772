"""Prometheus text exposition of what the daemon counts (computed at scrape time, so the
hot path counts nothing extra)."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from micboardd.server.auth import GUARD
from micboardd.server.context import DaemonView, Metric
from micboardd.server.limits import LIMITS
from micboardd.server.origin import GATE


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def server_metrics(app: web.Application) -> list[Metric]:
    """What the doors of the server counted: connections, refusals, token guesses."""
    lim, gate, guard = app[LIMITS], app[GATE], app[GUARD]
    th = guard.throttle.stats
    return [
        ("http_connections", "gauge", "Open HTTP connections (websockets included).",
         lim.open),
        ("http_connections_refused_total", "counter",
         "Connections refused at once: an address held its maximum, or the server did.",
         lim.stats.refused_peer + lim.stats.refused_total),
        ("http_connections_refused_peer_total", "counter",
         "Connections refused because their address held http.max_connections_per_peer.",
         lim.stats.refused_peer),
        ("http_header_timeouts_total", "counter",
         "Connections closed for not sending a request within http.header_timeout_s.",
         lim.stats.header_timeouts),
        ("http_bad_host_total", "counter",
         "Requests refused for their Host header (DNS rebinding, malformed).",
         gate.stats.bad_host),
        ("http_bad_origin_total", "counter",
         "Writes and websockets refused for their Origin (another site's page).",
         gate.stats.bad_origin),
        ("http_bad_content_type_total", "counter", "Writes refused for not being JSON.",
         gate.stats.bad_content_type),
        ("auth_token_checks_total", "counter", "Unknown tokens checked against the hashes.",
         th.attempts),
        ("auth_failures_total", "counter", "Tokens that were wrong.", guard.failed_total),
        ("auth_throttled_total", "counter",
         "Token attempts refused unchecked while their address was blocked.", th.refused),
        ("auth_lockouts_total", "counter", "Addresses locked out for guessing tokens.",
         th.lockouts),
    ]


def render_metrics(d: DaemonView, extra: Iterable[Metric] = ()) -> str:
    out: list[str] = []

    def metric(name: str, kind: str, help_: str, samples: list[tuple[dict[str, str], float]]
               ) -> None:
        out.append(f"# HELP micboardd_{name} {help_}")
        out.append(f"# TYPE micboardd_{name} {kind}")
        for labels, value in samples:
            lab = ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items())
            out.append(f"micboardd_{name}{{{lab}}} {value}" if lab else f"micboardd_{name} {value}")

    links = list(d.links.values())
    metric("frames_parsed_total", "counter", "Frames parsed from receivers.",
           [({"device": lk.id}, lk.frames) for lk in links])
    metric("frames_malformed_total", "counter", "Malformed frames from receivers.",
           [({"device": lk.id}, lk.malformed) for lk in links])
    metric("reconnects_total", "counter", "Reconnections after a link was lost.",
           [({"device": lk.id}, lk.reconnects) for lk in links])
    metric("link_up", "gauge", "1 when the receiver link is online.",
           [({"device": lk.id, "state": lk.state}, 1 if lk.state == "online" else 0)
            for lk in links])
    hub = d.hub
    metric("websocket_clients", "gauge", "Connected websocket clients.",
           [({}, len(hub.clients))])
    metric("websocket_queue_drops_total", "counter",
           "Times a slow websocket client's queue was dropped and resynchronised.",
           [({}, hub.stats.queue_drops)])
    metric("websocket_coalesced_total", "counter",
           "Meter patches merged into an unsent one for a slow client.",
           [({}, hub.stats.coalesced)])
    metric("websocket_bytes_sent_total", "counter", "Bytes sent to websocket clients.",
           [({}, hub.stats.bytes_sent)])
    st = d.store.stats
    metric("patches_total", "counter", "State patches emitted.", [({}, st.patches)])
    metric("state_seq", "gauge", "Last applied change.", [({}, d.store.seq)])
    metric("config_reloads_total", "counter", "Configuration reloads applied.",
           [({}, d.reloads)])
    metric("config_reload_failures_total", "counter", "Configuration reloads refused.",
           [({}, d.reload_failures)])
    for name, kind, help_, value in [*extra, *d.part_metrics()]:
        metric(name, kind, help_, [({}, value)])
    return "\n".join(out) + "\n"
