// Alerts on the page: the count in the toolbar, the list drawer (desk view) with its
// "Ack" buttons, and the one-line banner of open critical alerts (TV view). The episodes
// come from the model (state.alerts, kept by /ws); acknowledging is POST
// /api/alerts/{id}/ack, the result arrives back through /ws like every other change.

import { TokenBox, ackAlert, writeErrorText } from "./api.js";
import { fmtAgo } from "./format.js";
import { icon } from "./tiles.js";

const $ = (id) => document.getElementById(id);

const SEVERITY_TEXT = { critical: "CRITICAL", warning: "WARNING" };
const STATE_TEXT = { acknowledged: "ACKNOWLEDGED", resolved: "RESOLVED" };
// resolved episodes fade out over this long (the daemon drops them after
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
    this.token = new TokenBox($("al-token"));
    this.token.onForget = () => this.say("Token forgotten.");
    this.items = new Map(); // id -> {li, ...parts}
    this.pending = new Set(); // ids being acknowledged
    this.retryId = null; // the ack to send again once a token is typed
    this.sig = { button: "", banner: "" };

    this.button.addEventListener("click", () => this.toggle());
    $("alerts-close").addEventListener("click", () => this.close());
    this.token.input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && this.retryId) {
        ev.preventDefault();
        this.ack(this.retryId);
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
    this.button.setAttribute("aria-expanded", "true");
    this.place();
    this.renderList();
    this.drawer.focus({ preventScroll: true });
  }

  close() {
    if (!this.isOpen) return;
    const hadFocus = this.drawer.contains(document.activeElement);
    this.drawer.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
    if (hadFocus) this.button.focus({ preventScroll: true });
  }

  /** Keep the drawer just below the toolbar (whose height depends on the width). */
  place() {
    if (!this.isOpen) return;
    const bar = $("toolbar").getBoundingClientRect();
    const top = Math.max(0, Math.round(bar.bottom));
    this.drawer.style.top = `${top}px`;
    this.drawer.style.maxHeight = `calc(100dvh - ${top}px - 0.5rem)`;
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
      (a.state === "open" || a.state === undefined) && this.shownOnBoard(a));
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
      who.title, who.detail, busy]);
    if (sig !== item.sig) {
      item.sig = sig;
      const { li } = item;
      li.dataset.state = a.state ?? "open";
      li.dataset.severity = a.severity ?? "warning";
      item.use.setAttribute("href", `#${alertIcon(a)}`);
      item.title.textContent = who.title;
      item.tag.textContent = STATE_TEXT[a.state] ?? SEVERITY_TEXT[a.severity] ?? "ALERT";
      item.message.textContent = a.message || a.rule || "";
      item.detail.textContent = who.detail;
      item.detail.hidden = !who.detail;
      item.note.textContent = a.ack_note ? `Note: ${a.ack_note}` : "";
      item.note.hidden = !a.ack_note;
      const canAck = a.state === "open" || a.state === undefined;
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
    let text = `opened ${ago(a.opened)}`;
    if (a.state === "acknowledged") {
      text = `acknowledged${a.acked_by ? ` by ${a.acked_by}` : ""} ${ago(a.acked)} \u00b7 ${text}`;
    } else if (a.state === "resolved") {
      text = `resolved ${ago(a.resolved)} \u00b7 ${text}`;
    }
    if (item.meta.textContent !== text) item.meta.textContent = text;
    if (a.state === "resolved" && typeof a.resolved === "number") {
      const f = Math.min(1, Math.max(0, (now - a.resolved) / FADE_S));
      item.li.style.opacity = (0.7 - 0.45 * f).toFixed(2);
    } else if (item.li.style.opacity) {
      item.li.style.removeProperty("opacity");
    }
  }

  // ---- acknowledging ---------------------------------------------------------------------

  async ack(id) {
    if (this.pending.has(id)) return;
    this.token.commit();
    this.pending.add(id);
    this.retryId = null;
    this.renderList();
    this.say("Acknowledging\u2026");
    try {
      await ackAlert(id);
      this.token.hide();
      this.say("Acknowledged.", "ok");
    } catch (e) {
      const { text, needToken } = writeErrorText(e, { verb: "acknowledge",
        failed: "Not acknowledged" });
      if (needToken) {
        this.retryId = id;
        this.token.ask();
      }
      this.say(text, "error");
    } finally {
      this.pending.delete(id);
      if (this.isOpen) this.renderList();
    }
  }
}
