// Turning state into what a tile shows: pure functions, no DOM.
// Unknown (null or missing) is always shown as UNKNOWN ("—"), never as 0.

export const UNKNOWN = "\u2014"; // em dash

// Every status has text and an icon as well as a colour (colour is never the only cue).
export const STATUS = {
  GOOD: { text: "OK", icon: "i-ok" },
  REPLACE: { text: "REPLACE", icon: "i-warn" },
  CRITICAL: { text: "CRITICAL", icon: "i-crit" },
  PREV_GOOD: { text: "TX LOST", icon: "i-lost", note: "last: OK" },
  PREV_REPLACE: { text: "TX LOST", icon: "i-lost", note: "last: REPLACE" },
  PREV_CRITICAL: { text: "TX LOST", icon: "i-lost", note: "last: CRITICAL" },
  TX_OFF: { text: "TX OFF", icon: "i-power" },
  RX_OFFLINE: { text: "RX OFFLINE", icon: "i-unplug" },
  AUDIO_PEAK: { text: "PEAK", icon: "i-peak" },
  UNASSIGNED: { text: "NO CHANNEL", icon: "i-empty" },
  UNKNOWN: { text: "UNKNOWN", icon: "i-question" },
};

const LINK_TEXT = {
  connecting: "connecting to receiver\u2026",
  offline: "receiver offline",
  silent: "connected, but the receiver does not reply",
};

export function isNum(v) {
  return typeof v === "number" && Number.isFinite(v);
}

export function fmtFrequency(khz) {
  return isNum(khz) ? `${(khz / 1000).toFixed(3)} MHz` : UNKNOWN;
}

export function fmtMinutes(minutes, state = null) {
  if (state === "calculating") return "calculating\u2026";
  if (state === "comm_warning") return "comm. warning";
  if (!isNum(minutes) || minutes < 0) return UNKNOWN;
  const m = Math.round(minutes);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

export function fmtDb(v, unit) {
  if (!isNum(v)) return UNKNOWN;
  const r = Math.round(v);
  return `${r < 0 ? "\u2212" : ""}${Math.abs(r)} ${unit}`;
}

export function fmtAge(seconds) {
  if (!isNum(seconds)) return "";
  const s = Math.max(0, Math.round(seconds));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

/** How long ago, for people: "just now", "40 s ago", "2 min ago", "3 h ago". */
export function fmtAgo(seconds) {
  if (!isNum(seconds)) return "";
  const s = Math.max(0, Math.round(seconds));
  if (s < 5) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

function pct(v) {
  return isNum(v) ? Math.max(0, Math.min(100, v)) : null;
}

/** "HH03 / Pastor Mike" -> {label_id: "HH03", label_name: "Pastor Mike"}. No slash: a name. */
export function splitLabel(text) {
  const t = (text ?? "").trim();
  if (!t) return { label_id: null, label_name: null };
  const i = t.indexOf("/");
  if (i < 0) return { label_id: null, label_name: t };
  const id = t.slice(0, i).trim();
  const name = t.slice(i + 1).trim();
  return { label_id: id || null, label_name: name || null };
}

export function joinLabel(slot) {
  const id = slot?.label_id ?? "";
  const name = slot?.label_name ?? "";
  if (id && name) return `${id} / ${name}`;
  if (id) return `${id} /`;
  return name;
}

/**
 * Everything one tile displays, as plain values. `ctx`: {now (daemon epoch seconds),
 * connected (bool), staleAfter (seconds)}.
 */
export function tileView(slot, ch, dev, ctx) {
  const tx = ch?.tx ?? {};
  const rf = ch?.rf ?? {};
  const audio = ch?.audio ?? {};
  let status;
  if (!slot.channel) status = "UNASSIGNED";
  else if (ch && typeof ch.status === "string" && ch.status in STATUS) status = ch.status;
  else if (ch && dev && dev.link !== "online") status = "RX_OFFLINE";
  else if (!ch && dev && dev.link !== "online") status = "RX_OFFLINE";
  else status = "UNKNOWN";
  const st = STATUS[status];

  const online = dev?.link === "online";
  let stale = false;
  let staleText = "";
  if (slot.channel) {
    if (!ctx.connected) {
      stale = true;
      staleText = "no connection to micboardd";
    } else if (online) {
      const ts = isNum(dev.last_seen) ? dev.last_seen : ch?.updated;
      if (isNum(ts) && ctx.now - ts > ctx.staleAfter) {
        stale = true;
        staleText = `no data for ${fmtAge(ctx.now - ts)}`;
      }
    }
  }

  let hint = "";
  if (slot.channel && dev && !online) {
    hint = dev.link_hint || LINK_TEXT[dev.link] || `receiver ${dev.link ?? "unknown"}`;
  } else if (slot.channel && !dev) {
    hint = `no receiver "${slot.channel}"`;
  }

  const bars = isNum(tx.battery_bars) ? Math.max(0, Math.min(5, Math.round(tx.battery_bars)))
    : null;
  const battPct = isNum(tx.battery_percent) ? `${Math.round(tx.battery_percent)}%` : "";
  const minutes = isNum(tx.battery_minutes) ? tx.battery_minutes : null;

  const ant = typeof rf.antennas === "string" ? rf.antennas : null;
  const rfPct = pct(rf.level_pct);
  const rfText = isNum(rf.rssi_dbm) ? fmtDb(rf.rssi_dbm, "dBm")
    : rfPct !== null ? `${Math.round(rfPct)}%` : UNKNOWN;
  const audioPct = pct(audio.level_pct);
  const audioDb = isNum(audio.dbfs) ? audio.dbfs : audio.peak_dbfs;
  const audioText = isNum(audioDb) ? fmtDb(audioDb, "dBFS")
    : audioPct !== null ? `${Math.round(audioPct)}%` : UNKNOWN;

  return {
    status,
    statusText: st.text,
    statusIcon: st.icon,
    statusNote: st.note ?? "",
    slotNo: String(slot.slot),
    labelId: slot.label_id || "",
    name: slot.label_name || ch?.name || UNKNOWN,
    bars,
    battPct,
    timeText: fmtMinutes(minutes, tx.battery_minutes_state ?? null),
    timeLow: minutes !== null && minutes <= 30,
    txModel: tx.model || UNKNOWN,
    antA: ant === null ? "unknown" : ant.includes("A") ? "on" : "off",
    antB: ant === null ? "unknown" : ant.includes("B") ? "on" : "off",
    rfPct,
    rfText,
    audioPct,
    audioText,
    audioPeak: audio.peak === true,
    freq: fmtFrequency(ch?.frequency_khz),
    muted: tx.muted === true || audio.muted === true,
    interference: rf.interference === true,
    encryption: rf.encryption_ok === false,
    stale,
    staleText,
    hint,
    inactive: slot.active === false,
  };
}
