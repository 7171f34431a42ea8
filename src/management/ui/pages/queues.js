// Queues: a page of the list at a time, sorted, filtered and paginated by the API itself
// (page, page_size, sort, sort_reverse, name, use_regex, columns), so ten thousand queues
// cost one page of JSON; and one queue's page with its consumers, bindings, Get messages,
// Purge and Delete.

import * as api from "../api.js";
import { h, clear, fmtNum, fmtRate, fmtBytes, table, form, field, input, select, textarea, jsonObject, actionButton, section, features, errorBox, pre, fillSelect, argumentEditor, argumentsOf, QUEUE_ARGUMENTS } from "../dom.js";

const COLUMNS = [
  "vhost", "name", "type", "state", "durable", "auto_delete", "exclusive", "arguments", "policy",
  "consumers", "messages", "messages_ready", "messages_unacknowledged",
  "message_stats.publish_details.rate", "message_stats.deliver_get_details.rate", "message_stats.ack_details.rate",
].join(",");

/// The list's view, kept while the user visits a queue and comes back.
const view = { page: 1, pageSize: 100, sort: "", reverse: false, name: "", regex: false };

export function queueHref(q) {
  return `#/queues/${encodeURIComponent(q.vhost)}/${encodeURIComponent(q.name)}`;
}

function rate(path) {
  return (q) => fmtRate(path.split(".").reduce((o, k) => o?.[k], q) ?? 0);
}

export function renderList(main) {
  const live = h("div");
  const pager = h("div", { class: "pager", id: "pager" });
  const filter = h("input", { type: "search", id: "queue-filter", placeholder: "Filter by name", value: view.name, "aria-label": "Filter queues by name" });
  const regex = h("input", { type: "checkbox", id: "queue-regex", checked: view.regex });
  const size = h("select", { id: "page-size", "aria-label": "Page size" }, [20, 50, 100, 500].map((n) => h("option", { value: n, selected: n === view.pageSize }, `${n} per page`)));
  let typing = null;
  // A redraw the user asked for shows its failure in place of the list.
  const redraw = () => page.refresh().catch((err) => clear(live, errorBox(err)));
  filter.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => { view.name = filter.value; view.page = 1; redraw(); }, 250);
  });
  regex.addEventListener("change", () => { view.regex = regex.checked; view.page = 1; redraw(); });
  size.addEventListener("change", () => { view.pageSize = Number(size.value); view.page = 1; redraw(); });

  const vhostSelect = select("vhost", []);
  const queueArgs = argumentEditor(QUEUE_ARGUMENTS, { id: "queue-arguments" });
  const add = form("Add a queue", [
    field("Virtual host", vhostSelect),
    field("Name", input("name", { required: true })),
    field("Durability", select("durable", [["true", "Durable"], ["false", "Transient"]])),
    field("Auto-delete", input("auto_delete", { type: "checkbox" })),
    h("div", { class: "field" }, h("span", {}, "Arguments"), queueArgs),
  ], async (v) => {
    await api.put(`/queues/${api.seg(v.vhost)}/${api.seg(v.name)}`, {
      durable: v.durable === "true", auto_delete: v.auto_delete, arguments: argumentsOf(queueArgs),
    });
    await page.refresh();
  }, { id: "add-queue", done: (_, v) => `Queue ${v.name} declared.` });

  main.append(section("Queues",
    h("div", { class: "toolbar" }, filter, h("label", { class: "inline" }, regex, " Regex"), size, pager), live), add);

  const sorting = () => ({
    key: view.sort, reverse: view.reverse,
    onSort: (key, reverse) => { view.sort = key; view.reverse = reverse; redraw(); },
  });

  async function fetchPage() {
    const q = (p) => api.get(`/queues${api.query({
      page: p, page_size: view.pageSize, name: view.name, use_regex: view.regex ? "true" : "",
      sort: view.sort, sort_reverse: view.reverse ? "true" : "", columns: COLUMNS,
    })}`);
    try {
      return await q(view.page);
    } catch (err) {
      // The list shrank under the current page (queues deleted, filter narrowed).
      if (err.error !== "page_out_of_range") throw err;
      view.page = 1;
      return q(1);
    }
  }

  function renderPager(r) {
    const go = (p) => () => { view.page = p; redraw(); };
    clear(pager,
      h("button", { type: "button", class: "small", disabled: r.page <= 1, onclick: go(r.page - 1), "aria-label": "Previous page" }, "‹"),
      h("span", { id: "page-info" }, ` Page ${r.page} of ${Math.max(r.page_count, 1)} · ${fmtNum(r.filtered_count)} of ${fmtNum(r.total_count)} queues `),
      h("button", { type: "button", class: "small", disabled: r.page >= r.page_count, onclick: go(r.page + 1), "aria-label": "Next page" }, "›"));
  }

  // Typing, sorting and the timer each start a refresh; only the latest may draw.
  let latest = 0;
  const page = {
    async refresh() {
      const mine = ++latest;
      const [r, vhosts] = await Promise.all([fetchPage(), api.get("/vhosts")]);
      if (mine !== latest) return;
      fillSelect(vhostSelect, vhosts.map((v) => v.name));
      renderPager(r);
      clear(live, table([
        { label: "Virtual host", key: "vhost", sort: true },
        { label: "Name", sort: "name", render: (q) => h("a", { href: queueHref(q), class: "queue-link" }, q.name) },
        { label: "Type", key: "type" },
        { label: "Features", render: features },
        { label: "State", key: "state" },
        { label: "Consumers", key: "consumers", sort: true, num: true },
        { label: "Ready", render: (q) => fmtNum(q.messages_ready), sort: "messages_ready", num: true },
        { label: "Unacked", render: (q) => fmtNum(q.messages_unacknowledged), sort: "messages_unacknowledged", num: true },
        { label: "Total", render: (q) => fmtNum(q.messages), sort: "messages", num: true },
        { label: "Incoming", render: rate("message_stats.publish_details.rate"), sort: "message_stats.publish_details.rate", num: true },
        { label: "Deliver / get", render: rate("message_stats.deliver_get_details.rate"), sort: "message_stats.deliver_get_details.rate", num: true },
        { label: "Ack", render: rate("message_stats.ack_details.rate"), sort: "message_stats.ack_details.rate", num: true },
      ], r.items, { id: "queues", sorting: sorting(), empty: view.name ? "No queue matches the filter." : "No queues." }));
    },
  };
  return page;
}

function kv(rows) {
  return h("table", { class: "kv" }, h("tbody", {}, rows.map(([k, v, id]) => h("tr", {}, h("th", {}, k), h("td", { id }, v)))));
}

function messageView(m, i) {
  const props = m.properties && !Array.isArray(m.properties) ? m.properties : {};
  return h("div", { class: "box message" },
    h("h4", {}, `Message ${i + 1}`),
    kv([
      ["Exchange", m.exchange === "" ? "(AMQP default)" : m.exchange],
      ["Routing key", m.routing_key],
      ["Redelivered", String(m.redelivered)],
      ["Left in queue", fmtNum(m.message_count)],
      ["Properties", Object.keys(props).length ? pre(JSON.stringify(props, null, 2)) : "none"],
      ["Payload", h("div", {}, h("span", { class: "muted" }, `${fmtNum(m.payload_bytes)} bytes, encoding: ${m.payload_encoding}`), h("pre", { class: "payload" }, m.payload))],
    ]));
}

export function renderDetail(main, vhost, name) {
  const path = `/queues/${api.seg(vhost)}/${api.seg(name)}`;
  const summary = h("div");
  const consumers = h("div");
  const bindings = h("div");
  const got = h("div", { id: "messages" });
  const top = h("div", { class: "toolbar" },
    h("a", { href: "#/queues" }, "← All queues"),
    actionButton("Purge", `Purge every ready message of ${name}?`, async () => {
      await api.del(`${path}/contents`);
      await page.refresh();
    }, { id: "purge", class: "danger" }),
    actionButton("Delete", `Delete queue ${name}?`, async () => {
      await api.del(path);
      location.hash = "#/queues";
    }, { id: "delete-queue", class: "danger" }));

  const getForm = form("Get messages", [
    field("Ack mode", select("ackmode", [
      ["ack_requeue_true", "Nack message requeue true"],
      ["reject_requeue_true", "Reject requeue true"],
      ["ack_requeue_false", "Automatic ack"],
      ["reject_requeue_false", "Reject requeue false"],
    ])),
    field("Encoding", select("encoding", [["auto", "Auto string / base64"], ["base64", "base64"]])),
    field("Messages", input("count", { type: "number", min: 1, value: 1 })),
  ], async (v) => {
    const list = await api.post(`${path}/get`, { count: Number(v.count) || 1, ackmode: v.ackmode, encoding: v.encoding, truncate: 50000 });
    clear(got, list.length ? list.map(messageView) : h("p", { class: "muted" }, "Queue is empty."));
    await page.refresh();
    return list;
  }, { id: "get-messages", submit: "Get message(s)", done: (list) => `${list.length} message(s) fetched.` });

  const bind = form("Bind this queue", [
    field("From exchange", input("source", { required: true })),
    field("Routing key", input("routing_key")),
    field("Arguments (JSON)", textarea("arguments")),
  ], async (v) => {
    await api.post(`/bindings/${api.seg(vhost)}/e/${api.seg(v.source)}/q/${api.seg(name)}`, {
      routing_key: v.routing_key, arguments: jsonObject(v.arguments, "Arguments"),
    });
    await page.refresh();
  }, { id: "bind-queue", submit: "Bind", done: "Bound." });

  main.append(
    section(`Queue ${name}`, h("p", { class: "muted" }, `in virtual host ${vhost}`), top, summary),
    h("div", { class: "forms" }, getForm, bind),
    got,
    section("Consumers", consumers),
    section("Bindings", bindings));

  const page = {
    async refresh() {
      let q, bs;
      try {
        [q, bs] = await Promise.all([api.get(path), api.get(`${path}/bindings`)]);
      } catch (err) {
        if (err.status === 404) {
          clear(summary, errorBox(new Error(`Queue ${name} does not exist in ${vhost}.`)));
          return;
        }
        throw err;
      }
      clear(summary, h("div", { class: "tiles" },
        h("div", { class: "tile" }, h("span", { class: "tile-value", id: "depth-ready" }, fmtNum(q.messages_ready)), h("span", { class: "tile-label" }, "Ready")),
        h("div", { class: "tile" }, h("span", { class: "tile-value", id: "depth-unacked" }, fmtNum(q.messages_unacknowledged)), h("span", { class: "tile-label" }, "Unacked")),
        h("div", { class: "tile" }, h("span", { class: "tile-value", id: "depth-total" }, fmtNum(q.messages)), h("span", { class: "tile-label" }, "Total")),
        h("div", { class: "tile" }, h("span", { class: "tile-value" }, fmtNum(q.consumers)), h("span", { class: "tile-label" }, "Consumers")),
        h("div", { class: "tile" }, h("span", { class: "tile-value" }, fmtBytes(q.message_bytes)), h("span", { class: "tile-label" }, "Ready bytes"))),
      kv([
        ["Type", q.type], ["State", q.state], ["Features", features(q)],
        ["Policy", q.policy || "none"],
        ["Effective policy definition", q.effective_policy_definition && Object.keys(q.effective_policy_definition).length ? pre(JSON.stringify(q.effective_policy_definition)) : "none"],
        ["Incoming", fmtRate(q.message_stats?.publish_details?.rate ?? 0)],
        ["Deliver / get", fmtRate(q.message_stats?.deliver_get_details?.rate ?? 0)],
        ["Ack", fmtRate(q.message_stats?.ack_details?.rate ?? 0)],
      ]));
      clear(consumers, table([
        { label: "Channel", render: (c) => c.channel_details?.name ?? "" },
        { label: "Consumer tag", key: "consumer_tag" },
        { label: "Ack required", render: (c) => String(c.ack_required) },
        { label: "Exclusive", render: (c) => String(c.exclusive) },
        { label: "Prefetch", key: "prefetch_count", num: true },
        { label: "Status", key: "activity_status" },
      ], q.consumer_details || [], { empty: "No consumers." }));
      clear(bindings, table([
        { label: "From", render: (b) => (b.source === "" ? "(AMQP default)" : b.source) },
        { label: "Routing key", key: "routing_key" },
        { label: "Arguments", render: (b) => (b.arguments && Object.keys(b.arguments).length ? JSON.stringify(b.arguments) : "") },
        { label: "", render: (b) => (b.source === "" ? "" : actionButton("Unbind", null, async () => {
          await api.del(`/bindings/${api.seg(vhost)}/e/${api.seg(b.source)}/q/${api.seg(name)}/${api.seg(b.properties_key)}`);
          await page.refresh();
        }, { class: "small" })) },
      ], bs, { id: "bindings" }));
    },
  };
  return page;
}
