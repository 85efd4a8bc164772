// Alerts on the page: the count in the toolbar, the list (desk view) beside the board,
// which makes room for it, with its "Ack" buttons (one alert, a group's, all) and an
// optional note, and the one-line banner of open critical alerts (TV view). The episodes
// come from the model (state.alerts, kept by /ws); acknowledging is POST
// /api/alerts/{id}/ack or /api/alerts/ack, the result arrives back through /ws like
// every other change.

import { TokenBox, ackAlert, ackAlerts, writeErrorText } from "./api.js";
import { fmtAgo } from "./format.js";
import { icon } from "./tiles.js";

const $ = (id) => document.getElementById(id);

const SEVERITY_TEXT = { critical: "CRITICAL", warning: "WARNING" };
const STATE_TEXT = { acknowledged: "ACKNOWLEDGED", resolved: "RESOLVED" };
// the stripe of resolved episodes fades out over this long (the daemon drops them after
// alerts.keep_resolved_s, 120 s by default)
const FADE_S = 120;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** The icon of an episode: what it is now, not only a colour. */
function isOpen(a) {
  return a.state === "open" || a.state === undefined;
}

/** Alerts about micboardd itself (the history disk is full): no channel, no receiver. */
function isSystem(a) {
  return a.subject === "micboardd" || (!a.channel && !a.device);
}

function alertIcon(a) {
  if (a.state === "resolved" || a.state === "acknowledged") return "i-ok";
  return a.severity === "critical" ? "i-crit" : "i-warn";
}

export class Alerts {
  /**
   * `model`: the Model; `isDesk()`: whether the desk view is shown; `shownOnBoard(a)`:
   * whether an episode concerns a tile on the board (the TV banner follows the group).
   */
  constructor(model, { isDesk = () => true, shownOnBoard = () => true, isLive = () => true } = {}) {
    this.model = model;
    this.isDesk = isDesk;
    this.isLive = isLive;
    this.shownOnBoard = shownOnBoard;
    this.drawer = $("alerts");
    this.list = $("alerts-list");
    this.none = $("alerts-none");
    this.sub = $("alerts-sub");
    this.msg = $("alerts-msg");
    this.button = $("btn-alerts");
    this.count = $("alerts-count");
    this.word = $("alerts-word");
    this.detail = $("alerts-detail");
    this.buttonUse = this.button.querySelector("use");
    this.banner = $("alert-banner");
    this.bannerList = $("alert-banner-list");
    this.bulk = $("al-bulk");
    this.bulkButtons = $("al-bulk-btns");
    this.note = $("al-note");
    this.token = new TokenBox($("al-token"));
    this.token.onForget = () => this.say("Token forgotten.");
    this.items = new Map(); // id -> {li, ...parts}
    this.pending = new Set(); // ids being acknowledged
    this.retry = null; // the ack to send again once a token is typed
    this.sig = { button: "", banner: "", bulk: "" };

    this.button.addEventListener("click", () => this.toggle());
    $("alerts-close").addEventListener("click", () => this.close());
    this.token.input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && this.retry) {
        ev.preventDefault();
        this.retry();
      }
    });
    window.addEventListener("resize", () => this.place());
  }

  get isOpen() {
    return !this.drawer.hidden;
  }

  toggle() {
    if (this.isOpen) this.close();
    else this.open();
  }

  open() {
    if (this.isOpen) return;
    this.drawer.hidden = false;
    document.body.dataset.alerts = "open"; // the board makes room for the list
    this.button.setAttribute("aria-expanded", "true");
    this.place();
    this.renderList();
    this.drawer.focus({ preventScroll: true });
  }

  close() {
    if (!this.isOpen) return;
    const hadFocus = this.drawer.contains(document.activeElement);
    this.drawer.hidden = true;
    delete document.body.dataset.alerts;
    this.button.setAttribute("aria-expanded", "false");
    if (hadFocus) this.button.focus({ preventScroll: true });
  }

  /**
   * Keep the list just below the toolbar and the connection banner (their heights depend
   * on the width), in the column the board leaves free. On a narrow screen it is part of
   * the page above the board instead (style.css), and needs no place.
   */
  place() {
    if (!this.isOpen) return;
    const s = this.drawer.style;
    if (getComputedStyle(this.drawer).position !== "fixed") {
      s.removeProperty("top");
      s.removeProperty("max-height");
      return;
    }
    let bottom = $("toolbar").getBoundingClientRect().bottom;
    const conn = $("banner");
    if (!conn.hidden) bottom = Math.max(bottom, conn.getBoundingClientRect().bottom);
    const top = Math.max(0, Math.round(bottom)) + 6;
    if (s.top !== `${top}px`) {
      s.top = `${top}px`;
      s.maxHeight = `calc(100dvh - ${top}px - 0.5rem)`;
    }
  }

  say(text, kind = "") {
    this.msg.textContent = text;
    this.msg.dataset.kind = kind;
  }

  /** Redraw after the alerts changed (called from the page's animation frame). */
  render() {
    this.renderButton();
    this.renderBanner();
    if (this.isOpen) this.renderList();
  }

  /** Once a second: ages ("2 min ago") and the fading of resolved episodes. */
  tick() {
    if (!this.isOpen) return;
    this.place(); // the connection banner comes and goes
    const now = this.model.serverNow();
    for (const item of this.items.values()) this.fillTimes(item, now);
  }

  // ---- toolbar count ----------------------------------------------------------------

  renderButton() {
    let open = 0;
    let critical = 0;
    let acked = 0;
    for (const a of Object.values(this.model.state.alerts)) {
      if (!a || typeof a !== "object") continue;
      if (a.state === "acknowledged") acked++;
      else if (a.state !== "resolved") {
        open++;
        if (a.severity === "critical") critical++;
      }
    }
    const sig = `${open}/${critical}/${acked}`;
    if (sig === this.sig.button) return;
    this.sig.button = sig;
    const severity = critical ? "critical" : open ? "warning" : "none";
    this.button.dataset.severity = severity;
    this.buttonUse.setAttribute("href",
      `#${severity === "critical" ? "i-crit" : severity === "warning" ? "i-warn" : "i-bell"}`);
    this.count.textContent = String(open);
    this.word.textContent = open === 1 ? "alert" : "alerts";
    // the accessible name starts with what the button shows ("2 alerts"), then details
    const parts = [];
    if (critical) parts.push(`${critical} critical`);
    if (acked) parts.push(`${acked} acknowledged`);
    this.detail.textContent = parts.length ? ` (${parts.join(", ")})` : "";
    this.button.title = `Alerts (a): ${open} open${parts.length ? `, ${parts.join(", ")}` : ""}`;
  }

  // ---- TV banner --------------------------------------------------------------------

  /** Every open problem (critical first), naming the slots; it wraps, never cut. */
  renderBanner() {
    // not live: the connection banner says so; these alerts would be old news
    const shown = this.isDesk() || !this.isLive() ? [] : this.model.alertList().filter((a) =>
      (a.state === "open" || a.state === undefined) && typeof a.clearing_since !== "number"
      && this.shownOnBoard(a));
    const items = shown.map((a) => ({ severity: a.severity === "critical" ? "critical"
      : "warning", text: `${this.who(a).title}: ${a.message || a.rule}` }));
    const sig = JSON.stringify(items);
    if (sig === this.sig.banner) return;
    this.sig.banner = sig;
    this.bannerList.replaceChildren(...items.map((it) => {
      const li = el("li", "ab-item");
      li.dataset.severity = it.severity;
      li.append(icon(it.severity === "critical" ? "i-crit" : "i-warn"), el("span", "", it.text));
      return li;
    }));
    this.banner.dataset.count = String(Math.min(items.length, 6));
    this.banner.hidden = items.length === 0;
  }

  // ---- the list -----------------------------------------------------------------------

  /** Who an episode is about: {title: "HH01 Mara – lead vocal", detail: "rx-band-a/1 · VOX MARA"}. */
  who(a) {
    if (isSystem(a)) return { title: "micboardd", detail: "the daemon itself" };
    if (!a.channel) {
      // a receiver: the slots on it are what the engineer knows
      const prefix = `${a.device ?? "?"}/`;
      const slots = this.model.state.slots.filter((s) => s?.channel?.startsWith(prefix))
        .map((s) => [s.label_id, s.label_name].filter(Boolean).join(" ") || `Slot ${s.slot}`);
      return { title: slots.length ? slots.join(", ") : `Receiver ${a.device ?? "?"}`,
        detail: `receiver ${a.device ?? "?"}${a.group ? ` \u00b7 group ${a.group}` : ""}` };
    }
    const slot = this.model.state.slots.find((s) => s?.channel === a.channel);
    const id = slot?.label_id || "";
    const name = slot?.label_name || a.label || a.name || "";
    const title = [id, name].filter(Boolean).join(" ") || (a.slot ? `Slot ${a.slot}` : a.channel);
    const detail = [a.channel, a.name].filter(Boolean).join(" \u00b7 ");
    return { title, detail };
  }

  renderList() {
    const alerts = this.model.alertList();
    const now = this.model.serverNow();
    const keep = new Set();
    let prev = null;
    for (const a of alerts) {
      keep.add(a.id);
      let item = this.items.get(a.id);
      if (!item) {
        item = this.makeItem(a.id);
        this.items.set(a.id, item);
      }
      this.fill(item, a, now);
      const want = prev ? prev.nextSibling : this.list.firstChild;
      if (want !== item.li) this.list.insertBefore(item.li, want);
      prev = item.li;
    }
    for (const [id, item] of this.items) {
      if (!keep.has(id)) {
        item.li.remove();
        this.items.delete(id);
        this.pending.delete(id);
      }
    }
    this.none.hidden = alerts.length > 0;
    let open = 0;
    let acked = 0;
    for (const a of alerts) {
      if (a.state === "acknowledged") acked++;
      else if (a.state !== "resolved") open++;
    }
    const sub = alerts.length ? `${open} open${acked ? `, ${acked} acknowledged` : ""}` : "";
    if (this.sub.textContent !== sub) this.sub.textContent = sub;
    this.renderBulk(alerts.filter(isOpen));
  }

  /** The slot groups an episode concerns: its channel's, or its receiver's channels'. */
  groupsOf(a) {
    const prefix = a.channel ? null : `${a.device ?? "\u0000"}/`;
    const out = new Set();
    for (const s of this.model.state.slots) {
      if (!s?.group || !s.channel) continue;
      if (prefix ? s.channel.startsWith(prefix) : s.channel === a.channel) out.add(s.group);
    }
    return out;
  }

  /**
   * The note field and, with two or more open alerts, "Ack all" and an "Ack <group>"
   * for each group that has some of them (when that is not all of them).
   */
  renderBulk(open) {
    const sets = [];
    if (open.length >= 2) {
      const byGroup = new Map();
      for (const a of open) {
        for (const g of this.groupsOf(a)) {
          if (!byGroup.has(g)) byGroup.set(g, []);
          byGroup.get(g).push(a.id);
        }
      }
      const order = this.model.groups().map((g) => g.name);
      const names = [...byGroup.keys()].sort((x, y) => ((order.indexOf(x) + 1 || 1e9)
        - (order.indexOf(y) + 1 || 1e9)) || (x < y ? -1 : 1));
      sets.push({ label: "all", ids: open.map((a) => a.id) });
      for (const g of names) {
        const ids = byGroup.get(g);
        if (ids.length < open.length) sets.push({ label: g, ids, group: g });
      }
    }
    const busy = open.some((a) => this.pending.has(a.id));
    const sig = JSON.stringify([sets, busy, open.length > 0]);
    if (sig === this.sig.bulk) return;
    this.sig.bulk = sig;
    const hadFocus = this.bulkButtons.contains(document.activeElement);
    this.bulk.hidden = open.length === 0;
    this.bulkButtons.replaceChildren(...sets.map((set) => {
      const b = el("button", "tb-btn al-bulk-btn");
      b.type = "button";
      b.disabled = busy;
      if (set.group !== undefined) b.dataset.group = set.group;
      else b.dataset.all = "true";
      const what = set.group === undefined ? "all" : set.group;
      b.append(el("span", "", `Ack ${what} (${set.ids.length})`),
        el("span", "sr", ` open alerts${set.group === undefined ? "" : " of this group"}`));
      b.addEventListener("click", () => this.ackMany(set.ids, what));
      return b;
    }));
    if (hadFocus) this.drawer.focus({ preventScroll: true });
  }

  makeItem(id) {
    const li = el("li", "al");
    li.dataset.id = id;
    const ic = icon("i-warn", "icon al-icon");
    const body = el("div", "al-body");
    const head = el("div", "al-head");
    const title = el("span", "al-title");
    const tag = el("span", "al-tag");
    head.append(title, tag);
    const message = el("div", "al-message");
    const detail = el("div", "al-detail");
    const meta = el("div", "al-meta");
    const note = el("div", "al-note");
    body.append(head, message, detail, meta, note);
    const ackBtn = el("button", "tb-btn al-ack");
    ackBtn.type = "button";
    const ackText = el("span", "", "Ack");
    const ackWhat = el("span", "sr", "");
    ackBtn.append(ackText, ackWhat);
    ackBtn.addEventListener("click", () => this.ack(id));
    li.append(ic, body, ackBtn);
    return { li, use: ic.firstChild, title, tag, message, detail, meta, note, ackBtn, ackText,
      ackWhat, alert: null, sig: "" };
  }

  fill(item, a, now) {
    item.alert = a;
    const who = this.who(a);
    const busy = this.pending.has(a.id);
    const sig = JSON.stringify([a.state, a.severity, a.message, a.ack_note, a.acked_by,
      a.reopened, a.previous_ack, who.title, who.detail, busy]);
    if (sig !== item.sig) {
      item.sig = sig;
      const { li } = item;
      li.dataset.state = a.state ?? "open";
      li.dataset.severity = a.severity ?? "warning";
      if (a.reopened && isOpen(a)) li.dataset.reopened = "true";
      else delete li.dataset.reopened;
      item.use.setAttribute("href", `#${alertIcon(a)}`);
      item.title.textContent = who.title;
      item.tag.textContent = STATE_TEXT[a.state] ?? SEVERITY_TEXT[a.severity] ?? "ALERT";
      item.message.textContent = a.message || a.rule || "";
      item.detail.textContent = who.detail;
      item.detail.hidden = !who.detail;
      const canAck = isOpen(a);
      const earlier = canAck ? a.previous_ack?.ack_note : null;
      const note = a.ack_note ? `Note: ${a.ack_note}` : earlier
        ? `Earlier note${a.previous_ack.acked_by ? ` by ${a.previous_ack.acked_by}` : ""}: ${earlier}`
        : "";
      item.note.textContent = note;
      item.note.hidden = !note;
      item.ackBtn.hidden = !canAck;
      item.ackBtn.disabled = busy;
      // the visible word starts the accessible name; what it acknowledges follows
      item.ackText.textContent = busy ? "Acking\u2026" : "Ack";
      item.ackWhat.textContent = ` (acknowledge ${who.title}: ${a.message || a.rule})`;
      if (!canAck && item.ackBtn === document.activeElement) this.drawer.focus();
    }
    this.fillTimes(item, now);
  }

  fillTimes(item, now) {
    const a = item.alert;
    const ago = (t) => (typeof t === "number" ? fmtAgo(now - t) : "");
    const by = (who) => (who ? ` by ${who}` : "");
    let text = `opened ${ago(a.opened)}`;
    if (a.state === "acknowledged") {
      text = `acknowledged${by(a.acked_by)} ${ago(a.acked)} \u00b7 ${text}`;
    } else if (a.state === "resolved") {
      text = `resolved ${ago(a.resolved)}${a.acked_by ? ` \u00b7 acknowledged${by(a.acked_by)}`
        : ""} \u00b7 ${text}`;
    } else if (typeof a.reopened === "number") {
      // acknowledged, then it got worse: say so, and who had acknowledged it
      text = `worse since acknowledged${by(a.previous_ack?.acked_by)} \u00b7 re-opened `
        + `${ago(a.reopened)} \u00b7 ${text}`;
    }
    if (a.state !== "resolved" && typeof a.clearing_since === "number") {
      // its condition went away: it resolves after clear_after_s unless it comes back
      text = `condition cleared ${ago(a.clearing_since)}, closing · ${text}`;
    }
    if (item.meta.textContent !== text) item.meta.textContent = text;
    if (a.state === "resolved" && typeof a.resolved === "number") {
      // the stripe fades, the words keep their contrast (style.css: --age)
      const f = Math.min(1, Math.max(0, (now - a.resolved) / FADE_S));
      item.li.style.setProperty("--age", f.toFixed(2));
    } else if (item.li.style.getPropertyValue("--age")) {
      item.li.style.removeProperty("--age");
    }
  }

  // ---- acknowledging ---------------------------------------------------------------------

  /** One alert (its own endpoint). */
  ack(id) {
    return this.send([id], () => ackAlert(id, this.noteText()), () => this.ack(id),
      "Acknowledged.");
  }

  /** Several at once (what the list shows for "all" or a group). */
  ackMany(ids, what) {
    return this.send(ids, () => ackAlerts(ids, this.noteText()),
      () => this.ackMany(ids, what), null);
  }

  noteText() {
    return this.note.value.trim() || null;
  }

  async send(ids, request, again, done) {
    if (ids.some((id) => this.pending.has(id))) return;
    this.token.commit();
    for (const id of ids) this.pending.add(id);
    this.retry = null;
    this.renderList();
    this.say("Acknowledging\u2026");
    try {
      const res = await request();
      this.token.hide();
      this.note.value = "";
      this.say(done ?? this.doneText(res), "ok");
    } catch (e) {
      const { text, needToken } = writeErrorText(e, { verb: "acknowledge",
        failed: "Not acknowledged" });
      if (needToken) {
        this.retry = again;
        this.token.ask();
      }
      this.say(text, "error");
    } finally {
      for (const id of ids) this.pending.delete(id);
      if (this.isOpen) this.renderList();
    }
  }

  doneText(res) {
    const n = res?.acknowledged?.length ?? 0;
    const parts = [`Acknowledged ${plural(n, "alert")}.`];
    const already = res?.already?.length ?? 0;
    const gone = (res?.resolved?.length ?? 0) + (res?.unknown?.length ?? 0);
    if (already) parts.push(`${already} already was.`);
    if (gone) parts.push(`${plural(gone, "alert")} had resolved.`);
    return parts.join(" ");
  }
}
