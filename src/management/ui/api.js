// The management API as the UI uses it: every call carries the session's basic-auth
// credentials, and a refusal becomes an ApiError holding the API's `reason`.

const KEY = "warren.credentials";

export class ApiError extends Error {
  constructor(status, error, reason) {
    super(reason || error || `HTTP ${status}`);
    this.status = status;
    this.error = error;
  }
}

function base64(text) {
  let bin = "";
  for (const b of new TextEncoder().encode(text)) bin += String.fromCharCode(b);
  return btoa(bin);
}

export function login(user, password) {
  sessionStorage.setItem(KEY, base64(`${user}:${password}`));
}

export function logout() {
  sessionStorage.removeItem(KEY);
}

export function loggedIn() {
  return sessionStorage.getItem(KEY) !== null;
}

/// Called when the credentials stop working (user deleted, password changed).
let onLoginFailed = () => {};
export function whenLoginFails(f) {
  onLoginFailed = f;
}

/// A path segment, as RabbitMQ's API wants names (the default vhost "/" is %2F).
export const seg = encodeURIComponent;

export async function raw(method, path, { body, headers = {} } = {}) {
  const h = { Authorization: `Basic ${sessionStorage.getItem(KEY) || ""}`, ...headers };
  let payload;
  if (body !== undefined) {
    h["Content-Type"] = "application/json";
    payload = typeof body === "string" ? body : JSON.stringify(body);
  }
  const r = await fetch(`/api${path}`, { method, headers: h, body: payload });
  if (!r.ok) {
    let error = "", reason = r.statusText;
    try {
      const j = await r.json();
      error = j.error || "";
      reason = j.reason || j.error || reason;
    } catch {
      // Not JSON: keep the status text.
    }
    if (r.status === 401 && reason === "Login failed") onLoginFailed();
    throw new ApiError(r.status, error, reason);
  }
  return r;
}

export async function call(method, path, options) {
  const r = await raw(method, path, options);
  const text = r.status === 204 ? "" : await r.text();
  return text ? JSON.parse(text) : null;
}

export const get = (path) => call("GET", path);
export const put = (path, body) => call("PUT", path, { body: body ?? {} });
export const post = (path, body) => call("POST", path, { body: body ?? {} });
export const del = (path, headers) => call("DELETE", path, { headers });

/// A query string from an object, leaving out empty values.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}
