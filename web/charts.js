// Live charts: each channel's RF and audio over the last 60 s, kept from the meters the
// page already receives (no request of its own), in half-second buckets: RF keeps the
// lowest level of a bucket (a dropout shows), audio the highest (a peak shows). A bucket
// nobody reported in holds the value before it (meters only travel when they change).

export const CHART_SECONDS = 60;
export const BUCKET_MS = 500;
const N = (CHART_SECONDS * 1000) / BUCKET_MS;
const MAX_CANVAS_PX = 720; // device pixels: enough for a TV tile, cheap to clear

class Series {
  constructor() {
    this.rf = new Float32Array(N).fill(NaN);
    this.af = new Float32Array(N).fill(NaN);
    this.bucket = new Float64Array(N).fill(-1); // which bucket each place holds
  }
}

const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : NaN);

export class ChartData {
  constructor() {
    this.series = new Map(); // channel key -> Series
  }

  /** A channel's levels now (percent, or null/undefined when unknown). */
  note(key, rf, af, nowMs = Date.now()) {
    let s = this.series.get(key);
    if (!s) {
      s = new Series();
      this.series.set(key, s);
    }
    const b = Math.floor(nowMs / BUCKET_MS);
    const i = b % N;
    const r = num(rf);
    const a = num(af);
    if (s.bucket[i] !== b) {
      s.bucket[i] = b;
      s.rf[i] = r;
      s.af[i] = a;
    } else {
      s.rf[i] = Number.isNaN(s.rf[i]) ? r : Number.isNaN(r) ? s.rf[i] : Math.min(s.rf[i], r);
      s.af[i] = Number.isNaN(s.af[i]) ? a : Number.isNaN(a) ? s.af[i] : Math.max(s.af[i], a);
    }
  }

  /** Whether the channel has a sample in the current bucket. */
  fresh(key, nowMs = Date.now()) {
    const s = this.series.get(key);
    const b = Math.floor(nowMs / BUCKET_MS);
    return s !== undefined && s.bucket[b % N] === b;
  }

  /** The last 60 s as two arrays of N values (NaN: unknown), oldest first. */
  window(key, nowMs = Date.now()) {
    const s = this.series.get(key);
    const rf = new Float32Array(N).fill(NaN);
    const af = new Float32Array(N).fill(NaN);
    if (!s) return { rf, af };
    const last = Math.floor(nowMs / BUCKET_MS);
    let heldR = NaN;
    let heldA = NaN;
    let started = false;
    for (let k = 0; k < N; k++) {
      const b = last - N + 1 + k;
      const i = b % N;
      if (s.bucket[i] === b) {
        started = true;
        heldR = s.rf[i];
        heldA = s.af[i];
      }
      if (started) {
        rf[k] = heldR;
        af[k] = heldA;
      }
    }
    return { rf, af };
  }

  forget(key) {
    this.series.delete(key);
  }
}

/**
 * The chart layer of one tile: a canvas sized to its box (set by a ResizeObserver shared
 * by every chart), drawn from ChartData on request.
 */
export class Chart {
  constructor() {
    this.el = document.createElement("canvas");
    this.el.className = "t-chart";
    this.el.setAttribute("aria-hidden", "true");
    this.w = 0;
    this.h = 0;
    charts.set(this.el, this);
    observer().observe(this.el);
  }

  resize(cssW, cssH) {
    const dpr = Math.min(window.devicePixelRatio || 1, 2);
    const w = Math.max(1, Math.min(MAX_CANVAS_PX, Math.round(cssW * dpr)));
    const h = Math.max(1, Math.min(MAX_CANVAS_PX, Math.round(cssH * dpr)));
    if (w !== this.w || h !== this.h) {
      this.w = this.el.width = w;
      this.h = this.el.height = h;
      this.drawn = null;
    }
  }

  /** Draw the window {rf, af}; returns 1 when it drew, 0 when there was nothing to. */
  draw({ rf, af }) {
    const { w, h } = this;
    if (w < 2 || h < 2) return 0;
    const g = this.el.getContext("2d");
    g.clearRect(0, 0, w, h);
    const dx = w / (N - 1);
    // audio: a filled area (green), RF: a line (blue), as the meters colour them
    g.beginPath();
    let open = false;
    let first = 0;
    let lastX = 0;
    for (let k = 0; k < N; k++) {
      const v = af[k];
      const x = k * dx;
      if (Number.isNaN(v)) {
        if (open) closeArea(g, lastX, first, h);
        open = false;
        continue;
      }
      const y = h - (v / 100) * h;
      if (!open) {
        g.moveTo(x, h);
        first = x;
        open = true;
      }
      g.lineTo(x, y);
      lastX = x;
    }
    if (open) closeArea(g, lastX, first, h);
    g.fillStyle = "rgba(60, 207, 116, 0.35)";
    g.fill();
    g.beginPath();
    open = false;
    for (let k = 0; k < N; k++) {
      const v = rf[k];
      if (Number.isNaN(v)) {
        open = false;
        continue;
      }
      const x = k * dx;
      const y = h - (v / 100) * (h - 2) - 1;
      if (open) g.lineTo(x, y);
      else g.moveTo(x, y);
      open = true;
    }
    g.strokeStyle = "rgba(90, 169, 255, 0.9)";
    g.lineWidth = Math.max(1, h / 60);
    g.stroke();
    return 1;
  }
}

function closeArea(g, lastX, firstX, h) {
  g.lineTo(lastX, h);
  g.lineTo(firstX, h);
  g.closePath();
}

let shared = null;
const charts = new WeakMap();
function observer() {
  if (!shared) {
    shared = new ResizeObserver((entries) => {
      for (const e of entries) {
        const box = e.contentRect;
        charts.get(e.target)?.resize(box.width, box.height);
      }
    });
  }
  return shared;
}
