// Turning state into what a tile shows: pure functions, no DOM.
// Unknown (null or missing) is always shown as UNKNOWN ("—"), never as 0.

export const UNKNOWN = "\u2014"; // em dash

// What each status means (severity, the tile's word, the sentence, the icon) comes from
// the daemon: state.statuses, generated from micboardd/state/status.py. Nothing here
// keeps a copy; a status the table lacks shows its own name with a question mark.

/** The meaning of a status, refined by how its transmitter went away (tx.off_reason). */
export function meaningOf(vocab, status, offReason = null) {
  const refines = vocab?.off_reason_refines ?? [];
  if (offReason && refines.includes(status)) {
    const m = vocab?.off_reasons?.[offReason];
    if (m) return m;
  }
  return vocab?.statuses?.[status] ?? { severity: "info", label: String(status ?? "UNKNOWN"),
    sentence: String(status ?? "unknown"), icon: "i-question", live: true };
}

/**
 * The words of an alert episode of `rule` at `severity` (state.statuses.alerts): the
 * status it stands for (REPLACE, TX OFF, ...) or its condition (RF LOW, ...).
 */
export function alertMeaningOf(vocab, rule, severity) {
  const m = vocab?.alerts?.[rule]?.[severity];
  return m ? { ...m, severity } : { severity, label: "ALERT", sentence: `${rule} alert`,
    icon: "i-bell", live: true };
}

/** 0 (ok) .. 3 (critical), from the daemon's order; unknown severities count as info. */
export function severityRank(vocab, severity) {
  const order = vocab?.severities ?? ["ok", "info", "warning", "critical"];
  const i = order.indexOf(severity);
  return i < 0 ? 1 : i;
}

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

function bucket(v) {
  return isNum(v) ? v : null;
}

/** The line under the name: why the tile looks as it does, with ages. */
function noteFor(f) {
  const { ctx, ch, dev, status, reason, notLive } = f;
  const heard = isNum(dev?.last_seen) ? dev.last_seen : bucket(ch?.updated);
  const ago = heard === null ? "" : ` ${fmtAgo(ctx.now - heard)}`;
  if (notLive === "daemon") return `micboardd lost \u00b7 last known${ago}`;
  if (notLive === "stale") return `no data for ${fmtAge(ctx.now - heard)} \u00b7 last known`;
  if (status === "RX_OFFLINE") {
    return heard === null ? (f.hint || "receiver offline") : `last known${ago}`;
  }
  if (f.hint) return f.hint;
  const was = status.startsWith("PREV_")
    ? ` \u00b7 battery was ${meaningOf(ctx.vocab, status.slice(5)).label}` : "";
  const seen = isNum(ch?.tx?.last_seen) ? `last seen ${fmtAgo(ctx.now - ch.tx.last_seen)}` : "";
  if (reason === "rf_muted") return "RF output muted";
  if (seen || was) return `${seen || "gone"}${was}`;
  return "";
}

/**
 * Everything one tile displays, as plain values. `ctx`: {now (daemon epoch seconds),
 * connected (bool), staleAfter (seconds), vocab (state.statuses)}; `alert`: the worst
 * open or acknowledged alert episode of the channel or its receiver ({rule, severity,
 * acked}, Model.alertMarks) or null.
 */
export function tileView(slot, ch, dev, ctx, alert = null) {
  const tx = ch?.tx ?? {};
  const rf = ch?.rf ?? {};
  const audio = ch?.audio ?? {};
  const vocab = ctx.vocab;
  let status;
  if (!slot.channel) status = "UNASSIGNED";
  else if (ch && typeof ch.status === "string") status = ch.status;
  else if (dev && dev.link !== "online") status = "RX_OFFLINE";
  else status = "UNKNOWN";
  const reason = typeof tx.off_reason === "string" ? tx.off_reason : null;

  const online = dev?.link === "online";
  // not live: the page lost micboardd, or an online receiver's data stopped coming
  let notLive = null;
  if (slot.channel && !ctx.connected) notLive = "daemon";
  else if (slot.channel && online) {
    const ts = isNum(dev.last_seen) ? dev.last_seen : ch?.updated;
    if (isNum(ts) && ctx.now - ts > ctx.staleAfter) notLive = "stale";
  }
  // no colour-coded "OK" while the data is not live: the tile says so instead
  let m = notLive ? meaningOf(vocab, "NO_DATA") : meaningOf(vocab, status, reason);
  const live = !notLive && m.live !== false;
  // a slot not in use needs nobody's attention, unless nothing on it is live
  let severity = slot.active === false && live ? "info" : m.severity;
  // An alert episode watches what the status does not (RF low held for seconds,
  // interference, encryption; a group's earlier battery threshold): while one is open
  // (or acknowledged, its cause still there) the tile shows the worse of the two, in the
  // one vocabulary and severity order, so a channel with an alert never reads OK.
  let alertShown = null;
  if (alert && !notLive && severityRank(vocab, alert.severity) >= severityRank(vocab, severity)) {
    alertShown = alert;
    if (severityRank(vocab, alert.severity) > severityRank(vocab, severity)) {
      m = alertMeaningOf(vocab, alert.rule, alert.severity);
      severity = alert.severity;
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
  const battPct = isNum(tx.battery_percent) && tx.present !== false
    && !(vocab?.off_reason_refines ?? []).includes(status)
    ? `${Math.round(tx.battery_percent)}%` : "";
  const minutes = isNum(tx.battery_minutes) ? tx.battery_minutes : null;

  const txOn = tx.present === true || (tx.present == null && bars !== null);
  // no transmitter (switched off, lost, gone: the statuses tx.off_reason refines): what
  // the receiver meters is its noise floor, not the pack's RF or audio; an IEM
  // transmitter whose RF is muted still has its audio input
  const txGone = tx.present === false
    || (vocab?.off_reason_refines ?? []).includes(status);
  const noRf = txGone;
  const noAudio = txGone && reason !== "rf_muted";
  const ant = typeof rf.antennas === "string" && !noRf ? rf.antennas : null;
  const rfPct = noRf ? null : pct(rf.level_pct);
  const rfText = noRf ? UNKNOWN : isNum(rf.rssi_dbm) ? fmtDb(rf.rssi_dbm, "dBm")
    : rfPct !== null ? `${Math.round(rfPct)}%` : UNKNOWN;
  const audioPct = noAudio ? null : pct(audio.level_pct);
  const audioDb = isNum(audio.dbfs) ? audio.dbfs : audio.peak_dbfs;
  const audioText = noAudio ? UNKNOWN : isNum(audioDb) ? fmtDb(audioDb, "dBFS")
    : audioPct !== null ? `${Math.round(audioPct)}%` : UNKNOWN;

  const view = {
    status: notLive ? "NO_DATA" : status,
    severity,
    live,
    statusText: m.label,
    statusIcon: m.icon,
    sentence: m.sentence,
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
    // the peak is shown on the audio meter, whatever the status says
    audioPeak: !noAudio && (audio.peak === true || status === "AUDIO_PEAK"),
    freq: fmtFrequency(ch?.frequency_khz),
    // the transmitter's mute means nothing once it is gone; an IEM's RF mute is the status
    muted: audio.muted === true || (tx.muted === true && txOn),
    interference: rf.interference === true,
    encryption: rf.encryption_ok === false,
    stale: notLive !== null,
    hint,
    inactive: slot.active === false,
    // the alert episode behind the tile's look: "critical", "warning" or "acknowledged"
    alert: alert ? (alert.acked ? "acknowledged" : alert.severity) : null,
    // the status line stands for an acknowledged episode: it says so ("ACK")
    alertAck: alertShown !== null && alertShown.acked === true,
  };
  view.note = noteFor({ ctx, ch, dev, status, reason, notLive, hint });
  return view;
}
