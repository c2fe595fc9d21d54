// Lanner UI: a dependency-free single-page app over /api/v1.
// Every alert value is untrusted: text is only ever set with textContent, never as HTML.
"use strict";

const API = "/api/v1";
const PRIORITIES = ["Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"];
const COLORS = PRIORITIES.map((_, i) => `var(--p${i})`);
const RANGES = [["15m", "15 min"], ["1h", "1 hour"], ["6h", "6 hours"], ["24h", "24 hours"], ["7d", "7 days"], ["30d", "30 days"], ["", "All"]];
const FILTER_KEYS = ["q", "priority", "rule", "source", "hostname", "tag", "container", "namespace", "pod", "since", "until"];
const SVG_NS = "http://www.w3.org/2000/svg";

const state = {
  auth: sessionStorage.getItem("lanner.auth") || "",
  info: null,
  range: localStorage.getItem("lanner.range") ?? "24h",
  stream: null,
  route: null,
};

// ---- DOM helpers ---------------------------------------------------------------------------
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "style") el.style.cssText = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}
const view = () => document.getElementById("view");
const fmtTime = (iso) => (iso ? iso.replace("T", " ").replace(/\.(\d{3})\d*Z$/, ".$1") : "");
const fmtNum = (n) => Number(n).toLocaleString("en-US");
function badge(priority) {
  const i = PRIORITIES.indexOf(priority);
  return h("span", { class: "badge", style: `background:${COLORS[i] || "var(--p7)"}` }, priority);
}

// ---- API -----------------------------------------------------------------------------------
function headers() {
  const hd = { "X-Requested-With": "lanner-ui" };
  if (state.auth) hd.Authorization = state.auth;
  return hd;
}
async function api(path, options = {}) {
  const res = await fetch(API + path, { ...options, headers: { ...headers(), ...(options.headers || {}) } });
  if (res.status === 401) {
    showLogin();
    throw new Error("authentication required");
  }
  if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
  return res.status === 204 ? null : res.json();
}
function queryString(params) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) qs.append(k, v);
  const s = qs.toString();
  return s ? `?${s}` : "";
}

// ---- login ---------------------------------------------------------------------------------
function showLogin() {
  document.getElementById("login").classList.remove("hidden");
}
document.getElementById("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  const token = form.token.value.trim();
  state.auth = token ? `Bearer ${token}` : `Basic ${btoa(`${form.user.value}:${form.password.value}`)}`;
  try {
    const res = await fetch(`${API}/info`, { headers: headers() });
    if (!res.ok) throw new Error("wrong credentials");
    sessionStorage.setItem("lanner.auth", state.auth);
    document.getElementById("login").classList.add("hidden");
    document.getElementById("login-error").textContent = "";
    await start();
  } catch (err) {
    state.auth = "";
    document.getElementById("login-error").textContent = err.message;
  }
});
document.getElementById("logout").addEventListener("click", () => {
  sessionStorage.removeItem("lanner.auth");
  state.auth = "";
  location.reload();
});

// ---- live stream (fetch-based SSE so auth headers work) --------------------------------------
function openStream(params, onAlert) {
  closeStream();
  const controller = new AbortController();
  state.stream = controller;
  const live = document.getElementById("live");
  let lastId = null;
  const connect = async () => {
    while (!controller.signal.aborted) {
      try {
        const extra = lastId === null ? {} : { after: lastId };
        const res = await fetch(`${API}/stream${queryString({ ...params, ...extra })}`, {
          headers: headers(), signal: controller.signal,
        });
        if (!res.ok) throw new Error(String(res.status));
        live.classList.remove("off");
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            let event = "message";
            let data = "";
            for (const line of block.split("\n")) {
              if (line.startsWith("event: ")) event = line.slice(7);
              else if (line.startsWith("data: ")) data += line.slice(6);
            }
            if (!data) continue;
            const payload = JSON.parse(data);
            if (event === "hello" && lastId === null) lastId = payload.after;
            if (event === "alert") {
              lastId = payload.id;
              onAlert(payload);
            }
          }
        }
      } catch (err) {
        if (controller.signal.aborted) return;
      }
      live.classList.add("off");
      await new Promise((r) => setTimeout(r, 2000));
    }
  };
  connect();
}
function closeStream() {
  if (state.stream) state.stream.abort();
  state.stream = null;
  document.getElementById("live").classList.add("off");
}

// ---- routing -------------------------------------------------------------------------------
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "") || "dashboard";
  const [path, qs] = raw.split("?");
  return { parts: path.split("/"), params: new URLSearchParams(qs || "") };
}
function go(path, params) {
  const qs = params ? new URLSearchParams(params).toString() : "";
  location.hash = `#/${path}${qs ? `?${qs}` : ""}`;
}
async function route() {
  const { parts, params } = parseHash();
  const page = parts[0] === "events" ? "events" : "dashboard";
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.page === page);
  closeStream();
  view().replaceChildren();
  try {
    if (parts[0] === "events" && parts[1]) await renderDetail(parts[1]);
    else if (parts[0] === "events") await renderEvents(params);
    else await renderDashboard();
  } catch (err) {
    view().append(h("p", { class: "error" }, String(err.message || err)));
  }
}
window.addEventListener("hashchange", route);

// ---- dashboard -----------------------------------------------------------------------------
function rangeParams() {
  return state.range ? { since: state.range } : {};
}
async function renderDashboard() {
  const root = view();
  const ranges = h("div", { class: "ranges" }, RANGES.map(([value, label]) =>
    h("button", {
      type: "button", class: value === state.range ? "active" : "", "data-range": value,
      onclick: () => { state.range = value; localStorage.setItem("lanner.range", value); route(); },
    }, label)));
  const body = h("div", { id: "dashboard" });
  root.append(h("div", { class: "toolbar" }, h("h1", {}, "Dashboard"), h("div", { class: "spacer" }), ranges), body);
  const draw = async () => {
    const stats = await api(`/stats${queryString(rangeParams())}`);
    body.replaceChildren(...dashboardContent(stats));
  };
  await draw();
  // redraw on live alerts, at most every 2 s (stats scan the whole range)
  let pending = null;
  let last = Date.now();
  openStream({}, () => {
    if (pending) return;
    const wait = Math.max(300, 2000 - (Date.now() - last));
    pending = setTimeout(async () => {
      last = Date.now();
      try { await draw(); } finally { pending = null; }
    }, wait);
  });
}
function eventsLink(extra) {
  return () => go("events", { ...rangeParams(), ...extra });
}
function dashboardContent(stats) {
  const cards = h("div", { class: "grid cards" },
    h("div", { class: "card stat total", onclick: eventsLink({}) },
      h("div", { class: "n", id: "total" }, fmtNum(stats.total)), h("div", { class: "label" }, "Events")),
    PRIORITIES.map((p, i) => h("div", {
      class: "card stat", style: `border-left-color:${COLORS[i]}`, "data-priority": p,
      onclick: eventsLink({ priority: p }),
    }, h("div", { class: "n" }, fmtNum(stats.by_priority[p] || 0)), h("div", { class: "label" }, p))));
  const chart = h("div", { class: "card chart" },
    h("h2", {}, `Events over time (per ${bucketLabel(stats.bucket_seconds)})`), drawChart(stats.series, stats.bucket_seconds),
    h("div", { class: "legend" }, PRIORITIES.map((p, i) =>
      h("span", {}, h("span", { class: "swatch", style: `background:${COLORS[i]}` }), p))));
  const panel = (title, counts, key, id) => h("div", { class: "card", id },
    h("h2", {}, title),
    counts.length ? h("ul", { class: "bars" }, counts.map((c) => {
      const max = counts[0].count || 1;
      return h("li", { onclick: eventsLink({ [key]: c.value }), title: c.value },
        h("span", { class: "name" }, c.value || "(none)"), h("span", { class: "count" }, fmtNum(c.count)),
        h("span", { class: "fill", style: `width:${(100 * c.count) / max}%` }));
    })) : h("p", { class: "empty" }, "No events"));
  const panels = h("div", { class: "grid panels" },
    panel("Top rules", stats.top_rules, "rule", "top-rules"),
    panel("Top hosts", stats.top_hosts, "hostname", "top-hosts"),
    panel("Top containers", stats.top_containers, "container", "top-containers"),
    panel("Sources", stats.by_source.slice(0, 10), "source", "by-source"),
    panel("Tags", stats.by_tag.slice(0, 10), "tag", "by-tag"));
  return [cards, chart, panels];
}
function bucketLabel(s) {
  if (s % 86400 === 0) return `${s / 86400} d`;
  if (s % 3600 === 0) return `${s / 3600} h`;
  if (s % 60 === 0) return `${s / 60} min`;
  return `${s} s`;
}
function drawChart(series, bucketSeconds) {
  const W = 1000, H = 220, L = 44, B = 22, T = 8;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img", "aria-label": "events over time" });
  if (!series.length) {
    root.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "axis" }, "No events in this range"));
    return root;
  }
  const step = bucketSeconds * 1000;
  const first = Date.parse(series[0].time);
  const lastT = Date.parse(series[series.length - 1].time);
  const start = state.range ? Math.min(first, Math.floor((Date.now() - rangeMs(state.range)) / step) * step) : first;
  const end = Math.max(lastT, state.range ? Math.floor(Date.now() / step) * step : lastT);
  const n = Math.max(1, Math.round((end - start) / step) + 1);
  const max = niceMax(Math.max(...series.map((p) => p.total), 1));
  const bw = (W - L) / n;
  for (let k = 0; k <= 4; k += 1) {
    const y = T + ((H - B - T) * k) / 4;
    root.append(svg("line", { x1: L, x2: W, y1: y, y2: y, class: "gridline" }));
    root.append(svg("text", { x: L - 6, y: y + 3, "text-anchor": "end", class: "axis" }, fmtNum(Math.round((max * (4 - k)) / 4))));
  }
  for (const p of series) {
    const idx = Math.round((Date.parse(p.time) - start) / step);
    let y = H - B;
    for (let i = PRIORITIES.length - 1; i >= 0; i -= 1) {
      const c = p.by_priority[PRIORITIES[i]] || 0;
      if (!c) continue;
      const hgt = ((H - B - T) * c) / max;
      y -= hgt;
      const rect = svg("rect", { x: L + idx * bw + bw * 0.1, y, width: Math.max(bw * 0.8, 1), height: hgt, fill: COLORS[i] });
      rect.append(svg("title", {}, `${fmtTime(p.time)} — ${PRIORITIES[i]}: ${c}`));
      root.append(rect);
    }
  }
  const ticks = Math.min(6, n);
  for (let k = 0; k < ticks; k += 1) {
    const idx = Math.round(((n - 1) * k) / Math.max(ticks - 1, 1));
    const t = new Date(start + idx * step).toISOString();
    const label = bucketSeconds >= 86400 ? t.slice(5, 10) : t.slice(5, 16).replace("T", " ");
    const anchor = k === 0 ? "start" : k === ticks - 1 ? "end" : "middle";
    const x = k === 0 ? L + idx * bw : k === ticks - 1 ? L + (idx + 1) * bw : L + idx * bw + bw / 2;
    root.append(svg("text", { x, y: H - 6, "text-anchor": anchor, class: "axis" }, label));
  }
  return root;
}
function niceMax(v) {
  // smallest 4 × {1, 2, 2.5, 5} × 10^k that is >= v, so the 4 grid lines get round labels
  const quarter = v / 4;
  const mag = 10 ** Math.floor(Math.log10(quarter));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= quarter);
  return Math.max(4, step * 4);
}
function rangeMs(r) {
  const m = /^(\d+)([smhdw])$/.exec(r);
  if (!m) return 0;
  return Number(m[1]) * { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7, w: 6.048e8 }[m[2]];
}

// ---- events list ---------------------------------------------------------------------------
async function renderEvents(params) {
  const root = view();
  const current = Object.fromEntries(FILTER_KEYS.map((k) => [k, params.get(k) || ""]));
  const input = (name, label, extra = {}) => h("label", { class: extra.wide ? "q" : "" }, label,
    h("input", { name, value: current[name], placeholder: extra.placeholder || "", list: extra.list || null }));
  const prioritySelect = h("select", { name: "priority" }, h("option", { value: "" }, "any"),
    PRIORITIES.map((p) => h("option", { value: p, selected: current.priority === p }, `≥ ${p}`)));
  const sinceSelect = h("select", { name: "since" }, RANGES.map(([v, l]) =>
    h("option", { value: v, selected: current.since === v }, v ? `last ${l}` : "all time")));
  if (current.since && !RANGES.some(([v]) => v === current.since)) {
    sinceSelect.append(h("option", { value: current.since, selected: true }, current.since));
  }
  const form = h("form", { id: "filters", class: "filters", onsubmit: (ev) => {
    ev.preventDefault();
    const data = Object.fromEntries(new FormData(form).entries());
    go("events", Object.fromEntries(Object.entries(data).filter(([, v]) => v)));
  } },
    input("q", "Search", { wide: true, placeholder: "whole words in output and fields; word* for a prefix" }),
    h("label", {}, "Priority", prioritySelect),
    input("rule", "Rule", { list: "dl-rule" }), input("source", "Source", { list: "dl-source" }),
    input("hostname", "Host", { list: "dl-hostname" }), input("tag", "Tag", { list: "dl-tag" }),
    input("container", "Container"), input("namespace", "Namespace"), input("pod", "Pod"),
    h("label", {}, "Time range", sinceSelect),
    h("input", { type: "hidden", name: "until", value: current.until }),
    h("button", { type: "submit", class: "primary hidden" }, "Apply"));
  form.addEventListener("change", () => form.requestSubmit());
  const filterParams = Object.fromEntries(Object.entries(current).filter(([, v]) => v));
  const exportLink = (fmt) => h("button", { type: "button", onclick: () => download(fmt, filterParams) }, `Export ${fmt.toUpperCase()}`);
  const status = h("span", { class: "muted", id: "count" });
  const tbody = h("tbody", { id: "events-body" });
  const more = h("button", { type: "button", id: "more", class: "hidden" }, "Load more");
  root.append(
    h("div", { class: "toolbar" }, h("h1", {}, "Events")),
    h("div", { class: "card" }, form,
      h("div", { class: "actions" },
        h("button", { type: "button", class: "primary", onclick: () => form.requestSubmit() }, "Apply"),
        h("button", { type: "button", onclick: () => go("events") }, "Reset"),
        exportLink("json"), exportLink("csv"), h("div", { class: "spacer" }), status),
      h("table", { id: "events" },
        h("thead", {}, h("tr", {}, ["Time (UTC)", "Priority", "Rule", "Host", "Container", "Output"].map((t) => h("th", {}, t)))),
        tbody),
      h("p", {}, more)));
  addDatalists(root);
  let cursor = null;
  let shown = 0;
  const load = async () => {
    const page = await api(`/events${queryString({ ...filterParams, limit: 50, cursor })}`);
    for (const e of page.events) tbody.append(eventRow(e));
    shown += page.events.length;
    cursor = page.next_cursor;
    more.classList.toggle("hidden", !cursor);
    status.textContent = shown ? `${fmtNum(shown)} shown${cursor ? ", more available" : ""}` : "";
    if (!shown) tbody.replaceChildren(h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No events match")));
  };
  more.addEventListener("click", load);
  await load();
  if (!current.until) {
    const liveParams = { ...filterParams };
    delete liveParams.since;
    openStream(liveParams, (e) => {
      const empty = tbody.querySelector("td.empty");
      if (empty) empty.parentElement.remove();
      const row = eventRow(e);
      row.classList.add("fresh");
      tbody.prepend(row);
      shown += 1;
      status.textContent = `${fmtNum(shown)} shown${cursor ? ", more available" : ""}`;
    });
  }
}
function eventRow(e) {
  return h("tr", { "data-id": e.id, onclick: () => go(`events/${e.id}`) },
    h("td", { class: "time", title: e.time }, fmtTime(e.time)),
    h("td", {}, badge(e.priority)),
    h("td", {}, e.rule),
    h("td", { class: "nowrap" }, e.hostname),
    h("td", { class: "nowrap" }, e.container),
    h("td", { class: "output" }, e.output.length > 300 ? `${e.output.slice(0, 300)}…` : e.output));
}
async function addDatalists(root) {
  try {
    const stats = await api(`/stats${queryString({ top: 50 })}`);
    const lists = { rule: stats.by_rule, source: stats.by_source, hostname: stats.by_hostname, tag: stats.by_tag };
    for (const [key, counts] of Object.entries(lists)) {
      root.append(h("datalist", { id: `dl-${key}` }, counts.map((c) => h("option", { value: c.value }))));
    }
  } catch (err) {
    // suggestions are optional
  }
}
async function download(fmt, params) {
  const res = await fetch(`${API}/export${queryString({ ...params, format: fmt })}`, { headers: headers() });
  if (!res.ok) return;
  const url = URL.createObjectURL(await res.blob());
  const a = h("a", { href: url, download: `lanner-events.${fmt}` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// ---- event detail --------------------------------------------------------------------------
async function renderDetail(id) {
  const e = await api(`/events/${encodeURIComponent(id)}`);
  const row = (k, v) => [h("dt", {}, k), h("dd", {}, v)];
  const fields = Object.entries(e.field_text).sort(([a], [b]) => a.localeCompare(b));
  const canDelete = state.info && state.info.role === "admin";
  view().append(
    h("div", { class: "toolbar" },
      h("button", { type: "button", onclick: () => history.back() }, "← Back"),
      h("h1", {}, `Event #${e.id}`), h("div", { class: "spacer" }),
      canDelete ? h("button", { type: "button", class: "danger", id: "delete", onclick: async () => {
        if (!confirm(`Delete event #${e.id}?`)) return;
        await api(`/events/${e.id}`, { method: "DELETE" });
        go("events");
      } }, "Delete") : null),
    h("div", { class: "card detail", id: "detail" },
      h("dl", {},
        row("Time", e.time), row("Priority", badge(e.priority)), row("Rule", e.rule),
        row("Source", e.source), row("Hostname", e.hostname || "—"),
        row("Container", e.container || "—"), row("Namespace", e.namespace || "—"), row("Pod", e.pod || "—"),
        row("Tags", e.tags.length ? e.tags.map((t) => h("span", { class: "tag" }, t)) : "—")),
      h("h2", { style: "margin-top:16px" }, "Output"),
      h("div", { class: "output" }, e.output || "—"),
      h("h2", { style: "margin-top:16px" }, "Output fields"),
      fields.length ? h("table", { id: "fields" }, h("tbody", {}, fields.map(([k, v]) =>
        h("tr", {}, h("td", { class: "muted" }, k), h("td", { class: "output" }, v)))))
        : h("p", { class: "empty" }, "None"),
      h("h2", { style: "margin-top:16px" }, "Alert JSON"),
      h("pre", {}, e.alert_text)));
}

// ---- start ---------------------------------------------------------------------------------
async function start() {
  state.info = await api("/info");
  document.getElementById("role").textContent = state.info.auth ? state.info.role : "";
  document.getElementById("logout").classList.toggle("hidden", !state.auth);
  await route();
}
start().catch(() => {});
