"""Prometheus text exposition of what the daemon counts (computed at scrape time, so the
hot path counts nothing extra)."""

from __future__ import annotations

from micboardd.server.context import DaemonView


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_metrics(d: DaemonView) -> str:
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
    for name, kind, help_, value in d.part_metrics():
        metric(name, kind, help_, [({}, value)])
    return "\n".join(out) + "\n"
