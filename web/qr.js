// The QR code of this board's address (with its view and group), for opening the same
// board on a phone. Made in the page by the vendored qrcode-generator (MIT, web/vendor/),
// loaded the first time the code is shown.

const QUIET = 4; // modules of white around the code (the QR standard's quiet zone)
const CSS_PX = 288;

/** Whether a phone could reach `url`: not when it names this computer's loopback. */
export function isLocalOnly(url) {
  try {
    const h = new URL(url).hostname.replace(/^\[|\]$/g, "");
    return h === "localhost" || h.endsWith(".localhost") || /^127\./.test(h) || h === "::1";
  } catch {
    return true;
  }
}

let lib = null;
function loadLib() {
  lib ??= import("./vendor/qrcode-generator/qrcode.js").then((m) => m.default ?? m.qrcode);
  return lib;
}

export class QrDialog {
  constructor(dialog) {
    this.dialog = dialog;
    this.canvas = dialog.querySelector("#qr-code");
    this.input = dialog.querySelector("#qr-url");
    this.note = dialog.querySelector("#qr-note");
    this.input.addEventListener("input", () => this.render());
  }

  get isOpen() {
    return this.dialog.open;
  }

  open(url = window.location.href) {
    this.input.value = url;
    if (!this.dialog.open) this.dialog.showModal();
    return this.render();
  }

  close() {
    this.dialog.close();
  }

  toggle() {
    if (this.dialog.open) this.close();
    else this.open();
  }

  async render() {
    const url = this.input.value.trim();
    this.note.hidden = !isLocalOnly(url);
    const qrcode = await loadLib();
    if (url !== this.input.value.trim()) return; // typed on meanwhile: that render draws
    const qr = qrcode(0, "M");
    qr.addData(url, "Byte");
    qr.make();
    const n = qr.getModuleCount();
    const total = n + 2 * QUIET;
    const scale = Math.max(2, Math.floor((CSS_PX * Math.min(window.devicePixelRatio || 1, 3))
      / total));
    const c = this.canvas;
    c.width = c.height = total * scale;
    const g = c.getContext("2d");
    g.fillStyle = "#fff";
    g.fillRect(0, 0, c.width, c.height);
    g.fillStyle = "#000";
    for (let r = 0; r < n; r++) {
      for (let col = 0; col < n; col++) {
        if (qr.isDark(r, col)) g.fillRect((col + QUIET) * scale, (r + QUIET) * scale, scale, scale);
      }
    }
    c.dataset.url = url;
    c.setAttribute("aria-label", `QR code of ${url}`);
  }
}
