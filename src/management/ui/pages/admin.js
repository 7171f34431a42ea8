// Admin: users, virtual hosts, permissions, topic permissions, limits, policies, and the definitions document
// (download, upload). Administrator only, as the API itself insists.

import * as api from "../api.js";
import { h, clear, fmtNum, table, form, field, input, select, textarea, jsonObject, actionButton, section, fillSelect } from "../dom.js";

const VHOST_LIMITS = ["max-connections", "max-queues"];
const USER_LIMITS = ["max-connections", "max-channels"];

/// One row per vhost or user with limits, a column per limit, each with its Remove button.
function limitsTable(list, key, label, names, id, empty) {
  return table([
    { label, key },
    names.map((name) => ({
      label: name, num: true,
      render: (l) => (l.value?.[name] === undefined ? "" : h("span", { class: "limit" }, fmtNum(l.value[name]), " ",
        actionButton("Remove", `Remove ${name} from ${l[key]}?`, async () => {
          await api.del(`/${id}/${api.seg(l[key])}/${api.seg(name)}`);
          await refreshAdmin();
        }, { class: "danger small", "aria-label": `Remove ${name}` }))),
    })),
  ].flat(), list, { id, empty });
}

let refreshAdmin = async () => {};

export function render(main) {
  const users = h("div");
  const vhosts = h("div");
  const permissions = h("div");
  const topicPermissions = h("div");
  const vhostLimits = h("div");
  const userLimits = h("div");
  const policies = h("div");
  const userSelects = [];
  const vhostSelects = [];
  const vhostField = () => {
    const s = select("vhost", []);
    vhostSelects.push(s);
    return s;
  };

  const addUser = form("Add a user", [
    field("Username", input("name", { required: true, autocomplete: "off" })),
    field("Password", input("password", { type: "password", autocomplete: "new-password" })),
    field("Tags", input("tags", { placeholder: "administrator, management", list: "known-tags" })),
    h("datalist", { id: "known-tags" }, ["administrator", "monitoring", "policymaker", "management", "impersonator"].map((t) => h("option", { value: t }))),
  ], async (v) => {
    const body = { tags: v.tags.split(",").map((t) => t.trim()).filter(Boolean).join(",") };
    if (v.password) body.password = v.password;
    else body.password_hash = "";
    await api.put(`/users/${api.seg(v.name)}`, body);
    await page.refresh();
  }, { id: "add-user", done: (_, v) => `User ${v.name} saved.` });

  const addVhost = form("Add a virtual host", [
    field("Name", input("name", { required: true })),
    field("Description", input("description")),
    field("Tags", input("tags", { placeholder: "comma-separated" })),
    field("Default queue type", select("default_queue_type", [["", "classic (not set)"], "classic", "quorum", "stream"])),
  ], async (v) => {
    await api.put(`/vhosts/${api.seg(v.name)}`, { description: v.description, tags: v.tags, default_queue_type: v.default_queue_type || undefined });
    await page.refresh();
  }, { id: "add-vhost", done: (_, v) => `Virtual host ${v.name} added.` });

  const userSelect = select("user", []);
  userSelects.push(userSelect);
  const setPermission = form("Set permission", [
    field("User", userSelect),
    field("Virtual host", vhostField()),
    field("Configure regexp", input("configure", { value: ".*" })),
    field("Write regexp", input("write", { value: ".*" })),
    field("Read regexp", input("read", { value: ".*" })),
  ], async (v) => {
    await api.put(`/permissions/${api.seg(v.vhost)}/${api.seg(v.user)}`, { configure: v.configure, write: v.write, read: v.read });
    await page.refresh();
  }, { id: "set-permission", submit: "Set permission", done: "Permission set." });

  const topicUserSelect = select("user", []);
  userSelects.push(topicUserSelect);
  const setTopicPermission = form("Set topic permission", [
    field("User", topicUserSelect),
    field("Virtual host", vhostField()),
    field("Exchange", input("exchange", { value: "amq.topic" })),
    field("Write regexp", input("write", { value: ".*" })),
    field("Read regexp", input("read", { value: ".*" })),
  ], async (v) => {
    await api.put(`/topic-permissions/${api.seg(v.vhost)}/${api.seg(v.user)}`, { exchange: v.exchange, write: v.write, read: v.read });
    await page.refresh();
  }, { id: "set-topic-permission", submit: "Set topic permission", done: "Topic permission set." });

  // A blank value is sent without one, so the API's own refusal shows.
  const limitBody = (v) => (v.value.trim() === "" ? {} : { value: Number(v.value) });
  const setVhostLimit = form("Set a virtual host limit", [
    field("Virtual host", vhostField()),
    field("Limit", select("name", VHOST_LIMITS)),
    field("Value", input("value", { type: "number", step: 1, placeholder: "-1 for no limit" })),
  ], async (v) => {
    await api.put(`/vhost-limits/${api.seg(v.vhost)}/${api.seg(v.name)}`, limitBody(v));
    await page.refresh();
  }, { id: "set-vhost-limit", submit: "Set limit", done: (_, v) => `Limit ${v.name} set on ${v.vhost}.` });
  const limitUserSelect = select("user", []);
  userSelects.push(limitUserSelect);
  const setUserLimit = form("Set a user limit", [
    field("User", limitUserSelect),
    field("Limit", select("name", USER_LIMITS)),
    field("Value", input("value", { type: "number", step: 1, placeholder: "-1 for no limit" })),
  ], async (v) => {
    await api.put(`/user-limits/${api.seg(v.user)}/${api.seg(v.name)}`, limitBody(v));
    await page.refresh();
  }, { id: "set-user-limit", submit: "Set limit", done: (_, v) => `Limit ${v.name} set on ${v.user}.` });

  const addPolicy = form("Add or update a policy", [
    field("Virtual host", vhostField()),
    field("Name", input("name", { required: true })),
    field("Pattern", input("pattern", { required: true, placeholder: "^orders\\." })),
    field("Apply to", select("apply_to", [["all", "Exchanges and queues"], ["queues", "Queues"], ["classic_queues", "Classic queues"], ["exchanges", "Exchanges"]])),
    field("Priority", input("priority", { type: "number", value: 0 })),
    field("Definition (JSON)", textarea("definition", { required: true, placeholder: '{"max-length": 1000, "message-ttl": 60000}' })),
  ], async (v) => {
    await api.put(`/policies/${api.seg(v.vhost)}/${api.seg(v.name)}`, {
      pattern: v.pattern, "apply-to": v.apply_to, priority: Number(v.priority) || 0,
      definition: jsonObject(v.definition, "Definition"),
    });
    await page.refresh();
  }, { id: "add-policy", submit: "Save policy", done: (_, v) => `Policy ${v.name} saved.` });

  const download = form("Export definitions", [
    h("p", { class: "muted" }, "Users, virtual hosts, permissions, policies, exchanges, queues and bindings, in RabbitMQ's format."),
  ], async () => {
    const name = `warren-definitions-${new Date().toISOString().slice(0, 10)}.json`;
    const r = await api.raw("GET", `/definitions${api.query({ download: name })}`);
    const url = URL.createObjectURL(await r.blob());
    const a = h("a", { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    return name;
  }, { id: "download-definitions", submit: "Download broker definitions", done: (name) => `Saved ${name}.` });

  const upload = form("Import definitions", [
    field("Definitions file (JSON)", input("file", { type: "file", accept: ".json,application/json", required: true, id: "definitions-file" })),
  ], async (_, f) => {
    const file = f.querySelector("input[type=file]").files[0];
    if (!file) throw new Error("Choose a definitions file first.");
    await api.post("/definitions", await file.text());
    await page.refresh();
    return file.name;
  }, { id: "upload-definitions", submit: "Upload broker definitions", done: (name) => `Imported ${name}.` });

  main.append(
    section("Users", users, addUser),
    section("Virtual hosts", vhosts, addVhost),
    section("Permissions", permissions, setPermission),
    section("Topic permissions", topicPermissions, setTopicPermission),
    section("Limits", h("h3", {}, "Virtual host limits"), vhostLimits, h("h3", {}, "User limits"), userLimits,
      h("div", { class: "forms" }, setVhostLimit, setUserLimit)),
    section("Policies", policies, addPolicy),
    section("Definitions", h("div", { class: "forms" }, download, upload)));

  const page = {
    async refresh() {
      const [us, vs, ps, pols, tps, vls, uls] = await Promise.all([api.get("/users"), api.get("/vhosts"), api.get("/permissions"),
        api.get("/policies"), api.get("/topic-permissions"), api.get("/vhost-limits"), api.get("/user-limits")]);
      for (const s of userSelects) fillSelect(s, us.map((u) => u.name));
      for (const s of vhostSelects) fillSelect(s, vs.map((v) => v.name));
      clear(users, table([
        { label: "Name", key: "name" },
        { label: "Tags", render: (u) => (Array.isArray(u.tags) ? u.tags.join(", ") : u.tags) },
        { label: "Can access virtual hosts", render: (u) => ps.filter((p) => p.user === u.name).map((p) => p.vhost).join(", ") || "No access" },
        { label: "", render: (u) => actionButton("Delete", `Delete user ${u.name}?`, async () => {
          await api.del(`/users/${api.seg(u.name)}`);
          await page.refresh();
        }, { class: "danger small" }) },
      ], us, { id: "users" }));
      clear(vhosts, table([
        { label: "Name", key: "name" },
        { label: "Description", key: "description" },
        { label: "Tags", render: (v) => (v.tags || []).join(", ") },
        { label: "Default queue type", key: "default_queue_type" },
        { label: "Users", render: (v) => ps.filter((p) => p.vhost === v.name).map((p) => p.user).join(", ") },
        { label: "Ready", render: (v) => fmtNum(v.messages_ready), num: true },
        { label: "Unacked", render: (v) => fmtNum(v.messages_unacknowledged), num: true },
        { label: "", render: (v) => actionButton("Delete", `Delete virtual host ${v.name} and everything in it?`, async () => {
          await api.del(`/vhosts/${api.seg(v.name)}`);
          await page.refresh();
        }, { class: "danger small" }) },
      ], vs, { id: "vhosts" }));
      clear(permissions, table([
        { label: "User", key: "user" },
        { label: "Virtual host", key: "vhost" },
        { label: "Configure", key: "configure" },
        { label: "Write", key: "write" },
        { label: "Read", key: "read" },
        { label: "", render: (p) => actionButton("Clear", `Clear ${p.user}'s permissions in ${p.vhost}?`, async () => {
          await api.del(`/permissions/${api.seg(p.vhost)}/${api.seg(p.user)}`);
          await page.refresh();
        }, { class: "danger small" }) },
      ], ps, { id: "permissions" }));
      clear(topicPermissions, table([
        { label: "User", key: "user" },
        { label: "Virtual host", key: "vhost" },
        { label: "Exchange", key: "exchange" },
        { label: "Write", key: "write" },
        { label: "Read", key: "read" },
        { label: "", render: (p) => actionButton("Clear", `Clear ${p.user}'s topic permission on ${p.exchange} in ${p.vhost}?`, async () => {
          await api.del(`/topic-permissions/${api.seg(p.vhost)}/${api.seg(p.user)}${api.query({ exchange: p.exchange })}`);
          await page.refresh();
        }, { class: "danger small" }) },
      ], tps, { id: "topic-permissions", empty: "No topic permissions." }));
      clear(vhostLimits, limitsTable(vls, "vhost", "Virtual host", VHOST_LIMITS, "vhost-limits", "No virtual host limits."));
      clear(userLimits, limitsTable(uls, "user", "User", USER_LIMITS, "user-limits", "No user limits."));
      clear(policies, table([
        { label: "Virtual host", key: "vhost" },
        { label: "Name", key: "name" },
        { label: "Pattern", key: "pattern" },
        { label: "Apply to", key: "apply-to" },
        { label: "Priority", key: "priority", num: true },
        { label: "Definition", render: (p) => JSON.stringify(p.definition) },
        { label: "", render: (p) => actionButton("Delete", `Delete policy ${p.name}?`, async () => {
          await api.del(`/policies/${api.seg(p.vhost)}/${api.seg(p.name)}`);
          await page.refresh();
        }, { class: "danger small" }) },
      ], pols, { id: "policies", empty: "No policies." }));
    },
  };
  refreshAdmin = () => page.refresh();
  return page;
}
