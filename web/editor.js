// The slot editor: labels ("HH03 / Pastor Mike"), kind (receiver, BLANK spacer, manual
// pack), channel, group, note and active flag of every slot, and the group list (with
// its charts switch), saved whole with PUT /api/slots. Also: names pasted in bulk (a
// preview, then into the rows; web/bulk.js) and performer photos (dropped on a row or
// picked; uploaded at once, web/photos.js).

import { TokenBox, channelCommand, putSlots, writeErrorText } from "./api.js";
import { parseBulk, planBulk } from "./bulk.js";
import { joinLabel, splitLabel } from "./format.js";
import { photoFor, removePhoto, uploadPhoto } from "./photos.js";
import { compareChannelKeys, deviceOf } from "./state.js";
import { icon } from "./tiles.js";

const KINDS = [["rx", "Receiver"], ["manual", "Manual"], ["blank", "BLANK"]];
const MAX_NOTE = 120;

const MAX_ID = 16;
const MAX_NAME = 64;

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k in e && typeof v !== "string") e[k] = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  e.append(...children);
  return e;
}

export class Editor {
  constructor(dialog, model) {
    this.dialog = dialog;
    this.model = model;
    this.form = dialog.querySelector("form");
    this.slotBody = dialog.querySelector("#ed-slots");
    this.groupBody = dialog.querySelector("#ed-groups");
    this.msg = dialog.querySelector("#ed-msg");
    this.token = new TokenBox(dialog.querySelector("#ed-token"));
    this.saveBtn = dialog.querySelector("#ed-save");
    this.conflict = dialog.querySelector("#ed-conflict");
    this.groupList = dialog.querySelector("#ed-group-names");
    this.dirty = false;
    this.uid = 0;
    this.bulkText = dialog.querySelector("#ed-bulk-text");
    this.bulkStart = dialog.querySelector("#ed-bulk-start");
    this.bulkBody = dialog.querySelector("#ed-bulk-preview");
    this.bulkMsg = dialog.querySelector("#ed-bulk-msg");
    this.bulkApply = dialog.querySelector("#ed-bulk-apply");
    for (const e of [this.bulkText, this.bulkStart]) {
      e.addEventListener("input", (ev) => {
        ev.stopPropagation(); // a paste is not an edit of the layout until applied
        this.previewBulk();
      });
    }
    this.bulkApply.addEventListener("click", () => this.applyBulk());
    this.picker = dialog.querySelector("#ed-photo-file");
    this.picker.addEventListener("change", () => {
      const file = this.picker.files?.[0];
      if (file && this.pickFor) this.upload(this.pickFor, file);
      this.picker.value = "";
    });
    dialog.querySelector("#ed-add-slot").addEventListener("click", () => this.addSlotRow());
    dialog.querySelector("#ed-add-group").addEventListener("click", () => this.addGroupRow());
    dialog.querySelector("#ed-cancel").addEventListener("click", () => this.close());
    this.token.onForget = () => this.say("Token forgotten.");
    dialog.querySelector("#ed-reload").addEventListener("click", () => this.load());
    this.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.save();
    });
    this.form.addEventListener("input", () => {
      this.dirty = true;
    });
  }

  get isOpen() {
    return this.dialog.open;
  }

  open(focusSlot = null) {
    this.load();
    this.token.reset();
    if (!this.dialog.open) this.dialog.showModal();
    let target = null;
    if (focusSlot !== null) {
      target = this.slotBody.querySelector(`tr[data-slot="${focusSlot}"] .ed-label`);
    }
    target ??= this.slotBody.querySelector(".ed-label");
    if (target) {
      target.focus();
      target.select?.();
      target.scrollIntoView({ block: "nearest" });
    }
  }

  close() {
    this.dialog.close();
  }

  layoutSig() {
    return JSON.stringify([this.model.state.slots, this.model.state.groups]);
  }

  /** The layout may have changed on the daemon while we edit (another page saved). */
  externalChange() {
    if (!this.isOpen) return;
    for (const tr of this.slotBody.querySelectorAll("tr")) this.refreshPhoto(tr);
    if (this.saving || this.layoutSig() === this.loadedSig) return;
    if (this.dirty) this.conflict.hidden = false;
    else this.load();
  }

  say(text, kind = "") {
    this.msg.textContent = text;
    this.msg.dataset.kind = kind;
  }

  load() {
    this.dirty = false;
    this.loadedSig = this.layoutSig();
    this.conflict.hidden = true;
    this.say("");
    const st = this.model.state;
    this.channelOptions = Object.keys(st.channels).sort(compareChannelKeys).map((key) => {
      const name = st.channels[key]?.name;
      return { key, text: name ? `${key} \u2014 ${name}` : key };
    });
    this.slotBody.replaceChildren();
    const slots = this.model.slots().slice().sort((a, b) => a.slot - b.slot);
    for (const s of slots) this.addSlotRow(s, false);
    this.groupBody.replaceChildren();
    const charts = new Map(this.model.state.groups.map((g) => [g?.name, g?.charts !== false]));
    for (const g of this.model.groups()) {
      this.addGroupRow({ ...g, charts: charts.get(g.name) ?? true }, false);
    }
    this.refreshGroupNames();
    this.previewBulk();
  }

  refreshGroupNames() {
    const names = [...this.groupBody.querySelectorAll(".ed-gname")]
      .map((i) => i.value.trim()).filter(Boolean);
    this.groupList.replaceChildren(...names.map((n) => el("option", { value: n })));
  }

  addSlotRow(slot = null, focus = true) {
    if (!slot) {
      const used = [...this.slotBody.querySelectorAll(".ed-slot")].map((i) => Number(i.value) || 0);
      slot = { slot: Math.max(0, ...used) + 1, channel: null, label_id: null, label_name: null,
        group: null, active: true, kind: "rx", note: null };
    }
    const n = slot.slot;
    const kind = el("select", { class: "ed-kind", "aria-label": `Kind of slot ${n}` },
      ...KINDS.map(([v, text]) => el("option", { value: v, text })));
    kind.value = slot.kind === "blank" || slot.kind === "manual" ? slot.kind : "rx";
    const note = el("input", { class: "ed-note", type: "text", value: slot.note ?? "",
      maxlength: String(MAX_NOTE), placeholder: "note: where the pack is",
      "aria-label": `Note of slot ${n}`, autocomplete: "off" });
    const select = el("select", { class: "ed-channel", "aria-label": `Channel of slot ${n}` },
      el("option", { value: "", text: "(none)" }));
    let found = !slot.channel;
    for (const o of this.channelOptions) {
      select.append(el("option", { value: o.key, text: o.text }));
      if (o.key === slot.channel) found = true;
    }
    if (!found) select.append(el("option", { value: slot.channel, text: `${slot.channel} (missing)` }));
    select.value = slot.channel ?? "";
    const remove = el("button", { type: "button", class: "icon-btn", "aria-label": `Remove slot ${n}`,
      title: "Remove slot" }, icon("i-close"));
    const rx = this.rxNameCell(n);
    select.addEventListener("change", () => rx.fill(select.value));
    rx.fill(slot.channel);
    const photo = this.photoCell(n);
    const tr = el("tr", { "data-slot": String(n) },
      el("td", { class: "ed-slotcell" }, el("input", { class: "ed-slot", type: "number",
        min: "1", max: "10000", value: String(n), required: true,
        "aria-label": "Slot number" }), kind),
      el("td", { class: "ed-labelcell" }, el("input", { class: "ed-label", type: "text",
        value: joinLabel(slot), placeholder: "HH03 / Pastor Mike",
        maxlength: String(MAX_ID + MAX_NAME + 3), "aria-label": `Label of slot ${n} (ID / name)`,
        autocomplete: "off" }), note),
      el("td", {}, select),
      el("td", {}, rx.box),
      el("td", {}, el("input", { class: "ed-group", type: "text", value: slot.group ?? "",
        list: "ed-group-names", maxlength: String(MAX_NAME), "aria-label": `Group of slot ${n}`,
        autocomplete: "off" })),
      el("td", { class: "c" }, el("label", { class: "ed-active-l" },
        el("input", { class: "ed-active", type: "checkbox", checked: slot.active !== false,
          "aria-label": `Slot ${n} in use` }),
        el("span", { class: "ed-active-t", text: "in use", "aria-hidden": "true" }))),
      el("td", { class: "c ed-photocell" }, photo.box, remove));
    remove.addEventListener("click", () => {
      tr.remove();
      this.dirty = true;
    });
    const applyKind = () => {
      const k = kind.value;
      tr.dataset.kind = k;
      select.disabled = k !== "rx";
      if (k !== "rx") select.value = "";
      rx.fill(select.value);
      note.hidden = k !== "manual";
    };
    kind.addEventListener("change", applyKind);
    applyKind();
    // the thumbnail follows the name typed (a photo goes with a performer name)
    tr.querySelector(".ed-label").addEventListener("change", () => this.refreshPhoto(tr));
    this.addDrop(tr);
    this.slotBody.append(tr);
    this.refreshPhoto(tr);
    if (focus) {
      this.dirty = true;
      tr.querySelector(".ed-label").focus();
    }
  }

  /**
   * The "On receiver" field of a slot row: the channel's own name, limited to what its
   * receiver family takes (device name_max), the limit shown beside it before saving.
   */
  rxNameCell(n) {
    const input = el("input", { class: "ed-rxname", type: "text", autocomplete: "off",
      spellcheck: "false", "aria-label": `Name on the receiver, slot ${n}` });
    const limit = el("span", { class: "ed-limit", id: `ed-limit-${n}-${++this.uid}` });
    input.setAttribute("aria-describedby", limit.id);
    const box = el("div", { class: "ed-rx" }, input, limit);
    const count = () => {
      const max = Number(input.dataset.max) || 0;
      limit.textContent = input.disabled ? "" : max ? `${input.value.length}/${max}` : "";
      limit.dataset.full = String(max > 0 && input.value.length >= max);
    };
    input.addEventListener("input", count);
    const fill = (key) => {
      const st = this.model.state;
      const ch = key ? st.channels[key] : null;
      const max = key ? st.devices[deviceOf(key)]?.name_max : null;
      input.value = ch?.name ?? "";
      input.dataset.original = input.value;
      input.dataset.channel = ch ? key : "";
      input.disabled = !ch;
      if (Number.isInteger(max) && max > 0) {
        input.maxLength = max;
        input.dataset.max = String(max);
        input.title = `The receiver takes at most ${max} characters`;
      } else {
        input.removeAttribute("maxlength");
        delete input.dataset.max;
        input.title = "";
      }
      count();
    };
    return { box, input, fill };
  }

  addGroupRow(group = null, focus = true) {
    const name = el("input", { class: "ed-gname", type: "text", value: group?.name ?? "",
      maxlength: String(MAX_NAME), "aria-label": "Group name", placeholder: "Band" });
    const key = el("input", { class: "ed-gkey", type: "text", value: group?.key ?? "",
      maxlength: "1", size: "2", "aria-label": "Group shortcut key", placeholder: "1" });
    const remove = el("button", { type: "button", class: "icon-btn", "aria-label": "Remove group",
      title: "Remove group" }, icon("i-close"));
    const charts = el("input", { class: "ed-gcharts", type: "checkbox",
      checked: group?.charts !== false, "aria-label": "Live charts on this group's tiles" });
    const tr = el("tr", {}, el("td", {}, name), el("td", {}, key),
      el("td", { class: "c" }, charts), el("td", { class: "c" }, remove));
    remove.addEventListener("click", () => {
      tr.remove();
      this.dirty = true;
      this.refreshGroupNames();
    });
    name.addEventListener("change", () => this.refreshGroupNames());
    this.groupBody.append(tr);
    if (focus) {
      this.dirty = true;
      name.focus();
    }
  }

  /** Read the form; returns {slots, groups} or throws Error with a message for the user. */
  collect() {
    const slots = [];
    const seen = new Set();
    for (const tr of this.slotBody.querySelectorAll("tr")) {
      const n = Number(tr.querySelector(".ed-slot").value);
      if (!Number.isInteger(n) || n < 1 || n > 10000) throw new Error("Slot numbers are 1 to 10000.");
      if (seen.has(n)) throw new Error(`Slot ${n} is listed twice.`);
      seen.add(n);
      const { label_id, label_name } = splitLabel(tr.querySelector(".ed-label").value);
      if (label_id && label_id.length > MAX_ID) {
        throw new Error(`Slot ${n}: the ID before "/" is at most ${MAX_ID} characters.`);
      }
      if (label_name && label_name.length > MAX_NAME) {
        throw new Error(`Slot ${n}: the name is at most ${MAX_NAME} characters.`);
      }
      const group = tr.querySelector(".ed-group").value.trim() || null;
      const kind = tr.querySelector(".ed-kind").value;
      const note = kind === "manual" ? tr.querySelector(".ed-note").value.trim() || null : null;
      if (note && note.length > MAX_NOTE) {
        throw new Error(`Slot ${n}: the note is at most ${MAX_NOTE} characters.`);
      }
      slots.push({ slot: n, channel: kind === "rx" ? tr.querySelector(".ed-channel").value
        || null : null, label_id, label_name, group, active: tr.querySelector(".ed-active")
        .checked, kind, note });
    }
    slots.sort((a, b) => a.slot - b.slot);
    const renames = [];
    for (const input of this.slotBody.querySelectorAll(".ed-rxname")) {
      const value = input.value.trim();
      const key = input.dataset.channel;
      if (!key || input.disabled || value === (input.dataset.original ?? "")) continue;
      const max = Number(input.dataset.max) || 0;
      const n = input.closest("tr").querySelector(".ed-slot").value;
      if (!value) throw new Error(`Slot ${n}: the name on the receiver cannot be empty.`);
      if (max && value.length > max) {
        throw new Error(`Slot ${n}: the receiver takes at most ${max} characters.`);
      }
      if (!renames.some((r) => r.key === key)) renames.push({ key, value, slot: n });
    }
    const groups = [];
    const names = new Set();
    const keys = new Set();
    for (const tr of this.groupBody.querySelectorAll("tr")) {
      const name = tr.querySelector(".ed-gname").value.trim();
      if (!name || names.has(name)) continue;
      const key = tr.querySelector(".ed-gkey").value.trim() || null;
      if (key && keys.has(key)) throw new Error(`Key "${key}" is used by two groups.`);
      if (key) keys.add(key);
      names.add(name);
      groups.push({ name, key, charts: tr.querySelector(".ed-gcharts").checked });
    }
    for (const s of slots) {
      if (s.group && !names.has(s.group)) {
        names.add(s.group);
        groups.push({ name: s.group, key: null, charts: true });
      }
    }
    return { slots, groups, renames };
  }

  async save() {
    let body;
    try {
      body = this.collect();
    } catch (e) {
      this.say(e.message, "error");
      return;
    }
    this.token.commit();
    this.saveBtn.disabled = true;
    this.saving = true;
    this.say("Saving\u2026");
    try {
      await putSlots(body.slots, body.groups);
      // then each receiver rename, one by one: a refusal names the slot and the reason
      for (const r of body.renames) {
        try {
          await channelCommand(r.key, "name", r.value);
        } catch (e) {
          e.renameOf = r;
          throw e;
        }
      }
      this.dirty = false;
      this.say("Saved.", "ok");
      this.close();
    } catch (e) {
      const r = e.renameOf;
      const { text, needToken } = writeErrorText(e, { verb: "save", failed: r
        ? `Slot ${r.slot}: the receiver did not take the name \u201c${r.value}\u201d`
        : "Not saved" });
      if (needToken) this.token.ask();
      this.say(r && !needToken ? `${text}. The layout was saved.` : text, "error");
    } finally {
      this.saving = false;
      this.saveBtn.disabled = false;
    }
  }

  // ---- names in bulk ------------------------------------------------------------------

  /** The slots as the rows say now (what a paste lands on). */
  rowSlots() {
    return [...this.slotBody.querySelectorAll("tr")].map((tr) => ({
      slot: Number(tr.querySelector(".ed-slot").value), kind: tr.querySelector(".ed-kind").value,
      ...splitLabel(tr.querySelector(".ed-label").value), tr }));
  }

  bulkPlan() {
    const start = Number(this.bulkStart.value) || null;
    return planBulk(this.rowSlots(), parseBulk(this.bulkText.value), start);
  }

  previewBulk() {
    const { plan, left, problems } = this.bulkPlan();
    const show = (l) => joinLabel(l) || "\u2014";
    this.bulkBody.replaceChildren(...plan.map((p) => el("tr", { "data-slot": String(p.slot) },
      el("td", { text: String(p.slot) }), el("td", { class: "ed-bulk-before",
        text: show(p.before) }), el("td", { class: "ed-bulk-after", text: show(p.after) }))));
    const parts = [];
    if (plan.length) parts.push(`${plan.length} slot${plan.length === 1 ? "" : "s"} get a name`);
    if (left.length) parts.push(`${left.length} line${left.length === 1 ? "" : "s"} left over (no slot)`);
    this.bulkMsg.textContent = [...parts, ...problems].join("; ");
    this.bulkMsg.dataset.kind = problems.length ? "error" : "";
    this.bulkApply.disabled = plan.length === 0 || problems.length > 0;
  }

  /** Put the previewed names into the rows; Save then saves them as one change. */
  applyBulk() {
    const { plan, problems } = this.bulkPlan();
    if (problems.length) return;
    const rows = new Map(this.rowSlots().map((s) => [s.slot, s.tr]));
    for (const p of plan) {
      rows.get(p.slot).querySelector(".ed-label").value = joinLabel(p.after);
    }
    this.dirty = true;
    this.bulkText.value = "";
    this.previewBulk();
    this.say(`Names put into ${plan.length} slot${plan.length === 1 ? "" : "s"}: check them, then Save.`);
  }

  // ---- photos -------------------------------------------------------------------------

  photoCell(n) {
    const img = el("img", { class: "ed-thumb", alt: "" });
    const pick = el("button", { type: "button", class: "tb-btn ed-photo-btn",
      "aria-label": `Photo of slot ${n}`, title: "Photo: pick a file, or drop one on the row" },
    el("span", { text: "Photo" }));
    const remove = el("button", { type: "button", class: "icon-btn ed-photo-remove",
      "aria-label": `Remove the photo of slot ${n}`, title: "Remove this photo", hidden: true },
    icon("i-close"));
    const box = el("span", { class: "ed-photo" }, img, pick, remove);
    pick.addEventListener("click", () => {
      this.pickFor = box.closest("tr");
      this.picker.click();
    });
    remove.addEventListener("click", () => this.removeShown(box.closest("tr")));
    return { box };
  }

  addDrop(tr) {
    tr.addEventListener("dragover", (ev) => {
      if (![...(ev.dataTransfer?.types ?? [])].includes("Files")) return;
      ev.preventDefault();
      tr.classList.add("ed-drop");
    });
    tr.addEventListener("dragleave", () => tr.classList.remove("ed-drop"));
    tr.addEventListener("drop", (ev) => {
      tr.classList.remove("ed-drop");
      const file = ev.dataTransfer?.files?.[0];
      if (!file) return;
      ev.preventDefault();
      this.upload(tr, file);
    });
  }

  /** What a photo for this row is for: the performer name (as Micboard), or the slot. */
  photoTarget(tr) {
    const slot = Number(tr.querySelector(".ed-slot").value);
    const { label_name } = splitLabel(tr.querySelector(".ed-label").value);
    const bySlot = this.dialog.querySelector('input[name="ed-photo-for"]:checked')?.value === "slot";
    return bySlot || !label_name ? { slot } : { name: label_name };
  }

  async upload(tr, file) {
    const target = this.photoTarget(tr);
    this.token.commit();
    const what = target.name ? `\u201c${target.name}\u201d` : `slot ${target.slot}`;
    this.say(`Uploading the photo of ${what}\u2026`);
    try {
      await uploadPhoto(file, target);
      this.say(`Photo of ${what} saved.`, "ok");
    } catch (e) {
      const { text, needToken } = writeErrorText(e, { verb: "upload it",
        failed: "Photo not saved" });
      if (needToken) this.token.ask();
      this.say(text, "error");
    }
  }

  /** The photo a row shows now (its slot's, else its name's) as a thumbnail. */
  refreshPhoto(tr) {
    const slot = Number(tr.querySelector(".ed-slot").value);
    const { label_name } = splitLabel(tr.querySelector(".ed-label").value);
    const entry = photoFor(this.model.state.photos, slot, label_name);
    const img = tr.querySelector(".ed-thumb");
    const url = entry?.jpeg ?? "";
    if (img.getAttribute("src") !== url) {
      if (url) img.setAttribute("src", url);
      else img.removeAttribute("src");
    }
    img.hidden = !url;
    tr.querySelector(".ed-photo-remove").hidden = !url;
    tr.dataset.photo = entry?.key ?? "";
  }

  async removeShown(tr) {
    const key = tr.dataset.photo;
    if (!key) return;
    this.token.commit();
    try {
      await removePhoto(key);
      this.say("Photo removed.", "ok");
    } catch (e) {
      const { text, needToken } = writeErrorText(e, { verb: "remove it",
        failed: "Photo not removed" });
      if (needToken) this.token.ask();
      this.say(text, "error");
    }
  }
}
