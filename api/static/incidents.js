// Incidents and duty officers (issue 19): officers and open incidents on the map, the incidents
// with their timers and the manager's actions (assign the suggested officer, close), a dispatch
// action on each alert (app.js draws the button), and the day's response measures.
// Polls the API every few seconds; everything from devices is inserted as text.

const T = window.telemetry;
const { t } = T;
const $ = (sel) => document.querySelector(sel);
const POLL_MS = 3000;
const view = { officers: [], incidents: [], report: null, timer: null };

function elapsed(iso, until) {
  const s = Math.max(0, Math.round(((until ? Date.parse(until) : Date.now()) - Date.parse(iso)) / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function late(i, targetS) {
  return !i.on_scene_at && (Date.now() - Date.parse(i.opened_at)) / 1000 > targetS && !["resolved", "closed"].includes(i.state);
}

async function act(path, options = {}) {
  try {
    await T.api(path, { method: "POST", ...options });
    await refresh();
  } catch (e) { alert(e.message); }
}

function renderIncidents() {
  const target = view.report?.target_on_scene_s ?? 300;
  const rows = view.incidents.map((i) => {
    const s = i.suggested_officer;
    const actions = [];
    if (T.can("ack") && ["open", "assigned", "accepted"].includes(i.state) && s) {
      actions.push(T.el("button", { type: "button", class: "assign", onclick: () => act(`/api/v1/incidents/${encodeURIComponent(i.id)}/assign`) },
        t("incident.send", { name: s.name || s.id, min: Math.round(s.eta_s / 60) })));
    }
    if (T.can("ack") && i.state !== "closed") {
      actions.push(T.el("button", { type: "button", class: "close", onclick: () => act(`/api/v1/incidents/${encodeURIComponent(i.id)}/close`) }, t("incident.close")));
    }
    const clock = i.on_scene_at ? t("incident.onscene", { t: elapsed(i.opened_at, i.on_scene_at) }) : elapsed(i.opened_at);
    return T.el("tr", { "data-id": i.id, "data-state": i.state, class: late(i, target) ? "late" : "" },
      T.el("td", {}, i.id), T.el("td", {}, i.kind, " ", T.el("span", { class: "sub" }, i.subject)),
      T.el("td", {}, i.reason || ""), T.el("td", {}, t(`istate.${i.state}`)), T.el("td", {}, i.officer || "–"),
      T.el("td", { class: "timer" }, clock), T.el("td", {}, ...actions));
  });
  $("#incidents tbody").replaceChildren(...rows);
  $("#incident-count").textContent = view.incidents.length;
  const r = view.report?.all;
  const pct = (v) => (v === null || v === undefined ? "–" : `${T.fmt(v * 100, 0)} %`);
  const mins = (v) => (v === null || v === undefined ? "–" : `${T.fmt(v / 60)} min`);
  $("#incident-measures").textContent = r
    ? t("incident.measures", { n: r.count, target: Math.round(target / 60), share: pct(r.share_within_target), p50: mins(r.p50_s.on_scene), p90: mins(r.p90_s.on_scene), r50: mins(r.p50_s.resolve) })
    : "";
  T.hooks.incidents?.(view);
}

/** Map overlay: each incident and officer with a position (Leaflet layers into `group`). */
function drawOverlay(group, { L, toDisplay, renderer, tag }) {
  for (const i of view.incidents) {
    if (i.lat === null || i.lon === null) continue;
    // not interactive: a click on the ring reaches the gauge under it (its chart)
    const m = L.circleMarker(toDisplay([i.lon, i.lat]), { radius: 10, className: `incident state-${i.state}`, renderer, interactive: false });
    tag(m, { "data-id": i.id }).addTo(group);
  }
  for (const o of view.officers) {
    if (o.lat === null || o.lon === null) continue;
    const m = L.circleMarker(toDisplay([o.lon, o.lat]), { radius: 5, className: `officer status-${o.status}`, renderer });
    tag(m.bindTooltip(`${o.id} ${o.name} (${o.unit}) ${o.status}`), { "data-id": o.id }).addTo(group);
  }
}

async function refresh() {
  try {
    const [officers, incidents, report] = await Promise.all([
      T.api("/api/v1/officers"), T.api("/api/v1/incidents?state=active"), T.api("/api/v1/incidents/report"),
    ]);
    view.officers = officers.items;
    view.incidents = incidents.items;
    view.report = report;
    renderIncidents();
    T.drawMap();
  } catch (e) { console.warn("incidents:", e.message); }
}

function start() {
  clearInterval(view.timer);
  view.timer = setInterval(refresh, POLL_MS);
  T.state.timers.push(view.timer);
  refresh();
}

T.hooks.dispatch = (alertId) => act("/api/v1/incidents", { json: { alert_id: alertId } });
const previous = T.hooks.loggedIn;
T.hooks.loggedIn = () => { previous?.(); start(); };
T.overlays.push(drawOverlay);
if (T.state.map) start();
