// REST calls that change things, with the write token kept in localStorage, and the
// bits of page every writer shares: the token box and what to say when a write fails.

const TOKEN_KEY = "micboardd.token";

export function getToken() {
  try {
    return localStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
}

export function setToken(token) {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    /* private mode: the token lives for this page only */
  }
}

export class ApiError extends Error {
  constructor(status, message, problems = null) {
    super(message);
    this.status = status;
    this.problems = problems;
  }
}

/**
 * One call to the daemon with the token: `body` is a JSON value (sent as JSON), a
 * FormData (multipart: the browser sets the boundary) or undefined (no body). Answers
 * the parsed JSON answer; throws ApiError with the daemon's reason.
 */
export async function send(method, path, body) {
  const headers = { Accept: "application/json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body: payload });
  } catch {
    throw new ApiError(0, "cannot reach micboardd");
  }
  let data = null;
  try {
    data = await res.json();
  } catch {
    /* not JSON */
  }
  if (!res.ok) {
    const why = (data && (data.error || data.message || data.detail)) || res.statusText;
    throw new ApiError(res.status, typeof why === "string" ? why : JSON.stringify(why),
      Array.isArray(data?.problems) ? data.problems : null);
  }
  return data;
}

/** Save the whole layout; answers the saved {slots, groups}. */
export function putSlots(slots, groups) {
  return send("PUT", "/api/slots", { slots, groups });
}

/** Acknowledge an open alert episode; answers {ok, alert}. */
export function ackAlert(id, note = null) {
  return send("POST", `/api/alerts/${encodeURIComponent(id)}/ack`, note ? { note } : {});
}

/** Acknowledge several open alerts; answers {ok, acknowledged, already, resolved, unknown}. */
export function ackAlerts(ids, note = null) {
  return send("POST", "/api/alerts/ack", note ? { ids, note } : { ids });
}

/** A control command on a channel ("rx-band-a/3", "name", "PASTOR"); answers {ok, state}. */
export function channelCommand(key, kind, value) {
  const i = key.lastIndexOf("/");
  const device = encodeURIComponent(key.slice(0, i));
  return send("POST", `/api/channels/${device}/${encodeURIComponent(key.slice(i + 1))}/command`,
    { kind, value });
}

/**
 * What to tell the user about a failed write: {text, needToken}. `verb` is what they
 * do again ("save"), `failed` starts the message of other failures ("Not saved").
 */
export function writeErrorText(e, { verb = "save", failed = "Not saved" } = {}) {
  if (e instanceof ApiError && e.status === 401) {
    return {
      needToken: true,
      text: getToken() ? `The daemon refused this token. Check it and ${verb} again.`
        : `This daemon needs a write token. Enter it once (it is kept in this browser) and ${verb} again.`,
    };
  }
  if (e instanceof ApiError && e.status === 422 && e.problems?.length) {
    return { needToken: false,
      text: `${failed}: ${e.problems.map((p) => `${p.path}: ${p.problem}`).join("; ")}` };
  }
  if (e instanceof ApiError && e.status === 403) {
    return { needToken: false, text: `Not allowed: ${e.message || "this daemon is read-only"}.` };
  }
  return { needToken: false, text: `${failed}: ${e.message}` };
}

/**
 * The write-token field of a form: a container holding the password input and a
 * "Forget token" button (class token-forget). Hidden until the daemon asks for a token
 * (or, where a form wants it, while one is kept so it can be changed).
 */
export class TokenBox {
  constructor(box) {
    this.box = box;
    this.input = box.querySelector("input");
    this.onForget = null;
    box.querySelector(".token-forget")?.addEventListener("click", () => {
      setToken("");
      this.input.value = "";
      this.onForget?.();
    });
  }

  get shown() {
    return !this.box.hidden;
  }

  /** Show the box when a token is kept, filled in; hide it when none is. */
  reset() {
    const t = getToken();
    this.box.hidden = !t;
    this.input.value = t;
  }

  hide() {
    this.box.hidden = true;
  }

  /** Before a write: what is typed in the box becomes the kept token. */
  commit() {
    if (this.shown) setToken(this.input.value.trim());
  }

  /** The daemon wants a (different) token: show the box and put the cursor in it. */
  ask() {
    if (!this.shown) this.input.value = getToken();
    this.box.hidden = false;
    this.input.focus();
    this.input.select?.();
  }
}
