import { channelIndex, expandMeters } from "./state.js";
// The /ws link to the daemon: snapshot then merge patches, resync on a gap, ping to
// notice a dead link, reconnect by itself with capped exponential backoff and jitter.

const PING_EVERY_MS = 5000;
const DEAD_AFTER_MS = 15000; // nothing at all received for this long: the link is dead
const RESYNC_WAIT_MS = 5000; // asked for a snapshot and none came: reconnect
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10000;

/** Delay before reconnect attempt `attempt` (0-based): 0.5, 1, 2, 4, 8, 10 s ... with jitter. */
export function backoff(attempt, rand = Math.random) {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(attempt, 10));
  return Math.round(base * (0.75 + 0.5 * rand()));
}

export function wsUrl(loc = window.location) {
  const proto = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${loc.host}/ws`;
}

/**
 * Connection states reported through onStatus({state, attempt, retryAt, since}):
 *   "connecting"  socket opening (first time or after a loss)
 *   "syncing"     open, waiting for a snapshot
 *   "live"        in step with the daemon
 *   "down"        closed; a reconnect is scheduled at retryAt (ms epoch)
 */
export class Connection {
  constructor(model, { url = wsUrl(), onChanges, onStatus, WebSocketImpl } = {}) {
    this.model = model;
    this.url = url;
    this.onChanges = onChanges ?? (() => {});
    this.onStatus = onStatus ?? (() => {});
    this.WS = WebSocketImpl ?? WebSocket;
    this.ws = null;
    this.attempt = 0;
    this.state = "connecting";
    this.downSince = null;
    this.retryAt = null;
    this.lastRx = 0;
    this.resyncAt = null;
    this.stats = { snapshots: 0, patches: 0, resyncs: 0, reconnects: 0, bytes: 0 };
    this._retryTimer = null;
    this._tick = setInterval(() => this._heartbeat(), 1000);
  }

  start() {
    this._open();
    window.addEventListener("online", () => this.retryNow());
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) this.retryNow();
    });
  }

  /** Reconnect now if the link is down (e.g. the page became visible again). */
  retryNow() {
    if (this.state === "down") {
      clearTimeout(this._retryTimer);
      this._open();
    }
  }

  _set(state) {
    this.state = state;
    this.onStatus({ state, attempt: this.attempt, retryAt: this.retryAt,
      since: this.downSince });
  }

  _open() {
    this.retryAt = null;
    this._set("connecting");
    let ws;
    try {
      ws = new this.WS(this.url);
    } catch {
      this._lost();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.lastRx = Date.now();
      this.resyncAt = Date.now(); // the daemon sends a snapshot first
      this._set("syncing");
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      this.lastRx = Date.now();
      this.stats.bytes += typeof ev.data === "string" ? ev.data.length : 0;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      this._message(msg);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this._lost();
    };
    ws.onerror = () => {}; // onclose follows
  }

  _message(msg) {
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "snapshot") {
      this.stats.snapshots++;
      if (Array.isArray(msg.meter_fields)) this.meterFields = msg.meter_fields;
      this.idx = null; // channel idx -> key, rebuilt from the new state on demand
      this.devIdx = null; // device idx -> id, the same way
      const changes = this.model.snapshot(msg.seq, msg.state);
      this.attempt = 0;
      this.downSince = null;
      this.resyncAt = null;
      this._set("live");
      this.onChanges(changes);
    } else if (msg.type === "patch" || msg.type === "meters") {
      if (this.resyncAt !== null) return; // waiting for a snapshot: patches are useless
      if (msg.type === "meters" && !Array.isArray(this.meterFields)) {
        this.resync(); // cannot decode without the snapshot's meter_fields
        return;
      }
      // "meters" is the compact form of a meter-only merge patch (micboardd/wire.py)
      let patch = msg.patch;
      if (msg.type === "meters") {
        // channels are named by their idx; a channel added since we last looked is
        // found by rebuilding the index once
        const keyOf = (idx) => {
          if (!this.idx || !this.idx.has(idx)) this.idx = channelIndex(this.model.state);
          return this.idx.get(idx);
        };
        const devKeyOf = (idx) => {
          if (!this.devIdx || !this.devIdx.has(idx)) {
            this.devIdx = channelIndex(this.model.state, "devices");
          }
          return this.devIdx.get(idx);
        };
        patch = expandMeters(msg, this.meterFields, keyOf, devKeyOf);
        if (patch === null) {
          this.resync();
          return;
        }
      }
      const changes = this.model.patch(msg.seq, msg.base, patch);
      if (changes === null) {
        this.resync();
        return;
      }
      this.stats.patches++;
      this.onChanges(changes);
    }
    // pong and any future message types: nothing to do (lastRx already counted)
  }

  resync() {
    this.stats.resyncs++;
    this.model.desync();
    this.resyncAt = Date.now();
    this._send({ type: "resync" });
    if (this.state === "live") this._set("syncing");
  }

  _send(obj) {
    if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify(obj));
  }

  _lost() {
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close();
      } catch {
        /* already closed */
      }
    }
    this.model.desync();
    if (this.downSince === null) this.downSince = Date.now();
    const delay = backoff(this.attempt);
    this.attempt++;
    this.stats.reconnects++;
    this.retryAt = Date.now() + delay;
    clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(() => this._open(), delay);
    this._set("down");
  }

  _heartbeat() {
    const now = Date.now();
    if (!this.ws || this.ws.readyState !== 1) return;
    if (now - this.lastRx > DEAD_AFTER_MS) {
      this._lost();
      return;
    }
    if (this.resyncAt !== null && now - this.resyncAt > RESYNC_WAIT_MS) {
      this._lost();
      return;
    }
    if (now - this.lastRx > PING_EVERY_MS - 500 && (!this._pinged || now - this._pinged > PING_EVERY_MS)) {
      this._pinged = now;
      this._send({ type: "ping" });
    }
  }
}
