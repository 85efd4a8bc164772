// One tile per slot. A tile's DOM is built once; updates compare the new view values
// with the last ones and touch only the nodes whose value changed (no innerHTML).
// A receiver slot's tile (Tile) can show a performer photo and a live chart; a
// placeholder slot (BLANK spacer, manual pack) has a PlaceholderTile.

import { Chart } from "./charts.js";
import { UNKNOWN } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const PEAK_HOLD_MS = 1500;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

export function icon(id, cls = "icon") {
  const s = document.createElementNS(SVG, "svg");
  s.setAttribute("class", cls);
  s.setAttribute("aria-hidden", "true");
  s.setAttribute("focusable", "false");
  const u = document.createElementNS(SVG, "use");
  u.setAttribute("href", `#${id}`);
  s.appendChild(u);
  return s;
}

function badge(cls, iconId, text) {
  const b = el("span", `badge ${cls}`);
  b.append(icon(iconId), el("span", "", text));
  b.hidden = true;
  return b;
}

function meter(kind, label) {
  const row = el("div", `t-meter t-${kind}`);
  const lbl = el("span", "m-lbl", label);
  lbl.setAttribute("aria-hidden", "true");
  row.append(lbl);
  const bar = el("span", "m-bar");
  // the bar's colour scale is fixed; a cover hides the part above the level
  const fill = el("span", "m-cover");
  bar.append(fill);
  row.append(bar);
  const val = el("span", "m-val", UNKNOWN);
  row.append(val);
  return { row, bar, fill, val };
}

/**
 * The performer photo behind a tile's text: WebP with a JPEG fallback, made on first
 * use; `set(null)` removes it. Loaded lazily (a view that hides photos loads none).
 */
class Photo {
  constructor(root) {
    this.root = root;
    this.pic = null;
    this.url = "";
  }

  set(entry) {
    const url = entry ? `${entry.webp}|${entry.jpeg}` : "";
    if (url === this.url) return 0;
    this.url = url;
    if (!entry) {
      this.pic?.remove();
      this.pic = null;
      delete this.root.dataset.photo;
      return 1;
    }
    if (!this.pic) {
      this.pic = el("picture", "t-photo");
      this.source = document.createElement("source");
      this.source.type = "image/webp";
      this.img = el("img", "t-photo-img");
      this.img.alt = "";
      this.img.decoding = "async";
      this.img.loading = "lazy";
      this.pic.append(this.source, this.img);
      this.root.prepend(this.pic);
    }
    this.source.srcset = entry.webp;
    this.img.src = entry.jpeg;
    this.root.dataset.photo = "true";
    return 1;
  }
}

export class Tile {
  constructor(slotNo, onEdit) {
    this.kind = "rx";
    this.slotNo = slotNo;
    this.last = {};
    this.hold = { pct: null, at: 0 };
    const root = (this.el = el("article", "tile"));
    root.dataset.slot = String(slotNo);
    root.tabIndex = 0; // focusable: Enter opens the channel's history
    const inner = el("div", "t-in"); // the tile is the size container; this holds the rows

    const head = el("header", "t-head");
    this.idEl = el("span", "t-id");
    const status = el("span", "t-status");
    this.statusIcon = icon("i-question");
    this.statusUse = this.statusIcon.firstChild;
    this.statusText = el("span", "t-status-text", "\u2026");
    status.append(this.statusIcon, this.statusText);
    head.append(this.idEl, status);
    this.editBtn = el("button", "t-edit");
    this.editBtn.type = "button";
    this.editBtn.setAttribute("aria-label", `Edit slot ${slotNo}`);
    this.editBtn.title = "Edit label and group";
    this.editBtn.append(icon("i-edit"));
    this.editBtn.addEventListener("click", () => onEdit?.(this.slotNo));

    // the name has its row to itself: an alert episode shows in the status line (its
    // condition word and severity; "ACK" below once acknowledged) and on the tile's edge
    this.nameEl = el("div", "t-name", UNKNOWN);
    // one line, always there (tiles keep their size): why the tile looks as it does
    // ("last known 2 min ago", "last seen 3 min ago · battery was OK", a link hint)
    this.noteEl = el("div", "t-note");
    this.staleIcon = icon("i-clock");
    this.staleIcon.style.display = "none";
    this.noteText = el("span", "", "");
    // the status line stands for an acknowledged alert episode: "ACK" says so (in this
    // line, so the status keeps its size and the label its room), not a colour
    this.ackEl = el("span", "t-ack", "ACK");
    this.ackEl.hidden = true;
    this.noteEl.append(this.staleIcon, this.ackEl, this.noteText);

    const batt = el("div", "t-batt");
    this.barsEl = el("span", "bars");
    this.barsEl.setAttribute("role", "img");
    for (let i = 0; i < 5; i++) this.barsEl.append(el("i"));
    this.timeEl = el("span", "t-time", UNKNOWN);
    this.pctEl = el("span", "t-pct");
    this.modelEl = el("span", "t-model", UNKNOWN);
    this.modelEl.title = "transmitter model";
    batt.append(this.barsEl, this.timeEl, this.pctEl, this.modelEl);

    const rf = meter("rf", "RF");
    this.antA = el("span", "ant", "A");
    this.antB = el("span", "ant", "B");
    this.antA.setAttribute("role", "img");
    this.antB.setAttribute("role", "img");
    rf.row.insertBefore(this.antB, rf.bar);
    rf.row.insertBefore(this.antA, this.antB);
    this.rf = rf;
    const af = meter("af", "AF");
    this.afLbl = af.row.firstChild;
    this.holdEl = el("span", "m-hold");
    af.bar.append(this.holdEl);
    this.af = af;

    const foot = el("footer", "t-foot");
    this.freqEl = el("span", "t-freq", UNKNOWN);
    const warn = el("span", "t-warn");
    this.muteB = badge("b-mute", "i-mute", "MUTED");
    this.rfB = badge("b-intf", "i-intf", "INTERFERENCE");
    this.encB = badge("b-enc", "i-lock", "ENCRYPTION");
    this.inactB = badge("b-inact", "i-empty", "SPARE");
    warn.append(this.muteB, this.rfB, this.encB, this.inactB);
    foot.append(this.freqEl, warn, this.editBtn);

    inner.append(head, this.nameEl, this.noteEl, batt, rf.row, af.row, foot);
    this.photo = new Photo(root);
    this.chart = null; // made when charts are shown (setCharts)
    root.append(inner);
    this.setMeter(rf, null);
    this.setMeter(af, null);
    this.holdEl.hidden = true;
  }

  /** Charts on or off for this tile (its group's setting); returns the Chart or null. */
  setCharts(on) {
    if (on && !this.chart) {
      this.chart = new Chart();
      this.el.insertBefore(this.chart.el, this.el.lastChild);
    } else if (!on && this.chart) {
      this.chart.el.remove();
      this.chart = null;
    }
    this.el.dataset.charts = String(on);
    return this.chart;
  }

  setMeter(m, p) {
    m.fill.style.transform = p === null ? "scaleX(1)" : `scaleX(${(1 - p / 100).toFixed(3)})`;
    const unknown = p === null;
    if (m.unknown !== unknown) {
      m.unknown = unknown;
      m.row.classList.toggle("unknown", unknown); // class writes only on a real change
    }
  }

  /** Apply a view (from format.tileView); returns how many DOM writes were made. */
  update(v, nowMs = performance.now()) {
    const last = this.last;
    let writes = 0;
    const changed = (k) => {
      if (last[k] === v[k]) return false;
      last[k] = v[k];
      writes++;
      return true;
    };
    if (changed("status")) this.el.dataset.status = v.status;
    if (changed("severity")) this.el.dataset.severity = v.severity;
    if (changed("live")) this.el.dataset.live = String(v.live);
    if (changed("statusIcon")) this.statusUse.setAttribute("href", `#${v.statusIcon}`);
    if (changed("statusText")) this.statusText.textContent = v.statusText;
    if (changed("labelId") | changed("slotNo")) {
      this.idEl.textContent = v.labelId || `#${v.slotNo}`;
      this.idEl.classList.toggle("none", !v.labelId);
    }
    if (changed("name")) this.nameEl.textContent = v.name;
    writes += this.photo.set(v.photo ?? null);
    if (changed("stale")) {
      this.el.classList.toggle("stale", v.stale);
      this.staleIcon.style.display = v.stale ? "" : "none";
    }
    if (changed("note")) {
      this.noteText.textContent = v.note;
      this.noteEl.title = v.hint && v.hint !== v.note ? `${v.note} (${v.hint})` : v.note;
    }
    if (changed("bars")) {
      const b = v.bars;
      this.barsEl.dataset.bars = b === null ? "unknown" : String(b);
      this.barsEl.setAttribute("aria-label",
        b === null ? "battery unknown" : `battery ${b} of 5 bars`);
    }
    if (changed("timeText")) this.timeEl.textContent = v.timeText;
    if (changed("timeLow")) this.timeEl.classList.toggle("low", v.timeLow);
    if (changed("battPct")) this.pctEl.textContent = v.battPct;
    if (changed("txModel")) this.modelEl.textContent = v.txModel;
    if (changed("antA")) {
      this.antA.dataset.state = v.antA;
      this.antA.setAttribute("aria-label", `antenna A ${v.antA === "on" ? "active" : v.antA}`);
    }
    if (changed("antB")) {
      this.antB.dataset.state = v.antB;
      this.antB.setAttribute("aria-label", `antenna B ${v.antB === "on" ? "active" : v.antB}`);
    }
    if (changed("rfPct")) this.setMeter(this.rf, v.rfPct);
    const rfLow = v.rfPct !== null && v.rfPct < 15;
    if (last.rfLow !== rfLow) {
      last.rfLow = rfLow;
      writes++;
      this.rf.row.classList.toggle("low", rfLow);
    }
    if (changed("rfText")) this.rf.val.textContent = v.rfText;
    if (changed("audioPct")) this.setMeter(this.af, v.audioPct);
    if (changed("audioText")) this.af.val.textContent = v.audioText;
    if (changed("audioPeak")) {
      this.af.row.classList.toggle("peak", v.audioPeak);
      this.afLbl.textContent = v.audioPeak ? "PK" : "AF"; // not by colour alone
    }
    writes += this.updateHold(v.audioPct, nowMs);
    if (changed("freq")) this.freqEl.textContent = v.freq;
    if (changed("muted")) this.muteB.hidden = !v.muted;
    if (changed("interference")) this.rfB.hidden = !v.interference;
    if (changed("encryption")) this.encB.hidden = !v.encryption;
    if (changed("inactive")) {
      this.inactB.hidden = !v.inactive;
      this.el.classList.toggle("inactive", v.inactive);
    }
    if (changed("alert")) {
      if (v.alert === null) delete this.el.dataset.alert;
      else this.el.dataset.alert = v.alert;
    }
    if (changed("alertAck")) this.ackEl.hidden = !v.alertAck;
    const alertAria = v.alert ? (v.alert === "acknowledged" ? ", alert acknowledged"
      : `, ${v.alert} alert`) : "";
    const aria = `${v.labelId || `slot ${v.slotNo}`} ${v.name}: ${v.statusText}`
      + `${v.note ? ` (${v.note})` : ""}${alertAria}`;
    if (writes && last.aria !== aria) {
      last.aria = aria;
      this.el.setAttribute("aria-label", aria);
    }
    return writes;
  }

  /** Peak hold: the highest level of the last PEAK_HOLD_MS, then it falls to the level. */
  updateHold(p, nowMs) {
    const h = this.hold;
    let next = h.pct;
    if (p === null) next = null;
    else if (h.pct === null || p >= h.pct || nowMs - h.at > PEAK_HOLD_MS) {
      next = p;
      h.at = nowMs;
    }
    if (next === h.pct && this.holdShown !== undefined) return 0;
    h.pct = next;
    const shown = next !== null && next > 0;
    if (shown !== this.holdShown) {
      this.holdEl.hidden = !shown;
      this.holdShown = shown;
    }
    if (shown) this.holdEl.style.transform = `translateX(${(next - 100).toFixed(1)}%)`;
    return 1;
  }
}

/**
 * A placeholder slot's tile: BLANK keeps a place in the grid and shows nothing (but the
 * edit button); a manual slot (a pack not on the network) shows its label, name, note
 * and photo, marked as not monitored, with no status, no meters and no alert.
 */
export class PlaceholderTile {
  constructor(slotNo, kind, onEdit) {
    this.kind = kind;
    this.slotNo = slotNo;
    this.last = {};
    const root = (this.el = el("article", "tile t-placeholder"));
    root.dataset.slot = String(slotNo);
    root.dataset.kind = kind;
    root.tabIndex = -1;
    const inner = el("div", "t-in");
    this.editBtn = el("button", "t-edit");
    this.editBtn.type = "button";
    this.editBtn.setAttribute("aria-label", `Edit slot ${slotNo}`);
    this.editBtn.title = kind === "blank" ? "Edit this blank slot" : "Edit label, name and note";
    this.editBtn.append(icon("i-edit"));
    this.editBtn.addEventListener("click", () => onEdit?.(this.slotNo));
    this.photo = new Photo(root);
    if (kind === "blank") {
      root.setAttribute("aria-label", `Slot ${slotNo}: blank`);
      inner.append(el("span", "t-blank-word", "BLANK"), this.editBtn);
    } else {
      const head = el("header", "t-head");
      this.idEl = el("span", "t-id");
      const badge = el("span", "t-status t-manual");
      badge.append(icon("i-unplug"), el("span", "t-status-text", "MANUAL"));
      badge.title = "Not on the network: not monitored";
      head.append(this.idEl, badge);
      this.nameEl = el("div", "t-name");
      this.noteEl = el("div", "t-note t-manual-note");
      const foot = el("footer", "t-foot");
      foot.append(el("span", "t-freq", "not monitored"), this.editBtn);
      inner.append(head, this.nameEl, this.noteEl, foot);
    }
    root.append(inner);
  }

  setCharts() {
    return null;
  }

  /** v: {slotNo, labelId, name, note, photo}; returns the DOM writes made. */
  update(v) {
    let writes = this.photo.set(this.kind === "manual" ? v.photo ?? null : null);
    if (this.kind === "blank") return writes;
    const last = this.last;
    for (const k of ["labelId", "name", "note"]) {
      if (last[k] === v[k]) continue;
      last[k] = v[k];
      writes++;
      if (k === "labelId") {
        this.idEl.textContent = v.labelId || `#${v.slotNo}`;
        this.idEl.classList.toggle("none", !v.labelId);
      } else if (k === "name") this.nameEl.textContent = v.name;
      else this.noteEl.textContent = v.note;
    }
    if (writes) {
      this.el.setAttribute("aria-label", `${v.labelId || `slot ${v.slotNo}`} ${v.name}: `
        + `manual slot, not monitored${v.note ? ` (${v.note})` : ""}`);
    }
    return writes;
  }
}
