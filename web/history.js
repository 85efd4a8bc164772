// Channel history panel: battery and RF over the last hours as an inline SVG chart, and
// the channel's recent events. Self-contained (no libraries, no other module needed):
//
//   import { openHistory } from "./history.js";
//   openHistory("rx-band-a/1", { label: "Lead vocal" });
//
// Data: GET /api/history/{device}/{number} and GET /api/events?channel=... (both open
// reads). Closes on Esc, the close button or a click outside the panel. Everything from
// the server is set with textContent / attributes, never parsed as HTML.

const SVG = "http://www.w3.org/2000/svg";
const RANGES = [
  ["1h", 3600],
  ["6h", 6 * 3600],
  ["24h", 24 * 3600],
];
const DEFAULT_RANGE = 6 * 3600;
const REFRESH_MS = 15000;
const EVENTS_SHOWN = 50;
// chart geometry (viewBox units; the SVG scales to the panel's width)
const W = 800;
const H = 260;
const M = { l: 44, r: 40, t: 14, b: 26 };

let current = null; // the open panel, if any

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}

function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function ensureStyles() {
  if (document.querySelector("link[data-mbh-style]")) return;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = new URL("./history.css", import.meta.url).href;
  link.dataset.mbhStyle = "";
  document.head.append(link);
}

function splitKey(key) {
  const i = key.lastIndexOf("/");
  return i < 0 ? [key, ""] : [key.slice(0, i), key.slice(i + 1)];
}

async function getJSON(url, signal) {
  const res = await fetch(url, { headers: { Accept: "application/json" }, signal });
  let data = null;
  try {
    data = await res.json();
  } catch {
    /* not JSON */
  }
  if (!res.ok) {
    throw new Error((data && data.error) || `${res.status} ${res.statusText}`);
  }
  return data;
}

const pad2 = (n) => String(n).padStart(2, "0");
function clock(ts, withSeconds = false) {
  const d = new Date(ts * 1000);
  const hm = `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
  return withSeconds ? `${hm}:${pad2(d.getSeconds())}` : hm;
}

// -------------------------------------------------------------------------- chart

/** Polyline path segments; a gap longer than two steps breaks the line. */
function linePath(t, values, x, y, step, stepped = false) {
  let d = "";
  let prevT = null;
  let prevY = null;
  for (let i = 0; i < t.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) {
      prevT = null;
      continue;
    }
    const px = x(t[i]).toFixed(1);
    const py = y(v).toFixed(1);
    if (prevT === null || t[i] - prevT > 2 * step) {
      d += `M${px},${py}h0`; // with round caps a lone point still shows as a dot
    } else if (stepped && prevY !== null) {
      d += `H${px}V${py}`;
    } else {
      d += `L${px},${py}`;
    }
    prevT = t[i];
    prevY = py;
  }
  return d;
}

function niceTicks(t0, t1) {
  const span = t1 - t0;
  const steps = [300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200];
  const step = steps.find((s) => span / s <= 8) || 86400;
  const first = Math.ceil(t0 / step) * step;
  const out = [];
  for (let t = first; t <= t1; t += step) out.push(t);
  return out;
}

function drawChart(box, data, t0, t1) {
  box.replaceChildren();
  const s = data.series || {};
  const t = data.t || [];
  const root = svg("svg", {
    viewBox: `0 0 ${W} ${H}`,
    class: "mbh-chart",
    role: "img",
    "aria-label": "Battery and RF level over time",
  });
  const x = (ts) => M.l + ((ts - t0) / (t1 - t0)) * (W - M.l - M.r);
  const yPct = (v) => M.t + (1 - v / 100) * (H - M.t - M.b);
  const yBars = (v) => M.t + (1 - v / 5) * (H - M.t - M.b);

  // grid and axes: RF % on the left, battery bars on the right, local time below
  for (const p of [0, 25, 50, 75, 100]) {
    root.append(svg("line", { x1: M.l, x2: W - M.r, y1: yPct(p), y2: yPct(p), class: "mbh-grid" }));
    root.append(svg("text", { x: M.l - 6, y: yPct(p) + 4, class: "mbh-axis", "text-anchor": "end" }, `${p}%`));
  }
  for (const b of [0, 1, 2, 3, 4, 5]) {
    root.append(svg("text", { x: W - M.r + 6, y: yBars(b) + 4, class: "mbh-axis mbh-axis-bat" }, String(b)));
  }
  for (const tick of niceTicks(t0, t1)) {
    root.append(svg("line", { x1: x(tick), x2: x(tick), y1: M.t, y2: H - M.b, class: "mbh-grid" }));
    root.append(svg("text", { x: x(tick), y: H - 8, class: "mbh-axis", "text-anchor": "middle" }, clock(tick)));
  }

  const step = data.step || 10;
  const series = [
    ["rf_min", yPct, "mbh-rf-min", false],
    ["rf_avg", yPct, "mbh-rf", false],
    ["battery_bars", yBars, "mbh-bat", true],
  ];
  let any = false;
  for (const [name, y, cls, stepped] of series) {
    const values = s[name];
    if (!values) continue;
    const d = linePath(t, values, x, y, step, stepped);
    if (d) {
      any = true;
      root.append(svg("path", { d, class: `mbh-line ${cls}` }));
    }
  }
  if (!any) {
    root.append(svg("text", { x: W / 2, y: H / 2, class: "mbh-empty", "text-anchor": "middle" },
      "No history for this time range yet"));
  }

  // hover: a cursor line and the values at the nearest point
  const cursor = svg("line", { y1: M.t, y2: H - M.b, class: "mbh-cursor", visibility: "hidden" });
  const readout = svg("text", { x: M.l + 6, y: M.t + 12, class: "mbh-readout" });
  root.append(cursor, readout);
  root.addEventListener("pointermove", (ev) => {
    if (!t.length) return;
    const r = root.getBoundingClientRect();
    const vx = ((ev.clientX - r.left) / r.width) * W;
    const ts = t0 + ((vx - M.l) / (W - M.l - M.r)) * (t1 - t0);
    let best = 0;
    for (let i = 1; i < t.length; i++) {
      if (Math.abs(t[i] - ts) < Math.abs(t[best] - ts)) best = i;
    }
    cursor.setAttribute("x1", x(t[best]));
    cursor.setAttribute("x2", x(t[best]));
    cursor.setAttribute("visibility", "visible");
    const fmt = (v, unit) => (v === null || v === undefined ? "–" : `${v}${unit}`);
    const mins = s.battery_minutes ? s.battery_minutes[best] : null;
    readout.textContent =
      `${clock(t[best], true)}  RF avg ${fmt(s.rf_avg?.[best], "%")} min ${fmt(s.rf_min?.[best], "%")}` +
      `  battery ${fmt(s.battery_bars?.[best], " bars")}${mins !== null && mins !== undefined ? ` (${mins} min)` : ""}`;
  });
  root.addEventListener("pointerleave", () => {
    cursor.setAttribute("visibility", "hidden");
    readout.textContent = "";
  });
  box.append(root);
}

// ------------------------------------------------------------------------- events

const KIND_TEXT = {
  // in the daemon's one vocabulary (micboardd/state/status.py) when the event carries it
  status: (d) => (d.label ? `${d.label}: ${d.text ?? ""}` : `Status ${d.from} → ${d.to}`),
  battery: (d) => `Battery ${d.from} → ${d.to} bars${d.minutes != null ? ` (${d.minutes} min)` : ""}`,
  tx_on: (d) => `Transmitter on${d.model ? ` (${d.model})` : ""}`,
  tx_off: () => "Transmitter off",
  name: (d) => `Renamed ${d.from ?? "–"} → ${d.to ?? "–"}`,
  frequency: (d) => `Frequency ${d.from} → ${d.to} kHz`,
  interference: (d) => (d.on ? "Interference detected" : "Interference cleared"),
  encryption: (d) => (d.ok ? "Encryption OK" : "Encryption mismatch"),
  rx_up: () => "Receiver online",
  rx_down: (d) => `Receiver ${d.link || "offline"}`,
  alert_open: (d) => `Alert: ${d.message || d.rule}`,
  alert_ack: (d) => `Alert acknowledged${d.by ? ` by ${d.by}` : ""}: ${d.message || d.rule}`,
  alert_resolve: (d) => `Alert resolved: ${d.message || d.rule}`,
};

function describe(e) {
  const fn = KIND_TEXT[e.kind];
  try {
    return fn ? fn(e.detail || {}) : `${e.kind} ${JSON.stringify(e.detail)}`;
  } catch {
    return e.kind;
  }
}

function drawEvents(list, events) {
  list.replaceChildren();
  if (!events.length) {
    list.append(el("li", "mbh-none", "No events in this time range"));
    return;
  }
  for (const e of events) {
    const li = el("li", `mbh-ev mbh-ev-${e.kind}`);
    const when = el("time", "mbh-when", clock(e.ts, true));
    when.dateTime = new Date(e.ts * 1000).toISOString();
    li.append(when, el("span", "mbh-what", describe(e)));
    list.append(li);
  }
}

// -------------------------------------------------------------------------- panel

class HistoryPanel {
  constructor(key, label) {
    this.key = key;
    this.range = DEFAULT_RANGE;
    this.returnFocus = document.activeElement;
    this.abort = null;
    this.timer = null;

    const back = (this.back = el("div", "mbh-backdrop"));
    const panel = el("section", "mbh-panel");
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-modal", "true");
    panel.setAttribute("aria-labelledby", "mbh-title");
    panel.tabIndex = -1;

    const head = el("div", "mbh-head"); // not a <header>: no second banner landmark
    const title = el("h2", "mbh-title", label || key);
    title.id = "mbh-title";
    const sub = el("span", "mbh-sub", label ? key : "");
    const ranges = el("div", "mbh-ranges");
    ranges.setAttribute("role", "group");
    ranges.setAttribute("aria-label", "Time range");
    this.rangeBtns = RANGES.map(([text, secs]) => {
      const b = el("button", "mbh-range", text);
      b.type = "button";
      b.setAttribute("aria-pressed", String(secs === this.range));
      b.addEventListener("click", () => {
        this.range = secs;
        for (const other of this.rangeBtns) other.setAttribute("aria-pressed", String(other === b));
        this.load();
      });
      ranges.append(b);
      return b;
    });
    const close = (this.closeBtn = el("button", "mbh-close", "×"));
    close.type = "button";
    close.setAttribute("aria-label", "Close history");
    close.addEventListener("click", () => this.close());
    head.append(title, sub, ranges, close);

    this.status = el("p", "mbh-status");
    this.status.setAttribute("role", "status");
    this.chart = el("div", "mbh-chart-box");
    const legend = el("div", "mbh-legend");
    for (const [cls, text] of [["mbh-rf", "RF average"], ["mbh-rf-min", "RF minimum"], ["mbh-bat", "Battery (bars, right axis)"]]) {
      const item = el("span", "mbh-key");
      item.append(el("span", `mbh-swatch ${cls}`), el("span", "", text));
      legend.append(item);
    }
    const evHead = el("h3", "mbh-h3", "Recent events");
    this.events = el("ol", "mbh-events");
    panel.append(head, this.status, this.chart, legend, evHead, this.events);
    back.append(panel);

    this.onKey = (ev) => {
      if (ev.key === "Escape") {
        ev.preventDefault();
        ev.stopPropagation();
        this.close();
      } else if (ev.key === "Tab") {
        // keep focus inside the dialog
        const f = [...panel.querySelectorAll("button")];
        if (!f.length) return;
        const first = f[0];
        const last = f[f.length - 1];
        if (ev.shiftKey && document.activeElement === first) {
          ev.preventDefault();
          last.focus();
        } else if (!ev.shiftKey && document.activeElement === last) {
          ev.preventDefault();
          first.focus();
        }
      }
    };
    back.addEventListener("pointerdown", (ev) => {
      if (ev.target === back) this.close();
    });
  }

  open() {
    ensureStyles();
    document.body.append(this.back);
    document.addEventListener("keydown", this.onKey, true);
    this.closeBtn.focus();
    this.load();
    this.timer = setInterval(() => this.load(true), REFRESH_MS);
  }

  close() {
    if (current === this) current = null;
    clearInterval(this.timer);
    this.abort?.abort();
    document.removeEventListener("keydown", this.onKey, true);
    this.back.remove();
    if (this.returnFocus && typeof this.returnFocus.focus === "function") {
      this.returnFocus.focus();
    }
  }

  async load(quiet = false) {
    this.abort?.abort();
    const ctl = (this.abort = new AbortController());
    const [device, number] = splitKey(this.key);
    const now = Date.now() / 1000;
    const from = now - this.range;
    const base = `/api/history/${encodeURIComponent(device)}/${encodeURIComponent(number)}`;
    const hq = new URLSearchParams({
      metric: "battery_bars,battery_minutes,rf_min,rf_avg",
      from: String(Math.floor(from)),
      to: String(Math.ceil(now)),
    });
    const eq = new URLSearchParams({
      channel: this.key,
      since: String(Math.floor(from)),
      order: "desc",
      limit: String(EVENTS_SHOWN),
    });
    if (!quiet) this.status.textContent = "Loading…";
    try {
      const [hist, ev] = await Promise.all([
        getJSON(`${base}?${hq}`, ctl.signal),
        getJSON(`/api/events?${eq}`, ctl.signal),
      ]);
      if (ctl.signal.aborted) return;
      drawChart(this.chart, hist, from, now);
      drawEvents(this.events, ev.events || []);
      this.status.textContent = "";
    } catch (err) {
      if (ctl.signal.aborted || err.name === "AbortError") return;
      this.status.textContent = `History unavailable: ${err.message}`;
    }
  }
}

/**
 * Open the history panel of one channel ("rx-band-a/1"). Opening another channel
 * replaces the open panel. Returns a function that closes it.
 */
export function openHistory(channelKey, { label } = {}) {
  if (current) current.close();
  const p = new HistoryPanel(String(channelKey), label);
  current = p;
  p.open();
  return () => p.close();
}

/** Close the panel if one is open. */
export function closeHistory() {
  if (current) current.close();
}
