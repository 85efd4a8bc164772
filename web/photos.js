// Performer photos: which photo a tile shows, and uploading or removing one (with the
// write token, like every write). The daemon keeps the photos (micboardd/photos/) and
// lists them in state.photos, keyed "slot:<n>" or "name:<name in lower case>".

import { send } from "./api.js";

/**
 * The key a performer name is matched by: lower case (as Micboard matches its
 * background images to the name a tile shows), Unicode normalized, runs of spaces as
 * one (micboardd/photos/library.py: name_key, the same).
 */
export function photoKey(name) {
  return String(name ?? "").normalize("NFC").toLowerCase().split(/\s+/).filter(Boolean)
    .join(" ");
}

const keys = new Map(); // name -> key (names repeat on every redraw)
function cachedKey(name) {
  let k = keys.get(name);
  if (k === undefined) {
    if (keys.size > 5000) keys.clear();
    k = photoKey(name);
    keys.set(name, k);
  }
  return k;
}

/** The photo entry a slot shows: its own, else the one of the name it shows. */
export function photoFor(photos, slotNo, name) {
  if (!photos) return null;
  const own = photos[`slot:${slotNo}`];
  if (own && typeof own === "object") return own;
  if (!name) return null;
  const byName = photos[`name:${cachedKey(name)}`];
  return byName && typeof byName === "object" ? byName : null;
}

/** Upload `file` (a File) for {slot} or {name}; answers the photo's entry. */
export function uploadPhoto(file, { slot = null, name = null }) {
  const form = new FormData();
  if (slot !== null) form.append("slot", String(slot));
  else form.append("name", name);
  form.append("file", file);
  return send("POST", "/api/photos", form); // the browser sets the multipart boundary
}

/** Remove the photo with this key ("slot:3", "name:pastor mike"). */
export function removePhoto(key) {
  const i = key.indexOf(":");
  return send("DELETE", `/api/photos/${key.slice(0, i)}/${encodeURIComponent(key.slice(i + 1))}`);
}
