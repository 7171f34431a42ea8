// The single page: the login form, the tabs, and a hash router (`#/queues/%2F/orders`)
// that renders one page at a time and refreshes its live parts every 5 s.

import * as api from "./api.js";
import { h, clear, field, errorBox } from "./dom.js";
import * as overview from "./pages/overview.js";
import * as connections from "./pages/connections.js";
import * as exchanges from "./pages/exchanges.js";
import * as queues from "./pages/queues.js";
import * as admin from "./pages/admin.js";

const REFRESH_MS = 5000;
const main = document.getElementById("main");
const status = document.getElementById("status");

const routes = [
  [/^\/overview$/, "overview", () => overview.render],
  [/^\/connections$/, "connections", () => connections.renderConnections],
  [/^\/channels$/, "channels", () => connections.renderChannels],
  [/^\/exchanges$/, "exchanges", () => exchanges.render],
  [/^\/queues$/, "queues", () => queues.renderList],
  [/^\/queues\/([^/]+)\/([^/]+)$/, "queues", () => queues.renderDetail],
  [/^\/admin$/, "admin", () => admin.render],
];

let current = null;
let timer = null;

function stop() {
  if (timer) clearInterval(timer);
  timer = null;
  current = null;
}

async function refresh(page) {
  if (!page.refresh || page !== current || document.hidden) return;
  try {
    await page.refresh();
    status.className = "";
    status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    status.className = "error";
    status.textContent = `Refresh failed: ${err.message}`;
  }
}

async function route() {
  stop();
  if (!api.loggedIn()) return showLogin();
  const path = location.hash.replace(/^#/, "") || "/overview";
  const match = routes.map(([re, tab, page]) => [path.match(re), tab, page]).find(([m]) => m);
  if (!match) {
    location.hash = "#/overview";
    return;
  }
  const [m, tab, page] = match;
  for (const a of document.querySelectorAll("#tabs a")) {
    a.classList.toggle("active", a.dataset.tab === tab);
    if (a.dataset.tab === tab) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.getElementById("top").hidden = false;
  clear(main);
  const params = m.slice(1).map(decodeURIComponent);
  let instance;
  try {
    instance = page()(main, ...params) || {};
  } catch (err) {
    main.append(errorBox(err));
    return;
  }
  current = instance;
  await refresh(instance);
  if (instance.refresh) timer = setInterval(() => refresh(instance), REFRESH_MS);
}

function showLogin(message) {
  stop();
  document.getElementById("top").hidden = true;
  status.textContent = "";
  const note = h("p", { class: "note error", role: "alert" }, message || "");
  const user = h("input", { name: "username", autocomplete: "username", required: true, autofocus: true });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password" });
  const f = h("form", { class: "box login", id: "login" },
    h("h1", {}, "Warren"),
    h("p", {}, "Log in with a user tagged management, policymaker, monitoring or administrator."),
    field("Username", user), field("Password", password),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Log in")), note);
  f.addEventListener("submit", async (e) => {
    e.preventDefault();
    api.login(user.value, password.value);
    try {
      await checkLogin();
      if (!location.hash || location.hash === "#/login") location.hash = "#/overview";
      else route();
    } catch (err) {
      api.logout();
      note.textContent = err.message;
    }
  });
  clear(main, f);
  user.focus();
}

async function checkLogin() {
  const me = await api.get("/whoami");
  const tags = Array.isArray(me.tags) ? me.tags.join(", ") : me.tags;
  document.getElementById("whoami").textContent = `${me.name} (${tags || "no tags"})`;
  return me;
}

// Credentials that stop working on a page (user deleted, password changed) lead back to the
// login form; the login form reports its own failures.
api.whenLoginFails(() => {
  if (!current) return;
  api.logout();
  showLogin("Login failed: log in again.");
});

document.getElementById("logout").addEventListener("click", () => {
  api.logout();
  location.hash = "#/login";
  showLogin();
});

document.addEventListener("visibilitychange", () => {
  if (!document.hidden && current) refresh(current);
});

window.addEventListener("hashchange", route);

if (api.loggedIn()) {
  checkLogin().then(route, (err) => {
    api.logout();
    showLogin(err.message);
  });
} else {
  showLogin();
}
