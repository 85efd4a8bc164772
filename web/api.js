// REST calls that change things, with the write token kept in localStorage.

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

async function send(method, path, body) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, { method, headers, body: JSON.stringify(body) });
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
