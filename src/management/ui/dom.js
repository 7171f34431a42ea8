// Building the page: elements from plain data (text always goes in as text, never as
// markup), number formats, tables and forms that report the API's reason on failure.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function fmtNum(n) {
  return n === undefined || n === null ? "" : Number(n).toLocaleString("en");
}

export function fmtRate(r) {
  if (r === undefined || r === null) return "";
  return `${Number(r).toFixed(r >= 100 ? 0 : r >= 10 ? 1 : 2)}/s`;
}

export function fmtBytes(b) {
  if (b === undefined || b === null) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (b >= 1024 && i < units.length - 1) {
    b /= 1024;
    i++;
  }
  return `${i ? b.toFixed(1) : b} ${units[i]}`;
}

/// A value at a dotted path (`message_stats.publish_details.rate`).
export function at(obj, path) {
  return path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);
}

/// A table of `rows`. Each column: {label, key (dotted path), render(row) -> node/text,
/// sort (the API's sort key, or true for key), num}. `sorting` {key, reverse, onSort}
/// makes sortable headers clickable; sorting itself is the caller's (often the API's).
export function table(columns, rows, { sorting, empty = "Nothing here yet.", id } = {}) {
  const head = h("tr", {}, columns.map((c) => {
    const key = c.sort === true ? c.key : c.sort;
    if (!sorting || !key) return h("th", { class: c.num ? "num" : "" }, c.label);
    const active = sorting.key === key;
    const arrow = active ? (sorting.reverse ? " ▼" : " ▲") : "";
    return h("th", { class: `sortable ${c.num ? "num" : ""}`, "aria-sort": active ? (sorting.reverse ? "descending" : "ascending") : "none" },
      h("button", { type: "button", class: "link", onclick: () => sorting.onSort(key, active ? !sorting.reverse : false) }, c.label + arrow));
  }));
  const body = rows.length
    ? rows.map((r) => h("tr", {}, columns.map((c) => h("td", { class: c.num ? "num" : "" }, c.render ? c.render(r) : at(r, c.key)))))
    : [h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, empty))];
  return h("table", { class: "list", id }, h("thead", {}, head), h("tbody", {}, body));
}

/// A form whose submit runs `action(values)`; a failure shows the API's reason in the form,
/// a success shows `done` (a string or a function of the result).
export function form(title, fields, action, { submit = "Add", done = "Done.", id } = {}) {
  const note = h("p", { class: "note", role: "status" });
  const f = h("form", { class: "box", id },
    title ? h("h3", {}, title) : null,
    h("div", { class: "fields" }, fields),
    h("div", { class: "actions" }, h("button", { type: "submit" }, submit), note));
  f.addEventListener("submit", async (e) => {
    e.preventDefault();
    note.className = "note";
    note.textContent = "…";
    const values = Object.fromEntries(new FormData(f).entries());
    for (const box of f.querySelectorAll("input[type=checkbox]")) values[box.name] = box.checked;
    try {
      const result = await action(values, f);
      note.className = "note ok";
      note.textContent = typeof done === "function" ? done(result, values) : done;
    } catch (err) {
      note.className = "note error";
      note.setAttribute("role", "alert");
      note.textContent = err.message;
    }
  });
  return f;
}

export function field(label, input) {
  return h("label", { class: "field" }, h("span", {}, label), input);
}

export function input(name, attrs = {}) {
  return h("input", { name, ...attrs });
}

export function select(name, options, attrs = {}) {
  return h("select", { name, ...attrs }, options.map((o) =>
    Array.isArray(o) ? h("option", { value: o[0] }, o[1]) : h("option", { value: o }, o)));
}

/// A `<select>` of the vhosts, filled when they arrive.
export function vhostSelect(vhosts, name = "vhost") {
  return select(name, vhosts.map((v) => v.name));
}

export function textarea(name, attrs = {}) {
  return h("textarea", { name, rows: 3, spellcheck: "false", ...attrs });
}

/// Parses a JSON object typed into a form; blank is `{}`.
export function jsonObject(text, what) {
  if (!text || !text.trim()) return {};
  let v;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`${what} is not valid JSON: ${e.message}`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error(`${what} must be a JSON object`);
  return v;
}

/// A button that runs `action` after the user confirms, reporting a failure beside it.
export function actionButton(label, question, action, attrs = {}) {
  const b = h("button", { type: "button", ...attrs }, label);
  b.addEventListener("click", async () => {
    if (question && !window.confirm(question)) return;
    b.disabled = true;
    try {
      await action();
    } catch (err) {
      const msg = h("span", { class: "note error", role: "alert" }, err.message);
      b.after(msg);
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

export function section(title, ...children) {
  return h("section", {}, h("h2", {}, title), children);
}

export function errorBox(err) {
  return h("p", { class: "note error", role: "alert" }, err.message);
}

export function pre(text) {
  return h("pre", {}, text);
}

export function features(o) {
  const f = [];
  if (o.durable) f.push(h("abbr", { title: "durable", class: "tag" }, "D"));
  if (o.auto_delete) f.push(h("abbr", { title: "auto-delete", class: "tag" }, "AD"));
  if (o.exclusive) f.push(h("abbr", { title: "exclusive", class: "tag" }, "Excl"));
  if (o.internal) f.push(h("abbr", { title: "internal", class: "tag" }, "I"));
  const args = o.arguments || {};
  for (const k of Object.keys(args)) f.push(h("abbr", { title: `${k}: ${JSON.stringify(args[k])}`, class: "tag arg" }, k.replace(/^x-/, "")));
  if (o.policy) f.push(h("abbr", { title: "policy", class: "tag policy" }, o.policy));
  return f;
}

/// Replaces a `<select>`'s options with `names` if they changed, keeping the choice.
export function fillSelect(sel, names) {
  if ([...sel.options].map((o) => o.value).join("\n") === names.join("\n")) return;
  const keep = sel.value;
  clear(sel, names.map((n) => h("option", { value: n }, n)));
  if (names.includes(keep)) sel.value = keep;
}

/// An editor for x-arguments, as RabbitMQ's UI has: rows of key, value and type
/// (String, Number, Boolean, List), a button for another row, and quick-add links for common keys
/// (`quick`: [[key, type], ...]). Its inputs have no names, so the form's values leave them
/// out; `argumentsOf(editor)` reads them.
export function argumentEditor(quick = [], { id } = {}) {
  const rows = h("div", { class: "arg-rows" });
  const addRow = (key = "", type = "string") => {
    const k = h("input", { class: "arg-key", placeholder: "key", "aria-label": "Argument key", value: key });
    const v = h("input", { class: "arg-value", placeholder: "value", "aria-label": "Argument value" });
    const t = h("select", { class: "arg-type", "aria-label": "Argument type" },
      [["string", "String"], ["number", "Number"], ["boolean", "Boolean"], ["list", "List"]].map(([val, label]) => h("option", { value: val }, label)));
    t.value = type;
    const row = h("div", { class: "arg-row" }, k, h("span", {}, "="), v, t,
      h("button", { type: "button", class: "small", "aria-label": "Remove argument", onclick: () => row.remove() }, "×"));
    rows.append(row);
    return row;
  };
  const quickAdd = (key, type) => {
    const empty = [...rows.querySelectorAll(".arg-row")].find((r) => !r.querySelector(".arg-key").value);
    const row = empty || addRow();
    row.querySelector(".arg-key").value = key;
    row.querySelector(".arg-type").value = type;
    row.querySelector(".arg-value").focus();
  };
  addRow();
  return h("div", { class: "arg-editor", id },
    rows,
    h("div", { class: "arg-tools" },
      h("button", { type: "button", class: "small arg-add", onclick: () => addRow() }, "Add argument"),
      quick.length ? h("span", { class: "muted" }, " Add: ") : null,
      quick.map(([key, type], i) => [i ? " | " : "",
        h("button", { type: "button", class: "link arg-quick", "data-key": key, onclick: () => quickAdd(key, type) }, key)])));
}

/// The arguments an `argumentEditor` holds, typed; rows without a key are left out.
export function argumentsOf(editor) {
  const args = {};
  for (const row of editor.querySelectorAll(".arg-row")) {
    const key = row.querySelector(".arg-key").value.trim();
    const text = row.querySelector(".arg-value").value;
    const type = row.querySelector(".arg-type").value;
    if (!key) continue;
    if (type === "number") {
      const n = Number(text);
      if (text.trim() === "" || !Number.isFinite(n)) throw new Error(`Argument ${key} must be a number`);
      args[key] = n;
    } else if (type === "list") {
      args[key] = listOf(key, text);
    } else if (type === "boolean") {
      const b = text.trim().toLowerCase();
      if (b !== "true" && b !== "false") throw new Error(`Argument ${key} must be true or false`);
      args[key] = b === "true";
    } else {
      args[key] = text;
    }
  }
  return args;
}

/// A List argument's value: a JSON array (`[1, "a", true]`, for typed items), or items
/// separated by commas, taken as strings (`a, b`); empty is the empty list.
function listOf(key, text) {
  const t = text.trim();
  if (t.startsWith("[")) {
    let v;
    try { v = JSON.parse(t); } catch { v = null; }
    if (!Array.isArray(v)) throw new Error(`Argument ${key} must be a JSON array or items separated by commas`);
    return v;
  }
  return t === "" ? [] : t.split(",").map((i) => i.trim());
}

/// Common queue and exchange arguments, for an argument editor's quick-add links.
export const QUEUE_ARGUMENTS = [
  ["x-queue-type", "string"], ["x-message-ttl", "number"], ["x-expires", "number"],
  ["x-max-length", "number"], ["x-max-length-bytes", "number"], ["x-overflow", "string"],
  ["x-dead-letter-exchange", "string"], ["x-dead-letter-routing-key", "string"],
  ["x-single-active-consumer", "boolean"], ["x-max-priority", "number"],
];
export const EXCHANGE_ARGUMENTS = [["alternate-exchange", "string"]];
