// invoicebridge on-call dashboard. Plain DOM, no framework, no network but our own API.
// Every action goes through /admin/api/ with the signed-in token, so the page can do exactly
// what the token's role allows. Text from the ledger is only ever set as textContent.
"use strict";

const API = "/admin/api";
const REFRESH_MS = 3000;
const STATES = ["received", "queued", "running", "retrying", "done", "failed",
  "needs_attention", "ignored", "unreadable", "resolved", "discarded"];
const RETRYABLE = ["failed", "needs_attention", "retrying", "received", "queued"];
const session = { token: sessionStorage.getItem("ib-token"), who: null, timer: null, busy: false };

// -- small helpers ------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "text") el.textContent = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const $ = (id) => document.getElementById(id);
const when = (unix) => unix ? new Date(Number(unix) * 1000).toLocaleString(undefined,
  { dateStyle: "medium", timeStyle: "medium" }) : "";
const label = (state) => String(state || "").replaceAll("_", " ").replaceAll(",", " or ");
const badge = (state) => h("span", { class: `badge ${state}`, "data-state": state, text: label(state) });
const canAct = () => session.who && session.who.role === "operator";
// table headings; a name ending in "#" heads a column of numbers
const heads = (names) => h("thead", {}, h("tr", {}, names.map((name) => name.endsWith("#")
  ? h("th", { class: "num", text: name.slice(0, -1) }) : h("th", { text: name }))));

function toast(message, bad = false) {
  const el = h("div", { class: bad ? "toast bad" : "toast", role: "status", text: message });
  $("toasts").append(el);
  setTimeout(() => el.remove(), 5000);
}

class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
  }
}

async function api(path, options = {}) {
  const init = { method: options.method || "GET", headers: { Authorization: `Bearer ${session.token}` } };
  if (options.body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.body);
  }
  const response = await fetch(API + path, init);
  const data = await response.json().catch(() => ({}));
  if (response.status === 401) { signOut("Your token was refused; sign in again."); }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

async function act(promise, done) {
  try {
    const result = await promise;
    toast(done(result));
    await refresh();
  } catch (error) {
    toast(error.message, true);
  }
}

// -- session ------------------------------------------------------------------------------

async function signIn(token) {
  session.token = token;
  session.who = await api("/whoami");
  sessionStorage.setItem("ib-token", token);
  $("who").textContent = `${session.who.name} · ${session.who.role}`;
  $("login").hidden = true;
  for (const id of ["nav", "session", "view"]) $(id).hidden = false;
  if (!location.hash || location.hash === "#/login") location.hash = "#/overview";
  else route();
}

function signOut(message) {
  sessionStorage.removeItem("ib-token");
  Object.assign(session, { token: null, who: null });
  clearInterval(session.timer);
  for (const id of ["nav", "session", "view"]) $(id).hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  $("token").value = "";
  $("token").focus();
}

// -- routing and live refresh --------------------------------------------------------------

function parseHash() {
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean);
  return { view: parts[0] || "overview", id: parts[1] ? decodeURIComponent(parts[1]) : null,
    params: new URLSearchParams(query || "") };
}

const views = {};

async function refresh() {
  if (!session.who || session.busy) return;
  const { view, id, params } = parseHash();
  const render = view === "events" && id ? views.detail : views[view] || views.overview;
  session.busy = true;
  try {
    const node = await render(id, params);
    if (node) $("view").replaceChildren(node);
    $("live").classList.remove("stale");
    $("live-text").textContent = `live · ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    $("live").classList.add("stale");
    if (error instanceof ApiError && error.status === 404) {
      $("view").replaceChildren(h("div", { class: "card empty", text: error.message }));
    } else {
      $("live-text").textContent = "reconnecting…";
    }
  } finally {
    session.busy = false;
  }
}

function route() {
  if (!session.who) return;
  const { view } = parseHash();
  for (const link of document.querySelectorAll("nav a")) {
    link.classList.toggle("active", link.dataset.view === view);
  }
  $("view").replaceChildren(h("div", { class: "muted", text: "Loading…" }));
  clearInterval(session.timer);
  refresh();
  // the detail and overview stay live; a list being filtered stays still until asked
  session.timer = setInterval(() => {
    const typing = document.activeElement && ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
    if (!typing && !$("note-dialog").open) refresh();
  }, REFRESH_MS);
}

// -- overview ---------------------------------------------------------------------------

function stat(name, value, tone, testid) {
  return h("div", { class: `card stat ${tone || ""}`, "data-testid": testid },
    h("div", { class: "label", text: name }), h("div", { class: "value", text: value }));
}

function chart(hours) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  const width = 720, height = 170, pad = 18, slot = (width - pad) / hours.length;
  const top = Math.max(1, ...hours.map((x) => Math.max(x.received, x.done + x.failed + x.needs_attention)));
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("class", "chart");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "events per hour");
  const bar = (x, y, w, hgt, cls, tip) => {
    const rect = document.createElementNS(ns, "rect");
    for (const [k, v] of Object.entries({ x, y, width: Math.max(w, 1), height: Math.max(hgt, 0), class: cls, rx: 1.5 })) rect.setAttribute(k, v);
    const title = document.createElementNS(ns, "title");
    title.textContent = tip;
    rect.append(title);
    svg.append(rect);
  };
  const scale = (n) => (n / top) * (height - pad - 6);
  hours.forEach((hour, i) => {
    const x = pad + i * slot, w = slot / 2 - 2, base = height - pad;
    const at = new Date(hour.hour).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    bar(x, base - scale(hour.received), w, scale(hour.received), "bar-received", `${at}: ${hour.received} received`);
    const bad = hour.failed + hour.needs_attention;
    bar(x + w + 1, base - scale(hour.done), w, scale(hour.done), "bar-done", `${at}: ${hour.done} done`);
    bar(x + w + 1, base - scale(hour.done) - scale(bad), w, scale(bad), "bar-failed", `${at}: ${bad} failed`);
    if (i % 4 === 0) {
      const text = document.createElementNS(ns, "text");
      text.setAttribute("x", x); text.setAttribute("y", height - 4); text.setAttribute("class", "axis");
      text.textContent = at;
      svg.append(text);
    }
  });
  return svg;
}

function tenantRow(tenant) {
  const toggle = tenant.paused ? "resume" : "pause";
  return h("tr", { "data-tenant": tenant.tenant },
    h("td", {}, h("strong", { text: tenant.tenant }), " ", tenant.paused ? badge("paused") : null),
    h("td", { class: "muted", text: `${tenant.source} → ${tenant.provider}`
      + (tenant.last_ping_at ? ` · last set-up ping ${when(tenant.last_ping_at)}` : "") }),
    h("td", { class: "num" }, h("a", { href: `#/events?state=failed&tenant=${encodeURIComponent(tenant.tenant)}`, text: tenant.failed })),
    h("td", { class: "num" }, h("a", { href: `#/events?state=needs_attention&tenant=${encodeURIComponent(tenant.tenant)}`, text: tenant.needs_attention })),
    h("td", {}, h("button", { type: "button", disabled: !canAct(), "data-testid": `${toggle}-${tenant.tenant}`,
      onclick: () => act(api(`/tenants/${encodeURIComponent(tenant.tenant)}/${toggle}`, { method: "POST" }),
        () => `${tenant.tenant} ${toggle === "pause" ? "paused: events wait, still recorded" : "resumed"}`),
      text: toggle === "pause" ? "Pause" : "Resume" })));
}

views.overview = async () => {
  const data = await api("/overview?hours=24");
  const c = data.counts, q = data.queue;
  const last24 = data.hours.reduce((sum, x) => sum + x.done, 0);
  const received24 = data.hours.reduce((sum, x) => sum + x.received, 0);
  return h("div", {},
    h("div", { class: "page-head" }, h("h1", { text: "Overview" }), h("span", { class: "muted", text: "last 24 hours" })),
    h("div", { class: "grid stats" },
      stat("Failed", c.failed, c.failed ? "bad" : "ok", "count-failed"),
      stat("Needs attention", c.needs_attention, c.needs_attention ? "warn" : "ok", "count-needs_attention"),
      stat("Unreadable", c.unreadable || 0, c.unreadable ? "bad" : "ok", "count-unreadable"),
      stat("Retrying", c.retrying, "", "count-retrying"),
      stat("Queued", c.queued + c.received, "", "count-queued"),
      stat("Running", c.running, "", "count-running"),
      stat("Done (24 h)", last24, "ok", "done-24h"),
      stat("Received (24 h)", received24, "", "received-24h")),
    h("div", { class: "grid two" },
      h("div", { class: "card" }, h("h2", { text: "Throughput per hour" }), chart(data.hours),
        h("div", { class: "legend" }, h("span", {}, h("i", { class: "received" }), "received"),
          h("span", {}, h("i", { class: "done" }), "done"), h("span", {}, h("i", { class: "failed" }), "failed / needs attention"))),
      h("div", { class: "card", "data-testid": "queue" }, h("h2", { text: "Queue" }),
        h("dl", { class: "kv" },
          h("dt", { text: "waiting" }), h("dd", { text: q.ready ?? "—" }),
          h("dt", { text: "in flight" }), h("dd", { text: q.in_flight ?? "—" }),
          h("dt", { text: "delayed retries" }), h("dd", { text: q.delayed ?? "—" }),
          h("dt", { text: "dead-lettered" }), h("dd", { text: q.dead_lettered ?? "—" }),
          h("dt", { text: "workers alive" }), h("dd", { text: q.workers ?? "—" }),
          h("dt", { text: "done, all time" }), h("dd", { text: c.done })))),
    h("div", { class: "card" }, h("h2", { text: "Tenants" }),
      h("table", { "data-testid": "tenants" },
        heads(["Tenant", "Route", "Failed#", "Needs attention#", ""]),
        h("tbody", {}, data.tenants.map(tenantRow)))));
};

// -- events list ------------------------------------------------------------------------

function filterForm(params, tenants) {
  const field = (name, labelText, control) => h("div", {}, h("label", { for: `f-${name}`, text: labelText }), control);
  const select = (name, options) => h("select", { id: `f-${name}`, name },
    h("option", { value: "", text: "any" }),
    options.map((o) => h("option", { value: o, text: label(o), selected: params.get(name) === o })));
  const input = (name, placeholder) => h("input", { id: `f-${name}`, name, placeholder, value: params.get(name) || "" });
  const form = h("form", { class: "card filters", "data-testid": "filters" },
    field("state", "State", select("state", ["failed,needs_attention,unreadable", ...STATES])),
    field("tenant", "Tenant", select("tenant", tenants)),
    field("source", "Source", select("source", ["shopify", "woocommerce", "stripe", "standard"])),
    field("order", "Order", input("order", "#1001")),
    field("q", "Error or order text", input("q", "e.g. timeout")),
    field("since", "Since", input("since", "2h, 7d or ISO time")),
    h("div", {}, h("button", { class: "primary", type: "submit", "data-testid": "apply-filters", text: "Filter" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    for (const [key, value] of new FormData(form)) if (value) query.set(key, value);
    location.hash = `#/events?${query}`;
  });
  return form;
}

function eventRow(event) {
  const open = () => { location.hash = `#/events/${encodeURIComponent(event.event_id)}`; };
  const box = h("input", { type: "checkbox", class: "pick", value: event.event_id, "aria-label": "select",
    disabled: !canAct() || !RETRYABLE.includes(event.state), onclick: (e) => e.stopPropagation() });
  return h("tr", { class: "clickable", "data-event": event.event_id, onclick: open },
    h("td", {}, box),
    h("td", { class: "muted", text: when(event.received_at) }),
    h("td", { text: event.tenant }), h("td", { text: event.source }),
    h("td", {}, h("a", { href: `#/events/${encodeURIComponent(event.event_id)}`, text: event.order_number || event.order_id || event.topic })),
    h("td", {}, badge(event.state)),
    h("td", { class: "num", text: event.failures }),
    h("td", { class: "error-text", text: event.last_error }));
}

views.events = async (_id, params) => {
  const query = new URLSearchParams(params);
  query.set("limit", "200");
  const [list, tenants] = await Promise.all([api(`/events?${query}`), api("/tenants")]);
  const table = h("table", { "data-testid": "events" },
    heads(["", "Received", "Tenant", "Source", "Order", "State", "Failures#", "Last error"]),
    h("tbody", {}, list.events.length ? list.events.map(eventRow)
      : h("tr", {}, h("td", { colspan: 8, class: "empty", text: "No events match." }))));
  const picked = () => [...table.querySelectorAll("input.pick:checked")].map((box) => box.value);
  const failedBody = { failed: true, tenant: params.get("tenant") || null, since: params.get("since") || null };
  const toolbar = h("div", { class: "toolbar" },
    h("strong", { text: `${list.count} event${list.count === 1 ? "" : "s"}` }),
    h("span", { class: "spacer" }),
    h("button", { type: "button", disabled: !canAct(), "data-testid": "retry-selected",
      onclick: () => { const ids = picked(); if (!ids.length) { toast("Select events to retry first", true); return; }
        act(api("/retry", { method: "POST", body: { event_ids: ids } }), (r) => `Retried ${r.retried}`); },
      text: "Retry selected" }),
    h("button", { type: "button", class: "primary", disabled: !canAct(), "data-testid": "retry-all-failed",
      onclick: () => act(api("/retry", { method: "POST", body: failedBody }),
        (r) => `Retried ${r.retried} failed event${r.retried === 1 ? "" : "s"}`),
      text: params.get("tenant") ? `Retry all failed of ${params.get("tenant")}` : "Retry all failed" }));
  return h("div", {},
    h("div", { class: "page-head" }, h("h1", { text: "Events" }), h("span", { class: "muted", text: "newest first" })),
    filterForm(params, tenants.tenants.map((t) => t.tenant)),
    h("div", { class: "card" }, toolbar, table));
};

// -- event detail -----------------------------------------------------------------------

function noteDialog(title, help) {
  return new Promise((resolve) => {
    const dialog = $("note-dialog");
    $("note-title").textContent = title;
    $("note-help").textContent = help;
    $("note").value = "";
    const finish = (value) => { dialog.close(); resolve(value); };
    $("note-form").onsubmit = (e) => { e.preventDefault(); if ($("note").value.trim()) finish($("note").value.trim()); };
    $("note-cancel").onclick = () => finish(null);
    dialog.showModal();
  });
}

async function settle(eventId, action) {
  const help = action === "resolve" ? "Someone made the document by hand; nothing more will be made."
    : "Nothing is to be made for this event.";
  const note = await noteDialog(action === "resolve" ? "Resolve event" : "Discard event", help);
  if (note) await act(api(`/events/${encodeURIComponent(eventId)}/${action}`, { method: "POST", body: { note } }), () => `Event ${action}d`);
}

function stepRow(step) {
  const attempts = (step.attempts_log || []).map((a) => h("li", {},
    h("span", { class: "muted", text: `${when(a.at)} · ` }), badge(a.state), " ",
    h("span", { class: a.error ? "error-text" : "", text: a.error || a.document || "" })));
  return h("tr", { "data-step": step.step },
    h("td", {}, h("strong", { class: "mono", text: step.step })),
    h("td", {}, badge(step.state)),
    h("td", { class: "num", text: step.attempts }),
    h("td", { text: [step.doctype, step.docnum].filter(Boolean).join(" ") }),
    h("td", { text: { 1: "yes", 0: "no" }[step.emailed] || "" }),
    h("td", {}, attempts.length ? h("ul", { class: "attempts" }, attempts) : h("span", { class: "muted", text: "—" })));
}

views.detail = async (eventId) => {
  const d = await api(`/events/${encodeURIComponent(eventId)}`);
  const e = d.event, order = d.order_event && d.order_event.order;
  const path = `/events/${encodeURIComponent(eventId)}`;
  const retryable = RETRYABLE.includes(e.state), open = !["resolved", "discarded", "done", "ignored"].includes(e.state);
  const actions = h("div", { class: "row" },
    h("button", { class: "primary", type: "button", "data-testid": "retry", disabled: !canAct() || !retryable,
      onclick: () => act(api(`${path}/retry`, { method: "POST" }), () => "Queued again"), text: "Retry" }),
    h("button", { type: "button", "data-testid": "resolve", disabled: !canAct() || !open, onclick: () => settle(eventId, "resolve"), text: "Resolve…" }),
    h("button", { type: "button", class: "danger", "data-testid": "discard", disabled: !canAct() || !open, onclick: () => settle(eventId, "discard"), text: "Discard…" }),
    h("button", { type: "button", "data-testid": "replay", disabled: !canAct() || !["done", "unreadable"].includes(e.state),
      onclick: () => act(api(`${path}/replay`, { method: "POST" }),
        () => e.state === "unreadable" ? "Read again with the current parser" : "Replaying: done steps stay done"), text: "Replay" }));
  const facts = [["State", badge(e.state)], ["Tenant", e.tenant + (d.tenant_paused ? " (paused)" : "")], ["Source", `${e.source} · ${e.topic}`],
    ["Order", `${e.order_number || ""} (id ${e.order_id || "—"})`], ["Received", when(e.received_at)], ["Updated", when(e.updated_at)],
    ["Deliveries", e.deliveries], ["Failures", e.failures], ["Last error", e.last_error || "—"], ["Event id", h("span", { class: "mono", text: e.id })]];
  const lines = order ? order.lines.map((l) => h("tr", {}, h("td", { text: l.description }), h("td", { class: "num", text: l.quantity }),
    h("td", { class: "num", text: `${l.unit_price} ${order.currency}` }))) : [];
  return h("div", {},
    h("div", { class: "page-head" }, h("a", { href: "#/events", text: "← Events" }), h("h1", { text: `Event ${e.order_number || e.id}` }), badge(e.state)),
    h("div", { class: "grid two" },
      h("div", { class: "card", "data-testid": "event-facts" }, h("dl", { class: "kv" }, facts.flatMap(([k, v]) => [h("dt", { text: k }), h("dd", {}, v)])),
        h("div", { class: "row end" }, actions)),
      h("div", { class: "card" }, h("h2", { text: "Order" }),
        order ? h("div", {}, h("table", {}, h("tbody", {}, lines)),
          h("p", {}, h("strong", { text: `Total ${order.total} ${order.currency}` }), order.paid ? " · paid" : " · unpaid"))
          : h("p", { class: "muted", text: d.order_event_unreadable ? `This version cannot read the stored order: ${d.order_event_unreadable.detail}` : "No order in this event." }),
        d.order_event ? h("details", {}, h("summary", { text: "Canonical event JSON" }), h("pre", { class: "json", text: JSON.stringify(d.order_event, null, 2) })) : null)),
    h("div", { class: "card" }, h("h2", { text: "Steps and attempts" }),
      h("table", { "data-testid": "steps" }, heads(["Step", "State", "Attempts#", "Document", "Emailed", "Each attempt"]),
        h("tbody", {}, d.steps.length ? d.steps.map(stepRow) : h("tr", {}, h("td", { colspan: 6, class: "empty", text: "No steps have run yet." }))))),
    h("div", { class: "card" }, h("h2", { text: "Operator actions" }),
      d.actions.length ? h("table", {}, h("tbody", {}, d.actions.map((a) => h("tr", {}, h("td", { class: "muted", text: when(a.at) }),
        h("td", { text: a.who }), h("td", {}, h("strong", { text: a.action })), h("td", { text: a.note || "" })))))
        : h("p", { class: "muted", text: "None yet." })));
};

// -- action log -------------------------------------------------------------------------

views.actions = async () => {
  const data = await api("/actions?limit=200");
  return h("div", {},
    h("div", { class: "page-head" }, h("h1", { text: "Action log" }), h("span", { class: "muted", text: "who did what, newest first" })),
    h("div", { class: "card" }, h("table", { "data-testid": "actions" },
      heads(["When", "Who", "Action", "On", "Note"]),
      h("tbody", {}, data.actions.length ? data.actions.map((a) => h("tr", {},
        h("td", { class: "muted", text: when(a.at) }), h("td", { text: a.who }), h("td", {}, h("strong", { text: a.action })),
        h("td", {}, a.event_id ? h("a", { class: "mono", href: `#/events/${encodeURIComponent(a.event_id)}`, text: a.event_id }) : a.tenant || ""),
        h("td", { text: a.note || "" })))
        : h("tr", {}, h("td", { colspan: 5, class: "empty", text: "No actions yet." }))))));
};

// -- start --------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("login-error").textContent = "";
    try { await signIn($("token").value.trim()); } catch (error) { signOut(error.message); }
  });
  $("sign-out").addEventListener("click", () => signOut());
  window.addEventListener("hashchange", route);
  if (session.token) signIn(session.token).catch(() => signOut()); else signOut();
});
