// micboard dashboard: wires the model, the /ws connection, the tile board, the views
// (desk / TV / photo, groups, fullscreen, shortcuts; all kept in the URL), the slot
// editor, the QR code of the board and the alerts (toolbar count, list, TV banner).

import { Alerts } from "./alerts.js";
import { Board, fitGrid } from "./board.js";
import { Connection } from "./conn.js";
import { Editor } from "./editor.js";
import { openHistory } from "./history.js";
import { QrDialog } from "./qr.js";
import { severityRank } from "./format.js";
import { Changes, Model, groupKeys } from "./state.js";

const $ = (id) => document.getElementById(id);
const VIEWS = ["desk", "tv", "photo"];
const CHART_EVERY_MS = 500;

const model = new Model();
const editor = new Editor($("editor"), model);
const qr = new QrDialog($("qr"));
const board = new Board($("board"), model, { onEdit: (slot) => editor.open(slot) });
const alerts = new Alerts(model, {
  isDesk: () => view.mode === "desk",
  isLive: () => board.connected,
  // the TV banner of a group speaks of that group's tiles only
  shownOnBoard: (a) => view.group === null
    || (a.channel ? board.byChannel.has(a.channel) : board.byDevice.has(a.device)),
});

// a click on a tile (not on one of its buttons), or Enter on a focused tile, opens that
// channel's history
function openTileHistory(el) {
  const entry = board.shown.find((x) => x.tile.el === el);
  if (entry?.slot.channel) {
    openHistory(entry.slot.channel, { label: [entry.slot.label_id, entry.slot.label_name]
      .filter(Boolean).join(" ") || null });
  }
}
$("board").addEventListener("click", (ev) => {
  if (ev.target.closest("button")) return;
  openTileHistory(ev.target.closest(".tile"));
});
$("board").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && ev.target.classList?.contains("tile")) {
    ev.preventDefault();
    openTileHistory(ev.target);
  }
});

// ---- view state, mirrored in the URL (?view=tv&group=Band) ---------------------------

const view = { mode: "desk", group: null };

function readUrl() {
  const q = new URLSearchParams(window.location.search);
  const v = q.get("view");
  view.mode = VIEWS.includes(v) ? v : "desk";
  const g = q.get("group");
  view.group = g ? g : null;
}

function writeUrl(push) {
  const q = new URLSearchParams(window.location.search);
  if (view.mode === "desk") q.delete("view");
  else q.set("view", view.mode);
  if (view.group === null) q.delete("group");
  else q.set("group", view.group);
  const s = q.toString();
  const url = `${window.location.pathname}${s ? `?${s}` : ""}${window.location.hash}`;
  if (url !== `${window.location.pathname}${window.location.search}${window.location.hash}`) {
    if (push) history.pushState(null, "", url);
    else history.replaceState(null, "", url);
  }
}

function setView(mode, group, push = true) {
  const layoutChanged = group !== view.group;
  view.mode = mode;
  view.group = group;
  writeUrl(push);
  applyView(layoutChanged);
}

function applyView(layoutChanged = true) {
  document.body.dataset.view = view.mode;
  $("btn-desk").setAttribute("aria-pressed", String(view.mode === "desk"));
  $("btn-tv").setAttribute("aria-pressed", String(view.mode === "tv"));
  $("btn-photo").setAttribute("aria-pressed", String(view.mode === "photo"));
  board.group = view.group;
  if (view.mode !== "desk") alerts.close();
  renderGroups();
  if (layoutChanged) {
    const c = new Changes();
    c.layout = true;
    queue(c);
  } else {
    alerts.render(); // the TV banner comes and goes with the view
    fitTv();
  }
  document.title = `micboard${view.group ? ` \u00b7 ${view.group}` : ""}`
    + `${view.mode === "tv" ? " (TV)" : view.mode === "photo" ? " (photos)" : ""}`;
  if (qr.isOpen) qr.open(); // the code follows the view and the group
}

// ---- groups bar ----------------------------------------------------------------------

let groupSig = "";

function renderGroups() {
  const groups = groupKeys(model.groups());
  const sig = JSON.stringify([groups, view.group]);
  if (sig === groupSig) return;
  groupSig = sig;
  const nav = $("groups");
  const buttons = [{ name: null, key: "0", text: "All" },
    ...groups.map((g) => ({ name: g.name, key: g.key, text: g.name }))];
  // an unknown group from the URL still gets a button, so it can be seen and left
  if (view.group !== null && !groups.some((g) => g.name === view.group)) {
    buttons.push({ name: view.group, key: null, text: view.group });
  }
  nav.replaceChildren(...buttons.map((b) => {
    const btn = document.createElement("button");
    btn.type = "button";
    btn.className = "group-btn";
    btn.setAttribute("aria-pressed", String(b.name === view.group));
    const label = document.createElement("span");
    label.textContent = b.text;
    btn.append(label);
    if (b.key) {
      const k = document.createElement("kbd");
      k.textContent = b.key;
      k.setAttribute("aria-hidden", "true");
      btn.append(k);
      btn.title = `Show ${b.name ?? "all groups"} (key ${b.key})`;
      btn.setAttribute("aria-keyshortcuts", b.key);
    }
    btn.addEventListener("click", () => setView(view.mode, b.name));
    return btn;
  }));
  const help = $("help-groups");
  help.replaceChildren();
  for (const g of groups) {
    if (!g.key) continue;
    const dt = document.createElement("dt");
    const k = document.createElement("kbd");
    k.textContent = g.key;
    dt.append(k);
    const dd = document.createElement("dd");
    dd.textContent = `Group ${g.name}`;
    help.append(dt, dd);
  }
}

// ---- drawing: changes are batched and drawn once per animation frame -----------------

let pending = null;
let frameRequested = false;

function queue(changes) {
  board.sample(changes); // every meter message counts in the charts, drawn or not
  if (pending === null) pending = changes;
  else pending.add(changes);
  if (!frameRequested) {
    frameRequested = true;
    requestAnimationFrame(frame);
  }
}

function frame() {
  frameRequested = false;
  const changes = pending;
  pending = null;
  if (!changes) return;
  board.apply(changes);
  if (changes.all || changes.layout || changes.alerts) {
    alerts.render();
    fitTv(); // the banner's height follows what it lists
  }
  if (changes.all || changes.layout) {
    renderGroups();
    $("empty").hidden = board.shown.length > 0;
    $("empty").textContent = model.synced || model.seq !== null
      ? (view.group ? `No slots in group \u201c${view.group}\u201d.` : "No slots to show.")
      : "Waiting for micboardd\u2026";
    fitTv();
    editor.externalChange();
  }
  summarize();
}

// A browser tab in the background gets no animation frames: catch up when shown.
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && pending && !frameRequested) {
    frameRequested = true;
    requestAnimationFrame(frame);
  }
});

// the counts in the toolbar: tiles by severity, in the daemon's one vocabulary
let lastSummary = "";
function summarize() {
  const vocab = model.state.statuses;
  let bad = 0;
  let warn = 0;
  for (const e of board.shown) {
    const sev = e.tile.last.severity;
    if (e.slot.active === false) continue; // a spare slot needs nobody's attention
    if (sev === "critical") bad++;
    else if (severityRank(vocab, sev) === severityRank(vocab, "warning")) warn++;
  }
  const parts = [];
  if (bad) parts.push(`${bad} critical`);
  if (warn) parts.push(`${warn} warning${warn === 1 ? "" : "s"}`);
  const text = parts.join(" \u00b7 ");
  if (text !== lastSummary) {
    lastSummary = text;
    $("summary").textContent = text;
    $("summary").dataset.severity = bad ? "critical" : warn ? "warning" : "none";
  }
}

// ---- TV view: fit the tiles to the screen ------------------------------------------

let fitSig = "";
let chromeH = -1;
function fitTv() {
  const el = $("board");
  // desk view: the board fills what the toolbar and banners leave of the screen
  const above = el.getBoundingClientRect().top + window.scrollY;
  if (Math.round(above) !== chromeH) {
    chromeH = Math.round(above);
    document.body.style.setProperty("--chrome-h", `${chromeH}px`);
  }
  if (view.mode === "desk") {
    if (fitSig) {
      el.style.removeProperty("--cols");
      el.style.removeProperty("--rows");
      fitSig = "";
    }
    return;
  }
  const banner = ($("banner").hidden ? 0 : $("banner").offsetHeight)
    + ($("alert-banner").hidden ? 0 : $("alert-banner").offsetHeight);
  // photo view: portrait tiles (a face above a name), TV view: wide ones
  const { cols, rows } = fitGrid(board.shown.length, window.innerWidth,
    window.innerHeight - banner, view.mode === "photo" ? 0.8 : undefined);
  const sig = `${cols}x${rows}`;
  if (sig !== fitSig) {
    fitSig = sig;
    el.style.setProperty("--cols", String(cols));
    el.style.setProperty("--rows", String(rows));
  }
}
window.addEventListener("resize", fitTv);

// ---- connection and its banner -----------------------------------------------------

let connStatus = { state: "connecting", attempt: 0, retryAt: null, since: null };
let everLive = false;

function showConn(st) {
  connStatus = st;
  const live = st.state === "live";
  if (live) everLive = true;
  document.body.dataset.conn = st.state;
  $("conn-text").textContent = {
    live: "live", syncing: "syncing", connecting: everLive ? "reconnecting" : "connecting",
    down: "offline",
  }[st.state];
  const wasConnected = board.connected;
  board.connected = live;
  updateBanner();
  if (wasConnected !== live) {
    board.updateAll(); // stale marks on or off everywhere, at once
    summarize();
    alerts.render();
  }
  fitTv();
}

function updateBanner() {
  const st = connStatus;
  const banner = $("banner");
  if (st.state === "live") {
    banner.hidden = true;
    return;
  }
  if (!everLive && st.state !== "down") {
    banner.hidden = true; // first connect: the empty board says "waiting"
    return;
  }
  let text;
  const ago = st.since ? Math.round((Date.now() - st.since) / 1000) : 0;
  if (st.state === "down") {
    const inS = st.retryAt ? Math.max(0, Math.ceil((st.retryAt - Date.now()) / 1000)) : 0;
    text = `Connection to micboardd lost${ago ? ` ${ago} s ago` : ""}. `
      + `Values shown are old. Reconnecting ${inS ? `in ${inS} s` : "now"}`
      + `${st.attempt > 1 ? ` (attempt ${st.attempt})` : ""}\u2026`;
  } else if (st.state === "syncing") {
    text = "Connected to micboardd, loading the current state\u2026";
  } else {
    text = `Connection to micboardd lost${ago ? ` ${ago} s ago` : ""}. Values shown are old. Reconnecting\u2026`;
  }
  $("banner-text").textContent = text;
  banner.hidden = false;
}

const conn = new Connection(model, { onChanges: queue, onStatus: showConn });
$("banner-retry").addEventListener("click", () => conn.retryNow());

// once a second: stale marks age, the banner counts down
setInterval(() => {
  if (!document.hidden) {
    board.updateAll();
    summarize();
    alerts.tick();
  }
  if (connStatus.state !== "live") updateBanner();
}, 1000);

// twice a second: the live charts (none in the photo view, none in a hidden tab)
setInterval(() => {
  if (!document.hidden && view.mode !== "photo") board.drawCharts();
}, CHART_EVERY_MS);

// ---- fullscreen, help, keyboard ------------------------------------------------------

function toggleFullscreen() {
  if (document.fullscreenElement) document.exitFullscreen?.();
  else document.documentElement.requestFullscreen?.().catch(() => {});
}

function toggleHelp() {
  const d = $("help");
  if (d.open) d.close();
  else d.showModal();
}

function cycleGroup(step) {
  const names = [null, ...model.groups().map((g) => g.name)];
  const i = Math.max(0, names.indexOf(view.group));
  setView(view.mode, names[(i + step + names.length) % names.length]);
}

document.addEventListener("keydown", (ev) => {
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const t = ev.target;
  if (t instanceof HTMLInputElement || t instanceof HTMLSelectElement
    || t instanceof HTMLTextAreaElement || editor.isOpen) return;
  const k = ev.key;
  if (k === "?") toggleHelp();
  else if ($("help").open) return;
  else if (k === "q" || k === "Q") qr.toggle();
  else if (qr.isOpen) return;
  else if (k === "p" || k === "P") setView("photo", view.group);
  else if (k === "t" || k === "T") setView("tv", view.group);
  else if (k === "d" || k === "D") setView("desk", view.group);
  else if (k === "f" || k === "F") toggleFullscreen();
  else if (k === "e" || k === "E") editor.open();
  else if (k === "0") setView(view.mode, null);
  // the alert list is a desk thing: the TV view shows open critical alerts in its banner
  else if ((k === "a" || k === "A") && view.mode === "desk") alerts.toggle();
  else if (k === "]") cycleGroup(1);
  else if (k === "[") cycleGroup(-1);
  else if (k === "Escape" && view.mode !== "desk") setView("desk", view.group);
  else if (k === "Escape" && alerts.isOpen) alerts.close();
  else {
    const g = groupKeys(model.groups()).find((x) => x.key === k);
    if (!g) return;
    setView(view.mode, g.name);
  }
  ev.preventDefault();
});

$("btn-desk").addEventListener("click", () => setView("desk", view.group));
$("btn-tv").addEventListener("click", () => setView("tv", view.group));
$("btn-photo").addEventListener("click", () => setView("photo", view.group));
$("btn-qr").addEventListener("click", () => qr.open());
$("btn-full").addEventListener("click", toggleFullscreen);
$("btn-edit").addEventListener("click", () => editor.open());
$("btn-help").addEventListener("click", toggleHelp);
window.addEventListener("popstate", () => {
  readUrl();
  applyView(true);
});

// TV view hides the toolbar; moving the mouse or touching shows it for a few seconds.
let peekTimer = null;
function peek() {
  if (view.mode === "desk") return;
  document.body.classList.add("peek");
  clearTimeout(peekTimer);
  peekTimer = setTimeout(() => document.body.classList.remove("peek"), 3000);
}
document.addEventListener("pointermove", (ev) => {
  if (ev.pointerType === "mouse") peek();
});
document.addEventListener("pointerdown", peek);

// ---- start -----------------------------------------------------------------------------

readUrl();
applyView(true);
conn.start();

// for tests and bench/dashboard.py
window.micboard = { model, board, conn, view, setView, alerts, qr };
