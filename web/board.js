// The grid of tiles: which slots are shown (group filter), in slot order, and keeping
// tiles in step with the model. Tiles are reused across layout changes, keyed by slot.

import { deviceOf, worseMark } from "./state.js";
import { ChartData } from "./charts.js";
import { UNKNOWN, tileView } from "./format.js";
import { photoFor } from "./photos.js";
import { PlaceholderTile, Tile } from "./tiles.js";

export const STALE_AFTER_S = 5;

export class Board {
  constructor(container, model, { onEdit } = {}) {
    this.container = container;
    this.model = model;
    this.onEdit = onEdit;
    this.tiles = new Map(); // slot number -> Tile
    this.shown = []; // [{slot, tile}] in display order
    this.byChannel = new Map(); // channel key -> [entry]
    this.byDevice = new Map(); // device id -> [entry]
    this.group = null;
    this.connected = false;
    this.marks = { channels: new Map(), devices: new Map() }; // alert marks (Model.alertMarks)
    this.stats = { frames: 0, tileUpdates: 0, domWrites: 0, layouts: 0, chartDraws: 0 };
    this.charts = new ChartData(); // every channel's last 60 s, shown or not
  }

  ctx() {
    return { now: this.model.serverNow(), connected: this.connected, staleAfter: STALE_AFTER_S,
      vocab: this.model.state.statuses };
  }

  /** Rebuild the list of shown slots (reusing tiles) and redraw them all. */
  layout() {
    this.stats.layouts++;
    const slots = this.model.slots()
      .filter((s) => s && Number.isFinite(Number(s.slot)))
      .slice()
      .sort((a, b) => Number(a.slot) - Number(b.slot));
    const visible = this.group === null ? slots : slots.filter((s) => s.group === this.group);
    const keep = new Set(visible.map((s) => Number(s.slot)));
    for (const [n, t] of this.tiles) {
      if (!keep.has(n)) {
        t.el.remove();
        this.tiles.delete(n);
      }
    }
    this.shown = [];
    this.byChannel.clear();
    this.byDevice.clear();
    let prev = null;
    const chartsOff = new Set(this.model.state.groups.filter((g) => g && g.charts === false)
      .map((g) => g.name));
    for (const s of visible) {
      const n = Number(s.slot);
      const kind = s.kind === "blank" || s.kind === "manual" ? s.kind : "rx";
      let t = this.tiles.get(n);
      if (t && t.kind !== kind) {
        t.el.remove();
        t = undefined;
      }
      if (!t) {
        t = kind === "rx" ? new Tile(n, this.onEdit) : new PlaceholderTile(n, kind, this.onEdit);
        this.tiles.set(n, t);
      }
      t.setCharts(kind === "rx" && !chartsOff.has(s.group));
      // keep DOM order = slot order, moving only what is out of place
      const want = prev ? prev.nextSibling : this.container.firstChild;
      if (want !== t.el) this.container.insertBefore(t.el, want);
      prev = t.el;
      const entry = { slot: s, tile: t };
      this.shown.push(entry);
      if (s.channel) {
        push(this.byChannel, s.channel, entry);
        push(this.byDevice, deviceOf(s.channel), entry);
      }
    }
    this.container.dataset.count = String(this.shown.length);
    this.updateAll();
  }

  updateEntry(entry, ctx, nowMs) {
    const st = this.model.state;
    if (entry.tile.kind !== "rx") {
      const s = entry.slot;
      const name = s.label_name || (s.kind === "manual" ? UNKNOWN : "");
      this.stats.domWrites += entry.tile.update({ slotNo: String(s.slot),
        labelId: s.label_id || "", name, note: s.note || "",
        photo: photoFor(st.photos, s.slot, s.label_name) });
      return;
    }
    const key = entry.slot.channel;
    const ch = key ? st.channels[key] : undefined;
    const dev = key ? st.devices[deviceOf(key)] : undefined;
    this.stats.tileUpdates++;
    const alert = key ? worseMark(this.marks.channels.get(key),
      this.marks.devices.get(deviceOf(key)), ctx.vocab?.severities) : null;
    const v = tileView(entry.slot, ch, dev, ctx, alert);
    v.photo = photoFor(st.photos, entry.slot.slot, v.name === UNKNOWN ? "" : v.name);
    this.stats.domWrites += entry.tile.update(v, nowMs);
  }

  updateAll() {
    const ctx = this.ctx();
    const nowMs = performance.now();
    for (const e of this.shown) this.updateEntry(e, ctx, nowMs);
  }

  /** Note the meters of the channels a patch touched (called for every message). */
  sample(changes) {
    const channels = this.model.state.channels;
    const now = Date.now();
    const keys = changes.all || changes.layout ? Object.keys(channels) : changes.channels;
    for (const key of keys) {
      const ch = channels[key];
      if (ch) this.charts.note(key, ch.rf?.level_pct, ch.audio?.level_pct, now);
      else this.charts.forget(key);
    }
  }

  /** Draw the charts of the shown tiles (twice a second: app.js). */
  drawCharts() {
    const channels = this.model.state.channels;
    const now = Date.now();
    for (const e of this.shown) {
      const chart = e.tile.chart;
      const key = e.slot.channel;
      if (!chart || !key) continue;
      const ch = channels[key];
      // a level that did not change sent no meters: hold it in this bucket too
      if (ch && !this.charts.fresh(key, now)) {
        this.charts.note(key, ch.rf?.level_pct, ch.audio?.level_pct, now);
      }
      this.stats.chartDraws += chart.draw(this.charts.window(key, now));
    }
  }

  /** Redraw what a Changes touched. */
  apply(changes) {
    this.stats.frames++;
    const before = this.marks;
    if (changes.alerts || changes.all) this.marks = this.model.alertMarks();
    if (changes.all || changes.layout) {
      this.layout();
      return;
    }
    const ctx = this.ctx();
    const nowMs = performance.now();
    const done = new Set();
    if (this.marks !== before) {
      // only the tiles whose mark may have changed
      for (const which of ["channels", "devices"]) {
        const index = which === "channels" ? this.byChannel : this.byDevice;
        for (const key of new Set([...before[which].keys(), ...this.marks[which].keys()])) {
          if (before[which].get(key) === this.marks[which].get(key)) continue;
          for (const e of index.get(key) ?? []) {
            if (done.has(e)) continue;
            done.add(e);
            this.updateEntry(e, ctx, nowMs);
          }
        }
      }
    }
    for (const key of changes.channels) {
      for (const e of this.byChannel.get(key) ?? []) {
        if (done.has(e)) continue;
        done.add(e);
        this.updateEntry(e, ctx, nowMs);
      }
    }
    for (const id of changes.devices) {
      for (const e of this.byDevice.get(id) ?? []) {
        if (!done.has(e)) this.updateEntry(e, ctx, nowMs);
      }
    }
  }
}

function push(map, key, value) {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/**
 * Columns and rows that make `n` tiles as big as possible in a `w` x `h` area, for tiles
 * that look best about `aspect` times wider than tall (TV view).
 */
export function fitGrid(n, w, h, aspect = 1.9) {
  if (n <= 0 || w <= 0 || h <= 0) return { cols: 1, rows: 1 };
  let best = { cols: 1, rows: n, score: -1 };
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    const tw = w / cols;
    const th = h / rows;
    // the usable tile is limited by whichever side is short for the aspect
    const score = Math.min(tw, th * aspect);
    if (score > best.score + 0.5) best = { cols, rows, score };
  }
  return { cols: best.cols, rows: best.rows };
}
