// Connections and channels: who is connected and what their channels are doing; a
// connection can be closed with a reason its client sees.

import * as api from "../api.js";
import { h, clear, fmtNum, fmtRate, fmtBytes, table, actionButton, section } from "../dom.js";

function closeButton(c, page) {
  return actionButton("Close", null, async () => {
    const reason = window.prompt(`Close connection ${c.name}? Reason sent to the client:`, "Closed via management UI");
    if (reason === null) return;
    await api.del(`/connections/${api.seg(c.name)}`, { "X-Reason": reason });
    await page.refresh();
  }, { class: "danger small" });
}

export function renderConnections(main) {
  const live = h("div");
  main.append(section("Connections", live));
  const page = {
    async refresh() {
      const list = await api.get("/connections");
      clear(live, table([
        { label: "Name", render: (c) => [c.name, c.user_provided_name && h("div", { class: "muted" }, c.user_provided_name)] },
        { label: "User", key: "user" },
        { label: "Virtual host", key: "vhost" },
        { label: "Client", render: (c) => [c.client_properties?.product, c.client_properties?.version].filter(Boolean).join(" ") },
        { label: "Protocol", render: (c) => `${c.protocol || ""}${c.ssl ? " TLS" : ""}` },
        { label: "State", key: "state" },
        { label: "Channels", key: "channels", num: true },
        { label: "From client", render: (c) => `${fmtBytes(c.recv_oct_details?.rate ?? 0)}/s`, num: true },
        { label: "To client", render: (c) => `${fmtBytes(c.send_oct_details?.rate ?? 0)}/s`, num: true },
        { label: "", render: (c) => closeButton(c, page) },
      ], list, { id: "connections", empty: "No connections." }));
    },
  };
  return page;
}

export function renderChannels(main) {
  const live = h("div");
  main.append(section("Channels", live));
  return {
    async refresh() {
      const list = await api.get("/channels");
      clear(live, table([
        { label: "Channel", key: "name" },
        { label: "User", key: "user" },
        { label: "Virtual host", key: "vhost" },
        { label: "Mode", render: (c) => [c.confirm && "confirm", c.transactional && "tx"].filter(Boolean).join(" ") },
        { label: "Prefetch", render: (c) => fmtNum(c.prefetch_count), num: true },
        { label: "Consumers", render: (c) => fmtNum(c.consumer_count), num: true },
        { label: "Unacked", render: (c) => fmtNum(c.messages_unacknowledged), num: true },
        { label: "Publish", render: (c) => fmtRate(c.message_stats?.publish_details?.rate ?? 0), num: true },
        { label: "Deliver / get", render: (c) => fmtRate(c.message_stats?.deliver_get_details?.rate ?? 0), num: true },
        { label: "Ack", render: (c) => fmtRate(c.message_stats?.ack_details?.rate ?? 0), num: true },
      ], list, { id: "channels", empty: "No channels." }));
    },
  };
}
