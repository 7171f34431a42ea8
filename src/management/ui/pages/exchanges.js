// Exchanges: the list, declaring and deleting, and publishing a message by hand.

import * as api from "../api.js";
import { h, clear, fmtRate, table, form, field, input, select, textarea, jsonObject, actionButton, section, features, fillSelect, argumentEditor, argumentsOf, EXCHANGE_ARGUMENTS } from "../dom.js";

const TYPES = ["direct", "fanout", "topic", "headers"];

function displayName(name) {
  return name === "" ? "(AMQP default)" : name;
}

export function render(main) {
  const live = h("div");
  const vhostSelects = [];
  const exchangeList = h("datalist", { id: "exchange-names" });
  const vhostField = () => {
    const s = select("vhost", []);
    vhostSelects.push(s);
    return s;
  };

  const exchangeArgs = argumentEditor(EXCHANGE_ARGUMENTS, { id: "exchange-arguments" });
  const add = form("Add an exchange", [
    field("Virtual host", vhostField()),
    field("Name", input("name", { required: true })),
    field("Type", select("type", TYPES)),
    field("Durability", select("durable", [["true", "Durable"], ["false", "Transient"]])),
    field("Auto-delete", input("auto_delete", { type: "checkbox" })),
    field("Internal", input("internal", { type: "checkbox" })),
    h("div", { class: "field" }, h("span", {}, "Arguments"), exchangeArgs),
  ], async (v) => {
    await api.put(`/exchanges/${api.seg(v.vhost)}/${api.seg(v.name)}`, {
      type: v.type, durable: v.durable === "true", auto_delete: v.auto_delete, internal: v.internal,
      arguments: argumentsOf(exchangeArgs),
    });
    await page.refresh();
  }, { id: "add-exchange", done: (_, v) => `Exchange ${v.name} declared.` });

  const publish = form("Publish a message", [
    field("Virtual host", vhostField()),
    field("Exchange", input("exchange", { list: "exchange-names", placeholder: "(AMQP default)" })),
    field("Routing key", input("routing_key")),
    field("Delivery mode", select("delivery_mode", [["1", "1 - Non-persistent"], ["2", "2 - Persistent"]])),
    field("Headers (JSON)", textarea("headers", { placeholder: '{"x-tenant": "a"}' })),
    field("Properties (JSON)", textarea("properties", { placeholder: '{"content_type": "text/plain", "message_id": "m1"}' })),
    field("Payload encoding", select("payload_encoding", [["string", "String"], ["base64", "Base64"]])),
    field("Payload", textarea("payload", { rows: 5 })),
  ], async (v) => {
    const properties = jsonObject(v.properties, "Properties");
    properties.delivery_mode = Number(v.delivery_mode);
    const headers = jsonObject(v.headers, "Headers");
    if (Object.keys(headers).length) properties.headers = headers;
    const name = v.exchange === "" ? "amq.default" : v.exchange;
    return api.post(`/exchanges/${api.seg(v.vhost)}/${api.seg(name)}/publish`, {
      routing_key: v.routing_key, payload: v.payload, payload_encoding: v.payload_encoding, properties,
    });
  }, {
    id: "publish", submit: "Publish message",
    done: (r) => (r && r.routed ? "Message published and routed." : "Message published, but not routed to any queue."),
  });

  main.append(section("Exchanges", live), h("div", { class: "forms" }, add, publish), exchangeList);

  const page = {
    async refresh() {
      const [list, vhosts] = await Promise.all([api.get("/exchanges"), api.get("/vhosts")]);
      for (const s of vhostSelects) fillSelect(s, vhosts.map((v) => v.name));
      clear(exchangeList, [...new Set(list.map((x) => x.name))].filter(Boolean).map((n) => h("option", { value: n })));
      clear(live, table([
        { label: "Virtual host", key: "vhost" },
        { label: "Name", render: (x) => displayName(x.name) },
        { label: "Type", key: "type" },
        { label: "Features", render: features },
        { label: "Rate in", render: (x) => fmtRate(x.message_stats?.publish_in_details?.rate ?? 0), num: true },
        { label: "Rate out", render: (x) => fmtRate(x.message_stats?.publish_out_details?.rate ?? 0), num: true },
        { label: "", render: (x) => (x.name === "" || x.name.startsWith("amq.") ? "" :
          actionButton("Delete", `Delete exchange ${x.name}?`, async () => {
            await api.del(`/exchanges/${api.seg(x.vhost)}/${api.seg(x.name)}`);
            await page.refresh();
          }, { class: "danger small" })) },
      ], list, { id: "exchanges" }));
    },
  };
  return page;
}
