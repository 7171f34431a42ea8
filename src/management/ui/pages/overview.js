// Overview: the node's totals and two charts of the last ten minutes
// (/api/warren/overview-history, a sample every 5 s).

import * as api from "../api.js";
import { h, clear, fmtNum, fmtRate, section } from "../dom.js";
import { lineChart, legend } from "../chart.js";

const RATES = [
  ["Publish", "publish_rate", "#c0622f"],
  ["Deliver / get", "deliver_get_rate", "#2f7fc0"],
  ["Ack", "ack_rate", "#3c9a4a"],
];
const DEPTHS = [
  ["Ready", "messages_ready", "#c9a227"],
  ["Unacked", "messages_unacknowledged", "#8a5ac0"],
];

function tile(label, value, id) {
  return h("div", { class: "tile", id }, h("span", { class: "tile-value" }, value), h("span", { class: "tile-label" }, label));
}

function chartBox(title, times, defs, history, format, unit) {
  const series = defs.map(([name, key, color]) => ({ name, color, values: history.map((p) => p[key] || 0) }));
  return h("figure", { class: "box chart-box" }, h("figcaption", {}, title),
    lineChart(title, times, series, { unit }), legend(series, format));
}

export function render(main) {
  const totals = h("div", { class: "tiles", id: "totals" });
  const charts = h("div", { class: "charts" });
  const node = h("p", { class: "muted", id: "node" });
  main.append(section("Overview", node, totals), section("Last ten minutes", charts));
  return {
    async refresh() {
      const [o, history] = await Promise.all([api.get("/overview"), api.get("/warren/overview-history")]);
      const t = o.object_totals || {};
      const q = o.queue_totals || {};
      const ms = o.message_stats || {};
      clear(node, `${o.product_name || "Warren"} ${o.product_version || ""} on ${o.node}, following RabbitMQ ${o.rabbitmq_version}. Listeners: `,
        (o.listeners || []).map((l) => `${l.protocol} ${l.ip_address}:${l.port}`).join(", "));
      clear(totals,
        tile("Connections", fmtNum(t.connections), "total-connections"),
        tile("Channels", fmtNum(t.channels), "total-channels"),
        tile("Exchanges", fmtNum(t.exchanges), "total-exchanges"),
        tile("Queues", fmtNum(t.queues), "total-queues"),
        tile("Consumers", fmtNum(t.consumers), "total-consumers"),
        tile("Ready", fmtNum(q.messages_ready), "total-ready"),
        tile("Unacked", fmtNum(q.messages_unacknowledged), "total-unacked"),
        tile("Publish", fmtRate(ms.publish_details?.rate ?? 0), "rate-publish"));
      const times = history.map((p) => p.timestamp);
      clear(charts,
        chartBox("Message rates", times, RATES, history, fmtRate, "/s"),
        chartBox("Queued messages", times, DEPTHS, history, fmtNum, ""));
    },
  };
}
