// City telemetry dashboard: ES modules and vendored libraries (vendor/), nothing from the
// internet unless a basemap is configured. Data comes from the HTTP API with the user's bearer
// token; live views from /api/v1/events. Everything from devices is inserted as text (never as
// HTML): device ids come from MQTT topics. Strings come from the catalogue (i18n.js).

import { t, translatePage, lang, choose, number, clock, dateTime, level } from "./i18n.js";
import { createMap } from "./map.js";

const $ = (sel) => document.querySelector(sel);
const SVGNS = "http://www.w3.org/2000/svg";
const state = {
  token: sessionStorage.getItem("telemetry-token") || "",
  me: null, layers: null, gauges: null, drones: [], vehicles: [], alerts: [],
  mission: null, missionPreviews: new Map(), points: [], stream: null, timers: [], map: null,
};
const overlays = []; // other modules' map layers: draw(group, {L, toDisplay, renderer, tag}), e.g. incidents.js
const hooks = {};

// ---------------------------------------------------------------- HTTP
async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${state.token}`, ...(options.headers || {}) };
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options = { ...options, body: JSON.stringify(options.json) };
  }
  const r = await fetch(path, { ...options, headers });
  if (r.status === 401) { logout(t("login.rejected")); throw new Error("unauthorized"); }
  const type = r.headers.get("content-type") || "";
  const body = type.includes("json") ? await r.json() : await r.text();
  if (!r.ok) throw new Error(body?.error?.message || `${r.status} ${r.statusText}`);
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVGNS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}
const fmt = (v, digits = 1) => (v === null || v === undefined ? "–" : typeof v === "number" ? number(v, digits) : String(v));
const zone = () => state.me?.timezone || "UTC";
const time = (iso) => (iso ? clock(new Date(iso), zone()) : "–");
const when = (iso) => (iso ? dateTime(new Date(iso), zone()) : "–");
const today = () => new Intl.DateTimeFormat("en-CA", { timeZone: zone() }).format(new Date());
const can = (permission) => !!state.me && state.me.permissions.includes(permission);

// ---------------------------------------------------------------- login
async function login(token) {
  const r = await fetch("/api/v1/me", { headers: { Authorization: `Bearer ${token}` } });
  if (!r.ok) {
    sessionStorage.removeItem("telemetry-token");
    $("#login-error").textContent = r.status === 401 ? t("login.unknown") : t("login.failed", { status: r.status });
    return;
  }
  state.token = token;
  state.me = await r.json();
  sessionStorage.setItem("telemetry-token", token);
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#logout").hidden = false;
  $("#who").textContent = `${state.me.user} (${state.me.role})`;
  for (const node of document.querySelectorAll("[data-needs]")) {
    if (!can(node.dataset.needs)) node.remove(); // not hidden: gone, for this role
  }
  state.layers = await api("/api/v1/assets");
  state.map = createMap($("#map"), {
    state, fmt, time, t, level, overlays,
    pickingPoints: () => hooks.pickingPoints?.(), onPointsChanged: () => hooks.pointsChanged?.(),
    onAreaChanged: () => hooks.areaChanged?.(), onGauge: (id) => hooks.gauge?.(id), onToilet: (id) => hooks.toilet?.(id),
  });
  $("#compliance-date").value = today();
  refreshToilets();
  refreshCompliance();
  state.timers.push(setInterval(refreshToilets, 30000), setInterval(refreshCompliance, 60000));
  hooks.loggedIn?.();
  listen();
}

function logout(message = "") {
  sessionStorage.removeItem("telemetry-token");
  state.token = "";
  state.stream?.abort();
  state.timers.forEach(clearInterval);
  location.hash = "";
  if (message) sessionStorage.setItem("telemetry-message", message);
  location.reload();
}

// ---------------------------------------------------------------- live updates (SSE)
async function listen() {
  while (state.token) {
    const ctl = new AbortController();
    state.stream = ctl;
    try {
      const r = await fetch("/api/v1/events", { headers: { Authorization: `Bearer ${state.token}` }, signal: ctl.signal });
      if (r.status === 401) return logout(t("login.rejected"));
      if (!r.ok || !r.body) throw new Error(`events: ${r.status}`);
      setLive(true);
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          onFrame(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
        }
      }
    } catch (e) {
      if (ctl.signal.aborted) return;
    }
    setLive(false);
    await new Promise((done) => setTimeout(done, 2000));
  }
}

function setLive(on) {
  $("#live").classList.toggle("on", on);
  $("#live").dataset.state = on ? "live" : "reconnecting";
  $("#live").textContent = on ? t("live.on") : t("live.retry");
}

function onFrame(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
  }
  if (!data.length) return;
  const value = JSON.parse(data.join("\n"));
  if (event === "gauges") { state.gauges = value; renderGauges(); }
  else if (event === "alerts") { state.alerts = value; renderAlerts(); }
  else if (event === "drones") { state.drones = value; renderDrones(); }
  else if (event === "vehicles") { state.vehicles = value; }
  drawMap();
  hooks.frame?.(event);
}

const drawMap = () => state.map?.draw();

// ---------------------------------------------------------------- panels
function renderGauges() {
  const rows = state.gauges.features.map(({ properties: p }) =>
    el("tr", { "data-id": p.id, "data-level": p.level, class: "clickable", onclick: () => hooks.gauge?.(p.id) },
      el("td", {}, p.id, " ", el("span", { class: "sub" }, p.name || "")),
      el("td", {}, p.road || "–"),
      el("td", {}, el("span", { class: `badge level-${p.level}` }, p.sensor_fault ? `${level(p.level)} (${t("gauge.fault")})` : level(p.level)),
        p.offline ? el("span", { class: "badge off" }, t("gauge.offline")) : ""),
      el("td", {}, fmt(p.depth_cm)), el("td", {}, fmt(p.rise_cm_per_10min)), el("td", {}, time(p.since))));
  $("#gauges tbody").replaceChildren(...rows);
}

function renderAlerts() {
  $("#alert-count").textContent = state.alerts.length;
  const items = state.alerts.map((a) =>
    el("li", { "data-id": a.id, "data-kind": a.kind },
      el("span", { class: `badge level-${a.level}` }, a.level ? level(a.level) : t("alert")),
      el("b", {}, `${a.kind} ${a.subject}`),
      el("span", { class: "reason" }, a.reason),
      el("span", { class: "sub" }, time(a.raised_at)),
      a.acknowledged_by
        ? el("span", { class: "acked" }, t("acked", { user: a.acknowledged_by }))
        : can("ack") ? el("button", { type: "button", class: "ack", onclick: () => acknowledge(a.id) }, t("ack")) : null,
      can("ack") && a.kind !== "incident"
        ? el("button", { type: "button", class: "dispatch", onclick: () => hooks.dispatch?.(a.id) }, t("dispatch")) : null));
  $("#alerts").replaceChildren(...items);
}

async function acknowledge(id) {
  try {
    const a = await api(`/api/v1/alerts/${encodeURIComponent(id)}/ack`, { method: "POST" });
    state.alerts = state.alerts.map((x) => (x.id === a.id ? a : x));
    renderAlerts();
  } catch (e) { alert(e.message); }
}

function renderDrones() {
  const rows = state.drones.map((d) =>
    el("tr", { "data-id": d.drone },
      el("td", {}, `D${d.drone}`),
      el("td", {}, el("span", { class: `badge ${d.online ? "ok" : "off"}` }, d.online ? t("online") : t("offline"))),
      el("td", {}, d.autopilot || "–"),
      el("td", {}, d.mode || "–"), el("td", {}, d.armed ? t("armed") : t("disarmed")),
      el("td", { class: d.fix === "no fix" ? "nofix" : "" }, d.fix === "no fix" ? t("nofix") : d.lat == null ? "–" : d.fix || t("position")),
      el("td", {}, d.battery_pct == null ? "–" : `${fmt(d.battery_pct, 0)} %`),
      el("td", {}, d.alt_rel_m == null ? "–" : `${fmt(d.alt_rel_m)} m`),
      el("td", {}, d.mission ? `${d.mission.id} ${d.mission.state} ${d.mission.current}/${d.mission.total}` : "–")));
  $("#drones tbody").replaceChildren(...rows);
  for (const d of state.drones) {
    if (d.mission && !state.missionPreviews.has(d.mission.id) && d.mission.id !== state.mission?.id) {
      state.missionPreviews.set(d.mission.id, { id: d.mission.id, waypoints: [] });
      api(`/api/v1/missions/${encodeURIComponent(d.mission.id)}`).then((m) => { state.missionPreviews.set(m.id, m); drawMap(); }).catch(() => {});
    }
  }
  hooks.drones?.();
}

async function refreshToilets() {
  let data;
  try { data = await api(`/api/v1/toilets/metrics?date=${today()}`); } catch { return; }
  state.toilets = data.items;
  const names = new Map(state.layers.toilets.features.map((f) => [f.properties.id, f.properties.name]));
  const cards = data.items.map((tl) => {
    const max = Math.max(1, ...tl.entries_per_hour);
    const bars = tl.entries_per_hour.map((n, h) => el("svg:rect", { x: h * 10 + 1, y: 60 - (n / max) * 58, width: 8, height: (n / max) * 58 }, el("svg:title", {}, `${h}:00 ${n}`)));
    return el("div", { class: "toilet-card clickable", "data-id": tl.toilet, onclick: () => hooks.toilet?.(tl.toilet) },
      el("b", {}, tl.toilet), " ", el("span", { class: "sub" }, names.get(tl.toilet) || ""),
      el("svg:svg", { width: 240, height: 60, viewBox: "0 0 240 60" }, bars),
      el("div", {}, t("toilet.entries", { n: tl.entries, c: tl.cleanings_done, a: tl.air_exceedances }),
        el("span", { class: `badge ${tl.cleaning_overdue_now ? "bad" : "ok"}` }, tl.cleaning_overdue_now ? t("toilet.overdue") : t("toilet.clean"))));
  });
  $("#toilets").replaceChildren(...cards);
}

function missedCell(missed) {
  if (!missed.length) return el("td", {}, "–");
  const shown = missed.slice(0, 4).join(" ") + (missed.length > 4 ? ` … (${missed.length})` : "");
  return el("td", { title: missed.join(" ") }, shown);
}

async function refreshCompliance(evt) {
  evt?.preventDefault();
  const date = $("#compliance-date").value;
  if (!date) return;
  let data;
  try { data = await api(`/api/v1/sanitation/compliance?date=${date}`); } catch (e) { $("#compliance-summary").textContent = e.message; return; }
  const pct = (v) => (v == null ? "–" : `${fmt(100 * v, 0)} %`);
  const rows = data.items.map((c) =>
    el("tr", { "data-vehicle": c.vehicle, "data-compliant": String(c.compliant) },
      el("td", {}, c.vehicle), el("td", {}, c.route ?? "–"), el("td", {}, pct(c.coverage_ratio)),
      el("td", {}, `${c.valid_passes} / ${c.planned_passes}`), el("td", {}, pct(c.overspeed_ratio)),
      el("td", {}, fmt(c.off_route_s, 0)), el("td", {}, fmt(c.gap_s, 0)),
      missedCell(c.missed_segments || []),
      el("td", {}, c.stops_planned ? `${c.stops_served} / ${c.stops_planned}` : "–"),
      el("td", {}, el("span", { class: `badge ${c.compliant ? "ok" : "bad"}`, title: c.note || "" }, c.compliant ? t("yes") : t("no"))),
      el("td", {}, el("button", { type: "button", class: "track", onclick: () => hooks.track?.(c, date) }, t("track.show")))));
  $("#compliance tbody").replaceChildren(...rows);
  const ok = data.items.filter((c) => c.compliant).length;
  $("#compliance-summary").textContent = t("compliance.summary", { ok, n: data.count });
}

// ---------------------------------------------------------------- start
function start() {
  translatePage();
  $("#lang").value = lang;
  $("#lang").addEventListener("change", (evt) => choose(evt.target.value));
  const note = sessionStorage.getItem("telemetry-message");
  if (note) { $("#login-error").textContent = note; sessionStorage.removeItem("telemetry-message"); }
  $("#login-form").addEventListener("submit", (evt) => { evt.preventDefault(); login($("#token").value.trim()); });
  $("#logout").addEventListener("click", () => logout());
  $("#compliance-form").addEventListener("submit", refreshCompliance);
  if (state.token) login(state.token);
}

// What other modules (planner.js, incidents.js, charts.js...) use: the API, the element builder,
// formats, roles, the catalogue, the map and its overlays, and hooks they fill in.
window.telemetry = { api, el, fmt, time, when, today, can, state, overlays, drawMap, hooks, t, level };
start();
