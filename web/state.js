// The client's copy of the daemon state, kept in step with /ws snapshots and
// RFC 7396 merge patches. Pure logic: no DOM, no sockets (unit-testable in any JS engine).

/** Apply an RFC 7396 merge patch to `target` in place; returns the (possibly new) target. */
export function mergePatch(target, patch) {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  if (target === null || typeof target !== "object" || Array.isArray(target)) target = {};
  for (const key of Object.keys(patch)) {
    const value = patch[key];
    if (value === null) {
      delete target[key];
    } else if (typeof value === "object" && !Array.isArray(value)) {
      target[key] = mergePatch(target[key], value);
    } else {
      target[key] = value; // scalars and arrays are replaced whole
    }
  }
  return target;
}

/** What one snapshot or patch touched, so the view redraws only that. */
export class Changes {
  constructor() {
    this.all = false; // a snapshot: everything may have changed
    this.layout = false; // slots, groups or the set of channels changed
    this.channels = new Set();
    this.devices = new Set();
    this.alerts = false; // an alert episode opened, changed or went
  }

  add(other) {
    this.all ||= other.all;
    this.layout ||= other.layout;
    this.alerts ||= other.alerts;
    for (const k of other.channels) this.channels.add(k);
    for (const k of other.devices) this.devices.add(k);
    return this;
  }

  get empty() {
    return !this.all && !this.layout && !this.alerts && this.channels.size === 0
      && this.devices.size === 0;
  }
}

function emptyState() {
  return { devices: {}, channels: {}, slots: [], groups: [], alerts: {}, photos: {} };
}

// keyed sections of the state: always objects, whatever the daemon sent
const KEYED = ["devices", "channels", "alerts", "photos"];

const ALERT_STATE_RANK = { open: 0, acknowledged: 1, resolved: 2 };
const SEVERITY_RANK = { critical: 0, warning: 1 };

/**
 * The state plus its seq. `snapshot()` and `patch()` return a Changes, or null when a
 * patch does not follow on from our seq (the caller must ask for a resync).
 */
export class Model {
  constructor(clock = () => Date.now() / 1000) {
    this.clock = clock;
    this.state = emptyState();
    this.seq = null;
    this.synced = false;
    // Estimate of (daemon clock - our clock) in seconds, from the newest timestamps we
    // have been sent: a kiosk whose clock is off must not see everything as stale.
    this.offset = null;
  }

  snapshot(seq, state) {
    const s = emptyState();
    if (state && typeof state === "object") Object.assign(s, state);
    for (const k of KEYED) {
      if (!s[k] || typeof s[k] !== "object" || Array.isArray(s[k])) s[k] = {};
    }
    if (!Array.isArray(s.slots)) s.slots = [];
    if (!Array.isArray(s.groups)) s.groups = [];
    this.state = s;
    this.seq = seq;
    this.synced = true;
    this.offset = null;
    this._observeTimes(s.devices, s.channels);
    const c = new Changes();
    c.all = true;
    c.layout = true;
    c.alerts = true;
    return c;
  }

  /** Lose sync (connection closed, or a gap): patches are refused until a snapshot. */
  desync() {
    this.synced = false;
  }

  patch(seq, base, patch) {
    if (!this.synced || base !== this.seq) return null;
    const c = new Changes();
    const st = this.state;
    if (patch && typeof patch === "object") {
      // a photo added or removed: redraw the tiles (rare; which tile shows it depends
      // on names, web/photos.js)
      if ("slots" in patch || "groups" in patch || "photos" in patch) c.layout = true;
      if ("alerts" in patch) c.alerts = true;
      const chans = patch.channels;
      if (chans && typeof chans === "object") {
        for (const key of Object.keys(chans)) {
          if (chans[key] === null || !(key in st.channels)) c.layout = true; // removed/added
          c.channels.add(key);
        }
      }
      const devs = patch.devices;
      if (devs && typeof devs === "object") {
        for (const id of Object.keys(devs)) {
          const d = devs[id];
          if (d === null || !(id in st.devices) || (d && "channels" in d)) c.layout = true;
          c.devices.add(id);
        }
      }
      mergePatch(st, patch);
      for (const k of KEYED) {
        if (!st[k] || typeof st[k] !== "object" || Array.isArray(st[k])) st[k] = {};
      }
      if (!Array.isArray(st.slots)) st.slots = [];
      if (!Array.isArray(st.groups)) st.groups = [];
      this._observeTimes(devs, chans);
    }
    this.seq = seq;
    return c;
  }

  _observeTimes(devices, channels) {
    const now = this.clock();
    let best = this.offset;
    const see = (t) => {
      if (typeof t === "number" && Number.isFinite(t)) {
        const o = t - now;
        if (best === null || o > best) best = o;
      }
    };
    if (devices && typeof devices === "object") {
      for (const id of Object.keys(devices)) see(devices[id]?.last_seen);
    }
    if (channels && typeof channels === "object") {
      for (const k of Object.keys(channels)) see(channels[k]?.updated);
    }
    this.offset = best;
  }

  /** The daemon's idea of "now", in its epoch seconds. */
  serverNow() {
    return this.clock() + (this.offset ?? 0);
  }

  /**
   * The slots to show: the configured list, or (no slots configured at all) one
   * implicit slot per known channel so a fresh install still shows something.
   */
  slots() {
    const st = this.state;
    if (st.slots.length) return st.slots;
    return Object.keys(st.channels)
      .sort(compareChannelKeys)
      .map((key, i) => ({ slot: i + 1, channel: key, label_id: null, label_name: null,
        group: null, active: true, implicit: true }));
  }

  /**
   * The alert episodes to list: open ones first (critical before warning), then the
   * acknowledged, then the resolved; newest first within each.
   */
  alertList() {
    const out = [];
    for (const [id, a] of Object.entries(this.state.alerts)) {
      if (a && typeof a === "object") out.push(a.id === id ? a : { ...a, id });
    }
    const rank = (a) => ALERT_STATE_RANK[a.state] ?? 0; // an unknown state: as open
    const sev = (a) => SEVERITY_RANK[a.severity] ?? 1;
    const when = (a) => (a.state === "resolved" && typeof a.resolved === "number" ? a.resolved
      : typeof a.opened === "number" ? a.opened : 0);
    return out.sort((a, b) => rank(a) - rank(b) || sev(a) - sev(b) || when(b) - when(a)
      || (a.id < b.id ? -1 : 1));
  }

  /**
   * What the tiles show of the alert episodes: {channels: Map(key -> episode), devices:
   * Map(id -> episode)}, the worst open or acknowledged episode of each (its severity in
   * the daemon's order, state.statuses.severities; open before acknowledged), as
   * {rule, severity, acked}. An episode of a receiver (rx_offline, no channel) concerns
   * all of that receiver's channels.
   */
  alertMarks() {
    const channels = new Map();
    const devices = new Map();
    const order = this.state.statuses?.severities ?? ["ok", "info", "warning", "critical"];
    for (const a of Object.values(this.state.alerts)) {
      if (!a || typeof a !== "object") continue;
      let acked;
      if (a.state === "acknowledged") acked = true;
      else if (a.state === "open" || a.state === undefined) acked = false;
      else continue; // resolved: nothing to show
      // its condition went away (it resolves after clear_after_s): the tile is live again
      if (typeof a.clearing_since === "number") continue;
      const mark = { rule: String(a.rule ?? ""), severity: a.severity === "critical"
        ? "critical" : "warning", acked };
      if (typeof a.channel === "string" && a.channel) {
        channels.set(a.channel, worseMark(channels.get(a.channel), mark, order));
      } else if (typeof a.device === "string" && a.device) {
        devices.set(a.device, worseMark(devices.get(a.device), mark, order));
      }
    }
    return { channels, devices };
  }

  /** Groups from the state, plus any group a slot names that the list lacks. */
  groups() {
    const out = [];
    const seen = new Set();
    for (const g of this.state.groups) {
      if (g && typeof g.name === "string" && !seen.has(g.name)) {
        seen.add(g.name);
        out.push({ name: g.name, key: g.key ?? null });
      }
    }
    for (const s of this.state.slots) {
      if (s && typeof s.group === "string" && s.group && !seen.has(s.group)) {
        seen.add(s.group);
        out.push({ name: s.group, key: null });
      }
    }
    return out;
  }
}

/**
 * The worse of two alert marks ({rule, severity, acked}; either may be null/undefined):
 * the higher severity in `order` (least to most urgent), then the open one.
 */
export function worseMark(a, b, order = ["ok", "info", "warning", "critical"]) {
  const rank = (m) => (m ? order.indexOf(m.severity) * 2 + (m.acked ? 0 : 1) : -99);
  return rank(a) >= rank(b) ? a ?? null : b ?? null;
}

/** "dev/2" before "dev/10"; devices alphabetically. */
export function compareChannelKeys(a, b) {
  const [da, na] = splitKey(a);
  const [db, nb] = splitKey(b);
  if (da !== db) return da < db ? -1 : 1;
  return na - nb;
}

export function splitKey(key) {
  const i = key.lastIndexOf("/");
  if (i < 0) return [key, 0];
  return [key.slice(0, i), Number(key.slice(i + 1)) || 0];
}

/** The device id of a channel key ("rx-1/3" -> "rx-1"). */
export function deviceOf(key) {
  return splitKey(key)[0];
}

/**
 * Shortcut keys for groups: a group's own key when it has one, else the first free
 * digit 1..9. Returns [{name, key}] in group order.
 */
export function groupKeys(groups) {
  const taken = new Set(groups.map((g) => g.key).filter(Boolean));
  const free = "123456789".split("").filter((d) => !taken.has(d));
  return groups.map((g) => ({ name: g.name, key: g.key || free.shift() || null }));
}

/**
 * The merge patch a compact "meters" message stands for (format 2, micboardd/server/
 * wire.py). `m` is a flat array [d, mask, values..., d, mask, values...]: the channel
 * idx are in increasing order, delta-coded (the first d is an idx, each next one is
 * added to the one before); bit i of mask means meterFields[i] ("rf.level_pct", ...)
 * changed. `seen` is [t, d, d...]: the devices (idx, delta-coded the same way) whose
 * last_seen is now t. `keyOf(idx)` / `devKeyOf(idx)` give the channel key / device id;
 * returns null if an idx is unknown (resync).
 */
export function expandMeters(msg, meterFields, keyOf, devKeyOf) {
  const patch = Object.assign({}, msg.patch || {});
  const chans = Object.assign({}, patch.channels || {});
  const m = msg.m || [];
  let pos = 0;
  let idx = 0;
  while (pos < m.length) {
    idx += m[pos];
    const key = keyOf(idx);
    if (key === undefined || key === null) return null;
    const mask = m[pos + 1];
    pos += 2;
    const node = Object.assign({}, chans[key] || {});
    for (let i = 0; i < meterFields.length; i++) {
      if (mask & (1 << i)) {
        const [section, name] = meterFields[i].split(".");
        node[section] = Object.assign({}, node[section] || {});
        node[section][name] = m[pos++];
      }
    }
    chans[key] = node;
  }
  if (Object.keys(chans).length) patch.channels = chans;
  const seen = msg.seen || [];
  if (seen.length > 1) {
    const devs = Object.assign({}, patch.devices || {});
    let didx = 0;
    for (let i = 1; i < seen.length; i++) {
      didx += seen[i];
      const id = devKeyOf ? devKeyOf(didx) : undefined;
      if (id === undefined || id === null) return null;
      devs[id] = Object.assign({}, devs[id] || {}, { last_seen: seen[0] });
    }
    patch.devices = devs;
  }
  return patch;
}

/** idx -> channel key for the channels in `state` (`section` "devices": device id). */
export function channelIndex(state, section = "channels") {
  const map = new Map();
  for (const [key, ch] of Object.entries((state && state[section]) || {})) {
    if (ch && typeof ch.idx === "number") map.set(ch.idx, key);
  }
  return map;
}
